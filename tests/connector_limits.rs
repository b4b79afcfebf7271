//! Receive-connector parameters an administrator reaches for when a
//! partner's mail does not flow, each against the running engine on
//! loopback: MaxInboundConnection, MessageRateLimit, TarpitInterval,
//! MaxHopCount, RequireEHLODomain; and what the engine records of a
//! message (the Message-ID it assigns, the subject, the source).
#![allow(clippy::unwrap_used)]

mod transport_support;

use std::time::{Duration, Instant};

use transport_support::*;

/// A lab with organization A's connector `Inbound` on a free port, plus
/// `settings` applied to it (CLI flags of set-receiveconnector).
fn lab_with(settings: &[&str]) -> (Lab, u16) {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    let mut args = vec!["set-receiveconnector", "Inbound"];
    args.extend_from_slice(settings);
    if !settings.is_empty() {
        lab.xshell(&args);
    }
    (lab, port)
}

fn greeted(port: u16) -> Raw {
    let mut c = Raw::connect(port);
    let g = c.reply();
    assert!(g.starts_with("220 "), "{g}");
    c
}

#[test]
fn max_inbound_connection_refuses_connections_over_the_limit() {
    let (lab, port) = lab_with(&["--max-inbound-connection", "2"]);
    let _engine = lab.start_engine(port);
    let first = greeted(port);
    let _second = greeted(port);
    let mut third = Raw::connect(port);
    let r = third.reply();
    assert!(r.starts_with("421 4.3.2 "), "third connection: {r}");
    assert!(r.contains("concurrent connections"), "{r}");
    // A slot frees when a connection closes.
    drop(first);
    assert!(
        wait_until(Duration::from_secs(10), || {
            Raw::connect(port).reply().starts_with("220 ")
        }),
        "a connection is accepted again once one closed"
    );
    let shown = lab.xshell(&["get-receiveconnector", "Inbound", "--output", "json"]);
    assert!(shown.contains("\"MaxInboundConnection\": 2"), "{shown}");
}

#[test]
fn message_rate_limit_refuses_the_messages_over_the_rate_for_now() {
    let (lab, port) = lab_with(&["--message-rate-limit", "2"]);
    let _engine = lab.start_engine(port);
    let mut c = greeted(port);
    assert!(c.cmd("EHLO client.example").starts_with("250"));
    for i in 0..2 {
        let r = c.cmd("MAIL FROM:<a@client.example>");
        assert!(r.starts_with("250"), "message {i}: {r}");
        assert!(c.cmd("RSET").starts_with("250"));
    }
    let r = c.cmd("MAIL FROM:<a@client.example>");
    assert!(
        r.starts_with("452 4.3.2 "),
        "third message in the minute: {r}"
    );
    assert!(r.contains("rate"), "{r}");
    // The session goes on (a transient refusal), and another connection
    // from the same address is counted together.
    assert!(c.cmd("NOOP").starts_with("250"));
    let mut d = greeted(port);
    assert!(d.cmd("EHLO client.example").starts_with("250"));
    assert!(d.cmd("MAIL FROM:<b@client.example>").starts_with("452"));
}

/// Time to have one recipient refused (relaying to a domain we do not
/// accept) as an anonymous sender.
fn refused_rcpt_time(port: u16) -> Duration {
    let mut c = greeted(port);
    assert!(c.cmd("EHLO client.example").starts_with("250"));
    assert!(c.cmd("MAIL FROM:<a@client.example>").starts_with("250"));
    let t = Instant::now();
    let r = c.cmd("RCPT TO:<someone@elsewhere.example>");
    let took = t.elapsed();
    assert!(r.starts_with("550 5.7."), "relay refusal: {r}");
    took
}

#[test]
fn tarpit_interval_delays_refused_recipients_of_anonymous_senders() {
    let (lab, port) = lab_with(&["--tarpit-interval", "00:00:03"]);
    let _engine = lab.start_engine(port);
    let took = refused_rcpt_time(port);
    assert!(
        took >= Duration::from_millis(2900),
        "tarpitted for {took:?}"
    );
    // An accepted recipient is not delayed by the tarpit.
    let mut c = greeted(port);
    assert!(c.cmd("EHLO client.example").starts_with("250"));
    assert!(c.cmd("MAIL FROM:<a@client.example>").starts_with("250"));
    let t = Instant::now();
    assert!(c.cmd("RCPT TO:<bob@orga.example>").starts_with("250"));
    assert!(t.elapsed() < Duration::from_millis(2900));

    let (lab, port) = lab_with(&["--tarpit-interval", "00:00:00"]);
    let _engine = lab.start_engine(port);
    let took = refused_rcpt_time(port);
    assert!(took < Duration::from_millis(2900), "no tarpit: {took:?}");
}

