//! Queues as the administrator sees them, derived from the queued
//! envelopes: every recipient that is not final belongs to the queue of
//! its next hop.
//!
//! - A recipient in an **Authoritative** accepted domain goes to the local
//!   delivery queue (`<server>\LocalDelivery`, SmtpDeliveryToMailbox).
//! - Any other recipient goes to the queue of its domain
//!   (`<server>\<domain>`), delivered by the send connector chosen as
//!   `xshell_core::routing::select_connector` chooses (most specific address
//!   space, then lowest cost, then name): DnsConnectorDelivery or
//!   SmartHostConnectorDelivery. tests/ops_queue.rs checks both choose alike.
//! - A recipient no enabled connector covers goes to `<server>\Unreachable`.
//!
//! Status: **Suspended** when the hop is in [`QueueState`]; **Retry** when
//! every message in it waits for a retry time in the future; otherwise
//! **Ready**; **Active** (before Retry and Ready) while a delivery is working
//! on one of its messages, which only the running engine knows.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::QueueState;
use super::spool::{MessageHeaders, RecipientState, SpoolMessage};
use crate::model::{AcceptedDomainType, OrgConfig};

/// The local delivery queue's next hop.
pub const LOCAL_HOP: &str = "LocalDelivery";
/// The next hop of recipients without a route.
pub const UNREACHABLE_HOP: &str = "Unreachable";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DeliveryType {
    SmtpDeliveryToMailbox,
    DnsConnectorDelivery,
    SmartHostConnectorDelivery,
    Unreachable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueueStatus {
    Active,
    Ready,
    Retry,
    Suspended,
}

/// Where a recipient goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// Lower-case next hop: the queue's key (and its [`QueueState`] key).
    pub key: String,
    /// As shown: the recipient domain, [`LOCAL_HOP`] or [`UNREACHABLE_HOP`].
    pub next_hop_domain: String,
    pub delivery_type: DeliveryType,
    /// The send connector that carries it.
    pub connector: Option<String>,
    /// The name the next hop's certificate must carry: the domain itself
    /// when it is in TLSSendDomainSecureList (Domain Security), else the
    /// connector's TlsDomain.
    pub tls_domain: Option<String>,
}

impl Hop {
    fn fixed(name: &str, delivery_type: DeliveryType) -> Hop {
        Hop {
            key: name.to_ascii_lowercase(),
            next_hop_domain: name.to_string(),
            delivery_type,
            connector: None,
            tls_domain: None,
        }
    }
}

pub use crate::routing::select_connector;

/// The next hop of one recipient address.
pub fn route(cfg: &OrgConfig, address: &str) -> Hop {
    let Some(domain) = address
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
    else {
        return Hop::fixed(UNREACHABLE_HOP, DeliveryType::Unreachable);
    };
    let accepted = cfg
        .accepted_domains
        .iter()
        .filter(|a| a.domain_name.matches(&domain))
        .max_by_key(|a| a.domain_name.specificity());
    if accepted.is_some_and(|a| a.domain_type == AcceptedDomainType::Authoritative) {
        return Hop::fixed(LOCAL_HOP, DeliveryType::SmtpDeliveryToMailbox);
    }
    let Some(c) = select_connector(&domain, &cfg.send_connectors) else {
        return Hop::fixed(UNREACHABLE_HOP, DeliveryType::Unreachable);
    };
    let delivery_type = if c.dns_routing_enabled || c.smart_hosts.is_empty() {
        DeliveryType::DnsConnectorDelivery
    } else {
        DeliveryType::SmartHostConnectorDelivery
    };
    let secure = cfg
        .transport_config
        .tls_send_domain_secure_list
        .iter()
        .any(|d| {
            d.as_str()
                .trim_end_matches('.')
                .eq_ignore_ascii_case(&domain)
        });
    let tls_domain = if secure {
        Some(domain.clone())
    } else {
        c.tls_domain.as_ref().map(|p| p.as_str().to_string())
    };
    Hop {
        key: domain.clone(),
        next_hop_domain: domain,
        delivery_type,
        connector: Some(c.name.clone()),
        tls_domain,
    }
}

