//! The scenarios of issue 8, each run against xshell-transport and then
//! Postfix with the same load, plus a calibration run straight into a sink
//! (smtp-sink, or our rustls sink for TLS) to show the load generator is
//! not the bottleneck. Every run is bounded by a count and a deadline.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::cli::{self, CliFigure};
use crate::client::{self, Load, Outcome, Tls};
use crate::lab::{Bins, LOCAL_DOMAIN, Lab, PARTNER_DOMAIN, RELAY_DOMAIN};
use crate::measure::{Destination, Watch, Watched};
use crate::servers::{Engine, Postfix, Server, Sink, TlsSink, free_port, wait_until};

/// Counts and bounds for one run of the harness.
pub struct Plan {
    pub quick: bool,
    pub sections: Vec<String>,
    /// Messages of the 20-session plaintext and TLS scenarios.
    pub messages: usize,
    pub sessions: usize,
    pub size: usize,
    /// Messages of the one-message-per-connection scenarios.
    pub per_connection: usize,
    /// Sessions of the handshake-only runs.
    pub handshakes: usize,
    /// The sweep: at most this many messages and this many bytes per cell.
    pub sweep_sessions: Vec<usize>,
    pub sweep_sizes: Vec<usize>,
    pub sweep_cap: usize,
    pub sweep_bytes: usize,
    /// No new message after this long (per run).
    pub deadline: Duration,
    /// How long delivery may take after the load ends.
    pub drain: Duration,
    /// The same for sweep cells (acceptance is what the sweep is about).
    pub sweep_drain: Duration,
    pub cli_runs: usize,
    /// Changes of the follow section (issue 19: change to live on three
    /// engines).
    pub follow_changes: usize,
    pub client_threads: usize,
}

impl Plan {
    pub fn new(quick: bool, sections: Vec<String>) -> Plan {
        Plan {
            quick,
            sections,
            messages: if quick { 2_000 } else { 20_000 },
            sessions: 20,
            size: 4096,
            per_connection: if quick { 500 } else { 3_000 },
            handshakes: if quick { 500 } else { 3_000 },
            sweep_sessions: vec![1, 10, 50, 200],
            sweep_sizes: vec![1024, 100 * 1024, 10 * 1024 * 1024],
            sweep_cap: if quick { 600 } else { 2_000 },
            sweep_bytes: if quick { 60 << 20 } else { 200 << 20 },
            deadline: Duration::from_secs(if quick { 30 } else { 60 }),
            drain: Duration::from_secs(if quick { 45 } else { 60 }),
            sweep_drain: Duration::from_secs(if quick { 10 } else { 20 }),
            cli_runs: if quick { 5 } else { 31 },
            follow_changes: 100,
            client_threads: 2,
        }
    }

    pub fn has(&self, s: &str) -> bool {
        self.sections.iter().any(|x| x == s)
    }
}

/// One measured run.
#[derive(Debug, Clone)]
pub struct Row {
    pub target: String,
    pub outcome: Outcome,
    pub watched: Watched,
    /// Whether the end-to-end time is meaningful (something is delivered).
    pub delivers: bool,
    pub note: String,
}

impl Row {
    /// Messages delivered per second from the start of the load: all of
    /// them by the time the last arrived or, when delivery did not finish
    /// within the drain time, those delivered by then (a partial figure).
    pub fn e2e_rate(&self) -> Option<f64> {
        if !self.delivers {
            return None;
        }
        let (n, t) = match self.watched.delivered_at {
            Some(t) => (self.outcome.accepted, t),
            None => (self.watched.delivered, self.watched.ended_at),
        };
        let t = t.as_secs_f64();
        (t > 0.0).then(|| n as f64 / t)
    }
    pub fn e2e_partial(&self) -> bool {
        self.delivers && self.watched.delivered_at.is_none()
    }
    pub fn p(&self, q: f64) -> Option<f64> {
        let mut l = self.outcome.latencies_us.clone();
        l.sort_unstable();
        client::percentile_ms(&l, q)
    }
    pub fn rss_mb(&self) -> f64 {
        self.watched.peak_rss_kb as f64 / 1024.0
    }
    pub fn pss_mb(&self) -> f64 {
        self.watched.peak_pss_kb as f64 / 1024.0
    }
}

