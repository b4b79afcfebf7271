//! ConvertTo-SecureString: a password for -Password, never shown.

use super::{args, bad, usage};
use crate::lang::Command;
use crate::shell::{R, Shell, display_in_string};
use xshell_cmdlets::Value;
use xshell_cmdlets::value::Secret;

pub(super) fn convert_to_secure_string(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    if a.get("Key").is_some() || a.get("SecureKey").is_some() {
        return Err(bad(
            c,
            "Key",
            "encrypted standard strings are not supported: give the password with -AsPlainText -Force",
        ));
    }
    if !a.flag("AsPlainText") {
        // PowerShell reads an encrypted standard string (Windows DPAPI) then.
        return Err(usage(
            c,
            "without -AsPlainText the text must be a DPAPI-encrypted string, which only Windows can read; use -AsPlainText -Force".into(),
        ));
    }
    let given: Vec<Value> = match a
        .get("String")
        .cloned()
        .or_else(|| a.values().next().cloned())
    {
        Some(v) => vec![v],
        None => input.unwrap_or_default(),
    };
    if given.is_empty() {
        return Err(usage(c, "missing -String: the text to protect".into()));
    }
    Ok(given
        .iter()
        .map(|v| {
            Value::Secret(Secret::new(match v {
                Value::Secret(s) => s.0.to_string(),
                other => display_in_string(other),
            }))
        })
        .collect())
}
