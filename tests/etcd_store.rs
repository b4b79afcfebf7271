//! The etcd store (issue 19) against a real etcd on loopback ports:
//! concurrent writers lose nothing (etcd transactions), an organization
//! moves from a file store to etcd and back unchanged, private keys stay in
//! the server's local state folder, a CLI command against an unreachable
//! cluster fails fast, and the engine follows the store by watch, keeps its
//! last good configuration, and starts from its local cache while etcd is
//! down. A test fails under CI when etcd is not installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/etcd.rs"]
mod etcd;
mod transport_support;

use etcd::{Etcd, etcd_or_missing};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use transport_support::{Engine, Raw, engine_bin, free_port, wait_until, xshell_bin};

/// The tests each start an etcd and many processes: one at a time (the
/// machine has two cores).
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// A store location (folder or etcd URL) and the local state folder the
/// CLI uses with it.
struct Target {
    store: String,
    state: PathBuf,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Target {
    fn cmd(&self) -> Command {
        let mut c = Command::new(xshell_bin());
        c.arg("--store")
            .arg(&self.store)
            .env_remove("XSHELL_STORE")
            .env("XSHELL_STATE_DIR", &self.state)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Run {
        let o = self.cmd().args(args).output().unwrap();
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code, 0,
            "xshell --store {} {args:?} failed:\n{}\n{}",
            self.store, r.stdout, r.stderr
        );
        r.stdout
    }

    fn json(&self, args: &[&str]) -> Vec<Value> {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        match serde_json::from_str(&self.ok(&a)).unwrap() {
            Value::Array(v) => v,
            other => panic!("not an array: {other}"),
        }
    }
}

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/examples")
}

fn sample(name: &str) -> String {
    samples().join(name).to_string_lossy().into_owned()
}

/// The walkthrough's organization, with an imported certificate and its
/// private key.
fn configure(s: &Target) {
    s.ok(&[
        "set-transportconfig",
        "--tls-receive-domain-secure-list",
        "domaene.tld",
        "--tls-send-domain-secure-list",
        "domaene.tld,partner.example",
        "--max-send-size",
        "20MB",
    ]);
    s.ok(&["set-transportservice", "--fqdn", "mail.orga.example"]);
    s.ok(&[
        "new-accepteddomain",
        "OrgA",
        "--domain-name",
        "orga.example",
    ]);
    s.ok(&[
        "new-sendconnector",
        "Outbound",
        "--address-spaces",
        "*",
        "--domain-secure-enabled",
    ]);
    s.ok(&[
        "new-receiveconnector",
        "Inbound",
        "--usage",
        "Internet",
        "--bindings",
        "0.0.0.0:25",
        "--domain-secure-enabled",
    ]);
    s.ok(&["import-certificate", &sample("partner-root.cer")]);
    s.ok(&[
        "import-exchangecertificate",
        &sample("orga.pfx"),
        "--password-file",
        &sample("orga.pass"),
        "--friendly-name",
        "OrgA SMTP",
    ]);
    s.ok(&[
        "enable-exchangecertificate",
        "4F7B2F9AC8244F2042F6DBC515931CE7E295A961",
        "--services",
        "SMTP",
    ]);
}

/// Everything the Get- cmdlets show, for comparing two stores.
fn state(s: &Target) -> Vec<Value> {
    let mut all = Vec::new();
    for get in [
        "get-transportconfig",
        "get-transportservice",
        "get-accepteddomain",
        "get-sendconnector",
        "get-receiveconnector",
        "get-trustedrootcertificate",
        "get-exchangecertificate",
    ] {
        for mut item in s.json(&[get]) {
            if let Some(o) = item.as_object_mut() {
                o.remove("Revision");
            }
            all.push(item);
        }
    }
    all
}

