//! The receiving side of the engine: listeners, connections, policy,
//! stamping and hot reload.
//!
//! - [`Engine::run`]: loads the store, compiles it ([`RuntimeConfig`]),
//!   opens the queue, the tracking log and the local delivery worker,
//!   listens on every enabled receive connector's Bindings, and polls the
//!   store revision. A new revision is compiled and swapped in atomically
//!   ([`ArcSwap`]); listeners for added bindings start and those for
//!   removed bindings stop; sessions keep the configuration they were
//!   accepted with. A store that cannot be read (corrupt, too new) keeps
//!   the last good configuration, and the reason is logged.
//! - [`conn`]: one connection: connector selection, per-source connection
//!   limit, timeouts, the sans-IO [`xshell_smtp::Session`] driven over TCP
//!   and rustls, policy at MAIL/RCPT ([`policy`]), stamping ([`stamp`])
//!   and queueing before `250`.
//! - The queue runner ([`crate::runner`]) delivers what is not local.
//! - Shutdown: listeners close at once; sessions in progress get a grace
//!   period to finish, then are told `421 4.3.2` and closed; the delivery
//!   worker finishes what it was given. Every message that got `250` is in
//!   the queue already.

pub mod conn;
pub mod policy;
pub mod stamp;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use xshell_core::store::{Store, StoreError};
use xshell_core::types::Limit;

use crate::config::RuntimeConfig;
use crate::delivery::{DeliveryNotifier, DeliveryWorker};
use crate::metrics::Metrics;
use crate::metrics::http::{MetricsServer, ScrapeContext};
use crate::queue::{GroupCommitter, Queue, QueueError};
use crate::runner::{self, Runner, RunnerOptions};
use crate::tracking::{TrackingError, TrackingLog};

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot read the store: {0}")]
    Store(#[from] StoreError),
    #[error(
        "cannot read the store: {0}; and no cached configuration exists in this server's state folder ({1}) to start from"
    )]
    NoCache(StoreError, PathBuf),
    #[error("the store {0} has no local folder for the queue, mailboxes and log")]
    NoStateDir(String),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Tracking(#[from] TrackingError),
    #[error("cannot start the local delivery worker: {0}")]
    Worker(#[source] std::io::Error),
    #[error("cannot create the mailbox root {path}: {source}")]
    Mailboxes {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Control(#[from] crate::control::ControlError),
    #[error("internal task failed: {0}")]
    Join(String),
    #[error("--server: {0}")]
    Server(String),
    /// `--server` names a server the organization does not know.
    #[error(
        "--server {server}: the organization has no transport server {server} (it knows {known}); \
         create its objects first (Set-TransportService {server} -Fqdn ..., New-ReceiveConnector -Server {server} ...), \
         or start it with --new-server to register it as a new server"
    )]
    UnknownServer { server: String, known: String },
    /// Another engine holds the state folder.
    #[error(
        "state folder {path} is in use by the transport server {holder} (process {pid}); \
         server {server} cannot share it (one queue, one control socket per server): give each server its own --state-dir"
    )]
    StateFolderTaken {
        path: PathBuf,
        holder: String,
        pid: String,
        server: String,
    },
    /// Another engine runs as this server on this state folder.
    #[error(
        "transport server {server} already runs on state folder {path} (process {pid}); stop it first, or give this engine another --server and --state-dir"
    )]
    AlreadyRunning {
        path: PathBuf,
        server: String,
        pid: String,
    },
    #[error("cannot {action} the state folder lock {path}: {source}")]
    StateLock {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The store's configuration breaks a rule the cmdlets enforce (written
    /// behind xshell's back) and no cached last good configuration exists.
    #[error(
        "the configuration in the store (revision {revision}) breaks a rule: {why}; no cached last good configuration to start from: correct it (or `xshell apply` a good one)"
    )]
    Invalid { revision: u64, why: String },
}

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// The store folder (with `etcd`: this server's local state folder).
    pub store_dir: PathBuf,
    /// The configuration is on etcd (`--store etcd://...`), not in
    /// `store_dir`.
    pub etcd: Option<Box<xshell_core::store::EtcdSettings>>,
    /// How long sessions in progress may take to finish at shutdown.
    pub grace: Duration,
    /// How often the store revision is checked.
    pub reload_poll: Duration,
    /// How often the delivery worker rescans the whole queue.
    pub rescan: Duration,
    // --- certificate lifecycle (issue 18 part 3) ---
    /// How often the configuration is compiled again although the store
    /// did not change (certificates expire, or become valid, with time) and
    /// the certificate findings are logged: once a day.
    pub certificate_check: Duration,
    /// The transport server this engine is (`--server`): it binds that
    /// server's receive connectors, uses its certificates, TransportService
    /// settings and the send connectors it is a source server of. None:
    /// the organization's default server (TransportService's Name), as
    /// before servers had objects of their own.
    pub server: Option<String>,
    /// Its local state folder (queue, mailboxes, logs, control socket);
    /// None: the store's local folder. Two servers on one host need one
    /// each.
    pub state_dir: Option<PathBuf>,
    /// How often the server's registration record is renewed.
    pub heartbeat: Duration,
    /// `--new-server`: `server` may be a server the organization does not
    /// know yet (no settings, connectors, certificates or registration of
    /// its own); it joins by registering. Without it such a name is refused
    /// (most often a typo, which would listen on nothing).
    pub new_server: bool,
}

