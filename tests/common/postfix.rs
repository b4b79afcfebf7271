//! A real Postfix instance for interoperability tests, run as root from its
//! own configuration folder under a temporary directory (`postfix -c DIR
//! start`), stopped (and its master killed if need be) on drop.
//!
//! What running Postfix this way needs (each one was a failure first):
//! - `inet_interfaces` must name an address configured on an interface:
//!   `127.0.0.3` is routed to `lo` but not assigned to it, so
//!   `postfix check` dies with "no local interface found for 127.0.0.3".
//!   We keep `inet_interfaces = 127.0.0.1` and bind each smtpd service
//!   explicitly in master.cf (`127.0.0.3:PORT inet ... smtpd`).
//! - Postfix logs to syslog; without `/dev/log` a fatal error is silent
//!   (exit 1, nothing on stderr unless stderr is a terminal). We log to a
//!   file (`maillog_file`, which needs the `postlog` service and
//!   `maillog_file_prefixes` covering the path).
//! - `data_directory` must belong to `mail_owner` (master.lock), the
//!   queue subfolders are made by `postfix start` (post-install), and the
//!   postfix user must be able to walk down to them: the temporary folder
//!   is made `0755` (tempfile makes it `0700`).
//! - Every service runs unchrooted (`chroot = n`): a chroot would be the
//!   queue folder, without `/etc/services`, resolver files or the TLS
//!   files.
//! - No DNS: `smtpd_peername_lookup = no`, `smtp_dns_support_level =
//!   disabled`, bracketed next hops; `alias_maps` empty.
//! - Local delivery uses `virtual(8)` into a Maildir owned by the postfix
//!   user (`virtual_minimum_uid = 1`), so no system accounts are needed.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whether this process can run Postfix (root, and postfix installed).
pub fn unavailable() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("postfix must be started as root".into());
    }
    if !Path::new("/usr/sbin/postfix").exists() {
        return Some("postfix is not installed (apt-get install postfix)".into());
    }
    None
}

/// An smtpd service.
#[derive(Debug, Clone)]
pub struct Smtpd {
    pub addr: String,
    pub port: u16,
    /// `-o name=value` overrides for this service.
    pub overrides: Vec<(String, String)>,
}

/// The instance's configuration.
#[derive(Debug, Clone, Default)]
pub struct PostfixConfig {
    /// `myhostname`, e.g. `mail.postfix.example`.
    pub hostname: String,
    /// Domains delivered into Maildirs here (`virtual_mailbox_domains`),
    /// with their mailbox local parts.
    pub mailboxes: Vec<(String, Vec<String>)>,
    /// Our certificate and key (PEM), for smtpd and as smtp client certificate.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CAs trusted by both smtpd (client certificates) and smtp (servers).
    pub ca_file: PathBuf,
    /// Relay everything else here (`relayhost = [ip]:port`).
    pub relayhost: Option<(String, u16)>,
    /// `smtp_tls_policy_maps` lines (`[ip]:port secure match=...`).
    pub tls_policy: Vec<String>,
    /// Extra main.cf lines.
    pub main_extra: Vec<String>,
    pub services: Vec<Smtpd>,
}

pub struct Postfix {
    pub root: PathBuf,
    pub conf: PathBuf,
    started: bool,
    _tmp: tempfile::TempDir,
}

