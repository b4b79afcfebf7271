//! The file store under concurrent writers, readers that never lock, writers
//! killed with SIGKILL at random points, and stray temporary files.
//!
//! The two heavy tests take a shared mutex so they do not run at the same
//! time (their timing matters, and the machine has two cores).
#![allow(clippy::unwrap_used)]

mod common;

use common::{TestStore, xshell_bin};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

static HEAVY: Mutex<()> = Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// splitmix64: a small deterministic generator, so a failing round can be
/// replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn xshell(store: &Path) -> Command {
    let mut c = Command::new(xshell_bin());
    c.arg("--store")
        .arg(store)
        .env_remove("XSHELL_STORE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// Parses the store file as a reader does (no lock). None when absent.
fn read_store(path: &Path) -> Option<Value> {
    match std::fs::read(path) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "a reader saw an invalid store file ({e}); {} bytes",
                bytes.len()
            )
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("cannot read the store file: {e}"),
    }
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".config.json.tmp."))
        .collect()
}

/// The store lock is free: nobody holds it after the writers are gone.
fn assert_lock_free(dir: &Path) {
    let f = File::open(dir.join("store.lock")).unwrap();
    match f.try_lock() {
        Ok(()) => f.unlock().unwrap(),
        Err(e) => panic!("the store lock is still held: {e}"),
    }
}

// ------------------------------------------------------------ 4. concurrency

#[test]
fn concurrent_writers_lose_nothing_and_readers_see_whole_files() {
    let _g = heavy();
    const WRITERS: usize = 8;
    const EACH: usize = 25;
    let s = TestStore::new();
    let dir = s.dir().to_path_buf();
    let path = s.config_path();

    let stop = AtomicBool::new(false);
    let reads = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut last = 0;
            while !stop.load(Ordering::Relaxed) {
                if let Some(cfg) = read_store(&path) {
                    let rev = cfg["Revision"].as_u64().unwrap();
                    assert!(rev >= last, "revision went back from {last} to {rev}");
                    assert_eq!(
                        cfg["TransportConfig"]["TLSReceiveDomainSecureList"]
                            .as_array()
                            .unwrap()
                            .len() as u64,
                        rev,
                        "each revision adds one domain"
                    );
                    last = rev;
                }
                reads.fetch_add(1, Ordering::Relaxed);
            }
        });
        let writers: Vec<_> = (0..WRITERS)
            .map(|p| {
                let dir = &dir;
                scope.spawn(move || {
                    for n in 0..EACH {
                        let edit = format!("@{{Add=\"d{p}-{n}.tld\"}}");
                        let status = xshell(dir)
                            .args(["set-transportconfig", "--tls-receive-domain-secure-list"])
                            .arg(&edit)
                            .status()
                            .unwrap();
                        assert!(status.success(), "writer {p} step {n}: {status}");
                    }
                })
            })
            .collect();
        // Stop the reader even when a writer failed, then report failures.
        let results: Vec<_> = writers.into_iter().map(|w| w.join()).collect();
        stop.store(true, Ordering::Relaxed);
        let read = reader.join();
        for r in results.into_iter().chain(std::iter::once(read)) {
            if let Err(panic) = r {
                std::panic::resume_unwind(panic);
            }
        }
    });
    let elapsed = start.elapsed();

    let cfg = s.config();
    assert_eq!(cfg["Revision"], json!(WRITERS * EACH));
    let got: BTreeSet<String> = cfg["TransportConfig"]["TLSReceiveDomainSecureList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    let want: BTreeSet<String> = (0..WRITERS)
        .flat_map(|p| (0..EACH).map(move |n| format!("d{p}-{n}.tld")))
        .collect();
    assert_eq!(got, want);
    assert!(temp_files(&dir).is_empty());
    assert_lock_free(&dir);
    eprintln!(
        "concurrency: {} writes by {WRITERS} processes in {elapsed:?}; reader parsed the file {} times",
        WRITERS * EACH,
        reads.load(Ordering::Relaxed)
    );
}

// ------------------------------------------------------------ 5. crash

