//! Certificates: New-/Import-/Enable-/Get-/Export-/Remove-ExchangeCertificate,
//! the trusted root store (Import-Certificate, Get-/Remove-TrustedRootCertificate)
//! and the lab CA (New-LabCA, Invoke-LabCASign).
//!
//! Decisions shared by these cmdlets:
//! - A certificate's private key lives in a 0600 file in the store's `keys/`
//!   folder, named by the record's KeyId; it is written before the
//!   configuration that references it is committed, and deleted only after
//!   the commit that drops the record. No output ever contains key material.
//! - The *default SMTP certificate* is stored explicitly (the record's
//!   `DefaultSmtp` marker): the certificate most recently enabled for SMTP
//!   (Enable-ExchangeCertificate asks before replacing it), or the first
//!   certificate enabled for SMTP.
//! - Passwords (PFX import/export) come from -Password, -PasswordFile or the
//!   environment variable XSHELL_PFX_PASSWORD, else a hidden prompt when a
//!   terminal is there; never echoed or logged.

pub mod enable;
pub mod export;
pub mod get;
pub mod get_root;
pub mod import;
pub mod import_root;
pub mod lab_ca_new;
pub mod lab_ca_sign;
pub mod new;
pub mod remove;
pub mod remove_root;
pub mod request;

use crate::bind::Bound;
use crate::context::{ConfirmFlag, Ctx};
use crate::decl::{Kind, Param, ParamDecl, Pipe, param, params};
use crate::error::CmdletError;
use crate::value::{Object, Value, View};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use time::OffsetDateTime;
use xshell_core::certificates::{self as certs, RecordError, RecordView};
use xshell_core::model::{CertificateRecord, OrgConfig};
use xshell_core::pki::PkiError;
use zeroize::Zeroizing;

/// The names -Services accepts.
pub const SERVICE_NAMES: &[&str] = &[
    "SMTP",
    "IMAP",
    "POP",
    "IIS",
    "UM",
    "Federation",
    "UMCallRouter",
    "None",
];

/// The environment variable read for PFX passwords.
pub const PASSWORD_ENV: &str = "XSHELL_PFX_PASSWORD";

/// Largest certificate or PFX file read (certificate files are a few KB).
const MAX_FILE: u64 = 1024 * 1024;

/// The Thumbprint parameter of Enable/Get/Export/Remove: position 1, from
/// the pipeline by value (a string) or by property name (a certificate).
pub const fn thumbprint_param(help: &'static str) -> ParamDecl {
    ParamDecl::new("Thumbprint", Kind::Thumbprint, help)
        .position(0)
        .pipeline(Pipe::Both)
}

// The PFX password parameters of Import- and Export-ExchangeCertificate,
// after each cmdlet's own; read by [`given_password`].
params!(pub pfx_password {
    Password: String = param(
        Kind::Secret,
        "The PFX password. Prefer -PasswordFile or XSHELL_PFX_PASSWORD: command-line arguments are visible to other local users in the process list (ps, /proc).",
    ),
    PasswordFile: String = param(
        Kind::Path,
        "A file holding the PFX password (first line); the preferred form (keep the file mode 0600).",
    ),
});

/// `-Thumbprint` as [`thumbprint`] reads it, for every cmdlet that
/// declares it with [`thumbprint_param`].
#[allow(non_upper_case_globals)]
pub const Thumbprint: Param<String> = Param::new("Thumbprint");

/// A PKI error about a parameter's value.
pub fn bad(param: &str, e: PkiError) -> CmdletError {
    CmdletError::bad_value(param, e.to_string())
}

pub fn record_err(e: RecordError) -> CmdletError {
    CmdletError::Failed(e.to_string())
}

pub fn failed(e: impl std::fmt::Display) -> CmdletError {
    CmdletError::Failed(e.to_string())
}

