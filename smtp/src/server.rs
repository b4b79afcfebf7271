//! The server side of one SMTP connection, as a sans-IO state machine.
//!
//! # Driving protocol
//! ```text
//! let mut s = Session::new(config, None);       // 220 greeting is queued
//! loop {
//!     let action = s.poll();                     // run as far as possible
//!     write_all(&s.take_output());               // replies, in order
//!     match action {
//!         NeedInput        => { let n = read(&mut buf)?; if n == 0 { break } s.feed(&buf[..n]); }
//!         CheckMail{..}    => s.decide(policy.mail(..))?,   // Domain Security, RequireTLS, ...
//!         CheckRcpt{..}    => s.decide(policy.rcpt(..))?,   // relay permission, recipient limits
//!         MessageData(chunk) => staging.write(&chunk)?,    // to a file, not memory
//!         MessageRefused   => drop(staging),                 // the 5yz is queued
//!         Deliver{envelope}
//!                          => s.decide(match staging.commit(..) {  // durable first,
//!                                 Ok(id) => Verdict::AcceptWith(queued(id)),   // then 250
//!                                 Err(_) => Verdict::Reject(451 ...) })?,
//!         StartTls{..}     => { let tls = handshake(socket)?; s = s.into_tls(facts(tls))?; }
//!         Close            => break,
//!         AwaitingDecision => unreachable in a correct driver (decide first),
//!     }
//! }
//! ```
//! - [`Session::feed`] only buffers; all work happens in [`Session::poll`],
//!   which processes buffered commands one by one (so pipelined commands
//!   are answered in order, RFC 2920) and stops at the first decision the
//!   embedding server must make. Nothing after that command is processed
//!   until [`Session::decide`] is called.
//! - Replies accumulate in an output buffer; [`Session::take_output`] hands
//!   them over. Writing after every `poll` flushes a pipelined batch when the
//!   input runs dry, as RFC 2920 asks.
//! - Policy is never decided here: the session only enforces protocol
//!   rules (sequence, syntax, limits, RequireTLS). What a sender or
//!   recipient may do is answered by the server with a [`Verdict`].
//!
//! # STARTTLS
//! On an accepted `STARTTLS` the session queues `220 2.0.0 Ready to start
//! TLS`, **discards every byte buffered after the STARTTLS line** and every
//! byte fed later (STARTTLS command injection, CVE-2011-0411), and returns
//! [`Action::StartTls`]. After the handshake the server calls
//! [`Session::into_tls`], which consumes the plaintext session and returns
//! a fresh one: no HELO name, no transaction, no buffered input, and EHLO
//! required again. Plaintext state cannot leak across the boundary because
//! the old value no longer exists.
//!
//! # DATA
//! After `354` the bytes go to a [`DataReader`]. The unstuffed message is
//! handed out as it arrives, in [`Action::MessageData`] chunks of at most
//! [`DATA_CHUNK`] octets, so a session holds a bounded amount of the
//! message whatever its size (the server streams the chunks to a staging
//! file). At `CRLF.CRLF` the session either refuses the message (one reply,
//! transaction reset, [`Action::MessageRefused`]: the server discards what
//! it stored) or returns [`Action::Deliver`] with the envelope, after the
//! last chunk. The server makes the message durable and only then answers
//! with [`Verdict::Accept`] / [`Verdict::AcceptWith`], which queues the
//! `250`. Chunks may belong to a message that is refused in the end (a bare
//! LF after the first chunk); nothing is delivered before `Deliver`.
//!
//! # BDAT (RFC 3030 CHUNKING)
//! `BDAT <n> [LAST]` is followed by exactly `n` octets of message data.
//! Those octets are read by count and are **never** looked at as commands
//! or as an end of data: `\r\n.\r\n` or `QUIT\r\n` inside a chunk is message
//! content, and the first octet after the chunk is read as the next
//! command (pipelined commands work as usual). Every well-formed BDAT's
//! octets are consumed, also when the command is refused (no transaction,
//! message too large, CHUNKING disabled): the rest of a refused message's
//! chunks is read and discarded, answered `503`, never executed. A BDAT line
//! whose size cannot be read (`501`) closes the session, as its octets
//! could not be told from commands.
//!
//! Chunks are handed out like DATA's ([`Action::MessageData`], at most
//! [`DATA_CHUNK`] octets), without dot-unstuffing; each chunk but the last
//! is answered `250` once read. After `BDAT LAST` the session returns
//! [`Action::Deliver`] and the `250` waits for the server's verdict, as
//! after DATA: durable before the final reply.
//!
//! Limits and checks, the same as DATA's:
//! - size: the declared chunk sizes are added up as each BDAT arrives; the
//!   chunk that would pass `max_message_size` is refused at once with
//!   `552 5.3.4` (not after the last chunk), the transaction is dropped and
//!   its octets and those of any further chunk are discarded.
//! - bare CR / bare LF: without `BODY=BINARYMIME` the content must be
//!   CRLF text, as with DATA (a CRLF may span two chunks). A bare CR or LF
//!   refuses the whole message with `550 5.6.11`, in reply to the chunk it
//!   was found in; the message is never split or repaired. Text lines are
//!   limited to 1000 octets with CRLF (`500 5.5.6`), as with DATA.
//! - `BODY=BINARYMIME` (RFC 3030 section 3): any octets, no line rules,
//!   only through BDAT (`DATA` after it is `503 5.5.1`).
//! - `DATA` after a BDAT chunk in the same transaction is `503 5.5.1`
//!   (the transaction stays; RSET clears it).
//!
//! A transaction that had chunks handed out and ends without a delivery
//! (RSET, EHLO, STARTTLS, a refused chunk) is announced with
//! [`Action::MessageRefused`]: the server discards what it stored.

