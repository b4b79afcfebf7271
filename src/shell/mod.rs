//! The shell-language runtime: evaluates the syntax tree of [`crate::lang`]
//! against the cmdlet catalogue. Cmdlets are bound through the same binder as
//! the CLI (`xshell_cmdlets::bind`), so both front ends behave alike.

mod builtins;
mod compare;
pub mod date;
pub mod errors;
mod members;
pub mod ops;
pub mod prompt;
mod typed;

#[cfg(test)]
mod tests;

use crate::lang::{
    self, Arg as AstArg, AssignOp, BinaryOp, Catch, Command, CompareOp, Expr, ExprKind,
    FunctionDef, Number, Pipeline, PipelineElement, RedirectTarget, Script, Span, Statement,
    StatementKind, Stream, StringPart, SwitchClause, SwitchMode, UnaryOp,
};
use errors::CommonParam;
use std::collections::HashMap;
use std::io::Write;
use std::rc::Rc;
use xshell_cmdlets::bind::{self, Source, Token};
use xshell_cmdlets::format::{self, Format};
use xshell_cmdlets::{CmdletError, Host, Value};
use xshell_core::store::Store;

pub use members::member;
use members::{index_value, method};

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
    /// Variable scopes: the script's, then one per function call.
    scopes: Vec<HashMap<String, Value>>,
    /// Functions defined by `function`, by lowercase name.
    /// Functions defined by `function`, by lowercase name, with the source
    /// text they were defined in (errors are located in it).
    functions: HashMap<String, Rc<(FunctionDef, Rc<str>)>>,
    /// `exit N` was run.
    exit_code: Option<i32>,
    /// Error records captured by `2>` redirections, innermost last.
    err_redirects: Vec<Vec<Value>>,
    /// Inside a `3>$null` / `*>$null`: warnings are dropped.
    warnings_silenced: usize,
    /// Inside a `try` body: statement errors go to its catch.
    try_depth: usize,
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
    /// The script assigned `$ErrorActionPreference` (a failed Test- verdict
    /// stops only then, or with -ErrorAction Stop).
    preference_set: bool,
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
            scopes: vec![vars],
            functions: HashMap::new(),
            exit_code: None,
            err_redirects: Vec::new(),
            warnings_silenced: 0,
            try_depth: 0,
            out,
            depth: 0,
            continued_errors: 0,
            continued_exit: 0,
            errors: Vec::new(),
            handled_errors: 0,
            last_ok: true,
            preference_set: false,
            source_name: String::new(),
            source: String::new(),
        }
    }

    /// Sets a variable in the current scope (`$script:x` / `$global:x`: in
    /// the script's).
    pub fn set_var(&mut self, name: &str, v: Value) {
        let lower = name.to_ascii_lowercase();
        let (scope, key) = match lower.split_once(':') {
            Some(("script" | "global", rest)) => (0, rest.to_string()),
            Some(("local", rest)) => (self.scopes.len() - 1, rest.to_string()),
            _ => (self.scopes.len() - 1, lower),
        };
        if let Some(vars) = self.scopes.get_mut(scope) {
            vars.insert(key, v);
        }
    }

    /// A variable, from the innermost scope that has it.
    pub fn var(&self, name: &str) -> Option<&Value> {
        let lower = name.to_ascii_lowercase();
        let key = match lower.split_once(':') {
            Some(("script" | "global", rest)) => {
                return self.scopes.first().and_then(|v| v.get(rest));
            }
            Some(("local", rest)) => rest,
            _ => lower.as_str(),
        };
        self.scopes.iter().rev().find_map(|v| v.get(key))
    }

    /// The code of an `exit` that ran, if any (the prompt then ends).
    pub fn exit_requested(&self) -> Option<i32> {
        self.exit_code
    }

    /// The exit code the script asks for: `exit N`, else 1 if errors were
    /// continued past (-ErrorAction Continue), else 0.
    pub fn continued_exit_code(&self) -> i32 {
        self.exit_code.unwrap_or(self.continued_exit)
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
        let known: Vec<String> = self.functions.keys().cloned().collect();
        check_commands_with(script, &known)?;
        for st in &script.statements {
            // Output before an error is still shown.
            let mut values = Vec::new();
            let r = self.statement_into(st, &mut values);
            // The statement's own error, if any, wins over a closed output.
            let emitted = self.emit(&values);
            let r = r.and(emitted);
            match r {
                Ok(()) => {}
                Err(e) => match e.flow {
                    // `break`/`continue` outside a loop, `return` and `exit` end the script.
                    Flow::Break | Flow::Continue | Flow::Return | Flow::Exit => return Ok(()),
                    Flow::OutputClosed => return Ok(()),
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
        let text = self.render(values);
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

    /// Values as the shell prints them: text already formatted (Format-List,
    /// ConvertTo-Json) as is, an error record as its message, objects in the
    /// shell's format.
    fn render(&self, values: &[Value]) -> String {
        if values.is_empty() {
            return String::new();
        }
        if values
            .iter()
            .all(|v| matches!(v, Value::Str(_)) || is_error_record(v))
            && self.format != Format::Json
        {
            values
                .iter()
                .map(|v| format!("{}\n", value_line(v)))
                .collect()
        } else {
            format::render(values, self.format)
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
        match self.var(PREFERENCE) {
            None | Some(Value::Null) => Ok(ErrorAction::Stop),
            Some(v) => ErrorAction::parse(v, "$ErrorActionPreference")
                .map_err(|m| RuntimeError::new(CmdletError::Usage(m), span)),
        }
    }

    /// Runs one statement and returns its output.
    fn statement(&mut self, st: &Statement) -> R<Vec<Value>> {
        let mut out = Vec::new();
        self.statement_into(st, &mut out)?;
        Ok(out)
    }

    /// Runs one statement, adding its output to `out` as it comes (output
    /// before an error is kept), and sets `$?`.
    fn statement_into(&mut self, st: &Statement, out: &mut Vec<Value>) -> R<()> {
        let before = self.handled_errors;
        self.depth += 1;
        let r = if self.depth > MAX_EVAL_DEPTH {
            Err(RuntimeError::msg("too deeply nested", st.span))
        } else {
            self.statement_inner(st, out)
        };
        self.depth -= 1;
        let r = match r {
            Err(e) if self.continues_past(&e) => {
                // The statement failed; the script goes on (as PowerShell does
                // under $ErrorActionPreference = 'Continue'), the error shown.
                self.record_error(&e);
                self.handled_errors += 1;
                self.continued_errors += 1;
                self.continued_exit = self.continued_exit.max(e.exit_code());
                crate::cli::write_err(&e.render(&self.source_name, &self.source));
                Ok(())
            }
            other => other,
        };
        self.last_ok = match &r {
            Ok(()) => self.handled_errors == before,
            Err(e) => e.flow != Flow::Error,
        };
        r
    }

    /// Whether a statement's error lets the script go on: the preference is
    /// not Stop, the error was not thrown, and no `try` is waiting for it.
    fn continues_past(&self, e: &RuntimeError) -> bool {
        e.flow == Flow::Error
            && e.thrown.is_none()
            && self.try_depth == 0
            && !matches!(self.preference(e.span), Ok(ErrorAction::Stop) | Err(_))
    }

    /// Runs the statements of a block into `out`.
    fn block_into(&mut self, block: &Script, out: &mut Vec<Value>) -> R<()> {
        for st in &block.statements {
            self.statement_into(st, out)?;
        }
        Ok(())
    }

    /// The truth of a condition `( pipeline )`.
    fn condition(&mut self, p: &Pipeline) -> R<bool> {
        Ok(collapse(self.pipeline(p)?).truthy())
    }

    /// Runs a loop body: Ok(true) to go on, Ok(false) on `break`.
    fn loop_body(&mut self, body: &Script, out: &mut Vec<Value>) -> R<bool> {
        match self.block_into(body, out) {
            Ok(()) => Ok(true),
            Err(e) if e.flow == Flow::Continue => Ok(true),
            Err(e) if e.flow == Flow::Break => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn statement_inner(&mut self, st: &Statement, out: &mut Vec<Value>) -> R<()> {
        match &st.kind {
            StatementKind::Pipeline(p) => {
                out.extend(self.pipeline(p)?);
                Ok(())
            }
            StatementKind::Assignment(a) => self.assignment(a),
            StatementKind::If { clauses, else_body } => {
                for (condition, body) in clauses {
                    if self.condition(condition)? {
                        return self.block_into(body, out);
                    }
                }
                match else_body {
                    Some(body) => self.block_into(body, out),
                    None => Ok(()),
                }
            }
            StatementKind::Foreach {
                variable,
                variable_span,
                collection,
                body,
            } => {
                if is_constant(variable) {
                    return Err(RuntimeError::msg(
                        format!("cannot assign to ${variable}"),
                        *variable_span,
                    ));
                }
                for item in self.pipeline(collection)? {
                    self.set_var(variable, item);
                    if !self.loop_body(body, out)? {
                        break;
                    }
                }
                Ok(())
            }
            StatementKind::While { condition, body } => {
                while self.condition(condition)? {
                    if !self.loop_body(body, out)? {
                        break;
                    }
                }
                Ok(())
            }
            StatementKind::DoLoop {
                body,
                condition,
                until,
            } => {
                loop {
                    if !self.loop_body(body, out)? {
                        break;
                    }
                    if self.condition(condition)? == *until {
                        break;
                    }
                }
                Ok(())
            }
            StatementKind::For {
                init,
                condition,
                step,
                body,
            } => {
                if let Some(init) = init {
                    self.statement_into(init, out)?;
                }
                loop {
                    if let Some(c) = condition
                        && !self.condition(c)?
                    {
                        break;
                    }
                    if !self.loop_body(body, out)? {
                        break;
                    }
                    if let Some(step) = step {
                        self.statement_into(step, out)?;
                    }
                }
                Ok(())
            }
            StatementKind::Break => Err(RuntimeError::jump(Flow::Break, st.span)),
            StatementKind::Continue => Err(RuntimeError::jump(Flow::Continue, st.span)),
            StatementKind::Return(value) => {
                if let Some(p) = value {
                    out.extend(self.pipeline(p)?);
                }
                Err(RuntimeError::jump(Flow::Return, st.span))
            }
            StatementKind::Exit(value) => {
                let code = match value {
                    Some(p) => {
                        let v = collapse(self.pipeline(p)?);
                        match ops::cast("int", &v) {
                            Ok(Value::Int(i)) => i32::try_from(i.clamp(0, 255)).unwrap_or(1),
                            _ => {
                                return Err(RuntimeError::msg(
                                    format!("exit needs a number, not '{}'", display_in_string(&v)),
                                    p.span,
                                ));
                            }
                        }
                    }
                    None => 0,
                };
                self.exit_code = Some(code);
                Err(RuntimeError::jump(Flow::Exit, st.span))
            }
            StatementKind::Throw(value) => Err(self.throw(value.as_ref(), st.span)?),
            StatementKind::Try {
                body,
                catches,
                finally,
            } => {
                self.try_depth += 1;
                let r = self.block_into(body, out);
                self.try_depth -= 1;
                let r = match r {
                    Err(e) if e.flow == Flow::Error => {
                        let record = errors::error_record(&e, &self.source_name, &self.source);
                        match find_catch(catches, &record) {
                            Some(c) => {
                                self.errors.insert(0, record.clone());
                                self.errors.truncate(256);
                                self.run_catch(c, record, out)
                            }
                            None => Err(e),
                        }
                    }
                    other => other,
                };
                if let Some(f) = finally {
                    self.block_into(f, out)?;
                }
                r
            }
            StatementKind::Function(def) => {
                let source: Rc<str> = Rc::from(self.source.as_str());
                self.functions.insert(
                    def.name.to_ascii_lowercase(),
                    Rc::new((def.clone(), source)),
                );
                Ok(())
            }
            StatementKind::Switch {
                subject,
                mode,
                case_sensitive,
                clauses,
            } => {
                let items = self.pipeline(subject)?;
                let saved = self.var("_").cloned();
                let r = self.switch(items, *mode, *case_sensitive, clauses, out);
                match saved {
                    Some(v) => self.set_var("_", v),
                    None => {
                        if let Some(vars) = self.scopes.last_mut() {
                            vars.remove("_");
                        }
                    }
                }
                r
            }
            StatementKind::Param(params) => {
                for p in params {
                    if self.var(&p.name).is_some() {
                        continue;
                    }
                    let v = match &p.default {
                        Some(d) => self.expr(d)?,
                        None if p.switch => Value::Bool(false),
                        None => Value::Null,
                    };
                    let v = match &p.type_name {
                        Some(t) if !p.switch && v != Value::Null => {
                            ops::cast(t, &v).map_err(|m| RuntimeError::msg(m, p.span))?
                        }
                        _ => v,
                    };
                    self.set_var(&p.name, v);
                }
                Ok(())
            }
        }
    }

    /// Runs a switch over `items`: every matching clause runs (`$_` is the
    /// item), `default` when none matched; `break` ends the switch,
    /// `continue` goes to the next item.
    fn switch(
        &mut self,
        items: Vec<Value>,
        mode: SwitchMode,
        case_sensitive: bool,
        clauses: &[SwitchClause],
        out: &mut Vec<Value>,
    ) -> R<()> {
        let op = match mode {
            SwitchMode::Exact => CompareOp::Eq,
            SwitchMode::Wildcard => CompareOp::Like,
            SwitchMode::Regex => CompareOp::Match,
        };
        for item in items {
            self.set_var("_", item.clone());
            let mut matched = false;
            let mut next_item = false;
            for pass_default in [false, true] {
                if next_item || (pass_default && matched) {
                    break;
                }
                for clause in clauses {
                    let hit = match (&clause.pattern, pass_default) {
                        (None, true) => true,
                        (None, false) | (Some(_), true) => false,
                        (
                            Some(Expr {
                                kind: ExprKind::ScriptBlock(block),
                                ..
                            }),
                            false,
                        ) => {
                            let mut cond = Vec::new();
                            self.block_into(block, &mut cond)?;
                            collapse(cond).truthy()
                        }
                        (Some(pattern), false) => {
                            let p = self.expr(pattern)?;
                            let op = BinaryOp::Compare { op, case_sensitive };
                            self.arithmetic(op, &item, &p)
                                .map_err(|m| RuntimeError::msg(m, pattern.span))?
                                .truthy()
                        }
                    };
                    if !hit {
                        continue;
                    }
                    matched = true;
                    match self.block_into(&clause.body, out) {
                        Ok(()) => {}
                        Err(e) if e.flow == Flow::Break => return Ok(()),
                        Err(e) if e.flow == Flow::Continue => {
                            next_item = true;
                            break;
                        }
                        Err(e) => return Err(e),
                    }
                    // `$_` may have been changed by the body; the next clause sees the item.
                    self.set_var("_", item.clone());
                }
            }
        }
        Ok(())
    }

    /// Runs a catch block with `$_` (and `$PSItem`) set to the error record.
    fn run_catch(&mut self, c: &Catch, record: Value, out: &mut Vec<Value>) -> R<()> {
        let saved_item = self.var("_").cloned();
        let saved_ps = self.var("psitem").cloned();
        self.set_var("_", record.clone());
        self.set_var("psitem", record);
        let r = self.block_into(&c.body, out);
        for (name, saved) in [("_", saved_item), ("psitem", saved_ps)] {
            match saved {
                Some(v) => self.set_var(name, v),
                None => {
                    if let Some(vars) = self.scopes.last_mut() {
                        vars.remove(name);
                    }
                }
            }
        }
        r
    }

    /// The error `throw [value]` raises.
    fn throw(&mut self, value: Option<&Pipeline>, span: Span) -> R<RuntimeError> {
        let v = match value {
            Some(p) => collapse(self.pipeline(p)?),
            // `throw` alone: in a catch block, rethrows the error being handled.
            None => match self.var("_") {
                Some(v) if is_error_record(v) => v.clone(),
                _ => Value::Str("ScriptHalted".into()),
            },
        };
        let (message, record, cmdlet) = match &v {
            Value::Object(o) if o.type_name == errors::ERROR_RECORD => {
                let activity = match o.get("CategoryInfo") {
                    Some(Value::Object(ci)) => ci.get("Activity").map(|a| a.to_string()),
                    _ => None,
                };
                (
                    display_in_string(&v),
                    Some(v.clone()),
                    activity
                        .as_deref()
                        .and_then(|a| xshell_cmdlets::find(a).map(|d| d.name)),
                )
            }
            Value::Null => ("ScriptHalted".to_string(), None, None),
            other => (display_in_string(other), None, None),
        };
        Ok(RuntimeError {
            cmdlet,
            terminating: true,
            thrown: Some(Box::new(Thrown { value: v, record })),
            ..RuntimeError::msg(message, span)
        })
    }

    /// `target = value`, `target += value`, ...
    fn assignment(&mut self, a: &lang::Assignment) -> R<()> {
        // `$a = @('x')` keeps the array; a command's output is collected.
        let mut v = match &a.value.elements[..] {
            [PipelineElement::Expression(e)] if a.value.redirections.is_empty() => self.expr(e)?,
            _ => collapse(self.pipeline(&a.value)?),
        };
        let (target, cast) = match &a.target.kind {
            ExprKind::Cast { type_name, operand } => (operand.as_ref(), Some(type_name)),
            _ => (&a.target, None),
        };
        match &target.kind {
            // `$null = ...` discards the output.
            ExprKind::Null => Ok(()),
            ExprKind::Variable { name } => {
                if is_constant(name) {
                    return Err(RuntimeError::msg(
                        format!("cannot assign to ${name}"),
                        target.span,
                    ));
                }
                if a.op != AssignOp::Assign {
                    // As in PowerShell, `$n += 1` on an unset variable starts from $null.
                    let old = match self.var(name) {
                        Some(v) => v.clone(),
                        None => Value::Null,
                    };
                    v = self
                        .arithmetic(assign_binary(a.op), &old, &v)
                        .map_err(|m| RuntimeError::msg(m, a.op_span))?;
                }
                if let Some(t) = cast {
                    v = ops::cast(&t.name, &v).map_err(|m| RuntimeError::msg(m, a.value.span))?;
                }
                if name.eq_ignore_ascii_case(PREFERENCE) {
                    ErrorAction::parse(&v, "$ErrorActionPreference")
                        .map_err(|m| RuntimeError::new(CmdletError::Usage(m), a.value.span))?;
                    self.preference_set = true;
                }
                self.set_var(name, v);
                Ok(())
            }
            ExprKind::Member { .. } | ExprKind::Index { .. } => {
                if a.op != AssignOp::Assign {
                    let old = self.expr(target)?;
                    v = self
                        .arithmetic(assign_binary(a.op), &old, &v)
                        .map_err(|m| RuntimeError::msg(m, a.op_span))?;
                }
                if let Some(t) = cast {
                    v = ops::cast(&t.name, &v).map_err(|m| RuntimeError::msg(m, a.value.span))?;
                }
                let mut v = Some(v);
                self.update(target, &mut |slot| {
                    if let Some(v) = v.take() {
                        *slot = v;
                    }
                    Ok(())
                })
            }
            _ => Err(RuntimeError::msg(
                "only variables, hashtable keys, list items and [pscustomobject] properties can be assigned; objects are changed with Set- cmdlets",
                target.span,
            )),
        }
    }

    /// Changes the value `target` designates in place (`$h.Key`, `$h['Key']`,
    /// `$list[0]`, `$obj.Prop`, nested), writing the variable back.
    fn update(
        &mut self,
        target: &Expr,
        f: &mut dyn FnMut(&mut Value) -> Result<(), String>,
    ) -> R<()> {
        match &target.kind {
            ExprKind::Variable { name } => {
                if is_constant(name) {
                    return Err(RuntimeError::msg(
                        format!("cannot assign to ${name}"),
                        target.span,
                    ));
                }
                let mut v = self.lookup(name, target.span)?;
                f(&mut v).map_err(|m| RuntimeError::msg(m, target.span))?;
                self.set_var(name, v);
                Ok(())
            }
            ExprKind::Member {
                target: inner,
                name,
                name_span,
            } => {
                let span = *name_span;
                self.update(inner, &mut |container| {
                    let slot = member_slot(container, name)?;
                    f(slot)
                })
                .map_err(|mut e| {
                    e.span = span;
                    e
                })
            }
            ExprKind::Index {
                target: inner,
                index,
            } => {
                let i = self.expr(index)?;
                let span = index.span;
                self.update(inner, &mut |container| {
                    let slot = index_slot(container, &i)?;
                    f(slot)
                })
                .map_err(|mut e| {
                    e.span = span;
                    e
                })
            }
            _ => Err(RuntimeError::msg(
                "only variables, hashtable keys, list items and [pscustomobject] properties can be assigned",
                target.span,
            )),
        }
    }

    /// A binary operator on two values (not -and/-or).
    fn arithmetic(&mut self, op: BinaryOp, l: &Value, r: &Value) -> Result<Value, String> {
        // `$null + x` is x; in other arithmetic $null counts as 0.
        if l == &Value::Null {
            match op {
                BinaryOp::Add => return Ok(r.clone()),
                BinaryOp::Subtract
                | BinaryOp::Multiply
                | BinaryOp::Divide
                | BinaryOp::Remainder => {
                    return self.arithmetic(op, &Value::Int(0), r);
                }
                _ => {}
            }
        }
        if !matches!(l, Value::List(_))
            && let Some(v) = ops::fraction_binary(op, l, r)
        {
            return v;
        }
        match op {
            BinaryOp::Multiply => {
                if let Some(v) = ops::repeat(l, r) {
                    return v;
                }
            }
            BinaryOp::Divide => return ops::divide(l, r),
            BinaryOp::Compare {
                op: op @ (CompareOp::Match | CompareOp::NotMatch),
                case_sensitive,
            } if !matches!(l, Value::List(_)) => {
                let (matched, captures) = ops::match_captures(l, r, case_sensitive)?;
                if let Some(m) = captures {
                    self.set_var("matches", m);
                }
                return Ok(Value::Bool(matched == (op == CompareOp::Match)));
            }
            _ => {}
        }
        compare::binary(op, l, r)
    }

    fn pipeline(&mut self, p: &Pipeline) -> R<Vec<Value>> {
        self.depth += 1;
        if self.depth > MAX_EVAL_DEPTH {
            self.depth -= 1;
            return Err(RuntimeError::msg("too deeply nested", p.span));
        }
        let r = if p.redirections.is_empty() {
            self.pipeline_inner(p)
        } else {
            self.redirected(p)
        };
        self.depth -= 1;
        r
    }

    /// A pipeline with redirections: `> file`, `>> file`, `> $null`,
    /// `2>&1` (error records join the output), `2>$null`, `2> file`,
    /// `3>$null` (warnings), `*>` (all of them).
    ///
    /// A redirected error stream makes the commands' errors (not binding
    /// errors) go to it instead of stopping the script, unless a command says
    /// `-ErrorAction`: they are still recorded in `$Error` and turn `$?` false.
    fn redirected(&mut self, p: &Pipeline) -> R<Vec<Value>> {
        let mut out_target = None;
        let mut err_target = None;
        let mut silence_warnings = false;
        for r in &p.redirections {
            match r.stream {
                Stream::Output => out_target = Some(&r.target),
                Stream::Error => err_target = Some(&r.target),
                Stream::Warning => silence_warnings = true,
                Stream::All => {
                    silence_warnings = true;
                    err_target = Some(&r.target);
                    if r.target != RedirectTarget::Output {
                        out_target = Some(&r.target);
                    }
                }
            }
        }
        if err_target.is_some() {
            self.err_redirects.push(Vec::new());
        }
        if silence_warnings {
            self.warnings_silenced += 1;
        }
        let r = self.pipeline_inner(p);
        if silence_warnings {
            self.warnings_silenced -= 1;
        }
        let errs = match err_target {
            Some(_) => self.err_redirects.pop().unwrap_or_default(),
            None => Vec::new(),
        };
        let mut values = r?;
        match err_target {
            Some(RedirectTarget::Output) => values.extend(errs),
            // `*> file`: errors and output to the same file.
            Some(t @ RedirectTarget::File { .. }) if out_target == Some(t) => values.extend(errs),
            Some(RedirectTarget::File { path, append }) => {
                let text: String = errs
                    .iter()
                    .map(|e| format!("{}\n", value_line(e)))
                    .collect();
                self.write_redirect(path, *append, &text)?;
            }
            Some(RedirectTarget::Null) | None => {}
        }
        match out_target {
            Some(RedirectTarget::Null) => Ok(Vec::new()),
            Some(RedirectTarget::File { path, append }) => {
                let text = self.render(&values);
                self.write_redirect(path, *append, &text)?;
                Ok(Vec::new())
            }
            Some(RedirectTarget::Output) | None => Ok(values),
        }
    }

    /// Writes redirected text to a file (created, truncated or appended).
    fn write_redirect(&mut self, path: &Expr, append: bool, text: &str) -> R<()> {
        use std::io::Write as _;
        let v = self.expr(path)?;
        let name = ops::host_path(&v).map_err(|m| RuntimeError::msg(m, path.span))?;
        let file = if append {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&name)
        } else {
            std::fs::File::create(&name)
        };
        file.and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| RuntimeError::msg(format!("cannot write '{name}': {e}"), path.span))
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
        let has_common = c.args.iter().any(
            |a| matches!(a, AstArg::Parameter { name, .. } if CommonParam::find(name).is_some()),
        );
        let (common, rest) = if has_common {
            errors::split_common(&c.args)
        } else {
            (Vec::new(), Vec::new())
        };
        let mut opts = CommonOptions::default();
        for (p, arg, value) in common {
            if p == CommonParam::Verbose {
                opts.verbose = Some(match value {
                    Some(e) => self.expr(e)?.truthy(),
                    None => true,
                });
                continue;
            }
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
        opts.redirected = opts.error_action.is_none() && !self.err_redirects.is_empty();
        let action = match opts.error_action {
            Some(a) => a,
            None if opts.redirected => ErrorAction::SilentlyContinue,
            None => self.preference(c.name.span)?,
        };
        if opts.warning_action.is_none() && self.warnings_silenced > 0 {
            opts.warning_action = Some(ErrorAction::SilentlyContinue);
        }
        // A cmdlet that declares -Verbose itself (Send-MailMessage) gets it
        // as a switch: from -Verbose, or from $VerbosePreference = 'Continue'.
        let mut rest = rest;
        let declares_verbose = !self
            .functions
            .contains_key(&c.name.text.to_ascii_lowercase())
            && xshell_cmdlets::find(&c.name.text).is_some_and(|d| d.param("Verbose").is_some());
        let verbose_on = opts.verbose.unwrap_or_else(|| {
            self.var("VerbosePreference")
                .is_some_and(|v| display_in_string(v).eq_ignore_ascii_case("Continue"))
        });
        let add_verbose = declares_verbose && verbose_on;
        if add_verbose && !has_common {
            rest = c.args.clone();
        }
        if add_verbose {
            rest.push(AstArg::Parameter {
                name: "Verbose".into(),
                name_span: c.name.span,
                colon_value: None,
                span: c.name.span,
            });
        }
        // Without common parameters the command is used as written (no copy).
        let stripped;
        let c = if has_common || add_verbose {
            stripped = Command {
                name: c.name.clone(),
                args: rest,
                span: c.span,
            };
            &stripped
        } else {
            c
        };
        let mut records = Vec::new();
        let mut warnings = Vec::new();
        // -Verbose is $VerbosePreference for this command (Write-Verbose,
        // functions).
        let saved_verbose = opts.verbose.map(|on| {
            let saved = self.var("VerbosePreference").cloned();
            let pref = if on { "Continue" } else { "SilentlyContinue" };
            self.set_var("VerbosePreference", Value::str(pref));
            saved
        });
        let r = self.command_body(c, input, action, &opts, &mut records, &mut warnings);
        if let Some(saved) = saved_verbose {
            self.set_var("VerbosePreference", saved.unwrap_or(Value::Null));
        }
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
        redirected: bool,
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
        let record = self.record_error(&e);
        if redirected && let Some(captured) = self.err_redirects.last_mut() {
            captured.push(record.clone());
        }
        records.push(record);
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
        if let Some(f) = self
            .functions
            .get(&c.name.text.to_ascii_lowercase())
            .cloned()
        {
            let (def, source) = (&f.0, &f.1);
            return match self.call_function(def, c, input) {
                Ok(v) => Ok(v),
                Err(mut e) => {
                    // Defined in an earlier prompt line: its spans mean nothing
                    // in this line's text; point at the call.
                    if **source != *self.source && e.flow == Flow::Error {
                        e.span = c.name.span;
                    }
                    self.command_error(e, action, opts.redirected, records)?;
                    Ok(Vec::new())
                }
            };
        }
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
                    self.command_error(e, action, opts.redirected, records)?;
                    Ok(Vec::new())
                }
            };
        }
        let Some(decl) = xshell_cmdlets::find(&c.name.text) else {
            return Err(RuntimeError::new(
                CmdletError::Usage(format!(
                    "the term '{}' is not recognized as a cmdlet; Get-Command lists them{}",
                    c.name.text,
                    command_suggestion(&c.name.text)
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
                    // A bad value points at its parameter.
                    let span = match &e {
                        CmdletError::BadValue { param, .. } => param_span(c, decl, param),
                        _ => None,
                    };
                    let mut e = binding(e);
                    e.span = span.unwrap_or(e.span);
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
                // A failed verdict: the result objects go down the pipeline,
                // and the failure is a non-terminating error ($? is false).
                // Under the default preference (xshell starts with Stop) a
                // failed verdict does not stop the script: it is reported,
                // `$?` is false and the script's exit code is 1. An explicit
                // -ErrorAction or $ErrorActionPreference decides otherwise.
                Err(CmdletError::Verdict { message, output }) => {
                    out.extend(output);
                    let default_preference =
                        opts.error_action.is_none() && !opts.redirected && !self.preference_set;
                    let action = if default_preference {
                        ErrorAction::Continue
                    } else {
                        action
                    };
                    let e = RuntimeError {
                        cmdlet: Some(decl.name),
                        ..RuntimeError::new(
                            CmdletError::Verdict {
                                message,
                                output: Vec::new(),
                            },
                            c.name.span,
                        )
                    };
                    self.command_error(e, action, opts.redirected, records)?;
                }
                Err(e) => {
                    let e = RuntimeError {
                        cmdlet: Some(decl.name),
                        ..RuntimeError::new(errors::strip_cmdlet_prefix(e, decl.name), c.name.span)
                    };
                    self.command_error(e, action, opts.redirected, records)?;
                }
            }
        }
        Ok(out)
    }

    /// Calls a function defined with `function`: named arguments by name or
    /// unique prefix, the others in order, the rest in `$args`; pipeline
    /// input in `$input`. The function has its own variable scope.
    fn call_function(
        &mut self,
        f: &FunctionDef,
        c: &Command,
        input: Option<Vec<Value>>,
    ) -> R<Vec<Value>> {
        let mut bound: Vec<Option<Value>> = vec![None; f.params.len()];
        let mut positional = Vec::new();
        let mut it = c.args.iter();
        while let Some(a) = it.next() {
            match a {
                AstArg::Parameter {
                    name,
                    name_span,
                    colon_value,
                    ..
                } => {
                    let lower = name.to_ascii_lowercase();
                    let exact = f
                        .params
                        .iter()
                        .position(|p| p.name.eq_ignore_ascii_case(name));
                    let hits: Vec<usize> = match exact {
                        Some(i) => vec![i],
                        None => (0..f.params.len())
                            .filter(|i| {
                                f.params.get(*i).is_some_and(|p| {
                                    p.name.to_ascii_lowercase().starts_with(&lower)
                                })
                            })
                            .collect(),
                    };
                    let usage = |m: String| {
                        RuntimeError::new(
                            CmdletError::Usage(format!("{}: {m}", f.name)),
                            *name_span,
                        )
                    };
                    let idx = match hits.as_slice() {
                        [one] => *one,
                        [] => {
                            return Err(usage(format!(
                                "a parameter cannot be found that matches parameter name '{name}'{}",
                                crate::suggest::did_you_mean(
                                    name,
                                    f.params.iter().map(|p| p.name.as_str()),
                                    "-"
                                )
                            )));
                        }
                        _ => return Err(usage(format!("parameter '{name}' is ambiguous"))),
                    };
                    let Some(p) = f.params.get(idx) else { continue };
                    let v = match colon_value {
                        Some(e) => self.expr(e)?,
                        None if p.switch => Value::Bool(true),
                        None => match it.next() {
                            Some(AstArg::Value(e)) => self.expr(e)?,
                            _ => {
                                return Err(usage(format!(
                                    "missing an argument for parameter '{}'",
                                    p.name
                                )));
                            }
                        },
                    };
                    if let Some(slot) = bound.get_mut(idx) {
                        *slot = Some(v);
                    }
                }
                AstArg::Value(e) => positional.push(self.expr(e)?),
            }
        }
        let mut rest = Vec::new();
        for v in positional {
            let slot = (0..f.params.len()).find(|i| {
                bound.get(*i).is_some_and(Option::is_none)
                    && f.params.get(*i).is_some_and(|p| !p.switch)
            });
            match slot.and_then(|i| bound.get_mut(i)) {
                Some(b) => *b = Some(v),
                None => rest.push(v),
            }
        }
        self.scopes.push(HashMap::new());
        let mut out = Vec::new();
        let r = self.function_body(f, bound, rest, input, &mut out);
        self.scopes.pop();
        match r {
            Ok(()) => Ok(out),
            Err(e) if e.flow == Flow::Return => Ok(out),
            Err(e) => Err(e),
        }
    }

    fn function_body(
        &mut self,
        f: &FunctionDef,
        bound: Vec<Option<Value>>,
        rest: Vec<Value>,
        input: Option<Vec<Value>>,
        out: &mut Vec<Value>,
    ) -> R<()> {
        for (p, v) in f.params.iter().zip(bound) {
            let v = match (v, &p.default) {
                (Some(v), _) => v,
                (None, Some(d)) => self.expr(d)?,
                (None, None) if p.switch => Value::Bool(false),
                (None, None) => Value::Null,
            };
            let v = match &p.type_name {
                Some(t) if !p.switch && v != Value::Null => ops::cast(t, &v).map_err(|m| {
                    RuntimeError::new(
                        CmdletError::Usage(format!(
                            "{}: cannot bind parameter '{}': {m}",
                            f.name, p.name
                        )),
                        p.span,
                    )
                })?,
                _ => v,
            };
            self.set_var(&p.name, v);
        }
        self.set_var("args", Value::List(rest));
        self.set_var("input", Value::List(input.unwrap_or_default()));
        self.block_into(&f.body, out)
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
                        Some(e) => Some(self.argument(e)?),
                        None => None,
                    };
                    tokens.push(Token::Param {
                        name: name.clone(),
                        value,
                    });
                }
                AstArg::Value(Expr {
                    kind: ExprKind::Splat { name },
                    span,
                }) => self.splat(name, *span, &mut tokens)?,
                AstArg::Value(e) => tokens.push(Token::Value(self.argument(e)?)),
            }
        }
        Ok(tokens)
    }

    /// `@params`: a hashtable's entries as named parameters (`$true` for a
    /// switch turns it on), a list's items as positional values.
    fn splat(&mut self, name: &str, span: Span, tokens: &mut Vec<Token>) -> R<()> {
        match self.lookup(name, span)? {
            Value::Map(entries) => {
                for (key, value) in entries {
                    tokens.push(Token::Param {
                        name: key,
                        value: Some(value),
                    });
                }
            }
            Value::List(items) => tokens.extend(items.into_iter().map(Token::Value)),
            Value::Null => {}
            other => tokens.push(Token::Value(other)),
        }
        Ok(())
    }

    /// A cmdlet argument's value. A script block is its text, as Exchange
    /// takes `-Filter {MessageCount -gt 0}` (an OPATH filter, not code).
    fn argument(&mut self, e: &Expr) -> R<Value> {
        match &e.kind {
            ExprKind::ScriptBlock(block) => self
                .source
                .get(block.span.start..block.span.end)
                .map(|t| Value::Str(t.trim().to_string()))
                .ok_or_else(|| {
                    RuntimeError::msg(
                        "a script block cannot be given to this parameter here; quote the filter text",
                        e.span,
                    )
                }),
            _ => self.expr(e),
        }
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
                    // Binary output is an object with FileData; text output
                    // (a request or certificate without -BinaryEncoded) is a
                    // string, as in Exchange.
                    let hint = if matches!(t, Value::Str(_)) && name.eq_ignore_ascii_case("FileData")
                    {
                        " (this is text output: -BinaryEncoded outputs an object whose FileData holds the bytes)"
                    } else {
                        ""
                    };
                    RuntimeError::msg(
                        format!(
                            "property '{name}' cannot be found on this {}{hint}",
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
                    UnaryOp::Join => ops::join(&v, ""),
                    UnaryOp::Split => ops::split_whitespace(&v),
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
                self.arithmetic(*op, &l, &r)
                    .map_err(|m| RuntimeError::msg(m, *op_span))?
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
            ExprKind::Paren(st) => match single_expression(st) {
                // `(1, 2)`, `([array]'x')`: an expression keeps its value.
                Some(e) => self.expr(e)?,
                None => collapse(self.statement(st)?),
            },
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
            ExprKind::Splat { name } => {
                return Err(RuntimeError::msg(
                    format!("splatting (@{name}) passes parameters to a cmdlet; here use ${name}"),
                    e.span,
                ));
            }
            ExprKind::TypeLiteral(t) => Value::Str(t.name.clone()),
            ExprKind::Cast { type_name, operand } => {
                let v = self.expr(operand)?;
                ops::cast(&type_name.name, &v).map_err(|m| RuntimeError::msg(m, e.span))?
            }
            ExprKind::Static {
                type_name,
                member,
                member_span,
                args,
            } => {
                let args = match args {
                    Some(args) => {
                        let mut vals = Vec::new();
                        for a in args {
                            vals.push(self.expr(a)?);
                        }
                        Some(vals)
                    }
                    None => None,
                };
                ops::static_member(&type_name.name, member, args.as_deref())
                    .map_err(|m| RuntimeError::msg(m, *member_span))?
            }
            ExprKind::IncDec {
                variable,
                delta,
                prefix,
            } => {
                let ExprKind::Variable { name } = &variable.kind else {
                    return Err(RuntimeError::msg(
                        "'++' and '--' work on variables only",
                        variable.span,
                    ));
                };
                if is_constant(name) {
                    return Err(RuntimeError::msg(
                        format!("cannot assign to ${name}"),
                        variable.span,
                    ));
                }
                let old = match self.var(name) {
                    Some(v) => v.clone(),
                    None => Value::Int(0),
                };
                let new = self
                    .arithmetic(BinaryOp::Add, &old, &Value::Int(*delta))
                    .map_err(|m| RuntimeError::msg(m, e.span))?;
                self.set_var(name, new.clone());
                if *prefix { new } else { old }
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
        match self.var(&lower) {
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
    /// `return` leaves the block only (as in PowerShell).
    pub fn run_block(&mut self, block: &Script, item: &Value) -> R<Vec<Value>> {
        let Some(top) = self.scopes.last_mut() else {
            return Ok(Vec::new());
        };
        let saved = top.insert("_".into(), item.clone());
        let mut out = Vec::new();
        let r = match self.block_into(block, &mut out) {
            Err(e) if e.flow == Flow::Return => Ok(()),
            other => other,
        };
        if let Some(top) = self.scopes.last_mut() {
            match saved {
                Some(v) => top.insert("_".into(), v),
                None => top.remove("_"),
            };
        }
        r.map(|()| out)
    }
}

/// Resolves every command name in the script before anything runs, so that a
/// typo on line 20 does not leave lines 1-19 applied. Names defined by
/// `function` anywhere in the script are commands too.
pub fn check_commands(root: &Script) -> R<()> {
    check_commands_with(root, &[])
}

/// [`check_commands`], knowing functions already defined (lowercase names).
pub fn check_commands_with(root: &Script, known_functions: &[String]) -> R<()> {
    let mut functions: Vec<String> = known_functions.to_vec();
    collect_functions(root, &mut functions);
    Check {
        functions: &functions,
    }
    .script(root)
}

/// The names (lowercase) of the functions a script defines, at any depth.
fn collect_functions(s: &Script, out: &mut Vec<String>) {
    for st in &s.statements {
        for_each_block(st, &mut |b| collect_functions(b, out));
        if let StatementKind::Function(f) = &st.kind {
            out.push(f.name.to_ascii_lowercase());
        }
    }
}

/// Calls `f` on each block a statement holds directly (bodies of ifs,
/// loops, try/catch/finally and functions).
fn for_each_block(st: &Statement, f: &mut dyn FnMut(&Script)) {
    match &st.kind {
        StatementKind::If { clauses, else_body } => {
            clauses.iter().for_each(|(_, b)| f(b));
            if let Some(b) = else_body {
                f(b);
            }
        }
        StatementKind::Foreach { body, .. }
        | StatementKind::While { body, .. }
        | StatementKind::DoLoop { body, .. }
        | StatementKind::For { body, .. } => f(body),
        StatementKind::Try {
            body,
            catches,
            finally,
        } => {
            f(body);
            catches.iter().for_each(|c| f(&c.body));
            if let Some(b) = finally {
                f(b);
            }
        }
        StatementKind::Function(def) => f(&def.body),
        StatementKind::Switch { clauses, .. } => clauses.iter().for_each(|c| f(&c.body)),
        _ => {}
    }
}

struct Check<'f> {
    functions: &'f [String],
}

impl Check<'_> {
    fn script(&self, s: &Script) -> R<()> {
        s.statements.iter().try_for_each(|st| self.statement(st))
    }

    fn statement(&self, st: &Statement) -> R<()> {
        let mut blocks = Ok(());
        for_each_block(st, &mut |b| {
            if blocks.is_ok() {
                blocks = self.script(b);
            }
        });
        blocks?;
        match &st.kind {
            StatementKind::Pipeline(p) => self.pipeline(p),
            StatementKind::Assignment(a) => {
                self.expr(&a.target)?;
                self.pipeline(&a.value)
            }
            StatementKind::If { clauses, .. } => {
                clauses.iter().try_for_each(|(c, _)| self.pipeline(c))
            }
            StatementKind::Foreach { collection, .. } => self.pipeline(collection),
            StatementKind::Switch {
                subject, clauses, ..
            } => {
                self.pipeline(subject)?;
                clauses
                    .iter()
                    .filter_map(|c| c.pattern.as_ref())
                    .try_for_each(|p| self.expr(p))
            }
            StatementKind::While { condition, .. } | StatementKind::DoLoop { condition, .. } => {
                self.pipeline(condition)
            }
            StatementKind::For {
                init,
                condition,
                step,
                ..
            } => {
                if let Some(i) = init {
                    self.statement(i)?;
                }
                if let Some(c) = condition {
                    self.pipeline(c)?;
                }
                match step {
                    Some(s) => self.statement(s),
                    None => Ok(()),
                }
            }
            StatementKind::Return(Some(p))
            | StatementKind::Exit(Some(p))
            | StatementKind::Throw(Some(p)) => self.pipeline(p),
            StatementKind::Function(FunctionDef { params, .. }) | StatementKind::Param(params) => {
                params
                    .iter()
                    .filter_map(|p| p.default.as_ref())
                    .try_for_each(|d| self.expr(d))
            }
            StatementKind::Return(None)
            | StatementKind::Exit(None)
            | StatementKind::Throw(None)
            | StatementKind::Break
            | StatementKind::Continue
            | StatementKind::Try { .. } => Ok(()),
        }
    }

    fn pipeline(&self, p: &Pipeline) -> R<()> {
        for r in &p.redirections {
            if let RedirectTarget::File { path, .. } = &r.target {
                self.expr(path)?;
            }
        }
        for el in &p.elements {
            match el {
                PipelineElement::Expression(e) => self.expr(e)?,
                PipelineElement::Command(c) => {
                    let name = c.name.text.to_ascii_lowercase();
                    if builtins::find(&c.name.text).is_none()
                        && xshell_cmdlets::find(&c.name.text).is_none()
                        && !self.functions.contains(&name)
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
                    // A cmdlet takes a script block as text (an OPATH
                    // -Filter): it holds no commands to check.
                    let cmdlet = xshell_cmdlets::find(&c.name.text).is_some()
                        && builtins::find(&c.name.text).is_none();
                    for a in &c.args {
                        match a {
                            AstArg::Parameter {
                                colon_value: Some(e),
                                ..
                            }
                            | AstArg::Value(e) => {
                                if !(cmdlet && matches!(e.kind, ExprKind::ScriptBlock(_))) {
                                    self.expr(e)?
                                }
                            }
                            AstArg::Parameter { .. } => {}
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn expr(&self, e: &Expr) -> R<()> {
        match &e.kind {
            ExprKind::Splat { .. } => Ok(()),
            ExprKind::Expandable { parts, .. } => parts.iter().try_for_each(|p| match p {
                StringPart::Expr(x) => self.expr(x),
                StringPart::Literal(_) => Ok(()),
            }),
            ExprKind::Member { target, .. } => self.expr(target),
            ExprKind::MethodCall { target, args, .. } => {
                self.expr(target)?;
                args.iter().try_for_each(|a| self.expr(a))
            }
            ExprKind::Index { target, index } => {
                self.expr(target)?;
                self.expr(index)
            }
            ExprKind::Unary { operand, .. } => self.expr(operand),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs)?;
                self.expr(rhs)
            }
            ExprKind::Array(items) => items.iter().try_for_each(|i| self.expr(i)),
            ExprKind::ArraySubexpression(s)
            | ExprKind::Subexpression(s)
            | ExprKind::ScriptBlock(s) => self.script(s),
            ExprKind::Paren(st) => self.statement(st),
            ExprKind::Hashtable(entries) => entries.iter().try_for_each(|en| {
                self.expr(&en.key)?;
                self.pipeline(&en.value)
            }),
            ExprKind::Cast { operand, .. } => self.expr(operand),
            ExprKind::Static {
                args: Some(args), ..
            } => args.iter().try_for_each(|a| self.expr(a)),
            ExprKind::IncDec { variable, .. } => self.expr(variable),
            ExprKind::Null
            | ExprKind::Bool(_)
            | ExprKind::Number(_)
            | ExprKind::String { .. }
            | ExprKind::Variable { .. }
            | ExprKind::TypeLiteral(_)
            | ExprKind::Static { args: None, .. } => Ok(()),
        }
    }
}

/// The first catch clause that handles `record`: one without types, or one
/// naming `Exception`/`RuntimeException`, the record's exception type
/// (`ManagementObjectNotFoundException`, `ParameterBindingException`, ...)
/// or its category (`ObjectNotFound`), with or without a namespace.
fn find_catch<'c>(catches: &'c [Catch], record: &Value) -> Option<&'c Catch> {
    let field = |outer: &str, inner: &str| match record {
        Value::Object(o) => match o.get(outer) {
            Some(Value::Object(x)) => x.get(inner).map(|v| v.to_string()).unwrap_or_default(),
            _ => String::new(),
        },
        _ => String::new(),
    };
    let type_name = field("Exception", "TypeName").to_ascii_lowercase();
    let category = field("CategoryInfo", "Category").to_ascii_lowercase();
    catches.iter().find(|c| {
        c.types.is_empty()
            || c.types.iter().any(|(t, _)| {
                let lower = t.to_ascii_lowercase();
                let short = lower.rsplit('.').next().unwrap_or(&lower);
                matches!(short, "exception" | "runtimeexception" | "systemexception")
                    || short == type_name
                    || short == category
                    || short == format!("{category}exception")
            })
    })
}

/// The binary operator of a compound assignment (`+=` is `+`).
fn assign_binary(op: AssignOp) -> BinaryOp {
    match op {
        AssignOp::Add => BinaryOp::Add,
        AssignOp::Subtract => BinaryOp::Subtract,
        AssignOp::Multiply => BinaryOp::Multiply,
        AssignOp::Divide => BinaryOp::Divide,
        AssignOp::Remainder | AssignOp::Assign => BinaryOp::Remainder,
    }
}

/// The slot of `container.name` to assign: a hashtable key (added if new)
/// or an existing property of a [pscustomobject].
fn member_slot<'v>(container: &'v mut Value, name: &str) -> Result<&'v mut Value, String> {
    match container {
        Value::Map(entries) => {
            let i = match entries
                .iter()
                .position(|(k, _)| k.eq_ignore_ascii_case(name))
            {
                Some(i) => i,
                None => {
                    entries.push((name.to_string(), Value::Null));
                    entries.len() - 1
                }
            };
            entries
                .get_mut(i)
                .map(|(_, v)| v)
                .ok_or_else(|| format!("cannot set '{name}'"))
        }
        Value::Object(o) => {
            if o.type_name != "PSCustomObject" {
                return Err(format!(
                    "cannot set '{name}' on a {}: objects are changed with Set- cmdlets",
                    o.type_name
                ));
            }
            o.props
                .iter_mut()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
                .ok_or_else(|| format!("property '{name}' cannot be found on this object"))
        }
        other => Err(format!(
            "cannot set property '{name}' on a {}",
            other.type_label()
        )),
    }
}

/// The slot of `container[index]` to assign: a list item (negative from the
/// end) or a hashtable key (added if new).
fn index_slot<'v>(container: &'v mut Value, index: &Value) -> Result<&'v mut Value, String> {
    match (container, index) {
        (Value::List(items), Value::Int(n)) => {
            let len = items.len();
            let k = if *n < 0 {
                usize::try_from(n.unsigned_abs())
                    .ok()
                    .and_then(|back| len.checked_sub(back))
            } else {
                usize::try_from(*n).ok()
            };
            k.and_then(|k| items.get_mut(k))
                .ok_or_else(|| format!("index {n} is outside the list of {len} item(s)"))
        }
        (m @ Value::Map(_), key) => member_slot(m, &display_in_string(key)),
        (Value::Null, _) => Err("cannot index into a null value".to_string()),
        (other, i) => Err(format!(
            "cannot assign to [{}] of a {}",
            display_in_string(i),
            other.type_label()
        )),
    }
}

/// The expression a statement consists of, if it is just one (no pipe, no
/// redirection).
fn single_expression(st: &Statement) -> Option<&Expr> {
    match &st.kind {
        StatementKind::Pipeline(p) if p.redirections.is_empty() => match &p.elements[..] {
            [PipelineElement::Expression(e)] => Some(e),
            _ => None,
        },
        _ => None,
    }
}

/// An error record as one line (`Cmdlet: message`), anything else as text.
fn value_line(v: &Value) -> String {
    match v {
        Value::Object(o) => errors::record_text(o).unwrap_or_else(|| display_in_string(v)),
        other => display_in_string(other),
    }
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
    /// The errors go to a `2>` redirection (no -ErrorAction given).
    redirected: bool,
    error_action: Option<ErrorAction>,
    warning_action: Option<ErrorAction>,
    error_variable: Option<(String, bool)>,
    out_variable: Option<(String, bool)>,
    warning_variable: Option<(String, bool)>,
    /// -Verbose (true) or -Verbose:$false.
    verbose: Option<bool>,
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
        crate::suggest::did_you_mean(
            name,
            names().chain(errors::COMMON_NAMES.iter().copied()),
            "-"
        )
    ))
}

