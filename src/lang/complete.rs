//! Cursor context for tab completion.
//!
//! Works on possibly incomplete input (the line being typed), so it does not use the parser:
//! a light scanner walks the text before the cursor, tracking nested blocks and which
//! command and parameter the cursor belongs to.

use super::chars::{ends_word, is_dash, is_double_quote, is_ident_char, is_ident_start, is_quote};
use super::span::{Span, floor_char_boundary};

/// What the word under the cursor is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionContext {
    pub kind: CompletionKind,
    /// The word from its start up to the cursor, without its syntax: no `-` for a parameter
    /// name, no `$` for a variable, no opening quote, nothing before `:` in `-Name:value`.
    /// Backtick escapes are left as typed.
    pub partial: String,
    /// Byte range a completion replaces: from the start of the word (its `-`, `$` or opening
    /// quote included; after the `:` of `-Name:value`) to the cursor.
    pub span: Span,
    /// The opening quote if the cursor is inside an unterminated quoted string.
    pub quote: Option<char>,
}

/// Where the cursor is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompletionKind {
    /// The command name of a statement or pipeline stage (`Get-Ex|`, `... | Ena|`).
    CommandName,
    /// A parameter name (`Set-SendConnector -Dom|`); `command` as typed.
    ParameterName { command: String },
    /// An argument value. `parameter` is the parameter token just before it (`-Services SM|`,
    /// `-Services SMTP,IM|`, `-DomainSecureEnabled:$Tr|` gives `DomainSecureEnabled`), or
    /// `None` for a positional value. If that parameter is a switch, the value is positional
    /// after all: the completer, which knows the cmdlet, decides.
    Value {
        command: String,
        parameter: Option<String>,
    },
    /// A variable name after `$` (`$ce|`), anywhere.
    Variable,
    /// Nothing to complete: inside a comment, an operator, an expression's string, a
    /// hashtable...
    Nothing,
}

#[derive(Debug, Clone, Default)]
struct CommandState {
    name: String,
    /// A parameter token without colon value, waiting for a possible value.
    pending: Option<String>,
    /// The parameter whose (comma-list) value is being written.
    list_param: Option<String>,
    /// The last token was a `,`.
    after_comma: bool,
}

impl CommandState {
    /// The parameter a value starting now would belong to.
    fn value_param(&self) -> Option<String> {
        if self.after_comma {
            self.list_param.clone()
        } else {
            self.pending.clone()
        }
    }

    fn start_value(&mut self) {
        self.list_param = self.value_param();
        self.pending = None;
        self.after_comma = false;
    }

    fn parameter(&mut self, name: &str, colon_value: Option<&str>) {
        self.after_comma = false;
        match colon_value {
            None => {
                self.pending = Some(name.to_string());
                self.list_param = None;
            }
            // `-Name:` with the value still to come (`-Name:(...)`)
            Some("") => {
                self.pending = Some(name.to_string());
                self.list_param = None;
            }
            Some(_) => {
                self.pending = None;
                self.list_param = Some(name.to_string());
            }
        }
    }
}

#[derive(Debug, Clone)]
enum State {
    /// A statement or pipeline stage starts here.
    Start,
    Command(CommandState),
    Expression,
    Hashtable,
}

#[derive(Debug)]
struct Frame {
    state: State,
}

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.text.get(self.pos..).and_then(|s| s.chars().next())
    }
    fn peek_nth(&self, n: usize) -> Option<char> {
        self.text.get(self.pos..).and_then(|s| s.chars().nth(n))
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }
    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }
}

fn nothing(cursor: usize) -> CompletionContext {
    CompletionContext {
        kind: CompletionKind::Nothing,
        partial: String::new(),
        span: Span::new(cursor, cursor),
        quote: None,
    }
}

