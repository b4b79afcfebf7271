//! The operators and type conversions beyond comparison, with PowerShell's
//! semantics: `-f` (.NET composite formatting), `-replace`, `-split`, `-join`,
//! `..`, `-is`/`-as`, `[type]` casts, and the static members scripts call
//! (`[System.IO.File]::ReadAllBytes`, `[Math]::Round`, `[string]::Join`, ...).
//!
//! xshell has no floating-point value: a fractional number is kept as its
//! text (`2.5`), which arithmetic, comparisons and formatting read back as a
//! number.

use super::display_in_string as text;
use xshell_cmdlets::Value;
use xshell_cmdlets::value::{Object, View};

/// Longest string or list an operator builds (`'x' * n`, `1..n`).
const MAX_ITEMS: usize = 1_000_000;

/// `[datetime]`: a date from a date, or text in the forms Get-Date reads.
pub fn datetime_cast(v: &Value) -> Result<Value, String> {
    super::date::to_datetime(v)
}

/// A value as a number, if it is one (`5`, `"5"`, `"2.5"`, `$true`).
pub fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::Str(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// A float as a value: an integer when it is one, else its shortest text.
pub fn from_f64(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::Int(f as i64)
    } else {
        Value::Float(f)
    }
}

/// A fraction kept as text (`"2.5"`, what `10 / 4` gives), as a number.
fn fractional(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        Value::Str(s) if s.contains(['.', 'e', 'E']) => {
            s.trim().parse::<f64>().ok().filter(|f| f.is_finite())
        }
        _ => None,
    }
}

