//! Durability: fsync of files and folders, the syncfs group commit, and
//! records staged for it.

use super::*;

/// fsyncs a directory so that renames and unlinks in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), QueueError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

/// Writes `bytes` to a new file at `path` (mode 0600) and fsyncs it.
pub(crate) fn write_durable(path: &Path, bytes: &[u8]) -> Result<(), QueueError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err("create", path))?;
    f.write_all(bytes).map_err(io_err("write", path))?;
    f.sync_all().map_err(io_err("fsync", path))
}

/// Writes `parts` one after the other to a new file at `path` (mode
/// 0600) and fsyncs it.
pub(crate) fn write_durable_parts(path: &Path, parts: &[&[u8]]) -> Result<(), QueueError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err("create", path))?;
    let written = parts
        .iter()
        .try_for_each(|p| f.write_all(p).map_err(io_err("write", path)))
        .and_then(|()| f.sync_all().map_err(io_err("fsync", path)));
    if written.is_err() {
        // A half-written file is of no use to anyone (typically the disk
        // is full): give its space back now rather than at the next open.
        drop(f);
        let _ = fs::remove_file(path);
    }
    written
}

/// Makes durable everything written so far to the filesystem that holds
/// `dir`, data and metadata of every file: one `syncfs(2)` and one cache
/// flush for a whole batch, where an fsync per file costs a flush each.
/// Writeback errors since the last call are reported (Linux 5.8 and
/// later).
pub(crate) fn sync_filesystem(dir: &Path) -> Result<(), QueueError> {
    let d = File::open(dir).map_err(io_err("open", dir))?;
    rustix::fs::syncfs(&d).map_err(|e| io_err("syncfs", dir)(io::Error::from(e)))
}

/// Batches up to this many records are synced file by file; larger ones
/// with one `syncfs`. `syncfs` goes through the kernel's writeback worker,
/// one call at a time, and also writes whatever else is dirty on the
/// filesystem: for one or two files (one SMTP session) an fdatasync each
/// is quicker.
pub const SYNCFS_FROM: usize = 3;

/// Makes the bytes of `staged` durable: an fdatasync each for a small
/// batch, else one `syncfs` of the filesystem holding `root`.
pub(super) fn sync_records(root: &Path, staged: &[Staged]) -> Result<(), QueueError> {
    if staged.len() >= SYNCFS_FROM {
        return sync_filesystem(root);
    }
    for s in staged {
        match &s.hold {
            Some(f) => f.sync_data(),
            None => File::open(&s.src).and_then(|f| f.sync_data()),
        }
        .map_err(io_err("fsync", &s.src))?;
    }
    Ok(())
}

/// A record written but not yet durable, waiting for its group commit
/// ([`Queue::commit`]).
#[derive(Debug)]
pub struct Staged {
    pub id: MessageId,
    /// Where it was written (in `tmp/`, or a recycled file in `free/`).
    pub(super) src: PathBuf,
    /// Its place in `active/`.
    pub(super) dst: PathBuf,
    /// The exclusive lock of a recycled file, held until the rename.
    pub(super) hold: Option<File>,
}

impl Staged {
    /// Gives up a record that will not be committed.
    pub fn discard(self) {
        let _ = fs::remove_file(&self.src);
    }
}

/// Opens a record for reading with a shared lock, so that it is not
/// reused for another message while it is read (see "Recycled record
/// files"). `Ok(None)`: no such record.
pub(super) fn open_record(path: &Path) -> Result<Option<File>, QueueError> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("open", path)(e)),
    };
    f.lock_shared().map_err(io_err("lock", path))?;
    Ok(Some(f))
}

pub(super) fn create_dir(path: &Path) -> Result<(), QueueError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(io_err("create directory", path))
}
