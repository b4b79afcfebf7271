//! Routing: which send connector carries mail for a recipient domain, and
//! how one message's recipients split into deliveries.
//!
//! Pure: store objects in, decisions out.
//!
//! # Connector choice (Exchange's rule)
//! Among the **enabled** connectors, every address space that matches the
//! recipient domain is a candidate. The most specific address space wins
//! (an exact domain, then the wildcard with the most labels, `*` last; see
//! [`xshell_core::types::DomainPattern::specificity`]), then the lowest cost, then the connector
//! name (case-insensitive) so that the choice never depends on the order of
//! the store.
//!
//! # Grouping
//! A message's recipients are grouped by (connector, next-hop domain). The
//! next-hop domain is the recipient domain, lower-case, for both DNS and
//! smart-host connectors: the TLS policy (Domain Security, TlsDomain) is a
//! property of the recipient domain, so a smart-host connector carrying two
//! domains makes one delivery per domain. This costs a connection per
//! domain and guarantees that a domain in `TLSSendDomainSecureList` is never
//! sent under another domain's policy.

use xshell_core::model::SendConnector;
use xshell_core::types::HostPort;

/// Where a delivery goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Targets {
    /// Look up the MX records of the next-hop domain; connect on `port`.
    Mx { port: u16 },
    /// The connector's smart hosts, in order; a host without a port uses
    /// the connector's port.
    SmartHosts { hosts: Vec<HostPort>, port: u16 },
}

/// One delivery: the recipients of a message that share a connector and a
/// next-hop domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteGroup {
    /// The connector's name.
    pub connector: String,
    /// The recipient domain, lower-case, without a trailing dot.
    pub next_hop_domain: String,
    pub targets: Targets,
    /// The recipients, in the order of the envelope.
    pub recipients: Vec<String>,
}

/// Why a recipient has no route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("'{0}' has no domain part")]
    NoDomain(String),
    #[error("no enabled send connector has an address space for '{0}'")]
    NoConnector(String),
}

/// The recipient domain of an address, lower-case, trailing dot removed,
/// as its A-label ([`xshell_core::idn`]): `jörg@bücher.example` routes,
/// looks up MX records and is checked against the Domain Security lists
/// as `xn--bcher-kva.example`, while the address itself keeps its UTF-8
/// form for an SMTPUTF8 next hop.
pub fn recipient_domain(address: &str) -> Option<String> {
    let (_, domain) = address.rsplit_once('@')?;
    let d = xshell_core::idn::comparison_key(domain.trim_end_matches('.')).into_owned();
    (!d.is_empty()).then_some(d)
}

pub use xshell_core::routing::select_connector;

/// Where a connector sends.
pub fn targets(c: &SendConnector) -> Targets {
    if c.dns_routing_enabled || c.smart_hosts.is_empty() {
        Targets::Mx { port: c.port }
    } else {
        Targets::SmartHosts {
            hosts: c.smart_hosts.clone(),
            port: c.port,
        }
    }
}

