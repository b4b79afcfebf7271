//! Helpers for the sending-side end-to-end tests: an in-process DNS
//! responder (UDP, MX and A), organizations provisioned with xshell
//! (lab CA, SMTP certificate, connectors, short retry intervals), fake SMTP
//! servers with chosen certificates (std threads + rustls), a proxy that
//! strips STARTTLS, and smtp-sink. Loopback only; every wait is bounded.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, MX, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub use crate::transport_support::swaks_at;
use crate::transport_support::{Engine, Lab, engine_bin, read_line, wait_until};

// ------------------------------------------------------------------ DNS

/// A zone the tests change as they go: records by (lower-case name without the final dot, type); a name with
/// no record at all is NXDOMAIN.
#[derive(Clone, Default)]
pub struct Zone(Arc<Mutex<Records>>);

type Records = HashMap<(String, RecordType), Vec<RData>>;

impl Zone {
    pub fn set(&self, name: &str, t: RecordType, data: Vec<RData>) {
        self.0.lock().unwrap().insert((name.to_string(), t), data);
    }
    pub fn mx(&self, domain: &str, hosts: &[(u16, &str, Ipv4Addr)]) {
        let mut mx = Vec::new();
        for (pref, host, ip) in hosts {
            let name = Name::from_str(&format!("{host}.")).unwrap();
            mx.push(RData::MX(MX::new(*pref, name)));
            self.a(host, *ip);
        }
        self.set(domain, RecordType::MX, mx);
    }
    pub fn a(&self, host: &str, ip: Ipv4Addr) {
        self.set(host, RecordType::A, vec![RData::A(A(ip))]);
    }
    /// A TXT record (one string) at `name`, besides those it has.
    pub fn txt(&self, name: &str, text: &str) {
        let mut z = self.0.lock().unwrap();
        z.entry((name.to_string(), RecordType::TXT))
            .or_default()
            .push(RData::TXT(TXT::new(vec![text.to_string()])));
    }

    /// Replaces the TXT records at `name` with one.
    pub fn set_txt(&self, name: &str, text: &str) {
        self.set(
            name,
            RecordType::TXT,
            vec![RData::TXT(TXT::new(vec![text.to_string()]))],
        );
    }

    /// Serves the zone on a UDP port of 127.0.0.1 until the test process
    /// ends. TTL 0: the engine's resolver sees every change at once.
    pub fn serve(&self) -> SocketAddr {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        let zone = self.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                    return;
                };
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let mut resp = Message::response(query.metadata.id, query.metadata.op_code);
                resp.metadata.recursion_desired = query.metadata.recursion_desired;
                resp.metadata.recursion_available = true;
                for q in &query.queries {
                    resp.add_query(q.clone());
                    let qn = q.name.to_ascii().to_ascii_lowercase();
                    let qn = qn.trim_end_matches('.').to_string();
                    let z = zone.0.lock().unwrap();
                    match z.get(&(qn.clone(), q.query_type)) {
                        Some(data) => {
                            for d in data {
                                resp.add_answer(Record::from_rdata(q.name.clone(), 0, d.clone()));
                            }
                        }
                        None if z.keys().any(|(n, _)| *n == qn) => {}
                        None => resp.metadata.response_code = ResponseCode::NXDomain,
                    }
                }
                if let Ok(bytes) = resp.to_vec() {
                    let _ = sock.send_to(&bytes, peer);
                }
            }
        });
        addr
    }
}

/// Answers MX `domain` -> `mail.<domain>` and A `mail.<domain>` -> ip, for
/// the domains given; everything else is NXDOMAIN. Runs until the test
/// process ends.
pub fn dns_server(zone: &[(&str, Ipv4Addr)]) -> SocketAddr {
    let z = Zone::default();
    for (d, ip) in zone {
        let d = d.to_ascii_lowercase();
        z.mx(&d, &[(10, &format!("mail.{d}"), *ip)]);
    }
    z.serve()
}

