//! One SMTP connection: the sans-IO session driven over TCP, then rustls.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::{ConnectorRuntime, RuntimeConfig, canonical_ip};
use crate::metrics::{Direction, TlsClass, TlsFailure};
use crate::protolog::SessionLog;
use crate::queue;
use crate::tls;
use crate::tracking::{EventId, TrackingEvent};
use xshell_smtp::{Action, Reply, Session, Verdict};

use super::policy::{self, Auth};
use super::stamp::{self, Stamper, TraceInfo};
use super::{CountGuard, Shared};

const READ_BUFFER: usize = 16 * 1024;

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf).await,
            Stream::Tls(s) => s.read(buf).await,
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(bytes).await,
            Stream::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
        }
    }

    async fn shutdown(&mut self) {
        let _ = match self {
            Stream::Plain(s) => s.shutdown().await,
            Stream::Tls(s) => s.shutdown().await,
        };
    }
}

/// Handles one accepted connection with the configuration `rt` (current
/// at accept time; kept for the whole session).
pub async fn handle(
    sock: TcpStream,
    peer: SocketAddr,
    rt: Arc<RuntimeConfig>,
    shared: Arc<Shared>,
) {
    let _active = shared.active.enter();
    let _ = sock.set_nodelay(true);
    let local = match sock.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "connection without a local address");
            return;
        }
    };
    let mut stream = Stream::Plain(sock);
    let ip = canonical_ip(peer.ip());
    let Some(connector) = rt.select_connector(local, ip).cloned() else {
        tracing::warn!(%peer, %local, "no receive connector accepts this client: refused");
        let r = Reply::new(
            421,
            (4, 3, 2),
            format!(
                "{} No receive connector accepts connections from {ip}",
                rt.server_fqdn
            ),
        );
        let _ = write_reply(&mut stream, &r).await;
        shared
            .metrics
            .refused(crate::metrics::NO_CONNECTOR, r.code, r.enhanced);
        stream.shutdown().await;
        return;
    };
    let mut log = connector.protocol_logging.then(|| {
        SessionLog::start(
            Arc::clone(&shared.protocol_log),
            Arc::clone(&rt.protocol_logs.receive),
            format!("{}\\{}", rt.server_name, connector.name),
            local,
            peer,
        )
    });
    let Some(source) = shared
        .per_source
        .try_acquire(ip, connector.max_inbound_connection_per_source)
    else {
        tracing::warn!(%peer, connector = %connector.name, limit = %connector.max_inbound_connection_per_source, "too many connections from this address: refused");
        let r = Reply::new(
            421,
            (4, 7, 0),
            format!(
                "{} Too many connections from your address, try again later",
                connector.session.hostname
            ),
        );
        refused_log(log, &r, "MaxInboundConnectionPerSource");
        let _ = write_reply(&mut stream, &r).await;
        shared.metrics.refused(&connector.name, r.code, r.enhanced);
        stream.shutdown().await;
        return;
    };
    let Some(connector_slot) = shared
        .per_connector
        .try_acquire(connector.name.clone(), connector.max_inbound_connection)
    else {
        tracing::warn!(%peer, connector = %connector.name, limit = %connector.max_inbound_connection, "too many connections to this connector (MaxInboundConnection): refused");
        let r = Reply::new(
            421,
            (4, 3, 2),
            format!(
                "{} The maximum number of concurrent connections has exceeded a limit, closing transmission channel",
                connector.session.hostname
            ),
        );
        refused_log(log, &r, "MaxInboundConnection");
        let _ = write_reply(&mut stream, &r).await;
        shared.metrics.refused(&connector.name, r.code, r.enhanced);
        stream.shutdown().await;
        return;
    };
    tracing::info!(%peer, %local, connector = %connector.name, revision = rt.revision, "connection accepted");
    let mut c = Conn {
        peer,
        rt,
        connector,
        shared,
        auth: None,
        deadline: Instant::now(),
        incoming: None,
        slots: Some(Slots {
            _source: source,
            _connector: connector_slot,
        }),
        log: log.take(),
        certificate_problem: None,
        peer_closed: false,
    };
    c.deadline = Instant::now() + c.connector.connection_timeout;
    let result = c.run(stream).await;
    if let Some(log) = c.log.take() {
        let mut log = log;
        if let Err(e) = &result {
            log.info(&e.to_string(), "Connection ended");
        }
        log.end(if c.peer_closed { "Remote" } else { "Local" });
    }
    match result {
        Ok(()) => tracing::info!(%peer, "connection closed"),
        Err(e) => tracing::info!(%peer, error = %e, "connection ended"),
    }
}

