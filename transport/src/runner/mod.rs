//! The queue runner: the sending side of the engine.
//!
//! # What it picks up
//! A queued message has work for the runner when a recipient outside the
//! Authoritative domains is not final and its retry time has come
//! (`next_retry_ms`), or when a failed recipient still needs a delivery
//! status notification. It finds such messages by scanning the queue at
//! start (so a restart resumes where the last run stopped), when a retry
//! time comes, every idle interval, and when the local delivery worker
//! hands over a newly queued id ([`RunnerNotifier`]).
//!
//! # One pass ("batch")
//! The messages due at one moment form a batch (`attempt`): their remote
//! recipients are grouped by (send connector, next-hop domain)
//! ([`crate::routing::group_recipients`]), across messages, so that one
//! connection carries every message for the same next hop. A batch holds at
//! most 100 messages and 32 MB, and at most 8 batches run at once; due
//! messages beyond that wait in line (envelopes only), so the runner's
//! memory stays bounded whatever the backlog. For each group:
//! the TLS policy ([`crate::outbound::tls::decide`] with
//! TLSSendDomainSecureList, the connector, and the per-host "plaintext next
//! time" memory after a failed opportunistic handshake), MX or smart-host
//! resolution, the connector's size limit, then
//! [`crate::outbound::deliver::deliver`] with the connector's compiled
//! client configuration and ConnectionInactivityTimeout. At most
//! [`RunnerOptions::concurrency`] next hops are in progress at once.
//!
//! # Recording
//! Each message of the batch is recorded once (`record`), as soon as every
//! next hop it is in has answered for it: the sessions report each message
//! as it is done ([`crate::outbound::deliver::deliver_with_progress`]), so
//! a crash in the middle of a long session re-sends only the messages not
//! yet recorded, not the whole batch. Recording uses
//! [`crate::queue::Queue::update`], under the message's lock and on the
//! envelope as it is on disk, so the local delivery worker's updates are
//! never lost: recipient statuses and last replies, one more attempt, the
//! retry time from the schedule (the connection-failure interval when no
//! host could be reached), LastError; expiry fails what is left; a DSN is
//! queued (from `<>` to the sender, never for a null sender) for failures
//! not yet reported, and one delay notice after DelayNotificationTimeout;
//! the message is removed when every recipient is final and reported.
//! A message is in at most one batch at a time.
//!
//! # Never plaintext when TLS is required
//! The policy decides; [`crate::outbound::deliver`] refuses to start a
//! session without a TLS configuration when the policy needs one, and the
//! client session fails before MAIL when STARTTLS is required but missing.

mod attempt;
mod record;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::config::RuntimeConfig;
use crate::delivery::DeliveryNotifier;
use crate::metrics::Metrics;
use crate::outbound::lookups::PolicyLookups;
use crate::queue::{MessageId, Queue, QueuedMessage, now_ms};
use crate::routing::recipient_domain;
use crate::tracking::TrackingLog;

/// Most messages in one batch: a next hop's session carries at most this
/// many before the runner opens the next one.
const BATCH_MESSAGES: usize = 100;
/// Most message bytes in one batch (a single larger message still forms a
/// batch of its own). Messages are streamed from their files, not held,
/// so this bounds the work of a batch (how much a slow hop holds up), not
/// memory.
const BATCH_BYTES: u64 = 32 * 1024 * 1024;
/// Batches in progress at once. Memory per batch is its envelopes, the
/// first 64 KB of each message and one piece per session being sent; due
/// messages beyond these batches wait in line (their envelopes only).
const MAX_BATCHES: usize = 8;

/// How the runner runs.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Next hops delivered to at the same time.
    pub concurrency: usize,
    /// Longest sleep between two scans of the whole queue.
    pub idle_rescan: Duration,
    /// At shutdown, how long deliveries in progress may take to finish.
    pub grace: Duration,
    /// How long a host whose opportunistic TLS handshake failed gets
    /// plaintext.
    pub plaintext_memory: Duration,
    // metrics
    /// Where deliveries and outbound handshake failures are counted.
    pub metrics: Arc<Metrics>,
    /// The send protocol log (connectors with ProtocolLoggingLevel Verbose).
    pub send_protocol_log: Arc<crate::protolog::ProtocolLog>,
    /// The DANE/MTA-STS lookups (shared with the control socket); None:
    /// the runner's own, MTA-STS policies in memory only.
    pub lookups: Option<Arc<PolicyLookups>>,
    /// Where outbound TLS sessions are recorded for TLS reports (RFC 8460).
    pub tlsrpt: Option<Arc<crate::tlsrpt::log::SessionLog>>,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            concurrency: 8,
            idle_rescan: Duration::from_secs(30),
            grace: Duration::from_secs(10),
            plaintext_memory: Duration::from_secs(3600),
            metrics: Arc::default(),
            send_protocol_log: Arc::new(crate::protolog::ProtocolLog::new(
                crate::protolog::LogKind::Send,
            )),
            lookups: None,
            tlsrpt: None,
        }
    }
}

