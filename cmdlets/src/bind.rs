//! Binding: from what the user typed (CLI flags or shell-language tokens) to
//! typed, validated arguments. One binder for both front ends, driven by the
//! declarations.

use crate::decl::{CmdletDecl, Kind, Param, ParamDecl, Pipe, common};
use crate::error::CmdletError;
use crate::value::Value;
use std::collections::BTreeMap;
use xshell_core::types::*;

/// A typed argument value.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// `$null`: clears an optional property.
    Null,
    Str(String),
    Int(i64),
    Bool(bool),
    Domain(SmtpDomain),
    Pattern(DomainPattern),
    AddressSpace(AddressSpace),
    Host(HostPort),
    Binding(Binding),
    IpRange(IpRange),
    Size(SizeLimit),
    Span(TimeSpan),
    Limit(Limit),
    Credential(Credential),
    Address(SmtpAddress),
    Bytes(Bytes),
    Date(time::OffsetDateTime),
    List(Vec<Arg>),
    /// `@{Add=...; Remove=...}` on a list parameter.
    Edit {
        add: Vec<Arg>,
        remove: Vec<Arg>,
    },
}

/// Conversion from a bound argument to a Rust value.
pub trait FromArg: Sized {
    /// The declared kinds ([`Kind::bit`]) whose values this type reads.
    const KINDS: u32;
    /// For a list type, the kinds of its elements; 0 otherwise.
    const ELEMENTS: u32 = 0;
    fn from_arg(a: &Arg) -> Option<Self>;
}

/// Whether a parameter declared as `kind` can be read as a `T`. [`params!`]
/// checks every declaration with it when the crate compiles.
///
/// [`params!`]: crate::decl::params
pub const fn fits<T: FromArg>(kind: &Kind) -> bool {
    match kind {
        Kind::List(inner) => T::ELEMENTS & inner.bit() != 0,
        _ => T::KINDS & kind.bit() != 0,
    }
}

/// The kinds the binder turns into [`Arg::Str`].
const TEXT_KINDS: u32 = Kind::Str.bit()
    | Kind::Path.bit()
    | Kind::Secret.bit()
    | Kind::Enum(&[]).bit()
    | Kind::Thumbprint.bit();

macro_rules! from_arg {
    ($t:ty, $v:ident, $kinds:expr) => {
        impl FromArg for $t {
            const KINDS: u32 = $kinds;
            fn from_arg(a: &Arg) -> Option<Self> {
                match a {
                    Arg::$v(x) => Some(x.clone()),
                    _ => None,
                }
            }
        }
    };
}
from_arg!(String, Str, TEXT_KINDS);
from_arg!(i64, Int, Kind::Int { min: 0, max: 0 }.bit());
from_arg!(bool, Bool, Kind::Bool.bit() | Kind::Switch.bit());
from_arg!(SmtpDomain, Domain, Kind::Domain.bit());
from_arg!(DomainPattern, Pattern, Kind::DomainPattern.bit());
from_arg!(AddressSpace, AddressSpace, Kind::AddressSpace.bit());
from_arg!(HostPort, Host, Kind::HostPort.bit());
from_arg!(Binding, Binding, Kind::Binding.bit());
from_arg!(IpRange, IpRange, Kind::IpRange.bit());
from_arg!(SizeLimit, Size, Kind::SIZE.bit());
from_arg!(TimeSpan, Span, Kind::TIMESPAN.bit());
from_arg!(Limit, Limit, Kind::Limit { min: 0, max: 0 }.bit());
from_arg!(Credential, Credential, Kind::Credential.bit());

/// A user name and password (`-AuthenticationCredential`).
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub user: String,
    pub password: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Where the CLI takes a credential's password from.
pub const CREDENTIAL_PASSWORD_ENV: &str = "XSHELL_SMTP_AUTH_PASSWORD";
from_arg!(SmtpAddress, Address, Kind::Address.bit());
from_arg!(time::OffsetDateTime, Date, Kind::DateTime.bit());

