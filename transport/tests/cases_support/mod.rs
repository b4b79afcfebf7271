//! The table-driven harness of `exchange_examples.rs` and `one_liners.rs`:
//! each case is a script run through `xshell -c` in a fresh store after its
//! setup, then checked (exit code, output, store, a read-back script). Every
//! case runs; the set of failing cases must equal the file's `KNOWN_GAPS`,
//! so a new failure and a gap that closed both fail the test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use xshell_transport::queue::{Disposition, Envelope, Queue, RecipientStatus};

/// Thumbprint of `tests/data/examples/orga.pfx` (see its README).
pub const ORGA_THUMB: &str = "4F7B2F9AC8244F2042F6DBC515931CE7E295A961";

/// One thing to set up before the script (run in order; each must succeed).
#[derive(Clone, Copy, Debug)]
pub enum Setup {
    /// A script run with `xshell -c`, the PFX password in the environment.
    Run(&'static str),
    /// `orga.pfx` imported (exportable) and enabled for SMTP.
    Cert,
    /// Two messages on disk in the queue folder: one for fabrikam.com from
    /// john@contoso.com (deferred, with a LastError), one for
    /// fourthcoffee.com from kweku@contoso.com.
    Queue,
    /// A tracking log with RECEIVE/SEND/FAIL/DEFER events of the last hour
    /// and of March 2024.
    Tracking,
}

/// One expectation about the case's run.
#[derive(Clone, Copy, Debug)]
pub enum Check {
    /// Exit code 0.
    Ok,
    /// Exit code 1 or 2 (a failure reported, never a panic's 101).
    Fails,
    /// This exit code.
    Exit(i32),
    /// Standard output contains this text.
    Out(&'static str),
    /// Standard output does not contain this text.
    NotOut(&'static str),
    /// Standard output is empty (only white space).
    OutEmpty,
    /// Standard output has this many non-blank lines.
    OutLines(usize),
    /// Standard error contains this text (case-insensitive).
    Err(&'static str),
    /// Standard error does not contain this text (case-insensitive).
    NotErr(&'static str),
    /// Standard error is empty.
    NoErr,
    /// The store's config.json at this JSON pointer equals this JSON text.
    Cfg(&'static str, &'static str),
    /// After the script, this read-back script succeeds and its output
    /// contains the text.
    Then(&'static str, &'static str),
    /// After the script, this read-back script's output lacks the text.
    ThenNot(&'static str, &'static str),
    /// A file (under the case folder `{tmp}`) exists and contains the text.
    File(&'static str, &'static str),
}

/// A case: an id, its setup, the script and what must hold after it.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub id: &'static str,
    pub setup: &'static [Setup],
    pub script: &'static str,
    pub checks: &'static [Check],
}

/// What one run printed.
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Shared read-only fixtures: the sample files and OpenSSL-made ones.
pub struct Fixtures {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    pass: String,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Fixtures {
    /// The sample files of `tests/data/examples`, plus a CA and a
    /// certificate for mail.fabrikam.com it issued, as PEM/DER `.cer` and
    /// as a PKCS#7 chain (`fabrikam-issued.p7b`).
    pub fn new() -> Fixtures {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/examples");
        for f in std::fs::read_dir(samples).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
        }
        let pass = std::fs::read_to_string(dir.join("orga.pass"))
            .unwrap()
            .trim()
            .to_string();
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.cer",
                "-days",
                "30",
                "-subj",
                "/CN=Fabrikam Test CA",
            ],
        );
        openssl(
            &dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "fabrikam.key",
                "-out",
                "fabrikam.csr",
                "-subj",
                "/CN=mail.fabrikam.com",
            ],
        );
        std::fs::write(
            dir.join("san.ext"),
            "subjectAltName=DNS:mail.fabrikam.com,DNS:autodiscover.fabrikam.com\n",
        )
        .unwrap();
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "fabrikam.csr",
                "-CA",
                "ca.cer",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "30",
                "-extfile",
                "san.ext",
                "-out",
                "fabrikam.cer",
            ],
        );
        openssl(
            &dir,
            &[
                "crl2pkcs7",
                "-nocrl",
                "-certfile",
                "fabrikam.cer",
                "-certfile",
                "ca.cer",
                "-outform",
                "DER",
                "-out",
                "fabrikam-issued.p7b",
            ],
        );
        openssl(
            &dir,
            &[
                "pkcs12",
                "-export",
                "-in",
                "fabrikam.cer",
                "-inkey",
                "fabrikam.key",
                "-passout",
                "pass:Fabrikam-1",
                "-out",
                "fabrikam.pfx",
            ],
        );
        Fixtures {
            _tmp: tmp,
            dir,
            pass,
        }
    }
}

