//! The PKI library checked against the real `openssl` command (OpenSSL 3):
//! what we write, OpenSSL reads; what OpenSSL writes, we read.
//! Keys and certificates are generated in a temporary directory per test.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use time::{Duration, OffsetDateTime};
use xshell_core::pki::PkiError;
use xshell_core::pki::ca::LabCa;
use xshell_core::pki::cert::{normalize_thumbprint, parse_certificate};
use xshell_core::pki::dn::SubjectName;
use xshell_core::pki::import::{ImportFormat, import_bytes};
use xshell_core::pki::keys::{KeyAlgorithm, PrivateKey, generate};
use xshell_core::pki::pfx::{PfxEncryption, export_pfx};
use xshell_core::pki::request::{create_request, parse_request};
use xshell_core::pki::selfsigned::create_self_signed;
use xshell_core::pki::validate::{
    CertStatus, RootCaType, certificate_status, validate_certificate,
};

struct Lab {
    dir: tempfile::TempDir,
}

struct Out {
    ok: bool,
    text: String,
}

impl Lab {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, data).unwrap();
        p
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    fn try_openssl(&self, args: &[&str]) -> Out {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("the openssl command must be installed for these tests");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        Out {
            ok: out.status.success(),
            text,
        }
    }

    fn openssl(&self, args: &[&str]) -> String {
        let out = self.try_openssl(args);
        assert!(out.ok, "openssl {args:?} failed:\n{}", out.text);
        out.text
    }

    /// A root CA made by OpenSSL: ca.pem, ca.key.
    fn openssl_ca(&self) {
        self.write(
            "ca.cnf",
            "[req]\ndistinguished_name=dn\nprompt=no\n[dn]\nCN=OpenSSL Test CA\n\
             [v3_ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
             subjectKeyIdentifier=hash\n",
        );
        self.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "30",
            "-config",
            "ca.cnf",
            "-extensions",
            "v3_ca",
        ]);
    }

    /// OpenSSL's CA signs `csr`, adding serverAuth/clientAuth and the SANs.
    fn openssl_sign(&self, csr: &str, out: &str, sans: &str) {
        self.write(
            "leaf.ext",
            format!(
                "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
                 extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName={sans}\n"
            ),
        );
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            out,
            "-days",
            "30",
            "-extfile",
            "leaf.ext",
        ]);
    }
}

