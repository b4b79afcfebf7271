//! The etcd v3 backend: the configuration document under one key in an etcd
//! cluster, shared by every server of the organization.
//!
//! - The document is the same JSON as the file store's `config.json`, at
//!   `PREFIX/config`. A transaction reads it with its etcd `mod_revision`
//!   and commits with an etcd transaction that compares that revision and
//!   puts the new document only if nobody wrote in between; otherwise the
//!   commit fails with [`StoreError::Conflict`] and [`super::Store::update`]
//!   redoes the change on a fresh read. Nothing is ever half-written.
//! - Private keys never go to etcd: they stay in this server's local state
//!   folder (0600 files in a 0700 folder), as Exchange keeps a certificate's
//!   private key in the owning server's certificate store
//!   (docs/reliability.md).
//! - The engine keeps each configuration it applies in the state folder
//!   (`etcd-cache.json`, [`Backend::keep_last_good`]), so an engine started
//!   while etcd is unreachable runs from its last good configuration
//!   ([`Backend::last_good`]). Not every read: a document the engine
//!   refused must not become the one it starts from.
//! - Changes are followed with an etcd watch on the document's key
//!   ([`Backend::subscribe`]), not by polling.
//!
//! The [`Backend`] trait is synchronous and is called from plain threads
//! (the CLI) and from the engine's tokio runtime. The gRPC client therefore
//! runs on a runtime of its own (one worker thread); a call hands its future
//! to that runtime and waits for the answer on a channel, with a deadline, so
//! no call ever nests `block_on` inside another runtime.

use super::file::FileBackend;
use super::layout::config_text;
use super::{Backend, StoreError, Transaction};
use crate::model::OrgConfig;
use etcd_client::{Client, Compare, CompareOp, ConnectOptions, Txn, TxnOp};
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use zeroize::Zeroizing;

/// The file in the state folder holding the last configuration read from
/// etcd.
pub const CACHE_FILE: &str = "etcd-cache.json";

/// How to reach the etcd cluster: `etcd://HOST:PORT[,HOST:PORT...]/PREFIX`
/// plus TLS files and user credentials (never from the command line).
#[derive(Clone)]
pub struct EtcdSettings {
    /// `HOST:PORT` of each member.
    pub endpoints: Vec<String>,
    /// The key prefix of this organization (`/PREFIX`, no trailing `/`).
    pub prefix: String,
    /// CA certificate (PEM) that signed the etcd servers' certificates;
    /// with it (or a client certificate) the connection uses TLS.
    pub cacert: Option<PathBuf>,
    /// Client certificate and key (PEM) for etcd's client-certificate
    /// authentication (`--client-cert-auth`).
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// etcd user and password (etcd's `auth enable`).
    pub user: Option<String>,
    pub password: Option<Zeroizing<String>>,
    /// This server's local folder: private keys, the configuration cache,
    /// and the transport's queue, mailboxes and logs.
    pub state_dir: PathBuf,
    /// How long one request may take, connecting included, before the
    /// command fails ("a few seconds": a CLI command against an unreachable
    /// cluster fails fast).
    pub timeout: Duration,
}

impl std::fmt::Debug for EtcdSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdSettings")
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.prefix)
            .field("cacert", &self.cacert)
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("state_dir", &self.state_dir)
            .finish()
    }
}

