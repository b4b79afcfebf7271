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
    Identity: String = named::identity(
        "A queue, `<server>\\<next hop>` or `<next hop>`; wildcards * and ? allowed.",
    ),
});

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
    let site = site(ctx)?;
    let queues = match ask(ctx, &site, Op::GetQueue)? {
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
    };
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
    Ok(out)
}
