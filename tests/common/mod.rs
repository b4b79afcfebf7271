//! Shared helpers for the end-to-end tests: a temporary store, running the
//! `xshell` binary against it, and reading the store file back.
#![allow(dead_code, clippy::unwrap_used)]

use assert_cmd::Command;
use std::path::{Path, PathBuf};
use std::process::Output;

mod bins;
#[allow(unused_imports)]
pub use bins::{engine_bin, xshell_bin};

/// A store folder that disappears with the test.
pub struct TestStore {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

/// What one invocation did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl TestStore {
    /// A fresh, not yet created store (`<tmp>/store`).
    pub fn new() -> TestStore {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("store");
        TestStore { _tmp: tmp, dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    /// `xshell --store <dir>` with no terminal and no inherited store setting.
    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("xshell").unwrap();
        c.arg("--store")
            .arg(&self.dir)
            .env_remove("XSHELL_STORE")
            .env("NO_COLOR", "1")
            .timeout(std::time::Duration::from_secs(30));
        c
    }

    /// Runs xshell with these arguments.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cmd().args(args).output().unwrap())
    }

    /// Runs xshell and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code, 0,
            "xshell {args:?} failed:\nstdout: {}\nstderr: {}",
            r.stdout, r.stderr
        );
        r.stdout
    }

    /// Runs a Get- cmdlet with `-o json` and parses the array it prints.
    pub fn json(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        let out = self.ok(&a);
        match serde_json::from_str(&out).unwrap() {
            serde_json::Value::Array(items) => items,
            other => panic!("-o json printed {other}, not an array"),
        }
    }

    /// The store file's bytes, or None when it does not exist.
    pub fn config_bytes(&self) -> Option<Vec<u8>> {
        match std::fs::read(self.config_path()) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => panic!("cannot read the store file: {e}"),
        }
    }

    /// The store file, parsed.
    pub fn config(&self) -> serde_json::Value {
        serde_json::from_slice(&self.config_bytes().expect("no store file")).unwrap()
    }

    /// The store's revision (0 when there is no file yet).
    pub fn revision(&self) -> u64 {
        match self.config_bytes() {
            None => 0,
            Some(b) => {
                let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
                v["Revision"].as_u64().unwrap()
            }
        }
    }

    /// Runs a command that must fail with `code` and a one-line error on
    /// stderr, leaving the store file byte-for-byte as it was (or absent).
    /// Returns that line.
    pub fn fails(&self, code: i32, args: &[&str]) -> String {
        let before = self.config_bytes();
        let r = self.run(args);
        let after = self.config_bytes();
        assert_eq!(
            r.code, code,
            "xshell {args:?}: expected exit code {code}\nstdout: {}\nstderr: {}",
            r.stdout, r.stderr
        );
        assert!(
            r.stdout.is_empty(),
            "xshell {args:?} failed but printed {}",
            r.stdout
        );
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "xshell {args:?}: the error is not one line:\n{}",
            r.stderr
        );
        assert!(
            lines[0].starts_with("error: "),
            "xshell {args:?}: {}",
            lines[0]
        );
        assert!(
            before == after,
            "xshell {args:?} failed but changed the store file"
        );
        lines[0].to_string()
    }
}

/// Asserts that `line` mentions each of `words`.
pub fn assert_names(line: &str, words: &[&str]) {
    for w in words {
        assert!(line.contains(w), "the error does not name {w}: {line}");
    }
}
