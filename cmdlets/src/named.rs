//! Shared behaviour of named configuration objects (connectors, accepted
//! domains): lookup by identity, listing with wildcards, creation, removal.

use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::{Kind, Param, ParamDecl, Pipe};
use crate::error::CmdletError;
use crate::value::{Object, Props, Value};
use xshell_core::model::{AcceptedDomain, OrgConfig, ReceiveConnector, SendConnector};

/// A configuration object identified by its name.
pub trait Named: Clone + serde::Serialize {
    /// Used in messages: "send connector".
    const KIND: &'static str;
    /// Used in output objects and actions: "SendConnector".
    const TYPE: &'static str;
    fn name(&self) -> &str;
    fn list(cfg: &OrgConfig) -> &Vec<Self>;
    fn list_mut(cfg: &mut OrgConfig) -> &mut Vec<Self>;
    fn validate(&self) -> Result<(), CmdletError>;
    fn to_object(&self) -> Object {
        self.to_object_with(Props::All)
    }
    /// The object with only the properties `props` asks for.
    fn to_object_with(&self, props: Props) -> Object;
    /// Rules that involve other objects (e.g. a binding used twice).
    fn check_against(&self, _cfg: &OrgConfig) -> Result<(), CmdletError> {
        Ok(())
    }
    /// Whether the object belongs to a server, as a receive connector does:
    /// its Identity is then `<server>\\<name>` (Exchange's form), and an
    /// identity may name the server.
    const SERVER_SCOPED: bool = false;
    /// The server a server-scoped object names (none: the default server).
    fn server(&self) -> Option<&str> {
        None
    }
}

/// The server a server-scoped object belongs to.
fn owner<'a, T: Named>(cfg: &'a OrgConfig, item: &'a T) -> &'a str {
    cfg.owner(item.server())
}

/// Whether `item` is the one `identity` names, comparing names with
/// `same_name`: `<server>\<name>` (the server may be a wildcard) or
/// `<name>` on any server, for a server-scoped type.
fn names_item<T: Named>(
    cfg: &OrgConfig,
    item: &T,
    identity: &str,
    same_name: impl Fn(&str, &str) -> bool,
) -> bool {
    if !T::SERVER_SCOPED {
        return same_name(identity, item.name());
    }
    match identity.split_once('\\') {
        Some((server, name)) => {
            wildcard_match(server.trim(), owner(cfg, item)) && same_name(name, item.name())
        }
        None => same_name(identity, item.name()),
    }
}

/// Whether two objects of a type are the same one by name: the same name
/// (and, for a server-scoped type, on the same server).
fn same_object<T: Named>(cfg: &OrgConfig, a: &T, b: &T) -> bool {
    a.name().eq_ignore_ascii_case(b.name())
        && (!T::SERVER_SCOPED || xshell_core::model::same_server(owner(cfg, a), owner(cfg, b)))
}

/// A server-qualified identity whose server the organization does not
/// know: say so rather than "not found".
fn unknown_server<T: Named>(cfg: &OrgConfig, identity: &str) -> Option<CmdletError> {
    let (server, _) = identity.split_once('\\')?;
    if !T::SERVER_SCOPED || server.contains(['*', '?']) {
        return None;
    }
    let known = cfg.server_names();
    if known
        .iter()
        .any(|n| xshell_core::model::same_server(n, server))
    {
        return None;
    }
    Some(CmdletError::Failed(format!(
        "{} '{identity}' was not found: '{}' is not a server of this organization (servers: {})",
        T::KIND,
        server.trim(),
        known.join(", ")
    )))
}

/// The object as output: a server-scoped one's Identity names its server.
fn output<T: Named>(item: &T, cfg: &OrgConfig, props: Props) -> Object {
    let mut o = item.to_object_with(props);
    if T::SERVER_SCOPED {
        let server = owner(cfg, item).to_string();
        if o.get("Identity").is_some() {
            o.set("Identity", Value::Str(format!("{server}\\{}", item.name())));
        }
        if matches!(props, Props::All) {
            // Right after Name, whether or not the object names its server.
            o.props.retain(|(k, _)| k != "Server");
            let at = o
                .props
                .iter()
                .position(|(k, _)| k == "Name")
                .map_or(0, |i| i + 1);
            o.props
                .insert(at, ("Server".to_string(), Value::Str(server)));
        }
    }
    o
}

