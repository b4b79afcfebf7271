//! Resume-Queue.

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
    name: "Resume-Queue",
    aliases: &[],
    synopsis: "Resume a suspended queue.",
    description: "Resumes a queue suspended with Suspend-Queue and hands its messages to the delivery side. Needs a \
running xshell-transport.",
    params: p::LIST,
    sets: &["Identity", "Filter"],
    impact: Impact::Medium,
    outputs: "Nothing.",
    examples: &[Example {
        title: "Show what resuming a partner's queue would do",
        code: "Resume-Queue partner.example -WhatIf",
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
        "Resume queue",
        |identity| Op::ResumeQueue { identity },
    )
}
