//! Finding the hosts to deliver to: MX lookup (RFC 5321 section 5.1), the
//! A/AAAA fallback when a domain has no MX, null MX (RFC 7505), and smart
//! hosts.
//!
//! Lookups go through the [`Resolver`] trait: [`HickoryResolver`] queries
//! the configured ExternalDNSServers (`ip[:port]`, plain UDP with TCP on
//! truncation) or, when none are configured, the system's resolvers;
//! [`StaticResolver`] answers from a table (tests, lab setups).
//!
//! # Classification
//! Every lookup error is a [`DnsError`]; [`DnsError::is_permanent`] is the
//! one place that says which are final: NXDOMAIN, a domain with neither MX
//! nor address records, and a null MX are permanent; SERVFAIL, REFUSED,
//! timeouts and network errors are temporary.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use xshell_core::types::HostPort;

/// One MX record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxRecord {
    pub preference: u16,
    /// The exchange, lower-case, no trailing dot; `.` (empty after
    /// trimming) is a null MX.
    pub exchange: String,
}

/// A host to connect to, in delivery order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The MX exchange or smart host name (an IP literal as text for an
    /// address); the name SNI is sent for.
    pub name: String,
    pub preference: u16,
    pub addrs: Vec<SocketAddr>,
}

/// A lookup failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("{name}: the domain does not exist (NXDOMAIN)")]
    NxDomain { name: String },
    #[error("{name}: no MX, A or AAAA records")]
    NoRecords { name: String },
    #[error("{domain} does not accept mail (null MX)")]
    NullMx { domain: String },
    #[error("{name}: no address for any of its mail hosts ({detail})")]
    NoHostAddresses { name: String, detail: String },
    #[error("{name}: DNS lookup failed temporarily: {detail}")]
    Temporary { name: String, detail: String },
}

impl DnsError {
    /// The name the lookup was for.
    pub fn name(&self) -> &str {
        match self {
            DnsError::NxDomain { name }
            | DnsError::NoRecords { name }
            | DnsError::NoHostAddresses { name, .. }
            | DnsError::Temporary { name, .. } => name,
            DnsError::NullMx { domain } => domain,
        }
    }

    /// True when retrying cannot help (see the module docs).
    pub fn is_permanent(&self) -> bool {
        match self {
            DnsError::NxDomain { .. }
            | DnsError::NoRecords { .. }
            | DnsError::NullMx { .. }
            | DnsError::NoHostAddresses { .. } => true,
            DnsError::Temporary { .. } => false,
        }
    }
}

/// DNS lookups the delivery needs.
pub trait Resolver: Send + Sync {
    /// MX records of `domain`. `Err(NoRecords)` when the domain exists
    /// without MX records (the caller falls back to A/AAAA).
    fn mx(&self, domain: &str) -> impl Future<Output = Result<Vec<MxRecord>, DnsError>> + Send;
    /// A and AAAA records of `host`.
    fn ips(&self, host: &str) -> impl Future<Output = Result<Vec<IpAddr>, DnsError>> + Send;
    /// TXT records of `name`, each record's strings joined (RFC 7208 3.3,
    /// RFC 8461 3.1, RFC 8460 3). `Err(NoRecords)` when the name exists
    /// without TXT records.
    fn txt(&self, name: &str) -> impl Future<Output = Result<Vec<String>, DnsError>> + Send;
}

fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Sorts by preference, shuffling records of equal preference (RFC 5321
/// 5.1) with a generator seeded by `seed`.
pub fn order_mx(mut records: Vec<MxRecord>, seed: u64) -> Vec<MxRecord> {
    let mut state = seed;
    // splitmix64: a small, well-mixed sequence from any seed.
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    records.sort_by_key(|r| r.preference);
    let mut start = 0;
    while start < records.len() {
        let pref = records[start].preference;
        let end = records[start..]
            .iter()
            .position(|r| r.preference != pref)
            .map_or(records.len(), |n| start + n);
        let group = &mut records[start..end];
        for i in (1..group.len()).rev() {
            let j = (next() % (i as u64 + 1)) as usize;
            group.swap(i, j);
        }
        start = end;
    }
    records
}

/// A seed that differs per call (for [`order_mx`]).
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(crate::queue::now_ms());
    h.finish()
}

fn sockets(addrs: &[IpAddr], port: u16) -> Vec<SocketAddr> {
    addrs.iter().map(|ip| SocketAddr::new(*ip, port)).collect()
}

