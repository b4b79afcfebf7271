//! Get-Message.

use super::{ask, message_object, read_disk, site};
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::named::wildcard_match;
use crate::value::Value;
use xshell_core::control::{Answer, Op, spool, view};

params!(p {
    Server: String = param(Kind::Str, "The server: only this one (Get-TransportService Name or Fqdn); accepted for Exchange compatibility."),
    Identity: String = param(Kind::Str, "A message: `<server>\\<next hop>\\<id>` or the id (26 hex digits).")
        .position(0)
        .pipeline(Pipe::ByPropertyName)
        .sets(&["Identity"]),
    Queue: String = param(Kind::Str, "Only the messages of this queue (`<server>\\<next hop>` or `<next hop>`; wildcards allowed).")
        .sets(&["Queue"]),
    Filter: String = param(Kind::Str, "An OPATH filter over the messages' properties: {FromAddress -like '*@contoso.com'}.")
        .sets(&["Filter"]),
    SortOrder: Vec<String> = param(Kind::List(&Kind::Str), "Sort by these properties, each +Name (ascending) or -Name (descending): -SortOrder: +FromAddress,-Size."),
    ResultSize: Limit = param(Kind::Limit { min: 1, max: 2_147_483_647 }, "How many messages at most, or Unlimited.").default("1000"),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Get-Message",
    aliases: &[],
    synopsis: "List queued messages with their sender, recipients and status.",
    description: "Lists the messages in the queues, one object per message and queue (a message whose recipients \
go to two next hops is in two queues, as in Exchange): Identity `<server>\\<next hop>\\<id>`, sender, the \
recipients of that queue with their status (Ready, Retry) and last error, size, subject, Message-ID, retry count \
and next retry time, and what the sender asked of delivery status notifications (RFC 3461): DsnFormatRequested \
(RET: NotSpecified, Full, Headers) and EnvelopeId (ENVID), and per recipient RequestedReports (NOTIFY: Default, \
Never, or e.g. Success, Failure) and OriginalRecipient (ORCPT); RequireTls is True for a message received with \
REQUIRETLS (RFC 8689), which is relayed only over verified TLS. TlsPolicy says which TLS policy applied to the last \
attempt (DomainSecure, DANE, MTA-STS enforce, MTA-STS testing, RequireTLS, REQUIRETLS, Opportunistic, None) and \
TlsPolicyReason, when that attempt went without verified TLS or was held, why (per recipient, and for the message \
from its first attempted recipient, like LastError). -Identity takes a message identity or its id; -Queue a queue identity (wildcards allowed). \
Asks the running xshell-transport; when it is not running, reads the queue folder directly and warns.",
    params: p::LIST,
    sets: &["Identity", "Queue", "Filter"],
    impact: Impact::None,
    outputs: "Message objects.",
    examples: &[Example {
        title: "The messages waiting for one domain",
        code: "Get-Message -Queue partner.example",
        setup: &[],
        expect: &[],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let filter = super::parse_filter(b.get(p::Filter))?;
    let server = b.get(p::Server).or_else(|| {
        [b.get(p::Identity), b.get(p::Queue)]
            .into_iter()
            .flatten()
            .find_map(|i| super::server_part(&i))
    });
    let site = site(ctx, server.as_deref())?;
    let mut id = b.get(p::Identity);
    let mut queue = b.get(p::Queue);
    // A queue's identity where a message's is expected (`Get-Queue X |
    // Get-Message` binds the queue's Identity): the messages of that queue.
    if queue.is_none()
        && let Some(i) = &id
        && !spool::is_message_id(view::message_id_of(i))
        && i.matches('\\').count() == 1
        && view::hop_key(i, &site.server).is_some()
    {
        queue = id.take();
    }
    let wanted_id = id.as_deref().map(view::message_id_of).map(str::to_string);
    if let Some(w) = &wanted_id
        && !spool::is_message_id(w)
    {
        return Err(CmdletError::bad_value(
            "Identity",
            format!(
                "'{}' is not a message identity (`<server>\\<next hop>\\<id>`, id: 26 hex digits)",
                id.as_deref().unwrap_or_default()
            ),
        ));
    }
    let op = Op::GetMessage {
        id: wanted_id.clone(),
        queue: None,
    };
    let messages = match ask(ctx, &site, op) {
        Ok(Some(Answer::Messages(m))) => m,
        Ok(Some(other)) => {
            return Err(CmdletError::Failed(format!(
                "unexpected answer from xshell-transport: {other:?}"
            )));
        }
        Ok(None) => {
            let (spool, state) = read_disk(ctx, &site)?;
            let msgs: Vec<_> = spool
                .messages
                .into_iter()
                .filter(|m| wanted_id.as_deref().is_none_or(|w| m.id == w))
                .collect();
            view::messages(
                &site.cfg,
                &site.server,
                &msgs,
                &state,
                &Default::default(),
                super::now_ms(),
                |id| spool::read_headers(&site.queue_dir, id),
            )
        }
        Err(CmdletError::Failed(m)) if id.is_some() && m.contains("was not found") => Vec::new(),
        Err(e) => return Err(e),
    };
    let out: Vec<Value> = messages
        .iter()
        .filter(|m| {
            id.as_deref()
                .is_none_or(|i| !i.contains('\\') || i.eq_ignore_ascii_case(&m.identity))
        })
        .filter(|m| {
            queue.as_deref().is_none_or(|q| {
                wildcard_match(q, &m.queue)
                    || view::hop_key(q, &site.server).is_some_and(|k| {
                        view::hop_key(&m.queue, &site.server)
                            .is_some_and(|mk| wildcard_match(&k, &mk))
                    })
            })
        })
        .map(message_object)
        .collect();
    if out.is_empty()
        && let Some(id) = id
    {
        return Err(CmdletError::NotFound {
            kind: "message",
            identity: id,
        });
    }
    super::filter_and_limit(ctx, out, filter, b.get(p::SortOrder), b.get(p::ResultSize))
}

/// Every queued message object (Remove-Message -Filter).
pub(super) fn all(ctx: &mut Ctx<'_>, server: Option<&str>) -> Result<Vec<Value>, CmdletError> {
    let mut b = Bound::default();
    if let Some(s) = server {
        b.insert(p::Server.name, crate::bind::Arg::Str(s.to_string()));
    }
    b.insert(
        p::ResultSize.name,
        crate::bind::Arg::Limit(xshell_core::types::Limit::Unlimited),
    );
    run(ctx, &b)
}
