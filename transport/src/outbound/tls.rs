//! TLS policy for a next hop, and the rustls client configurations that
//! enforce it.
//!
//! [`decide`] applies the reference's rules, in this order:
//!
//! 1. **Domain Security**: the next-hop domain is in
//!    `TLSSendDomainSecureList` (exact, case-insensitive). The connector
//!    must have DomainSecureEnabled (else `451 4.7.3`, retried); STARTTLS is
//!    required (`451 5.7.3` without it); the server's chain must reach one
//!    of the store's trusted roots and one of its SAN DNS names (the CN
//!    is never consulted: a CN-only certificate proves no domain; subdomain
//!    and wildcard allowed) must match the **next-hop
//!    domain**, never the MX host name (`454 4.7.5` otherwise); our SMTP
//!    certificate is presented as the client certificate. Never plaintext,
//!    never unverified.
//! 2. **DANE** (SmtpDaneMode): the MX hosts publish usable DNSSEC-validated
//!    TLSA records ([`super::dane`]): STARTTLS required, the certificate
//!    matched against them; a bogus lookup, or Mandatory without records,
//!    refuses (`451 4.7.5`).
//! 3. **MTA-STS** (RFC 8461, [`super::mta_sts`]), when the connector's
//!    MtaStsMode looked the domain's policy up: `enforce` gives
//!    [`TlsPolicy::MtaSts`] (STARTTLS, chain and MX name); `testing` only
//!    where the connector would otherwise be opportunistic; Mandatory
//!    without an enforce policy is refused.
//! 4. **RequireTLS** with TlsAuthLevel: EncryptionOnly (any certificate),
//!    CertificateValidation (chain only), DomainValidation (chain and the
//!    name TlsDomain, else the next-hop domain). No STARTTLS: transient
//!    failure.
//! 5. **Opportunistic**: STARTTLS when offered unless IgnoreSTARTTLS; any
//!    certificate is accepted (the chain is still recorded). After a failed
//!    handshake the caller records the host and the next attempt to it is
//!    plaintext ([`decide`]'s `plaintext_fallback`).
//!
//! **TlsRemoteCertificateName** (`<I>issuer<S>subject`) pins the
//! certificate every next hop of the connector must present, on top of
//! whichever rule applies: it makes STARTTLS mandatory and the chain
//! validated (an opportunistic, plaintext or EncryptionOnly policy becomes
//! RequireTLS with CertificateValidation), and a certificate with another
//! issuer or subject fails the handshake, so the message is deferred with
//! `454 4.7.5` naming the expected and the presented certificate. It never
//! falls back to plaintext.
//!
//! TLS 1.2 and 1.3 only, aws-lc-rs provider.
//!
//! Chain validation wraps rustls' `WebPkiServerVerifier` built from the
//! store's roots: a name mismatch *against the connection's server name*
//! (the MX host) is ignored, because the verifier reports it only after the
//! chain verified; the name that matters is then checked with
//! [`xshell_core::pki::names::name_matches`].

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use xshell_core::model::{SendConnector, TlsAuthLevel};
use xshell_core::pki::cert::parse_certificate;
use xshell_core::pki::names::name_matches;
use xshell_core::types::SmtpDomain;

/// Our client certificate: selected and loaded with the receiving side's
/// certificates, in [`crate::tls`].
pub use crate::tls::ClientIdentity;
use xshell_smtp::client::StartTlsMode;

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
    /// DANE (RFC 7672): STARTTLS mandatory, the certificate matched against
    /// the DNSSEC-validated TLSA records of the MX host
    /// ([`super::dane::verify`]).
    Dane(Arc<super::dane::DaneHosts>),
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
    /// MTA-STS (RFC 8461, [`super::mta_sts`]). `enforce`: STARTTLS
    /// required, the chain to the MTA-STS trust store and the MX host name
    /// in a SAN; testing: opportunistic, the same checks recorded.
    MtaSts { enforce: bool },
}

