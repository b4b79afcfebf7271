//! Files and conversions: ConvertTo-Json.

use super::args;
use crate::lang::Command;
use crate::shell::{R, Shell};
use xshell_cmdlets::Value;

pub(super) fn convert_to_json(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let _ = args(sh, c)?;
    let items = input.unwrap_or_default();
    let json = match items.as_slice() {
        [one] => one.to_json(),
        many => serde_json::Value::Array(many.iter().map(Value::to_json).collect()),
    };
    Ok(vec![Value::Str(
        serde_json::to_string_pretty(&json).unwrap_or_default(),
    )])
}