/// The protocol log of a connection refused before its session: the
/// reply and why.
fn refused_log(log: Option<SessionLog>, r: &Reply, limit: &str) {
    if let Some(mut log) = log {
        let mut wire = Vec::new();
        r.write_to(&mut wire);
        log.event(
            crate::protolog::Event::Sent,
            String::from_utf8_lossy(&wire).trim_end(),
            "",
        );
        log.info(limit, "Connection refused");
        log.end("Local");
    }
}

async fn write_reply(stream: &mut Stream, r: &Reply) -> io::Result<()> {
    let mut out = Vec::new();
    r.write_to(&mut out);
    timeout(Duration::from_secs(10), stream.write_all(&out))
        .await
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
}

struct Conn {
    peer: SocketAddr,
    rt: Arc<RuntimeConfig>,
    connector: Arc<ConnectorRuntime>,
    shared: Arc<Shared>,
    /// How the current transaction's sender was authenticated.
    auth: Option<Auth>,
    deadline: Instant,
    /// The message being received (between the first chunk and the end
    /// of DATA).
    incoming: Option<Incoming>,
    // protocol logs
    /// The protocol log, on a connector with ProtocolLoggingLevel Verbose.
    log: Option<SessionLog>,
    /// Why the client certificate did not verify (for the log).
    certificate_problem: Option<String>,
    /// The client closed the connection.
    peer_closed: bool,
    /// The connection's counted slots, released when the SMTP session
    /// ends: see [`Slots`].
    slots: Option<Slots>,
}

/// A connection's places in the per-source (MaxInboundConnectionPerSource)
/// and per-connector (MaxInboundConnection) counts. They are released when
/// the SMTP session ends (before its last reply, the `221` to QUIT or a
/// `421`, is written; or when the client is gone), not after the TLS
/// close and the task's teardown: a client that has read the `221` may
/// connect again at once, and must not find its finished session counted.
struct Slots {
    _source: CountGuard<std::net::IpAddr>,
    _connector: CountGuard<String>,
}

enum Input {
    Data(usize),
    Eof,
    TimedOut,
    Shutdown,
}

