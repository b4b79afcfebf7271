//! The local delivery worker: recipients in Authoritative accepted domains
//! go to their Maildir; the others stay in the queue for the sending side.
//!
//! # Recipient status, shared with the sending side
//! A queued recipient starts `Pending`. This worker takes the `Pending`
//! and `Deferred` recipients whose domain is Authoritative (in the
//! configuration current at delivery time) and marks each `Delivered`
//! (the Maildir file as detail), `Deferred` (a transient I/O error,
//! retried at the next scan) or `Failed` (a local part that cannot name a
//! mailbox; permanent). Every other recipient is left exactly as it was:
//! a non-final recipient outside the Authoritative domains belongs to the
//! sending side, which finds it with [`crate::queue::Queue::load_all`].
//! Updates use [`crate::queue::Queue::update_recipients`], which does not
//! count an attempt nor touch the retry time.
//!
//! A message whose recipients are all `Delivered` is removed from the
//! queue. One with a `Failed` recipient stays (a delivery status
//! notification is due; that is the sending side's job).
//!
//! The runner ([`crate::runner`]) is told about every id this worker was
//! handed, after local delivery; it takes the remote recipients and the
//! failure reports from there. Both update envelopes with
//! [`crate::queue::Queue::update`] under the message's lock.
//!
//! # Crash safety
//! Delivery is at least once: a crash between the Maildir rename and the
//! status update delivers that recipient again after restart. Nothing is
//! lost: the queue entry is only removed after every copy is durable.
//!
//! # Batches
//! Deliveries run in batches: every id handed over while the previous
//! batch was busy (at most [`MAX_BATCH`]) forms the next one, processed
//! in chunks of [`CHUNK`]. A chunk is a group commit: every Maildir file
//! of the chunk is written to its `tmp/` without an fsync; **one**
//! `syncfs` makes all their bytes durable; they are renamed into `new/`
//! (so a reader never sees a file whose bytes are not on disk); **one**
//! more `syncfs` makes the renames durable (a chunk of one or two files,
//! as with a single SMTP session, is fsynced file by file and folder by
//! folder instead: see [`crate::queue::SYNCFS_FROM`]). Two disk flushes for the whole
//! chunk, where an fsync per file and per folder cost one each (128 files
//! here: 38-65 ms with 32 threads fsyncing, 5-9 ms written then synced
//! once). Only then are
//! the queue entries updated: a message whose recipients are now all
//! delivered is removed straight away (no intermediate envelope rewrite,
//! no directory fsync of its own, see [`crate::queue::Queue::update`]);
//! the others get their new envelope, and one fsync of the queue
//! directory covers them all. So a message leaves the queue only after
//! its Maildir copies are durable; a crash may at worst deliver one chunk
//! twice.
//!
//! # Scheduling
//! The SMTP server hands each newly queued id over a channel; at start,
//! and every `rescan` interval, the whole queue is scanned (messages
//! queued before a crash, deferred recipients, domains that became
//! Authoritative).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::config::RuntimeConfig;
use crate::maildir::{self, MaildirError};
use crate::metrics::Metrics;
use crate::queue::{
    Disposition, MessageId, Queue, QueueError, QueuedMessage, RecipientStatus, now_ms,
};
use crate::runner::RunnerNotifier;
use crate::server::stamp::header_value;
use crate::tracking::{EventId, TrackingEvent, TrackingLog};

/// Most ids in one batch.
pub const MAX_BATCH: usize = 1024;
/// Messages written, synced and recorded together within a batch. A crash
/// between a chunk's Maildir sync and its queue update delivers that chunk
/// again, so this bounds the duplicates a crash can cause.
pub const CHUNK: usize = 128;

enum Msg {
    Queued(MessageId),
    Stop,
}

/// The running worker.
#[derive(Debug)]
pub struct DeliveryWorker {
    tx: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
}

/// Hands queued ids to the worker (cheap to clone).
#[derive(Debug, Clone)]
pub struct DeliveryNotifier(Sender<Msg>);

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Queued(id) => write!(f, "Queued({id})"),
            Msg::Stop => f.write_str("Stop"),
        }
    }
}

impl DeliveryNotifier {
    /// A message was queued; deliver its local recipients.
    pub fn queued(&self, id: MessageId) {
        // A stopped worker picks the message up at its next start.
        let _ = self.0.send(Msg::Queued(id));
    }
}

impl DeliveryWorker {
    /// Starts the worker thread; it first delivers everything already in
    /// the queue.
    pub fn spawn(
        queue: Arc<Queue>,
        config: Arc<ArcSwap<RuntimeConfig>>,
        mailboxes: PathBuf,
        tracking: Arc<TrackingLog>,
        rescan: Duration,
        runner: Option<RunnerNotifier>,
    ) -> std::io::Result<DeliveryWorker> {
        Self::spawn_with_metrics(
            queue,
            config,
            mailboxes,
            tracking,
            rescan,
            runner,
            Arc::default(),
        )
    }