/// The Identity parameter of Get-/Set-/Remove- cmdlets.
pub const fn identity(help: &'static str) -> ParamDecl {
    ParamDecl::new("Identity", Kind::Str, help)
        .position(0)
        .pipeline(Pipe::Both)
}

/// Whether `name` matches an identity pattern (`*` and `?` wildcards, case-insensitive).
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b) && go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Bound the work: identities are short; refuse absurd patterns.
    if p.len() > 256 || n.len() > 256 {
        return pattern.eq_ignore_ascii_case(name);
    }
    go(&p, &n)
}

pub fn find_index<T: Named>(cfg: &OrgConfig, identity: &str) -> Result<usize, CmdletError> {
    let identity = identity.trim();
    let hits: Vec<usize> = T::list(cfg)
        .iter()
        .enumerate()
        .filter(|(_, x)| names_item(cfg, *x, identity, |a, b| a.trim().eq_ignore_ascii_case(b)))
        .map(|(i, _)| i)
        .collect();
    match hits.as_slice() {
        [i] => Ok(*i),
        [] => Err(
            unknown_server::<T>(cfg, identity).unwrap_or_else(|| CmdletError::NotFound {
                kind: T::KIND,
                identity: identity.to_string(),
            }),
        ),
        many => Err(CmdletError::Conflict(format!(
            "{} '{identity}' is ambiguous: it is on several servers ({}); name the server, e.g. {}",
            T::KIND,
            many.iter()
                .map(|i| format!(
                    "{}\\{}",
                    owner(cfg, &T::list(cfg)[*i]),
                    T::list(cfg)[*i].name()
                ))
                .collect::<Vec<_>>()
                .join(", "),
            format_args!(
                "{}\\{}",
                owner(cfg, &T::list(cfg)[many[0]]),
                T::list(cfg)[many[0]].name()
            )
        ))),
    }
}

fn check<T: Named>(item: &T, cfg: &OrgConfig) -> Result<(), CmdletError> {
    item.validate()?;
    item.check_against(cfg)
}

/// Get-*: all, or those matching Identity (wildcards allowed; a plain name
/// that matches nothing is an error, as in Exchange).
pub fn get<T: Named>(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let cfg = ctx.store.snapshot()?;
    let items = T::list(&cfg);
    let out: Vec<Value> = match b.get(Identity) {
        None => items
            .iter()
            .map(|x| Value::Object(output(x, &cfg, ctx.props)))
            .collect(),
        // A plain identity names one object (on several servers it is
        // ambiguous: an error that lists them).
        Some(id) if T::SERVER_SCOPED && !id.contains(['*', '?']) => {
            let i = find_index::<T>(&cfg, &id)?;
            vec![Value::Object(output(&items[i], &cfg, ctx.props))]
        }
        Some(id) => {
            let hits: Vec<Value> = items
                .iter()
                .filter(|x| names_item(&cfg, *x, id.trim(), |p, n| wildcard_match(p.trim(), n)))
                .map(|x| Value::Object(output(x, &cfg, ctx.props)))
                .collect();
            if hits.is_empty() && !id.contains(['*', '?']) {
                if let Some(e) = unknown_server::<T>(&cfg, id.trim()) {
                    return Err(e);
                }
                return Err(CmdletError::NotFound {
                    kind: T::KIND,
                    identity: id,
                });
            }
            hits
        }
    };
    Ok(out)
}

