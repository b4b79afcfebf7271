//! Sync-OrganizationConfig: converge the store to an organization file.

use super::MAX_FILE;
use super::file::{self, Partial};
use super::plan::{Import, converge, diff};
use crate::bind::Bound;
use crate::certificate::import::Prepared;
use crate::certificate::{PASSWORD_ENV, commit_with_keys};
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::Value;
use std::path::{Path, PathBuf};
use xshell_core::certificates as certs;
use xshell_core::model::OrgConfig;
use xshell_core::pki::PkiError;
use zeroize::Zeroizing;

params!(p {
    Path: String = param(Kind::Path, "The organization file (YAML).")
        .position(0)
        .mandatory(),
    Prune: bool = param(
        Kind::Switch,
        "Also remove connectors, accepted domains and trusted roots the file does not list."
    ),
    DryRun: bool = param(Kind::Switch, "Print the plan only (same as -WhatIf)."),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Sync-OrganizationConfig",
    aliases: &["apply"],
    synopsis: "Make the store match an organization file (YAML from Export-OrganizationConfig), in one transaction.",
    description: "Reads the file, checks every object with the rules the cmdlets apply (alone and against the \
others), prints the plan (`+` create, `~` change, `-` remove) and applies it as one new revision. Sections the file \
leaves out are not touched; the objects of a section are created or replaced by name, and with -Prune the \
connectors, accepted domains and trusted roots the file does not list are removed (certificates are never \
removed). A certificate the store lacks is imported from its Source (Path relative to the file; password from \
PasswordFile, PasswordEnv or XSHELL_PFX_PASSWORD), then Services, FriendlyName and DefaultSmtp are set as the \
file says. A malformed file is refused with its line and column, and nothing is written; applying the same file \
again prints \"No changes\" and keeps the revision. -WhatIf (or -DryRun) prints the plan only.",
    params: p::LIST,
    sets: &[],
    impact: Impact::Medium,
    outputs: "The plan, one line per change, then a summary line.",
    examples: &[
        Example {
            title: "Provision an organization from a file (tests/data/examples/org.yaml)",
            code: "Sync-OrganizationConfig -Path org.yaml",
            setup: &[],
            expect: &[
                "+ SendConnector Outbound",
                "+ ExchangeCertificate 4F7B2F9AC8244F2042F6DBC515931CE7E295A961 (imported from orga.pfx)",
                "Applied 7 changes",
            ],
        },
        Example {
            title: "Undo a change made by hand since the file was exported; -Prune removes what the file lacks",
            code: "Sync-OrganizationConfig -Path org.yaml -Prune",
            setup: &[
                "New-SendConnector Outbound -AddressSpaces *",
                "Export-OrganizationConfig -Path org.yaml",
                "Set-SendConnector Outbound -RequireTLS:$true",
                "New-SendConnector Extra -AddressSpaces extra.example",
            ],
            expect: &[
                "~ SendConnector Outbound: RequireTLS True -> False",
                "- SendConnector Extra",
            ],
        },
    ],
    run,
};

/// Reads the Sources of the certificates the store lacks.
fn read_sources(
    org: &file::OrgFile,
    cfg: &OrgConfig,
    base: &Path,
) -> Result<Vec<Import>, CmdletError> {
    let mut imports = Vec::new();
    for Partial(entry) in org.certificates.iter().flatten() {
        let tp = &entry.thumbprint;
        if certs::find(cfg, tp).is_some() {
            continue;
        }
        let Some(src) = &entry.source else {
            continue; // converge() names the certificate and says to set Source
        };
        let fail = |m: String| CmdletError::Failed(format!("certificate {tp}: Source: {m}"));
        let path = resolve(base, &src.path);
        let data = crate::certificate::read_file("Path", &path.to_string_lossy())
            .map_err(|e| fail(e.to_string()))?;
        let password: Option<Zeroizing<String>> = match (&src.password_file, &src.password_env) {
            (Some(f), _) => {
                let p = resolve(base, f);
                let bytes = Zeroizing::new(
                    crate::certificate::read_file("PasswordFile", &p.to_string_lossy())
                        .map_err(|e| fail(e.to_string()))?,
                );
                let text = std::str::from_utf8(&bytes)
                    .map_err(|_| fail(format!("{} is not UTF-8 text", p.display())))?;
                Some(Zeroizing::new(
                    text.lines().next().unwrap_or_default().to_string(),
                ))
            }
            (None, Some(var)) => Some(Zeroizing::new(std::env::var(var).map_err(|_| {
                fail(format!(
                    "the environment variable {var} (PasswordEnv) is not set"
                ))
            })?)),
            (None, None) => std::env::var(PASSWORD_ENV).ok().map(Zeroizing::new),
        };
        let prepared = Prepared::decode(&data, password.as_ref().map(|p| p.as_str())).map_err(
            |e| match e {
                PkiError::PasswordRequired => fail(format!(
                    "{} needs a password: set PasswordFile or PasswordEnv",
                    src.path
                )),
                other => fail(format!("cannot import {}: {other}", src.path)),
            },
        )?;
        if prepared.thumbprint() != tp {
            return Err(fail(format!(
                "{} holds certificate {}, not {tp}",
                src.path,
                prepared.thumbprint()
            )));
        }
        imports.push(Import {
            prepared,
            source: src.path.clone(),
            exportable: src.private_key_exportable,
        });
    }
    Ok(imports)
}

/// The plan; a certificate to import says where from.
fn plan_lines(cur: &OrgConfig, next: &OrgConfig, imports: &[Import]) -> Vec<String> {
    let mut lines = diff(cur, next);
    for line in &mut lines {
        if let Some(tp) = line.strip_prefix("+ ExchangeCertificate ")
            && let Some(i) = imports.iter().find(|i| i.prepared.thumbprint() == tp)
        {
            line.push_str(&format!(" (imported from {})", i.source));
        }
    }
    lines
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let path = b.get(p::Path).unwrap_or_default();
    let prune = b.switch(p::Prune);
    if b.switch(p::DryRun) {
        ctx.what_if = true;
    }
    let meta = std::fs::metadata(&path)
        .map_err(|e| CmdletError::bad_value("Path", format!("cannot read '{path}': {e}")))?;
    if meta.len() > MAX_FILE {
        return Err(CmdletError::bad_value(
            "Path",
            format!("'{path}' is larger than 16 MB; it is not an organization file"),
        ));
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CmdletError::bad_value("Path", format!("cannot read '{path}': {e}")))?;
    let org = file::parse(&path, &text)?;
    let base = Path::new(&path)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();

    let snapshot = ctx.store.snapshot()?;
    let imports = read_sources(&org, &snapshot, &base)?;
    let next = converge(&snapshot, &org, &imports, prune)?;
    let plan = plan_lines(&snapshot, &next, &imports);
    let mut out: Vec<Value> = plan.iter().map(Value::str).collect();
    if plan.is_empty() {
        out.push(Value::str(format!(
            "No changes: the store already matches {path}."
        )));
        return Ok(out);
    }
    let keys: Vec<(&str, &[u8])> = imports.iter().filter_map(|i| i.prepared.key()).collect();
    let done = commit_with_keys(
        ctx,
        "Sync organization configuration",
        &path,
        &keys,
        || Ok(()),
        |cfg| {
            let next = converge(cfg, &org, &imports, prune)?;
            if plan_lines(cfg, &next, &imports) != plan {
                return Err(CmdletError::Conflict(
                    "the store changed while the file was applied; run the command again".into(),
                ));
            }
            *cfg = next;
            Ok(())
        },
    )?;
    if done.is_some() {
        let revision = ctx.store.snapshot()?.revision;
        let n = plan.len();
        out.push(Value::str(format!(
            "Applied {n} change{}; the store is at revision {revision}.",
            if n == 1 { "" } else { "s" }
        )));
    }
    Ok(out)
}