/// The environment variables that configure the etcd connection.
pub const ENV_CACERT: &str = "XSHELL_ETCD_CACERT";
pub const ENV_CERT: &str = "XSHELL_ETCD_CERT";
pub const ENV_KEY: &str = "XSHELL_ETCD_KEY";
pub const ENV_USER: &str = "XSHELL_ETCD_USER";
pub const ENV_PASSWORD: &str = "XSHELL_ETCD_PASSWORD";
pub const ENV_PASSWORD_FILE: &str = "XSHELL_ETCD_PASSWORD_FILE";
pub const ENV_STATE_DIR: &str = "XSHELL_STATE_DIR";

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl EtcdSettings {
    /// Parses `etcd://HOST:PORT[,HOST:PORT...]/PREFIX` and takes the TLS
    /// files, the user and the password from the environment
    /// (`XSHELL_ETCD_CACERT`, `XSHELL_ETCD_CERT`, `XSHELL_ETCD_KEY`,
    /// `XSHELL_ETCD_USER`, `XSHELL_ETCD_PASSWORD` or
    /// `XSHELL_ETCD_PASSWORD_FILE`) and the state folder from
    /// `XSHELL_STATE_DIR` (default: a folder per prefix under the local
    /// data folder). The command-line flags override the file paths.
    pub fn from_location(text: &str) -> Result<EtcdSettings, String> {
        let rest = text
            .split_once("://")
            .filter(|(s, _)| s.eq_ignore_ascii_case("etcd"))
            .map(|(_, r)| r)
            .ok_or_else(|| format!("store location '{text}': not an etcd:// URL"))?;
        let (hosts, prefix) = rest.split_once('/').ok_or_else(|| {
            format!("store location '{text}': give a key prefix (etcd://HOST:PORT/PREFIX)")
        })?;
        let prefix = prefix.trim_end_matches('/');
        if prefix.is_empty() || prefix.chars().any(|c| c.is_control() || c == ' ') {
            return Err(format!(
                "store location '{text}': the key prefix after the endpoints must be a non-empty name without spaces (etcd://HOST:PORT/PREFIX)"
            ));
        }
        let mut endpoints = Vec::new();
        for h in hosts.split(',') {
            let ok = h.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
            });
            if !ok || h.contains('@') || h.contains('/') {
                return Err(format!(
                    "store location '{text}': endpoint '{h}' is not HOST:PORT"
                ));
            }
            endpoints.push(h.to_string());
        }
        let password = match (env_path(ENV_PASSWORD_FILE), std::env::var(ENV_PASSWORD)) {
            (Some(p), _) => {
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| format!("cannot read {ENV_PASSWORD_FILE} {}: {e}", p.display()))?;
                Some(Zeroizing::new(
                    text.trim_end_matches(['\r', '\n']).to_string(),
                ))
            }
            (None, Ok(p)) if !p.is_empty() => Some(Zeroizing::new(p)),
            _ => None,
        };
        let user = std::env::var(ENV_USER).ok().filter(|u| !u.is_empty());
        if password.is_some() && user.is_none() {
            return Err(format!(
                "an etcd password is set but no user: set {ENV_USER}"
            ));
        }
        if user.is_some() && password.is_none() {
            return Err(format!(
                "{ENV_USER} is set but no password: set {ENV_PASSWORD_FILE} (a file holding it) or {ENV_PASSWORD}"
            ));
        }
        let state_dir = env_path(ENV_STATE_DIR).unwrap_or_else(|| {
            let safe: String = prefix
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            super::default_data_dir().join("etcd").join(safe)
        });
        Ok(EtcdSettings {
            endpoints,
            prefix: format!("/{}", prefix.trim_start_matches('/')),
            cacert: env_path(ENV_CACERT),
            cert: env_path(ENV_CERT),
            key: env_path(ENV_KEY),
            user,
            password,
            state_dir,
            timeout: Duration::from_secs(3),
        })
    }

    fn tls(&self) -> bool {
        self.cacert.is_some() || self.cert.is_some()
    }

    /// `etcd://a:1,b:2/prefix`, for messages.
    pub fn location(&self) -> String {
        format!("etcd://{}{}", self.endpoints.join(","), self.prefix)
    }

    fn config_key(&self) -> Vec<u8> {
        format!("{}/config", self.prefix).into_bytes()
    }

    /// Where runtime records (server heartbeats) live: beside the
    /// document, so writing one is no revision of it.
    fn records_key(&self, name: &str) -> Vec<u8> {
        format!("{}/records/{name}", self.prefix).into_bytes()
    }
}

/// The etcd store backend.
pub struct EtcdBackend {
    settings: EtcdSettings,
    /// The runtime the gRPC client lives on; taken at drop to shut it down
    /// without blocking (the backend may be dropped inside another runtime).
    runtime: Option<tokio::runtime::Runtime>,
    pool: Arc<Pool>,
    /// Private keys and the cache: this server's local state folder.
    local: FileBackend,
    /// The bytes last written to the cache, not to rewrite the same ones.
    cached: std::sync::Mutex<Option<Vec<u8>>>,
    /// The document [`Backend::read`] last returned and its etcd
    /// mod_revision: the next [`Backend::begin`] starts from it instead of
    /// reading again ([`super::Store::update`] reads, then begins). Taken
    /// once; when it is stale the commit's compare fails and the retry
    /// reads afresh, so a write costs a read and a transaction.
    last_read: std::sync::Mutex<Option<(OrgConfig, i64)>>,
}

