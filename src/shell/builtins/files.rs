//! Files: Get-Content, Set-Content, Add-Content, Out-File and Tee-Object.
//!
//! Paths are relative to the current directory (`~/` is the home
//! directory). Text is read in the file's encoding (a byte-order mark
//! wins, UTF-8 otherwise) and written UTF-8 without a byte-order mark, as
//! PowerShell 7 does, with LF line endings (PowerShell's newline on Linux
//! and macOS). `-Encoding` chooses another: utf8BOM, ascii, unicode
//! (UTF-16LE), bigendianunicode, utf32, latin1; `-Encoding Byte` (Windows
//! PowerShell) and `-AsByteStream` read and write bytes as numbers 0-255.

use super::filter::input_items;
use super::select::count;
use super::write::{cut_lines, render, width};
use super::{Args, args, bad, usage};
use crate::lang::Command;
use crate::shell::{R, RuntimeError, Shell, display_in_string, flatten};
use std::path::PathBuf;
use xshell_cmdlets::{CmdletError, Value};

/// A text encoding `-Encoding` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    Utf8,
    Utf8Bom,
    Ascii,
    Utf16Le,
    Utf16Be,
    Utf32,
    Latin1,
    /// Bytes as numbers (Windows PowerShell's `-Encoding Byte`).
    Bytes,
}

impl Encoding {
    const NAMES: &[&str] = &[
        "utf8",
        "utf8NoBOM",
        "utf8BOM",
        "ascii",
        "unicode",
        "bigendianunicode",
        "utf32",
        "latin1",
        "byte",
        "default",
        "oem",
    ];

    fn parse(c: &Command, v: &Value) -> R<Encoding> {
        let name = v.to_string();
        Ok(match name.to_ascii_lowercase().replace('-', "").as_str() {
            "utf8" | "utf8nobom" | "default" | "oem" => Encoding::Utf8,
            "utf8bom" => Encoding::Utf8Bom,
            "ascii" | "usascii" => Encoding::Ascii,
            "unicode" | "utf16" | "utf16le" => Encoding::Utf16Le,
            "bigendianunicode" | "utf16be" => Encoding::Utf16Be,
            "utf32" => Encoding::Utf32,
            "latin1" | "iso88591" => Encoding::Latin1,
            "byte" => Encoding::Bytes,
            _ => {
                return Err(bad(
                    c,
                    "Encoding",
                    format!(
                        "'{name}' is not an encoding ({})",
                        Encoding::NAMES.join(", ")
                    ),
                ));
            }
        })
    }

    /// The -Encoding given (or -AsByteStream), if any.
    pub(super) fn given(c: &Command, a: &Args<'_>) -> R<Option<Encoding>> {
        if a.flag("AsByteStream") {
            return Ok(Some(Encoding::Bytes));
        }
        a.get("Encoding").map(|v| Encoding::parse(c, v)).transpose()
    }

    /// The byte-order mark [`Encoding::encode`] starts with.
    pub(super) fn bom(self) -> &'static [u8] {
        match self {
            Encoding::Utf8Bom => &[0xEF, 0xBB, 0xBF],
            Encoding::Utf16Le => &[0xFF, 0xFE],
            Encoding::Utf16Be => &[0xFE, 0xFF],
            Encoding::Utf32 => &[0xFF, 0xFE, 0, 0],
            _ => &[],
        }
    }

    /// Text as bytes in this encoding (with its byte-order mark, if any).
    pub(super) fn encode(self, text: &str) -> Vec<u8> {
        match self {
            Encoding::Utf8 | Encoding::Bytes => text.as_bytes().to_vec(),
            Encoding::Utf8Bom => [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat(),
            Encoding::Ascii => text
                .chars()
                .map(|ch| if ch.is_ascii() { ch as u8 } else { b'?' })
                .collect(),
            Encoding::Latin1 => text
                .chars()
                .map(|ch| u8::try_from(u32::from(ch)).unwrap_or(b'?'))
                .collect(),
            Encoding::Utf16Le => [0xFF, 0xFE]
                .into_iter()
                .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
                .collect(),
            Encoding::Utf16Be => [0xFE, 0xFF]
                .into_iter()
                .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
                .collect(),
            Encoding::Utf32 => [0xFF, 0xFE, 0, 0]
                .into_iter()
                .chain(text.chars().flat_map(|ch| u32::from(ch).to_le_bytes()))
                .collect(),
        }
    }

    /// Bytes as text: a byte-order mark decides, then this encoding.
    pub(super) fn decode(self, bytes: &[u8]) -> String {
        if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
            return String::from_utf8_lossy(rest).into_owned();
        }
        if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE, 0, 0]) {
            return utf32(rest);
        }
        if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
            return utf16(rest, u16::from_le_bytes);
        }
        if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
            return utf16(rest, u16::from_be_bytes);
        }
        match self {
            Encoding::Utf16Le => utf16(bytes, u16::from_le_bytes),
            Encoding::Utf16Be => utf16(bytes, u16::from_be_bytes),
            Encoding::Utf32 => utf32(bytes),
            Encoding::Latin1 => bytes.iter().map(|b| char::from(*b)).collect(),
            _ => String::from_utf8_lossy(bytes).into_owned(),
        }
    }
}

