//! Stamping a received message: organization headers arriving from outside
//! are removed, a trace header and our authentication headers are added.
//!
//! The header section is parsed as RFC 5322 lays it out: it ends at the
//! first empty line; a field starts with `name:` and continues over the
//! following lines that begin with a space or tab (folding); a line that is
//! neither ends the header section too (a malformed message: the rest is
//! body, and an empty line is inserted so it stays body). Nothing after the
//! header section is looked at, so a header-looking line in the body is
//! never removed or trusted.

use std::net::IpAddr;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use xshell_smtp::TlsFacts;

use super::policy::Auth;

/// Headers with this prefix are set only by us; copies from the client are
/// always removed.
pub const ORG_PREFIX: &str = "X-MS-Exchange-Organization-";

#[derive(Debug)]
struct Field<'a> {
    name: &'a [u8],
    /// The whole field: every line with its line ending.
    raw: &'a [u8],
}

#[derive(Debug)]
struct Parsed<'a> {
    fields: Vec<Field<'a>>,
    /// Where the body starts (after the empty line, if there is one).
    body: &'a [u8],
    /// The header section ended with an empty line.
    separator: bool,
}

fn field_name(line: &[u8]) -> Option<&[u8]> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = &line[..colon];
    // obsolete syntax allows white space before the colon
    let trimmed_len = name
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    let name = &name[..trimmed_len];
    (!name.is_empty() && name.iter().all(|&b| (33..=126).contains(&b) && b != b':')).then_some(name)
}

fn finish<'a>(
    msg: &'a [u8],
    fields: &mut Vec<Field<'a>>,
    cur: Option<(usize, &'a [u8])>,
    end: usize,
) {
    if let Some((start, name)) = cur
        && let Some(raw) = msg.get(start..end)
    {
        fields.push(Field { name, raw });
    }
}

fn parse(msg: &[u8]) -> Parsed<'_> {
    let mut fields: Vec<Field<'_>> = Vec::new();
    let mut pos = 0;
    // (start of the current field, its name)
    let mut current: Option<(usize, &[u8])> = None;
    while pos < msg.len() {
        let rest = &msg[pos..];
        let len = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let line = &rest[..len];
        let content = line
            .strip_suffix(b"\n")
            .map_or(line, |l| l.strip_suffix(b"\r").unwrap_or(l));
        if content.is_empty() {
            finish(msg, &mut fields, current.take(), pos);
            return Parsed {
                fields,
                body: &msg[pos + len..],
                separator: true,
            };
        }
        if content[0] == b' ' || content[0] == b'\t' {
            if current.is_some() {
                pos += len;
                continue;
            }
            break;
        }
        match field_name(content) {
            Some(name) => {
                finish(msg, &mut fields, current.take(), pos);
                current = Some((pos, name));
                pos += len;
            }
            None => break,
        }
    }
    finish(msg, &mut fields, current.take(), pos);
    Parsed {
        fields,
        body: &msg[pos..],
        separator: false,
    }
}

fn is_org_header(name: &[u8]) -> bool {
    name.len() >= ORG_PREFIX.len()
        && name[..ORG_PREFIX.len()].eq_ignore_ascii_case(ORG_PREFIX.as_bytes())
}

/// The unfolded, trimmed value of the first header field `name`.
pub fn header_value(msg: &[u8], name: &str) -> Option<String> {
    let p = parse(msg);
    let f = p
        .fields
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))?;
    let colon = f.raw.iter().position(|&b| b == b':')?;
    let value: Vec<u8> = f.raw[colon + 1..]
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    Some(String::from_utf8_lossy(&value).trim().to_string())
}