/// `xshell export` of `s`, with the certificate's Source filled in (the
/// export never carries private keys).
fn exported_with_source(s: &Target, dir: &Path, name: &str) -> String {
    let text = s.ok(&["export"]);
    assert!(text.contains("Source: null"), "{text}");
    let text = text.replace(
        "Source: null",
        &format!(
            "Source: {{Path: '{}', PasswordFile: '{}'}}",
            sample("orga.pfx"),
            sample("orga.pass")
        ),
    );
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn etcd_concurrent_writers_lose_nothing() {
    if !etcd_or_missing() {
        return;
    }
    let _g = heavy();
    const WRITERS: usize = 8;
    const EACH: usize = 25;
    let etcd = Etcd::start(1);
    let store = Target {
        store: etcd.url("conc"),
        state: etcd.dir().join("state"),
    };
    let start = Instant::now();
    std::thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|p| {
                let store = &store;
                scope.spawn(move || {
                    for n in 0..EACH {
                        let edit = format!("@{{Add=\"d{p}-{n}.tld\"}}");
                        let r = store.run(&[
                            "set-transportconfig",
                            "--tls-receive-domain-secure-list",
                            &edit,
                        ]);
                        assert_eq!(r.code, 0, "writer {p} step {n}: {}", r.stderr);
                    }
                })
            })
            .collect();
        for w in writers {
            if let Err(panic) = w.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
    let elapsed = start.elapsed();
    let doc: Value = serde_json::from_slice(&etcd.get("/conc/config").unwrap()).unwrap();
    assert_eq!(doc["Revision"].as_u64(), Some((WRITERS * EACH) as u64));
    let got: BTreeSet<String> = doc["TransportConfig"]["TLSReceiveDomainSecureList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    let want: BTreeSet<String> = (0..WRITERS)
        .flat_map(|p| (0..EACH).map(move |n| format!("d{p}-{n}.tld")))
        .collect();
    assert_eq!(got, want, "an edit was lost");
    eprintln!(
        "etcd concurrency: {} writes by {WRITERS} processes in {elapsed:?}",
        WRITERS * EACH
    );
}

#[test]
fn etcd_organization_moves_and_back_keys_stay_local_unreachable_fails_fast() {
    if !etcd_or_missing() {
        return;
    }
    let _g = heavy();
    let etcd = Etcd::start(1);
    let work = etcd.dir().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let a = Target {
        store: work.join("a").to_string_lossy().into_owned(),
        state: work.join("unused-a"),
    };
    configure(&a);

    // File store -> etcd.
    let e = Target {
        store: etcd.url("orga"),
        state: work.join("ex01-state"),
    };
    let file = exported_with_source(&a, &work, "a.yaml");
    e.ok(&["apply", &file]);
    assert_eq!(state(&a), state(&e), "etcd differs from the file store");
    assert!(e.ok(&["apply", &file]).starts_with("No changes"));

    // The private key is in the server's state folder, 0600 in 0700; etcd
    // holds the configuration only.
    let keys = e.state.join("keys");
    let key_files: Vec<PathBuf> = std::fs::read_dir(&keys)
        .unwrap()
        .map(|d| d.unwrap().path())
        .collect();
    assert!(
        !key_files.is_empty(),
        "no private key in {}",
        keys.display()
    );
    assert_eq!(mode(&keys), 0o700);
    let all = etcd.etcdctl(&["get", "--prefix", ""]);
    assert!(all.status.success());
    let everything = String::from_utf8_lossy(&all.stdout).into_owned();
    assert!(!everything.contains("PRIVATE KEY"), "a PEM key is in etcd");
    for k in &key_files {
        assert_eq!(mode(k), 0o600, "{}", k.display());
        // The last lines of the PEM body are the private exponent's CRT
        // values (nothing public): not in etcd, as PEM or as base64 DER.
        let pem = std::fs::read_to_string(k).unwrap();
        let body: Vec<&str> = pem.lines().filter(|l| l.len() == 64).collect();
        assert!(body.len() > 6, "{pem}");
        for line in &body[body.len() - 3..] {
            assert!(
                !everything.contains(line),
                "private key material is in etcd"
            );
        }
    }

    // etcd -> a fresh file store.
    let b = Target {
        store: work.join("b").to_string_lossy().into_owned(),
        state: work.join("unused-b"),
    };
    let back = exported_with_source(&e, &work, "e.yaml");
    b.ok(&["apply", &back]);
    assert_eq!(
        state(&a),
        state(&b),
        "the round trip changed the configuration"
    );
    assert_eq!(a.ok(&["export"]), b.ok(&["export"]));

    // Unreachable: a closed port. Exit 1, the endpoints named, fast.
    let closed = free_port();
    let down = Target {
        store: format!("etcd://127.0.0.1:{closed},localhost:{closed}/orga"),
        state: work.join("down-state"),
    };
    for args in [
        &["get-transportconfig"][..],
        &["set-transportconfig", "--max-send-size", "30MB"][..],
    ] {
        let t = Instant::now();
        let r = down.run(args);
        let took = t.elapsed();
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!(
                "etcd://127.0.0.1:{closed},localhost:{closed}/orga"
            )) && r.stderr.contains("unreachable"),
            "{}",
            r.stderr
        );
        eprintln!(
            "unreachable etcd: {args:?} failed in {took:?}: {}",
            r.stderr.trim()
        );
    }
    // A member that accepts connections but never answers: the bounded
    // timeout, not a hang.
    let (_silent, silent_port) = transport_support::unique_listener("127.0.0.1");
    let silent = Target {
        store: format!("etcd://127.0.0.1:{silent_port}/orga"),
        state: work.join("silent-state"),
    };
    let t = Instant::now();
    let r = silent.run(&["get-transportconfig"]);
    let took = t.elapsed();
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "etcd://127.0.0.1:{silent_port}/orga is unreachable"
        )),
        "{}",
        r.stderr
    );
    assert!(took < Duration::from_secs(30), "no bound: {took:?}");
    eprintln!("silent etcd: failed in {took:?}: {}", r.stderr.trim());
    // A malformed location and a password on the command line are refused.
    let r = Target {
        store: "etcd://127.0.0.1/orga".into(),
        state: work.join("x"),
    }
    .run(&["get-transportconfig"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("is not HOST:PORT"), "{}", r.stderr);
    let r = e.run(&["get-transportconfig", "--etcd-password", "secret"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

/// The engine against etcd: `--store etcd://... --state-dir DIR`.
fn start_engine(etcd_url: &str, state: &Path, log: &Path) -> Engine {
    spawn_engine(etcd_url, state, log, &[])
}

/// `xshell-transport --store URL --state-dir DIR --grace 1` and `args`.
fn spawn_engine(etcd_url: &str, state: &Path, log: &Path, args: &[&str]) -> Engine {
    let child = Command::new(engine_bin())
        .arg("--store")
        .arg(etcd_url)
        .arg("--state-dir")
        .arg(state)
        .args(["--grace", "1"])
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove("XSHELL_STORE")
        .env_remove("XSHELL_STATE_DIR")
        .env_remove("XSHELL_SERVER")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    Engine {
        child,
        log: log.to_path_buf(),
    }
}

fn banner(port: u16) -> String {
    let mut c = Raw::connect(port);
    let b = c.reply();
    let _ = c.cmd("QUIT");
    b
}

#[test]
fn etcd_engine_follows_by_watch_keeps_last_good_and_starts_from_cache() {
    if !etcd_or_missing() {
        return;
    }
    let _g = heavy();
    let mut etcd = Etcd::start(1);
    let work = etcd.dir().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let url = etcd.url("orgw");
    let state = work.join("ex01");
    let cli = Target {
        store: url.clone(),
        state: state.clone(),
    };
    let port = free_port();
    let binding = format!("127.0.0.1:{port}");
    cli.ok(&["set-transportservice", "--fqdn", "mail.orga.example"]);
    cli.ok(&[
        "new-accepteddomain",
        "OrgA",
        "--domain-name",
        "orga.example",
    ]);
    cli.ok(&[
        "new-receiveconnector",
        "Inbound",
        "--usage",
        "internet",
        "--bindings",
        &binding,
        "--banner",
        "220 first banner",
    ]);
    // A fresh state folder: the engine reads etcd, not a leftover cache.
    let _ = std::fs::remove_dir_all(&state);
    let engine = start_engine(&url, &state, &work.join("engine-1.log"));
    let needle = format!("listening addr={binding}");
    assert!(
        wait_until(Duration::from_secs(20), || engine
            .log_text()
            .contains(&needle)),
        "{}",
        engine.log_text()
    );
    assert!(
        wait_until(Duration::from_secs(5), || engine
            .log_text()
            .contains("following the store's changes (watch)")),
        "{}",
        engine.log_text()
    );
    assert!(banner(port).contains("first banner"));

    // The engine registered itself beside the document, in etcd: the
    // CLI, with another state folder, sees it running, and its heartbeat
    // made no revision.
    let other = Target {
        store: url.clone(),
        state: work.join("admin"),
    };
    let revision = || {
        let doc: Value = serde_json::from_slice(&etcd.get("/orgw/config").unwrap()).unwrap();
        doc["Revision"].as_u64()
    };
    let before = revision();
    let servers = other.json(&["get-transportservice"]);
    assert_eq!(servers.len(), 1, "{servers:?}");
    assert_eq!(servers[0]["Running"], true, "{servers:?}");
    assert!(servers[0]["LastHeartbeat"].is_string(), "{servers:?}");
    assert_eq!(revision(), before, "a registration made a revision");

    // A session in progress when the configuration changes.
    let mut open = Raw::connect(port);
    assert!(open.reply().starts_with("220"));
    assert!(open.cmd("EHLO client.example").starts_with("250"));

    // A change is live by watch.
    cli.ok(&[
        "set-receiveconnector",
        "Inbound",
        "--banner",
        "220 second banner",
    ]);
    let t = Instant::now();
    assert!(
        wait_until(Duration::from_secs(5), || banner(port)
            .contains("second banner")),
        "the change did not reach the engine:\n{}",
        engine.log_text()
    );
    eprintln!(
        "etcd watch: change live on the engine {:?} after the CLI returned",
        t.elapsed()
    );
    // 20 changes in a row, each waited for: none is lost (notifications
    // coalesce, the last one always lands); the times are printed.
    let mut took = Vec::new();
    for n in 0..20 {
        let text = format!("220 banner {n}");
        cli.ok(&["set-receiveconnector", "Inbound", "--banner", &text]);
        let t = Instant::now();
        assert!(
            wait_until(Duration::from_secs(5), || banner(port).contains(&text)),
            "change {n} did not reach the engine:\n{}",
            engine.log_text()
        );
        took.push(t.elapsed());
    }
    took.sort();
    eprintln!(
        "etcd watch: 20 changes live after median {:?}, max {:?} (debug build, polling the banner every 20 ms)",
        took[10], took[19]
    );
    // Then several without waiting: the last one is what the engine runs.
    for n in 0..5 {
        cli.ok(&[
            "set-receiveconnector",
            "Inbound",
            "--banner",
            &format!("220 burst {n}"),
        ]);
    }
    cli.ok(&[
        "set-receiveconnector",
        "Inbound",
        "--banner",
        "220 second banner",
    ]);
    assert!(
        wait_until(Duration::from_secs(5), || banner(port)
            .contains("second banner")),
        "{}",
        engine.log_text()
    );
    // The session in progress was not dropped.
    assert!(open.cmd("NOOP").starts_with("250"));

    // A configuration that breaks a rule, or does not even parse (written
    // behind xshell's back), is not applied; the engine says why and keeps
    // serving the last good one.
    let good = etcd.get("/orgw/config").unwrap();
    let mut bad: Value = serde_json::from_slice(&good).unwrap();
    bad["Revision"] = Value::from(bad["Revision"].as_u64().unwrap() + 1);
    bad["ReceiveConnectors"][0]["Bindings"] = Value::Array(Vec::new());
    bad["ReceiveConnectors"][0]["Banner"] = Value::from("220 bad banner");
    etcd.put("/orgw/config", &bad.to_string());
    assert!(
        wait_until(Duration::from_secs(5), || engine
            .log_text()
            .contains("fails validation; keeping the last good configuration")),
        "{}",
        engine.log_text()
    );
    assert!(
        engine
            .log_text()
            .contains("ReceiveConnector Inbound: a receive connector needs at least one binding")
    );
    assert!(banner(port).contains("second banner"));
    etcd.put(
        "/orgw/config",
        "{\"SchemaVersion\": 1, \"Revision\": 99, \"Bogus\": [",
    );
    assert!(
        wait_until(Duration::from_secs(5), || engine
            .log_text()
            .contains("keeping the last good configuration")),
        "{}",
        engine.log_text()
    );
    assert!(banner(port).contains("second banner"));
    assert!(open.cmd("NOOP").starts_with("250"));
    etcd.put("/orgw/config", std::str::from_utf8(&good).unwrap());
    assert!(
        wait_until(Duration::from_secs(5), || engine
            .log_text()
            .contains("the store is readable again")),
        "{}",
        engine.log_text()
    );
    // An older revision (a stale member, a restored backup) is not applied.
    let mut old: Value = serde_json::from_slice(&good).unwrap();
    old["Revision"] = Value::from(old["Revision"].as_u64().unwrap() - 1);
    old["ReceiveConnectors"][0]["Banner"] = Value::from("220 old banner");
    etcd.put("/orgw/config", &old.to_string());
    assert!(
        wait_until(Duration::from_secs(5), || engine
            .log_text()
            .contains("an older revision than the one running; not applied")),
        "{}",
        engine.log_text()
    );
    assert!(banner(port).contains("second banner"));
    etcd.put("/orgw/config", std::str::from_utf8(&good).unwrap());
    let _ = open.cmd("QUIT");
    drop(engine);

    // A configuration that breaks a rule is not applied at start either:
    // with a cached last good configuration the engine starts from it and
    // says why; without one it refuses to start, naming object and rule.
    etcd.put("/orgw/config", &bad.to_string());
    let engine = start_engine(&url, &state, &work.join("engine-bad.log"));
    assert!(
        wait_until(Duration::from_secs(20), || engine
            .log_text()
            .contains(&needle)),
        "{}",
        engine.log_text()
    );
    let log = engine.log_text();
    assert!(
        log.contains("fails validation: running from the last good configuration cached")
            && log.contains(
                "ReceiveConnector Inbound: a receive connector needs at least one binding"
            ),
        "{log}"
    );
    assert!(banner(port).contains("second banner"));
    drop(engine);
    let mut fresh = start_engine(&url, &work.join("ex03"), &work.join("engine-bad-2.log"));
    let code = fresh.wait_exit(Duration::from_secs(20));
    let log = fresh.log_text();
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("breaks a rule: ReceiveConnector Inbound: a receive connector needs at least one binding")
            && log.contains("no cached last good configuration"),
        "{log}"
    );
    etcd.put("/orgw/config", std::str::from_utf8(&good).unwrap());

    // etcd down: the engine starts from the configuration it cached, and
    // says so; an engine with no cache refuses to start.
    etcd.kill(0);
    let engine = start_engine(&url, &state, &work.join("engine-2.log"));
    assert!(
        wait_until(Duration::from_secs(20), || engine
            .log_text()
            .contains(&needle)),
        "{}",
        engine.log_text()
    );
    let log = engine.log_text();
    assert!(
        log.contains("running from the last good configuration cached"),
        "{log}"
    );
    assert_eq!(mode(&state.join("etcd-cache.json")), 0o600);
    assert!(banner(port).contains("second banner"));
    let mut fresh = start_engine(&url, &work.join("ex02"), &work.join("engine-3.log"));
    let code = fresh.wait_exit(Duration::from_secs(20));
    assert_eq!(code, Some(1), "{}", fresh.log_text());
    assert!(
        fresh.log_text().contains("no cached configuration"),
        "{}",
        fresh.log_text()
    );

    // etcd back: the engine started from its cache follows it again.
    etcd.restart(0);
    assert!(
        etcd.wait_healthy(Duration::from_secs(20)),
        "{}",
        etcd.logs()
    );
    cli.ok(&[
        "set-receiveconnector",
        "Inbound",
        "--banner",
        "220 third banner",
    ]);
    assert!(
        wait_until(Duration::from_secs(10), || banner(port)
            .contains("third banner")),
        "the engine did not follow etcd after it came back:\n{}",
        engine.log_text()
    );
}

/// `xshell-transport --server NAME` against etcd, its own state folder,
/// heartbeats every second.
fn start_server(etcd_url: &str, server: &str, state: &Path, log: &Path) -> Engine {
    let args = ["--server", server, "--heartbeat-interval", "1"];
    spawn_engine(etcd_url, state, log, &args)
}

/// Submits one message for `rcpt` whose subject is `tag` to the engine on
/// `port`; returns the reply to the end of DATA.
fn submit(port: u16, rcpt: &str, tag: &str) -> String {
    let mut c = Raw::connect(port);
    let _ = c.reply();
    let _ = c.cmd("EHLO client.example");
    let _ = c.cmd("MAIL FROM:<sender@client.example>");
    let _ = c.cmd(&format!("RCPT TO:<{rcpt}>"));
    let _ = c.cmd("DATA");
    c.send(format!("Subject: {tag}\r\n\r\n{tag}\r\n.\r\n").as_bytes());
    let r = c.reply();
    let _ = c.cmd("QUIT");
    r
}

/// Whether a message with `tag` is in `user@orga.example`'s Maildir under
/// the state folder `state`.
fn delivered(state: &Path, user: &str, tag: &str) -> bool {
    let new = state.join(format!("mailboxes/orga.example/{user}/Maildir/new"));
    std::fs::read_dir(new).is_ok_and(|entries| {
        entries
            .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
            .any(|b| String::from_utf8_lossy(&b).contains(&format!("Subject: {tag}")))
    })
}

/// The configuration revisions an engine applied, in order, from its log.
fn applied_revisions(engine: &Engine) -> Vec<u64> {
    engine
        .log_text()
        .lines()
        .filter(|l| l.contains("configuration reloaded"))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("revision="))
        })
        .filter_map(|r| r.parse().ok())
        .collect()
}

