//! Group-Object.

use super::args;
use super::filter::input_items;
use super::select::property_list;
use super::sort::{compare_keys, keys};
use crate::lang::Command;
use crate::shell::{R, Shell, display_in_string};
use std::cmp::Ordering;
use xshell_cmdlets::Value;
use xshell_cmdlets::value::{Object, View};

const GROUP_COLUMNS: &[&str] = &["Count", "Name", "Group"];
const NO_ELEMENT_COLUMNS: &[&str] = &["Count", "Name"];

pub(super) fn group_object(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let items = input_items(&a, input);
    let props = property_list(sh, c, &a, "Property")?;
    let cs = a.flag("CaseSensitive");
    // (keys, members), in the order the groups were first seen.
    let mut groups: Vec<(Vec<Value>, Vec<Value>)> = Vec::new();
    for item in items {
        let k = keys(sh, &props, &item)?;
        match groups
            .iter_mut()
            .find(|(g, _)| compare_keys(g, &k, &[], cs) == Ordering::Equal)
        {
            Some((_, members)) => members.push(item),
            None => groups.push((k, vec![item])),
        }
    }
    // PowerShell 7 sorts the groups by their values.
    groups.sort_by(|(x, _), (y, _)| compare_keys(x, y, &[], cs));
    let name = |k: &[Value]| {
        k.iter()
            .map(display_in_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if a.flag("AsHashTable") {
        let map = groups
            .into_iter()
            .map(|(k, members)| (name(&k), Value::List(members)))
            .collect();
        return Ok(vec![Value::Map(map)]);
    }
    let no_element = a.flag("NoElement");
    Ok(groups
        .into_iter()
        .map(|(k, members)| {
            let mut o = Object::new(
                "Microsoft.PowerShell.Commands.GroupInfo",
                View::Table(if no_element {
                    NO_ELEMENT_COLUMNS
                } else {
                    GROUP_COLUMNS
                }),
            )
            .with("Count", Value::Int(members.len() as i64))
            .with("Name", Value::Str(name(&k)));
            if !no_element {
                o.set("Group", Value::List(members));
                o.set("Values", Value::List(k));
            }
            Value::Object(o)
        })
        .collect())
}