/// Removes every `X-MS-Exchange-Organization-*` field, prepends
/// `received` and appends `org_headers` to the header section. Each of
/// `received` and `org_headers` is one complete field without the final
/// CRLF (folded lines use CRLF + tab).
pub fn stamp(msg: &[u8], received: &str, org_headers: &[(String, String)]) -> Vec<u8> {
    let p = parse(msg);
    let mut out = Vec::with_capacity(msg.len() + 1024);
    out.extend_from_slice(received.as_bytes());
    out.extend_from_slice(b"\r\n");
    for f in p.fields.iter().filter(|f| !is_org_header(f.name)) {
        out.extend_from_slice(f.raw);
        if !f.raw.ends_with(b"\n") {
            out.extend_from_slice(b"\r\n");
        }
    }
    for (name, value) in org_headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    if p.separator || !p.body.is_empty() {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(p.body);
    out
}

/// The largest header section [`Stamper`] accepts (its fields, before the
/// line that ends it). Past it the message is refused (see
/// [`Refusal::HeaderTooLarge`]); a stamper holds at most this plus one chunk.
pub const HEADER_SECTION_LIMIT: usize = 1024 * 1024;

/// The most `Received:` fields a message may arrive with: one that has
/// been through this many hops is refused as a mail loop (`554 5.4.6`).
/// RFC 5321 section 6.3 recommends counting them; Postfix's
/// `hopcount_limit` has the same default. Without it, a next hop that leads
/// back to this server (an MX or smart host pointing at ourselves) would
/// pass the message around for ever, a little longer each time.
pub const MAX_HOPS: usize = 60;

/// Why [`Stamper`] refuses a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The header section is larger than [`HEADER_SECTION_LIMIT`].
    ///
    /// The message is refused (`552 5.3.4`) rather than cut: a header
    /// section cut at the limit would either let fields past the limit
    /// through unstamped (an `X-MS-Exchange-Organization-*` field smuggled
    /// after a megabyte of padding) or turn them into body, altering the
    /// message. No real message has a header section this large (Postfix
    /// keeps 100 KB by default).
    #[error("message header section larger than {HEADER_SECTION_LIMIT} octets")]
    HeaderTooLarge,
    /// The message already has the connector's MaxHopCount (by default
    /// [`MAX_HOPS`]) `Received:` fields: a mail loop (`554 5.4.6`, which
    /// bounces it to its sender).
    #[error("{0} or more Received header fields (a mail loop)")]
    TooManyHops(usize),
    /// UTF-8 (8-bit octets) in the header section of a message whose
    /// transaction did not ask for SMTPUTF8: RFC 6532 header fields only
    /// travel under RFC 6531 (`550 5.6.7`).
    #[error("non-ASCII header fields without SMTPUTF8")]
    Utf8HeaderWithoutSmtpUtf8,
}

impl Refusal {
    /// The reply refusing the message.
    pub fn reply(&self) -> xshell_smtp::Reply {
        match self {
            Refusal::HeaderTooLarge => xshell_smtp::Reply::new(
                552,
                (5, 3, 4),
                "Message header section exceeds the maximum size (1 MB)",
            ),
            Refusal::TooManyHops(limit) => xshell_smtp::Reply::new(
                554,
                (5, 4, 6),
                format!("Too many hops: {limit} or more Received header fields (mail loop)"),
            ),
            Refusal::Utf8HeaderWithoutSmtpUtf8 => xshell_smtp::Reply::new(
                550,
                (5, 6, 7),
                "Non-ASCII header fields need the SMTPUTF8 parameter of MAIL (RFC 6531, RFC 6532)",
            ),
        }
    }
}

#[derive(Debug)]
enum StampState {
    /// Buffering the header section; `scanned` octets of `buf` are
    /// complete lines of it; `in_field` when the last one was a field or
    /// its continuation; `hops` the `Received:` fields among them.
    Header {
        buf: Vec<u8>,
        scanned: usize,
        in_field: bool,
        hops: usize,
    },
    /// The stamped header section went out: the rest passes through.
    Body,
    Refused(Refusal),
}

/// [`stamp`] over a message that arrives in chunks: buffers the header
/// section (at most [`HEADER_SECTION_LIMIT`], and fewer than [`MAX_HOPS`]
/// `Received:` fields), stamps it as soon as its end is seen, then passes
/// the body through untouched. The output is exactly
/// what [`stamp`] gives for the whole message, however it was chunked.
#[derive(Debug)]
pub struct Stamper {
    received: String,
    org_headers: Vec<(String, String)>,
    state: StampState,
    max_hops: usize,
    /// Added as `Message-ID:` when the message has none.
    assign_message_id: Option<String>,
    message_id: Option<String>,
    subject: Option<String>,
    /// Refuse 8-bit octets in header fields (a transaction without
    /// SMTPUTF8).
    ascii_header: bool,
}

impl Stamper {
    /// A stamper adding `received` and `org_headers` (see [`stamp`]).
    pub fn new(received: String, org_headers: Vec<(String, String)>) -> Self {
        Stamper {
            received,
            org_headers,
            state: StampState::Header {
                buf: Vec::new(),
                scanned: 0,
                in_field: false,
                hops: 0,
            },
            max_hops: MAX_HOPS,
            assign_message_id: None,
            message_id: None,
            subject: None,
            ascii_header: false,
        }
    }

    /// Refuses a message whose header fields contain 8-bit octets
    /// ([`Refusal::Utf8HeaderWithoutSmtpUtf8`]): for a transaction
    /// without SMTPUTF8 (RFC 6532 3, RFC 6531 3.4).
    pub fn requiring_ascii_header(mut self, ascii: bool) -> Self {
        self.ascii_header = ascii;
        self
    }

