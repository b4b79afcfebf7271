//! X.500 subject names as Exchange's `-SubjectName` accepts them
//! (`C=DE,O=OrgA,CN=mail.orga.example`), their DER encoding, and the
//! Windows-style display string (`CN=mail.orga.example, O=OrgA, C=DE`).

use std::fmt;

use super::der;
use super::{PkiError, Result};

/// The attribute types accepted in a SubjectName.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DnAttr {
    /// domainComponent (`DC=`), may repeat.
    Dc,
    /// countryName (`C=`), two letters.
    C,
    /// stateOrProvinceName (`S=` or `ST=`).
    St,
    /// localityName (`L=`).
    L,
    /// organizationName (`O=`).
    O,
    /// organizationalUnitName (`OU=`), may repeat.
    Ou,
    /// commonName (`CN=`).
    Cn,
}

impl DnAttr {
    /// Parses an attribute keyword, case-insensitively.
    pub fn from_keyword(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "DC" => Self::Dc,
            "C" => Self::C,
            "S" | "ST" => Self::St,
            "L" => Self::L,
            "O" => Self::O,
            "OU" => Self::Ou,
            "CN" => Self::Cn,
            _ => return None,
        })
    }

    /// The keyword Windows displays (`S` for the state).
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Dc => "DC",
            Self::C => "C",
            Self::St => "S",
            Self::L => "L",
            Self::O => "O",
            Self::Ou => "OU",
            Self::Cn => "CN",
        }
    }

    pub(crate) fn oid_arcs(self) -> &'static [u64] {
        match self {
            Self::Dc => &[0, 9, 2342, 19_200_300, 100, 1, 25],
            Self::C => &[2, 5, 4, 6],
            Self::St => &[2, 5, 4, 8],
            Self::L => &[2, 5, 4, 7],
            Self::O => &[2, 5, 4, 10],
            Self::Ou => &[2, 5, 4, 11],
            Self::Cn => &[2, 5, 4, 3],
        }
    }

    fn max_len(self) -> usize {
        match self {
            Self::C => 2,
            Self::St | Self::L => 128,
            Self::Dc => 63,
            Self::O | Self::Ou | Self::Cn => 64,
        }
    }

    fn repeatable(self) -> bool {
        matches!(self, Self::Ou | Self::Dc)
    }
}

/// A parsed, validated subject name. Attributes are kept in encoding order
/// (most general first: DC, C, S, L, O, OU, CN), whatever order they were
/// written in; repeated OU or DC keep the order in which they were written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubjectName {
    rdns: Vec<(DnAttr, String)>,
}

fn err(msg: impl Into<String>) -> PkiError {
    PkiError::SubjectName(msg.into())
}

/// Splits the string into raw `key=value` parts, honouring `"..."` quoting and
/// `\` escapes. Returns (key, value) pairs with whitespace trimmed.
fn split_parts(input: &str) -> Result<Vec<(String, String)>> {
    let mut parts = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        // attribute keyword
        let mut key = String::new();
        let mut saw_eq = false;
        for c in chars.by_ref() {
            if c == '=' {
                saw_eq = true;
                break;
            }
            if c == ',' {
                break;
            }
            key.push(c);
        }
        let key = key.trim().to_string();
        if !saw_eq {
            if key.is_empty() && parts.is_empty() && chars.peek().is_none() {
                return Err(err("SubjectName is empty"));
            }
            if key.is_empty() {
                return Err(err(
                    "SubjectName has an empty part (two commas in a row, or a trailing comma)",
                ));
            }
            return Err(err(format!(
                "'{key}' in SubjectName has no '=' (expected e.g. CN=mail.contoso.com)"
            )));
        }
        if key.is_empty() {
            return Err(err(
                "a value in SubjectName has no attribute name before '='",
            ));
        }
        // value
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        let mut ended_by_comma = false;
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some(n) => value.push(n),
                        None => break,
                    },
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        value.push('"');
                    }
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(err(format!(
                    "the quoted value of {key} in SubjectName has no closing '\"'"
                )));
            }
            for c in chars.by_ref() {
                if c == ',' {
                    ended_by_comma = true;
                    break;
                }
                if !c.is_whitespace() {
                    return Err(err(format!(
                        "unexpected '{c}' after the quoted value of {key} in SubjectName"
                    )));
                }
            }
        } else {
            // unquoted: read to an unescaped comma; trailing unescaped spaces trimmed
            let mut keep_len = 0;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some(n) => {
                            value.push(n);
                            keep_len = value.len();
                        }
                        None => {
                            return Err(err(format!(
                                "the value of {key} in SubjectName ends with a lone '\\'"
                            )));
                        }
                    },
                    ',' => {
                        ended_by_comma = true;
                        break;
                    }
                    c => {
                        value.push(c);
                        if !c.is_whitespace() {
                            keep_len = value.len();
                        }
                    }
                }
            }
            value.truncate(keep_len);
        }
        parts.push((key, value));
        if !ended_by_comma {
            break;
        }
    }
    Ok(parts)
}

