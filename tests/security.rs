//! The security checklist: one test per hostile-input attack against the
//! running engine (real sockets on loopback, swaks, openssl, fake peers).
//!
//! | attack | test |
//! |---|---|
//! | STARTTLS command injection, server side | `starttls_command_injection_server_side_pipelined_commands_are_discarded` |
//! | STARTTLS reply injection, client side | `starttls_reply_injection_client_side_plaintext_after_220_is_never_read_as_a_tls_reply` |
//! | SMTP smuggling (bare CR / bare LF end of data) | `smtp_smuggling_every_bare_cr_lf_end_of_data_variant_never_makes_two_messages` |
//! | open relay from every permission group | `open_relay_from_every_permission_group` |
//! | forged organization headers | `forged_organization_headers_are_stripped_before_stamping` |
//! | STARTTLS stripped by a proxy | `starttls_stripped_by_a_proxy_defers_mandatory_and_domain_secure_mail_never_plaintext` |
//! | over-long command and text lines | `over_long_command_and_data_lines_are_refused_without_unbounded_buffering` |
//! | too many recipients, oversized messages | `too_many_recipients_and_oversized_messages_are_refused_and_nothing_is_queued` |
//! | slow clients, connection floods | `slow_clients_time_out_and_a_connection_flood_from_one_address_is_limited` |
//! | certificate name tricks, both directions | `certificate_name_tricks_are_refused_inbound_and_deferred_outbound` |
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod transport_send_support;
mod transport_support;

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConnection, StreamOwned};
use serde_json::Value;
use transport_send_support::{
    Issued, Org, dns_server, fake_server, listener, stripping_proxy, swaks_at,
};
use transport_support::tls::{client_config, reply_from};
use transport_support::*;

const LOCAL: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const WAIT: Duration = Duration::from_secs(30);

// ------------------------------------------------------------------ helpers

fn reply_line<'a>(transcript: &'a str, code: &str) -> Option<&'a str> {
    transcript.lines().find(|l| {
        l.trim_start_matches(['<', '-', '*', '~', ' '])
            .starts_with(code)
    })
}

fn events(lab: &Lab, id: &str) -> Vec<Value> {
    tracking_lines(&lab.tracking_log())
        .into_iter()
        .filter(|e| e["event_id"] == id)
        .collect()
}

fn queue_of(lab: &Lab) -> Vec<Value> {
    lab.queued_envelopes()
        .iter()
        .filter_map(|s| serde_json::from_str(s).ok())
        .collect()
}

/// The recipient `address` in the (single) queued message.
fn queued_recipient(lab: &Lab, address: &str) -> Option<Value> {
    queue_of(lab).iter().find_map(|m| {
        m["envelope"]["recipients"]
            .as_array()?
            .iter()
            .find(|r| r["address"] == address)
            .cloned()
    })
}

/// A leaf certificate for `cn` signed by `ca`, with `san` as the whole
/// subjectAltName value in openssl syntax (`DNS:a,DNS:b`, or `DER:<hex>` for
/// names openssl would not write), or no subjectAltName at all.
fn issue_raw(lab: &Lab, name: &str, ca: &CertFiles, cn: &str, san: Option<&str>) -> CertFiles {
    openssl::issue_san(&lab.work, name, ca, cn, san, Key::EcP256)
}

/// A subjectAltName extension value with raw dNSName octets (NUL bytes,
/// UTF-8), as `DER:<hex>` for openssl.
fn san_der(names: &[&[u8]]) -> String {
    let mut inner = Vec::new();
    for n in names {
        assert!(n.len() < 128);
        inner.push(0x82); // [2] IMPLICIT IA5String: dNSName
        inner.push(n.len() as u8);
        inner.extend_from_slice(n);
    }
    assert!(inner.len() < 128);
    let mut der = vec![0x30, inner.len() as u8];
    der.extend_from_slice(&inner);
    let hex: String = der.iter().map(|b| format!("{b:02X}")).collect();
    format!("DER:{hex}")
}

/// The PEM certificate and key as rustls types (for the fake servers).
fn to_issued(lab: &Lab, c: &CertFiles) -> Issued {
    let cert_der = c.cert.with_extension("cer.der");
    let key_der = c.key.with_extension("key.der");
    let p = |p: &Path| p.to_str().unwrap().to_string();
    openssl::run(
        &lab.work,
        &[
            "x509",
            "-in",
            &p(&c.cert),
            "-outform",
            "DER",
            "-out",
            &p(&cert_der),
        ],
    );
    openssl::run(
        &lab.work,
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            &p(&c.key),
            "-outform",
            "DER",
            "-out",
            &p(&key_der),
        ],
    );
    Issued {
        chain: vec![CertificateDer::from(fs::read(cert_der).unwrap())],
        key: PrivateKeyDer::Pkcs8(fs::read(key_der).unwrap().into()),
    }
}

fn tls_args(c: &CertFiles) -> Vec<String> {
    vec![
        "--tls".into(),
        "--tls-cert".into(),
        c.cert.display().to_string(),
        "--tls-key".into(),
        c.key.display().to_string(),
    ]
}

fn swaks_owned(server: &str, args: &[String]) -> String {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    swaks_at(server, &refs)
}

/// Our own SMTP certificate and its key file (what another server of this
/// organization would hold: Direct Trust).
fn own_certificate(lab: &Lab) -> CertFiles {
    let cfg: Value =
        serde_json::from_str(&fs::read_to_string(lab.store.join("config.json")).unwrap()).unwrap();
    let rec = &cfg["Certificates"][0];
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        rec["Certificate"].as_str().unwrap()
    );
    let cert = lab.work.join("own.pem");
    fs::write(&cert, pem).unwrap();
    let key = lab.store.join("keys").join(rec["KeyId"].as_str().unwrap());
    CertFiles { cert, key }
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: i32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

// ------------------------------------------------------------------ STARTTLS injection

