//! Invoke-LabCASign (CLI: ca-sign): the lab CA signs a request. NOT for production.

use super::lab_ca_new::{CA_CERT, CA_KEY};
use super::{failed, read_file, write_file};
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::{Object, Value, View};
use std::path::Path;
use xshell_core::pki::ca::{LabCa, LeafUsage};
use xshell_core::pki::cert::parse_certificate;
use xshell_core::pki::import::import_bytes;
use xshell_core::pki::keys::PrivateKey;
use zeroize::Zeroizing;

params!(p {
    CA: String = param(Kind::Path, "The lab CA folder (ca.pem, ca.key).").mandatory(),
    RequestFile: String = param(Kind::Path, "The certificate request to sign.").mandatory(),
    Path: String = param(
        Kind::Path,
        "Where to write the certificate (PEM); printed when not given."
    ),
    ValidityDays: u32 = param(
        Kind::Int { min: 1, max: 36500 },
        "How long the certificate is valid."
    )
    .default("365"),
    ServerAuthOnly: bool = param(
        Kind::Switch,
        "Issue with extended key usage serverAuth only, as public CAs do from 2026: the certificate cannot be a Domain Security client certificate (for testing that case)."
    ),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Invoke-LabCASign",
    aliases: &["ca-sign"],
    synopsis: "Sign a certificate request with a lab CA (NOT for production).",
    description: "Signs the PKCS#10 request in -RequestFile (PEM or DER) with the lab CA in the folder -CA (made by \
New-LabCA), after checking the request's signature: the certificate gets the request's subject and DNS names, \
extendedKeyUsage serverAuth and clientAuth (serverAuth only with -ServerAuthOnly, the kind of certificate public CAs \
issue from 2026, which cannot serve as a Domain Security client certificate), and -ValidityDays (cut to the CA's \
own expiry). It is written as PEM \
to -Path, or printed. NOT for production (see New-LabCA). (`xshell ca-sign` stands for the `xshell ca sign` of \
the issue.)",
    params: p::LIST,
    sets: &[],
    impact: Impact::None,
    outputs: "The issued certificate (IssuedCertificate object); without -Path, its PEM text.",
    examples: &[Example {
        title: "Issue the certificate for organization A's request (walkthrough step 3)",
        code: "Invoke-LabCASign -CA labca -RequestFile orga.req -Path orga.cer",
        setup: &[
            "New-LabCA -Name \"OrgA Lab CA\" -Path labca",
            "New-ExchangeCertificate -GenerateRequest -SubjectName \"C=DE,O=OrgA,CN=mail.orga.example\" -DomainName orga.example -Path orga.req",
        ],
        expect: &["CN=mail.orga.example, O=OrgA, C=DE"],
    }],
    run,
};

fn run(_ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let dir = b.get(p::CA).unwrap_or_default();
    let req_path = b.get(p::RequestFile).unwrap_or_default();
    let days = b.get(p::ValidityDays).unwrap_or(365);
    let dir = Path::new(&dir);
    let cert_pem = read_file("CA", &dir.join(CA_CERT).display().to_string())?;
    let key_pem = Zeroizing::new(read_file("CA", &dir.join(CA_KEY).display().to_string())?);
    let cert_pem = String::from_utf8(cert_pem)
        .map_err(|_| CmdletError::bad_value("CA", format!("{CA_CERT} is not PEM text")))?;
    let key_text = std::str::from_utf8(&key_pem)
        .map_err(|_| CmdletError::bad_value("CA", format!("{CA_KEY} is not PEM text")))?;
    let key =
        PrivateKey::from_pem(key_text).map_err(|e| CmdletError::bad_value("CA", e.to_string()))?;
    let ca = LabCa::from_parts(&cert_pem, key)
        .map_err(|e| CmdletError::bad_value("CA", e.to_string()))?;
    let req = read_file("RequestFile", &req_path)?;
    let usage = if b.switch(p::ServerAuthOnly) {
        LeafUsage::ServerOnly
    } else {
        LeafUsage::ServerAndClient
    };
    let pem = ca
        .sign_csr_usage(&req, days, usage)
        .map_err(|e| CmdletError::bad_value("RequestFile", e.to_string()))?;
    let der = import_bytes(pem.as_bytes(), None).map_err(failed)?.leaf;
    let info = parse_certificate(&der).map_err(failed)?;
    let obj = Object::new(
        "IssuedCertificate",
        View::Table(&["Thumbprint", "NotAfter", "Subject"]),
    )
    .with("Thumbprint", Value::str(&info.thumbprint))
    .with("Subject", Value::str(&info.subject))
    .with("Issuer", Value::str(&info.issuer))
    .with(
        "CertificateDomains",
        Value::list(info.certificate_domains()),
    )
    .with("NotAfter", Value::Date(info.not_after));
    match b.get(p::Path) {
        Some(p) => {
            write_file("Path", &p, pem.as_bytes(), false)?;
            Ok(vec![Value::Object(obj)])
        }
        None => Ok(vec![Value::Str(pem)]),
    }
}