use std::sync::Arc;

use super::command::{
    Body, Command, ForwardPath, MAX_COMMAND_LINE, MailParams, Mailbox, ParseError, RcptParams,
    ReversePath, parse_command,
};
use super::data::{DataError, DataReader, MAX_TEXT_LINE};
use super::reply::Reply;
use super::transcript::{Direction, Transcript, TranscriptLine};

/// Static settings of a session, compiled from a receive connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our FQDN: in the greeting, the EHLO reply and `<postmaster>`.
    pub hostname: String,
    /// Greeting text after `220 ` (a leading `220 ` is tolerated and
    /// removed, as Exchange banners include it). `None`: a default text.
    pub banner: Option<String>,
    /// Largest message accepted, in octets (advertised as `SIZE`).
    pub max_message_size: u64,
    /// Most recipients per transaction (`452 4.5.3` beyond).
    pub max_recipients: usize,
    /// Whether STARTTLS is offered (a certificate was selected).
    pub offer_starttls: bool,
    /// RequireTLS: MAIL is refused with `530 5.7.0` until TLS is active.
    pub require_tls: bool,
    /// After this many protocol errors the session answers `421` and
    /// closes. 0 disables the limit.
    pub max_errors: u32,
    /// RequireEHLODomain: HELO/EHLO must name a domain; an address
    /// literal (`[192.0.2.1]`) is refused with `501 5.5.4`.
    pub require_ehlo_domain: bool,
    /// ChunkingEnabled: `CHUNKING` is advertised and BDAT accepted
    /// (RFC 3030). Without it BDAT is answered `502` (its octets are still
    /// read and discarded).
    pub chunking: bool,
    /// BinaryMimeEnabled: `BINARYMIME` is advertised and `BODY=BINARYMIME`
    /// accepted (only together with `chunking`).
    pub binary_mime: bool,
    /// RequireTlsExtensionEnabled: `REQUIRETLS` (RFC 8689 2) is advertised
    /// in the EHLO reply of a TLS session (never before STARTTLS) and the
    /// MAIL parameter accepted there; in plaintext it is refused with
    /// `530 5.7.10`, and where the extension is off with `555 5.5.4`.
    pub requiretls: bool,
}

impl SessionConfig {
    /// Defaults close to Exchange's: 36 MB, 500 recipients, STARTTLS
    /// offered, TLS not required, 20 errors.
    pub fn new(hostname: impl Into<String>) -> Self {
        SessionConfig {
            hostname: hostname.into(),
            banner: None,
            max_message_size: 36 * 1024 * 1024,
            max_recipients: 500,
            offer_starttls: true,
            require_tls: false,
            max_errors: 20,
            require_ehlo_domain: false,
            chunking: true,
            binary_mime: true,
            requiretls: true,
        }
    }
}

/// What the TLS layer established, as facts the policy decides on and the
/// tracking log / Received header record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TlsFacts {
    /// e.g. `TLSv1.3`.
    pub protocol: String,
    /// e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher: String,
    /// The server name the client asked for (SNI), if any.
    pub sni: Option<String>,
    /// The client certificate, when one was presented.
    pub client_certificate: Option<ClientCertificate>,
}

/// Facts about a presented client certificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientCertificate {
    pub subject: String,
    pub issuer: String,
    /// SHA-1 thumbprint, upper-case hex.
    pub thumbprint: String,
    /// SAN DNS names only (a CN-only certificate names no domain).
    pub names: Vec<String>,
    /// The chain verified to a trusted root (and the certificate is for
    /// client authentication).
    pub chain_verified: bool,
    /// The chain verified to a trusted root, but the certificate has no
    /// clientAuth extended key usage (serverAuth only): it authenticates
    /// a partner only where the administrator opted in.
    #[serde(default)]
    pub server_auth_only: bool,
    /// The certificate is one of this organization's own (Direct Trust).
    pub direct_trust: bool,
}

/// The envelope of a received message, as the session saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The EHLO/HELO name.
    pub helo: String,
    /// True after EHLO, false after HELO.
    pub esmtp: bool,
    pub mail_from: ReversePath,
    pub params: MailParams,
    /// Accepted recipients, in order (`<postmaster>` resolved to
    /// `postmaster@<hostname>`).
    pub rcpt_to: Vec<Mailbox>,
    /// The DSN parameters of each recipient (RFC 3461), in the order and
    /// number of `rcpt_to`.
    pub rcpt_params: Vec<RcptParams>,
    /// TLS facts when the message came over TLS.
    pub tls: Option<TlsFacts>,
}

