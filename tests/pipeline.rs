//! The shell language's pipeline builtins end to end, through the binary:
//! the one-liners administrators type around the cmdlets.
#![allow(clippy::unwrap_used)]

use assert_cmd::Command;
use std::path::Path;

fn xshell(store: &Path) -> Command {
    let mut c = Command::cargo_bin("xshell").unwrap();
    c.arg("--store").arg(store.join("store")).current_dir(store);
    c
}

/// Runs `script`; returns (exit code, stdout, stderr).
fn run(dir: &Path, script: &str) -> (i32, String, String) {
    let out = xshell(dir).arg("-c").arg(script).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `script`, which must succeed; returns its standard output.
fn ok(dir: &Path, script: &str) -> String {
    let (code, out, err) = run(dir, script);
    assert_eq!(code, 0, "{script}\nstdout: {out}\nstderr: {err}");
    out
}

const CONNECTORS: &str = "New-SendConnector Outbound -AddressSpaces * | Out-Null\n\
    New-SendConnector Partner -AddressSpaces contoso.com -Port 2525 | Out-Null\n";

#[test]
fn where_short_form_select_and_sort_on_connectors() {
    let t = tempfile::tempdir().unwrap();
    ok(t.path(), CONNECTORS);
    let out = ok(t.path(), "Get-SendConnector | ? Port -eq 2525 | % Name");
    assert_eq!(out, "Partner\n");
    let out = ok(
        t.path(),
        "Get-SendConnector | sort Port -Descending | select Name,Port",
    );
    assert_eq!(
        out,
        "\nName     Port\n-------- ----\nPartner  2525\nOutbound   25\n\n"
    );
    let out = ok(
        t.path(),
        "Get-SendConnector | select Name, @{n='Spaces';e={$_.AddressSpaces.Count}} | ft -HideTableHeaders",
    );
    assert_eq!(out, "\nOutbound 1\nPartner  1\n\n");
}

#[test]
fn format_list_with_a_wildcard_shows_the_values() {
    let t = tempfile::tempdir().unwrap();
    ok(
        t.path(),
        "Set-TransportConfig -TLSSendDomainSecureList a.tld,b.tld",
    );
    let out = ok(t.path(), "Get-TransportConfig | fl TLS*");
    assert!(
        out.contains(&format!(
            "{:40} : {{}}\n{:40} : {{a.tld, b.tld}}\n",
            "TLSReceiveDomainSecureList", "TLSSendDomainSecureList"
        )),
        "{out}"
    );
    assert!(!out.contains("Identity"), "{out}");
}

#[test]
fn group_and_measure_print_as_powershell_does() {
    let t = tempfile::tempdir().unwrap();
    ok(t.path(), CONNECTORS);
    let out = ok(t.path(), "Get-SendConnector | group Port -NoElement");
    assert_eq!(out, "\nCount Name\n----- ----\n    1 25\n    1 2525\n\n");
    let out = ok(t.path(), "Get-SendConnector | measure Port -Average");
    assert!(
        out.contains("Count             : 2\nAverage           : 1275\n"),
        "{out}"
    );
    assert!(out.contains("Property          : Port\n"), "{out}");
}

#[test]
fn write_host_goes_to_the_terminal_and_warnings_to_stderr() {
    let t = tempfile::tempdir().unwrap();
    let out = ok(
        t.path(),
        "$x = Write-Host one two -Separator ','; Write-Host -NoNewline a; Write-Host b -ForegroundColor Green",
    );
    assert_eq!(out, "one,two\nab\n");
    let (code, out, err) = run(
        t.path(),
        "Write-Warning 'disk low'; Write-Verbose hidden; Write-Verbose shown -Verbose",
    );
    assert_eq!(code, 0);
    assert_eq!(out, "");
    assert!(err.contains("WARNING: disk low"), "{err}");
    assert!(
        err.contains("VERBOSE: shown") && !err.contains("hidden"),
        "{err}"
    );
    let (code, _, err) = run(t.path(), "Write-Host x -ForegroundColor Pink");
    assert_eq!(code, 1);
    assert!(
        err.contains("ForegroundColor") && err.contains("Pink"),
        "{err}"
    );
}

#[test]
fn write_error_fails_the_script_unless_silenced() {
    let t = tempfile::tempdir().unwrap();
    // The error is reported, named once, and the script's exit code says
    // it failed (whether later lines run is -ErrorAction's business).
    let (code, _, err) = run(t.path(), "Write-Error 'no such mailbox'; 'after'");
    assert_eq!(code, 1);
    assert!(err.contains("Write-Error: no such mailbox"), "{err}");
    assert!(!err.contains("Write-Error: Write-Error"), "{err}");
    let (_, out, err) = run(
        t.path(),
        "Write-Error 'ignored' -ErrorAction SilentlyContinue; 'after'",
    );
    assert_eq!(out, "after\n");
    assert!(!err.contains("ignored"), "{err}");
}

#[test]
fn out_string_and_get_help_for_builtins() {
    let t = tempfile::tempdir().unwrap();
    let out = ok(
        t.path(),
        "(1,2 | Out-String).Length; 'a','b' | Out-String -Stream | measure | % Count",
    );
    assert_eq!(out, "4\n2\n");
    let out = ok(t.path(), "Get-Help Sort-Object");
    assert!(
        out.contains("SYNOPSIS") && out.contains("[-Descending]") && out.contains("sort"),
        "{out}"
    );
    let out = ok(t.path(), "Get-Command *-Object | % Name");
    for n in [
        "Where-Object",
        "Sort-Object",
        "Group-Object",
        "Measure-Object",
    ] {
        assert!(out.contains(n), "{out}");
    }
}

#[test]
fn files_are_relative_to_the_current_directory() {
    let t = tempfile::tempdir().unwrap();
    ok(t.path(), CONNECTORS);
    ok(
        t.path(),
        "Get-SendConnector | select Name, Port | Export-Csv connectors.csv -NoTypeInformation",
    );
    assert_eq!(
        std::fs::read_to_string(t.path().join("connectors.csv")).unwrap(),
        "\"Name\",\"Port\"\n\"Outbound\",\"25\"\n\"Partner\",\"2525\"\n"
    );
    let out = ok(
        t.path(),
        "Import-Csv connectors.csv | ? Port -eq 2525 | % Name",
    );
    assert_eq!(out, "Partner\n");
    ok(
        t.path(),
        "Get-SendConnector | % Name | Set-Content names.txt",
    );
    assert_eq!(
        std::fs::read_to_string(t.path().join("names.txt")).unwrap(),
        "Outbound\nPartner\n"
    );
    let out = ok(
        t.path(),
        "gc .\\names.txt -First 1; cat names.txt | measure -Line | % Lines",
    );
    assert_eq!(out, "Outbound\n2\n");
    ok(
        t.path(),
        "Get-SendConnector | ft Name, Port | Out-File table.txt",
    );
    assert_eq!(
        std::fs::read_to_string(t.path().join("table.txt")).unwrap(),
        "\nName     Port\n-------- ----\nOutbound   25\nPartner  2525\n\n"
    );
    let (code, _, err) = run(t.path(), "Get-Content missing.txt; 'after'");
    assert_eq!(code, 1);
    assert!(
        err.contains("Get-Content: cannot find path 'missing.txt'"),
        "{err}"
    );
}

#[test]
fn certificate_bytes_from_get_content_import() {
    let t = tempfile::tempdir().unwrap();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/examples");
    std::fs::copy(samples.join("orga.pfx"), t.path().join("orga.pfx")).unwrap();
    let password = std::fs::read_to_string(samples.join("orga.pass")).unwrap();
    let out = xshell(t.path())
        .env("XSHELL_PFX_PASSWORD", password.trim())
        .arg("-c")
        .arg("Import-ExchangeCertificate -FileData (Get-Content -Path orga.pfx -Encoding Byte -ReadCount 0) | % Subject")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "CN=mail.orga.example, O=OrgA, C=DE\n"
    );
}

