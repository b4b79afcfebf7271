//! The typed values (dates, time spans, sizes, fractional numbers) in the
//! language: their properties and methods, the conversions PowerShell makes
//! when one is compared with text, and their arithmetic (`date - date` is
//! a time span, `date + span` a date).

use crate::lang::BinaryOp;
use std::cmp::Ordering;
use time::{Duration, OffsetDateTime};
use xshell_cmdlets::Value;
use xshell_cmdlets::datetime;
use xshell_core::types::{SizeLimit, TimeSpan};

const DAY: f64 = 86_400.0;
const HOUR: f64 = 3_600.0;
const MINUTE: f64 = 60.0;

/// A number as a double: integers, doubles and numeric text.
pub fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A value as a date: a date, or text in a form `[datetime]` reads.
pub fn as_date(v: &Value) -> Option<OffsetDateTime> {
    match v {
        Value::Date(t) => Some(*t),
        Value::Str(s) => datetime::parse(s).ok(),
        _ => None,
    }
}

/// A value as a time span: a span, `[d.]hh:mm:ss` text, or ticks.
pub fn as_span(v: &Value) -> Option<Duration> {
    match v {
        Value::TimeSpan(d) => Some(*d),
        Value::Int(i) => Some(datetime::span_from_ticks(*i)),
        Value::Str(s) => {
            let t = s.trim();
            match t.strip_prefix('-') {
                Some(rest) => rest.parse::<TimeSpan>().ok().map(|x| -span(x)),
                None => t.parse::<TimeSpan>().ok().map(span),
            }
        }
        _ => None,
    }
}

fn span(t: TimeSpan) -> Duration {
    datetime::span_secs(t.as_secs())
}

/// A value as a size: a size, bytes, or `25MB` / `Unlimited` text.
pub fn as_size(v: &Value) -> Option<SizeLimit> {
    match v {
        Value::Size(s) => Some(*s),
        Value::Int(i) => u64::try_from(*i).ok().map(SizeLimit::Bytes),
        Value::Str(s) => s.parse().ok(),
        _ => None,
    }
}

/// How `l` orders against `r` when `l` is a typed value (`r` converted to
/// `l`'s type, as PowerShell converts the right operand); `None` when `l`
/// is not typed here.
pub fn order(l: &Value, r: &Value) -> Option<Option<Ordering>> {
    Some(match l {
        Value::Date(a) => as_date(r).map(|b| a.cmp(&b)),
        Value::TimeSpan(a) => as_span(r).map(|b| a.cmp(&b)),
        Value::Size(a) => as_size(r).map(|b| a.cmp(&b)),
        Value::Float(a) => as_f64(r).and_then(|b| a.partial_cmp(&b)),
        Value::Int(a) if matches!(r, Value::Float(_)) => {
            as_f64(r).and_then(|b| (*a as f64).partial_cmp(&b))
        }
        _ => return None,
    })
}

/// `-eq` for typed values; `None` when `l` is not typed here.
pub fn equal(l: &Value, r: &Value) -> Option<bool> {
    order(l, r).map(|o| o == Some(Ordering::Equal))
}

