use std::sync::{Arc, Barrier};
use std::time::Duration;

use super::*;
use xshell_core::control::spool::parse_record_header;

fn envelope(n: usize) -> Envelope {
    let mut e = Envelope::new(
        format!("sender{n}@fabrikam.com"),
        vec!["a@contoso.com".to_string(), "b@contoso.com".to_string()],
    );
    e.client_ip = Some("192.0.2.10".parse().expect("ip"));
    e.connector = Some("Partner Fabrikam".into());
    e.tls = Some(TlsFacts {
        protocol: "TLSv1.3".into(),
        cipher: "TLS13_AES_256_GCM_SHA384".into(),
        sni: None,
        client_certificate: None,
    });
    e.auth = Some(AuthFacts {
        auth_as: "Partner".into(),
        mechanism: Some("MutualTLS".into()),
        domain: Some("fabrikam.com".into()),
    });
    e
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn enqueue_is_durable_and_loads_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = Queue::open(dir.path()).expect("open");
    let msg = b"Subject: hi\r\n\r\nbody\r\n";
    let id = q.enqueue(&envelope(1), msg).expect("enqueue");
    assert_eq!(q.dir_fsyncs(), 1);
    assert_eq!(names(&dir.path().join("active")), [id.to_string()]);
    assert!(names(&dir.path().join("tmp")).is_empty());
    let all = q.load_all().expect("load");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].id, id);
    assert_eq!(all[0].size, msg.len() as u64);
    assert_eq!(
        all[0].envelope,
        envelope(1).clone_with_time(all[0].envelope.received_at_ms)
    );
    assert_eq!(q.read_message(&id).expect("read"), msg);
    // One file: header line, envelope JSON with the documented fields,
    // then the message exactly as received.
    let record = fs::read(dir.path().join(format!("active/{id}"))).expect("read");
    let (header, len) = parse_record_header(&record).expect("header");
    assert!(record.starts_with(b"xshell-queue 1 "));
    assert_eq!(&record[header + len..], msg);
    let json: serde_json::Value =
        serde_json::from_slice(&record[header..header + len]).expect("json");
    assert_eq!(json["version"], 1);
    assert_eq!(
        json["envelope"]["recipients"][0]["status"]["state"],
        "pending"
    );
    assert_eq!(json["envelope"]["client_ip"], "192.0.2.10");
    assert_eq!(json["envelope"]["auth"]["auth_as"], "Partner");
    assert_eq!(json["envelope"]["tls"]["protocol"], "TLSv1.3");
}

impl Envelope {
    fn clone_with_time(&self, t: u64) -> Envelope {
        let mut e = self.clone();
        e.received_at_ms = t;
        e
    }
}

#[test]
fn restart_loads_every_message_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ids = Vec::new();
    {
        let q = Queue::open(dir.path()).expect("open");
        for n in 0..20 {
            ids.push(
                q.enqueue(&envelope(n), format!("message {n}\r\n").as_bytes())
                    .expect("enqueue"),
            );
        }
    }
    let q = Queue::open(dir.path()).expect("reopen");
    let all = q.load_all().expect("load");
    let loaded: Vec<MessageId> = all.iter().map(|m| m.id.clone()).collect();
    assert_eq!(loaded, ids);
    for (n, m) in all.iter().enumerate() {
        assert_eq!(m.envelope.sender, format!("sender{n}@fabrikam.com"));
        assert_eq!(
            q.read_message(&m.id).expect("read"),
            format!("message {n}\r\n").as_bytes()
        );
    }
}

fn record_bytes(id: &MessageId, body: &[u8]) -> Vec<u8> {
    let m = QueuedMessage {
        version: VERSION,
        id: id.clone(),
        size: body.len() as u64,
        envelope: envelope(9),
    };
    let json = serde_json::to_vec(&m).expect("json");
    [&record_header(json.len())[..], &json, body].concat()
}

