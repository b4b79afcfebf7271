//! One batch: group the due messages' remote recipients by next hop,
//! deliver each group (bounded concurrency), and record each message as
//! soon as every next hop it is in has answered for it.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::config::{RuntimeConfig, SendConnectorRuntime};
use crate::dns::{Host, resolve_mx, resolve_smart_hosts};
use crate::outbound::deliver::{
    Cause, DeliveryReport, Outcome, Progress, SendOptions, classify, deliver_with_progress,
};
use crate::outbound::mta_sts;
use crate::outbound::requiretls::{self, TlsRequest};
use crate::outbound::tls::{AppliedPolicy, TlsOutcome, TlsPolicy, decide_with};
use crate::outbound::why;
use crate::queue::QueuedMessage;
use crate::routing::{RouteGroup, Targets, group_recipients, recipient_domain};
use xshell_core::control::QueueState;
use xshell_core::model::ErrorPolicies;
use xshell_smtp::RcptParams;
use xshell_smtp::client::{Content, DsnRequest, Transaction};

use super::Ctx;
use super::record;

/// Where a recipient's outcome came from (for the tracking log).
#[derive(Debug, Clone, Default)]
pub(crate) struct HopFacts {
    pub connector: Option<String>,
    pub next_hop_domain: Option<String>,
    /// `name [ip:port]` of the host that took the session.
    pub host: Option<String>,
    pub tls: Option<TlsOutcome>,
    /// The next hop advertised DSN: the RFC 3461 parameters were passed on.
    pub dsn: bool,
    /// The TLS policy that applied, and why (say why).
    pub policy: AppliedPolicy,
}

/// The outcomes of one message in this batch.
#[derive(Debug, Default)]
pub(crate) struct MessageResult {
    /// (recipient, outcome, facts of its next hop).
    pub outcomes: Vec<(String, Outcome, Arc<HopFacts>)>,
    /// No host of some next hop could be reached or set up.
    pub connection_failed: bool,
}

/// One message of the batch: its file, opened for streaming, and its head
/// (the Message-ID and the header a DSN quotes). The message itself is
/// never held in memory.
pub(crate) struct Item {
    pub message: QueuedMessage,
    /// `None` when the message could not be read.
    pub content: Option<Content>,
    /// The first [`crate::queue::HEAD_LIMIT`] octets of the message.
    pub head: Vec<u8>,
}

/// Messages up to this size are sent from memory: their head is the whole
/// message, already read. Sending one from its file would cost a blocking
/// task per piece, and keep the file from being recycled until the batch
/// ends. At most a batch's worth of them is held at once.
const INLINE_MAX: u64 = 16 * 1024;

/// Opens a queued message for sending: its file, whether it has 8-bit
/// octets (read through once, in pieces) and its head; a small message is
/// read whole instead ([`INLINE_MAX`]).
fn open_item(
    queue: &crate::queue::Queue,
    m: &QueuedMessage,
) -> std::io::Result<(Content, Vec<u8>)> {
    let file = queue.open_message(&m.id).map_err(std::io::Error::other)?;
    let head = file.head()?;
    // A binary MIME message is never in memory (an in-memory message is
    // text, its line ends normalized); it keeps its BODY type.
    let binary = m.envelope.body == Some(xshell_smtp::Body::BinaryMime);
    if !binary && file.size() <= INLINE_MAX && head.len() as u64 == file.size() {
        return Ok((Content::Bytes(head.clone()), head));
    }
    let eight_bit = file.has_8bit()?;
    Ok((
        Content::Spooled {
            file: Arc::new(file),
            eight_bit,
            binary,
        },
        head,
    ))
}

/// The recipients of `m` the runner delivers now: not final, outside the
/// Authoritative domains, retry time reached, and not in a queue an
/// administrator suspended (Suspend-Queue; the queue of a remote recipient is
/// its domain). A message can be in a batch only to report a failure.
fn remote_recipients(
    rt: &RuntimeConfig,
    m: &QueuedMessage,
    now: u64,
    suspended: &QueueState,
) -> Vec<String> {
    if m.envelope.next_retry_ms.is_some_and(|t| t > now) {
        return Vec::new();
    }
    m.envelope
        .recipients
        .iter()
        .filter(|r| {
            !r.status.is_final()
                && recipient_domain(&r.address)
                    .is_none_or(|d| !rt.is_authoritative(&d) && !suspended.is_suspended(&d))
        })
        .map(|r| r.address.clone())
        .collect()
}

