//! Protocol logs end to end on loopback: receive and send connectors with
//! ProtocolLoggingLevel Verbose write Exchange's CSV logs in their folders
//! (header, fields, TLS lines with both certificates, the Domain Security
//! verdict and a refused certificate's reason); no message body and no
//! AUTH secret ever reaches them; connectors left at None log nothing.
//! (Rotation and pruning: the writer's unit tests in
//! transport/src/protolog.rs, with a fake clock.)
#![allow(clippy::unwrap_used)]

mod transport_send_support;
mod transport_support;

use std::fs;
use std::path::Path;
use std::time::Duration;

use transport_send_support::*;
use transport_support::*;

const WAIT: Duration = Duration::from_secs(30);
const BODY: &str = "BODY-MARKER-7731 never in a log";

/// Every `.LOG` file in `dir` (sorted), as text.
fn logs(dir: &Path, prefix: &str) -> Vec<(String, String)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(String, String)> = entries
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            (name.starts_with(prefix) && name.ends_with(".LOG")).then_some(name)
        })
        .map(|n| {
            let text = fs::read_to_string(dir.join(&n)).unwrap();
            (n, text)
        })
        .collect();
    v.sort();
    v
}

fn all_text(dir: &Path, prefix: &str) -> String {
    logs(dir, prefix)
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join("")
}

fn check_file_format(dir: &Path, prefix: &str, log_type: &str) {
    let files = logs(dir, prefix);
    assert!(!files.is_empty(), "no {prefix} log in {}", dir.display());
    for (name, text) in files {
        // RECV<yyyymmddhh>-<n>.LOG
        let stem = name.strip_prefix(prefix).unwrap();
        assert!(
            stem.len() > 14 && stem[..10].bytes().all(|b| b.is_ascii_digit()),
            "{name}"
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("#Software: xshell-transport"),
            "{text}"
        );
        assert!(lines[1].starts_with("#Version: "), "{text}");
        assert_eq!(lines[2], format!("#Log-type: {log_type}"));
        assert!(lines[3].starts_with("#Date: 20"), "{text}");
        assert_eq!(
            lines[4],
            "#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context"
        );
        for l in &lines[5..] {
            // 2026-12-07T16:49:32.123Z
            let t = &l[..24];
            assert!(
                t.ends_with('Z') && &t[10..11] == "T" && &t[19..20] == ".",
                "{l}"
            );
        }
    }
}

/// The records of one session, by its session id (third field).
fn session_of<'a>(text: &'a str, containing: &str) -> Vec<&'a str> {
    let line = text
        .lines()
        .find(|l| l.contains(containing))
        .unwrap_or_else(|| panic!("no line with {containing:?} in:\n{text}"));
    let id = line.split(',').nth(2).unwrap();
    text.lines()
        .filter(|l| l.split(',').nth(2) == Some(id))
        .collect()
}

