//! Converging a configuration to an organization file, and the plan (the
//! difference) shown before it is applied. Pure functions over
//! [`OrgConfig`]: the caller reads the certificate sources first and runs
//! [`converge`] inside the store transaction.

use super::file::{CertEntry, OrgFile, Partial};
use crate::certificate::import::Prepared;
use crate::error::CmdletError;
use crate::named::Named;
use crate::value::Value;
use serde_json::{Map, Value as Json};
use xshell_core::certificates as certs;
use xshell_core::model::{OrgConfig, RuleViolation};

/// A certificate the file references that the store lacks, read from its Source.
pub struct Import {
    pub prepared: Prepared,
    /// The Source path as written in the file (for the plan).
    pub source: String,
    pub exportable: bool,
}

/// The configuration `cur` becomes when the file is applied. Every object is
/// checked with the cmdlets' rules, alone and against the others.
pub fn converge(
    cur: &OrgConfig,
    file: &OrgFile,
    imports: &[Import],
    prune: bool,
) -> Result<OrgConfig, CmdletError> {
    let mut cfg = cur.clone();
    if let Some(t) = &file.transport_config {
        cfg.transport_config = t.0.clone();
    }
    if let Some(t) = &file.transport_service {
        cfg.transport_service = t.0.clone();
    }
    if let Some(list) = &file.transport_services {
        // Per-server settings: by server name, like the named objects.
        if prune {
            cfg.transport_services.retain(|s| {
                list.iter()
                    .any(|l| xshell_core::model::same_server(&l.0.name, &s.name))
            });
        }
        for Partial(s) in list {
            xshell_core::model::check_server_name(&s.name)
                .and_then(|()| s.validate())
                .map_err(|e| about("TransportService", &s.name, CmdletError::Rule(e)))?;
            match cfg
                .transport_services
                .iter()
                .position(|c| xshell_core::model::same_server(&c.name, &s.name))
            {
                Some(i) => cfg.transport_services[i] = s.clone(),
                None => cfg.transport_services.push(s.clone()),
            }
        }
    }
    merge(&mut cfg, file.accepted_domains.as_deref(), prune)?;
    merge(&mut cfg, file.send_connectors.as_deref(), prune)?;
    merge(&mut cfg, file.receive_connectors.as_deref(), prune)?;
    default_accepted_domain(&mut cfg)?;
    if let Some(roots) = &file.trusted_roots {
        let mut wanted = Vec::new();
        for r in roots {
            wanted.push(r.0.to_root().map_err(CmdletError::Failed)?);
        }
        if prune {
            cfg.trusted_roots
                .retain(|t| wanted.iter().any(|w| w.thumbprint == t.thumbprint));
        }
        for w in wanted {
            if !cfg
                .trusted_roots
                .iter()
                .any(|t| t.thumbprint == w.thumbprint)
            {
                cfg.trusted_roots.push(w);
            }
        }
    }
    if let Some(entries) = &file.certificates {
        certificates(&mut cfg, entries, imports)?;
    }
    Ok(cfg)
}

/// Creates or replaces the file's objects of one kind; with `prune`, removes
/// the others. Then checks every object of that kind.
fn merge<T: Named + PartialEq>(
    cfg: &mut OrgConfig,
    items: Option<&[Partial<T>]>,
    prune: bool,
) -> Result<(), CmdletError> {
    let Some(items) = items else {
        return Ok(());
    };
    for (i, a) in items.iter().enumerate() {
        if items[..i].iter().any(|b| same_key(&b.0, &a.0)) {
            return Err(CmdletError::Conflict(format!(
                "the file has two {}s named '{}'",
                T::KIND,
                a.0.name()
            )));
        }
    }
    let list = T::list_mut(cfg);
    if prune {
        list.retain(|x| items.iter().any(|i| same_key(&i.0, x)));
    }
    for item in items {
        match list.iter().position(|x| same_key(x, &item.0)) {
            Some(i) => list[i] = item.0.clone(),
            None => list.push(item.0.clone()),
        }
    }
    for x in T::list(cfg) {
        x.validate()
            .and_then(|()| x.check_against(cfg))
            .map_err(|e| about(T::TYPE, x.name(), e))?;
    }
    Ok(())
}

/// Names the object an error is about.
fn about(type_name: &str, name: &str, e: CmdletError) -> CmdletError {
    match e {
        CmdletError::Rule(r) => CmdletError::Rule(RuleViolation {
            params: r.params,
            message: format!("{type_name} '{name}': {}", r.message),
        }),
        CmdletError::Conflict(m) => CmdletError::Conflict(format!("{type_name} '{name}': {m}")),
        other => other,
    }
}