/// What the session needs from the embedding server after [`Session::poll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// All buffered input is processed: write the output, read, `feed`.
    NeedInput,
    /// Decide whether this sender may send (Domain Security is decided
    /// here); answer with [`Session::decide`].
    CheckMail {
        from: ReversePath,
        params: MailParams,
    },
    /// Decide whether this recipient is accepted (relay permission);
    /// answer with [`Session::decide`].
    CheckRcpt { to: Mailbox },
    /// The next unstuffed octets of the message being received (at most
    /// [`DATA_CHUNK`]): store them after the previous ones, then `poll`
    /// again. No decision is asked.
    MessageData(Vec<u8>),
    /// The message being received is refused (its reply is queued):
    /// discard every [`Action::MessageData`] chunk of it, then `poll` again.
    MessageRefused,
    /// Every chunk of the message has been handed out: make the message
    /// durable, then answer with [`Session::decide`].
    Deliver { envelope: Box<Envelope> },
    /// Write the output (the `220`), run the TLS handshake, then call
    /// [`Session::into_tls`]. `discarded` plaintext octets followed the
    /// STARTTLS line (non-zero means an injection attempt: log it).
    StartTls { discarded: usize },
    /// Write the output, then close the connection.
    Close,
    /// A decision is outstanding: call [`Session::decide`] first.
    AwaitingDecision,
}

/// The server's answer to a pending decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accept with the standard reply.
    Accept,
    /// Accept with this (2yz) reply, e.g. `250 2.0.0 Queued as <id>`.
    AcceptWith(Reply),
    /// Refuse with this (4yz/5yz) reply. A `421` also closes the session.
    Reject(Reply),
}

/// API misuse by the embedding server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("no decision is pending")]
    NoDecisionPending,
    #[error("an accepting verdict needs a 2yz reply and a rejecting one a 4yz/5yz reply")]
    InconsistentVerdict,
    #[error("the session is not waiting for a TLS handshake")]
    NotAwaitingTls,
    #[error("the output (the 220 reply) must be written before the TLS handshake")]
    UnflushedOutput,
}

#[derive(Debug)]
struct Transaction {
    from: ReversePath,
    params: MailParams,
    rcpts: Vec<Mailbox>,
    rcpt_params: Vec<RcptParams>,
    /// The message so far when it comes in BDAT chunks.
    chunked: Option<Chunked>,
}

/// A message arriving in BDAT chunks, across its chunks.
#[derive(Debug, Default)]
struct Chunked {
    /// The declared sizes of its chunks so far.
    size: u64,
    /// Some of it was handed out ([`Action::MessageData`]).
    handed_out: bool,
    /// The last octet was a CR (its LF may start the next chunk).
    cr: bool,
    /// Octets of the current text line.
    line_len: usize,
}

impl Chunked {
    /// Checks the next octets of a text (not BINARYMIME) message: CRLF
    /// line ends only, lines of at most 1000 octets with CRLF.
    fn check_text(&mut self, bytes: &[u8]) -> Result<(), DataError> {
        let mut i = 0;
        while i < bytes.len() {
            if std::mem::take(&mut self.cr) {
                if bytes[i] != b'\n' {
                    return Err(DataError::BareCrLf);
                }
                self.line_len = 0;
                i += 1;
                continue;
            }
            let rest = &bytes[i..];
            let run = rest
                .iter()
                .position(|&c| c == b'\r' || c == b'\n')
                .unwrap_or(rest.len());
            self.line_len += run;
            if self.line_len > MAX_TEXT_LINE - 2 {
                return Err(DataError::LineTooLong);
            }
            i += run;
            match bytes.get(i) {
                Some(b'\r') => {
                    self.cr = true;
                    i += 1;
                }
                Some(_) => return Err(DataError::BareCrLf),
                None => {}
            }
        }
        Ok(())
    }
}

/// The BDAT chunk being read.
#[derive(Debug)]
struct BdatChunk {
    /// Octets of the chunk not yet read.
    remaining: u64,
    last: bool,
    /// The chunk belongs to the transaction's message (false: its octets
    /// are discarded, its reply is already queued).
    keep: bool,
    /// Read octets not yet handed out.
    pending: Vec<u8>,
    /// Why the message is refused, once known (nothing more is kept).
    refusal: Option<DataError>,
}

impl BdatChunk {
    fn discard(size: u64) -> Self {
        BdatChunk {
            remaining: size,
            last: false,
            keep: false,
            pending: Vec::new(),
            refusal: None,
        }
    }
}

#[derive(Debug)]
enum Mode {
    Command,
    Data(DataReader),
    Bdat(BdatChunk),
    StartTls { discarded: usize },
    Closed,
}

#[derive(Debug)]
enum Pending {
    Mail {
        from: ReversePath,
        params: MailParams,
    },
    Rcpt(Mailbox, RcptParams),
    Deliver,
}

/// The largest [`Action::MessageData`] chunk: what a session holds of a
/// message being received, besides its input buffer.
pub const DATA_CHUNK: usize = 64 * 1024;

/// Compact the input buffer once this many consumed octets lie before the
/// read position.
const COMPACT_AT: usize = 8 * 1024;

