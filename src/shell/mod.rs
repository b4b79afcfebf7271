//! The shell-language runtime: evaluates the syntax tree of [`crate::lang`]
//! against the cmdlet catalogue. Cmdlets are bound through the same binder as
//! the CLI (`xshell_cmdlets::bind`), so both front ends behave alike.

mod builtins;
mod compare;
pub mod errors;
pub mod prompt;

use crate::lang::{
    self, Arg as AstArg, BinaryOp, Command, Expr, ExprKind, Number, Pipeline, PipelineElement,
    Script, Span, Statement, StatementKind, StringPart, UnaryOp,
};
use errors::CommonParam;
use std::collections::HashMap;
use std::io::Write;
use xshell_cmdlets::bind::{self, Source, Token};
use xshell_cmdlets::format::{self, Format};
use xshell_cmdlets::{CmdletError, Host, Value};
use xshell_core::store::Store;

pub use errors::{ErrorAction, Flow};

/// A runtime failure, located in the source; or a control-flow jump
/// (`break`, `continue`, `return`, closed output) on its way up.
#[derive(Debug)]
pub struct RuntimeError {
    pub error: CmdletError,
    pub span: Span,
    /// The cmdlet that failed, if any.
    pub cmdlet: Option<&'static str>,
    /// An error, or which jump this is.
    pub flow: Flow,
    /// Never handled by -ErrorAction (parameter binding, script errors):
    /// the statement fails and the script stops unless a `try` catches it.
    pub terminating: bool,
    /// What `throw` threw, boxed to keep the error small.
    pub thrown: Option<Box<Thrown>>,
}