/// The faults of issue 19 with a real three-member cluster and two
/// engines (`--server EX01`, `--server EX02`, each its own state folder
/// and receive connector, local delivery to Maildir): the leader killed
/// (a message submitted to each engine during the election is delivered;
/// CLI writes fail clearly or wait, then succeed: how long is measured),
/// quorum lost (reads fail clearly; both engines keep accepting and
/// delivering mail with the last good configuration and log it; after
/// recovery both converge to the newest revision, as their registration
/// records say), a member frozen by a network split (no engine goes back
/// to an older configuration), an engine killed during a change loads the
/// newest revision at restart; then the stopped server is removed
/// (Remove-TransportService), its registration record with it.
#[test]
fn etcd_cluster_faults() {
    if !etcd_or_missing() {
        return;
    }
    let _g = heavy();
    let mut etcd = Etcd::start(3);
    let work = etcd.dir().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let url = etcd.url("orgc");
    let servers = ["EX01", "EX02"];
    let states = [work.join("ex01"), work.join("ex02")];
    let cli = Target {
        store: url.clone(),
        state: work.join("admin"),
    };
    let ports = [free_port(), free_port()];
    cli.ok(&[
        "-c",
        "Set-TransportService -Name EX01 -Fqdn ex01.orga.example",
    ]);
    cli.ok(&["-c", "Set-TransportService EX02 -Fqdn ex02.orga.example"]);
    cli.ok(&["-c", "New-AcceptedDomain OrgA -DomainName orga.example"]);
    for (server, port) in servers.iter().zip(ports) {
        cli.ok(&[
            "-c",
            &format!(
                "New-ReceiveConnector Inbound -Server {server} -Usage Internet \
                 -Bindings 127.0.0.1:{port} -Banner '220 {server} one'"
            ),
        ]);
    }
    let start = |i: usize, log: &str| {
        let e = start_server(&url, servers[i], &states[i], &work.join(log));
        let needle = format!("listening addr=127.0.0.1:{}", ports[i]);
        assert!(
            wait_until(Duration::from_secs(20), || e.log_text().contains(&needle)),
            "{}",
            e.log_text()
        );
        e
    };
    let mut engines = vec![start(0, "ex01-1.log"), start(1, "ex02-1.log")];
    let began = Instant::now();
    let stage = |name: &str| eprintln!("stage {name}: {:?}", began.elapsed());
    let store_revision = |etcd: &Etcd| -> u64 {
        let doc: Value = serde_json::from_slice(&etcd.get("/orgc/config").unwrap()).unwrap();
        doc["Revision"].as_u64().unwrap()
    };
    // Each engine's registration record: the revision it runs.
    let runs = |i: usize| -> Option<u64> {
        let r = cli.run(&["get-transportservice", servers[i], "-o", "json"]);
        let v: Value = serde_json::from_str(&r.stdout).ok()?;
        let one = v.as_array().map_or(&v, |a| &a[0]);
        one["Revision"].as_u64()
    };
    // Mail through both engines: accepted by each, then in each one's
    // Maildir.
    let submit_both = |what: &str| {
        for i in 0..2 {
            let tag = format!("{what}-{}", servers[i]);
            let r = submit(ports[i], "user@orga.example", &tag);
            assert!(
                r.starts_with("250"),
                "{what}: {} refused mail: {r}",
                servers[i]
            );
        }
    };
    let delivered_both = |engines: &[Engine], what: &str| {
        for i in 0..2 {
            let tag = format!("{what}-{}", servers[i]);
            assert!(
                wait_until(Duration::from_secs(10), || delivered(
                    &states[i], "user", &tag
                )),
                "{what}: {} did not deliver {tag}:\n{}",
                servers[i],
                engines[i].log_text()
            );
        }
    };
    let flows = |engines: &[Engine], what: &str| {
        submit_both(what);
        delivered_both(engines, what);
    };

    // 1. Kill the leader; mail submitted to each engine during the
    // election; write until a write succeeds.
    let leader = etcd.leader().expect("no leader");
    etcd.kill(leader);
    let killed = Instant::now();
    submit_both("election");
    let submitted = killed.elapsed();
    let mut refused = Vec::new();
    let mut written = Vec::new();
    let mut first_ok = None;
    for n in 0..200 {
        let domain = format!("k{n}.tld");
        let edit = format!("@{{Add=\"{domain}\"}}");
        let r = cli.run(&[
            "set-transportconfig",
            "--tls-receive-domain-secure-list",
            &edit,
        ]);
        if r.code == 0 {
            written.push(domain);
            if first_ok.is_none() {
                first_ok = Some(killed.elapsed());
            }
            if written.len() == 3 {
                break;
            }
        } else {
            assert_eq!(r.code, 1, "{}", r.stderr);
            assert!(
                r.stderr.contains("etcd store etcd://") && r.stderr.lines().count() == 1,
                "not a clear one-line error: {}",
                r.stderr
            );
            refused.push((killed.elapsed(), r.stderr.trim().to_string()));
        }
        if killed.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    let first_ok =
        first_ok.unwrap_or_else(|| panic!("no write succeeded: {refused:?}\n{}", etcd.logs()));
    delivered_both(&engines, "election");
    eprintln!(
        "leader killed: mail accepted by both engines {submitted:?} after the kill; \
         first write succeeded {first_ok:?} after the kill; {} refused before: {:?}",
        refused.len(),
        refused
            .iter()
            .map(|(t, e)| format!("{t:?} {e}"))
            .collect::<Vec<_>>()
    );
    // Nothing half-written: the document is whole and has every write that
    // was acknowledged.
    let doc: Value = serde_json::from_slice(&etcd.get("/orgc/config").unwrap()).unwrap();
    let list = doc["TransportConfig"]["TLSReceiveDomainSecureList"].to_string();
    for d in &written {
        assert!(list.contains(d.as_str()), "{d} lost: {list}");
    }

    stage("quorum");
    // 2. Lose quorum: a second member stopped.
    let second = (0..3).find(|&i| i != leader).unwrap();
    etcd.kill(second);
    let t = Instant::now();
    let r = cli.run(&["get-transportconfig"]);
    eprintln!(
        "quorum lost: a read failed in {:?}: {}",
        t.elapsed(),
        r.stderr.trim()
    );
    assert_eq!(r.code, 1, "a read without quorum: {}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("unreachable"), "{}", r.stderr);
    for e in &engines {
        assert!(
            wait_until(Duration::from_secs(15), || e.log_text().contains(
                "the store cannot be read; keeping the last good configuration"
            )),
            "{}",
            e.log_text()
        );
    }
    flows(&engines, "no-quorum");
    for (i, port) in ports.iter().enumerate() {
        assert!(banner(*port).contains(&format!("220 {} one", servers[i])));
    }

    stage("recovery");
    // 3. Recovery: both engines converge to the newest revision.
    etcd.restart(leader);
    etcd.restart(second);
    assert!(
        etcd.wait_healthy(Duration::from_secs(20)),
        "{}",
        etcd.logs()
    );
    let t = Instant::now();
    for server in servers {
        let r = loop {
            let r = cli.run(&[
                "-c",
                &format!("Set-ReceiveConnector '{server}\\Inbound' -Banner '220 {server} two'"),
            ]);
            if r.code == 0 || t.elapsed() > Duration::from_secs(15) {
                break r;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let written_after = t.elapsed();
    let newest = store_revision(&etcd);
    for i in 0..2 {
        assert!(
            wait_until(Duration::from_secs(10), || banner(ports[i])
                .contains(&format!("220 {} two", servers[i]))
                && runs(i) == Some(newest)),
            "{} did not converge to revision {newest} after recovery (runs {:?}):\n{}",
            servers[i],
            runs(i),
            engines[i].log_text()
        );
    }
    eprintln!(
        "recovered: writes succeeded {written_after:?} after the cluster was healthy; \
         both engines run revision {newest} {:?} after it",
        t.elapsed()
    );

    stage("split");
    // 4. A network split, simulated by freezing a member (SIGSTOP: its
    // connections stay open, it answers nothing and falls behind): changes
    // are written through the other two; when it comes back, stale, no
    // engine applies a configuration older than one it applied.
    let frozen = (0..3)
        .find(|&i| Some(i) != etcd.leader())
        .expect("a follower");
    etcd.freeze(frozen);
    let majority = Target {
        store: etcd.url_without(frozen, "orgc"),
        state: work.join("admin-split"),
    };
    let order = ["two", "split 0", "split 1", "split 2"];
    let mut seen: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
    let probe = |seen: &mut [Vec<usize>; 2]| {
        for i in 0..2 {
            let b = banner(ports[i]);
            if let Some(k) = order
                .iter()
                .rposition(|o| b.contains(&format!("220 {} {o}", servers[i])))
            {
                seen[i].push(k);
            }
        }
    };
    for text in &order[1..] {
        for server in servers {
            majority.ok(&[
                "-c",
                &format!("Set-ReceiveConnector '{server}\\Inbound' -Banner '220 {server} {text}'"),
            ]);
        }
        probe(&mut seen);
    }
    etcd.resume(frozen);
    let resumed = Instant::now();
    while resumed.elapsed() < Duration::from_secs(10) {
        probe(&mut seen);
        if seen.iter().all(|s| s.last() == Some(&3)) && resumed.elapsed() > Duration::from_secs(1) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for i in 0..2 {
        assert_eq!(
            seen[i].last(),
            Some(&3),
            "{} did not reach the newest change after the split:\n{}",
            servers[i],
            engines[i].log_text()
        );
        assert!(
            seen[i].windows(2).all(|w| w[0] <= w[1]),
            "{} went back to an older banner: {:?}\n{}",
            servers[i],
            seen[i],
            engines[i].log_text()
        );
        let applied = applied_revisions(&engines[i]);
        assert!(
            applied.len() >= 2 && applied.windows(2).all(|w| w[0] < w[1]),
            "{}: applied revisions not strictly increasing: {applied:?}",
            servers[i]
        );
    }

    stage("engine-killed");
    // 5. EX02 killed during a change, the configuration changed again
    // while it is down: restarted, it loads the newest revision; EX01 ran
    // on and follows too.
    let mut change = cli
        .cmd()
        .args([
            "-c",
            "Set-ReceiveConnector 'EX02\\Inbound' -Banner '220 EX02 three'",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _ = engines[1].child.kill();
    let _ = engines[1].child.wait();
    assert!(change.wait().unwrap().success());
    cli.ok(&[
        "-c",
        "Set-ReceiveConnector 'EX02\\Inbound' -Banner '220 EX02 four'",
    ]);
    cli.ok(&[
        "-c",
        "Set-ReceiveConnector 'EX01\\Inbound' -Banner '220 EX01 four'",
    ]);
    engines[1] = start(1, "ex02-2.log");
    let newest = store_revision(&etcd);
    for i in 0..2 {
        assert!(
            wait_until(Duration::from_secs(10), || banner(ports[i])
                .contains(&format!("220 {} four", servers[i]))
                && runs(i) == Some(newest)),
            "{} does not run the newest revision {newest} (runs {:?}):\n{}",
            servers[i],
            runs(i),
            engines[i].log_text()
        );
    }
    flows(&engines, "after-restart");

    // A smart-host password set on EX01's state folder stays there (etcd
    // keeps no secrets): the command says which servers lack it, and
    // Get-SendConnector which servers hold it.
    let on_ex01 = Target {
        store: url.clone(),
        state: states[0].clone(),
    };
    let r = on_ex01.run(&[
        "-c",
        "New-SendConnector Relay -AddressSpaces relay.example -DNSRoutingEnabled $false \
         -SmartHosts 127.0.0.1:1 -SmartHostAuthMechanism BasicAuth -SourceTransportServers EX01,EX02 \
         -AuthenticationCredential (New-Object PSCredential('relay', (ConvertTo-SecureString 'pw' -AsPlainText -Force)))",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("kept only in server EX01's state folder")
            && r.stderr
                .contains("Servers that use the connector and lack it: EX02.")
            && r.stderr
                .contains(&states[0].join("keys/smtp-auth-").display().to_string()),
        "{}",
        r.stderr
    );
    // Each engine says in its registration whether it holds the password:
    // Get-SendConnector shows EX01 only.
    assert!(
        wait_until(Duration::from_secs(10), || cli
            .json(&["get-sendconnector", "Relay"])[0]["CredentialHeldBy"]
            == serde_json::json!(["EX01"])),
        "{:?}",
        cli.json(&["get-sendconnector", "Relay"])
    );
    cli.ok(&["-c", "Remove-SendConnector Relay -Force"]);
    stage("remove");
    // 6. EX02 leaves the organization: refused while it runs; stopped,
    // Remove-TransportService -Force takes its connector, settings and
    // registration record out of etcd; EX01 serves on.
    let r = cli.run(&["-c", "Remove-TransportService EX02 -Confirm:$false"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("EX02 is running"), "{}", r.stderr);
    assert!(etcd.get("/orgc/records/servers/ex02").is_some());
    engines[1].signal("TERM");
    assert_eq!(engines[1].wait_exit(Duration::from_secs(20)), Some(0));
    cli.ok(&["-c", "Remove-TransportService EX02 -Force"]);
    assert!(etcd.get("/orgc/records/servers/ex02").is_none());
    let names: Vec<Value> = cli
        .json(&["get-transportservice"])
        .iter()
        .map(|s| s["Name"].clone())
        .collect();
    assert_eq!(names, [Value::from("EX01")]);
    assert_eq!(cli.json(&["get-receiveconnector"]).len(), 1);
    assert!(banner(ports[0]).contains("220 EX01 four"));
}

/// TLS to etcd with client-certificate authentication (`--client-cert-auth`)
/// and etcd user authentication: the CLI connects with `--etcd-cacert`,
/// `--etcd-cert`, `--etcd-key` (or the environment), refuses to go on without
/// its client certificate, and authenticates a user whose password comes from
/// a file; a wrong password fails clearly.
#[test]
fn etcd_over_tls_with_client_certificate_and_user() {
    if !etcd_or_missing() {
        return;
    }
    let _g = heavy();
    use transport_support::openssl::{Key, ca, issue_san};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let authority = ca(&dir, "etcd-ca", "etcd test CA", Key::EcP256);
    let server = issue_san(
        &dir,
        "etcd-server",
        &authority,
        "etcd",
        Some("IP:127.0.0.1,DNS:localhost"),
        Key::EcP256,
    );
    // etcd takes a client certificate's CN as the user when no token is
    // given: etcdctl is root, xshell's certificate names nobody.
    let root = issue_san(&dir, "etcd-root", &authority, "root", None, Key::EcP256);
    let client = issue_san(
        &dir,
        "xshell-client",
        &authority,
        "xshell-client",
        None,
        Key::EcP256,
    );
    let mut etcd = Etcd::start_tls(
        tmp,
        etcd::Tls {
            ca: authority.cert.clone(),
            cert: server.cert.clone(),
            key: server.key.clone(),
            client_cert: root.cert.clone(),
            client_key: root.key.clone(),
        },
    );
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let (ca_s, cert_s, key_s) = (s(&authority.cert), s(&client.cert), s(&client.key));
    let tls_flags = [
        "--etcd-cacert",
        ca_s.as_str(),
        "--etcd-cert",
        cert_s.as_str(),
        "--etcd-key",
        key_s.as_str(),
    ];
    let store = Target {
        store: etcd.url("orgt"),
        state: dir.join("state"),
    };
    let with_flags = |args: &[&str]| {
        let mut a: Vec<&str> = tls_flags.to_vec();
        a.extend_from_slice(args);
        store.run(&a)
    };
    // Before auth is enabled: TLS with the client certificate.
    let r = with_flags(&[
        "set-transportconfig",
        "--tls-receive-domain-secure-list",
        "a.tld",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The same from the environment.
    let o = store
        .cmd()
        .env("XSHELL_ETCD_CACERT", &authority.cert)
        .env("XSHELL_ETCD_CERT", &client.cert)
        .env("XSHELL_ETCD_KEY", &client.key)
        .args(["get-transportconfig", "-o", "json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("a.tld"));
    // Without the client certificate, or in plaintext: refused, exit 1.
    for args in [
        vec!["--etcd-cacert", ca_s.as_str(), "get-transportconfig"],
        vec!["get-transportconfig"],
    ] {
        let r = store.run(&args);
        assert_eq!(r.code, 1, "{args:?} succeeded: {}", r.stdout);
        assert!(r.stderr.contains("unreachable"), "{}", r.stderr);
    }
    // A cert without its key is a usage mistake, said as such.
    let r = store.run(&[
        "--etcd-cacert",
        &ca_s,
        "--etcd-cert",
        &cert_s,
        "get-transportconfig",
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("--etcd-cert and --etcd-key go together"),
        "{}",
        r.stderr
    );

    // etcd users: root, and "xadmin" with read-write on the prefix.
    for args in [
        &["user", "add", "root", "--new-user-password=rootpw"][..],
        &["user", "grant-role", "root", "root"][..],
        &["role", "add", "xshell"][..],
        &[
            "role",
            "grant-permission",
            "xshell",
            "--prefix=true",
            "readwrite",
            "/orgt/",
        ][..],
        &["user", "add", "xadmin", "--new-user-password=S3cret-etcd"][..],
        &["user", "grant-role", "xadmin", "xshell"][..],
        &["auth", "enable"][..],
    ] {
        let o = etcd.etcdctl(args);
        assert!(
            o.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    etcd.etcdctl_user = Some("root:rootpw".into());
    let pw = dir.join("etcd.pass");
    std::fs::write(&pw, "S3cret-etcd\n").unwrap();
    let o = store
        .cmd()
        .args(tls_flags)
        .env("XSHELL_ETCD_USER", "xadmin")
        .env("XSHELL_ETCD_PASSWORD_FILE", &pw)
        .args([
            "set-transportconfig",
            "--tls-receive-domain-secure-list",
            "@{Add=\"b.tld\"}",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc = String::from_utf8(etcd.get("/orgt/config").unwrap()).unwrap();
    assert!(doc.contains("b.tld"), "{doc}");
    // A wrong password: exit 1, said, not echoed.
    let bad = dir.join("bad.pass");
    std::fs::write(&bad, "wrong-one").unwrap();
    let o = store
        .cmd()
        .args(tls_flags)
        .env("XSHELL_ETCD_USER", "xadmin")
        .env("XSHELL_ETCD_PASSWORD_FILE", &bad)
        .arg("get-transportconfig")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("authentication failed") || err.contains("password"),
        "{err}"
    );
    assert!(!err.contains("wrong-one"), "{err}");
    // A user without a password is refused before anything is sent.
    let o = store
        .cmd()
        .args(tls_flags)
        .env("XSHELL_ETCD_USER", "xadmin")
        .arg("get-transportconfig")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("XSHELL_ETCD_PASSWORD_FILE"));
}
