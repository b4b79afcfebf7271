//! The organization's configuration: what the administrator wrote with the
//! cmdlets. The transport compiles it into runtime structures; it is never
//! consulted raw inside an SMTP session.
//!
//! Property names serialize in Exchange's PascalCase so that the store file,
//! the JSON output and the documentation all use the names users know.

use crate::types::*;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole organization configuration: one document, one revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct OrgConfig {
    pub schema_version: u32,
    /// Increases by one with every committed change.
    pub revision: u64,
    #[serde(default)]
    pub transport_config: TransportConfig,
    #[serde(default)]
    pub transport_service: TransportService,
    #[serde(default)]
    pub accepted_domains: Vec<AcceptedDomain>,
    #[serde(default)]
    pub send_connectors: Vec<SendConnector>,
    #[serde(default)]
    pub receive_connectors: Vec<ReceiveConnector>,
    #[serde(default)]
    pub certificates: Vec<CertificateRecord>,
    #[serde(default)]
    pub trusted_roots: Vec<TrustedRoot>,
    /// Per-server TransportService settings (`Set-TransportService EX02
    /// ...`) of the servers other than the default one
    /// ([`OrgConfig::default_server`]); a server without an entry here uses
    /// [`OrgConfig::transport_service`] under its own name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transport_services: Vec<TransportService>,
}

impl Default for OrgConfig {
    fn default() -> Self {
        OrgConfig {
            schema_version: SCHEMA_VERSION,
            revision: 0,
            transport_config: TransportConfig::default(),
            transport_service: TransportService::default(),
            accepted_domains: Vec::new(),
            send_connectors: Vec::new(),
            receive_connectors: Vec::new(),
            certificates: Vec::new(),
            trusted_roots: Vec::new(),
            transport_services: Vec::new(),
        }
    }
}

// ---------------------------------------------------------------- servers

/// Whether two server names are the same server (case-insensitive, as
/// Exchange's server names).
pub fn same_server(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// A transport server's name: 1-63 letters, digits and hyphens (a DNS
/// label, as Exchange server names are host names).
pub fn check_server_name(name: &str) -> Result<(), RuleViolation> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        rule(
            &["Server"],
            format!(
                "'{name}' is not a server name: 1-63 letters, digits and hyphens, not starting or ending with a hyphen"
            ),
        )
    }
}

impl OrgConfig {
    /// The default server: TransportService's Name (XSHELL01 unless
    /// renamed). Receive connectors and certificates that name no server
    /// belong to it, so a store written before servers had objects of their
    /// own is a single-server organization whose server is this one.
    pub fn default_server(&self) -> &str {
        &self.transport_service.name
    }

    /// `name` as the organization spells it (the default server's or a
    /// per-server entry's Name), else `name` itself.
    pub fn canonical_server(&self, name: &str) -> String {
        self.server_names()
            .into_iter()
            .find(|n| same_server(n, name))
            .unwrap_or_else(|| name.trim().to_string())
    }

    /// The servers the configuration knows: the default server, those with
    /// their own TransportService settings, and those owning a receive
    /// connector or a certificate (registered servers are runtime records,
    /// see [`crate::servers`]).
    /// The server named after `host` (its short name, as Exchange names
    /// servers after their hosts), when the organization knows one: what
    /// an engine started without `--server`, and the queue and tracking
    /// cmdlets without `-Server`, are on that host.
    pub fn server_named_after(&self, host: &str) -> Option<String> {
        let short = host.split('.').next().unwrap_or_default();
        if short.is_empty() {
            return None;
        }
        self.server_names()
            .into_iter()
            .find(|n| same_server(n, short))
    }

    pub fn server_names(&self) -> Vec<String> {
        let mut out = vec![self.transport_service.name.clone()];
        let more = self
            .transport_services
            .iter()
            .map(|s| s.name.as_str())
            .chain(
                self.receive_connectors
                    .iter()
                    .filter_map(|c| c.server.as_deref()),
            )
            .chain(self.certificates.iter().filter_map(|c| c.server.as_deref()));
        for n in more {
            if !out.iter().any(|o| same_server(o, n)) {
                out.push(n.to_string());
            }
        }
        out
    }

    /// The TransportService settings `server` runs with: its own entry,
    /// else the default server's settings under its name (and without the
    /// default server's Fqdn, which names another host).
    pub fn service_for(&self, server: &str) -> TransportService {
        if same_server(server, &self.transport_service.name) {
            return self.transport_service.clone();
        }
        if let Some(s) = self
            .transport_services
            .iter()
            .find(|s| same_server(&s.name, server))
        {
            return s.clone();
        }
        TransportService {
            name: self.canonical_server(server),
            fqdn: None,
            ..self.transport_service.clone()
        }
    }

    /// Whether `server` has TransportService settings of its own (or is
    /// the default server).
    pub fn has_own_service(&self, server: &str) -> bool {
        same_server(server, &self.transport_service.name)
            || self
                .transport_services
                .iter()
                .any(|s| same_server(&s.name, server))
    }

    /// What `server`'s engine runs: this configuration with its own
    /// TransportService settings ([`OrgConfig::service_for`]) as
    /// `transport_service`, only its receive connectors and certificates,
    /// and only the send connectors whose SourceTransportServers list it
    /// (an empty list: every server). Everything else is organization-wide.
    pub fn for_server(&self, server: &str) -> OrgConfig {
        let mut view = self.clone();
        view.transport_service = self.service_for(server);
        view.transport_services.clear();
        view.receive_connectors
            .retain(|c| self.belongs_to(c.server.as_deref(), server));
        view.certificates
            .retain(|c| self.belongs_to(c.server.as_deref(), server));
        view.send_connectors.retain(|c| c.used_by(server));
        view
    }

    /// The server an object naming `owner` (or none) belongs to.
    pub fn owner<'a>(&'a self, owner: Option<&'a str>) -> &'a str {
        owner.unwrap_or(&self.transport_service.name)
    }

    /// Whether an object naming `owner` (or none: the default server)
    /// belongs to `server`.
    pub fn belongs_to(&self, owner: Option<&str>, server: &str) -> bool {
        same_server(self.owner(owner), server)
    }
}

/// A rule that a configuration object broke. `params` names the parameters
/// in conflict, in the order the message mentions them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuleViolation {
    pub params: Vec<&'static str>,
    pub message: String,
}

fn rule(params: &[&'static str], message: impl Into<String>) -> Result<(), RuleViolation> {
    Err(RuleViolation {
        params: params.to_vec(),
        message: message.into(),
    })
}

// ---------------------------------------------------------------- transport config

/// Organization-wide transport settings (Set-TransportConfig).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TransportConfig {
    #[serde(rename = "TLSReceiveDomainSecureList")]
    pub tls_receive_domain_secure_list: Vec<SmtpDomain>,
    #[serde(rename = "TLSSendDomainSecureList")]
    pub tls_send_domain_secure_list: Vec<SmtpDomain>,
    /// Partner domains whose certificate may lack the clientAuth extended
    /// key usage (serverAuth only) and still authenticate them as TLS
    /// clients (Domain Security, TlsSenderCertificateName).
    #[serde(default, rename = "TLSReceiveDomainSecureServerAuthOnlyList")]
    pub tls_receive_domain_secure_server_auth_only_list: Vec<SmtpDomain>,
    pub max_send_size: SizeLimit,
    pub max_receive_size: SizeLimit,
    pub max_recipient_envelope_limit: u32,
    pub external_postmaster_address: Option<SmtpAddress>,
    /// Enhanced status codes (`5.7.1`) whose non-delivery reports are also
    /// sent to the postmaster (ExternalPostmasterAddress).
    #[serde(default, rename = "GenerateCopyOfDSNFor")]
    pub generate_copy_of_dsn_for: Vec<DsnCode>,
    /// SMTP TLS Reporting (RFC 8460): the address daily TLS reports are
    /// sent from (and their contact-info); reporting is off without it.
    #[serde(default, rename = "TlsRptReportingAddress")]
    pub tls_rpt_reporting_address: Option<SmtpAddress>,
    /// The reports' organization-name (else the server's FQDN).
    #[serde(default, rename = "TlsRptOrganizationName")]
    pub tls_rpt_organization_name: Option<String>,
    /// The DKIM selector the reports are signed with (RFC 8460 5.3): the
    /// key `<selector>._domainkey.<domain of TlsRptReportingAddress>`
    /// made by New-DkimSigningKey in the server's state folder.
    #[serde(default, rename = "TlsRptDkimSelector")]
    pub tls_rpt_dkim_selector: Option<String>,
}