impl Conn {
    async fn run(&mut self, mut stream: Stream) -> io::Result<()> {
        let mut session = Session::new(Arc::clone(&self.connector.session), None);
        if self.log.is_some() {
            session.record_transcript();
        }
        let mut buf = vec![0u8; READ_BUFFER];
        loop {
            let action = session.poll();
            if matches!(action, Action::Close) {
                self.slots = None;
            }
            if let Some(log) = self.log.as_mut() {
                log.transcript(session.take_transcript());
                if matches!(action, Action::NeedInput) {
                    log.commit();
                }
            }
            let out = session.take_output();
            if !out.is_empty() {
                // metrics: the refusals among these replies
                self.shared.metrics.refusals_in(&self.connector.name, &out);
                self.write(&mut stream, &out).await?;
            }
            match action {
                Action::NeedInput => match self.read(&mut stream, &mut buf).await? {
                    Input::Data(n) => session.feed(&buf[..n]),
                    Input::Eof => {
                        self.peer_closed = true;
                        break;
                    }
                    Input::TimedOut => {
                        let r = Reply::new(
                            421,
                            (4, 4, 2),
                            format!("{} Connection timed out", self.connector.session.hostname),
                        );
                        session.abort(&r);
                    }
                    Input::Shutdown => {
                        let r = Reply::new(
                            421,
                            (4, 3, 2),
                            format!("{} Service shutting down", self.connector.session.hostname),
                        );
                        session.abort(&r);
                    }
                },
                Action::CheckMail { from, .. } => {
                    let ip = canonical_ip(self.peer.ip());
                    if !self.shared.message_rate.admit(
                        &self.connector.name,
                        ip,
                        self.connector.message_rate_limit,
                        std::time::Instant::now(),
                    ) {
                        tracing::warn!(peer = %self.peer, connector = %self.connector.name, limit = %self.connector.message_rate_limit, "message rate limit reached (MessageRateLimit): sender refused for now");
                        self.auth = None;
                        let r = Reply::new(
                            452,
                            (4, 3, 2),
                            "Message submission rate for this client has exceeded the configured limit, try again later",
                        );
                        decide(&mut session, Verdict::Reject(r))?;
                        continue;
                    }
                    let verdict = match policy::check_mail(
                        &self.rt,
                        &self.connector,
                        session.tls(),
                        &from,
                    ) {
                        Ok(auth) => {
                            tracing::debug!(peer = %self.peer, sender = %from, auth_as = auth.auth_as(), "sender accepted");
                            if let Some(log) = self.log.as_mut() {
                                let mut verdict = auth_verdict(&auth);
                                if auth.domain().is_some()
                                    && session
                                        .tls()
                                        .and_then(|t| t.client_certificate.as_ref())
                                        .is_some_and(|c| c.server_auth_only)
                                {
                                    // Accepted by TLSReceiveDomainSecureServerAuthOnlyList.
                                    verdict.push_str("; ServerAuthOnlyCertificate=true");
                                }
                                log.info(&verdict, "Sender authenticated");
                            }
                            self.auth = Some(auth);
                            Verdict::Accept
                        }
                        Err(reply) => {
                            let detail = policy::refusal_detail(
                                &self.rt,
                                &self.connector,
                                session.tls(),
                                &from,
                            );
                            tracing::info!(peer = %self.peer, sender = %from, code = reply.code, reply = ?reply.lines, why = detail.as_deref().unwrap_or(""), "sender refused");
                            if let Some(log) = self.log.as_mut() {
                                let why = match &detail {
                                    Some(d) => format!("{reply}; {d}"),
                                    None => refusal_reason(
                                        &reply,
                                        session.tls(),
                                        &from,
                                        self.certificate_problem.as_deref(),
                                    ),
                                };
                                log.info(&why, "Sender refused");
                            }
                            self.auth = None;
                            Verdict::Reject(reply)
                        }
                    };
                    decide(&mut session, verdict)?;
                }
                Action::CheckRcpt { to } => {
                    let auth = self.auth.clone().unwrap_or(Auth::Anonymous);
                    let verdict = match policy::check_rcpt(&self.rt, &auth, &to) {
                        Ok(()) => Verdict::Accept,
                        Err(reply) => {
                            tracing::info!(peer = %self.peer, recipient = %to, code = reply.code, "recipient refused");
                            // Tarpit: slow down an unauthenticated sender
                            // trying addresses (directory harvesting).
                            if matches!(auth, Auth::Anonymous) {
                                let pause = self.connector.tarpit_interval.min(self.wait_time());
                                if !pause.is_zero() {
                                    tokio::time::sleep(pause).await;
                                }
                            }
                            Verdict::Reject(reply)
                        }
                    };
                    decide(&mut session, verdict)?;
                }
                Action::MessageData(chunk) => {
                    let mut incoming = match self.incoming.take() {
                        Some(i) => i,
                        None => {
                            if let Some(log) = self.log.as_mut() {
                                log.info("", "receiving message");
                            }
                            self.begin_message(&session)
                        }
                    };
                    incoming.push(chunk).await;
                    self.incoming = Some(incoming);
                }
                Action::MessageRefused => {
                    // The staging file goes with the writer.
                    if let Some(i) = self.incoming.take() {
                        drop_blocking(i);
                    }
                }
                Action::Deliver { .. } => {
                    let incoming = match self.incoming.take() {
                        Some(i) => i,
                        None => self.begin_message(&session),
                    };
                    let verdict = self.accept_message(incoming).await;
                    decide(&mut session, verdict)?;
                }
                Action::StartTls { discarded } => {
                    if discarded > 0 {
                        tracing::warn!(peer = %self.peer, discarded, "plaintext pipelined after STARTTLS discarded (command injection attempt)");
                    }
                    let Some(server_config) = self.connector.tls.clone() else {
                        break;
                    };
                    let Stream::Plain(tcp) = stream else {
                        break;
                    };
                    let wait = self.wait_time();
                    let tls_stream = match timeout(
                        wait,
                        TlsAcceptor::from(server_config).accept(tcp),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            let reason = TlsFailure::of_io(&e);
                            tracing::info!(peer = %self.peer, error = %e, reason = reason.label(), "TLS handshake failed");
                            self.shared.metrics.tls_failure(Direction::Inbound, reason);
                            if let Some(log) = self.log.as_mut() {
                                log.info(&e.to_string(), "TLS negotiation failed");
                            }
                            return Ok(());
                        }
                        Err(_) => {
                            tracing::info!(peer = %self.peer, "TLS handshake timed out");
                            self.shared
                                .metrics
                                .tls_failure(Direction::Inbound, TlsFailure::Timeout);
                            if let Some(log) = self.log.as_mut() {
                                log.info("timed out", "TLS negotiation failed");
                            }
                            return Ok(());
                        }
                    };
                    let facts = tls::facts(tls_stream.get_ref().1, &self.rt.trust);
                    let resumed = tls_stream.get_ref().1.handshake_kind()
                        == Some(rustls::HandshakeKind::Resumed);
                    self.shared.metrics.tls_handshake(resumed);
                    if self.log.is_some() {
                        self.certificate_problem = tls_stream
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|chain| {
                                tls::client_certificate_problem(
                                    chain,
                                    &self.rt.trust,
                                    OffsetDateTime::now_utc(),
                                )
                            });
                    }
                    if let Some(log) = self.log.as_mut() {
                        log_tls(
                            log,
                            &self.connector,
                            &facts,
                            self.certificate_problem.as_deref(),
                        );
                    }
                    tracing::info!(
                        peer = %self.peer,
                        resumed,
                        protocol = %facts.protocol,
                        cipher = %facts.cipher,
                        client_certificate = ?facts.client_certificate.as_ref().map(|c| &c.subject),
                        verified = facts.client_certificate.as_ref().is_some_and(|c| c.chain_verified),
                        direct_trust = facts.client_certificate.as_ref().is_some_and(|c| c.direct_trust),
                        "TLS established"
                    );
                    session = session
                        .into_tls(facts)
                        .map_err(|e| io::Error::other(e.to_string()))?;
                    self.auth = None;
                    stream = Stream::Tls(Box::new(tls_stream));
                }
                Action::Close => break,
                Action::AwaitingDecision => {
                    return Err(io::Error::other(
                        "session awaits a decision that was not asked",
                    ));
                }
            }
        }
        self.slots = None;
        stream.shutdown().await;
        Ok(())
    }

    /// Time left for the next read or write: the inactivity timeout,
    /// bounded by the connection timeout.
    fn wait_time(&self) -> Duration {
        self.connector
            .connection_inactivity_timeout
            .min(self.deadline.saturating_duration_since(Instant::now()))
    }

    async fn write(&self, stream: &mut Stream, bytes: &[u8]) -> io::Result<()> {
        let wait = self.wait_time().max(Duration::from_secs(1));
        match timeout(wait, stream.write_all(bytes)).await {
            Ok(r) => r,
            Err(_) => Err(io::ErrorKind::TimedOut.into()),
        }
    }

    async fn read(&self, stream: &mut Stream, buf: &mut [u8]) -> io::Result<Input> {
        let wait = self.wait_time();
        if wait.is_zero() {
            return Ok(Input::TimedOut);
        }
        let mut hard_stop = self.shared.hard_stop.clone();
        if *hard_stop.borrow() {
            return Ok(Input::Shutdown);
        }
        tokio::select! {
            r = timeout(wait, stream.read(buf)) => match r {
                Ok(Ok(0)) => Ok(Input::Eof),
                Ok(Ok(n)) => Ok(Input::Data(n)),
                Ok(Err(e)) => Err(e),
                Err(_) => Ok(Input::TimedOut),
            },
            _ = hard_stop.changed() => Ok(Input::Shutdown),
        }
    }

    /// Starts receiving a message: its stamper; the staging record is
    /// created once there is more to store than [`STAGE_BUFFER`].
    fn begin_message(&self, session: &Session) -> Incoming {
        let auth = self.auth.clone().unwrap_or(Auth::Anonymous);
        let ip = canonical_ip(self.peer.ip());
        // DATA is only entered with a HELO name and a transaction; without
        // them (never) nothing is queued.
        let known = session.envelope();
        let missing = known.is_none();
        let envelope = known.unwrap_or_else(|| xshell_smtp::Envelope {
            helo: String::new(),
            esmtp: false,
            mail_from: xshell_smtp::ReversePath::Null,
            params: Default::default(),
            rcpt_to: Vec::new(),
            rcpt_params: Vec::new(),
            tls: None,
        });
        let trace = TraceInfo {
            helo: &envelope.helo,
            esmtp: envelope.esmtp,
            client_ip: ip,
            by: &self.connector.session.hostname,
            tls: envelope.tls.as_ref(),
            single_recipient: (envelope.rcpt_to.len() == 1)
                .then(|| envelope.rcpt_to.first().map(ToString::to_string))
                .flatten(),
            now: OffsetDateTime::now_utc(),
            smtputf8: envelope.params.smtputf8,
        };
        let stamper = Stamper::new(
            stamp::received_header(&trace),
            stamp::org_headers(&auth, &self.rt.server_fqdn),
        )
        .with_max_hops(self.connector.max_hop_count)
        .requiring_ascii_header(!envelope.params.smtputf8)
        .assigning_message_id(format!(
            "<{}@{}>",
            queue::MessageId::generate(),
            self.connector.session.hostname
        ));
        let mut qenv = queue::Envelope::from_smtp(&envelope);
        qenv.client_ip = Some(ip);
        qenv.connector = Some(self.connector.name.clone());
        qenv.auth = Some(auth.facts());
        Incoming {
            queue: Arc::clone(self.shared.committer.queue()),
            qenv: Arc::new(qenv),
            auth,
            stamper,
            buffered: Vec::new(),
            writer: if missing {
                Err(Failure::Task)
            } else {
                Ok(None)
            },
        }
    }

    /// Makes the received message durable; the verdict carries the `250`
    /// (or the refusal).
    async fn accept_message(&self, mut incoming: Incoming) -> Verdict {
        match incoming.stamper.finish() {
            Ok(rest) => incoming.store(rest).await,
            Err(e) => incoming.fail(Failure::Refuse(e.reply())),
        }
        let Incoming {
            queue,
            qenv,
            auth,
            stamper,
            buffered,
            writer,
        } = incoming;
        let writer = match writer {
            Ok(w) => w,
            Err(f) => return self.refuse(f),
        };
        let committer = Arc::clone(&self.shared.committer);
        let record = Arc::clone(&qenv);
        // Write what is left (a small message: all of it, in one go),
        // then wait for the group commit that makes the record durable
        // (one syncfs, the rename into active/, one directory fsync for
        // every record committed at once): durable before the 250.
        let result = tokio::task::spawn_blocking(move || {
            committer.commit_record(write_staging(&queue, &record, writer, &buffered)?)
        })
        .await;
        let id = match result {
            Ok(Ok(id)) => id,
            Ok(Err(e)) => return self.refuse(Failure::Queue(e)),
            Err(_) => return self.refuse(Failure::Task),
        };
        let ip = canonical_ip(self.peer.ip());
        let message_id = stamper.message_id().map(str::to_string);
        let mut ev = TrackingEvent::new(EventId::Receive, id.to_string(), qenv.tls.as_ref());
        ev.message_id = message_id;
        ev.message_subject = stamper.subject().map(str::to_string);
        ev.sender = qenv.sender.clone();
        ev.recipients = qenv.recipients.iter().map(|r| r.address.clone()).collect();
        ev.dsn_from(&qenv);
        ev.client_ip = Some(ip);
        ev.connector = qenv.connector.clone();
        ev.auth_as = Some(auth.auth_as().to_string());
        ev.auth_domain = auth.domain().map(str::to_string);
        if let Err(e) = self.shared.tracking.write(&ev) {
            tracing::error!(error = %e, "cannot write the tracking log");
        }
        tracing::info!(
            peer = %self.peer,
            id = %id,
            sender = %qenv.sender,
            recipients = qenv.recipients.len(),
            auth_as = auth.auth_as(),
            tls = ?qenv.tls.as_ref().map(|t| &t.protocol),
            "message queued"
        );
        // metrics
        let class = match (&auth, &qenv.tls) {
            (Auth::Partner { .. }, _) => TlsClass::DomainSecured,
            (_, Some(_)) => TlsClass::Tls,
            (_, None) => TlsClass::Plaintext,
        };
        self.shared.metrics.received(&self.connector.name, class);
        self.shared.delivery.queued(id.clone());
        Verdict::AcceptWith(Reply::new(250, (2, 0, 0), format!("Queued as {id}")))
    }
}

