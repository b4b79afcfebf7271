use super::apply;
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::named;
use crate::value::Value;
use xshell_core::model::{SendConnector, SendUsage};

params!(p + super::shared {
    Name: String = param(Kind::Str, "The connector's name (unique).").position(0).mandatory(),
    AddressSpaces: Vec<AddressSpace> = param(Kind::List(&Kind::AddressSpace), "Recipient domains served: [SMTP:]domain[;cost], e.g. *, *.contoso.com, fabrikam.com;10.").mandatory(),
    Usage: SendUsage = param(Kind::Enum(SendUsage::NAMES), "The connector's purpose (documentation for now).").default("Custom"),
    Internet: bool = param(Kind::Switch, "Same as -Usage Internet."),
    Partner: bool = param(Kind::Switch, "Same as -Usage Partner."),
    Internal: bool = param(Kind::Switch, "Same as -Usage Internal."),
    Custom: bool = param(Kind::Switch, "Same as -Usage Custom."),
});

/// The usage: -Usage, or one of the usage switches (Exchange's parameter
/// sets), never two different ones.
fn usage(b: &Bound) -> Result<SendUsage, CmdletError> {
    crate::bind::one_choice(
        b,
        p::Usage,
        &[
            (p::Internet, SendUsage::Internet),
            (p::Partner, SendUsage::Partner),
            (p::Internal, SendUsage::Internal),
            (p::Custom, SendUsage::Custom),
        ],
        SendUsage::Custom,
    )
}

pub static DECL: CmdletDecl = CmdletDecl {
    name: "New-SendConnector",
    aliases: &[],
    synopsis: "Create a send connector: where mail for some domains goes, and with which TLS policy.",
    description: "Creates a send connector. AddressSpaces say which recipient domains it serves; routing picks the \
enabled connector with the most specific matching address space, then the lowest cost. Delivery uses DNS (MX) \
unless SmartHosts are given with -DNSRoutingEnabled:$false. DomainSecureEnabled enforces mutual TLS for the \
domains in TLSSendDomainSecureList (Set-TransportConfig).",
    params: p::LIST,
    sets: &[],
    impact: Impact::Medium,
    outputs: "The new SendConnector.",
    examples: &[
        Example {
            title: "A connector for all Internet mail, sent by DNS",
            code: "New-SendConnector Outbound -AddressSpaces * -Usage Internet",
            setup: &[],
            expect: &["Outbound", "SMTP:*;1"],
        },
        Example {
            title: "A connector through a smart host on port 2525",
            code: "New-SendConnector Relay -AddressSpaces \"fabrikam.com;5\" -DNSRoutingEnabled:$false -SmartHosts relay.contoso.com:2525",
            setup: &[],
            expect: &["Relay", "SMTP:fabrikam.com;5"],
        },
    ],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let credential = super::store_credential(ctx, b)?;
    let name = b.get(p::Name).unwrap_or_default();
    let usage = usage(b)?;
    let servers = super::source_servers(ctx, b)?;
    let r = named::create(ctx, &name, || {
        let mut c = SendConnector::new(&name);
        b.assign_list(p::AddressSpaces, &mut c.address_spaces);
        c.usage = usage;
        apply(b, &mut c, credential.clone())?;
        if let Some(s) = &servers {
            c.source_transport_servers = s.clone();
        }
        Ok(c)
    });
    super::forget_unused_credential(ctx, &credential, r.is_err());
    let out = r?;
    super::warn_where_credential_is(ctx, &credential)?;
    Ok(out)
}
