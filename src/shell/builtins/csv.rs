//! CSV as PowerShell 7 writes and reads it: Export-Csv, Import-Csv,
//! ConvertTo-Csv, ConvertFrom-Csv. Every field is quoted (-UseQuotes
//! AsNeeded/Never change that), no #TYPE line unless
//! -IncludeTypeInformation, LF line endings; the header is the first
//! object's properties.

use super::files::{Encoding, file_error, path_param, read_file, write_file};
use super::filter::input_items;
use super::props::{names, property_names};
use super::select::custom_object;
use super::{Args, args, bad};
use crate::lang::Command;
use crate::shell::{R, RuntimeError, Shell, display_in_string, member};
use xshell_cmdlets::{CmdletError, Value};

const CUSTOM_OBJECT: &str = "System.Management.Automation.PSCustomObject";

/// How fields are quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quotes {
    Always,
    AsNeeded,
    Never,
}

fn delimiter(c: &Command, a: &Args<'_>) -> R<char> {
    match a.get("Delimiter") {
        None => Ok(','),
        Some(v) => {
            let s = v.to_string();
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(ch), None) => Ok(ch),
                _ => Err(bad(c, "Delimiter", format!("'{s}' is not one character"))),
            }
        }
    }
}

fn quotes(c: &Command, a: &Args<'_>) -> R<Quotes> {
    match a
        .get("UseQuotes")
        .map(|v| v.to_string().to_ascii_lowercase())
    {
        None => Ok(Quotes::Always),
        Some(q) if q == "always" => Ok(Quotes::Always),
        Some(q) if q == "asneeded" => Ok(Quotes::AsNeeded),
        Some(q) if q == "never" => Ok(Quotes::Never),
        Some(q) => Err(bad(
            c,
            "UseQuotes",
            format!("'{q}' is not Always, AsNeeded or Never"),
        )),
    }
}

/// A value as a CSV field shows it: PowerShell writes a collection's type
/// name, not its items.
fn field_text(v: &Value) -> String {
    match v {
        Value::List(items) if items.iter().all(|i| matches!(i, Value::Str(_))) => {
            "System.String[]".into()
        }
        Value::List(_) => "System.Object[]".into(),
        Value::Map(_) => "System.Collections.Hashtable".into(),
        other => display_in_string(other),
    }
}

fn field(text: &str, delim: char, q: Quotes) -> String {
    let needs = text.contains([delim, '"', '\n', '\r']);
    match q {
        Quotes::Always => format!("\"{}\"", text.replace('"', "\"\"")),
        Quotes::AsNeeded if needs => format!("\"{}\"", text.replace('"', "\"\"")),
        _ => text.to_string(),
    }
}

fn type_name(v: &Value) -> String {
    match v {
        Value::Object(o) => o.type_name.clone(),
        Value::Map(_) => "System.Collections.Hashtable".into(),
        Value::Str(_) => "System.String".into(),
        _ => "System.Object".into(),
    }
}

/// The CSV lines for `items`: the optional #TYPE line, the header (unless
/// `header` is false) and one line per item.
fn csv_lines(
    c: &Command,
    a: &Args<'_>,
    items: &[Value],
    header: bool,
) -> R<(Vec<String>, Vec<String>)> {
    let delim = delimiter(c, a)?;
    let q = quotes(c, a)?;
    let Some(first) = items.first() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let cols = property_names(first);
    let mut out = Vec::new();
    if a.flag("IncludeTypeInformation") {
        out.push(format!("#TYPE {}", type_name(first)));
    }
    let sep = delim.to_string();
    if header {
        out.push(
            cols.iter()
                .map(|k| field(k, delim, q))
                .collect::<Vec<_>>()
                .join(&sep),
        );
    }
    for item in items {
        out.push(
            cols.iter()
                .map(|k| {
                    field(
                        &member(item, k).map(|v| field_text(&v)).unwrap_or_default(),
                        delim,
                        q,
                    )
                })
                .collect::<Vec<_>>()
                .join(&sep),
        );
    }
    Ok((cols, out))
}

pub(super) fn convert_to_csv(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let items = input_items(&a, input);
    let (_, lines) = csv_lines(c, &a, &items, !a.flag("NoHeader"))?;
    Ok(lines.into_iter().map(Value::Str).collect())
}