    /// The header fields of the buffered section carry 8-bit octets that
    /// this stamper must refuse.
    fn utf8_header_refused(&self) -> bool {
        let StampState::Header { buf, .. } = &self.state else {
            return false;
        };
        self.ascii_header && parse(buf).fields.iter().any(|f| !f.raw.is_ascii())
    }

    /// Refuses messages with `max_hops` or more `Received:` fields
    /// (MaxHopCount) instead of [`MAX_HOPS`].
    pub fn with_max_hops(mut self, max_hops: usize) -> Self {
        self.max_hops = max_hops.max(1);
        self
    }

    /// Gives a message without a `Message-ID:` field this one (`<id@host>`),
    /// as Exchange does.
    pub fn assigning_message_id(mut self, id: String) -> Self {
        self.assign_message_id = Some(id);
        self
    }

    /// The message's Message-ID, once the header section was stamped.
    pub fn message_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }

    /// The message's Subject (as written, unfolded), once stamped.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// Takes the next octets of the message; returns what to store next
    /// (nothing while the header section is being buffered).
    pub fn push(&mut self, chunk: Vec<u8>) -> Result<Vec<u8>, Refusal> {
        let StampState::Header {
            buf,
            scanned,
            in_field,
            hops,
        } = &mut self.state
        else {
            return match self.state {
                StampState::Refused(r) => Err(r),
                _ => Ok(chunk),
            };
        };
        if buf.is_empty() {
            *buf = chunk;
        } else {
            buf.extend_from_slice(&chunk);
        }
        let ended = header_section_ends(buf, scanned, in_field, hops, self.max_hops);
        let refusal = if *hops >= self.max_hops {
            Some(Refusal::TooManyHops(self.max_hops))
        } else if *scanned > HEADER_SECTION_LIMIT || (!ended && buf.len() > HEADER_SECTION_LIMIT) {
            Some(Refusal::HeaderTooLarge)
        } else {
            None
        };
        if let Some(r) = refusal {
            self.state = StampState::Refused(r);
            return Err(r);
        }
        if ended {
            if self.utf8_header_refused() {
                self.state = StampState::Refused(Refusal::Utf8HeaderWithoutSmtpUtf8);
                return Err(Refusal::Utf8HeaderWithoutSmtpUtf8);
            }
            return Ok(self.emit());
        }
        Ok(Vec::new())
    }

    /// The end of the message: returns what is left to store.
    pub fn finish(&mut self) -> Result<Vec<u8>, Refusal> {
        if self.utf8_header_refused() {
            self.state = StampState::Refused(Refusal::Utf8HeaderWithoutSmtpUtf8);
            return Err(Refusal::Utf8HeaderWithoutSmtpUtf8);
        }
        match self.state {
            StampState::Header { .. } => Ok(self.emit()),
            StampState::Body => Ok(Vec::new()),
            StampState::Refused(r) => Err(r),
        }
    }

    /// Stamps the buffered header section (and the body octets after it).
    fn emit(&mut self) -> Vec<u8> {
        let StampState::Header { buf, .. } = std::mem::replace(&mut self.state, StampState::Body)
        else {
            return Vec::new();
        };
        let mut out = stamp(&buf, &self.received, &self.org_headers);
        self.message_id = header_value(&out, "Message-ID").filter(|v| !v.is_empty());
        if self.message_id.is_none()
            && let Some(id) = self.assign_message_id.take()
        {
            // After our Received field (which [`stamp`] writes first,
            // folded over several lines), before the message's own fields.
            let at = (self.received.len() + 2).min(out.len());
            let field = format!("Message-ID: {id}\r\n");
            out.splice(at..at, field.into_bytes());
            self.message_id = Some(id);
        }
        self.subject = header_value(&out, "Subject");
        out
    }
}

/// Scans the complete lines of `buf` from `scanned` with [`parse`]'s rules;
/// true once a line ends the header section (an empty line, or one that is
/// neither a field nor the continuation of one). Counts the `Received:`
/// fields in `hops`, and stops scanning at [`MAX_HOPS`].
fn header_section_ends(
    buf: &[u8],
    scanned: &mut usize,
    in_field: &mut bool,
    hops: &mut usize,
    max_hops: usize,
) -> bool {
    while let Some(nl) = buf[*scanned..].iter().position(|&b| b == b'\n') {
        let line = &buf[*scanned..*scanned + nl + 1];
        let content = line
            .strip_suffix(b"\n")
            .map_or(line, |l| l.strip_suffix(b"\r").unwrap_or(l));
        let more = match content.first() {
            None => false,
            Some(b' ' | b'\t') => *in_field,
            Some(_) => match field_name(content) {
                Some(name) => {
                    if name.eq_ignore_ascii_case(b"Received") {
                        *hops += 1;
                    }
                    true
                }
                None => false,
            },
        };
        if !more {
            return true;
        }
        *in_field = true;
        *scanned += line.len();
        if *hops >= max_hops {
            return false;
        }
    }
    false
}

