//! Get-MessageTrackingLog.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader};

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use xshell_core::control;

use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::{Object, Value, View};

const EVENTS: &[&str] = &["RECEIVE", "DELIVER", "SEND", "DEFER", "FAIL", "DSN"];
const DEFAULT_RESULT_SIZE: usize = 1000;

params!(p {
    Server: String = param(Kind::Str, "The server: only this one (Get-TransportService Name or Fqdn); accepted for Exchange compatibility."),
    Start: OffsetDateTime = param(Kind::DateTime, "Events at or after this time (03/13/2018 09:00:00, 2018-03-13T09:00:00Z; UTC)."),
    End: OffsetDateTime = param(Kind::DateTime, "Events before this time."),
    EventId: String = param(Kind::Enum(EVENTS), "Only this event."),
    Sender: String = param(Kind::Str, "The envelope sender (case-insensitive)."),
    Recipients: Vec<String> = param(Kind::List(&Kind::Str), "Events for any of these recipients (case-insensitive)."),
    MessageId: String = param(Kind::Str, "The Message-ID header, with or without angle brackets."),
    InternalMessageId: String = param(Kind::Str, "The queue id."),
    MessageSubject: String = param(Kind::Str, "Text the subject contains (case-insensitive; events that record a subject)."),
    Source: String = param(Kind::Enum(SOURCES), "Only events of this component: SMTP (received or sent over SMTP), STOREDRIVER (local delivery to a mailbox), DSN (delivery status notifications)."),
    ResultSize: String = param(Kind::Str, "How many events at most (the newest), or Unlimited.")
        .default("1000"),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Get-MessageTrackingLog",
    aliases: &[],
    synopsis: "Search the message tracking log, with the TLS facts of every event.",
    description: "Reads the tracking log (`tracking.jsonl` in MessageTrackingLogPath, default `<store>/log`) and \
returns the events that match every filter given, oldest first and newest last. Each event carries the TLS facts \
that prove how the message moved: TlsVersion, Cipher, PeerCertificateSubject and Issuer, Verified (the peer's \
certificate chains to a trusted root), DirectTrust, AuthAs, AuthDomain and DomainSecured; outbound events (SEND, DEFER, FAIL) add TlsPolicy (the TLS policy that \
applied: DomainSecure, DANE, MTA-STS enforce, MTA-STS testing, RequireTLS, REQUIRETLS, Opportunistic, None) and, when the \
message went without verified TLS or was held, TlsPolicyReason (why, in one line). -Start and -End take \
dates: date values (`(Get-Date).AddHours(-1)`) or text as Microsoft's examples write it (`03/13/2018 09:00:00`, \
`3/13/2018 9:00 AM`) or ISO 8601 (`2018-03-13T09:00:00Z`, `2018-03-13 09:00`); UTC unless an offset is given. \
Timestamp is a date value. -ResultSize (default 1000, or Unlimited) keeps the newest \
matches. Lines that are not valid events are skipped and counted in a warning. Works with the engine stopped.",
    params: p::LIST,
    sets: &[],
    impact: Impact::None,
    outputs: "MessageTrackingLog entries.",
    examples: &[Example {
        title: "Every message received from a partner, with its TLS facts",
        code: "Get-MessageTrackingLog -EventId RECEIVE -Sender ceo@partner.example",
        setup: &[],
        expect: &[],
    }],
    run,
};

/// One line of the log, leniently: fields the engine adds later are
/// ignored, fields it does not write are absent.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Event {
    time: String,
    event_id: String,
    internal_message_id: Option<String>,
    message_id: Option<String>,
    message_subject: Option<String>,
    sender: Option<String>,
    recipients: Vec<String>,
    client_ip: Option<String>,
    server_ip: Option<String>,
    connector: Option<String>,
    tls_version: Option<String>,
    tls_cipher: Option<String>,
    peer_certificate_subject: Option<String>,
    peer_certificate_issuer: Option<String>,
    peer_certificate_verified: bool,
    direct_trust: bool,
    auth_as: Option<String>,
    auth_domain: Option<String>,
    domain_secured: Option<bool>,
    detail: Option<String>,
    send_connector: Option<String>,
    next_hop_domain: Option<String>,
    reply: Option<String>,
    dsn_ret: Option<String>,
    dsn_envid: Option<String>,
    dsn_notify: Vec<String>,
    dsn_orcpt: Vec<String>,
    dsn_passed_on: Option<bool>,
    tls_policy: Option<String>,
    tls_policy_reason: Option<String>,
}

/// The `-Source` values: the component that logged an event, as Exchange names them.
const SOURCES: &[&str] = &["SMTP", "STOREDRIVER", "DSN"];

impl Event {
    /// The component that logged the event (Exchange's Source field).
    fn source(&self) -> &'static str {
        match self.event_id.to_ascii_uppercase().as_str() {
            "RECEIVE" | "SEND" => "SMTP",
            "DSN" => "DSN",
            "DELIVER" => "STOREDRIVER",
            _ if self.send_connector.is_some() || self.next_hop_domain.is_some() => "SMTP",
            _ => "STOREDRIVER",
        }
    }
}

