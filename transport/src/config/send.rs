//! The sending side of the compiled configuration: per send connector the
//! EHLO name, timeouts, size limit, our client certificate (loaded once per
//! store revision) and the rustls client configurations per TLS policy;
//! organization-wide the Domain Security send list, the retry schedule, the
//! DNS servers and the postmaster address.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::ClientConfig;
use time::OffsetDateTime;
use xshell_core::model::{OrgConfig, SendConnector, SmartHostAuthMechanism, TransportService};
use xshell_core::store::Backend;
use xshell_core::types::{HostPort, SmtpDomain};

use crate::dsn::postmaster_address;
use crate::outbound::deliver::Timeouts;
use crate::outbound::mta_sts::MtaStsRuntime;
use crate::outbound::tls::{RemotePin, TlsMaterial, TlsPolicy, TlsSetupError, client_config};
use crate::retry::Schedule;
use crate::tls::{self, CertificateName, ClientIdentity};

/// Longest wait for a TCP connection, whatever the inactivity timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// One send connector, compiled.
#[derive(Debug)]
pub struct SendConnectorRuntime {
    /// The store object (routing and [`crate::outbound::tls::decide`] take it).
    pub connector: SendConnector,
    /// The connector's Fqdn, else the server's.
    pub helo_name: String,
    /// Whether a next hop that answers with `helo_name` is a loop back to
    /// this server: only when that name was configured (the connector's or
    /// the transport service's Fqdn). The default name, from the server's
    /// Name, may be shared by unrelated servers.
    pub loop_detection: bool,
    /// The store's roots and our client certificate.
    pub material: TlsMaterial,
    /// Thumbprint of our client certificate, if one was selected.
    pub client_certificate: Option<String>,
    /// Its subject (for the protocol log).
    pub client_certificate_subject: Option<String>,
    /// ProtocolLoggingLevel Verbose: sessions are written to the send
    /// protocol log.
    pub protocol_logging: bool,
    /// ConnectionInactivityTimeout applied to every read and write.
    pub timeouts: Timeouts,
    /// The smaller of the connector's MaxMessageSize and MaxSendSize
    /// (`None`: unlimited).
    pub max_message_size: Option<u64>,
    /// AUTH PLAIN credentials for the smart hosts (BasicAuth).
    pub auth: Option<xshell_smtp::client::Credentials>,
    /// Client configurations by policy, built once per revision.
    configs: Mutex<HashMap<String, Arc<ClientConfig>>>,
}

impl SendConnectorRuntime {
    /// The rustls configuration enforcing `policy` (`None` for plaintext),
    /// built at most once per compiled configuration.
    pub fn client_config(
        &self,
        policy: &TlsPolicy,
    ) -> Result<Option<Arc<ClientConfig>>, TlsSetupError> {
        if *policy == TlsPolicy::Plaintext {
            return Ok(None);
        }
        let key = format!("{policy:?}");
        let mut cache = self.configs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.get(&key) {
            return Ok(Some(Arc::clone(c)));
        }
        let c = client_config(policy, &self.material)?;
        cache.insert(key, Arc::clone(&c));
        Ok(Some(c))
    }
}

/// Everything the queue runner needs from the configuration.
#[derive(Debug)]
pub struct SendRuntime {
    /// The send connectors as stored (for [`crate::routing`]).
    pub connectors: Vec<SendConnector>,
    /// Compiled, by connector name.
    pub compiled: HashMap<String, Arc<SendConnectorRuntime>>,
    /// TLSSendDomainSecureList.
    pub secure_list: Vec<SmtpDomain>,
    pub schedule: Schedule,
    /// ExternalDNSServers (empty: the system's resolvers).
    pub dns_servers: Vec<HostPort>,
    /// DnssecTrustAnchorFile (None: the IANA root keys).
    pub dnssec_trust_anchor: Option<std::path::PathBuf>,
    /// Where delivery status notifications come from.
    pub postmaster: String,
    /// GenerateCopyOfDSNFor: non-delivery reports with these status codes
    /// are also sent to the postmaster.
    pub copy_dsn_for: Vec<(u8, u16, u16)>,
    /// MTA-STS's trust store (read only when a connector uses MTA-STS).
    pub mta_sts: MtaStsRuntime,
}

impl Default for SendRuntime {
    fn default() -> Self {
        SendRuntime {
            connectors: Vec::new(),
            compiled: HashMap::new(),
            secure_list: Vec::new(),
            schedule: Schedule::from_service(&TransportService::default()),
            dns_servers: Vec::new(),
            dnssec_trust_anchor: None,
            postmaster: "postmaster@localhost".into(),
            copy_dsn_for: Vec::new(),
            mta_sts: MtaStsRuntime::default(),
        }
    }
}

