//! Parse errors and their rendering with a caret under the offending token.

use super::span::{Span, floor_char_boundary, line_col};

/// The first syntax error found in a script.
///
/// `span` points at the offending token (for an unclosed construct: at its opening
/// character). `incomplete` is true when the error only arises because the input ended
/// early (unclosed quote, brace or parenthesis, trailing `|`, `,`, operator or backtick):
/// an interactive prompt should then read another line instead of reporting the error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// What is wrong, phrased for an administrator ("missing closing '}'").
    pub message: String,
    /// Where.
    pub span: Span,
    /// The input ended before the construct was complete.
    pub incomplete: bool,
}

impl ParseError {
    /// An error about a complete but invalid input.
    pub fn new(message: impl Into<String>, span: Span) -> Self {
        Self {
            message: message.into(),
            span,
            incomplete: false,
        }
    }

    /// An error caused by the input ending too early.
    pub fn incomplete(message: impl Into<String>, span: Span) -> Self {
        Self {
            message: message.into(),
            span,
            incomplete: true,
        }
    }

    /// 1-based `(line, column)` of the error in `source`.
    pub fn line_col(&self, source: &str) -> (usize, usize) {
        self.span.line_col(source)
    }

    /// Renders the error as
    ///
    /// ```text
    /// provision.xsh:3:49: error: unterminated string starting here
    ///     Set-TransportConfig -TLSReceiveDomainSecureList "a.tld
    ///                                                     ^
    /// ```
    ///
    /// i.e. `name:line:column`, the source line and a caret under the start of the span.
    /// Control characters of the line are shown as `?` so that a script cannot drive the
    /// terminal; tabs are kept (also in the caret's indentation) so the caret lines up.
    /// No trailing newline.
    pub fn render(&self, source_name: &str, source: &str) -> String {
        let (line, column) = line_col(source, self.span.start);
        let offset = floor_char_boundary(source, self.span.start);
        let before = source.get(..offset).unwrap_or("");
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let after = source.get(line_start..).unwrap_or("");
        let line_text = after.split('\n').next().unwrap_or("");
        let line_text = line_text.strip_suffix('\r').unwrap_or(line_text);
        let shown: String = line_text
            .chars()
            .map(|c| if c.is_control() && c != '\t' { '?' } else { c })
            .collect();
        let pad: String = source
            .get(line_start..offset)
            .unwrap_or("")
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        format!(
            "{source_name}:{line}:{column}: error: {}\n    {shown}\n    {pad}^",
            sanitize(&self.message)
        )
    }
}

/// Replaces control characters (other than tab) so that output is terminal-safe.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() && c != '\t' { '?' } else { c })
        .collect()
}

/// Shows a piece of source in a message: control characters escaped, long text shortened.
pub(crate) fn show(text: &str) -> String {
    const MAX: usize = 40;
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