/// Why a message being received will not be queued.
#[derive(Debug)]
enum Failure {
    /// The queue could not store it (see [`queue_failure_reply`]).
    Queue(queue::QueueError),
    /// A blocking queue task failed.
    Task,
    /// The message itself is refused (its header section is too large).
    Refuse(Reply),
}

/// Stamped octets an [`Incoming`] collects before it writes them: a
/// message smaller than this is written in one go at the end of DATA (with
/// its fsync and rename, as one blocking task: no extra thread hop for the
/// common sizes); a larger one streams to its staging record in pieces of
/// about this size. Per session that bounds what is held of a message to
/// this plus one [`xshell_smtp::DATA_CHUNK`] here, one more in the session
/// and the read buffer (about 270 KB), plus the header section while it is
/// stamped.
const STAGE_BUFFER: usize = 128 * 1024;

/// The message being received: what stamps it and the staging record it
/// is streamed to. Dropping it removes the staging file. It holds at most
/// [`STAGE_BUFFER`] plus one chunk, besides the stamper's header section.
struct Incoming {
    queue: Arc<queue::Queue>,
    qenv: Arc<queue::Envelope>,
    auth: Auth,
    stamper: Stamper,
    /// Stamped octets not yet written.
    buffered: Vec<u8>,
    /// The staging record (`None`: not created yet), or why the message
    /// will not be queued (the file is gone then; later chunks are dropped).
    writer: Result<Option<queue::RecordWriter>, Failure>,
}

