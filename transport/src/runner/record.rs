//! Recording one message after a batch: statuses, retry, expiry, DSNs,
//! delay notice, removal, tracking. One [`crate::queue::Queue::update`]
//! under the message's lock.

use std::sync::Arc;

use crate::config::RuntimeConfig;
use crate::dsn::{self, Action};
use crate::metrics::TlsClass;
use crate::outbound::deliver::{Origin, Outcome};
use crate::queue::{Disposition, Envelope, MessageId, RecipientStatus, SuccessDsn, now_ms};
use crate::retry::{Decision, FailureKind};
use crate::server::stamp::header_value;
use crate::tracking::{EventId, TrackingEvent};
use xshell_smtp::Reply;

use super::Ctx;
use super::attempt::{HopFacts, Item, MessageResult};

/// What one recipient's outcome did, for the tracking log.
struct Tracked {
    event: EventId,
    address: String,
    reply: String,
    facts: Arc<HopFacts>,
    detail: Option<String>,
}

fn remote_host(outcome: &Outcome, facts: &HopFacts) -> Option<String> {
    if let Some(h) = &facts.host {
        return Some(h.clone());
    }
    match outcome {
        Outcome::Delivered { host, .. } => Some(host.clone()),
        Outcome::Temporary(f) | Outcome::Permanent(f) => match &f.origin {
            Origin::Remote { host } => Some(host.clone()),
            Origin::Local => None,
        },
    }
}

/// Applies this batch's outcomes to the envelope `e` (see the module docs);
/// returns what to track and the replies as typed values.
fn apply_outcomes(
    e: &mut Envelope,
    result: &MessageResult,
    now: u64,
    tracked: &mut Vec<Tracked>,
    replies: &mut Vec<(String, Reply)>,
) -> Option<String> {
    let mut last_error = None;
    for (address, outcome, facts) in &result.outcomes {
        let Some(r) = e
            .recipients
            .iter_mut()
            .find(|r| r.address.eq_ignore_ascii_case(address))
        else {
            continue;
        };
        if r.status.is_final() {
            continue;
        }
        let reply = outcome.reply().clone();
        r.last_reply = Some(reply.to_string());
        r.remote_host = remote_host(outcome, facts);
        // say why: the policy of this attempt (Get-Message)
        r.tls_policy = facts.policy.kind.map(|k| k.as_str().to_string());
        r.tls_policy_reason = facts.policy.reason.clone();
        replies.push((r.address.clone(), reply.clone()));
        let (event, detail) = match outcome {
            Outcome::Delivered { .. } => {
                r.status = RecipientStatus::Delivered {
                    at_ms: now,
                    detail: format!("{}: {}", r.remote_host.clone().unwrap_or_default(), reply),
                };
                // RFC 3461 4.1: a next hop without DSN got no NOTIFY, so
                // the success report is ours ("relayed"); one with DSN
                // got the parameters and reports itself.
                if r.wants_success() && !facts.dsn {
                    r.success_dsn = Some(SuccessDsn::Relayed);
                }
                (EventId::Send, None)
            }
            Outcome::Temporary(f) => {
                // The reason (Get-Queue/Get-Message LastError) says what
                // went wrong, not only the reply: "connection lost" alone
                // does not tell a reset from a timeout.
                let text = format!("{reply} ({})", f.detail);
                r.status = RecipientStatus::Deferred {
                    reason: text.clone(),
                };
                if last_error.is_none() {
                    last_error = Some(text.clone());
                }
                (EventId::Defer, Some(text))
            }
            Outcome::Permanent(f) => {
                r.status = RecipientStatus::Failed {
                    reason: format!("{reply} ({})", f.detail),
                };
                (EventId::Fail, Some(f.detail.clone()))
            }
        };
        tracked.push(Tracked {
            event,
            address: r.address.clone(),
            reply: reply.to_string(),
            facts: Arc::clone(facts),
            detail,
        });
    }
    last_error
}