#[test]
fn receive_protocol_log_with_domain_security() {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    lab.xshell(&[
        "-c",
        "Set-ReceiveConnector Inbound -ProtocolLoggingLevel Verbose",
    ]);
    let partner_ca = lab.ca("partner-ca", "Partner CA");
    lab.trust(&partner_ca.cert);
    let partner = lab.issue(
        "partner",
        &partner_ca,
        "mail.partner.example",
        &["mail.partner.example", "partner.example"],
    );
    let rogue_ca = lab.ca("rogue-ca", "Rogue CA");
    let rogue = lab.issue(
        "rogue",
        &rogue_ca,
        "mail.partner.example",
        &["mail.partner.example"],
    );
    let _engine = lab.start_engine(port);
    let send = |c: &CertFiles| {
        swaks(
            port,
            &[
                "--from",
                "alice@partner.example",
                "--to",
                "bob@orga.example",
                "--tls",
                "--tls-cert",
                c.cert.to_str().unwrap(),
                "--tls-key",
                c.key.to_str().unwrap(),
                "--body",
                BODY,
            ],
        )
    };
    let t = send(&partner);
    assert!(t.contains("250 2.0.0 Queued as"), "{t}");
    let t = send(&rogue);
    assert!(t.contains("454 4.7.5"), "{t}");
    // An AUTH line (not offered here) still never shows its response.
    let mut raw = Raw::connect(port);
    raw.reply();
    raw.cmd("EHLO client.test");
    raw.cmd("AUTH PLAIN AHJlbGF5AFMzY3JldC1wdw==");
    raw.cmd("QUIT");
    drop(raw);

    let dir = lab
        .store
        .join("log")
        .join("ProtocolLog")
        .join("SmtpReceive");
    assert!(
        wait_until(Duration::from_secs(10), || all_text(&dir, "RECV")
            .contains("AUTH PLAIN ****")
            && all_text(&dir, "RECV").matches(",-,").count() >= 3),
        "{}",
        all_text(&dir, "RECV")
    );
    check_file_format(&dir, "RECV", "SMTP Receive Protocol Log");
    let text = all_text(&dir, "RECV");
    assert!(!text.contains("BODY-MARKER-7731"), "{text}");
    assert!(!text.contains("AHJlbGF5AFMzY3JldC1wdw"), "{text}");

    // the partner's session, in order
    let s = session_of(&text, "AuthAs=Partner");
    let joined = s.join("\n");
    assert!(s[0].ends_with(",+,,"), "{joined}");
    assert!(
        s[0].contains(",XSHELL01\\Inbound,") || s[0].contains(",\"XSHELL01\\Inbound\","),
        "{joined}"
    );
    assert!(
        s[0].contains(&format!(",0,127.0.0.1:{port},127.0.0.1:")),
        "{joined}"
    );
    let seqs: Vec<u64> = s
        .iter()
        .map(|l| l.split(',').nth(3).unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs, (0..s.len() as u64).collect::<Vec<_>>(), "{joined}");
    assert_eq!(s[0].split(',').nth(2).unwrap().len(), 16);
    for want in [
        ",>,220 ",
        ",<,EHLO ",
        ",<,STARTTLS,",
        "TLS protocol TLSv1.3 negotiation succeeded using cipher suite TLS13_",
        ",*,CN=mail.orga.example,Sending certificate",
        ",*,CN=mail.partner.example,Received certificate",
        ",*,CN=Partner CA,Certificate issuer name",
        "Certificate validated",
        "AuthAs=Partner; AuthMechanism=MutualTLS; AuthDomain=partner.example; DomainSecured=true",
        ",<,DATA,",
        ",>,354 ",
        ",*,,receiving message",
        ",>,250 2.0.0 Queued as ",
        ",<,QUIT,",
        ",-,,",
    ] {
        assert!(joined.contains(want), "missing {want:?} in:\n{joined}");
    }
    // the refused certificate: the reason
    let s = session_of(&text, "CN=Rogue CA");
    let joined = s.join("\n");
    for want in [
        "Certificate validation failed",
        "does not chain to a trusted root",
        "Sender refused",
        "454 4.7.5 Certificate validation failure; Domain Security for partner.example",
    ] {
        assert!(joined.contains(want), "missing {want:?} in:\n{joined}");
    }
    // the thumbprint of what we received: 40 hex digits
    assert!(
        joined
            .lines()
            .any(|l| l.ends_with(",Certificate thumbprint")
                && l.split(',').nth(7).is_some_and(|t| t.len() == 40)),
        "{joined}"
    );

    // The engine follows Set-TransportService: another folder, small
    // files (a new one at 4 KB), the oldest deleted beyond 12 KB.
    let custom = lab.work.join("custom recv logs");
    lab.xshell(&[
        "-c",
        &format!(
            "Set-TransportService -ReceiveProtocolLogPath '{}' -ReceiveProtocolLogMaxFileSize 4KB -ReceiveProtocolLogMaxDirectorySize 12KB",
            custom.display()
        ),
    ]);
    std::thread::sleep(Duration::from_millis(800));
    let default_before = all_text(&dir, "RECV").len();
    for _ in 0..8 {
        let t = send(&partner);
        assert!(t.contains("250 2.0.0 Queued as"), "{t}");
    }
    std::thread::sleep(Duration::from_millis(300));
    let files = logs(&custom, "RECV");
    let total: usize = files.iter().map(|(_, t)| t.len()).sum();
    let names: Vec<&String> = files.iter().map(|(n, _)| n).collect();
    // eight sessions of about 3.5 KB each: at least 28 KB were written
    assert!(files.len() >= 3, "{names:?}");
    assert!(total <= 12 * 1024 + 8 * 1024, "{total} octets in {names:?}");
    for (n, t) in &files {
        assert!(t.starts_with("#Software: "), "{n}");
    }
    assert_eq!(all_text(&dir, "RECV").len(), default_before);

    // None: nothing more is written
    let dir = custom;
    lab.xshell(&[
        "-c",
        "Set-ReceiveConnector Inbound -ProtocolLoggingLevel None",
    ]);
    std::thread::sleep(Duration::from_millis(800));
    let before = all_text(&dir, "RECV").len();
    let t = send(&partner);
    assert!(t.contains("250 2.0.0 Queued as"), "{t}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(all_text(&dir, "RECV").len(), before);
}

/// A smart host that takes AUTH PLAIN and any message.
fn auth_smart_host(listener: std::net::TcpListener) {
    use std::io::Write;
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let _ = s.write_all(b"220 relay.example ESMTP\r\n");
                while let Some(line) = read_line(&mut s) {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") {
                        b"250-relay.example\r\n250 AUTH PLAIN LOGIN\r\n"
                    } else if upper.starts_with("AUTH PLAIN ") {
                        b"235 2.7.0 Authentication successful\r\n"
                    } else if upper.starts_with("DATA") {
                        let _ = s.write_all(b"354 go ahead\r\n");
                        while let Some(l) = read_line(&mut s) {
                            if l == ".\r\n" {
                                break;
                            }
                        }
                        b"250 2.0.0 queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = s.write_all(b"221 bye\r\n");
                        return;
                    } else {
                        b"250 OK\r\n"
                    };
                    let _ = s.write_all(reply);
                }
            });
        }
    });
}

