//! Say why: which TLS policy applied to a next hop and, when the hop went
//! without verified TLS or was held, why, in one line.
//!
//! [`Basis`] is what the decision was made from (the next-hop domain, the
//! connector's settings, TLSSendDomainSecureList, what the DANE and
//! MTA-STS lookups noted in [`PolicyInputs::notes`]); [`Basis::applied`]
//! adds what the session showed ([`Session`]) and gives the
//! [`AppliedPolicy`] that the tracking log (`tls_policy`,
//! `tls_policy_reason`), Get-Message (TlsPolicy, TlsPolicyReason) and
//! Test-OutboundTlsPolicy show. [`Basis::rules`] lists each rule in
//! precedence order with whether it applies and why
//! (Test-OutboundTlsPolicy).
//!
//! A hop under a policy that verifies the peer (Domain Security, a
//! validating RequireTLS level, DANE, MTA-STS enforce:
//! [`TlsPolicy::verifies_peer`]) gets no reason unless its session failed
//! on TLS (then it was held, and the reason says why).

use xshell_core::model::{SendConnector, TlsAuthLevel};
use xshell_core::types::SmtpDomain;
use xshell_smtp::client::SessionFailure;

use super::deliver::{Cause, DeliveryReport};
use super::tls::{AppliedPolicy, PolicyInputs, PolicyKind, PolicyRefusal, TlsOutcome, TlsPolicy};

/// What a next hop's policy was decided from.
#[derive(Debug, Clone, Copy)]
pub struct Basis<'a> {
    /// The next-hop domain, lower case.
    pub domain: &'a str,
    pub connector: &'a SendConnector,
    pub secure_list: &'a [SmtpDomain],
    pub inputs: &'a PolicyInputs,
}

/// What the session showed, for the reason.
#[derive(Debug, Clone, Copy)]
pub enum Session<'a> {
    /// Nothing tried yet (or the hop failed before connecting: DNS).
    NotTried,
    /// A session was set up with `host`; its TLS facts (None: plaintext).
    Up {
        host: &'a str,
        tls: Option<&'a TlsOutcome>,
    },
    /// No host took a session; the last attempt's cause.
    Failed(&'a Cause),
}

impl<'a> Session<'a> {
    /// The session a delivery run reports.
    pub fn of(report: &'a DeliveryReport, host: Option<&'a str>) -> Session<'a> {
        match (host, report.attempts.last()) {
            (Some(host), _) => Session::Up {
                host,
                tls: report.tls.as_ref(),
            },
            (None, Some(a)) => Session::Failed(&a.cause),
            (None, None) => Session::NotTried,
        }
    }
}

/// One rule of the decision, in precedence order (Test-OutboundTlsPolicy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `Domain Security`, `DANE`, `MTA-STS`, `RequireTLS`, `Opportunistic`.
    pub name: &'static str,
    /// This rule decided the policy.
    pub applies: bool,
    /// Why it applies or not, one clause.
    pub detail: String,
}