/// A scenario and its rows (xshell, Postfix, calibration).
pub struct Scenario {
    pub title: String,
    pub load: String,
    pub rows: Vec<Row>,
    pub unavailable: Option<String>,
}

pub struct SweepCell {
    pub sessions: usize,
    pub size: usize,
    pub messages: usize,
    pub xshell: Row,
    pub postfix: Row,
}

pub struct Results {
    pub scenarios: Vec<Scenario>,
    pub sweep: Vec<SweepCell>,
    pub cli: Vec<CliFigure>,
    pub follow: Vec<crate::follow::FollowFigure>,
    pub loadavg_start: String,
    pub loadavg_end: String,
    pub postfix_version: String,
    pub relay_available: bool,
}

/// How a load is generated.
enum Driver {
    /// Postfix's smtp-source (plaintext only).
    Source {
        sessions: usize,
        messages: usize,
        size: usize,
        reuse: bool,
        from: String,
        to: String,
    },
    Client(Load),
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

struct Env<'a> {
    plan: &'a Plan,
    bins: &'a Bins,
    lab: &'a Lab,
    engine: &'a Engine,
    /// The same engine's configuration on a one-member etcd (relay only).
    etcd_engine: Option<&'a Engine>,
    /// That etcd's client port (its /metrics count the engine's requests).
    etcd_port: Option<u16>,
    postfix: &'a Postfix,
    sink: &'a Sink,
    tls_sink: &'a TlsSink,
    tls: Tls,
    /// The same, with a session cache: reconnections resume.
    tls_resumed: Tls,
    next_mailbox: std::cell::Cell<usize>,
}

/// What a run is aimed at.
struct Target<'a> {
    name: String,
    port: u16,
    root_pid: u32,
    server: Option<&'a dyn Server>,
}

