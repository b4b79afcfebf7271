//! A read-only reader of the transport's queue folder.
//!
//! The engine owns the queue (`transport/src/queue`); this reader knows
//! just enough of its format to show it, and defines that format (the
//! engine writes it with [`record_header`]): one file per message,
//! `<queue>/active/<id>`, holding a header line
//! `xshell-queue 1 <envelope length>\n`, the envelope as it was at
//! acceptance (`{"version","id","size","envelope":{"sender","recipients":
//! [{"address","status":{"state",...}}],"received_at_ms","attempts",
//! "next_retry_ms",...}}`, possibly followed by spaces: the engine
//! reserves the envelope's place while it streams the message and writes
//! the envelope over it at the end), then the message bytes; and, once the state
//! changed, `<id>.state` holding the current envelope (same JSON), which
//! takes precedence. It never writes,
//! renames or removes anything, so it is safe while the engine runs and
//! while it is stopped: an envelope that vanishes between listing and
//! reading is skipped, one that does not parse is counted in
//! [`Spool::unreadable`]. Unknown fields are ignored, so the engine may
//! add fields freely. tests/ops_queue.rs checks it against envelopes the
//! engine's queue wrote.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A recipient's state, as the engine recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientState {
    Pending,
    Delivered,
    Deferred(String),
    Failed(String),
    /// A state this reader does not know.
    Other(String),
}

impl RecipientState {
    /// Nothing more will be attempted.
    pub fn is_final(&self) -> bool {
        matches!(self, RecipientState::Delivered | RecipientState::Failed(_))
    }
}

/// One queued message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolMessage {
    /// The queue id (26 hex digits).
    pub id: String,
    pub size: u64,
    /// The reverse path; empty for the null sender.
    pub sender: String,
    pub recipients: Vec<(String, RecipientState)>,
    pub received_at_ms: u64,
    pub attempts: u32,
    pub next_retry_ms: Option<u64>,
    /// The receive connector that accepted it.
    pub connector: Option<String>,
    /// The BODY parameter it was received with (`8BITMIME`,
    /// `BINARYMIME`, ...), when one was given.
    pub body: Option<String>,
    /// What the sender asked of delivery status notifications (RFC 3461).
    pub dsn: SpoolDsn,
    /// Received with REQUIRETLS (RFC 8689).
    pub requiretls: bool,
    /// Per recipient address that was attempted: the TLS policy of its
    /// last attempt and why it went without verified TLS or was held
    /// (say why; absent in records written before these were kept).
    pub tls_policies: Vec<(String, Option<String>, Option<String>)>,
}

impl SpoolMessage {
    /// TLS policy and its reason of this recipient's last attempt.
    pub fn tls_policy(&self, address: &str) -> (Option<&str>, Option<&str>) {
        self.tls_policies
            .iter()
            .find(|(a, _, _)| a.eq_ignore_ascii_case(address))
            .map_or((None, None), |(_, p, r)| (p.as_deref(), r.as_deref()))
    }
}

/// The RFC 3461 requests of a queued message, as the engine keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolDsn {
    /// RET: `FULL` or `HDRS`.
    pub ret: Option<String>,
    /// ENVID, xtext-decoded.
    pub envid: Option<String>,
    /// Per recipient address: NOTIFY (`NEVER` or e.g. `SUCCESS,FAILURE`)
    /// and ORCPT (`addr-type;address`, xtext-decoded).
    pub recipients: Vec<(String, Option<String>, Option<String>)>,
}

impl SpoolDsn {
    /// NOTIFY and ORCPT of this recipient.
    pub fn recipient(&self, address: &str) -> (Option<&str>, Option<&str>) {
        self.recipients
            .iter()
            .find(|(a, _, _)| a.eq_ignore_ascii_case(address))
            .map_or((None, None), |(_, n, o)| (n.as_deref(), o.as_deref()))
    }
}

/// Decodes RFC 3461 xtext (`+XX` escapes).
pub fn xtext_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'+'
            && let Some(n) = v
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(n);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the queue folder holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spool {
    /// In id (arrival) order.
    pub messages: Vec<SpoolMessage>,
    /// Envelopes that could not be parsed (or read).
    pub unreadable: usize,
}

#[derive(Deserialize)]
struct RawRecord {
    id: String,
    #[serde(default)]
    size: u64,
    envelope: RawEnvelope,
}

#[derive(Deserialize)]
struct RawEnvelope {
    #[serde(default)]
    sender: String,
    #[serde(default)]
    recipients: Vec<RawRecipient>,
    #[serde(default)]
    received_at_ms: u64,
    #[serde(default)]
    attempts: u32,
    #[serde(default)]
    next_retry_ms: Option<u64>,
    #[serde(default)]
    connector: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    ret: Option<String>,
    #[serde(default)]
    envid: Option<String>,
    #[serde(default)]
    requiretls: bool,
}

