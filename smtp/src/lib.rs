//! xshell-smtp: the SMTP protocol without I/O, both directions (RFC 5321,
//! 3207 STARTTLS, 1870 SIZE, 2920 PIPELINING, 6152 8BITMIME, 2034 and 3463
//! enhanced status codes, 3030 CHUNKING and BINARYMIME).
//!
//! Nothing in this crate performs I/O, spawns, sleeps or reads a clock.
//! Bytes go in through `feed`, what to send comes out of `take_output`, and
//! every decision that needs the outside world is returned to the caller as
//! an event: on the server side the sender policy at MAIL, relay permission
//! at RCPT, durable queueing after DATA (or BDAT LAST) and the TLS handshake
//! ([`server::Action`]); on the client side the handshake and the body
//! ([`client::Event`]). The network layers of the engine (`xshell-transport`)
//! and of the diagnostics cmdlets drive these machines; tests drive them byte
//! by byte in memory and the fuzz targets with arbitrary input.
//!
//! - [`command`]: the command-line parser ([`parse_command`]).
//! - [`data`]: the DATA reader (dot-unstuffing, strict CRLF, limits) and,
//!   for the sending side, dot-stuffing ([`data::DataEncoder`]).
//! - [`reply`]: replies, their wire form, and the client's reply parser.
//! - [`server`]: the receiving session's state machine.
//! - [`client`]: the sending session's state machine.
//! - [`transcript`]: what a session said and heard, for protocol logs
//!   (no message content, no AUTH secrets).
//! - `fuzz` (feature `fuzz`): a driver that runs a server session on
//!   arbitrary input and checks its invariants, for the fuzz target.

pub mod client;
pub mod command;
pub mod data;
pub mod reply;
pub mod server;
pub mod transcript;

#[cfg(any(test, feature = "fuzz"))]
pub mod fuzz;

#[cfg(test)]
mod tests;

pub use command::{
    AddressError, Body, Command, ForwardPath, MailParams, Mailbox, Notify, ParseError, RcptParams,
    Ret, ReversePath, parse_command,
};
pub use data::{DataError, DataReader};
pub use reply::{Enhanced, Reply, ReplyError, ReplyParser};
pub use server::{
    Action, ClientCertificate, DATA_CHUNK, Envelope, Session, SessionConfig, SessionError,
    TlsFacts, Verdict,
};
