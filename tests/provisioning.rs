//! Provisioning from a file: `xshell export` and `xshell apply`
//! (Export-/Sync-OrganizationConfig) end to end. An exported organization
//! applied to a fresh store reproduces it; applying again changes nothing;
//! -Prune removes what the file lacks; --dry-run writes nothing; a malformed
//! file is refused with its line and reason and the store is untouched;
//! certificates named by a Source are imported and enabled.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/openssl.rs"]
mod openssl;

use common::{TestStore, assert_names};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The sample files of the documented examples (a PFX, a partner root).
fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/examples")
}

fn sample(name: &str) -> String {
    samples().join(name).to_string_lossy().into_owned()
}

/// An organization configured with the cmdlets: the walkthrough's objects.
fn configured() -> TestStore {
    let s = TestStore::new();
    s.ok(&[
        "set-transportconfig",
        "--tls-receive-domain-secure-list",
        "domaene.tld",
        "--tls-send-domain-secure-list",
        "domaene.tld,partner.example",
        "--max-send-size",
        "20MB",
    ]);
    s.ok(&["set-transportservice", "--fqdn", "mail.orga.example"]);
    s.ok(&[
        "new-accepteddomain",
        "OrgA",
        "--domain-name",
        "orga.example",
    ]);
    s.ok(&[
        "new-sendconnector",
        "Outbound",
        "--address-spaces",
        "*",
        "--domain-secure-enabled",
    ]);
    s.ok(&[
        "new-sendconnector",
        "Relay",
        "--address-spaces",
        "fabrikam.com;5",
        "--dns-routing-enabled=false",
        "--smart-hosts",
        "relay.orga.example:2525",
        "--require-tls",
    ]);
    s.ok(&[
        "new-receiveconnector",
        "Inbound",
        "--usage",
        "Internet",
        "--bindings",
        "0.0.0.0:25",
        "--domain-secure-enabled",
        "--banner",
        "220 mail.orga.example ready",
    ]);
    s.ok(&["import-certificate", &sample("partner-root.cer")]);
    s.ok(&[
        "import-exchangecertificate",
        &sample("orga.pfx"),
        "--password-file",
        &sample("orga.pass"),
        "--friendly-name",
        "OrgA SMTP",
    ]);
    s.ok(&[
        "enable-exchangecertificate",
        "4F7B2F9AC8244F2042F6DBC515931CE7E295A961",
        "--services",
        "SMTP",
    ]);
    s
}

/// Everything the Get- cmdlets show, for comparing two stores.
fn state(s: &TestStore) -> Vec<Value> {
    let mut all = Vec::new();
    for get in [
        "get-transportconfig",
        "get-transportservice",
        "get-accepteddomain",
        "get-sendconnector",
        "get-receiveconnector",
        "get-trustedrootcertificate",
        "get-exchangecertificate",
    ] {
        for mut item in s.json(&[get]) {
            if let Some(o) = item.as_object_mut() {
                o.remove("Revision");
            }
            all.push(item);
        }
    }
    all
}