impl RuntimeError {
    /// An error; a usage error is terminating (see [`RuntimeError::terminating`]).
    pub fn new(error: CmdletError, span: Span) -> RuntimeError {
        RuntimeError {
            terminating: matches!(error, CmdletError::Usage(_)),
            error,
            span,
            cmdlet: None,
            flow: Flow::Error,
            thrown: None,
        }
    }
    pub fn msg(message: impl Into<String>, span: Span) -> RuntimeError {
        RuntimeError::new(CmdletError::Failed(message.into()), span)
    }
    /// A control-flow jump (not an error).
    pub fn jump(flow: Flow, span: Span) -> RuntimeError {
        RuntimeError {
            flow,
            ..RuntimeError::msg("", span)
        }
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

/// What `throw` threw: the object (the record's TargetObject), and the
/// error record itself when one is rethrown (`throw $_` in `catch`).
#[derive(Debug, Clone)]
pub struct Thrown {
    pub value: Value,
    pub record: Option<Value>,
}

type R<T> = Result<T, RuntimeError>;

/// Guards against runaway recursion through script blocks and subexpressions.
const MAX_EVAL_DEPTH: usize = 100;

/// The variable holding the default error action.
const PREFERENCE: &str = "erroractionpreference";

/// An interpreter session: variables persist across scripts run in it (the
/// interactive prompt runs each line as a script).
pub struct Shell<'a> {
    pub store: &'a Store,
    pub host: &'a mut dyn Host,
    pub format: Format,
    vars: HashMap<String, Value>,
    out: &'a mut dyn Write,
    depth: usize,
    /// Errors reported and continued past (-ErrorAction Continue): the
    /// script still ends with a non-zero exit code.
    pub continued_errors: usize,
    /// The highest exit code of the errors continued past.
    continued_exit: i32,
    /// `$Error`: error records, newest first.
    errors: Vec<Value>,
    /// Errors handled without stopping (any action): `$?` turns false.
    handled_errors: usize,
    /// `$?`: whether the last statement succeeded.
    last_ok: bool,
    /// Standard output was closed: nothing more is run.
    output_closed: bool,
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
        let mut vars = HashMap::new();
        vars.insert(PREFERENCE.to_string(), Value::Str("Stop".into()));
        Shell {
            store,
            host,
            format,
            vars,
            out,
            depth: 0,
            continued_errors: 0,
            continued_exit: 0,
            errors: Vec::new(),
            handled_errors: 0,
            last_ok: true,
            output_closed: false,
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

    /// The exit code the errors continued past call for: 0 if none.
    pub fn continued_exit_code(&self) -> i32 {
        self.continued_exit
    }

    /// Runs a parsed script: each top-level statement's output is written in
    /// the shell's format. A terminating error (by default, any error: see
    /// [`errors`]) stops the script and is returned, after being recorded in
    /// `$Error`. Errors continued past are shown as they happen and counted
    /// in [`Shell::continued_exit_code`]. A closed standard output stops the
    /// script quietly.
    pub fn run(
        &mut self,
        script: &Script,
        source_name: &str,
        source: &str,
    ) -> Result<(), RuntimeError> {
        self.source_name = source_name.to_string();
        self.source = source.to_string();
        check_commands(script)?;
        self.output_closed = false;
        for st in &script.statements {
            let r = self.statement(st).and_then(|values| self.emit(&values));
            match r {
                Ok(()) => {}
                Err(e) => match e.flow {
                    // `break`/`continue` outside a loop and `return` end the script.
                    Flow::Break | Flow::Continue | Flow::Return => return Ok(()),
                    Flow::OutputClosed => {
                        self.output_closed = true;
                        return Ok(());
                    }
                    Flow::Error => {
                        self.record_error(&e);
                        return Err(e);
                    }
                },
            }
        }
        Ok(())
    }

    fn emit(&mut self, values: &[Value]) -> R<()> {
        if values.is_empty() {
            return Ok(());
        }
        // Text already formatted (Format-List, ConvertTo-Json) prints as is,
        // and an error record as its message.
        let text = if values
            .iter()
            .all(|v| matches!(v, Value::Str(_)) || is_error_record(v))
            && self.format != Format::Json
        {
            values
                .iter()
                .map(|v| match v {
                    Value::Object(o) => format!("{}\n", errors::record_text(o).unwrap_or_default()),
                    other => format!("{}\n", display_in_string(other)),
                })
                .collect::<String>()
        } else {
            format::render(values, self.format)
        };
        let written = self
            .out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush());
        match written {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                Err(RuntimeError::jump(Flow::OutputClosed, Span::new(0, 0)))
            }
            Err(e) => Err(RuntimeError::msg(
                format!("cannot write the output: {e}"),
                Span::new(0, 0),
            )),
        }
    }

    /// Adds an error's record to `$Error` (newest first; at most 256 kept).
    fn record_error(&mut self, e: &RuntimeError) -> Value {
        let record = errors::error_record(e, &self.source_name, &self.source);
        self.errors.insert(0, record.clone());
        self.errors.truncate(256);
        record
    }

    /// The default error action: `$ErrorActionPreference`.
    fn preference(&self, span: Span) -> R<ErrorAction> {
        match self.vars.get(PREFERENCE) {
            None | Some(Value::Null) => Ok(ErrorAction::Stop),
            Some(v) => ErrorAction::parse(v, "$ErrorActionPreference")
                .map_err(|m| RuntimeError::new(CmdletError::Usage(m), span)),
        }
    }

    /// Runs one statement and sets `$?`.
    fn statement(&mut self, st: &Statement) -> R<Vec<Value>> {
        let before = self.handled_errors;
        let r = self.statement_inner(st);
        self.last_ok = match &r {
            Ok(_) => self.handled_errors == before,
            Err(e) => e.flow != Flow::Error,
        };
        r
    }

