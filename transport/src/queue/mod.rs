//! The durable spool.
//!
//! The files of this module: `envelope.rs` (what is kept besides the
//! bytes), `record.rs` (writing a new record), `message_file.rs` (reading
//! a queued message), `durable.rs` (fsync, the syncfs group commit),
//! `group.rs` (the group committer), `id.rs` (message ids), and this file,
//! the [`Queue`] itself.
//!
//! # Layout
//! ```text
//! <dir>/tmp/                   files being written (cleared at open)
//! <dir>/free/                  finished records kept for reuse (cleared at open)
//! <dir>/active/<id>            the record: header line, initial envelope, message
//! <dir>/active/<id>.state      the current envelope, once it changed
//! <dir>/active/<id>.corrupt    a record that failed to parse (set aside)
//! <dir>/active/<id>.state.corrupt  a state file that failed to parse
//! ```
//! The record format is defined in [`xshell_core::control::spool`]
//! (which `xshell get-queue` reads): `xshell-queue 1 <envelope length>\n`,
//! the envelope JSON as at acceptance, then the message exactly as
//! received. One file per message: acceptance creates, fsyncs and renames
//! one file; the fast path (every recipient delivered at the first
//! attempt) never writes the state file.
//!
//! # Streaming
//! The SMTP server does not hold a message: [`Queue::begin_record`] gives
//! a [`RecordWriter`] that appends the message to a file in `tmp/` as it
//! arrives. The envelope's size is only known at the end, so its place is
//! reserved at the start (the JSON with the largest size, 20 digits) and
//! [`RecordWriter::finish`] writes the real envelope over it, padded with
//! spaces, before the fsync: the record stays version 1 (JSON readers
//! skip trailing white space), records without padding load as before,
//! and the check at open (start of the message + size = file length)
//! still catches a torn file. Delivery reads through
//! [`Queue::open_message`] in pieces.
//!
//! # Durability protocol
//! [`Queue::enqueue`] writes the record to `tmp/`, fsyncs it, renames it
//! into `active/` and fsyncs `active/` **before returning**; the SMTP
//! server's records take the same steps batched by the group commit
//! ([`GroupCommitter::commit_record`], below) and it sends `250` only after
//! them. The rename is the commit: a crash
//! before it leaves only a file in `tmp/`, cleared at the next open. A
//! record is checked at open (header, envelope, and the message length the
//! envelope records): one that does not match is set aside as
//! `<id>.corrupt`.
//!
//! State changes ([`Queue::defer`], [`Queue::update`]) write the whole new
//! envelope to `tmp/`, fsync it, rename it over `<id>.state` and fsync the
//! directory, so a crash leaves either the old or the new state. A state
//! file without its record (a crash during removal) is removed at open; one
//! that does not parse is set aside and the message falls back to its
//! initial envelope (recipients may be delivered again, never lost).
//!
//! Removal deletes the record first (the commit), then the state file.
//! [`Queue::complete`] then fsyncs the directory. A removal through
//! [`Queue::update`] (every recipient final: delivered, or failed and
//! reported) skips that directory fsync: a crash before the next one may
//! bring the message back, which at worst delivers it again; it never
//! loses a message.
//!
//! # Recycled record files
//! Creating and deleting a file per message is, after the fsyncs, the
//! largest cost of a busy queue: on ext4 every new inode is searched for in
//! the inode bitmap, and an ext4 without a journal also skips every inode
//! freed in the last 60 to 360 seconds, one inode-table lookup each, so at
//! a thousand messages a second most of the engine's CPU went there. A
//! removed record is therefore renamed into `free/` (at most
//! [`FREE_MAX`] of them) and a new record is written over one of those,
//! then renamed into `active/` like a new file: no inode is allocated or
//! freed, and when the sizes match, `fdatasync` has no metadata to write.
//!
//! A reader could hold a record open while it is removed and reused for
//! another message, so every reader of a record takes a shared `flock` and
//! checks the id in the envelope, and a writer reuses a free file only if
//! it gets the exclusive lock at once (otherwise that file goes back to the
//! end of the pool and an older one is tried).
//! `free/` is emptied at open: after a crash a file could be linked in both
//! `free/` and `active/`, and must never be reused then.
//!
//! Queues written by earlier versions (`<id>.eml` with `<id>.json`) are
//! converted at open.
//!
//! # Group commit
//! A disk flush is the expensive part, and it costs the same for one file
//! or a hundred. [`GroupCommitter`] (what the SMTP server uses) lets many
//! threads enqueue at once: each writes its record without an fsync and
//! hands it over; a committer thread takes every record that arrived
//! meanwhile and commits them together ([`Queue::commit`]): one `syncfs`
//! for their bytes, their renames into `active/` (so a record never appears
//! there before its bytes are on disk), one fsync of `active/`, then every
//! caller gets its answer. [`Queue::enqueue`] alone (one message, tests and
//! tools) fsyncs its own file and the directory.
//!
//! # Failures
//! Every error is a [`QueueError`] naming the operation and path; the
//! session turns any of them into one transient reply, so a client retries
//! rather than loses mail: `452 4.3.1` when the filesystem is full or over
//! quota ([`QueueError::is_out_of_space`]), `451 4.3.0` otherwise. A file
//! that could not be written whole is removed at once.

