//! Issue 19: how long a change takes to be live on three engines. Three
//! `xshell-transport --server EX01/EX02/EX03`, each with its own state
//! folder and its own receive connector on its own loopback port, follow
//! one store; `xshell set-transportconfig --max-receive-size N` (an
//! organization-wide setting every engine advertises as `SIZE N` in its
//! EHLO reply) is run `changes` times, and after each, one thread per
//! engine opens new sessions (banner, EHLO, QUIT) back to back until the
//! reply shows the new size. The figure is the time from the command
//! returning to that reply, per engine and for the slowest of the three.
//! Changes are spaced by a pseudo-random 0-299 ms pause.
//! Run on a one-member etcd on loopback (the engines follow it by watch)
//! and on the file store (the engines poll it every 250 ms, the default).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::lab::{Bins, xshell};
use crate::servers::{free_port, wait_until};

const SERVERS: [&str; 3] = ["EX01", "EX02", "EX03"];

/// One store's figures.
pub struct FollowFigure {
    pub store: String,
    pub changes: usize,
    /// Per engine (EX01, EX02, EX03): median and p99.
    pub per_engine: Vec<(String, Duration, Duration)>,
    /// The slowest engine of each change: median, p99 and max.
    pub all: (Duration, Duration, Duration),
}

pub struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn etcd_bin() -> Option<PathBuf> {
    ["/usr/bin/etcd", "/usr/local/bin/etcd"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// A one-member etcd named `name` on loopback, its data and log in
/// `work`; killed on drop. Returns its client port.
pub fn start_etcd(bin: &Path, work: &Path, name: &str) -> Result<(Proc, u16)> {
    let (client, peer) = (free_port()?, free_port()?);
    let client_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let log = std::fs::File::create(work.join(format!("{name}-etcd.log")))?;
    let child = Command::new(bin)
        .args(["--name", name, "--data-dir"])
        .arg(work.join(format!("{name}-etcd-data")))
        .args(["--listen-client-urls", &client_url])
        .args(["--advertise-client-urls", &client_url])
        .args(["--listen-peer-urls", &peer_url])
        .args(["--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", &format!("{name}={peer_url}")])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting etcd")?;
    Ok((Proc(child), client))
}

/// The `SIZE` an engine advertises to a new session, if it answers.
fn advertised_size(port: u16) -> Option<u64> {
    let s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut w = s.try_clone().ok()?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    // the banner (one or more lines)
    loop {
        line.clear();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line.as_bytes().get(3) != Some(&b'-') {
            break;
        }
    }
    w.write_all(b"EHLO probe.example\r\n").ok()?;
    let mut size = None;
    loop {
        line.clear();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if let Some(v) = line.get(4..).and_then(|t| t.trim().strip_prefix("SIZE ")) {
            size = v.trim().parse().ok();
        }
        if line.as_bytes().get(3) != Some(&b'-') {
            break;
        }
    }
    let _ = w.write_all(b"QUIT\r\n");
    size
}

fn median_p99(mut t: Vec<Duration>) -> (Duration, Duration, Duration) {
    t.sort();
    let p99 = ((t.len() * 99).div_ceil(100)).clamp(1, t.len()) - 1;
    (t[t.len() / 2], t[p99], t[t.len() - 1])
}

/// `store` answers (bounded: 20 s).
pub fn wait_for_store(bins: &Bins, store: &Path) -> Result<()> {
    if !wait_until(Duration::from_secs(20), || {
        xshell(bins, store, &["get-transportconfig"]).is_ok()
    }) {
        bail!("{} did not answer within 20 s", store.display());
    }
    Ok(())
}

/// Three engines on `store` (state folders under `dir`), `changes`
/// changes, each waited for on every engine (at most 10 s).
fn measure(
    bins: &Bins,
    store: &Path,
    dir: &Path,
    label: &str,
    changes: usize,
) -> Result<FollowFigure> {
    std::fs::create_dir_all(dir)?;
    xshell(
        bins,
        store,
        &[
            "new-accepteddomain",
            "OrgA",
            "--domain-name",
            "orga.example",
        ],
    )?;
    let mut engines = Vec::new();
    let mut ports = Vec::new();
    for name in SERVERS {
        let port = free_port()?;
        let state = dir.join(name);
        let fqdn = format!("{}.orga.example", name.to_ascii_lowercase());
        xshell(
            bins,
            store,
            &["set-transportservice", name, "--fqdn", &fqdn],
        )?;
        xshell(
            bins,
            store,
            &[
                "new-receiveconnector",
                "Inbound",
                "--server",
                name,
                "--usage",
                "internet",
                "--bindings",
                &format!("127.0.0.1:{port}"),
            ],
        )?;
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(&bins.engine)
            .arg("--store")
            .arg(store)
            .arg("--state-dir")
            .arg(&state)
            .args(["--server", name])
            .env_remove("XSHELL_STORE")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting xshell-transport")?;
        engines.push(Proc(child));
        let needle = format!("listening addr=127.0.0.1:{port}");
        if !wait_until(Duration::from_secs(30), || {
            std::fs::read_to_string(&log).is_ok_and(|t| t.contains(&needle))
        }) {
            bail!(
                "{name} did not listen on {port}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        ports.push(port);
    }
    let mut per: Vec<Vec<Duration>> = vec![Vec::new(); SERVERS.len()];
    let mut slowest = Vec::new();
    // A pseudo-random pause (0-299 ms) before each change, so that changes
    // do not fall at the same phase of the file store's 250 ms polling
    // (waiting for the slowest engine would otherwise lock the phase).
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..changes {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(seed % 300));
        // 20 MB plus i KB: below the connectors' own limit (36 MB).
        let size = 20 * 1024 * 1024 + 1024 * (i as u64 + 1);
        xshell(
            bins,
            store,
            &[
                "set-transportconfig",
                "--max-receive-size",
                &format!("{size}B"),
            ],
        )?;
        let returned = Instant::now();
        let took: Vec<Option<Duration>> = std::thread::scope(|s| {
            let hs: Vec<_> = ports
                .iter()
                .map(|&port| {
                    s.spawn(move || {
                        while returned.elapsed() < Duration::from_secs(10) {
                            if advertised_size(port) == Some(size) {
                                return Some(returned.elapsed());
                            }
                        }
                        None
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().ok().flatten()).collect()
        });
        let mut max = Duration::ZERO;
        for (k, t) in took.into_iter().enumerate() {
            let t = t.with_context(|| {
                format!(
                    "{label}: change {i} (SIZE {size}) not live on {} within 10 s",
                    SERVERS[k]
                )
            })?;
            per[k].push(t);
            max = max.max(t);
        }
        slowest.push(max);
    }
    drop(engines);
    Ok(FollowFigure {
        store: label.to_string(),
        changes,
        per_engine: SERVERS
            .iter()
            .zip(per)
            .map(|(n, t)| {
                let (m, p, _) = median_p99(t);
                (n.to_string(), m, p)
            })
            .collect(),
        all: median_p99(slowest),
    })
}

/// The figures on the file store and, when etcd is installed, on a
/// one-member etcd.
pub fn figures(bins: &Bins, work: &Path, changes: usize) -> Result<Vec<FollowFigure>> {
    let mut out = Vec::new();
    match etcd_bin() {
        Some(bin) => {
            let (_etcd, port) = start_etcd(&bin, work, "follow")?;
            let store = PathBuf::from(format!("etcd://127.0.0.1:{port}/follow"));
            wait_for_store(bins, &store)?;
            eprintln!("  etcd, one member (watch) ...");
            out.push(measure(
                bins,
                &store,
                &work.join("follow-etcd"),
                "etcd, one member on loopback (watch)",
                changes,
            )?);
        }
        None => eprintln!(
            "follow: etcd is not installed (apt-get install etcd-server): file store only"
        ),
    }
    eprintln!("  file store (polling) ...");
    let store = work.join("follow-file-store");
    out.push(measure(
        bins,
        &store,
        &work.join("follow-file"),
        "file store (polling every 250 ms)",
        changes,
    )?);
    Ok(out)
}
