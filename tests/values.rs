//! Objects as Exchange shows them (issue 17, item 2): dates, time spans and
//! sizes as typed values with their members, certificates' services,
//! server-qualified identities and flag enums in one string.
#![allow(clippy::unwrap_used)]

use assert_cmd::Command;
use std::path::Path;

fn xshell(store: &Path) -> Command {
    let mut c = Command::cargo_bin("xshell").unwrap();
    c.arg("--store").arg(store);
    c
}

/// Runs a script in a fresh store; its standard output, which must succeed.
fn run(script: &str) -> String {
    let t = tempfile::tempdir().unwrap();
    run_in(t.path(), script)
}

fn run_in(store: &Path, script: &str) -> String {
    let out = xshell(store).arg("-c").arg(script).output().unwrap();
    assert!(
        out.status.success(),
        "{script}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a script that must fail; its standard error.
fn fails(store: &Path, script: &str) -> String {
    let out = xshell(store).arg("-c").arg(script).output().unwrap();
    assert!(!out.status.success(), "{script} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().filter(|l| !l.is_empty()).collect()
}

#[test]
fn get_date_gives_date_values_with_their_members() {
    let out = run("Get-Date -Date '3/13/2018 9:00 AM'\n\
         (Get-Date '03/13/2018 09:00:00').AddDays(30).ToString('yyyy-MM-dd HH:mm')\n\
         ((Get-Date '3/14/2018') - (Get-Date '3/13/2018 06:00')).TotalHours\n\
         ((Get-Date '3/20/2018') - (Get-Date '3/13/2018 06:00')).Days\n\
         \"$(Get-Date 2018-03-13)\"\n\
         (Get-Date '3/13/2018') -lt '3/14/2018'\n\
         (Get-Date '3/13/2018') -gt (Get-Date '3/14/2018')\n\
         Get-Date -Date 2018-03-13T09:00:00Z -Format o\n\
         Get-Date -Date 2018-03-13T09:00:00Z -Format u\n\
         Get-Date -Date 2018-03-13 -UFormat '%Y/%m/%d'\n\
         (Get-Date -Date '3/13/2018').DayOfWeek\n\
         (Get-Date -Year 2020 -Month 2 -Day 29 -Hour 0 -Minute 0 -Second 0).ToString()\n\
         (Get-Date '3/13/2018 13:30').Date.ToString('G')\n\
         $n = Get-Date; ($n - $n.AddHours(-2)).Hours\n\
         10/4");
    assert_eq!(
        lines(&out),
        [
            "Tuesday, March 13, 2018 9:00:00 AM",
            "2018-04-12 09:00",
            "18",
            "6",
            "03/13/2018 00:00:00",
            "True",
            "False",
            "2018-03-13T09:00:00.0000000Z",
            "2018-03-13 09:00:00Z",
            "2018/03/13",
            "Tuesday",
            "2/29/2020 12:00:00 AM",
            "3/13/2018 12:00:00 AM",
            "2",
            "2.5",
        ]
    );
}

#[test]
fn bad_dates_are_errors_that_say_so() {
    let t = tempfile::tempdir().unwrap();
    let err = fails(t.path(), "Get-Date -Date '13/13/2018'");
    assert!(err.contains("is not a date"), "{err}");
    let err = fails(t.path(), "(Get-Date).ToString('Q')");
    assert!(err.contains("not a date format"), "{err}");
    let err = fails(t.path(), "(Get-Date).AddYears(9000)");
    assert!(err.contains("outside the dates"), "{err}");
    let err = fails(t.path(), "Get-Date -Hour 24");
    assert!(err.contains("out of range"), "{err}");
}

/// A store with one self-signed certificate for mail.contoso.com, enabled
/// for SMTP and IIS; its thumbprint.
fn store_with_certificate(store: &Path) -> String {
    let out = run_in(
        store,
        "(New-ExchangeCertificate -SubjectName 'CN=mail.contoso.com' -DomainName mail.contoso.com \
         -Services 'SMTP','IIS' -KeyAlgorithm ECDSA-P256).Thumbprint",
    );
    out.trim().to_string()
}

#[test]
fn certificates_show_services_as_names_and_dates_as_dates() {
    let t = tempfile::tempdir().unwrap();
    let tp = store_with_certificate(t.path());
    assert_eq!(tp.len(), 40);
    let out = run_in(
        t.path(),
        &format!(
            "(Get-ExchangeCertificate).Services\n\
             (Get-ExchangeCertificate).ServicesStringForm\n\
             (Get-ExchangeCertificate | ? {{$_.Services -match 'SMTP'}}).Thumbprint\n\
             @(Get-ExchangeCertificate | ? {{$_.Services -match 'IMAP'}}).Count\n\
             (Get-ExchangeCertificate)[0].NotAfter -lt (Get-Date).AddDays(30)\n\
             @(Get-ExchangeCertificate | ? {{$_.NotAfter -lt (Get-Date).AddDays(60)}}).Count\n\
             ((Get-ExchangeCertificate -Thumbprint {tp}).NotAfter - (Get-Date)).Days -ge 1824\n\
             (Get-ExchangeCertificate).NotAfter.Year -ge 2031\n\
             (Get-ExchangeCertificate).Identity"
        ),
    );
    assert_eq!(
        lines(&out),
        [
            "IIS, SMTP",
            "...WS..",
            tp.as_str(),
            "0",
            "False",
            "0",
            "True",
            "True",
            format!("XSHELL01\\{tp}").as_str(),
        ]
    );
    // The table shows the letters under "Services", as Exchange's does.
    let table = run_in(t.path(), "Get-ExchangeCertificate");
    let l = lines(&table);
    assert!(
        l[0].starts_with("Thumbprint") && l[0].contains("Services"),
        "{table}"
    );
    assert!(l[2].contains("...WS.."), "{table}");
    // JSON: names, letters, ISO 8601 UTC dates.
    let out = xshell(t.path())
        .args(["get-exchangecertificate", "-o", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["Services"], "IIS, SMTP");
    assert_eq!(v[0]["ServicesStringForm"], "...WS..");
    let not_after = v[0]["NotAfter"].as_str().unwrap();
    assert!(
        not_after.len() == 20 && not_after.ends_with('Z') && not_after.as_bytes()[10] == b'T',
        "{not_after}"
    );
}

#[test]
fn tracking_log_times_are_dates_and_start_takes_the_culture_form() {
    let t = tempfile::tempdir().unwrap();
    // A first command creates the store.
    run_in(t.path(), "Get-TransportConfig | Out-Null");
    std::fs::create_dir_all(t.path().join("log")).unwrap();
    std::fs::write(
        t.path().join("log/tracking.jsonl"),
        "{\"time\":\"2018-03-13T08:00:00Z\",\"event_id\":\"RECEIVE\",\"sender\":\"a@partner.example\"}\n\
         {\"time\":\"2018-03-13T10:30:00Z\",\"event_id\":\"DELIVER\",\"sender\":\"b@partner.example\"}\n",
    )
    .unwrap();
    let out = run_in(
        t.path(),
        "(Get-MessageTrackingLog -Start '03/13/2018 09:00:00').Sender\n\
         (Get-MessageTrackingLog -End '3/13/2018 9:00 AM').Sender\n\
         (Get-MessageTrackingLog -Start (Get-Date '3/13/2018').AddHours(10)).EventId\n\
         (Get-MessageTrackingLog)[1].Timestamp.ToString('HH:mm')\n\
         (Get-MessageTrackingLog)[1].Timestamp\n\
         @(Get-MessageTrackingLog | ? {$_.Timestamp -lt '3/13/2018 9:00 AM'}).Count",
    );
    assert_eq!(
        lines(&out),
        [
            "b@partner.example",
            "a@partner.example",
            "DELIVER",
            "10:30",
            "Tuesday, March 13, 2018 10:30:00 AM",
            "1"
        ]
    );
    // The CLI takes the same forms; JSON keeps ISO 8601 UTC.
    let out = xshell(t.path())
        .args([
            "get-messagetrackinglog",
            "--start",
            "03/13/2018 09:00:00",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["Timestamp"], "2018-03-13T10:30:00Z");
    let err = fails(t.path(), "Get-MessageTrackingLog -Start '13/13/2018'");
    assert!(err.contains("'13/13/2018' is not a date"), "{err}");
}

#[test]
fn sizes_and_time_spans_keep_their_members() {
    let out = run(
        "New-ReceiveConnector Inbound -Usage Internet -Bindings 0.0.0.0:25 | Out-Null\n\
         (Get-ReceiveConnector Inbound).MaxMessageSize.ToMB()\n\
         (Get-ReceiveConnector Inbound).MaxMessageSize.ToBytes()\n\
         (Get-ReceiveConnector Inbound).MaxMessageSize\n\
         (Get-ReceiveConnector Inbound).MaxMessageSize.IsUnlimited\n\
         @(Get-ReceiveConnector | ? {$_.MaxMessageSize -gt '20MB'}).Count\n\
         @(Get-ReceiveConnector | ? {$_.MaxMessageSize -gt '200MB'}).Count\n\
         (Get-TransportService).TransientFailureRetryInterval.TotalSeconds\n\
         (Get-TransportService).TransientFailureRetryInterval.TotalHours\n\
         \"$((Get-TransportService).TransientFailureRetryInterval)\"\n\
         (Get-TransportConfig).MaxSendSize.ToKB()",
    );
    assert_eq!(
        lines(&out),
        [
            "36",
            "37748736",
            "36 MB (37,748,736 bytes)",
            "False",
            "1",
            "0",
            "300",
            "0.0833333333333333",
            "00:05:00",
            "10240",
        ]
    );
    // A time span alone prints as Exchange's spans do; its members remain.
    let out = run("(Get-Date '3/14/2018') - (Get-Date '3/13/2018 06:00')");
    assert_eq!(lines(&out)[0], "18:00:00");
    let out = run("((Get-Date '3/14/2018') - (Get-Date '3/13/2018 06:00')).TotalDays");
    assert_eq!(lines(&out)[0], "0.75");
    // A size and a span read from one object bind back to parameters.
    let t = tempfile::tempdir().unwrap();
    let out = run_in(
        t.path(),
        "New-ReceiveConnector A -Usage Internet -Bindings 0.0.0.0:25 | Out-Null\n\
         New-ReceiveConnector B -Usage Internet -Bindings 0.0.0.0:2525 -MaxMessageSize (Get-TransportConfig).MaxSendSize | Out-Null\n\
         (Get-ReceiveConnector B).MaxMessageSize.ToMB()",
    );
    assert_eq!(lines(&out), ["10"]);
}

#[test]
fn flag_enums_take_the_string_form_in_the_shell_and_the_cli() {
    let t = tempfile::tempdir().unwrap();
    let out = run_in(
        t.path(),
        "New-ReceiveConnector Inbound -Usage Internet -Bindings 0.0.0.0:25 | Out-Null\n\
         Set-ReceiveConnector Inbound -AuthMechanism 'Tls, BasicAuth, BasicAuthRequireTLS' -PermissionGroups 'AnonymousUsers, Partners'\n\
         \"$((Get-ReceiveConnector Inbound).AuthMechanism)\"\n\
         \"$((Get-ReceiveConnector Inbound).PermissionGroups)\"",
    );
    let l = lines(&out);
    assert_eq!(l.len(), 2, "{out}");
    assert_eq!(l[0], "Tls BasicAuth BasicAuthRequireTLS");
    assert_eq!(l[1], "AnonymousUsers Partners");
    let err = fails(
        t.path(),
        "Set-ReceiveConnector Inbound -AuthMechanism 'Tls, Kerberos'",
    );
    assert!(err.contains("'Kerberos' is not one of"), "{err}");
    assert!(err.contains("BasicAuthRequireTLS"), "{err}");
    // The CLI: one argument with spaces, case-insensitive.
    xshell(t.path())
        .args([
            "set-receiveconnector",
            "Inbound",
            "--auth-mechanism",
            "tls, basicauth",
        ])
        .assert()
        .success();
    let out = run_in(
        t.path(),
        "\"$((Get-ReceiveConnector Inbound).AuthMechanism)\"",
    );
    assert_eq!(lines(&out), ["Tls BasicAuth"]);
    // Certificate services.
    let tp = store_with_certificate(t.path());
    let out = run_in(
        t.path(),
        &format!(
            "Enable-ExchangeCertificate {tp} -Services 'IMAP, POP' | Out-Null\n\
             (Get-ExchangeCertificate {tp}).Services"
        ),
    );
    assert_eq!(lines(&out), ["IMAP, POP, IIS, SMTP"]);
}

#[test]
fn server_scoped_objects_take_and_show_server_qualified_identities() {
    let t = tempfile::tempdir().unwrap();
    let tp = store_with_certificate(t.path());
    let out = run_in(
        t.path(),
        &format!(
            "New-ReceiveConnector Inbound -Usage Internet -Bindings 0.0.0.0:25 | % {{$_.Identity}}\n\
             (Get-ReceiveConnector 'XSHELL01\\Inbound').Name\n\
             Set-ReceiveConnector xshell01\\inbound -Comment 'qualified'\n\
             (Get-ReceiveConnector Inbound).Comment\n\
             (Get-ReceiveConnector '*\\In*').Identity\n\
             (Get-ExchangeCertificate 'XSHELL01\\{tp}').Thumbprint\n\
             (Get-ExchangeCertificate -Thumbprint (Get-ExchangeCertificate).Identity).Services\n\
             Set-TransportService -Name EX01\n\
             (Get-ReceiveConnector 'EX01\\Inbound').Identity\n\
             (Get-TransportService EX01).Name\n\
             (Get-ReceiveConnector -Server EX01).Name\n\
             (Get-TransportService ex*).Identity\n\
             (Get-ExchangeCertificate).Identity"
        ),
    );
    assert_eq!(
        lines(&out),
        [
            "XSHELL01\\Inbound",
            "Inbound",
            "qualified",
            "XSHELL01\\Inbound",
            tp.as_str(),
            "IIS, SMTP",
            "EX01\\Inbound",
            "EX01",
            "Inbound",
            "EX01",
            format!("EX01\\{tp}").as_str(),
        ]
    );
    for (script, kind) in [
        (
            "Get-ReceiveConnector 'EX02\\Inbound'",
            "receive connector 'EX02\\Inbound'",
        ),
        (
            "Set-ReceiveConnector EX02\\Inbound -Comment x",
            "receive connector 'EX02\\Inbound'",
        ),
        (
            "Remove-ReceiveConnector EX02\\Inbound -Confirm:$false",
            "receive connector 'EX02\\Inbound'",
        ),
        (
            &format!("Get-ExchangeCertificate EX02\\{tp}"),
            "certificate 'EX02\\",
        ),
        (
            &format!("Enable-ExchangeCertificate EX02\\{tp} -Services IMAP"),
            "certificate 'EX02\\",
        ),
        ("Get-Queue EX02\\contoso.com", "queue 'EX02\\contoso.com'"),
        (
            "Get-Message -Queue EX02\\contoso.com",
            "queue 'EX02\\contoso.com'",
        ),
        (
            "Get-Message -Identity EX02\\contoso.com\\0123456789ABCDEF0123456789",
            "message 'EX02\\contoso.com\\",
        ),
        ("Retry-Queue EX02\\contoso.com", "queue 'EX02\\contoso.com'"),
        ("Get-TransportService EX02", "parameter 'Identity'"),
        ("Get-ReceiveConnector -Server EX02", "parameter 'Server'"),
    ] {
        // EX02 is no server of this organization (none of its objects or
        // settings are in the configuration and it never ran): the error
        // says so and lists the servers, rather than a bare "not found".
        let err = fails(t.path(), script);
        assert!(
            err.contains(kind)
                && err.contains("'EX02' is not a server of this organization (servers: EX01)"),
            "{script}: {err}"
        );
    }
    // The CLI reads the same form.
    xshell(t.path())
        .args(["get-receiveconnector", "EX01\\Inbound"])
        .assert()
        .success();
}

#[test]
fn new_timespan_between_dates_or_from_parts() {
    let t = tempfile::tempdir().unwrap();
    let tp = store_with_certificate(t.path());
    let out = run_in(
        t.path(),
        &format!(
            "(New-TimeSpan -Start '3/13/2018' -End '3/20/2018 12:00').TotalDays\n\
             (New-TimeSpan -Hours 1 -Minutes 30).TotalMinutes\n\
             \"$(New-TimeSpan -Days 2)\"\n\
             (New-TimeSpan '3/13/2018' '3/14/2018').Hours\n\
             (New-TimeSpan -Start (Get-Date) -End (Get-ExchangeCertificate {tp}).NotAfter).Days -ge 1824"
        ),
    );
    assert_eq!(lines(&out), ["7.5", "90", "2.00:00:00", "0", "True"]);
    let err = fails(t.path(), "New-TimeSpan -Days 1 -Start 3/13/2018");
    assert!(err.contains("cannot be used together"), "{err}");
    let err = fails(t.path(), "New-TimeSpan -Days 1.5");
    assert!(err.contains("not a whole number"), "{err}");
    let err = fails(t.path(), "New-TimeSpan -Start nonsense");
    assert!(err.contains("is not a date"), "{err}");
}
