//! Prometheus metrics: what the engine counts, and the text exposition
//! format (version 0.0.4) it serves on `GET /metrics` ([`http`]).
//!
//! Counting is cheap: a mutex'ed map entry or an atomic, touched once per
//! message, refusal or failed handshake. Counters live as long as the
//! process (a restart resets them, as Prometheus expects). The gauges
//! (queue lengths, certificate lifetimes) are computed at scrape time from
//! the queue folder and the store, as Get-Queue and Get-ExchangeCertificate
//! see them.
//!
//! Label values come from the administrator's names (connectors, next
//! hops, certificate subjects) and from small closed sets (TLS outcome,
//! failure reason, reply code); no label takes a value chosen by a remote
//! client, so the number of series stays bounded.

pub mod http;

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use time::OffsetDateTime;
use xshell_core::certificates;
use xshell_core::control::{QueueState, spool, view};
use xshell_core::model::OrgConfig;
use xshell_core::pki::cert::parse_certificate;

/// How a message travelled: under Domain Security (mutual TLS, verified
/// partner domain), under other TLS, or in plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsClass {
    DomainSecured,
    Tls,
    Plaintext,
}

impl TlsClass {
    pub fn label(self) -> &'static str {
        match self {
            TlsClass::DomainSecured => "domain_secured",
            TlsClass::Tls => "tls",
            TlsClass::Plaintext => "plaintext",
        }
    }
}

/// Which side of the connection we were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A client's STARTTLS on a receive connector.
    Inbound,
    /// Our STARTTLS to a next hop.
    Outbound,
}

impl Direction {
    const ALL: [Direction; 2] = [Direction::Inbound, Direction::Outbound];
    pub fn label(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// Why a TLS handshake failed: a small closed set derived from the rustls
/// error (or the timeout) the engine already gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFailure {
    /// A certificate was required and none was presented.
    NoClientCertificate,
    /// The chain does not lead to a trusted root (or its signature or
    /// revocation status is bad).
    UntrustedCertificate,
    /// The certificate does not name the domain it had to.
    NameMismatch,
    /// Expired or not valid yet.
    Expired,
    /// The peer broke the protocol, or we share no version or cipher.
    Protocol,
    /// The handshake did not finish in time.
    Timeout,
    /// Anything else (an I/O error, a closed connection).
    Other,
}

impl TlsFailure {
    const ALL: [TlsFailure; 7] = [
        TlsFailure::NoClientCertificate,
        TlsFailure::UntrustedCertificate,
        TlsFailure::NameMismatch,
        TlsFailure::Expired,
        TlsFailure::Protocol,
        TlsFailure::Timeout,
        TlsFailure::Other,
    ];

    pub fn label(self) -> &'static str {
        match self {
            TlsFailure::NoClientCertificate => "no_client_certificate",
            TlsFailure::UntrustedCertificate => "untrusted_certificate",
            TlsFailure::NameMismatch => "name_mismatch",
            TlsFailure::Expired => "expired",
            TlsFailure::Protocol => "protocol",
            TlsFailure::Timeout => "timeout",
            TlsFailure::Other => "other",
        }
    }

    /// The reason of a rustls error (ours, or the alert the peer sent).
    pub fn of_rustls(e: &rustls::Error) -> TlsFailure {
        use rustls::{AlertDescription as A, CertificateError as C, Error as E};
        match e {
            E::NoCertificatesPresented => TlsFailure::NoClientCertificate,
            E::InvalidCertificate(c) => match c {
                C::Expired | C::ExpiredContext { .. } | C::NotValidYet => TlsFailure::Expired,
                C::NotValidYetContext { .. } => TlsFailure::Expired,
                C::NotValidForName | C::NotValidForNameContext { .. } => TlsFailure::NameMismatch,
                C::UnknownIssuer
                | C::BadSignature
                | C::Revoked
                | C::UnknownRevocationStatus
                | C::ExpiredRevocationList
                | C::ExpiredRevocationListContext { .. }
                | C::InvalidPurpose
                | C::InvalidPurposeContext { .. }
                | C::ApplicationVerificationFailure => TlsFailure::UntrustedCertificate,
                _ => TlsFailure::Other,
            },
            E::AlertReceived(a) => match a {
                A::CertificateRequired => TlsFailure::NoClientCertificate,
                A::UnknownCA | A::BadCertificate | A::UnsupportedCertificate => {
                    TlsFailure::UntrustedCertificate
                }
                A::CertificateExpired => TlsFailure::Expired,
                _ => TlsFailure::Protocol,
            },
            E::InappropriateMessage { .. }
            | E::InappropriateHandshakeMessage { .. }
            | E::InvalidMessage(_)
            | E::PeerIncompatible(_)
            | E::PeerMisbehaved(_)
            | E::DecryptError
            | E::HandshakeNotComplete
            | E::PeerSentOversizedRecord
            | E::NoApplicationProtocol => TlsFailure::Protocol,
            _ => TlsFailure::Other,
        }
    }

