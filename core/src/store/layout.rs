//! The text of `config.json`.

use crate::model::OrgConfig;
use std::io::{self, Write};

/// `config.json`'s text: each top-level field on a line of its own, each
/// object of a top-level list (a connector, a certificate) on a line of its
/// own, and each of those written compactly. It reads and diffs one object
/// per line, and a reader skips little white space: in an indented layout a
/// third of a thousand connectors' bytes is indentation.
pub(super) fn config_text(cfg: &OrgConfig) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(4096);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, OneObjectPerLine::default());
    serde::Serialize::serialize(cfg, &mut ser)?;
    out.push(b'\n');
    Ok(out)
}

/// The layout of [`config_text`]. Depth 1 is the document's fields, depth 2
/// the elements of a top-level list; anything deeper is compact.
#[derive(Default)]
struct OneObjectPerLine {
    depth: usize,
    /// Whether the top-level list being written has elements (its `]` then
    /// goes on a line of its own).
    list_has_items: bool,
}

impl serde_json::ser::Formatter for OneObjectPerLine {
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        w.write_all(b"{")
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        w.write_all(if self.depth == 0 { b"\n}" } else { b"}" })
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        w.write_all(match (self.depth, first) {
            (1, true) => b"\n  ",
            (1, false) => b",\n  ",
            (_, true) => b"",
            (_, false) => b",",
        })
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(if self.depth == 1 { b": " } else { b":" })
    }
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        if self.depth == 2 {
            self.list_has_items = false;
        }
        w.write_all(b"[")
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if self.depth == 2 {
            self.list_has_items = true;
            w.write_all(if first { b"\n    " } else { b",\n    " })
        } else if first {
            Ok(())
        } else {
            w.write_all(b",")
        }
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        if self.depth == 2 && self.list_has_items {
            w.write_all(b"\n  ")?;
        }
        self.depth = self.depth.saturating_sub(1);
        w.write_all(b"]")
    }
}