/// Arithmetic and ordering when an operand is a fraction (xshell keeps
/// fractions as text): `10 / 4 + 1` is 3.5 and `10 / 4 -lt 10` is true.
/// None when neither operand is a fraction, or one is not a number.
pub fn fraction_binary(
    op: crate::lang::BinaryOp,
    l: &Value,
    r: &Value,
) -> Option<Result<Value, String>> {
    use crate::lang::{BinaryOp, CompareOp};
    if fractional(l).is_none() && fractional(r).is_none() {
        return None;
    }
    let (a, b) = (as_f64(l)?, as_f64(r)?);
    let v = match op {
        BinaryOp::Add => from_f64(a + b),
        BinaryOp::Subtract => from_f64(a - b),
        BinaryOp::Multiply => from_f64(a * b),
        BinaryOp::Remainder if b != 0.0 => from_f64(a % b),
        BinaryOp::Compare { op, .. } => Value::Bool(match op {
            CompareOp::Eq => a == b,
            CompareOp::Ne => a != b,
            CompareOp::Gt => a > b,
            CompareOp::Ge => a >= b,
            CompareOp::Lt => a < b,
            CompareOp::Le => a <= b,
            _ => return None,
        }),
        _ => return None,
    };
    Some(Ok(v))
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The operators of this module as binary operators.
pub fn binary(op: crate::lang::BinaryOp, l: &Value, r: &Value) -> Result<Value, String> {
    use crate::lang::BinaryOp;
    match op {
        BinaryOp::Replace { case_sensitive } => replace(l, r, case_sensitive),
        BinaryOp::Split { case_sensitive } => split(l, r, case_sensitive),
        BinaryOp::Join => Ok(join(l, &text(r))),
        BinaryOp::Format => {
            let args = match r {
                Value::List(items) => items.clone(),
                other => vec![other.clone()],
            };
            format(&text(l), &args).map(Value::Str)
        }
        BinaryOp::Is => Ok(Value::Bool(is_type(l, &text(r)))),
        BinaryOp::IsNot => Ok(Value::Bool(!is_type(l, &text(r)))),
        BinaryOp::As => Ok(cast(&text(r), l).unwrap_or(Value::Null)),
        BinaryOp::Range => range(l, r),
        BinaryOp::Divide => divide(l, r),
        other => Err(format!("operator {other:?} is not handled here")),
    }
}

// ----- -f ---------------------------------------------------------------------------------

/// `format -f args`: .NET composite formatting. `{index[,alignment][:format]}`,
/// `{{` and `}}` for braces. Formats: N/n (grouped, 2 decimals by default),
/// F/f (fixed), D/d (zero-padded integer), X/x (hex), P/p (percent), G/g,
/// E/e (exponent), and custom patterns of `0`, `#`, `,` and `.`.
pub fn format(fmt: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '}' => return Err(format!("invalid format string '{fmt}': unmatched '}}'")),
            '{' => {
                let mut item = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(ch) => item.push(ch),
                        None => {
                            return Err(format!("invalid format string '{fmt}': unclosed '{{'"));
                        }
                    }
                }
                out.push_str(&format_item(&item, args, fmt)?);
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

fn format_item(item: &str, args: &[Value], fmt: &str) -> Result<String, String> {
    let (head, spec) = match item.split_once(':') {
        Some((h, s)) => (h, Some(s)),
        None => (item, None),
    };
    let (index, align) = match head.split_once(',') {
        Some((i, a)) => (i, Some(a)),
        None => (head, None),
    };
    let bad = || format!("invalid format item '{{{item}}}' in '{fmt}'");
    let index: usize = index.trim().parse().map_err(|_| bad())?;
    let value = args.get(index).ok_or_else(|| {
        format!(
            "format item {{{index}}} has no value: {} value(s) given to -f",
            args.len()
        )
    })?;
    let body = match spec {
        None => text(value),
        Some(spec) => format_value(value, spec)?,
    };
    let Some(align) = align else { return Ok(body) };
    let width: i64 = align.trim().parse().map_err(|_| bad())?;
    let len = body.chars().count();
    let pad = usize::try_from(width.unsigned_abs())
        .unwrap_or(0)
        .min(10_000)
        .saturating_sub(len);
    Ok(if width < 0 {
        format!("{body}{}", " ".repeat(pad))
    } else {
        format!("{}{body}", " ".repeat(pad))
    })
}

/// Groups the digits of a non-negative integer text by thousands.
fn group(digits: &str) -> String {
    let mut out = String::new();
    let n = digits.len();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (n - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Fixed-point text of `f` with `decimals` decimals, rounded half away from
/// zero as .NET does; `grouped` adds thousands separators.
fn fixed(f: f64, decimals: usize, grouped: bool) -> String {
    let decimals = decimals.min(15);
    let scale = 10f64.powi(decimals as i32);
    let rounded = (f.abs() * scale).round() / scale;
    let s = format!("{rounded:.decimals$}");
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i.to_string(), Some(f.to_string())),
        None => (s, None),
    };
    let int = if grouped { group(&int) } else { int };
    let sign = if f < 0.0 && rounded != 0.0 { "-" } else { "" };
    match frac {
        Some(frac) => format!("{sign}{int}.{frac}"),
        None => format!("{sign}{int}"),
    }
}

fn format_value(v: &Value, spec: &str) -> Result<String, String> {
    let mut chars = spec.chars();
    let kind = chars.next().unwrap_or('G');
    let rest = chars.as_str();
    let precision: Option<usize> = if rest.is_empty() {
        None
    } else {
        rest.parse().ok()
    };
    let standard = precision.is_some() || rest.is_empty();
    let number =
        || as_f64(v).ok_or_else(|| format!("cannot format '{}' as a number ({spec})", text(v)));
    let integer =
        || as_int(v).ok_or_else(|| format!("cannot format '{}' as an integer ({spec})", text(v)));
    if standard {
        match kind {
            'N' | 'n' => {
                if let (Some(i), Some(0)) = (as_int(v), precision) {
                    let s = group(&i.unsigned_abs().to_string());
                    return Ok(if i < 0 { format!("-{s}") } else { s });
                }
                return Ok(fixed(number()?, precision.unwrap_or(2), true));
            }
            'F' | 'f' => return Ok(fixed(number()?, precision.unwrap_or(2), false)),
            'D' | 'd' => {
                let i = integer()?;
                let digits = i.unsigned_abs().to_string();
                let width = precision.unwrap_or(0).min(100);
                let padded = format!("{digits:0>width$}");
                return Ok(if i < 0 { format!("-{padded}") } else { padded });
            }
            'X' | 'x' => {
                let i = integer()?;
                let width = precision.unwrap_or(0).min(100);
                let s = if kind == 'X' {
                    format!("{i:0width$X}")
                } else {
                    format!("{i:0width$x}")
                };
                return Ok(s);
            }
            'P' | 'p' => {
                return Ok(format!(
                    "{}%",
                    fixed(number()? * 100.0, precision.unwrap_or(2), true)
                ));
            }
            'E' | 'e' => {
                let p = precision.unwrap_or(6).min(30);
                let s = format!("{:.p$e}", number()?);
                // .NET: 1.234560E+003
                let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
                let (sign, digits) = match e.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', e),
                };
                let e_char = if kind == 'E' { 'E' } else { 'e' };
                return Ok(format!("{m}{e_char}{sign}{digits:0>3}"));
            }
            'G' | 'g' => return Ok(text(v)),
            _ => {}
        }
    }
    // Custom numeric pattern: 0, #, ',' and '.'.
    if spec.chars().all(|c| matches!(c, '0' | '#' | ',' | '.')) && spec.contains(['0', '#']) {
        let f = number()?;
        let (int_pat, frac_pat) = spec.split_once('.').unwrap_or((spec, ""));
        let decimals = frac_pat.chars().filter(|c| matches!(c, '0' | '#')).count();
        let min_decimals = frac_pat.chars().filter(|c| *c == '0').count();
        let min_int = int_pat.chars().filter(|c| *c == '0').count();
        let grouped = int_pat.contains(',');
        let s = fixed(f, decimals, false);
        let negative = s.starts_with('-');
        let s = s.trim_start_matches('-');
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let mut frac = frac.to_string();
        while frac.len() > min_decimals && frac.ends_with('0') {
            frac.pop();
        }
        let int = if int == "0" && min_int == 0 { "" } else { int };
        let int = format!("{int:0>min_int$}");
        let int = if grouped { group(&int) } else { int };
        let sign = if negative { "-" } else { "" };
        return Ok(if frac.is_empty() {
            format!("{sign}{int}")
        } else {
            format!("{sign}{int}.{frac}")
        });
    }
    Err(format!(
        "the format '{spec}' is not supported by xshell (use N, F, D, X, P, E, G or a 0/#/,/. pattern)"
    ))
}

// ----- -replace, -split, -join, -match, .. ------------------------------------------------

fn regex(pattern: &str, case_sensitive: bool) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(!case_sensitive)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("invalid regular expression '{pattern}': {e}"))
}