impl EngineOptions {
    pub fn new(store_dir: impl Into<PathBuf>) -> Self {
        EngineOptions {
            store_dir: store_dir.into(),
            etcd: None,
            grace: Duration::from_secs(10),
            reload_poll: Duration::from_millis(250),
            rescan: Duration::from_secs(30),
            // --- certificate lifecycle (issue 18 part 3) ---
            certificate_check: Duration::from_secs(24 * 3600),
            server: None,
            state_dir: None,
            heartbeat: Duration::from_secs(xshell_core::servers::HEARTBEAT_SECS),
            new_server: false,
        }
    }
}

/// Counts open connections by a key: the client address
/// (MaxInboundConnectionPerSource) or the connector (MaxInboundConnection).
#[derive(Debug)]
pub struct Counter<K>(Mutex<HashMap<K, u32>>);

impl<K> Default for Counter<K> {
    fn default() -> Self {
        Counter(Mutex::new(HashMap::new()))
    }
}

/// One counted connection; the count drops with it.
#[derive(Debug)]
pub struct CountGuard<K: Eq + Hash + Clone> {
    table: Arc<Counter<K>>,
    key: K,
}

impl<K: Eq + Hash + Clone> Counter<K> {
    /// Counts a connection for `key` unless `limit` are open already.
    pub fn try_acquire(self: &Arc<Self>, key: K, limit: Limit) -> Option<CountGuard<K>> {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = t.entry(key.clone()).or_insert(0);
        if !limit.allows(u64::from(*n) + 1) {
            return None;
        }
        *n += 1;
        Some(CountGuard {
            table: Arc::clone(self),
            key,
        })
    }
}

impl<K: Eq + Hash + Clone> Drop for CountGuard<K> {
    fn drop(&mut self) {
        let mut t = self.table.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = t.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                t.remove(&self.key);
            }
        }
    }
}

/// Messages submitted per (connector, client address) in the current
/// minute, for MessageRateLimit: a fixed one-minute window per key.
#[derive(Debug, Default)]
pub struct MessageRate(Mutex<HashMap<(String, IpAddr), (Instant, u32)>>);

