//! Export-OrganizationConfig: the organization as a YAML file.

use super::file::{self, CertEntry, CertSource, OrgFile, Partial, RootEntry};
use crate::bind::Bound;
use crate::certificate::write_file;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::Value;
use xshell_core::certificates as certs;
use xshell_core::model::{OrgConfig, SCHEMA_VERSION};
use xshell_core::pki::cert::parse_certificate;
use xshell_core::pki::pem_encode;

params!(p {
    Path: String = param(
        Kind::Path,
        "The file to write (replaced); printed when not given."
    )
    .position(0),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Export-OrganizationConfig",
    aliases: &["export"],
    synopsis: "Write the organization's configuration as a declarative YAML file (for review, and for Sync-OrganizationConfig).",
    description: "Writes the transport configuration, the transport service, accepted domains, send and receive \
connectors, the trusted root CAs (inline as PEM: they are public) and references to the certificates: thumbprint, \
services, friendly name, DefaultSmtp, and a Source (null) to fill with the PFX's Path and its PasswordFile or \
PasswordEnv so that Sync-OrganizationConfig can import the certificate into a store that lacks it. Private keys \
and passwords are never written. Pending requests are left out (with a warning). Property names are those of the \
store and of `-o json`. Without -Path the file is printed; with -Path, Sources already filled in an existing file \
at that path are kept.",
    params: p::LIST,
    sets: &[],
    impact: Impact::None,
    outputs: "The YAML text, when no -Path is given.",
    examples: &[Example {
        title: "Print the configuration",
        code: "Export-OrganizationConfig",
        setup: &["New-SendConnector Outbound -AddressSpaces * -DomainSecureEnabled:$true"],
        expect: &[
            "SendConnectors:",
            "Name: Outbound",
            "DomainSecureEnabled: true",
        ],
    }],
    run,
};

/// The file describing `cfg`; `sources` are carried over by thumbprint.
/// Returns the thumbprints of the pending requests left out too.
pub fn to_file(cfg: &OrgConfig, sources: &[(String, CertSource)]) -> (OrgFile, Vec<String>) {
    let mut pending = Vec::new();
    let mut certificates = Vec::new();
    for rec in &cfg.certificates {
        let Ok(Some(der)) = certs::certificate_der(rec) else {
            pending.push(rec.thumbprint.clone());
            continue;
        };
        certificates.push(Partial(CertEntry {
            thumbprint: rec.thumbprint.clone(),
            subject: parse_certificate(&der).ok().map(|i| i.subject),
            services: rec.services.clone(),
            friendly_name: rec.friendly_name.clone(),
            default_smtp: rec.default_smtp,
            server: rec.server.clone(),
            source: sources
                .iter()
                .find(|(tp, _)| *tp == rec.thumbprint)
                .map(|(_, s)| s.clone()),
        }));
    }
    let trusted_roots = cfg
        .trusted_roots
        .iter()
        .map(|r| {
            Partial(RootEntry {
                subject: Some(r.subject.clone()),
                thumbprint: Some(r.thumbprint.clone()),
                certificate: certs::b64_decode(&r.certificate)
                    .map(|der| pem_encode("CERTIFICATE", &der))
                    .unwrap_or_default(),
            })
        })
        .collect();
    let file = OrgFile {
        schema_version: SCHEMA_VERSION,
        transport_config: Some(Partial(cfg.transport_config.clone())),
        transport_service: Some(Partial(cfg.transport_service.clone())),
        transport_services: (!cfg.transport_services.is_empty()).then(|| {
            cfg.transport_services
                .iter()
                .cloned()
                .map(Partial)
                .collect()
        }),
        accepted_domains: Some(cfg.accepted_domains.iter().cloned().map(Partial).collect()),
        send_connectors: Some(cfg.send_connectors.iter().cloned().map(Partial).collect()),
        receive_connectors: Some(
            cfg.receive_connectors
                .iter()
                .cloned()
                .map(Partial)
                .collect(),
        ),
        trusted_roots: Some(trusted_roots),
        certificates: Some(certificates),
    };
    (file, pending)
}

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let cfg = ctx.store.snapshot()?;
    let path = b.get(p::Path);
    // Keep the Sources an administrator filled in the file being replaced.
    let mut sources = Vec::new();
    if let Some(p) = &path
        && let Ok(text) = std::fs::read_to_string(p)
    {
        match file::parse(p, &text) {
            Ok(old) => {
                for Partial(c) in old.certificates.unwrap_or_default() {
                    if let Some(s) = c.source {
                        sources.push((c.thumbprint, s));
                    }
                }
            }
            Err(e) => ctx.warn(&format!(
                "the Sources in {p} are not kept: it is not an organization file ({e})"
            )),
        }
    }
    let (org, pending) = to_file(&cfg, &sources);
    for tp in pending {
        ctx.warn(&format!(
            "certificate {tp} is a pending request; it is not exported"
        ));
    }
    let text = file::to_text(&org)?;
    match path {
        Some(p) => {
            write_file("Path", &p, text.as_bytes(), false)?;
            Ok(Vec::new())
        }
        None => Ok(vec![Value::Str(text.trim_end().to_string())]),
    }
}