#[test]
fn json_get_member_and_select_string() {
    let t = tempfile::tempdir().unwrap();
    ok(t.path(), CONNECTORS);
    let out = ok(
        t.path(),
        "Get-SendConnector | select Name, Port | ConvertTo-Json -Compress | ConvertFrom-Json | ? Port -eq 25 | % Name",
    );
    assert_eq!(out, "Outbound\n");
    let out = ok(t.path(), "Get-SendConnector | gm -Name Port");
    assert!(out.contains("   TypeName: "), "{out}");
    assert!(out.contains("Port Property   int Port {get;set;}"), "{out}");
    let out = ok(t.path(), "Get-SendConnector | % Name | sls part");
    assert_eq!(out, "Partner\n");
    let out = ok(
        t.path(),
        "Get-SendConnector | % Name | Tee-Object seen.txt | measure | % Count",
    );
    assert_eq!(out, "2\n");
    assert_eq!(
        std::fs::read_to_string(t.path().join("seen.txt")).unwrap(),
        "Outbound\nPartner\n"
    );
}

/// Microsoft's Measure-Object example 3, with a relative path.
#[test]
fn measure_object_documented_text_example() {
    let t = tempfile::tempdir().unwrap();
    let out = ok(
        t.path(),
        "\"One\", \"Two\", \"Three\", \"Four\" | Set-Content -Path tmp.txt\n\
         Get-Content tmp.txt | Measure-Object -Character -Line -Word",
    );
    assert_eq!(
        out,
        "\nLines Words Characters Property\n----- ----- ---------- --------\n    4     4         15\n\n"
    );
}

