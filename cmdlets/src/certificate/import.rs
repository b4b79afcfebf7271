//! Import-ExchangeCertificate: a PFX with its key, or an issued certificate
//! (PEM, DER, PKCS#7) that completes a pending request.

use super::{
    commit_with_keys, friendly_name, given_password, object_for, prompt_password, read_file,
};
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::Value;
use time::OffsetDateTime;
use xshell_core::certificates as certs;
use xshell_core::model::{CertificateRecord, OrgConfig};
use xshell_core::pki::PkiError;
use xshell_core::pki::cert::{CertInfo, parse_certificate};
use xshell_core::pki::import::{Imported, import_bytes};
use zeroize::Zeroizing;

params!(
    p + super::pfx_password {
        Server: String = param(
            Kind::Str,
            "The server: only this one (Get-TransportService Name or Fqdn); accepted for Exchange compatibility."
        ),
        Path: String = param(Kind::Path, "The certificate file.")
            .aliases(&["FileName"])
            .position(0),
        FileData: Bytes = param(
            Kind::Bytes,
            "The certificate file's bytes (instead of -Path)."
        ),
        PrivateKeyExportable: bool = param(
            Kind::Bool,
            "Allow Export-ExchangeCertificate to export the imported private key."
        ),
        FriendlyName: String = param(Kind::Str, "A display name (fewer than 64 characters)."),
    }
);

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Import-ExchangeCertificate",
    aliases: &[],
    synopsis: "Import a certificate: a PFX with its private key, or the certificate a CA issued for a pending request.",
    description: "Reads PKCS#12 (.pfx/.p12, AES or legacy 3DES/RC2), PKCS#7 (.p7b/.p7c), PEM or DER from -Path or \
-FileData. A PFX password comes from -Password, -PasswordFile, the environment variable XSHELL_PFX_or a \
hidden prompt on a terminal; it is never echoed or logged. Prefer -PasswordFile or XSHELL_PFX_PASSWORD to \
-Password: command-line arguments are visible to other local users in the process list. A certificate without a key whose public key matches a \
pending request completes that request: it keeps the request's key, the request is dropped and the thumbprint \
becomes the certificate's. A certificate with no key matching no request is imported without a private key \
(HasPrivateKey False, with a warning): it cannot be enabled. Importing a certificate that is already in the store \
changes nothing and warns (so provisioning scripts can run again), except that a PFX adds the private key to a \
stored certificate that had none. Expired certificates are imported (Status DateInvalid) with a warning. Emits \
the certificate, so `Import-ExchangeCertificate ... | Enable-ExchangeCertificate -Services SMTP` works.",
    params: p::LIST,
    sets: &[],
    impact: Impact::Medium,
    outputs: "The imported ExchangeCertificate.",
    examples: &[
        Example {
            title: "Import a PFX with its private key, password from a file",
            code: "Import-ExchangeCertificate -Path orga.pfx -PasswordFile orga.pass -PrivateKeyExportable",
            setup: &[],
            expect: &[crate::certificate::EXAMPLE_THUMBPRINT],
        },
        Example {
            title: "Complete a pending request with the certificate the CA issued (walkthrough step 4)",
            code: "Import-ExchangeCertificate -Path orga.cer",
            setup: &[
                "New-LabCA -Name \"OrgA Lab CA\" -Path labca",
                "New-ExchangeCertificate -GenerateRequest -SubjectName \"C=DE,O=OrgA,CN=mail.orga.example\" -DomainName orga.example -Path orga.req",
                "Invoke-LabCASign -CA labca -RequestFile orga.req -Path orga.cer",
            ],
            expect: &["CN=mail.orga.example, O=OrgA, C=DE"],
        },
    ],
    run,
};

/// What an import will do, decided on a snapshot and checked again under the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Already stored (and nothing to add).
    Present(String),
    /// A new certificate with its key.
    WithKey,
    /// Add the key to a stored certificate that had none.
    AddKey,
    /// Complete the pending request with this thumbprint.
    Complete(String),
    /// A certificate without a key.
    NoKey,
}

impl Plan {
    /// Whether two plans do the same thing (any "already present" is the same).
    pub fn same_as(&self, other: &Plan) -> bool {
        match (self, other) {
            (Plan::Present(_), Plan::Present(_)) => true,
            _ => self == other,
        }
    }
}

