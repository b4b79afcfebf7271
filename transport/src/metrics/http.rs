//! The metrics endpoint: a minimal HTTP/1.1 responder on tokio, for
//! `GET /metrics` only.
//!
//! One request per connection (`Connection: close`). The request head
//! must arrive within [`REQUEST_TIMEOUT`] and fit in [`MAX_HEAD`] octets;
//! at most [`MAX_CONNECTIONS`] requests are served at once per address,
//! further connections are closed at once. Whatever a client sends, it
//! gets a status line or a closed connection, never a panic: `GET` or
//! `HEAD /metrics` (a query string is ignored) is `200`, another path
//! `404`, another method `405`, a head that is too large `431`, anything
//! unparsable `400`, a client too slow `408`.
//!
//! [`MetricsServer::reconcile`] follows the store: it starts listeners for
//! new MetricsBindings and stops removed ones. A binding that cannot be
//! listened on is logged and retried at the next reload tick; mail flow
//! does not depend on it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use xshell_core::store::Store;

use super::{Gauges, Metrics};
use crate::queue::Queue;

/// Longest request head accepted.
pub const MAX_HEAD: usize = 8 * 1024;
/// Time a client has to send its request head.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Time to write the response.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests served at once per listening address.
pub const MAX_CONNECTIONS: usize = 8;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a scrape reads.
pub struct ScrapeContext {
    pub metrics: Arc<Metrics>,
    pub store: Arc<Store>,
    pub queue: Arc<Queue>,
    /// This engine's server (`--server`): its queue and certificates.
    pub server: String,
}

impl ScrapeContext {
    /// The exposition now (blocking: reads the store and the queue).
    pub fn exposition(&self) -> String {
        let now = OffsetDateTime::now_utc();
        let gauges = match self.store.snapshot() {
            Ok(cfg) => Gauges::read(
                &cfg.for_server(&self.server),
                self.queue.root(),
                &self.queue.active_ids(),
                now,
            ),
            Err(e) => {
                tracing::warn!(error = %e, "metrics: cannot read the store");
                Gauges {
                    errors: 1,
                    ..Gauges::default()
                }
            }
        };
        self.metrics.render(&gauges)
    }
}

/// What a request asks for, or the status that refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `GET /metrics`.
    Get,
    /// `HEAD /metrics`.
    Head,
}

/// An HTTP status we answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    BadRequest,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    HeaderTooLarge,
    VersionNotSupported,
}

impl Status {
    fn line(self) -> &'static str {
        match self {
            Status::BadRequest => "400 Bad Request",
            Status::NotFound => "404 Not Found",
            Status::MethodNotAllowed => "405 Method Not Allowed",
            Status::RequestTimeout => "408 Request Timeout",
            Status::HeaderTooLarge => "431 Request Header Fields Too Large",
            Status::VersionNotSupported => "505 HTTP Version Not Supported",
        }
    }
}

/// Parses a complete request head (up to and including the empty line).
pub fn parse_request(head: &[u8]) -> Result<Request, Status> {
    let text = std::str::from_utf8(head).map_err(|_| Status::BadRequest)?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().ok_or(Status::BadRequest)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Status::BadRequest);
    };
    if method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase())
        || !target.starts_with('/')
        || target.bytes().any(|b| b.is_ascii_control())
    {
        return Err(Status::BadRequest);
    }
    match version {
        "HTTP/1.1" | "HTTP/1.0" => {}
        v if v.starts_with("HTTP/") => return Err(Status::VersionNotSupported),
        _ => return Err(Status::BadRequest),
    }
    // Header fields: `name: value`, no obsolete line folding.
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let Some((name, _)) = line.split_once(':') else {
            return Err(Status::BadRequest);
        };
        if name.is_empty() || name.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(Status::BadRequest);
        }
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    if path != "/metrics" {
        return Err(Status::NotFound);
    }
    match method {
        "GET" => Ok(Request::Get),
        "HEAD" => Ok(Request::Head),
        _ => Err(Status::MethodNotAllowed),
    }
}

struct Listener {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// The endpoint's listeners, following MetricsBindings.
pub struct MetricsServer {
    ctx: Arc<ScrapeContext>,
    listeners: HashMap<SocketAddr, Listener>,
    bind_errors: HashMap<SocketAddr, String>,
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("listening", &self.listeners.keys().collect::<Vec<_>>())
            .field("bind_errors", &self.bind_errors)
            .finish_non_exhaustive()
    }
}

impl MetricsServer {
    pub fn new(ctx: Arc<ScrapeContext>) -> Self {
        MetricsServer {
            ctx,
            listeners: HashMap::new(),
            bind_errors: HashMap::new(),
        }
    }

    /// Some binding could not be listened on (retry at the next tick).
    pub fn needs_retry(&self) -> bool {
        !self.bind_errors.is_empty()
    }

