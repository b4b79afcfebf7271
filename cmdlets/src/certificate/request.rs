//! Request-ExchangeCertificate (CLI: request-cert): New-ExchangeCertificate
//! -GenerateRequest under a name that cannot make a self-signed certificate
//! by accident.

use super::new::create;
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::Value;

params!(
    p + super::new::shared {
        Server: String = param(
            Kind::Str,
            "The server: only this one (Get-TransportService Name or Fqdn); accepted for Exchange compatibility."
        ),
        GenerateRequest: bool = param(Kind::Switch, "Accepted for compatibility; always implied."),
        BinaryEncoded: bool = param(
            Kind::Switch,
            "Write the request as DER instead of base64 PEM."
        ),
        RequestFile: String = param(
            Kind::Path,
            "Where to write the request; printed when not given."
        )
        .aliases(&["Path"]),
    }
);

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Request-ExchangeCertificate",
    aliases: &["request-cert"],
    synopsis: "Create a key and a certificate request (New-ExchangeCertificate -GenerateRequest).",
    description: "Exactly New-ExchangeCertificate -GenerateRequest, with the same parameters: writes a base64 PKCS#10 \
request (DER with -BinaryEncoded) to -RequestFile/-Path, or prints it; the key stays in the store and the \
certificate shows Status PendingRequest until Import-ExchangeCertificate imports the issued certificate. \
-GenerateRequest is accepted and implied, so `xshell request-cert --subject-name ... --domain-name ... --path \
orga.req` always produces a request, never a self-signed certificate.",
    params: p::LIST,
    sets: &[],
    impact: Impact::Medium,
    outputs: "The request: its base64 PEM text (also written to -RequestFile when given), or with -BinaryEncoded an object whose FileData holds the DER bytes.",
    examples: &[Example {
        title: "Request a certificate for the SMTP service (walkthrough step 2, CLI form)",
        code: "Request-ExchangeCertificate -SubjectName \"C=DE,O=OrgA,CN=mail.orga.example\" -DomainName mail.orga.example,orga.example -Path orga.req",
        setup: &[],
        expect: &["-----BEGIN CERTIFICATE REQUEST-----"],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    create(ctx, b, true)
}
