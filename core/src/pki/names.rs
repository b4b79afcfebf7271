//! DNS names as they appear in certificates: validation for requests, and the
//! name matching rules used by Domain Security and certificate selection.

use super::{PkiError, Result};

/// How a certificate name matched the wanted name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NameMatch {
    /// The certificate carries the wanted name itself.
    Exact,
    /// A wildcard name (`*.example.com`) covers the wanted name.
    Wildcard,
    /// The certificate name is a subdomain of the wanted domain
    /// (`mail.orga.example` for `orga.example`); only when subdomains are allowed.
    Subdomain,
}

fn is_ldh_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// Checks a DNS name for use in a certificate request (a DomainName or the CN)
/// and returns it in lower case without a trailing dot.
///
/// Rules: ASCII letters, digits and `-` only; an internationalized name may
/// be given with U-labels and becomes its A-label (`bücher.example` is
/// `xn--bcher-kva.example`, [`crate::idn`]; certificates carry A-labels,
/// RFC 5280 7.2), and an `xn--` label must be valid IDNA; labels of 1 to 63 characters not starting or
/// ending with `-`, at most 253 characters, at least two labels, not an IP
/// address. A wildcard is allowed only as the whole left-most label and needs
/// at least two labels after it (`*.orga.example`).
pub fn validate_dns_name(name: &str) -> Result<String> {
    let bad = |reason: &str| PkiError::InvalidDnsName {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = name.trim();
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return Err(bad("it is empty"));
    }
    let idn_checked;
    let trimmed = if crate::idn::needs_idna(trimmed) {
        let (wild, rest) = match trimmed.strip_prefix("*.") {
            Some(rest) => ("*.", rest),
            None => ("", trimmed),
        };
        let ascii = crate::idn::to_ascii(rest).map_err(|e| bad(&e.to_string()))?;
        idn_checked = format!("{wild}{ascii}");
        idn_checked.as_str()
    } else {
        trimmed
    };
    if trimmed.len() > 253 {
        return Err(bad("it is longer than 253 characters"));
    }
    let lower = trimmed.to_ascii_lowercase();
    let labels: Vec<&str> = lower.split('.').collect();
    if labels.len() < 2 {
        return Err(bad(
            "a fully qualified name with at least two labels is needed",
        ));
    }
    for (i, label) in labels.iter().enumerate() {
        if *label == "*" {
            if i != 0 {
                return Err(bad(
                    "a wildcard '*' is allowed only as the whole left-most label",
                ));
            }
            if labels.len() < 3 {
                return Err(bad(
                    "a wildcard needs at least two labels after it (*.example.com)",
                ));
            }
            continue;
        }
        if label.contains('*') {
            return Err(bad(
                "a wildcard '*' must be the whole left-most label (*.example.com)",
            ));
        }
        if label.is_empty() {
            return Err(bad(
                "it has an empty label (two dots in a row, or a leading dot)",
            ));
        }
        if label.len() > 63 {
            return Err(bad("a label is longer than 63 characters"));
        }
        if !is_ldh_label(label) {
            return Err(bad(
                "only letters, digits and '-' are allowed, and a label may not start or end with '-'",
            ));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad(
            "it looks like an IP address; only DNS names are supported",
        ));
    }
    Ok(lower)
}

/// Normalizes a name found in a certificate or asked for by a peer: lower case,
/// no trailing dot. Returns `None` for anything that is not a plain LDH host
/// name (optionally with a wildcard left-most label when `allow_wildcard`):
/// such names never match.
fn normalize_for_match(name: &str, allow_wildcard: bool) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 || !name.is_ascii() {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    for (i, label) in lower.split('.').enumerate() {
        if label == "*" && i == 0 && allow_wildcard {
            continue;
        }
        if !is_ldh_label(label) {
            return None;
        }
    }
    Some(lower)
}