#[test]
fn crash_leftovers_are_cleaned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = Queue::open(dir.path()).expect("open");
    let id = q.enqueue(&envelope(1), b"ok\r\n").expect("enqueue");
    // A crash before the rename leaves a file in tmp/; a crash between the
    // two removals of a completion leaves a state file without record;
    // damaged records: not a record, bad JSON, torn (shorter than the
    // envelope says), a damaged state file.
    fs::write(dir.path().join("tmp/half-written.rec"), b"xshell").expect("write");
    let orphan_state = MessageId::generate();
    fs::write(q.state_path(&orphan_state), b"{}").expect("write");
    let garbage = MessageId::generate();
    fs::write(q.message_path(&garbage), b"x").expect("write");
    let bad_json = MessageId::generate();
    fs::write(
        q.message_path(&bad_json),
        [&record_header(9)[..], b"{not json", b"body"].concat(),
    )
    .expect("write");
    let torn = MessageId::generate();
    let whole = record_bytes(&torn, b"a long enough message body\r\n");
    fs::write(q.message_path(&torn), &whole[..whole.len() - 5]).expect("write");
    let bad_state = MessageId::generate();
    fs::write(
        q.message_path(&bad_state),
        record_bytes(&bad_state, b"kept\r\n"),
    )
    .expect("write");
    fs::write(q.state_path(&bad_state), b"{").expect("write");
    drop(q);

    let q = Queue::open(dir.path()).expect("reopen");
    assert!(names(&dir.path().join("tmp")).is_empty());
    let all = q.load_all().expect("load");
    // the message with a damaged state file falls back to its initial
    // envelope (delivered again rather than lost)
    let mut want = vec![&id, &bad_state];
    want.sort();
    assert_eq!(all.iter().map(|m| &m.id).collect::<Vec<_>>(), want);
    assert_eq!(q.read_message(&bad_state).expect("read"), b"kept\r\n");
    let active = names(&dir.path().join("active"));
    assert!(
        !active.contains(&format!("{orphan_state}.state")),
        "{active:?}"
    );
    for set_aside in [
        format!("{garbage}.corrupt"),
        format!("{bad_json}.corrupt"),
        format!("{torn}.corrupt"),
        format!("{bad_state}.state.corrupt"),
    ] {
        assert!(active.contains(&set_aside), "{set_aside}: {active:?}");
    }
    // Loading and reopening again is stable.
    assert_eq!(q.load_all().expect("load").len(), 2);
    drop(q);
    let q = Queue::open(dir.path()).expect("reopen");
    assert_eq!(names(&dir.path().join("active")), active);
    assert_eq!(q.load_all().expect("load").len(), 2);
}

#[test]
fn a_queue_of_the_two_file_format_is_converted_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let active = dir.path().join("active");
    fs::create_dir_all(&active).expect("mkdir");
    let old = MessageId::generate();
    let m = QueuedMessage {
        version: VERSION,
        id: old.clone(),
        size: 6,
        envelope: envelope(3),
    };
    fs::write(
        active.join(format!("{old}.json")),
        serde_json::to_vec_pretty(&m).expect("json"),
    )
    .expect("write");
    fs::write(active.join(format!("{old}.eml")), b"old\r\n").expect("write");
    // a message file without envelope (no 250 was sent), an envelope
    // without message
    let orphan = MessageId::generate();
    fs::write(active.join(format!("{orphan}.eml")), b"orphan").expect("write");
    let lost = MessageId::generate();
    fs::write(
        active.join(format!("{lost}.json")),
        serde_json::to_vec(&m).expect("json"),
    )
    .expect("write");
    let q = Queue::open(dir.path()).expect("open");
    assert_eq!(
        names(&active),
        [old.to_string(), format!("{lost}.json.corrupt")]
    );
    let all = q.load_all().expect("load");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].envelope.sender, "sender3@fabrikam.com");
    assert_eq!(q.read_message(&old).expect("read"), b"old\r\n");
}

