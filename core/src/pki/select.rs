//! Certificate selection: which of our certificates serves a name. Used by
//! Get-ExchangeCertificate -DomainName (whose first result is the one a
//! connector would pick) and by the transport (STARTTLS server certificate,
//! outbound client certificate).

use time::OffsetDateTime;

use super::names::{NameMatch, best_match};
use super::validate::CertStatus;

/// What selection needs to know about one stored certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub thumbprint: String,
    /// SAN DNS names.
    pub dns_names: Vec<String>,
    /// Subject CN (used only when there are no SAN DNS names).
    pub cn: Option<String>,
    pub has_private_key: bool,
    /// SMTP is among the certificate's enabled services.
    pub smtp_enabled: bool,
    pub is_self_signed: bool,
    pub status: CertStatus,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// Options for [`select_certificates`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectOptions {
    /// Keep only SMTP-enabled certificates (the transport); Get-ExchangeCertificate
    /// -DomainName sets this to false.
    pub require_smtp: bool,
}

impl Default for SelectOptions {
    fn default() -> Self {
        Self { require_smtp: true }
    }
}

fn class(c: &Candidate) -> u8 {
    match (c.status, c.is_self_signed) {
        (CertStatus::Valid, false) => 0,
        (CertStatus::Valid, true) => 1,
        _ => 2,
    }
}

/// The preference order without names (what TlsCertificateName selection
/// uses among certificates with the named issuer and subject): valid
/// CA-issued, valid self-signed, the rest; then the latest NotAfter, the
/// latest NotBefore, the lowest thumbprint. `Less`: `a` is preferred.
pub fn compare(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    class(a)
        .cmp(&class(b))
        .then_with(|| b.not_after.cmp(&a.not_after))
        .then_with(|| b.not_before.cmp(&a.not_before))
        .then_with(|| a.thumbprint.cmp(&b.thumbprint))
}

/// Why `first` comes before `second` in [`select_certificates`]' order, in
/// words (for the engine's log).
pub fn why_preferred(first: &Candidate, second: &Candidate) -> &'static str {
    match class(first).cmp(&class(second)) {
        std::cmp::Ordering::Less if class(first) == 0 && class(second) == 1 => {
            "a valid CA-issued certificate before a self-signed one"
        }
        std::cmp::Ordering::Less => {
            "a valid certificate before an expired, not yet valid or untrusted one"
        }
        // Same class: the name match came first, then the dates. A winner
        // with an earlier date won on its name.
        _ if first.not_after > second.not_after => "the latest NotAfter",
        _ if first.not_after < second.not_after => "an exact name before a wildcard",
        _ if first.not_before > second.not_before => "the same NotAfter, the latest NotBefore",
        _ if first.not_before < second.not_before => "an exact name before a wildcard",
        _ => "an exact name before a wildcard, else the lowest thumbprint",
    }
}

