//! Protocol logs, as Exchange keeps them: the SMTP conversation of every
//! session on a connector with `ProtocolLoggingLevel Verbose`, as CSV.
//!
//! ```text
//! #Software: xshell-transport 0.1.0
//! #Version: 15.0.0.0
//! #Log-type: SMTP Receive Protocol Log
//! #Date: 2026-12-07T16:49:32.123Z
//! #Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context
//! 2026-12-07T16:49:32.123Z,XSHELL01\Inbound,08DE1A2B3C4D5E6F,0,127.0.0.1:25,127.0.0.1:40512,+,,
//! 2026-12-07T16:49:32.124Z,XSHELL01\Inbound,08DE1A2B3C4D5E6F,1,127.0.0.1:25,127.0.0.1:40512,>,220 mx ESMTP ready,
//! ```
//!
//! Events: `+` connect, `-` disconnect, `>` sent, `<` received, `*`
//! information (TLS, certificates, the authentication verdict). The
//! session id is 16 hex digits, unique per session; sequence numbers
//! count per session from 0. What the sessions record comes from their
//! transcripts ([`xshell_smtp::transcript`]): never message content,
//! never an AUTH secret.
//!
//! Files: `RECV<yyyymmddhh>-<n>.LOG` (receive) and `SEND...` (send) in
//! their folders. A new file starts every hour (UTC) and whenever the
//! current one has reached MaxFileSize; each time a file is started, files
//! older than MaxAge are deleted, then the oldest until the folder is
//! within MaxDirectorySize. Writing goes through a buffer, flushed at the
//! end of each session, within about a second of any write (the engine
//! flushes what waited that long), and when it fills: a crash may lose the last lines, never earlier ones
//! (lines are only ever appended). A log that cannot be written never
//! fails a session: the engine's log says why, once.

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use xshell_smtp::transcript::{Direction, TranscriptLine};

/// The two logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    Receive,
    Send,
}

impl LogKind {
    fn prefix(self) -> &'static str {
        match self {
            LogKind::Receive => "RECV",
            LogKind::Send => "SEND",
        }
    }
    fn log_type(self) -> &'static str {
        match self {
            LogKind::Receive => "SMTP Receive Protocol Log",
            LogKind::Send => "SMTP Send Protocol Log",
        }
    }
    /// The default folder under the store's log folder.
    pub fn default_folder(self, log_dir: &Path) -> PathBuf {
        let leaf = match self {
            LogKind::Receive => "SmtpReceive",
            LogKind::Send => "SmtpSend",
        };
        log_dir.join("ProtocolLog").join(leaf)
    }
}

/// Where one log goes and how much of it is kept (compiled from the
/// transport service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub dir: PathBuf,
    /// Files older than this are deleted; `None`: kept regardless of age.
    pub max_age: Option<Duration>,
    /// `None`: unlimited.
    pub max_directory_size: Option<u64>,
    /// `None`: unlimited (a new file only every hour).
    pub max_file_size: Option<u64>,
}

/// An event of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Connect,
    Disconnect,
    Sent,
    Received,
    Information,
}

impl Event {
    fn symbol(self) -> char {
        match self {
            Event::Connect => '+',
            Event::Disconnect => '-',
            Event::Sent => '>',
            Event::Received => '<',
            Event::Information => '*',
        }
    }
}

/// Why a log file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("protocol log: cannot {op} {path}: {source}")]
pub struct ProtocolLogError {
    op: &'static str,
    path: PathBuf,
    #[source]
    source: io::Error,
}

/// The time source (a fake one in tests).
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> OffsetDateTime;
}

/// The system clock, UTC.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// ISO 8601 UTC with milliseconds: `2026-12-07T16:49:32.123Z`.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

fn hour_key(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour()
    )
}

/// A CSV field: quoted when it holds a comma, a quote or a line break.
fn csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\r', '\n']) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\"\""),
                '\r' | '\n' => out.push(' '),
                c => out.push(c),
            }
        }
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// A session id: 16 upper-case hex digits, unique per session (a
/// counter from the engine's start time in 100 ns ticks, as Exchange's
/// look).
pub fn new_session_id() -> String {
    static BASE: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = *BASE.get_or_init(|| {
        let ticks = OffsetDateTime::now_utc().unix_timestamp_nanos() / 100;
        u64::try_from(ticks).unwrap_or_default()
    });
    format!(
        "{:016X}",
        base.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
    )
}

