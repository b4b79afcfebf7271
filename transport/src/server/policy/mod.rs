//! Session policy, decided from the compiled configuration and the TLS
//! facts: who the client is (at MAIL FROM) and where it may send (at RCPT).
//! Pure functions, so every rule is unit-tested without sockets.
//!
//! # MAIL FROM (in this order)
//! 1. **Direct Trust**: the client presented one of our own certificates
//!    (by thumbprint) on a connector that grants ExchangeServers (or
//!    offers ExchangeServer authentication) → `Internal`, AuthMechanism
//!    `11`. On any other connector (an Internet or Partner one) the
//!    certificate is just an opportunistic one and grants nothing: relay
//!    rights never come from a connector that does not grant them.
//! 1. **Externally secured**: the receive connector has AuthMechanism
//!    ExternalAuthoritative (with the ExchangeServers permission, which
//!    validation requires): the administrator vouches for the network
//!    (e.g. a submission port reachable only by internal clients), so every
//!    session is `Internal` and may relay, as in Exchange. No
//!    AuthMechanism header is stamped (no certificate proved anything).
//! 2. **RestrictDomainsToCertificate** (Exchange Online's inbound
//!    connector setting, here on a receive connector): the sender's domain
//!    is in the connector's SenderDomains, and the client did not present
//!    a certificate that verifies (clientAuth, or serverAuth only where
//!    TLSReceiveDomainSecureServerAuthOnlyList allows) and matches
//!    TlsSenderCertificateName (`<I>issuer<S>subject`, or a domain a SAN
//!    DNS name must match) → `550 5.7.1`; the protocol log and the
//!    transport log say which certificate was expected and which came.
//! 2. **Domain Security**: the sender's domain is in
//!    TLSReceiveDomainSecureList (exact, case-insensitive):
//!    connector DomainSecureEnabled false → `451 4.7.3`; STARTTLS not
//!    offered on the connector → `454 4.7.0`; offered but not used →
//!    `530 5.7.1 Not authenticated`; no client certificate → `530 5.7.1`;
//!    a certificate that verifies but has no clientAuth extended key usage
//!    and the domain is not in TLSReceiveDomainSecureServerAuthOnlyList →
//!    `454 4.7.5 Certificate validation failure: the certificate is not for
//!    client authentication (no clientAuth extended key usage)`;
//!    chain not verified to a trusted root, or no certificate name matches
//!    the sender's domain (SAN DNS names only, never the CN; subdomain and
//!    wildcard matches allowed) → `454 4.7.5 Certificate validation
//!    failure`; else `Partner`, AuthMechanism `02`, AuthDomain = the domain.
//! 3. Otherwise `Anonymous`, refused with `530 5.7.1` when the connector
//!    does not grant AnonymousUsers.
//!
//! RequireTLS (`530 5.7.0` before STARTTLS) is enforced by the session
//! itself, before this check.
//!
//! # RCPT (relay)
//! - A recipient in any accepted domain (Authoritative, InternalRelay,
//!   ExternalRelay) is accepted from anyone the MAIL check let in. In an
//!   Authoritative domain every local part that can name a mailbox folder
//!   is accepted (there is no recipient directory yet); one that cannot
//!   (`/`, `..`, control characters...) gets `550 5.1.1`.
//! - Any other domain is relay: only `Internal` sessions (Direct Trust,
//!   or an externally secured connector) may relay; `Anonymous` and
//!   `Partner` get `550 5.7.54 Unable to relay recipient in non-accepted
//!   domain`.

use xshell_core::model::AcceptedDomainType;
use xshell_core::pki::names::name_matches;

use crate::config::{ConnectorRuntime, RuntimeConfig, SenderRestriction};
use crate::maildir;
use crate::queue::AuthFacts;
use xshell_core::model::SenderCertificateName;
use xshell_smtp::{ClientCertificate, Mailbox, Reply, ReversePath, TlsFacts};

/// How the session's sender was authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    Anonymous,
    /// Domain Security (mutual TLS) for this partner domain.
    Partner {
        domain: String,
    },
    /// Direct Trust: the peer holds one of our own certificates.
    Internal,
    /// The receive connector is externally secured (ExternalAuthoritative).
    ExternallySecured,
}

