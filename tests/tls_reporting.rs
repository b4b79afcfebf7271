//! SMTP TLS Reporting (RFC 8460) end to end: organization A's engine sends
//! to orgb.example (B's engine, TLS succeeds) and to orgc.example (also
//! B's engine, under RequireTLS with DomainValidation: B's certificate
//! does not name orgc.example, a certificate-host-mismatch). A loopback
//! DNS server publishes MX, A and the `_smtp._tls` TXT records: orgb wants
//! its reports by mail (to B's engine), orgc over HTTPS (a tiny rustls
//! server in the test, its certificate from a CA A trusts).
//! Send-TlsReport triggers the reports without waiting for the day to
//! end; both reports must gunzip to JSON that validates against the
//! RFC 8460 4.4 schema (tests/data/tlsrpt-schema.json, Debian's
//! python3-jsonschema) and carry the counts, date range and domains.
//! The mailed reports must carry a DKIM signature (RFC 8460 5.3) that
//! Debian's dkimpy verifies against the records New-DkimSigningKey printed
//! (RSA, then Ed25519 after a selector rotation), and tampered copies must
//! fail; without the key the report goes unsigned and the cmdlets warn.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/peers.rs"]
mod peers;
mod transport_send_support;
mod transport_support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_parser::MimeHeaders;
use serde_json::Value;
use transport_send_support::{Issued, Org, Zone, pki};
use transport_support::wait_until;

const WAIT: Duration = Duration::from_secs(30);

/// What the HTTPS server got: (request head, body) per request.
type Posts = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A one-purpose HTTPS server: reads a request (head, Content-Length
/// body), answers 200, records it.
fn https_server(listener: TcpListener, cert: Issued) -> Posts {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(cert.chain, cert.key)
            .unwrap(),
    );
    let posts: Posts = Arc::default();
    let seen = Arc::clone(&posts);
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let Ok(mut conn) = rustls::ServerConnection::new(Arc::clone(&config)) else {
                continue;
            };
            let mut tls = rustls::Stream::new(&mut conn, &mut s);
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            let mut want: Option<usize> = None;
            // Bounded: at most 1 MB, and the read timeout.
            while got.len() < (1 << 20) {
                let Ok(n) = tls.read(&mut buf) else { break };
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                if want.is_none()
                    && let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n")
                {
                    let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    want = Some(end + 4 + len);
                }
                if want.is_some_and(|w| got.len() >= w) {
                    break;
                }
            }
            let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&got[..end]).into_owned();
            let body = got[end + 4..].to_vec();
            seen.lock().unwrap().push((head.clone(), body));
            // /fail: the receiver refuses the report.
            let status: &[u8] = if head.starts_with("POST /fail ") {
                b"HTTP/1.1 500 Internal Server Error\r\n"
            } else {
                b"HTTP/1.1 200 OK\r\n"
            };
            let _ = tls
                .write_all(&[status, b"Content-Length: 0\r\nConnection: close\r\n\r\n"].concat());
            let _ = tls.flush();
            conn.send_close_notify();
            let _ = conn.complete_io(&mut s);
        }
    });
    posts
}

