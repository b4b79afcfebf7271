//! The embedded backend: the configuration document and the private keys in
//! a folder on disk (see the parent module for the write protocol).

use super::layout::config_text;
use super::{Backend, StoreError, Transaction};
use crate::model::{OrgConfig, SCHEMA_VERSION};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The embedded default: a directory on disk.
pub struct FileBackend {
    dir: PathBuf,
    /// The bytes last read and what they parsed to: a transaction reads
    /// the file again under the lock, and when nobody wrote it meanwhile
    /// (the same bytes) the parse is not repeated.
    last: std::sync::Mutex<Option<(Vec<u8>, OrgConfig)>>,
}

pub const CONFIG_FILE: &str = "config.json";
const LOCK_FILE: &str = "store.lock";
const KEY_DIR: &str = "keys";
/// Runtime records ([`Backend::put_record`]): one file per record, outside
/// `config.json`, so writing one is no configuration revision.
pub const RECORD_DIR: &str = "records";

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// A parse error of the store file. serde_json's message ends with the
/// position, which [`StoreError::Corrupt`] shows on its own: strip it.
fn corrupt(path: &Path, e: &serde_json::Error) -> StoreError {
    let text = e.to_string();
    let at = format!(" at line {} column {}", e.line(), e.column());
    StoreError::Corrupt {
        path: path.to_path_buf(),
        message: text.strip_suffix(&at).unwrap_or(&text).to_string(),
        line: e.line(),
        column: e.column(),
    }
}

impl FileBackend {
    pub fn new(dir: impl Into<PathBuf>) -> FileBackend {
        FileBackend {
            dir: dir.into(),
            last: std::sync::Mutex::new(None),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }

    fn ensure_dir(&self, dir: &Path) -> Result<(), StoreError> {
        if !dir.is_dir() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io_err("create folder", dir))?;
        }
        Ok(())
    }

    /// Parses a configuration document, checking its schema version.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<OrgConfig, StoreError> {
        // A JSON object (serde would also take a struct from an array).
        let object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if object
            && let Ok(cfg) = serde_json::from_slice::<OrgConfig>(bytes)
            && cfg.schema_version == SCHEMA_VERSION
        {
            return Ok(cfg);
        }
        // It did not read as this build's document: find out why. The
        // schema version first, so that a newer document is refused as
        // such, not as "unknown field". Only that field is kept (the rest
        // is skipped without building a tree); a document that is not even
        // an object is read whole for the error.
        #[derive(serde::Deserialize)]
        struct Probe {
            #[serde(rename = "SchemaVersion", default)]
            version: Option<serde_json::Value>,
        }
        let version = match serde_json::from_slice::<Probe>(bytes) {
            Ok(p) if object => p.version,
            _ => serde_json::from_slice::<serde_json::Value>(bytes)
                .map_err(|e| corrupt(path, &e))?
                .get("SchemaVersion")
                .cloned(),
        };
        let found = version
            .as_ref()
            .and_then(|v| v.as_u64())
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| StoreError::Corrupt {
                path: path.to_path_buf(),
                message: "SchemaVersion is missing or not a number".into(),
                line: 1,
                column: 1,
            })?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        if found < SCHEMA_VERSION {
            return Err(StoreError::NeedsMigration {
                path: path.to_path_buf(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        serde_json::from_slice(bytes).map_err(|e| corrupt(path, &e))
    }

    /// The document's bytes; `None` for a store that has none yet.
    fn config_bytes(&self, path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
        match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", path)(e)),
        }
    }

    fn read_config(&self) -> Result<OrgConfig, StoreError> {
        let path = self.config_path();
        let Some(bytes) = self.config_bytes(&path)? else {
            return Ok(OrgConfig::default());
        };
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((b, cfg)) = last.as_ref()
            && *b == bytes
        {
            return Ok(cfg.clone());
        }
        let cfg = Self::parse(&path, &bytes)?;
        *last = Some((bytes, cfg.clone()));
        Ok(cfg)
    }

    /// Writes `bytes` to `path` atomically: temporary file in the same folder,
    /// fsync, rename, fsync the folder.
    fn write_atomic(
        &self,
        dir: &Path,
        name: &str,
        bytes: &[u8],
        mode: u32,
    ) -> Result<(), StoreError> {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.tmp.{}.{n}", std::process::id()));
        let target = dir.join(name);
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&tmp)
                .map_err(io_err("create", &tmp))?;
            f.write_all(bytes).map_err(io_err("write", &tmp))?;
            f.sync_all().map_err(io_err("fsync", &tmp))?;
            fs::rename(&tmp, &target).map_err(io_err("rename into place", &target))?;
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_err("fsync folder", dir))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Removes the temporary files of writers of `name` that died between
    /// creating them and the rename (killed, power loss). Only called under
    /// the store lock, which every writer of `name` holds, so any such file
    /// is a leftover: left alone they would pile up and, once a process id
    /// is reused, make `create_new` fail for every later write.
    fn remove_stale_temp_files(&self, name: &str) {
        let prefix = format!(".{name}.tmp.");
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix))
            {
                // Best effort: a file we cannot remove only costs space.
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Writes `name` in the folder atomically, 0600 (the etcd backend's
    /// local cache).
    pub(super) fn write_file(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.ensure_dir(&self.dir)?;
        self.remove_stale_temp_files(name);
        self.write_atomic(&self.dir, name, bytes, 0o600)
    }

    fn key_path(&self, name: &str) -> Result<PathBuf, StoreError> {
        if name.is_empty()
            || name.len() > 128
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            || name.starts_with('.')
        {
            return Err(StoreError::BadKeyName(name.to_string()));
        }
        Ok(self.dir.join(KEY_DIR).join(name))
    }
}

struct FileTransaction<'a> {
    backend: &'a FileBackend,
    current: OrgConfig,
    // Holding the file keeps the lock; dropping it releases it.
    _lock: File,
}

