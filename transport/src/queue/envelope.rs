//! What the queue keeps about a message besides its bytes: the envelope,
//! each recipient's status, and the TLS and authentication facts.

use super::*;

/// Envelope file format version.
pub(super) const VERSION: u32 = 1;

/// What happened to one recipient so far. Temporary and permanent failures
/// are distinct states, decided once by whoever classified the error.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RecipientStatus {
    /// Not yet attempted.
    Pending,
    /// Delivered (locally or accepted by the next hop).
    Delivered { at_ms: u64, detail: String },
    /// Temporary failure: retried at the envelope's `next_retry_ms`.
    Deferred { reason: String },
    /// Permanent failure: a DSN is due.
    Failed { reason: String },
}

impl RecipientStatus {
    /// True when nothing more will be attempted for this recipient.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            RecipientStatus::Delivered { .. } | RecipientStatus::Failed { .. }
        )
    }
}

/// One recipient and its status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Recipient {
    pub address: String,
    pub status: RecipientStatus,
    /// The last reply about this recipient (remote or synthesized), e.g.
    /// `454 4.7.5 Certificate validation failure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reply: Option<String>,
    /// The server that gave `last_reply`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_host: Option<String>,
    /// A delivery status notification reported this recipient's failure
    /// (or its success, when one was due).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dsn_sent: bool,
    /// RFC 3461 NOTIFY as the sender gave it (`None`: not given, the
    /// default: failures, and delays at our discretion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<Notify>,
    /// RFC 3461 ORCPT as the sender gave it (`addr-type;xtext`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orcpt: Option<String>,
    /// A success notification is due (NOTIFY=SUCCESS): `delivered` to a
    /// mailbox here, or `relayed` to a next hop that does not offer DSN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_dsn: Option<SuccessDsn>,
    /// The TLS policy of the last attempt (`DomainSecure`,
    /// `Opportunistic`, ...: [`crate::outbound::tls::PolicyKind::as_str`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_policy: Option<String>,
    /// Why the last attempt went without verified TLS or was held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_policy_reason: Option<String>,
}

/// Which success notification a recipient is due (RFC 3464 2.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuccessDsn {
    /// Delivered to a mailbox here.
    Delivered,
    /// Handed to a next hop that does not offer DSN (RFC 3461 4.1).
    Relayed,
}

impl Recipient {
    /// A recipient not yet attempted.
    pub fn pending(address: impl Into<String>) -> Self {
        Recipient {
            address: address.into(),
            status: RecipientStatus::Pending,
            last_reply: None,
            remote_host: None,
            dsn_sent: false,
            notify: None,
            orcpt: None,
            success_dsn: None,
            tls_policy: None,
            tls_policy_reason: None,
        }
    }

    /// A report is due and not sent yet: a failure (unless NOTIFY leaves
    /// FAILURE out, e.g. NEVER), or a success the sender asked for.
    pub fn needs_dsn(&self) -> bool {
        !self.dsn_sent
            && match self.status {
                RecipientStatus::Failed { .. } => self.notify.is_none_or(|n| n.failure),
                RecipientStatus::Delivered { .. } => self.success_dsn.is_some(),
                _ => false,
            }
    }

    /// A failure report is due and not sent yet.
    pub fn needs_failure_dsn(&self) -> bool {
        self.needs_dsn() && matches!(self.status, RecipientStatus::Failed { .. })
    }

    /// A delay notice may be sent for this recipient: it is deferred and
    /// NOTIFY did not leave DELAY out (RFC 3461 4.1: without NOTIFY the
    /// delay notice is at our discretion).
    pub fn wants_delay_notice(&self) -> bool {
        matches!(self.status, RecipientStatus::Deferred { .. })
            && self.notify.is_none_or(|n| n.delay)
    }

    /// The sender asked for a success report (NOTIFY=SUCCESS).
    pub fn wants_success(&self) -> bool {
        self.notify.is_some_and(|n| n.success)
    }
}

/// How the sending side was authenticated (for stamping and tracking).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuthFacts {
    /// `Partner`, `Internal`, `Anonymous`, `External`.
    pub auth_as: String,
    /// e.g. `MutualTLS`, `DirectTrustTLS`.
    pub mechanism: Option<String>,
    /// The partner domain proved by Domain Security.
    pub domain: Option<String>,
}

