//! SIGKILL under load loses nothing.
//!
//! Several sender threads speak raw SMTP to the engine over loopback, many
//! messages per session; an id counts as acknowledged only once the `250`
//! after DATA was read. Meanwhile the engine is SIGKILLed at seeded random
//! moments (spread over the load by the number of acknowledged messages),
//! and restarted each time (one round in three kills it again right after
//! it listens, while it recovers); the senders reconnect with backoff. A third of
//! the messages go to local Maildir mailboxes (the local delivery worker),
//! a third to a relay domain whose smart host is a small recording SMTP
//! sink on loopback (the queue runner), and a third to both (the two share
//! one envelope). After the last round the test waits (bounded) for an
//! empty queue and checks, per destination:
//! - every acknowledged id was delivered (lost == 0); duplicates are
//!   allowed (at-least-once) but counted and printed;
//! - every delivered id was acknowledged or in flight at a kill (cut);
//!   an id refused or never sent never appears;
//! - every delivered copy carries the exact header lines and body sent;
//! - no `.corrupt` envelope, and the tracking log is JSONL except at most
//!   one torn line per kill.
//!
//! A second test shows that the queue runner records each relayed message
//! as soon as the next hop accepted it, so a kill in the middle of a long
//! session re-sends only what was not yet recorded.
//!
//! Sizing and reproduction: `CRASH_MESSAGES` (default 4000),
//! `CRASH_SENDERS` (6), `CRASH_ROUNDS` (6), `CRASH_SEED` (random; printed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod transport_support;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use transport_support::*;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// splitmix64: small, seeded, good enough to pick kill moments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (hi > lo).
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// Where message `id` goes: 0 local only, 1 relay only, 2 both.
fn kind(id: u32) -> u32 {
    id % 3
}

fn wants_local(id: u32) -> bool {
    kind(id) != 1
}

fn wants_relay(id: u32) -> bool {
    kind(id) != 0
}

fn local_rcpt(id: u32) -> String {
    format!("u{}@orga.example", id % 4)
}

fn relay_rcpt(id: u32) -> String {
    format!("r{}@relay.example", id % 4)
}

/// The header lines of message `id` (CRLF-terminated), as sent.
fn headers(id: u32) -> Vec<String> {
    vec![
        "From: <sender@client.example>\r\n".to_string(),
        format!("Subject: crash {id}\r\n"),
        format!("X-Test-Id: {id}\r\n"),
        format!("Message-ID: <crash-{id}@client.example>\r\n"),
    ]
}

/// The body of message `id`: a deterministic size (about 0.1 to 6 KB) and
/// content, no line starting with a dot.
fn body(id: u32) -> Vec<u8> {
    let mut r = Rng(u64::from(id) ^ 0x5EED);
    let lines = 2 + r.range(0, 80);
    let mut b = Vec::new();
    for k in 0..lines {
        let width = r.range(10, 76) as usize;
        let fill: String = (0..width)
            .map(|i| char::from(b'a' + ((id as usize + k as usize + i) % 26) as u8))
            .collect();
        b.extend_from_slice(format!("{id}:{k} {fill}\r\n").as_bytes());
    }
    b.extend_from_slice(format!("END {id}\r\n").as_bytes());
    b
}

fn message(id: u32) -> Vec<u8> {
    let mut m: Vec<u8> = headers(id).concat().into_bytes();
    m.extend_from_slice(b"\r\n");
    m.extend_from_slice(&body(id));
    m
}

/// Checks a delivered copy against what was sent; its id, or why not.
fn check_copy(bytes: &[u8]) -> Result<u32, String> {
    let text = String::from_utf8_lossy(bytes);
    let Some(split) = text.find("\r\n\r\n") else {
        return Err("no header/body separator".into());
    };
    let (head, rest) = (&text[..split + 2], &bytes[split + 4..]);
    let id: u32 = head
        .lines()
        .find_map(|l| l.strip_prefix("X-Test-Id: "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or("no X-Test-Id header")?;
    for h in headers(id) {
        if !head.contains(&h) {
            return Err(format!("id {id}: header {h:?} missing"));
        }
    }
    if rest != body(id).as_slice() {
        return Err(format!(
            "id {id}: body differs ({} octets delivered, {} sent)",
            rest.len(),
            body(id).len()
        ));
    }
    Ok(id)
}

// ---------------------------------------------------------------- sink

/// What the next hop got: every message's bytes (dot-unstuffed).
type Received = Arc<Mutex<Vec<Vec<u8>>>>;

/// A minimal recording SMTP server on 127.0.0.1 (no STARTTLS, no
/// extensions). It records a message before it answers `250`, so an
/// engine killed after the `250` delivers it again: a duplicate, counted.
/// Once it holds `hold_from` messages, it reads the next message but does
/// not answer it until `hold_from` is raised (at most 60 s), then closes.
struct Sink {
    port: u16,
    got: Received,
    hold_from: Arc<AtomicUsize>,
}

fn start_sink(port: u16) -> Sink {
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Received = Arc::new(Mutex::new(Vec::new()));
    let hold_from = Arc::new(AtomicUsize::new(usize::MAX));
    let (g, h) = (Arc::clone(&got), Arc::clone(&hold_from));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let (g, h) = (Arc::clone(&g), Arc::clone(&h));
            std::thread::spawn(move || {
                let _ = sink_session(conn, &g, &h);
            });
        }
    });
    Sink {
        port,
        got,
        hold_from,
    }
}

