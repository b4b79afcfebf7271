//! New-ExchangeCertificate: a self-signed certificate, or a key and a PKCS#10
//! request (-GenerateRequest) for a CA to sign.

use super::{SERVICE_NAMES, bad, cert_object, commit_with_key, failed, friendly_name, write_file};
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::Value;
use time::OffsetDateTime;
use xshell_core::certificates::{self as certs, DEFAULT_SELF_SIGNED_SERVICES};
use xshell_core::model::CertificateRecord;
use xshell_core::pki::cert::thumbprint;
use xshell_core::pki::dn::SubjectName;
use xshell_core::pki::keys::{KeyAlgorithm, generate};
use xshell_core::pki::request::{create_request, san_names};
use xshell_core::pki::selfsigned::create_self_signed;

// The parameters New- and Request-ExchangeCertificate share, after each cmdlet's own.
params!(pub shared {
    SubjectName: String = param(Kind::Str, "X.500 name: [C=,S=,L=,O=,OU=,]CN=. The CN is also added to the DNS names. Default: CN=<first DomainName>."),
    DomainName: Vec<String> = param(Kind::List(&Kind::Str), "DNS names for the subject alternative name extension (mail.contoso.com, *.contoso.com)."),
    FriendlyName: String = param(Kind::Str, "A display name (fewer than 64 characters)."),
    KeySize: i64 = param(Kind::Int { min: 256, max: 16384 }, "RSA key size: 2048, 3072 or 4096 (1024 is refused as insecure).").default("2048"),
    KeyAlgorithm: String = param(Kind::Enum(&["RSA", "ECDSA-P256", "ECDSA-P384"]), "Key algorithm (xshell extra).").default("RSA"),
    PrivateKeyExportable: bool = param(Kind::Bool, "Allow Export-ExchangeCertificate to export the private key."),
    Force: bool = param(Kind::Switch, "Self-signed with SMTP: become the default SMTP certificate even if there is one."),
});

