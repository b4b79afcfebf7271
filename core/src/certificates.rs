//! The organization's certificates as stored records, seen through the PKI
//! library: decoding, status against the trusted roots, the default SMTP
//! certificate, services, and the selection candidates.
//!
//! Shared by the cmdlets and the transport: `Get-ExchangeCertificate
//! -DomainName` and the transport's STARTTLS / client-certificate choice both
//! call [`candidates`] and then [`crate::pki::select::select_certificates`],
//! so the first certificate Get shows for a name is the one the transport uses.
//!
//! Pure functions over [`OrgConfig`]: no file or store I/O.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;

use crate::model::{CertificateRecord, OrgConfig, parse_tls_certificate_name};
use crate::pki::PkiError;
use crate::pki::cert::{CertInfo, hex_upper, parse_certificate, same_public_key};
use crate::pki::keys::PrivateKey;
use crate::pki::request::{RequestInfo, parse_request};
use crate::pki::select::Candidate;
use crate::pki::validate::{CertStatus, Validation, validate_certificate};

/// Exchange's services, in the order of the `IPUWSFC` services string.
pub const SERVICES: [(&str, char); 7] = [
    ("IMAP", 'I'),
    ("POP", 'P'),
    ("UM", 'U'),
    ("IIS", 'W'),
    ("SMTP", 'S'),
    ("Federation", 'F'),
    ("UMCallRouter", 'C'),
];

/// The services a self-signed certificate gets by default, as Exchange's
/// New-ExchangeCertificate (`IP..S..`).
pub const DEFAULT_SELF_SIGNED_SERVICES: [&str; 3] = ["IMAP", "POP", "SMTP"];

/// A stored record that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("certificate {thumbprint} in the store is damaged: its {field} is not valid base64")]
    BadBase64 {
        thumbprint: String,
        field: &'static str,
    },
    #[error("certificate {thumbprint} in the store is damaged: {source}")]
    Pki {
        thumbprint: String,
        #[source]
        source: PkiError,
    },
    #[error("certificate {0} in the store has neither a certificate nor a request")]
    Empty(String),
}

/// The canonical name of a service (`smtp` -> `SMTP`), if it is one.
pub fn canonical_service(name: &str) -> Option<&'static str> {
    SERVICES
        .iter()
        .map(|(n, _)| *n)
        .find(|n| n.eq_ignore_ascii_case(name.trim()))
}

/// Sorts services into `IPUWSFC` order, canonical names, no duplicates.
pub fn normalize_services<S: AsRef<str>>(services: &[S]) -> Vec<String> {
    SERVICES
        .iter()
        .filter(|(n, _)| services.iter().any(|s| s.as_ref().eq_ignore_ascii_case(n)))
        .map(|(n, _)| (*n).to_string())
        .collect()
}

/// The seven-character services string: `....S..` is SMTP only.
pub fn services_string(services: &[String]) -> String {
    SERVICES
        .iter()
        .map(|(n, c)| {
            if services.iter().any(|s| s.eq_ignore_ascii_case(n)) {
                *c
            } else {
                '.'
            }
        })
        .collect()
}

pub fn has_service(rec: &CertificateRecord, service: &str) -> bool {
    rec.services.iter().any(|s| s.eq_ignore_ascii_case(service))
}

pub fn b64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).ok()
}

fn b64(rec: &CertificateRecord, field: &'static str, s: &str) -> Result<Vec<u8>, RecordError> {
    STANDARD.decode(s).map_err(|_| RecordError::BadBase64 {
        thumbprint: rec.thumbprint.clone(),
        field,
    })
}

/// The certificate (DER), None while a request is pending.
pub fn certificate_der(rec: &CertificateRecord) -> Result<Option<Vec<u8>>, RecordError> {
    rec.certificate
        .as_deref()
        .map(|c| b64(rec, "Certificate", c))
        .transpose()
}

/// The pending request (DER), if any.
pub fn request_der(rec: &CertificateRecord) -> Result<Option<Vec<u8>>, RecordError> {
    rec.request
        .as_deref()
        .map(|c| b64(rec, "Request", c))
        .transpose()
}

/// The chain imported with the certificate (DER).
pub fn chain_der(rec: &CertificateRecord) -> Result<Vec<Vec<u8>>, RecordError> {
    rec.chain.iter().map(|c| b64(rec, "Chain", c)).collect()
}

