use std::time::Instant;

use super::*;
use crate::queue::Envelope;
use xshell_core::model::{AcceptedDomain, AcceptedDomainType, OrgConfig};
use xshell_core::store::Store;

/// A queue, mailboxes and tracking log under `dir`, with orga.example
/// Authoritative.
struct Fixture {
    config: Arc<ArcSwap<RuntimeConfig>>,
    queue: Arc<Queue>,
    mailboxes: std::path::PathBuf,
    log_path: std::path::PathBuf,
    tracking: Arc<TrackingLog>,
}

fn fixture(dir: &std::path::Path) -> Fixture {
    let store = Store::open_dir(dir.join("store"));
    let mut cfg = OrgConfig::default();
    cfg.accepted_domains.push(AcceptedDomain {
        name: "OrgA".into(),
        domain_name: "orga.example".parse().unwrap(),
        domain_type: AcceptedDomainType::Authoritative,
        default: true,
    });
    let rt = RuntimeConfig::compile(&cfg, store.backend(), dir, time::OffsetDateTime::now_utc());
    let mailboxes = dir.join("mailboxes");
    std::fs::create_dir_all(&mailboxes).unwrap();
    let log_path = dir.join("tracking.jsonl");
    Fixture {
        config: Arc::new(ArcSwap::from_pointee(rt)),
        queue: Arc::new(Queue::open(dir.join("queue")).unwrap()),
        mailboxes,
        tracking: Arc::new(TrackingLog::open(Some(&log_path)).unwrap()),
        log_path,
    }
}

#[test]
fn local_recipients_are_delivered_and_the_others_stay_pending() {
    let tmp = tempfile::tempdir().unwrap();
    let Fixture {
        config,
        queue,
        mailboxes,
        log_path,
        tracking,
    } = fixture(tmp.path());

    let msg = b"Message-ID: <m1@x>\r\nSubject: t\r\n\r\nhi\r\n";
    let mixed = queue
        .enqueue(
            &Envelope::new(
                "a@x.example",
                [
                    "bob@orga.example".to_string(),
                    "carol@remote.example".to_string(),
                ],
            ),
            msg,
        )
        .unwrap();
    let local = queue
        .enqueue(
            &Envelope::new("a@x.example", ["Dave@OrgA.example".to_string()]),
            msg,
        )
        .unwrap();

    // queued before the worker starts: picked up by the start-up scan
    let worker = DeliveryWorker::spawn(
        Arc::clone(&queue),
        config,
        mailboxes.clone(),
        tracking,
        Duration::from_secs(60),
        None,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while queue.get(&local).is_ok() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    worker.stop();

    assert!(matches!(queue.get(&local), Err(QueueError::NotFound(_))));
    let m = queue.get(&mixed).unwrap();
    assert!(matches!(
        m.envelope.recipients[0].status,
        RecipientStatus::Delivered { .. }
    ));
    assert_eq!(m.envelope.recipients[1].status, RecipientStatus::Pending);
    assert_eq!(m.envelope.attempts, 0);
    for who in ["bob", "dave"] {
        let dir = mailboxes.join("orga.example").join(who).join("Maildir/new");
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(files.len(), 1, "{who}");
    }
    let log = std::fs::read_to_string(&log_path).unwrap();
    let delivers = log.lines().filter(|l| l.contains("\"DELIVER\"")).count();
    assert_eq!(delivers, 2, "{log}");
    assert!(log.contains("<m1@x>"));
}

#[test]
fn an_id_delivered_by_the_start_scan_is_not_handed_to_the_runner() {
    let tmp = tempfile::tempdir().unwrap();
    let Fixture {
        config,
        queue,
        mailboxes,
        tracking,
        ..
    } = fixture(tmp.path());
    // Queued before the worker starts: its first scan delivers it.
    let id = queue
        .enqueue(
            &Envelope::new("a@x.example", vec!["ann@orga.example".to_string()]),
            b"Message-ID: <s@x>\r\n\r\nbody\r\n",
        )
        .unwrap();
    let (to_runner, mut inbox) = crate::runner::channel();
    let worker = DeliveryWorker::spawn(
        Arc::clone(&queue),
        config,
        mailboxes,
        tracking,
        Duration::from_secs(60),
        Some(to_runner),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while queue.get(&id).is_ok() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(matches!(queue.get(&id), Err(QueueError::NotFound(_))));
    // The SMTP side's notice arrives after that: nothing is left to send.
    worker.notifier().queued(id);
    worker.stop();
    assert_eq!(inbox.try_recv_for_tests(), None);
}

#[test]
fn a_burst_is_delivered_in_batches_and_leaves_the_queue() {
    let tmp = tempfile::tempdir().unwrap();
    let Fixture {
        config,
        queue,
        mailboxes,
        log_path,
        tracking,
    } = fixture(tmp.path());
    let (to_runner, mut inbox) = crate::runner::channel();
    let worker = DeliveryWorker::spawn(
        Arc::clone(&queue),
        config,
        mailboxes.clone(),
        tracking,
        Duration::from_secs(60),
        Some(to_runner),
    )
    .unwrap();
    let notifier = worker.notifier();
    let mut local = Vec::new();
    let mut mixed = Vec::new();
    for i in 0..60 {
        let who = ["ann", "bob", "cid"][i % 3];
        let mut rcpts = vec![format!("{who}@orga.example")];
        if i % 10 == 0 {
            rcpts.push("far@remote.example".to_string());
        }
        let msg = format!("Message-ID: <b{i}@x>\r\n\r\nbody {i}\r\n");
        let id = queue
            .enqueue(&Envelope::new("a@x.example", rcpts), msg.as_bytes())
            .unwrap();
        if i % 10 == 0 {
            mixed.push(id.clone());
        } else {
            local.push(id.clone());
        }
        notifier.queued(id);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while local.iter().any(|id| queue.get(id).is_ok()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    worker.stop();
    for id in &local {
        assert!(
            matches!(queue.get(id), Err(QueueError::NotFound(_))),
            "{id}"
        );
    }
    for id in &mixed {
        let m = queue.get(id).unwrap();
        assert!(matches!(
            m.envelope.recipients[0].status,
            RecipientStatus::Delivered { .. }
        ));
        assert_eq!(m.envelope.recipients[1].status, RecipientStatus::Pending);
    }
    for who in ["ann", "bob", "cid"] {
        let dir = mailboxes.join("orga.example").join(who).join("Maildir/new");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 20, "{who}");
    }
    // The runner hears only about what is left for it: the mixed messages.
    let mut told = Vec::new();
    while let Some(id) = inbox.try_recv_for_tests() {
        told.push(id);
    }
    told.sort();
    told.dedup();
    mixed.sort();
    assert_eq!(told, mixed);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(
        log.lines().filter(|l| l.contains("\"DELIVER\"")).count(),
        60
    );
}
