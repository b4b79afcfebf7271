use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::named;
use crate::value::Value;
use xshell_core::model::AcceptedDomain;

params!(p {
    Identity: String = named::identity("Name or wildcard pattern."),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Get-AcceptedDomain",
    aliases: &[],
    synopsis: "List accepted domains.",
    description: "Lists the accepted domains, or those whose name matches Identity (wildcards allowed).",
    params: p::LIST,
    sets: &[],
    impact: Impact::None,
    outputs: "AcceptedDomain objects.",
    examples: &[Example {
        title: "List accepted domains",
        code: "Get-AcceptedDomain",
        setup: &["New-AcceptedDomain OrgA -DomainName orga.example"],
        expect: &["OrgA", "orga.example"],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    named::get::<AcceptedDomain>(ctx, b)
}