/// Arithmetic on typed values: `None` when neither operand is one (the
/// caller does integer and text arithmetic).
pub fn arithmetic(op: BinaryOp, l: &Value, r: &Value) -> Option<Result<Value, String>> {
    if !matches!(
        op,
        BinaryOp::Add
            | BinaryOp::Subtract
            | BinaryOp::Multiply
            | BinaryOp::Divide
            | BinaryOp::Remainder
    ) {
        return None;
    }
    let typed = |v: &Value| {
        matches!(
            v,
            Value::Date(_) | Value::TimeSpan(_) | Value::Size(_) | Value::Float(_)
        )
    };
    let int_division = matches!(
        (op, l, r),
        (BinaryOp::Divide, Value::Int(a), Value::Int(b)) if a.checked_rem(*b).is_some_and(|m| m != 0)
    );
    // 2 + '1.5': the text is a fractional number.
    let fractional_text = matches!(
        (l, r),
        (Value::Int(_), Value::Str(t)) if t.trim().parse::<i64>().is_err() && t.trim().parse::<f64>().is_ok()
    );
    if !typed(l) && !typed(r) && !int_division && !fractional_text {
        return None;
    }
    let range = || "the result is outside the dates a DateTime can hold".to_string();
    Some(match (op, l, r) {
        (BinaryOp::Subtract, Value::Date(a), Value::Date(b)) => Ok(Value::TimeSpan(*a - *b)),
        (BinaryOp::Subtract, Value::Date(a), b) => match (as_span(b), as_date(b)) {
            (Some(d), _) => datetime::add(*a, -d).map(Value::Date).ok_or_else(range),
            (None, Some(b)) => Ok(Value::TimeSpan(*a - b)),
            _ => Err(format!(
                "cannot subtract '{b}' from a date: use a date or a time span"
            )),
        },
        (BinaryOp::Add, Value::Date(a), b) => match as_span(b) {
            Some(d) => datetime::add(*a, d).map(Value::Date).ok_or_else(range),
            None => Err(format!("cannot add '{b}' to a date: use a time span")),
        },
        (BinaryOp::Add, Value::TimeSpan(a), Value::Date(b)) => {
            datetime::add(*b, *a).map(Value::Date).ok_or_else(range)
        }
        (BinaryOp::Add | BinaryOp::Subtract, Value::TimeSpan(a), b) => match as_span(b) {
            Some(d) => {
                let sum = if op == BinaryOp::Add {
                    a.checked_add(d)
                } else {
                    a.checked_sub(d)
                };
                sum.map(Value::TimeSpan)
                    .ok_or_else(|| "time span too large".to_string())
            }
            None => Err(format!("'{b}' is not a time span")),
        },
        (_, Value::Date(_) | Value::TimeSpan(_) | Value::Size(_), _)
        | (_, _, Value::Date(_) | Value::TimeSpan(_) | Value::Size(_)) => Err(format!(
            "this arithmetic is not defined for a {} and a {}",
            l.type_label(),
            r.type_label()
        )),
        // Text or a list on the left: concatenation, the caller's.
        (_, Value::Str(_) | Value::List(_) | Value::Map(_) | Value::Null, _) => return None,
        _ => {
            let (Some(a), Some(b)) = (as_f64(l), as_f64(r)) else {
                return Some(Err(format!(
                    "arithmetic needs numbers, not '{l}' and '{r}'"
                )));
            };
            let x = match op {
                BinaryOp::Add => a + b,
                BinaryOp::Subtract => a - b,
                BinaryOp::Multiply => a * b,
                BinaryOp::Divide if b == 0.0 => {
                    return Some(Err("attempted to divide by zero".into()));
                }
                BinaryOp::Divide => a / b,
                BinaryOp::Remainder => a % b,
                _ => return None,
            };
            Ok(Value::Float(x))
        }
    })
}

/// A typed value's property (`$d.Year`, `$span.TotalHours`, `$s.IsUnlimited`);
/// `None` when the value is not typed here or has no such property.
pub fn property(v: &Value, name: &str) -> Option<Value> {
    let n = name.to_ascii_lowercase();
    match v {
        Value::Date(t) => date_property(*t, &n),
        Value::TimeSpan(d) => span_property(*d, &n),
        Value::Size(s) => match n.as_str() {
            "isunlimited" => Some(Value::Bool(*s == SizeLimit::Unlimited)),
            "value" => Some(match s {
                SizeLimit::Unlimited => Value::Null,
                b => Value::Size(*b),
            }),
            _ => None,
        },
        _ => None,
    }
}

