//! MTA-STS (RFC 8461) for the send connectors with `MtaStsMode`
//! Opportunistic or Mandatory.
//!
//! Before a next hop's TLS policy is decided ([`super::tls::decide_with`]),
//! [`look_up`] finds the domain's policy:
//!
//! 1. the `_mta-sts.<domain>` TXT record through the engine's resolver
//!    (ExternalDNSServers): exactly one record starting with `v=STSv1`,
//!    with a valid `id` (RFC 8461 3.1), else the domain has none;
//! 2. the policy from the cache (in memory, and one JSON file per domain
//!    in the state folder's `mta-sts/`, so a restart keeps it: RFC 8461
//!    5.1) while it is unexpired (`max_age` from its fetch) and the TXT
//!    `id` is the one it was fetched under;
//! 3. else fetched from `https://mta-sts.<domain>/.well-known/mta-sts.txt`
//!    with [`crate::https`]: the certificate validated against the
//!    MTA-STS trust store (TransportService `MtaStsTrustedRootsPath`,
//!    default the system's bundle) and valid for `mta-sts.<domain>`, no
//!    redirects, at most 64 KB, `200` and `text/plain` only (RFC 8461
//!    3.3). A fetch that fails keeps an unexpired cached policy in use
//!    (RFC 8461 5.1, 10.2); without one the domain is treated as having no
//!    policy (RFC 8461 5).
//!
//! Under `mode: enforce` only the MX hosts matching an `mx` pattern are
//! used ([`filter_hosts`], RFC 8461 4.1), STARTTLS is required and the MX
//! certificate must chain to the trust store and carry the MX host name in
//! a SAN (RFC 8461 4.2); a failure defers. `mode: testing` sends as without
//! the policy; what would have failed is logged and kept in the hop's
//! policy reason (for TLS-RPT and tracking). `mode: none` is no policy.
//! `MtaStsMode Mandatory` defers a domain without a policy in enforce mode.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use xshell_core::model::MtaStsMode;
use xshell_core::tlsrpt::ResultType;

use super::tls::{
    AppliedPolicy, PolicyInputs, PolicyKind, PolicyRefusal, TlsMaterial, TlsPolicy, TlsSetupError,
    provider,
};
use crate::dns::{DnsError, Host, Resolver};

/// RFC 8461 3.3: policy bodies larger than 64 KB are refused.
pub const MAX_POLICY_SIZE: usize = 64 * 1024;
/// RFC 8461 3.2: the largest `max_age` (one year).
pub const MAX_AGE_LIMIT: u64 = 31_557_600;
/// How long a policy fetch may take (RFC 8461 3.3 suggests a timeout).
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

/// A policy's `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Enforce,
    Testing,
    None,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

/// A parsed policy (RFC 8461 3.2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    pub mode: Mode,
    /// MX patterns, lower case: a host name, or `*.` and a domain (one
    /// label).
    pub mx: Vec<String>,
    /// Seconds, at most [`MAX_AGE_LIMIT`].
    pub max_age: u64,
}