    // metrics
    /// [`DeliveryWorker::spawn`], counting local deliveries in `metrics`.
    pub fn spawn_with_metrics(
        queue: Arc<Queue>,
        config: Arc<ArcSwap<RuntimeConfig>>,
        mailboxes: PathBuf,
        tracking: Arc<TrackingLog>,
        rescan: Duration,
        runner: Option<RunnerNotifier>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<DeliveryWorker> {
        let (tx, rx) = mpsc::channel();
        let worker = Worker {
            queue,
            config,
            mailboxes,
            tracking,
            metrics,
        };
        let thread = thread::Builder::new()
            .name("local-delivery".into())
            .spawn(move || {
                let stale = maildir::remove_stale_tmp(&worker.mailboxes, maildir::STALE_TMP);
                if stale > 0 {
                    tracing::info!(
                        files = stale,
                        "local delivery: removed files older than 36 hours from Maildir tmp/ folders (deliveries interrupted by a crash)"
                    );
                }
                worker.scan();
                loop {
                    match rx.recv_timeout(rescan) {
                        Ok(Msg::Queued(id)) => {
                            let (ids, stop) = more(id, &rx);
                            let left = worker.process_ids(&ids);
                            // What is left (remote recipients, failures to
                            // report) is the queue runner's.
                            if let Some(r) = &runner {
                                for id in left {
                                    r.queued(id);
                                }
                            }
                            if stop {
                                break;
                            }
                        }
                        Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                        Err(RecvTimeoutError::Timeout) => worker.scan(),
                    }
                }
            })?;
        Ok(DeliveryWorker {
            tx,
            thread: Some(thread),
        })
    }

    pub fn notifier(&self) -> DeliveryNotifier {
        DeliveryNotifier(self.tx.clone())
    }

    /// Finishes the ids already handed over, then stops.
    pub fn stop(mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Worker {
    queue: Arc<Queue>,
    config: Arc<ArcSwap<RuntimeConfig>>,
    mailboxes: PathBuf,
    tracking: Arc<TrackingLog>,
    // metrics
    metrics: Arc<Metrics>,
}

fn split_address(address: &str) -> Option<(&str, &str)> {
    let at = address.rfind('@')?;
    Some((&address[..at], &address[at + 1..]))
}

/// `first` and every id already waiting (at most [`MAX_BATCH`]); true
/// when a stop request was among them.
fn more(first: MessageId, rx: &Receiver<Msg>) -> (Vec<MessageId>, bool) {
    let mut ids = vec![first];
    while ids.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(Msg::Queued(id)) => ids.push(id),
            Ok(Msg::Stop) => return (ids, true),
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
        }
    }
    (ids, false)
}

/// The kind of a sync error, kept for each recipient it defers.
fn sync_error_kind(e: &MaildirError) -> std::io::ErrorKind {
    match e {
        MaildirError::Io { source, .. } => source.kind(),
        _ => std::io::ErrorKind::Other,
    }
}

/// One message's Message-ID and Subject and, per recipient, its file in
/// `new/` or why it failed.
type Published = (
    HeadFacts,
    Vec<(String, Result<maildir::Staged, MaildirError>)>,
);

/// One message's local deliveries, before the folders are fsynced.
/// What the tracking log records from a message's header section.
#[derive(Debug, Clone, Default)]
struct HeadFacts {
    message_id: Option<String>,
    subject: Option<String>,
}

struct Written {
    /// The message's Message-ID and Subject (for the tracking log).
    message_id: HeadFacts,
    /// Per recipient address: the file written to the Maildir's `tmp/`,
    /// or why it failed.
    staged: Vec<(String, Result<maildir::Pending, MaildirError>)>,
}

impl Worker {
    fn scan(&self) {
        match self.queue.load_all() {
            Ok(all) => {
                let mut all = all.into_iter().peekable();
                while all.peek().is_some() {
                    let batch: Vec<QueuedMessage> = all.by_ref().take(MAX_BATCH).collect();
                    self.process(batch);
                }
            }
            Err(e) => tracing::error!(error = %e, "local delivery: cannot scan the queue"),
        }
    }