fn pem_der(pem_text: &[u8]) -> Vec<u8> {
    pem::parse(pem_text).unwrap().into_contents()
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn orga() -> SubjectName {
    SubjectName::parse("C=DE,O=OrgA,CN=mail.orga.example").unwrap()
}

// (a) our CSR passes `openssl req -verify`; its SANs show in `openssl req -text`.
#[test]
fn csr_verifies_with_openssl() {
    let lab = Lab::new();
    for (alg, ku) in [
        (
            KeyAlgorithm::Rsa(2048),
            "Digital Signature, Key Encipherment",
        ),
        (KeyAlgorithm::EcdsaP256, "Digital Signature"),
        (KeyAlgorithm::EcdsaP384, "Digital Signature"),
    ] {
        let key = generate(alg).unwrap();
        let req = create_request(
            &orga(),
            &names(&["mail.orga.example", "orga.example"]),
            &key,
        )
        .unwrap();
        lab.write("req.pem", req.pem());
        let verify = lab.openssl(&["req", "-in", "req.pem", "-verify", "-noout"]);
        assert!(verify.contains("verify OK"), "{verify}");
        let text = lab.openssl(&["req", "-in", "req.pem", "-noout", "-text"]);
        assert!(
            text.contains("DNS:mail.orga.example, DNS:orga.example"),
            "{text}"
        );
        assert!(
            text.contains("C = DE, O = OrgA, CN = mail.orga.example"),
            "{text}"
        );
        assert!(
            text.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
            "{text}"
        );
        assert!(text.contains(ku), "{text}");
        // -BinaryEncoded form is the same request
        lab.write("req.der", req.der());
        let der_verify = lab.openssl(&[
            "req", "-in", "req.der", "-inform", "DER", "-verify", "-noout",
        ]);
        assert!(der_verify.contains("verify OK"));
    }
    // a request with repeated OU and quoting survives OpenSSL too
    let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
    let dn = SubjectName::parse(r#"C=DE,O="OrgA, Inc.",OU=Mail,OU=IT,L=Köln,CN=mail.orga.example"#)
        .unwrap();
    lab.write("req2.pem", create_request(&dn, &[], &key).unwrap().pem());
    let text = lab.openssl(&[
        "req",
        "-in",
        "req2.pem",
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253,-esc_msb",
    ]);
    assert!(
        text.contains(r"CN=mail.orga.example,OU=IT,OU=Mail,O=OrgA\, Inc.,L=Köln,C=DE"),
        "{text}"
    );
}

// (b) OpenSSL's CA signs our request; we read the certificate and validate it.
#[test]
fn openssl_ca_issues_for_our_request() {
    let lab = Lab::new();
    lab.openssl_ca();
    let key = generate(KeyAlgorithm::Rsa(2048)).unwrap();
    let req = create_request(
        &orga(),
        &names(&["mail.orga.example", "orga.example"]),
        &key,
    )
    .unwrap();
    lab.write("req.pem", req.pem());
    lab.openssl_sign(
        "req.pem",
        "leaf.pem",
        "DNS:mail.orga.example,DNS:orga.example",
    );

    let leaf = pem_der(&lab.read("leaf.pem"));
    let ca = pem_der(&lab.read("ca.pem"));
    let info = parse_certificate(&leaf).unwrap();
    assert_eq!(info.subject, "CN=mail.orga.example, O=OrgA, C=DE");
    assert_eq!(info.issuer, "CN=OpenSSL Test CA");
    assert_eq!(info.subject_cn.as_deref(), Some("mail.orga.example"));
    assert_eq!(info.dns_names, ["mail.orga.example", "orga.example"]);
    assert!(info.has_server_auth && info.has_client_auth);
    assert!(!info.is_self_signed && !info.is_ca);
    assert_eq!(info.public_key_size, 2048);
    assert_eq!(info.key_algorithm, "RSA");
    // the issued certificate completes the pending request: same public key
    assert_eq!(info.spki_der, parse_request(req.der()).unwrap().spki_der);
    assert_eq!(info.spki_der, key.spki_der().unwrap());

    // thumbprint and serial agree with OpenSSL
    let fp = lab.openssl(&["x509", "-in", "leaf.pem", "-noout", "-fingerprint", "-sha1"]);
    let fp = fp.trim().rsplit('=').next().unwrap();
    assert_eq!(normalize_thumbprint(fp).unwrap(), info.thumbprint);
    let serial = lab.openssl(&["x509", "-in", "leaf.pem", "-noout", "-serial"]);
    let serial = serial.trim().trim_start_matches("serial=");
    assert_eq!(
        info.serial_number.trim_start_matches("00"),
        serial.trim_start_matches("00")
    );

    let now = OffsetDateTime::now_utc();
    let v = validate_certificate(&leaf, &[], std::slice::from_ref(&ca), now);
    assert_eq!(
        (v.status, v.root_ca_type),
        (CertStatus::Valid, RootCaType::Registry)
    );
    let v = validate_certificate(&leaf, &[], &[], now);
    assert_eq!(
        (v.status, v.root_ca_type),
        (CertStatus::Untrusted, RootCaType::Unknown)
    );
    assert_eq!(v.status.to_string(), "Untrusted");

    // the .cer in DER imports as a certificate without key
    lab.openssl(&[
        "x509", "-in", "leaf.pem", "-outform", "DER", "-out", "leaf.cer",
    ]);
    let imp = import_bytes(&lab.read("leaf.cer"), None).unwrap();
    assert_eq!(imp.format, ImportFormat::Der);
    assert_eq!(imp.leaf, leaf);
    assert!(imp.key.is_none());
    // and in PEM, together with the CA
    let mut both = lab.read("ca.pem");
    both.extend(lab.read("leaf.pem"));
    let imp = import_bytes(&both, None).unwrap();
    assert_eq!((imp.leaf.clone(), imp.chain.clone()), (leaf, vec![ca]));
}

/// OpenSSL-made key and certificate (RSA key in leaf.key, cert in leaf.pem), signed by ca.pem.
fn openssl_leaf(lab: &Lab) {
    lab.openssl_ca();
    lab.openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/C=DE/O=OrgB/CN=mail.orgb.example",
    ]);
    lab.openssl_sign("leaf.csr", "leaf.pem", "DNS:mail.orgb.example");
}