/// Server side (CVE-2011-0411 class): commands pipelined after STARTTLS in
/// the same packet are discarded, never executed inside the TLS session.
#[test]
fn starttls_command_injection_server_side_pipelined_commands_are_discarded() {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    let engine = lab.start_engine(port);

    let mut raw = Raw::connect(port);
    assert!(raw.reply().starts_with("220 "));
    assert!(raw.cmd("EHLO client.test").contains("250 STARTTLS"));
    // STARTTLS and injected commands in one write
    raw.send(
        b"STARTTLS\r\nRSET\r\nMAIL FROM:<injected@evil.example>\r\nRCPT TO:<victim@orga.example>\r\n",
    );
    let r = raw.reply();
    assert!(r.starts_with("220 2.0.0"), "{r}");
    let conn = ClientConnection::new(
        client_config(),
        ServerName::try_from("mail.orga.example").unwrap(),
    )
    .unwrap();
    let mut tls = StreamOwned::new(conn, raw.stream.try_clone().unwrap());
    // the first reply over TLS answers our EHLO, not the injected RSET
    tls.write_all(b"EHLO client.test\r\n").unwrap();
    let r = reply_from(&mut tls);
    assert!(
        r.starts_with("250-mail.orga.example Hello client.test"),
        "got {r:?}"
    );
    // no transaction was started by the injected MAIL: RCPT needs MAIL first
    tls.write_all(b"RCPT TO:<victim@orga.example>\r\n").unwrap();
    let r = reply_from(&mut tls);
    assert!(r.starts_with("503"), "got {r:?}");
    tls.write_all(b"MAIL FROM:<a@random.example>\r\n").unwrap();
    let r = reply_from(&mut tls);
    assert!(r.starts_with("250 2.1.0"), "got {r:?}");
    tls.write_all(b"QUIT\r\n").unwrap();
    assert!(reply_from(&mut tls).starts_with("221"));
    assert!(
        wait_until(Duration::from_secs(5), || engine
            .log_text()
            .contains("plaintext pipelined after STARTTLS discarded")),
        "{}",
        engine.log_text()
    );
    assert!(lab.queued_envelopes().is_empty());
}

/// How the fake next hop injects plaintext after its STARTTLS `220`.
#[derive(Clone, Copy)]
enum Inject {
    /// In the same write as the 220 (one TCP segment on loopback).
    SameWrite,
    /// After the 220, before the TLS handshake, in a separate write.
    BeforeHandshake,
}

#[derive(Debug, Default, Clone)]
struct InjectSeen {
    /// The commands received inside TLS, in order (verb only).
    tls_commands: Vec<String>,
    /// Messages accepted over TLS.
    delivered: usize,
    plain_mail: bool,
}

/// A next hop that answers STARTTLS with `220` plus injected plaintext
/// replies. If the client read them as replies inside TLS, the `554`
/// would fail its EHLO and the session would lose step.
fn injecting_server(l: TcpListener, cert: Issued, how: Inject) -> Arc<Mutex<InjectSeen>> {
    const INJECTED: &[u8] = b"554 5.7.1 injected before TLS\r\n250 2.1.0 injected\r\n";
    let seen: Arc<Mutex<InjectSeen>> = Arc::default();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(cert.chain, cert.key)
            .unwrap(),
    );
    let s2 = Arc::clone(&seen);
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut tcp) = c else { continue };
            let (cfg, seen) = (Arc::clone(&cfg), Arc::clone(&s2));
            std::thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(20)));
                let _ = tcp.write_all(b"220 inject.test ESMTP\r\n");
                loop {
                    let Some(line) = read_line(&mut tcp) else {
                        return;
                    };
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    match verb.as_str() {
                        "EHLO" => {
                            let _ = tcp
                                .write_all(b"250-inject.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n");
                        }
                        "STAR" => break,
                        "MAIL" => {
                            seen.lock().unwrap().plain_mail = true;
                            return;
                        }
                        _ => {
                            let _ = tcp.write_all(b"500 5.5.1 what\r\n");
                        }
                    }
                }
                match how {
                    Inject::SameWrite => {
                        let mut b = b"220 2.0.0 go ahead\r\n".to_vec();
                        b.extend_from_slice(INJECTED);
                        let _ = tcp.write_all(&b);
                    }
                    Inject::BeforeHandshake => {
                        let _ = tcp.write_all(b"220 2.0.0 go ahead\r\n");
                        std::thread::sleep(Duration::from_millis(200));
                        let _ = tcp.write_all(INJECTED);
                    }
                }
                let Ok(conn) = rustls::ServerConnection::new(cfg) else {
                    return;
                };
                let mut s = StreamOwned::new(conn, tcp);
                while s.conn.is_handshaking() {
                    if s.conn.complete_io(&mut s.sock).is_err() {
                        return;
                    }
                }
                loop {
                    let Some(line) = read_line(&mut s) else {
                        return;
                    };
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    seen.lock().unwrap().tls_commands.push(verb.clone());
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-inject.test\r\n250 8BITMIME\r\n",
                        "MAIL" => b"250 2.1.0 ok\r\n",
                        "RCPT" => b"250 2.1.5 ok\r\n",
                        "DATA" => {
                            let _ = s.write_all(b"354 go\r\n");
                            loop {
                                match read_line(&mut s) {
                                    Some(l) if l == ".\r\n" => break,
                                    Some(_) => {}
                                    None => return,
                                }
                            }
                            seen.lock().unwrap().delivered += 1;
                            b"250 2.0.0 queued\r\n"
                        }
                        "QUIT" => {
                            let _ = s.write_all(b"221 2.0.0 bye\r\n");
                            return;
                        }
                        _ => b"250 2.0.0 ok\r\n",
                    };
                    if s.write_all(reply).is_err() {
                        return;
                    }
                }
            });
        }
    });
    seen
}