mod durable;
mod envelope;
mod group;
mod id;
mod message_file;
mod record;

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

pub use durable::*;
pub use envelope::*;
pub use group::GroupCommitter;
pub use id::{InvalidMessageId, MessageId};
pub use message_file::*;
pub use record::*;

use xshell_core::control::spool::{
    STATE_SUFFIX, read_record_head, read_record_head_of, record_header,
};

use xshell_smtp::{Notify, Ret, TlsFacts};

/// A queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue: cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("queue: envelope {path} is not valid: {source}")]
    Envelope {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("queue: message {0} is not in the queue")]
    NotFound(MessageId),
    #[error("queue: the group committer has stopped")]
    CommitterStopped,
}

impl QueueError {
    /// True when the filesystem holding the queue is full or over quota
    /// (ENOSPC, EDQUOT): the SMTP server answers `452 4.3.1`.
    pub fn is_out_of_space(&self) -> bool {
        matches!(self, QueueError::Io { source, .. } if matches!(
            source.kind(),
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
        ))
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> QueueError + 'a {
    move |source| QueueError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The spool directory.
#[derive(Debug)]
pub struct Queue {
    root: PathBuf,
    tmp: PathBuf,
    active: PathBuf,
    free_dir: PathBuf,
    /// Removed records waiting to be reused (see "Recycled record files").
    free: Mutex<std::collections::VecDeque<PathBuf>>,
    dir_syncs: AtomicU64,
    tmp_seq: AtomicU64,
    /// Per-message locks (striped): every read-modify-write of an envelope
    /// holds its message's lock, so the local delivery worker and the
    /// queue runner never lose each other's updates.
    locks: Vec<Mutex<()>>,
    /// Messages a delivery (queue runner or local delivery) is working on
    /// now: Get-Queue's and Get-Message's Status Active.
    in_flight: Mutex<std::collections::HashSet<MessageId>>,
}

/// Number of lock stripes.
const LOCK_STRIPES: usize = 64;

/// Most removed records kept in `free/` for reuse; more are deleted.
pub const FREE_MAX: usize = 1024;
/// Free files tried (oldest first) before a new record file is created.
const FREE_TRIES: usize = 8;

/// What [`Queue::update`] does with the message after the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Write the new envelope.
    Keep,
    /// Every recipient is final and reported: remove the message.
    Remove,
}

/// The result of [`Queue::update`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Updated {
    /// The state after the change (as written, or as it was when removed).
    pub message: QueuedMessage,
    pub removed: bool,
}

