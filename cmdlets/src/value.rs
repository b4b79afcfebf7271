//! Values and objects that flow through pipelines and out as output.

use std::fmt;

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
            Value::Map(_) | Value::Object(_) => true,
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
        }
    }
}