impl Incoming {
    /// Stamps and stores the next unstuffed chunk.
    async fn push(&mut self, chunk: Vec<u8>) {
        if self.writer.is_err() {
            return;
        }
        match self.stamper.push(chunk) {
            Ok(bytes) => self.store(bytes).await,
            Err(e) => self.fail(Failure::Refuse(e.reply())),
        }
    }

    /// Collects `bytes`; past [`STAGE_BUFFER`], writes what was collected
    /// to the staging record (created now if needed) on a blocking thread.
    async fn store(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() || self.writer.is_err() {
            return;
        }
        if self.buffered.is_empty() {
            self.buffered = bytes;
        } else {
            self.buffered.extend_from_slice(&bytes);
        }
        if self.buffered.len() < STAGE_BUFFER {
            return;
        }
        let Ok(writer) = std::mem::replace(&mut self.writer, Err(Failure::Task)) else {
            return;
        };
        let buf = std::mem::take(&mut self.buffered);
        let queue = Arc::clone(&self.queue);
        let record = Arc::clone(&self.qenv);
        let written =
            tokio::task::spawn_blocking(move || write_staging(&queue, &record, writer, &buf)).await;
        self.writer = match written {
            Ok(Ok(w)) => Ok(Some(w)),
            // The writer removed its file.
            Ok(Err(e)) => Err(Failure::Queue(e)),
            Err(_) => Err(Failure::Task),
        };
    }

