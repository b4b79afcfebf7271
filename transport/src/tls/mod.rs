//! TLS for the transport: our certificates and keys from the store as
//! rustls types (for STARTTLS as a server, [`load_own`], and as the
//! client certificate of outbound connections, [`select_client_certificate`]
//! and [`ClientIdentity`]), the inbound (STARTTLS) server configuration,
//! and the opportunistic client-certificate verifier. This is the one place
//! that reads certificates and keys; the config compiler calls it once per
//! store revision.
//!
//! # Client certificates
//! An MX cannot let the handshake decide about client certificates: a
//! client that offers an untrusted certificate must still be able to send
//! mail anonymously (opportunistic TLS), and only the sender's domain at
//! MAIL FROM says whether Domain Security applies. So the handshake only
//! proves possession of the key ([`OpportunisticClientVerifier`] checks the
//! CertificateVerify signature and accepts any chain), and
//! [`assess_client_certificate`] evaluates the chain afterwards: verified
//! against the store's trusted roots (`chain_verified`), or one of our own
//! certificates (`direct_trust`). The policy at MAIL FROM decides on those
//! facts.

use std::collections::HashSet;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::ServerConfig;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConnection, SignatureScheme};
use time::OffsetDateTime;
use xshell_core::certificates::{self, RecordError};
use xshell_core::model::{CertificateRecord, OrgConfig, SendConnector, parse_tls_certificate_name};
use xshell_core::pki::cert::parse_certificate;
use xshell_core::pki::keys::PrivateKey;
use xshell_core::pki::select::{SelectOptions, select_certificates};
use xshell_core::pki::validate::{CertStatus, RootCaType, validate_certificate};
use xshell_core::store::{Backend, StoreError};

use xshell_smtp::{ClientCertificate, TlsFacts};

/// Why one of our certificates cannot be used for TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("certificate {0} has no certificate data (a pending request)")]
    NoCertificate(String),
    #[error("certificate {0} has no private key")]
    NoKey(String),
    #[error("cannot read the private key of certificate {thumbprint}: {source}")]
    KeyRead {
        thumbprint: String,
        #[source]
        source: StoreError,
    },
    #[error("the private key of certificate {thumbprint} is not usable: {message}")]
    KeyParse { thumbprint: String, message: String },
    #[error("rustls refused certificate {thumbprint}: {source}")]
    Rustls {
        thumbprint: String,
        #[source]
        source: rustls::Error,
    },
}

/// The crypto provider used everywhere (aws-lc-rs; `ring` is not linked).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// One of our certificates, ready for rustls.
#[derive(Debug)]
pub struct OwnCertificate {
    pub thumbprint: String,
    pub subject: String,
    /// Leaf first, then the chain imported with it (self-signed roots left
    /// out: a peer must have them anyway).
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// Loads a stored certificate and its private key (PKCS#8 PEM in the
/// store's secrets).
pub fn load_own(
    rec: &CertificateRecord,
    secrets: &dyn Backend,
) -> Result<OwnCertificate, TlsError> {
    let tp = || rec.thumbprint.clone();
    let der = certificates::certificate_der(rec)?.ok_or_else(|| TlsError::NoCertificate(tp()))?;
    let info = parse_certificate(&der).map_err(|e| TlsError::KeyParse {
        thumbprint: tp(),
        message: format!("the certificate does not parse: {e}"),
    })?;
    let key_id = rec.key_id.as_deref().ok_or_else(|| TlsError::NoKey(tp()))?;
    let pem = secrets
        .get_secret(key_id)
        .map_err(|source| TlsError::KeyRead {
            thumbprint: tp(),
            source,
        })?;
    let text = String::from_utf8(pem).map_err(|_| TlsError::KeyParse {
        thumbprint: tp(),
        message: "the key file is not PEM text".into(),
    })?;
    let key = PrivateKey::from_pem(&text).map_err(|e| TlsError::KeyParse {
        thumbprint: tp(),
        message: e.to_string(),
    })?;
    let mut chain = vec![CertificateDer::from(der)];
    for c in certificates::chain_der(rec)? {
        let self_signed = parse_certificate(&c).is_ok_and(|i| i.is_self_signed);
        if !self_signed {
            chain.push(CertificateDer::from(c));
        }
    }
    Ok(OwnCertificate {
        thumbprint: rec.thumbprint.clone(),
        subject: info.subject,
        chain,
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.pkcs8_der().to_vec())),
    })
}

/// Our certificate and key as the TLS client certificate of outbound
/// connections.
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

impl From<OwnCertificate> for ClientIdentity {
    fn from(own: OwnCertificate) -> Self {
        ClientIdentity {
            chain: own.chain,
            key: own.key,
        }
    }
}

