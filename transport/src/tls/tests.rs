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

#[test]
fn our_certificate_is_selected_and_loaded_from_the_store() {
    use xshell_core::certificates::b64_encode;
    use xshell_core::model::TrustedRoot;
    use xshell_core::pki::cert::thumbprint;
    use xshell_core::store::Backend as _;
    use xshell_core::store::FileBackend;

    let dir = tempfile::tempdir().unwrap();
    let backend = FileBackend::new(dir.path());
    let ca = LabCa::create_with("Lab Root", 30, KeyAlgorithm::EcdsaP256).unwrap();
    let ca_der = ca.cert_der().unwrap();
    let mut cfg = OrgConfig::default();
    cfg.trusted_roots.push(TrustedRoot {
        thumbprint: thumbprint(&ca_der),
        subject: "CN=Lab Root".into(),
        certificate: b64_encode(&ca_der),
    });
    let mut add = |cn: &str, self_signed: bool| -> String {
        let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
        let subject = SubjectName::from_cn(cn).unwrap();
        let der = if self_signed {
            create_self_signed(&subject, &[], &key).unwrap()
        } else {
            let csr = create_request(&subject, &[], &key).unwrap();
            let now = OffsetDateTime::now_utc();
            ca.sign_csr_between(
                csr.der(),
                now - time::Duration::hours(1),
                now + time::Duration::days(10),
            )
            .unwrap()
        };
        let tp = thumbprint(&der);
        let key_id = format!("{}.key", tp.to_ascii_lowercase());
        backend
            .put_secret(&key_id, key.to_pem().as_bytes())
            .unwrap();
        cfg.certificates.push(CertificateRecord {
            thumbprint: tp.clone(),
            certificate: Some(b64_encode(&der)),
            chain: vec![],
            request: None,
            key_id: Some(key_id),
            services: vec!["SMTP".into()],
            friendly_name: None,
            private_key_exportable: false,
            default_smtp: false,
            server: None,
        });
        tp
    };
    let self_signed = add("mail.orga.example", true);
    let wildcard = add("*.orga.example", false);
    let exact = add("mail.orga.example", false);
    let now = OffsetDateTime::now_utc();

    // connector Fqdn: a CA-issued exact name beats the wildcard and the self-signed one
    let mut c = SendConnector::new("Out");
    c.fqdn = Some("mail.orga.example".into());
    let name = CertificateName::for_connector(&c, "server.orga.example");
    assert_eq!(name, CertificateName::Fqdn("mail.orga.example".into()));
    let rec = select_client_certificate(&cfg, &name, now).unwrap();
    assert_eq!(rec.thumbprint, exact);
    // no Fqdn: the server's name; only the wildcard covers it
    let name = CertificateName::for_connector(&SendConnector::new("Out"), "smtp.orga.example");
    assert_eq!(
        select_client_certificate(&cfg, &name, now)
            .unwrap()
            .thumbprint,
        wildcard
    );
    // TlsCertificateName picks explicitly
    c.tls_certificate_name = Some("<I>CN=mail.orga.example<S>CN=mail.orga.example".into());
    let name = CertificateName::for_connector(&c, "x");
    assert_eq!(
        select_client_certificate(&cfg, &name, now)
            .unwrap()
            .thumbprint,
        self_signed
    );
    assert!(
        select_client_certificate(&cfg, &CertificateName::Fqdn("other.example".into()), now)
            .is_none()
    );

    // loaded with its key, it makes a Domain Security configuration
    let rec = cfg
        .certificates
        .iter()
        .find(|r| r.thumbprint == exact)
        .unwrap();
    let id = ClientIdentity::from(load_own(rec, &backend).unwrap());
    assert_eq!(id.chain.len(), 1);
    let material = crate::outbound::tls::TlsMaterial {
        roots: trusted_roots(&cfg),
        client: Some(id),
        pin: None,
        ..Default::default()
    };
    let policy = crate::outbound::tls::TlsPolicy::DomainSecure {
        domain: "orgb.example".into(),
    };
    let config = crate::outbound::tls::client_config(&policy, &material).unwrap();
    assert!(config.client_auth_cert_resolver.has_certs());
    // a missing key file is a typed error
    let mut broken = rec.clone();
    broken.key_id = Some("missing.key".into());
    assert!(matches!(
        load_own(&broken, &backend),
        Err(TlsError::KeyRead { .. })
    ));
}

