//! The two-organization lab, end to end: runs the README's command
//! (`examples/lab.sh`) with this build's binaries and checks its
//! machine-readable result (`LAB_OUT`): both organizations provisioned by
//! the walkthrough's commands, each engine accepting the partner's domain
//! only with the partner's certificate, and mail relayed each way over
//! Domain Security (RECEIVE as Partner with a verified client
//! certificate, SEND with domain_secured), all sent with xshell's own
//! Send-MailMessage (no swaks, no openssl).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/bins.rs"]
mod bins;
#[path = "common/dnsmasq.rs"]
mod dnsmasq;

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tracking(out: &Path, org: &str) -> Vec<serde_json::Value> {
    fs::read_to_string(out.join(format!("tracking-{org}.jsonl")))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_lab_exchanges_domain_secured_mail_between_two_organizations() {
    let out = tempfile::tempdir().unwrap();
    let (port, submit_port) = (free_tcp_port(), free_tcp_port());
    let dns_port = dnsmasq::free_udp_port();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = Command::new("timeout")
        .arg("120")
        .arg("bash")
        .arg(root.join("examples/lab.sh"))
        .current_dir(root)
        .env("XSHELL_BIN", bins::xshell_bin())
        .env("XSHELL_TRANSPORT_BIN", bins::engine_bin())
        .env("LAB_PORT", port.to_string())
        .env("LAB_SUBMIT_PORT", submit_port.to_string())
        .env("LAB_DNS_PORT", dns_port.to_string())
        .env("LAB_OUT", out.path())
        .env_remove("KEEP")
        .env_remove("LAB_OUTBOUND")
        .env_remove("XSHELL_STORE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "examples/lab.sh failed ({}):\n{stdout}\n{stderr}",
        run.status
    );

    // The walkthrough's commands, printed as they ran, for both organizations.
    for org in ["[OrgA]$", "[OrgB]$"] {
        for cmd in [
            r"xshell -c 'Import-Certificate -FilePath partner-root.pem -CertStoreLocation Cert:\LocalMachine\Root'",
            "xshell -c 'New-ExchangeCertificate -GenerateRequest -SubjectName",
            "xshell ca-sign --ca ca --request-file smtp.req --path smtp.cer",
            "xshell -c 'Import-ExchangeCertificate -Path smtp.cer | Enable-ExchangeCertificate -Services SMTP'",
            "xshell -c 'Set-TransportConfig -TLSReceiveDomainSecureList ",
            "xshell -c 'Set-SendConnector Outbound -DomainSecureEnabled:$True'",
            "xshell -c 'Set-ReceiveConnector Inbound -DomainSecureEnabled:$True -AuthMechanism TLS'",
        ] {
            let want = format!("{org} {cmd}");
            assert!(stdout.contains(&want), "not run: {want}\n{stdout}");
        }
    }

    // It sends with xshell's Send-MailMessage: no swaks, no openssl.
    let script = fs::read_to_string(root.join("examples/lab.sh")).unwrap();
    for tool in ["swaks", "openssl"] {
        assert!(!script.contains(tool), "examples/lab.sh still uses {tool}");
    }
    for want in [
        "Send-MailMessage -SmtpServer 127.0.0.2 ",
        "-CertificateThumbprint (Get-ExchangeCertificate -DomainName mail.orga.example).Thumbprint -Verbose",
        "refused: 530 5.7.1",
        "VERBOSE: *  TLS TLSv1.3",
        "client certificate presented",
        "xshell send-mailmessage --smtp-server 127.0.0.1 --port ",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }

    let summary = fs::read_to_string(out.path().join("summary")).unwrap();
    for line in [
        "inbound-orga=ok",
        "inbound-orgb=ok",
        "relay-orga=ok",
        "relay-orgb=ok",
        "outbound=ok",
        "metrics=ok",
        "result=ok",
    ] {
        assert!(
            summary.lines().any(|l| l == line),
            "{line} not in:\n{summary}"
        );
    }

    // Each engine's metrics, scraped over HTTP during the run: the
    // domain-secured messages it received and the certificate it presents.
    for org in ["orga", "orgb"] {
        let m = fs::read_to_string(out.path().join(format!("metrics-{org}.txt"))).unwrap();
        let secured = m
            .lines()
            .find_map(|l| {
                l.strip_prefix(
                    "xshell_messages_received_total{connector=\"Inbound\",tls=\"domain_secured\"} ",
                )
            })
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        assert!(
            secured >= 2.0,
            "{org}: {secured} domain-secured on Inbound:\n{m}"
        );
        assert!(m.contains("xshell_certificate_expiry_days{"), "{org}:\n{m}");
        assert!(
            m.contains("xshell_tls_handshakes_total{direction=\"inbound\",kind=\"full\"} "),
            "{org}:\n{m}"
        );
    }
    assert!(stdout.contains("== 11. Metrics"), "{stdout}");

    // The delivered messages, stamped by the receiving organization.
    for (file, receiver, sender, partner_domain, ca) in [
        (
            "relay-orga.eml",
            "mail.orga.example",
            "mail.domaene.tld",
            "domaene.tld",
            "Domaene Root CA",
        ),
        (
            "relay-orgb.eml",
            "mail.domaene.tld",
            "mail.orga.example",
            "orga.example",
            "OrgA Root CA",
        ),
        (
            "inbound-orga.eml",
            "mail.orga.example",
            "mail.domaene.tld",
            "domaene.tld",
            "Domaene Root CA",
        ),
        (
            "inbound-orgb.eml",
            "mail.domaene.tld",
            "mail.orga.example",
            "orga.example",
            "OrgA Root CA",
        ),
    ] {
        let m = fs::read_to_string(out.path().join(file)).unwrap();
        for want in [
            format!("Received: from {sender} "),
            "(using TLSv1.3 with cipher TLS13_".to_string(),
            format!("(Client CN \"{sender}\", Issuer \"{ca}\" (verified OK))"),
            format!("by {receiver} (xshell-transport) with ESMTPS"),
            format!("X-MS-Exchange-Organization-AuthSource: {receiver}\r\n"),
            "X-MS-Exchange-Organization-AuthAs: Partner\r\n".to_string(),
            "X-MS-Exchange-Organization-AuthMechanism: 02\r\n".to_string(),
            format!("X-MS-Exchange-Organization-AuthDomain: {partner_domain}\r\n"),
        ] {
            assert!(m.contains(&want), "{file}: missing {want:?} in:\n{m}");
        }
    }

    // Tracking: each organization received from a verified Partner and
    // sent domain-secured to the other.
    for (org, own, partner, partner_fqdn) in [
        ("orga", "orga.example", "domaene.tld", "mail.domaene.tld"),
        ("orgb", "domaene.tld", "orga.example", "mail.orga.example"),
    ] {
        let lines = tracking(out.path(), org);
        let relayed_in = lines
            .iter()
            .find(|l| l["event_id"] == "RECEIVE" && l["recipients"][0] == format!("relay@{own}"))
            .unwrap_or_else(|| panic!("{org}: no RECEIVE of the relayed message in {lines:?}"));
        assert_eq!(relayed_in["connector"], "Inbound", "{relayed_in}");
        assert_eq!(
            relayed_in["peer_certificate_verified"], true,
            "{relayed_in}"
        );
        assert_eq!(relayed_in["auth_as"], "Partner", "{relayed_in}");
        assert_eq!(relayed_in["auth_domain"], partner, "{relayed_in}");
        let sent = lines
            .iter()
            .find(|l| l["event_id"] == "SEND")
            .unwrap_or_else(|| panic!("{org}: no SEND in {lines:?}"));
        assert_eq!(sent["recipients"][0], format!("relay@{partner}"), "{sent}");
        assert_eq!(sent["domain_secured"], true, "{sent}");
        assert_eq!(sent["peer_certificate_verified"], true, "{sent}");
        assert!(
            sent["peer_certificate_subject"]
                .as_str()
                .unwrap()
                .starts_with(&format!("CN={partner_fqdn}")),
            "{sent}"
        );
        assert!(
            lines
                .iter()
                .all(|l| l["event_id"] != "DEFER" && l["event_id"] != "FAIL"),
            "{org}: {lines:?}"
        );
    }

    // It cleaned up: its folder is gone and nothing listens any more.
    let folder = stdout
        .lines()
        .find_map(|l| l.strip_prefix("lab: folder "))
        .and_then(|l| l.split(';').next())
        .expect("the lab names its folder");
    assert!(!Path::new(folder).exists(), "{folder} was left behind");
    for addr in [format!("127.0.0.1:{port}"), format!("127.0.0.2:{port}")] {
        assert!(TcpListener::bind(&addr).is_ok(), "{addr} still in use");
    }
}
