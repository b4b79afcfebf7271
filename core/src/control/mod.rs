//! The control protocol between the queue cmdlets and a running
//! `xshell-transport`, and the read-only view of the queue both sides share.
//!
//! # Transport
//! A Unix domain socket in the store's local folder,
//! `<store>/control.sock` ([`SOCKET_FILE`]), mode 0600, created by the
//! engine at start (a stale file left by a crash is replaced; one that a
//! live engine answers on is refused) and removed at a clean exit.
//!
//! # Framing
//! One JSON object per line, UTF-8, at most [`MAX_LINE`] bytes. The client
//! writes one [`Request`] and reads one [`Reply`]; the server answers each
//! request line in order, so a client may send several on one connection.
//! Both carry `version` ([`PROTOCOL_VERSION`]); a server answers a request
//! of another version with [`ErrorKind::UnsupportedVersion`] (and its own
//! version), and an unknown `op` with [`ErrorKind::BadRequest`], so new
//! operations can be added without breaking older clients.
//!
//! ```text
//! -> {"version":1,"request":{"op":"suspend_queue","identity":"MAIL\\partner.example"}}
//! <- {"version":1,"outcome":{"status":"ok","answer":{"type":"done","data":{"affected":1,"message":"..."}}}}
//! -> {"version":1,"request":{"op":"get_queue"}}
//! <- {"version":1,"outcome":{"status":"ok","answer":{"type":"queues","data":[{"Identity":"MAIL\\partner.example",...}]}}}
//! <- {"version":1,"outcome":{"status":"error","kind":"not_found","message":"queue 'x' was not found"}}
//! ```
//!
//! # Queue state shared with the delivery side
//! Queues are not stored: they are derived from the queued envelopes by
//! grouping each non-final recipient by next hop ([`view`]). The only queue
//! state is which queues are **suspended**: [`QueueState`], the file
//! `<queue>/queue-state.json` ([`QUEUE_STATE_FILE`]), written atomically by
//! the engine's control server. The outbound runner must not attempt a
//! recipient whose [`view::Hop::key`] is in it (it re-reads the file, or
//! [`QueueState::load`] before each scan); new messages for a suspended
//! next hop wait too, which a per-envelope flag could not express.
//! With the engine stopped, the cmdlets read the queue folder directly
//! ([`spool`]), never writing.

pub mod spool;
pub mod view;

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::OrgConfig;

pub use view::{DeliveryType, MessageInfo, QueueInfo, QueueStatus, RecipientInfo};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// The socket's file name in the store's local folder.
pub const SOCKET_FILE: &str = "control.sock";
/// The suspended-queue file's name in the queue folder.
pub const QUEUE_STATE_FILE: &str = "queue-state.json";
/// Longest accepted line (request or reply).
pub const MAX_LINE: usize = 16 << 20;

/// `<state_dir>/control.sock`.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join(SOCKET_FILE)
}

/// The queue folder: QueueDatabasePath, else `<state_dir>/queue`. (The
/// engine resolves the same way; tests/ops_queue.rs checks they agree.)
pub fn queue_dir(cfg: &OrgConfig, state_dir: &Path) -> PathBuf {
    non_empty(&cfg.transport_service.queue_database_path)
        .map_or_else(|| state_dir.join("queue"), PathBuf::from)
}

/// The tracking log: `tracking.jsonl` in MessageTrackingLogPath, else in
/// `<state_dir>/log`; `None` when tracking is disabled.
pub fn tracking_log_path(cfg: &OrgConfig, state_dir: &Path) -> Option<PathBuf> {
    let svc = &cfg.transport_service;
    svc.message_tracking_log_enabled.then(|| {
        non_empty(&svc.message_tracking_log_path)
            .map_or_else(|| state_dir.join("log"), PathBuf::from)
            .join("tracking.jsonl")
    })
}

fn non_empty(p: &Option<String>) -> Option<&str> {
    p.as_deref().filter(|s| !s.trim().is_empty())
}

/// A request line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub version: u32,
    pub request: Op,
}

impl Request {
    pub fn new(op: Op) -> Request {
        Request {
            version: PROTOCOL_VERSION,
            request: op,
        }
    }
}

