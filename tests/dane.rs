//! DANE (RFC 7672) end to end: a DNSSEC-signed root zone served by Knot DNS
//! (automatic signing) on a loopback port is the whole DNS of the test;
//! its key is the engine's trust anchor (Set-TransportService
//! -DnssecTrustAnchorFile). One message to eight domains, each with its own
//! send connector (SmtpDaneMode) and loopback SMTP server:
//!
//! | domain | DNS | mode | expected |
//! |---|---|---|---|
//! | good.test | signed, TLSA 3 1 1 of the server's key (self-signed, another name) | Mandatory | sent |
//! | ta.test | signed, TLSA 2 0 1 of the CA the server's chain includes | Opportunistic | sent |
//! | bad.test | signed, TLSA 3 1 1 of another key | Opportunistic | deferred 454 4.7.5, no MAIL |
//! | nostls.test | signed, TLSA 3 1 1; the server offers no STARTTLS | Opportunistic | deferred 451 5.7.3, no MAIL |
//! | pkix.test | signed, only TLSA 1 1 1 (unusable); no STARTTLS | Opportunistic | deferred 451 5.7.3 (TLS stays mandatory) |
//! | plain.test | unsigned child zone (insecure delegation) | Opportunistic | sent (opportunistic TLS) |
//! | mand.plain.test | unsigned | Mandatory | deferred 451 4.7.5 |
//! | bogus.test | DS in the root, child zone unsigned (bogus) | Opportunistic | deferred 451 4.7.5 |
//!
//! Then, with the IANA root keys as the anchor again, a message to
//! good.test is deferred (the lab's root is bogus to them).
#![allow(clippy::unwrap_used)]

#[path = "common/peers.rs"]
mod peers;
mod transport_send_support;
mod transport_support;

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use transport_send_support::*;
use transport_support::{openssl, wait_until};

const WAIT: Duration = Duration::from_secs(30);

/// knotd serving the zones of `dir` on 127.0.0.1:`port`; killed on drop.
struct Knot {
    child: Child,
    port: u16,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn knot_bins() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| names.iter().map(PathBuf::from).find(|p| p.exists());
    Some((
        find(&["/usr/sbin/knotd", "/usr/bin/knotd"])?,
        find(&["/usr/bin/kdig", "/usr/sbin/kdig"])?,
    ))
}

