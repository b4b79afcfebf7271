//! DKIM signing (RFC 6376) for the mail the engine writes itself: the TLS
//! reports of RFC 8460, which RFC 8460 5.3 requires to carry a DKIM
//! signature of the reporting domain. Pure: keys in, bytes out, no I/O.
//!
//! - Canonicalization relaxed/relaxed (RFC 6376 3.4.2, 3.4.4); simple
//!   (3.4.1, 3.4.3) only for checking against published examples.
//! - `rsa-sha256` (RFC 6376 3.3.1; RFC 8301 3.2: keys of at least 1024
//!   bits, we generate 2048) and `ed25519-sha256` (RFC 8463 3: PureEdDSA
//!   over the SHA-256 hash).
//! - Keys are PKCS#8 PEM ("PRIVATE KEY"); the public key goes in DNS as
//!   `<selector>._domainkey.<domain> TXT "v=DKIM1; k=...; p=..."`
//!   (RFC 6376 3.6.1).

use aws_lc_rs::digest;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// The header fields a TLS report's signature covers (RFC 8460 5.3:
/// the report headers; RFC 6376 5.4.1: From at least).
pub const TLSRPT_HEADERS: &[&str] = &[
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "TLS-Report-Domain",
    "TLS-Report-Submitter",
];

/// The smallest RSA key we sign with (RFC 8301 3.2).
pub const MIN_RSA_BITS: usize = 1024;

/// A DKIM signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `ed25519-sha256` (RFC 8463).
    Ed25519,
    /// `rsa-sha256`, 2048-bit keys when we make them.
    Rsa,
}

impl Algorithm {
    /// The `a=` tag value.
    pub fn tag(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519-sha256",
            Algorithm::Rsa => "rsa-sha256",
        }
    }

    /// The key record's `k=` value.
    pub fn key_type(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::Rsa => "rsa",
        }
    }
}

/// Why a key cannot be made, read or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DkimError {
    #[error("the key is not a PKCS#8 PEM private key (BEGIN PRIVATE KEY)")]
    NotPem,
    #[error("the key is neither an Ed25519 nor an RSA PKCS#8 key: {0}")]
    BadKey(String),
    #[error("the RSA key has {0} bits; DKIM needs at least {MIN_RSA_BITS} (RFC 8301 3.2)")]
    WeakKey(usize),
    #[error("cannot make a key: {0}")]
    Generate(String),
    #[error("cannot sign: {0}")]
    Sign(String),
    #[error("the message has no header/body separator (an empty line)")]
    NoBody,
    #[error("the message has no From header field (RFC 6376 5.4: it must be signed)")]
    NoFrom,
    #[error("'{0}' is not a valid {1} (letters, digits, hyphens, dot-separated labels)")]
    BadName(String, &'static str),
}

/// A private key to sign with.
pub enum SigningKey {
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself.
        write!(f, "SigningKey({})", self.algorithm().tag())
    }
}

impl SigningKey {
    /// A new key: Ed25519, or RSA 2048 bits.
    pub fn generate(alg: Algorithm) -> Result<Self, DkimError> {
        match alg {
            Algorithm::Ed25519 => Ed25519KeyPair::generate()
                .map(SigningKey::Ed25519)
                .map_err(|e| DkimError::Generate(e.to_string())),
            Algorithm::Rsa => RsaKeyPair::generate(KeySize::Rsa2048)
                .map(SigningKey::Rsa)
                .map_err(|e| DkimError::Generate(e.to_string())),
        }
    }

    /// An Ed25519 key from its 32-byte seed (RFC 8032's "secret key").
    pub fn ed25519_from_seed(seed: &[u8]) -> Result<Self, DkimError> {
        Ed25519KeyPair::from_seed_unchecked(seed)
            .map(SigningKey::Ed25519)
            .map_err(|e| DkimError::BadKey(e.to_string()))
    }

