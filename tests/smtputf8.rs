//! SMTPUTF8 (RFC 6531) and internationalized domain names end to end, the
//! engine against itself between two organizations on loopback:
//! `orga.example` lists its partner as `bücher.example` (U-label) in both
//! Domain Security lists and its send connector's address space, while the
//! partner's certificate names the A-label `xn--bcher-kva.example`. A
//! message with a UTF-8 sender and a U-label recipient domain, submitted
//! with SMTPUTF8, is routed, domain-secured and delivered like mail to the
//! A-label; the store keeps A-labels; look-alikes are refused naming the
//! parameter; a non-ASCII address without SMTPUTF8 is `553 5.6.7`.
#![allow(clippy::unwrap_used)]

mod transport_send_support;
mod transport_support;

use std::net::Ipv4Addr;
use std::time::Duration;

use transport_send_support::*;
use transport_support::{Raw, tracking_lines, wait_until};

const WAIT: Duration = Duration::from_secs(30);
const PARTNER_A: &str = "xn--bcher-kva.example";
const PARTNER_U: &str = "bücher.example";

#[test]
fn smtputf8_mail_to_a_u_label_partner_is_domain_secured_by_its_a_label() {
    let dns = dns_server(&[
        ("orga.example", Ipv4Addr::new(127, 0, 0, 1)),
        (PARTNER_A, Ipv4Addr::new(127, 0, 0, 2)),
    ]);
    let a = Org::new("orga.example", "127.0.0.1", dns);
    // The partner's certificate names mail.xn--bcher-kva.example and the
    // A-label domain (what a CA issues for an IDN).
    let b = Org::new(PARTNER_A, "127.0.0.2", dns);
    a.trust(&b.ca_pem);
    b.trust(&a.ca_pem);
    a.secure_partner(PARTNER_U, b.port);
    b.secure_partner("orga.example", a.port);

    // The store keeps the A-label of what was typed.
    let cfg = a.xshell(&["get-transportconfig"]);
    assert!(cfg.contains(PARTNER_A), "{cfg}");
    assert!(!cfg.contains(PARTNER_U), "{cfg}");
    let sc = a.xshell(&["get-sendconnector"]);
    assert!(sc.contains(&format!("SMTP:{PARTNER_A};1")), "{sc}");
    // A look-alike (Cyrillic 'о' among Latin letters) and a symbol are
    // refused, naming the parameter; nothing is written.
    for bad in ["\u{43e}rgb.example", "i\u{2665}.example"] {
        let (code, _, err) =
            a.lab
                .try_xshell(&["set-transportconfig", "--tls-send-domain-secure-list", bad]);
        assert_ne!(code, 0, "{bad} accepted");
        assert!(err.contains("TLSSendDomainSecureList"), "{err}");
    }
    assert_eq!(a.xshell(&["get-transportconfig"]), cfg);

    let _ea = a.start();
    let _eb = b.start();

    let mut s = Raw::connect_to(&a.ip, a.submission);
    assert!(s.reply().starts_with("220"));
    let ehlo = s.cmd("EHLO client.orga.example");
    assert!(ehlo.contains("250-SMTPUTF8\r\n"), "{ehlo}");
    // Without the parameter: RFC 6531 3.5.
    let r = s.cmd("MAIL FROM:<jürgen@orga.example>");
    assert!(r.starts_with("553 5.6.7 "), "{r}");
    assert!(s.cmd("MAIL FROM:<alice@orga.example>").starts_with("250"));
    let r = s.cmd("RCPT TO:<bob@bücher.example>");
    assert!(r.starts_with("553 5.6.7 "), "{r}");
    assert!(s.cmd("RSET").starts_with("250"));
    // UTF-8 header fields without it (RFC 6532): refused after the data.
    assert!(s.cmd("MAIL FROM:<alice@orga.example>").starts_with("250"));
    assert!(s.cmd("RCPT TO:<bob@bücher.example>").starts_with("553"));
    assert!(
        s.cmd("RCPT TO:<bob@xn--bcher-kva.example>")
            .starts_with("250")
    );
    assert!(s.cmd("DATA").starts_with("354"));
    let r = s.cmd("Subject: Grüße\r\n\r\nhi\r\n.");
    assert!(r.starts_with("550 5.6.7 "), "{r}");
    // With it.
    let r = s.cmd("MAIL FROM:<jürgen@orga.example> SMTPUTF8");
    assert!(r.starts_with("250"), "{r}");
    let r = s.cmd("RCPT TO:<bob@Bücher.example>");
    assert!(r.starts_with("250"), "{r}");
    assert!(s.cmd("DATA").starts_with("354"));
    let r = s.cmd(
        "From: Jürgen <jürgen@orga.example>\r\nTo: bob@bücher.example\r\n\
         Subject: Grüße\r\n\r\nHallo Bücherwurm\r\n.",
    );
    assert!(r.contains("Queued as"), "{r}");
    s.cmd("QUIT");

    assert!(
        wait_until(WAIT, || b.lab.maildir(PARTNER_A, "bob").len() == 1),
        "not delivered; A's queue {:?}\nB's queue {:?}",
        a.queue(),
        b.queue()
    );
    let got = &b.lab.maildir(PARTNER_A, "bob")[0];
    for want in [
        "Subject: Grüße\r\n",
        "Hallo Bücherwurm",
        // B received it from A with SMTPUTF8 over TLS (RFC 6531 4.3),
        // as a Domain Security partner.
        "with UTF8SMTPS",
        "X-MS-Exchange-Organization-AuthAs: Partner\r\n",
        "X-MS-Exchange-Organization-AuthDomain: orga.example\r\n",
        "(Client CN \"mail.orga.example\"",
    ] {
        assert!(got.contains(want), "missing {want:?} in:\n{got}");
    }
    assert!(
        wait_until(WAIT, || a.queue().is_empty()),
        "A still queues {:?}",
        a.queue()
    );
    let sends: Vec<_> = tracking_lines(&a.lab.tracking_log())
        .into_iter()
        .filter(|e| e["event_id"] == "SEND")
        .collect();
    assert_eq!(sends.len(), 1, "{sends:?}");
    let send = &sends[0];
    assert_eq!(send["domain_secured"], true, "{send}");
    assert_eq!(send["next_hop_domain"], PARTNER_A, "{send}");
    assert_eq!(send["verified_name"], PARTNER_A, "{send}");
}