pub(super) fn export_csv(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let (given, path) = path_param(c, &a, &["Path", "LiteralPath"])?;
    let encoding = Encoding::given(c, &a)?.unwrap_or(Encoding::Utf8);
    if encoding == Encoding::Bytes {
        return Err(bad(
            c,
            "Encoding",
            "CSV is text: give a text encoding, not bytes",
        ));
    }
    let items = input_items(&a, input);
    let append = a.flag("Append") && std::fs::metadata(&path).is_ok_and(|m| m.len() > 0);
    if a.flag("NoClobber") && !append && path.exists() {
        return Err(RuntimeError::new(
            CmdletError::Failed(format!("the file '{given}' already exists (-NoClobber)")),
            c.name.span,
        ));
    }
    let (cols, lines) = csv_lines(c, &a, &items, !append)?;
    if append && !a.flag("Force") {
        // The rows must fit the file's header.
        let existing = encoding.decode(&read_file(c, &given, &path)?);
        let delim = delimiter(c, &a)?;
        let header = existing
            .lines()
            .find(|l| !l.starts_with("#TYPE"))
            .map(|l| parse(l, delim).into_iter().next().unwrap_or_default())
            .unwrap_or_default();
        if let Some(missing) = cols
            .iter()
            .find(|k| !header.iter().any(|h| h.eq_ignore_ascii_case(k)))
        {
            return Err(RuntimeError::new(
                CmdletError::Failed(format!(
                    "cannot append to '{given}': its header has no column '{missing}' (-Force writes the rows anyway)"
                )),
                c.name.span,
            ));
        }
    }
    let mut text = String::new();
    for l in lines.iter().filter(|l| !(append && l.starts_with("#TYPE"))) {
        text.push_str(l);
        text.push('\n');
    }
    let mut bytes = encoding.encode(&text);
    if append {
        bytes.drain(..encoding.bom().len());
    }
    write_file(c, &given, &path, &bytes, append)?;
    Ok(if a.flag("PassThru") {
        items
    } else {
        Vec::new()
    })
}

/// Parses CSV text into records of fields (quoted fields may hold the
/// delimiter, doubled quotes and line breaks).
fn parse(text: &str, delim: char) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut fieldv = String::new();
    let mut quoted = false;
    let mut started = false;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        if quoted {
            if ch == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    fieldv.push('"');
                } else {
                    quoted = false;
                }
            } else {
                fieldv.push(ch);
            }
            continue;
        }
        match ch {
            '"' => {
                quoted = true;
                started = true;
            }
            c if c == delim => {
                record.push(std::mem::take(&mut fieldv));
                started = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                if started || !fieldv.is_empty() {
                    record.push(std::mem::take(&mut fieldv));
                    records.push(std::mem::take(&mut record));
                }
                started = false;
            }
            other => {
                fieldv.push(other);
                started = true;
            }
        }
    }
    if started || !fieldv.is_empty() {
        record.push(fieldv);
        records.push(record);
    }
    records
}

/// Objects from CSV text: the first record (or -Header) names the columns.
fn from_csv(c: &Command, a: &Args<'_>, text: &str) -> R<Vec<Value>> {
    let delim = delimiter(c, a)?;
    let mut records = parse(text, delim).into_iter().peekable();
    let mut type_name = CUSTOM_OBJECT.to_string();
    if let Some(first) = records.peek()
        && let Some(t) = first.first().and_then(|f| f.strip_prefix("#TYPE "))
    {
        type_name = format!("CSV:{}", t.trim());
        records.next();
    }
    let header: Vec<String> = match a.get("Header") {
        Some(h) => names(h),
        None => records.next().unwrap_or_default(),
    };
    let header: Vec<String> = header
        .into_iter()
        .enumerate()
        .map(|(i, h)| {
            if h.is_empty() {
                format!("H{}", i + 1)
            } else {
                h
            }
        })
        .collect();
    for (i, h) in header.iter().enumerate() {
        if header[..i].iter().any(|x| x.eq_ignore_ascii_case(h)) {
            return Err(bad(
                c,
                "Header",
                format!("the member '{h}' is already present: column names must be unique"),
            ));
        }
    }
    Ok(records
        .map(|r| {
            let props = header
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    (
                        h.clone(),
                        r.get(i).cloned().map(Value::Str).unwrap_or(Value::Null),
                    )
                })
                .collect();
            custom_object(type_name.clone(), props)
        })
        .collect())
}

pub(super) fn import_csv(sh: &mut Shell<'_>, c: &Command, _: Option<Vec<Value>>) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let (given, path) = path_param(c, &a, &["Path", "LiteralPath"])?;
    let encoding = Encoding::given(c, &a)?.unwrap_or(Encoding::Utf8);
    let bytes = std::fs::read(&path).map_err(|e| file_error(c, &given, &e))?;
    from_csv(c, &a, &encoding.decode(&bytes))
}

pub(super) fn convert_from_csv(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let items = input_items(&a, input);
    let text: String = items.iter().map(|v| display_in_string(v) + "\n").collect();
    from_csv(c, &a, &text)
}
