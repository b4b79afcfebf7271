//! The syntax tree of an xshell script.
//!
//! Every node carries a [`Span`] (byte offsets into the parsed source). The tree is purely
//! syntactic: command names are not resolved, and a parameter token does not know whether
//! the argument after it is its value (only the binder, which knows the cmdlet's switches,
//! can decide that; see [`Arg`]).

use super::span::Span;

/// A whole script, or the body of a script block `{ ... }`, `$( ... )` or `@( ... )`.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// Statements in source order (separated by `;` or newlines).
    pub statements: Vec<Statement>,
    /// For a whole script the whole source; for a block the text between its delimiters.
    pub span: Span,
}

/// One statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub kind: StatementKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StatementKind {
    /// `a | b | c`, a single command, or a single expression (whose value is output).
    Pipeline(Pipeline),
    /// `$cert = New-ExchangeCertificate ...`, `$x.Name = 5`, `$n += 1`, `$n++`.
    Assignment(Assignment),
    /// `if (c) { } elseif (c) { } else { }`.
    If {
        /// `(condition, body)` for `if` and each `elseif`, in order.
        clauses: Vec<(Pipeline, Script)>,
        else_body: Option<Script>,
    },
    /// `foreach ($item in collection) { }`.
    Foreach {
        /// The loop variable's name (without `$`).
        variable: String,
        variable_span: Span,
        collection: Pipeline,
        body: Script,
    },
    /// `while (c) { }`.
    While { condition: Pipeline, body: Script },
    /// `do { } while (c)` or `do { } until (c)` (`until: true`).
    DoLoop {
        body: Script,
        condition: Pipeline,
        until: bool,
    },
    /// `for (init; condition; step) { }`; each part may be empty.
    For {
        init: Option<Box<Statement>>,
        condition: Option<Pipeline>,
        step: Option<Box<Statement>>,
        body: Script,
    },
    /// `break` (innermost loop).
    Break,
    /// `continue` (innermost loop).
    Continue,
    /// `return [value]`: leaves the function or script, outputting the value.
    Return(Option<Pipeline>),
    /// `exit [code]`: ends the script with this exit code.
    Exit(Option<Pipeline>),
    /// `throw [value]`: a terminating error (in `catch`, `throw` alone rethrows).
    Throw(Option<Pipeline>),
    /// `try { } catch [Type] { } finally { }` (at least one catch or a finally).
    Try {
        body: Script,
        catches: Vec<Catch>,
        finally: Option<Script>,
    },
    /// `function Name { param(...) ... }` or `function Name($a, $b) { ... }`.
    Function(FunctionDef),
    /// A script's `param(...)` block: each parameter not already set gets its default.
    Param(Vec<FunctionParam>),
    /// `switch [-Wildcard|-Regex|-Exact] [-CaseSensitive] (value) { pattern { } default { } }`.
    Switch {
        subject: Pipeline,
        mode: SwitchMode,
        case_sensitive: bool,
        clauses: Vec<SwitchClause>,
    },
}

/// How a switch compares its value with the clauses' patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchMode {
    /// `-eq` (the default, and `-Exact`).
    Exact,
    /// `-like`.
    Wildcard,
    /// `-match` (sets `$Matches`).
    Regex,
}

/// One clause of a switch.
#[derive(Debug, Clone, PartialEq)]
pub struct SwitchClause {
    /// A value, a script block `{ $_ -gt 5 }` (a condition), or None for `default`.
    pub pattern: Option<Expr>,
    pub body: Script,
}

/// `catch [Type1], [Type2] { body }`; no types catches everything.
#[derive(Debug, Clone, PartialEq)]
pub struct Catch {
    /// Type names as written, without brackets.
    pub types: Vec<(String, Span)>,
    pub body: Script,
}

/// A function definition.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDef {
    pub name: String,
    pub name_span: Span,
    /// From `param(...)` or the parenthesised list after the name.
    pub params: Vec<FunctionParam>,
    pub body: Script,
}

/// `[type]$name = default` in a function's parameter list.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionParam {
    /// Without `$`.
    pub name: String,
    /// The type constraint as written (`int`, `string[]`), if any.
    pub type_name: Option<String>,
    pub default: Option<Expr>,
    /// `[switch]`: takes no value.
    pub switch: bool,
    pub span: Span,
}

/// `target = value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// A [`ExprKind::Variable`], [`ExprKind::Member`] or [`ExprKind::Index`]; or
    /// [`ExprKind::Null`] for the `$null = Command` idiom, which discards the output.
    pub target: Expr,
    /// `=`, `+=`, `-=`, `*=`, `/=`, `%=` (`$x++` is `$x += 1`).
    pub op: AssignOp,
    /// Span of the operator.
    pub op_span: Span,
    /// The right-hand side: a command pipeline or an expression.
    pub value: Pipeline,
}

/// An assignment operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignOp {
    Assign,
    Add,
    Subtract,
    Multiply,
    Divide,
    Remainder,
}

