//! The processes under test and around them: xshell-transport, a private
//! Postfix instance (own configuration and queue folders, loopback port),
//! Postfix's smtp-sink at the next hop, and our bare rustls sink. Each is
//! stopped when dropped; every wait is bounded.

use std::cell::{Cell, RefCell};
use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::lab::{Bins, CertFiles, LOCAL_DOMAIN, ORG_FQDN, PARTNER_DOMAIN, RELAY_DOMAIN, run};

/// A free loopback port (bound, then released).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
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

/// A server under test.
pub trait Server {
    fn name(&self) -> &'static str;
    fn port(&self) -> u16;
    /// Every process of the server (for memory).
    fn pids(&self) -> Vec<u32>;
    /// The Maildir `new/` folder of `local@orga.example`.
    fn maildir_new(&self, local: &str) -> PathBuf;
    /// Drops any backlog (restart on an empty queue); nothing by default.
    fn reset(&self) -> Result<()> {
        Ok(())
    }
}

fn stop_child(child: &mut Child, grace: Duration) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// xshell-transport (release build) on the provisioned store. It can be
/// restarted on an empty queue (`reset`) when a backlog of local
/// deliveries would otherwise spill into the next run.
pub struct Engine {
    child: RefCell<Child>,
    bin: PathBuf,
    store: PathBuf,
    /// `--state-dir` (an etcd store has no local folder of its own).
    state_dir: Option<PathBuf>,
    port: u16,
    log: PathBuf,
    starts: Cell<u32>,
}

impl Engine {
    pub fn start(bins: &Bins, store: &Path, port: u16, log: PathBuf) -> Result<Engine> {
        Self::start_with_state(bins, store, None, port, log)
    }

    /// The same with `--state-dir` (queue, mailboxes, log and keys there).
    pub fn start_with_state(
        bins: &Bins,
        store: &Path,
        state_dir: Option<&Path>,
        port: u16,
        log: PathBuf,
    ) -> Result<Engine> {
        let child = Self::spawn(&bins.engine, store, state_dir, port, &log)?;
        Ok(Engine {
            child: RefCell::new(child),
            bin: bins.engine.clone(),
            store: store.to_path_buf(),
            state_dir: state_dir.map(Path::to_path_buf),
            port,
            log,
            starts: Cell::new(1),
        })
    }

    /// Where the queue and mailboxes are.
    fn root(&self) -> &Path {
        self.state_dir.as_deref().unwrap_or(&self.store)
    }

    fn spawn(
        bin: &Path,
        store: &Path,
        state_dir: Option<&Path>,
        port: u16,
        log: &Path,
    ) -> Result<Child> {
        let mut cmd = Command::new(bin);
        cmd.arg("--store").arg(store);
        if let Some(d) = state_dir {
            cmd.arg("--state-dir").arg(d);
        }
        let mut child = cmd
            .env_remove("XSHELL_STORE")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(log)?)
            .spawn()
            .context("starting xshell-transport")?;
        let needle = format!("listening addr=127.0.0.1:{port}");
        if !wait_until(Duration::from_secs(30), || {
            fs::read_to_string(log).is_ok_and(|t| t.contains(&needle))
        }) {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "xshell-transport did not listen on {port}:\n{}",
                fs::read_to_string(log).unwrap_or_default()
            );
        }
        Ok(child)
    }
}

impl Server for Engine {
    fn name(&self) -> &'static str {
        "xshell"
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn pids(&self) -> Vec<u32> {
        vec![self.child.borrow().id()]
    }
    fn maildir_new(&self, local: &str) -> PathBuf {
        self.root()
            .join("mailboxes")
            .join(LOCAL_DOMAIN)
            .join(local)
            .join("Maildir")
            .join("new")
    }
    fn reset(&self) -> Result<()> {
        stop_child(&mut self.child.borrow_mut(), Duration::from_secs(10));
        for d in ["queue", "mailboxes"] {
            let p = self.root().join(d);
            if p.exists() {
                fs::remove_dir_all(&p).with_context(|| format!("emptying {}", p.display()))?;
            }
        }
        let n = self.starts.get();
        self.starts.set(n + 1);
        let log = self.log.with_extension(format!("{n}.log"));
        *self.child.borrow_mut() = Self::spawn(
            &self.bin,
            &self.store,
            self.state_dir.as_deref(),
            self.port,
            &log,
        )?;
        Ok(())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        stop_child(&mut self.child.borrow_mut(), Duration::from_secs(10));
    }
}

/// How many mailboxes (box0 ...) the Postfix instance knows.
pub const MAILBOXES: usize = 1000;