/// What a client asks for. Queue identities are `<server>\<next hop>` or
/// just `<next hop>` (case-insensitive); message ids are queue ids
/// (26 hex digits), optionally prefixed `<server>\<next hop>\`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Is anyone there? Answered with [`Answer::Pong`].
    Ping,
    /// Every queue ([`Answer::Queues`]).
    GetQueue,
    /// Messages: one by id, or those in a queue, or all ([`Answer::Messages`]).
    GetMessage {
        #[serde(default)]
        id: Option<String>,
        #[serde(default)]
        queue: Option<String>,
    },
    /// Make every waiting message of the queue due now.
    RetryQueue { identity: String },
    /// Stop delivering to the queue's next hop (persisted).
    SuspendQueue { identity: String },
    /// Undo [`Op::SuspendQueue`].
    ResumeQueue { identity: String },
    /// Remove a message from the queue, optionally telling its sender
    /// with a non-delivery report.
    RemoveMessage { id: String, with_ndr: bool },
    /// Test-DomainSecurity: route `domain` like a message, connect to its
    /// first reachable next hop, EHLO, STARTTLS under the TLS policy, QUIT;
    /// never sends a message ([`Answer::DomainSecurity`]).
    ProbeDomain { domain: String },
    /// Test-OutboundTlsPolicy: the TLS policy decision for `domain` before
    /// any mail is sent (route, each rule, the result); with `connect`, a
    /// probe of the first next hop under that policy (EHLO, STARTTLS,
    /// QUIT; no message) ([`Answer::OutboundTlsPolicy`]).
    OutboundTlsPolicy {
        domain: String,
        #[serde(default)]
        connect: bool,
    },
    /// Get-TlsReport: the TLS reports (RFC 8460) of a UTC day (`YYYY-MM-DD`,
    /// default today) as they would be sent ([`Answer::TlsReports`]).
    GetTlsReport {
        #[serde(default)]
        domain: Option<String>,
        #[serde(default)]
        date: Option<String>,
    },
    /// Send-TlsReport: send a day's TLS reports now (default: yesterday,
    /// UTC), [`Answer::Done`].
    SendTlsReport {
        #[serde(default)]
        domain: Option<String>,
        #[serde(default)]
        date: Option<String>,
    },
}

/// A reply line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub version: u32,
    pub outcome: Outcome,
}

