//! The shell language end to end through the binary: error handling
//! (-ErrorAction, $?, $Error, -ErrorVariable, exit codes, suggestions) and the
//! constructs administrators write around the cmdlets.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/openssl.rs"]
mod openssl;

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
fn a_bad_value_points_at_its_parameter() {
    let s = store();
    let r = script(&s, "Set-SendConnector Outbound -Comment x -Port abc");
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("<command>:1:39: error: Set-SendConnector: cannot bind parameter 'Port': 'abc' is not a whole number"),
        "{}",
        r.stderr
    );
}

#[test]
fn under_continue_a_failed_statement_is_shown_and_the_script_goes_on() {
    let s = store();
    // As in PowerShell: the statement fails, the next one runs; the exit code tells.
    for pref in ["Continue", "SilentlyContinue", "Ignore"] {
        let r = script(
            &s,
            &format!(
                "$ErrorActionPreference = '{pref}'\nSet-SendConnector Outbound -Prtt 1\n$?\n[int]'x'\n'after'"
            ),
        );
        assert_eq!(r.code, 2, "{pref}: {}", r.stderr);
        assert_eq!(r.stdout, "False\nafter\n", "{pref}");
        assert!(r.stderr.contains("<command>:2:29: error: Set-SendConnector: a parameter cannot be found that matches parameter name 'Prtt'; did you mean -Port?"), "{pref}: {}", r.stderr);
        assert!(
            r.stderr
                .contains("<command>:4:1: error: cannot convert 'x' to [int]"),
            "{pref}: {}",
            r.stderr
        );
    }
    // throw stops the script whatever the preference; a try still catches.
    let r = script(
        &s,
        "$ErrorActionPreference = 'Continue'; throw 'x'; 'after'",
    );
    assert_eq!((r.code, r.stdout.as_str()), (1, ""));
    let r = script(
        &s,
        "$ErrorActionPreference = 'Continue'; try { Set-SendConnector -Bogus; 'no' } catch { 'caught' }",
    );
    assert_eq!((r.code, r.stdout.as_str()), (0, "caught\n"), "{}", r.stderr);
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
    let r = script(&s, "Get-SendConnector -ErrorActoin Stop");
    assert!(
        r.stderr.contains("did you mean -ErrorAction?"),
        "{}",
        r.stderr
    );
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
        // Output, then an error, in one statement: the error decides.
        (
            "foreach ($n in 'Outbound', 'NoSuch') { Get-SendConnector $n }",
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

/// Runs `src` and returns its standard output, failing on a non-zero exit.
fn out(s: &TestStore, src: &str) -> String {
    let r = script(s, src);
    assert_eq!(r.code, 0, "{src}\n{}", r.stderr);
    r.stdout
}

#[test]
fn conditionals_and_loops() {
    let s = store();
    assert_eq!(
        out(
            &s,
            "$c = Get-SendConnector Outbound\n\
             if ($c.Port -eq 587) { 'submission' }\n\
             elseif ($c.Port -eq 25) { 'smtp' }\n\
             else { 'other' }"
        ),
        "smtp\n"
    );
    assert_eq!(
        out(
            &s,
            "foreach ($n in 'A','B','C') { if ($n -eq 'B') { continue }; New-SendConnector $n -AddressSpaces * | Out-Null }\n\
             foreach ($c in Get-SendConnector) { $c.Name }"
        ),
        "Outbound\nA\nC\n"
    );
    assert_eq!(
        out(
            &s,
            "$i = 0; while ($true) { $i++; if ($i -ge 3) { break } }; $i"
        ),
        "3\n"
    );
    assert_eq!(
        out(&s, "$i = 10; do { $i -= 4 } while ($i -gt 0); $i"),
        "-2\n"
    );
    assert_eq!(out(&s, "$i = 0; do { $i++ } until ($i -eq 2); $i"), "2\n");
    assert_eq!(
        out(
            &s,
            "for ($i = 1; $i -le 3; $i++) { \"#$i\" }; $s = 0; foreach ($n in 1..4) { $s += $n }; $s"
        ),
        "#1\n#2\n#3\n10\n"
    );
    // `$x = if/foreach` takes the statement's output.
    assert_eq!(
        out(
            &s,
            "$names = foreach ($c in Get-SendConnector) { $c.Name.ToLower() }; $names -join '+'\n$k = if ($names.Count -gt 2) { 'many' } else { 'few' }; $k"
        ),
        "outbound+a+c\nmany\n"
    );
}

#[test]
fn try_catch_finally_and_throw() {
    let s = store();
    // A cmdlet error (stopping by default) is caught; $_ is the error record.
    assert_eq!(
        out(
            &s,
            "try { Get-SendConnector NoSuch; 'not reached' }\n\
             catch { \"caught: $($_.Exception.Message) [$($_.CategoryInfo.Category)]\" }\n\
             finally { 'finally' }\n\
             'after'"
        ),
        "caught: send connector 'NoSuch' was not found [ObjectNotFound]\nfinally\nafter\n"
    );
    // Typed catches pick by exception type; unrelated types do not catch.
    assert_eq!(
        out(
            &s,
            "try { Get-SendConnector NoSuch } catch [System.IO.IOException] { 'io' } catch [Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException] { 'notfound' }"
        ),
        "notfound\n"
    );
    let r = script(
        &s,
        "try { Get-SendConnector NoSuch } catch [System.IO.IOException] { 'io' } finally { 'fin' }",
    );
    assert_eq!((r.code, r.stdout.as_str()), (1, "fin\n"), "{}", r.stderr);
    // Binding errors are caught too (they are terminating).
    assert_eq!(
        out(
            &s,
            "try { Set-SendConnector Outbound -Prtt 1 } catch { $_.FullyQualifiedErrorId }"
        ),
        "ParameterBindingException,Set-SendConnector\n"
    );
    // -ErrorAction SilentlyContinue inside try: not an exception, as in PowerShell.
    assert_eq!(
        out(
            &s,
            "try { Get-SendConnector NoSuch -EA SilentlyContinue; 'went on' } catch { 'caught' }"
        ),
        "went on\n"
    );
    // throw: a message, an object, a rethrow.
    assert_eq!(
        out(
            &s,
            "try { throw \"disk full\" } catch { $_.Exception.Message; $_.TargetObject }"
        ),
        "disk full\ndisk full\n"
    );
    let r = script(&s, "'before'\nthrow \"stop here: $(1+1)\"\n'after'");
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "before\n");
    assert!(
        r.stderr.contains("<command>:2:1: error: stop here: 2"),
        "{}",
        r.stderr
    );
    let r = script(
        &s,
        "try { Get-SendConnector NoSuch } catch { 'log'; throw }",
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("Get-SendConnector: send connector 'NoSuch' was not found"),
        "{}",
        r.stderr
    );
    assert_eq!(
        out(
            &s,
            "try { throw } catch { $_.Exception.Message }; $Error.Count"
        ),
        "ScriptHalted\n1\n"
    );
}

#[test]
fn here_strings_format_and_string_operators() {
    let s = store();
    let src = "$c = Get-SendConnector Outbound\n\
               $report = @\"\n\
               Connector: $($c.Name)\n\
               \x20 \"port\" $($c.Port)\n\
               \"@\n\
               $report\n\
               $raw = @'\n\
               $c.Name stays\n\
               '@\n\
               $raw";
    assert_eq!(
        out(&s, src),
        "Connector: Outbound\n  \"port\" 25\n$c.Name stays\n"
    );
    assert_eq!(
        out(
            &s,
            "'{0,-10}|{1,6}|{2:N0}|{3:N2}|{4:D3}|{5:X}|{{}}' -f 'Outbound', 25, 1234567, 1234.5, 7, 255"
        ),
        "Outbound  |    25|1,234,567|1,234.50|007|FF|{}\n"
    );
    assert_eq!(
        out(
            &s,
            "'mail.contoso.com' -replace '^(\\w+)\\.(.+)$', '$2 ($1)'\n\
             ('a, b,c' -split ',\\s*') -join '|'\n\
             -join ('x', 'y')\n\
             'ab' * 3\n\
             ('a', 'b') + 'c' -join ''\n\
             if ('Server EX01 up' -match 'Server (?<name>\\w+)') { $Matches.name; $Matches[0] }\n\
             'x' -notmatch 'y'"
        ),
        "contoso.com (mail)\na|b|c\nxy\nababab\nabc\nEX01\nServer EX01\nTrue\n"
    );
}

#[test]
fn operators_null_comparisons_and_types() {
    let s = store();
    assert_eq!(
        out(
            &s,
            "7 % 3; 10 / 4; 10 / 5; 2 + 3 * 4; 'a' + 'b'\n\
             $x = $null; $null -eq $x; $x -ne $null\n\
             $l = 'a', $null, 'b'; ($l -ne $null).Count; $null -eq $l\n\
             'SMTP' -in 'IMAP','SMTP'; 'POP' -notin 'IMAP','SMTP'; ('IMAP','SMTP') -contains 'smtp'; ('IMAP') -notcontains 'POP'\n\
             5 -is [int]; '5' -is [int]; '5' -isnot [int]; ('5' -as [int]) + 1; 'x' -as [int]\n\
             [int]'42' + 1; [string]42 + 1; [bool]''; [int]2.5; [long]'0x10'\n\
             ([byte[]]'AB') -join ','; ([byte[]](1, 255)).Count; ([array]'one').Count\n\
             [int]$n = '12'; $n + 1\n\
             $i = 5; $i += 2; $i -= 1; $i *= 3; $i /= 2; $i %= 5; $i; $i++; $i; --$i; $i\n\
             $a = 1, 2; $a += 3; $a.Count\n\
             $unset1 += 5; $unset1; $unset2++; $unset2; $unset3 += 'x'; $unset3"
        ),
        "1\n2.5\n2\n14\nab\nTrue\nFalse\n2\nFalse\nTrue\nTrue\nTrue\nTrue\n\
         True\nFalse\nTrue\n6\n\
         43\n421\nFalse\n2\n16\n65,66\n2\n1\n13\n4\n5\n4\n3\n5\n1\nx\n"
    );
    assert_eq!(
        out(
            &s,
            "$gb = 10 / 4; $gb + 1; $gb -lt 10; $gb * 2; [Math]::Round($gb * 1.1, 2); '{0:N1}' -f ($gb / 2)"
        ),
        "3.5\nTrue\n5\n2.75\n1.3\n"
    );
    let r = script(&s, "[int]'abc'");
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("<command>:1:1: error: cannot convert 'abc' to [int]"),
        "{}",
        r.stderr
    );
    let r = script(
        &s,
        "([datetime]'03/13/2024 09:00:00').AddDays(1).ToString('yyyy-MM-dd HH:mm')",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "2024-03-14 09:00\n");
    let r = script(&s, "[datetime]'not a date'");
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not a date"), "{}", r.stderr);
}