impl Env<'_> {
    fn targets(&self) -> [Target<'_>; 2] {
        let x: &dyn Server = self.engine;
        let p: &dyn Server = self.postfix;
        [x, p].map(|s| Target {
            name: s.name().to_string(),
            port: s.port(),
            root_pid: s.pids().first().copied().unwrap_or(0),
            server: Some(s),
        })
    }

    fn smtp_sink(&self) -> Target<'_> {
        Target {
            name: "smtp-sink (calibration)".into(),
            port: self.sink.port,
            root_pid: self.sink.pid(),
            server: None,
        }
    }

    fn rustls_sink(&self) -> Target<'_> {
        Target {
            name: "rustls sink (calibration)".into(),
            port: self.tls_sink.port,
            root_pid: self.tls_sink.pid(),
            server: None,
        }
    }

    fn mailbox(&self) -> String {
        let n = self.next_mailbox.get();
        self.next_mailbox.set(n + 1);
        format!("box{n}")
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn load(&self, port: u16, sessions: usize, messages: usize, size: usize, to: &str) -> Load {
        let from = "loadgen@client.example".to_string();
        Load {
            addr: Self::addr(port),
            sessions,
            messages,
            per_connection: false,
            tls: None,
            handshake_only: false,
            data: Arc::new(client::message(&from, to, size)),
            from,
            to: to.to_string(),
            deadline: self.plan.deadline,
        }
    }

    fn tls_load(&self, port: u16, sessions: usize, messages: usize, to: &str) -> Load {
        let mut l = self.load(port, sessions, messages, self.plan.size, to);
        l.from = format!("alice@{PARTNER_DOMAIN}");
        l.data = Arc::new(client::message(&l.from, to, self.plan.size));
        l.tls = Some(self.tls.clone());
        l
    }

    /// Runs `driver` against `target`, watching memory and, where the
    /// target is a server and `dest` is given, delivery.
    fn measure(&self, target: &Target<'_>, driver: Driver, dest: Destination) -> Result<Row> {
        self.measure_drain(target, driver, dest, self.plan.drain)
    }

    fn measure_drain(
        &self,
        target: &Target<'_>,
        driver: Driver,
        dest: Destination,
        drain: Duration,
    ) -> Result<Row> {
        let expected = match &driver {
            Driver::Source { messages, .. } => *messages,
            Driver::Client(l) => l.messages,
        };
        let mut delivers = !matches!(dest, Destination::None);
        eprintln!("  {} ...", target.name);
        let start = Instant::now();
        let watch = Watch::start(target.root_pid, dest, start, expected);
        let outcome = match driver {
            Driver::Source {
                sessions,
                messages,
                size,
                reuse,
                from,
                to,
            } => self.smtp_source(
                target.port,
                sessions,
                messages,
                size,
                reuse,
                &from,
                &to,
                start,
            )?,
            Driver::Client(mut l) => {
                l.addr = Self::addr(target.port);
                client::run(&l, self.plan.client_threads)?
            }
        };
        // nothing accepted: nothing to deliver
        delivers &= outcome.accepted > 0;
        let watched = watch.finish(delivers.then_some(outcome.accepted), drain);
        let mut note = String::new();
        if outcome.accepted < expected {
            note.push_str(&format!(
                "{} of {expected} sent (deadline or errors); ",
                outcome.accepted
            ));
        }
        if outcome.failed > 0 {
            note.push_str(&format!(
                "{} failed, first: {}; ",
                outcome.failed,
                outcome.first_error.as_deref().unwrap_or("?")
            ));
        }
        if delivers && watched.delivered_at.is_none() {
            note.push_str(&format!(
                "end-to-end partial: {} of {} delivered {:.0} s after the start (drain limit {} s), then the backlog was dropped (restart on an empty queue); ",
                watched.delivered,
                outcome.accepted,
                watched.ended_at.as_secs_f64(),
                drain.as_secs()
            ));
            if let Some(s) = target.server {
                s.reset()?;
            }
        }
        let row = Row {
            target: target.name.clone(),
            outcome,
            watched,
            delivers,
            note: note.trim_end_matches("; ").to_string(),
        };
        eprintln!(
            "    accepted {} in {:.2} s = {:.0}/s; e2e {}; p50 {} p99 {}; peak RSS {:.1} MB, PSS {:.1} MB {}",
            row.outcome.accepted,
            row.outcome.elapsed.as_secs_f64(),
            row.outcome.rate(),
            row.e2e_rate().map_or("-".into(), |r| format!("{r:.0}/s")),
            row.p(50.0).map_or("-".into(), |v| format!("{v:.2} ms")),
            row.p(99.0).map_or("-".into(), |v| format!("{v:.2} ms")),
            row.rss_mb(),
            row.pss_mb(),
            row.note
        );
        Ok(row)
    }

    #[allow(clippy::too_many_arguments)]
    fn smtp_source(
        &self,
        port: u16,
        sessions: usize,
        messages: usize,
        size: usize,
        reuse: bool,
        from: &str,
        to: &str,
        start: Instant,
    ) -> Result<Outcome> {
        let mut cmd = Command::new("timeout");
        cmd.arg(self.plan.deadline.as_secs().to_string())
            .arg(&self.bins.smtp_source);
        if reuse {
            cmd.arg("-d");
        }
        cmd.args(["-s", &sessions.to_string()])
            .args(["-m", &messages.to_string()])
            .args(["-l", &size.to_string()])
            .args(["-f", from, "-t", to, "-M", "client.bench.example"])
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let out = cmd.output().context("running smtp-source")?;
        let elapsed = start.elapsed();
        let ok = out.status.success();
        Ok(Outcome {
            accepted: if ok { messages } else { 0 },
            failed: if ok { 0 } else { 1 },
            first_error: (!ok).then(|| {
                format!(
                    "smtp-source {}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )
            }),
            elapsed,
            latencies_us: Vec::new(),
        })
    }

    /// One scenario: the same load, built for each target by `drive`, measured
    /// on each target in turn.
    fn scenario<'t>(
        &self,
        title: &str,
        load: String,
        targets: impl IntoIterator<Item = Target<'t>>,
        mut drive: impl FnMut(&Target<'t>) -> (Driver, Destination),
    ) -> Result<Scenario> {
        eprintln!("{title}: {load}");
        let mut rows = Vec::new();
        for t in targets {
            let (driver, dest) = drive(&t);
            rows.push(self.measure(&t, driver, dest)?);
        }
        Ok(Scenario {
            title: title.into(),
            load,
            rows,
            unavailable: None,
        })
    }

    /// `smtp-source` with the plan's sessions and message size.
    fn source(&self, messages: usize, reuse: bool, to: String) -> Driver {
        Driver::Source {
            sessions: self.plan.sessions,
            messages,
            size: self.plan.size,
            reuse,
            from: "loadgen@client.example".into(),
            to,
        }
    }

    fn to_local(&self, target: &Target<'_>) -> (String, Destination) {
        let mb = self.mailbox();
        let dest = match target.server {
            Some(s) => Destination::Maildir(s.maildir_new(&mb)),
            None => Destination::None,
        };
        (format!("{mb}@{LOCAL_DOMAIN}"), dest)
    }

    fn sink_dest(&self) -> Destination {
        let c = self.sink.counter();
        let base = c.load(std::sync::atomic::Ordering::Relaxed);
        Destination::Sink(c, base)
    }
}

pub fn run_all(plan: &Plan, keep: bool) -> Result<Results> {
    let loadavg_start = loadavg();
    let bins = Bins::find()?;
    let mut tmp = Some(tempfile::Builder::new().prefix("xshell-bench-").tempdir()?);
    let work = tmp.as_ref().context("work folder")?.path().to_path_buf();
    if keep {
        if let Some(t) = tmp.take() {
            let _ = t.keep();
        }
        eprintln!("work folder (kept): {}", work.display());
    }
    let postfix_version =
        crate::lab::run(Command::new("postconf").args(["-d", "-h", "mail_version"]))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into());
    let needs_servers = ["smtp", "tls", "relay", "handshake", "protolog", "sweep"]
        .iter()
        .any(|s| plan.has(s));
    let mut results = Results {
        scenarios: Vec::new(),
        sweep: Vec::new(),
        cli: Vec::new(),
        follow: Vec::new(),
        loadavg_start,
        loadavg_end: String::new(),
        postfix_version,
        relay_available: false,
    };
    // The CLI figures first, on a quiet machine: after the load scenarios
    // the kernel is still writing back gigabytes of queue files and
    // mailboxes, and a process start or an fsync then takes several times as
    // long (in one run /bin/true's median went from 1.4 to 3.2 ms).
    if plan.has("cli") {
        // Nothing of the build left to write back either.
        let _ = Command::new("sync").status();
        eprintln!("CLI figures");
        results.cli = cli::figures(&bins, &work, &[1000, 50], plan.cli_runs)?;
    }
    if plan.has("follow") {
        eprintln!(
            "Following changes: three engines, {} changes",
            plan.follow_changes
        );
        results.follow = crate::follow::figures(&bins, &work, plan.follow_changes)?;
    }
    if needs_servers {
        eprintln!("provisioning (work folder {})", work.display());
        let lab = Lab::new(bins.clone(), &work)?;
        let sink = Sink::start(&bins, free_port()?)?;
        let xport = free_port()?;
        lab.provision(xport, sink.port)?;
        let engine = Engine::start(&bins, &lab.store, xport, work.join("engine.log"))?;
        let postfix = Postfix::start(
            &bins,
            &work.join("postfix"),
            free_port()?,
            sink.port,
            &lab.server,
            &lab.ca_pem(),
        )
        .context("starting the private Postfix instance (needs root and the postfix user)")?;
        let tls_sink = TlsSink::start(&lab.server, &lab.ca_pem(), free_port()?)?;
        let etcd = if plan.has("relay") {
            etcd_relay_engine(&bins, &work, sink.port)?
        } else {
            None
        };
        let env = Env {
            plan,
            bins: &bins,
            lab: &lab,
            engine: &engine,
            etcd_engine: etcd.as_ref().map(|(_, e, _)| e),
            etcd_port: etcd.as_ref().map(|(_, _, p)| *p),
            postfix: &postfix,
            sink: &sink,
            tls_sink: &tls_sink,
            tls: lab.client_tls(false)?,
            tls_resumed: lab.client_tls(true)?,
            next_mailbox: std::cell::Cell::new(0),
        };
        warm_up(&env)?;
        results.relay_available = relay_probe(&env)?;
        if plan.has("smtp") {
            results.scenarios.extend(smtp(&env)?);
        }
        if plan.has("tls") {
            results.scenarios.extend(tls(&env)?);
        }
        if plan.has("relay") {
            results
                .scenarios
                .push(relay(&env, results.relay_available)?);
        }
        if plan.has("handshake") {
            results.scenarios.extend(handshakes(&env)?);
        }
        if plan.has("protolog") {
            results.scenarios.extend(protolog(&env)?);
        }
        if plan.has("sweep") {
            results.sweep = sweep(&env)?;
        }
    }
    results.loadavg_end = loadavg();
    drop(tmp);
    Ok(results)
}