/// The bound arguments with a server-qualified `-Thumbprint`
/// (`EX01\\<thumbprint>`, a certificate's Identity) made a plain
/// thumbprint, after checking that the server is this store's; `None`
/// when there is nothing to change.
pub fn local_thumbprint(
    store: &xshell_core::store::Store,
    b: &Bound,
) -> Result<Option<Bound>, CmdletError> {
    let Some(crate::Arg::Str(given)) = b.raw(Thumbprint) else {
        return Ok(None);
    };
    if !given.contains('\\') {
        return Ok(None);
    }
    let cfg = store.snapshot()?;
    let (server, tp) = given.split_once('\\').unwrap_or(("", given));
    let server = server.trim();
    if !cfg
        .server_names()
        .iter()
        .any(|n| crate::named::wildcard_match(server, n))
    {
        return Err(CmdletError::Failed(format!(
            "certificate '{given}' was not found: '{server}' is not a server of this organization (servers: {})",
            cfg.server_names().join(", ")
        )));
    }
    if let Some(i) = certs::find(&cfg, tp.trim()) {
        let owner = cfg.owner(cfg.certificates[i].server.as_deref());
        if !crate::named::wildcard_match(server, owner) {
            return Err(CmdletError::Failed(format!(
                "certificate '{given}' was not found: certificate {} belongs to server {owner}",
                tp.trim()
            )));
        }
    }
    let mut local = b.clone();
    local.insert(Thumbprint.name, crate::Arg::Str(tp.to_string()));
    Ok(Some(local))
}

/// The server a new certificate belongs to (`-Server`): None for the
/// default server (as records written before servers had certificates of
/// their own), else the server's name.
pub fn new_owner(ctx: &mut Ctx<'_>, server: Option<String>) -> Result<Option<String>, CmdletError> {
    let Some(server) = server else {
        return Ok(None);
    };
    let name = crate::server::for_new_object(ctx, "Server", &server)?;
    let cfg = ctx.store.snapshot()?;
    Ok((!xshell_core::model::same_server(&name, cfg.default_server())).then_some(name))
}

/// `-Server` of a cmdlet acting on an existing certificate must name the
/// server the certificate belongs to.
pub fn check_owner(
    ctx: &Ctx<'_>,
    cfg: &OrgConfig,
    server: Option<String>,
    rec: &xshell_core::model::CertificateRecord,
) -> Result<(), CmdletError> {
    let Some(server) = server else {
        return Ok(());
    };
    let given = crate::server::find(ctx.store, cfg, "Server", &server)?
        .service
        .name;
    let owner = cfg.owner(rec.server.as_deref());
    if xshell_core::model::same_server(&given, owner) {
        Ok(())
    } else {
        Err(CmdletError::Failed(format!(
            "certificate '{given}\\{}' was not found: certificate {} belongs to server {owner}",
            rec.thumbprint, rec.thumbprint
        )))
    }
}

/// The bound thumbprint (the binder normalized it).
pub fn thumbprint(b: &Bound) -> Result<String, CmdletError> {
    b.get(Thumbprint)
        .ok_or_else(|| CmdletError::Usage("missing -Thumbprint".into()))
}

pub fn find_record(cfg: &OrgConfig, tp: &str) -> Result<usize, CmdletError> {
    certs::find(cfg, tp).ok_or_else(|| CmdletError::NotFound {
        kind: "certificate",
        identity: tp.to_string(),
    })
}

/// Reads a certificate, request or password file.
pub fn read_file(param: &str, path: &str) -> Result<Vec<u8>, CmdletError> {
    let p = Path::new(path);
    let meta = std::fs::metadata(p).map_err(|e| match windows_path_hint(path) {
        Some(hint) if e.kind() == std::io::ErrorKind::NotFound => {
            CmdletError::bad_value(param, hint)
        }
        _ => CmdletError::bad_value(param, format!("cannot read '{path}': {e}")),
    })?;
    if !meta.is_file() {
        return Err(CmdletError::bad_value(
            param,
            format!("'{path}' is not a file"),
        ));
    }
    if meta.len() > MAX_FILE {
        return Err(CmdletError::bad_value(
            param,
            format!("'{path}' is larger than 1 MB; it is not a certificate file"),
        ));
    }
    std::fs::read(p)
        .map_err(|e| CmdletError::bad_value(param, format!("cannot read '{path}': {e}")))
}