#[test]
fn static_members() {
    let s = store();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("a.txt");
    std::fs::write(&f, "one\ntwo\n").unwrap();
    let p = f.display();
    assert_eq!(
        out(
            &s,
            &format!(
                "[IO.File]::ReadAllText('{p}').Length\n\
                 ([System.IO.File]::ReadAllBytes('{p}'))[0]\n\
                 [System.IO.File]::Exists('{p}'); [IO.File]::Exists('{p}.no')\n\
                 [Math]::Round(2.5); [Math]::Round(3.14159, 2); [Math]::Floor(2.7); [Math]::Ceiling(2.1); [Math]::Max(3, 9); [Math]::Min(3, 9)\n\
                 [string]::IsNullOrEmpty(''); [string]::IsNullOrEmpty('x'); [string]::Join(', ', @('a', 'b'))\n\
                 [int]::MaxValue"
            )
        ),
        "8\n111\nTrue\nFalse\n2\n3.14\n2\n3\n9\n3\nTrue\nFalse\na, b\n2147483647\n"
    );
    let r = script(
        &s,
        r"[System.IO.File]::ReadAllBytes('c:\certificates\import.pfx')",
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is a Windows path"), "{}", r.stderr);
    let r = script(&s, "[System.IO.File]::Delete('x')");
    assert!(
        r.stderr
            .contains("[System.IO.File]::Delete() is not supported by xshell"),
        "{}",
        r.stderr
    );
}

#[test]
fn import_exchange_certificate_from_file_data() {
    let s = TestStore::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = openssl::self_signed(
        d,
        "leaf",
        "pem",
        "mail.orga.example",
        openssl::Key::EcP256,
        true,
    );
    openssl::run(
        d,
        &[
            "pkcs12",
            "-export",
            "-inkey",
            &f.key.display().to_string(),
            "-in",
            &f.cert.display().to_string(),
            "-out",
            "leaf.pfx",
            "-passout",
            "pass:S3cret-pfx",
        ],
    );
    let pfx = d.join("leaf.pfx");
    let r = script(
        &s,
        &format!(
            "$cert = Import-ExchangeCertificate -FileData ([System.IO.File]::ReadAllBytes('{}')) -Password 'S3cret-pfx'\n\
             $cert.Subject\n\
             (Get-ExchangeCertificate).Count",
            pfx.display()
        ),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("mail.orga.example"), "{}", r.stdout);
    assert!(r.stdout.ends_with("1\n"), "{}", r.stdout);
    // [byte[]] of a list of ints binds too; a non-byte is refused.
    let r = script(
        &s,
        "Import-ExchangeCertificate -FileData ([byte[]](1, 2, 300)) -Password x",
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("300 is not a byte"), "{}", r.stderr);
}

#[test]
fn functions() {
    let s = store();
    assert_eq!(
        out(
            &s,
            "function Get-Port {\n\
               param([string]$Name = 'Outbound', [switch]$Plus)\n\
               $p = (Get-SendConnector $Name).Port\n\
               if ($Plus) { return $p + 1 }\n\
               $p\n\
             }\n\
             Get-Port; Get-Port -Plus; Get-Port Outbound -P\n\
             function Add($a, $b) { $a + $b; \"rest: $args\" }\n\
             Add 1 2 3 4\n\
             $p = 'outer'; function Set-P { $p = 'inner'; $p }; Set-P; $p\n\
             function Set-Script { $script:q = 'set' }; Set-Script; $q"
        ),
        "25\n26\n26\n3\nrest: 3 4\ninner\nouter\nset\n"
    );
    // A function's parameters get suggestions; it is a command for the up-front check.
    let r = script(&s, "function Get-Port($Name) { 1 }; Get-Port -Nmae x");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("did you mean -Name?"), "{}", r.stderr);
    let r = script(&s, "New-SendConnector Z -AddressSpaces *; Get-Prot");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("nothing was run"), "{}", r.stderr);
    let r = script(&s, "function f { f }; f");
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("too deeply nested"), "{}", r.stderr);
}

