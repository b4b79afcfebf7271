//! The Prometheus endpoint (Set-TransportService -MetricsBindings), end to
//! end on loopback: two organizations relaying to each other over Domain
//! Security, plus a plaintext next hop, a next hop that is down, a refused
//! sender and a broken TLS handshake; `/metrics` scraped over HTTP with a
//! plain TcpStream and parsed strictly. Also: off by default, turned on
//! and off while the engine runs, a bind failure that does not stop mail,
//! and the 4xx answers to bad requests. Every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod transport_send_support;
mod transport_support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use transport_send_support::*;
use transport_support::{read_line, tracking_lines, unique_listener, wait_until};

const WAIT: Duration = Duration::from_secs(30);
/// The engine checks the store every 250 ms; a change takes effect well
/// within this.
const RELOAD: Duration = Duration::from_secs(5);

// ------------------------------------------------------------------ HTTP

/// Sends `request` and reads the whole response (the server closes).
fn http(addr: SocketAddr, request: &[u8]) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(15)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(request)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn status_of(response: &str) -> u16 {
    response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP/1.1 response: {response:?}"))
}

/// `GET /metrics`: the body, after checking status and headers.
fn scrape(addr: SocketAddr) -> Exposition {
    let r = http(
        addr,
        b"GET /metrics HTTP/1.1\r\nHost: test\r\nAccept: text/plain\r\n\r\n",
    )
    .unwrap_or_else(|e| panic!("scrape {addr}: {e}"));
    let (head, body) = r.split_once("\r\n\r\n").expect("a head and a body");
    assert_eq!(status_of(head), 200, "{head}");
    let headers: HashMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    assert!(
        headers["content-type"].starts_with("text/plain; version=0.0.4"),
        "{head}"
    );
    assert_eq!(headers["content-length"], body.len().to_string(), "{head}");
    parse(body)
}

fn serving(addr: SocketAddr) -> bool {
    http(addr, b"GET /metrics HTTP/1.1\r\n\r\n").is_ok_and(|r| r.starts_with("HTTP/1.1 200 "))
}

fn refused(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)
}

// ------------------------------------------------------------------ exposition

#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

#[derive(Debug, Default)]
struct Exposition {
    types: HashMap<String, String>,
    samples: Vec<Sample>,
}

fn valid_name(n: &str, colon: bool) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
}

fn parse_value(v: &str) -> Option<f64> {
    match v {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => v.parse().ok(),
    }
}

/// `{a="x",b="y"}` (after the name): the labels and the rest of the line.
fn parse_labels(s: &str, line: &str) -> (BTreeMap<String, String>, String) {
    let mut labels = BTreeMap::new();
    let mut chars = s.chars().peekable();
    assert_eq!(chars.next(), Some('{'), "{line}");
    loop {
        if chars.peek() == Some(&'}') {
            chars.next();
            break;
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            name.push(c);
            chars.next();
        }
        assert!(valid_name(&name, false), "label name {name:?}: {line}");
        assert_eq!(chars.next(), Some('='), "{line}");
        assert_eq!(chars.next(), Some('"'), "{line}");
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => match chars.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => panic!("bad escape {other:?}: {line}"),
                },
                Some('"') => break,
                Some('\n') | None => panic!("unterminated label value: {line}"),
                Some(c) => value.push(c),
            }
        }
        assert!(
            labels.insert(name.clone(), value).is_none(),
            "label {name} twice: {line}"
        );
        match chars.next() {
            Some(',') => {}
            Some('}') => break,
            other => panic!("expected , or }} got {other:?}: {line}"),
        }
    }
    (labels, chars.collect())
}

