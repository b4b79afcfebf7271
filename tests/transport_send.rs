//! The sending side of xshell-transport, end to end on loopback: two
//! xshell organizations exchanging domain-secured mail both ways; Domain
//! Security failures that keep the message queued and never send
//! plaintext; opportunistic delivery; retry until a destination comes up;
//! expiry with a delay notice and a non-delivery report.
#![allow(clippy::unwrap_used)]

#[path = "common/peers.rs"]
mod peers;
mod transport_send_support;
mod transport_support;

use std::net::Ipv4Addr;
use std::time::Duration;

use mail_parser::MimeHeaders;
use serde_json::Value;
use transport_send_support::*;
use transport_support::{tracking_lines, wait_until};

const LOCAL: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const WAIT: Duration = Duration::from_secs(30);

fn events(org: &Org, id: &str) -> Vec<Value> {
    tracking_lines(&org.lab.tracking_log())
        .into_iter()
        .filter(|e| e["event_id"] == id)
        .collect()
}

fn queued_ok(t: &str) -> bool {
    t.lines().any(|l| l.contains("250 2.0.0 Queued as"))
}

#[test]
fn domain_security_both_ways_between_two_organizations() {
    let (a, b) = Org::partners();
    let _ea = a.start();
    let _eb = b.start();

    // Relay needs the submission connector: the Internet one refuses it.
    let t = swaks_at(
        &format!("127.0.0.1:{}", a.port),
        &["--from", "alice@orga.example", "--to", "bob@orgb.example"],
    );
    assert!(t.contains("550 5.7.54"), "relay on Inbound:\n{t}");

    let t = a.submit("alice@orga.example", "bob@orgb.example", "A to B");
    assert!(queued_ok(&t), "submission to A:\n{t}");
    let t = b.submit("bob@orgb.example", "alice@orga.example", "B to A");
    assert!(queued_ok(&t), "submission to B:\n{t}");

    assert!(
        wait_until(WAIT, || b.lab.maildir("orgb.example", "bob").len() == 1
            && a.lab.maildir("orga.example", "alice").len() == 1),
        "not delivered both ways; A's queue {:?}\nB's queue {:?}",
        a.queue(),
        b.queue()
    );
    for (got, from) in [
        (&b.lab.maildir("orgb.example", "bob")[0], "orga.example"),
        (&a.lab.maildir("orga.example", "alice")[0], "orgb.example"),
    ] {
        for want in [
            "X-MS-Exchange-Organization-AuthAs: Partner\r\n".to_string(),
            "X-MS-Exchange-Organization-AuthMechanism: 02\r\n".to_string(),
            format!("X-MS-Exchange-Organization-AuthDomain: {from}\r\n"),
            format!("(Client CN \"mail.{from}\""),
            "(verified OK)".to_string(),
        ] {
            assert!(got.contains(&want), "missing {want:?} in:\n{got}");
        }
    }
    // Submission was Internal on the sending side; that header never leaves.
    assert!(!b.lab.maildir("orgb.example", "bob")[0].contains("AuthAs: Internal"));

    for (sender, receiver, partner) in [(&a, &b, "orgb.example"), (&b, &a, "orga.example")] {
        assert!(
            wait_until(WAIT, || sender.queue().is_empty()
                && events(sender, "SEND").len() == 1),
            "{} still queues {:?}",
            sender.domain,
            sender.queue()
        );
        let send = events(sender, "SEND");
        assert_eq!(send.len(), 1, "{send:?}");
        let s = &send[0];
        assert_eq!(s["domain_secured"], true, "{s}");
        assert_eq!(s["verified_name"], partner, "{s}");
        assert_eq!(s["next_hop_domain"], partner);
        assert_eq!(s["tls_version"], "TLSv1.3");
        assert!(s["reply"].as_str().unwrap().starts_with("250"), "{s}");
        assert!(
            s["remote_host"]
                .as_str()
                .unwrap()
                .starts_with(&format!("mail.{partner} [{}:", receiver.ip)),
            "{s}"
        );
        assert_eq!(s["attempts"], 1);
        let recv = events(receiver, "RECEIVE");
        let r = recv
            .iter()
            .find(|e| e["auth_as"] == "Partner")
            .unwrap_or_else(|| panic!("no Partner RECEIVE in {recv:?}"));
        assert_eq!(r["auth_domain"], sender.domain);
        assert_eq!(r["peer_certificate_verified"], true);
        assert_eq!(
            r["peer_certificate_subject"],
            format!("CN=mail.{}", sender.domain)
        );
    }
}

