//! The shell language end to end: the walkthrough's lines verbatim, every
//! cmdlet example giving the same store through the CLI and the language,
//! script error reporting, and the interactive prompt under a terminal.
#![allow(clippy::unwrap_used)]

use assert_cmd::Command;
use std::path::Path;
use xshell_cmdlets::CATALOGUE;
use xshell_cmdlets::docs::example_cli;

fn xshell(store: &Path) -> Command {
    let mut c = Command::cargo_bin("xshell").unwrap();
    c.arg("--store").arg(store);
    c
}

fn config(store: &Path) -> serde_json::Value {
    match std::fs::read(store.join("config.json")) {
        Ok(b) => serde_json::from_slice(&b).unwrap(),
        Err(_) => serde_json::Value::Null,
    }
}

#[test]
fn walkthrough_lines_verbatim() {
    let t = example_dir();
    let pfx = t.path().join("orga.pfx");
    let password = std::fs::read_to_string(t.path().join("orga.pass")).unwrap();
    let script = t.path().join("provision.ps1");
    std::fs::write(
        &script,
        format!(
            "# Connectors the walkthrough names\r\n\
         New-SendConnector Outbound -AddressSpaces * -Usage Internet\n\
         New-ReceiveConnector Inbound -Usage Internet -Bindings 0.0.0.0:25\n\
         Import-ExchangeCertificate -Path {} | Enable-ExchangeCertificate -Services SMTP\n\
         Set-TransportConfig -TLSReceiveDomainSecureList domaene.tld\n\
         Set-TransportConfig -TLSSendDomainSecureList domaene.tld\n\
         Set-SendConnector Outbound -DomainSecureEnabled:$True\n\
         Set-ReceiveConnector Inbound -DomainSecureEnabled:$True -AuthMechanism TLS\n",
            pfx.display()
        ),
    )
    .unwrap();
    let store = t.path().join("store");
    xshell(&store)
        .env("XSHELL_PFX_PASSWORD", password.trim())
        .arg("-f")
        .arg(&script)
        .assert()
        .success();
    let c = config(&store);
    assert_eq!(
        c["Certificates"][0]["Services"],
        serde_json::json!(["SMTP"])
    );
    assert_eq!(c["Certificates"][0]["DefaultSmtp"], true);
    assert_eq!(
        c["TransportConfig"]["TLSReceiveDomainSecureList"],
        serde_json::json!(["domaene.tld"])
    );
    assert_eq!(
        c["TransportConfig"]["TLSSendDomainSecureList"],
        serde_json::json!(["domaene.tld"])
    );
    assert_eq!(c["SendConnectors"][0]["DomainSecureEnabled"], true);
    assert_eq!(c["ReceiveConnectors"][0]["DomainSecureEnabled"], true);
    assert_eq!(
        c["ReceiveConnectors"][0]["AuthMechanism"],
        serde_json::json!(["Tls"])
    );
}

/// A fresh folder holding the sample files the documented examples use.
fn example_dir() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/examples");
    for f in std::fs::read_dir(samples).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), t.path().join(f.file_name())).unwrap();
    }
    t
}

/// Key file names are random; generated keys and certificates differ per run.
fn normalized(mut c: serde_json::Value, generates_keys: bool) -> serde_json::Value {
    if let Some(certs) = c.get_mut("Certificates").and_then(|v| v.as_array_mut()) {
        for cert in certs {
            if let Some(o) = cert.as_object_mut() {
                o.remove("KeyId");
                if generates_keys {
                    for k in ["Thumbprint", "Certificate", "Request"] {
                        o.remove(k);
                    }
                }
            }
        }
    }
    c
}