/// One SMTP server session. See the module documentation for the driving
/// protocol.
#[derive(Debug)]
pub struct Session {
    config: Arc<SessionConfig>,
    tls: Option<TlsFacts>,
    input: Vec<u8>,
    pos: usize,
    output: Vec<u8>,
    helo: Option<(String, bool)>,
    txn: Option<Transaction>,
    mode: Mode,
    pending: Option<Pending>,
    discarding_line: bool,
    errors: u32,
    transcript: Transcript,
}

impl Session {
    /// A new session; the `220` greeting is queued. `tls` is `Some` for an
    /// implicit-TLS listener (the handshake already happened), in which case
    /// STARTTLS is not offered.
    pub fn new(config: Arc<SessionConfig>, tls: Option<TlsFacts>) -> Self {
        let text = match &config.banner {
            Some(b) => b.strip_prefix("220 ").unwrap_or(b).to_string(),
            None => format!("{} ESMTP xshell-transport ready", config.hostname),
        };
        let mut s = Session::fresh(config, tls, 0);
        s.reply(&Reply::plain(220, text));
        s
    }

    fn fresh(config: Arc<SessionConfig>, tls: Option<TlsFacts>, errors: u32) -> Self {
        Session {
            config,
            tls,
            input: Vec::new(),
            pos: 0,
            output: Vec::new(),
            helo: None,
            txn: None,
            mode: Mode::Command,
            pending: None,
            discarding_line: false,
            errors,
            transcript: Transcript::default(),
        }
    }

    /// The configuration this session runs with.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// TLS facts, when TLS is active.
    pub fn tls(&self) -> Option<&TlsFacts> {
        self.tls.as_ref()
    }

    /// The EHLO/HELO name, once given.
    pub fn helo(&self) -> Option<&str> {
        self.helo.as_ref().map(|(h, _)| h.as_str())
    }

    /// The sender of the current transaction.
    pub fn sender(&self) -> Option<&ReversePath> {
        self.txn.as_ref().map(|t| &t.from)
    }

    /// Recipients accepted so far in the current transaction.
    pub fn recipients(&self) -> &[Mailbox] {
        self.txn.as_ref().map_or(&[], |t| t.rcpts.as_slice())
    }

    /// True once the session has closed (after QUIT, a 421, or
    /// [`Session::abort`]).
    pub fn is_closed(&self) -> bool {
        matches!(self.mode, Mode::Closed)
    }

    /// Buffers bytes received from the client. During a STARTTLS handoff or
    /// after close, bytes are discarded.
    pub fn feed(&mut self, bytes: &[u8]) {
        match &mut self.mode {
            Mode::StartTls { discarded } => *discarded += bytes.len(),
            Mode::Closed => {}
            Mode::Command | Mode::Data(_) | Mode::Bdat(_) => self.input.extend_from_slice(bytes),
        }
    }

    /// Octets of client input and message data the session holds now
    /// (input not yet processed plus message data not yet handed out).
    pub fn buffered(&self) -> usize {
        let pending = match &self.mode {
            Mode::Data(reader) => reader.pending_len(),
            Mode::Bdat(chunk) => chunk.pending.len(),
            _ => 0,
        };
        self.input.len() + pending
    }

    /// Takes the replies queued so far (to be written in order).
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// True when replies are waiting to be written.
    pub fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    /// Ends the session with a final reply (e.g. `421 4.4.2 timeout` or a
    /// shutdown notice). Any pending decision is dropped.
    pub fn abort(&mut self, reply: &Reply) {
        if !self.is_closed() {
            self.reply(reply);
        }
        self.pending = None;
        self.close();
    }