impl Queue {
    /// Opens (creating if needed) the queue at `dir` and clears `tmp/`
    /// (leftovers of writes that never committed).
    pub fn open(dir: impl AsRef<Path>) -> Result<Queue, QueueError> {
        let root = dir.as_ref().to_path_buf();
        let tmp = root.join("tmp");
        let active = root.join("active");
        let free_dir = root.join("free");
        create_dir(&tmp)?;
        create_dir(&active)?;
        create_dir(&free_dir)?;
        for dir in [&tmp, &free_dir] {
            for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
                let path = entry.map_err(io_err("list", dir))?.path();
                fs::remove_file(&path).map_err(io_err("remove", &path))?;
            }
        }
        sync_dir(&root)?;
        let queue = Queue {
            root,
            tmp,
            active,
            free_dir,
            free: Mutex::new(std::collections::VecDeque::new()),
            dir_syncs: AtomicU64::new(0),
            tmp_seq: AtomicU64::new(0),
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            in_flight: Mutex::new(std::collections::HashSet::new()),
        };
        queue.recover()?;
        Ok(queue)
    }

    /// The queue directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How many times `active/` has been fsynced since open.
    pub fn dir_fsyncs(&self) -> u64 {
        self.dir_syncs.load(Ordering::SeqCst)
    }

    /// Path of a queued message's record (header, initial envelope, then
    /// the message bytes).
    pub fn message_path(&self, id: &MessageId) -> PathBuf {
        self.active.join(id.to_string())
    }

    fn state_path(&self, id: &MessageId) -> PathBuf {
        self.active.join(format!("{id}{STATE_SUFFIX}"))
    }

    fn tmp_path(&self, id: &MessageId, ext: &str) -> PathBuf {
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        self.tmp.join(format!("{id}.{seq}.{ext}"))
    }

    /// Stores a message and returns once it is durable.
    pub fn enqueue(&self, envelope: &Envelope, message: &[u8]) -> Result<MessageId, QueueError> {
        let id = self.stage(envelope, message)?;
        self.sync_active_dir()?;
        Ok(id)
    }

    /// Writes and fsyncs the record and renames it into `active/`; the
    /// rename is durable only after the next [`Queue::sync_active_dir`].
    pub(crate) fn stage(
        &self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<MessageId, QueueError> {
        let mut w = self.begin_record(envelope)?;
        w.write(message)?;
        w.finish()
    }

    /// Starts a record for a message whose bytes are not known yet: they
    /// are appended with [`RecordWriter::write`] as they arrive, and
    /// [`RecordWriter::finish`] fills in the size, fsyncs the file and
    /// renames it into `active/` (durable after the next directory fsync,
    /// e.g. [`GroupCommitter::sync`]), or [`GroupCommitter::commit_record`]
    /// does all that for many records at once. Dropping the writer
    /// unfinished removes the file.
    ///
    /// The envelope's place is reserved at the start of the file, sized
    /// for the largest `size` (20 digits); at the end the envelope with
    /// the real size is written over it, padded with spaces (JSON
    /// white space, which every reader skips). The file keeps version 1
    /// of the format, so older readers load it too.
    pub fn begin_record(&self, envelope: &Envelope) -> Result<RecordWriter, QueueError> {
        let id = MessageId::generate();
        let record = QueuedMessage {
            version: VERSION,
            id,
            size: u64::MAX,
            envelope: envelope.clone(),
        };
        let path = self.message_path(&record.id);
        let reserved = to_json(&record, &path)?;
        let header = record_header(reserved.len());
        let (file, tmp, recycled) = self.record_file(&record.id)?;
        let mut w = RecordWriter {
            file: Some(file),
            tmp,
            path,
            record,
            recycled,
            envelope_at: header.len() as u64,
            envelope_len: reserved.len(),
            size: 0,
        };
        w.write_raw(&header)?;
        w.write_raw(&reserved)?;
        Ok(w)
    }

    /// The file a new record is written to, locked exclusively: a
    /// recycled one from `free/` when there is one (written over from its
    /// start, cut to length at the end; one a reader holds goes back to
    /// the pool), else a new file in `tmp/`. Returns the file, its path and
    /// whether it was recycled. The one place where record files come from.
    fn record_file(&self, id: &MessageId) -> Result<(File, PathBuf, bool), QueueError> {
        // The oldest free files first: a reader may still hold one retired
        // a moment ago (the queue runner keeps a batch's files open until
        // the batch ends). A held one goes back to the end of the line.
        for _ in 0..FREE_TRIES {
            let Some(free) = self.take_free() else { break };
            let f = match OpenOptions::new().write(true).open(&free) {
                Ok(f) => f,
                Err(_) => {
                    let _ = fs::remove_file(&free);
                    continue;
                }
            };
            match f.try_lock() {
                Ok(()) => return Ok((f, free, true)),
                Err(TryLockError::WouldBlock) => {
                    drop(f);
                    self.return_free(free);
                }
                Err(TryLockError::Error(e)) => {
                    drop(f);
                    let _ = fs::remove_file(&free);
                    return Err(io_err("lock", &free)(e));
                }
            }
        }
        let tmp = self.tmp_path(id, "rec");
        Ok((create_record_file(&tmp)?, tmp, false))
    }

    /// Writes a record without fsyncing it, for a group commit
    /// ([`Queue::commit`]) that makes many records durable at once.
    pub(crate) fn stage_unsynced(
        &self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<Staged, QueueError> {
        let mut w = self.begin_record(envelope)?;
        w.write(message)?;
        w.seal_unsynced()
    }

    /// The group commit of staged records: one `syncfs` makes their data
    /// durable, they are renamed into `active/` (the commit point: a record
    /// appears there only once its bytes are on disk), and one fsync of
    /// `active/` makes the renames durable. Returns one result per record,
    /// in order, and the number of the directory fsync; a record that
    /// failed is removed.
    pub(crate) fn commit(
        &self,
        staged: Vec<Staged>,
    ) -> (Vec<Result<MessageId, QueueError>>, Result<u64, QueueError>) {
        if let Err(e) = sync_records(&self.root, &staged) {
            let kind = match &e {
                QueueError::Io { source, .. } => source.kind(),
                _ => io::ErrorKind::Other,
            };
            let text = e.to_string();
            let results = staged
                .into_iter()
                .map(|s| {
                    s.discard();
                    Err(QueueError::Io {
                        op: "syncfs",
                        path: self.root.clone(),
                        source: io::Error::new(kind, text.clone()),
                    })
                })
                .collect();
            return (results, Err(e));
        }
        let results: Vec<Result<MessageId, QueueError>> = staged
            .into_iter()
            .map(|s| {
                let renamed = fs::rename(&s.src, &s.dst);
                drop(s.hold);
                match renamed {
                    Ok(()) => Ok(s.id),
                    Err(e) => {
                        let _ = fs::remove_file(&s.src);
                        Err(io_err("rename into", &s.dst)(e))
                    }
                }
            })
            .collect();
        (results, self.sync_active_dir())
    }

    /// The oldest recycled record file, if any.
    fn take_free(&self) -> Option<PathBuf> {
        self.free
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
    }

    /// Puts back a free file a reader still holds (deleted if the pool
    /// filled up meanwhile).
    fn return_free(&self, path: PathBuf) {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        if free.len() < FREE_MAX {
            free.push_back(path);
        } else {
            drop(free);
            let _ = fs::remove_file(&path);
        }
    }

    /// Takes a removed record out of `active/`: into `free/` for reuse
    /// while there is room, else deleted.
    fn retire_record(&self, record: &Path) -> io::Result<()> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        if free.len() >= FREE_MAX {
            drop(free);
            return fs::remove_file(record);
        }
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let to = self.free_dir.join(format!("{seq}"));
        fs::rename(record, &to)?;
        free.push_back(to);
        Ok(())
    }

    /// How many removed records wait in `free/` for reuse.
    pub fn free_records(&self) -> usize {
        self.free.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// fsyncs `active/`; returns the number of this sync (1, 2, ...).
    pub fn sync_active_dir(&self) -> Result<u64, QueueError> {
        // Everything renamed before this call is covered once it returns.
        sync_dir(&self.active)?;
        Ok(self.dir_syncs.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// Every queued message, in id (arrival) order. Records that cannot
    /// be read are skipped (recovery at the next open sets them aside).
    pub fn load_all(&self) -> Result<Vec<QueuedMessage>, QueueError> {
        // Read-only and tolerant of concurrent writers: the runner may be
        // completing a message we just listed. Only `open` (at start,
        // before anything else writes) cleans up what a crash left behind.
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.active).map_err(io_err("list", &self.active))? {
            let path = entry.map_err(io_err("list", &self.active))?.path();
            if let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse::<MessageId>().ok())
            {
                ids.push(id);
            }
        }
        ids.sort();
        let mut out = Vec::with_capacity(ids.len());
        for id in &ids {
            match self.read_envelope(id) {
                Ok(m) => out.push(m),
                // Completed since the listing, or unreadable until the
                // next start's recovery: not ours to touch now.
                Err(QueueError::NotFound(_)) | Err(QueueError::Envelope { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Crash recovery, run by `open` before anything else uses the queue:
    /// converts an older version's files, sets aside records and state
    /// files that do not parse, removes state files without a record.
    fn recover(&self) -> Result<(), QueueError> {
        let mut records = Vec::new();
        let mut states = Vec::new();
        let mut legacy_envelopes = Vec::new();
        let mut legacy_messages = Vec::new();
        for entry in fs::read_dir(&self.active).map_err(io_err("list", &self.active))? {
            let path = entry.map_err(io_err("list", &self.active))?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let (stem, list) = if let Some(stem) = name.strip_suffix(STATE_SUFFIX) {
                (stem, &mut states)
            } else if let Some(stem) = name.strip_suffix(".json") {
                (stem, &mut legacy_envelopes)
            } else if let Some(stem) = name.strip_suffix(".eml") {
                (stem, &mut legacy_messages)
            } else {
                (name, &mut records)
            };
            if let Ok(id) = stem.parse::<MessageId>() {
                list.push(id);
            }
        }
        let mut changed = false;
        legacy_messages.sort();
        for id in &legacy_envelopes {
            if legacy_messages.binary_search(id).is_ok() {
                changed |= self.convert_legacy(id)?;
                records.push(id.clone());
            } else {
                let path = self.active.join(format!("{id}.json"));
                let aside = self.active.join(format!("{id}.json.corrupt"));
                fs::rename(&path, &aside).map_err(io_err("set aside", &path))?;
                changed = true;
            }
        }
        legacy_envelopes.sort();
        for id in &legacy_messages {
            if legacy_envelopes.binary_search(id).is_err() {
                // A crash between the two renames of the old format: no
                // 250 was sent.
                let path = self.active.join(format!("{id}.eml"));
                fs::remove_file(&path).map_err(io_err("remove orphan", &path))?;
                changed = true;
            }
        }
        records.sort();
        records.dedup();
        for id in &records {
            if let Err(QueueError::Envelope { .. }) = self.read_record(id) {
                let path = self.message_path(id);
                let aside = self.active.join(format!("{id}.corrupt"));
                fs::rename(&path, &aside).map_err(io_err("set aside", &path))?;
                changed = true;
            }
        }
        for id in &states {
            let path = self.state_path(id);
            if records.binary_search(id).is_err() || !self.message_path(id).exists() {
                // A crash between the two removals of a completion.
                fs::remove_file(&path).map_err(io_err("remove orphan", &path))?;
                changed = true;
            } else if let Err(QueueError::Envelope { .. }) = self.read_state(id) {
                let aside = self.active.join(format!("{id}{STATE_SUFFIX}.corrupt"));
                fs::rename(&path, &aside).map_err(io_err("set aside", &path))?;
                changed = true;
            }
        }
        if changed {
            self.sync_active_dir()?;
        }
        Ok(())
    }

    /// Rewrites an older version's `<id>.json` + `<id>.eml` as one record
    /// (durably), then removes them. An envelope that does not parse is
    /// set aside instead. Returns whether anything changed.
    fn convert_legacy(&self, id: &MessageId) -> Result<bool, QueueError> {
        let env_path = self.active.join(format!("{id}.json"));
        let msg_path = self.active.join(format!("{id}.eml"));
        let json = fs::read(&env_path).map_err(io_err("read", &env_path))?;
        let parsed: Result<QueuedMessage, _> = serde_json::from_slice(&json);
        let Ok(mut m) = parsed else {
            let aside = self.active.join(format!("{id}.json.corrupt"));
            fs::rename(&env_path, &aside).map_err(io_err("set aside", &env_path))?;
            return Ok(true);
        };
        let message = fs::read(&msg_path).map_err(io_err("read", &msg_path))?;
        m.size = message.len() as u64;
        let path = self.message_path(id);
        let json = to_json(&m, &path)?;
        let tmp = self.tmp_path(id, "rec");
        write_durable_parts(&tmp, &[&record_header(json.len()), &json, &message])?;
        fs::rename(&tmp, &path).map_err(io_err("rename into", &path))?;
        self.sync_active_dir()?;
        fs::remove_file(&env_path).map_err(io_err("remove", &env_path))?;
        fs::remove_file(&msg_path).map_err(io_err("remove", &msg_path))?;
        Ok(true)
    }

    /// The initial envelope, from the record; checks the record's length.
    fn read_record(&self, id: &MessageId) -> Result<QueuedMessage, QueueError> {
        let path = self.message_path(id);
        let head = read_record_head(&path).map_err(|e| head_err(id, &path, e))?;
        let m: QueuedMessage =
            serde_json::from_slice(&head.envelope).map_err(|source| QueueError::Envelope {
                path: path.clone(),
                source,
            })?;
        if head.body_offset.checked_add(m.size) != Some(head.file_len) || m.id != *id {
            return Err(envelope_err(
                &path,
                "the message length or id does not match the envelope (torn record)".into(),
            ));
        }
        Ok(m)
    }

    /// The state file, if the state changed since acceptance.
    fn read_state(&self, id: &MessageId) -> Result<Option<QueuedMessage>, QueueError> {
        let path = self.state_path(id);
        match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|source| QueueError::Envelope { path, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &path)(e)),
        }
    }

    fn read_envelope(&self, id: &MessageId) -> Result<QueuedMessage, QueueError> {
        match self.read_state(id)? {
            Some(m) if self.message_path(id).exists() => Ok(m),
            Some(_) => Err(QueueError::NotFound(id.clone())),
            None => self.read_record(id),
        }
    }

    /// The current state of one message.
    pub fn get(&self, id: &MessageId) -> Result<QueuedMessage, QueueError> {
        self.read_envelope(id)
    }

    /// The bytes of one message, whole (tests and small messages; delivery
    /// reads through [`Queue::open_message`]).
    pub fn read_message(&self, id: &MessageId) -> Result<Vec<u8>, QueueError> {
        let m = self.open_message(id)?;
        let mut bytes = Vec::with_capacity(usize::try_from(m.size()).unwrap_or(0));
        m.reader()
            .and_then(|mut r| r.read_to_end(&mut bytes))
            .map_err(io_err("read", &m.path))?;
        Ok(bytes)
    }

    /// Opens one message's bytes for reading in pieces.
    pub fn open_message(&self, id: &MessageId) -> Result<MessageFile, QueueError> {
        let path = self.message_path(id);
        // A shared lock: the file is not reused for another message while
        // it is open here (see "Recycled record files").
        let Some(file) = open_record(&path)? else {
            return Err(QueueError::NotFound(id.clone()));
        };
        let head = read_record_head_of(&path, &file).map_err(|e| head_err(id, &path, e))?;
        if !record_names(&head.envelope, id) {
            // removed and reused for another message since we opened it
            return Err(QueueError::NotFound(id.clone()));
        }
        Ok(MessageFile {
            file,
            path,
            body_offset: head.body_offset,
            size: head.file_len - head.body_offset,
        })
    }

    /// Removes a message whose recipients are all final. The envelope goes
    /// first (the commit), then the message; durable on return.
    pub fn complete(&self, id: &MessageId) -> Result<(), QueueError> {
        let _guard = self.lock(id);
        self.complete_locked(id)
    }

    fn complete_locked(&self, id: &MessageId) -> Result<(), QueueError> {
        self.remove_files(id)?;
        self.sync_active_dir().map(|_| ())
    }

    /// Removes a message's files without fsyncing `active/`: until the
    /// next directory fsync a crash may bring the message back, which at
    /// worst delivers it again (never loses it).
    fn remove_files(&self, id: &MessageId) -> Result<(), QueueError> {
        let record = self.message_path(id);
        match self.retire_record(&record) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(QueueError::NotFound(id.clone()));
            }
            Err(e) => return Err(io_err("remove", &record)(e)),
        }
        let state = self.state_path(id);
        match fs::remove_file(&state) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", &state)(e)),
        }
        Ok(())
    }

    /// Writes `m` as the message's state file (atomically: tmp, fsync,
    /// rename); durable after the next directory fsync.
    fn write_state(&self, m: &QueuedMessage) -> Result<(), QueueError> {
        let path = self.state_path(&m.id);
        let json = to_json(m, &path)?;
        let tmp = self.tmp_path(&m.id, "state");
        write_durable(&tmp, &json)?;
        fs::rename(&tmp, &path).map_err(io_err("rename over", &path))
    }

    /// Marks `ids` as being delivered until the guard is dropped (also on
    /// a panic or when the delivery task is aborted).
    pub fn track_active(&self, ids: Vec<MessageId>) -> ActiveGuard<'_> {
        let mut active = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        active.extend(ids.iter().cloned());
        ActiveGuard { queue: self, ids }
    }

    /// The messages a delivery is working on now.
    pub fn active_ids(&self) -> std::collections::HashSet<String> {
        let active = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        active.iter().map(ToString::to_string).collect()
    }

    /// The lock of one message (see [`Queue::update`]).
    fn lock(&self, id: &MessageId) -> MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut h);
        let i = (h.finish() as usize) % self.locks.len().max(1);
        // A panic while holding the lock left no partial state on disk
        // (every write is a rename): the lock is still good.
        self.locks[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Read-modify-write of one message under its lock: `f` sees the
    /// current envelope on disk and says whether to keep (the new
    /// envelope is written atomically) or remove the message. Durable on
    /// return.
    ///
    /// Removal does not fsync `active/` (see [`Queue::update_unsynced`]):
    /// every recipient is final, so a crash that brings the message back
    /// at worst delivers it again.
    pub fn update(
        &self,
        id: &MessageId,
        f: impl FnOnce(&mut Envelope) -> Disposition,
    ) -> Result<Updated, QueueError> {
        let u = self.update_unsynced(id, f)?;
        if !u.removed {
            self.sync_active_dir()?;
        }
        Ok(u)
    }

    /// [`Queue::update`] without any directory fsync, for callers that
    /// update many messages and then call [`Queue::sync_active_dir`] once:
    /// a kept envelope is written, fsynced and renamed over the old one
    /// (a crash leaves the old or the new one, never a torn one) but the
    /// rename is durable only after that fsync; a removal may be undone
    /// by a crash before the next directory fsync (the message is then
    /// delivered again, never lost).
    pub fn update_unsynced(
        &self,
        id: &MessageId,
        f: impl FnOnce(&mut Envelope) -> Disposition,
    ) -> Result<Updated, QueueError> {
        let _guard = self.lock(id);
        let mut m = self.read_envelope(id)?;
        match f(&mut m.envelope) {
            Disposition::Remove => {
                self.remove_files(id)?;
                Ok(Updated {
                    message: m,
                    removed: true,
                })
            }
            Disposition::Keep => {
                self.write_state(&m)?;
                Ok(Updated {
                    message: m,
                    removed: false,
                })
            }
        }
    }

    /// Records the outcome of a delivery attempt: per-recipient statuses
    /// (by address; unknown addresses are ignored), one more attempt, and
    /// the next retry time. Atomic (new envelope renamed over the old) and
    /// durable on return. Returns the new state.
    pub fn defer(
        &self,
        id: &MessageId,
        results: &[(String, RecipientStatus)],
        next_retry_ms: u64,
    ) -> Result<QueuedMessage, QueueError> {
        self.update(id, |e| {
            e.apply(results);
            e.attempts = e.attempts.saturating_add(1);
            e.next_retry_ms = Some(next_retry_ms);
            Disposition::Keep
        })
        .map(|u| u.message)
    }

    /// Records per-recipient statuses (by address) without counting a
    /// delivery attempt or touching the retry time: the local delivery
    /// worker marks the recipients it delivered and leaves the others
    /// `Pending` for the sending side. Atomic and durable on return.
    pub fn update_recipients(
        &self,
        id: &MessageId,
        results: &[(String, RecipientStatus)],
    ) -> Result<QueuedMessage, QueueError> {
        self.update(id, |e| {
            e.apply(results);
            Disposition::Keep
        })
        .map(|u| u.message)
    }
}