// (c) PFX made by `openssl pkcs12 -export`, default (AES-256) and -legacy (3DES/RC2).
#[test]
fn openssl_pfx_imports() {
    let lab = Lab::new();
    openssl_leaf(&lab);
    let leaf = pem_der(&lab.read("leaf.pem"));
    let ca = pem_der(&lab.read("ca.pem"));
    let key_spki = lab.openssl(&["pkey", "-in", "leaf.key", "-pubout"]);
    for extra in [None, Some("-legacy")] {
        let mut args = vec![
            "pkcs12",
            "-export",
            "-inkey",
            "leaf.key",
            "-in",
            "leaf.pem",
            "-certfile",
            "ca.pem",
            "-out",
            "x.pfx",
            "-passout",
            "pass:Secret-1",
        ];
        args.extend(extra);
        lab.openssl(&args);
        let pfx = lab.read("x.pfx");

        let imp = import_bytes(&pfx, Some("Secret-1")).unwrap();
        assert_eq!(imp.format, ImportFormat::Pkcs12);
        assert_eq!(imp.leaf, leaf, "{extra:?}");
        assert_eq!(imp.chain, vec![ca.clone()]);
        let key = imp.key.unwrap();
        assert_eq!(key.algorithm(), KeyAlgorithm::Rsa(2048));
        assert_eq!(
            xshell_core::pki::pem_encode("PUBLIC KEY", &key.spki_der().unwrap()),
            key_spki
        );

        let wrong = import_bytes(&pfx, Some("secret-1")).unwrap_err();
        assert_eq!(wrong, PkiError::WrongPassword);
        assert_eq!(
            wrong.to_string(),
            "the PFX password is wrong (MAC verification failed)"
        );
        assert_eq!(
            import_bytes(&pfx, None).unwrap_err(),
            PkiError::PasswordRequired
        );

        let truncated = import_bytes(&pfx[..pfx.len() / 2], Some("Secret-1")).unwrap_err();
        assert_eq!(truncated, PkiError::Truncated("PKCS#12 (PFX)"));
        assert!(truncated.to_string().contains("truncated"), "{truncated}");
    }
    // garbage: random bytes, text, an empty file
    let mut noise = vec![0u8; 2048];
    aws_lc_rs::rand::fill(&mut noise).unwrap();
    noise[0] = 0x42;
    for junk in [noise.as_slice(), b"this is not a certificate\n", b""] {
        let e = import_bytes(junk, Some("x")).unwrap_err();
        assert_eq!(e, PkiError::UnrecognizedFormat);
        assert_eq!(
            e.to_string(),
            "file is not a PKCS#12, PKCS#7, PEM or DER certificate"
        );
    }
    // a PFX whose middle is damaged: MAC no longer matches -> reported, no panic
    let mut damaged = lab.read("x.pfx");
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0xff;
    assert!(import_bytes(&damaged, Some("Secret-1")).is_err());
}

