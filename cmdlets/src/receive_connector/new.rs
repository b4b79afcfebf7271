use super::apply;
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::named;
use crate::value::Value;
use xshell_core::model::{ReceiveConnector, ReceiveUsage};

params!(p + super::shared {
    Name: String = param(Kind::Str, "The connector's name (unique on its server).")
            .position(0)
            .mandatory(),
    Server: String = param(Kind::Str, "The transport server the connector belongs to (its Name or Fqdn); only that server's xshell-transport binds it. Default: the organization's default server (Get-TransportService's Name)."),
    Usage: ReceiveUsage = param(Kind::Enum(ReceiveUsage::NAMES), "The preset to start from.")
        .default("Custom"),
    Bindings: Vec<Binding> = param(Kind::List(&Kind::Binding), "Where to listen: IP:port, e.g. 0.0.0.0:25, [::]:25."),
    Internet: bool = param(Kind::Switch, "Same as -Usage Internet."),
    Partner: bool = param(Kind::Switch, "Same as -Usage Partner."),
    Internal: bool = param(Kind::Switch, "Same as -Usage Internal."),
    Custom: bool = param(Kind::Switch, "Same as -Usage Custom."),
    Client: bool = param(Kind::Switch, "Same as -Usage Client."),
});

/// The usage: -Usage, or one of the usage switches (Exchange's parameter
/// sets), never two different ones.
fn usage(b: &Bound) -> Result<ReceiveUsage, CmdletError> {
    crate::bind::one_choice(
        b,
        p::Usage,
        &[
            (p::Internet, ReceiveUsage::Internet),
            (p::Partner, ReceiveUsage::Partner),
            (p::Internal, ReceiveUsage::Internal),
            (p::Custom, ReceiveUsage::Custom),
            (p::Client, ReceiveUsage::Client),
        ],
        ReceiveUsage::Custom,
    )
}

pub static DECL: CmdletDecl = CmdletDecl {
    name: "New-ReceiveConnector",
    aliases: &[],
    synopsis: "Create a receive connector: where the transport listens and whom it accepts mail from.",
    description: "Creates a receive connector. Usage picks Exchange's presets: Internet (all remote addresses, \
AnonymousUsers, Tls), Partner (Partners, Tls; RemoteIPRanges required), Custom (Tls; RemoteIPRanges required), \
Internal (0.0.0.0:25, ExchangeServers, Tls and ExchangeServer) and Client (0.0.0.0:587, ExchangeUsers, Tls and \
BasicAuth). Parameters given override the preset. DomainSecureEnabled with Tls enforces Domain Security for the \
senders in TLSReceiveDomainSecureList.",
    params: p::LIST,
    sets: &[],
    impact: Impact::Medium,
    outputs: "The new ReceiveConnector.",
    examples: &[
        Example {
            title: "An Internet-facing connector on port 25",
            code: "New-ReceiveConnector Inbound -Usage Internet -Bindings 0.0.0.0:25",
            setup: &[],
            expect: &["Inbound", "0.0.0.0:25"],
        },
        Example {
            title: "A connector of the server EX02 (Identity EX02\\Inbound)",
            code: "New-ReceiveConnector Inbound -Server EX02 -Usage Internet -Bindings 0.0.0.0:25",
            setup: &[],
            expect: &["EX02\\Inbound"],
        },
        Example {
            title: "A partner connector for one network on port 2525",
            code: "New-ReceiveConnector PartnerIn -Usage Partner -Bindings 127.0.0.1:2525 -RemoteIPRanges 127.0.0.0/8",
            setup: &[],
            expect: &["PartnerIn", "127.0.0.1:2525"],
        },
    ],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let name = b.get(p::Name).unwrap_or_default();
    let usage = usage(b)?;
    let server = match b.get(p::Server) {
        // The default server's connectors name none (as before servers
        // had connectors of their own), so they follow it if renamed.
        Some(s) => {
            let name = crate::server::for_new_object(ctx, "Server", &s)?;
            let cfg = ctx.store.snapshot()?;
            (!xshell_core::model::same_server(&name, cfg.default_server())).then_some(name)
        }
        None => None,
    };
    named::create(ctx, &name, || {
        let mut c = ReceiveConnector::with_usage(&name, usage);
        c.server = server.clone();
        b.assign_list(p::Bindings, &mut c.bindings);
        apply(b, &mut c)?;
        Ok(c)
    })
}
