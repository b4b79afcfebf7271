//! Transport server registration: each running `xshell-transport --server
//! NAME` writes a record about itself ([`Registration`]) with the store's
//! runtime records ([`Backend::put_record`]) at start and at every
//! heartbeat. Records are outside the configuration document, so a
//! heartbeat is no configuration revision (every engine reloads on one).
//!
//! Get-TransportService lists the servers from the configuration and these
//! records; the queue cmdlets' `-Server` find a server's control socket and
//! queue folder in its record.

use serde::{Deserialize, Serialize};

use crate::store::{Backend, StoreError};

/// The record name prefix of server registrations.
pub const RECORD_PREFIX: &str = "servers/";

/// How often a running engine renews its record.
pub const HEARTBEAT_SECS: u64 = 15;

/// A server whose last heartbeat is older than this many heartbeats is
/// shown as not running.
pub const STALE_AFTER_HEARTBEATS: u64 = 4;

/// What a running engine says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Registration {
    /// The server's name (`--server`).
    pub name: String,
    /// The FQDN it uses in EHLO and to pick its certificates.
    pub fqdn: String,
    /// The host it runs on.
    #[serde(default)]
    pub host_name: String,
    /// The engine's version.
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub process_id: u32,
    /// When the engine started, Unix seconds.
    pub started: u64,
    /// The last heartbeat, Unix seconds.
    pub heartbeat: u64,
    /// Seconds between heartbeats (0: [`HEARTBEAT_SECS`]).
    #[serde(default)]
    pub heartbeat_interval: u64,
    /// Its local state folder (queue, mailboxes, logs by default).
    #[serde(default)]
    pub state_folder: String,
    /// Where the queue cmdlets reach it: its control socket.
    #[serde(default)]
    pub control_endpoint: String,
    /// Its queue folder (read directly when the engine is stopped).
    #[serde(default)]
    pub queue_folder: String,
    /// The addresses it listens on for SMTP (its receive connectors').
    #[serde(default)]
    pub listening: Vec<String>,
    /// The configuration revision it runs.
    #[serde(default)]
    pub revision: u64,
    /// Set at a clean shutdown: the server is not running.
    #[serde(default)]
    pub stopped: bool,
    /// The send connectors whose smart-host password
    /// (AuthenticationCredential) this server holds in its secrets: on an
    /// etcd store a password stays where it was set (Get-SendConnector's
    /// CredentialHeldBy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<String>,
}

/// The record name of `server`'s registration (names are
/// case-insensitive: lower case).
pub fn record_name(server: &str) -> String {
    format!("{RECORD_PREFIX}{}", server.trim().to_ascii_lowercase())
}

impl Registration {
    /// Writes the record (a runtime record: no configuration revision).
    pub fn publish(&self, backend: &dyn Backend) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(self).map_err(|e| StoreError::Io {
            action: "serialize",
            path: record_name(&self.name).into(),
            source: std::io::Error::other(e),
        })?;
        backend.put_record(&record_name(&self.name), &bytes)
    }

    /// Whether the engine looked alive at `now` (Unix seconds): not
    /// stopped, and a heartbeat within [`STALE_AFTER_HEARTBEATS`].
    pub fn is_running(&self, now: u64) -> bool {
        let every = if self.heartbeat_interval == 0 {
            HEARTBEAT_SECS
        } else {
            self.heartbeat_interval
        };
        !self.stopped && now.saturating_sub(self.heartbeat) <= every * STALE_AFTER_HEARTBEATS
    }
}

/// Every registered server, by name. A record that does not parse is
/// skipped (it names no server anyone could use) and reported in the
/// second list.
pub fn registrations(
    backend: &dyn Backend,
) -> Result<(Vec<Registration>, Vec<String>), StoreError> {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (name, bytes) in backend.list_records(RECORD_PREFIX)? {
        match serde_json::from_slice::<Registration>(&bytes) {
            Ok(r) => out.push(r),
            Err(e) => bad.push(format!("record {name}: {e}")),
        }
    }
    out.sort_by_key(|r| r.name.to_ascii_lowercase());
    Ok((out, bad))
}

/// `server`'s registration, if it ever ran.
pub fn registration(
    backend: &dyn Backend,
    server: &str,
) -> Result<Option<Registration>, StoreError> {
    let (all, _) = registrations(backend)?;
    Ok(all
        .into_iter()
        .find(|r| crate::model::same_server(&r.name, server)))
}

/// Deletes `server`'s registration (a removed server): Get-TransportService
/// no longer lists it. No configuration revision.
pub fn unregister(backend: &dyn Backend, server: &str) -> Result<(), StoreError> {
    backend.delete_record(&record_name(server))
}