#[test]
fn state_changes_go_to_a_side_file_and_removal_takes_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = Queue::open(dir.path()).expect("open");
    let id = q.enqueue(&envelope(1), b"m\r\n").expect("enqueue");
    let record = fs::read(q.message_path(&id)).expect("read");
    q.set_next_retry(&id, Some(77)).expect("retry");
    // the record is never rewritten; the state file holds the new state
    assert_eq!(fs::read(q.message_path(&id)).expect("read"), record);
    assert_eq!(
        names(&dir.path().join("active")),
        [id.to_string(), format!("{id}.state")]
    );
    assert_eq!(q.get(&id).expect("get").envelope.next_retry_ms, Some(77));
    // a state file that vanished (as if never written): the initial envelope
    fs::remove_file(q.state_path(&id)).expect("rm");
    assert_eq!(q.get(&id).expect("get").envelope.next_retry_ms, None);
    q.set_next_retry(&id, Some(78)).expect("retry");
    q.complete(&id).expect("complete");
    assert!(names(&dir.path().join("active")).is_empty());
    // The fast path: removal at the first update never writes a state file.
    let id = q.enqueue(&envelope(2), b"m\r\n").expect("enqueue");
    let u = q
        .update_unsynced(&id, |_| Disposition::Remove)
        .expect("update");
    assert!(u.removed);
    assert!(names(&dir.path().join("active")).is_empty());
    assert!(names(&dir.path().join("tmp")).is_empty());
}

#[test]
fn defer_updates_state_atomically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = Queue::open(dir.path()).expect("open");
    let id = q.enqueue(&envelope(1), b"m\r\n").expect("enqueue");
    let m = q
        .defer(
            &id,
            &[
                (
                    "A@contoso.com".into(),
                    RecipientStatus::Delivered {
                        at_ms: 5,
                        detail: "250 2.0.0 OK".into(),
                    },
                ),
                (
                    "b@contoso.com".into(),
                    RecipientStatus::Deferred {
                        reason: "454 4.7.5 Certificate validation failure".into(),
                    },
                ),
            ],
            123_456,
        )
        .expect("defer");
    assert_eq!(m.envelope.attempts, 1);
    assert_eq!(m.envelope.next_retry_ms, Some(123_456));
    assert!(m.envelope.recipients[0].status.is_final());
    assert!(!m.envelope.recipients[1].status.is_final());
    assert!(names(&dir.path().join("tmp")).is_empty());
    drop(q);
    let q = Queue::open(dir.path()).expect("reopen");
    assert_eq!(q.get(&id).expect("get"), m);
    let m2 = q.defer(&id, &[], 999).expect("defer again");
    assert_eq!(m2.envelope.attempts, 2);
    assert_eq!(q.load_all().expect("load"), [m2]);
}

#[test]
fn complete_removes_the_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = Queue::open(dir.path()).expect("open");
    let id = q.enqueue(&envelope(1), b"m\r\n").expect("enqueue");
    q.complete(&id).expect("complete");
    assert!(names(&dir.path().join("active")).is_empty());
    assert!(matches!(q.complete(&id), Err(QueueError::NotFound(_))));
    assert!(matches!(q.read_message(&id), Err(QueueError::NotFound(_))));
    assert!(matches!(q.defer(&id, &[], 0), Err(QueueError::NotFound(_))));
}

#[test]
fn envelope_from_smtp_session() {
    use xshell_smtp::{MailParams, Mailbox, ReversePath};
    let env = xshell_smtp::Envelope {
        helo: "mail.fabrikam.com".into(),
        esmtp: true,
        mail_from: ReversePath::Null,
        params: MailParams::default(),
        rcpt_to: vec![Mailbox {
            local_part: "Bob".into(),
            domain: "contoso.com".into(),
        }],
        rcpt_params: vec![Default::default()],
        tls: None,
    };
    let e = Envelope::from_smtp(&env);
    assert_eq!(e.sender, "");
    assert_eq!(e.recipients[0].address, "Bob@contoso.com");
    assert_eq!(e.recipients[0].status, RecipientStatus::Pending);
    assert_eq!(e.helo.as_deref(), Some("mail.fabrikam.com"));
    assert!(!e.requiretls);
    // RFC 8689 4.1: the message is tagged, and the tag survives a write
    // and a read; a record without it loads as untagged.
    let tagged = Envelope::from_smtp(&xshell_smtp::Envelope {
        params: MailParams {
            requiretls: true,
            ..MailParams::default()
        },
        ..env
    });
    assert!(tagged.requiretls);
    let json = serde_json::to_string(&tagged).expect("json");
    assert!(json.contains("\"requiretls\":true"), "{json}");
    let back: Envelope = serde_json::from_str(&json).expect("load");
    assert!(back.requiretls);
    let untagged: Envelope =
        serde_json::from_str(&json.replace(",\"requiretls\":true", "")).expect("load");
    assert!(!untagged.requiretls);
}

