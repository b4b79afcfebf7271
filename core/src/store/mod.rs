//! The shared state store.
//!
//! The organization configuration is one JSON document with a schema version
//! and a revision number. Writers take an exclusive lock, read, change,
//! validate, write a temporary file, fsync it, rename it over the document and
//! fsync the directory; readers never lock and always see a whole revision.
//! Private keys are separate files (0600 in a 0700 folder).
//!
//! [`Backend`] is the seam for other backends (a distributed store such as
//! etcd later); cmdlets only see [`Store`].
//!
//! - `file`: the embedded backend, a folder on disk ([`FileBackend`]).
//! - `layout`: the text of `config.json`.

mod etcd;
mod file;
mod layout;

pub use etcd::{CACHE_FILE, EtcdBackend, EtcdSettings};
pub use file::{CONFIG_FILE, FileBackend};

use crate::model::{OrgConfig, SCHEMA_VERSION};
use std::io;
use std::path::PathBuf;

/// The default store folder when none is given: `$XSHELL_STORE`, else
/// `$XDG_DATA_HOME/xshell`, else `~/.local/share/xshell`. Both `xshell` and
/// `xshell-transport` use it, so they meet at the same store.
pub fn default_dir() -> PathBuf {
    if let Some(s) = std::env::var_os("XSHELL_STORE").filter(|s| !s.is_empty()) {
        return PathBuf::from(s);
    }
    default_data_dir()
}

/// `$XDG_DATA_HOME/xshell`, else `~/.local/share/xshell`.
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(x).join("xshell");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/xshell")
}

/// Where the store is: a local folder, or an etcd cluster.
#[derive(Debug, Clone)]
pub enum Location {
    Folder(PathBuf),
    Etcd(Box<EtcdSettings>),
}

impl Location {
    /// Parses `--store`/`XSHELL_STORE`: a folder path, `file:///path`, or
    /// `etcd://HOST:PORT[,HOST:PORT...]/PREFIX` (the etcd TLS files, user
    /// and password then come from the environment, see [`EtcdSettings`]).
    pub fn parse(location: &std::path::Path) -> Result<Location, String> {
        let text = location.to_string_lossy();
        if let Some((scheme, _)) = text.split_once("://")
            && scheme.eq_ignore_ascii_case("etcd")
        {
            return EtcdSettings::from_location(&text).map(|s| Location::Etcd(Box::new(s)));
        }
        folder_of(location).map(Location::Folder)
    }

    /// The store at this location. An etcd store is not contacted yet: the
    /// first read says whether it is reachable.
    pub fn open(self) -> Result<Store, StoreError> {
        Ok(match self {
            Location::Folder(dir) => Store::open_dir(dir),
            Location::Etcd(s) => Store::new(Box::new(EtcdBackend::new(*s)?)),
        })
    }

    /// A local folder for files that belong to this machine (the shell's
    /// history): the store folder, or the etcd store's state folder.
    pub fn local_dir(&self) -> PathBuf {
        match self {
            Location::Folder(d) => d.clone(),
            Location::Etcd(s) => s.state_dir.clone(),
        }
    }
}

/// A store location (`--store`, `XSHELL_STORE`) as a folder: a path, or a
/// `file://` URL. A location with another scheme is refused (etcd:// is
/// handled by [`Location::parse`]): taking the text as a folder would
/// create a local folder named `etcd:` and carry on.
pub fn folder_of(location: &std::path::Path) -> Result<PathBuf, String> {
    let text = location.to_string_lossy();
    let Some((scheme, rest)) = text.split_once("://") else {
        return Ok(location.to_path_buf());
    };
    let is_scheme = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !is_scheme {
        return Ok(location.to_path_buf());
    }
    if scheme.eq_ignore_ascii_case("file") {
        if !rest.starts_with('/') {
            return Err(format!(
                "store location '{text}': a file:// URL needs an absolute path (file:///var/lib/xshell)"
            ));
        }
        return Ok(PathBuf::from(rest));
    }
    Err(format!(
        "store location '{text}': '{scheme}://' is not supported; give a folder path, file:///path \
         or etcd://HOST:PORT[,HOST:PORT...]/PREFIX"
    ))
}