/// An enhanced status code as GenerateCopyOfDSNFor lists it: `5.7.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DsnCode(pub u8, pub u16, pub u16);

impl std::str::FromStr for DsnCode {
    type Err = ParseValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            ParseValueError(format!(
                "'{s}' is not a delivery status code (class.subject.detail, e.g. 5.7.1)"
            ))
        };
        let mut parts = s.trim().split('.');
        let (Some(c), Some(sub), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let class: u8 = c.parse().map_err(|_| bad())?;
        if !(class == 4 || class == 5) {
            return Err(bad());
        }
        let sub: u16 = sub.parse().map_err(|_| bad())?;
        let detail: u16 = d.parse().map_err(|_| bad())?;
        if sub > 999 || detail > 999 {
            return Err(bad());
        }
        Ok(DsnCode(class, sub, detail))
    }
}

impl fmt::Display for DsnCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

impl Serialize for DsnCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DsnCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            tls_receive_domain_secure_list: Vec::new(),
            tls_send_domain_secure_list: Vec::new(),
            tls_receive_domain_secure_server_auth_only_list: Vec::new(),
            max_send_size: SizeLimit::mb(10),
            max_receive_size: SizeLimit::mb(10),
            max_recipient_envelope_limit: 500,
            external_postmaster_address: None,
            generate_copy_of_dsn_for: Vec::new(),
            tls_rpt_reporting_address: None,
            tls_rpt_organization_name: None,
            tls_rpt_dkim_selector: None,
        }
    }
}

