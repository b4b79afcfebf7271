//! Get-Date, and the date parsing `[datetime]` casts use.
//!
//! Dates are UTC (see [`xshell_cmdlets::datetime`]): `Get-Date` is the time
//! now in UTC, and a date text without an offset is read as UTC.

use super::{R, RuntimeError, Shell};
use crate::lang::{Arg as AstArg, Command};
use time::OffsetDateTime;
use xshell_cmdlets::{CmdletError, Value, datetime};
use xshell_core::types::ParseValueError;

/// A date from text as `[datetime]"..."` reads it on an en-US host: ISO
/// 8601 (`2018-03-13T09:00:00Z`) or `M/d/yyyy [h:mm[:ss] [AM|PM]]`
/// (`03/13/2018 09:00:00`, `3/13/2018`, `3/13/2018 9:00 AM`).
pub fn parse_datetime(text: &str) -> Result<OffsetDateTime, ParseValueError> {
    datetime::parse(text)
}

/// `[datetime]$x`: a date stays a date, text is parsed, anything else is
/// an error that names it.
pub fn to_datetime(v: &Value) -> Result<Value, String> {
    match v {
        Value::Date(_) => Ok(v.clone()),
        Value::Str(s) => parse_datetime(s).map(Value::Date).map_err(|e| e.0),
        other => Err(format!(
            "cannot convert a {} ('{other}') to a date",
            other.type_label()
        )),
    }
}

const PARAMS: &[&str] = &[
    "Date",
    "Format",
    "UFormat",
    "Year",
    "Month",
    "Day",
    "Hour",
    "Minute",
    "Second",
    "Millisecond",
];
const SWITCHES: &[&str] = &["AsUTC"];

fn usage(c: &Command, msg: String) -> RuntimeError {
    RuntimeError::new(CmdletError::Usage(msg), c.name.span)
}