/// The engine's two logs.
#[derive(Debug)]
pub struct ProtocolLogs {
    pub receive: Arc<ProtocolLog>,
    pub send: Arc<ProtocolLog>,
}

impl Default for ProtocolLogs {
    fn default() -> Self {
        ProtocolLogs {
            receive: Arc::new(ProtocolLog::new(LogKind::Receive)),
            send: Arc::new(ProtocolLog::new(LogKind::Send)),
        }
    }
}

struct Current {
    path: PathBuf,
    hour: String,
    size: u64,
    writer: BufWriter<File>,
}

struct Inner {
    settings: Option<LogSettings>,
    current: Option<Current>,
    last_flush: Instant,
    /// The last error reported, so that a broken folder is logged once.
    last_error: Option<String>,
}

/// One protocol log (receive or send), shared by the sessions that write
/// to it. The settings come with each write, so the log follows store
/// changes (a new folder or new limits take effect at the next write).
pub struct ProtocolLog {
    kind: LogKind,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for ProtocolLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProtocolLog")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// How long written lines may sit in the buffer while sessions write.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

impl ProtocolLog {
    pub fn new(kind: LogKind) -> Self {
        Self::with_clock(kind, Arc::new(SystemClock))
    }

    pub fn with_clock(kind: LogKind, clock: Arc<dyn Clock>) -> Self {
        ProtocolLog {
            kind,
            clock,
            inner: Mutex::new(Inner {
                settings: None,
                current: None,
                last_flush: Instant::now(),
                last_error: None,
            }),
        }
    }