/// `<server>\<next hop>`.
pub fn queue_identity(server: &str, next_hop: &str) -> String {
    format!("{server}\\{next_hop}")
}

/// The hop key a queue identity names: `<server>\<hop>` (the server must
/// be this one) or `<hop>`; case-insensitive. `None`: another server.
pub fn hop_key(identity: &str, server: &str) -> Option<String> {
    match identity.rsplit_once('\\') {
        Some((srv, hop)) if srv.eq_ignore_ascii_case(server) => Some(hop.to_ascii_lowercase()),
        Some(_) => None,
        None => Some(identity.to_ascii_lowercase()),
    }
}

/// The message id in a message identity: `<server>\<hop>\<id>` or `<id>`.
pub fn message_id_of(identity: &str) -> &str {
    identity.rsplit('\\').next().unwrap_or(identity)
}

/// One queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueInfo {
    pub identity: String,
    pub delivery_type: DeliveryType,
    pub status: QueueStatus,
    pub message_count: u32,
    pub next_hop_domain: String,
    #[serde(rename = "TlsDomain")]
    pub tls_domain: Option<String>,
    pub next_hop_connector: Option<String>,
    pub last_error: Option<String>,
    /// RFC 3339, UTC.
    pub next_retry_time: Option<String>,
}

/// One recipient of a message in a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecipientInfo {
    pub address: String,
    /// Ready (not yet tried), Retry (a temporary failure), or the state
    /// the engine recorded.
    pub status: String,
    pub last_error: Option<String>,
    /// The delivery status notifications the sender asked for (RFC 3461
    /// NOTIFY, named as Exchange's EnvelopeRecipient.RequestedReports):
    /// `Default` (none asked: failures, and delays at the server's
    /// discretion), `Never`, or e.g. `Success, Failure`.
    #[serde(default = "default_reports")]
    pub requested_reports: String,
    /// The sender's ORCPT (`rfc822;address`), when it gave one.
    #[serde(default)]
    pub original_recipient: Option<String>,
    /// The TLS policy of the last attempt (DomainSecure, DANE, MTA-STS
    /// enforce/testing, RequireTLS, REQUIRETLS, Opportunistic, None).
    #[serde(default)]
    pub tls_policy: Option<String>,
    /// Why the last attempt went without verified TLS or was held.
    #[serde(default)]
    pub tls_policy_reason: Option<String>,
}

fn default_reports() -> String {
    "Default".into()
}