#[test]
fn send_protocol_log_domain_secured_and_to_a_smart_host() {
    let (a, b) = Org::partners();
    a.xshell(&[
        "-c",
        "Set-SendConnector 'To orgb.example' -ProtocolLoggingLevel Verbose",
    ]);
    b.xshell(&[
        "-c",
        "Set-ReceiveConnector Inbound -ProtocolLoggingLevel Verbose",
    ]);
    let (listener, relay_port) = listener();
    auth_smart_host(listener);
    a.xshell(&[
        "-c",
        &format!(
            "New-SendConnector Relay -AddressSpaces relay.example -DNSRoutingEnabled $false -SmartHosts 127.0.0.1:{relay_port} -SmartHostAuthMechanism BasicAuth -ProtocolLoggingLevel Verbose -AuthenticationCredential (New-Object PSCredential('relay', (ConvertTo-SecureString 'S3cret-pw' -AsPlainText -Force)))"
        ),
    ]);
    let _ea = a.start();
    let _eb = b.start();
    for to in ["bob@orgb.example", "carol@relay.example"] {
        let t = swaks_at(
            &format!("127.0.0.1:{}", a.submission),
            &["--from", "alice@orga.example", "--to", to, "--body", BODY],
        );
        assert!(t.contains("250 2.0.0 Queued as"), "{t}");
    }
    let send_dir = a.lab.store.join("log").join("ProtocolLog").join("SmtpSend");
    let recv_b = b
        .lab
        .store
        .join("log")
        .join("ProtocolLog")
        .join("SmtpReceive");
    let done = |dir: &Path, prefix: &str, needles: &[&str]| {
        let t = all_text(dir, prefix);
        needles.iter().all(|n| t.contains(n))
    };
    assert!(
        wait_until(WAIT, || done(
            &send_dir,
            "SEND",
            &["250 2.0.0 queued", "DomainSecured=true", ",-,,"]
        ) && all_text(&send_dir, "SEND")
            .matches(",-,,")
            .count()
            >= 2),
        "{}",
        all_text(&send_dir, "SEND")
    );
    assert!(
        wait_until(WAIT, || done(&recv_b, "RECV", &["AuthAs=Partner", ",-,,"])),
        "{}",
        all_text(&recv_b, "RECV")
    );
    check_file_format(&send_dir, "SEND", "SMTP Send Protocol Log");
    check_file_format(&recv_b, "RECV", "SMTP Receive Protocol Log");
    let send = all_text(&send_dir, "SEND");
    assert!(!send.contains("BODY-MARKER-7731"), "{send}");
    assert!(!send.contains("AHJlbGF5AFMzY3JldC1wdw"), "{send}");
    assert!(!send.contains("S3cret-pw"), "{send}");

    // Domain Security to orgb.example
    let s = session_of(&send, "DomainSecured=true");
    let joined = s.join("\n");
    assert!(s[0].contains(",To orgb.example,"), "{joined}");
    assert!(s[0].contains(",127.0.0.2:"), "{joined}");
    for want in [
        ",<,220 ",
        ",>,EHLO mail.orga.example,",
        ",>,STARTTLS,",
        "TLS protocol TLSv1.3 negotiation succeeded using cipher suite TLS13_",
        ",*,CN=mail.orga.example,Client certificate",
        ",*,CN=mail.orgb.example,Remote certificate",
        ",*,CN=orgb.example Lab CA,Certificate issuer name",
        "TlsPolicy=DomainSecure(orgb.example); VerifiedName=orgb.example; DomainSecured=true",
        // orgb.example offers CHUNKING: the message goes by BDAT.
        ",>,BDAT ",
        ",*,,sending message",
        ",<,250 ",
        ",-,,",
    ] {
        assert!(joined.contains(want), "missing {want:?} in:\n{joined}");
    }
    // the smart host: AUTH PLAIN redacted
    let s = session_of(&send, ",Relay,");
    let joined = s.join("\n");
    assert!(joined.contains(",>,AUTH PLAIN ****,"), "{joined}");
    assert!(joined.contains(",<,235 2.7.0"), "{joined}");

    // B received A's certificate
    let recv = all_text(&recv_b, "RECV");
    assert!(!recv.contains("BODY-MARKER-7731"), "{recv}");
    for want in [
        "XSHELL01\\Inbound",
        ",*,CN=mail.orga.example,Received certificate",
        ",*,CN=mail.orgb.example,Sending certificate",
        "AuthDomain=orga.example; DomainSecured=true",
    ] {
        assert!(recv.contains(want), "missing {want:?} in:\n{recv}");
    }
    // None logs nothing: A's receive connectors and B's send connector
    assert!(
        logs(
            &a.lab
                .store
                .join("log")
                .join("ProtocolLog")
                .join("SmtpReceive"),
            "RECV"
        )
        .is_empty()
    );
    assert!(
        logs(
            &b.lab.store.join("log").join("ProtocolLog").join("SmtpSend"),
            "SEND"
        )
        .is_empty()
    );
}
