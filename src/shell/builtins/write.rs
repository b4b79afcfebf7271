//! Write-Output and Out-Null.

use super::args;
use crate::lang::Command;
use crate::shell::{R, Shell};
use xshell_cmdlets::Value;

pub(super) fn write_output(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c, &["InputObject"], &[])?;
    let mut out = input.unwrap_or_default();
    out.extend(a.get("InputObject").cloned());
    out.extend(a.positional.into_iter().flat_map(crate::shell::flatten));
    Ok(out)
}

pub(super) fn out_null(sh: &mut Shell<'_>, c: &Command, _: Option<Vec<Value>>) -> R<Vec<Value>> {
    let _ = args(sh, c, &["InputObject"], &[])?;
    Ok(Vec::new())
}
