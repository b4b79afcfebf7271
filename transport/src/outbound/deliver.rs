//! The connection driver: connects to the next hop's hosts in order, runs
//! the [`ClientSession`] over TCP and TLS (tokio-rustls), and turns what
//! happened into one [`Outcome`] per recipient.
//!
//! # Classification, once
//! Everything that can go wrong is a [`Cause`]; [`classify`] is the only
//! place that decides temporary or permanent:
//!
//! | cause | outcome |
//! |---|---|
//! | no send connector for the domain | temporary `451 4.4.4` (held until the configuration changes; expires) |
//! | DNS: NXDOMAIN, no MX/A/AAAA, null MX, no address for any MX | permanent `550 5.1.2` / `556 5.1.10` (null MX) |
//! | DNS: SERVFAIL, timeout | temporary `451 4.4.3` |
//! | next hop in TLSSendDomainSecureList, connector DomainSecureEnabled off | temporary `451 4.7.3` |
//! | DANE: bogus or failed DNSSEC lookups, or SmtpDaneMode Mandatory without usable TLSA records | temporary `451 4.7.5` (the reason names the domain or host) |
//! | our TLS material missing (no client certificate, no roots) | temporary `451 4.7.0` |
//! | TCP connect refused / unreachable / timed out | temporary `451 4.4.1` |
//! | greeting or EHLO/HELO refused, server closing (421), protocol error | temporary `451 4.4.0` (the reply is kept) |
//! | the next hop greets us or answers EHLO with our own name (a loop back to this server) | temporary `451 4.4.6` (held, never sent to ourselves; a loop through other servers ends at the receiving side's hop limit) |
//! | STARTTLS required but not offered or refused | temporary `451 5.7.3 STARTTLS is required to send mail` |
//! | TLS handshake or certificate failure, verifying policy (Domain Security, DANE, CertificateValidation, DomainValidation) | temporary `454 4.7.5 Certificate validation failure` |
//! | TLS handshake failure, EncryptionOnly or opportunistic | temporary `451 4.4.0`; opportunistic: the host goes plaintext next time |
//! | a policy that needs TLS given no TLS configuration | temporary `451 4.7.0` (fails closed, nothing is sent) |
//! | connection lost or timed out during a transaction | temporary `451 4.4.2` |
//! | server reply 4yz at MAIL, RCPT, DATA or after the dot | temporary, that reply |
//! | server reply 5yz at RCPT | permanent for that recipient, that reply |
//! | server reply 5yz at MAIL, DATA or after the dot | permanent for every recipient of the transaction |
//! | local refusal before sending (unsafe address, larger than SIZE) | permanent, the local reply |
//! | larger than the connector's MaxMessageSize | permanent `552 5.3.4` |
//!
//! A failure at MAIL or DATA applies to every recipient of that
//! transaction; a failure before MAIL (connection, TLS, greeting) makes the
//! driver try the next address and host, and when all fail every recipient
//! gets the last host's cause.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::dns::{DnsError, Host};
use crate::protolog::SessionLog;
use crate::routing::RouteError;
use xshell_smtp::Reply;
use xshell_smtp::data::DataEncoder;

use super::tls::{PolicyRefusal, TlsOutcome, TlsPolicy};
use xshell_smtp::client::{
    ClientConfig, ClientSession, Content, Event, SessionFailure, SpooledBody, Stage, Transaction,
    TransactionResult,
};

/// How much of a spooled message is read and written at a time.
pub const BODY_PIECE: usize = 64 * 1024;

/// Time limits (RFC 5321 4.5.3.2 gives the classic values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// Any reply before DATA, and the TLS handshake.
    pub command: Duration,
    /// The reply after the final dot (and writing the message).
    pub data_end: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(60),
            command: Duration::from_secs(300),
            data_end: Duration::from_secs(600),
        }
    }
}

/// How to talk to one next hop.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// EHLO name (the connector's Fqdn, else the server's).
    pub helo_name: String,
    /// AUTH PLAIN to the smart host (SmartHostAuthMechanism BasicAuth).
    pub auth: Option<xshell_smtp::client::Credentials>,
    /// The local address to connect from (SourceIPAddress); `None`: any.
    pub source_ip: Option<std::net::IpAddr>,
    /// A server that answers with `helo_name` is a loop back to us (see
    /// [`ClientConfig::loop_detection`]).
    pub loop_detection: bool,
    pub policy: TlsPolicy,
    /// From [`super::tls::client_config`]; `None` only with
    /// [`TlsPolicy::Plaintext`] (STARTTLS is then never attempted).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub timeouts: Timeouts,
    /// The send protocol log (ProtocolLoggingLevel Verbose); `None`: the
    /// sessions are not logged.
    pub protocol_log: Option<SendLog>,
}

/// Where and as whom a send connector's sessions are logged.
#[derive(Debug, Clone)]
pub struct SendLog {
    pub log: Arc<crate::protolog::ProtocolLog>,
    pub settings: Arc<crate::protolog::LogSettings>,
    /// The send connector's name.
    pub connector_id: String,
    /// Our client certificate's subject and thumbprint, when we have one.
    pub certificate_subject: Option<String>,
    pub certificate_thumbprint: Option<String>,
}

