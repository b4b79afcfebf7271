//! Select-Object.

use super::{args, names, usage};
use crate::lang::Command;
use crate::shell::{R, Shell, member};
use xshell_cmdlets::Value;
use xshell_cmdlets::value::{Object, View};

pub(super) fn select_object(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
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
            .flat_map(crate::shell::flatten)
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
