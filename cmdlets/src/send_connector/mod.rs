//! New-/Get-/Set-/Remove-SendConnector.

pub mod get;
pub mod new;
pub mod remove;
pub mod set;

use crate::bind::Bound;
use crate::error::CmdletError;
use xshell_core::model::{SendConnector, SendUsage};

/// The parameters New- and Set-SendConnector share, after the ones given.
macro_rules! send_params {
    ($($first:expr),* $(,)?) => {
        &[
            $($first,)*
            $crate::decl::ParamDecl::new("DNSRoutingEnabled", $crate::decl::Kind::Bool, "Look up the MX of each recipient domain. Must be false when SmartHosts are used.").default("$true"),
            $crate::decl::ParamDecl::new("SmartHosts", $crate::decl::Kind::List(&$crate::decl::Kind::HostPort), "Hosts to relay through instead of DNS (name or IP, optional :port). Needs -DNSRoutingEnabled:$false."),
            $crate::decl::ParamDecl::new("Port", $crate::decl::Kind::Int { min: 0, max: 65535 }, "Destination port.").default("25"),
            $crate::decl::ParamDecl::new("Fqdn", $crate::decl::Kind::Str, "Name used in EHLO and to select our TLS client certificate."),
            $crate::decl::ParamDecl::new("RequireTLS", $crate::decl::Kind::Bool, "Send only over TLS.").default("$false"),
            $crate::decl::ParamDecl::new("IgnoreSTARTTLS", $crate::decl::Kind::Bool, "Never use STARTTLS, even when offered. Not with RequireTLS or DomainSecureEnabled.").default("$false"),
            $crate::decl::ParamDecl::new("TlsAuthLevel", $crate::decl::Kind::Enum(xshell_core::model::TlsAuthLevel::NAMES), "How the remote certificate is checked when RequireTLS is set. Not with DomainSecureEnabled."),
            $crate::decl::ParamDecl::new("TlsDomain", $crate::decl::Kind::DomainPattern, "The name the remote certificate must carry, with TlsAuthLevel DomainValidation."),
            $crate::decl::ParamDecl::new("TlsCertificateName", $crate::decl::Kind::Str, "Our certificate, as <I>issuer<S>subject."),
            $crate::decl::ParamDecl::new("DomainSecureEnabled", $crate::decl::Kind::Bool, "Enforce Domain Security (mutual TLS) for the domains in TLSSendDomainSecureList routed through this connector.").default("$false"),
            $crate::decl::ParamDecl::new("Enabled", $crate::decl::Kind::Bool, "Whether the connector is used.").default("$true"),
            $crate::decl::ParamDecl::new("MaxMessageSize", $crate::decl::Kind::Size, "Largest message this connector sends.").default("25MB"),
            $crate::decl::ParamDecl::new("ConnectionInactivityTimeout", $crate::decl::Kind::TimeSpan, "Idle time before a connection is dropped.").default("00:10:00"),
            $crate::decl::ParamDecl::new("Comment", $crate::decl::Kind::Str, "Free text."),
        ]
    };
}
pub(crate) use send_params;

/// Applies the shared parameters to a connector.
pub fn apply(b: &Bound, c: &mut SendConnector) -> Result<(), CmdletError> {
    b.assign_list("AddressSpaces", &mut c.address_spaces);
    b.assign("DNSRoutingEnabled", &mut c.dns_routing_enabled);
    b.assign_list("SmartHosts", &mut c.smart_hosts);
    b.assign("Port", &mut c.port);
    b.assign_opt("Fqdn", &mut c.fqdn);
    b.assign("RequireTLS", &mut c.require_tls);
    b.assign("IgnoreSTARTTLS", &mut c.ignore_starttls);
    b.assign_opt("TlsAuthLevel", &mut c.tls_auth_level);
    b.assign_opt("TlsDomain", &mut c.tls_domain);
    b.assign_opt("TlsCertificateName", &mut c.tls_certificate_name);
    b.assign("DomainSecureEnabled", &mut c.domain_secure_enabled);
    b.assign("Enabled", &mut c.enabled);
    b.assign("MaxMessageSize", &mut c.max_message_size);
    b.assign::<SendUsage>("Usage", &mut c.usage);
    b.assign(
        "ConnectionInactivityTimeout",
        &mut c.connection_inactivity_timeout,
    );
    b.assign_opt("Comment", &mut c.comment);
    Ok(())
}
