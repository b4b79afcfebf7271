//! Remove-TrustedRootCertificate.

use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::named;
use crate::value::Value;

params!(p {
    Thumbprint: String =
        crate::certificate::thumbprint_param("The root certificate to remove.").mandatory(),
    Force: bool = named::FORCE,
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Remove-TrustedRootCertificate",
    aliases: &["remove-trustedroot"],
    synopsis: "Stop trusting a root CA certificate.",
    description: "Removes a CA certificate from the trusted root store: certificates that chain only to it show \
Status Untrusted and partners presenting them fail Domain Security. Asks for confirmation; in scripts pass \
-Confirm:$false or -Force.",
    params: p::LIST,
    sets: &[],
    impact: Impact::High,
    outputs: "Nothing.",
    examples: &[Example {
        title: "Stop trusting the partner's root",
        code: "Remove-TrustedRootCertificate 0D3BDEF9BE2B9B81C520A1392273907DA0CD1230 -Confirm:$false",
        setup: &[
            r"Import-Certificate -FilePath partner-root.cer -CertStoreLocation Cert:\LocalMachine\Root",
        ],
        expect: &[],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let tp = super::thumbprint(b)?;
    let not_found = || CmdletError::NotFound {
        kind: "trusted root certificate",
        identity: tp.clone(),
    };
    let snap = ctx.store.snapshot()?;
    if !snap.trusted_roots.iter().any(|r| r.thumbprint == tp) {
        return Err(not_found());
    }
    ctx.commit("Remove trusted root certificate", &tp, |cfg| {
        let i = cfg
            .trusted_roots
            .iter()
            .position(|r| r.thumbprint == tp)
            .ok_or_else(not_found)?;
        cfg.trusted_roots.remove(i);
        Ok(())
    })?;
    Ok(Vec::new())
}