fn utf16(bytes: &[u8], word: fn([u8; 2]) -> u16) -> String {
    let units: Vec<u16> = bytes.chunks_exact(2).map(|p| word([p[0], p[1]])).collect();
    String::from_utf16_lossy(&units)
}

fn utf32(bytes: &[u8]) -> String {
    bytes
        .chunks_exact(4)
        .map(|q| {
            char::from_u32(u32::from_le_bytes([q[0], q[1], q[2], q[3]]))
                .unwrap_or(char::REPLACEMENT_CHARACTER)
        })
        .collect()
}

/// A path as given, resolved against the current directory: `~/` is the
/// home directory and, off Windows, a backslash separates folders
/// (`.\\users.txt`), as PowerShell reads paths there.
pub(super) fn path_of(given: &str) -> PathBuf {
    let given = if cfg!(windows) {
        given.to_string()
    } else {
        given.replace('\\', "/")
    };
    match given.strip_prefix("~/") {
        Some(rest) => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(rest),
            None => PathBuf::from(given),
        },
        None => PathBuf::from(given),
    }
}

/// The drive letter of a Windows path (`c:\\x`, `D:/y`).
fn windows_drive(given: &str) -> Option<char> {
    let b = given.as_bytes();
    (b.len() > 2 && b[1] == b':' && b[0].is_ascii_alphabetic() && matches!(b[2], b'\\' | b'/'))
        .then(|| char::from(b[0]))
}

/// The file a path parameter names (its value, or the first positional).
/// A Windows drive path is refused off Windows (PowerShell there has no
/// such drive), rather than read or written as a strange file name.
pub(super) fn path_param(c: &Command, a: &Args<'_>, names: &[&str]) -> R<(String, PathBuf)> {
    let given = names
        .iter()
        .find_map(|n| a.get(n))
        .or_else(|| a.values().next())
        .map(display_in_string);
    if let Some(p) = &given
        && !cfg!(windows)
        && let Some(drive) = windows_drive(p)
    {
        return Err(RuntimeError::new(
            CmdletError::Failed(format!(
                "cannot find drive '{drive}' of '{p}': it is a Windows path; give this system's path to the file"
            )),
            c.name.span,
        ));
    }
    match given {
        Some(p) if !p.is_empty() => {
            let path = path_of(&p);
            Ok((p, path))
        }
        _ => Err(usage(
            c,
            format!("missing a file: {} -{} <file>", c.name.text, names[0]),
        )),
    }
}

/// An error reading or writing `given`, naming it (and saying so when it
/// is a Windows path, which means nothing here).
pub(super) fn file_error(c: &Command, given: &str, e: &std::io::Error) -> RuntimeError {
    let windows = windows_drive(given).is_some();
    let message = if e.kind() == std::io::ErrorKind::NotFound && windows {
        format!(
            "cannot find path '{given}': it is a Windows path; give this system's path to the file"
        )
    } else if e.kind() == std::io::ErrorKind::NotFound {
        format!("cannot find path '{given}' because it does not exist")
    } else {
        format!("'{given}': {e}")
    };
    RuntimeError::new(CmdletError::Failed(message), c.name.span)
}

pub(super) fn read_file(c: &Command, given: &str, path: &PathBuf) -> R<Vec<u8>> {
    std::fs::read(path).map_err(|e| file_error(c, given, &e))
}

/// Writes (or appends) `bytes` to the file.
pub(super) fn write_file(
    c: &Command,
    given: &str,
    path: &PathBuf,
    bytes: &[u8],
    append: bool,
) -> R<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(path)
        .map_err(|e| file_error(c, given, &e))?;
    f.write_all(bytes).map_err(|e| file_error(c, given, &e))
}

/// Text split into lines as Get-Content gives them (no empty last line for
/// a final newline; CR LF and LF both end a line).
fn lines(text: &str) -> Vec<Value> {
    text.lines().map(Value::str).collect()
}

/// Groups `items` as -ReadCount asks: 0 one list of all, 1 one by one,
/// N lists of N.
fn read_count(items: Vec<Value>, n: Option<usize>) -> Vec<Value> {
    match n {
        Some(0) => vec![Value::List(items)],
        None | Some(1) => items,
        Some(n) => items
            .chunks(n)
            .map(|chunk| Value::List(chunk.to_vec()))
            .collect(),
    }
}

