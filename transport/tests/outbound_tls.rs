//! The sending side against real loopback SMTP servers built here: the
//! transport's own sans-IO server session driven over tokio + tokio-rustls,
//! with certificates from a lab CA. Shows that Domain Security delivers
//! only over verified mutual TLS against the next-hop domain, fails with
//! the reference's transient replies otherwise, and never sends MAIL FROM
//! in plaintext when TLS is required; and that opportunistic TLS works
//! against plaintext and self-signed servers.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use time::{Duration as TDuration, OffsetDateTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use xshell_core::pki::ca::LabCa;
use xshell_core::pki::dn::SubjectName;
use xshell_core::pki::keys::{KeyAlgorithm, generate};
use xshell_core::pki::request::create_request;
use xshell_core::pki::selfsigned::create_self_signed;
use xshell_smtp::client::Transaction;
use xshell_smtp::{Action, ClientCertificate, Session, SessionConfig, TlsFacts, Verdict};
use xshell_transport::dns::Host;
use xshell_transport::outbound::deliver::{
    DeliveryReport, Outcome, SendOptions, Timeouts, deliver,
};
use xshell_transport::outbound::tls::{
    ClientIdentity, TlsMaterial, TlsPolicy, client_config, decide,
};

const WAIT: Duration = Duration::from_secs(20);

// ------------------------------------------------------------------ PKI