    /// Reads a PKCS#8 PEM key (as [`Self::to_pem`] writes it).
    pub fn from_pem(pem_bytes: &[u8]) -> Result<Self, DkimError> {
        let p = pem::parse(pem_bytes).map_err(|_| DkimError::NotPem)?;
        if p.tag() != "PRIVATE KEY" {
            return Err(DkimError::NotPem);
        }
        let der = p.contents();
        if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            return Ok(SigningKey::Ed25519(k));
        }
        let k = RsaKeyPair::from_pkcs8(der).map_err(|e| DkimError::BadKey(e.to_string()))?;
        let bits = k.public_modulus_len() * 8;
        if bits < MIN_RSA_BITS {
            return Err(DkimError::WeakKey(bits));
        }
        Ok(SigningKey::Rsa(k))
    }

    /// The key as PKCS#8 PEM.
    pub fn to_pem(&self) -> Result<String, DkimError> {
        let der: Pkcs8V1Der<'static> = match self {
            SigningKey::Ed25519(k) => k.as_der(),
            SigningKey::Rsa(k) => k.as_der(),
        }
        .map_err(|e| DkimError::Generate(e.to_string()))?;
        Ok(pem::encode(&pem::Pem::new(
            "PRIVATE KEY",
            der.as_ref().to_vec(),
        )))
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            SigningKey::Ed25519(_) => Algorithm::Ed25519,
            SigningKey::Rsa(_) => Algorithm::Rsa,
        }
    }

    /// The `p=` value: the raw 32-byte key for Ed25519 (RFC 8463 4), the
    /// SubjectPublicKeyInfo DER for RSA (what `openssl rsa -pubout` and
    /// every verifier use).
    pub fn public_key_b64(&self) -> Result<String, DkimError> {
        match self {
            SigningKey::Ed25519(k) => Ok(B64.encode(k.public_key().as_ref())),
            SigningKey::Rsa(k) => {
                let der: PublicKeyX509Der<'static> = k
                    .public_key()
                    .as_der()
                    .map_err(|e| DkimError::Generate(e.to_string()))?;
                Ok(B64.encode(der.as_ref()))
            }
        }
    }

    /// The key record's text (RFC 6376 3.6.1). `s=tlsrpt`, the service
    /// type RFC 8460 registers, limits the key to TLS reports.
    pub fn txt_record(&self) -> Result<String, DkimError> {
        Ok(format!(
            "v=DKIM1; k={}; s=tlsrpt; p={}",
            self.algorithm().key_type(),
            self.public_key_b64()?
        ))
    }

    fn sign_raw(&self, data: &[u8]) -> Result<Vec<u8>, DkimError> {
        match self {
            // RFC 8463 3: Ed25519 over the SHA-256 hash of the data.
            SigningKey::Ed25519(k) => {
                let h = digest::digest(&digest::SHA256, data);
                Ok(k.sign(h.as_ref()).as_ref().to_vec())
            }
            SigningKey::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    data,
                    &mut sig,
                )
                .map_err(|e| DkimError::Sign(e.to_string()))?;
                Ok(sig)
            }
        }
    }
}

/// The DNS name of a key record: `<selector>._domainkey.<domain>`.
pub fn record_name(selector: &str, domain: &str) -> String {
    format!("{selector}._domainkey.{domain}")
}

/// A zone file line for `record`, split into strings of at most 255
/// octets (RFC 1035 3.3.14; an RSA 2048 key is longer).
pub fn zone_line(selector: &str, domain: &str, record: &str) -> String {
    let parts: Vec<String> = record
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect();
    format!(
        "{}. IN TXT {}",
        record_name(selector, domain),
        parts.join(" ")
    )
}

/// Checks a selector or domain: dot-separated labels of letters, digits,
/// hyphens and underscores (RFC 6376 3.1), 1 to 63 octets each.
pub fn check_name(s: &str, what: &'static str) -> Result<(), DkimError> {
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(DkimError::BadName(s.to_string(), what))
    }
}

/// The name of a key in a state folder's keys (`STATE/keys/`):
/// `<selector>._domainkey.<domain>.dkim`, lower-case.
pub fn key_file_name(selector: &str, domain: &str) -> String {
    format!(
        "{}.dkim",
        record_name(selector, domain.trim_end_matches('.')).to_ascii_lowercase()
    )
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// One header field: its name as written and the whole field, name to
/// the end of its last line, without the final CRLF.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field<'a> {
    name: &'a str,
    raw: &'a [u8],
}

/// Splits a message into its header fields and its body (after the empty
/// line). Lines end in CRLF (the engine writes them so).
fn split(msg: &[u8]) -> Result<(Vec<Field<'_>>, &[u8]), DkimError> {
    let end = if msg.starts_with(b"\r\n") {
        0
    } else {
        msg.windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or(DkimError::NoBody)?
            + 2
    };
    let head = &msg[..end];
    let body = &msg[end + 2..];
    let mut fields: Vec<Field<'_>> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < head.len() {
        let Some(nl) = head[i..].windows(2).position(|w| w == b"\r\n") else {
            break;
        };
        let next = i + nl + 2;
        // A continuation line starts with WSP (RFC 5322 2.2.3).
        if next >= head.len() || !is_wsp(head[next]) {
            let raw = &head[start..next - 2];
            let name = raw
                .iter()
                .position(|b| *b == b':')
                .and_then(|c| std::str::from_utf8(&raw[..c]).ok())
                .unwrap_or("");
            fields.push(Field { name, raw });
            start = next;
        }
        i = next;
    }
    Ok((fields, body))
}

