//! A real etcd (Debian's etcd-server) for the etcd store tests: one member or
//! a cluster, on free loopback ports, data in a temporary folder, killed on
//! drop. Every wait is bounded.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The etcd binary, if installed.
pub fn etcd_bin() -> Option<PathBuf> {
    ["/usr/bin/etcd", "/usr/local/bin/etcd"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

fn etcdctl_bin() -> Option<PathBuf> {
    ["/usr/bin/etcdctl", "/usr/local/bin/etcdctl"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// A test whose etcd is missing: skipped on a developer's machine, a
/// failure under CI (`CI` set, not `false`/`0`).
pub fn etcd_or_missing() -> bool {
    if etcd_bin().is_some() && etcdctl_bin().is_some() {
        return true;
    }
    let why = "etcd and etcdctl are not installed (apt-get install -y etcd-server etcd-client)";
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(!ci, "a peer this test needs is missing under CI: {why}");
    eprintln!("SKIPPED: {why}");
    false
}

/// Free loopback ports, never twice in one test process.
fn free_ports(n: usize) -> Vec<u16> {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut out = Vec::new();
    for _ in 0..1000 {
        if out.len() == n {
            break;
        }
        let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        if GIVEN.lock().unwrap().insert(port) {
            out.push(port);
        }
    }
    assert_eq!(out.len(), n, "not enough free ports");
    out
}

pub struct Member {
    pub name: String,
    pub client_port: u16,
    pub peer_port: u16,
    child: Option<Child>,
    pub log: PathBuf,
}

/// An etcd cluster of one or more members on loopback.
pub struct Etcd {
    tmp: tempfile::TempDir,
    pub members: Vec<Member>,
    initial_cluster: String,
    /// Client TLS: server certificate and key, and the CA that client
    /// certificates must chain to (`--client-cert-auth`).
    tls: Option<Tls>,
    /// `user:password` for etcdctl once auth is enabled.
    pub etcdctl_user: Option<String>,
}

#[derive(Clone)]
pub struct Tls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The client certificate etcdctl uses.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl Etcd {
    /// Starts `n` members and waits until the cluster answers.
    pub fn start(n: usize) -> Etcd {
        Etcd::start_with(n, tempfile::tempdir().unwrap(), None)
    }

    /// One member whose clients connect with TLS and must present a
    /// certificate from `tls.ca`; `tmp` holds the certificates already.
    pub fn start_tls(tmp: tempfile::TempDir, tls: Tls) -> Etcd {
        Etcd::start_with(1, tmp, Some(tls))
    }

    fn start_with(n: usize, tmp: tempfile::TempDir, tls: Option<Tls>) -> Etcd {
        let ports = free_ports(2 * n);
        let members: Vec<Member> = (0..n)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: ports[2 * i],
                peer_port: ports[2 * i + 1],
                child: None,
                log: tmp.path().join(format!("m{i}.log")),
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        let mut e = Etcd {
            tmp,
            members,
            initial_cluster,
            tls,
            etcdctl_user: None,
        };
        for i in 0..n {
            e.spawn(i, "new");
        }
        assert!(
            e.wait_healthy(Duration::from_secs(20)),
            "etcd did not become healthy:\n{}",
            e.logs()
        );
        e
    }

    fn spawn(&mut self, i: usize, state: &str) {
        let data = self.tmp.path().join(format!("data-{i}"));
        let m = &mut self.members[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log)
            .unwrap();
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let client = format!("{scheme}://127.0.0.1:{}", m.client_port);
        let peer = format!("http://127.0.0.1:{}", m.peer_port);
        let mut cmd = Command::new(etcd_bin().unwrap());
        if let Some(t) = &self.tls {
            cmd.arg("--cert-file")
                .arg(&t.cert)
                .arg("--key-file")
                .arg(&t.key)
                .arg("--trusted-ca-file")
                .arg(&t.ca)
                .arg("--client-cert-auth");
        }
        let child = cmd
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &self.initial_cluster])
            .args(["--initial-cluster-state", state])
            .args(["--initial-cluster-token", "xshell-test"])
            // Fast elections on loopback: a killed leader is replaced in
            // about a second instead of several.
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        m.child = Some(child);
    }

    /// `HOST:PORT,HOST:PORT...` of every member.
    pub fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `etcd://endpoints/prefix`.
    pub fn url(&self, prefix: &str) -> String {
        format!("etcd://{}/{prefix}", self.endpoints())
    }

    pub fn etcdctl(&self, args: &[&str]) -> Output {
        let mut c = Command::new(etcdctl_bin().unwrap());
        if let Some(t) = &self.tls {
            c.arg("--cacert")
                .arg(&t.ca)
                .arg("--cert")
                .arg(&t.client_cert)
                .arg("--key")
                .arg(&t.client_key);
        }
        if let Some(u) = &self.etcdctl_user {
            c.arg(format!("--user={u}"));
        }
        c.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoints()))
            .arg("--command-timeout=2s")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// The value of `key`, if any.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let out = self.etcdctl(&["get", key, "--print-value-only"]);
        assert!(
            out.status.success(),
            "etcdctl get {key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v = out.stdout;
        if v.is_empty() {
            None
        } else {
            Some(v.strip_suffix(b"\n").unwrap_or(&v).to_vec())
        }
    }

    pub fn put(&self, key: &str, value: &str) {
        let out = self.etcdctl(&["put", key, value]);
        assert!(
            out.status.success(),
            "etcdctl put {key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn wait_healthy(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.etcdctl(&["endpoint", "health"]).status.success() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The index of the current leader, asking the members that answer.
    pub fn leader(&self) -> Option<usize> {
        let out = self.etcdctl(&["endpoint", "status", "-w", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        for s in v.as_array()? {
            let st = &s["Status"];
            if st["leader"].as_u64().is_some() && st["leader"] == st["header"]["member_id"] {
                let ep = s["Endpoint"].as_str()?;
                return self
                    .members
                    .iter()
                    .position(|m| ep.ends_with(&format!(":{}", m.client_port)));
            }
        }
        None
    }

    /// Kills member `i` (SIGKILL).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Freezes member `i` (SIGSTOP): its sockets stay open but it answers
    /// nothing, as a member cut off by a network split; `resume` undoes it.
    pub fn freeze(&self, i: usize) {
        self.signal(i, "-STOP");
    }

    pub fn resume(&self, i: usize) {
        self.signal(i, "-CONT");
    }

    fn signal(&self, i: usize, sig: &str) {
        let pid = self.members[i].child.as_ref().expect("member running").id();
        let ok = Command::new("kill")
            .arg(sig)
            .arg(pid.to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    }

    /// `etcd://` URL of every member but `i`, with `prefix`.
    pub fn url_without(&self, i: usize, prefix: &str) -> String {
        let eps: Vec<String> = (0..self.members.len())
            .filter(|&j| j != i)
            .map(|j| format!("127.0.0.1:{}", self.members[j].client_port))
            .collect();
        format!("etcd://{}/{prefix}", eps.join(","))
    }

    /// Starts member `i` again on its data folder.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i, "existing");
    }

    /// Every member's log, for failure messages.
    pub fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| {
                let text = std::fs::read_to_string(&m.log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                format!(
                    "--- {} ---\n{}",
                    m.name,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
