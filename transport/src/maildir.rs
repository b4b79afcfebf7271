//! Final delivery into Maildir folders.
//!
//! A recipient `local@domain` of an authoritative accepted domain is
//! delivered to `<root>/<domain>/<local>/Maildir/`, with the standard
//! protocol: write a uniquely named file in `tmp/`, fsync it, rename it into
//! `new/`, fsync `new/`. A reader never sees a partial message, and once
//! [`deliver`] returns the message survives a crash.
//!
//! Unique names follow the usual convention,
//! `<seconds>.M<microseconds>P<pid>Q<counter>.<host>`, with `/` and `:` in
//! the host name escaped as `\057` and `\072`.
//!
//! # Path safety
//! Domain and local part become path components, so both are checked
//! before anything touches the disk: the domain must be LDH labels; the
//! local part is lower-cased and refused when empty, longer than 64
//! octets, starting with a dot, containing `..`, `/`, `\`, NUL or any
//! control or non-ASCII octet. Existing components under the root that are
//! symbolic links are refused too, so a planted link cannot redirect
//! delivery outside the root. Folders are created with mode 0700, files
//! with 0600.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Why a delivery failed. Invalid names are permanent (the address can
/// never be delivered here); I/O errors are transient.
#[derive(Debug, thiserror::Error)]
pub enum MaildirError {
    #[error("local part '{local_part}' cannot be used as a mailbox name: {reason}")]
    InvalidLocalPart {
        local_part: String,
        reason: &'static str,
    },
    #[error("domain '{domain}' cannot be used as a folder name: {reason}")]
    InvalidDomain {
        domain: String,
        reason: &'static str,
    },
    #[error("'{0}' is a symbolic link; refusing to deliver through it")]
    Symlink(PathBuf),
    #[error("maildir: cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl MaildirError {
    /// True when retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, MaildirError::Io { .. })
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> MaildirError + 'a {
    move |source| MaildirError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Checks and lower-cases a local part for use as a folder name.
pub fn sanitize_local_part(local_part: &str) -> Result<String, MaildirError> {
    let refuse = |reason| {
        Err(MaildirError::InvalidLocalPart {
            local_part: local_part.escape_debug().to_string(),
            reason,
        })
    };
    if local_part.is_empty() {
        return refuse("it is empty");
    }
    if local_part.len() > 64 {
        return refuse("it is longer than 64 octets");
    }
    if local_part.starts_with('.') {
        return refuse("it starts with a dot");
    }
    if local_part.contains("..") {
        return refuse("it contains '..'");
    }
    if local_part.contains(['/', '\\']) {
        return refuse("it contains a slash");
    }
    if local_part.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
        return refuse("it contains a NUL, control or non-ASCII character");
    }
    Ok(local_part.to_ascii_lowercase())
}

/// Checks and lower-cases a domain for use as a folder name.
pub fn sanitize_domain(domain: &str) -> Result<String, MaildirError> {
    let refuse = |reason| {
        Err(MaildirError::InvalidDomain {
            domain: domain.escape_debug().to_string(),
            reason,
        })
    };
    // A U-label domain (SMTPUTF8 mail to `bob@bücher.example`) has the
    // folder of its A-label, `xn--bcher-kva.example` (core::idn).
    let a_label;
    let domain = if xshell_core::idn::needs_idna(domain) {
        match xshell_core::idn::to_ascii(domain) {
            Ok(a) => {
                a_label = a.into_owned();
                a_label.as_str()
            }
            Err(_) => return refuse("it is not a valid internationalized domain name"),
        }
    } else {
        domain
    };
    if domain.is_empty() || domain.len() > 253 {
        return refuse("it is empty or longer than 253 octets");
    }
    for label in domain.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return refuse("it is not a host name (letters, digits, hyphens, dots)");
        }
    }
    Ok(domain.to_ascii_lowercase())
}

/// The Maildir folder of `local_part@domain` under `root` (checked, not
/// created).
pub fn mailbox_path(root: &Path, domain: &str, local_part: &str) -> Result<PathBuf, MaildirError> {
    let domain = sanitize_domain(domain)?;
    let local = sanitize_local_part(local_part)?;
    Ok(root.join(domain).join(local).join("Maildir"))
}

/// Delivers `bytes` to `local_part@domain`; returns the path of the new
/// file in `new/`. Durable on return.
pub fn deliver(
    root: &Path,
    domain: &str,
    local_part: &str,
    bytes: &[u8],
) -> Result<PathBuf, MaildirError> {
    let staged = deliver_unsynced(root, domain, local_part, bytes)?;
    sync_folder(&staged.new_dir)?;
    Ok(staged.path)
}