impl Reply {
    pub fn ok(answer: Answer) -> Reply {
        Reply {
            version: PROTOCOL_VERSION,
            outcome: Outcome::Ok { answer },
        }
    }
    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Reply {
        Reply {
            version: PROTOCOL_VERSION,
            outcome: Outcome::Error {
                kind,
                message: message.into(),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Ok { answer: Answer },
    Error { kind: ErrorKind, message: String },
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Answer {
    Pong {
        server: String,
        engine_version: String,
    },
    Queues(Vec<QueueInfo>),
    Messages(Vec<MessageInfo>),
    /// An action was carried out on `affected` messages or queues.
    Done {
        affected: u32,
        message: String,
    },
    /// The result of [`Op::ProbeDomain`].
    DomainSecurity(Box<DomainSecurityReport>),
    /// The result of [`Op::OutboundTlsPolicy`].
    OutboundTlsPolicy(Box<OutboundPolicyReport>),
    /// The result of [`Op::GetTlsReport`], one per policy domain.
    TlsReports(Vec<TlsReportInfo>),
}

/// What Test-OutboundTlsPolicy found (field names are the cmdlet's
/// properties).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OutboundPolicyReport {
    pub domain: String,
    /// A send connector covers the domain; when false, `Reason` says why
    /// and nothing else was decided.
    pub routed: bool,
    #[serde(default)]
    pub send_connector: Option<String>,
    #[serde(default)]
    pub address_space: Option<String>,
    /// `MX` or `SmartHost`.
    #[serde(default)]
    pub route_type: Option<String>,
    /// `name [ip, ...]` per next hop, in order (empty when they could not
    /// be resolved: `NextHopsError` says why).
    #[serde(default)]
    pub next_hops: Vec<String>,
    #[serde(default)]
    pub next_hops_error: Option<String>,
    /// Every rule in precedence order: Domain Security, DANE, MTA-STS,
    /// RequireTLS, Opportunistic.
    #[serde(default)]
    pub rules: Vec<PolicyRule>,
    /// The policy mail to the domain gets (DomainSecure, DANE, MTA-STS
    /// enforce, MTA-STS testing, RequireTLS, Opportunistic, None).
    #[serde(default)]
    pub tls_policy: Option<String>,
    /// The policy authenticates the next hop (chain and name, or DANE).
    pub verifies_peer: bool,
    /// Why mail would go without verified TLS or be held (as the tracking
    /// log would say it); none when the next hop is verified.
    #[serde(default)]
    pub tls_policy_reason: Option<String>,
    /// One sentence: what mail to the domain gets.
    pub reason: String,
    /// With -Connect: `name [ip:port]` of the host probed.
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub starttls_offered: Option<bool>,
    #[serde(default)]
    pub tls_version: Option<String>,
    #[serde(default)]
    pub cipher: Option<String>,
    /// The certificate the host presented.
    #[serde(default)]
    pub server_subject: Option<String>,
    #[serde(default)]
    pub server_issuer: Option<String>,
    /// The certificate verified under the policy (None: the policy does
    /// not verify certificates, or no handshake).
    #[serde(default)]
    pub certificate_verified: Option<bool>,
    /// With -Connect: what the probe saw, one line.
    #[serde(default)]
    pub probe: Option<String>,
}

/// One rule of an outbound TLS policy decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyRule {
    pub name: String,
    /// This rule decided the policy.
    pub applies: bool,
    pub detail: String,
}

/// One policy domain's TLS report of a day (Get-TlsReport; field names
/// are the cmdlet's properties).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TlsReportInfo {
    /// The policy domain.
    pub domain: String,
    /// The UTC day, `YYYY-MM-DD`.
    pub date: String,
    pub report_id: String,
    /// `sts`, `tlsa`, `no-policy-found`: each policy type reported.
    pub policy_types: Vec<String>,
    pub successful_sessions: u64,
    pub failed_sessions: u64,
    /// `result-type (count)` per failure kind.
    pub failures: Vec<String>,
    /// Already sent (after the day ended): `<rua>` each.
    pub sent_to: Vec<String>,
    /// The RFC 8460 4.4 report as it would be sent (JSON text).
    pub json: String,
}

/// What Test-DomainSecurity found (field names are the cmdlet's
/// properties).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DomainSecurityReport {
    pub domain: String,
    /// Mail to the domain would go out Domain Secured (mutual TLS, chain
    /// to our roots, name matched) right now.
    pub domain_secured: bool,
    /// Why (or why not), one sentence.
    pub reason: String,
    /// What to change, when something is wrong.
    #[serde(default)]
    pub fix: Option<String>,
    #[serde(default)]
    pub send_connector: Option<String>,
    #[serde(default)]
    pub address_space: Option<String>,
    /// DomainSecure, Required, Opportunistic or Plaintext.
    #[serde(default)]
    pub tls_policy: Option<String>,
    /// Why that policy.
    #[serde(default)]
    pub policy_reason: Option<String>,
    pub in_secure_list: bool,
    pub domain_secure_enabled: bool,
    /// `name [ip, ...]` per next hop, in order.
    #[serde(default)]
    pub next_hops: Vec<String>,
    /// `name [ip:port]` of the host probed.
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub banner: Option<String>,
    pub starttls_offered: bool,
    pub client_certificate_presented: bool,
    #[serde(default)]
    pub tls_version: Option<String>,
    #[serde(default)]
    pub cipher: Option<String>,
    #[serde(default)]
    pub server_subject: Option<String>,
    #[serde(default)]
    pub server_issuer: Option<String>,
    #[serde(default)]
    pub server_thumbprint: Option<String>,
    /// The server's chain reaches one of our trusted roots.
    #[serde(default)]
    pub chain_valid: Option<bool>,
    /// The server certificate names the domain.
    #[serde(default)]
    pub name_matched: Option<bool>,
    /// Pass, Warning or Fail: Fail when DomainSecured is false; Warning
    /// when it is true but a step warns (a certificate expires within
    /// CertificateExpiryWarningDays).
    #[serde(default)]
    pub verdict: StepResult,
    /// Our certificate presented as the client certificate.
    #[serde(default)]
    pub client_certificate_thumbprint: Option<String>,
    #[serde(default)]
    pub client_certificate_not_after: Option<String>,
    /// Whole days until our certificate expires (negative: expired).
    #[serde(default)]
    pub client_certificate_days_left: Option<i64>,
    /// Whether our certificate can be a Domain Security client certificate
    /// (extended key usage absent or with Client Authentication; key usage
    /// absent or with Digital Signature).
    #[serde(default)]
    pub client_certificate_client_auth: Option<bool>,
    /// The partner's server certificate's NotAfter and days left.
    #[serde(default)]
    pub server_not_after: Option<String>,
    #[serde(default)]
    pub server_days_left: Option<i64>,
    /// Every step, in order.
    #[serde(default)]
    pub steps: Vec<ProbeStep>,
}

