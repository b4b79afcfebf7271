//! The config compiler: store objects in, runtime structures out.
//!
//! [`RuntimeConfig::compile`] is the only place that reads the
//! administrator's objects ([`OrgConfig`]); sessions only see what it
//! produced: per receive connector a [`ConnectorRuntime`] (the SMTP
//! [`SessionConfig`], the rustls configuration with the selected
//! certificate, limits, timeouts, policy switches), and organization-wide
//! the accepted domains, the Domain Security receive list and the trust
//! material. A compiled configuration is immutable; the engine swaps in a
//! new one when the store changes and every session keeps the one it
//! started with.
//!
//! Compiling never fails: what cannot be used (a certificate whose key is
//! missing, a connector without a certificate) is left out and explained
//! in [`RuntimeConfig::notes`], which the engine logs.

use std::collections::{BTreeSet, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use time::OffsetDateTime;
use xshell_core::certificates;
use xshell_core::model::{
    AcceptedDomainType, AuthMechanism, CertificateRecord, OrgConfig, PermissionGroup,
    ProtocolLoggingLevel, ReceiveConnector, SenderCertificateName, TransportService,
    parse_tls_certificate_name,
};
use xshell_core::pki::cert::parse_certificate;
use xshell_core::pki::select::{self, Candidate, SelectOptions, select_certificates};
use xshell_core::store::Backend;
use xshell_core::types::{DomainPattern, IpRange, Limit, SizeLimit};

use crate::protolog::{LogKind, LogSettings};
use crate::tls::{self, TrustContext};
use xshell_smtp::SessionConfig;

mod lifecycle;
mod send;
pub use lifecycle::{CertificateCheck, CheckLevel, certificate_checks};
pub use send::{SendConnectorRuntime, SendRuntime};

/// Largest message when every limit says Unlimited (the session holds a
/// message in memory).
pub const UNLIMITED_MESSAGE_SIZE: u64 = 2 * 1024 * 1024 * 1024;

/// Where the transport keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// QueueDatabasePath, else `<store>/queue`.
    pub queue: PathBuf,
    /// MailboxRootPath, else `<store>/mailboxes`.
    pub mailboxes: PathBuf,
    /// MessageTrackingLogPath (a folder; the file is `tracking.jsonl` in
    /// it), else `<store>/log/tracking.jsonl`; `None` when tracking is off.
    pub tracking_log: Option<PathBuf>,
}

/// Where the protocol logs go and how much of them is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolLogSettings {
    /// ReceiveProtocolLogPath, else `<store>/log/ProtocolLog/SmtpReceive`.
    pub receive: Arc<LogSettings>,
    /// SendProtocolLogPath, else `<store>/log/ProtocolLog/SmtpSend`.
    pub send: Arc<LogSettings>,
}

impl ProtocolLogSettings {
    pub fn resolve(svc: &TransportService, state_dir: &Path) -> Self {
        let log_dir = state_dir.join("log");
        let one = |kind: LogKind,
                   path: &Option<String>,
                   age: xshell_core::types::TimeSpan,
                   dir_size: SizeLimit,
                   file_size: SizeLimit| {
            Arc::new(LogSettings {
                dir: path
                    .as_deref()
                    .filter(|s| !s.trim().is_empty())
                    .map_or_else(|| kind.default_folder(&log_dir), PathBuf::from),
                max_age: (age.as_secs() > 0).then(|| Duration::from_secs(age.as_secs())),
                max_directory_size: dir_size.bytes(),
                max_file_size: file_size.bytes(),
            })
        };
        ProtocolLogSettings {
            receive: one(
                LogKind::Receive,
                &svc.receive_protocol_log_path,
                svc.receive_protocol_log_max_age,
                svc.receive_protocol_log_max_directory_size,
                svc.receive_protocol_log_max_file_size,
            ),
            send: one(
                LogKind::Send,
                &svc.send_protocol_log_path,
                svc.send_protocol_log_max_age,
                svc.send_protocol_log_max_directory_size,
                svc.send_protocol_log_max_file_size,
            ),
        }
    }
}

