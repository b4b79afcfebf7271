//! Remove-ExchangeCertificate.

use super::{find_record, thumbprint, thumbprint_param};
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::named;
use crate::value::Value;
use xshell_core::certificates as certs;
use xshell_core::model::OrgConfig;
use xshell_core::pki::cert::parse_certificate;

params!(p {
    Server: String = param(
        Kind::Str,
        "The server: only this one (Get-TransportService Name or Fqdn); accepted for Exchange compatibility."
    ),
    Thumbprint: String = thumbprint_param("The certificate to remove.").mandatory(),
    Force: bool = named::FORCE,
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Remove-ExchangeCertificate",
    aliases: &[],
    synopsis: "Remove a certificate (or pending request) and its private key.",
    description: "Removes the certificate and deletes its private key file (after the configuration change is \
committed). Refuses a certificate in use: the default SMTP certificate, or one a send or receive connector names \
in TlsCertificateName. Asks for confirmation; in scripts pass -Confirm:$false or -Force.",
    params: p::LIST,
    sets: &[],
    impact: Impact::High,
    outputs: "Nothing.",
    examples: &[Example {
        title: "Remove a certificate without a prompt",
        code: "Remove-ExchangeCertificate 4F7B2F9AC8244F2042F6DBC515931CE7E295A961 -Confirm:$false",
        setup: &["Import-ExchangeCertificate -Path orga.pfx -PasswordFile orga.pass"],
        expect: &[],
    }],
    run,
};

fn guard(cfg: &OrgConfig, i: usize) -> Result<(), CmdletError> {
    let rec = &cfg.certificates[i];
    let info = certs::certificate_der(rec)
        .ok()
        .flatten()
        .and_then(|d| parse_certificate(&d).ok());
    match certs::in_use(cfg, rec, info.as_ref()) {
        Some(why) => Err(CmdletError::Conflict(format!(
            "certificate {} is in use and cannot be removed: {why}",
            rec.thumbprint
        ))),
        None => Ok(()),
    }
}

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let tp = thumbprint(b)?;
    // Refuse before asking anything.
    let snap = ctx.store.snapshot()?;
    let i = find_record(&snap, &tp)?;
    super::check_owner(ctx, &snap, b.get(p::Server), &snap.certificates[i])?;
    guard(&snap, i)?;
    let removed = ctx.commit("Remove certificate", &tp, |cfg| {
        let i = find_record(cfg, &tp)?;
        guard(cfg, i)?;
        let rec = cfg.certificates.remove(i);
        Ok(rec.key_id.filter(|k| {
            !cfg.certificates
                .iter()
                .any(|c| c.key_id.as_deref() == Some(k.as_str()))
        }))
    })?;
    if let Some(Some(key_id)) = removed {
        ctx.store.backend().delete_secret(&key_id)?;
    }
    Ok(Vec::new())
}