#[test]
fn redirection() {
    let s = store();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("out.txt");
    let p = f.display();
    let r = script(
        &s,
        &format!(
            "'one' > '{p}'; 'two' >> '{p}'\n\
             Get-SendConnector NoSuch 2>$null; \"after: $?\"\n\
             $e = Get-SendConnector NoSuch 2>&1; \"merged: $e\"\n\
             Get-SendConnector NoSuch2 *>$null\n\
             'x' > $null\n\
             Get-SendConnector Outbound | Out-Null\n\
             $Error.Count"
        ),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, "");
    assert_eq!(
        r.stdout,
        "after: False\nmerged: send connector 'NoSuch' was not found\n3\n"
    );
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "one\ntwo\n");
    // Objects are written as the shell shows them; 2> file gets the messages.
    let e = dir.path().join("err.txt");
    let r = script(
        &s,
        &format!(
            "Get-SendConnector > '{p}'; Get-SendConnector NoSuch 2> '{}'",
            e.display()
        ),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(std::fs::read_to_string(&f).unwrap().contains("Outbound"));
    assert_eq!(
        std::fs::read_to_string(&e).unwrap(),
        "Get-SendConnector: send connector 'NoSuch' was not found\n"
    );
    // Binding errors are not redirected away.
    let r = script(&s, "Set-SendConnector Outbound -Bogus 1 2>$null; 'after'");
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout, "");
}