#[derive(Deserialize)]
struct RawRecipient {
    address: String,
    status: RawStatus,
    #[serde(default)]
    notify: Option<String>,
    #[serde(default)]
    orcpt: Option<String>,
    #[serde(default)]
    tls_policy: Option<String>,
    #[serde(default)]
    tls_policy_reason: Option<String>,
}

#[derive(Deserialize)]
struct RawStatus {
    state: String,
    #[serde(default)]
    reason: Option<String>,
}

impl From<RawStatus> for RecipientState {
    fn from(s: RawStatus) -> Self {
        let reason = s.reason.unwrap_or_default();
        match s.state.as_str() {
            "pending" => RecipientState::Pending,
            "delivered" => RecipientState::Delivered,
            "deferred" => RecipientState::Deferred(reason),
            "failed" => RecipientState::Failed(reason),
            _ => RecipientState::Other(s.state),
        }
    }
}

/// Whether `s` is a queue id (26 lower-case hex digits): safe as a file name.
pub fn is_message_id(s: &str) -> bool {
    s.len() == 26 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn active(queue_dir: &Path) -> PathBuf {
    queue_dir.join("active")
}

/// What a queue record's header line starts with.
pub const RECORD_MAGIC: &[u8] = b"xshell-queue 1 ";
/// The suffix of a message's state file (`<id>.state`).
pub const STATE_SUFFIX: &str = ".state";
/// Longest header line accepted.
const RECORD_HEADER_MAX: usize = 64;

/// The header line of a record whose envelope is `envelope_len` octets.
pub fn record_header(envelope_len: usize) -> Vec<u8> {
    let mut h = RECORD_MAGIC.to_vec();
    h.extend_from_slice(envelope_len.to_string().as_bytes());
    h.push(b'\n');
    h
}

/// Parses the header line at the start of `head`: the header's length and
/// the envelope's, or `None` when `head` does not start with one.
pub fn parse_record_header(head: &[u8]) -> Option<(usize, usize)> {
    let rest = head.strip_prefix(RECORD_MAGIC)?;
    let window = &rest[..rest.len().min(RECORD_HEADER_MAX)];
    let nl = window.iter().position(|&b| b == b'\n')?;
    let digits = &window[..nl];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let len: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((RECORD_MAGIC.len() + nl + 1, len))
}

/// The start of a record file: its envelope JSON and where the message
/// bytes begin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHead {
    pub envelope: Vec<u8>,
    /// Offset of the message bytes in the file.
    pub body_offset: u64,
    /// Length of the whole file.
    pub file_len: u64,
}

fn invalid(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

/// Reads the header and envelope of a record file (not the message).
///
/// Holds a shared lock on the file while reading: the engine reuses the
/// files of removed records for new ones, and never while a reader holds
/// one (a reader still checks the id in the envelope, as the file may have
/// been reused before it was opened).
pub fn read_record_head(path: &Path) -> io::Result<RecordHead> {
    let f = File::open(path)?;
    f.lock_shared()?;
    read_record_head_of(path, &f)
}

/// [`read_record_head`] of a record the caller has opened (and locked),
/// read from its start; `path` only names it in errors.
pub fn read_record_head_of(path: &Path, file: &File) -> io::Result<RecordHead> {
    let mut f = file;
    f.seek(SeekFrom::Start(0))?;
    let file_len = f.metadata()?.len();
    let mut buf = Vec::with_capacity(4096);
    f.take(4096).read_to_end(&mut buf)?;
    let (header, len) =
        parse_record_header(&buf).ok_or_else(|| invalid(path, "not a queue record"))?;
    let end = header
        .checked_add(len)
        .filter(|&e| e as u64 <= file_len)
        .ok_or_else(|| invalid(path, "shorter than its envelope (torn)"))?;
    if buf.len() < end {
        let have = buf.len();
        buf.resize(end, 0);
        f.read_exact(&mut buf[have..])?;
    }
    buf.truncate(end);
    buf.drain(..header);
    Ok(RecordHead {
        envelope: buf,
        body_offset: end as u64,
        file_len,
    })
}

/// Reads every envelope in `<queue_dir>/active`. A missing folder is an
/// empty queue.
pub fn read(queue_dir: &Path) -> io::Result<Spool> {
    let dir = active(queue_dir);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Spool::default()),
        Err(e) => return Err(e),
    };
    let mut ids = Vec::new();
    for entry in entries {
        let name = entry?.file_name();
        if let Some(name) = name.to_str()
            && is_message_id(name)
        {
            ids.push(name.to_string());
        }
    }
    ids.sort();
    let mut spool = Spool::default();
    for id in ids {
        match read_one(queue_dir, &id) {
            Ok(Some(m)) => spool.messages.push(m),
            Ok(None) => {}
            Err(_) => spool.unreadable += 1,
        }
    }
    Ok(spool)
}

