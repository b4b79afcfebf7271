//! Values and objects that flow through pipelines and out as output.

use std::fmt;
use time::{Duration, OffsetDateTime};
use xshell_core::types::SizeLimit;

use crate::datetime;

/// A value in the shell and in cmdlet output.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<Value>),
    /// A hashtable literal `@{Add="a"; Remove="b"}` (keys keep their case).
    Map(Vec<(String, Value)>),
    Object(Object),
    /// A point in time, always UTC (.NET's DateTime): shown as
    /// `12/7/2031 1:24:37 PM`, ISO 8601 in JSON.
    Date(OffsetDateTime),
    /// A signed span (.NET's TimeSpan): `2.00:00:00`, `-00:05:00`.
    TimeSpan(Duration),
    /// A byte quantity or `Unlimited` (Exchange's
    /// `Unlimited<ByteQuantifiedSize>`): `10 MB (10,485,760 bytes)`.
    Size(SizeLimit),
    /// A fractional number (.NET's Double), shown as PowerShell does.
    Float(f64),
    /// A password (.NET's SecureString, from ConvertTo-SecureString): shown
    /// as its type name, never as its text; only a secret parameter
    /// (-Password) reads it.
    Secret(Secret),
}

/// The text of a [`Value::Secret`], wiped from memory when dropped.
#[derive(Clone, PartialEq)]
pub struct Secret(pub zeroize::Zeroizing<String>);

impl Secret {
    pub fn new(text: String) -> Secret {
        Secret(zeroize::Zeroizing::new(text))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// How an object is shown by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// A table with these columns.
    Table(&'static [&'static str]),
    /// A table with columns chosen at run time (Select-Object).
    Columns(Vec<String>),
    /// Every property, one per line.
    List,
}

/// Which of an object's properties its consumer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Props {
    /// All of them: pipelines, variables, JSON and list output.
    #[default]
    All,
    /// Only the columns of its table view: the output goes straight to that
    /// table (a CLI command shown as a table). An object whose view is not a
    /// fixed table keeps all its properties.
    TableColumns,
}

/// A typed object: a type name and ordered properties (PascalCase names).
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub type_name: String,
    pub props: Vec<(String, Value)>,
    pub view: View,
}

impl Object {
    pub fn new(type_name: impl Into<String>, view: View) -> Object {
        Object {
            type_name: type_name.into(),
            props: Vec::new(),
            view,
        }
    }

    /// A property by name, case-insensitively.
    pub fn get(&self, name: &str) -> Option<&Value> {
        // The exact name first: what a table's columns and the code ask.
        self.props
            .iter()
            .find(|(k, _)| k == name)
            .or_else(|| {
                self.props
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
            })
            .map(|(_, v)| v)
    }

    /// Whether PowerShell would hold this object as a PSCustomObject: one
    /// made by Select-Object (`Selected.*`), Import-Csv (`CSV:*`) or
    /// ConvertFrom-Json.
    pub fn is_custom(&self) -> bool {
        self.type_name.starts_with("Selected.")
            || self.type_name.starts_with("CSV:")
            || self.type_name == "System.Management.Automation.PSCustomObject"
    }

    pub fn with(mut self, name: &str, v: Value) -> Object {
        self.set(name, v);
        self
    }

