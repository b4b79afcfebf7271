//! Where-Object and ForEach-Object.

use super::{args, usage};
use crate::lang::Command;
use crate::shell::{R, Shell, collapse};
use xshell_cmdlets::Value;

pub(super) fn where_object(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c, &["FilterScript"], &[])?;
    let block = a.block.ok_or_else(|| {
        usage(
            c,
            "Where-Object needs a script block: Where-Object { $_.Prop -eq value }".into(),
        )
    })?;
    let mut out = Vec::new();
    for item in input.unwrap_or_default() {
        if collapse(sh.run_block(block, &item)?).truthy() {
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
    let a = args(sh, c, &["Process"], &[])?;
    let block = a.block.ok_or_else(|| {
        usage(
            c,
            "ForEach-Object needs a script block: ForEach-Object { $_.Name }".into(),
        )
    })?;
    let mut out = Vec::new();
    for item in input.unwrap_or_default() {
        out.extend(sh.run_block(block, &item)?);
    }
    Ok(out)
}
