//! SMTP replies (RFC 5321 section 4.2) with enhanced status codes
//! (RFC 2034 / RFC 3463).
//!
//! A [`Reply`] is a three-digit code, an optional enhanced code and one or
//! more text lines. [`Reply::write_to`] renders it on the wire: every line
//! but the last is `code-text`, the last is `code text`, and the enhanced
//! code (when present) is repeated on every line as RFC 2034 asks.
//!
//! [`ReplyParser::parse`] reads replies as a client receives them: it takes
//! the bytes received so far and returns a complete [`Reply`] and how many
//! octets it used, or `None` when more input is needed. Lines end with CRLF
//! (a bare LF is tolerated); every line of a multi-line reply must carry the
//! same code; the enhanced code is taken from the first line when its class
//! agrees with the reply code and is removed from every line that repeats it.
//! [`Reply::from_str`](std::str::FromStr) reads back the text form that
//! [`Reply`]'s `Display` writes (a stored last reply, a log line).

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

/// Longest reply line accepted (RFC 5321 says 512; servers exceed it).
pub const MAX_LINE: usize = 4096;
/// Most lines in one reply.
pub const MAX_LINES: usize = 512;

/// The server broke the reply syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("reply line is not `NNN text`: {0:?}")]
    Syntax(String),
    #[error("multi-line reply changes its code from {first} to {later}")]
    MixedCodes { first: u16, later: u16 },
    #[error("reply line longer than {MAX_LINE} octets")]
    LineTooLong,
    #[error("reply with more than {MAX_LINES} lines")]
    TooManyLines,
}

/// Parses `x.y.z ` at the start of `text` for a reply of class `class`.
fn split_enhanced(text: &str, class: u16) -> Option<(Enhanced, &str)> {
    let (code, rest) = match text.split_once(' ') {
        Some((c, r)) => (c, r),
        None => (text, ""),
    };
    let mut parts = code.split('.');
    let c: u8 = parts.next()?.parse().ok()?;
    let s: u16 = parts.next()?.parse().ok()?;
    let d: u16 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || u16::from(c) != class || !(2..=5).contains(&c) {
        return None;
    }
    if s > 999 || d > 999 {
        return None;
    }
    Some(((c, s, d), rest))
}

/// Stateless reply parser (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplyParser;

impl ReplyParser {
    /// Parses one complete reply at the start of `buf`. `Ok(None)`: more
    /// input is needed. `Ok(Some((reply, used)))`: `used` octets formed it.
    pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, ReplyError> {
        let mut at = 0;
        let mut code = None;
        let mut raw_lines: Vec<String> = Vec::new();
        loop {
            let rest = &buf[at..];
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                if rest.len() > MAX_LINE {
                    return Err(ReplyError::LineTooLong);
                }
                return Ok(None);
            };
            if nl > MAX_LINE {
                return Err(ReplyError::LineTooLong);
            }
            let line = rest[..nl].strip_suffix(b"\r").unwrap_or(&rest[..nl]);
            at += nl + 1;
            let text = String::from_utf8_lossy(line);
            let bad = || ReplyError::Syntax(text.chars().take(80).collect());
            let digits = line.get(..3).ok_or_else(bad)?;
            if !digits.iter().all(u8::is_ascii_digit) || !(b'2'..=b'5').contains(&digits[0]) {
                return Err(bad());
            }
            let this: u16 = digits
                .iter()
                .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
            let sep = line.get(3).copied();
            if !matches!(sep, None | Some(b' ') | Some(b'-')) {
                return Err(bad());
            }
            match code {
                None => code = Some(this),
                Some(first) if first != this => {
                    return Err(ReplyError::MixedCodes { first, later: this });
                }
                Some(_) => {}
            }
            raw_lines.push(text.get(4..).unwrap_or("").to_string());
            if raw_lines.len() > MAX_LINES {
                return Err(ReplyError::TooManyLines);
            }
            if sep != Some(b'-') {
                break;
            }
        }
        let code = code.unwrap_or(0);
        let class = code / 100;
        let enhanced = raw_lines
            .first()
            .and_then(|l| split_enhanced(l, class))
            .map(|(e, _)| e);
        let lines = raw_lines
            .into_iter()
            .map(|l| match (enhanced, split_enhanced(&l, class)) {
                (Some(e), Some((e2, rest))) if e == e2 => rest.to_string(),
                _ => l,
            })
            .collect();
        Ok(Some((
            Reply {
                code,
                enhanced,
                lines,
            },
            at,
        )))
    }
}