fn data(c: &mut Raw, message: &str) -> String {
    assert!(c.cmd("MAIL FROM:<a@client.example>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<bob@orga.example>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(message.as_bytes());
    c.cmd(".")
}

#[test]
fn max_hop_count_refuses_a_looping_message() {
    let (lab, port) = lab_with(&["--max-hop-count", "3", "--tarpit-interval", "0:0:0"]);
    let _engine = lab.start_engine(port);
    let mut c = greeted(port);
    assert!(c.cmd("EHLO client.example").starts_with("250"));
    let hops = "Received: from a by b; Mon, 7 Dec 2026 10:00:00 +0000\r\n";
    let r = data(
        &mut c,
        &format!("{}Subject: loop\r\n\r\nbody\r\n", hops.repeat(3)),
    );
    assert!(r.starts_with("554 5.4.6 "), "three hops: {r}");
    assert!(r.contains("3 or more"), "{r}");
    let r = data(
        &mut c,
        &format!("{}Subject: fine\r\n\r\nbody\r\n", hops.repeat(2)),
    );
    assert!(r.starts_with("250"), "two hops: {r}");
}

#[test]
fn require_ehlo_domain_refuses_an_address_literal() {
    let (lab, port) = lab_with(&["--require-ehlo-domain"]);
    let _engine = lab.start_engine(port);
    let mut c = greeted(port);
    let r = c.cmd("EHLO [127.0.0.1]");
    assert!(r.starts_with("501 5.5.4 "), "{r}");
    assert!(c.cmd("HELO [127.0.0.1]").starts_with("501"));
    assert!(c.cmd("EHLO client.example").starts_with("250"));

    let (lab, port) = lab_with(&[]);
    let _engine = lab.start_engine(port);
    let mut c = greeted(port);
    assert!(c.cmd("EHLO [127.0.0.1]").starts_with("250"));
}

#[test]
fn the_engine_assigns_a_message_id_and_tracks_the_subject() {
    let (lab, port) = lab_with(&[]);
    let _engine = lab.start_engine(port);
    let mut c = greeted(port);
    assert!(c.cmd("EHLO client.example").starts_with("250"));
    let r = data(&mut c, "Subject: Quarterly figures\r\n\r\nbody\r\n");
    assert!(r.starts_with("250"), "{r}");
    assert!(
        wait_until(Duration::from_secs(20), || !lab
            .maildir("orga.example", "bob")
            .is_empty()),
        "delivered"
    );
    let mail = lab.maildir("orga.example", "bob").remove(0);
    let id_line = mail
        .lines()
        .find(|l| l.starts_with("Message-ID: <"))
        .unwrap_or_else(|| panic!("a Message-ID was assigned:\n{mail}"));
    assert!(id_line.ends_with("@mail.orga.example>"), "{id_line}");
    let id = id_line.trim_start_matches("Message-ID: ").to_string();

    let found = lab.xshell(&[
        "-c",
        "Get-MessageTrackingLog -MessageSubject quarterly -Source SMTP | ConvertTo-Json",
    ]);
    let all = lab.xshell(&["get-messagetrackinglog", "--output", "json"]);
    let events: serde_json::Value =
        serde_json::from_str(&found).unwrap_or_else(|e| panic!("{e}: {found}\n{all}"));
    let event = if events.is_array() {
        events[0].clone()
    } else {
        events
    };
    assert_eq!(event["EventId"], "RECEIVE", "{found}");
    assert_eq!(event["MessageSubject"], "Quarterly figures");
    assert_eq!(event["MessageId"], id.as_str());
    assert_eq!(event["Source"], "SMTP");
    // The DELIVER event follows the mailbox file.
    let delivered = || {
        lab.xshell(&[
            "get-messagetrackinglog",
            "--source",
            "STOREDRIVER",
            "--message-id",
            &id,
            "--output",
            "json",
        ])
    };
    assert!(
        wait_until(Duration::from_secs(10), || delivered()
            .contains("\"DELIVER\"")),
        "{:?}\n{}",
        lab.try_xshell(&["get-messagetrackinglog", "--output", "json"]),
        std::fs::read_to_string(lab.tracking_log()).unwrap_or_default()
    );
    let delivered = delivered();
    assert!(delivered.contains("\"DELIVER\""), "{delivered}");
    assert!(delivered.contains("Quarterly figures"), "{delivered}");
}
