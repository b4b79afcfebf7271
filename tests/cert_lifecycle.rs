//! Certificate lifecycle against the running engine on loopback (issue 18
//! part 3): renewal without downtime (a held session finishes on the old
//! certificate while new sessions get the renewed one; removing the old
//! one changes nothing), the selection rule (latest NotAfter), the expiry
//! warning (Exchange event 12018) and the Domain Security client-usage
//! warning in the engine's log, and what Get-ExchangeCertificate shows.
//! Every wait is bounded; engines and openssl children are killed on drop.
#![allow(clippy::unwrap_used)]

mod transport_support;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use transport_support::*;

fn json(lab: &Lab, args: &[&str]) -> (i32, Value, String) {
    let (code, out, err) = lab.try_xshell(&[args, &["--output", "json"]].concat());
    let v = if out.trim().is_empty() {
        Value::Array(Vec::new())
    } else {
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}\n{out}\n{err}"))
    };
    (code, v, err)
}

/// A store for mail.orga.example with a lab CA (trusted) in `work/ca`.
fn setup(lab: &Lab) {
    lab.xshell(&["set-transportservice", "--fqdn", ORG_FQDN]);
    lab.xshell(&[
        "new-accepteddomain",
        "OrgA",
        "--domain-name",
        "orga.example",
    ]);
    let ca = lab.work.join("ca");
    lab.xshell(&[
        "ca-new",
        "--name",
        "OrgA Lab CA",
        "--path",
        ca.to_str().unwrap(),
    ]);
    lab.xshell(&["import-certificate", ca.join("ca.pem").to_str().unwrap()]);
}

/// Requests a certificate for mail.orga.example (always the same subject),
/// has the lab CA sign it for `days` (`extra`: more ca-sign options),
/// imports it and enables it for SMTP. Its thumbprint.
fn issue_and_enable(lab: &Lab, name: &str, days: u32, extra: &[&str]) -> String {
    let req = lab.work.join(format!("{name}.req"));
    let cer = lab.work.join(format!("{name}.cer"));
    lab.xshell(&[
        "request-cert",
        "--subject-name",
        &format!("CN={ORG_FQDN}"),
        "--domain-name",
        ORG_FQDN,
        "--path",
        req.to_str().unwrap(),
    ]);
    let days = days.to_string();
    let ca = lab.work.join("ca");
    let mut args: Vec<&str> = vec![
        "ca-sign",
        "--ca",
        ca.to_str().unwrap(),
        "--request-file",
        req.to_str().unwrap(),
        "--path",
        cer.to_str().unwrap(),
        "--validity-days",
        &days,
    ];
    args.extend(extra);
    let refs = args;
    let (code, issued, err) = json(lab, &refs);
    assert_eq!(code, 0, "{err}");
    let tp = issued[0]["Thumbprint"].as_str().unwrap().to_string();
    lab.xshell(&[
        "-c",
        &format!(
            "Import-ExchangeCertificate -Path '{}' | Enable-ExchangeCertificate -Services SMTP -Force",
            cer.display()
        ),
    ]);
    tp
}

fn receive_connector(lab: &Lab, port: u16) {
    lab.xshell(&[
        "new-receiveconnector",
        "Inbound",
        "--usage",
        "internet",
        "--bindings",
        &format!("127.0.0.1:{port}"),
        "--auth-mechanism",
        "tls",
        "--fqdn",
        ORG_FQDN,
    ]);
}

/// The thumbprint a new session's STARTTLS presents (Test-SmtpConnectivity,
/// which must pass: exit code 0).
fn presented(lab: &Lab) -> String {
    let (code, r, err) = json(lab, &["test-smtpconnectivity", "--timeout-seconds", "5"]);
    assert_eq!(code, 0, "{r:#}\n{err}");
    assert_eq!(r[0]["Status"], "Success", "{r:#}");
    r[0]["CertificateThumbprint"].as_str().unwrap().to_string()
}

/// [`presented`], polled (bounded) until it is `want`: the engine logs its
/// choice just before it swaps the configuration in.
fn wait_presented(lab: &Lab, want: &str) -> String {
    let mut got = String::new();
    wait_until(Duration::from_secs(10), || {
        got = presented(lab);
        got == want
    });
    got
}

/// SHA-1 thumbprint of the first PEM certificate in `text`.
fn thumbprint_of_pem(dir: &Path, text: &str) -> String {
    let begin = text.find("-----BEGIN CERTIFICATE-----").unwrap();
    let end = text.find("-----END CERTIFICATE-----").unwrap() + 25;
    let f = dir.join(format!("held-{}.pem", std::process::id()));
    std::fs::write(&f, &text[begin..end]).unwrap();
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha1", "-in"])
        .arg(&f)
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    s.trim()
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "")
        .to_ascii_uppercase()
}

