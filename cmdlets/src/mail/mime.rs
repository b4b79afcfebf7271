//! The message Send-MailMessage sends, built as RFC 5322 and MIME (RFC 2045,
//! 2046, 2047, 2231) text: pure, no I/O, no clock (the caller gives the date
//! and the Message-ID).
//!
//! The result is 7-bit with CRLF line ends everywhere and no line over 998
//! octets: a body that is not plain ASCII is quoted-printable in the charset
//! of `-Encoding`, attachments are base64, a non-ASCII Subject or display
//! name is an RFC 2047 encoded word (UTF-8). Dot-stuffing is left to the
//! SMTP client session.

use std::fmt::Write as _;

/// The charset of the body (`-Encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    Utf8,
    Ascii,
    /// ISO-8859-1.
    Latin1,
}

impl Charset {
    /// The names `-Encoding` accepts.
    pub const NAMES: &'static [&'static str] = &["UTF8", "ASCII", "Latin1"];

    /// From one of [`Charset::NAMES`] (any case).
    pub fn from_name(name: &str) -> Option<Charset> {
        match name.to_ascii_lowercase().as_str() {
            "utf8" => Some(Charset::Utf8),
            "ascii" => Some(Charset::Ascii),
            "latin1" => Some(Charset::Latin1),
            _ => None,
        }
    }

    /// The MIME charset name.
    pub fn mime_name(self) -> &'static str {
        match self {
            Charset::Utf8 => "utf-8",
            Charset::Ascii => "us-ascii",
            Charset::Latin1 => "iso-8859-1",
        }
    }

    /// `text` in this charset; the first character it cannot hold is the error.
    fn encode(self, text: &str) -> Result<Vec<u8>, char> {
        match self {
            Charset::Utf8 => Ok(text.as_bytes().to_vec()),
            Charset::Ascii => text
                .chars()
                .map(|c| if c.is_ascii() { Ok(c as u8) } else { Err(c) })
                .collect(),
            Charset::Latin1 => text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).map_err(|_| c))
                .collect(),
        }
    }
}

/// A mailbox: `a@b.example` or `Display Name <a@b.example>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    /// The address as it goes into the envelope.
    pub address: String,
}

/// Why a value cannot go into the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MimeError {
    #[error("'{0}' is not an e-mail address (write a@b.example or \"Name <a@b.example>\")")]
    BadAddress(String),
    #[error("the text contains '{ch}', which {charset} cannot encode; use -Encoding UTF8")]
    Unencodable { ch: char, charset: &'static str },
    #[error("a header value may not contain a line break or NUL: '{0}'")]
    LineBreak(String),
}

impl Mailbox {
    /// Parses `a@b.example` or `Name <a@b.example>` (the name may be quoted).
    pub fn parse(text: &str) -> Result<Mailbox, MimeError> {
        let bad = || MimeError::BadAddress(text.to_string());
        let t = text.trim();
        let (name, addr) = match (t.rfind('<'), t.ends_with('>')) {
            (Some(i), true) => {
                let name = t[..i].trim().trim_matches('"').trim();
                (
                    (!name.is_empty()).then(|| name.to_string()),
                    &t[i + 1..t.len() - 1],
                )
            }
            (None, false) => (None, t),
            _ => return Err(bad()),
        };
        let addr = addr.trim();
        let (local, domain) = addr.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || domain.is_empty()
            || addr
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
        {
            return Err(bad());
        }
        if name
            .as_deref()
            .is_some_and(|n| n.chars().any(|c| c.is_control()))
        {
            return Err(bad());
        }
        Ok(Mailbox {
            name,
            address: addr.to_string(),
        })
    }

    /// The header form.
    fn header(&self) -> String {
        match &self.name {
            None => self.address.clone(),
            Some(n) if !n.is_ascii() => format!("{} <{}>", encoded_words(n), self.address),
            Some(n)
                if n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || " !#$%&'*+-/=?^_`{|}~".contains(c)) =>
            {
                format!("{n} <{}>", self.address)
            }
            Some(n) => format!(
                "\"{}\" <{}>",
                n.replace('\\', "\\\\").replace('"', "\\\""),
                self.address
            ),
        }
    }
}

/// One attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The file name shown to the recipient (no folder).
    pub name: String,
    pub data: Vec<u8>,
}

/// What the message is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub subject: String,
    pub body: String,
    pub html: bool,
    pub charset: Charset,
    pub attachments: Vec<Attachment>,
    /// RFC 5322 date-time (`Mon, 07 Dec 2026 16:52:19 +0000`).
    pub date: String,
    /// Without the angle brackets.
    pub message_id: String,
    /// A token for the multipart boundary (the caller's randomness).
    pub boundary_seed: String,
}