fn subst(s: &str, fx: &Fixtures, tmp: &Path) -> String {
    s.replace("{fx}", fx.dir.to_str().unwrap())
        .replace("{tmp}", tmp.to_str().unwrap())
        .replace("{pass}", &fx.pass)
        .replace("{thumb}", ORGA_THUMB)
}

/// The `xshell` binary: the workspace builds it beside this test's folder
/// (`target/<profile>/xshell`; the test is in `target/<profile>/deps`).
fn xshell_bin() -> PathBuf {
    let path = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("xshell")))
        .unwrap_or_default();
    assert!(
        path.is_file(),
        "{} is missing: run the tests with `cargo test --workspace`, or build it first with `cargo build`",
        path.display()
    );
    path
}

fn xshell(store: &Path, tmp: &Path, script: &str, pass: Option<&str>) -> Out {
    let mut c = Command::new(xshell_bin());
    c.arg("--store")
        .arg(store)
        .arg("-c")
        .arg(script)
        .current_dir(tmp)
        .env_remove("XSHELL_STORE")
        .env_remove("XSHELL_PFX_PASSWORD")
        .env("NO_COLOR", "1")
        .env("COLUMNS", "200")
        .stdin(Stdio::null());
    if let Some(p) = pass {
        c.env("XSHELL_PFX_PASSWORD", p);
    }
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: a script that hangs is killed after 20 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let o = child.wait_with_output().unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn seed_queue(store: &Path) {
    let q = Queue::open(store.join("queue")).unwrap();
    let msg = b"From: john@contoso.com\r\nTo: bob@fabrikam.com\r\nSubject: Quarterly report\r\nMessage-ID: <q1@contoso.com>\r\n\r\nHello\r\n";
    let id = q
        .enqueue(
            &Envelope::new("john@contoso.com", ["bob@fabrikam.com".to_string()]),
            msg,
        )
        .unwrap();
    let reply = "451 4.4.0 Primary target IP address responded with: 421 4.4.2 Connection dropped";
    q.update(&id, |e| {
        e.attempts = 3;
        e.last_error = Some(reply.into());
        e.next_retry_ms = Some(xshell_transport::queue::now_ms() + 600_000);
        for r in &mut e.recipients {
            r.status = RecipientStatus::Deferred {
                reason: reply.into(),
            };
            r.last_reply = Some(reply.into());
        }
        Disposition::Keep
    })
    .unwrap();
    let msg2 = b"From: kweku@contoso.com\r\nTo: ann@fourthcoffee.com\r\nSubject: Lunch\r\nMessage-ID: <q2@contoso.com>\r\n\r\nHi\r\n";
    q.enqueue(
        &Envelope::new("kweku@contoso.com", ["ann@fourthcoffee.com".to_string()]),
        msg2,
    )
    .unwrap();
}

fn seed_tracking(store: &Path) {
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let recent = fmt(now - time::Duration::minutes(20));
    let line = |time: &str, ev: &str, id: &str, sender: &str, rcpt: &str, detail: &str| {
        serde_json::json!({
            "time": time, "event_id": ev, "internal_message_id": id,
            "message_id": format!("<{id}@contoso.com>"), "sender": sender,
            "recipients": [rcpt], "client_ip": "127.0.0.1", "connector": "Default Frontend",
            "tls_version": "TLSv1.3", "tls_cipher": "TLS13_AES_256_GCM_SHA384",
            "peer_certificate_subject": null, "peer_certificate_issuer": null,
            "peer_certificate_verified": false, "direct_trust": false,
            "auth_as": "Anonymous", "auth_domain": null, "detail": detail,
            "message_subject": "Quarterly report",
        })
        .to_string()
    };
    let lines = [
        line(
            "2024-03-13T10:00:00Z",
            "RECEIVE",
            "m1",
            "john@contoso.com",
            "alice@contoso.com",
            "",
        ),
        line(
            "2024-03-14T11:00:00Z",
            "RECEIVE",
            "m2",
            "john@contoso.com",
            "bob@fabrikam.com",
            "",
        ),
        line(
            "2024-03-20T11:00:00Z",
            "RECEIVE",
            "m3",
            "eve@contoso.com",
            "john@contoso.com",
            "",
        ),
        line(
            &recent,
            "RECEIVE",
            "m4",
            "john@contoso.com",
            "bob@fabrikam.com",
            "",
        ),
        line(
            &recent,
            "SEND",
            "m4",
            "john@contoso.com",
            "bob@fabrikam.com",
            "250 2.0.0 OK",
        ),
        line(
            &recent,
            "FAIL",
            "m5",
            "john@contoso.com",
            "nobody@fabrikam.com",
            "550 5.1.1 User unknown",
        ),
        line(
            &recent,
            "DEFER",
            "m6",
            "john@contoso.com",
            "carol@tailspin.example",
            "451 4.7.5 Certificate validation failure",
        ),
    ];
    std::fs::create_dir_all(store.join("log")).unwrap();
    std::fs::write(store.join("log/tracking.jsonl"), lines.join("\n") + "\n").unwrap();
}

fn get_pointer<'a>(v: &'a serde_json::Value, ptr: &str) -> Option<&'a serde_json::Value> {
    v.pointer(ptr)
}