impl<'a> Basis<'a> {
    pub fn new(
        domain: &'a str,
        connector: &'a SendConnector,
        secure_list: &'a [SmtpDomain],
        inputs: &'a PolicyInputs,
    ) -> Basis<'a> {
        Basis {
            domain,
            connector,
            secure_list,
            inputs,
        }
    }

    fn listed(&self) -> bool {
        super::tls::domain_secure_listed(self.domain, self.secure_list)
    }

    /// What the DANE and MTA-STS lookups noted, or that none was made.
    fn lookups(&self) -> String {
        if self.inputs.notes.is_empty() {
            format!(
                "SmtpDaneMode {:?} and MtaStsMode {:?}",
                self.connector.smtp_dane_mode, self.connector.mta_sts_mode
            )
        } else {
            self.inputs.notes.join("; ")
        }
    }

    /// The rules in precedence order, each with whether it applies and why
    /// (Domain Security, DANE, MTA-STS, RequireTLS/TlsAuthLevel,
    /// opportunistic). `decided`: the decision's result.
    pub fn rules(&self, decided: Result<&TlsPolicy, &PolicyRefusal>) -> Vec<Rule> {
        let c = self.connector;
        let kind = match decided {
            Ok(p) => Some(p.kind()),
            Err(e) => Some(e.kind()),
        };
        let refused = decided.err();
        let listed = self.listed();
        let mut rules = vec![Rule {
            name: "Domain Security",
            applies: listed,
            detail: match (listed, c.domain_secure_enabled) {
                (true, true) => format!(
                    "{} is in TLSSendDomainSecureList and connector '{}' has DomainSecureEnabled",
                    self.domain, c.name
                ),
                (true, false) => format!(
                    "{} is in TLSSendDomainSecureList but connector '{}' has DomainSecureEnabled off: mail is held (451 4.7.3)",
                    self.domain, c.name
                ),
                (false, _) => format!("{} is not in TLSSendDomainSecureList", self.domain),
            },
        }];
        // DANE and MTA-STS: filled from what their lookups noted.
        let dane_off = c.smtp_dane_mode == xshell_core::model::SmtpDaneMode::None;
        let sts_off = c.mta_sts_mode == xshell_core::model::MtaStsMode::None;
        for (name, prefix, kinds, off, setting) in [
            (
                "DANE",
                "DANE",
                &[PolicyKind::Dane][..],
                dane_off,
                "SmtpDaneMode",
            ),
            (
                "MTA-STS",
                "MTA-STS",
                &[PolicyKind::MtaStsEnforce, PolicyKind::MtaStsTesting][..],
                sts_off,
                "MtaStsMode",
            ),
        ] {
            let noted: Vec<&str> = self
                .inputs
                .notes
                .iter()
                .map(String::as_str)
                .filter(|n| n.starts_with(prefix))
                .collect();
            let applies = kind.is_some_and(|k| kinds.contains(&k));
            rules.push(Rule {
                name,
                applies,
                detail: if let Some(e) = refused.filter(|_| applies) {
                    format!("{e}: held")
                } else if !noted.is_empty() {
                    noted.join("; ")
                } else if off {
                    format!("connector '{}' has {setting} None: not looked up", c.name)
                } else {
                    format!("{setting} is on; nothing to report for {}", self.domain)
                },
            });
        }
        let level = c.tls_auth_level.unwrap_or(TlsAuthLevel::EncryptionOnly);
        rules.push(Rule {
            name: "RequireTLS",
            applies: kind == Some(PolicyKind::RequireTls),
            detail: match (c.require_tls, &c.tls_remote_certificate_name) {
                (true, _) => format!(
                    "connector '{}' has RequireTLS with TlsAuthLevel {level:?}",
                    c.name
                ),
                (false, Some(_)) => format!(
                    "connector '{}' pins TlsRemoteCertificateName: TLS required, chain validated",
                    c.name
                ),
                (false, None) => format!("connector '{}' has RequireTLS off", c.name),
            },
        });
        rules.push(Rule {
            name: "Opportunistic",
            applies: matches!(kind, Some(PolicyKind::Opportunistic | PolicyKind::None)),
            detail: if c.ignore_starttls {
                format!(
                    "connector '{}' has IgnoreSTARTTLS: plaintext, STARTTLS never tried",
                    c.name
                )
            } else {
                "STARTTLS when offered, any certificate accepted".to_string()
            },
        });
        rules
    }

    /// Why this policy and not a stronger one (the decision's part of the
    /// reason).
    fn why_policy(&self, policy: &TlsPolicy, plaintext_fallback: bool) -> String {
        let c = self.connector;
        let none = format!(
            "no TLS policy: {} is not in TLSSendDomainSecureList, {}, connector '{}' has RequireTLS off",
            self.domain,
            self.lookups(),
            c.name
        );
        match policy.kind() {
            PolicyKind::DomainSecure => format!(
                "Domain Security: {} is in TLSSendDomainSecureList",
                self.domain
            ),
            PolicyKind::RequireTls => {
                let level = match policy {
                    TlsPolicy::Required { level, .. } => *level,
                    _ => TlsAuthLevel::EncryptionOnly,
                };
                if c.require_tls {
                    format!(
                        "RequireTLS: connector '{}' has RequireTLS with TlsAuthLevel {level:?}",
                        c.name
                    )
                } else {
                    format!(
                        "RequireTLS: connector '{}' pins TlsRemoteCertificateName",
                        c.name
                    )
                }
            }
            PolicyKind::Opportunistic => none,
            PolicyKind::None if plaintext_fallback && !c.ignore_starttls => format!(
                "{none}; the TLS handshake failed on the previous attempt, so this one is in plaintext"
            ),
            PolicyKind::None => format!(
                "connector '{}' has IgnoreSTARTTLS: STARTTLS is never tried",
                c.name
            ),
            // DANE, MTA-STS, REQUIRETLS: what their lookups noted.
            other => {
                if self.inputs.notes.is_empty() {
                    other.as_str().to_string()
                } else {
                    format!("{other}: {}", self.inputs.notes.join("; "))
                }
            }
        }
    }

    /// The policy that applied and, when the hop went without verified
    /// TLS or was held, why (see the module docs).
    pub fn applied(
        &self,
        decided: Result<&TlsPolicy, &PolicyRefusal>,
        plaintext_fallback: bool,
        session: Session<'_>,
    ) -> AppliedPolicy {
        let policy = match decided {
            Ok(p) => p,
            Err(refusal) => {
                let kind = refusal.kind();
                let reason = match kind {
                    PolicyKind::DomainSecure => format!("Domain Security: {refusal}; held"),
                    // their texts name the rule already
                    _ => format!("{refusal}; held"),
                };
                return AppliedPolicy {
                    kind: Some(kind),
                    reason: Some(reason),
                    policy_strings: Vec::new(),
                };
            }
        };
        // A policy that verifies the peer needs no reason unless the
        // session showed something (held for want of STARTTLS, a
        // certificate that failed).
        let reason = match session_clause(policy, session) {
            None if policy.verifies_peer() => None,
            None => Some(self.why_policy(policy, plaintext_fallback)),
            Some(s) => Some(format!(
                "{}; {s}",
                self.why_policy(policy, plaintext_fallback)
            )),
        };
        AppliedPolicy {
            kind: Some(policy.kind()),
            reason,
            policy_strings: policy.policy_strings(),
        }
    }
}

