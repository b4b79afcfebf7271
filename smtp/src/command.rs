//! The SMTP command-line parser (RFC 5321 section 4.1, with the MAIL
//! parameters of RFC 1870 SIZE, RFC 6152 8BITMIME and RFC 3030
//! BINARYMIME, RFC 3030's BDAT, and the MAIL / RCPT parameters of RFC
//! 3461 DSN: RET, ENVID, NOTIFY, ORCPT, and RFC 8689's REQUIRETLS).
//!
//! [`parse_command`] takes one command line (with or without its CRLF) and
//! returns a [`Command`] or a [`ParseError`] that knows its own reply
//! ([`ParseError::reply`]), so the session never turns strings into codes.
//!
//! Rules, deliberately strict where it matters for a relay:
//! - verbs are case-insensitive; a line is at most 512 octets with CRLF;
//! - no control character (and no NUL, CR, LF) anywhere in the line;
//! - paths need angle brackets; `<>` is accepted for MAIL only; a source
//!   route (`<@a,@b:user@c>`) is accepted and dropped; `<postmaster>`
//!   (no domain) is accepted for RCPT;
//! - one space is expected after `MAIL FROM:` / `RCPT TO:` is tolerated
//!   (common client behaviour), nothing else is;
//! - local part: dot-string of atext, or a quoted string of printable
//!   ASCII, at most 64 octets; domain: LDH labels (at most 63 octets each,
//!   255 in all) or an IPv4 / `IPv6:` address literal;
//! - SMTPUTF8 (RFC 6531 3.3): UTF-8 is accepted in local parts (atext and
//!   quoted strings) and in domains (U-labels, valid IDNA2008 / UTS 46).
//!   The parser only checks that the UTF-8 is well formed and the domain
//!   valid; MAIL with a non-ASCII sender and no `SMTPUTF8` parameter is
//!   refused here with `553 5.6.7` (RFC 6531 3.5), and the session refuses
//!   a non-ASCII recipient in a transaction without it the same way.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::reply::Reply;

/// Maximum command line length, CRLF included (RFC 5321 4.5.3.1.4).
pub const MAX_COMMAND_LINE: usize = 512;
/// Maximum local-part length (RFC 5321 4.5.3.1.1).
pub const MAX_LOCAL_PART: usize = 64;
/// Maximum domain length (RFC 5321 4.5.3.1.2).
pub const MAX_DOMAIN: usize = 255;

/// A mailbox `local@domain`. The local part keeps its wire form (quotes
/// included, case preserved); the domain is lower-cased, or an address
/// literal such as `[192.0.2.1]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    pub local_part: String,
    pub domain: String,
}

impl Mailbox {
    /// True when local part and domain are ASCII: the address needs no
    /// SMTPUTF8 (RFC 6531).
    pub fn is_ascii(&self) -> bool {
        self.local_part.is_ascii() && self.domain.is_ascii()
    }

    /// True when the domain is an address literal (`[...]`).
    pub fn is_address_literal(&self) -> bool {
        self.domain.starts_with('[')
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local_part, self.domain)
    }
}

/// The MAIL FROM path: a mailbox or the null sender `<>` (bounces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReversePath {
    Null,
    Mailbox(Mailbox),
}

impl ReversePath {
    /// The mailbox, or `None` for the null sender.
    pub fn mailbox(&self) -> Option<&Mailbox> {
        match self {
            ReversePath::Null => None,
            ReversePath::Mailbox(m) => Some(m),
        }
    }
}

impl fmt::Display for ReversePath {
    /// The address without brackets; the null sender renders empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => Ok(()),
            ReversePath::Mailbox(m) => m.fmt(f),
        }
    }
}

/// The RCPT TO path: a mailbox, or the bare `<Postmaster>` every server must
/// accept (the session resolves it to `postmaster@<our fqdn>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardPath {
    Postmaster,
    Mailbox(Mailbox),
}

/// The BODY parameter of MAIL (RFC 6152, RFC 3030 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Body {
    #[serde(rename = "7BIT")]
    SevenBit,
    #[serde(rename = "8BITMIME")]
    EightBitMime,
    /// Binary MIME content: any octets, no line structure; only with BDAT
    /// (RFC 3030 section 3).
    #[serde(rename = "BINARYMIME")]
    BinaryMime,
}

impl Body {
    /// The parameter value, as on the wire (`8BITMIME`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Body::SevenBit => "7BIT",
            Body::EightBitMime => "8BITMIME",
            Body::BinaryMime => "BINARYMIME",
        }
    }
}

impl fmt::Display for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The parameters of MAIL FROM this server understands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailParams {
    /// `SIZE=n` (RFC 1870): the size the client announces.
    pub size: Option<u64>,
    /// `BODY=7BIT|8BITMIME|BINARYMIME`.
    pub body: Option<Body>,
    /// `RET=FULL|HDRS` (RFC 3461 4.3): what a failure report returns.
    pub ret: Option<Ret>,
    /// `ENVID=xtext` (RFC 3461 4.4), kept in its (validated) xtext form.
    pub envid: Option<String>,
    /// `SMTPUTF8` (RFC 6531 3.4): the transaction may carry UTF-8
    /// addresses and header fields.
    pub smtputf8: bool,
    /// `REQUIRETLS` (RFC 8689 2): the message may be relayed only over
    /// TLS to a verified next hop that offers REQUIRETLS. The parser takes
    /// it once and without a value; whether the session may accept it
    /// (TLS active, the extension offered) is the session's rule.
    pub requiretls: bool,
}

impl MailParams {
    /// True when no parameter was given.
    pub fn is_empty(&self) -> bool {
        self.size.is_none()
            && self.body.is_none()
            && self.ret.is_none()
            && self.envid.is_none()
            && !self.smtputf8
            && !self.requiretls
    }
}

/// The RET parameter of MAIL (RFC 3461 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Ret {
    /// Return the whole message with a failure report.
    #[serde(rename = "FULL")]
    Full,
    /// Return only its header section.
    #[serde(rename = "HDRS")]
    Hdrs,
}

impl Ret {
    /// The keyword as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Ret::Full => "FULL",
            Ret::Hdrs => "HDRS",
        }
    }
}

