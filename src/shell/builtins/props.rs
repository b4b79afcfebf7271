//! Property lists as Select-Object, Sort-Object, Group-Object and the
//! formatters take them: names with wildcards (`TLS*`) and calculated
//! properties (`@{n='X';e={$_.A}}`, `@{Name='X';Expression='A'}`).

use super::Given;
use crate::lang::{ExprKind, HashEntry, PipelineElement, Script, Span};
use crate::shell::{R, RuntimeError, Shell, collapse, member};
use xshell_cmdlets::Value;
use xshell_cmdlets::named::wildcard_match;

/// How a calculated property gets its value.
#[derive(Debug, Clone)]
pub(super) enum Expression<'c> {
    Block(&'c Script),
    Property(String),
}

/// One entry of a property list.
#[derive(Debug, Clone)]
pub(super) enum Prop<'c> {
    /// A property name, possibly with wildcards.
    Name(String),
    Calculated {
        label: String,
        expression: Expression<'c>,
        /// Sort-Object's per-key direction (`@{e='X'; Descending=$true}`).
        descending: Option<bool>,
    },
}

fn prop_error(span: Span, message: String) -> RuntimeError {
    RuntimeError::msg(message, span)
}

/// Reads a property list from an argument; errors in an evaluated
/// hashtable point at `at`.
pub(super) fn props<'c>(sh: &mut Shell<'_>, g: &Given<'c>, at: Span) -> R<Vec<Prop<'c>>> {
    match g {
        Given::Value(v) => {
            let mut out = Vec::new();
            for item in crate::shell::flatten(v.clone()) {
                match item {
                    Value::Map(entries) => out.push(from_map(entries, at)?),
                    other => out.extend(names(&other).into_iter().map(Prop::Name)),
                }
            }
            Ok(out)
        }
        Given::Code(e) => {
            let items: Vec<&crate::lang::Expr> = match &e.kind {
                ExprKind::Array(items) => items.iter().collect(),
                _ => vec![e],
            };
            let mut out = Vec::new();
            for item in items {
                match &item.kind {
                    ExprKind::ScriptBlock(s) => out.push(Prop::Calculated {
                        label: s.span.text(&sh.source).trim().to_string(),
                        expression: Expression::Block(s),
                        descending: None,
                    }),
                    ExprKind::Hashtable(entries) => {
                        out.push(from_hashtable(sh, entries, item.span)?)
                    }
                    _ => {
                        let v = sh.expr(item)?;
                        out.extend(names(&v).into_iter().map(Prop::Name));
                    }
                }
            }
            Ok(out)
        }
    }
}

/// A calculated property written as a hashtable literal: its Expression
/// may be a script block, which is kept to run per object.
fn from_hashtable<'c>(sh: &mut Shell<'_>, entries: &'c [HashEntry], span: Span) -> R<Prop<'c>> {
    let mut label = None;
    let mut expression = None;
    let mut descending = None;
    for en in entries {
        let key = crate::shell::display_in_string(&sh.expr(&en.key)?);
        let kind = key_kind(&key).ok_or_else(|| bad_key(en.key.span, &key))?;
        let block = match en.value.elements.as_slice() {
            [PipelineElement::Expression(x)] => super::script_block(x),
            _ => None,
        };
        if let (Key::Expression, Some(s)) = (kind, block) {
            expression = Some(Expression::Block(s));
            continue;
        }
        let v = collapse(sh.pipeline(&en.value)?);
        apply_key(kind, v, &mut label, &mut expression, &mut descending);
    }
    let Some(expression) = expression else {
        return Err(prop_error(span, NEEDS_EXPRESSION.into()));
    };
    let label = label.unwrap_or_else(|| match &expression {
        Expression::Property(p) => p.clone(),
        Expression::Block(s) => s.span.text(&sh.source).trim().to_string(),
    });
    Ok(Prop::Calculated {
        label,
        expression,
        descending,
    })
}

/// The keys a calculated property may have (any unambiguous prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Name,
    Expression,
    Descending,
    Ascending,
    /// Format-Table's Width, Alignment and FormatString: accepted.
    Format,
}

fn key_kind(key: &str) -> Option<Key> {
    let k = key.to_ascii_lowercase();
    if k.is_empty() {
        return None;
    }
    let is = |full: &str| full.starts_with(&k);
    Some(if is("expression") {
        Key::Expression
    } else if is("name") || is("label") {
        Key::Name
    } else if is("descending") {
        Key::Descending
    } else if is("ascending") {
        Key::Ascending
    } else if is("width") || is("alignment") || is("formatstring") {
        Key::Format
    } else {
        return None;
    })
}

