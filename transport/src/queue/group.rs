//! Group commit: many enqueues, one `syncfs` and one directory fsync.
//!
//! Each caller writes its record (to `tmp/`, or over a recycled file)
//! without fsyncing it, then hands it to the committer thread and blocks
//! until it is committed. The committer takes the first waiting request,
//! optionally lingers `window` to gather more, takes everything else
//! already waiting, and commits the whole batch ([`Queue::commit`]): **one**
//! `syncfs` makes every record's bytes durable, the records are renamed
//! into `active/` (so a record is never visible there before its bytes are
//! on disk), and **one** fsync of `active/` makes the renames durable.
//! A disk flush costs the same for one file or a hundred, so the cost per
//! message falls as the batch grows; an fsync per record was most of the
//! acceptance cost before.
//!
//! Callers that renamed something into `active/` themselves only ask for
//! the directory fsync ([`GroupCommitter::sync`]).
//!
//! No async runtime is involved: std threads and channels, so a tokio
//! server calls it from `spawn_blocking`.

use std::io;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{Envelope, MessageId, Queue, QueueError, Staged};

/// Largest batch answered by one fsync.
const MAX_BATCH: usize = 4096;

type SyncResult = Result<u64, (io::ErrorKind, String)>;

struct Request {
    done: SyncSender<SyncResult>,
    /// A record to commit; `None`: only the directory fsync.
    staged: Option<Staged>,
}

/// Shares directory fsyncs between concurrent enqueues. Dropping it stops
/// the committer thread after it has answered every request sent.
#[derive(Debug)]
pub struct GroupCommitter {
    queue: Arc<Queue>,
    tx: Option<Sender<Request>>,
    thread: Option<JoinHandle<()>>,
}