/// Standard base64 (RFC 4648) in lines of 76 characters, CRLF after each.
pub fn base64_lines(data: &[u8]) -> String {
    let text = xshell_core::certificates::b64_encode(data);
    let mut out = String::with_capacity(text.len() + text.len() / 76 * 2 + 2);
    let bytes = text.as_bytes();
    for chunk in bytes.chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

/// Quoted-printable (RFC 2045 section 6.7) of `data`, whose line breaks
/// are CRLF: soft breaks keep lines within 76 characters.
pub fn quoted_printable(data: &[u8]) -> String {
    let mut out = String::new();
    let lines: Vec<&[u8]> = split_crlf(data);
    for (i, line) in lines.iter().enumerate() {
        let mut col = 0;
        for (j, &b) in line.iter().enumerate() {
            let last = j + 1 == line.len();
            let literal =
                (b == b' ' || b == b'\t') && !last || (33..=126).contains(&b) && b != b'=';
            let piece = if literal {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            };
            if col + piece.len() > 75 {
                out.push_str("=\r\n");
                col = 0;
            }
            out.push_str(&piece);
            col += piece.len();
        }
        if i + 1 < lines.len() {
            out.push_str("\r\n");
        }
    }
    out
}

fn split_crlf(data: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + 1 < data.len() {
        if data[i] == b'\r' && data[i + 1] == b'\n' {
            lines.push(&data[start..i]);
            start = i + 2;
            i += 2;
        } else {
            i += 1;
        }
    }
    lines.push(&data[start..]);
    lines
}

/// Any line break (CRLF, LF, CR) as CRLF.
pub fn normalize_crlf(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\n', "\r\n")
}

/// RFC 2047 `=?UTF-8?B?...?=` words for `text`, each at most 75 characters,
/// folded (CRLF and a space) between words.
pub fn encoded_words(text: &str) -> String {
    // 75 - len("=?UTF-8?B?") - len("?=") = 63 base64 characters: 45 octets.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() || words.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| {
            format!(
                "=?UTF-8?B?{}?=",
                xshell_core::certificates::b64_encode(w.as_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// An unstructured header value (Subject): as is when ASCII, else encoded words.
fn unstructured(name: &str, value: &str) -> Result<String, MimeError> {
    if value.chars().any(|c| matches!(c, '\r' | '\n' | '\0')) {
        return Err(MimeError::LineBreak(value.to_string()));
    }
    if value.is_ascii() && value.len() + name.len() + 2 <= 998 {
        Ok(format!("{name}: {value}\r\n"))
    } else {
        Ok(format!("{name}: {}\r\n", encoded_words(value)))
    }
}

fn address_list(name: &str, list: &[Mailbox]) -> String {
    let items: Vec<String> = list.iter().map(Mailbox::header).collect();
    format!("{name}: {}\r\n", items.join(",\r\n "))
}

/// A file name parameter: `name="x.txt"`, or RFC 2231 `name*=UTF-8''...`
/// when it is not plain ASCII.
fn file_param(param: &str, file: &str) -> String {
    if file.is_ascii()
        && !file
            .chars()
            .any(|c| c.is_ascii_control() || c == '"' || c == '\\')
    {
        return format!("{param}=\"{file}\"");
    }
    let mut pct = String::new();
    for b in file.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            pct.push(b as char);
        } else {
            let _ = write!(pct, "%{b:02X}");
        }
    }
    format!("{param}*=UTF-8''{pct}")
}

/// A media type for a file name (by its extension); application/octet-stream otherwise.
pub fn media_type(file: &str) -> &'static str {
    let ext = file
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "log" => "text/plain",
        "csv" => "text/csv",
        "htm" | "html" => "text/html",
        "xml" => "application/xml",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "eml" => "message/rfc822",
        "pem" | "cer" | "crt" => "application/pkix-cert",
        _ => "application/octet-stream",
    }
}

/// The body part's header lines and content.
fn body_part(m: &Message) -> Result<(String, String), MimeError> {
    let text = normalize_crlf(&m.body);
    let bytes = m
        .charset
        .encode(&text)
        .map_err(|ch| MimeError::Unencodable {
            ch,
            charset: m.charset.mime_name(),
        })?;
    let subtype = if m.html { "html" } else { "plain" };
    let seven_bit = bytes.is_ascii() && split_crlf(&bytes).iter().all(|l| l.len() <= 998);
    let (cte, content) = if seven_bit {
        ("7bit", String::from_utf8_lossy(&bytes).into_owned())
    } else {
        ("quoted-printable", quoted_printable(&bytes))
    };
    let head = format!(
        "Content-Type: text/{subtype}; charset={}\r\nContent-Transfer-Encoding: {cte}\r\n",
        m.charset.mime_name()
    );
    Ok((head, content))
}

