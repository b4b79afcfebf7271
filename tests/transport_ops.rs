//! Operating the engine: hot reload, a corrupt store, SIGKILL durability,
//! SIGTERM drain, connection limits and timeouts.
#![allow(clippy::unwrap_used)]

mod transport_support;

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use transport_support::*;

fn send_one(raw: &mut Raw, rcpt: &str, subject: &str) -> String {
    assert!(raw.cmd("MAIL FROM:<a@random.example>").starts_with("250"));
    assert!(raw.cmd(&format!("RCPT TO:<{rcpt}>")).starts_with("250"));
    assert!(raw.cmd("DATA").starts_with("354"));
    raw.cmd(&format!("Subject: {subject}\r\n\r\nbody\r\n."))
}

#[test]
fn hot_reload_of_bindings_and_require_tls_keeps_open_sessions() {
    let lab = Lab::new();
    let port = free_port();
    let port2 = free_port();
    lab.provision(port);
    let engine = lab.start_engine(port);

    // a session in progress, mid-transaction
    let mut open = Raw::connect(port);
    open.reply();
    open.cmd("EHLO client.test");
    assert!(open.cmd("MAIL FROM:<a@random.example>").starts_with("250"));

    let b1 = format!("127.0.0.1:{port}");
    let b2 = format!("127.0.0.1:{port2}");
    let both = format!("{b1},{b2}");
    let t0 = Instant::now();
    lab.xshell(&[
        "set-receiveconnector",
        "Inbound",
        "--bindings",
        &both,
        "--require-tls",
    ]);
    let changed = Instant::now();
    // the new binding listens and RequireTLS applies to new sessions
    let mut reload = None;
    let ok = wait_until(Duration::from_secs(2), || {
        let Ok(s) = TcpStream::connect(("127.0.0.1", port2)) else {
            return false;
        };
        drop(s);
        let mut r = Raw::connect(port);
        r.reply();
        r.cmd("EHLO client.test");
        let refused = r
            .cmd("MAIL FROM:<a@random.example>")
            .starts_with("530 5.7.0");
        if refused {
            reload = Some(changed.elapsed());
        }
        refused
    });
    assert!(ok, "not reloaded within 2 s:\n{}", engine.log_text());
    eprintln!(
        "reload latency: {:?} after the xshell command returned ({:?} including the command)",
        reload.unwrap(),
        t0.elapsed()
    );
    // the new port serves with the new configuration
    let mut r = Raw::connect(port2);
    assert!(r.reply().starts_with("220"));
    r.cmd("EHLO client.test");
    assert!(
        r.cmd("MAIL FROM:<a@random.example>")
            .starts_with("530 5.7.0")
    );

    // the open session keeps its configuration and finishes its message
    assert!(open.cmd("RCPT TO:<dora@orga.example>").starts_with("250"));
    assert!(open.cmd("DATA").starts_with("354"));
    let r = open.cmd("Subject: during reload\r\n\r\nbody\r\n.");
    assert!(r.starts_with("250 2.0.0 Queued"), "{r}");
    assert!(open.cmd("QUIT").starts_with("221"));
    assert!(wait_until(Duration::from_secs(10), || lab
        .maildir("orga.example", "dora")
        .len()
        == 1));

    // removing the binding stops its listener
    lab.xshell(&[
        "set-receiveconnector",
        "Inbound",
        "--bindings",
        &b1,
        "--require-tls=false",
    ]);
    assert!(wait_until(Duration::from_secs(2), || TcpStream::connect((
        "127.0.0.1",
        port2
    ))
    .is_err()));

    // a corrupt store keeps the last good configuration
    let config_json = lab.store.join("config.json");
    let good = std::fs::read(&config_json).unwrap();
    std::fs::write(&config_json, b"{ not json").unwrap();
    assert!(wait_until(Duration::from_secs(3), || engine
        .log_text()
        .contains("keeping the last good configuration")));
    // ... and logs why: the parse error, naming the file
    let log = engine.log_text();
    let why = log
        .lines()
        .find(|l| l.contains("keeping the last good configuration"))
        .unwrap();
    assert!(
        why.contains(&config_json.display().to_string())
            && why.contains("is corrupt")
            && why.contains("line 1, column"),
        "{why}"
    );
    let mut r = Raw::connect(port);
    assert!(r.reply().starts_with("220"));
    r.cmd("EHLO client.test");
    let reply = send_one(&mut r, "erin@orga.example", "while corrupt");
    assert!(reply.starts_with("250 2.0.0"), "{reply}");

    // the store is fixed: the engine says so, and the next change applies
    std::fs::write(&config_json, &good).unwrap();
    assert!(
        wait_until(Duration::from_secs(3), || engine
            .log_text()
            .contains("the store is readable again")),
        "{}",
        engine.log_text()
    );
    lab.xshell(&["set-receiveconnector", "Inbound", "--require-tls"]);
    assert!(
        wait_until(Duration::from_secs(3), || {
            let mut r = Raw::connect(port);
            r.reply();
            r.cmd("EHLO client.test");
            r.cmd("MAIL FROM:<a@random.example>")
                .starts_with("530 5.7.0")
        }),
        "the change after the repair was not applied:\n{}",
        engine.log_text()
    );
}

