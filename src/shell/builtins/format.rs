//! Format-List and Format-Table: property lists with wildcards and
//! calculated properties, -Wrap, -HideTableHeaders, -GroupBy.

use super::filter::input_items;
use super::props::{Prop, props, resolve};
use super::select::property_list;
use super::{Args, args};
use crate::lang::Command;
use crate::shell::{R, Shell};
use xshell_cmdlets::Value;
use xshell_cmdlets::format::{self, TableOptions};
use xshell_cmdlets::value::{Object, View};

/// `item` reduced to the properties `props` names (in that order), keeping
/// its type name; `item` itself when no properties are named.
fn project(sh: &mut Shell<'_>, props: &[Prop<'_>], item: Value) -> R<Value> {
    if props.is_empty() {
        return Ok(item);
    }
    let type_name = match &item {
        Value::Object(o) => o.type_name.clone(),
        other => other.type_label().to_string(),
    };
    let mut o = Object::new(type_name, View::List);
    o.props = resolve(sh, props, &item)?;
    Ok(Value::Object(o))
}

/// The -GroupBy value of each item (None without -GroupBy).
fn group_label(
    sh: &mut Shell<'_>,
    group_by: &[Prop<'_>],
    item: &Value,
) -> R<Option<(String, String)>> {
    if group_by.is_empty() {
        return Ok(None);
    }
    Ok(resolve(sh, group_by, item)?
        .into_iter()
        .next()
        .map(|(k, v)| (k, v.to_string())))
}

/// A -GroupBy label (property, value) and the objects under it.
type Run = (Option<(String, String)>, Vec<Value>);

/// Splits `items` into runs sharing a -GroupBy value, each run projected.
fn runs(sh: &mut Shell<'_>, c: &Command, a: &Args<'_>, items: Vec<Value>) -> R<Vec<Run>> {
    let shown = property_list(sh, c, a, "Property")?;
    let group_by = match a.given("GroupBy") {
        Some(g) => props(sh, g, c.name.span)?,
        None => Vec::new(),
    };
    let mut out: Vec<Run> = Vec::new();
    for item in items {
        let label = group_label(sh, &group_by, &item)?;
        let v = project(sh, &shown, item)?;
        match out.last_mut() {
            Some((l, vs)) if *l == label => vs.push(v),
            _ => out.push((label, vec![v])),
        }
    }
    Ok(out)
}

fn header(label: &Option<(String, String)>) -> String {
    match label {
        Some((k, v)) => format!("\n   {k}: {v}\n"),
        None => String::new(),
    }
}

pub(super) fn format_list(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let items = input_items(&a, input);
    let mut text = String::new();
    for (label, values) in runs(sh, c, &a, items)? {
        text.push_str(&header(&label));
        text.push_str(&format::list(&values, None));
    }
    Ok(formatted(&text))
}

pub(super) fn format_table(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let items = input_items(&a, input);
    let named = a.given("Property").is_some() || !a.positional.is_empty();
    let mut text = String::new();
    for (label, values) in runs(sh, c, &a, items)? {
        text.push_str(&header(&label));
        // The columns: the first object's (its view's when no property is named).
        let cols: Vec<String> = match values.first() {
            Some(Value::Object(o)) => match &o.view {
                View::Table(cols) => cols.iter().map(|c| c.to_string()).collect(),
                View::Columns(cols) => cols.clone(),
                View::List => o.props.iter().map(|(k, _)| k.clone()).collect(),
            },
            _ => Vec::new(),
        };
        if cols.is_empty() {
            // Plain values (text, numbers) show one per line.
            for v in &values {
                text.push_str(&format!("{v}\n"));
            }
            continue;
        }
        let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
        // Named properties or a view-less object: numbers right-aligned.
        let numbers_right = named
            || matches!(values.first(), Some(Value::Object(o)) if o.is_custom()
                || o.type_name.starts_with("Microsoft.PowerShell.Commands."));
        let opts = TableOptions {
            wrap: a.flag("Wrap"),
            hide_headers: a.flag("HideTableHeaders"),
            numbers_right,
        };
        text.push_str(&format::table_with(&values, &cols, opts));
    }
    Ok(formatted(&text))
}

/// Formatted text as one value (none for no objects), ending in one newline.
fn formatted(text: &str) -> Vec<Value> {
    let text = text.trim_end_matches('\n');
    if text.is_empty() {
        return Vec::new();
    }
    vec![Value::Str(text.to_string() + "\n")]
}