/// Why the store could not be read or written. Each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "store file {path} is corrupt: {message} (line {line}, column {column}); it was left untouched"
    )]
    Corrupt {
        path: PathBuf,
        message: String,
        line: usize,
        column: usize,
    },
    #[error(
        "store file {path} was written by a newer xshell (schema {found}, this build understands {supported}); upgrade xshell"
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error(
        "store file {path} uses schema {found}, older than this build's {supported}, and no migration from it exists; it was left untouched"
    )]
    NeedsMigration {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// The etcd cluster did not answer (down, no leader, refused
    /// credentials) within the timeout.
    #[error("etcd store {location} is unreachable: {message}")]
    Unreachable { location: String, message: String },
    /// Another writer committed between this transaction's read and its
    /// commit; [`Store::update`] retries from a fresh read.
    #[error("etcd store {location}: another writer changed the configuration meanwhile")]
    Conflict { location: String },
    #[error("invalid key name '{0}'")]
    BadKeyName(String),
    #[error("invalid record name '{0}'")]
    BadRecordName(String),
    #[error("private key '{0}' is missing from the store")]
    MissingKey(String),
}

/// A consistent view of the configuration at one revision.
pub type Snapshot = OrgConfig;

/// An open write transaction: holds the backend's exclusive lock until it is
/// committed or dropped.
pub trait Transaction {
    /// The configuration as it is under the lock.
    fn current(&self) -> &OrgConfig;
    /// Replace the configuration with `next` durably, then release the lock.
    fn commit(self: Box<Self>, next: &OrgConfig) -> Result<(), StoreError>;
}