struct Filter {
    start: Option<OffsetDateTime>,
    end: Option<OffsetDateTime>,
    event: Option<String>,
    sender: Option<String>,
    recipients: Vec<String>,
    message_id: Option<String>,
    internal_id: Option<String>,
    subject: Option<String>,
    source: Option<String>,
}

fn bare_id(s: &str) -> String {
    s.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_ascii_lowercase()
}

impl Filter {
    fn matches(&self, e: &Event, at: OffsetDateTime) -> bool {
        self.start.is_none_or(|s| at >= s)
            && self.end.is_none_or(|x| at < x)
            && self
                .event
                .as_deref()
                .is_none_or(|id| e.event_id.eq_ignore_ascii_case(id))
            && self.sender.as_deref().is_none_or(|s| {
                e.sender
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(s.trim_matches(['<', '>'])))
            })
            && (self.recipients.is_empty()
                || e.recipients
                    .iter()
                    .any(|r| self.recipients.iter().any(|w| w.eq_ignore_ascii_case(r))))
            && self
                .message_id
                .as_deref()
                .is_none_or(|m| e.message_id.as_deref().is_some_and(|x| bare_id(x) == m))
            && self.internal_id.as_deref().is_none_or(|m| {
                e.internal_message_id
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(m))
            })
            && self
                .source
                .as_deref()
                .is_none_or(|s| e.source().eq_ignore_ascii_case(s))
            && self.subject.as_deref().is_none_or(|s| {
                e.message_subject
                    .as_deref()
                    .is_some_and(|x| x.to_lowercase().contains(s))
            })
    }
}

fn result_size(b: &Bound) -> Result<Option<usize>, CmdletError> {
    match b.get(p::ResultSize) {
        None => Ok(Some(DEFAULT_RESULT_SIZE)),
        Some(s) if s.trim().eq_ignore_ascii_case("unlimited") => Ok(None),
        Some(s) => match s.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(CmdletError::bad_value(
                "ResultSize",
                format!("'{s}' is not a positive number or Unlimited"),
            )),
        },
    }
}

fn to_object(e: Event, at: OffsetDateTime) -> Value {
    let source = e.source();
    // Exchange's RecipientStatus: the reply that decided (SEND, DEFER,
    // FAIL), else the detail of a local delivery or failure.
    let recipient_status = match e.reply.clone().or_else(|| {
        (e.event_id != "RECEIVE")
            .then(|| e.detail.clone())
            .flatten()
    }) {
        Some(r) => Value::List(vec![Value::Str(r)]),
        None => Value::List(Vec::new()),
    };
    let domain_secured = e
        .domain_secured
        .unwrap_or_else(|| e.auth_as.as_deref() == Some("Partner") && e.peer_certificate_verified);
    let o = Object::new(
        "MessageTrackingLog",
        View::Table(&[
            "Timestamp",
            "EventId",
            "Sender",
            "Recipients",
            "TlsVersion",
            "AuthAs",
            "DomainSecured",
        ]),
    )
    .with("Timestamp", Value::Date(at))
    .with("Source", Value::str(source))
    .with("RecipientStatus", recipient_status)
    .with("EventId", Value::str(e.event_id))
    .with("Sender", Value::opt_str(e.sender))
    .with("Recipients", Value::list(e.recipients))
    .with("MessageSubject", Value::opt_str(e.message_subject))
    .with("MessageId", Value::opt_str(e.message_id))
    .with("InternalMessageId", Value::opt_str(e.internal_message_id))
    .with("ClientIp", Value::opt_str(e.client_ip))
    .with("ServerIp", Value::opt_str(e.server_ip))
    .with("ConnectorId", Value::opt_str(e.connector))
    .with("TlsVersion", Value::opt_str(e.tls_version))
    .with("Cipher", Value::opt_str(e.tls_cipher))
    .with(
        "PeerCertificateSubject",
        Value::opt_str(e.peer_certificate_subject),
    )
    .with(
        "PeerCertificateIssuer",
        Value::opt_str(e.peer_certificate_issuer),
    )
    .with("Verified", Value::Bool(e.peer_certificate_verified))
    .with("DirectTrust", Value::Bool(e.direct_trust))
    .with("AuthAs", Value::opt_str(e.auth_as))
    .with("AuthDomain", Value::opt_str(e.auth_domain))
    .with("DomainSecured", Value::Bool(domain_secured))
    .with("Detail", Value::opt_str(e.detail))
    // RFC 3461, named as Exchange's transport API names them
    // (MailItem.DsnFormatRequested / EnvelopeId,
    // EnvelopeRecipient.RequestedReports / OriginalRecipient); the lists
    // follow Recipients.
    .with(
        "DsnFormatRequested",
        Value::str(match e.dsn_ret.as_deref() {
            Some("FULL") => "Full",
            Some("HDRS") => "Headers",
            _ => "NotSpecified",
        }),
    )
    .with("EnvelopeId", Value::opt_str(e.dsn_envid))
    .with("RequestedReports", Value::list(e.dsn_notify))
    .with("OriginalRecipients", Value::list(e.dsn_orcpt))
    .with(
        "DsnPassedOn",
        e.dsn_passed_on.map_or(Value::Null, Value::Bool),
    )
    // say why (outbound events)
    .with("TlsPolicy", Value::opt_str(e.tls_policy))
    .with("TlsPolicyReason", Value::opt_str(e.tls_policy_reason));
    Value::Object(o)
}

