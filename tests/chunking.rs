//! CHUNKING (BDAT) and BINARYMIME (RFC 3030) end to end on loopback.
//!
//! - Two organizations (the engine against itself): a client sends BDAT to
//!   orga.example's Submission connector, pipelined, with chunk octets that
//!   look like an end of data and commands, a text message with a bare LF
//!   (refused whole, the pipelined commands after it still read in step)
//!   and a BODY=BINARYMIME message; orga.example relays both accepted
//!   messages to orgb.example with BDAT (its protocol log shows the
//!   commands on the wire) and orgb.example stores them byte for byte.
//! - Postfix (Debian's, whose smtpd offers CHUNKING but not BINARYMIME) as
//!   the next hop: a text message goes with BDAT and arrives; a
//!   BINARYMIME message is not converted: 554 5.6.3 and a bounce (NDR) to
//!   its sender.
//!
//! - Exim (GnuTLS) as the sending partner: its smtp transport sends BDAT
//!   when CHUNKING is offered, over STARTTLS; the message arrives whole.
//!
//! Postfix's own smtp client never sends BDAT (only its smtpd implements
//! RFC 3030), so it cannot be the BDAT-sending partner; Exim and the
//! engine are.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/exim.rs"]
mod exim;
#[path = "common/peers.rs"]
mod peers;
#[path = "common/postfix.rs"]
mod postfix;
mod transport_send_support;
mod transport_support;

use std::fs;
use std::path::Path;
use std::time::Duration;

use postfix::{Postfix, PostfixConfig, Smtpd};
use transport_send_support::*;
use transport_support::*;

const WAIT: Duration = Duration::from_secs(30);

/// Every `.LOG` file under `dir` starting with `prefix`, as one text.
fn protolog(dir: &Path, prefix: &str) -> String {
    let Ok(entries) = fs::read_dir(dir) else {
        return String::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".LOG"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| fs::read_to_string(dir.join(n)).unwrap_or_default())
        .collect()
}

/// The raw files of `local@domain`'s Maildir/new under `mailboxes`.
fn maildir_bytes(mailboxes: &Path, domain: &str, local: &str) -> Vec<Vec<u8>> {
    let dir = mailboxes
        .join(domain)
        .join(local)
        .join("Maildir")
        .join("new");
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| fs::read(e.ok()?.path()).ok())
        .collect()
}

/// Reads `n` replies.
fn replies(raw: &mut Raw, n: usize) -> Vec<String> {
    (0..n).map(|_| raw.reply()).collect()
}

fn bdat(size: usize, last: bool) -> String {
    format!("BDAT {size}{}\r\n", if last { " LAST" } else { "" })
}

/// A binary MIME message: CRLF header section, then octets no text rule
/// allows (NUL, bare CR and LF, an end-of-data and a QUIT line).
const BINARY_BODY: &[u8] = b"\x00\xff\x89PNG\n\r\x1a\nline\r\n.\r\nQUIT\r\n\r\rend\x00";