/// Why the policy refuses to send at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRefusal {
    #[error(
        "'{domain}' is in TLSSendDomainSecureList but send connector '{connector}' does not have DomainSecureEnabled"
    )]
    DomainSecureDisabled { domain: String, connector: String },
    /// MtaStsMode Mandatory and the domain has no policy in enforce mode.
    #[error("MtaStsMode is Mandatory but {domain} has no MTA-STS policy in enforce mode: {why}")]
    MtaStsRequired { domain: String, why: String },
    /// RFC 8461 4.1: no MX host matches the enforced policy.
    #[error(
        "MTA-STS enforce: no MX host of {domain} matches its policy (MX {hosts}; policy mx {patterns})"
    )]
    MtaStsNoMatchingMx {
        domain: String,
        hosts: String,
        patterns: String,
    },
    /// DANE lookups failed (bogus DNSSEC, failed lookups), or SmtpDaneMode
    /// Mandatory found no usable TLSA records (`required`).
    #[error("DANE: {reason} (send connector '{connector}')")]
    Dane {
        reason: String,
        connector: String,
        required: bool,
    },
}

impl PolicyRefusal {
    /// The rule that refused.
    pub fn kind(&self) -> PolicyKind {
        match self {
            PolicyRefusal::DomainSecureDisabled { .. } => PolicyKind::DomainSecure,
            PolicyRefusal::MtaStsRequired { .. } | PolicyRefusal::MtaStsNoMatchingMx { .. } => {
                PolicyKind::MtaStsEnforce
            }
            PolicyRefusal::Dane { .. } => PolicyKind::Dane,
        }
    }
}

fn norm(d: &str) -> String {
    d.trim_end_matches('.').to_ascii_lowercase()
}

/// The next-hop domain is in TLSSendDomainSecureList (exact,
/// case-insensitive, a final dot ignored): Domain Security decides.
pub fn domain_secure_listed(next_hop_domain: &str, secure_list: &[SmtpDomain]) -> bool {
    let domain = norm(next_hop_domain);
    secure_list.iter().any(|d| norm(d.as_str()) == domain)
}

/// Which rule decided a next hop's TLS: what tracking events, Get-Message,
/// Test-OutboundTlsPolicy and TLS reports (RFC 8460) say applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PolicyKind {
    /// TLSSendDomainSecureList: mutual TLS, chain and domain verified.
    DomainSecure,
    /// RFC 7672: DNSSEC-validated TLSA records of the MX host.
    Dane,
    /// RFC 8461 `mode: enforce`.
    MtaStsEnforce,
    /// RFC 8461 `mode: testing`: reported, never blocks.
    MtaStsTesting,
    /// The send connector's RequireTLS with its TlsAuthLevel.
    RequireTls,
    /// RFC 8689: the message itself asked for verified TLS.
    RequireTlsExtension,
    /// STARTTLS when offered, any certificate.
    Opportunistic,
    /// No TLS at all (IgnoreSTARTTLS, or plaintext after a failed handshake).
    None,
}

impl PolicyKind {
    /// The name shown to administrators (tracking, Get-Message).
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::DomainSecure => "DomainSecure",
            PolicyKind::Dane => "DANE",
            PolicyKind::MtaStsEnforce => "MTA-STS enforce",
            PolicyKind::MtaStsTesting => "MTA-STS testing",
            PolicyKind::RequireTls => "RequireTLS",
            PolicyKind::RequireTlsExtension => "REQUIRETLS",
            PolicyKind::Opportunistic => "Opportunistic",
            PolicyKind::None => "None",
        }
    }
}

impl std::fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The policy that applied to a next hop and why: carried from the
/// decision to the tracking log, the queue (Get-Message) and TLS reports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppliedPolicy {
    /// `None` until a decision was made (e.g. the route failed first).
    pub kind: Option<PolicyKind>,
    /// One line: why this policy and not a stronger one, or why the hop
    /// went without verified TLS (e.g. "DANE: orgc.example is not
    /// DNSSEC-signed; MTA-STS: no _mta-sts TXT record").
    pub reason: Option<String>,
    /// RFC 8460 4.3 `policy-string`: the TLSA records or the MTA-STS
    /// policy lines that applied, as reported.
    pub policy_strings: Vec<String>,
}

impl AppliedPolicy {
    /// Appends one clause to the reason.
    pub fn add_reason(&mut self, clause: &str) {
        self.reason = Some(match self.reason.take() {
            Some(r) if !r.is_empty() => format!("{r}; {clause}"),
            _ => clause.to_string(),
        });
    }