/// One accepted domain is the default (New-AcceptedDomain makes the first one so).
fn default_accepted_domain(cfg: &mut OrgConfig) -> Result<(), CmdletError> {
    let defaults: Vec<&str> = cfg
        .accepted_domains
        .iter()
        .filter(|d| d.default)
        .map(|d| d.name.as_str())
        .collect();
    if defaults.len() > 1 {
        return Err(CmdletError::Conflict(format!(
            "only one accepted domain can be the Default, not {}",
            defaults.join(" and ")
        )));
    }
    if defaults.is_empty()
        && let Some(first) = cfg.accepted_domains.first_mut()
    {
        first.default = true;
    }
    Ok(())
}

fn certificates(
    cfg: &mut OrgConfig,
    entries: &[Partial<CertEntry>],
    imports: &[Import],
) -> Result<(), CmdletError> {
    // One default SMTP certificate per server.
    for Partial(e) in entries.iter().filter(|e| e.0.default_smtp) {
        let same = |x: &CertEntry| match (&x.server, &e.server) {
            (None, None) => true,
            (Some(a), Some(b)) => xshell_core::model::same_server(a, b),
            _ => false,
        };
        if entries
            .iter()
            .filter(|x| x.0.default_smtp && same(&x.0))
            .count()
            > 1
        {
            return Err(CmdletError::Conflict(format!(
                "only one certificate of a server can have DefaultSmtp: true ({})",
                cfg.owner(e.server.as_deref())
            )));
        }
    }
    for Partial(e) in entries {
        let tp = &e.thumbprint;
        if certs::find(cfg, tp).is_none() {
            let Some(import) = imports.iter().find(|i| i.prepared.thumbprint() == tp) else {
                return Err(CmdletError::Failed(format!(
                    "certificate {tp} is not in the store: set its Source (Path, and PasswordFile \
                     or PasswordEnv) to import it"
                )));
            };
            let plan = import.prepared.plan(cfg);
            import.prepared.apply(
                cfg,
                &plan,
                e.friendly_name.as_ref(),
                import.exportable,
                e.server.as_ref(),
            );
        }
        let Some(i) = certs::find(cfg, tp) else {
            return Err(CmdletError::Failed(format!(
                "certificate {tp} could not be imported"
            )));
        };
        if e.default_smtp {
            let owner = cfg.owner(e.server.as_deref()).to_string();
            let default = cfg.default_server().to_string();
            for c in &mut cfg.certificates {
                if xshell_core::model::same_server(c.server.as_deref().unwrap_or(&default), &owner)
                {
                    c.default_smtp = false;
                }
            }
        }
        let rec = &mut cfg.certificates[i];
        if !e.services.is_empty() {
            if rec.certificate.is_none() {
                return Err(CmdletError::Failed(format!(
                    "certificate {tp} is a pending request: it cannot be enabled for {}",
                    e.services.join(", ")
                )));
            }
            if rec.key_id.is_none() {
                return Err(CmdletError::Failed(format!(
                    "certificate {tp} has no private key, so it cannot be enabled for {}: \
                     import it as a PFX with its key (Source)",
                    e.services.join(", ")
                )));
            }
        }
        rec.services = e.services.clone();
        rec.friendly_name = e.friendly_name.clone();
        rec.server = e.server.clone();
        rec.default_smtp = e.default_smtp;
    }
    Ok(())
}

// ------------------------------------------------------------ the plan

