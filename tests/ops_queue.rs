//! Operations cmdlets against a running xshell-transport (loopback only):
//! the control socket, Get-Queue/Get-Message, Suspend-/Resume-/Retry-Queue,
//! Remove-Message (confirmation, with and without NDR), the disk fallback
//! with the engine stopped, Get-MessageTrackingLog filters, and
//! Test-SmtpConnectivity. Every wait is bounded; the engine is killed on drop.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod transport_support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use serde_json::Value;
use transport_support::*;

/// `xshell --store <lab> args --output json` (exit code, parsed stdout, stderr).
fn json(lab: &Lab, args: &[&str]) -> (i32, Value, String) {
    let (code, out, err) = lab.try_xshell(&[args, &["--output", "json"]].concat());
    let v = if out.trim().is_empty() {
        Value::Array(Vec::new())
    } else {
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}\n{out}"))
    };
    (code, v, err)
}

fn queue<'a>(queues: &'a Value, hop: &str) -> Option<&'a Value> {
    queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["NextHopDomain"] == hop)
}

fn send(port: u16, from: &str, to: &[&str], subject: &str, msgid: &str) {
    let to = to.join(",");
    let mut args = vec!["--from", from, "--tls", "--to", &to];
    let subject = format!("Subject: {subject}");
    let msgid = format!("Message-Id: <{msgid}>");
    args.extend(["--header", &subject, "--header", &msgid]);
    let t = swaks(port, &args);
    assert!(t.contains("250 2.0.0 Queued as"), "{t}");
}

/// Organization A plus a relay domain (ExternalRelay: accepted, not local)
/// and a DNS send connector for everything.
fn lab_with_relay() -> (Lab, u16) {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    lab.xshell(&[
        "new-accepteddomain",
        "Relay",
        "--domain-name",
        "relay.example",
        "--domain-type",
        "ExternalRelay",
    ]);
    // The next hop is down: a smart host on a loopback port nobody listens
    // on (no DNS, so nothing leaves the machine). Connection failures are
    // retried after OutboundConnectionFailureRetryInterval (10 minutes), so
    // the message stays in the Retry queue for the whole test.
    let down = format!("127.0.0.1:{}", free_port());
    lab.xshell(&[
        "new-sendconnector",
        "Outbound",
        "--address-spaces",
        "*",
        "--dns-routing-enabled=false",
        "--smart-hosts",
        &down,
    ]);
    (lab, port)
}

