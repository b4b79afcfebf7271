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
//! # Scheduling
//! The SMTP server hands each newly queued id over a channel; at start,
//! and every `rescan` interval, the whole queue is scanned (messages
//! queued before a crash, deferred recipients, domains that became
//! Authoritative).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::config::RuntimeConfig;
use crate::maildir;
use crate::queue::{
    Disposition, MessageId, Queue, QueueError, QueuedMessage, RecipientStatus, now_ms,
};
use crate::runner::RunnerNotifier;
use crate::server::stamp::header_value;
use crate::tracking::{EventId, TrackingEvent, TrackingLog};

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
        let (tx, rx) = mpsc::channel();
        let worker = Worker {
            queue,
            config,
            mailboxes,
            tracking,
        };
        let thread = thread::Builder::new()
            .name("local-delivery".into())
            .spawn(move || {
                worker.scan();
                loop {
                    match rx.recv_timeout(rescan) {
                        Ok(Msg::Queued(id)) => {
                            worker.process_id(&id);
                            // What is left (remote recipients, failures to
                            // report) is the queue runner's.
                            if let Some(r) = &runner {
                                r.queued(id);
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
}

fn split_address(address: &str) -> Option<(&str, &str)> {
    let at = address.rfind('@')?;
    Some((&address[..at], &address[at + 1..]))
}

impl Worker {
    fn scan(&self) {
        match self.queue.load_all() {
            Ok(all) => {
                for m in all {
                    self.process(m);
                }
            }
            Err(e) => tracing::error!(error = %e, "local delivery: cannot scan the queue"),
        }
    }

    fn process_id(&self, id: &MessageId) {
        match self.queue.get(id) {
            Ok(m) => self.process(m),
            Err(QueueError::NotFound(_)) => {}
            Err(e) => {
                tracing::error!(id = %id, error = %e, "local delivery: cannot read a queued message")
            }
        }
    }

    fn process(&self, m: QueuedMessage) {
        let rt = self.config.load();
        let mut bytes: Option<Vec<u8>> = None;
        let mut results: Vec<(String, RecipientStatus)> = Vec::new();
        for r in &m.envelope.recipients {
            if !matches!(
                r.status,
                RecipientStatus::Pending | RecipientStatus::Deferred { .. }
            ) {
                continue;
            }
            let Some((local, domain)) = split_address(&r.address) else {
                continue;
            };
            if !rt.is_authoritative(domain) {
                continue;
            }
            if bytes.is_none() {
                match self.queue.read_message(&m.id) {
                    Ok(b) => bytes = Some(b),
                    Err(e) => {
                        tracing::error!(id = %m.id, error = %e, "local delivery: cannot read the message");
                        return;
                    }
                }
            }
            let body = bytes.as_deref().unwrap_or_default();
            let status = match maildir::deliver(&self.mailboxes, domain, local, body) {
                Ok(path) => RecipientStatus::Delivered {
                    at_ms: now_ms(),
                    detail: path.display().to_string(),
                },
                Err(e) if e.is_transient() => {
                    tracing::warn!(id = %m.id, recipient = %r.address, error = %e, "local delivery deferred");
                    RecipientStatus::Deferred {
                        reason: e.to_string(),
                    }
                }
                Err(e) => {
                    tracing::warn!(id = %m.id, recipient = %r.address, error = %e, "local delivery failed");
                    RecipientStatus::Failed {
                        reason: e.to_string(),
                    }
                }
            };
            results.push((r.address.clone(), status));
        }
        if results.is_empty() {
            return;
        }
        // Decided on the envelope as it is now (under the message's lock):
        // the queue runner may have finished the remote recipients meanwhile.
        let saved = self.queue.update(&m.id, |e| {
            e.apply(&results);
            if e.recipients
                .iter()
                .all(|r| matches!(r.status, RecipientStatus::Delivered { .. }))
            {
                Disposition::Remove
            } else {
                Disposition::Keep
            }
        });
        if let Err(e) = saved {
            tracing::error!(id = %m.id, error = %e, "local delivery: cannot record the result");
        }
        self.track(&m, bytes.as_deref(), &results);
    }

    fn track(
        &self,
        m: &QueuedMessage,
        bytes: Option<&[u8]>,
        results: &[(String, RecipientStatus)],
    ) {
        let message_id = bytes.and_then(|b| header_value(b, "Message-ID"));
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
            let mut ev = TrackingEvent::new(event, m.id.to_string(), env.tls.as_ref());
            ev.message_id = message_id.clone();
            ev.sender = env.sender.clone();
            ev.recipients = chosen.iter().map(|(a, _)| a.clone()).collect();
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