fn date_property(t: OffsetDateTime, n: &str) -> Option<Value> {
    let int = |x: i64| Some(Value::Int(x));
    match n {
        "year" => int(i64::from(t.year())),
        "month" => int(i64::from(u8::from(t.month()))),
        "day" => int(i64::from(t.day())),
        "hour" => int(i64::from(t.hour())),
        "minute" => int(i64::from(t.minute())),
        "second" => int(i64::from(t.second())),
        "millisecond" => int(i64::from(t.millisecond())),
        "dayofyear" => int(i64::from(t.ordinal())),
        "dayofweek" => Some(Value::str(datetime::day_name(t))),
        "date" => Some(Value::Date(datetime::date_only(t))),
        "timeofday" => Some(Value::TimeSpan(t - datetime::date_only(t))),
        "ticks" => int(datetime::ticks(t)),
        "kind" => Some(Value::str("Utc")),
        _ => None,
    }
}

fn span_property(d: Duration, n: &str) -> Option<Value> {
    // .NET's components truncate toward zero and keep the span's sign.
    let secs = d.whole_seconds();
    let int = |x: i64| Some(Value::Int(x));
    let float = |unit: f64| Some(Value::Float(datetime::span_total(d, unit)));
    match n {
        "days" => int(secs / 86_400),
        "hours" => int((secs / 3_600) % 24),
        "minutes" => int((secs / 60) % 60),
        "seconds" => int(secs % 60),
        "milliseconds" => int(i64::from(d.subsec_milliseconds())),
        "ticks" => int(i64::try_from(d.whole_nanoseconds() / 100).unwrap_or(i64::MAX)),
        "totaldays" => float(DAY),
        "totalhours" => float(HOUR),
        "totalminutes" => float(MINUTE),
        "totalseconds" => float(1.0),
        "totalmilliseconds" => float(0.001),
        _ => None,
    }
}

/// A typed value's method; `None` when the value is not typed here or the
/// method is not one of its.
pub fn method(v: &Value, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
    let n = name.to_ascii_lowercase();
    match v {
        Value::Date(t) => date_method(*t, &n, args),
        Value::TimeSpan(d) => span_method(*d, &n, args),
        Value::Size(s) => size_method(*s, &n, args),
        _ => None,
    }
}

fn number_arg(args: &[Value], name: &str) -> Result<f64, String> {
    match args {
        [a] => as_f64(a).ok_or_else(|| format!("{name}: '{a}' is not a number")),
        _ => Err(format!("{name} takes one number")),
    }
}

fn date_method(t: OffsetDateTime, n: &str, args: &[Value]) -> Option<Result<Value, String>> {
    let range = || "the result is outside the dates a DateTime can hold".to_string();
    let add = |unit: f64, label: &str| {
        number_arg(args, label).and_then(|x| {
            datetime::add_units(t, x, unit)
                .map(Value::Date)
                .ok_or_else(range)
        })
    };
    let fmt = |f: &str| datetime::format(t, f).map(Value::Str);
    Some(match (n, args) {
        ("adddays", _) => add(DAY, "AddDays"),
        ("addhours", _) => add(HOUR, "AddHours"),
        ("addminutes", _) => add(MINUTE, "AddMinutes"),
        ("addseconds", _) => add(1.0, "AddSeconds"),
        ("addmilliseconds", _) => add(0.001, "AddMilliseconds"),
        ("addmonths" | "addyears", _) => number_arg(args, name_of(n)).and_then(|x| {
            let months = if n == "addyears" { x * 12.0 } else { x };
            if months.fract() != 0.0 || months.abs() > 120_000.0 {
                return Err(format!(
                    "{}: '{x}' is not a whole number in range",
                    name_of(n)
                ));
            }
            datetime::add_months(t, months as i64)
                .filter(|r| (1..=9999).contains(&r.year()))
                .map(Value::Date)
                .ok_or_else(range)
        }),
        ("addticks", [x]) => match as_f64(x) {
            Some(k) if k.fract() == 0.0 && k.abs() < 9.0e18 => {
                datetime::add(t, datetime::span_from_ticks(k as i64))
                    .map(Value::Date)
                    .ok_or_else(range)
            }
            _ => Err(format!("AddTicks: '{x}' is not a whole number")),
        },
        ("add", [x]) => match as_span(x) {
            Some(d) => datetime::add(t, d).map(Value::Date).ok_or_else(range),
            None => Err(format!("Add: '{x}' is not a time span")),
        },
        ("subtract", [x]) => {
            return arithmetic(BinaryOp::Subtract, &Value::Date(t), x);
        }
        ("tostring", []) => fmt("G"),
        ("tostring", [f]) => fmt(&f.to_string()),
        ("toshortdatestring", []) => fmt("d"),
        ("tolongdatestring", []) => fmt("D"),
        ("toshorttimestring", []) => fmt("t"),
        ("tolongtimestring", []) => fmt("T"),
        ("touniversaltime" | "tolocaltime", []) => Ok(Value::Date(t)),
        ("compareto", [x]) => match as_date(x) {
            Some(b) => Ok(Value::Int(match t.cmp(&b) {
                Ordering::Less => -1,
                Ordering::Equal => 0,
                Ordering::Greater => 1,
            })),
            None => Err(format!("CompareTo: '{x}' is not a date")),
        },
        ("equals", [x]) => Ok(Value::Bool(as_date(x) == Some(t))),
        _ => return None,
    })
}