#[test]
fn queue_cmdlets_against_a_running_engine_and_from_disk() {
    let (lab, port) = lab_with_relay();
    let mut engine = lab.start_engine(port);
    let sock = lab.store.join("control.sock");
    assert!(wait_until(Duration::from_secs(10), || sock.exists()));
    let mode = fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "control socket mode");
    // the protocol: versioned lines; a newer client or a garbled line gets
    // a typed error, and the connection keeps answering
    {
        use std::io::{BufRead, BufReader, Write};
        let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut ask = |line: &str| {
            s.write_all(format!("{line}\n").as_bytes()).unwrap();
            let mut reply = String::new();
            r.read_line(&mut reply).unwrap();
            serde_json::from_str::<Value>(&reply).unwrap()
        };
        let pong = ask(r#"{"version":1,"request":{"op":"ping"}}"#);
        assert_eq!(
            pong["outcome"]["answer"]["data"]["server"], "XSHELL01",
            "{pong}"
        );
        let v = ask(r#"{"version":99,"request":{"op":"ping"}}"#);
        assert_eq!(v["outcome"]["kind"], "unsupported_version", "{v}");
        let v = ask(r#"{"version":1,"request":{"op":"frobnicate"}}"#);
        assert_eq!(v["outcome"]["kind"], "bad_request", "{v}");
        let v = ask("not json");
        assert_eq!(v["outcome"]["kind"], "bad_request", "{v}");
        let v = ask(r#"{"version":1,"request":{"op":"get_queue"}}"#);
        assert_eq!(v["outcome"]["answer"]["type"], "queues", "{v}");
    }

    // one message for a remote domain and a local mailbox: the local copy
    // is delivered, the remote recipient waits in the relay.example queue
    send(
        port,
        "alice@sender.example",
        &["user@relay.example", "bob@orga.example"],
        "ops test one",
        "ops-1@sender.example",
    );
    let mut queues = Value::Null;
    assert!(
        wait_until(Duration::from_secs(10), || {
            queues = json(&lab, &["get-queue"]).1;
            queue(&queues, "relay.example")
                .is_some_and(|q| q["MessageCount"] == 1 && q["Status"] == "Retry")
                && lab.maildir("orga.example", "bob").len() == 1
        }),
        "{queues:#}"
    );
    let q = queue(&queues, "relay.example").unwrap();
    assert_eq!(q["Identity"], "XSHELL01\\relay.example");
    assert_eq!(q["DeliveryType"], "SmartHostConnectorDelivery");
    assert_eq!(q["Status"], "Retry");
    let last_error = q["LastError"].as_str().unwrap_or_default();
    assert!(last_error.contains("4.4.1"), "LastError: {q:#}");
    assert!(!q["NextRetryTime"].is_null(), "{q:#}");
    assert_eq!(q["NextHopConnector"], "Outbound");
    assert!(
        queue(&queues, "LocalDelivery").is_none(),
        "the local copy was delivered: {queues:#}"
    );

    // Get-Message: the recipients of that queue, subject, Message-ID
    let (code, msgs, err) = json(&lab, &["get-message", "--queue", "relay.example"]);
    assert_eq!(code, 0, "{err}");
    let msgs = msgs.as_array().unwrap();
    assert_eq!(msgs.len(), 1, "{msgs:#?}");
    let m = &msgs[0];
    assert_eq!(m["FromAddress"], "alice@sender.example");
    assert_eq!(m["Subject"], "ops test one");
    assert_eq!(m["InternetMessageId"], "<ops-1@sender.example>");
    assert_eq!(m["Queue"], "XSHELL01\\relay.example");
    let rcpts = m["Recipients"].as_array().unwrap();
    assert_eq!(rcpts.len(), 1, "{rcpts:?}");
    assert_eq!(rcpts[0]["Address"], "user@relay.example");
    assert_eq!(rcpts[0]["Status"], "Retry");
    let identity = m["Identity"].as_str().unwrap().to_string();
    let id = m["InternalMessageId"].as_str().unwrap().to_string();
    assert!(identity.ends_with(&id));
    // by identity, in the table form too
    let (code, table, _) = lab.try_xshell(&["get-message", &identity]);
    assert_eq!(code, 0);
    assert!(table.contains("alice@sender.example"), "{table}");

    // Suspend-Queue / Resume-Queue change Status, persisted in the queue folder
    let (code, _, err) = lab.try_xshell(&["-c", "Suspend-Queue 'XSHELL01\\relay.example'"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("suspended"), "{err}");
    let queues = json(&lab, &["get-queue", "relay.example"]).1;
    assert_eq!(queues[0]["Status"], "Suspended");
    let state = fs::read_to_string(lab.store.join("queue/queue-state.json")).unwrap();
    assert!(state.contains("relay.example"), "{state}");
    let msgs = json(&lab, &["get-message", &id]).1;
    assert_eq!(msgs[0]["Status"], "Suspended");
    // retrying a suspended queue is refused; an unknown queue is not found
    let (code, _, err) = lab.try_xshell(&["retry-queue", "relay.example"]);
    assert_eq!(code, 1);
    assert!(err.contains("suspended"), "{err}");
    let (code, _, err) = lab.try_xshell(&["suspend-queue", "nowhere.example"]);
    assert_eq!(code, 1);
    assert!(err.contains("was not found"), "{err}");
    let (code, _, err) = lab.try_xshell(&["resume-queue", "relay.example"]);
    assert_eq!(code, 0, "{err}");
    let queues = json(&lab, &["get-queue", "relay.example"]).1;
    assert_eq!(
        queues[0]["Status"], "Retry",
        "resumed: back to waiting for its retry time"
    );
    let (code, _, err) = lab.try_xshell(&["retry-queue", "relay.example"]);
    assert_eq!(code, 0, "{err}");
    // The same by -Filter (OPATH over the queues' properties), as Exchange.
    let (code, _, err) = lab.try_xshell(&[
        "-c",
        "Suspend-Queue -Filter {NextHopDomain -eq 'relay.example' -and MessageCount -gt 0} -Server XSHELL01",
    ]);
    assert_eq!(code, 0, "{err}");
    let queues = json(&lab, &["get-queue", "relay.example"]).1;
    assert_eq!(queues[0]["Status"], "Suspended");
    let (code, out, err) = lab.try_xshell(&[
        "-c",
        "Get-Queue -Filter \"Status -eq 'Suspended'\" | % NextHopDomain; Resume-Queue -Filter {Status -eq 'Suspended'}",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "relay.example");
    assert_eq!(
        json(&lab, &["get-queue", "relay.example"]).1[0]["Status"],
        "Retry"
    );
    let (code, _, err) = lab.try_xshell(&[
        "retry-queue",
        "--filter",
        "NextHopDomain -eq 'none.example'",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("no queue matches"), "{err}");

    // Remove-Message needs a confirmation; without one nothing happens
    let (code, _, err) = lab.try_xshell(&["remove-message", &identity, "--with-ndr=false"]);
    assert_eq!(code, 1);
    assert!(err.contains("confirmation"), "{err}");
    assert_eq!(json(&lab, &["get-message"]).1.as_array().unwrap().len(), 1);
    let (code, _, err) = lab.try_xshell(&[
        "-c",
        &format!("Remove-Message '{identity}' -WithNDR $false -Confirm:$false"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(queue(&json(&lab, &["get-queue"]).1, "relay.example").is_none());
    assert!(lab.queued_envelopes().is_empty());
    let (code, _, err) = lab.try_xshell(&["get-message", &id]);
    assert_eq!(code, 1, "a removed message is not found");
    assert!(err.contains("not found"), "{err}");

    // with an NDR: the sender is local, so the report lands in its mailbox
    send(
        port,
        "carol@orga.example",
        &["dave@relay.example"],
        "ops test two",
        "ops-2@orga.example",
    );
    let mut msgs = Value::Null;
    assert!(wait_until(Duration::from_secs(10), || {
        msgs = json(&lab, &["get-message"]).1;
        msgs.as_array().unwrap().len() == 1
    }));
    let id2 = msgs[0]["InternalMessageId"].as_str().unwrap().to_string();
    let (code, _, err) = lab.try_xshell(&["remove-message", &id2, "--with-ndr", "--confirm=false"]);
    assert_eq!(code, 0, "{err}");
    assert!(wait_until(Duration::from_secs(10), || lab
        .maildir("orga.example", "carol")
        .len()
        == 1));
    let ndr = &lab.maildir("orga.example", "carol")[0];
    assert!(ndr.contains("multipart/report"), "{ndr}");
    assert!(ndr.contains("dave@relay.example"), "{ndr}");
    assert!(ndr.contains("5.3.0"), "{ndr}");

    // Get-MessageTrackingLog: by sender, by Message-ID, by event, with TLS facts
    let (code, ev, err) = json(
        &lab,
        &["get-messagetrackinglog", "--sender", "alice@sender.example"],
    );
    assert_eq!(code, 0, "{err}");
    let ev = ev.as_array().unwrap().clone();
    assert!(ev.iter().any(|e| e["EventId"] == "RECEIVE"), "{ev:#?}");
    let receive = ev.iter().find(|e| e["EventId"] == "RECEIVE").unwrap();
    assert!(
        receive["TlsVersion"]
            .as_str()
            .is_some_and(|v| v.contains("TLS"))
    );
    assert!(receive["Cipher"].is_string());
    assert_eq!(receive["AuthAs"], "Anonymous");
    assert_eq!(receive["DomainSecured"], false);
    assert_eq!(receive["InternalMessageId"].as_str(), Some(id.as_str()));
    let by_id = json(
        &lab,
        &[
            "get-messagetrackinglog",
            "--message-id",
            "ops-1@sender.example",
        ],
    )
    .1;
    let kinds: Vec<&str> = by_id
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["EventId"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"RECEIVE") && kinds.contains(&"DELIVER"),
        "{kinds:?}"
    );
    let only_receive = json(
        &lab,
        &[
            "get-messagetrackinglog",
            "--message-id",
            "<ops-1@sender.example>",
            "--event-id",
            "receive",
        ],
    )
    .1;
    assert_eq!(
        only_receive.as_array().unwrap().len(),
        1,
        "{only_receive:#}"
    );
    let fails = json(&lab, &["get-messagetrackinglog", "--event-id", "FAIL"]).1;
    let fails = fails.as_array().unwrap();
    assert_eq!(fails.len(), 2, "{fails:#?}");
    assert!(
        fails[0]["Detail"]
            .as_str()
            .unwrap()
            .contains("no non-delivery report")
    );
    assert!(
        fails[1]["Detail"]
            .as_str()
            .unwrap()
            .contains("non-delivery report queued")
    );
    let by_rcpt = json(
        &lab,
        &[
            "get-messagetrackinglog",
            "--recipients",
            "DAVE@relay.example",
            "--result-size",
            "1",
        ],
    );
    assert_eq!(by_rcpt.1.as_array().unwrap().len(), 1);
    assert_eq!(
        by_rcpt.1[0]["EventId"], "FAIL",
        "newest last: {:#}",
        by_rcpt.1
    );
    assert!(by_rcpt.2.contains("-ResultSize"), "{}", by_rcpt.2);
    let future = json(&lab, &["get-messagetrackinglog", "--start", "2999-01-01"]).1;
    assert!(future.as_array().unwrap().is_empty());
    // a malformed line is skipped and counted, never fatal
    let mut log = fs::OpenOptions::new()
        .append(true)
        .open(lab.tracking_log())
        .unwrap();
    std::io::Write::write_all(&mut log, b"{this is not json\n").unwrap();
    let (code, ev2, err) = json(
        &lab,
        &["get-messagetrackinglog", "--sender", "alice@sender.example"],
    );
    assert_eq!(code, 0);
    assert_eq!(ev2.as_array().unwrap().len(), ev.len());
    assert!(err.contains("1 line(s)"), "{err}");

    // a message still queued when the engine stops
    send(
        port,
        "erin@sender.example",
        &["frank@relay.example"],
        "ops test three",
        "ops-3@sender.example",
    );
    assert!(wait_until(Duration::from_secs(10), || {
        queue(&json(&lab, &["get-queue"]).1, "relay.example").is_some()
    }));
    let (code, _, err) = lab.try_xshell(&["suspend-queue", "relay.example"]);
    assert_eq!(code, 0, "{err}");
    engine.signal("TERM");
    assert_eq!(engine.wait_exit(Duration::from_secs(20)), Some(0));
    assert!(!sock.exists(), "the socket is removed at a clean exit");

    // engine stopped: Get-* read the disk and warn; actions refuse
    let (code, queues, err) = json(&lab, &["get-queue"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("not running"), "{err}");
    let q = queue(&queues, "relay.example").unwrap();
    assert_eq!(q["MessageCount"], 1);
    assert_eq!(q["Status"], "Suspended", "suspension persists");
    let (code, msgs, err) = json(&lab, &["get-message"]);
    assert_eq!(code, 0);
    assert!(err.contains("not running"), "{err}");
    assert_eq!(msgs[0]["Subject"], "ops test three");
    let (code, _, err) = lab.try_xshell(&["resume-queue", "relay.example"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("not running") && err.contains("nothing was done"),
        "{err}"
    );
    let env_before = lab.queued_envelopes();
    let (code, _, _) = lab.try_xshell(&[
        "remove-message",
        msgs[0]["Identity"].as_str().unwrap(),
        "--confirm=false",
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        lab.queued_envelopes(),
        env_before,
        "nothing changed on disk"
    );

    // a stale socket from a crash does not stop the next start
    std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let _engine = lab.start_engine(port);
    let (code, queues, err) = json(&lab, &["get-queue"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("not running"), "{err}");
    assert_eq!(
        queue(&queues, "relay.example").unwrap()["Status"],
        "Suspended"
    );
}

#[test]
fn test_smtp_connectivity_reports_starttls_certificate_and_failures() {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    let certs = json(&lab, &["get-exchangecertificate"]).1;
    let thumbprint = certs[0]["Thumbprint"].as_str().unwrap().to_string();
    let engine = lab.start_engine(port);

    let (code, res, err) = json(&lab, &["test-smtpconnectivity"]);
    assert_eq!(code, 0, "{err}");
    let r = &res[0];
    assert_eq!(r["ReceiveConnector"], "Inbound");
    assert_eq!(r["Binding"], format!("127.0.0.1:{port}"));
    assert_eq!(r["Status"], "Success", "{r:#}");
    assert!(r["Banner"].as_str().unwrap().starts_with("220 "), "{r:#}");
    assert_eq!(r["StartTls"], true);
    assert_eq!(r["CertificateSubject"], format!("CN={ORG_FQDN}"));
    assert_eq!(r["CertificateThumbprint"], thumbprint.as_str());
    assert_eq!(r["CertificateInStore"], true);
    assert!(r["TlsVersion"].as_str().unwrap().starts_with("TLS1."));
    // The verdict and every step, for CI.
    assert_eq!(r["Verdict"], "Pass", "{r:#}");
    let names: Vec<&str> = r["Steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["Result"], "Pass", "{r:#}");
            assert!(s["Detail"].is_string(), "{r:#}");
            s["Name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        names,
        [
            "Connect",
            "Banner",
            "EHLO",
            "STARTTLS",
            "TLS handshake",
            "EHLO after TLS",
            "QUIT",
            "Certificate"
        ],
        "{r:#}"
    );
    assert!(r["CertificateDaysLeft"].as_i64().unwrap() > 30, "{r:#}");

    // nobody listens once the engine is gone
    drop(engine);
    let (code, res, _) = json(
        &lab,
        &["test-smtpconnectivity", "Inbound", "--timeout-seconds", "3"],
    );
    // A failed binding fails the command (CI gates on it); the JSON result
    // is still written.
    assert_eq!(code, 1);
    assert_eq!(res[0]["Status"], "Failure");
    assert_eq!(res[0]["Verdict"], "Fail");
    assert_eq!(res[0]["Steps"][0]["Name"], "Connect", "{res:#}");
    assert_eq!(res[0]["Steps"][0]["Result"], "Fail", "{res:#}");
    assert!(
        res[0]["Details"]
            .as_str()
            .unwrap()
            .contains("cannot connect")
    );
    let (code, _, err) = lab.try_xshell(&["test-smtpconnectivity", "NoSuchConnector"]);
    assert_eq!(code, 1);
    assert!(err.contains("not found"), "{err}");
}