impl Drop for EtcdBackend {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn unreachable(settings: &EtcdSettings, why: impl std::fmt::Display) -> StoreError {
    StoreError::Unreachable {
        location: settings.location(),
        message: why.to_string(),
    }
}

impl EtcdBackend {
    pub fn new(settings: EtcdSettings) -> Result<EtcdBackend, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("xshell-etcd")
            .enable_all()
            .build()
            .map_err(|source| StoreError::Io {
                action: "start the etcd client runtime for",
                path: PathBuf::from(settings.location()),
                source,
            })?;
        Ok(EtcdBackend {
            local: FileBackend::new(settings.state_dir.clone()),
            runtime: Some(runtime),
            pool: Arc::new(Pool {
                slots: settings
                    .endpoints
                    .iter()
                    .map(|_| tokio::sync::Mutex::new(None))
                    .collect(),
                // Processes start at different members, spreading the load.
                preferred: AtomicUsize::new(
                    std::process::id() as usize % settings.endpoints.len().max(1),
                ),
            }),
            cached: std::sync::Mutex::new(None),
            last_read: std::sync::Mutex::new(None),
            settings,
        })
    }

    pub fn settings(&self) -> &EtcdSettings {
        &self.settings
    }

    fn connect_options(settings: &EtcdSettings) -> Result<ConnectOptions, StoreError> {
        let mut opts = ConnectOptions::new()
            .with_connect_timeout(settings.timeout)
            .with_timeout(settings.timeout)
            // HTTP/2 pings on the watch stream find a dead member; etcd
            // refuses pings more often than every 5 s
            // (--grpc-keepalive-min-time), so every 10 s.
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5))
            // Requests fail at once without a leader (quorum lost) instead
            // of waiting: the CLI says so, the engine keeps its last good
            // configuration.
            .with_require_leader(true);
        if settings.tls() {
            let read = |flag: &str, p: &PathBuf| {
                std::fs::read(p).map_err(|source| StoreError::Io {
                    action: match flag {
                        "cacert" => "read the etcd CA certificate (--etcd-cacert)",
                        "cert" => "read the etcd client certificate (--etcd-cert)",
                        _ => "read the etcd client key (--etcd-key)",
                    },
                    path: p.clone(),
                    source,
                })
            };
            let mut tls = etcd_client::TlsOptions::new();
            if let Some(ca) = &settings.cacert {
                tls = tls.ca_certificate(etcd_client::Certificate::from_pem(read("cacert", ca)?));
            }
            match (&settings.cert, &settings.key) {
                (Some(c), Some(k)) => {
                    let key = Zeroizing::new(read("key", k)?);
                    tls = tls.identity(etcd_client::Identity::from_pem(
                        read("cert", c)?,
                        key.as_slice(),
                    ));
                }
                (None, None) => {}
                _ => {
                    return Err(unreachable(
                        settings,
                        "--etcd-cert and --etcd-key go together (client-certificate authentication needs both)",
                    ));
                }
            }
            opts = opts.with_tls(tls);
        }
        if let (Some(u), Some(p)) = (&settings.user, &settings.password) {
            opts = opts.with_user(u.clone(), p.as_str());
        }
        Ok(opts)
    }

    /// Runs `f` with a connected client on the backend's runtime and waits
    /// for its answer. Members are tried in turn (the last one that
    /// answered first): a member that is down, has no leader or does not
    /// answer within the timeout is skipped; when none answers, the error
    /// names each member and why. The whole call is bounded.
    fn call<T, F, Fut>(&self, what: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(Client) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, etcd_client::Error>> + Send + 'static,
    {
        let Some(rt) = self.runtime.as_ref() else {
            return Err(unreachable(&self.settings, "the etcd client was shut down"));
        };
        let settings = self.settings.clone();
        let pool = Arc::clone(&self.pool);
        let (tx, rx) = std::sync::mpsc::channel();
        let deadline = settings.timeout * 2;
        rt.spawn(async move {
            let r = match tokio::time::timeout(deadline, pool.failover(&settings, &f)).await {
                Ok(r) => r,
                Err(_) => Err(unreachable(
                    &settings,
                    format!("no answer to {what} within {} s", deadline.as_secs()),
                )),
            };
            let _ = tx.send(r);
        });
        rx.recv_timeout(deadline + Duration::from_secs(1))
            .map_err(|_| {
                unreachable(
                    &self.settings,
                    format!("no answer to {what} within {} s", deadline.as_secs()),
                )
            })?
    }

    /// The document's bytes and its etcd mod revision (0: no document yet).
    fn fetch(&self) -> Result<(Option<Vec<u8>>, i64), StoreError> {
        let key = self.settings.config_key();
        self.call("a read", move |mut c| {
            let key = key.clone();
            async move {
                let resp = c.get(key, None).await?;
                Ok(match resp.kvs().first() {
                    Some(kv) => (Some(kv.value().to_vec()), kv.mod_revision()),
                    None => (None, 0),
                })
            }
        })
    }

    fn parse(&self, bytes: &[u8]) -> Result<OrgConfig, StoreError> {
        let name = PathBuf::from(format!(
            "{}/config",
            self.settings.location().trim_end_matches('/')
        ));
        FileBackend::parse(&name, bytes)
    }

    /// Keeps `bytes` as the last good configuration in the state folder.
    fn remember(&self, bytes: &[u8]) -> Result<(), StoreError> {
        let mut last = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if last.as_deref() == Some(bytes) {
            return Ok(());
        }
        self.local.write_file(CACHE_FILE, bytes)?;
        *last = Some(bytes.to_vec());
        Ok(())
    }

    fn read_at(&self) -> Result<(OrgConfig, i64), StoreError> {
        let (bytes, rev) = self.fetch()?;
        match bytes {
            None => Ok((OrgConfig::default(), 0)),
            Some(b) => {
                let cfg = self.parse(&b)?;
                Ok((cfg, rev))
            }
        }
    }
}

