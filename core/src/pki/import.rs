//! Import-ExchangeCertificate: read a PKCS#12 (.pfx/.p12), PKCS#7 (.p7b/.p7c),
//! PEM or DER file into a key (if any), the leaf certificate and its chain.

use p12_keystore::Pkcs12Archive;
use p12_keystore::error::Error as P12Error;

use super::cert::{parse_x509, same_public_key};
use super::der::{self, DerError};
use super::keys::PrivateKey;
use super::request::parse_request;
use super::{PkiError, Result};

const OID_SIGNED_DATA: &[u64] = &[1, 2, 840, 113_549, 1, 7, 2];

/// The container a file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    Pkcs12,
    Pkcs7,
    Pem,
    Der,
}

/// The result of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The private key (PKCS#8), when the file had one; it matches `leaf`.
    pub key: Option<PrivateKey>,
    /// The leaf certificate (DER): the one matching the key, else the one
    /// that issued none of the others.
    pub leaf: Vec<u8>,
    /// The other certificates (DER), issuer of the leaf first where the
    /// chain can be followed.
    pub chain: Vec<Vec<u8>>,
    /// What the file was.
    pub format: ImportFormat,
}

/// Reads a certificate file.
///
/// `password` is used for PKCS#12 only; `None` tries an empty password and
/// reports [`PkiError::PasswordRequired`] if that fails.
pub fn import_bytes(data: &[u8], password: Option<&str>) -> Result<Imported> {
    if data.windows(11).any(|w| w == b"-----BEGIN ") {
        return import_pem(data);
    }
    let start = data
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(data.len());
    let data = data.get(start..).unwrap_or_default();
    match classify_der(data)? {
        DerKind::Pkcs12 => import_pkcs12(data, password),
        DerKind::Pkcs7 => {
            let certs = pkcs7_certs(data)?;
            assemble(None, certs, ImportFormat::Pkcs7)
        }
        DerKind::Certificate => {
            let outer = der::read_tlv(data)
                .map_err(|_| PkiError::UnrecognizedFormat)?
                .0;
            if parse_x509(outer.raw).is_err() && parse_request(outer.raw).is_ok() {
                return Err(PkiError::IsRequest);
            }
            parse_x509(outer.raw)?;
            assemble(None, vec![outer.raw.to_vec()], ImportFormat::Der)
        }
        DerKind::PrivateKey => Err(PkiError::KeyWithoutCertificate),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DerKind {
    Pkcs12,
    Pkcs7,
    Certificate,
    PrivateKey,
}

/// Looks at the first bytes of a DER file to tell what it is, and whether it
/// was cut short.
fn classify_der(data: &[u8]) -> Result<DerKind> {
    let (tag, hlen, clen) = der::read_header(data).map_err(|_| PkiError::UnrecognizedFormat)?;
    if tag != der::TAG_SEQUENCE {
        return Err(PkiError::UnrecognizedFormat);
    }
    let available = data.get(hlen..).unwrap_or_default();
    let content = available.get(..clen).unwrap_or(available);
    let truncated = available.len() < clen;
    let (inner_tag, inner_hlen, _) =
        der::read_header(content).map_err(|_| PkiError::UnrecognizedFormat)?;
    let inner_content = content.get(inner_hlen..).unwrap_or_default();
    let kind = match inner_tag {
        der::TAG_INTEGER => {
            if inner_content.first() == Some(&3) {
                DerKind::Pkcs12
            } else if !truncated && looks_like_key(data) {
                DerKind::PrivateKey
            } else {
                return Err(PkiError::UnrecognizedFormat);
            }
        }
        der::TAG_OID => {
            let oid = der::oid_content(OID_SIGNED_DATA);
            if inner_content.starts_with(&oid) {
                DerKind::Pkcs7
            } else {
                return Err(PkiError::UnrecognizedFormat);
            }
        }
        der::TAG_SEQUENCE => DerKind::Certificate,
        _ => return Err(PkiError::UnrecognizedFormat),
    };
    if truncated {
        return Err(PkiError::Truncated(match kind {
            DerKind::Pkcs12 => "PKCS#12 (PFX)",
            DerKind::Pkcs7 => "PKCS#7",
            _ => "DER certificate",
        }));
    }
    Ok(kind)
}

fn looks_like_key(data: &[u8]) -> bool {
    PrivateKey::from_pkcs8_der(data).is_ok()
        || PrivateKey::from_pkcs1_der(data).is_ok()
        || PrivateKey::from_sec1_der(data).is_ok()
}

fn map_p12_error(e: P12Error, password_given: bool) -> PkiError {
    match e {
        P12Error::MacError(_) | P12Error::UnpadError => {
            if password_given {
                PkiError::WrongPassword
            } else {
                PkiError::PasswordRequired
            }
        }
        P12Error::DerError(_) | P12Error::InvalidLength | P12Error::InvalidData => {
            PkiError::Pkcs12("the file is damaged (invalid structure)".to_string())
        }
        P12Error::UnsupportedEncryptionScheme | P12Error::UnsupportedMacAlgorithm => {
            PkiError::Pkcs12(format!("{e}; re-export it with AES-256 or 3DES"))
        }
        P12Error::InvalidPrivateKey => PkiError::InvalidKey("the key in the PFX file".to_string()),
        other => PkiError::Pkcs12(other.to_string()),
    }
}

fn import_pkcs12(data: &[u8], password: Option<&str>) -> Result<Imported> {
    let archive = Pkcs12Archive::from_pkcs12(data, password.unwrap_or(""))
        .map_err(|e| map_p12_error(e, password.is_some()))?;
    let mut key = None;
    for bag in &archive.keys {
        if key.is_some() {
            return Err(PkiError::MultipleKeys);
        }
        key = Some(PrivateKey::from_pkcs8_der(bag.key.as_der())?);
    }
    let certs = archive
        .certs
        .iter()
        .map(|b| b.cert.as_der().to_vec())
        .collect();
    assemble(key, certs, ImportFormat::Pkcs12)
}

fn p7_err(e: DerError) -> PkiError {
    match e {
        DerError::Truncated => PkiError::Truncated("PKCS#7"),
        DerError::Invalid => PkiError::Pkcs7("invalid structure".to_string()),
    }
}

/// The certificates of a PKCS#7 SignedData ("certs-only" .p7b).
pub(crate) fn pkcs7_certs(data: &[u8]) -> Result<Vec<Vec<u8>>> {
    let (ci, _) = der::expect(data, der::TAG_SEQUENCE).map_err(p7_err)?;
    let (oid, rest) = der::expect(ci.content, der::TAG_OID).map_err(p7_err)?;
    if oid.content != der::oid_content(OID_SIGNED_DATA).as_slice() {
        return Err(PkiError::Pkcs7(
            "not a SignedData certificate bag".to_string(),
        ));
    }
    let (explicit, _) = der::expect(rest, 0xa0).map_err(p7_err)?;
    let (sd, _) = der::expect(explicit.content, der::TAG_SEQUENCE).map_err(p7_err)?;
    let mut certs = Vec::new();
    for item in der::children(sd.content).map_err(p7_err)? {
        if item.tag == 0xa0 {
            for c in der::children(item.content).map_err(p7_err)? {
                if c.tag == der::TAG_SEQUENCE {
                    certs.push(c.raw.to_vec());
                }
            }
        }
    }
    Ok(certs)
}

fn import_pem(data: &[u8]) -> Result<Imported> {
    let blocks = pem::parse_many(data).map_err(|e| PkiError::Pem(e.to_string()))?;
    let mut key: Option<PrivateKey> = None;
    let mut certs = Vec::new();
    let mut saw_request = false;
    for block in &blocks {
        if let Some(k) = PrivateKey::from_pem_block(block)? {
            if key.is_some() {
                return Err(PkiError::MultipleKeys);
            }
            key = Some(k);
            continue;
        }
        match block.tag() {
            "CERTIFICATE" | "X509 CERTIFICATE" => certs.push(block.contents().to_vec()),
            "PKCS7" | "CERTIFICATE CHAIN" => certs.extend(pkcs7_certs(block.contents())?),
            "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => saw_request = true,
            _ => {}
        }
    }
    if certs.is_empty() && key.is_none() && saw_request {
        return Err(PkiError::IsRequest);
    }
    if blocks.is_empty() {
        return Err(PkiError::UnrecognizedFormat);
    }
    assemble(key, certs, ImportFormat::Pem)
}

/// Picks the leaf, orders the chain and checks the key against the leaf.
fn assemble(
    key: Option<PrivateKey>,
    certs: Vec<Vec<u8>>,
    format: ImportFormat,
) -> Result<Imported> {
    let mut unique: Vec<Vec<u8>> = Vec::new();
    for c in certs {
        if !unique.contains(&c) {
            unique.push(c);
        }
    }
    if unique.is_empty() {
        return Err(if key.is_some() {
            PkiError::KeyWithoutCertificate
        } else {
            PkiError::NoCertificate
        });
    }
    struct Parsed {
        subject: Vec<u8>,
        issuer: Vec<u8>,
        spki: Vec<u8>,
        is_ca: bool,
    }
    let mut parsed = Vec::with_capacity(unique.len());
    for c in &unique {
        let x = parse_x509(c)?;
        parsed.push(Parsed {
            subject: x.subject().as_raw().to_vec(),
            issuer: x.issuer().as_raw().to_vec(),
            spki: x.public_key().raw.to_vec(),
            is_ca: x.is_ca(),
        });
    }
    let leaf_idx = match &key {
        Some(k) => {
            let spki = k.spki_der()?;
            parsed
                .iter()
                .position(|p| same_public_key(&p.spki, &spki))
                .ok_or(PkiError::KeyMismatch)?
        }
        None => {
            let issues_another = |i: usize| {
                parsed.iter().enumerate().any(|(j, other)| {
                    j != i && other.issuer == parsed[i].subject && other.subject != other.issuer
                })
            };
            let candidates: Vec<usize> =
                (0..parsed.len()).filter(|&i| !issues_another(i)).collect();
            candidates
                .iter()
                .copied()
                .find(|&i| !parsed[i].is_ca)
                .or_else(|| candidates.first().copied())
                .unwrap_or(0)
        }
    };
    // follow issuers from the leaf
    let mut order = vec![leaf_idx];
    let mut current = leaf_idx;
    while let Some(next) = (0..parsed.len()).find(|&j| {
        !order.contains(&j)
            && parsed[j].subject == parsed[current].issuer
            && parsed[current].subject != parsed[current].issuer
    }) {
        order.push(next);
        current = next;
    }
    for j in 0..parsed.len() {
        if !order.contains(&j) {
            order.push(j);
        }
    }
    let mut certs_in_order = order.into_iter().filter_map(|i| unique.get(i).cloned());
    let leaf = certs_in_order.next().ok_or(PkiError::NoCertificate)?;
    Ok(Imported {
        key,
        leaf,
        chain: certs_in_order.collect(),
        format,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_truncation() {
        for junk in [
            &b""[..],
            b"hello world",
            b"\x00\x01\x02",
            b"\x30",
            b"\x30\x80\x00\x00",
            b"\x04\x02ab",
        ] {
            assert!(
                matches!(
                    import_bytes(junk, None),
                    Err(PkiError::UnrecognizedFormat | PkiError::Truncated(_))
                ),
                "{junk:?}"
            );
        }
        assert_eq!(
            import_bytes(b"\x30\x82\x10\x00\x02\x01\x03\x30", Some("x")).unwrap_err(),
            PkiError::Truncated("PKCS#12 (PFX)")
        );
        assert_eq!(
            import_bytes(b"\x30\x82\x10\x00\x30\x82\x0f\x00\x30", None).unwrap_err(),
            PkiError::Truncated("DER certificate")
        );
        assert!(matches!(
            import_bytes(
                b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
                None
            ),
            Err(PkiError::Pem(_))
        ));
        assert_eq!(
            import_bytes(b"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n", None).unwrap_err(),
            PkiError::NoCertificate
        );
    }

    #[test]
    fn key_only_is_refused() {
        let k = crate::pki::keys::generate(crate::pki::keys::KeyAlgorithm::EcdsaP256).unwrap();
        let pem = k.to_pem();
        assert_eq!(
            import_bytes(pem.as_bytes(), None).unwrap_err(),
            PkiError::KeyWithoutCertificate
        );
        assert_eq!(
            import_bytes(k.pkcs8_der(), None).unwrap_err(),
            PkiError::KeyWithoutCertificate
        );
    }
}