impl Auth {
    /// `X-MS-Exchange-Organization-AuthAs`.
    pub fn auth_as(&self) -> &'static str {
        match self {
            Auth::Anonymous => "Anonymous",
            Auth::Partner { .. } => "Partner",
            Auth::Internal | Auth::ExternallySecured => "Internal",
        }
    }

    /// `X-MS-Exchange-Organization-AuthMechanism`: two hex digits.
    pub fn mechanism_code(&self) -> Option<&'static str> {
        match self {
            Auth::Anonymous | Auth::ExternallySecured => None,
            Auth::Partner { .. } => Some("02"),
            Auth::Internal => Some("11"),
        }
    }

    /// The mechanism's name (tracking, queue).
    pub fn mechanism_name(&self) -> Option<&'static str> {
        match self {
            Auth::Anonymous => None,
            Auth::Partner { .. } => Some("MutualTLS"),
            Auth::Internal => Some("DirectTrustTLS"),
            Auth::ExternallySecured => Some("ExternalAuthoritative"),
        }
    }

    /// The partner domain proved by Domain Security.
    pub fn domain(&self) -> Option<&str> {
        match self {
            Auth::Partner { domain } => Some(domain),
            _ => None,
        }
    }

    /// Whether this sender may relay to domains that are not accepted.
    pub fn may_relay(&self) -> bool {
        matches!(self, Auth::Internal | Auth::ExternallySecured)
    }

    /// As recorded in the queue envelope.
    pub fn facts(&self) -> AuthFacts {
        AuthFacts {
            auth_as: self.auth_as().to_string(),
            mechanism: self.mechanism_name().map(str::to_string),
            domain: self.domain().map(str::to_string),
        }
    }
}

/// Decides MAIL FROM: the sender's authentication, or the refusal.
pub fn check_mail(
    rt: &RuntimeConfig,
    conn: &ConnectorRuntime,
    tls: Option<&TlsFacts>,
    from: &ReversePath,
) -> Result<Auth, Reply> {
    let cert = tls.and_then(|t| t.client_certificate.as_ref());
    if conn.direct_trust && cert.is_some_and(|c| c.direct_trust) {
        return Ok(Auth::Internal);
    }
    if conn.externally_secured {
        return Ok(Auth::ExternallySecured);
    }
    let sender_domain = from.mailbox().map(|m| m.domain.to_ascii_lowercase());
    if let (Some(r), Some(domain)) = (&conn.sender_restriction, &sender_domain)
        && r.covers(domain)
        && restriction_problem(rt, r, cert, domain).is_some()
    {
        return Err(Reply::new(
            550,
            (5, 7, 1),
            format!(
                "Sender domain {domain} is accepted on this connector only with its partner TLS certificate"
            ),
        ));
    }
    if let Some(domain) = sender_domain
        && rt.is_domain_secure_sender(&domain)
    {
        if !conn.domain_secure_enabled {
            return Err(Reply::new(
                451,
                (4, 7, 3),
                "Secure domain: the administrator has temporarily disallowed this secure domain on this connector",
            ));
        }
        if !conn.session.offer_starttls {
            return Err(Reply::new(
                454,
                (4, 7, 0),
                "Secure domain: STARTTLS is not available on this connector",
            ));
        }
        let Some(_) = tls else {
            return Err(Reply::new(530, (5, 7, 1), "Not authenticated"));
        };
        let Some(cert) = cert else {
            return Err(Reply::new(
                530,
                (5, 7, 1),
                "Not authenticated: a client certificate is required for this secure domain",
            ));
        };
        if cert.server_auth_only && !rt.accepts_server_auth_only(&domain) {
            return Err(Reply::new(
                454,
                (4, 7, 5),
                format!(
                    "Certificate validation failure: {}",
                    crate::tls::SERVER_AUTH_ONLY_PROBLEM
                ),
            ));
        }
        if !trusted_for(rt, cert, &domain) || !name_matches(&cert.names, None, &domain, true) {
            return Err(Reply::new(454, (4, 7, 5), "Certificate validation failure"));
        }
        return Ok(Auth::Partner { domain });
    }
    if !conn.anonymous_allowed {
        return Err(Reply::new(530, (5, 7, 1), "Client was not authenticated"));
    }
    Ok(Auth::Anonymous)
}

