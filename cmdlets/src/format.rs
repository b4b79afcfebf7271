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

/// The type of Get-Member's output objects: shown as a table per
/// inspected type, each under a `TypeName:` line.
pub const MEMBER_DEFINITION: &str = "Microsoft.PowerShell.Commands.MemberDefinition";

/// The type of Select-String's output objects: each shows as its line
/// (`file:number:line` for a match in a file).
pub const MATCH_INFO: &str = "Microsoft.PowerShell.Commands.MatchInfo";

/// A Select-String match as PowerShell prints it.
fn match_text(o: &Object) -> String {
    let line = o.get("Line").map(|v| v.to_string()).unwrap_or_default();
    match o.get("Path").map(|v| v.to_string()) {
        Some(p) if p != "InputStream" => {
            let n = o
                .get("LineNumber")
                .map(|v| v.to_string())
                .unwrap_or_default();
            format!("{p}:{n}:{line}")
        }
        _ => line,
    }
}

/// A hashtable as PowerShell shows one: a Name/Value table of its entries.
fn hashtable(entries: &[(String, Value)]) -> String {
    const COLUMNS: &[&str] = &["Name", "Value"];
    let rows: Vec<Value> = entries
        .iter()
        .map(|(k, v)| {
            Value::Object(
                Object::new("System.Collections.DictionaryEntry", View::Table(COLUMNS))
                    .with("Name", Value::str(k.as_str()))
                    .with("Value", v.clone()),
            )
        })
        .collect();
    table(&rows, COLUMNS)
}

/// Get-Member's output: one table per inspected type.
fn member_tables(values: &[Value]) -> String {
    let mut out = String::new();
    let mut start = 0;
    while start < values.len() {
        let type_of = |v: &Value| match v {
            Value::Object(o) => o.get("TypeName").map(|t| t.to_string()),
            _ => None,
        };
        let t = type_of(&values[start]);
        let mut end = start + 1;
        while end < values.len() && type_of(&values[end]) == t {
            end += 1;
        }
        out.push_str(&format!("\n   TypeName: {}\n", t.unwrap_or_default()));
        out.push_str(&table(
            &values[start..end],
            &["Name", "MemberType", "Definition"],
        ));
        start = end;
    }
    out
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
                            _ if o.type_name == MEMBER_DEFINITION => {
                                out.push_str(&member_tables(&values[i..j]));
                            }
                            _ if o.type_name == MATCH_INFO => {
                                for m in objects(&values[i..j]) {
                                    out.push_str(&match_text(m));
                                    out.push('\n');
                                }
                            }
                            View::Table(cols) => out.push_str(&table_with(
                                &values[i..j],
                                cols,
                                TableOptions {
                                    numbers_right: numbers_right(o),
                                    ..TableOptions::default()
                                },
                            )),
                            View::Columns(cols) => {
                                let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
                                out.push_str(&table_with(
                                    &values[i..j],
                                    &cols,
                                    TableOptions {
                                        numbers_right: numbers_right(o),
                                        ..TableOptions::default()
                                    },
                                ));
                            }
                            View::List => out.push_str(&list(&values[i..j], None)),
                        }
                        i = j;
                    }
                    Value::Map(entries) => {
                        out.push_str(&hashtable(entries));
                        i += 1;
                    }
                    // A date alone shows in full, as PowerShell shows it; a
                    // time span as its text (Exchange's EnhancedTimeSpan,
                    // which every cmdlet gives, prints `2.00:00:00`).
                    Value::Date(t) => {
                        out.push_str(&crate::datetime::format(*t, "F").unwrap_or_default());
                        out.push('\n');
                        i += 1;
                    }
                    Value::TimeSpan(_) => {
                        out.push_str(&values[i].to_string());
                        out.push('\n');
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

/// How many items of an array of numbers a table or list cell shows before
/// `...` (PowerShell's `$FormatEnumerationLimit`): `{48, 130, 5, 2...}`.
/// Lists of names (domains, steps, hosts) show in full: cutting them would
/// hide what an administrator is checking. The value itself keeps every
/// item (`Select-Object -ExpandProperty`, JSON).
const ENUMERATION_LIMIT: usize = 4;

/// A value as a cell shows it: long arrays of numbers (FileData bytes) cut
/// after [`ENUMERATION_LIMIT`].
fn shown(v: &Value) -> String {
    match v {
        Value::List(items)
            if items.len() > ENUMERATION_LIMIT
                && items.iter().all(|i| matches!(i, Value::Int(_))) =>
        {
            let head = Value::List(items[..ENUMERATION_LIMIT].to_vec()).to_string();
            format!("{}...}}", head.trim_end_matches('}'))
        }
        v => v.to_string(),
    }
}

/// A cell's text and its width in characters.
fn cell(v: Option<&Value>) -> (Cow<'_, str>, usize) {
    let mut s: Cow<'_, str> = match v {
        None | Some(Value::Null) => Cow::Borrowed(""),
        Some(Value::Str(s)) => Cow::Borrowed(s),
        Some(Value::Bool(true)) => Cow::Borrowed("True"),
        Some(Value::Bool(false)) => Cow::Borrowed("False"),
        Some(v) => Cow::Owned(shown(v)),
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
    right: &[bool],
) {
    fn pad(out: &mut String, mut n: usize) {
        while n > 0 {
            let k = n.min(SPACES.len());
            out.push_str(&SPACES[..k]);
            n -= k;
        }
    }
    let start = out.len();
    let n = widths.len();
    for (i, (c, chars)) in cells.enumerate() {
        let gap = widths[i].saturating_sub(chars);
        let right = right.get(i).copied().unwrap_or(false);
        if right {
            pad(out, gap);
        }
        out.push_str(c);
        if i + 1 < n {
            pad(out, if right { 1 } else { gap + 1 });
        }
    }
    let kept = out[start..].trim_end().len();
    out.truncate(start + kept);
    out.push('\n');
}

/// Objects PowerShell shows without a view of their own: their number
/// columns are right-aligned.
fn numbers_right(o: &Object) -> bool {
    o.is_custom()
        || matches!(
            o.type_name.as_str(),
            "Microsoft.PowerShell.Commands.GroupInfo"
                | "Microsoft.PowerShell.Commands.TextMeasureInfo"
        )
}

/// How Format-Table lays a table out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableOptions {
    /// Long values continue on the next lines instead of being cut with `...`.
    pub wrap: bool,
    /// No header and dash lines.
    pub hide_headers: bool,
    /// Columns whose first value is a number are right-aligned, header
    /// included (PowerShell's table without a view).
    pub numbers_right: bool,
}