/// Client side: our runner, delivering under Domain Security, talks to a
/// next hop that injects plaintext replies after its STARTTLS `220`. Bytes
/// that arrive with the 220 are discarded (and logged); bytes that arrive
/// after it corrupt the handshake, which fails and defers the message.
/// Neither is ever read as a reply inside TLS.
#[test]
fn starttls_reply_injection_client_side_plaintext_after_220_is_never_read_as_a_tls_reply() {
    let dns = dns_server(&[("inject1.example", LOCAL), ("inject2.example", LOCAL)]);
    let a = Org::new("orga.example", "127.0.0.1", dns);
    let ca = transport_send_support::pki::ca("Injection Partner CA");
    a.trust(&transport_send_support::pki::ca_file(
        &ca,
        &a.lab.work,
        "inject-ca",
    ));
    let (l1, p1) = listener();
    let same = injecting_server(
        l1,
        transport_send_support::pki::issue(&ca, &["mail.inject1.example", "inject1.example"]),
        Inject::SameWrite,
    );
    let (l2, p2) = listener();
    let before = injecting_server(
        l2,
        transport_send_support::pki::issue(&ca, &["mail.inject2.example", "inject2.example"]),
        Inject::BeforeHandshake,
    );
    a.secure_partner("inject1.example", p1);
    a.secure_partner("inject2.example", p2);
    let engine = a.start();
    let t = a.submit(
        "alice@orga.example",
        "u@inject1.example,u@inject2.example",
        "injection",
    );
    assert!(t.contains("250 2.0.0 Queued as"), "{t}");

    // 1. same write: discarded, delivered over TLS, EHLO was the first
    //    command inside TLS and every reply matched its command
    assert!(
        wait_until(WAIT, || same.lock().unwrap().delivered == 1),
        "{:?}\n{:?}",
        same.lock().unwrap(),
        a.queue()
    );
    let s = same.lock().unwrap().clone();
    assert_eq!(
        s.tls_commands[..4],
        ["EHLO", "MAIL", "RCPT", "DATA"],
        "{s:?}"
    );
    assert!(!s.plain_mail);
    assert!(
        wait_until(Duration::from_secs(5), || engine.log_text().contains(
            "discarded plaintext received after the next hop's STARTTLS 220"
        )),
        "{}",
        engine.log_text()
    );
    // 2. separate write: the handshake fails, the message stays queued
    assert!(
        wait_until(WAIT, || a
            .queue()
            .first()
            .is_some_and(|m| m["envelope"]["attempts"].as_u64() >= Some(2))),
        "{:?}",
        a.queue()
    );
    let r = queued_recipient(&a.lab, "u@inject2.example").unwrap();
    assert_eq!(r["status"]["state"], "deferred", "{r}");
    assert_eq!(
        r["last_reply"], "454 4.7.5 Certificate validation failure",
        "{r}"
    );
    let b = before.lock().unwrap().clone();
    assert!(b.tls_commands.is_empty(), "{b:?}");
    assert_eq!(b.delivered, 0);
    assert!(!b.plain_mail);
    let send = events(&a.lab, "SEND");
    assert_eq!(send.len(), 1, "{send:?}");
    assert_eq!(send[0]["next_hop_domain"], "inject1.example");
    assert_eq!(send[0]["domain_secured"], true);
}

// ------------------------------------------------------------------ smuggling

/// Every bare-CR / bare-LF "end of data" followed by a smuggled
/// transaction: the whole message is refused (550 5.6.11) after the real
/// CRLF.CRLF; the smuggled MAIL/RCPT are never answered; nothing is queued.
#[test]
fn smtp_smuggling_every_bare_cr_lf_end_of_data_variant_never_makes_two_messages() {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    let _engine = lab.start_engine(port);

    let variants: [(&str, &[u8]); 10] = [
        ("lf-lf", b"\n.\n"),
        ("lf-crlf", b"\n.\r\n"),
        ("crlf-lf", b"\r\n.\n"),
        ("cr-cr", b"\r.\r"),
        ("cr-crlf", b"\r.\r\n"),
        ("crlf-cr", b"\r\n.\r"),
        ("lf-cr", b"\n.\r"),
        ("cr-lf", b"\r.\n"),
        ("crlf-crcrlf", b"\r\n.\r\r\n"),
        ("lf-lf-after-crlf", b"\r\n\n.\n"),
    ];
    for (name, end) in variants {
        let mut raw = Raw::connect(port);
        raw.reply();
        raw.cmd("EHLO client.test");
        let mut data = Vec::new();
        data.extend_from_slice(b"MAIL FROM:<a@random.example>\r\n");
        data.extend_from_slice(format!("RCPT TO:<outer-{name}@orga.example>\r\n").as_bytes());
        data.extend_from_slice(b"DATA\r\n");
        raw.send(&data);
        let mut replies = String::new();
        for _ in 0..3 {
            replies.push_str(&raw.reply());
        }
        assert!(replies.contains("354"), "{name}: {replies}");
        let mut body = Vec::new();
        body.extend_from_slice(b"Subject: outer\r\n\r\nfirst part");
        body.extend_from_slice(end);
        body.extend_from_slice(
            b"MAIL FROM:<evil@random.example>\r\nRCPT TO:<smuggled@orga.example>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\nQUIT\r\n",
        );
        raw.send(&body);
        let rest = raw.drain();
        // exactly one final answer to the DATA (the refusal), then QUIT's
        // 221; no 250 for the smuggled MAIL/RCPT/DATA
        let lines: Vec<&str> = rest.lines().collect();
        assert_eq!(lines.len(), 2, "{name}: replies after the data: {rest:?}");
        assert!(lines[0].starts_with("550 5.6.11"), "{name}: {rest:?}");
        assert!(lines[1].starts_with("221"), "{name}: {rest:?}");
    }
    // a well-formed message still goes through on the same engine
    let mut raw = Raw::connect(port);
    raw.reply();
    raw.cmd("EHLO client.test");
    assert!(raw.cmd("MAIL FROM:<a@random.example>").starts_with("250"));
    assert!(raw.cmd("RCPT TO:<control@orga.example>").starts_with("250"));
    assert!(raw.cmd("DATA").starts_with("354"));
    assert!(
        raw.cmd("Subject: control\r\n\r\nbody\r\n.")
            .starts_with("250 2.0.0 Queued")
    );
    assert!(wait_until(Duration::from_secs(10), || lab
        .maildir("orga.example", "control")
        .len()
        == 1));
    assert!(lab.maildir("orga.example", "smuggled").is_empty());
    for (name, _) in variants {
        assert!(
            lab.maildir("orga.example", &format!("outer-{name}"))
                .is_empty(),
            "{name}"
        );
    }
    let received = events(&lab, "RECEIVE");
    assert_eq!(received.len(), 1, "{received:?}");
}

// ------------------------------------------------------------------ open relay

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    /// No STARTTLS.
    Plain,
    /// STARTTLS, no client certificate.
    Tls,
    /// STARTTLS with a self-signed certificate of a stranger.
    Stranger,
    /// STARTTLS with the partner's certificate (a trusted CA), sender in
    /// the Domain Security list.
    Partner,
    /// STARTTLS with our own SMTP certificate (Direct Trust).
    Own,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relay {
    /// MAIL FROM refused: the sender may not use this connector at all.
    MailRefused,
    /// RCPT to the foreign domain refused with 550 5.7.54.
    Refused,
    /// Relayed (queued for the foreign domain).
    Relayed,
}