fn sink_session(conn: TcpStream, got: &Received, hold_from: &AtomicUsize) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut w = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    w.write_all(b"220 sink.test ESMTP\r\n")?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let cmd = String::from_utf8_lossy(&line).to_ascii_uppercase();
        let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
            b"250 sink.test\r\n"
        } else if cmd.starts_with("DATA") {
            w.write_all(b"354 go ahead\r\n")?;
            let mut data = Vec::new();
            loop {
                line.clear();
                if r.read_until(b'\n', &mut line)? == 0 {
                    return Ok(()); // cut mid-DATA: nothing accepted
                }
                if line == b".\r\n" {
                    break;
                }
                let l = if line.starts_with(b"..") {
                    &line[1..]
                } else {
                    &line[..]
                };
                data.extend_from_slice(l);
            }
            let held = got.lock().unwrap().len();
            if held >= hold_from.load(Ordering::SeqCst) {
                wait_until(Duration::from_secs(60), || {
                    hold_from.load(Ordering::SeqCst) > held
                });
                return Ok(()); // never answered: not accepted
            }
            got.lock().unwrap().push(data);
            b"250 2.0.0 accepted\r\n"
        } else if cmd.starts_with("QUIT") {
            w.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else if cmd.starts_with("MAIL")
            || cmd.starts_with("RCPT")
            || cmd.starts_with("RSET")
            || cmd.starts_with("NOOP")
        {
            b"250 ok\r\n"
        } else {
            b"502 5.5.1 not implemented\r\n"
        };
        w.write_all(reply)?;
    }
}

// ------------------------------------------------------------- senders

#[derive(Default)]
struct Ledger {
    /// id -> queue id from `250 2.0.0 Queued as <qid>`.
    acked: HashMap<u32, String>,
    /// Attempted, cut before a final reply (may or may not be queued).
    cut: HashSet<u32>,
    /// A final reply other than 250 after DATA: must never be delivered.
    refused: HashMap<u32, String>,
    sessions: u32,
    reconnects: u32,
}

/// One SMTP client connection with bounded reads.
struct Client {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Client {
    fn connect(port: u16) -> io::Result<Client> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        s.set_write_timeout(Some(Duration::from_secs(20)))?;
        s.set_nodelay(true)?;
        let r = BufReader::new(s.try_clone()?);
        let mut c = Client { w: s, r };
        c.expect("", "220")?;
        c.expect("EHLO client.test\r\n", "250")?;
        Ok(c)
    }

    /// The whole reply; an error at EOF.
    fn reply(&mut self) -> io::Result<String> {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if self.r.read_line(&mut line)? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "EOF"));
            }
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return Ok(all);
            }
        }
    }

    fn expect(&mut self, cmd: &str, code: &str) -> io::Result<String> {
        self.w.write_all(cmd.as_bytes())?;
        let r = self.reply()?;
        if r.starts_with(code) {
            Ok(r)
        } else {
            Err(io::Error::other(format!("{cmd:?} -> {r:?}")))
        }
    }
}

enum Outcome {
    Acked(String),
    Refused(String),
}

