//! The SMTP client protocol as a sans-IO state machine (RFC 5321, 3207
//! STARTTLS, 1870 SIZE, 6152 8BITMIME, 2034 ENHANCEDSTATUSCODES, 3030
//! CHUNKING and BINARYMIME, 3461 DSN).
//!
//! The driver (the engine's `outbound::deliver`) moves bytes; this module
//! decides what to send and what the replies mean:
//!
//! ```text
//! loop {
//!     match session.poll() {
//!         Event::NeedInput => { write(session.take_output()); session.feed(read()) }
//!         Event::StartTls => { handshake on the raw socket; session.tls_established() }
//!         Event::Ready => session.send(transaction) or session.quit(),
//!         Event::SendBody => { write(session.take_output()); stream the spooled
//!                              message through a DataEncoder; session.body_sent() }
//!         Event::SendChunk => { write(session.take_output()); stream the spooled
//!                               message as it is; session.body_sent() }
//!         Event::Done(result) => record it; next transaction or quit,
//!         Event::Failed(f) => { write(session.take_output()); close }
//!         Event::Closed => close,
//!     }
//! }
//! ```
//!
//! The order of a connection: greeting, `EHLO` (or `HELO` when EHLO is
//! refused with 5yz), `STARTTLS` per [`StartTlsMode`], a new `EHLO` over
//! TLS, then for each transaction `RSET` (except the first), `MAIL FROM`
//! (with `SIZE=` when advertised, `BODY=8BITMIME` for 8-bit content when
//! advertised, `RET=`/`ENVID=` when DSN is advertised), one `RCPT TO` per
//! recipient (with `NOTIFY=`/`ORCPT=` when DSN is advertised: RFC 3461 5.2
//! says a server that does not offer DSN gets none), `DATA` and the dot-stuffed
//! body when at least one recipient was accepted; finally `QUIT`.
//!
//! # CHUNKING and BINARYMIME (RFC 3030)
//! When the server advertises `CHUNKING`, the message goes as one
//! `BDAT <size> LAST` chunk instead of `DATA`: the octets as they are, no
//! dot-stuffing (an in-memory message has its line ends made CRLF first,
//! as `DATA` would). A binary message (`Content::Spooled { binary: true }`,
//! received with `BODY=BINARYMIME`) is sent only to a server that
//! advertises both `CHUNKING` and `BINARYMIME`, with `BODY=BINARYMIME`;
//! to any other server it is not sent: every recipient gets a local
//! `554 5.6.3` (RFC 3030 section 3: conversion required but not
//! supported), a permanent failure the engine reports in a DSN.
//! Commands are sent in lock-step (no PIPELINING yet).
//!
//! # STARTTLS injection (client side)
//! After the server's `220` to STARTTLS, anything else already received is
//! **discarded**: it arrived in plaintext and must not be read as a reply
//! inside the TLS session (CVE-2011-0411 class). Outside STARTTLS, bytes
//! the server sends before we asked for a reply are a protocol error.
//!
//! # Addresses
//! Addresses come from our own queue, but a CR, LF, NUL, `<` or `>` in one
//! could inject a command; such an address is never sent: the recipient
//! gets a local `501 5.1.3` (the sender: every recipient gets `501 5.1.7`).

use std::sync::Arc;

use crate::data::encode_data;
use crate::reply::{Reply, ReplyError, ReplyParser};
use crate::transcript::{Direction, Transcript, TranscriptLine};

/// Largest amount of unparsed input kept (a reply larger than this is an error).
const MAX_INPUT: usize = 1 << 20;

/// When to use STARTTLS (decided by the engine's TLS policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartTlsMode {
    /// Never (IgnoreSTARTTLS, or plaintext after a failed handshake).
    Never,
    /// When the server offers it; otherwise continue in plaintext.
    IfOffered,
    /// Must happen; without it the session fails before MAIL.
    Required,
}

/// Settings of one client session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Our name in EHLO/HELO.
    pub helo_name: String,
    pub starttls: StartTlsMode,
    /// A greeting or EHLO/HELO reply naming `helo_name` ends the session
    /// as [`SessionFailure::LoopsBack`]. Only for a name that is ours
    /// alone (a configured FQDN, not a default two servers could share).
    pub loop_detection: bool,
    /// Authenticate (AUTH PLAIN) before any transaction: a smart host's
    /// BasicAuth. `None`: no authentication.
    pub auth: Option<Credentials>,
}

/// A user name and password for AUTH PLAIN (RFC 4954, RFC 4616).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    /// Only over TLS (BasicAuthRequireTLS): without TLS the session fails
    /// rather than send the password in the clear.
    pub require_tls: bool,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("require_tls", &self.require_tls)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// The AUTH PLAIN initial response: base64 of `\0user\0password`.
    fn plain(&self) -> String {
        let mut raw = Vec::with_capacity(self.user.len() + self.password.len() + 2);
        raw.push(0);
        raw.extend_from_slice(self.user.as_bytes());
        raw.push(0);
        raw.extend_from_slice(self.password.as_bytes());
        base64(&raw)
    }
}

/// Standard base64 with padding (RFC 4648 section 4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What the server advertised in its EHLO reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    /// EHLO succeeded (false after the HELO fallback).
    pub esmtp: bool,
    pub starttls: bool,
    /// `SIZE` advertised; `Some(0)` means no fixed limit.
    pub size: Option<u64>,
    pub pipelining: bool,
    pub eight_bit_mime: bool,
    pub enhanced_status_codes: bool,
    /// `CHUNKING` (RFC 3030): BDAT is accepted.
    pub chunking: bool,
    /// `BINARYMIME` (RFC 3030): `BODY=BINARYMIME` is accepted (with BDAT).
    pub binary_mime: bool,
    /// `DSN` (RFC 3461) advertised.
    pub dsn: bool,
    /// `SMTPUTF8` (RFC 6531) advertised.
    pub smtputf8: bool,
    /// `REQUIRETLS` (RFC 8689) advertised.
    pub requiretls: bool,
    /// The SASL mechanisms of `AUTH` (upper case).
    pub auth: Vec<String>,
}

impl Extensions {
    /// Reads the extension lines of an EHLO reply (the first line is the
    /// server's name).
    pub fn from_ehlo(reply: &Reply) -> Self {
        let mut e = Extensions {
            esmtp: true,
            ..Extensions::default()
        };
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(kw) = words.next() else { continue };
            match kw.to_ascii_uppercase().as_str() {
                "STARTTLS" => e.starttls = true,
                "SIZE" => e.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
                "PIPELINING" => e.pipelining = true,
                "8BITMIME" => e.eight_bit_mime = true,
                "ENHANCEDSTATUSCODES" => e.enhanced_status_codes = true,
                "CHUNKING" => e.chunking = true,
                "BINARYMIME" => e.binary_mime = true,
                "DSN" => e.dsn = true,
                "SMTPUTF8" => e.smtputf8 = true,
                "REQUIRETLS" => e.requiretls = true,
                "AUTH" => e.auth.extend(words.map(str::to_ascii_uppercase)),
                // The pre-RFC form some servers still add (`AUTH=LOGIN PLAIN`).
                k if k.starts_with("AUTH=") => e.auth.extend(
                    std::iter::once(&k[5..])
                        .chain(words)
                        .map(str::to_ascii_uppercase),
                ),
                _ => {}
            }
        }
        e
    }
}

/// Non-empty xtext (RFC 3461 4), safe on a command line.
fn xtext_ok(v: &str) -> bool {
    !v.is_empty() && crate::command::is_xtext(v.as_bytes())
}

/// One message to send: the envelope and the message as spooled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The reverse path without brackets; empty for the null sender.
    pub sender: String,
    /// Forward paths without brackets.
    pub recipients: Vec<String>,
    /// The message (header and body), CRLF line ends, not dot-stuffed.
    pub message: Content,
    /// What the sender asked for in delivery status notifications; sent
    /// only to a server that advertises DSN.
    pub dsn: DsnRequest,
    /// The message needs `SMTPUTF8` (RFC 6531) beyond its addresses: it
    /// was received with the parameter and its header section holds UTF-8
    /// (RFC 6532). A non-ASCII sender or recipient needs it whatever this
    /// says. A transaction that needs it goes only to a server offering
    /// SMTPUTF8, with the parameter; to any other every recipient fails
    /// locally with `550 5.6.7` (RFC 6531 3.4). One that does not need it
    /// goes without the parameter, as before (RFC 6531 3.4: not supplied
    /// when nothing needs it).
    pub smtputf8: bool,
    /// The message was received with `REQUIRETLS` (RFC 8689): it goes
    /// only in a TLS session to a server that advertised REQUIRETLS after
    /// STARTTLS, with the parameter; otherwise every recipient fails
    /// locally with `550 5.7.30` ("REQUIRETLS support required", RFC 8689
    /// 4.2.1 and its IANA registration) and nothing is sent.
    /// Whether the TLS was verified is the caller's policy.
    pub requiretls: bool,
}

/// The RFC 3461 parameters of a transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DsnRequest {
    /// `RET=` on MAIL.
    pub ret: Option<crate::command::Ret>,
    /// `ENVID=` on MAIL (xtext).
    pub envid: Option<String>,
    /// `NOTIFY=` / `ORCPT=` of each recipient, in the order of
    /// [`Transaction::recipients`] (a missing entry: none).
    pub recipients: Vec<crate::command::RcptParams>,
}