fn binary_message(subject: &str) -> Vec<u8> {
    let mut m = format!(
        "From: <carol@orga.example>\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n\
         Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    )
    .into_bytes();
    m.extend_from_slice(BINARY_BODY);
    m
}

#[test]
fn bdat_between_two_organizations_with_binarymime_and_pipelining() {
    let (a, b) = Org::partners();
    a.xshell(&[
        "-c",
        "Set-SendConnector 'To orgb.example' -ProtocolLoggingLevel Verbose",
    ]);
    b.xshell(&[
        "-c",
        "Set-ReceiveConnector Inbound -ProtocolLoggingLevel Verbose",
    ]);
    // Per connector: orga.example's Internet connector keeps CHUNKING
    // but not BINARYMIME.
    a.xshell(&[
        "-c",
        "Set-ReceiveConnector Inbound -BinaryMimeEnabled $false",
    ]);
    let shown = a.xshell(&[
        "-c",
        "Get-ReceiveConnector Inbound | Format-List ChunkingEnabled,BinaryMimeEnabled",
    ]);
    assert!(
        shown.contains("ChunkingEnabled   : True") && shown.contains("BinaryMimeEnabled : False"),
        "{shown}"
    );
    a.xshell(&["-c", "Set-ReceiveConnector Submission -MaxMessageSize 64KB"]);
    // orgb.example starts later: the messages wait in orga.example's queue.
    let _ea = a.start();
    let mut inbound = Raw::connect_to("127.0.0.1", a.port);
    assert!(inbound.reply().starts_with("220 "));
    let ehlo = inbound.cmd("EHLO client.example");
    assert!(
        ehlo.contains("CHUNKING\r\n") && !ehlo.contains("BINARYMIME"),
        "{ehlo}"
    );
    assert!(
        inbound
            .cmd("MAIL FROM:<x@example.net> BODY=BINARYMIME")
            .starts_with("555 5.5.4 ")
    );
    drop(inbound);

    let mut raw = Raw::connect_to("127.0.0.1", a.submission);
    assert!(raw.reply().starts_with("220 "));
    let ehlo = raw.cmd("EHLO client.orga.example");
    for ext in ["CHUNKING\r\n", "BINARYMIME\r\n", "PIPELINING\r\n"] {
        assert!(ehlo.contains(ext), "{ext:?} not advertised:\n{ehlo}");
    }

    // 1. A text message in two chunks, the whole transaction and a NOOP
    //    in one write; the chunks hold "\r\n.\r\n", "QUIT" and a MAIL line.
    let c1 = "Subject: chunked text\r\n\r\nfirst chunk\r\n.\r\nQUIT\r\n";
    let c2 = "MAIL FROM:<evil@orga.example>\r\nlast line\r\n";
    let mut batch =
        String::from("MAIL FROM:<alice@orga.example>\r\nRCPT TO:<bob@orgb.example>\r\n");
    batch += &bdat(c1.len(), false);
    batch += c1;
    batch += &bdat(c2.len(), true);
    batch += c2;
    batch += "NOOP\r\n";
    raw.send(batch.as_bytes());
    let r = replies(&mut raw, 5);
    assert!(
        r[0].starts_with("250 ") && r[1].starts_with("250 "),
        "{r:?}"
    );
    assert_eq!(r[2], format!("250 2.0.0 {} octets received\r\n", c1.len()));
    assert!(r[3].starts_with("250 2.0.0 Queued as "), "{r:?}");
    assert_eq!(r[4], "250 2.0.0 OK\r\n", "{r:?}");

    // 2. A bare LF in a text (not BINARYMIME) message: refused whole, the
    //    pipelined RSET after the chunk is read as a command.
    let bad = "Subject: bare lf\r\n\r\nbad\nline\r\n";
    let mut batch =
        String::from("MAIL FROM:<alice@orga.example>\r\nRCPT TO:<bob@orgb.example>\r\n");
    batch += &bdat(bad.len(), true);
    batch += bad;
    batch += "RSET\r\n";
    raw.send(batch.as_bytes());
    let r = replies(&mut raw, 4);
    assert_eq!(
        r[2], "550 5.6.11 bare CR or LF in message data\r\n",
        "{r:?}"
    );
    assert_eq!(r[3], "250 2.0.0 OK\r\n", "{r:?}");

    // 3. A chunk past MaxMessageSize is refused before its octets are
    //    sent; they are then read and discarded, never run as commands.
    assert!(
        raw.cmd("MAIL FROM:<alice@orga.example>")
            .starts_with("250 ")
    );
    assert!(raw.cmd("RCPT TO:<bob@orgb.example>").starts_with("250 "));
    assert_eq!(
        raw.cmd("BDAT 70000 LAST"),
        "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
    );
    let mut filler = "QUIT\r\n".repeat(70000 / 6).into_bytes();
    filler.resize(70000, b'x');
    filler.extend_from_slice(b"NOOP\r\n");
    raw.send(&filler);
    assert_eq!(raw.reply(), "250 2.0.0 OK\r\n");

    // 4. DATA with BODY=BINARYMIME is refused; BDAT takes any octets.
    let bin = binary_message("binary to orgb");
    assert_eq!(
        raw.cmd("MAIL FROM:<alice@orga.example> BODY=BINARYMIME"),
        "250 2.1.0 Sender OK\r\n"
    );
    assert!(raw.cmd("RCPT TO:<bob@orgb.example>").starts_with("250 "));
    assert_eq!(
        raw.cmd("DATA"),
        "503 5.5.1 BODY=BINARYMIME requires BDAT, not DATA\r\n"
    );
    let mut batch = bdat(bin.len(), true).into_bytes();
    batch.extend_from_slice(&bin);
    batch.extend_from_slice(b"QUIT\r\n");
    raw.send(&batch);
    let r = replies(&mut raw, 2);
    assert!(r[0].starts_with("250 2.0.0 Queued as "), "{r:?}");
    assert!(r[1].starts_with("221 "), "{r:?}");

    // Queued with their BODY type (Get-Message's BodyType).
    let queued: serde_json::Value =
        serde_json::from_str(&a.xshell(&["--output", "json", "get-message"])).unwrap();
    let mut types: Vec<String> = queued
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["BodyType"].as_str().unwrap_or("none").to_string())
        .collect();
    types.sort();
    assert_eq!(types, ["BINARYMIME", "none"], "{queued:#}");
    let _eb = b.start();

    // Both accepted messages reach orgb.example, byte for byte.
    let mailboxes = b.lab.mailboxes();
    assert!(
        wait_until(WAIT, || maildir_bytes(&mailboxes, "orgb.example", "bob")
            .len()
            == 2),
        "not delivered to orgb.example: {:?}",
        b.lab.maildir("orgb.example", "bob")
    );
    let got = maildir_bytes(&mailboxes, "orgb.example", "bob");
    let text = got
        .iter()
        .find(|m| m.windows(12).any(|w| w == b"chunked text"))
        .expect("the text message");
    assert!(
        text.ends_with(
            b"\r\n\r\nfirst chunk\r\n.\r\nQUIT\r\nMAIL FROM:<evil@orga.example>\r\nlast line\r\n"
        ),
        "{}",
        String::from_utf8_lossy(text)
    );
    let binary = got
        .iter()
        .find(|m| m.windows(14).any(|w| w == b"binary to orgb"))
        .expect("the binary message");
    assert!(
        binary.ends_with(&[b"\r\n\r\n", BINARY_BODY].concat()),
        "binary content changed: {:?}",
        String::from_utf8_lossy(binary)
    );
    let stamped = String::from_utf8_lossy(binary);
    assert!(
        stamped.starts_with("Received: from mail.orga.example"),
        "{stamped}"
    );
    assert!(
        stamped.contains("Received: from client.orga.example"),
        "{stamped}"
    );
    // What orga.example sent: BDAT, BODY=BINARYMIME for the binary one,
    // never DATA (the protocol log records commands, never content).
    let send = protolog(
        &a.lab.store.join("log").join("ProtocolLog").join("SmtpSend"),
        "SEND",
    );
    assert!(send.contains("CHUNKING,"), "{send}");
    assert!(send.contains(" BODY=BINARYMIME,"), "{send}");
    assert_eq!(send.matches(",>,BDAT ").count(), 2, "{send}");
    assert!(send.contains(" LAST,"), "{send}");
    assert!(!send.contains(",>,DATA,"), "{send}");
    assert!(!send.contains("first chunk"), "content in the log:\n{send}");
    let recv = protolog(
        &b.lab
            .store
            .join("log")
            .join("ProtocolLog")
            .join("SmtpReceive"),
        "RECV",
    );
    assert_eq!(recv.matches(",<,BDAT ").count(), 2, "{recv}");
    // The engine's own submission: the refused message left nothing queued.
    assert!(
        wait_until(WAIT, || a.lab.queued_envelopes().is_empty()),
        "{:?}",
        a.lab.queued_envelopes()
    );
}