    /// The reason of a failed tokio-rustls handshake.
    pub fn of_io(e: &std::io::Error) -> TlsFailure {
        match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(r) => TlsFailure::of_rustls(r),
            None if e.kind() == std::io::ErrorKind::TimedOut => TlsFailure::Timeout,
            None if e.kind() == std::io::ErrorKind::InvalidData => TlsFailure::Protocol,
            None => TlsFailure::Other,
        }
    }
}

/// Upper bounds (seconds) of the delivery latency buckets: from a relay
/// that took a moment to the retries of a day.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 43200.0,
    86400.0,
];

#[derive(Debug, Default)]
struct Histogram {
    /// Per bucket (not cumulative); the last is +Inf.
    counts: [u64; LATENCY_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        let i = LATENCY_BUCKETS
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.counts[i] += 1;
        self.sum += v;
        self.count += 1;
    }
}

type Counts<K> = Mutex<BTreeMap<K, u64>>;

fn bump<K: Ord>(map: &Counts<K>, key: K) {
    let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
    *m.entry(key).or_insert(0) += 1;
}

/// The engine's counters (one per engine, shared by every task).
#[derive(Debug, Default)]
pub struct Metrics {
    /// (receive connector, TLS outcome).
    received: Counts<(String, TlsClass)>,
    /// (send connector, TLS outcome).
    sent: Counts<(String, TlsClass)>,
    /// (receive connector, reply code, enhanced code).
    refusals: Counts<(String, u16, String)>,
    /// [direction][reason].
    tls_failures: [[AtomicU64; TlsFailure::ALL.len()]; 2],
    /// Clients' completed STARTTLS handshakes: [full, resumed].
    tls_handshakes: [AtomicU64; 2],
    /// Delivery latency: [remote, local].
    latency: Mutex<[Histogram; 2]>,
}

/// The connector label of a refusal before any connector took the client.
pub const NO_CONNECTOR: &str = "(none)";

impl Metrics {
    /// A message was queued from a client of `connector` (after its `250`).
    pub fn received(&self, connector: &str, tls: TlsClass) {
        bump(&self.received, (connector.to_string(), tls));
    }

    /// A message was handed to a next hop over `connector` (the hop's
    /// `250` after the dot), `latency` after it was received.
    pub fn sent(&self, connector: &str, tls: TlsClass, latency: Duration) {
        bump(&self.sent, (connector.to_string(), tls));
        let mut h = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        h[0].observe(latency.as_secs_f64());
    }

    /// A message's local recipients were delivered to their Maildir,
    /// `latency` after it was received.
    pub fn delivered_locally(&self, latency: Duration) {
        let mut h = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        h[1].observe(latency.as_secs_f64());
    }

    /// The receive side answered `code` (4xx or 5xx).
    pub fn refused(&self, connector: &str, code: u16, enhanced: Option<xshell_smtp::Enhanced>) {
        let enhanced = enhanced.map_or_else(String::new, |(a, b, c)| format!("{a}.{b}.{c}"));
        bump(&self.refusals, (connector.to_string(), code, enhanced));
    }

    /// Counts every 4xx/5xx reply in `out`, the octets the receive side
    /// is about to send (one or more replies; only a reply's last line,
    /// `NNN ` and text, counts).
    pub fn refusals_in(&self, connector: &str, out: &[u8]) {
        for line in out.split(|b| *b == b'\n') {
            if let Some((code, enhanced)) = final_refusal_line(line) {
                self.refused(connector, code, enhanced);
            }
        }
    }

    /// A client's STARTTLS handshake completed, `resumed` from an earlier
    /// session (ticket or session ID) or full.
    pub fn tls_handshake(&self, resumed: bool) {
        self.tls_handshakes[usize::from(resumed)].fetch_add(1, Ordering::Relaxed);
    }