/// `element | element | ...`; at least one element; then redirections.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub elements: Vec<PipelineElement>,
    /// `> file`, `>> file`, `2>&1`, `2>$null`, `*>$null`, in source order.
    pub redirections: Vec<Redirection>,
    pub span: Span,
}

/// Which output a redirection takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// `>` / `1>`: the objects output.
    Output,
    /// `2>`: errors.
    Error,
    /// `3>`: warnings.
    Warning,
    /// `*>`: everything.
    All,
}

/// Where a redirection sends its stream.
#[derive(Debug, Clone, PartialEq)]
pub enum RedirectTarget {
    /// `> $null`: discarded.
    Null,
    /// `2>&1`: merged into the output.
    Output,
    /// `> path` / `>> path` (`append`): written to a file as text.
    File { path: Expr, append: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Redirection {
    pub stream: Stream,
    pub target: RedirectTarget,
    pub span: Span,
}

/// One stage of a pipeline. Only the first stage can be an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineElement {
    /// `$cert`, `"a","b"`, `(Get-X).Name` ...
    Expression(Expr),
    /// `Enable-ExchangeCertificate -Services SMTP`.
    Command(Command),
}

impl PipelineElement {
    pub fn span(&self) -> Span {
        match self {
            PipelineElement::Expression(e) => e.span,
            PipelineElement::Command(c) => c.span,
        }
    }
}

/// A command invocation in command mode.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub name: CommandName,
    /// Parameters and values as a flat sequence, in source order.
    pub args: Vec<Arg>,
    pub span: Span,
}

/// The command name as written (`Get-ExchangeCertificate`, `where`, `%`); resolution is
/// case-insensitive and done by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandName {
    pub text: String,
    pub span: Span,
}

/// One command-mode argument.
///
/// `-Name value` is two args: `Parameter { name: "Name", colon_value: None }` then
/// `Value(value)`; the binder decides whether the value belongs to the parameter (it does
/// not if the parameter is a switch, e.g. `-Force value`). `-Name:value` always binds the
/// value: `colon_value: Some(value)` (`-DomainSecureEnabled:$True`, `-Confirm:$false`).
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Parameter {
        /// The name without the dash, as written (matching is case-insensitive and by
        /// unambiguous prefix, which is the binder's business).
        name: String,
        /// Span of the name (without the dash).
        name_span: Span,
        /// The value after `-Name:`.
        colon_value: Option<Expr>,
        /// From the dash to the end of the colon value, if any.
        span: Span,
    },
    /// A value: positional, or the value of the preceding parameter.
    Value(Expr),
}

impl Arg {
    pub fn span(&self) -> Span {
        match self {
            Arg::Parameter { span, .. } => *span,
            Arg::Value(e) => e.span,
        }
    }
}

/// An expression (a value).
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// `$null`.
    Null,
    /// `$true`, `$false` (any case: `$True`).
    Bool(bool),
    /// `25`, `-5`, `0x1F`, `1.5`, `25MB` (26214400), `1.5GB` (a float, as in PowerShell).
    Number(Number),
    /// A string without expansions: a bareword (`mail.orga.example`, `c:\x.pfx`,
    /// `2.00:00:00`, `SMTP`), a single-quoted string, or a double-quoted one with no `$`.
    /// Escapes are already applied. Barewords that look like numbers are
    /// [`ExprKind::Number`] instead.
    String { value: String, style: StringStyle },
    /// A double-quoted string (or a bareword like `$dir\file.txt` / `a$x`) with expansions.
    /// Concatenate the parts, converting each `Expr` part's value to a string.
    Expandable {
        parts: Vec<StringPart>,
        style: StringStyle,
    },
    /// `$name`, `${any name}`, `$env:PATH`, `$_`, `$?`. `name` is without `$`/braces, as
    /// written; lookup is case-insensitive.
    Variable { name: String },
    /// `target.Name` (no whitespace around the dot).
    Member {
        target: Box<Expr>,
        name: String,
        name_span: Span,
    },
    /// `target.Name(arg, ...)`.
    MethodCall {
        target: Box<Expr>,
        name: String,
        name_span: Span,
        args: Vec<Expr>,
    },
    /// `target[index]`.
    Index { target: Box<Expr>, index: Box<Expr> },
    /// `-not x`, `!x`, `-x`.
    Unary {
        op: UnaryOp,
        op_span: Span,
        operand: Box<Expr>,
    },
    /// `lhs -eq rhs`, `lhs -and rhs`, `lhs + rhs`, ...
    Binary {
        op: BinaryOp,
        op_span: Span,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// A comma list `a.tld,b.tld,"c d"` (two or more elements).
    Array(Vec<Expr>),
    /// `@( statements )`: the statements' output collected as an array.
    ArraySubexpression(Script),
    /// `$( statements )`: the statements' output (a single value stays a scalar).
    Subexpression(Script),
    /// `( statement )`: a parenthesised pipeline, expression or assignment, e.g.
    /// `(Get-SendConnector Outbound).Name`.
    Paren(Box<Statement>),
    /// `@{ key = value; ... }`, in source order.
    Hashtable(Vec<HashEntry>),
    /// `{ statements }`, e.g. the filter of `Where-Object { $_.Status -eq "Valid" }`.
    ScriptBlock(Script),
    /// `@params` in a command's arguments: the variable's hashtable gives
    /// named parameters, a list positional values.
    Splat { name: String },
    /// `[int]`, `[System.IO.File]` alone (for `-is`, `-as`).
    TypeLiteral(TypeName),
    /// `[int]$x`, `[byte[]](...)`.
    Cast {
        type_name: TypeName,
        operand: Box<Expr>,
    },
    /// `[Math]::Round(2.5)`, `[int]::MaxValue` (`args: None` for a property).
    Static {
        type_name: TypeName,
        member: String,
        member_span: Span,
        args: Option<Vec<Expr>>,
    },
    /// `++$x`, `$x++`, `--$x`, `$x--` used as a value. `prefix`: the value
    /// is the one after the change.
    IncDec {
        variable: Box<Expr>,
        delta: i64,
        prefix: bool,
    },
}