    /// Runs the session over the buffered input until it needs something
    /// from the server.
    pub fn poll(&mut self) -> Action {
        loop {
            if self.pending.is_some() {
                return Action::AwaitingDecision;
            }
            match &mut self.mode {
                Mode::Closed => return Action::Close,
                Mode::StartTls { discarded } => {
                    return Action::StartTls {
                        discarded: *discarded,
                    };
                }
                Mode::Data(reader) => {
                    let pending = reader.pending_len();
                    if pending >= DATA_CHUNK - 1 || (reader.is_done() && pending > 0) {
                        return Action::MessageData(reader.take_pending());
                    }
                    if !reader.is_done() {
                        // A feed's output is at most one octet longer than
                        // its input: the chunk stays within DATA_CHUNK.
                        let room = DATA_CHUNK - 1 - pending;
                        let end = self.input.len().min(self.pos.saturating_add(room));
                        let n = reader.feed(&self.input[self.pos..end]);
                        self.pos += n;
                        if reader.is_done() || self.pos < self.input.len() {
                            continue;
                        }
                        self.compact();
                        return Action::NeedInput;
                    }
                    let Mode::Data(reader) = std::mem::replace(&mut self.mode, Mode::Command)
                    else {
                        continue;
                    };
                    match (reader.finish(), self.envelope()) {
                        (Ok(_), Some(envelope)) => {
                            // Nothing is pending: taken just above.
                            self.pending = Some(Pending::Deliver);
                            return Action::Deliver {
                                envelope: Box::new(envelope),
                            };
                        }
                        (Err(e), _) => {
                            self.txn = None;
                            self.reply(&e.reply());
                            return Action::MessageRefused;
                        }
                        (Ok(_), None) => {
                            // DATA is only entered with a HELO name and a
                            // transaction; never reached.
                            self.txn = None;
                            self.reply(&Reply::new(451, (4, 3, 0), "Internal error"));
                            return Action::MessageRefused;
                        }
                    }
                }
                Mode::Bdat(chunk) => {
                    if chunk.pending.len() >= DATA_CHUNK
                        || (chunk.remaining == 0 && !chunk.pending.is_empty())
                    {
                        if let Some(c) = self.txn.as_mut().and_then(|t| t.chunked.as_mut()) {
                            c.handed_out = true;
                        }
                        return Action::MessageData(std::mem::take(&mut chunk.pending));
                    }
                    if chunk.remaining > 0 {
                        let available = self.input.len() - self.pos;
                        if available == 0 {
                            self.compact();
                            return Action::NeedInput;
                        }
                        let n = available
                            .min(DATA_CHUNK - chunk.pending.len())
                            .min(usize::try_from(chunk.remaining).unwrap_or(usize::MAX));
                        let bytes = &self.input[self.pos..self.pos + n];
                        self.pos += n;
                        chunk.remaining -= n as u64;
                        if chunk.keep && chunk.refusal.is_none() {
                            let binary = self
                                .txn
                                .as_ref()
                                .is_some_and(|t| t.params.body == Some(Body::BinaryMime));
                            let checked = match self.txn.as_mut().and_then(|t| t.chunked.as_mut()) {
                                Some(c) if !binary => c.check_text(bytes),
                                _ => Ok(()),
                            };
                            match checked {
                                Ok(()) => chunk.pending.extend_from_slice(bytes),
                                Err(e) => {
                                    chunk.refusal = Some(e);
                                    chunk.pending = Vec::new();
                                }
                            }
                        }
                        continue;
                    }
                    let Mode::Bdat(chunk) = std::mem::replace(&mut self.mode, Mode::Command) else {
                        continue;
                    };
                    if let Some(action) = self.end_chunk(chunk) {
                        return action;
                    }
                }
                Mode::Command => match self.next_line() {
                    None => {
                        self.compact();
                        return Action::NeedInput;
                    }
                    Some(parsed) => {
                        if let Some(action) = self.handle(parsed) {
                            return action;
                        }
                    }
                },
            }
        }
    }

    /// Answers the pending decision.
    pub fn decide(&mut self, verdict: Verdict) -> Result<(), SessionError> {
        let consistent = match &verdict {
            Verdict::Accept => true,
            Verdict::AcceptWith(r) => r.is_positive(),
            Verdict::Reject(r) => r.is_transient() || r.is_permanent(),
        };
        if !consistent {
            return Err(SessionError::InconsistentVerdict);
        }
        let pending = self.pending.take().ok_or(SessionError::NoDecisionPending)?;
        let custom = match verdict {
            Verdict::Accept => None,
            Verdict::AcceptWith(r) => Some(r),
            Verdict::Reject(r) => {
                if matches!(pending, Pending::Deliver) {
                    self.txn = None;
                }
                self.reply(&r);
                if r.code == 421 {
                    self.close();
                }
                return Ok(());
            }
        };
        let standard = match pending {
            Pending::Mail { from, params } => {
                self.txn = Some(Transaction {
                    from,
                    params,
                    rcpts: Vec::new(),
                    chunked: None,
                    rcpt_params: Vec::new(),
                });
                Reply::new(250, (2, 1, 0), "Sender OK")
            }
            Pending::Rcpt(mb, params) => {
                if let Some(t) = self.txn.as_mut() {
                    t.rcpts.push(mb);
                    t.rcpt_params.push(params);
                }
                Reply::new(250, (2, 1, 5), "Recipient OK")
            }
            Pending::Deliver => {
                self.txn = None;
                Reply::new(250, (2, 0, 0), "Message accepted for delivery")
            }
        };
        self.reply(&custom.unwrap_or(standard));
        Ok(())
    }

    /// Consumes the session after the TLS handshake that followed
    /// [`Action::StartTls`] and returns the post-TLS session: EHLO is
    /// required again, nothing from before survives but the configuration
    /// (and the error count).
    pub fn into_tls(self, facts: TlsFacts) -> Result<Session, SessionError> {
        if !matches!(self.mode, Mode::StartTls { .. }) {
            return Err(SessionError::NotAwaitingTls);
        }
        if !self.output.is_empty() {
            return Err(SessionError::UnflushedOutput);
        }
        let mut s = Session::fresh(self.config, Some(facts), self.errors);
        s.transcript = self.transcript;
        Ok(s)
    }

    /// Starts keeping a transcript (for a protocol log): every command
    /// line received and every reply line sent from now on (and the
    /// greeting when it was not taken yet), but never
    /// message content; an AUTH line loses its response.
    pub fn record_transcript(&mut self) {
        if !self.transcript.is_enabled() {
            self.transcript.enable();
            // The greeting, queued by `new` and not yet written.
            self.transcript.reply_wire(Direction::Sent, &self.output);
        }
    }

    /// The transcript lines recorded since the last call.
    pub fn take_transcript(&mut self) -> Vec<TranscriptLine> {
        self.transcript.take()
    }

