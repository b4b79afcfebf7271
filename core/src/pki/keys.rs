//! Key algorithms, key generation and the [`PrivateKey`] type (PKCS#8 DER).

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm, KeyPair as _, RSA_PKCS1_SHA256,
};
use zeroize::Zeroizing;

use super::der;
use super::{PkiError, Result};

pub(crate) const OID_RSA_ENCRYPTION: &[u64] = &[1, 2, 840, 113_549, 1, 1, 1];
pub(crate) const OID_EC_PUBLIC_KEY: &[u64] = &[1, 2, 840, 10_045, 2, 1];
pub(crate) const OID_P256: &[u64] = &[1, 2, 840, 10_045, 3, 1, 7];
pub(crate) const OID_P384: &[u64] = &[1, 3, 132, 0, 34];
pub(crate) const OID_P521: &[u64] = &[1, 3, 132, 0, 35];
pub(crate) const OID_ED25519: &[u64] = &[1, 3, 101, 112];
const OID_SHA256_WITH_RSA: &[u64] = &[1, 2, 840, 113_549, 1, 1, 11];
const OID_ECDSA_SHA256: &[u64] = &[1, 2, 840, 10_045, 4, 3, 2];
const OID_ECDSA_SHA384: &[u64] = &[1, 2, 840, 10_045, 4, 3, 3];

/// A key algorithm and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// RSA with the modulus size in bits. Only 2048, 3072 and 4096 can be
    /// generated; imported keys report their actual size.
    Rsa(u32),
    /// ECDSA on NIST P-256.
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
}

impl Default for KeyAlgorithm {
    /// RSA 2048, the Exchange default.
    fn default() -> Self {
        Self::Rsa(2048)
    }
}

impl KeyAlgorithm {
    /// Combines the `-KeyAlgorithm` and `-KeySize` parameters.
    ///
    /// `algorithm`: `RSA` (default), `ECDSA-P256` or `ECDSA-P384`
    /// (case-insensitive; `P256`, `ECDSA_P256` and `ECDSAP256` are also accepted).
    /// `key_size`: for RSA 2048 (default), 3072 or 4096; for ECDSA it may be
    /// omitted or equal the curve size.
    pub fn from_params(algorithm: Option<&str>, key_size: Option<u32>) -> Result<Self> {
        let alg = match algorithm.map(str::trim) {
            None | Some("") => "RSA".to_string(),
            Some(a) => a.to_ascii_uppercase().replace(['_', ' '], "-"),
        };
        match alg.as_str() {
            "RSA" => {
                let bits = key_size.unwrap_or(2048);
                Self::rsa(bits)
            }
            "ECDSA-P256" | "ECDSAP256" | "P256" | "P-256" | "ECDSA-P-256" => {
                check_ec_size(key_size, 256, "ECDSA-P256")?;
                Ok(Self::EcdsaP256)
            }
            "ECDSA-P384" | "ECDSAP384" | "P384" | "P-384" | "ECDSA-P-384" => {
                check_ec_size(key_size, 384, "ECDSA-P384")?;
                Ok(Self::EcdsaP384)
            }
            _ => Err(PkiError::UnknownKeyAlgorithm(
                algorithm.unwrap_or_default().to_string(),
            )),
        }
    }

    /// An RSA algorithm of a size that may be generated.
    pub fn rsa(bits: u32) -> Result<Self> {
        match bits {
            2048 | 3072 | 4096 => Ok(Self::Rsa(bits)),
            1024 => Err(PkiError::UnsupportedKeySize(
                "RSA 1024-bit keys are refused as insecure: use KeySize 2048 (default), 3072 or 4096"
                    .to_string(),
            )),
            other => Err(PkiError::UnsupportedKeySize(format!(
                "RSA key size {other} is not supported: use 2048 (default), 3072 or 4096"
            ))),
        }
    }

    /// The public key size in bits (RSA modulus, or the curve size).
    pub fn bits(self) -> u32 {
        match self {
            Self::Rsa(b) => b,
            Self::EcdsaP256 => 256,
            Self::EcdsaP384 => 384,
        }
    }