/// The subject of a stored certificate, for the protocol log.
pub fn certificate_subject(rec: &CertificateRecord) -> Option<String> {
    certificates::certificate_der(rec)
        .ok()
        .flatten()
        .and_then(|d| parse_certificate(&d).ok())
        .map(|i| i.subject)
}

impl Paths {
    /// The paths for `cfg` with the store's local folder `state_dir`.
    pub fn resolve(cfg: &OrgConfig, state_dir: &Path) -> Paths {
        let svc = &cfg.transport_service;
        let or = |p: &Option<String>, default: PathBuf| {
            p.as_deref()
                .filter(|s| !s.trim().is_empty())
                .map_or(default, PathBuf::from)
        };
        let tracking_log = svc.message_tracking_log_enabled.then(|| {
            or(&svc.message_tracking_log_path, state_dir.join("log")).join("tracking.jsonl")
        });
        Paths {
            queue: or(&svc.queue_database_path, state_dir.join("queue")),
            mailboxes: or(&svc.mailbox_root_path, state_dir.join("mailboxes")),
            tracking_log,
        }
    }
}

/// One receive connector, compiled.
#[derive(Debug)]
pub struct ConnectorRuntime {
    pub name: String,
    pub bindings: Vec<SocketAddr>,
    pub remote_ip_ranges: Vec<IpRange>,
    /// Greeting, EHLO name, limits, STARTTLS offered, RequireTLS.
    pub session: Arc<SessionConfig>,
    /// The STARTTLS configuration; `None`: STARTTLS is not offered.
    pub tls: Option<Arc<ServerConfig>>,
    /// Thumbprint of the certificate STARTTLS presents.
    pub certificate: Option<String>,
    /// Its subject (for the protocol log).
    pub certificate_subject: Option<String>,
    /// ProtocolLoggingLevel Verbose: sessions are written to the receive
    /// protocol log.
    pub protocol_logging: bool,
    /// Whether STARTTLS asks for a (never required) client certificate.
    pub requests_client_certificate: bool,
    pub domain_secure_enabled: bool,
    /// RestrictDomainsToCertificate: these sender domains only with that
    /// certificate.
    pub sender_restriction: Option<SenderRestriction>,
    /// PermissionGroups has AnonymousUsers: unauthenticated senders may
    /// submit.
    pub anonymous_allowed: bool,
    /// Direct Trust may authenticate a client on this connector (it grants
    /// ExchangeServers or offers ExchangeServer authentication). Elsewhere
    /// our own certificate, presented by a client, grants nothing.
    pub direct_trust: bool,
    /// AuthMechanism ExternalAuthoritative with the ExchangeServers
    /// permission: the connection is secured by external means (a trusted
    /// network), every session on it is Internal and may relay.
    pub externally_secured: bool,
    /// Simultaneous connections from one address (MaxInboundConnectionPerSource).
    pub max_inbound_connection_per_source: Limit,
    /// Simultaneous connections to the connector (MaxInboundConnection).
    pub max_inbound_connection: Limit,
    /// Messages per minute from one address (MessageRateLimit).
    pub message_rate_limit: Limit,
    /// Delay before refusing a recipient of an unauthenticated sender.
    pub tarpit_interval: Duration,
    /// Received fields a message may carry (MaxHopCount).
    pub max_hop_count: usize,
    pub connection_timeout: Duration,
    pub connection_inactivity_timeout: Duration,
}

impl ConnectorRuntime {
    /// Whether this connector listens on `local` (exactly, or through a
    /// wildcard binding with the same port and family); `Some(true)` for
    /// an exact match.
    fn binding_match(&self, local: SocketAddr) -> Option<bool> {
        let local_ip = canonical_ip(local.ip());
        let mut best = None;
        for b in &self.bindings {
            if b.port() != local.port() {
                continue;
            }
            if canonical_ip(b.ip()) == local_ip {
                return Some(true);
            }
            let wildcard = match b.ip() {
                IpAddr::V4(v4) => v4.is_unspecified() && local_ip.is_ipv4(),
                // [::] accepts both families (dual-stack socket).
                IpAddr::V6(v6) => v6.is_unspecified(),
            };
            if wildcard {
                best = Some(false);
            }
        }
        best
    }

