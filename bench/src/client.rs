//! The load client: SMTP sessions over plaintext or STARTTLS (rustls,
//! aws-lc-rs, client certificate), one message per connection or many,
//! with the latency of every transaction (MAIL to the 250 after the final
//! dot). No pipelining, like smtp-source, so both servers see the same
//! command sequence. Every run is bounded by a message count and a deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;
use xshell_smtp::client::Extensions;
use xshell_smtp::{Reply, ReplyParser};

/// Any byte stream a session can run over (TCP or TLS over TCP).
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Reads are buffered; every write is one command or one whole message.
type Stream = BufReader<Box<dyn Io>>;

/// STARTTLS settings: the client configuration (our certificate, the
/// trusted lab CA, no resumption) and the name the server must carry.
#[derive(Clone)]
pub struct Tls {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
}

/// What a run does.
#[derive(Clone)]
pub struct Load {
    pub addr: SocketAddr,
    pub sessions: usize,
    pub messages: usize,
    /// A new connection (and handshake) for every message.
    pub per_connection: bool,
    pub tls: Option<Tls>,
    /// Only connect, EHLO, STARTTLS, EHLO, QUIT: no transaction.
    pub handshake_only: bool,
    pub from: String,
    pub to: String,
    /// The message, already dot-stuffed and ending with CRLF.CRLF.
    pub data: Arc<Vec<u8>>,
    /// No new message is started after this long.
    pub deadline: Duration,
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Messages that got a 250 after the final dot (or, for
    /// handshake-only runs, sessions that completed).
    pub accepted: usize,
    pub failed: usize,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Microseconds from MAIL to the 250 after DATA, one per message.
    pub latencies_us: Vec<u32>,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.accepted as f64 / s
        } else {
            0.0
        }
    }
}

/// A message of about `size` bytes (headers plus a body of 76-character
/// lines), with the terminating dot.
pub fn message(from: &str, to: &str, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: xshell-bench\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\nMIME-Version: 1.0\r\n\r\n"
    )
    .into_bytes();
    let line = [b'x'; 76];
    let body_end = m.len() + size;
    while m.len() < body_end {
        let n = (body_end - m.len()).min(76);
        m.extend_from_slice(&line[..n]);
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(b".\r\n");
    m
}

/// Runs `load` on a runtime of its own (two worker threads, the machine's
/// core count on the reference box) and returns the outcome.
pub fn run(load: &Load, threads: usize) -> Result<Outcome> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .context("starting the load client's runtime")?;
    rt.block_on(run_async(load.clone()))
}

async fn run_async(load: Load) -> Result<Outcome> {
    let load = Arc::new(load);
    let next = Arc::new(AtomicUsize::new(0));
    let shared = Arc::new(Mutex::new(Outcome::default()));
    let start = Instant::now();
    let sessions = load.sessions.min(load.messages).max(1);
    let mut tasks = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        let (load, next, shared) = (load.clone(), next.clone(), shared.clone());
        tasks.push(tokio::spawn(async move {
            let mut local = Outcome::default();
            session_loop(&load, &next, start, &mut local).await;
            let mut all = shared.lock().await;
            all.accepted += local.accepted;
            all.failed += local.failed;
            if all.first_error.is_none() {
                all.first_error = local.first_error;
            }
            all.latencies_us.extend(local.latencies_us);
        }));
    }
    for t in tasks {
        t.await.context("a load session panicked")?;
    }
    let mut out = shared.lock().await.clone();
    out.elapsed = start.elapsed();
    Ok(out)
}

/// Takes message numbers until none are left or the deadline passes.
fn take(load: &Load, next: &AtomicUsize, start: Instant) -> bool {
    start.elapsed() < load.deadline && next.fetch_add(1, Ordering::Relaxed) < load.messages
}