    fn statement_inner(&mut self, st: &Statement) -> R<Vec<Value>> {
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
                        if name.eq_ignore_ascii_case(PREFERENCE) {
                            ErrorAction::parse(&v, "$ErrorActionPreference").map_err(|m| {
                                RuntimeError::new(CmdletError::Usage(m), a.value.span)
                            })?;
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

    /// Runs a command with optional pipeline input (None: first stage),
    /// applying the common parameters (-ErrorAction, -ErrorVariable,
    /// -OutVariable, -WarningAction, -WarningVariable, -Verbose, -Debug, ...),
    /// which neither the binder nor a builtin sees.
    fn command(&mut self, c: &Command, input: Option<Vec<Value>>) -> R<Vec<Value>> {
        let (common, rest) = errors::split_common(&c.args);
        let mut opts = CommonOptions::default();
        for (p, arg, value) in common {
            let v = match value {
                Some(e) => self.expr(e)?,
                None if p.is_switch() => continue,
                None => {
                    let name = match arg {
                        AstArg::Parameter { name, .. } => name.as_str(),
                        AstArg::Value(_) => "",
                    };
                    return Err(RuntimeError::new(
                        CmdletError::Usage(format!("missing an argument for parameter '{name}'")),
                        arg.span(),
                    ));
                }
            };
            let span = value.map_or(arg.span(), |e| e.span);
            let action = |what: &str| {
                ErrorAction::parse(&v, what)
                    .map_err(|m| RuntimeError::new(CmdletError::Usage(m), span))
            };
            match p {
                CommonParam::ErrorAction => opts.error_action = Some(action("-ErrorAction")?),
                CommonParam::WarningAction => opts.warning_action = Some(action("-WarningAction")?),
                CommonParam::InformationAction => {
                    action("-InformationAction")?;
                }
                CommonParam::ErrorVariable => {
                    opts.error_variable = Some(errors::variable_target(&v));
                }
                CommonParam::OutVariable => opts.out_variable = Some(errors::variable_target(&v)),
                CommonParam::WarningVariable => {
                    opts.warning_variable = Some(errors::variable_target(&v));
                }
                _ => {}
            }
        }
        let action = match opts.error_action {
            Some(a) => a,
            None => self.preference(c.name.span)?,
        };
        let stripped = Command {
            name: c.name.clone(),
            args: rest,
            span: c.span,
        };
        let mut records = Vec::new();
        let mut warnings = Vec::new();
        let r = self.command_body(&stripped, input, action, &opts, &mut records, &mut warnings);
        if let Some((name, append)) = &opts.error_variable {
            self.set_list_var(name, *append, records);
        }
        if let Some((name, append)) = &opts.warning_variable {
            self.set_list_var(
                name,
                *append,
                warnings.into_iter().map(Value::Str).collect(),
            );
        }
        let out = r?;
        if let Some((name, append)) = &opts.out_variable {
            self.set_list_var(name, *append, out.clone());
        }
        Ok(out)
    }

    /// Sets `name` to `values` (one value as itself), or appends them.
    fn set_list_var(&mut self, name: &str, append: bool, values: Vec<Value>) {
        let values = if append {
            let mut old = match self.var(name) {
                Some(v) => flatten(v.clone()),
                None => Vec::new(),
            };
            old.extend(values);
            old
        } else {
            values
        };
        self.set_var(name, Value::List(values));
    }

    /// Handles a command's error by `action`: returns it if it stops the
    /// statement, else records (and for Continue shows) it.
    fn command_error(
        &mut self,
        e: RuntimeError,
        action: ErrorAction,
        records: &mut Vec<Value>,
    ) -> R<()> {
        if e.flow != Flow::Error {
            return Err(e);
        }
        if e.terminating || action == ErrorAction::Stop {
            records.push(errors::error_record(&e, &self.source_name, &self.source));
            return Err(e);
        }
        self.handled_errors += 1;
        if action == ErrorAction::Ignore {
            return Ok(());
        }
        records.push(self.record_error(&e));
        if action == ErrorAction::Continue {
            self.continued_errors += 1;
            self.continued_exit = self.continued_exit.max(e.exit_code());
            crate::cli::write_err(&e.render(&self.source_name, &self.source));
        }
        Ok(())
    }

    fn command_body(
        &mut self,
        c: &Command,
        input: Option<Vec<Value>>,
        action: ErrorAction,
        opts: &CommonOptions,
        records: &mut Vec<Value>,
        warnings: &mut Vec<String>,
    ) -> R<Vec<Value>> {
        if let Some(b) = builtins::find(&c.name.text) {
            let r = b(self, c, input).map_err(|mut e| {
                if e.cmdlet.is_none() {
                    e.cmdlet = Some(builtins::canonical(&c.name.text));
                }
                e
            });
            return match r {
                Ok(v) => Ok(v),
                Err(e) => {
                    self.command_error(e, action, records)?;
                    Ok(Vec::new())
                }
            };
        }
        let Some(decl) = xshell_cmdlets::find(&c.name.text) else {
            return Err(RuntimeError::new(
                CmdletError::Usage(format!(
                    "the term '{}' is not recognized as a cmdlet; Get-Command lists them{}",
                    c.name.text,
                    self.command_suggestion(&c.name.text)
                )),
                c.name.span,
            ));
        };
        // Binding errors stop the statement whatever -ErrorAction says.
        let binding = |e: CmdletError| RuntimeError {
            cmdlet: Some(decl.name),
            terminating: true,
            ..RuntimeError::new(errors::strip_cmdlet_prefix(e, decl.name), c.name.span)
        };
        for a in &c.args {
            if let AstArg::Parameter {
                name, name_span, ..
            } = a
                && let Some(message) = unknown_parameter(decl, name)
            {
                let e = RuntimeError {
                    span: *name_span,
                    ..binding(CmdletError::Usage(message))
                };
                records.push(errors::error_record(&e, &self.source_name, &self.source));
                return Err(e);
            }
        }
        let tokens = self.tokens(c)?;
        let mut out = Vec::new();
        let items = match input {
            None => vec![None],
            Some(items) => items.into_iter().map(Some).collect(),
        };
        let named = match bind::name_tokens(decl, tokens) {
            Ok(n) => n,
            Err(e) => {
                let e = binding(e);
                records.push(errors::error_record(&e, &self.source_name, &self.source));
                return Err(e);
            }
        };
        for item in items {
            let b = match bind::bind(decl, named.clone(), item.as_ref(), Source::Shell) {
                Ok(b) => b,
                Err(e) => {
                    let e = binding(e);
                    records.push(errors::error_record(&e, &self.source_name, &self.source));
                    return Err(e);
                }
            };
            let mut host = WarningHost {
                inner: &mut *self.host,
                action: opts.warning_action.unwrap_or(ErrorAction::Continue),
                captured: warnings,
            };
            let before = host.captured.len();
            let r = xshell_cmdlets::invoke(decl, self.store, &mut host, &b);
            let warned = host.captured.len() > before;
            let r = match r {
                Ok(_) if warned && opts.warning_action == Some(ErrorAction::Stop) => {
                    Err(CmdletError::Failed(format!(
                        "the running command stopped because -WarningAction is Stop: {}",
                        warnings.last().map_or("", String::as_str)
                    )))
                }
                other => other,
            };
            match r {
                Ok(values) => out.extend(values),
                Err(e) => {
                    let e = RuntimeError {
                        cmdlet: Some(decl.name),
                        ..RuntimeError::new(errors::strip_cmdlet_prefix(e, decl.name), c.name.span)
                    };
                    self.command_error(e, action, records)?;
                }
            }
        }
        Ok(out)
    }

    /// `; did you mean X?` for an unknown command name.
    fn command_suggestion(&self, name: &str) -> String {
        command_suggestion(name)
    }

    /// Evaluates a command's arguments into binder tokens.
    fn tokens(&mut self, c: &Command) -> R<Vec<Token>> {
        let mut tokens = Vec::new();
        for a in &c.args {
            match a {
                AstArg::Parameter {
                    name, colon_value, ..
                } => {
                    let value = match colon_value {
                        Some(e) => Some(self.expr(e)?),
                        None => None,
                    };
                    tokens.push(Token::Param {
                        name: name.clone(),
                        value,
                    });
                }
                AstArg::Value(e) => tokens.push(Token::Value(self.expr(e)?)),
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
                    Value::Str(f.to_string())
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
                if let ExprKind::Variable { name: var } = &target.kind
                    && var.eq_ignore_ascii_case("Error")
                    && name.eq_ignore_ascii_case("Clear")
                    && args.is_empty()
                {
                    self.errors.clear();
                    return Ok(Value::Null);
                }
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
        match lower.as_str() {
            "?" => return Ok(Value::Bool(self.last_ok)),
            "error" => return Ok(Value::List(self.errors.clone())),
            _ => {}
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
                                "the term '{}' is not recognized as a cmdlet; Get-Command lists them{hint}{} (nothing was run)",
                                c.name.text,
                                command_suggestion(&c.name.text)
                            )),
                            c.name.span,
                        ));
                    }
                    check_common_literals(c)?;
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

/// Checks -ErrorAction/-WarningAction values written as literals, so that
/// `-ErrorAction Bogus` fails before anything runs.
fn check_common_literals(c: &Command) -> R<()> {
    let (common, _) = errors::split_common(&c.args);
    for (p, _, value) in common {
        if !p.is_action() {
            continue;
        }
        let v = match value.map(|e| (&e.kind, e.span)) {
            Some((ExprKind::String { value, .. }, span)) => (Value::Str(value.clone()), span),
            Some((ExprKind::Number(Number::Int(i)), span)) => (Value::Int(*i), span),
            _ => continue,
        };
        let what = match p {
            CommonParam::ErrorAction => "-ErrorAction",
            CommonParam::WarningAction => "-WarningAction",
            _ => "-InformationAction",
        };
        ErrorAction::parse(&v.0, what)
            .map_err(|m| RuntimeError::new(CmdletError::Usage(m), v.1))?;
    }
    Ok(())
}

fn is_constant(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "true" | "false" | "null" | "_" | "?" | "error"
    )
}

/// The values of the common parameters a command was given.
#[derive(Debug, Default)]
struct CommonOptions {
    error_action: Option<ErrorAction>,
    warning_action: Option<ErrorAction>,
    error_variable: Option<(String, bool)>,
    out_variable: Option<(String, bool)>,
    warning_variable: Option<(String, bool)>,
}

/// The host a cmdlet runs with: its warnings go to -WarningVariable and, by
/// -WarningAction, to the real host.
struct WarningHost<'h> {
    inner: &'h mut dyn Host,
    action: ErrorAction,
    captured: &'h mut Vec<String>,
}