impl TransportConfig {
    pub fn validate(&self) -> Result<(), RuleViolation> {
        if self.max_recipient_envelope_limit == 0 {
            return rule(
                &["MaxRecipientEnvelopeLimit"],
                "MaxRecipientEnvelopeLimit must be at least 1",
            );
        }
        if let Some(s) = &self.tls_rpt_dkim_selector
            && let Err(e) = crate::dkim::check_name(s, "selector")
        {
            return rule(&["TlsRptDkimSelector"], e.to_string());
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- transport service

/// Settings of this transport server (Set-TransportService).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TransportService {
    pub name: String,
    pub fqdn: Option<String>,
    #[serde(rename = "ExternalDNSServers")]
    pub external_dns_servers: Vec<HostPort>,
    /// DNSKEY records (zone file format) DANE's DNSSEC validation trusts
    /// instead of the IANA root keys (xshell extension).
    #[serde(default)]
    pub dnssec_trust_anchor_file: Option<String>,
    pub transient_failure_retry_interval: TimeSpan,
    /// Quick retries (Exchange's TransientFailureRetryCount; stores
    /// written before the rename say TransientFailureRetryAttempts).
    #[serde(alias = "TransientFailureRetryAttempts")]
    pub transient_failure_retry_count: u32,
    pub outbound_connection_failure_retry_interval: TimeSpan,
    pub message_retry_interval: TimeSpan,
    pub message_expiration_timeout: TimeSpan,
    pub delay_notification_timeout: TimeSpan,
    pub max_connection_rate_per_minute: u32,
    pub max_inbound_connection_per_source: u32,
    pub message_tracking_log_enabled: bool,
    pub message_tracking_log_path: Option<String>,
    pub queue_database_path: Option<String>,
    pub mailbox_root_path: Option<String>,
    // metrics
    /// Where the engine serves Prometheus metrics (`GET /metrics`), IP:port;
    /// empty (the default) serves none.
    #[serde(default)]
    pub metrics_bindings: Vec<Binding>,
    // --- certificate lifecycle (issue 18 part 3; xshell extension) ---
    /// Days before an SMTP certificate's NotAfter from which the engine
    /// logs Exchange's expiry warning (event 12018) and Test-DomainSecurity
    /// warns; 0 turns the early warning off (expired is always an error).
    #[serde(default = "default_certificate_expiry_warning_days")]
    pub certificate_expiry_warning_days: u32,
    // protocol logs (connectors with ProtocolLoggingLevel Verbose write
    // them; stores written before they existed get Exchange's defaults)
    #[serde(default)]
    pub receive_protocol_log_path: Option<String>,
    #[serde(default)]
    pub send_protocol_log_path: Option<String>,
    #[serde(default = "default_protocol_log_max_age")]
    pub receive_protocol_log_max_age: TimeSpan,
    #[serde(default = "default_protocol_log_max_age")]
    pub send_protocol_log_max_age: TimeSpan,
    #[serde(default = "default_protocol_log_max_directory_size")]
    pub receive_protocol_log_max_directory_size: SizeLimit,
    #[serde(default = "default_protocol_log_max_directory_size")]
    pub send_protocol_log_max_directory_size: SizeLimit,
    #[serde(default = "default_protocol_log_max_file_size")]
    pub receive_protocol_log_max_file_size: SizeLimit,
    #[serde(default = "default_protocol_log_max_file_size")]
    pub send_protocol_log_max_file_size: SizeLimit,
    /// A PEM file of the root certificates MTA-STS trusts (the policy
    /// fetch and the MX certificates); `None`: the system's bundle,
    /// [`DEFAULT_MTA_STS_TRUSTED_ROOTS`].
    #[serde(default)]
    pub mta_sts_trusted_roots_path: Option<String>,
}

/// Where MTA-STS finds the system's roots by default (Debian's
/// ca-certificates bundle).
pub const DEFAULT_MTA_STS_TRUSTED_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The default [`TransportService::certificate_expiry_warning_days`].
pub const DEFAULT_CERTIFICATE_EXPIRY_WARNING_DAYS: u32 = 30;

fn default_certificate_expiry_warning_days() -> u32 {
    DEFAULT_CERTIFICATE_EXPIRY_WARNING_DAYS
}

// protocol logs: Exchange's defaults
fn default_protocol_log_max_age() -> TimeSpan {
    TimeSpan::days(30)
}
fn default_protocol_log_max_directory_size() -> SizeLimit {
    SizeLimit::mb(250)
}
fn default_protocol_log_max_file_size() -> SizeLimit {
    SizeLimit::mb(10)
}

impl Default for TransportService {
    fn default() -> Self {
        TransportService {
            name: "XSHELL01".into(),
            fqdn: None,
            external_dns_servers: Vec::new(),
            dnssec_trust_anchor_file: None,
            transient_failure_retry_interval: TimeSpan::minutes(5),
            transient_failure_retry_count: 6,
            outbound_connection_failure_retry_interval: TimeSpan::minutes(10),
            message_retry_interval: TimeSpan::minutes(15),
            message_expiration_timeout: TimeSpan::days(2),
            delay_notification_timeout: TimeSpan::hours(4),
            max_connection_rate_per_minute: 1200,
            max_inbound_connection_per_source: 20,
            message_tracking_log_enabled: true,
            message_tracking_log_path: None,
            queue_database_path: None,
            mailbox_root_path: None,
            // metrics
            metrics_bindings: Vec::new(),
            // --- certificate lifecycle (issue 18 part 3) ---
            certificate_expiry_warning_days: DEFAULT_CERTIFICATE_EXPIRY_WARNING_DAYS,
            // protocol logs
            receive_protocol_log_path: None,
            send_protocol_log_path: None,
            receive_protocol_log_max_age: default_protocol_log_max_age(),
            send_protocol_log_max_age: default_protocol_log_max_age(),
            receive_protocol_log_max_directory_size: default_protocol_log_max_directory_size(),
            send_protocol_log_max_directory_size: default_protocol_log_max_directory_size(),
            receive_protocol_log_max_file_size: default_protocol_log_max_file_size(),
            send_protocol_log_max_file_size: default_protocol_log_max_file_size(),
            mta_sts_trusted_roots_path: None,
        }
    }
}

impl TransportService {
    pub fn validate(&self) -> Result<(), RuleViolation> {
        if self.name.trim().is_empty() {
            return rule(&["Name"], "Name cannot be empty");
        }
        if self.message_expiration_timeout.as_secs() == 0 {
            return rule(
                &["MessageExpirationTimeout"],
                "MessageExpirationTimeout must be longer than zero",
            );
        }
        if self.delay_notification_timeout > self.message_expiration_timeout {
            return rule(
                &["DelayNotificationTimeout", "MessageExpirationTimeout"],
                "DelayNotificationTimeout cannot be longer than MessageExpirationTimeout",
            );
        }
        for (p, v) in [
            (
                "TransientFailureRetryInterval",
                self.transient_failure_retry_interval,
            ),
            (
                "OutboundConnectionFailureRetryInterval",
                self.outbound_connection_failure_retry_interval,
            ),
            ("MessageRetryInterval", self.message_retry_interval),
        ] {
            if v.as_secs() == 0 {
                return rule(&[p], format!("{p} must be longer than zero"));
            }
        }
        // protocol logs: a file never larger than its folder (Exchange's rule)
        for (dir, file, dir_name, file_name) in [
            (
                self.receive_protocol_log_max_directory_size,
                self.receive_protocol_log_max_file_size,
                "ReceiveProtocolLogMaxDirectorySize",
                "ReceiveProtocolLogMaxFileSize",
            ),
            (
                self.send_protocol_log_max_directory_size,
                self.send_protocol_log_max_file_size,
                "SendProtocolLogMaxDirectorySize",
                "SendProtocolLogMaxFileSize",
            ),
        ] {
            let too_big = match (dir.bytes(), file.bytes()) {
                (Some(d), Some(f)) => f > d,
                (Some(_), None) => true,
                _ => false,
            };
            if too_big {
                return rule(
                    &[file_name, dir_name],
                    format!("{file_name} ({file}) cannot be larger than {dir_name} ({dir})"),
                );
            }
        }
        if let Some(f) = &self.fqdn {
            f.parse::<SmtpDomain>().map_err(|e| RuleViolation {
                params: vec!["Fqdn"],
                message: format!("Fqdn: {e}"),
            })?;
        }
        // metrics
        if let Some(b) = self.metrics_bindings.iter().find(|b| b.0.port() == 0) {
            return rule(
                &["MetricsBindings"],
                format!(
                    "MetricsBindings {b}: port 0 is not a fixed port for Prometheus to scrape; name a port, e.g. 127.0.0.1:9587"
                ),
            );
        }
        Ok(())
    }

    /// The FQDN this server uses in EHLO and to select its certificate.
    pub fn effective_fqdn(&self) -> String {
        self.fqdn
            .clone()
            .unwrap_or_else(|| self.name.to_ascii_lowercase())
    }
}

// ---------------------------------------------------------------- accepted domains

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AcceptedDomainType {
    Authoritative,
    InternalRelay,
    ExternalRelay,
}

impl AcceptedDomainType {
    pub const NAMES: &'static [&'static str] = &["Authoritative", "InternalRelay", "ExternalRelay"];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AcceptedDomain {
    pub name: String,
    pub domain_name: DomainPattern,
    pub domain_type: AcceptedDomainType,
    pub default: bool,
}

impl AcceptedDomain {
    pub fn validate(&self) -> Result<(), RuleViolation> {
        if self.domain_name.as_str() == "*" {
            return rule(
                &["DomainName"],
                "DomainName '*' would accept mail for every domain (an open relay); name a domain or *.domain",
            );
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- send connectors

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TlsAuthLevel {
    EncryptionOnly,
    CertificateValidation,
    DomainValidation,
}
impl TlsAuthLevel {
    pub const NAMES: &'static [&'static str] = &[
        "EncryptionOnly",
        "CertificateValidation",
        "DomainValidation",
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SendUsage {
    Custom,
    Internal,
    Internet,
    Partner,
}
impl SendUsage {
    pub const NAMES: &'static [&'static str] = &["Custom", "Internal", "Internet", "Partner"];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SendConnector {
    pub name: String,
    pub address_spaces: Vec<AddressSpace>,
    #[serde(rename = "DNSRoutingEnabled")]
    pub dns_routing_enabled: bool,
    pub smart_hosts: Vec<HostPort>,
    pub port: u16,
    pub fqdn: Option<String>,
    #[serde(rename = "RequireTLS")]
    pub require_tls: bool,
    #[serde(rename = "IgnoreSTARTTLS")]
    pub ignore_starttls: bool,
    pub tls_auth_level: Option<TlsAuthLevel>,
    pub tls_domain: Option<DomainPattern>,
    pub tls_certificate_name: Option<String>,
    /// The certificate every next hop must present, `<I>issuer<S>subject`
    /// (TlsCertificateName names ours).
    #[serde(default)]
    pub tls_remote_certificate_name: Option<String>,
    pub domain_secure_enabled: bool,
    pub enabled: bool,
    pub max_message_size: SizeLimit,
    pub usage: SendUsage,
    pub connection_inactivity_timeout: TimeSpan,
    /// The local address outbound connections are made from.
    #[serde(default, rename = "SourceIPAddress")]
    pub source_ip_address: Option<std::net::IpAddr>,
    #[serde(default)]
    pub error_policies: ErrorPolicies,
    /// The transport servers that use the connector; empty: every server
    /// of the organization.
    #[serde(default)]
    pub source_transport_servers: Vec<String>,
    /// How we authenticate to the smart hosts.
    #[serde(default)]
    pub smart_host_auth_mechanism: SmartHostAuthMechanism,
    /// The user name for BasicAuth; the password is a store secret.
    #[serde(default)]
    pub authentication_credential: Option<StoredCredential>,
    #[serde(default)]
    pub protocol_logging_level: ProtocolLoggingLevel,
    /// DANE (RFC 7672) for the MX hosts of the connector's domains.
    #[serde(default)]
    pub smtp_dane_mode: SmtpDaneMode,
    /// MTA-STS (RFC 8461) for the MX hosts of the next-hop domains.
    #[serde(default)]
    pub mta_sts_mode: MtaStsMode,
    pub comment: Option<String>,
}

/// Whether a send connector applies MTA-STS (RFC 8461), as Exchange
/// Online's connectors name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum MtaStsMode {
    /// Never looked up.
    #[default]
    None,
    /// Applied where the domain publishes a policy.
    Opportunistic,
    /// A domain without a policy in enforce mode is not sent to.
    Mandatory,
}
impl MtaStsMode {
    pub const NAMES: &'static [&'static str] = &["None", "Opportunistic", "Mandatory"];
}

/// SmtpDaneMode (Exchange Online's connector setting): whether DANE
/// (RFC 7672) secures the connector's MX deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SmtpDaneMode {
    /// No TLSA lookups.
    #[default]
    None,
    /// DANE where the domain publishes usable TLSA records under DNSSEC;
    /// otherwise the next policy applies.
    Opportunistic,
    /// No delivery without usable, DNSSEC-validated TLSA records.
    Mandatory,
}
impl SmtpDaneMode {
    pub const NAMES: &'static [&'static str] = &["None", "Opportunistic", "Mandatory"];
}

impl SendConnector {
    /// Whether `server` uses this connector: SourceTransportServers lists
    /// it, or is empty (every server of the organization).
    pub fn used_by(&self, server: &str) -> bool {
        self.source_transport_servers.is_empty()
            || self
                .source_transport_servers
                .iter()
                .any(|s| same_server(s, server))
    }

    pub fn new(name: &str) -> SendConnector {
        SendConnector {
            name: name.to_string(),
            address_spaces: Vec::new(),
            dns_routing_enabled: true,
            smart_hosts: Vec::new(),
            port: 25,
            fqdn: None,
            require_tls: false,
            ignore_starttls: false,
            tls_auth_level: None,
            tls_domain: None,
            tls_certificate_name: None,
            tls_remote_certificate_name: None,
            domain_secure_enabled: false,
            enabled: true,
            max_message_size: SizeLimit::mb(25),
            usage: SendUsage::Custom,
            connection_inactivity_timeout: TimeSpan::minutes(10),
            source_ip_address: None,
            error_policies: ErrorPolicies::default(),
            source_transport_servers: Vec::new(),
            smart_host_auth_mechanism: SmartHostAuthMechanism::None,
            authentication_credential: None,
            protocol_logging_level: ProtocolLoggingLevel::None,
            smtp_dane_mode: SmtpDaneMode::None,
            mta_sts_mode: MtaStsMode::None,
            comment: None,
        }
    }

    /// Every rule Exchange enforces on a send connector, each naming the
    /// parameters in conflict.
    pub fn validate(&self) -> Result<(), RuleViolation> {
        check_name(&self.name)?;
        if self.smart_host_auth_mechanism.is_basic() {
            if self.authentication_credential.is_none() {
                return rule(
                    &["SmartHostAuthMechanism", "AuthenticationCredential"],
                    "SmartHostAuthMechanism BasicAuth needs the user name and password: give -AuthenticationCredential",
                );
            }
            if self.dns_routing_enabled {
                return rule(
                    &["SmartHostAuthMechanism", "DNSRoutingEnabled"],
                    "SmartHostAuthMechanism authenticates to smart hosts: set -SmartHosts with -DNSRoutingEnabled:$false",
                );
            }
        }
        if self.address_spaces.is_empty() {
            return rule(
                &["AddressSpaces"],
                "a send connector needs at least one address space (AddressSpaces)",
            );
        }
        if !self.dns_routing_enabled && self.smart_hosts.is_empty() {
            return rule(
                &["DNSRoutingEnabled", "SmartHosts"],
                "DNSRoutingEnabled is false but no SmartHosts are set: name the smart hosts or enable DNS routing",
            );
        }
        if self.dns_routing_enabled && !self.smart_hosts.is_empty() {
            return rule(
                &["SmartHosts", "DNSRoutingEnabled"],
                "SmartHosts cannot be used while DNSRoutingEnabled is true: pass -DNSRoutingEnabled:$false with -SmartHosts",
            );
        }
        if self.domain_secure_enabled && !self.dns_routing_enabled {
            return rule(
                &["DomainSecureEnabled", "DNSRoutingEnabled"],
                "DomainSecureEnabled requires DNSRoutingEnabled: Domain Security validates the partner's MX, not a smart host",
            );
        }
        if self.smtp_dane_mode != SmtpDaneMode::None {
            // RFC 7672 2.2: DANE authenticates MX hosts found in DNS.
            if !self.dns_routing_enabled {
                return rule(
                    &["SmtpDaneMode", "DNSRoutingEnabled"],
                    "SmtpDaneMode needs DNSRoutingEnabled: DANE authenticates the MX hosts of the recipient domain, not smart hosts",
                );
            }
            if self.ignore_starttls {
                return rule(
                    &["SmtpDaneMode", "IgnoreSTARTTLS"],
                    "SmtpDaneMode cannot be combined with IgnoreSTARTTLS: DANE needs STARTTLS",
                );
            }
        }
        if self.domain_secure_enabled && self.ignore_starttls {
            return rule(
                &["DomainSecureEnabled", "IgnoreSTARTTLS"],
                "DomainSecureEnabled cannot be combined with IgnoreSTARTTLS: Domain Security needs STARTTLS",
            );
        }
        if self.require_tls && self.ignore_starttls {
            return rule(
                &["RequireTLS", "IgnoreSTARTTLS"],
                "RequireTLS cannot be combined with IgnoreSTARTTLS",
            );
        }
        if let Some(level) = self.tls_auth_level {
            if !self.require_tls {
                return rule(
                    &["TlsAuthLevel", "RequireTLS"],
                    format!("TlsAuthLevel {level:?} can only be set when RequireTLS is true"),
                );
            }
            if self.ignore_starttls {
                return rule(
                    &["TlsAuthLevel", "IgnoreSTARTTLS"],
                    "TlsAuthLevel cannot be set with IgnoreSTARTTLS",
                );
            }
            if self.domain_secure_enabled {
                return rule(
                    &["TlsAuthLevel", "DomainSecureEnabled"],
                    "TlsAuthLevel cannot be set together with DomainSecureEnabled: Domain Security already validates the partner domain",
                );
            }
        }
        if self.tls_domain.is_some() && self.tls_auth_level != Some(TlsAuthLevel::DomainValidation)
        {
            return rule(
                &["TlsDomain", "TlsAuthLevel"],
                "TlsDomain can only be set when TlsAuthLevel is DomainValidation",
            );
        }
        if self.tls_auth_level == Some(TlsAuthLevel::DomainValidation)
            && !self.dns_routing_enabled
            && self.tls_domain.is_none()
        {
            return rule(
                &["TlsAuthLevel", "TlsDomain"],
                "TlsAuthLevel DomainValidation on a smart-host connector requires TlsDomain (the name the smart host's certificate must carry)",
            );
        }
        if self.mta_sts_mode != MtaStsMode::None {
            if self.ignore_starttls {
                return rule(
                    &["MtaStsMode", "IgnoreSTARTTLS"],
                    "MtaStsMode cannot be combined with IgnoreSTARTTLS: an MTA-STS policy requires STARTTLS",
                );
            }
            if !self.dns_routing_enabled {
                return rule(
                    &["MtaStsMode", "DNSRoutingEnabled"],
                    "MtaStsMode requires DNSRoutingEnabled: MTA-STS checks the recipient domain's MX hosts, not smart hosts",
                );
            }
        }
        if let Some(f) = &self.fqdn {
            check_fqdn(f)?;
        }
        if let Some(n) = &self.tls_certificate_name {
            check_tls_certificate_name(n)?;
        }
        if let Some(n) = &self.tls_remote_certificate_name {
            if parse_tls_certificate_name(n).is_none() {
                return rule(
                    &["TlsRemoteCertificateName"],
                    format!(
                        "TlsRemoteCertificateName '{n}' must have the form <I>issuer<S>subject"
                    ),
                );
            }
            if self.ignore_starttls {
                return rule(
                    &["TlsRemoteCertificateName", "IgnoreSTARTTLS"],
                    "TlsRemoteCertificateName cannot be combined with IgnoreSTARTTLS: the pinned certificate needs STARTTLS",
                );
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- receive connectors

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReceiveUsage {
    Custom,
    Internet,
    Internal,
    Client,
    Partner,
}
impl ReceiveUsage {
    pub const NAMES: &'static [&'static str] =
        &["Custom", "Internet", "Internal", "Client", "Partner"];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AuthMechanism {
    None,
    Tls,
    Integrated,
    BasicAuth,
    BasicAuthRequireTLS,
    ExchangeServer,
    ExternalAuthoritative,
}
impl AuthMechanism {
    pub const NAMES: &'static [&'static str] = &[
        "None",
        "Tls",
        "Integrated",
        "BasicAuth",
        "BasicAuthRequireTLS",
        "ExchangeServer",
        "ExternalAuthoritative",
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PermissionGroup {
    None,
    AnonymousUsers,
    ExchangeUsers,
    ExchangeServers,
    ExchangeLegacyServers,
    Partners,
    Custom,
}
impl PermissionGroup {
    pub const NAMES: &'static [&'static str] = &[
        "None",
        "AnonymousUsers",
        "ExchangeUsers",
        "ExchangeServers",
        "ExchangeLegacyServers",
        "Partners",
        "Custom",
    ];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ReceiveConnector {
    pub name: String,
    /// The transport server the connector belongs to (`New-ReceiveConnector
    /// -Server`); none: the default server ([`OrgConfig::default_server`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    pub usage: ReceiveUsage,
    pub bindings: Vec<Binding>,
    #[serde(rename = "RemoteIPRanges")]
    pub remote_ip_ranges: Vec<IpRange>,
    pub permission_groups: Vec<PermissionGroup>,
    pub auth_mechanism: Vec<AuthMechanism>,
    pub banner: Option<String>,
    pub fqdn: Option<String>,
    #[serde(rename = "RequireTLS")]
    pub require_tls: bool,
    pub domain_secure_enabled: bool,
    pub tls_certificate_name: Option<String>,
    /// The partner certificate the senders of SenderDomains must present
    /// when RestrictDomainsToCertificate is set: `<I>issuer<S>subject`, or
    /// a domain (`contoso.com`, `*.contoso.com`) one of its subject
    /// alternative names must match (Exchange Online's inbound connector).
    #[serde(default)]
    pub tls_sender_certificate_name: Option<String>,
    /// The sender domains restricted to TlsSenderCertificateName.
    #[serde(default)]
    pub sender_domains: Vec<SmtpDomain>,
    #[serde(default)]
    pub restrict_domains_to_certificate: bool,
    pub max_message_size: SizeLimit,
    pub max_recipients_per_message: u32,
    pub max_inbound_connection_per_source: Limit,
    /// Simultaneous connections to this connector, from all sources.
    #[serde(default = "default_max_inbound_connection")]
    pub max_inbound_connection: Limit,
    /// Messages a source may submit per minute.
    #[serde(default = "unlimited")]
    pub message_rate_limit: Limit,
    /// `Received:` fields a message may carry before it is refused as a loop.
    #[serde(default = "default_max_hop_count")]
    pub max_hop_count: u32,
    /// Refuse HELO/EHLO without a domain name.
    #[serde(default, rename = "RequireEHLODomain")]
    pub require_ehlo_domain: bool,
    /// Delay before each refusal of an unauthenticated sender's recipient.
    #[serde(default = "default_tarpit_interval")]
    pub tarpit_interval: TimeSpan,
    #[serde(default)]
    pub protocol_logging_level: ProtocolLoggingLevel,
    /// CHUNKING (BDAT, RFC 3030) is advertised and accepted.
    #[serde(default = "enabled_by_default")]
    pub chunking_enabled: bool,
    /// BINARYMIME (RFC 3030) is advertised and accepted, with CHUNKING.
    #[serde(default = "enabled_by_default", rename = "BinaryMimeEnabled")]
    pub binary_mime_enabled: bool,
    /// REQUIRETLS (RFC 8689) is advertised after STARTTLS and its MAIL
    /// parameter accepted (the message is then relayed only over
    /// verified TLS). Records written before the setting load as on.
    #[serde(default = "enabled_by_default")]
    pub require_tls_extension_enabled: bool,
    pub enabled: bool,
    pub connection_timeout: TimeSpan,
    pub connection_inactivity_timeout: TimeSpan,
    pub comment: Option<String>,
}

fn enabled_by_default() -> bool {
    true
}
fn default_max_inbound_connection() -> Limit {
    Limit::Count(5000)
}
fn unlimited() -> Limit {
    Limit::Unlimited
}
fn default_max_hop_count() -> u32 {
    60
}
fn default_tarpit_interval() -> TimeSpan {
    TimeSpan(5)
}

/// Whether a connector writes a protocol log (`Verbose`) or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ProtocolLoggingLevel {
    #[default]
    None,
    Verbose,
}
impl ProtocolLoggingLevel {
    pub const NAMES: &'static [&'static str] = &["None", "Verbose"];
}

/// How a send connector authenticates to its smart hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SmartHostAuthMechanism {
    #[default]
    None,
    /// AUTH PLAIN with the AuthenticationCredential, over TLS when offered.
    BasicAuth,
    /// AUTH PLAIN only over TLS: never a password in the clear.
    BasicAuthRequireTLS,
    /// The path to the smart hosts is secured by other means.
    ExternalAuthoritative,
}
impl SmartHostAuthMechanism {
    pub const NAMES: &'static [&'static str] = &[
        "None",
        "BasicAuth",
        "BasicAuthRequireTLS",
        "ExternalAuthoritative",
    ];
    pub fn is_basic(&self) -> bool {
        matches!(self, Self::BasicAuth | Self::BasicAuthRequireTLS)
    }
}

/// A user name and the name of the store secret that holds its password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StoredCredential {
    pub user_name: String,
    pub secret: String,
}

/// How a send connector treats some failures (Exchange's ErrorPolicies,
/// a flags value written `Default` or `DowngradeDnsFailures,
/// DowngradeAuthFailures`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ErrorPolicies {
    /// A DNS failure that would be permanent (no such domain, no address)
    /// is retried as a transient one.
    pub downgrade_dns_failures: bool,
    /// A remote authentication refusal (530, 535, 5.7.0, 5.7.8, 5.7.57) is
    /// retried as a transient one.
    pub downgrade_auth_failures: bool,
}

impl ErrorPolicies {
    /// The values this store keeps; Exchange's DowngradeCustomFailures and
    /// UpgradeCustomFailures are about hybrid (Office 365) custom codes.
    pub const NAMES: &'static [&'static str] =
        &["Default", "DowngradeDnsFailures", "DowngradeAuthFailures"];
}

