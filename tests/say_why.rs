//! Say why (issue 20), end to end on loopback: the TLS policy that applied
//! to each attempt and, when a message went without verified TLS or was
//! held, why: in the tracking log (SEND/DEFER with `tls_policy` and
//! `tls_policy_reason`), in Get-Message (TlsPolicy, TlsPolicyReason) and
//! Get-MessageTrackingLog; and Test-OutboundTlsPolicy, the decision before
//! any mail is sent, with a probe of a real engine (-Connect).
//!
//! Next hops: a second xshell engine (Domain Security), a fake server
//! without STARTTLS reached opportunistically and through a RequireTLS
//! connector, and one whose TLS handshake fails (plaintext next time).
#![allow(clippy::unwrap_used)]

mod transport_send_support;
mod transport_support;

use std::net::Ipv4Addr;
use std::time::Duration;

use serde_json::Value;
use transport_send_support::*;
use transport_support::{tracking_lines, wait_until};

const LOCAL: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const WAIT: Duration = Duration::from_secs(30);

/// Outbound events (SEND, DEFER, FAIL) for `domain`.
fn events(org: &Org, id: &str, domain: &str) -> Vec<Value> {
    tracking_lines(&org.lab.tracking_log())
        .into_iter()
        .filter(|e| e["event_id"] == id && e["next_hop_domain"] == domain)
        .collect()
}

fn reason(v: &Value) -> &str {
    v["tls_policy_reason"].as_str().unwrap_or("")
}

/// Test-OutboundTlsPolicy's result and exit code.
fn policy(org: &Org, domain: &str, connect: bool) -> (i32, Value, String) {
    let mut args = vec![
        "test-outboundtlspolicy",
        "--domain",
        domain,
        "--output",
        "json",
    ];
    if connect {
        args.push("--connect");
    }
    let (code, out, err) = org.lab.try_xshell(&args);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let v = match v {
        Value::Array(mut a) => a.remove(0),
        other => other,
    };
    (code, v, err)
}

fn rule<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["Rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["Name"] == name)
        .unwrap_or_else(|| panic!("no rule {name}: {r:#}"))
}