/// The report about `e`'s recipients whose failure needs one (`failed`),
/// the deferred ones that may get a delay notice (`delayed`), or those
/// due a success report (`delivered`, which also takes the `relayed`).
fn dsn_for(
    rt: &RuntimeConfig,
    e: &Envelope,
    original: &[u8],
    ret: Option<xshell_smtp::Ret>,
    replies: &[(String, Reply)],
    action: Action,
    now: u64,
) -> Option<dsn::Dsn> {
    let recipients: Vec<dsn::Recipient> = e
        .recipients
        .iter()
        .filter(|r| match action {
            Action::Failed => r.needs_failure_dsn(),
            Action::Delayed => r.wants_delay_notice(),
            Action::Delivered | Action::Relayed => r.needs_dsn() && r.success_dsn.is_some(),
        })
        .map(|r| {
            let action = match (action, r.success_dsn) {
                (Action::Delivered | Action::Relayed, Some(SuccessDsn::Relayed)) => Action::Relayed,
                (Action::Delivered | Action::Relayed, _) => Action::Delivered,
                (a, _) => a,
            };
            let reply = replies
                .iter()
                .find(|(a, _)| a.eq_ignore_ascii_case(&r.address))
                .map(|(_, rep)| rep.clone())
                .or_else(|| r.last_reply.as_deref().and_then(|l| l.parse().ok()));
            let detail = match &r.status {
                RecipientStatus::Failed { reason } => Some(reason.clone()),
                RecipientStatus::Deferred { reason } => Some(reason.clone()),
                _ => None,
            };
            dsn::Recipient {
                address: r.address.clone(),
                action,
                reply,
                remote_mta: r
                    .remote_host
                    .as_deref()
                    .and_then(|h| h.split_whitespace().next())
                    .map(str::to_string),
                detail,
                will_retry_until_ms: (action == Action::Delayed)
                    .then(|| rt.send.schedule.expires_at(e.received_at_ms)),
                last_attempt_ms: Some(now),
                original_recipient: r.orcpt.clone(),
            }
        })
        .collect();
    dsn::build(&dsn::Request {
        reporting_mta: &rt.server_fqdn,
        postmaster: &rt.send.postmaster,
        original_sender: &e.sender,
        arrival_ms: e.received_at_ms,
        now_ms: now,
        recipients,
        original,
        ret,
        envid: e.envid.as_deref(),
    })
}

/// The whole message, for a RET=FULL failure report (`None`: the head
/// will do: not asked, nothing failed, already whole in the head, too
/// large, or unreadable). Read before the batch's outcomes are applied,
/// so any outcome that is not a delivery counts as a possible failure.
fn full_message(ctx: &Ctx, item: &Item, result: &MessageResult) -> Option<Vec<u8>> {
    let e = &item.message.envelope;
    let may_fail = result.outcomes.iter().any(|(_, o, _)| !o.is_delivered())
        || e.recipients.iter().any(|r| r.needs_failure_dsn());
    if !e.returns_full_message()
        || !may_fail
        || item.message.size > dsn::RET_FULL_MAX
        || item.head.len() as u64 == item.message.size
    {
        return None;
    }
    match ctx.queue.read_message(&item.message.id) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(id = %item.message.id, error = %e, "cannot read the message for a RET=FULL report; returning its header");
            None
        }
    }
}

