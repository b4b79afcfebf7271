//! Parameters as Exchange declares them: Boolean parameters in the space
//! form, Exchange's ranges and `Unlimited`, the connector parameters an
//! administrator reaches for (accepted and applied, or refused with the
//! reason, never accepted and ignored), `-Server`, the usage switches,
//! `-FileData` from standard input, Windows paths, queue filters.
//!
//! Every refusal leaves the store byte-for-byte unchanged
//! (`TestStore::fails`).
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/openssl.rs"]
mod openssl;

use common::{TestStore, assert_names};
use serde_json::Value;

fn receive_store() -> TestStore {
    let s = TestStore::new();
    s.ok(&[
        "new-receiveconnector",
        "Inbound",
        "--usage",
        "Internet",
        "--bindings",
        "0.0.0.0:25",
    ]);
    s
}

fn connector(s: &TestStore, kind: &str, name: &str) -> Value {
    s.json(&[&format!("get-{kind}connector"), name]).remove(0)
}

#[test]
fn boolean_parameters_take_the_space_form_and_switches_say_how() {
    let s = TestStore::new();
    s.ok(&[
        "-c",
        "New-ExchangeCertificate -SubjectName CN=mail.orga.example -PrivateKeyExportable $true -Services SMTP",
    ]);
    let certs = s.json(&["get-exchangecertificate"]);
    assert_eq!(certs[0]["PrivateKeyExportable"], true);
    s.ok(&[
        "-c",
        "New-AcceptedDomain A -DomainName a.example; New-AcceptedDomain B -DomainName b.example; Set-AcceptedDomain B -MakeDefault $true",
    ]);
    let b = s.json(&["get-accepteddomain", "B"]).remove(0);
    assert_eq!(b["Default"], true, "{b}");
    // A switch followed by $true is not a positional value: say how a switch is written.
    let r = s.run(&[
        "-c",
        "New-ExchangeCertificate -SubjectName CN=x.example -Force $true",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let e = r.stderr;
    assert_names(&e, &["-Force is a switch", "-Force:$true"]);
}

#[test]
fn max_inbound_connection_is_its_own_parameter_with_unlimited() {
    let s = receive_store();
    s.ok(&[
        "-c",
        "Set-ReceiveConnector Inbound -MaxInboundConnection 4000",
    ]);
    let c = connector(&s, "receive", "Inbound");
    assert_eq!(c["MaxInboundConnection"], 4000);
    assert_eq!(c["MaxInboundConnectionPerSource"], 20, "untouched");
    s.ok(&[
        "-c",
        "Set-ReceiveConnector Inbound -MaxInboundConnection unlimited -MaxInboundConnectionPerSource Unlimited -MessageRateLimit 100",
    ]);
    let c = connector(&s, "receive", "Inbound");
    assert_eq!(c["MaxInboundConnection"], "Unlimited");
    assert_eq!(c["MaxInboundConnectionPerSource"], "Unlimited");
    assert_eq!(c["MessageRateLimit"], 100);
    // The defaults are Exchange's.
    assert_eq!(c["MaxHopCount"], 60);
    assert_eq!(c["TarpitInterval"], "00:00:05");
    assert_eq!(c["RequireEHLODomain"], false);
    assert_eq!(c["ProtocolLoggingLevel"], "None");
}

#[test]
fn exchange_ranges_are_enforced_and_named() {
    let s = receive_store();
    for (args, words) in [
        (
            vec!["--tarpit-interval", "00:10:01"],
            vec!["TarpitInterval", "00:10:00"],
        ),
        (
            vec!["--max-message-size", "32KB"],
            vec!["MaxMessageSize", "64 KB"],
        ),
        (
            vec!["--max-message-size", "unlimited"],
            vec!["MaxMessageSize", "cannot be Unlimited"],
        ),
        (
            vec!["--max-recipients-per-message", "512001"],
            vec!["MaxRecipientsPerMessage", "512000"],
        ),
        (
            vec!["--max-hop-count", "0"],
            vec!["MaxHopCount", "1 to 500"],
        ),
        (
            vec!["--connection-timeout", "1.00:00:01"],
            vec!["ConnectionTimeout", "1.00:00:00"],
        ),
        (
            vec!["--max-inbound-connection-per-source", "10001"],
            vec!["MaxInboundConnectionPerSource", "10000"],
        ),
    ] {
        let mut a = vec!["set-receiveconnector", "Inbound"];
        a.extend(args);
        let e = s.fails(1, &a);
        assert_names(&e, &words);
    }
    s.ok(&["new-sendconnector", "Out", "--address-spaces", "*"]);
    let e = s.fails(
        1,
        &[
            "set-sendconnector",
            "Out",
            "--connection-inactivity-timeout",
            "2.00:00:00",
        ],
    );
    assert_names(&e, &["ConnectionInactivityTimeout", "1.00:00:00"]);
    s.ok(&[
        "set-sendconnector",
        "Out",
        "--max-message-size",
        "unlimited",
    ]);
    let e = s.fails(
        1,
        &[
            "set-transportservice",
            "--message-expiration-timeout",
            "91.00:00:00",
        ],
    );
    assert_names(&e, &["MessageExpirationTimeout", "90.00:00:00"]);
    // GenerateCopyOfDSNFor takes delivery status codes, edits included.
    s.ok(&[
        "set-transportconfig",
        "--generate-copy-of-dsn-for",
        "5.7.1,5.4.8",
    ]);
    s.ok(&[
        "set-transportconfig",
        "--generate-copy-of-dsn-for",
        "@{Add=\"5.1.2\"; Remove=\"5.7.1\"}",
    ]);
    let tc = s.json(&["get-transportconfig"]).remove(0);
    assert_eq!(
        tc["GenerateCopyOfDSNFor"],
        serde_json::json!(["5.4.8", "5.1.2"])
    );
    for bad in ["6.1.1", "5.1", "5.x.1"] {
        let e = s.fails(
            1,
            &["set-transportconfig", "--generate-copy-of-dsn-for", bad],
        );
        assert_names(&e, &["GenerateCopyOfDSNFor", bad, "5.7.1"]);
    }
}

#[test]
fn connector_parameters_apply_or_are_refused_with_the_reason() {
    let s = receive_store();
    s.ok(&[
        "set-receiveconnector",
        "Inbound",
        "--max-hop-count",
        "30",
        "--require-ehlo-domain",
        "--tarpit-interval",
        "0:0:1",
        "--protocol-logging-level",
        "verbose",
    ]);
    let c = connector(&s, "receive", "Inbound");
    assert_eq!(c["MaxHopCount"], 30);
    assert_eq!(c["RequireEHLODomain"], true);
    assert_eq!(c["TarpitInterval"], "00:00:01");
    assert_eq!(c["ProtocolLoggingLevel"], "Verbose");
    let e = s.fails(
        1,
        &[
            "set-receiveconnector",
            "Inbound",
            "--tls-domain-capabilities",
            "contoso.com:AcceptCloudServicesMail",
        ],
    );
    assert_names(&e, &["TlsDomainCapabilities", "cannot apply here"]);

    s.ok(&[
        "-c",
        "New-SendConnector Out -Internet -AddressSpaces * -SourceIPAddress 127.0.0.2 -ErrorPolicies DowngradeDnsFailures -SourceTransportServers XSHELL01 -ProtocolLoggingLevel Verbose -SmartHostAuthMechanism None",
    ]);
    let c = connector(&s, "send", "Out");
    assert_eq!(c["Usage"], "Internet");
    assert_eq!(c["SourceIPAddress"], "127.0.0.2");
    assert_eq!(c["ErrorPolicies"], "DowngradeDnsFailures");
    assert_eq!(c["ProtocolLoggingLevel"], "Verbose");
    s.ok(&["set-sendconnector", "Out", "--source-ip-address", "0.0.0.0"]);
    assert_eq!(connector(&s, "send", "Out")["SourceIPAddress"], Value::Null);
    for (args, words) in [
        (
            vec!["--source-ip-address", "mail.example"],
            vec!["SourceIPAddress", "not an IP address"],
        ),
        (
            vec!["--source-transport-servers", "EX 02"],
            vec!["SourceTransportServers", "'EX 02' is not a server name"],
        ),
        (
            vec!["--error-policies", "DowngradeCustomFailures"],
            vec!["ErrorPolicies", "DowngradeDnsFailures"],
        ),
        (
            vec!["--smart-host-auth-mechanism", "BasicAuth"],
            vec!["SmartHostAuthMechanism", "AuthenticationCredential"],
        ),
        (
            vec!["--smart-host-auth-mechanism", "ExchangeServer"],
            vec!["SmartHostAuthMechanism", "Kerberos"],
        ),
        (
            vec!["--authentication-credential", "relay"],
            vec!["AuthenticationCredential", "XSHELL_SMTP_AUTH_PASSWORD"],
        ),
    ] {
        let mut a = vec!["set-sendconnector", "Out"];
        a.extend(args);
        let e = s.fails(1, &a);
        assert_names(&e, &words);
    }
}

#[test]
fn usage_switches_pick_the_usage_and_one_usage_only() {
    let s = TestStore::new();
    s.ok(&[
        "-c",
        "New-ReceiveConnector P -Partner -Bindings 0.0.0.0:2525 -RemoteIPRanges 192.0.2.0/24",
    ]);
    let c = connector(&s, "receive", "P");
    assert_eq!(c["Usage"], "Partner");
    assert_eq!(c["PermissionGroups"], serde_json::json!(["Partners"]));
    let r = s.run(&[
        "-c",
        "New-ReceiveConnector Q -Internet -Usage Partner -Bindings 0.0.0.0:2526",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let e = r.stderr;
    assert_names(&e, &["-Internet and -Usage", "cannot be used together"]);
    // The same usage twice is not a conflict.
    s.ok(&[
        "-c",
        "New-SendConnector S -Partner -Usage Partner -AddressSpaces partner.example",
    ]);
    assert_eq!(connector(&s, "send", "S")["Usage"], "Partner");
}

#[test]
fn server_parameters_name_a_server_of_the_organization() {
    let s = TestStore::new();
    s.ok(&[
        "set-transportservice",
        "--name",
        "EX01",
        "--fqdn",
        "ex01.orga.example",
    ]);
    s.ok(&[
        "-c",
        "New-ExchangeCertificate -Server EX01 -SubjectName CN=ex01.orga.example -Services SMTP",
    ]);
    assert_eq!(
        s.json(&["get-exchangecertificate", "--server", "ex01.orga.example"])
            .len(),
        1
    );
    let e = s.fails(1, &["get-exchangecertificate", "--server", "EX02"]);
    assert_names(
        &e,
        &[
            "Server",
            "'EX02' is not a server of this organization (servers: EX01)",
        ],
    );
    let e = s.fails(1, &["get-messagetrackinglog", "--server", "EX02"]);
    assert_names(&e, &["Server", "EX02"]);
    s.ok(&[
        "get-messagetrackinglog",
        "--server",
        "EX01",
        "--source",
        "SMTP",
    ]);
}

#[test]
fn file_data_comes_from_standard_input_and_windows_paths_are_named() {
    let s = TestStore::new();
    let dir = tempfile::tempdir().unwrap();
    let leaf = openssl::self_signed(
        dir.path(),
        "leaf",
        "crt",
        "mail.orga.example",
        openssl::Key::Rsa2048,
        true,
    );
    let pfx = dir.path().join("leaf.pfx");
    openssl::run(
        dir.path(),
        &[
            "pkcs12",
            "-export",
            "-inkey",
            leaf.key.to_str().unwrap(),
            "-in",
            leaf.cert.to_str().unwrap(),
            "-out",
            pfx.to_str().unwrap(),
            "-passout",
            "pass:pw-1",
        ],
    );
    let r = s
        .cmd()
        .args([
            "import-exchangecertificate",
            "--file-data",
            "-",
            "--password",
            "pw-1",
            "--private-key-exportable",
            "-o",
            "json",
        ])
        .pipe_stdin(&pfx)
        .unwrap()
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let certs = s.json(&["get-exchangecertificate"]);
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0]["HasPrivateKey"], true);

    let e = s.fails(
        1,
        &["import-exchangecertificate", "--file-data", "leaf.pfx"],
    );
    assert_names(&e, &["FileData", "'-'", "--path"]);
    let e = s.fails(
        1,
        &["import-exchangecertificate", "c:\\certificates\\import.pfx"],
    );
    assert_names(&e, &["Windows path", "./import.pfx"]);
    let thumb = certs[0]["Thumbprint"].as_str().unwrap().to_string();
    let e = s.fails(
        1,
        &[
            "export-exchangecertificate",
            &thumb,
            "--file-name",
            "c:\\out\\x.pfx",
            "--password",
            "pw-2",
        ],
    );
    assert_names(&e, &["Windows path"]);
}

#[test]
fn queue_filters_and_result_size() {
    let s = TestStore::new();
    s.ok(&["get-transportconfig"]);
    // With no engine and an empty queue folder, filters still parse and apply.
    let r = s.run(&[
        "-c",
        "Get-Queue -Filter 'MessageCount -gt 0' -ResultSize 5 -Exclude Internal",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Exchange's script-block form is the filter's text, not code to run.
    let r = s.run(&[
        "-c",
        "Get-Queue -Filter {MessageCount -gt 0 -and Status -ne 'Ready'}",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = s.run(&["-c", "Get-Queue -Filter {MessageCount -gt}"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("value is missing"), "{}", r.stderr);
    let e = s.fails(1, &["get-queue", "--filter", "MessageCount -gt"]);
    assert_names(&e, &["Filter", "value is missing"]);
    let e = s.fails(1, &["get-message", "--filter", "FromAddress -contains x"]);
    assert_names(&e, &["Filter", "not a filter operator"]);
    let e = s.fails(1, &["get-queue", "--result-size", "0"]);
    assert_names(&e, &["ResultSize"]);
    let r = s.run(&["-c", "Retry-Queue orga.example -Resubmit $true -WhatIf"]);
    assert!(!r.stderr.contains("cannot be found"), "{}", r.stderr);
}
