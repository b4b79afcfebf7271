//! The DATA phase reader: dot-unstuffing, strict CRLF, limits.
//!
//! [`DataReader`] is a byte-level state machine. Feed it chunks of any size
//! (a chunk may end anywhere, including inside `\r\n.\r\n`); it consumes
//! bytes up to and including the terminator and stops, so the caller knows
//! where pipelined commands after the message begin. Work is linear in the
//! message size: runs of ordinary octets are copied in bulk, once.
//!
//! # Memory
//! Unstuffed bytes collect in a pending buffer that the caller drains with
//! [`DataReader::take_pending`] as it goes (the session hands them out as
//! [`crate::Action::MessageData`] chunks), so the reader holds only
//! what was fed since the last drain, whatever the message size. The
//! unstuffed output of a feed is at most one octet longer than its input
//! (a CR held back from the previous feed), so feeding at most `n` octets
//! grows the pending buffer by at most `n + 1`. Once the message
//! is known to be refused the pending bytes are dropped and nothing more is
//! kept; bytes drained before that point belong to a message that
//! [`DataReader::finish`] will refuse, and the caller discards them then.
//!
//! # End of data
//! Only `CRLF "." CRLF` ends the data (the DATA command's own CRLF counts as
//! the first CRLF, so `".\r\n"` right away is an empty message). The CRLF
//! before the dot belongs to the message.
//!
//! # Bare CR and bare LF: the decision
//! A CR not followed by LF, or an LF not preceded by CR, is never a line
//! break: it does not end a line, so it cannot start a terminator. The
//! smuggling variants `\n.\n`, `\n.\r\n`, `\r.\r\n` and `\r\n.\n` therefore
//! neither end the data nor start a new transaction; they are message
//! content. Such a message is **refused as a whole**: the reader keeps
//! reading (without storing) until the real `CRLF.CRLF`, and the session
//! then answers `550 5.6.11`. A message is never split and never silently
//! repaired.
//!
//! # Limits
//! - A text line may be at most 1000 octets with its CRLF (counted on the
//!   wire, stuffing dot included) -> `500 5.5.6` after the end of data.
//! - The unstuffed message may be at most `max_size` octets -> counting
//!   goes on, storing stops, `552 5.3.4` after the end of data.
//!
//! When several problems occur, the first one met in the byte stream is the
//! one reported, so the outcome does not depend on how input was chunked.

use super::reply::Reply;

/// Maximum text line length, CRLF included (RFC 5321 4.5.3.1.6).
pub const MAX_TEXT_LINE: usize = 1000;

/// Why a message was refused at the end of DATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    #[error("bare CR or LF in message data")]
    BareCrLf,
    #[error("message line longer than 1000 octets")]
    LineTooLong,
    #[error("message size exceeds the maximum")]
    TooBig,
    #[error("end of data not reached")]
    Incomplete,
}