/// One client per member, connected on first use, so that a member that is
/// down is skipped at once instead of taking a share of the requests.
struct Pool {
    slots: Vec<tokio::sync::Mutex<Option<Client>>>,
    /// The member to try first: the last one that answered.
    preferred: AtomicUsize,
}

impl Pool {
    /// The client of member `i`, connected on first use.
    async fn client(&self, settings: &EtcdSettings, i: usize) -> Result<Client, Attempt> {
        let mut guard = self.slots[i].lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let opts = EtcdBackend::connect_options(settings).map_err(Attempt::Fatal)?;
        let scheme = if settings.tls() { "https" } else { "http" };
        let url = format!("{scheme}://{}", settings.endpoints[i]);
        let client = Client::connect([url], Some(opts))
            .await
            .map_err(|e| Attempt::Failed(describe_error(&e)))?;
        *guard = Some(client.clone());
        Ok(client)
    }

    async fn forget(&self, i: usize) {
        *self.slots[i].lock().await = None;
    }

    /// `f` on each member in turn until one answers.
    async fn failover<T, F, Fut>(&self, settings: &EtcdSettings, f: &F) -> Result<T, StoreError>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let n = self.slots.len();
        let start = self.preferred.load(Ordering::Relaxed);
        let mut reasons = Vec::new();
        for k in 0..n {
            let i = (start + k) % n;
            let attempt = async {
                let c = self.client(settings, i).await?;
                f(c).await.map_err(|e| Attempt::Failed(describe_error(&e)))
            };
            match tokio::time::timeout(settings.timeout, attempt).await {
                Ok(Ok(v)) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok(v);
                }
                Ok(Err(Attempt::Fatal(e))) => return Err(e),
                Ok(Err(Attempt::Failed(why))) => {
                    reasons.push(format!("{}: {why}", settings.endpoints[i]));
                }
                Err(_) => reasons.push(format!(
                    "{}: no answer within {} s",
                    settings.endpoints[i],
                    settings.timeout.as_secs()
                )),
            }
            // Connect afresh next time (the member may come back, a token
            // may have expired).
            self.forget(i).await;
        }
        Err(unreachable(settings, reasons.join("; ")))
    }
}