struct Issued {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Clone for Issued {
    fn clone(&self) -> Self {
        Issued {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

fn ca(cn: &str) -> LabCa {
    LabCa::create_with(cn, 30, KeyAlgorithm::EcdsaP256).unwrap()
}

fn root(ca: &LabCa) -> CertificateDer<'static> {
    CertificateDer::from(ca.cert_der().unwrap())
}

fn issue_between(ca: &LabCa, names: &[&str], nb: OffsetDateTime, na: OffsetDateTime) -> Issued {
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

fn issue(ca: &LabCa, names: &[&str]) -> Issued {
    let now = OffsetDateTime::now_utc();
    issue_between(
        ca,
        names,
        now - TDuration::hours(1),
        now + TDuration::days(10),
    )
}

fn self_signed(name: &str) -> Issued {
    let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
    let subject = SubjectName::from_cn(name).unwrap();
    let der = create_self_signed(&subject, &[name.to_string()], &key).unwrap();
    Issued {
        chain: vec![CertificateDer::from(der)],
        key: PrivateKeyDer::Pkcs8(key.pkcs8_der().to_vec().into()),
    }
}

// ------------------------------------------------------------------ server

#[derive(Clone, Default)]
struct ServerSetup {
    /// Server certificate; None: STARTTLS not offered.
    cert: Option<Issued>,
    /// Require a client certificate chaining to these roots.
    client_roots: Vec<CertificateDer<'static>>,
    /// Answer 220 to STARTTLS, then send garbage and close.
    broken_tls: bool,
}

#[derive(Default, Debug)]
struct Seen {
    /// MAIL FROM arrived outside TLS.
    plain_mail: bool,
    mail_commands: usize,
    /// (recipients, message, TLS facts)
    delivered: Vec<(Vec<String>, Vec<u8>, Option<TlsFacts>)>,
    client_subject: Option<String>,
}

type Record = Arc<Mutex<Seen>>;

enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Io {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Io::Plain(s) => s.read(buf).await,
            Io::Tls(s) => s.read(buf).await,
        }
    }
    async fn write(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Io::Plain(s) => s.write_all(b).await?,
            Io::Tls(s) => s.write_all(b).await?,
        }
        match self {
            Io::Plain(s) => s.flush().await,
            Io::Tls(s) => s.flush().await,
        }
    }
}

fn server_tls(setup: &ServerSetup) -> Option<Arc<rustls::ServerConfig>> {
    let cert = setup.cert.as_ref()?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if setup.client_roots.is_empty() {
        builder.with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for r in &setup.client_roots {
            roots.add(r.clone()).unwrap();
        }
        let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        builder.with_client_cert_verifier(v)
    };
    Some(Arc::new(
        builder
            .with_single_cert(cert.chain.clone(), cert.key.clone_key())
            .unwrap(),
    ))
}

async fn serve(tcp: TcpStream, setup: Arc<ServerSetup>, rec: Record) {
    let tls = server_tls(&setup);
    let mut cfg = SessionConfig::new("mx.orgb.example");
    cfg.offer_starttls = tls.is_some();
    let mut session = Session::new(Arc::new(cfg), None);
    let mut io = Io::Plain(tcp);
    let mut buf = vec![0u8; 16384];
    let mut message = Vec::new();
    loop {
        let action = session.poll();
        let out = session.take_output();
        if !out.is_empty() && io.write(&out).await.is_err() {
            return;
        }
        let verdict = match action {
            Action::NeedInput => {
                match io.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => session.feed(&buf[..n]),
                }
                continue;
            }
            Action::CheckMail { .. } => {
                let mut r = rec.lock().unwrap();
                r.mail_commands += 1;
                if session.tls().is_none() {
                    r.plain_mail = true;
                }
                Verdict::Accept
            }
            Action::CheckRcpt { to } => {
                if to.local_part.starts_with('x') {
                    Verdict::Reject(xshell_smtp::Reply::new(550, (5, 1, 1), "no such user"))
                } else {
                    Verdict::Accept
                }
            }
            Action::MessageData(chunk) => {
                message.extend_from_slice(&chunk);
                continue;
            }
            Action::MessageRefused => {
                message.clear();
                continue;
            }
            Action::Deliver { envelope } => {
                rec.lock().unwrap().delivered.push((
                    envelope.rcpt_to.iter().map(ToString::to_string).collect(),
                    std::mem::take(&mut message),
                    envelope.tls.clone(),
                ));
                Verdict::Accept
            }
            Action::StartTls { .. } => {
                let Io::Plain(mut tcp) = io else { return };
                if setup.broken_tls {
                    let _ = tcp.write_all(b"this is not TLS\r\n").await;
                    return;
                }
                let Some(config) = tls.clone() else { return };
                let Ok(s) = tokio_rustls::TlsAcceptor::from(config).accept(tcp).await else {
                    return;
                };
                let (_, conn) = s.get_ref();
                let client_certificate =
                    conn.peer_certificates().and_then(|c| c.first()).map(|c| {
                        let info = xshell_core::pki::cert::parse_certificate(c.as_ref()).unwrap();
                        rec.lock().unwrap().client_subject = Some(info.subject.clone());
                        ClientCertificate {
                            subject: info.subject,
                            issuer: info.issuer,
                            thumbprint: info.thumbprint,
                            names: info.dns_names,
                            chain_verified: true,
                            server_auth_only: false,
                            direct_trust: false,
                        }
                    });
                let facts = TlsFacts {
                    protocol: format!("{:?}", conn.protocol_version()),
                    cipher: format!("{:?}", conn.negotiated_cipher_suite().map(|s| s.suite())),
                    sni: conn.server_name().map(str::to_string),
                    client_certificate,
                };
                io = Io::Tls(Box::new(s));
                session = session.into_tls(facts).unwrap();
                continue;
            }
            Action::Close | Action::AwaitingDecision => return,
        };
        session.decide(verdict).unwrap();
    }
}

/// Starts a server; returns its address and what it saw.
async fn start(setup: ServerSetup) -> (SocketAddr, Record) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let rec: Record = Arc::default();
    let setup = Arc::new(setup);
    let r = rec.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(serve(tcp, setup.clone(), r.clone()));
        }
    });
    (addr, rec)
}

/// A man in the middle that turns `STARTTLS` in the server's replies into
/// `XXXXXXXX`, as STARTTLS-stripping middleboxes do.
async fn stripping_proxy(upstream: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let server = TcpStream::connect(upstream).await.unwrap();
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut cr, &mut sw).await;
                });
                let mut buf = vec![0u8; 8192];
                while let Ok(n) = sr.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let text = String::from_utf8_lossy(&buf[..n]).replace("STARTTLS", "XXXXXXXX");
                    if cw.write_all(text.as_bytes()).await.is_err() {
                        break;
                    }
                }
                up.abort();
            });
        }
    });
    addr
}