#[test]
fn every_acknowledged_message_survives_sigkill() {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    let mut engine = lab.start_engine(port);

    let acked: Arc<Mutex<Vec<u32>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let acked = Arc::clone(&acked);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else {
                return;
            };
            drop(stream);
            let mut raw = Raw::connect(port);
            raw.reply();
            raw.cmd("EHLO client.test");
            for n in 0..2000u32 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let r = raw.cmd("MAIL FROM:<a@random.example>");
                if !r.starts_with("250") {
                    break;
                }
                if !raw.cmd("RCPT TO:<frank@orga.example>").starts_with("250") {
                    break;
                }
                if !raw.cmd("DATA").starts_with("354") {
                    break;
                }
                let r = raw.cmd(&format!("Subject: n{n}\r\n\r\nnumber {n}\r\n."));
                if r.starts_with("250 2.0.0 Queued") {
                    acked.lock().unwrap().push(n);
                } else {
                    break;
                }
            }
        })
    };
    assert!(wait_until(Duration::from_secs(30), || acked
        .lock()
        .unwrap()
        .len()
        >= 20));
    engine.signal("KILL");
    assert_eq!(engine.wait_exit(Duration::from_secs(5)), Some(-1));
    stop.store(true, Ordering::SeqCst);
    client.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 20);

    let _engine = lab.start_engine(port);
    let all_there = || {
        let msgs = lab.maildir("orga.example", "frank");
        acked.iter().all(|n| {
            msgs.iter()
                .any(|m| m.contains(&format!("Subject: n{n}\r\n")))
        })
    };
    assert!(
        wait_until(Duration::from_secs(20), all_there),
        "acknowledged messages missing after restart ({} acked, {} delivered)",
        acked.len(),
        lab.maildir("orga.example", "frank").len()
    );
    eprintln!(
        "{} messages acknowledged before SIGKILL, all delivered after restart ({} files)",
        acked.len(),
        lab.maildir("orga.example", "frank").len()
    );
}