/// What a store backend must provide.
pub trait Backend: Send + Sync {
    /// Human-readable location, for messages.
    fn describe(&self) -> String;
    /// The latest committed configuration (the default one for a new store).
    fn read(&self) -> Result<OrgConfig, StoreError>;
    /// Begin a transaction (blocks until the lock is had).
    fn begin(&self) -> Result<Box<dyn Transaction + '_>, StoreError>;
    /// Write a secret (private key) under `name`; durable on return.
    fn put_secret(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError>;
    fn get_secret(&self, name: &str) -> Result<Vec<u8>, StoreError>;
    fn delete_secret(&self, name: &str) -> Result<(), StoreError>;
    /// A local folder the transport may use for its queue, mailboxes and logs.
    fn state_dir(&self) -> Option<PathBuf>;
    /// Runtime records (server heartbeats) kept outside the configuration document: writing one creates no revision.
    fn put_record(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError>;
    /// Every record whose name starts with `prefix`, as (name, bytes).
    fn list_records(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Deletes the record `name` (a removed server's registration); a
    /// record that is not there is no error. No configuration revision.
    fn delete_record(&self, name: &str) -> Result<(), StoreError>;
    /// The latest committed revision; cheap enough to poll. A backend with
    /// native change notification (etcd's watch) can answer from it.
    fn revision(&self) -> Result<u64, StoreError> {
        self.read().map(|c| c.revision)
    }
    /// The last configuration this machine read, kept locally for a start
    /// while the store is unreachable, and where it is kept. The file store
    /// is local: it has none.
    fn last_good(&self) -> Result<Option<(OrgConfig, String)>, StoreError> {
        Ok(None)
    }
    /// Keeps `cfg` as the last good configuration (the engine calls it with
    /// each configuration it applies), for [`Backend::last_good`]. Best
    /// effort; the file store has nothing to keep.
    fn keep_last_good(&self, cfg: &OrgConfig) {
        let _ = cfg;
    }
    /// Calls `notify` whenever the configuration may have changed (etcd's
    /// watch); returns false when the backend cannot, and the caller polls
    /// [`Backend::revision`] instead.
    fn subscribe(&self, notify: Box<dyn Fn() + Send + Sync>) -> bool {
        let _ = notify;
        false
    }
}

/// How many times [`Store::update`] redoes a change that lost a race with
/// another writer (etcd) before giving up.
const MAX_CONFLICT_RETRIES: u32 = 200;

/// The outcome of an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new revision was committed.
    Committed { revision: u64 },
    /// The change left everything as it was: nothing was written.
    Unchanged { revision: u64 },
    /// -WhatIf: validated, nothing written.
    DryRun,
}

/// The store as the cmdlets see it.
pub struct Store {
    backend: Box<dyn Backend>,
}

impl Store {
    pub fn new(backend: Box<dyn Backend>) -> Store {
        Store { backend }
    }

    /// The embedded file store in `dir`.
    pub fn open_dir(dir: impl Into<PathBuf>) -> Store {
        Store::new(Box::new(FileBackend::new(dir)))
    }

    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        self.backend.read()
    }

    /// Waits until a revision newer than `since` is committed, or `timeout`
    /// passes (checking every `poll`); returns the new snapshot, if any. This
    /// is the watch the transport uses to pick up changes.
    pub fn wait_for_change(
        &self,
        since: u64,
        timeout: std::time::Duration,
        poll: std::time::Duration,
    ) -> Result<Option<Snapshot>, StoreError> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.backend.revision()? > since {
                return self.backend.read().map(Some);
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            std::thread::sleep(poll.min(deadline - now));
        }
    }

    /// One transaction: `change` edits a copy of the configuration; if it
    /// succeeds and changed anything, the copy is committed as the next
    /// revision. With `dry_run`, nothing is written.
    ///
    /// `change` runs first on a snapshot, without the lock: a change that
    /// fails, changes nothing or is a dry run never takes the lock, so it
    /// creates nothing (not even the store folder of a fresh store). Only a
    /// real change takes the lock and runs `change` again on the
    /// configuration as it is under the lock, so concurrent writers still
    /// never lose an update. `change` must therefore be repeatable (no side
    /// effects outside the configuration it is given).
    pub fn update<T, E: From<StoreError>>(
        &self,
        dry_run: bool,
        mut change: impl FnMut(&mut OrgConfig) -> Result<T, E>,
    ) -> Result<(T, Outcome), E> {
        let snapshot = self.backend.read()?;
        let (value, next) = apply_change(&snapshot, &mut change)?;
        if dry_run {
            return Ok((value, Outcome::DryRun));
        }
        if next == snapshot {
            return Ok((
                value,
                Outcome::Unchanged {
                    revision: snapshot.revision,
                },
            ));
        }
        // The change as computed on `base`; redone when the store moved on.
        let mut base = snapshot;
        let mut done = (value, next);
        let mut conflicts = 0u32;
        loop {
            let tx = self.backend.begin()?;
            let before = tx.current().clone();
            if before != base {
                // Another writer committed since `base`: redo the change on
                // what is there now.
                done = apply_change(&before, &mut change)?;
                base = before.clone();
            }
            let (value, mut next) = done;
            if next == before {
                return Ok((
                    value,
                    Outcome::Unchanged {
                        revision: before.revision,
                    },
                ));
            }
            next.revision = before.revision + 1;
            match tx.commit(&next) {
                Ok(()) => {
                    return Ok((
                        value,
                        Outcome::Committed {
                            revision: next.revision,
                        },
                    ));
                }
                // Lost a race (etcd's compare failed): nothing was written;
                // read afresh and redo. A short pause that grows with the
                // conflicts spreads out writers that keep colliding.
                Err(StoreError::Conflict { .. }) if conflicts < MAX_CONFLICT_RETRIES => {
                    conflicts += 1;
                    next.revision = base.revision;
                    done = (value, next);
                    let jitter = u64::from(std::process::id() ^ conflicts.wrapping_mul(7919)) % 7;
                    std::thread::sleep(std::time::Duration::from_millis(
                        u64::from(conflicts.min(20)) + jitter,
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Runs `change` on a copy of `before`; the copy keeps `before`'s revision
/// and this build's schema version.
fn apply_change<T, E>(
    before: &OrgConfig,
    change: &mut impl FnMut(&mut OrgConfig) -> Result<T, E>,
) -> Result<(T, OrgConfig), E> {
    let mut next = before.clone();
    let value = change(&mut next)?;
    next.revision = before.revision;
    next.schema_version = SCHEMA_VERSION;
    Ok((value, next))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_location_with_an_unknown_scheme_is_refused() {
        use std::path::Path;
        let f = |s: &str| super::folder_of(Path::new(s));
        assert_eq!(f("/var/lib/xshell").unwrap(), Path::new("/var/lib/xshell"));
        assert_eq!(f("store").unwrap(), Path::new("store"));
        assert_eq!(f("file:///srv/x").unwrap(), Path::new("/srv/x"));
        assert!(f("file://srv/x").unwrap_err().contains("absolute path"));
        let e = f("etcd://127.0.0.1:2379/x").unwrap_err();
        assert!(e.contains("'etcd://' is not supported"), "{e}");
        let e = f("consul://127.0.0.1:8500/x").unwrap_err();
        assert!(e.contains("'consul://' is not supported"), "{e}");
        assert!(f("HTTPS://example").is_err());
        // Not a scheme: a relative folder with "://" later in its path.
        assert_eq!(f("./a://b").unwrap(), Path::new("./a://b"));
    }
}