/// Records one message; returns its next retry time, if it has one.
pub(crate) fn record(
    ctx: &Ctx,
    rt: &RuntimeConfig,
    item: &Item,
    result: MessageResult,
) -> Option<u64> {
    let id = &item.message.id;
    let full = full_message(ctx, item, &result);
    let whole = full.is_some() || item.head.len() as u64 == item.message.size;
    let original: &[u8] = full.as_deref().unwrap_or(&item.head);
    // Never a cut or binary message as message/rfc822: without the whole
    // text message, RET=FULL gets the header.
    let ret = item.message.envelope.ret.filter(|r| {
        *r != xshell_smtp::Ret::Full || (whole && item.message.envelope.returns_full_message())
    });
    let schedule = rt.send.schedule;
    let now = now_ms();
    let mut tracked: Vec<Tracked> = Vec::new();
    let mut replies: Vec<(String, Reply)> = Vec::new();
    let mut dsns: Vec<(MessageId, Action, Vec<String>)> = Vec::new();
    let mut expired: Vec<String> = Vec::new();
    let updated = ctx.queue.update(id, |e| {
        let attempted = !result.outcomes.is_empty();
        let last_error = apply_outcomes(e, &result, now, &mut tracked, &mut replies);
        if attempted {
            e.attempts = e.attempts.saturating_add(1);
        }
        let remote_open = |e: &Envelope| {
            e.recipients.iter().any(|r| {
                !r.status.is_final()
                    && crate::routing::recipient_domain(&r.address)
                        .is_none_or(|d| !rt.is_authoritative(&d))
            })
        };
        if last_error.is_some() {
            e.last_error = last_error;
            let kind = if result.connection_failed {
                FailureKind::Connection
            } else {
                FailureKind::Message
            };
            match schedule.after_failure(e.received_at_ms, e.attempts, kind, now) {
                Decision::RetryAt(t) => e.next_retry_ms = Some(t),
                Decision::Expired => {
                    for r in e.recipients.iter_mut() {
                        if let RecipientStatus::Deferred { reason } = &r.status {
                            let reason = format!(
                                "message expired after {} attempts; last error: {reason}",
                                e.attempts
                            );
                            r.status = RecipientStatus::Failed { reason };
                            expired.push(r.address.clone());
                        }
                    }
                    e.next_retry_ms = None;
                }
            }
        } else if attempted && !remote_open(e) {
            e.next_retry_ms = None;
            e.last_error = None;
        } else if !attempted && remote_open(e) && e.next_retry_ms.is_none_or(|t| t <= now) {
            // Due but not attempted (the message could not be read): not
            // again at once.
            e.next_retry_ms =
                Some(now.saturating_add(schedule.message_retry_interval_ms.max(1000)));
        }
        // Failures not reported yet (ours, or the local worker's).
        if e.recipients.iter().any(|r| r.needs_failure_dsn()) {
            let reported: Vec<String> = e
                .recipients
                .iter()
                .filter(|r| r.needs_failure_dsn())
                .map(|r| r.address.clone())
                .collect();
            let sent = match dsn_for(rt, e, original, ret, &replies, Action::Failed, now) {
                // null sender: nothing to send
                None => true,
                Some(d) => match enqueue_dsn(ctx, &d, e.requiretls) {
                    Some(dsn_id) => {
                        dsns.push((dsn_id, Action::Failed, reported.clone()));
                        if let Some(copy_id) = copy_to_postmaster(ctx, rt, &d, e.requiretls) {
                            dsns.push((copy_id, Action::Failed, reported.clone()));
                        }
                        true
                    }
                    None => false,
                },
            };
            if sent {
                for r in e.recipients.iter_mut() {
                    if reported.contains(&r.address) {
                        r.dsn_sent = true;
                    }
                }
            }
        }
        // Successes the sender asked to hear about (NOTIFY=SUCCESS): one
        // report for those delivered here and those relayed to a next hop
        // without DSN.
        if e.recipients
            .iter()
            .any(|r| r.needs_dsn() && r.success_dsn.is_some())
        {
            let reported: Vec<String> = e
                .recipients
                .iter()
                .filter(|r| r.needs_dsn() && r.success_dsn.is_some())
                .map(|r| r.address.clone())
                .collect();
            let sent = match dsn_for(rt, e, original, ret, &replies, Action::Delivered, now) {
                None => true,
                Some(d) => match enqueue_dsn(ctx, &d, e.requiretls) {
                    Some(dsn_id) => {
                        dsns.push((dsn_id, Action::Delivered, reported.clone()));
                        true
                    }
                    None => false,
                },
            };
            if sent {
                for r in e.recipients.iter_mut() {
                    if reported.contains(&r.address) {
                        r.dsn_sent = true;
                    }
                }
            }
        }
        // One delay notice (only for recipients whose NOTIFY allows it).
        if remote_open(e) && schedule.delay_notice_due(e.received_at_ms, now, e.delay_notified) {
            match dsn_for(rt, e, original, ret, &replies, Action::Delayed, now) {
                None => e.delay_notified = true,
                Some(d) => {
                    if let Some(dsn_id) = enqueue_dsn(ctx, &d, e.requiretls) {
                        let delayed = e
                            .recipients
                            .iter()
                            .filter(|r| r.wants_delay_notice())
                            .map(|r| r.address.clone())
                            .collect();
                        dsns.push((dsn_id, Action::Delayed, delayed));
                        e.delay_notified = true;
                    }
                }
            }
        }
        if e.is_finished() {
            Disposition::Remove
        } else {
            Disposition::Keep
        }
    });
    let updated = match updated {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(id = %id, error = %e, "queue runner: cannot record a delivery attempt");
            return None;
        }
    };
    let env = &updated.message.envelope;
    count_sent(ctx, item, &tracked, now);
    track(ctx, item, env, &tracked, &expired, &dsns);
    for (dsn_id, _, _) in dsns {
        match &ctx.delivery {
            Some(d) => d.queued(dsn_id),
            None => ctx.myself.queued(dsn_id),
        }
    }
    if updated.removed {
        None
    } else {
        env.next_retry_ms.filter(|_| {
            env.recipients.iter().any(|r| {
                !r.status.is_final()
                    && crate::routing::recipient_domain(&r.address)
                        .is_none_or(|d| !rt.is_authoritative(&d))
            })
        })
    }
}