    /// The size of the smallest RemoteIPRanges entry containing `ip`.
    fn range_size(&self, ip: IpAddr) -> Option<u128> {
        self.remote_ip_ranges
            .iter()
            .filter(|r| r.contains(ip))
            .map(IpRange::size)
            .min()
    }
}

/// `::ffff:a.b.c.d` as `a.b.c.d`.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The whole runtime configuration at one store revision.
#[derive(Debug)]
pub struct RuntimeConfig {
    pub revision: u64,
    /// The transport service's FQDN (AuthSource, default EHLO name).
    pub server_fqdn: String,
    /// The transport service's Name (the protocol log's connector ids).
    pub server_name: String,
    pub protocol_logs: ProtocolLogSettings,
    /// Enabled receive connectors, in store order.
    pub connectors: Vec<Arc<ConnectorRuntime>>,
    /// Accepted domains and their types.
    pub accepted_domains: Vec<(DomainPattern, AcceptedDomainType)>,
    /// TLSReceiveDomainSecureList, lower-case.
    pub domain_secure_receive: HashSet<String>,
    /// TLSReceiveDomainSecureServerAuthOnlyList, lower-case: partners
    /// whose serverAuth-only certificate authenticates them as a client.
    pub server_auth_only_receive: HashSet<String>,
    pub trust: Arc<TrustContext>,
    pub paths: Paths,
    /// The sending side: send connectors, TLS client configurations, retry
    /// schedule, DNS servers.
    pub send: Arc<SendRuntime>,
    /// Things the administrator should know (logged at each compile).
    pub notes: Vec<String>,
    // metrics
    /// Where to serve Prometheus metrics (MetricsBindings; empty: nowhere).
    pub metrics_bindings: Vec<SocketAddr>,
    // --- certificate lifecycle (issue 18 part 3) ---
    /// Which certificate each receive connector presents and why, expiry
    /// (Exchange events 12018, 12016) and Domain Security client-usage
    /// findings about the SMTP certificates; logged at start, on each
    /// reload and once a day.
    pub certificate_checks: Vec<CertificateCheck>,
    /// TransportService CertificateExpiryWarningDays.
    pub certificate_expiry_warning_days: u32,
}

impl RuntimeConfig {
    /// Compiles `cfg`. `secrets` gives the private keys; `state_dir` is
    /// the store's local folder (default locations of queue, mailboxes and
    /// log); `now` decides certificate validity.
    pub fn compile(
        cfg: &OrgConfig,
        secrets: &dyn Backend,
        state_dir: &Path,
        now: OffsetDateTime,
    ) -> RuntimeConfig {
        Self::compile_for(cfg, cfg.default_server(), secrets, state_dir, now)
    }

