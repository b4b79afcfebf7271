//! The SMTP certificates' lifecycle, as the engine reports it: which
//! certificate each receive connector presents and why, the expiry warning
//! and error Exchange logs (events 12018 and 12016), and whether a
//! certificate can be the TLS client certificate of Domain Security
//! (public CAs drop the clientAuth extended key usage from server
//! certificates during 2026).
//!
//! Pure: the compiler calls [`certificate_checks`] once per compile, the
//! engine logs the result at start, on each reload and once a day.

use std::collections::BTreeSet;

use time::OffsetDateTime;
use xshell_core::certificates::{self, EVENT_EXPIRED, EVENT_EXPIRING, Expiry};
use xshell_core::model::OrgConfig;
use xshell_core::pki::cert::parse_certificate;

use super::SendRuntime;

/// How a finding is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckLevel {
    Info,
    Warning,
    Error,
}

/// One finding about one of our SMTP certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateCheck {
    pub level: CheckLevel,
    /// Exchange's event id, when Exchange has one for this finding.
    pub event_id: Option<u32>,
    pub thumbprint: String,
    pub subject: String,
    /// RFC 3339.
    pub not_after: String,
    /// Whole days to NotAfter (negative once expired).
    pub days_left: i64,
    /// The log message (names everything above again, for text logs).
    pub message: String,
}

/// The findings about every SMTP-enabled certificate of `cfg` at `now`.
/// `choices` are (receive connector, thumbprint, why) for the certificates
/// STARTTLS presents; `send` tells which certificate each send connector
/// presents as its client certificate.
pub fn certificate_checks(
    cfg: &OrgConfig,
    now: OffsetDateTime,
    choices: &[(String, String, String)],
    send: &SendRuntime,
    warning_days: u32,
) -> Vec<CertificateCheck> {
    let mut out = Vec::new();
    for rec in cfg
        .certificates
        .iter()
        .filter(|r| certificates::has_service(r, "SMTP"))
    {
        let Some(info) = certificates::certificate_der(rec)
            .ok()
            .flatten()
            .and_then(|d| parse_certificate(&d).ok())
        else {
            continue;
        };
        let mut users: BTreeSet<String> = choices
            .iter()
            .filter(|(_, tp, _)| *tp == rec.thumbprint)
            .map(|(rc, _, _)| format!("receive connector '{rc}'"))
            .collect();
        let mut client_of = BTreeSet::new();
        for (name, sc) in &send.compiled {
            if sc.client_certificate.as_deref() == Some(rec.thumbprint.as_str()) {
                client_of.insert(name.clone());
                users.insert(format!("send connector '{name}'"));
            }
        }
        let use_text = if users.is_empty() {
            "not presented by any connector".to_string()
        } else {
            format!(
                "presented by {}",
                users.into_iter().collect::<Vec<_>>().join(", ")
            )
        };
        let not_after = certificates::rfc3339(info.not_after);
        let days_left = certificates::days_until_expiration(info.not_after, now);
        let check = |level, event_id, message: String| CertificateCheck {
            level,
            event_id,
            thumbprint: rec.thumbprint.clone(),
            subject: info.subject.clone(),
            not_after: not_after.clone(),
            days_left,
            message,
        };
        for (rc, tp, why) in choices {
            if *tp == rec.thumbprint {
                out.push(check(
                    CheckLevel::Info,
                    None,
                    format!(
                        "receive connector '{rc}': STARTTLS presents certificate {tp} ({}, NotAfter {not_after}, {days_left} days left), chosen as {why}",
                        info.subject
                    ),
                ));
            }
        }
        for name in &client_of {
            out.push(check(
                CheckLevel::Info,
                None,
                format!(
                    "send connector '{name}': presents certificate {} ({}, NotAfter {not_after}, {days_left} days left) as its TLS client certificate (the same selection rule)",
                    rec.thumbprint, info.subject
                ),
            ));
        }
        match certificates::expiry(info.not_after, now, warning_days) {
            Expiry::Expired { days_ago } => out.push(check(
                CheckLevel::Error,
                Some(EVENT_EXPIRED),
                format!(
                    "SMTP certificate {} ({}) expired on {not_after} ({days_ago} days ago; {use_text}): \
                     peers that validate certificates refuse it. Import and enable a renewed certificate \
                     (Exchange event {EVENT_EXPIRED})",
                    rec.thumbprint, info.subject
                ),
            )),
            Expiry::Expiring { days_left } => out.push(check(
                CheckLevel::Warning,
                Some(EVENT_EXPIRING),
                format!(
                    "SMTP certificate {} ({}) expires on {not_after}, in {days_left} days ({use_text}; \
                     warning from {warning_days} days before, Set-TransportService \
                     -CertificateExpiryWarningDays). Import and enable a renewed certificate \
                     (Exchange event {EVENT_EXPIRING})",
                    rec.thumbprint, info.subject
                ),
            )),
            Expiry::Ok { .. } => {}
        }
        if let Err(why) = info.domain_security_client_auth() {
            let impact = if client_of.is_empty() {
                "it cannot serve as a Domain Security client certificate".to_string()
            } else {
                format!(
                    "send connector(s) {} present it as the Domain Security client certificate, \
                     which partners will refuse unless they accept serverAuth-only \
                     certificates from us (in xshell: TLSReceiveDomainSecureServerAuthOnlyList)",
                    client_of.into_iter().collect::<Vec<_>>().join(", ")
                )
            };
            out.push(check(
                CheckLevel::Warning,
                None,
                format!(
                    "SMTP certificate {} ({}): {why}; {impact}. Get a certificate with the Client \
                     Authentication extended key usage (or none) for Domain Security",
                    rec.thumbprint, info.subject
                ),
            ));
        }
    }
    out
}