/// .NET replacement text to the regex crate's: `$1x` is group 1 then `x`
/// in .NET, but the group named `1x` for the regex crate.
fn replacement(rep: &str) -> String {
    let mut out = String::new();
    let mut chars = rep.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('$') => {
                chars.next();
                out.push_str("$$");
            }
            Some(d) if d.is_ascii_digit() => {
                let mut n = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    n.push(*d);
                    chars.next();
                }
                out.push_str(&format!("${{{n}}}"));
            }
            Some('{') => out.push('$'),
            // A lone `$` is literal in .NET.
            _ => out.push_str("$$"),
        }
    }
    out
}

/// `l -replace pattern[, replacement]`, on each element of a list.
pub fn replace(l: &Value, r: &Value, case_sensitive: bool) -> Result<Value, String> {
    let (pattern, rep) = match r {
        Value::List(items) => match items.as_slice() {
            [p] => (text(p), String::new()),
            [p, rep] => (text(p), text(rep)),
            _ => {
                return Err(
                    "-replace takes a pattern and a replacement: -replace 'a(.)', 'b$1'".into(),
                );
            }
        },
        other => (text(other), String::new()),
    };
    let re = regex(&pattern, case_sensitive)?;
    let rep = replacement(&rep);
    let one = |v: &Value| Value::Str(re.replace_all(&text(v), rep.as_str()).into_owned());
    Ok(match l {
        Value::List(items) => Value::List(items.iter().map(one).collect()),
        other => one(other),
    })
}

/// `l -split pattern[, max]`.
pub fn split(l: &Value, r: &Value, case_sensitive: bool) -> Result<Value, String> {
    let (pattern, max) = match r {
        Value::List(items) => match items.as_slice() {
            [p] => (text(p), 0),
            [p, m] => (
                text(p),
                as_int(m).ok_or("the -split limit must be a number")?,
            ),
            _ => return Err("-split takes a pattern and an optional limit".into()),
        },
        other => (text(other), 0),
    };
    let re = regex(&pattern, case_sensitive)?;
    let mut out = Vec::new();
    let inputs = match l {
        Value::List(items) => items.clone(),
        other => vec![other.clone()],
    };
    for v in inputs {
        let s = text(&v);
        let parts: Vec<&str> = if max > 0 {
            re.splitn(&s, usize::try_from(max).unwrap_or(usize::MAX))
                .collect()
        } else {
            re.split(&s).collect()
        };
        out.extend(parts.into_iter().map(|p| Value::Str(p.to_string())));
    }
    Ok(Value::List(out))
}