/// Why one member did not answer.
enum Attempt {
    /// Not the member's fault (a TLS file cannot be read): stop.
    Fatal(StoreError),
    Failed(String),
}

/// An etcd client error in a line: gRPC status messages carry the reason
/// ("etcdserver: no leader", "etcdserver: user name or password is incorrect").
fn describe_error(e: &etcd_client::Error) -> String {
    let (mut text, mut source): (String, Option<&(dyn std::error::Error + 'static)>) = match e {
        etcd_client::Error::GRpcStatus(s) => {
            let m = s.message();
            let text = if m.is_empty() {
                format!("{:?}", s.code())
            } else {
                m.to_string()
            };
            (text, std::error::Error::source(s))
        }
        other => (other.to_string(), std::error::Error::source(other)),
    };
    // "tcp connect error" alone does not say why: add the causes
    // ("Connection refused").
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

struct EtcdTransaction<'a> {
    backend: &'a EtcdBackend,
    current: OrgConfig,
    mod_revision: i64,
}

impl Transaction for EtcdTransaction<'_> {
    fn current(&self) -> &OrgConfig {
        &self.current
    }

    fn commit(self: Box<Self>, next: &OrgConfig) -> Result<(), StoreError> {
        let settings = self.backend.settings.clone();
        let bytes = config_text(next).map_err(|e| StoreError::Io {
            action: "serialize",
            path: PathBuf::from(settings.location()),
            source: io::Error::other(e),
        })?;
        let key = settings.config_key();
        let rev = self.mod_revision;
        let value = bytes.clone();
        let committed = self.backend.call("a transaction", move |mut c| {
            // Compare-and-put: only if the document is still the one read
            // (mod_revision 0 = the key does not exist yet).
            let txn = Txn::new()
                .when([Compare::mod_revision(key.clone(), CompareOp::Equal, rev)])
                .and_then([TxnOp::put(key.clone(), value.clone(), None)]);
            async move { c.txn(txn).await.map(|r| r.succeeded()) }
        })?;
        if !committed {
            return Err(StoreError::Conflict {
                location: settings.location(),
            });
        }
        Ok(())
    }
}

impl Backend for EtcdBackend {
    fn describe(&self) -> String {
        self.settings.location()
    }

    fn read(&self) -> Result<OrgConfig, StoreError> {
        let (cfg, mod_revision) = self.read_at()?;
        *self.last_read.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((cfg.clone(), mod_revision));
        Ok(cfg)
    }