/// For a path written the Windows way (`c:\certificates\import.pfx`,
/// `\\server\share\x.pfx`) that does not exist here: a message that says
/// so, instead of "No such file".
pub fn windows_path_hint(path: &str) -> Option<String> {
    let b = path.as_bytes();
    let drive = b.len() >= 3
        && b[0].is_ascii_alphabetic()
        && b[1] == b':'
        && (b[2] == b'\\' || b[2] == b'/');
    let unc = path.starts_with("\\\\");
    (drive || unc).then(|| {
        let file = path.rsplit(['\\', '/']).next().unwrap_or(path);
        format!(
            "'{path}' is a Windows path; xshell runs on Linux and reads files by their path on \
             this machine, e.g. ./{file} or /root/certificates/{file}"
        )
    })
}

/// Writes an output file (replacing it). `private` files get mode 0600.
pub fn write_file(param: &str, path: &str, bytes: &[u8], private: bool) -> Result<(), CmdletError> {
    let err =
        |e: std::io::Error| CmdletError::bad_value(param, format!("cannot write '{path}': {e}"));
    // On Linux `c:\x.pfx` is a file name in the current folder: never what
    // was meant.
    if let Some(hint) = windows_path_hint(path) {
        return Err(CmdletError::bad_value(
            param,
            hint.replace("reads", "writes"),
        ));
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    if private {
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)
}

/// The password from -Password, -PasswordFile or XSHELL_PFX_PASSWORD, if any.
pub fn given_password(b: &Bound) -> Result<Option<Zeroizing<String>>, CmdletError> {
    if b.is_set(pfx_password::Password) && b.is_set(pfx_password::PasswordFile) {
        return Err(CmdletError::Usage(
            "give either -Password or -PasswordFile, not both".into(),
        ));
    }
    if let Some(p) = b.get(pfx_password::Password) {
        return Ok(Some(Zeroizing::new(p)));
    }
    if let Some(path) = b.get(pfx_password::PasswordFile) {
        let bytes = Zeroizing::new(read_file("PasswordFile", &path)?);
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            CmdletError::bad_value("PasswordFile", format!("'{path}' is not UTF-8 text"))
        })?;
        let first = text.lines().next().unwrap_or_default();
        return Ok(Some(Zeroizing::new(first.to_string())));
    }
    match std::env::var(PASSWORD_ENV) {
        Ok(p) => Ok(Some(Zeroizing::new(p))),
        Err(_) => Ok(None),
    }
}

/// A password asked on the terminal, or an error naming the other ways.
pub fn prompt_password(ctx: &mut Ctx<'_>, prompt: &str) -> Result<Zeroizing<String>, CmdletError> {
    if !ctx.host.interactive() {
        return Err(CmdletError::NeedsConfirmation(format!(
            "a PFX password is needed and there is no terminal to ask on: pass -Password, \
             -PasswordFile FILE (CLI: --password-file) or set {PASSWORD_ENV}"
        )));
    }
    Ok(Zeroizing::new(ctx.host.read_secret(prompt)?))
}

/// A change that brings a new private key: asks (-Confirm), writes the key
/// file, runs `before` (e.g. writing a request file), then commits `change`.
/// A failure before the commit removes the key file again; nothing in the
/// configuration refers to it. With -WhatIf nothing is written.
pub fn commit_with_key<T>(
    ctx: &mut Ctx<'_>,
    action: &str,
    target: &str,
    key: Option<(&str, &[u8])>,
    before: impl FnOnce() -> Result<(), CmdletError>,
    change: impl FnMut(&mut OrgConfig) -> Result<T, CmdletError>,
) -> Result<Option<T>, CmdletError> {
    let keys: Vec<(&str, &[u8])> = key.into_iter().collect();
    commit_with_keys(ctx, action, target, &keys, before, change)
}