/// The hosts for `domain` in delivery order, each with its addresses on
/// `port`: MX records by preference (equal ones shuffled with `seed`), or
/// the domain itself when it has no MX records.
pub async fn resolve_mx<R: Resolver>(
    resolver: &R,
    domain: &str,
    port: u16,
    seed: u64,
) -> Result<Vec<Host>, DnsError> {
    let domain = norm(domain);
    let records = match resolver.mx(&domain).await {
        Ok(r) if r.is_empty() => None,
        Ok(r) => Some(r),
        Err(DnsError::NoRecords { .. }) => None,
        Err(e) => return Err(e),
    };
    let Some(records) = records else {
        // RFC 5321 5.1: no MX, the domain is its own implicit MX.
        let ips = match resolver.ips(&domain).await {
            Ok(ips) if ips.is_empty() => Err(DnsError::NoRecords {
                name: domain.clone(),
            }),
            Ok(ips) => Ok(ips),
            Err(DnsError::NoRecords { .. }) => Err(DnsError::NoRecords {
                name: domain.clone(),
            }),
            Err(e) => Err(e),
        }?;
        return Ok(vec![Host {
            name: domain,
            preference: 0,
            addrs: sockets(&ips, port),
        }]);
    };
    // RFC 7505: a single MX with the root as exchange.
    if records.iter().any(|r| norm(&r.exchange).is_empty()) {
        return Err(DnsError::NullMx { domain });
    }
    let mut hosts = Vec::new();
    let mut errors: Vec<DnsError> = Vec::new();
    for r in order_mx(records, seed) {
        let name = norm(&r.exchange);
        match resolver.ips(&name).await {
            Ok(ips) if !ips.is_empty() => hosts.push(Host {
                addrs: sockets(&ips, port),
                name,
                preference: r.preference,
            }),
            Ok(_) => errors.push(DnsError::NoRecords { name }),
            Err(e) => errors.push(e),
        }
    }
    if hosts.is_empty() {
        let detail = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        if errors.iter().all(DnsError::is_permanent) {
            return Err(DnsError::NoHostAddresses {
                name: domain,
                detail,
            });
        }
        return Err(DnsError::Temporary {
            name: domain,
            detail,
        });
    }
    Ok(hosts)
}

/// The smart hosts in order, each with its addresses (an IP literal needs
/// no lookup; a host without a port uses `default_port`). A host whose
/// lookup fails is skipped; when all fail, the last error is returned
/// (a smart host's failure is always temporary: it is our own relay).
pub async fn resolve_smart_hosts<R: Resolver>(
    resolver: &R,
    hosts: &[HostPort],
    default_port: u16,
) -> Result<Vec<Host>, DnsError> {
    let mut out = Vec::new();
    let mut last = None;
    for h in hosts {
        let port = h.port.unwrap_or(default_port);
        if let Some(ip) = h.ip() {
            out.push(Host {
                name: ip.to_string(),
                preference: 0,
                addrs: vec![SocketAddr::new(ip, port)],
            });
            continue;
        }
        match resolver.ips(&h.host).await {
            Ok(ips) if !ips.is_empty() => out.push(Host {
                name: norm(&h.host),
                preference: 0,
                addrs: sockets(&ips, port),
            }),
            Ok(_) => last = Some(format!("{}: no addresses", h.host)),
            Err(e) => last = Some(e.to_string()),
        }
    }
    if out.is_empty() {
        return Err(DnsError::Temporary {
            name: hosts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            detail: last.unwrap_or_else(|| "no smart hosts".to_string()),
        });
    }
    Ok(out)
}

// ------------------------------------------------------------------ hickory

/// The resolver over hickory (see the module docs).
#[derive(Clone)]
pub struct HickoryResolver {
    inner: hickory_resolver::TokioResolver,
}

impl std::fmt::Debug for HickoryResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HickoryResolver")
    }
}

/// The resolver could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ResolverSetupError {
    #[error("DNS server '{0}' is not an IP address (ExternalDNSServers takes ip[:port])")]
    NotAnAddress(String),
    #[error("cannot read the system's DNS configuration: {0}")]
    System(String),
    #[error("cannot build the DNS resolver: {0}")]
    Build(String),
}

impl HickoryResolver {
    /// Queries `servers` (ExternalDNSServers), or the system's resolvers
    /// when the list is empty. `timeout` bounds one query; `attempts` is how
    /// many times a query is tried.
    pub fn new(
        servers: &[HostPort],
        timeout: Duration,
        attempts: usize,
    ) -> Result<Self, ResolverSetupError> {
        let mut builder = resolver_builder(servers)?;
        let opts = builder.options_mut();
        opts.timeout = timeout;
        opts.attempts = attempts.max(1);
        // Names are absolute: never append a search domain.
        opts.ndots = 0;
        let inner = builder
            .build()
            .map_err(|e| ResolverSetupError::Build(e.to_string()))?;
        Ok(HickoryResolver { inner })
    }
}

