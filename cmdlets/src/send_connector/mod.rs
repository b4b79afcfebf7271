//! New-/Get-/Set-/Remove-SendConnector.

pub mod get;
pub mod new;
pub mod remove;
pub mod set;

use crate::bind::Bound;
use crate::bind::Credential;
use crate::decl::{Kind, param, params};
use crate::error::CmdletError;
use xshell_core::model::{
    MtaStsMode, ProtocolLoggingLevel, SendConnector, SmartHostAuthMechanism, SmtpDaneMode,
    StoredCredential, TlsAuthLevel,
};

// The parameters New- and Set-SendConnector share, after each cmdlet's own.
params!(pub shared {
    DNSRoutingEnabled: bool = param(Kind::Bool, "Look up the MX of each recipient domain. Must be false when SmartHosts are used.").default("$true"),
    SmartHosts: Vec<HostPort> = param(Kind::List(&Kind::HostPort), "Hosts to relay through instead of DNS (name or IP, optional :port). Needs -DNSRoutingEnabled:$false."),
    Port: u16 = param(Kind::Int { min: 0, max: 65535 }, "Destination port.").default("25"),
    Fqdn: String = param(Kind::Str, "Name used in EHLO and to select our TLS client certificate."),
    RequireTLS: bool = param(Kind::Bool, "Send only over TLS.").default("$false"),
    IgnoreSTARTTLS: bool = param(Kind::Bool, "Never use STARTTLS, even when offered. Not with RequireTLS or DomainSecureEnabled.").default("$false"),
    TlsAuthLevel: TlsAuthLevel = param(Kind::Enum(xshell_core::model::TlsAuthLevel::NAMES), "How the remote certificate is checked when RequireTLS is set. Not with DomainSecureEnabled."),
    TlsDomain: DomainPattern = param(Kind::DomainPattern, "The name the remote certificate must carry, with TlsAuthLevel DomainValidation."),
    TlsCertificateName: String = param(Kind::Str, "Our certificate, as <I>issuer<S>subject."),
    TlsRemoteCertificateName: String = param(Kind::Str, "The certificate every next hop of this connector must present, as <I>issuer<S>subject (pinning; TlsCertificateName names ours). Makes STARTTLS and a chain to a trusted root mandatory; another certificate defers the message with 454 4.7.5. $null removes the pin."),
    SmtpDaneMode: SmtpDaneMode = param(Kind::Enum(xshell_core::model::SmtpDaneMode::NAMES), "DANE (RFC 7672) for the MX hosts: None; Opportunistic (authenticate the MX host by its DNSSEC-signed TLSA records where the domain publishes usable ones, else the next policy applies); Mandatory (never deliver without them: deferred with 451 4.7.5). A bogus DNSSEC answer or a certificate matching no TLSA record defers in both modes. Needs DNSRoutingEnabled; trust anchor: Set-TransportService -DnssecTrustAnchorFile.").default("None"),
    DomainSecureEnabled: bool = param(Kind::Bool, "Enforce Domain Security (mutual TLS) for the domains in TLSSendDomainSecureList routed through this connector.").default("$false"),
    Enabled: bool = param(Kind::Bool, "Whether the connector is used.").default("$true"),
    MaxMessageSize: SizeLimit = param(Kind::Size { min: 0, max: 2_147_483_647, unlimited: true }, "Largest message this connector sends.").default("25MB"),
    ConnectionInactivityTimeout: TimeSpan = param(Kind::TimeSpan { min: 1, max: 86_400 }, "Idle time before a connection is dropped.").default("00:10:00"),
    SourceIPAddress: String = param(Kind::Str, "The local IP address outbound connections are made from (0.0.0.0: any).").default("0.0.0.0"),
    SourceTransportServers: Vec<String> = param(Kind::List(&Kind::Str), "The transport servers that use this connector (Names or Fqdns); a server not listed ignores the connector. Empty (the default): every server of the organization."),
    ProtocolLoggingLevel: ProtocolLoggingLevel = param(Kind::Enum(xshell_core::model::ProtocolLoggingLevel::NAMES), "Whether the connector's SMTP conversations are logged (Verbose) or not (None).").default("None"),
    ErrorPolicies: Vec<String> = param(Kind::List(&Kind::Enum(&["Default", "DowngradeDnsFailures", "DowngradeAuthFailures", "DowngradeCustomFailures", "UpgradeCustomFailures"])), "Default, or one or both of DowngradeDnsFailures (a DNS failure that would be permanent, such as no such domain, is retried) and DowngradeAuthFailures (a remote authentication refusal is retried).").default("Default"),
    SmartHostAuthMechanism: String = param(Kind::Enum(&["None", "BasicAuth", "BasicAuthRequireTLS", "ExchangeServer", "ExternalAuthoritative"]), "How we authenticate to the smart hosts: None, BasicAuth (AUTH PLAIN with -AuthenticationCredential, over TLS when offered), BasicAuthRequireTLS (only over TLS), or ExternalAuthoritative (the path is secured by other means).").default("None"),
    AuthenticationCredential: Credential = param(Kind::Credential, "The user name and password for BasicAuth: a PSCredential (on the CLI the user name, with the password in XSHELL_SMTP_AUTH_PASSWORD). The password is kept as a store secret (0600), never shown."),
    MtaStsMode: MtaStsMode = param(Kind::Enum(xshell_core::model::MtaStsMode::NAMES), "MTA-STS (RFC 8461) for the recipient domains' MX hosts: None (not looked up), Opportunistic (a domain's policy applies where it publishes one: in enforce mode only the MX hosts it lists, over STARTTLS with a certificate valid for the host name; testing mode is reported, never blocks), Mandatory (a domain without a policy in enforce mode is not sent to: deferred with 451 4.7.5). Domain Security and DANE come first. Needs DNSRoutingEnabled.").default("None"),
    Comment: String = param(Kind::Str, "Free text."),
});