/// Where a failure came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The remote server said so (`host` answered with the reply).
    Remote { host: String },
    /// Decided here (the reply is synthesized).
    Local,
}

/// A classified failure: the reply that goes into the DSN's
/// Diagnostic-Code and the queue's LastError, and a detail for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reply: Reply,
    pub origin: Origin,
    pub detail: String,
}

/// What happened to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered { host: String, reply: Reply },
    Temporary(Failure),
    Permanent(Failure),
}

impl Outcome {
    pub fn is_delivered(&self) -> bool {
        matches!(self, Outcome::Delivered { .. })
    }
    pub fn is_temporary(&self) -> bool {
        matches!(self, Outcome::Temporary(_))
    }
    pub fn is_permanent(&self) -> bool {
        matches!(self, Outcome::Permanent(_))
    }
    /// The reply (remote or synthesized).
    pub fn reply(&self) -> &Reply {
        match self {
            Outcome::Delivered { reply, .. } => reply,
            Outcome::Temporary(f) | Outcome::Permanent(f) => &f.reply,
        }
    }
}

/// Every way a delivery can fail (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    NoRoute(RouteError),
    Dns(DnsError),
    Policy(PolicyRefusal),
    /// Our TLS configuration could not be built.
    TlsSetup(String),
    Connect {
        host: String,
        detail: String,
    },
    /// The session failed before MAIL.
    Session {
        host: String,
        failure: SessionFailure,
    },
    /// The TLS handshake failed. `verified`: the policy validates
    /// certificates (Domain Security, RequireTLS beyond EncryptionOnly).
    /// `opportunistic`: plaintext next time.
    TlsHandshake {
        host: String,
        detail: String,
        verified: bool,
        opportunistic: bool,
        /// The reason, for the metrics.
        reason: crate::metrics::TlsFailure,
    },
    /// Connection lost or timed out after the session was set up.
    Lost {
        host: String,
        detail: String,
    },
    /// The server's reply at MAIL/RCPT/DATA/after the dot (or a local
    /// refusal, [`Stage::Local`]).
    Reply {
        host: String,
        stage: Stage,
        reply: Reply,
    },
    /// Larger than the connector's MaxMessageSize.
    TooBig {
        size: u64,
        limit: u64,
    },
}

fn r(code: u16, e: (u8, u16, u16), text: impl Into<String>) -> Reply {
    Reply::new(code, e, text)
}

