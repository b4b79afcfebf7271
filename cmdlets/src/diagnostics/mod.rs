//! The diagnostics an administrator runs when a partner's mail does not
//! flow: Test-SmtpConnectivity (connect to receive connectors, EHLO,
//! STARTTLS), Test-DomainSecurity (ask the engine to probe a partner
//! domain under Domain Security rules) and Test-OutboundTlsPolicy (the
//! whole TLS policy decision for a domain, optionally with a probe).

pub mod probe;
pub mod test_domain_security;
pub mod test_outbound_tls_policy;
pub mod test_smtp;