#[test]
fn postfix_next_hop_takes_bdat_and_a_binarymime_message_is_bounced() {
    if let Some(why) = postfix::unavailable() {
        peers::missing(&why);
        return;
    }
    let lab = Lab::new();
    let (port, submit, pf_port) = (free_port(), free_port(), free_port());
    lab.provision(port);
    lab.xshell(&[
        "new-receiveconnector",
        "Submission",
        "--usage",
        "custom",
        "--bindings",
        &format!("127.0.0.1:{submit}"),
        "--remote-ip-ranges",
        "127.0.0.0/8",
        "--auth-mechanism",
        "ExternalAuthoritative",
        "--permission-groups",
        "ExchangeServers",
    ]);
    lab.xshell(&[
        "-c",
        &format!(
            "New-SendConnector ToPostfix -AddressSpaces postfix.example -DNSRoutingEnabled $false -SmartHosts 127.0.0.3:{pf_port} -ProtocolLoggingLevel Verbose"
        ),
    ]);
    lab.xshell(&[
        "set-transportservice",
        "--transient-failure-retry-interval",
        "00:00:01",
        "--message-retry-interval",
        "00:00:01",
    ]);
    let ca = lab.ca("postfix-ca", "Postfix Example CA");
    let cert = lab.issue(
        "postfix",
        &ca,
        "mail.postfix.example",
        &["mail.postfix.example"],
    );
    let pf = Postfix::start(&PostfixConfig {
        hostname: "mail.postfix.example".into(),
        mailboxes: vec![("postfix.example".into(), vec!["dave".into()])],
        cert: cert.cert.clone(),
        key: cert.key.clone(),
        ca_file: ca.cert.clone(),
        services: vec![Smtpd {
            addr: "127.0.0.3".into(),
            port: pf_port,
            overrides: vec![],
        }],
        ..Default::default()
    });
    let engine = lab.start_engine(port);

    let mut raw = Raw::connect_to("127.0.0.1", submit);
    assert!(raw.reply().starts_with("220 "));
    assert!(raw.cmd("EHLO client.orga.example").contains("CHUNKING"));
    // A text message (8-bit, with a line starting with a dot) and a binary one.
    let text = "Subject: to postfix by bdat\r\n\r\n.leading dot\r\nété\r\n";
    let mut batch = String::from(
        "MAIL FROM:<carol@orga.example> BODY=8BITMIME\r\nRCPT TO:<dave@postfix.example>\r\n",
    );
    batch += &bdat(text.len(), true);
    batch += text;
    raw.send(batch.as_bytes());
    let r = replies(&mut raw, 3);
    assert!(r[2].starts_with("250 2.0.0 Queued as "), "{r:?}");
    let bin = binary_message("binary to postfix");
    let mut batch = format!(
        "MAIL FROM:<carol@orga.example> BODY=BINARYMIME\r\nRCPT TO:<dave@postfix.example>\r\n{}",
        bdat(bin.len(), true)
    )
    .into_bytes();
    batch.extend_from_slice(&bin);
    batch.extend_from_slice(b"QUIT\r\n");
    raw.send(&batch);
    let r = replies(&mut raw, 4);
    assert!(r[2].starts_with("250 2.0.0 Queued as "), "{r:?}");

    // The text message arrives at Postfix, its leading dot intact.
    assert!(
        wait_until(WAIT, || !pf.maildir("postfix.example", "dave").is_empty()),
        "nothing reached postfix\n--- maillog:\n{}\n--- engine:\n{}",
        pf.maillog(),
        engine.log_text()
    );
    let m = &pf.maildir("postfix.example", "dave")[0];
    assert!(m.contains("\n.leading dot\n"), "{m}");
    assert!(m.contains("été"), "{m}");
    // The binary one is bounced to carol: Postfix offers no BINARYMIME.
    assert!(
        wait_until(WAIT, || !lab.maildir("orga.example", "carol").is_empty()),
        "no bounce for the binary message\n--- engine:\n{}",
        engine.log_text()
    );
    let ndr = &lab.maildir("orga.example", "carol")[0];
    assert!(ndr.contains("5.6.3"), "{ndr}");
    assert!(ndr.contains("dave@postfix.example"), "{ndr}");
    assert_eq!(pf.maildir("postfix.example", "dave").len(), 1);
    // The wire, from our send protocol log: BDAT to Postfix, never DATA.
    let send = protolog(
        &lab.store.join("log").join("ProtocolLog").join("SmtpSend"),
        "SEND",
    );
    assert!(send.contains(",<,250 CHUNKING,"), "{send}");
    let bdat_line = send
        .lines()
        .find(|l| l.contains(",>,BDAT "))
        .unwrap_or_else(|| panic!("no BDAT in:\n{send}"));
    assert!(bdat_line.ends_with(" LAST,"), "{bdat_line}");
    assert!(!send.contains(",>,DATA,"), "{send}");
    assert!(!send.contains("BODY=BINARYMIME"), "{send}");
    assert!(pf.maillog().contains("status=sent"), "{}", pf.maillog());
}