/// A hickory resolver builder querying `servers` (ExternalDNSServers,
/// `ip[:port]`, UDP with TCP on truncation), or the system's resolvers
/// when the list is empty: the plain resolver's and the DNSSEC one's.
pub(crate) fn resolver_builder(
    servers: &[HostPort],
) -> Result<
    hickory_resolver::ResolverBuilder<hickory_resolver::net::runtime::TokioRuntimeProvider>,
    ResolverSetupError,
> {
    use hickory_resolver::config::{NameServerConfig, ResolverConfig};
    use hickory_resolver::net::runtime::TokioRuntimeProvider;
    if servers.is_empty() {
        return hickory_resolver::TokioResolver::builder_tokio()
            .map_err(|e| ResolverSetupError::System(e.to_string()));
    }
    let mut config = ResolverConfig::default();
    for s in servers {
        let ip = s
            .ip()
            .ok_or_else(|| ResolverSetupError::NotAnAddress(s.to_string()))?;
        let mut ns = NameServerConfig::udp_and_tcp(ip);
        for c in &mut ns.connections {
            c.port = s.port.unwrap_or(53);
        }
        config.name_servers.push(ns);
    }
    Ok(hickory_resolver::TokioResolver::builder_with_config(
        config,
        TokioRuntimeProvider::default(),
    ))
}

/// The one mapping of hickory's errors onto [`DnsError`].
fn classify_hickory(name: &str, e: hickory_resolver::net::NetError) -> DnsError {
    use hickory_resolver::net::{DnsError as HDns, NetError};
    use hickory_resolver::proto::op::ResponseCode;
    match &e {
        NetError::Dns(HDns::NoRecordsFound(nr)) if nr.response_code == ResponseCode::NXDomain => {
            DnsError::NxDomain {
                name: name.to_string(),
            }
        }
        NetError::Dns(HDns::NoRecordsFound(_)) => DnsError::NoRecords {
            name: name.to_string(),
        },
        NetError::Dns(HDns::ResponseCode(ResponseCode::NXDomain)) => DnsError::NxDomain {
            name: name.to_string(),
        },
        _ => DnsError::Temporary {
            name: name.to_string(),
            detail: e.to_string(),
        },
    }
}

/// A fully qualified query name (trailing dot: no search list).
fn fqdn(name: &str) -> String {
    format!("{}.", norm(name))
}

impl Resolver for HickoryResolver {
    async fn mx(&self, domain: &str) -> Result<Vec<MxRecord>, DnsError> {
        use hickory_resolver::proto::rr::RData;
        let lookup = self
            .inner
            .mx_lookup(fqdn(domain))
            .await
            .map_err(|e| classify_hickory(domain, e))?;
        Ok(lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::MX(mx) => Some(MxRecord {
                    preference: mx.preference,
                    exchange: norm(&mx.exchange.to_ascii()),
                }),
                _ => None,
            })
            .collect())
    }

    async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        let lookup = self
            .inner
            .lookup_ip(fqdn(host))
            .await
            .map_err(|e| classify_hickory(host, e))?;
        Ok(lookup.iter().collect())
    }

    async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let lookup = self
            .inner
            .txt_lookup(fqdn(name))
            .await
            .map_err(|e| classify_hickory(name, e))?;
        use hickory_resolver::proto::rr::RData;
        Ok(lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|part| String::from_utf8_lossy(part))
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect())
    }
}

// ------------------------------------------------------------------ static

/// Answers from tables (tests, labs). A name missing from a table is
/// NXDOMAIN.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    pub mx: HashMap<String, Result<Vec<MxRecord>, DnsError>>,
    pub ips: HashMap<String, Result<Vec<IpAddr>, DnsError>>,
    pub txt: HashMap<String, Result<Vec<String>, DnsError>>,
}

impl StaticResolver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an MX record.
    pub fn with_mx(mut self, domain: &str, preference: u16, exchange: &str) -> Self {
        if let Ok(list) = self
            .mx
            .entry(norm(domain))
            .or_insert_with(|| Ok(Vec::new()))
        {
            list.push(MxRecord {
                preference,
                exchange: norm(exchange),
            });
        }
        self
    }

    /// Adds addresses of a host.
    pub fn with_ips(mut self, host: &str, ips: &[IpAddr]) -> Self {
        self.ips.insert(norm(host), Ok(ips.to_vec()));
        self
    }

    /// Adds a TXT record.
    pub fn with_txt(mut self, name: &str, text: &str) -> Self {
        if let Ok(list) = self.txt.entry(norm(name)).or_insert_with(|| Ok(Vec::new())) {
            list.push(text.to_string());
        }
        self
    }

    /// Makes lookups of `name` fail with `error` (both tables).
    pub fn with_error(mut self, name: &str, error: DnsError) -> Self {
        self.mx.insert(norm(name), Err(error.clone()));
        self.ips.insert(norm(name), Err(error));
        self
    }

    fn nx(name: &str) -> DnsError {
        DnsError::NxDomain {
            name: name.to_string(),
        }
    }
}