/// Parses the text format strictly; panics on any malformed line.
fn parse(text: &str) -> Exposition {
    assert!(text.ends_with('\n'), "no final newline");
    let mut e = Exposition::default();
    let mut helps = HashSet::new();
    let mut seen_series = HashSet::new();
    let mut families_with_samples: HashSet<String> = HashSet::new();
    for line in text.lines() {
        assert!(!line.is_empty(), "empty line in:\n{text}");
        if let Some(rest) = line.strip_prefix("# ") {
            let (kw, rest) = rest.split_once(' ').expect(line);
            let (name, doc) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(valid_name(name, true), "{line}");
            assert!(
                !families_with_samples.contains(name),
                "{kw} after samples: {line}"
            );
            match kw {
                "HELP" => {
                    assert!(helps.insert(name.to_string()), "HELP twice: {line}");
                    assert!(!doc.is_empty(), "{line}");
                }
                "TYPE" => {
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&doc),
                        "{line}"
                    );
                    assert!(
                        e.types.insert(name.to_string(), doc.to_string()).is_none(),
                        "TYPE twice: {line}"
                    );
                }
                _ => panic!("unknown comment {line}"),
            }
            continue;
        }
        assert!(!line.starts_with('#'), "{line}");
        let end = line.find(['{', ' ']).expect(line);
        let name = &line[..end];
        assert!(valid_name(name, true), "{line}");
        let (labels, rest) = if line[end..].starts_with('{') {
            parse_labels(&line[end..], line)
        } else {
            (BTreeMap::new(), line[end..].to_string())
        };
        let value = rest.strip_prefix(' ').expect(line);
        assert!(!value.contains(' '), "extra fields: {line}");
        let value = parse_value(value).unwrap_or_else(|| panic!("bad value: {line}"));
        // The family: the name itself, or a histogram's _bucket/_sum/_count.
        let family = if e.types.contains_key(name) {
            name.to_string()
        } else {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or_else(|| panic!("no TYPE for {line}"));
            assert_eq!(
                e.types.get(base).map(String::as_str),
                Some("histogram"),
                "{line}"
            );
            if name.ends_with("_bucket") {
                assert!(labels.contains_key("le"), "{line}");
            }
            base.to_string()
        };
        assert!(helps.contains(&family), "no HELP for {line}");
        match e.types[&family].as_str() {
            "counter" => {
                assert!(name.ends_with("_total"), "counter name: {line}");
                assert!(value >= 0.0 && value.fract() == 0.0, "{line}");
            }
            "histogram" => assert!(value >= 0.0, "{line}"),
            _ => {}
        }
        assert!(name.starts_with("xshell_"), "{line}");
        assert!(
            seen_series.insert(format!("{name}{labels:?}")),
            "duplicate series: {line}"
        );
        families_with_samples.insert(family);
        e.samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    // Histograms: per series (labels but le), cumulative buckets, +Inf
    // equal to _count, a _sum.
    for (family, kind) in &e.types {
        if kind != "histogram" {
            continue;
        }
        // (labels but le) -> (le, cumulative count)
        type Buckets = Vec<(f64, f64)>;
        let mut series: BTreeMap<Vec<(String, String)>, Buckets> = BTreeMap::new();
        for s in e
            .samples
            .iter()
            .filter(|s| s.name == format!("{family}_bucket"))
        {
            let key: Vec<(String, String)> = s
                .labels
                .iter()
                .filter(|(k, _)| *k != "le")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            series
                .entry(key)
                .or_default()
                .push((parse_value(&s.labels["le"]).unwrap(), s.value));
        }
        assert!(!series.is_empty(), "{family} has no buckets");
        for (key, mut buckets) in series {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
            let inf = buckets.last().expect("buckets");
            assert!(inf.0.is_infinite(), "no +Inf bucket for {key:?}");
            let labels: Vec<(&str, &str)> =
                key.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let count = e.get(&format!("{family}_count"), &labels);
            assert_eq!(Some(inf.1), count, "{family} {key:?}");
            assert!(e.get(&format!("{family}_sum"), &labels).is_some());
        }
    }
    e
}

impl Exposition {
    /// The value of the series `name` whose labels include `labels` (there
    /// must be at most one).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<&Sample> = self.matching(name, labels);
        assert!(
            found.len() <= 1,
            "{name} {labels:?} is ambiguous: {found:?}"
        );
        found.first().map(|s| s.value)
    }

    fn matching(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).iter().map(|s| s.value).sum()
    }
}