// ------------------------------------------------------------------ reports

/// The `message/delivery-status` part of a report, and its third part's
/// content type; panics unless it is a multipart/report with
/// report-type=delivery-status.
pub fn dsn_parts(m: &str) -> (String, String) {
    let msg = mail_parser::MessageParser::default()
        .parse(m.as_bytes())
        .unwrap();
    use mail_parser::MimeHeaders;
    let ct = msg.content_type().unwrap();
    assert_eq!(
        (ct.ctype(), ct.subtype(), ct.attribute("report-type")),
        ("multipart", Some("report"), Some("delivery-status")),
        "{m}"
    );
    let status = msg
        .parts
        .iter()
        .find(|p| {
            p.content_type()
                .is_some_and(|c| c.subtype() == Some("delivery-status"))
        })
        .map(|p| String::from_utf8_lossy(p.contents()).into_owned())
        .unwrap_or_else(|| panic!("no delivery-status part in {m}"));
    let third = msg
        .parts
        .iter()
        .filter_map(|p| p.content_type())
        .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
        .nth(3)
        .unwrap_or_default();
    (status, third)
}

// ------------------------------------------------------------------ MTA-STS

/// An MTA-STS policy host (RFC 8461 3.3): `openssl s_server -WWW` on
/// `ip`:443 serving `dir`, with `cert` and `key` (PEM, or DER when the file
/// names end in `.der`); killed on drop.
pub struct PolicyServer {
    child: Child,
    dir: PathBuf,
}

impl PolicyServer {
    pub fn start(dir: &Path, ip: Ipv4Addr, cert: &Path, key: &Path) -> PolicyServer {
        fs::create_dir_all(dir.join(".well-known")).unwrap();
        let out = dir.join("s_server.out");
        let child = Command::new("openssl")
            .args(["s_server", "-WWW", "-accept"])
            .arg(format!("{ip}:443"))
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key)
            .args(if cert.extension().is_some_and(|e| e == "der") {
                &["-certform", "DER", "-keyform", "DER"][..]
            } else {
                &[]
            })
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(dir.join("s_server.err")).unwrap())
            .spawn()
            .expect("openssl runs (apt-get install openssl)");
        let s = PolicyServer {
            child,
            dir: dir.to_path_buf(),
        };
        assert!(
            wait_until(Duration::from_secs(10), || fs::read_to_string(&out)
                .unwrap_or_default()
                .contains("ACCEPT")),
            "openssl s_server did not start on {ip}:443: {}",
            fs::read_to_string(dir.join("s_server.err")).unwrap_or_default()
        );
        s
    }

    pub fn policy(&self, text: &str) {
        fs::write(self.dir.join(".well-known").join("mta-sts.txt"), text).unwrap();
    }
}

impl Drop for PolicyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------------ organizations

/// One organization: a store provisioned with xshell, its engine's ports.
pub struct Org {
    pub lab: Lab,
    pub domain: String,
    pub ip: String,
    /// The Internet receive connector (Domain Security).
    pub port: u16,
    /// The submission connector (ExternalAuthoritative).
    pub submission: u16,
    pub ca_pem: PathBuf,
}

fn free_port_on(ip: &str) -> u16 {
    crate::transport_support::unique_listener(ip).1
}

