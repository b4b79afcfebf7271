//! The control socket: answers the queue cmdlets (Get-Queue, Get-Message,
//! Retry-/Suspend-/Resume-Queue, Remove-Message) over the protocol in
//! [`xshell_core::control`].
//!
//! - The socket is `<store>/control.sock`, mode 0600 (the store folder is
//!   0700 too). At start a leftover socket is probed: if an engine answers
//!   on it, starting fails (two engines must not share a queue); if not, it
//!   is a stale file from a crash and is replaced. [`ControlServer::stop`]
//!   removes it.
//! - Each connection sends request lines and gets one reply line per
//!   request; a request is handled on the blocking pool (file I/O), lines
//!   are bounded ([`MAX_LINE`]) and an idle connection is closed after
//!   [`IDLE`].
//! - Reads use the same read-only queue reader as the cmdlets with the
//!   engine stopped ([`xshell_core::control::spool`]), so a listing never
//!   changes the queue. Actions go through [`Queue`] (atomic, durable
//!   envelope updates); the suspended set is [`QueueState`], saved
//!   atomically under one lock.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use xshell_core::control::{
    self as proto, Answer, ErrorKind, MAX_LINE, Op, PROTOCOL_VERSION, QueueState, Reply, Request,
    spool, view,
};
use xshell_core::model::OrgConfig;
use xshell_core::store::Store;

use crate::config::RuntimeConfig;
use crate::delivery::DeliveryNotifier;
use crate::dsn;
use crate::queue::{Envelope, GroupCommitter, MessageId, Queue, QueueError, now_ms};
use crate::tracking::{EventId, TrackingEvent, TrackingLog};
use xshell_smtp::Reply as SmtpReply;

/// An idle connection is closed after this long.
pub const IDLE: Duration = Duration::from_secs(60);

/// What the handlers reach.
pub struct ControlContext {
    pub store: Arc<Store>,
    pub queue: Arc<Queue>,
    pub committer: Arc<GroupCommitter>,
    pub config: Arc<ArcSwap<RuntimeConfig>>,
    pub tracking: Arc<TrackingLog>,
    pub delivery: DeliveryNotifier,
    /// Serializes actions (the queue-state file's read-modify-write).
    pub actions: Mutex<()>,
    /// The DANE/MTA-STS lookups the runner uses (Test-OutboundTlsPolicy).
    pub lookups: Arc<crate::outbound::lookups::PolicyLookups>,
    /// TLS reports (Get-TlsReport, Send-TlsReport).
    pub tlsrpt: Arc<crate::tlsrpt::send::Reporter>,
}

impl std::fmt::Debug for ControlContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlContext")
            .field("store", &self.store.describe())
            .field("queue", &self.queue.root())
            .finish_non_exhaustive()
    }
}

/// Why the control socket could not start.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(
        "another xshell-transport answers on {0}: two engines must not share one state folder (queue, control socket); give each server its own --state-dir"
    )]
    InUse(PathBuf),
    #[error("{0} exists and is not a socket; remove it")]
    NotASocket(PathBuf),
    #[error("cannot {op} the control socket {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The running control socket.
#[derive(Debug)]
pub struct ControlServer {
    path: PathBuf,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ControlServer {
    /// Binds `path` (see the module docs) and serves until [`Self::stop`].
    pub async fn start(path: PathBuf, ctx: Arc<ControlContext>) -> Result<Self, ControlError> {
        let io = |op, p: &Path| {
            let p = p.to_path_buf();
            move |source| ControlError::Io {
                op,
                path: p,
                source,
            }
        };
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_socket() => {
                if UnixStream::connect(&path).await.is_ok() {
                    return Err(ControlError::InUse(path));
                }
                tracing::info!(path = %path.display(), "removing a stale control socket");
                std::fs::remove_file(&path).map_err(io("remove the stale", &path))?;
            }
            Ok(_) => return Err(ControlError::NotASocket(path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("inspect", &path)(e)),
        }
        let listener = UnixListener::bind(&path).map_err(io("bind", &path))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(io("restrict", &path))?;
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, ctx, stop_rx));
        tracing::info!(path = %path.display(), "control socket listening");
        Ok(ControlServer { path, stop, task })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting, closes connections and removes the socket file.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot remove the control socket")
            }
        }
    }
}

