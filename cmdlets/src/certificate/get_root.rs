//! Get-TrustedRootCertificate: the trusted root store.

use super::import_root::root_object;
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::Value;

params!(p {
    Thumbprint: String = crate::certificate::thumbprint_param("Only this certificate."),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Get-TrustedRootCertificate",
    aliases: &["get-trustedroot"],
    synopsis: "List the trusted root CA certificates.",
    description: "Lists the CA certificates the transport trusts for chain validation (added with \
Import-Certificate -CertStoreLocation Cert:\\LocalMachine\\Root), or the one with -Thumbprint. (PowerShell would \
use Get-ChildItem Cert:\\LocalMachine\\Root.)",
    params: p::LIST,
    sets: &[],
    impact: Impact::None,
    outputs: "TrustedRootCertificate objects.",
    examples: &[Example {
        title: "List the trusted roots",
        code: "Get-TrustedRootCertificate",
        setup: &[
            r"Import-Certificate -FilePath partner-root.cer -CertStoreLocation Cert:\LocalMachine\Root",
        ],
        expect: &[
            "0D3BDEF9BE2B9B81C520A1392273907DA0CD1230",
            "CN=Partner Root CA, O=Partner",
        ],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let cfg = ctx.store.snapshot()?;
    let tp = b.get(p::Thumbprint);
    let out: Vec<Value> = cfg
        .trusted_roots
        .iter()
        .filter(|r| tp.as_ref().is_none_or(|t| *t == r.thumbprint))
        .map(|r| Value::Object(root_object(r)))
        .collect();
    if let Some(tp) = tp
        && out.is_empty()
    {
        return Err(CmdletError::NotFound {
            kind: "trusted root certificate",
            identity: tp,
        });
    }
    Ok(out)
}