impl Host for WarningHost<'_> {
    fn interactive(&self) -> bool {
        self.inner.interactive()
    }
    fn confirm(
        &mut self,
        caption: &str,
        message: &str,
    ) -> Result<xshell_cmdlets::context::Answer, CmdletError> {
        self.inner.confirm(caption, message)
    }
    fn read_secret(&mut self, prompt: &str) -> Result<String, CmdletError> {
        self.inner.read_secret(prompt)
    }
    fn warn(&mut self, message: &str) {
        if self.action != ErrorAction::Ignore {
            self.captured.push(message.to_string());
        }
        if matches!(self.action, ErrorAction::Continue | ErrorAction::Stop) {
            self.inner.warn(message);
        }
    }
    fn info(&mut self, message: &str) {
        self.inner.info(message);
    }
}

/// The message for a parameter name that matches none of the cmdlet's
/// parameters (not even as a prefix), with the nearest one; None if it
/// matches (the binder then resolves it, or reports an ambiguous prefix).
fn unknown_parameter(decl: &xshell_cmdlets::decl::CmdletDecl, name: &str) -> Option<String> {
    let all = decl.all_params();
    let lower = name.to_ascii_lowercase();
    let names = || {
        all.iter()
            .flat_map(|p| std::iter::once(p.name).chain(p.aliases.iter().copied()))
    };
    if names().any(|n| n.to_ascii_lowercase().starts_with(&lower)) {
        return None;
    }
    Some(format!(
        "a parameter cannot be found that matches parameter name '{name}'{}",
        crate::suggest::did_you_mean(name, names(), "-")
    ))
}

