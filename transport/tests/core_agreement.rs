//! The queue cmdlets do not depend on the transport crate, so core keeps
//! its own copies of three things the engine owns: where the queue and the
//! tracking log are, which send connector carries a domain, and how to read
//! a queued envelope. These tests hold the copies to the originals.
#![allow(clippy::unwrap_used)]

use xshell_core::control::{self, spool, view};
use xshell_core::model::{OrgConfig, SendConnector};
use xshell_transport::config::Paths;
use xshell_transport::queue::{Envelope, Queue, RecipientStatus};
use xshell_transport::routing;

#[test]
fn state_paths_agree_with_the_engine() {
    let state = std::path::Path::new("/var/lib/xshell");
    let mut cfg = OrgConfig::default();
    for (queue, log, enabled) in [
        (None, None, true),
        (
            Some("/srv/q".to_string()),
            Some("/srv/log".to_string()),
            true,
        ),
        (Some("  ".to_string()), Some(String::new()), true),
        (None, Some("/srv/log".to_string()), false),
    ] {
        cfg.transport_service.queue_database_path = queue;
        cfg.transport_service.message_tracking_log_path = log;
        cfg.transport_service.message_tracking_log_enabled = enabled;
        let p = Paths::resolve(&cfg, state);
        assert_eq!(control::queue_dir(&cfg, state), p.queue);
        assert_eq!(control::tracking_log_path(&cfg, state), p.tracking_log);
    }
}

#[test]
fn connector_choice_agrees_with_the_router() {
    let mk = |name: &str, spaces: &[&str], enabled: bool| {
        let mut c = SendConnector::new(name);
        c.address_spaces = spaces.iter().map(|s| s.parse().unwrap()).collect();
        c.enabled = enabled;
        c
    };
    let connectors = vec![
        mk("All", &["*;10"], true),
        mk("Cheap", &["*;1"], true),
        mk("Contoso", &["contoso.com;5", "*.contoso.com;1"], true),
        mk("Sub", &["*.sub.contoso.com;50"], true),
        mk("Off", &["fabrikam.com"], false),
        mk("b", &["tie.example;3"], true),
        mk("A", &["tie.example;3"], true),
    ];
    for d in [
        "contoso.com",
        "mail.contoso.com",
        "x.sub.contoso.com",
        "fabrikam.com",
        "tie.example",
        "other.example",
    ] {
        let ours = view::select_connector(d, &connectors).map(|c| c.name.clone());
        let theirs = routing::select_connector(d, &connectors).map(|c| c.name.clone());
        assert_eq!(ours, theirs, "{d}");
    }
    assert_eq!(
        view::select_connector("x", &connectors[4..5]).map(|c| c.name.clone()),
        None
    );
}

#[test]
fn the_reader_understands_what_the_queue_writes() {
    let t = tempfile::tempdir().unwrap();
    let q = Queue::open(t.path()).unwrap();
    let mut env = Envelope::new(
        "a@x.example",
        ["b@y.example".to_string(), "c@y.example".to_string()],
    );
    env.connector = Some("Inbound".into());
    let id = q
        .enqueue(&env, b"Subject: hi\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n")
        .unwrap();
    q.defer(
        &id,
        &[(
            "c@y.example".into(),
            RecipientStatus::Deferred {
                reason: "451 4.4.1 busy".into(),
            },
        )],
        4_000_000_000_000,
    )
    .unwrap();
    let s = spool::read(t.path()).unwrap();
    assert_eq!(s.unreadable, 0);
    let m = &s.messages[0];
    assert_eq!(m.id, id.to_string());
    assert_eq!(m.sender, "a@x.example");
    assert_eq!(m.attempts, 1);
    assert_eq!(m.next_retry_ms, Some(4_000_000_000_000));
    assert_eq!(m.connector.as_deref(), Some("Inbound"));
    assert_eq!(m.recipients[0].1, spool::RecipientState::Pending);
    assert_eq!(
        m.recipients[1].1,
        spool::RecipientState::Deferred("451 4.4.1 busy".into())
    );
    let h = spool::read_headers(t.path(), m.id.as_str());
    assert_eq!(h.subject.as_deref(), Some("hi"));
    assert_eq!(h.message_id.as_deref(), Some("<1@x>"));

    // Retry-Queue's queue method: due now, no attempt counted
    q.set_next_retry(&id, Some(5)).unwrap();
    let m = spool::read_one(t.path(), id.as_str()).unwrap().unwrap();
    assert_eq!((m.attempts, m.next_retry_ms), (1, Some(5)));
}