/// The RFC 3461 parameters to pass on for these recipients of `e`.
fn dsn_request(e: &crate::queue::Envelope, rcpts: &[String]) -> DsnRequest {
    DsnRequest {
        ret: e.ret,
        envid: e.envid.clone(),
        recipients: rcpts
            .iter()
            .map(|a| {
                e.recipients
                    .iter()
                    .find(|r| r.address.eq_ignore_ascii_case(a))
                    .map(|r| RcptParams {
                        notify: r.notify,
                        orcpt: r.orcpt.clone(),
                    })
                    .unwrap_or_default()
            })
            .collect(),
    }
}

/// A group across messages: one next hop, the recipients of each message.
struct Hop {
    connector: String,
    next_hop_domain: String,
    targets: Targets,
    /// What its messages ask of the TLS (RFC 8689): one hop per request.
    request: TlsRequest,
    /// (index in the batch, recipients).
    parts: Vec<(usize, Vec<String>)>,
}

/// Runs one batch; returns the earliest retry time it scheduled.
pub(crate) async fn batch(
    ctx: &Arc<Ctx>,
    rt: Arc<RuntimeConfig>,
    messages: Vec<QueuedMessage>,
) -> Option<u64> {
    // Read the bytes (the transactions and the DSNs need them) and which
    // queues are suspended.
    let queue = Arc::clone(&ctx.queue);
    let loaded = tokio::task::spawn_blocking(move || {
        let suspended = match QueueState::load(queue.root()) {
            Ok(s) => s,
            Err(e) => {
                // Deliver nothing rather than ignore a suspension; the next
                // scan tries again.
                tracing::error!(error = %e, "queue runner: cannot read the suspended queues; holding this batch");
                return None;
            }
        };
        let items: Vec<Item> = messages
            .into_iter()
            .map(|m| match open_item(&queue, &m) {
                Ok((content, head)) => Item {
                    message: m,
                    content: Some(content),
                    head,
                },
                Err(e) => {
                    tracing::error!(id = %m.id, error = %e, "queue runner: cannot read a queued message");
                    Item {
                        message: m,
                        content: None,
                        head: Vec::new(),
                    }
                }
            })
            .collect();
        Some((items, suspended))
    })
    .await
    .ok()
    .flatten();
    let (items, suspended) = loaded?;

    let now = crate::queue::now_ms();
    let mut results: Vec<MessageResult> = items.iter().map(|_| MessageResult::default()).collect();
    let mut hops: Vec<Hop> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if item.content.is_none() {
            continue;
        }
        let rcpts = remote_recipients(&rt, &item.message, now, &suspended);
        if rcpts.is_empty() {
            continue;
        }
        let (groups, unroutable) = group_recipients(&rcpts, &rt.send.connectors);
        let request = TlsRequest::of(&item.message.envelope, &item.head);
        for (address, e) in unroutable {
            let facts = Arc::new(HopFacts {
                next_hop_domain: recipient_domain(&address),
                ..HopFacts::default()
            });
            results[i]
                .outcomes
                .push((address, classify(&Cause::NoRoute(e)), facts));
        }
        for RouteGroup {
            connector,
            next_hop_domain,
            targets,
            recipients,
        } in groups
        {
            match hops.iter_mut().find(|h| {
                h.connector == connector
                    && h.next_hop_domain == next_hop_domain
                    && h.request == request
            }) {
                Some(h) => h.parts.push((i, recipients)),
                None => hops.push(Hop {
                    connector,
                    next_hop_domain,
                    targets,
                    request,
                    parts: vec![(i, recipients)],
                }),
            }
        }
    }

    // Each message is recorded as soon as every hop it is in has reported
    // on it (per message, as the next hop answers, when a session was
    // open), not when the whole batch is over: a crash then re-sends only
    // what was not yet recorded, not a whole batch.
    let mut pending: Vec<usize> = vec![0; items.len()];
    for hop in &hops {
        for (i, _) in &hop.parts {
            pending[*i] += 1;
        }
    }
    let items = Arc::new(items);
    let mut results: Vec<Option<MessageResult>> = results.into_iter().map(Some).collect();
    let (progress, mut sent) = mpsc::channel::<Sent>(RECORD_LAG);
    let mut tasks: JoinSet<(usize, Hop, DeliveryReport, Arc<HopFacts>)> = JoinSet::new();
    for (h, hop) in hops.into_iter().enumerate() {
        let ctx = Arc::clone(ctx);
        let rt = Arc::clone(&rt);
        let progress = progress.clone();
        let txs: Vec<(usize, Transaction)> = hop
            .parts
            .iter()
            .filter_map(|(i, rcpts)| {
                let item = &items[*i];
                let env = &item.message.envelope;
                Some((
                    *i,
                    Transaction {
                        sender: env.sender.clone(),
                        recipients: rcpts.clone(),
                        message: item.content.clone()?,
                        dsn: dsn_request(env, rcpts),
                        smtputf8: item.message.envelope.smtputf8 && utf8_header(&item.head),
                        requiretls: hop.request == TlsRequest::RequireTls,
                    },
                ))
            })
            .collect();
        tasks.spawn(async move {
            let _permit = ctx.permits.clone().acquire_owned().await;
            let (report, facts) = deliver_hop(&ctx, &rt, &hop, txs, h, &progress).await;
            (h, hop, report, facts)
        });
    }
    drop(progress);

    // (hop, part) already reported through `progress`.
    let mut reported: HashSet<(usize, usize)> = HashSet::new();
    let mut earliest: Option<u64> = None;
    loop {
        let mut ready = Vec::new();
        tokio::select! {
            Some(first) = sent.recv() => {
                take(first, &mut results, &mut reported, &mut pending, &mut ready);
                while let Ok(more) = sent.try_recv() {
                    take(more, &mut results, &mut reported, &mut pending, &mut ready);
                }
            }
            done = tasks.join_next() => {
                let Some(done) = done else { break };
                // What that hop reported before it ended comes first.
                while let Ok(more) = sent.try_recv() {
                    take(more, &mut results, &mut reported, &mut pending, &mut ready);
                }
                // A task that panicked reported nothing more; its messages
                // are recorded (as not attempted) after the loop.
                let Ok((h, hop, report, facts)) = done else { continue };
                // report.messages is in the order of hop.parts
                let mut messages = report.messages.into_iter();
                for (j, (i, _)) in hop.parts.iter().enumerate() {
                    let mr = messages.next();
                    if reported.contains(&(h, j)) {
                        continue;
                    }
                    if let Some(r) = results.get_mut(*i).and_then(Option::as_mut) {
                        r.connection_failed |= report.connection_failed;
                        for (address, outcome) in mr.into_iter().flat_map(|m| m.recipients) {
                            r.outcomes.push((address, outcome, Arc::clone(&facts)));
                        }
                    }
                    reported.insert((h, j));
                    done_with(&mut pending, *i, &mut ready);
                }
            }
        }
        let now: Vec<(usize, MessageResult)> = ready
            .into_iter()
            .filter_map(|i| Some((i, results.get_mut(i)?.take()?)))
            .collect();
        earliest = min_time(earliest, record_now(ctx, &rt, &items, now).await);
    }
    // Messages no hop was for (unroutable, nothing due) or whose hop task
    // failed.
    let rest: Vec<(usize, MessageResult)> = results
        .iter_mut()
        .enumerate()
        .filter_map(|(i, r)| Some((i, r.take()?)))
        .collect();
    min_time(earliest, record_now(ctx, &rt, &items, rest).await)
}

