//! TLS policy for a next hop, and the rustls client configurations that
//! enforce it.
//!
//! [`decide`] applies the reference's rules, in this order:
//!
//! 1. **Domain Security**: the next-hop domain is in
//!    `TLSSendDomainSecureList` (exact, case-insensitive). The connector
//!    must have DomainSecureEnabled (else `451 4.7.3`, retried); STARTTLS is
//!    required (`451 5.7.3` without it); the server's chain must reach one
//!    of the store's trusted roots and one of its names (SAN DNS names,
//!    else CN; subdomain and wildcard allowed) must match the **next-hop
//!    domain**, never the MX host name (`454 4.7.5` otherwise); our SMTP
//!    certificate is presented as the client certificate. Never plaintext,
//!    never unverified.
//! 2. **RequireTLS** with TlsAuthLevel: EncryptionOnly (any certificate),
//!    CertificateValidation (chain only), DomainValidation (chain and the
//!    name TlsDomain, else the next-hop domain). No STARTTLS: transient
//!    failure.
//! 3. **Opportunistic**: STARTTLS when offered unless IgnoreSTARTTLS; any
//!    certificate is accepted (the chain is still recorded). After a failed
//!    handshake the caller records the host and the next attempt to it is
//!    plaintext ([`decide`]'s `plaintext_fallback`).
//!
//! TLS 1.2 and 1.3 only, aws-lc-rs provider.
//!
//! Chain validation wraps rustls' `WebPkiServerVerifier` built from the
//! store's roots: a name mismatch *against the connection's server name*
//! (the MX host) is ignored, because the verifier reports it only after the
//! chain verified; the name that matters is then checked with
//! [`xshell_core::pki::dns::name_matches`].

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use time::OffsetDateTime;
use xshell_core::model::{CertificateRecord, OrgConfig, SendConnector, TlsAuthLevel};
use xshell_core::pki::cert::parse_certificate;
use xshell_core::pki::dns::name_matches;
use xshell_core::pki::select::{SelectOptions, select_certificates};
use xshell_core::store::Backend;
use xshell_core::types::SmtpDomain;

use super::client::StartTlsMode;

/// The name a server certificate must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameCheck {
    /// Lower-case domain.
    pub name: String,
    /// A certificate for a subdomain of `name` also matches.
    pub allow_subdomain: bool,
}

/// What TLS a next hop gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsPolicy {
    /// Mutual TLS, chain to our roots, names checked against `domain`.
    DomainSecure { domain: String },
    /// RequireTLS: STARTTLS mandatory; the certificate is checked per level.
    Required {
        level: TlsAuthLevel,
        /// The name checked under DomainValidation.
        name: Option<NameCheck>,
    },
    /// STARTTLS when offered, any certificate.
    Opportunistic,
    /// No STARTTLS (IgnoreSTARTTLS, or plaintext after a failed handshake).
    Plaintext,
}

/// Why the policy refuses to send at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRefusal {
    #[error(
        "'{domain}' is in TLSSendDomainSecureList but send connector '{connector}' does not have DomainSecureEnabled"
    )]
    DomainSecureDisabled { domain: String, connector: String },
}

fn norm(d: &str) -> String {
    d.trim_end_matches('.').to_ascii_lowercase()
}

/// Applies the rules (see the module docs). `plaintext_fallback`: an
/// opportunistic handshake with this host failed before, so go plaintext;
/// it never weakens Domain Security or RequireTLS.
pub fn decide(
    next_hop_domain: &str,
    connector: &SendConnector,
    secure_list: &[SmtpDomain],
    plaintext_fallback: bool,
) -> Result<TlsPolicy, PolicyRefusal> {
    let domain = norm(next_hop_domain);
    if secure_list.iter().any(|d| norm(d.as_str()) == domain) {
        if !connector.domain_secure_enabled {
            return Err(PolicyRefusal::DomainSecureDisabled {
                domain,
                connector: connector.name.clone(),
            });
        }
        return Ok(TlsPolicy::DomainSecure { domain });
    }
    if connector.require_tls {
        let level = connector
            .tls_auth_level
            .unwrap_or(TlsAuthLevel::EncryptionOnly);
        let name = (level == TlsAuthLevel::DomainValidation).then(|| {
            match connector.tls_domain.as_ref().map(|p| p.as_str()) {
                // `*.contoso.com`: any name under contoso.com
                Some(p) if p.starts_with("*.") => NameCheck {
                    name: norm(&p[2..]),
                    allow_subdomain: true,
                },
                Some(p) => NameCheck {
                    name: norm(p),
                    allow_subdomain: false,
                },
                None => NameCheck {
                    name: domain.clone(),
                    allow_subdomain: true,
                },
            }
        });
        return Ok(TlsPolicy::Required { level, name });
    }
    if connector.ignore_starttls || plaintext_fallback {
        return Ok(TlsPolicy::Plaintext);
    }
    Ok(TlsPolicy::Opportunistic)
}

