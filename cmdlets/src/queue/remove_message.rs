//! Remove-Message.

use super::act;
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::Value;
use xshell_core::control::{Op, spool, view};

params!(p {
    Identity: String = param(
        Kind::Str,
        "The message: `<server>\\<next hop>\\<id>` or the id (26 hex digits)."
    )
    .position(0)
    .mandatory()
    .pipeline(Pipe::Both),
    WithNDR: bool = param(Kind::Bool, "Send the sender a non-delivery report.").default("$true"),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Remove-Message",
    aliases: &[],
    synopsis: "Remove a message from the queues, with or without a non-delivery report.",
    description: "Removes a queued message (all of its recipients not yet delivered). With -WithNDR $true (the \
default) the sender gets a non-delivery report (5.3.0, deleted by an administrator); with $false the message \
disappears silently. A FAIL event goes to the tracking log. Asks for confirmation; in scripts pass \
-Confirm:$false. Needs a running xshell-transport.",
    params: p::LIST,
    sets: &[],
    impact: Impact::High,
    outputs: "Nothing.",
    examples: &[Example {
        title: "Show what removing a message silently would do",
        code: "Remove-Message 0192a3b4c5d6000001deadbeef -WithNDR $false -WhatIf",
        setup: &[],
        expect: &[],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let identity = b.get(p::Identity).unwrap_or_default();
    let id = view::message_id_of(&identity).to_string();
    if !spool::is_message_id(&id) {
        return Err(CmdletError::bad_value(
            "Identity",
            format!(
                "'{identity}' is not a message identity (`<server>\\<next hop>\\<id>`, id: 26 hex digits)"
            ),
        ));
    }
    let with_ndr = b.get(p::WithNDR).unwrap_or(true);
    let action = if with_ndr {
        "Remove message (with a non-delivery report)"
    } else {
        "Remove message (without a non-delivery report)"
    };
    act(ctx, action, &identity, Op::RemoveMessage { id, with_ndr })?;
    Ok(Vec::new())
}
