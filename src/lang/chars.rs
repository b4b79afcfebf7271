//! Character classes of the shell language and numeric literal parsing.

use super::ast::Number;

/// `-` and the dashes word processors substitute for it (en dash, em dash, horizontal bar);
/// PowerShell accepts all of them, and scripts pasted from documents contain them.
pub(crate) fn is_dash(c: char) -> bool {
    matches!(c, '-' | '\u{2013}' | '\u{2014}' | '\u{2015}')
}

/// `'` and the typographic single quotes PowerShell also accepts.
pub(crate) fn is_single_quote(c: char) -> bool {
    matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}')
}

/// `"` and the typographic double quotes PowerShell also accepts.
pub(crate) fn is_double_quote(c: char) -> bool {
    matches!(c, '"' | '\u{201C}' | '\u{201D}' | '\u{201E}')
}

pub(crate) fn is_quote(c: char) -> bool {
    is_single_quote(c) || is_double_quote(c)
}

/// Whitespace that does not end a statement (everything but `\n`; `\r` of `\r\n` included).
pub(crate) fn is_hspace(c: char) -> bool {
    (c.is_whitespace() && c != '\n') || c == '\u{feff}'
}

/// Characters that end a bareword in command mode.
pub(crate) fn ends_word(c: char) -> bool {
    c.is_whitespace()
        || c == '\u{feff}'
        || matches!(c, ';' | '|' | '&' | '(' | ')' | '{' | '}' | ',' | '<' | '>')
}

/// First character of a parameter name, variable name or member name.
pub(crate) fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

pub(crate) fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The character a backtick escape stands for (`` `n `` is a newline, `` `$ `` is `$`, ...).
pub(crate) fn escape_char(c: char) -> char {
    match c {
        '0' => '\0',
        'a' => '\u{7}',
        'b' => '\u{8}',
        'e' => '\u{1b}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\u{b}',
        other => other,
    }
}

/// Parses a numeric literal: an optional `-`, then a decimal integer (`25`), a decimal
/// fraction or exponent (`1.5`, `.5`, `1e3`) or hex (`0x1F`), then an optional size suffix
/// `KB`, `MB`, `GB`, `TB`, `PB` (case-insensitive, powers of 1024). Returns `None` if the
/// whole text is not such a literal (callers then treat it as a bareword or report it).
///
/// Integers that do not fit `i64` become floats (as in PowerShell); hex literals must fit.
pub(crate) fn parse_number(text: &str) -> Option<Number> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (digits, multiplier) = split_size_suffix(&lower);
    let value = if let Some(hex) = digits.strip_prefix("0x") {
        if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let v = u64::from_str_radix(hex, 16).ok()?;
        Number::Int(i64::try_from(v).ok()?)
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        match digits.parse::<i64>() {
            Ok(v) => Number::Int(v),
            Err(_) => Number::Float(digits.parse::<f64>().ok()?),
        }
    } else if is_decimal_float(digits) {
        Number::Float(digits.parse::<f64>().ok()?)
    } else {
        return None;
    };
    let value = match value {
        Number::Int(v) => match v.checked_mul(multiplier) {
            Some(m) => Number::Int(m),
            None => Number::Float(v as f64 * multiplier as f64),
        },
        Number::Float(f) => Number::Float(f * multiplier as f64),
    };
    let value = if negative {
        match value {
            Number::Int(v) => Number::Int(v.checked_neg()?),
            Number::Float(f) => Number::Float(-f),
        }
    } else {
        value
    };
    match value {
        Number::Float(f) if !f.is_finite() => None,
        v => Some(v),
    }
}

fn split_size_suffix(lower: &str) -> (&str, i64) {
    const SUFFIXES: [(&str, i64); 5] = [
        ("kb", 1 << 10),
        ("mb", 1 << 20),
        ("gb", 1 << 30),
        ("tb", 1 << 40),
        ("pb", 1 << 50),
    ];
    for (suffix, multiplier) in SUFFIXES {
        if let Some(digits) = lower.strip_suffix(suffix) {
            return (digits, multiplier);
        }
    }
    (lower, 1)
}

/// `digits? ('.' digits)? (e [+-]? digits)?` with at least one mantissa digit and a `.` or
/// an exponent.
fn is_decimal_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let mut mantissa_digits = i - int_start;
    let mut special = false;
    if b.get(i) == Some(&b'.') {
        special = true;
        i += 1;
        let frac_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == frac_start {
            return false;
        }
        mantissa_digits += i - frac_start;
    }
    if mantissa_digits == 0 {
        return false;
    }
    if b.get(i) == Some(&b'e') {
        special = true;
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    special && i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_number("25"), Some(Number::Int(25)));
        assert_eq!(parse_number("25MB"), Some(Number::Int(26_214_400)));
        assert_eq!(parse_number("25mb"), Some(Number::Int(26_214_400)));
        assert_eq!(parse_number("1kb"), Some(Number::Int(1024)));
        assert_eq!(parse_number("2TB"), Some(Number::Int(2 << 40)));
        assert_eq!(parse_number("1.5GB"), Some(Number::Float(1_610_612_736.0)));
        assert_eq!(parse_number("0x1F"), Some(Number::Int(31)));
        assert_eq!(parse_number("0X1f"), Some(Number::Int(31)));
        assert_eq!(parse_number("-5"), Some(Number::Int(-5)));
        assert_eq!(parse_number("-1.5"), Some(Number::Float(-1.5)));
        assert_eq!(parse_number(".5"), Some(Number::Float(0.5)));
        assert_eq!(parse_number("1e3"), Some(Number::Float(1000.0)));
        assert_eq!(parse_number("1E-3"), Some(Number::Float(0.001)));
        assert_eq!(
            parse_number("99999999999999999999"),
            Some(Number::Float(1e20))
        );
        for bad in [
            "",
            "-",
            "0x",
            "0xG",
            "2.00:00:00",
            "00:10:00",
            "1.",
            "1..2",
            "e5",
            "MB",
            "5x",
            "1e",
            "1.2.3",
            "mail.orga",
            "--5",
            "0x1FFFFFFFFFFFFFFFF",
            "9999999999PB0",
            "1e999",
            "-0x8000000000000000",
        ] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
        assert_eq!(parse_number("8191PB"), Some(Number::Int(8191 << 50)));
        assert_eq!(
            parse_number("8192PB"),
            Some(Number::Float(8192.0 * (1u64 << 50) as f64))
        );
    }
}
