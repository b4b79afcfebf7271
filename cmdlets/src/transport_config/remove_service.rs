//! Remove-TransportService: a server leaves the organization.
//!
//! Exchange has no such cmdlet: a server leaves when Exchange is
//! uninstalled from it, which removes its server object (and refuses while
//! it still has objects of its own). xshell's servers have no setup
//! program, so this is the uninstall's last step: it removes the server's
//! settings and its registration record.

use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::Value;
use xshell_core::model::{OrgConfig, same_server};

params!(p {
    Identity: String = param(Kind::Str, "The server to remove (Name or Fqdn).")
        .position(0)
        .mandatory(),
    Force: bool = param(
        Kind::Switch,
        "Also remove the server's receive connectors and certificates (and their private keys kept on this machine) and take it out of the send connectors' SourceTransportServers; and do not ask for confirmation."
    ),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Remove-TransportService",
    aliases: &[],
    synopsis: "Remove a transport server that no longer runs from the organization.",
    description: "Removes a server's own TransportService settings and its registration record (Get-TransportService \
no longer lists it). Exchange removes a server when it is uninstalled; this is that step for an xshell server whose \
engine was stopped for good. Refuses a server whose engine is running (a heartbeat within four intervals: stop it \
first), the default server (it owns the objects that name no server; rename it instead), and a server that still \
owns receive connectors or certificates or is named in a send connector's SourceTransportServers, listing them; \
with -Force those go too (a send connector used by this server only is never changed, as an empty list would mean \
every server: remove it or change its SourceTransportServers first). Drain the server's queue before (Get-Queue \
-Server NAME): its state folder is not touched. Asks for confirmation; in scripts pass -Confirm:$false or -Force.",
    params: p::LIST,
    sets: &[],
    impact: Impact::High,
    outputs: "Nothing.",
    examples: &[Example {
        title: "Remove a server and the objects it owned",
        code: "Remove-TransportService EX03 -Force",
        setup: &[
            "Set-TransportService EX03 -Fqdn ex03.contoso.com",
            "New-ReceiveConnector Inbound -Server EX03 -Usage Internet -Bindings 0.0.0.0:25",
        ],
        expect: &[],
    }],
    run,
};

/// What belongs to `server` in `cfg`, as the refusal lists it.
fn owned(cfg: &OrgConfig, server: &str) -> Vec<String> {
    let mut out = Vec::new();
    for c in &cfg.receive_connectors {
        if c.server.as_deref().is_some_and(|s| same_server(s, server)) {
            out.push(format!("receive connector {server}\\{}", c.name));
        }
    }
    for c in &cfg.certificates {
        if c.server.as_deref().is_some_and(|s| same_server(s, server)) {
            out.push(format!("certificate {server}\\{}", c.thumbprint));
        }
    }
    for c in &cfg.send_connectors {
        if c.source_transport_servers
            .iter()
            .any(|s| same_server(s, server))
        {
            out.push(format!(
                "send connector {} (SourceTransportServers)",
                c.name
            ));
        }
    }
    out
}

/// Refusals that -Force does not lift.
fn check(cfg: &OrgConfig, server: &str) -> Result<(), CmdletError> {
    if same_server(server, cfg.default_server()) {
        return Err(CmdletError::Conflict(format!(
            "{server} is the default server: it owns the receive connectors and certificates that name no server, \
             and engines started without --server are it; it cannot be removed (rename it with \
             Set-TransportService -Name, or make another server's objects its own)"
        )));
    }
    let only: Vec<&str> = cfg
        .send_connectors
        .iter()
        .filter(|c| {
            !c.source_transport_servers.is_empty()
                && c.source_transport_servers
                    .iter()
                    .all(|s| same_server(s, server))
        })
        .map(|c| c.name.as_str())
        .collect();
    if !only.is_empty() {
        return Err(CmdletError::Conflict(format!(
            "send connector {} is used by {server} only (SourceTransportServers); without it the list would be \
             empty, which means every server: remove the connector or change its SourceTransportServers first",
            only.join(", ")
        )));
    }
    Ok(())
}

/// Removes `server` from `cfg`: its settings and, with `force`, what it
/// owns. Returns the private key ids no certificate uses any more.
fn remove(cfg: &mut OrgConfig, server: &str, force: bool) -> Result<Vec<String>, CmdletError> {
    check(cfg, server)?;
    let left = owned(cfg, server);
    if !left.is_empty() && !force {
        return Err(CmdletError::Conflict(format!(
            "{server} still owns: {}; remove them first, or use -Force to remove them with the server",
            left.join(", ")
        )));
    }
    let mine = |s: Option<&str>| s.is_some_and(|s| same_server(s, server));
    cfg.transport_services
        .retain(|s| !same_server(&s.name, server));
    cfg.receive_connectors
        .retain(|c| !mine(c.server.as_deref()));
    let keys: Vec<String> = cfg
        .certificates
        .iter()
        .filter(|c| mine(c.server.as_deref()))
        .filter_map(|c| c.key_id.clone())
        .collect();
    cfg.certificates.retain(|c| !mine(c.server.as_deref()));
    for c in &mut cfg.send_connectors {
        c.source_transport_servers
            .retain(|s| !same_server(s, server));
    }
    Ok(keys
        .into_iter()
        .filter(|k| {
            !cfg.certificates
                .iter()
                .any(|c| c.key_id.as_deref() == Some(k.as_str()))
        })
        .collect())
}

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let id = b
        .get(p::Identity)
        .ok_or_else(|| CmdletError::Usage("missing -Identity".into()))?;
    let force = b.switch(p::Force);
    // Refuse before asking anything.
    let snap = ctx.store.snapshot()?;
    let info = crate::server::find(ctx.store, &snap, "Identity", &id)?;
    let server = info.service.name.clone();
    if let Some(r) = &info.registration {
        let now = xshell_core::servers::unix_now();
        if r.is_running(now) {
            return Err(CmdletError::Conflict(format!(
                "{server} is running (host {}, process {}, last heartbeat {} s ago): stop its xshell-transport \
                 first, and let its queue drain",
                r.host_name,
                r.process_id,
                now.saturating_sub(r.heartbeat)
            )));
        }
    }
    let mut dry = snap.clone();
    remove(&mut dry, &server, force)?;
    let config_changes = dry != snap;
    if config_changes {
        let keys = ctx.commit("Remove transport service", &server, |cfg| {
            remove(cfg, &server, force)
        })?;
        let Some(keys) = keys else {
            return Ok(Vec::new()); // declined, or -WhatIf
        };
        for k in keys {
            ctx.store.backend().delete_secret(&k)?;
        }
    } else if ctx.what_if {
        ctx.host.info(&format!(
            "What if: Performing the operation \"Remove transport service\" on target \"{server}\"."
        ));
        return Ok(Vec::new());
    } else if !ctx.should_process("Remove transport service", &server)? {
        return Ok(Vec::new());
    }
    if info.registration.is_some() {
        xshell_core::servers::unregister(ctx.store.backend(), &server)?;
    }
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use xshell_core::model::{ReceiveConnector, ReceiveUsage, SendConnector, TransportService};

    #[test]
    fn a_server_goes_with_what_it_owns_only_when_forced() {
        let mut cfg = OrgConfig::default();
        cfg.transport_service.name = "EX01".into();
        cfg.transport_services.push(TransportService {
            name: "EX03".into(),
            ..Default::default()
        });
        let mut rc = ReceiveConnector::with_usage("Inbound", ReceiveUsage::Internet);
        rc.server = Some("ex03".into());
        cfg.receive_connectors.push(rc);
        let mut both = SendConnector::new("Both");
        both.source_transport_servers = vec!["EX01".into(), "EX03".into()];
        cfg.send_connectors.push(both);

        let e = remove(&mut cfg.clone(), "EX03", false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("receive connector EX03\\Inbound")
                && e.contains("send connector Both")
                && e.contains("-Force"),
            "{e}"
        );
        let mut forced = cfg.clone();
        remove(&mut forced, "EX03", true).unwrap();
        assert!(forced.transport_services.is_empty());
        assert!(forced.receive_connectors.is_empty());
        assert_eq!(forced.send_connectors[0].source_transport_servers, ["EX01"]);

        // A connector used by EX03 alone is never emptied (empty: every
        // server), and the default server is never removed.
        cfg.send_connectors[0].source_transport_servers = vec!["EX03".into()];
        let e = remove(&mut cfg.clone(), "EX03", true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("send connector Both is used by EX03 only"),
            "{e}"
        );
        let e = remove(&mut cfg, "ex01", true).unwrap_err().to_string();
        assert!(e.contains("default server"), "{e}");
    }
}