impl fmt::Display for ErrorPolicies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.downgrade_dns_failures, self.downgrade_auth_failures) {
            (false, false) => f.write_str("Default"),
            (true, false) => f.write_str("DowngradeDnsFailures"),
            (false, true) => f.write_str("DowngradeAuthFailures"),
            (true, true) => f.write_str("DowngradeDnsFailures, DowngradeAuthFailures"),
        }
    }
}

impl std::str::FromStr for ErrorPolicies {
    type Err = ParseValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut p = ErrorPolicies::default();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name.to_ascii_lowercase().as_str() {
                "default" => {}
                "downgradednsfailures" => p.downgrade_dns_failures = true,
                "downgradeauthfailures" => p.downgrade_auth_failures = true,
                _ => {
                    return Err(ParseValueError(format!(
                        "'{name}' is not one of {}",
                        ErrorPolicies::NAMES.join(", ")
                    )));
                }
            }
        }
        Ok(p)
    }
}

impl Serialize for ErrorPolicies {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ErrorPolicies {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl ReceiveConnector {
    /// A connector with the defaults of a usage preset (the Exchange table:
    /// Internet, Partner, Custom, Internal, Client).
    pub fn with_usage(name: &str, usage: ReceiveUsage) -> ReceiveConnector {
        use AuthMechanism as A;
        use PermissionGroup as P;
        let (bindings, ranges, perms, auth): (Vec<Binding>, Vec<IpRange>, Vec<P>, Vec<A>) =
            match usage {
                ReceiveUsage::Internet => (
                    vec![],
                    IpRange::all(),
                    vec![P::AnonymousUsers],
                    vec![A::Tls],
                ),
                ReceiveUsage::Partner => (vec![], vec![], vec![P::Partners], vec![A::Tls]),
                ReceiveUsage::Custom => (vec![], vec![], vec![], vec![A::Tls]),
                ReceiveUsage::Internal => (
                    vec![Binding(std::net::SocketAddr::from(([0, 0, 0, 0], 25)))],
                    vec![],
                    vec![P::ExchangeServers],
                    vec![A::Tls, A::ExchangeServer],
                ),
                ReceiveUsage::Client => (
                    vec![Binding(std::net::SocketAddr::from(([0, 0, 0, 0], 587)))],
                    vec![],
                    vec![P::ExchangeUsers],
                    vec![A::Tls, A::BasicAuth, A::BasicAuthRequireTLS],
                ),
            };
        ReceiveConnector {
            name: name.to_string(),
            server: None,
            usage,
            bindings,
            remote_ip_ranges: ranges,
            permission_groups: perms,
            auth_mechanism: auth,
            banner: None,
            fqdn: None,
            require_tls: false,
            domain_secure_enabled: false,
            tls_certificate_name: None,
            tls_sender_certificate_name: None,
            sender_domains: Vec::new(),
            restrict_domains_to_certificate: false,
            max_message_size: SizeLimit::mb(36),
            max_recipients_per_message: 200,
            max_inbound_connection_per_source: Limit::Count(20),
            max_inbound_connection: default_max_inbound_connection(),
            message_rate_limit: Limit::Unlimited,
            max_hop_count: default_max_hop_count(),
            require_ehlo_domain: false,
            tarpit_interval: default_tarpit_interval(),
            protocol_logging_level: ProtocolLoggingLevel::None,
            chunking_enabled: true,
            binary_mime_enabled: true,
            require_tls_extension_enabled: true,
            enabled: true,
            connection_timeout: TimeSpan::minutes(10),
            connection_inactivity_timeout: TimeSpan::minutes(5),
            comment: None,
        }
    }

