//! Select-Object.

use super::filter::input_items;
use super::props::{Prop, names, props, resolve};
use super::{Args, bad};
use crate::lang::Command;
use crate::shell::{R, Shell, flatten, member};
use xshell_cmdlets::Value;
use xshell_cmdlets::named::wildcard_match;
use xshell_cmdlets::value::{Object, View};

/// A non-negative count given to `param`.
pub(super) fn count(c: &Command, a: &Args<'_>, param: &str) -> R<Option<usize>> {
    let n = match a.get(param) {
        None => return Ok(None),
        Some(Value::Int(n)) => usize::try_from(*n).ok(),
        Some(Value::Str(s)) => s.trim().parse::<usize>().ok(),
        Some(_) => None,
    };
    match n {
        Some(n) => Ok(Some(n)),
        None => Err(bad(
            c,
            param,
            format!(
                "'{}' is not a count (a whole number, 0 or more)",
                a.get(param).map(|v| v.to_string()).unwrap_or_default()
            ),
        )),
    }
}

/// The property list given to -Property, or positionally.
pub(super) fn property_list<'c>(
    sh: &mut Shell<'_>,
    c: &Command,
    a: &Args<'c>,
    param: &str,
) -> R<Vec<Prop<'c>>> {
    let mut out = Vec::new();
    if let Some(g) = a.given(param) {
        out.extend(props(sh, g, c.name.span)?);
    }
    if out.is_empty()
        && let Some(g) = a.positional.first()
    {
        out.extend(props(sh, g, c.name.span)?);
    }
    Ok(out)
}

/// A PowerShell-style custom object holding `props`: shown as a table of
/// them when there are at most four, as a list otherwise.
pub(super) fn custom_object(type_name: String, props: Vec<(String, Value)>) -> Value {
    let view = if props.len() <= 4 {
        View::Columns(props.iter().map(|(k, _)| k.clone()).collect())
    } else {
        View::List
    };
    let mut o = Object::new(type_name, view);
    o.props = props;
    Value::Object(o)
}

/// The type name PowerShell gives an object Select-Object made.
pub(super) fn selected_type(v: &Value) -> String {
    let base = match v {
        Value::Object(o) => o.type_name.as_str(),
        Value::Str(_) => "System.String",
        Value::Int(_) => "System.Int64",
        Value::Bool(_) => "System.Boolean",
        Value::Map(_) => "System.Collections.Hashtable",
        _ => "System.Object",
    };
    if base.starts_with("Selected.") {
        base.to_string()
    } else {
        format!("Selected.{base}")
    }
}

pub(super) fn select_object(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = super::args(sh, c)?;
    let mut items = input_items(&a, input);
    let first = count(c, &a, "First")?;
    let last = count(c, &a, "Last")?;
    let skip = count(c, &a, "Skip")?.unwrap_or(0);
    let skip_last = count(c, &a, "SkipLast")?.unwrap_or(0);
    if let Some(index) = a.get("Index") {
        let len = items.len() as i64;
        let mut wanted = Vec::new();
        for i in flatten(index.clone()) {
            let Value::Int(n) = i else {
                return Err(bad(c, "Index", format!("'{i}' is not an index")));
            };
            let k = if n < 0 { len + n } else { n };
            if let Some(v) = usize::try_from(k).ok().and_then(|k| items.get(k)) {
                wanted.push(v.clone());
            }
        }
        items = wanted;
    }
    if last.is_some() {
        // -Skip counts from the end when -Last is given.
        let keep = items.len().saturating_sub(skip);
        items.truncate(keep);
    } else {
        items.drain(..skip.min(items.len()));
    }
    let keep = items.len().saturating_sub(skip_last);
    items.truncate(keep);
    if let Some(n) = first {
        let tail = last.map(|l| (items.len().saturating_sub(l), l));
        let mut picked: Vec<Value> = items.iter().take(n).cloned().collect();
        if let Some((from, _)) = tail {
            picked.extend(items.iter().skip(from.max(n)).cloned());
        }
        items = picked;
    } else if let Some(n) = last {
        let from = items.len().saturating_sub(n);
        items.drain(..from);
    }

    let props = property_list(sh, c, &a, "Property")?;
    let exclude: Vec<String> = a.get("ExcludeProperty").map(names).unwrap_or_default();
    let mut out = Vec::new();
    if let Some(p) = a.get("ExpandProperty") {
        let p = p.to_string();
        for item in &items {
            let Some(v) = member(item, &p) else {
                return Err(bad(
                    c,
                    "ExpandProperty",
                    format!(
                        "property '{p}' cannot be found on this {}",
                        item.type_label()
                    ),
                ));
            };
            let extra = if props.is_empty() {
                Vec::new()
            } else {
                resolve(sh, &props, item)?
            };
            for mut e in flatten(v) {
                if let Value::Object(o) = &mut e {
                    for (k, v) in &extra {
                        o.set(k, v.clone());
                    }
                }
                out.push(e);
            }
        }
    } else if props.is_empty() && exclude.is_empty() {
        out = items;
    } else {
        let all = [Prop::Name("*".into())];
        let props = if props.is_empty() { &all[..] } else { &props };
        for item in &items {
            let mut values = resolve(sh, props, item)?;
            values.retain(|(k, _)| !exclude.iter().any(|x| wildcard_match(x, k)));
            out.push(custom_object(selected_type(item), values));
        }
    }
    if a.flag("Unique") {
        let ci = a.flag("CaseInsensitive");
        let mut unique: Vec<Value> = Vec::new();
        for v in out {
            if !unique.iter().any(|u| same(u, &v, ci)) {
                unique.push(v);
            }
        }
        out = unique;
    }
    Ok(out)
}

/// Whether two values are duplicates for -Unique: equal, or (with
/// -CaseInsensitive) equal text but for case.
pub(super) fn same(a: &Value, b: &Value, case_insensitive: bool) -> bool {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) if case_insensitive => x.to_lowercase() == y.to_lowercase(),
        _ => a == b,
    }
}

/// Get-Unique: drops each item equal to the one before it (the input is
/// expected sorted); -AsString compares the text, -OnType the type.
pub(super) fn get_unique(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = super::args(sh, c)?;
    let items = input_items(&a, input);
    let ci = a.flag("CaseInsensitive");
    let key = |v: &Value| -> Value {
        if a.flag("OnType") {
            Value::Str(selected_type(v))
        } else if a.flag("AsString") {
            Value::Str(crate::shell::display_in_string(v))
        } else {
            v.clone()
        }
    };
    let mut out: Vec<Value> = Vec::new();
    let mut last: Option<Value> = None;
    for item in items {
        let k = key(&item);
        if last.as_ref().is_some_and(|l| same(l, &k, ci)) {
            continue;
        }
        last = Some(k);
        out.push(item);
    }
    Ok(out)
}