// ------------------------------------------------------------------ client side

fn host(name: &str, addr: SocketAddr) -> Vec<Host> {
    vec![Host {
        name: name.to_string(),
        preference: 10,
        addrs: vec![addr],
    }]
}

fn message(rcpts: &[&str]) -> Transaction {
    Transaction {
        sender: "alice@orga.example".into(),
        recipients: rcpts.iter().map(|s| s.to_string()).collect(),
        message:
            b"From: alice@orga.example\r\nSubject: partner mail\r\n\r\n.leading dot\r\nbody\r\n"
                .to_vec()
                .into(),
        dsn: Default::default(),
        smtputf8: false,
        requiretls: false,
    }
}

fn options(policy: TlsPolicy, material: &TlsMaterial) -> SendOptions {
    let tls = match policy {
        TlsPolicy::Plaintext => None,
        _ => Some(client_config(&policy, material).unwrap()),
    };
    SendOptions {
        helo_name: "mail.orga.example".into(),
        auth: None,
        source_ip: None,
        loop_detection: true,
        policy,
        tls,
        timeouts: Timeouts {
            connect: Duration::from_secs(5),
            command: Duration::from_secs(5),
            data_end: Duration::from_secs(5),
        },
        protocol_log: None,
    }
}

fn domain_secure() -> TlsPolicy {
    TlsPolicy::DomainSecure {
        domain: "orgb.example".into(),
    }
}

async fn run(hosts: Vec<Host>, opts: SendOptions, msgs: Vec<Transaction>) -> DeliveryReport {
    tokio::time::timeout(WAIT, deliver(&hosts, &opts, msgs))
        .await
        .expect("delivery finished in time")
}

/// Two organizations: A (us) and B (the partner), one lab CA trusted by both.
struct Lab {
    ca: LabCa,
    ours: Issued,
}

fn lab() -> Lab {
    let ca = ca("Lab Root CA");
    let ours = issue(&ca, &["mail.orga.example"]);
    Lab { ca, ours }
}

impl Lab {
    fn material(&self) -> TlsMaterial {
        TlsMaterial {
            roots: vec![root(&self.ca)],
            client: Some(ClientIdentity {
                chain: self.ours.chain.clone(),
                key: self.ours.key.clone_key(),
            }),
            pin: None,
            ..Default::default()
        }
    }
    /// B's server: STARTTLS with `cert`, client certificates required from our CA.
    fn partner(&self, cert: Issued) -> ServerSetup {
        ServerSetup {
            cert: Some(cert),
            client_roots: vec![root(&self.ca)],
            broken_tls: false,
        }
    }
}

fn only_outcome(report: &DeliveryReport) -> &Outcome {
    assert_eq!(report.messages.len(), 1);
    assert_eq!(report.messages[0].recipients.len(), 1);
    &report.messages[0].recipients[0].1
}

