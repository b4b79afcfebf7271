//! The shell-language runtime: evaluates the syntax tree of [`crate::lang`]
//! against the cmdlet catalogue. Cmdlets are bound through the same binder as
//! the CLI (`xshell_cmdlets::bind`), so both front ends behave alike.

mod builtins;
mod compare;
pub mod date;
mod members;
pub mod prompt;
mod typed;

use crate::lang::{
    self, Arg as AstArg, BinaryOp, Command, Expr, ExprKind, Number, Pipeline, PipelineElement,
    Script, Span, Statement, StatementKind, StringPart, UnaryOp,
};
use std::collections::HashMap;
use std::io::Write;
use xshell_cmdlets::bind::{self, Source, Token};
use xshell_cmdlets::format::{self, Format};
use xshell_cmdlets::{CmdletError, Host, Value};
use xshell_core::store::Store;

pub use members::member;
use members::{index_value, method};

/// What `-ErrorAction` asks for when a statement fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorAction {
    Stop,
    Continue,
    SilentlyContinue,
}

/// A runtime failure, located in the source.
#[derive(Debug)]
pub struct RuntimeError {
    pub error: CmdletError,
    pub span: Span,
    /// The cmdlet that failed, if any.
    pub cmdlet: Option<String>,
}

impl RuntimeError {
    fn new(error: CmdletError, span: Span) -> RuntimeError {
        RuntimeError {
            error,
            span,
            cmdlet: None,
        }
    }
    fn msg(message: impl Into<String>, span: Span) -> RuntimeError {
        RuntimeError::new(CmdletError::Failed(message.into()), span)
    }

    /// `file:line:col: error: Cmdlet: message`, the line, and a caret.
    pub fn render(&self, source_name: &str, source: &str) -> String {
        let message = match &self.cmdlet {
            Some(c) => format!("{c}: {}", self.error),
            None => self.error.to_string(),
        };
        lang::ParseError::new(message, self.span).render(source_name, source)
    }

    pub fn exit_code(&self) -> i32 {
        self.error.exit_code()
    }
}

type R<T> = Result<T, RuntimeError>;

/// Guards against runaway recursion through script blocks and subexpressions.
const MAX_EVAL_DEPTH: usize = 100;

/// An interpreter session: variables persist across scripts run in it (the
/// interactive prompt runs each line as a script).
pub struct Shell<'a> {
    pub store: &'a Store,
    pub host: &'a mut dyn Host,
    pub format: Format,
    vars: HashMap<String, Value>,
    out: &'a mut dyn Write,
    depth: usize,
    /// Errors reported and continued past (-ErrorAction Continue).
    pub continued_errors: usize,
    source_name: String,
    source: String,
}