impl SubjectName {
    /// Parses a SubjectName string.
    ///
    /// Accepts `C`, `S`/`ST`, `L`, `O`, `OU`, `CN` and `DC` in any order,
    /// case-insensitive keywords, whitespace around `=` and `,`, values in
    /// `"double quotes"` (a `""` or `\"` inside is a quote) or with `\,`
    /// escapes. `OU` and `DC` may repeat; the others may appear once.
    /// A name without CN is allowed (then DomainName must give the names).
    pub fn parse(input: &str) -> Result<Self> {
        let mut rdns: Vec<(DnAttr, String)> = Vec::new();
        for (key, value) in split_parts(input)? {
            let attr = DnAttr::from_keyword(&key).ok_or_else(|| {
                err(format!(
                    "unknown attribute '{key}' in SubjectName (use C, S, L, O, OU, CN or DC)"
                ))
            })?;
            let kw = attr.keyword();
            if value.trim().is_empty() {
                return Err(err(format!("{kw} has an empty value in SubjectName")));
            }
            if value.chars().any(char::is_control) {
                return Err(err(format!(
                    "the value of {kw} in SubjectName contains a control character"
                )));
            }
            if !attr.repeatable() && rdns.iter().any(|(a, _)| *a == attr) {
                return Err(err(format!("{kw} appears more than once in SubjectName")));
            }
            let value = match attr {
                DnAttr::C => {
                    if value.len() != 2 || !value.bytes().all(|b| b.is_ascii_alphabetic()) {
                        return Err(err(format!(
                            "C must be a 2-letter country code (ISO 3166), not '{value}'"
                        )));
                    }
                    value.to_ascii_uppercase()
                }
                DnAttr::Dc => {
                    if !value.is_ascii()
                        || value.starts_with('-')
                        || value.ends_with('-')
                        || !value
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    {
                        return Err(err(format!(
                            "DC must be a single DNS label (letters, digits, '-'), not '{value}'"
                        )));
                    }
                    value
                }
                _ => value,
            };
            if value.chars().count() > attr.max_len() {
                return Err(err(format!(
                    "the value of {kw} in SubjectName is longer than {} characters",
                    attr.max_len()
                )));
            }
            rdns.push((attr, value));
        }
        // canonical encoding order; the sort is stable so repeated OU/DC keep theirs
        rdns.sort_by_key(|(a, _)| *a);
        Ok(Self { rdns })
    }

    /// A subject with only a common name.
    pub fn from_cn(cn: &str) -> Result<Self> {
        if cn.trim().is_empty() {
            return Err(err("CN has an empty value"));
        }
        if cn.chars().count() > DnAttr::Cn.max_len() {
            return Err(err("the value of CN is longer than 64 characters"));
        }
        Ok(Self {
            rdns: vec![(DnAttr::Cn, cn.trim().to_string())],
        })
    }