/// How many messages the sessions of a batch may have delivered beyond
/// those being recorded: at most this many more (per batch, plus those
/// being recorded) are sent again after a crash. Recording (one envelope
/// removal and directory fsync each) is slower than a fast next hop, so
/// sending further ahead would only widen that window, not finish sooner.
const RECORD_LAG: usize = 16;

/// One message's outcomes on one hop, sent while the hop's session goes on.
struct Sent {
    hop: usize,
    /// Position in the hop's parts.
    part: usize,
    /// Position in the batch.
    index: usize,
    recipients: Vec<(String, Outcome)>,
    facts: Arc<HopFacts>,
}

/// Adds what a hop reported on one message during its session.
fn take(
    s: Sent,
    results: &mut [Option<MessageResult>],
    reported: &mut HashSet<(usize, usize)>,
    pending: &mut [usize],
    ready: &mut Vec<usize>,
) {
    if !reported.insert((s.hop, s.part)) {
        return;
    }
    if let Some(r) = results.get_mut(s.index).and_then(Option::as_mut) {
        for (address, outcome) in s.recipients {
            r.outcomes.push((address, outcome, Arc::clone(&s.facts)));
        }
    }
    done_with(pending, s.index, ready);
}

/// One hop less to wait for on message `i`; `ready` when none is left.
fn done_with(pending: &mut [usize], i: usize, ready: &mut Vec<usize>) {
    if let Some(p) = pending.get_mut(i) {
        *p = p.saturating_sub(1);
        if *p == 0 {
            ready.push(i);
        }
    }
}

