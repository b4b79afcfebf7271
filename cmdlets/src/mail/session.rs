//! Drives the shared SMTP client session (`xshell_smtp::client`) over a
//! blocking socket for Send-MailMessage: the connection (from a chosen
//! local address), the STARTTLS handshake (rustls, aws-lc-rs, TLS 1.2 and
//! 1.3, optionally with a client certificate), one transaction and QUIT.
//! Every read and write is bounded by the timeout. The protocol decisions
//! are the session's; this module only moves bytes and records the
//! conversation.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::diagnostics::probe::AcceptAny;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConnection, RootCertStore, StreamOwned};
use xshell_core::pki::cert::parse_certificate;
use xshell_smtp::client::{
    ClientConfig, ClientSession, Event, SessionFailure, StartTlsMode, Transaction,
    TransactionResult,
};

/// How the server's certificate is checked.
#[derive(Debug, Clone)]
pub enum ServerCheck {
    /// The chain must reach one of these roots and name `name`.
    Verify { roots: Vec<CertificateDer<'static>> },
    /// Anything is accepted (-SkipCertificateCheck); still recorded.
    Skip,
}

/// Our TLS client certificate (-CertificateThumbprint).
#[derive(Debug)]
pub struct ClientIdentity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// What one send needs.
#[derive(Debug)]
pub struct Plan {
    pub server: Vec<SocketAddr>,
    pub source: Option<IpAddr>,
    pub helo: String,
    pub use_tls: bool,
    /// The name the server certificate must carry (and the SNI).
    pub tls_name: String,
    pub check: ServerCheck,
    pub identity: Option<ClientIdentity>,
    pub timeout: Duration,
}

/// The TLS facts after STARTTLS.
#[derive(Debug, Clone, Default)]
pub struct TlsInfo {
    pub version: String,
    pub cipher: String,
    pub peer_subject: Option<String>,
    pub peer_issuer: Option<String>,
    pub peer_thumbprint: Option<String>,
    pub peer_not_after: Option<String>,
    /// The chain was verified (false with -SkipCertificateCheck).
    pub verified: bool,
    /// A client certificate was presented.
    pub client_certificate: bool,
}

/// The outcome of a conversation that got as far as a transaction.
#[derive(Debug)]
pub struct Outcome {
    pub endpoint: SocketAddr,
    pub greeting: Option<String>,
    pub result: TransactionResult,
    pub tls: Option<TlsInfo>,
}

/// Why nothing (or not everything) was sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("cannot connect to {target}: {message}")]
    Connect { target: String, message: String },
    #[error("-SourceIPAddress {0}: cannot bind to it: {1}")]
    Bind(IpAddr, String),
    #[error("{endpoint}: {failure}")]
    Session {
        endpoint: SocketAddr,
        failure: SessionFailure,
    },
    #[error("{endpoint}: TLS handshake failed: {message}")]
    Tls {
        endpoint: SocketAddr,
        message: String,
    },
    #[error("{endpoint}: {message}")]
    Io {
        endpoint: SocketAddr,
        message: String,
    },
}

/// One line of the conversation: `S: ...` from the server, `C: ...` from us,
/// `*  ...` about the connection.
pub type Transcript = Vec<String>;

enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    /// Only while switching.
    Gone,
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Gone => Ok(()),
        }
    }
}