/// Relaxed header canonicalization (RFC 6376 3.4.2), without the CRLF.
pub fn relaxed_header(raw: &[u8]) -> Vec<u8> {
    let colon = raw.iter().position(|b| *b == b':').unwrap_or(raw.len());
    let name = &raw[..colon];
    let mut out: Vec<u8> = name
        .iter()
        .filter(|b| !is_wsp(**b))
        .map(u8::to_ascii_lowercase)
        .collect();
    out.push(b':');
    let value = raw.get(colon + 1..).unwrap_or(&[]);
    // Unfold, then runs of WSP become one SP; none at either end.
    let mut v: Vec<u8> = Vec::with_capacity(value.len());
    let mut space = false;
    for &b in value {
        if b == b'\r' || b == b'\n' {
            continue;
        }
        if is_wsp(b) {
            space = true;
            continue;
        }
        if space && !v.is_empty() {
            v.push(b' ');
        }
        space = false;
        v.push(b);
    }
    out.extend_from_slice(&v);
    out
}

/// Relaxed body canonicalization (RFC 6376 3.4.4): WSP runs become one
/// SP, WSP at line ends goes, empty lines at the end go; a non-empty body
/// ends in CRLF (one is added if missing), an empty one stays empty.
pub fn relaxed_body(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    for line in lines(body) {
        let mut space = false;
        for &b in line {
            if is_wsp(b) {
                space = true;
                continue;
            }
            if space {
                out.push(b' ');
            }
            space = false;
            out.push(b);
        }
        out.extend_from_slice(b"\r\n");
    }
    while out.ends_with(b"\r\n\r\n") {
        out.truncate(out.len() - 2);
    }
    if out == b"\r\n" {
        out.clear();
    }
    out
}

/// Simple body canonicalization (RFC 6376 3.4.3): empty lines at the end
/// go; an empty body is one CRLF.
pub fn simple_body(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 2);
    for line in lines(body) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    while out.ends_with(b"\r\n\r\n") {
        out.truncate(out.len() - 2);
    }
    if out.is_empty() {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The body's lines without their CRLF (a last line without one counts).
fn lines(body: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        match rest.windows(2).position(|w| w == b"\r\n") {
            Some(p) => {
                out.push(&rest[..p]);
                rest = &rest[p + 2..];
            }
            None => {
                out.push(rest);
                break;
            }
        }
    }
    out
}

/// Header or body canonicalization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canon {
    Simple,
    Relaxed,
}

/// The `h=` list for `names`: each present field once per instance
/// (RFC 6376 5.4.2: signed from the bottom up), plus one more From so
/// that a From added later breaks the signature (over-signing, RFC 6376
/// 8.15). Lower-case.
fn signed_names(fields: &[Field<'_>], names: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for n in names {
        let count = fields
            .iter()
            .filter(|f| f.name.trim().eq_ignore_ascii_case(n))
            .count();
        let extra = usize::from(n.eq_ignore_ascii_case("from"));
        for _ in 0..count + extra {
            out.push(n.to_ascii_lowercase());
        }
    }
    out
}

/// The data the signature is made over (RFC 6376 3.7): the signed fields,
/// canonicalized, each with CRLF, then the DKIM-Signature field with an
/// empty `b=`, canonicalized, without CRLF.
fn signed_data(fields: &[Field<'_>], h: &[String], sig_field: &[u8], canon: Canon) -> Vec<u8> {
    let mut data = Vec::new();
    // For each name, the next instance from the bottom.
    let mut used: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for name in h {
        let k = used.entry(name.clone()).or_default();
        let instance = fields
            .iter()
            .rev()
            .filter(|f| f.name.trim().eq_ignore_ascii_case(name))
            .nth(*k);
        *k += 1;
        // A name with no instance left signs nothing (RFC 6376 5.4.2).
        if let Some(f) = instance {
            match canon {
                Canon::Relaxed => data.extend_from_slice(&relaxed_header(f.raw)),
                Canon::Simple => data.extend_from_slice(f.raw),
            }
            data.extend_from_slice(b"\r\n");
        }
    }
    match canon {
        Canon::Relaxed => data.extend_from_slice(&relaxed_header(sig_field)),
        Canon::Simple => data.extend_from_slice(sig_field),
    }
    data
}

/// What to sign with.
#[derive(Debug)]
pub struct Signer<'a> {
    pub key: &'a SigningKey,
    /// `d=`: the signing domain.
    pub domain: &'a str,
    /// `s=`.
    pub selector: &'a str,
    /// The header fields to sign (see [`TLSRPT_HEADERS`]).
    pub headers: &'a [&'a str],
}

