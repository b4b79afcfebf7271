//! A small HTTPS client: fetching MTA-STS policies (RFC 8461 3.3) and
//! posting TLS reports (RFC 8460 5.4).
//!
//! Both need the same few things, and nothing more: the host name resolved
//! through the engine's own [`Resolver`] (ExternalDNSServers, so tests and
//! labs see their own zones), TLS 1.2 or newer with the certificate
//! validated against the roots the caller gives (and the host name checked),
//! no redirects followed (RFC 8461 3.3: "HTTP 3xx redirects MUST NOT be
//! followed"), a bound on the time and on the size of the response body.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;

use crate::dns::Resolver;

/// What a request may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The whole exchange: connect, handshake, request and response.
    pub timeout: Duration,
    /// The response body; larger is an error.
    pub max_body: usize,
}

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// The Content-Type, lower-case, parameters kept.
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// The request failed; the text is what an administrator reads in the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpsError {
    #[error("{0}: not an https:// URL")]
    NotHttps(String),
    #[error("{host}: {detail}")]
    Dns { host: String, detail: String },
    #[error("{host}: cannot connect: {detail}")]
    Connect { host: String, detail: String },
    #[error("{host}: TLS handshake failed: {detail}")]
    Tls { host: String, detail: String },
    #[error("{host}: HTTP error: {detail}")]
    Http { host: String, detail: String },
    #[error("{host}: the response is larger than {limit} bytes")]
    TooLarge { host: String, limit: usize },
    #[error("{host}: no answer within {seconds} s")]
    Timeout { host: String, seconds: u64 },
}

/// An `https://host[:port]/path` URL, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    /// Starts with `/`.
    pub path: String,
}

impl Url {
    /// Parses an https URL (no user info, no IPv6 literal).
    pub fn parse(url: &str) -> Result<Url, HttpsError> {
        let bad = || HttpsError::NotHttps(url.to_string());
        let rest = url
            .get(..8)
            .filter(|s| s.eq_ignore_ascii_case("https://"))
            .map(|_| &url[8..])
            .ok_or_else(bad)?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') || authority.starts_with('[') {
            return Err(bad());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
            None => (authority, 443),
        };
        Ok(Url {
            host: host.trim_end_matches('.').to_ascii_lowercase(),
            port,
            path: path.to_string(),
        })
    }
}

/// GET `url`.
pub async fn get<R: Resolver>(
    resolver: &R,
    tls: Arc<ClientConfig>,
    url: &str,
    limits: Limits,
) -> Result<Response, HttpsError> {
    request(resolver, tls, url, None, limits).await
}

/// POST `body` as `content_type` to `url`.
pub async fn post<R: Resolver>(
    resolver: &R,
    tls: Arc<ClientConfig>,
    url: &str,
    content_type: &str,
    body: Vec<u8>,
    limits: Limits,
) -> Result<Response, HttpsError> {
    request(resolver, tls, url, Some((content_type, body)), limits).await
}

async fn request<R: Resolver>(
    resolver: &R,
    tls: Arc<ClientConfig>,
    url: &str,
    body: Option<(&str, Vec<u8>)>,
    limits: Limits,
) -> Result<Response, HttpsError> {
    let url = Url::parse(url)?;
    let host = url.host.clone();
    let seconds = limits.timeout.as_secs();
    tokio::time::timeout(limits.timeout, exchange(resolver, tls, &url, body, limits))
        .await
        .map_err(|_| HttpsError::Timeout { host, seconds })?
}

async fn exchange<R: Resolver>(
    resolver: &R,
    tls: Arc<ClientConfig>,
    url: &Url,
    body: Option<(&str, Vec<u8>)>,
    limits: Limits,
) -> Result<Response, HttpsError> {
    let host = url.host.clone();
    let ips = resolver.ips(&host).await.map_err(|e| HttpsError::Dns {
        host: host.clone(),
        detail: e.to_string(),
    })?;
    let mut last = String::from("no address");
    let mut stream = None;
    for ip in ips {
        match tokio::net::TcpStream::connect(SocketAddr::new(ip, url.port)).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("{ip}: {e}"),
        }
    }
    let stream = stream.ok_or_else(|| HttpsError::Connect {
        host: host.clone(),
        detail: last,
    })?;
    let name = ServerName::try_from(host.clone()).map_err(|e| HttpsError::Tls {
        host: host.clone(),
        detail: e.to_string(),
    })?;
    let tls = tokio_rustls::TlsConnector::from(tls)
        .connect(name, stream)
        .await
        .map_err(|e| HttpsError::Tls {
            host: host.clone(),
            detail: e.to_string(),
        })?;
    let http = |e: hyper::Error| HttpsError::Http {
        host: host.clone(),
        detail: e.to_string(),
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(http)?;
    let driver = tokio::spawn(conn);
    let authority = if url.port == 443 {
        host.clone()
    } else {
        format!("{host}:{}", url.port)
    };
    let builder = hyper::Request::builder()
        .uri(url.path.as_str())
        .header(hyper::header::HOST, authority)
        .header(hyper::header::USER_AGENT, "xshell-transport");
    let built = match body {
        None => builder
            .method(hyper::Method::GET)
            .body(Full::new(Bytes::new())),
        Some((content_type, body)) => builder
            .method(hyper::Method::POST)
            .header(hyper::header::CONTENT_TYPE, content_type)
            .body(Full::new(Bytes::from(body))),
    }
    .map_err(|e| HttpsError::Http {
        host: host.clone(),
        detail: e.to_string(),
    })?;
    let response = sender.send_request(built).await.map_err(http)?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    let collected = Limited::new(response.into_body(), limits.max_body)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                HttpsError::TooLarge {
                    host: host.clone(),
                    limit: limits.max_body,
                }
            } else {
                HttpsError::Http {
                    host: host.clone(),
                    detail: e.to_string(),
                }
            }
        })?;
    driver.abort();
    Ok(Response {
        status,
        content_type,
        body: collected.to_bytes().to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("https://MTA-STS.Example.com/.well-known/mta-sts.txt").unwrap();
        assert_eq!(u.host, "mta-sts.example.com");
        assert_eq!(u.port, 443);
        assert_eq!(u.path, "/.well-known/mta-sts.txt");
        let u = Url::parse("https://127.0.0.1:8443").unwrap();
        assert_eq!((u.port, u.path.as_str()), (8443, "/"));
        for bad in [
            "http://example.com/",
            "https://",
            "https://user@example.com/",
            "https://example.com:99999/",
            "https://[::1]/",
            "ftp",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }
}