/// Describes the cursor position `cursor` (a byte offset, clamped to `src` and rounded down
/// to a character boundary) in `src` for tab completion. Only the text before the cursor is
/// considered. Never fails: unknown situations give [`CompletionKind::Nothing`].
///
/// ```
/// use xshell::lang::{complete_context, CompletionKind};
/// let line = "Set-SendConnector Outbound -DomainSec";
/// let ctx = complete_context(line, line.len());
/// assert_eq!(ctx.kind, CompletionKind::ParameterName { command: "Set-SendConnector".into() });
/// assert_eq!(ctx.partial, "DomainSec");
/// ```
pub fn complete_context(src: &str, cursor: usize) -> CompletionContext {
    let cursor = floor_char_boundary(src, cursor);
    let text = src.get(..cursor).unwrap_or("");
    let mut sc = Scanner { text, pos: 0 };
    let mut frames = vec![Frame {
        state: State::Start,
    }];

    while let Some(c) = sc.peek() {
        let Some(frame) = frames.last_mut() else {
            break;
        };
        match c {
            '\n' => {
                sc.bump();
                let keep = matches!(&frame.state, State::Command(cmd) if cmd.after_comma)
                    || matches!(frame.state, State::Hashtable);
                if !keep {
                    frame.state = State::Start;
                }
            }
            c if c.is_whitespace() || c == '\u{feff}' => {
                sc.bump();
            }
            '`' => {
                sc.bump();
                sc.bump();
            }
            ';' | '|' => {
                sc.bump();
                if !matches!(frame.state, State::Hashtable) {
                    frame.state = State::Start;
                }
            }
            '#' => {
                match text.get(sc.pos..).and_then(|r| r.find('\n')) {
                    Some(i) => sc.pos += i,
                    None => return nothing(cursor), // inside a comment
                }
            }
            '<' if sc.peek_nth(1) == Some('#') => {
                match text.get(sc.pos + 2..).and_then(|r| r.find("#>")) {
                    Some(i) => sc.pos += 2 + i + 2,
                    None => return nothing(cursor),
                }
            }
            ',' => {
                sc.bump();
                if let State::Command(cmd) = &mut frame.state {
                    cmd.after_comma = true;
                }
            }
            '=' if matches!(frame.state, State::Expression) => {
                sc.bump();
                frame.state = State::Start; // `$x = Command ...`
            }
            '(' | '{' | '@' | '$' if opens_block(c, sc.peek_nth(1)) => {
                let opener_len = if c == '(' || c == '{' { 1 } else { 2 };
                let hashtable = c == '@' && sc.peek_nth(1) == Some('{');
                match &mut frame.state {
                    State::Command(cmd) => cmd.start_value(),
                    State::Start => frame.state = State::Expression,
                    _ => {}
                }
                for _ in 0..opener_len {
                    sc.bump();
                }
                let state = if hashtable {
                    State::Hashtable
                } else {
                    State::Start
                };
                frames.push(Frame { state });
            }
            ')' | '}' => {
                sc.bump();
                if frames.len() > 1 {
                    frames.pop();
                }
            }
            q if is_quote(q) => {
                let start = sc.pos;
                let value_param = match &mut frame.state {
                    State::Command(cmd) => {
                        let p = cmd.value_param();
                        cmd.start_value();
                        Some(p)
                    }
                    State::Start => {
                        frame.state = State::Expression;
                        None
                    }
                    _ => None,
                };
                sc.bump();
                let content_start = sc.pos;
                if !skip_string(&mut sc, q) {
                    // the cursor is inside this string
                    let partial = text.get(content_start..).unwrap_or("").to_string();
                    let kind = match (value_param, &frame.state) {
                        (Some(parameter), State::Command(cmd)) => CompletionKind::Value {
                            command: cmd.name.clone(),
                            parameter,
                        },
                        _ => CompletionKind::Nothing,
                    };
                    return CompletionContext {
                        kind,
                        partial,
                        span: Span::new(start, cursor),
                        quote: Some(q),
                    };
                }
            }
            _ => {
                let start = sc.pos;
                while let Some(c) = sc.peek() {
                    if ends_word(c) || (c == '$' && sc.pos > start && sc.peek_nth(1) == Some('(')) {
                        break;
                    }
                    if c == '`' {
                        sc.bump();
                    }
                    sc.bump();
                    if is_quote(c) && !skip_string(&mut sc, c) {
                        // the cursor is inside a string within this word (`-Name:"ab`)
                        let quote_at = sc_quote_start(text, start, c);
                        return in_word_string(&frame.state, text, start, quote_at, cursor, c);
                    }
                }
                if sc.pos == start {
                    sc.bump(); // `&`, `<`, `>`: nothing to track
                    continue;
                }
                let word = text.get(start..sc.pos).unwrap_or("");
                if sc.at_end() {
                    return classify(&frame.state, word, start, cursor);
                }
                apply_word(&mut frame.state, word);
            }
        }
    }
    let state = frames.last().map_or(State::Start, |f| f.state.clone());
    classify(&state, "", cursor, cursor)
}

