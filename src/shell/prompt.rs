//! The interactive prompt: line editing, history, multi-line input, and tab
//! completion of cmdlet names, parameter names and enum values, all from the
//! cmdlet declarations.

use super::Shell;
use crate::lang::{self, CompletionKind};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Editor, Helper};
use std::path::PathBuf;
use xshell_cmdlets::CATALOGUE;
use xshell_cmdlets::decl::Kind;

/// Completion and multi-line validation for the editor.
pub struct XHelper;

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Completion candidates for `line` with the cursor at `pos`: the byte offset
/// where the replaced word starts, and the candidates.
pub fn candidates(line: &str, pos: usize) -> (usize, Vec<String>) {
    let cc = lang::complete_context(line, pos);
    let start = cc.span.start;
    let partial = cc.partial.as_str();
    let mut out: Vec<String> = match cc.kind {
        CompletionKind::CommandName => CATALOGUE
            .iter()
            .map(|d| d.name)
            .chain(super::builtins::BUILTINS.iter().map(|b| b.name))
            .filter(|n| starts_with_ci(n, partial))
            .map(str::to_string)
            .collect(),
        CompletionKind::ParameterName { command } => match xshell_cmdlets::find(&command) {
            Some(d) => d
                .all_params()
                .iter()
                .filter(|p| starts_with_ci(p.name, partial))
                .map(|p| format!("-{}", p.name))
                .collect(),
            None => Vec::new(),
        },
        CompletionKind::Value {
            command,
            parameter: Some(param),
        } => {
            let kind = xshell_cmdlets::find(&command)
                .and_then(|d| xshell_cmdlets::bind::resolve_param(d, &param).ok())
                .map(|p| p.kind);
            match kind {
                Some(Kind::Bool) | Some(Kind::Switch) => ["$true", "$false"]
                    .iter()
                    .filter(|v| {
                        starts_with_ci(v, &format!("${partial}"))
                            || starts_with_ci(&v[1..], partial)
                    })
                    .map(|v| v.to_string())
                    .collect(),
                Some(k) => k
                    .choices()
                    .iter()
                    .filter(|c| starts_with_ci(c, partial))
                    .map(|c| c.to_string())
                    .collect(),
                None => Vec::new(),
            }
        }
        _ => Vec::new(),
    };
    out.sort();
    out.dedup();
    (start, out)
}

impl Completer for XHelper {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, c) = candidates(line, pos);
        Ok((
            start,
            c.into_iter()
                .map(|s| Pair {
                    display: s.clone(),
                    replacement: s,
                })
                .collect(),
        ))
    }
}

impl Hinter for XHelper {
    type Hint = String;
}
impl Highlighter for XHelper {}
impl Validator for XHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        Ok(if lang::needs_more_input(ctx.input()) {
            ValidationResult::Incomplete
        } else {
            ValidationResult::Valid(None)
        })
    }
}
impl Helper for XHelper {}

/// Runs the prompt until end of input; returns the exit code.
pub fn run(shell: &mut Shell<'_>, history: Option<PathBuf>) -> i32 {
    let mut rl: Editor<XHelper, rustyline::history::DefaultHistory> = match Editor::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot start the line editor: {e}");
            return 1;
        }
    };
    rl.set_helper(Some(XHelper));
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    eprintln!(
        "xshell {} — Get-Help lists the cmdlets; Tab completes; Ctrl-D exits.",
        env!("CARGO_PKG_VERSION")
    );
    let mut n = 0usize;
    loop {
        match rl.readline("[PS] xshell> ") {
            Ok(line) => {
                if line.trim().is_empty() {
                    continue;
                }
                let _ = rl.add_history_entry(line.as_str());
                if let Some(h) = &history {
                    let _ = rl.save_history(h);
                }
                n += 1;
                let name = format!("<prompt:{n}>");
                match lang::parse_script(&line) {
                    Err(e) => crate::cli::write_err(&e.render(&name, &line)),
                    Ok(script) => {
                        if let Err(e) = shell.run(&script, &name, &line) {
                            crate::cli::write_err(&e.render(&name, &line));
                        }
                        if let Some(code) = shell.exit_requested() {
                            return code;
                        }
                    }
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => return 0,
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        }
    }
}
