//! A bare rustls SMTP sink (`xshell-bench tls-sink`): STARTTLS with a
//! required client certificate that chains to the lab CA, then every
//! command gets 250 and every message is thrown away. No queue, no disk, no
//! policy. It is the reference for "how fast can rustls on this machine do
//! mutual-TLS handshakes", and the target that shows whether the TLS load
//! client is the bottleneck (smtp-sink cannot do TLS).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// The server configuration: our certificate, client certificates required
/// and verified against `ca`, a session cache and TLS 1.3 tickets as the
/// engine has them (a client without a session cache gets full handshakes).
pub fn server_config(cert: &Path, key: &Path, ca: &Path) -> Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<_, _>>()?;
    let key =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading {}", key.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca)? {
        roots.add(c?)?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .context("client verifier")?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(4096);
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()?;
    Ok(Arc::new(config))
}

/// Serves until killed; prints `listening <addr>` once bound.
pub fn serve(addr: SocketAddr, config: Arc<ServerConfig>) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(addr).await?;
        println!("listening {}", listener.local_addr()?);
        let acceptor = TlsAcceptor::from(config);
        loop {
            let (tcp, _) = listener.accept().await?;
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = session(tcp, acceptor).await;
            });
        }
    })
}

async fn session(tcp: TcpStream, acceptor: TlsAcceptor) -> Result<()> {
    tcp.set_nodelay(true)?;
    let mut plain = BufReader::new(tcp);
    plain.write_all(b"220 tls-sink ESMTP\r\n").await?;
    loop {
        let mut line = String::new();
        if plain.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => {
                plain
                    .write_all(
                        b"250-tls-sink\r\n250-PIPELINING\r\n250-SIZE 104857600\r\n250 STARTTLS\r\n",
                    )
                    .await?
            }
            "STAR" => {
                plain.write_all(b"220 2.0.0 Ready to start TLS\r\n").await?;
                let tls = acceptor.accept(plain.into_inner()).await?;
                return commands(BufReader::new(tls)).await;
            }
            "QUIT" => {
                plain.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => {
                plain
                    .write_all(b"530 5.7.0 Must issue a STARTTLS command first\r\n")
                    .await?
            }
        }
    }
}

async fn commands<S: AsyncRead + AsyncWrite + Unpin>(mut s: BufReader<S>) -> Result<()> {
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        if s.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or(b"").to_ascii_uppercase();
        match verb.as_slice() {
            b"EHLO" => {
                s.write_all(b"250-tls-sink\r\n250-PIPELINING\r\n250 SIZE 104857600\r\n")
                    .await?
            }
            b"DATA" => {
                s.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                loop {
                    line.clear();
                    if s.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" {
                        break;
                    }
                }
                s.write_all(b"250 2.0.0 Ok: discarded\r\n").await?;
            }
            b"QUIT" => {
                s.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => s.write_all(b"250 2.0.0 Ok\r\n").await?,
        }
    }
}