    /// The attributes in encoding order.
    pub fn entries(&self) -> &[(DnAttr, String)] {
        &self.rdns
    }

    /// The common name, if any.
    pub fn common_name(&self) -> Option<&str> {
        self.get(DnAttr::Cn)
    }

    /// The first value of an attribute.
    pub fn get(&self, attr: DnAttr) -> Option<&str> {
        self.rdns
            .iter()
            .find(|(a, _)| *a == attr)
            .map(|(_, v)| v.as_str())
    }

    /// True when there is no attribute at all.
    pub fn is_empty(&self) -> bool {
        self.rdns.is_empty()
    }

    /// DER encoding of the Name (SEQUENCE OF single-valued RDNs).
    /// C is a PrintableString, DC an IA5String, the rest UTF8String.
    pub fn to_der(&self) -> Vec<u8> {
        let rdns: Vec<Vec<u8>> = self
            .rdns
            .iter()
            .map(|(attr, value)| {
                let tag = match attr {
                    DnAttr::C => der::TAG_PRINTABLE_STRING,
                    DnAttr::Dc => der::TAG_IA5_STRING,
                    _ => der::TAG_UTF8_STRING,
                };
                let atv = der::seq(&[&der::oid(attr.oid_arcs()), &der::tlv(tag, value.as_bytes())]);
                der::cons(der::TAG_SET, &[&atv])
            })
            .collect();
        let refs: Vec<&[u8]> = rdns.iter().map(Vec::as_slice).collect();
        der::seq(&refs)
    }
}

/// Quotes a value for display the way Windows does when it contains
/// separators or leading/trailing spaces (a `"` inside is doubled; a `\\` is
/// escaped so that [`SubjectName::parse`] reads the display form back).
pub(crate) fn display_value(value: &str) -> String {
    let needs_quotes = value.is_empty()
        || value.starts_with(char::is_whitespace)
        || value.ends_with(char::is_whitespace)
        || value.chars().any(|c| {
            matches!(
                c,
                ',' | '+' | '=' | '"' | '\\' | '\n' | '<' | '>' | '#' | ';'
            )
        });
    if needs_quotes {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

impl fmt::Display for SubjectName {
    /// Windows order: most specific first (`CN=mail.orga.example, O=OrgA, C=DE`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (attr, value) in self.rdns.iter().rev() {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}={}", attr.keyword(), display_value(value))?;
        }
        Ok(())
    }
}

impl std::str::FromStr for SubjectName {
    type Err = PkiError;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn exchange_example() {
        let dn = SubjectName::parse("C=DE,O=OrgA,CN=mail.orga.example").unwrap();
        assert_eq!(dn.to_string(), "CN=mail.orga.example, O=OrgA, C=DE");
        assert_eq!(dn.common_name(), Some("mail.orga.example"));
        // any order, spaces, case-insensitive keywords, S and ST
        let dn2 = SubjectName::parse("  cn = mail.orga.example , o=OrgA,  c = de ").unwrap();
        assert_eq!(dn, dn2);
        let full =
            SubjectName::parse("CN=x.example,OU=Mail,L=Berlin,S=Berlin,O=OrgA,C=DE,OU=IT").unwrap();
        assert_eq!(
            full.to_string(),
            "CN=x.example, OU=IT, OU=Mail, O=OrgA, L=Berlin, S=Berlin, C=DE"
        );
        let st = SubjectName::parse("ST=Bavaria,CN=a.example").unwrap();
        assert_eq!(st.get(DnAttr::St), Some("Bavaria"));
    }

