//! DANE for SMTP (RFC 7672) on send connectors with SmtpDaneMode
//! Opportunistic or Mandatory.
//!
//! # Lookups ([`look_up`], RFC 7672 section 2.2)
//! Through the validating [`DnssecResolver`]: the MX records of the
//! next-hop domain (none: the domain is its own implicit MX), each MX
//! host's A/AAAA records and its `_25._tcp.<host>` TLSA records.
//!
//! * a bogus or unvalidatable answer, or a failed lookup, of the MX records
//!   **defers** (`451 4.7.5`), in both modes: an attacker who can forge DNS
//!   answers must not be able to turn DANE off (RFC 7672 section 2.1.1);
//! * an MX host whose address or TLSA lookup is bogus or fails is not used
//!   (RFC 7672 section 2.2.1); when no host is left, the message defers;
//! * an insecure (unsigned) MX RRset or address: no DANE, the next policy
//!   applies (MTA-STS, RequireTLS, opportunistic) and the reason says so;
//!   Mandatory defers instead;
//! * usable TLSA records (DANE-TA(2), DANE-EE(3); selector 0/1; matching
//!   0/1/2) at one or more hosts: [`TlsPolicy::Dane`] for the next hop, and
//!   only those hosts are tried (a host of the same domain without TLSA
//!   records is not a fallback: xshell is stricter than RFC 7672 2.2 here);
//! * TLSA records that are all unusable (e.g. PKIX-EE(1)): like none, but
//!   TLS stays mandatory (RFC 7672 section 3.1.3, unauthenticated TLS);
//!   Mandatory defers.
//!
//! # Matching ([`verify`], RFC 7672 section 3)
//! DANE-EE(3) matches the server certificate (selector 0) or its public key
//! (selector 1), exactly or by SHA-256/SHA-512; names and validity dates are
//! ignored (section 3.1.1). DANE-TA(2) matches a certificate of the chain
//! the server sent; the server certificate must then chain to it (dates
//! checked) and carry the MX host name or the next-hop domain (section
//! 3.2.2). A certificate matching no record fails the handshake: the
//! message is deferred with `454 4.7.5` naming the host, the certificate's
//! key digest and the records.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use xshell_core::model::SmtpDaneMode;
use xshell_core::pki::cert::parse_certificate;
use xshell_core::pki::names::name_matches;
use xshell_core::types::HostPort;

use crate::dns::{Host, MxRecord, ResolverSetupError, order_mx, random_seed};
use crate::dnssec::{DnssecError, DnssecResolver, Tlsa};

/// An MX host with usable TLSA records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaneHost {
    /// Lower-case, no trailing dot: the TLSA base domain and the name the
    /// DANE-TA check uses.
    pub name: String,
    pub preference: u16,
    pub addrs: Vec<IpAddr>,
    /// The usable records only.
    pub tlsa: Vec<Tlsa>,
}

/// What [`TlsPolicy::Dane`](super::tls::TlsPolicy::Dane) authenticates the
/// next hop with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaneHosts {
    /// The next-hop domain (lower-case).
    pub domain: String,
    /// In delivery order.
    pub hosts: Vec<DaneHost>,
}

impl DaneHosts {
    /// The hosts to connect to, on `port`.
    pub fn targets(&self, port: u16) -> Vec<Host> {
        self.hosts
            .iter()
            .map(|h| Host {
                name: h.name.clone(),
                preference: h.preference,
                addrs: h
                    .addrs
                    .iter()
                    .map(|ip| SocketAddr::new(*ip, port))
                    .collect(),
            })
            .collect()
    }