/// The one classification (see the table in the module docs).
pub fn classify(cause: &Cause) -> Outcome {
    let local = |reply: Reply, detail: String| Failure {
        reply,
        origin: Origin::Local,
        detail,
    };
    match cause {
        Cause::NoRoute(e) => Outcome::Temporary(local(
            r(451, (4, 4, 4), "Unable to route: no send connector"),
            e.to_string(),
        )),
        Cause::Dns(e @ DnsError::NullMx { .. }) => Outcome::Permanent(local(
            r(
                556,
                (5, 1, 10),
                "Recipient domain does not accept mail (null MX)",
            ),
            e.to_string(),
        )),
        Cause::Dns(e) if e.is_permanent() => Outcome::Permanent(local(
            r(550, (5, 1, 2), "Recipient domain not found in DNS"),
            e.to_string(),
        )),
        Cause::Dns(e) => {
            Outcome::Temporary(local(r(451, (4, 4, 3), "DNS lookup failed"), e.to_string()))
        }
        Cause::Policy(e @ PolicyRefusal::DomainSecureDisabled { .. }) => Outcome::Temporary(local(
            r(
                451,
                (4, 7, 3),
                "The admin has temporarily disallowed this secure domain",
            ),
            e.to_string(),
        )),
        // MTA-STS (RFC 8461): retried; the policy or the MX may change.
        Cause::Policy(e @ PolicyRefusal::MtaStsRequired { .. }) => Outcome::Temporary(local(
            r(
                451,
                (4, 7, 5),
                "MTA-STS is mandatory: the domain has no policy in enforce mode",
            ),
            e.to_string(),
        )),
        Cause::Policy(e @ PolicyRefusal::MtaStsNoMatchingMx { .. }) => Outcome::Temporary(local(
            r(
                451,
                (4, 7, 5),
                "MTA-STS: no MX host matches the domain's policy",
            ),
            e.to_string(),
        )),
        // RFC 7672 2.1.1: never downgrade; retried until DNS is fixed.
        Cause::Policy(e @ PolicyRefusal::Dane { .. }) => Outcome::Temporary(local(
            r(
                451,
                (4, 7, 5),
                "DANE: the next hop cannot be authenticated, not sent",
            ),
            e.to_string(),
        )),
        Cause::TlsSetup(d) => Outcome::Temporary(local(
            r(451, (4, 7, 0), "Local TLS configuration error"),
            d.clone(),
        )),
        Cause::Connect { host, detail } => Outcome::Temporary(local(
            r(451, (4, 4, 1), "Connection to the remote server failed"),
            format!("{host}: {detail}"),
        )),
        Cause::Session { host, failure } => {
            let reply = match failure {
                SessionFailure::StartTlsNotOffered | SessionFailure::StartTlsRefused(_) => {
                    r(451, (5, 7, 3), "STARTTLS is required to send mail")
                }
                SessionFailure::Greeting(rep)
                | SessionFailure::Ehlo(rep)
                | SessionFailure::Rset(rep)
                | SessionFailure::ServiceClosing(rep) => r(
                    451,
                    (4, 4, 0),
                    format!("Remote server responded with: {rep}"),
                ),
                SessionFailure::Protocol(_) => r(451, (4, 4, 0), "SMTP protocol error"),
                // Retried: a smart host's authentication is configuration
                // the administrator fixes; the message waits for it.
                SessionFailure::AuthNotOffered => r(
                    451,
                    (4, 7, 0),
                    "The smart host does not offer AUTH PLAIN (SmartHostAuthMechanism)",
                ),
                SessionFailure::AuthNeedsTls => r(
                    451,
                    (4, 7, 0),
                    "BasicAuthRequireTLS: the smart host session is not encrypted; the password was not sent",
                ),
                SessionFailure::AuthRefused(rep) => r(
                    451,
                    (4, 7, 0),
                    format!("The smart host refused our credentials: {rep}"),
                ),
                SessionFailure::LoopsBack(_) => r(
                    451,
                    (4, 4, 6),
                    "Mail loops back to this server: the next hop answered with our own name",
                ),
            };
            Outcome::Temporary(local(reply, format!("{host}: {failure}")))
        }
        Cause::TlsHandshake {
            host,
            detail,
            verified,
            opportunistic,
            ..
        } => {
            let reply = if *verified {
                r(454, (4, 7, 5), "Certificate validation failure")
            } else {
                r(451, (4, 4, 0), "TLS negotiation failed")
            };
            let next = if *opportunistic {
                "; the next attempt to this host is in plaintext"
            } else {
                ""
            };
            Outcome::Temporary(local(reply, format!("{host}: {detail}{next}")))
        }
        Cause::Lost { host, detail } => Outcome::Temporary(local(
            r(451, (4, 4, 2), "Connection to the remote server lost"),
            format!("{host}: {detail}"),
        )),
        Cause::Reply { host, stage, reply } => {
            let failure = Failure {
                reply: reply.clone(),
                origin: if *stage == Stage::Local {
                    Origin::Local
                } else {
                    Origin::Remote { host: host.clone() }
                },
                detail: format!("{stage:?}"),
            };
            if *stage == Stage::DataEnd && reply.is_positive() {
                Outcome::Delivered {
                    host: host.clone(),
                    reply: reply.clone(),
                }
            } else if reply.is_permanent() {
                Outcome::Permanent(failure)
            } else {
                // 4yz, and anything odd (a 2yz at the wrong step cannot
                // mean delivered)
                Outcome::Temporary(failure)
            }
        }
        Cause::TooBig { size, limit } => Outcome::Permanent(local(
            r(
                552,
                (5, 3, 4),
                "Message size exceeds the send connector's limit",
            ),
            format!("{size} octets, limit {limit}"),
        )),
    }
}

/// One connection attempt that did not lead to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub host: String,
    pub addr: SocketAddr,
    pub cause: Cause,
}

/// Per-recipient outcomes of one message, in the transaction's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageReport {
    pub recipients: Vec<(String, Outcome)>,
}

/// What a delivery run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// One per message, in order.
    pub messages: Vec<MessageReport>,
    /// The host and address that took the session, if any.
    pub host: Option<(String, SocketAddr)>,
    /// The TLS facts of that session (None: plaintext).
    pub tls: Option<TlsOutcome>,
    /// Failed attempts before (or instead of) the session.
    pub attempts: Vec<Attempt>,
    /// No host could be reached: retry after
    /// OutboundConnectionFailureRetryInterval.
    pub connection_failed: bool,
    /// Hosts whose opportunistic TLS handshake failed: record them and
    /// pass `plaintext_fallback` for them next time.
    pub plaintext_next_time: Vec<String>,
    /// Plaintext octets the client discarded after STARTTLS's 220.
    pub discarded_after_starttls: usize,
    /// The session's server advertised DSN (RFC 3461): the DSN parameters
    /// were passed on, and success reports are its job.
    pub dsn: bool,
}

impl DeliveryReport {
    /// Every recipient of every message gets `outcome`.
    fn all(messages: &[Transaction], outcome: &Outcome) -> Vec<MessageReport> {
        messages
            .iter()
            .map(|m| MessageReport {
                recipients: m
                    .recipients
                    .iter()
                    .map(|a| (a.clone(), outcome.clone()))
                    .collect(),
            })
            .collect()
    }

