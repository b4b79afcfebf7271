//! The receiving engine against real clients (swaks, openssl s_client) on
//! loopback: Domain Security, opportunistic TLS, relay refusal, header
//! stripping, TLS versions, tracking log.
#![allow(clippy::unwrap_used)]

mod transport_support;

use std::time::Duration;

use transport_support::*;

fn reply_line<'a>(transcript: &'a str, code: &str) -> Option<&'a str> {
    transcript
        .lines()
        .find(|l| l.trim_start_matches(['<', '*', '~', ' ']).starts_with(code))
}

#[test]
fn domain_security_accepts_a_verified_partner_and_refuses_everything_else() {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    let partner_ca = lab.ca("partner-ca", "Partner CA");
    lab.trust(&partner_ca.cert);
    let partner = lab.issue(
        "partner",
        &partner_ca,
        "mail.partner.example",
        &["mail.partner.example", "partner.example"],
    );
    let other_domain = lab.issue(
        "other",
        &partner_ca,
        "mail.other.example",
        &["mail.other.example"],
    );
    let rogue_ca = lab.ca("rogue-ca", "Partner CA");
    let rogue = lab.issue(
        "rogue",
        &rogue_ca,
        "mail.partner.example",
        &["mail.partner.example"],
    );
    let _engine = lab.start_engine(port);

    let cert = |c: &CertFiles| {
        vec![
            "--tls-cert".to_string(),
            c.cert.display().to_string(),
            "--tls-key".to_string(),
            c.key.display().to_string(),
        ]
    };
    let send = |extra: &[String]| {
        let mut args: Vec<String> = [
            "--from",
            "alice@partner.example",
            "--to",
            "bob@orga.example",
            "--header",
            "Subject: domain secured",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().cloned());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        swaks(port, &refs)
    };

    // refusals first: nothing may be queued by them
    let t = send(&[]);
    assert!(reply_line(&t, "530 5.7.1").is_some(), "plaintext:\n{t}");
    let t = send(&["--tls".into()]);
    assert!(
        reply_line(&t, "530 5.7.1").is_some(),
        "no certificate:\n{t}"
    );
    let mut a = vec!["--tls".to_string()];
    a.extend(cert(&rogue));
    let t = send(&a);
    assert!(
        reply_line(&t, "454 4.7.5 Certificate validation failure").is_some(),
        "untrusted CA:\n{t}"
    );
    let mut a = vec!["--tls".to_string()];
    a.extend(cert(&other_domain));
    let t = send(&a);
    assert!(reply_line(&t, "454 4.7.5").is_some(), "other domain:\n{t}");
    assert!(lab.queued_envelopes().is_empty());
    assert!(lab.maildir("orga.example", "bob").is_empty());
    assert!(tracking_lines(&lab.tracking_log()).is_empty());

    // the verified partner
    let mut a = vec!["--tls".to_string()];
    a.extend(cert(&partner));
    let t = send(&a);
    assert!(
        reply_line(&t, "250 2.0.0 Queued as").is_some(),
        "partner:\n{t}"
    );
    assert!(
        wait_until(Duration::from_secs(10), || lab
            .maildir("orga.example", "bob")
            .len()
            == 1),
        "not delivered"
    );
    let m = &lab.maildir("orga.example", "bob")[0];
    for want in [
        "X-MS-Exchange-Organization-AuthAs: Partner\r\n",
        "X-MS-Exchange-Organization-AuthMechanism: 02\r\n",
        "X-MS-Exchange-Organization-AuthDomain: partner.example\r\n",
        "X-MS-Exchange-Organization-AuthSource: mail.orga.example\r\n",
        "(using TLSv1.3 with cipher TLS13_",
        "(Client CN \"mail.partner.example\", Issuer \"Partner CA\" (verified OK))",
        "by mail.orga.example (xshell-transport) with ESMTPS",
        "Subject: domain secured",
    ] {
        assert!(m.contains(want), "missing {want:?} in:\n{m}");
    }
    assert!(
        m.starts_with("Received: from client.test (unknown [127.0.0.1])"),
        "{m}"
    );

    // tracking: RECEIVE and DELIVER with the TLS facts
    assert!(wait_until(Duration::from_secs(5), || tracking_lines(
        &lab.tracking_log()
    )
    .len()
        >= 2));
    let lines = tracking_lines(&lab.tracking_log());
    for event in ["RECEIVE", "DELIVER"] {
        let l = lines
            .iter()
            .find(|l| l["event_id"] == event)
            .unwrap_or_else(|| panic!("no {event} in {lines:?}"));
        assert_eq!(l["tls_version"], "TLSv1.3", "{l}");
        assert!(
            l["tls_cipher"].as_str().unwrap().starts_with("TLS13_"),
            "{l}"
        );
        assert_eq!(l["peer_certificate_subject"], "CN=mail.partner.example");
        assert_eq!(l["peer_certificate_verified"], true);
        assert_eq!(l["auth_as"], "Partner");
        assert_eq!(l["sender"], "alice@partner.example");
        assert_eq!(l["recipients"][0], "bob@orga.example");
        assert_eq!(l["connector"], "Inbound");
        assert_eq!(l["client_ip"], "127.0.0.1");
        assert!(l["message_id"].as_str().unwrap().starts_with('<'), "{l}");
        assert!(l["time"].as_str().unwrap().ends_with('Z'), "{l}");
    }
    // delivered messages leave the queue
    assert!(wait_until(Duration::from_secs(5), || lab
        .queued_envelopes()
        .is_empty()));
}

