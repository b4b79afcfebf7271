//! Operators with PowerShell's semantics: case-insensitive by default, the
//! right operand converted to the left one's type, and a list on the left
//! filtered by the comparison.

use crate::lang::{BinaryOp, CompareOp};
use std::cmp::Ordering;
use xshell_cmdlets::Value;
use xshell_cmdlets::named::wildcard_match;

fn text(v: &Value) -> String {
    super::display_in_string(v)
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Orders `l` and `r` the way `-lt`/`-gt` do, converting `r` to `l`'s type.
fn order(l: &Value, r: &Value, cs: bool) -> Option<Ordering> {
    if let Some(o) = super::typed::order(l, r) {
        return o;
    }
    match l {
        Value::Int(a) => as_int(r).map(|b| a.cmp(&b)),
        Value::Null => Some(if matches!(r, Value::Null) {
            Ordering::Equal
        } else {
            Ordering::Less
        }),
        _ => {
            let (a, b) = (text(l), text(r));
            Some(if cs {
                a.cmp(&b)
            } else {
                a.to_lowercase().cmp(&b.to_lowercase())
            })
        }
    }
}

/// The order Sort-Object, Group-Object and Measure-Object -Minimum/-Maximum
/// put values in: `$null` first, then numbers by value, then everything
/// else by its text (case-insensitively unless `case_sensitive`, where
/// lower case comes first for the same letters, as PowerShell's culture
/// comparison does). Text is compared as text even when it holds digits
/// ("10" before "9", as PowerShell sorts Import-Csv's strings). A total
/// order, so sorting never meets an inconsistent comparison. The one
/// place that orders values: new value types extend it here.
pub fn sort_order(a: &Value, b: &Value, case_sensitive: bool) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Int(_) | Value::Float(_) => 1,
            _ => 2,
        }
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            let f = |v: &Value| match v {
                Value::Int(i) => *i as f64,
                Value::Float(x) => *x,
                _ => 0.0,
            };
            f(a).total_cmp(&f(b))
        }
        _ if rank(a) != 2 || rank(b) != 2 => rank(a).cmp(&rank(b)),
        _ => {
            let (x, y) = (text(a), text(b));
            let folded = x.to_lowercase().cmp(&y.to_lowercase());
            if case_sensitive {
                folded.then_with(|| y.cmp(&x))
            } else {
                folded
            }
        }
    }
}

/// A value as a number, if it is one (an integer, or text such as `2.5`).
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Str(s) => {
            let t = s.trim();
            if t.is_empty() {
                return None;
            }
            t.parse::<f64>().ok().filter(|f| f.is_finite())
        }
        _ => None,
    }
}

fn equal(l: &Value, r: &Value, cs: bool) -> bool {
    if let Some(e) = super::typed::equal(l, r) {
        return e;
    }
    match (l, r) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Bool(a), other) => *a == other.truthy(),
        (Value::Int(a), other) => as_int(other) == Some(*a),
        _ => {
            let (a, b) = (text(l), text(r));
            if cs {
                a == b
            } else {
                a.to_lowercase() == b.to_lowercase()
            }
        }
    }
}

fn like(l: &Value, r: &Value, cs: bool) -> bool {
    let (a, p) = (text(l), text(r));
    if cs {
        // wildcard_match is case-insensitive; check case separately for literal parts.
        wildcard_match(&p, &a)
            && p.chars()
                .filter(|c| *c != '*' && *c != '?')
                .all(|c| a.contains(c))
    } else {
        wildcard_match(&p, &a)
    }
}

fn matches(l: &Value, r: &Value, cs: bool) -> Result<bool, String> {
    let pat = text(r);
    let re = regex::RegexBuilder::new(&pat)
        .case_insensitive(!cs)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("invalid regular expression '{pat}': {e}"))?;
    Ok(re.is_match(&text(l)))
}

fn scalar(op: CompareOp, l: &Value, r: &Value, cs: bool) -> Result<bool, String> {
    Ok(match op {
        CompareOp::Eq => equal(l, r, cs),
        CompareOp::Ne => !equal(l, r, cs),
        CompareOp::Gt => order(l, r, cs) == Some(Ordering::Greater),
        CompareOp::Ge => matches!(order(l, r, cs), Some(Ordering::Greater | Ordering::Equal)),
        CompareOp::Lt => order(l, r, cs) == Some(Ordering::Less),
        CompareOp::Le => matches!(order(l, r, cs), Some(Ordering::Less | Ordering::Equal)),
        CompareOp::Like => like(l, r, cs),
        CompareOp::NotLike => !like(l, r, cs),
        CompareOp::Match => matches(l, r, cs)?,
        CompareOp::NotMatch => !matches(l, r, cs)?,
        CompareOp::Contains | CompareOp::NotContains | CompareOp::In | CompareOp::NotIn => {
            let (set, item) = match op {
                CompareOp::Contains | CompareOp::NotContains => (l, r),
                _ => (r, l),
            };
            let found = match set {
                Value::List(items) => items.iter().any(|i| equal(i, item, cs)),
                other => equal(other, item, cs),
            };
            found == matches!(op, CompareOp::Contains | CompareOp::In)
        }
    })
}