/// The send connectors of `cfg` whose AuthenticationCredential password
/// `backend` holds (a secret it can read), by name.
pub fn held_credentials(cfg: &crate::model::OrgConfig, backend: &dyn Backend) -> Vec<String> {
    cfg.send_connectors
        .iter()
        .filter(|c| {
            c.authentication_credential
                .as_ref()
                .is_some_and(|a| backend.get_secret(&a.secret).is_ok())
        })
        .map(|c| c.name.clone())
        .collect()
}

/// The lock file in a state folder that names the server whose engine runs
/// (or last ran) there: `server=NAME` and `pid=N` lines. The engine holds
/// an exclusive lock on it while it runs.
pub const STATE_LOCK_FILE: &str = "server.lock";

/// The server that runs, or last ran, on the state folder `dir`, from its
/// lock file.
pub fn state_folder_server(dir: &std::path::Path) -> Option<String> {
    std::fs::read_to_string(dir.join(STATE_LOCK_FILE))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("server="))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Now, Unix seconds.
/// This host's name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default()
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        CertificateRecord, OrgConfig, ReceiveConnector, ReceiveUsage, SendConnector,
    };

    fn cert(tp: &str, server: Option<&str>) -> CertificateRecord {
        CertificateRecord {
            server: server.map(str::to_string),
            thumbprint: tp.into(),
            certificate: None,
            chain: Vec::new(),
            request: None,
            key_id: None,
            services: Vec::new(),
            friendly_name: None,
            private_key_exportable: false,
            default_smtp: false,
        }
    }

    #[test]
    fn a_server_sees_its_objects_and_the_organizations() {
        let mut cfg = OrgConfig::default();
        cfg.transport_service.name = "EX01".into();
        cfg.transport_service.fqdn = Some("ex01.contoso.com".into());
        let mut legacy = ReceiveConnector::with_usage("Inbound", ReceiveUsage::Internet);
        let mut ex02 = legacy.clone();
        ex02.server = Some("EX02".into());
        legacy.server = None;
        cfg.receive_connectors = vec![legacy, ex02];
        cfg.certificates = vec![cert("A", None), cert("B", Some("ex02"))];
        let mut only1 = SendConnector::new("Only1");
        only1.source_transport_servers = vec!["ex01".into()];
        cfg.send_connectors = vec![SendConnector::new("All"), only1];

        let v1 = cfg.for_server("ex01");
        assert_eq!(v1.receive_connectors.len(), 1);
        assert_eq!(v1.receive_connectors[0].server, None);
        assert_eq!(v1.certificates[0].thumbprint, "A");
        assert_eq!(v1.send_connectors.len(), 2);
        assert_eq!(v1.transport_service.effective_fqdn(), "ex01.contoso.com");

        let v2 = cfg.for_server("EX02");
        assert_eq!(v2.receive_connectors.len(), 1);
        assert_eq!(v2.certificates[0].thumbprint, "B");
        assert_eq!(v2.send_connectors.len(), 1, "Only1 is EX01's");
        // settings: the default's under its own name, without its Fqdn
        assert_eq!(v2.transport_service.name, "EX02");
        assert_eq!(v2.transport_service.fqdn, None);
        assert!(!cfg.has_own_service("EX02"));
        assert_eq!(cfg.server_names(), vec!["EX01", "EX02"]);
        assert_eq!(cfg.canonical_server("ex02"), "EX02");
    }

    #[test]
    fn registrations_round_trip_and_go_stale() {
        let t = tempfile::tempdir().unwrap();
        let b = crate::store::FileBackend::new(t.path());
        let r = Registration {
            name: "EX02".into(),
            fqdn: "ex02.contoso.com".into(),
            host_name: "h".into(),
            version: "1".into(),
            process_id: 1,
            started: 100,
            heartbeat: 1000,
            heartbeat_interval: 5,
            state_folder: "/s".into(),
            control_endpoint: "/s/control.sock".into(),
            queue_folder: "/s/queue".into(),
            listening: vec![],
            revision: 3,
            stopped: false,
            credentials: vec![],
        };
        r.publish(&b).unwrap();
        assert_eq!(registration(&b, "ex02").unwrap(), Some(r.clone()));
        assert!(r.is_running(1020));
        assert!(!r.is_running(1021));
        assert!(!Registration { stopped: true, ..r }.is_running(1000));
        // a damaged record is reported, not fatal
        b.put_record("servers/bad", b"{").unwrap();
        let (ok, bad) = registrations(&b).unwrap();
        assert_eq!((ok.len(), bad.len()), (1, 1));
        assert_eq!(b.revision().unwrap(), 0);
        // a removed server's record goes; deleting it twice is no error
        unregister(&b, "Ex02").unwrap();
        unregister(&b, "EX02").unwrap();
        assert_eq!(registration(&b, "ex02").unwrap(), None);
    }
}
