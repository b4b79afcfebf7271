use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::{Object, Value, View};

params!(p {});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Get-TransportService",
    aliases: &[],
    synopsis: "Show this transport server's settings.",
    description: "Shows the server name and FQDN, DNS servers for MX lookups, retry and expiry intervals, and paths.",
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

fn run(ctx: &mut Ctx<'_>, _: &Bound) -> Result<Vec<Value>, CmdletError> {
    let cfg = ctx.store.snapshot()?;
    let s = &cfg.transport_service;
    Ok(vec![Value::Object(Object::from_serde(
        "TransportService",
        View::List,
        Some(&s.name),
        s,
    ))])
}
