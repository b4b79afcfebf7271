//! Exim (Debian's exim4-daemon-light, GnuTLS) as a sending peer: its smtp
//! transport sends with BDAT when the server offers CHUNKING, which
//! Postfix's smtp client never does.
//!
//! Exim and Postfix cannot both be installed as Debian packages (both are
//! the system's mail-transport-agent), so `scripts/test-deps` unpacks
//! Exim's package into a folder of its own (`XSHELL_EXIM`, default
//! `/var/cache/xshell-tests/exim/usr/sbin/exim4`) and each test runs it
//! with a private configuration and spool: one message, delivered at once
//! (`-odi`) to one host and port.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where scripts/test-deps unpacks Exim.
const DEFAULT: &str = "/var/cache/xshell-tests/exim/usr/sbin/exim4";

/// The Exim binary, or why there is none.
pub fn binary() -> Result<PathBuf, String> {
    let path = std::env::var_os("XSHELL_EXIM")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT), PathBuf::from);
    if !path.exists() {
        return Err(format!(
            "exim is not unpacked at {} (scripts/test-deps does it, as root)",
            path.display()
        ));
    }
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("exim with a private configuration must be run as root".into());
    }
    Ok(path)
}

/// Sends `message` from `from` to `to` through Exim, delivered at once to
/// `host:port` over STARTTLS (required; the server's certificate is not
/// verified). Returns Exim's log and the conversation (`-v`).
pub fn send(exim: &Path, host: &str, port: u16, from: &str, to: &str, message: &[u8]) -> String {
    // Exim's delivery process runs as `nobody`: its configuration, spool
    // and logs go in a folder of their own that it can reach (a test's
    // work folder is 0700).
    let work = tempfile::Builder::new()
        .prefix("xshell-exim-")
        .tempdir()
        .unwrap();
    let spool = work.path().join("spool");
    let logs = work.path().join("log");
    for (d, mode) in [
        (work.path(), "755"),
        (spool.as_path(), "777"),
        (logs.as_path(), "777"),
    ] {
        std::fs::create_dir_all(d).unwrap();
        Command::new("chmod").arg(mode).arg(d).status().unwrap();
    }
    // Written first by the receiving (root) process, then appended to by
    // the delivery (nobody): open to both.
    for log in ["mainlog", "paniclog"] {
        let path = logs.join(log);
        std::fs::write(&path, "").unwrap();
        Command::new("chmod")
            .arg("666")
            .arg(&path)
            .status()
            .unwrap();
    }
    let conf = work.path().join("exim.conf");
    std::fs::write(
        &conf,
        format!(
            "exim_path = {exim}\n\
             keep_environment =\n\
             primary_hostname = exim.fabrikam.example\n\
             spool_directory = {spool}\n\
             log_file_path = {logs}/%slog\n\
             exim_user = nobody\n\
             exim_group = nogroup\n\
             never_users =\n\
             begin routers\n\
             out:\n  driver = manualroute\n  route_list = * {host}\n  transport = t\n  self = send\n\
             begin transports\n\
             t:\n  driver = smtp\n  port = {port}\n  hosts_try_chunking = *\n  hosts_require_tls = *\n  \
             tls_verify_certificates =\n  allow_localhost\n\
             begin retry\n\
             * * F,1m,1m\n",
            exim = exim.display(),
            spool = spool.display(),
            logs = logs.display(),
        ),
    )
    .unwrap();
    // Bounded: Exim's own timeouts are minutes.
    let mut child = Command::new("timeout")
        .arg("60")
        .arg(exim)
        .arg("-C")
        .arg(&conf)
        .args(["-odi", "-oi", "-v", "-f", from, to])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(message).unwrap();
    let out = child.wait_with_output().unwrap();
    // -odi -v: the delivery is done, and its SMTP conversation and log
    // lines written to stdout, when the command returns.
    let mut log = std::fs::read_to_string(logs.join("mainlog")).unwrap_or_default();
    log += &String::from_utf8_lossy(&out.stdout);
    log += &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exim failed: {}\n{}\n{log}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    log
}
