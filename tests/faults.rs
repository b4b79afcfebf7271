//! Reliability under faults, end to end on loopback.
//!
//! Disk full: a small tmpfs mounted over the queue (the message is refused
//! with `452 4.3.1`, never acknowledged, accepted once space returns), over
//! the mailboxes (local delivery is deferred, the message stays queued and
//! is delivered once space returns) and over the tracking log (mail keeps
//! flowing, the failure is logged). These tests mount, so they must run as
//! root (CI does); otherwise they fail with a clear message.
//!
//! Peer faults on the sending side: fake next hops that reset the
//! connection in the middle of the message, stall (the send connector's
//! ConnectionInactivityTimeout fires), answer garbage, or break STARTTLS.
//! Each time the message stays queued with a LastError that names the
//! fault and a NextRetryTime, the engine keeps running, and after the peer
//! behaves and Retry-Queue the message is delivered exactly once; mandatory
//! TLS (RequireTLS, Domain Security) never sends in plaintext.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod faults_support;
mod transport_send_support;
mod transport_support;

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faults_support::*;
use serde_json::Value;
use transport_send_support::pki;
use transport_support::*;

const WAIT: Duration = Duration::from_secs(30);

/// `xshell ... --output json`, parsed (an empty answer is an empty list).
fn json(lab: &Lab, args: &[&str]) -> Value {
    let (code, out, err) = lab.try_xshell(&[args, &["--output", "json"]].concat());
    assert_eq!(code, 0, "xshell {args:?}: {err}");
    if out.trim().is_empty() {
        return Value::Array(Vec::new());
    }
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}\n{out}"))
}

fn queue_named(lab: &Lab, hop: &str) -> Option<Value> {
    json(lab, &["get-queue"])
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["NextHopDomain"] == hop)
        .cloned()
}

fn assert_alive(engine: &mut Engine) {
    assert!(
        engine.child.try_wait().unwrap().is_none(),
        "the engine exited:\n{}",
        engine.log_text()
    );
    assert!(
        !engine.log_text().contains("panicked"),
        "{}",
        engine.log_text()
    );
}

