//! Send-MailMessage against the real engine on loopback: OrgB's
//! `xshell-transport` (127.0.0.2, Domain Security for orga.example)
//! receives what `xshell send-mailmessage` sends from OrgA's store
//! (127.0.0.1): plaintext with attachments and a non-ASCII subject,
//! STARTTLS with the server certificate verified against OrgA's roots, a
//! domain-secured session with OrgA's certificate (AuthAs Partner) and its
//! refusal (530 5.7.1) without it, the -Verbose transcript, the JSON
//! result, and the errors (a refused recipient, an unknown thumbprint, a
//! refused connection). Every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod transport_send_support;
mod transport_support;

use std::fs;
use std::net::Ipv4Addr;
use std::time::Duration;

use mail_parser::MimeHeaders;
use serde_json::Value;
use transport_send_support::*;
use transport_support::wait_until;

/// OrgA (sender store) and OrgB (receiving engine), each trusting the
/// other's lab CA, orga.example on OrgB's Domain Security receive list.
fn orgs() -> (Org, Org) {
    let dns = dns_server(&[
        ("orga.example", Ipv4Addr::new(127, 0, 0, 1)),
        ("orgb.example", Ipv4Addr::new(127, 0, 0, 2)),
    ]);
    let a = Org::new("orga.example", "127.0.0.1", dns);
    let b = Org::new("orgb.example", "127.0.0.2", dns);
    a.trust(&b.ca_pem);
    b.trust(&a.ca_pem);
    b.add_secure_domain("orga.example");
    (a, b)
}

