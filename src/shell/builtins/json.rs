//! ConvertTo-Json and ConvertFrom-Json.

use super::filter::input_items;
use super::select::{count, custom_object};
use super::{args, bad};
use crate::lang::Command;
use crate::shell::{R, RuntimeError, Shell, display_in_string};
use xshell_cmdlets::{CmdletError, Value};

const CUSTOM_OBJECT: &str = "System.Management.Automation.PSCustomObject";

/// `v` as JSON, objects and lists deeper than `depth` written as their
/// text (PowerShell's -Depth, 2 by default).
fn to_json(v: &Value, depth: usize) -> serde_json::Value {
    let nested = matches!(v, Value::Object(_) | Value::Map(_) | Value::List(_));
    if nested && depth == 0 {
        return serde_json::Value::String(match v {
            Value::List(items) => items
                .iter()
                .map(display_in_string)
                .collect::<Vec<_>>()
                .join(" "),
            Value::Map(_) => "System.Collections.Hashtable".into(),
            other => other.to_string(),
        });
    }
    match v {
        Value::List(items) => {
            serde_json::Value::Array(items.iter().map(|i| to_json(i, depth - 1)).collect())
        }
        Value::Map(m) => serde_json::Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), to_json(v, depth - 1)))
                .collect(),
        ),
        Value::Object(o) => serde_json::Value::Object(
            o.props
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v, depth - 1)))
                .collect(),
        ),
        other => other.to_json(),
    }
}

pub(super) fn convert_to_json(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let depth = count(c, &a, "Depth")?.unwrap_or(2);
    if depth > 100 {
        return Err(bad(c, "Depth", format!("{depth} is more than 100")));
    }
    // The top level is not counted: -Depth 0 still shows its properties.
    let depth = depth + 1;
    let items = input_items(&a, input);
    let json = match (items.as_slice(), a.flag("AsArray")) {
        ([one], false) => to_json(one, depth),
        (many, _) => serde_json::Value::Array(many.iter().map(|i| to_json(i, depth)).collect()),
    };
    let text = if a.flag("Compress") {
        serde_json::to_string(&json)
    } else {
        serde_json::to_string_pretty(&json)
    }
    .map_err(|e| RuntimeError::new(CmdletError::Failed(e.to_string()), c.name.span))?;
    Ok(vec![Value::Str(text)])
}

/// A parsed JSON value as shell values: objects become custom objects (or
/// hashtables with -AsHashtable).
fn from_json(v: serde_json::Value, hashtables: bool) -> Value {
    match v {
        serde_json::Value::Array(items) => Value::List(
            items
                .into_iter()
                .map(|i| from_json(i, hashtables))
                .collect(),
        ),
        serde_json::Value::Object(m) => {
            let props: Vec<(String, Value)> = m
                .into_iter()
                .map(|(k, v)| (k, from_json(v, hashtables)))
                .collect();
            if hashtables {
                Value::Map(props)
            } else {
                custom_object(CUSTOM_OBJECT.into(), props)
            }
        }
        other => Value::from_json_owned(other),
    }
}

pub(super) fn convert_from_json(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let items = input_items(&a, input);
    let text = items
        .iter()
        .map(display_in_string)
        .collect::<Vec<_>>()
        .join("\n");
    let parsed: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        RuntimeError::new(
            CmdletError::Failed(format!("conversion from JSON failed: {e}")),
            c.name.span,
        )
    })?;
    let v = from_json(parsed, a.flag("AsHashtable"));
    Ok(match v {
        // A top-level array is sent item by item unless -NoEnumerate.
        Value::List(items) if !a.flag("NoEnumerate") => items,
        other => vec![other],
    })
}
