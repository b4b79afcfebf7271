//! Delivery status notifications (RFC 3464 in an RFC 6522 multipart/report).
//!
//! [`build`] makes the whole message: a human-readable part, the
//! `message/delivery-status` part (Original-Envelope-Id when the sender
//! gave ENVID, Reporting-MTA, Arrival-Date, then per recipient
//! Original-Recipient when it gave ORCPT, Final-Recipient, Action, Status,
//! Remote-MTA, Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until for
//! delays) and the original message: its header (`text/rfc822-headers`),
//! or the whole message (`message/rfc822`) in a failure report when the
//! sender asked RET=FULL (RFC 3461 4.3: a report without a failure returns
//! the header only). The actions are RFC 3464 2.3.3's `failed`, `delayed`,
//! `delivered` and `relayed`; which reports are due follows the sender's
//! NOTIFY (decided by the caller). It is sent from the postmaster
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
    /// Delivered to a mailbox here (NOTIFY=SUCCESS).
    Delivered,
    /// Handed to a next hop that does not offer DSN (NOTIFY=SUCCESS):
    /// no further report can be expected (RFC 3461 4.1).
    Relayed,
}

impl Action {
    /// The RFC 3464 Action keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
            Action::Delivered => "delivered",
            Action::Relayed => "relayed",
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
    /// The sender's ORCPT (`addr-type;xtext`), for Original-Recipient.
    pub original_recipient: Option<String>,
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
            Action::Delivered | Action::Relayed => 2,
        };
        if class == 2 {
            return match &self.reply {
                Some(Reply {
                    enhanced: Some((2, s, d)),
                    ..
                }) => (2, *s, *d),
                _ => (2, 0, 0),
            };
        }
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
    /// The original message: its header section at least; the whole
    /// message when `ret` is FULL.
    pub original: &'a [u8],
    /// The sender's RET (RFC 3461 4.3).
    pub ret: Option<xshell_smtp::Ret>,
    /// The sender's ENVID (xtext), for Original-Envelope-Id.
    pub envid: Option<&'a str>,
}

/// The largest message a RET=FULL failure report returns whole; a larger
/// one is returned as its header (RFC 3461 4.3 leaves it to the MTA).
pub const RET_FULL_MAX: u64 = 10 * 1024 * 1024;

/// A report ready to be queued: envelope sender `<>`, one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    /// Always empty (the null reverse path).
    pub envelope_sender: String,
    pub envelope_recipient: String,
    pub message: Vec<u8>,
}