/// Sends message `id`; `Err` when the connection broke (or the session
/// went wrong before DATA was answered).
fn send_message(c: &mut Client, id: u32) -> io::Result<Outcome> {
    c.expect("MAIL FROM:<sender@client.example>\r\n", "250")?;
    if wants_local(id) {
        c.expect(&format!("RCPT TO:<{}>\r\n", local_rcpt(id)), "250")?;
    }
    if wants_relay(id) {
        c.expect(&format!("RCPT TO:<{}>\r\n", relay_rcpt(id)), "250")?;
    }
    c.expect("DATA\r\n", "354")?;
    let mut data = message(id);
    data.extend_from_slice(b".\r\n");
    c.w.write_all(&data)?;
    let r = c.reply()?;
    if r.starts_with("250") {
        let qid = r.split_whitespace().last().unwrap_or_default().to_string();
        Ok(Outcome::Acked(qid))
    } else {
        Ok(Outcome::Refused(r))
    }
}

/// Sends ids from `next` until `total`, reconnecting (bounded backoff)
/// whenever the engine goes away.
fn sender(port: u16, next: &AtomicU32, total: u32, ledger: &Mutex<Ledger>, stop: &AtomicBool) {
    let mut client: Option<Client> = None;
    'ids: loop {
        let id = next.fetch_add(1, Ordering::SeqCst);
        if id >= total || stop.load(Ordering::SeqCst) {
            break;
        }
        if client.is_none() {
            let give_up = Instant::now() + Duration::from_secs(60);
            let mut backoff = Duration::from_millis(20);
            loop {
                if stop.load(Ordering::SeqCst) {
                    break 'ids;
                }
                match Client::connect(port) {
                    Ok(c) => {
                        client = Some(c);
                        ledger.lock().unwrap().sessions += 1;
                        break;
                    }
                    Err(_) if Instant::now() < give_up => {
                        ledger.lock().unwrap().reconnects += 1;
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_millis(500));
                    }
                    Err(e) => panic!("the engine did not come back within 60 s: {e}"),
                }
            }
        }
        let Some(c) = client.as_mut() else { break };
        match send_message(c, id) {
            Ok(Outcome::Acked(qid)) => {
                ledger.lock().unwrap().acked.insert(id, qid);
            }
            Ok(Outcome::Refused(r)) => {
                ledger.lock().unwrap().refused.insert(id, r);
            }
            Err(_) => {
                ledger.lock().unwrap().cut.insert(id);
                client = None;
            }
        }
    }
    if let Some(mut c) = client {
        let _ = c.expect("QUIT\r\n", "221");
    }
}

// ---------------------------------------------------------------- checks

/// Every delivered local copy: (id, count); panics on a corrupt copy.
fn local_copies(lab: &Lab) -> (HashMap<u32, u32>, Vec<String>, usize) {
    let mut counts = HashMap::new();
    let mut corrupt = Vec::new();
    let mut tmp_leftovers = 0;
    for n in 0..4 {
        let dir = lab.mailboxes().join("orga.example").join(format!("u{n}"));
        if let Ok(entries) = fs::read_dir(dir.join("Maildir").join("new")) {
            for e in entries {
                let path = e.unwrap().path();
                let bytes = fs::read(&path).unwrap();
                match check_copy(&bytes) {
                    Ok(id) => *counts.entry(id).or_insert(0) += 1,
                    Err(why) => corrupt.push(format!("{}: {why}", path.display())),
                }
            }
        }
        if let Ok(entries) = fs::read_dir(dir.join("Maildir").join("tmp")) {
            tmp_leftovers += entries.count();
        }
    }
    (counts, corrupt, tmp_leftovers)
}

fn relay_copies(got: &Received) -> (HashMap<u32, u32>, Vec<String>) {
    let mut counts = HashMap::new();
    let mut corrupt = Vec::new();
    for bytes in got.lock().unwrap().iter() {
        match check_copy(bytes) {
            Ok(id) => *counts.entry(id).or_insert(0) += 1,
            Err(why) => corrupt.push(format!("relay copy: {why}")),
        }
    }
    (counts, corrupt)
}

/// Messages in the queue (one record file each, whatever their state).
fn queued_count(lab: &Lab) -> usize {
    lab.queued_envelopes().len()
}

fn queue_files(lab: &Lab, suffix: &str) -> usize {
    fs::read_dir(lab.store.join("queue").join("active"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
                .count()
        })
        .unwrap_or(0)
}

/// The tracking log: parsed events and the lines that did not parse.
fn tracking(path: &Path) -> (Vec<serde_json::Value>, Vec<String>) {
    let mut raw = Vec::new();
    fs::File::open(path).unwrap().read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let mut events = Vec::new();
    let mut bad = Vec::new();
    for line in text.split('\n').filter(|l| !l.is_empty()) {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) => events.push(v),
            Err(_) => bad.push(line.chars().take(200).collect()),
        }
    }
    (events, bad)
}

