//! Recursive-descent parser working directly on the source characters.
//!
//! The shell language is modal (PowerShell's command mode vs expression mode), so there is no
//! separate token stream: each parse function scans the characters it expects. Recursion is
//! bounded by [`MAX_DEPTH`]; positions only ever advance by whole characters, and every slice
//! uses `str::get`, so no input can make the parser panic.

use super::ast::{
    Arg, AssignOp, Assignment, BinaryOp, Catch, Command, CommandName, CompareOp, Expr, ExprKind,
    FunctionDef, FunctionParam, HashEntry, Number, Pipeline, PipelineElement, RedirectTarget,
    Redirection, Script, Statement, StatementKind, Stream, StringPart, StringStyle, SwitchClause,
    SwitchMode, TypeName, UnaryOp,
};
use super::chars::{
    ends_word, escape_char, is_dash, is_double_quote, is_hspace, is_ident_char, is_ident_start,
    is_quote, is_single_quote, parse_number,
};
use super::error::{ParseError, show};
use super::span::Span;

/// Maximum nesting depth: parentheses, blocks, subexpressions, hashtables, unary operators,
/// and also each binary operator and each `.member`/`[index]` in a chain (they nest in the
/// tree, and the evaluator will recurse over it).
pub const MAX_DEPTH: usize = 64;

/// Statements PowerShell has but xshell does not (they are reported as unsupported instead
/// of being taken for command names).
const UNSUPPORTED_KEYWORDS: &[&str] = &[
    "filter",
    "workflow",
    "configuration",
    "trap",
    "class",
    "enum",
    "using",
    "data",
];

/// Keywords that only continue a statement (`else` after `if`, ...).
const CONTINUATION_KEYWORDS: &[&str] = &["elseif", "else", "until", "catch", "finally"];

/// PowerShell operators that xshell does not implement (reported as such, not as unknown).
const UNSUPPORTED_OPERATORS: &[&str] = &["band", "bor", "bxor", "bnot", "shl", "shr"];

const BINARY_LEVELS: u8 = 6;

type PResult<T> = Result<T, ParseError>;

pub(crate) struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
}

/// A command-mode word: literal text and expansions.
struct Word {
    parts: Vec<StringPart>,
    /// No quotes, escapes or expansions: the text is exactly the source.
    plain: bool,
    span: Span,
}

impl Word {
    fn literal(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                StringPart::Literal(s) => out.push_str(s),
                StringPart::Expr(_) => return None,
            }
        }
        Some(out)
    }
}

fn push_literal(parts: &mut Vec<StringPart>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(StringPart::Literal(last)) = parts.last_mut() {
        last.push_str(text);
    } else {
        parts.push(StringPart::Literal(text.to_string()));
    }
}

fn string_expr(parts: Vec<StringPart>, style: StringStyle, span: Span) -> Expr {
    let all_literal = parts.iter().all(|p| matches!(p, StringPart::Literal(_)));
    let kind = if all_literal {
        let mut value = String::new();
        for part in parts {
            if let StringPart::Literal(s) = part {
                value.push_str(&s);
            }
        }
        ExprKind::String { value, style }
    } else {
        ExprKind::Expandable { parts, style }
    };
    Expr { kind, span }
}

fn binary_level(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => 0,
        BinaryOp::Compare { .. }
        | BinaryOp::Replace { .. }
        | BinaryOp::Split { .. }
        | BinaryOp::Join
        | BinaryOp::Is
        | BinaryOp::IsNot
        | BinaryOp::As => 1,
        BinaryOp::Add | BinaryOp::Subtract => 2,
        BinaryOp::Multiply | BinaryOp::Divide | BinaryOp::Remainder => 3,
        BinaryOp::Format => 4,
        BinaryOp::Range => 5,
    }
}

fn lookup_operator(name: &str) -> Option<BinaryOp> {
    match name {
        "and" => return Some(BinaryOp::And),
        "or" => return Some(BinaryOp::Or),
        "xor" => return Some(BinaryOp::Xor),
        "replace" | "ireplace" => {
            return Some(BinaryOp::Replace {
                case_sensitive: false,
            });
        }
        "creplace" => {
            return Some(BinaryOp::Replace {
                case_sensitive: true,
            });
        }
        "split" | "isplit" => {
            return Some(BinaryOp::Split {
                case_sensitive: false,
            });
        }
        "csplit" => {
            return Some(BinaryOp::Split {
                case_sensitive: true,
            });
        }
        "join" => return Some(BinaryOp::Join),
        "f" => return Some(BinaryOp::Format),
        "is" => return Some(BinaryOp::Is),
        "isnot" => return Some(BinaryOp::IsNot),
        "as" => return Some(BinaryOp::As),
        _ => {}
    }
    if let Some(op) = CompareOp::from_name(name) {
        return Some(BinaryOp::Compare {
            op,
            case_sensitive: false,
        });
    }
    if let Some(op) = name.strip_prefix('c').and_then(CompareOp::from_name) {
        return Some(BinaryOp::Compare {
            op,
            case_sensitive: true,
        });
    }
    if let Some(op) = name.strip_prefix('i').and_then(CompareOp::from_name) {
        return Some(BinaryOp::Compare {
            op,
            case_sensitive: false,
        });
    }
    None
}

/// Length in bytes of the identifier at the start of `s` (0 unless it starts with a letter
/// or `_`).
fn ident_len(s: &str) -> usize {
    if !s.chars().next().is_some_and(is_ident_start) {
        return 0;
    }
    s.find(|c: char| !is_ident_char(c)).unwrap_or(s.len())
}

fn is_assignable(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Variable { .. }
        | ExprKind::Member { .. }
        | ExprKind::Index { .. }
        | ExprKind::Null => true,
        // `[int]$x = 5`
        ExprKind::Cast { operand, .. } => matches!(operand.kind, ExprKind::Variable { .. }),
        _ => false,
    }
}