/// The name our client certificate is selected by: TlsCertificateName,
/// else the send connector's Fqdn, else the server FQDN.
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
            .and_then(parse_tls_certificate_name)
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

/// Our SMTP certificate for `name` (the reference: exact before wildcard;
/// a CA-issued valid certificate before a self-signed one; then the latest
/// NotAfter, see [`select_certificates`]).
pub fn select_client_certificate<'a>(
    cfg: &'a OrgConfig,
    name: &CertificateName,
    now: OffsetDateTime,
) -> Option<&'a CertificateRecord> {
    let candidates = certificates::candidates(cfg, now);
    let thumbprint = match name {
        CertificateName::Fqdn(fqdn) => {
            select_certificates(&candidates, fqdn, SelectOptions::default())
                .first()
                .map(|c| c.thumbprint.clone())?
        }
        CertificateName::Explicit { issuer, subject } => {
            // Renewal: several certificates with that issuer and subject;
            // the same preference as by name (valid first, latest NotAfter).
            let mut matching: Vec<&xshell_core::pki::select::Candidate> = candidates
                .iter()
                .filter(|c| c.has_private_key)
                .filter(|c| {
                    cfg.certificates
                        .iter()
                        .find(|r| r.thumbprint == c.thumbprint)
                        .and_then(|r| certificates::certificate_der(r).ok().flatten())
                        .and_then(|d| parse_certificate(&d).ok())
                        .is_some_and(|info| {
                            info.issuer.eq_ignore_ascii_case(issuer)
                                && info.subject.eq_ignore_ascii_case(subject)
                        })
                })
                .collect();
            matching.sort_by(|a, b| xshell_core::pki::select::compare(a, b));
            matching.first().map(|c| c.thumbprint.clone())?
        }
    };
    cfg.certificates.iter().find(|r| r.thumbprint == thumbprint)
}

/// The store's trusted roots as rustls certificates.
pub fn trusted_roots(cfg: &OrgConfig) -> Vec<CertificateDer<'static>> {
    certificates::trusted_root_ders(cfg)
        .into_iter()
        .map(CertificateDer::from)
        .collect()
}

/// TLS 1.2 sessions remembered per receive connector (by session ID).
const SESSION_CACHE: usize = 4096;

/// TLS 1.3 tickets sent after each handshake: one for the next connection
/// and one for a connection opened in parallel.
const TLS13_TICKETS: usize = 2;

/// The STARTTLS configuration of a receive connector: TLS 1.2 and 1.3
/// only, our certificate, and (when `request_client_cert`) an optional
/// client-certificate request that accepts any certificate.
pub fn server_config(
    own: OwnCertificate,
    request_client_cert: bool,
    root_hints: Vec<DistinguishedName>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let thumbprint = own.thumbprint.clone();
    let rustls_err = |source| TlsError::Rustls {
        thumbprint: thumbprint.clone(),
        source,
    };
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(rustls_err)?;
    let builder = if request_client_cert {
        builder.with_client_cert_verifier(Arc::new(OpportunisticClientVerifier {
            hints: root_hints,
            algorithms: provider.signature_verification_algorithms,
        }))
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(own.chain, own.key)
        .map_err(rustls_err)?;
    // The server picks the suite: the first of the provider's list (AES-256-GCM,
    // AES-128-GCM, ChaCha20-Poly1305; all AEAD with ECDHE) that the client
    // offers, not the client's first choice, so a peer cannot steer the
    // session to its preference (testssl.sh: "cipher order", tests/tls_scan.rs).
    config.ignore_client_order = true;
    // Session resumption (TLS 1.3 tickets, TLS 1.2 session IDs and
    // tickets) saves a reconnecting client the full handshake. The ticket
    // keys are random, live in this process only and rotate every 6 hours
    // (tickets live 12). A resumed session carries the client certificate
    // of the handshake that created it, and `facts` assesses it afresh
    // against the trust of the moment, as for a full handshake. This
    // configuration, its tickets and its session cache are built anew for
    // every compiled store revision: a ticket issued before a certificate
    // or trust change cannot be used after it.
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE);
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().map_err(rustls_err)?;
    config.send_tls13_tickets = TLS13_TICKETS;
    Ok(Arc::new(config))
}

/// Subjects (DER) of the trusted roots, sent as acceptable CA hints.
pub fn root_hints(trusted_roots: &[Vec<u8>]) -> Vec<DistinguishedName> {
    trusted_roots
        .iter()
        .filter_map(|r| parse_certificate(r).ok())
        .map(|i| DistinguishedName::from(i.subject_der))
        .collect()
}