    /// A report for a delivery that failed before any connection (DNS, no
    /// route, policy): every recipient gets `cause`, classified.
    pub fn failed(messages: &[Transaction], cause: &Cause) -> Self {
        DeliveryReport {
            messages: Self::all(messages, &classify(cause)),
            connection_failed: matches!(cause, Cause::Dns(e) if !e.is_permanent()),
            ..DeliveryReport::default()
        }
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Gone,
}

/// An established SMTP session (after greeting, EHLO and STARTTLS).
pub struct Connection {
    stream: Stream,
    session: ClientSession,
    host: String,
    addr: SocketAddr,
    tls: Option<TlsOutcome>,
    /// The server's end-entity certificate (DER), after STARTTLS.
    peer_certificate: Option<Vec<u8>>,
    timeouts: Timeouts,
    // protocol logs
    log: Option<SessionLog>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("host", &self.host)
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

fn server_name(host: &str, addr: SocketAddr) -> ServerName<'static> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return ServerName::IpAddress(ip.into());
    }
    ServerName::try_from(host.to_string()).unwrap_or(ServerName::IpAddress(addr.ip().into()))
}

/// The text of a TLS error, and whether it is about the certificate.
fn tls_error_detail(e: &std::io::Error) -> String {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        // Our own verifier's reasons (TlsRemoteCertificateName) in words.
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(o))) => {
            format!("server certificate refused: {o}")
        }
        Some(rustls::Error::InvalidCertificate(c)) => format!("server certificate refused: {c:?}"),
        Some(other) => format!("TLS: {other}"),
        None => format!("TLS: {e}"),
    }
}

/// Connects to `addr`, from `source` when given (SourceIPAddress).
async fn connect(addr: SocketAddr, source: Option<std::net::IpAddr>) -> std::io::Result<TcpStream> {
    let Some(ip) = source else {
        return TcpStream::connect(addr).await;
    };
    if ip.is_ipv4() != addr.is_ipv4() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            format!("SourceIPAddress {ip} cannot reach {addr} (another address family)"),
        ));
    }
    let socket = if ip.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(ip, 0)).map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot bind SourceIPAddress {ip}: {e}"))
    })?;
    socket.connect(addr).await
}