// ------------------------------------------------------------------ test

/// Organization A (local mailboxes in orga.example) plus relay.example
/// (ExternalRelay) sent to the smart host 127.0.0.1:`smart_port`;
/// retries every second. Returns the lab and the receive port.
fn relay_lab(smart_port: u16) -> (Lab, u16) {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    // Nothing routes by DNS here (the smart host is an address), but the
    // resolver is pinned to loopback anyway: a port nobody answers on.
    let dns = format!("127.0.0.1:{}", free_port());
    lab.xshell(&[
        "set-transportservice",
        "--external-dns-servers",
        &dns,
        "--transient-failure-retry-interval",
        "00:00:01",
        "--outbound-connection-failure-retry-interval",
        "00:00:01",
        "--message-retry-interval",
        "00:00:01",
    ]);
    lab.xshell(&[
        "new-accepteddomain",
        "Relay",
        "--domain-name",
        "relay.example",
        "--domain-type",
        "ExternalRelay",
    ]);
    let smart = format!("127.0.0.1:{smart_port}");
    lab.xshell(&[
        "new-sendconnector",
        "ToSink",
        "--address-spaces",
        "relay.example",
        "--dns-routing-enabled=false",
        "--smart-hosts",
        &smart,
    ]);
    (lab, port)
}