// (d) our PFX (both encryptions) opens with `openssl pkcs12 -info`; the key round-trips.
#[test]
fn our_pfx_opens_with_openssl() {
    let lab = Lab::new();
    for alg in [KeyAlgorithm::Rsa(2048), KeyAlgorithm::EcdsaP256] {
        let key = generate(alg).unwrap();
        let cert = create_self_signed(&orga(), &names(&["orga.example"]), &key).unwrap();
        for enc in [PfxEncryption::Aes256, PfxEncryption::Legacy3Des] {
            let pfx = export_pfx(&key, &cert, &[], "pa ss:word", enc, Some("xshell test")).unwrap();
            lab.write("ours.pfx", &pfx);
            let info = lab.openssl(&[
                "pkcs12",
                "-info",
                "-nokeys",
                "-in",
                "ours.pfx",
                "-passin",
                "pass:pa ss:word",
            ]);
            assert!(
                info.contains("subject=C = DE, O = OrgA, CN = mail.orga.example"),
                "{info}"
            );
            match enc {
                PfxEncryption::Aes256 => assert!(
                    info.contains("AES-256-CBC") && info.contains("sha256"),
                    "{info}"
                ),
                PfxEncryption::Legacy3Des => assert!(
                    info.contains("3-KeyTripleDES-CBC") && info.contains("sha1"),
                    "{info}"
                ),
            }
            let wrong = lab.try_openssl(&[
                "pkcs12",
                "-info",
                "-nokeys",
                "-in",
                "ours.pfx",
                "-passin",
                "pass:nope",
            ]);
            assert!(!wrong.ok);

            // OpenSSL's view of the key = ours
            lab.openssl(&[
                "pkcs12",
                "-in",
                "ours.pfx",
                "-nocerts",
                "-nodes",
                "-passin",
                "pass:pa ss:word",
                "-out",
                "k.pem",
            ]);
            let pubkey = lab.openssl(&["pkey", "-in", "k.pem", "-pubout"]);
            assert_eq!(
                pubkey,
                xshell_core::pki::pem_encode("PUBLIC KEY", &key.spki_der().unwrap())
            );

            // export -> import gives the same key, and its signature verifies with the certificate
            let imp = import_bytes(&pfx, Some("pa ss:word")).unwrap();
            let back = imp.key.unwrap();
            assert_eq!(back.spki_der().unwrap(), key.spki_der().unwrap());
            assert_eq!(
                parse_certificate(&imp.leaf).unwrap().spki_der,
                back.spki_der().unwrap()
            );
            lab.write("msg.txt", b"Domain Security");
            lab.write("msg.sig", back.sign(b"Domain Security").unwrap());
            lab.write(
                "cert.pem",
                xshell_core::pki::pem_encode("CERTIFICATE", &cert),
            );
            lab.openssl(&[
                "x509", "-in", "cert.pem", "-pubkey", "-noout", "-out", "cert.pub",
            ]);
            let dgst = if alg == KeyAlgorithm::EcdsaP384 {
                "-sha384"
            } else {
                "-sha256"
            };
            let v = lab.openssl(&[
                "dgst",
                dgst,
                "-verify",
                "cert.pub",
                "-signature",
                "msg.sig",
                "msg.txt",
            ]);
            assert!(v.contains("Verified OK"), "{v}");
        }
    }
}

// (e) .p7b from `openssl crl2pkcs7 -nocrl -certfile`, DER and PEM, imports with its chain.
#[test]
fn p7b_imports_with_chain() {
    let lab = Lab::new();
    openssl_leaf(&lab);
    let leaf = pem_der(&lab.read("leaf.pem"));
    let ca = pem_der(&lab.read("ca.pem"));
    // CA first on purpose: the leaf is found by structure, not position
    for (form, file) in [("DER", "chain.p7b"), ("PEM", "chain.p7c")] {
        lab.openssl(&[
            "crl2pkcs7",
            "-nocrl",
            "-certfile",
            "ca.pem",
            "-certfile",
            "leaf.pem",
            "-outform",
            form,
            "-out",
            file,
        ]);
        let data = lab.read(file);
        if form == "PEM" {
            assert!(data.starts_with(b"-----BEGIN PKCS7-----"));
        }
        let imp = import_bytes(&data, None).unwrap();
        assert_eq!(
            imp.format,
            if form == "DER" {
                ImportFormat::Pkcs7
            } else {
                ImportFormat::Pem
            }
        );
        assert_eq!(imp.leaf, leaf);
        assert_eq!(imp.chain, vec![ca.clone()]);
        assert!(imp.key.is_none());
    }
    let p7 = lab.read("chain.p7b");
    assert_eq!(
        import_bytes(&p7[..p7.len() - 10], None).unwrap_err(),
        PkiError::Truncated("PKCS#7")
    );
}

