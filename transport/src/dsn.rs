//! Delivery status notifications (RFC 3464 in an RFC 6522 multipart/report).
//!
//! [`build`] makes the whole message: a human-readable part, the
//! `message/delivery-status` part (Reporting-MTA, Arrival-Date, then per
//! recipient Final-Recipient, Action, Status, Remote-MTA, Diagnostic-Code,
//! Last-Attempt-Date, Will-Retry-Until for delays) and the original
//! message's header (`text/rfc822-headers`). It is sent from the postmaster
//! (ExternalPostmasterAddress, else `postmaster@<server FQDN>`) to the
//! original sender with the null reverse path `<>`, and never for a message
//! whose sender was already null (no DSN about a DSN: RFC 3461 / 5321 6.1).
//!
//! Pure: every input, including the times, is a parameter.

use std::fmt::Write as _;
use std::hash::{Hash, Hasher};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;
use xshell_core::model::TransportConfig;

use xshell_smtp::Enhanced;
use xshell_smtp::Reply;

/// What is reported for a recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Permanent failure or expiry: nothing more will be tried.
    Failed,
    /// Still being retried (the delay notification).
    Delayed,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
        }
    }
}

/// One recipient in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub address: String,
    pub action: Action,
    /// The reply that decided it (remote or synthesized), if any.
    pub reply: Option<Reply>,
    /// The server that answered, for Remote-MTA.
    pub remote_mta: Option<String>,
    /// A detail for the human-readable part (e.g. the local reason).
    pub detail: Option<String>,
    /// For a delay: until when delivery is retried.
    pub will_retry_until_ms: Option<u64>,
    pub last_attempt_ms: Option<u64>,
}

impl Recipient {
    /// The Status field: the reply's enhanced code, with its class forced to
    /// 5 for `failed` and 4 for `delayed` (a `451 5.7.3` that expired is
    /// reported as 5.7.3; a delay of it as 4.7.3); without an enhanced
    /// code, `x.0.0` from the reply code, or `x.4.7` (delivery time expired)
    /// without a reply.
    pub fn status(&self) -> Enhanced {
        let class = match self.action {
            Action::Failed => 5,
            Action::Delayed => 4,
        };
        match &self.reply {
            Some(Reply {
                enhanced: Some((_, s, d)),
                ..
            }) => (class, *s, *d),
            Some(_) => (class, 0, 0),
            None => (class, 4, 7),
        }
    }
}

/// What the report is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// Our FQDN (Reporting-MTA).
    pub reporting_mta: &'a str,
    /// The From address of the report.
    pub postmaster: &'a str,
    /// The original reverse path (empty: null sender, no report).
    pub original_sender: &'a str,
    pub arrival_ms: u64,
    pub now_ms: u64,
    pub recipients: Vec<Recipient>,
    /// The original message (only its header is included).
    pub original: &'a [u8],
}

/// A report ready to be queued: envelope sender `<>`, one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    /// Always empty (the null reverse path).
    pub envelope_sender: String,
    pub envelope_recipient: String,
    pub message: Vec<u8>,
}

/// The `Status:` codes of a report built by [`build`] (one per recipient).
pub fn statuses(message: &[u8]) -> Vec<Enhanced> {
    String::from_utf8_lossy(message)
        .lines()
        .filter_map(|l| l.strip_prefix("Status: "))
        .filter_map(|code| {
            let mut p = code.trim().split('.');
            Some((
                p.next()?.parse().ok()?,
                p.next()?.parse().ok()?,
                p.next()?.parse().ok()?,
            ))
        })
        .collect()
}

/// The postmaster address the reports come from.
pub fn postmaster_address(config: &TransportConfig, server_fqdn: &str) -> String {
    config
        .external_postmaster_address
        .as_ref()
        .map(|a| a.as_str().to_string())
        .unwrap_or_else(|| format!("postmaster@{server_fqdn}"))
}

/// The header section of a message (up to and including the empty line,
/// or the whole message when there is none), with CRLF line ends.
pub fn header_section(message: &[u8]) -> &[u8] {
    match message.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => &message[..i + 2],
        None => match message.windows(2).position(|w| w == b"\n\n") {
            Some(i) => &message[..i + 1],
            None => message,
        },
    }
}

