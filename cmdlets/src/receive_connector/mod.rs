//! New-/Get-/Set-/Remove-ReceiveConnector.

pub mod get;
pub mod new;
pub mod remove;
pub mod set;

use crate::bind::Bound;
use crate::error::CmdletError;
use xshell_core::model::{AuthMechanism, OrgConfig, PermissionGroup, ReceiveConnector};

/// The parameters New- and Set-ReceiveConnector share, after the ones given.
macro_rules! receive_params {
    ($($first:expr),* $(,)?) => {
        &[
            $($first,)*
            $crate::decl::ParamDecl::new("RemoteIPRanges", $crate::decl::Kind::List(&$crate::decl::Kind::IpRange), "Clients this connector serves: single IPs, first-last ranges or CIDR. When connectors share a binding, the most specific match takes the connection."),
            $crate::decl::ParamDecl::new("PermissionGroups", $crate::decl::Kind::List(&$crate::decl::Kind::Enum(xshell_core::model::PermissionGroup::NAMES)), "Who may use the connector and how (relay needs ExchangeServers authenticated by Direct Trust, or ExternalAuthoritative; Partners and anonymous senders may not relay)."),
            $crate::decl::ParamDecl::new("AuthMechanism", $crate::decl::Kind::List(&$crate::decl::Kind::Enum(xshell_core::model::AuthMechanism::NAMES)), "Offered mechanisms; Tls enables STARTTLS."),
            $crate::decl::ParamDecl::new("Banner", $crate::decl::Kind::Str, "The greeting; must start with 220."),
            $crate::decl::ParamDecl::new("Fqdn", $crate::decl::Kind::Str, "Name in the greeting and EHLO reply, and the name our certificate is selected by."),
            $crate::decl::ParamDecl::new("RequireTLS", $crate::decl::Kind::Bool, "Refuse mail before STARTTLS (needs Tls in AuthMechanism).").default("$false"),
            $crate::decl::ParamDecl::new("DomainSecureEnabled", $crate::decl::Kind::Bool, "Enforce Domain Security (mutual TLS) for senders in TLSReceiveDomainSecureList (needs Tls).").default("$false"),
            $crate::decl::ParamDecl::new("TlsCertificateName", $crate::decl::Kind::Str, "Our certificate, as <I>issuer<S>subject."),
            $crate::decl::ParamDecl::new("MaxMessageSize", $crate::decl::Kind::Size, "Largest message accepted.").default("36MB"),
            $crate::decl::ParamDecl::new("MaxRecipientsPerMessage", $crate::decl::Kind::Int { min: 1, max: 100000 }, "Recipients accepted per message.").default("200"),
            $crate::decl::ParamDecl::new("MaxInboundConnectionPerSource", $crate::decl::Kind::Int { min: 1, max: 100000 }, "Simultaneous connections from one IP.").default("20"),
            $crate::decl::ParamDecl::new("Enabled", $crate::decl::Kind::Bool, "Whether the connector listens.").default("$true"),
            $crate::decl::ParamDecl::new("ConnectionTimeout", $crate::decl::Kind::TimeSpan, "Longest a connection may stay open.").default("00:10:00"),
            $crate::decl::ParamDecl::new("ConnectionInactivityTimeout", $crate::decl::Kind::TimeSpan, "Idle time before a connection is dropped; at most ConnectionTimeout.").default("00:05:00"),
            $crate::decl::ParamDecl::new("Comment", $crate::decl::Kind::Str, "Free text."),
        ]
    };
}
pub(crate) use receive_params;

/// Applies the shared parameters to a connector.
pub fn apply(b: &Bound, c: &mut ReceiveConnector) -> Result<(), CmdletError> {
    b.assign_list("Bindings", &mut c.bindings);
    b.assign_list("RemoteIPRanges", &mut c.remote_ip_ranges);
    b.assign_list::<PermissionGroup>("PermissionGroups", &mut c.permission_groups);
    b.assign_list::<AuthMechanism>("AuthMechanism", &mut c.auth_mechanism);
    b.assign_opt("Banner", &mut c.banner);
    b.assign_opt("Fqdn", &mut c.fqdn);
    b.assign("RequireTLS", &mut c.require_tls);
    b.assign("DomainSecureEnabled", &mut c.domain_secure_enabled);
    b.assign_opt("TlsCertificateName", &mut c.tls_certificate_name);
    b.assign("MaxMessageSize", &mut c.max_message_size);
    b.assign("MaxRecipientsPerMessage", &mut c.max_recipients_per_message);
    b.assign(
        "MaxInboundConnectionPerSource",
        &mut c.max_inbound_connection_per_source,
    );
    b.assign("Enabled", &mut c.enabled);
    b.assign("ConnectionTimeout", &mut c.connection_timeout);
    b.assign(
        "ConnectionInactivityTimeout",
        &mut c.connection_inactivity_timeout,
    );
    b.assign_opt("Comment", &mut c.comment);
    Ok(())
}

/// Two connectors may share a binding only if their RemoteIPRanges differ
/// (the transport picks the most specific match); identical pairs are ambiguous.
pub fn check_bindings(c: &ReceiveConnector, cfg: &OrgConfig) -> Result<(), CmdletError> {
    for other in &cfg.receive_connectors {
        if other.name.eq_ignore_ascii_case(&c.name) {
            continue;
        }
        let shared = c.bindings.iter().find(|b| other.bindings.contains(b));
        let mut a = c.remote_ip_ranges.clone();
        let mut o = other.remote_ip_ranges.clone();
        a.sort_by_key(|r| r.to_string());
        o.sort_by_key(|r| r.to_string());
        if let Some(b) = shared
            && a == o
        {
            return Err(CmdletError::Conflict(format!(
                "receive connector '{}' already listens on {b} for the same RemoteIPRanges; \
                 change Bindings or RemoteIPRanges so each connection has one connector",
                other.name
            )));
        }
    }
    Ok(())
}