/// The named arguments (by canonical name; a unique prefix is enough) and
/// the positional ones, evaluated.
/// Named arguments by canonical name, in the order given.
type Named = Vec<(&'static str, Value)>;

fn arguments(
    sh: &mut Shell<'_>,
    c: &Command,
    params: &[&'static str],
    switches: &[&'static str],
) -> R<(Named, Vec<Value>)> {
    let mut named = Vec::new();
    let mut positional = Vec::new();
    let mut it = c.args.iter();
    while let Some(a) = it.next() {
        match a {
            AstArg::Parameter {
                name,
                colon_value,
                name_span,
                ..
            } => {
                let lower = name.to_ascii_lowercase();
                let all = params.iter().chain(switches);
                let exact = all.clone().find(|p| p.eq_ignore_ascii_case(name));
                let hits: Vec<&&str> = match exact {
                    Some(e) => vec![e],
                    None => all
                        .filter(|p| p.to_ascii_lowercase().starts_with(&lower))
                        .collect(),
                };
                let p: &'static str = match hits.as_slice() {
                    [one] => one,
                    [] => {
                        return Err(RuntimeError::new(
                            CmdletError::Usage(format!(
                                "a parameter cannot be found that matches parameter name '{name}' \
                                 ({} takes -{})",
                                c.name.text,
                                params
                                    .iter()
                                    .chain(switches)
                                    .copied()
                                    .collect::<Vec<_>>()
                                    .join(", -")
                            )),
                            *name_span,
                        ));
                    }
                    many => {
                        return Err(RuntimeError::new(
                            CmdletError::Usage(format!(
                                "parameter '{name}' is ambiguous; it could be {}",
                                many.iter()
                                    .map(|p| format!("-{p}"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )),
                            *name_span,
                        ));
                    }
                };
                let v = match colon_value {
                    Some(e) => sh.expr(e)?,
                    None if switches.contains(&p) => Value::Bool(true),
                    None => match it.next() {
                        Some(AstArg::Value(e)) => sh.expr(e)?,
                        _ => {
                            return Err(usage(
                                c,
                                format!("missing an argument for parameter '{p}'"),
                            ));
                        }
                    },
                };
                if named.iter().any(|(n, _)| *n == p) {
                    return Err(usage(
                        c,
                        format!("parameter '{p}' was given more than once"),
                    ));
                }
                named.push((p, v));
            }
            AstArg::Value(e) => positional.push(sh.expr(e)?),
        }
    }
    Ok((named, positional))
}

/// Get-Date [[-Date] <date>] [-Year n] [-Month n] [-Day n] [-Hour n]
/// [-Minute n] [-Second n] [-Millisecond n] [-Format f | -UFormat f]:
/// a date value, or text with -Format/-UFormat. A date piped in is -Date.
pub fn get_date(sh: &mut Shell<'_>, c: &Command, input: Option<Vec<Value>>) -> R<Vec<Value>> {
    let (mut named, positional) = arguments(sh, c, PARAMS, SWITCHES)?;
    let mut positional = positional.into_iter();
    if let Some(v) = positional.next() {
        if named.iter().any(|(n, _)| *n == "Date") {
            return Err(usage(
                c,
                format!("a positional parameter cannot be found that accepts argument '{v}'"),
            ));
        }
        named.push(("Date", v));
    }
    if let Some(v) = positional.next() {
        return Err(usage(
            c,
            format!("a positional parameter cannot be found that accepts argument '{v}'"),
        ));
    }
    if named.iter().any(|(n, _)| *n == "Format") && named.iter().any(|(n, _)| *n == "UFormat") {
        return Err(usage(
            c,
            "-Format and -UFormat cannot be used together".to_string(),
        ));
    }
    let inputs: Vec<Option<Value>> = match input {
        Some(items) if !named.iter().any(|(n, _)| *n == "Date") => {
            items.into_iter().map(Some).collect()
        }
        _ => vec![None],
    };
    let mut out = Vec::new();
    for piped in inputs {
        let mut args = named.clone();
        if let Some(v) = piped {
            args.push(("Date", v));
        }
        out.push(one_date(&args).map_err(|m| usage(c, m))?);
    }
    Ok(out)
}

fn one_date(args: &[(&'static str, Value)]) -> Result<Value, String> {
    let get = |n: &str| args.iter().find(|(k, _)| *k == n).map(|(_, v)| v);
    let mut t = match get("Date") {
        None => datetime::now(),
        Some(v) => match v {
            Value::Date(t) => *t,
            Value::Object(o) => match o.get("Date").or_else(|| o.get("Timestamp")) {
                Some(Value::Date(t)) => *t,
                _ => return Err(format!("-Date: a {} is not a date", o.type_name)),
            },
            other => to_datetime(other)
                .and_then(|d| match d {
                    Value::Date(t) => Ok(t),
                    _ => Err(String::new()),
                })
                .map_err(|e| format!("-Date: {e}"))?,
        },
    };
    let field = |n: &str, lo: i64, hi: i64| -> Result<Option<i64>, String> {
        match get(n) {
            None => Ok(None),
            Some(v) => {
                let x = match v {
                    Value::Int(i) => *i,
                    other => other
                        .to_string()
                        .trim()
                        .parse()
                        .map_err(|_| format!("-{n}: '{other}' is not a whole number"))?,
                };
                if x < lo || x > hi {
                    return Err(format!("-{n}: {x} is out of range ({lo} to {hi})"));
                }
                Ok(Some(x))
            }
        }
    };
    let year = field("Year", 1, 9999)?;
    let month = field("Month", 1, 12)?;
    let day = field("Day", 1, 31)?;
    let hour = field("Hour", 0, 23)?;
    let minute = field("Minute", 0, 59)?;
    let second = field("Second", 0, 59)?;
    let milli = field("Millisecond", 0, 999)?;
    if year.is_some() || month.is_some() || day.is_some() {
        let y = year
            .map_or(Ok(t.year()), i32::try_from)
            .map_err(|e| e.to_string())?;
        let m = match month {
            Some(m) => time::Month::try_from(u8::try_from(m).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?,
            None => t.month(),
        };
        let d = match day {
            Some(d) => u8::try_from(d).map_err(|e| e.to_string())?,
            None => t.day().min(time::util::days_in_month(m, y)),
        };
        let date = time::Date::from_calendar_date(y, m, d)
            .map_err(|_| format!("{m} {d}, {y} is not a date"))?;
        t = t.replace_date(date);
    }
    let small = |x: i64| u8::try_from(x).map_err(|e| e.to_string());
    if let Some(h) = hour {
        t = t.replace_hour(small(h)?).map_err(|e| e.to_string())?;
    }
    if let Some(m) = minute {
        t = t.replace_minute(small(m)?).map_err(|e| e.to_string())?;
    }
    if let Some(s) = second {
        t = t.replace_second(small(s)?).map_err(|e| e.to_string())?;
    }
    if let Some(ms) = milli {
        t = t
            .replace_millisecond(u16::try_from(ms).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    if let Some(f) = get("Format") {
        return datetime::format(t, &f.to_string())
            .map(Value::Str)
            .map_err(|e| format!("-Format: {e}"));
    }
    if let Some(f) = get("UFormat") {
        return Ok(Value::Str(uformat(t, &f.to_string())));
    }
    Ok(Value::Date(t))
}

/// New-TimeSpan [[-Start] <date>] [[-End] <date>] | [-Days n] [-Hours n]
/// [-Minutes n] [-Seconds n] [-Milliseconds n]: `End - Start` (either
/// defaults to now), or the span of the components given.
pub fn new_timespan(sh: &mut Shell<'_>, c: &Command, _: Option<Vec<Value>>) -> R<Vec<Value>> {
    const PARTS: [(&str, f64); 5] = [
        ("Days", 86_400.0),
        ("Hours", 3_600.0),
        ("Minutes", 60.0),
        ("Seconds", 1.0),
        ("Milliseconds", 0.001),
    ];
    let (mut named, positional) = arguments(
        sh,
        c,
        &[
            "Start",
            "End",
            "Days",
            "Hours",
            "Minutes",
            "Seconds",
            "Milliseconds",
        ],
        &[],
    )?;
    for (slot, v) in ["Start", "End"].into_iter().zip(positional) {
        if named.iter().any(|(n, _)| *n == slot) {
            return Err(usage(
                c,
                format!("a positional parameter cannot be found that accepts argument '{v}'"),
            ));
        }
        named.push((slot, v));
    }
    let get = |n: &str| named.iter().find(|(k, _)| *k == n).map(|(_, v)| v);
    let dates = get("Start").is_some() || get("End").is_some();
    let parts = PARTS.iter().any(|(n, _)| get(n).is_some());
    if dates && parts {
        return Err(usage(
            c,
            "-Start/-End and -Days/-Hours/-Minutes/-Seconds/-Milliseconds cannot be used together"
                .to_string(),
        ));
    }
    if parts {
        let mut ms = 0.0;
        for (n, unit) in PARTS {
            if let Some(v) = get(n) {
                let x = super::typed::as_f64(v)
                    .filter(|x| x.fract() == 0.0)
                    .ok_or_else(|| usage(c, format!("-{n}: '{v}' is not a whole number")))?;
                ms += x * unit * 1000.0;
            }
        }
        if !ms.is_finite() || ms.abs() > 9.0e17 {
            return Err(usage(c, "the time span is too large".to_string()));
        }
        return Ok(vec![Value::TimeSpan(time::Duration::milliseconds(
            ms as i64,
        ))]);
    }
    let date = |n: &str| -> R<OffsetDateTime> {
        match get(n) {
            None => Ok(datetime::now()),
            Some(v) => match to_datetime(v) {
                Ok(Value::Date(t)) => Ok(t),
                Ok(_) => Err(usage(c, format!("-{n}: '{v}' is not a date"))),
                Err(e) => Err(usage(c, format!("-{n}: {e}"))),
            },
        }
    };
    let (start, end) = (date("Start")?, date("End")?);
    Ok(vec![Value::TimeSpan(end - start)])
}

/// `-UFormat`: the Unix `date` specifiers PowerShell supports.
fn uformat(t: OffsetDateTime, f: &str) -> String {
    let mut out = String::new();
    let mut chars = f.chars();
    let custom = |p: &str| datetime::format(t, p).unwrap_or_default();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(s) = chars.next() else {
            out.push('%');
            break;
        };
        let piece = match s {
            'a' => custom("ddd"),
            'A' => custom("dddd"),
            'b' | 'h' => custom("MMM"),
            'B' => custom("MMMM"),
            'c' => custom("ddd MMM dd HH:mm:ss yyyy"),
            'C' => format!("{:02}", t.year() / 100),
            'd' => custom("dd"),
            'D' => custom("MM/dd/yy"),
            'e' => format!("{:>2}", t.day()),
            'F' => custom("yyyy-MM-dd"),
            'g' => custom("yy"),
            'G' | 'Y' => custom("yyyy"),
            'H' => custom("HH"),
            'I' => custom("hh"),
            'j' => format!("{:03}", t.ordinal()),
            'k' => format!("{:>2}", t.hour()),
            'l' => format!("{:>2}", custom("%h")),
            'm' => custom("MM"),
            'M' => custom("mm"),
            'n' => "\n".into(),
            'p' => custom("tt"),
            'r' => custom("hh:mm:ss tt"),
            'R' => custom("HH:mm"),
            's' => t.unix_timestamp().to_string(),
            'S' => custom("ss"),
            't' => "\t".into(),
            'T' | 'X' => custom("HH:mm:ss"),
            'u' => t.weekday().number_from_monday().to_string(),
            'U' => format!("{:02}", t.sunday_based_week()),
            'V' => format!("{:02}", t.iso_week()),
            'w' => t.weekday().number_days_from_sunday().to_string(),
            'W' => format!("{:02}", t.monday_based_week()),
            'x' => custom("MM/dd/yy"),
            'y' => custom("yy"),
            'Z' => "+00".into(),
            '%' => "%".into(),
            other => format!("%{other}"),
        };
        out.push_str(&piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn uformat_specifiers() {
        let t = datetime!(2031-12-07 13:04:05 UTC);
        assert_eq!(uformat(t, "%Y-%m-%d %H:%M:%S"), "2031-12-07 13:04:05");
        assert_eq!(
            uformat(t, "%A %B %e %j %p %%x"),
            "Sunday December  7 341 PM %x"
        );
        assert_eq!(uformat(t, "%s"), t.unix_timestamp().to_string());
    }

    #[test]
    fn fields_replace_parts_of_the_date() {
        let d = Value::Date(datetime!(2031-01-31 13:04:05 UTC));
        let r = one_date(&[("Date", d.clone()), ("Month", Value::Int(2))]).unwrap();
        assert_eq!(r, Value::Date(datetime!(2031-02-28 13:04:05 UTC)));
        let r = one_date(&[
            ("Date", d.clone()),
            ("Hour", Value::Int(0)),
            ("Minute", Value::Int(0)),
            ("Second", Value::Int(0)),
        ])
        .unwrap();
        assert_eq!(r, Value::Date(datetime!(2031-01-31 00:00:00 UTC)));
        assert!(one_date(&[("Date", d.clone()), ("Hour", Value::Int(24))]).is_err());
        assert!(
            one_date(&[
                ("Date", d.clone()),
                ("Day", Value::Int(30)),
                ("Month", Value::Int(2))
            ])
            .is_err()
        );
        assert!(one_date(&[("Date", Value::str("nonsense"))]).is_err());
        assert_eq!(
            one_date(&[("Date", d), ("Format", Value::str("yyyyMMdd"))]).unwrap(),
            Value::str("20310131")
        );
    }
}