impl MessageRate {
    /// Counts one message from `ip` on `connector`; false when `limit`
    /// messages were already counted in this minute.
    pub fn admit(&self, connector: &str, ip: IpAddr, limit: Limit, now: Instant) -> bool {
        if limit == Limit::Unlimited {
            return true;
        }
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // Forget windows that ended, so the table stays small.
        if t.len() > 10_000 {
            t.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(60));
        }
        let entry = t.entry((connector.to_string(), ip)).or_insert((now, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(60) {
            *entry = (now, 0);
        }
        if !limit.allows(u64::from(entry.1) + 1) {
            return false;
        }
        entry.1 += 1;
        true
    }
}

/// Counts sessions in progress.
#[derive(Debug, Default)]
pub struct Active(AtomicUsize);

/// One session in progress.
#[derive(Debug)]
pub struct ActiveGuard(Arc<Active>);

impl Active {
    pub fn enter(self: &Arc<Self>) -> ActiveGuard {
        self.0.fetch_add(1, Ordering::SeqCst);
        ActiveGuard(Arc::clone(self))
    }
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What every connection shares.
#[derive(Debug)]
pub struct Shared {
    pub config: Arc<ArcSwap<RuntimeConfig>>,
    pub committer: Arc<GroupCommitter>,
    pub tracking: Arc<TrackingLog>,
    pub delivery: DeliveryNotifier,
    pub per_source: Arc<Counter<IpAddr>>,
    pub per_connector: Arc<Counter<String>>,
    pub message_rate: Arc<MessageRate>,
    pub active: Arc<Active>,
    /// Becomes true when the grace period is over: sessions close.
    pub hard_stop: watch::Receiver<bool>,
    // metrics
    pub metrics: Arc<Metrics>,
    // protocol logs
    /// Where sessions on connectors with ProtocolLoggingLevel Verbose are
    /// written.
    pub protocol_log: Arc<crate::protolog::ProtocolLog>,
}

struct Listener {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// The receiving engine.
#[derive(Debug)]
pub struct Engine;

impl Engine {
    /// Runs until `shutdown` completes, then drains and returns.
    pub async fn run(
        opts: EngineOptions,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), EngineError> {
        let store = Arc::new(match &opts.etcd {
            Some(settings) => Store::new(Box::new(xshell_core::store::EtcdBackend::new(
                (**settings).clone(),
            )?)),
            None => Store::open_dir(opts.store_dir.clone()),
        });
        let state_dir = match &opts.state_dir {
            Some(d) => d.clone(),
            None => store
                .backend()
                .state_dir()
                .ok_or_else(|| EngineError::NoStateDir(store.describe()))?,
        };
        if let Some(name) = &opts.server {
            xshell_core::model::check_server_name(name)
                .map_err(|e| EngineError::Server(e.to_string()))?;
        }
        let first = {
            let store = Arc::clone(&store);
            let state_dir = state_dir.clone();
            let server = opts.server.clone();
            let new_server = opts.new_server;
            tokio::task::spawn_blocking(move || -> Result<(RuntimeConfig, Vec<String>), EngineError> {
                let snap = match store.snapshot() {
                    // A configuration that breaks a rule is not applied at
                    // start either: the cached last good one (etcd) is, and
                    // the log says why; with none, the engine does not start.
                    Ok(snap) => match rule_violation(&snap) {
                        None => {
                            store.backend().keep_last_good(&snap);
                            snap
                        }
                        Some(why) => match store.backend().last_good() {
                            Ok(Some((cached, path))) if rule_violation(&cached).is_none() => {
                                tracing::warn!(
                                    error = %why,
                                    store_revision = snap.revision,
                                    cache = %path,
                                    revision = cached.revision,
                                    "the store's configuration fails validation: running from the last good configuration cached in the state folder"
                                );
                                cached
                            }
                            _ => {
                                return Err(EngineError::Invalid {
                                    revision: snap.revision,
                                    why,
                                });
                            }
                        },
                    },
                    // A store that is not here (etcd down): start from the
                    // last configuration this server read, and say so.
                    Err(e @ StoreError::Unreachable { .. }) => match store.backend().last_good() {
                        Ok(Some((snap, path))) => {
                            tracing::warn!(
                                error = %e,
                                cache = %path,
                                revision = snap.revision,
                                "the store is unreachable: running from the last good configuration cached in the state folder until it answers"
                            );
                            snap
                        }
                        Ok(None) => return Err(EngineError::NoCache(e, state_dir.clone())),
                        Err(cache) => {
                            tracing::error!(error = %cache, "the cached configuration cannot be read");
                            return Err(EngineError::NoCache(e, state_dir.clone()));
                        }
                    },
                    Err(e) => return Err(e.into()),
                };
                let named = server.is_some();
                let server = server.unwrap_or_else(|| {
                    let (name, why) = unnamed_server(&snap, &host_name());
                    tracing::info!(server = %name, "no --server: this engine is {why}");
                    name
                });
                if named {
                    check_known_server(&snap, &store, &server, new_server)?;
                }
                let rt = RuntimeConfig::compile_for(
                    &snap,
                    &server,
                    store.backend(),
                    &state_dir,
                    OffsetDateTime::now_utc(),
                );
                Ok((rt, servers_with_connectors(&snap)))
            })
            .await
            .map_err(|e| EngineError::Join(e.to_string()))??
        };
        let (first, with_connectors) = first;
        // The state folder belongs to one server while it runs: a second
        // engine on it would share its queue and control socket.
        let _state_lock = claim_state_folder(&state_dir, &first.server_name)?;
        tracing::info!(
            server = %first.server_name,
            fqdn = %first.server_fqdn,
            state = %state_dir.display(),
            "transport server"
        );
        log_compiled(&first);
        if first.listen_addrs().is_empty() {
            tracing::warn!(
                server = %first.server_name,
                servers_with_receive_connectors = %if with_connectors.is_empty() {
                    "none".to_string()
                } else {
                    with_connectors.join(", ")
                },
                "this server has no enabled receive connector: it listens for SMTP on no address (it still delivers its queue); \
                 create one with New-ReceiveConnector -Server NAME, or start the engine with the --server that owns them"
            );
        }
        warn_if_running_elsewhere(&store, &first.server_name).await;
        let paths = first.paths.clone();
        tracing::info!(
            queue = %paths.queue.display(),
            mailboxes = %paths.mailboxes.display(),
            tracking_log = ?paths.tracking_log,
            "state folders"
        );
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&paths.mailboxes)
                .map_err(|source| EngineError::Mailboxes {
                    path: paths.mailboxes.clone(),
                    source,
                })?;
        }
        let queue = Arc::new(Queue::open(&paths.queue)?);
        let committer = Arc::new(GroupCommitter::new(Arc::clone(&queue), Duration::ZERO)?);
        let tracking = Arc::new(TrackingLog::open(paths.tracking_log.as_deref())?);
        let config = Arc::new(ArcSwap::from_pointee(first));
        // metrics
        let metrics = Arc::new(Metrics::default());
        let protocol_logs = crate::protolog::ProtocolLogs::default();
        let (to_runner, runner_inbox) = runner::channel();
        let worker = DeliveryWorker::spawn_with_metrics(
            Arc::clone(&queue),
            Arc::clone(&config),
            paths.mailboxes.clone(),
            Arc::clone(&tracking),
            opts.rescan,
            Some(to_runner.clone()),
            Arc::clone(&metrics),
        )
        .map_err(EngineError::Worker)?;
        let (runner_stop, runner_stop_rx) = watch::channel(false);
        let lookups = Arc::new(crate::outbound::lookups::PolicyLookups::new(Some(
            state_dir.join("mta-sts"),
        )));
        // TLS reporting (RFC 8460): sessions recorded by the runner.
        let tlsrpt_log = Arc::new(crate::tlsrpt::log::SessionLog::new(
            xshell_core::tlsrpt::dir(&state_dir),
        ));
        let tlsrpt_stop = runner_stop_rx.clone();
        let runner = Runner::spawn(
            runner_inbox,
            to_runner,
            Arc::clone(&queue),
            Arc::clone(&config),
            Arc::clone(&tracking),
            Some(worker.notifier()),
            RunnerOptions {
                grace: opts.grace,
                metrics: Arc::clone(&metrics),
                send_protocol_log: Arc::clone(&protocol_logs.send),
                lookups: Some(Arc::clone(&lookups)),
                tlsrpt: Some(Arc::clone(&tlsrpt_log)),
                ..RunnerOptions::default()
            },
            runner_stop_rx,
        );
        let (hard_tx, hard_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            config: Arc::clone(&config),
            committer,
            tracking,
            delivery: worker.notifier(),
            per_source: Arc::new(Counter::default()),
            per_connector: Arc::new(Counter::default()),
            message_rate: Arc::new(MessageRate::default()),
            active: Arc::new(Active::default()),
            hard_stop: hard_rx,
            metrics: Arc::clone(&metrics),
            protocol_log: Arc::clone(&protocol_logs.receive),
        });