    /// The message will not be queued: its staging file is removed now.
    fn fail(&mut self, failure: Failure) {
        self.buffered = Vec::new();
        if let Ok(Some(w)) = std::mem::replace(&mut self.writer, Err(failure)) {
            drop_blocking(w);
        }
    }
}

/// Appends `bytes` to the staging record, creating it first when there is
/// none yet (blocking I/O).
fn write_staging(
    queue: &queue::Queue,
    envelope: &queue::Envelope,
    writer: Option<queue::RecordWriter>,
    bytes: &[u8],
) -> Result<queue::RecordWriter, queue::QueueError> {
    let mut w = match writer {
        Some(w) => w,
        None => queue.begin_record(envelope)?,
    };
    w.write(bytes)?;
    Ok(w)
}

/// Drops `value` (a staging file to remove) on a blocking thread.
fn drop_blocking<T: Send + 'static>(value: T) {
    drop(tokio::task::spawn_blocking(move || drop(value)));
}

impl Conn {
    /// The refusal for a message that was not queued.
    fn refuse(&self, failure: Failure) -> Verdict {
        match failure {
            Failure::Queue(e) => {
                tracing::error!(peer = %self.peer, error = %e, "cannot queue a message");
                Verdict::Reject(queue_failure_reply(Some(&e)))
            }
            Failure::Task => {
                tracing::error!(peer = %self.peer, "queue task failed");
                Verdict::Reject(queue_failure_reply(None))
            }
            Failure::Refuse(reply) => {
                tracing::info!(peer = %self.peer, code = reply.code, reply = ?reply.lines, "message refused");
                Verdict::Reject(reply)
            }
        }
    }
}

