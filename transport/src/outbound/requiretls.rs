//! What a message itself asks of the TLS of its next hops (RFC 8689):
//! the `REQUIRETLS` parameter of MAIL and the `TLS-Required: No` header
//! field. The connector's decision ([`super::tls::decide_with`]) is made
//! first; [`apply`] then tightens it (REQUIRETLS) or relaxes it
//! (`TLS-Required: No`) for the messages that asked.
//!
//! - REQUIRETLS (RFC 8689 4.2.1): the message goes only where the next
//!   hop's TLS is verified ([`TlsPolicy::verifies_peer`]: Domain Security,
//!   DANE, MTA-STS enforce, RequireTLS with CertificateValidation or
//!   DomainValidation) and only to a server that advertised REQUIRETLS
//!   after STARTTLS (checked by the client session, which passes the
//!   parameter on). A policy that never verifies cannot succeed on a
//!   later try: the message fails at once with `550 5.7.10`, nothing is
//!   sent. A verified server without the extension is passed over for the
//!   next host, and the last one fails the message with `550 5.7.30`
//!   ("REQUIRETLS support required"), by the session.
//! - `TLS-Required: No` (RFC 8689 3 and 4.2.2), on a message without
//!   REQUIRETLS (which wins, RFC 8689 4.1): the connector's RequireTLS,
//!   TlsAuthLevel, DANE and MTA-STS are disregarded and the message goes
//!   with opportunistic TLS (STARTTLS when offered, any certificate; a
//!   failed handshake is retried in plaintext). Domain Security and a
//!   pinned partner certificate (TlsCertificateName) still apply: they are
//!   the organization's agreement with a partner, not a preference of the
//!   recipient domain that the sender may waive.

use super::tls::{AppliedPolicy, PolicyKind, TlsPolicy};
use crate::queue::Envelope;
use xshell_smtp::Reply;

/// What a message asks of its next hops' TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TlsRequest {
    /// Nothing: the connector's policy.
    #[default]
    Default,
    /// Received with `REQUIRETLS` (RFC 8689).
    RequireTls,
    /// Carries `TLS-Required: No` and was not received with REQUIRETLS.
    Optional,
}

impl TlsRequest {
    /// What `e` (and its header, `head`: the start of the message) asks.
    pub fn of(e: &Envelope, head: &[u8]) -> TlsRequest {
        if e.requiretls {
            TlsRequest::RequireTls
        } else if tls_required_no(head) {
            TlsRequest::Optional
        } else {
            TlsRequest::Default
        }
    }
}

/// The header section holds `TLS-Required: No` (RFC 8689 3; the value is
/// case-insensitive, folding allowed). Only the header section counts.
pub fn tls_required_no(head: &[u8]) -> bool {
    let headers = String::from_utf8_lossy(crate::dsn::header_section(head));
    let mut fields: Vec<String> = Vec::new();
    for line in headers.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(f) = fields.last_mut() {
                f.push_str(line);
            }
        } else {
            fields.push(line.to_string());
        }
    }
    fields.iter().any(|f| {
        f.split_once(':').is_some_and(|(name, value)| {
            name.eq_ignore_ascii_case("TLS-Required") && value.trim().eq_ignore_ascii_case("no")
        })
    })
}