/// Every Domain Security failure: deferred with the reference's reply,
/// LastError and a retry time, nothing in plaintext.
#[test]
fn domain_security_failures_keep_the_message_queued_and_never_send_plaintext() {
    let cases = [
        "untrusted.example",
        "wrongname.example",
        "expired.example",
        "nostarttls.example",
        "stripped.example",
    ];
    let zone: Vec<(&str, Ipv4Addr)> = cases.iter().map(|d| (*d, LOCAL)).collect();
    let dns = dns_server(&zone);
    let a = Org::new("orga.example", "127.0.0.1", dns);
    let partner_ca = pki::ca("Partner CA");
    let rogue_ca = pki::ca("Partner CA");
    a.trust(&pki::ca_file(&partner_ca, &a.lab.work, "partner-ca"));

    let mut servers = Vec::new();
    let mut add = |domain: &str, cert: Option<Issued>| {
        let (l, port) = listener();
        let rec = fake_server(l, cert);
        servers.push((domain.to_string(), rec));
        port
    };
    let p_untrusted = add(
        "untrusted.example",
        Some(pki::issue(
            &rogue_ca,
            &["mail.untrusted.example", "untrusted.example"],
        )),
    );
    let p_wrong = add(
        "wrongname.example",
        Some(pki::issue(
            &partner_ca,
            &["mail.other.example", "other.example"],
        )),
    );
    let p_expired = add(
        "expired.example",
        Some(pki::expired(
            &partner_ca,
            &["mail.expired.example", "expired.example"],
        )),
    );
    let p_nostarttls = add("nostarttls.example", None);
    let p_upstream = add(
        "stripped.example",
        Some(pki::issue(
            &partner_ca,
            &["mail.stripped.example", "stripped.example"],
        )),
    );
    let (p_stripped, proxy_saw_mail) = stripping_proxy(p_upstream);
    for (d, p) in [
        ("untrusted.example", p_untrusted),
        ("wrongname.example", p_wrong),
        ("expired.example", p_expired),
        ("nostarttls.example", p_nostarttls),
        ("stripped.example", p_stripped),
    ] {
        a.secure_partner(d, p);
    }
    let _e = a.start();
    let rcpts: Vec<String> = cases.iter().map(|d| format!("user@{d}")).collect();
    let t = swaks_at(
        &format!("127.0.0.1:{}", a.submission),
        &[
            "--from",
            "alice@orga.example",
            "--to",
            &rcpts.join(","),
            "--header",
            "Subject: must not leak",
        ],
    );
    assert!(queued_ok(&t), "{t}");

    // two attempts each (the retry interval is one second)
    assert!(
        wait_until(WAIT, || a
            .queue()
            .first()
            .is_some_and(|m| m["envelope"]["attempts"].as_u64() >= Some(2))),
        "{:?}",
        a.queue()
    );
    let q = a.queue();
    assert_eq!(q.len(), 1);
    let env = &q[0]["envelope"];
    assert!(env["next_retry_ms"].as_u64().is_some(), "{env}");
    assert!(env["last_error"].as_str().is_some(), "{env}");
    let reply_of = |d: &str| {
        env["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == format!("user@{d}"))
            .map(|r| {
                assert_eq!(r["status"]["state"], "deferred", "{r}");
                r["last_reply"].as_str().unwrap().to_string()
            })
            .unwrap()
    };
    for d in ["untrusted.example", "wrongname.example", "expired.example"] {
        assert_eq!(
            reply_of(d),
            "454 4.7.5 Certificate validation failure",
            "{d}"
        );
    }
    for d in ["nostarttls.example", "stripped.example"] {
        assert_eq!(
            reply_of(d),
            "451 5.7.3 STARTTLS is required to send mail",
            "{d}"
        );
    }
    for (d, rec) in &servers {
        let seen = rec.lock().unwrap().clone();
        assert!(seen.connections >= 1, "{d}: {seen:?}");
        assert!(!seen.plain_mail, "{d}: MAIL FROM in plaintext");
        assert!(seen.delivered.is_empty(), "{d}: {seen:?}");
        assert_eq!(seen.tls_sessions, 0, "{d}: a TLS session was accepted");
    }
    assert!(
        !*proxy_saw_mail.lock().unwrap(),
        "MAIL FROM went through the stripping proxy"
    );
    let defers = events(&a, "DEFER");
    assert!(defers.len() >= cases.len(), "{defers:?}");
    assert!(defers.iter().all(|e| e["domain_secured"] == false));
    assert!(events(&a, "SEND").is_empty());
}

#[test]
fn opportunistic_delivery_in_plaintext_and_to_a_self_signed_server() {
    let Some(sink) = sink_bin() else {
        peers::missing("smtp-sink is not installed (apt-get install postfix)");
        return;
    };
    let dns = dns_server(&[("plain.example", LOCAL), ("selfsigned.example", LOCAL)]);
    let a = Org::new("orga.example", "127.0.0.1", dns);
    let sink_port = listener().1;
    let dump = a.lab.work.join("sink");
    let _sink = start_sink(&sink, sink_port, &dump);
    let (l, self_port) = listener();
    let rec = fake_server(l, Some(pki::self_signed("mail.selfsigned.example")));
    a.send_connector("Plain", "plain.example", sink_port, false);
    a.send_connector("SelfSigned", "selfsigned.example", self_port, false);
    let _e = a.start();
    let t = a.submit(
        "alice@orga.example",
        "p@plain.example,s@selfsigned.example",
        "opportunistic",
    );
    assert!(queued_ok(&t), "{t}");
    assert!(wait_until(WAIT, || a.queue().is_empty()), "{:?}", a.queue());
    assert!(wait_until(WAIT, || events(&a, "SEND").len() == 2));
    let send = events(&a, "SEND");
    let by = |d: &str| send.iter().find(|e| e["next_hop_domain"] == d).unwrap();
    let plain = by("plain.example");
    assert!(plain["tls_version"].is_null(), "{plain}");
    assert_eq!(plain["domain_secured"], false);
    let tls = by("selfsigned.example");
    assert_eq!(tls["tls_version"], "TLSv1.3", "{tls}");
    assert_eq!(tls["domain_secured"], false);
    assert_eq!(
        tls["peer_certificate_subject"],
        "CN=mail.selfsigned.example"
    );
    assert_eq!(rec.lock().unwrap().delivered, vec![true]);
    assert!(
        wait_until(Duration::from_secs(5), || std::fs::read_dir(&dump)
            .map(|d| d.count() > 0)
            .unwrap_or(false)),
        "smtp-sink got nothing"
    );
}

#[test]
fn a_destination_that_comes_up_gets_the_message_after_a_restart_and_expiry_sends_a_dsn() {
    let dns = dns_server(&[("later.example", LOCAL), ("never.example", LOCAL)]);
    let a = Org::new("orga.example", "127.0.0.1", dns);
    // reserved, closed ports
    let later_port = listener().1;
    let never_port = listener().1;
    a.send_connector("Later", "later.example", later_port, false);
    a.send_connector("Never", "never.example", never_port, false);
    let e = a.start();

    // 1. retried until the destination comes up (across a restart)
    let t = a.submit("alice@orga.example", "x@later.example", "eventually");
    assert!(queued_ok(&t), "{t}");
    assert!(
        wait_until(WAIT, || a
            .queue()
            .first()
            .is_some_and(|m| m["envelope"]["attempts"].as_u64() >= Some(2))),
        "{:?}",
        a.queue()
    );
    let env = a.queue()[0]["envelope"].clone();
    let err = env["last_error"].as_str().unwrap();
    assert!(err.starts_with("451 4.4.1"), "{err}");
    // The tracking line follows the queue update: wait for it before the
    // kill, or the kill can fall between the two.
    assert!(
        wait_until(WAIT, || events(&a, "DEFER").len() >= 2),
        "{:?}",
        events(&a, "DEFER")
    );
    drop(e); // SIGKILL: the queue survives, the next engine resumes
    let l = std::net::TcpListener::bind(("127.0.0.1", later_port)).unwrap();
    let rec = fake_server(l, None);
    let _e = a.start();
    assert!(wait_until(WAIT, || a.queue().is_empty()), "{:?}", a.queue());
    assert_eq!(
        rec.lock().unwrap().delivered.len(),
        1,
        "{:?}",
        tracking_lines(&a.lab.tracking_log())
    );
    // the tracking line follows the queue update
    assert!(wait_until(WAIT, || events(&a, "SEND").len() == 1));
    let send = events(&a, "SEND");
    assert!(send[0]["attempts"].as_u64().unwrap() >= 3, "{}", send[0]);

    // 2. expiry: a delay notice after 2 s, a non-delivery report at 6 s
    a.xshell(&[
        "set-transportservice",
        "--message-expiration-timeout",
        "00:00:06",
        "--delay-notification-timeout",
        "00:00:02",
    ]);
    std::thread::sleep(Duration::from_millis(600)); // hot reload (250 ms poll)
    let t = a.submit("alice@orga.example", "y@never.example", "doomed");
    assert!(queued_ok(&t), "{t}");
    assert!(
        wait_until(WAIT, || a.lab.maildir("orga.example", "alice").len() == 2
            && a.queue().is_empty()),
        "reports: {:?}\nqueue: {:?}",
        a.lab.maildir("orga.example", "alice"),
        a.queue()
    );
    let reports: Vec<String> = a.lab.maildir("orga.example", "alice");
    let mut actions = Vec::new();
    for raw in &reports {
        let m = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .unwrap();
        let ct = m.content_type().unwrap();
        assert_eq!(ct.ctype(), "multipart");
        assert_eq!(ct.subtype(), Some("report"));
        assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
        assert!(
            raw.contains("Final-Recipient: rfc822; y@never.example"),
            "{raw}"
        );
        let action = if raw.contains("Action: failed") {
            assert!(raw.contains("Status: 5.4.1"), "{raw}");
            "failed"
        } else {
            assert!(raw.contains("Action: delayed"), "{raw}");
            "delayed"
        };
        actions.push(action);
    }
    actions.sort();
    assert_eq!(actions, ["delayed", "failed"]);
    assert!(
        wait_until(WAIT, || events(&a, "DSN").len() == 2),
        "{:?}",
        events(&a, "DSN")
    );
    assert!(!events(&a, "FAIL").is_empty());
}

#[test]
fn a_suspended_queue_holds_its_mail_until_resumed() {
    let Some(sink) = sink_bin() else {
        peers::missing("smtp-sink is not installed (apt-get install postfix)");
        return;
    };
    let dns = dns_server(&[("held.example", LOCAL)]);
    let a = Org::new("orga.example", "127.0.0.1", dns);
    let sink_port = listener().1;
    let dump = a.lab.work.join("held-sink");
    a.send_connector("Held", "held.example", sink_port, false);
    let _e = a.start();
    // Nothing listens yet: the first attempt fails and the message waits.
    let t = a.submit("alice@orga.example", "h@held.example", "held");
    assert!(queued_ok(&t), "{t}");
    assert!(wait_until(WAIT, || !events(&a, "DEFER").is_empty()));
    a.xshell(&["suspend-queue", "held.example"]);
    // The destination comes up, retries are due every second: while the
    // queue is suspended nothing is sent.
    let _sink = start_sink(&sink, sink_port, &dump);
    std::thread::sleep(Duration::from_secs(4));
    assert!(events(&a, "SEND").is_empty(), "sent from a suspended queue");
    assert_eq!(a.queue().len(), 1);
    a.xshell(&["resume-queue", "held.example"]);
    assert!(
        wait_until(WAIT, || events(&a, "SEND").len() == 1),
        "not delivered after Resume-Queue: {:?}",
        a.queue()
    );
    assert!(wait_until(WAIT, || a.queue().is_empty()));
}

#[test]
fn a_next_hop_that_leads_back_here_is_held_not_sent_round() {
    // loop.example's MX is this host, and its send connector's port is
    // the engine's own submission connector: it greets with our own name.
    let dns = dns_server(&[("loop.example", LOCAL)]);
    let a = Org::new("orga.example", "127.0.0.1", dns);
    a.send_connector("Loop", "loop.example", a.submission, false);
    let _e = a.start();
    let t = a.submit("alice@orga.example", "z@loop.example", "round and round");
    assert!(queued_ok(&t), "{t}");
    // Deferred with the reason, never handed to ourselves.
    assert!(
        wait_until(WAIT, || a.queue().first().is_some_and(|m| {
            m["envelope"]["last_error"]
                .as_str()
                .is_some_and(|e| e.starts_with("451 4.4.6"))
        })),
        "{:?}",
        a.queue()
    );
    let m = &a.queue()[0];
    let err = m["envelope"]["last_error"].as_str().unwrap();
    assert!(err.contains("loops back"), "{err}");
    std::thread::sleep(Duration::from_secs(2)); // a retry or two (every second)
    assert_eq!(events(&a, "RECEIVE").len(), 1, "the message went round");
    assert_eq!(a.queue().len(), 1);
    assert!(a.lab.maildir("orga.example", "alice").is_empty());
}

#[test]
fn a_loop_between_two_servers_ends_at_the_hop_limit_with_a_report() {
    let dns = dns_server(&[("loop.example", LOCAL), ("orga.example", LOCAL)]);
    let a = Org::new("orga.example", "127.0.0.1", dns);
    let b = Org::new("orgb.example", "127.0.0.1", dns);
    // Each sends loop.example to the other: the names differ, so only the
    // hop count can see the loop. Reports for orga.example go back to a.
    a.send_connector("ToB", "loop.example", b.submission, false);
    b.send_connector("ToA", "loop.example", a.submission, false);
    b.send_connector("Back", "orga.example", a.submission, false);
    let (_ea, _eb) = (a.start(), b.start());
    let t = a.submit("alice@orga.example", "z@loop.example", "ping pong");
    assert!(queued_ok(&t), "{t}");
    // Arrival n carries n - 1 Received fields: the 61st (MaxHopCount 60,
    // Exchange's default), at a, is refused 554 5.4.6, and b (its sender)
    // reports the failure to alice.
    assert!(
        wait_until(WAIT, || a.lab.maildir("orga.example", "alice").len() == 1
            && a.queue().is_empty()
            && b.queue().is_empty()),
        "reports: {:?}\na: {:?}\nb: {:?}",
        a.lab.maildir("orga.example", "alice"),
        a.queue(),
        b.queue()
    );
    let ndr = &a.lab.maildir("orga.example", "alice")[0];
    assert!(
        ndr.contains("Final-Recipient: rfc822; z@loop.example"),
        "{ndr}"
    );
    assert!(ndr.contains("Action: failed"), "{ndr}");
    assert!(ndr.contains("Status: 5.4.6"), "{ndr}");
    assert!(ndr.contains("Too many hops"), "{ndr}");
    // 30 arrivals each, and the report at a; then nothing moves.
    assert!(wait_until(WAIT, || events(&b, "FAIL").len() == 1));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(events(&a, "RECEIVE").len(), 31);
    assert_eq!(events(&b, "RECEIVE").len(), 30);
}

#[test]
fn source_ip_address_and_downgraded_dns_failures() {
    let dns = dns_server(&[("orga.example", LOCAL)]);
    let org = Org::new("orga.example", "127.0.0.1", dns);
    // A smart host that records where connections come from, then closes.
    let (listener, port) = listener();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut s, peer)) = listener.accept() {
            let _ = tx.send(peer);
            let _ = std::io::Write::write_all(&mut s, b"421 4.3.2 closing\r\n");
        }
    });
    let smart_host = format!("127.0.0.1:{port}");
    org.xshell(&[
        "new-sendconnector",
        "Relay",
        "--address-spaces",
        "relay.example",
        "--dns-routing-enabled=false",
        "--smart-hosts",
        &smart_host,
        "--source-ip-address",
        "127.0.0.3",
    ]);
    // nowhere.example does not exist (NXDOMAIN): retried, not bounced.
    org.xshell(&[
        "new-sendconnector",
        "Nowhere",
        "--address-spaces",
        "nowhere.example",
        "--error-policies",
        "DowngradeDnsFailures",
    ]);
    let _e = org.start();
    assert!(queued_ok(&org.submit(
        "a@orga.example",
        "b@relay.example",
        "via relay"
    )));
    let peer = rx.recv_timeout(WAIT).expect("the smart host was contacted");
    assert_eq!(peer.ip().to_string(), "127.0.0.3", "SourceIPAddress");

    assert!(queued_ok(&org.submit(
        "a@orga.example",
        "c@nowhere.example",
        "no dns"
    )));
    assert!(
        wait_until(WAIT, || events(&org, "DEFER")
            .iter()
            .any(|e| e["recipients"][0] == "c@nowhere.example")),
        "the NXDOMAIN is a deferral: {:?}",
        tracking_lines(&org.lab.tracking_log())
    );
    let defer = events(&org, "DEFER")
        .into_iter()
        .find(|e| e["recipients"][0] == "c@nowhere.example")
        .unwrap();
    assert!(
        defer["reply"]
            .as_str()
            .unwrap_or("")
            .starts_with("451 4.4.3"),
        "{defer}"
    );
    assert!(
        !events(&org, "FAIL")
            .iter()
            .any(|e| e["recipients"][0] == "c@nowhere.example"),
        "no non-delivery report for a downgraded DNS failure"
    );

    // Without the policy the same failure is permanent; with
    // GenerateCopyOfDSNFor 5.1.2 the postmaster gets a copy of the report.
    org.xshell(&[
        "-c",
        "Set-TransportConfig -ExternalPostmasterAddress postmaster@orga.example -GenerateCopyOfDSNFor 5.1.2,5.4.8",
    ]);
    let shown = org.xshell(&["-c", "Get-TransportConfig | fl *DSN*"]);
    assert!(
        shown.contains("GenerateCopyOfDSNFor : {5.1.2, 5.4.8}"),
        "{shown}"
    );
    org.xshell(&[
        "set-sendconnector",
        "Nowhere",
        "--error-policies",
        "Default",
    ]);
    assert!(queued_ok(&org.submit(
        "a@orga.example",
        "d@nowhere.example",
        "no dns"
    )));
    assert!(
        wait_until(WAIT, || events(&org, "FAIL")
            .iter()
            .any(|e| e["recipients"][0] == "d@nowhere.example")),
        "NXDOMAIN fails at once by default"
    );
    // (c@nowhere.example, deferred until now, fails too and is copied as well.)
    let copied = |rcpt: &str| {
        org.lab
            .maildir("orga.example", "postmaster")
            .iter()
            .any(|m| {
                m.contains(&format!("Final-Recipient: rfc822; {rcpt}"))
                    && m.contains("Status: 5.1.2")
            })
    };
    assert!(
        wait_until(WAIT, || copied("d@nowhere.example")),
        "the postmaster's copy: {:?}",
        org.lab.maildir("orga.example", "postmaster")
    );
    assert!(
        wait_until(WAIT, || org
            .lab
            .maildir("orga.example", "a")
            .iter()
            .any(|m| m.contains("Final-Recipient: rfc822; d@nowhere.example"))),
        "the sender's report"
    );
}

