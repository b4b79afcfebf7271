//! Test-DomainSecurity end to end on loopback: between two xshell
//! organizations configured for Domain Security (DomainSecured true), and
//! against fake partner servers that fail it (untrusted CA, no STARTTLS),
//! with the reason and the fix; the probe never sends MAIL.
#![allow(clippy::unwrap_used)]

mod transport_send_support;
mod transport_support;

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use serde_json::Value;
use transport_send_support::*;
use transport_support::xshell_bin;

const LOCAL: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

/// Test-DomainSecurity's JSON result; the exit code must be 0 for a Pass
/// or Warning verdict and 1 for Fail (the result is written either way).
fn probe(org: &Org, domain: &str) -> Value {
    let (code, r) = probe_with(org, domain, &[]);
    let want = if r["Verdict"] == "Fail" { 1 } else { 0 };
    assert_eq!(code, want, "exit code for verdict {}: {r:#}", r["Verdict"]);
    r
}

/// (exit code, result) of Test-DomainSecurity with `extra` arguments.
fn probe_with(org: &Org, domain: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec![
        "test-domainsecurity",
        "--domain",
        domain,
        "--output",
        "json",
    ];
    args.extend(extra);
    let (code, out, err) = org.lab.try_xshell(&args);
    if code != 0 {
        assert!(
            err.contains("Test-DomainSecurity: verdict"),
            "a failed verdict is explained on stderr: {err}"
        );
    }
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let v = match v {
        Value::Array(mut a) => {
            assert_eq!(a.len(), 1, "{a:?}");
            a.remove(0)
        }
        other => other,
    };
    // Every step is an object with a name, a result and a detail.
    let steps = v["Steps"].as_array().unwrap_or_else(|| panic!("{v:#}"));
    assert!(!steps.is_empty());
    for s in steps {
        assert!(s["Name"].as_str().is_some_and(|n| !n.is_empty()), "{s:#}");
        assert!(
            ["Pass", "Warning", "Fail"].contains(&s["Result"].as_str().unwrap_or("")),
            "{s:#}"
        );
        assert!(s["Detail"].is_string(), "{s:#}");
    }
    assert_eq!(steps.last().unwrap()["Name"], "Verdict");
    assert_eq!(steps.last().unwrap()["Result"], v["Verdict"]);
    (code, v)
}