/// RFC 3461 NOTIFY (`NEVER`, `SUCCESS,DELAY`) as RequestedReports.
fn requested_reports(notify: Option<&str>) -> String {
    match notify {
        None => default_reports(),
        Some(n) => n
            .split(',')
            .map(|w| {
                let w = w.trim().to_ascii_lowercase();
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// One message in one queue (a message whose recipients go to two next
/// hops is in two queues, as in Exchange).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageInfo {
    /// `<server>\<next hop>\<queue id>`.
    pub identity: String,
    /// The queue id (26 hex digits).
    pub internal_message_id: String,
    /// The queue's identity.
    pub queue: String,
    pub from_address: String,
    pub recipients: Vec<RecipientInfo>,
    pub status: QueueStatus,
    pub size: u64,
    pub subject: Option<String>,
    /// The Message-ID header.
    pub internet_message_id: Option<String>,
    /// RFC 3339, UTC.
    pub date_received: Option<String>,
    pub retry_count: u32,
    pub last_error: Option<String>,
    pub next_retry_time: Option<String>,
    /// The BODY type declared at MAIL (`7BIT`, `8BITMIME`, `BINARYMIME`;
    /// RFC 6152, RFC 3030), when one was.
    #[serde(default)]
    pub body_type: Option<String>,
    /// RFC 3461 RET, named as Exchange's MailItem.DsnFormatRequested:
    /// `NotSpecified`, `Full` or `Headers`.
    #[serde(default = "not_specified")]
    pub dsn_format_requested: String,
    /// RFC 3461 ENVID (Exchange's MailItem.EnvelopeId), decoded.
    #[serde(default)]
    pub envelope_id: Option<String>,
    /// Received with REQUIRETLS (RFC 8689): relayed only over verified
    /// TLS to next hops offering REQUIRETLS.
    #[serde(default)]
    pub require_tls: bool,
    /// The TLS policy of the last attempt (of the first recipient that
    /// has one, like LastError).
    #[serde(default)]
    pub tls_policy: Option<String>,
    /// Why that attempt went without verified TLS or was held.
    #[serde(default)]
    pub tls_policy_reason: Option<String>,
}

fn not_specified() -> String {
    "NotSpecified".into()
}

/// RFC 3339 (UTC) for milliseconds since the Unix epoch.
pub fn rfc3339_ms(ms: u64) -> Option<String> {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    t.format(&Rfc3339).ok()
}

struct Part<'a> {
    hop: Hop,
    msg: &'a SpoolMessage,
    recipients: Vec<(&'a str, &'a RecipientState)>,
}

impl Part<'_> {
    fn last_error(&self) -> Option<String> {
        self.recipients.iter().find_map(|(_, s)| match s {
            RecipientState::Deferred(r) if !r.is_empty() => Some(r.clone()),
            _ => None,
        })
    }
    /// The TLS policy and reason of the first recipient attempted.
    fn tls_policy(&self) -> (Option<String>, Option<String>) {
        self.recipients
            .iter()
            .map(|(a, _)| self.msg.tls_policy(a))
            .find(|(p, _)| p.is_some())
            .map_or((None, None), |(p, r)| {
                (p.map(str::to_string), r.map(str::to_string))
            })
    }
    /// Waiting for a retry time in the future.
    fn waiting(&self, now_ms: u64) -> Option<u64> {
        self.msg.next_retry_ms.filter(|t| *t > now_ms)
    }
    fn status(&self, suspended: bool, active: bool, now_ms: u64) -> QueueStatus {
        if suspended {
            QueueStatus::Suspended
        } else if active {
            QueueStatus::Active
        } else if self.waiting(now_ms).is_some() {
            QueueStatus::Retry
        } else {
            QueueStatus::Ready
        }
    }
}

fn parts<'a>(cfg: &OrgConfig, spool: &'a [SpoolMessage]) -> Vec<Part<'a>> {
    let mut out = Vec::new();
    for msg in spool {
        let mut by_hop: Vec<Part<'a>> = Vec::new();
        for (address, state) in &msg.recipients {
            if state.is_final() {
                continue;
            }
            let hop = route(cfg, address);
            match by_hop.iter_mut().find(|p| p.hop.key == hop.key) {
                Some(p) => p.recipients.push((address, state)),
                None => by_hop.push(Part {
                    hop,
                    msg,
                    recipients: vec![(address, state)],
                }),
            }
        }
        out.extend(by_hop);
    }
    out
}