/// A smart host that requires AUTH PLAIN with `expected` (base64 of
/// `\0user\0password`): it records each AUTH it was given and each message
/// it accepted.
fn auth_smart_host(
    listener: std::net::TcpListener,
    expected: &'static str,
) -> std::sync::Arc<std::sync::Mutex<(Vec<String>, usize)>> {
    use std::io::Write;
    let seen = std::sync::Arc::new(std::sync::Mutex::new((Vec::new(), 0usize)));
    let rec = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            let rec = std::sync::Arc::clone(&rec);
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut authed = false;
                let _ = s.write_all(b"220 relay.example ESMTP\r\n");
                while let Some(line) = transport_support::read_line(&mut s) {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") {
                        b"250-relay.example\r\n250 AUTH PLAIN LOGIN\r\n"
                    } else if let Some(arg) = line.strip_prefix("AUTH PLAIN ") {
                        rec.lock().unwrap().0.push(arg.trim().to_string());
                        authed = arg.trim() == expected;
                        if authed {
                            b"235 2.7.0 Authentication successful\r\n"
                        } else {
                            b"535 5.7.8 Authentication credentials invalid\r\n"
                        }
                    } else if upper.starts_with("MAIL") && !authed {
                        b"530 5.7.0 Authentication required\r\n"
                    } else if upper.starts_with("MAIL") || upper.starts_with("RCPT") {
                        b"250 2.1.0 OK\r\n"
                    } else if upper.starts_with("DATA") {
                        let _ = s.write_all(b"354 go ahead\r\n");
                        while let Some(l) = transport_support::read_line(&mut s) {
                            if l == ".\r\n" {
                                break;
                            }
                        }
                        rec.lock().unwrap().1 += 1;
                        b"250 2.0.0 queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = s.write_all(b"221 bye\r\n");
                        return;
                    } else {
                        b"250 OK\r\n"
                    };
                    let _ = s.write_all(reply);
                }
            });
        }
    });
    seen
}