/// OrgA's SMTP certificate thumbprint.
fn thumbprint(org: &Org) -> String {
    let out = org.xshell(&["get-exchangecertificate", "--output", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let list = match v {
        Value::Array(a) => a,
        other => vec![other],
    };
    list.iter()
        .find(|c| {
            c["Subject"]
                .as_str()
                .is_some_and(|s| s.contains(&format!("mail.{}", org.domain)))
        })
        .and_then(|c| c["Thumbprint"].as_str())
        .unwrap_or_else(|| panic!("no SMTP certificate in {list:?}"))
        .to_string()
}

/// `xshell send-mailmessage` from OrgA's store to OrgB's Inbound connector,
/// from 127.0.0.1: (exit code, stdout, stderr).
fn send(a: &Org, b: &Org, args: &[&str]) -> (i32, String, String) {
    let port = b.port.to_string();
    let mut all = vec![
        "send-mailmessage",
        "--smtp-server",
        &b.ip,
        "--port",
        &port,
        "--source-ip-address",
        "127.0.0.1",
        "--timeout-seconds",
        "20",
    ];
    all.extend_from_slice(args);
    a.lab.try_xshell(&all)
}

/// Waits (at most 30 s) for `n` messages in `local@orgb.example`.
fn delivered(b: &Org, local: &str, n: usize) -> Vec<String> {
    wait_until(Duration::from_secs(30), || {
        b.lab.maildir("orgb.example", local).len() >= n
    });
    let got = b.lab.maildir("orgb.example", local);
    assert_eq!(got.len(), n, "messages in {local}@orgb.example: {got:#?}");
    got
}

#[test]
fn send_mailmessage_against_the_engine() {
    let (a, b) = orgs();
    let _engine = b.start();

    // 1. Plaintext, two attachments, a non-ASCII subject and body.
    let file = a.lab.work.join("report.txt");
    fs::write(&file, "line one\nline two\n").unwrap();
    let bin = a.lab.work.join("data.bin");
    let bytes: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    fs::write(&bin, &bytes).unwrap();
    let attachments = format!("{},{}", file.display(), bin.display());
    let (code, out, err) = send(
        &a,
        &b,
        &[
            "--from",
            "Alice <alice@sender.example>",
            "--to",
            "plain@orgb.example",
            "--subject",
            "Grüße aus Köln",
            "--body",
            "Hallo Bob,\nschöne Grüße.\n.\n",
            "--attachments",
            &attachments,
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Sent"), "{out}");
    let msg = &delivered(&b, "plain", 1)[0];
    let parsed = mail_parser::MessageParser::default()
        .parse(msg.as_bytes())
        .unwrap();
    assert_eq!(parsed.subject(), Some("Grüße aus Köln"), "{msg}");
    assert_eq!(
        parsed.body_text(0).as_deref().map(str::trim_end),
        Some("Hallo Bob,\r\nschöne Grüße.\r\n.").map(|s| s.trim_end()),
        "{msg}"
    );
    assert!(msg.contains("MIME-Version: 1.0"), "{msg}");
    assert!(msg.contains("Message-ID: <"), "{msg}");
    assert!(msg.contains("multipart/mixed"), "{msg}");
    let names: Vec<_> = parsed
        .attachments()
        .map(|p| {
            (
                p.attachment_name().unwrap().to_string(),
                p.contents().to_vec(),
            )
        })
        .collect();
    assert_eq!(names.len(), 2, "{msg}");
    assert_eq!(
        names[0],
        ("report.txt".into(), b"line one\nline two\n".to_vec())
    );
    assert_eq!(names[1], ("data.bin".into(), bytes));

    // 2. -UseSsl: STARTTLS, the certificate verified against OrgA's roots
    //    under the name it carries; the result as JSON.
    let (code, out, err) = send(
        &a,
        &b,
        &[
            "--from",
            "alice@sender.example",
            "--to",
            "tls@orgb.example",
            "--subject",
            "over TLS",
            "--body",
            "x",
            "--use-ssl",
            "--tls-server-name",
            "mail.orgb.example",
            "--output",
            "json",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let r: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let r = if r.is_array() { r[0].clone() } else { r };
    assert_eq!(r["Status"], "Sent", "{r:#}");
    assert_eq!(r["StartTls"], true, "{r:#}");
    assert_eq!(r["ServerCertificateVerified"], true, "{r:#}");
    assert!(
        r["TlsVersion"].as_str().unwrap().starts_with("TLSv1."),
        "{r:#}"
    );
    assert!(r["Cipher"].as_str().is_some_and(|c| !c.is_empty()), "{r:#}");
    assert!(
        r["ServerCertificateSubject"]
            .as_str()
            .unwrap()
            .contains("mail.orgb.example"),
        "{r:#}"
    );
    assert!(r["Reply"].as_str().unwrap().starts_with("250"), "{r:#}");
    let transcript: Vec<&str> = r["Transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(transcript.contains(&"C: STARTTLS"), "{transcript:#?}");
    let msg = &delivered(&b, "tls", 1)[0];
    assert!(msg.contains("(using TLSv1."), "{msg}");

    // ... and a wrong name fails the handshake, naming the check.
    let (code, _, err) = send(
        &a,
        &b,
        &[
            "--from",
            "alice@sender.example",
            "--to",
            "tls@orgb.example",
            "--use-ssl",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("TLS handshake failed"), "{err}");
    assert!(err.contains("-TlsServerName"), "{err}");

    // 3. Domain Security: OrgA's certificate from its store makes the
    //    session domain-secured; shell form with -Verbose.
    let tp = thumbprint(&a);
    let cmd = format!(
        "'partner body' | Send-MailMessage -SmtpServer {} -Port {} -SourceIPAddress 127.0.0.1 -Helo mail.orga.example \
         -From postmaster@orga.example -To secure@orgb.example -Subject 'domain secured' -UseSsl \
         -TlsServerName mail.orgb.example -CertificateThumbprint {tp} -Verbose",
        b.ip, b.port
    );
    let (code, out, err) = a.lab.try_xshell(&["-c", &cmd]);
    assert_eq!(code, 0, "{out}\n{err}");
    for want in [
        "VERBOSE: S: 220 ",
        "VERBOSE: C: EHLO mail.orga.example",
        "VERBOSE: C: STARTTLS",
        "VERBOSE: *  TLS TLSv1.",
        "client certificate presented",
        "VERBOSE: *  server certificate: ",
        "verified for mail.orgb.example",
        "VERBOSE: C: MAIL FROM:<postmaster@orga.example>",
        "VERBOSE: C: <the message, ",
        "VERBOSE: S: 250 2.0.0",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    let msg = &delivered(&b, "secure", 1)[0];
    assert!(
        msg.contains("X-MS-Exchange-Organization-AuthAs: Partner"),
        "{msg}"
    );
    assert!(
        msg.contains("X-MS-Exchange-Organization-AuthDomain: orga.example"),
        "{msg}"
    );
    assert!(msg.contains("partner body"), "{msg}");

    //    Without the certificate: 530 5.7.1, exit 1, nothing delivered.
    let (code, out, err) = send(
        &a,
        &b,
        &[
            "--from",
            "postmaster@orga.example",
            "--to",
            "secure@orgb.example",
            "--subject",
            "must be refused",
            "--use-ssl",
            "--tls-server-name",
            "mail.orgb.example",
        ],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("MAIL FROM:<postmaster@orga.example> refused: 530 5.7.1"),
        "{err}"
    );
    assert!(err.contains("the message was not sent"), "{err}");

    // 4. A refused recipient (no relay to another domain): exit 1, the reply.
    let (code, _, err) = send(
        &a,
        &b,
        &[
            "--from",
            "alice@sender.example",
            "--to",
            "someone@elsewhere.example",
            "--subject",
            "relay?",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("someone@elsewhere.example refused at RCPT TO: 5"),
        "{err}"
    );

    // 5. An unknown thumbprint: the parameter named, nothing sent.
    let (code, _, err) = send(
        &a,
        &b,
        &[
            "--from",
            "postmaster@orga.example",
            "--to",
            "secure@orgb.example",
            "--use-ssl",
            "--certificate-thumbprint",
            "00112233445566778899AABBCCDDEEFF00112233",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("CertificateThumbprint"), "{err}");
    assert!(err.contains("no certificate with thumbprint"), "{err}");

    //    A certificate in the store without its private key (OrgB's,
    //    imported into OrgA's store from the .cer): named, nothing sent.
    let b_cer = b.lab.work.join("smtp.cer");
    a.xshell(&[
        "-c",
        &format!("Import-ExchangeCertificate -Path '{}'", b_cer.display()),
    ]);
    let b_tp = thumbprint(&b);
    let (code, _, err) = send(
        &a,
        &b,
        &[
            "--from",
            "postmaster@orga.example",
            "--to",
            "secure@orgb.example",
            "--use-ssl",
            "--certificate-thumbprint",
            &b_tp,
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("'CertificateThumbprint'"), "{err}");
    assert!(err.contains("has no private key"), "{err}");

    // 6. Nobody listening: a clear error, exit 1.
    let (_l, closed) = listener();
    drop(_l);
    let (code, _, err) = a.lab.try_xshell(&[
        "send-mailmessage",
        "--smtp-server",
        "127.0.0.1",
        "--port",
        &closed.to_string(),
        "--from",
        "a@orga.example",
        "--to",
        "b@orgb.example",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot connect to 127.0.0.1:"), "{err}");
    assert!(err.contains("refused"), "{err}");

    // Nothing more arrived than the three accepted messages.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(b.lab.maildir("orgb.example", "secure").len(), 1);
    assert_eq!(b.lab.maildir("orgb.example", "tls").len(), 1);
}

#[test]
fn use_ssl_requires_starttls_and_the_certificate_check_can_be_skipped() {
    let lab = transport_support::Lab::new();
    let send = |port: u16, extra: &[&str]| {
        let port = port.to_string();
        let mut args = vec![
            "send-mailmessage",
            "--smtp-server",
            "127.0.0.1",
            "--port",
            &port,
            "--from",
            "a@orga.example",
            "--to",
            "b@fake.test",
            "--subject",
            "s",
            "--body",
            "b",
            "--timeout-seconds",
            "20",
        ];
        args.extend_from_slice(extra);
        lab.try_xshell(&args)
    };

    // No STARTTLS offered: -UseSsl fails before MAIL FROM.
    let (l, plain_port) = listener();
    let plain = fake_server(l, None);
    let (code, _, err) = send(plain_port, &["--use-ssl", "--skip-certificate-check"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("does not offer STARTTLS"), "{err}");
    assert!(err.contains("-UseSsl"), "{err}");
    let seen = plain.lock().unwrap().clone();
    assert!(!seen.plain_mail && seen.delivered.is_empty(), "{seen:?}");
    // Without -UseSsl the same server gets the message in plaintext.
    let (code, _, err) = send(plain_port, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(plain.lock().unwrap().delivered, vec![false]);
    // $VerbosePreference = 'Continue' shows the conversation as -Verbose
    // does; -Verbose:$false silences it again.
    let cmd = format!(
        "$VerbosePreference = 'Continue'; Send-MailMessage -SmtpServer 127.0.0.1 -Port {plain_port} \
         -From a@orga.example -To b@fake.test -Subject s -Body b"
    );
    let (code, _, err) = lab.try_xshell(&["-c", &cmd]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("VERBOSE: S: 220 fake.test ESMTP"), "{err}");
    assert!(
        err.contains("VERBOSE: C: MAIL FROM:<a@orga.example>"),
        "{err}"
    );
    let (code, _, err) = lab.try_xshell(&["-c", &format!("{cmd} -Verbose:$false")]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("VERBOSE:"), "{err}");
    assert_eq!(plain.lock().unwrap().delivered, vec![false; 3]);

    // A self-signed server certificate and a store without roots: the
    // check cannot be done, and says how to proceed; nothing is sent.
    let (l, tls_port) = listener();
    let tls = fake_server(l, Some(pki::self_signed("fake.test")));
    let (code, _, err) = send(tls_port, &["--use-ssl"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("'UseSsl'") && err.contains("-SkipCertificateCheck"),
        "{err}"
    );
    assert_eq!(tls.lock().unwrap().connections, 0);
    // -SkipCertificateCheck: sent over TLS, reported as not verified.
    let (code, out, err) = send(
        tls_port,
        &["--use-ssl", "--skip-certificate-check", "--output", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let r = if r.is_array() { r[0].clone() } else { r };
    assert_eq!(r["ServerCertificateVerified"], false, "{r:#}");
    assert_eq!(r["Reply"], "250 2.0.0 queued", "{r:#}");
    assert_eq!(tls.lock().unwrap().delivered, vec![true]);
}