/// The trusted roots (DER); an undecodable entry is skipped.
pub fn trusted_root_ders(cfg: &OrgConfig) -> Vec<Vec<u8>> {
    cfg.trusted_roots
        .iter()
        .filter_map(|r| STANDARD.decode(&r.certificate).ok())
        .collect()
}

/// What a record holds, parsed.
#[derive(Debug, Clone)]
pub enum RecordView {
    /// An issued (or self-signed) certificate, validated against the trusted
    /// roots and the record's chain at the given time.
    Certificate {
        info: Box<CertInfo>,
        validation: Validation,
        der: Vec<u8>,
    },
    /// A request waiting for its certificate: Status PendingRequest.
    Pending { request: Box<RequestInfo> },
}

impl RecordView {
    pub fn status(&self) -> CertStatus {
        match self {
            RecordView::Certificate { validation, .. } => validation.status,
            RecordView::Pending { .. } => CertStatus::PendingRequest,
        }
    }
}

/// Parses a record and computes its status against `roots` (DER) at `now`.
pub fn describe(
    rec: &CertificateRecord,
    roots: &[Vec<u8>],
    now: OffsetDateTime,
) -> Result<RecordView, RecordError> {
    let pki = |source| RecordError::Pki {
        thumbprint: rec.thumbprint.clone(),
        source,
    };
    if let Some(der) = certificate_der(rec)? {
        let info = parse_certificate(&der).map_err(pki)?;
        let chain = chain_der(rec)?;
        let validation = validate_certificate(&der, &chain, roots, now);
        return Ok(RecordView::Certificate {
            info: Box::new(info),
            validation,
            der,
        });
    }
    if let Some(der) = request_der(rec)? {
        let request = parse_request(&der).map_err(pki)?;
        return Ok(RecordView::Pending {
            request: Box::new(request),
        });
    }
    Err(RecordError::Empty(rec.thumbprint.clone()))
}

/// The default SMTP certificate (see [`CertificateRecord::default_smtp`]).
pub fn default_smtp(cfg: &OrgConfig) -> Option<&CertificateRecord> {
    cfg.certificates.iter().find(|c| c.default_smtp)
}

/// A record by thumbprint (already normalized: 40 upper-case hex digits).
pub fn find(cfg: &OrgConfig, thumbprint: &str) -> Option<usize> {
    cfg.certificates
        .iter()
        .position(|c| c.thumbprint.eq_ignore_ascii_case(thumbprint))
}

/// The pending request whose public key is `spki_der` (an issued
/// certificate without a key completes it).
pub fn find_pending_for(cfg: &OrgConfig, spki_der: &[u8]) -> Option<usize> {
    cfg.certificates.iter().position(|c| {
        c.certificate.is_none()
            && request_der(c)
                .ok()
                .flatten()
                .and_then(|d| parse_request(&d).ok())
                .is_some_and(|r| same_public_key(&r.spki_der, spki_der))
    })
}

/// The selection candidates: every record holding a certificate, with its
/// status against the trusted roots at `now`. Pending requests and damaged
/// records are left out. Feed to [`crate::pki::select::select_certificates`].
pub fn candidates(cfg: &OrgConfig, now: OffsetDateTime) -> Vec<Candidate> {
    let roots = trusted_root_ders(cfg);
    cfg.certificates
        .iter()
        .filter_map(|rec| match describe(rec, &roots, now).ok()? {
            RecordView::Certificate {
                info, validation, ..
            } => Some(Candidate {
                thumbprint: rec.thumbprint.clone(),
                dns_names: info.dns_names.clone(),
                cn: info.subject_cn.clone(),
                has_private_key: rec.key_id.is_some(),
                smtp_enabled: has_service(rec, "SMTP"),
                is_self_signed: info.is_self_signed,
                status: validation.status,
                not_before: info.not_before,
                not_after: info.not_after,
            }),
            RecordView::Pending { .. } => None,
        })
        .collect()
}

/// Why a certificate cannot be removed, if it is in use: it is the default
/// SMTP certificate, or a connector names it in TlsCertificateName.
pub fn in_use(cfg: &OrgConfig, rec: &CertificateRecord, info: Option<&CertInfo>) -> Option<String> {
    if rec.default_smtp {
        return Some(
            "it is the default SMTP certificate; enable another certificate for SMTP first \
             (Enable-ExchangeCertificate -Services SMTP)"
                .to_string(),
        );
    }
    let info = info?;
    let same = |n: &str| {
        parse_tls_certificate_name(n).is_some_and(|(i, s)| {
            i.trim().eq_ignore_ascii_case(&info.issuer)
                && s.trim().eq_ignore_ascii_case(&info.subject)
        })
    };
    let mut users: Vec<String> = cfg
        .send_connectors
        .iter()
        .filter(|c| c.tls_certificate_name.as_deref().is_some_and(same))
        .map(|c| format!("send connector '{}'", c.name))
        .collect();
    users.extend(
        cfg.receive_connectors
            .iter()
            .filter(|c| c.tls_certificate_name.as_deref().is_some_and(same))
            .map(|c| format!("receive connector '{}'", c.name)),
    );
    (!users.is_empty())
        .then(|| format!("it is named by TlsCertificateName on {}", users.join(", ")))
}