/// Unary `-split s`: on runs of whitespace, without empty pieces.
pub fn split_whitespace(v: &Value) -> Value {
    let inputs = match v {
        Value::List(items) => items.clone(),
        other => vec![other.clone()],
    };
    Value::List(
        inputs
            .iter()
            .flat_map(|v| {
                text(v)
                    .split_whitespace()
                    .map(|p| Value::Str(p.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect(),
    )
}

/// `l -join sep` (unary `-join l`: `sep` empty).
pub fn join(l: &Value, sep: &str) -> Value {
    let items = match l {
        Value::List(items) => items.iter().map(text).collect::<Vec<_>>(),
        Value::Null => Vec::new(),
        other => vec![text(other)],
    };
    Value::Str(items.join(sep))
}

/// `l -match r` on a single value: whether it matched, and `$Matches`
/// (groups by number and by name).
pub fn match_captures(
    l: &Value,
    r: &Value,
    case_sensitive: bool,
) -> Result<(bool, Option<Value>), String> {
    let re = regex(&text(r), case_sensitive)?;
    let s = text(l);
    let Some(caps) = re.captures(&s) else {
        return Ok((false, None));
    };
    let mut map = Vec::new();
    for (i, name) in re.capture_names().enumerate() {
        if let Some(m) = caps.get(i) {
            let key = name.map_or_else(|| i.to_string(), str::to_string);
            map.push((key, Value::Str(m.as_str().to_string())));
        }
    }
    Ok((true, Some(Value::Map(map))))
}

/// `a..b`: the integers from a to b, up or down.
pub fn range(l: &Value, r: &Value) -> Result<Value, String> {
    let (Some(a), Some(b)) = (as_f64(l), as_f64(r)) else {
        return Err(format!("a range needs numbers: '{}..{}'", text(l), text(r)));
    };
    let (a, b) = (a.round() as i64, b.round() as i64);
    if a.abs_diff(b) >= MAX_ITEMS as u64 {
        return Err(format!("the range {a}..{b} is too large"));
    }
    Ok(Value::List(if a <= b {
        (a..=b).map(Value::Int).collect()
    } else {
        (b..=a).rev().map(Value::Int).collect()
    }))
}

/// `s * n` (repetition) for strings and lists; None when it is arithmetic.
pub fn repeat(l: &Value, r: &Value) -> Option<Result<Value, String>> {
    let count = || {
        as_int(r)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| format!("cannot repeat {} times", text(r)))
    };
    match l {
        Value::Str(s) if as_f64(l).is_none() => Some(count().and_then(|n| {
            if s.len().saturating_mul(n) > MAX_ITEMS * 10 {
                return Err("the repeated string is too long".to_string());
            }
            Ok(Value::Str(s.repeat(n)))
        })),
        Value::List(items) => Some(count().and_then(|n| {
            if items.len().saturating_mul(n) > MAX_ITEMS {
                return Err("the repeated list is too long".to_string());
            }
            Ok(Value::List(
                std::iter::repeat_n(items.iter().cloned(), n)
                    .flatten()
                    .collect(),
            ))
        })),
        _ => None,
    }
}

/// `a / b`: exact quotients stay integers, others are fractional as in
/// PowerShell (`10 / 4` is 2.5).
pub fn divide(l: &Value, r: &Value) -> Result<Value, String> {
    let (Some(a), Some(b)) = (as_f64(l), as_f64(r)) else {
        return Err(format!(
            "arithmetic needs numbers, not '{}' and '{}'",
            text(l),
            text(r)
        ));
    };
    if b == 0.0 {
        return Err("attempted to divide by zero".into());
    }
    if let (Some(x), Some(y)) = (as_int(l), as_int(r))
        && x.checked_rem(y) == Some(0)
    {
        return x
            .checked_div(y)
            .map(Value::Int)
            .ok_or_else(|| "number too large".to_string());
    }
    Ok(from_f64(a / b))
}

// ----- types ------------------------------------------------------------------------------

/// A type name as written, lowercased, without `System.` and with
/// PowerShell's accelerators' long forms folded.
fn normalize(type_name: &str) -> String {
    let lower = type_name.trim().to_ascii_lowercase().replace(' ', "");
    let lower = lower.strip_prefix("system.").unwrap_or(&lower).to_string();
    match lower.as_str() {
        "int32" | "int16" | "uint16" | "uint32" => "int".into(),
        "int64" | "uint64" => "long".into(),
        "boolean" => "bool".into(),
        "collections.hashtable" => "hashtable".into(),
        "management.automation.pscustomobject" => "pscustomobject".into(),
        "management.automation.psobject" => "psobject".into(),
        "single" | "float" | "decimal" => "double".into(),
        "object[]" => "array".into(),
        _ => lower,
    }
}

fn number_text(v: &Value) -> String {
    text(v).trim().replace('_', "")
}

/// `[int]` and `[long]`: PowerShell rounds fractions half to even.
fn to_int(v: &Value, type_name: &str) -> Result<i64, String> {
    let fail = || format!("cannot convert '{}' to [{type_name}]", text(v));
    match v {
        Value::Int(i) => Ok(*i),
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::Null => Ok(0),
        Value::Float(f) if f.is_finite() && f.abs() <= 9.0e18 => Ok(f.round_ties_even() as i64),
        Value::Str(_) | Value::Float(_) => {
            let s = number_text(v);
            if s.is_empty() {
                return Ok(0);
            }
            if let Ok(i) = s.parse::<i64>() {
                return Ok(i);
            }
            if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                return i64::from_str_radix(hex, 16).map_err(|_| fail());
            }
            let f: f64 = s.parse().map_err(|_| fail())?;
            if !f.is_finite() || f.abs() > 9.0e18 {
                return Err(fail());
            }
            Ok(f.round_ties_even() as i64)
        }
        _ => Err(fail()),
    }
}

fn to_bytes(v: &Value) -> Result<Vec<u8>, String> {
    match v {
        Value::Str(s) => Ok(s.as_bytes().to_vec()),
        Value::List(items) => items
            .iter()
            .map(|i| match i {
                Value::Int(n) => u8::try_from(*n).map_err(|_| format!("{n} is not a byte (0-255)")),
                Value::Str(_) => to_int(i, "byte").and_then(|n| {
                    u8::try_from(n).map_err(|_| format!("{n} is not a byte (0-255)"))
                }),
                other => Err(format!("cannot convert '{}' to a byte", text(other))),
            })
            .collect(),
        Value::Int(n) => Ok(vec![
            u8::try_from(*n).map_err(|_| format!("{n} is not a byte (0-255)"))?,
        ]),
        Value::Null => Ok(Vec::new()),
        other => Err(format!("cannot convert '{}' to [byte[]]", text(other))),
    }
}

/// Bytes as the shell holds them: a list of integers 0-255 (what
/// `-FileData` takes).
/// The type of `[System.Text.Encoding]::UTF8` and its kin.
pub const ENCODING: &str = "System.Text.Encoding";

/// `$encoding.GetBytes(text)` / `.GetString(bytes)`.
pub fn encoding_method(o: &Object, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
    if o.type_name != ENCODING {
        return None;
    }
    let web = o.get("WebName").map(|v| v.to_string()).unwrap_or_default();
    Some(match (name.to_ascii_lowercase().as_str(), args) {
        ("getbytes", [t]) => {
            let t = text(t);
            Ok(bytes_value(&match web.as_str() {
                "utf-16" => t.encode_utf16().flat_map(u16::to_le_bytes).collect(),
                "utf-16BE" => t.encode_utf16().flat_map(u16::to_be_bytes).collect(),
                "us-ascii" => t
                    .chars()
                    .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
                    .collect(),
                _ => t.into_bytes(),
            }))
        }
        ("getstring", [b]) => to_bytes(b).map(|bytes| {
            Value::Str(match web.as_str() {
                "utf-16" | "utf-16BE" => {
                    let units: Vec<u16> = bytes
                        .chunks(2)
                        .map(|c| {
                            let pair = [c[0], c.get(1).copied().unwrap_or(0)];
                            if web == "utf-16" {
                                u16::from_le_bytes(pair)
                            } else {
                                u16::from_be_bytes(pair)
                            }
                        })
                        .collect();
                    String::from_utf16_lossy(&units)
                }
                _ => String::from_utf8_lossy(&bytes).into_owned(),
            })
        }),
        _ => Err(format!(
            "method '{name}' with {} argument(s) is not supported on an encoding (GetBytes, GetString)",
            args.len()
        )),
    })
}

pub fn bytes_value(bytes: &[u8]) -> Value {
    Value::List(bytes.iter().map(|b| Value::Int(i64::from(*b))).collect())
}

/// `[type]value`.
pub fn cast(type_name: &str, v: &Value) -> Result<Value, String> {
    let t = normalize(type_name);
    if let Some(element) = t.strip_suffix("[]") {
        if element == "byte" {
            return Ok(bytes_value(&to_bytes(v)?));
        }
        let items = match v {
            Value::List(items) => items.clone(),
            Value::Null => Vec::new(),
            other => vec![other.clone()],
        };
        if element == "object" || element == "psobject" {
            return Ok(Value::List(items));
        }
        return items
            .iter()
            .map(|i| cast(element, i))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::List);
    }
    Ok(match t.as_str() {
        "int" | "long" => Value::Int(to_int(v, type_name)?),
        "byte" => {
            let n = to_int(v, type_name)?;
            u8::try_from(n).map_err(|_| format!("{n} is not a byte (0-255)"))?;
            Value::Int(n)
        }
        "double" => match v {
            Value::Null => Value::Int(0),
            _ => from_f64(
                number_text(v)
                    .parse::<f64>()
                    .ok()
                    .or_else(|| as_f64(v))
                    .ok_or_else(|| format!("cannot convert '{}' to [{type_name}]", text(v)))?,
            ),
        },
        "string" => match v {
            Value::Null => Value::Str(String::new()),
            other => Value::Str(text(other)),
        },
        "bool" => Value::Bool(v.truthy()),
        "char" => match v {
            Value::Int(n) => Value::Str(
                u32::try_from(*n)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("{n} is not a character"))?
                    .to_string(),
            ),
            Value::Str(s) if s.chars().count() == 1 => Value::Str(s.clone()),
            other => return Err(format!("cannot convert '{}' to [char]", text(other))),
        },
        "array" => match v {
            Value::List(_) => v.clone(),
            Value::Null => Value::List(Vec::new()),
            other => Value::List(vec![other.clone()]),
        },
        "object" | "psobject" => v.clone(),
        "hashtable" | "ordered" => match v {
            Value::Map(_) => v.clone(),
            other => return Err(format!("cannot convert '{}' to [hashtable]", text(other))),
        },
        "pscustomobject" => match v {
            Value::Map(entries) => {
                let columns = entries.iter().map(|(k, _)| k.clone()).collect();
                let mut o = Object::new("PSCustomObject", View::Columns(columns));
                for (k, val) in entries {
                    o.set(k, val.clone());
                }
                Value::Object(o)
            }
            other => other.clone(),
        },
        "void" => Value::Null,
        "regex" | "text.regularexpressions.regex" => Value::Str(text(v)),
        "datetime" => datetime_cast(v)?,
        _ => {
            return Err(format!(
                "the type [{type_name}] is not supported by xshell (types: int, long, string, bool, double, char, byte, array, byte[], string[], int[], hashtable, pscustomobject, datetime, void)"
            ));
        }
    })
}

