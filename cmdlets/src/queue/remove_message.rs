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
    .pipeline(Pipe::Both)
    .sets(&["Identity"]),
    Server: String = param(Kind::Str, "The server: only this one (Get-TransportService Name or Fqdn); accepted for Exchange compatibility."),
    Filter: String = param(Kind::Str, "Every message this OPATH filter keeps, instead of -Identity: {FromAddress -like '*@contoso.com'}.")
        .mandatory()
        .sets(&["Filter"]),
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
    sets: &["Identity", "Filter"],
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
    let Some(text) = b.get(p::Filter) else {
        return remove(ctx, b, b.get(p::Identity).unwrap_or_default());
    };
    let filter = super::parse_filter(Some(text))?;
    let messages = super::get_message::all(ctx, b.get(p::Server).as_deref())?;
    let kept = super::filter_and_limit(
        ctx,
        messages,
        filter,
        None,
        Some(xshell_core::types::Limit::Unlimited),
    )?;
    if kept.is_empty() {
        ctx.warn("no message matches the filter; nothing was done");
    }
    // A message in two queues is listed twice: removed once.
    let mut done: Vec<String> = Vec::new();
    for m in kept {
        if let Value::Object(o) = m
            && let Some(id) = o.get("Identity").map(ToString::to_string)
        {
            let key = view::message_id_of(&id).to_string();
            if !done.contains(&key) {
                done.push(key);
                remove(ctx, b, id)?;
            }
        }
    }
    Ok(Vec::new())
}

/// Removes one message.
fn remove(ctx: &mut Ctx<'_>, b: &Bound, identity: String) -> Result<Vec<Value>, CmdletError> {
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
    let server = b.get(p::Server).or_else(|| super::server_part(&identity));
    act(
        ctx,
        server.as_deref(),
        action,
        &identity,
        Op::RemoveMessage { id, with_ndr },
    )?;
    Ok(Vec::new())
}