/// The `Status:` codes of a report built by [`build`] (one per recipient),
/// read from its `message/delivery-status` part only (a returned message
/// may contain anything).
pub fn statuses(message: &[u8]) -> Vec<Enhanced> {
    let text = String::from_utf8_lossy(message);
    let part = text
        .split_once("Content-Type: message/delivery-status\r\n")
        .map_or("", |(_, rest)| rest);
    let part = part.split_once("\r\n--").map_or(part, |(p, _)| p);
    part.lines()
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
    let delayed = req.recipients.iter().any(|r| r.action == Action::Delayed);
    // RFC 3461 4.3: the whole message only in a report of a failure.
    let full = failed && req.ret == Some(xshell_smtp::Ret::Full);
    let returned: &[u8] = if full { req.original } else { headers };

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
    while returned
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
    } else if delayed {
        "Delivery delayed"
    } else if req.recipients.iter().all(|r| r.action == Action::Relayed) {
        "Relayed"
    } else {
        "Delivered"
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
    } else if delayed {
        m.push_str(
            "Delivery to these recipients or groups is delayed; the server will keep trying:\r\n\r\n",
        );
    } else {
        m.push_str(
            "Your message was delivered to these recipients, or relayed to a server \
             that will send no further notification:\r\n\r\n",
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
        "--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
    );
    // RFC 3464 2.2.1 / RFC 3461 6.3: the ENVID, decoded from xtext.
    if let Some(envid) = req.envid {
        let _ = write!(
            m,
            "Original-Envelope-Id: {}\r\n",
            clean(&xshell_smtp::command::xtext_decode(envid))
        );
    }
    let _ = write!(
        m,
        "Reporting-MTA: dns; {}\r\n\
         Arrival-Date: {}\r\n",
        clean(req.reporting_mta),
        date(req.arrival_ms)
    );
    for r in &req.recipients {
        let (c, s, d) = r.status();
        m.push_str("\r\n");
        // RFC 3464 2.3.1: the ORCPT as given (address decoded from xtext).
        if let Some((kind, addr)) = r
            .original_recipient
            .as_deref()
            .and_then(|o| o.split_once(';'))
        {
            let _ = write!(
                m,
                "Original-Recipient: {}; {}\r\n",
                clean(kind.trim()),
                clean(&xshell_smtp::command::xtext_decode(addr.trim()))
            );
        }
        let _ = write!(
            m,
            "Final-Recipient: rfc822; {}\r\nAction: {}\r\nStatus: {c}.{s}.{d}\r\n",
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

    // the original message, or its header
    let _ = write!(
        m,
        "--{boundary}\r\nContent-Type: {}\r\n\r\n",
        match (full, returned.iter().any(|&b| b >= 0x80)) {
            (true, true) => "message/rfc822\r\nContent-Transfer-Encoding: 8bit",
            (true, false) => "message/rfc822",
            (false, _) => "text/rfc822-headers",
        }
    );
    let mut message = m.into_bytes();
    message.extend_from_slice(returned);
    if !returned.ends_with(b"\n") {
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
            ret: None,
            envid: None,
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
            original_recipient: None,
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
                original_recipient: None,
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
            original_recipient: None,
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

    fn parts(message: &[u8]) -> Vec<(String, String)> {
        let msg = MessageParser::default().parse(message).unwrap();
        let PartType::Multipart(children) = &msg.parts[0].body else {
            panic!("not multipart")
        };
        children
            .iter()
            .map(|&i| {
                let p = &msg.parts[i as usize];
                let ct = p.content_type().unwrap();
                (
                    format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")),
                    String::from_utf8_lossy(
                        &message[p.offset_body as usize..p.offset_end as usize],
                    )
                    .to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn ret_envid_and_orcpt() {
        // RET=FULL: the whole message in a failure report, as message/rfc822;
        // ENVID and ORCPT decoded from xtext.
        let mut r = req(vec![Recipient {
            original_recipient: Some("rfc822;b+2Bo@orgb.example".into()),
            ..failed("bob@orgb.example", Reply::new(550, (5, 1, 1), "no"))
        }]);
        r.ret = Some(xshell_smtp::Ret::Full);
        r.envid = Some("QQ+2B314");
        let original = [ORIGINAL, b"Status: 5.9.9\r\n"].concat();
        r.original = &original;
        let dsn = build(&r).unwrap();
        assert_eq!(statuses(&dsn.message), [(5, 1, 1)]);
        let p = parts(&dsn.message);
        assert_eq!(p[2].0, "message/rfc822");
        assert!(p[2].1.contains("secret body text"), "{}", p[2].1);
        assert!(
            p[1].1
                .contains("Original-Envelope-Id: QQ+314\r\nReporting-MTA:")
        );
        assert!(p[1].1.contains(
            "Original-Recipient: rfc822; b+o@orgb.example\r\nFinal-Recipient: rfc822; bob@orgb.example\r\n"
        ));
        // RET=HDRS, or no RET: the header only.
        for ret in [Some(xshell_smtp::Ret::Hdrs), None] {
            r.ret = ret;
            let p = parts(&build(&r).unwrap().message);
            assert_eq!(p[2].0, "text/rfc822-headers");
            assert!(!p[2].1.contains("secret body text"));
        }
    }

    #[test]
    fn success_reports() {
        let mut r = req(vec![Recipient {
            address: "bob@orgb.example".into(),
            action: Action::Relayed,
            reply: Some(Reply::new(250, (2, 0, 0), "queued as 1234")),
            remote_mta: Some("mx.orgb.example".into()),
            detail: None,
            will_retry_until_ms: None,
            last_attempt_ms: Some(1_780_000_500_000),
            original_recipient: None,
        }]);
        // RET=FULL applies to failures only (RFC 3461 4.3).
        r.ret = Some(xshell_smtp::Ret::Full);
        let dsn = build(&r).unwrap();
        let msg = MessageParser::default().parse(&dsn.message).unwrap();
        assert_eq!(msg.subject(), Some("Relayed: Quarterly report"));
        let p = parts(&dsn.message);
        assert!(
            p[1].1.contains("Action: relayed\r\nStatus: 2.0.0\r\n"),
            "{}",
            p[1].1
        );
        assert_eq!(p[2].0, "text/rfc822-headers");
        r.recipients[0].action = Action::Delivered;
        r.recipients[0].reply = None;
        let dsn = build(&r).unwrap();
        let msg = MessageParser::default().parse(&dsn.message).unwrap();
        assert_eq!(msg.subject(), Some("Delivered: Quarterly report"));
        assert_eq!(statuses(&dsn.message), [(2, 0, 0)]);
    }
}