/// New-*: builds the object with `build`, refuses a duplicate name, validates,
/// commits.
pub fn create<T: Named>(
    ctx: &mut Ctx<'_>,
    name: &str,
    build: impl FnOnce() -> Result<T, CmdletError>,
) -> Result<Vec<Value>, CmdletError> {
    let item = build()?;
    item.validate()?;
    let action = format!("New {}", T::TYPE);
    let created = ctx.commit(&action, name, |cfg| {
        if T::list(cfg).iter().any(|x| same_object(cfg, x, &item)) {
            return Err(CmdletError::Conflict(format!(
                "a {} named '{}' already exists{}; use Set-{} to change it",
                T::KIND,
                item.name(),
                if T::SERVER_SCOPED {
                    format!(" on server {}", owner(cfg, &item))
                } else {
                    String::new()
                },
                T::TYPE
            )));
        }
        check(&item, cfg)?;
        T::list_mut(cfg).push(item.clone());
        Ok(output(&item, cfg, Props::All))
    })?;
    Ok(created.map(Value::Object).into_iter().collect())
}

/// Set-*: applies `edit` to the named object, validates, commits. Emits nothing
/// (as Exchange's Set- cmdlets).
pub fn update<T: Named>(
    ctx: &mut Ctx<'_>,
    b: &Bound,
    mut edit: impl FnMut(&mut T) -> Result<(), CmdletError>,
) -> Result<Vec<Value>, CmdletError> {
    let id = b
        .get(Identity)
        .ok_or_else(|| CmdletError::Usage("missing -Identity".into()))?;
    let action = format!("Set {}", T::TYPE);
    ctx.commit(&action, &id, |cfg| {
        let i = find_index::<T>(cfg, &id)?;
        let before = T::list(cfg)[i].clone();
        let id = before.name().to_string();
        let mut item = before.clone();
        edit(&mut item)?;
        if !item.name().eq_ignore_ascii_case(&id)
            && T::list(cfg).iter().any(|x| same_object(cfg, x, &item))
        {
            return Err(CmdletError::Conflict(format!(
                "cannot rename {} '{id}' to '{}': that name is taken",
                T::KIND,
                item.name()
            )));
        }
        let mut others = cfg.clone();
        T::list_mut(&mut others).remove(i);
        check(&item, &others)?;
        T::list_mut(cfg)[i] = item;
        Ok(())
    })?;
    Ok(Vec::new())
}

/// Remove-*: removes the named object after confirmation; `guard` may refuse.
pub fn remove<T: Named>(
    ctx: &mut Ctx<'_>,
    b: &Bound,
    mut guard: impl FnMut(&OrgConfig, &T) -> Result<(), CmdletError>,
) -> Result<Vec<Value>, CmdletError> {
    let id = b
        .get(Identity)
        .ok_or_else(|| CmdletError::Usage("missing -Identity".into()))?;
    // Fail on a missing object before asking anything.
    let snap = ctx.store.snapshot()?;
    find_index::<T>(&snap, &id)?;
    let action = format!("Remove {}", T::TYPE);
    ctx.commit(&action, &id, |cfg| {
        let i = find_index::<T>(cfg, &id)?;
        guard(cfg, &T::list(cfg)[i])?;
        T::list_mut(cfg).remove(i);
        Ok(())
    })?;
    Ok(Vec::new())
}

/// `-Identity` as the shared lookups read it, for every cmdlet that
/// declares it with [`identity`].
#[allow(non_upper_case_globals)]
pub const Identity: Param<String> = Param::new("Identity");

/// The Force switch of Remove- cmdlets.
pub const FORCE: ParamDecl = ParamDecl::new("Force", Kind::Switch, "Do not ask for confirmation.");

