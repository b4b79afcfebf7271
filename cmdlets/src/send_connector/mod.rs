//! New-/Get-/Set-/Remove-SendConnector.

pub mod get;
pub mod new;
pub mod remove;
pub mod set;

use crate::bind::Bound;
use crate::decl::{Kind, param, params};
use crate::error::CmdletError;
use xshell_core::model::{SendConnector, TlsAuthLevel};

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
    DomainSecureEnabled: bool = param(Kind::Bool, "Enforce Domain Security (mutual TLS) for the domains in TLSSendDomainSecureList routed through this connector.").default("$false"),
    Enabled: bool = param(Kind::Bool, "Whether the connector is used.").default("$true"),
    MaxMessageSize: SizeLimit = param(Kind::Size, "Largest message this connector sends.").default("25MB"),
    ConnectionInactivityTimeout: TimeSpan = param(Kind::TimeSpan, "Idle time before a connection is dropped.").default("00:10:00"),
    Comment: String = param(Kind::Str, "Free text."),
});

/// Applies the shared parameters to a connector.
pub fn apply(b: &Bound, c: &mut SendConnector) -> Result<(), CmdletError> {
    b.assign(shared::DNSRoutingEnabled, &mut c.dns_routing_enabled);
    b.assign_list(shared::SmartHosts, &mut c.smart_hosts);
    b.assign(shared::Port, &mut c.port);
    b.assign_opt(shared::Fqdn, &mut c.fqdn);
    b.assign(shared::RequireTLS, &mut c.require_tls);
    b.assign(shared::IgnoreSTARTTLS, &mut c.ignore_starttls);
    b.assign_opt(shared::TlsAuthLevel, &mut c.tls_auth_level);
    b.assign_opt(shared::TlsDomain, &mut c.tls_domain);
    b.assign_opt(shared::TlsCertificateName, &mut c.tls_certificate_name);
    b.assign(shared::DomainSecureEnabled, &mut c.domain_secure_enabled);
    b.assign(shared::Enabled, &mut c.enabled);
    b.assign(shared::MaxMessageSize, &mut c.max_message_size);
    b.assign(
        shared::ConnectionInactivityTimeout,
        &mut c.connection_inactivity_timeout,
    );
    b.assign_opt(shared::Comment, &mut c.comment);
    Ok(())
}