/// Raw bytes (`-FileData`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);
from_arg!(Bytes, Bytes, Kind::Bytes.bit());

impl FromArg for u16 {
    const KINDS: u32 = i64::KINDS;
    fn from_arg(a: &Arg) -> Option<Self> {
        i64::from_arg(a).and_then(|i| u16::try_from(i).ok())
    }
}
impl FromArg for u32 {
    const KINDS: u32 = i64::KINDS;
    fn from_arg(a: &Arg) -> Option<Self> {
        i64::from_arg(a).and_then(|i| u32::try_from(i).ok())
    }
}

/// A list parameter: a list, or an edit's additions, or one value; `$null`
/// is empty. `None` when an element is not a `T`.
impl<T: FromArg> FromArg for Vec<T> {
    const KINDS: u32 = 0;
    const ELEMENTS: u32 = T::KINDS;
    fn from_arg(a: &Arg) -> Option<Self> {
        match a {
            Arg::List(items) | Arg::Edit { add: items, .. } => {
                items.iter().map(T::from_arg).collect()
            }
            Arg::Null => Some(Vec::new()),
            other => T::from_arg(other).map(|v| vec![v]),
        }
    }
}

/// The bound arguments of one invocation.
#[derive(Debug, Clone, Default)]
pub struct Bound {
    args: BTreeMap<&'static str, Arg>,
    /// The parameter set in force.
    pub set: Option<&'static str>,
}

impl Bound {
    /// Whether the parameter was given.
    pub fn is_set<T>(&self, p: Param<T>) -> bool {
        self.args.contains_key(p.name)
    }

    /// The argument as bound, before conversion.
    pub fn raw<T>(&self, p: Param<T>) -> Option<&Arg> {
        self.args.get(p.name)
    }

    pub fn names(&self) -> impl Iterator<Item = &&'static str> {
        self.args.keys()
    }

    /// The value of a parameter, if given (and not `$null`). A list
    /// parameter gives its values (an edit's additions).
    pub fn get<T: FromArg>(&self, p: Param<T>) -> Option<T> {
        self.args.get(p.name).and_then(T::from_arg)
    }

    /// A switch or boolean: true when given as true.
    pub fn switch(&self, p: Param<bool>) -> bool {
        matches!(self.args.get(p.name), Some(Arg::Bool(true)))
    }

    /// Sets `target` when the parameter was given.
    pub fn assign<T: FromArg>(&self, p: Param<T>, target: &mut T) {
        if let Some(v) = self.get(p) {
            *target = v;
        }
    }

    /// Sets an optional property: a value sets it, `$null` clears it.
    pub fn assign_opt<T: FromArg>(&self, p: Param<T>, target: &mut Option<T>) {
        match self.args.get(p.name) {
            Some(Arg::Null) => *target = None,
            Some(a) => {
                if let Some(v) = T::from_arg(a) {
                    *target = Some(v);
                }
            }
            None => {}
        }
    }

    /// Applies a list parameter: a list replaces, an edit adds and removes,
    /// `$null` empties. Duplicates are dropped, order kept.
    pub fn assign_list<T: FromArg + PartialEq>(&self, p: Param<Vec<T>>, target: &mut Vec<T>) {
        let Some(arg) = self.args.get(p.name) else {
            return;
        };
        // An edit keeps what it does not remove; anything else replaces.
        let (kept, add): (Vec<T>, Vec<T>) = match arg {
            Arg::Edit { add, remove } => {
                let remove: Vec<T> = remove.iter().filter_map(T::from_arg).collect();
                let kept = target.drain(..).filter(|x| !remove.contains(x)).collect();
                (kept, add.iter().filter_map(T::from_arg).collect())
            }
            other => (Vec::new(), Vec::<T>::from_arg(other).unwrap_or_default()),
        };
        *target = kept;
        for a in add {
            if !target.contains(&a) {
                target.push(a);
            }
        }
    }

    /// For tests and front ends: insert an already-typed argument.
    pub fn insert(&mut self, name: &'static str, arg: Arg) {
        self.args.insert(name, arg);
    }
}