/// An openssl s_client session held open after STARTTLS; killed on drop.
struct Held {
    child: Child,
    out: std::path::PathBuf,
}

impl Held {
    fn open(lab: &Lab, port: u16) -> Held {
        let out = lab.work.join("held.out");
        let child = Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{port}"),
                "-starttls",
                "smtp",
                "-name",
                "held.example",
                "-servername",
                ORG_FQDN,
                "-crlf",
                "-nocommands",
            ])
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let held = Held { child, out };
        assert!(
            wait_until(Duration::from_secs(15), || held
                .text()
                .contains("Verify return code")),
            "s_client did not complete the handshake:\n{}",
            held.text()
        );
        held
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Finishes the conversation; true when the server answered to the end.
    fn finish(&mut self) -> bool {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(b"EHLO held.example\nNOOP\nQUIT\n").unwrap();
        stdin.flush().unwrap();
        wait_until(Duration::from_secs(15), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn renewal_takes_effect_for_new_sessions_while_held_sessions_finish() {
    let lab = Lab::new();
    let port = free_port();
    setup(&lab);
    let a = issue_and_enable(&lab, "a", 100, &[]);
    receive_connector(&lab, port);
    let engine = lab.start_engine(port);
    let chose_a = format!("STARTTLS presents certificate {a}");
    assert!(
        wait_until(Duration::from_secs(10), || engine
            .log_text()
            .contains(&chose_a)),
        "{}",
        engine.log_text()
    );
    assert_eq!(presented(&lab), a);

    // A session is held after its TLS handshake, on certificate A.
    let mut held = Held::open(&lab, port);
    assert_eq!(thumbprint_of_pem(&lab.work, &held.text()), a);

    // The renewed certificate B: same subject, later NotAfter. New
    // sessions get B after the reload; the log says which and why.
    let b = issue_and_enable(&lab, "b", 200, &[]);
    let chose_b = format!("STARTTLS presents certificate {b}");
    assert!(
        wait_until(Duration::from_secs(10), || engine
            .log_text()
            .contains(&chose_b)),
        "{}",
        engine.log_text()
    );
    let log = engine.log_text();
    let line = log.lines().find(|l| l.contains(&chose_b)).unwrap();
    assert!(
        line.contains("the latest NotAfter") && line.contains(&a),
        "the log says why B beats A: {line}"
    );
    assert_eq!(wait_presented(&lab, &b), b);
    // Get-ExchangeCertificate -DomainName lists B first, as the engine chose.
    let (_, list, _) = json(
        &lab,
        &["get-exchangecertificate", "--domain-name", ORG_FQDN],
    );
    assert_eq!(list[0]["Thumbprint"], b.as_str(), "{list:#}");
    assert_eq!(list[1]["Thumbprint"], a.as_str(), "{list:#}");

    // The held session finishes its conversation (on A).
    assert!(
        held.finish(),
        "the held session did not finish:\n{}",
        held.text()
    );
    let text = held.text();
    assert!(text.contains("250"), "{text}");
    assert!(text.contains("221"), "{text}");

    // A enabled again later (an admin's mistake after a renewal) does not
    // take the place of B: the rule, not the order of enabling, decides.
    let reloads = count(&engine.log_text(), &chose_b);
    lab.xshell(&[
        "enable-exchangecertificate",
        &a,
        "--services",
        "SMTP",
        "--force",
    ]);
    assert!(wait_until(Duration::from_secs(10), || count(
        &engine.log_text(),
        &chose_b
    ) > reloads));
    assert_eq!(wait_presented(&lab, &b), b);

    // Removing A changes nothing on the wire.
    lab.xshell(&[
        "enable-exchangecertificate",
        &b,
        "--services",
        "SMTP",
        "--force",
    ]);
    lab.xshell(&["remove-exchangecertificate", &a, "--confirm=false"]);
    let only_b = format!("{chose_b} (CN=mail.orga.example");
    assert!(
        wait_until(Duration::from_secs(10), || engine
            .log_text()
            .lines()
            .any(|l| l.contains(&only_b) && l.contains("chosen as the only"))),
        "{}",
        engine.log_text()
    );
    assert_eq!(wait_presented(&lab, &b), b);
    // A was never presented again after the renewal.
    let log = engine.log_text();
    let after = &log[log.find(&chose_b).unwrap()..];
    assert!(!after.contains(&chose_a), "{log}");
}

#[test]
fn expiring_server_auth_only_certificate_is_logged_and_shown() {
    let lab = Lab::new();
    let port = free_port();
    setup(&lab);
    let c = issue_and_enable(&lab, "c", 10, &["--server-auth-only"]);
    receive_connector(&lab, port);

    // Get-ExchangeCertificate: days left, the EKU, and no client usage.
    let (code, certs, err) = json(&lab, &["get-exchangecertificate", &c]);
    assert_eq!(code, 0, "{err}");
    let r = &certs[0];
    let days = r["DaysUntilExpiration"].as_i64().unwrap();
    assert!((9..=10).contains(&days), "{r:#}");
    assert_eq!(
        r["EnhancedKeyUsageList"],
        serde_json::json!(["Server Authentication (1.3.6.1.5.5.7.3.1)"])
    );
    assert_eq!(r["DomainSecurityClientAuth"], false, "{r:#}");
    let text = lab.xshell(&["get-exchangecertificate", &c, "--output", "list"]);
    for want in [
        "DaysUntilExpiration",
        "EnhancedKeyUsageList",
        "DomainSecurityClientAuth",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }

    // The engine: a warning with Exchange's event id 12018 naming the
    // thumbprint, subject, NotAfter and days left, and the client-usage
    // warning, at start.
    let engine = lab.start_engine(port);
    let log = engine.log_text();
    let expiring = log
        .lines()
        .find(|l| l.contains("12018") && l.contains("WARN"))
        .unwrap_or_else(|| panic!("{log}"));
    let not_after = r["NotAfter"].as_str().unwrap();
    for want in [
        c.as_str(),
        "CN=mail.orga.example",
        &format!("in {days} days"),
        "receive connector 'Inbound'",
        "event_id=12018",
        &format!("days_left={days}"),
    ] {
        assert!(expiring.contains(want), "{want}: {expiring}");
    }
    assert!(
        expiring.contains(&not_after[..10]),
        "NotAfter {not_after}: {expiring}"
    );
    // Test-SmtpConnectivity: the certificate step warns, the command passes
    // (exit 0) unless warnings fail it.
    let (code, r, err) = json(&lab, &["test-smtpconnectivity"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(r[0]["Verdict"], "Warning", "{r:#}");
    assert_eq!(r[0]["CertificateDaysLeft"], days, "{r:#}");
    let last = r[0]["Steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["Name"], "Certificate", "{r:#}");
    assert_eq!(last["Result"], "Warning", "{r:#}");
    let (code, r, err) = json(&lab, &["test-smtpconnectivity", "--warning-as-failure"]);
    assert_eq!(code, 1, "{r:#}");
    assert!(err.contains("(Warning)") && err.contains("12018"), "{err}");

    let usage = log
        .lines()
        .find(|l| l.contains("lacks Client Authentication"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(usage.contains("WARN") && usage.contains(&c), "{usage}");

    // A window of 5 days: no warning at the next reload; a window of 30
    // again: the warning comes back with the reload.
    let warned = count(&log, "event_id=12018");
    lab.xshell(&[
        "set-transportservice",
        "--certificate-expiry-warning-days",
        "5",
    ]);
    let reloaded = count(&log, "configuration reloaded");
    assert!(wait_until(Duration::from_secs(10), || count(
        &engine.log_text(),
        "configuration reloaded"
    ) > reloaded));
    assert_eq!(count(&engine.log_text(), "event_id=12018"), warned);
    let (_, svc, _) = json(&lab, &["get-transportservice"]);
    assert_eq!(svc[0]["CertificateExpiryWarningDays"], 5, "{svc:#}");
    lab.xshell(&[
        "set-transportservice",
        "--certificate-expiry-warning-days",
        "30",
    ]);
    assert!(wait_until(Duration::from_secs(10), || count(
        &engine.log_text(),
        "event_id=12018"
    ) > warned));
}

#[test]
fn expiry_is_checked_again_while_running_without_store_changes() {
    let lab = Lab::new();
    let port = free_port();
    setup(&lab);
    issue_and_enable(&lab, "d", 20, &[]);
    receive_connector(&lab, port);
    // The daily check, every second here.
    let log = lab.work.join("engine-daily.log");
    let mut child = Command::new(engine_bin())
        .arg("--store")
        .arg(&lab.store)
        .args(["--grace", "1", "--certificate-check-interval", "1"])
        .env("RUST_LOG", "info")
        .env_remove("XSHELL_STORE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    let ok = wait_until(Duration::from_secs(20), || {
        count(&text(), "event_id=12018") >= 3
    });
    let _ = child.kill();
    let _ = child.wait();
    let t = text();
    assert!(ok, "{t}");
    // The store did not change: one revision in every line.
    let revisions: std::collections::BTreeSet<&str> = t
        .lines()
        .filter(|l| l.contains("event_id=12018"))
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("revision=")))
        .collect();
    assert_eq!(revisions.len(), 1, "{t}");
    // The daily check logs the findings, not the whole configuration.
    assert_eq!(
        count(
            &t,
            "INFO xshell_transport::server: receive connector revision="
        ),
        1,
        "{t}"
    );
}
