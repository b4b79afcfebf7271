//! Output formatting: Exchange-like table (default), list, and JSON.

use crate::value::{Object, Value, View};
use std::borrow::Cow;

/// Output format chosen with `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    List,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(Format::Table),
            "list" => Ok(Format::List),
            "json" => Ok(Format::Json),
            _ => Err(format!("'{s}' is not an output format (table, list, json)")),
        }
    }
}

/// Renders values in the chosen format. Table groups consecutive objects of
/// one type under one header, as PowerShell does.
pub fn render(values: &[Value], format: Format) -> String {
    match format {
        Format::Json => json(values),
        Format::List => list(values, None),
        Format::Table => {
            let mut out = String::new();
            let mut i = 0;
            while i < values.len() {
                match &values[i] {
                    Value::Object(o) => {
                        let mut j = i + 1;
                        while j < values.len()
                            && matches!(&values[j], Value::Object(p) if p.type_name == o.type_name)
                        {
                            j += 1;
                        }
                        match &o.view {
                            View::Table(cols) => out.push_str(&table(&values[i..j], cols)),
                            View::Columns(cols) => {
                                let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
                                out.push_str(&table(&values[i..j], &cols));
                            }
                            View::List => out.push_str(&list(&values[i..j], None)),
                        }
                        i = j;
                    }
                    // A date alone shows in full, a time span as a list, as
                    // PowerShell shows them.
                    Value::Date(t) => {
                        out.push_str(&crate::datetime::format(*t, "F").unwrap_or_default());
                        out.push('\n');
                        i += 1;
                    }
                    Value::TimeSpan(d) => {
                        out.push_str(&crate::datetime::span_list(*d));
                        i += 1;
                    }
                    other => {
                        out.push_str(&other.to_string());
                        out.push('\n');
                        i += 1;
                    }
                }
            }
            out
        }
    }
}

/// An array of objects with their PascalCase property names.
pub fn json(values: &[Value]) -> String {
    serde_json::to_string_pretty(values).unwrap_or_else(|_| "[]".into()) + "\n"
}

fn objects(values: &[Value]) -> impl Iterator<Item = &Object> {
    values.iter().filter_map(|v| match v {
        Value::Object(o) => Some(o),
        _ => None,
    })
}

const MAX_CELL: usize = 60;

/// A cell's text and its width in characters.
fn cell(v: Option<&Value>) -> (Cow<'_, str>, usize) {
    let mut s: Cow<'_, str> = match v {
        None | Some(Value::Null) => Cow::Borrowed(""),
        Some(Value::Str(s)) => Cow::Borrowed(s),
        Some(Value::Bool(true)) => Cow::Borrowed("True"),
        Some(Value::Bool(false)) => Cow::Borrowed("False"),
        Some(v) => {
            // Room for a cell's usual text saves regrowing it.
            let mut t = String::with_capacity(MAX_CELL);
            // Writing into a String cannot fail.
            let _ = std::fmt::write(&mut t, format_args!("{v}"));
            Cow::Owned(t)
        }
    };
    if s.bytes().any(|b| b == b'\r' || b == b'\n') {
        s = Cow::Owned(s.replace(['\r', '\n'], " "));
    }
    let n = if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    };
    if n > MAX_CELL {
        let mut t: String = s.chars().take(MAX_CELL - 3).collect();
        t.push_str("...");
        (Cow::Owned(t), MAX_CELL)
    } else {
        (s, n)
    }
}

const SPACES: &str = "                                                                ";

/// One table line: every cell but the last padded to its column's width
/// and followed by a space; trailing white space trimmed.
fn push_line<'a>(
    out: &mut String,
    cells: impl Iterator<Item = (&'a str, usize)>,
    widths: &[usize],
) {
    let start = out.len();
    let n = widths.len();
    for (i, (c, chars)) in cells.enumerate() {
        out.push_str(c);
        if i + 1 < n {
            let mut pad = widths[i].saturating_sub(chars) + 1;
            while pad > 0 {
                let k = pad.min(SPACES.len());
                out.push_str(&SPACES[..k]);
                pad -= k;
            }
        }
    }
    let kept = out[start..].trim_end().len();
    out.truncate(start + kept);
    out.push('\n');
}