    /// RFC 8460 section 4.3 `policy-string`: each TLSA record in
    /// presentation format.
    pub fn policy_strings(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for t in self.hosts.iter().flat_map(|h| &h.tlsa) {
            let s = t.to_string();
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }
}

/// What the DANE lookups found for a next hop (in
/// [`PolicyInputs::dane`](super::tls::PolicyInputs)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaneInput {
    /// Usable TLSA records: DANE applies.
    Verified(Arc<DaneHosts>),
    /// TLSA records exist, none usable: TLS without authentication is
    /// still mandatory (RFC 7672 section 3.1.3).
    EncryptOnly,
    /// Do not send: bogus DNSSEC or failed lookups (TLS reports:
    /// `dnssec-invalid`); the reason names the domain or host.
    Refuse(String),
    /// Do not send: SmtpDaneMode Mandatory and no usable records (TLS
    /// reports: `dane-required`).
    Required(String),
}

/// The validating resolver for these servers and trust anchor, kept
/// between batches (its cache with it).
#[derive(Default)]
pub(crate) struct ResolverSlot(std::sync::Mutex<Option<(SlotKey, DnssecResolver)>>);

/// ExternalDNSServers and DnssecTrustAnchorFile.
type SlotKey = (Vec<HostPort>, Option<PathBuf>);

impl ResolverSlot {
    pub(crate) fn get(
        &self,
        servers: &[HostPort],
        anchor: Option<&PathBuf>,
    ) -> Result<DnssecResolver, ResolverSetupError> {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let key = (servers.to_vec(), anchor.cloned());
        if let Some((k, r)) = slot.as_ref()
            && *k == key
        {
            return Ok(r.clone());
        }
        let r = DnssecResolver::new(
            servers,
            anchor.map(PathBuf::as_path),
            Duration::from_secs(5),
            2,
        )?;
        *slot = Some((key, r.clone()));
        Ok(r)
    }
}

/// The DANE lookups for `domain` under `mode` (see the module docs).
/// `None`: DANE does not apply; `notes` says why when the administrator
/// should know.
pub async fn look_up(
    resolver: &DnssecResolver,
    domain: &str,
    mode: SmtpDaneMode,
    notes: &mut Vec<String>,
) -> Option<DaneInput> {
    if mode == SmtpDaneMode::None {
        return None;
    }
    let mandatory = mode == SmtpDaneMode::Mandatory;
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    // No usable DANE: Mandatory refuses, Opportunistic notes and goes on.
    let without = |why: String, notes: &mut Vec<String>| {
        if mandatory {
            Some(DaneInput::Required(format!(
                "{why}; SmtpDaneMode is Mandatory"
            )))
        } else {
            notes.push(format!("DANE: {why}"));
            None
        }
    };
    let mx = match resolver.mx(&domain).await {
        Ok(mx) => mx,
        // The ordinary lookup reports it (permanent).
        Err(DnssecError::NxDomain { .. }) => {
            notes.push(format!("DANE: {domain} does not exist"));
            return None;
        }
        Err(e) => return Some(DaneInput::Refuse(e.to_string())),
    };
    let names: Vec<MxRecord> = if mx.records.is_empty() {
        // RFC 5321 5.1: the domain is its own MX (RFC 7672 2.2.1).
        vec![MxRecord {
            preference: 0,
            exchange: domain.clone(),
        }]
    } else if !mx.secure {
        return without(
            format!("{domain} is not DNSSEC-signed (insecure MX records)"),
            notes,
        );
    } else if mx.records.iter().any(|r| r.exchange.is_empty()) {
        // null MX: the ordinary lookup reports it
        return None;
    } else {
        order_mx(mx.records, random_seed())
    };
    let mut hosts = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut insecure: Vec<String> = Vec::new();
    let mut unusable: Vec<String> = Vec::new();
    for r in names {
        let host = r.exchange;
        let ips = match resolver.ips(&host).await {
            Ok(ips) if ips.records.is_empty() => continue,
            Ok(ips) if !ips.secure => {
                // RFC 7672 2.2.2: no TLSA lookup for an insecure address.
                insecure.push(host);
                continue;
            }
            Ok(ips) => ips.records,
            Err(DnssecError::NxDomain { .. }) => continue,
            Err(e) => {
                failures.push(e.to_string());
                continue;
            }
        };
        let tlsa = match resolver.tlsa(&format!("_25._tcp.{host}")).await {
            Ok(t) if t.records.is_empty() || !t.secure => {
                insecure.push(host);
                continue;
            }
            Ok(t) => t.records,
            Err(DnssecError::NxDomain { .. }) => {
                insecure.push(host);
                continue;
            }
            Err(e) => {
                failures.push(e.to_string());
                continue;
            }
        };
        let usable: Vec<Tlsa> = tlsa.into_iter().filter(Tlsa::is_usable).collect();
        if usable.is_empty() {
            unusable.push(host);
            continue;
        }
        hosts.push(DaneHost {
            name: host,
            preference: r.preference,
            addrs: ips,
            tlsa: usable,
        });
    }
    if !hosts.is_empty() {
        // The other hosts are not fallbacks (see the module docs).
        let skipped: Vec<String> = insecure.into_iter().chain(unusable).collect();
        if !skipped.is_empty() {
            notes.push(format!(
                "DANE: not using {} (no usable DNSSEC-signed TLSA records)",
                skipped.join(", ")
            ));
        }
        for f in failures {
            notes.push(format!("DANE: host not used: {f}"));
        }
        return Some(DaneInput::Verified(Arc::new(DaneHosts { domain, hosts })));
    }
    if let Some(first) = failures.into_iter().next() {
        return Some(DaneInput::Refuse(first));
    }
    if !unusable.is_empty() {
        let why = format!(
            "the TLSA records of {} are all unusable for SMTP (only DANE-TA(2) and DANE-EE(3) count)",
            unusable.join(", ")
        );
        if mandatory {
            return Some(DaneInput::Required(format!(
                "{why}; SmtpDaneMode is Mandatory"
            )));
        }
        notes.push(format!(
            "DANE: {why}; TLS is required without authentication"
        ));
        return Some(DaneInput::EncryptOnly);
    }
    if insecure.is_empty() {
        return without(format!("no address for the MX hosts of {domain}"), notes);
    }
    without(
        format!("no DNSSEC-signed TLSA records for {}", insecure.join(", ")),
        notes,
    )
}