fn connect(plan: &Plan, log: &mut dyn FnMut(String)) -> Result<(TcpStream, SocketAddr), SendError> {
    let mut last = String::from("no address");
    for addr in &plan.server {
        if let Some(src) = plan.source
            && src.is_ipv4() != addr.is_ipv4()
        {
            last = format!("{addr} is not of the same family as -SourceIPAddress {src}");
            continue;
        }
        let domain = socket2::Domain::for_address(*addr);
        let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None).map_err(|e| {
            SendError::Connect {
                target: addr.to_string(),
                message: e.to_string(),
            }
        })?;
        if let Some(src) = plan.source {
            socket
                .bind(&SocketAddr::new(src, 0).into())
                .map_err(|e| SendError::Bind(src, e.to_string()))?;
        }
        match socket.connect_timeout(&(*addr).into(), plan.timeout) {
            Ok(()) => {
                let tcp: TcpStream = socket.into();
                let local = tcp.local_addr().map(|a| a.to_string()).unwrap_or_default();
                log(format!("*  connected to {addr} from {local}"));
                return Ok((tcp, *addr));
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(SendError::Connect {
        target: plan
            .server
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        message: last,
    })
}

/// Logs complete lines of `buf` (server input) as `S: ...`, keeping a
/// partial last line for the next read.
fn log_lines(pending: &mut Vec<u8>, prefix: &str, log: &mut dyn FnMut(String)) {
    while let Some(i) = pending.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = pending.drain(..=i).collect();
        let text = String::from_utf8_lossy(&line);
        log(format!("{prefix}{}", text.trim_end_matches(['\r', '\n'])));
    }
}

/// Writes the session's pending output and logs it (the message itself as
/// its size only).
fn write_out(
    session: &mut ClientSession,
    stream: &mut Stream,
    log: &mut dyn FnMut(String),
    last_command: &mut String,
    go_ahead: bool,
) -> io::Result<()> {
    let out = session.take_output();
    if out.is_empty() {
        return Ok(());
    }
    if out.starts_with(b"BDAT ") {
        // RFC 3030: the command line, then the message in the same write.
        let end = out
            .iter()
            .position(|&b| b == b'\n')
            .map_or(out.len(), |i| i + 1);
        let line = String::from_utf8_lossy(&out[..end]).trim_end().to_string();
        log(format!("C: {line}"));
        log(format!("C: <the message, {} octets>", out.len() - end));
        last_command.clear();
    } else if *last_command == "DATA" && go_ahead {
        log(format!(
            "C: <the message, {} octets, and the final dot>",
            out.len()
        ));
        last_command.clear();
    } else {
        for line in String::from_utf8_lossy(&out).lines() {
            log(format!("C: {line}"));
            *last_command = line.to_string();
        }
    }
    stream.write_all(&out)?;
    stream.flush()
}

/// Runs the conversation: connect, EHLO, STARTTLS (when `use_tls`), the
/// transaction, QUIT. `log` receives each transcript line as it happens.
pub fn send(
    plan: Plan,
    tx: Transaction,
    log: &mut dyn FnMut(String),
) -> Result<Outcome, SendError> {
    let (tcp, endpoint) = connect(&plan, log)?;
    let io_err = |e: io::Error| SendError::Io {
        endpoint,
        message: match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                format!("no answer within {} s", plan.timeout.as_secs())
            }
            _ => e.to_string(),
        },
    };
    tcp.set_read_timeout(Some(plan.timeout))
        .and_then(|()| tcp.set_write_timeout(Some(plan.timeout)))
        .map_err(io_err)?;
    let mut stream = Stream::Plain(tcp);
    let mut session = ClientSession::new(ClientConfig {
        helo_name: plan.helo.clone(),
        starttls: if plan.use_tls {
            StartTlsMode::Required
        } else {
            StartTlsMode::Never
        },
        loop_detection: false,
        auth: None,
    });
    let mut tx = Some(tx);
    let mut result = None;
    let mut tls_info = None;
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    // The last command we sent: the output after DATA's 354 is the message.
    let mut last_command = String::new();
    // The server's last reply was 354 (go ahead with the message).
    let mut go_ahead = false;
    loop {
        match session.poll() {
            Event::NeedInput => {
                write_out(&mut session, &mut stream, log, &mut last_command, go_ahead)
                    .map_err(io_err)?;
                let n = match stream.read(&mut buf) {
                    // Closed after the transaction, before answering QUIT
                    // (a TLS peer may not send close_notify): sent is sent.
                    Ok(0) | Err(_) if result.is_some() => break,
                    Ok(n) => n,
                    Err(e) => return Err(io_err(e)),
                };
                if n == 0 {
                    return Err(SendError::Io {
                        endpoint,
                        message: "the server closed the connection".into(),
                    });
                }
                go_ahead = buf[..n].starts_with(b"354");
                pending.extend_from_slice(&buf[..n]);
                log_lines(&mut pending, "S: ", log);
                session.feed(&buf[..n]);
            }
            Event::StartTls => {
                write_out(&mut session, &mut stream, log, &mut last_command, go_ahead)
                    .map_err(io_err)?;
                pending.clear();
                let Stream::Plain(tcp) = std::mem::replace(&mut stream, Stream::Gone) else {
                    return Err(SendError::Io {
                        endpoint,
                        message: "STARTTLS twice".into(),
                    });
                };
                let (tls, info) = handshake(&plan, tcp, endpoint)?;
                log(format!(
                    "*  TLS {} {}{}",
                    info.version,
                    info.cipher,
                    if info.client_certificate {
                        ", client certificate presented"
                    } else {
                        ""
                    }
                ));
                if let Some(s) = &info.peer_subject {
                    log(format!(
                        "*  server certificate: {s}; issuer {}; thumbprint {}; {}",
                        info.peer_issuer.as_deref().unwrap_or(""),
                        info.peer_thumbprint.as_deref().unwrap_or(""),
                        if info.verified {
                            format!("verified for {}", plan.tls_name)
                        } else {
                            "not verified (-SkipCertificateCheck)".into()
                        }
                    ));
                }
                tls_info = Some(info);
                stream = Stream::Tls(Box::new(tls));
                // The session only errs when it did not ask for TLS.
                session.tls_established().map_err(|e| SendError::Io {
                    endpoint,
                    message: e.to_string(),
                })?;
            }
            Event::Ready => match tx.take() {
                Some(t) => session.send(t).map_err(|e| SendError::Io {
                    endpoint,
                    message: e.to_string(),
                })?,
                None => session.quit(),
            },
            Event::SendBody | Event::SendChunk => {
                // In-memory messages are written by the session itself.
                return Err(SendError::Io {
                    endpoint,
                    message: "unexpected request for a spooled body".into(),
                });
            }
            Event::Done(r) => result = Some(r),
            Event::Failed(failure) => {
                let _ = write_out(&mut session, &mut stream, log, &mut last_command, go_ahead);
                return Err(SendError::Session { endpoint, failure });
            }
            Event::Closed => {
                let _ = write_out(&mut session, &mut stream, log, &mut last_command, go_ahead);
                break;
            }
        }
    }
    let greeting = session
        .greeting()
        .map(|g| format!("{} {}", g.code, g.lines.join(" ")));
    match result {
        Some(result) => Ok(Outcome {
            endpoint,
            greeting,
            result,
            tls: tls_info,
        }),
        None => Err(SendError::Io {
            endpoint,
            message: "the session ended before the message was sent".into(),
        }),
    }
}