/// N threads enqueue at once through one committer; returns the number of
/// directory fsyncs it took.
fn concurrent_enqueues(n: usize, window: Duration) -> u64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = Arc::new(Queue::open(dir.path()).expect("open"));
    let gc = Arc::new(GroupCommitter::new(Arc::clone(&q), window).expect("committer"));
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let gc = Arc::clone(&gc);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let msg = format!("message {i}\r\n");
                barrier.wait();
                let (id, sync) = gc
                    .enqueue_with_sync(&envelope(i), msg.as_bytes())
                    .expect("enqueue");
                // On return: the files are in active/ and the sync that
                // covers them has completed.
                let q = gc.queue();
                assert!(q.message_path(&id).exists());
                assert!(sync >= 1 && q.dir_fsyncs() >= sync);
                id
            })
        })
        .collect();
    let ids: Vec<MessageId> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let syncs = q.dir_fsyncs();
    drop(gc);
    let loaded = q.load_all().expect("load");
    assert_eq!(loaded.len(), n);
    for id in &ids {
        assert!(loaded.iter().any(|m| &m.id == id));
    }
    assert!(syncs >= 1);
    syncs
}

#[test]
fn group_commit_shares_directory_fsyncs() {
    let n = 64;
    let with_window = concurrent_enqueues(n, Duration::from_millis(20));
    let without_window = concurrent_enqueues(n, Duration::ZERO);
    eprintln!(
        "group commit: {n} concurrent enqueues -> {with_window} dir fsyncs (20 ms window), {without_window} (no window)"
    );
    assert!(
        with_window < n as u64,
        "{with_window} fsyncs for {n} enqueues"
    );
    assert!(without_window <= n as u64);
}

#[test]
fn committer_stops_cleanly_and_serves_sequential_callers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = Arc::new(Queue::open(dir.path()).expect("open"));
    let gc = GroupCommitter::new(Arc::clone(&q), Duration::ZERO).expect("committer");
    for i in 0..5 {
        let (_, sync) = gc
            .enqueue_with_sync(&envelope(i), b"x\r\n")
            .expect("enqueue");
        assert_eq!(sync, i as u64 + 1, "one caller at a time: one fsync each");
    }
    drop(gc);
    assert_eq!(q.load_all().expect("load").len(), 5);
}

#[test]
fn concurrent_updates_of_one_message_are_never_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = Arc::new(Queue::open(dir.path()).expect("open"));
    let rcpts: Vec<String> = (0..16).map(|i| format!("r{i}@contoso.com")).collect();
    let id = q
        .enqueue(&Envelope::new("s@fabrikam.com", rcpts.clone()), b"x")
        .expect("enqueue");
    // 16 writers (think: the local worker and the runner), each finishing
    // its own recipient with a read-modify-write
    let barrier = Arc::new(Barrier::new(rcpts.len()));
    let handles: Vec<_> = rcpts
        .iter()
        .cloned()
        .map(|r| {
            let (q, id, barrier) = (Arc::clone(&q), id.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                q.update(&id, |e| {
                    e.apply(&[(
                        r,
                        RecipientStatus::Delivered {
                            at_ms: 1,
                            detail: "d".into(),
                        },
                    )]);
                    if e.is_finished() {
                        Disposition::Remove
                    } else {
                        Disposition::Keep
                    }
                })
                .expect("update")
                .removed
            })
        })
        .collect();
    let removed = handles
        .into_iter()
        .map(|h| h.join().expect("join"))
        .filter(|r| *r)
        .count();
    // exactly the last writer saw every recipient final and removed it
    assert_eq!(removed, 1);
    assert!(matches!(q.get(&id), Err(QueueError::NotFound(_))));
}