/// The DANE lookups of one next hop, into `inputs` (MX routing only; a
/// connector with smart hosts cannot have SmtpDaneMode). Logged: what an
/// administrator reads when mail waits.
pub(crate) async fn for_hop(
    lookups: &super::lookups::PolicyLookups,
    rt: &crate::config::RuntimeConfig,
    connector: &xshell_core::model::SendConnector,
    domain: &str,
    targets: &crate::routing::Targets,
    inputs: &mut super::tls::PolicyInputs,
) {
    if connector.smtp_dane_mode == SmtpDaneMode::None
        || !matches!(targets, crate::routing::Targets::Mx { .. })
    {
        return;
    }
    let input = match lookups
        .dnssec
        .get(&rt.send.dns_servers, rt.send.dnssec_trust_anchor.as_ref())
    {
        Ok(resolver) => {
            look_up(
                &resolver,
                domain,
                connector.smtp_dane_mode,
                &mut inputs.notes,
            )
            .await
        }
        Err(e) => Some(DaneInput::Refuse(format!(
            "cannot set up DNSSEC validation: {e}"
        ))),
    };
    match &input {
        Some(DaneInput::Verified(d)) => {
            tracing::info!(
                next_hop = %domain,
                hosts = %d.hosts.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(","),
                tlsa = %d.policy_strings().join("; "),
                "DANE: usable TLSA records; the MX hosts are authenticated by them"
            );
            for n in &inputs.notes {
                tracing::info!(next_hop = %domain, note = %n, "DANE: hosts not used");
            }
        }
        Some(DaneInput::Refuse(reason) | DaneInput::Required(reason)) => {
            tracing::warn!(next_hop = %domain, %reason, "DANE: not sending")
        }
        Some(DaneInput::EncryptOnly) | None => {
            for n in &inputs.notes {
                tracing::info!(next_hop = %domain, note = %n, "DANE does not apply");
            }
        }
    }
    inputs.dane = input;
}