/// One choice made by `-Name` or by one of several switches (Exchange's
/// parameter sets, as `-Usage Partner` or `-Partner`): never two different
/// ones; `default` when none is given.
pub fn one_choice<T: FromArg + Copy + PartialEq>(
    b: &Bound,
    named: Param<T>,
    switches: &[(Param<bool>, T)],
    default: T,
) -> Result<T, CmdletError> {
    let mut chosen: Vec<(&str, T)> = switches
        .iter()
        .filter(|(sw, _)| b.switch(*sw))
        .map(|(sw, v)| (sw.name, *v))
        .collect();
    if let Some(v) = b.get(named) {
        chosen.push((named.name, v));
    }
    match chosen.as_slice() {
        [] => Ok(default),
        [(_, v), rest @ ..] if rest.iter().all(|(_, w)| w == v) => Ok(*v),
        many => Err(CmdletError::Usage(format!(
            "parameter set cannot be resolved: {} cannot be used together (a connector has one usage)",
            many.iter()
                .map(|(n, _)| format!("-{n}"))
                .collect::<Vec<_>>()
                .join(" and ")
        ))),
    }
}

/// Where raw values come from: CLI strings are split on commas for list
/// parameters and may carry `@{...}` edit literals; shell values are already
/// structured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cli,
    Shell,
}

/// A token of a shell-language invocation, after its values were evaluated.
#[derive(Debug, Clone)]
pub enum Token {
    /// `-Name`, or `-Name:value` when `value` is Some.
    Param {
        name: String,
        value: Option<Value>,
    },
    Value(Value),
}

