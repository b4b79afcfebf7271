use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::named;
use crate::value::Value;
use xshell_core::model::{AcceptedDomain, AcceptedDomainType};

params!(p {
    Name: String = param(Kind::Str, "A unique name.").position(0).mandatory(),
    DomainName: DomainPattern = param(
        Kind::DomainPattern,
        "The domain, or *.domain for a relay domain and its subdomains."
    )
    .mandatory(),
    DomainType: AcceptedDomainType = param(
        Kind::Enum(AcceptedDomainType::NAMES),
        "How mail for it is handled."
    )
    .default("Authoritative"),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "New-AcceptedDomain",
    aliases: &[],
    synopsis: "Accept mail for a domain: deliver it locally (Authoritative) or relay it.",
    description: "Adds an accepted domain. Mail for an Authoritative domain is delivered to local Maildir mailboxes; \
InternalRelay and ExternalRelay domains are relayed through send connectors. Anonymous senders may only send to \
accepted domains (no open relay). The first accepted domain becomes the default.",
    params: p::LIST,
    sets: &[],
    impact: Impact::Medium,
    outputs: "The new AcceptedDomain.",
    examples: &[Example {
        title: "Accept mail for orga.example and deliver it locally",
        code: "New-AcceptedDomain OrgA -DomainName orga.example",
        setup: &[],
        expect: &["OrgA", "orga.example", "Authoritative", "True"],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let name = b.get(p::Name).unwrap_or_default();
    let first = ctx.store.snapshot()?.accepted_domains.is_empty();
    named::create(ctx, &name, || {
        let domain_name = b
            .get(p::DomainName)
            .ok_or_else(|| CmdletError::Usage("missing -DomainName".into()))?;
        Ok(AcceptedDomain {
            name: name.clone(),
            domain_name,
            domain_type: b
                .get(p::DomainType)
                .unwrap_or(AcceptedDomainType::Authoritative),
            default: first,
        })
    })
}
