//! MTA-STS (RFC 8461) end to end on loopback (issue 20): engine A sends
//! through a send connector with MtaStsMode; the DNS is a responder in
//! this test (MX, A and the `_mta-sts` TXT records, changed while the test
//! runs), each domain's policy is served by a real HTTPS server (`openssl
//! s_server -WWW` on `mta-sts.<domain>`:443 with a certificate from a test
//! CA that only MtaStsTrustedRootsPath trusts), and engine B is every
//! receiving MX, presenting its certificate for mail.orgb.example.
//!
//! Cases: enforce with a matching certificate is sent; enforce with a
//! certificate that does not name the MX is deferred (454 4.7.5 naming the
//! host); an MX the enforced policy does not list is never connected to;
//! testing with a mismatch, or with an MX that does not offer STARTTLS,
//! is sent and the failure logged; Mandatory
//! without a policy is deferred (451 4.7.5, saying why); the policy is
//! persisted in the state folder; a fetch failure keeps the cached policy;
//! a new TXT id and an expired max_age fetch the policy again.
#![allow(clippy::unwrap_used)]

mod transport_send_support;
mod transport_support;

use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use transport_send_support::{Org, PolicyServer, Zone};
use transport_support::{tracking_lines, wait_until};

const WAIT: Duration = Duration::from_secs(30);

/// `_mta-sts.<domain>` announcing policy `id`.
fn sts_id(zone: &Zone, domain: &str, id: &str) {
    zone.set_txt(&format!("_mta-sts.{domain}"), &format!("v=STSv1; id={id};"));
}

// ------------------------------------------------------------------ HTTPS

fn policy(mode: &str, mx: &[&str], max_age: u64) -> String {
    let mut s = format!("version: STSv1\r\nmode: {mode}\r\n");
    for m in mx {
        s.push_str(&format!("mx: {m}\r\n"));
    }
    s.push_str(&format!("max_age: {max_age}\r\n"));
    s
}

/// Loopback addresses for the policy servers (port 443 is shared by every
/// test process; the third octet keeps this one's apart).
fn sts_ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 83, (std::process::id() % 250) as u8, n)
}

// ------------------------------------------------------------------ checks

fn events(org: &Org, id: &str) -> Vec<Value> {
    tracking_lines(&org.lab.tracking_log())
        .into_iter()
        .filter(|e| e["event_id"] == id)
        .collect()
}

fn deferred_with(org: &Org, rcpt: &str, parts: &[&str]) -> bool {
    events(org, "DEFER").iter().any(|e| {
        let text = e.to_string();
        text.contains(rcpt) && parts.iter().all(|p| text.contains(p))
    })
}