impl Signer<'_> {
    /// The `DKIM-Signature:` field for `msg` (CRLF line ends), ending in
    /// CRLF, to put in front of the message. `now`: seconds since the
    /// epoch (`t=`). relaxed/relaxed.
    pub fn sign(&self, msg: &[u8], now: i64) -> Result<String, DkimError> {
        check_name(self.domain, "domain")?;
        check_name(self.selector, "selector")?;
        let (fields, body) = split(msg)?;
        if !fields
            .iter()
            .any(|f| f.name.trim().eq_ignore_ascii_case("from"))
        {
            return Err(DkimError::NoFrom);
        }
        let bh = B64.encode(digest::digest(&digest::SHA256, &relaxed_body(body)).as_ref());
        let h = signed_names(&fields, self.headers);
        let head = format!(
            "DKIM-Signature: v=1; a={}; c=relaxed/relaxed;\r\n\td={}; s={}; t={};\r\n\th={};\r\n\tbh={};\r\n\tb=",
            self.key.algorithm().tag(),
            self.domain,
            self.selector,
            now,
            fold_list(&h),
            bh
        );
        let data = signed_data(&fields, &h, head.as_bytes(), Canon::Relaxed);
        let b = B64.encode(self.key.sign_raw(&data)?);
        let mut out = head;
        for (i, chunk) in b.as_bytes().chunks(64).enumerate() {
            if i > 0 {
                out.push_str("\r\n\t");
            }
            out.push_str(&String::from_utf8_lossy(chunk));
        }
        out.push_str("\r\n");
        Ok(out)
    }
}