        let registration = Registrar {
            store: Arc::clone(&store),
            started: xshell_core::servers::unix_now(),
            state_dir: state_dir.clone(),
            interval: opts.heartbeat,
        };
        let reporter = Arc::new(crate::tlsrpt::send::Reporter {
            log: tlsrpt_log,
            store: Arc::clone(&store),
            config: Arc::clone(&config),
            committer: Arc::clone(&shared.committer),
            delivery: worker.notifier(),
        });
        let control = crate::control::ControlServer::start(
            xshell_core::control::socket_path(&state_dir),
            Arc::new(crate::control::ControlContext {
                store: Arc::clone(&store),
                queue: Arc::clone(&queue),
                committer: Arc::clone(&shared.committer),
                config: Arc::clone(&config),
                tracking: Arc::clone(&shared.tracking),
                delivery: worker.notifier(),
                actions: Default::default(),
                lookups,
                tlsrpt: Arc::clone(&reporter),
            }),
        )
        .await?;
        let reporter_task = tokio::spawn(reporter.run(tlsrpt_stop));

        let mut listeners: HashMap<SocketAddr, Listener> = HashMap::new();
        let mut bind_errors: HashMap<SocketAddr, String> = HashMap::new();
        reconcile(&shared, &mut listeners, &mut bind_errors).await;
        // metrics
        let mut metrics_server = MetricsServer::new(Arc::new(ScrapeContext {
            metrics: Arc::clone(&metrics),
            store: Arc::clone(&store),
            queue: Arc::clone(&queue),
            server: config.load().server_name.clone(),
        }));
        metrics_server
            .reconcile(&config.load().metrics_bindings)
            .await;