/// Hands queued ids to the runner (cheap to clone; usable from any thread).
#[derive(Debug, Clone)]
pub struct RunnerNotifier(mpsc::UnboundedSender<MessageId>);

impl RunnerNotifier {
    /// A message was queued (and its local recipients handled).
    pub fn queued(&self, id: MessageId) {
        // A stopped runner finds the message at its next start.
        let _ = self.0.send(id);
    }
}

/// The receiving end of [`RunnerNotifier`].
#[derive(Debug)]
pub struct RunnerInbox(mpsc::UnboundedReceiver<MessageId>);

/// A notifier and the inbox it feeds.
pub fn channel() -> (RunnerNotifier, RunnerInbox) {
    let (tx, rx) = mpsc::unbounded_channel();
    (RunnerNotifier(tx), RunnerInbox(rx))
}

#[cfg(test)]
impl RunnerInbox {
    /// The next id already sent, if any.
    pub(crate) fn try_recv_for_tests(&mut self) -> Option<MessageId> {
        self.0.try_recv().ok()
    }
}

/// What every batch shares.
pub(crate) struct Ctx {
    pub queue: Arc<Queue>,
    pub config: Arc<ArcSwap<RuntimeConfig>>,
    pub tracking: Arc<TrackingLog>,
    /// Local delivery of the DSNs we queue (for a local sender).
    pub delivery: Option<DeliveryNotifier>,
    /// Our own inbox, for the DSNs to remote senders.
    pub myself: RunnerNotifier,
    pub permits: Arc<Semaphore>,
    /// Hosts whose opportunistic handshake failed, until when.
    pub plaintext: Mutex<HashMap<String, Instant>>,
    pub plaintext_memory: Duration,
    // metrics
    pub metrics: Arc<Metrics>,
    pub send_protocol_log: Arc<crate::protolog::ProtocolLog>,
    /// Resolvers and the MTA-STS cache (shared with the control socket).
    pub lookups: Arc<PolicyLookups>,
    pub tlsrpt: Option<Arc<crate::tlsrpt::log::SessionLog>>,
}

impl Ctx {
    pub fn plaintext_next_time(&self, host: &str) -> bool {
        let mut m = self.plaintext.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        m.retain(|_, until| *until > now);
        m.contains_key(host)
    }

    pub fn remember_plaintext(&self, host: &str) {
        let mut m = self.plaintext.lock().unwrap_or_else(|p| p.into_inner());
        m.insert(host.to_string(), Instant::now() + self.plaintext_memory);
    }
}

/// When `m` has work for the runner: `Some(0)` now, `Some(t)` at `t`,
/// `None` never (only local recipients left, or nothing).
fn due_at(rt: &RuntimeConfig, m: &QueuedMessage) -> Option<u64> {
    let e = &m.envelope;
    if e.recipients.iter().any(|r| r.needs_dsn()) || e.is_finished() {
        return Some(0);
    }
    let remote = e.recipients.iter().any(|r| {
        !r.status.is_final()
            && recipient_domain(&r.address).is_none_or(|d| !rt.is_authoritative(&d))
    });
    if !remote {
        return None;
    }
    Some(e.next_retry_ms.unwrap_or(0))
}

/// The running runner.
#[derive(Debug)]
pub struct Runner;