/// `v -is [type]`.
pub fn is_type(v: &Value, type_name: &str) -> bool {
    let t = normalize(type_name);
    match (t.as_str(), v) {
        (_, Value::Null) => false,
        ("object" | "psobject", _) => true,
        ("int" | "long", Value::Int(_)) => true,
        ("string", Value::Str(_)) => true,
        ("bool", Value::Bool(_)) => true,
        ("array", Value::List(_)) => true,
        ("hashtable", Value::Map(_)) => true,
        ("double", Value::Str(s)) => s.contains('.') && s.trim().parse::<f64>().is_ok(),
        (_, Value::Object(o)) => {
            let short = t.rsplit('.').next().unwrap_or(&t);
            o.type_name.eq_ignore_ascii_case(short) || o.type_name.eq_ignore_ascii_case(&t)
        }
        _ => false,
    }
}

// ----- static members ---------------------------------------------------------------------

/// A path a script reads: Windows paths are named as such.
pub fn host_path(v: &Value) -> Result<String, String> {
    let p = text(v);
    let b = p.as_bytes();
    let drive = b.len() >= 3
        && b[0].is_ascii_alphabetic()
        && b[1] == b':'
        && (b[2] == b'\\' || b[2] == b'/');
    if drive || p.starts_with("\\\\") {
        return Err(format!(
            "'{p}' is a Windows path; xshell runs here, on this machine: give the file's path on it (for example ./import.pfx)"
        ));
    }
    Ok(p)
}

fn read_error(path: &str, e: std::io::Error) -> String {
    format!("cannot read '{path}': {e}")
}

