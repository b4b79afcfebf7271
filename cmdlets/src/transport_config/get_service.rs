use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::{Object, Value, View};

params!(p {
    Identity: String = param(
        Kind::Str,
        "The server (Name or Fqdn), or a wildcard; a server the organization does not know is an error."
    )
    .position(0),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Get-TransportService",
    aliases: &[],
    synopsis: "Show the organization's transport servers and their settings.",
    description: "Lists every transport server of the organization, or the one Identity names: the default server \
(the one that owns receive connectors and certificates that name no server), the servers with settings or objects of \
their own, and those that registered by running (`xshell-transport --server NAME`). Each shows its settings (its own \
after `Set-TransportService NAME ...`, else the default server's; OwnSettings says which), the server name and FQDN, DNS \
servers for MX lookups, retry and expiry intervals, paths, where the engine serves Prometheus metrics (MetricsBindings), \
and from its registration record: Running (a heartbeat within the last minute), LastHeartbeat, HostName, \
ControlEndpoint (the control socket the queue cmdlets' -Server use), StateFolder, QueueFolder, Listening (its SMTP \
addresses) and Revision (the configuration revision it runs). ReceiveConnectors lists the server's receive \
connectors (`EX02\\Inbound`): a server with none listens for SMTP on nothing.",
    params: p::LIST,
    sets: &[],
    impact: Impact::None,
    outputs: "A TransportService object.",
    examples: &[
        Example {
            title: "Show retry settings",
            code: "Get-TransportService",
            setup: &[],
            expect: &["MessageExpirationTimeout", "2.00:00:00"],
        },
        Example {
            title: "One server's settings and registration",
            code: "Get-TransportService EX02",
            setup: &["Set-TransportService EX02 -Fqdn ex02.contoso.com"],
            expect: &["ex02.contoso.com", "OwnSettings"],
        },
    ],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let cfg = ctx.store.snapshot()?;
    let all = crate::server::servers(ctx.store, &cfg)?;
    let chosen: Vec<crate::server::ServerInfo> = match b.get(p::Identity) {
        None => all,
        Some(id) if id.contains(['*', '?']) => {
            let hits: Vec<_> = all
                .into_iter()
                .filter(|s| crate::named::wildcard_match(id.trim(), &s.service.name))
                .collect();
            if hits.is_empty() {
                return Err(CmdletError::NotFound {
                    kind: "transport service",
                    identity: id,
                });
            }
            hits
        }
        Some(id) => vec![crate::server::find(ctx.store, &cfg, "Identity", &id)?],
    };
    let now = xshell_core::servers::unix_now();
    Ok(chosen
        .iter()
        .map(|s| Value::Object(service_object(&cfg, s, now)))
        .collect())
}

/// A server as Get-TransportService shows it: its settings, then its
/// registration.
fn service_object(
    cfg: &xshell_core::model::OrgConfig,
    s: &crate::server::ServerInfo,
    now: u64,
) -> Object {
    let svc = &s.service;
    let mut o = Object::from_serde("TransportService", View::List, Some(&svc.name), svc);
    let r = s.registration.as_ref();
    if svc.fqdn.is_none()
        && let Some(r) = r
    {
        o.set("Fqdn", Value::str(&r.fqdn));
    }
    o.set(
        "DefaultServer",
        Value::Bool(xshell_core::model::same_server(
            &svc.name,
            cfg.default_server(),
        )),
    );
    o.set("OwnSettings", Value::Bool(cfg.has_own_service(&svc.name)));
    o.set(
        "ReceiveConnectors",
        Value::List(
            cfg.for_server(&svc.name)
                .receive_connectors
                .iter()
                .map(|c| Value::str(format!("{}\\{}", svc.name, c.name)))
                .collect(),
        ),
    );
    o.set("Running", Value::Bool(r.is_some_and(|r| r.is_running(now))));
    let heartbeat = r
        .and_then(|r| i64::try_from(r.heartbeat).ok())
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok());
    o.set("LastHeartbeat", heartbeat.map_or(Value::Null, Value::Date));
    let text = |f: fn(&xshell_core::servers::Registration) -> &str| {
        r.map(f)
            .filter(|t| !t.is_empty())
            .map_or(Value::Null, Value::str)
    };
    o.set("HostName", text(|r| &r.host_name));
    o.set("ControlEndpoint", text(|r| &r.control_endpoint));
    o.set("StateFolder", text(|r| &r.state_folder));
    o.set("QueueFolder", text(|r| &r.queue_folder));
    o.set(
        "Listening",
        Value::List(
            r.map(|r| r.listening.iter().map(Value::str).collect())
                .unwrap_or_default(),
        ),
    );
    o.set(
        "Revision",
        r.map_or(Value::Null, |r| Value::Int(r.revision as i64)),
    );
    o
}