/// Runs one case; `Err` says what did not hold.
fn run_case(case: &Case, fx: &Fixtures) -> Result<(), String> {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let store = t.join("store");
    for s in case.setup {
        match s {
            Setup::Run(script) => {
                let o = xshell(&store, t, &subst(script, fx, t), Some(&fx.pass));
                if o.code != 0 {
                    return Err(format!(
                        "setup `{script}` exit {}: {}",
                        o.code,
                        o.stderr.trim()
                    ));
                }
            }
            Setup::Cert => {
                let script = subst(
                    "Import-ExchangeCertificate -Path {fx}/orga.pfx -PrivateKeyExportable:$true | Enable-ExchangeCertificate -Services SMTP",
                    fx,
                    t,
                );
                let o = xshell(&store, t, &script, Some(&fx.pass));
                if o.code != 0 {
                    return Err(format!("setup cert exit {}: {}", o.code, o.stderr.trim()));
                }
            }
            Setup::Queue => seed_queue(&store),
            Setup::Tracking => seed_tracking(&store),
        }
    }
    let o = xshell(&store, t, &subst(case.script, fx, t), None);
    let mut failed = Vec::new();
    let show = |o: &Out| {
        format!(
            "exit {}\n  stdout: {}\n  stderr: {}",
            o.code,
            o.stdout.trim_end().replace('\n', "\n          "),
            o.stderr.trim_end().replace('\n', "\n          ")
        )
    };
    for c in case.checks {
        let ok = match *c {
            Check::Ok => o.code == 0,
            Check::Fails => o.code == 1 || o.code == 2,
            Check::Exit(n) => o.code == n,
            Check::Out(s) => o.stdout.contains(&subst(s, fx, t)),
            Check::NotOut(s) => !o.stdout.contains(&subst(s, fx, t)),
            Check::OutEmpty => o.stdout.trim().is_empty(),
            Check::OutLines(n) => o.stdout.lines().filter(|l| !l.trim().is_empty()).count() == n,
            Check::Err(s) => o
                .stderr
                .to_lowercase()
                .contains(&subst(s, fx, t).to_lowercase()),
            Check::NotErr(s) => !o
                .stderr
                .to_lowercase()
                .contains(&subst(s, fx, t).to_lowercase()),
            Check::NoErr => o.stderr.trim().is_empty(),
            Check::Cfg(ptr, want) => {
                let cfg: serde_json::Value = std::fs::read(store.join("config.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or(serde_json::Value::Null);
                let want: serde_json::Value = serde_json::from_str(&subst(want, fx, t)).unwrap();
                match get_pointer(&cfg, ptr) {
                    Some(v) if *v == want => true,
                    got => {
                        failed.push(format!("config {ptr}: want {want}, got {got:?}"));
                        continue;
                    }
                }
            }
            Check::Then(script, s) | Check::ThenNot(script, s) => {
                let r = xshell(&store, t, &subst(script, fx, t), None);
                let has = r.stdout.contains(&subst(s, fx, t));
                let want_has = matches!(c, Check::Then(..));
                if r.code != 0 || has != want_has {
                    failed.push(format!(
                        "read-back `{script}` should {}contain {s:?}: {}",
                        if want_has { "" } else { "not " },
                        show(&r)
                    ));
                    continue;
                }
                true
            }
            Check::File(name, s) => std::fs::read(t.join(name))
                .map(|b| String::from_utf8_lossy(&b).contains(&subst(s, fx, t)))
                .unwrap_or(false),
        };
        if !ok {
            failed.push(format!("{c:?}"));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\n  {}", failed.join("; "), show(&o)))
    }
}

/// Runs every case (two threads), prints a summary and fails on any case
/// whose outcome differs from `known_gaps` (id -> reason).
pub fn run_all(name: &str, cases: &[Case], known_gaps: &[(&str, &str)]) {
    let ids: BTreeSet<&str> = cases.iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), cases.len(), "case ids must be unique");
    for (g, _) in known_gaps {
        assert!(ids.contains(g), "KNOWN_GAPS names no case `{g}`");
    }
    let fx = Fixtures::new();
    let results: Mutex<BTreeMap<&str, Result<(), String>>> = Mutex::new(BTreeMap::new());
    let next = Mutex::new(0usize);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().unwrap();
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some(case) = cases.get(i) else { break };
                    let r = run_case(case, &fx);
                    results.lock().unwrap().insert(case.id, r);
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    let gaps: BTreeMap<&str, &str> = known_gaps.iter().copied().collect();
    let mut passed = 0;
    let mut known = 0;
    let mut unexpected = Vec::new();
    let mut closed = Vec::new();
    for case in cases {
        match (&results[case.id], gaps.get(case.id)) {
            (Ok(()), None) => passed += 1,
            (Ok(()), Some(_)) => closed.push(case.id),
            (Err(_), Some(_)) => known += 1,
            (Err(e), None) => unexpected.push(format!("{}: `{}`\n  {e}", case.id, case.script)),
        }
    }
    if std::env::var_os("CASES_VERBOSE").is_some() {
        for case in cases {
            if let Err(e) = &results[case.id] {
                eprintln!("--- {}: `{}`\n  {e}", case.id, case.script);
            }
        }
    }
    println!(
        "{name}: {} cases: {passed} pass, {known} known gaps, {} unexpected failures, {} gaps now closed",
        cases.len(),
        unexpected.len(),
        closed.len()
    );
    let mut msg = String::new();
    for u in &unexpected {
        msg.push_str(&format!("UNEXPECTED FAILURE {u}\n"));
    }
    for c in &closed {
        msg.push_str(&format!("GAP CLOSED (remove it from KNOWN_GAPS): {c}\n"));
    }
    assert!(msg.is_empty(), "{msg}");
}
