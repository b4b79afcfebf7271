//! CLI figures: the median wall time of `xshell get-sendconnector` and
//! `set-sendconnector` on stores holding 1,000 and 50 send connectors (each
//! provisioned in one `xshell apply`), against their targets (1,000: at most
//! 10 ms; 50: at most 5 ms), and of an RSA-2048 `xshell request-cert`
//! against `openssl req -newkey rsa:2048`; and the same get and set on an
//! etcd store (a one-member etcd on loopback, issue 19) beside the file
//! store, when etcd is installed.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::lab::{Bins, run, xshell};

pub struct CliFigure {
    pub what: String,
    pub runs: usize,
    pub median: Duration,
    pub min: Duration,
    pub max: Duration,
    /// The median this figure must not exceed, if it has a target.
    pub target: Option<Duration>,
}

/// The target of a get or set on a store of `connectors` send connectors.
fn target_for(connectors: usize) -> Duration {
    if connectors <= 50 {
        Duration::from_millis(5)
    } else {
        Duration::from_millis(10)
    }
}

type Step<'a> = Box<dyn FnMut(usize) -> Result<()> + 'a>;

/// Runs every step once per round, for `runs` rounds, and gives each step's
/// median, min and max. Interleaved so that a burst of load on this shared
/// machine slows every figure of a round alike, instead of one figure's
/// whole series (the process-start floor is then comparable).
fn interleaved(runs: usize, mut steps: Vec<(String, Step<'_>)>) -> Result<Vec<CliFigure>> {
    let runs = runs.max(1);
    let mut times: Vec<Vec<Duration>> = steps.iter().map(|_| Vec::with_capacity(runs)).collect();
    for i in 0..runs {
        for ((_, f), t) in steps.iter_mut().zip(times.iter_mut()) {
            let s = Instant::now();
            f(i)?;
            t.push(s.elapsed());
        }
    }
    Ok(steps
        .into_iter()
        .zip(times)
        .map(|((what, _), mut t)| {
            t.sort();
            CliFigure {
                what,
                runs,
                median: t[t.len() / 2],
                min: t[0],
                max: t[t.len() - 1],
                target: None,
            }
        })
        .collect())
}

/// A store of `connectors` send connectors, made with one `xshell apply`.
fn provision(
    bins: &Bins,
    work: &Path,
    connectors: usize,
) -> Result<(std::path::PathBuf, CliFigure)> {
    let store = work.join(format!("cli-store-{connectors}"));
    let mut yaml = String::from("SchemaVersion: 1\nSendConnectors:\n");
    for i in 0..connectors {
        let _ = writeln!(
            yaml,
            "- Name: Connector{i:04}\n  AddressSpaces: 'c{i:04}.example'\n  Usage: Internet"
        );
    }
    let file = work.join(format!("connectors-{connectors}.yaml"));
    std::fs::write(&file, yaml)?;
    let file_arg = file.display().to_string();
    let mut once = interleaved(
        1,
        vec![(
            format!("`xshell apply` creating {connectors} send connectors (one run)"),
            Box::new(|_| xshell(bins, &store, &["apply", &file_arg]).map(drop)),
        )],
    )?;
    Ok((store, once.remove(0)))
}

/// The figures, in order: the applies (once each); then, interleaved round
/// by round, get-sendconnector and set-sendconnector on each store,
/// get-transportconfig on the largest, and the process-start floor (`true`,
/// `xshell --version`); then, interleaved, request-cert and openssl req.
pub fn figures(bins: &Bins, work: &Path, sizes: &[usize], runs: usize) -> Result<Vec<CliFigure>> {
    let mut out = Vec::new();
    let mut stores = Vec::new();
    for &n in sizes {
        let (store, applied) = provision(bins, work, n)?;
        out.push(applied);
        stores.push((n, store));
    }
    let mut steps: Vec<(String, Step<'_>)> = Vec::new();
    let mut targets: Vec<Option<Duration>> = Vec::new();
    for (n, store) in &stores {
        let n = *n;
        let mid = format!("Connector{:04}", n / 2);
        steps.push((
            format!("`xshell get-sendconnector` ({n} connectors, table)"),
            Box::new(move |_| xshell(bins, store, &["get-sendconnector"]).map(drop)),
        ));
        targets.push(Some(target_for(n)));
        steps.push((
            format!("`xshell set-sendconnector {mid} --comment ...` ({n} connectors)"),
            Box::new(move |i| {
                xshell(
                    bins,
                    store,
                    &["set-sendconnector", &mid, "--comment", &format!("run {i}")],
                )
                .map(drop)
            }),
        ));
        targets.push(Some(target_for(n)));
    }
    if let Some((n, store)) = stores.iter().max_by_key(|(n, _)| *n) {
        steps.push((
            format!("`xshell get-transportconfig` ({n} connectors in the store, list)"),
            Box::new(move |_| xshell(bins, store, &["get-transportconfig"]).map(drop)),
        ));
        targets.push(None);
    }
    // The floor under every figure: starting a process at all, and
    // starting xshell without reading a store.
    steps.push((
        "`/bin/true` (starting any process)".to_string(),
        Box::new(|_| run(&mut Command::new("true")).map(drop)),
    ));
    targets.push(None);
    let any_store = work.join("cli-floor");
    steps.push((
        "`xshell --version` (starting xshell, no store)".to_string(),
        Box::new(move |_| xshell(bins, &any_store, &["--version"]).map(drop)),
    ));
    targets.push(None);
    let mut measured = interleaved(runs, steps)?;
    for (f, t) in measured.iter_mut().zip(targets) {
        f.target = t;
    }
    out.extend(measured);
    let req_store = work.join("req-store");
    out.extend(interleaved(
        runs,
        vec![
            (
                "`xshell request-cert` RSA 2048 (key, CSR, store write)".to_string(),
                Box::new(|i| {
                    let d = format!("req{i}.bench.example");
                    let f = work.join(format!("req{i}.csr")).display().to_string();
                    xshell(
                        bins,
                        &req_store,
                        &[
                            "request-cert",
                            "--subject-name",
                            &format!("CN={d}"),
                            "--domain-name",
                            &d,
                            "--request-file",
                            &f,
                        ],
                    )
                    .map(drop)
                }),
            ),
            (
                "`openssl req -new -newkey rsa:2048 -nodes` (key, CSR)".to_string(),
                Box::new(|i| {
                    let d = format!("ossl{i}.bench.example");
                    run(Command::new("openssl")
                        .args(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout"])
                        .arg(work.join(format!("ossl{i}.key")))
                        .arg("-out")
                        .arg(work.join(format!("ossl{i}.csr")))
                        .args([
                            "-subj",
                            &format!("/CN={d}"),
                            "-addext",
                            &format!("subjectAltName=DNS:{d}"),
                        ]))
                    .map(drop)
                }),
            ),
        ],
    )?);
    out.extend(etcd_figures(bins, work, runs)?);
    Ok(out)
}

/// get-sendconnector and set-sendconnector on 50 connectors, on the file
/// store and on a one-member etcd on loopback, interleaved round by round.
/// Nothing (and a note on stderr) when etcd is not installed.
fn etcd_figures(bins: &Bins, work: &Path, runs: usize) -> Result<Vec<CliFigure>> {
    let Some(etcd) = crate::follow::etcd_bin() else {
        eprintln!("cli: etcd is not installed (apt-get install etcd-server): no etcd figures");
        return Ok(Vec::new());
    };
    let (_member, client) = crate::follow::start_etcd(&etcd, work, "cli")?;
    let store = std::path::PathBuf::from(format!("etcd://127.0.0.1:{client}/bench50"));
    // Wait (bounded) until it answers.
    let deadline = Instant::now() + Duration::from_secs(20);
    while xshell(bins, &store, &["get-transportconfig"]).is_err() {
        if Instant::now() > deadline {
            anyhow::bail!("etcd on 127.0.0.1:{client} did not answer within 20 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let file_store = work.join("cli-etcd-side-file");
    let mut yaml = String::from("SchemaVersion: 1\nSendConnectors:\n");
    for i in 0..50 {
        let _ = writeln!(
            yaml,
            "- Name: Connector{i:04}\n  AddressSpaces: 'c{i:04}.example'\n  Usage: Internet"
        );
    }
    let file = work.join("connectors-etcd-50.yaml");
    std::fs::write(&file, yaml)?;
    let file_arg = file.display().to_string();
    xshell(bins, &store, &["apply", &file_arg])?;
    xshell(bins, &file_store, &["apply", &file_arg])?;
    let mut steps: Vec<(String, Step<'_>)> = Vec::new();
    for (label, st) in [
        ("file store", &file_store),
        ("etcd, one member on loopback", &store),
    ] {
        steps.push((
            format!("`xshell get-sendconnector` (50 connectors, table; {label})"),
            Box::new(move |_| xshell(bins, st, &["get-sendconnector"]).map(drop)),
        ));
        steps.push((
            format!(
                "`xshell set-sendconnector Connector0025 --comment ...` (50 connectors; {label})"
            ),
            Box::new(move |i| {
                xshell(
                    bins,
                    st,
                    &[
                        "set-sendconnector",
                        "Connector0025",
                        "--comment",
                        &format!("run {i}"),
                    ],
                )
                .map(drop)
            }),
        ));
    }
    interleaved(runs, steps)
}