impl Policy {
    /// Parses a policy body: `key: value` lines (LF or CRLF); `version:
    /// STSv1`, `mode` and `max_age` required, `mx` at least once unless
    /// the mode is none; unknown keys ignored; of a repeated key other
    /// than `mx` the first counts. The error says what is wrong.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let mut version = None;
        let mut mode = None;
        let mut max_age = None;
        let mut mx = Vec::new();
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                return Err(format!("line '{line}' is not 'key: value'"));
            };
            let value = value.trim();
            match key.trim() {
                "version" => {
                    version.get_or_insert(value.to_string());
                }
                "mode" => {
                    mode.get_or_insert(value.to_string());
                }
                "max_age" => {
                    max_age.get_or_insert(value.to_string());
                }
                "mx" => mx.push(value.trim_end_matches('.').to_ascii_lowercase()),
                _ => {}
            }
        }
        if version.as_deref() != Some("STSv1") {
            return Err(format!(
                "version is {}, not STSv1",
                version.map_or("missing".into(), |v| format!("'{v}'"))
            ));
        }
        let mode = match mode.as_deref() {
            Some("enforce") => Mode::Enforce,
            Some("testing") => Mode::Testing,
            Some("none") => Mode::None,
            Some(m) => return Err(format!("mode '{m}' is not enforce, testing or none")),
            None => return Err("mode is missing".into()),
        };
        let max_age = match max_age.as_deref() {
            Some(v) if !v.is_empty() && v.len() <= 10 && v.bytes().all(|b| b.is_ascii_digit()) => {
                // RFC 8461 3.2: 1*10DIGIT, at most 31557600; a larger value
                // is capped.
                v.parse::<u64>().unwrap_or(MAX_AGE_LIMIT).min(MAX_AGE_LIMIT)
            }
            Some(v) => return Err(format!("max_age '{v}' is not a number of seconds")),
            None => return Err("max_age is missing".into()),
        };
        if let Some(bad) = mx.iter().find(|p| !valid_pattern(p)) {
            return Err(format!("mx '{bad}' is not a host name or *.domain"));
        }
        if mx.is_empty() && mode != Mode::None {
            return Err("no mx pattern".into());
        }
        Ok(Policy { mode, mx, max_age })
    }

    /// RFC 8461 4.1: whether MX host `host` matches one of the patterns;
    /// `*.example.com` matches exactly one label more.
    pub fn mx_matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(base) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == base),
            None => *p == host,
        })
    }

    /// RFC 8460 4.3 `policy-string`: the policy's lines.
    pub fn policy_strings(&self) -> Vec<String> {
        let mut out = vec![
            "version: STSv1".to_string(),
            format!("mode: {}", self.mode.as_str()),
        ];
        out.extend(self.mx.iter().map(|m| format!("mx: {m}")));
        out.push(format!("max_age: {}", self.max_age));
        out
    }
}

fn valid_pattern(p: &str) -> bool {
    let name = p.strip_prefix("*.").unwrap_or(p);
    !name.is_empty()
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// RFC 8461 3.1: the `id` of the one `v=STSv1` record among `records`;
/// the error says why there is none.
pub fn parse_txt(records: &[String]) -> Result<String, String> {
    let sts: Vec<&String> = records
        .iter()
        .filter(|r| r.starts_with("v=STSv1;") || r.as_str() == "v=STSv1")
        .collect();
    let record = match sts.as_slice() {
        [one] => *one,
        [] => return Err("no TXT record starts with v=STSv1".into()),
        more => {
            return Err(format!(
                "{} TXT records start with v=STSv1 (exactly one is allowed)",
                more.len()
            ));
        }
    };
    let mut id = None;
    for field in record.split(';').skip(1) {
        let field = field.trim_matches(|c| c == ' ' || c == '\t');
        if field.is_empty() {
            continue;
        }
        let Some((k, v)) = field.split_once('=') else {
            return Err(format!("the record '{record}' has a field without '='"));
        };
        if k == "id" && id.is_none() {
            id = Some(v.to_string());
        }
    }
    match id {
        Some(id)
            if !id.is_empty()
                && id.len() <= 32
                && id.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            Ok(id)
        }
        Some(id) => Err(format!(
            "the record's id '{id}' is not 1 to 32 letters and digits"
        )),
        None => Err(format!("the record '{record}' has no id")),
    }
}

// ------------------------------------------------------------------ cache

/// A policy as cached.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cached {
    /// The TXT record's id it was fetched under.
    pub id: String,
    pub policy: Policy,
    /// When it was fetched, Unix seconds.
    pub fetched: u64,
}

impl Cached {
    pub fn expired(&self, now: u64) -> bool {
        now >= self.fetched.saturating_add(self.policy.max_age)
    }
}

/// The policies by domain: in memory and, when a folder is given, one
/// file each there (written atomically), read back after a restart.
#[derive(Debug, Default)]
pub struct Cache {
    dir: Option<PathBuf>,
    mem: Mutex<HashMap<String, Cached>>,
}

impl Cache {
    /// `dir`: where policies are persisted (None: memory only).
    pub fn new(dir: Option<PathBuf>) -> Cache {
        Cache {
            dir,
            mem: Mutex::new(HashMap::new()),
        }
    }

