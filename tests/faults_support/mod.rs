//! Helpers for tests/faults.rs: a small tmpfs mounted over one of the
//! engine's folders (unmounted on drop, even when the test fails) and
//! filled to the last byte, and fake next-hop SMTP servers (std threads on
//! 127.0.0.1) that misbehave in one chosen way until they are told to
//! behave, then record what they receive. Loopback only; every read has a
//! timeout.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::transport_support::read_line;

// ------------------------------------------------------------------ tmpfs

/// Panics with a clear message unless the test runs as root (CI does).
pub fn require_root(what: &str) {
    let out = Command::new("id").arg("-u").output().unwrap();
    let uid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        uid, "0",
        "{what} mounts a tmpfs and must run as root (CI runs the tests as root); uid is {uid}"
    );
}

/// A tmpfs mounted at `dir`; unmounted on drop.
pub struct Tmpfs {
    pub dir: PathBuf,
    filler: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `2m`) at `dir` (created if needed).
    pub fn mount(dir: &Path, size: &str) -> Tmpfs {
        require_root("this test");
        fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount -t tmpfs on {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs {
            dir: dir.to_path_buf(),
            filler: dir.join("filler"),
        }
    }

    /// Writes a filler file until the filesystem is full (ENOSPC).
    pub fn fill(&self) {
        let mut f = fs::File::create(&self.filler).unwrap();
        let chunk = vec![0u8; 4096];
        for _ in 0..100_000 {
            if let Err(e) = f.write_all(&chunk) {
                assert_eq!(e.kind(), ErrorKind::StorageFull, "{e}");
                // a few bytes may still fit in the last page: take them
                for _ in 0..4096 {
                    if f.write_all(&[0]).is_err() {
                        break;
                    }
                }
                return;
            }
        }
        panic!("{} never became full", self.dir.display());
    }

    /// Removes the filler: space is back.
    pub fn free(&self) {
        fs::remove_file(&self.filler).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // still busy (a process holds a file): detach it anyway
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

// ------------------------------------------------------------------ fake next hops

/// How a fake next hop misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Accepts MAIL, RCPT and DATA, reads one line of the message, then
    /// closes with unread data in its receive buffer: the kernel answers
    /// with a TCP RST.
    ResetInData,
    /// Sends the banner, then never answers (EHLO waits forever).
    StallAfterBanner,
    /// Reads the whole message and never answers the final dot.
    StallAfterData,
    /// Answers the connection with an HTTP error instead of a banner.
    GarbageBanner,
    /// Good banner, random binary bytes as the EHLO reply.
    GarbageEhlo,
    /// Offers STARTTLS, answers `220`, then closes.
    StartTlsClose,
    /// Offers STARTTLS, answers `220`, reads the ClientHello, sends half a
    /// TLS record, then closes.
    StartTlsMidHandshake,
}

/// One message a fake next hop accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub tls: bool,
    pub data: String,
}

/// What a fake next hop saw.
#[derive(Debug, Default, Clone)]
pub struct PeerLog {
    pub connections: usize,
    /// Connections served with the fault.
    pub faults: usize,
    /// MAIL commands received outside TLS.
    pub plain_mail: usize,
    pub tls_sessions: usize,
    pub received: Vec<Received>,
}

/// A fake next hop on 127.0.0.1:`port`.
pub struct Peer {
    pub port: u16,
    healthy: Arc<AtomicBool>,
    log: Arc<Mutex<PeerLog>>,
}

impl Peer {
    /// Misbehaves with `fault` until [`Peer::heal`]; then a good SMTP
    /// server (offering STARTTLS with `tls` when given).
    pub fn start(fault: Fault, tls: Option<Arc<rustls::ServerConfig>>) -> Peer {
        let (l, port) = crate::transport_support::unique_listener("127.0.0.1");
        let healthy = Arc::new(AtomicBool::new(false));
        let log: Arc<Mutex<PeerLog>> = Arc::default();
        let (h, lg) = (Arc::clone(&healthy), Arc::clone(&log));
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { continue };
                let (h, lg, tls) = (Arc::clone(&h), Arc::clone(&lg), tls.clone());
                std::thread::spawn(move || {
                    let fault = (!h.load(Ordering::SeqCst)).then_some(fault);
                    serve(s, fault, tls, &lg);
                });
            }
        });
        Peer { port, healthy, log }
    }

    /// From now on, new connections get a good SMTP server.
    pub fn heal(&self) {
        self.healthy.store(true, Ordering::SeqCst);
    }

    pub fn log(&self) -> PeerLog {
        self.log.lock().unwrap().clone()
    }
}