fn step<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["Steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Name"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {r:#}"))
}

#[test]
fn domain_secured_between_two_organizations() {
    let dns = dns_server(&[
        ("orga.example", LOCAL),
        ("orgb.example", Ipv4Addr::new(127, 0, 0, 2)),
    ]);
    let a = Org::new("orga.example", "127.0.0.1", dns);
    let b = Org::new("orgb.example", "127.0.0.2", dns);
    a.trust(&b.ca_pem);
    b.trust(&a.ca_pem);
    a.secure_partner("orgb.example", b.port);
    b.secure_partner("orga.example", a.port);

    // Engine stopped: exit code 1 and a clear message.
    let out = Command::new(xshell_bin())
        .arg("--store")
        .arg(&a.lab.store)
        .args(["test-domainsecurity", "--domain", "orgb.example"])
        .env_remove("XSHELL_STORE")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("xshell-transport is not running") && err.contains("Start xshell-transport"),
        "{err}"
    );

    let ea = a.start();
    let _eb = b.start();
    // The engine says which certificate each connector presents.
    let log = ea.log_text();
    assert!(
        log.contains("send connector 'To orgb.example': presents certificate")
            && log.contains("receive connector 'Inbound': STARTTLS presents certificate"),
        "{log}"
    );
    let r = probe(&a, "orgb.example");
    assert_eq!(r["DomainSecured"], true, "{r:#}");
    assert_eq!(r["Domain"], "orgb.example");
    assert_eq!(r["SendConnector"], "To orgb.example", "{r:#}");
    assert_eq!(r["AddressSpace"], "SMTP:orgb.example;1", "{r:#}");
    assert_eq!(r["TlsPolicy"], "DomainSecure", "{r:#}");
    assert_eq!(r["InSecureList"], true);
    assert_eq!(r["DomainSecureEnabled"], true);
    assert_eq!(r["StarttlsOffered"], true);
    assert_eq!(r["ClientCertificatePresented"], true);
    assert_eq!(r["TlsVersion"], "TLSv1.3", "{r:#}");
    assert_eq!(r["ServerSubject"], "CN=mail.orgb.example", "{r:#}");
    assert_eq!(r["ChainValid"], true);
    assert_eq!(r["NameMatched"], true);
    assert!(r["ServerThumbprint"].as_str().unwrap().len() == 40, "{r:#}");
    assert!(
        r["Host"]
            .as_str()
            .unwrap()
            .starts_with("mail.orgb.example [127.0.0.2:"),
        "{r:#}"
    );
    assert!(r["Fix"].is_null(), "{r:#}");
    assert!(
        r["Banner"].as_str().is_some_and(|b| b.starts_with("220 ")),
        "{r:#}"
    );
    assert_eq!(r["Verdict"], "Pass", "{r:#}");
    assert_eq!(step(&r, "Our certificate")["Result"], "Pass", "{r:#}");
    assert_eq!(step(&r, "Partner certificate")["Result"], "Pass", "{r:#}");
    assert_eq!(r["ClientCertificateClientAuth"], true, "{r:#}");
    assert!(
        r["ClientCertificateDaysLeft"].as_i64().unwrap() > 300,
        "{r:#}"
    );
    assert!(r["ServerDaysLeft"].as_i64().unwrap() > 300, "{r:#}");

    // The list view shows the steps.
    let text = a.xshell(&["test-domainsecurity", "--domain", "orgb.example"]);
    for want in ["DomainSecured", "True", "TLSv1.3", "Verdict"] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // The shell form: the result is written, and a Pass leaves $? true.
    let text = a.xshell(&[
        "-c",
        "$r = Test-DomainSecurity orgb.example; \"ok=$? verdict=$($r.Verdict)\"",
    ]);
    assert!(text.contains("ok=True verdict=Pass"), "{text}");

    // Both certificates (365 days) within a 400-day window: warnings, the
    // verdict Warning, still exit code 0; -WarningAsFailure fails.
    a.xshell(&[
        "set-transportservice",
        "--certificate-expiry-warning-days",
        "365",
    ]);
    let r = wait_for_verdict(&a, "orgb.example", "Warning");
    assert_eq!(r["DomainSecured"], true, "{r:#}");
    assert_eq!(step(&r, "Our certificate")["Result"], "Warning", "{r:#}");
    assert_eq!(
        step(&r, "Partner certificate")["Result"],
        "Warning",
        "{r:#}"
    );
    assert!(
        step(&r, "Our certificate")["Detail"]
            .as_str()
            .unwrap()
            .contains("12018"),
        "{r:#}"
    );
    let (code, r) = probe_with(&a, "orgb.example", &["--warning-as-failure"]);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["Verdict"], "Warning", "{r:#}");
    a.xshell(&[
        "set-transportservice",
        "--certificate-expiry-warning-days",
        "30",
    ]);

    // A renewed certificate from a CA that dropped clientAuth (serverAuth
    // only, longer-lived so it is selected): our certificate step fails,
    // DomainSecured is false and the command exits 1 with the result.
    let req = a.lab.work.join("serveronly.req");
    let cer = a.lab.work.join("serveronly.cer");
    let ca = a.lab.work.join("ca");
    a.xshell(&[
        "request-cert",
        "--subject-name",
        "CN=mail.orga.example",
        "--domain-name",
        "mail.orga.example,orga.example",
        "--path",
        req.to_str().unwrap(),
    ]);
    a.xshell(&[
        "ca-sign",
        "--ca",
        ca.to_str().unwrap(),
        "--request-file",
        req.to_str().unwrap(),
        "--path",
        cer.to_str().unwrap(),
        "--validity-days",
        "500",
        "--server-auth-only",
    ]);
    a.xshell(&[
        "-c",
        &format!(
            "Import-ExchangeCertificate -Path '{}' | Enable-ExchangeCertificate -Services SMTP -Force",
            cer.display()
        ),
    ]);
    let r = wait_for_verdict(&a, "orgb.example", "Fail");
    assert_eq!(r["DomainSecured"], false, "{r:#}");
    assert_eq!(r["ClientCertificateClientAuth"], false, "{r:#}");
    assert_eq!(step(&r, "Our certificate")["Result"], "Fail", "{r:#}");
    assert!(
        r["Reason"]
            .as_str()
            .unwrap()
            .contains("Domain Security client certificate"),
        "{r:#}"
    );
    // The shell form: the object still comes out, $? is false, and the
    // script's exit code is 1.
    let (code, out, err) = a.lab.try_xshell(&[
        "-c",
        "$r = Test-DomainSecurity orgb.example; \"ok=$? verdict=$($r.Verdict)\"",
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("ok=False verdict=Fail"), "{out}\n{err}");
    assert!(err.contains("verdict Fail"), "{err}");
    // The README's CI snippet: the failed steps as a table.
    let (code, out, err) = a.lab.try_xshell(&[
        "-c",
        "$r = Test-DomainSecurity orgb.example; if (-not $?) { $r.Steps | ? {$_.Result -ne 'Pass'} | ft Name,Result,Detail }",
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("Our certificate") && out.contains("Fail") && !out.contains("TLS handshake"),
        "{out}\n{err}"
    );

    // Nothing was queued or delivered by the probes.
    assert!(b.lab.maildir("orgb.example", "bob").is_empty());
}

/// Probes until the verdict is `want` (the engine reloads the store within
/// a second); bounded.
fn wait_for_verdict(org: &Org, domain: &str, want: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (_, r) = probe_with(org, domain, &[]);
        if r["Verdict"] == want || std::time::Instant::now() > deadline {
            assert_eq!(r["Verdict"], want, "{r:#}");
            return r;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

#[test]
fn failures_name_the_reason_and_never_send_mail() {
    let dns = dns_server(&[
        ("untrusted.example", LOCAL),
        ("nostarttls.example", LOCAL),
        ("notlisted.example", LOCAL),
        ("wrongname.example", LOCAL),
        ("expired.example", LOCAL),
    ]);
    let a = Org::new("orga.example", "127.0.0.1", dns);
    let partner_ca = pki::ca("Partner CA");
    let rogue_ca = pki::ca("Rogue CA");
    a.trust(&pki::ca_file(&partner_ca, &a.lab.work, "partner-ca"));

    let (l, p_untrusted) = listener();
    let untrusted = fake_server(
        l,
        Some(pki::issue(
            &rogue_ca,
            &["mail.untrusted.example", "untrusted.example"],
        )),
    );
    let (l, p_nostarttls) = listener();
    let nostarttls = fake_server(l, None);
    let (l, p_notlisted) = listener();
    let notlisted = fake_server(
        l,
        Some(pki::issue(
            &partner_ca,
            &["mail.notlisted.example", "notlisted.example"],
        )),
    );
    let (l, p_wrongname) = listener();
    let wrongname = fake_server(
        l,
        Some(pki::issue(
            &partner_ca,
            &["mail.other.example", "other.example"],
        )),
    );
    let (l, p_expired) = listener();
    let _expired = fake_server(
        l,
        Some(pki::expired(
            &partner_ca,
            &["mail.expired.example", "expired.example"],
        )),
    );
    a.secure_partner("expired.example", p_expired);
    a.secure_partner("wrongname.example", p_wrongname);
    a.secure_partner("untrusted.example", p_untrusted);
    a.secure_partner("nostarttls.example", p_nostarttls);
    // A good partner, but neither listed nor DomainSecureEnabled.
    a.send_connector(
        "To notlisted.example",
        "notlisted.example",
        p_notlisted,
        false,
    );
    let _e = a.start();

    let r = probe(&a, "untrusted.example");
    assert_eq!(r["DomainSecured"], false, "{r:#}");
    assert_eq!(r["ChainValid"], false, "{r:#}");
    assert_eq!(r["StarttlsOffered"], true, "{r:#}");
    let reason = r["Reason"].as_str().unwrap();
    assert!(
        reason.contains("trusted root") && reason.contains("UnknownIssuer"),
        "{r:#}"
    );
    assert!(
        r["Fix"].as_str().unwrap().contains("Import-Certificate"),
        "{r:#}"
    );
    assert_eq!(r["Banner"], "220 fake.test ESMTP", "{r:#}");
    assert!(
        r["ServerIssuer"].as_str().unwrap().contains("Rogue CA"),
        "{r:#}"
    );

    // The partner's certificate has expired: a failed step, and the fix
    // is the partner's.
    let r = probe(&a, "expired.example");
    assert_eq!(r["DomainSecured"], false, "{r:#}");
    assert_eq!(r["Verdict"], "Fail", "{r:#}");
    assert_eq!(step(&r, "Partner certificate")["Result"], "Fail", "{r:#}");
    assert!(r["ServerDaysLeft"].as_i64().unwrap() < 0, "{r:#}");
    assert!(
        r["Reason"].as_str().unwrap().contains("has expired"),
        "{r:#}"
    );
    assert!(r["Fix"].as_str().unwrap().contains("renew"), "{r:#}");
    // A partner certificate valid 10 more days: a warning step (the
    // verdict is Fail for other reasons: the domain is not listed).
    let r = probe(&a, "notlisted.example");
    assert_eq!(
        step(&r, "Partner certificate")["Result"],
        "Warning",
        "{r:#}"
    );

    let r = probe(&a, "wrongname.example");
    assert_eq!(r["DomainSecured"], false, "{r:#}");
    assert_eq!(r["ChainValid"], true, "{r:#}");
    assert_eq!(r["NameMatched"], false, "{r:#}");
    assert!(
        r["Reason"]
            .as_str()
            .unwrap()
            .contains("does not name wrongname.example"),
        "{r:#}"
    );

    let r = probe(&a, "nostarttls.example");
    assert_eq!(r["DomainSecured"], false, "{r:#}");
    assert_eq!(r["StarttlsOffered"], false, "{r:#}");
    assert!(
        r["Reason"]
            .as_str()
            .unwrap()
            .contains("does not offer STARTTLS"),
        "{r:#}"
    );
    assert!(r["TlsVersion"].is_null(), "{r:#}");

    let r = probe(&a, "notlisted.example");
    assert_eq!(r["DomainSecured"], false, "{r:#}");
    assert_eq!(r["TlsPolicy"], "Opportunistic", "{r:#}");
    assert_eq!(r["ChainValid"], true, "{r:#}");
    assert_eq!(r["NameMatched"], true, "{r:#}");
    assert!(
        r["Fix"]
            .as_str()
            .unwrap()
            .contains("Set-TransportConfig -TLSSendDomainSecureList @{Add='notlisted.example'}"),
        "{r:#}"
    );

    for (name, rec) in [
        ("untrusted", &untrusted),
        ("nostarttls", &nostarttls),
        ("notlisted", &notlisted),
        ("wrongname", &wrongname),
    ] {
        let seen = rec.lock().unwrap().clone();
        assert!(seen.connections >= 1, "{name}: {seen:?}");
        assert!(
            !seen
                .commands
                .iter()
                .any(|c| c == "MAIL" || c == "RCPT" || c == "DATA"),
            "{name}: the probe sent {:?}",
            seen.commands
        );
        assert!(
            seen.commands.iter().any(|c| c == "EHLO"),
            "{name}: {seen:?}"
        );
        assert!(
            seen.delivered.is_empty() && !seen.plain_mail,
            "{name}: {seen:?}"
        );
    }
    // QUIT ended the sessions that got that far.
    assert!(
        nostarttls
            .lock()
            .unwrap()
            .commands
            .contains(&"QUIT".to_string())
    );
    assert!(
        notlisted
            .lock()
            .unwrap()
            .commands
            .contains(&"QUIT".to_string())
    );
}