/// The NOTIFY parameter of RCPT (RFC 3461 4.1): `NEVER` (every flag false)
/// or a list of SUCCESS, FAILURE, DELAY.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Notify {
    pub success: bool,
    pub failure: bool,
    pub delay: bool,
}

impl Notify {
    /// `NOTIFY=NEVER`.
    pub const NEVER: Notify = Notify {
        success: false,
        failure: false,
        delay: false,
    };

    /// True for `NEVER`.
    pub fn is_never(self) -> bool {
        self == Notify::NEVER
    }
}

impl fmt::Display for Notify {
    /// The wire form: `NEVER` or e.g. `SUCCESS,FAILURE`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_never() {
            return f.write_str("NEVER");
        }
        let words: Vec<&str> = [
            (self.success, "SUCCESS"),
            (self.failure, "FAILURE"),
            (self.delay, "DELAY"),
        ]
        .into_iter()
        .filter_map(|(on, w)| on.then_some(w))
        .collect();
        f.write_str(&words.join(","))
    }
}

impl std::str::FromStr for Notify {
    type Err = ParseError;

    /// RFC 3461 4.1: `NEVER`, or one or more of SUCCESS, FAILURE, DELAY
    /// separated by commas (case-insensitive; NEVER alone; no repeats).
    fn from_str(v: &str) -> Result<Self, ParseError> {
        let bad = ParseError::InvalidParameter("NOTIFY");
        if v.eq_ignore_ascii_case("NEVER") {
            return Ok(Notify::NEVER);
        }
        let mut n = Notify::default();
        for word in v.split(',') {
            let flag = if word.eq_ignore_ascii_case("SUCCESS") {
                &mut n.success
            } else if word.eq_ignore_ascii_case("FAILURE") {
                &mut n.failure
            } else if word.eq_ignore_ascii_case("DELAY") {
                &mut n.delay
            } else {
                return Err(bad);
            };
            if *flag {
                return Err(bad);
            }
            *flag = true;
        }
        Ok(n)
    }
}

impl From<Notify> for String {
    fn from(n: Notify) -> String {
        n.to_string()
    }
}

impl TryFrom<String> for Notify {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        s.parse()
    }
}

/// The parameters of RCPT TO this server understands (RFC 3461).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcptParams {
    /// `NOTIFY=` (RFC 3461 4.1).
    pub notify: Option<Notify>,
    /// `ORCPT=addr-type;xtext` (RFC 3461 4.2), kept in its wire form.
    pub orcpt: Option<String>,
}

impl RcptParams {
    /// True when no parameter was given.
    pub fn is_empty(&self) -> bool {
        self.notify.is_none() && self.orcpt.is_none()
    }
}

/// Longest ENVID value (RFC 3461 4.4: 100 characters).
pub const MAX_ENVID: usize = 100;
/// Longest ORCPT value (RFC 3461 4.2: 500 characters).
pub const MAX_ORCPT: usize = 500;

/// True when `v` is xtext (RFC 3461 4): printable ASCII except `+` and
/// `=`, and `+XX` with two upper-case hex digits.
pub fn is_xtext(v: &[u8]) -> bool {
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'+' => {
                let hex =
                    |b: Option<&u8>| b.is_some_and(|&c| matches!(c, b'0'..=b'9' | b'A'..=b'F'));
                if !hex(v.get(i + 1)) || !hex(v.get(i + 2)) {
                    return false;
                }
                i += 3;
            }
            b'=' => return false,
            0x21..=0x7e => i += 1,
            _ => return false,
        }
    }
    true
}

/// Decodes xtext (`+XX` hex escapes); other octets are kept. Octets that
/// are not valid UTF-8 are replaced.
pub fn xtext_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'+'
            && let Some(n) = v
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(n);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Encodes text as xtext: `+`, `=`, controls, space and non-ASCII octets
/// become `+XX`.
pub fn xtext_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for &b in v.as_bytes() {
        if (0x21..=0x7e).contains(&b) && b != b'+' && b != b'=' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// Validates an ORCPT value: `addr-type ";" xtext` (RFC 3461 4.2), the
/// addr-type an atom, at most [`MAX_ORCPT`] characters.
pub(crate) fn valid_orcpt(v: &[u8]) -> bool {
    let Some(semi) = v.iter().position(|&b| b == b';') else {
        return false;
    };
    let (kind, addr) = (&v[..semi], &v[semi + 1..]);
    v.len() <= MAX_ORCPT
        && !kind.is_empty()
        && kind.iter().all(|&b| is_atext(b))
        && !addr.is_empty()
        && is_xtext(addr)
}

/// One parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    Mail {
        from: ReversePath,
        params: MailParams,
    },
    Rcpt {
        to: ForwardPath,
        params: RcptParams,
    },
    Data,
    /// `BDAT <chunk-size> [LAST]` (RFC 3030 section 2): `size` octets of
    /// message data follow the command line.
    Bdat {
        size: u64,
        last: bool,
    },
    Rset,
    Noop,
    Quit,
    Vrfy(String),
    Expn(String),
    Help(Option<String>),
    StartTls,
}

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("the address must be enclosed in angle brackets")]
    MissingBrackets,
    #[error("the null address <> is not allowed here")]
    NullNotAllowed,
    #[error("the address contains a control or non-ASCII character")]
    InvalidCharacter,
    #[error("the local part is empty or malformed")]
    InvalidLocalPart,
    #[error("the local part is longer than 64 octets")]
    LocalPartTooLong,
    #[error("the address has no domain")]
    MissingDomain,
    #[error("the domain is malformed")]
    InvalidDomain,
    #[error("the address literal is malformed")]
    InvalidAddressLiteral,
    #[error("the source route is malformed")]
    InvalidSourceRoute,
}

