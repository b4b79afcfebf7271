//! A small SMTP client for Test-SmtpConnectivity: banner, EHLO, and a
//! STARTTLS handshake that records the certificate the server presents.
//!
//! It verifies nothing about that certificate (it reports it; judging it is
//! the administrator's job, with the thumbprint in hand), never sends mail,
//! and bounds every step with a timeout. Blocking std sockets and rustls
//! (aws-lc-rs); replies are read with the protocol crate (`xshell-smtp`),
//! not the engine.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use xshell_core::pki::cert::parse_certificate;
use xshell_smtp::client::Extensions;
use xshell_smtp::reply::{Reply, ReplyParser};

pub use xshell_core::control::{ProbeStep, StepResult};

/// The certificate a server presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    pub subject: String,
    pub issuer: String,
    pub thumbprint: String,
    /// RFC 3339.
    pub not_after: String,
    pub not_after_time: Option<time::OffsetDateTime>,
}

/// What one probe found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probe {
    /// The whole conversation worked (banner 220, EHLO 250, and the TLS
    /// handshake when STARTTLS was offered).
    pub success: bool,
    pub banner: Option<String>,
    pub starttls_offered: bool,
    pub certificate: Option<PeerCertificate>,
    pub tls_version: Option<String>,
    pub cipher: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    pub latency_ms: u64,
    /// Each step of the conversation, in order (the failing one last).
    pub steps: Vec<ProbeStep>,
}

/// Adds a step that passed; a failure is added by [`probe`] from the
/// error, under the name of the step that was running.
fn pass(p: &mut Probe, name: &str, detail: impl Into<String>) {
    p.steps.push(ProbeStep {
        name: name.to_string(),
        result: StepResult::Pass,
        detail: detail.into(),
    });
}

/// Longest reply accepted.
const MAX_REPLY: usize = 64 * 1024;

/// Reads one SMTP reply (all its lines) with the protocol crate's parser.
/// Reads byte by byte so nothing after the reply is consumed (the TLS
/// handshake follows `220` directly).
fn read_reply(r: &mut impl Read) -> io::Result<Reply> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if r.read(&mut byte)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        buf.push(byte[0]);
        if buf.len() > MAX_REPLY {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "reply too long"));
        }
        if byte[0] != b'\n' {
            continue;
        }
        match ReplyParser::parse(&buf) {
            Ok(Some((reply, _))) => return Ok(reply),
            Ok(None) => {}
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
    }
}

/// The reply's text on one line, for messages.
fn text(reply: &Reply) -> String {
    reply.lines.join(" ")
}

fn command(s: &mut (impl Read + Write), line: &str) -> io::Result<Reply> {
    s.write_all(format!("{line}\r\n").as_bytes())?;
    s.flush()?;
    read_reply(s)
}

/// Accepts any server certificate, still checking the handshake
/// signatures: the probes report on the certificate rather than refuse it,
/// and Send-MailMessage -SkipCertificateCheck uses it too.
#[derive(Debug)]
pub(crate) struct AcceptAny(pub(crate) Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls_config() -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn version_name(v: rustls::ProtocolVersion) -> String {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLS1.3".into(),
        rustls::ProtocolVersion::TLSv1_2 => "TLS1.2".into(),
        other => format!("{other:?}"),
    }
}

/// Probes `addr`: banner, `EHLO ehlo_name`, and STARTTLS (with SNI
/// `server_name` when it is a DNS name) if offered.
pub fn probe(addr: SocketAddr, ehlo_name: &str, server_name: &str, timeout: Duration) -> Probe {
    let started = Instant::now();
    let mut p = Probe::default();
    if let Err(e) = run(&mut p, addr, ehlo_name, server_name, timeout) {
        // The step that was running: the one after the last that passed.
        let order = [
            "Connect",
            "Banner",
            "EHLO",
            "STARTTLS",
            "TLS handshake",
            "EHLO after TLS",
        ];
        let done = p.steps.len();
        let name = order.get(done).copied().unwrap_or("QUIT");
        p.steps.push(ProbeStep {
            name: name.to_string(),
            result: StepResult::Fail,
            detail: e.clone(),
        });
        p.error = Some(e);
    } else {
        p.success = true;
    }
    p.latency_ms = started.elapsed().as_millis() as u64;
    p
}