params!(p + shared {
    Server: String = param(Kind::Str, "The server: only this one (Get-TransportService Name or Fqdn); accepted for Exchange compatibility."),
    Instance: String = param(Kind::Thumbprint, "Renew this certificate: a new key and certificate (or request) with its subject, names, services and key type; other parameters override. Binds from a certificate piped in.")
        .aliases(&["Thumbprint"])
        .pipeline(Pipe::ByPropertyName),
    Services: Vec<String> = param(Kind::List(&Kind::Enum(SERVICE_NAMES)), "Services to enable the self-signed certificate for.")
        .sets(&["Certificate"])
        .default("IMAP,POP,SMTP"),
    GenerateRequest: bool = param(Kind::Switch, "Create a certificate request instead of a self-signed certificate.")
        .sets(&["Request"]),
    BinaryEncoded: bool = param(Kind::Switch, "Output (and write) the request as DER instead of base64 PEM: an object whose FileData holds the bytes.")
        .sets(&["Request"]),
    RequestFile: String = param(Kind::Path, "Also write the request to this file (it is output either way).")
        .aliases(&["Path"])
        .sets(&["Request"]),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "New-ExchangeCertificate",
    aliases: &[],
    synopsis: "Create a self-signed certificate, or a key and a certificate request for a CA.",
    description: "Without -GenerateRequest: creates a key and a self-signed certificate valid for 5 years, enabled for \
-Services (default IMAP, POP, SMTP: IP..S..); with SMTP and no default SMTP certificate yet, it becomes the \
default (with -Force it replaces the default). A self-signed SMTP certificate serves opportunistic TLS and Direct \
Trust, not partner mutual TLS. With -GenerateRequest (or -RequestFile/-Path or -BinaryEncoded, which belong to \
the request set): creates a key and a PKCS#10 request with extendedKeyUsage serverAuth and clientAuth, written \
as base64 PEM, output and also written to -RequestFile when given; with -BinaryEncoded as DER, output as an \
object whose FileData holds the bytes (`[System.IO.File]::WriteAllBytes('x.req', $r.FileData)`). The key stays in the \
store; the certificate shows Status PendingRequest (its thumbprint is the SHA-1 of the request) until \
Import-ExchangeCertificate imports the certificate the CA issued. Request-ExchangeCertificate (CLI: \
request-cert) is the same as -GenerateRequest. Without -SubjectName the CN is the first DomainName; without \
either, the certificate is for this server, CN=<its FQDN> (Set-TransportService -Fqdn). A certificate piped in \
(Get-ExchangeCertificate -Thumbprint X | New-ExchangeCertificate) is renewed: the new one keeps its subject, \
names, services and key type.",
    params: p::LIST,
    sets: &["Certificate", "Request"],
    impact: Impact::Medium,
    outputs: "The new ExchangeCertificate; with -GenerateRequest, the request: its PEM text, or with -BinaryEncoded an object whose FileData holds the DER bytes.",
    examples: &[
        Example {
            title: "A self-signed certificate for SMTP (opportunistic TLS, Direct Trust)",
            code: "New-ExchangeCertificate -SubjectName \"C=DE,O=OrgA,CN=mail.orga.example\" -DomainName orga.example -Services SMTP -KeyAlgorithm ECDSA-P256",
            setup: &[],
            expect: &["....S..", "CN=mail.orga.example, O=OrgA, C=DE"],
        },
        Example {
            title: "Request a certificate for the SMTP service (walkthrough step 2)",
            code: "New-ExchangeCertificate -GenerateRequest -SubjectName \"C=DE,O=OrgA,CN=mail.orga.example\" -DomainName mail.orga.example,orga.example -Path orga.req",
            setup: &[],
            expect: &["-----BEGIN CERTIFICATE REQUEST-----"],
        },
    ],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    create(ctx, b, b.set == Some("Request"))
}

/// New-ExchangeCertificate in either set (Request-ExchangeCertificate calls
/// it with `request` true).
pub(crate) fn create(
    ctx: &mut Ctx<'_>,
    b: &Bound,
    request: bool,
) -> Result<Vec<Value>, CmdletError> {
    // Bind and check everything before generating anything.
    let owner = super::new_owner(ctx, b.get(p::Server))?;
    let owner_name = {
        let cfg = ctx.store.snapshot()?;
        cfg.owner(owner.as_deref()).to_string()
    };
    let renewed = match b.get(p::Instance) {
        Some(tp) => Some(renewal(ctx, &tp)?),
        None => None,
    };
    let domains: Vec<String> = b
        .get(p::DomainName)
        .or_else(|| renewed.as_ref().map(|r| r.domains.clone()))
        .unwrap_or_default();
    let subject_text = b
        .get(p::SubjectName)
        .or_else(|| renewed.as_ref().map(|r| r.subject.clone()));
    let subject = match subject_text {
        Some(s) => SubjectName::parse(&s).map_err(|e| bad("SubjectName", e))?,
        None => match domains.first() {
            Some(first) => SubjectName::from_cn(first).map_err(|e| bad("DomainName", e))?,
            None => {
                // Exchange's default is the server: CN=<its FQDN> here (a
                // certificate name must be a DNS name; Exchange also uses
                // the NetBIOS name, which has no meaning for SMTP TLS).
                let service = ctx.store.snapshot()?.service_for(&owner_name);
                let name = service
                    .fqdn
                    .clone()
                    .or_else(|| service.name.contains('.').then(|| service.name.clone()))
                    .ok_or_else(|| {
                        CmdletError::Usage(format!(
                            "{}: give -SubjectName (CN=...) or -DomainName; without them the certificate is for this server's FQDN, and none is set (Set-TransportService -Fqdn mail.contoso.com)",
                            ctx.cmdlet
                        ))
                    })?;
                SubjectName::from_cn(&name).map_err(|e| bad("SubjectName", e))?
            }
        },
    };
    san_names(&subject, &domains).map_err(|e| bad("DomainName", e))?;
    let size = b
        .get(p::KeySize)
        .map(|s| u32::try_from(s).unwrap_or(0))
        .or_else(|| renewed.as_ref().and_then(|r| r.key_size));
    let alg_name = b
        .get(p::KeyAlgorithm)
        .or_else(|| renewed.as_ref().and_then(|r| r.key_algorithm.clone()));
    let alg =
        KeyAlgorithm::from_params(alg_name.as_deref(), size).map_err(|e| bad("KeySize", e))?;
    let friendly = friendly_name(
        b.get(p::FriendlyName)
            .or_else(|| renewed.as_ref().and_then(|r| r.friendly_name.clone())),
    )?;
    let exportable = b.switch(p::PrivateKeyExportable);
    let binary = b.switch(p::BinaryEncoded);
    let file = b.get(p::RequestFile);
    let services = match b.get(p::Services) {
        Some(s) if s.iter().any(|x| x == "None") && s.len() > 1 => {
            return Err(CmdletError::bad_value(
                "Services",
                "None cannot be combined with other services",
            ));
        }
        Some(s) => certs::normalize_services(&s),
        // A renewal keeps the services, none included.
        None => match renewed.as_ref() {
            Some(r) => r.services.clone(),
            None => certs::normalize_services(&DEFAULT_SELF_SIGNED_SERVICES),
        },
    };

    let key = generate(alg).map_err(failed)?;
    let key_id = certs::new_key_id(&key).map_err(failed)?;
    let key_pem = key.to_pem();
    let force = ctx.force;

    if request {
        let req = create_request(&subject, &domains, &key).map_err(failed)?;
        let tp = thumbprint(req.der());
        let rec = CertificateRecord {
            thumbprint: tp.clone(),
            certificate: None,
            chain: Vec::new(),
            request: Some(certs::b64_encode(req.der())),
            key_id: Some(key_id.clone()),
            services: Vec::new(),
            friendly_name: friendly,
            private_key_exportable: exportable,
            default_smtp: false,
            server: owner.clone(),
        };
        let pem = req.pem();
        let out_file = file.clone();
        let req_bytes: Vec<u8> = if binary {
            req.der().to_vec()
        } else {
            pem.clone().into_bytes()
        };
        let done = commit_with_key(
            ctx,
            "New certificate request",
            &subject.to_string(),
            Some((&key_id, key_pem.as_bytes())),
            || match &out_file {
                Some(path) => write_file("RequestFile", path, &req_bytes, false),
                None => Ok(()),
            },
            |cfg| {
                cfg.certificates.push(rec.clone());
                cert_object(&owner_name, &rec, &[], OffsetDateTime::now_utc())
            },
        )?;
        // As Exchange: the request is output whether or not it also went
        // to -RequestFile; text as base64 PEM, DER as a FileData object.
        return Ok(match done {
            None => Vec::new(),
            Some(_) => {
                ctx.host
                    .info(&format!("Pending request {tp}; the key is in the store."));
                if binary {
                    vec![super::file_data(req.der())]
                } else {
                    vec![Value::Str(pem)]
                }
            }
        });
    }

    let der = create_self_signed(&subject, &domains, &key).map_err(failed)?;
    let tp = thumbprint(&der);
    let smtp = services.iter().any(|s| s == "SMTP");
    let rec = CertificateRecord {
        thumbprint: tp,
        certificate: Some(certs::b64_encode(&der)),
        chain: Vec::new(),
        request: None,
        key_id: Some(key_id.clone()),
        services,
        friendly_name: friendly,
        private_key_exportable: exportable,
        default_smtp: false,
        server: owner.clone(),
    };
    let done = commit_with_key(
        ctx,
        "New self-signed certificate",
        &subject.to_string(),
        Some((&key_id, key_pem.as_bytes())),
        || Ok(()),
        |cfg| {
            let mut rec = rec.clone();
            // The default SMTP certificate is one per server.
            if smtp && (force || certs::default_smtp(&cfg.for_server(&owner_name)).is_none()) {
                let default = cfg.default_server().to_string();
                for c in &mut cfg.certificates {
                    if xshell_core::model::same_server(
                        c.server.as_deref().unwrap_or(&default),
                        &owner_name,
                    ) {
                        c.default_smtp = false;
                    }
                }
                rec.default_smtp = true;
            }
            cfg.certificates.push(rec.clone());
            cert_object(&owner_name, &rec, &[], OffsetDateTime::now_utc())
        },
    )?;
    Ok(done.map(Value::Object).into_iter().collect())
}

/// What a renewal keeps of the certificate it renews.
struct Renewal {
    subject: String,
    domains: Vec<String>,
    services: Vec<String>,
    key_size: Option<u32>,
    key_algorithm: Option<String>,
    friendly_name: Option<String>,
}

/// Reads the certificate to renew (`-Instance`, or one piped in).
fn renewal(ctx: &Ctx<'_>, thumbprint: &str) -> Result<Renewal, CmdletError> {
    let cfg = ctx.store.snapshot()?;
    let rec = &cfg.certificates[super::find_record(&cfg, thumbprint)?];
    let der = certs::certificate_der(rec)
        .map_err(failed)?
        .ok_or_else(|| {
            CmdletError::bad_value(
                "Instance",
                format!(
                    "{thumbprint} is a pending request, not a certificate: import the issued certificate, or remove the request"
                ),
            )
        })?;
    let info = xshell_core::pki::cert::parse_certificate(&der).map_err(failed)?;
    let rsa = info.key_algorithm == "RSA";
    // The subject as shown (`CN=.., O=.., C=..`) is the reverse of the
    // order SubjectName::parse reads (`C=..,O=..,CN=..`).
    let mut parts: Vec<&str> = info.subject.split(", ").collect();
    parts.reverse();
    let subject = parts.join(",");
    Ok(Renewal {
        subject,
        domains: info.dns_names,
        services: rec.services.clone(),
        key_size: rsa.then_some(info.public_key_size),
        key_algorithm: Some(info.key_algorithm)
            .filter(|a| ["RSA", "ECDSA-P256", "ECDSA-P384"].contains(&a.as_str())),
        friendly_name: rec.friendly_name.clone(),
    })
}