/// Why a command line was refused. Each variant maps to exactly one reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("line too long")]
    LineTooLong,
    #[error("bare LF in command line")]
    BareLf,
    #[error("command unrecognized")]
    Unrecognized,
    #[error("invalid character in command line")]
    InvalidCharacter,
    #[error("syntax error: {0}")]
    Syntax(&'static str),
    #[error("invalid sender address: {0}")]
    InvalidSender(AddressError),
    #[error("invalid recipient address: {0}")]
    InvalidRecipient(AddressError),
    #[error("parameter {0} not recognized")]
    UnknownParameter(String),
    #[error("invalid value for parameter {0}")]
    InvalidParameter(&'static str),
    /// A BDAT line whose chunk size cannot be read: the octets that follow
    /// cannot be told apart from commands, so the session closes.
    #[error("invalid BDAT command")]
    InvalidBdat,
    /// A non-ASCII address in a transaction without `SMTPUTF8` (RFC 6531
    /// 3.5); `sender` tells MAIL from RCPT.
    #[error("non-ASCII address without SMTPUTF8")]
    NeedsSmtpUtf8 { sender: bool },
}

impl ParseError {
    /// The one reply for this error.
    pub fn reply(&self) -> Reply {
        match self {
            ParseError::LineTooLong => Reply::new(500, (5, 5, 2), "Line too long"),
            ParseError::BareLf => Reply::new(500, (5, 5, 2), "Bare LF in command line"),
            ParseError::Unrecognized => Reply::new(500, (5, 5, 1), "Command unrecognized"),
            ParseError::InvalidCharacter => {
                Reply::new(501, (5, 5, 2), "Invalid character in command")
            }
            ParseError::Syntax(what) => Reply::new(501, (5, 5, 4), format!("Syntax error: {what}")),
            ParseError::InvalidSender(e) => {
                Reply::new(501, (5, 1, 7), format!("Bad sender address syntax: {e}"))
            }
            ParseError::InvalidRecipient(e) => {
                Reply::new(501, (5, 1, 3), format!("Bad recipient address syntax: {e}"))
            }
            ParseError::UnknownParameter(p) => {
                Reply::new(555, (5, 5, 4), format!("Parameter {p} not recognized"))
            }
            ParseError::InvalidParameter(p) => {
                Reply::new(501, (5, 5, 4), format!("Invalid value for {p}"))
            }
            ParseError::InvalidBdat => Reply::new(
                501,
                (5, 5, 4),
                "Syntax: BDAT <chunk-size> [LAST]; closing connection",
            ),
            // RFC 6531 3.5: 553, and X.6.7 "Non-ASCII addresses not
            // permitted for that sender/recipient" (RFC 6533 3).
            ParseError::NeedsSmtpUtf8 { sender } => Reply::new(
                553,
                (5, 6, 7),
                format!(
                    "Non-ASCII {} address requires the SMTPUTF8 parameter of MAIL",
                    if *sender { "sender" } else { "recipient" }
                ),
            ),
        }
    }
}

/// Parses one command line. A trailing CRLF is removed first; the whole
/// line (CRLF included) may be at most [`MAX_COMMAND_LINE`] octets.
pub fn parse_command(line: &[u8]) -> Result<Command, ParseError> {
    let body = line.strip_suffix(b"\r\n").unwrap_or(line);
    if body.len() + 2 > MAX_COMMAND_LINE {
        return Err(ParseError::LineTooLong);
    }
    if body.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(ParseError::InvalidCharacter);
    }
    let (verb, rest) = match body.iter().position(|&b| b == b' ') {
        Some(i) => (&body[..i], &body[i + 1..]),
        None => (body, &b""[..]),
    };
    let upper = verb.to_ascii_uppercase();
    match upper.as_slice() {
        b"EHLO" => Ok(Command::Ehlo(parse_helo_arg(rest)?)),
        b"HELO" => Ok(Command::Helo(parse_helo_arg(rest)?)),
        b"MAIL" => parse_mail(rest),
        b"RCPT" => parse_rcpt(rest),
        b"DATA" => no_args(rest, Command::Data),
        b"BDAT" => parse_bdat(rest),
        b"RSET" => no_args(rest, Command::Rset),
        b"QUIT" => no_args(rest, Command::Quit),
        b"STARTTLS" => no_args(rest, Command::StartTls),
        b"NOOP" => Ok(Command::Noop),
        b"VRFY" => Ok(Command::Vrfy(required_text(
            rest,
            "VRFY requires an argument",
        )?)),
        b"EXPN" => Ok(Command::Expn(required_text(
            rest,
            "EXPN requires an argument",
        )?)),
        b"HELP" => {
            let t = text(rest);
            Ok(Command::Help(if t.is_empty() { None } else { Some(t) }))
        }
        _ => Err(ParseError::Unrecognized),
    }
}

fn text(rest: &[u8]) -> String {
    String::from_utf8_lossy(rest).trim().to_string()
}

fn required_text(rest: &[u8], msg: &'static str) -> Result<String, ParseError> {
    let t = text(rest);
    if t.is_empty() {
        Err(ParseError::Syntax(msg))
    } else {
        Ok(t)
    }
}

fn no_args(rest: &[u8], cmd: Command) -> Result<Command, ParseError> {
    if rest.iter().all(|&b| b == b' ' || b == b'\t') {
        Ok(cmd)
    } else {
        Err(ParseError::Syntax("no parameters allowed"))
    }
}

/// EHLO/HELO take exactly one domain or address literal. Underscores are
/// tolerated in the client's own name (common in the wild); nothing else.
fn parse_helo_arg(rest: &[u8]) -> Result<String, ParseError> {
    let arg = trim(rest);
    if arg.is_empty() {
        return Err(ParseError::Syntax("EHLO/HELO requires a domain name"));
    }
    if arg.iter().any(|&b| b == b' ' || b == b'\t') {
        return Err(ParseError::Syntax("EHLO/HELO takes a single domain name"));
    }
    if arg.first() == Some(&b'[') {
        return parse_address_literal(arg)
            .map_err(|_| ParseError::Syntax("invalid address literal in EHLO/HELO"));
    }
    parse_domain(arg, true).map_err(|_| ParseError::Syntax("invalid domain name in EHLO/HELO"))
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &s[start..end.max(start)]
}

/// Strips a case-insensitive keyword such as `FROM:`, then the single
/// tolerated run of spaces.
fn keyword<'a>(rest: &'a [u8], kw: &[u8]) -> Option<&'a [u8]> {
    if rest.len() < kw.len() || !rest[..kw.len()].eq_ignore_ascii_case(kw) {
        return None;
    }
    let mut r = &rest[kw.len()..];
    while let [b' ', tail @ ..] = r {
        r = tail;
    }
    Some(r)
}