/// Does one certificate name match the wanted name, and how?
fn match_one(cert_name: &str, wanted: &str, allow_subdomain: bool) -> Option<NameMatch> {
    let name = normalize_for_match(cert_name, true)?;
    if name == wanted {
        return Some(NameMatch::Exact);
    }
    if let Some(base) = name.strip_prefix("*.") {
        // base has at least two labels, or the wildcard is too broad to honour
        if !base.contains('.') {
            return None;
        }
        if let Some(host) = wanted.strip_suffix(base)
            && let Some(label) = host.strip_suffix('.')
            && !label.is_empty()
            && !label.contains('.')
        {
            return Some(NameMatch::Wildcard);
        }
        if allow_subdomain && (base == wanted || base.ends_with(&format!(".{wanted}"))) {
            return Some(NameMatch::Subdomain);
        }
        return None;
    }
    if allow_subdomain && name.ends_with(&format!(".{wanted}")) {
        return Some(NameMatch::Subdomain);
    }
    None
}

/// The best way in which a certificate's names match `wanted`, if any.
///
/// `cert_names` are the certificate's SAN DNS names; `cn` its subject common
/// name, consulted only when there are no SAN DNS names. Matching is
/// case-insensitive; `*.example.com` covers exactly one label
/// (`mail.example.com`, not `example.com` nor `a.b.example.com`); a `*` in any
/// other position, or names with characters other than letters, digits and
/// `-` (NUL, spaces, non-ASCII), never match. With `allow_subdomain` (Domain
/// Security, where the wanted name is the partner's domain) a certificate for
/// `mail.orga.example` also satisfies `orga.example`.
pub fn best_match(
    cert_names: &[String],
    cn: Option<&str>,
    wanted: &str,
    allow_subdomain: bool,
) -> Option<NameMatch> {
    // The wanted name may come with U-labels (a partner typed as
    // `bücher.example`): compare its A-label with the certificate's names,
    // which must be A-labels themselves (RFC 6125 6.4.2; a raw UTF-8 SAN
    // never matches).
    let wanted = crate::idn::to_ascii(wanted.strip_suffix('.').unwrap_or(wanted)).ok()?;
    let wanted = normalize_for_match(&wanted, false)?;
    let from_cn;
    let names: &[String] = if cert_names.is_empty() {
        from_cn = cn.map(|c| vec![c.to_string()]).unwrap_or_default();
        &from_cn
    } else {
        cert_names
    };
    names
        .iter()
        .filter_map(|n| match_one(n, &wanted, allow_subdomain))
        .min()
}