/// The store's local folder (the default server's state folder).
fn local_folder(ctx: &Ctx<'_>) -> Result<std::path::PathBuf, CmdletError> {
    ctx.store.backend().state_dir().ok_or_else(|| {
        CmdletError::Failed(format!(
            "the store {} has no local folder: the tracking log is on the transport server",
            ctx.store.describe()
        ))
    })
}

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let org = ctx.store.snapshot()?;
    // The server's tracking log: in the state folder its registration
    // names (xshell-transport --state-dir), else the store's folder for the
    // default server.
    // Without -Server: the server named after this host, as the engine.
    let server = b
        .get(p::Server)
        .or_else(|| org.server_named_after(&xshell_core::servers::host_name()));
    let (cfg, state_dir) = match server {
        Some(server) => {
            let found = crate::server::find(ctx.store, &org, "Server", &server)?;
            let name = found.service.name.clone();
            match found.registration.filter(|r| !r.state_folder.is_empty()) {
                Some(r) => (
                    org.for_server(&name),
                    std::path::PathBuf::from(r.state_folder),
                ),
                None if xshell_core::model::same_server(&name, org.default_server()) => {
                    (org.for_server(&name), local_folder(ctx)?)
                }
                None => {
                    return Err(CmdletError::Failed(format!(
                        "server {name} has not registered (no xshell-transport --server {name} has run against this store): \
                         where its tracking log is is not known"
                    )));
                }
            }
        }
        None => (org.for_server(org.default_server()), local_folder(ctx)?),
    };
    let filter = Filter {
        start: b.get(p::Start),
        end: b.get(p::End),
        event: b.get(p::EventId),
        sender: b.get(p::Sender),
        recipients: b.get(p::Recipients).unwrap_or_default(),
        message_id: b.get(p::MessageId).map(|m| bare_id(&m)),
        internal_id: b.get(p::InternalMessageId),
        subject: b.get(p::MessageSubject).map(|s| s.to_lowercase()),
        source: b.get(p::Source),
    };
    let limit = result_size(b)?;
    let Some(path) = control::tracking_log_path(&cfg, &state_dir) else {
        ctx.warn(
            "message tracking is disabled (Set-TransportService -MessageTrackingLogEnabled $true)",
        );
        return Ok(Vec::new());
    };
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            ctx.warn(&format!(
                "there is no tracking log yet at {}",
                path.display()
            ));
            return Ok(Vec::new());
        }
        Err(e) => {
            return Err(CmdletError::Failed(format!(
                "cannot read the tracking log {}: {e}",
                path.display()
            )));
        }
    };
    let mut reader = BufReader::new(file);
    let mut hits: VecDeque<(Event, OffsetDateTime)> = VecDeque::new();
    let mut dropped = 0usize;
    let mut malformed = 0usize;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(|e| {
            CmdletError::Failed(format!(
                "cannot read the tracking log {}: {e}",
                path.display()
            ))
        })?;
        if n == 0 {
            break;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = serde_json::from_slice::<Event>(&line)
            .ok()
            .and_then(|e| {
                OffsetDateTime::parse(&e.time, &Rfc3339)
                    .ok()
                    .map(|t| (e, t))
            })
            .filter(|(e, _)| !e.event_id.is_empty());
        let Some((event, at)) = parsed else {
            malformed += 1;
            continue;
        };
        if !filter.matches(&event, at) {
            continue;
        }
        hits.push_back((event, at));
        if let Some(max) = limit
            && hits.len() > max
        {
            hits.pop_front();
            dropped += 1;
        }
    }
    if malformed > 0 {
        ctx.warn(&format!(
            "{malformed} line(s) of {} are not tracking events and were skipped",
            path.display()
        ));
    }
    if dropped > 0 {
        ctx.warn(&format!(
            "{dropped} older matching event(s) were left out by -ResultSize; use -ResultSize Unlimited to see them"
        ));
    }
    let mut out: Vec<(Event, OffsetDateTime)> = hits.into_iter().collect();
    // The log is appended in time order; two writers may interleave by a
    // millisecond: keep the order stable by time.
    out.sort_by_key(|(_, t)| *t);
    Ok(out.into_iter().map(|(e, t)| to_object(e, t)).collect())
}