// metrics
/// Counts the message once per next hop that accepted it (its SEND
/// events), with the time since it was received.
fn count_sent(ctx: &Ctx, item: &Item, tracked: &[Tracked], now: u64) {
    let mut hops: Vec<&Arc<HopFacts>> = Vec::new();
    for t in tracked.iter().filter(|t| t.event == EventId::Send) {
        if !hops.iter().any(|h| Arc::ptr_eq(h, &t.facts)) {
            hops.push(&t.facts);
        }
    }
    let latency =
        std::time::Duration::from_millis(now.saturating_sub(item.message.envelope.received_at_ms));
    for f in hops {
        let class = match &f.tls {
            Some(t) if t.domain_secured => TlsClass::DomainSecured,
            Some(_) => TlsClass::Tls,
            None => TlsClass::Plaintext,
        };
        let connector = f
            .connector
            .as_deref()
            .unwrap_or(crate::metrics::NO_CONNECTOR);
        ctx.metrics.sent(connector, class, latency);
    }
}

/// Queues a DSN (from `<>`); its id, or `None` (logged) when it could not
/// be queued (retried at the next pass).
/// GenerateCopyOfDSNFor: a copy of the report to the postmaster when one
/// of its `Status:` codes is listed.
fn copy_to_postmaster(
    ctx: &Ctx,
    rt: &RuntimeConfig,
    d: &dsn::Dsn,
    requiretls: bool,
) -> Option<MessageId> {
    if rt.send.copy_dsn_for.is_empty()
        || d.envelope_recipient
            .eq_ignore_ascii_case(&rt.send.postmaster)
    {
        return None;
    }
    let listed = dsn::statuses(&d.message)
        .iter()
        .any(|s| rt.send.copy_dsn_for.contains(s));
    if !listed {
        return None;
    }
    let copy = dsn::Dsn {
        envelope_sender: String::new(),
        envelope_recipient: rt.send.postmaster.clone(),
        message: d.message.clone(),
    };
    let id = enqueue_dsn(ctx, &copy, requiretls)?;
    tracing::info!(postmaster = %rt.send.postmaster, "copy of a non-delivery report to the postmaster (GenerateCopyOfDSNFor)");
    Some(id)
}

/// `requiretls`: the report is about a REQUIRETLS message, and goes with
/// REQUIRETLS itself (RFC 8689 5): only over verified TLS, or not at all.
fn enqueue_dsn(ctx: &Ctx, d: &dsn::Dsn, requiretls: bool) -> Option<MessageId> {
    let mut env = Envelope::new(d.envelope_sender.clone(), [d.envelope_recipient.clone()]);
    env.requiretls = requiretls;
    match ctx.queue.enqueue(&env, &d.message) {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::error!(error = %e, "queue runner: cannot queue a delivery status notification");
            None
        }
    }
}

