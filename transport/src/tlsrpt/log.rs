//! The durable record of TLS sessions: `<state>/tlsrpt/<YYYY-MM-DD>.jsonl`,
//! one file per UTC day, one [`Session`] per line.
//!
//! - **Append-only, crash-safe**: the file is opened with `O_APPEND` and
//!   each hop's sessions are written with one `write` call, each line
//!   preceded by a newline, so a line torn by a crash never glues onto the
//!   next one; readers skip empty and unreadable lines (only the torn line
//!   is lost). Like the tracking log, it is not fsynced per write: a report
//!   is statistics, and a power loss costs at most the last seconds.
//! - **Bounded**: a day's file past [`MAX_DAY_BYTES`] is compacted (lines
//!   aggregated by everything but the time, with their counts; written to
//!   a temporary file, fsynced and renamed over). If it is still larger
//!   than half the bound (too many distinct hosts and results), further
//!   sessions of that day are counted in the engine's log only.
//! - **Kept** [`KEEP_DAYS`] days (Get-TlsReport -Date), then deleted.
//! - Which reports of a day were sent is `<day>.sent` (JSON, written
//!   atomically), so a restart neither sends twice nor forgets a day.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use time::Date;

use super::Session;

/// A day's file is compacted past this size.
pub const MAX_DAY_BYTES: u64 = 32 << 20;
/// Days kept after they end.
pub const KEEP_DAYS: i64 = 14;

/// Why the record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("TLS report log: cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The folder of day files.
#[derive(Debug)]
pub struct SessionLog {
    dir: PathBuf,
    /// Serializes compaction with appends of this process.
    lock: Mutex<()>,
    /// [`MAX_DAY_BYTES`], smaller in tests.
    max_bytes: u64,
}

pub use xshell_core::tlsrpt::{day_name, day_of, parse_day};

impl SessionLog {
    /// The log in `dir` (created 0700 when first written).
    pub fn new(dir: impl Into<PathBuf>) -> SessionLog {
        Self::with_limit(dir, MAX_DAY_BYTES)
    }

    /// A log whose day files are compacted past `max_bytes`.
    pub fn with_limit(dir: impl Into<PathBuf>, max_bytes: u64) -> SessionLog {
        SessionLog {
            dir: dir.into(),
            lock: Mutex::new(()),
            max_bytes,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, day: Date) -> PathBuf {
        xshell_core::tlsrpt::day_file(&self.dir, day)
    }

    fn sent_file(&self, day: Date) -> PathBuf {
        xshell_core::tlsrpt::sent_file(&self.dir, day)
    }

    fn io(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> LogError {
        let path = path.to_path_buf();
        move |source| LogError::Io { op, path, source }
    }

    /// Appends sessions (all of one UTC day: the first one's).
    pub fn append(&self, sessions: &[Session]) -> Result<(), LogError> {
        let Some(first) = sessions.first() else {
            return Ok(());
        };
        let day = day_of(first.time_ms);
        let path = self.file(day);
        let mut buf = Vec::new();
        for s in sessions {
            buf.push(b'\n');
            // A Session always serializes (strings, numbers, addresses).
            if let Ok(line) = serde_json::to_vec(s) {
                buf.extend_from_slice(&line);
            }
        }
        buf.push(b'\n');
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(Self::io("create folder", &self.dir))?;
        let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if size > self.max_bytes {
            let after = self.compact(day)?;
            if after > self.max_bytes / 2 {
                tracing::warn!(
                    path = %path.display(),
                    sessions = sessions.len(),
                    "TLS report log: the day's record is full; these sessions are not counted"
                );
                return Ok(());
            }
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(Self::io("open", &path))?;
        // O_APPEND: one write, at the end, whole or failed.
        f.write_all(&buf).map_err(Self::io("append to", &path))
    }

    /// The sessions of `day` (unreadable lines skipped).
    pub fn read(&self, day: Date) -> Result<Vec<Session>, LogError> {
        xshell_core::tlsrpt::read_day(&self.dir, day)
            .map_err(|e| Self::io("read", &self.file(day))(e))
    }

    /// Aggregates the day's lines; the new size.
    fn compact(&self, day: Date) -> Result<u64, LogError> {
        let path = self.file(day);
        let mut merged: BTreeMap<String, Session> = BTreeMap::new();
        for mut s in self.read(day)? {
            let n = s.count;
            let t = s.time_ms;
            s.count = 1;
            s.time_ms = 0;
            let key = serde_json::to_string(&s).unwrap_or_default();
            let e = merged.entry(key).or_insert(Session { count: 0, ..s });
            e.count += n;
            e.time_ms = e.time_ms.max(t);
        }
        let tmp = path.with_extension("jsonl.tmp");
        let mut buf = Vec::new();
        for s in merged.values() {
            buf.push(b'\n');
            if let Ok(line) = serde_json::to_vec(s) {
                buf.extend_from_slice(&line);
            }
        }
        buf.push(b'\n');
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(Self::io("create", &tmp))?;
        f.write_all(&buf).map_err(Self::io("write", &tmp))?;
        f.sync_all().map_err(Self::io("sync", &tmp))?;
        fs::rename(&tmp, &path).map_err(Self::io("replace", &path))?;
        tracing::info!(path = %path.display(), lines = merged.len(), "TLS report log compacted");
        Ok(buf.len() as u64)
    }

    /// Days with a record, oldest first.
    pub fn days(&self) -> Result<Vec<Date>, LogError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Self::io("list", &self.dir)(e)),
        };
        let mut days: Vec<Date> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                parse_day(name.strip_suffix(".jsonl")?)
            })
            .collect();
        days.sort();
        Ok(days)
    }

    /// What of `day` was already sent: `<domain> <rua>` entries.
    pub fn sent(&self, day: Date) -> BTreeSet<String> {
        xshell_core::tlsrpt::read_sent(&self.dir, day)
    }

    /// Records what of `day` was sent (atomically: temp file, fsync,
    /// rename).
    pub fn mark_sent(&self, day: Date, done: &BTreeSet<String>) -> Result<(), LogError> {
        let path = self.sent_file(day);
        let tmp = path.with_extension("sent.tmp");
        let body = serde_json::to_vec_pretty(done).unwrap_or_default();
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(Self::io("create", &tmp))?;
        f.write_all(&body).map_err(Self::io("write", &tmp))?;
        f.sync_all().map_err(Self::io("sync", &tmp))?;
        fs::rename(&tmp, &path).map_err(Self::io("replace", &path))
    }

    /// Deletes the days that ended more than [`KEEP_DAYS`] before `today`.
    pub fn prune(&self, today: Date) {
        let Ok(days) = self.days() else { return };
        for d in days {
            if (today - d).whole_days() > KEEP_DAYS {
                let _ = fs::remove_file(self.file(d));
                let _ = fs::remove_file(self.sent_file(d));
            }
        }
    }
}
