//! REQUIRETLS (RFC 8689) end to end on loopback (issue 20):
//!
//! - Two xshell organizations with Domain Security between them: A's
//!   submission connector offers REQUIRETLS only after STARTTLS and refuses
//!   the parameter before (530 5.7.10); a REQUIRETLS message goes to B over
//!   Domain Security with the parameter (B advertised it); the same
//!   message's recipient behind an opportunistic connector fails at once
//!   with 5.7.10 and its report returns the header only although RET=FULL
//!   was asked; one behind a verifying connector that cannot be reached
//!   waits, and Get-Message shows RequireTls. A verified next hop that
//!   does not offer REQUIRETLS is passed over for the next host. A report
//!   about a REQUIRETLS message is relayed with REQUIRETLS itself.
//! - Postfix as the next hop (it does not offer REQUIRETLS): a REQUIRETLS
//!   message over RequireTLS with CertificateValidation fails with 5.7.30;
//!   `TLS-Required: No` lets a message through a RequireTLS connector whose
//!   certificate check fails, while a message without it waits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/peers.rs"]
mod peers;
#[path = "common/postfix.rs"]
mod postfix;
mod transport_send_support;
mod transport_support;

use std::io::Write;
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use postfix::{Postfix, PostfixConfig, Smtpd};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use serde_json::Value;
use transport_send_support::*;
use transport_support::tls::{client_config, reply_from};
use transport_support::{Raw, free_port, tracking_lines, wait_until};

const WAIT: Duration = Duration::from_secs(30);

fn events(org: &Org, id: &str) -> Vec<Value> {
    tracking_lines(&org.lab.tracking_log())
        .into_iter()
        .filter(|e| e["event_id"] == id)
        .collect()
}

/// Lets `org`'s submission connector offer STARTTLS (and so REQUIRETLS).
fn submission_tls(org: &Org) {
    org.xshell(&[
        "-c",
        "Set-ReceiveConnector Submission -AuthMechanism Tls,ExternalAuthoritative",
    ]);
}

/// An SMTP session on `org`'s submission connector after STARTTLS and the
/// second EHLO; also the EHLO reply before TLS and the one after.
fn tls_session(org: &Org) -> (StreamOwned<ClientConnection, TcpStream>, String, String) {
    let mut raw = Raw::connect_to(&org.ip, org.submission);
    assert!(raw.reply().starts_with("220 "));
    let plain = raw.cmd("EHLO client.orga.example");
    let r = raw.cmd("STARTTLS");
    assert!(r.starts_with("220 "), "{r}");
    let conn = ClientConnection::new(
        client_config(),
        ServerName::try_from(format!("mail.{}", org.domain)).unwrap(),
    )
    .unwrap();
    let mut tls = StreamOwned::new(conn, raw.stream.try_clone().unwrap());
    tls.write_all(b"EHLO client.orga.example\r\n").unwrap();
    let after = reply_from(&mut tls);
    (tls, plain, after)
}

fn cmd(tls: &mut StreamOwned<ClientConnection, TcpStream>, line: &str) -> String {
    tls.write_all(format!("{line}\r\n").as_bytes()).unwrap();
    reply_from(tls)
}

/// Submits one message over TLS with these MAIL and RCPT lines; panics
/// unless it is queued.
fn submit_tls(org: &Org, mail: &str, rcpts: &[&str], message: &str) {
    let (mut tls, _, ehlo) = tls_session(org);
    assert!(ehlo.contains("250 REQUIRETLS\r\n"), "{ehlo}");
    for line in std::iter::once(&mail).chain(rcpts) {
        let r = cmd(&mut tls, line);
        assert!(r.starts_with("250"), "{line}: {r}");
    }
    assert!(cmd(&mut tls, "DATA").starts_with("354"));
    tls.write_all(message.as_bytes()).unwrap();
    let r = cmd(&mut tls, ".");
    assert!(r.starts_with("250 2.0.0 Queued as"), "{r}");
    cmd(&mut tls, "QUIT");
}