/// Applies a binary operator (not -and/-or, which short-circuit in the caller).
pub fn binary(op: BinaryOp, l: &Value, r: &Value) -> Result<Value, String> {
    if let Some(v) = super::typed::arithmetic(op, l, r) {
        return v;
    }
    match op {
        BinaryOp::Compare { op, case_sensitive } => {
            let set_op = matches!(
                op,
                CompareOp::Contains | CompareOp::NotContains | CompareOp::In | CompareOp::NotIn
            );
            if let (Value::List(items), false) = (l, set_op) {
                let mut out = Vec::new();
                for i in items {
                    if scalar(op, i, r, case_sensitive)? {
                        out.push(i.clone());
                    }
                }
                return Ok(Value::List(out));
            }
            Ok(Value::Bool(scalar(op, l, r, case_sensitive)?))
        }
        BinaryOp::And => Ok(Value::Bool(l.truthy() && r.truthy())),
        BinaryOp::Or => Ok(Value::Bool(l.truthy() || r.truthy())),
        BinaryOp::Xor => Ok(Value::Bool(l.truthy() != r.truthy())),
        BinaryOp::Add => Ok(match (l, r) {
            (Value::Int(a), b) => Value::Int(
                a.checked_add(
                    as_int(b).ok_or_else(|| format!("cannot add '{}' to a number", text(b)))?,
                )
                .ok_or("number too large")?,
            ),
            (Value::List(a), Value::List(b)) => Value::List(a.iter().chain(b).cloned().collect()),
            (Value::List(a), b) => Value::List(
                a.iter()
                    .cloned()
                    .chain(std::iter::once(b.clone()))
                    .collect(),
            ),
            (a, b) => Value::Str(text(a) + &text(b)),
        }),
        BinaryOp::Subtract | BinaryOp::Multiply | BinaryOp::Divide | BinaryOp::Remainder => {
            let (Some(a), Some(b)) = (as_int(l), as_int(r)) else {
                return Err(format!(
                    "arithmetic needs numbers, not '{}' and '{}'",
                    text(l),
                    text(r)
                ));
            };
            let v = match op {
                BinaryOp::Subtract => a.checked_sub(b),
                BinaryOp::Multiply => a.checked_mul(b),
                BinaryOp::Divide => a.checked_div(b),
                _ => a.checked_rem(b),
            };
            v.map(Value::Int)
                .ok_or_else(|| "arithmetic overflow or division by zero".to_string())
        }
        BinaryOp::Replace { .. }
        | BinaryOp::Split { .. }
        | BinaryOp::Join
        | BinaryOp::Format
        | BinaryOp::Is
        | BinaryOp::IsNot
        | BinaryOp::As
        | BinaryOp::Range => super::ops::binary(op, l, r),
    }
}

#[cfg(test)]
mod tests {
    use super::sort_order;
    use std::cmp::Ordering;
    use xshell_cmdlets::Value;

    /// Mixed values sort without an inconsistent comparison: every triple
    /// is transitive.
    #[test]
    fn sort_order_is_a_total_order() {
        let values = [
            Value::Null,
            Value::Int(10),
            Value::Int(-3),
            Value::str("9"),
            Value::str("100"),
            Value::str("a"),
            Value::str("A"),
            Value::Bool(true),
            Value::List(vec![Value::Int(1)]),
        ];
        for cs in [false, true] {
            for a in &values {
                for b in &values {
                    assert_eq!(sort_order(a, b, cs), sort_order(b, a, cs).reverse());
                    for c in &values {
                        if sort_order(a, b, cs) != Ordering::Greater
                            && sort_order(b, c, cs) != Ordering::Greater
                        {
                            assert_ne!(
                                sort_order(a, c, cs),
                                Ordering::Greater,
                                "{a:?} {b:?} {c:?}"
                            );
                        }
                    }
                }
            }
        }
    }
}