fn parse_mail(rest: &[u8]) -> Result<Command, ParseError> {
    let r = keyword(rest, b"FROM:").ok_or(ParseError::Syntax("expected MAIL FROM:<address>"))?;
    let (path, params) = split_path(r).map_err(ParseError::InvalidSender)?;
    let from = if path.is_empty() {
        ReversePath::Null
    } else {
        ReversePath::Mailbox(parse_path(path).map_err(ParseError::InvalidSender)?)
    };
    let mut out = MailParams::default();
    for p in params.split(|&b| b == b' ').filter(|p| !p.is_empty()) {
        let (key, value) = match p.iter().position(|&b| b == b'=') {
            Some(i) => (&p[..i], Some(&p[i + 1..])),
            None => (p, None),
        };
        if key.eq_ignore_ascii_case(b"SIZE") {
            let v = value.ok_or(ParseError::InvalidParameter("SIZE"))?;
            if out.size.is_some()
                || v.is_empty()
                || v.len() > 20
                || !v.iter().all(u8::is_ascii_digit)
            {
                return Err(ParseError::InvalidParameter("SIZE"));
            }
            let n = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or(ParseError::InvalidParameter("SIZE"))?;
            out.size = Some(n);
        } else if key.eq_ignore_ascii_case(b"BODY") {
            let v = value.ok_or(ParseError::InvalidParameter("BODY"))?;
            if out.body.is_some() {
                return Err(ParseError::InvalidParameter("BODY"));
            }
            out.body = Some(if v.eq_ignore_ascii_case(b"7BIT") {
                Body::SevenBit
            } else if v.eq_ignore_ascii_case(b"8BITMIME") {
                Body::EightBitMime
            } else if v.eq_ignore_ascii_case(b"BINARYMIME") {
                Body::BinaryMime
            } else {
                return Err(ParseError::InvalidParameter("BODY"));
            });
        } else if key.eq_ignore_ascii_case(b"RET") {
            // RFC 3461 4.3
            let v = value.ok_or(ParseError::InvalidParameter("RET"))?;
            if out.ret.is_some() {
                return Err(ParseError::InvalidParameter("RET"));
            }
            out.ret = Some(if v.eq_ignore_ascii_case(b"FULL") {
                Ret::Full
            } else if v.eq_ignore_ascii_case(b"HDRS") {
                Ret::Hdrs
            } else {
                return Err(ParseError::InvalidParameter("RET"));
            });
        } else if key.eq_ignore_ascii_case(b"ENVID") {
            // RFC 3461 4.4: xtext, at most 100 characters.
            let v = value.ok_or(ParseError::InvalidParameter("ENVID"))?;
            if out.envid.is_some() || v.is_empty() || v.len() > MAX_ENVID || !is_xtext(v) {
                return Err(ParseError::InvalidParameter("ENVID"));
            }
            out.envid = Some(String::from_utf8_lossy(v).into_owned());
        } else if key.eq_ignore_ascii_case(b"SMTPUTF8") {
            // RFC 6531 3.4: no value.
            if value.is_some() || out.smtputf8 {
                return Err(ParseError::InvalidParameter("SMTPUTF8"));
            }
            out.smtputf8 = true;
        } else if key.eq_ignore_ascii_case(b"REQUIRETLS") {
            // RFC 8689 2: no value, and at most once.
            if value.is_some() || out.requiretls {
                return Err(ParseError::InvalidParameter("REQUIRETLS"));
            }
            out.requiretls = true;
        } else {
            return Err(ParseError::UnknownParameter(
                String::from_utf8_lossy(key).to_ascii_uppercase(),
            ));
        }
    }
    if !out.smtputf8 && from.mailbox().is_some_and(|m| !m.is_ascii()) {
        return Err(ParseError::NeedsSmtpUtf8 { sender: true });
    }
    Ok(Command::Mail { from, params: out })
}

/// `BDAT SP chunk-size [SP end-marker]`, chunk-size `1*DIGIT`, end-marker
/// `LAST` (RFC 3030 section 2; case-insensitive like every keyword).
fn parse_bdat(rest: &[u8]) -> Result<Command, ParseError> {
    let mut words = rest
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|w| !w.is_empty());
    let size = words
        .next()
        .filter(|w| w.len() <= 20 && w.iter().all(u8::is_ascii_digit))
        .and_then(|w| std::str::from_utf8(w).ok())
        .and_then(|w| w.parse::<u64>().ok())
        .ok_or(ParseError::InvalidBdat)?;
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case(b"LAST") => true,
        Some(_) => return Err(ParseError::InvalidBdat),
    };
    if words.next().is_some() {
        return Err(ParseError::InvalidBdat);
    }
    Ok(Command::Bdat { size, last })
}

fn parse_rcpt(rest: &[u8]) -> Result<Command, ParseError> {
    let r = keyword(rest, b"TO:").ok_or(ParseError::Syntax("expected RCPT TO:<address>"))?;
    let (path, params) = split_path(r).map_err(ParseError::InvalidRecipient)?;
    let mut out = RcptParams::default();
    for p in params.split(|&b| b == b' ').filter(|p| !p.is_empty()) {
        let (key, value) = match p.iter().position(|&b| b == b'=') {
            Some(i) => (&p[..i], Some(&p[i + 1..])),
            None => (p, None),
        };
        if key.eq_ignore_ascii_case(b"NOTIFY") {
            // RFC 3461 4.1
            let v = value.ok_or(ParseError::InvalidParameter("NOTIFY"))?;
            if out.notify.is_some() {
                return Err(ParseError::InvalidParameter("NOTIFY"));
            }
            let v = std::str::from_utf8(v).map_err(|_| ParseError::InvalidParameter("NOTIFY"))?;
            out.notify = Some(v.parse()?);
        } else if key.eq_ignore_ascii_case(b"ORCPT") {
            // RFC 3461 4.2
            let v = value.ok_or(ParseError::InvalidParameter("ORCPT"))?;
            if out.orcpt.is_some() || !valid_orcpt(v) {
                return Err(ParseError::InvalidParameter("ORCPT"));
            }
            out.orcpt = Some(String::from_utf8_lossy(v).into_owned());
        } else {
            return Err(ParseError::UnknownParameter(
                String::from_utf8_lossy(key).to_ascii_uppercase(),
            ));
        }
    }
    if path.is_empty() {
        return Err(ParseError::InvalidRecipient(AddressError::NullNotAllowed));
    }
    if path.eq_ignore_ascii_case(b"postmaster") {
        return Ok(Command::Rcpt {
            to: ForwardPath::Postmaster,
            params: out,
        });
    }
    let mb = parse_path(path).map_err(ParseError::InvalidRecipient)?;
    Ok(Command::Rcpt {
        to: ForwardPath::Mailbox(mb),
        params: out,
    })
}

