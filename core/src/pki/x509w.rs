//! DER writer for the certificates and requests xshell makes (self-signed,
//! lab CA, PKCS#10). Written by hand so that subjects keep every attribute
//! (several OU/DC) and a CSR's subject can be copied byte for byte.

use aws_lc_rs::digest;
use time::OffsetDateTime;

use super::der;
use super::keys::PrivateKey;
use super::{PkiError, Result};

const OID_SAN: &[u64] = &[2, 5, 29, 17];
const OID_KEY_USAGE: &[u64] = &[2, 5, 29, 15];
const OID_EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
const OID_BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
const OID_SKI: &[u64] = &[2, 5, 29, 14];
const OID_AKI: &[u64] = &[2, 5, 29, 35];
const OID_SERVER_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 1];
const OID_CLIENT_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 2];
const OID_EXTENSION_REQUEST: &[u64] = &[1, 2, 840, 113_549, 1, 9, 14];

fn extension(oid: &[u64], critical: bool, value: &[u8]) -> Vec<u8> {
    let oid = der::oid(oid);
    let value = der::octet_string(value);
    if critical {
        der::seq(&[&oid, &der::boolean(true), &value])
    } else {
        der::seq(&[&oid, &value])
    }
}

/// subjectAltName with DNS names; critical when the subject is empty (RFC 5280).
pub(crate) fn ext_san(names: &[String], critical: bool) -> Vec<u8> {
    let gns: Vec<Vec<u8>> = names.iter().map(|n| der::tlv(0x82, n.as_bytes())).collect();
    let refs: Vec<&[u8]> = gns.iter().map(Vec::as_slice).collect();
    extension(OID_SAN, critical, &der::seq(&refs))
}

/// keyUsage for an end-entity certificate: digitalSignature + keyEncipherment
/// (RSA) or digitalSignature (ECDSA). Critical.
pub(crate) fn ext_key_usage_leaf(is_rsa: bool) -> Vec<u8> {
    let bits: &[u8] = if is_rsa {
        // bit 0 digitalSignature, bit 2 keyEncipherment -> 1010 0000, 5 unused bits
        &[0x05, 0xa0]
    } else {
        // bit 0 only -> 1000 0000, 7 unused bits
        &[0x07, 0x80]
    };
    extension(OID_KEY_USAGE, true, &der::tlv(der::TAG_BIT_STRING, bits))
}

/// keyUsage for a CA: digitalSignature, keyCertSign, cRLSign. Critical.
pub(crate) fn ext_key_usage_ca() -> Vec<u8> {
    // bits 0, 5, 6 -> 1000 0110, 1 unused bit
    extension(
        OID_KEY_USAGE,
        true,
        &der::tlv(der::TAG_BIT_STRING, &[0x01, 0x86]),
    )
}

/// extendedKeyUsage serverAuth + clientAuth (what SMTP with mutual TLS needs).
pub(crate) fn ext_eku_server_client() -> Vec<u8> {
    extension(
        OID_EXT_KEY_USAGE,
        false,
        &der::seq(&[&der::oid(OID_SERVER_AUTH), &der::oid(OID_CLIENT_AUTH)]),
    )
}

/// extendedKeyUsage serverAuth only (what public CAs issue from 2026 on:
/// such a certificate cannot be a Domain Security client certificate).
pub(crate) fn ext_eku_server_only() -> Vec<u8> {
    extension(
        OID_EXT_KEY_USAGE,
        false,
        &der::seq(&[&der::oid(OID_SERVER_AUTH)]),
    )
}

/// basicConstraints: `cA TRUE` (critical) for a CA, an empty sequence for a leaf.
pub(crate) fn ext_basic_constraints(ca: bool) -> Vec<u8> {
    if ca {
        extension(
            OID_BASIC_CONSTRAINTS,
            true,
            &der::seq(&[&der::boolean(true)]),
        )
    } else {
        extension(OID_BASIC_CONSTRAINTS, false, &der::seq(&[]))
    }
}

