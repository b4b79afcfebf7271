//! Enable-ExchangeCertificate: enable a certificate for services; SMTP may
//! make it the default SMTP certificate.

use super::{SERVICE_NAMES, find_record, record_err, thumbprint, thumbprint_param};
use crate::bind::Bound;
use crate::context::{Answer, Ctx};
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::Value;
use time::OffsetDateTime;
use xshell_core::certificates::{self as certs, RecordView};

params!(p {
    Server: String = param(Kind::Str, "The server: only this one (Get-TransportService Name or Fqdn); accepted for Exchange compatibility."),
    Thumbprint: String = thumbprint_param("The certificate to enable (from Get- or Import-ExchangeCertificate)")
            .mandatory(),
    Services: Vec<String> = param(Kind::List(&Kind::Enum(SERVICE_NAMES)), "Services to add: SMTP, IMAP, POP, IIS, UM, Federation, UMCallRouter; None clears.")
        .mandatory(),
    Force: bool = param(Kind::Switch, "Replace the default SMTP certificate without asking."),
    DoNotRequireSsl: bool = param(Kind::Switch, "Accepted for compatibility (IIS); no effect."),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Enable-ExchangeCertificate",
    aliases: &[],
    synopsis: "Enable a certificate for services (SMTP for the transport).",
    description: "Adds -Services to the certificate's services (None clears them). Enabling SMTP makes the certificate \
the default SMTP certificate when there is none; when another certificate is the default, Exchange's question \
\"Overwrite the existing default SMTP certificate?\" is asked (No keeps the old default and still enables SMTP on \
this one); -Force replaces it without asking, and with no terminal the command fails and says to pass -Force. \
A certificate without a private key, or a pending request, cannot be enabled. An expired or not yet valid \
certificate, or one without the clientAuth extended key usage (mutual TLS presents our certificate as a client \
certificate), is enabled with a warning. -DoNotRequireSsl is accepted and has no effect.",
    params: p::LIST,
    sets: &[],
    impact: Impact::Medium,
    outputs: "Nothing.",
    examples: &[Example {
        title: "Enable an imported certificate for SMTP (walkthrough step 4)",
        code: "Enable-ExchangeCertificate 4F7B2F9AC8244F2042F6DBC515931CE7E295A961 -Services SMTP",
        setup: &["Import-ExchangeCertificate -Path orga.pfx -PasswordFile orga.pass"],
        expect: &[],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let tp = thumbprint(b)?;
    let given: Vec<String> = b.get(p::Services).unwrap_or_default();
    let none = given.iter().any(|s| s == "None");
    if none && given.len() > 1 {
        return Err(CmdletError::bad_value(
            "Services",
            "None cannot be combined with other services",
        ));
    }
    let smtp = given.iter().any(|s| s == "SMTP");
    let cfg = ctx.store.snapshot()?;
    let rec = cfg.certificates[find_record(&cfg, &tp)?].clone();
    super::check_owner(ctx, &cfg, b.get(p::Server), &rec)?;
    // The default SMTP certificate is one per server.
    let owner = cfg.owner(rec.server.as_deref()).to_string();
    let now = OffsetDateTime::now_utc();
    let view = certs::describe(&rec, &certs::trusted_root_ders(&cfg), now).map_err(record_err)?;
    let info = match view {
        RecordView::Pending { .. } => {
            return Err(CmdletError::Failed(format!(
                "certificate {tp} is a pending request: import the certificate the CA issued \
                 (Import-ExchangeCertificate) before enabling it"
            )));
        }
        RecordView::Certificate { info, .. } => info,
    };
    if rec.key_id.is_none() && !none {
        return Err(CmdletError::Failed(format!(
            "certificate {tp} has no private key, so it cannot be enabled: import it as a PFX with \
             its key, or import the certificate that completes the pending request made with \
             New-ExchangeCertificate -GenerateRequest"
        )));
    }
    if !none {
        if now > info.not_after {
            ctx.warn(&format!(
                "certificate {tp} expired on {}",
                crate::datetime::display(info.not_after)
            ));
        } else if now < info.not_before {
            ctx.warn(&format!(
                "certificate {tp} is not valid before {}",
                crate::datetime::display(info.not_before)
            ));
        }
    }
    if smtp && !info.has_client_auth {
        ctx.warn(&format!(
            "certificate {tp} lacks the clientAuth extended key usage: partners that check it will \
             refuse it as our client certificate in mutual TLS (Domain Security)"
        ));
    }

    let mut make_default = false;
    if smtp {
        match certs::default_smtp(&cfg.for_server(&owner)) {
            None => make_default = true,
            Some(d) if d.thumbprint == tp => {}
            Some(d) => {
                let expires = |r: &xshell_core::model::CertificateRecord| {
                    certs::certificate_der(r)
                        .ok()
                        .flatten()
                        .and_then(|der| xshell_core::pki::cert::parse_certificate(&der).ok())
                        .map(|i| crate::datetime::display(i.not_after))
                        .unwrap_or_else(|| "unknown".into())
                };
                let current = d.thumbprint.clone();
                let current_expires = expires(d);
                if ctx.force || ctx.what_if {
                    make_default = true;
                } else if !ctx.host.interactive() {
                    return Err(CmdletError::NeedsConfirmation(format!(
                        "certificate {current} is the default SMTP certificate; Enable-ExchangeCertificate \
                         asks before replacing it and there is no terminal to ask on: pass -Force \
                         (CLI: --force) to make {tp} the default SMTP certificate"
                    )));
                } else {
                    let answer = ctx.host.confirm(
                        "Overwrite the existing default SMTP certificate?",
                        &format!(
                            "Current certificate: '{current}' (expires {current_expires})\n\
                             Replace it with certificate: '{tp}' (expires {})",
                            crate::datetime::display(info.not_after)
                        ),
                    )?;
                    make_default = matches!(answer, Answer::Yes | Answer::YesToAll);
                }
            }
        }
    }
    if none && rec.default_smtp {
        ctx.warn(&format!(
            "certificate {tp} was the default SMTP certificate; there is no default SMTP certificate now"
        ));
    }

    ctx.commit("Enable certificate", &tp, |cfg| {
        let i = find_record(cfg, &tp)?;
        if make_default {
            let default = cfg.default_server().to_string();
            for c in &mut cfg.certificates {
                if xshell_core::model::same_server(c.server.as_deref().unwrap_or(&default), &owner)
                {
                    c.default_smtp = false;
                }
            }
        }
        let rec = &mut cfg.certificates[i];
        if none {
            rec.services.clear();
            rec.default_smtp = false;
        } else {
            let mut all = rec.services.clone();
            all.extend(given.iter().cloned());
            rec.services = certs::normalize_services(&all);
            if make_default {
                rec.default_smtp = true;
            }
        }
        Ok(())
    })?;
    Ok(Vec::new())
}