/// Applies the shared parameters to a connector.
pub fn apply(
    b: &Bound,
    c: &mut SendConnector,
    credential: Option<StoredCredential>,
) -> Result<(), CmdletError> {
    b.assign(shared::DNSRoutingEnabled, &mut c.dns_routing_enabled);
    b.assign_list(shared::SmartHosts, &mut c.smart_hosts);
    b.assign(shared::Port, &mut c.port);
    b.assign_opt(shared::Fqdn, &mut c.fqdn);
    xshell_core::idn::keep_as_a_label(&mut c.fqdn);
    b.assign(shared::RequireTLS, &mut c.require_tls);
    b.assign(shared::IgnoreSTARTTLS, &mut c.ignore_starttls);
    b.assign_opt(shared::TlsAuthLevel, &mut c.tls_auth_level);
    b.assign_opt(shared::TlsDomain, &mut c.tls_domain);
    b.assign_opt(shared::TlsCertificateName, &mut c.tls_certificate_name);
    b.assign_opt(
        shared::TlsRemoteCertificateName,
        &mut c.tls_remote_certificate_name,
    );
    b.assign(shared::SmtpDaneMode, &mut c.smtp_dane_mode);
    b.assign(shared::DomainSecureEnabled, &mut c.domain_secure_enabled);
    b.assign(shared::Enabled, &mut c.enabled);
    b.assign(shared::MaxMessageSize, &mut c.max_message_size);
    b.assign(
        shared::ConnectionInactivityTimeout,
        &mut c.connection_inactivity_timeout,
    );
    if let Some(ip) = b.get(shared::SourceIPAddress) {
        let ip: std::net::IpAddr = ip.trim().parse().map_err(|_| {
            CmdletError::bad_value("SourceIPAddress", format!("'{ip}' is not an IP address"))
        })?;
        c.source_ip_address = (!ip.is_unspecified()).then_some(ip);
    }
    b.assign(shared::ProtocolLoggingLevel, &mut c.protocol_logging_level);
    // SourceTransportServers: as given here; run() replaces the names by
    // the servers' canonical ones (source_servers).
    b.assign_list(
        shared::SourceTransportServers,
        &mut c.source_transport_servers,
    );
    if let Some(names) = b.get(shared::ErrorPolicies) {
        if let Some(other) = names.iter().find(|n| n.ends_with("CustomFailures")) {
            return Err(CmdletError::bad_value(
                "ErrorPolicies",
                format!(
                    "{other} changes how Exchange treats the custom failure codes of a \
                     hybrid (Office 365) connection, which xshell has none of; use Default, \
                     DowngradeDnsFailures or DowngradeAuthFailures"
                ),
            ));
        }
        c.error_policies =
            names
                .join(",")
                .parse()
                .map_err(|e: xshell_core::types::ParseValueError| {
                    CmdletError::bad_value("ErrorPolicies", e.0)
                })?;
    }
    if let Some(m) = b.get(shared::SmartHostAuthMechanism) {
        c.smart_host_auth_mechanism = match m.as_str() {
            "BasicAuth" => SmartHostAuthMechanism::BasicAuth,
            "BasicAuthRequireTLS" => SmartHostAuthMechanism::BasicAuthRequireTLS,
            "ExternalAuthoritative" => SmartHostAuthMechanism::ExternalAuthoritative,
            "ExchangeServer" => {
                return Err(CmdletError::bad_value(
                    "SmartHostAuthMechanism",
                    "ExchangeServer is Exchange's Kerberos between its own servers, which xshell \
                     does not have; use BasicAuth, BasicAuthRequireTLS or ExternalAuthoritative",
                ));
            }
            _ => SmartHostAuthMechanism::None,
        };
    }
    if let Some(stored) = credential {
        c.authentication_credential = Some(stored);
    }
    b.assign(shared::MtaStsMode, &mut c.mta_sts_mode);
    b.assign_opt(shared::Comment, &mut c.comment);
    Ok(())
}