/// Replaces the store's send connectors with `n` copies of the first one, so
/// that a write (serialize, write, fsync, rename) takes long enough to be
/// interrupted in the middle.
fn grow(s: &TestStore, n: usize) {
    let mut cfg = s.config();
    let first = cfg["SendConnectors"][0].clone();
    cfg["SendConnectors"] = (0..n)
        .map(|i| {
            let mut c = first.clone();
            c["Name"] = json!(format!("C{i}"));
            c["AddressSpaces"] = json!([format!("SMTP:d{i}.contoso.com;1")]);
            c
        })
        .collect();
    std::fs::write(s.config_path(), serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
}

fn port_of_c0(cfg: &Value) -> u64 {
    cfg["SendConnectors"][0]["Port"].as_u64().unwrap()
}

#[test]
fn sigkilled_writers_leave_the_old_or_the_new_revision() {
    let _g = heavy();
    const CONNECTORS: usize = 400;
    const ROUNDS: u64 = 200;
    let s = TestStore::new();
    let dir = s.dir().to_path_buf();
    s.ok(&["new-sendconnector", "C0", "--address-spaces", "*"]);
    grow(&s, CONNECTORS);
    assert_eq!(s.json(&["get-sendconnector", "C*"]).len(), CONNECTORS);

    // How long one whole write takes here, to spread the kills over it.
    let mut port = 1000;
    let mut times = Vec::new();
    for _ in 0..3 {
        port += 1;
        let t = Instant::now();
        let ok = xshell(&dir)
            .args(["set-sendconnector", "C0", "--port", &port.to_string()])
            .status()
            .unwrap();
        times.push(t.elapsed());
        assert!(ok.success());
    }
    times.sort();
    let full = times[1];

    let mut rng = Rng(0x5EED_C0FF_EE00);
    let (mut finished, mut before_write, mut mid_write, mut after_rename) = (0, 0, 0, 0);
    let mut cfg = s.config();
    let start = Instant::now();
    for round in 0..ROUNDS {
        let rev = cfg["Revision"].as_u64().unwrap();
        let old_port = port_of_c0(&cfg);
        let new_port = 2000 + round;
        let mut child = xshell(&dir)
            .args(["set-sendconnector", "C0", "--port", &new_port.to_string()])
            .spawn()
            .unwrap();
        let pid = child.id();
        // Half the kills anywhere in the run, half in its second half,
        // where the write is (parsing and checking come first).
        let span = full.as_micros() as u64 * 11 / 10;
        let delay = if rng.next().is_multiple_of(2) {
            rng.below(span)
        } else {
            span / 2 + rng.below(span / 2)
        };
        std::thread::sleep(Duration::from_micros(delay));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        let killed = status.signal() == Some(9);
        if !killed {
            assert!(
                status.success(),
                "round {round}: the writer failed: {status}"
            );
        }
        let left_temp = temp_files(&dir)
            .iter()
            .any(|n| n.starts_with(&format!(".config.json.tmp.{pid}.")));

        cfg = read_store(&s.config_path()).unwrap();
        assert_eq!(cfg["SchemaVersion"], json!(1), "round {round}");
        let now = cfg["Revision"].as_u64().unwrap();
        if now == rev + 1 {
            assert_eq!(
                port_of_c0(&cfg),
                new_port,
                "round {round}: new revision, old content"
            );
            if killed {
                after_rename += 1;
            } else {
                finished += 1;
            }
        } else {
            assert_eq!(now, rev, "round {round}: revision {rev} became {now}");
            assert!(
                killed,
                "round {round}: the writer exited without committing"
            );
            assert_eq!(
                port_of_c0(&cfg),
                old_port,
                "round {round}: old revision, new content"
            );
            assert_eq!(
                cfg["SendConnectors"].as_array().unwrap().len(),
                CONNECTORS,
                "round {round}"
            );
            if left_temp {
                mid_write += 1;
            } else {
                before_write += 1;
            }
        }
        assert_lock_free(&dir);
    }
    let elapsed = start.elapsed();

    // The next writer succeeds, and cleans up what the killed ones left.
    let strays = temp_files(&dir).len();
    let rev = cfg["Revision"].as_u64().unwrap();
    s.ok(&["set-sendconnector", "C0", "--port", "25"]);
    assert_eq!(s.revision(), rev + 1);
    assert!(temp_files(&dir).is_empty(), "{:?}", temp_files(&dir));
    assert_eq!(s.json(&["get-sendconnector", "C*"]).len(), CONNECTORS);

    eprintln!(
        "crash: {ROUNDS} rounds in {elapsed:?} (one write {full:?}): {finished} finished before the kill, \
         {before_write} killed before writing, {mid_write} killed mid-write (temp file left), \
         {after_rename} killed after the rename; {strays} stray temp files before the last write"
    );
    // The kills did land inside the write, not only around it.
    assert!(mid_write > 0, "no kill landed between temp file and rename");
}

#[test]
fn stray_temp_files_do_not_break_anything() {
    let s = TestStore::new();
    s.ok(&["new-sendconnector", "Outbound", "--address-spaces", "*"]);
    let dir = s.dir();
    std::fs::write(dir.join(".config.json.tmp.1.0"), b"").unwrap();
    std::fs::write(
        dir.join(".config.json.tmp.99999.3"),
        b"{\n  \"SchemaVersion\": 1,\n  \"Rev",
    )
    .unwrap();
    std::fs::write(dir.join(".config.json.tmp.garbage"), b"\x00\xff not json").unwrap();
    // Readers ignore them.
    assert_eq!(s.json(&["get-sendconnector"]).len(), 1);
    // Writers succeed and remove them.
    s.ok(&["set-sendconnector", "Outbound", "--domain-secure-enabled"]);
    assert_eq!(s.revision(), 2);
    assert!(temp_files(dir).is_empty(), "{:?}", temp_files(dir));
    assert_eq!(
        s.json(&["get-sendconnector"])[0]["DomainSecureEnabled"],
        json!(true)
    );
}