    /// Compiles what `server` runs ([`OrgConfig::for_server`]): its
    /// TransportService settings, its receive connectors and certificates,
    /// the send connectors it is a source server of. Direct Trust spans
    /// the organization: a peer presenting any server's certificate
    /// published in the configuration is one of our servers.
    pub fn compile_for(
        org: &OrgConfig,
        server: &str,
        secrets: &dyn Backend,
        state_dir: &Path,
        now: OffsetDateTime,
    ) -> RuntimeConfig {
        let view = org.for_server(server);
        let cfg = &view;
        let mut notes = Vec::new();
        let tc = &cfg.transport_config;
        let server_fqdn = cfg.transport_service.effective_fqdn();
        let trusted_roots = certificates::trusted_root_ders(cfg);
        let own_thumbprints: HashSet<String> = org
            .certificates
            .iter()
            .filter_map(|r| certificates::certificate_der(r).ok().flatten())
            .filter_map(|d| parse_certificate(&d).ok())
            .map(|i| i.thumbprint)
            .collect();
        let trust = Arc::new(TrustContext {
            trusted_roots,
            own_thumbprints,
        });
        let domain_secure_receive: HashSet<String> = tc
            .tls_receive_domain_secure_list
            .iter()
            .map(|d| d.as_str().to_ascii_lowercase())
            .collect();
        let server_auth_only_receive: HashSet<String> = tc
            .tls_receive_domain_secure_server_auth_only_list
            .iter()
            .map(|d| d.as_str().trim_end_matches('.').to_ascii_lowercase())
            .collect();
        let candidates = certificates::candidates(cfg, now);
        let hints = tls::root_hints(&trust.trusted_roots);

        let mut connectors = Vec::new();
        let mut certificate_choices = Vec::new();
        for rc in cfg.receive_connectors.iter().filter(|c| c.enabled) {
            let hostname = rc.fqdn.clone().unwrap_or_else(|| server_fqdn.clone());
            let mut session = SessionConfig::new(hostname.clone());
            session.banner = rc.banner.clone();
            session.max_message_size = min_size(rc.max_message_size, tc.max_receive_size);
            session.max_recipients = rc
                .max_recipients_per_message
                .min(tc.max_recipient_envelope_limit)
                .max(1) as usize;
            session.require_tls = rc.require_tls;
            session.require_ehlo_domain = rc.require_ehlo_domain;
            session.chunking = rc.chunking_enabled;
            session.binary_mime = rc.binary_mime_enabled;
            session.requiretls = rc.require_tls_extension_enabled;

            let sender_restriction = SenderRestriction::compile(rc);
            let requests_client_certificate = (rc.domain_secure_enabled
                && !domain_secure_receive.is_empty())
                || direct_trust_applies(rc)
                || sender_restriction.is_some();
            let (tls, certificate) = if rc.has_auth(AuthMechanism::Tls) {
                match select_for_connector(cfg, rc, &candidates, &server_fqdn) {
                    Some((rec, why)) => match tls::load_own(rec, secrets).and_then(|own| {
                        tls::server_config(own, requests_client_certificate, hints.clone())
                    }) {
                        Ok(sc) => {
                            certificate_choices.push((
                                rc.name.clone(),
                                rec.thumbprint.clone(),
                                why,
                            ));
                            (Some(sc), Some(rec))
                        }
                        Err(e) => {
                            notes.push(format!(
                                "receive connector '{}': STARTTLS is not offered: {e}",
                                rc.name
                            ));
                            (None, None)
                        }
                    },
                    None => {
                        notes.push(format!(
                            "receive connector '{}': STARTTLS is not offered: no SMTP-enabled certificate with a private key matches '{}'",
                            rc.name,
                            rc.tls_certificate_name
                                .clone()
                                .unwrap_or_else(|| hostname.clone())
                        ));
                        (None, None)
                    }
                }
            } else {
                (None, None)
            };
            session.offer_starttls = tls.is_some();
            let certificate_subject = certificate.and_then(certificate_subject);
            let certificate = certificate.map(|r| r.thumbprint.clone());
            if rc.require_tls && tls.is_none() {
                notes.push(format!(
                    "receive connector '{}': RequireTLS is set but STARTTLS cannot be offered: every MAIL will be refused",
                    rc.name
                ));
            }
            connectors.push(Arc::new(ConnectorRuntime {
                name: rc.name.clone(),
                bindings: rc.bindings.iter().map(|b| b.0).collect(),
                remote_ip_ranges: rc.remote_ip_ranges.clone(),
                session: Arc::new(session),
                tls,
                certificate,
                certificate_subject,
                protocol_logging: rc.protocol_logging_level == ProtocolLoggingLevel::Verbose,
                requests_client_certificate,
                domain_secure_enabled: rc.domain_secure_enabled,
                sender_restriction,
                anonymous_allowed: rc
                    .permission_groups
                    .contains(&PermissionGroup::AnonymousUsers),
                direct_trust: direct_trust_applies(rc),
                externally_secured: rc.has_auth(AuthMechanism::ExternalAuthoritative)
                    && rc
                        .permission_groups
                        .contains(&PermissionGroup::ExchangeServers),
                max_inbound_connection_per_source: rc.max_inbound_connection_per_source,
                max_inbound_connection: rc.max_inbound_connection,
                message_rate_limit: rc.message_rate_limit,
                tarpit_interval: Duration::from_secs(rc.tarpit_interval.as_secs()),
                max_hop_count: rc.max_hop_count as usize,
                connection_timeout: Duration::from_secs(rc.connection_timeout.as_secs().max(1)),
                connection_inactivity_timeout: Duration::from_secs(
                    rc.connection_inactivity_timeout.as_secs().max(1),
                ),
            }));
        }

        let send = Arc::new(SendRuntime::compile(
            cfg,
            secrets,
            &server_fqdn,
            now,
            &mut notes,
        ));
        // --- certificate lifecycle (issue 18 part 3) ---
        let certificate_expiry_warning_days = cfg.transport_service.certificate_expiry_warning_days;
        let certificate_checks = certificate_checks(
            cfg,
            now,
            &certificate_choices,
            &send,
            certificate_expiry_warning_days,
        );
        RuntimeConfig {
            revision: cfg.revision,
            server_fqdn,
            server_name: cfg.transport_service.name.clone(),
            protocol_logs: ProtocolLogSettings::resolve(&cfg.transport_service, state_dir),
            connectors,
            accepted_domains: cfg
                .accepted_domains
                .iter()
                .map(|d| (d.domain_name.clone(), d.domain_type))
                .collect(),
            domain_secure_receive,
            server_auth_only_receive,
            trust,
            paths: Paths::resolve(cfg, state_dir),
            send,
            notes,
            // metrics
            metrics_bindings: cfg
                .transport_service
                .metrics_bindings
                .iter()
                .map(|b| b.0)
                .collect(),
            // --- certificate lifecycle (issue 18 part 3) ---
            certificate_checks,
            certificate_expiry_warning_days,
        }
    }

