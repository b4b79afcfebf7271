//! CLI details found in review: flag prefixes, messages, nothing created by
//! commands that write nothing, completions and man pages.
#![allow(clippy::unwrap_used)]

mod common;

use common::{TestStore, assert_names};

#[test]
fn long_flags_may_be_abbreviated_to_an_unambiguous_prefix() {
    let s = TestStore::new();
    // --addr: --address-spaces; --domain-s: --domain-secure-enabled.
    s.ok(&["new-sendconnector", "Outbound", "--addr", "*", "--domain-s"]);
    let c = &s.json(&["get-sendconnector", "Outbound"])[0];
    assert_eq!(c["DomainSecureEnabled"], true);
    // Global flags too (--out for --output).
    let out = s.ok(&["get-sendconnector", "--out", "json"]);
    assert!(out.trim_start().starts_with('['), "{out}");
    // The shell language has always accepted prefixes.
    s.ok(&["-c", "Set-SendConnector Outbound -Por 2525"]);
    assert_eq!(s.json(&["get-sendconnector"])[0]["Port"], 2525);
}

#[test]
fn an_ambiguous_prefix_is_a_usage_error_naming_the_candidates() {
    let s = TestStore::new();
    s.ok(&["new-sendconnector", "Outbound", "--address-spaces", "*"]);
    let line = s.fails(2, &["set-sendconnector", "Outbound", "--d"]);
    assert_names(
        &line,
        &[
            "--d",
            "ambiguous",
            "--dns-routing-enabled",
            "--domain-secure-enabled",
        ],
    );
    let line = s.fails(2, &["set-receiveconnector", "Inbound", "--max=1MB"]);
    assert_names(
        &line,
        &[
            "--max-message-size",
            "--max-recipients-per-message",
            "--max-inbound-connection-per-source",
        ],
    );
    // An exact name is never ambiguous, even when it prefixes another.
    let r = s.run(&["set-receiveconnector", "--help"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn receive_connector_rule_message_reads_well() {
    let s = TestStore::new();
    let line = s.fails(
        1,
        &[
            "new-receiveconnector",
            "Partners",
            "--usage",
            "Partner",
            "--bindings",
            "0.0.0.0:25",
        ],
    );
    assert_names(
        &line,
        &["a receive connector with Usage Partner needs RemoteIPRanges"],
    );
}

#[test]
fn what_if_and_failing_commands_create_nothing_on_a_fresh_store() {
    let s = TestStore::new();
    let r = s.run(&[
        "new-sendconnector",
        "Out",
        "--address-spaces",
        "*",
        "--what-if",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    s.fails(
        1,
        &["new-receiveconnector", "In", "--bindings", "0.0.0.0:25"],
    );
    s.fails(1, &["set-sendconnector", "Nope", "--enabled"]);
    s.fails(1, &["remove-sendconnector", "Nope", "--force"]);
    s.fails(
        1,
        &[
            "set-transportconfig",
            "--tls-receive-domain-secure-list",
            "no_t valid",
        ],
    );
    // Setting a value to what it already is writes nothing either.
    s.ok(&[
        "set-transportconfig",
        "--max-recipient-envelope-limit",
        "500",
    ]);
    s.ok(&["get-sendconnector"]);
    assert!(!s.dir().exists(), "the store folder was created");
    // A real change creates it.
    s.ok(&["new-sendconnector", "Out", "--address-spaces", "*"]);
    assert!(s.dir().join("store.lock").exists());
    assert_eq!(s.revision(), 1);
}

#[test]
fn remove_confirmation_error_names_the_cmdlet_once() {
    let s = TestStore::new();
    s.ok(&["new-sendconnector", "Outbound", "--address-spaces", "*"]);
    let line = s.fails(1, &["remove-sendconnector", "Outbound"]);
    assert_eq!(line.matches("Remove-SendConnector").count(), 1, "{line}");
    assert!(!line.contains("Remove SendConnector"), "{line}");
    assert_names(&line, &["'Outbound'", "--confirm=false", "--force"]);
    let r = s.run(&["-c", "Remove-SendConnector Outbound"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr.matches("Remove-SendConnector:").count(),
        1,
        "{}",
        r.stderr
    );
    // A New- cmdlet asked to confirm does not offer a -Force it lacks.
    let line = s.fails(
        1,
        &[
            "new-sendconnector",
            "Other",
            "--address-spaces",
            "*",
            "--confirm",
        ],
    );
    assert_names(&line, &["--confirm=false"]);
    assert!(!line.contains("Force"), "{line}");
}

#[test]
fn completion_scripts_come_from_the_declarations() {
    let s = TestStore::new();
    let bash = s.ok(&["completions", "bash"]);
    assert_names(
        &bash,
        &["set-sendconnector", "--domain-secure-enabled", "--what-if"],
    );
    for shell in ["zsh", "fish", "powershell"] {
        let out = s.ok(&["completions", shell]);
        assert_names(&out, &["set-sendconnector", "domain-secure-enabled"]);
    }
    s.fails(2, &["completions", "tcsh"]);
}

#[test]
fn man_pages_one_per_subcommand() {
    let s = TestStore::new();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("man");
    s.ok(&["man", "--out", dir.to_str().unwrap()]);
    let main = std::fs::read_to_string(dir.join("xshell.1")).unwrap();
    assert_names(&main, &["set\\-sendconnector", "Domain Security"]);
    let page = std::fs::read_to_string(dir.join("xshell-set-sendconnector.1")).unwrap();
    assert_names(
        &page,
        &[
            "xshell\\-set\\-sendconnector",
            "Change a send connector.",
            "\\-\\-domain\\-secure\\-enabled",
        ],
    );
    let pages = std::fs::read_dir(&dir).unwrap().count();
    assert!(pages > 30, "{pages} pages");
    assert!(!dir.join("xshell-gen-docs.1").exists());
}

/// `xshell ... 2>&1 | head -0`: a reader that went away before xshell
/// wrote is not a panic (exit 101) and does not change the exit code: 1
/// for a cmdlet that failed, 0 for one that succeeded, 2 for a malformed
/// command. The pipes are closed before xshell starts, so every write
/// meets a closed reader.
#[test]
fn a_closed_output_pipe_keeps_the_exit_code() {
    use std::process::{Command, Stdio};
    let s = TestStore::new();
    s.ok(&["new-sendconnector", "Outbound", "--address-spaces", "*"]);
    for (args, code) in [
        (&["get-sendconnector", "NoSuch"][..], 1),
        (&["get-sendconnector"][..], 0),
        (&["get-sendconnector", "--output", "json"][..], 0),
        (&["help", "Get-SendConnector"][..], 0),
        (&["get-sendconnector", "--no-such-flag"][..], 2),
        (&["-c", "Get-SendConnector NoSuch"][..], 1),
    ] {
        let mut child = Command::new(common::xshell_bin())
            .arg("--store")
            .arg(s.dir())
            .args(args)
            .env_remove("XSHELL_STORE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        drop(child.stderr.take());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            assert!(std::time::Instant::now() < deadline, "{args:?} hung");
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert_eq!(status.code(), Some(code), "{args:?}");
    }
}