impl Transaction {
    /// A sender or recipient address is not ASCII, or the header section
    /// is UTF-8 ([`Transaction::smtputf8`]): only a server offering
    /// SMTPUTF8 may get it.
    pub fn needs_smtputf8(&self) -> bool {
        self.smtputf8 || !self.sender.is_ascii() || self.recipients.iter().any(|r| !r.is_ascii())
    }
}

/// A message the driver streams from where it is kept (the engine's queue
/// file). The session asks only its size; the driver reads it.
pub trait SpooledBody: std::fmt::Debug + Send + Sync {
    /// The size in octets, CRLF line ends, not dot-stuffed.
    fn size(&self) -> u64;
    /// Reads from `offset` into `buf`; 0 at the end.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize>;
}

/// The message of a [`Transaction`].
#[derive(Debug, Clone)]
pub enum Content {
    /// In memory: the session dot-stuffs it into its output itself.
    Bytes(Vec<u8>),
    /// In the queue: after the `354` the driver streams it in pieces
    /// through a [`DataEncoder`](crate::data::DataEncoder) ([`Event::SendBody`]), or as it is
    /// after `BDAT` ([`Event::SendChunk`]); the session never holds it.
    Spooled {
        file: Arc<dyn SpooledBody>,
        /// It has octets above 127 (`BODY=8BITMIME`).
        eight_bit: bool,
        /// Binary MIME (received with `BODY=BINARYMIME`): sent only with
        /// BDAT to a server offering BINARYMIME, never converted.
        binary: bool,
    },
}

impl Content {
    /// The size in octets (before dot-stuffing).
    pub fn size(&self) -> u64 {
        match self {
            Content::Bytes(b) => b.len() as u64,
            Content::Spooled { file, .. } => file.size(),
        }
    }

    /// It has octets above 127.
    pub fn eight_bit(&self) -> bool {
        match self {
            Content::Bytes(b) => b.iter().any(|&c| c >= 0x80),
            Content::Spooled { eight_bit, .. } => *eight_bit,
        }
    }

    /// It is binary MIME (`BODY=BINARYMIME`).
    pub fn binary(&self) -> bool {
        matches!(self, Content::Spooled { binary: true, .. })
    }
}

impl From<Vec<u8>> for Content {
    fn from(b: Vec<u8>) -> Self {
        Content::Bytes(b)
    }
}

impl PartialEq for Content {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Content::Bytes(a), Content::Bytes(b)) => a == b,
            (Content::Spooled { file: a, .. }, Content::Spooled { file: b, .. }) => {
                Arc::ptr_eq(a, b)
            }
            _ => false,
        }
    }
}

impl Eq for Content {}

/// Which step produced a recipient's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Decided here without sending (invalid address, too large).
    Local,
    Mail,
    Rcpt,
    /// The reply to `DATA` itself (not 354).
    Data,
    /// The reply after the final `.` (or to `BDAT ... LAST`).
    DataEnd,
}

/// The reply that decided one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientReply {
    pub address: String,
    pub stage: Stage,
    pub reply: Reply,
}

impl RecipientReply {
    /// Accepted by the server after the message was transferred.
    pub fn delivered(&self) -> bool {
        self.stage == Stage::DataEnd && self.reply.is_positive()
    }
}

/// The outcome of one transaction: one entry per recipient, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionResult {
    pub recipients: Vec<RecipientReply>,
}

/// Why the session could not reach (or stay in) the ready state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionFailure {
    #[error("greeting refused: {0}")]
    Greeting(Reply),
    #[error("EHLO/HELO refused: {0}")]
    Ehlo(Reply),
    #[error("the server does not offer STARTTLS")]
    StartTlsNotOffered,
    #[error("STARTTLS refused: {0}")]
    StartTlsRefused(Reply),
    #[error("RSET refused: {0}")]
    Rset(Reply),
    #[error("the server is closing the connection: {0}")]
    ServiceClosing(Reply),
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server greeted us, or answered EHLO/HELO, with our own name:
    /// the next hop leads back to this server (a mail loop; Postfix's
    /// "mail for ... loops back to myself").
    #[error("the server answered with our own name, {0}: the next hop leads back to this server")]
    LoopsBack(Reply),
    /// Authentication is configured but the server offers no AUTH PLAIN.
    #[error("the server does not offer AUTH PLAIN")]
    AuthNotOffered,
    /// BasicAuthRequireTLS, and the session is not encrypted.
    #[error("authentication requires TLS, and the session is not encrypted")]
    AuthNeedsTls,
    /// The server refused our credentials (or AUTH itself).
    #[error("authentication refused: {0}")]
    AuthRefused(Reply),
}

/// What the driver must do next (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Write the pending output, read, then [`ClientSession::feed`].
    NeedInput,
    /// Run the TLS handshake on the connection, then call
    /// [`ClientSession::tls_established`]. Plaintext input received after
    /// the `220` has already been discarded.
    StartTls,
    /// Ready for [`ClientSession::send`] or [`ClientSession::quit`].
    Ready,
    /// The server answered `354` for a [`Content::Spooled`] message: write
    /// the output, then the message through a [`DataEncoder`](crate::data::DataEncoder) (its
    /// `finish` adds the final `.` line), then call
    /// [`ClientSession::body_sent`]. A driver that cannot send it whole
    /// must close the connection without the final `.`.
    SendBody,
    /// The server offers CHUNKING and the output ends with `BDAT <n>
    /// LAST` for a [`Content::Spooled`] message: write the output, then
    /// exactly the message's `n` octets as they are (no dot-stuffing, no
    /// final `.`), then call [`ClientSession::body_sent`]. A driver that
    /// cannot send them all must close the connection.
    SendChunk,
    /// A transaction finished; the session is ready again (or closed, when
    /// the server answered 421).
    Done(TransactionResult),
    /// The session cannot go on: write the output (a courtesy QUIT), close.
    Failed(SessionFailure),
    /// QUIT was answered (or the server closed with 421): close.
    Closed,
}

/// API misuse by the driver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("the session is not ready for a transaction")]
    NotReady,
    #[error("the session is not waiting for a TLS handshake")]
    NotAwaitingTls,
    #[error("a transaction needs at least one recipient")]
    NoRecipients,
    #[error("the session is not waiting for a message body")]
    NotSendingBody,
}

#[derive(Debug)]
struct Tx {
    tx: Transaction,
    /// Decided replies, per recipient.
    results: Vec<Option<RecipientReply>>,
    /// Index of the RCPT awaiting its reply.
    rcpt_at: usize,
    /// Recipients accepted at RCPT.
    accepted: Vec<usize>,
}

#[derive(Debug)]
enum State {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    AwaitTls,
    Auth,
    Ready,
    Rset(Box<Tx>),
    Mail(Box<Tx>),
    Rcpt(Box<Tx>),
    Data(Box<Tx>),
    /// The driver streams a spooled message (after DATA's 354).
    Body(Box<Tx>),
    /// The driver streams a spooled message as a BDAT chunk.
    Chunk(Box<Tx>),
    DataEnd(Box<Tx>),
    Quit,
    Closed,
    Failed(SessionFailure),
}

/// Whether a greeting or EHLO/HELO reply starts with our own name (`me`,
/// our EHLO name): the first word of its first line, as RFC 5321 lays both
/// out, compared without case and a final dot.
fn names_us(reply: &Reply, me: &str) -> bool {
    let norm = |s: &str| s.trim_end_matches('.').to_ascii_lowercase();
    reply
        .lines
        .first()
        .and_then(|l| l.split_whitespace().next())
        .is_some_and(|name| !me.is_empty() && norm(name) == norm(me))
}

/// One SMTP client connection's protocol state (see the module docs).
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    state: State,
    input: Vec<u8>,
    output: Vec<u8>,
    extensions: Extensions,
    tls: bool,
    transactions: u32,
    /// Plaintext octets discarded after the STARTTLS `220`.
    discarded: usize,
    /// A finished transaction not yet returned by `poll`.
    done: Option<TransactionResult>,
    /// The server's greeting (banner), once received.
    greeting: Option<Reply>,
    transcript: Transcript,
}

/// `message` with every line end made CRLF (a lone CR or LF becomes
/// CRLF), as `DATA` sends it, but without dot-stuffing or terminator: an
/// in-memory message as a BDAT chunk.
fn crlf_text(message: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < message.len() {
        match message[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                i += if message.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
            }
            b'\n' => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            _ => {
                let rest = &message[i..];
                let run = rest
                    .iter()
                    .position(|&c| c == b'\r' || c == b'\n')
                    .unwrap_or(rest.len());
                out.extend_from_slice(&rest[..run]);
                i += run;
            }
        }
    }
}

/// An address that may be put between `<` and `>`.
pub fn address_is_safe(a: &str) -> bool {
    !a.bytes()
        .any(|b| b.is_ascii_control() || matches!(b, b'<' | b'>'))
}

fn local(code: u16, enhanced: (u8, u16, u16), text: &str) -> Reply {
    Reply::new(code, enhanced, text)
}