/// One envelope by id; `None` when it is not (or no longer) queued.
pub fn read_one(queue_dir: &Path, id: &str) -> io::Result<Option<SpoolMessage>> {
    if !is_message_id(id) {
        return Ok(None);
    }
    let record = active(queue_dir).join(id);
    let state = active(queue_dir).join(format!("{id}{STATE_SUFFIX}"));
    let (path, bytes) = match fs::read(&state) {
        Ok(b) => (state, b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => match read_record_head(&record) {
            Ok(h) => (record.clone(), h.envelope),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        },
        Err(e) => return Err(e),
    };
    if !record.exists() {
        // completed since (its state file goes last)
        return Ok(None);
    }
    let raw: RawRecord = serde_json::from_slice(&bytes)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    if raw.id != id {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} names message {}", path.display(), raw.id),
        ));
    }
    let e = raw.envelope;
    let dsn = SpoolDsn {
        ret: e.ret,
        envid: e.envid.as_deref().map(xtext_decode),
        recipients: e
            .recipients
            .iter()
            .filter(|r| r.notify.is_some() || r.orcpt.is_some())
            .map(|r| {
                (
                    r.address.clone(),
                    r.notify.clone(),
                    r.orcpt.as_deref().map(xtext_decode),
                )
            })
            .collect(),
    };
    let tls_policies = e
        .recipients
        .iter()
        .filter(|r| r.tls_policy.is_some() || r.tls_policy_reason.is_some())
        .map(|r| {
            (
                r.address.clone(),
                r.tls_policy.clone(),
                r.tls_policy_reason.clone(),
            )
        })
        .collect();
    Ok(Some(SpoolMessage {
        id: raw.id,
        size: raw.size,
        sender: e.sender,
        recipients: e
            .recipients
            .into_iter()
            .map(|r| (r.address, r.status.into()))
            .collect(),
        received_at_ms: e.received_at_ms,
        attempts: e.attempts,
        next_retry_ms: e.next_retry_ms,
        connector: e.connector,
        body: e.body,
        dsn,
        requiretls: e.requiretls,
        tls_policies,
    }))
}

/// Headers worth showing, from the start of a queued message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageHeaders {
    pub subject: Option<String>,
    pub message_id: Option<String>,
}

/// How much of a message is read for its headers.
const HEADER_LIMIT: u64 = 64 * 1024;

/// Subject and Message-ID of the message in `<queue>/active/<id>` (unfolded, raw:
/// encoded words are not decoded). Missing file: no headers.
pub fn read_headers(queue_dir: &Path, id: &str) -> MessageHeaders {
    if !is_message_id(id) {
        return MessageHeaders::default();
    }
    let path = active(queue_dir).join(id);
    let mut buf = Vec::new();
    let ok = File::open(&path)
        .and_then(|f| {
            f.lock_shared()?;
            let h = read_record_head_of(&path, &f)?;
            let named = serde_json::from_slice::<RawRecord>(&h.envelope).is_ok_and(|r| r.id == id);
            if !named {
                return Err(invalid(&path, "names another message"));
            }
            let mut r = &f;
            r.seek(SeekFrom::Start(h.body_offset))?;
            r.take(HEADER_LIMIT).read_to_end(&mut buf)
        })
        .is_ok();
    if !ok {
        return MessageHeaders::default();
    }
    parse_headers(&buf)
}

