use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::named;
use crate::value::Value;
use xshell_core::model::ReceiveConnector;

params!(p {
    Identity: String = named::identity(
        "Name or wildcard pattern, optionally after the server: `EX01\\Inbound` (Identity's form)."
    ),
    Server: String = param(
        Kind::Str,
        "Only this server's connectors: this store's transport service (its Name); another server is an error."
    ),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Get-ReceiveConnector",
    aliases: &[],
    synopsis: "List receive connectors.",
    description: "Lists all receive connectors, or those whose name matches Identity (wildcards * and ? allowed).",
    params: p::LIST,
    sets: &[],
    impact: Impact::None,
    outputs: "ReceiveConnector objects.",
    examples: &[Example {
        title: "Show one connector",
        code: "Get-ReceiveConnector Inbound",
        setup: &["New-ReceiveConnector Inbound -Usage Internet -Bindings 0.0.0.0:25"],
        expect: &["Inbound", "0.0.0.0:25"],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    if let Some(server) = b.get(p::Server) {
        let this = ctx.store.snapshot()?.transport_service.name;
        crate::transport_config::get_service::this_server(&server, &this)?;
    }
    named::get::<ReceiveConnector>(ctx, b)
}
