//! Why the PKI writes its own DER for requests, self-signed and lab-CA
//! certificates instead of using rcgen (docs/pki.md): each test shows, on
//! the rcgen version in Cargo.lock, one thing the cmdlets need that rcgen
//! cannot do, beside xshell doing it. When an rcgen upgrade makes one of
//! these tests fail, rcgen has learnt the thing: revisit docs/pki.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use xshell_core::pki::ca::LabCa;
use xshell_core::pki::cert::parse_certificate;
use xshell_core::pki::dn::SubjectName;
use xshell_core::pki::keys::{KeyAlgorithm, generate};
use xshell_core::pki::request::create_request;

/// A subject with two OUs, as administrators write for New-ExchangeCertificate.
const SUBJECT: &str = "C=US,O=Contoso,OU=IT,OU=Messaging,CN=mail.contoso.com";

#[test]
fn rcgen_keeps_one_value_per_attribute_type() {
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::OrganizationalUnitName, "IT");
    dn.push(rcgen::DnType::OrganizationalUnitName, "Messaging");
    // The second OU replaced the first.
    let ous: Vec<_> = dn
        .iter()
        .filter(|(t, _)| **t == rcgen::DnType::OrganizationalUnitName)
        .collect();
    assert_eq!(ous.len(), 1);

    // xshell's request keeps both, in order.
    let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
    let subject = SubjectName::parse(SUBJECT).unwrap();
    let csr = create_request(&subject, &[], &key).unwrap();
    let ca = LabCa::create_with("Lab CA", 30, KeyAlgorithm::EcdsaP256).unwrap();
    let pem = ca.sign_csr(csr.der(), 30).unwrap();
    let der = pem::parse(pem).unwrap().into_contents();
    let info = parse_certificate(&der).unwrap();
    assert!(
        info.subject.contains("OU=IT") && info.subject.contains("OU=Messaging"),
        "{}",
        info.subject
    );
}

/// A request as Windows makes it carries extensions besides SAN, key usage
/// and EKU (here the certificate template name, 1.3.6.1.4.1.311.20.2).
/// rcgen refuses to read it for signing; the lab CA signs it.
#[test]
fn rcgen_cannot_sign_a_request_with_other_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let csr = dir.path().join("r.der");
    let out = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(&key)
        .args(["-subj", "/CN=mail.contoso.com/OU=IT/OU=Messaging"])
        .args(["-addext", "subjectAltName=DNS:mail.contoso.com"])
        .args(["-addext", "1.3.6.1.4.1.311.20.2=ASN1:BMPSTRING:WebServer"])
        .args(["-outform", "DER", "-out"])
        .arg(&csr)
        .output()
        .expect("openssl (Debian package openssl; .ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csr = std::fs::read(&csr).unwrap();

    let parsed = rcgen::CertificateSigningRequestParams::from_der(&csr.clone().into());
    assert!(
        matches!(parsed, Err(rcgen::Error::UnsupportedExtension)),
        "{:?}",
        parsed.err()
    );

    let ca = LabCa::create_with("Lab CA", 30, KeyAlgorithm::EcdsaP256).unwrap();
    let pem = ca.sign_csr(&csr, 30).unwrap();
    let der = pem::parse(pem).unwrap().into_contents();
    let info = parse_certificate(&der).unwrap();
    assert!(info.subject.contains("OU=Messaging"), "{}", info.subject);
}

/// rcgen reads the keys xshell generates (PKCS#8), so tests and tools
/// that do use rcgen can sign with them.
#[test]
fn rcgen_reads_xshell_keys() {
    for alg in [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Rsa(2048),
    ] {
        let k = generate(alg).unwrap();
        rcgen::KeyPair::try_from(k.pkcs8_der()).unwrap();
    }
}