/// The transient reply for a message that could not be made durable:
/// `452 4.3.1` when the queue's filesystem is full or over quota (RFC 3463
/// "mail system full", as Postfix answers), `451 4.3.0` for any other
/// error (`None`: the queue task itself failed). Never a `250`.
fn queue_failure_reply(error: Option<&queue::QueueError>) -> Reply {
    if error.is_some_and(queue::QueueError::is_out_of_space) {
        Reply::new(
            452,
            (4, 3, 1),
            "Insufficient system storage: the message could not be queued, try again later",
        )
    } else {
        Reply::new(
            451,
            (4, 3, 0),
            "Temporary failure: the message could not be queued, try again later",
        )
    }
}

/// The protocol log's TLS lines: the protocol and cipher, the certificate
/// we presented, the one received and whether it verified.
fn log_tls(
    log: &mut SessionLog,
    connector: &ConnectorRuntime,
    facts: &xshell_smtp::TlsFacts,
    problem: Option<&str>,
) {
    log.info(
        "",
        &format!(
            "TLS protocol {} negotiation succeeded using cipher suite {}",
            facts.protocol, facts.cipher
        ),
    );
    if let Some(subject) = &connector.certificate_subject {
        log.info(subject, "Sending certificate");
    }
    if let Some(tp) = &connector.certificate {
        log.info(tp, "Certificate thumbprint");
    }
    match &facts.client_certificate {
        Some(c) => {
            log.info(&c.subject, "Received certificate");
            log.info(&c.issuer, "Certificate issuer name");
            log.info(&c.thumbprint, "Certificate thumbprint");
            if c.direct_trust {
                log.info(
                    "",
                    "The certificate is one of this organization's own (Direct Trust)",
                );
            }
            match problem {
                None if c.chain_verified => log.info("", "Certificate validated"),
                None => log.info("not verified", "Certificate validation failed"),
                Some(why) => log.info(why, "Certificate validation failed"),
            }
        }
        None if connector.requests_client_certificate => {
            log.info("", "No client certificate was presented");
        }
        None => {}
    }
}

