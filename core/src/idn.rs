//! Internationalized domain names: the one rule every domain in the
//! product goes through (accepted domains, send connector address spaces,
//! the Domain Security lists, connector FQDNs, certificate names, and the
//! domains of recipients when routing).
//!
//! - A name may be typed with U-labels (`bücher.example`) or A-labels
//!   (`xn--bcher-kva.example`); both become the same A-label form, which is
//!   what the store keeps and what every comparison uses (certificates and
//!   DNS only ever carry A-labels, RFC 5890 2.3.2.1, RFC 6125 6.4.2).
//! - Conversion is UTS 46 non-transitional processing (the IDNA2008
//!   compatible profile, `idna` crate): mapping (case folding, NFC), then
//!   the validity rules (disallowed code points, bidi and joiner rules).
//!   An `xn--` label is decoded and checked the same way, so an invalid
//!   Punycode label is refused too. UTS 46 still lets through symbols and
//!   punctuation that IDNA2008 disallows (RFC 5892 2.1-2.3: `☃`, `♥`):
//!   only letters, marks, digits and `-` (and the few CONTEXTJ/CONTEXTO
//!   code points UTS 46 checks) are accepted.
//! - Look-alikes: a label that mixes letters of Latin, Greek and Cyrillic
//!   (`оrgb.example` with a Cyrillic `о`, or its A-label
//!   `xn--rgb-...`) is refused, as registries and browsers refuse them
//!   (UTS 39 5.1 "single script" restriction, reduced to the three scripts
//!   whose letters are confused with each other).

use std::borrow::Cow;

/// Why a name is not a valid internationalized domain name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdnError {
    #[error("it is not a valid internationalized domain name (IDNA2008 / UTS 46)")]
    Invalid,
    #[error(
        "label '{0}' mixes Latin, Greek or Cyrillic letters (a look-alike name is not allowed)"
    )]
    MixedScript(String),
    #[error("'{0}' (U+{1:04X}) is not allowed in a domain name (IDNA2008, RFC 5892)")]
    Disallowed(char, u32),
}

/// True when some label needs IDNA processing: a non-ASCII character or an
/// `xn--` prefix (any case).
pub fn needs_idna(name: &str) -> bool {
    !name.is_ascii()
        || name
            .split('.')
            .any(|l| l.len() >= 4 && l.as_bytes()[..4].eq_ignore_ascii_case(b"xn--"))
}

/// The A-label form of `name` (lower case). Plain ASCII names without an
/// `xn--` label come back lower-cased and unchanged otherwise: their LDH
/// rules are the caller's. `name` has no trailing dot and no wildcard.
pub fn to_ascii(name: &str) -> Result<Cow<'_, str>, IdnError> {
    if !needs_idna(name) {
        return Ok(if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            Cow::Borrowed(name)
        });
    }
    let uts46 = idna::uts46::Uts46::new();
    let ascii = uts46
        .to_ascii(
            name.as_bytes(),
            idna::uts46::AsciiDenyList::EMPTY,
            idna::uts46::Hyphens::CheckFirstLast,
            idna::uts46::DnsLength::Ignore,
        )
        .map_err(|_| IdnError::Invalid)?
        .to_ascii_lowercase();
    let (unicode, ok) = uts46.to_unicode(
        ascii.as_bytes(),
        idna::uts46::AsciiDenyList::EMPTY,
        idna::uts46::Hyphens::CheckFirstLast,
    );
    ok.map_err(|_| IdnError::Invalid)?;
    if let Some(c) = unicode.chars().find(|&c| !idna2008_allowed(c)) {
        return Err(IdnError::Disallowed(c, u32::from(c)));
    }
    if let Some(label) = unicode.split('.').find(|l| mixes_scripts(l)) {
        return Err(IdnError::MixedScript(label.to_string()));
    }
    Ok(Cow::Owned(ascii))
}

/// Replaces an internationalized host name (a connector's or the server's
/// Fqdn, kept as a string) by its A-label, which is what EHLO, the greeting
/// and certificate selection need. An invalid name is left for the model's
/// rules to refuse with the parameter's name.
pub fn keep_as_a_label(name: &mut Option<String>) {
    if let Some(n) = name
        && needs_idna(n)
    {
        let t = n.trim();
        let t = t.strip_suffix('.').unwrap_or(t);
        if let Ok(a) = to_ascii(t) {
            *n = a.into_owned();
        }
    }
}

/// The U-label form of an A-label name, for display; the name itself when
/// it has no `xn--` label or does not decode.
pub fn to_unicode(ascii: &str) -> Cow<'_, str> {
    if !needs_idna(ascii) {
        return Cow::Borrowed(ascii);
    }
    let (unicode, ok) = idna::uts46::Uts46::new().to_unicode(
        ascii.as_bytes(),
        idna::uts46::AsciiDenyList::EMPTY,
        idna::uts46::Hyphens::CheckFirstLast,
    );
    match ok {
        Ok(()) => Cow::Owned(unicode.into_owned()),
        Err(_) => Cow::Borrowed(ascii),
    }
}