impl GroupCommitter {
    /// Starts the committer thread. `window` is how long the committer
    /// waits after the first request for others to join the batch
    /// (`Duration::ZERO`: only those already waiting).
    pub fn new(queue: Arc<Queue>, window: Duration) -> Result<Self, QueueError> {
        let (tx, rx) = mpsc::channel::<Request>();
        let q = Arc::clone(&queue);
        let thread = thread::Builder::new()
            .name("queue-group-commit".into())
            .spawn(move || committer(&q, &rx, window))
            .map_err(|source| QueueError::Io {
                op: "start the group committer for",
                path: queue.root().to_path_buf(),
                source,
            })?;
        Ok(GroupCommitter {
            queue,
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// The queue this committer writes to.
    pub fn queue(&self) -> &Arc<Queue> {
        &self.queue
    }

    /// Stores a message; returns once it is durable (its files fsynced and
    /// a directory fsync issued after its renames has completed).
    pub fn enqueue(&self, envelope: &Envelope, message: &[u8]) -> Result<MessageId, QueueError> {
        self.enqueue_with_sync(envelope, message).map(|(id, _)| id)
    }

    /// Like [`GroupCommitter::enqueue`], also returning the number of the
    /// directory fsync that made the message durable.
    pub fn enqueue_with_sync(
        &self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<(MessageId, u64), QueueError> {
        let staged = self.queue.stage_unsynced(envelope, message)?;
        let id = staged.id.clone();
        let sync = self.request(Some(staged))?;
        Ok((id, sync))
    }

    /// Commits a record written with [`super::RecordWriter`]: returns once it
    /// is durable (its bytes synced, renamed into `active/`, and the
    /// directory fsynced), sharing the syncs with every record committed
    /// meanwhile.
    pub fn commit_record(&self, w: super::RecordWriter) -> Result<MessageId, QueueError> {
        let staged = w.seal_unsynced()?;
        let id = staged.id.clone();
        self.request(Some(staged))?;
        Ok(id)
    }

    /// Waits for a directory fsync that starts after this call; returns its
    /// number. For callers that renamed something into `active/` themselves.
    pub fn sync(&self) -> Result<u64, QueueError> {
        self.request(None)
    }

    fn request(&self, staged: Option<Staged>) -> Result<u64, QueueError> {
        let Some(tx) = self.tx.as_ref() else {
            if let Some(s) = staged {
                s.discard();
            }
            return Err(QueueError::CommitterStopped);
        };
        let (done, wait) = mpsc::sync_channel(1);
        if let Err(mpsc::SendError(r)) = tx.send(Request { done, staged }) {
            if let Some(s) = r.staged {
                s.discard();
            }
            return Err(QueueError::CommitterStopped);
        }
        match wait.recv() {
            Ok(Ok(n)) => Ok(n),
            Ok(Err((kind, msg))) => Err(QueueError::Io {
                op: "fsync directory",
                path: self.queue.root().join("active"),
                source: io::Error::new(kind, msg),
            }),
            Err(_) => Err(QueueError::CommitterStopped),
        }
    }
}

impl Drop for GroupCommitter {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            // A panicking committer already answered nobody; nothing to do.
            let _ = t.join();
        }
    }
}

fn committer(queue: &Queue, rx: &Receiver<Request>, window: Duration) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        if !window.is_zero() {
            let deadline = Instant::now() + window;
            while batch.len() < MAX_BATCH {
                let left = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(r) => batch.push(r),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let mut staged = Vec::new();
        let mut waiters = Vec::with_capacity(batch.len());
        for r in batch {
            let has = r.staged.is_some();
            if let Some(s) = r.staged {
                staged.push(s);
            }
            waiters.push((r.done, has));
        }
        let (records, synced) = if staged.is_empty() {
            (Vec::new(), queue.sync_active_dir())
        } else {
            queue.commit(staged)
        };
        let synced: SyncResult = synced.map_err(|e| flat(&e));
        let has: Vec<bool> = waiters.iter().map(|(_, h)| *h).collect();
        for ((done, _), answer) in waiters.into_iter().zip(answers(&has, records, &synced)) {
            // A waiter that went away does not need its answer.
            let _ = done.send(answer);
        }
    }
}

/// Each waiter's answer: a waiter that handed over a record (`has`) gets
/// its record's error if it failed, else the directory fsync's result;
/// `records` holds the results of those waiters only, in their order.
fn answers(
    has: &[bool],
    records: Vec<Result<MessageId, QueueError>>,
    synced: &SyncResult,
) -> Vec<SyncResult> {
    let mut records = records.into_iter();
    has.iter()
        .map(|&h| {
            let record = if h { records.next() } else { None };
            match record {
                Some(Err(e)) => Err(flat(&e)),
                _ => synced.clone(),
            }
        })
        .collect()
}

fn flat(e: &QueueError) -> (io::ErrorKind, String) {
    match e {
        QueueError::Io { source, .. } => (source.kind(), source.to_string()),
        other => (io::ErrorKind::Other, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_waiter_gets_its_own_records_answer() {
        let failed = || {
            Err(QueueError::Io {
                op: "rename into",
                path: "/q/active/x".into(),
                source: io::Error::from(io::ErrorKind::StorageFull),
            })
        };
        let ok = || Ok(MessageId::generate());
        // record, directory only, record (failed), record
        let has = [true, false, true, true];
        let out = answers(&has, vec![ok(), failed(), ok()], &Ok(7));
        assert_eq!(out.len(), 4);
        assert_eq!(out[0], Ok(7));
        assert_eq!(out[1], Ok(7));
        assert!(
            matches!(&out[2], Err((io::ErrorKind::StorageFull, _))),
            "{:?}",
            out[2]
        );
        assert_eq!(out[3], Ok(7));
        // a failed directory fsync fails everyone whose record was renamed
        let out = answers(
            &[true, false],
            vec![ok()],
            &Err((io::ErrorKind::Other, "x".into())),
        );
        assert!(out.iter().all(Result::is_err));
    }
}