fn run(
    p: &mut Probe,
    addr: SocketAddr,
    ehlo_name: &str,
    server_name: &str,
    timeout: Duration,
) -> Result<(), String> {
    let mut tcp = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    tcp.set_read_timeout(Some(timeout))
        .and_then(|()| tcp.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    pass(p, "Connect", addr.to_string());
    let banner = read_reply(&mut tcp).map_err(|e| format!("no banner: {e}"))?;
    p.banner = Some(format!("{} {}", banner.code, text(&banner)));
    if banner.code != 220 {
        return Err(format!(
            "the banner is not 220: {} {}",
            banner.code,
            text(&banner)
        ));
    }
    let shown = p.banner.clone().unwrap_or_default();
    pass(p, "Banner", shown);
    let ehlo = command(&mut tcp, &format!("EHLO {ehlo_name}")).map_err(|e| format!("EHLO: {e}"))?;
    if ehlo.code != 250 {
        return Err(format!("EHLO was refused: {ehlo}"));
    }
    pass(p, "EHLO", "250");
    p.starttls_offered = Extensions::from_ehlo(&ehlo).starttls;
    if !p.starttls_offered {
        p.steps.push(ProbeStep {
            name: "STARTTLS".into(),
            result: StepResult::Warning,
            detail: "not offered (no certificate to present, or TLS not in AuthMechanism)".into(),
        });
        let _ = command(&mut tcp, "QUIT");
        pass(p, "QUIT", "sent");
        return Ok(());
    }
    let reply = command(&mut tcp, "STARTTLS").map_err(|e| format!("STARTTLS: {e}"))?;
    if reply.code != 220 {
        return Err(format!("STARTTLS was refused: {reply}"));
    }
    pass(p, "STARTTLS", "offered; 220");
    let config = tls_config().map_err(|e| format!("TLS configuration: {e}"))?;
    let name = ServerName::try_from(server_name.to_string())
        .or_else(|_| ServerName::try_from(addr.ip().to_string()))
        .map_err(|e| format!("server name '{server_name}': {e}"))?;
    let conn = ClientConnection::new(config, name).map_err(|e| format!("TLS: {e}"))?;
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn
            .complete_io(&mut tls.sock)
            .map_err(|e| format!("TLS handshake: {e}"))?;
    }
    p.tls_version = tls.conn.protocol_version().map(version_name);
    p.cipher = tls
        .conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()));
    if let Some(der) = tls.conn.peer_certificates().and_then(|c| c.first()) {
        p.certificate = Some(match parse_certificate(der.as_ref()) {
            Ok(info) => PeerCertificate {
                subject: info.subject,
                issuer: info.issuer,
                thumbprint: info.thumbprint,
                not_after: info
                    .not_after
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                not_after_time: Some(info.not_after),
            },
            Err(e) => PeerCertificate {
                subject: format!("(unreadable certificate: {e})"),
                issuer: String::new(),
                thumbprint: String::new(),
                not_after: String::new(),
                not_after_time: None,
            },
        });
    }
    let detail = format!(
        "{} {}, certificate {}",
        p.tls_version.as_deref().unwrap_or("?"),
        p.cipher.as_deref().unwrap_or("?"),
        p.certificate
            .as_ref()
            .map_or("none", |c| c.thumbprint.as_str())
    );
    pass(p, "TLS handshake", detail);
    let ehlo = command(&mut tls, &format!("EHLO {ehlo_name}"))
        .map_err(|e| format!("EHLO after TLS: {e}"))?;
    if ehlo.code != 250 {
        return Err(format!("EHLO after STARTTLS was refused: {ehlo}"));
    }
    pass(p, "EHLO after TLS", "250");
    let _ = command(&mut tls, "QUIT");
    pass(p, "QUIT", "sent");
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::read_reply;

    #[test]
    fn multi_line_replies() {
        let mut r = &b"250-mail.example\r\n250-SIZE 1\r\n250 STARTTLS\r\nextra"[..];
        let reply = read_reply(&mut r).unwrap();
        assert_eq!(reply.code, 250);
        assert_eq!(reply.lines, ["mail.example", "SIZE 1", "STARTTLS"]);
        assert_eq!(r, b"extra");
        assert!(read_reply(&mut &b"hello\r\n"[..]).is_err());
        assert!(read_reply(&mut &b"250-x\r\n"[..]).is_err());
    }
}