/// The queues: one per next hop with messages, plus suspended ones (even
/// empty, so they can be resumed). Local first, then by next hop,
/// Unreachable last. `active` holds the ids of the messages a delivery is
/// working on now (only the engine knows; empty when it is not running).
pub fn queues(
    cfg: &OrgConfig,
    server: &str,
    spool: &[SpoolMessage],
    state: &QueueState,
    active: &HashSet<String>,
    now_ms: u64,
) -> Vec<QueueInfo> {
    let mut groups: BTreeMap<(u8, String), (Hop, Vec<Part<'_>>)> = BTreeMap::new();
    let rank = |h: &Hop| match h.delivery_type {
        DeliveryType::SmtpDeliveryToMailbox => 0u8,
        DeliveryType::Unreachable => 2,
        _ => 1,
    };
    for p in parts(cfg, spool) {
        groups
            .entry((rank(&p.hop), p.hop.key.clone()))
            .or_insert_with(|| (p.hop.clone(), Vec::new()))
            .1
            .push(p);
    }
    for key in &state.suspended {
        if groups.keys().any(|(_, k)| k == key) {
            continue;
        }
        let hop = if key == &LOCAL_HOP.to_ascii_lowercase() {
            Hop::fixed(LOCAL_HOP, DeliveryType::SmtpDeliveryToMailbox)
        } else if key == &UNREACHABLE_HOP.to_ascii_lowercase() {
            Hop::fixed(UNREACHABLE_HOP, DeliveryType::Unreachable)
        } else {
            route(cfg, &format!("postmaster@{key}"))
        };
        groups.insert((rank(&hop), key.clone()), (hop, Vec::new()));
    }
    groups
        .into_values()
        .map(|(hop, parts)| {
            let suspended = state.is_suspended(&hop.key);
            let status = if suspended {
                QueueStatus::Suspended
            } else if parts.iter().any(|p| active.contains(&p.msg.id)) {
                QueueStatus::Active
            } else if !parts.is_empty() && parts.iter().all(|p| p.waiting(now_ms).is_some()) {
                QueueStatus::Retry
            } else {
                QueueStatus::Ready
            };
            let next_retry = parts.iter().filter_map(|p| p.waiting(now_ms)).min();
            QueueInfo {
                identity: queue_identity(server, &hop.next_hop_domain),
                delivery_type: hop.delivery_type,
                status,
                message_count: parts.len() as u32,
                next_hop_domain: hop.next_hop_domain.clone(),
                tls_domain: hop.tls_domain.clone(),
                next_hop_connector: hop.connector.clone(),
                last_error: parts.iter().rev().find_map(Part::last_error),
                next_retry_time: next_retry.and_then(rfc3339_ms),
            }
        })
        .collect()
}

/// The messages, one per (message, queue), in arrival order. `headers`
/// gives a message's Subject and Message-ID (read from the queue folder).
pub fn messages(
    cfg: &OrgConfig,
    server: &str,
    spool: &[SpoolMessage],
    state: &QueueState,
    active: &HashSet<String>,
    now_ms: u64,
    mut headers: impl FnMut(&str) -> MessageHeaders,
) -> Vec<MessageInfo> {
    parts(cfg, spool)
        .into_iter()
        .map(|p| {
            let suspended = state.is_suspended(&p.hop.key);
            let queue = queue_identity(server, &p.hop.next_hop_domain);
            let h = headers(&p.msg.id);
            MessageInfo {
                identity: format!("{queue}\\{}", p.msg.id),
                internal_message_id: p.msg.id.clone(),
                queue,
                from_address: p.msg.sender.clone(),
                recipients: p
                    .recipients
                    .iter()
                    .map(|(a, s)| RecipientInfo {
                        requested_reports: requested_reports(p.msg.dsn.recipient(a).0),
                        original_recipient: p.msg.dsn.recipient(a).1.map(str::to_string),
                        tls_policy: p.msg.tls_policy(a).0.map(str::to_string),
                        tls_policy_reason: p.msg.tls_policy(a).1.map(str::to_string),
                        address: (*a).to_string(),
                        status: match s {
                            RecipientState::Pending => "Ready".into(),
                            RecipientState::Deferred(_) => "Retry".into(),
                            RecipientState::Delivered => "Delivered".into(),
                            RecipientState::Failed(_) => "Failed".into(),
                            RecipientState::Other(o) => o.clone(),
                        },
                        last_error: match s {
                            RecipientState::Deferred(r) | RecipientState::Failed(r)
                                if !r.is_empty() =>
                            {
                                Some(r.clone())
                            }
                            _ => None,
                        },
                    })
                    .collect(),
                status: p.status(suspended, active.contains(&p.msg.id), now_ms),
                size: p.msg.size,
                subject: h.subject,
                internet_message_id: h.message_id,
                date_received: rfc3339_ms(p.msg.received_at_ms),
                retry_count: p.msg.attempts,
                last_error: p.last_error(),
                next_retry_time: p.waiting(now_ms).and_then(rfc3339_ms),
                body_type: p.msg.body.clone(),
                dsn_format_requested: match p.msg.dsn.ret.as_deref() {
                    Some("FULL") => "Full".into(),
                    Some("HDRS") => "Headers".into(),
                    _ => not_specified(),
                },
                envelope_id: p.msg.dsn.envid.clone(),
                require_tls: p.msg.requiretls,
                tls_policy: p.tls_policy().0,
                tls_policy_reason: p.tls_policy().1,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::{AcceptedDomain, SendConnector};

    fn cfg() -> OrgConfig {
        let mut c = OrgConfig::default();
        c.accepted_domains.push(AcceptedDomain {
            name: "A".into(),
            domain_name: "orga.example".parse().unwrap(),
            domain_type: AcceptedDomainType::Authoritative,
            default: true,
        });
        c.accepted_domains.push(AcceptedDomain {
            name: "R".into(),
            domain_name: "relay.example".parse().unwrap(),
            domain_type: AcceptedDomainType::ExternalRelay,
            default: false,
        });
        let mut out = SendConnector::new("Out");
        out.address_spaces = vec!["*".parse().unwrap()];
        out.dns_routing_enabled = true;
        let mut sh = SendConnector::new("Partner");
        sh.address_spaces = vec!["partner.example".parse().unwrap()];
        sh.dns_routing_enabled = false;
        sh.smart_hosts = vec!["10.0.0.1".parse().unwrap()];
        c.send_connectors = vec![out, sh];
        c.transport_config.tls_send_domain_secure_list = vec!["partner.example".parse().unwrap()];
        c
    }

    fn msg(id: &str, rcpts: &[(&str, RecipientState)], next: Option<u64>) -> SpoolMessage {
        SpoolMessage {
            id: id.into(),
            size: 10,
            sender: "s@orga.example".into(),
            recipients: rcpts
                .iter()
                .map(|(a, s)| ((*a).to_string(), s.clone()))
                .collect(),
            received_at_ms: 1_700_000_000_000,
            attempts: u32::from(next.is_some()),
            next_retry_ms: next,
            connector: None,
            body: None,
            dsn: Default::default(),
            requiretls: false,
            tls_policies: Vec::new(),
        }
    }

    #[test]
    fn routes_like_exchange() {
        let c = cfg();
        let h = route(&c, "u@Orga.Example");
        assert_eq!(h.delivery_type, DeliveryType::SmtpDeliveryToMailbox);
        let h = route(&c, "u@partner.example");
        assert_eq!(h.delivery_type, DeliveryType::SmartHostConnectorDelivery);
        assert_eq!(h.tls_domain.as_deref(), Some("partner.example"));
        let h = route(&c, "u@relay.example");
        assert_eq!(h.delivery_type, DeliveryType::DnsConnectorDelivery);
        assert_eq!(h.connector.as_deref(), Some("Out"));
        assert_eq!(
            route(&c, "nodomain").delivery_type,
            DeliveryType::Unreachable
        );
        assert_eq!(
            hop_key("MAIL\\Relay.example", "mail").as_deref(),
            Some("relay.example")
        );
        assert_eq!(
            hop_key("relay.example", "mail").as_deref(),
            Some("relay.example")
        );
        assert_eq!(hop_key("OTHER\\relay.example", "mail"), None);
        assert_eq!(message_id_of("MAIL\\x\\abc"), "abc");
    }

    #[test]
    fn groups_recipients_by_next_hop() {
        let c = cfg();
        let now = 1_800_000_000_000;
        let spool = vec![
            msg(
                "01",
                &[
                    ("a@relay.example", RecipientState::Pending),
                    (
                        "b@partner.example",
                        RecipientState::Deferred("451 x".into()),
                    ),
                    ("c@orga.example", RecipientState::Delivered),
                ],
                Some(now + 60_000),
            ),
            msg("02", &[("d@relay.example", RecipientState::Pending)], None),
        ];
        let mut state = QueueState::default();
        let none = HashSet::new();
        let q = queues(&c, "MAIL", &spool, &state, &none, now);
        let ids: Vec<&str> = q.iter().map(|q| q.identity.as_str()).collect();
        assert_eq!(ids, ["MAIL\\partner.example", "MAIL\\relay.example"]);
        assert_eq!(q[0].status, QueueStatus::Retry);
        assert_eq!(q[0].last_error.as_deref(), Some("451 x"));
        assert!(q[0].next_retry_time.is_some());
        assert_eq!(q[1].message_count, 2);
        assert_eq!(q[1].status, QueueStatus::Ready);

        // A delivery working on message 01 makes both its queues Active
        // (even the one waiting for a retry) and the message too.
        let busy: HashSet<String> = ["01".to_string()].into();
        let q = queues(&c, "MAIL", &spool, &state, &busy, now);
        assert_eq!(q[0].status, QueueStatus::Active);
        assert_eq!(q[1].status, QueueStatus::Active);
        let m = messages(&c, "MAIL", &spool, &state, &busy, now, |_| {
            MessageHeaders::default()
        });
        let status = |id: &str| {
            m.iter()
                .filter(|m| m.internal_message_id == id)
                .map(|m| m.status)
                .collect::<Vec<_>>()
        };
        assert!(status("01").iter().all(|s| *s == QueueStatus::Active));
        assert_eq!(status("02"), [QueueStatus::Ready]);

        state.suspended.insert("relay.example".into());
        state.suspended.insert("idle.example".into());
        let q = queues(&c, "MAIL", &spool, &state, &busy, now);
        // Suspended wins over Active.
        assert!(q.iter().any(|q| q.next_hop_domain == "relay.example" && q.status == QueueStatus::Suspended));
        let q = queues(&c, "MAIL", &spool, &state, &none, now);
        assert_eq!(q.len(), 3);
        assert!(
            q.iter()
                .any(|q| q.next_hop_domain == "idle.example" && q.message_count == 0)
        );
        let m = messages(&c, "MAIL", &spool, &state, &none, now, |_| {
            MessageHeaders::default()
        });
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].identity, "MAIL\\relay.example\\01");
        assert_eq!(m[0].status, QueueStatus::Suspended);
        assert_eq!(m[1].recipients[0].status, "Retry");
    }

    #[test]
    fn dsn_requests_are_shown_with_exchange_names() {
        let c = cfg();
        let mut m = msg(
            "01",
            &[
                ("a@relay.example", RecipientState::Pending),
                ("b@relay.example", RecipientState::Pending),
                ("c@relay.example", RecipientState::Pending),
            ],
            None,
        );
        m.dsn = crate::control::spool::SpoolDsn {
            ret: Some("HDRS".into()),
            envid: Some("QQ+314".into()),
            recipients: vec![
                (
                    "a@relay.example".into(),
                    Some("SUCCESS,DELAY".into()),
                    Some("rfc822;A+x@relay.example".into()),
                ),
                ("b@relay.example".into(), Some("NEVER".into()), None),
            ],
        };
        let got = messages(
            &c,
            "MAIL",
            &[m],
            &QueueState::default(),
            &HashSet::new(),
            0,
            |_| MessageHeaders::default(),
        );
        assert_eq!(got[0].dsn_format_requested, "Headers");
        assert_eq!(got[0].envelope_id.as_deref(), Some("QQ+314"));
        let r: Vec<(&str, Option<&str>)> = got[0]
            .recipients
            .iter()
            .map(|r| {
                (
                    r.requested_reports.as_str(),
                    r.original_recipient.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            r,
            [
                ("Success, Delay", Some("rfc822;A+x@relay.example")),
                ("Never", None),
                ("Default", None),
            ]
        );
        assert_eq!(
            crate::control::spool::xtext_decode("QQ+2B314+3D"),
            "QQ+314="
        );
    }
}