        registration
            .publish(&config.load(), &listeners, false)
            .await;
        let mut heartbeat = tokio::time::interval_at(
            tokio::time::Instant::now() + opts.heartbeat,
            opts.heartbeat.max(Duration::from_millis(100)),
        );
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_store_error: Option<String> = None;
        // A backend that can say when the configuration changed (etcd's
        // watch) is followed by it; the file store is polled. With a watch,
        // the store is still read every STORE_SAFETY_CHECK in case a
        // notification was lost.
        let changed = Arc::new(tokio::sync::Notify::new());
        let watched = {
            let changed = Arc::clone(&changed);
            store
                .backend()
                .subscribe(Box::new(move || changed.notify_one()))
        };
        if watched {
            tracing::info!(store = %store.describe(), "following the store's changes (watch)");
        }
        let mut last_store_read = Instant::now();
        let mut tick = tokio::time::interval(opts.reload_poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // --- certificate lifecycle (issue 18 part 3) ---
        let check_every = opts.certificate_check.max(Duration::from_secs(1));
        let mut daily =
            tokio::time::interval_at(tokio::time::Instant::now() + check_every, check_every);
        daily.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            let mut force = false;
            let mut check_store = !watched;
            tokio::select! {
                () = &mut shutdown => break,
                _ = daily.tick() => {
                    // Compile again at today's date: an expired certificate
                    // is no longer preferred, a new one may have become valid.
                    force = true;
                    check_store = true;
                }
                () = changed.notified() => check_store = true,
                _ = tick.tick() => {}
                _ = heartbeat.tick() => {
                    registration.publish(&config.load(), &listeners, false).await;
                    continue;
                }
            }
            let since = last_store_read.elapsed();
            if watched
                && (since >= STORE_SAFETY_CHECK
                    || (last_store_error.is_some() && since >= STORE_RETRY))
            {
                check_store = true;
            }
            if check_store {
                last_store_read = Instant::now();
            }
            {
                // protocol logs: the last lines of idle sessions
                protocol_logs.receive.flush_if_due();
                protocol_logs.send.flush_if_due();
                let current = config.load().revision;
                let result = if check_store {
                    reload(&store, &state_dir, opts.server.as_deref(), current, force).await
                } else {
                    Ok(None)
                };
                match result {
                    Ok(Some(rt)) => {
                        last_store_error = None;
                        let started = Instant::now();
                        if force && rt.revision == current {
                            log_certificates(&rt);
                        } else {
                            log_compiled(&rt);
                        }
                        if rt.paths != paths {
                            tracing::warn!(
                                "queue, mailbox or tracking log paths changed in the store: they take effect at the next start"
                            );
                        }
                        config.store(Arc::new(rt));
                        reconcile(&shared, &mut listeners, &mut bind_errors).await;
                        metrics_server
                            .reconcile(&config.load().metrics_bindings)
                            .await;
                        registration
                            .publish(&config.load(), &listeners, false)
                            .await;
                        tracing::info!(
                            revision = config.load().revision,
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "configuration reloaded"
                        );
                    }
                    Ok(None) => {
                        if check_store && last_store_error.take().is_some() {
                            tracing::info!("the store is readable again");
                        }
                        // retry bindings that failed
                        if !bind_errors.is_empty() {
                            reconcile(&shared, &mut listeners, &mut bind_errors).await;
                        }
                        if metrics_server.needs_retry() {
                            metrics_server
                                .reconcile(&config.load().metrics_bindings)
                                .await;
                        }
                    }
                    Err(ReloadError::Store(e)) => {
                        let text = e.to_string();
                        if last_store_error.as_deref() != Some(text.as_str()) {
                            tracing::error!(error = %text, revision = current, "the store cannot be read; keeping the last good configuration");
                            last_store_error = Some(text);
                        }
                    }
                    Err(ReloadError::Older { revision }) => {
                        let text = format!("older revision {revision}");
                        if last_store_error.as_deref() != Some(text.as_str()) {
                            tracing::warn!(
                                store_revision = revision,
                                revision = current,
                                "the store answered with an older revision than the one running; not applied until the store's revision passes the running one"
                            );
                            last_store_error = Some(text);
                        }
                    }
                    Err(ReloadError::Invalid { revision, why }) => {
                        let text = format!("revision {revision}: {why}");
                        if last_store_error.as_deref() != Some(text.as_str()) {
                            tracing::error!(
                                error = %why,
                                invalid_revision = revision,
                                revision = current,
                                "the store's configuration fails validation; keeping the last good configuration"
                            );
                            last_store_error = Some(text);
                        }
                    }
                }
            }
        }

