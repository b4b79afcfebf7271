use super::{apply, receive_params};
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::named;
use crate::value::Value;
use xshell_core::model::ReceiveConnector;

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Set-ReceiveConnector",
    aliases: &[],
    synopsis: "Change a receive connector.",
    description: "Changes the given properties of a receive connector; the result must satisfy every rule \
New-ReceiveConnector checks. A running xshell-transport picks the change up without a restart.",
    params: receive_params![
        named::identity("The connector to change.").mandatory(),
        ParamDecl::new("Name", Kind::Str, "A new name."),
        ParamDecl::new(
            "Bindings",
            Kind::List(&Kind::Binding),
            "Where to listen: IP:port."
        ),
    ],
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
        b.assign("Name", &mut c.name);
        apply(b, c)
    })
}