/// A CN-only certificate (no subjectAltName), chain-valid to a trusted
/// root, names no domain: Domain Security cannot authenticate it
/// (fixtures made with openssl, valid for 100 years).
#[test]
fn a_cn_only_certificate_names_no_domain() {
    let ca = der(include_str!("testdata/cn-only-ca.pem"));
    let leaf = der(include_str!("testdata/cn-only-leaf.pem"));
    let trust = TrustContext {
        trusted_roots: vec![ca],
        own_thumbprints: HashSet::new(),
    };
    let c = assess_client_certificate(
        &[CertificateDer::from(leaf)],
        &trust,
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    assert!(c.chain_verified);
    assert_eq!(c.subject, "CN=partner.example");
    assert!(c.names.is_empty(), "{:?}", c.names);
    assert!(!xshell_core::pki::names::name_matches(
        &c.names,
        None,
        "partner.example",
        true
    ));
}

/// Moves every pending TLS record from one side to the other.
fn pump(from: &mut dyn FnMut(&mut Vec<u8>) -> bool, to: &mut dyn FnMut(&mut &[u8])) {
    let mut buf = Vec::new();
    while from(&mut buf) {}
    let mut rd = buf.as_slice();
    while !rd.is_empty() {
        to(&mut rd);
    }
}

#[test]
fn the_server_chooses_the_cipher_suite_not_the_client() {
    use rustls::{CipherSuite, ClientConfig, ClientConnection, RootCertStore};
    let ca = LabCa::create_with("Lab Root", 30, KeyAlgorithm::EcdsaP256).unwrap();
    let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
    let dn = SubjectName::parse("CN=mail.orga.example").unwrap();
    let csr = create_request(&dn, &["mail.orga.example".to_string()], &key).unwrap();
    let leaf = der(&ca.sign_csr(csr.der(), 30).unwrap());
    let own = OwnCertificate {
        thumbprint: "T".into(),
        subject: "CN=mail.orga.example".into(),
        chain: vec![CertificateDer::from(leaf)],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.pkcs8_der().to_vec())),
    };
    let server = server_config(own, true, vec![]).unwrap();
    let cases = [
        (
            &rustls::version::TLS13,
            CipherSuite::TLS13_AES_128_GCM_SHA256,
            CipherSuite::TLS13_AES_256_GCM_SHA384,
        ),
        (
            &rustls::version::TLS12,
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ),
    ];
    for (version, client_first, expected) in cases {
        // a client that prefers AES-128 (its list reordered)
        let mut provider = rustls::crypto::aws_lc_rs::default_provider();
        provider
            .cipher_suites
            .sort_by_key(|s| s.suite() != client_first);
        assert_eq!(provider.cipher_suites[0].suite(), client_first);
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(ca.cert_der().unwrap()))
            .unwrap();
        let client = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut c =
            ClientConnection::new(Arc::new(client), "mail.orga.example".try_into().unwrap())
                .unwrap();
        let mut s = ServerConnection::new(Arc::clone(&server)).unwrap();
        for _ in 0..10 {
            if !c.is_handshaking() && !s.is_handshaking() {
                break;
            }
            pump(
                &mut |b| c.wants_write() && c.write_tls(b).unwrap() > 0,
                &mut |r| {
                    s.read_tls(r).unwrap();
                    s.process_new_packets().unwrap();
                },
            );
            pump(
                &mut |b| s.wants_write() && s.write_tls(b).unwrap() > 0,
                &mut |r| {
                    c.read_tls(r).unwrap();
                    c.process_new_packets().unwrap();
                },
            );
        }
        assert!(!c.is_handshaking() && !s.is_handshaking());
        assert_eq!(
            s.negotiated_cipher_suite().unwrap().suite(),
            expected,
            "{version:?}"
        );
    }
}

#[test]
fn a_server_auth_only_certificate_is_told_apart() {
    use xshell_core::pki::ca::LeafUsage;
    let ca = LabCa::create("Public CA", 365).unwrap();
    let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
    let dn = SubjectName::parse("CN=mail.partner.example").unwrap();
    let csr = create_request(&dn, &["mail.partner.example".to_string()], &key).unwrap();
    let now = OffsetDateTime::now_utc();
    let leaf = ca
        .sign_csr_with(
            csr.pem().as_bytes(),
            now - time::Duration::hours(1),
            now + time::Duration::days(10),
            LeafUsage::ServerOnly,
        )
        .unwrap();
    let chain = [CertificateDer::from(leaf)];
    let trusted = TrustContext {
        trusted_roots: vec![der(&ca.cert_pem)],
        own_thumbprints: HashSet::new(),
    };
    let c = assess_client_certificate(&chain, &trusted, now).unwrap();
    assert!(!c.chain_verified && c.server_auth_only);
    assert_eq!(
        client_certificate_problem(&chain, &trusted, now).as_deref(),
        Some(SERVER_AUTH_ONLY_PROBLEM)
    );
    // untrusted: neither
    let c = assess_client_certificate(&chain, &TrustContext::default(), now).unwrap();
    assert!(!c.chain_verified && !c.server_auth_only);
}
