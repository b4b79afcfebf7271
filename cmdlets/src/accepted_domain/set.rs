use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::named;
use crate::value::Value;
use xshell_core::model::{AcceptedDomain, AcceptedDomainType};

params!(p {
    Identity: String = named::identity("The accepted domain to change.").mandatory(),
    Name: String = param(Kind::Str, "A new name."),
    DomainType: AcceptedDomainType = param(
        Kind::Enum(AcceptedDomainType::NAMES),
        "How mail for it is handled."
    ),
    MakeDefault: bool = param(Kind::Bool, "Make this the default accepted domain."),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Set-AcceptedDomain",
    aliases: &[],
    synopsis: "Change an accepted domain.",
    description: "Changes an accepted domain's name, type, or makes it the default domain.",
    params: p::LIST,
    sets: &[],
    impact: Impact::Medium,
    outputs: "Nothing.",
    examples: &[Example {
        title: "Relay a domain instead of delivering it locally",
        code: "Set-AcceptedDomain OrgA -DomainType InternalRelay",
        setup: &["New-AcceptedDomain OrgA -DomainName orga.example"],
        expect: &[],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let id = b.get(p::Identity).unwrap_or_default();
    let make_default = b.switch(p::MakeDefault);
    let action = "Set AcceptedDomain";
    if make_default {
        // The default flag spans objects: one transaction sets it here and clears it elsewhere.
        ctx.commit(action, &id, |cfg| {
            let i = named::find_index::<AcceptedDomain>(cfg, &id)?;
            for (j, d) in cfg.accepted_domains.iter_mut().enumerate() {
                d.default = i == j;
            }
            let d = &mut cfg.accepted_domains[i];
            b.assign(p::Name, &mut d.name);
            b.assign(p::DomainType, &mut d.domain_type);
            d.validate()?;
            Ok(())
        })?;
        return Ok(Vec::new());
    }
    named::update::<AcceptedDomain>(ctx, b, |d| {
        b.assign(p::Name, &mut d.name);
        b.assign(p::DomainType, &mut d.domain_type);
        Ok(())
    })
}