/// The whole message: header, blank line, body; CRLF line ends, 7-bit.
pub fn build(m: &Message) -> Result<Vec<u8>, MimeError> {
    let mut out = String::new();
    out.push_str(&format!("Date: {}\r\n", m.date));
    out.push_str(&address_list("From", std::slice::from_ref(&m.from)));
    if !m.to.is_empty() {
        out.push_str(&address_list("To", &m.to));
    }
    if !m.cc.is_empty() {
        out.push_str(&address_list("Cc", &m.cc));
    }
    out.push_str(&unstructured("Subject", &m.subject)?);
    out.push_str(&format!("Message-ID: <{}>\r\n", m.message_id));
    out.push_str("MIME-Version: 1.0\r\n");
    let (body_head, body) = body_part(m)?;
    if m.attachments.is_empty() {
        out.push_str(&body_head);
        out.push_str("\r\n");
        out.push_str(&body);
        if !body.ends_with("\r\n") {
            out.push_str("\r\n");
        }
        return Ok(out.into_bytes());
    }
    // Base64 and quoted-printable never hold "=_"; a 7-bit body might hold
    // the boundary: then another one is taken.
    let mut boundary = format!("=_xshell_{}", m.boundary_seed);
    let mut n = 0;
    while body.contains(&boundary) {
        n += 1;
        boundary = format!("=_xshell_{}_{n}", m.boundary_seed);
    }
    out.push_str(&format!(
        "Content-Type: multipart/mixed;\r\n boundary=\"{boundary}\"\r\n\r\n"
    ));
    out.push_str("This is a multi-part message in MIME format.\r\n");
    out.push_str(&format!("\r\n--{boundary}\r\n"));
    out.push_str(&body_head);
    out.push_str("\r\n");
    out.push_str(&body);
    if !body.ends_with("\r\n") {
        out.push_str("\r\n");
    }
    for a in &m.attachments {
        out.push_str(&format!("\r\n--{boundary}\r\n"));
        out.push_str(&format!(
            "Content-Type: {};\r\n {}\r\n",
            media_type(&a.name),
            file_param("name", &a.name)
        ));
        out.push_str("Content-Transfer-Encoding: base64\r\n");
        out.push_str(&format!(
            "Content-Disposition: attachment;\r\n {}\r\n\r\n",
            file_param("filename", &a.name)
        ));
        out.push_str(&base64_lines(&a.data));
    }
    out.push_str(&format!("\r\n--{boundary}--\r\n"));
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn msg() -> Message {
        Message {
            from: Mailbox::parse("Alice <alice@orga.example>").unwrap(),
            to: vec![Mailbox::parse("bob@domaene.tld").unwrap()],
            cc: vec![],
            subject: "Hello".into(),
            body: "line 1\nline 2".into(),
            html: false,
            charset: Charset::Utf8,
            attachments: vec![],
            date: "Mon, 07 Dec 2026 16:52:19 +0000".into(),
            message_id: "1.2@orga.example".into(),
            boundary_seed: "abc".into(),
        }
    }

    fn text(m: &Message) -> String {
        String::from_utf8(build(m).unwrap()).unwrap()
    }

    /// Every line ends in CRLF, none is longer than 998, all is 7-bit.
    fn well_formed(t: &str) {
        assert!(t.is_ascii(), "{t}");
        assert!(t.ends_with("\r\n"));
        for line in t.split("\r\n") {
            assert!(
                !line.contains('\r') && !line.contains('\n'),
                "bare line end in {line:?}"
            );
            assert!(line.len() <= 998);
        }
    }

    #[test]
    fn a_plain_ascii_message() {
        let t = text(&msg());
        well_formed(&t);
        assert!(t.starts_with("Date: Mon, 07 Dec 2026 16:52:19 +0000\r\nFrom: Alice <alice@orga.example>\r\nTo: bob@domaene.tld\r\nSubject: Hello\r\nMessage-ID: <1.2@orga.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\nline 1\r\nline 2\r\n"), "{t}");
    }

    #[test]
    fn a_non_ascii_subject_is_an_encoded_word_and_the_body_quoted_printable() {
        let mut m = msg();
        m.subject = "Grüße aus Köln – ein sehr langer Betreff, der gefaltet werden muss".into();
        m.body = "Grüße\r\n= gleich".into();
        let t = text(&m);
        well_formed(&t);
        let subject: String = t
            .lines()
            .skip_while(|l| !l.starts_with("Subject:"))
            .take_while(|l| l.starts_with("Subject:") || l.starts_with(' '))
            .collect();
        let decoded: Vec<u8> = subject
            .trim_start_matches("Subject: ")
            .split_whitespace()
            .flat_map(|w| {
                let b64 = w.trim_start_matches("=?UTF-8?B?").trim_end_matches("?=");
                xshell_core::certificates::b64_decode(b64).unwrap()
            })
            .collect();
        assert_eq!(String::from_utf8(decoded).unwrap(), m.subject);
        for w in subject.trim_start_matches("Subject: ").split_whitespace() {
            assert!(w.len() <= 75, "{w}");
        }
        assert!(t.contains("Content-Transfer-Encoding: quoted-printable\r\n"));
        assert!(
            t.contains("\r\n\r\nGr=C3=BC=C3=9Fe\r\n=3D gleich\r\n"),
            "{t}"
        );
    }

    #[test]
    fn latin1_and_ascii_charsets() {
        let mut m = msg();
        m.charset = Charset::Latin1;
        m.body = "café".into();
        let t = text(&m);
        assert!(t.contains("charset=iso-8859-1"));
        assert!(t.contains("caf=E9"), "{t}");
        m.charset = Charset::Ascii;
        assert_eq!(
            build(&m),
            Err(MimeError::Unencodable {
                ch: 'é',
                charset: "us-ascii"
            })
        );
        m.charset = Charset::Latin1;
        m.body = "€".into();
        assert!(build(&m).is_err());
    }

    #[test]
    fn attachments_make_a_multipart_mixed_message() {
        let mut m = msg();
        m.html = true;
        m.body = "<p>Hi</p>".into();
        m.cc = vec![Mailbox::parse("\"Carol, C.\" <carol@x.example>").unwrap()];
        m.attachments = vec![
            Attachment {
                name: "report.txt".into(),
                data: b"hello\n".to_vec(),
            },
            Attachment {
                name: "Bericht-ä.bin".into(),
                data: (0..=255u8).cycle().take(1000).collect(),
            },
        ];
        let t = text(&m);
        well_formed(&t);
        assert!(t.contains("Cc: \"Carol, C.\" <carol@x.example>\r\n"), "{t}");
        assert!(t.contains("Content-Type: multipart/mixed;\r\n boundary=\"=_xshell_abc\"\r\n"));
        assert!(t.contains("Content-Type: text/html; charset=utf-8"));
        assert!(t.contains("Content-Type: text/plain;\r\n name=\"report.txt\"\r\n"));
        assert!(t.contains("filename*=UTF-8''Bericht-%C3%A4.bin"), "{t}");
        assert!(t.contains("\r\naGVsbG8K\r\n"));
        assert!(t.ends_with("\r\n--=_xshell_abc--\r\n"));
        assert_eq!(t.matches("\r\n--=_xshell_abc\r\n").count(), 3);
        // the binary attachment decodes back
        let part = t.split("\r\n--=_xshell_abc").nth(3).unwrap();
        let b64: String = part
            .split("\r\n\r\n")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(
            xshell_core::certificates::b64_decode(&b64).unwrap(),
            m.attachments[1].data
        );
    }

    #[test]
    fn a_body_holding_the_boundary_gets_another_one() {
        let mut m = msg();
        m.body = "--=_xshell_abc".into();
        m.attachments = vec![Attachment {
            name: "a".into(),
            data: vec![1],
        }];
        let t = text(&m);
        assert!(t.contains("boundary=\"=_xshell_abc_1\""));
        assert!(t.contains("application/octet-stream"));
    }

    #[test]
    fn long_lines_and_dots_stay_legal() {
        let mut m = msg();
        m.body = format!("{}\n.\n", "x".repeat(2000));
        let t = text(&m);
        well_formed(&t);
        assert!(t.contains("quoted-printable"));
        // the lone dot stays (the client session dot-stuffs it)
        assert!(t.contains("\r\n.\r\n"));
    }

    #[test]
    fn mailboxes() {
        let b = Mailbox::parse("  Jörg Müller <joerg@x.example> ").unwrap();
        assert_eq!(b.address, "joerg@x.example");
        assert!(b.header().starts_with("=?UTF-8?B?"));
        for bad in [
            "",
            "nobody",
            "a@",
            "@b",
            "a b@c",
            "x <a@b",
            "a@b>\r\nRCPT",
            "<a@b>, c@d",
        ] {
            assert!(Mailbox::parse(bad).is_err(), "{bad}");
        }
        assert!(unstructured("Subject", "a\r\nBcc: x").is_err());
    }

    #[test]
    fn quoted_printable_soft_breaks_and_trailing_space() {
        let qp = quoted_printable(format!("{} \r\nend\t", "é".repeat(40)).as_bytes());
        for l in qp.split("\r\n") {
            assert!(l.len() <= 76, "{l}");
        }
        assert!(qp.contains("=20\r\nend=09"), "{qp}");
    }
}
