//! Get-Queue.

use super::{ask, queue_object, read_disk, site};
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::named::{self, wildcard_match};
use crate::value::Value;
use xshell_core::control::{Answer, Op, view};

params!(p {
    Server: String = param(Kind::Str, "The server: only this one (Get-TransportService Name or Fqdn); accepted for Exchange compatibility."),
    Identity: String = named::identity(
        "A queue, `<server>\\<next hop>` or `<next hop>`; wildcards * and ? allowed.",
    ),
    Filter: String = param(Kind::Str, "An OPATH filter over the queues' properties: {MessageCount -gt 10 -and Status -eq 'Retry'}."),
    Include: Vec<String> = param(Kind::List(&Kind::Enum(QUEUE_CLASSES)), "Only these queues: Internal (local delivery), External (everything else) or a DeliveryType."),
    Exclude: Vec<String> = param(Kind::List(&Kind::Enum(QUEUE_CLASSES)), "Not these queues: Internal (local delivery), External (everything else) or a DeliveryType."),
    SortOrder: Vec<String> = param(Kind::List(&Kind::Str), "Sort by these properties, each +Name (ascending) or -Name (descending): -SortOrder: +FromAddress,-Size."),
    ResultSize: Limit = param(Kind::Limit { min: 1, max: 2_147_483_647 }, "How many queues at most, or Unlimited.").default("1000"),
});

/// What -Include and -Exclude name (Exchange's QueueViewerIncludesAndExcludes).
const QUEUE_CLASSES: &[&str] = &[
    "Internal",
    "External",
    "SmtpDeliveryToMailbox",
    "DnsConnectorDelivery",
    "SmartHostConnectorDelivery",
    "Unreachable",
];

/// Whether a queue of `delivery_type` is in the class `class`.
fn in_class(class: &str, delivery_type: &str) -> bool {
    match class {
        "Internal" => delivery_type == "SmtpDeliveryToMailbox",
        "External" => delivery_type != "SmtpDeliveryToMailbox",
        other => other.eq_ignore_ascii_case(delivery_type),
    }
}

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Get-Queue",
    aliases: &[],
    synopsis: "List the transport queues: one per next hop, with status, message count and last error.",
    description: "Lists the delivery queues of this transport server. Queues are derived from the queued messages: \
every recipient not yet delivered belongs to the queue of its next hop, `<server>\\<domain>` for remote domains \
(DeliveryType DnsConnectorDelivery or SmartHostConnectorDelivery, after the send connector that carries it), \
`<server>\\LocalDelivery` for Authoritative accepted domains (SmtpDeliveryToMailbox), and `<server>\\Unreachable` \
for recipients no enabled send connector covers. Status is Suspended (Suspend-Queue), Active (a delivery is working \
on one of its messages), Retry (every message waits for its next retry) or Ready. TlsDomain is the name the next hop's certificate must carry: the domain itself when \
it is in TLSSendDomainSecureList (Domain Security). Asks the running xshell-transport; when it is not running, \
reads the queue folder directly and warns.",
    params: p::LIST,
    sets: &[],
    impact: Impact::None,
    outputs: "Queue objects.",
    examples: &[Example {
        title: "List the queues (with the engine stopped, from the queue folder)",
        code: "Get-Queue",
        setup: &[],
        expect: &[],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let filter = super::parse_filter(b.get(p::Filter))?;
    let server = b
        .get(p::Server)
        .or_else(|| b.get(p::Identity).as_deref().and_then(super::server_part));
    let queues = list(ctx, server.as_deref())?;
    let out: Vec<Value> = match b.get(p::Identity) {
        None => queues.iter().map(queue_object).collect(),
        Some(id) => {
            let hits: Vec<Value> = queues
                .iter()
                .filter(|q| {
                    wildcard_match(&id, &q.identity) || wildcard_match(&id, &q.next_hop_domain)
                })
                .map(queue_object)
                .collect();
            if hits.is_empty() && !id.contains(['*', '?']) {
                return Err(CmdletError::NotFound {
                    kind: "queue",
                    identity: id,
                });
            }
            hits
        }
    };
    let include = b.get(p::Include).unwrap_or_default();
    let exclude = b.get(p::Exclude).unwrap_or_default();
    let out: Vec<Value> = out
        .into_iter()
        .filter(|q| {
            let Value::Object(o) = q else { return true };
            let dt = o
                .get("DeliveryType")
                .map(|v| v.to_string())
                .unwrap_or_default();
            (include.is_empty() || include.iter().any(|c| in_class(c, &dt)))
                && !exclude.iter().any(|c| in_class(c, &dt))
        })
        .collect();
    super::filter_and_limit(ctx, out, filter, b.get(p::SortOrder), b.get(p::ResultSize))
}

/// Every queue: from the running engine, else from the queue folder (with
/// a warning).
pub(super) fn list(
    ctx: &mut Ctx<'_>,
    server: Option<&str>,
) -> Result<Vec<view::QueueInfo>, CmdletError> {
    let site = site(ctx, server)?;
    Ok(match ask(ctx, &site, Op::GetQueue)? {
        Some(Answer::Queues(q)) => q,
        Some(other) => {
            return Err(CmdletError::Failed(format!(
                "unexpected answer from xshell-transport: {other:?}"
            )));
        }
        None => {
            let (spool, state) = read_disk(ctx, &site)?;
            view::queues(
                &site.cfg,
                &site.server,
                &spool.messages,
                &state,
                &Default::default(),
                super::now_ms(),
            )
        }
    })
}