#[test]
fn tracking_get_message_and_test_outbound_tls_policy_say_why() {
    let dns = dns_server(&[
        ("orga.example", LOCAL),
        ("orgb.example", Ipv4Addr::new(127, 0, 0, 2)),
        ("plain.example", LOCAL),
        ("strict.example", LOCAL),
        ("broken.example", LOCAL),
    ]);
    let a = Org::new("orga.example", "127.0.0.1", dns);
    let b = Org::new("orgb.example", "127.0.0.2", dns);
    a.trust(&b.ca_pem);
    b.trust(&a.ca_pem);
    a.secure_partner("orgb.example", b.port);
    b.secure_partner("orga.example", a.port);
    let (l, plain_port) = listener();
    let plain = fake_server(l, None);
    let (l, broken_port) = listener();
    let broken = broken_tls_server(l);
    a.send_connector("Plain", "plain.example", plain_port, false);
    a.send_connector("Broken", "broken.example", broken_port, false);
    // RequireTLS to the same server without STARTTLS: held.
    let port = plain_port.to_string();
    a.xshell(&[
        "new-sendconnector",
        "Strict",
        "--address-spaces",
        "strict.example",
        "--port",
        &port,
        "--usage",
        "internet",
        "--require-tls",
    ]);
    let _ea = a.start();
    let _eb = b.start();

    // ---- Test-OutboundTlsPolicy, before any mail.
    let (code, r, err) = policy(&a, "orgb.example", false);
    assert_eq!(code, 0, "{r:#}\n{err}");
    assert_eq!(r["Routed"], true);
    assert_eq!(r["TlsPolicy"], "DomainSecure", "{r:#}");
    assert_eq!(r["VerifiesPeer"], true, "{r:#}");
    assert!(r["TlsPolicyReason"].is_null(), "{r:#}");
    assert_eq!(r["SendConnector"], "To orgb.example");
    assert_eq!(r["RouteType"], "MX");
    assert!(
        r["NextHops"][0]
            .as_str()
            .unwrap()
            .starts_with("mail.orgb.example [127.0.0.2:"),
        "{r:#}"
    );
    let names: Vec<&str> = r["Rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Domain Security",
            "DANE",
            "MTA-STS",
            "RequireTLS",
            "Opportunistic"
        ]
    );
    assert_eq!(rule(&r, "Domain Security")["Applies"], true, "{r:#}");
    assert!(
        rule(&r, "DANE")["Detail"]
            .as_str()
            .is_some_and(|d| d.ends_with("has SmtpDaneMode None: not looked up")),
        "{r:#}"
    );
    assert_eq!(rule(&r, "Opportunistic")["Applies"], false, "{r:#}");
    assert!(r["Host"].is_null(), "no probe without -Connect: {r:#}");
    // The shell form: the rules as a table, and ConvertTo-Json.
    let text = a.xshell(&[
        "-c",
        "(Test-OutboundTlsPolicy orgb.example).Rules | Format-Table Name,Applies,Detail",
    ]);
    assert!(
        text.lines()
            .any(|l| l.starts_with("Domain Security") && l.contains("True")),
        "{text}"
    );
    let text = a.xshell(&[
        "-c",
        "Test-OutboundTlsPolicy orgb.example | ConvertTo-Json -Depth 4",
    ]);
    let j: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(j["TlsPolicy"], "DomainSecure", "{j:#}");
    assert_eq!(j["Rules"][0]["Applies"], true, "{j:#}");

    // -Connect against the real engine B: verified under Domain Security.
    let (code, r, err) = policy(&a, "orgb.example", true);
    assert_eq!(code, 0, "{r:#}\n{err}");
    assert_eq!(r["StarttlsOffered"], true, "{r:#}");
    assert_eq!(r["TlsVersion"], "TLSv1.3", "{r:#}");
    assert_eq!(r["ServerSubject"], "CN=mail.orgb.example", "{r:#}");
    assert_eq!(r["CertificateVerified"], true, "{r:#}");
    assert!(r["TlsPolicyReason"].is_null(), "{r:#}");
    assert!(
        r["Probe"]
            .as_str()
            .unwrap()
            .contains("verified under DomainSecure"),
        "{r:#}"
    );

    // An opportunistic domain: why no stronger policy, and with -Connect
    // what its next hop offers.
    let (code, r, err) = policy(&a, "plain.example", true);
    assert_eq!(code, 0, "{r:#}\n{err}");
    assert_eq!(r["TlsPolicy"], "Opportunistic", "{r:#}");
    assert_eq!(r["VerifiesPeer"], false);
    assert_eq!(rule(&r, "Opportunistic")["Applies"], true, "{r:#}");
    assert_eq!(rule(&r, "Domain Security")["Applies"], false, "{r:#}");
    let why = r["TlsPolicyReason"].as_str().unwrap();
    assert!(
        why.starts_with("no TLS policy: plain.example is not in TLSSendDomainSecureList")
            && why.contains("connector 'Plain' has RequireTLS off")
            && why.contains("did not offer STARTTLS"),
        "{r:#}"
    );
    assert_eq!(r["StarttlsOffered"], false, "{r:#}");
    // The list view shows the rules and the reason.
    let text = a.xshell(&["test-outboundtlspolicy", "plain.example", "--connect"]);
    for want in [
        "TlsPolicyReason",
        "did not offer STARTTLS",
        "MTA-STS",
        "Applies",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // A RequireTLS domain whose next hop has no STARTTLS: held, exit 0
    // (the decision was made).
    let (code, r, _) = policy(&a, "strict.example", true);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["TlsPolicy"], "RequireTLS", "{r:#}");
    assert_eq!(rule(&r, "RequireTLS")["Applies"], true, "{r:#}");
    assert!(
        r["TlsPolicyReason"]
            .as_str()
            .unwrap()
            .ends_with("did not offer STARTTLS; held"),
        "{r:#}"
    );
    // The probes sent no mail.
    assert!(plain.lock().unwrap().commands.iter().all(|c| c != "MAIL"));
    // No route: exit 1 with the reason, the result still written.
    let (code, r, err) = policy(&a, "unknown.example", false);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["Routed"], false, "{r:#}");
    assert!(
        err.contains("no TLS policy for unknown.example")
            && err.contains("no enabled send connector"),
        "{err}"
    );

    // ---- One message to the four next hops.
    let t = a.submit(
        "alice@orga.example",
        "bob@orgb.example,p@plain.example,s@strict.example,x@broken.example",
        "say why",
    );
    assert!(t.contains("250 2.0.0 Queued as"), "{t}");
    assert!(
        wait_until(WAIT, || !events(&a, "SEND", "orgb.example").is_empty()
            && !events(&a, "SEND", "plain.example").is_empty()
            && !events(&a, "SEND", "broken.example").is_empty()
            && !events(&a, "DEFER", "strict.example").is_empty()),
        "{:#?}",
        tracking_lines(&a.lab.tracking_log())
    );
    // Domain Security: verified, nothing to explain.
    let s = &events(&a, "SEND", "orgb.example")[0];
    assert_eq!(s["tls_policy"], "DomainSecure", "{s}");
    assert!(s.get("tls_policy_reason").is_none(), "{s}");
    assert_eq!(s["domain_secured"], true, "{s}");
    // Opportunistic to a next hop without STARTTLS.
    let s = &events(&a, "SEND", "plain.example")[0];
    assert_eq!(s["tls_policy"], "Opportunistic", "{s}");
    assert!(s["tls_version"].is_null(), "{s}");
    assert!(
        reason(s).contains("is not in TLSSendDomainSecureList")
            && reason(s).contains("SmtpDaneMode None and MtaStsMode None")
            && reason(s).contains("did not offer STARTTLS: sent in plaintext"),
        "{s}"
    );
    // RequireTLS, held.
    let d = &events(&a, "DEFER", "strict.example")[0];
    assert_eq!(d["tls_policy"], "RequireTLS", "{d}");
    assert_eq!(
        reason(d),
        format!(
            "RequireTLS: connector 'Strict' has RequireTLS with TlsAuthLevel EncryptionOnly; mail.strict.example did not offer STARTTLS; held"
        ),
        "{d}"
    );
    // The handshake failed (DEFER), then plaintext (SEND, policy None).
    let d = &events(&a, "DEFER", "broken.example")[0];
    assert_eq!(d["tls_policy"], "Opportunistic", "{d}");
    assert!(
        reason(d).contains("the TLS handshake with mail.broken.example failed")
            && reason(d).contains("the next attempt to it is in plaintext"),
        "{d}"
    );
    let s = &events(&a, "SEND", "broken.example")[0];
    assert_eq!(s["tls_policy"], "None", "{s}");
    assert!(
        reason(s).ends_with(
            "the TLS handshake failed on the previous attempt, so this one is in plaintext"
        ),
        "{s}"
    );
    assert!(broken.lock().unwrap().plain_mail);

    // ---- Get-Message: the deferred recipient's policy and reason.
    let out = a.xshell(&["get-message", "--output", "json"]);
    let msgs: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let m = msgs
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Queue"].as_str().unwrap().ends_with("\\strict.example"))
        .unwrap_or_else(|| panic!("{msgs:#}"));
    assert_eq!(m["TlsPolicy"], "RequireTLS", "{m:#}");
    let rc = &m["Recipients"][0];
    assert_eq!(rc["Address"], "s@strict.example", "{m:#}");
    assert_eq!(rc["TlsPolicy"], "RequireTLS", "{m:#}");
    assert!(
        rc["TlsPolicyReason"]
            .as_str()
            .unwrap()
            .ends_with("did not offer STARTTLS; held"),
        "{m:#}"
    );
    // the list view shows them
    let text = a.xshell(&["-c", "Get-Message | Format-List TlsPolicy,TlsPolicyReason"]);
    assert!(
        text.contains("RequireTLS") && text.contains("held"),
        "{text}"
    );

    // ---- Get-MessageTrackingLog shows the new fields.
    let out = a.xshell(&[
        "get-messagetrackinglog",
        "--event-id",
        "DEFER",
        "--output",
        "json",
    ]);
    let evs: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let strict = evs
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["TlsPolicy"] == "RequireTLS")
        .unwrap_or_else(|| panic!("{evs:#}"));
    assert!(
        strict["TlsPolicyReason"]
            .as_str()
            .unwrap()
            .contains("did not offer STARTTLS; held"),
        "{strict:#}"
    );
}