        tracing::info!(
            sessions = shared.active.count(),
            "shutting down: no new connections"
        );
        // The runner lets its deliveries finish meanwhile.
        let _ = runner_stop.send(true);
        metrics_server.stop().await;
        for (_, l) in listeners.drain() {
            let _ = l.stop.send(true);
            let _ = l.task.await;
        }
        let deadline = Instant::now() + opts.grace;
        while shared.active.count() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if shared.active.count() > 0 {
            tracing::warn!(
                sessions = shared.active.count(),
                "grace period over: closing sessions in progress"
            );
            let _ = hard_tx.send(true);
            let deadline = Instant::now() + Duration::from_secs(5);
            while shared.active.count() > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        control.stop().await;
        registration.publish(&config.load(), &listeners, true).await;
        drop(shared);
        protocol_logs.receive.flush();
        let _ = runner.await;
        // A report being sent may finish within the grace period; one cut
        // short is not marked sent and goes at the next start.
        let reporter_abort = reporter_task.abort_handle();
        if tokio::time::timeout(opts.grace, reporter_task)
            .await
            .is_err()
        {
            reporter_abort.abort();
        }
        tokio::task::spawn_blocking(move || worker.stop())
            .await
            .map_err(|e| EngineError::Join(e.to_string()))?;
        protocol_logs.send.flush();
        tracing::info!("stopped");
        Ok(())
    }
}

/// With a watched store, how often it is read anyway.
const STORE_SAFETY_CHECK: Duration = Duration::from_secs(30);
/// With a watched store that cannot be read, how often it is tried again
/// (the watch also says when it is back).
const STORE_RETRY: Duration = Duration::from_secs(2);

fn log_compiled(rt: &RuntimeConfig) {
    for note in &rt.notes {
        tracing::warn!(revision = rt.revision, "{note}");
    }
    // metrics
    if !rt.metrics_bindings.is_empty() {
        tracing::info!(revision = rt.revision, bindings = ?rt.metrics_bindings, "metrics endpoint (MetricsBindings)");
    }
    log_certificates(rt);
    for c in &rt.connectors {
        tracing::info!(
            revision = rt.revision,
            connector = %c.name,
            bindings = ?c.bindings,
            starttls = c.tls.is_some(),
            certificate = ?c.certificate,
            require_tls = c.session.require_tls,
            domain_secure = c.domain_secure_enabled,
            client_certificates = c.requests_client_certificate,
            "receive connector"
        );
    }
}

/// The certificate findings of a compiled configuration (issue 18 part 3):
/// the chosen certificates (info), expiry (warning 12018, error 12016) and
/// Domain Security client usage (warning).
fn log_certificates(rt: &RuntimeConfig) {
    use crate::config::CheckLevel;
    for c in &rt.certificate_checks {
        let event_id = c.event_id.unwrap_or(0);
        match c.level {
            CheckLevel::Info => tracing::info!(
                revision = rt.revision,
                thumbprint = %c.thumbprint,
                subject = %c.subject,
                not_after = %c.not_after,
                days_left = c.days_left,
                "{}",
                c.message
            ),
            CheckLevel::Warning => tracing::warn!(
                revision = rt.revision,
                event_id,
                thumbprint = %c.thumbprint,
                subject = %c.subject,
                not_after = %c.not_after,
                days_left = c.days_left,
                "{}",
                c.message
            ),
            CheckLevel::Error => tracing::error!(
                revision = rt.revision,
                event_id,
                thumbprint = %c.thumbprint,
                subject = %c.subject,
                not_after = %c.not_after,
                days_left = c.days_left,
                "{}",
                c.message
            ),
        }
    }
}

/// Why a reload kept the last good configuration.
#[derive(Debug)]
enum ReloadError {
    /// The store cannot be read (corrupt, too new, etcd unreachable).
    Store(StoreError),
    /// The store reads, but a rule the cmdlets enforce is broken (a
    /// document written behind xshell's back, by etcdctl or an editor).
    Invalid { revision: u64, why: String },
    /// The store answered with a revision older than the one running (a
    /// stale etcd member, a restored backup): never go back.
    Older { revision: u64 },
}

/// The first rule `cfg` breaks, if any: the rules each cmdlet checks
/// before it writes, applied again to what the store holds.
fn rule_violation(cfg: &xshell_core::model::OrgConfig) -> Option<String> {
    let mut checks: Vec<(String, Result<(), xshell_core::model::RuleViolation>)> = vec![
        ("TransportConfig".into(), cfg.transport_config.validate()),
        ("TransportService".into(), cfg.transport_service.validate()),
    ];
    checks.extend(
        cfg.accepted_domains
            .iter()
            .map(|d| (format!("AcceptedDomain {}", d.name), d.validate())),
    );
    checks.extend(
        cfg.send_connectors
            .iter()
            .map(|c| (format!("SendConnector {}", c.name), c.validate())),
    );
    checks.extend(
        cfg.receive_connectors
            .iter()
            .map(|c| (format!("ReceiveConnector {}", c.name), c.validate())),
    );
    checks
        .into_iter()
        .find_map(|(what, r)| r.err().map(|v| format!("{what}: {}", v.message)))
}

/// A newer compiled configuration, if the store changed (or always, when
/// `force`: the daily certificate check). A configuration that breaks a
/// rule is not compiled: the caller keeps the last good one.
async fn reload(
    store: &Arc<Store>,
    state_dir: &std::path::Path,
    server: Option<&str>,
    current: u64,
    force: bool,
) -> Result<Option<RuntimeConfig>, ReloadError> {
    let store = Arc::clone(store);
    let state_dir = state_dir.to_path_buf();
    let server = server.map(str::to_string);
    let joined =
        tokio::task::spawn_blocking(move || -> Result<Option<RuntimeConfig>, ReloadError> {
            if !force && store.backend().revision().map_err(ReloadError::Store)? == current {
                return Ok(None);
            }
            let snap = store.snapshot().map_err(ReloadError::Store)?;
            if !force && snap.revision == current {
                return Ok(None);
            }
            if snap.revision < current {
                return Err(ReloadError::Older {
                    revision: snap.revision,
                });
            }
            if let Some(why) = rule_violation(&snap) {
                return Err(ReloadError::Invalid {
                    revision: snap.revision,
                    why,
                });
            }
            store.backend().keep_last_good(&snap);
            let server = server.unwrap_or_else(|| unnamed_server(&snap, &host_name()).0);
            Ok(Some(RuntimeConfig::compile_for(
                &snap,
                &server,
                store.backend(),
                &state_dir,
                OffsetDateTime::now_utc(),
            )))
        })
        .await;
    match joined {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "configuration reload task failed");
            Ok(None)
        }
    }
}

