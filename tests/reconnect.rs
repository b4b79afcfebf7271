//! Reconnect-heavy traffic (issue 21): a sender that opens a new
//! connection per message, at exactly the per-source connection limit,
//! is never refused. A session's slot is released when the SMTP session
//! ends (QUIT answered, or the client gone), before the TLS close and the
//! task's teardown: a client that has read the `221` may connect again at
//! once.
//!
//! TLS session resumption on the receiving side: a partner that reconnects
//! resumes its session (no full handshake) and is still domain-secured; a
//! resumed session never authenticates what a full handshake would refuse,
//! and no ticket outlives a trust or certificate change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod transport_send_support;
mod transport_support;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, StreamOwned};
use transport_send_support::Org;
use transport_support::tls::{client_config, reply_from};
use transport_support::*;

const WAIT: Duration = Duration::from_secs(30);

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

/// A partner's TLS client: its certificate, any server accepted, and
/// rustls's default in-memory session cache (tickets and session IDs).
fn partner_client(c: &CertFiles) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = CertificateDer::pem_file_iter(&c.cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(&c.key).unwrap();
    let config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(transport_support::tls::AnyServer(provider)))
        .with_client_auth_cert(chain, key)
        .unwrap();
    Arc::new(config)
}

/// What one partner session saw: the handshake kind and the reply to
/// `MAIL FROM:<alice@partner.example>`.
struct Seen {
    kind: Option<HandshakeKind>,
    mail: String,
}

fn partner_session(port: u16, config: &Arc<ClientConfig>) -> Seen {
    let mut raw = Raw::connect(port);
    assert!(raw.reply().starts_with("220 "));
    raw.cmd("EHLO mail.partner.example");
    assert!(raw.cmd("STARTTLS").starts_with("220 "));
    let conn = ClientConnection::new(
        Arc::clone(config),
        ServerName::try_from("mail.orga.example").unwrap(),
    )
    .unwrap();
    let mut tls = StreamOwned::new(conn, raw.stream.try_clone().unwrap());
    tls.write_all(b"EHLO mail.partner.example\r\n").unwrap();
    assert!(reply_from(&mut tls).starts_with("250"));
    tls.write_all(b"MAIL FROM:<alice@partner.example>\r\n")
        .unwrap();
    let mail = reply_from(&mut tls);
    let kind = tls.conn.handshake_kind();
    tls.write_all(b"QUIT\r\n").unwrap();
    let _ = reply_from(&mut tls);
    Seen { kind, mail }
}

fn reloads(engine: &Engine) -> usize {
    engine.log_text().matches("configuration reloaded").count()
}

#[test]
fn a_partner_resumes_its_session_and_no_ticket_outlives_a_trust_change() {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    let partner_ca = lab.ca("partner-ca", "Partner CA");
    lab.trust(&partner_ca.cert);
    let partner = lab.issue(
        "partner",
        &partner_ca,
        "mail.partner.example",
        &["mail.partner.example", "partner.example"],
    );
    let engine = lab.start_engine(port);
    let config = partner_client(&partner);

    // A full handshake, then resumed ones: each still domain-secured.
    let first = partner_session(port, &config);
    assert_eq!(first.kind, Some(HandshakeKind::Full));
    assert!(first.mail.starts_with("250 "), "{}", first.mail);
    for i in 0..3 {
        let again = partner_session(port, &config);
        assert_eq!(again.kind, Some(HandshakeKind::Resumed), "session {i}");
        assert!(
            again.mail.starts_with("250 "),
            "a resumed partner session is domain-secured: {}",
            again.mail
        );
    }
    assert!(
        wait_until(WAIT, || engine.log_text().contains("resumed=true")),
        "the engine logs resumed sessions:\n{}",
        engine.log_text()
    );

    // The partner's CA is no longer trusted: the ticket the partner holds
    // was issued before; it must not resume, and a full handshake refuses.
    let roots = lab.xshell(&["get-trustedrootcertificate", "--output", "json"]);
    let roots: serde_json::Value = serde_json::from_str(&roots).unwrap();
    let tp = roots
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Subject"].as_str().unwrap_or("").contains("Partner CA"))
        .expect("the partner CA among the roots")["Thumbprint"]
        .as_str()
        .unwrap()
        .to_string();
    let before = reloads(&engine);
    lab.xshell(&["remove-trustedrootcertificate", &tp, "--force"]);
    assert!(
        wait_until(WAIT, || reloads(&engine) > before),
        "no reload:\n{}",
        engine.log_text()
    );
    let after_trust = partner_session(port, &config);
    assert_eq!(
        after_trust.kind,
        Some(HandshakeKind::Full),
        "a ticket from before the trust change was accepted"
    );
    assert!(
        after_trust.mail.starts_with("454 4.7.5"),
        "the partner is refused once its CA is not trusted: {}",
        after_trust.mail
    );

    // Trusted again, then a new SMTP certificate: no ticket from before
    // the certificate change resumes. (Which of several SMTP certificates
    // is presented is tests/certificates' business.)
    lab.trust(&partner_ca.cert);
    let _ = partner_session(port, &config);
    let warm = partner_session(port, &config);
    assert_eq!(warm.kind, Some(HandshakeKind::Resumed));
    let before = reloads(&engine);
    lab.xshell(&[
        "new-exchangecertificate",
        "--domain-name",
        ORG_FQDN,
        "--services",
        "SMTP",
        "--force",
    ]);
    assert!(
        wait_until(WAIT, || reloads(&engine) > before),
        "no reload:\n{}",
        engine.log_text()
    );
    let after_cert = partner_session(port, &config);
    assert_eq!(
        after_cert.kind,
        Some(HandshakeKind::Full),
        "a ticket from before the certificate change was accepted"
    );
    assert!(after_cert.mail.starts_with("250 "), "{}", after_cert.mail);
}