    /// Every address to listen on (the enabled connectors' bindings).
    pub fn listen_addrs(&self) -> BTreeSet<SocketAddr> {
        self.connectors
            .iter()
            .flat_map(|c| c.bindings.iter().copied())
            .collect()
    }

    /// The connector that takes a connection accepted on `local` from
    /// `peer`: among the connectors bound to `local` (exact binding or
    /// wildcard), the one whose RemoteIPRanges contain `peer` most
    /// specifically (smallest range); on a tie an exact binding wins, then
    /// store order.
    pub fn select_connector(
        &self,
        local: SocketAddr,
        peer: IpAddr,
    ) -> Option<&Arc<ConnectorRuntime>> {
        let peer = canonical_ip(peer);
        self.connectors
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let exact = c.binding_match(local)?;
                let size = c.range_size(peer)?;
                Some(((size, !exact, i), c))
            })
            .min_by_key(|(k, _)| *k)
            .map(|(_, c)| c)
    }

    /// The accepted domain `domain` falls under (most specific pattern).
    pub fn accepted_domain(&self, domain: &str) -> Option<AcceptedDomainType> {
        self.accepted_domains
            .iter()
            .filter(|(p, _)| p.matches(domain))
            .max_by_key(|(p, _)| p.specificity())
            .map(|(_, t)| *t)
    }

    /// Whether mail for `domain` is delivered here (Authoritative).
    pub fn is_authoritative(&self, domain: &str) -> bool {
        self.accepted_domain(domain) == Some(AcceptedDomainType::Authoritative)
    }

    /// Whether a partner in `domain` may authenticate with a certificate
    /// without the clientAuth extended key usage
    /// (TLSReceiveDomainSecureServerAuthOnlyList, exact, case-insensitive).
    pub fn accepts_server_auth_only(&self, domain: &str) -> bool {
        self.server_auth_only_receive
            .contains(&domain.trim_end_matches('.').to_ascii_lowercase())
    }

    /// Whether `domain` is in TLSReceiveDomainSecureList (exact,
    /// case-insensitive, compared as A-labels: a sender at `bücher.example`
    /// is the listed `xn--bcher-kva.example`).
    pub fn is_domain_secure_sender(&self, domain: &str) -> bool {
        self.domain_secure_receive
            .contains(xshell_core::idn::comparison_key(domain).as_ref())
    }
}

/// A receive connector's RestrictDomainsToCertificate, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderRestriction {
    /// SenderDomains, lower-case.
    pub domains: HashSet<String>,
    /// TlsSenderCertificateName as the administrator wrote it (the log).
    pub name: String,
    pub certificate: SenderCertificateName,
}

