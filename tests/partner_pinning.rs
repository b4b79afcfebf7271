//! Partner pinning end to end on loopback (issue 20): the engine against
//! itself between two organizations (TlsRemoteCertificateName on the
//! send connector, RestrictDomainsToCertificate with
//! TlsSenderCertificateName on the receive connector, accept and refuse
//! both ways), and swaks presenting a serverAuth-only certificate with and
//! without TLSReceiveDomainSecureServerAuthOnlyList.
#![allow(clippy::unwrap_used)]

mod transport_send_support;
mod transport_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use transport_send_support::*;
use transport_support::openssl::{self, Key};
use transport_support::{Lab, free_port, swaks, tracking_lines, wait_until};

const WAIT: Duration = Duration::from_secs(30);

fn events(org: &Org, id: &str) -> Vec<Value> {
    tracking_lines(&org.lab.tracking_log())
        .into_iter()
        .filter(|e| e["event_id"] == id)
        .collect()
}

fn queued_ok(t: &str) -> bool {
    t.lines().any(|l| l.contains("250 2.0.0 Queued as"))
}

/// `<I>issuer<S>subject` of a certificate file (PEM or DER), as xshell
/// writes distinguished names.
fn certificate_name(dir: &Path, file: &Path) -> String {
    let der = dir.join(format!(
        "{}.der",
        file.file_name().unwrap().to_string_lossy()
    ));
    let text = std::fs::read(file).unwrap();
    let inform = if text.starts_with(b"-----") {
        "PEM"
    } else {
        "DER"
    };
    let st = Command::new("openssl")
        .args(["x509", "-inform", inform, "-outform", "DER", "-in"])
        .arg(file)
        .arg("-out")
        .arg(&der)
        .status()
        .expect("openssl runs");
    assert!(st.success());
    xshell_core::pki::cert::parse_certificate(&std::fs::read(&der).unwrap())
        .unwrap()
        .tls_certificate_name()
}

#[test]
fn pinning_between_two_engines_accepts_and_refuses_both_ways() {
    let (a, b) = Org::partners();
    let a_name = certificate_name(&a.lab.work, &a.lab.work.join("smtp.cer"));
    let b_name = certificate_name(&b.lab.work, &b.lab.work.join("smtp.cer"));
    let (b_issuer, _) = b_name.split_once("<S>").unwrap();
    let wrong_b = format!("{b_issuer}<S>CN=other.orgb.example");

    // A pins a certificate B does not have; B restricts orga.example to
    // A's certificate.
    a.xshell(&[
        "set-sendconnector",
        "To orgb.example",
        "--tls-remote-certificate-name",
        &wrong_b,
    ]);
    b.xshell(&[
        "set-receiveconnector",
        "Inbound",
        "--restrict-domains-to-certificate",
        "--sender-domains",
        "orga.example",
        "--tls-sender-certificate-name",
        &a_name,
    ]);
    let _ea = a.start();
    let eb = b.start();

    // send pin mismatch: deferred, expected and presented named
    let t = a.submit("alice@orga.example", "bob@orgb.example", "pinned");
    assert!(queued_ok(&t), "{t}");
    let want = format!("TlsRemoteCertificateName mismatch: expected {wrong_b}, presented {b_name}");
    assert!(
        wait_until(WAIT, || events(&a, "DEFER").iter().any(|e| e["detail"]
            .as_str()
            .is_some_and(|d| d.contains("454 4.7.5") && d.contains(&want)))),
        "no DEFER naming both certificates: {:?}",
        events(&a, "DEFER")
    );
    assert!(b.lab.maildir("orgb.example", "bob").is_empty());
    assert_eq!(a.queue().len(), 1);

    // the right pin: the queued message goes at the next retry, and B's
    // restriction accepts A's certificate
    a.xshell(&[
        "set-sendconnector",
        "To orgb.example",
        "--tls-remote-certificate-name",
        &b_name,
    ]);
    assert!(
        wait_until(WAIT, || b.lab.maildir("orgb.example", "bob").len() == 1),
        "not delivered after the pin was corrected; A's queue {:?}",
        a.queue()
    );
    assert!(wait_until(WAIT, || events(&a, "SEND").len() == 1));

    // B restricts orga.example to a certificate A does not have: A's next
    // message is refused at MAIL FROM with 550 5.7.1, and B says why.
    let (a_issuer, _) = a_name.split_once("<S>").unwrap();
    let wrong_a = format!("{a_issuer}<S>CN=other.orga.example");
    b.xshell(&[
        "set-receiveconnector",
        "Inbound",
        "--tls-sender-certificate-name",
        &wrong_a,
    ]);
    std::thread::sleep(Duration::from_millis(600)); // hot reload (250 ms poll)
    let t = a.submit("alice@orga.example", "bob@orgb.example", "restricted");
    assert!(queued_ok(&t), "{t}");
    assert!(
        wait_until(WAIT, || events(&a, "FAIL").iter().any(|e| e["detail"]
            .as_str()
            .is_some_and(
                |d| d.contains("550 5.7.1") && d.contains("Sender domain orga.example")
            )
            || e["reply"]
                .as_str()
                .is_some_and(|r| r.starts_with("550 5.7.1")))),
        "no FAIL with 550 5.7.1: {:?}",
        tracking_lines(&a.lab.tracking_log())
    );
    assert_eq!(b.lab.maildir("orgb.example", "bob").len(), 1);
    let why = format!(
        "RestrictDomainsToCertificate: orga.example must present TlsSenderCertificateName {wrong_a}; presented {a_name}"
    );
    assert!(
        wait_until(Duration::from_secs(5), || eb.log_text().contains(&why)),
        "B's log does not say why:\n{}",
        eb.log_text()
    );
}