/// The span of the argument that named `param` (by name, alias or prefix).
fn param_span(c: &Command, decl: &xshell_cmdlets::decl::CmdletDecl, param: &str) -> Option<Span> {
    c.args.iter().find_map(|a| match a {
        AstArg::Parameter { name, span, .. }
            if bind::resolve_param(decl, name).is_ok_and(|p| p.name == param) =>
        {
            Some(*span)
        }
        _ => None,
    })
}

/// `; did you mean X?` for an unknown command name: the nearest cmdlet,
/// builtin or alias.
fn command_suggestion(name: &str) -> String {
    let cmdlets = xshell_cmdlets::CATALOGUE.iter().map(|d| d.name);
    let builtins = builtins::BUILTINS
        .iter()
        .flat_map(|b| std::iter::once(b.name).chain(b.aliases.iter().copied()))
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
        // As PowerShell converts a date to text: the invariant culture.
        Value::Date(t) => {
            xshell_cmdlets::datetime::format(*t, "MM/dd/yyyy HH:mm:ss").unwrap_or_default()
        }
        // An error record reads as its message, as PowerShell's ToString().
        Value::Object(o) if o.type_name == errors::ERROR_RECORD => match o.get("Exception") {
            Some(Value::Object(ex)) => ex.get("Message").map(Value::to_string).unwrap_or_default(),
            _ => String::new(),
        },
        other => other.to_string(),
    }
}