/// Offset of the first `quote` character in the word starting at `start`.
fn sc_quote_start(text: &str, start: usize, quote: char) -> usize {
    text.get(start..)
        .and_then(|w| w.find(quote))
        .map_or(start, |i| start + i)
}

/// Context for a cursor inside a quoted string that starts within a word.
fn in_word_string(
    state: &State,
    text: &str,
    start: usize,
    quote_at: usize,
    cursor: usize,
    quote: char,
) -> CompletionContext {
    let prefix = text.get(start..quote_at).unwrap_or("");
    let content = text.get(quote_at + quote.len_utf8()..).unwrap_or("");
    let kind = match state {
        State::Command(cmd) => match split_parameter(prefix) {
            Some((name, Some(""))) if !name.is_empty() => CompletionKind::Value {
                command: cmd.name.clone(),
                parameter: Some(name.to_string()),
            },
            _ => CompletionKind::Value {
                command: cmd.name.clone(),
                parameter: cmd.value_param(),
            },
        },
        _ => CompletionKind::Nothing,
    };
    CompletionContext {
        kind,
        partial: content.to_string(),
        span: Span::new(quote_at, cursor),
        quote: Some(quote),
    }
}

fn opens_block(c: char, next: Option<char>) -> bool {
    match c {
        '(' | '{' => true,
        '@' => matches!(next, Some('(' | '{')),
        '$' => next == Some('('),
        _ => false,
    }
}

/// Skips a quoted string whose opening quote was consumed; false if it is unterminated.
fn skip_string(sc: &mut Scanner<'_>, open: char) -> bool {
    let double = is_double_quote(open);
    while let Some(c) = sc.bump() {
        if double && c == '`' {
            sc.bump();
            continue;
        }
        let closes = if double {
            is_double_quote(c)
        } else {
            is_quote(c) && !is_double_quote(c)
        };
        if closes {
            match sc.peek() {
                // doubled quote: an escaped quote, the string goes on
                Some(n)
                    if (double && is_double_quote(n))
                        || (!double && is_quote(n) && !is_double_quote(n)) =>
                {
                    sc.bump();
                }
                _ => return true,
            }
        }
    }
    false
}

/// Splits a parameter token `-Name` / `-Name:value` into name and colon value.
fn split_parameter(word: &str) -> Option<(&str, Option<&str>)> {
    let mut chars = word.chars();
    let dash = chars.next().filter(|c| is_dash(*c))?;
    let rest = word.get(dash.len_utf8()..)?;
    if !rest.is_empty() && !rest.chars().next().is_some_and(is_ident_start) {
        return None;
    }
    let name_len = rest.find(|c: char| !is_ident_char(c)).unwrap_or(rest.len());
    let name = rest.get(..name_len)?;
    let after = rest.get(name_len..)?;
    match after.strip_prefix(':') {
        Some(value) => Some((name, Some(value))),
        None if after.is_empty() => Some((name, None)),
        None => None,
    }
}

fn apply_word(state: &mut State, word: &str) {
    match state {
        State::Start => {
            let first = word.chars().next();
            *state = if first.is_some_and(|c| c == '$' || c.is_ascii_digit() || is_dash(c)) {
                State::Expression
            } else {
                State::Command(CommandState {
                    name: word.to_string(),
                    ..CommandState::default()
                })
            };
        }
        State::Command(cmd) => match split_parameter(word) {
            Some((name, colon)) if !name.is_empty() => cmd.parameter(name, colon),
            _ => cmd.start_value(),
        },
        // `foreach ($c in Get-...`: a command may follow `in`.
        State::Expression if word.eq_ignore_ascii_case("in") => *state = State::Start,
        State::Expression | State::Hashtable => {}
    }
}

