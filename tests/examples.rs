//! Every cmdlet's documented examples run as tests: each against a fresh
//! store, setup statements first, then the example, whose output must contain
//! the expected strings. Examples are written in the shell language; here they
//! run through their generated CLI form, in a fresh folder holding copies of
//! the sample files in tests/data/examples (so file-based examples such as
//! `Import-ExchangeCertificate -Path orga.pfx` run, and write nowhere else).
#![allow(clippy::unwrap_used)]

use assert_cmd::Command;
use xshell_cmdlets::CATALOGUE;
use xshell_cmdlets::docs::example_cli;

fn run_statement(dir: &std::path::Path, code: &str) -> std::process::Output {
    let name = code.split_whitespace().next().unwrap();
    let decl = xshell_cmdlets::find(name).unwrap_or_else(|| panic!("no cmdlet {name} in `{code}`"));
    let argv =
        example_cli(decl, code).unwrap_or_else(|| panic!("example `{code}` has no CLI form"));
    Command::cargo_bin("xshell")
        .unwrap()
        .current_dir(dir)
        .env_remove("XSHELL_PFX_PASSWORD")
        .arg("--store")
        .arg(dir.join("store"))
        .args(argv)
        .output()
        .unwrap()
}

/// The title ending of an example that documents a failing verdict.
const FAILS: &str = "(exit code 1)";

#[test]
fn documented_examples_run_and_show_what_they_promise() {
    let mut count = 0;
    for decl in CATALOGUE {
        assert!(!decl.examples.is_empty(), "{} has no example", decl.name);
        for ex in decl.examples {
            let t = tempfile::tempdir().unwrap();
            let samples =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/examples");
            for f in std::fs::read_dir(samples).unwrap() {
                let f = f.unwrap();
                std::fs::copy(f.path(), t.path().join(f.file_name())).unwrap();
            }
            for s in ex.setup {
                let out = run_statement(t.path(), s);
                assert!(
                    out.status.success(),
                    "{}: setup `{s}` failed: {}",
                    decl.name,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let out = run_statement(t.path(), ex.code);
            let stdout = String::from_utf8_lossy(&out.stdout);
            // An example of a failed Test- verdict says so in its title: it
            // must exit 1 and still show its result.
            let want = if ex.title.ends_with(FAILS) { 1 } else { 0 };
            assert!(
                out.status.code() == Some(want),
                "{}: example `{}` failed: {}",
                decl.name,
                ex.code,
                String::from_utf8_lossy(&out.stderr)
            );
            for e in ex.expect {
                assert!(
                    stdout.contains(e),
                    "{}: example `{}` output lacks {e:?}:\n{stdout}",
                    decl.name,
                    ex.code
                );
            }
            count += 1;
        }
    }
    assert!(count >= CATALOGUE.len());
}