fn handshake(
    plan: &Plan,
    tcp: TcpStream,
    endpoint: SocketAddr,
) -> Result<(StreamOwned<ClientConnection, TcpStream>, TlsInfo), SendError> {
    let fail = |message: String| SendError::Tls { endpoint, message };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(e.to_string()))?;
    let verified = matches!(plan.check, ServerCheck::Verify { .. });
    let builder = match &plan.check {
        ServerCheck::Verify { roots } => {
            let mut store = RootCertStore::empty();
            for r in roots {
                // A root rustls cannot read is left out (it could not anchor a chain).
                let _ = store.add(r.clone());
            }
            let verifier =
                WebPkiServerVerifier::builder_with_provider(Arc::new(store), Arc::clone(&provider))
                    .build()
                    .map_err(|e| fail(format!("the store's trusted roots: {e}")))?;
            builder.with_webpki_verifier(verifier)
        }
        ServerCheck::Skip => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(Arc::clone(&provider)))),
    };
    let config = match &plan.identity {
        Some(id) => builder
            .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
            .map_err(|e| fail(format!("-CertificateThumbprint: {e}")))?,
        None => builder.with_no_client_auth(),
    };
    let name = ServerName::try_from(plan.tls_name.clone())
        .map_err(|e| fail(format!("server name '{}': {e}", plan.tls_name)))?;
    let conn = ClientConnection::new(Arc::new(config), name).map_err(|e| fail(e.to_string()))?;
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).map_err(|e| {
            let hint = if verified && e.to_string().contains("invalid peer certificate") {
                format!(
                    " (checked against the store's trusted roots and the name '{}'; \
                     -TlsServerName sets the name, -SkipCertificateCheck skips the check)",
                    plan.tls_name
                )
            } else {
                String::new()
            };
            fail(format!("{e}{hint}"))
        })?;
    }
    let mut info = TlsInfo {
        version: match tls.conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".into(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".into(),
            Some(v) => format!("{v:?}"),
            None => String::new(),
        },
        cipher: tls
            .conn
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default(),
        verified,
        client_certificate: plan.identity.is_some(),
        ..TlsInfo::default()
    };
    if let Some(der) = tls.conn.peer_certificates().and_then(|c| c.first())
        && let Ok(c) = parse_certificate(der.as_ref())
    {
        info.peer_subject = Some(c.subject);
        info.peer_issuer = Some(c.issuer);
        info.peer_thumbprint = Some(c.thumbprint);
        info.peer_not_after = c
            .not_after
            .format(&time::format_description::well_known::Rfc3339)
            .ok();
    }
    Ok((tls, info))
}