impl Queue {
    /// Sets the retry time without counting an attempt or touching the
    /// recipients (Retry-Queue: `Some(now)` makes the message due).
    /// Atomic and durable on return.
    pub fn set_next_retry(
        &self,
        id: &MessageId,
        next_retry_ms: Option<u64>,
    ) -> Result<QueuedMessage, QueueError> {
        self.update(id, |e| {
            e.next_retry_ms = next_retry_ms;
            Disposition::Keep
        })
        .map(|u| u.message)
    }
}

/// See [`Queue::track_active`].
#[derive(Debug)]
pub struct ActiveGuard<'a> {
    queue: &'a Queue,
    ids: Vec<MessageId>,
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        let mut active = self
            .queue
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for id in &self.ids {
            active.remove(id);
        }
    }
}

fn to_json(m: &QueuedMessage, path: &Path) -> Result<Vec<u8>, QueueError> {
    serde_json::to_vec(m).map_err(|source| QueueError::Envelope {
        path: path.to_path_buf(),
        source,
    })
}

/// The error for a record whose header and envelope could not be read.
fn head_err(id: &MessageId, path: &Path, e: io::Error) -> QueueError {
    match e.kind() {
        io::ErrorKind::NotFound => QueueError::NotFound(id.clone()),
        io::ErrorKind::InvalidData => envelope_err(path, e.to_string()),
        _ => io_err("read", path)(e),
    }
}

/// True when the envelope JSON `envelope` is that of message `id`.
fn record_names(envelope: &[u8], id: &MessageId) -> bool {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: MessageId,
    }
    serde_json::from_slice::<IdOnly>(envelope).is_ok_and(|r| r.id == *id)
}

/// A record that is not what the envelope says (bad header, torn file).
fn envelope_err(path: &Path, what: String) -> QueueError {
    QueueError::Envelope {
        path: path.to_path_buf(),
        source: <serde_json::Error as serde::de::Error>::custom(what),
    }
}

#[cfg(test)]
mod tests;