// ------------------------------------------------------------------ SMTP

/// A raw SMTP client: reads a whole reply (last line).
fn reply(s: &mut impl Read) -> String {
    loop {
        let line = read_line(s).expect("a reply line");
        if line.as_bytes().get(3) != Some(&b'-') {
            return line;
        }
    }
}

fn say(s: &mut TcpStream, cmd: &str) -> String {
    s.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
    reply(s)
}

fn smtp(ip: &str, port: u16) -> TcpStream {
    let mut s = TcpStream::connect((ip, port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let greeting = reply(&mut s);
    assert!(greeting.starts_with("220 "), "{greeting}");
    s
}

fn queued_ok(t: &str) -> bool {
    t.lines().any(|l| l.contains("250 2.0.0 Queued as"))
}

fn events(org: &Org, id: &str) -> Vec<Value> {
    tracking_lines(&org.lab.tracking_log())
        .into_iter()
        .filter(|e| e["event_id"] == id)
        .collect()
}

fn service(org: &Org) -> Value {
    let out = org.xshell(&["get-transportservice", "--output", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    match v {
        Value::Array(mut a) => a.remove(0),
        v => v,
    }
}

// ------------------------------------------------------------------ the test

#[test]
fn metrics_during_a_domain_secured_exchange_between_two_organizations() {
    let local = Ipv4Addr::LOCALHOST;
    let dns = dns_server(&[
        ("orga.example", local),
        ("orgb.example", Ipv4Addr::new(127, 0, 0, 2)),
        ("plain.example", local),
        ("down.example", local),
        ("wrongname.example", local),
        ("expired.example", local),
        ("untrusted.example", local),
    ]);
    let a = Org::new("orga.example", "127.0.0.1", dns);
    let b = Org::new("orgb.example", "127.0.0.2", dns);
    a.trust(&b.ca_pem);
    b.trust(&a.ca_pem);
    a.secure_partner("orgb.example", b.port);
    b.secure_partner("orga.example", a.port);
    // A plaintext next hop (no STARTTLS) and one that is down.
    let (l, plain_port) = listener();
    let plain = fake_server(l, None);
    a.send_connector("Plain", "plain.example", plain_port, false);
    let down_port = listener().1;
    a.send_connector("Down", "down.example", down_port, false);
    // Secure partners whose certificates fail Domain Security: each
    // outbound handshake fails for its reason (and is retried).
    let partner_ca = pki::ca("Partner CA");
    let rogue_ca = pki::ca("Rogue CA");
    a.trust(&pki::ca_file(&partner_ca, &a.lab.work, "partner-ca"));
    for (domain, cert) in [
        (
            "wrongname.example",
            pki::issue(&partner_ca, &["mail.other.example", "other.example"]),
        ),
        (
            "expired.example",
            pki::expired(&partner_ca, &["mail.expired.example", "expired.example"]),
        ),
        (
            "untrusted.example",
            pki::issue(&rogue_ca, &["mail.untrusted.example", "untrusted.example"]),
        ),
    ] {
        let (l, port) = listener();
        fake_server(l, Some(cert));
        a.secure_partner(domain, port);
    }

    // A serves metrics from the start; B has the default (none).
    let a_metrics: SocketAddr = ([127, 0, 0, 1], unique_listener("127.0.0.1").1).into();
    let b_metrics: SocketAddr = ([127, 0, 0, 2], unique_listener("127.0.0.2").1).into();
    a.xshell(&[
        "set-transportservice",
        "--metrics-bindings",
        &a_metrics.to_string(),
    ]);
    assert_eq!(
        service(&a)["MetricsBindings"],
        serde_json::json!([a_metrics.to_string()])
    );
    assert_eq!(service(&b)["MetricsBindings"], serde_json::json!([]));
    // Validated like other bindings: a fixed port, not a receive connector's.
    let (code, _, err) =
        a.lab
            .try_xshell(&["set-transportservice", "--metrics-bindings", "127.0.0.1:0"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("MetricsBindings 127.0.0.1:0"), "{err}");
    let smtp_binding = format!("127.0.0.1:{}", a.port);
    let (code, _, err) =
        a.lab
            .try_xshell(&["set-transportservice", "--metrics-bindings", &smtp_binding]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("receive connector 'Inbound' listens there"),
        "{err}"
    );

    let ea = a.start();
    let eb = b.start();
    assert!(
        wait_until(RELOAD, || serving(a_metrics)),
        "A does not serve {a_metrics}:\n{}",
        ea.log_text()
    );

    // Disabled by default: nothing listens, nothing is logged about it.
    assert!(refused(b_metrics));
    assert!(!eb.log_text().contains("metrics"), "{}", eb.log_text());

    // Turned on while the engine runs: served within the reload time.
    let started = Instant::now();
    b.xshell(&[
        "set-transportservice",
        "--metrics-bindings",
        &b_metrics.to_string(),
    ]);
    assert!(
        wait_until(RELOAD, || serving(b_metrics)),
        "B did not start serving {b_metrics}:\n{}",
        eb.log_text()
    );
    let took = started.elapsed();
    eprintln!("B's endpoint served {took:?} after Set-TransportService");

    // Mail: three submissions on A (plaintext, Submission connector).
    for to in [
        "bob@orgb.example",
        "p@plain.example",
        "d@down.example",
        "u@wrongname.example",
        "u@expired.example",
        "u@untrusted.example",
    ] {
        let t = a.submit("alice@orga.example", to, &format!("to {to}"));
        assert!(queued_ok(&t), "{to}: {t}");
    }
    // B refuses a sender of its secure partner's domain without TLS.
    let mut s = smtp("127.0.0.2", b.port);
    assert!(say(&mut s, "EHLO eve.test").starts_with("250 "));
    let r = say(&mut s, "MAIL FROM:<eve@orga.example>");
    assert!(r.starts_with("530 5.7.1 "), "{r}");
    let _ = say(&mut s, "QUIT");
    // A client that breaks the TLS handshake on B.
    let mut s = smtp("127.0.0.2", b.port);
    assert!(say(&mut s, "EHLO broken.test").starts_with("250 "));
    assert!(say(&mut s, "STARTTLS").starts_with("220 "));
    s.write_all(b"this is not a TLS record\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);

    assert!(
        wait_until(WAIT, || b.lab.maildir("orgb.example", "bob").len() == 1
            && events(&a, "SEND").len() == 2),
        "not delivered; A's queue {:?}",
        a.queue()
    );
    assert_eq!(plain.lock().unwrap().delivered, vec![false]);
    assert!(
        wait_until(WAIT, || [
            "wrongname.example",
            "expired.example",
            "untrusted.example"
        ]
        .iter()
        .all(|d| events(&a, "DEFER")
            .iter()
            .any(|e| e["next_hop_domain"] == *d))),
        "the failing partners were not tried: {:?}",
        events(&a, "DEFER")
    );

    // ---- A
    let m = scrape(a_metrics);
    let received = "xshell_messages_received_total";
    let sent = "xshell_messages_sent_total";
    assert_eq!(
        m.get(
            received,
            &[("connector", "Submission"), ("tls", "plaintext")]
        ),
        Some(6.0)
    );
    assert_eq!(m.sum(received, &[]), 6.0);
    assert_eq!(
        m.get(
            sent,
            &[("connector", "To orgb.example"), ("tls", "domain_secured")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(sent, &[("connector", "Plain"), ("tls", "plaintext")]),
        Some(1.0)
    );
    assert_eq!(m.sum(sent, &[]), 2.0);
    let remote = [("delivery", "remote")];
    assert_eq!(
        m.get("xshell_delivery_latency_seconds_count", &remote),
        Some(2.0)
    );
    let latency = m
        .get("xshell_delivery_latency_seconds_sum", &remote)
        .unwrap();
    assert!(
        latency > 0.0 && latency < WAIT.as_secs_f64() * 2.0,
        "{latency}"
    );
    assert_eq!(
        m.get(
            "xshell_delivery_latency_seconds_bucket",
            &[("delivery", "remote"), ("le", "+Inf")]
        ),
        Some(2.0)
    );
    // A delivers nothing locally.
    assert_eq!(
        m.get(
            "xshell_delivery_latency_seconds_count",
            &[("delivery", "local")]
        ),
        Some(0.0)
    );
    // The message to the next hop that is down waits in its queue.
    let down = m.matching("xshell_queue_messages", &[("next_hop", "down.example")]);
    assert_eq!(down.len(), 1, "{down:?}");
    assert_eq!(down[0].value, 1.0);
    assert!(
        ["Ready", "Retry", "Active"].contains(&down[0].labels["status"].as_str()),
        "{down:?}"
    );
    assert_eq!(down[0].labels["delivery_type"], "DnsConnectorDelivery");
    for hop in ["wrongname.example", "expired.example", "untrusted.example"] {
        assert_eq!(
            m.sum("xshell_queue_messages", &[("next_hop", hop)]),
            1.0,
            "{hop}"
        );
    }
    assert_eq!(m.sum("xshell_queue_messages", &[]), 4.0, "{:?}", m.samples);
    // Outbound handshakes failed for the partners' certificates (at
    // least once each, retried every second), nothing else.
    let failures = "xshell_tls_handshake_failures_total";
    for reason in ["name_mismatch", "expired", "untrusted_certificate"] {
        let n = m
            .get(failures, &[("direction", "outbound"), ("reason", reason)])
            .unwrap();
        assert!(n >= 1.0, "{reason}: {n}");
    }
    for reason in ["no_client_certificate", "protocol", "timeout", "other"] {
        assert_eq!(
            m.get(failures, &[("direction", "outbound"), ("reason", reason)]),
            Some(0.0),
            "{reason}"
        );
    }
    assert_eq!(m.sum(failures, &[("direction", "inbound")]), 0.0);
    assert_eq!(m.sum("xshell_smtp_refusals_total", &[]), 0.0);
    assert_eq!(m.get("xshell_metrics_scrape_errors", &[]), Some(0.0));
    // The SMTP certificate's remaining days, as Get-ExchangeCertificate
    // shows its NotAfter.
    let certs: Value =
        serde_json::from_str(&a.xshell(&["get-exchangecertificate", "--output", "json"])).unwrap();
    let cert = certs
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Services"] == "SMTP")
        .unwrap();
    let thumbprint = cert["Thumbprint"].as_str().unwrap();
    let not_after = OffsetDateTime::parse(cert["NotAfter"].as_str().unwrap(), &Rfc3339).unwrap();
    let want = (not_after - OffsetDateTime::now_utc()).as_seconds_f64() / 86_400.0;
    let days = m
        .get(
            "xshell_certificate_expiry_days",
            &[
                ("thumbprint", thumbprint),
                ("subject", "CN=mail.orga.example"),
            ],
        )
        .unwrap_or_else(|| panic!("no gauge for {thumbprint}: {:?}", m.samples));
    assert!((days - want).abs() < 0.01, "{days} days, want {want}");
    assert!(days > 1.0);

    // ---- B
    let m = scrape(b_metrics);
    assert_eq!(
        m.get(
            received,
            &[("connector", "Inbound"), ("tls", "domain_secured")]
        ),
        Some(1.0)
    );
    assert_eq!(m.sum(received, &[]), 1.0);
    assert_eq!(m.sum(sent, &[]), 0.0);
    assert_eq!(
        m.get(
            "xshell_smtp_refusals_total",
            &[
                ("connector", "Inbound"),
                ("code", "530"),
                ("enhanced", "5.7.1")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(m.sum("xshell_smtp_refusals_total", &[]), 1.0);
    assert_eq!(
        m.get(
            "xshell_tls_handshake_failures_total",
            &[("direction", "inbound"), ("reason", "protocol")]
        ),
        Some(1.0)
    );
    assert_eq!(m.sum("xshell_tls_handshake_failures_total", &[]), 1.0);
    // A's STARTTLS to B completed at least once, as a full handshake.
    assert!(
        m.get(
            "xshell_tls_handshakes_total",
            &[("direction", "inbound"), ("kind", "full")]
        )
        .is_some_and(|n| n >= 1.0),
        "no full inbound handshake counted"
    );
    assert!(
        m.get(
            "xshell_tls_handshakes_total",
            &[("direction", "inbound"), ("kind", "resumed")]
        )
        .is_some(),
        "no resumed series"
    );
    assert_eq!(
        m.get(
            "xshell_delivery_latency_seconds_count",
            &[("delivery", "remote")]
        ),
        Some(0.0)
    );
    // bob's message went to his Maildir.
    assert_eq!(
        m.get(
            "xshell_delivery_latency_seconds_count",
            &[("delivery", "local")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "xshell_delivery_latency_seconds_bucket",
            &[("delivery", "local"), ("le", "60")]
        ),
        Some(1.0)
    );
    assert_eq!(m.sum("xshell_queue_messages", &[]), 0.0);

    // ---- bad requests get a 4xx, never a body of metrics
    for (request, want) in [
        (b"GET /nope HTTP/1.1\r\n\r\n".to_vec(), 404),
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), 404),
        (
            b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n".to_vec(),
            405,
        ),
        (b"EHLO me\r\n\r\n".to_vec(), 400),
        (b"GET /metrics\r\n\r\n".to_vec(), 400),
        (b"\x16\x03\x01\x00\x05hello\r\n\r\n".to_vec(), 400),
        (
            [
                b"GET /metrics HTTP/1.1\r\nX-Big: ".as_slice(),
                &[b'a'; 9000],
                b"\r\n\r\n",
            ]
            .concat(),
            431,
        ),
    ] {
        let r = http(a_metrics, &request).unwrap();
        assert_eq!(
            status_of(&r),
            want,
            "{:?}: {r}",
            String::from_utf8_lossy(&request[..20.min(request.len())])
        );
        assert!(!r.contains("xshell_"), "{r}");
    }
    let r = http(a_metrics, b"HEAD /metrics HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(status_of(&r), 200);
    assert!(r.ends_with("\r\n\r\n"), "HEAD has no body: {r}");
    // A client that sends nothing is cut off (bounded read timeout).
    let started = Instant::now();
    let r = http(a_metrics, b"GET /metr").unwrap();
    assert_eq!(status_of(&r), 408, "{r}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Still serving after all that.
    assert!(serving(a_metrics));

    // ---- a binding the engine cannot listen on: logged, retried, mail
    // still flows; served once the address is free.
    let (holder, busy_port) = unique_listener("127.0.0.1");
    let busy: SocketAddr = ([127, 0, 0, 1], busy_port).into();
    a.xshell(&[
        "set-transportservice",
        "--metrics-bindings",
        &busy.to_string(),
    ]);
    assert!(
        wait_until(RELOAD, || ea
            .log_text()
            .contains("metrics: cannot listen on this MetricsBindings address")),
        "{}",
        ea.log_text()
    );
    assert!(
        wait_until(RELOAD, || refused(a_metrics)),
        "the old binding still serves"
    );
    let t = a.submit(
        "alice@orga.example",
        "bob@orgb.example",
        "during a bind failure",
    );
    assert!(queued_ok(&t), "{t}");
    drop(holder);
    assert!(
        wait_until(RELOAD, || serving(busy)),
        "not served after the address became free:\n{}",
        ea.log_text()
    );
    assert!(
        wait_until(WAIT, || b.lab.maildir("orgb.example", "bob").len() == 2),
        "mail did not flow during the bind failure"
    );

    // ---- turned off: nothing listens any more.
    a.xshell(&["-c", "Set-TransportService -MetricsBindings $null"]);
    assert!(wait_until(RELOAD, || refused(busy)), "{}", ea.log_text());
    assert_eq!(service(&a)["MetricsBindings"], serde_json::json!([]));
}