/// [`commit_with_key`] for any number of new keys (one transaction).
pub fn commit_with_keys<T>(
    ctx: &mut Ctx<'_>,
    action: &str,
    target: &str,
    keys: &[(&str, &[u8])],
    before: impl FnOnce() -> Result<(), CmdletError>,
    change: impl FnMut(&mut OrgConfig) -> Result<T, CmdletError>,
) -> Result<Option<T>, CmdletError> {
    if ctx.what_if {
        return ctx.commit(action, target, change);
    }
    if !ctx.should_process(action, target)? {
        return Ok(None);
    }
    let mut written = Vec::new();
    let mut result = Ok(());
    for (id, bytes) in keys {
        result = ctx
            .store
            .backend()
            .put_secret(id, bytes)
            .map_err(CmdletError::from);
        if result.is_err() {
            break;
        }
        written.push(*id);
    }
    let result = result.and_then(|()| {
        let saved = ctx.confirm;
        ctx.confirm = ConfirmFlag::DoNotAsk;
        let r = before().and_then(|()| ctx.commit(action, target, change));
        ctx.confirm = saved;
        r
    });
    if let Err(e) = &result {
        // A store error may come after the new revision reached the disk:
        // keep the keys then (orphan files at worst, never a dangling record).
        if !matches!(e, CmdletError::Store(_)) || written.len() < keys.len() {
            for id in written {
                let _ = ctx.store.backend().delete_secret(id);
            }
        }
    }
    result
}

/// The ExchangeCertificate object Get-ExchangeCertificate shows (and
/// Import/New emit). Never carries key material.
pub fn cert_object(
    server: &str,
    rec: &CertificateRecord,
    roots: &[Vec<u8>],
    now: OffsetDateTime,
) -> Result<Object, CmdletError> {
    let view = certs::describe(rec, roots, now).map_err(record_err)?;
    // The table shows the letters under "Services", as Exchange's does.
    let o = Object::new(
        "ExchangeCertificate",
        View::Table(&["Thumbprint", "Services=ServicesStringForm", "Subject"]),
    )
    .with(
        "Identity",
        Value::Str(format!("{server}\\{}", rec.thumbprint)),
    )
    .with("Server", Value::str(server))
    .with("Thumbprint", Value::str(&rec.thumbprint))
    .with("Services", Value::Str(services_names(&rec.services)))
    .with(
        "ServicesStringForm",
        Value::str(certs::services_string(&rec.services)),
    );
    let o = match &view {
        RecordView::Certificate {
            info, validation, ..
        } => o
            .with("Subject", Value::str(&info.subject))
            .with("Issuer", Value::str(&info.issuer))
            .with(
                "CertificateDomains",
                Value::list(info.certificate_domains()),
            )
            .with("HasPrivateKey", Value::Bool(rec.key_id.is_some()))
            .with("IsSelfSigned", Value::Bool(info.is_self_signed))
            .with("NotAfter", Value::Date(info.not_after))
            .with("NotBefore", Value::Date(info.not_before))
            .with("PublicKeySize", Value::Int(i64::from(info.public_key_size)))
            .with("RootCAType", Value::str(validation.root_ca_type.as_str()))
            .with("SerialNumber", Value::str(&info.serial_number))
            .with("Status", Value::str(validation.status.as_str()))
            .with("KeyAlgorithm", Value::str(&info.key_algorithm))
            .with(
                "DaysUntilExpiration",
                Value::Int(certs::days_until_expiration(info.not_after, now)),
            )
            .with(
                "EnhancedKeyUsageList",
                Value::list(info.extended_key_usage.clone().unwrap_or_default()),
            )
            .with(
                "DomainSecurityClientAuth",
                Value::Bool(info.domain_security_client_auth().is_ok()),
            ),
        RecordView::Pending { request } => {
            let mut domains = request.dns_names.clone();
            if let Some(cn) = &request.subject_cn
                && !domains.iter().any(|d| d.eq_ignore_ascii_case(cn))
            {
                domains.push(cn.clone());
            }
            o.with("Subject", Value::str(&request.subject))
                .with("Issuer", Value::Null)
                .with("CertificateDomains", Value::list(domains))
                .with("HasPrivateKey", Value::Bool(rec.key_id.is_some()))
                .with("IsSelfSigned", Value::Bool(false))
                .with("NotAfter", Value::Null)
                .with("NotBefore", Value::Null)
                .with(
                    "PublicKeySize",
                    Value::Int(i64::from(request.public_key_size)),
                )
                .with("RootCAType", Value::Null)
                .with("SerialNumber", Value::Null)
                .with("Status", Value::str(view.status().as_str()))
                .with("KeyAlgorithm", Value::str(&request.key_algorithm))
                .with("DaysUntilExpiration", Value::Null)
                .with("EnhancedKeyUsageList", Value::list(Vec::<String>::new()))
                .with("DomainSecurityClientAuth", Value::Null)
        }
    };
    Ok(
        o.with("FriendlyName", Value::opt_str(rec.friendly_name.as_ref()))
            .with(
                "PrivateKeyExportable",
                Value::Bool(rec.private_key_exportable),
            )
            .with("IsDefaultSmtpCertificate", Value::Bool(rec.default_smtp)),
    )
}