/// The result of one step of a Test- cmdlet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepResult {
    #[default]
    Pass,
    Warning,
    Fail,
}

impl StepResult {
    pub fn as_str(self) -> &'static str {
        match self {
            StepResult::Pass => "Pass",
            StepResult::Warning => "Warning",
            StepResult::Fail => "Fail",
        }
    }
}

/// One step of Test-DomainSecurity: what was checked, its result, and what
/// was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProbeStep {
    pub name: String,
    pub result: StepResult,
    pub detail: String,
}

impl DomainSecurityReport {
    /// Adds a step.
    pub fn step(&mut self, name: &str, result: StepResult, detail: impl Into<String>) {
        self.steps.push(ProbeStep {
            name: name.to_string(),
            result,
            detail: detail.into(),
        });
    }
}

/// Whose fault a failed request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The line is not a request this server understands.
    BadRequest,
    /// The client speaks another protocol version.
    UnsupportedVersion,
    /// No such queue or message.
    NotFound,
    /// The request is understood but not allowed in this state.
    Refused,
    /// The engine failed while acting (I/O).
    Failed,
}

/// Why a request could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nobody listens on the socket: the engine is not running.
    #[error("xshell-transport is not running (no control socket answers at {path})")]
    NotRunning {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("control socket {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The engine answered something this client does not understand.
    #[error("control socket {path}: {message}")]
    Protocol { path: PathBuf, message: String },
    /// The engine refused or failed the request.
    #[error("{message}")]
    Remote { kind: ErrorKind, message: String },
}

/// Sends one request to the engine listening at `socket` and returns its
/// answer. `timeout` bounds the connect, the write and the read.
pub fn call(socket: &Path, op: Op, timeout: Duration) -> Result<Answer, ClientError> {
    let io_err = |source| ClientError::Io {
        path: socket.to_path_buf(),
        source,
    };
    let stream = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(ClientError::NotRunning {
                path: socket.to_path_buf(),
                source: e,
            });
        }
        Err(e) => return Err(io_err(e)),
    };
    stream.set_read_timeout(Some(timeout)).map_err(io_err)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_err)?;
    let mut line = serde_json::to_vec(&Request::new(op)).map_err(|e| ClientError::Protocol {
        path: socket.to_path_buf(),
        message: format!("cannot encode the request: {e}"),
    })?;
    line.push(b'\n');
    (&stream).write_all(&line).map_err(io_err)?;
    let reply = read_line(&stream, MAX_LINE).map_err(io_err)?;
    let protocol = |message: String| ClientError::Protocol {
        path: socket.to_path_buf(),
        message,
    };
    let Some(reply) = reply else {
        return Err(protocol(
            "the engine closed the connection without answering".into(),
        ));
    };
    let reply: Reply = serde_json::from_slice(&reply)
        .map_err(|e| protocol(format!("the engine's reply is not understood: {e}")))?;
    match reply.outcome {
        Outcome::Ok { answer } => Ok(answer),
        Outcome::Error { kind, message } => Err(ClientError::Remote { kind, message }),
    }
}

/// Reads one `\n`-terminated line (without the newline) of at most `max`
/// bytes; `None` at end of stream before any byte.
pub fn read_line(r: impl Read, max: usize) -> io::Result<Option<Vec<u8>>> {
    let mut reader = BufReader::new(r.take(max as u64 + 1));
    let mut buf = Vec::new();
    let n = reader.read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    } else if buf.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("line longer than {max} bytes"),
        ));
    }
    Ok(Some(buf))
}

/// Which queues are suspended: `<queue>/queue-state.json`. Keys are
/// [`view::Hop::key`]s (lower-case next hops).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueState {
    #[serde(default)]
    pub version: u32,
    #[serde(default)]
    pub suspended: std::collections::BTreeSet<String>,
}