    /// `self` with what a later step found laid over it: its kind (when
    /// set) wins, its reason clauses follow, its policy strings replace
    /// empty ones.
    pub fn overlaid(mut self, extra: &AppliedPolicy) -> AppliedPolicy {
        if extra.kind.is_some() {
            self.kind = extra.kind;
        }
        if let Some(r) = &extra.reason {
            self.add_reason(r);
        }
        if self.policy_strings.is_empty() {
            self.policy_strings = extra.policy_strings.clone();
        }
        self
    }
}

/// What was looked up for a next hop before [`decide_with`] (DANE's TLSA
/// records, the MTA-STS policy). Empty: only the connector's own rules.
#[derive(Debug, Clone, Default)]
pub struct PolicyInputs {
    /// What the DANE lookups found (SmtpDaneMode); `None`: DANE does not
    /// apply.
    pub dane: Option<super::dane::DaneInput>,
    /// What the lookups found that an administrator should read, one short
    /// clause each, in policy order (e.g. "DANE: orgc.example is not
    /// DNSSEC-signed"); [`AppliedPolicy::reason`] is made from them.
    pub notes: Vec<String>,
    /// What MTA-STS found ([`super::mta_sts::look_up`]).
    pub mta_sts: Option<super::mta_sts::MtaStsInput>,
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
    decide_with(
        next_hop_domain,
        connector,
        secure_list,
        plaintext_fallback,
        &PolicyInputs::default(),
    )
}