impl Org {
    /// `domain` on `ip`: accepted domain, lab CA (trusted), SMTP certificate
    /// for `mail.<domain>` and `<domain>` signed by it, an Internet receive
    /// connector with Domain Security, a submission connector with
    /// ExternalAuthoritative, DNS at `dns`, retries every second.
    pub fn new(domain: &str, ip: &str, dns: SocketAddr) -> Org {
        let lab = Lab::new();
        let port = free_port_on(ip);
        let submission = free_port_on(ip);
        let fqdn = format!("mail.{domain}");
        let x = |args: &[&str]| lab.xshell(args);
        x(&[
            "set-transportservice",
            "--fqdn",
            &fqdn,
            "--external-dns-servers",
            &dns.to_string(),
            "--transient-failure-retry-interval",
            "00:00:01",
            "--outbound-connection-failure-retry-interval",
            "00:00:01",
            "--message-retry-interval",
            "00:00:01",
        ]);
        x(&["new-accepteddomain", "Org", "--domain-name", domain]);
        let ca = lab.work.join("ca");
        x(&[
            "ca-new",
            "--name",
            &format!("{domain} Lab CA"),
            "--path",
            ca.to_str().unwrap(),
        ]);
        let ca_pem = ca.join("ca.pem");
        x(&["import-certificate", ca_pem.to_str().unwrap()]);
        let req = lab.work.join("smtp.req");
        let cer = lab.work.join("smtp.cer");
        x(&[
            "request-cert",
            "--subject-name",
            &format!("CN={fqdn}"),
            "--domain-name",
            &format!("{fqdn},{domain}"),
            "--path",
            req.to_str().unwrap(),
        ]);
        x(&[
            "ca-sign",
            "--ca",
            ca.to_str().unwrap(),
            "--request-file",
            req.to_str().unwrap(),
            "--path",
            cer.to_str().unwrap(),
        ]);
        x(&[
            "-c",
            &format!(
                "Import-ExchangeCertificate -Path '{}' | Enable-ExchangeCertificate -Services SMTP",
                cer.display()
            ),
        ]);
        x(&[
            "new-receiveconnector",
            "Inbound",
            "--usage",
            "internet",
            "--bindings",
            &format!("{ip}:{port}"),
            "--domain-secure-enabled",
            "--auth-mechanism",
            "tls",
            "--fqdn",
            &fqdn,
        ]);
        x(&[
            "new-receiveconnector",
            "Submission",
            "--usage",
            "custom",
            "--bindings",
            &format!("{ip}:{submission}"),
            "--remote-ip-ranges",
            "127.0.0.0/8",
            "--auth-mechanism",
            "ExternalAuthoritative",
            "--permission-groups",
            "ExchangeServers",
            "--fqdn",
            &fqdn,
        ]);
        Org {
            lab,
            domain: domain.to_string(),
            ip: ip.to_string(),
            port,
            submission,
            ca_pem,
        }
    }

    pub fn xshell(&self, args: &[&str]) -> String {
        self.lab.xshell(args)
    }

    /// Trusts a root (PEM file).
    pub fn trust(&self, pem: &Path) {
        self.xshell(&["import-certificate", pem.to_str().unwrap()]);
    }

    /// Two partner organizations: `orga.example` on 127.0.0.1 and
    /// `orgb.example` on 127.0.0.2 (DNS on loopback), each trusting the
    /// other's CA, with Domain Security between them both ways.
    pub fn partners() -> (Org, Org) {
        let dns = dns_server(&[
            ("orga.example", Ipv4Addr::new(127, 0, 0, 1)),
            ("orgb.example", Ipv4Addr::new(127, 0, 0, 2)),
        ]);
        let a = Org::new("orga.example", "127.0.0.1", dns);
        let b = Org::new("orgb.example", "127.0.0.2", dns);
        a.trust(&b.ca_pem);
        b.trust(&a.ca_pem);
        a.secure_partner("orgb.example", b.port);
        b.secure_partner("orga.example", a.port);
        (a, b)
    }

    /// Domain Security with `domain` in both directions and a send
    /// connector for it to `port` (DNS gives the host).
    pub fn secure_partner(&self, domain: &str, port: u16) {
        self.add_secure_domain(domain);
        self.send_connector(&format!("To {domain}"), domain, port, true);
    }

    /// Adds `domain` to both Domain Security lists.
    pub fn add_secure_domain(&self, domain: &str) {
        let edit = format!("@{{Add=\"{domain}\"}}");
        self.xshell(&[
            "set-transportconfig",
            "--tls-send-domain-secure-list",
            &edit,
            "--tls-receive-domain-secure-list",
            &edit,
        ]);
    }