impl Runner {
    /// Starts the runner task; it stops (after letting deliveries in
    /// progress finish for `opts.grace`) when `stop` becomes true.
    #[allow(clippy::too_many_arguments)]
    pub fn spawn(
        inbox: RunnerInbox,
        myself: RunnerNotifier,
        queue: Arc<Queue>,
        config: Arc<ArcSwap<RuntimeConfig>>,
        tracking: Arc<TrackingLog>,
        delivery: Option<DeliveryNotifier>,
        opts: RunnerOptions,
        stop: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let ctx = Arc::new(Ctx {
            queue,
            config,
            tracking,
            delivery,
            myself,
            permits: Arc::new(Semaphore::new(opts.concurrency.max(1))),
            plaintext: Mutex::new(HashMap::new()),
            plaintext_memory: opts.plaintext_memory,
            metrics: Arc::clone(&opts.metrics),
            send_protocol_log: Arc::clone(&opts.send_protocol_log),
            lookups: opts
                .lookups
                .clone()
                .unwrap_or_else(|| Arc::new(PolicyLookups::new(None))),
            tlsrpt: opts.tlsrpt.clone(),
        });
        tokio::spawn(run(ctx, inbox, opts, stop))
    }
}

async fn load(ctx: &Arc<Ctx>, ids: Option<Vec<MessageId>>) -> Vec<QueuedMessage> {
    let q = Arc::clone(&ctx.queue);
    let joined = tokio::task::spawn_blocking(move || match ids {
        None => q.load_all().unwrap_or_else(|e| {
            tracing::error!(error = %e, "queue runner: cannot scan the queue");
            Vec::new()
        }),
        Some(ids) => ids.iter().filter_map(|id| q.get(id).ok()).collect(),
    })
    .await;
    joined.unwrap_or_default()
}

async fn run(
    ctx: Arc<Ctx>,
    mut inbox: RunnerInbox,
    opts: RunnerOptions,
    mut stop: watch::Receiver<bool>,
) {
    let mut in_flight: HashSet<MessageId> = HashSet::new();
    // Notified while in flight: looked at again when the batch ends.
    let mut again: HashSet<MessageId> = HashSet::new();
    let mut batches: JoinSet<(Vec<MessageId>, Option<u64>)> = JoinSet::new();
    // Due messages waiting for a batch slot, oldest first.
    let mut backlog: VecDeque<QueuedMessage> = VecDeque::new();
    let mut backlogged: HashSet<MessageId> = HashSet::new();
    let mut next_scan = tokio::time::Instant::now();
    loop {
        let mut wanted: Option<Option<Vec<MessageId>>> = None;
        tokio::select! {
            _ = stop.changed() => break,
            () = tokio::time::sleep_until(next_scan) => wanted = Some(None),
            got = inbox.0.recv() => {
                let Some(first) = got else { break };
                let mut ids = vec![first];
                while let Ok(id) = inbox.0.try_recv() {
                    ids.push(id);
                }
                wanted = Some(Some(ids));
            }
            Some(done) = batches.join_next(), if !batches.is_empty() => {
                if let Ok((ids, next)) = done {
                    let mut redo = Vec::new();
                    for id in ids {
                        in_flight.remove(&id);
                        if again.remove(&id) {
                            redo.push(id);
                        }
                    }
                    if let Some(t) = next {
                        next_scan = next_scan.min(deadline_at(t));
                    }
                    if !redo.is_empty() {
                        wanted = Some(Some(redo));
                    }
                }
                start_batches(&ctx, &mut backlog, &mut backlogged, &mut in_flight, &mut batches);
            }
        }
        let Some(ids) = wanted else { continue };
        let full = ids.is_none();
        let ids = ids.map(|v| {
            v.into_iter()
                .filter(|id| {
                    if in_flight.contains(id) {
                        again.insert(id.clone());
                        false
                    } else {
                        true
                    }
                })
                .collect::<Vec<_>>()
        });
        let msgs = load(&ctx, ids).await;
        let rt = ctx.config.load_full();
        let now = now_ms();
        let mut due = Vec::new();
        let mut earliest: Option<u64> = None;
        for m in msgs {
            if in_flight.contains(&m.id) || backlogged.contains(&m.id) {
                continue;
            }
            match due_at(&rt, &m) {
                Some(t) if t <= now => due.push(m),
                Some(t) => earliest = Some(earliest.map_or(t, |e: u64| e.min(t))),
                None => {}
            }
        }
        if full {
            next_scan = tokio::time::Instant::now() + opts.idle_rescan;
        }
        if let Some(t) = earliest {
            next_scan = next_scan.min(deadline_at(t));
        }
        if due.is_empty() {
            continue;
        }
        for m in due {
            backlogged.insert(m.id.clone());
            backlog.push_back(m);
        }
        start_batches(
            &ctx,
            &mut backlog,
            &mut backlogged,
            &mut in_flight,
            &mut batches,
        );
    }
    // Shutdown: let deliveries in progress finish, within the grace period.
    let deadline = tokio::time::Instant::now() + opts.grace;
    while !batches.is_empty() {
        match tokio::time::timeout_at(deadline, batches.join_next()).await {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => {
                tracing::warn!(
                    batches = batches.len(),
                    "queue runner: grace period over, abandoning deliveries in progress (they are retried at the next start)"
                );
                batches.abort_all();
                break;
            }
        }
    }
}

