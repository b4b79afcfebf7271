//! The diagnostics an administrator runs when a partner's mail does not
//! flow: Test-SmtpConnectivity (connect to receive connectors, EHLO,
//! STARTTLS) and Test-DomainSecurity (ask the engine to probe a partner
//! domain under Domain Security rules).

pub mod probe;
pub mod test_domain_security;
pub mod test_smtp;