impl TlsPolicy {
    /// How the client session treats STARTTLS.
    pub fn starttls(&self) -> StartTlsMode {
        match self {
            TlsPolicy::DomainSecure { .. } | TlsPolicy::Required { .. } => StartTlsMode::Required,
            TlsPolicy::Opportunistic => StartTlsMode::IfOffered,
            TlsPolicy::Plaintext => StartTlsMode::Never,
        }
    }

    /// True when a failed handshake may lead to plaintext next time.
    pub fn is_opportunistic(&self) -> bool {
        matches!(self, TlsPolicy::Opportunistic)
    }

    /// The name the server certificate must match, if any.
    pub fn name_check(&self) -> Option<NameCheck> {
        match self {
            TlsPolicy::DomainSecure { domain } => Some(NameCheck {
                name: domain.clone(),
                allow_subdomain: true,
            }),
            TlsPolicy::Required { name, .. } => name.clone(),
            _ => None,
        }
    }

    /// True when the server's chain must reach a trusted root.
    pub fn validates_chain(&self) -> bool {
        match self {
            TlsPolicy::DomainSecure { .. } => true,
            TlsPolicy::Required { level, .. } => *level != TlsAuthLevel::EncryptionOnly,
            _ => false,
        }
    }
}

/// Our client certificate and key.
#[derive(Debug)]
pub struct ClientIdentity {
    /// The certificate first, then its chain.
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Clone for ClientIdentity {
    fn clone(&self) -> Self {
        ClientIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

/// What the TLS configurations are built from.
#[derive(Debug, Clone, Default)]
pub struct TlsMaterial {
    /// The store's trusted roots.
    pub roots: Vec<CertificateDer<'static>>,
    /// Our SMTP certificate, if one was selected.
    pub client: Option<ClientIdentity>,
}

/// Building a TLS client configuration failed (our side's fault).
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error(
        "no SMTP certificate with a private key matches '{0}' (needed as the Domain Security client certificate)"
    )]
    NoClientCertificate(String),
    #[error("no trusted root certificates are configured")]
    NoTrustedRoots,
    #[error("certificate {thumbprint}: {detail}")]
    Certificate { thumbprint: String, detail: String },
    #[error("cannot read the private key of certificate {thumbprint}: {detail}")]
    Key { thumbprint: String, detail: String },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The aws-lc-rs provider.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The rustls client configuration enforcing `policy`. `Plaintext` gets a
/// configuration too (never used).
pub fn client_config(
    policy: &TlsPolicy,
    material: &TlsMaterial,
) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let provider = provider();
    let chain = if policy.validates_chain() {
        let mut roots = RootCertStore::empty();
        for r in &material.roots {
            // A root rustls cannot parse is skipped (it cannot anchor anything).
            let _ = roots.add(r.clone());
        }
        if roots.is_empty() {
            return Err(TlsSetupError::NoTrustedRoots);
        }
        let v = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| TlsSetupError::Rustls(rustls::Error::General(e.to_string())))?;
        Some(v)
    } else {
        None
    };
    let verifier = Arc::new(PolicyVerifier {
        chain,
        name: policy.name_check(),
        provider: provider.clone(),
    });
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&material.client, policy) {
        (Some(id), _) => builder.with_client_auth_cert(id.chain.clone(), id.key.clone_key())?,
        (None, TlsPolicy::DomainSecure { domain }) => {
            return Err(TlsSetupError::NoClientCertificate(domain.clone()));
        }
        (None, _) => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// Server certificate verification per policy (see the module docs).
#[derive(Debug)]
struct PolicyVerifier {
    /// Chain validation to the store's roots; None accepts any chain.
    chain: Option<Arc<WebPkiServerVerifier>>,
    name: Option<NameCheck>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PolicyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(v) = &self.chain {
            match v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
                Ok(_) => {}
                // The chain verified; only the MX host name did not match,
                // which is not the name Domain Security checks.
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )) => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(check) = &self.name {
            let info = parse_certificate(end_entity.as_ref())
                .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
            if !name_matches(
                &info.dns_names,
                info.subject_cn.as_deref(),
                &check.name,
                check.allow_subdomain,
            ) {
                return Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName,
                ));
            }
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