#[test]
fn envelopes_written_before_the_sending_side_fields_still_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = Queue::open(dir.path()).expect("open");
    let id = q.enqueue(&envelope(1), b"x").expect("enqueue");
    // strip the new fields, as an older version wrote it
    q.set_next_retry(&id, None).expect("state file");
    let path = q.state_path(&id);
    let mut v: serde_json::Value =
        serde_json::from_slice(&fs::read(&path).expect("read")).expect("json");
    let env = v["envelope"].as_object_mut().expect("object");
    env.remove("last_error");
    env.remove("delay_notified");
    for r in env["recipients"].as_array_mut().expect("array") {
        let r = r.as_object_mut().expect("object");
        r.remove("last_reply");
        r.remove("remote_host");
        r.remove("dsn_sent");
        assert_eq!(r.len(), 2, "{r:?}");
    }
    fs::write(&path, serde_json::to_vec(&v).expect("json")).expect("write");
    let m = q.get(&id).expect("loads");
    assert!(!m.envelope.delay_notified && m.envelope.last_error.is_none());
    assert!(m.envelope.recipients.iter().all(|r| !r.dsn_sent));
    // a failure needs a report, except for a null sender
    let mut e = m.envelope.clone();
    e.apply(&[(
        "a@contoso.com".into(),
        RecipientStatus::Failed { reason: "x".into() },
    )]);
    e.apply(&[(
        "b@contoso.com".into(),
        RecipientStatus::Delivered {
            at_ms: 1,
            detail: "d".into(),
        },
    )]);
    assert!(!e.is_finished());
    e.sender.clear();
    assert!(e.is_finished());
}

#[test]
fn a_streamed_record_is_the_record_enqueue_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = Queue::open(dir.path()).expect("open");
    let msg: Vec<u8> = (0..200_000u32)
        .flat_map(|i| format!("line {i}\r\n").into_bytes())
        .collect();
    for step in [1usize, 3, 4096, 65_536, 1_000_003, msg.len()] {
        let mut w = q.begin_record(&envelope(step)).expect("begin");
        if step == 1 {
            // byte by byte over the first lines only (slow otherwise)
            for b in &msg[..5000] {
                w.write(std::slice::from_ref(b)).expect("write");
            }
            w.write(&msg[5000..]).expect("write");
        } else {
            for piece in msg.chunks(step) {
                w.write(piece).expect("write");
            }
        }
        assert_eq!(w.size(), msg.len() as u64);
        let id = w.finish().expect("finish");
        q.sync_active_dir().expect("sync");
        // Loads back with its size; the bytes are the message.
        let m = q.get(&id).expect("get");
        assert_eq!(m.size, msg.len() as u64);
        assert_eq!(m.envelope.sender, envelope(step).sender);
        assert!(q.read_message(&id).expect("read") == msg, "step {step}");
        // The record is version 1: the core reader (Get-Queue) reads it.
        let spool = xshell_core::control::spool::read_one(dir.path(), &id.to_string())
            .expect("spool")
            .expect("listed");
        assert_eq!(spool.size, msg.len() as u64);
        let f = q.open_message(&id).expect("open");
        assert_eq!(f.size(), msg.len() as u64);
        assert_eq!(f.head().expect("head"), &msg[..HEAD_LIMIT]);
        let mut part = [0u8; 10];
        assert_eq!(f.read_at(msg.len() as u64 - 4, &mut part).expect("read"), 4);
        assert_eq!(&part[..4], &msg[msg.len() - 4..]);
        assert!(!f.has_8bit().expect("scan"));
        let out_path = dir.path().join("copy");
        let mut out = File::create(&out_path).expect("create");
        assert_eq!(f.copy_to(&mut out).expect("copy"), msg.len() as u64);
        assert!(fs::read(&out_path).expect("read") == msg);
    }
    assert!(names(&dir.path().join("tmp")).is_empty());
    drop(q);
    // Records written with padding pass the recovery check at open.
    let q = Queue::open(dir.path()).expect("reopen");
    assert_eq!(q.load_all().expect("load").len(), 6);
    assert!(
        !names(&dir.path().join("active"))
            .iter()
            .any(|n| n.ends_with(".corrupt"))
    );
}