    pub fn send_connector(&self, name: &str, space: &str, port: u16, domain_secure: bool) {
        let port = port.to_string();
        let mut args = vec![
            "new-sendconnector",
            name,
            "--address-spaces",
            space,
            "--port",
            &port,
            "--usage",
            "internet",
        ];
        if domain_secure {
            args.push("--domain-secure-enabled");
        }
        self.xshell(&args);
    }

    /// Starts the engine; waits until both connectors listen.
    pub fn start(&self) -> Engine {
        let log = self.lab.work.join("engine.log");
        let child = Command::new(engine_bin())
            .arg("--store")
            .arg(&self.lab.store)
            .arg("--grace")
            .arg("2")
            .env("RUST_LOG", "info")
            .env_remove("XSHELL_STORE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let e = Engine { child, log };
        for port in [self.port, self.submission] {
            let needle = format!("listening addr={}:{port}", self.ip);
            assert!(
                wait_until(Duration::from_secs(20), || e.log_text().contains(&needle)),
                "the engine of {} did not listen on {port}:\n{}",
                self.domain,
                e.log_text()
            );
        }
        e
    }

    /// Submits a message on the submission connector with swaks; the
    /// transcript.
    pub fn submit(&self, from: &str, to: &str, subject: &str) -> String {
        swaks_at(
            &format!("{}:{}", self.ip, self.submission),
            &[
                "--from",
                from,
                "--to",
                to,
                "--header",
                &format!("Subject: {subject}"),
            ],
        )
    }

    /// The queued envelopes, parsed.
    pub fn queue(&self) -> Vec<serde_json::Value> {
        self.lab
            .queued_envelopes()
            .iter()
            .filter_map(|s| serde_json::from_str(s).ok())
            .collect()
    }
}

// ------------------------------------------------------------------ certificates

pub struct Issued {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Clone for Issued {
    fn clone(&self) -> Self {
        Issued {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

pub mod pki {
    use super::*;
    use time::{Duration as TDuration, OffsetDateTime};
    use xshell_core::pki::ca::LabCa;
    use xshell_core::pki::dn::SubjectName;
    use xshell_core::pki::keys::{KeyAlgorithm, generate};
    use xshell_core::pki::request::create_request;
    use xshell_core::pki::selfsigned::create_self_signed;

    pub fn ca(cn: &str) -> LabCa {
        LabCa::create_with(cn, 30, KeyAlgorithm::EcdsaP256).unwrap()
    }

    /// The CA certificate as a PEM file in `dir`.
    pub fn ca_file(ca: &LabCa, dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(format!("{name}.pem"));
        fs::write(&p, &ca.cert_pem).unwrap();
        p
    }

    pub fn issue_between(
        ca: &LabCa,
        names: &[&str],
        nb: OffsetDateTime,
        na: OffsetDateTime,
    ) -> Issued {
        let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
        let subject = SubjectName::from_cn(names[0]).unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let csr = create_request(&subject, &names, &key).unwrap();
        let der = ca.sign_csr_between(csr.der(), nb, na).unwrap();
        Issued {
            chain: vec![CertificateDer::from(der)],
            key: PrivateKeyDer::Pkcs8(key.pkcs8_der().to_vec().into()),
        }
    }

    pub fn issue(ca: &LabCa, names: &[&str]) -> Issued {
        let now = OffsetDateTime::now_utc();
        issue_between(
            ca,
            names,
            now - TDuration::hours(1),
            now + TDuration::days(10),
        )
    }

    pub fn expired(ca: &LabCa, names: &[&str]) -> Issued {
        let now = OffsetDateTime::now_utc();
        issue_between(
            ca,
            names,
            now - TDuration::days(10),
            now - TDuration::days(1),
        )
    }

    pub fn self_signed(name: &str) -> Issued {
        let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
        let subject = SubjectName::from_cn(name).unwrap();
        let der = create_self_signed(&subject, &[name.to_string()], &key).unwrap();
        Issued {
            chain: vec![CertificateDer::from(der)],
            key: PrivateKeyDer::Pkcs8(key.pkcs8_der().to_vec().into()),
        }
    }
}

// ------------------------------------------------------------------ fake SMTP servers

/// What a fake server saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub connections: usize,
    /// A MAIL FROM arrived outside TLS.
    pub plain_mail: bool,
    pub tls_sessions: usize,
    /// Messages accepted (after the final dot), and whether over TLS.
    pub delivered: Vec<bool>,
    /// Every command verb received (upper-case, first four letters).
    pub commands: Vec<String>,
    /// Every MAIL and RCPT line received, as sent.
    pub envelope_lines: Vec<String>,
}

pub type Rec = Arc<Mutex<Seen>>;

/// A fake SMTP server on 127.0.0.1:`port` (0: any); STARTTLS offered with
/// `cert` (in the middle of the EHLO reply); runs until the process ends.
pub fn fake_server(listener: TcpListener, cert: Option<Issued>) -> Rec {
    let rec: Rec = Arc::default();
    let tls = cert.map(|c| {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(c.chain, c.key)
                .unwrap(),
        )
    });
    let r = Arc::clone(&rec);
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(s) = s else { continue };
            let (tls, r) = (tls.clone(), Arc::clone(&r));
            std::thread::spawn(move || serve(s, tls, r));
        }
    });
    rec
}