    fn file(&self, domain: &str) -> Option<PathBuf> {
        // Only names that are safe as a file name (a domain as routed is).
        let safe = !domain.is_empty()
            && !domain.starts_with('.')
            && domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        self.dir
            .as_ref()
            .filter(|_| safe)
            .map(|d| d.join(format!("{domain}.json")))
    }

    /// The cached policy of `domain`, expired or not.
    pub fn get(&self, domain: &str) -> Option<Cached> {
        let mut mem = self.mem.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = mem.get(domain) {
            return Some(c.clone());
        }
        let c: Cached = serde_json::from_slice(&std::fs::read(self.file(domain)?).ok()?).ok()?;
        mem.insert(domain.to_string(), c.clone());
        Some(c)
    }

    /// Keeps `c` as `domain`'s policy. A file that cannot be written is
    /// logged; the policy stays in memory.
    pub fn put(&self, domain: &str, c: Cached) {
        if let Some(path) = self.file(domain)
            && let Err(e) = write_atomically(&path, &c)
        {
            tracing::warn!(domain = %domain, path = %path.display(), error = %e, "MTA-STS: cannot persist the policy cache");
        }
        self.mem
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(domain.to_string(), c);
    }
}

fn write_atomically(path: &Path, c: &Cached) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(c).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(&tmp, path)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

// ------------------------------------------------------------------ lookup

/// What MTA-STS found for a next hop ([`PolicyInputs::mta_sts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtaStsInput {
    /// The connector's MtaStsMode is Mandatory.
    pub mandatory: bool,
    /// The domain's policy (mode enforce or testing), if it has one.
    pub policy: Option<Policy>,
    /// Why there is no policy, or what was odd (e.g. the cached policy
    /// was used because the fetch failed).
    pub note: Option<String>,
    /// The domain announced a policy (its TXT record) that could not be
    /// fetched or was invalid, and no cached one stood in: what TLS
    /// reports say (`sts-policy-fetch-error`, `sts-policy-invalid`,
    /// `sts-webpki-invalid`).
    pub failure: Option<ResultType>,
}

/// What the look-up found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The domain has no usable policy, and why; with the TLS-report
    /// failure when it announced one that could not be had (RFC 8460
    /// 4.3.2.2).
    NoPolicy(String, Option<ResultType>),
    /// The policy, and what to say about how it was found.
    Policy(Policy, Option<String>),
}

/// The MTA-STS settings the send side compiled (see
/// [`crate::config::SendRuntime`]).
#[derive(Debug, Clone, Default)]
pub struct MtaStsRuntime {
    /// The trust store (MtaStsTrustedRootsPath).
    pub roots: Arc<Vec<CertificateDer<'static>>>,
}

impl MtaStsRuntime {
    /// Reads the trust store from `path` (None: the system's bundle);
    /// what is wrong goes to `notes`.
    pub fn load(path: Option<&str>, notes: &mut Vec<String>) -> MtaStsRuntime {
        use rustls::pki_types::pem::PemObject;
        let path = path.unwrap_or(xshell_core::model::DEFAULT_MTA_STS_TRUSTED_ROOTS);
        let roots: Vec<CertificateDer<'static>> = match CertificateDer::pem_file_iter(path) {
            Ok(it) => it.filter_map(Result::ok).collect(),
            Err(e) => {
                notes.push(format!(
                    "MtaStsTrustedRootsPath '{path}' cannot be read ({e}): MTA-STS policies cannot be fetched and MTA-STS enforce deliveries will be deferred"
                ));
                Vec::new()
            }
        };
        MtaStsRuntime {
            roots: Arc::new(roots),
        }
    }
}