/// Applies the message's request to the connector's `policy` for a next
/// hop. `pinned`: the connector pins the partner's certificate
/// (TlsCertificateName). `plaintext_next_time`: an opportunistic
/// handshake with the first host failed before (a relaxed policy then goes
/// in plaintext, as opportunistic TLS does). `applied` gets the kind that
/// applied and why. `Err`: the reply every recipient fails with (nothing
/// is sent).
pub fn apply(
    request: TlsRequest,
    policy: TlsPolicy,
    pinned: bool,
    plaintext_next_time: bool,
    applied: &mut AppliedPolicy,
) -> Result<TlsPolicy, Reply> {
    match request {
        TlsRequest::Default => Ok(policy),
        TlsRequest::RequireTls => {
            applied.kind = Some(PolicyKind::RequireTlsExtension);
            let under = policy.kind();
            if policy.verifies_peer() {
                applied.add_reason(&format!(
                    "REQUIRETLS: sent only under {under}, which verifies the next hop"
                ));
                return Ok(policy);
            }
            let why = format!(
                "REQUIRETLS: the next hop's policy is {under}, which does not verify its certificate (needs Domain Security, DANE, MTA-STS enforce or RequireTLS with CertificateValidation)"
            );
            applied.add_reason(&why);
            // RFC 8689 4.2.1: not sent; 5.7.10 "Encryption needed"
            // (no verified TLS session). Permanent: this policy never
            // verifies.
            Err(Reply::new(550, (5, 7, 10), format!("{why} (not sent)")))
        }
        TlsRequest::Optional => {
            let keep = matches!(policy, TlsPolicy::DomainSecure { .. }) || pinned;
            if keep || matches!(policy, TlsPolicy::Opportunistic | TlsPolicy::Plaintext) {
                if keep {
                    applied.add_reason(&format!(
                        "TLS-Required: No not applied: {} is a partner agreement",
                        policy.kind()
                    ));
                }
                return Ok(policy);
            }
            applied.add_reason(&format!(
                "TLS-Required: No: the sender waived {} (RFC 8689 4.2.2)",
                policy.kind()
            ));
            if plaintext_next_time {
                applied.kind = Some(PolicyKind::None);
                Ok(TlsPolicy::Plaintext)
            } else {
                applied.kind = Some(PolicyKind::Opportunistic);
                Ok(TlsPolicy::Opportunistic)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xshell_core::model::TlsAuthLevel;

    fn required(level: TlsAuthLevel) -> TlsPolicy {
        TlsPolicy::Required { level, name: None }
    }

    #[test]
    fn header_field_in_the_header_section_only() {
        assert!(tls_required_no(
            b"Subject: x\r\nTLS-Required: No\r\n\r\nbody\r\n"
        ));
        assert!(tls_required_no(b"tls-required:\r\n  no\r\n\r\n"));
        assert!(!tls_required_no(b"TLS-Required: Yes\r\n\r\n"));
        assert!(!tls_required_no(b"Subject: x\r\n\r\nTLS-Required: No\r\n"));
        assert!(!tls_required_no(b"X-TLS-Required: No\r\n\r\n"));
    }

    #[test]
    fn requiretls_needs_a_verifying_policy() {
        let mut a = AppliedPolicy::default();
        let p = apply(
            TlsRequest::RequireTls,
            required(TlsAuthLevel::CertificateValidation),
            false,
            false,
            &mut a,
        );
        assert!(p.is_ok());
        assert_eq!(a.kind, Some(PolicyKind::RequireTlsExtension));
        for weak in [
            TlsPolicy::Opportunistic,
            TlsPolicy::Plaintext,
            required(TlsAuthLevel::EncryptionOnly),
        ] {
            let mut a = AppliedPolicy::default();
            let e = apply(TlsRequest::RequireTls, weak, false, false, &mut a).expect_err("refused");
            assert_eq!((e.code, e.enhanced), (550, Some((5, 7, 10))));
            assert_eq!(a.kind, Some(PolicyKind::RequireTlsExtension));
            assert!(a.reason.unwrap_or_default().contains("does not verify"));
        }
    }

    #[test]
    fn tls_required_no_relaxes_all_but_partner_agreements() {
        let mut a = AppliedPolicy::default();
        let p = apply(
            TlsRequest::Optional,
            required(TlsAuthLevel::DomainValidation),
            false,
            false,
            &mut a,
        );
        assert_eq!(p, Ok(TlsPolicy::Opportunistic));
        assert_eq!(a.kind, Some(PolicyKind::Opportunistic));
        let ds = TlsPolicy::DomainSecure {
            domain: "orgb.example".into(),
        };
        let mut a = AppliedPolicy::default();
        assert_eq!(
            apply(TlsRequest::Optional, ds.clone(), false, false, &mut a),
            Ok(ds)
        );
        let pin = required(TlsAuthLevel::CertificateValidation);
        let mut a = AppliedPolicy::default();
        assert_eq!(
            apply(TlsRequest::Optional, pin.clone(), true, false, &mut a),
            Ok(pin)
        );
    }
}
