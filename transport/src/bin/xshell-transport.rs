//! `xshell-transport`: the transport engine (receiving side).
//!
//! ```text
//! xshell-transport [--store DIR] [--server NAME] [--state-dir DIR]
//!                  [--log-format text|json] [--grace SECONDS]
//!                  [--certificate-check-interval SECONDS]
//! ```
//! - `--server NAME`: the transport server this engine is (else
//!   `$XSHELL_SERVER`, else the server named after this host when the
//!   organization has one, else its default server, Get-TransportService's
//!   Name): it binds that server's receive connectors, uses its
//!   certificates and TransportService settings, and registers itself
//!   (Get-TransportService lists it with its last heartbeat).
//! - `--new-server`: `--server` may name a server the organization does
//!   not know yet (no settings, connectors, certificates or registration);
//!   without it such a name is refused.
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
                .value_name("DIR|URL")
                .help("The store: a folder, file:///path, or etcd://HOST:PORT[,HOST:PORT...]/PREFIX [env: XSHELL_STORE; default: $XDG_DATA_HOME/xshell or ~/.local/share/xshell]"),
        )
        .arg(
            Arg::new("state-dir")
                .long("state-dir")
                .value_name("DIR")
                .help("This server's local folder: its queue, mailboxes, logs and control socket; on an etcd store also its private keys and cached configuration [env: XSHELL_STATE_DIR; default: the store folder, or $XDG_DATA_HOME/xshell/etcd/PREFIX for an etcd store]"),
        )
        .arg(
            Arg::new("etcd-cacert")
                .long("etcd-cacert")
                .value_name("PEM")
                .help("etcd store: the CA certificate of the etcd servers; connects with TLS [env: XSHELL_ETCD_CACERT]"),
        )
        .arg(
            Arg::new("etcd-cert")
                .long("etcd-cert")
                .value_name("PEM")
                .help("etcd store: client certificate for etcd's client-certificate authentication [env: XSHELL_ETCD_CERT]"),
        )
        .arg(
            Arg::new("etcd-key")
                .long("etcd-key")
                .value_name("PEM")
                .help("etcd store: the client certificate's private key [env: XSHELL_ETCD_KEY]; an etcd user and password come only from XSHELL_ETCD_USER and XSHELL_ETCD_PASSWORD_FILE (or XSHELL_ETCD_PASSWORD)"),
        )
        .arg(
            Arg::new("server")
                .long("server")
                .value_name("NAME")
                .help("The transport server this engine is: its receive connectors, certificates and settings [env: XSHELL_SERVER; default: the server named after this host when the organization has one, else the organization's default server]"),
        )
        .arg(
            Arg::new("new-server")
                .long("new-server")
                .action(ArgAction::SetTrue)
                .help("--server may name a server the organization does not know yet: it joins by registering (without this flag such a name is refused, as a typo would listen on nothing)"),
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

/// Installs the SIGTERM and SIGINT handlers at once (inside the runtime,
/// before the engine loads anything or binds a port) and returns what
/// completes at the first of them. A signal that comes while the engine is
/// still starting is kept and shuts it down gracefully as soon as it runs;
/// without the handlers it would kill the process, sessions and all.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        match handlers {
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
    let location = xshell_core::store::Location::parse(&store_dir).map_err(anyhow::Error::msg)?;
    let (store_dir, etcd) = match location {
        xshell_core::store::Location::Folder(dir) => {
            for flag in ["etcd-cacert", "etcd-cert", "etcd-key"] {
                if m.contains_id(flag) {
                    anyhow::bail!(
                        "--{flag} applies to an etcd store (--store etcd://HOST:PORT/PREFIX)"
                    );
                }
            }
            (dir, None)
        }
        xshell_core::store::Location::Etcd(mut settings) => {
            if let Some(p) = m.get_one::<String>("state-dir") {
                settings.state_dir = PathBuf::from(p);
            }
            for (flag, slot) in [
                ("etcd-cacert", &mut settings.cacert),
                ("etcd-cert", &mut settings.cert),
                ("etcd-key", &mut settings.key),
            ] {
                if let Some(p) = m.get_one::<String>(flag) {
                    *slot = Some(PathBuf::from(p));
                }
            }
            (settings.state_dir.clone(), Some(settings))
        }
    };
    let described = match &etcd {
        Some(s) => s.location(),
        None => store_dir.display().to_string(),
    };
    let mut opts = EngineOptions::new(store_dir.clone());
    opts.etcd = etcd;
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
    opts.new_server = m.get_flag("new-server");
    if opts.new_server && opts.server.is_none() {
        anyhow::bail!("--new-server needs --server NAME (or XSHELL_SERVER)");
    }
    if opts.etcd.is_none() {
        // A file store: the server's local folder may be apart from the
        // shared store folder (an etcd store has it in its settings).
        opts.state_dir = m
            .get_one::<String>("state-dir")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XSHELL_STATE_DIR")
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
            });
    }
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // From here on SIGTERM and SIGINT shut down gracefully.
    let shutdown = {
        let _inside = runtime.enter();
        shutdown_signal()
    };
    tracing::info!(store = %described, state = %store_dir.display(), version = env!("CARGO_PKG_VERSION"), "xshell-transport starting");
    runtime
        .block_on(Engine::run(opts, shutdown))
        .with_context(|| format!("xshell-transport (store {described})"))?;
    Ok(())
}