/// A pipeline of one expression (for `$x++`, which is `$x += 1`).
fn expr_pipeline(e: Expr) -> Pipeline {
    Pipeline {
        span: e.span,
        elements: vec![PipelineElement::Expression(e)],
        redirections: Vec::new(),
    }
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Self {
            src,
            pos: 0,
            depth: 0,
        }
    }

    // ----- character access -------------------------------------------------------------

    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_nth(&self, n: usize) -> Option<char> {
        self.rest().chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn at_eof(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn span_from(&self, start: usize) -> Span {
        Span::new(start, self.pos)
    }

    /// Span of the single character at the current position (empty at end of input).
    fn char_span(&self) -> Span {
        Span::new(self.pos, self.pos + self.peek().map_or(0, char::len_utf8))
    }

    /// Text of the token at the current position, for messages.
    fn token_here(&self) -> (String, Span) {
        let start = self.pos;
        let mut end = start;
        for (i, c) in self.rest().char_indices() {
            if i == 0 && (ends_word(c) || is_quote(c)) {
                end = start + c.len_utf8();
                break;
            }
            if ends_word(c) || is_quote(c) {
                break;
            }
            end = start + i + c.len_utf8();
        }
        let span = Span::new(start, end);
        (span.text(self.src).to_string(), span)
    }

    /// "unexpected 'x'" for the token at the current position.
    fn unexpected_here(&self) -> ParseError {
        if self.at_eof() {
            return ParseError::incomplete("unexpected end of input", self.char_span());
        }
        let (text, span) = self.token_here();
        ParseError::new(format!("unexpected '{}'", show(&text)), span)
    }

    /// "missing value after 'x'": incomplete at end of input.
    fn missing_after(&self, what: &str, at: Span) -> ParseError {
        let msg = format!("missing value after '{}'", show(what));
        if self.at_eof() {
            ParseError::incomplete(msg, at)
        } else {
            ParseError::new(msg, at)
        }
    }

    fn nested<T>(&mut self, at: Span, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        self.enter(at)?;
        let result = f(self);
        self.depth = self.depth.saturating_sub(1);
        result
    }

    fn enter(&mut self, at: Span) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::new(
                format!("nesting is too deep (more than {MAX_DEPTH} levels)"),
                at,
            ));
        }
        Ok(())
    }

    // ----- whitespace ---------------------------------------------------------------------

    /// If a backtick at the current position continues the line (backtick, optional spaces,
    /// newline), returns the offset after the newline. `Some(None)` means: continuation at
    /// end of input.
    fn line_continuation(&self) -> Option<Option<usize>> {
        let rest = self.rest();
        let after = rest.strip_prefix('`')?;
        let trimmed = after.trim_start_matches(is_hspace);
        if trimmed.is_empty() {
            return Some(None);
        }
        let after_newline = trimmed.strip_prefix('\n')?;
        Some(Some(self.src.len() - after_newline.len()))
    }

    /// Skips spaces, tabs, comments and line continuations (not newlines).
    fn skip_hspace(&mut self) -> PResult<()> {
        loop {
            match self.peek() {
                Some(c) if is_hspace(c) => {
                    self.bump();
                }
                Some('`') => match self.line_continuation() {
                    Some(Some(next)) => {
                        let at = self.char_span();
                        self.pos = next;
                        if self.rest().trim_start_matches(is_hspace).is_empty() {
                            return Err(ParseError::incomplete(
                                "line continuation '`' at end of input",
                                at,
                            ));
                        }
                    }
                    Some(None) => {
                        return Err(ParseError::incomplete(
                            "line continuation '`' at end of input",
                            self.char_span(),
                        ));
                    }
                    None => return Ok(()),
                },
                Some('#') => {
                    let len = self.rest().find('\n').unwrap_or(self.rest().len());
                    self.pos += len;
                }
                Some('<') if self.peek_nth(1) == Some('#') => {
                    let start = self.pos;
                    match self.rest().get(2..).and_then(|r| r.find("#>")) {
                        Some(i) => self.pos += 2 + i + 2,
                        None => {
                            return Err(ParseError::incomplete(
                                "missing closing '#>' of block comment",
                                Span::new(start, start + 2),
                            ));
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// Skips whitespace, comments and newlines.
    fn skip_ws_nl(&mut self) -> PResult<()> {
        loop {
            self.skip_hspace()?;
            if self.peek() == Some('\n') {
                self.bump();
            } else {
                return Ok(());
            }
        }
    }

    /// At the end of an expression operand position: nothing (more) can start here.
    fn at_expr_end(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) => matches!(c, '\n' | ';' | '|' | ')' | '}' | ']' | ','),
        }
    }

    /// At a character that ends a command's argument list or an argument.
    fn at_arg_end(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) => matches!(c, '\n' | ';' | '|' | ')' | '}' | ',' | '&' | '<' | '>'),
        }
    }

    // ----- statements ---------------------------------------------------------------------

    pub(crate) fn parse_script(mut self) -> PResult<Script> {
        let statements = self.parse_statement_list(None)?;
        Ok(Script {
            statements,
            span: Span::new(0, self.src.len()),
        })
    }

    /// Statements up to end of input (`closer == None`) or up to (not including) `closer`.
    /// At end of input with a `closer`, returns normally: the caller reports the missing
    /// closer at its opening character.
    fn parse_statement_list(&mut self, closer: Option<char>) -> PResult<Vec<Statement>> {
        let mut statements = Vec::new();
        loop {
            loop {
                self.skip_hspace()?;
                match self.peek() {
                    Some('\n' | ';') => {
                        self.bump();
                    }
                    _ => break,
                }
            }
            let Some(c) = self.peek() else { break };
            if Some(c) == closer {
                break;
            }
            if matches!(c, ')' | '}') {
                return Err(ParseError::new(
                    format!("unexpected '{c}'"),
                    self.char_span(),
                ));
            }
            statements.push(self.parse_statement()?);
            self.skip_hspace()?;
            match self.peek() {
                None | Some('\n' | ';') => {}
                Some(c) if Some(c) == closer => {}
                Some(_) => return Err(self.unexpected_here()),
            }
        }
        Ok(statements)
    }

    fn parse_statement(&mut self) -> PResult<Statement> {
        self.skip_hspace()?;
        let start = self.pos;
        self.skip_attributes()?;
        if let Some(st) = self.parse_keyword_statement()? {
            return Ok(st);
        }
        if self.starts_command() {
            let pipeline = self.parse_pipeline()?;
            return Ok(Statement {
                span: pipeline.span,
                kind: StatementKind::Pipeline(pipeline),
            });
        }
        let expr = self.parse_expr(true)?;
        self.skip_hspace()?;
        let assign = match self.compound_assignment() {
            Some(op) => Some((op, 2)),
            None if self.peek() == Some('=') && self.peek_nth(1) != Some('=') => {
                Some((AssignOp::Assign, 1))
            }
            None => None,
        };
        if let Some((op, len)) = assign {
            let op_span = Span::new(self.pos, self.pos + len);
            if !is_assignable(&expr) {
                return Err(ParseError::new(
                    format!(
                        "cannot assign to this expression: the left side of '{}' must be a variable",
                        op_span.text(self.src)
                    ),
                    expr.span,
                ));
            }
            self.pos += len;
            self.skip_ws_nl()?;
            if self.at_expr_end() {
                return Err(self.missing_after(op_span.text(self.src), op_span));
            }
            let value = self.parse_assignment_value()?;
            let span = Span::new(start, value.span.end);
            return Ok(Statement {
                kind: StatementKind::Assignment(Assignment {
                    target: expr,
                    op,
                    op_span,
                    value,
                }),
                span,
            });
        }
        // `$x++` / `++$x` as a statement: `$x += 1`, with no output.
        if let ExprKind::IncDec {
            variable,
            delta,
            prefix,
        } = &expr.kind
        {
            // The operator's span; the value is empty, at the end.
            let op_span = if *prefix {
                Span::new(expr.span.start, variable.span.start)
            } else {
                Span::new(variable.span.end, expr.span.end)
            };
            let one = Expr {
                kind: ExprKind::Number(Number::Int(*delta)),
                span: Span::new(expr.span.end, expr.span.end),
            };
            return Ok(Statement {
                kind: StatementKind::Assignment(Assignment {
                    target: (**variable).clone(),
                    op: AssignOp::Add,
                    op_span,
                    value: expr_pipeline(one),
                }),
                span: expr.span,
            });
        }
        let pipeline = self.parse_pipeline_rest(start, PipelineElement::Expression(expr))?;
        Ok(Statement {
            span: pipeline.span,
            kind: StatementKind::Pipeline(pipeline),
        })
    }

    /// `[CmdletBinding()]` and other attributes before a script's `param(...)`:
    /// accepted and ignored. Anything else in brackets is left for the expression parser.
    fn skip_attributes(&mut self) -> PResult<()> {
        let start = self.pos;
        let mut any = false;
        while self.peek() == Some('[') {
            let save = self.pos;
            let (text, _) = match self.bracket_text() {
                Ok(t) => t,
                Err(_) => {
                    self.pos = save;
                    break;
                }
            };
            let name_end = text.find('(').unwrap_or(0);
            let is_attribute = name_end > 0
                && text.ends_with(')')
                && text
                    .get(..name_end)
                    .is_some_and(|n| n.chars().all(|c| c.is_alphanumeric() || c == '.'));
            if !is_attribute {
                self.pos = save;
                break;
            }
            any = true;
            self.skip_ws_nl()?;
        }
        if any && !matches!(self.keyword_here(), Some((k, _)) if k == "param") {
            return Err(ParseError::new(
                "an attribute like [CmdletBinding()] must be followed by param(...)",
                Span::new(start, start + 1),
            ));
        }
        Ok(())
    }

    /// The right side of `=`: a pipeline, or a statement whose output is the value
    /// (`$x = if (...) { 1 } else { 2 }`, `$names = foreach (...) { ... }`).
    // Kept out of line: the recursive descent's frames stay small.
    #[inline(never)]
    fn parse_assignment_value(&mut self) -> PResult<Pipeline> {
        let start = self.pos;
        if let Some((kw, _)) = self.keyword_here()
            && matches!(
                kw.as_str(),
                "if" | "foreach" | "for" | "while" | "do" | "try"
            )
            && let Some(st) = self.parse_keyword_statement()?
        {
            let span = self.span_from(start);
            return Ok(expr_pipeline(Expr {
                kind: ExprKind::Subexpression(Script {
                    statements: vec![st],
                    span,
                }),
                span,
            }));
        }
        self.parse_pipeline()
    }

    fn compound_assignment(&self) -> Option<AssignOp> {
        let op = match self.peek()? {
            '+' => AssignOp::Add,
            '-' => AssignOp::Subtract,
            '*' => AssignOp::Multiply,
            '/' => AssignOp::Divide,
            '%' => AssignOp::Remainder,
            _ => return None,
        };
        (self.peek_nth(1) == Some('=')).then_some(op)
    }

    // ----- keyword statements -------------------------------------------------------------

    /// The keyword at the current position (lowercase) and its length, if a word that
    /// is a keyword stands here, ended by whitespace, `(`, `{`, `;`, a quote or `$`.
    fn keyword_here(&self) -> Option<(String, usize)> {
        let rest = self.rest();
        let len = ident_len(rest);
        if len == 0 {
            return None;
        }
        let word = rest.get(..len)?.to_ascii_lowercase();
        let next = rest.get(len..).and_then(|r| r.chars().next());
        let boundary = next.is_none_or(|c| {
            c.is_whitespace() || matches!(c, '(' | '{' | ';' | '}' | ')' | '$') || is_quote(c)
        });
        let known = matches!(
            word.as_str(),
            "if" | "foreach"
                | "for"
                | "while"
                | "do"
                | "try"
                | "throw"
                | "break"
                | "continue"
                | "return"
                | "exit"
                | "function"
                | "param"
                | "switch"
        ) || CONTINUATION_KEYWORDS.contains(&word.as_str())
            || UNSUPPORTED_KEYWORDS.contains(&word.as_str());
        (boundary && known).then_some((word, len))
    }

    /// A statement introduced by a keyword, or None if none starts here.
    // Kept out of line: the recursive descent's frames stay small.
    #[inline(never)]
    fn parse_keyword_statement(&mut self) -> PResult<Option<Statement>> {
        let Some((kw, len)) = self.keyword_here() else {
            return Ok(None);
        };
        let start = self.pos;
        let kw_span = Span::new(start, start + len);
        if CONTINUATION_KEYWORDS.contains(&kw.as_str()) {
            let after = match kw.as_str() {
                "until" => "do { }",
                "catch" | "finally" => "try { }",
                _ => "if (...) { }",
            };
            return Err(ParseError::new(
                format!("'{kw}' must follow {after}"),
                kw_span,
            ));
        }
        if UNSUPPORTED_KEYWORDS.contains(&kw.as_str()) {
            return Err(ParseError::new(
                format!("'{}' is not supported by xshell", show(&kw)),
                kw_span,
            ));
        }
        self.pos += len;
        let kind = self.nested(kw_span, |p| p.parse_keyword_body(&kw, kw_span))?;
        Ok(Some(Statement {
            kind,
            span: self.span_from(start),
        }))
    }

    // Kept out of line: the recursive descent's frames stay small.
    #[inline(never)]
    fn parse_keyword_body(&mut self, kw: &str, kw_span: Span) -> PResult<StatementKind> {
        Ok(match kw {
            "if" => {
                let mut clauses = vec![(self.parse_condition("if")?, self.parse_block("if")?)];
                let mut else_body = None;
                loop {
                    let save = self.pos;
                    self.skip_ws_nl()?;
                    match self.keyword_here() {
                        Some((k, l)) if k == "elseif" => {
                            self.pos += l;
                            clauses.push((
                                self.parse_condition("elseif")?,
                                self.parse_block("elseif")?,
                            ));
                        }
                        Some((k, l)) if k == "else" => {
                            self.pos += l;
                            else_body = Some(self.parse_block("else")?);
                            break;
                        }
                        _ => {
                            self.pos = save;
                            break;
                        }
                    }
                }
                StatementKind::If { clauses, else_body }
            }
            "foreach" => {
                self.skip_hspace()?;
                let open = self.expect_char('(', "foreach")?;
                self.skip_ws_nl()?;
                if self.peek() != Some('$') {
                    return Err(ParseError::new(
                        "foreach needs a variable: foreach ($item in $list) { ... }",
                        self.char_span(),
                    ));
                }
                let var = self.parse_dollar()?;
                let ExprKind::Variable { name } = var.kind else {
                    return Err(ParseError::new(
                        "the loop variable cannot be $true, $false or $null",
                        var.span,
                    ));
                };
                self.skip_ws_nl()?;
                match self.keyword_in() {
                    Some(l) => self.pos += l,
                    None if self.at_eof() => {
                        return Err(ParseError::incomplete("missing 'in' in foreach", open));
                    }
                    None => {
                        return Err(ParseError::new(
                            "missing 'in' in foreach: foreach ($item in $list) { ... }",
                            self.char_span(),
                        ));
                    }
                }
                self.skip_ws_nl()?;
                let collection = self.parse_pipeline()?;
                self.skip_ws_nl()?;
                self.expect_closing(')', open)?;
                StatementKind::Foreach {
                    variable: name,
                    variable_span: var.span,
                    collection,
                    body: self.parse_block("foreach")?,
                }
            }
            "for" => {
                self.skip_hspace()?;
                let open = self.expect_char('(', "for")?;
                self.skip_ws_nl()?;
                let init = if self.peek() == Some(';') {
                    None
                } else {
                    Some(Box::new(self.parse_statement()?))
                };
                self.skip_ws_nl()?;
                self.expect_closing(';', open)?;
                self.skip_ws_nl()?;
                let condition = if self.peek() == Some(';') {
                    None
                } else {
                    Some(self.parse_pipeline()?)
                };
                self.skip_ws_nl()?;
                self.expect_closing(';', open)?;
                self.skip_ws_nl()?;
                let step = if self.peek() == Some(')') {
                    None
                } else {
                    Some(Box::new(self.parse_statement()?))
                };
                self.skip_ws_nl()?;
                self.expect_closing(')', open)?;
                StatementKind::For {
                    init,
                    condition,
                    step,
                    body: self.parse_block("for")?,
                }
            }
            "while" => StatementKind::While {
                condition: self.parse_condition("while")?,
                body: self.parse_block("while")?,
            },
            "do" => {
                let body = self.parse_block("do")?;
                self.skip_ws_nl()?;
                let until = match self.keyword_here() {
                    Some((k, l)) if k == "while" || k == "until" => {
                        self.pos += l;
                        k == "until"
                    }
                    _ if self.at_eof() => {
                        return Err(ParseError::incomplete(
                            "missing 'while (...)' or 'until (...)' after do { }",
                            kw_span,
                        ));
                    }
                    _ => {
                        return Err(ParseError::new(
                            "missing 'while (...)' or 'until (...)' after do { }",
                            self.char_span(),
                        ));
                    }
                };
                StatementKind::DoLoop {
                    body,
                    condition: self.parse_condition(if until { "until" } else { "while" })?,
                    until,
                }
            }
            "try" => {
                let body = self.parse_block("try")?;
                let mut catches = Vec::new();
                let mut finally = None;
                loop {
                    let save = self.pos;
                    self.skip_ws_nl()?;
                    match self.keyword_here() {
                        Some((k, l)) if k == "catch" && finally.is_none() => {
                            self.pos += l;
                            let mut types = Vec::new();
                            loop {
                                self.skip_hspace()?;
                                if self.peek() != Some('[') {
                                    break;
                                }
                                let (name, span) = self.bracket_text()?;
                                types.push((name, span));
                                self.skip_hspace()?;
                                if self.peek() == Some(',') {
                                    self.bump();
                                    self.skip_ws_nl()?;
                                } else {
                                    break;
                                }
                            }
                            catches.push(Catch {
                                types,
                                body: self.parse_block("catch")?,
                            });
                        }
                        Some((k, l)) if k == "finally" && finally.is_none() => {
                            self.pos += l;
                            finally = Some(self.parse_block("finally")?);
                        }
                        _ => {
                            self.pos = save;
                            break;
                        }
                    }
                }
                if catches.is_empty() && finally.is_none() {
                    let msg = "try { } needs a catch { } or finally { } block";
                    return Err(if self.at_eof() {
                        ParseError::incomplete(msg, kw_span)
                    } else {
                        ParseError::new(msg, kw_span)
                    });
                }
                StatementKind::Try {
                    body,
                    catches,
                    finally,
                }
            }
            "throw" => StatementKind::Throw(self.parse_optional_value()?),
            "return" => StatementKind::Return(self.parse_optional_value()?),
            "exit" => StatementKind::Exit(self.parse_optional_value()?),
            "break" => StatementKind::Break,
            "continue" => StatementKind::Continue,
            "function" => StatementKind::Function(self.parse_function(kw_span)?),
            "switch" => self.parse_switch()?,
            "param" => {
                self.skip_ws_nl()?;
                self.expect_char('(', "param")?;
                self.pos -= 1;
                StatementKind::Param(self.parse_param_list()?)
            }
            _ => return Err(ParseError::new("unexpected keyword", kw_span)),
        })
    }

    /// The rest of `switch [-Options] (value) { clauses }`.
    // Kept out of line: the recursive descent's frames stay small.
    #[inline(never)]
    fn parse_switch(&mut self) -> PResult<StatementKind> {
        let mut mode = SwitchMode::Exact;
        let mut case_sensitive = false;
        loop {
            self.skip_hspace()?;
            match self.peek() {
                Some(c) if is_dash(c) => {
                    let start = self.pos;
                    self.bump();
                    let len = ident_len(self.rest());
                    self.pos += len;
                    let span = self.span_from(start);
                    let option = span
                        .text(self.src)
                        .get(1..)
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    match option.as_str() {
                        "wildcard" => mode = SwitchMode::Wildcard,
                        "regex" => mode = SwitchMode::Regex,
                        "exact" => mode = SwitchMode::Exact,
                        "casesensitive" => case_sensitive = true,
                        _ => {
                            return Err(ParseError::new(
                                format!(
                                    "switch option '{}' is not supported (options: -Wildcard, -Regex, -Exact, -CaseSensitive)",
                                    show(span.text(self.src))
                                ),
                                span,
                            ));
                        }
                    }
                }
                _ => break,
            }
        }
        let subject = self.parse_condition("switch")?;
        self.skip_ws_nl()?;
        let open = self.expect_char('{', "switch (...)")?;
        let mut clauses = Vec::new();
        loop {
            loop {
                self.skip_ws_nl()?;
                if self.peek() == Some(';') {
                    self.bump();
                } else {
                    break;
                }
            }
            match self.peek() {
                None => return Err(ParseError::incomplete("missing closing '}'", open)),
                Some('}') => {
                    self.bump();
                    break;
                }
                _ => {}
            }
            let pattern = match self.keyword_default() {
                Some(len) => {
                    self.pos += len;
                    None
                }
                None if self.peek() == Some('{') => Some(self.parse_script_block()?),
                None => Some(self.parse_command_element()?),
            };
            let body = self.parse_block("a switch pattern")?;
            clauses.push(SwitchClause { pattern, body });
        }
        Ok(StatementKind::Switch {
            subject,
            mode,
            case_sensitive,
            clauses,
        })
    }

    /// `default` of a switch: its length if it stands here.
    fn keyword_default(&self) -> Option<usize> {
        let rest = self.rest();
        let word = rest.get(..7)?;
        let next = rest.get(7..).and_then(|r| r.chars().next());
        (word.eq_ignore_ascii_case("default") && next.is_none_or(|c| c.is_whitespace() || c == '{'))
            .then_some(7)
    }

    /// `in` of `foreach (... in ...)`: its length if it stands here.
    fn keyword_in(&self) -> Option<usize> {
        let rest = self.rest();
        let word = rest.get(..2)?;
        let next = rest.get(2..).and_then(|r| r.chars().next());
        (word.eq_ignore_ascii_case("in")
            && next.is_none_or(|c| c.is_whitespace() || matches!(c, '$' | '(' | '@')))
        .then_some(2)
    }

    /// Consumes `c` (after a keyword); its span. Incomplete at end of input.
    fn expect_char(&mut self, c: char, after: &str) -> PResult<Span> {
        if self.peek() == Some(c) {
            let span = self.char_span();
            self.bump();
            return Ok(span);
        }
        let msg = format!("missing '{c}' after '{after}'");
        if self.at_eof() {
            Err(ParseError::incomplete(msg, self.char_span()))
        } else {
            let (text, span) = self.token_here();
            Err(ParseError::new(
                format!("{msg}, found '{}'", show(&text)),
                span,
            ))
        }
    }

    /// Consumes the closing `c` of the construct opened at `open`.
    fn expect_closing(&mut self, c: char, open: Span) -> PResult<()> {
        match self.peek() {
            Some(x) if x == c => {
                self.bump();
                Ok(())
            }
            None => Err(ParseError::incomplete(format!("missing '{c}'"), open)),
            Some(_) => {
                let (text, span) = self.token_here();
                Err(ParseError::new(
                    format!("unexpected '{}': expected '{c}'", show(&text)),
                    span,
                ))
            }
        }
    }

    /// `( pipeline )` after if/elseif/while/until.
    fn parse_condition(&mut self, after: &str) -> PResult<Pipeline> {
        self.skip_hspace()?;
        let open = self.expect_char('(', after)?;
        self.skip_ws_nl()?;
        if self.peek() == Some(')') {
            return Err(ParseError::new(
                format!("missing condition inside '{after} ()'"),
                open,
            ));
        }
        if self.at_eof() {
            return Err(ParseError::incomplete("missing ')'", open));
        }
        let condition = self.parse_pipeline()?;
        if let Some(r) = condition.redirections.first() {
            return Err(ParseError::new(
                "'>' in a condition would write a file (as in PowerShell); to compare, use -gt",
                r.span,
            ));
        }
        self.skip_ws_nl()?;
        self.expect_closing(')', open)?;
        Ok(condition)
    }

    /// `{ statements }` after a keyword.
    fn parse_block(&mut self, after: &str) -> PResult<Script> {
        self.skip_ws_nl()?;
        let open = self.expect_char('{', after)?;
        self.nested(open, |p| {
            let inner_start = p.pos;
            let statements = p.parse_statement_list(Some('}'))?;
            let span = p.span_from(inner_start);
            if p.peek() != Some('}') {
                return Err(ParseError::incomplete("missing closing '}'", open));
            }
            p.bump();
            Ok(Script { statements, span })
        })
    }

    /// The value after throw/return/exit, if any on the same line.
    fn parse_optional_value(&mut self) -> PResult<Option<Pipeline>> {
        self.skip_hspace()?;
        match self.peek() {
            None | Some('\n' | ';' | '}' | ')') => Ok(None),
            Some(_) => Ok(Some(self.parse_pipeline()?)),
        }
    }

    /// The text between `[` and its matching `]` (nested brackets kept), and its span
    /// (the brackets included).
    fn bracket_text(&mut self) -> PResult<(String, Span)> {
        let start = self.pos;
        let open = self.char_span();
        self.bump();
        let mut depth = 1usize;
        let inner_start = self.pos;
        loop {
            match self.peek() {
                None => return Err(ParseError::incomplete("missing closing ']'", open)),
                Some('\n') => return Err(ParseError::new("missing closing ']'", open)),
                Some('[') => depth += 1,
                Some(']') => {
                    depth -= 1;
                    if depth == 0 {
                        let text = self
                            .src
                            .get(inner_start..self.pos)
                            .unwrap_or("")
                            .trim()
                            .to_string();
                        self.bump();
                        return Ok((text, self.span_from(start)));
                    }
                }
                _ => {}
            }
            self.bump();
        }
    }

    /// `function Name [(params)] { [param(...)] statements }` after the keyword.
    // Kept out of line: the recursive descent's frames stay small.
    #[inline(never)]
    fn parse_function(&mut self, kw_span: Span) -> PResult<FunctionDef> {
        self.skip_hspace()?;
        let name_start = self.pos;
        while self
            .peek()
            .is_some_and(|c| !ends_word(c) && !is_quote(c) && c != '$')
        {
            self.bump();
        }
        let name_span = self.span_from(name_start);
        let name = name_span.text(self.src).to_string();
        if name.is_empty() {
            let msg = "missing function name after 'function'";
            return Err(if self.at_eof() {
                ParseError::incomplete(msg, kw_span)
            } else {
                ParseError::new(msg, self.char_span())
            });
        }
        self.skip_hspace()?;
        let mut params = if self.peek() == Some('(') {
            self.parse_param_list()?
        } else {
            Vec::new()
        };
        self.skip_ws_nl()?;
        let open = self.expect_char('{', "function name")?;
        let (body_params, body) = self.nested(open, |p| {
            let inner_start = p.pos;
            p.skip_ws_nl()?;
            // `[CmdletBinding()]` and other attributes before param(): accepted, ignored.
            while p.peek() == Some('[') {
                p.bracket_text()?;
                p.skip_ws_nl()?;
            }
            let mut params = Vec::new();
            let rest = p.rest();
            let len = ident_len(rest);
            if rest
                .get(..len)
                .is_some_and(|w| w.eq_ignore_ascii_case("param"))
            {
                p.pos += len;
                p.skip_ws_nl()?;
                if p.peek() != Some('(') {
                    return Err(ParseError::new("missing '(' after 'param'", p.char_span()));
                }
                params = p.parse_param_list()?;
            }
            let statements = p.parse_statement_list(Some('}'))?;
            let span = p.span_from(inner_start);
            if p.peek() != Some('}') {
                return Err(ParseError::incomplete("missing closing '}'", open));
            }
            p.bump();
            Ok((params, Script { statements, span }))
        })?;
        if !body_params.is_empty() {
            if !params.is_empty() {
                return Err(ParseError::new(
                    "parameters are declared twice: in '(...)' after the name and in param(...)",
                    name_span,
                ));
            }
            params = body_params;
        }
        Ok(FunctionDef {
            name,
            name_span,
            params,
            body,
        })
    }

    /// `( [type]$name = default, ... )` of a function.
    // Kept out of line: the recursive descent's frames stay small.
    #[inline(never)]
    fn parse_param_list(&mut self) -> PResult<Vec<FunctionParam>> {
        let open = self.char_span();
        self.bump();
        let mut params: Vec<FunctionParam> = Vec::new();
        loop {
            self.skip_ws_nl()?;
            match self.peek() {
                Some(')') => {
                    self.bump();
                    return Ok(params);
                }
                None => return Err(ParseError::incomplete("missing closing ')'", open)),
                _ => {}
            }
            let start = self.pos;
            let mut type_name = None;
            while self.peek() == Some('[') {
                let (text, _) = self.bracket_text()?;
                // `[Parameter(Mandatory)]`, `[ValidateSet(...)]`: attributes, ignored.
                if !text.contains('(') {
                    type_name = Some(text);
                }
                self.skip_ws_nl()?;
            }
            if self.peek() != Some('$') {
                return Err(ParseError::new(
                    "expected a parameter like $Name in the parameter list",
                    self.char_span(),
                ));
            }
            let var = self.parse_dollar()?;
            let ExprKind::Variable { name } = var.kind else {
                return Err(ParseError::new("not a parameter name", var.span));
            };
            if params.iter().any(|p| p.name.eq_ignore_ascii_case(&name)) {
                return Err(ParseError::new(
                    format!("parameter '${name}' is declared twice"),
                    var.span,
                ));
            }
            self.skip_ws_nl()?;
            let default = if self.peek() == Some('=') {
                let eq = self.char_span();
                self.bump();
                self.skip_ws_nl()?;
                if self.at_expr_end() {
                    return Err(self.missing_after("=", eq));
                }
                Some(self.parse_expr(false)?)
            } else {
                None
            };
            let switch = type_name
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("switch"));
            params.push(FunctionParam {
                name,
                type_name,
                default,
                switch,
                span: self.span_from(start),
            });
            self.skip_ws_nl()?;
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(')') => {}
                None => return Err(ParseError::incomplete("missing closing ')'", open)),
                Some(_) => return Err(self.unexpected_here()),
            }
        }
    }

    /// Does a command (command mode) start here? Everything but values: `$`, quotes,
    /// numbers, `@`, `(`, `{`, `[`, `!`, a dash, and characters that cannot start anything.
    fn starts_command(&self) -> bool {
        let Some(c) = self.peek() else { return false };
        if c == '$' || is_quote(c) || is_dash(c) || self.rest().starts_with("++$") {
            return false;
        }
        if matches!(
            c,
            '@' | '(' | '{' | '[' | '!' | ')' | '}' | ';' | '|' | ',' | '&' | '<' | '>'
        ) || c == '='
            || c == '\n'
        {
            return false;
        }
        if c.is_ascii_digit() || (c == '.' && self.peek_nth(1).is_some_and(|d| d.is_ascii_digit()))
        {
            // `5MB -gt $x` is an expression, `7z` a command.
            let text = self.number_extent();
            return parse_number(text).is_none();
        }
        true
    }

    /// `first | command | ...` continuing after the first element.
    fn parse_pipeline(&mut self) -> PResult<Pipeline> {
        self.skip_hspace()?;
        let start = self.pos;
        let first = if self.starts_command() {
            PipelineElement::Command(self.parse_command()?)
        } else {
            PipelineElement::Expression(self.parse_expr(true)?)
        };
        self.parse_pipeline_rest(start, first)
    }

    fn parse_pipeline_rest(&mut self, start: usize, first: PipelineElement) -> PResult<Pipeline> {
        let mut end = first.span().end;
        let mut elements = vec![first];
        let mut redirections = Vec::new();
        loop {
            self.parse_redirections(&mut redirections, &mut end)?;
            self.skip_hspace()?;
            if self.peek() != Some('|') {
                break;
            }
            if self.peek_nth(1) == Some('|') {
                return Err(ParseError::new(
                    "'||' is not supported by xshell; use -or inside an expression",
                    Span::new(self.pos, self.pos + 2),
                ));
            }
            let bar = self.char_span();
            self.bump();
            self.skip_ws_nl()?;
            if self.at_eof() {
                return Err(ParseError::incomplete("missing command after '|'", bar));
            }
            if matches!(self.peek(), Some(';' | '|' | ')' | '}')) {
                return Err(ParseError::new("missing command after '|'", bar));
            }
            if !self.starts_command() {
                let (text, span) = self.token_here();
                return Err(ParseError::new(
                    format!(
                        "'{}' cannot follow '|': only the first element of a pipeline can be an expression",
                        show(&text)
                    ),
                    span,
                ));
            }
            let command = self.parse_command()?;
            end = command.span.end;
            elements.push(PipelineElement::Command(command));
        }
        Ok(Pipeline {
            elements,
            redirections,
            span: Span::new(start, end),
        })
    }

    /// The stream of a redirection starting here (`>`, `2>`, `*>`, ...) and the length
    /// of its stream prefix.
    fn redirection_here(&self) -> Option<(Stream, usize)> {
        match (self.peek()?, self.peek_nth(1)) {
            ('>', _) => Some((Stream::Output, 0)),
            ('1', Some('>')) => Some((Stream::Output, 1)),
            ('2', Some('>')) => Some((Stream::Error, 1)),
            ('3', Some('>')) => Some((Stream::Warning, 1)),
            ('4' | '5' | '6', Some('>')) => Some((Stream::Warning, 1)),
            ('*', Some('>')) => Some((Stream::All, 1)),
            _ => None,
        }
    }

    /// `> file`, `>> file`, `2>&1`, `2>$null`, `*>$null`, ... after a pipeline element.
    // Kept out of line: the recursive descent's frames stay small.
    #[inline(never)]
    fn parse_redirections(&mut self, out: &mut Vec<Redirection>, end: &mut usize) -> PResult<()> {
        loop {
            let save = self.pos;
            self.skip_hspace()?;
            let Some((stream, prefix)) = self.redirection_here() else {
                self.pos = save;
                return Ok(());
            };
            let start = self.pos;
            self.pos += prefix + 1;
            let append = self.peek() == Some('>');
            if append {
                self.bump();
            }
            let op_span = self.span_from(start);
            let target = if self.peek() == Some('&') {
                self.bump();
                match self.bump() {
                    Some('1') if stream != Stream::Output && !append => RedirectTarget::Output,
                    _ => {
                        return Err(ParseError::new(
                            "only '2>&1' (or '*>&1', '3>&1') merges a stream into the output",
                            self.span_from(start),
                        ));
                    }
                }
            } else {
                self.skip_hspace()?;
                if self.at_arg_end() {
                    return Err(self.missing_after(op_span.text(self.src), op_span));
                }
                let path = self.parse_command_element()?;
                if path.kind == ExprKind::Null {
                    RedirectTarget::Null
                } else {
                    RedirectTarget::File { path, append }
                }
            };
            *end = self.pos;
            out.push(Redirection {
                stream,
                target,
                span: self.span_from(start),
            });
        }
    }

    // ----- command mode -------------------------------------------------------------------

    fn parse_command(&mut self) -> PResult<Command> {
        let start = self.pos;
        let word = self.scan_word()?;
        let Some(text) = word.literal() else {
            return Err(ParseError::new(
                "a command name cannot contain '$' expansions",
                word.span,
            ));
        };
        if text.is_empty() {
            return Err(self.unexpected_here());
        }
        if text == "." {
            return Err(ParseError::new(
                "dot-sourcing ('. script') is not supported by xshell",
                word.span,
            ));
        }
        let lower = text.to_lowercase();
        if UNSUPPORTED_KEYWORDS.contains(&lower.as_str()) {
            return Err(ParseError::new(
                format!("'{}' is not supported by xshell", show(&lower)),
                word.span,
            ));
        }
        let name = CommandName {
            text,
            span: word.span,
        };
        let mut end = word.span.end;
        let mut args = Vec::new();
        loop {
            self.skip_hspace()?;
            let Some(c) = self.peek() else { break };
            let arg = match c {
                '\n' | ';' | '|' | ')' | '}' => break,
                '&' => {
                    return Err(ParseError::new(
                        "'&' is not supported by xshell; run one command per statement, separated by ';'",
                        self.char_span(),
                    ));
                }
                '<' => {
                    return Err(ParseError::new(
                        "input redirection ('<') is not supported (nor by PowerShell); pipe instead: Get-Content x | ...",
                        self.char_span(),
                    ));
                }
                '>' => break,
                '1'..='6' | '*' if self.peek_nth(1) == Some('>') => break,
                ',' => {
                    return Err(ParseError::new(
                        "missing value before ','",
                        self.char_span(),
                    ));
                }
                c if is_dash(c) => self.parse_dash_arg()?,
                _ => Arg::Value(self.parse_command_value()?),
            };
            end = arg.span().end;
            args.push(arg);
        }
        Ok(Command {
            name,
            args,
            span: Span::new(start, end),
        })
    }

    /// `-Name`, `-Name:value`, or a value starting with a dash (`-5`, `-1.5GB`).
    fn parse_dash_arg(&mut self) -> PResult<Arg> {
        let start = self.pos;
        let dash_span = self.char_span();
        self.bump();
        match self.peek() {
            Some(c) if is_ident_start(c) => {
                let name_start = self.pos;
                while self.peek().is_some_and(is_ident_char) {
                    self.bump();
                }
                let name_span = self.span_from(name_start);
                let name = name_span.text(self.src).to_string();
                match self.peek() {
                    Some(':') => {
                        self.bump();
                        let colon_end = self.pos;
                        while self.peek().is_some_and(is_hspace) {
                            self.bump();
                        }
                        if self.at_arg_end() {
                            return Err(self.missing_after(
                                Span::new(start, colon_end).text(self.src),
                                Span::new(start, colon_end),
                            ));
                        }
                        let value = self.parse_command_value()?;
                        let span = Span::new(start, value.span.end);
                        Ok(Arg::Parameter {
                            name,
                            name_span,
                            colon_value: Some(value),
                            span,
                        })
                    }
                    None => Ok(Arg::Parameter {
                        name,
                        name_span,
                        colon_value: None,
                        span: self.span_from(start),
                    }),
                    Some(c) if ends_word(c) => Ok(Arg::Parameter {
                        name,
                        name_span,
                        colon_value: None,
                        span: self.span_from(start),
                    }),
                    Some(_) => {
                        // `-foo.bar`, `-a=b`: not a parameter name; a bareword value.
                        self.pos = start;
                        Ok(Arg::Value(self.parse_command_value()?))
                    }
                }
            }
            Some(c) if c.is_ascii_digit() || c == '.' => {
                self.pos = start;
                Ok(Arg::Value(self.parse_command_value()?))
            }
            _ => Err(ParseError::new(
                "a parameter name must follow '-'",
                dash_span,
            )),
        }
    }

    /// A command-mode value, possibly a comma list (`a.tld,b.tld,"c d"`).
    fn parse_command_value(&mut self) -> PResult<Expr> {
        let first = self.parse_command_element()?;
        self.comma_list(first, Self::at_arg_end, Self::parse_command_element)
    }

    /// The rest of a comma list after its first element: `, element` while a
    /// comma follows; a comma with nothing after it (`at_end`) is an error.
    /// One element stays itself; several make an array.
    fn comma_list(
        &mut self,
        first: Expr,
        at_end: fn(&Self) -> bool,
        element: fn(&mut Self) -> PResult<Expr>,
    ) -> PResult<Expr> {
        let mut items = vec![first];
        loop {
            let save = self.pos;
            self.skip_hspace()?;
            if self.peek() != Some(',') {
                self.pos = save;
                break;
            }
            let comma = self.char_span();
            self.bump();
            self.skip_ws_nl()?;
            if at_end(self) {
                return Err(self.missing_after(",", comma));
            }
            items.push(element(self)?);
        }
        if items.len() == 1
            && let Some(only) = items.pop()
        {
            return Ok(only);
        }
        let span = match (items.first(), items.last()) {
            (Some(a), Some(b)) => a.span.to(b.span),
            _ => Span::new(self.pos, self.pos),
        };
        Ok(Expr {
            kind: ExprKind::Array(items),
            span,
        })
    }

    /// One command-mode value (an element of a comma list).
    fn parse_command_element(&mut self) -> PResult<Expr> {
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Err(self.unexpected_here());
        };
        match c {
            '$' => {
                let e = self.parse_dollar()?;
                let e = self.parse_postfix(e)?;
                self.word_continuation(start, e)
            }
            '(' => {
                let e = self.parse_paren()?;
                self.parse_postfix(e)
            }
            '@' => {
                let e = self.parse_at()?;
                self.parse_postfix(e)
            }
            '{' => self.parse_script_block(),
            q if is_quote(q) => self.parse_string(),
            _ => {
                let word = self.scan_word()?;
                if word.parts.is_empty() {
                    return Err(self.unexpected_here());
                }
                if word.plain {
                    let text = word.span.text(self.src);
                    if let Some(n) = parse_number(text) {
                        return Ok(Expr {
                            kind: ExprKind::Number(n),
                            span: word.span,
                        });
                    }
                }
                Ok(string_expr(word.parts, StringStyle::Bareword, word.span))
            }
        }
    }

    /// `$dir\file.txt`: a variable directly followed by more word characters is an
    /// expandable bareword.
    fn word_continuation(&mut self, start: usize, e: Expr) -> PResult<Expr> {
        match self.peek() {
            Some(c) if !ends_word(c) && self.line_continuation().is_none() => {
                let word = self.scan_word()?;
                let mut parts = vec![StringPart::Expr(e)];
                for part in word.parts {
                    match part {
                        StringPart::Literal(s) => push_literal(&mut parts, &s),
                        other => parts.push(other),
                    }
                }
                Ok(Expr {
                    kind: ExprKind::Expandable {
                        parts,
                        style: StringStyle::Bareword,
                    },
                    span: self.span_from(start),
                })
            }
            _ => Ok(e),
        }
    }

    /// A bareword: characters up to whitespace or `; | & ( ) { } , < >`, with backtick
    /// escapes, embedded quoted strings and `$var`/`$(...)` expansions.
    fn scan_word(&mut self) -> PResult<Word> {
        let start = self.pos;
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut plain = true;
        while let Some(c) = self.peek() {
            if ends_word(c) {
                break;
            }
            match c {
                '`' => {
                    if self.line_continuation().is_some() {
                        break;
                    }
                    self.bump();
                    if let Some(e) = self.bump() {
                        literal.push(escape_char(e));
                    }
                    plain = false;
                }
                q if is_single_quote(q) => {
                    literal.push_str(&self.scan_single_quoted()?);
                    plain = false;
                }
                q if is_double_quote(q) => {
                    push_literal(&mut parts, &literal);
                    literal.clear();
                    for part in self.scan_double_quoted()? {
                        match part {
                            StringPart::Literal(s) => push_literal(&mut parts, &s),
                            other => parts.push(other),
                        }
                    }
                    plain = false;
                }
                '$' if self.dollar_expands() => {
                    push_literal(&mut parts, &literal);
                    literal.clear();
                    parts.push(StringPart::Expr(self.parse_dollar()?));
                    plain = false;
                }
                _ => {
                    literal.push(c);
                    self.bump();
                }
            }
        }
        push_literal(&mut parts, &literal);
        Ok(Word {
            parts,
            plain,
            span: self.span_from(start),
        })
    }

    /// Is the `$` at the current position the start of an expansion in a string or word?
    fn dollar_expands(&self) -> bool {
        matches!(self.peek_nth(1), Some(c) if is_ident_char(c) || c == '{' || c == '(' || c == '?')
    }

    // ----- strings ------------------------------------------------------------------------

    fn parse_string(&mut self) -> PResult<Expr> {
        let start = self.pos;
        match self.peek() {
            Some(q) if is_single_quote(q) => {
                let value = self.scan_single_quoted()?;
                Ok(Expr {
                    kind: ExprKind::String {
                        value,
                        style: StringStyle::SingleQuoted,
                    },
                    span: self.span_from(start),
                })
            }
            _ => {
                let parts = self.scan_double_quoted()?;
                Ok(string_expr(
                    parts,
                    StringStyle::DoubleQuoted,
                    self.span_from(start),
                ))
            }
        }
    }

    fn unterminated_string(&self, start: usize) -> ParseError {
        let len = self
            .src
            .get(start..)
            .and_then(|s| s.chars().next())
            .map_or(0, char::len_utf8);
        ParseError::incomplete(
            "unterminated string starting here",
            Span::new(start, start + len),
        )
    }

    /// `'...'`: literal text; `''` is a quote.
    fn scan_single_quoted(&mut self) -> PResult<String> {
        let start = self.pos;
        self.bump();
        let mut out = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(self.unterminated_string(start));
            };
            if is_single_quote(c) {
                match self.peek() {
                    Some(q) if is_single_quote(q) => {
                        self.bump();
                        out.push(q);
                    }
                    _ => return Ok(out),
                }
            } else {
                out.push(c);
            }
        }
    }

    /// `"..."`: `$var`, `${name}` and `$(...)` expand (`$var.Prop` does not: use
    /// `$($var.Prop)`); backtick escapes; `""` is a quote.
    fn scan_double_quoted(&mut self) -> PResult<Vec<StringPart>> {
        let start = self.pos;
        self.bump();
        let mut parts = Vec::new();
        let mut literal = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.unterminated_string(start));
            };
            match c {
                q if is_double_quote(q) => {
                    self.bump();
                    match self.peek() {
                        Some(q2) if is_double_quote(q2) => {
                            self.bump();
                            literal.push(q2);
                        }
                        _ => break,
                    }
                }
                '`' => {
                    self.bump();
                    let Some(e) = self.bump() else {
                        return Err(self.unterminated_string(start));
                    };
                    literal.push(escape_char(e));
                }
                '$' if self.dollar_expands() => {
                    push_literal(&mut parts, &literal);
                    literal.clear();
                    parts.push(StringPart::Expr(self.parse_dollar()?));
                }
                _ => {
                    self.bump();
                    literal.push(c);
                }
            }
        }
        push_literal(&mut parts, &literal);
        Ok(parts)
    }

    // ----- expressions --------------------------------------------------------------------

    /// A full expression (binary operators included). Commas build arrays unless
    /// `allow_comma` is false (method-call arguments).
    fn parse_expr(&mut self, allow_comma: bool) -> PResult<Expr> {
        self.parse_binary(0, allow_comma)
    }

    /// Precedence climbing: operators of `min_level` and above, left to right
    /// within a level; one frame per nesting level whatever the number of levels.
    fn parse_binary(&mut self, min_level: u8, allow_comma: bool) -> PResult<Expr> {
        let mut lhs = self.parse_array(allow_comma)?;
        let mut chain = 0;
        loop {
            let save = self.pos;
            self.skip_hspace()?;
            let Some((op, len)) = self.peek_binary_op()? else {
                self.pos = save;
                break;
            };
            let level = binary_level(op);
            if level < min_level {
                self.pos = save;
                break;
            }
            let op_span = Span::new(self.pos, self.pos + len);
            self.pos += len;
            self.skip_ws_nl()?;
            if self.at_expr_end() {
                return Err(self.missing_after(op_span.text(self.src), op_span));
            }
            chain += 1;
            self.enter(op_span)?;
            let rhs = if level + 1 < BINARY_LEVELS {
                self.parse_binary(level + 1, allow_comma)?
            } else {
                self.parse_array(allow_comma)?
            };
            let span = lhs.span.to(rhs.span);
            lhs = Expr {
                kind: ExprKind::Binary {
                    op,
                    op_span,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                span,
            };
        }
        self.depth = self.depth.saturating_sub(chain);
        Ok(lhs)
    }

    /// The binary operator at the current position, with its length in bytes.
    fn peek_binary_op(&self) -> PResult<Option<(BinaryOp, usize)>> {
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        let next = self.peek_nth(1);
        let here = self.pos;
        let op = match c {
            c if is_dash(c) => {
                let dash = c.len_utf8();
                let after = self.rest().get(dash..).unwrap_or("");
                let name_len = ident_len(after);
                let name = after.get(..name_len).unwrap_or("");
                if name.is_empty() {
                    if next == Some('=') {
                        return Ok(None); // `-=`: reported by the statement
                    }
                    return Ok(Some((BinaryOp::Subtract, dash)));
                }
                let lower = name.to_lowercase();
                let span = Span::new(here, here + dash + name_len);
                return match lookup_operator(&lower) {
                    Some(op) => Ok(Some((op, dash + name_len))),
                    None if lower == "not" => Err(ParseError::new(
                        "'-not' goes before a value ('-not $x'); to compare, use -ne",
                        span,
                    )),
                    None if UNSUPPORTED_OPERATORS.contains(&lower.as_str()) => {
                        Err(ParseError::new(
                            format!("the operator '-{}' is not supported by xshell", show(name)),
                            span,
                        ))
                    }
                    None => Err(ParseError::new(
                        format!(
                            "unknown operator '-{}' (operators: -eq -ne -gt -ge -lt -le -like -notlike -match -notmatch -contains -notcontains -in -notin -replace -split -join -f -is -isnot -as -and -or -xor -not)",
                            show(name)
                        ),
                        span,
                    )),
                };
            }
            '+' | '*' | '/' | '%' if next == Some('=') => return Ok(None),
            '+' => BinaryOp::Add,
            '*' => BinaryOp::Multiply,
            '/' => BinaryOp::Divide,
            '%' => BinaryOp::Remainder,
            '=' if next == Some('=') => return Err(self.wrong_operator("==", "-eq")),
            '!' if next == Some('=') => return Err(self.wrong_operator("!=", "-ne")),
            '>' if next == Some('=') => return Err(self.wrong_operator(">=", "-ge")),
            '<' if next == Some('=') => return Err(self.wrong_operator("<=", "-le")),
            // `>` is redirection, as in PowerShell (handled by the pipeline).
            '>' => return Ok(None),
            '<' => return Err(self.wrong_operator("<", "-lt")),
            '.' if next == Some('.') => return Ok(Some((BinaryOp::Range, 2))),
            '&' if next == Some('&') => return Err(self.wrong_operator("&&", "-and")),
            '|' if next == Some('|') => return Err(self.wrong_operator("||", "-or")),
            _ => return Ok(None),
        };
        Ok(Some((op, 1)))
    }

    fn wrong_operator(&self, op: &str, use_instead: &str) -> ParseError {
        ParseError::new(
            format!("'{op}' is not an xshell operator; use {use_instead}"),
            Span::new(self.pos, self.pos + op.len()),
        )
    }

    /// `unary (',' unary)*`
    fn parse_array(&mut self, allow_comma: bool) -> PResult<Expr> {
        let first = self.parse_unary()?;
        if !allow_comma {
            return Ok(first);
        }
        self.comma_list(first, Self::at_expr_end, Self::parse_unary)
    }

    /// `-not x`, `!x`, `-x`, or a primary with postfix operators.
    fn parse_unary(&mut self) -> PResult<Expr> {
        self.skip_hspace()?;
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Err(ParseError::incomplete(
                "missing value at end of input",
                self.char_span(),
            ));
        };
        // `++$x`, `--$x`
        if (self.rest().starts_with("++") || self.rest().starts_with("--"))
            && self.rest().get(2..).is_some_and(|r| r.starts_with('$'))
        {
            let delta = if c == '+' { 1 } else { -1 };
            let op_span = Span::new(start, start + 2);
            self.pos += 2;
            let operand = self.nested(op_span, |p| {
                let primary = p.parse_primary()?;
                p.parse_postfix(primary)
            })?;
            if !is_assignable(&operand) {
                return Err(ParseError::new(
                    "'++' and '--' need a variable",
                    operand.span,
                ));
            }
            let span = op_span.to(operand.span);
            return Ok(Expr {
                kind: ExprKind::IncDec {
                    variable: Box::new(operand),
                    delta,
                    prefix: true,
                },
                span,
            });
        }
        let op = if c == '!' {
            Some((UnaryOp::Not, 1))
        } else if is_dash(c) {
            let dash = c.len_utf8();
            let after = self.rest().get(dash..).unwrap_or("");
            let name_len = ident_len(after);
            let name = after.get(..name_len).unwrap_or("");
            if name.eq_ignore_ascii_case("not") {
                Some((UnaryOp::Not, dash + name_len))
            } else if name.eq_ignore_ascii_case("join") {
                Some((UnaryOp::Join, dash + name_len))
            } else if name.eq_ignore_ascii_case("split") {
                Some((UnaryOp::Split, dash + name_len))
            } else if name.is_empty() {
                Some((UnaryOp::Negate, dash))
            } else {
                let span = Span::new(start, start + dash + name_len);
                return Err(ParseError::new(
                    format!(
                        "unexpected '{}': a value was expected (parameters go after a command name)",
                        show(span.text(self.src))
                    ),
                    span,
                ));
            }
        } else {
            None
        };
        let Some((op, len)) = op else {
            let primary = self.parse_primary()?;
            let e = self.parse_postfix(primary)?;
            // `$x++`, `$x--` (directly after the variable)
            let rest = self.rest();
            if (rest.starts_with("++") || rest.starts_with("--"))
                && is_assignable(&e)
                && !matches!(e.kind, ExprKind::Null)
            {
                let delta = if rest.starts_with('+') { 1 } else { -1 };
                self.pos += 2;
                let span = Span::new(e.span.start, self.pos);
                return Ok(Expr {
                    kind: ExprKind::IncDec {
                        variable: Box::new(e),
                        delta,
                        prefix: false,
                    },
                    span,
                });
            }
            return Ok(e);
        };
        let op_span = Span::new(start, start + len);
        self.pos += len;
        self.skip_hspace()?;
        if self.at_expr_end() {
            return Err(self.missing_after(op_span.text(self.src), op_span));
        }
        let operand_start = self.pos;
        let operand = self.nested(op_span, |p| p.parse_unary())?;
        let span = op_span.to(operand.span);
        if op == UnaryOp::Negate
            && operand_start == op_span.end
            && let ExprKind::Number(n) = operand.kind
        {
            let folded = match n {
                Number::Int(v) => v.checked_neg().map(Number::Int),
                Number::Float(f) => Some(Number::Float(-f)),
            };
            if let Some(n) = folded {
                return Ok(Expr {
                    kind: ExprKind::Number(n),
                    span,
                });
            }
        }
        Ok(Expr {
            kind: ExprKind::Unary {
                op,
                op_span,
                operand: Box::new(operand),
            },
            span,
        })
    }

    /// Expression-mode primary value.
    fn parse_primary(&mut self) -> PResult<Expr> {
        let Some(c) = self.peek() else {
            return Err(ParseError::incomplete(
                "missing value at end of input",
                self.char_span(),
            ));
        };
        match c {
            '$' => self.parse_dollar(),
            q if is_quote(q) => self.parse_string(),
            '(' => self.parse_paren(),
            '{' => self.parse_script_block(),
            '@' => self.parse_at(),
            '[' => self.parse_type_expr(),
            '&' => Err(ParseError::new(
                "the call operator '&' is not supported by xshell",
                self.char_span(),
            )),
            c if c.is_ascii_digit()
                || (c == '.' && self.peek_nth(1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let start = self.pos;
                let text = self.number_extent();
                let span = Span::new(start, start + text.len());
                match parse_number(text) {
                    Some(n) if !text.is_empty() => {
                        self.pos = span.end;
                        Ok(Expr {
                            kind: ExprKind::Number(n),
                            span,
                        })
                    }
                    _ if text.is_empty() => Err(self.unexpected_here()),
                    _ => Err(ParseError::new(
                        format!("bad number '{}'", show(text)),
                        span,
                    )),
                }
            }
            c if ends_word(c) || matches!(c, ']' | '=') => Err(self.unexpected_here()),
            _ => {
                let (text, span) = self.token_here();
                Err(ParseError::new(
                    format!(
                        "unexpected '{0}': in an expression, quote text (\"{0}\") and put commands in parentheses",
                        show(&text)
                    ),
                    span,
                ))
            }
        }
    }

    /// The text of a number literal at the current position in expression mode:
    /// `[0-9A-Za-z_.]` (no `..`), with a sign after a decimal exponent `e`.
    fn number_extent(&self) -> &'a str {
        let rest = self.rest();
        let hex = rest.len() >= 2 && rest.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x"));
        let mut end = 0;
        let mut prev = '\0';
        for (i, c) in rest.char_indices() {
            let ok = c.is_ascii_alphanumeric()
                || c == '_'
                || (c == '.'
                    && prev != '.'
                    && !rest.get(i + 1..).is_some_and(|r| r.starts_with('.')))
                || (matches!(c, '+' | '-') && matches!(prev, 'e' | 'E') && !hex);
            if !ok {
                break;
            }
            prev = c;
            end = i + c.len_utf8();
        }
        rest.get(..end).unwrap_or("")
    }

    /// `.Member`, `.Method(args)` and `[index]` directly after a value.
    fn parse_postfix(&mut self, mut e: Expr) -> PResult<Expr> {
        let mut chain = 0;
        loop {
            match self.peek() {
                Some('.') if self.peek_nth(1).is_some_and(is_ident_start) => {
                    let dot = self.char_span();
                    self.bump();
                    let name_start = self.pos;
                    while self.peek().is_some_and(is_ident_char) {
                        self.bump();
                    }
                    let name_span = self.span_from(name_start);
                    let name = name_span.text(self.src).to_string();
                    chain += 1;
                    self.enter(dot)?;
                    if self.peek() == Some('(') {
                        let args = self.parse_call_args()?;
                        let span = Span::new(e.span.start, self.pos);
                        e = Expr {
                            kind: ExprKind::MethodCall {
                                target: Box::new(e),
                                name,
                                name_span,
                                args,
                            },
                            span,
                        };
                    } else {
                        let span = Span::new(e.span.start, name_span.end);
                        e = Expr {
                            kind: ExprKind::Member {
                                target: Box::new(e),
                                name,
                                name_span,
                            },
                            span,
                        };
                    }
                }
                Some(':') if self.peek_nth(1) == Some(':') => {
                    return Err(ParseError::new(
                        "'::' goes after a type in brackets: [Math]::Round(2.5)",
                        Span::new(self.pos, self.pos + 2),
                    ));
                }
                Some('[') => {
                    let open = self.char_span();
                    chain += 1;
                    self.enter(open)?;
                    self.bump();
                    self.skip_ws_nl()?;
                    if self.peek() == Some(']') {
                        return Err(ParseError::new("missing index inside '[]'", open));
                    }
                    if self.at_eof() {
                        return Err(ParseError::incomplete("missing closing ']'", open));
                    }
                    let index = self.parse_expr(true)?;
                    self.skip_ws_nl()?;
                    match self.peek() {
                        Some(']') => {
                            self.bump();
                        }
                        None => return Err(ParseError::incomplete("missing closing ']'", open)),
                        Some(_) => return Err(self.unexpected_here()),
                    }
                    let span = Span::new(e.span.start, self.pos);
                    e = Expr {
                        kind: ExprKind::Index {
                            target: Box::new(e),
                            index: Box::new(index),
                        },
                        span,
                    };
                }
                _ => break,
            }
        }
        self.depth = self.depth.saturating_sub(chain);
        Ok(e)
    }

    /// `(arg, arg)` of a method call.
    fn parse_call_args(&mut self) -> PResult<Vec<Expr>> {
        let open = self.char_span();
        self.bump();
        let mut args = Vec::new();
        self.skip_ws_nl()?;
        if self.peek() == Some(')') {
            self.bump();
            return Ok(args);
        }
        loop {
            self.skip_ws_nl()?;
            if self.at_eof() {
                return Err(ParseError::incomplete("missing closing ')'", open));
            }
            args.push(self.parse_expr(false)?);
            self.skip_ws_nl()?;
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(')') => {
                    self.bump();
                    return Ok(args);
                }
                None => return Err(ParseError::incomplete("missing closing ')'", open)),
                Some(_) => return Err(self.unexpected_here()),
            }
        }
    }

    /// `$name`, `${name}`, `$env:NAME`, `$_`, `$?`, `$(...)`; `$true`/`$false`/`$null`.
    fn parse_dollar(&mut self) -> PResult<Expr> {
        let start = self.pos;
        self.bump();
        match self.peek() {
            Some('(') => {
                let open = Span::new(start, self.pos + 1);
                self.nested(open, |p| {
                    p.bump();
                    let inner_start = p.pos;
                    let statements = p.parse_statement_list(Some(')'))?;
                    let inner = p.span_from(inner_start);
                    if p.peek() != Some(')') {
                        return Err(ParseError::incomplete("missing closing ')'", open));
                    }
                    p.bump();
                    Ok(Expr {
                        kind: ExprKind::Subexpression(Script {
                            statements,
                            span: inner,
                        }),
                        span: p.span_from(start),
                    })
                })
            }
            Some('{') => {
                self.bump();
                let mut name = String::new();
                loop {
                    match self.bump() {
                        None => {
                            return Err(ParseError::incomplete(
                                "missing closing '}' of variable name",
                                Span::new(start, start + 2),
                            ));
                        }
                        Some('}') => break,
                        Some('`') => {
                            if let Some(c) = self.bump() {
                                name.push(c);
                            }
                        }
                        Some(c) => name.push(c),
                    }
                }
                if name.is_empty() {
                    return Err(ParseError::new(
                        "empty variable name",
                        self.span_from(start),
                    ));
                }
                Ok(self.variable(name, start))
            }
            Some(c) if is_ident_char(c) => {
                let name_start = self.pos;
                while self.peek().is_some_and(is_ident_char) {
                    self.bump();
                }
                // scope or drive qualifier: `$env:PATH`
                if self.peek() == Some(':') && self.peek_nth(1).is_some_and(is_ident_char) {
                    self.bump();
                    while self.peek().is_some_and(is_ident_char) {
                        self.bump();
                    }
                }
                let name = self.span_from(name_start).text(self.src).to_string();
                Ok(self.variable(name, start))
            }
            Some(c @ ('?' | '$' | '^')) => {
                self.bump();
                Ok(self.variable(c.to_string(), start))
            }
            _ => Err(ParseError::new(
                "a variable name must follow '$'",
                Span::new(start, start + 1),
            )),
        }
    }

    fn variable(&self, name: String, start: usize) -> Expr {
        let kind = if name.eq_ignore_ascii_case("true") {
            ExprKind::Bool(true)
        } else if name.eq_ignore_ascii_case("false") {
            ExprKind::Bool(false)
        } else if name.eq_ignore_ascii_case("null") {
            ExprKind::Null
        } else {
            ExprKind::Variable { name }
        };
        Expr {
            kind,
            span: self.span_from(start),
        }
    }

    /// `[type]` alone, `[type]operand` (a cast) or `[type]::Member(args)`.
    // Kept out of line: the recursive descent's frames stay small.
    #[inline(never)]
    fn parse_type_expr(&mut self) -> PResult<Expr> {
        let start = self.pos;
        let (name, span) = self.bracket_text()?;
        let valid = !name.is_empty()
            && name.chars().all(|c| {
                c.is_alphanumeric() || matches!(c, '.' | '_' | '[' | ']' | ',' | '`' | ' ')
            });
        if !valid {
            return Err(ParseError::new(
                format!("'[{}]' is not a type name", show(&name)),
                span,
            ));
        }
        let type_name = TypeName { name, span };
        if self.rest().starts_with("::") {
            self.pos += 2;
            let member_start = self.pos;
            let len = ident_len(self.rest());
            if len == 0 {
                return Err(ParseError::new(
                    "missing member name after '::'",
                    self.char_span(),
                ));
            }
            self.pos += len;
            let member_span = self.span_from(member_start);
            let member = member_span.text(self.src).to_string();
            let args = if self.peek() == Some('(') {
                Some(self.parse_call_args()?)
            } else {
                None
            };
            return Ok(Expr {
                kind: ExprKind::Static {
                    type_name,
                    member,
                    member_span,
                    args,
                },
                span: self.span_from(start),
            });
        }
        // A cast if an operand follows: `[int]$x`, `[int] "5"`, `[byte[]](...)`.
        let save = self.pos;
        self.skip_hspace()?;
        let operand_follows = match self.peek() {
            Some(c) if c == '$' || is_quote(c) || c.is_ascii_digit() => true,
            Some('(' | '@' | '[' | '{' | '!') => true,
            Some(c) if is_dash(c) => self.peek_nth(1).is_some_and(|d| d.is_ascii_digit()),
            _ => false,
        };
        if !operand_follows {
            self.pos = save;
            return Ok(Expr {
                kind: ExprKind::TypeLiteral(type_name),
                span: self.span_from(start),
            });
        }
        let operand = self.nested(span, |p| p.parse_unary())?;
        let span = Span::new(start, operand.span.end);
        Ok(Expr {
            kind: ExprKind::Cast {
                type_name,
                operand: Box::new(operand),
            },
            span,
        })
    }

    /// `@"` newline ... newline `"@` (expanding) or `@'` ... `'@` (literal); the
    /// closing quote must start a line.
    // Kept out of line: the recursive descent's frames stay small.
    #[inline(never)]
    fn parse_here_string(&mut self, quote: char) -> PResult<Expr> {
        let start = self.pos;
        let open = Span::new(start, start + 1 + quote.len_utf8());
        self.pos = open.end;
        while self.peek().is_some_and(is_hspace) {
            self.bump();
        }
        match self.peek() {
            Some('\n') => {
                self.bump();
            }
            None => return Err(ParseError::incomplete("unterminated here-string", open)),
            Some(_) => {
                return Err(ParseError::new(
                    "a here-string's text starts on the line after @\" (or @')",
                    self.char_span(),
                ));
            }
        }
        let content_start = self.pos;
        // The closing line: a newline, then the quote and '@' (the content may be empty).
        let rest = self.rest();
        let mut close = None;
        let mut offset = 0;
        for line in rest.split_inclusive('\n') {
            let mut chars = line.chars();
            if chars.next().is_some_and(|c| {
                c == quote
                    || (is_double_quote(c) && is_double_quote(quote))
                    || (is_single_quote(c) && is_single_quote(quote))
            }) && chars.next() == Some('@')
            {
                close = Some(offset);
                break;
            }
            offset += line.len();
        }
        let Some(close) = close else {
            return Err(ParseError::incomplete("unterminated here-string", open));
        };
        let content_end = content_start + close;
        // The newline before the closing line is not part of the text.
        let text_end = if close == 0 {
            content_start
        } else {
            let end = content_end - 1;
            if self.src.get(..end).is_some_and(|b| b.ends_with('\r')) {
                end - 1
            } else {
                end
            }
        };
        let closing_len = self
            .src
            .get(content_end..)
            .and_then(|r| r.chars().next())
            .map_or(1, char::len_utf8)
            + 1;
        let span = Span::new(start, content_end + closing_len);
        if is_single_quote(quote) {
            let value = self
                .src
                .get(content_start..text_end)
                .unwrap_or("")
                .to_string();
            self.pos = span.end;
            return Ok(Expr {
                kind: ExprKind::String {
                    value,
                    style: StringStyle::SingleQuoted,
                },
                span,
            });
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        self.pos = content_start;
        while self.pos < text_end {
            let Some(c) = self.peek() else { break };
            match c {
                '`' => {
                    self.bump();
                    if self.pos < text_end
                        && let Some(e) = self.bump()
                    {
                        literal.push(escape_char(e));
                    }
                }
                '$' if self.dollar_expands() => {
                    push_literal(&mut parts, &literal);
                    literal.clear();
                    let e = self.parse_dollar()?;
                    if self.pos > text_end {
                        return Err(ParseError::new(
                            "unterminated expansion in here-string",
                            e.span,
                        ));
                    }
                    parts.push(StringPart::Expr(e));
                }
                _ => {
                    self.bump();
                    literal.push(c);
                }
            }
        }
        push_literal(&mut parts, &literal);
        self.pos = span.end;
        Ok(string_expr(parts, StringStyle::DoubleQuoted, span))
    }

    /// `( statement )`
    fn parse_paren(&mut self) -> PResult<Expr> {
        let start = self.pos;
        let open = self.char_span();
        self.nested(open, |p| {
            p.bump();
            p.skip_ws_nl()?;
            match p.peek() {
                None => return Err(ParseError::incomplete("missing closing ')'", open)),
                Some(')') => {
                    return Err(ParseError::new("missing expression inside '()'", open));
                }
                Some(_) => {}
            }
            let statement = p.parse_statement()?;
            p.skip_ws_nl()?;
            match p.peek() {
                Some(')') => {
                    p.bump();
                }
                None => return Err(ParseError::incomplete("missing closing ')'", open)),
                Some(_) => {
                    let (text, span) = p.token_here();
                    return Err(ParseError::new(
                        format!("unexpected '{}': expected ')'", show(&text)),
                        span,
                    ));
                }
            }
            Ok(Expr {
                kind: ExprKind::Paren(Box::new(statement)),
                span: p.span_from(start),
            })
        })
    }

    /// `{ statements }`
    fn parse_script_block(&mut self) -> PResult<Expr> {
        let start = self.pos;
        let open = self.char_span();
        self.nested(open, |p| {
            p.bump();
            let inner_start = p.pos;
            let statements = p.parse_statement_list(Some('}'))?;
            let inner = p.span_from(inner_start);
            if p.peek() != Some('}') {
                return Err(ParseError::incomplete("missing closing '}'", open));
            }
            p.bump();
            Ok(Expr {
                kind: ExprKind::ScriptBlock(Script {
                    statements,
                    span: inner,
                }),
                span: p.span_from(start),
            })
        })
    }

    /// `@( ... )`, `@{ ... }`; here-strings and splatting are reported as unsupported.
    fn parse_at(&mut self) -> PResult<Expr> {
        let start = self.pos;
        match self.peek_nth(1) {
            Some('(') => {
                let open = Span::new(start, start + 2);
                self.nested(open, |p| {
                    p.pos += 2;
                    let inner_start = p.pos;
                    let statements = p.parse_statement_list(Some(')'))?;
                    let inner = p.span_from(inner_start);
                    if p.peek() != Some(')') {
                        return Err(ParseError::incomplete("missing closing ')'", open));
                    }
                    p.bump();
                    Ok(Expr {
                        kind: ExprKind::ArraySubexpression(Script {
                            statements,
                            span: inner,
                        }),
                        span: p.span_from(start),
                    })
                })
            }
            Some('{') => self.parse_hashtable(),
            Some(q) if is_quote(q) => self.parse_here_string(q),
            // Splatting: `Cmd @params` (a hashtable: named parameters; a
            // list: positional values).
            Some(c) if is_ident_char(c) => {
                self.bump();
                let name_start = self.pos;
                while self.peek().is_some_and(is_ident_char) {
                    self.bump();
                }
                Ok(Expr {
                    kind: ExprKind::Splat {
                        name: self.src[name_start..self.pos].to_string(),
                    },
                    span: self.span_from(start),
                })
            }
            _ => Err(ParseError::new(
                "unexpected '@'",
                Span::new(start, start + 1),
            )),
        }
    }

    /// `@{ key = value; key = value }` (entries separated by `;` or newlines).
    fn parse_hashtable(&mut self) -> PResult<Expr> {
        let start = self.pos;
        let open = Span::new(start, start + 2);
        self.nested(open, |p| {
            p.pos += 2;
            let mut entries: Vec<HashEntry> = Vec::new();
            let mut seen: Vec<String> = Vec::new();
            loop {
                loop {
                    p.skip_hspace()?;
                    match p.peek() {
                        Some('\n' | ';') => {
                            p.bump();
                        }
                        _ => break,
                    }
                }
                match p.peek() {
                    None => return Err(ParseError::incomplete("missing closing '}'", open)),
                    Some('}') => {
                        p.bump();
                        break;
                    }
                    Some(_) => {}
                }
                let key = p.parse_hash_key()?;
                if let ExprKind::String { value, .. } = &key.kind {
                    let lower = value.to_lowercase();
                    if seen.contains(&lower) {
                        return Err(ParseError::new(
                            format!("duplicate key '{}' in hashtable", show(value)),
                            key.span,
                        ));
                    }
                    seen.push(lower);
                }
                p.skip_hspace()?;
                match p.peek() {
                    Some('=') => {}
                    None => return Err(ParseError::incomplete("missing closing '}'", open)),
                    Some(_) => {
                        return Err(ParseError::new(
                            format!(
                                "missing '=' after hashtable key '{}'",
                                show(key.span.text(p.src))
                            ),
                            p.char_span(),
                        ));
                    }
                }
                let eq = p.char_span();
                p.bump();
                p.skip_ws_nl()?;
                if p.at_expr_end() {
                    return Err(p.missing_after("=", eq));
                }
                let value = p.parse_pipeline()?;
                let span = key.span.to(value.span);
                entries.push(HashEntry { key, value, span });
                p.skip_hspace()?;
                match p.peek() {
                    None => return Err(ParseError::incomplete("missing closing '}'", open)),
                    Some('\n' | ';' | '}') => {}
                    Some(_) => {
                        let (text, span) = p.token_here();
                        return Err(ParseError::new(
                            format!(
                                "unexpected '{}' in hashtable: separate entries with ';' or a new line",
                                show(&text)
                            ),
                            span,
                        ));
                    }
                }
            }
            Ok(Expr { kind: ExprKind::Hashtable(entries), span: p.span_from(start) })
        })
    }

    fn parse_hash_key(&mut self) -> PResult<Expr> {
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Err(self.unexpected_here());
        };
        match c {
            q if is_quote(q) => self.parse_string(),
            '$' => self.parse_dollar(),
            '(' => self.parse_paren(),
            c if c.is_ascii_digit() => self.parse_primary(),
            c if ends_word(c) || matches!(c, '=' | '`' | '{' | '@') => Err(ParseError::new(
                format!("expected a hashtable key, found '{}'", show(&c.to_string())),
                self.char_span(),
            )),
            _ => {
                while self
                    .peek()
                    .is_some_and(|c| !ends_word(c) && c != '=' && !is_quote(c))
                {
                    self.bump();
                }
                let span = self.span_from(start);
                Ok(Expr {
                    kind: ExprKind::String {
                        value: span.text(self.src).to_string(),
                        style: StringStyle::Bareword,
                    },
                    span,
                })
            }
        }
    }
}