/// Starts batches from the backlog while fewer than [`MAX_BATCHES`] are in
/// progress, each at most [`BATCH_MESSAGES`] messages and [`BATCH_BYTES`].
fn start_batches(
    ctx: &Arc<Ctx>,
    backlog: &mut VecDeque<QueuedMessage>,
    backlogged: &mut HashSet<MessageId>,
    in_flight: &mut HashSet<MessageId>,
    batches: &mut JoinSet<(Vec<MessageId>, Option<u64>)>,
) {
    while batches.len() < MAX_BATCHES && !backlog.is_empty() {
        let due = take_batch(backlog);
        for m in &due {
            backlogged.remove(&m.id);
            in_flight.insert(m.id.clone());
        }
        let ids: Vec<MessageId> = due.iter().map(|m| m.id.clone()).collect();
        let ctx = Arc::clone(ctx);
        let rt = ctx.config.load_full();
        batches.spawn(async move {
            let _active = ctx.queue.track_active(ids.clone());
            let next = attempt::batch(&ctx, rt, due).await;
            (ids, next)
        });
    }
}

/// The next batch from the front of the backlog: at least one message, at
/// most [`BATCH_MESSAGES`], and no more than [`BATCH_BYTES`] unless a single
/// message is larger.
fn take_batch(backlog: &mut VecDeque<QueuedMessage>) -> Vec<QueuedMessage> {
    let mut due = Vec::new();
    let mut bytes = 0u64;
    while let Some(m) = backlog.front() {
        if !due.is_empty()
            && (due.len() >= BATCH_MESSAGES || bytes.saturating_add(m.size) > BATCH_BYTES)
        {
            break;
        }
        let Some(m) = backlog.pop_front() else { break };
        bytes = bytes.saturating_add(m.size);
        due.push(m);
    }
    due
}

/// The tokio instant of a wall-clock time (milliseconds since the epoch).
fn deadline_at(t_ms: u64) -> tokio::time::Instant {
    let wait = t_ms.saturating_sub(now_ms());
    tokio::time::Instant::now() + Duration::from_millis(wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Envelope;

    fn queued(size: u64) -> QueuedMessage {
        QueuedMessage {
            version: 1,
            id: MessageId::generate(),
            size,
            envelope: Envelope::new("a@orga.example", ["b@relay.example".to_string()]),
        }
    }

    #[test]
    fn batches_are_bounded_by_count_and_bytes_whatever_the_backlog() {
        let mut backlog: VecDeque<QueuedMessage> = (0..250).map(|_| queued(4096)).collect();
        let sizes: Vec<usize> =
            std::iter::from_fn(|| (!backlog.is_empty()).then(|| take_batch(&mut backlog).len()))
                .collect();
        assert_eq!(sizes, [100, 100, 50]);

        // Oldest first.
        let mut backlog: VecDeque<QueuedMessage> = (0..3).map(|_| queued(10)).collect();
        let ids: Vec<MessageId> = backlog.iter().map(|m| m.id.clone()).collect();
        assert_eq!(
            take_batch(&mut backlog)
                .iter()
                .map(|m| m.id.clone())
                .collect::<Vec<_>>(),
            ids
        );

        // 10 MB messages: three fit in 32 MB, the fourth starts the next batch.
        let mut backlog: VecDeque<QueuedMessage> =
            (0..7).map(|_| queued(10 * 1024 * 1024)).collect();
        assert_eq!(take_batch(&mut backlog).len(), 3);
        assert_eq!(take_batch(&mut backlog).len(), 3);
        assert_eq!(take_batch(&mut backlog).len(), 1);

        // A single message over the limit still goes, alone.
        let mut backlog: VecDeque<QueuedMessage> = [queued(100 * 1024 * 1024), queued(10)]
            .into_iter()
            .collect();
        assert_eq!(take_batch(&mut backlog).len(), 1);
        assert_eq!(take_batch(&mut backlog).len(), 1);
        assert!(backlog.is_empty());
    }
}
