//! Built-in commands of the shell language: the table of builtins and the
//! argument parser they share. One file per family: filtering
//! ([`filter`]), selecting ([`select`]), formatting ([`format`]), files and
//! conversions ([`files`]), help ([`help`]) and output ([`write`]).

mod files;
mod filter;
mod format;
mod help;
mod select;
mod write;

use super::{R, RuntimeError, Shell};
use crate::lang::{Arg as AstArg, Command, ExprKind, Script};
use files::convert_to_json;
use filter::{foreach_object, where_object};
use format::{format_list, format_table};
use help::{get_command, get_help};
use select::select_object;
use write::{out_null, write_output};
use xshell_cmdlets::{CmdletError, Value};

pub type Builtin = fn(&mut Shell<'_>, &Command, Option<Vec<Value>>) -> R<Vec<Value>>;

/// (canonical name, aliases, synopsis, function)
pub static BUILTINS: &[(&str, &[&str], &str, Builtin)] = &[
    (
        "Where-Object",
        &["where", "?"],
        "Keep the pipeline objects for which a script block is true: Where-Object { $_.Status -eq \"Valid\" }",
        where_object,
    ),
    (
        "ForEach-Object",
        &["foreach", "%"],
        "Run a script block for each pipeline object ($_)",
        foreach_object,
    ),
    (
        "Select-Object",
        &["select"],
        "Pick properties (-Property a,b), -First/-Last N, or -ExpandProperty X",
        select_object,
    ),
    (
        "Format-List",
        &["fl"],
        "Show objects as Name : Value lines (Format-List [props|*])",
        format_list,
    ),
    (
        "Format-Table",
        &["ft"],
        "Show objects as a table of the given properties",
        format_table,
    ),
    (
        "ConvertTo-Json",
        &[],
        "Convert pipeline objects to JSON text",
        convert_to_json,
    ),
    (
        "Get-Help",
        &["help"],
        "Show a cmdlet's help: Get-Help <cmdlet> [-Examples|-Full]",
        get_help,
    ),
    (
        "Get-Command",
        &["gcm"],
        "List cmdlets (optionally matching a wildcard)",
        get_command,
    ),
    (
        "Write-Output",
        &["echo", "write"],
        "Write values to the pipeline",
        write_output,
    ),
    ("Out-Null", &[], "Discard the pipeline's output", out_null),
];

pub fn find(name: &str) -> Option<Builtin> {
    BUILTINS
        .iter()
        .find(|(n, aliases, _, _)| {
            n.eq_ignore_ascii_case(name) || aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
        .map(|(_, _, _, f)| *f)
}

pub fn canonical(name: &str) -> &'static str {
    BUILTINS
        .iter()
        .find(|(n, aliases, _, _)| {
            n.eq_ignore_ascii_case(name) || aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
        .map(|(n, _, _, _)| *n)
        .unwrap_or("")
}

/// Arguments of a builtin: named values (by canonical parameter name),
/// positional values, and an unevaluated script block.
pub(super) struct Args<'c> {
    pub named: Vec<(&'static str, Value)>,
    pub positional: Vec<Value>,
    pub block: Option<&'c Script>,
}

impl Args<'_> {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.named.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
    pub fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(Value::truthy)
    }
}

pub(super) fn usage(c: &Command, msg: String) -> RuntimeError {
    RuntimeError::new(CmdletError::Usage(msg), c.name.span)
}

/// Parses a builtin's arguments against its parameter names (`params`) and
/// switches (`switches`); names may be abbreviated to a unique prefix.
pub(super) fn args<'c>(
    sh: &mut Shell<'_>,
    c: &'c Command,
    params: &[&'static str],
    switches: &[&'static str],
) -> R<Args<'c>> {
    let mut out = Args {
        named: Vec::new(),
        positional: Vec::new(),
        block: None,
    };
    let mut it = c.args.iter().peekable();
    while let Some(a) = it.next() {
        match a {
            AstArg::Parameter {
                name,
                colon_value,
                name_span,
                ..
            } => {
                let all: Vec<&'static str> = params.iter().chain(switches).copied().collect();
                let exact = all.iter().find(|p| p.eq_ignore_ascii_case(name));
                let hits: Vec<&&'static str> = match exact {
                    Some(e) => vec![e],
                    None => all
                        .iter()
                        .filter(|p| {
                            p.to_ascii_lowercase()
                                .starts_with(&name.to_ascii_lowercase())
                        })
                        .collect(),
                };
                let p: &'static str = match hits.as_slice() {
                    [one] => one,
                    [] => {
                        return Err(RuntimeError::new(
                            CmdletError::Usage(format!(
                                "a parameter cannot be found that matches parameter name '{name}'"
                            )),
                            *name_span,
                        ));
                    }
                    _ => {
                        return Err(RuntimeError::new(
                            CmdletError::Usage(format!("parameter '{name}' is ambiguous")),
                            *name_span,
                        ));
                    }
                };
                let v = if let Some(e) = colon_value {
                    sh.expr(e)?
                } else if switches.contains(&p) {
                    Value::Bool(true)
                } else {
                    match it.next() {
                        Some(AstArg::Value(e)) => {
                            if let ExprKind::ScriptBlock(s) = &e.kind {
                                out.block = Some(s);
                                continue;
                            }
                            sh.expr(e)?
                        }
                        _ => {
                            return Err(usage(
                                c,
                                format!("missing an argument for parameter '{p}'"),
                            ));
                        }
                    }
                };
                out.named.push((p, v));
            }
            AstArg::Value(e) => match &e.kind {
                ExprKind::ScriptBlock(s) => out.block = Some(s),
                _ => out.positional.push(sh.expr(e)?),
            },
        }
    }
    Ok(out)
}

pub(super) fn names(v: Option<&Value>) -> Vec<String> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::List(items)) => items.iter().map(|i| i.to_string()).collect(),
        Some(other) => other
            .to_string()
            .split(',')
            .map(|s| s.trim().to_string())
            .collect(),
    }
}