/// A private Postfix instance: `postfix -c <dir>/etc`, queue and data
/// folders of its own, smtpd on 127.0.0.1:`port` only, default durable
/// queue; orga.example delivered by virtual(8) to Maildir (one per local
/// part), relay.example relayed to the sink, STARTTLS with the same
/// certificate as xshell and client certificates verified against the lab CA.
pub struct Postfix {
    postfix: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl Postfix {
    pub fn start(
        bins: &Bins,
        dir: &Path,
        port: u16,
        sink_port: u16,
        server: &CertFiles,
        ca: &Path,
    ) -> Result<Postfix> {
        let uid = run(Command::new("id").args(["-u", "postfix"]))
            .context("Postfix needs its `postfix` user")?
            .trim()
            .to_string();
        let gid = run(Command::new("id").args(["-g", "postfix"]))?
            .trim()
            .to_string();
        let etc = dir.join("etc");
        let queue = dir.join("queue");
        let data = dir.join("data");
        let mail = dir.join("mail");
        for d in [&etc, &queue, &data, &mail] {
            fs::create_dir_all(d)?;
        }
        for d in [&data, &mail] {
            run(Command::new("chown").arg(format!("{uid}:{gid}")).arg(d))?;
        }
        // virtual(8) refuses regexp substitutions: list the mailboxes the
        // harness uses (box0, box1, ...)
        let mut vmailbox = String::new();
        for i in 0..MAILBOXES {
            vmailbox.push_str(&format!("box{i}@{LOCAL_DOMAIN} box{i}/Maildir/\n"));
        }
        fs::write(etc.join("vmailbox"), vmailbox)?;
        fs::write(
            etc.join("transport"),
            format!("{RELAY_DOMAIN} smtp:[127.0.0.1]:{sink_port}\n"),
        )?;
        fs::write(
            etc.join("sender_access"),
            format!("{PARTNER_DOMAIN} permit_tls_all_clientcerts, reject\n"),
        )?;
        let main_cf = format!(
            "# xshell-bench: a private instance; everything else is Postfix's default\n\
compatibility_level = 3.6\n\
queue_directory = {queue}\n\
data_directory = {data}\n\
mail_owner = postfix\n\
setgid_group = postdrop\n\
myhostname = {ORG_FQDN}\n\
mydestination =\n\
inet_interfaces = 127.0.0.1\n\
inet_protocols = ipv4\n\
mynetworks = 127.0.0.1/32\n\
smtpd_relay_restrictions = defer_unauth_destination\n\
maillog_file = {data}/maillog\n\
maillog_file_prefixes = {dir}\n\
alias_maps =\n\
alias_database =\n\
message_size_limit = 67108864\n\
virtual_mailbox_limit = 0\n\
default_process_limit = 300\n\
smtpd_client_connection_count_limit = 0\n\
virtual_mailbox_domains = {LOCAL_DOMAIN}\n\
virtual_mailbox_base = {mail}\n\
virtual_mailbox_maps = texthash:{etc}/vmailbox\n\
virtual_uid_maps = static:{uid}\n\
virtual_gid_maps = static:{gid}\n\
relay_domains = {RELAY_DOMAIN}\n\
transport_maps = texthash:{etc}/transport\n\
smtpd_tls_security_level = may\n\
smtpd_tls_cert_file = {cert}\n\
smtpd_tls_key_file = {key}\n\
smtpd_tls_CAfile = {ca}\n\
smtpd_tls_ask_ccert = yes\n\
smtpd_tls_session_cache_database = btree:{data}/smtpd_scache\n\
smtpd_tls_session_cache_timeout = 3600s\n\
smtpd_sender_restrictions = check_sender_access texthash:{etc}/sender_access\n",
            queue = queue.display(),
            data = data.display(),
            dir = dir.display(),
            mail = mail.display(),
            etc = etc.display(),
            cert = server.cert.display(),
            key = server.key.display(),
            ca = ca.display(),
        );
        fs::write(etc.join("main.cf"), main_cf)?;
        // Debian's master.cf without chroot (a private queue folder has no
        // chroot tree) and with smtpd on our loopback port only.
        let master_cf = format!(
            "127.0.0.1:{port} inet n - n - - smtpd\n\
pickup    unix  n       -       n       60      1       pickup\n\
cleanup   unix  n       -       n       -       0       cleanup\n\
qmgr      unix  n       -       n       300     1       qmgr\n\
tlsmgr    unix  -       -       n       1000?   1       tlsmgr\n\
rewrite   unix  -       -       n       -       -       trivial-rewrite\n\
bounce    unix  -       -       n       -       0       bounce\n\
defer     unix  -       -       n       -       0       bounce\n\
trace     unix  -       -       n       -       0       bounce\n\
verify    unix  -       -       n       -       1       verify\n\
flush     unix  n       -       n       1000?   0       flush\n\
proxymap  unix  -       -       n       -       -       proxymap\n\
proxywrite unix -       -       n       -       1       proxymap\n\
smtp      unix  -       -       n       -       -       smtp\n\
relay     unix  -       -       n       -       -       smtp\n\
showq     unix  n       -       n       -       -       showq\n\
error     unix  -       -       n       -       -       error\n\
retry     unix  -       -       n       -       -       error\n\
discard   unix  -       -       n       -       -       discard\n\
local     unix  -       n       n       -       -       local\n\
virtual   unix  -       n       n       -       -       virtual\n\
lmtp      unix  -       -       n       -       -       lmtp\n\
anvil     unix  -       -       n       -       1       anvil\n\
scache    unix  -       -       n       -       1       scache\n\
postlog   unix-dgram n  -       n       -       1       postlogd\n"
        );
        fs::write(etc.join("master.cf"), master_cf)?;
        let p = Postfix {
            postfix: bins.postfix.clone(),
            dir: dir.to_path_buf(),
            port,
        };
        // postfix(1) reports start-up errors to syslog, or to stderr only on
        // a terminal; on failure, say how to see them.
        let started = Command::new(&p.postfix)
            .arg("-c")
            .arg(&etc)
            .arg("start")
            .stdin(Stdio::null())
            .output()?;
        if !started.status.success() {
            bail!(
                "`postfix -c {} start` failed; see the reason with: script -qc 'postfix -c {} start' /dev/null",
                etc.display(),
                etc.display()
            );
        }
        if !wait_until(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        }) {
            bail!("Postfix did not listen on {port}");
        }
        Ok(p)
    }