impl ClientSession {
    /// A session on a fresh connection, waiting for the greeting.
    pub fn new(config: ClientConfig) -> Self {
        ClientSession {
            config,
            state: State::Greeting,
            input: Vec::new(),
            output: Vec::new(),
            extensions: Extensions::default(),
            tls: false,
            transactions: 0,
            discarded: 0,
            done: None,
            greeting: None,
            transcript: Transcript::default(),
        }
    }

    /// The server's greeting (banner), once received.
    pub fn greeting(&self) -> Option<&Reply> {
        self.greeting.as_ref()
    }

    /// What the server advertised (after the TLS EHLO when TLS is active).
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// True once [`ClientSession::tls_established`] was called.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Plaintext octets discarded after the STARTTLS `220` (non-zero means
    /// the server, or someone on the path, injected data: log it).
    pub fn discarded_after_starttls(&self) -> usize {
        self.discarded
    }

    /// Bytes received from the server.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }

    /// Bytes to write to the server.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// True when there is output to write.
    pub fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    fn command(&mut self, line: &str) {
        self.transcript.command(Direction::Sent, line.as_bytes());
        self.output.extend_from_slice(line.as_bytes());
        self.output.extend_from_slice(b"\r\n");
    }

    /// Starts keeping a transcript (for a protocol log): every command
    /// sent and every reply line received from now on; never the message
    /// (the body after `354`), and the AUTH PLAIN response is redacted.
    pub fn record_transcript(&mut self) {
        self.transcript.enable();
    }

    /// The transcript lines recorded since the last call.
    pub fn take_transcript(&mut self) -> Vec<TranscriptLine> {
        self.transcript.take()
    }

    fn fail(&mut self, f: SessionFailure) -> Event {
        // A courtesy QUIT unless the server already said goodbye.
        if !matches!(
            f,
            SessionFailure::ServiceClosing(_) | SessionFailure::Protocol(_)
        ) {
            self.command("QUIT");
        }
        self.state = State::Failed(f.clone());
        Event::Failed(f)
    }

    /// The TLS handshake after [`Event::StartTls`] succeeded: the session
    /// starts over with EHLO over TLS. Any input is dropped.
    pub fn tls_established(&mut self) -> Result<(), ClientError> {
        if !matches!(self.state, State::AwaitTls) {
            return Err(ClientError::NotAwaitingTls);
        }
        self.input.clear();
        self.tls = true;
        self.extensions = Extensions::default();
        let ehlo = format!("EHLO {}", self.config.helo_name);
        self.command(&ehlo);
        self.state = State::Ehlo;
        Ok(())
    }

    /// Starts a transaction (after [`Event::Ready`]).
    pub fn send(&mut self, tx: Transaction) -> Result<(), ClientError> {
        if !matches!(self.state, State::Ready) {
            return Err(ClientError::NotReady);
        }
        if tx.recipients.is_empty() {
            return Err(ClientError::NoRecipients);
        }
        let n = tx.recipients.len();
        let mut t = Box::new(Tx {
            tx,
            results: vec![None; n],
            rcpt_at: 0,
            accepted: Vec::new(),
        });
        // Local checks: nothing unsafe is ever put on the wire.
        let sender_ok = address_is_safe(&t.tx.sender);
        let too_big =
            matches!(self.extensions.size, Some(max) if max > 0 && t.tx.message.size() > max);
        // RFC 3030 section 3: binary content cannot be converted to go
        // without BINARYMIME (and BDAT).
        let unconvertible =
            t.tx.message.binary() && !(self.extensions.chunking && self.extensions.binary_mime);
        let no_utf8 = t.tx.needs_smtputf8() && !self.extensions.smtputf8;
        // RFC 8689 4.2.1: REQUIRETLS advertised after STARTTLS.
        let no_requiretls = t.tx.requiretls && !(self.tls && self.extensions.requiretls);
        for i in 0..n {
            let r = if !sender_ok {
                Some(local(501, (5, 1, 7), "invalid sender address (not sent)"))
            } else if no_requiretls {
                Some(local(
                    550,
                    (5, 7, 30),
                    "REQUIRETLS support required: the next hop did not offer REQUIRETLS after STARTTLS (not sent)",
                ))
            } else if no_utf8 {
                // RFC 6531 3.4: not to a server without SMTPUTF8; X.6.7
                // (RFC 6533 3) in the non-delivery report.
                Some(local(
                    550,
                    (5, 6, 7),
                    "SMTPUTF8 not supported by next hop (not sent)",
                ))
            } else if unconvertible {
                Some(local(
                    554,
                    (5, 6, 3),
                    "conversion required but not supported: binary MIME message, and the remote server does not offer BINARYMIME and CHUNKING (not sent)",
                ))
            } else if too_big {
                Some(local(
                    552,
                    (5, 3, 4),
                    "message size exceeds the remote server's fixed maximum (not sent)",
                ))
            } else if !address_is_safe(&t.tx.recipients[i]) || t.tx.recipients[i].is_empty() {
                Some(local(
                    501,
                    (5, 1, 3),
                    "invalid recipient address (not sent)",
                ))
            } else {
                None
            };
            t.results[i] = r.map(|reply| RecipientReply {
                address: t.tx.recipients[i].clone(),
                stage: Stage::Local,
                reply,
            });
        }
        if t.results.iter().all(Option::is_some) {
            self.finish(*t);
            return Ok(());
        }
        if self.transactions > 0 {
            self.command("RSET");
            self.state = State::Rset(t);
        } else {
            self.send_mail(t);
        }
        self.transactions += 1;
        Ok(())
    }