/// One message to each server first (connection set-up, lazy start of
/// Postfix's daemons, page cache), not measured.
fn warm_up(env: &Env<'_>) -> Result<()> {
    eprintln!("warm-up");
    for t in env.targets() {
        let (to, dest) = env.to_local(&t);
        let l = env.load(t.port, 1, 1, 1024, &to);
        let o = client::run(&l, 1)?;
        if o.accepted != 1 {
            anyhow::bail!(
                "{} refused the warm-up message: {:?}",
                t.name,
                o.first_error
            );
        }
        if !wait_until(Duration::from_secs(30), || dest.count() == 1) {
            anyhow::bail!(
                "{} did not deliver the warm-up message to its Maildir",
                t.name
            );
        }
    }
    Ok(())
}

/// Does xshell-transport relay to the sink yet (the outbound queue runner)?
fn relay_probe(env: &Env<'_>) -> Result<bool> {
    let before = env.sink.messages();
    let to = format!("probe@{RELAY_DOMAIN}");
    let l = env.load(env.engine.port(), 1, 1, 1024, &to);
    let o = client::run(&l, 1)?;
    if o.accepted != 1 {
        eprintln!("relay probe refused: {:?}", o.first_error);
        return Ok(false);
    }
    let ok = wait_until(Duration::from_secs(15), || env.sink.messages() > before);
    eprintln!(
        "relay probe: xshell-transport {} relay to the sink",
        if ok { "does" } else { "does not (yet)" }
    );
    Ok(ok)
}