fn root_store(roots: &[CertificateDer<'static>]) -> Result<RootCertStore, TlsSetupError> {
    let mut store = RootCertStore::empty();
    for r in roots {
        // A root rustls cannot parse anchors nothing.
        let _ = store.add(r.clone());
    }
    if store.is_empty() {
        return Err(TlsSetupError::NoTrustedRoots);
    }
    Ok(store)
}

/// Finds `domain`'s policy (see the module docs).
pub async fn find<R: Resolver>(
    resolver: &R,
    cache: &Cache,
    rt: &MtaStsRuntime,
    domain: &str,
) -> Found {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let now = now_secs();
    let cached = cache.get(&domain).filter(|c| !c.expired(now));
    let use_cached = |c: Cached, why: String| {
        tracing::info!(domain = %domain, id = %c.id, mode = %c.policy.mode.as_str(), "MTA-STS: {why}; using the cached policy");
        Found::Policy(
            c.policy.clone(),
            Some(format!("{why}; the cached policy id {} was used", c.id)),
        )
    };
    let id = match resolver.txt(&format!("_mta-sts.{domain}")).await {
        Ok(records) => parse_txt(&records),
        Err(DnsError::NoRecords { .. } | DnsError::NxDomain { .. }) => {
            Err("no _mta-sts TXT record".to_string())
        }
        Err(e) => {
            let why = format!("the _mta-sts TXT lookup failed: {e}");
            return match cached {
                Some(c) => use_cached(c, why),
                None => Found::NoPolicy(why, None),
            };
        }
    };
    let id = match (id, cached) {
        (Ok(id), Some(c)) if c.id == id => return Found::Policy(c.policy, None),
        (Ok(id), _) => id,
        // RFC 8461 5.1: without a valid record, an unexpired cached
        // policy still applies.
        (Err(why), Some(c)) => return use_cached(c, why),
        (Err(why), None) => return Found::NoPolicy(why, None),
    };
    match fetch(resolver, rt, &domain).await {
        Ok(policy) => {
            tracing::info!(domain = %domain, id = %id, mode = %policy.mode.as_str(), max_age = policy.max_age, mx = ?policy.mx, "MTA-STS: policy fetched");
            cache.put(
                &domain,
                Cached {
                    id,
                    policy: policy.clone(),
                    fetched: now,
                },
            );
            Found::Policy(policy, None)
        }
        Err(e) => {
            let why = format!("the policy could not be fetched: {}", e.detail);
            tracing::warn!(domain = %domain, "MTA-STS: {why}");
            // RFC 8461 5.1: a fetch failure keeps the unexpired policy.
            match cache.get(&domain).filter(|c| !c.expired(now)) {
                Some(c) => use_cached(c, why),
                None => Found::NoPolicy(why, Some(e.result)),
            }
        }
    }
}

/// GET `https://mta-sts.<domain>/.well-known/mta-sts.txt` (RFC 8461 3.3).
async fn fetch<R: Resolver>(
    resolver: &R,
    rt: &MtaStsRuntime,
    domain: &str,
) -> Result<Policy, FetchFailure> {
    let failed = |result: ResultType| move |detail: String| FetchFailure { result, detail };
    let fetch_error = failed(ResultType::StsPolicyFetchError);
    let invalid = failed(ResultType::StsPolicyInvalid);
    let roots = root_store(&rt.roots).map_err(|e| fetch_error(e.to_string()))?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| fetch_error(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let url = format!("https://mta-sts.{domain}/.well-known/mta-sts.txt");
    let r = crate::https::get(
        resolver,
        Arc::new(config),
        &url,
        crate::https::Limits {
            timeout: FETCH_TIMEOUT,
            max_body: MAX_POLICY_SIZE,
        },
    )
    .await
    .map_err(|e| match e {
        // The policy host could not be authenticated (RFC 8460 4.3.2.2).
        crate::https::HttpsError::Tls { .. } => failed(ResultType::StsWebpkiInvalid)(e.to_string()),
        e => fetch_error(e.to_string()),
    })?;
    if r.status != 200 {
        return Err(fetch_error(format!(
            "{url}: HTTP status {} (only 200 is accepted)",
            r.status
        )));
    }
    let media = r
        .content_type
        .as_deref()
        .map(|t| t.split(';').next().unwrap_or("").trim().to_string());
    if media.as_deref() != Some("text/plain") {
        return Err(invalid(format!(
            "{url}: Content-Type {} is not text/plain",
            media.unwrap_or_else(|| "missing".into())
        )));
    }
    let text = std::str::from_utf8(&r.body)
        .map_err(|_| invalid(format!("{url}: the policy is not UTF-8")))?;
    Policy::parse(text).map_err(|e| invalid(format!("{url}: {e}")))
}

/// Why a policy could not be had, and what TLS reports call it.
#[derive(Debug, Clone)]
struct FetchFailure {
    result: ResultType,
    detail: String,
}

/// Looks up the policy of `domain` when the connector's MtaStsMode asks
/// for it and fills `inputs.mta_sts` and its note. `resolver` None: the
/// resolver could not be set up (the MX lookup reports it).
pub async fn look_up<R: Resolver>(
    mode: MtaStsMode,
    resolver: Option<&R>,
    cache: &Cache,
    rt: &MtaStsRuntime,
    domain: &str,
    inputs: &mut PolicyInputs,
) {
    let Some(resolver) = resolver.filter(|_| mode != MtaStsMode::None) else {
        return;
    };
    let mandatory = mode == MtaStsMode::Mandatory;
    let (policy, note, failure) = match find(resolver, cache, rt, domain).await {
        Found::Policy(p, _) if p.mode == Mode::None => {
            (None, Some("policy mode is none".into()), None)
        }
        Found::Policy(p, note) => (Some(p), note, None),
        Found::NoPolicy(why, failure) => (None, Some(why), failure),
    };
    if let Some(n) = &note {
        inputs.notes.push(format!("MTA-STS: {n}"));
    }
    inputs.mta_sts = Some(MtaStsInput {
        mandatory,
        policy,
        note,
        failure,
    });
}

/// The policy [`super::tls::decide_with`] picks from what MTA-STS found,
/// after Domain Security and DANE: `Ok(None)` when MTA-STS does not
/// decide (no policy, or testing mode under a connector rule that is
/// stronger than sending as without it).
pub fn decide(
    domain: &str,
    input: Option<&MtaStsInput>,
    plain_without: bool,
) -> Result<Option<TlsPolicy>, PolicyRefusal> {
    let Some(input) = input else {
        return Ok(None);
    };
    match input.policy.as_ref().map(|p| p.mode) {
        Some(Mode::Enforce) => Ok(Some(TlsPolicy::MtaSts { enforce: true })),
        _ if input.mandatory => Err(PolicyRefusal::MtaStsRequired {
            domain: domain.to_string(),
            why: match (&input.policy, &input.note) {
                (Some(p), _) => format!("its policy is in {} mode", p.mode.as_str()),
                (None, Some(n)) => n.clone(),
                (None, None) => "it has no policy".into(),
            },
        }),
        // Testing: sent as without the policy (opportunistic), checked
        // and reported.
        Some(Mode::Testing) if !plain_without => Ok(Some(TlsPolicy::MtaSts { enforce: false })),
        _ => Ok(None),
    }
}

/// Under an MTA-STS policy the MX hosts it lists (RFC 8461 4.1): enforce
/// uses only those (none: refused); testing uses all and notes those that
/// do not match. Fills `applied.policy_strings`.
pub fn filter_hosts(
    domain: &str,
    policy: &TlsPolicy,
    inputs: &PolicyInputs,
    hosts: Vec<Host>,
    applied: &mut AppliedPolicy,
) -> Result<Vec<Host>, PolicyRefusal> {
    let (TlsPolicy::MtaSts { enforce }, Some(p)) = (
        policy,
        inputs.mta_sts.as_ref().and_then(|i| i.policy.as_ref()),
    ) else {
        return Ok(hosts);
    };
    applied.policy_strings = p.policy_strings();
    let (matching, other): (Vec<Host>, Vec<Host>) =
        hosts.iter().cloned().partition(|h| p.mx_matches(&h.name));
    if other.is_empty() {
        return Ok(hosts);
    }
    let names: Vec<&str> = other.iter().map(|h| h.name.as_str()).collect();
    if !*enforce {
        let note = format!(
            "MTA-STS testing: MX {} not in the policy of {domain}",
            names.join(", ")
        );
        tracing::warn!(domain = %domain, "{note}; sent anyway (testing mode)");
        applied.add_reason(&note);
        return Ok(hosts);
    }
    if matching.is_empty() {
        return Err(PolicyRefusal::MtaStsNoMatchingMx {
            domain: domain.to_string(),
            hosts: names.join(", "),
            patterns: p.mx.join(", "),
        });
    }
    tracing::info!(domain = %domain, skipped = ?names, "MTA-STS enforce: MX hosts not in the policy are not used");
    Ok(matching)
}

/// What a testing-mode session's certificate check found (RFC 8461 5:
/// reported, never blocking). Only a testing-mode configuration
/// ([`client_config`] with it) arms it.
#[derive(Debug, Clone, Default)]
pub struct Recorder(
    Arc<Mutex<Vec<(String, ResultType)>>>,
    Arc<std::sync::atomic::AtomicBool>,
);

impl Recorder {
    /// The failures seen so far.
    pub fn failures(&self) -> Vec<String> {
        let seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.iter().map(|(f, _)| f.clone()).collect()
    }

    /// What TLS reports call the first failure seen (RFC 8460 4.3.1).
    pub fn result(&self) -> Option<ResultType> {
        let seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.first().map(|(_, r)| *r)
    }

    /// Keeps `failure`; false when it was already kept.
    fn record(&self, failure: String, result: ResultType) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let new = !seen.iter().any(|(f, _)| *f == failure);
        if new {
            seen.push((failure, result));
        }
        new
    }

    /// Adds what it found to `applied`'s reason. `plaintext`: the host a
    /// session went to without TLS (the MX did not offer STARTTLS, which
    /// the policy would have refused).
    pub fn report(&self, plaintext: Option<&String>, applied: &mut AppliedPolicy) {
        let armed = self.1.load(std::sync::atomic::Ordering::Relaxed);
        if let Some(host) = plaintext.filter(|_| armed)
            && self.record(
                format!("{host}: STARTTLS not offered"),
                ResultType::StarttlsNotSupported,
            )
        {
            tracing::warn!(host = %host, "MTA-STS testing: the MX did not offer STARTTLS; sent in plaintext");
        }
        for f in self.failures() {
            applied.add_reason(&format!("MTA-STS testing: {f}"));
        }
    }
}

/// The rustls configuration of an MTA-STS policy: the chain to the MTA-STS
/// trust store and the MX host name (the connection's server name) in a
/// SAN (RFC 8461 4.2). Enforce fails the handshake; testing (`recorder`)
/// accepts and records. TlsRemoteCertificateName still applies.
pub fn client_config(
    enforce: bool,
    material: &TlsMaterial,
    recorder: Option<Recorder>,
) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let provider = provider();
    let chain = match root_store(&material.mta_sts_roots) {
        Ok(roots) => Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| TlsSetupError::Rustls(rustls::Error::General(e.to_string())))?,
        ),
        Err(e) if enforce => return Err(e),
        // testing: every certificate fails the check, and is recorded
        Err(_) => None,
    };
    let recorder = (!enforce).then(|| recorder.unwrap_or_default());
    if let Some(r) = &recorder {
        r.1.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let verifier = Arc::new(StsVerifier {
        chain,
        recorder,
        pin: material.pin.clone(),
        provider: provider.clone(),
    });
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    Ok(Arc::new(match &material.client {
        Some(id) => builder.with_client_auth_cert(id.chain.clone(), id.key.clone_key())?,
        None => builder.with_no_client_auth(),
    }))
}

