//! Output builtins: Write-Output, Write-Host, Write-Warning, Write-Error,
//! Write-Verbose, Out-Null, Out-Host and Out-String.

use super::filter::input_items;
use super::{Args, args, bad, usage};
use crate::lang::Command;
use crate::shell::{R, RuntimeError, Shell, display_in_string, flatten};
use xshell_cmdlets::format::{self, Format};
use xshell_cmdlets::{CmdletError, Value};

/// The console colours -ForegroundColor and -BackgroundColor accept.
const COLORS: &[&str] = &[
    "Black",
    "DarkBlue",
    "DarkGreen",
    "DarkCyan",
    "DarkRed",
    "DarkMagenta",
    "DarkYellow",
    "Gray",
    "DarkGray",
    "Blue",
    "Green",
    "Cyan",
    "Red",
    "Magenta",
    "Yellow",
    "White",
];

/// Values as the console shows them: text line by line, objects in their
/// default view (a table or a list).
pub(super) fn render(values: &[Value]) -> String {
    format::render(values, Format::Table)
}

/// -Width: each line cut to that many characters (None: as rendered).
pub(super) fn width(c: &Command, a: &Args<'_>) -> R<Option<usize>> {
    match super::select::count(c, a, "Width")? {
        Some(0) => Err(bad(c, "Width", "the width must be 1 or more")),
        w => Ok(w),
    }
}

/// `text` with every line cut to `width` characters.
pub(super) fn cut_lines(text: String, width: Option<usize>) -> String {
    let Some(w) = width else {
        return text;
    };
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        out.extend(body.chars().take(w));
        out.push_str(end);
    }
    out
}

/// The values given positionally (a script block is refused).
fn positional_values(c: &Command, a: &Args<'_>) -> R<Vec<Value>> {
    if a.blocks().next().is_some() {
        return Err(usage(
            c,
            "a script block is not a value here: give text or values".to_string(),
        ));
    }
    Ok(a.values().cloned().collect())
}

pub(super) fn write_output(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let no_enumerate = a.flag("NoEnumerate");
    let mut out = input.unwrap_or_default();
    let given = a
        .get("InputObject")
        .cloned()
        .into_iter()
        .chain(positional_values(c, &a)?);
    for v in given {
        if no_enumerate {
            out.push(v);
        } else {
            out.extend(flatten(v));
        }
    }
    Ok(out)
}

/// The message of Write-Warning/-Error/-Verbose: -Message, the positional
/// words, or the piped values.
fn message(c: &Command, a: &Args<'_>, input: Option<Vec<Value>>) -> R<String> {
    let mut parts: Vec<String> = a
        .get("Message")
        .map(display_in_string)
        .into_iter()
        .collect();
    parts.extend(positional_values(c, a)?.iter().map(display_in_string));
    parts.extend(input.unwrap_or_default().iter().map(display_in_string));
    Ok(parts.join(" "))
}

pub(super) fn write_host(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    for p in ["ForegroundColor", "BackgroundColor"] {
        if let Some(v) = a.get(p) {
            let name = v.to_string();
            if !COLORS.iter().any(|k| k.eq_ignore_ascii_case(&name)) {
                return Err(bad(
                    c,
                    p,
                    format!("'{name}' is not a console colour ({})", COLORS.join(", ")),
                ));
            }
        }
    }
    let separator = a.get("Separator").map(display_in_string);
    let separator = separator.as_deref().unwrap_or(" ");
    let mut values: Vec<Value> = a.get("Object").cloned().into_iter().collect();
    values.extend(positional_values(c, &a)?);
    values.extend(input.unwrap_or_default());
    // Lists are spread, each element joined with the separator.
    let text = values
        .into_iter()
        .flat_map(flatten)
        .map(|v| display_in_string(&v))
        .collect::<Vec<_>>()
        .join(separator);
    let mut line = text;
    if !a.flag("NoNewline") {
        line.push('\n');
    }
    sh.out
        .write_all(line.as_bytes())
        .and_then(|()| sh.out.flush())
        .or_else(ignore_closed_pipe)
        .map_err(|e| {
            RuntimeError::new(
                CmdletError::Failed(format!("cannot write to the terminal: {e}")),
                c.name.span,
            )
        })?;
    Ok(Vec::new())
}

/// A reader that went away (`| head`) is not an error.
fn ignore_closed_pipe(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(e)
    }
}

pub(super) fn write_warning(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let m = message(c, &a, input)?;
    sh.host.warn(&m);
    Ok(Vec::new())
}

pub(super) fn write_verbose(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let m = message(c, &a, input)?;
    let preference = sh
        .var("VerbosePreference")
        .is_some_and(|v| v.to_string().eq_ignore_ascii_case("Continue"));
    if a.flag("Verbose") || preference {
        sh.host.info(&format!("VERBOSE: {m}"));
    }
    Ok(Vec::new())
}

/// Write-Error: an error through the runtime's error path (the statement
/// runner decides, with -ErrorAction, whether the script goes on).
pub(super) fn write_error(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let m = message(c, &a, input)?;
    let m = if m.is_empty() {
        "an error was written".to_string()
    } else {
        m
    };
    Err(RuntimeError::new(CmdletError::Failed(m), c.span))
}

pub(super) fn out_null(sh: &mut Shell<'_>, c: &Command, _: Option<Vec<Value>>) -> R<Vec<Value>> {
    let _ = args(sh, c)?;
    Ok(Vec::new())
}

pub(super) fn out_host(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let items = input_items(&a, input);
    let text = render(&items);
    sh.out
        .write_all(text.as_bytes())
        .and_then(|()| sh.out.flush())
        .or_else(ignore_closed_pipe)
        .map_err(|e| {
            RuntimeError::new(
                CmdletError::Failed(format!("cannot write to the terminal: {e}")),
                c.name.span,
            )
        })?;
    Ok(Vec::new())
}

pub(super) fn out_string(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let items = input_items(&a, input);
    let text = cut_lines(render(&items), width(c, &a)?);
    if a.flag("Stream") {
        return Ok(text.lines().map(Value::str).collect());
    }
    Ok(vec![Value::Str(text)])
}
