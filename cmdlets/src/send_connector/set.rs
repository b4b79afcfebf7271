use super::apply;
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::named;
use crate::value::Value;
use xshell_core::model::SendConnector;

params!(p + super::shared {
    Identity: String = named::identity("The connector to change.").mandatory(),
    Name: String = param(Kind::Str, "A new name."),
    AddressSpaces: Vec<AddressSpace> = param(Kind::List(&Kind::AddressSpace), "Recipient domains served: [SMTP:]domain[;cost]."),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Set-SendConnector",
    aliases: &[],
    synopsis: "Change a send connector.",
    description: "Changes the given properties of a send connector; the result must satisfy every rule New-SendConnector \
checks. Lists replace (a,b) or edit (@{Add=\"x\"; Remove=\"y\"}). A connector piped in binds by its Identity.",
    params: p::LIST,
    sets: &[],
    impact: Impact::Medium,
    outputs: "Nothing.",
    examples: &[
        Example {
            title: "Enable Domain Security on the connector named Outbound (walkthrough step 6)",
            code: "Set-SendConnector Outbound -DomainSecureEnabled:$True",
            setup: &["New-SendConnector Outbound -AddressSpaces *"],
            expect: &[],
        },
        Example {
            title: "Add an address space without replacing the others",
            code: "Set-SendConnector Outbound -AddressSpaces @{Add=\"fabrikam.com;5\"}",
            setup: &["New-SendConnector Outbound -AddressSpaces contoso.com"],
            expect: &[],
        },
        Example {
            title: "Apply the recipient domains' MTA-STS policies (RFC 8461) where they publish one",
            code: "Set-SendConnector Outbound -MtaStsMode Opportunistic",
            setup: &["New-SendConnector Outbound -AddressSpaces *"],
            expect: &[],
        },
    ],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let credential = super::store_credential(ctx, b)?;
    let servers = super::source_servers(ctx, b)?;
    let r = named::update::<SendConnector>(ctx, b, |c| {
        b.assign(p::Name, &mut c.name);
        b.assign_list(p::AddressSpaces, &mut c.address_spaces);
        apply(b, c, credential.clone())?;
        if let Some(s) = &servers {
            c.source_transport_servers = s.clone();
        }
        Ok(())
    });
    super::forget_unused_credential(ctx, &credential, r.is_err());
    let out = r?;
    super::warn_where_credential_is(ctx, &credential)?;
    Ok(out)
}