/// Files in `dir` (none if it does not exist).
fn files_in(dir: &std::path::Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

// ------------------------------------------------------------------ disk full

#[test]
fn a_full_queue_disk_refuses_with_452_4_3_1_and_accepts_once_space_returns() {
    require_root("a_full_queue_disk_...");
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    // the queue is <store>/queue (no QueueDatabasePath set)
    let disk = Tmpfs::mount(&lab.store.join("queue"), "2m");
    let mut engine = lab.start_engine(port);
    disk.fill();

    let t = swaks(
        port,
        &["--from", "alice@sender.example", "--to", "bob@orga.example"],
    );
    assert!(t.contains("452 4.3.1"), "expected 452 4.3.1 at DATA:\n{t}");
    assert!(!t.contains("250 2.0.0 Queued"), "{t}");
    assert!(
        engine.log_text().contains("No space left on device"),
        "the log names the cause:\n{}",
        engine.log_text()
    );
    // a raw client sees the same: the 452 comes after the final dot
    let mut raw = Raw::connect(port);
    assert!(raw.reply().starts_with("220"));
    raw.cmd("EHLO client.test");
    assert!(
        raw.cmd("MAIL FROM:<carol@sender.example>")
            .starts_with("250")
    );
    assert!(raw.cmd("RCPT TO:<bob@orga.example>").starts_with("250"));
    assert!(raw.cmd("DATA").starts_with("354"));
    let r = raw.cmd("Subject: full\r\n\r\nbody\r\n.");
    assert!(r.starts_with("452 4.3.1 "), "{r}");
    // the session stays usable
    assert!(raw.cmd("RSET").starts_with("250"), "RSET after 452");
    assert!(raw.cmd("QUIT").starts_with("221"));

    assert!(lab.queued_envelopes().is_empty(), "nothing was queued");
    let eml: Vec<String> = files_in(&lab.store.join("queue/active"));
    assert!(eml.is_empty(), "queue/active: {eml:?}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(lab.maildir("orga.example", "bob").is_empty());
    assert_alive(&mut engine);

    // space returns: the same message is accepted and delivered
    disk.free();
    let t = swaks(
        port,
        &[
            "--from",
            "alice@sender.example",
            "--to",
            "bob@orga.example",
            "--header",
            "Subject: after the disk was freed",
        ],
    );
    assert!(t.contains("250 2.0.0 Queued as"), "{t}");
    assert!(
        wait_until(WAIT, || lab.maildir("orga.example", "bob").len() == 1),
        "not delivered:\n{}",
        engine.log_text()
    );
    assert!(lab.maildir("orga.example", "bob")[0].contains("after the disk was freed"));
    assert!(wait_until(WAIT, || lab.queued_envelopes().is_empty()));
    // The refused writes gave their space back at once (not at the next start).
    let leftovers = files_in(&lab.store.join("queue/tmp"));
    assert!(
        leftovers.is_empty(),
        "queue/tmp after the refused writes: {leftovers:?}"
    );
    assert_alive(&mut engine);
}

#[test]
fn a_full_mailbox_disk_defers_local_delivery_and_delivers_once_space_returns() {
    require_root("a_full_mailbox_disk_...");
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    let disk = Tmpfs::mount(&lab.mailboxes(), "1m");
    let mut engine = lab.start_engine(port);
    disk.fill();

    let t = swaks(
        port,
        &[
            "--from",
            "alice@sender.example",
            "--to",
            "bob@orga.example",
            "--header",
            "Subject: waits for space",
        ],
    );
    assert!(t.contains("250 2.0.0 Queued as"), "{t}");
    // deferred, with the reason, in the queue and in Get-Queue
    let mut env = Value::Null;
    assert!(
        wait_until(WAIT, || {
            env = lab
                .queued_envelopes()
                .first()
                .map(|s| serde_json::from_str(s).unwrap())
                .unwrap_or(Value::Null);
            env["envelope"]["recipients"][0]["status"]["state"] == "deferred"
        }),
        "not deferred: {env:#}\n{}",
        engine.log_text()
    );
    let reason = env["envelope"]["recipients"][0]["status"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("No space left on device"), "{env:#}");
    let q = queue_named(&lab, "LocalDelivery").expect("a LocalDelivery queue");
    assert_eq!(q["MessageCount"], 1, "{q:#}");
    let msgs = json(&lab, &["get-message", "--queue", "LocalDelivery"]);
    assert_eq!(msgs.as_array().unwrap().len(), 1, "{msgs:#}");
    assert!(lab.maildir("orga.example", "bob").is_empty());
    let tmp = lab.mailboxes().join("orga.example/bob/Maildir/tmp");
    assert!(files_in(&tmp).is_empty(), "partial file left: {tmp:?}");
    assert_alive(&mut engine);

    // space returns; Retry-Queue hands the message to local delivery again
    disk.free();
    let (code, _, err) = lab.try_xshell(&["retry-queue", "LocalDelivery"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        wait_until(WAIT, || lab.maildir("orga.example", "bob").len() == 1
            && lab.queued_envelopes().is_empty()),
        "not delivered after space returned:\n{}",
        engine.log_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    let got = lab.maildir("orga.example", "bob");
    assert_eq!(got.len(), 1, "exactly once");
    assert!(got[0].contains("waits for space"));
    assert_alive(&mut engine);
}

#[test]
fn a_full_tracking_log_disk_does_not_stop_mail() {
    require_root("a_full_tracking_log_disk_...");
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    let log_dir = lab.tracking_log().parent().unwrap().to_path_buf();
    let disk = Tmpfs::mount(&log_dir, "1m");
    let mut engine = lab.start_engine(port);
    disk.fill();

    for n in 1..=2 {
        let t = swaks(
            port,
            &[
                "--from",
                "alice@sender.example",
                "--to",
                "bob@orga.example",
                "--header",
                &format!("Subject: untracked {n}"),
            ],
        );
        assert!(t.contains("250 2.0.0 Queued as"), "{t}");
    }
    assert!(
        wait_until(WAIT, || lab.maildir("orga.example", "bob").len() == 2),
        "{}",
        engine.log_text()
    );
    assert!(
        engine.log_text().contains("cannot write the tracking log"),
        "{}",
        engine.log_text()
    );
    assert_alive(&mut engine);

    // space returns: tracking resumes with the next message
    disk.free();
    let t = swaks(
        port,
        &["--from", "dave@sender.example", "--to", "bob@orga.example"],
    );
    assert!(t.contains("250 2.0.0 Queued as"), "{t}");
    assert!(
        wait_until(WAIT, || {
            tracking_lines(&lab.tracking_log())
                .iter()
                .any(|e| e["event_id"] == "DELIVER" && e["sender"] == "dave@sender.example")
        }),
        "{}",
        engine.log_text()
    );
    assert_eq!(lab.maildir("orga.example", "bob").len(), 3);
    assert_alive(&mut engine);
}

// ------------------------------------------------------------------ peer faults

/// Organization A with relay.example (ExternalRelay) sent through a send
/// connector to the smart host 127.0.0.1:`peer` (ConnectionInactivityTimeout
/// 3 s, plus `extra` flags); retry intervals long enough that only
/// Retry-Queue retries within the test.
fn relay_lab(peer: u16, extra: &[&str]) -> (Lab, u16) {
    relay_lab_via(peer, extra, None)
}

/// [`relay_lab`], routed by DNS (MX relay.example -> mail.relay.example
/// -> 127.0.0.1 from `dns`, port `peer`) when `dns` is given.
fn relay_lab_via(peer: u16, extra: &[&str], dns: Option<SocketAddr>) -> (Lab, u16) {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    lab.xshell(&[
        "new-accepteddomain",
        "Relay",
        "--domain-name",
        "relay.example",
        "--domain-type",
        "ExternalRelay",
    ]);
    lab.xshell(&[
        "set-transportservice",
        "--transient-failure-retry-interval",
        "00:05:00",
        "--outbound-connection-failure-retry-interval",
        "00:05:00",
        "--message-retry-interval",
        "00:05:00",
    ]);
    let smart = format!("127.0.0.1:{peer}");
    let port_text = peer.to_string();
    let mut args = vec![
        "new-sendconnector",
        "Outbound",
        "--address-spaces",
        "relay.example",
        "--connection-inactivity-timeout",
        "00:00:03",
    ];
    let dns_text = dns.map(|d| d.to_string());
    match &dns_text {
        Some(d) => {
            lab.xshell(&["set-transportservice", "--external-dns-servers", d]);
            args.extend(["--port", &port_text]);
        }
        None => args.extend(["--dns-routing-enabled=false", "--smart-hosts", &smart]),
    }
    args.extend_from_slice(extra);
    lab.xshell(&args);
    (lab, port)
}

/// A message of about 40 KB for user@relay.example.
fn send_relay(port: u16, msgid: &str) {
    let body = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu\n".repeat(600);
    let header = format!("Message-Id: <{msgid}>");
    let t = swaks(
        port,
        &[
            "--from",
            "alice@sender.example",
            "--to",
            "user@relay.example",
            "--header",
            &header,
            "--body",
            &body,
        ],
    );
    assert!(t.contains("250 2.0.0 Queued as"), "{t}");
}

/// Waits until the relay.example queue shows a LastError after at least
/// one faulty connection; checks Get-Queue and Get-Message; returns the
/// LastError.
fn wait_deferred(lab: &Lab, peer: &Peer, engine: &mut Engine, want: &[&str]) -> String {
    let mut q = Value::Null;
    let ok = wait_until(WAIT, || {
        q = queue_named(lab, "relay.example").unwrap_or(Value::Null);
        peer.log().faults >= 1
            && q["LastError"].as_str().is_some_and(|e| !e.is_empty())
            && q["Status"] == "Retry"
    });
    assert!(
        ok,
        "no LastError: {q:#}\npeer: {:?}\n{}",
        peer.log(),
        engine.log_text()
    );
    let last_error = q["LastError"].as_str().unwrap().to_string();
    for w in want {
        assert!(
            last_error.contains(w),
            "LastError {last_error:?} lacks {w:?}"
        );
    }
    assert_eq!(q["MessageCount"], 1, "{q:#}");
    assert_eq!(q["Status"], "Retry", "{q:#}");
    assert!(!q["NextRetryTime"].is_null(), "{q:#}");
    let msgs = json(lab, &["get-message", "--queue", "relay.example"]);
    let msgs = msgs.as_array().unwrap();
    assert_eq!(msgs.len(), 1, "{msgs:#?}");
    assert_eq!(msgs[0]["Recipients"][0]["Address"], "user@relay.example");
    assert_eq!(lab.queued_envelopes().len(), 1);
    assert!(peer.log().received.is_empty(), "{:?}", peer.log());
    assert_alive(engine);
    last_error
}

/// Retry-Queue, then waits for exactly one delivery to the peer; returns
/// whether it went over TLS.
fn retry_and_deliver_once(lab: &Lab, peer: &Peer, engine: &mut Engine, msgid: &str) -> bool {
    let (code, _, err) = lab.try_xshell(&["retry-queue", "relay.example"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        wait_until(WAIT, || peer.log().received.len() == 1
            && lab.queued_envelopes().is_empty()),
        "not delivered after the peer recovered: {:?}\nqueue {:?}\n{}",
        peer.log(),
        lab.queued_envelopes(),
        engine.log_text()
    );
    std::thread::sleep(Duration::from_secs(1));
    let log = peer.log();
    assert_eq!(log.received.len(), 1, "exactly once: {log:?}");
    assert!(log.received[0].data.contains(msgid), "{log:?}");
    assert!(queue_named(lab, "relay.example").is_none());
    assert_alive(engine);
    log.received[0].tls
}

/// The whole story for a plaintext (opportunistic, nothing offered) peer
/// fault: queued with `want` in LastError, then healed and delivered once.
fn plain_fault(fault: Fault, msgid: &str, want: &[&str]) -> String {
    let peer = Peer::start(fault, None);
    let (lab, port) = relay_lab(peer.port, &[]);
    let mut engine = lab.start_engine(port);
    let started = Instant::now();
    send_relay(port, msgid);
    let last_error = wait_deferred(&lab, &peer, &mut engine, want);
    eprintln!(
        "{fault:?}: deferred after {:?}: {last_error}",
        started.elapsed()
    );
    peer.heal();
    assert!(!retry_and_deliver_once(&lab, &peer, &mut engine, msgid));
    last_error
}

#[test]
fn peer_resets_the_connection_in_the_middle_of_the_message() {
    plain_fault(
        Fault::ResetInData,
        "reset@sender.example",
        &["451 4.4.2", "Connection reset by peer"],
    );
}

#[test]
fn peer_stalls_after_the_banner_and_the_inactivity_timeout_fires() {
    let started = Instant::now();
    plain_fault(
        Fault::StallAfterBanner,
        "stall-ehlo@sender.example",
        &["451 4.4.2", "no reply in time"],
    );
    // the 3 s ConnectionInactivityTimeout, not the 10 minute default
    assert!(started.elapsed() < Duration::from_secs(120));
}

#[test]
fn peer_stalls_after_the_final_dot_and_the_inactivity_timeout_fires() {
    plain_fault(
        Fault::StallAfterData,
        "stall-dot@sender.example",
        &["451 4.4.2", "no reply in time"],
    );
}

/// While the runner waits for the stalled next hop, Get-Queue and
/// Get-Message say Active (a delivery is working on it); once the attempt
/// has failed they say Retry.
#[test]
fn a_queue_being_delivered_is_active() {
    let peer = Peer::start(Fault::StallAfterData, None);
    let (lab, port) = relay_lab(peer.port, &[]);
    let mut engine = lab.start_engine(port);
    send_relay(port, "active@sender.example");
    let status = |lab: &Lab| queue_named(lab, "relay.example").map(|q| q["Status"].clone());
    assert!(
        wait_until(Duration::from_secs(20), || status(&lab)
            == Some(Value::from("Active"))),
        "never Active: {:?}\n{}",
        queue_named(&lab, "relay.example"),
        engine.log_text()
    );
    let msgs = json(&lab, &["get-message", "--queue", "relay.example"]);
    assert_eq!(msgs[0]["Status"], "Active", "{msgs}");
    wait_deferred(&lab, &peer, &mut engine, &["451 4.4.2", "no reply in time"]);
    assert_eq!(status(&lab), Some(Value::from("Retry")));
}

#[test]
fn peer_answers_http_instead_of_a_banner() {
    plain_fault(
        Fault::GarbageBanner,
        "http@sender.example",
        &["451 4.4.0", "protocol error", "HTTP/1.1 400 Bad Request"],
    );
}

#[test]
fn peer_answers_binary_garbage_to_ehlo() {
    plain_fault(
        Fault::GarbageEhlo,
        "garbage@sender.example",
        &["451 4.4.0", "protocol error"],
    );
}

#[test]
fn starttls_broken_opportunistic_falls_back_to_plaintext() {
    for (fault, msgid) in [
        (Fault::StartTlsClose, "tls-close@sender.example"),
        (Fault::StartTlsMidHandshake, "tls-half@sender.example"),
    ] {
        // the peer never heals: the documented fallback is plaintext
        let peer = Peer::start(fault, None);
        let (lab, port) = relay_lab(peer.port, &[]);
        let mut engine = lab.start_engine(port);
        send_relay(port, msgid);
        let e = wait_deferred(
            &lab,
            &peer,
            &mut engine,
            &[
                "451 4.4.0 TLS negotiation failed",
                "next attempt to this host is in plaintext",
            ],
        );
        eprintln!("{fault:?} (opportunistic): {e}");
        assert_eq!(peer.log().plain_mail, 0, "nothing sent before the retry");
        let tls = retry_and_deliver_once(&lab, &peer, &mut engine, msgid);
        assert!(!tls, "delivered in plaintext after the failed handshake");
        assert_eq!(peer.log().plain_mail, 1);
    }
}

#[test]
fn starttls_broken_with_require_tls_never_sends_in_plaintext() {
    let cert = pki::self_signed("fake.test");
    let tls = server_tls(cert.chain, cert.key);
    let peer = Peer::start(Fault::StartTlsClose, Some(Arc::clone(&tls)));
    let (lab, port) = relay_lab(
        peer.port,
        &["--require-tls", "--tls-auth-level", "EncryptionOnly"],
    );
    let mut engine = lab.start_engine(port);
    send_relay(port, "require-tls@sender.example");
    let e = wait_deferred(
        &lab,
        &peer,
        &mut engine,
        &["451 4.4.0 TLS negotiation failed"],
    );
    assert!(!e.contains("plaintext"), "{e}");
    eprintln!("StartTlsClose (RequireTLS): {e}");
    // a retry against the still broken peer: still no plaintext
    let (code, _, err) = lab.try_xshell(&["retry-queue", "relay.example"]);
    assert_eq!(code, 0, "{err}");
    assert!(wait_until(WAIT, || peer.log().faults >= 2));
    let e = wait_deferred(
        &lab,
        &peer,
        &mut engine,
        &["451 4.4.0 TLS negotiation failed"],
    );
    assert!(!e.contains("plaintext"), "{e}");
    assert_eq!(peer.log().plain_mail, 0, "{:?}", peer.log());
    peer.heal();
    let over_tls = retry_and_deliver_once(&lab, &peer, &mut engine, "require-tls@sender.example");
    assert!(over_tls);
    assert_eq!(peer.log().plain_mail, 0, "{:?}", peer.log());
}

#[test]
fn starttls_broken_with_domain_security_never_sends_in_plaintext() {
    let ca = pki::ca("Relay Lab CA");
    let cert = pki::issue(&ca, &["mail.relay.example", "relay.example"]);
    let tls = server_tls(cert.chain, cert.key);
    let peer = Peer::start(Fault::StartTlsMidHandshake, Some(Arc::clone(&tls)));
    // Domain Security validates the partner's MX: route by (loopback) DNS
    let dns = transport_send_support::dns_server(&[("relay.example", Ipv4Addr::LOCALHOST)]);
    let (lab, port) = relay_lab_via(peer.port, &["--domain-secure-enabled"], Some(dns));
    let ca_pem = pki::ca_file(&ca, &lab.work, "relay-ca");
    lab.xshell(&["import-certificate", ca_pem.to_str().unwrap()]);
    lab.xshell(&[
        "set-transportconfig",
        "--tls-send-domain-secure-list",
        "relay.example",
    ]);
    let mut engine = lab.start_engine(port);
    send_relay(port, "domain-secure@sender.example");
    let e = wait_deferred(&lab, &peer, &mut engine, &["454 4.7.5"]);
    assert!(!e.contains("plaintext"), "{e}");
    eprintln!("StartTlsMidHandshake (Domain Security): {e}");
    let (code, _, err) = lab.try_xshell(&["retry-queue", "relay.example"]);
    assert_eq!(code, 0, "{err}");
    assert!(wait_until(WAIT, || peer.log().faults >= 2));
    wait_deferred(&lab, &peer, &mut engine, &["454 4.7.5"]);
    assert_eq!(peer.log().plain_mail, 0, "{:?}", peer.log());
    peer.heal();
    let over_tls = retry_and_deliver_once(&lab, &peer, &mut engine, "domain-secure@sender.example");
    assert!(over_tls);
    assert_eq!(peer.log().plain_mail, 0, "{:?}", peer.log());
}