    // ---- internals ----

    fn reply(&mut self, r: &Reply) {
        if self.transcript.is_enabled() {
            let mut wire = Vec::new();
            r.write_to(&mut wire);
            self.transcript.reply_wire(Direction::Sent, &wire);
            self.output.extend_from_slice(&wire);
        } else {
            r.write_to(&mut self.output);
        }
    }

    fn close(&mut self) {
        self.mode = Mode::Closed;
        self.input = Vec::new();
        self.pos = 0;
        self.txn = None;
    }

    /// Ends the transaction (RSET, EHLO, STARTTLS, a refused chunk); true
    /// when chunks of its message were handed out, which the server must
    /// now discard ([`Action::MessageRefused`]).
    fn end_transaction(&mut self) -> bool {
        self.txn
            .take()
            .and_then(|t| t.chunked)
            .is_some_and(|c| c.handed_out)
    }

    /// A BDAT chunk has been read (and handed out): its reply, or the
    /// message's delivery after the last one.
    fn end_chunk(&mut self, chunk: BdatChunk) -> Option<Action> {
        if !chunk.keep {
            // Refused when the command arrived; its reply is queued.
            return None;
        }
        let binary = self
            .txn
            .as_ref()
            .is_some_and(|t| t.params.body == Some(Body::BinaryMime));
        let mut refusal = chunk.refusal;
        if chunk.last && refusal.is_none() && !binary {
            // A message ending in a bare CR.
            if self
                .txn
                .as_ref()
                .and_then(|t| t.chunked.as_ref())
                .is_some_and(|c| c.cr)
            {
                refusal = Some(DataError::BareCrLf);
            }
        }
        if let Some(e) = refusal {
            self.txn = None;
            self.reply(&e.reply());
            return Some(Action::MessageRefused);
        }
        if !chunk.last {
            let size = self
                .txn
                .as_ref()
                .and_then(|t| t.chunked.as_ref())
                .map_or(0, |c| c.size);
            self.reply(&Reply::new(
                250,
                (2, 0, 0),
                format!("{size} octets received"),
            ));
            return None;
        }
        match self.envelope() {
            Some(envelope) => {
                self.pending = Some(Pending::Deliver);
                Some(Action::Deliver {
                    envelope: Box::new(envelope),
                })
            }
            None => {
                // BDAT is only kept within a transaction; never reached.
                self.txn = None;
                self.reply(&Reply::new(451, (4, 3, 0), "Internal error"));
                Some(Action::MessageRefused)
            }
        }
    }

    fn compact(&mut self) {
        if self.pos == self.input.len() {
            self.input.clear();
            self.pos = 0;
        } else if self.pos >= COMPACT_AT && self.pos * 2 >= self.input.len() {
            self.input.drain(..self.pos);
            self.pos = 0;
        }
    }

    /// The envelope of the current transaction (HELO name, sender,
    /// recipients accepted so far, TLS facts), once there is one.
    pub fn envelope(&self) -> Option<Envelope> {
        let (helo, esmtp) = self.helo.clone()?;
        let t = self.txn.as_ref()?;
        Some(Envelope {
            helo,
            esmtp,
            mail_from: t.from.clone(),
            params: t.params.clone(),
            rcpt_to: t.rcpts.clone(),
            rcpt_params: t.rcpt_params.clone(),
            tls: self.tls.clone(),
        })
    }

    /// Takes the next complete command line from the input and parses it.
    /// Over-long lines are discarded up to their end and answered once.
    fn next_line(&mut self) -> Option<Result<Command, ParseError>> {
        loop {
            let rest = &self.input[self.pos..];
            let lf = rest.iter().position(|&b| b == b'\n');
            if self.discarding_line {
                match lf {
                    Some(i) => {
                        self.pos += i + 1;
                        self.discarding_line = false;
                        return Some(Err(ParseError::LineTooLong));
                    }
                    None => {
                        self.pos = self.input.len();
                        return None;
                    }
                }
            }
            match lf {
                Some(i) => {
                    let line = &rest[..=i];
                    self.transcript.command(Direction::Received, line);
                    let result = if line.len() > MAX_COMMAND_LINE {
                        Err(ParseError::LineTooLong)
                    } else if !line.ends_with(b"\r\n") {
                        Err(ParseError::BareLf)
                    } else {
                        parse_command(line)
                    };
                    self.pos += i + 1;
                    return Some(result);
                }
                None if rest.len() >= MAX_COMMAND_LINE => {
                    // Cannot become a valid line: drop it and keep dropping
                    // until its end.
                    self.discarding_line = true;
                    self.pos = self.input.len();
                    continue;
                }
                None => return None,
            }
        }
    }

    /// A protocol error: reply, count, maybe close.
    fn error(&mut self, r: &Reply) -> Option<Action> {
        self.reply(r);
        self.errors = self.errors.saturating_add(1);
        if self.config.max_errors > 0 && self.errors >= self.config.max_errors {
            let bye = Reply::new(
                421,
                (4, 7, 0),
                format!(
                    "{} Too many errors, closing connection",
                    self.config.hostname
                ),
            );
            self.reply(&bye);
            self.close();
            return Some(Action::Close);
        }
        None
    }