#[test]
fn an_unfinished_record_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = Queue::open(dir.path()).expect("open");
    let mut w = q.begin_record(&envelope(1)).expect("begin");
    w.write(b"Subject: half\r\n").expect("write");
    assert_eq!(names(&dir.path().join("tmp")).len(), 1);
    drop(w);
    assert!(names(&dir.path().join("tmp")).is_empty());
    assert!(names(&dir.path().join("active")).is_empty());
    // A crash before finish: the staging file is cleared at open, and a
    // record torn after the rename (shorter than its size) is set aside.
    let mut w = q.begin_record(&envelope(2)).expect("begin");
    w.write(b"Subject: x\r\n\r\nbody\r\n").expect("write");
    let id = w.finish().expect("finish");
    let path = q.message_path(&id);
    let whole = fs::read(&path).expect("read");
    fs::write(&path, &whole[..whole.len() - 3]).expect("write");
    let w = q.begin_record(&envelope(3)).expect("begin");
    std::mem::forget(w);
    drop(q);
    let _q = Queue::open(dir.path()).expect("reopen");
    assert!(names(&dir.path().join("tmp")).is_empty());
    assert_eq!(names(&dir.path().join("active")), [format!("{id}.corrupt")]);
}

fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).expect("stat").ino()
}

#[test]
fn a_removed_record_is_recycled_for_the_next_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = Queue::open(dir.path()).expect("open");
    let big = vec![b'x'; 20_000];
    let first = q.enqueue(&envelope(1), &big).expect("enqueue");
    let first_inode = inode(&q.message_path(&first));
    q.complete(&first).expect("complete");
    assert_eq!(q.free_records(), 1);
    assert_eq!(names(&dir.path().join("free")).len(), 1);
    assert!(names(&dir.path().join("active")).is_empty());

    // A shorter message is written over the same inode, cut to its length.
    let msg = b"Subject: second\r\n\r\nshort\r\n";
    let second = q.enqueue(&envelope(2), msg).expect("enqueue");
    assert_eq!(inode(&q.message_path(&second)), first_inode);
    assert_eq!(q.free_records(), 0);
    assert!(names(&dir.path().join("free")).is_empty());
    assert!(names(&dir.path().join("tmp")).is_empty());
    assert_eq!(q.read_message(&second).expect("read"), msg);
    let all = q.load_all().expect("load");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].id, second);
    assert_eq!(all[0].size, msg.len() as u64);
    // The old id is gone for good.
    assert!(matches!(
        q.read_message(&first),
        Err(QueueError::NotFound(_))
    ));

    // Recovery accepts the recycled record (its length matches).
    drop(q);
    let q = Queue::open(dir.path()).expect("reopen");
    assert_eq!(q.read_message(&second).expect("read"), msg);
    assert!(
        names(&dir.path().join("active"))
            .iter()
            .all(|n| !n.ends_with(".corrupt"))
    );
}

#[test]
fn a_record_being_read_is_never_reused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = Queue::open(dir.path()).expect("open");
    let old = b"Subject: old\r\n\r\nread by someone\r\n";
    let id = q.enqueue(&envelope(1), old).expect("enqueue");
    // A reader (the CLI's Get-Message, a delivery) holds the record.
    let reader = open_record(&q.message_path(&id))
        .expect("open")
        .expect("present");
    let held_inode = {
        use std::os::unix::fs::MetadataExt;
        reader.metadata().expect("stat").ino()
    };
    q.complete(&id).expect("complete");
    assert_eq!(q.free_records(), 1);
    let new = q
        .enqueue(&envelope(2), b"Subject: new\r\n\r\nother\r\n")
        .expect("enqueue");
    // The held file was not written over: it stays in the pool, and the
    // new message got a new file.
    assert_ne!(inode(&q.message_path(&new)), held_inode);
    assert_eq!(q.free_records(), 1);
    let mut content = Vec::new();
    let mut r = &reader;
    r.read_to_end(&mut content).expect("read");
    assert!(content.ends_with(old));
    // Once the reader lets go, the file is reused.
    drop(reader);
    let later = q.enqueue(&envelope(3), b"later\r\n").expect("enqueue");
    assert_eq!(inode(&q.message_path(&later)), held_inode);
    assert_eq!(q.free_records(), 0);
    assert_eq!(q.read_message(&later).expect("read"), b"later\r\n");
}