/// (connector, client, expected, got, swaks transcript)
type Outcome = (String, Client, Relay, Relay, String);

struct Rc {
    name: &'static str,
    groups: &'static str,
    external_authoritative: bool,
    domain_secure: bool,
    port: u16,
}

impl Rc {
    fn has(&self, g: &str) -> bool {
        self.groups.split(',').any(|x| x == g)
    }

    /// What Exchange does (and we must): only the Exchange servers of this
    /// organization may relay, i.e. ExchangeServers authenticated by Direct
    /// Trust (our own certificate), or a connector the administrator marked
    /// ExternalAuthoritative (a network vouched for). AnonymousUsers,
    /// ExchangeUsers (no authenticated user here: there is no AUTH),
    /// ExchangeLegacyServers and Partners never grant
    /// ms-Exch-SMTP-Accept-Any-Recipient to these clients.
    fn expect(&self, c: Client) -> Relay {
        if self.external_authoritative {
            return Relay::Relayed;
        }
        let anonymous = if self.has("AnonymousUsers") {
            Relay::Refused
        } else {
            Relay::MailRefused
        };
        match c {
            Client::Own if self.has("ExchangeServers") => Relay::Relayed,
            // sender in TLSReceiveDomainSecureList: Partner (no relay) on a
            // Domain Security connector, else 451 4.7.3 at MAIL
            Client::Partner if self.domain_secure => Relay::Refused,
            Client::Partner => Relay::MailRefused,
            _ => anonymous,
        }
    }
}