fn postfix_ids() -> (u32, u32) {
    let id = |flag: &str| {
        let out = Command::new("id").args([flag, "postfix"]).output().unwrap();
        assert!(
            out.status.success(),
            "no postfix user (is postfix installed?)"
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u32>()
            .unwrap()
    };
    (id("-u"), id("-g"))
}

const SERVICES: &str = "\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
";

impl Postfix {
    /// Writes the configuration and starts Postfix; waits (bounded) until
    /// every smtpd service answers.
    pub fn start(cfg: &PostfixConfig) -> Postfix {
        let tmp = tempfile::Builder::new()
            .prefix("xshell-postfix.")
            .tempdir()
            .unwrap();
        let root = tmp.path().to_path_buf();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        let conf = root.join("conf");
        let data = root.join("data");
        let queue = root.join("queue");
        let mail = root.join("mail");
        for d in [&conf, &data, &queue, &mail] {
            fs::create_dir_all(d).unwrap();
        }
        let (uid, gid) = postfix_ids();
        std::os::unix::fs::chown(&data, Some(uid), Some(gid)).unwrap();
        fs::set_permissions(&data, fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&mail, Some(uid), Some(gid)).unwrap();

        let mut vdomains = Vec::new();
        let mut vmailboxes = String::new();
        for (domain, locals) in &cfg.mailboxes {
            vdomains.push(domain.clone());
            for l in locals {
                writeln!(vmailboxes, "{l}@{domain} {domain}/{l}/").unwrap();
            }
        }
        fs::write(conf.join("vmailbox"), vmailboxes).unwrap();
        fs::write(conf.join("tls_policy"), cfg.tls_policy.join("\n") + "\n").unwrap();

        let r = root.display();
        let mut main = format!(
            "\
compatibility_level = 3.6
queue_directory = {r}/queue
data_directory = {r}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = {host}
mydomain = {host}
myorigin = $myhostname
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
biff = no
smtputf8_enable = no
maillog_file = {r}/maillog
maillog_file_prefixes = {r}
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = {vdomains}
virtual_mailbox_base = {r}/mail
virtual_mailbox_maps = texthash:{r}/conf/vmailbox
virtual_minimum_uid = 1
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_CAfile = {ca}
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtp_tls_cert_file = {cert}
smtp_tls_key_file = {key}
smtp_tls_CAfile = {ca}
smtp_tls_loglevel = 1
smtp_tls_policy_maps = texthash:{r}/conf/tls_policy
",
            host = cfg.hostname,
            vdomains = vdomains.join(", "),
            cert = cfg.cert.display(),
            key = cfg.key.display(),
            ca = cfg.ca_file.display(),
        );
        if let Some((ip, port)) = &cfg.relayhost {
            writeln!(main, "relayhost = [{ip}]:{port}").unwrap();
        }
        for l in &cfg.main_extra {
            writeln!(main, "{l}").unwrap();
        }
        fs::write(conf.join("main.cf"), main).unwrap();

        let mut master = String::new();
        for s in &cfg.services {
            writeln!(
                master,
                "{}:{}  inet  n       -       n       -       -       smtpd",
                s.addr, s.port
            )
            .unwrap();
            for (k, v) in &s.overrides {
                writeln!(master, "  -o {k}={v}").unwrap();
            }
        }
        master.push_str(SERVICES);
        fs::write(conf.join("master.cf"), master).unwrap();

        let mut pf = Postfix {
            root,
            conf,
            started: false,
            _tmp: tmp,
        };
        let out = pf.postfix(&["start"]);
        pf.started = true;
        assert!(
            out.status.success(),
            "postfix -c {} start failed:\n{}{}\nmaillog:\n{}",
            pf.conf.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            pf.maillog()
        );
        for s in &cfg.services {
            let deadline = Instant::now() + Duration::from_secs(20);
            while std::net::TcpStream::connect((s.addr.as_str(), s.port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "postfix does not listen on {}:{}:\n{}",
                    s.addr,
                    s.port,
                    pf.maillog()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        pf
    }

    fn postfix(&self, args: &[&str]) -> std::process::Output {
        Command::new("timeout")
            .arg("30")
            .arg("/usr/sbin/postfix")
            .arg("-c")
            .arg(&self.conf)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub fn maillog(&self) -> String {
        fs::read_to_string(self.root.join("maillog")).unwrap_or_default()
    }

    /// The messages delivered to `local@domain` (Maildir new/ and cur/).
    pub fn maildir(&self, domain: &str, local: &str) -> Vec<String> {
        let base = self.root.join("mail").join(domain).join(local);
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = fs::read_dir(base.join(sub)) {
                out.extend(
                    entries
                        .filter_map(|e| fs::read(e.ok()?.path()).ok())
                        .map(|b| String::from_utf8_lossy(&b).into_owned()),
                );
            }
        }
        out.sort();
        out
    }

    fn master_pid(&self) -> Option<i32> {
        fs::read_to_string(self.root.join("queue/pid/master.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        if !self.started {
            return;
        }
        let pid = self.master_pid();
        let _ = self.postfix(&["stop"]);
        // `postfix stop` waits for the master; make sure nothing we started outlives the test.
        if let Some(pid) = pid {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if Path::new(&format!("/proc/{pid}")).exists() {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
            }
        }
    }
}
