//! The certificate cmdlets end to end: the xshell binary against a temporary
//! store, checked with the real `openssl` command (OpenSSL 3).
#![allow(clippy::unwrap_used)]

#[path = "common/openssl.rs"]
mod openssl;

use assert_cmd::Command;
use openssl::Key;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

struct Lab {
    dir: tempfile::TempDir,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Lab {
    fn new() -> Lab {
        Lab {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn store(&self) -> PathBuf {
        self.path("store")
    }

    fn config(&self) -> Vec<u8> {
        std::fs::read(self.store().join("config.json")).unwrap_or_default()
    }

    fn xshell_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = Command::cargo_bin("xshell").unwrap();
        c.current_dir(self.dir.path())
            .env_remove("XSHELL_PFX_PASSWORD")
            .arg("--store")
            .arg(self.store())
            .args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let r = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(!r.stderr.contains("panicked"), "panic: {}", r.stderr);
        r
    }

    fn xshell(&self, args: &[&str]) -> Run {
        self.xshell_env(args, &[])
    }

    fn ok(&self, args: &[&str]) -> Run {
        let r = self.xshell(args);
        assert_eq!(r.code, 0, "xshell {args:?} failed: {}", r.stderr);
        r
    }

    fn openssl(&self, args: &[&str]) -> String {
        openssl::text(self.dir.path(), args)
    }

    fn write(&self, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, data).unwrap();
        p
    }

    /// All certificates as JSON objects.
    fn certs(&self) -> Vec<serde_json::Value> {
        let r = self.ok(&["get-exchangecertificate", "-o", "json"]);
        serde_json::from_str::<serde_json::Value>(&r.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    fn cert(&self, tp: &str) -> serde_json::Value {
        let r = self.ok(&["get-exchangecertificate", tp, "-o", "json"]);
        serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()[0].clone()
    }

    /// An OpenSSL CA in `name`.key / `name`.pem.
    fn openssl_ca(&self, name: &str) {
        openssl::ca(self.dir.path(), name, name, Key::Rsa2048);
    }

    /// A self-signed server certificate and key made by OpenSSL.
    fn openssl_leaf(&self, name: &str, cn: &str) {
        openssl::self_signed(self.dir.path(), name, "crt", cn, Key::Rsa2048, true);
    }
}

fn tp_of(v: &serde_json::Value) -> String {
    v["Thumbprint"].as_str().unwrap().to_string()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn request_signed_by_openssl_completes_and_becomes_default_smtp() {
    let lab = Lab::new();
    // Walkthrough step 2, CLI form.
    lab.ok(&[
        "request-cert",
        "--subject-name",
        "C=DE,O=OrgA,CN=mail.orga.example",
        "--domain-name",
        "mail.orga.example,orga.example",
        "--path",
        "orga.req",
    ]);
    let req = std::fs::read_to_string(lab.path("orga.req")).unwrap();
    assert!(req.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
    lab.openssl(&["req", "-in", "orga.req", "-verify", "-noout"]);
    let pending = lab.certs();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["Status"], "PendingRequest");
    assert_eq!(pending[0]["HasPrivateKey"], true);
    // The pending thumbprint is the SHA-1 of the request DER.
    lab.openssl(&[
        "req",
        "-in",
        "orga.req",
        "-outform",
        "DER",
        "-out",
        "orga.req.der",
    ]);
    let sha1 = lab.openssl(&["dgst", "-sha1", "-r", "orga.req.der"]);
    assert_eq!(
        sha1.split_whitespace().next().unwrap().to_ascii_uppercase(),
        tp_of(&pending[0])
    );

    // Step 3: an OpenSSL CA issues it.
    lab.openssl_ca("OrgA Root");
    lab.write(
        "ext.cnf",
        "subjectAltName=DNS:mail.orga.example,DNS:orga.example\nextendedKeyUsage=serverAuth,clientAuth\n",
    );
    lab.openssl(&[
        "x509",
        "-req",
        "-in",
        "orga.req",
        "-CA",
        "OrgA Root.pem",
        "-CAkey",
        "OrgA Root.key",
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        "ext.cnf",
        "-out",
        "orga.cer",
    ]);

    // Step 4: the issued certificate completes the request.
    let r = lab.ok(&["import-exchangecertificate", "--path", "orga.cer"]);
    assert!(r.stdout.contains("CN=mail.orga.example, O=OrgA, C=DE"));
    let all = lab.certs();
    assert_eq!(all.len(), 1, "the request was completed, not added to");
    let c = &all[0];
    let fp = lab.openssl(&["x509", "-in", "orga.cer", "-noout", "-fingerprint", "-sha1"]);
    assert_eq!(
        tp_of(c),
        fp.trim().rsplit('=').next().unwrap().replace(':', "")
    );
    assert_eq!(c["HasPrivateKey"], true);
    assert_eq!(c["Status"], "Untrusted");
    assert_eq!(c["RootCAType"], "Unknown");
    let tp = tp_of(c);

    // Step 1: trust the root; a location other than Root is refused.
    let bad = lab.xshell(&[
        "import-certificate",
        "--file-path",
        "OrgA Root.pem",
        "--cert-store-location",
        r"Cert:\LocalMachine\My",
    ]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains(r"Cert:\LocalMachine\Root"),
        "{}",
        bad.stderr
    );
    lab.ok(&[
        "import-certificate",
        "--file-path",
        "OrgA Root.pem",
        "--cert-store-location",
        r"cert:\localmachine\root",
    ]);
    let again = lab.ok(&["import-certificate", "--file-path", "OrgA Root.pem"]);
    assert!(again.stderr.contains("already trusted"));
    let c = lab.cert(&tp);
    assert_eq!(c["Status"], "Valid");
    assert_eq!(c["RootCAType"], "Registry");
    // A non-CA certificate is refused as a root unless -Force.
    let leaf = lab.xshell(&["import-certificate", "--file-path", "orga.cer"]);
    assert_eq!(leaf.code, 1);
    assert!(leaf.stderr.contains("not a CA certificate"));

    lab.ok(&["enable-exchangecertificate", &tp, "--services", "SMTP"]);
    let c = lab.cert(&tp);
    assert_eq!(c["Services"], "SMTP");
    assert_eq!(c["ServicesStringForm"], "....S..");
    assert_eq!(c["IsDefaultSmtpCertificate"], true);
    // -DomainName: the first result is the one the transport picks.
    let r = lab.ok(&[
        "get-exchangecertificate",
        "--domain-name",
        "orga.example",
        "-o",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(tp_of(&v[0]), tp);
    // Re-importing is a no-op with a warning.
    let before = lab.config();
    let r = lab.ok(&["import-exchangecertificate", "--path", "orga.cer"]);
    assert!(r.stderr.contains("already in the store"));
    assert_eq!(lab.config(), before);
}

#[test]
fn openssl_pfx_imports_with_every_password_source_and_exports_back() {
    let lab = Lab::new();
    let pw = "S3cret-pfx";
    let pubkey = |lab: &Lab, n: &str| {
        lab.openssl_leaf(n, &format!("{n}.orga.example"));
        lab.openssl(&["pkey", "-in", &format!("{n}.key"), "-pubout"])
    };
    let modern = pubkey(&lab, "modern");
    let legacy = pubkey(&lab, "legacy");
    let envp = pubkey(&lab, "envp");
    for (n, extra) in [
        ("modern", None),
        ("legacy", Some("-legacy")),
        ("envp", None),
    ] {
        let (k, c, o) = (format!("{n}.key"), format!("{n}.crt"), format!("{n}.pfx"));
        let mut args = vec![
            "pkcs12", "-export", "-inkey", &k, "-in", &c, "-out", &o, "-passout",
        ];
        let pass = format!("pass:{pw}");
        args.push(&pass);
        if let Some(e) = extra {
            args.push(e);
        }
        lab.openssl(&args);
    }
    lab.write("pw.txt", format!("{pw}\n"));
    lab.ok(&[
        "import-exchangecertificate",
        "--path",
        "modern.pfx",
        "--password",
        pw,
        "--private-key-exportable",
    ]);
    lab.ok(&[
        "import-exchangecertificate",
        "--path",
        "legacy.pfx",
        "--password-file",
        "pw.txt",
        "--private-key-exportable",
    ]);
    let r = lab.xshell_env(
        &[
            "import-exchangecertificate",
            "--path",
            "envp.pfx",
            "--private-key-exportable",
        ],
        &[("XSHELL_PFX_PASSWORD", pw)],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // No password anywhere and no terminal: a clear error naming the options.
    let r = lab.xshell(&["import-exchangecertificate", "--path", "envp.pfx"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("--password-file") && r.stderr.contains("XSHELL_PFX_PASSWORD"),
        "{}",
        r.stderr
    );

    let certs = lab.certs();
    assert_eq!(certs.len(), 3);
    for (n, expected) in [("modern", &modern), ("legacy", &legacy), ("envp", &envp)] {
        let c = certs
            .iter()
            .find(|c| c["Subject"] == format!("CN={n}.orga.example"))
            .unwrap();
        assert_eq!(c["HasPrivateKey"], true);
        let tp = tp_of(c);
        for (flag, out) in [
            (None, format!("{n}-aes.pfx")),
            (Some("--legacy-encryption"), format!("{n}-3des.pfx")),
        ] {
            let mut args = vec![
                "export-exchangecertificate",
                &tp,
                "--path",
                &out,
                "--password-file",
                "pw.txt",
            ];
            if let Some(f) = flag {
                args.push(f);
            }
            lab.ok(&args);
            assert_eq!(mode(&lab.path(&out)), 0o600);
            let pass = format!("pass:{pw}");
            lab.openssl(&["pkcs12", "-info", "-in", &out, "-passin", &pass, "-noout"]);
            lab.openssl(&[
                "pkcs12", "-in", &out, "-passin", &pass, "-nocerts", "-nodes", "-out", "k.pem",
            ]);
            let back = lab.openssl(&["pkey", "-in", "k.pem", "-pubout"]);
            assert_eq!(&back, expected, "{out}: the key did not round-trip");
        }
    }
}

#[test]
fn bad_input_fails_clearly_and_leaves_the_store_unchanged() {
    let lab = Lab::new();
    // Setup: a default SMTP certificate with a non-exportable key, a
    // certificate without a key, a second keyed certificate.
    lab.openssl_leaf("one", "one.orga.example");
    lab.openssl_leaf("two", "two.orga.example");
    lab.openssl_leaf("nokey", "nokey.orga.example");
    for n in ["one", "two"] {
        lab.openssl(&[
            "pkcs12",
            "-export",
            "-inkey",
            &format!("{n}.key"),
            "-in",
            &format!("{n}.crt"),
            "-out",
            &format!("{n}.pfx"),
            "-passout",
            "pass:right",
        ]);
    }
    let one = lab.ok(&[
        "import-exchangecertificate",
        "one.pfx",
        "--password",
        "right",
        "-o",
        "json",
    ]);
    let one = tp_of(&serde_json::from_str::<serde_json::Value>(&one.stdout).unwrap()[0]);
    let two = lab.ok(&[
        "import-exchangecertificate",
        "two.pfx",
        "--password",
        "right",
        "-o",
        "json",
    ]);
    let two = tp_of(&serde_json::from_str::<serde_json::Value>(&two.stdout).unwrap()[0]);
    let r = lab.ok(&["import-exchangecertificate", "nokey.crt", "-o", "json"]);
    assert!(r.stderr.contains("no private key"), "{}", r.stderr);
    let nokey = tp_of(&serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()[0]);
    assert_eq!(lab.cert(&nokey)["HasPrivateKey"], false);
    lab.ok(&["enable-exchangecertificate", &one, "--services", "SMTP"]);
    assert_eq!(lab.cert(&one)["IsDefaultSmtpCertificate"], true);

    let pfx = std::fs::read(lab.path("one.pfx")).unwrap();
    lab.write("truncated.pfx", &pfx[..pfx.len() / 2]);
    lab.write(
        "garbage.bin",
        b"this is not a certificate at all\x00\x01\x02",
    );
    std::fs::copy(lab.path("one.key"), lab.path("onlykey.pem")).unwrap();

    let config = lab.config();
    let keys = std::fs::read_dir(lab.store().join("keys")).unwrap().count();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "import-exchangecertificate",
                "two.pfx",
                "--password",
                "wrong",
            ],
            "password is wrong",
        ),
        (
            vec![
                "import-exchangecertificate",
                "truncated.pfx",
                "--password",
                "right",
            ],
            "truncated.pfx",
        ),
        (
            vec!["import-exchangecertificate", "garbage.bin"],
            "not a PKCS#12, PKCS#7, PEM or DER",
        ),
        (
            vec!["import-exchangecertificate", "onlykey.pem"],
            "private key but no certificate",
        ),
        (
            vec![
                "request-cert",
                "--subject-name",
                "CN=a.orga.example",
                "--key-size",
                "1024",
            ],
            "1024",
        ),
        (
            vec![
                "new-exchangecertificate",
                "--subject-name",
                "CN=a.orga.example,BOGUS",
            ],
            "SubjectName",
        ),
        (
            vec![
                "export-exchangecertificate",
                &one,
                "--path",
                "x.pfx",
                "--password",
                "p",
            ],
            "not exportable",
        ),
        (
            vec!["remove-exchangecertificate", &one, "--confirm=false"],
            "default SMTP certificate",
        ),
        (
            vec!["enable-exchangecertificate", &nokey, "--services", "SMTP"],
            "no private key",
        ),
        (
            vec!["enable-exchangecertificate", &two, "--services", "SMTP"],
            "-Force",
        ),
    ];
    for (args, needle) in cases {
        let r = lab.xshell(&args);
        assert_eq!(
            r.code, 1,
            "{args:?} should fail with exit 1: {}{}",
            r.stdout, r.stderr
        );
        assert!(
            r.stderr.contains(needle),
            "{args:?}: error lacks {needle:?}: {}",
            r.stderr
        );
        assert!(r.stderr.starts_with("error:"), "{args:?}: {}", r.stderr);
        assert_eq!(lab.config(), config, "{args:?} changed the store");
        assert_eq!(
            std::fs::read_dir(lab.store().join("keys")).unwrap().count(),
            keys,
            "{args:?} left a key file"
        );
    }
    assert!(!lab.path("x.pfx").exists());

    // With -Force the default moves; then the old one can be removed and its key file goes.
    lab.ok(&[
        "enable-exchangecertificate",
        &two,
        "--services",
        "SMTP",
        "--force",
    ]);
    assert_eq!(lab.cert(&two)["IsDefaultSmtpCertificate"], true);
    assert_eq!(lab.cert(&one)["IsDefaultSmtpCertificate"], false);
    lab.ok(&["remove-exchangecertificate", &one, "--confirm=false"]);
    assert_eq!(
        std::fs::read_dir(lab.store().join("keys")).unwrap().count(),
        keys - 1
    );
    // A connector naming the certificate in TlsCertificateName keeps it.
    let subject = lab.cert(&two)["Subject"].as_str().unwrap().to_string();
    let name = format!("<I>{subject}<S>{subject}");
    lab.ok(&[
        "new-sendconnector",
        "Outbound",
        "--address-spaces",
        "*",
        "--tls-certificate-name",
        &name,
    ]);
    lab.ok(&["enable-exchangecertificate", &nokey, "--services", "None"]);
    lab.ok(&["enable-exchangecertificate", &two, "--services", "None"]);
    let r = lab.xshell(&["remove-exchangecertificate", &two, "--force"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("send connector 'Outbound'"),
        "{}",
        r.stderr
    );
}

#[test]
fn expired_certificate_imports_as_date_invalid() {
    use xshell_core::pki::ca::LabCa;
    use xshell_core::pki::dn::SubjectName;
    use xshell_core::pki::keys::{KeyAlgorithm, generate};
    use xshell_core::pki::request::create_request;
    let lab = Lab::new();
    let ca = LabCa::create("Old CA", 3650).unwrap();
    let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
    let req = create_request(
        &SubjectName::parse("CN=old.orga.example").unwrap(),
        &[],
        &key,
    )
    .unwrap();
    let now = OffsetDateTime::now_utc();
    let der = ca
        .sign_csr_between(
            req.der(),
            now - Duration::days(400),
            now - Duration::days(35),
        )
        .unwrap();
    lab.write("old.der", der);
    let r = lab.ok(&["import-exchangecertificate", "old.der", "-o", "json"]);
    assert!(r.stderr.contains("expired"), "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0]["Status"], "DateInvalid");
}

#[test]
fn keys_are_private_files_and_never_in_output() {
    let lab = Lab::new();
    lab.openssl_leaf("k", "k.orga.example");
    lab.openssl(&[
        "pkcs12", "-export", "-inkey", "k.key", "-in", "k.crt", "-out", "k.pfx", "-passout",
        "pass:pw",
    ]);
    let mut outputs = String::new();
    for args in [
        vec![
            "import-exchangecertificate",
            "k.pfx",
            "--password",
            "pw",
            "--private-key-exportable",
        ],
        vec![
            "new-exchangecertificate",
            "--domain-name",
            "self.orga.example",
            "--key-algorithm",
            "ECDSA-P384",
        ],
        vec!["request-cert", "--domain-name", "req.orga.example"],
        vec!["get-exchangecertificate"],
        vec!["get-exchangecertificate", "-o", "json"],
        vec!["get-exchangecertificate", "-o", "list"],
    ] {
        let r = lab.ok(&args);
        outputs.push_str(&r.stdout);
        outputs.push_str(&r.stderr);
    }
    assert!(
        outputs.contains("-----BEGIN CERTIFICATE REQUEST-----"),
        "request-cert without a path prints the request"
    );
    let keys = lab.store().join("keys");
    assert_eq!(mode(&keys), 0o700);
    let files: Vec<PathBuf> = std::fs::read_dir(&keys)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 3);
    let mut key_texts = vec![std::fs::read_to_string(lab.path("k.key")).unwrap()];
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
        key_texts.push(std::fs::read_to_string(f).unwrap());
    }
    assert!(!outputs.contains("PRIVATE KEY"));
    let config = String::from_utf8(lab.config()).unwrap();
    assert!(!config.contains("PRIVATE KEY"));
    for text in key_texts {
        for line in text
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 32)
        {
            assert!(!outputs.contains(line), "key bytes in the output");
            assert!(!config.contains(line), "key bytes in config.json");
        }
    }
}

#[test]
fn lab_ca_issues_certificates_openssl_verifies() {
    let lab = Lab::new();
    lab.ok(&["ca-new", "--name", "Lab Root", "--path", "labca"]);
    assert_eq!(mode(&lab.path("labca/ca.key")), 0o600);
    // Not replaced by accident.
    assert_eq!(
        lab.xshell(&["ca-new", "--name", "Lab Root", "--path", "labca"])
            .code,
        1
    );
    lab.ok(&[
        "request-cert",
        "--subject-name",
        "CN=mail.orgb.example",
        "--path",
        "orgb.req",
    ]);
    lab.ok(&[
        "ca-sign",
        "--ca",
        "labca",
        "--request-file",
        "orgb.req",
        "--path",
        "orgb.cer",
        "--validity-days",
        "30",
    ]);
    let v = lab.openssl(&["verify", "-CAfile", "labca/ca.pem", "orgb.cer"]);
    assert!(v.contains("orgb.cer: OK"));
    let text = lab.openssl(&[
        "x509",
        "-in",
        "orgb.cer",
        "-noout",
        "-ext",
        "extendedKeyUsage",
    ]);
    assert!(
        text.contains("TLS Web Server Authentication")
            && text.contains("TLS Web Client Authentication")
    );
    // And the issued certificate completes the request, trusted via Import-Certificate.
    lab.ok(&["import-exchangecertificate", "orgb.cer"]);
    lab.ok(&["import-certificate", "--file-path", "labca/ca.pem"]);
    let c = &lab.certs()[0];
    assert_eq!(c["Status"], "Valid");
    assert_eq!(c["HasPrivateKey"], true);
}