#[test]
fn exit_codes_from_exit() {
    let s = store();
    let r = script(&s, "'a'; exit 3; 'b'");
    assert_eq!((r.code, r.stdout.as_str()), (3, "a\n"));
    assert_eq!(script(&s, "exit").code, 0);
    assert_eq!(
        script(&s, "Get-SendConnector NoSuch -EA Continue; exit 0").code,
        0
    );
}

#[test]
fn a_script_param_block_sets_defaults() {
    let s = store();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("check.ps1");
    std::fs::write(
        &f,
        "[CmdletBinding()]\nparam(\n  [string]$Name = 'Outbound',\n  [int]$Port = '25',\n  [switch]$Fix,\n  $Other\n)\n\
         (Get-SendConnector $Name).Port -eq $Port\n$Fix\n$null -eq $Other\n",
    )
    .unwrap();
    let r = s.run(&["-f", &f.display().to_string()]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "True\nFalse\nTrue\n"),
        "{}",
        r.stderr
    );
}

#[test]
fn switch_statement() {
    let s = store();
    assert_eq!(
        out(
            &s,
            "foreach ($n in 'EX01', 'mail', 'EX02-long-name', 7) {\n\
               switch -Wildcard ($n) {\n\
                 'EX*' { \"$_ is exchange\" }\n\
                 { \"$_\".Length -gt 9 } { \"$_ is long\"; break }\n\
                 7 { 'seven' }\n\
                 default { \"$_ is other\" }\n\
               }\n\
             }\n\
             switch (1, 2, 3) { 2 { continue } default { \"d$_\" } }\n\
             switch -Regex ('port 2525') { 'port (\\d+)' { $Matches[1] } }\n\
             switch ('A') { 'a' { 'insensitive' } }\n\
             switch -CaseSensitive ('A') { 'a' { 'no' } default { 'sensitive' } }"
        ),
        "EX01 is exchange\nmail is other\nEX02-long-name is exchange\nEX02-long-name is long\nseven\n\
         d1\nd3\n2525\ninsensitive\nsensitive\n"
    );
}

