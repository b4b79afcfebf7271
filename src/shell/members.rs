//! Members of values: properties (`$x.Name`), methods (`$x.ToUpper()`) and
//! indexing (`$x[0]`).

use super::{collapse, display_in_string, typed};
use xshell_cmdlets::Value;

/// `$x.Name`: an object's property, a hashtable key, member enumeration over
/// a list, `Count`/`Length`.
pub fn member(v: &Value, name: &str) -> Option<Value> {
    match v {
        Value::Object(o) => o
            .get(name)
            .cloned()
            .or_else(|| name.eq_ignore_ascii_case("Count").then_some(Value::Int(1))),
        Value::Map(m) => m
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone()),
        Value::List(items) => {
            if name.eq_ignore_ascii_case("Count") || name.eq_ignore_ascii_case("Length") {
                return Some(Value::Int(items.len() as i64));
            }
            let vals: Vec<Value> = items.iter().filter_map(|i| member(i, name)).collect();
            Some(collapse(vals))
        }
        Value::Str(s) if name.eq_ignore_ascii_case("Length") => {
            Some(Value::Int(s.chars().count() as i64))
        }
        Value::Null => Some(Value::Null),
        other => typed::property(other, name),
    }
}

pub(super) fn method(v: &Value, name: &str, args: &[Value]) -> Result<Value, String> {
    if let Some(r) = typed::method(v, name, args) {
        return r;
    }
    if let Value::Object(o) = v
        && let Some(r) = super::ops::encoding_method(o, name, args)
    {
        return r;
    }
    let s = || display_in_string(v);
    let arg = |i: usize| args.get(i).map(display_in_string).unwrap_or_default();
    let count = |i: usize| -> Result<usize, String> {
        match args.get(i) {
            Some(Value::Int(n)) if *n >= 0 => Ok(*n as usize),
            Some(other) => display_in_string(other)
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("'{other}' is not a count for {name}()")),
            None => Ok(0),
        }
    };
    // Character positions, as .NET counts them (in chars here).
    let chars = || s().chars().collect::<Vec<char>>();
    let lower = name.to_ascii_lowercase();
    if let Value::List(items) = v
        && lower == "contains"
        && let [x] = args
    {
        let want = display_in_string(x);
        return Ok(Value::Bool(
            items.iter().any(|i| display_in_string(i) == want),
        ));
    }
    match (lower.as_str(), args) {
        ("split", [_, ..]) => {
            let text = s();
            let seps: Vec<String> = args.iter().map(display_in_string).collect();
            // Split(char): each separator is whole (.NET Core's Split(string)
            // for one argument; several arguments are several separators).
            let mut parts = vec![text];
            for sep in seps.iter().filter(|x| !x.is_empty()) {
                parts = parts
                    .iter()
                    .flat_map(|p| {
                        p.split(sep.as_str())
                            .map(str::to_string)
                            .collect::<Vec<_>>()
                    })
                    .collect();
            }
            Ok(Value::List(parts.into_iter().map(Value::Str).collect()))
        }
        ("split", []) => Ok(Value::List(
            s().split_whitespace().map(Value::str).collect(),
        )),
        ("replace", [_, _]) => {
            let from = arg(0);
            if from.is_empty() {
                return Err("Replace(): the text to replace cannot be empty".into());
            }
            Ok(Value::Str(s().replace(&from, &arg(1))))
        }
        ("substring", [_]) | ("substring", [_, _]) => {
            let c = chars();
            let start = count(0)?;
            let len = if args.len() == 2 {
                count(1)?
            } else {
                c.len().saturating_sub(start)
            };
            if start > c.len() || start + len > c.len() {
                return Err(format!(
                    "Substring({start}{}) is outside the text of {} characters",
                    if args.len() == 2 {
                        format!(", {len}")
                    } else {
                        String::new()
                    },
                    c.len()
                ));
            }
            Ok(Value::Str(c[start..start + len].iter().collect()))
        }
        ("indexof", [_]) | ("lastindexof", [_]) => {
            let text = s();
            let needle = arg(0);
            let found = if lower == "indexof" {
                text.find(&needle)
            } else {
                text.rfind(&needle)
            };
            Ok(Value::Int(
                found.map_or(-1, |b| text[..b].chars().count() as i64),
            ))
        }
        ("padleft", [_]) | ("padleft", [_, _]) | ("padright", [_]) | ("padright", [_, _]) => {
            let width = count(0)?.min(1_000_000);
            let fill = arg(1).chars().next().unwrap_or(' ');
            let text = s();
            let n = text.chars().count();
            let pad: String = std::iter::repeat_n(fill, width.saturating_sub(n)).collect();
            Ok(Value::Str(if lower == "padleft" {
                pad + &text
            } else {
                text + &pad
            }))
        }
        ("trim", [_, ..]) | ("trimstart", _) | ("trimend", _) => {
            let set: Vec<char> = args
                .iter()
                .flat_map(|a| display_in_string(a).chars().collect::<Vec<_>>())
                .collect();
            let text = s();
            let strip = |c: char| {
                if set.is_empty() {
                    c.is_whitespace()
                } else {
                    set.contains(&c)
                }
            };
            Ok(Value::Str(match lower.as_str() {
                "trimstart" => text.trim_start_matches(strip).to_string(),
                "trimend" => text.trim_end_matches(strip).to_string(),
                _ => text.trim_matches(strip).to_string(),
            }))
        }
        ("equals", [x]) => Ok(Value::Bool(s() == display_in_string(x))),
        ("gettype", []) => Ok(type_of(v)),
        ("tostring", []) => Ok(Value::Str(s())),
        ("toupper", []) => Ok(Value::Str(s().to_uppercase())),
        ("tolower", []) => Ok(Value::Str(s().to_lowercase())),
        ("trim", []) => Ok(Value::Str(s().trim().to_string())),
        ("contains", [x]) => Ok(Value::Bool(s().contains(&display_in_string(x)))),
        ("startswith", [x]) => Ok(Value::Bool(s().starts_with(&display_in_string(x)))),
        ("endswith", [x]) => Ok(Value::Bool(s().ends_with(&display_in_string(x)))),
        _ => Err(format!(
            "method '{name}' with {} argument(s) is not supported by xshell",
            args.len()
        )),
    }
}