    /// `RSA`, `ECDSA-P256` or `ECDSA-P384`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rsa(_) => "RSA",
            Self::EcdsaP256 => "ECDSA-P256",
            Self::EcdsaP384 => "ECDSA-P384",
        }
    }

    /// DER AlgorithmIdentifier of the signature this key makes
    /// (sha256WithRSAEncryption, ecdsa-with-SHA256 or ecdsa-with-SHA384).
    pub(crate) fn signature_algorithm_der(self) -> Vec<u8> {
        match self {
            Self::Rsa(_) => der::seq(&[&der::oid(OID_SHA256_WITH_RSA), &der::null()]),
            Self::EcdsaP256 => der::seq(&[&der::oid(OID_ECDSA_SHA256)]),
            Self::EcdsaP384 => der::seq(&[&der::oid(OID_ECDSA_SHA384)]),
        }
    }
}

fn check_ec_size(key_size: Option<u32>, want: u32, name: &str) -> Result<()> {
    match key_size {
        None => Ok(()),
        Some(s) if s == want => Ok(()),
        Some(s) => Err(PkiError::UnsupportedKeySize(format!(
            "KeySize {s} does not apply to {name} (its size is {want}); KeySize chooses the RSA modulus size"
        ))),
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rsa(b) => write!(f, "RSA-{b}"),
            other => f.write_str(other.name()),
        }
    }
}

impl std::str::FromStr for KeyAlgorithm {
    type Err = PkiError;
    /// Parses `RSA` (2048), `RSA-3072`, `ECDSA-P256`, `ECDSA-P384`.
    fn from_str(s: &str) -> Result<Self> {
        let up = s.trim().to_ascii_uppercase();
        if let Some(bits) = up.strip_prefix("RSA-").or_else(|| up.strip_prefix("RSA")) {
            if bits.is_empty() {
                return Self::rsa(2048);
            }
            return match bits.parse::<u32>() {
                Ok(b) => Self::rsa(b),
                Err(_) => Err(PkiError::UnknownKeyAlgorithm(s.to_string())),
            };
        }
        Self::from_params(Some(s), None)
    }
}

fn ec_signing(alg: KeyAlgorithm) -> Option<&'static EcdsaSigningAlgorithm> {
    match alg {
        KeyAlgorithm::EcdsaP256 => Some(&ECDSA_P256_SHA256_ASN1_SIGNING),
        KeyAlgorithm::EcdsaP384 => Some(&ECDSA_P384_SHA384_ASN1_SIGNING),
        KeyAlgorithm::Rsa(_) => None,
    }
}

fn crypto(e: impl fmt::Display) -> PkiError {
    PkiError::Crypto(e.to_string())
}

/// A private key held as PKCS#8 DER. The bytes are wiped from memory when the
/// value is dropped, and `Debug` never prints them.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey {
    pkcs8: Zeroizing<Vec<u8>>,
    alg: KeyAlgorithm,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Generates a new key pair.
///
/// RSA sizes other than 2048, 3072 and 4096 are refused.
pub fn generate(alg: KeyAlgorithm) -> Result<PrivateKey> {
    match alg {
        KeyAlgorithm::Rsa(bits) => {
            let size = match KeyAlgorithm::rsa(bits)? {
                KeyAlgorithm::Rsa(3072) => KeySize::Rsa3072,
                KeyAlgorithm::Rsa(4096) => KeySize::Rsa4096,
                _ => KeySize::Rsa2048,
            };
            let kp = RsaKeyPair::generate(size).map_err(crypto)?;
            let doc: Pkcs8V1Der<'static> = kp.as_der().map_err(crypto)?;
            PrivateKey::from_pkcs8_der(doc.as_ref())
        }
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
            let signing = ec_signing(alg).ok_or_else(|| crypto("no curve"))?;
            let kp = EcdsaKeyPair::generate(signing).map_err(crypto)?;
            let doc = kp.to_pkcs8v1().map_err(crypto)?;
            PrivateKey::from_pkcs8_der(doc.as_ref())
        }
    }
}