/// Everything the queue keeps about a message besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Envelope {
    /// The reverse path; empty for the null sender.
    pub sender: String,
    pub recipients: Vec<Recipient>,
    /// Milliseconds since the Unix epoch.
    pub received_at_ms: u64,
    pub client_ip: Option<IpAddr>,
    pub helo: Option<String>,
    /// The receive connector that accepted the message.
    pub connector: Option<String>,
    pub tls: Option<TlsFacts>,
    pub auth: Option<AuthFacts>,
    /// Delivery attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// When to try again (milliseconds since the Unix epoch).
    #[serde(default)]
    pub next_retry_ms: Option<u64>,
    /// The last temporary failure (Get-Queue's LastError).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The (single) delay notification was sent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delay_notified: bool,
    /// The BODY parameter the message was received with (RFC 6152, RFC
    /// 3030): `BINARYMIME` is relayed only to next hops offering it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<xshell_smtp::Body>,
    /// RFC 3461 RET: what a failure report returns of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ret: Option<Ret>,
    /// RFC 3461 ENVID (xtext, as the sender gave it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envid: Option<String>,
    /// Received with the `SMTPUTF8` parameter (RFC 6531): passed on to next
    /// hops that offer it; a non-ASCII envelope goes to no other.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub smtputf8: bool,
    /// Received with `REQUIRETLS` (RFC 8689): relayed only over verified
    /// TLS to next hops offering REQUIRETLS, with the parameter; its
    /// reports go with REQUIRETLS and return its header only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requiretls: bool,
}

impl Envelope {
    /// An envelope received now, every recipient pending.
    pub fn new(sender: impl Into<String>, recipients: impl IntoIterator<Item = String>) -> Self {
        Envelope {
            sender: sender.into(),
            recipients: recipients.into_iter().map(Recipient::pending).collect(),
            received_at_ms: now_ms(),
            client_ip: None,
            helo: None,
            connector: None,
            tls: None,
            auth: None,
            attempts: 0,
            next_retry_ms: None,
            last_error: None,
            delay_notified: false,
            body: None,
            ret: None,
            envid: None,
            smtputf8: false,
            requiretls: false,
        }
    }

    /// The queue envelope for what an SMTP session accepted.
    pub fn from_smtp(env: &xshell_smtp::Envelope) -> Self {
        let mut e = Envelope::new(
            env.mail_from.to_string(),
            env.rcpt_to.iter().map(ToString::to_string),
        );
        e.helo = Some(env.helo.clone());
        e.tls = env.tls.clone();
        e.body = env.params.body;
        e.ret = env.params.ret;
        e.envid = env.params.envid.clone();
        for (r, p) in e.recipients.iter_mut().zip(&env.rcpt_params) {
            r.notify = p.notify;
            r.orcpt = p.orcpt.clone();
        }
        e.smtputf8 = env.params.smtputf8;
        e.requiretls = env.params.requiretls;
        e
    }
}

/// A message in the queue, as loaded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueuedMessage {
    pub version: u32,
    pub id: MessageId,
    /// Size of the message file in octets.
    pub size: u64,
    pub envelope: Envelope,
}

impl Envelope {
    /// A failure report may return the whole message: the sender asked
    /// RET=FULL (RFC 3461 4.3) and the body is text. A BODY=BINARYMIME
    /// message (RFC 3030) is returned by its header only: its octets
    /// cannot travel in a `message/rfc822` part of a text report. Nor is
    /// a REQUIRETLS message's body ever returned (RFC 8689 5: the report
    /// is redacted to the header section).
    pub fn returns_full_message(&self) -> bool {
        self.ret == Some(xshell_smtp::Ret::Full)
            && self.body != Some(xshell_smtp::Body::BinaryMime)
            && !self.requiretls
    }

    /// Sets the status of each listed recipient (by address,
    /// case-insensitive; unknown addresses are ignored).
    /// A recipient delivered here that asked for NOTIFY=SUCCESS is due a
    /// `delivered` report.
    pub fn apply(&mut self, results: &[(String, RecipientStatus)]) {
        for (address, status) in results {
            for r in self.recipients.iter_mut() {
                if r.address.eq_ignore_ascii_case(address) {
                    r.status = status.clone();
                    if matches!(status, RecipientStatus::Delivered { .. }) && r.wants_success() {
                        r.success_dsn = Some(SuccessDsn::Delivered);
                    }
                }
            }
        }
    }

    /// Every recipient is final and every failure was reported (or needs
    /// no report: null sender).
    pub fn is_finished(&self) -> bool {
        self.recipients
            .iter()
            .all(|r| r.status.is_final() && (self.sender.is_empty() || !r.needs_dsn()))
    }
}
