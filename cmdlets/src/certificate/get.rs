//! Get-ExchangeCertificate: list certificates, or those that serve a name.

use super::{cert_object, find_record};
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::Value;
use time::OffsetDateTime;
use xshell_core::certificates as certs;
use xshell_core::pki::names::validate_dns_name;
use xshell_core::pki::select::{SelectOptions, select_certificates};

params!(p {
    Server: String = param(
        Kind::Str,
        "The server: only this one (Get-TransportService Name or Fqdn); accepted for Exchange compatibility."
    ),
    Thumbprint: String = crate::certificate::thumbprint_param("Only this certificate."),
    DomainName: String = param(
        Kind::Str,
        "Only certificates that serve this name, best first."
    ),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Get-ExchangeCertificate",
    aliases: &[],
    synopsis: "List the certificates in the store, with their status.",
    description: "Lists every certificate (or the one with -Thumbprint, also written `<server>\\<thumbprint>` as \
Identity shows it). The table shows Thumbprint, Services (the ServicesStringForm letters, IPUWSFC: IMAP, POP, UM, \
IIS, SMTP, Federation, UMCallRouter; `.` when not enabled) and Subject; `-o list` and `-o json` add Identity, \
Services as names (`IMAP, POP, IIS, SMTP`, or `None`), ServicesStringForm, Issuer, CertificateDomains, \
HasPrivateKey, IsSelfSigned, NotAfter, NotBefore (dates: `12/7/2031 1:24:37 PM` in lists, ISO 8601 UTC in JSON), \
PublicKeySize, RootCAType, SerialNumber, Status, FriendlyName, PrivateKeyExportable, KeyAlgorithm, \
IsDefaultSmtpCertificate, and three xshell additions: DaysUntilExpiration (whole days to NotAfter, what admins \
compute as `($_.NotAfter - (Get-Date)).Days`; negative once expired), EnhancedKeyUsageList (the extended key \
usages, as Windows lists them; empty: no such extension, any usage allowed) and DomainSecurityClientAuth (whether \
the certificate can be the TLS client certificate of Domain Security: no extended key usage or one that includes \
Client Authentication, and a key usage, if any, with Digital Signature; public CAs stop putting Client \
Authentication in server certificates during 2026). Status is computed now against the trusted root store (Import-Certificate) and the \
chain imported with the certificate: Valid, DateInvalid, Untrusted, PendingRequest, Invalid. With -DomainName, \
only certificates with a private key whose names match (SAN DNS names, else the CN; exact or wildcard) are \
listed, best first: the first is the certificate the transport selects for that name (the same selection \
function, on the same candidates, ignoring whether SMTP is enabled). No output contains key material.",
    params: p::LIST,
    sets: &[],
    impact: Impact::None,
    outputs: "ExchangeCertificate objects.",
    examples: &[Example {
        title: "Which certificate serves mail.orga.example?",
        code: "Get-ExchangeCertificate -DomainName mail.orga.example",
        setup: &["Import-ExchangeCertificate -Path orga.pfx -PasswordFile orga.pass"],
        expect: &[
            super::EXAMPLE_THUMBPRINT,
            "CN=mail.orga.example, O=OrgA, C=DE",
        ],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let cfg = ctx.store.snapshot()?;
    let only = match b.get(p::Server) {
        Some(server) => Some(
            crate::server::find(ctx.store, &cfg, "Server", &server)?
                .service
                .name,
        ),
        None => None,
    };
    let now = OffsetDateTime::now_utc();
    let roots = certs::trusted_root_ders(&cfg);
    let tp = b.get(p::Thumbprint);
    if let Some(tp) = &tp {
        find_record(&cfg, tp)?;
    }
    let wanted: Vec<usize> = match b.get(p::DomainName) {
        Some(name) => {
            let name = validate_dns_name(&name)
                .map_err(|e| CmdletError::bad_value("DomainName", e.to_string()))?;
            let cands = certs::candidates(&cfg, now);
            select_certificates(
                &cands,
                &name,
                SelectOptions {
                    require_smtp: false,
                },
            )
            .into_iter()
            .filter_map(|c| certs::find(&cfg, &c.thumbprint))
            .collect()
        }
        None => (0..cfg.certificates.len()).collect(),
    };
    let mut out = Vec::new();
    for i in wanted {
        let rec = &cfg.certificates[i];
        if tp.as_ref().is_some_and(|t| *t != rec.thumbprint) {
            continue;
        }
        let owner = cfg.owner(rec.server.as_deref());
        if only
            .as_ref()
            .is_some_and(|s| !xshell_core::model::same_server(s, owner))
        {
            continue;
        }
        match cert_object(owner, rec, &roots, now) {
            Ok(o) => out.push(Value::Object(o)),
            Err(e) => ctx.warn(&e.to_string()),
        }
    }
    Ok(out)
}