macro_rules! named_model {
    ($t:ty, $kind:literal, $type:literal, $field:ident, $view:expr, $check:expr) => {
        named_model!($t, $kind, $type, $field, $view, $check, false, |_| None);
    };
    ($t:ty, $kind:literal, $type:literal, $field:ident, $view:expr, $check:expr, $scoped:expr, $server:expr) => {
        impl Named for $t {
            const KIND: &'static str = $kind;
            const TYPE: &'static str = $type;
            const SERVER_SCOPED: bool = $scoped;
            fn server(&self) -> Option<&str> {
                let f: fn(&$t) -> Option<&str> = $server;
                f(self)
            }
            fn name(&self) -> &str {
                &self.name
            }
            fn list(cfg: &OrgConfig) -> &Vec<Self> {
                &cfg.$field
            }
            fn list_mut(cfg: &mut OrgConfig) -> &mut Vec<Self> {
                &mut cfg.$field
            }
            fn validate(&self) -> Result<(), CmdletError> {
                Ok(<$t>::validate(self)?)
            }
            fn to_object_with(&self, props: Props) -> Object {
                Object::from_serde_with($type, $view, Some(&self.name), self, props)
            }
            fn check_against(&self, cfg: &OrgConfig) -> Result<(), CmdletError> {
                let f: fn(&$t, &OrgConfig) -> Result<(), CmdletError> = $check;
                f(self, cfg)
            }
        }
    };
}

named_model!(
    SendConnector,
    "send connector",
    "SendConnector",
    send_connectors,
    crate::value::View::Table(&[
        "Identity",
        "AddressSpaces",
        "Enabled",
        "DomainSecureEnabled"
    ]),
    |_, _| Ok(())
);

named_model!(
    ReceiveConnector,
    "receive connector",
    "ReceiveConnector",
    receive_connectors,
    crate::value::View::Table(&["Identity", "Bindings", "Enabled", "DomainSecureEnabled"]),
    crate::receive_connector::check_bindings,
    true,
    |c| c.server.as_deref()
);

named_model!(
    AcceptedDomain,
    "accepted domain",
    "AcceptedDomain",
    accepted_domains,
    crate::value::View::Table(&["Name", "DomainName", "DomainType", "Default"]),
    crate::accepted_domain::check_unique_domain
);

#[cfg(test)]
mod tests {
    use super::{Named, wildcard_match};
    use crate::format::{Format, render};
    use crate::value::{Props, Value};
    use xshell_core::model::{
        AcceptedDomain, AcceptedDomainType, ReceiveConnector, ReceiveUsage, SendConnector,
    };

    /// Objects with only their table's columns show the same table, and
    /// nothing else changes for the other formats (they ask for all).
    fn same_table<T: Named>(items: &[T]) {
        let all: Vec<Value> = items.iter().map(|x| Value::Object(x.to_object())).collect();
        let shown: Vec<Value> = items
            .iter()
            .map(|x| Value::Object(x.to_object_with(Props::TableColumns)))
            .collect();
        let table = render(&all, Format::Table);
        assert!(table.lines().count() >= items.len() + 3, "{table}");
        assert_eq!(render(&shown, Format::Table), table);
        // Fewer properties, so a projection that kept everything would fail here.
        let props = |v: &Value| match v {
            Value::Object(o) => o.props.len(),
            _ => 0,
        };
        assert!(props(&shown[0]) < props(&all[0]));
        assert_eq!(items[0].to_object_with(Props::All), items[0].to_object());
    }

    #[test]
    fn table_columns_only_show_the_same_table() {
        let mut s = SendConnector::new("Out");
        s.address_spaces = vec!["SMTP:*.b.example;2".parse().unwrap()];
        s.domain_secure_enabled = true;
        let mut t = SendConnector::new("Second");
        t.address_spaces = vec!["c.example".parse().unwrap(), "d.example".parse().unwrap()];
        t.enabled = false;
        same_table(&[s, t]);
        same_table(&[ReceiveConnector::with_usage("In", ReceiveUsage::Partner)]);
        same_table(&[AcceptedDomain {
            name: "A".into(),
            domain_name: "a.example".parse().unwrap(),
            domain_type: AcceptedDomainType::Authoritative,
            default: true,
        }]);
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("Out*", "Outbound"));
        assert!(wildcard_match("*", "x"));
        assert!(wildcard_match("o?tbound", "OUTBOUND"));
        assert!(!wildcard_match("In*", "Outbound"));
        assert!(wildcard_match("Outbound", "outbound"));
    }
}