fn assert_transient(report: &DeliveryReport, wire: &str) {
    let o = only_outcome(report);
    assert!(o.is_temporary(), "{o:?}");
    assert_eq!(o.reply().to_string(), wire, "{o:?}");
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn domain_secure_delivers_over_verified_mutual_tls() {
    let lab = lab();
    // The certificate names the partner's domain (a subdomain of it), not
    // the MX host name we connect to: the check is against the next hop.
    let (addr, rec) = start(lab.partner(issue(&lab.ca, &["mail.orgb.example"]))).await;
    let report = run(
        host("mx1.orgb.example", addr),
        options(domain_secure(), &lab.material()),
        vec![
            message(&["bob@orgb.example", "xavier@orgb.example"]),
            message(&["carol@orgb.example"]),
        ],
    )
    .await;
    let m = &report.messages;
    assert!(m[0].recipients[0].1.is_delivered(), "{report:?}");
    // a 5xx at RCPT is permanent for that recipient only
    assert!(m[0].recipients[1].1.is_permanent());
    assert_eq!(m[0].recipients[1].1.reply().code, 550);
    // a second message on the same connection
    assert!(m[1].recipients[0].1.is_delivered());

    let tls = report.tls.as_ref().expect("TLS facts");
    assert!(tls.domain_secured);
    assert_eq!(tls.verified_name.as_deref(), Some("orgb.example"));
    assert!(tls.protocol.starts_with("TLSv1."), "{tls:?}");
    assert_eq!(tls.server_subject.as_deref(), Some("CN=mail.orgb.example"));

    let seen = rec.lock().unwrap();
    assert!(!seen.plain_mail);
    assert_eq!(seen.client_subject.as_deref(), Some("CN=mail.orga.example"));
    assert_eq!(seen.delivered.len(), 2);
    assert_eq!(seen.delivered[0].0, ["bob@orgb.example"]);
    // dot-stuffing round trip: the server got our bytes back
    assert!(
        seen.delivered[0]
            .1
            .ends_with(b"\r\n.leading dot\r\nbody\r\n")
    );
    assert!(seen.delivered[0].2.is_some());
}

#[tokio::test]
async fn domain_secure_refuses_an_untrusted_ca() {
    let lab = lab();
    let other = ca("Some Other CA");
    let (addr, rec) = start(lab.partner(issue(&other, &["mail.orgb.example"]))).await;
    let report = run(
        host("mx1.orgb.example", addr),
        options(domain_secure(), &lab.material()),
        vec![message(&["bob@orgb.example"])],
    )
    .await;
    assert_transient(&report, "454 4.7.5 Certificate validation failure");
    assert!(report.connection_failed);
    assert!(report.tls.is_none());
    assert_eq!(rec.lock().unwrap().mail_commands, 0);
}

#[tokio::test]
async fn domain_secure_refuses_a_certificate_for_another_domain() {
    let lab = lab();
    // Valid chain, but for another organization (and for the MX host name
    // itself, which must not be what is checked).
    let cert = issue(&lab.ca, &["mail.orgc.example", "mx1.orgb-mail.example"]);
    let (addr, rec) = start(lab.partner(cert)).await;
    let report = run(
        host("mx1.orgb-mail.example", addr),
        options(domain_secure(), &lab.material()),
        vec![message(&["bob@orgb.example"])],
    )
    .await;
    assert_transient(&report, "454 4.7.5 Certificate validation failure");
    assert_eq!(rec.lock().unwrap().mail_commands, 0);
}

#[tokio::test]
async fn domain_secure_refuses_an_expired_certificate() {
    let lab = lab();
    let now = OffsetDateTime::now_utc();
    let cert = issue_between(
        &lab.ca,
        &["mail.orgb.example"],
        now - TDuration::days(20),
        now - TDuration::days(1),
    );
    let (addr, rec) = start(lab.partner(cert)).await;
    let report = run(
        host("mx1.orgb.example", addr),
        options(domain_secure(), &lab.material()),
        vec![message(&["bob@orgb.example"])],
    )
    .await;
    assert_transient(&report, "454 4.7.5 Certificate validation failure");
    let o = only_outcome(&report);
    let Outcome::Temporary(f) = o else { panic!() };
    assert!(f.detail.contains("Expired"), "{}", f.detail);
    assert_eq!(rec.lock().unwrap().mail_commands, 0);
}

#[tokio::test]
async fn domain_secure_without_starttls_never_sends_in_plaintext() {
    let lab = lab();
    let (addr, rec) = start(ServerSetup::default()).await;
    let report = run(
        host("mx1.orgb.example", addr),
        options(domain_secure(), &lab.material()),
        vec![message(&["bob@orgb.example"])],
    )
    .await;
    assert_transient(&report, "451 5.7.3 STARTTLS is required to send mail");
    let seen = rec.lock().unwrap();
    assert!(!seen.plain_mail);
    assert_eq!(seen.mail_commands, 0);
}

#[tokio::test]
async fn domain_secure_through_a_starttls_stripping_proxy_never_sends_in_plaintext() {
    let lab = lab();
    let (addr, rec) = start(lab.partner(issue(&lab.ca, &["mail.orgb.example"]))).await;
    let proxy = stripping_proxy(addr).await;
    let report = run(
        host("mx1.orgb.example", proxy),
        options(domain_secure(), &lab.material()),
        vec![message(&["bob@orgb.example"])],
    )
    .await;
    assert_transient(&report, "451 5.7.3 STARTTLS is required to send mail");
    let seen = rec.lock().unwrap();
    assert!(!seen.plain_mail);
    assert_eq!(seen.mail_commands, 0);
}

#[tokio::test]
async fn domain_secure_disabled_on_the_connector_is_refused_before_connecting() {
    let mut c = xshell_core::model::SendConnector::new("Partner");
    c.address_spaces = vec!["orgb.example".parse().unwrap()];
    let list = vec!["orgb.example".parse().unwrap()];
    let refusal = decide("orgb.example", &c, &list, false).unwrap_err();
    let report = DeliveryReport::failed(
        &[message(&["bob@orgb.example"])],
        &xshell_transport::outbound::deliver::Cause::Policy(refusal),
    );
    assert_transient(
        &report,
        "451 4.7.3 The admin has temporarily disallowed this secure domain",
    );
}

#[tokio::test]
async fn opportunistic_plaintext_to_a_server_without_starttls() {
    let (addr, rec) = start(ServerSetup::default()).await;
    let report = run(
        host("mx.orgc.example", addr),
        options(TlsPolicy::Opportunistic, &TlsMaterial::default()),
        vec![message(&["bob@orgc.example"])],
    )
    .await;
    assert!(only_outcome(&report).is_delivered(), "{report:?}");
    assert!(report.tls.is_none());
    assert!(rec.lock().unwrap().plain_mail);
}

#[tokio::test]
async fn opportunistic_encrypts_to_a_self_signed_server() {
    let (addr, rec) = start(ServerSetup {
        cert: Some(self_signed("mx.orgc.example")),
        ..ServerSetup::default()
    })
    .await;
    let report = run(
        host("mx.orgc.example", addr),
        options(TlsPolicy::Opportunistic, &TlsMaterial::default()),
        vec![message(&["bob@orgc.example"])],
    )
    .await;
    assert!(only_outcome(&report).is_delivered(), "{report:?}");
    let tls = report.tls.expect("encrypted");
    assert!(!tls.domain_secured);
    assert_eq!(tls.verified_name, None);
    assert_eq!(tls.server_subject.as_deref(), Some("CN=mx.orgc.example"));
    let seen = rec.lock().unwrap();
    assert!(!seen.plain_mail);
    assert!(seen.delivered[0].2.is_some());
}

#[tokio::test]
async fn opportunistic_handshake_failure_goes_plaintext_next_time() {
    let (addr, rec) = start(ServerSetup {
        cert: Some(self_signed("mx.orgc.example")),
        broken_tls: true,
        ..ServerSetup::default()
    })
    .await;
    let report = run(
        host("mx.orgc.example", addr),
        options(TlsPolicy::Opportunistic, &TlsMaterial::default()),
        vec![message(&["bob@orgc.example"])],
    )
    .await;
    let o = only_outcome(&report);
    assert!(o.is_temporary(), "{o:?}");
    let Outcome::Temporary(f) = o else { panic!() };
    assert!(f.detail.contains("plaintext"), "{}", f.detail);
    assert_eq!(report.plaintext_next_time, ["mx.orgc.example"]);

    // the caller records it; the next attempt is plaintext and succeeds
    let c = xshell_core::model::SendConnector::new("Internet");
    let policy = decide("orgc.example", &c, &[], true).unwrap();
    assert_eq!(policy, TlsPolicy::Plaintext);
    let report = run(
        host("mx.orgc.example", addr),
        options(policy, &TlsMaterial::default()),
        vec![message(&["bob@orgc.example"])],
    )
    .await;
    assert!(only_outcome(&report).is_delivered(), "{report:?}");
    assert!(rec.lock().unwrap().plain_mail);
}

#[tokio::test]
async fn require_tls_levels_against_real_servers() {
    use xshell_core::model::TlsAuthLevel::*;
    let lab = lab();
    let (trusted, _) = start(ServerSetup {
        cert: Some(issue(&lab.ca, &["mx.orgc.example"])),
        ..ServerSetup::default()
    })
    .await;
    let (selfsigned, _) = start(ServerSetup {
        cert: Some(self_signed("mx.orgc.example")),
        ..ServerSetup::default()
    })
    .await;
    let material = TlsMaterial {
        roots: vec![root(&lab.ca)],
        client: None,
        pin: None,
        ..Default::default()
    };
    let required = |level, name: Option<&str>| TlsPolicy::Required {
        level,
        name: name.map(|n| xshell_transport::outbound::tls::NameCheck {
            name: n.into(),
            allow_subdomain: true,
        }),
    };
    let cases = [
        (selfsigned, required(EncryptionOnly, None), true),
        (selfsigned, required(CertificateValidation, None), false),
        (trusted, required(CertificateValidation, None), true),
        (
            trusted,
            required(DomainValidation, Some("orgc.example")),
            true,
        ),
        (
            trusted,
            required(DomainValidation, Some("orgd.example")),
            false,
        ),
    ];
    for (addr, policy, ok) in cases {
        let report = run(
            host("mx.orgc.example", addr),
            options(policy.clone(), &material),
            vec![message(&["bob@orgc.example"])],
        )
        .await;
        let o = only_outcome(&report);
        if ok {
            assert!(o.is_delivered(), "{policy:?}: {o:?}");
        } else {
            assert_eq!(
                o.reply().to_string(),
                "454 4.7.5 Certificate validation failure",
                "{policy:?}"
            );
        }
    }
    // no STARTTLS under RequireTLS: transient, nothing sent
    let (plain, rec) = start(ServerSetup::default()).await;
    let report = run(
        host("mx.orgc.example", plain),
        options(required(EncryptionOnly, None), &material),
        vec![message(&["bob@orgc.example"])],
    )
    .await;
    assert!(only_outcome(&report).is_temporary());
    assert_eq!(rec.lock().unwrap().mail_commands, 0);
}

#[tokio::test]
async fn failover_to_the_next_host_and_connection_failures() {
    // a port bound but not listening: connections are refused, and no
    // other test can take the port meanwhile
    let reserved = tokio::net::TcpSocket::new_v4().unwrap();
    reserved.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let dead = reserved.local_addr().unwrap();
    let (live, _) = start(ServerSetup::default()).await;
    let hosts = vec![
        Host {
            name: "mx1.orgc.example".into(),
            preference: 10,
            addrs: vec![dead],
        },
        Host {
            name: "mx2.orgc.example".into(),
            preference: 20,
            addrs: vec![live],
        },
    ];
    let report = run(
        hosts,
        options(TlsPolicy::Opportunistic, &TlsMaterial::default()),
        vec![message(&["bob@orgc.example"])],
    )
    .await;
    assert!(only_outcome(&report).is_delivered());
    assert_eq!(report.attempts.len(), 1);
    assert_eq!(report.host.as_ref().unwrap().0, "mx2.orgc.example");
    assert!(!report.connection_failed);

    let report = run(
        host("mx1.orgc.example", dead),
        options(TlsPolicy::Opportunistic, &TlsMaterial::default()),
        vec![message(&["bob@orgc.example"])],
    )
    .await;
    assert!(report.connection_failed);
    assert_eq!(only_outcome(&report).reply().code, 451);
}

/// The detail of a deferred recipient (what the tracking DEFER event and
/// Get-Message's LastError carry after the reply).
fn deferred_detail(report: &DeliveryReport) -> String {
    match only_outcome(report) {
        Outcome::Temporary(f) => f.detail.clone(),
        other => panic!("not deferred: {other:?}"),
    }
}

#[tokio::test]
async fn remote_certificate_pin_accepts_the_named_certificate_and_defers_any_other() {
    use xshell_core::model::{SendConnector, TlsAuthLevel};
    use xshell_core::pki::cert::parse_certificate;
    use xshell_transport::outbound::tls::RemotePin;
    let lab = lab();
    let good = issue(&lab.ca, &["mail.orgb.example"]);
    // Same CA, a name under the partner's domain: only the pin tells them apart.
    let other = issue(&lab.ca, &["mx.orgb.example"]);
    let pinned = parse_certificate(good.chain[0].as_ref())
        .unwrap()
        .tls_certificate_name();
    let presented = parse_certificate(other.chain[0].as_ref())
        .unwrap()
        .tls_certificate_name();
    let mut c = SendConnector::new("Partner");
    c.address_spaces = vec!["orgb.example".parse().unwrap()];
    c.tls_remote_certificate_name = Some(pinned.to_ascii_uppercase());
    c.validate().unwrap();
    // Neither opportunistic nor the plaintext fallback: STARTTLS and a
    // validated chain.
    let policy = decide("orgb.example", &c, &[], true).unwrap();
    assert_eq!(
        policy,
        TlsPolicy::Required {
            level: TlsAuthLevel::CertificateValidation,
            name: None
        }
    );
    let mut material = lab.material();
    material.pin = RemotePin::parse(c.tls_remote_certificate_name.as_deref().unwrap());

    // the pinned certificate (names compared case-insensitively): delivered
    let (addr, rec) = start(ServerSetup {
        cert: Some(good.clone()),
        ..ServerSetup::default()
    })
    .await;
    let report = run(
        host("mx1.orgb.example", addr),
        options(policy.clone(), &material),
        vec![message(&["bob@orgb.example"])],
    )
    .await;
    assert!(only_outcome(&report).is_delivered(), "{report:?}");
    assert_eq!(rec.lock().unwrap().delivered.len(), 1);

    // another certificate: deferred, saying what was expected and presented
    let (addr, rec) = start(ServerSetup {
        cert: Some(other.clone()),
        ..ServerSetup::default()
    })
    .await;
    let report = run(
        host("mx1.orgb.example", addr),
        options(policy.clone(), &material),
        vec![message(&["bob@orgb.example"])],
    )
    .await;
    assert_transient(&report, "454 4.7.5 Certificate validation failure");
    let detail = deferred_detail(&report);
    assert!(
        detail.contains(&format!(
            "TlsRemoteCertificateName mismatch: expected {}, presented {presented}",
            pinned.to_ascii_uppercase()
        )),
        "{detail}"
    );
    assert_eq!(rec.lock().unwrap().mail_commands, 0);

    // no STARTTLS: never plaintext
    let (addr, rec) = start(ServerSetup::default()).await;
    let report = run(
        host("mx1.orgb.example", addr),
        options(policy, &material),
        vec![message(&["bob@orgb.example"])],
    )
    .await;
    assert!(only_outcome(&report).is_temporary(), "{report:?}");
    assert_eq!(rec.lock().unwrap().mail_commands, 0);

    // Domain Security alone accepts `other` (mx.orgb.example is in
    // orgb.example); the pin still refuses it.
    let (addr, rec) = start(lab.partner(other)).await;
    let report = run(
        host("mx1.orgb.example", addr),
        options(domain_secure(), &material),
        vec![message(&["bob@orgb.example"])],
    )
    .await;
    assert_transient(&report, "454 4.7.5 Certificate validation failure");
    assert!(deferred_detail(&report).contains("TlsRemoteCertificateName mismatch"));
    assert_eq!(rec.lock().unwrap().mail_commands, 0);
}
