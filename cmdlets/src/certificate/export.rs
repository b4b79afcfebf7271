//! Export-ExchangeCertificate: a certificate with its key as PKCS#12, a
//! pending request as PKCS#10, a certificate without a key as PEM/DER.

use super::{
    failed, find_record, given_password, prompt_password, record_err, thumbprint, thumbprint_param,
    write_file,
};
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::Value;
use xshell_core::certificates as certs;
use xshell_core::pki::keys::PrivateKey;
use xshell_core::pki::pem_encode;
use xshell_core::pki::pfx::{PfxEncryption, export_pfx};
use zeroize::Zeroizing;

params!(
    p + super::pfx_password {
        Server: String = param(
            Kind::Str,
            "The server: only this one (Get-TransportService Name or Fqdn); accepted for Exchange compatibility."
        ),
        Thumbprint: String = thumbprint_param("The certificate to export.").mandatory(),
        Path: String = param(
            Kind::Path,
            "The file to write (replaced if it exists; a PFX gets mode 0600)."
        )
        .aliases(&["FileName"]),
        BinaryEncoded: bool = param(
            Kind::Switch,
            "Requests and certificates without a key: DER instead of PEM. (A PFX is always binary.)"
        ),
        LegacyEncryption: bool = param(
            Kind::Switch,
            "Protect the PFX with 3DES and a SHA-1 MAC instead of AES-256."
        ),
    }
);

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Export-ExchangeCertificate",
    aliases: &[],
    synopsis: "Export a certificate with its private key (PFX), a pending request, or a certificate.",
    description: "A certificate with a private key is exported as a password-protected PKCS#12 (.pfx) file to -Path \
(always binary: with -BinaryEncoded it is also output as an object whose FileData holds the PFX bytes, for \
`[System.IO.File]::WriteAllBytes('x.pfx', $pfx.FileData)`; one of the two is required, key material is never \
printed as text), with its chain, AES-256 encrypted, or 3DES \
with -LegacyEncryption for old importers (Windows Server 2016 and earlier). It is refused unless the key was \
created or imported with -PrivateKeyExportable. The password comes from -Password, -PasswordFile, \
XSHELL_PFX_PASSWORD or a hidden prompt (prefer the file or the environment variable to -Password: command-line \
arguments are visible to other local users in the process list). A pending request exports its PKCS#10 request, a certificate without a \
private key the certificate: output as base64 PEM text, or with -BinaryEncoded as DER in an object's FileData, \
and also written to -Path when given.",
    params: p::LIST,
    sets: &[],
    impact: Impact::None,
    outputs: "The PEM text of a request or certificate; with -BinaryEncoded an object whose FileData holds the DER or PFX bytes; nothing for a PFX written to -Path without -BinaryEncoded.",
    examples: &[Example {
        title: "Back up a certificate and its key as a PFX",
        code: "Export-ExchangeCertificate 4F7B2F9AC8244F2042F6DBC515931CE7E295A961 -Path backup.pfx -PasswordFile orga.pass",
        setup: &[
            "Import-ExchangeCertificate -Path orga.pfx -PasswordFile orga.pass -PrivateKeyExportable",
        ],
        expect: &[],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let tp = thumbprint(b)?;
    let cfg = ctx.store.snapshot()?;
    let rec = cfg.certificates[find_record(&cfg, &tp)?].clone();
    super::check_owner(ctx, &cfg, b.get(p::Server), &rec)?;
    let path = b.get(p::Path);
    let binary = b.switch(p::BinaryEncoded);
    let cert = certs::certificate_der(&rec).map_err(record_err)?;
    // As Exchange: what is exported is output whether or not it also goes
    // to -Path; text as PEM, binary as an object whose FileData holds it.
    let public = |label: &str, der: Vec<u8>| -> Result<Vec<Value>, CmdletError> {
        let out = if binary {
            if let Some(p) = &path {
                write_file("Path", p, &der, false)?;
            }
            super::file_data(&der)
        } else {
            let pem = pem_encode(label, &der);
            if let Some(p) = &path {
                write_file("Path", p, pem.as_bytes(), false)?;
            }
            Value::Str(pem)
        };
        Ok(vec![out])
    };
    let (cert, key_id) = match (cert, &rec.key_id) {
        (None, _) => {
            let req = certs::request_der(&rec)
                .map_err(record_err)?
                .ok_or_else(|| failed(format!("certificate {tp} has no certificate or request")))?;
            return public("CERTIFICATE REQUEST", req);
        }
        (Some(der), None) => return public("CERTIFICATE", der),
        (Some(der), Some(k)) => (der, k.clone()),
    };
    if !rec.private_key_exportable {
        return Err(CmdletError::Failed(format!(
            "the private key of certificate {tp} is not exportable: it was created or imported \
             without -PrivateKeyExportable"
        )));
    }
    // A PFX is binary: it goes to -Path, or with -BinaryEncoded it is
    // output as FileData (password-protected, as in the file).
    if path.is_none() && !binary {
        return Err(CmdletError::bad_value(
            "Path",
            "is required to export a private key, unless -BinaryEncoded outputs the PFX as \
             FileData ($pfx.FileData); a PFX is never printed as text",
        ));
    }
    let password = match given_password(b)? {
        Some(p) => p,
        None => prompt_password(ctx, "Password to protect the PFX")?,
    };
    let key_bytes = Zeroizing::new(ctx.store.backend().get_secret(&key_id)?);
    let key_text = std::str::from_utf8(&key_bytes)
        .map_err(|_| failed(format!("the key file of certificate {tp} is damaged")))?;
    let key = PrivateKey::from_pem(key_text).map_err(failed)?;
    let chain = certs::chain_der(&rec).map_err(record_err)?;
    let enc = if b.switch(p::LegacyEncryption) {
        PfxEncryption::Legacy3Des
    } else {
        PfxEncryption::Aes256
    };
    let pfx = export_pfx(
        &key,
        &cert,
        &chain,
        &password,
        enc,
        rec.friendly_name.as_deref(),
    )
    .map_err(|e| CmdletError::Failed(format!("cannot export {tp}: {e}")))?;
    if let Some(path) = &path {
        write_file("Path", path, &pfx, true)?;
    }
    Ok(if binary {
        vec![super::file_data(&pfx)]
    } else {
        Vec::new()
    })
}