    fn sequence_error(&mut self, text: &str) -> Option<Action> {
        self.error(&Reply::new(503, (5, 5, 1), text))
    }

    fn handle(&mut self, parsed: Result<Command, ParseError>) -> Option<Action> {
        let cmd = match parsed {
            Ok(c) => c,
            Err(ParseError::InvalidBdat) => {
                // The chunk size is unknown: what follows cannot be told
                // from commands. Answer and close (never read it).
                self.reply(&ParseError::InvalidBdat.reply());
                self.close();
                return Some(Action::Close);
            }
            Err(e) => return self.error(&e.reply()),
        };
        match cmd {
            Command::Ehlo(name) | Command::Helo(name)
                if self.config.require_ehlo_domain && name.starts_with('[') =>
            {
                self.error(&Reply::new(
                    501,
                    (5, 5, 4),
                    "A domain name is required in EHLO/HELO, not an address literal",
                ))
            }
            Command::Ehlo(name) => {
                let abandoned = self.end_transaction();
                let mut lines = vec![
                    format!("{} Hello {name}", self.config.hostname),
                    "PIPELINING".to_string(),
                    format!("SIZE {}", self.config.max_message_size),
                    "8BITMIME".to_string(),
                    // RFC 3461: NOTIFY/ORCPT on RCPT, RET/ENVID on MAIL.
                    "DSN".to_string(),
                    "ENHANCEDSTATUSCODES".to_string(),
                    // RFC 6531 3.1: UTF-8 addresses and header fields.
                    "SMTPUTF8".to_string(),
                ];
                // RFC 3030: BINARYMIME needs CHUNKING (BDAT).
                if self.config.chunking {
                    lines.push("CHUNKING".to_string());
                    if self.config.binary_mime {
                        lines.push("BINARYMIME".to_string());
                    }
                }
                if self.config.offer_starttls && self.tls.is_none() {
                    lines.push("STARTTLS".to_string());
                }
                // RFC 8689 2: only in a session that uses TLS.
                if self.config.requiretls && self.tls.is_some() {
                    lines.push("REQUIRETLS".to_string());
                }
                self.helo = Some((name, true));
                self.reply(&Reply::multiline(250, lines));
                abandoned.then_some(Action::MessageRefused)
            }
            Command::Helo(name) => {
                let abandoned = self.end_transaction();
                self.helo = Some((name, false));
                let text = self.config.hostname.clone();
                self.reply(&Reply::plain(250, text));
                abandoned.then_some(Action::MessageRefused)
            }
            Command::Mail { from, params } => {
                let Some((_, esmtp)) = &self.helo else {
                    return self.sequence_error("Send EHLO/HELO first");
                };
                if self.config.require_tls && self.tls.is_none() {
                    self.reply(&Reply::new(
                        530,
                        (5, 7, 0),
                        "Must issue a STARTTLS command first",
                    ));
                    return None;
                }
                if self.txn.is_some() {
                    return self.sequence_error("Sender already specified");
                }
                if !esmtp && !params.is_empty() {
                    return self.error(&Reply::new(
                        555,
                        (5, 5, 4),
                        "MAIL parameters are not allowed after HELO",
                    ));
                }
                if params.requiretls && !self.config.requiretls {
                    return self.error(&Reply::new(
                        555,
                        (5, 5, 4),
                        "REQUIRETLS is not supported here",
                    ));
                }
                if params.requiretls && self.tls.is_none() {
                    // RFC 8689 2: REQUIRETLS only in a session using TLS;
                    // 5.7.10 "Encryption needed" (RFC 5248 registry).
                    return self.error(&Reply::new(
                        530,
                        (5, 7, 10),
                        "REQUIRETLS needs a TLS session: issue STARTTLS first",
                    ));
                }
                if params.body == Some(Body::BinaryMime)
                    && !(self.config.chunking && self.config.binary_mime)
                {
                    return self.error(&Reply::new(
                        555,
                        (5, 5, 4),
                        "BODY=BINARYMIME is not supported here",
                    ));
                }
                if params
                    .size
                    .is_some_and(|n| n > self.config.max_message_size)
                {
                    self.reply(&Reply::new(
                        552,
                        (5, 3, 4),
                        "Message size exceeds fixed maximum message size",
                    ));
                    return None;
                }
                self.pending = Some(Pending::Mail {
                    from: from.clone(),
                    params: params.clone(),
                });
                Some(Action::CheckMail { from, params })
            }
            Command::Rcpt { to, params } => {
                let Some(t) = &self.txn else {
                    return self.sequence_error("Need MAIL before RCPT");
                };
                if !self.helo.as_ref().is_some_and(|(_, esmtp)| *esmtp) && !params.is_empty() {
                    return self.error(&Reply::new(
                        555,
                        (5, 5, 4),
                        "RCPT parameters are not allowed after HELO",
                    ));
                }
                if t.rcpts.len() >= self.config.max_recipients {
                    self.reply(&Reply::new(452, (4, 5, 3), "Too many recipients"));
                    return None;
                }
                let mb = match to {
                    // RFC 6531 3.5: 553 5.6.7 for a non-ASCII recipient in a
                    // transaction that did not ask for SMTPUTF8.
                    ForwardPath::Mailbox(m) if !m.is_ascii() && !t.params.smtputf8 => {
                        return self.error(&ParseError::NeedsSmtpUtf8 { sender: false }.reply());
                    }
                    ForwardPath::Mailbox(m) => m,
                    ForwardPath::Postmaster => Mailbox {
                        local_part: "postmaster".into(),
                        domain: self.config.hostname.to_ascii_lowercase(),
                    },
                };
                self.pending = Some(Pending::Rcpt(mb.clone(), params));
                Some(Action::CheckRcpt { to: mb })
            }
            Command::Data => {
                match &self.txn {
                    None => return self.sequence_error("Need MAIL command"),
                    Some(t) if t.rcpts.is_empty() => {
                        return self.sequence_error("Need RCPT command (no valid recipients)");
                    }
                    // RFC 3030 section 2: DATA and BDAT cannot be mixed in
                    // one transaction; section 3: BINARYMIME needs BDAT.
                    Some(t) if t.chunked.is_some() => {
                        return self
                            .sequence_error("DATA not allowed after BDAT, use BDAT or RSET");
                    }
                    Some(t) if t.params.body == Some(Body::BinaryMime) => {
                        return self.sequence_error("BODY=BINARYMIME requires BDAT, not DATA");
                    }
                    Some(_) => {}
                }
                self.reply(&Reply::plain(
                    354,
                    "Start mail input; end with <CRLF>.<CRLF>",
                ));
                self.mode = Mode::Data(DataReader::new(self.config.max_message_size));
                None
            }
            Command::Bdat { size, last } => self.bdat(size, last),
            Command::Rset => {
                let abandoned = self.end_transaction();
                self.reply(&Reply::new(250, (2, 0, 0), "OK"));
                abandoned.then_some(Action::MessageRefused)
            }
            Command::Noop => {
                self.reply(&Reply::new(250, (2, 0, 0), "OK"));
                None
            }
            Command::Quit => {
                let text = format!("{} closing connection", self.config.hostname);
                self.reply(&Reply::new(221, (2, 0, 0), text));
                self.close();
                Some(Action::Close)
            }
            Command::Vrfy(_) => {
                self.reply(&Reply::new(
                    252,
                    (2, 5, 0),
                    "Cannot VRFY user, but will accept message and attempt delivery",
                ));
                None
            }
            Command::Expn(_) => {
                self.reply(&Reply::new(502, (5, 5, 1), "EXPN not available"));
                None
            }
            Command::Help(_) => {
                self.reply(&Reply {
                    code: 214,
                    enhanced: Some((2, 0, 0)),
                    lines: vec![
                        "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS"
                            .into(),
                        "End of HELP info".into(),
                    ],
                });
                None
            }
            Command::StartTls => {
                if self.tls.is_some() {
                    return self.sequence_error("TLS already active");
                }
                if !self.config.offer_starttls {
                    return self.error(&Reply::new(502, (5, 5, 1), "STARTTLS not available"));
                }
                if self.helo.is_none() {
                    return self.sequence_error("Send EHLO first");
                }
                self.reply(&Reply::new(220, (2, 0, 0), "Ready to start TLS"));
                let discarded = self.input.len() - self.pos;
                self.input = Vec::new();
                self.pos = 0;
                let abandoned = self.end_transaction();
                self.mode = Mode::StartTls { discarded };
                if abandoned {
                    // The next poll returns StartTls.
                    return Some(Action::MessageRefused);
                }
                Some(Action::StartTls { discarded })
            }
        }
    }

