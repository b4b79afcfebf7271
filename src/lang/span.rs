//! Byte-offset spans into the script source and their line/column positions.

/// A byte range `start..end` into the source text of a script.
///
/// Every AST node and every [`ParseError`](super::ParseError) carries one. Offsets always lie
/// on UTF-8 character boundaries of the parsed source; the helpers below nevertheless accept
/// any offset (they clamp and never panic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// Offset of the first byte.
    pub start: usize,
    /// Offset one past the last byte (`start == end` for an empty span, e.g. end of input).
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`.
    pub const fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }

    /// The smallest span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// True for an empty span.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The source text covered by the span (empty if the span does not fit `src`).
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        src.get(self.start..self.end).unwrap_or("")
    }

    /// 1-based `(line, column)` of the span's start; the column counts characters.
    pub fn line_col(&self, src: &str) -> (usize, usize) {
        line_col(src, self.start)
    }

    /// 1-based `(line, column)` of the span's end.
    pub fn end_line_col(&self, src: &str) -> (usize, usize) {
        line_col(src, self.end)
    }
}

/// 1-based `(line, column)` of a byte offset in `src`; the column counts characters (not
/// bytes). Lines are separated by `\n` (a preceding `\r` counts as a character of the line).
/// Offsets past the end clamp to the end of `src`.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for (i, c) in src.char_indices() {
        if i >= offset {
            break;
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

/// Largest char boundary of `src` that is `<= offset` (clamped to `src.len()`).
pub(crate) fn floor_char_boundary(src: &str, offset: usize) -> usize {
    let mut o = offset.min(src.len());
    while o > 0 && !src.is_char_boundary(o) {
        o -= 1;
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_chars_and_lines() {
        let src = "ab\ncä€d\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 2), (1, 3));
        assert_eq!(line_col(src, 3), (2, 1));
        // 'd' is after c (1 byte), ä (2 bytes), € (3 bytes)
        let d = src.find('d').unwrap_or(0);
        assert_eq!(line_col(src, d), (2, 4));
        assert_eq!(line_col(src, 1000), (3, 1));
        // not a char boundary: no panic
        assert_eq!(line_col(src, 5), (2, 3));
        assert_eq!(Span::new(3, 4).line_col(src), (2, 1));
        assert_eq!(Span::new(3, 4).text(src), "c");
        assert_eq!(Span::new(4, 5).text(src), "");
        assert_eq!(floor_char_boundary(src, 5), 4);
    }
}
