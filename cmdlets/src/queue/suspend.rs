//! Suspend-Queue.

use super::queue_action_identity;
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::Value;
use xshell_core::control::Op;

params!(p {
    Server: String = param(
        Kind::Str,
        "The server: only this one (Get-TransportService Name or Fqdn); accepted for Exchange compatibility."
    ),
    Filter: String = param(
        Kind::Str,
        "Every queue this OPATH filter keeps, instead of -Identity: {Status -eq 'Retry'}."
    )
    .mandatory()
    .sets(&["Filter"]),
    Identity: String = queue_action_identity("The queue: `<server>\\<next hop>` or `<next hop>`.",),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Suspend-Queue",
    aliases: &[],
    synopsis: "Stop delivering to a queue's next hop until Resume-Queue.",
    description: "Suspends a queue: nothing is delivered to its next hop, and new messages for it wait, until \
Resume-Queue. The suspension is kept in the queue folder (queue-state.json) and survives restarts. The local \
delivery queue cannot be suspended. Needs a running xshell-transport.",
    params: p::LIST,
    sets: &["Identity", "Filter"],
    impact: Impact::Medium,
    outputs: "Nothing.",
    examples: &[Example {
        title: "Show what suspending a partner's queue would do",
        code: "Suspend-Queue partner.example -WhatIf",
        setup: &[],
        expect: &[],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    super::act_on_queues(
        ctx,
        b.get(p::Identity),
        b.get(p::Filter),
        b.get(p::Server),
        "Suspend queue",
        |identity| Op::SuspendQueue { identity },
    )
}