/// A message written, fsynced and renamed into `new/`, whose rename is
/// not durable yet: see [`sync_folder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    /// The file in `new/`.
    pub path: PathBuf,
    /// The `new/` folder to fsync.
    pub new_dir: PathBuf,
}

/// The first half of [`deliver`]: the file is written, fsynced and renamed
/// into `new/` (so readers see it whole), but the rename survives a crash
/// only once [`sync_folder`] has fsynced `new/`. Deliveries into the same
/// folder share that one fsync.
pub fn deliver_unsynced(
    root: &Path,
    domain: &str,
    local_part: &str,
    bytes: &[u8],
) -> Result<Staged, MaildirError> {
    deliver_unsynced_with(root, domain, local_part, |f| f.write_all(bytes))
}

/// [`deliver_unsynced`] with the file's content written by `write` (e.g.
/// copied from the queue file in pieces, never held whole).
pub fn deliver_unsynced_with(
    root: &Path,
    domain: &str,
    local_part: &str,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<Staged, MaildirError> {
    let pending = write_unsynced_with(root, domain, local_part, write)?;
    if let Err(e) = pending.sync() {
        pending.discard();
        return Err(e);
    }
    pending.publish()
}

/// A message written to a Maildir's `tmp/`, not yet durable nor visible:
/// see [`write_unsynced_with`].
#[derive(Debug)]
pub struct Pending {
    tmp: PathBuf,
    new: PathBuf,
    new_dir: PathBuf,
}

impl Pending {
    /// Renames the file into `new/`, where readers see it. Call it only
    /// once the file's bytes are durable ([`sync_filesystem`]); the rename
    /// is durable after the next sync of the folder or the filesystem.
    pub fn publish(self) -> Result<Staged, MaildirError> {
        if let Err(e) = fs::rename(&self.tmp, &self.new) {
            let _ = fs::remove_file(&self.tmp);
            return Err(io_err("rename into", &self.new)(e));
        }
        Ok(Staged {
            path: self.new,
            new_dir: self.new_dir,
        })
    }

    /// fsyncs the file's bytes (instead of a [`sync_filesystem`], for a
    /// small batch).
    pub fn sync(&self) -> Result<(), MaildirError> {
        File::open(&self.tmp)
            .and_then(|f| f.sync_data())
            .map_err(io_err("fsync", &self.tmp))
    }

    /// Gives up the delivery: the file is removed from `tmp/`.
    pub fn discard(self) {
        let _ = fs::remove_file(&self.tmp);
    }
}

/// Writes a message into `tmp/` of `local_part@domain`'s Maildir without
/// fsyncing it, for a group commit: many deliveries are made durable by
/// one [`sync_filesystem`], then [`Pending::publish`]ed, then one more
/// sync makes the renames durable. A file that cannot be written whole is
/// removed.
pub fn write_unsynced_with(
    root: &Path,
    domain: &str,
    local_part: &str,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<Pending, MaildirError> {
    let (mut f, pending) = create_in_tmp(root, domain, local_part)?;
    let written = write(&mut f).map_err(io_err("write", &pending.tmp));
    drop(f);
    match written {
        Ok(()) => Ok(pending),
        Err(e) => {
            pending.discard();
            Err(e)
        }
    }
}

/// Creates the Maildir if needed and a uniquely named new file in its
/// `tmp/`.
fn create_in_tmp(
    root: &Path,
    domain: &str,
    local_part: &str,
) -> Result<(File, Pending), MaildirError> {
    let domain = sanitize_domain(domain)?;
    let local = sanitize_local_part(local_part)?;
    let mut dir = root.to_path_buf();
    for part in [domain.as_str(), local.as_str(), "Maildir"] {
        dir.push(part);
        ensure_dir(&dir)?;
    }
    for sub in ["tmp", "new", "cur"] {
        ensure_dir(&dir.join(sub))?;
    }
    let name = unique_name();
    let tmp = dir.join("tmp").join(&name);
    let new_dir = dir.join("new");
    let new = new_dir.join(&name);
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io_err("create", &tmp))?;
    Ok((f, Pending { tmp, new, new_dir }))
}

/// Makes durable everything written so far to the filesystem holding
/// `root` (one `syncfs(2)`, one disk flush for a whole batch of
/// deliveries, where an fsync per file costs one each).
pub fn sync_filesystem(root: &Path) -> Result<(), MaildirError> {
    File::open(root)
        .and_then(|d| rustix::fs::syncfs(&d).map_err(io::Error::from))
        .map_err(io_err("syncfs", root))
}

/// fsyncs a Maildir's `new/` folder: every rename into it before this call
/// is durable on return.
pub fn sync_folder(new_dir: &Path) -> Result<(), MaildirError> {
    File::open(new_dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync", new_dir))
}

/// How old a file in a Maildir's `tmp/` must be before
/// [`remove_stale_tmp`] removes it: the Maildir convention's 36 hours.
pub const STALE_TMP: std::time::Duration = std::time::Duration::from_secs(36 * 3600);

/// Removes files older than `older_than` from every `tmp/` folder under
/// `root` (`<root>/<domain>/<local>/Maildir/tmp/`): deliveries that were
/// killed between creating the file and renaming it into `new/`. Readers
/// never see them, but they take space. Symbolic links are neither followed
/// nor removed. Returns how many files were removed; a folder that cannot
/// be read is skipped.
pub fn remove_stale_tmp(root: &Path, older_than: std::time::Duration) -> usize {
    fn dirs(p: &Path) -> Vec<PathBuf> {
        fs::read_dir(p)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    }
    let Some(cutoff) = SystemTime::now().checked_sub(older_than) else {
        return 0;
    };
    let mut removed = 0;
    for domain in dirs(root) {
        for mailbox in dirs(&domain) {
            let tmp = mailbox.join("Maildir").join("tmp");
            let Ok(entries) = fs::read_dir(&tmp) else {
                continue;
            };
            for entry in entries.filter_map(|e| e.ok()) {
                let Ok(meta) = entry.metadata() else { continue };
                let stale = meta.modified().is_ok_and(|m| m < cutoff);
                if meta.file_type().is_file() && stale && fs::remove_file(entry.path()).is_ok() {
                    removed += 1;
                }
            }
        }
    }
    removed
}

/// Creates `dir` (0700) if missing and makes its entry durable; refuses a
/// symbolic link.
fn ensure_dir(dir: &Path) -> Result<(), MaildirError> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => Err(MaildirError::Symlink(dir.to_path_buf())),
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(io_err("use as a folder", dir)(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "not a directory",
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            match fs::DirBuilder::new().mode(0o700).create(dir) {
                Ok(()) => {}
                // Another delivery created it meanwhile.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return ensure_dir(dir),
                Err(e) => return Err(io_err("create folder", dir)(e)),
            }
            if let Some(parent) = dir.parent() {
                File::open(parent)
                    .and_then(|d| d.sync_all())
                    .map_err(io_err("fsync", parent))?;
            }
            Ok(())
        }
        Err(e) => Err(io_err("inspect", dir)(e)),
    }
}

static DELIVERIES: AtomicU64 = AtomicU64::new(0);

fn host_name() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let raw = fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let raw = if raw.is_empty() {
            "localhost".to_string()
        } else {
            raw
        };
        raw.chars()
            .map(|c| match c {
                '/' => "\\057".to_string(),
                ':' => "\\072".to_string(),
                c if c.is_ascii_graphic() => c.to_string(),
                _ => "_".to_string(),
            })
            .collect()
    })
}

