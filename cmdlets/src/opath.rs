//! OPATH filters, as Get-Queue and Get-Message take them in `-Filter`:
//! `MessageCount -gt 10 -and Status -eq 'Retry'`, `{DeliveryType -like
//! '*Smtp*'}`, `-not (Status -eq 'Ready')`.
//!
//! Properties are the objects' own (case-insensitive names); values are
//! quoted strings, numbers, `$true`/`$false`/`$null` or bare words.
//! Comparisons are numeric when both sides are whole numbers, otherwise
//! case-insensitive text; `-like` takes the wildcards `*` and `?`.

use crate::named::wildcard_match;
use crate::value::{Object, Value};
use std::cmp::Ordering;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare {
        property: String,
        op: Op,
        value: Literal,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Like,
    NotLike,
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Dash(String),
    Open,
    Close,
}

fn tokens(text: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut it = text.chars().peekable();
    while let Some(&c) = it.peek() {
        match c {
            c if c.is_whitespace() => {
                it.next();
            }
            '(' => {
                it.next();
                out.push(Tok::Open);
            }
            ')' => {
                it.next();
                out.push(Tok::Close);
            }
            '\'' | '"' => {
                it.next();
                let mut s = String::new();
                loop {
                    match it.next() {
                        // A doubled quote is one quote, as in PowerShell.
                        Some(q) if q == c && it.peek() == Some(&c) => {
                            it.next();
                            s.push(c);
                        }
                        Some(q) if q == c => break,
                        Some(other) => s.push(other),
                        None => return Err(format!("a quote ({c}) is not closed")),
                    }
                }
                out.push(Tok::Quoted(s));
            }
            _ => {
                let mut s = String::new();
                while let Some(&d) = it.peek() {
                    if d.is_whitespace() || d == '(' || d == ')' {
                        break;
                    }
                    s.push(d);
                    it.next();
                }
                // `-gt` is an operator; `-5` is a number.
                match s.strip_prefix('-') {
                    Some(op) if op.starts_with(|c: char| c.is_ascii_alphabetic()) => {
                        out.push(Tok::Dash(op.to_ascii_lowercase()))
                    }
                    _ => out.push(Tok::Word(s)),
                }
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while matches!(self.peek(), Some(Tok::Dash(d)) if d == "or") {
            self.next();
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while matches!(self.peek(), Some(Tok::Dash(d)) if d == "and") {
            self.next();
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        match self.next() {
            Some(Tok::Dash(d)) if d == "not" => Ok(Filter::Not(Box::new(self.unary()?))),
            Some(Tok::Open) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Tok::Close) => Ok(inner),
                    _ => Err("a parenthesis is not closed".into()),
                }
            }
            Some(Tok::Word(property)) => {
                let op = match self.next() {
                    Some(Tok::Dash(d)) => match d.as_str() {
                        "eq" => Op::Eq,
                        "ne" => Op::Ne,
                        "gt" => Op::Gt,
                        "ge" => Op::Ge,
                        "lt" => Op::Lt,
                        "le" => Op::Le,
                        "like" => Op::Like,
                        "notlike" => Op::NotLike,
                        other => {
                            return Err(format!(
                                "-{other} is not a filter operator; use -eq, -ne, -gt, -ge, -lt, -le, -like or -notlike"
                            ));
                        }
                    },
                    _ => {
                        return Err(format!(
                            "'{property}' must be followed by an operator such as -eq"
                        ));
                    }
                };
                let value = match self.next() {
                    Some(Tok::Quoted(s)) => Literal::Text(s),
                    Some(Tok::Word(w)) => match w.to_ascii_lowercase().as_str() {
                        "$null" => Literal::Null,
                        "$true" => Literal::Bool(true),
                        "$false" => Literal::Bool(false),
                        _ => Literal::Text(w),
                    },
                    _ => return Err(format!("a value is missing after '{property}'")),
                };
                Ok(Filter::Compare {
                    property,
                    op,
                    value,
                })
            }
            Some(Tok::Quoted(q)) => Err(format!("'{q}': a comparison starts with a property name")),
            Some(Tok::Dash(d)) => Err(format!("unexpected -{d}")),
            Some(Tok::Close) => Err("unexpected ')'".into()),
            None => Err("the filter ends too early".into()),
        }
    }
}

impl Filter {
    /// Parses a filter; a script block's braces around it are allowed.
    pub fn parse(text: &str) -> Result<Filter, String> {
        let t = text.trim();
        let t = t
            .strip_prefix('{')
            .and_then(|x| x.strip_suffix('}'))
            .unwrap_or(t);
        let mut p = Parser {
            toks: tokens(t)?,
            pos: 0,
        };
        if p.toks.is_empty() {
            return Err("the filter is empty".into());
        }
        let f = p.or()?;
        match p.peek() {
            None => Ok(f),
            Some(extra) => Err(format!(
                "unexpected {} after a complete comparison; join comparisons with -and or -or",
                match extra {
                    Tok::Word(w) | Tok::Quoted(w) => format!("'{w}'"),
                    Tok::Dash(d) => format!("-{d}"),
                    Tok::Open => "'('".into(),
                    Tok::Close => "')'".into(),
                }
            )),
        }
    }

    /// Property names the filter reads that `known` does not have.
    pub fn unknown_properties<'a>(&'a self, known: &[&str]) -> Vec<&'a str> {
        let mut out = Vec::new();
        self.walk(&mut |p| {
            if !known.iter().any(|k| k.eq_ignore_ascii_case(p)) && !out.contains(&p) {
                out.push(p);
            }
        });
        out
    }

    fn walk<'a>(&'a self, f: &mut impl FnMut(&'a str)) {
        match self {
            Filter::And(a, b) | Filter::Or(a, b) => {
                a.walk(f);
                b.walk(f);
            }
            Filter::Not(a) => a.walk(f),
            Filter::Compare { property, .. } => f(property),
        }
    }

    /// Whether `o` passes the filter.
    pub fn matches(&self, o: &Object) -> bool {
        match self {
            Filter::And(a, b) => a.matches(o) && b.matches(o),
            Filter::Or(a, b) => a.matches(o) || b.matches(o),
            Filter::Not(a) => !a.matches(o),
            Filter::Compare {
                property,
                op,
                value,
            } => compare(o.get(property).unwrap_or(&Value::Null), *op, value),
        }
    }
}

