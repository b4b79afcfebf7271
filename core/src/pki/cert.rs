//! Reading certificates: what Get-ExchangeCertificate shows and what
//! validation and selection need.

use aws_lc_rs::digest;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

use super::der;
use super::dn::display_value;
use super::keys::{
    OID_EC_PUBLIC_KEY, OID_ED25519, OID_P256, OID_P384, OID_P521, OID_RSA_ENCRYPTION, oid_name,
};
use super::{PkiError, Result};

/// The facts about one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// SHA-1 of the DER certificate, 40 upper-case hex digits (as Windows shows it).
    pub thumbprint: String,
    /// Subject, Windows style: `CN=mail.orga.example, O=OrgA, C=DE`.
    pub subject: String,
    /// Issuer, same style.
    pub issuer: String,
    /// The subject's first common name, if any.
    pub subject_cn: Option<String>,
    /// Serial number as upper-case hex of the encoded bytes.
    pub serial_number: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// Subject alternative name DNS names, in certificate order, as written.
    pub dns_names: Vec<String>,
    /// Issuer equals subject and the signature verifies with the certificate's own key.
    pub is_self_signed: bool,
    /// basicConstraints cA is true.
    pub is_ca: bool,
    /// RSA modulus bits, or the EC curve size.
    pub public_key_size: u32,
    /// `RSA`, `ECDSA-P256`, `ECDSA-P384`, `ECDSA-P521`, `Ed25519` or the algorithm OID.
    pub key_algorithm: String,
    /// Usable as a TLS server certificate (EKU serverAuth, anyExtendedKeyUsage, or no EKU).
    pub has_server_auth: bool,
    /// Usable as a TLS client certificate (EKU clientAuth, anyExtendedKeyUsage, or no EKU).
    pub has_client_auth: bool,
    /// The extendedKeyUsage purposes, Windows style (`Server Authentication
    /// (1.3.6.1.5.5.7.3.1)`); `None` when the certificate has no such
    /// extension (any usage allowed).
    pub extended_key_usage: Option<Vec<String>>,
    /// keyUsage digitalSignature; `None` when the certificate has no
    /// keyUsage extension (any usage allowed).
    pub key_usage_digital_signature: Option<bool>,
    /// DER SubjectPublicKeyInfo: compare with a key's or a pending request's.
    pub spki_der: Vec<u8>,
    /// DER subject Name.
    pub subject_der: Vec<u8>,
    /// DER issuer Name.
    pub issuer_der: Vec<u8>,
}

impl CertInfo {
    /// Exchange's CertificateDomains: the SAN DNS names, plus the CN when it
    /// is not among them (case-insensitive).
    pub fn certificate_domains(&self) -> Vec<String> {
        let mut out = self.dns_names.clone();
        if let Some(cn) = &self.subject_cn
            && !out.iter().any(|n| n.eq_ignore_ascii_case(cn))
        {
            out.push(cn.clone());
        }
        out
    }

    /// Whether this certificate can be the TLS *client* certificate of
    /// Domain Security (mutual TLS): no extendedKeyUsage, or one that
    /// includes clientAuth (or anyExtendedKeyUsage); and no keyUsage, or
    /// one with digitalSignature (TLS client authentication signs the
    /// handshake). `Err` says what is missing.
    pub fn domain_security_client_auth(&self) -> std::result::Result<(), String> {
        if !self.has_client_auth {
            return Err(format!(
                "its extended key usage ({}) lacks Client Authentication (1.3.6.1.5.5.7.3.2): \
                 partners refuse it as a Domain Security client certificate",
                self.extended_key_usage
                    .as_deref()
                    .unwrap_or_default()
                    .join(", ")
            ));
        }
        if self.key_usage_digital_signature == Some(false) {
            return Err(
                "its key usage lacks Digital Signature: it cannot sign a TLS client handshake"
                    .to_string(),
            );
        }
        Ok(())
    }