impl std::str::FromStr for Reply {
    type Err = ReplyError;

    /// Reads the text form [`Reply`]'s `Display` writes: the wire form
    /// without its final CRLF (`454 4.7.5 Certificate validation failure`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut wire = s.trim().to_string();
        wire.push_str("\r\n");
        match ReplyParser::parse(wire.as_bytes())? {
            Some((reply, used)) if used == wire.len() => Ok(reply),
            _ => Err(ReplyError::Syntax(s.chars().take(80).collect())),
        }
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

#[cfg(test)]
mod parser_tests {
    use super::*;

    fn one(s: &str) -> Reply {
        let (r, used) = ReplyParser::parse(s.as_bytes()).unwrap().unwrap();
        assert_eq!(used, s.len());
        r
    }

    #[test]
    fn single_and_enhanced() {
        let r = one("250 2.1.0 Sender OK\r\n");
        assert_eq!(r.code, 250);
        assert_eq!(r.enhanced, Some((2, 1, 0)));
        assert_eq!(r.lines, ["Sender OK"]);
        // round trip through the server's writer
        assert_eq!(r.to_bytes(), b"250 2.1.0 Sender OK\r\n");
        let r = one("220 mx.example ESMTP\r\n");
        assert_eq!(r.enhanced, None);
        assert_eq!(r.lines, ["mx.example ESMTP"]);
        // class mismatch is not an enhanced code
        assert_eq!(one("550 2.1.0 odd\r\n").enhanced, None);
        assert_eq!(one("250\r\n").lines, [""]);
        assert_eq!(one("250 ok\n").lines, ["ok"]);
    }

    #[test]
    fn multiline() {
        let r = one("250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n");
        assert_eq!(r.lines, ["mx.example", "PIPELINING", "SIZE 1000"]);
        let r = one("550-5.1.1 no such\r\n550 5.1.1 user\r\n");
        assert_eq!(r.enhanced, Some((5, 1, 1)));
        assert_eq!(r.lines, ["no such", "user"]);
    }

    #[test]
    fn incomplete_and_leftover() {
        assert!(ReplyParser::parse(b"250-a\r\n250 b").unwrap().is_none());
        assert!(ReplyParser::parse(b"").unwrap().is_none());
        let (r, used) = ReplyParser::parse(b"220 ready\r\n250 fake\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((r.code, used), (220, 11));
    }

    #[test]
    fn errors() {
        assert!(matches!(
            ReplyParser::parse(b"250-a\r\n251 b\r\n"),
            Err(ReplyError::MixedCodes { .. })
        ));
        for bad in ["hello\r\n", "25\r\n", "199 x\r\n", "250x\r\n", "650 x\r\n"] {
            assert!(
                matches!(
                    ReplyParser::parse(bad.as_bytes()),
                    Err(ReplyError::Syntax(_))
                ),
                "{bad:?}"
            );
        }
        let long = vec![b'2'; MAX_LINE + 2];
        assert_eq!(
            ReplyParser::parse(&long).unwrap_err(),
            ReplyError::LineTooLong
        );
    }

    #[test]
    fn the_text_form_parses_back() {
        let r: Reply = "454 4.7.5 Certificate validation failure".parse().unwrap();
        assert_eq!(
            r,
            Reply::new(454, (4, 7, 5), "Certificate validation failure")
        );
        let r: Reply = "421 closing".parse().unwrap();
        assert_eq!((r.code, r.enhanced), (421, None));
        assert!("oops".parse::<Reply>().is_err());
        assert!("250 ok\r\n250 again".parse::<Reply>().is_err());
        let mut multi = Reply::new(250, (2, 0, 0), "first");
        multi.lines.push("second".into());
        let multi = multi.to_string();
        assert_eq!(multi.parse::<Reply>().unwrap().to_string(), multi);
    }
}
