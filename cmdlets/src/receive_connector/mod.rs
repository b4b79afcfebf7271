//! New-/Get-/Set-/Remove-ReceiveConnector.

pub mod get;
pub mod new;
pub mod remove;
pub mod set;

use crate::bind::Bound;
use crate::decl::{Kind, param, params};
use crate::error::CmdletError;
use xshell_core::model::{
    AuthMechanism, OrgConfig, PermissionGroup, ProtocolLoggingLevel, ReceiveConnector,
};

// The parameters New- and Set-ReceiveConnector share, after each cmdlet's own.
params!(pub shared {
    RemoteIPRanges: Vec<IpRange> = param(Kind::List(&Kind::IpRange), "Clients this connector serves: single IPs, first-last ranges or CIDR. When connectors share a binding, the most specific match takes the connection."),
    PermissionGroups: Vec<PermissionGroup> = param(Kind::List(&Kind::Enum(xshell_core::model::PermissionGroup::NAMES)), "Who may use the connector and how (relay needs ExchangeServers authenticated by Direct Trust, or ExternalAuthoritative; Partners and anonymous senders may not relay)."),
    AuthMechanism: Vec<AuthMechanism> = param(Kind::List(&Kind::Enum(xshell_core::model::AuthMechanism::NAMES)), "Offered mechanisms; Tls enables STARTTLS."),
    Banner: String = param(Kind::Str, "The greeting; must start with 220."),
    Fqdn: String = param(Kind::Str, "Name in the greeting and EHLO reply, and the name our certificate is selected by."),
    RequireTLS: bool = param(Kind::Bool, "Refuse mail before STARTTLS (needs Tls in AuthMechanism).").default("$false"),
    DomainSecureEnabled: bool = param(Kind::Bool, "Enforce Domain Security (mutual TLS) for senders in TLSReceiveDomainSecureList (needs Tls).").default("$false"),
    TlsCertificateName: String = param(Kind::Str, "Our certificate, as <I>issuer<S>subject."),
    TlsSenderCertificateName: String = param(Kind::Str, "With RestrictDomainsToCertificate: the certificate the senders of SenderDomains must present, as <I>issuer<S>subject or as a domain one of its subject alternative names must match (contoso.com, *.contoso.com)."),
    SenderDomains: Vec<SmtpDomain> = param(Kind::List(&Kind::Domain), "With RestrictDomainsToCertificate: the partner sender domains (MAIL FROM) restricted to TlsSenderCertificateName."),
    RestrictDomainsToCertificate: bool = param(Kind::Bool, "Accept mail from SenderDomains on this connector only from a client that presented TlsSenderCertificateName with a chain to a trusted root (needs Tls); others are refused with 550 5.7.1.").default("$false"),
    MaxMessageSize: SizeLimit = param(Kind::Size { min: 65_536, max: 2_147_483_647, unlimited: false }, "Largest message accepted.").default("36MB"),
    MaxRecipientsPerMessage: u32 = param(Kind::Int { min: 1, max: 512_000 }, "Recipients accepted per message.").default("200"),
    MaxInboundConnection: Limit = param(Kind::Limit { min: 1, max: 2_147_483_647 }, "Simultaneous connections to this connector, from all sources together; more are refused with 421 4.3.2.").default("5000"),
    MaxInboundConnectionPerSource: Limit = param(Kind::Limit { min: 1, max: 10_000 }, "Simultaneous connections from one IP.").default("20"),
    MessageRateLimit: Limit = param(Kind::Limit { min: 1, max: 2_147_483_647 }, "Messages one source IP may submit per minute; more are refused with 421 4.4.2 and the connection closed.").default("Unlimited"),
    MaxHopCount: u32 = param(Kind::Int { min: 1, max: 500 }, "Received header fields a message may carry; a message with more is refused as a mail loop.").default("60"),
    RequireEHLODomain: bool = param(Kind::Bool, "Refuse HELO and EHLO without a domain name or address literal.").default("$false"),
    TarpitInterval: TimeSpan = param(Kind::TimeSpan { min: 0, max: 600 }, "Delay before each refusal of a recipient for an unauthenticated sender (slows directory harvesting).").default("00:00:05"),
    ProtocolLoggingLevel: ProtocolLoggingLevel = param(Kind::Enum(xshell_core::model::ProtocolLoggingLevel::NAMES), "Whether the connector's SMTP conversations are logged (Verbose) or not (None).").default("None"),
    ChunkingEnabled: bool = param(Kind::Bool, "Advertise CHUNKING and accept BDAT (RFC 3030). Without it BDAT is refused with 502 5.5.1, and BINARYMIME is not advertised either.").default("$true"),
    BinaryMimeEnabled: bool = param(Kind::Bool, "Advertise BINARYMIME and accept BODY=BINARYMIME (RFC 3030), only together with ChunkingEnabled: binary messages arrive by BDAT.").default("$true"),
    RequireTlsExtensionEnabled: bool = param(Kind::Bool, "Advertise REQUIRETLS after STARTTLS and accept the REQUIRETLS parameter of MAIL (RFC 8689): such a message is then relayed only over verified TLS to a next hop that offers REQUIRETLS, or returned with 5.7.10. Never offered before STARTTLS.").default("$true"),
    TlsDomainCapabilities: Vec<String> = param(Kind::List(&Kind::Str), "Refused: grants Exchange Online header capabilities (domain:capability), which xshell has no use for."),
    Enabled: bool = param(Kind::Bool, "Whether the connector listens.").default("$true"),
    ConnectionTimeout: TimeSpan = param(Kind::TimeSpan { min: 1, max: 86_400 }, "Longest a connection may stay open.").default("00:10:00"),
    ConnectionInactivityTimeout: TimeSpan = param(Kind::TimeSpan { min: 1, max: 86_400 }, "Idle time before a connection is dropped; at most ConnectionTimeout.").default("00:05:00"),
    Comment: String = param(Kind::Str, "Free text."),
});

