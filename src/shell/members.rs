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
    let s = || display_in_string(v);
    match (name.to_ascii_lowercase().as_str(), args) {
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
