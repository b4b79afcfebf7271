//! Reading a queued message: positional reads in pieces, the head, the
//! 8-bit check.

use super::*;

/// Reads into `buf` from `offset` until it is full or the file ends;
/// returns how much was read.
pub(super) fn read_full_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut got = 0;
    while got < buf.len() {
        match f.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A queued message opened for reading (see [`Queue::open_message`]):
/// delivery copies it in pieces rather than loading it whole. The file
/// stays readable while open even if the message is completed meanwhile.
#[derive(Debug)]
pub struct MessageFile {
    pub(super) file: File,
    pub(super) path: PathBuf,
    pub(super) body_offset: u64,
    pub(super) size: u64,
}

/// The client session streams a queued message from its file.
impl xshell_smtp::client::SpooledBody for MessageFile {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        MessageFile::read_at(self, offset, buf)
    }
}

/// How much of a message [`MessageFile::head`] reads at most.
pub const HEAD_LIMIT: usize = 64 * 1024;

impl MessageFile {
    /// The message size in octets.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// A reader of the message bytes from the start (a fresh one each
    /// call; readers share the file's position, so use one at a time).
    pub fn reader(&self) -> io::Result<io::Take<&File>> {
        let mut f = &self.file;
        f.seek(io::SeekFrom::Start(self.body_offset))?;
        Ok(f.take(self.size))
    }

    /// Copies the whole message to `out` (in the kernel when it can:
    /// `io::copy` between files uses `copy_file_range`).
    pub fn copy_to(&self, out: &mut File) -> io::Result<u64> {
        let copied = io::copy(&mut self.reader()?, out)?;
        if copied != self.size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{}: the message is shorter than recorded",
                    self.path.display()
                ),
            ));
        }
        Ok(copied)
    }

    /// Reads up to `buf.len()` message octets from `offset` (positional:
    /// does not move the shared position). 0 at the end.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let left = self.size.saturating_sub(offset);
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        if n == 0 {
            return Ok(0);
        }
        self.file
            .read_at(&mut buf[..n], self.body_offset.saturating_add(offset))
    }

    /// The start of the message, at most [`HEAD_LIMIT`] octets: enough for
    /// its header section (Message-ID, the header quoted in a DSN).
    pub fn head(&self) -> io::Result<Vec<u8>> {
        let n = usize::try_from(self.size)
            .unwrap_or(usize::MAX)
            .min(HEAD_LIMIT);
        let mut buf = vec![0u8; n];
        let got = read_full_at(&self.file, &mut buf, self.body_offset)?;
        buf.truncate(got);
        Ok(buf)
    }

    /// Whether the message has an octet above 127 (`BODY=8BITMIME`);
    /// reads it through once, in pieces.
    pub fn has_8bit(&self) -> io::Result<bool> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut at = 0u64;
        loop {
            match self.read_at(at, &mut buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    if buf[..n].iter().any(|&b| b >= 0x80) {
                        return Ok(true);
                    }
                    at += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}