/// `a:b:c`, folded every few names so no line grows past ~78 octets.
fn fold_list(h: &[String]) -> String {
    let mut out = String::new();
    let mut line = 0;
    for (i, n) in h.iter().enumerate() {
        if i > 0 {
            out.push(':');
            line += 1;
        }
        if line + n.len() > 60 {
            out.push_str("\r\n\t");
            line = 0;
        }
        out.push_str(n);
        line += n.len();
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    // RFC 6376 3.4.5's example.
    #[test]
    fn relaxed_canonicalization_follows_rfc6376_example() {
        let msg = b"A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n";
        let (fields, body) = split(msg).unwrap();
        assert_eq!(fields.len(), 2);
        assert_eq!(relaxed_header(fields[0].raw), b"a:X");
        assert_eq!(relaxed_header(fields[1].raw), b"b:Y Z");
        assert_eq!(relaxed_body(body), b" C\r\nD E\r\n");
        assert_eq!(simple_body(body), b" C \r\nD \t E\r\n");
    }

    #[test]
    fn empty_bodies_and_missing_crlf() {
        assert_eq!(relaxed_body(b""), b"");
        assert_eq!(relaxed_body(b"\r\n\r\n"), b"");
        assert_eq!(simple_body(b""), b"\r\n");
        assert_eq!(relaxed_body(b"x  "), b"x\r\n");
        // Headers without a body separator: refused, not guessed.
        assert_eq!(split(b"From: a\r\n"), Err(DkimError::NoBody));
    }

    #[test]
    fn over_signs_from_and_signs_instances_bottom_up() {
        let msg = b"From: a\r\nTo: x\r\nTo: y\r\n\r\nbody\r\n";
        let (fields, _) = split(msg).unwrap();
        let h = signed_names(&fields, &["From", "To", "Subject"]);
        assert_eq!(h, ["from", "from", "to", "to"]);
        let data = signed_data(&fields, &h, b"DKIM-Signature: b=", Canon::Relaxed);
        assert_eq!(
            data,
            b"from:a\r\nto:y\r\nto:x\r\ndkim-signature:b=".to_vec()
        );
    }

    /// RFC 8463 appendix A (dkimpy's copy, tests/data/rfc6376.signed.msg):
    /// the Ed25519 key of RFC 8032 7.1 signs the example message; Ed25519
    /// is deterministic, so the same `b=` must come out.
    #[test]
    fn ed25519_matches_rfc8463_example() {
        let seed = B64
            .decode("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=")
            .unwrap();
        let key = SigningKey::ed25519_from_seed(&seed).unwrap();
        assert_eq!(
            key.public_key_b64().unwrap(),
            "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
        );
        let msg = b"From: Joe SixPack <joe@football.example.com>\r\n\
To: Suzie Q <suzie@shopping.example.net>\r\n\
Subject: Is dinner ready?\r\n\
Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n\
Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n\
\r\n\
Hi.\r\n\
\r\n\
We lost the game.  Are you hungry yet?\r\n\
\r\n\
Joe.\r\n";
        let (fields, body) = split(msg).unwrap();
        let bh = B64.encode(digest::digest(&digest::SHA256, &simple_body(body)).as_ref());
        assert_eq!(bh, "4bLNXImK9drULnmePzZNEBleUanJCX5PIsDIFoH4KTQ=");
        // (Each folded line ends in a space before its CRLF.)
        let sig = b"DKIM-Signature: v=1; a=ed25519-sha256; c=simple/simple; \r\n \
d=football.example.com; i=@football.example.com; \r\n \
q=dns/txt; s=brisbane; t=1518460054; h=from : to : \r\n \
subject : date : message-id : from : subject : date; \r\n \
bh=4bLNXImK9drULnmePzZNEBleUanJCX5PIsDIFoH4KTQ=; \r\n \
b=";
        let h: Vec<String> = "from to subject date message-id from subject date"
            .split(' ')
            .map(str::to_string)
            .collect();
        let data = signed_data(&fields, &h, sig, Canon::Simple);
        let b = B64.encode(key.sign_raw(&data).unwrap());
        assert_eq!(
            b,
            "9/dsDChY0YMTtD5Eyw3wx7x22BlSJP7M5ECbJ7GWrR45nXlTCGb8l0YBo0wBLR++X5LqmsxXaOYLLJe46l10AQ=="
        );
    }

    #[test]
    fn keys_round_trip_through_pem_and_sign() {
        for alg in [Algorithm::Ed25519, Algorithm::Rsa] {
            let key = SigningKey::generate(alg).unwrap();
            let pem = key.to_pem().unwrap();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
            let back = SigningKey::from_pem(pem.as_bytes()).unwrap();
            assert_eq!(back.algorithm(), alg);
            assert_eq!(
                back.public_key_b64().unwrap(),
                key.public_key_b64().unwrap()
            );
            let rec = back.txt_record().unwrap();
            assert!(
                rec.starts_with(&format!("v=DKIM1; k={};", alg.key_type())),
                "{rec}"
            );
            let signer = Signer {
                key: &back,
                domain: "orga.example",
                selector: "sel1",
                headers: TLSRPT_HEADERS,
            };
            let msg = b"From: r@orga.example\r\nTo: x@y.example\r\nSubject: s\r\n\r\nbody\r\n";
            let s = signer.sign(msg, 1_700_000_000).unwrap();
            assert!(s.starts_with("DKIM-Signature: v=1; a="), "{s}");
            assert!(s.contains("h=from:from:to:subject;"), "{s}");
            assert!(s.contains("t=1700000000;") && s.ends_with("\r\n"), "{s}");
            assert!(s.lines().all(|l| l.len() <= 80), "{s}");
        }
        let z = zone_line("sel1", "orga.example", &"x".repeat(300));
        assert!(
            z.starts_with("sel1._domainkey.orga.example. IN TXT \""),
            "{z}"
        );
        assert_eq!(z.matches('"').count(), 4, "split in two strings: {z}");
    }

    #[test]
    fn bad_input_is_refused_not_panicked_on() {
        assert_eq!(
            SigningKey::from_pem(b"not a key").unwrap_err(),
            DkimError::NotPem
        );
        assert!(check_name("sel1", "selector").is_ok());
        assert!(check_name("2026-12.rot", "selector").is_ok());
        for bad in ["", "a b", "a..b", "-a", "a/b", "é"] {
            assert!(check_name(bad, "selector").is_err(), "{bad}");
        }
        let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
        let signer = Signer {
            key: &key,
            domain: "orga.example",
            selector: "sel1",
            headers: TLSRPT_HEADERS,
        };
        assert_eq!(
            signer.sign(b"To: x\r\n\r\nbody", 0).unwrap_err(),
            DkimError::NoFrom
        );
        // Odd shapes: an answer, never a panic.
        for odd in [
            &b""[..],
            b"\r\n",
            b"\r\n\r\n",
            b":\r\n\r\n",
            b"From\r\n\r\n",
            b" From: a\r\n\r\n",
            b"From: a\r\n \r\n\r\n",
            b"From:\r\n\r\n\r\n\r\n",
            b"From: a\n\nbody",
        ] {
            let _ = signer.sign(odd, 0);
        }
        assert!(signer.sign(b"From:\r\n\r\n", 0).is_ok());
    }
}