/// `[type]::member` (`args: None`) or `[type]::member(args)`.
pub fn static_member(
    type_name: &str,
    member: &str,
    args: Option<&[Value]>,
) -> Result<Value, String> {
    let t = normalize(type_name);
    let m = member.to_ascii_lowercase();
    let unsupported = || {
        format!(
            "[{type_name}]::{member}{} is not supported by xshell",
            if args.is_some() { "()" } else { "" }
        )
    };
    let num = |v: &Value| {
        as_f64(v).ok_or_else(|| format!("[{type_name}]::{member}: '{}' is not a number", text(v)))
    };
    match (t.as_str(), args) {
        // [System.Text.Encoding]::UTF8 / Unicode / ASCII: .GetBytes(), .GetString().
        ("text.encoding", None) => match m.as_str() {
            "utf8" | "unicode" | "ascii" | "default" | "bigendianunicode" => Ok(Value::Object(
                Object::new(ENCODING, View::List)
                    .with("EncodingName", Value::str(&m))
                    .with(
                        "WebName",
                        Value::str(match m.as_str() {
                            "unicode" => "utf-16",
                            "bigendianunicode" => "utf-16BE",
                            "ascii" => "us-ascii",
                            _ => "utf-8",
                        }),
                    ),
            )),
            _ => Err(unsupported()),
        },
        ("convert", Some(args)) => match (m.as_str(), args) {
            ("tobase64string", [b]) => Ok(Value::Str(xshell_core::certificates::b64_encode(
                &to_bytes(b)?,
            ))),
            ("frombase64string", [t]) => xshell_core::certificates::b64_decode(text(t).trim())
                .map(|b| bytes_value(&b))
                .ok_or_else(|| format!("[Convert]::FromBase64String: '{}' is not base64", text(t))),
            _ => Err(unsupported()),
        },
        ("io.file", Some(args)) => match (m.as_str(), args) {
            ("readallbytes", [p]) => {
                let path = host_path(p)?;
                std::fs::read(&path)
                    .map(|b| bytes_value(&b))
                    .map_err(|e| read_error(&path, e))
            }
            ("readalltext", [p]) => {
                let path = host_path(p)?;
                std::fs::read_to_string(&path)
                    .map(Value::Str)
                    .map_err(|e| read_error(&path, e))
            }
            ("readalllines", [p]) => {
                let path = host_path(p)?;
                std::fs::read_to_string(&path)
                    .map(|s| Value::List(s.lines().map(|l| Value::Str(l.to_string())).collect()))
                    .map_err(|e| read_error(&path, e))
            }
            ("exists", [p]) => Ok(Value::Bool(
                host_path(p).is_ok_and(|p| std::path::Path::new(&p).is_file()),
            )),
            ("writeallbytes", [p, content]) => {
                let path = host_path(p)?;
                let bytes = to_bytes(content)?;
                std::fs::write(&path, bytes)
                    .map(|()| Value::Null)
                    .map_err(|e| format!("cannot write '{path}': {e}"))
            }
            ("writealltext" | "appendalltext", [p, content]) => {
                let path = host_path(p)?;
                let r = if m == "writealltext" {
                    std::fs::write(&path, text(content))
                } else {
                    use std::io::Write;
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&path)
                        .and_then(|mut f| f.write_all(text(content).as_bytes()))
                };
                r.map(|()| Value::Null)
                    .map_err(|e| format!("cannot write '{path}': {e}"))
            }
            _ => Err(unsupported()),
        },
        ("io.path", Some(args)) => {
            let p = |v: &Value| std::path::PathBuf::from(text(v));
            let s = |o: Option<&std::ffi::OsStr>| {
                Value::Str(
                    o.map(|x| x.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                )
            };
            match (m.as_str(), args) {
                ("getfilename", [x]) => Ok(s(p(x).file_name())),
                ("getfilenamewithoutextension", [x]) => Ok(s(p(x).file_stem())),
                ("getextension", [x]) => Ok(Value::Str(
                    p(x).extension()
                        .map(|e| format!(".{}", e.to_string_lossy()))
                        .unwrap_or_default(),
                )),
                ("getdirectoryname", [x]) => Ok(s(p(x).parent().map(|d| d.as_os_str()))),
                ("combine", parts) if !parts.is_empty() => {
                    let mut out = std::path::PathBuf::new();
                    for part in parts {
                        out.push(text(part));
                    }
                    Ok(Value::Str(out.to_string_lossy().into_owned()))
                }
                _ => Err(unsupported()),
            }
        }
        ("math", Some(args)) => match (m.as_str(), args) {
            ("round", [x]) => Ok(from_f64(num(x)?.round_ties_even())),
            ("round", [x, d]) => {
                let d = as_int(d)
                    .filter(|d| (0..=15).contains(d))
                    .ok_or("[Math]::Round: the number of digits must be 0-15")?;
                let scale = 10f64.powi(d as i32);
                Ok(from_f64((num(x)? * scale).round_ties_even() / scale))
            }
            ("floor", [x]) => Ok(from_f64(num(x)?.floor())),
            ("ceiling", [x]) => Ok(from_f64(num(x)?.ceil())),
            ("truncate", [x]) => Ok(from_f64(num(x)?.trunc())),
            ("abs", [x]) => Ok(from_f64(num(x)?.abs())),
            ("sqrt", [x]) => Ok(from_f64(num(x)?.sqrt())),
            ("pow", [x, y]) => Ok(from_f64(num(x)?.powf(num(y)?))),
            ("max", [x, y]) => Ok(from_f64(num(x)?.max(num(y)?))),
            ("min", [x, y]) => Ok(from_f64(num(x)?.min(num(y)?))),
            _ => Err(unsupported()),
        },
        ("string", None) if m == "empty" => Ok(Value::Str(String::new())),
        ("string", Some(args)) => match (m.as_str(), args) {
            ("isnullorempty", [x]) => Ok(Value::Bool(text(x).is_empty())),
            ("isnullorwhitespace", [x]) => Ok(Value::Bool(text(x).trim().is_empty())),
            ("join", [sep, rest @ ..]) if !rest.is_empty() => {
                let items = match rest {
                    [one] => one.clone(),
                    many => Value::List(many.to_vec()),
                };
                Ok(join(&items, &text(sep)))
            }
            ("concat", parts) => Ok(Value::Str(parts.iter().map(text).collect())),
            ("format", [f, rest @ ..]) => {
                let values = match rest {
                    [Value::List(items)] => items.clone(),
                    many => many.to_vec(),
                };
                format(&text(f), &values).map(Value::Str)
            }
            _ => Err(unsupported()),
        },
        ("int" | "long", None) => match m.as_str() {
            "maxvalue" if t == "int" => Ok(Value::Int(i64::from(i32::MAX))),
            "minvalue" if t == "int" => Ok(Value::Int(i64::from(i32::MIN))),
            "maxvalue" => Ok(Value::Int(i64::MAX)),
            "minvalue" => Ok(Value::Int(i64::MIN)),
            _ => Err(unsupported()),
        },
        ("int" | "long", Some([x])) if m == "parse" => cast(&t, x),
        ("environment", None) => match m.as_str() {
            "newline" => Ok(Value::Str("\n".into())),
            "machinename" => Ok(Value::Str(
                std::fs::read_to_string("/etc/hostname")
                    .map(|h| h.trim().to_string())
                    .unwrap_or_default(),
            )),
            "username" => Ok(Value::Str(std::env::var("USER").unwrap_or_default())),
            _ => Err(unsupported()),
        },
        ("datetime", _) => Err(format!(
            "[datetime]::{member} is not available yet: date values come with the members module"
        )),
        _ => Err(unsupported()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    #[test]
    fn composite_formatting() {
        let f = |fmt: &str, args: &[Value]| format(fmt, args).unwrap();
        assert_eq!(f("{0} and {1}", &[s("a"), Value::Int(2)]), "a and 2");
        assert_eq!(f("[{0,-6}|{1,5}]", &[s("ab"), s("cd")]), "[ab    |   cd]");
        assert_eq!(f("{0:N0}", &[Value::Int(1234567)]), "1,234,567");
        assert_eq!(f("{0:N2}", &[Value::Int(1234)]), "1,234.00");
        assert_eq!(f("{0:N}", &[Value::Int(1234)]), "1,234.00");
        assert_eq!(f("{0:N0}", &[Value::Int(-1234567)]), "-1,234,567");
        assert_eq!(f("{0:N2}", &[s("1234.567")]), "1,234.57");
        assert_eq!(f("{0:N1}", &[s("-0.04")]), "0.0");
        assert_eq!(f("{0:D3}", &[Value::Int(7)]), "007");
        assert_eq!(f("{0:D3}", &[Value::Int(-7)]), "-007");
        assert_eq!(f("{0:X}", &[Value::Int(255)]), "FF");
        assert_eq!(f("{0:x4}", &[Value::Int(255)]), "00ff");
        assert_eq!(f("{0:F1}", &[s("2.25")]), "2.3");
        assert_eq!(f("{0:P1}", &[s("0.125")]), "12.5%");
        assert_eq!(f("{0:0.00}", &[s("3.14159")]), "3.14");
        assert_eq!(f("{0:#,##0}", &[Value::Int(1234567)]), "1,234,567");
        assert_eq!(f("{{{0}}}", &[Value::Int(1)]), "{1}");
        assert_eq!(f("{0:E2}", &[Value::Int(1234)]), "1.23E+003");
        assert!(format("{1}", &[s("a")]).unwrap_err().contains("no value"));
        assert!(format("{0", &[s("a")]).is_err());
        assert!(format("}", &[]).is_err());
        assert!(format("{0:D}", &[s("x")]).is_err());
        assert!(format("{0:yyyy}", &[Value::Int(1)]).is_err());
    }

    #[test]
    fn replace_split_join() {
        assert_eq!(
            replace(
                &s("mail.contoso.com"),
                &Value::List(vec![s(r"^(\w+)\.(.*)$"), s("$2 ($1x)")]),
                false
            )
            .unwrap(),
            s("contoso.com (mailx)")
        );
        assert_eq!(replace(&s("AbA"), &s("a"), false).unwrap(), s("b"));
        assert_eq!(replace(&s("AbA"), &s("a"), true).unwrap(), s("AbA"));
        assert_eq!(
            replace(&s("a$b"), &Value::List(vec![s("b"), s("$$")]), false).unwrap(),
            s("a$$")
        );
        assert_eq!(
            split(&s("a, b,c"), &s(r",\s*"), false).unwrap(),
            Value::List(vec![s("a"), s("b"), s("c")])
        );
        assert_eq!(
            split(
                &s("a,b,c"),
                &Value::List(vec![s(","), Value::Int(2)]),
                false
            )
            .unwrap(),
            Value::List(vec![s("a"), s("b,c")])
        );
        assert_eq!(
            split_whitespace(&s("  a  b ")),
            Value::List(vec![s("a"), s("b")])
        );
        assert_eq!(
            join(&Value::List(vec![s("a"), Value::Int(1)]), ", "),
            s("a, 1")
        );
        assert!(replace(&s("x"), &s("("), false).is_err());
    }

    #[test]
    fn casts() {
        assert_eq!(cast("int", &s(" 42 ")).unwrap(), Value::Int(42));
        assert_eq!(cast("int", &s("2.5")).unwrap(), Value::Int(2));
        assert_eq!(cast("Int32", &s("3.5")).unwrap(), Value::Int(4));
        assert_eq!(cast("long", &s("0x10")).unwrap(), Value::Int(16));
        assert!(
            cast("int", &s("abc"))
                .unwrap_err()
                .contains("cannot convert 'abc' to [int]")
        );
        assert_eq!(cast("string", &Value::Int(5)).unwrap(), s("5"));
        assert_eq!(cast("bool", &s("")).unwrap(), Value::Bool(false));
        assert_eq!(cast("byte[]", &s("AB")).unwrap(), bytes_value(b"AB"));
        assert_eq!(
            cast(
                "System.Byte[]",
                &Value::List(vec![Value::Int(1), Value::Int(255)])
            )
            .unwrap(),
            bytes_value(&[1, 255])
        );
        assert!(cast("byte[]", &Value::List(vec![Value::Int(256)])).is_err());
        assert_eq!(cast("array", &s("x")).unwrap(), Value::List(vec![s("x")]));
        assert_eq!(
            cast("int[]", &Value::List(vec![s("1"), s("2")])).unwrap(),
            Value::List(vec![Value::Int(1), Value::Int(2)])
        );
        assert!(matches!(
            cast("datetime", &s("03/13/2020 09:00:00")).unwrap(),
            Value::Date(_)
        ));
        assert!(cast("datetime", &s("not a date")).is_err());
        assert!(cast("Xml", &s("x")).unwrap_err().contains("not supported"));
        assert!(is_type(&Value::Int(1), "int"));
        assert!(is_type(&s("x"), "System.String"));
        assert!(!is_type(&Value::Null, "object"));
        assert!(is_type(&Value::List(vec![]), "array"));
    }

    #[test]
    fn statics() {
        let st = |t: &str, m: &str, a: &[Value]| static_member(t, m, Some(a));
        assert_eq!(st("Math", "Round", &[s("2.5")]).unwrap(), Value::Int(2));
        assert_eq!(
            st("System.Math", "Round", &[s("2.567"), Value::Int(2)]).unwrap(),
            Value::Float(2.57)
        );
        assert_eq!(st("Math", "Floor", &[s("2.7")]).unwrap(), Value::Int(2));
        assert_eq!(st("Math", "Ceiling", &[s("2.1")]).unwrap(), Value::Int(3));
        assert_eq!(
            st("Math", "Max", &[Value::Int(2), Value::Int(9)]).unwrap(),
            Value::Int(9)
        );
        assert_eq!(
            st("string", "IsNullOrEmpty", &[Value::Null]).unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            st(
                "String",
                "Join",
                &[s(";"), Value::List(vec![s("a"), s("b")])]
            )
            .unwrap(),
            s("a;b")
        );
        assert_eq!(static_member("string", "Empty", None).unwrap(), s(""));
        assert_eq!(
            static_member("int", "MaxValue", None).unwrap(),
            Value::Int(2147483647)
        );
        assert!(
            st(
                "IO.File",
                "ReadAllBytes",
                &[s(r"c:\certificates\import.pfx")]
            )
            .unwrap_err()
            .contains("is a Windows path")
        );
        assert!(
            st("IO.File", "ReadAllText", &[s("/no/such/file")])
                .unwrap_err()
                .contains("cannot read '/no/such/file'")
        );
        assert!(
            st("IO.File", "Delete", &[s("x")])
                .unwrap_err()
                .contains("not supported")
        );
        assert_eq!(
            st("IO.File", "Exists", &[s("/no/such")]).unwrap(),
            Value::Bool(false)
        );
    }

    #[test]
    fn fractions_compute_as_numbers() {
        use crate::lang::{BinaryOp, CompareOp};
        let f = |op, l: &Value, r: &Value| fraction_binary(op, l, r).map(Result::unwrap);
        assert_eq!(
            f(BinaryOp::Add, &s("2.5"), &Value::Int(1)),
            Some(Value::Float(3.5))
        );
        assert_eq!(
            f(BinaryOp::Multiply, &s("2.5"), &Value::Int(2)),
            Some(Value::Int(5))
        );
        let lt = BinaryOp::Compare {
            op: CompareOp::Lt,
            case_sensitive: false,
        };
        assert_eq!(f(lt, &s("2.5"), &Value::Int(10)), Some(Value::Bool(true)));
        assert_eq!(f(lt, &Value::Int(3), &s("2.5")), Some(Value::Bool(false)));
        assert_eq!(f(BinaryOp::Add, &Value::Int(1), &Value::Int(2)), None);
        assert_eq!(f(BinaryOp::Add, &s("2.5"), &s("x")), None);
    }

    #[test]
    fn ranges_repeats_division() {
        assert_eq!(
            range(&Value::Int(3), &Value::Int(1)).unwrap(),
            Value::List(vec![Value::Int(3), Value::Int(2), Value::Int(1)])
        );
        assert!(range(&Value::Int(0), &Value::Int(10_000_000)).is_err());
        assert_eq!(
            repeat(&s("ab"), &Value::Int(2)).unwrap().unwrap(),
            s("abab")
        );
        assert!(repeat(&Value::Int(2), &Value::Int(2)).is_none());
        assert_eq!(
            divide(&Value::Int(10), &Value::Int(4)).unwrap(),
            Value::Float(2.5)
        );
        assert_eq!(
            divide(&Value::Int(10), &Value::Int(5)).unwrap(),
            Value::Int(2)
        );
        assert!(divide(&Value::Int(1), &Value::Int(0)).is_err());
    }
}