/// A certificate file, decoded and ready to be added to a configuration:
/// the import logic Import-ExchangeCertificate and Sync-OrganizationConfig
/// share. The private key (if any) is written to the store by the caller
/// ([`Prepared::key`], see `commit_with_keys`) before the configuration that
/// names it is committed.
pub struct Prepared {
    pub info: CertInfo,
    pub has_key: bool,
    key_id: Option<String>,
    key_pem: Option<Zeroizing<String>>,
    cert_b64: String,
    chain: Vec<String>,
}

impl Prepared {
    /// Decodes `data`: PFX, PKCS#7, PEM or DER.
    pub fn decode(data: &[u8], password: Option<&str>) -> Result<Prepared, PkiError> {
        Self::from_imported(import_bytes(data, password)?)
    }

    fn from_imported(imported: Imported) -> Result<Prepared, PkiError> {
        let info = parse_certificate(&imported.leaf)?;
        let key_id = match &imported.key {
            Some(k) => Some(certs::new_key_id(k)?),
            None => None,
        };
        Ok(Prepared {
            has_key: imported.key.is_some(),
            key_pem: imported.key.as_ref().map(|k| k.to_pem()),
            key_id,
            cert_b64: certs::b64_encode(&imported.leaf),
            chain: imported
                .chain
                .iter()
                .map(|c| certs::b64_encode(c))
                .collect(),
            info,
        })
    }

    pub fn thumbprint(&self) -> &str {
        &self.info.thumbprint
    }

    /// The key file to write before committing: (key id, PEM).
    pub fn key(&self) -> Option<(&str, &[u8])> {
        match (&self.key_id, &self.key_pem) {
            (Some(id), Some(pem)) => Some((id.as_str(), pem.as_bytes())),
            _ => None,
        }
    }

    /// What importing into `cfg` would do.
    pub fn plan(&self, cfg: &OrgConfig) -> Plan {
        let tp = self.thumbprint();
        if let Some(i) = certs::find(cfg, tp) {
            return if self.has_key && cfg.certificates[i].key_id.is_none() {
                Plan::AddKey
            } else {
                Plan::Present(tp.to_string())
            };
        }
        if self.has_key {
            return Plan::WithKey;
        }
        match certs::find_pending_for(cfg, &self.info.spki_der) {
            Some(i) => Plan::Complete(cfg.certificates[i].thumbprint.clone()),
            None => Plan::NoKey,
        }
    }