fn classify(state: &State, word: &str, start: usize, cursor: usize) -> CompletionContext {
    let span = Span::new(start, cursor);
    let make = |kind, partial: &str, span| CompletionContext {
        kind,
        partial: partial.to_string(),
        span,
        quote: None,
    };
    if let Some(name) = word.strip_prefix('$') {
        if name.chars().all(|c| is_ident_char(c) || c == ':') {
            return make(CompletionKind::Variable, name, span);
        }
        return make(CompletionKind::Nothing, "", Span::new(cursor, cursor));
    }
    match state {
        State::Start => make(CompletionKind::CommandName, word, span),
        State::Command(cmd) => {
            let command = cmd.name.clone();
            match split_parameter(word) {
                Some((name, None)) => make(CompletionKind::ParameterName { command }, name, span),
                Some((name, Some(value))) => {
                    let value_start = cursor.saturating_sub(value.len());
                    let parameter = Some(name.to_string());
                    let kind = CompletionKind::Value { command, parameter };
                    if let Some(q) = value.chars().next().filter(|c| is_quote(*c)) {
                        let inner = value.get(q.len_utf8()..).unwrap_or("");
                        let mut ctx = make(kind, inner, Span::new(value_start, cursor));
                        ctx.quote = Some(q);
                        return ctx;
                    }
                    if let Some(var) = value.strip_prefix('$') {
                        return make(
                            CompletionKind::Variable,
                            var,
                            Span::new(value_start, cursor),
                        );
                    }
                    make(kind, value, Span::new(value_start, cursor))
                }
                None => {
                    let parameter = cmd.value_param();
                    make(CompletionKind::Value { command, parameter }, word, span)
                }
            }
        }
        State::Expression | State::Hashtable => {
            make(CompletionKind::Nothing, "", Span::new(cursor, cursor))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_end(src: &str) -> CompletionContext {
        complete_context(src, src.len())
    }

    fn value(command: &str, parameter: Option<&str>) -> CompletionKind {
        CompletionKind::Value {
            command: command.into(),
            parameter: parameter.map(Into::into),
        }
    }

    #[test]
    fn command_names() {
        let ctx = at_end("Get-Ex");
        assert_eq!(ctx.kind, CompletionKind::CommandName);
        assert_eq!(
            (ctx.partial.as_str(), ctx.span),
            ("Get-Ex", Span::new(0, 6))
        );
        assert_eq!(at_end("").kind, CompletionKind::CommandName);
        assert_eq!(at_end("   ").kind, CompletionKind::CommandName);
        let src = "Get-ExchangeCertificate | Ena";
        let ctx = at_end(src);
        assert_eq!(ctx.kind, CompletionKind::CommandName);
        assert_eq!((ctx.partial.as_str(), ctx.span.text(src)), ("Ena", "Ena"));
        assert_eq!(at_end("Get-A; Se").kind, CompletionKind::CommandName);
        assert_eq!(at_end("Get-A\nSe").kind, CompletionKind::CommandName);
        assert_eq!(at_end("$cert = New-Ex").kind, CompletionKind::CommandName);
        assert_eq!(
            at_end("Get-A | Where-Object { Get-").kind,
            CompletionKind::CommandName
        );
        assert_eq!(
            at_end("Get-A -Thumbprint (Get-").kind,
            CompletionKind::CommandName
        );
        assert_eq!(at_end("Get-A |\n  For").kind, CompletionKind::CommandName);
    }

    #[test]
    fn parameter_names() {
        let src = "Set-SendConnector Outbound -DomainSec";
        let ctx = at_end(src);
        assert_eq!(
            ctx.kind,
            CompletionKind::ParameterName {
                command: "Set-SendConnector".into()
            }
        );
        assert_eq!(ctx.partial, "DomainSec");
        assert_eq!(ctx.span.text(src), "-DomainSec");
        let ctx = at_end("Get-X | Enable-ExchangeCertificate -");
        assert_eq!(
            ctx.kind,
            CompletionKind::ParameterName {
                command: "Enable-ExchangeCertificate".into()
            }
        );
        assert_eq!(ctx.partial, "");
        // typographic dash
        let ctx = at_end("Get-X \u{2013}Th");
        assert_eq!(ctx.partial, "Th");
        // cursor in the middle of the line: only the text before it counts
        let src = "Set-X -Dom -Other";
        let ctx = complete_context(src, 10);
        assert_eq!((ctx.partial.as_str(), ctx.span), ("Dom", Span::new(6, 10)));
    }

    #[test]
    fn parameter_values() {
        let ctx = at_end("Enable-ExchangeCertificate -Services SM");
        assert_eq!(
            ctx.kind,
            value("Enable-ExchangeCertificate", Some("Services"))
        );
        assert_eq!(ctx.partial, "SM");
        let ctx = at_end("Enable-ExchangeCertificate -Services ");
        assert_eq!(
            ctx.kind,
            value("Enable-ExchangeCertificate", Some("Services"))
        );
        assert_eq!(ctx.partial, "");
        // list continuation
        let src = "Enable-X -Services SMTP,IM";
        let ctx = at_end(src);
        assert_eq!(ctx.kind, value("Enable-X", Some("Services")));
        assert_eq!((ctx.partial.as_str(), ctx.span.text(src)), ("IM", "IM"));
        assert_eq!(
            at_end("Enable-X -Services SMTP, ").kind,
            value("Enable-X", Some("Services"))
        );
        // after the value: positional
        assert_eq!(
            at_end("Enable-X -Services SMTP ").kind,
            value("Enable-X", None)
        );
        assert_eq!(
            at_end("Set-SendConnector Out").kind,
            value("Set-SendConnector", None)
        );
        // colon values
        let src = "Set-SendConnector X -DomainSecureEnabled:$Tr";
        let ctx = at_end(src);
        assert_eq!(ctx.kind, CompletionKind::Variable);
        assert_eq!((ctx.partial.as_str(), ctx.span.text(src)), ("Tr", "$Tr"));
        let src = "Set-X -AuthMechanism:Tl";
        let ctx = at_end(src);
        assert_eq!(ctx.kind, value("Set-X", Some("AuthMechanism")));
        assert_eq!((ctx.partial.as_str(), ctx.span.text(src)), ("Tl", "Tl"));
        let ctx = at_end("Set-X -Services:SMTP,IM");
        assert_eq!(ctx.kind, value("Set-X", Some("Services")));
        assert_eq!(ctx.partial, "IM");
        // a value in a sub-expression does not leak the parameter
        assert_eq!(
            at_end("Set-X -Identity (Get-Y).Name ").kind,
            value("Set-X", None)
        );
    }

    #[test]
    fn quoted_values() {
        let src = "Set-X -Identity \"Out bo";
        let ctx = at_end(src);
        assert_eq!(ctx.kind, value("Set-X", Some("Identity")));
        assert_eq!(ctx.partial, "Out bo");
        assert_eq!(ctx.quote, Some('"'));
        assert_eq!(ctx.span.text(src), "\"Out bo");
        let ctx = at_end("Set-X -Identity:'it''s ");
        assert_eq!(ctx.kind, value("Set-X", Some("Identity")));
        assert_eq!(ctx.quote, Some('\''));
        // a closed string is a finished value
        assert_eq!(at_end("Set-X -Identity 'a' ").kind, value("Set-X", None));
    }

    #[test]
    fn variables_and_nothing() {
        let ctx = at_end("$ce");
        assert_eq!(
            (ctx.kind, ctx.partial.as_str()),
            (CompletionKind::Variable, "ce")
        );
        let ctx = at_end("Get-X | Where-Object { $_.Status -eq $v");
        assert_eq!(
            (ctx.kind, ctx.partial.as_str()),
            (CompletionKind::Variable, "v")
        );
        assert_eq!(
            at_end("Get-X # a comment -Fo").kind,
            CompletionKind::Nothing
        );
        assert_eq!(at_end("$x -e").kind, CompletionKind::Nothing);
        assert_eq!(at_end("$x -eq \"Va").kind, CompletionKind::Nothing);
        assert_eq!(at_end("Set-X @{Add=\"c").kind, CompletionKind::Nothing);
        assert_eq!(at_end("Set-X <# x").kind, CompletionKind::Nothing);
        // after a comment line, a new statement
        assert_eq!(at_end("# c\nGet").kind, CompletionKind::CommandName);
    }

    #[test]
    fn cursor_is_clamped_and_rounded() {
        let src = "Get-é";
        let ctx = complete_context(src, 5); // inside 'é'
        assert_eq!(ctx.partial, "Get-");
        let ctx = complete_context(src, 99);
        assert_eq!(ctx.partial, "Get-é");
    }
}