    #[test]
    fn quoting_and_escaping() {
        let dn = SubjectName::parse(r#"O="OrgA, Inc.",CN=mail.orga.example"#).unwrap();
        assert_eq!(dn.get(DnAttr::O), Some("OrgA, Inc."));
        assert_eq!(dn.to_string(), r#"CN=mail.orga.example, O="OrgA, Inc.""#);
        let esc = SubjectName::parse(r"O=OrgA\, Inc.,CN=mail.orga.example").unwrap();
        assert_eq!(esc.get(DnAttr::O), Some("OrgA, Inc."));
        let q = SubjectName::parse(r#"O="Say ""hi"" \"now\"",CN=a.example"#).unwrap();
        assert_eq!(q.get(DnAttr::O), Some(r#"Say "hi" "now""#));
        // the display form parses back to the same name
        let b = SubjectName::parse(r#"O="back\\slash, ""q""",OU=\ lead,CN=a.example"#).unwrap();
        assert_eq!(b.get(DnAttr::O), Some(r#"back\slash, "q""#));
        assert_eq!(SubjectName::parse(&b.to_string()).unwrap(), b);
        assert_eq!(SubjectName::parse(&q.to_string()).unwrap(), q);
        // an escaped trailing space survives trimming
        let sp = SubjectName::parse(r"O=OrgA\ ,CN=a.example").unwrap();
        assert_eq!(sp.get(DnAttr::O), Some("OrgA "));
        // multiple OU and DC, written order kept
        let m = SubjectName::parse("DC=com,DC=example,OU=a,OU=b,CN=x").unwrap();
        let dcs: Vec<&str> = m
            .entries()
            .iter()
            .filter(|(a, _)| *a == DnAttr::Dc)
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(dcs, ["com", "example"]);
        assert_eq!(m.to_string(), "CN=x, OU=b, OU=a, DC=example, DC=com");
    }

    #[test]
    fn errors_name_the_bad_part() {
        let cases = [
            ("X=1,CN=a.example", "unknown attribute 'X'"),
            ("E=a@b.c,CN=a.example", "unknown attribute 'E'"),
            (
                "C=Germany,CN=a.example",
                "C must be a 2-letter country code",
            ),
            ("C=D1,CN=a.example", "C must be a 2-letter"),
            ("CN=", "CN has an empty value"),
            ("O=  ,CN=a", "O has an empty value"),
            ("CN=a,CN=b", "CN appears more than once"),
            ("CN=a,,O=b", "empty part"),
            ("CN=a,", "empty part"),
            ("", "SubjectName is empty"),
            ("mail.orga.example", "has no '='"),
            ("=x", "no attribute name"),
            (r#"O="unterminated,CN=a"#, "no closing"),
            (r#"O="a" b,CN=a"#, "unexpected 'b'"),
            (r"CN=a\", "lone '\\'"),
            ("DC=ex.ample,CN=a", "DC must be a single DNS label"),
            ("CN=a\u{0}b", "control character"),
        ];
        for (input, want) in cases {
            let e = SubjectName::parse(input).unwrap_err().to_string();
            assert!(e.contains(want), "{input:?}: got {e:?}, want {want:?}");
        }
        let long = format!("CN={}", "a".repeat(65));
        assert!(
            SubjectName::parse(&long)
                .unwrap_err()
                .to_string()
                .contains("longer than 64")
        );
    }

    #[test]
    fn no_cn_is_allowed() {
        let dn = SubjectName::parse("O=OrgA,C=DE").unwrap();
        assert_eq!(dn.common_name(), None);
    }

    #[test]
    fn der_encoding_matches_x509_parser() {
        let dn =
            SubjectName::parse(r#"C=DE,O="OrgA, Inc.",OU=a,OU=b,CN=mail.orga.example,DC=example"#)
                .unwrap();
        let der = dn.to_der();
        let (rest, name) =
            <x509_parser::x509::X509Name as x509_parser::prelude::FromDer<_>>::from_der(&der)
                .unwrap();
        assert!(rest.is_empty());
        assert_eq!(name.iter_organizational_unit().count(), 2);
        assert_eq!(
            name.iter_common_name().next().unwrap().as_str().unwrap(),
            "mail.orga.example"
        );
    }
}