impl SenderRestriction {
    /// `None` unless RestrictDomainsToCertificate is set. Validation
    /// makes sure TlsSenderCertificateName is there and valid; a store
    /// edited by hand without it fails closed: no certificate matches.
    pub fn compile(rc: &ReceiveConnector) -> Option<SenderRestriction> {
        if !rc.restrict_domains_to_certificate {
            return None;
        }
        let name = rc.tls_sender_certificate_name.clone().unwrap_or_default();
        let certificate = SenderCertificateName::parse(&name).unwrap_or(
            // matches nothing: every certificate has an issuer
            SenderCertificateName::IssuerSubject {
                issuer: String::new(),
                subject: String::new(),
            },
        );
        Some(SenderRestriction {
            domains: rc
                .sender_domains
                .iter()
                .map(|d| d.as_str().trim_end_matches('.').to_ascii_lowercase())
                .collect(),
            name,
            certificate,
        })
    }

    /// Whether mail from `domain` is restricted to the certificate.
    pub fn covers(&self, domain: &str) -> bool {
        self.domains
            .contains(&domain.trim_end_matches('.').to_ascii_lowercase())
    }
}

/// Direct Trust can authenticate a peer on this connector: it grants
/// ExchangeServers or offers ExchangeServer authentication.
fn direct_trust_applies(rc: &ReceiveConnector) -> bool {
    rc.permission_groups
        .contains(&PermissionGroup::ExchangeServers)
        || rc.has_auth(AuthMechanism::ExchangeServer)
}

fn min_size(a: SizeLimit, b: SizeLimit) -> u64 {
    match (a.bytes(), b.bytes()) {
        (Some(x), Some(y)) => x.min(y),
        (Some(x), None) | (None, Some(x)) => x,
        (None, None) => UNLIMITED_MESSAGE_SIZE,
    }
}

/// The certificate STARTTLS presents on `rc`: TlsCertificateName (issuer
/// and subject) when set, else the best match for the connector's FQDN,
/// else for the server FQDN (the reference's order), among SMTP-enabled
/// certificates with a private key; with why it was chosen (for the log).
///
/// Among several matching certificates (a renewal: old and new enabled
/// side by side) the order of [`select_certificates`] decides: valid
/// before expired or not yet valid, CA-issued before self-signed, exact
/// name before wildcard, then the latest NotAfter, the latest NotBefore,
/// the lowest thumbprint.
fn select_for_connector<'a>(
    cfg: &'a OrgConfig,
    rc: &ReceiveConnector,
    candidates: &[Candidate],
    server_fqdn: &str,
) -> Option<(&'a xshell_core::model::CertificateRecord, String)> {
    let by_thumb = |tp: &str| cfg.certificates.iter().find(|r| r.thumbprint == tp);
    let ranked: Vec<&Candidate> = if let Some((issuer, subject)) = rc
        .tls_certificate_name
        .as_deref()
        .and_then(parse_tls_certificate_name)
    {
        let mut named: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| c.has_private_key && c.smtp_enabled)
            .filter(|c| {
                by_thumb(&c.thumbprint)
                    .and_then(|r| certificates::certificate_der(r).ok().flatten())
                    .and_then(|d| parse_certificate(&d).ok())
                    .is_some_and(|i| {
                        i.issuer.eq_ignore_ascii_case(issuer.trim())
                            && i.subject.eq_ignore_ascii_case(subject.trim())
                    })
            })
            .collect();
        named.sort_by(|a, b| select::compare(a, b));
        named
    } else {
        let wanted = rc.fqdn.clone().unwrap_or_else(|| server_fqdn.to_string());
        select_certificates(candidates, &wanted, SelectOptions { require_smtp: true })
    };
    let first = ranked.first()?;
    let why = match ranked.get(1) {
        None => "the only SMTP-enabled certificate with a private key that matches".to_string(),
        Some(second) => format!(
            "{} of {} matching SMTP-enabled certificates: {} (next: {})",
            1,
            ranked.len(),
            select::why_preferred(first, second),
            second.thumbprint
        ),
    };
    by_thumb(&first.thumbprint).map(|r| (r, why))
}

#[cfg(test)]
mod tests;