    pub fn has_auth(&self, m: AuthMechanism) -> bool {
        self.auth_mechanism.contains(&m)
    }

    /// Every rule Exchange enforces on a receive connector.
    pub fn validate(&self) -> Result<(), RuleViolation> {
        use AuthMechanism as A;
        check_name(&self.name)?;
        if self.bindings.is_empty() {
            return rule(
                &["Bindings"],
                "a receive connector needs at least one binding (Bindings, IP:port)",
            );
        }
        if self.remote_ip_ranges.is_empty() {
            return rule(
                &["RemoteIPRanges"],
                format!(
                    "a receive connector with Usage {:?} needs RemoteIPRanges (single IP, first-last range, or CIDR)",
                    self.usage
                ),
            );
        }
        let tls = self.has_auth(A::Tls);
        if self.require_tls && !tls {
            return rule(
                &["RequireTLS", "AuthMechanism"],
                "RequireTLS needs Tls in AuthMechanism",
            );
        }
        if self.domain_secure_enabled && !tls {
            return rule(
                &["DomainSecureEnabled", "AuthMechanism"],
                "DomainSecureEnabled needs Tls in AuthMechanism",
            );
        }
        if self.domain_secure_enabled && self.has_auth(A::ExternalAuthoritative) {
            return rule(
                &["DomainSecureEnabled", "AuthMechanism"],
                "DomainSecureEnabled cannot be combined with AuthMechanism ExternalAuthoritative",
            );
        }
        if self.has_auth(A::BasicAuthRequireTLS) && (!tls || !self.has_auth(A::BasicAuth)) {
            return rule(
                &["AuthMechanism"],
                "AuthMechanism BasicAuthRequireTLS needs both BasicAuth and Tls",
            );
        }
        if self.has_auth(A::ExternalAuthoritative) {
            if self
                .auth_mechanism
                .iter()
                .any(|m| *m != A::ExternalAuthoritative && *m != A::Tls)
            {
                return rule(
                    &["AuthMechanism"],
                    "AuthMechanism ExternalAuthoritative can only be combined with Tls",
                );
            }
            if !self
                .permission_groups
                .contains(&PermissionGroup::ExchangeServers)
            {
                return rule(
                    &["AuthMechanism", "PermissionGroups"],
                    "AuthMechanism ExternalAuthoritative requires ExchangeServers in PermissionGroups",
                );
            }
        }
        if self.auth_mechanism.contains(&A::None) && self.auth_mechanism.len() > 1 {
            return rule(
                &["AuthMechanism"],
                "AuthMechanism None cannot be combined with other mechanisms",
            );
        }
        if self.permission_groups.contains(&PermissionGroup::None)
            && self.permission_groups.len() > 1
        {
            return rule(
                &["PermissionGroups"],
                "PermissionGroups None cannot be combined with other groups",
            );
        }
        if let Some(b) = &self.banner {
            if !b.starts_with("220") {
                return rule(
                    &["Banner"],
                    format!("Banner must start with '220' (got '{b}')"),
                );
            }
            if b.contains('\r') || b.contains('\n') || b.len() > 512 {
                return rule(
                    &["Banner"],
                    "Banner must be one line of at most 512 characters",
                );
            }
        }
        if self.connection_inactivity_timeout > self.connection_timeout {
            return rule(
                &["ConnectionInactivityTimeout", "ConnectionTimeout"],
                format!(
                    "ConnectionInactivityTimeout ({}) cannot be longer than ConnectionTimeout ({})",
                    self.connection_inactivity_timeout, self.connection_timeout
                ),
            );
        }
        if self.connection_timeout.as_secs() == 0
            || self.connection_inactivity_timeout.as_secs() == 0
        {
            return rule(
                &["ConnectionTimeout", "ConnectionInactivityTimeout"],
                "timeouts must be longer than zero",
            );
        }
        if let Some(f) = &self.fqdn {
            check_fqdn(f)?;
        }
        if let Some(n) = &self.tls_certificate_name {
            check_tls_certificate_name(n)?;
        }
        if let Some(n) = &self.tls_sender_certificate_name
            && SenderCertificateName::parse(n).is_none()
        {
            return rule(
                &["TlsSenderCertificateName"],
                format!(
                    "TlsSenderCertificateName '{n}' must be <I>issuer<S>subject or a domain (contoso.com, *.contoso.com)"
                ),
            );
        }
        if self.restrict_domains_to_certificate {
            if self.tls_sender_certificate_name.is_none() {
                return rule(
                    &["RestrictDomainsToCertificate", "TlsSenderCertificateName"],
                    "RestrictDomainsToCertificate needs TlsSenderCertificateName (the certificate the partner must present)",
                );
            }
            if self.sender_domains.is_empty() {
                return rule(
                    &["RestrictDomainsToCertificate", "SenderDomains"],
                    "RestrictDomainsToCertificate needs SenderDomains (the partner domains it restricts)",
                );
            }
            if !tls {
                return rule(
                    &["RestrictDomainsToCertificate", "AuthMechanism"],
                    "RestrictDomainsToCertificate needs Tls in AuthMechanism (the partner's certificate comes with STARTTLS)",
                );
            }
        }
        Ok(())
    }
}

/// TlsSenderCertificateName parsed: what a partner's client certificate
/// must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderCertificateName {
    /// `<I>issuer<S>subject`: both distinguished names, case-insensitive.
    IssuerSubject { issuer: String, subject: String },
    /// A domain a subject alternative DNS name must match; with
    /// `subdomains` (`*.contoso.com`) any name under it.
    Domain { name: String, subdomains: bool },
}

impl SenderCertificateName {
    pub fn parse(n: &str) -> Option<SenderCertificateName> {
        if n.starts_with("<I>") {
            let (i, s) = parse_tls_certificate_name(n)?;
            return Some(SenderCertificateName::IssuerSubject {
                issuer: i.trim().to_string(),
                subject: s.trim().to_string(),
            });
        }
        let (rest, subdomains) = match n.trim().strip_prefix("*.") {
            Some(r) => (r, true),
            None => (n.trim(), false),
        };
        let d: SmtpDomain = rest.parse().ok()?;
        Some(SenderCertificateName::Domain {
            name: d.as_str().trim_end_matches('.').to_ascii_lowercase(),
            subdomains,
        })
    }
}

// ---------------------------------------------------------------- certificates

/// A certificate in the store. The certificate itself is public and kept in
/// the configuration; its private key (if any) lives in a separate 0600 file
/// named by `key_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CertificateRecord {
    /// The transport server the certificate belongs to (`-Server` of the
    /// certificate cmdlets); none: the default server. Its private key is
    /// that server's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// SHA-1 of the DER certificate, upper-case hex. For a pending request,
    /// the SHA-1 of the request (as Exchange does).
    pub thumbprint: String,
    /// Base64 DER of the certificate; None while the request is pending.
    pub certificate: Option<String>,
    /// Base64 DER of the issuing chain as imported (intermediates, root).
    #[serde(default)]
    pub chain: Vec<String>,
    /// Base64 DER of the PKCS#10 request while pending.
    pub request: Option<String>,
    /// Name of the private key file in the store's key folder.
    pub key_id: Option<String>,
    /// Enabled services, canonical names in IPUWSFC order: IMAP, POP, UM,
    /// IIS, SMTP, Federation, UMCallRouter.
    pub services: Vec<String>,
    pub friendly_name: Option<String>,
    pub private_key_exportable: bool,
    /// The default SMTP certificate: the one Enable-ExchangeCertificate
    /// -Services SMTP last made the default (Exchange asks before replacing
    /// it). At most one record has it; it cannot be removed while marked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default_smtp: bool,
}

