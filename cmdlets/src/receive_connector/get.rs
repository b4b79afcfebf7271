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
        "Only this server's connectors (its Name or Fqdn); a server the organization does not know is an error."
    ),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Get-ReceiveConnector",
    aliases: &[],
    synopsis: "List receive connectors.",
    description: "Lists the receive connectors of every transport server, or those whose name matches Identity (wildcards * and ? allowed). \
A receive connector belongs to one server: its Identity is `<server>\\<name>`, and Identity may be given either way; a bare name \
on several servers is ambiguous (an error that lists them). -Server keeps one server's connectors.",
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
    let Some(server) = b.get(p::Server) else {
        return named::get::<ReceiveConnector>(ctx, b);
    };
    let cfg = ctx.store.snapshot()?;
    let name = crate::server::find(ctx.store, &cfg, "Server", &server)?
        .service
        .name;
    let all = named::get::<ReceiveConnector>(ctx, b)?;
    Ok(all
        .into_iter()
        .filter(|v| match v {
            Value::Object(o) => o
                .get("Identity")
                .map(ToString::to_string)
                .and_then(|id| id.split_once('\\').map(|(s, _)| s.to_string()))
                .is_some_and(|s| xshell_core::model::same_server(&s, &name)),
            _ => true,
        })
        .collect())
}