/// `<seconds>.M<micros>P<pid>Q<n>.<host>`.
fn unique_name() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let q = DELIVERIES.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}.M{}P{}Q{}.{}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        q,
        host_name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_group_committed_delivery_is_visible_only_once_published() {
        let root = tempfile::tempdir().expect("tempdir");
        let maildir = root.path().join("contoso.com/bob/Maildir");
        let count = |sub: &str| fs::read_dir(maildir.join(sub)).expect("list").count();
        let pending: Vec<Pending> = (0..3)
            .map(|i| {
                write_unsynced_with(root.path(), "contoso.com", "bob", |f| {
                    f.write_all(format!("message {i}\r\n").as_bytes())
                })
                .expect("write")
            })
            .collect();
        // written, not visible to a reader of new/
        assert_eq!((count("tmp"), count("new")), (3, 0));
        sync_filesystem(root.path()).expect("syncfs");
        let mut pending = pending.into_iter();
        let given_up = pending.next().expect("one");
        given_up.discard();
        let staged: Vec<Staged> = pending.map(|p| p.publish().expect("publish")).collect();
        sync_filesystem(root.path()).expect("syncfs");
        assert_eq!((count("tmp"), count("new")), (0, 2));
        assert_eq!(fs::read(&staged[1].path).expect("read"), b"message 2\r\n");
        // a write that fails leaves nothing behind
        let failed = write_unsynced_with(root.path(), "contoso.com", "bob", |_| {
            Err(io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!((count("tmp"), count("new")), (0, 2));
    }

    #[test]
    fn delivers_exact_bytes_into_new() {
        let root = tempfile::tempdir().expect("tempdir");
        let bytes = b"Subject: hi\r\n\r\nbody \x00\xff\r\n";
        let path = deliver(root.path(), "Contoso.com", "Bob.Smith", bytes).expect("deliver");
        let maildir = root.path().join("contoso.com/bob.smith/Maildir");
        assert_eq!(path.parent(), Some(maildir.join("new").as_path()));
        assert_eq!(fs::read(&path).expect("read"), bytes);
        for sub in ["tmp", "cur"] {
            assert_eq!(
                fs::read_dir(maildir.join(sub)).expect("dir").count(),
                0,
                "{sub}"
            );
        }
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        let parts: Vec<&str> = name.splitn(3, '.').collect();
        assert!(parts[0].bytes().all(|b| b.is_ascii_digit()), "{name}");
        assert!(
            parts[1].starts_with('M') && parts[1].contains('P') && parts[1].contains('Q'),
            "{name}"
        );
        assert!(!name.contains('/') && !name.contains(':'));
        let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&maildir), 0o700);
        assert_eq!(mode(&maildir.join("new")), 0o700);
        assert_eq!(mode(&root.path().join("contoso.com")), 0o700);
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn stale_tmp_files_are_removed_and_fresh_ones_kept() {
        let root = tempfile::tempdir().unwrap();
        deliver(root.path(), "orga.example", "bob", b"x\r\n").unwrap();
        let tmp = root.path().join("orga.example/bob/Maildir/tmp");
        let old = tmp.join("1.M1P1Q1.killed");
        let fresh = tmp.join("2.M2P2Q2.writing");
        fs::write(&old, b"partial").unwrap();
        fs::write(&fresh, b"partial").unwrap();
        let two_days = SystemTime::now() - std::time::Duration::from_secs(48 * 3600);
        File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(two_days)
            .unwrap();
        // A stale symlink is left alone (and not followed).
        let target = root.path().join("outside");
        fs::write(&target, b"keep").unwrap();
        File::options()
            .write(true)
            .open(&target)
            .unwrap()
            .set_modified(two_days)
            .unwrap();
        std::os::unix::fs::symlink(&target, tmp.join("link")).unwrap();

        assert_eq!(remove_stale_tmp(root.path(), STALE_TMP), 1);
        assert!(!old.exists());
        assert!(fresh.exists());
        assert!(target.exists());
        assert!(tmp.join("link").symlink_metadata().is_ok());
        // The delivered message is untouched.
        let new = root.path().join("orga.example/bob/Maildir/new");
        assert_eq!(fs::read_dir(new).unwrap().count(), 1);
        assert_eq!(remove_stale_tmp(&root.path().join("missing"), STALE_TMP), 0);
    }

    #[test]
    fn names_are_unique() {
        let root = tempfile::tempdir().expect("tempdir");
        let mut paths: Vec<PathBuf> = (0..50)
            .map(|i| {
                deliver(root.path(), "contoso.com", "a", format!("{i}").as_bytes())
                    .expect("deliver")
            })
            .collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), 50);
    }

    #[test]
    fn path_traversal_is_refused() {
        let root = tempfile::tempdir().expect("tempdir");
        for local in [
            "..",
            "../../etc",
            "a/b",
            "a\\b",
            ".hidden",
            "a..b",
            "",
            "a\0b",
            "a\nb",
            "jörg",
            &"x".repeat(65),
        ] {
            let e = deliver(root.path(), "contoso.com", local, b"x").expect_err(local);
            assert!(
                matches!(e, MaildirError::InvalidLocalPart { .. }),
                "{local:?}: {e}"
            );
            assert!(!e.is_transient());
        }
        for domain in [
            "..",
            "../x",
            "a/b",
            ".contoso.com",
            "contoso..com",
            "",
            "[1.2.3.4]",
            "-a.com",
            "a\0.com",
        ] {
            let e = deliver(root.path(), domain, "bob", b"x").expect_err(domain);
            assert!(
                matches!(e, MaildirError::InvalidDomain { .. }),
                "{domain:?}: {e}"
            );
        }
        assert_eq!(
            fs::read_dir(root.path()).expect("dir").count(),
            0,
            "nothing was created"
        );
    }

    #[test]
    fn symlinked_mailbox_is_refused() {
        let root = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        fs::create_dir(root.path().join("contoso.com")).expect("mkdir");
        std::os::unix::fs::symlink(outside.path(), root.path().join("contoso.com/bob"))
            .expect("symlink");
        let e = deliver(root.path(), "contoso.com", "bob", b"x").expect_err("symlink");
        assert!(matches!(e, MaildirError::Symlink(_)), "{e}");
        assert_eq!(fs::read_dir(outside.path()).expect("dir").count(), 0);
    }

    #[test]
    fn sanitizers() {
        assert_eq!(
            sanitize_local_part("Bob.Smith+tag").expect("ok"),
            "bob.smith+tag"
        );
        assert_eq!(
            sanitize_domain("Mail.Contoso.COM").expect("ok"),
            "mail.contoso.com"
        );
        assert_eq!(
            mailbox_path(Path::new("/var/mail"), "contoso.com", "Bob").expect("ok"),
            Path::new("/var/mail/contoso.com/bob/Maildir")
        );
    }
}