#[test]
fn exim_sends_bdat_over_starttls_and_the_message_arrives_whole() {
    let bin = match exim::binary() {
        Ok(b) => b,
        Err(why) => {
            peers::missing(&why);
            return;
        }
    };
    let (_a, b) = Org::partners();
    b.xshell(&[
        "-c",
        "Set-ReceiveConnector Inbound -ProtocolLoggingLevel Verbose",
    ]);
    let _eb = b.start();
    // A body of 4,000 lines: dot-stuffing would touch the ones starting
    // with '.', BDAT must not.
    let mut message = String::from(
        "From: <erin@fabrikam.example>\r\nTo: <bob@orgb.example>\r\nSubject: chunked by exim\r\n\r\n",
    );
    for i in 0..4000 {
        message += &format!(".{i} a line of the body that starts with a dot\r\n");
    }
    message += ".\r\nlast line\r\n";
    let log = exim::send(
        &bin,
        &b.ip,
        b.port,
        "erin@fabrikam.example",
        "bob@orgb.example",
        message.as_bytes(),
    );
    // Exim pipelines MAIL, RCPT and a first chunk (the header), then the
    // body as BDAT ... LAST and QUIT.
    assert!(log.contains("SMTP+> BDAT "), "{log}");
    assert!(log.contains(" LAST"), "{log}");
    // Exim's delivery line: K = sent with CHUNKING, X = the TLS cipher.
    let delivered = log
        .lines()
        .find(|l| l.contains(" => bob@orgb.example"))
        .unwrap_or_else(|| panic!("exim did not deliver:\n{log}"));
    assert!(delivered.contains(" K "), "not sent with BDAT: {delivered}");
    assert!(delivered.contains(" X=TLS1."), "not over TLS: {delivered}");

    let mailboxes = b.lab.mailboxes();
    assert!(
        wait_until(WAIT, || !maildir_bytes(&mailboxes, "orgb.example", "bob")
            .is_empty()),
        "not delivered: {log}"
    );
    let got = maildir_bytes(&mailboxes, "orgb.example", "bob");
    let text = String::from_utf8_lossy(&got[0]);
    let body = &message[message.find("\r\n\r\n").unwrap()..];
    assert!(text.ends_with(body), "the body changed on the way");
    assert!(text.contains("Subject: chunked by exim"), "{text}");
    let recv = protolog(
        &b.lab
            .store
            .join("log")
            .join("ProtocolLog")
            .join("SmtpReceive"),
        "RECV",
    );
    assert!(recv.contains(",<,STARTTLS,"), "{recv}");
    assert!(recv.contains(",<,BDAT "), "{recv}");
    assert!(!recv.contains(",<,DATA,"), "{recv}");
}
