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

fn timed(
    runs: usize,
    mut f: impl FnMut(usize) -> Result<()>,
) -> Result<(Duration, Duration, Duration)> {
    let mut t = Vec::with_capacity(runs);
    for i in 0..runs {
        let s = Instant::now();
        f(i)?;
        t.push(s.elapsed());
    }
    t.sort();
    let median = t[t.len() / 2];
    Ok((median, t[0], t[t.len() - 1]))
}

fn figure(what: &str, runs: usize, f: impl FnMut(usize) -> Result<()>) -> Result<CliFigure> {
    let (median, min, max) = timed(runs.max(1), f)?;
    Ok(CliFigure {
        what: what.to_string(),
        runs: runs.max(1),
        median,
        min,
        max,
    })
}

/// The figures, in order: apply (once), get-sendconnector,
/// get-transportconfig, the process-start floor (`true`, `xshell --version`),
/// set, request-cert, openssl req.
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
    let mut out = vec![figure(
        &format!("`xshell apply` creating {connectors} send connectors (one run)"),
        1,
        |_| xshell(bins, &store, &["apply", &file_arg]).map(drop),
    )?];
    out.push(figure(
        &format!("`xshell get-sendconnector` ({connectors} connectors, table)"),
        runs,
        |_| xshell(bins, &store, &["get-sendconnector"]).map(drop),
    )?);
    out.push(figure(
        &format!("`xshell get-transportconfig` ({connectors} connectors in the store, list)"),
        runs,
        |_| xshell(bins, &store, &["get-transportconfig"]).map(drop),
    )?);
    // The floor under every figure above: starting a process at all, and
    // starting xshell without reading a store.
    out.push(figure("`/bin/true` (starting any process)", runs, |_| {
        run(&mut Command::new("true")).map(drop)
    })?);
    out.push(figure(
        "`xshell --version` (starting xshell, no store)",
        runs,
        |_| xshell(bins, &store, &["--version"]).map(drop),
    )?);
    let mid = format!("Connector{:04}", connectors / 2);
    out.push(figure(
        &format!("`xshell set-sendconnector {mid} --comment ...` ({connectors} connectors)"),
        runs,
        |i| {
            xshell(
                bins,
                &store,
                &["set-sendconnector", &mid, "--comment", &format!("run {i}")],
            )
            .map(drop)
        },
    )?);
    let req_store = work.join("req-store");
    out.push(figure(
        "`xshell request-cert` RSA 2048 (key, CSR, store write)",
        runs,
        |i| {
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
        },
    )?);
    out.push(figure(
        "`openssl req -new -newkey rsa:2048 -nodes` (key, CSR)",
        runs,
        |i| {
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
        },
    )?);
    Ok(out)
}