#[test]
fn sigterm_lets_the_session_in_progress_finish_and_exits_zero() {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    let mut engine = lab.start_engine(port);

    let mut raw = Raw::connect(port);
    raw.reply();
    raw.cmd("EHLO client.test");
    assert!(raw.cmd("MAIL FROM:<a@random.example>").starts_with("250"));
    engine.signal("TERM");
    assert!(wait_until(Duration::from_secs(3), || engine
        .log_text()
        .contains("shutting down")));
    // no new connections
    assert!(wait_until(Duration::from_secs(3), || TcpStream::connect((
        "127.0.0.1",
        port
    ))
    .is_err()));
    // the session in progress completes its message
    assert!(raw.cmd("RCPT TO:<gina@orga.example>").starts_with("250"));
    assert!(raw.cmd("DATA").starts_with("354"));
    assert!(
        raw.cmd("Subject: at shutdown\r\n\r\nbody\r\n.")
            .starts_with("250 2.0.0 Queued")
    );
    assert!(raw.cmd("QUIT").starts_with("221"));
    assert_eq!(engine.wait_exit(Duration::from_secs(10)), Some(0));
    assert_eq!(lab.maildir("orga.example", "gina").len(), 1);
}

#[test]
fn sigterm_grace_period_closes_idle_sessions_with_421() {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    let mut engine = lab.start_engine(port); // --grace 5
    let mut raw = Raw::connect(port);
    raw.reply();
    raw.cmd("EHLO client.test");
    let t = Instant::now();
    engine.signal("TERM");
    let r = raw.reply();
    assert!(r.starts_with("421 4.3.2"), "{r}");
    assert!(t.elapsed() >= Duration::from_secs(4), "{:?}", t.elapsed());
    assert_eq!(engine.wait_exit(Duration::from_secs(10)), Some(0));
}

/// SIGTERM while the engine is still starting (loading the store, binding
/// its ports) is a graceful shutdown too, never the signal's default
/// action: the handlers are installed before anything else.
#[test]
fn sigterm_during_start_shuts_down_gracefully() {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    let log = lab.work.join("early-term.log");
    let child = std::process::Command::new(transport_support::engine_bin())
        .arg("--store")
        .arg(&lab.store)
        .args(["--grace", "1"])
        .env("RUST_LOG", "info")
        .env_remove("XSHELL_STORE")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut engine = transport_support::Engine { child, log };
    assert!(wait_until(Duration::from_secs(10), || engine
        .log_text()
        .contains("xshell-transport starting")));
    engine.signal("TERM");
    // Exit code 0 (a process killed by the signal has none: -1 here).
    assert_eq!(
        engine.wait_exit(Duration::from_secs(15)),
        Some(0),
        "{}",
        engine.log_text()
    );
    let text = engine.log_text();
    assert!(
        text.contains("SIGTERM received") && text.contains("stopped"),
        "{text}"
    );
}

#[test]
fn connection_limit_per_source_and_inactivity_timeout() {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    lab.xshell(&[
        "set-receiveconnector",
        "Inbound",
        "--max-inbound-connection-per-source",
        "1",
        "--connection-inactivity-timeout",
        "2s",
    ]);
    // a connector that serves only 127.0.0.2
    let narrow_port = free_port();
    let narrow = format!("127.0.0.1:{narrow_port}");
    lab.xshell(&[
        "new-receiveconnector",
        "Narrow",
        "--usage",
        "custom",
        "--bindings",
        &narrow,
        "--remote-ip-ranges",
        "127.0.0.2",
    ]);
    let engine = lab.start_engine(port);
    assert!(wait_until(Duration::from_secs(5), || engine
        .log_text()
        .contains(&format!("listening addr={narrow}"))));
    let mut nobody = Raw::connect(narrow_port);
    let r = nobody.reply();
    assert!(r.starts_with("421 4.3.2"), "{r}");

    let mut first = Raw::connect(port);
    assert!(first.reply().starts_with("220"));
    let mut second = Raw::connect(port);
    let r = second.reply();
    assert!(r.starts_with("421 4.7.0"), "{r}");
    // the first one idles into the inactivity timeout
    let t = Instant::now();
    let r = first.reply();
    assert!(r.starts_with("421 4.4.2"), "{r}");
    assert!(t.elapsed() >= Duration::from_millis(1500));
    // and its slot is free again
    assert!(wait_until(Duration::from_secs(2), || {
        let mut r = Raw::connect(port);
        r.reply().starts_with("220")
    }));
}
