//! Send-MailMessage: builds a MIME message ([`mime`]) and sends it with the
//! shared SMTP client session ([`session`] drives `xshell_smtp::client`
//! over a socket).

pub mod mime;
pub mod send;
pub mod session;