/// Writes `text` to a file next to the test store; returns its path.
fn write(s: &TestStore, name: &str, text: &str) -> String {
    let p = s.dir().parent().unwrap().join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

/// The exported file of `s`, with the certificate's Source filled in.
fn exported_with_source(s: &TestStore) -> String {
    let text = s.ok(&["export"]);
    assert!(text.contains("Source: null"), "{text}");
    text.replace(
        "Source: null",
        &format!(
            "Source: {{Path: '{}', PasswordFile: '{}'}}",
            sample("orga.pfx"),
            sample("orga.pass")
        ),
    )
}

#[test]
fn export_then_apply_on_a_fresh_store_reproduces_the_configuration() {
    let a = configured();
    let text = exported_with_source(&a);
    // Nothing secret in the file: no key, no password.
    assert!(
        !text.contains("PRIVATE KEY") && !text.contains("KeyId"),
        "{text}"
    );
    assert!(text.contains("-----BEGIN CERTIFICATE-----"), "{text}");

    let b = TestStore::new();
    let file = write(&b, "org.yaml", &text);
    let out = b.ok(&["apply", &file]);
    assert_names(
        &out,
        &[
            "+ SendConnector Outbound",
            "+ SendConnector Relay",
            "+ ReceiveConnector Inbound",
            "+ AcceptedDomain OrgA",
            "+ TrustedRoot 0D3BDEF9BE2B9B81C520A1392273907DA0CD1230",
            "+ ExchangeCertificate 4F7B2F9AC8244F2042F6DBC515931CE7E295A961 (imported from",
            "~ TransportConfig: MaxSendSize 10 MB",
            "~ TransportService: Fqdn $null -> mail.orga.example",
            "revision 1.",
        ],
    );
    assert_eq!(state(&a), state(&b));
    assert_eq!(b.revision(), 1, "one apply is one transaction");
    // And the export of the copy is the export of the original.
    assert_eq!(a.ok(&["export"]), b.ok(&["export"]));
    // The cmdlet form, in the shell language, writes the same file.
    let p = b.dir().parent().unwrap().join("shell.yaml");
    b.ok(&[
        "-c",
        &format!("Export-OrganizationConfig -Path '{}'", p.display()),
    ]);
    assert_eq!(
        std::fs::read_to_string(&p).unwrap().trim_end(),
        b.ok(&["export"]).trim_end()
    );
}

#[test]
fn a_second_apply_reports_no_change_and_keeps_the_revision() {
    let a = configured();
    let b = TestStore::new();
    let file = write(&b, "org.yaml", &exported_with_source(&a));
    b.ok(&["apply", &file]);
    let before = b.config_bytes().unwrap();
    let out = b.ok(&["apply", &file]);
    assert!(out.starts_with("No changes"), "{out}");
    assert_eq!(b.config_bytes().unwrap(), before);
    assert_eq!(b.revision(), 1);
    // Applying a store's own export to it changes nothing either.
    let own = write(&a, "own.yaml", &a.ok(&["export"]));
    let rev = a.revision();
    assert!(a.ok(&["apply", &own]).starts_with("No changes"));
    assert_eq!(a.revision(), rev);
}

#[test]
fn prune_removes_objects_the_file_does_not_list() {
    let s = configured();
    let file = write(&s, "org.yaml", &s.ok(&["export"]));
    s.ok(&[
        "new-sendconnector",
        "Extra",
        "--address-spaces",
        "extra.example",
    ]);
    s.ok(&["set-sendconnector", "Outbound", "--port", "2525"]);
    // Without -Prune the extra connector stays; the changed one is put back.
    let out = s.ok(&["apply", &file]);
    assert_eq!(
        out.trim(),
        format!(
            "~ SendConnector Outbound: Port 2525 -> 25\nApplied 1 change; the store is at revision {}.",
            s.revision()
        )
    );
    let names = |s: &TestStore| -> Vec<String> {
        s.json(&["get-sendconnector"])
            .iter()
            .map(|c| c["Name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&s), ["Outbound", "Relay", "Extra"]);
    let out = s.ok(&["apply", &file, "--prune"]);
    assert!(out.starts_with("- SendConnector Extra\n"), "{out}");
    assert_eq!(names(&s), ["Outbound", "Relay"]);
    // A section the file leaves out is not managed, even with -Prune.
    let only_send = write(
        &s,
        "send.yaml",
        "SchemaVersion: 1\nSendConnectors:\n- Name: Outbound\n  AddressSpaces: '*'\n  DomainSecureEnabled: true\n",
    );
    let out = s.ok(&["apply", &only_send, "--prune"]);
    assert_eq!(out.lines().next(), Some("- SendConnector Relay"), "{out}");
    assert_eq!(s.json(&["get-receiveconnector"]).len(), 1);
    assert_eq!(s.json(&["get-trustedrootcertificate"]).len(), 1);
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let a = configured();
    let text = exported_with_source(&a);
    // On a fresh store: not even the store folder is created.
    let b = TestStore::new();
    let file = write(&b, "org.yaml", &text);
    for flag in ["--dry-run", "--what-if"] {
        let r = b.run(&["apply", &file, flag]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(
            r.stdout.contains("+ SendConnector Outbound"),
            "{}",
            r.stdout
        );
        assert!(r.stderr.contains("What if"), "{}", r.stderr);
        assert!(!b.dir().exists(), "{flag} created the store");
    }
    // On a configured store: byte-identical, and no key file written.
    let s = TestStore::new();
    s.ok(&["new-sendconnector", "Outbound", "--address-spaces", "*"]);
    let before = s.config_bytes();
    let file = write(&s, "org.yaml", &text);
    let out = s.ok(&["apply", &file, "--dry-run"]);
    assert!(
        out.contains("~ SendConnector Outbound: DomainSecureEnabled False -> True"),
        "{out}"
    );
    assert_eq!(s.config_bytes(), before);
    assert!(!s.dir().join("keys").exists());
    // The shell form: -WhatIf.
    s.ok(&[
        "-c",
        &format!("Sync-OrganizationConfig -Path '{file}' -WhatIf"),
    ]);
    assert_eq!(s.config_bytes(), before);
}

#[test]
fn malformed_files_are_refused_with_line_and_reason_and_the_store_is_untouched() {
    let s = configured();
    let head = "SchemaVersion: 1\nSendConnectors:\n- Name: Outbound\n  AddressSpaces: ['*']\n";
    let cases: &[(&str, String, &[&str])] = &[
        (
            "syntax.yaml",
            format!("{head}  Port: [25\n"),
            &[":6:1:", "did not find expected"],
        ),
        (
            "unknown.yaml",
            format!("{head}  RequireTls: true\n"),
            &[":5:3:", "unknown property 'RequireTls'", "did you mean RequireTLS"],
        ),
        (
            "rule.yaml",
            format!("{head}  RequireTLS: true\n  IgnoreSTARTTLS: true\n"),
            &[":3:3:", "SendConnectors[0]", "RequireTLS cannot be combined with IgnoreSTARTTLS"],
        ),
        (
            "type.yaml",
            format!("{head}  Port: 70000\n"),
            &[":5:9:", "SendConnectors[0].Port", "70000"],
        ),
        (
            "value.yaml",
            "SchemaVersion: 1\nTransportConfig:\n  TLSSendDomainSecureList: ['*.partner.example']\n"
                .to_string(),
            &[":3:28:", "TLSSendDomainSecureList"],
        ),
        (
            "missing.yaml",
            "SchemaVersion: 1\nReceiveConnectors:\n- Name: Inbound\n".to_string(),
            &[":3:3:", "needs the property Bindings"],
        ),
        (
            "section.yaml",
            "SchemaVersion: 1\nSendConectors: []\n".to_string(),
            &[":2:1:", "SendConectors"],
        ),
        (
            "schema.yaml",
            "SchemaVersion: 9\n".to_string(),
            &[":1:1:", "SchemaVersion 9"],
        ),
    ];
    let before = s.config_bytes();
    for (name, text, words) in cases {
        let file = write(&s, name, text);
        let line = s.fails(1, &["apply", &file, "--prune"]);
        assert_names(&line, &[&format!("{file}:")]);
        assert_names(&line, words);
    }
    // Rules between objects name the objects.
    let dup = write(
        &s,
        "dup.yaml",
        "SchemaVersion: 1\nReceiveConnectors:\n\
         - {Name: A, Bindings: '0.0.0.0:25', RemoteIPRanges: 10.0.0.0/8}\n\
         - {Name: B, Bindings: '0.0.0.0:25', RemoteIPRanges: 10.0.0.0/8}\n",
    );
    let line = s.fails(1, &["apply", &dup]);
    assert_names(
        &line,
        &["ReceiveConnector", "already listens on 0.0.0.0:25"],
    );
    // A certificate the store lacks needs a Source.
    let nosrc = write(
        &s,
        "nosrc.yaml",
        "SchemaVersion: 1\nCertificates:\n- Thumbprint: 00112233445566778899AABBCCDDEEFF00112233\n",
    );
    let line = s.fails(1, &["apply", &nosrc]);
    assert_names(
        &line,
        &["00112233445566778899AABBCCDDEEFF00112233", "Source"],
    );
    assert_eq!(s.config_bytes(), before);
}

/// A certificate and its PKCS#12 made by openssl; returns its thumbprint.
fn openssl_pfx(dir: &Path, password: &str) -> String {
    let run = |args: &[&str]| openssl::text(dir, args);
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ci.key",
        "-out",
        "ci.crt",
        "-days",
        "30",
        "-subj",
        "/O=CI/CN=mail.ci.example",
        "-addext",
        "subjectAltName=DNS:mail.ci.example",
        "-addext",
        "extendedKeyUsage=serverAuth,clientAuth",
    ]);
    run(&[
        "pkcs12",
        "-export",
        "-inkey",
        "ci.key",
        "-in",
        "ci.crt",
        "-out",
        "ci.pfx",
        "-passout",
        &format!("pass:{password}"),
    ]);
    let fp = run(&["x509", "-in", "ci.crt", "-noout", "-fingerprint", "-sha1"]);
    fp.trim()
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "")
        .to_ascii_uppercase()
}

#[test]
fn certificates_named_by_a_source_are_imported_and_enabled_for_smtp() {
    let s = TestStore::new();
    let dir = s.dir().parent().unwrap().to_path_buf();
    let tp = openssl_pfx(&dir, "s3cret pass");
    let text = format!(
        "SchemaVersion: 1\nCertificates:\n- Thumbprint: {tp}\n  Services: [SMTP]\n  DefaultSmtp: true\n  \
         FriendlyName: CI\n  Source: {{Path: ci.pfx, PasswordEnv: CI_PFX_PASSWORD}}\n"
    );
    let file = write(&s, "org.yaml", &text);
    // No password: refused, and nothing written (no key file either).
    let line = s.fails(1, &["apply", &file]);
    assert_names(&line, &[&tp, "CI_PFX_PASSWORD"]);
    // A wrong password: the same.
    let r = s
        .cmd()
        .env("CI_PFX_PASSWORD", "wrong")
        .args(["apply", &file])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1));
    assert!(!s.dir().exists());

    let r = s
        .cmd()
        .env("CI_PFX_PASSWORD", "s3cret pass")
        .args(["apply", &file])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "+ ExchangeCertificate {tp} (imported from ci.pfx)"
        )),
        "{stdout}"
    );
    assert!(!stdout.contains("s3cret"));
    let certs = s.json(&["get-exchangecertificate"]);
    assert_eq!(certs.len(), 1);
    let c = &certs[0];
    assert_eq!(c["Thumbprint"], tp.as_str());
    assert_eq!(c["Services"], "SMTP");
    assert_eq!(c["ServicesStringForm"], "....S..");
    assert_eq!(c["HasPrivateKey"], true);
    assert_eq!(c["IsDefaultSmtpCertificate"], true);
    assert_eq!(c["FriendlyName"], "CI");
    assert_eq!(c["PrivateKeyExportable"], false);
    assert_eq!(std::fs::read_dir(s.dir().join("keys")).unwrap().count(), 1);
    // Present now: the Source is not read again (no password needed).
    let out = s.ok(&["apply", &file]);
    assert!(out.starts_with("No changes"), "{out}");
    // The file changes the services of a stored certificate.
    let text = text.replace(
        "Services: [SMTP]\n  DefaultSmtp: true",
        "Services: [SMTP, IIS]",
    );
    let file = write(&s, "org.yaml", &text);
    let out = s.ok(&["apply", &file]);
    assert_names(
        &out,
        &[
            &format!("~ ExchangeCertificate {tp}: Services ....S.. -> ...WS.."),
            &format!("~ ExchangeCertificate {tp}: DefaultSmtp True -> False"),
        ],
    );
}
