//! Import-Certificate -CertStoreLocation Cert:\LocalMachine\Root: trust a
//! partner's (or our own) root CA for chain validation.

use super::{failed, read_file};
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::{Object, Value, View};
use xshell_core::certificates as certs;
use xshell_core::model::TrustedRoot;
use xshell_core::pki::cert::{CertInfo, parse_certificate};
use xshell_core::pki::import::import_bytes;

/// The only certificate store location xshell has.
pub const ROOT_LOCATION: &str = r"Cert:\LocalMachine\Root";

params!(p {
    FilePath: String = param(Kind::Path, "The CA certificate file (PEM, DER, P7B).")
        .position(0)
        .mandatory()
        .aliases(&["Path"]),
    CertStoreLocation: String = param(
        Kind::Str,
        "The store to import into: Cert:\\LocalMachine\\Root."
    )
    .default(r"Cert:\LocalMachine\Root"),
    Force: bool = param(
        Kind::Switch,
        "Also trust certificates that are not CA certificates."
    ),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Import-Certificate",
    aliases: &[],
    synopsis: "Trust a root CA certificate (walkthrough step 1).",
    description: "The PowerShell PKI form: `Import-Certificate -FilePath root.cer -CertStoreLocation \
Cert:\\LocalMachine\\Root` adds the CA certificates in a PEM, DER or PKCS#7 (.p7b) file to the trusted root store \
the transport uses to validate partners' certificates (and Get-ExchangeCertificate uses for Status). \
-CertStoreLocation must be the root store (Cert:\\LocalMachine\\Root, any case, / or \\); xshell keeps its own \
certificates with Import-ExchangeCertificate. A certificate that is not a CA certificate is refused unless \
-Force. Importing a root that is already trusted changes nothing (with a warning).",
    params: p::LIST,
    sets: &[],
    impact: Impact::Medium,
    outputs: "The trusted root certificates (TrustedRootCertificate objects).",
    examples: &[Example {
        title: "Trust the partner's root CA",
        code: r"Import-Certificate -FilePath partner-root.cer -CertStoreLocation Cert:\LocalMachine\Root",
        setup: &[],
        expect: &[
            "0D3BDEF9BE2B9B81C520A1392273907DA0CD1230",
            "CN=Partner Root CA, O=Partner",
        ],
    }],
    run,
};

/// A trusted root as an output object.
pub fn root_object(r: &TrustedRoot) -> Object {
    let info = certs_info(r);
    Object::new(
        "TrustedRootCertificate",
        View::Table(&["Thumbprint", "NotAfter", "Subject"]),
    )
    .with("Thumbprint", Value::str(&r.thumbprint))
    .with("Subject", Value::str(&r.subject))
    .with(
        "NotAfter",
        info.as_ref()
            .map_or(Value::Null, |i| Value::Date(i.not_after)),
    )
    .with(
        "IsSelfSigned",
        info.as_ref()
            .map(|i| Value::Bool(i.is_self_signed))
            .unwrap_or(Value::Null),
    )
}

fn certs_info(r: &TrustedRoot) -> Option<CertInfo> {
    let der = certs::b64_decode(&r.certificate)?;
    parse_certificate(&der).ok()
}

fn is_root_location(s: &str) -> bool {
    let n = s.trim().replace('/', "\\");
    let n = n.trim_end_matches('\\');
    n.eq_ignore_ascii_case(ROOT_LOCATION)
}

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    if let Some(loc) = b.get(p::CertStoreLocation)
        && !is_root_location(&loc)
    {
        return Err(CmdletError::bad_value(
            "CertStoreLocation",
            format!(
                "'{loc}' is not supported: xshell's only certificate store location is the trusted \
                 root store {ROOT_LOCATION}; import certificates with keys with Import-ExchangeCertificate"
            ),
        ));
    }
    let path = b.get(p::FilePath).unwrap_or_default();
    let data = read_file("FilePath", &path)?;
    let imported = import_bytes(&data, None)
        .map_err(|e| CmdletError::Failed(format!("cannot import {path}: {e}")))?;
    if imported.key.is_some() {
        return Err(CmdletError::Failed(format!(
            "{path} contains a private key: a trusted root needs only the CA certificate"
        )));
    }
    let mut roots = Vec::new();
    for der in std::iter::once(&imported.leaf).chain(imported.chain.iter()) {
        let info = parse_certificate(der).map_err(failed)?;
        if !info.is_ca && !ctx.force {
            return Err(CmdletError::Failed(format!(
                "'{}' ({}) is not a CA certificate; only CA certificates belong in the trusted root \
                 store (pass -Force to trust it anyway)",
                info.subject, info.thumbprint
            )));
        }
        roots.push(TrustedRoot {
            thumbprint: info.thumbprint,
            subject: info.subject,
            certificate: certs::b64_encode(der),
        });
    }
    let snap = ctx.store.snapshot()?;
    let fresh: Vec<&TrustedRoot> = roots
        .iter()
        .filter(|r| {
            !snap
                .trusted_roots
                .iter()
                .any(|t| t.thumbprint == r.thumbprint)
        })
        .collect();
    if fresh.is_empty() {
        ctx.warn(&format!(
            "the certificates in {path} are already trusted; nothing was changed"
        ));
        return Ok(roots
            .iter()
            .map(|r| Value::Object(root_object(r)))
            .collect());
    }
    let target = fresh
        .iter()
        .map(|r| r.subject.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let done = ctx.commit("Trust root certificate", &target, |cfg| {
        for r in &roots {
            if !cfg
                .trusted_roots
                .iter()
                .any(|t| t.thumbprint == r.thumbprint)
            {
                cfg.trusted_roots.push(r.clone());
            }
        }
        Ok(())
    })?;
    Ok(match done {
        Some(()) => roots
            .iter()
            .map(|r| Value::Object(root_object(r)))
            .collect(),
        None => Vec::new(),
    })
}