/// One-liners administrators type around the connectors, each with what
/// it prints.
#[test]
fn admin_one_liners_around_connectors() {
    let t = tempfile::tempdir().unwrap();
    ok(t.path(), CONNECTORS);
    ok(
        t.path(),
        "New-ReceiveConnector Inbound -Usage Internet -Bindings 0.0.0.0:25 | Out-Null",
    );
    let cases: &[(&str, &str)] = &[
        ("(Get-SendConnector | measure).Count", "2\n"),
        (
            "Get-SendConnector | group Enabled | ? Count -gt 1 | % Name",
            "True\n",
        ),
        (
            "Get-SendConnector | sort Port -Descending | select -First 1 -ExpandProperty Name",
            "Partner\n",
        ),
        (
            "Get-SendConnector | ft Name, Port, @{Label='Secure';Expression={$_.DomainSecureEnabled}} -AutoSize",
            "\nName     Port Secure\n-------- ---- ------\nOutbound   25 False\nPartner  2525 False\n\n",
        ),
        (
            "Get-SendConnector | % { \"$($_.Name) on port $($_.Port)\" }",
            "Outbound on port 25\nPartner on port 2525\n",
        ),
        (
            "Get-ReceiveConnector | fl Name, Bindings",
            "\nName     : Inbound\nBindings : {0.0.0.0:25}\n\n",
        ),
        (
            "Get-ReceiveConnector | ? Bindings -like '*:25' | % Name",
            "Inbound\n",
        ),
        ("Get-Command *-SendConnector | measure | % Count", "4\n"),
        (
            "Get-SendConnector | ? Name -ne Outbound | select Name, Port | ConvertTo-Csv",
            "\"Name\",\"Port\"\n\"Partner\",\"2525\"\n",
        ),
        (
            "Get-SendConnector | sort Name -Descending | Format-Table Name -HideTableHeaders",
            "\nPartner\nOutbound\n\n",
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(ok(t.path(), line), *expected, "{line}");
    }
}
