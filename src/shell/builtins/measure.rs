//! Measure-Object: counts, sums, averages, extremes, and text statistics.

use super::filter::input_items;
use super::props::{names, property_names};
use super::{args, bad};
use crate::lang::Command;
use crate::shell::compare::{number, sort_order};
use crate::shell::{R, Shell, display_in_string, member};
use std::cmp::Ordering;
use xshell_cmdlets::Value;
use xshell_cmdlets::value::{Object, View};

const TEXT_COLUMNS: &[&str] = &["Lines", "Words", "Characters", "Property"];

/// A computed number as PowerShell prints a double: whole numbers without
/// a fraction (`3`), others in their shortest exact form (`2.5`). Value
/// has no floating-point variant, so a fraction is carried as text.
pub(super) fn number_value(f: f64) -> Value {
    crate::shell::ops::from_f64(f)
}

pub(super) fn measure_object(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let items = input_items(&a, input);
    let props: Vec<String> = a
        .get("Property")
        .or_else(|| a.values().next())
        .map(names)
        .unwrap_or_default();
    let props = expand_wildcards(props, &items);
    if a.flag("Line") || a.flag("Word") || a.flag("Character") {
        return Ok(text_measure(&a, &items, &props));
    }
    let all = a.flag("AllStats");
    let (sum, average, max, min, stddev) = (
        all || a.flag("Sum"),
        all || a.flag("Average"),
        all || a.flag("Maximum"),
        all || a.flag("Minimum"),
        all || a.flag("StandardDeviation"),
    );
    let targets: Vec<Option<&str>> = if props.is_empty() {
        vec![None]
    } else {
        props.iter().map(|p| Some(p.as_str())).collect()
    };
    let mut out = Vec::new();
    for target in targets {
        let values: Vec<Value> = match target {
            None => items.clone(),
            Some(p) => items.iter().filter_map(|i| member(i, p)).collect(),
        };
        if let Some(p) = target
            && values.is_empty()
            && !items.is_empty()
        {
            return Err(bad(
                c,
                "Property",
                format!("the property '{p}' cannot be found in the input for any objects"),
            ));
        }
        let mut numbers = Vec::new();
        if sum || average || stddev {
            for v in &values {
                match number(v) {
                    Some(n) => numbers.push(n),
                    None if matches!(v, Value::Null) => {}
                    None => {
                        return Err(bad(
                            c,
                            target.unwrap_or("InputObject"),
                            format!("input object '{}' is not numeric", display_in_string(v)),
                        ));
                    }
                }
            }
        }
        let total: f64 = numbers.iter().sum();
        let n = numbers.len() as f64;
        let extreme = |want: Ordering| -> Value {
            let numeric = values.iter().all(|v| number(v).is_some());
            values
                .iter()
                .filter(|v| !matches!(v, Value::Null))
                .fold(None::<&Value>, |best, v| match best {
                    Some(b) => {
                        let o = if numeric {
                            number(v).partial_cmp(&number(b)).unwrap_or(Ordering::Equal)
                        } else {
                            sort_order(v, b, false)
                        };
                        Some(if o == want { v } else { b })
                    }
                    None => Some(v),
                })
                .map(|v| match number(v) {
                    Some(f) if numeric => number_value(f),
                    _ => v.clone(),
                })
                .unwrap_or(Value::Null)
        };
        let pick = |on: bool, v: Value| if on { v } else { Value::Null };
        let sum_value = number_value(total);
        let deviation = if numbers.len() > 1 {
            let mean = total / n;
            let var = numbers.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
            number_value(var.sqrt())
        } else {
            Value::Int(0)
        };
        let o = Object::new(
            "Microsoft.PowerShell.Commands.GenericMeasureInfo",
            View::List,
        )
        .with(
            "Count",
            Value::Int(values.iter().filter(|v| !matches!(v, Value::Null)).count() as i64),
        )
        .with(
            "Average",
            pick(
                average,
                if numbers.is_empty() {
                    Value::Null
                } else {
                    number_value(total / n)
                },
            ),
        )
        .with("Sum", pick(sum, sum_value))
        .with("Maximum", pick(max, extreme(Ordering::Greater)))
        .with("Minimum", pick(min, extreme(Ordering::Less)))
        .with("StandardDeviation", pick(stddev, deviation))
        .with("Property", Value::opt_str(target));
        out.push(Value::Object(o));
    }
    Ok(out)
}

/// -Line, -Word and -Character: one TextMeasureInfo over all the input.
fn text_measure(a: &super::Args<'_>, items: &[Value], props: &[String]) -> Vec<Value> {
    let ignore_ws = a.flag("IgnoreWhiteSpace");
    let texts: Vec<String> = items
        .iter()
        .filter_map(|i| match props.first() {
            Some(p) => member(i, p).map(|v| display_in_string(&v)),
            None => Some(display_in_string(i)),
        })
        .collect();
    let lines: usize = texts.iter().map(|t| t.lines().count()).sum();
    let words: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
    let chars: usize = texts
        .iter()
        .map(|t| {
            t.chars()
                .filter(|ch| !(ignore_ws && ch.is_whitespace()))
                .count()
        })
        .sum();
    let shown = |on: bool, n: usize| {
        if on {
            Value::Int(n as i64)
        } else {
            Value::Null
        }
    };
    let o = Object::new(
        "Microsoft.PowerShell.Commands.TextMeasureInfo",
        View::Table(TEXT_COLUMNS),
    )
    .with("Lines", shown(a.flag("Line"), lines))
    .with("Words", shown(a.flag("Word"), words))
    .with("Characters", shown(a.flag("Character"), chars))
    .with("Property", Value::opt_str(props.first()));
    vec![Value::Object(o)]
}

/// Property names with wildcards (`*Count`) replaced by the matching
/// properties of the input, each once, in order.
fn expand_wildcards(props: Vec<String>, items: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in props {
        if !p.contains(['*', '?']) {
            out.push(p);
            continue;
        }
        for item in items {
            for n in property_names(item) {
                if xshell_cmdlets::named::wildcard_match(&p, &n) && !out.contains(&n) {
                    out.push(n);
                }
            }
        }
    }
    out
}