/// A column's heading and the property it shows: `Label=Property` shows
/// a property under another heading (Exchange's certificate table shows
/// ServicesStringForm as `Services`); any other column is both.
pub fn column(c: &str) -> (&str, &str) {
    c.split_once('=').unwrap_or((c, c))
}

/// A table of the given columns.
pub fn table(values: &[Value], cols: &[&str]) -> String {
    table_with(values, cols, TableOptions::default())
}

/// A cell's text split into lines of at most `MAX_CELL` characters.
fn wrapped(v: Option<&Value>) -> Vec<String> {
    let text = v.map(shown).unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let chars: Vec<char> = line.chars().collect();
        if chars.is_empty() {
            out.push(String::new());
        }
        for chunk in chars.chunks(MAX_CELL) {
            out.push(chunk.iter().collect());
        }
    }
    if out.is_empty() {
        out.push(String::new());
    }
    out
}

/// One printed line of a table row: each cell's text and width.
type Line<'a> = Vec<(Cow<'a, str>, usize)>;

/// A table of the given columns, laid out as `opts` asks.
pub fn table_with(values: &[Value], cols: &[&str], opts: TableOptions) -> String {
    // Each row is one or more lines (several when wrapping).
    let rows: Vec<Vec<Line<'_>>> = objects(values)
        .map(|o| {
            if opts.wrap {
                let cells: Vec<Vec<String>> =
                    cols.iter().map(|c| wrapped(o.get(column(c).1))).collect();
                let height = cells.iter().map(Vec::len).max().unwrap_or(1);
                (0..height)
                    .map(|line| {
                        cells
                            .iter()
                            .map(|c| {
                                let t = c.get(line).cloned().unwrap_or_default();
                                let n = t.chars().count();
                                (Cow::Owned(t), n)
                            })
                            .collect()
                    })
                    .collect()
            } else {
                vec![cols.iter().map(|c| cell(o.get(column(c).1))).collect()]
            }
        })
        .collect();
    let cols: Vec<&str> = cols.iter().map(|c| column(c).0).collect();
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let header = if opts.hide_headers {
                0
            } else {
                c.chars().count()
            };
            rows.iter()
                .flatten()
                .map(|r| r[i].1)
                .chain(std::iter::once(header))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let right: Vec<bool> = match objects(values).next() {
        Some(first) if opts.numbers_right => cols
            .iter()
            .map(|c| matches!(first.get(c), Some(Value::Int(_))))
            .collect(),
        _ => Vec::new(),
    };
    let cap: usize = widths.iter().map(|w| w + 1).sum::<usize>() + 1;
    let mut out = String::with_capacity(cap * (rows.len() + 2) + 2);
    out.push('\n');
    if !opts.hide_headers {
        push_line(
            &mut out,
            cols.iter().map(|c| (*c, c.chars().count())),
            &widths,
            &right,
        );
        let dashes: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        push_line(
            &mut out,
            dashes.iter().map(|d| (d.as_str(), d.len())),
            &widths,
            &right,
        );
    }
    for line in rows.iter().flatten() {
        push_line(
            &mut out,
            line.iter().map(|(s, n)| (s.as_ref(), *n)),
            &widths,
            &right,
        );
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
                    out.push_str(&format!("{k:<w$} : {}\n", v.map(shown).unwrap_or_default()));
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

    /// Byte arrays are cut after four items, as PowerShell shows them;
    /// lists of names are shown in full; JSON keeps every byte.
    #[test]
    fn byte_arrays_are_cut_names_are_not() {
        let bytes = Value::List((1..=6).map(Value::Int).collect());
        let names = Value::List(["a", "b", "c", "d", "e"].map(Value::str).to_vec());
        let o = Value::Object(
            Object::new("T", View::List)
                .with("FileData", bytes.clone())
                .with("Domains", names),
        );
        let text = super::list(std::slice::from_ref(&o), None);
        assert!(text.contains("FileData : {1, 2, 3, 4...}"), "{text}");
        assert!(text.contains("Domains  : {a, b, c, d, e}"), "{text}");
        let short = Value::List((1..=4).map(Value::Int).collect());
        assert_eq!(super::shown(&short), "{1, 2, 3, 4}");
        assert!(
            json(&[o])
                .contains("[\n      1,\n      2,\n      3,\n      4,\n      5,\n      6\n    ]")
        );
    }

    /// A hashtable prints as PowerShell's Name/Value table.
    #[test]
    fn a_hashtable_renders_as_a_name_value_table() {
        let m = Value::Map(vec![
            ("Port".into(), Value::Int(25)),
            ("Name".into(), Value::str("Outbound")),
        ]);
        assert_eq!(
            super::render(&[m], super::Format::Table),
            "\nName Value\n---- --------\nPort 25\nName Outbound\n\n"
        );
    }

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