/// Groups `recipients` by (connector, next-hop domain). Groups appear in the
/// order of their first recipient; recipients without a route are returned
/// separately with the reason.
pub fn group_recipients<S: AsRef<str>>(
    recipients: &[S],
    connectors: &[SendConnector],
) -> (Vec<RouteGroup>, Vec<(String, RouteError)>) {
    let mut groups: Vec<RouteGroup> = Vec::new();
    let mut unroutable = Vec::new();
    for r in recipients {
        let r = r.as_ref();
        let Some(domain) = recipient_domain(r) else {
            unroutable.push((r.to_string(), RouteError::NoDomain(r.to_string())));
            continue;
        };
        let Some(c) = select_connector(&domain, connectors) else {
            unroutable.push((r.to_string(), RouteError::NoConnector(domain)));
            continue;
        };
        match groups
            .iter_mut()
            .find(|g| g.connector == c.name && g.next_hop_domain == domain)
        {
            Some(g) => g.recipients.push(r.to_string()),
            None => groups.push(RouteGroup {
                connector: c.name.clone(),
                next_hop_domain: domain,
                targets: targets(c),
                recipients: vec![r.to_string()],
            }),
        }
    }
    (groups, unroutable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(name: &str, spaces: &[&str]) -> SendConnector {
        let mut c = SendConnector::new(name);
        c.address_spaces = spaces.iter().map(|s| s.parse().unwrap()).collect();
        c
    }

    fn pick<'a>(d: &str, cs: &'a [SendConnector]) -> Option<&'a str> {
        select_connector(d, cs).map(|c| c.name.as_str())
    }

    #[test]
    fn exact_beats_wildcard_beats_star() {
        let cs = vec![
            conn("Internet", &["*"]),
            conn("Contoso", &["*.contoso.com"]),
            conn("Mail", &["*.mail.contoso.com"]),
            conn("Exact", &["eu.mail.contoso.com;100"]),
        ];
        assert_eq!(pick("eu.mail.contoso.com", &cs), Some("Exact"));
        assert_eq!(pick("us.mail.contoso.com", &cs), Some("Mail"));
        assert_eq!(pick("mail.contoso.com", &cs), Some("Mail"));
        assert_eq!(pick("contoso.com", &cs), Some("Contoso"));
        assert_eq!(pick("Contoso.COM.", &cs), Some("Contoso"));
        assert_eq!(pick("fabrikam.com", &cs), Some("Internet"));
    }

    #[test]
    fn exact_beats_wildcard_with_same_labels() {
        // `*.contoso.com` has 2 labels; `contoso.com` has 2 and is exact.
        let cs = vec![
            conn("Wild", &["*.contoso.com;1"]),
            conn("Exact", &["contoso.com;50"]),
        ];
        assert_eq!(pick("contoso.com", &cs), Some("Exact"));
    }

    #[test]
    fn cost_then_name_break_ties() {
        let cs = vec![
            conn("Zeta", &["contoso.com;5"]),
            conn("Beta", &["contoso.com;2"]),
            conn("alpha", &["contoso.com;2"]),
        ];
        assert_eq!(pick("contoso.com", &cs), Some("alpha"));
        let cs = vec![conn("B", &["contoso.com;3"]), conn("A", &["contoso.com;4"])];
        assert_eq!(pick("contoso.com", &cs), Some("B"));
        // the connector's best space counts, not its first
        let cs = vec![
            conn("A", &["*;1", "contoso.com;9"]),
            conn("B", &["contoso.com;2"]),
        ];
        assert_eq!(pick("contoso.com", &cs), Some("B"));
    }

    #[test]
    fn disabled_and_unmatched() {
        let mut off = conn("Off", &["contoso.com"]);
        off.enabled = false;
        let cs = vec![off, conn("Fab", &["fabrikam.com"])];
        assert_eq!(pick("contoso.com", &cs), None);
    }

    #[test]
    fn groups_by_connector_and_domain() {
        let mut smart = conn("Smart", &["*.relay.example"]);
        smart.dns_routing_enabled = false;
        smart.smart_hosts = vec!["relay.example:2525".parse().unwrap()];
        let cs = vec![conn("Internet", &["*"]), smart];
        let rcpts = [
            "a@OrgB.example",
            "b@orgb.example",
            "c@x.relay.example",
            "d@y.relay.example",
            "nodomain",
            "e@orgc.example",
        ];
        let (groups, bad) = group_recipients(&rcpts, &cs);
        let summary: Vec<(&str, &str, usize)> = groups
            .iter()
            .map(|g| {
                (
                    g.connector.as_str(),
                    g.next_hop_domain.as_str(),
                    g.recipients.len(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("Internet", "orgb.example", 2),
                ("Smart", "x.relay.example", 1),
                ("Smart", "y.relay.example", 1),
                ("Internet", "orgc.example", 1),
            ]
        );
        assert_eq!(groups[0].targets, Targets::Mx { port: 25 });
        assert!(matches!(groups[1].targets, Targets::SmartHosts { .. }));
        assert_eq!(
            bad,
            [(
                "nodomain".to_string(),
                RouteError::NoDomain("nodomain".into())
            )]
        );
        let (_, bad) = group_recipients(&["x@y.example"], &[]);
        assert_eq!(bad[0].1, RouteError::NoConnector("y.example".into()));
    }
}
