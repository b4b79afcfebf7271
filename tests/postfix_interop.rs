//! Postfix as the partner organization (`postfix.example`), a real Postfix
//! started by the test from its own configuration folder on 127.0.0.3
//! (see tests/common/postfix.rs for how, and its pitfalls).
//!
//! - Postfix sends to us with `smtp_tls_security_level = secure`,
//!   verifying our CA-issued certificate, and presents its client
//!   certificate: our engine accepts the mail as a Domain Security
//!   Partner.
//! - Postfix requires a client certificate from our CA
//!   (`smtpd_tls_req_ccert`) and accepts the mail our engine relays to it.
//!
//! Both run as root (Postfix must be started as root); as another user, or
//! without Postfix, they say so and pass without running, except under CI,
//! where they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/dnsmasq.rs"]
mod dnsmasq;
#[path = "common/peers.rs"]
mod peers;
#[path = "common/postfix.rs"]
mod postfix;
mod transport_support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use dnsmasq::Dnsmasq;
use mail_parser::MimeHeaders;
use postfix::{Postfix, PostfixConfig, Smtpd};
use transport_support::*;

const PARTNER: &str = "postfix.example";
const PARTNER_FQDN: &str = "mail.postfix.example";
const PARTNER_IP: &str = "127.0.0.3";

/// Whether Postfix cannot run here (reported by [`peers::missing`]).
fn skip() -> bool {
    match postfix::unavailable() {
        Some(why) => {
            peers::missing(&why);
            true
        }
        None => false,
    }
}

/// Our organization, provisioned with xshell as the walkthrough does:
/// a lab CA issues our certificate (request, sign, import | enable), the
/// partner's root is trusted, postfix.example is on both Domain Security
/// lists, Inbound (127.0.0.1:`port`) has DomainSecureEnabled, Outbound
/// sends postfix.example mail to port `partner_port` with Domain
/// Security, and Submission (127.0.0.1:`submit_port`, ExternalAuthoritative)
/// takes mail from our own servers. Returns our CA certificate (PEM).
fn provision_orga(
    lab: &Lab,
    ports: (u16, u16, u16),
    partner_ca: &CertFiles,
    dns: Option<&str>,
) -> PathBuf {
    let (port, submit_port, partner_port) = ports;
    lab.xshell(&["ca-new", "--name", "OrgA Root CA", "--path", "orga-ca"]);
    lab.trust(&lab.work.join("orga-ca").join("ca.pem"));
    lab.trust(&partner_ca.cert);
    lab.xshell(&[
        "request-cert",
        "--subject-name",
        "C=DE,O=OrgA,CN=mail.orga.example",
        "--domain-name",
        "mail.orga.example,orga.example",
        "--private-key-exportable",
        "--path",
        "orga.req",
    ]);
    lab.xshell(&[
        "ca-sign",
        "--ca",
        "orga-ca",
        "--request-file",
        "orga.req",
        "--path",
        "orga.cer",
    ]);
    lab.xshell(&[
        "-c",
        "Import-ExchangeCertificate -Path orga.cer | Enable-ExchangeCertificate -Services SMTP",
    ]);
    let mut service = vec!["set-transportservice", "--fqdn", ORG_FQDN];
    if let Some(dns) = dns {
        service.extend(["--external-dns-servers", dns]);
    }
    lab.xshell(&service);
    lab.xshell(&[
        "new-accepteddomain",
        "OrgA",
        "--domain-name",
        "orga.example",
    ]);
    lab.xshell(&[
        "-c",
        &format!(
            "Set-TransportConfig -TLSReceiveDomainSecureList {PARTNER} -TLSSendDomainSecureList {PARTNER}"
        ),
    ]);
    lab.xshell(&[
        "-c",
        &format!("New-SendConnector Outbound -AddressSpaces {PARTNER} -Port {partner_port}"),
    ]);
    lab.xshell(&[
        "-c",
        "Set-SendConnector Outbound -DomainSecureEnabled:$True",
    ]);
    lab.xshell(&[
        "-c",
        &format!("New-ReceiveConnector Inbound -Usage Internet -Bindings 127.0.0.1:{port}"),
    ]);
    lab.xshell(&[
        "-c",
        "Set-ReceiveConnector Inbound -DomainSecureEnabled:$True -AuthMechanism TLS",
    ]);
    lab.xshell(&[
        "-c",
        &format!(
            "New-ReceiveConnector Submission -Usage Custom -Bindings 127.0.0.1:{submit_port} -RemoteIPRanges 127.0.0.1 -PermissionGroups ExchangeServers -AuthMechanism ExternalAuthoritative"
        ),
    ]);
    lab.work.join("orga-ca").join("ca.pem")
}

