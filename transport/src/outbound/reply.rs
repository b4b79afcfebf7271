//! Parsing SMTP replies as a client reads them (RFC 5321 section 4.2,
//! enhanced codes RFC 2034 / RFC 3463).
//!
//! [`ReplyParser::parse`] takes the bytes received so far and returns a
//! complete [`Reply`] and how many octets it used, or `None` when more input
//! is needed. Lines end with CRLF (a bare LF is tolerated); every line of a
//! multi-line reply must carry the same code; the enhanced code is taken
//! from the first line when its class agrees with the reply code and is
//! removed from every line that repeats it.

use crate::smtp::Reply;
use crate::smtp::reply::Enhanced;

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

#[cfg(test)]
mod tests {
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
}