impl<'a> Shell<'a> {
    pub fn new(
        store: &'a Store,
        host: &'a mut dyn Host,
        out: &'a mut dyn Write,
        format: Format,
    ) -> Shell<'a> {
        Shell {
            store,
            host,
            format,
            vars: HashMap::new(),
            out,
            depth: 0,
            continued_errors: 0,
            source_name: String::new(),
            source: String::new(),
        }
    }

    pub fn set_var(&mut self, name: &str, v: Value) {
        self.vars.insert(name.to_ascii_lowercase(), v);
    }

    pub fn var(&self, name: &str) -> Option<&Value> {
        self.vars.get(&name.to_ascii_lowercase())
    }

    /// Runs a parsed script: each top-level statement's output is written in
    /// the shell's format. Stops at the first error unless the statement says
    /// `-ErrorAction Continue` / `SilentlyContinue`.
    pub fn run(
        &mut self,
        script: &Script,
        source_name: &str,
        source: &str,
    ) -> Result<(), RuntimeError> {
        self.source_name = source_name.to_string();
        self.source = source.to_string();
        check_commands(script)?;
        for st in &script.statements {
            let action = statement_error_action(st);
            match self.statement(st) {
                Ok(values) => self.emit(&values),
                Err(e) => match action {
                    ErrorAction::Stop => return Err(e),
                    ErrorAction::Continue => {
                        self.continued_errors += 1;
                        let text = e.render(&self.source_name, &self.source);
                        self.host.warn(&format!("(continuing) {text}"));
                    }
                    ErrorAction::SilentlyContinue => {}
                },
            }
        }
        Ok(())
    }

    fn emit(&mut self, values: &[Value]) {
        if values.is_empty() {
            return;
        }
        // Text already formatted (Format-List, ConvertTo-Json) prints as is.
        let text =
            if values.iter().all(|v| matches!(v, Value::Str(_))) && self.format != Format::Json {
                values.iter().map(|v| format!("{v}\n")).collect::<String>()
            } else {
                format::render(values, self.format)
            };
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }

    fn statement(&mut self, st: &Statement) -> R<Vec<Value>> {
        match &st.kind {
            StatementKind::Pipeline(p) => self.pipeline(p),
            StatementKind::Assignment(a) => {
                let values = self.pipeline(&a.value)?;
                let v = collapse(values);
                match &a.target.kind {
                    // `$null = ...` discards the output.
                    ExprKind::Null => Ok(Vec::new()),
                    ExprKind::Variable { name } => {
                        if is_constant(name) {
                            return Err(RuntimeError::msg(
                                format!("cannot assign to ${name}"),
                                a.target.span,
                            ));
                        }
                        self.set_var(name, v);
                        Ok(Vec::new())
                    }
                    _ => Err(RuntimeError::msg(
                        "only variables can be assigned ($name = ...); objects are changed with Set- cmdlets",
                        a.target.span,
                    )),
                }
            }
        }
    }

    fn pipeline(&mut self, p: &Pipeline) -> R<Vec<Value>> {
        self.depth += 1;
        if self.depth > MAX_EVAL_DEPTH {
            self.depth -= 1;
            return Err(RuntimeError::msg("too deeply nested", p.span));
        }
        let r = self.pipeline_inner(p);
        self.depth -= 1;
        r
    }

    fn pipeline_inner(&mut self, p: &Pipeline) -> R<Vec<Value>> {
        let mut current: Option<Vec<Value>> = None;
        for el in &p.elements {
            let next = match el {
                PipelineElement::Expression(e) => {
                    if current.is_some() {
                        return Err(RuntimeError::msg(
                            "an expression can only be the first element of a pipeline",
                            e.span,
                        ));
                    }
                    flatten(self.expr(e)?)
                }
                PipelineElement::Command(c) => self.command(c, current.take())?,
            };
            current = Some(next);
        }
        Ok(current.unwrap_or_default())
    }

    /// Runs a command with optional pipeline input (None: first stage).
    fn command(&mut self, c: &Command, input: Option<Vec<Value>>) -> R<Vec<Value>> {
        if let Some(b) = builtins::find(&c.name.text) {
            return b(self, c, input).map_err(|mut e| {
                if e.cmdlet.is_none() {
                    e.cmdlet = Some(builtins::canonical(&c.name.text).to_string());
                }
                e
            });
        }
        let Some(decl) = xshell_cmdlets::find(&c.name.text) else {
            return Err(RuntimeError::new(
                CmdletError::Usage(format!(
                    "the term '{}' is not recognized as a cmdlet; Get-Command lists them",
                    c.name.text
                )),
                c.name.span,
            ));
        };
        let located = |e: CmdletError| RuntimeError {
            error: e,
            span: c.name.span,
            cmdlet: Some(decl.name.to_string()),
        };
        let tokens = self.tokens(c)?;
        let named = bind::name_tokens(decl, tokens).map_err(located)?;
        let mut out = Vec::new();
        match input {
            None => {
                let b = bind::bind(decl, named, None, Source::Shell).map_err(located)?;
                out.extend(
                    xshell_cmdlets::invoke(decl, self.store, self.host, &b).map_err(located)?,
                );
            }
            Some(items) => {
                for item in items {
                    let b = bind::bind(decl, named.clone(), Some(&item), Source::Shell)
                        .map_err(located)?;
                    out.extend(
                        xshell_cmdlets::invoke(decl, self.store, self.host, &b).map_err(located)?,
                    );
                }
            }
        }
        Ok(out)
    }

    /// Evaluates a command's arguments into binder tokens (dropping -ErrorAction,
    /// which the statement runner handles).
    fn tokens(&mut self, c: &Command) -> R<Vec<Token>> {
        let mut tokens = Vec::new();
        let mut skip_value = false;
        for a in &c.args {
            match a {
                AstArg::Parameter {
                    name, colon_value, ..
                } => {
                    if is_error_action(name) {
                        skip_value = colon_value.is_none();
                        continue;
                    }
                    let value = match colon_value {
                        Some(e) => Some(self.expr(e)?),
                        None => None,
                    };
                    tokens.push(Token::Param {
                        name: name.clone(),
                        value,
                    });
                }
                AstArg::Value(e) => {
                    if skip_value {
                        skip_value = false;
                        continue;
                    }
                    tokens.push(Token::Value(self.expr(e)?));
                }
            }
        }
        Ok(tokens)
    }

    /// Evaluates an expression to one value (a list for arrays).
    pub fn expr(&mut self, e: &Expr) -> R<Value> {
        Ok(match &e.kind {
            ExprKind::Null => Value::Null,
            ExprKind::Bool(b) => Value::Bool(*b),
            ExprKind::Number(Number::Int(i)) => Value::Int(*i),
            ExprKind::Number(Number::Float(f)) => {
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    Value::Int(*f as i64)
                } else {
                    Value::Float(*f)
                }
            }
            ExprKind::String { value, .. } => Value::Str(value.clone()),
            ExprKind::Expandable { parts, .. } => {
                let mut s = String::new();
                for p in parts {
                    match p {
                        StringPart::Literal(l) => s.push_str(l),
                        StringPart::Expr(x) => s.push_str(&display_in_string(&self.expr(x)?)),
                    }
                }
                Value::Str(s)
            }
            ExprKind::Variable { name } => self.lookup(name, e.span)?,
            ExprKind::Member {
                target,
                name,
                name_span,
            } => {
                let t = self.expr(target)?;
                member(&t, name).ok_or_else(|| {
                    RuntimeError::msg(
                        format!(
                            "property '{name}' cannot be found on this {}",
                            t.type_label()
                        ),
                        *name_span,
                    )
                })?
            }
            ExprKind::MethodCall {
                target,
                name,
                name_span,
                args,
            } => {
                let t = self.expr(target)?;
                let mut vals = Vec::new();
                for a in args {
                    vals.push(self.expr(a)?);
                }
                method(&t, name, &vals).map_err(|m| RuntimeError::msg(m, *name_span))?
            }
            ExprKind::Index { target, index } => {
                let t = self.expr(target)?;
                let i = self.expr(index)?;
                index_value(&t, &i)
            }
            ExprKind::Unary {
                op,
                operand,
                op_span,
            } => {
                let v = self.expr(operand)?;
                match op {
                    UnaryOp::Not => Value::Bool(!v.truthy()),
                    UnaryOp::Negate => match v {
                        Value::Int(i) => Value::Int(
                            i.checked_neg()
                                .ok_or_else(|| RuntimeError::msg("number too large", *op_span))?,
                        ),
                        Value::Float(f) => Value::Float(-f),
                        Value::TimeSpan(d) => Value::TimeSpan(-d),
                        other => {
                            return Err(RuntimeError::msg(
                                format!("cannot negate a {}", other.type_label()),
                                *op_span,
                            ));
                        }
                    },
                }
            }
            ExprKind::Binary {
                op,
                op_span,
                lhs,
                rhs,
            } => {
                // -and / -or short-circuit.
                match op {
                    BinaryOp::And => {
                        let l = self.expr(lhs)?;
                        return Ok(Value::Bool(l.truthy() && self.expr(rhs)?.truthy()));
                    }
                    BinaryOp::Or => {
                        let l = self.expr(lhs)?;
                        return Ok(Value::Bool(l.truthy() || self.expr(rhs)?.truthy()));
                    }
                    _ => {}
                }
                let l = self.expr(lhs)?;
                let r = self.expr(rhs)?;
                compare::binary(*op, &l, &r).map_err(|m| RuntimeError::msg(m, *op_span))?
            }
            ExprKind::Array(items) => {
                let mut out = Vec::new();
                for i in items {
                    out.push(self.expr(i)?);
                }
                Value::List(out)
            }
            ExprKind::ArraySubexpression(s) => Value::List(self.script_values(s)?),
            ExprKind::Subexpression(s) => collapse(self.script_values(s)?),
            ExprKind::Paren(st) => collapse(self.statement(st)?),
            ExprKind::Hashtable(entries) => {
                let mut m = Vec::new();
                for en in entries {
                    let k = display_in_string(&self.expr(&en.key)?);
                    let v = collapse(self.pipeline(&en.value)?);
                    m.push((k, v));
                }
                Value::Map(m)
            }
            ExprKind::ScriptBlock(_) => {
                return Err(RuntimeError::msg(
                    "a script block { ... } can only be given to Where-Object or ForEach-Object",
                    e.span,
                ));
            }
        })
    }

    fn script_values(&mut self, s: &Script) -> R<Vec<Value>> {
        let mut out = Vec::new();
        for st in &s.statements {
            out.extend(self.statement(st)?);
        }
        Ok(out)
    }

    fn lookup(&self, name: &str, span: Span) -> R<Value> {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "true" => return Ok(Value::Bool(true)),
            "false" => return Ok(Value::Bool(false)),
            "null" => return Ok(Value::Null),
            _ => {}
        }
        if let Some(env) = lower.strip_prefix("env:") {
            let _ = env;
            return Ok(std::env::var(&name[4..])
                .map(Value::Str)
                .unwrap_or(Value::Null));
        }
        match self.vars.get(&lower) {
            Some(v) => Ok(v.clone()),
            // PowerShell yields $null for an unset variable; a typo then binds
            // nothing silently. Be stricter: scripts are provisioning code.
            None => Err(RuntimeError::msg(
                format!("the variable '${name}' is not set"),
                span,
            )),
        }
    }

    /// Runs a script block with `$_` set (Where-Object, ForEach-Object).
    pub fn run_block(&mut self, block: &Script, item: &Value) -> R<Vec<Value>> {
        let saved = self.vars.insert("_".into(), item.clone());
        let r = self.script_values(block);
        match saved {
            Some(v) => self.vars.insert("_".into(), v),
            None => self.vars.remove("_"),
        };
        r
    }
}