impl Connection {
    /// Connects to `addr` and sets the session up: greeting, EHLO, STARTTLS
    /// under `opts.policy`, EHLO again over TLS.
    pub async fn open(host: &str, addr: SocketAddr, opts: &SendOptions) -> Result<Self, Cause> {
        // Fail closed: a policy that needs TLS without a TLS configuration
        // must never fall through to plaintext.
        let mode = opts.policy.starttls();
        if mode != xshell_smtp::client::StartTlsMode::Never && opts.tls.is_none() {
            return Err(Cause::TlsSetup(
                "the TLS policy needs STARTTLS but no TLS configuration was given".into(),
            ));
        }
        let connect_err = |detail: String| Cause::Connect {
            host: host.to_string(),
            detail,
        };
        let tcp = match tokio::time::timeout(opts.timeouts.connect, connect(addr, opts.source_ip))
            .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(connect_err(format!("{addr}: {e}"))),
            Err(_) => return Err(connect_err(format!("{addr}: connection timed out"))),
        };
        let _ = tcp.set_nodelay(true);
        let log = opts.protocol_log.as_ref().map(|l| {
            let local = tcp
                .local_addr()
                .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
            SessionLog::start(
                Arc::clone(&l.log),
                Arc::clone(&l.settings),
                l.connector_id.clone(),
                local,
                addr,
            )
        });
        let mut conn = Connection {
            stream: Stream::Plain(tcp),
            session: ClientSession::new(ClientConfig {
                auth: opts.auth.clone(),
                helo_name: opts.helo_name.clone(),
                starttls: mode,
                loop_detection: opts.loop_detection,
            }),
            host: host.to_string(),
            addr,
            tls: None,
            peer_certificate: None,
            timeouts: opts.timeouts,
            log,
        };
        if conn.log.is_some() {
            conn.session.record_transcript();
        }
        loop {
            match conn.drive(opts.timeouts.command).await? {
                Event::Ready => return Ok(conn),
                Event::StartTls => {
                    if let Err(cause) = conn.start_tls(opts).await {
                        if let (Some(log), Cause::TlsHandshake { detail, .. }) =
                            (conn.log.as_mut(), &cause)
                        {
                            log.info(detail, "TLS negotiation failed");
                        }
                        return Err(cause);
                    }
                    conn.log_tls(opts);
                }
                Event::Failed(failure) => {
                    if let Some(log) = conn.log.as_mut() {
                        log.info(&failure.to_string(), "Session failed");
                    }
                    return Err(Cause::Session {
                        host: host.to_string(),
                        failure,
                    });
                }
                Event::Closed
                | Event::Done(_)
                | Event::NeedInput
                | Event::SendBody
                | Event::SendChunk => {
                    return Err(Cause::Session {
                        host: host.to_string(),
                        failure: SessionFailure::Protocol("session closed during setup".into()),
                    });
                }
            }
        }
    }

    /// The protocol log's TLS lines: protocol and cipher, the certificate
    /// we offer, the server's, and the policy's verdict.
    fn log_tls(&mut self, opts: &SendOptions) {
        let (Some(log), Some(tls)) = (self.log.as_mut(), self.tls.as_ref()) else {
            return;
        };
        log.info(
            "",
            &format!(
                "TLS protocol {} negotiation succeeded using cipher suite {}",
                tls.protocol, tls.cipher
            ),
        );
        if let Some(l) = &opts.protocol_log {
            if let Some(subject) = &l.certificate_subject {
                log.info(
                    subject,
                    "Client certificate (presented when the server asks)",
                );
            }
            if let Some(tp) = &l.certificate_thumbprint {
                log.info(tp, "Certificate thumbprint");
            }
        }
        if let Some(subject) = &tls.server_subject {
            log.info(subject, "Remote certificate");
        }
        if let Some(issuer) = &tls.server_issuer {
            log.info(issuer, "Certificate issuer name");
        }
        if let Some(info) = self
            .peer_certificate
            .as_deref()
            .and_then(|d| xshell_core::pki::cert::parse_certificate(d).ok())
        {
            log.info(&info.thumbprint, "Certificate thumbprint");
        }
        let mut verdict = format!("TlsPolicy={}", opts.policy.describe());
        if let Some(n) = &tls.verified_name {
            verdict.push_str(&format!("; VerifiedName={n}"));
        }
        if tls.domain_secured {
            verdict.push_str("; DomainSecured=true");
        }
        log.info(&verdict, "Certificate validated");
    }

    /// Writes the session's transcript so far to the protocol log.
    fn log_transcript(&mut self, commit: bool) {
        if let Some(log) = self.log.as_mut() {
            for line in self.session.take_transcript() {
                // After the 354, or after a BDAT line (RFC 3030), the
                // message goes out; it is never logged.
                let body_follows = match line.direction {
                    xshell_smtp::transcript::Direction::Received => line.text.starts_with("354"),
                    xshell_smtp::transcript::Direction::Sent => line.text.starts_with("BDAT "),
                };
                log.transcript(vec![line]);
                if body_follows {
                    log.info("", "sending message");
                }
            }
            if commit {
                log.commit();
            }
        }
    }

    /// The TLS facts (None: plaintext).
    pub fn tls(&self) -> Option<&TlsOutcome> {
        self.tls.as_ref()
    }

    /// The server's end-entity certificate (DER), once TLS is up.
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        self.peer_certificate.as_deref()
    }

    /// The server's greeting (banner).
    pub fn greeting(&self) -> Option<String> {
        self.session.greeting().map(|r| r.to_string())
    }

    /// What the server's last EHLO reply offered.
    pub fn extensions(&self) -> &xshell_smtp::client::Extensions {
        self.session.extensions()
    }

    async fn start_tls(&mut self, opts: &SendOptions) -> Result<(), Cause> {
        let verified = opts.policy.verifies_peer();
        use crate::metrics::TlsFailure;
        let fail = |detail: String, reason: TlsFailure| Cause::TlsHandshake {
            host: self.host.clone(),
            detail,
            verified,
            opportunistic: opts.policy.is_opportunistic(),
            reason,
        };
        let Some(config) = opts.tls.clone() else {
            return Err(fail("no TLS configuration".into(), TlsFailure::Other));
        };
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err(fail(
                "STARTTLS on a connection that is not plaintext".into(),
                TlsFailure::Other,
            ));
        };
        let connector = tokio_rustls::TlsConnector::from(config);
        let handshake = connector.connect(server_name(&self.host, self.addr), tcp);
        let tls = match tokio::time::timeout(opts.timeouts.command, handshake).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(fail(tls_error_detail(&e), TlsFailure::of_io(&e))),
            Err(_) => {
                return Err(fail("TLS handshake timed out".into(), TlsFailure::Timeout));
            }
        };
        self.tls = Some(TlsOutcome::from_connection(&opts.policy, tls.get_ref().1));
        self.peer_certificate = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref().to_vec());
        self.stream = Stream::Tls(Box::new(tls));
        self.session
            .tls_established()
            .map_err(|e| fail(e.to_string(), TlsFailure::Protocol))?;
        Ok(())
    }

    fn lost(&self, detail: impl Into<String>) -> Cause {
        Cause::Lost {
            host: self.host.clone(),
            detail: detail.into(),
        }
    }

    async fn write(&mut self, bytes: &[u8], timeout: Duration) -> Result<(), Cause> {
        let fut = async {
            match &mut self.stream {
                Stream::Plain(s) => {
                    s.write_all(bytes).await?;
                    s.flush().await
                }
                Stream::Tls(s) => {
                    s.write_all(bytes).await?;
                    s.flush().await
                }
                Stream::Gone => Err(std::io::Error::from(std::io::ErrorKind::NotConnected)),
            }
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.lost(format!("write: {e}"))),
            Err(_) => Err(self.lost("write timed out")),
        }
    }

    async fn read(&mut self, timeout: Duration) -> Result<(), Cause> {
        let mut buf = [0u8; 8192];
        let fut = async {
            match &mut self.stream {
                Stream::Plain(s) => s.read(&mut buf).await,
                Stream::Tls(s) => s.read(&mut buf).await,
                Stream::Gone => Err(std::io::Error::from(std::io::ErrorKind::NotConnected)),
            }
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(Ok(0)) => Err(self.lost("the server closed the connection")),
            Ok(Ok(n)) => {
                self.session.feed(&buf[..n]);
                Ok(())
            }
            Ok(Err(e)) => Err(self.lost(format!("read: {e}"))),
            Err(_) => Err(self.lost("no reply in time")),
        }
    }

    /// Polls the session, writing its output and reading input, until it
    /// needs the caller.
    async fn drive(&mut self, timeout: Duration) -> Result<Event, Cause> {
        loop {
            let ev = self.session.poll();
            self.log_transcript(matches!(ev, Event::NeedInput));
            let out = self.session.take_output();
            if !out.is_empty() {
                // After a failure the output is a courtesy QUIT: best effort.
                let res = self.write(&out, timeout).await;
                if !matches!(ev, Event::Failed(_)) {
                    res?;
                }
            }
            match ev {
                Event::NeedInput => self.read(timeout).await?,
                other => return Ok(other),
            }
        }
    }

    /// Sends one message; the session stays usable for the next.
    pub async fn send(&mut self, tx: Transaction) -> Result<TransactionResult, Cause> {
        let spooled = match &tx.message {
            Content::Spooled { file, .. } => Some(Arc::clone(file)),
            Content::Bytes(_) => None,
        };
        self.session
            .send(tx)
            .map_err(|e| self.lost(e.to_string()))?;
        loop {
            match self.drive(self.timeouts.data_end).await? {
                Event::Done(r) => return Ok(r),
                Event::SendBody => {
                    let Some(file) = &spooled else {
                        return Err(self.lost("no message to send"));
                    };
                    self.send_body(file).await?;
                    self.session
                        .body_sent()
                        .map_err(|e| self.lost(e.to_string()))?;
                }
                Event::SendChunk => {
                    let Some(file) = &spooled else {
                        return Err(self.lost("no message to send"));
                    };
                    self.send_chunk(file).await?;
                    self.session
                        .body_sent()
                        .map_err(|e| self.lost(e.to_string()))?;
                }
                Event::Failed(f) => return Err(self.lost(f.to_string())),
                other => return Err(self.lost(format!("unexpected session state {other:?}"))),
            }
        }
    }

    /// Reads the next piece of a spooled message at `at` into `buf` (on a
    /// blocking thread); a message shorter than recorded, or unreadable,
    /// gives the connection up.
    async fn read_piece(
        &mut self,
        file: &Arc<dyn SpooledBody>,
        at: u64,
        mut buf: Vec<u8>,
    ) -> Result<(Vec<u8>, usize), Cause> {
        let f = Arc::clone(file);
        let read = tokio::task::spawn_blocking(move || {
            let r = f.read_at(at, &mut buf);
            (buf, r)
        })
        .await;
        match read {
            Ok((b, Ok(n))) if n > 0 => Ok((b, n)),
            Ok((_, Ok(_))) => Err(self.lost("the queued message is shorter than recorded")),
            Ok((_, Err(e))) => Err(self.lost(format!("cannot read the queued message: {e}"))),
            Err(e) => Err(self.lost(format!("cannot read the queued message: {e}"))),
        }
    }

    /// Streams a spooled message as it is, after `BDAT <size> LAST`
    /// (RFC 3030), in pieces of [`BODY_PIECE`]. Exactly `size` octets go
    /// out or the connection is given up: the server never takes a cut
    /// message (a short chunk would swallow the next command).
    async fn send_chunk(&mut self, file: &Arc<dyn SpooledBody>) -> Result<(), Cause> {
        let mut buf = vec![0u8; BODY_PIECE];
        let mut at = 0u64;
        let size = file.size();
        while at < size {
            let n;
            (buf, n) = self.read_piece(file, at, buf).await?;
            // Never more than announced, whatever the file does now.
            let n = n.min(usize::try_from(size - at).unwrap_or(usize::MAX));
            self.write(&buf[..n], self.timeouts.data_end).await?;
            at += n as u64;
        }
        Ok(())
    }

    /// Streams a spooled message, dot-stuffed, in pieces of
    /// [`BODY_PIECE`] (read on a blocking thread), then the final `.`
    /// line. If the message cannot be read whole the connection is given
    /// up without the final `.`, so the server never takes a cut message.
    async fn send_body(&mut self, file: &Arc<dyn SpooledBody>) -> Result<(), Cause> {
        let mut encoder = DataEncoder::new();
        let mut buf = vec![0u8; BODY_PIECE];
        let mut out = Vec::with_capacity(BODY_PIECE + BODY_PIECE / 8 + 8);
        let mut at = 0u64;
        while at < file.size() {
            let n;
            (buf, n) = self.read_piece(file, at, buf).await?;
            out.clear();
            encoder.encode(&buf[..n], &mut out);
            self.write(&out, self.timeouts.data_end).await?;
            at += n as u64;
        }
        out.clear();
        encoder.finish(&mut out);
        self.write(&out, self.timeouts.data_end).await
    }

    /// Sends QUIT and waits briefly for the reply.
    pub async fn quit(mut self) {
        self.session.quit();
        let _ =
            tokio::time::timeout(self.timeouts.command, self.drive(self.timeouts.command)).await;
        if let Stream::Tls(mut s) = std::mem::replace(&mut self.stream, Stream::Gone) {
            let _ = tokio::time::timeout(Duration::from_secs(1), s.shutdown()).await;
        }
    }

    /// Classifies a transaction's replies.
    pub fn outcomes(&self, result: &TransactionResult) -> Vec<(String, Outcome)> {
        result
            .recipients
            .iter()
            .map(|rr| {
                (
                    rr.address.clone(),
                    classify(&Cause::Reply {
                        host: self.host.clone(),
                        stage: rr.stage,
                        reply: rr.reply.clone(),
                    }),
                )
            })
            .collect()
    }
}

