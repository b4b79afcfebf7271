//! The message tracking log: one JSON object per line, per event
//! (`RECEIVE`, `DELIVER`, `SEND`, `DEFER`, `FAIL`, `DSN`), with the TLS
//! facts that prove how a message moved.
//!
//! Inbound events carry the client's TLS facts (`peer_certificate_*` is the
//! client certificate). Outbound events (`SEND`, `DEFER`, `FAIL` from the
//! queue runner) carry the next hop's: `remote_host`, `reply`, the TLS
//! version and cipher, `peer_certificate_*` for the server certificate,
//! `verified_name` (the name the server certificate was verified against)
//! and `domain_secured` (delivered under Domain Security: mutual TLS, chain
//! to a trusted root, the partner domain verified). `DSN` names the
//! notification's own queue id in `detail`.
//!
//! What the sender asked of delivery status notifications (RFC 3461) is
//! recorded on `RECEIVE` and on the outbound events: `dsn_ret` (RET),
//! `dsn_envid` (ENVID, decoded), and per recipient, in the order of
//! `recipients`, `dsn_notify` (NOTIFY, `DEFAULT` when not given) and
//! `dsn_orcpt` (ORCPT, decoded; empty when not given). `SEND` adds
//! `dsn_passed_on`: the next hop offered DSN and got the parameters
//! (otherwise a NOTIFY=SUCCESS recipient gets a `relayed` report from us).
//!
//! Say why: the outbound events carry `tls_policy`, the TLS policy that
//! applied to the next hop, and `tls_policy_reason`, when the message went
//! without verified TLS or was held, why in one line
//! ([`crate::outbound::why`]).
//!
//! The file is opened with `O_APPEND` and every line is written with one
//! `write` call, so lines from concurrent writers (threads, or a second
//! process) never interleave.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use xshell_smtp::TlsFacts;

/// A tracking event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EventId {
    #[serde(rename = "RECEIVE")]
    Receive,
    #[serde(rename = "DELIVER")]
    Deliver,
    #[serde(rename = "FAIL")]
    Fail,
    #[serde(rename = "SEND")]
    Send,
    #[serde(rename = "DEFER")]
    Defer,
    #[serde(rename = "DSN")]
    Dsn,
}

/// One line of the log.
#[derive(Debug, Clone, Serialize)]
pub struct TrackingEvent {
    /// RFC 3339, UTC.
    pub time: String,
    pub event_id: EventId,
    /// The queue id.
    pub internal_message_id: String,
    /// The Message-ID header, if the message has one.
    pub message_id: Option<String>,
    /// The Subject header, as written, if the message has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_subject: Option<String>,
    pub sender: String,
    pub recipients: Vec<String>,
    pub client_ip: Option<IpAddr>,
    pub connector: Option<String>,
    pub tls_version: Option<String>,
    pub tls_cipher: Option<String>,
    /// The client certificate's subject, if one was presented.
    pub peer_certificate_subject: Option<String>,
    pub peer_certificate_issuer: Option<String>,
    /// The client certificate chains to a trusted root.
    pub peer_certificate_verified: bool,
    pub direct_trust: bool,
    pub auth_as: Option<String>,
    pub auth_domain: Option<String>,
    /// Where it went (DELIVER: the Maildir file) or why not (FAIL).
    pub detail: Option<String>,
    /// Outbound: the send connector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_connector: Option<String>,
    /// Outbound: the next-hop domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_hop_domain: Option<String>,
    /// Outbound: the host (and address) that answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_host: Option<String>,
    /// Outbound: the reply that decided (remote or synthesized).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// Outbound: the name the server certificate was verified against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_name: Option<String>,
    /// Outbound: sent under Domain Security.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain_secured: Option<bool>,
    /// Outbound: delivery attempts so far, this one included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// RFC 3461 RET (`FULL`, `HDRS`), when the sender gave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dsn_ret: Option<String>,
    /// RFC 3461 ENVID (decoded), when the sender gave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dsn_envid: Option<String>,
    /// RFC 3461 NOTIFY per recipient (`DEFAULT` when not given); only
    /// when some recipient has NOTIFY or ORCPT.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dsn_notify: Vec<String>,
    /// RFC 3461 ORCPT per recipient (decoded; empty when not given).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dsn_orcpt: Vec<String>,
    /// Outbound (SEND): the next hop offered DSN, and the parameters were
    /// passed on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dsn_passed_on: Option<bool>,
    /// Outbound: the TLS policy that applied to the next hop
    /// (`DomainSecure`, `DANE`, `MTA-STS enforce`, `MTA-STS testing`,
    /// `RequireTLS`, `REQUIRETLS`, `Opportunistic`, `None`); absent when
    /// no policy was decided (no route).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_policy: Option<String>,
    /// Outbound: when the message went without verified TLS or was held,
    /// why, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_policy_reason: Option<String>,
}

