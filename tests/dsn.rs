//! Delivery status notifications as RFC 3461 asks, between two xshell
//! organizations on loopback (Domain Security between them) and a next
//! hop that does not offer DSN:
//!
//! - NOTIFY=SUCCESS to orgb.example: A passes NOTIFY, ORCPT, RET and ENVID
//!   on (B offers DSN) and sends no report itself; B delivers and sends the
//!   "delivered" report back to the sender at A, with Original-Envelope-Id
//!   and Original-Recipient.
//! - NOTIFY=SUCCESS to a next hop without DSN: the parameters are not
//!   passed on, and A reports "relayed".
//! - A recipient the next hop refuses with NOTIFY=NEVER gets no report;
//!   one with NOTIFY=FAILURE and RET=HDRS a report with the header only.
//! - Get-Message and the tracking log show what was asked.
#![allow(clippy::unwrap_used)]

mod transport_send_support;
mod transport_support;

use std::time::Duration;

use serde_json::Value;
use transport_send_support::*;
use transport_support::{Raw, tracking_lines, wait_until};

const WAIT: Duration = Duration::from_secs(30);

fn events(org: &Org, id: &str) -> Vec<Value> {
    tracking_lines(&org.lab.tracking_log())
        .into_iter()
        .filter(|e| e["event_id"] == id)
        .collect()
}

/// Submits one message on `org`'s submission connector with these MAIL
/// and RCPT lines (parameters included); panics unless it is queued.
fn submit(org: &Org, mail: &str, rcpts: &[&str], message: &str) {
    let mut c = Raw::connect_to(&org.ip, org.submission);
    let mut t = c.reply();
    t += &c.cmd("EHLO client.orga.example");
    assert!(t.contains("250-DSN\r\n"), "DSN not offered:\n{t}");
    for line in std::iter::once(&mail).chain(rcpts) {
        let r = c.cmd(line);
        assert!(r.starts_with("250"), "{line}: {r}\n{t}");
    }
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(message.as_bytes());
    let r = c.cmd(".");
    assert!(r.starts_with("250 2.0.0 Queued as"), "{r}");
    c.cmd("QUIT");
}