async fn session_loop(load: &Load, next: &AtomicUsize, start: Instant, out: &mut Outcome) {
    let mut conn: Option<Stream> = None;
    while take(load, next, start) {
        let result = async {
            if conn.is_none() {
                conn = Some(open(load).await?);
            }
            let s = conn.as_mut().context("no connection")?;
            if load.handshake_only {
                return Ok(None);
            }
            transaction(s, load).await.map(Some)
        }
        .await;
        match result {
            Ok(latency) => {
                out.accepted += 1;
                if let Some(l) = latency {
                    out.latencies_us
                        .push(u32::try_from(l.as_micros()).unwrap_or(u32::MAX));
                }
                if (load.per_connection || load.handshake_only)
                    && let Some(mut s) = conn.take()
                {
                    let _ = command(&mut s, b"QUIT\r\n").await;
                }
            }
            Err(e) => {
                out.failed += 1;
                if out.first_error.is_none() {
                    out.first_error = Some(format!("{e:#}"));
                }
                conn = None;
            }
        }
    }
    if let Some(mut s) = conn.take() {
        let _ = command(&mut s, b"QUIT\r\n").await;
    }
}

/// Connects, reads the greeting, EHLO, and with TLS: STARTTLS, the
/// handshake (with our certificate) and EHLO again.
async fn open(load: &Load) -> Result<Stream> {
    let tcp = TcpStream::connect(load.addr)
        .await
        .with_context(|| format!("connecting to {}", load.addr))?;
    tcp.set_nodelay(true)?;
    let mut s: Stream = BufReader::new(Box::new(tcp));
    expect(&mut s, 220, "greeting").await?;
    let reply = command(&mut s, b"EHLO client.bench.example\r\n").await?;
    check(&reply, 250, "EHLO")?;
    let Some(tls) = &load.tls else {
        return Ok(s);
    };
    if !Extensions::from_ehlo(&reply).starttls {
        bail!("the server does not offer STARTTLS");
    }
    let reply = command(&mut s, b"STARTTLS\r\n").await?;
    check(&reply, 220, "STARTTLS")?;
    if !s.buffer().is_empty() {
        bail!("data after the STARTTLS reply (injection)");
    }
    let boxed = s.into_inner();
    let tls_stream = TlsConnector::from(tls.config.clone())
        .connect(tls.server_name.clone(), boxed)
        .await
        .context("TLS handshake")?;
    let mut s: Stream = BufReader::new(Box::new(tls_stream));
    let reply = command(&mut s, b"EHLO client.bench.example\r\n").await?;
    check(&reply, 250, "EHLO after STARTTLS")?;
    Ok(s)
}

/// MAIL, RCPT, DATA, the message; the time from MAIL to the final 250.
async fn transaction(s: &mut Stream, load: &Load) -> Result<Duration> {
    let t0 = Instant::now();
    let r = command(s, format!("MAIL FROM:<{}>\r\n", load.from).as_bytes()).await?;
    check(&r, 250, "MAIL")?;
    let r = command(s, format!("RCPT TO:<{}>\r\n", load.to).as_bytes()).await?;
    check(&r, 250, "RCPT")?;
    let r = command(s, b"DATA\r\n").await?;
    check(&r, 354, "DATA")?;
    let r = command(s, &load.data).await?;
    check(&r, 250, "end of data")?;
    Ok(t0.elapsed())
}

fn check(r: &Reply, want: u16, what: &str) -> Result<()> {
    if r.code == want {
        Ok(())
    } else {
        bail!("{what}: {r}")
    }
}

async fn expect(s: &mut Stream, want: u16, what: &str) -> Result<()> {
    let r = reply(s).await?;
    check(&r, want, what)
}

async fn command(s: &mut Stream, bytes: &[u8]) -> Result<Reply> {
    s.write_all(bytes).await?;
    s.flush().await?;
    reply(s).await
}

/// One reply, all its lines, read with the protocol crate's parser.
async fn reply(s: &mut Stream) -> Result<Reply> {
    let mut text = Vec::new();
    loop {
        let n = tokio::time::timeout(Duration::from_secs(120), s.read_until(b'\n', &mut text))
            .await
            .context("no reply within 120 s")??;
        if n == 0 {
            bail!(
                "connection closed (after {:?})",
                String::from_utf8_lossy(&text).trim_end()
            );
        }
        if let Some((reply, _)) = ReplyParser::parse(&text).context("malformed reply")? {
            return Ok(reply);
        }
    }
}

/// Percentile (0..=100) of microsecond latencies, in milliseconds.
pub fn percentile_ms(sorted_us: &[u32], p: f64) -> Option<f64> {
    if sorted_us.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * (sorted_us.len() as f64 - 1.0)).round() as usize;
    sorted_us
        .get(rank.min(sorted_us.len() - 1))
        .map(|&v| f64::from(v) / 1000.0)
}