/// Requests a client certificate but never requires one, accepts any
/// chain at handshake time, and verifies the handshake signature (proof
/// that the client holds the certificate's key).
#[derive(Debug)]
pub struct OpportunisticClientVerifier {
    hints: Vec<DistinguishedName>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for OpportunisticClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Decided after the handshake (assess_client_certificate).
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// What the policy needs to know about the peer's certificates.
#[derive(Debug, Clone, Default)]
pub struct TrustContext {
    /// The store's trusted roots (DER).
    pub trusted_roots: Vec<Vec<u8>>,
    /// Thumbprints of our own certificates (Direct Trust).
    pub own_thumbprints: HashSet<String>,
}

/// Evaluates a presented client chain (leaf first) after the handshake.
/// `None` when no certificate was presented or the leaf does not parse.
pub fn assess_client_certificate(
    peer_chain: &[CertificateDer<'_>],
    trust: &TrustContext,
    now: OffsetDateTime,
) -> Option<ClientCertificate> {
    let (leaf, intermediates) = peer_chain.split_first()?;
    let info = parse_certificate(leaf.as_ref()).ok()?;
    let intermediates: Vec<Vec<u8>> = intermediates.iter().map(|c| c.as_ref().to_vec()).collect();
    let v = validate_certificate(leaf.as_ref(), &intermediates, &trust.trusted_roots, now);
    let chain_ok = v.status == CertStatus::Valid && v.root_ca_type == RootCaType::Registry;
    let chain_verified = chain_ok && info.has_client_auth;
    // Public CAs no longer issue clientAuth (2026): such a certificate is
    // accepted per partner domain (TLSReceiveDomainSecureServerAuthOnlyList).
    let server_auth_only = chain_ok && !info.has_client_auth && info.has_server_auth;
    // Only subjectAltName DNS names authenticate a peer: a certificate
    // without them (CN only) proves no domain (RFC 9525; webpki, which
    // checks the outbound chain, ignores the CN too).
    let names = info.dns_names.clone();
    Some(ClientCertificate {
        direct_trust: trust.own_thumbprints.contains(&info.thumbprint),
        subject: info.subject,
        issuer: info.issuer,
        thumbprint: info.thumbprint,
        names,
        chain_verified,
        server_auth_only,
    })
}

/// What the protocol log and the refusal say about a certificate that
/// verifies but has no clientAuth extended key usage.
pub const SERVER_AUTH_ONLY_PROBLEM: &str =
    "the certificate is not for client authentication (no clientAuth extended key usage)";

/// Why a presented client chain (leaf first) is not verified, in the
/// words of the checks [`assess_client_certificate`] makes (for the
/// protocol log); `None` when it verifies or nothing was presented.
pub fn client_certificate_problem(
    peer_chain: &[CertificateDer<'_>],
    trust: &TrustContext,
    now: OffsetDateTime,
) -> Option<String> {
    let (leaf, intermediates) = peer_chain.split_first()?;
    let info = match parse_certificate(leaf.as_ref()) {
        Ok(i) => i,
        Err(e) => return Some(format!("the certificate cannot be read: {e}")),
    };
    let intermediates: Vec<Vec<u8>> = intermediates.iter().map(|c| c.as_ref().to_vec()).collect();
    let v = validate_certificate(leaf.as_ref(), &intermediates, &trust.trusted_roots, now);
    if v.status != CertStatus::Valid {
        return Some(format!(
            "certificate status {} (root CA type {}): it does not chain to a trusted root in its validity period",
            v.status.as_str(),
            v.root_ca_type.as_str()
        ));
    }
    if v.root_ca_type != RootCaType::Registry {
        return Some(format!(
            "root CA type {}: the chain does not end at a trusted root",
            v.root_ca_type.as_str()
        ));
    }
    if !info.has_client_auth {
        return Some(SERVER_AUTH_ONLY_PROBLEM.into());
    }
    None
}

/// The facts of an established server-side TLS connection.
pub fn facts(conn: &ServerConnection, trust: &TrustContext) -> TlsFacts {
    let protocol = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        Some(other) => format!("{other:?}"),
        None => "unknown".to_string(),
    };
    let cipher = conn
        .negotiated_cipher_suite()
        .map_or_else(|| "unknown".to_string(), |s| format!("{:?}", s.suite()));
    let client_certificate = conn
        .peer_certificates()
        .and_then(|chain| assess_client_certificate(chain, trust, OffsetDateTime::now_utc()));
    TlsFacts {
        protocol,
        cipher,
        sni: conn.server_name().map(str::to_string),
        client_certificate,
    }
}

#[cfg(test)]
mod tests;