/// A CA certificate the transport trusts for chain validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TrustedRoot {
    pub thumbprint: String,
    pub subject: String,
    /// Base64 DER.
    pub certificate: String,
}

// ---------------------------------------------------------------- shared checks

/// Object names: 1-64 characters, printable, no control characters.
pub fn check_name(name: &str) -> Result<(), RuleViolation> {
    if name.trim().is_empty() {
        return rule(&["Name"], "Name cannot be empty");
    }
    if name.chars().count() > 64 {
        return rule(
            &["Name"],
            format!("Name '{name}' is longer than 64 characters"),
        );
    }
    if name.chars().any(|c| c.is_control()) {
        return rule(&["Name"], "Name cannot contain control characters");
    }
    Ok(())
}

fn check_fqdn(f: &str) -> Result<(), RuleViolation> {
    f.parse::<SmtpDomain>()
        .map(|_| ())
        .map_err(|e| RuleViolation {
            params: vec!["Fqdn"],
            message: format!("Fqdn: {e}"),
        })
}

/// `<I>issuer<S>subject`, as Exchange writes TlsCertificateName.
pub fn check_tls_certificate_name(n: &str) -> Result<(), RuleViolation> {
    parse_tls_certificate_name(n)
        .map(|_| ())
        .ok_or_else(|| RuleViolation {
            params: vec!["TlsCertificateName"],
            message: format!("TlsCertificateName '{n}' must have the form <I>issuer<S>subject"),
        })
}