    pub fn kind(&self) -> LogKind {
        self.kind
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Appends `records` (whole CSV lines) under `settings`.
    pub fn append(&self, settings: &LogSettings, records: &str) {
        if records.is_empty() {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let result = self.append_locked(&mut inner, settings, records);
        self.report(&mut inner, result);
    }

    /// Writes what is buffered when it has waited a second or more (the
    /// engine calls this periodically, so that the last lines of an idle
    /// session reach the file too).
    pub fn flush_if_due(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let pending = inner
            .current
            .as_ref()
            .is_some_and(|c| !c.writer.buffer().is_empty());
        if pending && inner.last_flush.elapsed() >= FLUSH_EVERY {
            let result = Self::flush_locked(&mut inner);
            self.report(&mut inner, result);
        }
    }

    /// Writes what is buffered to the file.
    pub fn flush(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let result = Self::flush_locked(&mut inner);
        self.report(&mut inner, result);
    }

    fn report(&self, inner: &mut Inner, result: Result<(), ProtocolLogError>) {
        match result {
            Ok(()) => inner.last_error = None,
            Err(e) => {
                let text = e.to_string();
                if inner.last_error.as_deref() != Some(text.as_str()) {
                    tracing::error!(log = ?self.kind, error = %text, "protocol log not written");
                    inner.last_error = Some(text);
                }
                // Start over with a new file next time.
                inner.current = None;
            }
        }
    }

    fn flush_locked(inner: &mut Inner) -> Result<(), ProtocolLogError> {
        inner.last_flush = Instant::now();
        if let Some(c) = inner.current.as_mut() {
            c.writer.flush().map_err(|source| ProtocolLogError {
                op: "write",
                path: c.path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    fn append_locked(
        &self,
        inner: &mut Inner,
        settings: &LogSettings,
        records: &str,
    ) -> Result<(), ProtocolLogError> {
        let now = self.clock.now();
        let hour = hour_key(now);
        if inner.settings.as_ref() != Some(settings) {
            Self::flush_locked(inner)?;
            inner.current = None;
            inner.settings = Some(settings.clone());
        }
        let full = |c: &Current| settings.max_file_size.is_some_and(|max| c.size >= max);
        if inner
            .current
            .as_ref()
            .is_some_and(|c| c.hour != hour || full(c))
        {
            Self::flush_locked(inner)?;
            inner.current = None;
        }
        if inner.current.is_none() {
            inner.current = Some(self.open(settings, now, &hour)?);
        }
        let Some(c) = inner.current.as_mut() else {
            return Ok(());
        };
        c.writer
            .write_all(records.as_bytes())
            .map_err(|source| ProtocolLogError {
                op: "write",
                path: c.path.clone(),
                source,
            })?;
        c.size += records.len() as u64;
        if inner.last_flush.elapsed() >= FLUSH_EVERY {
            Self::flush_locked(inner)?;
        }
        Ok(())
    }

    /// Opens the file to write now: this hour's last one if it has room,
    /// else a new one (with the header); then prunes the folder.
    fn open(
        &self,
        settings: &LogSettings,
        now: OffsetDateTime,
        hour: &str,
    ) -> Result<Current, ProtocolLogError> {
        let dir = &settings.dir;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(dir)
            .map_err(|source| ProtocolLogError {
                op: "create folder",
                path: dir.clone(),
                source,
            })?;
        let files = self.list(dir)?;
        let last = files.iter().filter(|f| f.hour == hour).max_by_key(|f| f.n);
        let (n, reuse) = match last {
            Some(f) if settings.max_file_size.is_none_or(|max| f.size < max) => (f.n, true),
            Some(f) => (f.n + 1, false),
            None => (1, false),
        };
        let path = dir.join(format!("{}{hour}-{n}.LOG", self.kind.prefix()));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| ProtocolLogError {
                op: "open",
                path: path.clone(),
                source,
            })?;
        let mut size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut writer = BufWriter::with_capacity(64 * 1024, file);
        if !reuse || size == 0 {
            let header = format!(
                "#Software: xshell-transport {}\r\n#Version: 15.0.0.0\r\n#Log-type: {}\r\n#Date: {}\r\n#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context\r\n",
                env!("CARGO_PKG_VERSION"),
                self.kind.log_type(),
                format_time(now),
            );
            writer
                .write_all(header.as_bytes())
                .map_err(|source| ProtocolLogError {
                    op: "write",
                    path: path.clone(),
                    source,
                })?;
            size += header.len() as u64;
        }
        self.prune(settings, now, &path)?;
        Ok(Current {
            path,
            hour: hour.to_string(),
            size,
            writer,
        })
    }

    /// This log's files in `dir`, oldest first.
    fn list(&self, dir: &Path) -> Result<Vec<LogFile>, ProtocolLogError> {
        let entries = fs::read_dir(dir).map_err(|source| ProtocolLogError {
            op: "list",
            path: dir.to_path_buf(),
            source,
        })?;
        let mut files: Vec<LogFile> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let (hour, n) = parse_name(&name, self.kind.prefix())?;
                let meta = e.metadata().ok()?;
                Some(LogFile {
                    path: e.path(),
                    hour,
                    n,
                    size: meta.len(),
                    modified: meta.modified().ok().map(OffsetDateTime::from),
                })
            })
            .collect();
        files.sort_by(|a, b| (&a.hour, a.n).cmp(&(&b.hour, b.n)));
        Ok(files)
    }

    /// Deletes files older than MaxAge, then the oldest until the folder
    /// is within MaxDirectorySize; never `keep` (the file being written).
    fn prune(
        &self,
        settings: &LogSettings,
        now: OffsetDateTime,
        keep: &Path,
    ) -> Result<(), ProtocolLogError> {
        let mut files = self.list(&settings.dir)?;
        let remove = |f: &LogFile| {
            fs::remove_file(&f.path).map_err(|source| ProtocolLogError {
                op: "delete",
                path: f.path.clone(),
                source,
            })
        };
        if let Some(age) = settings.max_age {
            let limit = now - age;
            let mut kept = Vec::with_capacity(files.len());
            for f in files {
                if f.path != keep && f.modified.is_some_and(|m| m < limit) {
                    remove(&f)?;
                } else {
                    kept.push(f);
                }
            }
            files = kept;
        }
        if let Some(max) = settings.max_directory_size {
            let mut total: u64 = files.iter().map(|f| f.size).sum();
            for f in &files {
                if total <= max {
                    break;
                }
                if f.path == keep {
                    continue;
                }
                remove(f)?;
                total = total.saturating_sub(f.size);
            }
        }
        Ok(())
    }
}

struct LogFile {
    path: PathBuf,
    hour: String,
    n: u64,
    size: u64,
    modified: Option<OffsetDateTime>,
}

/// `RECV2026120716-3.LOG` -> ("2026120716", 3).
fn parse_name(name: &str, prefix: &str) -> Option<(String, u64)> {
    let rest = name.strip_prefix(prefix)?.strip_suffix(".LOG")?;
    let (hour, n) = rest.split_once('-')?;
    if hour.len() != 10 || !hour.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((hour.to_string(), n.parse().ok()?))
}

/// One session's part of a log: its connector id, session id, endpoints
/// and sequence numbers. Records collect here and go to the log at each
/// [`SessionLog::commit`] (the driver calls it once per read/write turn)
/// and at the end; dropping it ends the session (`-`).
pub struct SessionLog {
    log: Arc<ProtocolLog>,
    settings: Arc<LogSettings>,
    connector_id: String,
    session_id: String,
    seq: u64,
    local: String,
    remote: String,
    buf: String,
    ended: bool,
}

impl std::fmt::Debug for SessionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLog")
            .field("connector_id", &self.connector_id)
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

impl SessionLog {
    /// A session between `local` and `remote`; records `+`.
    pub fn start(
        log: Arc<ProtocolLog>,
        settings: Arc<LogSettings>,
        connector_id: impl Into<String>,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Self {
        let mut s = SessionLog {
            log,
            settings,
            connector_id: connector_id.into(),
            session_id: new_session_id(),
            seq: 0,
            local: local.to_string(),
            remote: remote.to_string(),
            buf: String::new(),
            ended: false,
        };
        s.event(Event::Connect, "", "");
        s
    }

    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// Records one event.
    pub fn event(&mut self, event: Event, data: &str, context: &str) {
        let now = format_time(self.log.now());
        let b = &mut self.buf;
        b.push_str(&now);
        b.push(',');
        csv_field(b, &self.connector_id);
        let _ = write!(
            b,
            ",{},{},{},{},{},",
            self.session_id,
            self.seq,
            self.local,
            self.remote,
            event.symbol()
        );
        csv_field(b, data);
        b.push(',');
        csv_field(b, context);
        b.push_str("\r\n");
        self.seq += 1;
    }

    /// An information line (`*`).
    pub fn info(&mut self, data: &str, context: &str) {
        self.event(Event::Information, data, context);
    }

    /// A session transcript's lines, `>` for what this side sent and `<`
    /// for what it received.
    pub fn transcript(&mut self, lines: Vec<TranscriptLine>) {
        for l in lines {
            let ev = match l.direction {
                Direction::Sent => Event::Sent,
                Direction::Received => Event::Received,
            };
            self.event(ev, &l.text, "");
        }
    }

    /// Hands the collected records to the log.
    pub fn commit(&mut self) {
        if !self.buf.is_empty() {
            self.log.append(&self.settings, &self.buf);
            self.buf.clear();
        }
    }

    /// Records `-` with `context` (`Local`: we closed; `Remote`: the
    /// peer did) and writes everything out.
    pub fn end(mut self, context: &str) {
        self.finish(context);
    }

    fn finish(&mut self, context: &str) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.event(Event::Disconnect, "", context);
        self.commit();
        self.log.flush();
    }
}

impl Drop for SessionLog {
    fn drop(&mut self) {
        self.finish("Local");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct FakeClock(Mutex<OffsetDateTime>);
    impl Clock for FakeClock {
        fn now(&self) -> OffsetDateTime {
            *self.0.lock().unwrap()
        }
    }
    impl FakeClock {
        fn set(&self, t: OffsetDateTime) {
            *self.0.lock().unwrap() = t;
        }
    }

    fn at(h: u8, m: u8) -> OffsetDateTime {
        time::macros::datetime!(2026-12-07 00:00:00 UTC)
            .replace_hour(h)
            .unwrap()
            .replace_minute(m)
            .unwrap()
    }

    fn settings(dir: &Path) -> LogSettings {
        LogSettings {
            dir: dir.to_path_buf(),
            max_age: Some(Duration::from_secs(30 * 86400)),
            max_directory_size: Some(250 << 20),
            max_file_size: Some(10 << 20),
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn records_are_exchange_csv() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FakeClock(Mutex::new(at(16, 49))));
        let log = Arc::new(ProtocolLog::with_clock(LogKind::Receive, clock));
        let s = Arc::new(settings(dir.path()));
        let mut a = SessionLog::start(
            Arc::clone(&log),
            Arc::clone(&s),
            "XSHELL01\\Inbound",
            addr("127.0.0.1:25"),
            addr("127.0.0.2:4000"),
        );
        let b = SessionLog::start(
            Arc::clone(&log),
            s,
            "XSHELL01\\Inbound",
            addr("127.0.0.1:25"),
            addr("127.0.0.2:4001"),
        );
        assert_ne!(a.session_id(), b.session_id());
        assert_eq!(a.session_id().len(), 16);
        a.transcript(vec![TranscriptLine {
            direction: Direction::Sent,
            text: "250 a, \"b\"".into(),
        }]);
        a.info("CN=x, O=y", "Received certificate");
        a.end("Remote");
        drop(b);
        assert_eq!(names(dir.path()), ["RECV2026120716-1.LOG"]);
        let text = fs::read_to_string(dir.path().join("RECV2026120716-1.LOG")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "#Software: xshell-transport 0.1.0");
        assert_eq!(lines[2], "#Log-type: SMTP Receive Protocol Log");
        assert_eq!(lines[3], "#Date: 2026-12-07T16:49:00.000Z");
        assert!(lines[4].starts_with("#Fields: date-time,connector-id,session-id,"));
        let id = a_id(lines[5]);
        assert_eq!(
            lines[5],
            format!(
                "2026-12-07T16:49:00.000Z,XSHELL01\\Inbound,{id},0,127.0.0.1:25,127.0.0.2:4000,+,,"
            )
        );
        assert!(lines[6].ends_with(",1,127.0.0.1:25,127.0.0.2:4000,>,\"250 a, \"\"b\"\"\","));
        assert!(lines[7].ends_with(",*,\"CN=x, O=y\",Received certificate"));
        assert!(lines[8].ends_with(",3,127.0.0.1:25,127.0.0.2:4000,-,,Remote"));
        assert!(lines[9].ends_with(",0,127.0.0.1:25,127.0.0.2:4001,+,,"));
        assert!(lines[10].ends_with(",1,127.0.0.1:25,127.0.0.2:4001,-,,Local"));
    }

    fn a_id(line: &str) -> &str {
        line.split(',').nth(2).unwrap()
    }

    #[test]
    fn a_new_file_each_hour_and_at_max_file_size() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FakeClock(Mutex::new(at(9, 0))));
        let log = ProtocolLog::with_clock(LogKind::Send, Arc::clone(&clock) as Arc<dyn Clock>);
        let mut s = settings(dir.path());
        s.max_file_size = Some(1000);
        let line = format!("{}\r\n", "x".repeat(98));
        for _ in 0..25 {
            log.append(&s, &line);
        }
        log.flush();
        // a header of about 220 octets + 100 per line: full after 8 lines
        assert_eq!(
            names(dir.path()),
            [
                "SEND2026120709-1.LOG",
                "SEND2026120709-2.LOG",
                "SEND2026120709-3.LOG",
                "SEND2026120709-4.LOG"
            ]
        );
        for n in names(dir.path()) {
            let text = fs::read_to_string(dir.path().join(&n)).unwrap();
            assert!(text.starts_with("#Software: "), "{n}");
            assert!(text.contains("#Log-type: SMTP Send Protocol Log"));
            assert!(text.len() < 1000 + 100, "{n}: {}", text.len());
        }
        clock.set(at(10, 1));
        log.append(&s, &line);
        log.flush();
        assert!(names(dir.path()).contains(&"SEND2026120710-1.LOG".to_string()));
        // a second log object (a restart) continues this hour's last file
        let again = ProtocolLog::with_clock(LogKind::Send, Arc::clone(&clock) as Arc<dyn Clock>);
        again.append(&s, &line);
        again.flush();
        assert_eq!(names(dir.path()).len(), 5);
        let text = fs::read_to_string(dir.path().join("SEND2026120710-1.LOG")).unwrap();
        assert_eq!(text.matches("#Fields").count(), 1);
    }

    #[test]
    fn the_oldest_files_go_beyond_max_directory_size_and_max_age() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FakeClock(Mutex::new(at(1, 0))));
        let log = ProtocolLog::with_clock(LogKind::Receive, Arc::clone(&clock) as Arc<dyn Clock>);
        let mut s = settings(dir.path());
        s.max_file_size = Some(1000);
        s.max_directory_size = Some(3000);
        s.max_age = None;
        let line = format!("{}\r\n", "y".repeat(98));
        // other files in the folder are never touched
        fs::write(dir.path().join("notes.txt"), "keep").unwrap();
        for h in 1..=6 {
            clock.set(at(h, 0));
            for _ in 0..12 {
                log.append(&s, &line);
            }
        }
        log.flush();
        let left = names(dir.path());
        let total: u64 = left
            .iter()
            .filter(|n| n.ends_with(".LOG"))
            .map(|n| fs::metadata(dir.path().join(n)).unwrap().len())
            .sum();
        // pruned when each file starts: at most the limit plus the file being written
        assert!(total <= 3000 + 1100, "{total}: {left:?}");
        assert!(
            !left.contains(&"RECV2026120701-1.LOG".to_string()),
            "{left:?}"
        );
        assert!(
            left.contains(&"RECV2026120706-2.LOG".to_string()),
            "{left:?}"
        );
        assert!(left.contains(&"notes.txt".to_string()));

        // MaxAge: a month later, at the next file, everything older goes
        s.max_directory_size = None;
        s.max_age = Some(Duration::from_secs(30 * 86400));
        // (the files' times are the real ones)
        let later = OffsetDateTime::now_utc() + time::Duration::days(31);
        clock.set(later);
        log.append(&s, &line);
        log.flush();
        let left = names(dir.path());
        assert_eq!(
            left.iter().filter(|n| n.ends_with(".LOG")).count(),
            1,
            "{left:?}"
        );
        // MaxAge None keeps everything
        s.max_age = None;
        clock.set(later + time::Duration::days(400));
        log.append(&s, &line);
        log.flush();
        assert_eq!(
            names(dir.path())
                .iter()
                .filter(|n| n.ends_with(".LOG"))
                .count(),
            2
        );
    }

