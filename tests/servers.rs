//! Several transport servers in one organization (issue 19): two engines
//! (`--server EX01`, `--server EX02`) on one store, each with its own state
//! folder, receive connectors and certificate; a send connector used by
//! EX01 only; EX01 relays to EX02, which authenticates it by Direct Trust
//! (EX01's certificate is published in the organization's configuration);
//! registration records and heartbeats outside the configuration; the
//! queue and tracking cmdlets' -Server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "transport_support/mod.rs"]
mod transport_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use transport_support::{Engine, Lab, engine_bin, free_port, swaks, wait_until};

/// Starts `xshell-transport --server NAME --state-dir DIR` and waits until
/// it listens on `port`.
fn start(lab: &Lab, server: &str, state: &Path, port: u16) -> Engine {
    let log = lab.work.join(format!("{server}.log"));
    let child = Command::new(engine_bin())
        .arg("--store")
        .arg(&lab.store)
        .args([
            "--server",
            server,
            "--heartbeat-interval",
            "1",
            "--grace",
            "2",
        ])
        .arg("--state-dir")
        .arg(state)
        .env("RUST_LOG", "info")
        .env_remove("XSHELL_STORE")
        .env_remove("XSHELL_SERVER")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let e = Engine { child, log };
    let needle = format!("listening addr=127.0.0.1:{port}");
    assert!(
        wait_until(Duration::from_secs(20), || e.log_text().contains(&needle)),
        "{server} did not listen on {port}:\n{}",
        e.log_text()
    );
    e
}

fn json(lab: &Lab, script: &str) -> Vec<serde_json::Value> {
    let out = lab.xshell(&["-o", "json", "-c", script]);
    if out.trim().is_empty() {
        return Vec::new();
    }
    match serde_json::from_str::<serde_json::Value>(&out).unwrap() {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Null => Vec::new(),
        one => vec![one],
    }
}

fn revision(lab: &Lab) -> u64 {
    let text = fs::read_to_string(lab.store.join("config.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["Revision"]
        .as_u64()
        .unwrap()
}

/// EX01's certificate (PEM) and key file, as its engine holds them.
fn own_certificate(lab: &Lab, server: &str) -> (PathBuf, PathBuf) {
    let cfg: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(lab.store.join("config.json")).unwrap()).unwrap();
    let rec = cfg["Certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Server"].as_str().unwrap_or("EX01") == server)
        .unwrap();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        rec["Certificate"].as_str().unwrap()
    );
    let cert = lab.work.join(format!("{server}.pem"));
    fs::write(&cert, pem).unwrap();
    (
        cert,
        lab.store.join("keys").join(rec["KeyId"].as_str().unwrap()),
    )
}