#[test]
fn assigning_keys_items_and_properties() {
    let s = store();
    assert_eq!(
        out(
            &s,
            "$count = @{}\n\
             foreach ($c in Get-SendConnector) { $count[$c.Name] = $c.Port }\n\
             $count.Outbound; $count.Extra = 1; $count.Extra += 4; $count['extra']\n\
             $l = 1, 2, 3; $l[-1] = 9; $l[0]++; $l -join ','\n\
             $o = [pscustomobject]@{ Name = 'a' }; $o.Name = 'b'; $o.Name\n\
             $n = @{ x = @{ y = 1 } }; $n.x.y = 7; $n.x.y"
        ),
        "25\n5\n2,2,9\nb\n7\n"
    );
    for (src, message) in [
        (
            "$l = 1, 2; $l[5] = 0",
            "index 5 is outside the list of 2 item(s)",
        ),
        (
            "$c = Get-SendConnector Outbound; $c.Port = 26",
            "cannot set 'Port' on a SendConnector: objects are changed with Set- cmdlets",
        ),
        (
            "$o = [pscustomobject]@{ A = 1 }; $o.B = 2",
            "property 'B' cannot be found on this object",
        ),
        ("$z = $null; $z[0] = 1", "cannot index into a null value"),
    ] {
        let r = script(&s, src);
        assert_eq!(r.code, 1, "{src}");
        assert!(r.stderr.contains(message), "{src}: {}", r.stderr);
    }
}