/// Finds a parameter by name or unambiguous prefix, case-insensitively.
pub fn resolve_param(decl: &CmdletDecl, name: &str) -> Result<&'static ParamDecl, CmdletError> {
    let all = decl.all_params();
    if let Some(p) = all.iter().find(|p| p.is_named(name)) {
        return Ok(p);
    }
    let lower = name.to_ascii_lowercase();
    let hits: Vec<&&'static ParamDecl> = all
        .iter()
        .filter(|p| {
            p.name.to_ascii_lowercase().starts_with(&lower)
                || p.aliases
                    .iter()
                    .any(|a| a.to_ascii_lowercase().starts_with(&lower))
        })
        .collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => Err(CmdletError::Usage(format!(
            "{}: a parameter cannot be found that matches parameter name '{name}'",
            decl.name
        ))),
        many => Err(CmdletError::Usage(format!(
            "{}: parameter '{name}' is ambiguous; it could be {}",
            decl.name,
            many.iter()
                .map(|p| format!("-{}", p.name))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Turns shell tokens into named values: resolves names and prefixes, takes
/// values for non-switch parameters, assigns positional values.
pub fn name_tokens(
    decl: &CmdletDecl,
    tokens: Vec<Token>,
) -> Result<Vec<(&'static ParamDecl, Value)>, CmdletError> {
    let mut named: Vec<(&'static ParamDecl, Value)> = Vec::new();
    let mut positional: Vec<Value> = Vec::new();
    let mut it = tokens.into_iter().peekable();
    while let Some(tok) = it.next() {
        match tok {
            Token::Value(v) => positional.push(v),
            Token::Param { name, value } => {
                let p = resolve_param(decl, &name)?;
                let v = match (value, p.kind) {
                    (Some(v), _) => v,
                    (None, Kind::Switch) => {
                        if let Some(Token::Value(Value::Bool(b))) = it.peek() {
                            return Err(CmdletError::Usage(format!(
                                "-{0} is a switch: write -{0} to turn it on, or -{0}:${1} (a switch takes its value after a colon)",
                                p.name, b
                            )));
                        }
                        Value::Bool(true)
                    }
                    (None, Kind::Bool) => match it.peek() {
                        Some(Token::Value(Value::Bool(_))) => match it.next() {
                            Some(Token::Value(v)) => v,
                            _ => Value::Bool(true),
                        },
                        _ => Value::Bool(true),
                    },
                    (None, _) => match it.next() {
                        Some(Token::Value(v)) => v,
                        _ => {
                            return Err(CmdletError::Usage(format!(
                                "{}: missing an argument for parameter '{}'; specify a value of type {}",
                                decl.name,
                                p.name,
                                p.kind.placeholder()
                            )));
                        }
                    },
                };
                if named.iter().any(|(q, _)| q.name == p.name) {
                    return Err(CmdletError::Usage(format!(
                        "{}: parameter '{}' was given more than once",
                        decl.name, p.name
                    )));
                }
                named.push((p, v));
            }
        }
    }
    assign_positional(decl, &mut named, positional)?;
    Ok(named)
}

/// Gives positional values to the declared positions not yet bound by name.
pub fn assign_positional(
    decl: &CmdletDecl,
    named: &mut Vec<(&'static ParamDecl, Value)>,
    positional: Vec<Value>,
) -> Result<(), CmdletError> {
    let mut slots: Vec<&'static ParamDecl> = decl
        .params
        .iter()
        .filter(|p| p.position.is_some() && !named.iter().any(|(q, _)| q.name == p.name))
        .collect();
    slots.sort_by_key(|p| p.position);
    // Several parameters may share a position in different sets; keep the first.
    slots.dedup_by_key(|p| p.position);
    let mut slots = slots.into_iter();
    for v in positional {
        match slots.next() {
            Some(p) => named.push((p, v)),
            None => {
                return Err(CmdletError::Usage(format!(
                    "{}: a positional parameter cannot be found that accepts argument '{v}'",
                    decl.name
                )));
            }
        }
    }
    Ok(())
}

/// Binds named values (and a pipeline input object) to typed arguments,
/// checking types, parameter sets and mandatory parameters.
pub fn bind(
    decl: &CmdletDecl,
    named: Vec<(&'static ParamDecl, Value)>,
    input: Option<&Value>,
    source: Source,
) -> Result<Bound, CmdletError> {
    let mut bound = Bound::default();
    for (p, v) in named {
        let arg = coerce(p, v, source)?;
        bound.args.insert(p.name, arg);
    }
    if let Some(input) = input {
        bind_pipeline(decl, &mut bound, input)?;
    }
    bound.set = resolve_set(decl, &bound)?;
    for p in decl.params {
        let in_set = match bound.set {
            Some(s) => p.in_set(s),
            None => true,
        };
        if p.mandatory && in_set && !bound.args.contains_key(p.name) {
            return Err(CmdletError::Usage(format!(
                "{}: missing mandatory parameter -{} (CLI: {})",
                decl.name,
                p.name,
                if p.position.is_some() {
                    format!("<{}>", p.name)
                } else {
                    format!("--{}", p.flag())
                }
            )));
        }
    }
    Ok(bound)
}

fn bind_pipeline(decl: &CmdletDecl, bound: &mut Bound, input: &Value) -> Result<(), CmdletError> {
    if let Value::Object(obj) = input {
        let mut any = false;
        for p in decl.params {
            if !matches!(p.pipeline, Pipe::ByPropertyName | Pipe::Both)
                || bound.args.contains_key(p.name)
            {
                continue;
            }
            let found = std::iter::once(p.name)
                .chain(p.aliases.iter().copied())
                .find_map(|n| obj.get(n).filter(|v| **v != Value::Null));
            if let Some(v) = found {
                bound
                    .args
                    .insert(p.name, coerce(p, v.clone(), Source::Shell)?);
                any = true;
            }
        }
        if any {
            return Ok(());
        }
    }
    match decl.params.iter().find(|p| {
        matches!(p.pipeline, Pipe::ByValue | Pipe::Both) && !bound.args.contains_key(p.name)
    }) {
        Some(p) if !matches!(input, Value::Object(_)) => {
            bound
                .args
                .insert(p.name, coerce(p, input.clone(), Source::Shell)?);
            Ok(())
        }
        _ => Err(CmdletError::Usage(format!(
            "{}: the input object cannot be bound to any parameter (it is a {})",
            decl.name,
            match input {
                Value::Object(o) => o.type_name.clone(),
                other => other.type_label().to_string(),
            }
        ))),
    }
}

fn resolve_set(decl: &CmdletDecl, bound: &Bound) -> Result<Option<&'static str>, CmdletError> {
    if decl.sets.is_empty() {
        return Ok(None);
    }
    let used: Vec<&ParamDecl> = decl
        .params
        .iter()
        .filter(|p| bound.args.contains_key(p.name))
        .collect();
    let candidates: Vec<&'static str> = decl
        .sets
        .iter()
        .copied()
        .filter(|s| used.iter().all(|p| p.in_set(s)))
        .collect();
    if candidates.is_empty() {
        let specific: Vec<String> = used
            .iter()
            .filter(|p| !p.sets.is_empty())
            .map(|p| format!("-{}", p.name))
            .collect();
        return Err(CmdletError::Usage(format!(
            "{}: parameter set cannot be resolved: {} cannot be used together",
            decl.name,
            specific.join(" and ")
        )));
    }
    // Prefer the set where a set-specific parameter was used, else the default.
    let chosen = candidates
        .iter()
        .copied()
        .find(|s| used.iter().any(|p| !p.sets.is_empty() && p.in_set(s)))
        .or_else(|| {
            decl.sets
                .first()
                .copied()
                .filter(|d| candidates.contains(d))
        })
        .or_else(|| candidates.first().copied());
    Ok(chosen)
}

fn value_text(param: &ParamDecl, v: &Value) -> Result<String, CmdletError> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Object(_)
        | Value::Date(_)
        | Value::TimeSpan(_)
        | Value::Size(_)
        | Value::Float(_) => Ok(v.to_string()),
        other => Err(CmdletError::bad_value(
            param.name,
            format!(
                "expected a {}, got a {}",
                param.kind.placeholder(),
                other.type_label()
            ),
        )),
    }
}

fn parse_kind<T: std::str::FromStr<Err = ParseValueError>>(
    param: &ParamDecl,
    v: &Value,
) -> Result<T, CmdletError> {
    let s = value_text(param, v)?;
    s.parse::<T>()
        .map_err(|e| CmdletError::bad_value(param.name, e.0))
}

/// Normalizes a thumbprint: any case, spaces and colons ignored, 40 hex digits.
pub fn normalize_thumbprint(s: &str) -> Option<String> {
    let t: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':' && *c != '\u{200e}')
        .collect::<String>()
        .to_ascii_uppercase();
    (t.len() == 40 && t.bytes().all(|b| b.is_ascii_hexdigit())).then_some(t)
}

/// Converts one value to the parameter's kind.
pub fn coerce(param: &ParamDecl, v: Value, source: Source) -> Result<Arg, CmdletError> {
    coerce_kind(param, &param.kind, v, source)
}

fn coerce_kind(
    param: &ParamDecl,
    kind: &Kind,
    v: Value,
    source: Source,
) -> Result<Arg, CmdletError> {
    if v == Value::Null {
        return match kind {
            Kind::Bool | Kind::Switch => Err(CmdletError::bad_value(
                param.name,
                "expects $true or $false, got $null",
            )),
            _ => Ok(Arg::Null),
        };
    }
    let bad = |msg: String| CmdletError::bad_value(param.name, msg);
    Ok(match kind {
        Kind::List(inner) => {
            let items: Vec<Value> = match v {
                Value::List(items) => items,
                Value::Map(entries) => return coerce_edit(param, inner, entries, source),
                Value::Str(s) if source == Source::Cli => {
                    let t = s.trim();
                    if t.is_empty() {
                        return Ok(Arg::List(Vec::new()));
                    }
                    t.split(',')
                        .map(|x| Value::Str(x.trim().to_string()))
                        .collect()
                }
                other => vec![other],
            };
            let items = split_flags(inner, items);
            let mut out = Vec::new();
            for item in items {
                out.push(coerce_kind(param, inner, item, source)?);
            }
            Arg::List(out)
        }
        Kind::Str | Kind::Path => Arg::Str(value_text(param, &v)?),
        Kind::Secret => match &v {
            Value::Secret(s) => Arg::Str(s.0.to_string()),
            // A PSCredential given where a password is expected: its password.
            Value::Object(o) if o.type_name == "System.Management.Automation.PSCredential" => {
                match o.get("Password") {
                    Some(Value::Secret(s)) => Arg::Str(s.0.to_string()),
                    _ => return Err(bad("the credential has no password".into())),
                }
            }
            _ => Arg::Str(value_text(param, &v)?),
        },
        Kind::Int { min, max } => {
            let n = match &v {
                Value::Int(i) => *i,
                other => {
                    let s = value_text(param, other)?;
                    s.trim()
                        .parse::<i64>()
                        .map_err(|_| bad(format!("'{s}' is not a whole number")))?
                }
            };
            if n < *min || n > *max {
                return Err(bad(format!("{n} is out of range ({min} to {max})")));
            }
            Arg::Int(n)
        }
        Kind::Bool | Kind::Switch => Arg::Bool(match &v {
            Value::Bool(b) => *b,
            Value::Int(0) => false,
            Value::Int(1) => true,
            other => {
                let s = value_text(param, other)?;
                match s
                    .trim()
                    .trim_start_matches('$')
                    .to_ascii_lowercase()
                    .as_str()
                {
                    "true" | "yes" | "1" => true,
                    "false" | "no" | "0" => false,
                    _ => return Err(bad(format!("'{s}' is not a boolean; use $true or $false"))),
                }
            }
        }),
        Kind::Enum(names) => {
            let s = value_text(param, &v)?;
            let hit = names
                .iter()
                .find(|n| n.eq_ignore_ascii_case(s.trim()))
                .ok_or_else(|| bad(format!("'{s}' is not one of {}", names.join(", "))))?;
            Arg::Str((*hit).to_string())
        }
        Kind::Domain => Arg::Domain(parse_kind(param, &v)?),
        Kind::DomainPattern => Arg::Pattern(parse_kind(param, &v)?),
        Kind::AddressSpace => Arg::AddressSpace(parse_kind(param, &v)?),
        Kind::HostPort => Arg::Host(parse_kind(param, &v)?),
        Kind::Binding => Arg::Binding(parse_kind(param, &v)?),
        Kind::IpRange => Arg::IpRange(parse_kind(param, &v)?),
        Kind::Size {
            min,
            max,
            unlimited,
        } => {
            let size = match &v {
                Value::Size(s) => *s,
                Value::Int(i) => SizeLimit::Bytes(
                    u64::try_from(*i).map_err(|_| bad(format!("{i} is negative")))?,
                ),
                _ => parse_kind(param, &v)?,
            };
            match size {
                SizeLimit::Unlimited if !*unlimited => {
                    return Err(bad(format!(
                        "cannot be Unlimited; use a size from {}",
                        kind.range_text().unwrap_or_default()
                    )));
                }
                SizeLimit::Bytes(n) if n < *min || n > *max => {
                    return Err(bad(format!(
                        "{size} is out of range ({})",
                        kind.range_text().unwrap_or_default()
                    )));
                }
                _ => Arg::Size(size),
            }
        }
        Kind::TimeSpan { min, max } => {
            let span: TimeSpan = match &v {
                Value::TimeSpan(d) => u64::try_from(d.whole_seconds())
                    .ok()
                    .filter(|_| d.subsec_nanoseconds() == 0)
                    .map(TimeSpan)
                    .ok_or_else(|| {
                        bad(format!(
                            "{v} is not a time span of whole seconds, zero or more"
                        ))
                    })?,
                _ => parse_kind(param, &v)?,
            };
            if span.0 < *min || span.0 > *max {
                return Err(bad(format!(
                    "{span} is out of range ({})",
                    kind.range_text().unwrap_or_default()
                )));
            }
            Arg::Span(span)
        }
        Kind::Limit { min, max } => {
            let limit: Limit = match &v {
                Value::Int(i) => Limit::Count(
                    u32::try_from(*i).map_err(|_| bad(format!("{i} is out of range")))?,
                ),
                _ => parse_kind(param, &v)?,
            };
            if let Limit::Count(n) = limit
                && (n < *min || n > *max)
            {
                return Err(bad(format!(
                    "{n} is out of range ({})",
                    kind.range_text().unwrap_or_default()
                )));
            }
            Arg::Limit(limit)
        }
        Kind::DateTime => Arg::Date(match &v {
            Value::Date(t) => *t,
            _ => crate::datetime::parse(&value_text(param, &v)?)
                .map_err(|e| CmdletError::bad_value(param.name, e.0))?,
        }),
        Kind::Credential => match &v {
            Value::Object(o) if o.type_name == "System.Management.Automation.PSCredential" => {
                match (o.get("UserName"), o.get("Password")) {
                    (Some(user), Some(Value::Secret(pw))) if !user.to_string().is_empty() => {
                        Arg::Credential(Credential {
                            user: user.to_string(),
                            password: pw.0.clone(),
                        })
                    }
                    _ => return Err(bad("the credential needs a user name and a password".into())),
                }
            }
            Value::Str(user) if source == Source::Cli && !user.trim().is_empty() => {
                match std::env::var(CREDENTIAL_PASSWORD_ENV) {
                    Ok(pw) if !pw.is_empty() => Arg::Credential(Credential {
                        user: user.trim().to_string(),
                        password: zeroize::Zeroizing::new(pw),
                    }),
                    _ => {
                        return Err(bad(format!(
                            "the password of '{user}' goes in the environment variable {CREDENTIAL_PASSWORD_ENV} (never on the command line)"
                        )));
                    }
                }
            }
            _ => {
                return Err(bad(
                    "give a credential: (New-Object PSCredential('user', (ConvertTo-SecureString '...' -AsPlainText -Force)))"
                        .into(),
                ));
            }
        },
        Kind::Address => Arg::Address(parse_kind(param, &v)?),
        Kind::Thumbprint => {
            let s = value_text(param, &v)?;
            // `<server>\<thumbprint>`, as a certificate's Identity reads: the
            // server is checked against the store's when the cmdlet runs.
            let (server, tp) = match s.rsplit_once('\\') {
                Some((server, tp)) => (Some(server.trim()), tp),
                None => (None, s.as_str()),
            };
            let tp = normalize_thumbprint(tp).ok_or_else(|| {
                bad(format!(
                    "'{s}' is not a thumbprint (40 hexadecimal digits, or <server>\\<thumbprint>)"
                ))
            })?;
            Arg::Str(match server {
                Some(server) => format!("{server}\\{tp}"),
                None => tp,
            })
        }
        Kind::Bytes => match v {
            Value::Str(s) => Arg::Bytes(Bytes(s.into_bytes())),
            Value::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    match i {
                        Value::Int(b) if (0..=255).contains(&b) => out.push(b as u8),
                        other => return Err(bad(format!("'{other}' is not a byte"))),
                    }
                }
                Arg::Bytes(Bytes(out))
            }
            other => return Err(bad(format!("expected bytes, got a {}", other.type_label()))),
        },
    })
}