/// Delivers `messages` to the first of `hosts` (and their addresses, in
/// order) that sets up a session, then sends them one after the other on
/// that connection.
pub async fn deliver(
    hosts: &[Host],
    opts: &SendOptions,
    messages: Vec<Transaction>,
) -> DeliveryReport {
    deliver_with_progress(hosts, opts, messages, None).await
}

/// One message's outcome, sent by [`deliver_with_progress`] as soon as its
/// transaction is over.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The message's position in `messages`.
    pub index: usize,
    pub report: MessageReport,
    /// The host and address of the session.
    pub host: (String, SocketAddr),
    pub tls: Option<TlsOutcome>,
    /// The server advertised DSN (see [`DeliveryReport::dsn`]).
    pub dsn: bool,
}

/// [`deliver`], also sending each message's outcome to `progress` as soon
/// as its transaction is over (or given up with the session), so that the
/// caller can record what the next hop accepted without waiting for the
/// whole run: a crash later in a long session then re-sends only what was
/// not recorded. The next message is sent only once `progress` took the
/// outcome, so a bounded channel bounds how far sending runs ahead of the
/// caller. Messages that never reached a session (no host, setup failure)
/// are only in the returned report, like everything else.
pub async fn deliver_with_progress(
    hosts: &[Host],
    opts: &SendOptions,
    messages: Vec<Transaction>,
    progress: Option<&tokio::sync::mpsc::Sender<Progress>>,
) -> DeliveryReport {
    let mut report = DeliveryReport::default();
    let mut conn = None;
    let requiretls = !messages.is_empty() && messages.iter().all(|t| t.requiretls);
    let last = hosts.iter().map(|h| h.addrs.len()).sum::<usize>();
    let mut tried = 0;
    'hosts: for host in hosts {
        for addr in &host.addrs {
            tried += 1;
            match Connection::open(&host.name, *addr, opts).await {
                // RFC 8689 4.2.1: a REQUIRETLS batch looks for a host that
                // offers REQUIRETLS; the last one tried fails it (550
                // 5.7.30 from the session).
                Ok(c)
                    if requiretls
                        && tried < last
                        && !(c.tls.is_some() && c.extensions().requiretls) =>
                {
                    c.quit().await;
                    report.attempts.push(Attempt {
                        host: host.name.clone(),
                        addr: *addr,
                        cause: Cause::Reply {
                            host: host.name.clone(),
                            stage: Stage::Local,
                            reply: Reply::new(
                                550,
                                (5, 7, 30),
                                "REQUIRETLS not offered after STARTTLS; trying the next host",
                            ),
                        },
                    });
                }
                Ok(c) => {
                    conn = Some(c);
                    break 'hosts;
                }
                Err(cause) => {
                    if let Cause::TlsHandshake {
                        opportunistic: true,
                        ..
                    } = cause
                        && !report.plaintext_next_time.contains(&host.name)
                    {
                        report.plaintext_next_time.push(host.name.clone());
                    }
                    report.attempts.push(Attempt {
                        host: host.name.clone(),
                        addr: *addr,
                        cause,
                    });
                }
            }
        }
    }
    let Some(mut conn) = conn else {
        let cause = report
            .attempts
            .last()
            .map(|a| a.cause.clone())
            .unwrap_or(Cause::Connect {
                host: String::new(),
                detail: "no host to connect to".into(),
            });
        report.messages = DeliveryReport::all(&messages, &classify(&cause));
        report.connection_failed = true;
        return report;
    };
    report.host = Some((conn.host.clone(), conn.addr));
    report.tls = conn.tls.clone();
    report.dsn = conn.extensions().dsn;
    let mut broken: Option<Cause> = None;
    for (index, tx) in messages.into_iter().enumerate() {
        if let Some(cause) = &broken {
            report.messages.extend(DeliveryReport::all(
                std::slice::from_ref(&tx),
                &classify(cause),
            ));
        } else {
            let addresses = tx.recipients.clone();
            match conn.send(tx).await {
                Ok(result) => report.messages.push(MessageReport {
                    recipients: conn.outcomes(&result),
                }),
                Err(cause) => {
                    let outcome = classify(&cause);
                    report.messages.push(MessageReport {
                        recipients: addresses
                            .into_iter()
                            .map(|a| (a, outcome.clone()))
                            .collect(),
                    });
                    broken = Some(cause);
                }
            }
        }
        if let (Some(progress), Some(host), Some(last)) =
            (progress, &report.host, report.messages.last())
        {
            // A caller that stopped listening still gets the whole report.
            let _ = progress
                .send(Progress {
                    index,
                    report: last.clone(),
                    host: host.clone(),
                    tls: report.tls.clone(),
                    dsn: report.dsn,
                })
                .await;
        }
    }
    report.discarded_after_starttls = conn.session.discarded_after_starttls();
    if broken.is_none() {
        conn.quit().await;
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, e: (u8, u16, u16)) -> Reply {
        Reply::new(code, e, "x")
    }

    fn at(stage: Stage, code: u16) -> Cause {
        Cause::Reply {
            host: "mx".into(),
            stage,
            reply: reply(code, ((code / 100) as u8, 0, 0)),
        }
    }

    #[tokio::test]
    async fn a_tls_policy_without_a_tls_configuration_fails_closed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let opts = SendOptions {
            helo_name: "a.example".into(),
            auth: None,
            source_ip: None,
            loop_detection: true,
            policy: TlsPolicy::DomainSecure {
                domain: "b.example".into(),
            },
            tls: None,
            timeouts: Timeouts::default(),
            protocol_log: None,
        };
        let err = Connection::open("mx.b.example", addr, &opts)
            .await
            .unwrap_err();
        assert!(matches!(err, Cause::TlsSetup(_)), "{err:?}");
        // it never even connected
        let accepted = tokio::time::timeout(Duration::from_millis(50), listener.accept()).await;
        assert!(accepted.is_err());
    }

    #[test]
    fn the_classification_table() {
        assert!(classify(&at(Stage::DataEnd, 250)).is_delivered());
        assert!(classify(&at(Stage::Rcpt, 250)).is_temporary());
        for s in [Stage::Mail, Stage::Rcpt, Stage::Data, Stage::DataEnd] {
            assert!(classify(&at(s, 451)).is_temporary());
            assert!(classify(&at(s, 550)).is_permanent());
        }
        let o = classify(&at(Stage::Rcpt, 550));
        let Outcome::Permanent(f) = o else { panic!() };
        assert_eq!(f.origin, Origin::Remote { host: "mx".into() });
        assert!(classify(&at(Stage::Local, 501)).is_permanent());

        let nx = Cause::Dns(DnsError::NxDomain { name: "x".into() });
        assert_eq!(classify(&nx).reply().code, 550);
        assert!(classify(&nx).is_permanent());
        let null = Cause::Dns(DnsError::NullMx { domain: "x".into() });
        assert_eq!(classify(&null).reply().enhanced, Some((5, 1, 10)));
        let sf = Cause::Dns(DnsError::Temporary {
            name: "x".into(),
            detail: "SERVFAIL".into(),
        });
        assert!(classify(&sf).is_temporary());

        let ds = classify(&Cause::Policy(PolicyRefusal::DomainSecureDisabled {
            domain: "d".into(),
            connector: "c".into(),
        }));
        assert!(ds.is_temporary());
        assert_eq!(
            ds.reply().to_string(),
            "451 4.7.3 The admin has temporarily disallowed this secure domain"
        );

        let st = classify(&Cause::Session {
            host: "mx".into(),
            failure: SessionFailure::StartTlsNotOffered,
        });
        assert!(st.is_temporary());
        assert_eq!(
            st.reply().to_string(),
            "451 5.7.3 STARTTLS is required to send mail"
        );

        let cert = classify(&Cause::TlsHandshake {
            host: "mx".into(),
            detail: "d".into(),
            verified: true,
            opportunistic: false,
            reason: crate::metrics::TlsFailure::UntrustedCertificate,
        });
        assert_eq!(
            cert.reply().to_string(),
            "454 4.7.5 Certificate validation failure"
        );
        assert!(cert.is_temporary());
        let opp = classify(&Cause::TlsHandshake {
            host: "mx".into(),
            detail: "d".into(),
            verified: false,
            opportunistic: true,
            reason: crate::metrics::TlsFailure::Protocol,
        });
        let Outcome::Temporary(f) = opp else { panic!() };
        assert!(f.detail.contains("plaintext"), "{}", f.detail);

        for c in [
            Cause::Connect {
                host: "mx".into(),
                detail: "refused".into(),
            },
            Cause::Lost {
                host: "mx".into(),
                detail: "eof".into(),
            },
            Cause::TlsSetup("no cert".into()),
            Cause::NoRoute(RouteError::NoConnector("x".into())),
            Cause::Session {
                host: "mx".into(),
                failure: SessionFailure::Greeting(reply(554, (5, 7, 1))),
            },
        ] {
            assert!(classify(&c).is_temporary(), "{c:?}");
        }
        assert!(classify(&Cause::TooBig { size: 2, limit: 1 }).is_permanent());
    }
}
