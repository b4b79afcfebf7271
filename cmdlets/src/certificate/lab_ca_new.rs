//! New-LabCA (CLI: ca-new): a throw-away CA for labs and CI. NOT for production.

use super::failed;
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::{Object, Value, View};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use xshell_core::pki::ca::LabCa;
use xshell_core::pki::cert::parse_certificate;

/// File names in a lab CA folder.
pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca.key";

params!(p {
    Name: String = param(Kind::Str, "The CA's common name.").mandatory(),
    Path: String = param(Kind::Path, "The folder for ca.pem and ca.key.").mandatory(),
    ValidityDays: u32 = param(
        Kind::Int { min: 1, max: 36500 },
        "How long the CA certificate is valid."
    )
    .default("3650"),
    Force: bool = param(Kind::Switch, "Replace an existing CA in the folder."),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "New-LabCA",
    aliases: &["ca-new"],
    synopsis: "Create a lab certificate authority for demos and CI (NOT for production).",
    description: "Creates a root CA (RSA 2048) named -Name and writes its certificate to <Path>/ca.pem and its key, \
unencrypted, to <Path>/ca.key (mode 0600); the folder is created (mode 0700) if needed, and existing files are \
not replaced without -Force. With Invoke-LabCASign it lets the two-organization lab and CI issue CA-signed \
certificates without an external tool. NOT for production: no revocation, no policy, no audit, a key on disk. \
Real deployments send requests to a real CA. (`xshell ca-new` stands for the `xshell ca new` of the issue.)",
    params: p::LIST,
    sets: &[],
    impact: Impact::None,
    outputs: "The CA certificate (LabCA object).",
    examples: &[Example {
        title: "A lab CA for organization A",
        code: "New-LabCA -Name \"OrgA Lab CA\" -Path labca",
        setup: &[],
        expect: &["CN=OrgA Lab CA"],
    }],
    run,
};

fn io(path: &Path) -> impl Fn(std::io::Error) -> CmdletError + '_ {
    move |e| CmdletError::bad_value("Path", format!("cannot write {}: {e}", path.display()))
}

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let name = b.get(p::Name).unwrap_or_default();
    let dir = b.get(p::Path).unwrap_or_default();
    let days = b.get(p::ValidityDays).unwrap_or(3650);
    let dir = Path::new(&dir);
    let (cert_path, key_path) = (dir.join(CA_CERT), dir.join(CA_KEY));
    if !ctx.force && (cert_path.exists() || key_path.exists()) {
        return Err(CmdletError::Conflict(format!(
            "{} already holds a CA ({CA_CERT}/{CA_KEY}); pass -Force to replace it",
            dir.display()
        )));
    }
    let ca =
        LabCa::create(&name, days).map_err(|e| CmdletError::bad_value("Name", e.to_string()))?;
    if !dir.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
    }
    // The key first, created 0600 from the start.
    let _ = std::fs::remove_file(&key_path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key_path)
        .map_err(io(&key_path))?;
    f.write_all(ca.key.to_pem().as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io(&key_path))?;
    std::fs::write(&cert_path, ca.cert_pem.as_bytes()).map_err(io(&cert_path))?;
    let info = parse_certificate(&ca.cert_der().map_err(failed)?).map_err(failed)?;
    ctx.host.info(&format!(
        "Lab CA written to {} (NOT for production: the key is an unencrypted file).",
        dir.display()
    ));
    Ok(vec![Value::Object(
        Object::new("LabCA", View::Table(&["Thumbprint", "NotAfter", "Subject"]))
            .with("Thumbprint", Value::str(&info.thumbprint))
            .with("Subject", Value::str(&info.subject))
            .with("NotAfter", Value::Date(info.not_after))
            .with("Certificate", Value::str(cert_path.display().to_string()))
            .with("Key", Value::str(key_path.display().to_string())),
    )])
}