/// [`decide`] with what was looked up for the next hop.
pub fn decide_with(
    next_hop_domain: &str,
    connector: &SendConnector,
    secure_list: &[SmtpDomain],
    plaintext_fallback: bool,
    inputs: &PolicyInputs,
) -> Result<TlsPolicy, PolicyRefusal> {
    let domain = norm(next_hop_domain);
    if domain_secure_listed(&domain, secure_list) {
        if !connector.domain_secure_enabled {
            return Err(PolicyRefusal::DomainSecureDisabled {
                domain,
                connector: connector.name.clone(),
            });
        }
        return Ok(TlsPolicy::DomainSecure { domain });
    }
    // DANE where the domain publishes usable TLSA records (RFC 7672).
    use super::dane::DaneInput;
    match &inputs.dane {
        Some(DaneInput::Verified(hosts)) => return Ok(TlsPolicy::Dane(Arc::clone(hosts))),
        Some(DaneInput::Refuse(reason)) => {
            return Err(PolicyRefusal::Dane {
                reason: reason.clone(),
                connector: connector.name.clone(),
                required: false,
            });
        }
        Some(DaneInput::Required(reason)) => {
            return Err(PolicyRefusal::Dane {
                reason: reason.clone(),
                connector: connector.name.clone(),
                required: true,
            });
        }
        _ => {}
    }
    // RFC 7672 3.1.3: TLSA records, none usable: whatever applies next,
    // TLS stays mandatory (RequireTLS EncryptionOnly at least).
    let upgraded;
    let connector = if matches!(inputs.dane, Some(DaneInput::EncryptOnly)) && !connector.require_tls
    {
        upgraded = SendConnector {
            require_tls: true,
            tls_auth_level: None,
            ..connector.clone()
        };
        &upgraded
    } else {
        connector
    };
    // MTA-STS: enforce decides; testing only where the connector would
    // otherwise send opportunistically.
    let plain_without = connector.require_tls
        || connector.tls_remote_certificate_name.is_some()
        || connector.ignore_starttls
        || plaintext_fallback;
    if let Some(p) = super::mta_sts::decide(&domain, inputs.mta_sts.as_ref(), plain_without)? {
        return Ok(p);
    }
    if connector.require_tls {
        let mut level = connector
            .tls_auth_level
            .unwrap_or(TlsAuthLevel::EncryptionOnly);
        if level == TlsAuthLevel::EncryptionOnly && connector.tls_remote_certificate_name.is_some()
        {
            // An issuer and subject prove nothing without a chain.
            level = TlsAuthLevel::CertificateValidation;
        }
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
    if connector.tls_remote_certificate_name.is_some() {
        // The pin needs a validated chain: never opportunistic or
        // plaintext (validation refuses IgnoreSTARTTLS with it).
        return Ok(TlsPolicy::Required {
            level: TlsAuthLevel::CertificateValidation,
            name: None,
        });
    }
    if connector.ignore_starttls || plaintext_fallback {
        return Ok(TlsPolicy::Plaintext);
    }
    Ok(TlsPolicy::Opportunistic)
}

impl TlsPolicy {
    /// The policy in a few words (the protocol log).
    pub fn describe(&self) -> String {
        match self {
            TlsPolicy::DomainSecure { domain } => format!("DomainSecure({domain})"),
            TlsPolicy::Dane(d) => format!("DANE({})", d.domain),
            TlsPolicy::Required { level, .. } => format!("RequireTLS({level:?})"),
            TlsPolicy::Opportunistic => "Opportunistic".into(),
            TlsPolicy::Plaintext => "Plaintext".into(),
            TlsPolicy::MtaSts { enforce: true } => "MTA-STS(enforce)".into(),
            TlsPolicy::MtaSts { enforce: false } => "MTA-STS(testing)".into(),
        }
    }

    /// How the client session treats STARTTLS.
    pub fn starttls(&self) -> StartTlsMode {
        match self {
            TlsPolicy::DomainSecure { .. }
            | TlsPolicy::Dane(_)
            | TlsPolicy::Required { .. }
            | TlsPolicy::MtaSts { enforce: true } => StartTlsMode::Required,
            TlsPolicy::Opportunistic | TlsPolicy::MtaSts { enforce: false } => {
                StartTlsMode::IfOffered
            }
            TlsPolicy::Plaintext => StartTlsMode::Never,
        }
    }

    /// Which rule this is (say why).
    pub fn kind(&self) -> PolicyKind {
        match self {
            TlsPolicy::DomainSecure { .. } => PolicyKind::DomainSecure,
            TlsPolicy::Dane(_) => PolicyKind::Dane,
            TlsPolicy::Required { .. } => PolicyKind::RequireTls,
            TlsPolicy::Opportunistic => PolicyKind::Opportunistic,
            TlsPolicy::Plaintext => PolicyKind::None,
            TlsPolicy::MtaSts { enforce: true } => PolicyKind::MtaStsEnforce,
            TlsPolicy::MtaSts { enforce: false } => PolicyKind::MtaStsTesting,
        }
    }

    /// True when a session under this policy authenticates the next hop
    /// (RFC 8689 4.2: what a REQUIRETLS message needs): the chain is
    /// validated (and names checked where the policy has names), or DANE
    /// matched.
    pub fn verifies_peer(&self) -> bool {
        matches!(self, TlsPolicy::Dane(_)) || self.validates_chain()
    }

    /// RFC 8460 section 4.3 `policy-string`: DANE's TLSA records.
    pub fn policy_strings(&self) -> Vec<String> {
        match self {
            TlsPolicy::Dane(d) => d.policy_strings(),
            _ => Vec::new(),
        }
    }

    /// True when a failed handshake may lead to plaintext next time.
    pub fn is_opportunistic(&self) -> bool {
        matches!(
            self,
            TlsPolicy::Opportunistic | TlsPolicy::MtaSts { enforce: false }
        )
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
            TlsPolicy::MtaSts { enforce } => *enforce,
            _ => false,
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
    /// TlsRemoteCertificateName: what every next hop must present.
    pub pin: Option<RemotePin>,
    /// The MTA-STS trust store (MtaStsTrustedRootsPath).
    pub mta_sts_roots: Arc<Vec<CertificateDer<'static>>>,
}

/// The next hop's certificate pinned by issuer and subject
/// (TlsRemoteCertificateName).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePin {
    pub issuer: String,
    pub subject: String,
}

impl RemotePin {
    /// From `<I>issuer<S>subject`; `None` when it does not have that form.
    pub fn parse(name: &str) -> Option<RemotePin> {
        let (i, s) = xshell_core::model::parse_tls_certificate_name(name)?;
        Some(RemotePin {
            issuer: i.trim().to_string(),
            subject: s.trim().to_string(),
        })
    }

    /// The handshake's check: `end_entity` is the pinned certificate, else
    /// a [`PinMismatch`] naming both.
    pub fn check(&self, end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        let info = parse_certificate(end_entity.as_ref())
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        if self.matches(&info.issuer, &info.subject) {
            return Ok(());
        }
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            rustls::OtherError(Arc::new(PinMismatch {
                expected_issuer: self.issuer.clone(),
                expected_subject: self.subject.clone(),
                issuer: info.issuer,
                subject: info.subject,
            })),
        )))
    }

    /// Whether a certificate with this issuer and subject is the pinned
    /// one (distinguished names compared case-insensitively).
    pub fn matches(&self, issuer: &str, subject: &str) -> bool {
        self.issuer.eq_ignore_ascii_case(issuer.trim())
            && self.subject.eq_ignore_ascii_case(subject.trim())
    }
}

