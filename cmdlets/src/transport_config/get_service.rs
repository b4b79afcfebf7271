use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::{Object, Value, View};

params!(p {
    Identity: String = param(
        Kind::Str,
        "The server: this store's (Name), or a wildcard; another server's name is an error."
    )
    .position(0),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Get-TransportService",
    aliases: &[],
    synopsis: "Show this transport server's settings.",
    description: "Shows the server name and FQDN, DNS servers for MX lookups, retry and expiry intervals, paths, and where the engine serves Prometheus metrics (MetricsBindings).",
    params: p::LIST,
    sets: &[],
    impact: Impact::None,
    outputs: "A TransportService object.",
    examples: &[Example {
        title: "Show retry settings",
        code: "Get-TransportService",
        setup: &[],
        expect: &["MessageExpirationTimeout", "2.00:00:00"],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let cfg = ctx.store.snapshot()?;
    let s = &cfg.transport_service;
    if let Some(id) = b.get(p::Identity) {
        this_server(&id, &s.name)?;
    }
    Ok(vec![Value::Object(Object::from_serde(
        "TransportService",
        View::List,
        Some(&s.name),
        s,
    ))])
}

/// Checks that a transport service's -Identity names this server (or is a
/// wildcard that matches it).
pub fn this_server(identity: &str, this: &str) -> Result<(), CmdletError> {
    if crate::named::wildcard_match(identity.trim(), this) {
        Ok(())
    } else if identity.contains(['*', '?']) {
        Err(CmdletError::NotFound {
            kind: "transport service",
            identity: identity.to_string(),
        })
    } else {
        Err(CmdletError::OtherServer {
            kind: "transport service",
            identity: identity.to_string(),
            this_server: this.to_string(),
        })
    }
}