/// Applies the shared parameters to a connector.
pub fn apply(b: &Bound, c: &mut ReceiveConnector) -> Result<(), CmdletError> {
    b.assign_list(shared::RemoteIPRanges, &mut c.remote_ip_ranges);
    b.assign_list(shared::PermissionGroups, &mut c.permission_groups);
    b.assign_list(shared::AuthMechanism, &mut c.auth_mechanism);
    b.assign_opt(shared::Banner, &mut c.banner);
    b.assign_opt(shared::Fqdn, &mut c.fqdn);
    xshell_core::idn::keep_as_a_label(&mut c.fqdn);
    b.assign(shared::RequireTLS, &mut c.require_tls);
    b.assign(shared::DomainSecureEnabled, &mut c.domain_secure_enabled);
    b.assign_opt(shared::TlsCertificateName, &mut c.tls_certificate_name);
    b.assign_opt(
        shared::TlsSenderCertificateName,
        &mut c.tls_sender_certificate_name,
    );
    b.assign_list(shared::SenderDomains, &mut c.sender_domains);
    b.assign(
        shared::RestrictDomainsToCertificate,
        &mut c.restrict_domains_to_certificate,
    );
    b.assign(shared::MaxMessageSize, &mut c.max_message_size);
    b.assign(
        shared::MaxRecipientsPerMessage,
        &mut c.max_recipients_per_message,
    );
    b.assign(
        shared::MaxInboundConnectionPerSource,
        &mut c.max_inbound_connection_per_source,
    );
    b.assign(shared::MaxInboundConnection, &mut c.max_inbound_connection);
    b.assign(shared::MessageRateLimit, &mut c.message_rate_limit);
    b.assign(shared::MaxHopCount, &mut c.max_hop_count);
    b.assign(shared::RequireEHLODomain, &mut c.require_ehlo_domain);
    b.assign(shared::TarpitInterval, &mut c.tarpit_interval);
    b.assign(shared::ProtocolLoggingLevel, &mut c.protocol_logging_level);
    b.assign(shared::ChunkingEnabled, &mut c.chunking_enabled);
    b.assign(shared::BinaryMimeEnabled, &mut c.binary_mime_enabled);
    b.assign(
        shared::RequireTlsExtensionEnabled,
        &mut c.require_tls_extension_enabled,
    );
    if b.is_set(shared::TlsDomainCapabilities) {
        return Err(CmdletError::bad_value(
            "TlsDomainCapabilities",
            "grants Exchange Online capabilities (AcceptCloudServicesMail, AcceptOorgProtocol) to \
             partners' cross-premises headers; xshell reads no such headers, so it cannot apply here. \
             Domain Security partners are named in Set-TransportConfig -TLSReceiveDomainSecureList",
        ));
    }
    b.assign(shared::Enabled, &mut c.enabled);
    b.assign(shared::ConnectionTimeout, &mut c.connection_timeout);
    b.assign(
        shared::ConnectionInactivityTimeout,
        &mut c.connection_inactivity_timeout,
    );
    b.assign_opt(shared::Comment, &mut c.comment);
    Ok(())
}

/// Two connectors may share a binding only if their RemoteIPRanges differ
/// (the transport picks the most specific match); identical pairs are ambiguous.
pub fn check_bindings(c: &ReceiveConnector, cfg: &OrgConfig) -> Result<(), CmdletError> {
    // Only the connectors of the same server listen on its addresses.
    let server = cfg.owner(c.server.as_deref());
    for other in cfg
        .receive_connectors
        .iter()
        .filter(|o| cfg.belongs_to(o.server.as_deref(), server))
    {
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