    fn master_pid(&self) -> Option<u32> {
        fs::read_to_string(self.dir.join("queue/pid/master.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Server for Postfix {
    fn name(&self) -> &'static str {
        "Postfix"
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn pids(&self) -> Vec<u32> {
        self.master_pid().map(descendants).unwrap_or_default()
    }
    fn maildir_new(&self, local: &str) -> PathBuf {
        self.dir
            .join("mail")
            .join(local)
            .join("Maildir")
            .join("new")
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let master = self.master_pid();
        let _ = Command::new(&self.postfix)
            .arg("-c")
            .arg(self.dir.join("etc"))
            .arg("stop")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(pid) = master {
            wait_until(Duration::from_secs(10), || {
                !Path::new(&format!("/proc/{pid}")).exists()
                    || fs::read_to_string(format!("/proc/{pid}/stat"))
                        .is_ok_and(|s| s.contains(") Z "))
            });
        }
    }
}

/// `root` and every process below it (from /proc).
pub fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of: Vec<(u32, u32)> = Vec::new();
    if let Ok(rd) = fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // pid (comm) state ppid ...; comm may hold spaces and parentheses
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            if let Some(ppid) = after.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out
}

/// Postfix's smtp-sink at the next hop, with its message counter.
pub struct Sink {
    child: Child,
    pub port: u16,
    messages: Arc<AtomicUsize>,
}

impl Sink {
    pub fn start(bins: &Bins, port: u16) -> Result<Sink> {
        let mut child = Command::new(&bins.smtp_sink)
            .args(["-u", "nobody", "-c", "-m", "1024"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("1024")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting smtp-sink")?;
        let messages = Arc::new(AtomicUsize::new(0));
        let mut out = child.stdout.take().context("smtp-sink stdout")?;
        let m = messages.clone();
        // "-c" prints "sess=N quit=N mesg=N" after every event, ended by CR.
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut tail = String::new();
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                tail.push_str(&String::from_utf8_lossy(&buf[..n]));
                if let Some(i) = tail.rfind("mesg=") {
                    let digits: String = tail[i + 5..]
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect();
                    if let Ok(v) = digits.parse() {
                        m.store(v, Ordering::Relaxed);
                    }
                    let keep = tail[i..].to_string();
                    tail = keep;
                }
            }
        });
        let s = Sink {
            child,
            port,
            messages,
        };
        if !wait_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        }) {
            bail!("smtp-sink did not listen on {port}");
        }
        Ok(s)
    }

    /// Messages received so far.
    pub fn messages(&self) -> usize {
        self.messages.load(Ordering::Relaxed)
    }

    /// The live counter (for the watcher).
    pub fn counter(&self) -> Arc<AtomicUsize> {
        self.messages.clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Our bare rustls sink (`xshell-bench tls-sink`) as a child process.
pub struct TlsSink {
    child: Child,
    pub port: u16,
}

impl TlsSink {
    pub fn start(server: &CertFiles, ca: &Path, port: u16) -> Result<TlsSink> {
        let me = std::env::current_exe()?;
        let child = Command::new(me)
            .arg("tls-sink")
            .arg("--port")
            .arg(port.to_string())
            .arg("--cert")
            .arg(&server.cert)
            .arg("--key")
            .arg(&server.key)
            .arg("--ca")
            .arg(ca)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("starting the rustls sink")?;
        let s = TlsSink { child, port };
        if !wait_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        }) {
            bail!("the rustls sink did not listen on {port}");
        }
        Ok(s)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for TlsSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