    /// Carries out `plan` on `cfg`.
    pub fn apply(
        &self,
        cfg: &mut OrgConfig,
        plan: &Plan,
        friendly: Option<&String>,
        exportable: bool,
        owner: Option<&String>,
    ) {
        let tp = self.thumbprint();
        match plan {
            Plan::Present(_) => {}
            Plan::AddKey => {
                if let Some(i) = certs::find(cfg, tp) {
                    let rec = &mut cfg.certificates[i];
                    rec.key_id = self.key_id.clone();
                    rec.private_key_exportable = exportable;
                    if self.chain.len() > rec.chain.len() {
                        rec.chain = self.chain.clone();
                    }
                    if let Some(f) = friendly {
                        rec.friendly_name = Some(f.clone());
                    }
                }
            }
            Plan::Complete(req_tp) => {
                if let Some(i) = certs::find(cfg, req_tp) {
                    let rec = &mut cfg.certificates[i];
                    rec.thumbprint = tp.to_string();
                    rec.certificate = Some(self.cert_b64.clone());
                    rec.chain = self.chain.clone();
                    rec.request = None;
                    if let Some(f) = friendly {
                        rec.friendly_name = Some(f.clone());
                    }
                    if exportable {
                        rec.private_key_exportable = true;
                    }
                }
            }
            Plan::WithKey | Plan::NoKey => cfg.certificates.push(CertificateRecord {
                thumbprint: tp.to_string(),
                certificate: Some(self.cert_b64.clone()),
                chain: self.chain.clone(),
                request: None,
                key_id: self.key_id.clone(),
                services: Vec::new(),
                friendly_name: friendly.cloned(),
                private_key_exportable: exportable && self.key_id.is_some(),
                default_smtp: false,
                server: owner.cloned(),
            }),
        }
    }
}

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let owner = super::new_owner(ctx, b.get(p::Server))?;
    let (data, source) = match (b.get(p::Path), b.get(p::FileData).map(|d| d.0)) {
        (Some(_), Some(_)) => {
            return Err(CmdletError::Usage(
                "Import-ExchangeCertificate: give either -Path or -FileData, not both".into(),
            ));
        }
        (Some(p), None) => (read_file("Path", &p)?, p),
        (None, Some(d)) => (d, "-FileData".to_string()),
        (None, None) => {
            return Err(CmdletError::Usage(
                "Import-ExchangeCertificate: missing -Path (CLI: <Path> or --path) or -FileData"
                    .into(),
            ));
        }
    };
    let friendly = friendly_name(b.get(p::FriendlyName))?;
    let exportable = b.switch(p::PrivateKeyExportable);
    let password = given_password(b)?;
    let prepared = match Prepared::decode(&data, password.as_ref().map(|p| p.as_str())) {
        Err(PkiError::PasswordRequired) if password.is_none() => {
            let p = prompt_password(ctx, &format!("Password for {source}"))?;
            Prepared::decode(&data, Some(&p))
        }
        other => other,
    }
    .map_err(|e| CmdletError::Failed(format!("cannot import {source}: {e}")))?;
    let info = &prepared.info;
    let tp = info.thumbprint.clone();

    let snapshot = ctx.store.snapshot()?;
    let planned = prepared.plan(&snapshot);
    // A certificate belongs to one server: importing it (or its key, or
    // completing a request) for another is refused.
    let existing = match &planned {
        Plan::Present(t) | Plan::Complete(t) => certs::find(&snapshot, t),
        Plan::AddKey => certs::find(&snapshot, &tp),
        Plan::WithKey | Plan::NoKey => None,
    };
    if b.get(p::Server).is_some()
        && let Some(i) = existing
    {
        let has = snapshot.owner(snapshot.certificates[i].server.as_deref());
        let wanted = snapshot.owner(owner.as_deref());
        if !xshell_core::model::same_server(has, wanted) {
            return Err(CmdletError::Conflict(format!(
                "certificate {} belongs to server {has}: a certificate (or pending request) belongs to one server; \
                 remove it there first (Remove-ExchangeCertificate -Server {has}) to import it for {wanted}",
                snapshot.certificates[i].thumbprint
            )));
        }
    }
    if let Plan::Present(tp) = &planned {
        ctx.warn(&format!(
            "certificate {tp} is already in the store; nothing was changed"
        ));
        return Ok(vec![Value::Object(object_for(&snapshot, tp)?)]);
    }

    let now = OffsetDateTime::now_utc();
    if now > info.not_after {
        ctx.warn(&format!(
            "certificate {tp} expired on {}; it is imported with Status DateInvalid",
            crate::datetime::display(info.not_after)
        ));
    } else if now < info.not_before {
        ctx.warn(&format!(
            "certificate {tp} is not valid before {}",
            crate::datetime::display(info.not_before)
        ));
    }
    match &planned {
        Plan::NoKey => ctx.warn(&format!(
            "certificate {tp} has no private key and matches no pending request: it is imported \
             without a private key (HasPrivateKey False) and cannot be enabled for a service"
        )),
        Plan::Complete(req) => ctx.host.info(&format!(
            "The certificate completes pending request {req}; its thumbprint is now {tp}."
        )),
        _ => {}
    }

    let target = info.subject.clone();
    let keys: Vec<(&str, &[u8])> = prepared.key().into_iter().collect();
    let done = commit_with_keys(
        ctx,
        "Import certificate",
        &target,
        &keys,
        || Ok(()),
        |cfg| {
            let now_plan = prepared.plan(cfg);
            if !planned.same_as(&now_plan) {
                return Err(CmdletError::Conflict(
                    "the store changed while importing; run the command again".into(),
                ));
            }
            prepared.apply(
                cfg,
                &now_plan,
                friendly.as_ref(),
                exportable,
                owner.as_ref(),
            );
            object_for(cfg, &tp)
        },
    )?;
    Ok(done.map(Value::Object).into_iter().collect())
}