fn compare(left: &Value, op: Op, right: &Literal) -> bool {
    let text = match right {
        Literal::Null => {
            let null = matches!(left, Value::Null) || left.to_string().is_empty();
            return match op {
                Op::Eq => null,
                Op::Ne => !null,
                _ => false,
            };
        }
        Literal::Bool(b) => {
            let l = match left {
                Value::Bool(x) => *x,
                other => other.to_string().eq_ignore_ascii_case("true"),
            };
            return match op {
                Op::Eq => l == *b,
                Op::Ne => l != *b,
                _ => false,
            };
        }
        Literal::Text(t) => t,
    };
    let l = left.to_string();
    let order = match (l.trim().parse::<i64>(), text.trim().parse::<i64>()) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        _ => l.to_lowercase().cmp(&text.to_lowercase()),
    };
    match op {
        Op::Eq => order == Ordering::Equal,
        Op::Ne => order != Ordering::Equal,
        Op::Gt => order == Ordering::Greater,
        Op::Ge => order != Ordering::Less,
        Op::Lt => order == Ordering::Less,
        Op::Le => order != Ordering::Greater,
        Op::Like => wildcard_match(text, &l),
        Op::NotLike => !wildcard_match(text, &l),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::View;

    fn queue(count: i64, status: &str) -> Object {
        Object::new("Queue", View::List)
            .with("MessageCount", Value::Int(count))
            .with("Status", Value::str(status))
            .with("DeliveryType", Value::str("DnsConnectorDelivery"))
    }

    #[test]
    fn comparisons_and_logic() {
        let f = Filter::parse("{MessageCount -gt 10 -and Status -eq 'Retry'}").unwrap();
        assert!(f.matches(&queue(11, "Retry")));
        assert!(!f.matches(&queue(10, "Retry")));
        assert!(!f.matches(&queue(11, "ready")));
        // Numbers compare as numbers, not text ("9" > "10" as text).
        assert!(
            Filter::parse("MessageCount -lt 10")
                .unwrap()
                .matches(&queue(9, "x"))
        );
        let f =
            Filter::parse("-not (Status -eq \"Ready\") -or DeliveryType -like '*dns*'").unwrap();
        assert!(f.matches(&queue(0, "Ready")));
        assert!(
            Filter::parse("Status -ne $null")
                .unwrap()
                .matches(&queue(0, "Ready"))
        );
        assert!(
            Filter::parse("Status -eq 'It''s'")
                .unwrap()
                .matches(&queue(0, "it's"))
        );
    }

    #[test]
    fn bad_filters_say_why() {
        for (text, want) in [
            ("", "empty"),
            ("MessageCount", "operator"),
            ("MessageCount -gt", "value is missing"),
            ("MessageCount -contains 3", "not a filter operator"),
            ("(Status -eq 'a'", "not closed"),
            ("Status -eq 'a", "not closed"),
            ("Status -eq a b", "-and or -or"),
        ] {
            let e = Filter::parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
        let f = Filter::parse("MesageCount -gt 1").unwrap();
        assert_eq!(f.unknown_properties(&["MessageCount"]), vec!["MesageCount"]);
    }
}
