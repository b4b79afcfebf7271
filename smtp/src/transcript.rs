//! What a session said and heard, line by line, for a protocol log.
//!
//! Both session machines ([`crate::Session`], [`crate::client::ClientSession`])
//! can keep a transcript once asked to ([`Transcript::enable`]): every
//! command line and every reply line, in order, without the line ending.
//! Two things never enter it: message content (the DATA body is not
//! recorded, only the `DATA` command and the replies around it) and
//! authentication secrets (an `AUTH` line keeps its mechanism and loses
//! its initial response, see [`redact_command`]).

/// Who spoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// This side wrote the line.
    Sent,
    /// The peer wrote the line.
    Received,
}

/// One line of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptLine {
    pub direction: Direction,
    pub text: String,
}

/// The lines recorded since the last [`Transcript::take`]; records
/// nothing until enabled.
#[derive(Debug, Default)]
pub struct Transcript {
    enabled: bool,
    lines: Vec<TranscriptLine>,
}

/// What replaces a secret.
pub const REDACTED: &str = "****";

impl Transcript {
    pub fn enable(&mut self) {
        self.enabled = true;
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Takes what was recorded so far.
    pub fn take(&mut self) -> Vec<TranscriptLine> {
        std::mem::take(&mut self.lines)
    }

    /// Records a command line (redacted, see [`redact_command`]).
    pub fn command(&mut self, direction: Direction, line: &[u8]) {
        if self.enabled {
            let text = redact_command(&text_of(line));
            self.lines.push(TranscriptLine { direction, text });
        }
    }

    /// Records the lines of a reply as written on the wire.
    pub fn reply_wire(&mut self, direction: Direction, wire: &[u8]) {
        if !self.enabled {
            return;
        }
        for line in wire.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            self.lines.push(TranscriptLine {
                direction,
                text: text_of(line),
            });
        }
    }
}

/// A line as text: lossy UTF-8, without its line ending.
fn text_of(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line).into_owned()
}

/// An `AUTH <mechanism> <initial-response>` line keeps the verb and the
/// mechanism; the response becomes [`REDACTED`]. Any other line is kept.
/// (A SASL continuation line, answering a `334`, is redacted by the
/// caller, which knows it is one: see [`redact_all`].)
pub fn redact_command(line: &str) -> String {
    let mut words = line.splitn(3, ' ');
    let verb = words.next().unwrap_or("");
    if !verb.eq_ignore_ascii_case("AUTH") {
        return line.to_string();
    }
    match (words.next(), words.next()) {
        (Some(mech), Some(_)) => format!("{verb} {mech} {REDACTED}"),
        _ => line.to_string(),
    }
}

/// A line that is a secret as a whole (a SASL response).
pub fn redact_all(_line: &str) -> String {
    REDACTED.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_responses_never_survive() {
        assert_eq!(
            redact_command("AUTH PLAIN AHVzZXIAc2VjcmV0"),
            "AUTH PLAIN ****"
        );
        assert_eq!(redact_command("auth login dXNlcg=="), "auth login ****");
        assert_eq!(redact_command("AUTH LOGIN"), "AUTH LOGIN");
        assert_eq!(redact_command("MAIL FROM:<a@b>"), "MAIL FROM:<a@b>");
        assert_eq!(redact_all("c2VjcmV0"), REDACTED);
    }

    #[test]
    fn nothing_is_recorded_until_enabled() {
        let mut t = Transcript::default();
        t.command(Direction::Received, b"EHLO a\r\n");
        assert!(t.take().is_empty());
        t.enable();
        t.command(Direction::Received, b"EHLO a\r\n");
        t.reply_wire(Direction::Sent, b"250-x\r\n250 y\r\n");
        let lines = t.take();
        assert_eq!(
            lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
            ["EHLO a", "250-x", "250 y"]
        );
        assert_eq!(lines[1].direction, Direction::Sent);
    }
}