/// A column's heading and the property it shows: `Label=Property` shows
/// a property under another heading (Exchange's certificate table shows
/// ServicesStringForm as `Services`); any other column is both.
pub fn column(c: &str) -> (&str, &str) {
    c.split_once('=').unwrap_or((c, c))
}

/// A table of the given columns.
pub fn table(values: &[Value], cols: &[&str]) -> String {
    let rows: Vec<Vec<(Cow<'_, str>, usize)>> = objects(values)
        .map(|o| cols.iter().map(|c| cell(o.get(column(c).1))).collect())
        .collect();
    let cols: Vec<&str> = cols.iter().map(|c| column(c).0).collect();
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| r[i].1)
                .chain(std::iter::once(c.len()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let cap: usize = widths.iter().map(|w| w + 1).sum::<usize>() + 1;
    let mut out = String::with_capacity(cap * (rows.len() + 2) + 2);
    out.push('\n');
    push_line(
        &mut out,
        cols.iter().map(|c| (*c, c.chars().count())),
        &widths,
    );
    let dashes: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    push_line(
        &mut out,
        dashes.iter().map(|d| (d.as_str(), d.len())),
        &widths,
    );
    for r in &rows {
        push_line(&mut out, r.iter().map(|(s, n)| (s.as_ref(), *n)), &widths);
    }
    out.push('\n');
    out
}

/// Every property (or the named ones), `Name : value`, one object after another.
pub fn list(values: &[Value], props: Option<&[String]>) -> String {
    let mut out = String::new();
    for v in values {
        match v {
            Value::Object(o) => {
                let selected: Vec<(&str, Option<&Value>)> = match props {
                    Some(names) if !names.iter().any(|n| n == "*") => {
                        names.iter().map(|n| (n.as_str(), o.get(n))).collect()
                    }
                    _ => o.props.iter().map(|(k, v)| (k.as_str(), Some(v))).collect(),
                };
                let w = selected.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
                out.push('\n');
                for (k, v) in selected {
                    out.push_str(&format!(
                        "{k:<w$} : {}\n",
                        v.map(|v| v.to_string()).unwrap_or_default()
                    ));
                }
            }
            other => {
                out.push_str(&other.to_string());
                out.push('\n');
            }
        }
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::json;
    use crate::value::{Object, Value, View};

    /// The JSON output is what serializing the `to_json` tree gave, byte
    /// for byte.
    #[test]
    fn json_is_the_same_as_through_the_json_tree() {
        let nested = Object::new("Inner", View::List).with("A", Value::Int(-1));
        let o = Object::new("T", View::Table(&["Name"]))
            .with("Name", Value::str("x \"quoted\"\n\u{1}é"))
            .with("Flag", Value::Bool(false))
            .with("Count", Value::Int(i64::MAX))
            .with("None", Value::Null)
            .with("Empty", Value::List(Vec::new()))
            .with(
                "List",
                Value::List(vec![Value::str("a"), Value::Int(2), Value::Object(nested)]),
            )
            .with(
                "Map",
                Value::Map(vec![
                    ("k".into(), Value::Int(1)),
                    ("j".into(), Value::Null),
                    ("k".into(), Value::Int(3)),
                ]),
            )
            .with("EmptyObject", Value::Object(Object::new("E", View::List)));
        for values in [
            vec![],
            vec![Value::Object(o.clone())],
            vec![
                Value::Object(o),
                Value::str("loose"),
                Value::Null,
                Value::Int(0),
            ],
        ] {
            let tree = serde_json::Value::Array(values.iter().map(Value::to_json).collect());
            let before = serde_json::to_string_pretty(&tree).unwrap() + "\n";
            assert_eq!(json(&values), before);
        }
    }
}