/// A type as written in brackets, without them: `int`, `byte[]`,
/// `System.IO.File`.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeName {
    pub name: String,
    pub span: Span,
}

/// A numeric literal's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

/// How a string was written; matters for nothing but diagnostics and binders that want to
/// tell `SMTP` from `'SMTP'` (e.g. to refuse quoted `$true`-like text). Both are strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringStyle {
    /// Unquoted command-mode word (or hashtable key).
    Bareword,
    /// `'...'`
    SingleQuoted,
    /// `"..."`
    DoubleQuoted,
}

/// A piece of an expandable string.
#[derive(Debug, Clone, PartialEq)]
pub enum StringPart {
    /// Literal text, escapes applied.
    Literal(String),
    /// An expansion: `$var` or `${name}` (a [`ExprKind::Variable`], or [`ExprKind::Bool`] /
    /// [`ExprKind::Null`] for `$true`...), or `$(...)` (a [`ExprKind::Subexpression`]). In
    /// a bareword such as `$cert.Name\x`, the leading value may also carry members and
    /// indexes (`$cert.Name`); in double quotes it never does (`"$x.Name"` is `$x` + `.Name`).
    Expr(Expr),
}

/// `key = value` in a hashtable.
#[derive(Debug, Clone, PartialEq)]
pub struct HashEntry {
    /// A bareword or quoted string, a number, a variable or a parenthesised expression.
    pub key: Expr,
    /// A statement-like value: `"x.tld"`, `"y.tld","z.tld"`, or a command pipeline
    /// (`@{Add=c.tld}` makes `c.tld` a command, as in PowerShell: quote it).
    pub value: Pipeline,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-not`, `!`
    Not,
    /// `-` (a minus directly before a number literal is folded into the literal)
    Negate,
    /// `-join x`: concatenation.
    Join,
    /// `-split x`: split on whitespace.
    Split,
}

/// Binary operators. Precedence, lowest first: `-and -or -xor` (equal, left to right);
/// comparisons (and `-replace -split -join -is -isnot -as`); `+ -`; `* / %`; `-f`;
/// `..`. The comma list binds tighter than all of them (`$x -eq "a","b"` compares with
/// an array; `"{0}{1}" -f $a, $b` formats two values), unary operators tighter still.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    And,
    Or,
    Xor,
    /// `-eq`, `-ceq` (case-sensitive), `-ieq` (explicitly case-insensitive), ...
    Compare {
        op: CompareOp,
        case_sensitive: bool,
    },
    Add,
    Subtract,
    Multiply,
    Divide,
    Remainder,
    /// `-replace` (regex; `$1` in the replacement).
    Replace {
        case_sensitive: bool,
    },
    /// `-split` (regex).
    Split {
        case_sensitive: bool,
    },
    /// `-join`
    Join,
    /// `-f`
    Format,
    /// `-is`
    Is,
    /// `-isnot`
    IsNot,
    /// `-as`
    As,
    /// `..`
    Range,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Like,
    NotLike,
    Match,
    NotMatch,
    Contains,
    NotContains,
    In,
    NotIn,
}

impl CompareOp {
    /// The operator name without dash or case prefix (`"eq"`, `"notlike"`).
    pub fn name(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
            CompareOp::Like => "like",
            CompareOp::NotLike => "notlike",
            CompareOp::Match => "match",
            CompareOp::NotMatch => "notmatch",
            CompareOp::Contains => "contains",
            CompareOp::NotContains => "notcontains",
            CompareOp::In => "in",
            CompareOp::NotIn => "notin",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        const ALL: [CompareOp; 14] = [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
            CompareOp::Like,
            CompareOp::NotLike,
            CompareOp::Match,
            CompareOp::NotMatch,
            CompareOp::Contains,
            CompareOp::NotContains,
            CompareOp::In,
            CompareOp::NotIn,
        ];
        ALL.into_iter().find(|op| op.name() == name)
    }
}