/// Splits `<I>issuer<S>subject` into (issuer, subject).
pub fn parse_tls_certificate_name(n: &str) -> Option<(&str, &str)> {
    let rest = n.strip_prefix("<I>")?;
    let (issuer, subject) = rest.split_once("<S>")?;
    if issuer.trim().is_empty() || subject.trim().is_empty() {
        return None;
    }
    Some((issuer, subject))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sc() -> SendConnector {
        let mut c = SendConnector::new("Outbound");
        c.address_spaces = vec!["*".parse().unwrap()];
        c
    }

    #[test]
    fn default_send_connector_is_valid() {
        sc().validate().unwrap();
    }

    #[test]
    fn send_connector_rules_name_their_parameters() {
        type Case = (Box<dyn Fn(&mut SendConnector)>, Vec<&'static str>);
        let cases: Vec<Case> = vec![
            (
                Box::new(|c| c.address_spaces.clear()),
                vec!["AddressSpaces"],
            ),
            (
                Box::new(|c| c.dns_routing_enabled = false),
                vec!["DNSRoutingEnabled", "SmartHosts"],
            ),
            (
                Box::new(|c| {
                    c.dns_routing_enabled = false;
                    c.smart_hosts = vec!["relay.x.tld".parse().unwrap()];
                    c.domain_secure_enabled = true;
                }),
                vec!["DomainSecureEnabled", "DNSRoutingEnabled"],
            ),
            (
                Box::new(|c| {
                    c.domain_secure_enabled = true;
                    c.ignore_starttls = true;
                }),
                vec!["DomainSecureEnabled", "IgnoreSTARTTLS"],
            ),
            (
                Box::new(|c| c.tls_auth_level = Some(TlsAuthLevel::EncryptionOnly)),
                vec!["TlsAuthLevel", "RequireTLS"],
            ),
            (
                Box::new(|c| {
                    c.require_tls = true;
                    c.tls_auth_level = Some(TlsAuthLevel::CertificateValidation);
                    c.domain_secure_enabled = true;
                }),
                vec!["TlsAuthLevel", "DomainSecureEnabled"],
            ),
            (
                Box::new(|c| {
                    c.require_tls = true;
                    c.tls_auth_level = Some(TlsAuthLevel::CertificateValidation);
                    c.tls_domain = Some("x.tld".parse().unwrap());
                }),
                vec!["TlsDomain", "TlsAuthLevel"],
            ),
            (
                Box::new(|c| {
                    c.dns_routing_enabled = false;
                    c.smart_hosts = vec!["relay.x.tld".parse().unwrap()];
                    c.require_tls = true;
                    c.tls_auth_level = Some(TlsAuthLevel::DomainValidation);
                }),
                vec!["TlsAuthLevel", "TlsDomain"],
            ),
        ];
        for (mutate, params) in cases {
            let mut c = sc();
            mutate(&mut c);
            let e = c.validate().unwrap_err();
            assert_eq!(e.params, params, "{}", e.message);
        }
    }

    #[test]
    fn receive_presets() {
        let c = ReceiveConnector::with_usage("Inbound", ReceiveUsage::Internet);
        assert_eq!(c.permission_groups, vec![PermissionGroup::AnonymousUsers]);
        assert!(c.remote_ip_ranges.len() == 2);
        let mut c = ReceiveConnector::with_usage("Inbound", ReceiveUsage::Internet);
        assert_eq!(c.validate().unwrap_err().params, vec!["Bindings"]);
        c.bindings = vec!["0.0.0.0:25".parse().unwrap()];
        c.validate().unwrap();
        let mut p = ReceiveConnector::with_usage("P", ReceiveUsage::Partner);
        p.bindings = c.bindings.clone();
        assert_eq!(p.validate().unwrap_err().params, vec!["RemoteIPRanges"]);
    }

    #[test]
    fn receive_rules() {
        let base = {
            let mut c = ReceiveConnector::with_usage("Inbound", ReceiveUsage::Internet);
            c.bindings = vec!["0.0.0.0:25".parse().unwrap()];
            c
        };
        let mut c = base.clone();
        c.auth_mechanism = vec![AuthMechanism::None];
        c.require_tls = true;
        assert_eq!(
            c.validate().unwrap_err().params,
            vec!["RequireTLS", "AuthMechanism"]
        );
        let mut c = base.clone();
        c.banner = Some("hello".into());
        assert_eq!(c.validate().unwrap_err().params, vec!["Banner"]);
        let mut c = base.clone();
        c.connection_inactivity_timeout = TimeSpan::hours(1);
        assert_eq!(
            c.validate().unwrap_err().params,
            vec!["ConnectionInactivityTimeout", "ConnectionTimeout"]
        );
    }

    #[test]
    fn pinning_rules() {
        let mut c = sc();
        c.tls_remote_certificate_name = Some("CN=mail.fabrikam.example".into());
        assert_eq!(
            c.validate().unwrap_err().params,
            vec!["TlsRemoteCertificateName"]
        );
        c.tls_remote_certificate_name = Some("<I>CN=CA<S>CN=mail.fabrikam.example".into());
        c.validate().unwrap();
        c.ignore_starttls = true;
        assert_eq!(
            c.validate().unwrap_err().params,
            vec!["TlsRemoteCertificateName", "IgnoreSTARTTLS"]
        );

        let mut r = ReceiveConnector::with_usage("Partner", ReceiveUsage::Internet);
        r.bindings = vec!["0.0.0.0:25".parse().unwrap()];
        r.restrict_domains_to_certificate = true;
        assert_eq!(
            r.validate().unwrap_err().params,
            vec!["RestrictDomainsToCertificate", "TlsSenderCertificateName"]
        );
        r.tls_sender_certificate_name = Some("not a name!".into());
        assert_eq!(
            r.validate().unwrap_err().params,
            vec!["TlsSenderCertificateName"]
        );
        r.tls_sender_certificate_name = Some("*.Fabrikam.Example".into());
        assert_eq!(
            r.validate().unwrap_err().params,
            vec!["RestrictDomainsToCertificate", "SenderDomains"]
        );
        r.sender_domains = vec!["fabrikam.example".parse().unwrap()];
        r.validate().unwrap();
        r.auth_mechanism = vec![AuthMechanism::None];
        assert_eq!(
            r.validate().unwrap_err().params,
            vec!["RestrictDomainsToCertificate", "AuthMechanism"]
        );
        assert_eq!(
            SenderCertificateName::parse("*.Fabrikam.Example"),
            Some(SenderCertificateName::Domain {
                name: "fabrikam.example".into(),
                subdomains: true
            })
        );
        assert_eq!(
            SenderCertificateName::parse("<I>CN=CA <S> CN=x"),
            Some(SenderCertificateName::IssuerSubject {
                issuer: "CN=CA".into(),
                subject: "CN=x".into()
            })
        );
    }

    #[test]
    fn stores_written_before_these_settings_existed_still_load() {
        // A receive and a send connector as an older xshell wrote them.
        let rc = serde_json::json!({
            "Name": "Inbound", "Usage": "Internet", "Bindings": ["0.0.0.0:25"],
            "RemoteIPRanges": [], "PermissionGroups": ["AnonymousUsers"],
            "AuthMechanism": ["Tls"], "Banner": null, "Fqdn": null, "RequireTLS": false,
            "DomainSecureEnabled": false, "TlsCertificateName": null,
            "MaxMessageSize": "36 MB (37,748,736 bytes)", "MaxRecipientsPerMessage": 200,
            "MaxInboundConnectionPerSource": 20, "Enabled": true,
            "ConnectionTimeout": "00:10:00", "ConnectionInactivityTimeout": "00:05:00",
            "Comment": null
        });
        let rc: ReceiveConnector = serde_json::from_value(rc).unwrap();
        assert_eq!(rc.max_inbound_connection_per_source, Limit::Count(20));
        assert_eq!(rc.max_inbound_connection, Limit::Count(5000));
        assert_eq!(rc.max_hop_count, 60);
        assert_eq!(rc.tarpit_interval, TimeSpan(5));
        let mut ts = serde_json::to_value(TransportService::default()).unwrap();
        let count = ts
            .as_object_mut()
            .unwrap()
            .remove("TransientFailureRetryCount")
            .unwrap();
        ts["TransientFailureRetryAttempts"] = count;
        let ts: TransportService = serde_json::from_value(ts).unwrap();
        assert_eq!(ts.transient_failure_retry_count, 6);
        let p: ErrorPolicies = "DowngradeAuthFailures, downgradeDnsFailures"
            .parse()
            .unwrap();
        assert_eq!(p.to_string(), "DowngradeDnsFailures, DowngradeAuthFailures");
        assert!("DowngradeCustomFailures".parse::<ErrorPolicies>().is_err());
    }

    // metrics
    #[test]
    fn metrics_bindings_default_to_none_and_need_a_fixed_port() {
        // a store written before MetricsBindings existed
        let mut ts = serde_json::to_value(TransportService::default()).unwrap();
        assert!(
            ts.as_object_mut()
                .unwrap()
                .remove("MetricsBindings")
                .is_some()
        );
        let ts: TransportService = serde_json::from_value(ts).unwrap();
        assert!(ts.metrics_bindings.is_empty());
        let mut ts = TransportService {
            metrics_bindings: vec!["127.0.0.1:9587".parse().unwrap()],
            ..TransportService::default()
        };
        assert!(ts.validate().is_ok());
        ts.metrics_bindings.push("127.0.0.1:0".parse().unwrap());
        assert_eq!(ts.validate().unwrap_err().params, vec!["MetricsBindings"]);
    }

    #[test]
    fn protocol_log_settings_default_as_exchange_and_a_file_fits_its_folder() {
        // A transport service written before the protocol log settings.
        let mut ts = serde_json::to_value(TransportService::default()).unwrap();
        let o = ts.as_object_mut().unwrap();
        o.retain(|k, _| !k.contains("ProtocolLog"));
        let ts: TransportService = serde_json::from_value(ts).unwrap();
        assert_eq!(ts.receive_protocol_log_path, None);
        assert_eq!(ts.send_protocol_log_max_age, TimeSpan::days(30));
        assert_eq!(
            ts.receive_protocol_log_max_directory_size,
            SizeLimit::mb(250)
        );
        assert_eq!(ts.send_protocol_log_max_file_size, SizeLimit::mb(10));
        assert!(ts.validate().is_ok());

        let mut t = ts.clone();
        t.send_protocol_log_max_file_size = SizeLimit::mb(300);
        let e = t.validate().unwrap_err();
        assert_eq!(
            e.params,
            [
                "SendProtocolLogMaxFileSize",
                "SendProtocolLogMaxDirectorySize"
            ]
        );
        let mut t = ts.clone();
        t.receive_protocol_log_max_file_size = SizeLimit::Unlimited;
        assert!(t.validate().is_err());
        t.receive_protocol_log_max_directory_size = SizeLimit::Unlimited;
        assert!(t.validate().is_ok());
    }
}