    /// A TLS handshake failed.
    pub fn tls_failure(&self, direction: Direction, reason: TlsFailure) {
        let d = Direction::ALL
            .iter()
            .position(|x| *x == direction)
            .unwrap_or(0);
        let r = TlsFailure::ALL
            .iter()
            .position(|x| *x == reason)
            .unwrap_or(TlsFailure::ALL.len() - 1);
        self.tls_failures[d][r].fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition (text format 0.0.4) of the counters and of the
    /// scrape-time gauges in `gauges`.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        family(
            &mut out,
            "xshell_messages_received_total",
            "Messages queued from SMTP clients (after the 250), by receive connector and TLS outcome (domain_secured: mutual TLS with a verified partner domain; tls; plaintext).",
            "counter",
        );
        for ((connector, tls), n) in lock(&self.received).iter() {
            sample(
                &mut out,
                "xshell_messages_received_total",
                &[("connector", connector), ("tls", tls.label())],
                &n.to_string(),
            );
        }
        family(
            &mut out,
            "xshell_messages_sent_total",
            "Messages a next hop accepted (250 after the data), by send connector and TLS outcome.",
            "counter",
        );
        for ((connector, tls), n) in lock(&self.sent).iter() {
            sample(
                &mut out,
                "xshell_messages_sent_total",
                &[("connector", connector), ("tls", tls.label())],
                &n.to_string(),
            );
        }
        family(
            &mut out,
            "xshell_smtp_refusals_total",
            "4xx and 5xx replies the receive side sent, by receive connector, reply code and enhanced status code.",
            "counter",
        );
        for ((connector, code, enhanced), n) in lock(&self.refusals).iter() {
            sample(
                &mut out,
                "xshell_smtp_refusals_total",
                &[
                    ("connector", connector),
                    ("code", &code.to_string()),
                    ("enhanced", enhanced),
                ],
                &n.to_string(),
            );
        }
        family(
            &mut out,
            "xshell_tls_handshake_failures_total",
            "Failed TLS handshakes, by direction (inbound: a client's STARTTLS; outbound: ours to a next hop) and reason.",
            "counter",
        );
        for (d, direction) in Direction::ALL.iter().enumerate() {
            for (r, reason) in TlsFailure::ALL.iter().enumerate() {
                let n = self.tls_failures[d][r].load(Ordering::Relaxed);
                sample(
                    &mut out,
                    "xshell_tls_handshake_failures_total",
                    &[("direction", direction.label()), ("reason", reason.label())],
                    &n.to_string(),
                );
            }
        }
        family(
            &mut out,
            "xshell_tls_handshakes_total",
            "Completed TLS handshakes of clients' STARTTLS, by kind (full; resumed: from an earlier session's ticket or ID, no certificate exchange).",
            "counter",
        );
        for (i, kind) in ["full", "resumed"].iter().enumerate() {
            sample(
                &mut out,
                "xshell_tls_handshakes_total",
                &[("direction", "inbound"), ("kind", kind)],
                &self.tls_handshakes[i].load(Ordering::Relaxed).to_string(),
            );
        }
        family(
            &mut out,
            "xshell_delivery_latency_seconds",
            "Time from receipt to successful delivery: delivery=remote per message and next hop that accepted it, delivery=local per message delivered to Maildir.",
            "histogram",
        );
        {
            let hs = self.latency.lock().unwrap_or_else(|p| p.into_inner());
            for (h, delivery) in hs.iter().zip(["remote", "local"]) {
                let mut cumulative = 0u64;
                for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
                    cumulative += h.counts[i];
                    sample(
                        &mut out,
                        "xshell_delivery_latency_seconds_bucket",
                        &[("delivery", delivery), ("le", &float(*le))],
                        &cumulative.to_string(),
                    );
                }
                sample(
                    &mut out,
                    "xshell_delivery_latency_seconds_bucket",
                    &[("delivery", delivery), ("le", "+Inf")],
                    &h.count.to_string(),
                );
                sample(
                    &mut out,
                    "xshell_delivery_latency_seconds_sum",
                    &[("delivery", delivery)],
                    &float(h.sum),
                );
                sample(
                    &mut out,
                    "xshell_delivery_latency_seconds_count",
                    &[("delivery", delivery)],
                    &h.count.to_string(),
                );
            }
        }
        family(
            &mut out,
            "xshell_queue_messages",
            "Messages in each queue as Get-Queue shows it, by next hop, delivery type and status (Active, Ready, Retry, Suspended).",
            "gauge",
        );
        for q in &gauges.queues {
            sample(
                &mut out,
                "xshell_queue_messages",
                &[
                    ("next_hop", &q.next_hop),
                    ("delivery_type", &q.delivery_type),
                    ("status", &q.status),
                ],
                &q.messages.to_string(),
            );
        }
        family(
            &mut out,
            "xshell_certificate_expiry_days",
            "Days until each certificate with an enabled service expires (negative: expired).",
            "gauge",
        );
        for c in &gauges.certificates {
            sample(
                &mut out,
                "xshell_certificate_expiry_days",
                &[
                    ("thumbprint", &c.thumbprint),
                    ("subject", &c.subject),
                    ("services", &c.services),
                ],
                &float(c.days),
            );
        }
        family(
            &mut out,
            "xshell_metrics_scrape_errors",
            "Parts of this scrape that could not be read (store, queue); their gauges are missing.",
            "gauge",
        );
        sample(
            &mut out,
            "xshell_metrics_scrape_errors",
            &[],
            &gauges.errors.to_string(),
        );
        family(
            &mut out,
            "xshell_build_info",
            "The engine's version (always 1).",
            "gauge",
        );
        sample(
            &mut out,
            "xshell_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            "1",
        );
        out
    }
}