/// Services as Exchange's flags enum prints them: `IMAP, POP, IIS, SMTP`
/// (in `IPUWSFC` order), `None` when there are none.
pub fn services_names(services: &[String]) -> String {
    let names = certs::normalize_services(services);
    if names.is_empty() {
        "None".to_string()
    } else {
        names.join(", ")
    }
}

/// [`cert_object`] for the record with this thumbprint in `cfg`.
pub fn object_for(cfg: &OrgConfig, tp: &str) -> Result<Object, CmdletError> {
    let i = find_record(cfg, tp)?;
    cert_object(
        cfg.owner(cfg.certificates[i].server.as_deref()),
        &cfg.certificates[i],
        &certs::trusted_root_ders(cfg),
        OffsetDateTime::now_utc(),
    )
}

/// FriendlyName: fewer than 64 characters, no control characters.
pub fn friendly_name(given: Option<String>) -> Result<Option<String>, CmdletError> {
    match given {
        None => Ok(None),
        Some(n) if n.chars().count() >= 64 => Err(CmdletError::bad_value(
            "FriendlyName",
            "must be shorter than 64 characters",
        )),
        Some(n) if n.chars().any(char::is_control) => Err(CmdletError::bad_value(
            "FriendlyName",
            "cannot contain control characters",
        )),
        Some(n) => Ok(Some(n)),
    }
}

/// The type of binary output (Exchange's BinaryFileDataObject): a DER
/// request or certificate, or a PFX, in its `FileData` bytes, as
/// `[System.IO.File]::WriteAllBytes(path, $out.FileData)` expects.
pub const FILE_DATA: &str = "Microsoft.Exchange.Data.BinaryFileDataObject";

/// Binary output as Exchange 2013 and later give it: an object whose
/// `FileData` holds the bytes (a list of 0-255, as `[byte[]]` is held),
/// shown cut to its first items as PowerShell shows a byte array.
pub fn file_data(bytes: &[u8]) -> Value {
    Value::Object(Object::new(FILE_DATA, View::List).with(
        "FileData",
        Value::List(bytes.iter().map(|b| Value::Int(i64::from(*b))).collect()),
    ))
}

/// The thumbprint of tests/data/examples/orga.pfx, the sample certificate the
/// documented examples import (examples run in a folder holding those files).
pub const EXAMPLE_THUMBPRINT: &str = "4F7B2F9AC8244F2042F6DBC515931CE7E295A961";