/// A fake SMTP server that offers STARTTLS but answers the client's
/// handshake with bytes that are not TLS: an opportunistic client's
/// handshake fails, and its plaintext retry is accepted.
pub fn broken_tls_server(listener: TcpListener) -> Rec {
    let rec: Rec = Arc::default();
    let r = Arc::clone(&rec);
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            let r = Arc::clone(&r);
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
                r.lock().unwrap().connections += 1;
                if s.write_all(b"220 fake.test ESMTP\r\n").is_err() {
                    return;
                }
                if dialogue(&mut s, false, true, &r) {
                    let _ = s.write_all(b"this is not TLS\r\n");
                }
            });
        }
    });
    rec
}

/// A listener on a loopback port handed out once in this process (its
/// port alone, the listener dropped, is a closed port).
pub fn listener() -> (TcpListener, u16) {
    crate::transport_support::unique_listener("127.0.0.1")
}

/// Runs the SMTP dialogue; `Ok(true)` when the client asked for STARTTLS.
fn dialogue(s: &mut (impl Read + Write), tls: bool, offer: bool, rec: &Rec) -> bool {
    loop {
        let Some(line) = read_line(s) else {
            return false;
        };
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        rec.lock().unwrap().commands.push(verb.clone());
        if verb == "MAIL" || verb == "RCPT" {
            rec.lock()
                .unwrap()
                .envelope_lines
                .push(line.trim_end().to_string());
        }
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => {
                if offer && !tls {
                    b"250-fake.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
                } else {
                    b"250-fake.test\r\n250 8BITMIME\r\n"
                }
            }
            "HELO" => b"250 fake.test\r\n",
            "STAR" if offer && !tls => {
                let _ = s.write_all(b"220 2.0.0 go ahead\r\n");
                return true;
            }
            "MAIL" => {
                let mut r = rec.lock().unwrap();
                if !tls {
                    r.plain_mail = true;
                }
                b"250 2.1.0 ok\r\n"
            }
            // A recipient whose local part starts with "reject" is unknown.
            "RCPT" if line.to_ascii_lowercase().contains("<reject") => {
                b"550 5.1.1 no such user\r\n"
            }
            "RCPT" => b"250 2.1.5 ok\r\n",
            "DATA" => {
                let _ = s.write_all(b"354 go\r\n");
                loop {
                    match read_line(s) {
                        Some(l) if l == ".\r\n" => break,
                        Some(_) => {}
                        None => return false,
                    }
                }
                rec.lock().unwrap().delivered.push(tls);
                b"250 2.0.0 queued\r\n"
            }
            "RSET" | "NOOP" => b"250 2.0.0 ok\r\n",
            "QUIT" => {
                let _ = s.write_all(b"221 2.0.0 bye\r\n");
                return false;
            }
            _ => b"500 5.5.1 what\r\n",
        };
        if s.write_all(reply).is_err() {
            return false;
        }
    }
}