fn smtp(env: &Env<'_>) -> Result<Vec<Scenario>> {
    let p = env.plan;
    let calibrated = || env.targets().into_iter().chain([env.smtp_sink()]);
    Ok(vec![
        env.scenario(
            "Plaintext, smtp-source, connections reused",
            format!(
                "{} × {} B over {} sessions (`smtp-source -d`), Maildir delivery",
                p.messages, p.size, p.sessions
            ),
            calibrated(),
            |t| {
                let (to, dest) = env.to_local(t);
                (env.source(p.messages, true, to), dest)
            },
        )?,
        env.scenario(
            "Plaintext, xshell-bench client, connections reused",
            format!(
                "{} × {} B over {} sessions, Maildir delivery; latency MAIL → 250 after DATA",
                p.messages, p.size, p.sessions
            ),
            calibrated(),
            |t| {
                let (to, dest) = env.to_local(t);
                let l = env.load(t.port, p.sessions, p.messages, p.size, &to);
                (Driver::Client(l), dest)
            },
        )?,
        env.scenario(
            "Plaintext, one message per connection (smtp-source)",
            format!(
                "{} × {} B, {} sessions, a new connection per message",
                p.per_connection, p.size, p.sessions
            ),
            calibrated(),
            |t| {
                let (to, dest) = env.to_local(t);
                (env.source(p.per_connection, false, to), dest)
            },
        )?,
    ])
}