// (f) a PEM with only a key is refused; PEM key + certificate imports (legacy key forms converted).
#[test]
fn pem_keys() {
    let lab = Lab::new();
    openssl_leaf(&lab);
    let e = import_bytes(&lab.read("leaf.key"), None).unwrap_err();
    assert_eq!(e, PkiError::KeyWithoutCertificate);
    assert_eq!(
        e.to_string(),
        "the file contains a private key but no certificate"
    );

    // "RSA PRIVATE KEY" (PKCS#1) + certificate: converted to PKCS#8
    lab.openssl(&[
        "rsa",
        "-in",
        "leaf.key",
        "-traditional",
        "-out",
        "leaf.rsa.key",
    ]);
    let rsa_key = lab.read("leaf.rsa.key");
    assert!(rsa_key.starts_with(b"-----BEGIN RSA PRIVATE KEY-----"));
    let mut bundle = rsa_key.clone();
    bundle.extend(lab.read("ca.pem"));
    bundle.extend(lab.read("leaf.pem"));
    let imp = import_bytes(&bundle, None).unwrap();
    assert_eq!(imp.leaf, pem_der(&lab.read("leaf.pem")));
    let key = imp.key.unwrap();
    let pkcs8 = lab.openssl(&[
        "pkcs8", "-topk8", "-nocrypt", "-in", "leaf.key", "-outform", "DER", "-out", "leaf.p8",
    ]);
    let _ = pkcs8;
    assert_eq!(
        PrivateKey::from_pkcs8_der(&lab.read("leaf.p8"))
            .unwrap()
            .spki_der()
            .unwrap(),
        key.spki_der().unwrap()
    );

    // "EC PRIVATE KEY" (SEC1) alone: refused as key-only; with a matching certificate: imported
    lab.openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "ec.key",
    ]);
    assert!(
        lab.read("ec.key")
            .starts_with(b"-----BEGIN EC PRIVATE KEY-----")
    );
    assert_eq!(
        import_bytes(&lab.read("ec.key"), None).unwrap_err(),
        PkiError::KeyWithoutCertificate
    );
    lab.openssl(&[
        "req",
        "-new",
        "-x509",
        "-key",
        "ec.key",
        "-out",
        "ec.pem",
        "-days",
        "5",
        "-subj",
        "/CN=ec.orgb.example",
    ]);
    let mut ec_bundle = lab.read("ec.key");
    ec_bundle.extend(lab.read("ec.pem"));
    let imp = import_bytes(&ec_bundle, None).unwrap();
    assert_eq!(imp.key.unwrap().algorithm(), KeyAlgorithm::EcdsaP256);

    // key that belongs to another certificate
    let mut mismatch = lab.read("ec.key");
    mismatch.extend(lab.read("leaf.pem"));
    assert_eq!(
        import_bytes(&mismatch, None).unwrap_err(),
        PkiError::KeyMismatch
    );

    // encrypted PEM key
    lab.openssl(&[
        "pkcs8", "-topk8", "-in", "leaf.key", "-passout", "pass:x", "-out", "enc.key",
    ]);
    let mut enc = lab.read("enc.key");
    enc.extend(lab.read("leaf.pem"));
    assert_eq!(
        import_bytes(&enc, None).unwrap_err(),
        PkiError::EncryptedPemKey
    );

    // a request is not a certificate
    assert_eq!(
        import_bytes(&lab.read("leaf.csr"), None).unwrap_err(),
        PkiError::IsRequest
    );
}

// (g) expired certificates parse and validate as DateInvalid.
#[test]
fn expired_is_date_invalid() {
    let lab = Lab::new();
    let now = OffsetDateTime::now_utc();

    // self-signed, made with rcgen, expired a month ago
    let mut params = rcgen::CertificateParams::new(vec!["old.orga.example".to_string()]).unwrap();
    params.not_before = now - Duration::days(400);
    params.not_after = now - Duration::days(30);
    let kp = rcgen::KeyPair::generate().unwrap();
    let old = params.self_signed(&kp).unwrap();
    let info = parse_certificate(old.der()).unwrap();
    assert!(info.is_self_signed && info.not_after < now);
    assert_eq!(
        certificate_status(old.der(), &[], &[], now),
        CertStatus::DateInvalid
    );

    // CA-issued (lab CA with explicit dates); OpenSSL agrees it has expired
    let ca = LabCa::create("Lab CA", 3650).unwrap();
    let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
    let req = create_request(&orga(), &[], &key).unwrap();
    let expired = ca
        .sign_csr_between(
            req.der(),
            now - Duration::days(400),
            now - Duration::days(35),
        )
        .unwrap();
    let ca_der = ca.cert_der().unwrap();
    assert_eq!(
        certificate_status(&expired, &[], std::slice::from_ref(&ca_der), now),
        CertStatus::DateInvalid
    );
    assert_eq!(
        certificate_status(&expired, &[], &[], now),
        CertStatus::DateInvalid
    );
    // not yet valid
    let future = ca
        .sign_csr_between(
            req.der(),
            now + Duration::days(10),
            now + Duration::days(20),
        )
        .unwrap();
    assert_eq!(
        certificate_status(&future, &[], std::slice::from_ref(&ca_der), now),
        CertStatus::DateInvalid
    );

    lab.write("ca.pem", &ca.cert_pem);
    lab.write(
        "old.pem",
        xshell_core::pki::pem_encode("CERTIFICATE", &expired),
    );
    let out = lab.try_openssl(&["verify", "-CAfile", "ca.pem", "old.pem"]);
    assert!(
        !out.ok && out.text.contains("certificate has expired"),
        "{}",
        out.text
    );
}

