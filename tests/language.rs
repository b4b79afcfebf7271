//! The shell language end to end through the binary: error handling
//! (-ErrorAction, $?, $Error, -ErrorVariable, exit codes, suggestions) and the
//! constructs administrators write around the cmdlets.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Run, TestStore};

/// A store with one send connector, Outbound.
fn store() -> TestStore {
    let s = TestStore::new();
    s.ok(&["new-sendconnector", "Outbound", "--address-spaces", "*"]);
    s
}

fn script(s: &TestStore, src: &str) -> Run {
    s.run(&["-c", src])
}

#[test]
fn a_misspelled_parameter_is_never_silenced() {
    let s = store();
    let before = s.config();
    let r = script(
        &s,
        "Set-SendConnector Outbound -DomainSecureEnabeld $false -ErrorAction SilentlyContinue",
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("<command>:1:29: error: Set-SendConnector: a parameter cannot be found that matches parameter name 'DomainSecureEnabeld'; did you mean -DomainSecureEnabled?"),
        "{}",
        r.stderr
    );
    assert_eq!(s.config(), before);
    // Nor by Ignore, nor by the preference; the statement fails and the script stops.
    for src in [
        "Set-SendConnector Outbound -Port abc -EA Ignore; 'after'",
        "$ErrorActionPreference = 'SilentlyContinue'; Set-SendConnector Outbound -Port; 'after'",
        "Set-SendConnector Outbound x y -ErrorAction 0; 'after'",
        "Set-SendConnector -Port 1 -EA SilentlyContinue; 'after'",
    ] {
        let r = script(&s, src);
        assert_ne!(r.code, 0, "{src}");
        assert!(!r.stdout.contains("after"), "{src}: {}", r.stdout);
        assert!(
            r.stderr.contains("error: Set-SendConnector: "),
            "{src}: {}",
            r.stderr
        );
    }
}

#[test]
fn the_cmdlet_prefix_appears_once() {
    let s = store();
    let r = script(&s, "Set-SendConnector Outbound x y");
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr.matches("Set-SendConnector:").count(),
        1,
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("error: Set-SendConnector: a positional parameter cannot be found that accepts argument 'x'"), "{}", r.stderr);
    // The CLI names the cmdlet once too.
    let r = s.run(&["set-sendconnector", "NoSuch", "--port", "26"]);
    assert_eq!(
        r.stderr.matches("Set-SendConnector:").count(),
        1,
        "{}",
        r.stderr
    );
}

#[test]
fn error_action_values_are_validated_before_anything_runs() {
    let s = store();
    let r = script(
        &s,
        "New-SendConnector B -AddressSpaces *; Get-SendConnector -ErrorAction Bogus",
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("'Bogus' is not a valid value for -ErrorAction; valid values are SilentlyContinue, Stop, Continue, Inquire, Ignore, Suspend"), "{}", r.stderr);
    assert!(
        s.run(&["-c", "Get-SendConnector B"]).code != 0,
        "nothing ran"
    );
    for (ea, ok) in [
        ("0", true),
        ("4", true),
        ("2", true),
        ("1", false),
        ("Stop", false),
    ] {
        let r = script(&s, &format!("Get-SendConnector NoSuch -EA {ea}; 'after'"));
        assert_eq!(r.stdout.contains("after"), ok, "-EA {ea}: {}", r.stdout);
    }
    for ea in ["3", "Inquire", "5", "Suspend"] {
        let r = script(&s, &format!("Get-SendConnector -EA {ea}"));
        assert_eq!(r.code, 2);
        assert!(
            r.stderr.contains("is not supported: xshell never prompts"),
            "{}",
            r.stderr
        );
    }
    let r = script(&s, "$a = 'Bogus'; Get-SendConnector -ErrorAction $a");
    assert_eq!(r.code, 2, "a value known only at run time is checked too");
    let r = script(&s, "Get-SendConnector -WarningAction Nope");
    assert_eq!(r.code, 2);
}