impl Knot {
    /// Signs `root` (the root zone) automatically; `children` are served
    /// unsigned as they are.
    fn start(knotd: &Path, kdig: &Path, root: &str, children: &[(&str, &str)]) -> Knot {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        fs::create_dir_all(dir.join("db")).unwrap();
        // TCP: a port no other test of this process has; UDP on the same.
        let port = transport_support::free_port();
        let mut zones = String::from(
            "  - domain: .\n    file: root.zone\n    dnssec-signing: on\n    dnssec-policy: lab\n",
        );
        fs::write(dir.join("root.zone"), root).unwrap();
        for (name, text) in children {
            let file = format!("{name}zone");
            fs::write(dir.join(&file), text).unwrap();
            zones.push_str(&format!("  - domain: {name}\n    file: {file}\n"));
        }
        let conf = format!(
            "server:\n    listen: 127.0.0.1@{port}\n    rundir: {d}\n\
             database:\n    storage: {d}/db\n\
             log:\n  - target: stderr\n    any: info\n\
             policy:\n  - id: lab\n    algorithm: ecdsap256sha256\n    single-type-signing: on\n\
             template:\n  - id: default\n    storage: {d}\n    zonefile-sync: -1\n    journal-content: none\n\
             zone:\n{zones}",
            d = dir.display()
        );
        fs::write(dir.join("knot.conf"), conf).unwrap();
        let child = Command::new(knotd)
            .arg("-c")
            .arg(dir.join("knot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("knotd.log")).unwrap())
            .spawn()
            .unwrap();
        let knot = Knot {
            child,
            port,
            dir,
            _tmp: tmp,
        };
        assert!(
            wait_until(WAIT, || !knot.dnskey(kdig).is_empty()),
            "knotd did not serve the signed root:\n{}",
            fs::read_to_string(knot.dir.join("knotd.log")).unwrap_or_default()
        );
        knot
    }

    /// The root's DNSKEY records (zone file format).
    fn dnskey(&self, kdig: &Path) -> String {
        let out = Command::new(kdig)
            .args([
                "@127.0.0.1",
                "-p",
                self.port.to_string().as_str(),
                "+short",
                "+time=1",
                "+retry=0",
                "DNSKEY",
                ".",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("257 "))
            .map(|l| format!(". 60 IN DNSKEY {l}\n"))
            .collect()
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

/// SHA-256 of `bytes`, upper-case hex (openssl).
fn sha256(dir: &Path, bytes: &[u8]) -> String {
    let f = dir.join("digest.in");
    fs::write(&f, bytes).unwrap();
    let out = openssl::text(dir, &["dgst", "-sha256", "-r", f.to_str().unwrap()]);
    out.split_whitespace().next().unwrap().to_ascii_uppercase()
}

fn spki(c: &CertificateDer<'_>) -> Vec<u8> {
    xshell_core::pki::cert::parse_certificate(c.as_ref())
        .unwrap()
        .spki_der
}

/// The recipient entry of `address` in the queued envelopes, as text.
fn queued_recipient(org: &Org, address: &str) -> Option<String> {
    org.queue().iter().find_map(|e| {
        let e = if e["envelope"].is_object() {
            &e["envelope"]
        } else {
            e
        };
        e["recipients"]
            .as_array()?
            .iter()
            .find(|r| r["address"] == address)
            .map(|r| r.to_string())
    })
}

#[test]
fn dane_modes_against_a_signed_zone_served_by_knot() {
    let Some((knotd, kdig)) = knot_bins() else {
        peers::missing("Knot DNS is not installed (apt-get install knot knot-dnsutils)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();

    // The servers and their certificates.
    let good_cert = pki::self_signed("unrelated.example");
    let bad_cert = pki::self_signed("mx.bad.test");
    let other_key = pki::self_signed("mx.bad.test");
    let ca = pki::ca("TA Test CA");
    let mut ta_cert = pki::issue(&ca, &["mx.ta.test"]);
    let ca_der = CertificateDer::from(ca.cert_der().unwrap());
    ta_cert.chain.push(ca_der.clone());
    let plain_cert = pki::self_signed("mx.plain.test");
    // sts.test: no TLSA records, an MTA-STS policy (the next rule).
    let sts_ca = pki::ca("MTA-STS Test CA");
    let sts_cert = pki::issue(&sts_ca, &["mx.sts.test"]);
    let servers: Vec<(&str, Issued)> = vec![
        ("good", good_cert.clone()),
        ("ta", ta_cert),
        ("bad", bad_cert),
        ("plain", plain_cert),
        ("mand", pki::self_signed("mx.mand.plain.test")),
        ("bogus", pki::self_signed("mx.bogus.test")),
        ("sts", sts_cert),
    ];
    let mut recs = std::collections::HashMap::new();
    let mut ports = std::collections::HashMap::new();
    for (name, cert) in servers {
        let (l, port) = listener();
        recs.insert(name, fake_server(l, Some(cert)));
        ports.insert(name, port);
    }
    // Servers without STARTTLS.
    for name in ["nostls", "pkix"] {
        let (l, port) = listener();
        recs.insert(name, fake_server(l, None));
        ports.insert(name, port);
    }

    // The zones.
    let good_tlsa = sha256(tmp.path(), &spki(&good_cert.chain[0]));
    let wrong_tlsa = sha256(tmp.path(), &spki(&other_key.chain[0]));
    let ta_tlsa = sha256(tmp.path(), ca_der.as_ref());
    // The policy host: its own loopback address (port 443).
    let sts_ip = std::net::Ipv4Addr::new(127, 84, (std::process::id() % 250) as u8, 1);
    let root = format!(
        "$TTL 60\n\
         . SOA ns. hostmaster. 1 3600 600 86400 60\n\
         . NS ns.\n\
         ns. A 127.0.0.1\n\
         good.test. MX 10 mx.good.test.\n\
         mx.good.test. A 127.0.0.1\n\
         _25._tcp.mx.good.test. TLSA 3 1 1 {good_tlsa}\n\
         ; a PKIX-EE record is unusable for SMTP and ignored\n\
         _25._tcp.mx.good.test. TLSA 1 1 1 {wrong_tlsa}\n\
         ta.test. MX 10 mx.ta.test.\n\
         mx.ta.test. A 127.0.0.1\n\
         _25._tcp.mx.ta.test. TLSA 2 0 1 {ta_tlsa}\n\
         nostls.test. MX 10 mx.nostls.test.\n\
         mx.nostls.test. A 127.0.0.1\n\
         _25._tcp.mx.nostls.test. TLSA 3 1 1 {good_tlsa}\n\
         pkix.test. MX 10 mx.pkix.test.\n\
         mx.pkix.test. A 127.0.0.1\n\
         _25._tcp.mx.pkix.test. TLSA 1 1 1 {good_tlsa}\n\
         bad.test. MX 10 mx.bad.test.\n\
         mx.bad.test. A 127.0.0.1\n\
         _25._tcp.mx.bad.test. TLSA 3 1 1 {wrong_tlsa}\n\
         plain.test. NS ns.plain.test.\n\
         ns.plain.test. A 127.0.0.1\n\
         bogus.test. NS ns.bogus.test.\n\
         ns.bogus.test. A 127.0.0.1\n\
         bogus.test. DS 4711 13 2 {good_tlsa}\n\
         sts.test. MX 10 mx.sts.test.\n\
         mx.sts.test. A 127.0.0.1\n\
         _mta-sts.sts.test. TXT \"v=STSv1; id=1;\"\n\
         mta-sts.sts.test. A {sts_ip}\n"
    );
    let child = |d: &str, extra: &str| {
        format!(
            "$TTL 60\n\
             {d}. SOA ns.{d}. hostmaster. 1 3600 600 86400 60\n\
             {d}. NS ns.{d}.\n\
             ns.{d}. A 127.0.0.1\n\
             {d}. MX 10 mx.{d}.\n\
             mx.{d}. A 127.0.0.1\n\
             {extra}"
        )
    };
    let plain = child(
        "plain.test",
        "mand.plain.test. MX 10 mx.mand.plain.test.\nmx.mand.plain.test. A 127.0.0.1\n",
    );
    let bogus = child(
        "bogus.test",
        &format!("_25._tcp.mx.bogus.test. TLSA 3 1 1 {good_tlsa}\n"),
    );
    let knot = Knot::start(
        &knotd,
        &kdig,
        &root,
        &[("plain.test.", &plain), ("bogus.test.", &bogus)],
    );
    let anchor = tmp.path().join("root.key");
    fs::write(&anchor, knot.dnskey(&kdig)).unwrap();

    // The organization: the Knot server is its whole DNS.
    let a = Org::new("orga.example", "127.0.0.1", knot.addr());
    // The trust anchor setting checks what it is given.
    let junk = tmp.path().join("junk.key");
    fs::write(&junk, "not a key\n").unwrap();
    let (code, out, err) = a.lab.try_xshell(&[
        "set-transportservice",
        "--dnssec-trust-anchor-file",
        junk.to_str().unwrap(),
    ]);
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("DnssecTrustAnchorFile") && err.contains("no DNSKEY"),
        "{err}"
    );
    a.xshell(&[
        "set-transportservice",
        "--dnssec-trust-anchor-file",
        anchor.to_str().unwrap(),
    ]);
    for (name, domain, mode) in [
        ("good", "good.test", "Mandatory"),
        ("ta", "ta.test", "Opportunistic"),
        ("bad", "bad.test", "Opportunistic"),
        ("nostls", "nostls.test", "Opportunistic"),
        ("pkix", "pkix.test", "Opportunistic"),
        ("plain", "plain.test", "Opportunistic"),
        ("mand", "mand.plain.test", "Mandatory"),
        ("bogus", "bogus.test", "Opportunistic"),
        ("sts", "sts.test", "Opportunistic"),
    ] {
        a.send_connector(name, domain, ports[name], false);
        a.xshell(&["set-sendconnector", name, "--smtp-dane-mode", mode]);
    }
    // sts.test: DANE first, then MTA-STS, whose policy host is found through
    // the same signed zone.
    a.xshell(&[
        "set-sendconnector",
        "sts",
        "--mta-sts-mode",
        "Opportunistic",
    ]);
    let sts_roots = pki::ca_file(&sts_ca, tmp.path(), "sts-ca");
    a.xshell(&[
        "set-transportservice",
        "--mta-sts-trusted-roots-path",
        sts_roots.to_str().unwrap(),
    ]);
    let web = pki::issue(&sts_ca, &["mta-sts.sts.test"]);
    let (web_cert, web_key) = (tmp.path().join("web.der"), tmp.path().join("web-key.der"));
    fs::write(&web_cert, web.chain[0].as_ref()).unwrap();
    fs::write(&web_key, web.key.secret_der()).unwrap();
    let policy_host = PolicyServer::start(&tmp.path().join("sts-web"), sts_ip, &web_cert, &web_key);
    policy_host.policy("version: STSv1\nmode: enforce\nmx: mx.sts.test\nmax_age: 86400\n");
    let shown = a.xshell(&["-c", "(Get-SendConnector good).SmtpDaneMode"]);
    assert!(shown.contains("Mandatory"), "{shown}");
    // DANE authenticates MX hosts, never smart hosts.
    let (code, _, err) = a.lab.try_xshell(&[
        "-c",
        "New-SendConnector Smart -AddressSpaces smart.test -SmartHosts 127.0.0.1 \
         -DNSRoutingEnabled:$false -SmtpDaneMode Mandatory",
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("SmtpDaneMode") && err.contains("DNSRoutingEnabled"),
        "{err}"
    );

    let engine = a.start();
    let to = "u@good.test,u@ta.test,u@bad.test,u@nostls.test,u@pkix.test,\
              u@plain.test,u@mand.plain.test,\
              u@bogus.test,u@sts.test";
    let t = a.submit("alice@orga.example", to, "DANE");
    assert!(t.contains("250 2.0.0 Queued as"), "{t}");

    let delivered = |name: &str| recs[name].lock().unwrap().delivered.clone();
    let deferred = |addr: &str, want: &[&str]| {
        wait_until(WAIT, || {
            queued_recipient(&a, addr).is_some_and(|r| want.iter().all(|w| r.contains(w)))
        })
    };
    assert!(
        wait_until(WAIT, || ["good", "ta", "plain", "sts"]
            .iter()
            .all(|n| delivered(n) == [true])),
        "good {:?} ta {:?} plain {:?}; queue {:?}\n{}",
        delivered("good"),
        delivered("ta"),
        delivered("plain"),
        a.queue(),
        engine.log_text()
    );
    // A certificate matching no TLSA record: the handshake fails, nothing
    // is sent, the reason names the host and the records.
    assert!(
        deferred(
            "u@bad.test",
            &[
                "454 4.7.5",
                "DANE: mx.bad.test",
                "matches none of the TLSA records",
                &wrong_tlsa
            ]
        ),
        "{:?}",
        a.lab.queued_envelopes()
    );
    // Mandatory, unsigned domain: never sent.
    assert!(
        deferred(
            "u@mand.plain.test",
            &["451 4.7.5", "not DNSSEC-signed", "Mandatory"]
        ),
        "{:?}",
        queued_recipient(&a, "u@mand.plain.test")
    );
    // Bogus DNSSEC: never downgraded, even in Opportunistic mode.
    assert!(
        deferred(
            "u@bogus.test",
            &["451 4.7.5", "bogus.test", "DNSSEC validation failed"]
        ),
        "{:?}",
        queued_recipient(&a, "u@bogus.test")
    );
    // Usable TLSA records and no STARTTLS: never plaintext.
    assert!(
        deferred("u@nostls.test", &["451 5.7.3"]),
        "{:?}",
        a.lab.queued_envelopes()
    );
    // Only unusable (PKIX-EE) records: no DANE, but TLS stays mandatory
    // (RFC 7672 3.1.3); opportunistic would have sent in plaintext.
    assert!(
        deferred("u@pkix.test", &["451 5.7.3"]),
        "{:?}",
        a.lab.queued_envelopes()
    );
    for n in ["bad", "nostls", "pkix", "mand", "bogus"] {
        let seen = recs[n].lock().unwrap().clone();
        assert!(
            seen.delivered.is_empty() && !seen.plain_mail,
            "{n}: {seen:?}"
        );
    }
    // The insecure domain fell through to opportunistic TLS, and said why.
    let log = engine.log_text();
    assert!(
        log.contains("DANE does not apply") && log.contains("plain.test is not DNSSEC-signed"),
        "{log}"
    );
    assert!(
        log.contains("DANE: usable TLSA records") && log.contains(&format!("3 1 1 {good_tlsa}")),
        "{log}"
    );
    // Sent over TLS, as the tracking log says (written after the reply).
    let sent_over_tls = || {
        let send: Vec<_> = transport_support::tracking_lines(&a.lab.tracking_log())
            .into_iter()
            .filter(|e| e["event_id"] == "SEND")
            .collect();
        ["good.test", "ta.test", "plain.test"].iter().all(|d| {
            send.iter().any(|e| {
                e["next_hop_domain"] == *d
                    && e["tls_version"]
                        .as_str()
                        .is_some_and(|v| v.starts_with("TLSv1."))
            })
        })
    };
    assert!(
        wait_until(WAIT, sent_over_tls),
        "{:?}",
        transport_support::tracking_lines(&a.lab.tracking_log())
    );

    // Say why: the tracking log names the policy and, for the unsigned
    // domain, why it went without DANE; Test-OutboundTlsPolicy shows the
    // same decision, made with the same lookups, before any mail.
    let send_of = |domain: &str| {
        transport_support::tracking_lines(&a.lab.tracking_log())
            .into_iter()
            .find(|e| e["event_id"] == "SEND" && e["next_hop_domain"] == domain)
            .unwrap_or_else(|| panic!("no SEND to {domain}"))
    };
    let good = send_of("good.test");
    assert_eq!(good["tls_policy"], "DANE", "{good}");
    let plain = send_of("plain.test");
    assert_eq!(plain["tls_policy"], "Opportunistic", "{plain}");
    assert!(
        plain["tls_policy_reason"]
            .as_str()
            .is_some_and(|r| r.contains("plain.test is not DNSSEC-signed")),
        "{plain}"
    );
    // sts.test has no TLSA records: DANE fell through to its MTA-STS
    // policy (enforce), which verified mx.sts.test, and said so.
    let sts = send_of("sts.test");
    assert_eq!(sts["tls_policy"], "MTA-STS enforce", "{sts}");
    assert!(sts["tls_policy_reason"].is_null(), "{sts}");
    let test = |domain: &str| -> serde_json::Value {
        let out = a.xshell(&[
            "-c",
            &format!("Test-OutboundTlsPolicy {domain} | ConvertTo-Json -Depth 4"),
        ]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    let rule = |r: &serde_json::Value, name: &str| {
        r["Rules"]
            .as_array()
            .and_then(|rules| rules.iter().find(|x| x["Name"] == name).cloned())
            .unwrap_or_else(|| panic!("no rule {name}: {r:#}"))
    };
    let r = test("good.test");
    assert_eq!(r["TlsPolicy"], "DANE", "{r:#}");
    assert_eq!(r["VerifiesPeer"], true, "{r:#}");
    assert_eq!(rule(&r, "DANE")["Applies"], true, "{r:#}");
    let r = test("sts.test");
    assert_eq!(r["TlsPolicy"], "MTA-STS enforce", "{r:#}");
    assert_eq!(rule(&r, "MTA-STS")["Applies"], true, "{r:#}");
    assert!(
        rule(&r, "DANE")["Detail"]
            .as_str()
            .is_some_and(|d| d.contains("no DNSSEC-signed TLSA records for mx.sts.test")),
        "{r:#}"
    );
    let r = test("mand.plain.test");
    assert_eq!(r["TlsPolicy"], "DANE", "{r:#}");
    assert_eq!(rule(&r, "DANE")["Applies"], true, "{r:#}");
    assert_eq!(rule(&r, "Domain Security")["Applies"], false, "{r:#}");
    assert!(
        rule(&r, "DANE")["Detail"]
            .as_str()
            .is_some_and(|d| d.contains("not DNSSEC-signed") && d.ends_with("held")),
        "{r:#}"
    );
    assert!(
        r["TlsPolicyReason"]
            .as_str()
            .is_some_and(|d| d.starts_with("DANE: ") && d.ends_with("; held")),
        "{r:#}"
    );

    // TLS reporting (RFC 8460): the DANE policy and its failures, as the
    // day's reports would carry them.
    let report = |domain: &str| -> serde_json::Value {
        let out = a.xshell(&[
            "-c",
            &format!("Get-TlsReport -Domain {domain} | ConvertTo-Json"),
        ]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    let r = report("good.test");
    assert_eq!(r["PolicyTypes"], serde_json::json!(["tlsa"]), "{r:#}");
    assert_eq!(r["SuccessfulSessions"], 1, "{r:#}");
    assert!(
        r["Json"].as_str().is_some_and(|j| j.contains(&good_tlsa)),
        "{r:#}"
    );
    let r = report("sts.test");
    assert_eq!(r["PolicyTypes"], serde_json::json!(["sts"]), "{r:#}");
    assert!(
        r["Json"]
            .as_str()
            .is_some_and(|j| j.contains("mx: mx.sts.test")),
        "{r:#}"
    );
    let failures = |domain: &str| report(domain)["Failures"].to_string();
    assert!(
        failures("bogus.test").contains("dnssec-invalid"),
        "{}",
        failures("bogus.test")
    );
    assert!(
        failures("mand.plain.test").contains("dane-required"),
        "{}",
        failures("mand.plain.test")
    );
    assert!(
        failures("bad.test").contains("tlsa-invalid"),
        "{}",
        failures("bad.test")
    );

    // Without the lab's anchor (back to the IANA root keys) the same zone
    // is bogus: the next message waits, DANE is never skipped.
    let reloads = || engine.log_text().matches("configuration reloaded").count();
    let before = reloads();
    a.xshell(&["-c", "Set-TransportService -DnssecTrustAnchorFile $null"]);
    assert!(
        wait_until(WAIT, || reloads() > before),
        "{}",
        engine.log_text()
    );
    let t = a.submit("alice@orga.example", "v@good.test", "DANE, other anchor");
    assert!(t.contains("250 2.0.0 Queued as"), "{t}");
    assert!(
        deferred("v@good.test", &["451 4.7.5", "DNSSEC validation failed"]),
        "{:?}",
        a.lab.queued_envelopes()
    );
    assert_eq!(delivered("good"), [true]);
}