/// The sending side: the engine keeps a TLS session cache per next hop, so
/// its second connection to a partner resumes; the partner still sees the
/// verified certificate (Domain Security, AuthAs Partner).
#[test]
fn the_engine_resumes_its_sessions_to_a_partner() {
    let (a, b) = Org::partners();
    let _ea = a.start();
    let eb = b.start();
    for n in 1..=2 {
        let t = a.submit(
            "alice@orga.example",
            "bob@orgb.example",
            &format!("A to B {n}"),
        );
        assert!(t.contains("250 2.0.0 Queued as"), "submission {n}:\n{t}");
        assert!(
            wait_until(WAIT, || b.lab.maildir("orgb.example", "bob").len() == n),
            "message {n} not delivered; A's queue {:?}",
            a.queue()
        );
    }
    let log = eb.log_text();
    let established: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("TLS established"))
        .collect();
    assert_eq!(established.len(), 2, "{log}");
    assert!(
        established[0].contains("resumed=false"),
        "{}",
        established[0]
    );
    assert!(
        established[1].contains("resumed=true"),
        "{}",
        established[1]
    );
    // The sender's tracking log says domain-secured for both, the resumed
    // one included (its certificate facts come from the session).
    assert!(
        wait_until(WAIT, || tracking_lines(&a.lab.tracking_log())
            .iter()
            .filter(|e| e["event_id"] == "SEND")
            .count()
            == 2),
        "two SEND lines"
    );
    for s in tracking_lines(&a.lab.tracking_log())
        .iter()
        .filter(|e| e["event_id"] == "SEND")
    {
        assert_eq!(s["domain_secured"], true, "{s}");
        assert_eq!(s["verified_name"], "orgb.example", "{s}");
    }
    for got in b.lab.maildir("orgb.example", "bob") {
        for want in [
            "X-MS-Exchange-Organization-AuthAs: Partner\r\n",
            "X-MS-Exchange-Organization-AuthDomain: orga.example\r\n",
            "(verified OK)",
        ] {
            assert!(got.contains(want), "missing {want:?} in:\n{got}");
        }
    }
}

/// Messages of the relay run between two organizations.
const RELAY_MESSAGES: usize = 1000;

/// Between two xshell organizations, connection reuse (a batch per
/// connection) and resumption (a ticket per next connection) together:
/// 1,000 messages relayed from A to B need a handful of full handshakes.
#[test]
fn a_relay_of_many_messages_needs_few_full_handshakes() {
    let (a, b) = Org::partners();
    let _ea = a.start();
    let eb = b.start();

    // Submitted over one plaintext session to A's submission connector.
    let mut c = Raw::connect_to(&a.ip, a.submission);
    assert!(c.reply().starts_with("220 "));
    assert!(c.cmd("EHLO client.orga.example").starts_with("250"));
    for n in 0..RELAY_MESSAGES {
        assert!(c.cmd("MAIL FROM:<alice@orga.example>").starts_with("250"));
        assert!(c.cmd("RCPT TO:<bob@orgb.example>").starts_with("250"));
        assert!(c.cmd("DATA").starts_with("354"));
        let r = c.cmd(&format!("Subject: relay {n}\r\n\r\nmessage {n}\r\n."));
        assert!(r.starts_with("250 "), "message {n}: {r}");
    }
    c.cmd("QUIT");
    assert!(
        wait_until(Duration::from_secs(180), || b
            .lab
            .maildir("orgb.example", "bob")
            .len()
            == RELAY_MESSAGES),
        "{} of {RELAY_MESSAGES} delivered; A's queue {:?}",
        b.lab.maildir("orgb.example", "bob").len(),
        a.queue().len()
    );
    let log = eb.log_text();
    let sessions = log
        .lines()
        .filter(|l| l.contains("TLS established"))
        .count();
    let full = log
        .lines()
        .filter(|l| l.contains("TLS established") && l.contains("resumed=false"))
        .count();
    eprintln!(
        "relay of {RELAY_MESSAGES} messages from A to B: {sessions} TLS sessions, {full} full handshakes, {} resumed",
        sessions - full
    );
    assert!(sessions >= 1);
    // The first connection, and any opened in parallel before A held a
    // ticket, are full; every later one resumes.
    assert!(
        full <= 4,
        "{full} full handshakes of {sessions} sessions for {RELAY_MESSAGES} messages"
    );
}