impl DataError {
    /// The one reply for this error.
    pub fn reply(&self) -> Reply {
        match self {
            DataError::BareCrLf => Reply::new(550, (5, 6, 11), "bare CR or LF in message data"),
            DataError::LineTooLong => Reply::new(
                500,
                (5, 5, 6),
                "Message line too long (more than 1000 octets with CRLF)",
            ),
            DataError::TooBig => Reply::new(
                552,
                (5, 3, 4),
                "Message size exceeds fixed maximum message size",
            ),
            DataError::Incomplete => {
                Reply::new(451, (4, 3, 0), "Message data incomplete, try again later")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line (after CRLF, or at the start of data).
    LineStart,
    /// A `.` at the start of a line has been read (not stored).
    Dot,
    /// `.` CR at the start of a line.
    DotCr,
    /// Inside a line.
    Mid,
    /// Inside a line, a CR has been read (not yet stored).
    Cr,
}

/// Streaming reader for one message's DATA.
#[derive(Debug)]
pub struct DataReader {
    state: State,
    message: Vec<u8>,
    size: u64,
    max_size: u64,
    line_len: usize,
    violation: Option<DataError>,
    done: bool,
}

impl DataReader {
    /// A reader refusing messages larger than `max_size` octets (after
    /// unstuffing).
    pub fn new(max_size: u64) -> Self {
        DataReader {
            state: State::LineStart,
            message: Vec::new(),
            size: 0,
            max_size,
            line_len: 0,
            violation: None,
            done: false,
        }
    }

    /// True once the terminating `CRLF.CRLF` has been consumed.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The unstuffed message size seen so far (stored or not).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Consumes input up to and including the terminator and returns how
    /// many bytes were consumed (all of `input` unless the end was found).
    pub fn feed(&mut self, input: &[u8]) -> usize {
        let mut i = 0;
        while i < input.len() && !self.done {
            let b = input[i];
            match self.state {
                State::Mid => {
                    let rest = &input[i..];
                    let run = rest
                        .iter()
                        .position(|&c| c == b'\r' || c == b'\n')
                        .unwrap_or(rest.len());
                    if run > 0 {
                        self.content(&rest[..run]);
                        i += run;
                    } else if b == b'\r' {
                        self.state = State::Cr;
                        i += 1;
                    } else {
                        // Bare LF: content, not a line break.
                        self.violate(DataError::BareCrLf);
                        self.content(b"\n");
                        i += 1;
                    }
                }
                State::LineStart => {
                    i += 1;
                    match b {
                        b'.' => {
                            self.line_len += 1;
                            self.state = State::Dot;
                        }
                        b'\r' => self.state = State::Cr,
                        b'\n' => {
                            self.violate(DataError::BareCrLf);
                            self.content(b"\n");
                            self.state = State::Mid;
                        }
                        _ => {
                            self.content(&[b]);
                            self.state = State::Mid;
                        }
                    }
                }
                State::Dot => {
                    if b == b'\r' {
                        self.state = State::DotCr;
                        i += 1;
                    } else {
                        // The leading dot is removed (RFC 5321 4.5.2); the
                        // byte is read again as line content.
                        self.state = State::Mid;
                    }
                }
                State::DotCr => {
                    if b == b'\n' {
                        self.done = true;
                        i += 1;
                    } else {
                        // `.` + bare CR: content; re-read the byte.
                        self.violate(DataError::BareCrLf);
                        self.content(b"\r");
                        self.state = State::Mid;
                    }
                }
                State::Cr => {
                    if b == b'\n' {
                        self.store(b"\r\n");
                        self.line_len = 0;
                        self.state = State::LineStart;
                        i += 1;
                    } else {
                        // Bare CR: content; re-read the byte.
                        self.violate(DataError::BareCrLf);
                        self.content(b"\r");
                        self.state = State::Mid;
                    }
                }
            }
        }
        i
    }

    /// Unstuffed octets not yet taken with [`DataReader::take_pending`].
    pub fn pending_len(&self) -> usize {
        self.message.len()
    }

    /// Takes the unstuffed octets read since the last call (empty once
    /// the message is known to be refused).
    pub fn take_pending(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.message)
    }

    /// The octets not yet taken with [`DataReader::take_pending`] (the
    /// whole message when nothing was taken), or the one reason the
    /// message is refused.
    pub fn finish(self) -> Result<Vec<u8>, DataError> {
        if !self.done {
            return Err(DataError::Incomplete);
        }
        match self.violation {
            Some(e) => Err(e),
            None => Ok(self.message),
        }
    }

    fn violate(&mut self, e: DataError) {
        if self.violation.is_none() {
            self.violation = Some(e);
            // The message will be refused: stop holding it.
            self.message = Vec::new();
        }
    }

    /// Line content (counts toward the line length).
    fn content(&mut self, bytes: &[u8]) {
        self.line_len += bytes.len();
        if self.line_len > MAX_TEXT_LINE - 2 {
            self.violate(DataError::LineTooLong);
        }
        self.store(bytes);
    }

    fn store(&mut self, bytes: &[u8]) {
        self.size = self.size.saturating_add(bytes.len() as u64);
        if self.size > self.max_size {
            self.violate(DataError::TooBig);
        }
        if self.violation.is_none() {
            self.message.extend_from_slice(bytes);
        }
    }
}

// ---------------------------------------------------------------- sending

/// The DATA payload: line ends normalized to CRLF (a lone CR or LF becomes
/// CRLF), lines starting with `.` doubled (RFC 5321 4.5.2), a final CRLF
/// added when missing, then the terminating `.` line.
pub fn encode_data(message: &[u8], out: &mut Vec<u8>) {
    out.reserve(message.len() + message.len() / 64 + 5);
    let mut e = DataEncoder::new();
    e.encode(message, out);
    e.finish(out);
}

/// [`encode_data`] over a message that comes in pieces: the output is the
/// same however the message is split.
#[derive(Debug, Clone)]
pub struct DataEncoder {
    at_line_start: bool,
    /// The last octet was a CR (already written as CRLF): an LF right
    /// after it is that line end's.
    after_cr: bool,
}

impl Default for DataEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl DataEncoder {
    pub fn new() -> Self {
        DataEncoder {
            at_line_start: true,
            after_cr: false,
        }
    }

    /// Appends the encoding of the next piece to `out`.
    pub fn encode(&mut self, piece: &[u8], out: &mut Vec<u8>) {
        let mut i = 0;
        while i < piece.len() {
            let b = piece[i];
            if std::mem::take(&mut self.after_cr) && b == b'\n' {
                i += 1;
                continue;
            }
            if self.at_line_start && b == b'.' {
                out.push(b'.');
            }
            match b {
                b'\r' | b'\n' => {
                    out.extend_from_slice(b"\r\n");
                    self.at_line_start = true;
                    self.after_cr = b == b'\r';
                    i += 1;
                }
                _ => {
                    // The rest of the line in one copy.
                    let rest = &piece[i..];
                    let run = rest
                        .iter()
                        .position(|&c| c == b'\r' || c == b'\n')
                        .unwrap_or(rest.len());
                    out.extend_from_slice(&rest[..run]);
                    self.at_line_start = false;
                    i += run;
                }
            }
        }
    }

    /// Ends the payload: a final CRLF when missing, then `.` CRLF.
    pub fn finish(self, out: &mut Vec<u8>) {
        if !self.at_line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in one piece; returns (consumed, result).
    fn read(input: &[u8], max: u64) -> (usize, Result<Vec<u8>, DataError>) {
        let mut r = DataReader::new(max);
        let n = r.feed(input);
        (n, r.finish())
    }

    #[test]
    fn simple_message() {
        let (n, r) = read(b"Subject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n", 1000);
        assert_eq!(n, 24);
        assert_eq!(r, Ok(b"Subject: hi\r\n\r\nbody\r\n".to_vec()));
    }

    #[test]
    fn empty_message() {
        assert_eq!(read(b".\r\n", 10), (3, Ok(vec![])));
    }

    #[test]
    fn dot_unstuffing() {
        let (_, r) = read(b"..leading\r\n...\r\n.x\r\nmid.dle\r\n.\r\n", 1000);
        assert_eq!(r, Ok(b".leading\r\n..\r\nx\r\nmid.dle\r\n".to_vec()));
    }

    #[test]
    fn incomplete() {
        let mut r = DataReader::new(100);
        assert_eq!(r.feed(b"abc\r\n.\r"), 7);
        assert!(!r.is_done());
        assert_eq!(r.finish(), Err(DataError::Incomplete));
    }

    #[test]
    fn smuggling_variants_do_not_end_data() {
        for variant in [
            &b"\n.\n"[..],
            b"\n.\r\n",
            b"\r.\r\n",
            b"\r\n.\n",
            b".\n",
            b".\r.\r\n",
        ] {
            let mut input = b"a\r\nbody".to_vec();
            input.extend_from_slice(variant);
            input.extend_from_slice(
                b"MAIL FROM:<evil@x.example>\r\nRCPT TO:<v@y.example>\r\nDATA\r\nsmuggled\r\n",
            );
            // Without the real terminator the data does not end.
            let mut r = DataReader::new(10_000);
            assert_eq!(r.feed(&input), input.len(), "{variant:?}");
            assert!(!r.is_done(), "{variant:?} ended the data");
            // The real terminator ends it, and the message is refused.
            assert_eq!(r.feed(b".\r\nQUIT\r\n"), 3);
            assert_eq!(r.finish(), Err(DataError::BareCrLf), "{variant:?}");
        }
    }

    #[test]
    fn bare_cr_and_lf_anywhere_refuse_the_message() {
        for input in [
            &b"a\rb\r\n.\r\n"[..],
            b"a\nb\r\n.\r\n",
            b"\n\r\n.\r\n",
            b"\r\r\n.\r\n",
            b"abc\r\n\r\r\n.\r\n",
            b"abc\r\r\n.\r\n",
        ] {
            let (n, r) = read(input, 1000);
            assert_eq!(n, input.len(), "{input:?}");
            assert_eq!(r, Err(DataError::BareCrLf), "{input:?}");
        }
    }

    #[test]
    fn line_length_limit() {
        let ok = format!("{}\r\n.\r\n", "x".repeat(998));
        assert!(read(ok.as_bytes(), 10_000).1.is_ok());
        // A stuffing dot counts on the wire: 1 + 997 + CRLF = 1000.
        let ok = format!(".{}\r\n.\r\n", "x".repeat(997));
        assert!(read(ok.as_bytes(), 10_000).1.is_ok());
        let long = format!("{}\r\nnext\r\n.\r\n", "x".repeat(999));
        let (n, r) = read(long.as_bytes(), 10_000);
        assert_eq!(n, long.len());
        assert_eq!(r, Err(DataError::LineTooLong));
        assert_eq!(DataError::LineTooLong.reply().code, 500);
    }

    #[test]
    fn size_limit_counts_but_drops() {
        let body = format!("{}\r\n", "y".repeat(98)); // 100 octets
        let input = format!("{}.\r\n", body.repeat(30));
        let mut r = DataReader::new(1000);
        assert_eq!(r.feed(input.as_bytes()), input.len());
        assert_eq!(r.size(), 3000);
        assert!(r.message.is_empty(), "bytes over the limit are not kept");
        assert_eq!(r.finish(), Err(DataError::TooBig));
        // Exactly at the limit is fine.
        let input = format!("{}.\r\n", body.repeat(10));
        assert_eq!(read(input.as_bytes(), 1000).1.map(|m| m.len()), Ok(1000));
        assert_eq!(
            DataError::TooBig.reply().to_string(),
            "552 5.3.4 Message size exceeds fixed maximum message size"
        );
    }

    #[test]
    fn first_violation_wins() {
        let input = format!("a\nb\r\n{}\r\n.\r\n", "x".repeat(2000));
        assert_eq!(read(input.as_bytes(), 100).1, Err(DataError::BareCrLf));
        let input = format!("{}\r\na\nb\r\n.\r\n", "x".repeat(2000));
        assert_eq!(
            read(input.as_bytes(), 10_000).1,
            Err(DataError::LineTooLong)
        );
    }

    #[test]
    fn every_split_point_gives_the_same_result() {
        let inputs: [&[u8]; 5] = [
            b"Subject: x\r\n\r\n..dot\r\n.\r\nNOOP\r\n",
            b"a\r\n\n.\nb\r\n.\r\nRSET\r\n",
            b"a\r.\r\nz\r\n.\r\n",
            b".\r\n",
            b"x\r\n.\r.\r\n.\r\n",
        ];
        for input in inputs {
            let (n0, r0) = read(input, 1000);
            for cut in 0..=input.len() {
                let mut r = DataReader::new(1000);
                let mut n = r.feed(&input[..cut]);
                if !r.is_done() {
                    n += r.feed(&input[cut..]);
                }
                assert_eq!(n, n0, "cut {cut} of {input:?}");
                assert_eq!(r.finish(), r0.clone(), "cut {cut} of {input:?}");
            }
            // Byte by byte.
            let mut r = DataReader::new(1000);
            let mut n = 0;
            for b in input {
                if r.is_done() {
                    break;
                }
                n += r.feed(std::slice::from_ref(b));
            }
            assert_eq!((n, r.finish()), (n0, r0));
        }
    }

    #[test]
    fn drained_chunks_concatenate_to_the_message() {
        let inputs: [&[u8]; 3] = [
            b"Subject: x\r\n\r\n..dot\r\nline\r\n.\r\nNOOP\r\n",
            b".\r\n",
            b"a\r\n\r\n\r\n.x\r\n..\r\n.\r\n",
        ];
        for input in inputs {
            let (n0, whole) = read(input, 1000);
            let whole = whole.unwrap_or_default();
            for step in 1..=input.len() {
                let mut r = DataReader::new(1000);
                let mut got = Vec::new();
                let mut n = 0;
                for piece in input.chunks(step) {
                    if r.is_done() {
                        break;
                    }
                    n += r.feed(piece);
                    assert!(r.pending_len() <= piece.len() + 1, "output too long");
                    got.extend_from_slice(&r.take_pending());
                }
                got.extend_from_slice(&r.finish().unwrap_or_default());
                assert_eq!((n, &got), (n0, &whole), "step {step} of {input:?}");
            }
        }
        // A violation after a drain: finish refuses, nothing more is kept.
        let mut r = DataReader::new(1000);
        r.feed(b"good line\r\n");
        assert_eq!(r.take_pending(), b"good line\r\n");
        r.feed(b"bad\nline\r\nmore\r\n");
        assert_eq!(r.pending_len(), 0);
        r.feed(b".\r\n");
        assert_eq!(r.finish(), Err(DataError::BareCrLf));
    }

    #[test]
    fn large_message_is_linear() {
        // 8 MiB in 1 KiB chunks: would take far too long if quadratic.
        let line = format!("{}\r\n", "z".repeat(78));
        let chunk = line.repeat(13); // 1040 octets
        let mut r = DataReader::new(u64::MAX);
        for _ in 0..8000 {
            assert_eq!(r.feed(chunk.as_bytes()), chunk.len());
        }
        r.feed(b".\r\n");
        assert_eq!(r.finish().map(|m| m.len()), Ok(8000 * 1040));
    }
}