/// Gunzips `gz` and validates the JSON against RFC 8460's schema with
/// python3-jsonschema; the JSON. `None` when python3-jsonschema is missing.
fn validated(gz: &[u8], dir: &Path, name: &str) -> Option<Value> {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tlsrpt-schema.json");
    let path = dir.join(format!("{name}.json.gz"));
    std::fs::write(&path, gz).unwrap();
    let has = std::process::Command::new("python3")
        .args(["-c", "import jsonschema"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        return None;
    }
    let script = r#"
import gzip, json, sys, jsonschema
report = json.loads(gzip.open(sys.argv[1]).read())
schema = json.load(open(sys.argv[2]))
jsonschema.validate(report, schema, format_checker=jsonschema.FormatChecker())
print(json.dumps(report))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .arg(&schema)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: not a valid RFC 8460 report: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// Verifies the DKIM signature of `raw` with Debian's dkimpy (RFC 8460
/// 5.3: reports must be signed; `tlsrpt='strict'` also wants the key
/// record's `s=tlsrpt`), the key records given as (name, TXT) instead of
/// DNS; then a copy with `tamper` applied must fail. `None` when
/// python3-dkim is missing.
fn dkim_verified(
    raw: &str,
    records: &[(String, String)],
    tamper: (&str, &str),
    dir: &Path,
    name: &str,
) -> Option<()> {
    let py = "/usr/bin/python3";
    let has = std::process::Command::new(py)
        .args(["-c", "import dkim, nacl"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        return None;
    }
    let script = r#"
import json, sys, dkim
records = json.load(open(sys.argv[2]))
def dnsfunc(name, timeout=5):
    return records.get(name.decode().rstrip('.'), '').encode()
ok = dkim.verify(open(sys.argv[1], 'rb').read(), dnsfunc=dnsfunc, tlsrpt='strict')
print('pass' if ok else 'fail')
"#;
    let recs = dir.join(format!("{name}-records.json"));
    let map: serde_json::Map<String, Value> = records
        .iter()
        .map(|(n, t)| (n.clone(), Value::String(t.clone())))
        .collect();
    std::fs::write(&recs, serde_json::to_vec(&map).unwrap()).unwrap();
    assert!(
        raw.contains(tamper.0),
        "{name}: {:?} not in:\n{raw}",
        tamper.0
    );
    for (file, text, want) in [
        (format!("{name}.eml"), raw.to_string(), "pass"),
        (
            format!("{name}-tampered.eml"),
            raw.replacen(tamper.0, tamper.1, 1),
            "fail",
        ),
    ] {
        let path = dir.join(&file);
        std::fs::write(&path, &text).unwrap();
        let out = std::process::Command::new(py)
            .args(["-c", script])
            .arg(&path)
            .arg(&recs)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            want,
            "{file}: dkimpy: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Some(())
}

/// New-DkimSigningKey's output: (DNS name, TXT record); checks the key
/// file is 0600 and the zone line.
fn new_dkim_key(org: &Org, selector: &str, alg: &str) -> (String, String) {
    let (code, out, err) = org.lab.try_xshell(&[
        "-c",
        &format!(
            "New-DkimSigningKey -Domain orga.example -Selector {selector} -Algorithm {alg} | ConvertTo-Json"
        ),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let k: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let name = k["DnsName"].as_str().unwrap().to_string();
    assert_eq!(name, format!("{selector}._domainkey.orga.example"));
    let txt = k["TxtRecord"].as_str().unwrap().to_string();
    assert!(txt.starts_with("v=DKIM1; k="), "{txt}");
    assert!(
        k["ZoneLine"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{name}. IN TXT \"v=DKIM1;")),
        "{k}"
    );
    let file = k["KeyFile"].as_str().unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{file}");
    let pem = std::fs::read_to_string(file).unwrap();
    assert!(
        pem.starts_with("-----BEGIN PRIVATE KEY-----") && !out.contains("PRIVATE"),
        "the key is in the file, never in the output"
    );
    (name, txt)
}

/// Field checks shared by both reports.
fn check_report(r: &Value, domain: &str, today: &str) {
    assert_eq!(r["organization-name"], "Org A Ltd", "{r}");
    assert_eq!(r["contact-info"], "tlsrpt@orga.example");
    assert_eq!(
        r["date-range"]["start-datetime"],
        format!("{today}T00:00:00Z"),
        "{r}"
    );
    assert!(
        r["date-range"]["end-datetime"]
            .as_str()
            .unwrap()
            .starts_with(today)
    );
    assert!(r["report-id"].as_str().unwrap().contains(domain));
    let policies = r["policies"].as_array().unwrap();
    for p in policies {
        assert_eq!(p["policy"]["policy-domain"], domain, "{r}");
        assert_eq!(p["policy"]["policy-type"], "no-policy-found", "{r}");
        let fails: u64 = p["failure-details"]
            .as_array()
            .map(|d| {
                d.iter()
                    .map(|x| x["failed-session-count"].as_u64().unwrap())
                    .sum()
            })
            .unwrap_or(0);
        assert_eq!(
            p["summary"]["total-failure-session-count"].as_u64(),
            Some(fails),
            "{r}"
        );
    }
}

fn today() -> String {
    let d = time::OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[test]
fn daily_tls_reports_by_mail_and_https_validate_against_rfc8460() {
    if std::process::Command::new("swaks")
        .arg("--version")
        .output()
        .is_err()
    {
        return peers::missing("swaks (Debian package swaks)");
    }
    let (https, https_port) = transport_send_support::listener();
    let zone = Zone::default();
    let lo = |d: u8| Ipv4Addr::new(127, 0, 0, d);
    zone.mx("orga.example", &[(10, "mail.orga.example", lo(1))]);
    zone.mx("orgb.example", &[(10, "mail.orgb.example", lo(2))]);
    zone.mx("orgc.example", &[(10, "mail.orgc.example", lo(2))]);
    zone.a("rpt.orga.example", lo(1));
    zone.txt(
        "_smtp._tls.orgb.example",
        "v=TLSRPTv1; rua=mailto:tls-reports@orgb.example",
    );
    zone.txt(
        "_smtp._tls.orgc.example",
        &format!("v=TLSRPTv1;rua=https://rpt.orga.example:{https_port}/tlsrpt"),
    );
    // Not a TLSRPT record: orga.example gets no report.
    zone.txt("_smtp._tls.orga.example", "v=spf1 -all");
    // orgd.example (B's engine again) refuses its reports.
    zone.mx("orgd.example", &[(10, "mail.orgd.example", lo(2))]);
    zone.txt(
        "_smtp._tls.orgd.example",
        &format!("v=TLSRPTv1; rua=https://rpt.orga.example:{https_port}/fail"),
    );
    let dns = zone.serve();
    let a_org = Org::new("orga.example", "127.0.0.1", dns);
    let b_org = Org::new("orgb.example", "127.0.0.2", dns);
    a_org.trust(&b_org.ca_pem);
    let rpt_ca = pki::ca("Report Receiver CA");
    a_org.trust(&pki::ca_file(&rpt_ca, &a_org.lab.work, "rpt-ca"));
    let posts_seen = https_server(https, pki::issue(&rpt_ca, &["rpt.orga.example"]));

    // B takes orgb.example (accepted) and, for the TLS session, orgc.example.
    b_org.xshell(&[
        "new-accepteddomain",
        "OrgC",
        "--domain-name",
        "orgc.example",
    ]);
    a_org.send_connector("To B", "orgb.example", b_org.port, false);
    a_org.xshell(&[
        "new-sendconnector",
        "To C",
        "--address-spaces",
        "orgc.example",
        "--port",
        &b_org.port.to_string(),
        "--usage",
        "internet",
        "--require-tls",
        "--tls-auth-level",
        "DomainValidation",
    ]);
    // Reporting is off until the address is set: Send-TlsReport says so.
    let ea = a_org.start();
    let _eb = b_org.start();
    let t = a_org.submit("alice@orga.example", "bob@orgb.example", "to B");
    assert!(t.contains("250 2.0.0 Queued as"), "{t}");
    let t = a_org.submit("alice@orga.example", "carol@orgc.example", "to C");
    assert!(t.contains("250 2.0.0 Queued as"), "{t}");
    assert!(
        wait_until(WAIT, || b_org.lab.maildir("orgb.example", "bob").len() == 1),
        "not delivered to B: {:?}",
        a_org.queue()
    );
    let today = today();
    // The failed sessions to orgc.example are recorded (retried each second).
    let shown = |domain: &str| -> Vec<Value> {
        let (code, out, err) = a_org.lab.try_xshell(&[
            "-c",
            &format!("Get-TlsReport -Domain {domain} | ConvertTo-Json"),
        ]);
        assert_eq!(code, 0, "{out}{err}");
        match serde_json::from_str::<Value>(&out) {
            Ok(Value::Array(v)) => v,
            Ok(v @ Value::Object(_)) => vec![v],
            _ => Vec::new(),
        }
    };
    assert!(
        wait_until(WAIT, || shown("orgc.example")
            .first()
            .is_some_and(|r| r["FailedSessions"].as_u64() >= Some(1))),
        "no failed session to orgc.example recorded: {:?}",
        shown("orgc.example")
    );
    let b_view = shown("orgb.example");
    assert_eq!(b_view.len(), 1, "{b_view:?}");
    assert!(
        b_view[0]["SuccessfulSessions"].as_u64() >= Some(1),
        "{b_view:?}"
    );
    assert_eq!(b_view[0]["FailedSessions"], 0, "{b_view:?}");
    assert_eq!(b_view[0]["Date"], today);

    let (code, _, err) = a_org.lab.try_xshell(&["send-tlsreport", "--date", &today]);
    assert_ne!(code, 0);
    assert!(err.contains("TlsRptReportingAddress"), "{err}");
    a_org.xshell(&[
        "set-transportconfig",
        "--tls-rpt-reporting-address",
        "tlsrpt@orga.example",
        "--tls-rpt-organization-name",
        "Org A Ltd",
    ]);
    // Reporting on, no DKIM key: Get-TlsReport says reports would go
    // unsigned (RFC 8460 5.3).
    let (code, out, err) = a_org.lab.try_xshell(&["get-tlsreport", "orgb.example"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("WARNING") && err.contains("unsigned") && err.contains("New-DkimSigningKey"),
        "{err}"
    );
    let mut records = vec![new_dkim_key(&a_org, "sel1", "Rsa2048")];
    assert!(records[0].1.starts_with("v=DKIM1; k=rsa; s=tlsrpt; p="));
    // The same selector again: refused (its record may be published).
    let (code, _, err) = a_org.lab.try_xshell(&[
        "new-dkimsigningkey",
        "--domain",
        "orga.example",
        "--selector",
        "sel1",
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("'Selector'") && err.contains("exists"),
        "{err}"
    );
    let (code, _, err) = a_org.lab.try_xshell(&[
        "set-transportconfig",
        "--tls-rpt-dkim-selector",
        "bad selector",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("TlsRptDkimSelector"), "{err}");
    // A selector without a key on this server: accepted, with a warning.
    let (code, _, err) =
        a_org
            .lab
            .try_xshell(&["set-transportconfig", "--tls-rpt-dkim-selector", "nokey"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("WARNING") && err.contains("nokey._domainkey.orga.example.dkim"),
        "{err}"
    );
    a_org.xshell(&["set-transportconfig", "--tls-rpt-dkim-selector", "sel1"]);
    let (code, out, err) = a_org.lab.try_xshell(&["send-tlsreport", "--date", &today]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("orgb.example -> mailto:tls-reports@orgb.example: queued as")
            && err.contains(&format!(
                "orgc.example -> https://rpt.orga.example:{https_port}/tlsrpt: HTTP 200"
            ))
            && !err.contains("FAILED")
            && err.contains("DKIM-signed")
            && !err.contains("WARNING"),
        "{out}{err}"
    );

    // https: one POST of application/tlsrpt+gzip.
    let posts = posts_seen.lock().unwrap().clone();
    assert_eq!(posts.len(), 1, "{posts:?}");
    let (head, body) = &posts[0];
    assert!(head.starts_with("POST /tlsrpt HTTP/1.1"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/tlsrpt+gzip"),
        "{head}"
    );
    let work = &a_org.lab.work;
    if let Some(c) = validated(body, work, "orgc") {
        check_report(&c, "orgc.example", &today);
        let details = &c["policies"][0]["failure-details"];
        assert_eq!(
            details[0]["result-type"], "certificate-host-mismatch",
            "{c}"
        );
        assert_eq!(
            details[0]["receiving-mx-hostname"], "mail.orgc.example",
            "{c}"
        );
        assert_eq!(details[0]["receiving-ip"], "127.0.0.2", "{c}");
    } else {
        return peers::missing("python3-jsonschema (Debian package python3-jsonschema)");
    }

    // mailto: a multipart/report message delivered by B's engine.
    assert!(
        wait_until(WAIT, || b_org
            .lab
            .maildir("orgb.example", "tls-reports")
            .len()
            == 1),
        "the mailed report did not arrive; A's queue {:?}",
        a_org.queue()
    );
    let raw = b_org.lab.maildir("orgb.example", "tls-reports").remove(0);
    for want in [
        "TLS-Report-Domain: orgb.example\r\n",
        "TLS-Report-Submitter: mail.orga.example\r\n",
        "Subject: Report Domain: orgb.example\r\n    Submitter: mail.orga.example\r\n    Report-ID: <",
        "report-type=\"tlsrpt\"",
        "From: tlsrpt@orga.example\r\n",
        "TLS-Required: No\r\n",
    ] {
        assert!(raw.contains(want), "missing {want:?} in:\n{raw}");
    }
    let msg = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .unwrap();
    let att = msg.attachment(0).expect("an attachment");
    assert_eq!(
        att.content_type()
            .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or(""))),
        Some("application/tlsrpt+gzip".to_string())
    );
    let fname = att.attachment_name().unwrap_or_default();
    assert!(
        fname.starts_with("mail.orga.example!orgb.example!") && fname.ends_with(".json.gz"),
        "{fname}"
    );
    assert!(
        raw.starts_with("DKIM-Signature:")
            || raw.contains("\r\nDKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;"),
        "{raw}"
    );
    if dkim_verified(
        &raw,
        &records,
        (
            "TLS-Report-Domain: orgb.example",
            "TLS-Report-Domain: orgx.example",
        ),
        work,
        "orgb-rsa",
    )
    .is_none()
    {
        return peers::missing("python3-dkim and python3-nacl (Debian packages)");
    }
    let b = validated(att.contents(), work, "orgb").unwrap();
    check_report(&b, "orgb.example", &today);
    assert!(
        b["policies"][0]["summary"]["total-successful-session-count"].as_u64() >= Some(1),
        "{b}"
    );
    assert_eq!(
        b["policies"][0]["summary"]["total-failure-session-count"],
        0
    );

    // A day that is over: its reports go once, marked sent. (Yesterday's
    // record made from today's: reading takes the day from the file name.)
    let dir = a_org.lab.store.join("tlsrpt");
    let yesterday = {
        let d = time::OffsetDateTime::now_utc()
            .date()
            .previous_day()
            .unwrap();
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    };
    std::fs::copy(
        dir.join(format!("{today}.jsonl")),
        dir.join(format!("{yesterday}.jsonl")),
    )
    .unwrap();
    // Selector rotation to an Ed25519 key (RFC 8463): yesterday's report
    // is signed with it.
    records.push(new_dkim_key(&a_org, "sel2", "Ed25519"));
    assert!(records[1].1.starts_with("v=DKIM1; k=ed25519; s=tlsrpt; p="));
    a_org.xshell(&["set-transportconfig", "--tls-rpt-dkim-selector", "sel2"]);
    let (code, out, err) = a_org.lab.try_xshell(&["send-tlsreport"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(err.matches("sent: ").count(), 2, "{err}");
    let (code, out, err) = a_org
        .lab
        .try_xshell(&["send-tlsreport", "--date", &yesterday]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(err.matches("already sent: ").count(), 2, "{err}");
    assert_eq!(
        err.matches("sent: ").count(),
        2,
        "nothing sent again: {err}"
    );
    let posts = posts_seen.lock().unwrap().clone();
    assert_eq!(posts.len(), 2, "yesterday once, not twice: {posts:?}");
    if let Some(c) = validated(&posts[1].1, work, "orgc-yesterday") {
        assert_eq!(
            c["date-range"]["start-datetime"],
            format!("{yesterday}T00:00:00Z")
        );
        assert_eq!(
            c["date-range"]["end-datetime"],
            format!("{yesterday}T23:59:59Z")
        );
    }
    let (code, out, err) = a_org.lab.try_xshell(&[
        "-c",
        &format!("(Get-TlsReport orgc.example -Date {yesterday}).SentTo"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("https://rpt.orga.example:{https_port}/tlsrpt")),
        "{out}"
    );
    assert!(
        wait_until(WAIT, || b_org
            .lab
            .maildir("orgb.example", "tls-reports")
            .len()
            == 2),
        "yesterday's mailed report did not arrive"
    );
    let second = b_org
        .lab
        .maildir("orgb.example", "tls-reports")
        .into_iter()
        .find(|m| m.contains("a=ed25519-sha256") && m.contains("s=sel2"))
        .expect("the report signed with sel2");
    // A changed body breaks the body hash.
    let body_line = second
        .lines()
        .find(|l| l.starts_with("This is an aggregate TLS report"))
        .unwrap()
        .to_string();
    dkim_verified(
        &second,
        &records,
        (&body_line, &body_line.replace("successful", "failed")),
        work,
        "orgb-ed25519",
    )
    .unwrap();

    // The selected key missing from this server's state folder: the report
    // still goes, unsigned, and Send-TlsReport and Get-TlsReport say why.
    let sel2 = a_org
        .lab
        .store
        .join("keys/sel2._domainkey.orga.example.dkim");
    std::fs::remove_file(&sel2).unwrap();
    let (code, out, err) = a_org.lab.try_xshell(&[
        "send-tlsreport",
        "--date",
        &today,
        "--domain",
        "orgb.example",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("queued as") && err.contains("not signed"),
        "{err}"
    );
    assert!(
        err.contains("WARNING")
            && err.contains("sel2._domainkey.orga.example.dkim")
            && err.contains("receivers may discard them"),
        "{err}"
    );
    let (code, _, err) = a_org.lab.try_xshell(&["get-tlsreport", "orgb.example"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("WARNING") && err.contains("sel2"), "{err}");

    // Get-TlsReport -Json writes the report as it would be sent.
    let (code, out, err) = a_org
        .lab
        .try_xshell(&["get-tlsreport", "orgc.example", "--json"]);
    assert_eq!(code, 0, "{err}");
    let j: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(j["policies"][0]["policy"]["policy-domain"], "orgc.example");
    // A bad -Date names the parameter.
    let (code, _, err) = a_org
        .lab
        .try_xshell(&["get-tlsreport", "--date", "yesterday"]);
    assert_ne!(code, 0);
    assert!(err.contains("'Date'"), "{err}");

    // A report the receiver refuses: Send-TlsReport fails and says so.
    // (B refuses the recipient; the TLS session before RCPT counts.)
    a_org.send_connector("To D", "orgd.example", b_org.port, false);
    let t = a_org.submit("alice@orga.example", "dave@orgd.example", "to D");
    assert!(t.contains("250 2.0.0 Queued as"), "{t}");
    assert!(
        wait_until(WAIT, || shown("orgd.example")
            .first()
            .is_some_and(|r| r["SuccessfulSessions"].as_u64() >= Some(1))),
        "no session to orgd.example recorded"
    );
    let (code, out, err) = a_org.lab.try_xshell(&[
        "send-tlsreport",
        "--date",
        &today,
        "--domain",
        "orgd.example",
    ]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains(&format!(
            "FAILED: orgd.example -> https://rpt.orga.example:{https_port}/fail: the server answered HTTP 500"
        )),
        "{err}"
    );

    // With the engine stopped, Get-TlsReport reads the record itself.
    drop(ea);
    let (code, out, err) = a_org.lab.try_xshell(&[
        "-c",
        &format!("(Get-TlsReport orgb.example -Date {yesterday}).SuccessfulSessions"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("not running"), "{err}");
    assert!(out.trim().parse::<u64>().is_ok_and(|n| n >= 1), "{out}");
}
