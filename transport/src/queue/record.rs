//! Writing a new record: the staging file a message streams into while it
//! is received, sealed and published by the queue.

use super::*;

/// Creates the staging file of a new record (mode 0600).
pub(super) fn create_record_file(tmp: &Path) -> Result<File, QueueError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(io_err("create", tmp))
}

/// A record being written: see [`Queue::begin_record`].
#[derive(Debug)]
pub struct RecordWriter {
    /// `None` once finished or after a failed write (the file is gone).
    pub(super) file: Option<File>,
    pub(super) tmp: PathBuf,
    pub(super) path: PathBuf,
    pub(super) record: QueuedMessage,
    /// Written over a recycled file: cut it to length at the end.
    pub(super) recycled: bool,
    pub(super) envelope_at: u64,
    pub(super) envelope_len: usize,
    /// Message octets written so far.
    pub(super) size: u64,
}

impl RecordWriter {
    /// The id the message will have.
    pub fn id(&self) -> &MessageId {
        &self.record.id
    }

    /// Message octets written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends message bytes. A failed write (typically a full disk)
    /// removes the file at once; every later call fails too.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), QueueError> {
        self.write_raw(bytes)?;
        self.size = self.size.saturating_add(bytes.len() as u64);
        Ok(())
    }

    pub(super) fn write_raw(&mut self, bytes: &[u8]) -> Result<(), QueueError> {
        let Some(f) = self.file.as_mut() else {
            return Err(self.gone());
        };
        if let Err(e) = f.write_all(bytes) {
            self.discard();
            return Err(io_err("write", &self.tmp)(e));
        }
        Ok(())
    }

    pub(super) fn gone(&self) -> QueueError {
        QueueError::Io {
            op: "write",
            path: self.tmp.clone(),
            source: io::Error::other("an earlier write failed; the file was removed"),
        }
    }

    /// Removes the staging file (a half-written file is of no use to
    /// anyone: give its space back now rather than at the next open).
    pub(super) fn discard(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }

    /// Writes the envelope with the message size, fsyncs the file and
    /// renames it into `active/`; the rename is durable only after the
    /// next directory fsync.
    pub fn finish(mut self) -> Result<MessageId, QueueError> {
        match self.seal() {
            Ok(()) => {
                // Renamed: nothing is left to remove on drop.
                self.file = None;
                Ok(self.record.id.clone())
            }
            Err(e) => {
                self.discard();
                Err(e)
            }
        }
    }

    /// Writes the envelope with the message size and cuts a recycled file
    /// to length, without fsyncing or renaming: the record is handed to a
    /// group commit ([`Queue::commit`], through
    /// [`GroupCommitter::commit_record`]) that makes many records durable
    /// with one `syncfs`. The exclusive lock of a recycled file goes with it.
    pub fn seal_unsynced(mut self) -> Result<Staged, QueueError> {
        match self.write_envelope() {
            Ok(()) => {
                let hold = self.file.take();
                Ok(Staged {
                    id: self.record.id.clone(),
                    src: std::mem::take(&mut self.tmp),
                    dst: std::mem::take(&mut self.path),
                    hold,
                })
            }
            Err(e) => {
                self.discard();
                Err(e)
            }
        }
    }

    /// Writes the final envelope over its reserved place and cuts a
    /// recycled file to the record's length.
    pub(super) fn write_envelope(&mut self) -> Result<(), QueueError> {
        use std::os::unix::fs::FileExt;
        let Some(f) = self.file.as_ref() else {
            return Err(self.gone());
        };
        self.record.size = self.size;
        let mut json = to_json(&self.record, &self.path)?;
        if json.len() > self.envelope_len {
            return Err(envelope_err(
                &self.path,
                "the envelope outgrew its reserved space".into(),
            ));
        }
        json.resize(self.envelope_len, b' ');
        f.write_all_at(&json, self.envelope_at)
            .map_err(io_err("write", &self.tmp))?;
        if self.recycled {
            let len = self.envelope_at + self.envelope_len as u64 + self.size;
            let was = f.metadata().map_err(io_err("stat", &self.tmp))?.len();
            if was > len {
                f.set_len(len).map_err(io_err("truncate", &self.tmp))?;
            }
        }
        Ok(())
    }

    pub(super) fn seal(&mut self) -> Result<(), QueueError> {
        self.write_envelope()?;
        let Some(f) = self.file.as_ref() else {
            return Err(self.gone());
        };
        if self.recycled {
            // the data and the size: the inode's times need not be durable
            f.sync_data().map_err(io_err("fsync", &self.tmp))?;
        } else {
            f.sync_all().map_err(io_err("fsync", &self.tmp))?;
        }
        // The exclusive lock of a recycled file is held until after the
        // rename (the file is closed by `finish`).
        fs::rename(&self.tmp, &self.path).map_err(io_err("rename into", &self.path))
    }
}

impl Drop for RecordWriter {
    fn drop(&mut self) {
        self.discard();
    }
}