fn tls(env: &Env<'_>) -> Result<Vec<Scenario>> {
    let p = env.plan;
    let calibrated = || env.targets().into_iter().chain([env.rustls_sink()]);
    Ok(vec![
        env.scenario(
            "STARTTLS + client certificate (Domain Security), connections reused",
            format!(
                "{} × {} B over {} sessions from partner.example (one mutual-TLS handshake per session), Maildir delivery",
                p.messages, p.size, p.sessions
            ),
            calibrated(),
            |t| {
                let (to, dest) = env.to_local(t);
                let l = env.tls_load(t.port, p.sessions, p.messages, &to);
                (Driver::Client(l), dest)
            },
        )?,
        env.scenario(
            "STARTTLS + client certificate, one message per connection",
            format!(
                "{} × {} B, {} sessions, a full mutual-TLS handshake per message (no resumption), Maildir delivery",
                p.per_connection, p.size, p.sessions
            ),
            calibrated(),
            |t| {
                let (to, dest) = env.to_local(t);
                let mut l = env.tls_load(t.port, p.sessions, p.per_connection, &to);
                l.per_connection = true;
                (Driver::Client(l), dest)
            },
        )?,
        env.scenario(
            "STARTTLS + client certificate, one message per connection, sessions resumed",
            format!(
                "{} × {} B, {} sessions, a new connection per message resuming the TLS session (client session cache; Postfix with its session cache and tickets), Maildir delivery",
                p.per_connection, p.size, p.sessions
            ),
            calibrated(),
            |t| {
                let (to, dest) = env.to_local(t);
                let mut l = env.tls_load(t.port, p.sessions, p.per_connection, &to);
                l.tls = Some(env.tls_resumed.clone());
                l.per_connection = true;
                (Driver::Client(l), dest)
            },
        )?,
    ])
}

fn relay(env: &Env<'_>, available: bool) -> Result<Scenario> {
    let p = env.plan;
    let title = "Relay to the next hop (smtp-sink), end to end";
    let load = format!(
        "{} × {} B over {} sessions (`smtp-source -d`) to relay.example, relayed to smtp-sink",
        p.messages, p.size, p.sessions
    );
    eprintln!("{title}: {load}");
    let mut rows = Vec::new();
    let mut unavailable = None;
    for t in env.targets() {
        if t.name == "xshell" && !available {
            unavailable = Some(
                "xshell-transport: not available — this build accepts and queues relay mail but has no outbound queue runner (branch `runner`); the probe message never reached the sink".to_string(),
            );
            eprintln!("  xshell: not available (no relay in this build)");
            continue;
        }
        let d = env.source(p.messages, true, format!("r@{RELAY_DOMAIN}"));
        rows.push(env.measure(&t, d, env.sink_dest())?);
    }
    // The same engine with its configuration on etcd: the hot path reads
    // the compiled configuration, never the store, so this should match
    // the file store's row.
    if let (true, Some(e)) = (available, env.etcd_engine) {
        let t = Target {
            name: ETCD_ROW.to_string(),
            port: e.port(),
            root_pid: e.pids().first().copied().unwrap_or(0),
            server: Some(e),
        };
        // one probe first, not measured (connection set-up, page cache)
        let before = env.sink.messages();
        let l = env.load(t.port, 1, 1, 1024, &format!("probe@{RELAY_DOMAIN}"));
        let o = client::run(&l, 1)?;
        if o.accepted == 1 && wait_until(Duration::from_secs(15), || env.sink.messages() > before) {
            let before = env.etcd_port.map(etcd_requests);
            let d = env.source(p.messages, true, format!("r@{RELAY_DOMAIN}"));
            let mut row = env.measure(&t, d, env.sink_dest())?;
            if let (Some(Some(a)), Some(Some(b))) = (before, env.etcd_port.map(etcd_requests)) {
                let n = b.saturating_sub(a);
                eprintln!("    etcd requests during the run: {n}");
                if !row.note.is_empty() {
                    row.note.push_str("; ");
                }
                row.note.push_str(&format!(
                    "{n} etcd requests during the run (registration heartbeats; none per message)"
                ));
            }
            rows.push(row);
        } else {
            eprintln!(
                "  {ETCD_ROW}: the probe did not reach the sink: {:?}",
                o.first_error
            );
        }
    }
    Ok(Scenario {
        title: title.into(),
        load,
        rows,
        unavailable,
    })
}