#[test]
fn status_error_and_error_variable() {
    let s = store();
    let r = script(
        &s,
        "Get-SendConnector Outbound | Out-Null; $?\n\
         Get-SendConnector NoSuch -ErrorAction SilentlyContinue -ErrorVariable ev; $?\n\
         $ev.Count\n\
         \"$ev\"\n\
         $Error.Count\n\
         $Error[0]\n\
         $Error[0].Exception.Message\n\
         $Error[0].FullyQualifiedErrorId\n\
         $Error[0].CategoryInfo.Category\n\
         Get-SendConnector NoSuch2 -EA Ignore -ErrorVariable +ev\n\
         $ev.Count\n\
         $Error.Count\n\
         Get-SendConnector NoSuch3 -EA SilentlyContinue -ErrorVariable +ev\n\
         $ev.Count\n\
         $Error[0].Exception.Message\n\
         $Error.Clear(); $Error.Count",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, "", "silenced errors are not shown");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "True",
            "False",
            "1",
            "send connector 'NoSuch' was not found",
            "1",
            "Get-SendConnector: send connector 'NoSuch' was not found",
            "send connector 'NoSuch' was not found",
            "ManagementObjectNotFoundException,Get-SendConnector",
            "ObjectNotFound",
            "1",
            "1",
            "2",
            "send connector 'NoSuch3' was not found",
            "0",
        ]
    );
}

#[test]
fn errors_continued_past_still_fail_the_script() {
    let s = store();
    let r = script(
        &s,
        "Get-SendConnector NoSuch -ErrorAction Continue; 'after'",
    );
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("after"));
    assert!(
        r.stderr.contains(
            "<command>:1:1: error: Get-SendConnector: send connector 'NoSuch' was not found"
        ),
        "{}",
        r.stderr
    );
    let r = script(
        &s,
        "$ErrorActionPreference = 'Continue'\nGet-SendConnector NoSuch\n'after'",
    );
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("after"));
    // Silenced or ignored: success.
    let r = script(&s, "Get-SendConnector NoSuch -EA SilentlyContinue; 'after'");
    assert_eq!((r.code, r.stdout.as_str()), (0, "after\n"));
    // The default stops at the first error.
    let r = script(&s, "Get-SendConnector NoSuch; 'after'");
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "");
    let r = script(&s, "$ErrorActionPreference = 'Bogus'");
    assert_eq!(r.code, 2);
}

#[test]
fn every_item_of_a_pipeline_gets_its_own_error() {
    let s = store();
    let r = script(
        &s,
        "'NoSuch','Outbound','Other' | Get-SendConnector -EA SilentlyContinue | ForEach-Object { $_.Name }; $Error.Count",
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "Outbound\n2\n"),
        "{}",
        r.stderr
    );
}

#[test]
fn common_parameters_are_accepted_everywhere() {
    let s = store();
    let r = script(
        &s,
        "Get-SendConnector -Verbose -Debug -OutVariable o | Out-Null\n\
         $o.Name\n\
         Get-SendConnector -OutVariable +o -WarningAction SilentlyContinue -WarningVariable w | Out-Null\n\
         $o.Count\n\
         $w.Count\n\
         Get-SendConnector | Where-Object { $_.Port -eq 25 } -ErrorAction Stop -Verbose | ForEach-Object { $_.Name } -OutVariable n\n\
         $n",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "Outbound\n2\n0\nOutbound\nOutbound\n");
}

#[test]
fn a_misspelled_cmdlet_gets_a_suggestion_and_nothing_runs() {
    let s = store();
    let r = script(&s, "New-SendConnector B -AddressSpaces *\nGet-SendConector");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("<command>:2:1: error: the term 'Get-SendConector' is not recognized as a cmdlet; Get-Command lists them; did you mean Get-SendConnector? (nothing was run)"), "{}", r.stderr);
    let r = script(&s, "Get-SendConnector | Where-Objet { $_ }");
    assert!(
        r.stderr.contains("did you mean Where-Object?"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_closed_output_stops_the_script_quietly() {
    use std::process::{Command, Stdio};
    let s = store();
    for (src, code) in [
        ("Get-SendConnector; Get-SendConnector", 0),
        (
            "Get-SendConnector NoSuch -EA SilentlyContinue; Get-SendConnector",
            0,
        ),
        ("Get-SendConnector NoSuch", 1),
        (
            "Get-SendConnector NoSuch -EA Continue; Get-SendConnector",
            1,
        ),
    ] {
        let mut child = Command::new(common::xshell_bin())
            .arg("--store")
            .arg(s.dir())
            .args(["-c", src])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        drop(child.stderr.take());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(code), "{src}");
    }
}