impl Transaction for FileTransaction<'_> {
    fn current(&self) -> &OrgConfig {
        &self.current
    }

    fn commit(self: Box<Self>, next: &OrgConfig) -> Result<(), StoreError> {
        let bytes = config_text(next).map_err(|e| StoreError::Io {
            action: "serialize",
            path: self.backend.config_path(),
            source: io::Error::other(e),
        })?;
        self.backend.remove_stale_temp_files(CONFIG_FILE);
        self.backend
            .write_atomic(&self.backend.dir, CONFIG_FILE, &bytes, 0o600)
    }
}

impl Backend for FileBackend {
    fn describe(&self) -> String {
        self.dir.display().to_string()
    }

    fn read(&self) -> Result<OrgConfig, StoreError> {
        self.read_config()
    }

    fn begin(&self) -> Result<Box<dyn Transaction + '_>, StoreError> {
        self.ensure_dir(&self.dir)?;
        let lock_path = self.dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io_err("open", &lock_path))?;
        lock.lock().map_err(io_err("lock", &lock_path))?;
        let current = self.read_config()?;
        Ok(Box::new(FileTransaction {
            backend: self,
            current,
            _lock: lock,
        }))
    }

    fn put_secret(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.key_path(name)?;
        let dir = self.dir.join(KEY_DIR);
        self.ensure_dir(&self.dir)?;
        self.ensure_dir(&dir)?;
        // The folder may predate us with looser permissions: tighten it.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .map_err(io_err("set permissions on", &dir))?;
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| StoreError::BadKeyName(name.to_string()))?;
        self.write_atomic(&dir, file, bytes, 0o600)
    }

    fn get_secret(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.key_path(name)?;
        fs::read(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::MissingKey(name.to_string())
            } else {
                io_err("read", &path)(e)
            }
        })
    }

    fn delete_secret(&self, name: &str) -> Result<(), StoreError> {
        let path = self.key_path(name)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", &path)(e)),
        }
    }

    fn state_dir(&self) -> Option<PathBuf> {
        Some(self.dir.clone())
    }

    fn put_record(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let file = record_file(name)?;
        let dir = self.dir.join(RECORD_DIR);
        self.ensure_dir(&self.dir)?;
        self.ensure_dir(&dir)?;
        // Leftovers of writers killed before their rename: each writer of
        // a record is the one process that owns it (a server's engine).
        let prefix = format!(".{file}.tmp.");
        if let Ok(entries) = fs::read_dir(&dir) {
            for e in entries.flatten() {
                let stale = e.file_name().to_str().is_some_and(|n| {
                    n.starts_with(&prefix) && !n.contains(&format!(".{}.", std::process::id()))
                });
                if stale {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        self.write_atomic(&dir, &file, bytes, 0o600)
    }

    fn delete_record(&self, name: &str) -> Result<(), StoreError> {
        let dir = self.dir.join(RECORD_DIR);
        let path = dir.join(record_file(name)?);
        match fs::remove_file(&path) {
            Ok(()) => File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(io_err("sync folder", &dir)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", &path)(e)),
        }
    }

    fn list_records(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let dir = self.dir.join(RECORD_DIR);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("read folder", &dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err("read folder", &dir))?;
            let Some(file) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if file.starts_with('.') {
                continue; // a temporary file
            }
            let name = file.replace(RECORD_SEPARATOR, "/");
            if !name.starts_with(prefix) {
                continue;
            }
            match fs::read(entry.path()) {
                Ok(bytes) => out.push((name, bytes)),
                // removed meanwhile
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("read", &entry.path())(e)),
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

/// What a `/` of a record name becomes in its file name.
const RECORD_SEPARATOR: &str = "~";

/// A record's file name: the name's `/` as `~`. Names are ASCII letters,
/// digits, `-`, `_`, `.` and `/`, at most 200 bytes, no empty segment and
/// no segment starting with `.`.
pub(super) fn record_file(name: &str) -> Result<String, StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
        && name
            .split('/')
            .all(|seg| !seg.is_empty() && !seg.starts_with('.'));
    if !ok {
        return Err(StoreError::BadRecordName(name.to_string()));
    }
    Ok(name.replace('/', RECORD_SEPARATOR))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Outcome, Store};
    use crate::types::SmtpDomain;

    #[test]
    fn records_are_outside_the_configuration() {
        let t = tempfile::tempdir().unwrap();
        let b = FileBackend::new(t.path());
        b.put_record("servers/ex01", b"one").unwrap();
        b.put_record("servers/ex02", b"two").unwrap();
        b.put_record("servers/ex01", b"one again").unwrap();
        b.put_record("other/x", b"x").unwrap();
        assert_eq!(
            b.list_records("servers/").unwrap(),
            vec![
                ("servers/ex01".to_string(), b"one again".to_vec()),
                ("servers/ex02".to_string(), b"two".to_vec()),
            ]
        );
        assert_eq!(b.list_records("").unwrap().len(), 3);
        // no revision, no configuration document
        assert_eq!(b.revision().unwrap(), 0);
        assert!(!t.path().join(CONFIG_FILE).exists());
        let mode = fs::metadata(t.path().join(RECORD_DIR).join("servers~ex01"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        for bad in ["", "../x", "servers/.x", "a//b", "a b", "/a"] {
            assert!(
                matches!(b.put_record(bad, b"x"), Err(StoreError::BadRecordName(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn fresh_store_reads_default_without_creating_anything() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("s");
        let s = Store::open_dir(&dir);
        assert_eq!(s.snapshot().unwrap().revision, 0);
        assert!(!dir.exists());
    }

    #[test]
    fn update_commits_and_bumps_revision_once() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::open_dir(t.path());
        let d: SmtpDomain = "a.tld".parse().unwrap();
        let (_, o) = s
            .update::<_, StoreError>(false, |c| {
                c.transport_config
                    .tls_receive_domain_secure_list
                    .push(d.clone());
                Ok(())
            })
            .unwrap();
        assert_eq!(o, Outcome::Committed { revision: 1 });
        // Same change again: nothing changes, nothing written.
        let (_, o) = s
            .update::<_, StoreError>(false, |c| {
                c.transport_config.tls_receive_domain_secure_list = vec![d.clone()];
                Ok(())
            })
            .unwrap();
        assert_eq!(o, Outcome::Unchanged { revision: 1 });
        let (_, o) = s
            .update::<_, StoreError>(true, |c| {
                c.transport_config.tls_receive_domain_secure_list.clear();
                Ok(())
            })
            .unwrap();
        assert_eq!(o, Outcome::DryRun);
        assert_eq!(
            s.snapshot()
                .unwrap()
                .transport_config
                .tls_receive_domain_secure_list,
            vec![d]
        );
        let mode = fs::metadata(t.path().join(CONFIG_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_cached_parse_never_hides_another_writers_change() {
        let t = tempfile::tempdir().unwrap();
        let a = Store::open_dir(t.path());
        let b = Store::open_dir(t.path());
        let d: SmtpDomain = "fabrikam.com".parse().unwrap();
        let set = |s: &Store, list: Vec<SmtpDomain>| {
            s.update::<_, StoreError>(false, |c| {
                c.transport_config.tls_receive_domain_secure_list = list.clone();
                Ok(())
            })
            .unwrap()
            .1
        };
        assert_eq!(set(&a, vec![d.clone()]), Outcome::Committed { revision: 1 });
        assert_eq!(a.snapshot().unwrap().revision, 1);
        // b writes behind a's back; a's next read and transaction see it
        assert_eq!(set(&b, vec![]), Outcome::Committed { revision: 2 });
        let snap = a.snapshot().unwrap();
        assert_eq!(snap.revision, 2);
        assert!(
            snap.transport_config
                .tls_receive_domain_secure_list
                .is_empty()
        );
        assert_eq!(set(&a, vec![d]), Outcome::Committed { revision: 3 });
        // a damaged file is reported, not replaced by the cached copy
        fs::write(t.path().join(CONFIG_FILE), b"{ not json").unwrap();
        assert!(a.snapshot().is_err());
    }

    #[test]
    fn failed_change_writes_nothing() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::open_dir(t.path());
        let r = s.update::<(), StoreError>(false, |c| {
            c.revision = 99;
            Err(StoreError::BadKeyName("x".into()))
        });
        assert!(r.is_err());
        assert!(!t.path().join(CONFIG_FILE).exists());
    }

    #[test]
    fn dry_runs_failures_and_no_ops_create_nothing() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("a/s");
        let s = Store::open_dir(&dir);
        let (_, o) = s
            .update::<_, StoreError>(true, |c| {
                c.transport_service.name = "X".into();
                Ok(())
            })
            .unwrap();
        assert_eq!(o, Outcome::DryRun);
        assert!(
            s.update::<(), StoreError>(false, |_| Err(StoreError::BadKeyName("x".into())))
                .is_err()
        );
        let (_, o) = s.update::<_, StoreError>(false, |_| Ok(())).unwrap();
        assert_eq!(o, Outcome::Unchanged { revision: 0 });
        assert!(!t.path().join("a").exists());
        let (_, o) = s
            .update::<_, StoreError>(false, |c| {
                c.transport_service.name = "X".into();
                Ok(())
            })
            .unwrap();
        assert_eq!(o, Outcome::Committed { revision: 1 });
        assert!(dir.join(LOCK_FILE).exists());
    }

    /// A store with something in every section.
    fn full_store(dir: &Path) -> Store {
        let s = Store::open_dir(dir);
        s.update::<_, StoreError>(false, |c| {
            c.transport_config
                .tls_receive_domain_secure_list
                .push("a.tld".parse().unwrap());
            c.transport_service.name = "EDGE1".into();
            c.accepted_domains.push(crate::model::AcceptedDomain {
                name: "A".into(),
                domain_name: "a.tld".parse().unwrap(),
                domain_type: crate::model::AcceptedDomainType::Authoritative,
                default: true,
            });
            for i in 0..3 {
                let mut sc = crate::model::SendConnector::new(&format!("S{i}"));
                sc.address_spaces = vec![format!("s{i}.example").parse().unwrap()];
                c.send_connectors.push(sc);
            }
            c.receive_connectors
                .push(crate::model::ReceiveConnector::with_usage(
                    "R",
                    crate::model::ReceiveUsage::Internet,
                ));
            c.trusted_roots.push(crate::model::TrustedRoot {
                thumbprint: "AB".into(),
                subject: "CN=Root".into(),
                certificate: "MA==".into(),
            });
            Ok(())
        })
        .unwrap();
        s
    }

    #[test]
    fn config_json_has_one_field_and_one_listed_object_per_line() {
        let t = tempfile::tempdir().unwrap();
        let s = full_store(t.path());
        let text = fs::read_to_string(t.path().join(CONFIG_FILE)).unwrap();
        // Reads back as what was written, and as serde_json reads any layout.
        let back: OrgConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s.snapshot().unwrap());
        let pretty = serde_json::to_string_pretty(&back).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            serde_json::from_str::<serde_json::Value>(&pretty).unwrap()
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "{");
        assert_eq!(lines[1], "  \"SchemaVersion\": 1,");
        assert_eq!(lines[2], "  \"Revision\": 1,");
        assert!(
            lines[3]
                .starts_with("  \"TransportConfig\": {\"TLSReceiveDomainSecureList\":[\"a.tld\"],")
        );
        let at = |key: &str| {
            lines
                .iter()
                .position(|l| *l == format!("  \"{key}\": ["))
                .unwrap()
        };
        let sc = at("SendConnectors");
        for i in 0..3 {
            let line = lines[sc + 1 + i];
            assert!(
                line.starts_with(&format!("    {{\"Name\":\"S{i}\",")),
                "{line}"
            );
            assert!(line.ends_with(if i < 2 { "}," } else { "}" }), "{line}");
        }
        assert_eq!(lines[sc + 4], "  ],");
        // An empty list stays on its field's line; the document ends with "}\n".
        assert!(lines.contains(&"  \"Certificates\": [],"), "{text}");
        assert_eq!(*lines.last().unwrap(), "}");
        assert!(text.ends_with("}\n"));
        // The braces, 5 fields of one line, 4 lists of 1 + n + 1 lines.
        assert_eq!(lines.len(), 2 + 5 + (2 + 1) + (2 + 3) + (2 + 1) + (2 + 1));
        // Much less white space than the indented layout.
        let blank = |s: &str| s.bytes().filter(|b| b.is_ascii_whitespace()).count();
        assert!(
            blank(&text) * 3 < blank(&pretty),
            "{} {}",
            blank(&text),
            blank(&pretty)
        );
    }

    #[test]
    fn corrupt_and_newer_files_are_refused_and_kept() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join(CONFIG_FILE);
        fs::write(&p, b"{\n  \"SchemaVersion\": 1,\n  \"Revision\": oops\n}").unwrap();
        let s = Store::open_dir(t.path());
        let e = s.snapshot().unwrap_err().to_string();
        assert!(e.contains("config.json") && e.contains("line 3"), "{e}");
        assert!(s.update::<(), StoreError>(false, |_| Ok(())).is_err());
        assert!(fs::read_to_string(&p).unwrap().contains("oops"));
        fs::write(&p, b"{\"SchemaVersion\": 7, \"Revision\": 3}").unwrap();
        let e = s.snapshot().unwrap_err().to_string();
        assert!(e.contains("newer"), "{e}");
    }

    #[test]
    fn leftover_temp_files_of_dead_writers_do_not_block_a_write() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::open_dir(t.path());
        // A writer killed between creating its temporary file and the rename
        // leaves the file behind, and a later writer may get the same
        // process id: plant what this process would name its next files.
        let next = TMP_COUNTER.load(Ordering::Relaxed);
        for n in next..next + 64 {
            let stray = format!(".{CONFIG_FILE}.tmp.{}.{n}", std::process::id());
            fs::write(t.path().join(stray), b"{ \"half").unwrap();
        }
        s.update::<_, StoreError>(false, |c| {
            c.transport_config.max_recipient_envelope_limit = 7;
            Ok(())
        })
        .unwrap();
        let cfg = s.snapshot().unwrap();
        assert_eq!(cfg.transport_config.max_recipient_envelope_limit, 7);
        let left: Vec<_> = fs::read_dir(t.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .filter(|n| n.to_string_lossy().contains(".tmp."))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn watch_sees_a_commit_from_another_writer() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().to_path_buf();
        let s = Store::open_dir(&dir);
        let ms = std::time::Duration::from_millis;
        assert!(s.wait_for_change(0, ms(50), ms(10)).unwrap().is_none());
        let writer = std::thread::spawn(move || {
            std::thread::sleep(ms(100));
            Store::open_dir(&dir)
                .update::<_, StoreError>(false, |c| {
                    c.transport_service.name = "EDGE01".into();
                    Ok(())
                })
                .unwrap();
        });
        let snap = s.wait_for_change(0, ms(5000), ms(10)).unwrap().unwrap();
        assert_eq!(
            (snap.revision, snap.transport_service.name.as_str()),
            (1, "EDGE01")
        );
        writer.join().unwrap();
    }

    #[test]
    fn secrets_are_private() {
        let t = tempfile::tempdir().unwrap();
        let b = FileBackend::new(t.path());
        b.put_secret("abc.key", b"secret").unwrap();
        assert_eq!(b.get_secret("abc.key").unwrap(), b"secret");
        let f = fs::metadata(t.path().join("keys/abc.key"))
            .unwrap()
            .permissions()
            .mode();
        let d = fs::metadata(t.path().join("keys"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!((f & 0o777, d & 0o777), (0o600, 0o700));
        assert!(b.put_secret("../x", b"no").is_err());
        assert!(matches!(
            b.get_secret("nope"),
            Err(StoreError::MissingKey(_))
        ));
    }
}
