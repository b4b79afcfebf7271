//! Self-signed certificates (New-ExchangeCertificate without -GenerateRequest).

use time::{Duration, OffsetDateTime};

use super::Result;
use super::dn::SubjectName;
use super::keys::PrivateKey;
use super::request::{leaf_extensions, san_names};
use super::x509w;

/// Exchange's default lifetime of a self-signed certificate.
pub const DEFAULT_VALIDITY_YEARS: i32 = 5;

/// The validity window for a certificate made at `now`: from one hour
/// earlier (clock skew between servers) to `years` later.
pub fn validity_window(now: OffsetDateTime, years: i32) -> (OffsetDateTime, OffsetDateTime) {
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let not_before = now - Duration::hours(1);
    let target_year = now.year() + years;
    let not_after = now
        .replace_year(target_year)
        // 29 February in a year that has none
        .or_else(|_| (now - Duration::days(1)).replace_year(target_year))
        .unwrap_or(now + Duration::days(365 * i64::from(years)));
    (not_before, not_after)
}

/// Makes a self-signed certificate (DER) for `subject` and `domain_names`
/// with `key`, valid from `now` - 1 hour for 5 years, random 16-byte serial,
/// keyUsage digitalSignature+keyEncipherment (RSA) or digitalSignature
/// (ECDSA), extendedKeyUsage serverAuth+clientAuth, subjectKeyIdentifier.
pub fn create_self_signed_at(
    subject: &SubjectName,
    domain_names: &[String],
    key: &PrivateKey,
    now: OffsetDateTime,
) -> Result<Vec<u8>> {
    let names = san_names(subject, domain_names)?;
    let spki = key.spki_der()?;
    let key_id = x509w::key_id(&spki)?;
    let mut extensions = vec![x509w::ext_basic_constraints(false)];
    extensions.extend(leaf_extensions(subject, &names, key));
    extensions.push(x509w::ext_ski(&key_id));
    let subject_der = subject.to_der();
    let (not_before, not_after) = validity_window(now, DEFAULT_VALIDITY_YEARS);
    let spec = x509w::TbsSpec {
        serial: x509w::random_serial()?,
        issuer_der: &subject_der,
        subject_der: &subject_der,
        not_before,
        not_after,
        spki_der: &spki,
        extensions,
    };
    x509w::build_certificate(&spec, key)
}

/// [`create_self_signed_at`] with the current time.
pub fn create_self_signed(
    subject: &SubjectName,
    domain_names: &[String],
    key: &PrivateKey,
) -> Result<Vec<u8>> {
    create_self_signed_at(subject, domain_names, key, OffsetDateTime::now_utc())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pki::cert::parse_certificate;
    use crate::pki::keys::{KeyAlgorithm, generate};
    use time::macros::datetime;

    #[test]
    fn self_signed_fields() {
        let key = generate(KeyAlgorithm::EcdsaP384).unwrap();
        let dn = SubjectName::parse("C=DE,O=OrgA,CN=mail.orga.example").unwrap();
        let now = datetime!(2026-03-01 12:00:00 UTC);
        let der = create_self_signed_at(&dn, &["orga.example".to_string()], &key, now).unwrap();
        let info = parse_certificate(&der).unwrap();
        assert_eq!(info.subject, "CN=mail.orga.example, O=OrgA, C=DE");
        assert_eq!(info.issuer, info.subject);
        assert!(info.is_self_signed);
        assert!(!info.is_ca);
        assert_eq!(info.dns_names, ["orga.example", "mail.orga.example"]);
        assert_eq!(info.not_before, datetime!(2026-03-01 11:00:00 UTC));
        assert_eq!(info.not_after, datetime!(2031-03-01 12:00:00 UTC));
        assert!(info.has_server_auth && info.has_client_auth);
        assert_eq!(info.key_algorithm, "ECDSA-P384");
        assert_eq!(info.public_key_size, 384);
        assert_eq!(info.spki_der, key.spki_der().unwrap());
        // 16-byte positive serial
        assert_eq!(info.serial_number.len(), 32);
        assert_eq!(info.thumbprint.len(), 40);
    }

    #[test]
    fn leap_day_and_late_dates() {
        let (_, na) = validity_window(datetime!(2028-02-29 00:00:00 UTC), 5);
        assert_eq!(na, datetime!(2033-02-28 00:00:00 UTC));
        // past 2049 the certificate uses GeneralizedTime and still parses
        let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
        let dn = SubjectName::parse("CN=late.example").unwrap();
        let der =
            create_self_signed_at(&dn, &[], &key, datetime!(2047-06-01 00:00:00 UTC)).unwrap();
        let info = parse_certificate(&der).unwrap();
        assert_eq!(info.not_after, datetime!(2052-06-01 00:00:00 UTC));
    }
}
