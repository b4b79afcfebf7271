use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::{Object, Value, View};

params!(p {});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Get-TransportConfig",
    aliases: &[],
    synopsis: "Show the organization-wide transport settings.",
    description: "Shows the domain-secure lists, size limits, recipient limit and postmaster address.",
    params: p::LIST,
    sets: &[],
    impact: Impact::None,
    outputs: "A TransportConfig object.",
    examples: &[Example {
        title: "Show the partner domains that must be domain-secured",
        code: "Get-TransportConfig",
        setup: &["Set-TransportConfig -TLSReceiveDomainSecureList domaene.tld"],
        expect: &["TLSReceiveDomainSecureList", "domaene.tld"],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, _: &Bound) -> Result<Vec<Value>, CmdletError> {
    let cfg = ctx.store.snapshot()?;
    Ok(vec![Value::Object(Object::from_serde(
        "TransportConfig",
        View::List,
        None,
        &cfg.transport_config,
    ))])
}