/// What a TLS session established, for the tracking log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TlsOutcome {
    /// `TLSv1.3`, `TLSv1.2`.
    pub protocol: String,
    /// e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher: String,
    /// The server certificate's subject (`CN=..., O=...`), if it parsed.
    pub server_subject: Option<String>,
    /// The server certificate's issuer.
    pub server_issuer: Option<String>,
    /// The name the certificate was verified against (the next-hop domain
    /// under Domain Security, TlsDomain under DomainValidation).
    pub verified_name: Option<String>,
    /// Delivered under Domain Security (mutual TLS, verified partner domain).
    pub domain_secured: bool,
}

impl TlsOutcome {
    /// The facts of an established connection under `policy`.
    pub fn from_connection(policy: &TlsPolicy, conn: &rustls::ClientConnection) -> Self {
        let protocol = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
            Some(v) => format!("{v:?}"),
            None => "unknown".to_string(),
        };
        let cipher = conn
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_else(|| "unknown".to_string());
        let info = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|c| parse_certificate(c.as_ref()).ok());
        TlsOutcome {
            protocol,
            cipher,
            server_subject: info.as_ref().map(|i| i.subject.clone()),
            server_issuer: info.as_ref().map(|i| i.issuer.clone()),
            verified_name: policy.name_check().map(|n| n.name),
            domain_secured: matches!(policy, TlsPolicy::DomainSecure { .. }),
        }
    }
}

// ------------------------------------------------------------ our certificate
//
// Loading our client certificate belongs with the config compiler (the
// receiving side selects its STARTTLS certificate the same way); these two
// functions are here until that is consolidated.

/// The name our client certificate is selected by: TlsCertificateName,
/// else the connector's Fqdn, else the server FQDN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateName {
    /// `<I>issuer<S>subject`.
    Explicit {
        issuer: String,
        subject: String,
    },
    Fqdn(String),
}

impl CertificateName {
    pub fn for_connector(connector: &SendConnector, server_fqdn: &str) -> Self {
        if let Some((i, s)) = connector
            .tls_certificate_name
            .as_deref()
            .and_then(xshell_core::model::parse_tls_certificate_name)
        {
            return CertificateName::Explicit {
                issuer: i.trim().to_string(),
                subject: s.trim().to_string(),
            };
        }
        CertificateName::Fqdn(
            connector
                .fqdn
                .clone()
                .unwrap_or_else(|| server_fqdn.to_string()),
        )
    }
}

/// Our SMTP certificate for `name` (see the reference: exact before
/// wildcard; a CA-issued valid certificate before a self-signed one; newest).
pub fn select_client_certificate<'a>(
    cfg: &'a OrgConfig,
    name: &CertificateName,
    now: OffsetDateTime,
) -> Option<&'a CertificateRecord> {
    let candidates = xshell_core::certificates::candidates(cfg, now);
    let thumbprint = match name {
        CertificateName::Fqdn(fqdn) => {
            select_certificates(&candidates, fqdn, SelectOptions::default())
                .first()
                .map(|c| c.thumbprint.clone())?
        }
        CertificateName::Explicit { issuer, subject } => {
            let mut matching: Vec<(&CertificateRecord, OffsetDateTime)> = cfg
                .certificates
                .iter()
                .filter(|r| r.key_id.is_some())
                .filter_map(|r| {
                    let der = xshell_core::certificates::certificate_der(r).ok()??;
                    let info = parse_certificate(&der).ok()?;
                    (info.issuer.eq_ignore_ascii_case(issuer)
                        && info.subject.eq_ignore_ascii_case(subject))
                    .then_some((r, info.not_before))
                })
                .collect();
            matching.sort_by_key(|m| std::cmp::Reverse(m.1));
            return matching.first().map(|(r, _)| *r);
        }
    };
    cfg.certificates.iter().find(|r| r.thumbprint == thumbprint)
}