pub(super) fn get_content(sh: &mut Shell<'_>, c: &Command, _: Option<Vec<Value>>) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let (given, path) = path_param(c, &a, &["Path", "LiteralPath"])?;
    let encoding = Encoding::given(c, &a)?.unwrap_or(Encoding::Utf8);
    let head = ["TotalCount", "Head", "First"]
        .iter()
        .map(|p| count(c, &a, p))
        .collect::<R<Vec<_>>>()?
        .into_iter()
        .flatten()
        .next();
    let tail = ["Tail", "Last"]
        .iter()
        .map(|p| count(c, &a, p))
        .collect::<R<Vec<_>>>()?
        .into_iter()
        .flatten()
        .next();
    let bytes = read_file(c, &given, &path)?;
    if encoding == Encoding::Bytes {
        let mut items: Vec<Value> = bytes.iter().map(|b| Value::Int(i64::from(*b))).collect();
        cut(&mut items, head, tail);
        let n = count(c, &a, "ReadCount")?;
        return Ok(if a.flag("Raw") {
            vec![Value::List(items)]
        } else {
            read_count(items, n)
        });
    }
    let text = encoding.decode(&bytes);
    if a.flag("Raw") {
        return Ok(vec![Value::Str(text)]);
    }
    let mut items = lines(&text);
    cut(&mut items, head, tail);
    Ok(read_count(items, count(c, &a, "ReadCount")?))
}

/// Keeps the first `head` and then the last `tail` items.
fn cut(items: &mut Vec<Value>, head: Option<usize>, tail: Option<usize>) {
    if let Some(n) = head {
        items.truncate(n);
    }
    if let Some(n) = tail {
        let from = items.len().saturating_sub(n);
        items.drain(..from);
    }
}

/// The bytes Set-Content/Add-Content write for `values`.
fn content_bytes(c: &Command, values: &[Value], encoding: Encoding, newline: bool) -> R<Vec<u8>> {
    if encoding == Encoding::Bytes {
        let mut out = Vec::new();
        for v in values.iter().cloned().flat_map(flatten) {
            match v {
                Value::Int(i) => out.push(
                    u8::try_from(i)
                        .map_err(|_| bad(c, "Value", format!("{i} is not a byte (0-255)")))?,
                ),
                other => {
                    return Err(bad(c, "Value", format!("'{other}' is not a byte (0-255)")));
                }
            }
        }
        return Ok(out);
    }
    let mut text = String::new();
    for v in values.iter().cloned().flat_map(flatten) {
        text.push_str(&display_in_string(&v));
        if newline {
            text.push('\n');
        }
    }
    Ok(encoding.encode(&text))
}

fn set_or_add(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
    append: bool,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let (given, path) = path_param(c, &a, &["Path", "LiteralPath"])?;
    let encoding = Encoding::given(c, &a)?.unwrap_or(Encoding::Utf8);
    let mut values: Vec<Value> = match a.get("Value") {
        Some(v) => flatten(v.clone()),
        // Set-Content <path> <value>: the value is the second positional.
        None => {
            let path_named = a.get("Path").is_some() || a.get("LiteralPath").is_some();
            a.values()
                .skip(usize::from(!path_named))
                .cloned()
                .flat_map(flatten)
                .collect()
        }
    };
    values.extend(input.unwrap_or_default());
    let mut bytes = content_bytes(c, &values, encoding, !a.flag("NoNewline"))?;
    if append && std::fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
        // No second byte-order mark in the middle of a file.
        bytes.drain(..encoding.bom().len());
    }
    write_file(c, &given, &path, &bytes, append)?;
    Ok(if a.flag("PassThru") {
        values
    } else {
        Vec::new()
    })
}

pub(super) fn set_content(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    set_or_add(sh, c, input, false)
}

pub(super) fn add_content(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    set_or_add(sh, c, input, true)
}

pub(super) fn out_file(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let (given, path) = path_param(c, &a, &["FilePath", "Path", "LiteralPath"])?;
    let encoding = Encoding::given(c, &a)?.unwrap_or(Encoding::Utf8);
    if encoding == Encoding::Bytes {
        return Err(bad(
            c,
            "Encoding",
            "this writes text; Set-Content -AsByteStream writes bytes",
        ));
    }
    let append = a.flag("Append");
    if a.flag("NoClobber") && !append && path.exists() {
        return Err(RuntimeError::new(
            CmdletError::Failed(format!("the file '{given}' already exists (-NoClobber)")),
            c.name.span,
        ));
    }
    let items = input_items(&a, input);
    let mut text = cut_lines(render(&items), width(c, &a)?);
    if a.flag("NoNewline") {
        text = text.replace('\n', "");
    }
    write_file(c, &given, &path, &encoding.encode(&text), append)?;
    Ok(Vec::new())
}

pub(super) fn tee_object(
    sh: &mut Shell<'_>,
    c: &Command,
    input: Option<Vec<Value>>,
) -> R<Vec<Value>> {
    let a = args(sh, c)?;
    let items = input_items(&a, input);
    if let Some(var) = a.get("Variable") {
        let name = var.to_string();
        sh.set_var(
            name.trim_start_matches('$'),
            crate::shell::collapse(items.clone()),
        );
        return Ok(items);
    }
    let (given, path) = path_param(c, &a, &["FilePath", "Path", "LiteralPath"])?;
    write_file(
        c,
        &given,
        &path,
        render(&items).as_bytes(),
        a.flag("Append"),
    )?;
    Ok(items)
}
