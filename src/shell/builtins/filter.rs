//! Where-Object and ForEach-Object.

use super::{Args, args, usage};
use crate::lang::{BinaryOp, Command, CompareOp};
use crate::shell::{R, RuntimeError, Shell, collapse, compare, flatten, member};
use xshell_cmdlets::Value;

/// Where-Object's comparison switches (`? Status -eq Valid`), as PowerShell
/// declares them: each operator, its case-sensitive `C` form, and -Not.
pub(super) const WHERE_OPERATORS: &[&str] = &[
    "EQ",
    "NE",
    "GT",
    "GE",
    "LT",
    "LE",
    "Like",
    "NotLike",
    "Match",
    "NotMatch",
    "Contains",
    "NotContains",
    "In",
    "NotIn",
    "CEQ",
    "CNE",
    "CGT",
    "CGE",
    "CLT",
    "CLE",
    "CLike",
    "CNotLike",
    "CMatch",
    "CNotMatch",
    "CContains",
    "CNotContains",
    "CIn",
    "CNotIn",
    "Not",
];

/// The pipeline input, or -InputObject's value when nothing is piped.
pub(super) fn input_items(a: &Args<'_>, input: Option<Vec<Value>>) -> Vec<Value> {
    match input {
        Some(items) => items,
        None => a
            .get("InputObject")
            .cloned()
            .map(flatten)
            .unwrap_or_default(),
    }
}

/// A Where-Object operator switch's comparison: (operator, case-sensitive).
fn operator(name: &str) -> Option<(CompareOp, bool)> {
    let lower = name.to_ascii_lowercase();
    if let Some(op) = CompareOp::from_name(&lower) {
        return Some((op, false));
    }
    lower
        .strip_prefix('c')
        .and_then(CompareOp::from_name)
        .map(|op| (op, true))
}

pub(super) fn where_object(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let items = input_items(&a, input);
    if let Some(block) = a.block("FilterScript").or_else(|| a.blocks().next()) {
        let mut out = Vec::new();
        for item in items {
            if collapse(sh.run_block(block, &item)?).truthy() {
                out.push(item);
            }
        }
        return Ok(out);
    }
    // The comparison statement: Where-Object [-Property] Name [-Op] [[-Value] v].
    let mut positional = a.values();
    let Some(property) = a.get("Property").or_else(|| positional.next()) else {
        return Err(usage(
            c,
            "give a script block or a property: Where-Object { $_.Status -eq 'Valid' }, Where-Object Status -eq Valid".into(),
        ));
    };
    let property = property.to_string();
    let value = a.get("Value").or_else(|| positional.next()).cloned();
    let ops: Vec<&str> = a
        .named
        .iter()
        .filter(|(n, _)| WHERE_OPERATORS.contains(n))
        .map(|(n, _)| *n)
        .collect();
    let op = match ops.as_slice() {
        [] => None,
        [one] => Some(*one),
        many => {
            return Err(usage(
                c,
                format!(
                    "one comparison operator at a time, not -{}",
                    many.join(" and -")
                ),
            ));
        }
    };
    let compare_op = match op {
        None | Some("Not") => None,
        Some(name) => Some(
            operator(name)
                .ok_or_else(|| usage(c, format!("-{name} is not a comparison operator")))?,
        ),
    };
    if compare_op.is_some() && value.is_none() {
        return Err(usage(
            c,
            format!(
                "-{} needs a value to compare with: Where-Object {property} -{} <value>",
                op.unwrap_or_default(),
                op.unwrap_or_default()
            ),
        ));
    }
    if compare_op.is_none() && value.is_some() {
        return Err(usage(
            c,
            "a value without a comparison operator: Where-Object Name -eq <value>".into(),
        ));
    }
    let mut out = Vec::new();
    for item in items {
        let lhs = member(&item, &property).unwrap_or(Value::Null);
        let keep = match (compare_op, &value) {
            (Some((op, case_sensitive)), Some(rhs)) => {
                compare::binary(BinaryOp::Compare { op, case_sensitive }, &lhs, rhs)
                    .map_err(|m| RuntimeError::msg(m, c.name.span))?
                    .truthy()
            }
            _ => lhs.truthy() != (op == Some("Not")),
        };
        if keep {
            out.push(item);
        }
    }
    Ok(out)
}

pub(super) fn foreach_object(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let items = input_items(&a, input);
    let mut out = Vec::new();
    if let Some(name) = a.get("MemberName").or_else(|| a.values().next()) {
        let name = name.to_string();
        let arguments = a.get("ArgumentList").cloned().map(flatten);
        for item in items {
            let v = match (&arguments, member(&item, &name)) {
                (None, Some(v)) => v,
                (arguments, _) => {
                    crate::shell::method(&item, &name, arguments.as_deref().unwrap_or_default())
                        .map_err(|m| RuntimeError::msg(m, c.name.span))?
                }
            };
            out.extend(flatten(v));
        }
        return Ok(out);
    }
    let positional: Vec<_> = a.blocks().collect();
    let (mut begin, mut process, mut end) = match positional.as_slice() {
        [] => (None, Vec::new(), None),
        [p] => (None, vec![*p], None),
        [b, p] => (Some(*b), vec![*p], None),
        [b, middle @ .., e] => (Some(*b), middle.to_vec(), Some(*e)),
    };
    begin = a.block("Begin").or(begin);
    end = a.block("End").or(end);
    let named = a.blocks_of("Process");
    if !named.is_empty() {
        process = named;
    }
    if begin.is_none() && process.is_empty() && end.is_none() {
        return Err(usage(
            c,
            "give a script block or a member name: ForEach-Object { $_.Name }, % Name".into(),
        ));
    }
    if let Some(b) = begin {
        out.extend(sh.run_block(b, &Value::Null)?);
    }
    for item in items {
        for p in &process {
            out.extend(sh.run_block(p, &item)?);
        }
    }
    if let Some(e) = end {
        out.extend(sh.run_block(e, &Value::Null)?);
    }
    Ok(out)
}
