//! The interactive prompt, driven through a real terminal (tmux): tab
//! completion of cmdlet and parameter names and enum values, a multi-line
//! pipeline, and history recall.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    name: String,
}

impl Tmux {
    fn start(store: &std::path::Path) -> Tmux {
        let bin = assert_cmd::cargo::cargo_bin("xshell");
        Tmux::start_command(
            "",
            &format!("{} --store {}", bin.display(), store.display()),
        )
    }

    /// A session (named after `suffix` and the process) running `command`.
    /// No session's name is a prefix of another's: tmux resolves a target
    /// by prefix, and the tests run in parallel.
    fn start_command(suffix: &str, command: &str) -> Tmux {
        let name = format!("xshell-test{suffix}-{}", std::process::id());
        let status = Command::new("tmux")
            .args(["new-session", "-d", "-x", "160", "-y", "50", "-s", &name])
            .arg(command)
            .env("TERM", "xterm")
            .status()
            .expect("tmux must be installed (the CI installs it)");
        assert!(status.success());
        let t = Tmux { name };
        t.wait_for("[PS] xshell>");
        t
    }

    fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.name])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits (at most 10 s) until the screen contains `text`.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {text:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last prompt line on the screen.
    fn current_line(&self) -> String {
        self.screen()
            .lines()
            .rev()
            .find(|l| l.starts_with("[PS] xshell>"))
            .unwrap_or("")
            .to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

fn wait_line(t: &Tmux, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while t.current_line().trim_end() != want {
        assert!(
            Instant::now() < deadline,
            "prompt line is {:?}, want {want:?}\n{}",
            t.current_line(),
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn completion_multiline_pipeline_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::start(dir.path());

    // Cmdlet name.
    t.keys(&["New-SendC", "Tab"]);
    wait_line(&t, "[PS] xshell> New-SendConnector");
    // Parameter name, then enum value.
    t.keys(&[" Outbound -AddressS", "Tab"]);
    wait_line(&t, "[PS] xshell> New-SendConnector Outbound -AddressSpaces");
    t.keys(&[" * -Usa", "Tab"]);
    wait_line(
        &t,
        "[PS] xshell> New-SendConnector Outbound -AddressSpaces * -Usage",
    );
    t.keys(&[" Interne", "Tab"]);
    wait_line(
        &t,
        "[PS] xshell> New-SendConnector Outbound -AddressSpaces * -Usage Internet",
    );
    t.keys(&["Enter"]);
    t.wait_for("SMTP:*;1");

    // A pipeline over two lines: a trailing | asks for more.
    t.keys(&["Get-SendConnector |", "Enter"]);
    t.keys(&["Format-List Name,Usage", "Enter"]);
    t.wait_for("Usage : Internet");

    // History: Up recalls the previous entry (the two-line pipeline).
    t.keys(&["C-l"]);
    t.keys(&["Up"]);
    t.wait_for("Format-List Name,Usage");
    t.keys(&["C-c"]);
    t.keys(&["C-d"]);
    // History persisted in the store folder.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dir.path().join("history").exists() {
        assert!(Instant::now() < deadline, "no history file");
        std::thread::sleep(Duration::from_millis(50));
    }
    let h = std::fs::read_to_string(dir.path().join("history")).unwrap();
    assert!(
        h.contains("New-SendConnector Outbound -AddressSpaces * -Usage Internet"),
        "{h}"
    );
}

#[test]
fn functions_persist_across_lines_and_exit_ends_the_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("xshell");
    let t = Tmux::start_command(
        "-exit",
        &format!(
            "sh -c '{} --store {}; echo EXITED=$?; sleep 30'",
            bin.display(),
            dir.path().display()
        ),
    );
    t.keys(&["function Get-Twice($x) { $x * 2 }", "Enter"]);
    t.keys(&["Get-Twice 21", "Enter"]);
    t.wait_for("42");
    t.keys(&["Get-SendConnector NoSuch -EA SilentlyContinue; $?", "Enter"]);
    t.wait_for("False");
    // An error inside a function defined earlier points at the call.
    t.keys(&["function Get-Missing { Get-SendConnector NoSuch }", "Enter"]);
    t.keys(&["'x'; Get-Missing", "Enter"]);
    t.wait_for("<prompt:5>:1:6: error: Get-SendConnector: send connector 'NoSuch' was not found");
    t.keys(&["exit 3", "Enter"]);
    t.wait_for("EXITED=3");
}