/// Splits `<path> params` into the text between the brackets and the rest.
/// A `>` inside a quoted local part does not close the path.
fn split_path(r: &[u8]) -> Result<(&[u8], &[u8]), AddressError> {
    if r.first() != Some(&b'<') {
        return Err(AddressError::MissingBrackets);
    }
    let mut in_quote = false;
    let mut escaped = false;
    for (i, &b) in r.iter().enumerate().skip(1) {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' if in_quote => escaped = true,
            b'"' => in_quote = !in_quote,
            b'>' if !in_quote => {
                let params = &r[i + 1..];
                // Parameters must be separated from the path by a space.
                if !params.is_empty() && params[0] != b' ' {
                    return Err(AddressError::MissingBrackets);
                }
                return Ok((&r[1..i], params));
            }
            _ => {}
        }
    }
    Err(AddressError::MissingBrackets)
}

/// Parses the inside of `<...>` (not empty): optional source route, then
/// `local@domain`.
fn parse_path(path: &[u8]) -> Result<Mailbox, AddressError> {
    if path.iter().any(|&b| (b < 0x21 && b != b' ') || b == 0x7f) {
        return Err(AddressError::InvalidCharacter);
    }
    // 8-bit octets only as well-formed UTF-8 (RFC 6531 3.3 UTF8-non-ascii).
    if !path.is_ascii() && std::str::from_utf8(path).is_err() {
        return Err(AddressError::InvalidCharacter);
    }
    let mailbox = if path.first() == Some(&b'@') {
        // A-d-l ":" Mailbox. The route ends at the first ':' (a route
        // contains no quotes); it is validated and dropped.
        let colon = path
            .iter()
            .position(|&b| b == b':')
            .ok_or(AddressError::InvalidSourceRoute)?;
        for hop in path[..colon].split(|&b| b == b',') {
            let d = hop
                .strip_prefix(b"@")
                .ok_or(AddressError::InvalidSourceRoute)?;
            parse_domain_or_literal(d).map_err(|_| AddressError::InvalidSourceRoute)?;
        }
        &path[colon + 1..]
    } else {
        path
    };
    parse_mailbox(mailbox)
}

fn parse_mailbox(s: &[u8]) -> Result<Mailbox, AddressError> {
    let at = local_part_end(s)?;
    let local = &s[..at];
    if local.len() > MAX_LOCAL_PART {
        return Err(AddressError::LocalPartTooLong);
    }
    let domain = match s.get(at) {
        Some(b'@') => &s[at + 1..],
        _ => return Err(AddressError::MissingDomain),
    };
    if domain.is_empty() {
        return Err(AddressError::MissingDomain);
    }
    let domain = parse_domain_or_literal(domain)?;
    Ok(Mailbox {
        local_part: std::str::from_utf8(local)
            .map_err(|_| AddressError::InvalidCharacter)?
            .to_string(),
        domain,
    })
}

/// atext, with RFC 6531 3.3's UTF8-non-ascii (the octets of a multi-octet
/// UTF-8 sequence; the whole path was checked to be well-formed UTF-8).
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b) || b >= 0x80
}

/// Returns the index just past the local part (a dot-string or a quoted
/// string), validating it.
fn local_part_end(s: &[u8]) -> Result<usize, AddressError> {
    if s.first() == Some(&b'"') {
        let mut i = 1;
        while i < s.len() {
            match s[i] {
                b'\\' => {
                    let next = *s.get(i + 1).ok_or(AddressError::InvalidLocalPart)?;
                    if !(0x20..=0x7e).contains(&next) {
                        return Err(AddressError::InvalidLocalPart);
                    }
                    i += 2;
                }
                b'"' => {
                    return if i == 1 {
                        Err(AddressError::InvalidLocalPart)
                    } else {
                        Ok(i + 1)
                    };
                }
                // qtextSMTP, with UTF8-non-ascii (RFC 6531 3.3).
                b if (0x20..=0x7e).contains(&b) || b >= 0x80 => i += 1,
                _ => return Err(AddressError::InvalidLocalPart),
            }
        }
        return Err(AddressError::InvalidLocalPart);
    }
    let end = s.iter().position(|&b| b == b'@').unwrap_or(s.len());
    let local = &s[..end];
    if local.is_empty()
        || local
            .split(|&b| b == b'.')
            .any(|atom| atom.is_empty() || !atom.iter().all(|&b| is_atext(b)))
    {
        return Err(AddressError::InvalidLocalPart);
    }
    Ok(end)
}

fn parse_domain_or_literal(d: &[u8]) -> Result<String, AddressError> {
    if d.first() == Some(&b'[') {
        parse_address_literal(d)
    } else if !d.is_ascii() {
        parse_u_label_domain(d)
    } else {
        parse_domain(d, false)
    }
}

/// A domain with U-labels (RFC 6531 3.3): valid when UTS 46 turns it into
/// an A-label domain that is itself a valid LDH domain; kept in its UTS 46
/// Unicode form (lower case, NFC) so that routing converts it the same way.
fn parse_u_label_domain(d: &[u8]) -> Result<String, AddressError> {
    use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
    if d.len() > MAX_DOMAIN {
        return Err(AddressError::InvalidDomain);
    }
    let uts46 = Uts46::new();
    let ascii = uts46
        .to_ascii(
            d,
            AsciiDenyList::STD3,
            Hyphens::CheckFirstLast,
            DnsLength::Verify,
        )
        .map_err(|_| AddressError::InvalidDomain)?;
    parse_domain(ascii.as_bytes(), false)?;
    let (unicode, ok) = uts46.to_unicode(d, AsciiDenyList::STD3, Hyphens::CheckFirstLast);
    ok.map_err(|_| AddressError::InvalidDomain)?;
    Ok(unicode.into_owned())
}

