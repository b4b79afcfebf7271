//! Get-Member: the type and members of the pipeline's objects.

use super::filter::input_items;
use super::props::names;
use super::{args, bad};
use crate::lang::Command;
use crate::shell::{R, Shell};
use xshell_cmdlets::Value;
use xshell_cmdlets::format::MEMBER_DEFINITION;
use xshell_cmdlets::named::wildcard_match;
use xshell_cmdlets::value::{Object, View};

const COLUMNS: &[&str] = &["Name", "MemberType", "Definition"];

/// The member types -MemberType accepts.
const MEMBER_TYPES: &[&str] = &[
    "Property",
    "NoteProperty",
    "Method",
    "Properties",
    "Methods",
    "All",
];

/// The .NET-style type name PowerShell shows for a value.
fn type_name(v: &Value) -> String {
    match v {
        Value::Str(_) => "System.String".into(),
        Value::Int(i) if i32::try_from(*i).is_ok() => "System.Int32".into(),
        Value::Int(_) => "System.Int64".into(),
        Value::Bool(_) => "System.Boolean".into(),
        Value::Map(_) => "System.Collections.Hashtable".into(),
        Value::List(_) => "System.Object[]".into(),
        Value::Object(o) => o.type_name.clone(),
        _ => "System.Object".into(),
    }
}

/// The short type name a member's definition uses.
fn short_type(v: &Value) -> String {
    match v {
        Value::Str(_) => "string".into(),
        Value::Int(i) if i32::try_from(*i).is_ok() => "int".into(),
        Value::Int(_) => "long".into(),
        Value::Bool(_) => "bool".into(),
        Value::Map(_) => "hashtable".into(),
        Value::List(_) => "Object[]".into(),
        Value::Null => "object".into(),
        other => type_name(other),
    }
}

const OBJECT_METHODS: &[(&str, &str)] = &[
    ("Equals", "bool Equals(System.Object obj)"),
    ("GetHashCode", "int GetHashCode()"),
    ("GetType", "type GetType()"),
    ("ToString", "string ToString()"),
];

const STRING_METHODS: &[(&str, &str)] = &[
    ("Contains", "bool Contains(string value)"),
    ("EndsWith", "bool EndsWith(string value)"),
    ("Equals", "bool Equals(System.Object obj)"),
    ("GetHashCode", "int GetHashCode()"),
    ("GetType", "type GetType()"),
    ("StartsWith", "bool StartsWith(string value)"),
    ("ToLower", "string ToLower()"),
    ("ToString", "string ToString()"),
    ("ToUpper", "string ToUpper()"),
    ("Trim", "string Trim()"),
];

/// (name, member type, definition) of each member of `v`.
fn members(v: &Value) -> Vec<(String, &'static str, String)> {
    let mut out: Vec<(String, &'static str, String)> = Vec::new();
    let methods = match v {
        Value::Str(_) => STRING_METHODS,
        _ => OBJECT_METHODS,
    };
    for (n, d) in methods {
        out.push((n.to_string(), "Method", d.to_string()));
    }
    match v {
        Value::Str(_) => out.push(("Length".into(), "Property", "int Length {get;}".into())),
        Value::Map(_) => {
            out.push(("Count".into(), "Property", "int Count {get;}".into()));
            out.push((
                "Keys".into(),
                "Property",
                "System.Collections.ICollection Keys {get;}".into(),
            ));
            out.push((
                "Values".into(),
                "Property",
                "System.Collections.ICollection Values {get;}".into(),
            ));
            out.push((
                "ContainsKey".into(),
                "Method",
                "bool ContainsKey(System.Object key)".into(),
            ));
        }
        Value::Object(o) => {
            let custom = o.is_custom();
            for (k, val) in &o.props {
                if custom {
                    let shown = match val {
                        Value::Null => "null".to_string(),
                        other => other.to_string(),
                    };
                    out.push((
                        k.clone(),
                        "NoteProperty",
                        format!("{} {k}={shown}", short_type(val)),
                    ));
                } else {
                    out.push((
                        k.clone(),
                        "Property",
                        format!("{} {k} {{get;set;}}", short_type(val)),
                    ));
                }
            }
        }
        _ => {}
    }
    out.sort_by(|a, b| {
        a.1.cmp(b.1)
            .then_with(|| a.0.to_lowercase().cmp(&b.0.to_lowercase()))
    });
    out
}

fn kind_wanted(kinds: &[String], kind: &str) -> bool {
    kinds.is_empty()
        || kinds.iter().any(|k| {
            k.eq_ignore_ascii_case(kind)
                || k.eq_ignore_ascii_case("All")
                || (k.eq_ignore_ascii_case("Properties") && kind.ends_with("Property"))
                || (k.eq_ignore_ascii_case("Methods") && kind == "Method")
        })
}

pub(super) fn get_member(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let items = input_items(&a, input);
    let kinds: Vec<String> = a
        .get("MemberType")
        .map(names)
        .unwrap_or_default()
        .iter()
        .flat_map(|k| {
            k.split(',')
                .map(|s| s.trim().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    if let Some(k) = kinds
        .iter()
        .find(|k| !MEMBER_TYPES.iter().any(|m| m.eq_ignore_ascii_case(k)))
    {
        return Err(bad(
            c,
            "MemberType",
            format!("'{k}' is not a member type ({})", MEMBER_TYPES.join(", ")),
        ));
    }
    let wanted_names: Vec<String> = a
        .get("Name")
        .or_else(|| a.values().next())
        .map(names)
        .unwrap_or_default();
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for item in &items {
        let t = type_name(item);
        if seen.contains(&t) {
            continue;
        }
        seen.push(t.clone());
        for (name, kind, definition) in members(item) {
            if !kind_wanted(&kinds, kind) {
                continue;
            }
            if !wanted_names.is_empty() && !wanted_names.iter().any(|p| wildcard_match(p, &name)) {
                continue;
            }
            out.push(Value::Object(
                Object::new(MEMBER_DEFINITION, View::Table(COLUMNS))
                    .with("TypeName", Value::Str(t.clone()))
                    .with("Name", Value::Str(name))
                    .with("MemberType", Value::str(kind))
                    .with("Definition", Value::Str(definition)),
            ));
        }
    }
    if items.is_empty() {
        return Err(bad(
            c,
            "InputObject",
            "you must give an object to Get-Member (pipe one in, or -InputObject)",
        ));
    }
    Ok(out)
}