fn serve(mut tcp: TcpStream, tls: Option<Arc<rustls::ServerConfig>>, rec: Rec) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(20)));
    rec.lock().unwrap().connections += 1;
    if tcp.write_all(b"220 fake.test ESMTP\r\n").is_err() {
        return;
    }
    let offer = tls.is_some();
    if !dialogue(&mut tcp, false, offer, &rec) {
        return;
    }
    let Some(cfg) = tls else { return };
    let Ok(conn) = rustls::ServerConnection::new(cfg) else {
        return;
    };
    let mut s = rustls::StreamOwned::new(conn, tcp);
    // The handshake runs with the first read; a refused certificate ends it.
    if s.conn.is_handshaking() {
        while s.conn.is_handshaking() {
            if s.conn.complete_io(&mut s.sock).is_err() {
                return;
            }
        }
    }
    rec.lock().unwrap().tls_sessions += 1;
    dialogue(&mut s, true, offer, &rec);
}

/// A proxy on 127.0.0.1 that forwards to `upstream` and removes the
/// `250-STARTTLS` line from the server's replies. Records whether a MAIL
/// FROM went through (in plaintext, by construction).
pub fn stripping_proxy(upstream: u16) -> (u16, Arc<Mutex<bool>>) {
    let (l, port) = listener();
    let mail_seen = Arc::new(Mutex::new(false));
    let seen = Arc::clone(&mail_seen);
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(client) = c else { continue };
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let seen = Arc::clone(&seen);
            let (mut c_r, mut s_w) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut text = Vec::new();
                while let Ok(n) = c_r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    text.extend_from_slice(&buf[..n]);
                    if String::from_utf8_lossy(&text)
                        .to_ascii_uppercase()
                        .contains("MAIL FROM")
                    {
                        *seen.lock().unwrap() = true;
                    }
                    if s_w.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = s_w.shutdown(std::net::Shutdown::Write);
            });
            let (mut s_r, mut c_w) = (server, client);
            std::thread::spawn(move || {
                while let Some(line) = read_line(&mut s_r) {
                    if line.eq_ignore_ascii_case("250-STARTTLS\r\n") {
                        continue;
                    }
                    if c_w.write_all(line.as_bytes()).is_err() {
                        break;
                    }
                }
                let _ = c_w.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (port, mail_seen)
}

// ------------------------------------------------------------------ smtp-sink

pub struct Sink {
    child: Child,
    pub port: u16,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn sink_bin() -> Option<PathBuf> {
    ["/usr/sbin/smtp-sink", "/usr/bin/smtp-sink"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn greets(port: u16) -> bool {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(n) if n >= 3 && buf.starts_with(b"220"))
}

/// smtp-sink on 127.0.0.1:`port`, dumping messages into `dump`.
pub fn start_sink(bin: &Path, port: u16, dump: &Path) -> Sink {
    fs::create_dir_all(dump).unwrap();
    let mut cmd = Command::new(bin);
    let root = std::env::var("USER").map(|u| u == "root").unwrap_or(true);
    if root {
        cmd.args(["-u", "nobody"]);
        let _ = Command::new("chmod").arg("0777").arg(dump).status();
    }
    let child = cmd
        .arg("-D")
        .arg(dump.join("msg"))
        .arg(format!("127.0.0.1:{port}"))
        .arg("10")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !greets(port) {
        assert!(Instant::now() < deadline, "smtp-sink did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Sink { child, port }
}
