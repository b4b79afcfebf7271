//! `-Server` and server lists. An organization has one or more transport
//! servers: the default server (Get-TransportService's Name, owner of every
//! receive connector and certificate that names none), the servers with
//! objects or settings of their own in the configuration, and the servers
//! that registered by running (`xshell-transport --server NAME`, records
//! outside the configuration, see [`xshell_core::servers`]).

use crate::context::Ctx;
use crate::error::CmdletError;
use xshell_core::model::{OrgConfig, TransportService, check_server_name, same_server};
use xshell_core::servers::{self, Registration};
use xshell_core::store::Store;

/// Whether `name` names `service`: its Name or its Fqdn, case-insensitively.
pub fn is_this_server(service: &TransportService, name: &str) -> bool {
    let name = name.trim();
    name.eq_ignore_ascii_case(&service.name)
        || service
            .fqdn
            .as_deref()
            .is_some_and(|f| name.eq_ignore_ascii_case(f))
}

/// One server of the organization, as the cmdlets see it.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// Its settings (its own, or the default server's under its name).
    pub service: TransportService,
    /// Its registration record, if it ever ran.
    pub registration: Option<Registration>,
}

/// Every server the organization knows, the default server first.
pub fn servers(store: &Store, cfg: &OrgConfig) -> Result<Vec<ServerInfo>, CmdletError> {
    let (records, _) = servers::registrations(store.backend())?;
    let mut names = cfg.server_names();
    for r in &records {
        if !names.iter().any(|n| same_server(n, &r.name)) {
            names.push(r.name.clone());
        }
    }
    Ok(names
        .into_iter()
        .map(|n| ServerInfo {
            service: cfg.service_for(&n),
            registration: records.iter().find(|r| same_server(&r.name, &n)).cloned(),
        })
        .collect())
}

/// The server `name` (its Name, or its Fqdn as configured or registered)
/// among the organization's, or an error for `param` that lists them.
pub fn find(
    store: &Store,
    cfg: &OrgConfig,
    param: &'static str,
    name: &str,
) -> Result<ServerInfo, CmdletError> {
    let all = servers(store, cfg)?;
    let hit = all.iter().find(|s| {
        is_this_server(&s.service, name)
            || s.registration
                .as_ref()
                .is_some_and(|r| r.fqdn.eq_ignore_ascii_case(name.trim()))
    });
    match hit {
        Some(s) => Ok(s.clone()),
        None => Err(CmdletError::bad_value(
            param,
            format!(
                "'{}' is not a server of this organization (servers: {})",
                name.trim(),
                all.iter()
                    .map(|s| s.service.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// The server an object is created for with `-Server` (`param`): a
/// known server's Name as the organization spells it, else a new server's
/// name (a valid one) with a warning that no such server has run yet.
pub fn for_new_object(
    ctx: &mut Ctx<'_>,
    param: &'static str,
    name: &str,
) -> Result<String, CmdletError> {
    let cfg = ctx.store.snapshot()?;
    if let Ok(s) = find(ctx.store, &cfg, param, name) {
        return Ok(s.service.name);
    }
    let name = name.trim();
    check_server_name(name).map_err(|e| CmdletError::bad_value(param, e.message))?;
    ctx.warn(&format!(
        "-{param}: '{name}' is not yet a server of this organization (no xshell-transport --server {name} has run): \
         the setting takes effect when it does"
    ));
    Ok(name.to_string())
}