#[test]
fn opportunistic_tls_relay_refusal_and_forged_headers() {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    let stranger = lab.self_signed("stranger", "mx.random.example");
    let _engine = lab.start_engine(port);

    // a self-signed certificate from a domain not on the list: anonymous,
    // and a forged organization header is removed
    let t = swaks(
        port,
        &[
            "--from",
            "someone@random.example",
            "--to",
            "carol@orga.example",
            "--tls",
            "--tls-cert",
            stranger.cert.to_str().unwrap(),
            "--tls-key",
            stranger.key.to_str().unwrap(),
            "--add-header",
            "X-MS-Exchange-Organization-AuthAs: Partner",
            "--add-header",
            "X-MS-Exchange-Organization-AuthDomain: partner.example",
            "--body",
            "X-MS-Exchange-Organization-AuthAs: body text stays\r\n",
        ],
    );
    assert!(reply_line(&t, "250 2.0.0 Queued as").is_some(), "{t}");
    assert!(wait_until(Duration::from_secs(10), || lab
        .maildir("orga.example", "carol")
        .len()
        == 1));
    let m = &lab.maildir("orga.example", "carol")[0];
    // the forged headers were sent
    assert!(
        t.contains("~> X-MS-Exchange-Organization-AuthAs: Partner"),
        "{t}"
    );
    let (head, body) = m.split_once("\r\n\r\n").unwrap();
    assert!(
        head.ends_with("X-MS-Exchange-Organization-AuthAs: Anonymous"),
        "{m}"
    );
    assert!(!head.contains("AuthAs: Partner"), "{m}");
    assert!(!head.contains("AuthDomain"), "{m}");
    assert!(
        head.contains(
            "(Client CN \"mx.random.example\", Issuer \"mx.random.example\" (not verified))"
        ),
        "{m}"
    );
    assert!(
        body.contains("X-MS-Exchange-Organization-AuthAs: body text stays"),
        "{m}"
    );

    // open relay attempts, with and without TLS
    for tls in [false, true] {
        let mut args = vec![
            "--from",
            "spam@random.example",
            "--to",
            "victim@elsewhere.example",
        ];
        if tls {
            args.push("--tls");
        }
        let t = swaks(port, &args);
        assert!(
            reply_line(
                &t,
                "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain"
            )
            .is_some(),
            "{t}"
        );
    }
    // a partner authenticated by Domain Security may not relay either
    // (checked in the policy unit tests); nothing else was queued
    assert_eq!(lab.maildir("orga.example", "carol").len(), 1);
    assert!(wait_until(Duration::from_secs(5), || lab
        .queued_envelopes()
        .is_empty()));
}

