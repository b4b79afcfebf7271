//! Select-String: lines that match a pattern, in files or the pipeline.

use super::files::{Encoding, path_of, read_file};
use super::filter::input_items;
use super::props::names;
use super::{args, bad, usage};
use crate::lang::Command;
use crate::shell::{R, Shell, display_in_string};
use xshell_cmdlets::Value;
use xshell_cmdlets::format::MATCH_INFO;
use xshell_cmdlets::value::{Object, View};

fn match_info(line: &str, number: usize, path: &str, pattern: &str, ignore_case: bool) -> Value {
    let file = std::path::Path::new(path)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string());
    Value::Object(
        Object::new(MATCH_INFO, View::List)
            .with("IgnoreCase", Value::Bool(ignore_case))
            .with("LineNumber", Value::Int(number as i64))
            .with("Line", Value::str(line))
            .with("Filename", Value::Str(file))
            .with("Path", Value::str(path))
            .with("Pattern", Value::str(pattern)),
    )
}

pub(super) fn select_string(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let mut positional = a.values();
    let patterns: Vec<String> = a
        .get("Pattern")
        .or_else(|| positional.next())
        .map(names)
        .unwrap_or_default();
    if patterns.is_empty() {
        return Err(usage(
            c,
            "missing -Pattern: Select-String -Pattern <text>".into(),
        ));
    }
    let cs = a.flag("CaseSensitive");
    let simple = a.flag("SimpleMatch");
    let mut regexes = Vec::new();
    for p in &patterns {
        let source = if simple { regex::escape(p) } else { p.clone() };
        let re = regex::RegexBuilder::new(&source)
            .case_insensitive(!cs)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| {
                bad(
                    c,
                    "Pattern",
                    format!("'{p}' is not a valid regular expression: {e}"),
                )
            })?;
        regexes.push((p.clone(), re));
    }
    let not_match = a.flag("NotMatch");
    // (path, lines) to search: the files named, or the pipeline's text.
    let mut sources: Vec<(String, Vec<String>)> = Vec::new();
    let paths: Vec<String> = a
        .get("Path")
        .or_else(|| a.get("LiteralPath"))
        .or_else(|| positional.next())
        .map(names)
        .unwrap_or_default();
    if paths.is_empty() {
        let items = input_items(&a, input);
        sources.push((
            "InputStream".into(),
            items.iter().map(display_in_string).collect(),
        ));
    } else {
        for p in paths {
            let text = Encoding::Utf8.decode(&read_file(c, &p, &path_of(&p))?);
            sources.push((p, text.lines().map(str::to_string).collect()));
        }
    }
    let mut out = Vec::new();
    for (path, lines) in &sources {
        for (i, line) in lines.iter().enumerate() {
            let hit = regexes.iter().find(|(_, re)| re.is_match(line));
            let pattern = match (hit, not_match) {
                (Some((p, _)), false) => p.clone(),
                (None, true) => patterns[0].clone(),
                _ => continue,
            };
            out.push(match_info(line, i + 1, path, &pattern, !cs));
            if a.flag("List") {
                break;
            }
        }
    }
    if a.flag("Quiet") {
        return Ok(vec![Value::Bool(!out.is_empty())]);
    }
    Ok(out)
}
