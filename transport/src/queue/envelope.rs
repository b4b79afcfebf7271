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
    /// A delivery status notification reported this recipient's failure.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dsn_sent: bool,
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
        }
    }

    /// A failed recipient whose failure has not been reported yet.
    pub fn needs_dsn(&self) -> bool {
        matches!(self.status, RecipientStatus::Failed { .. }) && !self.dsn_sent
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
    /// Sets the status of each listed recipient (by address,
    /// case-insensitive; unknown addresses are ignored).
    pub fn apply(&mut self, results: &[(String, RecipientStatus)]) {
        for (address, status) in results {
            for r in self.recipients.iter_mut() {
                if r.address.eq_ignore_ascii_case(address) {
                    r.status = status.clone();
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