/// The hosts to connect to under a DANE policy: the validated MX hosts
/// with usable TLSA records, on the connector's port.
pub fn targets(
    policy: &super::tls::TlsPolicy,
    targets: &crate::routing::Targets,
) -> Option<Vec<Host>> {
    match (policy, targets) {
        (super::tls::TlsPolicy::Dane(d), crate::routing::Targets::Mx { port }) => {
            Some(d.targets(*port))
        }
        _ => None,
    }
}

/// The next hop presented a certificate DANE does not accept.
#[derive(Debug, thiserror::Error)]
#[error("DANE: {host}: {detail}")]
pub struct DaneMismatch {
    pub host: String,
    pub detail: String,
}

fn digest(matching: u8, data: &[u8]) -> Option<Vec<u8>> {
    use aws_lc_rs::digest::{SHA256, SHA512, digest};
    match matching {
        0 => Some(data.to_vec()),
        1 => Some(digest(&SHA256, data).as_ref().to_vec()),
        2 => Some(digest(&SHA512, data).as_ref().to_vec()),
        _ => None,
    }
}

/// Whether `cert` (DER) matches `t` (selector and matching type).
fn matches(t: &Tlsa, cert: &[u8]) -> bool {
    let selected = match t.selector {
        0 => cert.to_vec(),
        1 => match parse_certificate(cert) {
            Ok(info) => info.spki_der,
            Err(_) => return false,
        },
        _ => return false,
    };
    digest(t.matching, &selected).is_some_and(|d| d == t.data)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02X}")).collect()
}

/// Checks the server's chain against the TLSA records of the host it was
/// sent for (`server_name`: the MX host name; see the module docs).
pub fn verify(
    dane: &DaneHosts,
    server_name: &ServerName<'_>,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    now: UnixTime,
    provider: &Arc<CryptoProvider>,
) -> Result<(), DaneMismatch> {
    let name = match server_name {
        ServerName::DnsName(n) => n.as_ref().trim_end_matches('.').to_ascii_lowercase(),
        other => format!("{other:?}"),
    };
    let fail = |detail: String| DaneMismatch {
        host: name.clone(),
        detail,
    };
    let Some(host) = dane.hosts.iter().find(|h| h.name == name) else {
        return Err(fail("no TLSA records for this host".into()));
    };
    // DANE-EE(3): the server certificate itself; nothing else is checked.
    if host
        .tlsa
        .iter()
        .any(|t| t.usage == 3 && matches(t, end_entity.as_ref()))
    {
        return Ok(());
    }
    // DANE-TA(2): a certificate the server sent is the trust anchor.
    let mut ta_problem = None;
    for ta in intermediates {
        if !host
            .tlsa
            .iter()
            .any(|t| t.usage == 2 && matches(t, ta.as_ref()))
        {
            continue;
        }
        match chain_to(ta, end_entity, intermediates, server_name, now, provider) {
            Ok(names_ok) => {
                if names_ok || name_ok(end_entity, &dane.domain) {
                    return Ok(());
                }
                ta_problem = Some(format!(
                    "the certificate chains to the DANE-TA(2) trust anchor but names neither {name} nor {} (RFC 7672 3.2.2)",
                    dane.domain
                ));
            }
            Err(e) => {
                ta_problem = Some(format!(
                    "the certificate does not chain to the DANE-TA(2) trust anchor: {e}"
                ))
            }
        }
    }
    if let Some(p) = ta_problem {
        return Err(fail(p));
    }
    let (subject, spki) = match parse_certificate(end_entity.as_ref()) {
        Ok(info) => (
            info.subject,
            digest(1, &info.spki_der)
                .map(|d| hex(&d))
                .unwrap_or_default(),
        ),
        Err(_) => ("(unparsable)".to_string(), String::new()),
    };
    let records: Vec<String> = host.tlsa.iter().map(ToString::to_string).collect();
    Err(fail(format!(
        "the certificate ({subject}, SPKI SHA-256 {spki}) matches none of the TLSA records at _25._tcp.{name} ({})",
        records.join("; ")
    )))
}