fn name_of(n: &str) -> &'static str {
    if n == "addyears" {
        "AddYears"
    } else {
        "AddMonths"
    }
}

fn span_method(d: Duration, n: &str, args: &[Value]) -> Option<Result<Value, String>> {
    Some(match (n, args) {
        ("tostring", []) => Ok(Value::Str(datetime::span_display(d))),
        ("add", [x]) => return arithmetic(BinaryOp::Add, &Value::TimeSpan(d), x),
        ("subtract", [x]) => return arithmetic(BinaryOp::Subtract, &Value::TimeSpan(d), x),
        ("negate", []) => Ok(Value::TimeSpan(-d)),
        ("duration", []) => Ok(Value::TimeSpan(d.abs())),
        _ => return None,
    })
}

fn size_method(s: SizeLimit, n: &str, args: &[Value]) -> Option<Result<Value, String>> {
    let shift = match n {
        "tobytes" => 0,
        "tokb" => 10,
        "tomb" => 20,
        "togb" => 30,
        "totb" => 40,
        "tostring" if args.is_empty() => return Some(Ok(Value::Str(s.to_string()))),
        _ => return None,
    };
    if !args.is_empty() {
        return Some(Err(format!("{n} takes no arguments")));
    }
    Some(match s {
        SizeLimit::Unlimited => {
            Err("the size is Unlimited and has no byte count: test .IsUnlimited first".to_string())
        }
        SizeLimit::Bytes(b) => Ok(Value::Int(i64::try_from(b >> shift).unwrap_or(i64::MAX))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn call(v: &Value, name: &str, args: &[Value]) -> Value {
        method(v, name, args).unwrap().unwrap()
    }

    #[test]
    fn date_members() {
        let t = Value::Date(datetime!(2031-12-07 13:24:37 UTC));
        assert_eq!(property(&t, "Year"), Some(Value::Int(2031)));
        assert_eq!(property(&t, "dayofweek"), Some(Value::str("Sunday")));
        assert_eq!(
            property(&t, "Date"),
            Some(Value::Date(datetime!(2031-12-07 00:00:00 UTC)))
        );
        assert_eq!(
            call(&t, "AddDays", &[Value::Int(30)]),
            Value::Date(datetime!(2032-01-06 13:24:37 UTC))
        );
        assert_eq!(
            call(&t, "AddHours", &[Value::Float(-1.5)]),
            Value::Date(datetime!(2031-12-07 11:54:37 UTC))
        );
        assert_eq!(
            call(&t, "ToString", &[Value::str("yyyy-MM-dd")]),
            Value::str("2031-12-07")
        );
        assert_eq!(
            call(&t, "ToString", &[]),
            Value::str("12/7/2031 1:24:37 PM")
        );
        assert!(method(&t, "AddDays", &[Value::str("x")]).unwrap().is_err());
        assert!(
            method(&t, "AddYears", &[Value::Int(9000)])
                .unwrap()
                .is_err()
        );
        assert!(method(&t, "NoSuch", &[]).is_none());
    }

    #[test]
    fn date_arithmetic_and_order() {
        let a = Value::Date(datetime!(2031-12-07 12:00:00 UTC));
        let b = Value::Date(datetime!(2031-12-05 00:00:00 UTC));
        let d = arithmetic(BinaryOp::Subtract, &a, &b).unwrap().unwrap();
        assert_eq!(d, Value::TimeSpan(Duration::hours(60)));
        assert_eq!(property(&d, "Days"), Some(Value::Int(2)));
        assert_eq!(property(&d, "Hours"), Some(Value::Int(12)));
        assert_eq!(property(&d, "TotalDays"), Some(Value::Float(2.5)));
        let back = arithmetic(BinaryOp::Subtract, &b, &a).unwrap().unwrap();
        assert_eq!(property(&back, "Days"), Some(Value::Int(-2)));
        assert_eq!(arithmetic(BinaryOp::Add, &b, &d).unwrap().unwrap(), a);
        assert_eq!(
            arithmetic(BinaryOp::Subtract, &a, &Value::str("12/5/2031"))
                .unwrap()
                .unwrap(),
            d
        );
        assert_eq!(order(&a, &b), Some(Some(Ordering::Greater)));
        assert_eq!(
            order(&a, &Value::str("03/13/2040 09:00:00")),
            Some(Some(Ordering::Less))
        );
        assert_eq!(order(&a, &Value::str("not a date")), Some(None));
        assert_eq!(equal(&Value::Int(2), &Value::Float(2.0)), Some(true));
        assert!(
            arithmetic(BinaryOp::Multiply, &a, &Value::Int(2))
                .unwrap()
                .is_err()
        );
        assert_eq!(
            arithmetic(BinaryOp::Divide, &Value::Int(10), &Value::Int(4))
                .unwrap()
                .unwrap(),
            Value::Float(2.5)
        );
        assert!(arithmetic(BinaryOp::Divide, &Value::Int(10), &Value::Int(5)).is_none());
        // Text on the left concatenates (the caller does it).
        assert!(arithmetic(BinaryOp::Add, &Value::str("a"), &Value::Float(1.5)).is_none());
        assert_eq!(
            arithmetic(BinaryOp::Add, &Value::Int(2), &Value::str("1.5"))
                .unwrap()
                .unwrap(),
            Value::Float(3.5)
        );
    }

    #[test]
    fn sizes() {
        let s = Value::Size(SizeLimit::mb(25));
        assert_eq!(call(&s, "ToMB", &[]), Value::Int(25));
        assert_eq!(call(&s, "ToKB", &[]), Value::Int(25 * 1024));
        assert_eq!(call(&s, "ToBytes", &[]), Value::Int(25 << 20));
        assert_eq!(property(&s, "IsUnlimited"), Some(Value::Bool(false)));
        let u = Value::Size(SizeLimit::Unlimited);
        assert_eq!(property(&u, "IsUnlimited"), Some(Value::Bool(true)));
        assert!(method(&u, "ToMB", &[]).unwrap().is_err());
        assert_eq!(order(&u, &s), Some(Some(Ordering::Greater)));
        assert_eq!(order(&s, &Value::str("30MB")), Some(Some(Ordering::Less)));
    }

    #[test]
    fn spans_from_text() {
        assert_eq!(as_span(&Value::str("2.00:00:00")), Some(Duration::days(2)));
        assert_eq!(
            as_span(&Value::str("-00:05:00")),
            Some(Duration::minutes(-5))
        );
        let s = Value::TimeSpan(Duration::minutes(5));
        assert_eq!(property(&s, "TotalSeconds"), Some(Value::Float(300.0)));
        assert_eq!(equal(&s, &Value::str("00:05:00")), Some(true));
    }
}