/// The certificates that can serve `wanted`, best first.
///
/// Kept: certificates with a private key, SMTP-enabled (unless
/// `require_smtp` is false), whose names match `wanted` (SAN DNS names, else
/// CN; exact or wildcard, no subdomain matching).
///
/// Order: a CA-issued `Valid` certificate first, then a `Valid` self-signed
/// one, then the rest (expired, not yet valid, untrusted...: used only when
/// nothing valid matches); within that, an exact name before a wildcard;
/// then the latest NotAfter (a renewed certificate wins over the one it
/// replaces, even when both are enabled), then the latest NotBefore; ties
/// by thumbprint so the result is stable.
pub fn select_certificates<'a>(
    candidates: &'a [Candidate],
    wanted: &str,
    options: SelectOptions,
) -> Vec<&'a Candidate> {
    let mut kept: Vec<(&Candidate, NameMatch)> = candidates
        .iter()
        .filter(|c| c.has_private_key && (c.smtp_enabled || !options.require_smtp))
        .filter_map(|c| best_match(&c.dns_names, c.cn.as_deref(), wanted, false).map(|m| (c, m)))
        .collect();
    kept.sort_by(|(a, ma), (b, mb)| {
        class(a)
            .cmp(&class(b))
            .then(ma.cmp(mb))
            .then_with(|| b.not_after.cmp(&a.not_after))
            .then_with(|| b.not_before.cmp(&a.not_before))
            .then_with(|| a.thumbprint.cmp(&b.thumbprint))
    });
    kept.into_iter().map(|(c, _)| c).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn cand(tp: &str, names: &[&str], self_signed: bool, nb: OffsetDateTime) -> Candidate {
        Candidate {
            thumbprint: tp.to_string(),
            dns_names: names.iter().map(|s| s.to_string()).collect(),
            cn: None,
            has_private_key: true,
            smtp_enabled: true,
            is_self_signed: self_signed,
            status: CertStatus::Valid,
            not_before: nb,
            not_after: nb + time::Duration::days(365),
        }
    }

    #[test]
    fn ordering_and_filters() {
        let old = datetime!(2024-01-01 0:00 UTC);
        let new = datetime!(2025-01-01 0:00 UTC);
        let mut no_key = cand("A", &["mail.orga.example"], false, new);
        no_key.has_private_key = false;
        let mut not_smtp = cand("B", &["mail.orga.example"], false, new);
        not_smtp.smtp_enabled = false;
        let self_new = cand("C", &["mail.orga.example"], true, new);
        let ca_old = cand("D", &["mail.orga.example"], false, old);
        let ca_new = cand("E", &["mail.orga.example"], false, new);
        let ca_wild = cand(
            "F",
            &["*.orga.example"],
            false,
            datetime!(2026-01-01 0:00 UTC),
        );
        let other = cand("G", &["other.example"], false, new);
        let mut expired = cand("H", &["mail.orga.example"], false, new);
        expired.status = CertStatus::DateInvalid;
        let all = vec![
            no_key, not_smtp, self_new, ca_old, ca_new, ca_wild, other, expired,
        ];

        let got: Vec<&str> =
            select_certificates(&all, "Mail.OrgA.Example", SelectOptions::default())
                .iter()
                .map(|c| c.thumbprint.as_str())
                .collect();
        assert_eq!(got, ["E", "D", "F", "C", "H"]);

        let got: Vec<&str> = select_certificates(
            &all,
            "mail.orga.example",
            SelectOptions {
                require_smtp: false,
            },
        )
        .iter()
        .map(|c| c.thumbprint.as_str())
        .collect();
        assert_eq!(got, ["B", "E", "D", "F", "C", "H"]);

        assert!(select_certificates(&all, "nothing.example", SelectOptions::default()).is_empty());
        // Renewal: the certificate with the latest NotAfter wins, even when
        // it was issued before the other (NotBefore), whatever the store
        // order; equal NotAfter: the latest NotBefore; then the thumbprint.
        let mut old = cand("Z", &["mail.orga.example"], false, old);
        old.not_after = datetime!(2026-06-01 0:00 UTC);
        let mut renewed = cand("Y", &["mail.orga.example"], false, old.not_before);
        renewed.not_after = datetime!(2027-06-01 0:00 UTC);
        let mut later_issued = cand("X", &["mail.orga.example"], false, new);
        later_issued.not_after = old.not_after;
        let pool = vec![old.clone(), later_issued.clone(), renewed.clone()];
        let got: Vec<&str> =
            select_certificates(&pool, "mail.orga.example", SelectOptions::default())
                .iter()
                .map(|c| c.thumbprint.as_str())
                .collect();
        assert_eq!(got, ["Y", "X", "Z"]);
        assert_eq!(why_preferred(&renewed, &old), "the latest NotAfter");
        assert_eq!(
            why_preferred(&later_issued, &old),
            "the same NotAfter, the latest NotBefore"
        );
        // An exact name wins over a longer-lived wildcard.
        let mut wild = cand("V", &["*.orga.example"], false, old.not_before);
        wild.not_after = datetime!(2030-01-01 0:00 UTC);
        let pool = vec![wild.clone(), old.clone()];
        let got = select_certificates(&pool, "mail.orga.example", SelectOptions::default());
        assert_eq!(got[0].thumbprint, "Z");
        assert_eq!(
            why_preferred(got[0], got[1]),
            "an exact name before a wildcard"
        );
        let mut twin = old.clone();
        twin.thumbprint = "A".into();
        let pool = vec![old.clone(), twin];
        assert_eq!(
            select_certificates(&pool, "mail.orga.example", SelectOptions::default())[0].thumbprint,
            "A"
        );
        // An expired renewal target never beats a valid certificate.
        let mut expired_long = renewed.clone();
        expired_long.thumbprint = "W".into();
        expired_long.status = CertStatus::DateInvalid;
        expired_long.not_after = datetime!(2099-01-01 0:00 UTC);
        let pool = vec![expired_long, old.clone()];
        assert_eq!(
            select_certificates(&pool, "mail.orga.example", SelectOptions::default())[0].thumbprint,
            "Z"
        );

        // CN is used when there are no SAN names
        let mut cn_only = cand("I", &[], true, new);
        cn_only.cn = Some("smtp.orga.example".to_string());
        assert_eq!(
            select_certificates(
                std::slice::from_ref(&cn_only),
                "smtp.orga.example",
                SelectOptions::default()
            )
            .len(),
            1
        );
    }
}
