//! `-Server` and server lists: an xshell store serves one transport server
//! (Get-TransportService), so a server parameter may only name that one.

use crate::context::Ctx;
use crate::error::CmdletError;
use xshell_core::model::TransportService;

/// Whether `name` is this server: its Name or its Fqdn, case-insensitively.
pub fn is_this_server(service: &TransportService, name: &str) -> bool {
    let name = name.trim();
    name.eq_ignore_ascii_case(&service.name)
        || service
            .fqdn
            .as_deref()
            .is_some_and(|f| name.eq_ignore_ascii_case(f))
}

/// Checks that every name in `names` (given to `param`) is this server.
pub fn check_this_server(
    ctx: &Ctx<'_>,
    param: &'static str,
    names: &[String],
) -> Result<(), CmdletError> {
    let snap = ctx.store.snapshot()?;
    let service = &snap.transport_service;
    match names.iter().find(|n| !is_this_server(service, n)) {
        None => Ok(()),
        Some(other) => Err(CmdletError::bad_value(
            param,
            format!(
                "'{other}' is not this server ({}): an xshell store serves one transport server \
                 (Get-TransportService), so -{param} can only name it",
                service.name
            ),
        )),
    }
}