    /// `BDAT <size> [LAST]`: its octets are read in every case (see the
    /// module docs); the reply comes after them unless refused now.
    fn bdat(&mut self, size: u64, last: bool) -> Option<Action> {
        if !self.config.chunking {
            self.mode = Mode::Bdat(BdatChunk::discard(size));
            return self.error(&Reply::new(502, (5, 5, 1), "BDAT not available"));
        }
        let so_far = match &self.txn {
            None => {
                self.mode = Mode::Bdat(BdatChunk::discard(size));
                return self.sequence_error("Need MAIL command");
            }
            Some(t) if t.rcpts.is_empty() => {
                self.mode = Mode::Bdat(BdatChunk::discard(size));
                return self.sequence_error("Need RCPT command (no valid recipients)");
            }
            Some(t) => t.chunked.as_ref().map_or(0, |c| c.size),
        };
        let total = so_far.saturating_add(size);
        if total > self.config.max_message_size {
            // RFC 3030 section 2 / RFC 1870: refused at this chunk; the
            // transaction ends and this and later chunks are discarded.
            self.mode = Mode::Bdat(BdatChunk::discard(size));
            let abandoned = self.end_transaction();
            self.reply(&DataError::TooBig.reply());
            return abandoned.then_some(Action::MessageRefused);
        }
        if let Some(t) = self.txn.as_mut() {
            t.chunked.get_or_insert_with(Chunked::default).size = total;
        }
        self.mode = Mode::Bdat(BdatChunk {
            remaining: size,
            last,
            keep: true,
            pending: Vec::new(),
            refusal: None,
        });
        None
    }
}
