//! The sending side against a real SMTP peer: Postfix's `smtp-sink` on a
//! loopback port. smtp-sink has no TLS, so this covers plaintext delivery
//! (opportunistic policy, STARTTLS not offered), two messages on one
//! connection, and hard rejections at RCPT. Skipped with a message when
//! smtp-sink is not installed, and failed under CI (`.ci/run` installs
//! postfix).

#![allow(clippy::unwrap_used)]

#[path = "../../tests/common/peers.rs"]
mod peers;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use xshell_smtp::client::{Content, Transaction};
use xshell_transport::dns::Host;
use xshell_transport::outbound::deliver::{
    Progress, SendOptions, Timeouts, deliver, deliver_with_progress,
};
use xshell_transport::outbound::tls::{TlsMaterial, TlsPolicy, client_config};

fn smtp_sink() -> Option<PathBuf> {
    ["/usr/sbin/smtp-sink", "/usr/bin/smtp-sink"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

struct Sink {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when an SMTP server greets on `addr`.
fn greets(addr: SocketAddr) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut buf = [0u8; 64];
    matches!(std::io::Read::read(&mut s, &mut buf), Ok(n) if n >= 3 && buf.starts_with(b"220"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts smtp-sink with `extra` options, dumping into `dump`.
fn start_sink(bin: &Path, dump: &Path, extra: &[&str]) -> Sink {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut cmd = Command::new(bin);
    // root must drop privileges (-u); the dump folder is world-writable
    let root = std::env::var("USER").map(|u| u == "root").unwrap_or(true);
    if root {
        cmd.args(["-u", "nobody"]);
    }
    cmd.arg("-D")
        .arg(dump)
        .args(extra)
        .arg(addr.to_string())
        .arg("10")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let mut child = child;
    let deadline = Instant::now() + Duration::from_secs(10);
    // Wait for smtp-sink's own banner: a bare connect could reach another
    // test's short-lived port probe on the same port.
    while !greets(addr) {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            panic!("smtp-sink {extra:?} exited: {status}: {err}");
        }
        assert!(Instant::now() < deadline, "smtp-sink did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Sink { child, addr }
}

fn options() -> SendOptions {
    let policy = TlsPolicy::Opportunistic;
    SendOptions {
        auth: None,
        source_ip: None,
        helo_name: "mail.orga.example".into(),
        loop_detection: true,
        tls: Some(client_config(&policy, &TlsMaterial::default()).unwrap()),
        policy,
        timeouts: Timeouts {
            connect: Duration::from_secs(5),
            command: Duration::from_secs(10),
            data_end: Duration::from_secs(10),
        },
        protocol_log: None,
    }
}

fn tx(subject: &str, rcpts: &[&str]) -> Transaction {
    Transaction {
        sender: "alice@orga.example".into(),
        recipients: rcpts.iter().map(|s| s.to_string()).collect(),
        message: format!(
            "From: alice@orga.example\r\nSubject: {subject}\r\n\r\n.dot line\r\nbody\r\n"
        )
        .into_bytes()
        .into(),
        dsn: Default::default(),
        smtputf8: false,
        requiretls: false,
    }
}

fn host(addr: SocketAddr) -> Vec<Host> {
    vec![Host {
        name: "sink.orgc.example".into(),
        preference: 0,
        addrs: vec![addr],
    }]
}

fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    dir
}

#[tokio::test]
async fn plaintext_delivery_to_smtp_sink() {
    let Some(bin) = smtp_sink() else {
        peers::missing("smtp-sink is not installed (apt-get install postfix)");
        return;
    };
    let dir = workdir();
    let dump = dir.path().join("dump");
    let sink = start_sink(&bin, &dump, &[]);
    let report = tokio::time::timeout(
        Duration::from_secs(30),
        deliver(
            &host(sink.addr),
            &options(),
            vec![
                tx("first", &["bob@orgc.example", "carol@orgc.example"]),
                tx("second", &["dave@orgc.example"]),
            ],
        ),
    )
    .await
    .unwrap();
    assert!(report.tls.is_none(), "smtp-sink offers no STARTTLS");
    for m in &report.messages {
        for (a, o) in &m.recipients {
            assert!(o.is_delivered(), "{a}: {o:?}");
        }
    }
    drop(sink);
    let dumped = std::fs::read(&dump).unwrap();
    let text = String::from_utf8_lossy(&dumped);
    assert!(text.contains("Subject: first"), "{text}");
    assert!(text.contains("Subject: second"), "{text}");
    // the dot-stuffed line arrived unstuffed
    assert!(text.contains("\n.dot line"), "{text}");
    assert!(!text.contains("..dot line"), "{text}");
}

#[tokio::test]
async fn rejections_at_rcpt_are_classified_by_the_reply() {
    let Some(bin) = smtp_sink() else {
        peers::missing("smtp-sink is not installed (apt-get install postfix)");
        return;
    };
    let dir = workdir();
    // -r rejects with a soft reply (450 4.3.0), -f with a hard one (-B sets it)
    for (extra, permanent, code) in [
        (vec!["-r", "RCPT"], false, 450),
        (
            vec!["-f", "RCPT", "-B", "550 5.1.1 No such user"],
            true,
            550,
        ),
    ] {
        let sink = start_sink(&bin, &dir.path().join("dump"), &extra);
        let report = tokio::time::timeout(
            Duration::from_secs(30),
            deliver(
                &host(sink.addr),
                &options(),
                vec![tx("x", &["bob@orgc.example"])],
            ),
        )
        .await
        .unwrap();
        let (_, o) = &report.messages[0].recipients[0];
        assert_eq!(o.is_permanent(), permanent, "{o:?}");
        assert_eq!(o.is_temporary(), !permanent, "{o:?}");
        assert_eq!(o.reply().code, code);
    }
}

#[tokio::test]
async fn progress_reports_each_message_as_its_transaction_ends() {
    let Some(bin) = smtp_sink() else {
        peers::missing("smtp-sink is not installed (apt-get install postfix)");
        return;
    };
    let dir = workdir();
    let sink = start_sink(&bin, &dir.path().join("dump"), &[]);
    // capacity 1: the session waits for the reader between messages
    let (progress, mut rx) = tokio::sync::mpsc::channel::<Progress>(1);
    let send = async {
        let report = deliver_with_progress(
            &host(sink.addr),
            &options(),
            vec![
                tx("one", &["bob@orgc.example"]),
                tx("two", &["carol@orgc.example", "dave@orgc.example"]),
                tx("three", &["erin@orgc.example"]),
            ],
            Some(&progress),
        )
        .await;
        drop(progress);
        report
    };
    let read = async {
        let mut seen: Vec<Progress> = Vec::new();
        while let Some(p) = rx.recv().await {
            seen.push(p);
        }
        seen
    };
    let (report, seen) =
        tokio::time::timeout(Duration::from_secs(30), async { tokio::join!(send, read) })
            .await
            .unwrap();
    assert_eq!(report.messages.len(), 3);
    let indexes: Vec<usize> = seen.iter().map(|p| p.index).collect();
    assert_eq!(indexes, [0, 1, 2], "once per message, in order");
    for p in &seen {
        assert_eq!(p.report, report.messages[p.index], "the final outcome");
        assert!(
            p.report.recipients.iter().all(|(_, o)| o.is_delivered()),
            "{p:?}"
        );
        assert_eq!(p.host, ("sink.orgc.example".to_string(), sink.addr));
        assert!(p.tls.is_none());
    }
}

/// A message from the queue is streamed: read in pieces and dot-stuffed on
/// the way (lines starting with a dot across piece boundaries included);
/// the peer receives exactly the queued bytes.
#[tokio::test]
async fn a_queued_message_is_streamed_to_the_peer() {
    let Some(bin) = smtp_sink() else {
        peers::missing("smtp-sink is not installed (apt-get install postfix)");
        return;
    };
    let dir = workdir();
    let queue = xshell_transport::queue::Queue::open(dir.path().join("queue")).unwrap();
    // 3 MB of lines that start with dots, some 8-bit, no line aligned with
    // the 64 KB pieces
    let mut msg = b"From: alice@orga.example\r\nSubject: streamed\r\n\r\n".to_vec();
    let mut i = 0u32;
    while msg.len() < 3 << 20 {
        msg.extend_from_slice(
            format!(".{i} {}\r\n", ".x\u{e9}".repeat((i % 37) as usize)).as_bytes(),
        );
        i += 1;
    }
    let id = queue
        .enqueue(
            &xshell_transport::queue::Envelope::new(
                "alice@orga.example",
                vec!["bob@orgc.example".into()],
            ),
            &msg,
        )
        .unwrap();
    let file = queue.open_message(&id).unwrap();
    assert!(file.has_8bit().unwrap());
    let dump = dir.path().join("dump");
    let sink = start_sink(&bin, &dump, &[]);
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        deliver(
            &host(sink.addr),
            &options(),
            vec![Transaction {
                sender: "alice@orga.example".into(),
                recipients: vec!["bob@orgc.example".into()],
                message: Content::Spooled {
                    file: std::sync::Arc::new(file),
                    eight_bit: true,
                    binary: false,
                },
                dsn: Default::default(),
                smtputf8: false,
                requiretls: false,
            }],
        ),
    )
    .await
    .unwrap();
    for m in &report.messages {
        for (a, o) in &m.recipients {
            assert!(o.is_delivered(), "{a}: {o:?}");
        }
    }
    drop(sink);
    let dumped = std::fs::read(&dump).unwrap();
    let at = dumped
        .windows(b"From: alice".len())
        .position(|w| w == b"From: alice")
        .expect("message in the dump");
    // smtp-sink stores lines with LF ends
    let msg: Vec<u8> = String::from_utf8(msg)
        .unwrap()
        .replace("\r\n", "\n")
        .into_bytes();
    let got = &dumped[at..];
    let differ = got.iter().zip(&msg).position(|(a, b)| a != b);
    assert!(
        got.starts_with(&msg),
        "the peer did not receive the queued bytes: {} of {} octets, first difference at {differ:?}: {:?} vs {:?}",
        got.len(),
        msg.len(),
        differ
            .map(|d| String::from_utf8_lossy(&got[d.saturating_sub(40)..(d + 40).min(got.len())])),
        differ.map(|d| String::from_utf8_lossy(&msg[d.saturating_sub(40)..d + 40])),
    );
}

/// RFC 6531 3.4 against a real peer that does not offer SMTPUTF8
/// (smtp-sink): a non-ASCII envelope is not sent and fails permanently
/// with 550 5.6.7 (what the NDR reports), nor is an ASCII envelope whose
/// header fields are UTF-8 (`smtputf8`: RFC 6532); an ASCII message is
/// delivered as before, without the parameter.
#[tokio::test]
async fn smtputf8_envelope_is_refused_for_a_hop_without_smtputf8() {
    let Some(bin) = smtp_sink() else {
        peers::missing("smtp-sink is not installed (apt-get install postfix)");
        return;
    };
    let dir = workdir();
    let dump = dir.path().join("dump");
    let sink = start_sink(&bin, &dump, &[]);
    let msg = |subject: &str, rcpt: &str, utf8_header: bool| Transaction {
        smtputf8: utf8_header,
        requiretls: false,
        ..tx(subject, &[rcpt])
    };
    let report = tokio::time::timeout(
        Duration::from_secs(30),
        deliver(
            &host(sink.addr),
            &options(),
            vec![
                msg("utf8", "jörg@bücher.example", false),
                msg("ascii", "bob@orgc.example", false),
                msg("utf8 header", "bob@orgc.example", true),
            ],
        ),
    )
    .await
    .unwrap();
    let (a, o) = &report.messages[0].recipients[0];
    assert!(o.is_permanent(), "{a}: {o:?}");
    assert_eq!((o.reply().code, o.reply().enhanced), (550, Some((5, 6, 7))));
    assert!(
        o.reply()
            .to_string()
            .contains("SMTPUTF8 not supported by next hop")
    );
    let (a, o) = &report.messages[1].recipients[0];
    assert!(o.is_delivered(), "{a}: {o:?}");
    let (a, o) = &report.messages[2].recipients[0];
    assert!(o.is_permanent(), "{a}: {o:?}");
    assert_eq!((o.reply().code, o.reply().enhanced), (550, Some((5, 6, 7))));
    drop(sink);
    let text = String::from_utf8_lossy(&std::fs::read(&dump).unwrap()).into_owned();
    assert!(text.contains("Subject: ascii"), "{text}");
    assert!(!text.contains("Subject: utf8"), "{text}");
}