    pub fn set(&mut self, name: &str, v: Value) {
        match self
            .props
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = v,
            None => self.props.push((name.to_string(), v)),
        }
    }

    /// Makes these properties date values where they hold ISO 8601 text
    /// (a model keeps its times as text); JSON writes them back the same.
    pub fn dates(&mut self, names: &[&str]) {
        for (k, v) in &mut self.props {
            if names.iter().any(|n| n == k)
                && let Value::Str(s) = v
                && let Ok(t) =
                    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            {
                *v = Value::Date(t);
            }
        }
    }

    /// Builds an object from a serializable model value: its serde field
    /// names (PascalCase) become the property names, so the store, the JSON
    /// output and the documentation share one vocabulary.
    pub fn from_serde<T: serde::Serialize>(
        type_name: &str,
        view: View,
        identity: Option<&str>,
        model: &T,
    ) -> Object {
        Object::from_serde_with(type_name, view, identity, model, Props::All)
    }

    /// [`Object::from_serde`] with only the properties `props` asks for:
    /// the others are not built at all (a thousand connectors shown as a
    /// table need 4 of their 20 properties).
    pub fn from_serde_with<T: serde::Serialize>(
        type_name: &str,
        view: View,
        identity: Option<&str>,
        model: &T,
        props: Props,
    ) -> Object {
        let only = match (props, &view) {
            (Props::TableColumns, View::Table(cols)) => Some(*cols),
            _ => None,
        };
        let mut o = Object::new(type_name, view);
        if let Some(id) = identity.filter(|_| only.is_none_or(|c| c.contains(&"Identity"))) {
            o.props
                .push(("Identity".into(), Value::Str(id.to_string())));
        }
        // Straight into values, without a serde_json tree in between.
        let map = match only {
            None => crate::value_ser::to_value(model),
            Some(cols) => crate::value_ser::to_value_only(model, cols),
        };
        if let Ok(Value::Map(map)) = map {
            o.props.reserve(map.len());
            o.props.extend(map);
        }
        o
    }
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    pub fn opt_str(s: Option<impl ToString>) -> Value {
        s.map(|s| Value::Str(s.to_string())).unwrap_or(Value::Null)
    }

    pub fn list<T: ToString>(items: impl IntoIterator<Item = T>) -> Value {
        Value::List(
            items
                .into_iter()
                .map(|i| Value::Str(i.to_string()))
                .collect(),
        )
    }

    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Str(n.to_string()),
            },
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(m) => Value::Map(
                m.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// [`Value::from_json`], moving the strings instead of copying them.
    pub fn from_json_owned(v: serde_json::Value) -> Value {
        match v {
            serde_json::Value::String(s) => Value::Str(s),
            serde_json::Value::Array(a) => {
                Value::List(a.into_iter().map(Value::from_json_owned).collect())
            }
            serde_json::Value::Object(m) => Value::Map(
                m.into_iter()
                    .map(|(k, v)| (k, Value::from_json_owned(v)))
                    .collect(),
            ),
            other => Value::from_json(&other),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::List(l) => serde_json::Value::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => {
                serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
            Value::Object(o) => serde_json::Value::Object(
                o.props
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            Value::Date(t) => serde_json::Value::String(datetime::iso(*t)),
            Value::TimeSpan(_) | Value::Size(_) | Value::Secret(_) => {
                serde_json::Value::String(self.to_string())
            }
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
        }
    }

    /// PowerShell truthiness.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(_)
            | Value::Object(_)
            | Value::Date(_)
            | Value::Size(_)
            | Value::Secret(_) => true,
            Value::TimeSpan(d) => !d.is_zero(),
            Value::Float(f) => *f != 0.0,
        }
    }

    pub fn type_label(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "number",
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "hashtable",
            Value::Object(_) => "object",
            Value::Date(_) => "date",
            Value::TimeSpan(_) => "time span",
            Value::Size(_) => "size",
            Value::Float(_) => "number",
            Value::Secret(_) => "secure string",
        }
    }
}

/// Values serialize as [`Value::to_json`] would make them, without building
/// that tree first (JSON output of a thousand objects).
impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Str(t) => s.serialize_str(t),
            Value::List(l) => s.collect_seq(l),
            // A hashtable may repeat a key; the JSON map keeps its first
            // place and last value, as to_json's does.
            Value::Map(_) => self.to_json().serialize(s),
            // An object's property names are unique (`set` replaces).
            Value::Object(o) => {
                let mut m = s.serialize_map(Some(o.props.len()))?;
                for (k, v) in &o.props {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
            Value::Date(t) => s.serialize_str(&datetime::iso(*t)),
            Value::TimeSpan(_) | Value::Size(_) | Value::Secret(_) => s.collect_str(self),
            Value::Float(f) => s.serialize_f64(*f),
        }
    }
}