/// Publishes this server's registration record (a runtime record: no
/// configuration revision) at start, on each reload, at every heartbeat
/// and, marked stopped, at a clean shutdown.
struct Registrar {
    store: Arc<Store>,
    started: u64,
    state_dir: PathBuf,
    interval: Duration,
}

impl Registrar {
    async fn publish(
        &self,
        rt: &RuntimeConfig,
        listeners: &HashMap<SocketAddr, Listener>,
        stopped: bool,
    ) {
        let mut listening: Vec<String> = listeners.keys().map(ToString::to_string).collect();
        listening.sort();
        let record = xshell_core::servers::Registration {
            name: rt.server_name.clone(),
            fqdn: rt.server_fqdn.clone(),
            host_name: host_name(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            process_id: std::process::id(),
            started: self.started,
            heartbeat: xshell_core::servers::unix_now(),
            heartbeat_interval: self.interval.as_secs().max(1),
            state_folder: self.state_dir.display().to_string(),
            control_endpoint: xshell_core::control::socket_path(&self.state_dir)
                .display()
                .to_string(),
            queue_folder: rt.paths.queue.display().to_string(),
            listening,
            revision: rt.revision,
            stopped,
            credentials: Vec::new(),
        };
        let store = Arc::clone(&self.store);
        let name = record.name.clone();
        let published = tokio::task::spawn_blocking(move || {
            // The smart-host passwords this server holds, checked against
            // the configuration it last applied (etcd: the local cache, no
            // etcd read; the file store: its local document).
            let mut record = record;
            let applied = match store.backend().last_good() {
                Ok(Some((cfg, _))) => Some(cfg),
                _ => store.snapshot().ok(),
            };
            if let Some(cfg) = applied {
                record.credentials = xshell_core::servers::held_credentials(&cfg, store.backend());
            }
            record.publish(store.backend())
        });
        match published.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(server = %name, error = %e, "cannot write the server's registration record")
            }
            Err(e) => tracing::warn!(error = %e, "registration task failed"),
        }
    }
}

/// Logs an error when another engine looks alive under the same server
/// name (a fresh heartbeat from another host, or another live process
/// here): both would bind the server's connectors and split its queue. Not
/// refused: a crashed engine's record stays fresh for a minute, and a
/// restarted container has a new host name.
async fn warn_if_running_elsewhere(store: &Arc<Store>, server: &str) {
    let store = Arc::clone(store);
    let name = server.to_string();
    let found = tokio::task::spawn_blocking(move || {
        xshell_core::servers::registration(store.backend(), &name)
    })
    .await;
    let Ok(Ok(Some(r))) = found else {
        return;
    };
    let now = xshell_core::servers::unix_now();
    let here = host_name();
    let other_process = r.host_name == here
        && r.process_id != std::process::id()
        && std::path::Path::new(&format!("/proc/{}", r.process_id)).exists();
    if r.is_running(now) && (r.host_name != here || other_process) {
        tracing::error!(
            server = %r.name,
            host = %r.host_name,
            pid = r.process_id,
            last_heartbeat_secs_ago = now.saturating_sub(r.heartbeat),
            "another xshell-transport seems to run as this server: two engines for one server bind the same connectors and split its queue; give each its own --server"
        );
    }
}

/// Refuses a `--server` name the organization does not know: not in its
/// configuration (settings, receive connectors, certificates) and never
/// registered. A store whose records cannot be read (etcd down, the
/// engine starting from its cache) does not refuse a name on that ground.
fn check_known_server(
    snap: &xshell_core::model::OrgConfig,
    store: &Store,
    server: &str,
    new_server: bool,
) -> Result<(), EngineError> {
    let names = snap.server_names();
    if names
        .iter()
        .any(|n| xshell_core::model::same_server(n, server))
    {
        return Ok(());
    }
    match xshell_core::servers::registration(store.backend(), server) {
        Ok(Some(_)) => return Ok(()),
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(server, error = %e, "cannot read the server registrations to check that this server is known");
            return Ok(());
        }
    }
    if new_server {
        tracing::info!(
            server,
            "--new-server: registering a server the organization did not know"
        );
        return Ok(());
    }
    let mut known = names;
    if let Ok((regs, _)) = xshell_core::servers::registrations(store.backend()) {
        for r in regs {
            if !known
                .iter()
                .any(|n| xshell_core::model::same_server(n, &r.name))
            {
                known.push(r.name);
            }
        }
    }
    Err(EngineError::UnknownServer {
        server: server.to_string(),
        known: known.join(", "),
    })
}

