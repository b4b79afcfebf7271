//! The queue cmdlets: Get-Queue, Get-Message, Retry-Queue, Suspend-Queue,
//! Resume-Queue, Remove-Message.
//!
//! They talk to a running `xshell-transport` over its control socket
//! (`<store>/control.sock`, protocol in [`xshell_core::control`]); this
//! crate does not depend on the transport. With the engine stopped, the
//! Get- cmdlets read the queue folder directly (read-only) and say so in a
//! warning; the action cmdlets fail and change nothing.

pub mod get;
pub mod get_message;
pub mod remove_message;
pub mod resume;
pub mod retry;
pub mod suspend;

use std::path::PathBuf;
use std::time::Duration;

use xshell_core::control::{self, Answer, ClientError, ErrorKind, Op, QueueState, spool, view};
use xshell_core::model::OrgConfig;

use crate::context::Ctx;
use crate::decl::{Kind, ParamDecl, Pipe};
use crate::error::CmdletError;
use crate::value::{Object, Value, View};
use xshell_core::types::Limit;

/// How long one request may take (an NDR is queued durably, with fsyncs).
const TIMEOUT: Duration = Duration::from_secs(30);

/// The Identity parameter of the queue action cmdlets.
/// -Identity of Retry-, Suspend- and Resume-Queue: in the Identity set,
/// beside -Filter (see [`action_targets`]).
pub const fn queue_action_identity(help: &'static str) -> ParamDecl {
    ParamDecl::new("Identity", Kind::Str, help)
        .position(0)
        .mandatory()
        .pipeline(Pipe::Both)
        .sets(&["Identity"])
}

/// Runs a queue action (`op` of the queue identity) on -Identity, or on
/// every queue the OPATH -Filter keeps (none is not an error: a warning
/// says so).
pub fn act_on_queues(
    ctx: &mut Ctx<'_>,
    identity: Option<String>,
    filter: Option<String>,
    server: Option<String>,
    action: &str,
    op: impl Fn(String) -> Op,
) -> Result<Vec<Value>, CmdletError> {
    let server = server.or_else(|| identity.as_deref().and_then(server_part));
    for target in action_targets(ctx, identity, filter, server.clone())? {
        act(ctx, server.as_deref(), action, &target, op(target.clone()))?;
    }
    Ok(Vec::new())
}

/// The queues an action applies to (see [`act_on_queues`]).
fn action_targets(
    ctx: &mut Ctx<'_>,
    identity: Option<String>,
    filter: Option<String>,
    server: Option<String>,
) -> Result<Vec<String>, CmdletError> {
    let filter = parse_filter(filter)?;
    let Some(f) = filter else {
        return Ok(identity.into_iter().collect());
    };
    let queues: Vec<Value> = get::list(ctx, server.as_deref())?
        .iter()
        .map(queue_object)
        .collect();
    let kept = filter_and_limit(ctx, queues, Some(f), None, Some(Limit::Unlimited))?;
    let ids: Vec<String> = kept
        .iter()
        .filter_map(|q| match q {
            Value::Object(o) => o.get("Identity").map(ToString::to_string),
            _ => None,
        })
        .collect();
    if ids.is_empty() {
        ctx.warn("no queue matches the filter; nothing was done");
    }
    Ok(ids)
}

pub const fn queue_identity(help: &'static str) -> ParamDecl {
    ParamDecl::new("Identity", Kind::Str, help)
        .position(0)
        .mandatory()
        .pipeline(Pipe::Both)
}