/// swaks to `ip:port` (plaintext); the transcript.
fn swaks_to(ip: &str, port: u16, args: &[&str]) -> String {
    let out = Command::new("timeout")
        .arg("60")
        .arg("swaks")
        .arg("--server")
        .arg(format!("{ip}:{port}"))
        .arg("--timeout")
        .arg("20")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn accepted(transcript: &str) -> bool {
    transcript.lines().any(|l| {
        l.trim_start_matches(['<', '-', '~', '*', ' '])
            .starts_with("250 2.0.0")
    })
}

#[test]
fn postfix_sends_to_us_with_secure_tls_and_is_accepted_as_a_partner() {
    if skip() {
        return;
    }
    let lab = Lab::new();
    let (port, submit_port, inject_port) = (free_port(), free_port(), free_port());
    let partner_ca = lab.ca("postfix-ca", "Postfix Example CA");
    let partner = lab.issue(
        "postfix",
        &partner_ca,
        PARTNER_FQDN,
        &[PARTNER_FQDN, PARTNER],
    );
    let our_ca = provision_orga(&lab, (port, submit_port, 25), &partner_ca, None);
    let engine = lab.start_engine(port);

    // Postfix relays everything to our Inbound connector, insisting on a
    // verified certificate naming orga.example, and presents its own.
    let pf = Postfix::start(&PostfixConfig {
        hostname: PARTNER_FQDN.into(),
        cert: partner.cert.clone(),
        key: partner.key.clone(),
        ca_file: our_ca,
        relayhost: Some(("127.0.0.1".into(), port)),
        tls_policy: vec![format!("[127.0.0.1]:{port} secure match=orga.example")],
        main_extra: vec![
            "smtp_tls_security_level = secure".into(),
            // RFC 6531: Postfix flags a message with UTF-8 header fields
            // as SMTPUTF8 and sends it with the parameter.
            "smtputf8_enable = yes".into(),
            "smtputf8_autodetect_classes = all".into(),
        ],
        services: vec![Smtpd {
            addr: PARTNER_IP.into(),
            port: inject_port,
            overrides: vec![],
        }],
        ..Default::default()
    });

    let t = swaks_to(
        PARTNER_IP,
        inject_port,
        &[
            "--helo",
            "client.postfix.example",
            "--from",
            "alice@postfix.example",
            "--to",
            "bob@orga.example",
            "--header",
            "Subject: from postfix over domain security",
        ],
    );
    assert!(accepted(&t), "postfix did not take the message:\n{t}");

    let arrived = wait_until(Duration::from_secs(30), || {
        !lab.maildir("orga.example", "bob").is_empty()
    });
    assert!(
        arrived,
        "postfix's message did not arrive\n--- postfix maillog:\n{}\n--- engine log:\n{}",
        pf.maillog(),
        engine.log_text()
    );
    let m = &lab.maildir("orga.example", "bob")[0];
    for want in [
        "Received: from mail.postfix.example (unknown [127.0.0.1])",
        "(Client CN \"mail.postfix.example\", Issuer \"Postfix Example CA\" (verified OK))",
        "by mail.orga.example (xshell-transport) with ESMTPS",
        "X-MS-Exchange-Organization-AuthAs: Partner\r\n",
        "X-MS-Exchange-Organization-AuthMechanism: 02\r\n",
        "X-MS-Exchange-Organization-AuthDomain: postfix.example\r\n",
        "by mail.postfix.example (Postfix) with ESMTP",
        "Subject: from postfix over domain security",
    ] {
        assert!(m.contains(want), "missing {want:?} in:\n{m}");
    }

    // Postfix verified us; its log says so.
    let log = pf.maillog();
    assert!(
        log.contains(&format!(
            "Verified TLS connection established to 127.0.0.1[127.0.0.1]:{port}"
        )),
        "postfix did not verify our certificate:\n{log}"
    );
    assert!(
        log.contains("status=sent (250 2.0.0 Queued as"),
        "postfix's delivery status:\n{log}"
    );

    // Our tracking log: RECEIVE from a verified Partner.
    let lines = tracking_lines(&lab.tracking_log());
    let r = lines
        .iter()
        .find(|l| l["event_id"] == "RECEIVE")
        .unwrap_or_else(|| panic!("no RECEIVE in {lines:?}"));
    assert_eq!(r["peer_certificate_subject"], "CN=mail.postfix.example");
    assert_eq!(r["peer_certificate_verified"], true, "{r}");
    assert_eq!(r["auth_as"], "Partner", "{r}");
    assert_eq!(r["auth_domain"], PARTNER, "{r}");
    assert_eq!(r["sender"], "alice@postfix.example", "{r}");

    // Postfix as an SMTPUTF8 sender: a UTF-8 Subject makes it send
    // MAIL ... SMTPUTF8 to us; we stamp `with UTF8SMTPS` (RFC 6531 4.3).
    let t = swaks_to(
        PARTNER_IP,
        inject_port,
        &[
            "--helo",
            "client.postfix.example",
            "--from",
            "alice@postfix.example",
            "--to",
            "bob@orga.example",
            "--header",
            "Subject: Grüße aus München",
        ],
    );
    assert!(accepted(&t), "postfix did not take the UTF-8 message:\n{t}");
    let arrived = wait_until(Duration::from_secs(30), || {
        lab.maildir("orga.example", "bob").len() == 2
    });
    assert!(
        arrived,
        "postfix's UTF-8 message did not arrive\n--- postfix maillog:\n{}\n--- engine log:\n{}",
        pf.maillog(),
        engine.log_text()
    );
    let all = lab.maildir("orga.example", "bob");
    let m = all
        .iter()
        .find(|m| m.contains("München"))
        .unwrap_or_else(|| panic!("no UTF-8 subject in {all:?}"));
    for want in [
        "by mail.orga.example (xshell-transport) with UTF8SMTPS",
        "X-MS-Exchange-Organization-AuthAs: Partner\r\n",
        "Subject: Grüße aus München",
    ] {
        assert!(m.contains(want), "missing {want:?} in:\n{m}");
    }
}

/// Postfix as a partner that requires a client certificate from our CA,
/// with our organization provisioned to send to it (DNS from dnsmasq).
struct StrictPartner {
    lab: Lab,
    port: u16,
    submit_port: u16,
    partner_port: u16,
    // dropped in this order: Postfix, then DNS, then the lab folders
    pf: Postfix,
    dns: Dnsmasq,
}

fn strict_partner() -> StrictPartner {
    strict_partner_with(|_, _| {})
}

/// [`strict_partner`], with `more` adjusting Postfix's configuration
/// (given our Inbound port).
fn strict_partner_with(more: impl FnOnce(&mut PostfixConfig, u16)) -> StrictPartner {
    let lab = Lab::new();
    let (port, submit_port, partner_port) = (free_port(), free_port(), free_port());
    let partner_ca = lab.ca("postfix-ca", "Postfix Example CA");
    let partner = lab.issue(
        "postfix",
        &partner_ca,
        PARTNER_FQDN,
        &[PARTNER_FQDN, PARTNER],
    );
    let dns = Dnsmasq::start(&[(PARTNER, PARTNER_FQDN, PARTNER_IP)]);
    let our_ca = provision_orga(
        &lab,
        (port, submit_port, partner_port),
        &partner_ca,
        Some(&dns.server()),
    );
    // Postfix's smtpd on 127.0.0.3 takes mail only over TLS with a client
    // certificate that chains to our CA.
    let mut config = PostfixConfig {
        hostname: PARTNER_FQDN.into(),
        mailboxes: vec![(PARTNER.into(), vec!["alice".into()])],
        cert: partner.cert.clone(),
        key: partner.key.clone(),
        ca_file: our_ca,
        services: vec![Smtpd {
            addr: PARTNER_IP.into(),
            port: partner_port,
            overrides: vec![
                ("smtpd_tls_security_level".into(), "encrypt".into()),
                ("smtpd_tls_ask_ccert".into(), "yes".into()),
                ("smtpd_tls_req_ccert".into(), "yes".into()),
            ],
        }],
        ..Default::default()
    };
    more(&mut config, port);
    let pf = Postfix::start(&config);
    StrictPartner {
        lab,
        port,
        submit_port,
        partner_port,
        pf,
        dns,
    }
}

/// Postfix's checks on its side of the partnership, with our certificate
/// (made by the xshell flow, exported from the store) presented by swaks:
/// refused without a certificate, accepted and stamped "verified OK" with it.
#[test]
fn postfix_requiring_a_client_certificate_from_our_ca_accepts_our_certificate() {
    if skip() {
        return;
    }
    let p = strict_partner();
    let lab = &p.lab;
    std::fs::write(lab.work.join("pfx.pass"), "lab only\n").unwrap();
    lab.xshell(&[
        "-c",
        "Get-ExchangeCertificate -DomainName mail.orga.example | Export-ExchangeCertificate -Path orga.pfx -PasswordFile pfx.pass",
    ]);
    let pem = lab.work.join("orga-with-key.pem");
    let st = Command::new("openssl")
        .args(["pkcs12", "-nodes", "-passin"])
        .arg(format!("file:{}", lab.work.join("pfx.pass").display()))
        .arg("-in")
        .arg(lab.work.join("orga.pfx"))
        .arg("-out")
        .arg(&pem)
        .status()
        .unwrap();
    assert!(st.success(), "openssl cannot read the exported PFX");
    let pem = pem.to_str().unwrap();
    let base = [
        "--helo",
        ORG_FQDN,
        "--from",
        "bob@orga.example",
        "--to",
        "alice@postfix.example",
    ];

    let mut a = base.to_vec();
    a.extend(["--tls", "--header", "Subject: no certificate"]);
    let t = swaks_to(PARTNER_IP, p.partner_port, &a);
    assert!(
        !accepted(&t),
        "postfix took mail without a certificate:\n{t}"
    );

    let mut a = base.to_vec();
    a.extend([
        "--tls",
        "--tls-cert",
        pem,
        "--tls-key",
        pem,
        "--header",
        "Subject: with our certificate",
    ]);
    let t = swaks_to(PARTNER_IP, p.partner_port, &a);
    assert!(
        accepted(&t),
        "postfix refused our certificate:\n{t}\n{}",
        p.pf.maillog()
    );
    assert!(
        wait_until(Duration::from_secs(20), || !p
            .pf
            .maildir(PARTNER, "alice")
            .is_empty()),
        "not delivered by postfix:\n{}",
        p.pf.maillog()
    );
    let m = &p.pf.maildir(PARTNER, "alice")[0];
    for want in [
        "(Client CN \"mail.orga.example\", Issuer \"OrgA Root CA\" (verified OK))",
        "by mail.postfix.example (Postfix) with ESMTPS",
        "Subject: with our certificate",
    ] {
        assert!(m.contains(want), "missing {want:?} in:\n{m}");
    }
}

#[test]
fn postfix_requiring_our_client_certificate_accepts_what_we_relay() {
    if skip() {
        return;
    }
    let p = strict_partner();
    let lab = &p.lab;
    let engine = lab.start_engine(p.port);

    let t = swaks_to(
        "127.0.0.1",
        p.submit_port,
        &[
            "--helo",
            "client.orga.example",
            "--from",
            "bob@orga.example",
            "--to",
            "alice@postfix.example",
            "--header",
            "Subject: to postfix over domain security",
        ],
    );
    assert!(accepted(&t), "our Submission connector:\n{t}");

    let arrived = wait_until(Duration::from_secs(30), || {
        !p.pf.maildir(PARTNER, "alice").is_empty()
    });
    assert!(
        arrived,
        "our message did not reach postfix\n--- postfix maillog:\n{}\n--- engine log:\n{}\n--- dns:\n{}",
        p.pf.maillog(),
        engine.log_text(),
        p.dns.text()
    );
    let m = &p.pf.maildir(PARTNER, "alice")[0];
    for want in [
        "(Client CN \"mail.orga.example\", Issuer \"OrgA Root CA\" (verified OK))",
        "by mail.postfix.example (Postfix) with ESMTPS",
        "Subject: to postfix over domain security",
    ] {
        assert!(m.contains(want), "missing {want:?} in:\n{m}");
    }
    // Postfix may have the message in its Maildir before our side has read
    // the final 250 and logged SEND: wait (bounded) for the line.
    wait_until(Duration::from_secs(10), || {
        tracking_lines(&lab.tracking_log())
            .iter()
            .any(|l| l["event_id"] == "SEND")
    });
    let lines = tracking_lines(&lab.tracking_log());
    let send = lines
        .iter()
        .find(|l| l["event_id"] == "SEND")
        .unwrap_or_else(|| panic!("no SEND in {lines:?}"));
    assert_eq!(send["domain_secured"], true, "{send}");
    assert_eq!(send["next_hop_domain"], PARTNER, "{send}");
    assert_eq!(send["peer_certificate_subject"], "CN=mail.postfix.example");
    assert_eq!(send["peer_certificate_verified"], true, "{send}");
    assert!(
        send["remote_host"]
            .as_str()
            .unwrap()
            .contains(&format!("{PARTNER_IP}:{}", p.partner_port)),
        "{send}"
    );
    // Postfix verified our client certificate against our CA.
    let log = p.pf.maillog();
    assert!(
        log.contains("Trusted TLS connection established from"),
        "{log}"
    );
}

/// Sends one message over a plaintext SMTP session to `ip:port` with
/// these MAIL and RCPT lines (parameters included); the transcript, and
/// whether the message was accepted.
fn raw_submit(ip: &str, port: u16, mail: &str, rcpts: &[&str], message: &str) -> (String, bool) {
    let mut c = Raw::connect_to(ip, port);
    let mut t = c.reply();
    t += &c.cmd("EHLO client.example");
    for line in std::iter::once(&mail).chain(rcpts) {
        t += line;
        t += "\n";
        t += &c.cmd(line);
    }
    t += &c.cmd("DATA");
    c.send(message.as_bytes());
    let end = c.cmd(".");
    t += &end;
    c.cmd("QUIT");
    (t, end.starts_with("250"))
}

/// The delivery-status part of the first message in `msgs` that is a
/// multipart/report with report-type=delivery-status and contains `want`.
fn dsn_with(msgs: &[String], want: &str) -> Option<String> {
    msgs.iter().find_map(|m| {
        let msg = mail_parser::MessageParser::default().parse(m.as_bytes())?;
        let ct = msg.content_type()?;
        if ct.subtype() != Some("report") || ct.attribute("report-type") != Some("delivery-status")
        {
            return None;
        }
        let status = msg.parts.iter().find(|p| {
            p.content_type()
                .is_some_and(|c| c.subtype() == Some("delivery-status"))
        })?;
        let text = String::from_utf8_lossy(status.contents()).into_owned();
        text.contains(want).then_some(text)
    })
}

/// RFC 3461 both ways with Postfix, which supports DSN:
/// - as the next hop: our engine passes NOTIFY/ORCPT/RET/ENVID on, which
///   Postfix proves by sending its own "delivered" report, with our
///   ENVID and ORCPT in it, back to our sender;
/// - as the sending partner: Postfix relays a message that asked
///   NOTIFY=SUCCESS,DELAY,FAILURE with ORCPT and ENVID to us; we record
///   them, deliver, and send the "delivered" report to Postfix's sender.
#[test]
fn dsn_parameters_both_ways_with_postfix() {
    if skip() {
        return;
    }
    let inject_port = free_port();
    let p = strict_partner_with(|c, our_port| {
        // Postfix relays orga.example (everything not its own) to our
        // Inbound connector, verifying our certificate, and takes the
        // test's mail on a second, plain smtpd.
        c.relayhost = Some(("127.0.0.1".into(), our_port));
        c.tls_policy = vec![format!("[127.0.0.1]:{our_port} secure match=orga.example")];
        c.mailboxes = vec![(PARTNER.into(), vec!["alice".into(), "carol".into()])];
        c.services.push(Smtpd {
            addr: PARTNER_IP.into(),
            port: inject_port,
            overrides: vec![],
        });
    });
    let lab = &p.lab;
    let engine = lab.start_engine(p.port);

    // 1. Us to Postfix.
    let (t, ok) = raw_submit(
        "127.0.0.1",
        p.submit_port,
        "MAIL FROM:<bob@orga.example> RET=HDRS ENVID=orga+2B1",
        &["RCPT TO:<alice@postfix.example> NOTIFY=SUCCESS ORCPT=rfc822;alice+2Bx@postfix.example"],
        "Subject: dsn to postfix\r\n\r\nhello\r\n",
    );
    assert!(ok, "our Submission connector:\n{t}");
    // 2. Postfix to us.
    let (t, ok) = raw_submit(
        PARTNER_IP,
        inject_port,
        "MAIL FROM:<carol@postfix.example> RET=HDRS ENVID=pf-1",
        &["RCPT TO:<bob@orga.example> NOTIFY=SUCCESS,DELAY,FAILURE ORCPT=rfc822;bob@orga.example"],
        "Subject: dsn from postfix\r\n\r\nhello\r\n",
    );
    assert!(ok, "postfix's smtpd:\n{t}");

    // (The tracking lines follow the queue updates: wait for them too.)
    let both = wait_until(Duration::from_secs(40), || {
        let lines = tracking_lines(&lab.tracking_log());
        dsn_with(&lab.maildir("orga.example", "bob"), "Action: delivered").is_some()
            && dsn_with(&p.pf.maildir(PARTNER, "carol"), "Action: delivered").is_some()
            && lines
                .iter()
                .any(|l| l["event_id"] == "SEND" && l["next_hop_domain"] == PARTNER)
            && lines
                .iter()
                .any(|l| l["event_id"] == "RECEIVE" && l["sender"] == "carol@postfix.example")
    });
    assert!(
        both,
        "reports missing\n--- bob: {:#?}\n--- carol: {:#?}\n--- postfix maillog:\n{}\n--- engine log:\n{}",
        lab.maildir("orga.example", "bob"),
        p.pf.maildir(PARTNER, "carol"),
        p.pf.maillog(),
        engine.log_text()
    );

    // 1. Postfix's report names our ENVID and ORCPT: it got them.
    let status = dsn_with(&lab.maildir("orga.example", "bob"), "Action: delivered").unwrap();
    for want in [
        "Original-Envelope-Id: orga+1",
        "Reporting-MTA: dns; mail.postfix.example",
        "Original-Recipient: rfc822;alice+x@postfix.example",
        "Final-Recipient: rfc822; alice@postfix.example",
    ] {
        assert!(
            status.contains(want),
            "missing {want:?} in postfix's report:\n{status}"
        );
    }
    let lines = tracking_lines(&lab.tracking_log());
    let send = lines
        .iter()
        .find(|l| l["event_id"] == "SEND" && l["next_hop_domain"] == PARTNER)
        .unwrap_or_else(|| panic!("no SEND in {lines:?}"));
    assert_eq!(send["dsn_passed_on"], true, "{send}");
    assert_eq!(send["domain_secured"], true, "{send}");

    // 2. What Postfix passed on, as we recorded it, and our report.
    let recv = lines
        .iter()
        .find(|l| l["event_id"] == "RECEIVE" && l["sender"] == "carol@postfix.example")
        .unwrap_or_else(|| panic!("no RECEIVE from postfix in {lines:?}"));
    assert_eq!(recv["auth_as"], "Partner", "{recv}");
    assert_eq!(recv["dsn_envid"], "pf-1", "{recv}");
    assert_eq!(recv["dsn_ret"], "HDRS", "{recv}");
    assert_eq!(
        recv["dsn_notify"],
        serde_json::json!(["SUCCESS,FAILURE,DELAY"]),
        "{recv}"
    );
    assert_eq!(
        recv["dsn_orcpt"],
        serde_json::json!(["rfc822;bob@orga.example"]),
        "{recv}"
    );
    let status = dsn_with(&p.pf.maildir(PARTNER, "carol"), "Action: delivered").unwrap();
    for want in [
        // (Postfix stores the report with LF line ends.)
        "Original-Envelope-Id: pf-1",
        "Reporting-MTA: dns; mail.orga.example",
        "Original-Recipient: rfc822; bob@orga.example",
        "Final-Recipient: rfc822; bob@orga.example",
        "Status: 2.0.0",
    ] {
        assert!(
            status.contains(want),
            "missing {want:?} in our report:\n{status}"
        );
    }
}

/// RFC 6531 towards a real Postfix next hop. With `smtputf8_enable = yes`
/// Postfix gets our relayed SMTPUTF8 message (a UTF-8 sender) with the
/// parameter and stamps it `UTF8SMTPS` (RFC 6531 4.3); with `smtputf8_enable = no` a
/// message for a non-ASCII recipient is not sent: our sender gets a
/// non-delivery report with 5.6.7, and an ASCII-envelope SMTPUTF8 message
/// still goes through.
#[test]
fn postfix_as_next_hop_gets_smtputf8_only_when_it_offers_it() {
    if skip() {
        return;
    }
    for utf8 in [true, false] {
        let p = strict_partner_with(|c, _| {
            let yes_no = if utf8 { "yes" } else { "no" };
            c.services[0]
                .overrides
                .push(("smtputf8_enable".into(), yes_no.into()));
        });
        let lab = &p.lab;
        let engine = lab.start_engine(p.port);
        let mut s = transport_support::Raw::connect_to("127.0.0.1", p.submit_port);
        assert!(s.reply().starts_with("220"));
        assert!(s.cmd("EHLO client.orga.example").contains("SMTPUTF8"));
        let (from, to) = if utf8 {
            ("jürgen@orga.example", "alice@postfix.example")
        } else {
            ("bob@orga.example", "jörg@postfix.example")
        };
        for (from, to, subject) in [
            (from, to, "Grüße"),
            ("bob@orga.example", "alice@postfix.example", "ascii"),
        ] {
            let r = s.cmd(&format!("MAIL FROM:<{from}> SMTPUTF8"));
            assert!(r.starts_with("250"), "{r}");
            let r = s.cmd(&format!("RCPT TO:<{to}>"));
            assert!(r.starts_with("250"), "{r}");
            assert!(s.cmd("DATA").starts_with("354"));
            let r = s.cmd(&format!(
                "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\r\nbody\r\n."
            ));
            assert!(r.contains("Queued as"), "{r}");
        }
        s.cmd("QUIT");
        let want = if utf8 { 2 } else { 1 };
        let arrived = wait_until(Duration::from_secs(30), || {
            p.pf.maildir(PARTNER, "alice").len() == want
        });
        assert!(
            arrived,
            "smtputf8={utf8}: not delivered to postfix\n--- postfix maillog:\n{}\n--- engine log:\n{}",
            p.pf.maillog(),
            engine.log_text()
        );
        let all = p.pf.maildir(PARTNER, "alice").join("\n----\n");
        if utf8 {
            assert!(all.contains("Subject: Grüße"), "{all}");
            assert!(all.contains("Return-Path: <jürgen@orga.example>"), "{all}");
            assert!(all.contains("(Postfix) with UTF8SMTPS"), "{all}");
        } else {
            assert!(!all.contains("Grüße"), "{all}");
            assert!(all.contains("Subject: ascii"), "{all}");
            // The non-delivery report to our own sender names 5.6.7.
            let ndr = wait_until(Duration::from_secs(30), || {
                lab.maildir("orga.example", "bob")
                    .iter()
                    .any(|m| m.contains("5.6.7"))
            });
            assert!(
                ndr,
                "no NDR with 5.6.7 for bob: {:?}\n--- engine log:\n{}",
                lab.maildir("orga.example", "bob"),
                engine.log_text()
            );
        }
    }
}