/// What the session showed that the reason must tell.
fn session_clause(policy: &TlsPolicy, session: Session<'_>) -> Option<String> {
    match session {
        Session::NotTried => None,
        Session::Up { host, tls: None } => match policy {
            // IgnoreSTARTTLS or the fallback: already said.
            TlsPolicy::Plaintext => None,
            // RFC 3207 4: STARTTLS is offered in the EHLO reply; an
            // opportunistic client carries on in plaintext without it.
            _ => Some(format!("{host} did not offer STARTTLS: sent in plaintext")),
        },
        Session::Up { tls: Some(_), .. } if policy.verifies_peer() => None,
        Session::Up { tls: Some(_), .. } => Some(match policy {
            TlsPolicy::Required { .. } => {
                "TLS without certificate verification (TlsAuthLevel EncryptionOnly)".to_string()
            }
            _ if policy.kind() == PolicyKind::Opportunistic => {
                "TLS, certificate not verified (opportunistic TLS accepts any certificate)"
                    .to_string()
            }
            _ => format!("TLS, certificate not verified under {}", policy.kind()),
        }),
        Session::Failed(cause) => match cause {
            Cause::Session {
                host,
                failure: SessionFailure::StartTlsNotOffered,
            } => Some(format!("{host} did not offer STARTTLS; held")),
            Cause::Session {
                host,
                failure: SessionFailure::StartTlsRefused(reply),
            } => Some(format!("{host} refused STARTTLS ({reply}); held")),
            Cause::TlsHandshake {
                host,
                detail,
                opportunistic: true,
                ..
            } => Some(format!(
                "the TLS handshake with {host} failed ({detail}); the next attempt to it is in plaintext"
            )),
            Cause::TlsHandshake {
                host,
                detail,
                verified: true,
                ..
            } => Some(format!(
                "{host}'s certificate was not verified ({detail}); held"
            )),
            Cause::TlsHandshake { host, detail, .. } => Some(format!(
                "the TLS handshake with {host} failed ({detail}); held"
            )),
            Cause::TlsSetup(d) => Some(format!("our TLS configuration: {d}; held")),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::tls::decide;

    fn conn() -> SendConnector {
        let mut c = SendConnector::new("Internet");
        c.address_spaces = vec!["*".parse().unwrap()];
        c
    }

    fn tls() -> TlsOutcome {
        TlsOutcome {
            protocol: "TLSv1.3".into(),
            cipher: "x".into(),
            server_subject: None,
            server_issuer: None,
            verified_name: None,
            domain_secured: false,
        }
    }

    #[test]
    fn opportunistic_says_why_no_policy_and_what_the_session_showed() {
        let c = conn();
        let inputs = PolicyInputs::default();
        let b = Basis::new("orgc.example", &c, &[], &inputs);
        let p = decide("orgc.example", &c, &[], false).unwrap();
        let a = b.applied(
            Ok(&p),
            false,
            Session::Up {
                host: "mx.orgc.example [127.0.0.1:25]",
                tls: None,
            },
        );
        assert_eq!(a.kind, Some(PolicyKind::Opportunistic));
        assert_eq!(
            a.reason.as_deref(),
            Some(
                "no TLS policy: orgc.example is not in TLSSendDomainSecureList, SmtpDaneMode None and MtaStsMode None, \
connector 'Internet' has RequireTLS off; mx.orgc.example [127.0.0.1:25] did not offer STARTTLS: sent in plaintext"
            )
        );
        let t = tls();
        let a = b.applied(
            Ok(&p),
            false,
            Session::Up {
                host: "mx",
                tls: Some(&t),
            },
        );
        assert!(
            a.reason
                .unwrap()
                .ends_with("certificate not verified (opportunistic TLS accepts any certificate)")
        );
        // notes from the lookups replace the "None" modes
        let inputs = PolicyInputs {
            notes: vec!["DANE: orgc.example is not DNSSEC-signed".into()],
            ..PolicyInputs::default()
        };
        let b = Basis::new("orgc.example", &c, &[], &inputs);
        let a = b.applied(Ok(&p), false, Session::NotTried);
        assert!(a.reason.unwrap().contains(
            "TLSSendDomainSecureList, DANE: orgc.example is not DNSSEC-signed, connector"
        ));
        let rules = b.rules(Ok(&p));
        assert_eq!(rules[1].detail, "DANE: orgc.example is not DNSSEC-signed");
        assert_eq!(
            rules[2].detail,
            format!("connector '{}' has MtaStsMode None: not looked up", c.name)
        );
        assert!(rules[4].applies && !rules[0].applies);
    }

    #[test]
    fn verified_hops_need_no_reason_held_ones_do() {
        let mut c = conn();
        c.domain_secure_enabled = true;
        let list: Vec<SmtpDomain> = vec!["orgb.example".parse().unwrap()];
        let inputs = PolicyInputs::default();
        let b = Basis::new("orgb.example", &c, &list, &inputs);
        let p = decide("orgb.example", &c, &list, false).unwrap();
        let t = tls();
        let a = b.applied(
            Ok(&p),
            false,
            Session::Up {
                host: "mx",
                tls: Some(&t),
            },
        );
        assert_eq!((a.kind, a.reason), (Some(PolicyKind::DomainSecure), None));
        let cause = Cause::Session {
            host: "mx.orgb.example".into(),
            failure: SessionFailure::StartTlsNotOffered,
        };
        let a = b.applied(Ok(&p), false, Session::Failed(&cause));
        assert_eq!(
            a.reason.as_deref(),
            Some(
                "Domain Security: orgb.example is in TLSSendDomainSecureList; mx.orgb.example did not offer STARTTLS; held"
            )
        );
        c.domain_secure_enabled = false;
        let refusal = decide("orgb.example", &c, &list, false).unwrap_err();
        let b = Basis::new("orgb.example", &c, &list, &inputs);
        let a = b.applied(Err(&refusal), false, Session::NotTried);
        assert!(a.reason.unwrap().contains("DomainSecureEnabled; held"));

        let mut c = conn();
        c.require_tls = true;
        let b = Basis::new("orgc.example", &c, &[], &inputs);
        let p = decide("orgc.example", &c, &[], false).unwrap();
        let a = b.applied(
            Ok(&p),
            false,
            Session::Up {
                host: "mx",
                tls: Some(&t),
            },
        );
        assert_eq!(
            a.reason.as_deref(),
            Some(
                "RequireTLS: connector 'Internet' has RequireTLS with TlsAuthLevel EncryptionOnly; TLS without certificate verification (TlsAuthLevel EncryptionOnly)"
            )
        );
    }

    #[test]
    fn plaintext_fallback_and_ignore_starttls() {
        let mut c = conn();
        let inputs = PolicyInputs::default();
        let b = Basis::new("orgc.example", &c, &[], &inputs);
        let p = decide("orgc.example", &c, &[], true).unwrap();
        let a = b.applied(
            Ok(&p),
            true,
            Session::Up {
                host: "mx",
                tls: None,
            },
        );
        assert_eq!(a.kind, Some(PolicyKind::None));
        assert!(a.reason.unwrap().ends_with(
            "the TLS handshake failed on the previous attempt, so this one is in plaintext"
        ));
        c.ignore_starttls = true;
        let b = Basis::new("orgc.example", &c, &[], &inputs);
        let p = decide("orgc.example", &c, &[], false).unwrap();
        let a = b.applied(
            Ok(&p),
            false,
            Session::Up {
                host: "mx",
                tls: None,
            },
        );
        assert_eq!(
            a.reason.as_deref(),
            Some("connector 'Internet' has IgnoreSTARTTLS: STARTTLS is never tried")
        );
    }
}
