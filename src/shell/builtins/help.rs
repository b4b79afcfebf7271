//! Get-Help and Get-Command.

use super::{BUILTINS, args, usage};
use crate::lang::Command;
use crate::shell::{R, Shell};
use xshell_cmdlets::value::{Object, View};
use xshell_cmdlets::{CATALOGUE, Value};

pub(super) fn get_help(sh: &mut Shell<'_>, c: &Command, _: Option<Vec<Value>>) -> R<Vec<Value>> {
    let a = args(sh, c, &["Name"], &["Examples", "Full", "Detailed"])?;
    let name = a
        .get("Name")
        .or(a.positional.first())
        .map(|v| v.to_string());
    let Some(name) = name else {
        let mut s = String::from("xshell cmdlets (Get-Help <name> [-Examples|-Full]):\n\n");
        for d in CATALOGUE {
            s.push_str(&format!("  {:<32} {}\n", d.name, d.synopsis));
        }
        for (n, _, syn, _) in BUILTINS {
            s.push_str(&format!("  {n:<32} {syn}\n"));
        }
        return Ok(vec![Value::Str(s)]);
    };
    if let Some(d) = xshell_cmdlets::find(&name) {
        let full = a.flag("Full") || a.flag("Detailed");
        return Ok(vec![Value::Str(xshell_cmdlets::docs::help_text(
            d,
            full,
            a.flag("Examples"),
        ))]);
    }
    if let Some((n, aliases, syn, _)) = BUILTINS.iter().find(|(n, al, _, _)| {
        n.eq_ignore_ascii_case(&name) || al.iter().any(|x| x.eq_ignore_ascii_case(&name))
    }) {
        return Ok(vec![Value::Str(format!(
            "\nNAME\n    {n}\n\nSYNOPSIS\n    {syn}\n\nALIASES\n    {}\n",
            aliases.join(", ")
        ))]);
    }
    Err(usage(
        c,
        format!("no help found for '{name}'; Get-Command lists the cmdlets"),
    ))
}

pub(super) fn get_command(sh: &mut Shell<'_>, c: &Command, _: Option<Vec<Value>>) -> R<Vec<Value>> {
    let a = args(sh, c, &["Name"], &[])?;
    let pattern = a
        .get("Name")
        .or(a.positional.first())
        .map(|v| v.to_string())
        .unwrap_or_else(|| "*".into());
    let cols: &'static [&'static str] = &["CommandType", "Name", "Synopsis"];
    let mut out = Vec::new();
    for d in CATALOGUE {
        if xshell_cmdlets::named::wildcard_match(&pattern, d.name) {
            out.push(Value::Object(
                Object::new("CommandInfo", View::Table(cols))
                    .with("CommandType", Value::str("Cmdlet"))
                    .with("Name", Value::str(d.name))
                    .with("Synopsis", Value::str(d.synopsis))
                    .with("Cli", Value::str(format!("xshell {}", d.command()))),
            ));
        }
    }
    for (n, _, syn, _) in BUILTINS {
        if xshell_cmdlets::named::wildcard_match(&pattern, n) {
            out.push(Value::Object(
                Object::new("CommandInfo", View::Table(cols))
                    .with("CommandType", Value::str("Builtin"))
                    .with("Name", Value::str(*n))
                    .with("Synopsis", Value::str(*syn)),
            ));
        }
    }
    Ok(out)
}