/// The form in which two domains are compared: the A-label, lower case.
/// A name that is not valid IDNA comes back as given (lower-cased): it then
/// equals no valid name.
pub fn comparison_key(name: &str) -> Cow<'_, str> {
    let name = name.strip_suffix('.').unwrap_or(name);
    match to_ascii(name) {
        Ok(a) => a,
        Err(_) => Cow::Owned(name.to_lowercase()),
    }
}

/// RFC 5892's PVALID categories, roughly: lower-case and other letters,
/// marks, decimal digits (UTS 46 has already mapped upper case away), `-`
/// and `.`, `_` (tolerated in ASCII labels as today), and the CONTEXTJ /
/// CONTEXTO code points (RFC 5892 appendix A).
fn idna2008_allowed(c: char) -> bool {
    use icu_properties::{CodePointMapData, props::GeneralCategory as Gc};
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    }
    if matches!(
        c,
        '\u{00B7}' | '\u{0375}' | '\u{05F3}' | '\u{05F4}' | '\u{30FB}' | '\u{200C}' | '\u{200D}'
    ) {
        return true;
    }
    matches!(
        CodePointMapData::<Gc>::new().get(c),
        Gc::LowercaseLetter
            | Gc::OtherLetter
            | Gc::ModifierLetter
            | Gc::NonspacingMark
            | Gc::SpacingMark
            | Gc::DecimalNumber
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Greek,
    Cyrillic,
}

fn script(c: char) -> Option<Script> {
    let u = u32::from(c);
    if c.is_ascii_alphabetic()
        || ((0x00C0..=0x024F).contains(&u) && c.is_alphabetic())
        || (0x1E00..=0x1EFF).contains(&u)
    {
        Some(Script::Latin)
    } else if (0x0370..=0x03FF).contains(&u) || (0x1F00..=0x1FFF).contains(&u) {
        Some(Script::Greek)
    } else if (0x0400..=0x052F).contains(&u)
        || (0x2DE0..=0x2DFF).contains(&u)
        || (0xA640..=0xA69F).contains(&u)
    {
        Some(Script::Cyrillic)
    } else {
        None
    }
}

fn mixes_scripts(label: &str) -> bool {
    let mut seen: Option<Script> = None;
    for s in label.chars().filter_map(script) {
        match seen {
            None => seen = Some(s),
            Some(p) if p != s => return true,
            Some(_) => {}
        }
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn u_labels_and_a_labels_meet_in_the_a_label() {
        assert_eq!(to_ascii("bücher.example").unwrap(), "xn--bcher-kva.example");
        assert_eq!(to_ascii("BÜCHER.Example").unwrap(), "xn--bcher-kva.example");
        assert_eq!(
            to_ascii("XN--BCHER-KVA.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(to_ascii("münchen.de").unwrap(), "xn--mnchen-3ya.de");
        assert_eq!(to_ascii("例え.テスト").unwrap(), "xn--r8jz45g.xn--zckzah");
        assert_eq!(to_unicode("xn--bcher-kva.example"), "bücher.example");
        assert_eq!(to_unicode("plain.example"), "plain.example");
        assert_eq!(comparison_key("Bücher.Example."), "xn--bcher-kva.example");
        assert_eq!(to_ascii("Contoso.COM").unwrap(), "contoso.com");
    }

    #[test]
    fn invalid_idna_and_look_alikes_are_refused() {
        // Disallowed code points: a line separator (UTS 46), a symbol
        // (IDNA2008 only).
        assert_eq!(to_ascii("a\u{2028}.example"), Err(IdnError::Invalid));
        assert_eq!(
            to_ascii("i\u{2665}.example"),
            Err(IdnError::Disallowed('\u{2665}', 0x2665))
        );
        // A bad Punycode label.
        assert_eq!(to_ascii("xn--zz-.example"), Err(IdnError::Invalid));
        // Leading combining mark.
        assert_eq!(to_ascii("\u{0301}a.example"), Err(IdnError::Invalid));
        // A Cyrillic 'о' among Latin letters, typed or as its A-label.
        assert!(matches!(
            to_ascii("\u{043e}rgb.example"),
            Err(IdnError::MixedScript(_))
        ));
        let a = idna::domain_to_ascii("\u{043e}rgb5.example").unwrap();
        assert!(a.starts_with("xn--"));
        assert!(matches!(to_ascii(&a), Err(IdnError::MixedScript(_))));
        // A whole-Cyrillic label is one script: allowed.
        assert!(to_ascii("пример.example").is_ok());
    }
}
