use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::named;
use crate::value::Value;
use xshell_core::model::SendConnector;

params!(p {
    Identity: String = named::identity("Name or wildcard pattern."),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Get-SendConnector",
    aliases: &[],
    synopsis: "List send connectors.",
    description: "Lists all send connectors, or those whose name matches Identity (wildcards * and ? allowed).",
    params: p::LIST,
    sets: &[],
    impact: Impact::None,
    outputs: "SendConnector objects.",
    examples: &[Example {
        title: "Show one connector",
        code: "Get-SendConnector Outbound",
        setup: &["New-SendConnector Outbound -AddressSpaces *"],
        expect: &["Outbound", "SMTP:*;1"],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    named::get::<SendConnector>(ctx, b)
}