    /// The `<I>issuer<S>subject` form used by TlsCertificateName.
    pub fn tls_certificate_name(&self) -> String {
        format!("<I>{}<S>{}", self.issuer, self.subject)
    }
}

/// SHA-1 thumbprint of a DER certificate, 40 upper-case hex digits.
pub fn thumbprint(cert_der: &[u8]) -> String {
    hex_upper(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, cert_der).as_ref())
}

pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02X}");
            s
        })
}

/// Accepts a thumbprint typed or pasted in any case, with spaces or colons
/// (and the invisible marks the Windows certificate dialog adds), and returns
/// 40 upper-case hex digits.
pub fn normalize_thumbprint(input: &str) -> Result<String> {
    let cleaned: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | ':' | '\t' | '\u{200e}' | '\u{200f}' | '\u{feff}'))
        .collect();
    if cleaned.len() == 40 && cleaned.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(cleaned.to_ascii_uppercase())
    } else {
        Err(PkiError::InvalidThumbprint(input.trim().to_string()))
    }
}

fn attr_keyword(atv: &AttributeTypeAndValue<'_>) -> String {
    let oid = atv.attr_type();
    let known: &[(&[u64], &str)] = &[
        (&[2, 5, 4, 3], "CN"),
        (&[2, 5, 4, 6], "C"),
        (&[2, 5, 4, 7], "L"),
        (&[2, 5, 4, 8], "S"),
        (&[2, 5, 4, 9], "STREET"),
        (&[2, 5, 4, 10], "O"),
        (&[2, 5, 4, 11], "OU"),
        (&[2, 5, 4, 12], "T"),
        (&[2, 5, 4, 4], "SN"),
        (&[2, 5, 4, 42], "G"),
        (&[2, 5, 4, 5], "SERIALNUMBER"),
        (&[0, 9, 2342, 19_200_300, 100, 1, 25], "DC"),
        (&[1, 2, 840, 113_549, 1, 9, 1], "E"),
    ];
    for (arcs, kw) in known {
        if oid.as_bytes() == der::oid_content(arcs).as_slice() {
            return (*kw).to_string();
        }
    }
    format!("OID.{}", oid_name(oid.as_bytes()))
}

fn attr_value(atv: &AttributeTypeAndValue<'_>) -> String {
    if let Ok(s) = atv.as_str() {
        return s.to_string();
    }
    let any = atv.attr_value();
    let data: &[u8] = any.data;
    // BMPString: UTF-16BE
    if any.header.tag().0 == 0x1e && data.len().is_multiple_of(2) {
        let units: Vec<u16> = data
            .chunks_exact(2)
            .map(|c| {
                u16::from_be_bytes([
                    c.first().copied().unwrap_or(0),
                    c.get(1).copied().unwrap_or(0),
                ])
            })
            .collect();
        if let Ok(s) = String::from_utf16(&units) {
            return s;
        }
    }
    format!("#{}", hex_upper(data))
}

/// Windows-style display of a Name: most specific first, `, ` between RDNs,
/// ` + ` inside a multi-valued RDN.
pub(crate) fn display_name(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| format!("{}={}", attr_keyword(atv), display_value(&attr_value(atv))))
                .collect::<Vec<_>>()
                .join(" + ")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(", ")
}

pub(crate) fn first_cn(name: &X509Name<'_>) -> Option<String> {
    name.iter_common_name().next().map(attr_value)
}

