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

/// The guide's daily checks: every line parses, names real cmdlets, and
/// gives each cmdlet only parameters it has (a typo in the documentation
/// would teach it).
#[test]
fn the_guides_daily_checks_name_real_cmdlets_and_parameters() {
    use xshell::lang::{Arg, PipelineElement, StatementKind, parse_script};
    let guide = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/guide.md"),
    )
    .unwrap();
    let section = guide
        .split("## Daily checks")
        .nth(1)
        .expect("docs/guide.md has a Daily checks section");
    let mut lines = 0;
    for (i, block) in section.split("```").enumerate() {
        if i % 2 == 0 {
            continue;
        }
        for line in block.lines().filter(|l| !l.trim().is_empty()) {
            lines += 1;
            let script = parse_script(line).unwrap_or_else(|e| panic!("{line}: {e:?}"));
            xshell::shell::check_commands(&script).unwrap_or_else(|e| panic!("{line}: {e:?}"));
            for st in &script.statements {
                let StatementKind::Pipeline(p) = &st.kind else {
                    continue;
                };
                for el in &p.elements {
                    let PipelineElement::Command(c) = el else {
                        continue;
                    };
                    let Some(decl) = xshell_cmdlets::find(&c.name.text) else {
                        continue;
                    };
                    for a in &c.args {
                        if let Arg::Parameter { name, .. } = a {
                            xshell_cmdlets::bind::resolve_param(decl, name)
                                .unwrap_or_else(|e| panic!("{line}: {e}"));
                        }
                    }
                }
            }
        }
    }
    assert!(lines >= 15, "only {lines} lines checked");
}
