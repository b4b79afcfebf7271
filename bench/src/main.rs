//! `xshell-bench`: xshell-transport against Postfix on this machine, in one
//! run (issue 8). See bench/README.md and docs/performance.md.
//!
//! ```text
//! bench/run [--quick] [--only smtp,tls,relay,handshake,protolog,sweep,cli,follow] [--out FILE] [--keep]
//! ```

mod cli;
mod client;
mod follow;
mod lab;
mod measure;
mod report;
mod scenarios;
mod servers;
mod tlssink;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Arg, ArgAction, Command};

fn command() -> Command {
    Command::new("xshell-bench")
        .about("Benchmarks xshell-transport against a private Postfix instance on this machine and writes docs/performance.md")
        .arg(Arg::new("quick").long("quick").action(ArgAction::SetTrue).help("Small counts (about 3 minutes)"))
        .arg(
            Arg::new("only")
                .long("only")
                .value_name("SECTIONS")
                .help("Comma-separated: smtp, tls, relay, handshake, protolog, sweep, cli, follow (default: all)"),
        )
        .arg(Arg::new("out").long("out").value_name("FILE").help("Where to write the report [default: docs/performance.md]"))
        .arg(Arg::new("no-write").long("no-write").action(ArgAction::SetTrue).help("Print the report only"))
        .arg(Arg::new("keep").long("keep").action(ArgAction::SetTrue).help("Keep the work folder (stores, queues, logs)"))
        .subcommand(
            Command::new("tls-sink")
                .hide(true)
                .arg(Arg::new("port").long("port").required(true).value_parser(clap::value_parser!(u16)))
                .arg(Arg::new("cert").long("cert").required(true))
                .arg(Arg::new("key").long("key").required(true))
                .arg(Arg::new("ca").long("ca").required(true)),
        )
}

fn main() -> ExitCode {
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<()> {
    let m = command().get_matches();
    if let Some(s) = m.subcommand_matches("tls-sink") {
        let get = |k: &str| {
            s.get_one::<String>(k)
                .map(PathBuf::from)
                .context(k.to_string())
        };
        let port = *s.get_one::<u16>("port").context("port")?;
        let config = tlssink::server_config(&get("cert")?, &get("key")?, &get("ca")?)?;
        return tlssink::serve(SocketAddr::from(([127, 0, 0, 1], port)), config);
    }
    let quick = m.get_flag("quick");
    let sections: Vec<String> = m
        .get_one::<String>("only")
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_else(|| {
            [
                "smtp",
                "tls",
                "relay",
                "handshake",
                "protolog",
                "sweep",
                "cli",
                "follow",
            ]
            .map(String::from)
            .to_vec()
        });
    let out = m
        .get_one::<String>("out")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/performance.md")
        });
    let command_line = std::env::var("XSHELL_BENCH_COMMAND")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| {
            let args: Vec<String> = std::env::args().skip(1).collect();
            format!("bench/run {}", args.join(" "))
                .trim_end()
                .to_string()
        });
    let plan = scenarios::Plan::new(quick, sections);
    let results = scenarios::run_all(&plan, m.get_flag("keep"))?;
    let text = report::render(&plan, &results, &command_line);
    println!("{text}");
    if !m.get_flag("no-write") {
        report::write(&out, &text)?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}