#[test]
fn the_free_pool_is_bounded_and_emptied_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = Queue::open(dir.path()).expect("open");
    let n = FREE_MAX + 5;
    let staged: Vec<Staged> = (0..n)
        .map(|i| q.stage_unsynced(&envelope(i), b"x\r\n").expect("stage"))
        .collect();
    let (results, synced) = q.commit(staged);
    synced.expect("sync");
    let ids: Vec<MessageId> = results.into_iter().map(|r| r.expect("commit")).collect();
    for id in &ids {
        q.update_unsynced(id, |_| Disposition::Remove)
            .expect("remove");
    }
    assert_eq!(q.free_records(), FREE_MAX);
    assert_eq!(names(&dir.path().join("free")).len(), FREE_MAX);
    assert!(names(&dir.path().join("active")).is_empty());
    drop(q);
    // After a crash a free file could also be linked in active/: never
    // reuse what an earlier run left.
    let q = Queue::open(dir.path()).expect("reopen");
    assert_eq!(q.free_records(), 0);
    assert!(names(&dir.path().join("free")).is_empty());
}

#[test]
fn a_staged_record_enters_active_only_at_its_group_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = Queue::open(dir.path()).expect("open");
    // one recycled file and new ones in the same batch
    let old = q.enqueue(&envelope(0), b"old\r\n").expect("enqueue");
    q.complete(&old).expect("complete");
    let syncs = q.dir_fsyncs();
    let staged: Vec<Staged> = (1..=3)
        .map(|i| {
            q.stage_unsynced(&envelope(i), format!("message {i}\r\n").as_bytes())
                .expect("stage")
        })
        .collect();
    // written, not committed: invisible to the queue and to a restart
    assert!(names(&dir.path().join("active")).is_empty());
    assert!(q.load_all().expect("load").is_empty());
    assert_eq!(names(&dir.path().join("tmp")).len(), 2);
    let (results, synced) = q.commit(staged);
    assert_eq!(synced.expect("synced"), syncs + 1, "one directory fsync");
    let ids: Vec<MessageId> = results.into_iter().map(|r| r.expect("committed")).collect();
    assert!(names(&dir.path().join("tmp")).is_empty());
    assert!(names(&dir.path().join("free")).is_empty());
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            q.read_message(id).expect("read"),
            format!("message {}\r\n", i + 1).as_bytes()
        );
    }
    // a staged record given up leaves nothing behind
    let s = q.stage_unsynced(&envelope(9), b"never\r\n").expect("stage");
    s.discard();
    assert!(names(&dir.path().join("tmp")).is_empty());
    assert_eq!(q.load_all().expect("load").len(), 3);
}

#[test]
fn streamed_records_use_recycled_files_and_open_messages_are_not_reused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = Queue::open(dir.path()).expect("open");
    let big = vec![b'x'; 300_000];
    let first = q.enqueue(&envelope(1), &big).expect("enqueue");
    let first_inode = inode(&q.message_path(&first));
    q.complete(&first).expect("complete");
    // A shorter streamed message goes over the same inode, cut to length.
    let msg = b"Subject: streamed\r\n\r\nin pieces\r\n".repeat(100);
    let mut w = q.begin_record(&envelope(2)).expect("begin");
    for piece in msg.chunks(7) {
        w.write(piece).expect("write");
    }
    let second = w.finish().expect("finish");
    assert_eq!(inode(&q.message_path(&second)), first_inode);
    assert_eq!(q.read_message(&second).expect("read"), msg);
    assert_eq!(q.get(&second).expect("get").size, msg.len() as u64);

    // A message open for delivery is not written over once removed.
    let open = q.open_message(&second).expect("open");
    q.complete(&second).expect("complete");
    let third = q.enqueue(&envelope(3), b"third\r\n").expect("enqueue");
    assert_ne!(inode(&q.message_path(&third)), first_inode);
    assert!(
        open.head().expect("head") == msg,
        "the open message changed"
    );
    drop(open);

    // An unfinished record over a recycled file leaves nothing behind.
    q.complete(&third).expect("complete");
    assert_eq!(q.free_records(), 2);
    let mut w = q.begin_record(&envelope(4)).expect("begin");
    w.write(b"half").expect("write");
    drop(w);
    assert_eq!(q.free_records(), 1);
    let mut w = q.begin_record(&envelope(4)).expect("begin");
    w.write(b"half").expect("write");
    drop(w);
    assert_eq!(q.free_records(), 0);
    for sub in ["free", "tmp", "active"] {
        assert!(names(&dir.path().join(sub)).is_empty(), "{sub}");
    }
    // The old id of a reused file is not found through open_message.
    assert!(matches!(
        q.open_message(&first),
        Err(QueueError::NotFound(_))
    ));
}

