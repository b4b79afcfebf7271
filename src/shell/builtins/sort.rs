//! Sort-Object.

use super::filter::input_items;
use super::props::{Prop, evaluate, resolve};
use super::select::{count, property_list};
use super::{args, bad};
use crate::lang::Command;
use crate::shell::compare::sort_order;
use crate::shell::{R, Shell};
use std::cmp::Ordering;
use xshell_cmdlets::Value;

/// The sort keys of `item`: one value per property (or the item itself).
pub(super) fn keys(sh: &mut Shell<'_>, props: &[Prop<'_>], item: &Value) -> R<Vec<Value>> {
    if props.is_empty() {
        return Ok(vec![item.clone()]);
    }
    let mut out = Vec::with_capacity(props.len());
    for p in props {
        out.push(match p {
            Prop::Calculated { expression, .. } => evaluate(sh, expression, item)?,
            name => resolve(sh, std::slice::from_ref(name), item)?
                .into_iter()
                .next()
                .map(|(_, v)| v)
                .unwrap_or(Value::Null),
        });
    }
    Ok(out)
}

/// Compares two key lists, each key in its own direction.
pub(super) fn compare_keys(
    a: &[Value],
    b: &[Value],
    descending: &[bool],
    case_sensitive: bool,
) -> Ordering {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let o = sort_order(x, y, case_sensitive);
        let o = if descending.get(i).copied().unwrap_or(false) {
            o.reverse()
        } else {
            o
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

pub(super) fn sort_object(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let items = input_items(&a, input);
    let props = property_list(sh, c, &a, "Property")?;
    let desc = a.flag("Descending");
    let cs = a.flag("CaseSensitive");
    let directions: Vec<bool> = if props.is_empty() {
        vec![desc]
    } else {
        props
            .iter()
            .map(|p| match p {
                Prop::Calculated {
                    descending: Some(d),
                    ..
                } => *d,
                _ => desc,
            })
            .collect()
    };
    let mut keyed = Vec::with_capacity(items.len());
    for item in items {
        keyed.push((keys(sh, &props, &item)?, item));
    }
    // A stable sort: equal keys keep their input order.
    keyed.sort_by(|(x, _), (y, _)| compare_keys(x, y, &directions, cs));
    if a.flag("Unique") {
        keyed.dedup_by(|(x, _), (y, _)| compare_keys(x, y, &[], cs) == Ordering::Equal);
    }
    let mut out: Vec<Value> = keyed.into_iter().map(|(_, v)| v).collect();
    match (count(c, &a, "Top")?, count(c, &a, "Bottom")?) {
        (Some(_), Some(_)) => {
            return Err(bad(c, "Top", "-Top and -Bottom cannot be used together"));
        }
        (Some(n), None) => out.truncate(n),
        (None, Some(n)) => {
            let from = out.len().saturating_sub(n);
            out.drain(..from);
        }
        (None, None) => {}
    }
    Ok(out)
}