/// The next hop presented another certificate than TlsRemoteCertificateName.
#[derive(Debug, thiserror::Error)]
#[error(
    "TlsRemoteCertificateName mismatch: expected <I>{expected_issuer}<S>{expected_subject}, presented <I>{issuer}<S>{subject}"
)]
pub struct PinMismatch {
    pub expected_issuer: String,
    pub expected_subject: String,
    pub issuer: String,
    pub subject: String,
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
    if let TlsPolicy::MtaSts { enforce } = policy {
        return super::mta_sts::client_config(*enforce, material, None);
    }
    let provider = provider();
    let chain = if policy.validates_chain() || material.pin.is_some() {
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
        dane: match policy {
            TlsPolicy::Dane(d) => Some(Arc::clone(d)),
            _ => None,
        },
        chain,
        name: policy.name_check(),
        pin: material.pin.clone(),
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
    /// TlsRemoteCertificateName.
    pin: Option<RemotePin>,
    /// DANE: the TLSA records of each MX host.
    dane: Option<Arc<super::dane::DaneHosts>>,
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
        if let Some(d) = &self.dane {
            super::dane::verify(
                d,
                server_name,
                end_entity,
                intermediates,
                now,
                &self.provider,
            )
            .map_err(|e| {
                rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
                    Arc::new(e),
                )))
            })?;
        }
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
                // SAN DNS names only: a CN-only certificate proves no domain
                None,
                &check.name,
                check.allow_subdomain,
            ) {
                return Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName,
                ));
            }
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
    fn dane_after_domain_security_and_before_the_connector_rules() {
        use crate::dnssec::Tlsa;
        use crate::outbound::dane::{DaneHost, DaneHosts, DaneInput};
        let hosts = Arc::new(DaneHosts {
            domain: "orgb.example".into(),
            hosts: vec![DaneHost {
                name: "mx.orgb.example".into(),
                preference: 10,
                addrs: vec![],
                tlsa: vec![Tlsa {
                    usage: 3,
                    selector: 1,
                    matching: 1,
                    data: vec![0xab; 32],
                }],
            }],
        });
        let with = |d: DaneInput| PolicyInputs {
            dane: Some(d),
            ..PolicyInputs::default()
        };
        let mut c = conn();
        c.require_tls = true;
        let p = decide_with(
            "orgb.example",
            &c,
            &[],
            true,
            &with(DaneInput::Verified(hosts.clone())),
        )
        .unwrap();
        assert_eq!(p.kind(), PolicyKind::Dane);
        assert!(p.verifies_peer() && !p.validates_chain());
        assert_eq!(p.starttls(), StartTlsMode::Required);
        assert_eq!(p.policy_strings(), [format!("3 1 1 {}", "AB".repeat(32))]);
        // Domain Security wins over DANE
        c.domain_secure_enabled = true;
        c.require_tls = false;
        let l = list(&["orgb.example"]);
        let p = decide_with(
            "orgb.example",
            &c,
            &l,
            false,
            &with(DaneInput::Verified(hosts)),
        )
        .unwrap();
        assert_eq!(p.kind(), PolicyKind::DomainSecure);
        // a refusal names the connector
        let e = decide_with(
            "orgb.example",
            &conn(),
            &[],
            false,
            &with(DaneInput::Refuse("bogus".into())),
        )
        .unwrap_err();
        assert!(e.to_string().contains("'Out'"), "{e}");
        // unusable records only: TLS stays mandatory, never plaintext
        let p = decide_with(
            "orgb.example",
            &conn(),
            &[],
            true,
            &with(DaneInput::EncryptOnly),
        )
        .unwrap();
        assert_eq!(
            p,
            TlsPolicy::Required {
                level: TlsAuthLevel::EncryptionOnly,
                name: None
            }
        );
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