fn lock<K>(m: &Counts<K>) -> std::sync::MutexGuard<'_, BTreeMap<K, u64>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `NNN text` (a reply's last line) with a 4xx or 5xx code: the code and
/// the enhanced status code, if the text starts with one.
fn final_refusal_line(line: &[u8]) -> Option<(u16, Option<xshell_smtp::Enhanced>)> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let code = line.get(..3)?;
    if !code.iter().all(u8::is_ascii_digit) || !matches!(code[0], b'4' | b'5') {
        return None;
    }
    if !(line.len() == 3 || line[3] == b' ') {
        return None;
    }
    let code: u16 = std::str::from_utf8(code).ok()?.parse().ok()?;
    let enhanced = line
        .get(4..)
        .and_then(|t| std::str::from_utf8(t).ok())
        .and_then(|t| t.split(' ').next())
        .and_then(|t| {
            let mut p = t.split('.');
            let a: u8 = p.next()?.parse().ok()?;
            let b: u16 = p.next()?.parse().ok()?;
            let c: u16 = p.next()?.parse().ok()?;
            (p.next().is_none() && u16::from(a) == code / 100).then_some((a, b, c))
        });
    Some((code, enhanced))
}

/// `# HELP` and `# TYPE` of one metric family.
fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// One sample line; label values escaped (`\\`, `\"`, `\n`).
fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: &str) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            out.push_str(&escape_label(v));
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(value);
    out.push('\n');
}

/// A label value as the text format wants it.
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// A float as the text format wants it (`+Inf`, `-Inf`, `NaN`).
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

/// One queue's length.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueGauge {
    pub next_hop: String,
    pub delivery_type: String,
    pub status: String,
    pub messages: u32,
}

/// One certificate's remaining lifetime.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateGauge {
    pub thumbprint: String,
    pub subject: String,
    pub services: String,
    pub days: f64,
}

/// What a scrape reads from the queue and the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gauges {
    pub queues: Vec<QueueGauge>,
    pub certificates: Vec<CertificateGauge>,
    /// Parts that could not be read (logged).
    pub errors: u32,
}

impl Gauges {
    /// Reads the gauges (blocking I/O): the queues as Get-Queue derives
    /// them from the spool in `queue_dir` (`active`: the ids a delivery is
    /// working on), and the certificates of `cfg` with an enabled service.
    pub fn read(
        cfg: &OrgConfig,
        queue_dir: &std::path::Path,
        active: &HashSet<String>,
        now: OffsetDateTime,
    ) -> Gauges {
        let mut g = Gauges::default();
        let now_ms = u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        match (spool::read(queue_dir), QueueState::load(queue_dir)) {
            (Ok(sp), Ok(state)) => {
                let server = cfg.transport_service.name.clone();
                for q in view::queues(cfg, &server, &sp.messages, &state, active, now_ms) {
                    g.queues.push(QueueGauge {
                        next_hop: q.next_hop_domain,
                        delivery_type: format!("{:?}", q.delivery_type),
                        status: format!("{:?}", q.status),
                        messages: q.message_count,
                    });
                }
            }
            (Err(e), _) => {
                tracing::warn!(error = %e, "metrics: cannot read the queue");
                g.errors += 1;
            }
            (_, Err(e)) => {
                tracing::warn!(error = %e, "metrics: cannot read the suspended queues");
                g.errors += 1;
            }
        }
        for rec in cfg.certificates.iter().filter(|r| !r.services.is_empty()) {
            let info = certificates::certificate_der(rec)
                .ok()
                .flatten()
                .and_then(|d| parse_certificate(&d).ok());
            let Some(info) = info else {
                continue;
            };
            let days = (info.not_after - now).as_seconds_f64() / 86_400.0;
            g.certificates.push(CertificateGauge {
                thumbprint: rec.thumbprint.clone(),
                subject: info.subject.clone(),
                services: rec.services.join(","),
                days: (days * 1000.0).round() / 1000.0,
            });
        }
        g
    }
}

#[cfg(test)]
mod tests;
