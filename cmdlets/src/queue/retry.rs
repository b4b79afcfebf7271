//! Retry-Queue.

use super::queue_action_identity;
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::Value;
use xshell_core::control::Op;

params!(p {
    Server: String = param(Kind::Str, "The server: only this one (Get-TransportService Name or Fqdn); accepted for Exchange compatibility."),
    Filter: String = param(Kind::Str, "Every queue this OPATH filter keeps, instead of -Identity: {Status -eq 'Retry'}.")
        .mandatory()
        .sets(&["Filter"]),
    Identity: String = queue_action_identity("The queue: `<server>\\<next hop>` or `<next hop>`.",),
    Resubmit: bool = param(Kind::Bool, "Route the messages again (after a connector change, e.g. for the Unreachable queue). xshell routes every retry by the current configuration, so a retry always resubmits.").default("$false"),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Retry-Queue",
    aliases: &[],
    synopsis: "Retry a queue now instead of at its next retry time.",
    description: "Makes every message of the queue that waits for a retry due now and hands the queue to the \
delivery side. A suspended queue must be resumed first. Needs a running xshell-transport.",
    params: p::LIST,
    sets: &["Identity", "Filter"],
    impact: Impact::Medium,
    outputs: "Nothing.",
    examples: &[Example {
        title: "Show what retrying a partner's queue would do",
        code: "Retry-Queue partner.example -WhatIf",
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
        "Retry queue",
        |identity| Op::RetryQueue { identity },
    )
}
