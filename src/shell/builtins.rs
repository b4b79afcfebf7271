//! Built-in commands of the shell language: the pipeline helpers
//! (Where-Object, ForEach-Object, Select-Object), formatters (Format-List,
//! Format-Table, ConvertTo-Json), and Get-Help / Get-Command.

use super::{R, RuntimeError, Shell, collapse, member};
use crate::lang::{Arg as AstArg, Command, ExprKind, Script};
use xshell_cmdlets::format;
use xshell_cmdlets::value::{Object, View};
use xshell_cmdlets::{CATALOGUE, CmdletError, Value};

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
    ("Get-Date", &[], "Now (UTC) or -Date", super::date::get_date),
    ("New-TimeSpan", &[], "Timespan", super::date::new_timespan),
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
struct Args<'c> {
    named: Vec<(&'static str, Value)>,
    positional: Vec<Value>,
    block: Option<&'c Script>,
}

impl Args<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.named.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
    fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(Value::truthy)
    }
}

fn usage(c: &Command, msg: String) -> RuntimeError {
    RuntimeError::new(CmdletError::Usage(msg), c.name.span)
}

/// Parses a builtin's arguments against its parameter names (`params`) and
/// switches (`switches`); names may be abbreviated to a unique prefix.
fn args<'c>(
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

fn names(v: Option<&Value>) -> Vec<String> {
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

fn where_object(sh: &mut Shell<'_>, c: &Command, input: Option<Vec<Value>>) -> R<Vec<Value>> {
    let a = args(sh, c, &["FilterScript"], &[])?;
    let block = a.block.ok_or_else(|| {
        usage(
            c,
            "Where-Object needs a script block: Where-Object { $_.Prop -eq value }".into(),
        )
    })?;
    let mut out = Vec::new();
    for item in input.unwrap_or_default() {
        if collapse(sh.run_block(block, &item)?).truthy() {
            out.push(item);
        }
    }
    Ok(out)
}

fn foreach_object(sh: &mut Shell<'_>, c: &Command, input: Option<Vec<Value>>) -> R<Vec<Value>> {
    let a = args(sh, c, &["Process"], &[])?;
    let block = a.block.ok_or_else(|| {
        usage(
            c,
            "ForEach-Object needs a script block: ForEach-Object { $_.Name }".into(),
        )
    })?;
    let mut out = Vec::new();
    for item in input.unwrap_or_default() {
        out.extend(sh.run_block(block, &item)?);
    }
    Ok(out)
}

fn select_object(sh: &mut Shell<'_>, c: &Command, input: Option<Vec<Value>>) -> R<Vec<Value>> {
    let a = args(sh, c, &["Property", "First", "Last", "ExpandProperty"], &[])?;
    let mut items = input.unwrap_or_default();
    let count = |v: Option<&Value>| -> R<Option<usize>> {
        match v {
            None => Ok(None),
            Some(Value::Int(n)) if *n >= 0 => Ok(Some(*n as usize)),
            Some(other) => Err(usage(c, format!("'{other}' is not a count"))),
        }
    };
    if let Some(n) = count(a.get("First"))? {
        items.truncate(n);
    }
    if let Some(n) = count(a.get("Last"))? {
        let skip = items.len().saturating_sub(n);
        items.drain(..skip);
    }
    if let Some(p) = a.get("ExpandProperty") {
        let p = p.to_string();
        return Ok(items
            .iter()
            .filter_map(|i| member(i, &p))
            .flat_map(super::flatten)
            .collect());
    }
    let mut props = names(a.get("Property"));
    props.extend(a.positional.iter().flat_map(|v| names(Some(v))));
    if props.is_empty() || props.iter().any(|p| p == "*") {
        return Ok(items);
    }
    Ok(items
        .into_iter()
        .map(|i| {
            let mut o = Object::new(
                match &i {
                    Value::Object(o) => o.type_name.clone(),
                    _ => "Selected".into(),
                },
                View::Columns(props.clone()),
            );
            for p in &props {
                o.props
                    .push((p.clone(), member(&i, p).unwrap_or(Value::Null)));
            }
            Value::Object(o)
        })
        .collect())
}

fn format_list(sh: &mut Shell<'_>, c: &Command, input: Option<Vec<Value>>) -> R<Vec<Value>> {
    let a = args(sh, c, &["Property"], &[])?;
    let mut props = names(a.get("Property"));
    props.extend(a.positional.iter().flat_map(|v| names(Some(v))));
    let items = input.unwrap_or_default();
    let text = format::list(&items, if props.is_empty() { None } else { Some(&props) });
    Ok(vec![Value::Str(
        text.trim_end_matches('\n').to_string() + "\n",
    )])
}

fn format_table(sh: &mut Shell<'_>, c: &Command, input: Option<Vec<Value>>) -> R<Vec<Value>> {
    let a = args(sh, c, &["Property"], &["AutoSize"])?;
    let mut props = names(a.get("Property"));
    props.extend(a.positional.iter().flat_map(|v| names(Some(v))));
    let items = input.unwrap_or_default();
    if props.is_empty() {
        props = match items.first() {
            Some(Value::Object(o)) => match &o.view {
                View::Table(cols) => cols.iter().map(|c| c.to_string()).collect(),
                View::Columns(cols) => cols.clone(),
                View::List => o.props.iter().map(|(k, _)| k.clone()).collect(),
            },
            _ => Vec::new(),
        };
    }
    let cols: Vec<&str> = props.iter().map(String::as_str).collect();
    Ok(vec![Value::Str(
        format::table(&items, &cols)
            .trim_end_matches('\n')
            .to_string()
            + "\n",
    )])
}

fn convert_to_json(sh: &mut Shell<'_>, c: &Command, input: Option<Vec<Value>>) -> R<Vec<Value>> {
    let _ = args(sh, c, &["Depth"], &["Compress"])?;
    let items = input.unwrap_or_default();
    let json = match items.as_slice() {
        [one] => one.to_json(),
        many => serde_json::Value::Array(many.iter().map(Value::to_json).collect()),
    };
    Ok(vec![Value::Str(
        serde_json::to_string_pretty(&json).unwrap_or_default(),
    )])
}

fn get_help(sh: &mut Shell<'_>, c: &Command, _: Option<Vec<Value>>) -> R<Vec<Value>> {
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

fn get_command(sh: &mut Shell<'_>, c: &Command, _: Option<Vec<Value>>) -> R<Vec<Value>> {
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

fn write_output(sh: &mut Shell<'_>, c: &Command, input: Option<Vec<Value>>) -> R<Vec<Value>> {
    let a = args(sh, c, &["InputObject"], &[])?;
    let mut out = input.unwrap_or_default();
    out.extend(a.get("InputObject").cloned());
    out.extend(a.positional.into_iter().flat_map(super::flatten));
    Ok(out)
}

fn out_null(sh: &mut Shell<'_>, c: &Command, _: Option<Vec<Value>>) -> R<Vec<Value>> {
    let _ = args(sh, c, &["InputObject"], &[])?;
    Ok(Vec::new())
}