fn bad_key(span: Span, key: &str) -> RuntimeError {
    prop_error(
        span,
        format!(
            "the '{key}' key is not valid in a calculated property: use Name (n, Label, l) and Expression (e)"
        ),
    )
}

fn apply_key<'c>(
    kind: Key,
    v: Value,
    label: &mut Option<String>,
    expression: &mut Option<Expression<'c>>,
    descending: &mut Option<bool>,
) {
    match kind {
        Key::Name => *label = Some(v.to_string()),
        Key::Expression => *expression = Some(Expression::Property(v.to_string())),
        Key::Descending => *descending = Some(v.truthy()),
        Key::Ascending => *descending = Some(!v.truthy()),
        Key::Format => {}
    }
}

/// A calculated property written without a script block
/// (`@{n='X'; e='Name'}`), already evaluated.
fn from_map<'c>(entries: Vec<(String, Value)>, at: Span) -> R<Prop<'c>> {
    let mut label = None;
    let mut expression = None;
    let mut descending = None;
    for (k, v) in entries {
        let kind = key_kind(&k).ok_or_else(|| bad_key(at, &k))?;
        apply_key(kind, v, &mut label, &mut expression, &mut descending);
    }
    let Some(expression) = expression else {
        return Err(prop_error(at, NEEDS_EXPRESSION.into()));
    };
    let label = label.unwrap_or_else(|| match &expression {
        Expression::Property(p) => p.clone(),
        Expression::Block(_) => String::new(),
    });
    Ok(Prop::Calculated {
        label,
        expression,
        descending,
    })
}

const NEEDS_EXPRESSION: &str =
    "a calculated property needs an Expression (e) key: @{n='Name'; e={$_.Prop}}";

/// Property names from a value: a list, or one name (a comma in a quoted
/// string is part of the name, as in PowerShell).
pub(super) fn names(v: &Value) -> Vec<String> {
    match v {
        Value::Null => Vec::new(),
        Value::List(items) => items.iter().flat_map(names).collect(),
        other => vec![other.to_string()],
    }
}

/// The property names of a value, in order.
pub(super) fn property_names(v: &Value) -> Vec<String> {
    match v {
        Value::Object(o) => o.props.iter().map(|(k, _)| k.clone()).collect(),
        Value::Map(m) => m.iter().map(|(k, _)| k.clone()).collect(),
        Value::Str(_) => vec!["Length".into()],
        _ => Vec::new(),
    }
}

/// The value of one calculated or named property of `item`.
pub(super) fn evaluate(sh: &mut Shell<'_>, e: &Expression<'_>, item: &Value) -> R<Value> {
    match e {
        Expression::Block(s) => Ok(collapse(sh.run_block(s, item)?)),
        Expression::Property(p) => Ok(member(item, p).unwrap_or(Value::Null)),
    }
}

/// `props` applied to `item`: wildcards expanded against its properties
/// (each property once), calculated properties evaluated. A name that
/// matches nothing gives an empty value, as in PowerShell.
pub(super) fn resolve(
    sh: &mut Shell<'_>,
    props: &[Prop<'_>],
    item: &Value,
) -> R<Vec<(String, Value)>> {
    let mut out: Vec<(String, Value)> = Vec::new();
    let have = property_names(item);
    for p in props {
        match p {
            Prop::Name(pattern) if pattern.contains(['*', '?']) => {
                for n in &have {
                    if wildcard_match(pattern, n) && !out.iter().any(|(k, _)| k == n) {
                        out.push((n.clone(), member(item, n).unwrap_or(Value::Null)));
                    }
                }
            }
            Prop::Name(name) => {
                let shown = have
                    .iter()
                    .find(|n| n.eq_ignore_ascii_case(name))
                    .cloned()
                    .unwrap_or_else(|| name.clone());
                if !out.iter().any(|(k, _)| k.eq_ignore_ascii_case(&shown)) {
                    let v = member(item, name).unwrap_or(Value::Null);
                    out.push((shown, v));
                }
            }
            Prop::Calculated {
                label, expression, ..
            } => {
                let v = evaluate(sh, expression, item)?;
                out.push((label.clone(), v));
            }
        }
    }
    Ok(out)
}