/// Key identifier: SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2 method 1).
pub(crate) fn key_id(spki_der: &[u8]) -> Result<Vec<u8>> {
    let bad = || PkiError::Crypto("malformed SubjectPublicKeyInfo".to_string());
    let (spki, _) = der::expect(spki_der, der::TAG_SEQUENCE).map_err(|_| bad())?;
    let (_alg, rest) = der::expect(spki.content, der::TAG_SEQUENCE).map_err(|_| bad())?;
    let (bits, _) = der::expect(rest, der::TAG_BIT_STRING).map_err(|_| bad())?;
    let key = bits.content.get(1..).ok_or_else(bad)?;
    Ok(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, key)
        .as_ref()
        .to_vec())
}

pub(crate) fn ext_ski(key_id: &[u8]) -> Vec<u8> {
    extension(OID_SKI, false, &der::octet_string(key_id))
}

pub(crate) fn ext_aki(key_id: &[u8]) -> Vec<u8> {
    extension(OID_AKI, false, &der::seq(&[&der::tlv(0x80, key_id)]))
}

/// 16 random bytes, positive and without a leading zero byte.
pub(crate) fn random_serial() -> Result<Vec<u8>> {
    let mut serial = [0u8; 16];
    aws_lc_rs::rand::fill(&mut serial).map_err(|e| PkiError::Crypto(e.to_string()))?;
    if let Some(first) = serial.first_mut() {
        *first = (*first & 0x7f) | 0x01;
    }
    Ok(serial.to_vec())
}

/// UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5).
pub(crate) fn encode_time(t: OffsetDateTime) -> Vec<u8> {
    let t = t.to_offset(time::UtcOffset::UTC);
    let (y, mo, d) = (t.year(), u8::from(t.month()), t.day());
    let (h, mi, s) = (t.hour(), t.minute(), t.second());
    if (1950..2050).contains(&y) {
        let s = format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z", y % 100);
        der::tlv(der::TAG_UTC_TIME, s.as_bytes())
    } else {
        let s = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z");
        der::tlv(der::TAG_GENERALIZED_TIME, s.as_bytes())
    }
}

/// What goes into a TBSCertificate.
pub(crate) struct TbsSpec<'a> {
    pub serial: Vec<u8>,
    pub issuer_der: &'a [u8],
    pub subject_der: &'a [u8],
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub spki_der: &'a [u8],
    pub extensions: Vec<Vec<u8>>,
}

fn signed(tbs: &[u8], signer: &PrivateKey) -> Result<Vec<u8>> {
    let alg = signer.algorithm().signature_algorithm_der();
    let sig = signer.sign(tbs)?;
    Ok(der::seq(&[tbs, &alg, &der::bit_string(&sig)]))
}

/// Builds and signs an X.509 v3 certificate.
pub(crate) fn build_certificate(spec: &TbsSpec<'_>, signer: &PrivateKey) -> Result<Vec<u8>> {
    let version = der::cons(0xa0, &[&der::small_int(2)]);
    let ext_refs: Vec<&[u8]> = spec.extensions.iter().map(Vec::as_slice).collect();
    let exts = der::cons(0xa3, &[&der::seq(&ext_refs)]);
    let validity = der::seq(&[&encode_time(spec.not_before), &encode_time(spec.not_after)]);
    let tbs = der::seq(&[
        &version,
        &der::uint(&spec.serial),
        &signer.algorithm().signature_algorithm_der(),
        spec.issuer_der,
        &validity,
        spec.subject_der,
        spec.spki_der,
        &exts,
    ]);
    signed(&tbs, signer)
}

/// Builds and signs a PKCS#10 request with an extensionRequest attribute.
pub(crate) fn build_csr(
    subject_der: &[u8],
    extensions: &[Vec<u8>],
    key: &PrivateKey,
) -> Result<Vec<u8>> {
    let spki = key.spki_der()?;
    let ext_refs: Vec<&[u8]> = extensions.iter().map(Vec::as_slice).collect();
    let attr = der::seq(&[
        &der::oid(OID_EXTENSION_REQUEST),
        &der::cons(der::TAG_SET, &[&der::seq(&ext_refs)]),
    ]);
    let attrs = der::cons(0xa0, &[&attr]);
    let cri = der::seq(&[&der::small_int(0), subject_der, &spki, &attrs]);
    signed(&cri, key)
}