async fn accept_loop(
    listener: UnixListener,
    ctx: Arc<ControlContext>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((sock, _)) => {
                    let ctx = Arc::clone(&ctx);
                    let stop = stop.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve(sock, ctx, stop).await {
                            tracing::debug!(error = %e, "control connection ended");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control socket: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

async fn serve(
    sock: UnixStream,
    ctx: Arc<ControlContext>,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let (r, mut w) = sock.into_split();
    let mut lines = BufReader::new(r);
    loop {
        let mut buf = Vec::new();
        let mut limited = (&mut lines).take(MAX_LINE as u64 + 1);
        let n = tokio::select! {
            _ = stop.changed() => return Ok(()),
            read = tokio::time::timeout(IDLE, limited.read_until(b'\n', &mut buf)) => match read {
                Ok(r) => r?,
                Err(_) => return Ok(()),
            },
        };
        if n == 0 {
            return Ok(());
        }
        let complete = buf.last() == Some(&b'\n');
        if complete {
            buf.pop();
        }
        let reply = if !complete && buf.len() > MAX_LINE {
            Reply::error(
                ErrorKind::BadRequest,
                format!("request longer than {MAX_LINE} bytes"),
            )
        } else {
            let ctx = Arc::clone(&ctx);
            tokio::task::spawn_blocking(move || answer(&ctx, &buf))
                .await
                .unwrap_or_else(|e| Reply::error(ErrorKind::Failed, format!("internal error: {e}")))
        };
        let mut out = serde_json::to_vec(&reply).map_err(io::Error::other)?;
        out.push(b'\n');
        w.write_all(&out).await?;
        if !complete {
            return Ok(());
        }
    }
}

/// Decodes one request line and answers it.
pub fn answer(ctx: &ControlContext, line: &[u8]) -> Reply {
    #[derive(serde::Deserialize)]
    struct VersionOnly {
        version: u32,
    }
    match serde_json::from_slice::<VersionOnly>(line) {
        Ok(v) if v.version != PROTOCOL_VERSION => {
            return Reply::error(
                ErrorKind::UnsupportedVersion,
                format!(
                    "this engine speaks control protocol version {PROTOCOL_VERSION}, not {}",
                    v.version
                ),
            );
        }
        Ok(_) => {}
        Err(e) => return Reply::error(ErrorKind::BadRequest, format!("not a request: {e}")),
    }
    match serde_json::from_slice::<Request>(line) {
        Ok(req) => match handle(ctx, req.request) {
            Ok(a) => Reply::ok(a),
            Err(Failure(kind, message)) => Reply::error(kind, message),
        },
        Err(e) => Reply::error(
            ErrorKind::BadRequest,
            format!("not a request this engine understands: {e}"),
        ),
    }
}

/// A refused or failed request.
struct Failure(ErrorKind, String);

fn failed(e: impl std::fmt::Display) -> Failure {
    Failure(ErrorKind::Failed, e.to_string())
}

/// What a request sees: the configuration, the queue and its state.
struct Snapshot {
    cfg: OrgConfig,
    server: String,
    spool: spool::Spool,
    state: QueueState,
    /// Messages a delivery is working on (Status Active).
    active: std::collections::HashSet<String>,
}

fn snapshot(ctx: &ControlContext) -> Result<Snapshot, Failure> {
    // This engine's server and what it runs of the organization.
    let server = ctx.config.load().server_name.clone();
    let cfg = ctx.store.snapshot().map_err(failed)?.for_server(&server);
    let dir = ctx.queue.root();
    let spool = spool::read(dir).map_err(|e| failed(format!("cannot read the queue: {e}")))?;
    let state = QueueState::load(dir).map_err(failed)?;
    Ok(Snapshot {
        cfg,
        server,
        spool,
        state,
        active: ctx.queue.active_ids(),
    })
}

impl Snapshot {
    fn queues(&self) -> Vec<proto::QueueInfo> {
        view::queues(
            &self.cfg,
            &self.server,
            &self.spool.messages,
            &self.state,
            &self.active,
            now_ms(),
        )
    }

    /// The hop key of an existing queue named by `identity`.
    fn queue_key(&self, identity: &str) -> Result<String, Failure> {
        let not_found = || {
            Failure(
                ErrorKind::NotFound,
                format!("queue '{identity}' was not found on {}", self.server),
            )
        };
        let key = view::hop_key(identity, &self.server).ok_or_else(not_found)?;
        let exists = self
            .queues()
            .iter()
            .any(|q| q.next_hop_domain.eq_ignore_ascii_case(&key));
        if exists { Ok(key) } else { Err(not_found()) }
    }
}

fn handle(ctx: &ControlContext, op: Op) -> Result<Answer, Failure> {
    match op {
        Op::Ping => {
            // The store must be readable, as before; the server is ours.
            ctx.store.snapshot().map_err(failed)?;
            Ok(Answer::Pong {
                server: ctx.config.load().server_name.clone(),
                engine_version: env!("CARGO_PKG_VERSION").to_string(),
            })
        }
        Op::GetQueue => Ok(Answer::Queues(snapshot(ctx)?.queues())),
        Op::ProbeDomain { domain } => {
            if domain.trim().is_empty() || domain.contains('@') {
                return Err(Failure(
                    ErrorKind::BadRequest,
                    format!("'{domain}' is not a domain"),
                ));
            }
            // Handlers run on the blocking pool; the probe is async I/O.
            let rt = ctx.config.load_full();
            let handle = tokio::runtime::Handle::try_current().map_err(failed)?;
            Ok(Answer::DomainSecurity(Box::new(
                handle.block_on(crate::probe::probe_domain(&rt, &domain)),
            )))
        }
        Op::OutboundTlsPolicy { domain, connect } => {
            if domain.trim().is_empty() || domain.contains('@') {
                return Err(Failure(
                    ErrorKind::BadRequest,
                    format!("'{domain}' is not a domain"),
                ));
            }
            let rt = ctx.config.load_full();
            let handle = tokio::runtime::Handle::try_current().map_err(failed)?;
            Ok(Answer::OutboundTlsPolicy(Box::new(handle.block_on(
                crate::policy_probe::outbound_policy(&rt, &ctx.lookups, &domain, connect),
            ))))
        }
        Op::GetMessage { id, queue } => {
            let s = snapshot(ctx)?;
            let key = match &queue {
                Some(q) => Some(s.queue_key(q)?),
                None => None,
            };
            let wanted = id.as_deref().map(view::message_id_of);
            let dir = ctx.queue.root();
            let spool: Vec<_> = s
                .spool
                .messages
                .iter()
                .filter(|m| wanted.is_none_or(|w| m.id == w))
                .cloned()
                .collect();
            let all = view::messages(
                &s.cfg,
                &s.server,
                &spool,
                &s.state,
                &s.active,
                now_ms(),
                |id| spool::read_headers(dir, id),
            );
            let out: Vec<_> = all
                .into_iter()
                .filter(|m| {
                    key.as_deref()
                        .is_none_or(|k| view::hop_key(&m.queue, &s.server).as_deref() == Some(k))
                })
                .collect();
            if out.is_empty()
                && let Some(id) = id
            {
                return Err(Failure(
                    ErrorKind::NotFound,
                    format!("message '{id}' was not found in the queue"),
                ));
            }
            Ok(Answer::Messages(out))
        }
        Op::SuspendQueue { identity } => {
            let _guard = ctx.actions.lock().unwrap_or_else(|p| p.into_inner());
            let s = snapshot(ctx)?;
            let key = s.queue_key(&identity)?;
            if key == view::LOCAL_HOP.to_ascii_lowercase() {
                return Err(Failure(
                    ErrorKind::Refused,
                    "the local delivery queue cannot be suspended (local delivery does not honour it yet)".into(),
                ));
            }
            let mut state = s.state;
            let changed = state.suspended.insert(key.clone());
            if changed {
                state.save(ctx.queue.root()).map_err(failed)?;
                tracing::info!(queue = %key, "queue suspended");
            }
            Ok(Answer::Done {
                affected: u32::from(changed),
                message: if changed {
                    format!("queue {} suspended", view::queue_identity(&s.server, &key))
                } else {
                    format!(
                        "queue {} was already suspended",
                        view::queue_identity(&s.server, &key)
                    )
                },
            })
        }
        Op::ResumeQueue { identity } => {
            let _guard = ctx.actions.lock().unwrap_or_else(|p| p.into_inner());
            let s = snapshot(ctx)?;
            let key = s.queue_key(&identity)?;
            let mut state = s.state;
            let changed = state.suspended.remove(&key);
            if changed {
                state.save(ctx.queue.root()).map_err(failed)?;
                tracing::info!(queue = %key, "queue resumed");
                wake(ctx, &s.cfg, &s.spool.messages, &key);
            }
            Ok(Answer::Done {
                affected: u32::from(changed),
                message: if changed {
                    format!("queue {} resumed", view::queue_identity(&s.server, &key))
                } else {
                    format!(
                        "queue {} was not suspended",
                        view::queue_identity(&s.server, &key)
                    )
                },
            })
        }
        Op::RetryQueue { identity } => {
            let _guard = ctx.actions.lock().unwrap_or_else(|p| p.into_inner());
            let s = snapshot(ctx)?;
            let key = s.queue_key(&identity)?;
            if s.state.is_suspended(&key) {
                return Err(Failure(
                    ErrorKind::Refused,
                    format!("queue '{identity}' is suspended; resume it first (Resume-Queue)"),
                ));
            }
            let now = now_ms();
            let mut affected = 0u32;
            for m in messages_in(&s.cfg, &s.spool.messages, &key) {
                if m.next_retry_ms.is_some_and(|t| t > now) {
                    let Ok(id) = m.id.parse::<MessageId>() else {
                        continue;
                    };
                    match ctx.queue.set_next_retry(&id, Some(now)) {
                        Ok(_) => affected += 1,
                        Err(QueueError::NotFound(_)) => {}
                        Err(e) => return Err(failed(e)),
                    }
                }
            }
            wake(ctx, &s.cfg, &s.spool.messages, &key);
            tracing::info!(queue = %key, messages = affected, "queue retried");
            Ok(Answer::Done {
                affected,
                message: format!(
                    "{affected} message(s) of queue {} are due now",
                    view::queue_identity(&s.server, &key)
                ),
            })
        }
        Op::RemoveMessage { id, with_ndr } => {
            let _guard = ctx.actions.lock().unwrap_or_else(|p| p.into_inner());
            remove_message(ctx, view::message_id_of(&id), with_ndr)
        }
        Op::GetTlsReport { domain, date } => {
            crate::tlsrpt::control::get(ctx, domain, date).map_err(|(kind, m)| Failure(kind, m))
        }
        Op::SendTlsReport { domain, date } => {
            crate::tlsrpt::control::send(ctx, domain, date).map_err(|(kind, m)| Failure(kind, m))
        }
    }
}

fn messages_in<'a>(
    cfg: &OrgConfig,
    spool: &'a [spool::SpoolMessage],
    key: &str,
) -> Vec<&'a spool::SpoolMessage> {
    spool
        .iter()
        .filter(|m| {
            m.recipients
                .iter()
                .any(|(a, s)| !s.is_final() && view::route(cfg, a).key == key)
        })
        .collect()
}

/// Hands the queue's messages to the delivery side again.
fn wake(ctx: &ControlContext, cfg: &OrgConfig, spool: &[spool::SpoolMessage], key: &str) {
    for m in messages_in(cfg, spool, key) {
        if let Ok(id) = m.id.parse::<MessageId>() {
            ctx.delivery.queued(id);
        }
    }
}

const REMOVED: &str = "The message was deleted by an administrator";

fn remove_message(ctx: &ControlContext, id: &str, with_ndr: bool) -> Result<Answer, Failure> {
    let not_found = || {
        Failure(
            ErrorKind::NotFound,
            format!("message '{id}' was not found in the queue"),
        )
    };
    let mid: MessageId = id.parse().map_err(|_| not_found())?;
    let m = match ctx.queue.get(&mid) {
        Ok(m) => m,
        Err(QueueError::NotFound(_)) => return Err(not_found()),
        Err(e) => return Err(failed(e)),
    };
    let open: Vec<String> = m
        .envelope
        .recipients
        .iter()
        .filter(|r| !r.status.is_final())
        .map(|r| r.address.clone())
        .collect();
    // RFC 3461: no report for a recipient whose NOTIFY left FAILURE out.
    let reported: Vec<&crate::queue::Recipient> = m
        .envelope
        .recipients
        .iter()
        .filter(|r| !r.status.is_final() && r.notify.is_none_or(|n| n.failure))
        .collect();
    let mut ndr_id = None;
    if with_ndr && !m.envelope.sender.is_empty() && !reported.is_empty() {
        let rt = ctx.config.load();
        let cfg = ctx.store.snapshot().map_err(failed)?;
        let postmaster = dsn::postmaster_address(&cfg.transport_config, &rt.server_fqdn);
        // The report quotes the header section, or the whole message when
        // the sender asked RET=FULL (up to RET_FULL_MAX).
        let original = if m.envelope.returns_full_message() && m.size <= dsn::RET_FULL_MAX {
            ctx.queue.read_message(&mid)
        } else {
            ctx.queue.open_message(&mid).and_then(|f| {
                f.head().map_err(|source| crate::queue::QueueError::Io {
                    op: "read",
                    path: ctx.queue.message_path(&mid),
                    source,
                })
            })
        }
        .map_err(failed)?;
        let now = now_ms();
        let req = dsn::Request {
            reporting_mta: &rt.server_fqdn,
            postmaster: &postmaster,
            original_sender: &m.envelope.sender,
            arrival_ms: m.envelope.received_at_ms,
            now_ms: now,
            recipients: reported
                .iter()
                .map(|r| dsn::Recipient {
                    address: r.address.clone(),
                    original_recipient: r.orcpt.clone(),
                    action: dsn::Action::Failed,
                    reply: Some(SmtpReply::new(550, (5, 3, 0), REMOVED)),
                    remote_mta: None,
                    detail: Some(REMOVED.into()),
                    will_retry_until_ms: None,
                    last_attempt_ms: None,
                })
                .collect(),
            original: &original,
            ret: m.envelope.ret,
            envid: m.envelope.envid.as_deref(),
        };
        if let Some(report) = dsn::build(&req) {
            let env = Envelope::new(
                report.envelope_sender.clone(),
                [report.envelope_recipient.clone()],
            );
            // The report is durable before the message goes: a crash in
            // between sends the report and keeps the message (a duplicate),
            // never loses both.
            let nid = ctx
                .committer
                .enqueue(&env, &report.message)
                .map_err(failed)?;
            ctx.delivery.queued(nid.clone());
            ndr_id = Some(nid);
        }
    }
    match ctx.queue.complete(&mid) {
        Ok(()) | Err(QueueError::NotFound(_)) => {}
        Err(e) => return Err(failed(e)),
    }
    let mut ev = TrackingEvent::new(EventId::Fail, mid.to_string(), m.envelope.tls.as_ref());
    ev.sender = m.envelope.sender.clone();
    ev.recipients = open.clone();
    ev.connector = m.envelope.connector.clone();
    ev.detail = Some(match &ndr_id {
        Some(n) => format!("{REMOVED} (Remove-Message); non-delivery report queued as {n}"),
        None => format!("{REMOVED} (Remove-Message); no non-delivery report"),
    });
    if let Err(e) = ctx.tracking.write(&ev) {
        tracing::error!(error = %e, "cannot write the tracking log");
    }
    tracing::info!(id = %mid, ndr = ?ndr_id, "message removed by an administrator");
    Ok(Answer::Done {
        affected: 1,
        message: match ndr_id {
            Some(n) => format!("message {mid} removed; non-delivery report queued as {n}"),
            None => format!("message {mid} removed"),
        },
    })
}
