//! testssl.sh (Debian package `testssl.sh`, 3.0.x) scans the STARTTLS side
//! of a receive connector: protocols, cipher categories, server
//! preferences and the vulnerability checks, with JSON output. The
//! assertions read the JSON: no protocol below TLS 1.2, no weak cipher
//! category, no finding of severity MEDIUM or above (every finding of
//! severity LOW or above is printed on failure so a human can judge), and
//! the engine still serves a normal STARTTLS session after the scan.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod transport_support;

use std::process::{Command, Stdio};
use std::time::Instant;

use transport_support::*;

/// The findings (flat JSON array of {id, severity, finding, ...}).
struct Finding {
    id: String,
    severity: String,
    finding: String,
}

fn scan(port: u16, json: &std::path::Path, work: &std::path::Path) -> (Vec<Finding>, String) {
    let out = Command::new("timeout")
        .arg("400")
        .arg("testssl")
        .args([
            "--quiet",
            "--color",
            "0",
            "--warnings",
            "off",
            // 127.0.0.1 is given: no lookups (the machine's resolver is never queried)
            "--nodns",
            "none",
            "--connect-timeout",
            "10",
            "--openssl-timeout",
            "10",
            "--starttls",
            "smtp",
            // protocols, cipher categories, server preferences, vulnerabilities
            "-p",
            "-s",
            "-P",
            "-U",
            "--jsonfile",
        ])
        .arg(json)
        .arg(format!("127.0.0.1:{port}"))
        // testssl's pauses after each socket write/read (default 0.1/0.2 s)
        // sized for the Internet; on loopback these cut the scan from about
        // 110 s to 80 s with the same findings. A reply read too early can
        // only look like "not offered", which the assertions on TLS 1.2/1.3
        // and the strong ciphers would catch.
        .env("USLEEP_SND", "0.02")
        .env("USLEEP_REC", "0.05")
        .current_dir(work)
        .stdin(Stdio::null())
        .output()
        .expect("testssl (Debian package testssl.sh; scripts/test-deps installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = std::fs::read_to_string(json)
        .unwrap_or_else(|e| panic!("no JSON from testssl ({e}); exit {:?}:\n{text}", out.status));
    let v: serde_json::Value = serde_json::from_str(&raw)
        .unwrap_or_else(|e| panic!("testssl JSON does not parse ({e}):\n{raw}"));
    let findings = v
        .as_array()
        .unwrap_or_else(|| panic!("testssl JSON is not an array:\n{raw}"))
        .iter()
        .map(|f| Finding {
            id: f["id"].as_str().unwrap_or_default().to_string(),
            severity: f["severity"].as_str().unwrap_or_default().to_string(),
            finding: f["finding"].as_str().unwrap_or_default().to_string(),
        })
        .collect();
    (findings, text)
}

fn rank(severity: &str) -> u8 {
    match severity {
        "LOW" => 1,
        "MEDIUM" => 2,
        "HIGH" => 3,
        "CRITICAL" => 4,
        _ => 0, // OK, INFO, WARN, DEBUG
    }
}

#[test]
fn testssl_finds_no_weak_protocol_cipher_or_vulnerability_on_starttls() {
    let lab = Lab::new();
    let port = free_port();
    // Inbound: STARTTLS with a self-signed RSA certificate, client
    // certificates requested (Domain Security for partner.example)
    lab.provision(port);
    let mut engine = lab.start_engine(port);
    let json = lab.work.join("testssl.json");

    let started = Instant::now();
    let (findings, text) = scan(port, &json, &lab.work);
    eprintln!("testssl scan: {} s", started.elapsed().as_secs());

    let report: String = findings
        .iter()
        .filter(|f| rank(&f.severity) >= 1 || f.severity == "WARN")
        .map(|f| format!("  {} [{}] {}\n", f.id, f.severity, f.finding))
        .collect();
    let all = || {
        format!(
            "findings of severity LOW or above, and scan warnings:\n{report}\ntestssl output:\n{text}"
        )
    };
    let get = |id: &str| -> &Finding {
        findings
            .iter()
            .find(|f| f.id == id)
            .unwrap_or_else(|| panic!("testssl reported no {id}\n{}", all()))
    };

    // the scan ran to the end and could talk STARTTLS
    assert_eq!(get("service").finding, "smtp", "{}", all());
    assert!(
        !findings.iter().any(|f| f.id == "scanProblem"),
        "testssl had a problem\n{}",
        all()
    );

    // protocols
    for id in ["SSLv2", "SSLv3", "TLS1", "TLS1_1"] {
        assert!(
            get(id).finding.starts_with("not offered"),
            "{id} offered\n{}",
            all()
        );
    }
    let offered = |id: &str| get(id).finding.starts_with("offered");
    assert!(offered("TLS1_2") && offered("TLS1_3"), "{}", all());

    // cipher categories
    for id in [
        "cipherlist_NULL",
        "cipherlist_aNULL",
        "cipherlist_EXPORT",
        "cipherlist_LOW",
        "cipherlist_3DES_IDEA",
    ] {
        assert!(
            get(id).finding.starts_with("not offered"),
            "{id} offered\n{}",
            all()
        );
    }
    assert!(
        get("cipherlist_STRONG").finding.starts_with("offered"),
        "{}",
        all()
    );
    assert!(
        get("RC4").finding.starts_with("not vulnerable"),
        "{}",
        all()
    );

    // the vulnerability checks of -U ran (BREACH, an HTTP check, and
    // Ticketbleed, a BigIP check, are skipped for SMTP by testssl itself)
    for id in [
        "heartbleed",
        "CCS",
        "ROBOT",
        "secure_renego",
        "secure_client_renego",
        "CRIME_TLS",
        "POODLE_SSL",
        "fallback_SCSV",
        "SWEET32",
        "FREAK",
        "DROWN",
        "LOGJAM",
        "BEAST",
        "LUCKY13",
    ] {
        get(id);
    }
    // the server, not the client, picks the suite (see tls::server_config)
    assert!(
        get("cipher_order").finding.starts_with("server"),
        "{}",
        all()
    );

    // nothing of severity MEDIUM or above, anywhere in the scan
    let bad: Vec<&Finding> = findings.iter().filter(|f| rank(&f.severity) >= 2).collect();
    assert!(bad.is_empty(), "{}", all());

    // the scanner's odd handshakes did not hurt the engine
    assert!(engine.child.try_wait().unwrap().is_none(), "engine exited");
    let t = swaks(port, &["--tls", "--quit-after", "HELO"]);
    assert!(t.contains("TLS started"), "{t}");
    assert!(
        !engine.log_text().contains("panicked"),
        "{}",
        engine.log_text()
    );
}