/// True when [`best_match`] finds any match. See there for the rules.
pub fn name_matches(
    cert_names: &[String],
    cn: Option<&str>,
    wanted: &str,
    allow_subdomain: bool,
) -> bool {
    best_match(cert_names, cn, wanted, allow_subdomain).is_some()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn v(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn validates_request_names() {
        assert_eq!(
            validate_dns_name("Mail.OrgA.Example.").unwrap(),
            "mail.orga.example"
        );
        assert_eq!(
            validate_dns_name("*.orga.example").unwrap(),
            "*.orga.example"
        );
        assert_eq!(
            validate_dns_name("xn--mnchen-3ya.de").unwrap(),
            "xn--mnchen-3ya.de"
        );
        assert_eq!(
            validate_dns_name("München.de").unwrap(),
            "xn--mnchen-3ya.de"
        );
        assert_eq!(
            validate_dns_name("*.bücher.example").unwrap(),
            "*.xn--bcher-kva.example"
        );
        for bad in [
            "",
            "localhost",
            "mail.*.example",
            "*.com",
            "**.orga.example",
            "m*l.orga.example",
            "-mail.orga.example",
            "mail-.orga.example",
            "mail..orga.example",
            ".orga.example",
            "mail_1.orga.example",
            "\u{43e}rga.example",
            "xn--rgb5-45d.example",
            "i\u{2665}.example",
            "mail orga.example",
            "mail\0.orga.example",
            "10.0.0.1",
        ] {
            assert!(validate_dns_name(bad).is_err(), "{bad:?} should be refused");
        }
        let long = format!("{}.example", "a".repeat(64));
        assert!(validate_dns_name(&long).is_err());
        let err = validate_dns_name("mail.*.example").unwrap_err().to_string();
        assert!(err.contains("left-most"), "{err}");
    }

    #[test]
    fn u_label_partners_match_a_label_certificates() {
        let names = v(&["mail.xn--bcher-kva.example"]);
        assert_eq!(
            best_match(&names, None, "bücher.example", true),
            Some(NameMatch::Subdomain)
        );
        let names = v(&["xn--bcher-kva.example"]);
        assert_eq!(
            best_match(&names, None, "BÜCHER.example.", false),
            Some(NameMatch::Exact)
        );
        // A certificate carrying the raw UTF-8 form never matches, nor does
        // a Cyrillic look-alike of a Latin name, in either form.
        assert_eq!(
            best_match(&v(&["bücher.example"]), None, "bücher.example", false),
            None
        );
        assert_eq!(
            best_match(&v(&["xn--rgb5-45d.example"]), None, "orgb5.example", false),
            None
        );
        assert_eq!(
            best_match(&v(&["orgb5.example"]), None, "\u{43e}rgb5.example", false),
            None
        );
    }

    #[test]
    fn exact_and_case_insensitive() {
        let names = v(&["Mail.OrgA.Example"]);
        assert_eq!(
            best_match(&names, None, "mail.orga.example", false),
            Some(NameMatch::Exact)
        );
        assert!(name_matches(&names, None, "MAIL.ORGA.EXAMPLE.", false));
        assert!(!name_matches(&names, None, "orga.example", false));
    }

    #[test]
    fn wildcard_matches_exactly_one_label() {
        let names = v(&["*.orga.example"]);
        assert_eq!(
            best_match(&names, None, "mail.orga.example", false),
            Some(NameMatch::Wildcard)
        );
        assert!(!name_matches(&names, None, "orga.example", false));
        assert!(!name_matches(&names, None, "a.b.orga.example", false));
        assert!(!name_matches(&names, None, "mailorga.example", false));
    }

    #[test]
    fn wildcard_in_wrong_label_never_matches() {
        for n in [
            "mail.*.example",
            "m*.orga.example",
            "*mail.orga.example",
            "*.*.example",
        ] {
            let names = v(&[n]);
            assert!(
                !name_matches(&names, None, "mail.orga.example", false),
                "{n}"
            );
            assert!(!name_matches(&names, None, "mail.x.example", true), "{n}");
        }
        // A wildcard covering a whole TLD is not honoured.
        assert!(!name_matches(
            &v(&["*.example"]),
            None,
            "orga.example",
            false
        ));
    }

    #[test]
    fn junk_never_matches() {
        for n in [
            "mail.orga.example\0.evil.example",
            "mail.orga.example\0",
            "mail orga.example",
            "mäil.orga.example",
            "mail_.orga.example",
            "",
        ] {
            assert!(
                !name_matches(&v(&[n]), None, "mail.orga.example", true),
                "{n:?}"
            );
        }
        // A junk wanted name matches nothing either.
        assert!(!name_matches(
            &v(&["*.orga.example"]),
            None,
            "\0.orga.example",
            false
        ));
        assert!(!name_matches(
            &v(&["*.orga.example"]),
            None,
            "*.orga.example",
            false
        ));
        assert!(name_matches(
            &v(&["xn--mnchen-3ya.de"]),
            None,
            "münchen.de",
            false
        ));
        assert!(name_matches(
            &v(&["XN--mnchen-3ya.de"]),
            None,
            "xn--mnchen-3ya.de",
            false
        ));
    }

    #[test]
    fn cn_only_when_no_san() {
        assert!(name_matches(
            &[],
            Some("mail.orga.example"),
            "mail.orga.example",
            false
        ));
        assert!(!name_matches(
            &v(&["other.orga.example"]),
            Some("mail.orga.example"),
            "mail.orga.example",
            false
        ));
        assert!(!name_matches(&[], None, "mail.orga.example", false));
    }

    #[test]
    fn subdomains_only_when_allowed() {
        let names = v(&["mail.orga.example"]);
        assert!(!name_matches(&names, None, "orga.example", false));
        assert_eq!(
            best_match(&names, None, "orga.example", true),
            Some(NameMatch::Subdomain)
        );
        assert!(name_matches(
            &v(&["*.orga.example"]),
            None,
            "orga.example",
            true
        ));
        // not a label boundary
        assert!(!name_matches(
            &v(&["mailorga.example"]),
            None,
            "orga.example",
            true
        ));
        // exact beats subdomain
        let both = v(&["mail.orga.example", "orga.example"]);
        assert_eq!(
            best_match(&both, None, "orga.example", true),
            Some(NameMatch::Exact)
        );
    }
}