/// The queue state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum QueueStateError {
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not valid: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl QueueState {
    pub fn path(queue_dir: &Path) -> PathBuf {
        queue_dir.join(QUEUE_STATE_FILE)
    }

    /// Reads the state; a missing file means nothing is suspended.
    pub fn load(queue_dir: &Path) -> Result<QueueState, QueueStateError> {
        let path = Self::path(queue_dir);
        match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|source| QueueStateError::Corrupt {
                path: path.clone(),
                source,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(QueueState::default()),
            Err(source) => Err(QueueStateError::Io {
                op: "read",
                path,
                source,
            }),
        }
    }

    /// Whether the queue with this hop key is suspended.
    pub fn is_suspended(&self, key: &str) -> bool {
        self.suspended.contains(&key.to_ascii_lowercase())
    }

    /// Writes the state atomically and durably (temporary file, fsync,
    /// rename, directory fsync), mode 0600.
    pub fn save(&self, queue_dir: &Path) -> Result<(), QueueStateError> {
        let path = Self::path(queue_dir);
        let tmp = queue_dir.join(format!(".{QUEUE_STATE_FILE}.{}.tmp", std::process::id()));
        let io = |op: &'static str, p: &Path| {
            let p = p.to_path_buf();
            move |source| QueueStateError::Io {
                op,
                path: p,
                source,
            }
        };
        let mut state = self.clone();
        state.version = 1;
        let json =
            serde_json::to_vec_pretty(&state).map_err(|source| QueueStateError::Corrupt {
                path: path.clone(),
                source,
            })?;
        {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(io("create", &tmp))?;
            f.write_all(&json).map_err(io("write", &tmp))?;
            f.sync_all().map_err(io("fsync", &tmp))?;
        }
        fs::rename(&tmp, &path).map_err(io("rename over", &path))?;
        File::open(queue_dir)
            .and_then(|d| d.sync_all())
            .map_err(io("fsync", queue_dir))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn requests_and_replies_round_trip_as_one_line() {
        let ops = [
            Op::Ping,
            Op::GetQueue,
            Op::GetMessage {
                id: None,
                queue: Some("MAIL\\b.example".into()),
            },
            Op::RetryQueue {
                identity: "b.example".into(),
            },
            Op::SuspendQueue {
                identity: "b.example".into(),
            },
            Op::ResumeQueue {
                identity: "b.example".into(),
            },
            Op::RemoveMessage {
                id: "0123".into(),
                with_ndr: true,
            },
        ];
        for op in ops {
            let line = serde_json::to_string(&Request::new(op.clone())).unwrap();
            assert!(!line.contains('\n'));
            let back: Request = serde_json::from_str(&line).unwrap();
            assert_eq!(back.request, op);
            assert_eq!(back.version, PROTOCOL_VERSION);
        }
        let r = Reply::error(ErrorKind::NotFound, "no such queue");
        let line = serde_json::to_string(&r).unwrap();
        assert_eq!(
            line,
            r#"{"version":1,"outcome":{"status":"error","kind":"not_found","message":"no such queue"}}"#
        );
        let r = Reply::ok(Answer::Done {
            affected: 2,
            message: "ok".into(),
        });
        let back: Reply = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        // An op this build does not know is a parse error, not a panic.
        assert!(
            serde_json::from_str::<Request>(r#"{"version":1,"request":{"op":"frobnicate"}}"#)
                .is_err()
        );
    }

    #[test]
    fn read_line_bounds_the_length() {
        assert_eq!(read_line(&b"abc\ndef"[..], 10).unwrap().unwrap(), b"abc");
        assert_eq!(read_line(&b""[..], 10).unwrap(), None);
        assert!(read_line(&b"0123456789abc\n"[..], 10).is_err());
        assert_eq!(read_line(&b"tail"[..], 10).unwrap().unwrap(), b"tail");
    }

    #[test]
    fn queue_state_persists() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(QueueState::load(t.path()).unwrap(), QueueState::default());
        let mut s = QueueState::default();
        s.suspended.insert("b.example".into());
        s.save(t.path()).unwrap();
        let back = QueueState::load(t.path()).unwrap();
        assert!(back.is_suspended("B.Example"));
        assert!(!back.is_suspended("c.example"));
        fs::write(QueueState::path(t.path()), "{").unwrap();
        assert!(QueueState::load(t.path()).is_err());
    }
}