/// Reads the algorithm OID and curve from a PKCS#8 PrivateKeyInfo.
fn pkcs8_algorithm(der_bytes: &[u8]) -> Result<(Vec<u8>, Option<Vec<u8>>)> {
    let bad = || PkiError::InvalidKey("not a PKCS#8 private key".to_string());
    let (outer, _) = der::expect(der_bytes, der::TAG_SEQUENCE).map_err(|_| bad())?;
    let (_version, rest) = der::expect(outer.content, der::TAG_INTEGER).map_err(|_| bad())?;
    let (alg, _) = der::expect(rest, der::TAG_SEQUENCE).map_err(|_| bad())?;
    let (oid, params) = der::expect(alg.content, der::TAG_OID).map_err(|_| bad())?;
    let curve = der::expect(params, der::TAG_OID)
        .ok()
        .map(|(t, _)| t.content.to_vec());
    Ok((oid.content.to_vec(), curve))
}

pub(crate) fn oid_name(content: &[u8]) -> String {
    let known: &[(&[u64], &str)] = &[
        (OID_RSA_ENCRYPTION, "RSA"),
        (OID_EC_PUBLIC_KEY, "EC"),
        (OID_P256, "P-256"),
        (OID_P384, "P-384"),
        (OID_P521, "P-521"),
        (OID_ED25519, "Ed25519"),
        (&[1, 3, 101, 113], "Ed448"),
        (&[1, 2, 840, 10_040, 4, 1], "DSA"),
        (&[1, 2, 840, 113_549, 1, 1, 10], "RSASSA-PSS"),
    ];
    for (arcs, name) in known {
        if der::oid_content(arcs) == content {
            return (*name).to_string();
        }
    }
    // dotted form
    let mut arcs: Vec<u64> = Vec::new();
    let mut cur: u64 = 0;
    for &b in content {
        cur = (cur << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (cur / 40).min(2);
                arcs.push(first);
                arcs.push(cur - first * 40);
            } else {
                arcs.push(cur);
            }
            cur = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

impl PrivateKey {
    /// Reads a PKCS#8 (v1 or v2) DER private key: RSA, or ECDSA P-256/P-384.
    pub fn from_pkcs8_der(der_bytes: &[u8]) -> Result<Self> {
        let (oid, curve) = pkcs8_algorithm(der_bytes)?;
        let alg = if oid == der::oid_content(OID_RSA_ENCRYPTION) {
            let kp = RsaKeyPair::from_pkcs8(der_bytes)
                .map_err(|e| PkiError::InvalidKey(format!("RSA key rejected: {e}")))?;
            let bits = u32::try_from(kp.public_modulus_len() * 8).unwrap_or(0);
            KeyAlgorithm::Rsa(bits)
        } else if oid == der::oid_content(OID_EC_PUBLIC_KEY) {
            let curve = curve.unwrap_or_default();
            let alg = if curve == der::oid_content(OID_P256) {
                KeyAlgorithm::EcdsaP256
            } else if curve == der::oid_content(OID_P384) {
                KeyAlgorithm::EcdsaP384
            } else {
                return Err(PkiError::UnsupportedKeyAlgorithm(format!(
                    "EC on curve {}",
                    oid_name(&curve)
                )));
            };
            let signing = ec_signing(alg).ok_or_else(|| crypto("no curve"))?;
            EcdsaKeyPair::from_pkcs8(signing, der_bytes)
                .map_err(|e| PkiError::InvalidKey(format!("EC key rejected: {e}")))?;
            alg
        } else {
            return Err(PkiError::UnsupportedKeyAlgorithm(oid_name(&oid)));
        };
        Ok(Self {
            pkcs8: Zeroizing::new(der_bytes.to_vec()),
            alg,
        })
    }

    /// Reads a PKCS#1 `RSAPrivateKey` (PEM "RSA PRIVATE KEY") and converts it to PKCS#8.
    pub fn from_pkcs1_der(der_bytes: &[u8]) -> Result<Self> {
        let kp = RsaKeyPair::from_der(der_bytes)
            .map_err(|e| PkiError::InvalidKey(format!("RSA key rejected: {e}")))?;
        let doc: Pkcs8V1Der<'static> = kp.as_der().map_err(crypto)?;
        Self::from_pkcs8_der(doc.as_ref())
    }

    /// Reads a SEC1 `ECPrivateKey` (PEM "EC PRIVATE KEY") and converts it to PKCS#8.
    pub fn from_sec1_der(der_bytes: &[u8]) -> Result<Self> {
        for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384] {
            let signing = ec_signing(alg).ok_or_else(|| crypto("no curve"))?;
            if let Ok(kp) = EcdsaKeyPair::from_private_key_der(signing, der_bytes) {
                let doc = kp.to_pkcs8v1().map_err(crypto)?;
                return Self::from_pkcs8_der(doc.as_ref());
            }
        }
        Err(PkiError::InvalidKey(
            "not an ECDSA P-256 or P-384 key (EC PRIVATE KEY)".to_string(),
        ))
    }

    /// Reads a PEM private key: "PRIVATE KEY" (PKCS#8), "RSA PRIVATE KEY"
    /// (PKCS#1) or "EC PRIVATE KEY" (SEC1). Encrypted keys are refused.
    pub fn from_pem(text: &str) -> Result<Self> {
        let blocks = pem::parse_many(text).map_err(|e| PkiError::Pem(e.to_string()))?;
        let mut found = None;
        for block in &blocks {
            if let Some(key) = Self::from_pem_block(block)? {
                if found.is_some() {
                    return Err(PkiError::MultipleKeys);
                }
                found = Some(key);
            }
        }
        found
            .ok_or_else(|| PkiError::InvalidKey("no PRIVATE KEY block in the PEM text".to_string()))
    }

    /// Reads one PEM block if it is a private key; `Ok(None)` for other blocks.
    pub(crate) fn from_pem_block(block: &pem::Pem) -> Result<Option<Self>> {
        let encrypted = block
            .headers()
            .get("Proc-Type")
            .is_some_and(|v| v.contains("ENCRYPTED"));
        match block.tag() {
            "ENCRYPTED PRIVATE KEY" => Err(PkiError::EncryptedPemKey),
            _ if encrypted => Err(PkiError::EncryptedPemKey),
            "PRIVATE KEY" => Self::from_pkcs8_der(block.contents()).map(Some),
            "RSA PRIVATE KEY" => Self::from_pkcs1_der(block.contents()).map(Some),
            "EC PRIVATE KEY" => Self::from_sec1_der(block.contents()).map(Some),
            _ => Ok(None),
        }
    }

    /// The PKCS#8 DER bytes (what the store keeps).
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// PEM "PRIVATE KEY" (PKCS#8); wiped from memory when dropped.
    pub fn to_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(super::pem_encode("PRIVATE KEY", &self.pkcs8))
    }

    /// The key's algorithm and size.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.alg
    }

    /// The DER SubjectPublicKeyInfo of the public half, as it appears in
    /// certificates and requests.
    pub fn spki_der(&self) -> Result<Vec<u8>> {
        match self.alg {
            KeyAlgorithm::Rsa(_) => {
                let kp = RsaKeyPair::from_pkcs8(&self.pkcs8).map_err(crypto)?;
                let d = kp.public_key().as_der().map_err(crypto)?;
                Ok(d.as_ref().to_vec())
            }
            alg => {
                let signing = ec_signing(alg).ok_or_else(|| crypto("no curve"))?;
                let kp = EcdsaKeyPair::from_pkcs8(signing, &self.pkcs8).map_err(crypto)?;
                let d = kp.public_key().as_der().map_err(crypto)?;
                Ok(d.as_ref().to_vec())
            }
        }
    }

    /// Signs `msg`: RSA PKCS#1 v1.5 with SHA-256, ECDSA with SHA-256 (P-256)
    /// or SHA-384 (P-384), DER-encoded signature.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let rng = SystemRandom::new();
        match self.alg {
            KeyAlgorithm::Rsa(_) => {
                let kp = RsaKeyPair::from_pkcs8(&self.pkcs8).map_err(crypto)?;
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&RSA_PKCS1_SHA256, &rng, msg, &mut sig)
                    .map_err(crypto)?;
                Ok(sig)
            }
            alg => {
                let signing = ec_signing(alg).ok_or_else(|| crypto("no curve"))?;
                let kp = EcdsaKeyPair::from_pkcs8(signing, &self.pkcs8).map_err(crypto)?;
                let sig = kp.sign(&rng, msg).map_err(crypto)?;
                Ok(sig.as_ref().to_vec())
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_user_strings() {
        assert_eq!(
            KeyAlgorithm::from_params(None, None).unwrap(),
            KeyAlgorithm::Rsa(2048)
        );
        assert_eq!(
            KeyAlgorithm::from_params(Some("rsa"), Some(4096)).unwrap(),
            KeyAlgorithm::Rsa(4096)
        );
        assert_eq!(
            KeyAlgorithm::from_params(Some("ECDSA-P256"), None).unwrap(),
            KeyAlgorithm::EcdsaP256
        );
        assert_eq!(
            KeyAlgorithm::from_params(Some("ecdsa_p384"), Some(384)).unwrap(),
            KeyAlgorithm::EcdsaP384
        );
        assert!(KeyAlgorithm::from_params(Some("ECDSA-P256"), Some(2048)).is_err());
        assert!(matches!(
            KeyAlgorithm::from_params(Some("DSA"), None),
            Err(PkiError::UnknownKeyAlgorithm(_))
        ));
        let e = KeyAlgorithm::from_params(None, Some(1024))
            .unwrap_err()
            .to_string();
        assert!(e.contains("1024") && e.contains("insecure"), "{e}");
        assert!(KeyAlgorithm::rsa(8192).is_err());
        assert!(KeyAlgorithm::rsa(2047).is_err());
        assert_eq!(
            "RSA-3072".parse::<KeyAlgorithm>().unwrap(),
            KeyAlgorithm::Rsa(3072)
        );
        assert_eq!(
            "ECDSA-P384".parse::<KeyAlgorithm>().unwrap(),
            KeyAlgorithm::EcdsaP384
        );
        assert!("RSA-1024".parse::<KeyAlgorithm>().is_err());
        assert_eq!(KeyAlgorithm::Rsa(2048).to_string(), "RSA-2048");
    }

    #[test]
    fn generate_refuses_rsa_1024() {
        assert!(matches!(
            generate(KeyAlgorithm::Rsa(1024)),
            Err(PkiError::UnsupportedKeySize(_))
        ));
    }

    #[test]
    fn ec_keys_round_trip_and_hide_material() {
        for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384] {
            let k = generate(alg).unwrap();
            assert_eq!(k.algorithm(), alg);
            let again = PrivateKey::from_pem(&k.to_pem()).unwrap();
            assert_eq!(again, k);
            let dbg = format!("{k:?}");
            assert!(
                !dbg.contains(&format!("{:?}", &k.pkcs8_der()[..8])),
                "{dbg}"
            );
            assert!(dbg.contains("PrivateKey"));
            assert!(!k.spki_der().unwrap().is_empty());
            assert!(!k.sign(b"hello").unwrap().is_empty());
        }
    }

    #[test]
    fn rsa_2048_generates() {
        let k = generate(KeyAlgorithm::Rsa(2048)).unwrap();
        assert_eq!(k.algorithm(), KeyAlgorithm::Rsa(2048));
        assert_eq!(k.sign(b"x").unwrap().len(), 256);
    }

    #[test]
    fn garbage_keys_are_errors() {
        assert!(PrivateKey::from_pkcs8_der(b"garbage").is_err());
        assert!(PrivateKey::from_pkcs8_der(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
        assert!(PrivateKey::from_pkcs1_der(b"\x30\x00").is_err());
        assert!(PrivateKey::from_sec1_der(b"\x30\x00").is_err());
        assert!(matches!(
            PrivateKey::from_pem(
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
            ),
            Err(PkiError::EncryptedPemKey)
        ));
    }
}