fn min_limit(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

impl SendRuntime {
    /// Compiles the send connectors of `cfg`; what the administrator should
    /// know goes to `notes`.
    pub fn compile(
        cfg: &OrgConfig,
        secrets: &dyn Backend,
        server_fqdn: &str,
        now: OffsetDateTime,
        notes: &mut Vec<String>,
    ) -> SendRuntime {
        let tc = &cfg.transport_config;
        let roots = tls::trusted_roots(cfg);
        let secure_list = tc.tls_send_domain_secure_list.clone();
        let mta_sts = if cfg
            .send_connectors
            .iter()
            .any(|c| c.enabled && c.mta_sts_mode != xshell_core::model::MtaStsMode::None)
        {
            MtaStsRuntime::load(
                cfg.transport_service.mta_sts_trusted_roots_path.as_deref(),
                notes,
            )
        } else {
            MtaStsRuntime::default()
        };
        let mut compiled = HashMap::new();
        for sc in cfg.send_connectors.iter().filter(|c| c.enabled) {
            let name = CertificateName::for_connector(sc, server_fqdn);
            let (client, client_certificate) = match tls::select_client_certificate(cfg, &name, now)
            {
                Some(rec) => match tls::load_own(rec, secrets) {
                    Ok(own) => (Some(ClientIdentity::from(own)), Some(rec)),
                    Err(e) => {
                        notes.push(format!(
                            "send connector '{}': our client certificate cannot be used: {e}",
                            sc.name
                        ));
                        (None, None)
                    }
                },
                None => {
                    if sc.domain_secure_enabled && !secure_list.is_empty() {
                        notes.push(format!(
                                "send connector '{}': no certificate with a private key matches {name:?}: Domain Security deliveries will be deferred",
                                sc.name
                            ));
                    }
                    (None, None)
                }
            };
            let auth = match (&sc.authentication_credential, sc.smart_host_auth_mechanism) {
                (Some(c), m) if m.is_basic() => match secrets.get_secret(&c.secret) {
                    Ok(pw) => Some(xshell_smtp::client::Credentials {
                        user: c.user_name.clone(),
                        password: String::from_utf8_lossy(&pw).into_owned(),
                        require_tls: m == SmartHostAuthMechanism::BasicAuthRequireTLS,
                    }),
                    Err(e) => {
                        // Fail closed: without the password the sessions
                        // fail (AUTH not possible) rather than go unauthenticated.
                        notes.push(format!(
                            "send connector '{}': the AuthenticationCredential password cannot be read: {e}",
                            sc.name
                        ));
                        Some(xshell_smtp::client::Credentials {
                            user: c.user_name.clone(),
                            password: String::new(),
                            require_tls: true,
                        })
                    }
                },
                _ => None,
            };
            let client_certificate_subject =
                client_certificate.and_then(super::certificate_subject);
            let client_certificate = client_certificate.map(|r| r.thumbprint.clone());
            let inactivity = Duration::from_secs(sc.connection_inactivity_timeout.as_secs().max(1));
            let rt = SendConnectorRuntime {
                connector: sc.clone(),
                helo_name: sc.fqdn.clone().unwrap_or_else(|| server_fqdn.to_string()),
                loop_detection: sc.fqdn.is_some() || cfg.transport_service.fqdn.is_some(),
                material: TlsMaterial {
                    roots: roots.clone(),
                    client,
                    // An unreadable pin (a store edited by hand) fails
                    // closed: no certificate has an empty issuer.
                    pin: sc.tls_remote_certificate_name.as_deref().map(|n| {
                        RemotePin::parse(n).unwrap_or_else(|| {
                            notes.push(format!(
                                "send connector '{}': TlsRemoteCertificateName '{n}' is not <I>issuer<S>subject: every delivery will be deferred",
                                sc.name
                            ));
                            RemotePin {
                                issuer: String::new(),
                                subject: n.to_string(),
                            }
                        })
                    }),
                    mta_sts_roots: Arc::clone(&mta_sts.roots),
                },
                client_certificate,
                client_certificate_subject,
                protocol_logging: sc.protocol_logging_level
                    == xshell_core::model::ProtocolLoggingLevel::Verbose,
                timeouts: Timeouts {
                    connect: inactivity.min(CONNECT_TIMEOUT),
                    command: inactivity,
                    data_end: inactivity,
                },
                max_message_size: min_limit(sc.max_message_size.bytes(), tc.max_send_size.bytes()),
                auth,
                configs: Mutex::new(HashMap::new()),
            };
            // Build the configurations known in advance now, so that a
            // problem shows at compile time.
            let mut policies = vec![TlsPolicy::Opportunistic];
            if sc.domain_secure_enabled {
                policies.extend(secure_list.iter().map(|d| TlsPolicy::DomainSecure {
                    domain: d.as_str().trim_end_matches('.').to_ascii_lowercase(),
                }));
            }
            for p in &policies {
                if let Err(e) = rt.client_config(p) {
                    notes.push(format!("send connector '{}': {p:?}: {e}", sc.name));
                }
            }
            compiled.insert(sc.name.clone(), Arc::new(rt));
        }
        SendRuntime {
            connectors: cfg.send_connectors.clone(),
            compiled,
            secure_list,
            schedule: Schedule::from_service(&cfg.transport_service),
            dns_servers: cfg.transport_service.external_dns_servers.clone(),
            dnssec_trust_anchor: cfg
                .transport_service
                .dnssec_trust_anchor_file
                .as_ref()
                .map(std::path::PathBuf::from),
            postmaster: postmaster_address(tc, server_fqdn),
            copy_dsn_for: tc
                .generate_copy_of_dsn_for
                .iter()
                .map(|c| (c.0, c.1, c.2))
                .collect(),
            mta_sts,
        }
    }
}