    fn begin(&self) -> Result<Box<dyn Transaction + '_>, StoreError> {
        let last = self
            .last_read
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let (current, mod_revision) = match last {
            Some(read) => read,
            None => self.read_at()?,
        };
        Ok(Box::new(EtcdTransaction {
            backend: self,
            current,
            mod_revision,
        }))
    }

    fn put_secret(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.local.put_secret(name, bytes)
    }

    fn get_secret(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        self.local.get_secret(name)
    }

    fn delete_secret(&self, name: &str) -> Result<(), StoreError> {
        self.local.delete_secret(name)
    }

    fn put_record(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        super::file::record_file(name)?;
        let key = self.settings.records_key(name);
        let value = bytes.to_vec();
        self.call("a record write", move |mut c| {
            let (key, value) = (key.clone(), value.clone());
            async move { c.put(key, value, None).await.map(|_| ()) }
        })
    }

    fn delete_record(&self, name: &str) -> Result<(), StoreError> {
        super::file::record_file(name)?;
        let key = self.settings.records_key(name);
        self.call("a record delete", move |mut c| {
            let key = key.clone();
            async move { c.delete(key, None).await.map(|_| ()) }
        })
    }

    fn list_records(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let base = self.settings.records_key("");
        let key = self.settings.records_key(prefix);
        let found = self.call("a record read", move |mut c| {
            let key = key.clone();
            async move {
                let resp = c
                    .get(key, Some(etcd_client::GetOptions::new().with_prefix()))
                    .await?;
                Ok(resp
                    .kvs()
                    .iter()
                    .map(|kv| (kv.key().to_vec(), kv.value().to_vec()))
                    .collect::<Vec<_>>())
            }
        })?;
        let mut out: Vec<(String, Vec<u8>)> = found
            .into_iter()
            .filter_map(|(k, v)| {
                let name = String::from_utf8(k.get(base.len()..)?.to_vec()).ok()?;
                super::file::record_file(&name).ok()?;
                Some((name, v))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn state_dir(&self) -> Option<PathBuf> {
        Some(self.settings.state_dir.clone())
    }

    fn last_good(&self) -> Result<Option<(OrgConfig, String)>, StoreError> {
        let path = self.settings.state_dir.join(CACHE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some((
                FileBackend::parse(&path, &bytes)?,
                path.display().to_string(),
            ))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io {
                action: "read",
                path,
                source,
            }),
        }
    }

    fn keep_last_good(&self, cfg: &OrgConfig) {
        // Best effort: a cache that cannot be written matters only if etcd
        // is down at the next start, and that start says there is none.
        if let Ok(bytes) = config_text(cfg) {
            let _ = self.remember(&bytes);
        }
    }

    fn subscribe(&self, notify: Box<dyn Fn() + Send + Sync>) -> bool {
        let Some(rt) = self.runtime.as_ref() else {
            return false;
        };
        let settings = self.settings.clone();
        let pool = Arc::clone(&self.pool);
        rt.spawn(watch_loop(settings, pool, notify));
        true
    }
}

/// Follows the document's key: `notify` runs at every change, and also when
/// the watch breaks and is set up again (a change may have been missed), so
/// the subscriber reads the store afresh. A broken watch moves to the next
/// member. Runs until the runtime stops.
async fn watch_loop(settings: EtcdSettings, pool: Arc<Pool>, notify: Box<dyn Fn() + Send + Sync>) {
    let key = settings.config_key();
    let n = pool.slots.len();
    // The first watch counts as a repair too: a change committed between
    // the subscriber's first read and the watch's start is not missed.
    let mut broken = true;
    loop {
        let i = pool.preferred.load(Ordering::Relaxed) % n;
        let stream = async {
            let mut client = pool.client(&settings, i).await.ok()?;
            client.watch(key.clone(), None).await.ok()
        };
        if let Ok(Some(mut stream)) = tokio::time::timeout(settings.timeout, stream).await {
            if broken {
                notify();
                broken = false;
            }
            while let Ok(Some(resp)) = stream.message().await {
                if resp.canceled() {
                    break;
                }
                if !resp.events().is_empty() {
                    notify();
                }
            }
        }
        if !broken {
            broken = true;
            notify();
        }
        pool.forget(i).await;
        // Try the next member; a request that succeeds elsewhere moves
        // `preferred` too.
        let _ =
            pool.preferred
                .compare_exchange(i, (i + 1) % n, Ordering::Relaxed, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::EtcdSettings;

    #[test]
    fn locations_parse_or_say_what_is_wrong() {
        let s =
            EtcdSettings::from_location("etcd://10.0.0.1:2379,[::1]:2379,e3:2379/org/a/").unwrap();
        assert_eq!(s.endpoints, ["10.0.0.1:2379", "[::1]:2379", "e3:2379"]);
        assert_eq!(s.prefix, "/org/a");
        assert_eq!(
            s.location(),
            "etcd://10.0.0.1:2379,[::1]:2379,e3:2379/org/a"
        );
        assert_eq!(s.config_key(), b"/org/a/config");
        let debug = format!("{s:?}");
        assert!(!debug.contains("password: Some(\""), "{debug}");
        for (bad, why) in [
            ("etcd://127.0.0.1:2379", "give a key prefix"),
            ("etcd://127.0.0.1:2379/", "non-empty name"),
            ("etcd://127.0.0.1/x", "is not HOST:PORT"),
            ("etcd://127.0.0.1:0/x", "is not HOST:PORT"),
            ("etcd://a:1,/x", "is not HOST:PORT"),
            ("etcd://user:pw@h:1/x", "is not HOST:PORT"),
        ] {
            let e = EtcdSettings::from_location(bad).unwrap_err();
            assert!(e.contains(why) && e.contains(bad), "{bad}: {e}");
        }
    }
}