impl Resolver for StaticResolver {
    async fn mx(&self, domain: &str) -> Result<Vec<MxRecord>, DnsError> {
        match self.mx.get(&norm(domain)) {
            Some(r) => r.clone(),
            // the domain exists if it has addresses
            None if self.ips.contains_key(&norm(domain)) => Err(DnsError::NoRecords {
                name: domain.to_string(),
            }),
            None => Err(Self::nx(domain)),
        }
    }

    async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        match self.ips.get(&norm(host)) {
            Some(r) => r.clone(),
            None if self.mx.contains_key(&norm(host)) => Err(DnsError::NoRecords {
                name: host.to_string(),
            }),
            None => Err(Self::nx(host)),
        }
    }

    async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        match self.txt.get(&norm(name)) {
            Some(r) => r.clone(),
            None => Err(Self::nx(name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn order_sorts_and_shuffles_equal_preferences() {
        let recs: Vec<MxRecord> = [(20, "c"), (10, "a1"), (10, "a2"), (10, "a3"), (30, "d")]
            .iter()
            .map(|(p, e)| MxRecord {
                preference: *p,
                exchange: e.to_string(),
            })
            .collect();
        let mut firsts = std::collections::HashSet::new();
        for seed in 0..64 {
            let o = order_mx(recs.clone(), seed);
            let prefs: Vec<u16> = o.iter().map(|r| r.preference).collect();
            assert_eq!(prefs, [10, 10, 10, 20, 30]);
            assert_eq!(o[3].exchange, "c");
            firsts.insert(o[0].exchange.clone());
        }
        assert_eq!(
            firsts.len(),
            3,
            "every equal-preference host leads sometimes"
        );
    }

    #[test]
    fn mx_then_fallback_then_failures() {
        let r = StaticResolver::new()
            .with_mx("orgb.example", 20, "mx2.orgb.example")
            .with_mx("orgb.example", 10, "MX1.orgb.example.")
            .with_ips("mx1.orgb.example", &[ip("192.0.2.1"), ip("2001:db8::1")])
            .with_ips("mx2.orgb.example", &[ip("192.0.2.2")])
            .with_ips("nomx.example", &[ip("192.0.2.9")])
            .with_mx("null.example", 0, ".")
            .with_mx("dangling.example", 10, "gone.example")
            .with_error(
                "flaky.example",
                DnsError::Temporary {
                    name: "flaky.example".into(),
                    detail: "SERVFAIL".into(),
                },
            );
        let hosts = block_on(resolve_mx(&r, "OrgB.Example", 25, 1)).unwrap();
        let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["mx1.orgb.example", "mx2.orgb.example"]);
        assert_eq!(hosts[0].addrs.len(), 2);
        assert_eq!(hosts[0].addrs[0].port(), 25);

        let hosts = block_on(resolve_mx(&r, "nomx.example", 2525, 1)).unwrap();
        assert_eq!(hosts[0].name, "nomx.example");
        assert_eq!(hosts[0].addrs, ["192.0.2.9:2525".parse().unwrap()]);

        let e = block_on(resolve_mx(&r, "null.example", 25, 1)).unwrap_err();
        assert!(matches!(e, DnsError::NullMx { .. }) && e.is_permanent());
        let e = block_on(resolve_mx(&r, "nowhere.example", 25, 1)).unwrap_err();
        assert!(matches!(e, DnsError::NxDomain { .. }) && e.is_permanent());
        let e = block_on(resolve_mx(&r, "flaky.example", 25, 1)).unwrap_err();
        assert!(!e.is_permanent());
        let e = block_on(resolve_mx(&r, "dangling.example", 25, 1)).unwrap_err();
        assert!(matches!(e, DnsError::NoHostAddresses { .. }) && e.is_permanent());
    }

    #[test]
    fn smart_hosts() {
        let r = StaticResolver::new().with_ips("relay.example", &[ip("192.0.2.5")]);
        let hosts: Vec<HostPort> = ["gone.example", "relay.example", "[::1]:2525"]
            .iter()
            .map(|h| h.parse().unwrap())
            .collect();
        let out = block_on(resolve_smart_hosts(&r, &hosts, 25)).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].addrs, ["192.0.2.5:25".parse().unwrap()]);
        assert_eq!(out[1].addrs, ["[::1]:2525".parse().unwrap()]);
        let e = block_on(resolve_smart_hosts(&r, &hosts[..1], 25)).unwrap_err();
        assert!(!e.is_permanent());
    }
}