/// Algorithm name and public key size from a DER SubjectPublicKeyInfo.
pub(crate) fn spki_algorithm(spki_der: &[u8]) -> (String, u32) {
    let parse = || -> Option<(String, u32)> {
        let (spki, _) = der::expect(spki_der, der::TAG_SEQUENCE).ok()?;
        let (alg, rest) = der::expect(spki.content, der::TAG_SEQUENCE).ok()?;
        let (oid, params) = der::expect(alg.content, der::TAG_OID).ok()?;
        let (bits, _) = der::expect(rest, der::TAG_BIT_STRING).ok()?;
        let key = bits.content.get(1..)?;
        if oid.content == der::oid_content(OID_RSA_ENCRYPTION).as_slice() {
            let (rsa, _) = der::expect(key, der::TAG_SEQUENCE).ok()?;
            let (modulus, _) = der::expect(rsa.content, der::TAG_INTEGER).ok()?;
            let m: &[u8] = {
                let skip = modulus.content.iter().take_while(|&&b| b == 0).count();
                modulus.content.get(skip..)?
            };
            let top = m.first()?;
            let bits = (m.len() as u32 - 1) * 8 + (8 - top.leading_zeros());
            return Some(("RSA".to_string(), bits));
        }
        if oid.content == der::oid_content(OID_EC_PUBLIC_KEY).as_slice() {
            let (curve, _) = der::expect(params, der::TAG_OID).ok()?;
            for (arcs, name, bits) in [
                (OID_P256, "ECDSA-P256", 256),
                (OID_P384, "ECDSA-P384", 384),
                (OID_P521, "ECDSA-P521", 521),
            ] {
                if curve.content == der::oid_content(arcs).as_slice() {
                    return Some((name.to_string(), bits));
                }
            }
            return Some((format!("EC-{}", oid_name(curve.content)), 0));
        }
        if oid.content == der::oid_content(OID_ED25519).as_slice() {
            return Some(("Ed25519".to_string(), 256));
        }
        Some((oid_name(oid.content), (key.len() * 8) as u32))
    };
    parse().unwrap_or_else(|| ("Unknown".to_string(), 0))
}

pub(crate) fn parse_x509(cert_der: &[u8]) -> Result<X509Certificate<'_>> {
    let (_rest, cert) = X509Certificate::from_der(cert_der)
        .map_err(|e| PkiError::InvalidCertificate(e.to_string()))?;
    Ok(cert)
}

/// True when the certificate names itself as issuer and its signature
/// verifies with its own public key.
pub(crate) fn self_signed(cert: &X509Certificate<'_>) -> bool {
    cert.subject().as_raw() == cert.issuer().as_raw() && cert.verify_signature(None).is_ok()
}

/// Parses a DER certificate.
pub fn parse_certificate(cert_der: &[u8]) -> Result<CertInfo> {
    let cert = parse_x509(cert_der)?;
    let bad = |what: &str, e: x509_parser::error::X509Error| {
        PkiError::InvalidCertificate(format!("{what}: {e}"))
    };
    let mut dns_names = Vec::new();
    if let Some(san) = cert
        .subject_alternative_name()
        .map_err(|e| bad("subjectAltName", e))?
    {
        for gn in &san.value.general_names {
            if let GeneralName::DNSName(n) = gn {
                dns_names.push((*n).to_string());
            }
        }
    }
    let (has_server_auth, has_client_auth, extended_key_usage) = match cert
        .extended_key_usage()
        .map_err(|e| bad("extendedKeyUsage", e))?
    {
        None => (true, true, None),
        Some(eku) => {
            let e = eku.value;
            (
                e.any || e.server_auth,
                e.any || e.client_auth,
                Some(eku_names(e)),
            )
        }
    };
    let key_usage_digital_signature = cert
        .key_usage()
        .map_err(|e| bad("keyUsage", e))?
        .map(|ku| ku.value.digital_signature());
    let is_ca = cert
        .basic_constraints()
        .map_err(|e| bad("basicConstraints", e))?
        .is_some_and(|bc| bc.value.ca);
    let spki_der = cert.public_key().raw.to_vec();
    let (key_algorithm, public_key_size) = spki_algorithm(&spki_der);
    let validity = cert.validity();
    Ok(CertInfo {
        thumbprint: thumbprint(cert_der),
        subject: display_name(cert.subject()),
        issuer: display_name(cert.issuer()),
        subject_cn: first_cn(cert.subject()),
        serial_number: hex_upper(cert.raw_serial()),
        not_before: validity.not_before.to_datetime(),
        not_after: validity.not_after.to_datetime(),
        dns_names,
        is_self_signed: self_signed(&cert),
        is_ca,
        public_key_size,
        key_algorithm,
        has_server_auth,
        has_client_auth,
        extended_key_usage,
        key_usage_digital_signature,
        spki_der,
        subject_der: cert.subject().as_raw().to_vec(),
        issuer_der: cert.issuer().as_raw().to_vec(),
    })
}