/// `; did you mean X?` for an unknown command name: the nearest cmdlet,
/// builtin or alias.
fn command_suggestion(name: &str) -> String {
    let cmdlets = xshell_cmdlets::CATALOGUE.iter().map(|d| d.name);
    let builtins = builtins::BUILTINS
        .iter()
        .flat_map(|(n, aliases, _, _)| std::iter::once(*n).chain(aliases.iter().copied()))
        .filter(|n| n.len() > 2);
    crate::suggest::did_you_mean(name, cmdlets.chain(builtins), "")
}

fn is_error_record(v: &Value) -> bool {
    matches!(v, Value::Object(o) if o.type_name == errors::ERROR_RECORD)
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
        // An error record reads as its message, as PowerShell's ToString().
        Value::Object(o) if o.type_name == errors::ERROR_RECORD => match o.get("Exception") {
            Some(Value::Object(ex)) => ex.get("Message").map(Value::to_string).unwrap_or_default(),
            _ => String::new(),
        },
        other => other.to_string(),
    }
}

/// `$x.Name`: an object's property, a hashtable key, member enumeration over
/// a list, `Count`/`Length`.
pub fn member(v: &Value, name: &str) -> Option<Value> {
    match v {
        Value::Object(o) => o
            .get(name)
            .cloned()
            .or_else(|| name.eq_ignore_ascii_case("Count").then_some(Value::Int(1))),
        Value::Map(m) => m
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone()),
        Value::List(items) => {
            if name.eq_ignore_ascii_case("Count") || name.eq_ignore_ascii_case("Length") {
                return Some(Value::Int(items.len() as i64));
            }
            let vals: Vec<Value> = items.iter().filter_map(|i| member(i, name)).collect();
            Some(collapse(vals))
        }
        Value::Str(s) if name.eq_ignore_ascii_case("Length") => {
            Some(Value::Int(s.chars().count() as i64))
        }
        Value::Null => Some(Value::Null),
        _ => None,
    }
}

