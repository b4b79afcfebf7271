use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::named;
use crate::value::Value;
use xshell_core::model::SendConnector;

params!(p {
    Identity: String = named::identity("The connector to remove.").mandatory(),
    Force: bool = named::FORCE,
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Remove-SendConnector",
    aliases: &[],
    synopsis: "Remove a send connector.",
    description: "Removes a send connector. Asks for confirmation; in scripts pass -Confirm:$false or -Force.",
    params: p::LIST,
    sets: &[],
    impact: Impact::High,
    outputs: "Nothing.",
    examples: &[Example {
        title: "Remove without a prompt",
        code: "Remove-SendConnector Outbound -Confirm:$false",
        setup: &["New-SendConnector Outbound -AddressSpaces *"],
        expect: &[],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    named::remove::<SendConnector>(ctx, b, |_, _| Ok(()))
}