/// Submits in plaintext; panics unless it is queued.
fn submit_plain(org: &Org, rcpt: &str, message: &str) {
    let mut c = Raw::connect_to(&org.ip, org.submission);
    c.reply();
    c.cmd("EHLO client.orga.example");
    assert!(c.cmd("MAIL FROM:<alice@orga.example>").starts_with("250"));
    assert!(c.cmd(&format!("RCPT TO:<{rcpt}>")).starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(message.as_bytes());
    let r = c.cmd(".");
    assert!(r.starts_with("250 2.0.0 Queued as"), "{r}");
    c.cmd("QUIT");
}

#[test]
fn requiretls_between_two_engines_and_its_bounce() {
    let dns = dns_server(&[
        ("orga.example", Ipv4Addr::new(127, 0, 0, 1)),
        ("orgb.example", Ipv4Addr::new(127, 0, 0, 2)),
    ]);
    let a = Org::new("orga.example", "127.0.0.1", dns);
    let b = Org::new("orgb.example", "127.0.0.2", dns);
    a.trust(&b.ca_pem);
    b.trust(&a.ca_pem);
    a.secure_partner("orgb.example", b.port);
    b.secure_partner("orga.example", a.port);
    let closed = free_port();
    // orgd.example: opportunistic TLS; stuck.example: a verifying policy
    // to a closed port (the message waits there).
    a.xshell(&[
        "-c",
        &format!(
            "New-SendConnector ToOrgd -AddressSpaces orgd.example -DNSRoutingEnabled $false -SmartHosts 127.0.0.1:{closed}"
        ),
    ]);
    a.xshell(&[
        "-c",
        &format!(
            "New-SendConnector ToStuck -AddressSpaces stuck.example -DNSRoutingEnabled $false -SmartHosts 127.0.0.1:{closed} -RequireTLS $true -TlsAuthLevel CertificateValidation"
        ),
    ]);
    a.xshell(&[
        "-c",
        "Set-SendConnector 'To orgb.example' -ProtocolLoggingLevel Verbose",
    ]);
    // orgb2.example (B's too): first a verified host without REQUIRETLS
    // (a fake server with a certificate A trusts), then B.
    b.xshell(&[
        "new-accepteddomain",
        "Org2",
        "--domain-name",
        "orgb2.example",
    ]);
    let fake_ca = pki::ca("Fake Next Hop CA");
    a.trust(&pki::ca_file(&fake_ca, &a.lab.work, "fake-ca"));
    let (l, fake_port) = listener();
    let fake = fake_server(l, Some(pki::issue(&fake_ca, &["mail.fake.example"])));
    a.xshell(&[
        "-c",
        &format!(
            "New-SendConnector ToOrgb2 -AddressSpaces orgb2.example -DNSRoutingEnabled $false -SmartHosts 127.0.0.1:{fake_port},127.0.0.2:{} -RequireTLS $true -TlsAuthLevel CertificateValidation",
            b.port
        ),
    ]);
    submission_tls(&a);
    let _ea = a.start();
    let _eb = b.start();

    // Before TLS: not advertised, and refused.
    let mut raw = Raw::connect_to(&a.ip, a.submission);
    raw.reply();
    let ehlo = raw.cmd("EHLO client.orga.example");
    assert!(
        ehlo.contains("STARTTLS") && !ehlo.contains("REQUIRETLS"),
        "{ehlo}"
    );
    let r = raw.cmd("MAIL FROM:<alice@orga.example> REQUIRETLS");
    assert!(r.starts_with("530 5.7.10 "), "{r}");
    raw.cmd("QUIT");
    // After STARTTLS: advertised; given twice it is refused.
    let (mut tls, _, after) = tls_session(&a);
    assert!(after.contains("250 REQUIRETLS\r\n"), "{after}");
    let r = cmd(
        &mut tls,
        "MAIL FROM:<alice@orga.example> REQUIRETLS REQUIRETLS",
    );
    assert!(r.starts_with("501 5.5.4"), "{r}");
    cmd(&mut tls, "QUIT");

    submit_tls(
        &a,
        "MAIL FROM:<alice@orga.example> REQUIRETLS RET=FULL",
        &[
            "RCPT TO:<bob@orgb.example>",
            "RCPT TO:<dave@orgd.example>",
            "RCPT TO:<erin@stuck.example>",
        ],
        "Subject: protected\r\nTLS-Required: No\r\n\r\nSECRET-BODY-LINE\r\n",
    );

    // Domain Security verifies B, and B offers REQUIRETLS: delivered, the
    // parameter passed on (A's send protocol log).
    assert!(
        wait_until(WAIT, || b.lab.maildir("orgb.example", "bob").len() == 1),
        "not delivered to B"
    );
    let sendlog = std::fs::read_dir(a.lab.store.join("log/ProtocolLog/SmtpSend"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    assert!(sendlog.contains(",<,250 REQUIRETLS,"), "{sendlog}");
    assert!(
        sendlog.lines().any(
            |l| l.contains(",>,MAIL FROM:<alice@orga.example> ") && l.ends_with(" REQUIRETLS,")
        ),
        "{sendlog}"
    );

    // RFC 8689 4.2.1: the host without REQUIRETLS is passed over for the
    // next one, which offers it.
    submit_tls(
        &a,
        "MAIL FROM:<ext@elsewhere.example> REQUIRETLS",
        &["RCPT TO:<zoe@orgb2.example>"],
        "Subject: next host\r\n\r\nhello\r\n",
    );
    assert!(
        wait_until(WAIT, || b.lab.maildir("orgb2.example", "zoe").len() == 1),
        "not delivered to B's second domain; fake saw {:?}; A's events {:?}",
        fake.lock().unwrap(),
        tracking_lines(&a.lab.tracking_log())
    );
    {
        let seen = fake.lock().unwrap();
        assert_eq!(seen.tls_sessions, 1, "{seen:?}");
        assert!(!seen.commands.iter().any(|c| c == "MAIL"), "{seen:?}");
    }

    // Opportunistic to orgd: 5.7.10 at once, and the report has the header
    // only (RFC 8689 5), RET=FULL notwithstanding.
    assert!(
        wait_until(WAIT, || !a.lab.maildir("orga.example", "alice").is_empty()),
        "no report to alice; FAIL events {:?}",
        events(&a, "FAIL")
    );
    let ndr = &a.lab.maildir("orga.example", "alice")[0];
    let (status, third) = dsn_parts(ndr);
    assert!(
        status.contains("Final-Recipient: rfc822; dave@orgd.example"),
        "{status}"
    );
    assert!(status.contains("Status: 5.7.10"), "{status}");
    assert!(!status.contains("erin@stuck.example"), "{status}");
    assert_eq!(third, "text/rfc822-headers", "{ndr}");
    assert!(ndr.contains("Subject: protected"), "{ndr}");
    assert!(!ndr.contains("SECRET-BODY-LINE"), "{ndr}");
    assert!(ndr.contains("does not verify"), "{ndr}");

    // A report about a REQUIRETLS message goes with REQUIRETLS itself
    // (RFC 8689 5): bob at B sent one that fails at A; the report travels
    // A -> B over Domain Security with the parameter.
    submit_tls(
        &a,
        "MAIL FROM:<bob@orgb.example> REQUIRETLS",
        &["RCPT TO:<dave@orgd.example>"],
        "Subject: from bob\r\n\r\nSECRET-BODY-LINE\r\n",
    );
    assert!(
        wait_until(WAIT, || b.lab.maildir("orgb.example", "bob").len() == 2),
        "no report to bob at B; A's events {:?}",
        tracking_lines(&a.lab.tracking_log())
    );
    let to_bob = b
        .lab
        .maildir("orgb.example", "bob")
        .into_iter()
        .find(|m| m.contains("multipart/report"))
        .unwrap();
    assert!(!to_bob.contains("SECRET-BODY-LINE"), "{to_bob}");
    let sendlog = std::fs::read_dir(a.lab.store.join("log/ProtocolLog/SmtpSend"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    assert!(
        sendlog
            .lines()
            .any(|l| l.contains(",>,MAIL FROM:<> ") && l.ends_with(" REQUIRETLS,")),
        "{sendlog}"
    );

    // The verified but unreachable hop: the message waits, and
    // Get-Message says it asked for REQUIRETLS.
    let mut shown = Value::Null;
    let waiting = wait_until(WAIT, || {
        let (code, out, _) = a.lab.try_xshell(&["get-message", "--output", "json"]);
        shown = serde_json::from_str(&out).unwrap_or(Value::Null);
        code == 0 && shown[0]["Recipients"][0]["Status"] == "Retry"
    });
    assert!(waiting, "{shown:#}");
    assert_eq!(shown[0]["RequireTls"], true, "{shown:#}");
    assert_eq!(
        shown[0]["Recipients"][0]["Address"], "erin@stuck.example",
        "{shown:#}"
    );
}

#[test]
fn requiretls_to_postfix_and_tls_required_no() {
    if let Some(why) = postfix::unavailable() {
        peers::missing(&why);
        return;
    }
    let dns = dns_server(&[("orga.example", Ipv4Addr::new(127, 0, 0, 1))]);
    let a = Org::new("orga.example", "127.0.0.1", dns);
    let pf_port = free_port();
    let ca = openssl_ca(&a);
    a.trust(&ca.0);
    // postfix.example: RequireTLS, chain checked (Postfix's CA is trusted);
    // mismatch.example: the same server, but the name checked is one its
    // certificate does not carry.
    a.xshell(&[
        "-c",
        &format!(
            "New-SendConnector ToPostfix -AddressSpaces postfix.example -DNSRoutingEnabled $false -SmartHosts 127.0.0.3:{pf_port} -RequireTLS $true -TlsAuthLevel CertificateValidation"
        ),
    ]);
    a.xshell(&[
        "-c",
        &format!(
            "New-SendConnector ToMismatch -AddressSpaces mismatch.example -DNSRoutingEnabled $false -SmartHosts 127.0.0.3:{pf_port} -RequireTLS $true -TlsAuthLevel DomainValidation -TlsDomain other.example"
        ),
    ]);
    let pf = Postfix::start(&PostfixConfig {
        hostname: "mail.postfix.example".into(),
        mailboxes: vec![
            ("postfix.example".into(), vec!["dave".into()]),
            ("mismatch.example".into(), vec!["frank".into()]),
        ],
        cert: ca.1.clone(),
        key: ca.2.clone(),
        ca_file: ca.0.clone(),
        services: vec![Smtpd {
            addr: "127.0.0.3".into(),
            port: pf_port,
            overrides: vec![],
        }],
        ..Default::default()
    });
    submission_tls(&a);
    let engine = a.start();

    // TLS-Required: No: goes despite the failing name check; the same
    // message without it waits (454 4.7.5).
    submit_plain(
        &a,
        "frank@mismatch.example",
        "Subject: waived\r\nTLS-Required: No\r\n\r\nhello\r\n",
    );
    submit_plain(
        &a,
        "frank@mismatch.example",
        "Subject: held\r\n\r\nhello\r\n",
    );
    assert!(
        wait_until(WAIT, || !pf.maildir("mismatch.example", "frank").is_empty()),
        "the TLS-Required: No message did not reach postfix\n--- maillog:\n{}\n--- engine:\n{}",
        pf.maillog(),
        engine.log_text()
    );
    assert!(
        wait_until(WAIT, || events(&a, "DEFER").iter().any(|e| e["detail"]
            .as_str()
            .is_some_and(|d| d.contains("4.7.5"))
            || e["reply"].as_str().is_some_and(|r| r.contains("4.7.5")))),
        "{:?}",
        tracking_lines(&a.lab.tracking_log())
    );
    let got = pf.maildir("mismatch.example", "frank");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("Subject: waived"), "{}", got[0]);

    // REQUIRETLS to Postfix: verified, but no REQUIRETLS after STARTTLS.
    submit_tls(
        &a,
        "MAIL FROM:<alice@orga.example> REQUIRETLS",
        &["RCPT TO:<dave@postfix.example>"],
        "Subject: to postfix\r\n\r\nSECRET-BODY-LINE\r\n",
    );
    assert!(
        wait_until(WAIT, || !a.lab.maildir("orga.example", "alice").is_empty()),
        "no report to alice; FAIL events {:?}\n--- engine:\n{}",
        events(&a, "FAIL"),
        engine.log_text()
    );
    let ndr = &a.lab.maildir("orga.example", "alice")[0];
    let (status, third) = dsn_parts(ndr);
    assert!(status.contains("Status: 5.7.30"), "{status}");
    assert!(ndr.contains("did not offer REQUIRETLS"), "{ndr}");
    assert_eq!(third, "text/rfc822-headers");
    assert!(pf.maildir("postfix.example", "dave").is_empty());
}

/// A CA for Postfix and its certificate for mail.postfix.example:
/// (CA PEM, certificate PEM, key PEM).
fn openssl_ca(org: &Org) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let ca = org.lab.ca("postfix-ca", "Postfix Example CA");
    let cert = org.lab.issue(
        "postfix",
        &ca,
        "mail.postfix.example",
        &["mail.postfix.example"],
    );
    (ca.cert, cert.cert, cert.key)
}