/// A queue or message identity that names a server (`EX02\\contoso.com`,
/// `EX02\\contoso.com\\<id>`) must name this store's: another server's is
/// an error that says so (rather than "not found").
pub fn check_server(
    decl: &crate::decl::CmdletDecl,
    store: &xshell_core::store::Store,
    b: &crate::Bound,
) -> Result<(), CmdletError> {
    let queues = [&get::DECL, &retry::DECL, &suspend::DECL, &resume::DECL];
    let messages = [&get_message::DECL, &remove_message::DECL];
    let is = |list: &[&crate::decl::CmdletDecl]| list.iter().any(|d| std::ptr::eq(*d, decl));
    let (is_queue, is_message) = (is(&queues), is(&messages));
    if !is_queue && !is_message {
        return Ok(());
    }
    let given = |name: &'static str| match b.raw(crate::decl::Param::<String>::new(name)) {
        Some(crate::Arg::Str(s)) if s.contains('\\') => Some(s.clone()),
        _ => None,
    };
    let checks = [
        (
            if is_queue { "queue" } else { "message" },
            given("Identity"),
        ),
        ("queue", if is_message { given("Queue") } else { None }),
    ];
    if checks.iter().all(|(_, v)| v.is_none()) {
        return Ok(());
    }
    let cfg = store.snapshot()?;
    let (records, _) = xshell_core::servers::registrations(store.backend())?;
    let mut known = cfg.server_names();
    known.extend(records.into_iter().map(|r| r.name));
    for (kind, v) in checks {
        if let Some(v) = v
            && let Some(server) = server_part(&v)
            && !known
                .iter()
                .any(|n| crate::named::wildcard_match(&server, n))
        {
            return Err(CmdletError::Failed(format!(
                "{kind} '{v}' was not found: '{server}' is not a server of this organization (servers: {})",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// The server a queue or message identity names (`EX02\\contoso.com`),
/// unless it is a wildcard.
pub fn server_part(identity: &str) -> Option<String> {
    identity
        .split_once('\\')
        .map(|(s, _)| s.trim().to_string())
        .filter(|s| !s.is_empty() && !s.contains(['*', '?']))
}

/// Where the engine and its queue are for this store.
pub struct Site {
    pub cfg: OrgConfig,
    pub server: String,
    pub socket: PathBuf,
    pub queue_dir: PathBuf,
}

/// Where `server`'s engine and queue are (None: the default server). A
/// server that registered (it ran `xshell-transport --server NAME`) says
/// where in its registration record: its control socket and queue folder.
pub fn site(ctx: &Ctx<'_>, server: Option<&str>) -> Result<Site, CmdletError> {
    let cfg = ctx.store.snapshot()?;
    // Without -Server: the server named after this host, as the engine.
    let here = server
        .is_none()
        .then(|| cfg.server_named_after(&xshell_core::servers::host_name()))
        .flatten();
    if let Some(name) = server.or(here.as_deref()) {
        let found = crate::server::find(ctx.store, &cfg, "Server", name)?;
        let name = found.service.name.clone();
        if let Some(r) = found.registration {
            return Ok(Site {
                server: name.clone(),
                socket: PathBuf::from(&r.control_endpoint),
                queue_dir: PathBuf::from(&r.queue_folder),
                cfg: cfg.for_server(&name),
            });
        }
        if !xshell_core::model::same_server(&name, cfg.default_server()) {
            return Err(CmdletError::Failed(format!(
                "server {name} has not registered (no xshell-transport --server {name} has run against this store): \
                 where its queue is is not known"
            )));
        }
    }
    let default = cfg.default_server().to_string();
    if server.is_none()
        && let Ok(Some(r)) = xshell_core::servers::registration(ctx.store.backend(), &default)
        && !r.control_endpoint.is_empty()
    {
        // The default server ran with its own --state-dir: its record says where.
        let cfg = cfg.for_server(&default);
        return Ok(Site {
            server: default,
            socket: PathBuf::from(&r.control_endpoint),
            queue_dir: PathBuf::from(&r.queue_folder),
            cfg,
        });
    }
    let cfg = cfg.for_server(&default);
    let state_dir = ctx.store.backend().state_dir().ok_or_else(|| {
        CmdletError::Failed(format!(
            "the store {} has no local folder: the queue cmdlets run on the transport server",
            ctx.store.describe()
        ))
    })?;
    Ok(Site {
        server: cfg.transport_service.name.clone(),
        socket: control::socket_path(&state_dir),
        queue_dir: control::queue_dir(&cfg, &state_dir),
        cfg,
    })
}

fn remote(e: ClientError) -> CmdletError {
    match e {
        ClientError::Remote {
            kind: ErrorKind::NotFound,
            message,
        } => CmdletError::Failed(message),
        ClientError::Remote {
            kind: ErrorKind::Refused,
            message,
        } => CmdletError::Conflict(message),
        other => CmdletError::Failed(other.to_string()),
    }
}

/// Asks the engine; `None` when it is not running (the caller reads the
/// disk instead, after this has warned).
pub fn ask(ctx: &mut Ctx<'_>, site: &Site, op: Op) -> Result<Option<Answer>, CmdletError> {
    match control::call(&site.socket, op, TIMEOUT) {
        Ok(a) => Ok(Some(a)),
        Err(ClientError::NotRunning { .. }) => {
            ctx.warn(&format!(
                "xshell-transport is not running (nothing answers on {}): showing the queue folder {} as \
                 last written; statuses and retry times may be out of date",
                site.socket.display(),
                site.queue_dir.display()
            ));
            Ok(None)
        }
        Err(e) => Err(remote(e)),
    }
}

/// Reads the queue folder (engine stopped).
pub fn read_disk(
    ctx: &mut Ctx<'_>,
    site: &Site,
) -> Result<(spool::Spool, QueueState), CmdletError> {
    let spool = spool::read(&site.queue_dir).map_err(|e| {
        CmdletError::Failed(format!(
            "cannot read the queue folder {}: {e}",
            site.queue_dir.display()
        ))
    })?;
    if spool.unreadable > 0 {
        ctx.warn(&format!(
            "{} queued envelope(s) in {} could not be read and are not shown",
            spool.unreadable,
            site.queue_dir.display()
        ));
    }
    let state =
        QueueState::load(&site.queue_dir).map_err(|e| CmdletError::Failed(e.to_string()))?;
    Ok((spool, state))
}

/// An action: describes it under -WhatIf, asks when needed, then sends it
/// to the running engine. Returns the engine's answer (None: not done).
pub fn act(
    ctx: &mut Ctx<'_>,
    server: Option<&str>,
    action: &str,
    target: &str,
    op: Op,
) -> Result<Option<Answer>, CmdletError> {
    let site = site(ctx, server)?;
    if ctx.what_if {
        ctx.host.info(&format!(
            "What if: Performing the operation \"{action}\" on target \"{target}\"."
        ));
        return Ok(None);
    }
    if !ctx.should_process(action, target)? {
        return Ok(None);
    }
    match control::call(&site.socket, op, TIMEOUT) {
        Ok(a) => {
            if let Answer::Done { message, .. } = &a {
                ctx.host.info(message);
            }
            Ok(Some(a))
        }
        Err(ClientError::NotRunning { .. }) => Err(CmdletError::Failed(format!(
            "xshell-transport is not running (nothing answers on {}); nothing was done to '{target}'. \
             Start the engine and try again",
            site.socket.display()
        ))),
        Err(e) => Err(remote(e)),
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub fn queue_object(q: &view::QueueInfo) -> Value {
    let mut o = Object::from_serde(
        "Queue",
        View::Table(&[
            "Identity",
            "DeliveryType",
            "Status",
            "MessageCount",
            "NextHopDomain",
        ]),
        None,
        q,
    );
    o.dates(&["NextRetryTime"]);
    Value::Object(o)
}

pub fn message_object(m: &view::MessageInfo) -> Value {
    let mut o = Object::from_serde(
        "Message",
        View::Table(&["Identity", "FromAddress", "Status", "Size", "Subject"]),
        None,
        m,
    );
    // Recipients read better as "address (Status)" in tables; JSON keeps them structured.
    if let Some(Value::List(rs)) = o.get("Recipients").cloned() {
        let shown: Vec<Value> = rs
            .into_iter()
            .map(|r| match r {
                Value::Map(kv) => {
                    let get = |k: &str| {
                        kv.iter()
                            .find(|(n, _)| n == k)
                            .map(|(_, v)| v.to_string())
                            .unwrap_or_default()
                    };
                    let mut m = vec![
                        ("Address".to_string(), Value::Str(get("Address"))),
                        ("Status".to_string(), Value::Str(get("Status"))),
                    ];
                    let err = get("LastError");
                    if !err.is_empty() {
                        m.push(("LastError".into(), Value::Str(err)));
                    }
                    // What the sender asked of DSNs (RFC 3461), when it asked.
                    let reports = get("RequestedReports");
                    if !reports.is_empty() && reports != "Default" {
                        m.push(("RequestedReports".into(), Value::Str(reports)));
                    }
                    let orcpt = get("OriginalRecipient");
                    if !orcpt.is_empty() {
                        m.push(("OriginalRecipient".into(), Value::Str(orcpt)));
                    }
                    // say why: the TLS policy of the last attempt
                    for k in ["TlsPolicy", "TlsPolicyReason"] {
                        let v = get(k);
                        if !v.is_empty() {
                            m.push((k.into(), Value::Str(v)));
                        }
                    }
                    Value::Map(m)
                }
                other => other,
            })
            .collect();
        o.set("Recipients", Value::List(shown));
    }
    o.dates(&["DateReceived", "NextRetryTime"]);
    Value::Object(o)
}

/// Parses `-Filter` (before anything is read: a bad filter is a usage
/// error).
pub fn parse_filter(text: Option<String>) -> Result<Option<crate::opath::Filter>, CmdletError> {
    text.map(|t| {
        crate::opath::Filter::parse(&t)
            .map_err(|e| CmdletError::bad_value("Filter", format!("'{t}': {e}")))
    })
    .transpose()
}

/// Applies Get-Queue's and Get-Message's `-Filter` (OPATH, over the
/// objects' properties) and `-ResultSize` (default 1000, or Unlimited;
/// a warning says when more were found).
pub fn filter_and_limit(
    ctx: &mut Ctx<'_>,
    objects: Vec<Value>,
    filter: Option<crate::opath::Filter>,
    sort_order: Option<Vec<String>>,
    result_size: Option<Limit>,
) -> Result<Vec<Value>, CmdletError> {
    let mut objects = objects;
    if let Some(keys) = sort_order {
        sort_objects(&mut objects, &keys)?;
    }
    if let Some(f) = filter {
        if let Some(Value::Object(first)) = objects.first() {
            let known: Vec<&str> = first.props.iter().map(|(k, _)| k.as_str()).collect();
            let unknown = f.unknown_properties(&known);
            if !unknown.is_empty() {
                return Err(CmdletError::bad_value(
                    "Filter",
                    format!(
                        "{} is not a property of {}; it has {}",
                        unknown.join(", "),
                        first.type_name,
                        known.join(", ")
                    ),
                ));
            }
        }
        objects.retain(|v| matches!(v, Value::Object(o) if f.matches(o)));
    }
    let limit = result_size.unwrap_or(Limit::Count(1000));
    if let Limit::Count(n) = limit
        && objects.len() > n as usize
    {
        ctx.warn(&format!(
            "there are more results than -ResultSize {n} shows ({} in all); use -ResultSize Unlimited to see them all",
            objects.len()
        ));
        objects.truncate(n as usize);
    }
    Ok(objects)
}

/// `-SortOrder +FromAddress,-Size`: sorts by each property in turn,
/// ascending (`+` or nothing) or descending (`-`). Numbers and sizes sort
/// by value, text case-insensitively.
fn sort_objects(objects: &mut [Value], keys: &[String]) -> Result<(), CmdletError> {
    use std::cmp::Ordering;
    let keys: Vec<(String, bool)> = keys
        .iter()
        .map(|k| {
            let k = k.trim();
            match k.strip_prefix('-') {
                Some(name) => (name.to_string(), true),
                None => (k.trim_start_matches('+').to_string(), false),
            }
        })
        .collect();
    if let Some(Value::Object(first)) = objects.first()
        && let Some((bad, _)) = keys.iter().find(|(k, _)| first.get(k).is_none())
    {
        return Err(CmdletError::bad_value(
            "SortOrder",
            format!("{bad} is not a property of {}", first.type_name),
        ));
    }
    fn number(v: &Value) -> Option<u64> {
        match v {
            Value::Int(i) => u64::try_from(*i).ok(),
            Value::Str(s) => match s.parse::<xshell_core::types::SizeLimit>() {
                Ok(xshell_core::types::SizeLimit::Bytes(b)) => Some(b),
                _ => None,
            },
            _ => None,
        }
    }
    let get = |v: &Value, k: &str| match v {
        Value::Object(o) => o.get(k).cloned().unwrap_or(Value::Null),
        _ => Value::Null,
    };
    objects.sort_by(|a, b| {
        for (k, descending) in &keys {
            let (x, y) = (get(a, k), get(b, k));
            let o = match (number(&x), number(&y)) {
                (Some(p), Some(q)) => p.cmp(&q),
                _ => x
                    .to_string()
                    .to_lowercase()
                    .cmp(&y.to_string().to_lowercase()),
            };
            let o = if *descending { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    Ok(())
}