/// The servers that own at least one receive connector (a connector that
/// names no server is the default server's).
fn servers_with_connectors(snap: &xshell_core::model::OrgConfig) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in &snap.receive_connectors {
        let name = snap.canonical_server(c.server.as_deref().unwrap_or(snap.default_server()));
        if !out
            .iter()
            .any(|o| xshell_core::model::same_server(o, &name))
        {
            out.push(name);
        }
    }
    out
}

pub use xshell_core::servers::STATE_LOCK_FILE;

/// Takes the state folder for `server` while the engine runs: an exclusive
/// lock on `<state>/server.lock` (released when the returned file is
/// dropped or the process dies), which names the server and the process.
/// A folder another engine holds is refused, naming both servers.
fn claim_state_folder(
    state_dir: &std::path::Path,
    server: &str,
) -> Result<std::fs::File, EngineError> {
    use std::io::{Read, Seek, Write};
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let path = state_dir.join(STATE_LOCK_FILE);
    let err = |action: &'static str| {
        let path = path.clone();
        move |source| EngineError::StateLock {
            action,
            path,
            source,
        }
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_dir)
        .map_err(err("create the folder of"))?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(err("open"))?;
    let mut held = String::new();
    let _ = file.read_to_string(&mut held);
    let field = |key: &str| {
        held.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or("?")
            .trim()
            .to_string()
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let (holder, pid) = (field("server="), field("pid="));
            return Err(if xshell_core::model::same_server(&holder, server) {
                EngineError::AlreadyRunning {
                    path: state_dir.to_path_buf(),
                    server: server.to_string(),
                    pid,
                }
            } else {
                EngineError::StateFolderTaken {
                    path: state_dir.to_path_buf(),
                    holder,
                    pid,
                    server: server.to_string(),
                }
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(err("lock")(e)),
    }
    let last = field("server=");
    if last != "?" && !xshell_core::model::same_server(&last, server) {
        tracing::warn!(
            state = %state_dir.display(),
            previous_server = %last,
            server,
            "this state folder was last used by another server: its queue and mailboxes are now this server's"
        );
    }
    file.set_len(0).map_err(err("truncate"))?;
    file.rewind().map_err(err("rewind"))?;
    write!(file, "server={server}\npid={}\n", std::process::id()).map_err(err("write"))?;
    Ok(file)
}

/// The server an engine started without `--server` is, and why: the
/// server named after this host when the organization knows one, else the
/// organization's default server (a single-server store, and every store
/// from before servers, keeps working unchanged).
fn unnamed_server(snap: &xshell_core::model::OrgConfig, host: &str) -> (String, &'static str) {
    match snap.server_named_after(host) {
        Some(n) => (n, "the server named after this host"),
        None => (
            snap.default_server().to_string(),
            "the organization's default server (no server is named after this host)",
        ),
    }
}

fn host_name() -> String {
    xshell_core::servers::host_name()
}

/// Starts listeners for new bindings and stops those no longer wanted.
async fn reconcile(
    shared: &Arc<Shared>,
    listeners: &mut HashMap<SocketAddr, Listener>,
    bind_errors: &mut HashMap<SocketAddr, String>,
) {
    let wanted: HashSet<SocketAddr> = shared.config.load().listen_addrs().into_iter().collect();
    let gone: Vec<SocketAddr> = listeners
        .keys()
        .filter(|a| !wanted.contains(a))
        .copied()
        .collect();
    for addr in gone {
        if let Some(l) = listeners.remove(&addr) {
            let _ = l.stop.send(true);
            let _ = l.task.await;
            tracing::info!(%addr, "stopped listening");
        }
    }
    bind_errors.retain(|a, _| wanted.contains(a));
    for addr in wanted {
        if listeners.contains_key(&addr) {
            continue;
        }
        match TcpListener::bind(addr).await {
            Ok(listener) => {
                bind_errors.remove(&addr);
                let (stop, stop_rx) = watch::channel(false);
                let task = tokio::spawn(accept_loop(listener, Arc::clone(shared), stop_rx));
                listeners.insert(addr, Listener { stop, task });
                tracing::info!(%addr, "listening");
            }
            Err(e) => {
                let text = e.to_string();
                if bind_errors.get(&addr) != Some(&text) {
                    tracing::error!(%addr, error = %text, "cannot listen (retrying)");
                    bind_errors.insert(addr, text);
                }
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((sock, peer)) => {
                    let rt = shared.config.load_full();
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move {
                        conn::handle(sock, peer, rt, shared).await;
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}