// (h) RSA 1024 is refused for new keys (an existing 1024-bit certificate still parses).
#[test]
fn rsa_1024_refused() {
    let e = KeyAlgorithm::from_params(Some("RSA"), Some(1024)).unwrap_err();
    assert!(matches!(e, PkiError::UnsupportedKeySize(_)));
    assert!(e.to_string().contains("1024"), "{e}");
    assert!(generate(KeyAlgorithm::Rsa(1024)).is_err());

    let lab = Lab::new();
    lab.openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:1024",
        "-nodes",
        "-keyout",
        "weak.key",
        "-out",
        "weak.pem",
        "-days",
        "5",
        "-subj",
        "/CN=weak.example",
    ]);
    let info = parse_certificate(&pem_der(&lab.read("weak.pem"))).unwrap();
    assert_eq!(info.public_key_size, 1024);
}

// (i) the lab CA signs our CSR; `openssl verify` accepts it, with both EKUs.
#[test]
fn lab_ca_passes_openssl_verify() {
    let lab = Lab::new();
    for ca_alg in [KeyAlgorithm::Rsa(2048), KeyAlgorithm::EcdsaP256] {
        let ca = LabCa::create_with("xshell Lab CA", 365, ca_alg).unwrap();
        lab.write("ca.pem", &ca.cert_pem);
        for leaf_alg in [KeyAlgorithm::Rsa(2048), KeyAlgorithm::EcdsaP256] {
            let key = generate(leaf_alg).unwrap();
            let req = create_request(&orga(), &names(&["orga.example"]), &key).unwrap();
            let leaf_pem = ca.sign_csr(req.pem().as_bytes(), 90).unwrap();
            lab.write("leaf.pem", &leaf_pem);
            let v = lab.openssl(&["verify", "-CAfile", "ca.pem", "leaf.pem"]);
            assert!(v.contains("leaf.pem: OK"), "{v}");
            for purpose in ["sslserver", "sslclient"] {
                let v = lab.openssl(&[
                    "verify", "-purpose", purpose, "-CAfile", "ca.pem", "leaf.pem",
                ]);
                assert!(v.contains("OK"), "{purpose}: {v}");
            }
            let text = lab.openssl(&["x509", "-in", "leaf.pem", "-noout", "-text"]);
            assert!(
                text.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
                "{text}"
            );
            assert!(
                text.contains("DNS:orga.example, DNS:mail.orga.example"),
                "{text}"
            );
            assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
            assert!(
                text.contains("Subject: C = DE, O = OrgA, CN = mail.orga.example"),
                "{text}"
            );
            let der = pem_der(leaf_pem.as_bytes());
            let ca_der = ca.cert_der().unwrap();
            assert_eq!(
                certificate_status(&der, &[], &[ca_der], OffsetDateTime::now_utc()),
                CertStatus::Valid
            );
        }
    }
    // our self-signed certificate is readable by OpenSSL and verifies against itself
    let key = generate(KeyAlgorithm::Rsa(2048)).unwrap();
    let ss = create_self_signed(&orga(), &[], &key).unwrap();
    lab.write("ss.pem", xshell_core::pki::pem_encode("CERTIFICATE", &ss));
    let text = lab.openssl(&["x509", "-in", "ss.pem", "-noout", "-text"]);
    assert!(
        text.contains("Issuer: C = DE, O = OrgA, CN = mail.orga.example"),
        "{text}"
    );
    let v = lab.openssl(&["verify", "-partial_chain", "-CAfile", "ss.pem", "ss.pem"]);
    assert!(v.contains("OK"), "{v}");
}

