//! Format-List and Format-Table.

use super::{args, names};
use crate::lang::Command;
use crate::shell::{R, Shell};
use xshell_cmdlets::Value;
use xshell_cmdlets::format;
use xshell_cmdlets::value::View;

pub(super) fn format_list(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c, &["Property"], &[])?;
    let mut props = names(a.get("Property"));
    props.extend(a.positional.iter().flat_map(|v| names(Some(v))));
    let items = input.unwrap_or_default();
    let text = format::list(&items, if props.is_empty() { None } else { Some(&props) });
    Ok(vec![Value::Str(
        text.trim_end_matches('\n').to_string() + "\n",
    )])
}

pub(super) fn format_table(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
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