/// The authentication verdict as the protocol log writes it.
fn auth_verdict(auth: &Auth) -> String {
    let mut s = format!("AuthAs={}", auth.auth_as());
    if let Some(m) = auth.mechanism_name() {
        s.push_str(&format!("; AuthMechanism={m}"));
    }
    if let Some(d) = auth.domain() {
        s.push_str(&format!("; AuthDomain={d}; DomainSecured=true"));
    }
    s
}

/// Why MAIL FROM was refused, in more words than the reply (for the
/// protocol log): for a Domain Security certificate failure, what was wrong
/// with the certificate.
fn refusal_reason(
    reply: &Reply,
    tls: Option<&xshell_smtp::TlsFacts>,
    from: &xshell_smtp::ReversePath,
    problem: Option<&str>,
) -> String {
    let base = reply.to_string();
    let cert = tls.and_then(|t| t.client_certificate.as_ref());
    if reply.enhanced != Some((4, 7, 5)) {
        return base;
    }
    let domain = from.mailbox().map(|m| m.domain.clone()).unwrap_or_default();
    let why = match (cert, problem) {
        (_, Some(p)) => p.to_string(),
        (Some(c), None) if !c.chain_verified => "the certificate chain is not verified".into(),
        (Some(c), None) => format!(
            "no certificate name matches {domain} (subject alternative names: {})",
            if c.names.is_empty() {
                "none".to_string()
            } else {
                c.names.join(" ")
            }
        ),
        (None, None) => "no certificate".into(),
    };
    format!("{base}; Domain Security for {domain}: {why}")
}

fn decide(session: &mut Session, verdict: Verdict) -> io::Result<()> {
    session
        .decide(verdict)
        .map_err(|e| io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::path::PathBuf;

    use super::queue_failure_reply;
    use crate::queue::QueueError;

    fn io_error(kind: io::ErrorKind) -> QueueError {
        QueueError::Io {
            op: "write",
            path: PathBuf::from("/q/tmp/x.eml"),
            source: io::Error::from(kind),
        }
    }

    #[test]
    fn a_full_disk_is_452_4_3_1_and_anything_else_451_4_3_0() {
        for kind in [io::ErrorKind::StorageFull, io::ErrorKind::QuotaExceeded] {
            let e = io_error(kind);
            assert!(e.is_out_of_space(), "{kind:?}");
            let r = queue_failure_reply(Some(&e)).to_string();
            assert!(r.starts_with("452 4.3.1 "), "{kind:?}: {r}");
        }
        // ENOSPC and EDQUOT as the OS reports them
        for errno in [28, 122] {
            let e = QueueError::Io {
                op: "write",
                path: PathBuf::from("/q"),
                source: io::Error::from_raw_os_error(errno),
            };
            assert!(e.is_out_of_space(), "errno {errno}");
            assert!(
                queue_failure_reply(Some(&e))
                    .to_string()
                    .starts_with("452 4.3.1 ")
            );
        }
        // the group committer's fsync error keeps the kind
        let e = QueueError::Io {
            op: "fsync directory",
            path: PathBuf::from("/q/active"),
            source: io::Error::new(io::ErrorKind::StorageFull, "No space left on device"),
        };
        assert!(
            queue_failure_reply(Some(&e))
                .to_string()
                .starts_with("452 4.3.1 ")
        );
        for e in [
            io_error(io::ErrorKind::PermissionDenied),
            io_error(io::ErrorKind::Other),
            io_error(io::ErrorKind::NotFound),
            QueueError::CommitterStopped,
        ] {
            assert!(!e.is_out_of_space(), "{e}");
            let r = queue_failure_reply(Some(&e)).to_string();
            assert!(r.starts_with("451 4.3.0 "), "{e}: {r}");
        }
        assert!(
            queue_failure_reply(None)
                .to_string()
                .starts_with("451 4.3.0 ")
        );
    }
}