#[derive(Debug)]
struct StsVerifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    /// Testing mode: failures are recorded, not raised.
    recorder: Option<Recorder>,
    pin: Option<super::tls::RemotePin>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for StsVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let checked = match &self.chain {
            Some(v) => v
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map(|_| ()),
            None => Err(rustls::Error::General(
                "no MTA-STS trusted roots are configured".into(),
            )),
        };
        match (checked, &self.recorder) {
            (Ok(()), _) => {}
            (Err(e), Some(r)) => {
                let host = server_name.to_str();
                tracing::warn!(host = %host, error = %e, "MTA-STS testing: the MX certificate fails the policy; sent anyway");
                let reason = crate::metrics::TlsFailure::of_rustls(&e);
                let result =
                    crate::tlsrpt::certificate_result(Some(PolicyKind::MtaStsTesting), reason);
                r.record(format!("{host}: {e}"), result);
            }
            (Err(e), None) => return Err(e),
        }
        if let Some(pin) = &self.pin {
            pin.check(end_entity)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_as_rfc_8461_3_2_says() {
        let p = Policy::parse(
            "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.Example.NET\r\nmax_age: 604800\r\nextra: ignored\r\n",
        )
        .unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.mx, vec!["mail.example.com", "*.example.net"]);
        assert_eq!(p.max_age, 604_800);
        assert_eq!(
            p.policy_strings(),
            vec![
                "version: STSv1",
                "mode: enforce",
                "mx: mail.example.com",
                "mx: *.example.net",
                "max_age: 604800"
            ]
        );
        // wildcards: exactly one label
        assert!(p.mx_matches("MAIL.example.com."));
        assert!(p.mx_matches("mx1.example.net"));
        assert!(!p.mx_matches("example.net"));
        assert!(!p.mx_matches("a.b.example.net"));
        assert!(!p.mx_matches("mail.example.org"));
        // LF only, a max_age beyond a year capped
        let p =
            Policy::parse("version: STSv1\nmode: testing\nmx: a.b\nmax_age: 9999999999\n").unwrap();
        assert_eq!((p.mode, p.max_age), (Mode::Testing, MAX_AGE_LIMIT));
        assert!(Policy::parse("version: STSv1\nmode: none\nmax_age: 1\n").is_ok());
        for (bad, why) in [
            ("mode: enforce\nmx: a.b\nmax_age: 1", "version"),
            (
                "version: STSv2\nmode: enforce\nmx: a.b\nmax_age: 1",
                "version",
            ),
            ("version: STSv1\nmode: block\nmx: a.b\nmax_age: 1", "mode"),
            ("version: STSv1\nmode: enforce\nmax_age: 1", "mx"),
            (
                "version: STSv1\nmode: enforce\nmx: a.b\nmax_age: -1",
                "max_age",
            ),
            ("version: STSv1\nmode: enforce\nmx: a.b", "max_age"),
            ("version: STSv1\nmode: enforce\nmx: a b\nmax_age: 1", "mx"),
            ("<html>", "key: value"),
        ] {
            let e = Policy::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn exactly_one_valid_txt_record() {
        let r = |v: &[&str]| parse_txt(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(r(&["v=STSv1; id=20260101T00;"]).unwrap(), "20260101T00");
        assert_eq!(r(&["v=spf1 -all", "v=STSv1;id=abc"]).unwrap(), "abc");
        assert!(r(&[]).unwrap_err().contains("no TXT record"));
        assert!(
            r(&["v=STSv1; id=a;", "v=STSv1; id=b;"])
                .unwrap_err()
                .contains("2 TXT")
        );
        assert!(
            r(&["v=STSv1; id=a-b;"])
                .unwrap_err()
                .contains("letters and digits")
        );
        assert!(r(&["v=STSv1;"]).unwrap_err().contains("no id"));
        assert!(r(&["v=STSv10; id=a;"]).is_err());
    }

    #[test]
    fn the_cache_survives_a_restart_and_expires() {
        let dir = std::env::temp_dir().join(format!("xshell-sts-{}", std::process::id()));
        let c = Cached {
            id: "1".into(),
            policy: Policy {
                mode: Mode::Enforce,
                mx: vec!["mx.a.example".into()],
                max_age: 10,
            },
            fetched: 100,
        };
        Cache::new(Some(dir.clone())).put("a.example", c.clone());
        let again = Cache::new(Some(dir.clone()));
        assert_eq!(again.get("a.example"), Some(c.clone()));
        assert!(!c.expired(109) && c.expired(110));
        // a name unfit for a file stays in memory only
        again.put("../x", c.clone());
        assert!(Cache::new(Some(dir.clone())).get("../x").is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    fn inputs(mode: Mode) -> PolicyInputs {
        PolicyInputs {
            mta_sts: Some(MtaStsInput {
                mandatory: false,
                failure: None,
                policy: Some(Policy {
                    mode,
                    mx: vec!["*.a.example".into()],
                    max_age: 60,
                }),
                note: None,
            }),
            ..PolicyInputs::default()
        }
    }

    #[test]
    fn precedence_after_domain_security_before_require_tls() {
        use super::super::tls::{PolicyKind, decide_with};
        use xshell_smtp::client::StartTlsMode;
        let mut c = xshell_core::model::SendConnector::new("Out");
        c.address_spaces = vec!["*".parse().unwrap()];
        c.domain_secure_enabled = true;
        let ds = vec!["a.example".parse().unwrap()];
        let enforce = inputs(Mode::Enforce);
        let testing = inputs(Mode::Testing);
        assert_eq!(
            decide_with("a.example", &c, &ds, false, &enforce).unwrap(),
            TlsPolicy::DomainSecure {
                domain: "a.example".into()
            }
        );
        c.require_tls = true;
        let p = decide_with("a.example", &c, &[], false, &enforce).unwrap();
        assert_eq!(p, TlsPolicy::MtaSts { enforce: true });
        assert_eq!(p.kind(), PolicyKind::MtaStsEnforce);
        assert!(p.verifies_peer() && p.starttls() == StartTlsMode::Required);
        // testing never weakens RequireTLS
        assert!(matches!(
            decide_with("a.example", &c, &[], false, &testing).unwrap(),
            TlsPolicy::Required { .. }
        ));
        c.require_tls = false;
        let p = decide_with("a.example", &c, &[], false, &testing).unwrap();
        assert_eq!(p.kind(), PolicyKind::MtaStsTesting);
        assert!(!p.verifies_peer() && p.starttls() == StartTlsMode::IfOffered);
        // after a failed opportunistic handshake: plaintext, as without it
        assert_eq!(
            decide_with("a.example", &c, &[], true, &testing).unwrap(),
            TlsPolicy::Plaintext
        );
        // enforce is never plaintext
        assert_eq!(
            decide_with("a.example", &c, &[], true, &enforce).unwrap(),
            TlsPolicy::MtaSts { enforce: true }
        );
    }

    #[test]
    fn only_listed_mx_hosts_under_enforce() {
        let host = |n: &str| Host {
            name: n.into(),
            preference: 10,
            addrs: vec!["127.0.0.1:25".parse().unwrap()],
        };
        let hosts = vec![host("mx1.a.example"), host("mx.other.example")];
        let enforce = TlsPolicy::MtaSts { enforce: true };
        let mut applied = AppliedPolicy::default();
        let kept = filter_hosts(
            "a.example",
            &enforce,
            &inputs(Mode::Enforce),
            hosts.clone(),
            &mut applied,
        )
        .unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].name, "mx1.a.example");
        assert_eq!(applied.policy_strings[1], "mode: enforce");
        let e = filter_hosts(
            "a.example",
            &enforce,
            &inputs(Mode::Enforce),
            vec![host("mx.other.example")],
            &mut applied,
        )
        .unwrap_err();
        assert!(e.to_string().contains("MX mx.other.example"), "{e}");
        // testing: every host, the mismatch noted
        let mut applied = AppliedPolicy::default();
        let testing = TlsPolicy::MtaSts { enforce: false };
        let kept = filter_hosts(
            "a.example",
            &testing,
            &inputs(Mode::Testing),
            hosts,
            &mut applied,
        )
        .unwrap();
        assert_eq!(kept.len(), 2);
        assert!(
            applied
                .reason
                .unwrap()
                .contains("mx.other.example not in the policy")
        );
    }

    #[test]
    fn mandatory_without_enforce_is_refused() {
        let input = |mode: Option<Mode>, mandatory| MtaStsInput {
            mandatory,
            failure: None,
            policy: mode.map(|mode| Policy {
                mode,
                mx: vec!["a.b".into()],
                max_age: 1,
            }),
            note: Some("no _mta-sts TXT record".into()),
        };
        let d = |i: &MtaStsInput, plain| decide("a.example", Some(i), plain);
        assert_eq!(
            d(&input(Some(Mode::Enforce), true), true),
            Ok(Some(TlsPolicy::MtaSts { enforce: true }))
        );
        assert_eq!(
            d(&input(Some(Mode::Testing), false), false),
            Ok(Some(TlsPolicy::MtaSts { enforce: false }))
        );
        assert_eq!(d(&input(Some(Mode::Testing), false), true), Ok(None));
        assert_eq!(d(&input(None, false), false), Ok(None));
        let e = d(&input(None, true), false).unwrap_err();
        assert!(e.to_string().contains("no _mta-sts TXT record"), "{e}");
        let e = d(&input(Some(Mode::Testing), true), false).unwrap_err();
        assert!(e.to_string().contains("testing mode"), "{e}");
    }
}
