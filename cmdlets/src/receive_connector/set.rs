use super::apply;
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::named;
use crate::value::Value;
use xshell_core::model::ReceiveConnector;

params!(p + super::shared {
    Identity: String = named::identity("The connector to change: its name or `<server>\\<name>`.").mandatory(),
    Name: String = param(Kind::Str, "A new name."),
    Bindings: Vec<Binding> = param(Kind::List(&Kind::Binding), "Where to listen: IP:port."),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Set-ReceiveConnector",
    aliases: &[],
    synopsis: "Change a receive connector.",
    description: "Changes the given properties of a receive connector; the result must satisfy every rule \
New-ReceiveConnector checks. A running xshell-transport picks the change up without a restart.",
    params: p::LIST,
    sets: &[],
    impact: Impact::Medium,
    outputs: "Nothing.",
    examples: &[Example {
        title: "Enable Domain Security on the connector named Inbound (walkthrough step 7)",
        code: "Set-ReceiveConnector Inbound -DomainSecureEnabled:$True -AuthMechanism TLS",
        setup: &["New-ReceiveConnector Inbound -Usage Internet -Bindings 0.0.0.0:25"],
        expect: &[],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    named::update::<ReceiveConnector>(ctx, b, |c| {
        b.assign(p::Name, &mut c.name);
        b.assign_list(p::Bindings, &mut c.bindings);
        apply(b, c)
    })
}