#[test]
fn two_servers_share_one_store_and_trust_each_other() {
    let lab = Lab::new();
    let (submit, ex02_in, ex02_servers) = (free_port(), free_port(), free_port());
    let (state1, state2) = (lab.work.join("ex01"), lab.work.join("ex02"));

    // The default server becomes EX01; EX02 gets settings of its own.
    lab.xshell(&[
        "-c",
        "Set-TransportService -Name EX01 -Fqdn ex01.orga.example",
    ]);
    lab.xshell(&["-c", "Set-TransportService EX02 -Fqdn ex02.orga.example"]);
    lab.xshell(&["-c", "New-AcceptedDomain OrgA -DomainName orga.example"]);
    for (server, fqdn) in [("EX01", "ex01.orga.example"), ("EX02", "ex02.orga.example")] {
        lab.xshell(&[
            "-c",
            &format!(
                "New-ExchangeCertificate -Server {server} -DomainName {fqdn} -Services SMTP -Force"
            ),
        ]);
    }
    // EX01: one connector that grants ExchangeServers (Direct Trust).
    lab.xshell(&[
        "-c",
        &format!(
            "New-ReceiveConnector Inbound -Server EX01 -Usage Internet -Bindings 127.0.0.1:{submit} \
             -PermissionGroups AnonymousUsers,ExchangeServers"
        ),
    ]);
    // EX02: an anonymous Internet connector of the same name, and one for
    // the organization's servers.
    lab.xshell(&[
        "-c",
        &format!("New-ReceiveConnector Inbound -Server EX02 -Usage Internet -Bindings 127.0.0.1:{ex02_in}"),
    ]);
    lab.xshell(&[
        "-c",
        &format!(
            "New-ReceiveConnector FromServers -Server ex02.orga.example -Usage Internal \
             -Bindings 127.0.0.1:{ex02_servers} -RemoteIPRanges 127.0.0.0/8"
        ),
    ]);
    // relay.example goes through EX02, and only EX01 uses that connector.
    lab.xshell(&[
        "-c",
        &format!(
            "New-SendConnector ViaEX02 -AddressSpaces relay.example -DNSRoutingEnabled $false \
             -SmartHosts 127.0.0.1:{ex02_servers} -SourceTransportServers EX01"
        ),
    ]);

    // Identities: EX02\Inbound and a bare name on two servers.
    let rc = json(&lab, "Get-ReceiveConnector 'EX02\\Inbound'");
    assert_eq!(rc.len(), 1);
    assert_eq!(rc[0]["Server"], "EX02");
    assert_eq!(rc[0]["Identity"], "EX02\\Inbound");
    let (code, _, err) = lab.try_xshell(&["-c", "Get-ReceiveConnector Inbound"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("ambiguous") && err.contains("EX01\\Inbound") && err.contains("EX02\\Inbound"),
        "{err}"
    );
    assert_eq!(json(&lab, "Get-ReceiveConnector -Server EX02").len(), 2);
    let certs = json(&lab, "Get-ExchangeCertificate -Server EX02");
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0]["Server"], "EX02");
    assert_eq!(
        json(&lab, "Get-SendConnector ViaEX02")[0]["SourceTransportServers"],
        serde_json::json!(["EX01"])
    );

    let before = revision(&lab);
    let ex01 = start(&lab, "EX01", &state1, submit);
    let ex02 = start(&lab, "EX02", &state2, ex02_servers);
    // Each binds only its own connectors.
    for (e, mine, theirs) in [
        (&ex01, vec![submit], vec![ex02_in, ex02_servers]),
        (&ex02, vec![ex02_in, ex02_servers], vec![submit]),
    ] {
        let log = e.log_text();
        for p in mine {
            assert!(
                log.contains(&format!("listening addr=127.0.0.1:{p}")),
                "{log}"
            );
        }
        for p in theirs {
            assert!(!log.contains(&format!("127.0.0.1:{p}")), "{log}");
        }
    }

    // Both registered; heartbeats come and go without a configuration
    // revision.
    let servers = json(&lab, "Get-TransportService");
    assert_eq!(servers.len(), 2, "{servers:?}");
    let ex02_record = json(&lab, "Get-TransportService ex02.orga.example");
    assert_eq!(ex02_record[0]["Name"], "EX02");
    assert_eq!(ex02_record[0]["Running"], true);
    assert_eq!(ex02_record[0]["Fqdn"], "ex02.orga.example");
    assert_eq!(
        ex02_record[0]["ControlEndpoint"],
        state2.join("control.sock").display().to_string()
    );
    let first_beat = ex02_record[0]["LastHeartbeat"].clone();
    assert!(
        wait_until(Duration::from_secs(10), || json(
            &lab,
            "Get-TransportService EX02"
        )[0]["LastHeartbeat"]
            != first_beat),
        "no second heartbeat"
    );
    assert_eq!(revision(&lab), before, "a heartbeat made a revision");

    // No open relay on EX02's anonymous connector.
    let t = swaks(
        ex02_in,
        &["--from", "a@orga.example", "--to", "x@relay.example"],
    );
    assert!(t.contains("550 5.7.54"), "{t}");

    // A client holding EX01's certificate submits to EX01 (Direct Trust),
    // EX01 relays to EX02 over TLS with its certificate, and EX02 takes it
    // as Internal: EX01's certificate is the organization's.
    let (cert, key) = own_certificate(&lab, "EX01");
    let t = swaks(
        submit,
        &[
            "--from",
            "app@orga.example",
            "--to",
            "x@relay.example",
            "--tls",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(t.contains("250 2.0.0 Queued as"), "{t}");
    // EX02 has no send connector for relay.example (ViaEX02 is EX01's): the
    // message waits in EX02's queue, and EX01's is empty again.
    assert!(
        wait_until(Duration::from_secs(20), || {
            json(&lab, "Get-Message -Server EX02")
                .iter()
                .any(|m| m["FromAddress"] == "app@orga.example")
        }),
        "the message did not reach EX02's queue:\n{}\n{}",
        ex01.log_text(),
        ex02.log_text()
    );
    assert!(wait_until(Duration::from_secs(10), || json(
        &lab,
        "Get-Message -Server EX01"
    )
    .is_empty()));
    let queues = json(&lab, "Get-Queue -Server EX02");
    assert!(
        queues
            .iter()
            .all(|q| q["Identity"].as_str().unwrap().starts_with("EX02\\")),
        "{queues:?}"
    );
    // An action on EX02's queue (the server from the identity) reaches
    // EX02's engine, not EX01's.
    let id = queues[0]["Identity"].as_str().unwrap().to_string();
    lab.xshell(&["-c", &format!("Suspend-Queue '{id}' -Confirm:$false")]);
    let after = json(&lab, &format!("Get-Queue '{id}'"));
    assert_eq!(after[0]["Status"], "Suspended", "{after:?}");
    // EX02's tracking log: received from EX01 by Direct Trust.
    let received: Vec<serde_json::Value> = json(
        &lab,
        "Get-MessageTrackingLog -Server EX02 -EventId RECEIVE -Sender app@orga.example",
    );
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["AuthAs"], "Internal", "{:?}", received[0]);
    assert_eq!(received[0]["DirectTrust"], true, "{:?}", received[0]);
    assert!(
        received[0]["PeerCertificateSubject"]
            .as_str()
            .unwrap_or_default()
            .contains("ex01.orga.example"),
        "{:?}",
        received[0]
    );
    drop(ex01);
    drop(ex02);
}

