//! The cmdlet reference in docs/cmdlets is generated from the declarations;
//! this guards it against drifting. Regenerate with `cargo run -- gen-docs`.
#![allow(clippy::unwrap_used)]

use xshell_cmdlets::{CATALOGUE, docs};

#[test]
fn cmdlet_reference_is_current() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cmdlets");
    let mut stale = Vec::new();
    for d in CATALOGUE {
        let p = dir.join(format!("{}.md", d.name));
        if std::fs::read_to_string(&p).ok().as_deref() != Some(docs::markdown(d).as_str()) {
            stale.push(p.display().to_string());
        }
    }
    let idx = dir.join("README.md");
    if std::fs::read_to_string(&idx).ok().as_deref() != Some(docs::index(CATALOGUE).as_str()) {
        stale.push(idx.display().to_string());
    }
    assert!(
        stale.is_empty(),
        "stale generated docs (run `cargo run -- gen-docs`): {stale:?}"
    );
}

#[test]
fn every_parameter_is_documented_and_flags_are_unique() {
    for d in CATALOGUE {
        let mut flags = std::collections::HashSet::new();
        for p in d.all_params() {
            assert!(
                !p.help.trim().is_empty(),
                "{} -{} has no help",
                d.name,
                p.name
            );
            assert!(
                flags.insert(p.flag()),
                "{}: duplicate flag --{}",
                d.name,
                p.flag()
            );
        }
    }
}