/// The relay row of the engine whose configuration is on etcd.
pub const ETCD_ROW: &str = "xshell, configuration on etcd";

/// A one-member etcd on loopback and an engine on it, configured for the
/// relay scenario as the lab's file store is (the same accepted domains,
/// send connector to the sink and limits; no certificate: the relay load
/// is plaintext). None when etcd is not installed.
fn etcd_relay_engine(
    bins: &Bins,
    work: &std::path::Path,
    sink_port: u16,
) -> Result<Option<(crate::follow::Proc, Engine, u16)>> {
    let Some(bin) = crate::follow::etcd_bin() else {
        eprintln!("relay: etcd is not installed (apt-get install etcd-server): no etcd row");
        return Ok(None);
    };
    let dir = work.join("relay-etcd");
    std::fs::create_dir_all(&dir)?;
    let (etcd, client_port) = crate::follow::start_etcd(&bin, &dir, "relay")?;
    let store = std::path::PathBuf::from(format!("etcd://127.0.0.1:{client_port}/relay"));
    crate::follow::wait_for_store(bins, &store)?;
    let port = free_port()?;
    let x = |args: &[&str]| crate::lab::xshell(bins, &store, args).map(drop);
    crate::lab::provision_routing(bins, &store, sink_port)?;
    x(&["set-transportconfig", "--max-receive-size", "64MB"])?;
    x(&[
        "new-receiveconnector",
        "Inbound",
        "--usage",
        "internet",
        "--bindings",
        &format!("127.0.0.1:{port}"),
        "--fqdn",
        crate::lab::ORG_FQDN,
        "--max-inbound-connection-per-source",
        "1000",
        "--max-message-size",
        "64MB",
    ])?;
    let engine = Engine::start_with_state(
        bins,
        &store,
        Some(&dir.join("state")),
        port,
        dir.join("engine.log"),
    )?;
    Ok(Some((etcd, engine, client_port)))
}

