//! The README's CI snippet, run as it is written (bash, `set -eu`): it
//! provisions a store with `xshell apply`, starts the engine on loopback,
//! and gates on Test-SmtpConnectivity (passes) and Test-DomainSecurity
//! (fails here: the partner's smart host is a closed port), so the script
//! stops with exit code 1 after writing the JSON verdict. Bounded: the
//! script runs under `timeout`.
#![allow(clippy::unwrap_used)]

mod transport_support;

use std::process::{Command, Stdio};

use serde_json::Value;
use transport_support::*;

/// The first ```sh block after the README's CI heading.
fn readme_ci_block() -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme
        .find("## CI: provision, then gate on the checks")
        .unwrap()..];
    let start = section.find("```sh\n").unwrap() + 6;
    let end = start + section[start..].find("```").unwrap();
    section[start..end].to_string()
}

#[test]
fn readme_ci_snippet_provisions_and_gates() {
    let lab = Lab::new();
    let port = free_port();
    let (_closed, closed_port) = unique_listener("127.0.0.1");
    drop(_closed);
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/examples");
    for f in ["orga.pfx", "orga.pass"] {
        std::fs::copy(format!("{samples}/{f}"), lab.work.join(f)).unwrap();
    }
    std::fs::write(
        lab.work.join("orga.yaml"),
        format!(
            "SchemaVersion: 1
TransportService:
  Fqdn: mail.orga.example
AcceptedDomains:
- Name: OrgA
  DomainName: orga.example
SendConnectors:
- Name: Partner
  AddressSpaces: partner.example
  DNSRoutingEnabled: false
  SmartHosts: 127.0.0.1
  Port: {closed_port}
ReceiveConnectors:
- Name: Inbound
  Usage: Internet
  Bindings: 127.0.0.1:{port}
  AuthMechanism: Tls
Certificates:
- Thumbprint: 4F7B2F9AC8244F2042F6DBC515931CE7E295A961
  Services: SMTP
  DefaultSmtp: true
  Source:
    Path: orga.pfx
    PasswordFile: orga.pass
"
        ),
    )
    .unwrap();
    let bin_dir = xshell_bin().parent().unwrap().to_path_buf();
    assert!(engine_bin().is_file());
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = readme_ci_block();
    let out = Command::new("timeout")
        .args(["120", "bash", "-c", &script])
        .current_dir(&lab.work)
        .env("PATH", path)
        .env_remove("XSHELL_STORE")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // apply and Test-SmtpConnectivity passed; Test-DomainSecurity failed
    // the script (set -e) with exit code 1.
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("Applied"), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Inbound") && stdout.contains("Success"),
        "Test-SmtpConnectivity's table: {stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("Test-DomainSecurity: verdict Fail"),
        "{stderr}"
    );
    let ds: Value =
        serde_json::from_str(&std::fs::read_to_string(lab.work.join("ds.json")).unwrap()).unwrap();
    assert_eq!(ds[0]["Verdict"], "Fail", "{ds:#}");
    assert_eq!(ds[0]["DomainSecured"], false, "{ds:#}");
    assert!(ds[0]["Steps"].as_array().unwrap().len() >= 3, "{ds:#}");
    // The engine the script started was stopped by its trap.
    let log = std::fs::read_to_string(lab.work.join("engine.log")).unwrap();
    assert!(log.contains("listening addr=127.0.0.1"), "{log}");
}
