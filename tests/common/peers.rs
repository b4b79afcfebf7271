//! A test whose peer (Postfix, smtp-sink, root) is missing on this machine.
//!
//! A developer's machine may lack a peer: the test is skipped, with a line
//! saying what to install. Under CI (`CI` set and not `false`, as CI runs
//! `.ci/run`) the test fails instead, so CI never goes green on a machine
//! that lacks the peers its tests need.

/// Reports the missing peer: panics under CI, else prints why the test is
/// skipped. The caller returns right after.
pub fn missing(why: &str) {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(!ci, "a peer this test needs is missing under CI: {why}");
    eprintln!("SKIPPED: {why}");
}
