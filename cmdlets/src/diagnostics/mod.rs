//! The diagnostics an administrator runs when a partner's mail does not
//! flow: Test-SmtpConnectivity (connect to receive connectors, EHLO,
//! STARTTLS), Test-DomainSecurity (ask the engine to probe a partner
//! domain under Domain Security rules) and Test-OutboundTlsPolicy (the
//! whole TLS policy decision for a domain, optionally with a probe).

pub mod probe;
pub mod test_domain_security;
pub mod test_outbound_tls_policy;
pub mod test_smtp;

/// The -Domain of the Test- cmdlets that ask the engine about a domain:
/// trimmed, without the final dot; not an address or empty.
pub(crate) fn domain_param(domain: Option<String>) -> Result<String, crate::CmdletError> {
    let domain = domain.unwrap_or_default();
    let domain = domain.trim().trim_end_matches('.').to_string();
    if domain.is_empty() || domain.contains('@') || domain.contains(char::is_whitespace) {
        return Err(crate::CmdletError::bad_value(
            "Domain",
            format!("'{domain}' is not a domain name"),
        ));
    }
    Ok(domain)
}