impl TrackingEvent {
    /// An event stamped now, TLS facts filled from `tls`.
    pub fn new(event_id: EventId, internal_message_id: String, tls: Option<&TlsFacts>) -> Self {
        let now = OffsetDateTime::now_utc();
        let cert = tls.and_then(|t| t.client_certificate.as_ref());
        TrackingEvent {
            time: now.format(&Rfc3339).unwrap_or_else(|_| now.to_string()),
            event_id,
            internal_message_id,
            message_id: None,
            message_subject: None,
            sender: String::new(),
            recipients: Vec::new(),
            client_ip: None,
            connector: None,
            tls_version: tls.map(|t| t.protocol.clone()),
            tls_cipher: tls.map(|t| t.cipher.clone()),
            peer_certificate_subject: cert.map(|c| c.subject.clone()),
            peer_certificate_issuer: cert.map(|c| c.issuer.clone()),
            peer_certificate_verified: cert.is_some_and(|c| c.chain_verified),
            direct_trust: cert.is_some_and(|c| c.direct_trust),
            auth_as: None,
            auth_domain: None,
            detail: None,
            send_connector: None,
            next_hop_domain: None,
            remote_host: None,
            reply: None,
            verified_name: None,
            domain_secured: None,
            attempts: None,
            dsn_ret: None,
            dsn_envid: None,
            dsn_notify: Vec::new(),
            dsn_orcpt: Vec::new(),
            dsn_passed_on: None,
            tls_policy: None,
            tls_policy_reason: None,
        }
    }

    /// Fills the DSN fields from the queue envelope, for this event's
    /// `recipients` (set them first).
    pub fn dsn_from(&mut self, e: &crate::queue::Envelope) {
        self.dsn_ret = e.ret.map(|r| r.as_str().to_string());
        self.dsn_envid = e.envid.as_deref().map(xshell_smtp::command::xtext_decode);
        let of = |a: &String| {
            e.recipients
                .iter()
                .find(|r| r.address.eq_ignore_ascii_case(a))
        };
        if self
            .recipients
            .iter()
            .filter_map(of)
            .any(|r| r.notify.is_some() || r.orcpt.is_some())
        {
            self.dsn_notify = self
                .recipients
                .iter()
                .map(|a| {
                    of(a)
                        .and_then(|r| r.notify)
                        .map_or_else(|| "DEFAULT".to_string(), |n| n.to_string())
                })
                .collect();
            self.dsn_orcpt = self
                .recipients
                .iter()
                .map(|a| {
                    of(a)
                        .and_then(|r| r.orcpt.as_deref())
                        .map(xshell_smtp::command::xtext_decode)
                        .unwrap_or_default()
                })
                .collect();
        }
    }
}

/// Why the log could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TrackingError {
    #[error("tracking log: cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("tracking log: cannot encode an event: {0}")]
    Encode(#[from] serde_json::Error),
}

/// A process killed inside its `write` can leave a last line without its
/// newline; the next line appended would then be glued to it and lost to
/// every reader. Ends such a line, so only the torn event is unreadable.
fn terminate_torn_line(mut file: &File) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    if file.metadata()?.len() == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::End(-1))?;
    file.read_exact(&mut last)?;
    if last[0] != b'\n' {
        // O_APPEND: this goes to the end whatever the offset.
        file.write_all(b"\n")?;
    }
    Ok(())
}

/// The open log (or a disabled one).
#[derive(Debug)]
pub struct TrackingLog {
    path: Option<PathBuf>,
    file: Option<Mutex<File>>,
}

impl TrackingLog {
    /// Opens (creating) the log at `path`; `None` disables tracking.
    pub fn open(path: Option<&Path>) -> Result<TrackingLog, TrackingError> {
        let Some(path) = path else {
            return Ok(TrackingLog {
                path: None,
                file: None,
            });
        };
        let io = |op, p: &Path| {
            let p = p.to_path_buf();
            move |source| TrackingError::Io {
                op,
                path: p,
                source,
            }
        };
        if let Some(parent) = path.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(io("create folder", parent))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .mode(0o600)
            .open(path)
            .map_err(io("open", path))?;
        terminate_torn_line(&file).map_err(io("repair the last line of", path))?;
        Ok(TrackingLog {
            path: Some(path.to_path_buf()),
            file: Some(Mutex::new(file)),
        })
    }

    /// The log file, if tracking is on.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Appends one event as one line (one `write`).
    pub fn write(&self, event: &TrackingEvent) -> Result<(), TrackingError> {
        let (Some(file), Some(path)) = (&self.file, &self.path) else {
            return Ok(());
        };
        let mut line = serde_json::to_vec(event)?;
        line.push(b'\n');
        let f = file.lock().unwrap_or_else(|p| p.into_inner());
        // O_APPEND: the offset is the end of file at each write; a regular
        // file write of this size is complete or fails.
        let n = (&*f).write(&line).map_err(|source| TrackingError::Io {
            op: "append to",
            path: path.clone(),
            source,
        })?;
        if n != line.len() {
            return Err(TrackingError::Io {
                op: "append to",
                path: path.clone(),
                source: io::Error::new(io::ErrorKind::WriteZero, "short write"),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> TrackingEvent {
        TrackingEvent::new(EventId::Receive, id.to_string(), None)
    }

    #[test]
    fn a_torn_last_line_does_not_swallow_the_next_event() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log").join("tracking.jsonl");
        let log = TrackingLog::open(Some(&path)).expect("open");
        log.write(&event("first")).expect("write");
        drop(log);
        // a process killed in the middle of its write
        let mut f = OpenOptions::new().append(true).open(&path).expect("reopen");
        f.write_all(br#"{"time":"2026-01-01T00:00:00Z","event_id":"REC"#)
            .expect("torn");
        drop(f);

        let log = TrackingLog::open(Some(&path)).expect("open again");
        log.write(&event("second")).expect("write");
        let text = fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let ids: Vec<String> = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| v["internal_message_id"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(ids, ["first", "second"], "{text}");

        // an intact log is left alone
        drop(log);
        let before = fs::read(&path).expect("read");
        TrackingLog::open(Some(&path)).expect("open intact");
        assert_eq!(fs::read(&path).expect("read"), before);
    }
}