fn min_time(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Records these messages (off the async threads); the earliest retry
/// time they got.
async fn record_now(
    ctx: &Arc<Ctx>,
    rt: &Arc<RuntimeConfig>,
    items: &Arc<Vec<Item>>,
    done: Vec<(usize, MessageResult)>,
) -> Option<u64> {
    if done.is_empty() {
        return None;
    }
    let (ctx, rt, items) = (Arc::clone(ctx), Arc::clone(rt), Arc::clone(items));
    tokio::task::spawn_blocking(move || {
        let mut earliest: Option<u64> = None;
        for (i, result) in done {
            if let Some(item) = items.get(i) {
                earliest = min_time(earliest, record::record(&ctx, &rt, item, result));
            }
        }
        earliest
    })
    .await
    .unwrap_or(None)
}

/// Delivers the messages of one next hop; the report has one entry per
/// transaction, in order.
async fn deliver_hop(
    ctx: &Ctx,
    rt: &RuntimeConfig,
    hop: &Hop,
    txs: Vec<(usize, Transaction)>,
    h: usize,
    progress: &mpsc::Sender<Sent>,
) -> (DeliveryReport, Arc<HopFacts>) {
    let mut facts = HopFacts {
        connector: Some(hop.connector.clone()),
        next_hop_domain: Some(hop.next_hop_domain.clone()),
        ..HopFacts::default()
    };
    let all: Vec<Transaction> = txs.iter().map(|(_, t)| t.clone()).collect();
    let failed =
        |cause: Cause, facts: HopFacts| (DeliveryReport::failed(&all, &cause), Arc::new(facts));
    let Some(conn) = rt.send.compiled.get(&hop.connector) else {
        return failed(
            Cause::NoRoute(crate::routing::RouteError::NoConnector(
                hop.next_hop_domain.clone(),
            )),
            facts,
        );
    };
    // What the policy lookups found (DANE, MTA-STS), before the decision.
    let inputs = ctx
        .lookups
        .inputs(rt, &conn.connector, &hop.next_hop_domain, &hop.targets)
        .await;
    // TLS reporting: an announced MTA-STS policy that could not be had.
    if let (Some(log), Targets::Mx { .. }) = (&ctx.tlsrpt, &hop.targets) {
        let failures = crate::tlsrpt::lookup_failures(&hop.next_hop_domain, &inputs);
        crate::tlsrpt::record(log, failures).await;
    }
    // say why
    let why = why::Basis::new(
        &hop.next_hop_domain,
        &conn.connector,
        &rt.send.secure_list,
        &inputs,
    );
    // What the steps after the decision add (MTA-STS host filtering and
    // testing, REQUIRETLS): laid over the reason `why` gives.
    let mut extra = AppliedPolicy::default();
    let mut policy = match decide_with(
        &hop.next_hop_domain,
        &conn.connector,
        &rt.send.secure_list,
        false,
        &inputs,
    ) {
        Ok(p) => p,
        Err(e) => {
            facts.policy = why.applied(Err(&e), false, why::Session::NotTried);
            // TLS reporting: DANE refused before any session.
            if let Some(log) = &ctx.tlsrpt {
                let domain = &hop.next_hop_domain;
                let failures = crate::tlsrpt::refusal_failures(domain, &facts.policy, &e);
                crate::tlsrpt::record(log, failures).await;
            }
            return failed(Cause::Policy(e), facts);
        }
    };
    facts.policy = why.applied(Ok(&policy), false, why::Session::NotTried);
    // DANE: the validated MX hosts that have usable TLSA records.
    let hosts = match crate::outbound::dane::targets(&policy, &hop.targets) {
        Some(h) => h,
        None => match resolve(ctx, rt, hop).await {
            Ok(h) => h,
            Err(cause) => {
                return failed(downgrade_dns(cause, conn.connector.error_policies), facts);
            }
        },
    };
    let domain = &hop.next_hop_domain;
    let hosts = match mta_sts::filter_hosts(domain, &policy, &inputs, hosts, &mut extra) {
        Ok(h) => h,
        Err(e) => {
            facts.policy = std::mem::take(&mut facts.policy).overlaid(&extra);
            return failed(Cause::Policy(e), facts);
        }
    };
    let mut fallback = false;
    if policy.is_opportunistic()
        && hosts
            .first()
            .is_some_and(|h| ctx.plaintext_next_time(&h.name))
    {
        match decide_with(
            &hop.next_hop_domain,
            &conn.connector,
            &rt.send.secure_list,
            true,
            &inputs,
        ) {
            Ok(p) => policy = p,
            Err(e) => return failed(Cause::Policy(e), facts),
        }
        fallback = true;
    }
    facts.policy = why.applied(Ok(&policy), fallback, why::Session::NotTried);
    // RFC 8689: REQUIRETLS only under a verifying policy; TLS-Required: No
    // waives the connector's requirements.
    let plaintext_next = hosts
        .first()
        .is_some_and(|h| ctx.plaintext_next_time(&h.name));
    let pinned = conn.connector.tls_remote_certificate_name.is_some();
    policy = match requiretls::apply(hop.request, policy, pinned, plaintext_next, &mut extra) {
        Ok(p) => p,
        Err(reply) => {
            facts.policy = std::mem::take(&mut facts.policy).overlaid(&extra);
            let host = String::new();
            let stage = xshell_smtp::client::Stage::Local;
            return failed(Cause::Reply { host, stage, reply }, facts);
        }
    };
    facts.policy = why
        .applied(Ok(&policy), fallback, why::Session::NotTried)
        .overlaid(&extra);
    let decided = policy.clone();
    // MTA-STS testing: a configuration of its own that records what the
    // policy would have refused.
    let sts_testing = mta_sts::Recorder::default();
    let tls = match policy {
        TlsPolicy::MtaSts { enforce: false } => {
            mta_sts::client_config(false, &conn.material, Some(sts_testing.clone())).map(Some)
        }
        _ => conn.client_config(&policy),
    };
    let tls = match tls {
        Ok(c) => c,
        Err(e) => {
            let cause = Cause::TlsSetup(e.to_string());
            facts.policy = why.applied(Ok(&policy), fallback, why::Session::Failed(&cause));
            return failed(cause, facts);
        }
    };
    // MaxMessageSize: too large is permanent, and never sent.
    let mut sizes: Vec<Option<Outcome>> = Vec::with_capacity(txs.len());
    let mut sendable = Vec::new();
    // (part, batch index) of each sendable transaction.
    let mut sendable_at = Vec::new();
    for (j, (i, t)) in txs.iter().enumerate() {
        let size = t.message.size();
        match conn.max_message_size {
            Some(limit) if size > limit => {
                sizes.push(Some(classify(&Cause::TooBig { size, limit })))
            }
            _ => {
                sizes.push(None);
                sendable.push(t.clone());
                sendable_at.push((j, *i));
            }
        }
    }
    let report = if sendable.is_empty() {
        DeliveryReport::default()
    } else {
        // The session's outcomes, forwarded to the batch as they come; the
        // session waits while the batch is behind (bounded channels).
        let (tx, mut rx) = mpsc::channel::<Progress>(1);
        let mut opts = send_options(conn, policy, tls);
        // protocol logs
        if conn.protocol_logging {
            opts.protocol_log = Some(crate::outbound::deliver::SendLog {
                log: Arc::clone(&ctx.send_protocol_log),
                settings: Arc::clone(&rt.protocol_logs.send),
                connector_id: conn.connector.name.clone(),
                certificate_subject: conn.client_certificate_subject.clone(),
                certificate_thumbprint: conn.client_certificate.clone(),
            });
        }
        let send = async {
            let report = deliver_with_progress(&hosts, &opts, sendable, Some(&tx)).await;
            drop(tx);
            report
        };
        let forward = async {
            let mut session_facts: Option<Arc<HopFacts>> = None;
            while let Some(p) = rx.recv().await {
                let Some(&(part, index)) = sendable_at.get(p.index) else {
                    continue;
                };
                let facts = session_facts.get_or_insert_with(|| {
                    let host = format!("{} [{}]", p.host.0, p.host.1);
                    let session = why::Session::Up {
                        host: &host,
                        tls: p.tls.as_ref(),
                    };
                    let mut extra = extra.clone();
                    sts_testing.report(p.tls.is_none().then_some(&p.host.0), &mut extra);
                    Arc::new(HopFacts {
                        policy: why
                            .applied(Ok(&decided), fallback, session)
                            .overlaid(&extra),
                        host: Some(host.clone()),
                        tls: p.tls.clone(),
                        dsn: p.dsn,
                        ..facts.clone()
                    })
                });
                // A batch that stopped listening (shutdown) is fine: the
                // final report carries everything.
                let _ = progress
                    .send(Sent {
                        hop: h,
                        part,
                        index,
                        recipients: p.report.recipients,
                        facts: Arc::clone(facts),
                    })
                    .await;
            }
        };
        tokio::join!(send, forward).0
    };
    for h in &report.plaintext_next_time {
        ctx.remember_plaintext(h);
    }
    // metrics
    for a in &report.attempts {
        if let Cause::TlsHandshake { reason, .. } = &a.cause {
            ctx.metrics
                .tls_failure(crate::metrics::Direction::Outbound, *reason);
        }
    }
    let plain_host = report.host.as_ref().filter(|_| report.tls.is_none());
    sts_testing.report(plain_host.map(|h| &h.0), &mut extra);
    // TLS reporting (RFC 8460): MX routes only (a smart host is not the
    // policy domain's MX).
    if let (Some(log), Targets::Mx { .. }) = (&ctx.tlsrpt, &hop.targets) {
        let src = conn.connector.source_ip_address;
        let (domain, testing) = (&hop.next_hop_domain, sts_testing.result());
        let now = crate::queue::now_ms();
        let sessions =
            crate::tlsrpt::sessions_of_hop(domain, &facts.policy, &report, src, testing, now);
        crate::tlsrpt::record(log, sessions).await;
    }
    if report.discarded_after_starttls > 0 {
        tracing::warn!(
            next_hop = %hop.next_hop_domain,
            discarded = report.discarded_after_starttls,
            "discarded plaintext received after the next hop's STARTTLS 220 (reply injection attempt)"
        );
    }
    facts.host = report
        .host
        .as_ref()
        .map(|(name, addr)| format!("{name} [{addr}]"));
    facts.tls = report.tls.clone();
    facts.dsn = report.dsn;
    facts.policy = why
        .applied(
            Ok(&decided),
            fallback,
            why::Session::of(&report, facts.host.as_deref()),
        )
        .overlaid(&extra);
    // Put the size refusals back in place.
    let mut delivered = report.messages.into_iter();
    let mut messages = Vec::with_capacity(txs.len());
    for ((_, t), refused) in txs.iter().zip(sizes) {
        match refused {
            Some(outcome) => messages.push(crate::outbound::deliver::MessageReport {
                recipients: t
                    .recipients
                    .iter()
                    .map(|a| (a.clone(), outcome.clone()))
                    .collect(),
            }),
            None => messages.extend(delivered.next()),
        }
    }
    if conn.connector.error_policies.downgrade_auth_failures {
        for m in &mut messages {
            for (_, outcome) in &mut m.recipients {
                downgrade_auth(outcome);
            }
        }
    }
    let out = DeliveryReport {
        messages,
        host: report.host,
        tls: report.tls,
        attempts: report.attempts,
        connection_failed: report.connection_failed,
        plaintext_next_time: report.plaintext_next_time,
        discarded_after_starttls: report.discarded_after_starttls,
        dsn: report.dsn,
    };
    (out, Arc::new(facts))
}

/// ErrorPolicies DowngradeDnsFailures: every DNS failure is retried as a
/// transient one (Exchange reports them all as transient).
fn downgrade_dns(cause: Cause, policies: ErrorPolicies) -> Cause {
    match cause {
        Cause::Dns(e) if policies.downgrade_dns_failures && e.is_permanent() => {
            Cause::Dns(crate::dns::DnsError::Temporary {
                name: e.name().to_string(),
                detail: format!("{e} (retried: ErrorPolicies is DowngradeDnsFailures)"),
            })
        }
        other => other,
    }
}

/// ErrorPolicies DowngradeAuthFailures: a remote server's refusal for
/// want of authentication is retried instead of bounced.
fn downgrade_auth(outcome: &mut Outcome) {
    let Outcome::Permanent(f) = outcome else {
        return;
    };
    let auth = matches!(f.reply.code, 530 | 535 | 538)
        || matches!(f.reply.enhanced, Some((5, 7, 0 | 8 | 57)));
    if auth && matches!(f.origin, crate::outbound::deliver::Origin::Remote { .. }) {
        let mut f = f.clone();
        f.detail = format!(
            "{} (retried: ErrorPolicies has DowngradeAuthFailures)",
            f.detail
        );
        *outcome = Outcome::Temporary(f);
    }
}

fn send_options(
    conn: &SendConnectorRuntime,
    policy: TlsPolicy,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> SendOptions {
    SendOptions {
        helo_name: conn.helo_name.clone(),
        auth: conn.auth.clone(),
        source_ip: conn.connector.source_ip_address,
        loop_detection: conn.loop_detection,
        policy,
        tls,
        timeouts: conn.timeouts,
        protocol_log: None,
    }
}

async fn resolve(ctx: &Ctx, rt: &RuntimeConfig, hop: &Hop) -> Result<Vec<Host>, Cause> {
    let resolver = ctx.lookups.resolver(&rt.send.dns_servers).map_err(|e| {
        Cause::Dns(crate::dns::DnsError::Temporary {
            name: hop.next_hop_domain.clone(),
            detail: e.to_string(),
        })
    })?;
    let r = match &hop.targets {
        Targets::Mx { port } => {
            resolve_mx(
                &resolver,
                &hop.next_hop_domain,
                *port,
                crate::dns::random_seed(),
            )
            .await
        }
        Targets::SmartHosts { hosts, port } => resolve_smart_hosts(&resolver, hosts, *port).await,
    };
    r.map_err(Cause::Dns)
}

/// The header section (up to the first empty line, within the start of the
/// message read) holds octets that are not ASCII: UTF-8 header fields
/// (RFC 6532), which only an SMTPUTF8 next hop may get.
fn utf8_header(head: &[u8]) -> bool {
    let end = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(head.len());
    !head[..end].is_ascii()
}

#[cfg(test)]
mod tests {
    #[test]
    fn utf8_header_looks_at_the_header_section_only() {
        assert!(!super::utf8_header(b"Subject: hi\r\n\r\nbody \xc3\xa9\r\n"));
        assert!(super::utf8_header(
            "Subject: caf\u{e9}\r\n\r\nbody\r\n".as_bytes()
        ));
        // No empty line within what was read: all of it is header.
        assert!(super::utf8_header("Subject: caf\u{e9}".as_bytes()));
        assert!(!super::utf8_header(b""));
    }
}