/// Reads a certificate record and its private key (PKCS#8 PEM in the store).
pub fn load_client_identity(
    rec: &CertificateRecord,
    backend: &dyn Backend,
) -> Result<ClientIdentity, TlsSetupError> {
    let cert_err = |detail: String| TlsSetupError::Certificate {
        thumbprint: rec.thumbprint.clone(),
        detail,
    };
    let key_err = |detail: String| TlsSetupError::Key {
        thumbprint: rec.thumbprint.clone(),
        detail,
    };
    let der = xshell_core::certificates::certificate_der(rec)
        .map_err(|e| cert_err(e.to_string()))?
        .ok_or_else(|| cert_err("is a pending request".to_string()))?;
    let mut chain = vec![CertificateDer::from(der)];
    for c in xshell_core::certificates::chain_der(rec).map_err(|e| cert_err(e.to_string()))? {
        chain.push(CertificateDer::from(c));
    }
    let key_id = rec
        .key_id
        .as_deref()
        .ok_or_else(|| key_err("the certificate has no private key".to_string()))?;
    let pem = backend
        .get_secret(key_id)
        .map_err(|e| key_err(e.to_string()))?;
    let text = String::from_utf8(pem).map_err(|_| key_err("not PEM text".to_string()))?;
    let key =
        xshell_core::pki::keys::PrivateKey::from_pem(&text).map_err(|e| key_err(e.to_string()))?;
    let key = PrivateKeyDer::Pkcs8(key.pkcs8_der().to_vec().into());
    Ok(ClientIdentity { chain, key })
}