    #[test]
    fn a_new_folder_takes_effect_at_the_next_write() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let log = ProtocolLog::new(LogKind::Receive);
        log.append(&settings(a.path()), "x\r\n");
        log.append(&settings(b.path()), "y\r\n");
        log.flush();
        assert_eq!(names(a.path()).len(), 1);
        assert_eq!(names(b.path()).len(), 1);
    }

    #[test]
    fn buffered_lines_reach_the_file_within_about_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let log = ProtocolLog::new(LogKind::Receive);
        let s = settings(dir.path());
        log.append(&s, "first\r\n");
        let on_disk = || {
            names(dir.path())
                .iter()
                .map(|n| fs::read_to_string(dir.path().join(n)).unwrap())
                .collect::<String>()
        };
        log.flush_if_due();
        assert!(!on_disk().contains("first"), "not due yet");
        std::thread::sleep(FLUSH_EVERY + Duration::from_millis(50));
        log.flush_if_due();
        assert!(on_disk().contains("first"));
    }

    #[test]
    fn file_names() {
        assert_eq!(
            parse_name("RECV2026120716-12.LOG", "RECV"),
            Some(("2026120716".into(), 12))
        );
        assert_eq!(parse_name("SEND2026120716-1.LOG", "RECV"), None);
        assert_eq!(parse_name("RECV20261207-1.LOG", "RECV"), None);
        assert_eq!(parse_name("RECV2026120716-x.LOG", "RECV"), None);
    }
}