#[test]
fn open_relay_from_every_permission_group() {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port); // Inbound: Internet, AnonymousUsers, Domain Security
    let partner_ca = lab.ca("partner-ca", "Partner CA");
    lab.trust(&partner_ca.cert);
    let partner = lab.issue(
        "partner",
        &partner_ca,
        "mail.partner.example",
        &["mail.partner.example", "partner.example"],
    );
    let stranger = lab.self_signed("stranger", "mx.random.example");
    let own = own_certificate(&lab);

    let mut rcs = vec![Rc {
        name: "Inbound",
        groups: "AnonymousUsers",
        external_authoritative: false,
        domain_secure: true,
        port,
    }];
    let custom: [(&'static str, &'static str, bool, bool); 10] = [
        ("AnonExchUsers", "AnonymousUsers,ExchangeUsers", false, true),
        (
            "AnonLegacy",
            "AnonymousUsers,ExchangeLegacyServers",
            false,
            true,
        ),
        ("AnonPartners", "AnonymousUsers,Partners", false, true),
        ("AnonServers", "AnonymousUsers,ExchangeServers", false, true),
        (
            "All",
            "AnonymousUsers,ExchangeUsers,ExchangeServers,ExchangeLegacyServers,Partners",
            false,
            true,
        ),
        ("ExchUsers", "ExchangeUsers", false, false),
        ("Legacy", "ExchangeLegacyServers", false, false),
        ("Partners", "Partners", false, true),
        ("Servers", "ExchangeServers", false, false),
        ("ExternalAuth", "ExchangeServers", true, false),
    ];
    for (name, groups, ext, ds) in custom {
        // Two connectors on one port would share a listener, and the one
        // with the narrower remote range would answer for both.
        let p = (0..100)
            .map(|_| free_port())
            .find(|p| rcs.iter().all(|rc| rc.port != *p))
            .expect("a port no other connector of this test uses");
        let binding = format!("127.0.0.1:{p}");
        let auth = if ext { "ExternalAuthoritative" } else { "Tls" };
        let mut args = vec![
            "new-receiveconnector",
            name,
            "--usage",
            "custom",
            "--bindings",
            &binding,
            "--remote-ip-ranges",
            "127.0.0.0/8",
            "--permission-groups",
            groups,
            "--auth-mechanism",
            auth,
            "--fqdn",
            ORG_FQDN,
        ];
        if ds {
            args.push("--domain-secure-enabled");
        }
        lab.xshell(&args);
        rcs.push(Rc {
            name,
            groups,
            external_authoritative: ext,
            domain_secure: ds,
            port: p,
        });
    }
    let engine = lab.start_engine(port);
    for rc in &rcs {
        let needle = format!("listening addr=127.0.0.1:{}", rc.port);
        assert!(wait_until(Duration::from_secs(10), || engine
            .log_text()
            .contains(&needle)));
    }

    let results: Mutex<Vec<Outcome>> = Mutex::default();
    std::thread::scope(|scope| {
        for rc in &rcs {
            let (results, partner, stranger, own) = (&results, &partner, &stranger, &own);
            scope.spawn(move || {
                let clients: &[Client] = if rc.external_authoritative {
                    // no STARTTLS on that connector
                    &[Client::Plain]
                } else {
                    &[
                        Client::Plain,
                        Client::Tls,
                        Client::Stranger,
                        Client::Partner,
                        Client::Own,
                    ]
                };
                for &c in clients {
                    let from = match c {
                        Client::Partner => "alice@partner.example",
                        Client::Own => "app@orga.example",
                        _ => "spam@random.example",
                    };
                    let mut args: Vec<String> = [
                        "--from",
                        from,
                        "--to",
                        &format!("victim-{}@elsewhere.example", rc.name),
                    ]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                    match c {
                        Client::Plain => {}
                        Client::Tls => args.push("--tls".into()),
                        Client::Stranger => args.extend(tls_args(stranger)),
                        Client::Partner => args.extend(tls_args(partner)),
                        Client::Own => args.extend(tls_args(own)),
                    }
                    let t = swaks_owned(&format!("127.0.0.1:{}", rc.port), &args);
                    let got = if reply_line(&t, "550 5.7.54").is_some() {
                        Relay::Refused
                    } else if reply_line(&t, "250 2.0.0 Queued as").is_some() {
                        Relay::Relayed
                    } else if t.lines().any(|l| {
                        let l = l.trim_start_matches(['<', '*', '~', ' ']);
                        l.starts_with('4') || l.starts_with('5')
                    }) && !t.lines().any(|l| {
                        l.trim_start_matches(['-', '~', '>', ' '])
                            .starts_with("RCPT TO")
                    }) {
                        Relay::MailRefused
                    } else {
                        panic!("{} {c:?}: unexpected transcript:\n{t}", rc.name)
                    };
                    results
                        .lock()
                        .unwrap()
                        .push((rc.name.to_string(), c, rc.expect(c), got, t));
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    let mut wrong = Vec::new();
    for (name, c, want, got, t) in &results {
        eprintln!("{name:14} {c:?}: {got:?}");
        if want != got {
            wrong.push(format!("{name} {c:?}: want {want:?}, got {got:?}\n{t}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // every relayed message is in the queue (no send connector: it waits)
    let relayed = results.iter().filter(|r| r.3 == Relay::Relayed).count();
    assert_eq!(
        relayed, 4,
        "AnonServers, All and Servers with Direct Trust; ExternalAuth"
    );
    assert!(wait_until(Duration::from_secs(5), || lab
        .queued_envelopes()
        .len()
        == relayed));
}

// ------------------------------------------------------------------ forged headers

/// Organization headers from the client, in any case, folded, with white
/// space before the colon or after a line that ends the header section,
/// never survive: our stamp is the only one, for an anonymous sender and
/// for a partner (who may not claim to be Internal either).
#[test]
fn forged_organization_headers_are_stripped_before_stamping() {
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
    let _engine = lab.start_engine(port);

    let forged = "x-ms-exchange-organization-authas: Internal\r\n\
        X-MS-Exchange-Organization-AuthMechanism:\r\n\t11\r\n\
        X-MS-EXCHANGE-ORGANIZATION-AUTHDOMAIN: orga.example\r\n\
        X-Ms-Exchange-Organization-AuthSource:\r\n  mail.orga.example\r\n\
        X-MS-Exchange-Organization-AuthAs : Partner\r\n\
        X-MS-Exchange-Organization-SCL: -1\r\n\
        X-MS-Exchange-Organization-Antispam-Bypass:\ttrue\r\n\
        Subject: forged\r\n";
    // anonymous, plaintext, with a raw client (exact bytes)
    let mut raw = Raw::connect(port);
    raw.reply();
    raw.cmd("EHLO client.test");
    assert!(raw.cmd("MAIL FROM:<a@random.example>").starts_with("250"));
    assert!(raw.cmd("RCPT TO:<anon@orga.example>").starts_with("250"));
    assert!(raw.cmd("DATA").starts_with("354"));
    let r = raw.cmd(&format!(
        "{forged}\r\nX-MS-Exchange-Organization-AuthAs: body text stays\r\n."
    ));
    assert!(r.starts_with("250 2.0.0 Queued"), "{r}");
    // a header section that a lenient reader might continue past a
    // non-field line: the forged field after it becomes body
    assert!(raw.cmd("MAIL FROM:<a@random.example>").starts_with("250"));
    assert!(raw.cmd("RCPT TO:<anon2@orga.example>").starts_with("250"));
    assert!(raw.cmd("DATA").starts_with("354"));
    let r = raw.cmd(
        "Subject: broken header\r\nthis line is not a field\r\nX-MS-Exchange-Organization-AuthAs: Internal\r\n\r\nbody\r\n.",
    );
    assert!(r.starts_with("250 2.0.0 Queued"), "{r}");
    raw.cmd("QUIT");

    // a verified partner claiming Internal
    let mut args: Vec<String> = [
        "--from",
        "alice@partner.example",
        "--to",
        "partnered@orga.example",
        "--add-header",
        "X-MS-Exchange-Organization-AuthAs: Internal",
        "--add-header",
        "x-ms-exchange-organization-authmechanism: 11",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(tls_args(&partner));
    let t = swaks_owned(&format!("127.0.0.1:{port}"), &args);
    assert!(reply_line(&t, "250 2.0.0 Queued as").is_some(), "{t}");

    let get = |local: &str| {
        assert!(
            wait_until(Duration::from_secs(10), || lab
                .maildir("orga.example", local)
                .len()
                == 1),
            "{local} not delivered"
        );
        lab.maildir("orga.example", local).remove(0)
    };
    let org_fields = |m: &str| -> Vec<String> {
        let parsed = mail_parser::MessageParser::default()
            .parse(m.as_bytes())
            .unwrap();
        parsed
            .headers()
            .iter()
            .filter(|h| {
                h.name()
                    .to_ascii_lowercase()
                    .starts_with("x-ms-exchange-organization-")
            })
            .map(|h| {
                format!(
                    "{}: {}",
                    h.name(),
                    h.value().as_text().unwrap_or_default().trim()
                )
            })
            .collect()
    };
    let m = get("anon");
    assert_eq!(
        org_fields(&m),
        [
            "X-MS-Exchange-Organization-AuthSource: mail.orga.example",
            "X-MS-Exchange-Organization-AuthAs: Anonymous"
        ],
        "{m}"
    );
    let (head, body) = m.split_once("\r\n\r\n").unwrap();
    for gone in [
        "Internal",
        "\t11",
        "SCL",
        "Antispam",
        "Partner",
        "  mail.orga",
    ] {
        assert!(!head.contains(gone), "{gone:?} survived:\n{m}");
    }
    assert!(head.contains("Subject: forged"), "{m}");
    assert!(
        body.contains("X-MS-Exchange-Organization-AuthAs: body text stays"),
        "{m}"
    );
    let m = get("anon2");
    assert_eq!(
        org_fields(&m),
        [
            "X-MS-Exchange-Organization-AuthSource: mail.orga.example",
            "X-MS-Exchange-Organization-AuthAs: Anonymous"
        ],
        "{m}"
    );
    let m = get("partnered");
    assert_eq!(
        org_fields(&m),
        [
            "X-MS-Exchange-Organization-AuthSource: mail.orga.example",
            "X-MS-Exchange-Organization-AuthAs: Partner",
            "X-MS-Exchange-Organization-AuthMechanism: 02",
            "X-MS-Exchange-Organization-AuthDomain: partner.example"
        ],
        "{m}"
    );
}

// ------------------------------------------------------------------ STARTTLS stripping

/// A proxy removes STARTTLS from the next hop's EHLO reply. Mail that must
/// be encrypted (Domain Security; RequireTLS on a smart-host connector) is
/// deferred and never sent in plaintext; the opportunistic control through
/// the same kind of proxy does go out in plaintext, which proves the proxy
/// strips for real.
#[test]
fn starttls_stripped_by_a_proxy_defers_mandatory_and_domain_secure_mail_never_plaintext() {
    let dns = dns_server(&[("secure.example", LOCAL), ("plain.example", LOCAL)]);
    let a = Org::new("orga.example", "127.0.0.1", dns);
    let ca = transport_send_support::pki::ca("Strip Partner CA");
    a.trust(&transport_send_support::pki::ca_file(
        &ca,
        &a.lab.work,
        "strip-ca",
    ));
    let mut upstreams = Vec::new();
    let mut proxies = Vec::new();
    for d in ["secure.example", "mandatory.example", "plain.example"] {
        let (l, up) = listener();
        let rec = fake_server(
            l,
            Some(transport_send_support::pki::issue(
                &ca,
                &[&format!("mail.{d}"), d],
            )),
        );
        let (p, saw_mail) = stripping_proxy(up);
        upstreams.push((d, rec));
        proxies.push((d, p, saw_mail));
    }
    a.secure_partner("secure.example", proxies[0].1);
    let smart = format!("127.0.0.1:{}", proxies[1].1);
    a.xshell(&[
        "new-sendconnector",
        "Mandatory",
        "--address-spaces",
        "mandatory.example",
        "--dns-routing-enabled=false",
        "--smart-hosts",
        &smart,
        "--require-tls",
    ]);
    a.send_connector("Plain", "plain.example", proxies[2].1, false);
    let _e = a.start();
    let t = a.submit(
        "alice@orga.example",
        "u@secure.example,u@mandatory.example,u@plain.example",
        "must not leak",
    );
    assert!(t.contains("250 2.0.0 Queued as"), "{t}");
    // the control goes out in plaintext through its proxy
    assert!(
        wait_until(WAIT, || upstreams[2].1.lock().unwrap().delivered
            == vec![false]),
        "{:?}",
        upstreams[2].1.lock().unwrap()
    );
    assert!(*proxies[2].2.lock().unwrap());
    // the others: two attempts each, deferred, never plaintext
    assert!(
        wait_until(WAIT, || a
            .queue()
            .first()
            .is_some_and(|m| m["envelope"]["attempts"].as_u64() >= Some(2))),
        "{:?}",
        a.queue()
    );
    for d in ["secure.example", "mandatory.example"] {
        let r = queued_recipient(&a.lab, &format!("u@{d}")).unwrap();
        assert_eq!(r["status"]["state"], "deferred", "{r}");
        assert_eq!(
            r["last_reply"], "451 5.7.3 STARTTLS is required to send mail",
            "{d}: {r}"
        );
    }
    for (d, rec) in &upstreams[..2] {
        let seen = rec.lock().unwrap().clone();
        assert!(seen.connections >= 2, "{d}: {seen:?}");
        assert!(!seen.plain_mail, "{d}: MAIL FROM in plaintext");
        assert!(seen.delivered.is_empty(), "{d}: {seen:?}");
        assert!(
            !seen.commands.iter().any(|c| c == "MAIL" || c == "STAR"),
            "{d}: {seen:?}"
        );
    }
    for (d, _, saw) in &proxies[..2] {
        assert!(!*saw.lock().unwrap(), "{d}: MAIL FROM through the proxy");
    }
}

// ------------------------------------------------------------------ limits

/// RFC 5321 limits: a command line of 513 octets (CRLF included) gets
/// `500 5.5.2`, 512 is fine; a 32 MiB line without CRLF is skipped (not
/// buffered) and answered once; text lines over 1000 octets refuse the
/// message with `500 5.5.6`. The session keeps working after each.
#[test]
fn over_long_command_and_data_lines_are_refused_without_unbounded_buffering() {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    let engine = lab.start_engine(port);

    let mut raw = Raw::connect(port);
    raw.reply();
    raw.cmd("EHLO client.test");
    // "NOOP " + x = 510 + CRLF = 512: accepted; one more octet: refused
    let ok = format!("NOOP {}", "x".repeat(505));
    assert!(raw.cmd(&ok).starts_with("250"));
    let long = format!("NOOP {}", "x".repeat(506));
    let r = raw.cmd(&long);
    assert!(r.starts_with("500 5.5.2"), "{r}");
    assert!(raw.cmd("NOOP").starts_with("250"));

    // a huge line without CRLF: the engine's memory stays flat
    let before = rss_kib(engine.pid());
    let chunk = vec![b'A'; 1 << 20];
    for _ in 0..32 {
        raw.send(&chunk);
    }
    raw.send(b"\r\n");
    let r = raw.reply();
    assert!(r.starts_with("500 5.5.2"), "{r}");
    let after = rss_kib(engine.pid());
    eprintln!("engine RSS {before} KiB before a 32 MiB command line, {after} KiB after");
    assert!(
        after < before + 16 * 1024,
        "the engine grew by {} KiB",
        after.saturating_sub(before)
    );
    assert!(raw.cmd("NOOP").starts_with("250"), "session lost");

    // text lines: 1000 octets with CRLF are fine, 1001 refuse the message
    for (local, len, want) in [("fits", 998, "250 2.0.0"), ("toolong", 999, "500 5.5.6")] {
        assert!(raw.cmd("MAIL FROM:<a@random.example>").starts_with("250"));
        assert!(
            raw.cmd(&format!("RCPT TO:<{local}@orga.example>"))
                .starts_with("250")
        );
        assert!(raw.cmd("DATA").starts_with("354"));
        let r = raw.cmd(&format!("Subject: {local}\r\n\r\n{}\r\n.", "y".repeat(len)));
        assert!(r.starts_with(want), "{local}: {r}");
    }
    // a 32 MiB text line inside DATA: refused, memory flat
    let before = rss_kib(engine.pid());
    assert!(raw.cmd("MAIL FROM:<a@random.example>").starts_with("250"));
    assert!(raw.cmd("RCPT TO:<huge@orga.example>").starts_with("250"));
    assert!(raw.cmd("DATA").starts_with("354"));
    raw.send(b"Subject: huge\r\n\r\n");
    for _ in 0..32 {
        raw.send(&chunk);
    }
    let r = raw.cmd("\r\n.");
    assert!(
        r.starts_with("500 5.5.6") || r.starts_with("552 5.3.4"),
        "{r}"
    );
    let after = rss_kib(engine.pid());
    eprintln!("engine RSS {before} KiB before a 32 MiB text line, {after} KiB after");
    assert!(
        after < before + 16 * 1024,
        "the engine grew by {} KiB",
        after.saturating_sub(before)
    );
    assert!(raw.cmd("QUIT").starts_with("221"));
    assert!(wait_until(Duration::from_secs(10), || lab
        .maildir("orga.example", "fits")
        .len()
        == 1));
    assert!(lab.maildir("orga.example", "toolong").is_empty());
    assert!(lab.maildir("orga.example", "huge").is_empty());
}

/// MaxRecipientsPerMessage 3: the fourth RCPT gets `452 4.5.3` and the
/// message goes to the first three. MaxMessageSize 64 KB: SIZE over it is
/// refused at MAIL (`552 5.3.4`), an undeclared (or under-declared) overrun
/// at the end of DATA, with nothing queued.
#[test]
fn too_many_recipients_and_oversized_messages_are_refused_and_nothing_is_queued() {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    lab.xshell(&[
        "set-receiveconnector",
        "Inbound",
        "--max-recipients-per-message",
        "3",
        "--max-message-size",
        "64KB",
    ]);
    let _engine = lab.start_engine(port);
    let mut raw = Raw::connect(port);
    raw.reply();
    let ehlo = raw.cmd("EHLO client.test");
    let limit: u64 = ehlo
        .lines()
        .find_map(|l| l.get(4..)?.strip_prefix("SIZE "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no SIZE in {ehlo}"));
    assert_eq!(limit, 64 * 1024, "{ehlo}");

    assert!(raw.cmd("MAIL FROM:<a@random.example>").starts_with("250"));
    for n in 1..=3 {
        assert!(
            raw.cmd(&format!("RCPT TO:<r{n}@orga.example>"))
                .starts_with("250")
        );
    }
    let r = raw.cmd("RCPT TO:<r4@orga.example>");
    assert!(r.starts_with("452 4.5.3"), "{r}");
    assert!(raw.cmd("DATA").starts_with("354"));
    assert!(
        raw.cmd("Subject: three\r\n\r\nbody\r\n.")
            .starts_with("250 2.0.0 Queued")
    );

    let r = raw.cmd(&format!("MAIL FROM:<a@random.example> SIZE={}", limit + 1));
    assert!(r.starts_with("552 5.3.4"), "{r}");
    let big = "z".repeat(900);
    for (local, declared) in [("undeclared", None), ("underdeclared", Some(1000))] {
        let mail = match declared {
            Some(s) => format!("MAIL FROM:<a@random.example> SIZE={s}"),
            None => "MAIL FROM:<a@random.example>".to_string(),
        };
        assert!(raw.cmd(&mail).starts_with("250"));
        assert!(
            raw.cmd(&format!("RCPT TO:<{local}@orga.example>"))
                .starts_with("250")
        );
        assert!(raw.cmd("DATA").starts_with("354"));
        raw.send(format!("Subject: {local}\r\n\r\n").as_bytes());
        for _ in 0..100 {
            raw.send(format!("{big}\r\n").as_bytes());
        }
        let r = raw.cmd(".");
        assert!(r.starts_with("552 5.3.4"), "{local}: {r}");
    }
    assert!(raw.cmd("QUIT").starts_with("221"));
    for n in 1..=3 {
        assert!(wait_until(Duration::from_secs(10), || lab
            .maildir("orga.example", &format!("r{n}"))
            .len()
            == 1));
    }
    assert!(lab.maildir("orga.example", "r4").is_empty());
    assert!(lab.maildir("orga.example", "undeclared").is_empty());
    assert!(lab.maildir("orga.example", "underdeclared").is_empty());
    assert_eq!(events(&lab, "RECEIVE").len(), 1);
    assert!(wait_until(Duration::from_secs(5), || lab
        .queued_envelopes()
        .is_empty()));
}

/// ConnectionInactivityTimeout 2 s, ConnectionTimeout 4 s,
/// MaxInboundConnectionPerSource 3: an idle client gets `421 4.4.2` after
/// the inactivity timeout; a slow-loris that sends a byte every 300 ms is
/// cut at the connection timeout; a flood of 20 connections from 127.0.0.1
/// gets 3 sessions and `421 4.7.0` for the rest, while 127.0.0.2 is served
/// and delivers a message during the flood.
#[test]
fn slow_clients_time_out_and_a_connection_flood_from_one_address_is_limited() {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    lab.xshell(&[
        "set-receiveconnector",
        "Inbound",
        "--max-inbound-connection-per-source",
        "3",
        "--connection-timeout",
        "4s",
        "--connection-inactivity-timeout",
        "2s",
    ]);
    let _engine = lab.start_engine(port);

    // the flood from 127.0.0.1 (held open)
    let mut flood = Vec::new();
    let mut served = 0;
    let mut refused = 0;
    for _ in 0..20 {
        let mut r = Raw::connect(port);
        let g = r.reply();
        if g.starts_with("220") {
            served += 1;
        } else {
            assert!(g.starts_with("421 4.7.0"), "{g}");
            refused += 1;
        }
        flood.push(r);
    }
    assert_eq!((served, refused), (3, 17));
    // another address is still served and can deliver
    let t = transport_send_support::swaks_at(
        &format!("127.0.0.1:{port}"),
        &[
            "--local-interface",
            "127.0.0.2",
            "--from",
            "a@random.example",
            "--to",
            "during-flood@orga.example",
        ],
    );
    assert!(t.contains("250 2.0.0 Queued as"), "{t}");
    drop(flood);

    // idle: the inactivity timeout
    assert!(wait_until(Duration::from_secs(5), || {
        let mut r = Raw::connect(port);
        r.reply().starts_with("220")
    }));
    let mut idle = Raw::connect(port);
    assert!(idle.reply().starts_with("220"));
    let t0 = Instant::now();
    let r = idle.reply();
    assert!(r.starts_with("421 4.4.2"), "{r}");
    let idle_after = t0.elapsed();
    assert!(idle_after >= Duration::from_millis(1500), "{idle_after:?}");

    // slow-loris: never idle for 2 s, cut by the 4 s connection timeout
    let mut slow = TcpStream::connect(("127.0.0.1", port)).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let t0 = Instant::now();
    let mut got = Vec::new();
    let mut closed = false;
    let mut buf = [0u8; 512];
    let line = b"NOOP and a very slow line that never ends ".repeat(4);
    for b in line.iter().take(60) {
        match slow.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if String::from_utf8_lossy(&got).contains("421") || slow.write_all(&[*b]).is_err() {
            break;
        }
    }
    let cut_after = t0.elapsed();
    let got = String::from_utf8_lossy(&got).into_owned();
    eprintln!("idle client cut after {idle_after:?}, slow-loris after {cut_after:?}");
    assert!(got.starts_with("220"), "{got:?}");
    assert!(got.contains("421 4.4.2") || closed, "{got:?}");
    assert!(cut_after >= Duration::from_secs(3), "{cut_after:?}");
    assert!(cut_after < Duration::from_secs(12), "{cut_after:?}");
    assert!(wait_until(Duration::from_secs(10), || lab
        .maildir("orga.example", "during-flood")
        .len()
        == 1));
}

// ------------------------------------------------------------------ certificate names

/// The tricks, for partner domain `orgbN.example` (N = the index).
fn name_tricks() -> Vec<(&'static str, String, Option<String>)> {
    // (case, CN, subjectAltName)
    let d = |n: usize| format!("orgb{n}.example");
    vec![
        (
            "control",
            format!("mail.{}", d(0)),
            Some(format!("DNS:mail.{0},DNS:{0}", d(0))),
        ),
        (
            "wildcard-tld",
            "*.example".into(),
            Some("DNS:*.example".into()),
        ),
        (
            "wildcard-middle-label",
            "orgb2.*.example".into(),
            Some("DNS:orgb2.*.example".into()),
        ),
        (
            "wildcard-partial-label",
            "*orgb3.example".into(),
            Some("DNS:*orgb3.example".into()),
        ),
        (
            "wildcard-two-labels",
            "*.*.orgb4.example".into(),
            Some("DNS:*.*.orgb4.example".into()),
        ),
        (
            "idn-punycode-lookalike",
            "xn--rgb5-45d.example".into(),
            Some("DNS:xn--rgb5-45d.example".into()),
        ),
        (
            "idn-unicode-lookalike",
            "lookalike".into(),
            Some(san_der(&["оrgb6.example".as_bytes()])),
        ),
        ("cn-only", d(7), None),
        (
            "nul-byte",
            "nul".into(),
            Some(san_der(&[b"orgb8.example\0.evil.test"])),
        ),
    ]
}

/// Every certificate is signed by a CA the organization trusts, so only the
/// name is wrong. Inbound (the partner's client certificate under Domain
/// Security, MAIL FROM `orgbN.example`): `454 4.7.5`, except the control.
/// Outbound (the next hop's server certificate under Domain Security):
/// deferred with `454 4.7.5`, nothing delivered, except the control.
#[test]
fn certificate_name_tricks_are_refused_inbound_and_deferred_outbound() {
    let tricks = name_tricks();
    let domains: Vec<String> = (0..tricks.len())
        .map(|n| format!("orgb{n}.example"))
        .collect();
    let zone: Vec<(&str, Ipv4Addr)> = domains.iter().map(|d| (d.as_str(), LOCAL)).collect();
    let dns = dns_server(&zone);
    let a = Org::new("orga.example", "127.0.0.1", dns);
    let ca = a.lab.ca("tricks-ca", "Tricks Partner CA");
    a.trust(&ca.cert);
    let mut certs = Vec::new();
    let mut servers = Vec::new();
    for (n, (case, cn, san)) in tricks.iter().enumerate() {
        let c = issue_raw(&a.lab, case, &ca, cn, san.as_deref());
        let (l, p) = listener();
        servers.push((*case, fake_server(l, Some(to_issued(&a.lab, &c)))));
        a.secure_partner(&domains[n], p);
        certs.push(c);
    }
    let _e = a.start();

    // inbound
    let mut wrong = Vec::new();
    for (n, (case, _, _)) in tricks.iter().enumerate() {
        let mut args: Vec<String> = vec![
            "--from".into(),
            format!("x@{}", domains[n]),
            "--to".into(),
            format!("in-{case}@orga.example"),
        ];
        args.extend(tls_args(&certs[n]));
        let t = swaks_owned(&format!("127.0.0.1:{}", a.port), &args);
        let want = if n == 0 {
            "250 2.0.0 Queued as"
        } else {
            "454 4.7.5 Certificate validation failure"
        };
        if reply_line(&t, want).is_none() {
            wrong.push(format!("inbound {case}: want {want}:\n{t}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // outbound
    let rcpts: Vec<String> = domains.iter().map(|d| format!("u@{d}")).collect();
    let t = a.submit("alice@orga.example", &rcpts.join(","), "name tricks");
    assert!(t.contains("250 2.0.0 Queued as"), "{t}");
    assert!(
        wait_until(WAIT, || {
            let q = a.queue();
            q.len() == 1 && q[0]["envelope"]["attempts"].as_u64() >= Some(2)
        }),
        "{:?}",
        a.queue()
    );
    for (n, (case, _, _)) in tricks.iter().enumerate().skip(1) {
        let r = queued_recipient(&a.lab, &rcpts[n]).unwrap();
        if r["status"]["state"] != "deferred"
            || r["last_reply"] != "454 4.7.5 Certificate validation failure"
        {
            wrong.push(format!("outbound {case}: {r}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    for (case, rec) in &servers {
        let seen = rec.lock().unwrap().clone();
        if *case == "control" {
            assert_eq!(seen.delivered, vec![true], "{seen:?}");
        } else {
            assert!(seen.delivered.is_empty(), "{case}: {seen:?}");
            assert!(!seen.plain_mail, "{case}: {seen:?}");
            assert_eq!(seen.tls_sessions, 0, "{case}: {seen:?}");
        }
    }
    let send = events(&a.lab, "SEND");
    assert_eq!(send.len(), 1, "{send:?}");
    assert_eq!(send[0]["next_hop_domain"], "orgb0.example");
    assert_eq!(send[0]["verified_name"], "orgb0.example");
    // the inbound control was delivered, the rest never queued
    assert!(wait_until(Duration::from_secs(10), || a
        .lab
        .maildir("orga.example", "in-control")
        .len()
        == 1));
    for (case, _, _) in tricks.iter().skip(1) {
        assert!(
            a.lab
                .maildir("orga.example", &format!("in-{case}"))
                .is_empty()
        );
    }
}