#[test]
fn server_auth_only_partner_certificates_need_the_opt_in() {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    let ca = lab.ca("partner-ca", "Partner CA");
    lab.trust(&ca.cert);
    let server_auth_only = openssl::issue_eku(
        &lab.work,
        "sa-only",
        &ca,
        "mail.partner.example",
        Some("DNS:mail.partner.example,DNS:partner.example"),
        Key::EcP256,
        "serverAuth",
    );
    let engine = lab.start_engine(port);
    let send = || {
        swaks(
            port,
            &[
                "--from",
                "alice@partner.example",
                "--to",
                "bob@orga.example",
                "--tls",
                "--tls-cert",
                server_auth_only.cert.to_str().unwrap(),
                "--tls-key",
                server_auth_only.key.to_str().unwrap(),
            ],
        )
    };

    // without the opt-in: refused, and the reply says exactly why
    let t = send();
    assert!(
        t.contains(
            "454 4.7.5 Certificate validation failure: the certificate is not for client authentication (no clientAuth extended key usage)"
        ),
        "{t}"
    );
    assert!(
        wait_until(Duration::from_secs(5), || engine.log_text().contains(
            "add partner.example to TLSReceiveDomainSecureServerAuthOnlyList"
        )),
        "{}",
        engine.log_text()
    );
    assert!(lab.queued_envelopes().is_empty());

    // with it: a Domain Security partner
    lab.xshell(&[
        "set-transportconfig",
        "--tls-receive-domain-secure-server-auth-only-list",
        "partner.example",
    ]);
    let mut last = String::new();
    let accepted = wait_until(Duration::from_secs(10), || {
        last = send();
        queued_ok(&last)
    });
    assert!(accepted, "not accepted after the opt-in:\n{last}");
    assert!(wait_until(Duration::from_secs(10), || lab
        .maildir("orga.example", "bob")
        .len()
        == 1));
    let m = &lab.maildir("orga.example", "bob")[0];
    assert!(
        m.contains("X-MS-Exchange-Organization-AuthAs: Partner\r\n")
            && m.contains("X-MS-Exchange-Organization-AuthDomain: partner.example\r\n"),
        "{m}"
    );
}