/// RSA-2048 key + CSR: xshell vs `openssl req -newkey rsa:2048 -nodes`.
/// Run with `cargo test -p xshell-core --test pki_openssl -- --ignored --nocapture`.
#[test]
#[ignore = "timing measurement, prints figures"]
fn measure_rsa_2048_key_and_csr() {
    const N: u32 = 20;
    let lab = Lab::new();
    let t = Instant::now();
    for _ in 0..N {
        let key = generate(KeyAlgorithm::Rsa(2048)).unwrap();
        create_request(&orga(), &[], &key).unwrap();
    }
    let ours = t.elapsed() / N;
    let t = Instant::now();
    for _ in 0..N {
        lab.openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "m.key",
            "-out",
            "m.csr",
            "-subj",
            "/C=DE/O=OrgA/CN=mail.orga.example",
        ]);
    }
    let theirs = t.elapsed() / N;
    println!(
        "RSA-2048 key + CSR, mean of {N}: xshell (aws-lc-rs) {ours:?}, openssl req {theirs:?} (includes process start)"
    );
}

/// Bad input never panics: every truncation and a spread of single-byte
/// corruptions of real files go through the parsers and come back as errors
/// (or, for a corruption that keeps the file valid, as a value).
#[test]
fn damaged_files_never_panic() {
    let lab = Lab::new();
    openssl_leaf(&lab);
    lab.openssl(&[
        "pkcs12",
        "-export",
        "-inkey",
        "leaf.key",
        "-in",
        "leaf.pem",
        "-certfile",
        "ca.pem",
        "-out",
        "x.pfx",
        "-passout",
        "pass:pw",
    ]);
    lab.openssl(&[
        "crl2pkcs7",
        "-nocrl",
        "-certfile",
        "leaf.pem",
        "-certfile",
        "ca.pem",
        "-outform",
        "DER",
        "-out",
        "x.p7b",
    ]);
    let cert = pem_der(&lab.read("leaf.pem"));
    let csr = pem_der(&lab.read("leaf.csr"));
    let files = [
        lab.read("x.pfx"),
        lab.read("x.p7b"),
        cert.clone(),
        lab.read("leaf.pem"),
        lab.read("leaf.key"),
    ];
    for f in &files {
        for len in 0..f.len() {
            let _ = import_bytes(&f[..len], Some("pw"));
        }
        // corruptions: every byte of the small files, a sample of the PFX (each costs a MAC check)
        let step = if f.len() > 1500 { 37 } else { 1 };
        for pos in (0..f.len()).step_by(step) {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut g = f.clone();
                g[pos] ^= flip;
                let _ = import_bytes(&g, Some("pw"));
            }
        }
    }
    for pos in 0..cert.len() {
        let mut g = cert.clone();
        g[pos] ^= 0x80;
        let _ = parse_certificate(&g);
        let _ = validate_certificate(
            &g,
            &[],
            std::slice::from_ref(&cert),
            OffsetDateTime::now_utc(),
        );
    }
    for pos in 0..csr.len() {
        let mut g = csr.clone();
        g[pos] ^= 0x80;
        let _ = parse_request(&g);
        let _ = parse_request(&csr[..pos]);
    }
    // subject-name strings built from the characters that matter to the parser
    let alphabet: Vec<char> = "CNOUSTLDX=,\"\\ é\0".chars().collect();
    let mut rnd = vec![0u8; 64 * 400];
    aws_lc_rs::rand::fill(&mut rnd).unwrap();
    for chunk in rnd.chunks(64) {
        let len = usize::from(chunk[0]) % 40;
        let s: String = chunk[1..=len]
            .iter()
            .map(|b| alphabet[usize::from(*b) % alphabet.len()])
            .collect();
        if let Ok(dn) = SubjectName::parse(&s) {
            // whatever parses renders, encodes, and parses back from its display form
            let shown = dn.to_string();
            let _ = dn.to_der();
            assert_eq!(
                SubjectName::parse(&shown).unwrap(),
                dn,
                "{s:?} shown as {shown:?}"
            );
        }
    }
}
