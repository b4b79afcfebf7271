//! Reconnect-heavy traffic (issue 21): a sender that opens a new
//! connection per message, at exactly the per-source connection limit,
//! is never refused. A session's slot is released when the SMTP session
//! ends (QUIT answered, or the client gone), before the TLS close and the
//! task's teardown: a client that has read the `221` may connect again at
//! once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod transport_support;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use transport_support::tls::{client_config, reply_from};
use transport_support::*;

/// Senders at once, each at most one connection: exactly the limit.
const SENDERS: usize = 4;
/// Sessions per sender, one after the other.
const SESSIONS: usize = 75;

/// One short session: banner, EHLO, STARTTLS, EHLO, QUIT, `221` read.
/// Returns the banner when the server refused the connection.
fn one_session(port: u16) -> Result<(), String> {
    let mut raw = Raw::connect(port);
    let banner = raw.reply();
    if !banner.starts_with("220 ") {
        return Err(banner);
    }
    assert!(raw.cmd("EHLO client.test").contains("STARTTLS"));
    assert!(raw.cmd("STARTTLS").starts_with("220 "));
    let conn = ClientConnection::new(
        client_config(),
        ServerName::try_from("mail.orga.example").unwrap(),
    )
    .unwrap();
    let mut tls = StreamOwned::new(conn, raw.stream.try_clone().unwrap());
    tls.write_all(b"EHLO client.test\r\n").unwrap();
    assert!(reply_from(&mut tls).starts_with("250"));
    tls.write_all(b"QUIT\r\n").unwrap();
    let bye = reply_from(&mut tls);
    assert!(bye.starts_with("221 "), "{bye:?}");
    // The next session starts now, without waiting for the close.
    Ok(())
}

#[test]
fn short_sessions_at_the_per_source_limit_are_never_refused() {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    lab.xshell(&[
        "set-receiveconnector",
        "Inbound",
        "--max-inbound-connection-per-source",
        &SENDERS.to_string(),
    ]);
    let _engine = lab.start_engine(port);

    let done = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..SENDERS)
        .map(|_| {
            let done = Arc::clone(&done);
            let refused = Arc::clone(&refused);
            thread::spawn(move || {
                for _ in 0..SESSIONS {
                    match one_session(port) {
                        Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                        Err(banner) => {
                            refused.lock().unwrap().push(banner);
                            0
                        }
                    };
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let refused = refused.lock().unwrap();
    assert!(
        refused.is_empty(),
        "{} of {} sessions refused at the banner although no sender had more than one \
         connection open (limit {SENDERS}); first: {:?}",
        refused.len(),
        SENDERS * SESSIONS,
        refused.first()
    );
    assert_eq!(done.load(Ordering::Relaxed), SENDERS * SESSIONS);
}