/// The EKU purposes as Windows lists them (EnhancedKeyUsageList).
fn eku_names(e: &x509_parser::extensions::ExtendedKeyUsage<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for (set, name, oid) in [
        (e.server_auth, "Server Authentication", "1.3.6.1.5.5.7.3.1"),
        (e.client_auth, "Client Authentication", "1.3.6.1.5.5.7.3.2"),
        (e.code_signing, "Code Signing", "1.3.6.1.5.5.7.3.3"),
        (e.email_protection, "Secure Email", "1.3.6.1.5.5.7.3.4"),
        (e.time_stamping, "Time Stamping", "1.3.6.1.5.5.7.3.8"),
        (e.ocsp_signing, "OCSP Signing", "1.3.6.1.5.5.7.3.9"),
        (e.any, "Any Purpose", "2.5.29.37.0"),
    ] {
        if set {
            out.push(format!("{name} ({oid})"));
        }
    }
    out.extend(e.other.iter().map(|o| o.to_id_string()));
    out
}

/// The public key of a DER SubjectPublicKeyInfo (the BIT STRING content):
/// two SPKIs hold the same key when these and their algorithm OIDs agree,
/// even if one encodes absent parameters differently.
pub(crate) fn same_public_key(a: &[u8], b: &[u8]) -> bool {
    fn parts(spki: &[u8]) -> Option<(&[u8], &[u8])> {
        let (s, _) = der::expect(spki, der::TAG_SEQUENCE).ok()?;
        let (alg, rest) = der::expect(s.content, der::TAG_SEQUENCE).ok()?;
        let (oid, _) = der::expect(alg.content, der::TAG_OID).ok()?;
        let (bits, _) = der::expect(rest, der::TAG_BIT_STRING).ok()?;
        Some((oid.content, bits.content))
    }
    match (parts(a), parts(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_normalize() {
        let t = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
        assert_eq!(normalize_thumbprint(t).unwrap(), t.to_ascii_uppercase());
        let spaced = "a1 b2 c3 d4 e5 f6 07 18 29 3a 4b 5c 6d 7e 8f 90 12 34 56 78";
        assert_eq!(
            normalize_thumbprint(spaced).unwrap(),
            t.to_ascii_uppercase()
        );
        let colons = "A1:B2:C3:D4:E5:F6:07:18:29:3A:4B:5C:6D:7E:8F:90:12:34:56:78";
        assert_eq!(
            normalize_thumbprint(colons).unwrap(),
            t.to_ascii_uppercase()
        );
        let lrm = format!("\u{200e}{t}");
        assert_eq!(normalize_thumbprint(&lrm).unwrap(), t.to_ascii_uppercase());
        for bad in [
            "",
            "abc",
            &t[..39],
            &format!("{t}0"),
            "g1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
        ] {
            assert!(
                matches!(
                    normalize_thumbprint(bad),
                    Err(PkiError::InvalidThumbprint(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn thumbprint_is_sha1_upper() {
        // SHA-1("abc")
        assert_eq!(
            thumbprint(b"abc"),
            "A9993E364706816ABA3E25717850C26C9CD0D89D"
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_certificate(b"").is_err());
        assert!(parse_certificate(b"\x30\x82\xff\xff").is_err());
        assert!(parse_certificate(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
    }
}