#[test]
fn basic_auth_to_a_smart_host() {
    let dns = dns_server(&[("orga.example", LOCAL)]);
    let org = Org::new("orga.example", "127.0.0.1", dns);
    let (listener, port) = listener();
    // base64("\0relay\0S3cret-pw")
    let seen = auth_smart_host(listener, "AHJlbGF5AFMzY3JldC1wdw==");
    let credential = |pw: &str| {
        format!(
            "New-Object PSCredential('relay', (ConvertTo-SecureString '{pw}' -AsPlainText -Force))"
        )
    };
    org.xshell(&[
        "-c",
        &format!(
            "New-SendConnector Relay -AddressSpaces relay.example -DNSRoutingEnabled $false -SmartHosts 127.0.0.1:{port} -SmartHostAuthMechanism BasicAuth -AuthenticationCredential ({})",
            credential("S3cret-pw")
        ),
    ]);
    // The store keeps the user name; the password is a 0600 secret, never in the configuration.
    let config = std::fs::read_to_string(org.lab.store.join("config.json")).unwrap();
    assert!(!config.contains("S3cret-pw"));
    let shown = org.xshell(&["get-sendconnector", "Relay", "-o", "json"]);
    assert!(!shown.contains("S3cret-pw"), "{shown}");
    let secret: Value = serde_json::from_str(&config).unwrap();
    assert_eq!(
        secret["SendConnectors"][0]["AuthenticationCredential"]["UserName"],
        "relay"
    );
    let name = secret["SendConnectors"][0]["AuthenticationCredential"]["Secret"]
        .as_str()
        .unwrap()
        .to_string();
    let path = org.lab.store.join("keys").join(&name);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "S3cret-pw");

    let _e = org.start();
    assert!(queued_ok(&org.submit(
        "a@orga.example",
        "b@relay.example",
        "authenticated"
    )));
    assert!(
        wait_until(WAIT, || seen.lock().unwrap().1 == 1),
        "delivered after AUTH PLAIN: {:?}",
        seen.lock().unwrap()
    );
    assert_eq!(seen.lock().unwrap().0, vec!["AHJlbGF5AFMzY3JldC1wdw=="]);

    // A wrong password: refused, and the message waits (not bounced).
    org.xshell(&[
        "-c",
        &format!(
            "Set-SendConnector Relay -AuthenticationCredential ({})",
            credential("wrong")
        ),
    ]);
    std::thread::sleep(Duration::from_millis(600));
    assert!(queued_ok(&org.submit(
        "a@orga.example",
        "c@relay.example",
        "refused"
    )));
    assert!(
        wait_until(WAIT, || events(&org, "DEFER").iter().any(
            |e| e["recipients"][0] == "c@relay.example"
                && e["reply"]
                    .as_str()
                    .unwrap_or("")
                    .contains("refused our credentials")
        )),
        "{:?}",
        tracking_lines(&org.lab.tracking_log())
    );
    assert!(
        events(&org, "FAIL").is_empty(),
        "an authentication failure is retried"
    );
    assert_eq!(seen.lock().unwrap().1, 1, "nothing sent without AUTH");
}