/// The store's trusted roots, for [`TlsMaterial::roots`].
pub fn trusted_roots(cfg: &OrgConfig) -> Vec<CertificateDer<'static>> {
    xshell_core::certificates::trusted_root_ders(cfg)
        .into_iter()
        .map(CertificateDer::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> SendConnector {
        let mut c = SendConnector::new("Out");
        c.address_spaces = vec!["*".parse().unwrap()];
        c
    }

    fn list(ds: &[&str]) -> Vec<SmtpDomain> {
        ds.iter().map(|d| d.parse().unwrap()).collect()
    }

    #[test]
    fn domain_secure_comes_first_and_needs_the_connector_switch() {
        let mut c = conn();
        c.require_tls = true; // irrelevant: Domain Security wins
        let l = list(&["orgb.example"]);
        assert_eq!(
            decide("OrgB.Example.", &c, &l, true),
            Err(PolicyRefusal::DomainSecureDisabled {
                domain: "orgb.example".into(),
                connector: "Out".into()
            })
        );
        c.domain_secure_enabled = true;
        let p = decide("orgb.example", &c, &l, true).unwrap();
        assert_eq!(
            p,
            TlsPolicy::DomainSecure {
                domain: "orgb.example".into()
            }
        );
        // the plaintext fallback never applies to it
        assert_eq!(p.starttls(), StartTlsMode::Required);
        // exact match only: a subdomain is not in the list
        assert_eq!(
            decide("sub.orgb.example", &c, &l, false).unwrap(),
            TlsPolicy::Required {
                level: TlsAuthLevel::EncryptionOnly,
                name: None
            }
        );
    }

    #[test]
    fn require_tls_levels() {
        let mut c = conn();
        c.require_tls = true;
        c.tls_auth_level = Some(TlsAuthLevel::DomainValidation);
        let p = decide("orgc.example", &c, &[], true).unwrap();
        assert_eq!(
            p.name_check(),
            Some(NameCheck {
                name: "orgc.example".into(),
                allow_subdomain: true
            })
        );
        c.tls_domain = Some("*.relay.example".parse().unwrap());
        let p = decide("orgc.example", &c, &[], false).unwrap();
        assert_eq!(p.name_check().unwrap().name, "relay.example");
        c.tls_domain = Some("relay.example".parse().unwrap());
        let p = decide("orgc.example", &c, &[], false).unwrap();
        assert!(!p.name_check().unwrap().allow_subdomain);
        c.tls_auth_level = Some(TlsAuthLevel::CertificateValidation);
        let p = decide("orgc.example", &c, &[], false).unwrap();
        assert!(p.validates_chain() && p.name_check().is_none());
    }

    #[test]
    fn opportunistic_and_plaintext() {
        let mut c = conn();
        let p = decide("x.example", &c, &[], false).unwrap();
        assert_eq!(p, TlsPolicy::Opportunistic);
        assert_eq!(p.starttls(), StartTlsMode::IfOffered);
        assert_eq!(
            decide("x.example", &c, &[], true).unwrap(),
            TlsPolicy::Plaintext
        );
        c.ignore_starttls = true;
        assert_eq!(
            decide("x.example", &c, &[], false).unwrap().starttls(),
            StartTlsMode::Never
        );
    }

    #[test]
    fn our_certificate_is_selected_and_loaded_from_the_store() {
        use xshell_core::certificates::b64_encode;
        use xshell_core::model::TrustedRoot;
        use xshell_core::pki::ca::LabCa;
        use xshell_core::pki::cert::thumbprint;
        use xshell_core::pki::dn::SubjectName;
        use xshell_core::pki::keys::{KeyAlgorithm, generate};
        use xshell_core::pki::request::create_request;
        use xshell_core::pki::selfsigned::create_self_signed;
        use xshell_core::store::FileBackend;

        let dir = tempfile::tempdir().unwrap();
        let backend = FileBackend::new(dir.path());
        let ca = LabCa::create_with("Lab Root", 30, KeyAlgorithm::EcdsaP256).unwrap();
        let ca_der = ca.cert_der().unwrap();
        let mut cfg = OrgConfig::default();
        cfg.trusted_roots.push(TrustedRoot {
            thumbprint: thumbprint(&ca_der),
            subject: "CN=Lab Root".into(),
            certificate: b64_encode(&ca_der),
        });
        let mut add = |cn: &str, self_signed: bool| -> String {
            let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
            let subject = SubjectName::from_cn(cn).unwrap();
            let der = if self_signed {
                create_self_signed(&subject, &[], &key).unwrap()
            } else {
                let csr = create_request(&subject, &[], &key).unwrap();
                let now = OffsetDateTime::now_utc();
                ca.sign_csr_between(
                    csr.der(),
                    now - time::Duration::hours(1),
                    now + time::Duration::days(10),
                )
                .unwrap()
            };
            let tp = thumbprint(&der);
            let key_id = format!("{}.key", tp.to_ascii_lowercase());
            backend
                .put_secret(&key_id, key.to_pem().as_bytes())
                .unwrap();
            cfg.certificates.push(CertificateRecord {
                thumbprint: tp.clone(),
                certificate: Some(b64_encode(&der)),
                chain: vec![],
                request: None,
                key_id: Some(key_id),
                services: vec!["SMTP".into()],
                friendly_name: None,
                private_key_exportable: false,
                default_smtp: false,
            });
            tp
        };
        let self_signed = add("mail.orga.example", true);
        let wildcard = add("*.orga.example", false);
        let exact = add("mail.orga.example", false);
        let now = OffsetDateTime::now_utc();

        // connector Fqdn: a CA-issued exact name beats the wildcard and the self-signed one
        let mut c = conn();
        c.fqdn = Some("mail.orga.example".into());
        let name = CertificateName::for_connector(&c, "server.orga.example");
        assert_eq!(name, CertificateName::Fqdn("mail.orga.example".into()));
        let rec = select_client_certificate(&cfg, &name, now).unwrap();
        assert_eq!(rec.thumbprint, exact);
        // no Fqdn: the server's name; only the wildcard covers it
        let name = CertificateName::for_connector(&conn(), "smtp.orga.example");
        assert_eq!(
            select_client_certificate(&cfg, &name, now)
                .unwrap()
                .thumbprint,
            wildcard
        );
        // TlsCertificateName picks explicitly
        c.tls_certificate_name = Some("<I>CN=mail.orga.example<S>CN=mail.orga.example".into());
        let name = CertificateName::for_connector(&c, "x");
        assert_eq!(
            select_client_certificate(&cfg, &name, now)
                .unwrap()
                .thumbprint,
            self_signed
        );
        assert!(
            select_client_certificate(&cfg, &CertificateName::Fqdn("other.example".into()), now)
                .is_none()
        );

        // loaded with its key, it makes a Domain Security configuration
        let rec = cfg
            .certificates
            .iter()
            .find(|r| r.thumbprint == exact)
            .unwrap();
        let id = load_client_identity(rec, &backend).unwrap();
        assert_eq!(id.chain.len(), 1);
        let material = TlsMaterial {
            roots: trusted_roots(&cfg),
            client: Some(id),
        };
        let policy = TlsPolicy::DomainSecure {
            domain: "orgb.example".into(),
        };
        let config = client_config(&policy, &material).unwrap();
        assert!(config.client_auth_cert_resolver.has_certs());
        // a missing key file is a typed error
        let mut broken = rec.clone();
        broken.key_id = Some("missing.key".into());
        assert!(matches!(
            load_client_identity(&broken, &backend),
            Err(TlsSetupError::Key { .. })
        ));
    }

    #[test]
    fn domain_secure_without_our_certificate_is_a_setup_error() {
        let p = TlsPolicy::DomainSecure {
            domain: "orgb.example".into(),
        };
        let m = TlsMaterial::default();
        assert!(matches!(
            client_config(&p, &m),
            Err(TlsSetupError::NoTrustedRoots)
        ));
        assert!(client_config(&TlsPolicy::Opportunistic, &m).is_ok());
    }
}