#[test]
fn a_server_without_a_record_or_objects_is_named_as_unknown() {
    let lab = Lab::new();
    lab.xshell(&[
        "-c",
        "New-ReceiveConnector In -Usage Internet -Bindings 127.0.0.1:2525",
    ]);
    // An existing single-server store: its connector is the default
    // server's, under the name it always had.
    let rc = json(&lab, "Get-ReceiveConnector In");
    assert_eq!(rc[0]["Identity"], "XSHELL01\\In");
    for (script, words) in [
        (
            "Get-Queue -Server EX09",
            "'EX09' is not a server of this organization",
        ),
        (
            "Get-TransportService EX09",
            "'EX09' is not a server of this organization",
        ),
        (
            "New-ReceiveConnector X -Server 'bad name' -Bindings 127.0.0.1:1",
            "'bad name' is not a server name",
        ),
    ] {
        let (code, _, err) = lab.try_xshell(&["-c", script]);
        assert_eq!(code, 1, "{script}: {err}");
        assert!(err.contains(words), "{script}: {err}");
    }
    // A server that has settings but never ran: its queue is not known.
    lab.xshell(&[
        "-c",
        "Set-TransportService EX02 -MessageRetryInterval 00:05:00",
    ]);
    let (code, _, err) = lab.try_xshell(&["-c", "Get-Queue -Server EX02"]);
    assert_eq!(code, 1);
    assert!(err.contains("EX02 has not registered"), "{err}");
    let ex02 = json(&lab, "Get-TransportService EX02");
    assert_eq!(ex02[0]["OwnSettings"], true);
    assert_eq!(ex02[0]["Running"], false);
    assert_eq!(ex02[0]["MessageRetryInterval"], "00:05:00");
    // The default server cannot take another server's name, and only it
    // can be renamed.
    for (script, words) in [
        (
            "Set-TransportService -Name ex02",
            "'ex02' is already a server of this organization (EX02)",
        ),
        (
            "Set-TransportService EX02 -Name EX03",
            "only the default server (XSHELL01) can be renamed",
        ),
    ] {
        let (code, _, err) = lab.try_xshell(&["-c", script]);
        assert_eq!(code, 1, "{script}: {err}");
        assert!(err.contains(words), "{script}: {err}");
    }
    // The default server's settings are unchanged.
    assert_eq!(
        json(&lab, "Get-TransportService XSHELL01")[0]["MessageRetryInterval"],
        "00:15:00"
    );

    // Export and apply carry the per-server objects and settings: the
    // same configuration in another store, and nothing left to do.
    lab.xshell(&[
        "-c",
        "New-ReceiveConnector In -Server EX02 -Usage Internet -Bindings 127.0.0.1:2525",
    ]);
    let file = lab.work.join("org.yaml");
    lab.xshell(&["export", file.to_str().unwrap()]);
    let other = Lab::new();
    other.xshell(&["apply", file.to_str().unwrap()]);
    let read = |l: &Lab| {
        let mut v: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(l.store.join("config.json")).unwrap())
                .unwrap();
        v["Revision"] = serde_json::Value::Null;
        v
    };
    assert_eq!(read(&lab), read(&other));
    assert_eq!(read(&other)["ReceiveConnectors"][1]["Server"], "EX02");
    let again = other.xshell(&["apply", file.to_str().unwrap(), "--dry-run"]);
    assert!(again.contains("No changes"), "{again}");
}