#[test]
fn dsn_requests_across_two_organizations_a_hop_without_dsn_and_get_message() {
    let (a, b) = Org::partners();
    // A next hop that does not offer DSN (no STARTTLS either: opportunistic).
    let (l, fake_port) = listener();
    let fake = fake_server(l, None);
    a.xshell(&[
        "-c",
        &format!(
            "New-SendConnector NoDsn -AddressSpaces nodsn.example -SmartHosts 127.0.0.1 -Port {fake_port} -DNSRoutingEnabled:$False"
        ),
    ]);
    // A next hop that is down: its message stays queued, for Get-Message.
    let closed_port = listener().1;
    a.xshell(&[
        "-c",
        &format!(
            "New-SendConnector Stuck -AddressSpaces stuck.example -SmartHosts 127.0.0.1 -Port {closed_port} -DNSRoutingEnabled:$False"
        ),
    ]);
    let _ea = a.start();
    let _eb = b.start();

    submit(
        &a,
        "MAIL FROM:<alice@orga.example> RET=HDRS ENVID=a+2B1",
        &["RCPT TO:<bob@orgb.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob+2Bdsn@orgb.example"],
        "Subject: success via B\r\n\r\nhello\r\n",
    );
    submit(
        &a,
        "MAIL FROM:<alice@orga.example> ENVID=relayed-1",
        &["RCPT TO:<carol@nodsn.example> NOTIFY=SUCCESS ORCPT=rfc822;carol@nodsn.example"],
        "Subject: to a hop without DSN\r\n\r\nhello\r\n",
    );
    submit(
        &a,
        "MAIL FROM:<alice@orga.example> RET=HDRS",
        &[
            "RCPT TO:<reject-never@nodsn.example> NOTIFY=NEVER",
            "RCPT TO:<reject-fail@nodsn.example> NOTIFY=FAILURE",
        ],
        "Subject: refused by the next hop\r\n\r\nSECRET-BODY-LINE\r\n",
    );
    // RET=FULL on a message larger than what the runner reads of a head
    // (64 KiB): the report returns all of it.
    let big = format!(
        "Subject: big and refused\r\n\r\n{}END-OF-BIG-BODY\r\n",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n".repeat(2000)
    );
    submit(
        &a,
        "MAIL FROM:<alice@orga.example> RET=FULL",
        &["RCPT TO:<reject-full@nodsn.example>"],
        &big,
    );

    // Four reports reach alice: B's "delivered", A's "relayed", A's
    // "failed" for reject-fail only, and for reject-full. The tracking lines follow the queue
    // updates (and may follow a report's delivery): wait for them too.
    let tracked = |org: &Org, id: &str, field: &str, value: &str| {
        events(org, id).iter().any(|e| {
            e[field] == value
                || e[field]
                    .as_array()
                    .is_some_and(|v| v.iter().any(|x| x == value))
        })
    };
    let done = wait_until(WAIT, || {
        a.lab.maildir("orga.example", "alice").len() >= 4
            && a.queue().is_empty()
            && b.queue().is_empty()
            && tracked(&a, "SEND", "next_hop_domain", "orgb.example")
            && tracked(&a, "SEND", "next_hop_domain", "nodsn.example")
            && tracked(&a, "FAIL", "recipients", "reject-never@nodsn.example")
            && tracked(&b, "RECEIVE", "sender", "alice@orga.example")
    });
    let got = a.lab.maildir("orga.example", "alice");
    assert!(
        done,
        "reports: {got:#?}\nA's queue {:?}\nB's queue {:?}",
        a.queue(),
        b.queue()
    );
    assert_eq!(got.len(), 4, "{got:#?}");
    let find = |action: &str| {
        got.iter()
            .find(|m| m.contains(&format!("Action: {action}\r\n")) && !m.contains("reject-full"))
            .unwrap_or_else(|| panic!("no {action} report in {got:#?}"))
    };
    let full = got
        .iter()
        .find(|m| m.contains("Final-Recipient: rfc822; reject-full@nodsn.example"))
        .unwrap_or_else(|| panic!("no report for reject-full in {got:#?}"));
    let (_, third) = dsn_parts(full);
    assert_eq!(third, "message/rfc822");
    assert!(full.contains("Subject: big and refused"));
    assert!(
        full.contains("END-OF-BIG-BODY\r\n"),
        "the returned message is cut"
    );

    // B delivered and reported; the parameters came through A.
    let (status, third) = dsn_parts(find("delivered"));
    for want in [
        "Original-Envelope-Id: a+1\r\n",
        "Reporting-MTA: dns; mail.orgb.example\r\n",
        "Original-Recipient: rfc822; Bob+dsn@orgb.example\r\n",
        "Final-Recipient: rfc822; bob@orgb.example\r\n",
        "Status: 2.0.0",
    ] {
        assert!(status.contains(want), "missing {want:?} in\n{status}");
    }
    assert_eq!(third, "text/rfc822-headers");
    let send = events(&a, "SEND");
    let to_b = send
        .iter()
        .find(|e| e["next_hop_domain"] == "orgb.example")
        .unwrap_or_else(|| panic!("no SEND to B in {send:?}"));
    assert_eq!(to_b["dsn_passed_on"], true, "{to_b}");
    assert_eq!(to_b["dsn_notify"], serde_json::json!(["SUCCESS,FAILURE"]));
    let recv = events(&b, "RECEIVE");
    let r = recv
        .iter()
        .find(|e| e["sender"] == "alice@orga.example")
        .unwrap_or_else(|| panic!("no RECEIVE at B in {recv:?}"));
    assert_eq!(r["dsn_envid"], "a+1", "{r}");
    assert_eq!(r["dsn_ret"], "HDRS", "{r}");
    assert_eq!(
        r["dsn_orcpt"],
        serde_json::json!(["rfc822;Bob+dsn@orgb.example"])
    );
    // ... and as Get-MessageTrackingLog shows it.
    let out = b.xshell(&[
        "get-messagetrackinglog",
        "--event-id",
        "RECEIVE",
        "--sender",
        "alice@orga.example",
        "--output",
        "json",
    ]);
    let shown: Value = serde_json::from_str(&out).unwrap();
    let e = &shown[0];
    assert_eq!(e["DsnFormatRequested"], "Headers", "{e:#}");
    assert_eq!(e["EnvelopeId"], "a+1", "{e:#}");
    assert_eq!(
        e["RequestedReports"],
        serde_json::json!(["SUCCESS,FAILURE"]),
        "{e:#}"
    );
    assert_eq!(
        e["OriginalRecipients"],
        serde_json::json!(["rfc822;Bob+dsn@orgb.example"]),
        "{e:#}"
    );

    // The hop without DSN got none of it; A reported "relayed".
    let seen = fake.lock().unwrap().clone();
    assert_eq!(seen.delivered.len(), 1, "{seen:?}");
    assert_eq!(seen.envelope_lines.len(), 7, "{seen:?}");
    assert!(
        seen.envelope_lines.iter().all(|l| !l.contains("NOTIFY")
            && !l.contains("ORCPT")
            && !l.contains("ENVID")
            && !l.contains("RET=")),
        "{seen:?}"
    );
    let (status, _) = dsn_parts(find("relayed"));
    for want in [
        "Original-Envelope-Id: relayed-1\r\n",
        "Reporting-MTA: dns; mail.orga.example\r\n",
        "Original-Recipient: rfc822; carol@nodsn.example\r\n",
        "Remote-MTA: dns; 127.0.0.1",
    ] {
        assert!(status.contains(want), "missing {want:?} in\n{status}");
    }
    let to_fake = send
        .iter()
        .find(|e| e["next_hop_domain"] == "nodsn.example")
        .unwrap_or_else(|| panic!("no SEND to the fake hop in {send:?}"));
    assert_eq!(to_fake["dsn_passed_on"], false, "{to_fake}");

    // NOTIFY=NEVER: not in any report; RET=HDRS: no body.
    let failed = find("failed");
    let (status, third) = dsn_parts(failed);
    assert!(
        status.contains("Final-Recipient: rfc822; reject-fail@nodsn.example"),
        "{status}"
    );
    assert!(status.contains("Status: 5.1.1"), "{status}");
    assert!(got.iter().all(|m| !m.contains("reject-never")), "{got:#?}");
    assert_eq!(third, "text/rfc822-headers");
    assert!(
        failed.contains("Subject: refused by the next hop"),
        "{failed}"
    );
    assert!(!failed.contains("SECRET-BODY-LINE"), "{failed}");
    let fails = events(&a, "FAIL");
    assert!(
        fails.iter().any(|e| e["recipients"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x == "reject-never@nodsn.example"))),
        "{fails:?}"
    );

    // Get-Message shows what was asked, with Exchange's names.
    submit(
        &a,
        "MAIL FROM:<alice@orga.example> RET=FULL ENVID=stuck+2B1",
        &[
            "RCPT TO:<dave@stuck.example> NOTIFY=FAILURE,DELAY ORCPT=rfc822;Dave@stuck.example",
            "RCPT TO:<erin@stuck.example>",
        ],
        "Subject: stuck\r\n\r\nhello\r\n",
    );
    let mut shown = Value::Null;
    let retried = wait_until(WAIT, || {
        let (code, out, _) = a.lab.try_xshell(&["get-message", "--output", "json"]);
        shown = serde_json::from_str(&out).unwrap_or(Value::Null);
        code == 0
            && shown[0]["Recipients"][0]["Status"] == "Retry"
            && shown.as_array().is_some_and(|m| m.len() == 1)
    });
    assert!(retried, "{shown:#}");
    let m = &shown[0];
    assert_eq!(m["DsnFormatRequested"], "Full", "{m:#}");
    assert_eq!(m["EnvelopeId"], "stuck+1", "{m:#}");
    let r = &m["Recipients"];
    assert_eq!(r[0]["Address"], "dave@stuck.example", "{m:#}");
    assert_eq!(r[0]["RequestedReports"], "Failure, Delay", "{m:#}");
    assert_eq!(
        r[0]["OriginalRecipient"], "rfc822;Dave@stuck.example",
        "{m:#}"
    );
    assert!(r[1].get("RequestedReports").is_none(), "{m:#}");
    // The tracking line follows the queue update: wait for it too.
    wait_until(WAIT, || {
        events(&a, "DEFER")
            .iter()
            .any(|e| e["next_hop_domain"] == "stuck.example")
    });
    let defer = events(&a, "DEFER");
    let d = defer
        .iter()
        .find(|e| e["next_hop_domain"] == "stuck.example")
        .unwrap_or_else(|| panic!("no DEFER in {defer:?}"));
    assert_eq!(d["dsn_ret"], "FULL", "{d}");
    assert_eq!(
        d["dsn_notify"],
        serde_json::json!(["FAILURE,DELAY", "DEFAULT"]),
        "{d}"
    );
}
