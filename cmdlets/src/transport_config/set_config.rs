use crate::bind::{Arg, Bound};
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::Value;
use xshell_core::model::DsnCode;

params!(p {
    TLSReceiveDomainSecureList: Vec<SmtpDomain> = param(Kind::List(&Kind::Domain), "Partner domains whose mail must arrive domain-secured."),
    TLSSendDomainSecureList: Vec<SmtpDomain> = param(Kind::List(&Kind::Domain), "Partner domains mail must be sent to domain-secured."),
    TLSReceiveDomainSecureServerAuthOnlyList: Vec<SmtpDomain> = param(Kind::List(&Kind::Domain), "Partner domains whose TLS client certificate may lack the clientAuth extended key usage (serverAuth only, as public CAs issue them since 2026) and still authenticate them (Domain Security, RestrictDomainsToCertificate)."),
    MaxSendSize: SizeLimit = param(Kind::Size { min: 0, max: 2_147_482_624, unlimited: true }, "Largest message sent.").default("10MB"),
    MaxReceiveSize: SizeLimit = param(Kind::Size { min: 0, max: 2_147_482_624, unlimited: true }, "Largest message received.").default("10MB"),
    MaxRecipientEnvelopeLimit: u32 = param(Kind::Int {
                min: 1,
                max: 1_000_000,
            }, "Recipients per message.")
        .default("500"),
    ExternalPostmasterAddress: SmtpAddress = param(Kind::Address, "Sender of delivery status notifications."),
    GenerateCopyOfDSNFor: Vec<String> = param(Kind::List(&Kind::Str), "Delivery status codes (5.7.1, 5.4.8) whose non-delivery reports also go to the postmaster (ExternalPostmasterAddress, else postmaster@<server FQDN>)."),
    TlsRptReportingAddress: SmtpAddress = param(Kind::Address, "xshell extension (SMTP TLS Reporting, RFC 8460): the address the daily TLS reports are sent from, also their contact-info. Reporting is off until it is set; $null turns it off."),
    TlsRptOrganizationName: String = param(Kind::Str, "xshell extension: the organization-name of the TLS reports (RFC 8460 4.4); default the server's FQDN."),
    TlsRptDkimSelector: String = param(Kind::Str, "xshell extension: the DKIM selector the mailed TLS reports are signed with (RFC 8460 5.3): the key New-DkimSigningKey made for the domain of TlsRptReportingAddress and this selector. Without it, or without that key on a server, reports go unsigned (a warning says so) and receivers may discard them."),
    InternalSMTPServers: Vec<String> = param(Kind::List(&Kind::Str), "Refused: it lists internal servers for Exchange's anti-spam agents (Sender ID, connection filtering), which xshell does not have."),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Set-TransportConfig",
    aliases: &[],
    synopsis: "Change the organization-wide transport settings, such as the Domain Security partner lists.",
    description: "TLSReceiveDomainSecureList names the partner domains whose mail is accepted only over mutual TLS \
with a valid certificate for that domain (on receive connectors with DomainSecureEnabled); TLSSendDomainSecureList \
names the domains mail is sent to only that way (through send connectors with DomainSecureEnabled). Lists replace \
(a.tld,b.tld) or edit (@{Add=\"c.tld\"; Remove=\"a.tld\"}); no wildcards. TlsRptReportingAddress turns on SMTP TLS \
Reporting (RFC 8460): once a day the engine sends each domain it sent mail to, and that publishes a \
_smtp._tls TXT record, the aggregate report of its TLS sessions (see Get-TlsReport, Send-TlsReport). \
TlsRptDkimSelector names the DKIM key (New-DkimSigningKey) the mailed reports are signed with.",
    params: p::LIST,
    sets: &[],
    impact: Impact::Medium,
    outputs: "Nothing.",
    examples: &[
        Example {
            title: "Require Domain Security for mail from domaene.tld (walkthrough step 5)",
            code: "Set-TransportConfig -TLSReceiveDomainSecureList domaene.tld",
            setup: &[],
            expect: &[],
        },
        Example {
            title: "Send daily TLS reports (RFC 8460) from tlsrpt@contoso.com",
            code: "Set-TransportConfig -TlsRptReportingAddress tlsrpt@contoso.com -TlsRptOrganizationName \"Contoso Ltd\"",
            setup: &[],
            expect: &[],
        },
        Example {
            title: "Add a partner to the send list without replacing it",
            code: "Set-TransportConfig -TLSSendDomainSecureList @{Add=\"c.tld\"; Remove=\"a.tld\"}",
            setup: &["Set-TransportConfig -TLSSendDomainSecureList a.tld,b.tld"],
            expect: &[],
        },
    ],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    if b.is_set(p::InternalSMTPServers) {
        return Err(CmdletError::bad_value(
            "InternalSMTPServers",
            "lists the internal SMTP servers Exchange's anti-spam agents (Sender ID, connection \
             filtering) skip; xshell has no anti-spam agents, so it cannot apply here",
        ));
    }
    // GenerateCopyOfDSNFor: codes, checked before anything changes.
    let codes = |items: &[Arg]| -> Result<Vec<DsnCode>, CmdletError> {
        items
            .iter()
            .map(|a| match a {
                Arg::Str(t) => t
                    .parse::<DsnCode>()
                    .map_err(|e| CmdletError::bad_value("GenerateCopyOfDSNFor", e.0)),
                _ => Err(CmdletError::bad_value(
                    "GenerateCopyOfDSNFor",
                    "give codes such as 5.7.1",
                )),
            })
            .collect()
    };
    let dsn_copies: Option<(Vec<DsnCode>, Vec<DsnCode>, bool)> =
        match b.raw(p::GenerateCopyOfDSNFor) {
            None => None,
            Some(Arg::Null) => Some((Vec::new(), Vec::new(), true)),
            Some(Arg::Edit { add, remove }) => Some((codes(add)?, codes(remove)?, false)),
            Some(Arg::List(items)) => Some((codes(items)?, Vec::new(), true)),
            Some(one) => Some((codes(std::slice::from_ref(one))?, Vec::new(), true)),
        };
    if let Some(sel) = b.get(p::TlsRptDkimSelector) {
        xshell_core::dkim::check_name(sel.trim(), "selector")
            .map_err(|e| CmdletError::bad_value("TlsRptDkimSelector", e.to_string()))?;
    }
    ctx.commit("Set TransportConfig", "TransportConfig", |cfg| {
        let t = &mut cfg.transport_config;
        if let Some((add, remove, replace)) = &dsn_copies {
            if *replace {
                t.generate_copy_of_dsn_for.clear();
            }
            t.generate_copy_of_dsn_for.retain(|c| !remove.contains(c));
            for c in add {
                if !t.generate_copy_of_dsn_for.contains(c) {
                    t.generate_copy_of_dsn_for.push(*c);
                }
            }
        }
        b.assign_list(
            p::TLSReceiveDomainSecureList,
            &mut t.tls_receive_domain_secure_list,
        );
        b.assign_list(
            p::TLSSendDomainSecureList,
            &mut t.tls_send_domain_secure_list,
        );
        b.assign_list(
            p::TLSReceiveDomainSecureServerAuthOnlyList,
            &mut t.tls_receive_domain_secure_server_auth_only_list,
        );
        b.assign(p::MaxSendSize, &mut t.max_send_size);
        b.assign(p::MaxReceiveSize, &mut t.max_receive_size);
        b.assign(
            p::MaxRecipientEnvelopeLimit,
            &mut t.max_recipient_envelope_limit,
        );
        b.assign_opt(
            p::ExternalPostmasterAddress,
            &mut t.external_postmaster_address,
        );
        b.assign_opt(p::TlsRptReportingAddress, &mut t.tls_rpt_reporting_address);
        b.assign_opt(p::TlsRptOrganizationName, &mut t.tls_rpt_organization_name);
        b.assign_opt(p::TlsRptDkimSelector, &mut t.tls_rpt_dkim_selector);
        t.validate()?;
        Ok(())
    })?;
    // A selector whose key this server lacks: said now, not at the next
    // report (RFC 8460 5.3: receivers discard unsigned reports).
    if b.is_set(p::TlsRptDkimSelector)
        && let Ok(cfg) = ctx.store.snapshot()
        && cfg.transport_config.tls_rpt_dkim_selector.is_some()
        && cfg.transport_config.tls_rpt_reporting_address.is_some()
        && let Err(why) = xshell_core::tlsrpt::signing_key(&cfg, ctx.store.backend())
    {
        ctx.warn(&why);
    }
    Ok(Vec::new())
}