fn method(v: &Value, name: &str, args: &[Value]) -> Result<Value, String> {
    let s = || display_in_string(v);
    match (name.to_ascii_lowercase().as_str(), args) {
        ("tostring", []) => Ok(Value::Str(s())),
        ("toupper", []) => Ok(Value::Str(s().to_uppercase())),
        ("tolower", []) => Ok(Value::Str(s().to_lowercase())),
        ("trim", []) => Ok(Value::Str(s().trim().to_string())),
        ("contains", [x]) => Ok(Value::Bool(s().contains(&display_in_string(x)))),
        ("startswith", [x]) => Ok(Value::Bool(s().starts_with(&display_in_string(x)))),
        ("endswith", [x]) => Ok(Value::Bool(s().ends_with(&display_in_string(x)))),
        _ => Err(format!(
            "method '{name}' with {} argument(s) is not supported by xshell",
            args.len()
        )),
    }
}

fn index_value(t: &Value, i: &Value) -> Value {
    match (t, i) {
        (Value::List(items), Value::Int(n)) => {
            let len = items.len() as i64;
            let k = if *n < 0 { len + n } else { *n };
            usize::try_from(k)
                .ok()
                .and_then(|k| items.get(k))
                .cloned()
                .unwrap_or(Value::Null)
        }
        (Value::Map(_) | Value::Object(_), key) => {
            member(t, &display_in_string(key)).unwrap_or(Value::Null)
        }
        (other, Value::Int(0)) => other.clone(),
        _ => Value::Null,
    }
}