#[test]
fn sigkill_under_load_loses_no_acknowledged_message() {
    let total = env_u64("CRASH_MESSAGES", 4000) as u32;
    let senders = env_u64("CRASH_SENDERS", 6).max(1) as u32;
    let rounds = env_u64("CRASH_ROUNDS", 6) as u32;
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!(
        "crash: seed {seed} (CRASH_SEED={seed} reproduces the kill schedule), \
         {total} messages, {senders} senders, {rounds} kill rounds"
    );
    let mut rng = Rng(seed);
    let t0 = Instant::now();

    let sink = start_sink(free_port());
    let (sink_port, got) = (sink.port, Arc::clone(&sink.got));
    let (lab, port) = relay_lab(sink_port);
    let mut engine = lab.start_engine(port);

    // Kill when the number of acknowledged messages passes each threshold
    // (seeded, spread over the load), after a further random 0-300 ms.
    let mut thresholds: Vec<usize> = (0..rounds)
        .map(|_| rng.range(u64::from(total) / 12, u64::from(total) * 11 / 12 + 1) as usize)
        .collect();
    thresholds.sort_unstable();

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let next = Arc::new(AtomicU32::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..senders)
        .map(|_| {
            let (ledger, next, stop) = (Arc::clone(&ledger), Arc::clone(&next), Arc::clone(&stop));
            std::thread::spawn(move || sender(port, &next, total, &ledger, &stop))
        })
        .collect();

    let acked_now = || ledger.lock().unwrap().acked.len();
    let mut kills = 0;
    let mut quick_kills = 0;
    let mut last_kill_at = 0;
    for (round, &at) in thresholds.iter().enumerate() {
        // Each round lets the restarted engine accept some messages first.
        let at = at.max(last_kill_at + rng.range(1, u64::from(total) / 25 + 2) as usize);
        let reached = wait_until(Duration::from_secs(120), || {
            acked_now() >= at || threads.iter().all(|t| t.is_finished())
        });
        assert!(
            reached,
            "round {round}: load stalled at {} acked",
            acked_now()
        );
        std::thread::sleep(Duration::from_millis(rng.range(0, 300)));
        let queued = queued_count(&lab);
        let delivered_so_far = got.lock().unwrap().len();
        last_kill_at = acked_now();
        engine.signal("KILL");
        assert_eq!(engine.wait_exit(Duration::from_secs(10)), Some(-1));
        kills += 1;
        eprintln!(
            "crash: round {}: SIGKILL at {} acked, {queued} envelopes queued, \
             {delivered_so_far} relayed so far ({:.1} s)",
            round + 1,
            acked_now(),
            t0.elapsed().as_secs_f64()
        );
        std::thread::sleep(Duration::from_millis(rng.range(0, 400)));
        engine = lab.start_engine(port);
        // One round in three also kills the engine again right after it
        // listens: while it recovers the queue and starts over on it.
        if rng.range(0, 3) == 0 {
            std::thread::sleep(Duration::from_millis(rng.range(0, 60)));
            let queued = queued_count(&lab);
            engine.signal("KILL");
            assert_eq!(engine.wait_exit(Duration::from_secs(10)), Some(-1));
            quick_kills += 1;
            eprintln!(
                "crash: round {}: SIGKILL again right after the restart, {queued} envelopes queued",
                round + 1
            );
            engine = lab.start_engine(port);
        }
    }

    let finished = wait_until(Duration::from_secs(240), || {
        threads.iter().all(|t| t.is_finished())
    });
    if !finished {
        stop.store(true, Ordering::SeqCst);
    }
    for t in threads {
        t.join().expect("a sender thread panicked");
    }
    assert!(finished, "the senders did not finish within 240 s");
    let load_time = t0.elapsed();

    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    assert!(
        ledger.refused.is_empty(),
        "messages refused after DATA: {:?}",
        ledger.refused.iter().take(5).collect::<Vec<_>>()
    );

    // Drain: the queue empties (cheap to poll); then every acknowledged
    // copy must be there, else it is lost.
    let drained = wait_until(Duration::from_secs(180), || queued_count(&lab) == 0);
    let drain_time = t0.elapsed() - load_time;

    let (local, mut corrupt, tmp_leftovers) = local_copies(&lab);
    let (relay, relay_corrupt) = relay_copies(&got);
    corrupt.extend(relay_corrupt);

    let mut lost = Vec::new();
    let mut duplicates = [0u32; 2];
    let mut unacked_delivered = HashSet::new();
    let mut unexpected = Vec::new();
    for (d, dest, counts, wanted) in [
        (0, "local", &local, wants_local as fn(u32) -> bool),
        (1, "relay", &relay, wants_relay as fn(u32) -> bool),
    ] {
        for id in ledger.acked.keys() {
            if wanted(*id) && !counts.contains_key(id) {
                lost.push(format!("{dest} {id}"));
            }
        }
        for (&id, &n) in counts {
            duplicates[d] += n - 1;
            if !wanted(id) {
                unexpected.push(format!("{dest} {id}: not addressed there"));
            } else if ledger.cut.contains(&id) {
                unacked_delivered.insert(id);
            } else if !ledger.acked.contains_key(&id) {
                unexpected.push(format!("{dest} {id}: never acknowledged nor in flight"));
            }
        }
    }
    let delivered_ids: HashSet<u32> = local.keys().chain(relay.keys()).copied().collect();
    let copies: u32 = local.values().chain(relay.values()).sum();
    let corrupt_envelopes = queue_files(&lab, ".corrupt");
    let leftover_state = queue_files(&lab, ".state");
    let queue_tmp = fs::read_dir(lab.store.join("queue").join("tmp"))
        .map(|e| e.count())
        .unwrap_or(0);

    // The tracking log: JSONL except torn lines, at most one per kill;
    // every acknowledged message has its RECEIVE (written before the 250)
    // unless a torn line swallowed it.
    let (events, torn) = tracking(&lab.tracking_log());
    let received: HashSet<&str> = events
        .iter()
        .filter(|e| e["event_id"] == "RECEIVE")
        .filter_map(|e| e["internal_message_id"].as_str())
        .collect();
    let no_receive = ledger
        .acked
        .values()
        .filter(|qid| !received.contains(qid.as_str()))
        .count();

    eprintln!(
        "crash: sent {} (acked {}, cut {}, refused {}), sessions {}, failed connects {}",
        ledger.acked.len() + ledger.cut.len() + ledger.refused.len(),
        ledger.acked.len(),
        ledger.cut.len(),
        ledger.refused.len(),
        ledger.sessions,
        ledger.reconnects
    );
    eprintln!(
        "crash: delivered {} ids in {} copies (local {} ids, relay {} ids), \
         duplicates {} (local {}, relay {}), unacknowledged-but-delivered {}, lost {}, corrupt {}",
        delivered_ids.len(),
        copies,
        local.len(),
        relay.len(),
        duplicates[0] + duplicates[1],
        duplicates[0],
        duplicates[1],
        unacked_delivered.len(),
        lost.len(),
        corrupt.len()
    );
    eprintln!(
        "crash: kill rounds {kills} (+{quick_kills} right after a restart); .corrupt envelopes {corrupt_envelopes}; leftover .state \
         {leftover_state}; queue/tmp {queue_tmp}; Maildir tmp leftovers {tmp_leftovers}; \
         tracking: {} events, {} torn lines, {no_receive} acked without RECEIVE",
        events.len(),
        torn.len()
    );
    eprintln!(
        "crash: wall time {:.1} s (load {:.1} s, drain {:.1} s)",
        t0.elapsed().as_secs_f64(),
        load_time.as_secs_f64(),
        drain_time.as_secs_f64()
    );

    let panics: Vec<String> = fs::read_dir(&lab.work)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".log"))
        .filter(|p| {
            fs::read_to_string(p)
                .unwrap_or_default()
                .contains("panicked")
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(panics.is_empty(), "the engine panicked: {panics:?}");
    assert!(
        lost.is_empty(),
        "acknowledged messages lost: {} e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    assert!(drained, "the queue did not drain within 180 s");
    assert!(corrupt.is_empty(), "corrupt copies: {corrupt:?}");
    assert!(
        unexpected.is_empty(),
        "unexpected deliveries: {unexpected:?}"
    );
    assert_eq!(corrupt_envelopes, 0, ".corrupt envelopes in the queue");
    assert_eq!(leftover_state, 0, "state files left in a drained queue");
    assert_eq!(kills, rounds);
    let kills = kills + quick_kills;
    assert!(
        torn.len() <= kills as usize,
        "{} torn tracking lines for {kills} kills: {torn:?}",
        torn.len()
    );
    assert!(
        no_receive <= torn.len(),
        "{no_receive} acknowledged messages without a RECEIVE event ({} torn lines)",
        torn.len()
    );
    assert!(
        ledger.acked.len() as u32 >= total / 2,
        "too few messages acknowledged: {}",
        ledger.acked.len()
    );
}

/// The queue runner records each relayed message as soon as the next hop
/// accepted it, not when the whole session (batch) is over: with three
/// messages in one batch and the next hop holding its answer to the third,
/// the first two are already out of the queue and tracked as SEND; a
/// SIGKILL then re-sends only the third (no duplicate).
#[test]
fn relayed_messages_are_recorded_one_by_one_so_a_kill_resends_only_the_unanswered() {
    let sink_port = free_port();
    let (lab, port) = relay_lab(sink_port);
    // Queued while the next hop is down: each is deferred (retry in 1 s).
    let mut engine = lab.start_engine(port);
    let mut c = Client::connect(port).unwrap();
    // ids of kind 1: relay.example only
    for id in [1, 4, 7] {
        assert!(matches!(send_message(&mut c, id), Ok(Outcome::Acked(_))));
    }
    let _ = c.expect("QUIT\r\n", "221");
    let deferred = |lab: &Lab| {
        tracking_lines(&lab.tracking_log())
            .iter()
            .filter(|e| e["event_id"] == "DEFER")
            .filter_map(|e| e["internal_message_id"].as_str().map(str::to_string))
            .collect::<HashSet<String>>()
            .len()
    };
    assert!(
        wait_until(Duration::from_secs(20), || deferred(&lab) >= 3),
        "not deferred:\n{}",
        engine.log_text()
    );
    engine.signal("KILL");
    assert_eq!(engine.wait_exit(Duration::from_secs(10)), Some(-1));

    // The next hop comes up and will hold its answer to the third message;
    // the restarted engine's first scan takes all three in one batch.
    let sink = start_sink(sink_port);
    sink.hold_from.store(2, Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(2)); // all three due
    let mut engine = lab.start_engine(port);
    assert!(
        wait_until(Duration::from_secs(20), || sink.got.lock().unwrap().len()
            == 2),
        "the sink did not get two messages:\n{}",
        engine.log_text()
    );
    let sends = |lab: &Lab| {
        tracking_lines(&lab.tracking_log())
            .iter()
            .filter(|e| e["event_id"] == "SEND")
            .count()
    };
    let recorded = wait_until(Duration::from_secs(10), || {
        queued_count(&lab) == 1 && sends(&lab) == 2
    });
    assert!(
        recorded,
        "the accepted messages are still queued while the session waits for the third \
         ({} envelopes, {} SEND events):\n{}",
        queued_count(&lab),
        sends(&lab),
        engine.log_text()
    );

    engine.signal("KILL");
    assert_eq!(engine.wait_exit(Duration::from_secs(10)), Some(-1));
    sink.hold_from.store(usize::MAX, Ordering::SeqCst);
    let _engine = lab.start_engine(port);
    assert!(wait_until(Duration::from_secs(20), || queued_count(&lab) == 0));
    let (counts, corrupt) = relay_copies(&sink.got);
    assert!(corrupt.is_empty(), "{corrupt:?}");
    let mut ids: Vec<(u32, u32)> = counts.into_iter().collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [(1, 1), (4, 1), (7, 1)],
        "one copy each at the next hop"
    );
}