#[test]
fn every_example_gives_the_same_store_through_cli_and_language() {
    for decl in CATALOGUE {
        for ex in decl.examples {
            let a = example_dir();
            let b = example_dir();
            let mut lines: Vec<&str> = ex.setup.to_vec();
            lines.push(ex.code);
            let mut cli_out = Vec::new();
            for line in &lines {
                let d = xshell_cmdlets::find(line.split_whitespace().next().unwrap()).unwrap();
                let out = xshell(&a.path().join("store"))
                    .current_dir(a.path())
                    .env_remove("XSHELL_PFX_PASSWORD")
                    .args(example_cli(d, line).unwrap())
                    .output()
                    .unwrap();
                // A failed Test- verdict example ends its title so: exit 1.
                let fails = *line == ex.code && ex.title.ends_with("(exit code 1)");
                assert!(
                    out.status.code() == Some(if fails { 1 } else { 0 }),
                    "CLI `{line}`: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                cli_out = out.stdout;
            }
            let shell = |code: &str| {
                xshell(&b.path().join("store"))
                    .current_dir(b.path())
                    .env_remove("XSHELL_PFX_PASSWORD")
                    .arg("-c")
                    .arg(code)
                    .output()
                    .unwrap()
            };
            let setup = ex.setup.join("\n");
            if !setup.is_empty() {
                let out = shell(&setup);
                assert!(
                    out.status.success(),
                    "shell setup `{setup}`: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let out = shell(ex.code);
            let fails = ex.title.ends_with("(exit code 1)");
            assert!(
                out.status.code() == Some(if fails { 1 } else { 0 }),
                "shell `{}`: {}",
                ex.code,
                String::from_utf8_lossy(&out.stderr)
            );
            let generates_keys = lines.iter().any(|l| {
                let l = l.to_ascii_lowercase();
                l.starts_with("new-exchangecertificate")
                    || l.starts_with("request-exchangecertificate")
                    || l.starts_with("new-dkimsigningkey")
                    || l.contains("labca")
            });
            assert_eq!(
                normalized(config(&a.path().join("store")), generates_keys),
                normalized(config(&b.path().join("store")), generates_keys),
                "{}: `{}` differs between CLI and shell",
                decl.name,
                ex.code
            );
            if !generates_keys {
                assert_eq!(
                    String::from_utf8_lossy(&cli_out),
                    String::from_utf8_lossy(&out.stdout),
                    "{}: output of `{}` differs",
                    decl.name,
                    ex.code
                );
            }
        }
    }
}

#[test]
fn syntax_error_runs_nothing_and_points_at_the_token() {
    let t = tempfile::tempdir().unwrap();
    let script = t.path().join("bad.xsh");
    std::fs::write(&script, "New-SendConnector Outbound -AddressSpaces *\nSet-SendConnector Outbound -Comment \"unterminated\n").unwrap();
    let out = xshell(t.path()).arg("-f").arg(&script).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.xsh:2:37:"), "{err}");
    assert!(
        err.contains("\n    Set-SendConnector Outbound -Comment \"unterminated\n"),
        "{err}"
    );
    assert!(
        err.contains("\n                                        ^"),
        "{err}"
    );
    assert!(!t.path().join("config.json").exists(), "nothing may run");
}

#[test]
fn unknown_cmdlet_anywhere_runs_nothing() {
    let t = tempfile::tempdir().unwrap();
    let out = xshell(t.path())
        .arg("-c")
        .arg("New-SendConnector Outbound -AddressSpaces *\nGet-SendConnector | Out-Nul")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("<command>:2:21: error: the term 'Out-Nul' is not recognized")
    );
    assert!(!t.path().join("config.json").exists());
}

#[test]
fn runtime_error_stops_the_script_and_names_the_line_unless_continue() {
    let t = tempfile::tempdir().unwrap();
    let out = xshell(t.path())
        .arg("-c")
        .arg("New-SendConnector A -AddressSpaces *\nSet-SendConnector Missing -Port 26\nNew-SendConnector B -AddressSpaces *")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "<command>:2:1: error: Set-SendConnector: send connector 'Missing' was not found"
        ),
        "{err}"
    );
    assert_eq!(
        config(t.path())["SendConnectors"].as_array().unwrap().len(),
        1,
        "line 3 must not run"
    );

    let t = tempfile::tempdir().unwrap();
    let out = xshell(t.path())
        .arg("-c")
        .arg("New-SendConnector A -AddressSpaces *\nSet-SendConnector Missing -Port 26 -ErrorAction Continue\nNew-SendConnector B -AddressSpaces *")
        .output()
        .unwrap();
    // Continued past, but the script still failed.
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Missing"));
    assert_eq!(
        config(t.path())["SendConnectors"].as_array().unwrap().len(),
        2
    );
}

