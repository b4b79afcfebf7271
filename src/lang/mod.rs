//! The xshell shell language: a pure parser (`&str` in, [`Script`] or [`ParseError`] out).
//!
//! xshell scripts are the subset of PowerShell that Exchange Management Shell scripts use:
//!
//! - Statements are separated by `;` or newlines; `#` starts a comment (at the start of a
//!   token), `<# ... #>` is a block comment; a backtick at the end of a line continues it, as
//!   does a trailing `|`, `,` or operator.
//! - **Command mode** (a statement or pipeline stage starting with a bareword):
//!   `Verb-Noun -Name value -Name:value -Switch positional`. Arguments are a flat list of
//!   [`Arg::Parameter`] and [`Arg::Value`]; the binder decides which value belongs to which
//!   parameter. Barewords (`c:\certificates\import.pfx`, `*.contoso.com`, `2.00:00:00`) are
//!   strings, unless the whole word is a number (`25MB` = 26214400, `0x1F`, `-5`). An
//!   unquoted comma builds an array (`-DomainName a.tld,b.tld`; note that
//!   `-SubjectName C=DE,O=OrgA` is therefore a list: quote it).
//! - **Expression mode** (starting with `$`, a quote, a number, `@`, `(`, `{`, `!` or a dash):
//!   `$true $false $null`, variables (`$cert`, `$_`, `${a b}`, `$env:X`), members
//!   `$cert.Thumbprint`, method calls `$x.ToString()`, indexes `$list[0]`, strings
//!   (`'literal'`, `"expands $var and $($x.Prop)"`), comma arrays, `@(...)`, `$(...)`,
//!   `(pipeline)`, hashtables `@{Add="c.tld"; Remove="a.tld"}`, script blocks `{ ... }`,
//!   comparison operators (`-eq -ne -gt -ge -lt -le -like -notlike -match -notmatch
//!   -contains -notcontains -in -notin`, case-insensitive, `-c`/`-i` prefixed variants),
//!   `-and -or -xor -not !`, `+ - * / %`, `-replace -split -join -f -is -isnot -as`,
//!   ranges `1..5`, `[type]` literals, casts `[int]$x` and static members
//!   `[System.IO.File]::ReadAllBytes('x')`, `++`/`--`.
//! - Assignment `$x = <pipeline>` (and `+= -= *= /= %=`); pipelines `a | b | c` whose first
//!   stage may be an expression, followed by redirections (`> file`, `>> file`, `2>&1`,
//!   `2>$null`, `*>$null`).
//! - Statements: `if/elseif/else`, `foreach ($x in ...)`, `while`, `do { } while/until`,
//!   `for (;;)`, `switch [-Wildcard|-Regex] (...) { }`, `break`, `continue`, `return`, `exit`, `throw`, `try/catch [Type]/finally`,
//!   `function Name { param(...) ... }`, a script's `[CmdletBinding()] param(...)`;
//!   `$x = if (...) { }` takes the statement's output.
//! - Here-strings `@"` ... `"@` (expanding) and `@'` ... `'@` (literal).
//! - Typographic quotes and dashes (from documents) count as `'`, `"` and `-`, as in
//!   PowerShell.
//!
//! Not supported (each reported with a clear error): `trap`, `class` and other
//! keywords, `&`, input redirection `<`, splatting, the bitwise operators, dot-sourcing.
//!
//! Nesting is capped at [`MAX_DEPTH`]; the parser never panics and never recurses deeper.

mod ast;
mod chars;
mod complete;
mod error;
mod parser;
mod span;

#[cfg(test)]
mod tests;

pub use ast::{
    Arg, AssignOp, Assignment, BinaryOp, Catch, Command, CommandName, CompareOp, Expr, ExprKind,
    FunctionDef, FunctionParam, HashEntry, Number, Pipeline, PipelineElement, RedirectTarget,
    Redirection, Script, Statement, StatementKind, Stream, StringPart, StringStyle, SwitchClause,
    SwitchMode, TypeName, UnaryOp,
};
pub use complete::{CompletionContext, CompletionKind, complete_context};
pub use error::ParseError;
pub use parser::MAX_DEPTH;
pub use span::{Span, line_col};

/// Parses a whole script. Nothing runs before the whole script has parsed: the first syntax
/// error is returned.
///
/// ```
/// use xshell::lang::{parse_script, Arg, ExprKind, PipelineElement, StatementKind};
/// let script = parse_script("Set-SendConnector Outbound -DomainSecureEnabled:$True").unwrap();
/// let StatementKind::Pipeline(p) = &script.statements[0].kind else { panic!() };
/// let PipelineElement::Command(cmd) = &p.elements[0] else { panic!() };
/// assert_eq!(cmd.name.text, "Set-SendConnector");
/// let Arg::Parameter { name, colon_value: Some(v), .. } = &cmd.args[1] else { panic!() };
/// assert_eq!(name, "DomainSecureEnabled");
/// assert_eq!(v.kind, ExprKind::Bool(true));
/// ```
pub fn parse_script(src: &str) -> Result<Script, ParseError> {
    parser::Parser::new(src).parse_script()
}

/// True if `src` is an incomplete script that more lines could complete (unclosed quote,
/// brace, parenthesis or bracket; trailing `|`, `,`, `=`, operator or line-continuation
/// backtick): an interactive prompt should then read another line. False if `src` parses, or
/// has an error that more input cannot fix.
pub fn needs_more_input(src: &str) -> bool {
    matches!(parse_script(src), Err(e) if e.incomplete)
}