/// A flags enum takes its names in one string, as PowerShell converts
/// one: `"Tls, BasicAuth, BasicAuthRequireTLS"` is three names.
fn split_flags(inner: &Kind, items: Vec<Value>) -> Vec<Value> {
    if !matches!(inner, Kind::Enum(_)) {
        return items;
    }
    items
        .into_iter()
        .flat_map(|i| match i {
            Value::Str(s) if s.contains(',') => s
                .split(',')
                .map(|x| Value::Str(x.trim().to_string()))
                .collect(),
            other => vec![other],
        })
        .collect()
}

fn coerce_edit(
    param: &ParamDecl,
    inner: &Kind,
    entries: Vec<(String, Value)>,
    source: Source,
) -> Result<Arg, CmdletError> {
    let mut add = Vec::new();
    let mut remove = Vec::new();
    for (k, v) in entries {
        let target = if k.eq_ignore_ascii_case("add") {
            &mut add
        } else if k.eq_ignore_ascii_case("remove") {
            &mut remove
        } else {
            return Err(CmdletError::bad_value(
                param.name,
                format!("'{k}' is not a list edit; use @{{Add=...; Remove=...}}"),
            ));
        };
        let items = match v {
            Value::List(l) => l,
            Value::Str(s) if source == Source::Cli => s
                .split(',')
                .map(|x| Value::Str(x.trim().to_string()))
                .collect(),
            other => vec![other],
        };
        for i in split_flags(inner, items) {
            target.push(coerce_kind(param, inner, i, source)?);
        }
    }
    Ok(Arg::Edit { add, remove })
}