/// Validates the chain from `end_entity` to `ta`; `Ok(true)` when the
/// certificate also carries the MX host name.
fn chain_to(
    ta: &CertificateDer<'_>,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    server_name: &ServerName<'_>,
    now: UnixTime,
    provider: &Arc<CryptoProvider>,
) -> Result<bool, String> {
    let mut roots = RootCertStore::empty();
    roots
        .add(ta.clone().into_owned())
        .map_err(|e| e.to_string())?;
    let v = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| e.to_string())?;
    match v.verify_server_cert(end_entity, intermediates, server_name, &[], now) {
        Ok(_) => Ok(true),
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName
            | rustls::CertificateError::NotValidForNameContext { .. },
        )) => Ok(false),
        Err(e) => Err(e.to_string()),
    }
}

/// The certificate's SAN DNS names include `domain` (RFC 7672 3.2.2: the
/// next-hop domain is a reference identifier too).
fn name_ok(end_entity: &CertificateDer<'_>, domain: &str) -> bool {
    parse_certificate(end_entity.as_ref())
        .is_ok_and(|info| name_matches(&info.dns_names, None, domain, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use xshell_core::pki::dn::SubjectName;
    use xshell_core::pki::keys::{KeyAlgorithm, generate};
    use xshell_core::pki::selfsigned::create_self_signed;

    fn cert(name: &str) -> CertificateDer<'static> {
        let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
        let subject = SubjectName::from_cn(name).unwrap();
        CertificateDer::from(create_self_signed(&subject, &[name.to_string()], &key).unwrap())
    }

    fn hosts(tlsa: Vec<Tlsa>) -> DaneHosts {
        DaneHosts {
            domain: "orgb.example".into(),
            hosts: vec![DaneHost {
                name: "mx.orgb.example".into(),
                preference: 10,
                addrs: vec![],
                tlsa,
            }],
        }
    }

    #[test]
    fn dane_ee_matches_key_or_certificate_and_ignores_names() {
        let c = cert("somewhere.else.example");
        let spki = parse_certificate(c.as_ref()).unwrap().spki_der;
        let provider = super::super::tls::provider();
        let sn = ServerName::try_from("mx.orgb.example").unwrap();
        let now = UnixTime::now();
        for (selector, matching, data) in [
            (1, 1, digest(1, &spki).unwrap()),
            (1, 2, digest(2, &spki).unwrap()),
            (0, 0, c.as_ref().to_vec()),
            (0, 1, digest(1, c.as_ref()).unwrap()),
        ] {
            let d = hosts(vec![Tlsa {
                usage: 3,
                selector,
                matching,
                data,
            }]);
            assert!(verify(&d, &sn, &c, &[], now, &provider).is_ok());
        }
        let other = cert("mx.orgb.example");
        let d = hosts(vec![Tlsa {
            usage: 3,
            selector: 1,
            matching: 1,
            data: digest(1, &spki).unwrap(),
        }]);
        let e = verify(&d, &sn, &other, &[], now, &provider).unwrap_err();
        assert!(e.to_string().contains("mx.orgb.example"), "{e}");
        assert!(
            e.to_string().contains("matches none of the TLSA records"),
            "{e}"
        );
        // a host the records are not for
        let sn2 = ServerName::try_from("mx2.orgb.example").unwrap();
        assert!(verify(&d, &sn2, &c, &[], now, &provider).is_err());
        assert_eq!(d.policy_strings().len(), 1);
        assert!(d.policy_strings()[0].starts_with("3 1 1 "));
    }
}
