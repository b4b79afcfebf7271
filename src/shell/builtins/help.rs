//! Get-Help and Get-Command.

use super::{BUILTINS, Spec, args, usage};
use crate::lang::Command;
use crate::shell::{R, Shell};
use xshell_cmdlets::value::{Object, View};
use xshell_cmdlets::{CATALOGUE, Value};

pub(super) fn get_help(sh: &mut Shell<'_>, c: &Command, _: Option<Vec<Value>>) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let name = a
        .get("Name")
        .or_else(|| a.values().next())
        .map(|v| v.to_string());
    let Some(name) = name else {
        let mut s = String::from("xshell cmdlets (Get-Help <name> [-Examples|-Full]):\n\n");
        for d in CATALOGUE {
            s.push_str(&format!("  {:<32} {}\n", d.name, d.synopsis));
        }
        for b in BUILTINS {
            s.push_str(&format!("  {:<32} {}\n", b.name, b.synopsis));
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
    if let Some(b) = super::spec(&name) {
        let examples = a.flag("Examples") || a.flag("Full") || a.flag("Detailed");
        return Ok(vec![Value::Str(builtin_help(b, examples))]);
    }
    Err(usage(
        c,
        format!("no help found for '{name}'; Get-Command lists the cmdlets"),
    ))
}

pub(super) fn get_command(sh: &mut Shell<'_>, c: &Command, _: Option<Vec<Value>>) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let pattern = a
        .get("Name")
        .or_else(|| a.values().next())
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
    for b in BUILTINS {
        if xshell_cmdlets::named::wildcard_match(&pattern, b.name)
            || b.aliases.iter().any(|al| al.eq_ignore_ascii_case(&pattern))
        {
            out.push(Value::Object(
                Object::new("CommandInfo", View::Table(cols))
                    .with("CommandType", Value::str("Builtin"))
                    .with("Name", Value::str(b.name))
                    .with("Synopsis", Value::str(b.synopsis)),
            ));
        }
    }
    Ok(out)
}

/// A builtin's help: name, synopsis, syntax (its parameters), aliases,
/// and its examples when `examples`.
pub(super) fn builtin_help(b: &Spec, examples: bool) -> String {
    let mut syntax = b.name.to_string();
    for p in b.params {
        syntax.push_str(&format!(" [-{p} <value>]"));
    }
    for s in b.switches {
        syntax.push_str(&format!(" [-{s}]"));
    }
    syntax.push_str(" [<CommonParameters>]");
    let aliases = if b.aliases.is_empty() {
        "None".to_string()
    } else {
        b.aliases.join(", ")
    };
    let mut out = format!(
        "\nNAME\n    {}\n\nSYNOPSIS\n    {}\n\nSYNTAX\n    {syntax}\n\nALIASES\n    {aliases}\n",
        b.name, b.synopsis
    );
    if b.examples.is_empty() {
        return out;
    }
    if !examples {
        out.push_str(&format!(
            "\nREMARKS\n    To see the examples, type: \"Get-Help {} -Examples\"\n",
            b.name
        ));
        return out;
    }
    out.push_str("\nEXAMPLES\n    The examples' output is after:\n");
    for line in super::EXAMPLE_SETUP.lines() {
        out.push_str(&format!("        {line}\n"));
    }
    for (i, e) in b.examples.iter().enumerate() {
        out.push_str(&format!(
            "\n    --- Example {} ---\n\n    PS> {}\n",
            i + 1,
            e.command
        ));
        if e.files {
            out.push_str("    (reads or writes files in the current directory)\n");
        }
        for line in e.output.lines() {
            out.push_str(format!("    {line}").trim_end());
            out.push('\n');
        }
    }
    out
}