/// LDH domain (RFC 5321 `Domain`), lower-cased. `underscore` tolerates `_`
/// (only for the EHLO name).
fn parse_domain(d: &[u8], underscore: bool) -> Result<String, AddressError> {
    if d.is_empty() || d.len() > MAX_DOMAIN {
        return Err(AddressError::InvalidDomain);
    }
    for label in d.split(|&b| b == b'.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.first().is_some_and(u8::is_ascii_alphanumeric)
            && label.last().is_some_and(u8::is_ascii_alphanumeric)
            && label
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || (underscore && b == b'_'));
        if !ok {
            return Err(AddressError::InvalidDomain);
        }
    }
    Ok(String::from_utf8_lossy(d).to_ascii_lowercase())
}

/// `[192.0.2.1]` or `[IPv6:2001:db8::1]`, returned in canonical form.
fn parse_address_literal(d: &[u8]) -> Result<String, AddressError> {
    let inner = d
        .strip_prefix(b"[")
        .and_then(|x| x.strip_suffix(b"]"))
        .ok_or(AddressError::InvalidAddressLiteral)?;
    let inner = std::str::from_utf8(inner).map_err(|_| AddressError::InvalidAddressLiteral)?;
    if let Some(v6) = inner
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("IPv6:"))
        .and_then(|_| inner.get(5..))
    {
        let ip: Ipv6Addr = v6
            .parse()
            .map_err(|_| AddressError::InvalidAddressLiteral)?;
        return Ok(format!("[IPv6:{ip}]"));
    }
    let ip: Ipv4Addr = inner
        .parse()
        .map_err(|_| AddressError::InvalidAddressLiteral)?;
    Ok(format!("[{ip}]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mb(local: &str, domain: &str) -> Mailbox {
        Mailbox {
            local_part: local.into(),
            domain: domain.into(),
        }
    }

    fn mail(line: &str) -> Result<(ReversePath, MailParams), ParseError> {
        match parse_command(line.as_bytes())? {
            Command::Mail { from, params } => Ok((from, params)),
            other => panic!("not MAIL: {other:?}"),
        }
    }

    fn rcpt(line: &str) -> Result<ForwardPath, ParseError> {
        match parse_command(line.as_bytes())? {
            Command::Rcpt { to, .. } => Ok(to),
            other => panic!("not RCPT: {other:?}"),
        }
    }

    #[test]
    fn simple_verbs_any_case() {
        for (line, cmd) in [
            ("DATA\r\n", Command::Data),
            ("data", Command::Data),
            ("RsEt\r\n", Command::Rset),
            ("QUIT\r\n", Command::Quit),
            ("NOOP\r\n", Command::Noop),
            ("noop anything goes\r\n", Command::Noop),
            ("StartTLS\r\n", Command::StartTls),
            ("HELP\r\n", Command::Help(None)),
            ("HELP mail\r\n", Command::Help(Some("mail".into()))),
            ("VRFY bob\r\n", Command::Vrfy("bob".into())),
            ("EXPN staff\r\n", Command::Expn("staff".into())),
            ("DATA  \r\n", Command::Data),
        ] {
            assert_eq!(parse_command(line.as_bytes()), Ok(cmd), "{line:?}");
        }
    }

    #[test]
    fn no_args_commands_refuse_arguments() {
        for line in ["DATA x", "RSET now", "QUIT please", "STARTTLS TLSv1.3"] {
            assert!(
                matches!(parse_command(line.as_bytes()), Err(ParseError::Syntax(_))),
                "{line}"
            );
        }
        assert!(matches!(parse_command(b"VRFY"), Err(ParseError::Syntax(_))));
        assert!(matches!(
            parse_command(b"EXPN "),
            Err(ParseError::Syntax(_))
        ));
    }

    #[test]
    fn unknown_verbs() {
        for line in [
            "",
            "FOO",
            "AUTH PLAIN",
            "BDATA 10 LAST",
            "MAILFROM:<a@b>",
            "EHLO2 x",
        ] {
            assert_eq!(
                parse_command(line.as_bytes()),
                Err(ParseError::Unrecognized),
                "{line}"
            );
        }
        assert_eq!(
            ParseError::Unrecognized.reply().to_string(),
            "500 5.5.1 Command unrecognized"
        );
    }

    #[test]
    fn ehlo_and_helo() {
        assert_eq!(
            parse_command(b"EHLO Mail.Fabrikam.COM\r\n"),
            Ok(Command::Ehlo("mail.fabrikam.com".into()))
        );
        assert_eq!(
            parse_command(b"helo relay_1.example"),
            Ok(Command::Helo("relay_1.example".into()))
        );
        assert_eq!(
            parse_command(b"EHLO [192.0.2.7]"),
            Ok(Command::Ehlo("[192.0.2.7]".into()))
        );
        assert_eq!(
            parse_command(b"EHLO [ipv6:2001:DB8::1]"),
            Ok(Command::Ehlo("[IPv6:2001:db8::1]".into()))
        );
        for bad in [
            "EHLO",
            "EHLO ",
            "EHLO a b",
            "EHLO -bad.example",
            "EHLO a..b",
            "EHLO [300.1.1.1]",
            "HELO x/y",
        ] {
            let e = parse_command(bad.as_bytes()).expect_err(bad);
            assert_eq!(e.reply().code, 501, "{bad}");
        }
    }

    #[test]
    fn mail_from_basic_and_null() {
        assert_eq!(
            mail("MAIL FROM:<Alice@Contoso.COM>\r\n"),
            Ok((
                ReversePath::Mailbox(mb("Alice", "contoso.com")),
                MailParams::default()
            ))
        );
        assert_eq!(
            mail("mail from:<>"),
            Ok((ReversePath::Null, MailParams::default()))
        );
        // One space after the colon is common and tolerated.
        assert_eq!(
            mail("MAIL FROM: <a@b.example>").map(|x| x.0),
            Ok(ReversePath::Mailbox(mb("a", "b.example")))
        );
    }

    /// RFC 8689 2: REQUIRETLS takes no value and is given once; 501
    /// 5.5.4 otherwise (whether the session accepts it is its rule).
    #[test]
    fn requiretls_parameter() {
        let (_, p) = mail("MAIL FROM:<a@b.example> REQUIRETLS").expect("ok");
        assert!(p.requiretls && !p.is_empty());
        let (_, p) = mail("MAIL FROM:<> requiretls BODY=8BITMIME RET=HDRS").expect("ok");
        assert!(p.requiretls);
        assert_eq!(p.ret, Some(Ret::Hdrs));
        assert!(!mail("MAIL FROM:<a@b.example>").expect("ok").1.requiretls);
        for bad in [
            "MAIL FROM:<a@b.example> REQUIRETLS=YES",
            "MAIL FROM:<a@b.example> REQUIRETLS=",
            "MAIL FROM:<a@b.example> REQUIRETLS REQUIRETLS",
            "MAIL FROM:<a@b.example> RequireTLS SIZE=1 requiretls",
        ] {
            let e = mail(bad).expect_err(bad);
            assert_eq!(e, ParseError::InvalidParameter("REQUIRETLS"), "{bad}");
            assert_eq!(
                e.reply().to_string().trim_end(),
                "501 5.5.4 Invalid value for REQUIRETLS"
            );
        }
    }

    #[test]
    fn mail_params() {
        let (_, p) = mail("MAIL FROM:<a@b.example> SIZE=12345 BODY=8BITMIME").expect("ok");
        assert_eq!(p.size, Some(12345));
        assert_eq!(p.body, Some(Body::EightBitMime));
        let (_, p) = mail("MAIL FROM:<a@b.example> body=7bit size=0").expect("ok");
        assert_eq!((p.size, p.body), (Some(0), Some(Body::SevenBit)));
        for bad in [
            "MAIL FROM:<a@b.example> SIZE=",
            "MAIL FROM:<a@b.example> SIZE=12a",
            "MAIL FROM:<a@b.example> SIZE",
            "MAIL FROM:<a@b.example> SIZE=1 SIZE=2",
            "MAIL FROM:<a@b.example> SIZE=999999999999999999999",
            "MAIL FROM:<a@b.example> BODY=BINARY",
            "MAIL FROM:<a@b.example> BODY=BINARYMIME BODY=7BIT",
        ] {
            assert!(
                matches!(mail(bad), Err(ParseError::InvalidParameter(_))),
                "{bad}"
            );
        }
        let (_, p) = mail("MAIL FROM:<a@b.example> BODY=binarymime").expect("ok");
        assert_eq!(p.body, Some(Body::BinaryMime));
        assert_eq!(Body::BinaryMime.to_string(), "BINARYMIME");
        let (_, p) = mail("MAIL FROM:<a@b.example> smtputf8").unwrap();
        assert!(p.smtputf8 && !p.is_empty());
        for bad in [
            "MAIL FROM:<a@b.example> SMTPUTF8=yes",
            "MAIL FROM:<a@b.example> SMTPUTF8 SMTPUTF8",
        ] {
            assert_eq!(
                mail(bad),
                Err(ParseError::InvalidParameter("SMTPUTF8")),
                "{bad}"
            );
        }
        // RFC 6531 3.3: UTF-8 local parts and U-label domains with
        // SMTPUTF8; RFC 6531 3.5: 553 5.6.7 without it.
        let (from, _) = mail("MAIL FROM:<jürgen@Bücher.example> SMTPUTF8").unwrap();
        let m = from.mailbox().unwrap();
        assert_eq!(
            (m.local_part.as_str(), m.domain.as_str()),
            ("jürgen", "bücher.example")
        );
        assert!(!m.is_ascii());
        let e = mail("MAIL FROM:<jürgen@bücher.example>").unwrap_err();
        assert_eq!(e, ParseError::NeedsSmtpUtf8 { sender: true });
        assert_eq!(
            e.reply().to_string().trim_end(),
            "553 5.6.7 Non-ASCII sender address requires the SMTPUTF8 parameter of MAIL"
        );
        assert!(mail("MAIL FROM:<\"j\u{fc}rgen x\"@b.example> SMTPUTF8").is_ok());
        // Invalid IDNA in the domain, and malformed UTF-8.
        for bad in [
            "MAIL FROM:<a@i\u{2028}.example> SMTPUTF8",
            "MAIL FROM:<a@-\u{fc}.example> SMTPUTF8",
        ] {
            assert!(
                matches!(mail(bad), Err(ParseError::InvalidSender(_))),
                "{bad}"
            );
        }
        assert_eq!(
            parse_command(b"MAIL FROM:<j\xc3rgen@b.example> SMTPUTF8"),
            Err(ParseError::InvalidSender(AddressError::InvalidCharacter))
        );
        // Parameters must be separated from the path.
        assert!(mail("MAIL FROM:<a@b.example>SIZE=1").is_err());
    }

    #[test]
    fn bdat_chunk_size_and_last() {
        let ok = [
            ("BDAT 0 LAST", 0, true),
            ("bdat 1000", 1000, false),
            ("BDAT 12 last\r\n", 12, true),
            ("BDAT  7   LAST ", 7, true),
            ("BDAT 18446744073709551615", u64::MAX, false),
        ];
        for (line, size, last) in ok {
            assert_eq!(
                parse_command(line.as_bytes()),
                Ok(Command::Bdat { size, last }),
                "{line}"
            );
        }
        for bad in [
            "BDAT",
            "BDAT LAST",
            "BDAT -1",
            "BDAT 1x",
            "BDAT 0x10",
            "BDAT 1 LAST x",
            "BDAT 1 END",
            "BDAT 18446744073709551616",
            "BDAT +5",
        ] {
            let e = parse_command(bad.as_bytes()).expect_err(bad);
            assert_eq!(e, ParseError::InvalidBdat, "{bad}");
            assert_eq!(e.reply().code, 501);
        }
    }

    #[test]
    fn paths_need_brackets() {
        for bad in [
            "MAIL FROM:a@b.example",
            "MAIL FROM:<a@b.example",
            "MAIL FROM:",
            "MAIL TO:<a@b.example>",
            "MAIL <a@b.example>",
        ] {
            assert!(mail(bad).is_err(), "{bad}");
        }
        assert!(rcpt("RCPT TO:a@b.example").is_err());
    }

    #[test]
    fn rcpt_to() {
        assert_eq!(
            rcpt("RCPT TO:<Bob@Fabrikam.com>\r\n"),
            Ok(ForwardPath::Mailbox(mb("Bob", "fabrikam.com")))
        );
        assert_eq!(rcpt("RCPT TO:<PostMaster>"), Ok(ForwardPath::Postmaster));
        assert_eq!(
            rcpt("RCPT TO:<>"),
            Err(ParseError::InvalidRecipient(AddressError::NullNotAllowed))
        );
        assert_eq!(
            rcpt("RCPT TO:<a@b.example> XNOTIFY=NEVER"),
            Err(ParseError::UnknownParameter("XNOTIFY".into()))
        );
        assert_eq!(
            rcpt("RCPT TO:<bob>").map_err(|e| e.reply().to_string()),
            Err("501 5.1.3 Bad recipient address syntax: the address has no domain".into())
        );
    }

    #[test]
    fn source_routes_are_dropped() {
        assert_eq!(
            rcpt("RCPT TO:<@hosta.example,@hostb.example:user@c.example>"),
            Ok(ForwardPath::Mailbox(mb("user", "c.example")))
        );
        assert_eq!(
            mail("MAIL FROM:<@[10.0.0.1]:user@c.example>").map(|x| x.0),
            Ok(ReversePath::Mailbox(mb("user", "c.example")))
        );
        for bad in [
            "RCPT TO:<@:u@c.example>",
            "RCPT TO:<@a.example u@c.example>",
            "RCPT TO:<@a..b:u@c.example>",
            "RCPT TO:<@a.example,b.example:u@c.example>",
        ] {
            assert!(rcpt(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quoted_local_parts() {
        assert_eq!(
            rcpt(r#"RCPT TO:<"john doe"@example.com>"#),
            Ok(ForwardPath::Mailbox(mb("\"john doe\"", "example.com")))
        );
        assert_eq!(
            rcpt(r#"RCPT TO:<"a>b\"c"@example.com>"#),
            Ok(ForwardPath::Mailbox(mb(r#""a>b\"c""#, "example.com")))
        );
        assert!(rcpt(r#"RCPT TO:<""@example.com>"#).is_err());
        assert!(rcpt(r#"RCPT TO:<"unterminated@example.com>"#).is_err());
    }

    #[test]
    fn control_characters_are_refused() {
        for bad in [
            &b"RCPT TO:<a\0b@example.com>"[..],
            b"RCPT TO:<a\rb@example.com>",
            b"RCPT TO:<a\nb@example.com>",
            b"RCPT TO:<a\x1bb@example.com>",
            b"RCPT TO:<a\x7f@example.com>",
            b"MAIL FROM:<a@exa\x01mple.com>",
        ] {
            assert_eq!(
                parse_command(bad),
                Err(ParseError::InvalidCharacter),
                "{bad:?}"
            );
        }
        // 8-bit octets: only well-formed UTF-8 (RFC 6531 3.3); whether the
        // transaction allows it is the session's check.
        assert!(parse_command("RCPT TO:<jörg@example.com>".as_bytes()).is_ok());
        assert_eq!(
            parse_command(b"RCPT TO:<j\xf6rg@example.com>"),
            Err(ParseError::InvalidRecipient(AddressError::InvalidCharacter))
        );
        // A space outside quotes is not part of a dot-string.
        assert!(rcpt("RCPT TO:<a b@example.com>").is_err());
    }

    #[test]
    fn local_part_and_domain_rules() {
        let l64 = "a".repeat(64);
        assert!(rcpt(&format!("RCPT TO:<{l64}@example.com>")).is_ok());
        assert_eq!(
            rcpt(&format!("RCPT TO:<{l64}a@example.com>")),
            Err(ParseError::InvalidRecipient(AddressError::LocalPartTooLong))
        );
        for bad in [
            "RCPT TO:<.a@example.com>",
            "RCPT TO:<a.@example.com>",
            "RCPT TO:<a..b@example.com>",
            "RCPT TO:<a@>",
            "RCPT TO:<a@-example.com>",
            "RCPT TO:<a@example-.com>",
            "RCPT TO:<a@exa_mple.com>",
            "RCPT TO:<a@example..com>",
            "RCPT TO:<a@example.com.>",
            "RCPT TO:<a@[1.2.3]>",
            "RCPT TO:<a@[IPv6:zz::1]>",
            "RCPT TO:<a@[tag:foo]>",
            "RCPT TO:<a@b@example.com>",
        ] {
            assert!(rcpt(bad).is_err(), "{bad}");
        }
        let label = "a".repeat(64);
        assert!(rcpt(&format!("RCPT TO:<a@{label}.com>")).is_err());
        assert_eq!(
            rcpt("RCPT TO:<a@[1.2.3.4]>"),
            Ok(ForwardPath::Mailbox(mb("a", "[1.2.3.4]")))
        );
        assert_eq!(
            rcpt("RCPT TO:<x!#$%&'*+-/=?^_`{|}~@example.com>").map(|_| ()),
            Ok(())
        );
    }

    #[test]
    fn line_length_limit() {
        // 510 octets + CRLF = 512: accepted.
        let ok = format!("NOOP {}\r\n", "x".repeat(505));
        assert_eq!(ok.len(), 512);
        assert_eq!(parse_command(ok.as_bytes()), Ok(Command::Noop));
        let long = format!("NOOP {}\r\n", "x".repeat(506));
        assert_eq!(parse_command(long.as_bytes()), Err(ParseError::LineTooLong));
        assert_eq!(
            ParseError::LineTooLong.reply().to_string(),
            "500 5.5.2 Line too long"
        );
    }

    #[test]
    fn mailbox_display() {
        assert_eq!(mb("a", "b.example").to_string(), "a@b.example");
        assert_eq!(ReversePath::Null.to_string(), "");
        assert!(mb("a", "[1.2.3.4]").is_address_literal());
    }
}