/// Requests etcd has handled (its /metrics: grpc_server_handled_total,
/// every method), if it answers.
fn etcd_requests(port: u16) -> Option<u64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let total = text
        .lines()
        .filter(|l| l.starts_with("grpc_server_handled_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>();
    Some(total as u64)
}

/// The name of the row measured with the protocol logs off.
pub const LOGGING_NONE: &str = "xshell, ProtocolLoggingLevel None";

/// Octets under `dir`, recursively.
fn folder_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => folder_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The cost of protocol logging: the same load against xshell with the
/// receive connector (and the send connector to the sink) at
/// ProtocolLoggingLevel None, then Verbose; Postfix (no protocol log)
/// alongside. The report adds the Verbose / None ratio.
fn protolog(env: &Env<'_>) -> Result<Vec<Scenario>> {
    let p = env.plan;
    let set = |level: &str| -> Result<()> {
        env.lab.xshell(&[
            "-c",
            &format!(
                "Set-ReceiveConnector Inbound -ProtocolLoggingLevel {level}; Set-SendConnector ToSink -ProtocolLoggingLevel {level}"
            ),
        ])?;
        // The engine polls the store every 250 ms; new sessions take it.
        std::thread::sleep(Duration::from_millis(1500));
        Ok(())
    };
    let logs = env.lab.store.join("log").join("ProtocolLog");
    let one = |title: &str,
               load: String,
               drive: &dyn Fn(&Target<'_>) -> (Driver, Destination)|
     -> Result<Scenario> {
        eprintln!("{title}: {load}");
        let [x, pf] = env.targets();
        set("None")?;
        let (d, dest) = drive(&x);
        let mut none = env.measure(&x, d, dest)?;
        none.target = LOGGING_NONE.into();
        set("Verbose")?;
        let before = folder_size(&logs);
        let (d, dest) = drive(&x);
        let mut verbose = env.measure(&x, d, dest)?;
        let written = folder_size(&logs).saturating_sub(before);
        set("None")?;
        let note = format!(
            "ProtocolLoggingLevel Verbose: {:.1} MB of protocol log written",
            written as f64 / 1e6
        );
        verbose.note = if verbose.note.is_empty() {
            note
        } else {
            format!("{note}; {}", verbose.note)
        };
        let (d, dest) = drive(&pf);
        let postfix = env.measure(&pf, d, dest)?;
        Ok(Scenario {
            title: title.into(),
            load,
            rows: vec![verbose, postfix, none],
            unavailable: None,
        })
    };
    let tls = one(
        "Protocol logging cost: STARTTLS + client certificate, connections reused",
        format!(
            "{} × {} B over {} sessions from partner.example, Maildir delivery; xshell with the receive connector at ProtocolLoggingLevel Verbose (row `xshell`) and None",
            p.messages, p.size, p.sessions
        ),
        &|t| {
            let (to, dest) = env.to_local(t);
            let l = env.tls_load(t.port, p.sessions, p.messages, &to);
            (Driver::Client(l), dest)
        },
    )?;
    let relay = one(
        "Protocol logging cost: relay to the next hop (smtp-sink)",
        format!(
            "{} × {} B over {} sessions (`smtp-source -d`) to relay.example, relayed to smtp-sink; xshell with the receive and send connectors at Verbose (row `xshell`) and None",
            p.messages, p.size, p.sessions
        ),
        &|_| {
            (
                env.source(p.messages, true, format!("r@{RELAY_DOMAIN}")),
                env.sink_dest(),
            )
        },
    )?;
    Ok(vec![tls, relay])
}

fn handshakes(env: &Env<'_>) -> Result<Vec<Scenario>> {
    let p = env.plan;
    [(false, "Mutual-TLS handshakes only"), (true, "Mutual-TLS handshakes only, sessions resumed")]
        .into_iter()
        .map(|(resume, title)| {
            env.scenario(
                title,
                format!(
                    "{} sessions of EHLO, STARTTLS, handshake with a client certificate{}, EHLO, QUIT; {} in parallel",
                    p.handshakes,
                    if resume { " (resumed from the client's session cache after the first)" } else { " (full)" },
                    p.sessions
                ),
                env.targets().into_iter().chain([env.rustls_sink()]),
                |t| {
                    let mut l = env.tls_load(t.port, p.sessions, p.handshakes, "nobody@orga.example");
                    if resume {
                        l.tls = Some(env.tls_resumed.clone());
                    }
                    l.handshake_only = true;
                    (Driver::Client(l), Destination::None)
                },
            )
        })
        .collect()
}

fn sweep(env: &Env<'_>) -> Result<Vec<SweepCell>> {
    let p = env.plan;
    let mut out = Vec::new();
    eprintln!("sweep (plaintext, xshell-bench client, connections reused)");
    for &size in &p.sweep_sizes {
        for &sessions in &p.sweep_sessions {
            let messages = (p.sweep_bytes / size).clamp(1, p.sweep_cap);
            eprintln!("  {sessions} sessions × {size} B: {messages} messages");
            let mut rows = Vec::new();
            for t in env.targets() {
                let (to, dest) = env.to_local(&t);
                let l = env.load(t.port, sessions, messages, size, &to);
                rows.push(env.measure_drain(&t, Driver::Client(l), dest, p.sweep_drain)?);
            }
            let postfix = rows.pop().context("no Postfix row")?;
            let xshell = rows.pop().context("no xshell row")?;
            out.push(SweepCell {
                sessions,
                size,
                messages,
                xshell,
                postfix,
            });
        }
    }
    Ok(out)
}
