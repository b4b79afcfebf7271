//! SMTP replies (RFC 5321 section 4.2) with enhanced status codes
//! (RFC 2034 / RFC 3463).
//!
//! A [`Reply`] is a three-digit code, an optional enhanced code and one or
//! more text lines. [`Reply::write_to`] renders it on the wire: every line
//! but the last is `code-text`, the last is `code text`, and the enhanced
//! code (when present) is repeated on every line as RFC 2034 asks.

use std::fmt;

/// An enhanced status code `class.subject.detail`, e.g. `(5, 5, 1)`.
pub type Enhanced = (u8, u16, u16);

/// One SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code (200..=599).
    pub code: u16,
    /// The enhanced status code, shown after the reply code when present.
    pub enhanced: Option<Enhanced>,
    /// Text lines; never empty when built with the constructors (an empty
    /// list renders as one line with no text).
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply with an enhanced code.
    pub fn new(code: u16, enhanced: Enhanced, text: impl Into<String>) -> Self {
        Reply {
            code,
            enhanced: Some(enhanced),
            lines: vec![text.into()],
        }
    }

    /// A one-line reply without an enhanced code (greeting, EHLO, 354).
    pub fn plain(code: u16, text: impl Into<String>) -> Self {
        Reply {
            code,
            enhanced: None,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply without an enhanced code (the EHLO response).
    pub fn multiline(code: u16, lines: Vec<String>) -> Self {
        Reply {
            code,
            enhanced: None,
            lines,
        }
    }

    /// 2yz.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 4yz: the client may try again later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5yz: the client must not repeat the same command.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// Appends the wire form (CRLF-terminated lines) to `out`. Any CR or LF
    /// inside a text line is replaced by a space so a reply can never
    /// inject an extra line.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let empty = [String::new()];
        let lines: &[String] = if self.lines.is_empty() {
            &empty
        } else {
            &self.lines
        };
        let last = lines.len() - 1;
        for (i, line) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            out.extend_from_slice(format!("{:03}{}", self.code, sep).as_bytes());
            if let Some((c, s, d)) = self.enhanced {
                out.extend_from_slice(format!("{c}.{s}.{d} ").as_bytes());
            }
            out.extend(line.bytes().map(|b| match b {
                b'\r' | b'\n' => b' ',
                other => other,
            }));
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The wire form as a byte vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}

impl fmt::Display for Reply {
    /// The wire form without the final CRLF (for logs and error messages).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        let text = String::from_utf8_lossy(&bytes);
        f.write_str(text.trim_end_matches("\r\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_with_enhanced_code() {
        let r = Reply::new(250, (2, 1, 0), "Sender OK");
        assert_eq!(r.to_bytes(), b"250 2.1.0 Sender OK\r\n");
        assert_eq!(r.to_string(), "250 2.1.0 Sender OK");
    }

    #[test]
    fn multiline_uses_dash_then_space() {
        let r = Reply::multiline(
            250,
            vec!["mx.example".into(), "PIPELINING".into(), "8BITMIME".into()],
        );
        assert_eq!(
            r.to_bytes(),
            b"250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
        );
    }

    #[test]
    fn multiline_repeats_enhanced_code() {
        let r = Reply {
            code: 214,
            enhanced: Some((2, 0, 0)),
            lines: vec!["a".into(), "b".into()],
        };
        assert_eq!(r.to_bytes(), b"214-2.0.0 a\r\n214 2.0.0 b\r\n");
    }

    #[test]
    fn crlf_in_text_cannot_inject_a_line() {
        let r = Reply::plain(250, "ok\r\n250 injected");
        assert_eq!(r.to_bytes(), b"250 ok  250 injected\r\n");
    }

    #[test]
    fn empty_lines_render_one_line() {
        let r = Reply::multiline(250, vec![]);
        assert_eq!(r.to_bytes(), b"250 \r\n");
    }

    #[test]
    fn classes() {
        assert!(Reply::plain(250, "").is_positive());
        assert!(Reply::plain(452, "").is_transient());
        assert!(Reply::plain(550, "").is_permanent());
    }
}