#[test]
fn direct_trust_authenticates_our_own_certificate_as_internal() {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    // Direct Trust needs a connector that grants ExchangeServers
    lab.xshell(&[
        "set-receiveconnector",
        "Inbound",
        "--permission-groups",
        "AnonymousUsers,ExchangeServers",
    ]);
    // our own certificate and key, as another server of ours would hold them
    let certs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(lab.store.join("config.json")).unwrap())
            .unwrap();
    let rec = &certs["Certificates"][0];
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        rec["Certificate"].as_str().unwrap()
    );
    let cert = lab.work.join("own.pem");
    std::fs::write(&cert, pem).unwrap();
    let key = lab.store.join("keys").join(rec["KeyId"].as_str().unwrap());
    let _engine = lab.start_engine(port);

    let t = swaks(
        port,
        &[
            "--from",
            "app@orga.example",
            "--to",
            "someone@elsewhere.example",
            "--tls",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(reply_line(&t, "250 2.0.0 Queued as").is_some(), "{t}");
    // Not local: it stays queued for the sending side. There is no send
    // connector, so the runner (if it got to it already) defers it with
    // 451 4.4.4; either way it is queued, not delivered, not bounced.
    let q = lab.queued_envelopes();
    assert_eq!(q.len(), 1);
    let env: serde_json::Value = serde_json::from_str(&q[0]).unwrap();
    assert_eq!(env["envelope"]["auth"]["auth_as"], "Internal");
    assert_eq!(env["envelope"]["auth"]["mechanism"], "DirectTrustTLS");
    let state = &env["envelope"]["recipients"][0]["status"]["state"];
    assert!(state == "pending" || state == "deferred", "{state}");
}

fn s_client(port: u16, extra: &[&str]) -> String {
    let out = std::process::Command::new("timeout")
        .arg("30")
        .arg("openssl")
        .args(["s_client", "-starttls", "smtp", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(extra)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn openssl_sees_tls13_and_our_certificate_and_old_versions_are_refused() {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    let engine = lab.start_engine(port);

    let t = s_client(port, &[]);
    assert!(t.contains("TLSv1.3"), "{t}");
    assert!(t.contains("subject=CN = mail.orga.example"), "{t}");
    let t = s_client(port, &["-tls1_2"]);
    assert!(
        t.contains("Protocol  : TLSv1.2") || t.contains("TLSv1.2"),
        "{t}"
    );
    for old in ["-tls1_1", "-tls1"] {
        let t = s_client(port, &[old, "-cipher", "DEFAULT@SECLEVEL=0"]);
        assert!(
            !t.contains("Cipher is ") || t.contains("Cipher is (NONE)"),
            "{old} negotiated:\n{t}"
        );
        assert!(
            t.contains("alert") || t.contains("error") || t.contains("no protocols"),
            "{old}:\n{t}"
        );
    }
    assert!(
        wait_until(Duration::from_secs(5), || engine
            .log_text()
            .contains("TLS handshake failed")),
        "{}",
        engine.log_text()
    );
}

/// A field of `/proc/<pid>/status` in kB (VmHWM, VmRSS).
fn proc_kb(pid: i32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Three 30 MB messages at once through real sockets: the engine streams
/// DATA to its queue and copies the queue file to the Maildir, so its peak
/// memory grows by far less than one message (it held each message
/// several times over before: 3 x 30 MB x 2-3 copies).
#[test]
fn large_messages_are_streamed_not_held_in_memory() {
    const MESSAGE: usize = 30 * 1024 * 1024;
    const SENDERS: usize = 3;
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    lab.xshell(&[
        "set-receiveconnector",
        "Inbound",
        "--max-message-size",
        "35MB",
    ]);
    lab.xshell(&["set-transportconfig", "--max-receive-size", "35MB"]);
    let engine = lab.start_engine(port);
    let pid = engine.pid();
    // Settled: one small message through the whole path first.
    let t = swaks(
        port,
        &["--from", "alice@sender.example", "--to", "bob@orga.example"],
    );
    assert!(t.contains("250 2.0.0 Queued"), "{t}");
    assert!(wait_until(Duration::from_secs(30), || lab
        .maildir("orga.example", "bob")
        .len()
        == 1));
    let before = proc_kb(pid, "VmHWM");
    assert!(before > 0, "no VmHWM for the engine");

    let line = format!("{}\r\n", "0123456789".repeat(7)); // 72 octets
    let body: Vec<u8> = line.as_bytes().repeat(MESSAGE / line.len());
    let body = std::sync::Arc::new(body);
    let senders: Vec<_> = (0..SENDERS)
        .map(|i| {
            let body = std::sync::Arc::clone(&body);
            std::thread::spawn(move || {
                let mut raw = Raw::connect(port);
                raw.stream
                    .set_read_timeout(Some(Duration::from_secs(120)))
                    .unwrap();
                assert!(raw.reply().starts_with("220"));
                raw.cmd("EHLO client.test");
                let r = raw.cmd(&format!("MAIL FROM:<big{i}@sender.example> SIZE={MESSAGE}"));
                assert!(r.starts_with("250"), "{r}");
                assert!(raw.cmd("RCPT TO:<bob@orga.example>").starts_with("250"));
                assert!(raw.cmd("DATA").starts_with("354"));
                raw.send(
                    format!("Subject: big {i}\r\nMessage-ID: <big{i}@sender.example>\r\n\r\n")
                        .as_bytes(),
                );
                for piece in body.chunks(1 << 20) {
                    raw.send(piece);
                }
                let r = raw.cmd(".");
                assert!(r.starts_with("250 2.0.0 Queued"), "{r}");
                raw.cmd("QUIT");
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    assert!(
        wait_until(Duration::from_secs(120), || lab
            .maildir("orga.example", "bob")
            .len()
            == 1 + SENDERS),
        "the large messages were not delivered:\n{}",
        engine.log_text()
    );
    let after = proc_kb(pid, "VmHWM");
    let grown_mb = after.saturating_sub(before) / 1024;
    eprintln!("engine VmHWM {before} kB -> {after} kB (+{grown_mb} MB)");
    assert!(
        grown_mb < 16,
        "peak memory grew by {grown_mb} MB for {SENDERS} messages of 30 MB"
    );
    // Delivered whole and stamped.
    for m in lab.maildir("orga.example", "bob") {
        if !m.contains("Subject: big") {
            continue;
        }
        assert!(m.starts_with("Received: from client.test"), "{}", &m[..200]);
        assert!(m.contains("X-MS-Exchange-Organization-AuthAs: Anonymous\r\n"));
        let (_, b) = m.split_once("\r\n\r\n").unwrap();
        assert_eq!(b.len(), body.len());
        assert!(b.as_bytes() == body.as_slice());
    }
}
