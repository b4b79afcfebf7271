//! Test-DomainSecurity.

use std::time::Duration;

use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::queue::site;
use crate::value::{Object, Value, View};
use xshell_core::control::{self, Answer, ClientError, Op};

/// The probe resolves, connects and handshakes with bounded steps (10 s
/// connect, 30 s per reply, possibly twice); leave room for that.
const TIMEOUT: Duration = Duration::from_secs(120);

params!(p {
    Domain: String = param(Kind::Str, "The partner domain, e.g. partner.example.")
        .position(0)
        .mandatory(),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Test-DomainSecurity",
    aliases: &[],
    synopsis: "Check, without sending mail, whether mail to a partner domain would go out Domain Secured.",
    description: "Asks the running xshell-transport to route the domain like a message and report each step: the \
send connector chosen (name, address space), the TLS policy and why (is the domain in TLSSendDomainSecureList, does \
the connector have DomainSecureEnabled), the next hops (MX or smart hosts, with addresses), then for the first \
reachable host: banner and EHLO, whether STARTTLS is offered, and a TLS handshake under Domain Security rules (our \
SMTP certificate presented as the client certificate, the server's chain validated against our trusted roots, its \
names matched against the domain): TLS version, cipher, server certificate subject, issuer and thumbprint. The \
session ends with QUIT; no MAIL command and no message is ever sent. DomainSecured is true only when all of it \
holds; otherwise Reason says why and Fix what to change. Like the other Test- cmdlets it reports a failed check \
in its output and succeeds (exit code 0); it fails (exit code 1) only when it cannot run, e.g. when \
xshell-transport is not running. Needs a running xshell-transport: the probe uses the engine's compiled \
configuration, resolver and client certificate. -WhatIf shows the probe without connecting anywhere.",
    params: p::LIST,
    sets: &[],
    impact: Impact::Medium,
    outputs: "One DomainSecurityResult object (list view).",
    examples: &[Example {
        title: "Show what probing a partner would do (nothing is contacted)",
        code: "Test-DomainSecurity -Domain partner.example -WhatIf",
        setup: &[],
        expect: &[],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let domain = b.get(p::Domain).unwrap_or_default();
    let domain = domain.trim().trim_end_matches('.').to_string();
    if domain.is_empty() || domain.contains('@') || domain.contains(char::is_whitespace) {
        return Err(CmdletError::bad_value(
            "Domain",
            format!("'{domain}' is not a domain name"),
        ));
    }
    let site = site(ctx)?;
    let action = "Probe Domain Security (EHLO, STARTTLS, handshake, QUIT; no message)";
    if ctx.what_if {
        ctx.host.info(&format!(
            "What if: Performing the operation \"{action}\" on target \"{domain}\"."
        ));
        return Ok(Vec::new());
    }
    if !ctx.should_process(action, &domain)? {
        return Ok(Vec::new());
    }
    let report = match control::call(
        &site.socket,
        Op::ProbeDomain {
            domain: domain.clone(),
        },
        TIMEOUT,
    ) {
        Ok(Answer::DomainSecurity(r)) => r,
        Ok(other) => {
            return Err(CmdletError::Failed(format!(
                "unexpected answer from xshell-transport: {other:?}"
            )));
        }
        Err(ClientError::NotRunning { .. }) => {
            return Err(CmdletError::Failed(format!(
                "xshell-transport is not running (nothing answers on {}): Test-DomainSecurity needs the engine. \
                 Start xshell-transport and try again",
                site.socket.display()
            )));
        }
        Err(e) => return Err(CmdletError::Failed(e.to_string())),
    };
    Ok(vec![Value::Object(Object::from_serde(
        "DomainSecurityResult",
        View::List,
        None,
        report.as_ref(),
    ))])
}
