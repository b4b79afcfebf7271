//! dnsmasq in the foreground on 127.0.0.1:PORT as the lab's DNS: MX and A
//! records for test domains, nothing forwarded. Killed on drop.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Dnsmasq {
    child: Child,
    pub port: u16,
    log: PathBuf,
    _tmp: tempfile::TempDir,
}

/// A free UDP port on 127.0.0.1 (bound, then released).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Dnsmasq {
    /// Serves `domain MX 10 host` and `host A ip` for each `(domain, host, ip)`.
    pub fn start(records: &[(&str, &str, &str)]) -> Dnsmasq {
        let bin = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("dnsmasq is not installed (apt-get install dnsmasq-base)");
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("dnsmasq.log");
        let port = free_udp_port();
        let mut args = vec![
            "--no-resolv".to_string(),
            "--no-hosts".into(),
            "--bind-interfaces".into(),
            "--listen-address=127.0.0.1".into(),
            format!("--port={port}"),
            "--pid-file=".into(),
            "-u".into(),
            "root".into(),
            "--keep-in-foreground".into(),
            "--log-facility=-".into(),
        ];
        for (domain, host, ip) in records {
            args.push(format!("--mx-host={domain},{host},10"));
            args.push(format!("--host-record={host},{ip}"));
        }
        let child = Command::new(bin)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&log).unwrap())
            .stderr(fs::File::create(tmp.path().join("dnsmasq.err")).unwrap())
            .spawn()
            .unwrap();
        let mut d = Dnsmasq {
            child,
            port,
            log,
            _tmp: tmp,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !d.text().contains("started, version") {
            if let Some(st) = d.child.try_wait().unwrap() {
                panic!("dnsmasq exited ({st}):\n{}", d.text());
            }
            assert!(
                Instant::now() < deadline,
                "dnsmasq did not start:\n{}",
                d.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    /// What dnsmasq logged (stdout and stderr).
    pub fn text(&self) -> String {
        let err = self._tmp.path().join("dnsmasq.err");
        format!(
            "{}{}",
            fs::read_to_string(&self.log).unwrap_or_default(),
            fs::read_to_string(err).unwrap_or_default()
        )
    }

    /// `ip:port`, as ExternalDNSServers takes it.
    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