#[test]
fn mta_sts_policies_are_found_cached_and_enforced() {
    let zone = Zone::default();
    let lo = |d: u8| Ipv4Addr::new(127, 0, 0, d);
    zone.mx("orga.example", &[(10, "mail.orga.example", lo(1))]);
    zone.mx("orgb.example", &[(10, "mail.orgb.example", lo(2))]);
    // enforce, the MX certificate does not name mx.orgc.example
    zone.mx("orgc.example", &[(10, "mx.orgc.example", lo(2))]);
    // testing, the same mismatch
    zone.mx("orgd.example", &[(10, "mx.orgd.example", lo(2))]);
    // enforce listing only mail.orgb.example: the preferred MX is not used
    zone.mx(
        "orge.example",
        &[
            (10, "bad.orge.example", lo(3)),
            (20, "mail.orgb.example", lo(2)),
        ],
    );
    // Mandatory, no policy
    zone.mx("orgf.example", &[(10, "mail.orgb.example", lo(2))]);
    // testing, an MX without STARTTLS
    zone.mx("orgg.example", &[(10, "mx.orgg.example", lo(4))]);
    // a policy announced that cannot be fetched (nothing listens at its
    // address), and one that is not a policy: both sent opportunistically
    zone.mx("orgh.example", &[(10, "mail.orgb.example", lo(2))]);
    zone.mx("orgi.example", &[(10, "mail.orgb.example", lo(2))]);
    for (i, d) in ["orgb", "orgc", "orgd", "orge", "orgg", "orgh", "orgi"]
        .iter()
        .enumerate()
    {
        sts_id(&zone, &format!("{d}.example"), "1");
        zone.a(&format!("mta-sts.{d}.example"), sts_ip(i as u8 + 1));
    }
    let dns = zone.serve();

    let b = Org::new("orgb.example", "127.0.0.2", dns);
    for d in [
        "orgd.example",
        "orge.example",
        "orgf.example",
        "orgh.example",
        "orgi.example",
    ] {
        b.xshell(&["new-accepteddomain", d, "--domain-name", d]);
    }
    let a = Org::new("orga.example", "127.0.0.1", dns);

    // The policy servers' CA, trusted by MTA-STS only, with B's CA (the MX
    // certificates).
    let ca = a.lab.ca("sts-ca", "MTA-STS Test CA");
    let names: Vec<String> = ["orgb", "orgc", "orgd", "orge", "orgg", "orgh", "orgi"]
        .iter()
        .map(|d| format!("mta-sts.{d}.example"))
        .collect();
    let sans: Vec<&str> = names.iter().map(String::as_str).collect();
    let web = a.lab.issue("mta-sts", &ca, &names[0], &sans);
    let bundle = a.lab.work.join("sts-roots.pem");
    let mut pem = fs::read(&ca.cert).unwrap();
    pem.extend(fs::read(&b.ca_pem).unwrap());
    fs::write(&bundle, pem).unwrap();
    a.xshell(&[
        "set-transportservice",
        "--mta-sts-trusted-roots-path",
        bundle.to_str().unwrap(),
    ]);
    let port = b.port.to_string();
    a.xshell(&[
        "new-sendconnector",
        "To partners",
        "--address-spaces",
        "orgb.example,orgc.example,orgd.example,orge.example,orgg.example,orgh.example,\
         orgi.example",
        "--port",
        &port,
        "--mta-sts-mode",
        "Opportunistic",
    ]);
    a.xshell(&[
        "new-sendconnector",
        "Mandatory",
        "--address-spaces",
        "orgf.example",
        "--port",
        &port,
        "--mta-sts-mode",
        "Mandatory",
    ]);
    let shown = a.xshell(&["get-sendconnector", "Mandatory", "-o", "json"]);
    assert!(shown.contains("\"MtaStsMode\": \"Mandatory\""), "{shown}");
    // MTA-STS checks MX hosts: not with smart hosts
    let (code, _, err) = a.lab.try_xshell(&[
        "-c",
        "New-SendConnector Smart -AddressSpaces orgz.example -SmartHosts 127.0.0.9 \
         -DNSRoutingEnabled:$false -MtaStsMode Mandatory",
    ]);
    assert!(code != 0 && err.contains("MtaStsMode"), "{code} {err}");

    let work = a.lab.work.clone();
    let server = |i: u8, d: &str, text: &str| {
        let s = PolicyServer::start(&work.join(d), sts_ip(i), &web.cert, &web.key);
        s.policy(text);
        s
    };
    let long = 86_400;
    let orgb = server(1, "orgb", &policy("enforce", &["mail.orgb.example"], long));
    let _orgc = server(2, "orgc", &policy("enforce", &["mx.orgc.example"], long));
    let _orgd = server(3, "orgd", &policy("testing", &["*.orgd.example"], long));
    let _orge = server(4, "orge", &policy("enforce", &["mail.orgb.example"], long));
    let _orgg = server(5, "orgg", &policy("testing", &["mx.orgg.example"], long));
    let _orgi = server(7, "orgi", "version: STSv1\nmode: enforce\n");
    let plain_mx = transport_send_support::fake_server(
        TcpListener::bind(("127.0.0.4", b.port)).unwrap(),
        None,
    );

    // The MX an enforced policy does not list: counts connections.
    let bad = TcpListener::bind(("127.0.0.3", b.port)).unwrap();
    let bad_connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&bad_connections);
    std::thread::spawn(move || {
        for c in bad.incoming() {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(c);
        }
    });

    let _eb = b.start();
    let ea = a.start();
    for d in [
        "orgb", "orgc", "orgd", "orge", "orgf", "orgg", "orgh", "orgi",
    ] {
        let t = a.submit("alice@orga.example", &format!("bob@{d}.example"), d);
        assert!(t.contains("250 2.0.0 Queued as"), "{t}");
    }

    // enforce, matching: sent
    assert!(
        wait_until(WAIT, || b.lab.maildir("orgb.example", "bob").len() == 1),
        "enforce + match not delivered: {:?}\n{}",
        tracking_lines(&a.lab.tracking_log()),
        ea.log_text()
    );
    // enforce, the certificate does not name the MX: deferred, host named
    assert!(
        wait_until(WAIT, || deferred_with(
            &a,
            "bob@orgc.example",
            &["454 4.7.5", "mx.orgc.example", "NotValidForName"]
        )),
        "no DEFER for orgc.example: {:?}",
        events(&a, "DEFER")
    );
    // testing, the same mismatch: sent, and what failed logged
    assert!(
        wait_until(WAIT, || b.lab.maildir("orgd.example", "bob").len() == 1),
        "testing + mismatch not delivered: {:?}",
        tracking_lines(&a.lab.tracking_log())
    );
    assert!(
        wait_until(Duration::from_secs(5), || {
            let log = ea.log_text();
            log.contains("MTA-STS testing: the MX certificate fails the policy")
                && log.contains("host=mx.orgd.example")
        }),
        "{}",
        ea.log_text()
    );
    // testing, an MX without STARTTLS: sent in plaintext, and logged
    assert!(
        wait_until(WAIT, || plain_mx.lock().unwrap().delivered == vec![false]),
        "{:?}",
        plain_mx.lock().unwrap()
    );
    assert!(
        wait_until(Duration::from_secs(5), || ea.log_text().contains(
            "MTA-STS testing: the MX did not offer STARTTLS; sent in plaintext host=mx.orgg.example"
        )),
        "{}",
        ea.log_text()
    );
    // enforce, an MX not in the policy: never connected to
    assert!(
        wait_until(WAIT, || b.lab.maildir("orge.example", "bob").len() == 1),
        "orge.example not delivered through the listed MX: {:?}",
        tracking_lines(&a.lab.tracking_log())
    );
    assert_eq!(bad_connections.load(Ordering::SeqCst), 0);
    // Mandatory, no policy: deferred, saying why
    assert!(
        wait_until(WAIT, || deferred_with(
            &a,
            "bob@orgf.example",
            &[
                "451 4.7.5",
                "MtaStsMode is Mandatory",
                "no _mta-sts TXT record"
            ]
        )),
        "no DEFER for orgf.example: {:?}",
        events(&a, "DEFER")
    );
    assert!(b.lab.maildir("orgc.example", "bob").is_empty());

    // A policy that cannot be had: sent as without one, and reported.
    for d in ["orgh.example", "orgi.example"] {
        assert!(
            wait_until(WAIT, || b.lab.maildir(d, "bob").len() == 1),
            "{d} not delivered: {:?}",
            events(&a, "DEFER")
        );
    }
    // TLS reporting (RFC 8460): what each domain's report would say.
    let failures = |domain: &str| -> (Value, String) {
        let out = a.xshell(&[
            "-c",
            &format!("Get-TlsReport -Domain {domain} | ConvertTo-Json"),
        ]);
        let r: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        (r["PolicyTypes"].clone(), r["Failures"].to_string())
    };
    for (domain, policy_type, failure) in [
        (
            "orgc.example",
            "sts",
            "certificate-host-mismatch mx.orgc.example",
        ),
        (
            "orgd.example",
            "sts",
            "certificate-host-mismatch mx.orgd.example",
        ),
        (
            "orgg.example",
            "sts",
            "starttls-not-supported mx.orgg.example",
        ),
        ("orgh.example", "sts", "sts-policy-fetch-error"),
        ("orgi.example", "sts", "sts-policy-invalid"),
    ] {
        let mut shown = (Value::Null, String::new());
        let found = wait_until(WAIT, || {
            shown = failures(domain);
            shown.1.contains(failure)
                && shown
                    .0
                    .as_array()
                    .is_some_and(|t| t.iter().any(|x| x == policy_type))
        });
        assert!(found, "{domain}: {shown:?}");
    }

    // The policy is kept in the state folder.
    let cached = a.lab.store.join("mta-sts").join("orgb.example.json");
    let text = fs::read_to_string(&cached).unwrap();
    assert!(
        text.contains("\"id\": \"1\"") && text.contains("mail.orgb.example"),
        "{text}"
    );

    // A new id while the policy server is down: the cached policy applies.
    drop(orgb);
    sts_id(&zone, "orgb.example", "2");
    a.submit("alice@orga.example", "bob@orgb.example", "cached");
    assert!(
        wait_until(WAIT, || b.lab.maildir("orgb.example", "bob").len() == 2),
        "not sent under the cached policy:\n{}",
        ea.log_text()
    );
    let log = ea.log_text();
    assert!(
        log.contains("the policy could not be fetched") && log.contains("using the cached policy"),
        "{log}"
    );

    // The server is back: the new id fetches the policy again (max_age 1).
    let orgb = server(1, "orgb2", &policy("enforce", &["mail.orgb.example"], 1));
    a.submit("alice@orga.example", "bob@orgb.example", "new id");
    assert!(wait_until(WAIT, || b
        .lab
        .maildir("orgb.example", "bob")
        .len()
        == 3));
    let fetched = |needle: &str| ea.log_text().matches(needle).count();
    assert_eq!(
        fetched("MTA-STS: policy fetched domain=orgb.example id=2 mode=enforce max_age=1"),
        1,
        "{}",
        ea.log_text()
    );

    // The same id, but max_age has passed: fetched again.
    orgb.policy(&policy("testing", &["mail.orgb.example"], long));
    std::thread::sleep(Duration::from_millis(1100));
    a.submit("alice@orga.example", "bob@orgb.example", "expired");
    assert!(wait_until(WAIT, || b
        .lab
        .maildir("orgb.example", "bob")
        .len()
        == 4));
    assert_eq!(
        fetched("MTA-STS: policy fetched domain=orgb.example id=2 mode=testing"),
        1,
        "{}",
        ea.log_text()
    );
}