pub(super) fn index_value(t: &Value, i: &Value) -> Value {
    match (t, i) {
        (Value::List(items), Value::Int(n)) => {
            let len = items.len() as i64;
            let k = if *n < 0 { len + n } else { *n };
            usize::try_from(k)
                .ok()
                .and_then(|k| items.get(k))
                .cloned()
                .unwrap_or(Value::Null)
        }
        // One object is a list of one: `(Get-ExchangeCertificate)[0]`.
        (Value::Object(_), Value::Int(0 | -1)) => t.clone(),
        (Value::Map(_) | Value::Object(_), key) => {
            member(t, &display_in_string(key)).unwrap_or(Value::Null)
        }
        (other, Value::Int(0)) => other.clone(),
        _ => Value::Null,
    }
}

/// `$x.GetType()`: the .NET type a value stands for (Name, FullName).
fn type_of(v: &Value) -> Value {
    let full = match v {
        Value::Null => "System.Object",
        Value::Bool(_) => "System.Boolean",
        Value::Int(_) => "System.Int32",
        Value::Float(_) => "System.Double",
        Value::Str(_) => "System.String",
        Value::List(_) => "System.Object[]",
        Value::Map(_) => "System.Collections.Hashtable",
        Value::Date(_) => "System.DateTime",
        Value::TimeSpan(_) => "System.TimeSpan",
        Value::Size(_) => "Microsoft.Exchange.Data.ByteQuantifiedSize",
        Value::Secret(_) => "System.Security.SecureString",
        Value::Object(o) => o.type_name.as_str(),
    };
    let name = full.rsplit('.').next().unwrap_or(full);
    Value::Object(
        xshell_cmdlets::value::Object::new(
            "System.RuntimeType",
            xshell_cmdlets::value::View::Table(&["Name", "FullName"]),
        )
        .with("Name", Value::str(name))
        .with("FullName", Value::str(full)),
    )
}
