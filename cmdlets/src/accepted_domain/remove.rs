use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::named;
use crate::value::Value;
use xshell_core::model::AcceptedDomain;

params!(p {
    Identity: String = named::identity("The accepted domain to remove.").mandatory(),
    Force: bool = named::FORCE,
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Remove-AcceptedDomain",
    aliases: &[],
    synopsis: "Stop accepting mail for a domain.",
    description: "Removes an accepted domain. The default domain cannot be removed while others exist (make another \
the default first). Asks for confirmation; in scripts pass -Confirm:$false or -Force.",
    params: p::LIST,
    sets: &[],
    impact: Impact::High,
    outputs: "Nothing.",
    examples: &[Example {
        title: "Remove without a prompt",
        code: "Remove-AcceptedDomain OrgA -Confirm:$false",
        setup: &["New-AcceptedDomain OrgA -DomainName orga.example"],
        expect: &[],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    named::remove::<AcceptedDomain>(ctx, b, |cfg, d| {
        if d.default && cfg.accepted_domains.len() > 1 {
            return Err(CmdletError::Conflict(format!(
                "'{}' is the default accepted domain; make another one the default first (Set-AcceptedDomain <name> -MakeDefault)",
                d.name
            )));
        }
        Ok(())
    })
}