/// Keeps -AuthenticationCredential's password as a store secret (0600)
/// and returns what the connector records: the user name and the secret's
/// name. Nothing is written with -WhatIf.
pub fn store_credential(
    ctx: &mut crate::context::Ctx<'_>,
    b: &Bound,
) -> Result<Option<StoredCredential>, CmdletError> {
    let Some(Credential { user, password }) = b.get(shared::AuthenticationCredential) else {
        return Ok(None);
    };
    let secret = format!("smtp-auth-{}", unique_suffix());
    if !ctx.what_if {
        ctx.store
            .backend()
            .put_secret(&secret, password.as_bytes())?;
    }
    Ok(Some(StoredCredential {
        user_name: user,
        secret,
    }))
}

/// 16 hex digits, different for every call.
fn unique_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// Removes the secret [`store_credential`] wrote when the change failed
/// (or was declined): nothing is left behind.
pub fn forget_unused_credential(
    ctx: &mut crate::context::Ctx<'_>,
    credential: &Option<StoredCredential>,
    failed: bool,
) {
    if let Some(c) = credential
        && failed
        && !ctx.what_if
    {
        let _ = ctx.store.backend().delete_secret(&c.secret);
    }
}

/// After -AuthenticationCredential was stored on an etcd store: the
/// password is in this host's state folder only (etcd keeps no secrets),
/// so a warning names the servers that use the connector and lack it, and
/// the file to copy to them. The state folder's owner comes from its
/// server lock file (the engine that runs there).
pub fn warn_where_credential_is(
    ctx: &mut crate::context::Ctx<'_>,
    credential: &Option<StoredCredential>,
) -> Result<(), CmdletError> {
    let Some(stored) = credential else {
        return Ok(());
    };
    if ctx.what_if || !ctx.store.describe().starts_with("etcd://") {
        return Ok(());
    }
    let cfg = ctx.store.snapshot()?;
    let Some(connector) = cfg.send_connectors.iter().find(|c| {
        c.authentication_credential
            .as_ref()
            .is_some_and(|a| a.secret == stored.secret)
    }) else {
        return Ok(()); // declined: the connector does not use it
    };
    let Some(state) = ctx.store.backend().state_dir() else {
        return Ok(());
    };
    let here = xshell_core::servers::state_folder_server(&state);
    let users: Vec<String> = if connector.source_transport_servers.is_empty() {
        crate::server::servers(ctx.store, &cfg)?
            .into_iter()
            .map(|s| s.service.name)
            .collect()
    } else {
        connector.source_transport_servers.clone()
    };
    let lacking: Vec<String> = users
        .into_iter()
        .filter(|u| {
            !here
                .as_deref()
                .is_some_and(|h| xshell_core::model::same_server(h, u))
        })
        .collect();
    if lacking.is_empty() {
        return Ok(());
    }
    let whose = match &here {
        Some(h) => format!("server {h}'s state folder"),
        None => "a state folder no server runs on".to_string(),
    };
    let file = state.join("keys").join(&stored.secret);
    ctx.warn(&format!(
        "send connector '{}': the AuthenticationCredential password is kept only in {whose} on this host ({}); \
         etcd keeps no secrets. Servers that use the connector and lack it: {}. Copy the file (mode 0600) into \
         the keys folder of each one's state folder, or their deliveries through this connector fail for want of \
         the password",
        connector.name,
        file.display(),
        lacking.join(", ")
    ));
    Ok(())
}

/// -SourceTransportServers as the organization spells its servers (a Fqdn
/// becomes the server's Name; a server that has not run yet is accepted
/// with a warning), without duplicates; None when not given.
pub fn source_servers(
    ctx: &mut crate::context::Ctx<'_>,
    b: &Bound,
) -> Result<Option<Vec<String>>, CmdletError> {
    let Some(given) = b.get(shared::SourceTransportServers) else {
        return Ok(None);
    };
    let mut out: Vec<String> = Vec::new();
    for name in given.iter().filter(|n| !n.trim().is_empty()) {
        let n = crate::server::for_new_object(ctx, "SourceTransportServers", name)?;
        if !out.iter().any(|o| xshell_core::model::same_server(o, &n)) {
            out.push(n);
        }
    }
    Ok(Some(out))
}
