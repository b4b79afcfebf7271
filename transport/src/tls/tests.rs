use super::*;
use xshell_core::pki::ca::LabCa;
use xshell_core::pki::dn::SubjectName;
use xshell_core::pki::keys::{KeyAlgorithm, generate};
use xshell_core::pki::request::create_request;
use xshell_core::pki::selfsigned::create_self_signed;

fn der(pem_text: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem_text.as_bytes())
        .unwrap()
        .to_vec()
}

#[test]
fn chain_verification_and_direct_trust_are_decided_after_the_handshake() {
    let ca = LabCa::create("Partner CA", 365).unwrap();
    let ca_der = der(&ca.cert_pem);
    let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
    let dn = SubjectName::parse("CN=mail.partner.example").unwrap();
    let csr = create_request(&dn, &["partner.example".to_string()], &key).unwrap();
    let leaf = der(&ca.sign_csr(csr.der(), 30).unwrap());
    let chain = [CertificateDer::from(leaf.clone())];
    let now = OffsetDateTime::now_utc();

    let trusted = TrustContext {
        trusted_roots: vec![ca_der.clone()],
        own_thumbprints: HashSet::new(),
    };
    let c = assess_client_certificate(&chain, &trusted, now).unwrap();
    assert!(c.chain_verified && !c.direct_trust);
    assert_eq!(c.names, ["partner.example", "mail.partner.example"]);
    assert_eq!(c.subject, "CN=mail.partner.example");
    assert_eq!(c.issuer, "CN=Partner CA");

    let untrusted = TrustContext::default();
    let c = assess_client_certificate(&chain, &untrusted, now).unwrap();
    assert!(!c.chain_verified);
    // the CA sent as an "intermediate" by the client does not make it trusted
    let with_ca = [CertificateDer::from(leaf), CertificateDer::from(ca_der)];
    assert!(
        !assess_client_certificate(&with_ca, &untrusted, now)
            .unwrap()
            .chain_verified
    );

    let own = create_self_signed(
        &SubjectName::parse("CN=mail.orga.example").unwrap(),
        &[],
        &key,
    )
    .unwrap();
    let own_trust = TrustContext {
        trusted_roots: vec![],
        own_thumbprints: HashSet::from([xshell_core::pki::cert::thumbprint(&own)]),
    };
    let c =
        assess_client_certificate(&[CertificateDer::from(own.clone())], &own_trust, now).unwrap();
    assert!(c.direct_trust && !c.chain_verified);
    // self-signed, not ours: neither
    let c = assess_client_certificate(&[CertificateDer::from(own)], &untrusted, now).unwrap();
    assert!(!c.direct_trust && !c.chain_verified);
    assert!(assess_client_certificate(&[], &untrusted, now).is_none());
}