/// A fresh name for a key file: a prefix of the public key's SHA-1 (to
/// recognize it) and a random part (so two records never share a file).
pub fn new_key_id(key: &PrivateKey) -> Result<String, PkiError> {
    use aws_lc_rs::digest;
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let spki = key.spki_der()?;
    let d = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &spki);
    let mut r = [0u8; 6];
    SystemRandom::new()
        .fill(&mut r)
        .map_err(|_| PkiError::Crypto("no random numbers".to_string()))?;
    let prefix = hex_upper(d.as_ref().get(..8).unwrap_or_default());
    Ok(format!(
        "{}-{}.key",
        prefix.to_ascii_lowercase(),
        hex_upper(&r).to_ascii_lowercase()
    ))
}

/// Whole days from `now` to `not_after`, as admins compute it in
/// PowerShell (`($_.NotAfter - (Get-Date)).Days`: truncated toward zero,
/// negative once expired).
pub fn days_until_expiration(not_after: OffsetDateTime, now: OffsetDateTime) -> i64 {
    (not_after - now).whole_days()
}

/// Where a certificate is in its life, for the expiry warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// More than the warning window left.
    Ok { days_left: i64 },
    /// Expires within the warning window (Exchange event 12018).
    Expiring { days_left: i64 },
    /// NotAfter has passed (Exchange event 12016).
    Expired { days_ago: i64 },
}

/// Exchange's event id for an SMTP certificate about to expire.
pub const EVENT_EXPIRING: u32 = 12018;
/// Exchange's event id for an expired SMTP certificate.
pub const EVENT_EXPIRED: u32 = 12016;

/// The certificate's [`Expiry`] at `now` with a warning window of
/// `warning_days` (0: no warning before expiry).
pub fn expiry(not_after: OffsetDateTime, now: OffsetDateTime, warning_days: u32) -> Expiry {
    if not_after <= now {
        return Expiry::Expired {
            days_ago: (now - not_after).whole_days(),
        };
    }
    let days_left = days_until_expiration(not_after, now);
    if not_after - now <= time::Duration::days(i64::from(warning_days)) {
        Expiry::Expiring { days_left }
    } else {
        Expiry::Ok { days_left }
    }
}

/// RFC 3339 text of a time (`2026-03-01T12:00:00Z`).
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn services() {
        assert_eq!(services_string(&["SMTP".into()]), "....S..");
        let d = normalize_services(&DEFAULT_SELF_SIGNED_SERVICES);
        assert_eq!(services_string(&d), "IP..S..");
        assert_eq!(
            normalize_services(&["smtp", "imap", "SMTP"]),
            ["IMAP", "SMTP"]
        );
        assert_eq!(canonical_service("umcallrouter"), Some("UMCallRouter"));
        assert_eq!(canonical_service("x"), None);
    }

    #[test]
    fn expiry_window() {
        use time::Duration;
        use time::macros::datetime;
        let now = datetime!(2026-12-07 12:00 UTC);
        assert_eq!(days_until_expiration(now + Duration::hours(47), now), 1);
        assert_eq!(days_until_expiration(now - Duration::hours(25), now), -1);
        assert_eq!(
            expiry(now + Duration::days(31), now, 30),
            Expiry::Ok { days_left: 31 }
        );
        assert_eq!(
            expiry(now + Duration::days(30), now, 30),
            Expiry::Expiring { days_left: 30 }
        );
        assert_eq!(
            expiry(now + Duration::hours(5), now, 30),
            Expiry::Expiring { days_left: 0 }
        );
        assert_eq!(
            expiry(now + Duration::days(5), now, 0),
            Expiry::Ok { days_left: 5 }
        );
        assert_eq!(
            expiry(now - Duration::days(3), now, 30),
            Expiry::Expired { days_ago: 3 }
        );
        assert_eq!(expiry(now, now, 30), Expiry::Expired { days_ago: 0 });
    }
}