/// Starts `xshell-transport` on the lab's store with `args`, logging to
/// `log` in the work folder.
fn spawn(lab: &Lab, args: &[&str], log: &str) -> Engine {
    spawn_on(lab, None, args, log)
}

/// [`spawn`] on a host of its own name ([`on_host`]) when `host` is given.
fn spawn_on(lab: &Lab, host: Option<&str>, args: &[&str], log: &str) -> Engine {
    let log = lab.work.join(log);
    let mut command = match host {
        Some(h) => on_host(h, &engine_bin()),
        None => Command::new(engine_bin()),
    };
    let child = command
        .arg("--store")
        .arg(&lab.store)
        .args(["--heartbeat-interval", "1", "--grace", "1"])
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove("XSHELL_STORE")
        .env_remove("XSHELL_SERVER")
        .env_remove("XSHELL_STATE_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    Engine { child, log }
}

/// An engine that must refuse to start: exit 1, and its error.
fn refused(mut e: Engine) -> String {
    let code = e.wait_exit(Duration::from_secs(20));
    let log = e.log_text();
    assert_eq!(code, Some(1), "the engine did not refuse to start:\n{log}");
    log
}

/// A state folder is one server's while its engine runs (a second engine
/// with another `--server` and no `--state-dir` would share the queue and
/// the control socket); a server without receive connectors starts, says
/// so and shows it in Get-TransportService; a server name the organization
/// does not know is refused unless `--new-server`; Remove-TransportService
/// takes a stopped server out, with its objects only when forced.
#[test]
fn a_state_folder_is_one_servers_and_unknown_or_idle_servers_are_named() {
    let lab = Lab::new();
    let port = free_port();
    lab.xshell(&[
        "-c",
        "Set-TransportService -Name EX01 -Fqdn ex01.orga.example",
    ]);
    lab.xshell(&["-c", "Set-TransportService EX02 -Fqdn ex02.orga.example"]);
    lab.xshell(&[
        "-c",
        &format!("New-ReceiveConnector In -Server EX01 -Usage Internet -Bindings 127.0.0.1:{port}"),
    ]);
    // EX01 on the store folder (no --state-dir).
    let ex01 = spawn(&lab, &["--server", "EX01"], "ex01.log");
    let needle = format!("listening addr=127.0.0.1:{port}");
    assert!(
        wait_until(Duration::from_secs(20), || ex01
            .log_text()
            .contains(&needle)),
        "{}",
        ex01.log_text()
    );
    // EX02 on the same folder: refused, naming both and --state-dir.
    let err = refused(spawn(&lab, &["--server", "EX02"], "ex02-shared.log"));
    assert!(
        err.contains(&format!(
            "state folder {} is in use by the transport server EX01",
            lab.store.display()
        )) && err.contains("server EX02 cannot share it")
            && err.contains("--state-dir"),
        "{err}"
    );
    // EX01 twice on one folder: refused as already running.
    let err = refused(spawn(&lab, &["--server", "ex01"], "ex01-twice.log"));
    assert!(
        err.contains("transport server EX01 already runs on state folder"),
        "{err}"
    );
    // EX01 still serves.
    assert!(swaks(port, &["--quit-after", "EHLO"]).contains("250"));

    // EX02 with a folder of its own starts, though it has no receive
    // connector: it says so, naming the servers that have some.
    let state2 = lab.work.join("ex02");
    let ex02 = spawn(
        &lab,
        &["--server", "EX02", "--state-dir", state2.to_str().unwrap()],
        "ex02.log",
    );
    assert!(
        wait_until(Duration::from_secs(20), || ex02
            .log_text()
            .contains("has no enabled receive connector")),
        "{}",
        ex02.log_text()
    );
    let warning = ex02
        .log_text()
        .lines()
        .find(|l| l.contains("has no enabled receive connector"))
        .unwrap()
        .to_string();
    assert!(
        warning.contains("server=EX02") && warning.contains("servers_with_receive_connectors=EX01"),
        "{warning}"
    );
    assert!(wait_until(Duration::from_secs(10), || json(
        &lab,
        "Get-TransportService EX02"
    )[0]["Running"]
        == true));
    let ex02_info = json(&lab, "Get-TransportService EX02");
    assert_eq!(ex02_info[0]["ReceiveConnectors"], serde_json::json!([]));
    assert_eq!(ex02_info[0]["Listening"], serde_json::json!([]));
    assert_eq!(
        json(&lab, "Get-TransportService EX01")[0]["ReceiveConnectors"],
        serde_json::json!(["EX01\\In"])
    );

    // A name the organization does not know (a typo, or a new server):
    // refused, unless --new-server says it joins.
    let state7 = lab.work.join("ex07");
    let args = ["--server", "EX07", "--state-dir", state7.to_str().unwrap()];
    let err = refused(spawn(&lab, &args, "ex07-unknown.log"));
    assert!(
        err.contains(
            "--server EX07: the organization has no transport server EX07 (it knows EX01, EX02)"
        ) && err.contains("--new-server"),
        "{err}"
    );
    assert!(
        !state7.join("queue").exists(),
        "a refused engine made a queue"
    );
    let mut joined = args.to_vec();
    joined.push("--new-server");
    let ex07 = spawn(&lab, &joined, "ex07.log");
    assert!(
        wait_until(Duration::from_secs(20), || json(
            &lab,
            "Get-TransportService"
        )
        .iter()
        .any(|s| s["Name"] == "EX07" && s["Running"] == true)),
        "{}",
        ex07.log_text()
    );

    // Remove-TransportService: refused while the server runs.
    let (code, _, err) = lab.try_xshell(&["-c", "Remove-TransportService EX02 -Confirm:$false"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("EX02 is running") && err.contains("stop its xshell-transport"),
        "{err}"
    );
    let mut ex02 = ex02;
    ex02.signal("TERM");
    assert_eq!(
        ex02.wait_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        ex02.log_text()
    );
    // ... while it owns objects, unless -Force; -WhatIf changes nothing.
    lab.xshell(&[
        "-c",
        "New-ReceiveConnector X -Server EX02 -Usage Internet -Bindings 127.0.0.1:1",
    ]);
    let (code, _, err) = lab.try_xshell(&["-c", "Remove-TransportService EX02 -Confirm:$false"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("EX02 still owns: receive connector EX02\\X") && err.contains("-Force"),
        "{err}"
    );
    let before = revision(&lab);
    let (code, out, err) = lab.try_xshell(&["-c", "Remove-TransportService EX02 -Force -WhatIf"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        format!("{out}{err}").contains(
            "What if: Performing the operation \"Remove transport service\" on target \"EX02\""
        ),
        "{out}{err}"
    );
    assert_eq!(revision(&lab), before);
    lab.xshell(&["-c", "Remove-TransportService ex02.orga.example -Force"]);
    let (code, _, err) = lab.try_xshell(&["-c", "Get-TransportService EX02"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("'EX02' is not a server of this organization"),
        "{err}"
    );
    assert!(json(&lab, "Get-ReceiveConnector -Server EX01").len() == 1);
    assert!(!lab.store.join("records/servers~ex02").exists());
    // A server known only by its registration: stopped, its record goes.
    let mut ex07 = ex07;
    ex07.signal("TERM");
    assert_eq!(ex07.wait_exit(Duration::from_secs(20)), Some(0));
    lab.xshell(&["-c", "Remove-TransportService EX07 -Confirm:$false"]);
    let names: Vec<String> = json(&lab, "Get-TransportService")
        .iter()
        .map(|s| s["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["EX01"]);
    drop(ex01);
}

/// A command run on a host named `host` (a UTS namespace of its own:
/// `unshare --uts`, as root), as on a transport server of that name.
fn on_host(host: &str, program: &Path) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--uts", "sh", "-c", "hostname \"$0\" && exec \"$@\"", host])
        .arg(program);
    c
}

/// Without `--server`, an engine is the server named after its host when
/// the organization knows one (Exchange names servers after their hosts),
/// else the organization's default server; the queue cmdlets without
/// `-Server` follow the same rule.
#[test]
fn without_server_an_engine_is_the_server_named_after_its_host() {
    let lab = Lab::new();
    let (port, port5) = (free_port(), free_port());
    lab.xshell(&[
        "-c",
        &format!("New-ReceiveConnector In -Usage Internet -Bindings 127.0.0.1:{port}"),
    ]);
    let run = |host: &str, state: &Path, log: &str| -> Engine {
        let state = state.to_str().unwrap();
        spawn_on(&lab, Some(host), &["--state-dir", state], log)
    };
    let listening = |e: &Engine, port: u16| {
        let needle = format!("listening addr=127.0.0.1:{port}");
        wait_until(Duration::from_secs(20), || e.log_text().contains(&needle))
    };

    // No server is named after host ex05: the default server (XSHELL01).
    let default = run("ex05", &lab.work.join("default"), "default.log");
    assert!(listening(&default, port), "{}", default.log_text());
    assert!(
        default.log_text().contains(
            "no --server: this engine is the organization's default server (no server is named after this host) server=XSHELL01"
        ),
        "{}",
        default.log_text()
    );
    // registered (its record says where its queue is) before it stops
    assert!(wait_until(Duration::from_secs(10), || json(
        &lab,
        "Get-TransportService XSHELL01"
    )[0]["Running"]
        == true));
    drop(default);

    // EX05 exists now: on host ex05 (or ex05.orga.example) the engine is
    // EX05, binds EX05's connector and not the default server's.
    lab.xshell(&["-c", "Set-TransportService EX05 -Fqdn ex05.orga.example"]);
    lab.xshell(&[
        "-c",
        &format!(
            "New-ReceiveConnector In5 -Server EX05 -Usage Internet -Bindings 127.0.0.1:{port5}"
        ),
    ]);
    let ex05 = run("ex05.orga.example", &lab.work.join("ex05"), "ex05.log");
    assert!(listening(&ex05, port5), "{}", ex05.log_text());
    let log = ex05.log_text();
    assert!(
        log.contains("no --server: this engine is the server named after this host server=EX05")
            && !log.contains(&format!("listening addr=127.0.0.1:{port} ")),
        "{log}"
    );
    assert!(wait_until(Duration::from_secs(10), || json(
        &lab,
        "Get-TransportService EX05"
    )[0]["Running"]
        == true));
    // Get-Queue without -Server reads the queue of the server named after
    // the host it runs on: with the engines stopped it says which folder
    // it read instead (EX05's state folder on ex05, the default server's
    // elsewhere).
    drop(ex05);
    let queue_on = |host: &str| {
        let out = on_host(host, &transport_support::xshell_bin())
            .arg("--store")
            .arg(&lab.store)
            .args(["-c", "Get-Queue"])
            .env_remove("XSHELL_STORE")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let ex05_folder = lab.work.join("ex05").display().to_string();
    let default_folder = lab.work.join("default").display().to_string();
    let warned = queue_on("ex05");
    assert!(
        warned.contains("is not running") && warned.contains(&format!("{ex05_folder}/")),
        "{warned}"
    );
    let warned = queue_on("elsewhere");
    assert!(
        warned.contains("is not running") && warned.contains(&format!("{default_folder}/")),
        "{warned}"
    );
}