/// Makes untrusted text (HELO name, certificate names) safe inside a
/// header comment or quoted string: printable ASCII only, no quotes,
/// backslashes or parentheses.
/// [`clean`], keeping non-ASCII letters and digits (UTF-8 header fields of
/// an SMTPUTF8 message, RFC 6532).
fn clean_utf8(s: &str) -> String {
    s.chars()
        .take(256)
        .map(|c| {
            if (!c.is_ascii() && c.is_alphanumeric())
                || (c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '(' | ')'))
            {
                c
            } else {
                '?'
            }
        })
        .collect()
}

pub fn clean(s: &str) -> String {
    s.chars()
        .take(256)
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '(' | ')') || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// The common name in a Windows-style DN (`CN=a, O=b`), else the whole DN.
fn common_name(dn: &str) -> &str {
    dn.split(", ")
        .find_map(|part| part.strip_prefix("CN="))
        .unwrap_or(dn)
}

/// What the Received header records.
#[derive(Debug)]
pub struct TraceInfo<'a> {
    pub helo: &'a str,
    pub esmtp: bool,
    pub client_ip: IpAddr,
    pub by: &'a str,
    pub tls: Option<&'a TlsFacts>,
    /// The single recipient, when there is exactly one.
    pub single_recipient: Option<String>,
    /// The transaction used SMTPUTF8 (RFC 6531): `with UTF8SMTP(S)`, and
    /// the `for` clause may keep UTF-8 letters (RFC 6532 3.2).
    pub smtputf8: bool,
    pub now: OffsetDateTime,
}

/// A Postfix-style Received header:
/// `Received: from helo (unknown [ip]) (using TLSv1.3 with cipher X)
/// (Client CN "..", Issuer ".." (verified OK)) by fqdn (xshell-transport)
/// with ESMTPS for <rcpt>; date`.
pub fn received_header(t: &TraceInfo<'_>) -> String {
    let mut h = format!(
        "Received: from {} (unknown [{}])",
        clean(t.helo),
        crate::config::canonical_ip(t.client_ip)
    );
    if let Some(tls) = t.tls {
        h.push_str(&format!(
            "\r\n\t(using {} with cipher {})",
            clean(&tls.protocol),
            clean(&tls.cipher)
        ));
        match &tls.client_certificate {
            Some(c) => h.push_str(&format!(
                "\r\n\t(Client CN \"{}\", Issuer \"{}\" ({}))",
                clean(common_name(&c.subject)),
                clean(common_name(&c.issuer)),
                if c.chain_verified {
                    "verified OK"
                } else if c.direct_trust {
                    "Direct Trust"
                } else {
                    "not verified"
                }
            )),
            None => h.push_str("\r\n\t(No client certificate presented)"),
        }
    }
    // RFC 6531 4.3 registers UTF8SMTP / UTF8SMTPS (and the A forms) for
    // the `with` clause of a transaction that used SMTPUTF8 (only
    // possible after EHLO).
    let with = match (t.esmtp && t.smtputf8, t.esmtp, t.tls.is_some()) {
        (true, _, true) => "UTF8SMTPS",
        (true, _, false) => "UTF8SMTP",
        (false, true, true) => "ESMTPS",
        (false, true, false) => "ESMTP",
        (false, false, true) => "SMTPS",
        (false, false, false) => "SMTP",
    };
    h.push_str(&format!(
        "\r\n\tby {} (xshell-transport) with {with}",
        clean(t.by)
    ));
    if let Some(r) = &t.single_recipient {
        let r = if t.smtputf8 { clean_utf8(r) } else { clean(r) };
        h.push_str(&format!("\r\n\tfor <{r}>"));
    }
    let date = t
        .now
        .format(&Rfc2822)
        .unwrap_or_else(|_| t.now.unix_timestamp().to_string());
    h.push_str(&format!("; {date}"));
    h
}

/// Our organization headers for a sender authenticated as `auth`.
pub fn org_headers(auth: &Auth, auth_source: &str) -> Vec<(String, String)> {
    let mut v = vec![
        (format!("{ORG_PREFIX}AuthSource"), clean(auth_source)),
        (format!("{ORG_PREFIX}AuthAs"), auth.auth_as().to_string()),
    ];
    if let Some(code) = auth.mechanism_code() {
        v.push((format!("{ORG_PREFIX}AuthMechanism"), code.to_string()));
    }
    if let Some(d) = auth.domain() {
        v.push((format!("{ORG_PREFIX}AuthDomain"), clean(d)));
    }
    v
}

#[cfg(test)]
mod tests;