/// A rustls server configuration for `chain` and `key`.
pub fn server_tls(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
    )
}

/// Reads and discards until the client gives up (EOF, error or timeout).
fn swallow(s: &mut impl Read) {
    let mut buf = [0u8; 4096];
    while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
}

enum Next {
    Closed,
    StartTls,
}

/// The SMTP dialogue after the banner. `fault` applies its in-dialogue
/// misbehaviour; `offer`: STARTTLS is offered (plaintext only).
fn dialogue(
    s: &mut (impl Read + Write),
    tls: bool,
    offer: bool,
    fault: Option<Fault>,
    log: &Mutex<PeerLog>,
) -> Next {
    loop {
        let Some(line) = read_line(s) else {
            return Next::Closed;
        };
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" if fault == Some(Fault::GarbageEhlo) => {
                let _ = s.write_all(b"\x00\xff\xfe\x16\x03\x01garbage\x1b[0m\x7f\r\n\x80\x81\r\n");
                swallow(s);
                return Next::Closed;
            }
            "EHLO" if fault == Some(Fault::StallAfterBanner) => {
                swallow(s);
                return Next::Closed;
            }
            "EHLO" if offer && !tls => b"250-fake.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n",
            "EHLO" => b"250-fake.test\r\n250 8BITMIME\r\n",
            "HELO" => b"250 fake.test\r\n",
            "STAR" if offer && !tls => {
                let _ = s.write_all(b"220 2.0.0 go ahead\r\n");
                return Next::StartTls;
            }
            "MAIL" => {
                if !tls {
                    log.lock().unwrap().plain_mail += 1;
                }
                b"250 2.1.0 ok\r\n"
            }
            "RCPT" => b"250 2.1.5 ok\r\n",
            "DATA" => {
                let _ = s.write_all(b"354 go ahead\r\n");
                if fault == Some(Fault::ResetInData) {
                    let _ = read_line(s);
                    // let the rest of the message arrive, unread
                    std::thread::sleep(Duration::from_millis(300));
                    return Next::Closed;
                }
                let mut data = String::new();
                loop {
                    match read_line(s) {
                        Some(l) if l == ".\r\n" => break,
                        Some(l) => data.push_str(&l),
                        None => return Next::Closed,
                    }
                }
                if fault == Some(Fault::StallAfterData) {
                    swallow(s);
                    return Next::Closed;
                }
                log.lock().unwrap().received.push(Received { tls, data });
                b"250 2.0.0 queued\r\n"
            }
            "RSET" | "NOOP" => b"250 2.0.0 ok\r\n",
            "QUIT" => {
                let _ = s.write_all(b"221 2.0.0 bye\r\n");
                return Next::Closed;
            }
            _ => b"500 5.5.1 what\r\n",
        };
        if s.write_all(reply).is_err() {
            return Next::Closed;
        }
    }
}

fn serve(
    mut tcp: TcpStream,
    fault: Option<Fault>,
    tls: Option<Arc<rustls::ServerConfig>>,
    log: &Mutex<PeerLog>,
) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(30)));
    {
        let mut l = log.lock().unwrap();
        l.connections += 1;
        if fault.is_some() {
            l.faults += 1;
        }
    }
    if fault == Some(Fault::GarbageBanner) {
        let _ = tcp.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 0\r\n\r\n",
        );
        swallow(&mut tcp);
        return;
    }
    if tcp.write_all(b"220 fake.test ESMTP\r\n").is_err() {
        return;
    }
    let starttls_fault = matches!(
        fault,
        Some(Fault::StartTlsClose | Fault::StartTlsMidHandshake)
    );
    let offer = tls.is_some() || starttls_fault;
    if let Next::Closed = dialogue(&mut tcp, false, offer, fault, log) {
        return;
    }
    match fault {
        Some(Fault::StartTlsClose) => {
            let _ = tcp.shutdown(Shutdown::Both);
            return;
        }
        Some(Fault::StartTlsMidHandshake) => {
            let mut hello = [0u8; 5];
            let _ = tcp.read_exact(&mut hello);
            // a ServerHello record header announcing 64 octets, and 4 of them
            let _ = tcp.write_all(b"\x16\x03\x03\x00\x40\x02\x00\x00\x3c");
            std::thread::sleep(Duration::from_millis(100));
            return;
        }
        _ => {}
    }
    let Some(cfg) = tls else { return };
    let Ok(conn) = rustls::ServerConnection::new(cfg) else {
        return;
    };
    let mut s = rustls::StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        if s.conn.complete_io(&mut s.sock).is_err() {
            return;
        }
    }
    log.lock().unwrap().tls_sessions += 1;
    dialogue(&mut s, true, offer, fault, log);
}