    /// The driver wrote the whole spooled message and its final `.` line
    /// (after [`Event::SendBody`]): the reply to it is awaited next.
    pub fn body_sent(&mut self) -> Result<(), ClientError> {
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Body(t) | State::Chunk(t) => {
                self.state = State::DataEnd(t);
                Ok(())
            }
            other => {
                self.state = other;
                Err(ClientError::NotSendingBody)
            }
        }
    }

    /// Ends the session politely.
    pub fn quit(&mut self) {
        match self.state {
            State::Closed | State::Failed(_) | State::Quit => {}
            _ => {
                self.command("QUIT");
                self.state = State::Quit;
            }
        }
    }

    fn send_mail(&mut self, t: Box<Tx>) {
        let mut line = format!("MAIL FROM:<{}>", t.tx.sender);
        if self.extensions.size.is_some() {
            line.push_str(&format!(" SIZE={}", t.tx.message.size()));
        }
        if t.tx.message.binary() {
            // Only reached when BINARYMIME and CHUNKING are offered.
            line.push_str(" BODY=BINARYMIME");
        } else if self.extensions.eight_bit_mime && t.tx.message.eight_bit() {
            line.push_str(" BODY=8BITMIME");
        }
        if self.extensions.dsn {
            if let Some(ret) = t.tx.dsn.ret {
                line.push_str(&format!(" RET={}", ret.as_str()));
            }
            // Re-checked: nothing but xtext is ever put on the wire.
            if let Some(envid) = t.tx.dsn.envid.as_deref().filter(|v| xtext_ok(v)) {
                line.push_str(&format!(" ENVID={envid}"));
            }
        }
        if self.extensions.smtputf8 && t.tx.needs_smtputf8() {
            line.push_str(" SMTPUTF8");
        }
        if t.tx.requiretls {
            // Only reached over TLS to a server offering it (see `send`).
            line.push_str(" REQUIRETLS");
        }
        self.command(&line);
        self.state = State::Mail(t);
    }

    /// Sends the next RCPT still undecided, or moves on to DATA.
    fn next_rcpt(&mut self, mut t: Box<Tx>) {
        while t.rcpt_at < t.results.len() && t.results[t.rcpt_at].is_some() {
            t.rcpt_at += 1;
        }
        if t.rcpt_at < t.results.len() {
            let mut line = format!("RCPT TO:<{}>", t.tx.recipients[t.rcpt_at]);
            if self.extensions.dsn
                && let Some(p) = t.tx.dsn.recipients.get(t.rcpt_at)
            {
                if let Some(n) = p.notify {
                    line.push_str(&format!(" NOTIFY={n}"));
                }
                if let Some(o) = p.orcpt.as_deref().filter(|v| {
                    v.split_once(';')
                        .is_some_and(|(k, a)| !k.is_empty() && xtext_ok(k) && xtext_ok(a))
                }) {
                    line.push_str(&format!(" ORCPT={o}"));
                }
            }
            self.command(&line);
            self.state = State::Rcpt(t);
        } else if t.accepted.is_empty() {
            self.finish(*t);
        } else if self.extensions.chunking {
            // RFC 3030: the whole message as one last chunk.
            match &t.tx.message {
                Content::Bytes(message) => {
                    let mut chunk = Vec::with_capacity(message.len() + 2);
                    crlf_text(message, &mut chunk);
                    self.command(&format!("BDAT {} LAST", chunk.len()));
                    self.output.extend_from_slice(&chunk);
                    self.state = State::DataEnd(t);
                }
                Content::Spooled { file, .. } => {
                    self.command(&format!("BDAT {} LAST", file.size()));
                    self.state = State::Chunk(t);
                }
            }
        } else {
            self.command("DATA");
            self.state = State::Data(t);
        }
    }

    /// Gives every undecided recipient (of `which`) this reply.
    fn decide_all(t: &mut Tx, stage: Stage, reply: &Reply, only_accepted: bool) {
        for i in 0..t.results.len() {
            if t.results[i].is_none() && (!only_accepted || t.accepted.contains(&i)) {
                t.results[i] = Some(RecipientReply {
                    address: t.tx.recipients[i].clone(),
                    stage,
                    reply: reply.clone(),
                });
            }
        }
    }

    fn finish(&mut self, t: Tx) {
        let recipients =
            t.tx.recipients
                .iter()
                .zip(t.results)
                .map(|(a, r)| {
                    r.unwrap_or_else(|| RecipientReply {
                        address: a.clone(),
                        stage: Stage::Local,
                        reply: local(451, (4, 3, 0), "transaction ended without a reply"),
                    })
                })
                .collect();
        self.done = Some(TransactionResult { recipients });
        self.state = State::Ready;
    }

    /// Takes the next complete reply from the input.
    fn next_reply(&mut self) -> Result<Option<Reply>, SessionFailure> {
        match ReplyParser::parse(&self.input) {
            Ok(Some((reply, used))) => {
                self.transcript
                    .reply_wire(Direction::Received, &self.input[..used]);
                self.input.drain(..used);
                Ok(Some(reply))
            }
            Ok(None) if self.input.len() > MAX_INPUT => {
                Err(SessionFailure::Protocol("reply too large".into()))
            }
            Ok(None) => Ok(None),
            Err(e @ (ReplyError::Syntax(_) | ReplyError::MixedCodes { .. })) => {
                Err(SessionFailure::Protocol(e.to_string()))
            }
            Err(e) => Err(SessionFailure::Protocol(e.to_string())),
        }
    }

    /// Advances the session with the input so far (see [`Event`]).
    pub fn poll(&mut self) -> Event {
        loop {
            if let Some(r) = self.done.take() {
                return Event::Done(r);
            }
            match &self.state {
                State::Ready => {
                    if !self.input.is_empty() {
                        // Unsolicited: only a 421 is legitimate.
                        return match self.next_reply() {
                            Ok(Some(r)) if r.code == 421 => {
                                self.fail(SessionFailure::ServiceClosing(r))
                            }
                            Ok(None) => Event::Ready,
                            Ok(Some(r)) => self
                                .fail(SessionFailure::Protocol(format!("unsolicited reply: {r}"))),
                            Err(f) => self.fail(f),
                        };
                    }
                    return Event::Ready;
                }
                State::AwaitTls => return Event::StartTls,
                State::Body(_) => return Event::SendBody,
                State::Chunk(_) => return Event::SendChunk,
                State::Closed => return Event::Closed,
                State::Failed(f) => return Event::Failed(f.clone()),
                _ => {}
            }
            let reply = match self.next_reply() {
                Ok(Some(r)) => r,
                Ok(None) => return Event::NeedInput,
                Err(f) => return self.fail(f),
            };
            if let Some(ev) = self.on_reply(reply) {
                return ev;
            }
        }
    }

    /// Handles one reply; `Some` when it produces an event by itself.
    fn on_reply(&mut self, reply: Reply) -> Option<Event> {
        let state = std::mem::replace(&mut self.state, State::Closed);
        match state {
            State::Greeting => {
                self.greeting = Some(reply.clone());
                if reply.code != 220 {
                    return Some(self.fail(SessionFailure::Greeting(reply)));
                }
                if self.config.loop_detection && names_us(&reply, &self.config.helo_name) {
                    return Some(self.fail(SessionFailure::LoopsBack(reply)));
                }
                let ehlo = format!("EHLO {}", self.config.helo_name);
                self.command(&ehlo);
                self.state = State::Ehlo;
            }
            State::Ehlo | State::Helo
                if reply.is_positive()
                    && self.config.loop_detection
                    && names_us(&reply, &self.config.helo_name) =>
            {
                return Some(self.fail(SessionFailure::LoopsBack(reply)));
            }
            State::Ehlo if reply.is_positive() => {
                self.extensions = Extensions::from_ehlo(&reply);
                return self.after_hello();
            }
            State::Ehlo if reply.is_permanent() && reply.code != 421 && !self.tls => {
                let helo = format!("HELO {}", self.config.helo_name);
                self.command(&helo);
                self.state = State::Helo;
            }
            State::Ehlo | State::Helo if reply.code == 421 => {
                return Some(self.fail(SessionFailure::ServiceClosing(reply)));
            }
            State::Ehlo => return Some(self.fail(SessionFailure::Ehlo(reply))),
            State::Helo if reply.is_positive() => {
                self.extensions = Extensions::default();
                return self.after_hello();
            }
            State::Helo => return Some(self.fail(SessionFailure::Ehlo(reply))),
            State::StartTls if reply.code == 220 => {
                // Injection defence: nothing received in plaintext after
                // the 220 may be read inside the TLS session.
                self.discarded += self.input.len();
                self.input.clear();
                self.state = State::AwaitTls;
                return Some(Event::StartTls);
            }
            State::StartTls if reply.code == 421 => {
                return Some(self.fail(SessionFailure::ServiceClosing(reply)));
            }
            State::StartTls => {
                if self.config.starttls == StartTlsMode::Required {
                    return Some(self.fail(SessionFailure::StartTlsRefused(reply)));
                }
                // Opportunistic: carry on in plaintext.
                return self.ready();
            }
            State::Auth if reply.code == 235 => self.state = State::Ready,
            State::Auth if reply.code == 421 => {
                return Some(self.fail(SessionFailure::ServiceClosing(reply)));
            }
            State::Auth => return Some(self.fail(SessionFailure::AuthRefused(reply))),
            State::Rset(t) => {
                if reply.code == 421 {
                    return Some(self.fail(SessionFailure::ServiceClosing(reply)));
                }
                if !reply.is_positive() {
                    return Some(self.fail(SessionFailure::Rset(reply)));
                }
                self.send_mail(t);
            }
            State::Mail(mut t) => {
                if reply.is_positive() {
                    self.next_rcpt(t);
                } else {
                    Self::decide_all(&mut t, Stage::Mail, &reply, false);
                    self.finish_or_close(*t, &reply);
                }
            }
            State::Rcpt(mut t) => {
                let i = t.rcpt_at;
                if reply.is_positive() {
                    t.accepted.push(i);
                } else if reply.code == 421 {
                    Self::decide_all(&mut t, Stage::Rcpt, &reply, false);
                    self.finish_or_close(*t, &reply);
                    return None;
                } else {
                    t.results[i] = Some(RecipientReply {
                        address: t.tx.recipients[i].clone(),
                        stage: Stage::Rcpt,
                        reply,
                    });
                }
                t.rcpt_at += 1;
                self.next_rcpt(t);
            }
            State::Data(mut t) => {
                if reply.code == 354 {
                    match &t.tx.message {
                        Content::Bytes(message) => {
                            let mut out = std::mem::take(&mut self.output);
                            encode_data(message, &mut out);
                            self.output = out;
                            self.state = State::DataEnd(t);
                        }
                        Content::Spooled { .. } => {
                            self.state = State::Body(t);
                            return Some(Event::SendBody);
                        }
                    }
                } else {
                    Self::decide_all(&mut t, Stage::Data, &reply, true);
                    // Everyone else already has an RCPT reply.
                    self.finish_or_close(*t, &reply);
                }
            }
            State::DataEnd(mut t) => {
                Self::decide_all(&mut t, Stage::DataEnd, &reply, true);
                self.finish_or_close(*t, &reply);
            }
            State::Quit => self.state = State::Closed,
            s @ (State::Ready
            | State::AwaitTls
            | State::Body(_)
            | State::Chunk(_)
            | State::Closed
            | State::Failed(_)) => {
                self.state = s;
            }
        }
        None
    }

    /// After a transaction's last reply: ready again, or closed after 421.
    fn finish_or_close(&mut self, t: Tx, reply: &Reply) {
        self.finish(t);
        if reply.code == 421 {
            self.state = State::Closed;
        }
    }

    /// EHLO/HELO accepted: STARTTLS, or ready.
    fn after_hello(&mut self) -> Option<Event> {
        if self.tls {
            return self.ready();
        }
        match (self.config.starttls, self.extensions.starttls) {
            (StartTlsMode::Never, _) | (StartTlsMode::IfOffered, false) => self.ready(),
            (StartTlsMode::Required, false) => Some(self.fail(SessionFailure::StartTlsNotOffered)),
            (_, true) => {
                self.command("STARTTLS");
                self.state = State::StartTls;
                None
            }
        }
    }

    /// The session is set up: authenticate if configured, else ready.
    fn ready(&mut self) -> Option<Event> {
        let Some(auth) = &self.config.auth else {
            self.state = State::Ready;
            return None;
        };
        if auth.require_tls && !self.tls {
            return Some(self.fail(SessionFailure::AuthNeedsTls));
        }
        if !self.extensions.auth.iter().any(|m| m == "PLAIN") {
            return Some(self.fail(SessionFailure::AuthNotOffered));
        }
        let line = format!("AUTH PLAIN {}", auth.plain());
        self.command(&line);
        self.state = State::Auth;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DataEncoder;

    fn cfg(mode: StartTlsMode) -> ClientSession {
        ClientSession::new(ClientConfig {
            helo_name: "mail.orga.example".into(),
            starttls: mode,
            loop_detection: true,
            auth: None,
        })
    }

    fn out(s: &mut ClientSession) -> String {
        String::from_utf8(s.take_output()).unwrap()
    }

    /// Feeds `reply`, polls, returns what was written and the event.
    fn step(s: &mut ClientSession, reply: &str) -> (String, Event) {
        s.feed(reply.as_bytes());
        let ev = s.poll();
        (out(s), ev)
    }

    fn tx(rcpts: &[&str], msg: &str) -> Transaction {
        Transaction {
            sender: "alice@orga.example".into(),
            recipients: rcpts.iter().map(|s| s.to_string()).collect(),
            message: msg.as_bytes().to_vec().into(),
            dsn: DsnRequest::default(),
            smtputf8: false,
            requiretls: false,
        }
    }

    const EHLO: &str = "250-mx.orgb.example\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250-STARTTLS\r\n250 ENHANCEDSTATUSCODES\r\n";

    fn ready_plain(mode: StartTlsMode, ehlo: &str) -> ClientSession {
        let mut s = cfg(mode);
        assert_eq!(s.poll(), Event::NeedInput);
        let (o, _) = step(&mut s, "220 mx.orgb.example ESMTP\r\n");
        assert_eq!(o, "EHLO mail.orga.example\r\n");
        let (o, ev) = step(&mut s, ehlo);
        assert_eq!(ev, Event::Ready, "{o}");
        s
    }

    /// RFC 6531 3.4: the SMTPUTF8 parameter to a server offering it; a
    /// message that needs it (a non-ASCII address, or UTF-8 header fields:
    /// `smtputf8`) to no other (550 5.6.7, nothing sent); an ASCII message
    /// goes without the parameter.
    #[test]
    fn smtputf8_only_to_a_server_that_offers_it() {
        let msg = |rcpt: &str, utf8_header: bool| Transaction {
            smtputf8: utf8_header,
            ..tx(&[rcpt], "Subject: x\r\n\r\nx\r\n")
        };
        let refused = |t: Transaction| {
            let mut s = ready_plain(StartTlsMode::Never, "250-mx\r\n250 8BITMIME\r\n");
            s.send(t).unwrap();
            let Event::Done(r) = s.poll() else {
                panic!("not decided locally")
            };
            assert_eq!(out(&mut s), "", "nothing on the wire");
            assert_eq!(r.recipients[0].stage, Stage::Local);
            assert_eq!(
                (r.recipients[0].reply.code, r.recipients[0].reply.enhanced),
                (550, Some((5, 6, 7)))
            );
        };
        let mail_line = |ehlo: &str, t: Transaction| {
            let mut s = ready_plain(StartTlsMode::Never, ehlo);
            s.send(t).unwrap();
            assert_eq!(s.poll(), Event::NeedInput);
            out(&mut s)
        };
        let offers = "250-mx\r\n250 SMTPUTF8\r\n";
        let plain = "250-mx\r\n250 8BITMIME\r\n";
        for t in [
            msg("jörg@bücher.example", false),
            msg("bob@orgb.example", true),
        ] {
            assert_eq!(
                mail_line(offers, t.clone()),
                "MAIL FROM:<alice@orga.example> SMTPUTF8\r\n"
            );
            refused(t);
        }
        // Nothing needs it: no parameter, to either kind of server.
        for ehlo in [offers, plain] {
            assert_eq!(
                mail_line(ehlo, msg("bob@orgb.example", false)),
                "MAIL FROM:<alice@orga.example>\r\n"
            );
        }
    }

    #[test]
    fn dsn_parameters_only_to_a_server_that_offers_dsn() {
        use crate::command::{Notify, RcptParams, Ret};
        let dsn = DsnRequest {
            ret: Some(Ret::Hdrs),
            envid: Some("QQ+2B1".into()),
            recipients: vec![
                RcptParams {
                    notify: Some(Notify {
                        success: true,
                        failure: true,
                        delay: false,
                    }),
                    orcpt: Some("rfc822;b+2B1@orgb.example".into()),
                },
                RcptParams::default(),
                RcptParams {
                    notify: Some(Notify::NEVER),
                    // Not xtext: never put on the wire.
                    orcpt: Some("rfc822;x\r\nDATA".into()),
                },
            ],
        };
        let with_dsn = "250-mx.orgb.example\r\n250-DSN\r\n250 8BITMIME\r\n";
        for (ehlo, offered) in [(with_dsn, true), (EHLO, false)] {
            let mut s = ready_plain(StartTlsMode::Never, ehlo);
            assert_eq!(s.extensions().dsn, offered);
            let mut t = tx(
                &["b@orgb.example", "c@orgb.example", "d@orgb.example"],
                "S: x\r\n\r\nb\r\n",
            );
            t.dsn = dsn.clone();
            s.send(t).unwrap();
            assert_eq!(s.poll(), Event::NeedInput);
            let mut lines = vec![out(&mut s)];
            for _ in 0..3 {
                lines.push(step(&mut s, "250 2.1.0 ok\r\n").0);
            }
            if offered {
                assert_eq!(
                    lines,
                    [
                        "MAIL FROM:<alice@orga.example> RET=HDRS ENVID=QQ+2B1\r\n",
                        "RCPT TO:<b@orgb.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2B1@orgb.example\r\n",
                        "RCPT TO:<c@orgb.example>\r\n",
                        "RCPT TO:<d@orgb.example> NOTIFY=NEVER\r\n",
                    ]
                );
            } else {
                // RFC 3461 5.2: nothing of it to a server without DSN.
                assert!(
                    lines
                        .iter()
                        .all(|l| !l.contains('=') || l.contains("SIZE=")),
                    "{lines:?}"
                );
                assert!(
                    lines
                        .iter()
                        .all(|l| !l.contains("NOTIFY") && !l.contains("RET"))
                );
            }
        }
    }

    #[test]
    fn full_transaction_with_size_and_per_recipient_results() {
        let mut s = ready_plain(StartTlsMode::Never, EHLO);
        assert_eq!(s.extensions().size, Some(1000));
        assert!(s.extensions().starttls && s.extensions().enhanced_status_codes);
        s.send(tx(
            &["b@orgb.example", "x@orgb.example"],
            "Subject: hi\r\n\r\n.dot\r\n",
        ))
        .unwrap();
        assert_eq!(s.poll(), Event::NeedInput);
        assert_eq!(out(&mut s), "MAIL FROM:<alice@orga.example> SIZE=21\r\n");
        let (o, _) = step(&mut s, "250 2.1.0 ok\r\n");
        assert_eq!(o, "RCPT TO:<b@orgb.example>\r\n");
        let (o, _) = step(&mut s, "250 2.1.5 ok\r\n");
        assert_eq!(o, "RCPT TO:<x@orgb.example>\r\n");
        let (o, _) = step(&mut s, "550 5.1.1 no such user\r\n");
        assert_eq!(o, "DATA\r\n");
        let (o, _) = step(&mut s, "354 go ahead\r\n");
        assert_eq!(o, "Subject: hi\r\n\r\n..dot\r\n.\r\n");
        let (_, ev) = step(&mut s, "250 2.0.0 queued\r\n");
        let Event::Done(r) = ev else { panic!("{ev:?}") };
        assert!(r.recipients[0].delivered());
        assert_eq!(r.recipients[1].stage, Stage::Rcpt);
        assert_eq!(r.recipients[1].reply.code, 550);
        assert_eq!(r.recipients[1].reply.enhanced, Some((5, 1, 1)));
        assert_eq!(s.poll(), Event::Ready);

        // a second message on the same connection: RSET first
        s.send(tx(&["b@orgb.example"], "x\r\n")).unwrap();
        assert_eq!(s.poll(), Event::NeedInput);
        assert_eq!(out(&mut s), "RSET\r\n");
        let (o, _) = step(&mut s, "250 2.0.0 reset\r\n");
        assert_eq!(o, "MAIL FROM:<alice@orga.example> SIZE=3\r\n");
        // MAIL refused: every recipient gets that reply, no RCPT sent
        let (o, ev) = step(&mut s, "452 4.3.1 out of storage\r\n");
        assert_eq!(o, "");
        let Event::Done(r) = ev else { panic!("{ev:?}") };
        assert_eq!(r.recipients[0].stage, Stage::Mail);
        assert_eq!(r.recipients[0].reply.code, 452);

        s.quit();
        assert_eq!(out(&mut s), "QUIT\r\n");
        let (_, ev) = step(&mut s, "221 bye\r\n");
        assert_eq!(ev, Event::Closed);
    }

    #[test]
    fn all_recipients_refused_means_no_data() {
        let mut s = ready_plain(StartTlsMode::Never, "250 mx\r\n");
        s.send(tx(&["a@b.example"], "x\r\n")).unwrap();
        s.poll();
        assert_eq!(out(&mut s), "MAIL FROM:<alice@orga.example>\r\n");
        step(&mut s, "250 ok\r\n");
        let (o, ev) = step(&mut s, "450 4.2.0 greylisted\r\n");
        assert_eq!(o, "");
        let Event::Done(r) = ev else { panic!("{ev:?}") };
        assert_eq!(r.recipients[0].reply.code, 450);
    }

    #[test]
    fn data_refusals_apply_to_accepted_recipients() {
        let mut s = ready_plain(StartTlsMode::Never, "250 mx\r\n");
        s.send(tx(&["a@b.example", "c@b.example"], "x\r\n"))
            .unwrap();
        s.poll();
        out(&mut s);
        step(&mut s, "250 ok\r\n");
        step(&mut s, "250 ok\r\n");
        step(&mut s, "250 ok\r\n");
        let (_, ev) = step(&mut s, "554 5.6.0 content rejected\r\n");
        let Event::Done(r) = ev else { panic!("{ev:?}") };
        assert!(
            r.recipients
                .iter()
                .all(|x| x.stage == Stage::Data && x.reply.code == 554)
        );
        // final reply refusal
        s.send(tx(&["a@b.example"], "x\r\n")).unwrap();
        s.poll();
        for rep in ["250 ok\r\n", "250 ok\r\n", "250 ok\r\n", "354 go\r\n"] {
            step(&mut s, rep);
        }
        let (_, ev) = step(&mut s, "451 4.3.0 try later\r\n");
        let Event::Done(r) = ev else { panic!("{ev:?}") };
        assert_eq!(r.recipients[0].stage, Stage::DataEnd);
        assert!(!r.recipients[0].delivered());
    }

    /// RFC 8689 4.2.1: a REQUIRETLS transaction goes, with the
    /// parameter, only over TLS to a server that advertised REQUIRETLS
    /// after STARTTLS; otherwise 550 5.7.30 locally and nothing is sent. A
    /// transaction without it is unaffected.
    #[test]
    fn requiretls_only_over_tls_to_a_server_that_offers_it() {
        let req = || Transaction {
            requiretls: true,
            ..tx(&["bob@orgb.example"], "Subject: x\r\n\r\nx\r\n")
        };
        let over_tls = |ehlo: &str| {
            let mut s = ready_plain_until_starttls();
            let (_, ev) = step(&mut s, "220 go ahead\r\n");
            assert_eq!(ev, Event::StartTls);
            s.tls_established().unwrap();
            out(&mut s);
            let (_, ev) = step(&mut s, ehlo);
            assert_eq!(ev, Event::Ready);
            s
        };
        let refused = |mut s: ClientSession| {
            s.send(req()).unwrap();
            let Event::Done(r) = s.poll() else {
                panic!("not decided locally")
            };
            assert_eq!(out(&mut s), "", "nothing on the wire");
            assert_eq!(r.recipients[0].stage, Stage::Local);
            assert_eq!(
                (r.recipients[0].reply.code, r.recipients[0].reply.enhanced),
                (550, Some((5, 7, 30)))
            );
        };
        // Advertised over TLS: the parameter goes.
        let mut s = over_tls("250-mx\r\n250 REQUIRETLS\r\n");
        assert!(s.extensions().requiretls);
        s.send(req()).unwrap();
        assert_eq!(s.poll(), Event::NeedInput);
        assert_eq!(out(&mut s), "MAIL FROM:<alice@orga.example> REQUIRETLS\r\n");
        // Not advertised after STARTTLS.
        refused(over_tls("250-mx\r\n250 8BITMIME\r\n"));
        // Advertised, but in plaintext: not believed.
        refused(ready_plain(
            StartTlsMode::Never,
            "250-mx\r\n250 REQUIRETLS\r\n",
        ));
        // A message without REQUIRETLS goes to the same server as before.
        let mut s = over_tls("250-mx\r\n250 8BITMIME\r\n");
        s.send(tx(&["bob@orgb.example"], "x\r\n")).unwrap();
        assert_eq!(s.poll(), Event::NeedInput);
        assert_eq!(out(&mut s), "MAIL FROM:<alice@orga.example>\r\n");
    }

    #[test]
    fn starttls_discards_injected_plaintext_and_re_ehlos() {
        let mut s = ready_plain_until_starttls();
        // the server pipelines a fake reply after its 220
        let (o, ev) = step(&mut s, "220 ready\r\n250 fake\r\n");
        assert_eq!(o, "");
        assert_eq!(ev, Event::StartTls);
        assert_eq!(s.discarded_after_starttls(), "250 fake\r\n".len());
        s.tls_established().unwrap();
        assert!(s.is_tls());
        assert_eq!(out(&mut s), "EHLO mail.orga.example\r\n");
        // The fake 250 must not answer our EHLO: nothing parsed yet.
        assert_eq!(s.poll(), Event::NeedInput);
        let (o, ev) = step(&mut s, "250-mx.orgb.example\r\n250 SIZE 0\r\n");
        assert_eq!((o.as_str(), ev), ("", Event::Ready));
        assert!(!s.extensions().starttls);
        assert_eq!(s.extensions().size, Some(0));
    }

    fn ready_plain_until_starttls() -> ClientSession {
        let mut s = cfg(StartTlsMode::Required);
        step(&mut s, "220 mx\r\n");
        let (o, ev) = step(&mut s, EHLO);
        assert_eq!((o.as_str(), ev), ("STARTTLS\r\n", Event::NeedInput));
        s
    }

    #[test]
    fn required_starttls_missing_or_refused_fails_before_mail() {
        let mut s = cfg(StartTlsMode::Required);
        step(&mut s, "220 mx\r\n");
        let (o, ev) = step(&mut s, "250-mx\r\n250 SIZE\r\n");
        assert_eq!(ev, Event::Failed(SessionFailure::StartTlsNotOffered));
        assert_eq!(o, "QUIT\r\n");
        assert_eq!(
            s.send(tx(&["a@b.example"], "x")),
            Err(ClientError::NotReady)
        );

        let mut s = ready_plain_until_starttls();
        let (_, ev) = step(&mut s, "454 4.7.0 TLS not available\r\n");
        assert!(matches!(
            ev,
            Event::Failed(SessionFailure::StartTlsRefused(_))
        ));

        // HELO fallback cannot offer STARTTLS either
        let mut s = cfg(StartTlsMode::Required);
        step(&mut s, "220 mx\r\n");
        let (o, _) = step(&mut s, "502 5.5.1 EHLO not implemented\r\n");
        assert_eq!(o, "HELO mail.orga.example\r\n");
        let (_, ev) = step(&mut s, "250 mx\r\n");
        assert_eq!(ev, Event::Failed(SessionFailure::StartTlsNotOffered));
    }

    #[test]
    fn opportunistic_continues_when_starttls_is_refused_or_absent() {
        let mut s = cfg(StartTlsMode::IfOffered);
        step(&mut s, "220 mx\r\n");
        let (o, _) = step(&mut s, EHLO);
        assert_eq!(o, "STARTTLS\r\n");
        let (_, ev) = step(&mut s, "454 4.7.0 not now\r\n");
        assert_eq!(ev, Event::Ready);
        assert!(!s.is_tls());
        let s = ready_plain(StartTlsMode::IfOffered, "250 mx\r\n");
        assert!(!s.is_tls());
    }

    #[test]
    fn helo_fallback_and_greeting_failures() {
        let mut s = cfg(StartTlsMode::IfOffered);
        step(&mut s, "220 mx\r\n");
        step(&mut s, "500 what\r\n");
        let (_, ev) = step(&mut s, "250 mx\r\n");
        assert_eq!(ev, Event::Ready);
        assert!(!s.extensions().esmtp);
        s.send(tx(&["a@b.example"], "x")).unwrap();
        s.poll();
        assert_eq!(out(&mut s), "MAIL FROM:<alice@orga.example>\r\n");

        let mut s = cfg(StartTlsMode::IfOffered);
        let (o, ev) = step(&mut s, "554 5.7.1 go away\r\n");
        assert!(matches!(ev, Event::Failed(SessionFailure::Greeting(_))));
        assert_eq!(o, "QUIT\r\n");

        let mut s = cfg(StartTlsMode::IfOffered);
        step(&mut s, "220 mx\r\n");
        let (_, ev) = step(&mut s, "421 4.3.2 shutting down\r\n");
        assert!(matches!(
            ev,
            Event::Failed(SessionFailure::ServiceClosing(_))
        ));

        let mut s = cfg(StartTlsMode::IfOffered);
        let (_, ev) = step(&mut s, "hello there\r\n");
        assert!(matches!(ev, Event::Failed(SessionFailure::Protocol(_))));
    }

    #[test]
    fn a_server_that_answers_with_our_own_name_is_a_loop() {
        // the greeting names us (any case, a final dot)
        for greeting in [
            "220 mail.orga.example ESMTP\r\n",
            "220 MAIL.ORGA.EXAMPLE.\r\n",
            "220-mail.orga.example hello\r\n220 more\r\n",
        ] {
            let mut s = cfg(StartTlsMode::IfOffered);
            let (o, ev) = step(&mut s, greeting);
            assert!(
                matches!(ev, Event::Failed(SessionFailure::LoopsBack(_))),
                "{greeting}: {ev:?}"
            );
            assert_eq!(o, "QUIT\r\n");
        }
        // a greeting that does not name us, then EHLO or HELO that does
        let mut s = cfg(StartTlsMode::IfOffered);
        step(&mut s, "220 relay ready\r\n");
        let (_, ev) = step(&mut s, "250-mail.orga.example Hello\r\n250 8BITMIME\r\n");
        assert!(
            matches!(ev, Event::Failed(SessionFailure::LoopsBack(_))),
            "{ev:?}"
        );
        let mut s = cfg(StartTlsMode::IfOffered);
        step(&mut s, "220 relay ready\r\n");
        step(&mut s, "502 no EHLO\r\n");
        let (_, ev) = step(&mut s, "250 mail.orga.example\r\n");
        assert!(
            matches!(ev, Event::Failed(SessionFailure::LoopsBack(_))),
            "{ev:?}"
        );
        // without loop detection (a default name) the session goes on
        let mut s = ClientSession::new(ClientConfig {
            helo_name: "mail.orga.example".into(),
            starttls: StartTlsMode::Never,
            loop_detection: false,
            auth: None,
        });
        step(&mut s, "220 mail.orga.example ESMTP\r\n");
        let (_, ev) = step(&mut s, "250 mail.orga.example\r\n");
        assert_eq!(ev, Event::Ready);
        // our name elsewhere in the line, or a longer name, is no loop
        let mut s = cfg(StartTlsMode::Never);
        step(
            &mut s,
            "220 mx.orgb.example ESMTP for mail.orga.example\r\n",
        );
        let (_, ev) = step(&mut s, "250 mail.orga.example.net\r\n");
        assert_eq!(ev, Event::Ready);
    }

    #[test]
    fn unsafe_addresses_are_never_sent() {
        let mut s = ready_plain(StartTlsMode::Never, "250 mx\r\n");
        s.send(tx(
            &["ok@b.example", "evil@b.example>\r\nRCPT TO:<x@y", "a<b@c"],
            "x\r\n",
        ))
        .unwrap();
        s.poll();
        assert_eq!(out(&mut s), "MAIL FROM:<alice@orga.example>\r\n");
        let (o, _) = step(&mut s, "250 ok\r\n");
        assert_eq!(o, "RCPT TO:<ok@b.example>\r\n");
        let (o, _) = step(&mut s, "250 ok\r\n");
        assert_eq!(o, "DATA\r\n");
        step(&mut s, "354 go\r\n");
        let (_, ev) = step(&mut s, "250 ok\r\n");
        let Event::Done(r) = ev else { panic!("{ev:?}") };
        assert!(r.recipients[0].delivered());
        for bad in &r.recipients[1..] {
            assert_eq!((bad.stage, bad.reply.code), (Stage::Local, 501));
        }

        // bad sender: nothing at all is sent
        let mut t = tx(&["ok@b.example"], "x");
        t.sender = "a\r\nDATA".into();
        s.send(t).unwrap();
        let ev = s.poll();
        assert_eq!(out(&mut s), "");
        let Event::Done(r) = ev else { panic!("{ev:?}") };
        assert_eq!(r.recipients[0].reply.enhanced, Some((5, 1, 7)));
    }

    #[test]
    fn oversized_message_is_refused_locally() {
        let mut s = ready_plain(StartTlsMode::Never, "250-mx\r\n250 SIZE 10\r\n");
        s.send(tx(&["a@b.example"], "0123456789abc")).unwrap();
        let ev = s.poll();
        assert_eq!(out(&mut s), "");
        let Event::Done(r) = ev else { panic!("{ev:?}") };
        assert_eq!(r.recipients[0].reply.code, 552);
    }

    #[test]
    fn null_sender_and_8bit() {
        let mut s = ready_plain(StartTlsMode::Never, "250-mx\r\n250 8BITMIME\r\n");
        let mut t = tx(&["a@b.example"], "caf\u{e9}\r\n");
        t.sender.clear();
        s.send(t).unwrap();
        s.poll();
        assert_eq!(out(&mut s), "MAIL FROM:<> BODY=8BITMIME\r\n");
    }

    #[test]
    fn unsolicited_input_when_idle() {
        let mut s = ready_plain(StartTlsMode::Never, "250 mx\r\n");
        let (_, ev) = step(&mut s, "421 4.4.2 idle timeout\r\n");
        assert!(matches!(
            ev,
            Event::Failed(SessionFailure::ServiceClosing(_))
        ));
        let mut s = ready_plain(StartTlsMode::Never, "250 mx\r\n");
        let (_, ev) = step(&mut s, "250 surprise\r\n");
        assert!(matches!(ev, Event::Failed(SessionFailure::Protocol(_))));
    }

    #[test]
    fn rcpt_421_closes_after_the_transaction() {
        let mut s = ready_plain(StartTlsMode::Never, "250 mx\r\n");
        s.send(tx(&["a@b.example", "c@b.example"], "x")).unwrap();
        s.poll();
        step(&mut s, "250 ok\r\n");
        let (_, ev) = step(&mut s, "421 4.3.2 bye\r\n");
        let Event::Done(r) = ev else { panic!("{ev:?}") };
        assert!(r.recipients.iter().all(|x| x.reply.code == 421));
        assert_eq!(s.poll(), Event::Closed);
    }

    #[test]
    fn replies_split_across_reads() {
        let mut s = cfg(StartTlsMode::Never);
        for b in "220 mx\r\n".bytes() {
            s.feed(&[b]);
            let _ = s.poll();
        }
        assert_eq!(out(&mut s), "EHLO mail.orga.example\r\n");
    }

    #[test]
    fn data_encoding() {
        let mut o = Vec::new();
        encode_data(b".a\r\nb\n.c\rd", &mut o);
        assert_eq!(o, b"..a\r\nb\r\n..c\r\nd\r\n.\r\n");
        let mut o = Vec::new();
        encode_data(b"", &mut o);
        assert_eq!(o, b".\r\n");
        let mut o = Vec::new();
        encode_data(b"x\r\n.\r\n", &mut o);
        assert_eq!(o, b"x\r\n..\r\n.\r\n");
    }

    #[test]
    fn streamed_encoding_is_the_same_at_every_split() {
        let samples: [&[u8]; 5] = [
            b".a\r\nb\n.c\rd",
            b"x\r\n.\r\n..\r\r\n\n\n.",
            b"\r",
            b"no line end",
            b".\r\n.\n.\r.",
        ];
        for m in samples {
            let mut whole = Vec::new();
            encode_data(m, &mut whole);
            for step in 1..=m.len().max(1) {
                let mut e = DataEncoder::new();
                let mut o = Vec::new();
                for piece in m.chunks(step) {
                    e.encode(piece, &mut o);
                }
                e.finish(&mut o);
                assert_eq!(o, whole, "step {step} of {m:?}");
            }
            // every cut in two
            for cut in 0..=m.len() {
                let mut e = DataEncoder::new();
                let mut o = Vec::new();
                e.encode(&m[..cut], &mut o);
                e.encode(&m[cut..], &mut o);
                e.finish(&mut o);
                assert_eq!(o, whole, "cut {cut} of {m:?}");
            }
        }
    }

    #[derive(Debug)]
    struct MemSpool(Vec<u8>);
    impl SpooledBody for MemSpool {
        fn size(&self) -> u64 {
            self.0.len() as u64
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
            let rest = self.0.get(offset as usize..).unwrap_or_default();
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            Ok(n)
        }
    }

    const EHLO_CHUNKING: &str =
        "250-mx.orgb.example\r\n250-8BITMIME\r\n250-CHUNKING\r\n250 BINARYMIME\r\n";

    #[test]
    fn chunking_sends_one_bdat_last_chunk_without_dot_stuffing() {
        let mut s = ready_plain(StartTlsMode::Never, EHLO_CHUNKING);
        assert!(s.extensions().chunking && s.extensions().binary_mime);
        // In memory: line ends made CRLF, no dot-stuffing, no final dot.
        s.send(tx(&["b@orgb.example"], "Subject: x\n\n.dot\r\nend"))
            .unwrap();
        assert_eq!(s.poll(), Event::NeedInput);
        assert_eq!(out(&mut s), "MAIL FROM:<alice@orga.example>\r\n");
        let (o, _) = step(&mut s, "250 ok\r\n");
        assert_eq!(o, "RCPT TO:<b@orgb.example>\r\n");
        let (o, ev) = step(&mut s, "250 ok\r\n");
        assert_eq!(ev, Event::NeedInput);
        assert_eq!(o, "BDAT 23 LAST\r\nSubject: x\r\n\r\n.dot\r\nend");
        let (_, ev) = step(&mut s, "250 2.0.0 queued\r\n");
        let Event::Done(r) = ev else { panic!("{ev:?}") };
        assert!(r.recipients[0].delivered());

        // Spooled and binary: BODY=BINARYMIME, the driver sends the octets.
        let body = b"Content-Type: application/octet-stream\r\n\r\n\x00\n\r.\r\n".to_vec();
        let n = body.len();
        s.send(Transaction {
            sender: "alice@orga.example".into(),
            recipients: vec!["b@orgb.example".into()],
            message: Content::Spooled {
                file: Arc::new(MemSpool(body)),
                eight_bit: false,
                binary: true,
            },
            dsn: DsnRequest::default(),
            smtputf8: false,
            requiretls: false,
        })
        .unwrap();
        assert_eq!(s.poll(), Event::NeedInput);
        assert_eq!(out(&mut s), "RSET\r\n");
        let (o, _) = step(&mut s, "250 ok\r\n");
        assert_eq!(o, "MAIL FROM:<alice@orga.example> BODY=BINARYMIME\r\n");
        let (_, _) = step(&mut s, "250 ok\r\n");
        let (o, ev) = step(&mut s, "250 ok\r\n");
        assert_eq!((o, ev), (format!("BDAT {n} LAST\r\n"), Event::SendChunk));
        s.body_sent().unwrap();
        let (_, ev) = step(&mut s, "554 5.6.0 no thanks\r\n");
        let Event::Done(r) = ev else { panic!("{ev:?}") };
        assert_eq!(r.recipients[0].stage, Stage::DataEnd);
        assert_eq!(r.recipients[0].reply.code, 554);
    }

    #[test]
    fn a_binary_message_is_not_sent_without_binarymime_and_chunking() {
        for ehlo in [
            EHLO,
            "250-mx.orgb.example\r\n250-CHUNKING\r\n250 8BITMIME\r\n",
            "250-mx.orgb.example\r\n250 BINARYMIME\r\n",
        ] {
            let mut s = ready_plain(StartTlsMode::Never, ehlo);
            s.send(Transaction {
                sender: "alice@orga.example".into(),
                recipients: vec!["b@orgb.example".into(), "c@orgb.example".into()],
                message: Content::Spooled {
                    file: Arc::new(MemSpool(b"\x00\x01".to_vec())),
                    eight_bit: true,
                    binary: true,
                },
                dsn: DsnRequest::default(),
                smtputf8: false,
                requiretls: false,
            })
            .unwrap();
            let Event::Done(r) = s.poll() else {
                panic!("not decided locally")
            };
            assert_eq!(out(&mut s), "", "nothing was sent");
            for rr in &r.recipients {
                assert_eq!(rr.stage, Stage::Local);
                assert_eq!(rr.reply.code, 554);
                assert_eq!(rr.reply.enhanced, Some((5, 6, 3)));
            }
        }
    }

    #[test]
    fn a_spooled_message_is_left_to_the_driver_after_354() {
        #[derive(Debug)]
        struct Spool(Vec<u8>);
        impl SpooledBody for Spool {
            fn size(&self) -> u64 {
                self.0.len() as u64
            }
            fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
                let rest = self.0.get(offset as usize..).unwrap_or_default();
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                Ok(n)
            }
        }
        let file = Spool(b"Subject: \xe9t\xe9\r\n\r\n.dot\r\n".to_vec());
        let eight_bit = true;
        let mut s = ready_plain(StartTlsMode::Never, EHLO);
        assert_eq!(s.body_sent(), Err(ClientError::NotSendingBody));
        s.send(Transaction {
            sender: "alice@orga.example".into(),
            recipients: vec!["b@orgb.example".into()],
            message: Content::Spooled {
                file: Arc::new(file),
                eight_bit,
                binary: false,
            },
            dsn: DsnRequest::default(),
            smtputf8: false,
            requiretls: false,
        })
        .unwrap();
        assert_eq!(s.poll(), Event::NeedInput);
        assert_eq!(
            out(&mut s),
            "MAIL FROM:<alice@orga.example> SIZE=22 BODY=8BITMIME\r\n"
        );
        step(&mut s, "250 ok\r\n");
        step(&mut s, "250 ok\r\n");
        let (o, ev) = step(&mut s, "354 go\r\n");
        assert_eq!((o.as_str(), ev), ("", Event::SendBody));
        // the session holds nothing of the message and waits
        assert_eq!(s.poll(), Event::SendBody);
        assert!(!s.has_output());
        s.body_sent().unwrap();
        assert_eq!(s.poll(), Event::NeedInput);
        let (_, ev) = step(&mut s, "250 2.0.0 queued\r\n");
        let Event::Done(r) = ev else { panic!("{ev:?}") };
        assert!(r.recipients[0].delivered());
    }

    fn with_auth(mode: StartTlsMode, require_tls: bool) -> ClientSession {
        ClientSession::new(ClientConfig {
            helo_name: "mail.orga.example".into(),
            starttls: mode,
            loop_detection: false,
            auth: Some(Credentials {
                user: "relay".into(),
                password: "S3cret".into(),
                require_tls,
            }),
        })
    }

    #[test]
    fn base64_as_rfc_4648_writes_it() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), enc);
        }
    }

    #[test]
    fn auth_plain_after_ehlo_then_ready() {
        let mut s = with_auth(StartTlsMode::Never, false);
        let (o, _) = step(&mut s, "220 relay.example ESMTP\r\n");
        assert_eq!(o, "EHLO mail.orga.example\r\n");
        let (o, ev) = step(
            &mut s,
            "250-relay.example\r\n250-AUTH LOGIN PLAIN\r\n250 8BITMIME\r\n",
        );
        // base64("\0relay\0S3cret")
        assert_eq!(o, "AUTH PLAIN AHJlbGF5AFMzY3JldA==\r\n");
        assert_eq!(ev, Event::NeedInput);
        let (_, ev) = step(&mut s, "235 2.7.0 Authentication successful\r\n");
        assert_eq!(ev, Event::Ready);
        // The old `AUTH=` form is read too.
        let e = Extensions::from_ehlo(&"250-x\r\n250 AUTH=PLAIN LOGIN\r\n".parse().unwrap());
        assert_eq!(e.auth, vec!["PLAIN", "LOGIN"]);
        // The password never shows in Debug output.
        assert!(!format!("{:?}", s.config).contains("S3cret"));
    }

    #[test]
    fn the_transcript_has_neither_the_password_nor_the_body() {
        let mut s = with_auth(StartTlsMode::Never, false);
        s.record_transcript();
        step(&mut s, "220 relay.example ESMTP\r\n");
        step(&mut s, "250-relay.example\r\n250 AUTH PLAIN\r\n");
        let (_, ev) = step(&mut s, "235 2.7.0 ok\r\n");
        assert_eq!(ev, Event::Ready);
        s.send(tx(&["bob@b.example"], "Subject: x\r\n\r\nBODY-LINE-42\r\n"))
            .unwrap();
        s.poll();
        out(&mut s);
        step(&mut s, "250 ok\r\n");
        step(&mut s, "250 ok\r\n");
        let (wire, _) = step(&mut s, "354 go\r\n");
        assert!(wire.contains("BODY-LINE-42"));
        step(&mut s, "250 2.0.0 queued\r\n");
        let t = s.take_transcript();
        let text: Vec<String> = t
            .iter()
            .map(|l| format!("{:?} {}", l.direction, l.text))
            .collect();
        let all = text.join("\n");
        assert!(all.contains("Sent AUTH PLAIN ****"), "{all}");
        assert!(!all.contains("AHJlbGF5AFMzY3JldA"), "{all}");
        assert!(!all.contains("BODY-LINE-42"), "{all}");
        assert!(all.contains("Sent DATA"), "{all}");
        assert!(all.contains("Received 354 go"), "{all}");
        assert!(all.contains("Received 250 2.0.0 queued"), "{all}");
        assert!(all.contains("Received 250-relay.example"), "{all}");
    }

    #[test]
    fn auth_failures_end_the_session() {
        let mut s = with_auth(StartTlsMode::Never, false);
        step(&mut s, "220 relay.example ESMTP\r\n");
        step(&mut s, "250-relay.example\r\n250 AUTH PLAIN\r\n");
        let (_, ev) = step(&mut s, "535 5.7.8 Authentication credentials invalid\r\n");
        assert!(matches!(ev, Event::Failed(SessionFailure::AuthRefused(r)) if r.code == 535));
        // Not offered: no password is sent.
        let mut s = with_auth(StartTlsMode::Never, false);
        step(&mut s, "220 relay.example ESMTP\r\n");
        let (o, ev) = step(&mut s, "250-relay.example\r\n250 8BITMIME\r\n");
        assert_eq!(ev, Event::Failed(SessionFailure::AuthNotOffered));
        assert!(!o.contains("AUTH"), "{o}");
        // BasicAuthRequireTLS without TLS: no password in the clear.
        let mut s = with_auth(StartTlsMode::IfOffered, true);
        step(&mut s, "220 relay.example ESMTP\r\n");
        let (o, ev) = step(&mut s, "250-relay.example\r\n250 AUTH PLAIN\r\n");
        assert_eq!(ev, Event::Failed(SessionFailure::AuthNeedsTls));
        assert!(!o.contains("AUTH"), "{o}");
        // Over TLS it authenticates after the second EHLO.
        let mut s = with_auth(StartTlsMode::Required, true);
        step(&mut s, "220 relay.example ESMTP\r\n");
        let (o, _) = step(
            &mut s,
            "250-relay.example\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n",
        );
        assert_eq!(o, "STARTTLS\r\n");
        let (_, ev) = step(&mut s, "220 go ahead\r\n");
        assert_eq!(ev, Event::StartTls);
        s.tls_established().unwrap();
        out(&mut s);
        let (o, _) = step(&mut s, "250-relay.example\r\n250 AUTH PLAIN\r\n");
        assert!(o.starts_with("AUTH PLAIN "), "{o}");
    }
}
