use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::named;
use crate::value::Value;
use xshell_core::model::ReceiveConnector;

params!(p {
    Identity: String =
        named::identity("The connector to remove: its name or `<server>\\<name>`.").mandatory(),
    Force: bool = named::FORCE,
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Remove-ReceiveConnector",
    aliases: &[],
    synopsis: "Remove a receive connector.",
    description: "Removes a receive connector; a running transport stops listening on its bindings. Asks for \
confirmation; in scripts pass -Confirm:$false or -Force.",
    params: p::LIST,
    sets: &[],
    impact: Impact::High,
    outputs: "Nothing.",
    examples: &[Example {
        title: "Remove without a prompt",
        code: "Remove-ReceiveConnector Inbound -Force",
        setup: &["New-ReceiveConnector Inbound -Usage Internet -Bindings 0.0.0.0:25"],
        expect: &[],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    named::remove::<ReceiveConnector>(ctx, b, |_, _| Ok(()))
}