impl fmt::Display for Value {
    /// The way a value shows in a table or list cell.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Bool(true) => f.write_str("True"),
            Value::Bool(false) => f.write_str("False"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => f.write_str(s),
            Value::Secret(_) => f.write_str("System.Security.SecureString"),
            Value::List(l) => {
                f.write_str("{")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    match v {
                        Value::Str(s) => f.write_str(s)?,
                        v => write!(f, "{v}")?,
                    }
                }
                f.write_str("}")
            }
            Value::Map(m) => {
                f.write_str("@{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{k}={v}")?;
                }
                f.write_str("}")
            }
            // A custom object (Select-Object, Import-Csv, ConvertFrom-Json)
            // shows its properties, as PowerShell's PSCustomObject does.
            Value::Object(o) if o.is_custom() => {
                f.write_str("@{")?;
                for (i, (k, v)) in o.props.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{k}={v}")?;
                }
                f.write_str("}")
            }
            Value::Object(o) => match o.get("Identity").or_else(|| o.get("Name")) {
                Some(v) => write!(f, "{v}"),
                None => f.write_str(&o.type_name),
            },
            Value::Date(t) => f.write_str(&datetime::display(*t)),
            Value::TimeSpan(d) => f.write_str(&datetime::span_display(*d)),
            Value::Size(s) => write!(f, "{s}"),
            Value::Float(x) => f.write_str(&float_text(*x)),
        }
    }
}

/// A double as PowerShell shows it: up to 15 significant digits, no
/// trailing zeros (`1.5`, `0.333333333333333`, `29.9999884259259`).
pub fn float_text(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if x == 0.0 {
        return "0".into();
    }
    // 15 significant digits, then the shortest text of that value.
    let rounded: f64 = format!("{x:.14e}").parse().unwrap_or(x);
    let exp = rounded.abs().log10().floor();
    if (-5.0..15.0).contains(&exp) {
        let decimals = (14.0 - exp).max(0.0) as usize;
        let s = format!("{rounded:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        let s = format!("{rounded:e}");
        match s.split_once('e') {
            Some((m, e)) => {
                let (sign, digits) = match e.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', e),
                };
                format!("{m}E{sign}{digits:0>2}")
            }
            None => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_text_properties_become_dates() {
        let mut o = Object::new("Message", View::List)
            .with("DateReceived", Value::str("2026-12-07T13:24:37.5Z"))
            .with("NextRetryTime", Value::Null)
            .with("Subject", Value::str("2026-12-07T13:24:37Z"));
        let before = serde_json::to_string(&Value::Object(o.clone())).unwrap();
        o.dates(&["DateReceived", "NextRetryTime"]);
        assert!(matches!(o.get("DateReceived"), Some(Value::Date(_))));
        assert_eq!(o.get("NextRetryTime"), Some(&Value::Null));
        assert!(matches!(o.get("Subject"), Some(Value::Str(_))));
        // The JSON is what it was.
        assert_eq!(serde_json::to_string(&Value::Object(o)).unwrap(), before);
    }

    #[test]
    fn floats_print_as_powershell() {
        assert_eq!(float_text(1.5), "1.5");
        assert_eq!(float_text(1.0 / 3.0), "0.333333333333333");
        assert_eq!(float_text(2.0 / 3.0), "0.666666666666667");
        assert_eq!(float_text(30.0 - 1.0 / 86400.0), "29.9999884259259");
        assert_eq!(float_text(-2.25), "-2.25");
        assert_eq!(float_text(10.0), "10");
        assert_eq!(float_text(0.1 + 0.2), "0.3");
        assert_eq!(float_text(1e20), "1E+20");
        assert_eq!(float_text(1.5e-7), "1.5E-07");
    }

    #[test]
    fn typed_values_show_as_exchange_and_serialize_as_iso() {
        let t = time::macros::datetime!(2031-12-07 13:24:37 UTC);
        assert_eq!(Value::Date(t).to_string(), "12/7/2031 1:24:37 PM");
        assert_eq!(Value::TimeSpan(Duration::days(2)).to_string(), "2.00:00:00");
        assert_eq!(
            Value::Size(SizeLimit::mb(10)).to_string(),
            "10 MB (10,485,760 bytes)"
        );
        assert_eq!(Value::Size(SizeLimit::Unlimited).to_string(), "Unlimited");
        let v = Value::List(vec![
            Value::Date(t),
            Value::TimeSpan(Duration::minutes(5)),
            Value::Size(SizeLimit::Unlimited),
            Value::Float(0.5),
        ]);
        let direct = serde_json::to_string(&v).unwrap();
        assert_eq!(direct, serde_json::to_string(&v.to_json()).unwrap());
        assert_eq!(
            direct,
            r#"["2031-12-07T13:24:37Z","00:05:00","Unlimited",0.5]"#
        );
    }
}