/// Whether `cert`'s chain authenticates a partner in `domain`: verified
/// for client authentication, or verified with serverAuth only where the
/// domain is in TLSReceiveDomainSecureServerAuthOnlyList.
fn trusted_for(rt: &RuntimeConfig, cert: &ClientCertificate, domain: &str) -> bool {
    cert.chain_verified || (cert.server_auth_only && rt.accepts_server_auth_only(domain))
}

/// Why the client does not satisfy RestrictDomainsToCertificate for
/// `domain` (`None`: it does): what was expected and what was presented.
pub fn restriction_problem(
    rt: &RuntimeConfig,
    r: &SenderRestriction,
    cert: Option<&ClientCertificate>,
    domain: &str,
) -> Option<String> {
    let expected = format!(
        "RestrictDomainsToCertificate: {domain} must present TlsSenderCertificateName {}",
        r.name
    );
    let Some(cert) = cert else {
        return Some(format!("{expected}; no client certificate was presented"));
    };
    let presented = format!("<I>{}<S>{}", cert.issuer, cert.subject);
    if !trusted_for(rt, cert, domain) {
        let why = if cert.server_auth_only {
            format!(
                "{}; add {domain} to TLSReceiveDomainSecureServerAuthOnlyList to accept it",
                crate::tls::SERVER_AUTH_ONLY_PROBLEM
            )
        } else {
            "its chain does not verify to a trusted root".to_string()
        };
        return Some(format!("{expected}; presented {presented}: {why}"));
    }
    let matches = match &r.certificate {
        SenderCertificateName::IssuerSubject { issuer, subject } => {
            cert.issuer.eq_ignore_ascii_case(issuer) && cert.subject.eq_ignore_ascii_case(subject)
        }
        // `*.contoso.com`: contoso.com or any name under it
        SenderCertificateName::Domain { name, subdomains } => {
            name_matches(&cert.names, None, name, *subdomains)
        }
    };
    if matches {
        return None;
    }
    Some(format!(
        "{expected}; presented {presented} (subject alternative names: {})",
        if cert.names.is_empty() {
            "none".to_string()
        } else {
            cert.names.join(" ")
        }
    ))
}

/// Why MAIL FROM was refused, in more words than the reply, where the
/// policy knows more: RestrictDomainsToCertificate (expected and
/// presented certificate) and a serverAuth-only Domain Security
/// certificate (how to accept it). `None`: nothing to add.
pub fn refusal_detail(
    rt: &RuntimeConfig,
    conn: &ConnectorRuntime,
    tls: Option<&TlsFacts>,
    from: &ReversePath,
) -> Option<String> {
    let cert = tls.and_then(|t| t.client_certificate.as_ref());
    let domain = from.mailbox().map(|m| m.domain.to_ascii_lowercase())?;
    if let Some(r) = &conn.sender_restriction
        && r.covers(&domain)
        && let Some(why) = restriction_problem(rt, r, cert, &domain)
    {
        return Some(why);
    }
    if rt.is_domain_secure_sender(&domain)
        && let Some(c) = cert
        && c.server_auth_only
        && !rt.accepts_server_auth_only(&domain)
    {
        return Some(format!(
            "Domain Security for {domain}: {}; add {domain} to TLSReceiveDomainSecureServerAuthOnlyList to accept it",
            crate::tls::SERVER_AUTH_ONLY_PROBLEM
        ));
    }
    None
}

/// Decides RCPT TO for a sender authenticated as `auth`.
pub fn check_rcpt(rt: &RuntimeConfig, auth: &Auth, to: &Mailbox) -> Result<(), Reply> {
    match rt.accepted_domain(&to.domain) {
        Some(AcceptedDomainType::Authoritative) => {
            if maildir::sanitize_local_part(&to.local_part).is_err() {
                return Err(Reply::new(
                    550,
                    (5, 1, 1),
                    "Recipient address rejected: not a valid mailbox name",
                ));
            }
            Ok(())
        }
        Some(_) => Ok(()),
        None if auth.may_relay() => Ok(()),
        None => Err(Reply::new(
            550,
            (5, 7, 54),
            "SMTP; Unable to relay recipient in non-accepted domain",
        )),
    }
}

#[cfg(test)]
mod tests;
