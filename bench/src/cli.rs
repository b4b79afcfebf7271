//! CLI figures: the median wall time of `xshell get-sendconnector` and
//! `set-sendconnector` on a store holding 1,000 send connectors (provisioned
//! in one `xshell apply`), and of an RSA-2048 `xshell request-cert` against
//! `openssl req -newkey rsa:2048`.

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
            }
        })
        .collect())
}

/// The figures, in order: apply (once); then, interleaved round by round,
/// get-sendconnector, get-transportconfig, the process-start floor (`true`,
/// `xshell --version`) and set; then, interleaved, request-cert and
/// openssl req.
pub fn figures(bins: &Bins, work: &Path, connectors: usize, runs: usize) -> Result<Vec<CliFigure>> {
    let store = work.join("cli-store");
    let mut yaml = String::from("SchemaVersion: 1\nSendConnectors:\n");
    for i in 0..connectors {
        let _ = writeln!(
            yaml,
            "- Name: Connector{i:04}\n  AddressSpaces: 'c{i:04}.example'\n  Usage: Internet"
        );
    }
    let file = work.join("connectors.yaml");
    std::fs::write(&file, yaml)?;
    let file_arg = file.display().to_string();
    let mut out = interleaved(
        1,
        vec![(
            format!("`xshell apply` creating {connectors} send connectors (one run)"),
            Box::new(|_| xshell(bins, &store, &["apply", &file_arg]).map(drop)),
        )],
    )?;
    let mid = format!("Connector{:04}", connectors / 2);
    out.extend(interleaved(
        runs,
        vec![
            (
                format!("`xshell get-sendconnector` ({connectors} connectors, table)"),
                Box::new(|_| xshell(bins, &store, &["get-sendconnector"]).map(drop)),
            ),
            (
                format!(
                    "`xshell get-transportconfig` ({connectors} connectors in the store, list)"
                ),
                Box::new(|_| xshell(bins, &store, &["get-transportconfig"]).map(drop)),
            ),
            // The floor under every figure: starting a process at all, and
            // starting xshell without reading a store.
            (
                "`/bin/true` (starting any process)".to_string(),
                Box::new(|_| run(&mut Command::new("true")).map(drop)),
            ),
            (
                "`xshell --version` (starting xshell, no store)".to_string(),
                Box::new(|_| xshell(bins, &store, &["--version"]).map(drop)),
            ),
            (
                format!("`xshell set-sendconnector {mid} --comment ...` ({connectors} connectors)"),
                Box::new(|i| {
                    xshell(
                        bins,
                        &store,
                        &["set-sendconnector", &mid, "--comment", &format!("run {i}")],
                    )
                    .map(drop)
                }),
            ),
        ],
    )?);
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
    Ok(out)
}