/// The difference between two configurations, one line per change:
/// `+ SendConnector Outbound`, `~ SendConnector Outbound: RequireTLS False -> True`,
/// `- ReceiveConnector Old`.
pub fn diff(cur: &OrgConfig, next: &OrgConfig) -> Vec<String> {
    let mut out = Vec::new();
    props(
        &mut out,
        "TransportConfig",
        &json_map(&cur.transport_config),
        &json_map(&next.transport_config),
    );
    props(
        &mut out,
        "TransportService",
        &json_map(&cur.transport_service),
        &json_map(&next.transport_service),
    );
    for s in next
        .transport_services
        .iter()
        .chain(&cur.transport_services)
    {
        let pick = |list: &[xshell_core::model::TransportService]| {
            list.iter()
                .find(|x| xshell_core::model::same_server(&x.name, &s.name))
                .map(json_map)
                .unwrap_or_default()
        };
        let (c, n) = (
            pick(&cur.transport_services),
            pick(&next.transport_services),
        );
        if out
            .iter()
            .any(|l| l.contains(&format!("TransportService {}", s.name)))
        {
            continue;
        }
        match (c.is_empty(), n.is_empty()) {
            (true, false) => out.push(format!("+ TransportService {}", s.name)),
            (false, true) => out.push(format!("- TransportService {}", s.name)),
            _ => props(&mut out, &format!("TransportService {}", s.name), &c, &n),
        }
    }
    named(&mut out, &cur.accepted_domains, &next.accepted_domains);
    named(&mut out, &cur.send_connectors, &next.send_connectors);
    named(&mut out, &cur.receive_connectors, &next.receive_connectors);
    for r in &next.trusted_roots {
        if !cur
            .trusted_roots
            .iter()
            .any(|c| c.thumbprint == r.thumbprint)
        {
            out.push(format!("+ TrustedRoot {} ({})", r.thumbprint, r.subject));
        }
    }
    for r in &cur.trusted_roots {
        if !next
            .trusted_roots
            .iter()
            .any(|c| c.thumbprint == r.thumbprint)
        {
            out.push(format!("- TrustedRoot {} ({})", r.thumbprint, r.subject));
        }
    }
    let view = |c: &xshell_core::model::CertificateRecord| {
        let mut m = Map::new();
        m.insert(
            "Services".into(),
            Json::from(certs::services_string(&c.services)),
        );
        m.insert("FriendlyName".into(), serde_json::json!(c.friendly_name));
        m.insert("DefaultSmtp".into(), Json::from(c.default_smtp));
        m.insert("HasPrivateKey".into(), Json::from(c.key_id.is_some()));
        m
    };
    for n in &next.certificates {
        match cur
            .certificates
            .iter()
            .find(|c| c.thumbprint == n.thumbprint)
        {
            None => out.push(format!("+ ExchangeCertificate {}", n.thumbprint)),
            Some(c) => props(
                &mut out,
                &format!("ExchangeCertificate {}", n.thumbprint),
                &view(c),
                &view(n),
            ),
        }
    }
    for c in &cur.certificates {
        if !next
            .certificates
            .iter()
            .any(|n| n.thumbprint == c.thumbprint)
        {
            out.push(format!("- ExchangeCertificate {}", c.thumbprint));
        }
    }
    out
}

fn json_map<T: serde::Serialize>(v: &T) -> Map<String, Json> {
    match serde_json::to_value(v) {
        Ok(Json::Object(m)) => m,
        _ => Map::new(),
    }
}

/// A value as the plan shows it: as tables do, `$null` for nothing.
fn show(v: Option<&Json>) -> String {
    match v {
        None | Some(Json::Null) => "$null".into(),
        Some(Json::String(s)) if s.is_empty() => "''".into(),
        Some(Json::Array(a)) if a.is_empty() => "{}".into(),
        Some(v) => Value::from_json(v).to_string(),
    }
}

fn props(out: &mut Vec<String>, what: &str, cur: &Map<String, Json>, next: &Map<String, Json>) {
    for (k, v) in next {
        if cur.get(k) != Some(v) {
            out.push(format!(
                "~ {what}: {k} {} -> {}",
                show(cur.get(k)),
                show(Some(v))
            ));
        }
    }
}

fn named<T: Named + PartialEq>(out: &mut Vec<String>, cur: &[T], next: &[T]) {
    let find = |list: &[T], item: &T| list.iter().find(|x| same_key(*x, item)).cloned();
    let label = |x: &T| match x.server() {
        Some(s) => format!("{s}\\{}", x.name()),
        None => x.name().to_string(),
    };
    for n in next {
        match find(cur, n) {
            None => out.push(format!("+ {} {}", T::TYPE, label(n))),
            Some(c) if c != *n => props(
                out,
                &format!("{} {}", T::TYPE, label(n)),
                &json_map(&c),
                &json_map(n),
            ),
            Some(_) => {}
        }
    }
    for c in cur {
        if find(next, c).is_none() {
            out.push(format!("- {} {}", T::TYPE, label(c)));
        }
    }
}

/// Whether two objects of a kind are the same one: the same name and, for
/// a server-scoped kind, the same server (as stored: none is the default
/// server).
fn same_key<T: Named>(a: &T, b: &T) -> bool {
    a.name().eq_ignore_ascii_case(b.name())
        && match (a.server(), b.server()) {
            (None, None) => true,
            (Some(x), Some(y)) => xshell_core::model::same_server(x, y),
            _ => false,
        }
}
