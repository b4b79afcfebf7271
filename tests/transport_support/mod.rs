//! Shared helpers for the transport end-to-end tests: a provisioned store
//! (with `xshell`), certificates made with openssl, the engine as a child
//! process on free loopback ports (killed on drop), swaks and raw clients.
//! Every wait is bounded.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const ORG_FQDN: &str = "mail.orga.example";

#[path = "../common/bins.rs"]
mod bins;
#[path = "../common/openssl.rs"]
pub mod openssl;
pub use bins::{engine_bin, xshell_bin};
pub mod tls;

/// A free loopback port (bound, then released), never handed out twice in
/// this test process: the kernel may give a released port again, and two
/// connectors (or a connector and a "closed" next hop) on one port send
/// mail where a test does not expect it.
pub fn free_port() -> u16 {
    unique_listener("127.0.0.1").1
}

/// A listener on `ip` whose port no other call in this test process got
/// (its port alone, the listener dropped, is a free or a closed port). A
/// "closed" next hop that became the engine's own submission port once
/// made a test's message loop (the failure that led to the hop limit).
pub fn unique_listener(ip: &str) -> (TcpListener, u16) {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    for _ in 0..1000 {
        let l = TcpListener::bind((ip, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        if GIVEN.lock().unwrap().insert(port) {
            return (l, port);
        }
    }
    panic!("no unused port on {ip} after 1000 tries");
}

/// Polls `cond` every 20 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub use openssl::{CertFiles, Key};

/// A test lab: a store folder and a work folder.
pub struct Lab {
    _tmp: tempfile::TempDir,
    pub store: PathBuf,
    pub work: PathBuf,
}

impl Lab {
    pub fn new() -> Lab {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("store");
        let work = tmp.path().join("work");
        fs::create_dir_all(&work).unwrap();
        Lab {
            _tmp: tmp,
            store,
            work,
        }
    }

    /// Runs xshell against the store; panics on failure; returns stdout.
    pub fn xshell(&self, args: &[&str]) -> String {
        let (code, out, err) = self.try_xshell(args);
        assert!(code == 0, "xshell {args:?} failed:\n{out}\n{err}");
        out
    }

    /// Runs xshell against the store: (exit code, stdout, stderr), never
    /// panicking on failure.
    pub fn try_xshell(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(xshell_bin())
            .arg("--store")
            .arg(&self.store)
            .args(args)
            .env_remove("XSHELL_STORE")
            .env("NO_COLOR", "1")
            .current_dir(&self.work)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Organization A: FQDN, accepted domain orga.example, a self-signed
    /// SMTP certificate for mail.orga.example, partner.example on the
    /// Domain Security receive list, and an Internet receive connector
    /// `Inbound` on 127.0.0.1:`port` with DomainSecureEnabled.
    pub fn provision(&self, port: u16) {
        self.xshell(&["set-transportservice", "--fqdn", ORG_FQDN]);
        self.xshell(&[
            "new-accepteddomain",
            "OrgA",
            "--domain-name",
            "orga.example",
        ]);
        self.xshell(&[
            "new-exchangecertificate",
            "--domain-name",
            ORG_FQDN,
            "--services",
            "SMTP",
            "--force",
        ]);
        self.xshell(&[
            "set-transportconfig",
            "--tls-receive-domain-secure-list",
            "partner.example",
        ]);
        let binding = format!("127.0.0.1:{port}");
        self.xshell(&[
            "new-receiveconnector",
            "Inbound",
            "--usage",
            "internet",
            "--bindings",
            &binding,
            "--domain-secure-enabled",
            "--auth-mechanism",
            "tls",
            "--fqdn",
            ORG_FQDN,
        ]);
    }

    /// Trusts a CA certificate (PEM) as a root in the store.
    pub fn trust(&self, ca_pem: &Path) {
        let cmd = format!(
            "Import-Certificate -FilePath '{}' -CertStoreLocation Cert:\\LocalMachine\\Root",
            ca_pem.display()
        );
        self.xshell(&["-c", &cmd]);
    }

    /// A CA made with openssl (EC P-256).
    pub fn ca(&self, name: &str, cn: &str) -> CertFiles {
        openssl::ca(&self.work, name, cn, Key::EcP256)
    }

    /// A client/server certificate for `cn` with `sans`, signed by `ca`.
    pub fn issue(&self, name: &str, ca: &CertFiles, cn: &str, sans: &[&str]) -> CertFiles {
        openssl::issue(&self.work, name, ca, cn, sans, Key::EcP256)
    }

    /// A self-signed certificate for `cn`.
    pub fn self_signed(&self, name: &str, cn: &str) -> CertFiles {
        openssl::self_signed(&self.work, name, "pem", cn, Key::EcP256, false)
    }

    pub fn mailboxes(&self) -> PathBuf {
        self.store.join("mailboxes")
    }

    pub fn tracking_log(&self) -> PathBuf {
        self.store.join("log").join("tracking.jsonl")
    }

    /// The messages in `local@domain`'s Maildir/new.
    pub fn maildir(&self, domain: &str, local: &str) -> Vec<String> {
        let dir = self
            .mailboxes()
            .join(domain)
            .join(local)
            .join("Maildir")
            .join("new");
        let Ok(entries) = fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut out: Vec<String> = entries
            .filter_map(|e| fs::read(e.ok()?.path()).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect();
        out.sort();
        out
    }

    /// Messages still in the queue: their current envelope JSON.
    pub fn queued_envelopes(&self) -> Vec<String> {
        use xshell_core::control::spool::{STATE_SUFFIX, is_message_id, read_record_head};
        let active = self.store.join("queue").join("active");
        let Ok(entries) = fs::read_dir(&active) else {
            return Vec::new();
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| is_message_id(n))
            .collect();
        ids.sort();
        // One record per message; its current envelope is the state file
        // when there is one, else the envelope in the record.
        ids.iter()
            .filter_map(|id| {
                fs::read_to_string(active.join(format!("{id}{STATE_SUFFIX}")))
                    .ok()
                    .or_else(|| {
                        let head = read_record_head(&active.join(id)).ok()?;
                        String::from_utf8(head.envelope).ok()
                    })
            })
            .collect()
    }

    /// Starts the engine and waits until it listens on `port`.
    pub fn start_engine(&self, port: u16) -> Engine {
        let log = self.work.join(format!("engine-{}.log", next_number()));
        let child = Command::new(engine_bin())
            .arg("--store")
            .arg(&self.store)
            .arg("--grace")
            .arg("5")
            .env("RUST_LOG", "info")
            .env_remove("XSHELL_STORE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let e = Engine { child, log };
        let needle = format!("listening addr=127.0.0.1:{port}");
        assert!(
            wait_until(Duration::from_secs(20), || e.log_text().contains(&needle)),
            "the engine did not listen on {port}:\n{}",
            e.log_text()
        );
        e
    }
}

fn next_number() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// The engine child process; killed on drop.
pub struct Engine {
    pub child: Child,
    pub log: PathBuf,
}

impl Engine {
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends a signal (by number) to the engine.
    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Waits (bounded) for the engine to exit; its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st.code().unwrap_or(-1));
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs swaks against 127.0.0.1:`port` with `args`; returns the transcript
/// (stdout and stderr).
pub fn swaks(port: u16, args: &[&str]) -> String {
    swaks_at(&format!("127.0.0.1:{port}"), args)
}

/// Runs swaks against `server` (`host:port`) with `args`; returns the
/// transcript (stdout and stderr). Bounded by `timeout 60`.
pub fn swaks_at(server: &str, args: &[&str]) -> String {
    let out: Output = Command::new("timeout")
        .arg("60")
        .arg("swaks")
        .arg("--server")
        .arg(server)
        .arg("--helo")
        .arg("client.test")
        .arg("--timeout")
        .arg("20")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One line read byte by byte (so nothing after it is consumed), with its
/// line end; `None` at the end of input or on an error.
pub fn read_line(s: &mut impl Read) -> Option<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b) {
            Ok(1) => {
                line.push(b[0]);
                if b[0] == b'\n' {
                    return Some(String::from_utf8_lossy(&line).into_owned());
                }
            }
            _ => return None,
        }
    }
}

/// A raw plaintext SMTP client with bounded reads.
pub struct Raw {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        Raw::connect_to("127.0.0.1", port)
    }

    /// Connects to `ip`:`port` (a loopback address).
    pub fn connect_to(ip: &str, port: u16) -> Raw {
        let stream = TcpStream::connect((ip, port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Raw { stream, reader }
    }

    /// Reads one whole reply (all lines); empty at EOF.
    pub fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) | Err(_) => return all,
                Ok(_) => {}
            }
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends a command line and returns the reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// The rest of the stream until EOF or a read timeout.
    pub fn drain(&mut self) -> String {
        let mut s = String::new();
        let _ = self.reader.read_to_string(&mut s);
        s
    }
}

/// Tracking log lines (parsed).
pub fn tracking_lines(path: &Path) -> Vec<serde_json::Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
