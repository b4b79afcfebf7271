//! `xshell-transport`: the transport engine (receiving side).
//!
//! ```text
//! xshell-transport [--store DIR] [--server NAME] [--state-dir DIR]
//!                  [--log-format text|json] [--grace SECONDS]
//!                  [--certificate-check-interval SECONDS]
//! ```
//! - `--server NAME`: the transport server this engine is (else
//!   `$XSHELL_SERVER`, else the organization's default server, Get-TransportService's
//!   Name): it binds that server's receive connectors, uses its
//!   certificates and TransportService settings, and registers itself
//!   (Get-TransportService lists it with its last heartbeat).
//! - `--heartbeat-interval SECONDS`: how often the registration record
//!   is renewed (default 15 s).
//! - `--state-dir DIR`: the server's local folder for its queue, mailboxes,
//!   logs and control socket (default: the store folder). Two servers
//!   sharing a store folder on one host need one each.
//! - `--store DIR`: the store (else `$XSHELL_STORE`, else the same default
//!   folder as `xshell`).
//! - `--log-format`: logs go to stderr, as text (default) or one JSON
//!   object per line; the level comes from `RUST_LOG` (default `info`).
//! - `--grace`: at SIGTERM/SIGINT, how long sessions in progress may take
//!   to finish (default 10 s).
//! - `--certificate-check-interval`: how often the configuration is compiled
//!   again although the store did not change, logging the SMTP certificates'
//!   expiry findings (default 86400 s: once a day).
//!
//! Exit status 0 after a clean shutdown, 1 when the engine cannot start.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Arg, ArgAction, Command};
use tracing_subscriber::EnvFilter;
use xshell_transport::server::{Engine, EngineOptions};

fn command() -> Command {
    Command::new("xshell-transport")
        .about("The xshell transport engine: receives SMTP under the store's receive connectors, enforces Domain Security, queues and delivers locally")
        .arg(
            Arg::new("store")
                .long("store")
                .value_name("DIR")
                .help("The store folder, a path or file:///path [env: XSHELL_STORE; default: $XDG_DATA_HOME/xshell or ~/.local/share/xshell]"),
        )
        .arg(
            Arg::new("server")
                .long("server")
                .value_name("NAME")
                .help("The transport server this engine is: its receive connectors, certificates and settings [env: XSHELL_SERVER; default: the organization's default server, Get-TransportService's Name]"),
        )
        .arg(
            Arg::new("state-dir")
                .long("state-dir")
                .value_name("DIR")
                .help("The server's local folder for its queue, mailboxes, logs and control socket [default: the store folder]"),
        )
        .arg(
            Arg::new("heartbeat-interval")
                .long("heartbeat-interval")
                .value_name("SECONDS")
                .value_parser(clap::value_parser!(u64).range(1..=3600))
                .default_value("15")
                .help("How often the server renews its registration record (Get-TransportService LastHeartbeat); no configuration revision"),
        )
        .arg(
            Arg::new("log-format")
                .long("log-format")
                .value_name("FORMAT")
                .value_parser(["text", "json"])
                .default_value("text")
                .help("Log format on stderr (level from RUST_LOG, default info)"),
        )
        .arg(
            Arg::new("grace")
                .long("grace")
                .value_name("SECONDS")
                .value_parser(clap::value_parser!(u64))
                .default_value("10")
                .help("At SIGTERM, how long sessions in progress may take to finish"),
        )
        .arg(
            Arg::new("certificate-check-interval")
                .long("certificate-check-interval")
                .value_name("SECONDS")
                .value_parser(clap::value_parser!(u64).range(1..))
                .default_value("86400")
                .help("How often the configuration is compiled again and the SMTP certificates' expiry is logged although the store did not change (default once a day)"),
        )
        .arg(
            Arg::new("version")
                .long("version")
                .action(ArgAction::Version)
                .help("Print the version"),
        )
        .version(env!("CARGO_PKG_VERSION"))
        .disable_version_flag(true)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        }
        _ => {
            tracing::error!("cannot install signal handlers; stop with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}

fn main() -> anyhow::Result<()> {
    let m = command().get_matches();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if m.get_one::<String>("log-format").map(String::as_str) == Some("json") {
        builder.json().init();
    } else {
        builder.with_ansi(false).init();
    }
    let store_dir = m
        .get_one::<String>("store")
        .map(PathBuf::from)
        .unwrap_or_else(xshell_core::store::default_dir);
    let store_dir = xshell_core::store::folder_of(&store_dir).map_err(anyhow::Error::msg)?;
    let mut opts = EngineOptions::new(store_dir.clone());
    opts.server = m
        .get_one::<String>("server")
        .cloned()
        .or_else(|| std::env::var("XSHELL_SERVER").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    if let Some(name) = &opts.server {
        xshell_core::model::check_server_name(name)
            .map_err(|e| anyhow::anyhow!("--server {name}: {e}"))?;
    }
    opts.state_dir = m.get_one::<String>("state-dir").map(PathBuf::from);
    opts.heartbeat = Duration::from_secs(
        m.get_one::<u64>("heartbeat-interval")
            .copied()
            .unwrap_or(xshell_core::servers::HEARTBEAT_SECS),
    );
    opts.grace = Duration::from_secs(m.get_one::<u64>("grace").copied().unwrap_or(10));
    opts.certificate_check = Duration::from_secs(
        m.get_one::<u64>("certificate-check-interval")
            .copied()
            .unwrap_or(86_400),
    );
    tracing::info!(store = %store_dir.display(), version = env!("CARGO_PKG_VERSION"), "xshell-transport starting");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime
        .block_on(Engine::run(opts, shutdown_signal()))
        .with_context(|| format!("xshell-transport (store {})", store_dir.display()))?;
    Ok(())
}