/// The unfolded value of the first header named `name`.
fn header_value(headers: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(headers);
    let mut value: Option<String> = None;
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if let Some(v) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((n, v)) = line.split_once(':')
            && n.trim().eq_ignore_ascii_case(name)
        {
            value = Some(v.trim().to_string());
        }
    }
    value
}

/// One header-safe line: no CR/LF, printable ASCII (others become `?`).
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\r' | '\n' | '\t' => ' ',
            c if c.is_ascii() && !c.is_ascii_control() => c,
            _ => '?',
        })
        .collect()
}

fn date(ms: u64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(&Rfc2822)
        .unwrap_or_else(|_| "Thu, 01 Jan 1970 00:00:00 +0000".to_string())
}

/// The reply on one line, for Diagnostic-Code.
fn reply_line(r: &Reply) -> String {
    let mut s = format!("{}", r.code);
    if let Some((c, sub, d)) = r.enhanced {
        let _ = write!(s, " {c}.{sub}.{d}");
    }
    for l in &r.lines {
        s.push(' ');
        s.push_str(l);
    }
    clean(s.trim_end())
}

/// Builds the report (see the module docs); `None` for a null sender or
/// when there is nothing to report.
pub fn build(req: &Request<'_>) -> Option<Dsn> {
    if req.original_sender.is_empty() || req.recipients.is_empty() {
        return None;
    }
    let headers = header_section(req.original);
    let failed = req.recipients.iter().any(|r| r.action == Action::Failed);

    let mut h = std::hash::DefaultHasher::new();
    (
        req.reporting_mta,
        req.original_sender,
        req.arrival_ms,
        req.now_ms,
    )
        .hash(&mut h);
    headers.hash(&mut h);
    let token = format!("{:016x}", h.finish());
    let mut boundary = format!("=_xshell-dsn-{token}");
    while headers
        .windows(boundary.len())
        .any(|w| w == boundary.as_bytes())
    {
        boundary.push('x');
    }

    let subject = header_value(headers, "Subject")
        .map(|s| clean(&s))
        .unwrap_or_default();
    let prefix = if failed {
        "Undeliverable"
    } else {
        "Delivery delayed"
    };
    let subject = if subject.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix}: {subject}")
    };
    let original_id = header_value(headers, "Message-ID").map(|s| clean(&s));

    let mut m = String::new();
    let _ = write!(
        m,
        "From: Mail Delivery System <{}>\r\n\
         To: <{}>\r\n\
         Subject: {}\r\n\
         Date: {}\r\n\
         Message-ID: <dsn-{}@{}>\r\n",
        clean(req.postmaster),
        clean(req.original_sender),
        subject,
        date(req.now_ms),
        token,
        clean(req.reporting_mta),
    );
    if let Some(id) = &original_id {
        let _ = write!(m, "In-Reply-To: {id}\r\nReferences: {id}\r\n");
    }
    let _ = write!(
        m,
        "Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\
         \tboundary=\"{boundary}\"\r\n\
         \r\n\
         This is a MIME-formatted delivery status notification.\r\n\
         \r\n"
    );

    // human-readable part
    let _ = write!(
        m,
        "--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    );
    if failed {
        m.push_str("Delivery has failed to these recipients or groups:\r\n\r\n");
    } else {
        m.push_str(
            "Delivery to these recipients or groups is delayed; the server will keep trying:\r\n\r\n",
        );
    }
    for r in &req.recipients {
        let _ = write!(m, "  {} ({})\r\n", clean(&r.address), r.action.as_str());
        if let Some(reply) = &r.reply {
            let _ = write!(m, "    {}\r\n", reply_line(reply));
        }
        if let Some(d) = &r.detail {
            let _ = write!(m, "    {}\r\n", clean(d));
        }
        if let Some(t) = r.will_retry_until_ms {
            let _ = write!(m, "    Delivery will be tried until {}\r\n", date(t));
        }
        m.push_str("\r\n");
    }
    let _ = write!(m, "Reporting server: {}\r\n\r\n", clean(req.reporting_mta));

    // machine-readable part
    let _ = write!(
        m,
        "--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; {}\r\n\
         Arrival-Date: {}\r\n",
        clean(req.reporting_mta),
        date(req.arrival_ms)
    );
    for r in &req.recipients {
        let (c, s, d) = r.status();
        let _ = write!(
            m,
            "\r\nFinal-Recipient: rfc822; {}\r\nAction: {}\r\nStatus: {c}.{s}.{d}\r\n",
            clean(&r.address),
            r.action.as_str()
        );
        if let Some(mta) = &r.remote_mta {
            let _ = write!(m, "Remote-MTA: dns; {}\r\n", clean(mta));
        }
        if let Some(reply) = &r.reply {
            let _ = write!(m, "Diagnostic-Code: smtp; {}\r\n", reply_line(reply));
        }
        if let Some(t) = r.last_attempt_ms {
            let _ = write!(m, "Last-Attempt-Date: {}\r\n", date(t));
        }
        if let (Action::Delayed, Some(t)) = (r.action, r.will_retry_until_ms) {
            let _ = write!(m, "Will-Retry-Until: {}\r\n", date(t));
        }
    }
    m.push_str("\r\n");

    // the original header
    let _ = write!(
        m,
        "--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
    );
    let mut message = m.into_bytes();
    message.extend_from_slice(headers);
    if !headers.ends_with(b"\n") {
        message.extend_from_slice(b"\r\n");
    }
    message.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());

    Some(Dsn {
        envelope_sender: String::new(),
        envelope_recipient: req.original_sender.to_string(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::{MessageParser, MimeHeaders, PartType};

    const ORIGINAL: &[u8] = b"From: Alice <alice@orga.example>\r\n\
        To: bob@orgb.example\r\n\
        Subject: Quarterly\r\n report\r\n\
        Message-ID: <m1@orga.example>\r\n\
        \r\n\
        secret body text\r\n";

    fn req(recipients: Vec<Recipient>) -> Request<'static> {
        Request {
            reporting_mta: "mail.orga.example",
            postmaster: "postmaster@orga.example",
            original_sender: "alice@orga.example",
            arrival_ms: 1_780_000_000_000,
            now_ms: 1_780_000_600_000,
            recipients,
            original: ORIGINAL,
        }
    }

    fn failed(addr: &str, reply: Reply) -> Recipient {
        Recipient {
            address: addr.into(),
            action: Action::Failed,
            reply: Some(reply),
            remote_mta: Some("mx.orgb.example".into()),
            detail: None,
            will_retry_until_ms: None,
            last_attempt_ms: Some(1_780_000_500_000),
        }
    }

    #[test]
    fn structure_parses_as_multipart_report() {
        let dsn = build(&req(vec![
            failed(
                "bob@orgb.example",
                Reply::new(550, (5, 1, 1), "no such user"),
            ),
            Recipient {
                address: "carol@orgb.example".into(),
                action: Action::Failed,
                reply: Some(Reply::new(
                    451,
                    (5, 7, 3),
                    "STARTTLS is required to send mail",
                )),
                remote_mta: None,
                detail: Some("message expired".into()),
                will_retry_until_ms: None,
                last_attempt_ms: None,
            },
        ]))
        .unwrap();
        assert_eq!(dsn.envelope_sender, "");
        assert_eq!(dsn.envelope_recipient, "alice@orga.example");
        // strict CRLF, so it can be queued and sent as is
        for (i, &b) in dsn.message.iter().enumerate() {
            if b == b'\n' {
                assert_eq!(dsn.message[i - 1], b'\r');
            }
        }

        let msg = MessageParser::default().parse(&dsn.message).unwrap();
        let ct = msg.content_type().unwrap();
        assert_eq!(ct.ctype(), "multipart");
        assert_eq!(ct.subtype(), Some("report"));
        assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
        assert_eq!(msg.subject(), Some("Undeliverable: Quarterly report"));
        assert_eq!(
            msg.from().unwrap().first().unwrap().address(),
            Some("postmaster@orga.example")
        );
        assert_eq!(
            msg.to().unwrap().first().unwrap().address(),
            Some("alice@orga.example")
        );
        assert_eq!(msg.in_reply_to().as_text(), Some("m1@orga.example"));

        // three sub-parts in order
        let root = &msg.parts[0];
        let PartType::Multipart(children) = &root.body else {
            panic!("not multipart: {:?}", root.body)
        };
        assert_eq!(children.len(), 3);
        let types: Vec<String> = children
            .iter()
            .map(|&i| {
                let ct = msg.parts[i as usize].content_type().unwrap();
                format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""))
            })
            .collect();
        assert_eq!(
            types,
            [
                "text/plain",
                "message/delivery-status",
                "text/rfc822-headers"
            ]
        );

        let status =
            String::from_utf8_lossy(msg.parts[children[1] as usize].contents()).to_string();
        for want in [
            "Reporting-MTA: dns; mail.orga.example",
            "Arrival-Date: ",
            "Final-Recipient: rfc822; bob@orgb.example",
            "Action: failed",
            "Status: 5.1.1",
            "Remote-MTA: dns; mx.orgb.example",
            "Diagnostic-Code: smtp; 550 5.1.1 no such user",
            "Final-Recipient: rfc822; carol@orgb.example",
            "Status: 5.7.3",
            "Diagnostic-Code: smtp; 451 5.7.3 STARTTLS is required to send mail",
        ] {
            assert!(status.contains(want), "missing {want:?} in\n{status}");
        }
        // per-recipient groups are separated by blank lines
        assert_eq!(status.matches("\r\n\r\nFinal-Recipient").count(), 2);

        let hdrs = String::from_utf8_lossy(msg.parts[children[2] as usize].contents()).to_string();
        assert!(hdrs.contains("Message-ID: <m1@orga.example>"));
        assert!(!hdrs.contains("secret body text"));
        let text = msg.body_text(0).unwrap();
        assert!(text.contains("bob@orgb.example"), "{text}");
    }

    #[test]
    fn delay_notice() {
        let dsn = build(&req(vec![Recipient {
            address: "bob@orgb.example".into(),
            action: Action::Delayed,
            reply: Some(Reply::new(454, (4, 7, 5), "Certificate validation failure")),
            remote_mta: Some("mx.orgb.example".into()),
            detail: None,
            will_retry_until_ms: Some(1_780_172_800_000),
            last_attempt_ms: None,
        }]))
        .unwrap();
        let msg = MessageParser::default().parse(&dsn.message).unwrap();
        assert_eq!(msg.subject(), Some("Delivery delayed: Quarterly report"));
        let text = String::from_utf8_lossy(&dsn.message).to_string();
        assert!(
            text.contains("Action: delayed\r\nStatus: 4.7.5\r\n"),
            "{text}"
        );
        assert!(text.contains("Will-Retry-Until: "));
    }

    #[test]
    fn never_for_the_null_sender() {
        let mut r = req(vec![failed(
            "bob@orgb.example",
            Reply::new(550, (5, 1, 1), "x"),
        )]);
        r.original_sender = "";
        assert!(build(&r).is_none());
        assert!(build(&req(vec![])).is_none());
    }

    #[test]
    fn status_classes_and_postmaster() {
        let mut r = failed("a@b", Reply::new(451, (4, 4, 1), "x"));
        assert_eq!(r.status(), (5, 4, 1));
        r.reply = Some(Reply::plain(554, "x"));
        assert_eq!(r.status(), (5, 0, 0));
        r.reply = None;
        assert_eq!(r.status(), (5, 4, 7));
        r.action = Action::Delayed;
        assert_eq!(r.status(), (4, 4, 7));

        let mut cfg = TransportConfig::default();
        assert_eq!(
            postmaster_address(&cfg, "mail.orga.example"),
            "postmaster@mail.orga.example"
        );
        cfg.external_postmaster_address = Some("nobody@orga.example".parse().unwrap());
        assert_eq!(postmaster_address(&cfg, "x"), "nobody@orga.example");
    }

    #[test]
    fn injection_in_fields_is_neutralized() {
        let mut r = req(vec![failed(
            "bob@orgb.example\r\nBcc: evil@x",
            Reply::new(550, (5, 1, 1), "a\r\nB: c"),
        )]);
        r.original_sender = "alice@orga.example";
        let dsn = build(&r).unwrap();
        let text = String::from_utf8_lossy(&dsn.message).to_string();
        assert!(!text.contains("\r\nBcc:"));
        assert!(!text.contains("\r\nB: c"));
    }
}