    /// Delivers the local recipients of `ids`; returns the ids still in
    /// the queue.
    fn process_ids(&self, ids: &[MessageId]) -> Vec<MessageId> {
        let mut msgs = Vec::with_capacity(ids.len());
        // Gone already (a scan delivered it first): nothing is left for
        // the runner either.
        let mut gone = HashSet::new();
        for id in ids {
            match self.queue.get(id) {
                Ok(m) => msgs.push(m),
                Err(QueueError::NotFound(_)) => {
                    gone.insert(id.clone());
                }
                Err(e) => {
                    tracing::error!(id = %id, error = %e, "local delivery: cannot read a queued message")
                }
            }
        }
        let removed = self.process(msgs);
        ids.iter()
            .filter(|id| !removed.contains(*id) && !gone.contains(*id))
            .cloned()
            .collect()
    }

    /// The local recipients of `m` (pending or deferred, in an
    /// Authoritative domain).
    fn local_recipients<'a>(rt: &RuntimeConfig, m: &'a QueuedMessage) -> Vec<&'a str> {
        m.envelope
            .recipients
            .iter()
            .filter(|r| {
                matches!(
                    r.status,
                    RecipientStatus::Pending | RecipientStatus::Deferred { .. }
                )
            })
            .filter(|r| split_address(&r.address).is_some_and(|(_, d)| rt.is_authoritative(d)))
            .map(|r| r.address.as_str())
            .collect()
    }

    /// Writes one message to the `tmp/` of each of its local recipients'
    /// Maildirs (not durable, not visible: see [`Worker::process_chunk`]).
    ///
    /// The message is copied from the queue file to each Maildir file in
    /// pieces (in the kernel where it can), never loaded whole; only its
    /// head is read, for the Message-ID.
    fn write(&self, m: &QueuedMessage, recipients: &[&str]) -> Written {
        let file = match self.queue.open_message(&m.id) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(id = %m.id, error = %e, "local delivery: cannot read the message");
                return Written {
                    message_id: HeadFacts::default(),
                    staged: Vec::new(),
                };
            }
        };
        let message_id = file
            .head()
            .ok()
            .map(|h| HeadFacts {
                message_id: header_value(&h, "Message-ID"),
                subject: header_value(&h, "Subject"),
            })
            .unwrap_or_default();
        let staged = recipients
            .iter()
            .filter_map(|address| {
                let (local, domain) = split_address(address)?;
                Some((
                    (*address).to_string(),
                    maildir::write_unsynced_with(&self.mailboxes, domain, local, |out| {
                        file.copy_to(out).map(|_| ())
                    }),
                ))
            })
            .collect();
        Written { message_id, staged }
    }

    /// Delivers a batch (see the module docs) in chunks of [`CHUNK`]
    /// messages; returns the ids removed from the queue.
    fn process(&self, msgs: Vec<QueuedMessage>) -> HashSet<MessageId> {
        let mut removed = HashSet::new();
        for chunk in msgs.chunks(CHUNK) {
            removed.extend(self.process_chunk(chunk));
        }
        removed
    }

    /// Writes a chunk, fsyncs each folder it touched once, then records
    /// the results: a crash repeats at most one chunk's deliveries.
    fn process_chunk(&self, msgs: &[QueuedMessage]) -> HashSet<MessageId> {
        let mut removed = HashSet::new();
        let rt = self.config.load();
        let work: Vec<(&QueuedMessage, Vec<&str>)> = msgs
            .iter()
            .map(|m| (m, Self::local_recipients(&rt, m)))
            .filter(|(_, r)| !r.is_empty())
            .collect();
        if work.is_empty() {
            return removed;
        }
        // Only the messages with local recipients are being delivered here.
        let _active = self
            .queue
            .track_active(work.iter().map(|(m, _)| m.id.clone()).collect());
        let written: Vec<Written> = work.iter().map(|(m, rcpts)| self.write(m, rcpts)).collect();
        // The group commit: one syncfs for every file's bytes, the renames
        // into new/, one syncfs for the renames (a few files: an fsync
        // each, then each folder's).
        let files = written
            .iter()
            .flat_map(|w| w.staged.iter())
            .filter(|(_, p)| p.is_ok())
            .count();
        let small = files < crate::queue::SYNCFS_FROM;
        let data_synced = if small {
            written
                .iter()
                .flat_map(|w| w.staged.iter())
                .filter_map(|(_, p)| p.as_ref().ok())
                .try_for_each(maildir::Pending::sync)
        } else {
            maildir::sync_filesystem(&self.mailboxes)
        };
        let written: Vec<Published> = written
            .into_iter()
            .map(|w| {
                let staged = w
                    .staged
                    .into_iter()
                    .map(|(address, pending)| {
                        let published = match (pending, &data_synced) {
                            (Ok(p), Ok(())) => p.publish(),
                            (Ok(p), Err(e)) => {
                                p.discard();
                                Err(MaildirError::Io {
                                    op: "syncfs",
                                    path: self.mailboxes.clone(),
                                    source: std::io::Error::new(sync_error_kind(e), e.to_string()),
                                })
                            }
                            (Err(e), _) => Err(e),
                        };
                        (address, published)
                    })
                    .collect();
                (w.message_id, staged)
            })
            .collect();
        let names_synced = if small {
            let folders: HashSet<&std::path::Path> = written
                .iter()
                .flat_map(|(_, staged)| staged.iter())
                .filter_map(|(_, s)| s.as_ref().ok().map(|s| s.new_dir.as_path()))
                .collect();
            folders.into_iter().try_for_each(maildir::sync_folder)
        } else {
            maildir::sync_filesystem(&self.mailboxes)
        }
        .err()
        .map(|e| e.to_string());
        let mut kept = false;
        let mut to_track = Vec::new();
        for ((m, _), (message_id, staged)) in work.iter().zip(written) {
            let results: Vec<(String, RecipientStatus)> = staged
                .into_iter()
                .map(|(address, staged)| {
                    let status = match staged {
                        Ok(s) => match &names_synced {
                            None => RecipientStatus::Delivered {
                                at_ms: now_ms(),
                                detail: s.path.display().to_string(),
                            },
                            Some(reason) => {
                                tracing::warn!(id = %m.id, recipient = %address, error = %reason, "local delivery deferred");
                                RecipientStatus::Deferred {
                                    reason: reason.clone(),
                                }
                            }
                        },
                        Err(e) if e.is_transient() => {
                            tracing::warn!(id = %m.id, recipient = %address, error = %e, "local delivery deferred");
                            RecipientStatus::Deferred {
                                reason: e.to_string(),
                            }
                        }
                        Err(e) => {
                            tracing::warn!(id = %m.id, recipient = %address, error = %e, "local delivery failed");
                            RecipientStatus::Failed {
                                reason: e.to_string(),
                            }
                        }
                    };
                    (address, status)
                })
                .collect();
            if results.is_empty() {
                continue;
            }
            // Decided on the envelope as it is now (under the message's
            // lock): the queue runner may have finished the remote
            // recipients meanwhile.
            let saved = self.queue.update_unsynced(&m.id, |e| {
                e.apply(&results);
                // A success report due (NOTIFY=SUCCESS) keeps the message
                // for the runner, which sends it.
                if e.recipients.iter().all(|r| {
                    matches!(r.status, RecipientStatus::Delivered { .. }) && !r.needs_dsn()
                }) {
                    Disposition::Remove
                } else {
                    Disposition::Keep
                }
            });
            match saved {
                Ok(u) if u.removed => {
                    removed.insert(m.id.clone());
                }
                Ok(_) => kept = true,
                Err(e) => {
                    tracing::error!(id = %m.id, error = %e, "local delivery: cannot record the result")
                }
            }
            to_track.push((m, message_id, results));
        }
        if kept && let Err(e) = self.queue.sync_active_dir() {
            tracing::error!(error = %e, "local delivery: cannot record the results");
        }
        for (m, message_id, results) in to_track {
            self.track(m, message_id, &results);
        }
        removed
    }

    fn track(&self, m: &QueuedMessage, head: HeadFacts, results: &[(String, RecipientStatus)]) {
        for (event, pick) in [(EventId::Deliver, true), (EventId::Fail, false)] {
            let chosen: Vec<&(String, RecipientStatus)> = results
                .iter()
                .filter(|(_, s)| match s {
                    RecipientStatus::Delivered { .. } => pick,
                    RecipientStatus::Failed { .. } => !pick,
                    _ => false,
                })
                .collect();
            if chosen.is_empty() {
                continue;
            }
            let env = &m.envelope;
            // metrics
            if pick {
                self.metrics.delivered_locally(Duration::from_millis(
                    now_ms().saturating_sub(env.received_at_ms),
                ));
            }
            let mut ev = TrackingEvent::new(event, m.id.to_string(), env.tls.as_ref());
            ev.message_id = head.message_id.clone();
            ev.message_subject = head.subject.clone();
            ev.sender = env.sender.clone();
            ev.recipients = chosen.iter().map(|(a, _)| a.clone()).collect();
            ev.dsn_from(env);
            ev.client_ip = env.client_ip;
            ev.connector = env.connector.clone();
            ev.auth_as = env.auth.as_ref().map(|a| a.auth_as.clone());
            ev.auth_domain = env.auth.as_ref().and_then(|a| a.domain.clone());
            ev.detail = Some(
                chosen
                    .iter()
                    .map(|(_, s)| match s {
                        RecipientStatus::Delivered { detail, .. } => detail.clone(),
                        RecipientStatus::Failed { reason } => reason.clone(),
                        _ => String::new(),
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            );
            if let Err(e) = self.tracking.write(&ev) {
                tracing::error!(error = %e, "cannot write the tracking log");
            }
        }
    }
}

#[cfg(test)]
mod tests;