#[test]
fn pipelines_variables_and_helpers() {
    let t = tempfile::tempdir().unwrap();
    let script = r#"
New-SendConnector Outbound -AddressSpaces * | Out-Null
New-SendConnector Partner -AddressSpaces "fabrikam.com;5",contoso.com -Port 2525 | Out-Null
Get-SendConnector | Set-SendConnector -RequireTLS $true
$c = Get-SendConnector Partner
Set-SendConnector -Identity $c.Identity -Comment "port $($c.Port)"
Get-SendConnector | Where-Object { $_.Port -gt 25 -and $_.Name -like "Part*" } | Select-Object Name,Port,Comment | ConvertTo-Json
(Get-SendConnector).Count
Get-SendConnector | ForEach-Object { $_.Name.ToUpper() }
Set-TransportConfig -TLSSendDomainSecureList a.tld,b.tld
Set-TransportConfig -TLSSendDomainSecureList @{Add="c.tld"; Remove="a.tld"}
(Get-TransportConfig).TLSSendDomainSecureList.Count -band 1
"#;
    // -band is not supported: the whole script must be refused up front.
    let out = xshell(t.path()).arg("-c").arg(script).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!t.path().join("config.json").exists());

    let script = script.replace(
        "(Get-TransportConfig).TLSSendDomainSecureList.Count -band 1",
        "(Get-TransportConfig).TLSSendDomainSecureList",
    );
    let out = xshell(t.path()).arg("-c").arg(&script).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json_start = stdout.find('{').unwrap();
    let json_end = stdout.find("\n}").unwrap() + 2;
    let v: serde_json::Value = serde_json::from_str(&stdout[json_start..json_end]).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"Name": "Partner", "Port": 2525, "Comment": "port 2525"})
    );
    assert!(stdout.contains("\n2\n"), "{stdout}");
    assert!(stdout.contains("OUTBOUND\nPARTNER\n"), "{stdout}");
    assert!(stdout.contains("b.tld\nc.tld\n"), "{stdout}");
    let c = config(t.path());
    assert_eq!(c["SendConnectors"][0]["RequireTLS"], true);
    assert_eq!(c["SendConnectors"][1]["RequireTLS"], true);
}

#[test]
fn parameters_by_prefix_and_ambiguity() {
    let t = tempfile::tempdir().unwrap();
    xshell(t.path())
        .arg("-c")
        .arg("New-SendConnector Outbound -AddressSp * -dnsrouting:$true")
        .assert()
        .success();
    // A unique prefix binds: -Domain is DomainSecureEnabled on Set-SendConnector.
    xshell(t.path())
        .arg("-c")
        .arg("set-sendconnector outbound -domain:$TRUE")
        .assert()
        .success();
    assert_eq!(
        config(t.path())["SendConnectors"][0]["DomainSecureEnabled"],
        true
    );
    let out = xshell(t.path())
        .arg("-c")
        .arg("Set-SendConnector Outbound -Tls:x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ambiguous") && err.contains("-TlsAuthLevel") && err.contains("-TlsDomain"),
        "{err}"
    );
}

#[test]
fn whatif_writes_nothing_and_stdin_scripts_run() {
    let t = tempfile::tempdir().unwrap();
    let out = xshell(t.path())
        .arg("-c")
        .arg("New-SendConnector Outbound -AddressSpaces * -WhatIf")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(
        "What if: Performing the operation \"New SendConnector\" on target \"Outbound\"."
    ));
    assert!(!t.path().join("config.json").exists());
    xshell(t.path())
        .arg("-f")
        .arg("-")
        .write_stdin("New-SendConnector Outbound -AddressSpaces *\n")
        .assert()
        .success();
    xshell(t.path())
        .write_stdin("Get-SendConnector Outbound\n")
        .assert()
        .success()
        .stdout(predicates::str::contains("Outbound"));
}