fn track(
    ctx: &Ctx,
    item: &Item,
    env: &Envelope,
    tracked: &[Tracked],
    expired: &[String],
    dsns: &[(MessageId, Action, Vec<String>)],
) {
    let id = item.message.id.to_string();
    let message_id = header_value(&item.head, "Message-ID");
    let subject = header_value(&item.head, "Subject");
    let base = |event: EventId| {
        let mut ev = TrackingEvent::new(event, id.clone(), None);
        ev.message_id = message_id.clone();
        ev.message_subject = subject.clone();
        ev.sender = env.sender.clone();
        ev.attempts = Some(env.attempts);
        ev
    };
    let write = |ev: &TrackingEvent| {
        if let Err(e) = ctx.tracking.write(ev) {
            tracing::error!(error = %e, "cannot write the tracking log");
        }
    };
    // One line per (event, next hop, reply).
    let mut done = vec![false; tracked.len()];
    for i in 0..tracked.len() {
        if done[i] {
            continue;
        }
        let t = &tracked[i];
        let mut ev = base(t.event);
        for (j, u) in tracked.iter().enumerate().skip(i) {
            if !done[j]
                && u.event == t.event
                && Arc::ptr_eq(&u.facts, &t.facts)
                && u.reply == t.reply
            {
                ev.recipients.push(u.address.clone());
                done[j] = true;
            }
        }
        let f = &t.facts;
        ev.send_connector = f.connector.clone();
        ev.next_hop_domain = f.next_hop_domain.clone();
        ev.remote_host = f.host.clone();
        ev.reply = Some(t.reply.clone());
        ev.detail = t.detail.clone();
        if let Some(tls) = &f.tls {
            ev.tls_version = Some(tls.protocol.clone());
            ev.tls_cipher = Some(tls.cipher.clone());
            ev.peer_certificate_subject = tls.server_subject.clone();
            ev.peer_certificate_issuer = tls.server_issuer.clone();
            ev.peer_certificate_verified = tls.verified_name.is_some();
            ev.verified_name = tls.verified_name.clone();
        }
        ev.domain_secured = Some(f.tls.as_ref().is_some_and(|t| t.domain_secured));
        // say why
        ev.tls_policy = f.policy.kind.map(|k| k.as_str().to_string());
        ev.tls_policy_reason = f.policy.reason.clone();
        ev.dsn_from(env);
        if t.event == EventId::Send {
            ev.dsn_passed_on = Some(f.dsn);
        }
        tracing::info!(
            id = %id,
            event = ?t.event,
            recipients = ?ev.recipients,
            remote_host = ?ev.remote_host,
            reply = %t.reply,
            tls = ?ev.tls_version,
            domain_secured = ?ev.domain_secured,
            tls_policy = ?ev.tls_policy,
            "outbound"
        );
        write(&ev);
    }
    if !expired.is_empty() {
        let mut ev = base(EventId::Fail);
        ev.recipients = expired.to_vec();
        ev.detail = Some("message expired (MessageExpirationTimeout)".into());
        ev.reply = env.last_error.clone();
        // say why: the policy of the last attempt
        if let Some(r) = env.recipients.iter().find(|r| {
            r.tls_policy.is_some() && expired.iter().any(|a| a.eq_ignore_ascii_case(&r.address))
        }) {
            ev.tls_policy = r.tls_policy.clone();
            ev.tls_policy_reason = r.tls_policy_reason.clone();
        }
        write(&ev);
    }
    for (dsn_id, action, rcpts) in dsns {
        let mut ev = base(EventId::Dsn);
        ev.recipients = rcpts.clone();
        ev.detail = Some(format!(
            "{} notification queued as {dsn_id} to <{}>",
            match action {
                Action::Failed => "non-delivery",
                Action::Delayed => "delay",
                Action::Delivered | Action::Relayed => "success (NOTIFY=SUCCESS)",
            },
            env.sender
        ));
        write(&ev);
    }
}