#[test]
fn dsn_requests_are_kept_and_decide_which_reports_are_due() {
    use xshell_smtp::{MailParams, Mailbox, Notify, RcptParams, Ret, ReversePath};
    let mb = |l: &str| Mailbox {
        local_part: l.into(),
        domain: "contoso.com".into(),
    };
    let env = xshell_smtp::Envelope {
        helo: "mail.fabrikam.com".into(),
        esmtp: true,
        mail_from: ReversePath::Mailbox(mb("alice")),
        params: MailParams {
            ret: Some(Ret::Hdrs),
            envid: Some("QQ314".into()),
            ..MailParams::default()
        },
        rcpt_to: vec![mb("never"), mb("success"), mb("default")],
        rcpt_params: vec![
            RcptParams {
                notify: Some(Notify::NEVER),
                orcpt: None,
            },
            RcptParams {
                notify: Some("SUCCESS".parse().unwrap()),
                orcpt: Some("rfc822;success@contoso.com".into()),
            },
            RcptParams::default(),
        ],
        tls: None,
    };
    let mut e = Envelope::from_smtp(&env);
    // Kept through the queue (JSON round trip).
    let json = serde_json::to_string(&e).unwrap();
    assert!(json.contains(r#""notify":"NEVER""#), "{json}");
    assert!(json.contains(r#""ret":"HDRS""#), "{json}");
    let back: Envelope = serde_json::from_str(&json).unwrap();
    assert_eq!(back, e);
    assert_eq!(e.envid.as_deref(), Some("QQ314"));
    assert_eq!(
        e.recipients[1].orcpt.as_deref(),
        Some("rfc822;success@contoso.com")
    );

    let failed = RecipientStatus::Failed { reason: "x".into() };
    let deferred = RecipientStatus::Deferred { reason: "x".into() };
    // NEVER: no failure report, no delay notice; SUCCESS only: neither.
    for r in &mut e.recipients {
        r.status = deferred.clone();
    }
    let delay: Vec<bool> = e
        .recipients
        .iter()
        .map(|r| r.wants_delay_notice())
        .collect();
    assert_eq!(delay, [false, false, true]);
    for r in &mut e.recipients {
        r.status = failed.clone();
    }
    let due: Vec<bool> = e.recipients.iter().map(|r| r.needs_dsn()).collect();
    assert_eq!(due, [false, false, true]);
    // Delivered here: a success report for the one that asked.
    let results: Vec<(String, RecipientStatus)> = e
        .recipients
        .iter()
        .map(|r| {
            (
                r.address.clone(),
                RecipientStatus::Delivered {
                    at_ms: 1,
                    detail: "maildir".into(),
                },
            )
        })
        .collect();
    e.apply(&results);
    let due: Vec<bool> = e.recipients.iter().map(|r| r.needs_dsn()).collect();
    assert_eq!(due, [false, true, false]);
    assert_eq!(e.recipients[1].success_dsn, Some(SuccessDsn::Delivered));
    assert!(!e.is_finished());
    e.recipients[1].dsn_sent = true;
    assert!(e.is_finished());
}

#[test]
fn a_binary_message_is_never_returned_whole() {
    use xshell_smtp::{Body, Ret};
    let mut e = Envelope::new("alice@contoso.com", ["bob@fabrikam.com".to_string()]);
    assert!(!e.returns_full_message(), "no RET: the header only");
    e.ret = Some(Ret::Full);
    assert!(e.returns_full_message());
    e.body = Some(Body::EightBitMime);
    assert!(e.returns_full_message());
    e.body = Some(Body::BinaryMime);
    assert!(
        !e.returns_full_message(),
        "RFC 3030: binary octets do not travel in message/rfc822"
    );
    e.ret = Some(Ret::Hdrs);
    assert!(!e.returns_full_message());
}