/// Resolves every command name in the script before anything runs, so that a
/// typo on line 20 does not leave lines 1-19 applied.
pub fn check_commands(root: &Script) -> R<()> {
    fn script(s: &Script) -> R<()> {
        s.statements.iter().try_for_each(statement)
    }
    fn statement(st: &Statement) -> R<()> {
        match &st.kind {
            StatementKind::Pipeline(p) => pipeline(p),
            StatementKind::Assignment(a) => {
                expr(&a.target)?;
                pipeline(&a.value)
            }
        }
    }
    fn pipeline(p: &Pipeline) -> R<()> {
        for el in &p.elements {
            match el {
                PipelineElement::Expression(e) => expr(e)?,
                PipelineElement::Command(c) => {
                    if builtins::find(&c.name.text).is_none()
                        && xshell_cmdlets::find(&c.name.text).is_none()
                    {
                        let hint = if c.name.text.contains('.') || !c.name.text.contains('-') {
                            format!(" (to pass text, quote it: \"{}\")", c.name.text)
                        } else {
                            String::new()
                        };
                        return Err(RuntimeError::new(
                            CmdletError::Usage(format!(
                                "the term '{}' is not recognized as a cmdlet; Get-Command lists them{hint} (nothing was run)",
                                c.name.text
                            )),
                            c.name.span,
                        ));
                    }
                    for a in &c.args {
                        match a {
                            AstArg::Parameter {
                                colon_value: Some(e),
                                ..
                            }
                            | AstArg::Value(e) => expr(e)?,
                            AstArg::Parameter { .. } => {}
                        }
                    }
                }
            }
        }
        Ok(())
    }
    fn expr(e: &Expr) -> R<()> {
        match &e.kind {
            ExprKind::Expandable { parts, .. } => parts.iter().try_for_each(|p| match p {
                StringPart::Expr(x) => expr(x),
                StringPart::Literal(_) => Ok(()),
            }),
            ExprKind::Member { target, .. } => expr(target),
            ExprKind::MethodCall { target, args, .. } => {
                expr(target)?;
                args.iter().try_for_each(expr)
            }
            ExprKind::Index { target, index } => {
                expr(target)?;
                expr(index)
            }
            ExprKind::Unary { operand, .. } => expr(operand),
            ExprKind::Binary { lhs, rhs, .. } => {
                expr(lhs)?;
                expr(rhs)
            }
            ExprKind::Array(items) => items.iter().try_for_each(expr),
            ExprKind::ArraySubexpression(s)
            | ExprKind::Subexpression(s)
            | ExprKind::ScriptBlock(s) => script(s),
            ExprKind::Paren(st) => statement(st),
            ExprKind::Hashtable(entries) => entries.iter().try_for_each(|en| {
                expr(&en.key)?;
                pipeline(&en.value)
            }),
            _ => Ok(()),
        }
    }
    script(root)
}

