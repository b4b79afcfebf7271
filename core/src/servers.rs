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

/// Now, Unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
