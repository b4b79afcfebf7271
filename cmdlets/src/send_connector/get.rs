use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::named;
use crate::value::Value;
use xshell_core::model::SendConnector;

params!(p {
    Identity: String = named::identity("Name or wildcard pattern."),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Get-SendConnector",
    aliases: &[],
    synopsis: "List send connectors.",
    description: "Lists all send connectors, or those whose name matches Identity (wildcards * and ? allowed). A \
connector with an AuthenticationCredential also shows CredentialHeldBy: the servers that hold its password, as their registration records say \
(it stays in the state folder where it was set; each server says so in its registration record).",
    params: p::LIST,
    sets: &[],
    impact: Impact::None,
    outputs: "SendConnector objects.",
    examples: &[Example {
        title: "Show one connector",
        code: "Get-SendConnector Outbound",
        setup: &["New-SendConnector Outbound -AddressSpaces *"],
        expect: &["Outbound", "SMTP:*;1"],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let mut out = named::get::<SendConnector>(ctx, b)?;
    // Where each smart-host password is: the servers whose registration
    // says they hold it (a password stays in the state folder where it
    // was set).
    let cfg = ctx.store.snapshot()?;
    if !cfg
        .send_connectors
        .iter()
        .any(|c| c.authentication_credential.is_some())
    {
        return Ok(out);
    }
    let (records, _) = xshell_core::servers::registrations(ctx.store.backend())?;
    for v in &mut out {
        let Value::Object(o) = v else { continue };
        let Some(Value::Str(name)) = o.get("Name").cloned() else {
            continue;
        };
        let Some(c) = cfg.send_connectors.iter().find(|c| c.name == name) else {
            continue;
        };
        if c.authentication_credential.is_none() {
            continue;
        }
        let held: Vec<Value> = records
            .iter()
            .filter(|r| r.credentials.contains(&c.name))
            .map(|r| Value::str(&r.name))
            .collect();
        o.set("CredentialHeldBy", Value::List(held));
    }
    Ok(out)
}