#[test]
fn string_methods_admins_use() {
    let s = store();
    let r = script(
        &s,
        "'EX01\\Default Frontend'.Split('\\')[1]; 'a,b;c'.Split(',', ';').Count; 'mail.contoso.com'.Substring(5); 'mail.contoso.com'.Substring(0, 4)
'abc'.IndexOf('c'); 'abc'.IndexOf('z'); '7'.PadLeft(3, '0'); 'xxhixx'.Trim('x'); (1, 2, 3).Contains(2); 'abc'.Replace('b', 'B')",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "Default Frontend\n3\ncontoso.com\nmail\n2\n-1\n007\nhi\nTrue\naBc\n"
    );
    let r = script(&s, "'abc'.Substring(2, 5)");
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("outside the text"), "{}", r.stderr);
}

#[test]
fn splatting_passes_a_hashtable_as_parameters() {
    let s = store();
    let r = script(
        &s,
        "$p = @{ Name = 'Partner'; AddressSpaces = 'contoso.com', 'fabrikam.com'; Port = 2525 }
New-SendConnector @p | Out-Null
$s = @{ Identity = 'Partner'; DomainSecureEnabled = $true }
Set-SendConnector @s
$l = @('Partner')
(Get-SendConnector @l).DomainSecureEnabled; (Get-SendConnector Partner).Port",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "True\n2525\n");
    // A misspelled key is a binding error like any other.
    let r = script(
        &s,
        "$p = @{ Identity = 'Partner'; Prot = 25 }; Set-SendConnector @p",
    );
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("Prot"), "{}", r.stderr);
    // Outside a command's arguments it says what to write instead.
    let r = script(&s, "$p = 1; @p");
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("here use $p"), "{}", r.stderr);
}

#[test]
fn encodings_and_base64_for_certificate_files() {
    let s = store();
    let r = script(
        &s,
        "([System.Text.Encoding]::Unicode.GetBytes('RE')) -join ','
[System.Text.Encoding]::UTF8.GetString([System.Text.Encoding]::UTF8.GetBytes('h\u{e9}llo'))
[Convert]::ToBase64String([Text.Encoding]::ASCII.GetBytes('hi'))
[Text.Encoding]::Unicode.GetString([Convert]::FromBase64String('aABpAA=='))",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "82,0,69,0\nh\u{e9}llo\naGk=\nhi\n");
    let r = script(&s, "[Convert]::FromBase64String('***')");
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not base64"), "{}", r.stderr);
}

#[test]
fn new_object_credentials_and_get_type() {
    let s = store();
    let r = script(
        &s,
        "$c = New-Object System.Management.Automation.PSCredential('CONTOSO\\relay', (ConvertTo-SecureString 'S3cret-x' -AsPlainText -Force))
$c.UserName; $c.GetType().Name; $c | ConvertTo-Json -Compress; \"$($c.Password)\"
(New-Object -TypeName PSObject -Property @{Name = 'Outbound'; Port = 25}).Port
(1).GetType().FullName; 'x'.GetType().Name; (Get-Date).GetType().Name",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !r.stdout.contains("S3cret-x"),
        "a password is never shown: {}",
        r.stdout
    );
    assert_eq!(
        r.stdout,
        "CONTOSO\\relay\nPSCredential\n{\"UserName\":\"CONTOSO\\\\relay\",\"Password\":\"System.Security.SecureString\"}\nSystem.Security.SecureString\n25\nSystem.Int32\nString\nDateTime\n"
    );
    let r = script(&s, "New-Object PSCredential('u', 'plain')");
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("secure string"), "{}", r.stderr);
    let r = script(&s, "New-Object System.Net.WebClient");
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("not a type xshell creates"),
        "{}",
        r.stderr
    );
}