/// The parameters every state-changing cmdlet gets, by name.
pub fn is_common(name: &str) -> bool {
    common::LIST.iter().any(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints() {
        let t = "ab cd ef 01 23 45 67 89 ab cd ef 01 23 45 67 89 ab cd ef 01";
        assert_eq!(
            normalize_thumbprint(t).unwrap(),
            "ABCDEF0123456789ABCDEF0123456789ABCDEF01"
        );
        assert!(normalize_thumbprint("xyz").is_none());
    }

    #[test]
    fn flag_enums_take_their_names_in_one_string() {
        static NAMES: &[&str] = &["Tls", "BasicAuth", "BasicAuthRequireTLS", "None"];
        static P: ParamDecl = ParamDecl::new("AuthMechanism", Kind::List(&Kind::Enum(NAMES)), "");
        let names = |a: Arg| match a {
            Arg::List(items) => items
                .into_iter()
                .map(|i| match i {
                    Arg::Str(s) => s,
                    other => panic!("{other:?}"),
                })
                .collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        for source in [Source::Shell, Source::Cli] {
            let a = coerce(&P, Value::str("tls, BasicAuth,basicauthrequiretls"), source).unwrap();
            assert_eq!(names(a), ["Tls", "BasicAuth", "BasicAuthRequireTLS"]);
        }
        let a = coerce(
            &P,
            Value::List(vec![Value::str("Tls, BasicAuth"), Value::str("None")]),
            Source::Shell,
        )
        .unwrap();
        assert_eq!(names(a), ["Tls", "BasicAuth", "None"]);
        let err = coerce(&P, Value::str("Tls, Kerberos"), Source::Shell).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("'Kerberos' is not one of Tls, BasicAuth, BasicAuthRequireTLS, None"),
            "{msg}"
        );
        // An edit too.
        let a = coerce(
            &P,
            Value::Map(vec![("Add".into(), Value::str("Tls, BasicAuth"))]),
            Source::Shell,
        )
        .unwrap();
        assert!(matches!(a, Arg::Edit { add, .. } if add.len() == 2));
    }
}

/// Model enums bind from their canonical names (the serde variant names).
macro_rules! from_arg_enum {
    ($($t:ty),*) => {$(
        impl FromArg for $t {
            const KINDS: u32 = Kind::Enum(&[]).bit();
            fn from_arg(a: &Arg) -> Option<Self> {
                match a {
                    Arg::Str(s) => serde_json::from_value(serde_json::Value::String(s.clone())).ok(),
                    _ => None,
                }
            }
        }
    )*};
}
from_arg_enum!(
    xshell_core::model::TlsAuthLevel,
    xshell_core::model::SendUsage,
    xshell_core::model::ReceiveUsage,
    xshell_core::model::AuthMechanism,
    xshell_core::model::PermissionGroup,
    xshell_core::model::AcceptedDomainType,
    xshell_core::model::ProtocolLoggingLevel,
    xshell_core::model::SmartHostAuthMechanism,
    xshell_core::model::MtaStsMode,
    xshell_core::model::SmtpDaneMode
);