    /// The addresses being served.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.listeners.keys().copied().collect()
    }

    /// Listens on every address in `wanted` and on no other.
    pub async fn reconcile(&mut self, wanted: &[SocketAddr]) {
        let gone: Vec<SocketAddr> = self
            .listeners
            .keys()
            .filter(|a| !wanted.contains(a))
            .copied()
            .collect();
        for addr in gone {
            if let Some(l) = self.listeners.remove(&addr) {
                let _ = l.stop.send(true);
                let _ = l.task.await;
                tracing::info!(%addr, "metrics: stopped serving");
            }
        }
        self.bind_errors.retain(|a, _| wanted.contains(a));
        for addr in wanted {
            if self.listeners.contains_key(addr) {
                continue;
            }
            match TcpListener::bind(addr).await {
                Ok(listener) => {
                    self.bind_errors.remove(addr);
                    let (stop, stop_rx) = watch::channel(false);
                    let task = tokio::spawn(serve(listener, Arc::clone(&self.ctx), stop_rx));
                    self.listeners.insert(*addr, Listener { stop, task });
                    tracing::info!(%addr, "metrics: serving GET /metrics");
                }
                Err(e) => {
                    let text = e.to_string();
                    if self.bind_errors.get(addr) != Some(&text) {
                        tracing::error!(%addr, error = %text, "metrics: cannot listen on this MetricsBindings address (retrying; mail flow is not affected)");
                        self.bind_errors.insert(*addr, text);
                    }
                }
            }
        }
    }

    /// Stops every listener.
    pub async fn stop(&mut self) {
        self.reconcile(&[]).await;
    }
}

async fn serve(listener: TcpListener, ctx: Arc<ScrapeContext>, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((sock, peer)) => {
                    let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                        tracing::debug!(%peer, "metrics: too many requests at once; connection closed");
                        drop(sock);
                        continue;
                    };
                    let ctx = Arc::clone(&ctx);
                    tokio::spawn(async move {
                        handle(sock, ctx).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// Reads a request head: up to the empty line, within [`MAX_HEAD`] and
/// [`REQUEST_TIMEOUT`].
async fn read_head(sock: &mut TcpStream) -> Result<Vec<u8>, Option<Status>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            if let Some(end) = find_end(&head) {
                head.truncate(end);
                return Ok(());
            }
            if head.len() > MAX_HEAD {
                return Err(Some(Status::HeaderTooLarge));
            }
            match sock.read(&mut buf).await {
                // closed before a whole head: nothing to answer
                Ok(0) if head.is_empty() => return Err(None),
                Ok(0) => return Err(Some(Status::BadRequest)),
                Ok(n) => head.extend_from_slice(&buf[..n]),
                Err(_) => return Err(None),
            }
        }
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, read).await {
        Ok(Ok(())) => Ok(head),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Some(Status::RequestTimeout)),
    }
}

/// The end of the head (after `\r\n\r\n`).
fn find_end(head: &[u8]) -> Option<usize> {
    head.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .filter(|e| *e <= MAX_HEAD)
}

async fn handle(mut sock: TcpStream, ctx: Arc<ScrapeContext>) {
    let request = match read_head(&mut sock).await {
        Ok(head) => parse_request(&head),
        Err(Some(status)) => Err(status),
        Err(None) => return,
    };
    let response = match request {
        Ok(req) => {
            let ctx = Arc::clone(&ctx);
            match tokio::task::spawn_blocking(move || ctx.exposition()).await {
                Ok(body) => {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    if req == Request::Get {
                        r.extend_from_slice(body.as_bytes());
                    }
                    r
                }
                Err(e) => {
                    tracing::error!(error = %e, "metrics: the scrape task failed");
                    plain("500 Internal Server Error", "the scrape failed\n", None)
                }
            }
        }
        Err(status) => {
            let allow = (status == Status::MethodNotAllowed).then_some("GET, HEAD");
            let body = match status {
                Status::NotFound => "only /metrics is served here\n",
                Status::MethodNotAllowed => "use GET /metrics\n",
                Status::HeaderTooLarge => "request head too large\n",
                Status::RequestTimeout => "request not received in time\n",
                Status::VersionNotSupported => "HTTP/1.1 or HTTP/1.0 only\n",
                Status::BadRequest => "malformed request\n",
            };
            plain(status.line(), body, allow)
        }
    };
    let write = async {
        sock.write_all(&response).await?;
        sock.flush().await?;
        sock.shutdown().await
    };
    if !matches!(tokio::time::timeout(WRITE_TIMEOUT, write).await, Ok(Ok(()))) {
        return;
    }
    // Take (briefly, boundedly) what the client still sends, so that
    // closing with unread data does not reset the connection before the
    // client reads the answer.
    let drain = async {
        let mut buf = [0u8; 4096];
        let mut left = 64 * 1024usize;
        while left > 0 {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

fn plain(status: &str, body: &str, allow: Option<&str>) -> Vec<u8> {
    let allow = allow.map_or_else(String::new, |a| format!("Allow: {a}\r\n"));
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