/// Subject and Message-ID from a message's header section.
pub fn parse_headers(message: &[u8]) -> MessageHeaders {
    let text = String::from_utf8_lossy(message);
    let mut out = MessageHeaders::default();
    let mut current: Option<(String, String)> = None;
    let finish = |h: Option<(String, String)>, out: &mut MessageHeaders| {
        if let Some((name, value)) = h {
            let value = value.trim().to_string();
            if name.eq_ignore_ascii_case("subject") && out.subject.is_none() {
                out.subject = Some(value);
            } else if name.eq_ignore_ascii_case("message-id") && out.message_id.is_none() {
                out.message_id = Some(value);
            }
        }
    };
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = current.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        finish(current.take(), &mut out);
        current = line
            .split_once(':')
            .map(|(n, v)| (n.trim().to_string(), v.to_string()));
    }
    finish(current, &mut out);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ID: &str = "0192a3b4c5d6000001deadbeef";

    #[test]
    fn reads_envelopes_and_skips_what_it_cannot() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(read(t.path()).unwrap(), Spool::default());
        let a = t.path().join("active");
        fs::create_dir_all(&a).unwrap();
        fs::write(a.join(ID), record(ID, b"Subject: s\r\n\r\nx")).unwrap();
        fs::write(
            a.join(format!("{ID}.state")),
            format!(
                r#"{{"version":1,"id":"{ID}","size":12,"envelope":{{"sender":"a@x.example",
                "recipients":[{{"address":"b@y.example","status":{{"state":"pending"}}}},
                {{"address":"c@y.example","status":{{"state":"deferred","reason":"451 busy"}},
                "tls_policy":"RequireTLS","tls_policy_reason":"x did not offer STARTTLS; held"}},
                {{"address":"d@y.example","status":{{"state":"delivered","at_ms":1,"detail":"x"}}}}],
                "received_at_ms":5,"attempts":2,"next_retry_ms":99,"future_field":true}}}}"#
            ),
        )
        .unwrap();
        fs::write(
            a.join("0192a3b4c5d6000002deadbeef"),
            [&record_header(9)[..], b"{not json"].concat(),
        )
        .unwrap();
        fs::write(a.join("notes.json"), "ignored").unwrap();
        fs::write(a.join("0192a3b4c5d6000003deadbeef.state"), "{}").unwrap();
        let s = read(t.path()).unwrap();
        assert_eq!(s.unreadable, 1);
        assert_eq!(s.messages.len(), 1);
        let m = &s.messages[0];
        assert_eq!(m.sender, "a@x.example");
        assert_eq!(m.attempts, 2);
        assert_eq!(m.next_retry_ms, Some(99));
        assert_eq!(
            m.recipients[1].1,
            RecipientState::Deferred("451 busy".into())
        );
        assert!(m.recipients[2].1.is_final());
        // say why: kept per recipient; a recipient (or an older record)
        // without them has none
        assert_eq!(
            m.tls_policy("C@y.example"),
            (Some("RequireTLS"), Some("x did not offer STARTTLS; held"))
        );
        assert_eq!(m.tls_policy("b@y.example"), (None, None));
        assert_eq!(read_one(t.path(), "../../etc/passwd").unwrap(), None);
        assert_eq!(
            read_headers(t.path(), ID).subject.as_deref(),
            Some("s"),
            "headers come from after the envelope"
        );
    }

    fn record(id: &str, body: &[u8]) -> Vec<u8> {
        let env = format!(
            r#"{{"version":1,"id":"{id}","size":{},"envelope":{{"sender":"old@x.example","recipients":[]}}}}"#,
            body.len()
        );
        let mut r = record_header(env.len());
        r.extend_from_slice(env.as_bytes());
        r.extend_from_slice(body);
        r
    }

    #[test]
    fn record_headers_parse_back_and_torn_records_are_refused() {
        let h = record_header(123);
        assert_eq!(h, b"xshell-queue 1 123\n");
        assert_eq!(parse_record_header(&h), Some((h.len(), 123)));
        for bad in [
            &b"xshell-queue 1 \n"[..],
            b"xshell-queue 1 12x\n",
            b"xshell-queue 2 12\n",
            b"xshell-queue 1 12",
            b"",
        ] {
            assert_eq!(parse_record_header(bad), None, "{bad:?}");
        }
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("r");
        let mut whole = record_header(4);
        whole.extend_from_slice(b"{}{}body");
        fs::write(&p, &whole).unwrap();
        let head = read_record_head(&p).unwrap();
        assert_eq!(head.envelope, b"{}{}");
        assert_eq!(head.body_offset as usize, whole.len() - 4);
        fs::write(&p, &whole[..whole.len() - 6]).unwrap();
        assert_eq!(
            read_record_head(&p).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        // a big envelope (more than the first read) is read whole
        let big = format!("{{\"x\":\"{}\"}}", "y".repeat(10_000));
        let mut r = record_header(big.len());
        r.extend_from_slice(big.as_bytes());
        fs::write(&p, &r).unwrap();
        assert_eq!(read_record_head(&p).unwrap().envelope, big.as_bytes());
    }

    #[test]
    fn headers_are_unfolded_and_stop_at_the_body() {
        let h = parse_headers(
            b"From: a@x\r\nSubject: hello\r\n  world\r\nMessage-ID: <1@x>\r\n\r\nSubject: body\r\n",
        );
        assert_eq!(h.subject.as_deref(), Some("hello world"));
        assert_eq!(h.message_id.as_deref(), Some("<1@x>"));
        assert_eq!(parse_headers(b"\r\nSubject: x").subject, None);
    }
}