fn is_constant(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "true" | "false" | "null" | "_"
    )
}

fn is_error_action(name: &str) -> bool {
    name.eq_ignore_ascii_case("ErrorAction") || name.eq_ignore_ascii_case("EA")
}

/// The -ErrorAction a statement asks for (on any command of its pipeline).
fn statement_error_action(st: &Statement) -> ErrorAction {
    let p = match &st.kind {
        StatementKind::Pipeline(p) => p,
        StatementKind::Assignment(a) => &a.value,
    };
    for el in &p.elements {
        if let PipelineElement::Command(c) = el {
            let mut it = c.args.iter();
            while let Some(a) = it.next() {
                if let AstArg::Parameter {
                    name, colon_value, ..
                } = a
                    && is_error_action(name)
                {
                    let v = match colon_value {
                        Some(e) => Some(e),
                        None => match it.next() {
                            Some(AstArg::Value(e)) => Some(e),
                            _ => None,
                        },
                    };
                    if let Some(Expr {
                        kind: ExprKind::String { value, .. },
                        ..
                    }) = v
                    {
                        match value.to_ascii_lowercase().as_str() {
                            "continue" => return ErrorAction::Continue,
                            "silentlycontinue" | "ignore" => return ErrorAction::SilentlyContinue,
                            _ => return ErrorAction::Stop,
                        }
                    }
                }
            }
        }
    }
    ErrorAction::Stop
}

/// One value for zero (`$null`), one (itself) or many (a list) outputs.
pub fn collapse(mut values: Vec<Value>) -> Value {
    match values.len() {
        0 => Value::Null,
        1 => values.remove(0),
        _ => Value::List(values),
    }
}

/// A value entering a pipeline: a list is enumerated.
pub fn flatten(v: Value) -> Vec<Value> {
    match v {
        Value::List(items) => items,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// How a value reads inside a double-quoted string.
pub fn display_in_string(v: &Value) -> String {
    match v {
        Value::List(items) => items
            .iter()
            .map(display_in_string)
            .collect::<Vec<_>>()
            .join(" "),
        // As PowerShell converts a date to text: the invariant culture.
        Value::Date(t) => {
            xshell_cmdlets::datetime::format(*t, "MM/dd/yyyy HH:mm:ss").unwrap_or_default()
        }
        other => other.to_string(),
    }
}
