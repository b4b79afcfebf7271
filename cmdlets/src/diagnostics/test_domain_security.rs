//! Test-DomainSecurity.

use std::time::Duration;

use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::queue::site;
use crate::value::{Object, Value, View};
use xshell_core::control::{self, Answer, ClientError, Op, StepResult};

/// The probe resolves, connects and handshakes with bounded steps (10 s
/// connect, 30 s per reply, possibly twice); leave room for that.
const TIMEOUT: Duration = Duration::from_secs(120);

params!(p {
    Domain: String = param(Kind::Str, "The partner domain, e.g. partner.example.")
        .position(0)
        .mandatory(),
    WarningAsFailure: bool = param(
        Kind::Switch,
        "xshell extension: a Warning verdict (e.g. a certificate expiring within CertificateExpiryWarningDays) fails the command too."
    ),
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
session ends with QUIT; no MAIL command and no message is ever sent. Our certificate is checked too: it must \
be usable as a Domain Security client certificate (extended key usage absent or with Client Authentication, key \
usage absent or with Digital Signature; public CAs stop issuing such server certificates during 2026) and not \
expired; within CertificateExpiryWarningDays (Set-TransportService, default 30) of its NotAfter it is a warning, \
and so is the partner's certificate. DomainSecured is true only when all of it holds; otherwise Reason says why \
and Fix what to change. Steps lists every step (Name, Result Pass/Warning/Fail, Detail) and Verdict sums them up: \
Fail when DomainSecured is false, Warning when a step warns, else Pass. A Fail verdict makes the command fail \
after writing its result (exit code 1; in the shell language a non-terminating error, so `$?` is false and a \
script exits non-zero), so CI can gate on it; warnings alone do not fail unless -WarningAsFailure is given. It \
also fails when it cannot run, e.g. when xshell-transport is not running. Needs a running xshell-transport: the probe uses the engine's compiled \
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
    let domain = super::domain_param(b.get(p::Domain))?;
    let site = site(ctx, None)?;
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
    let verdict = report.verdict;
    let out = vec![Value::Object(Object::from_serde(
        "DomainSecurityResult",
        View::List,
        None,
        report.as_ref(),
    ))];
    let fails = verdict == StepResult::Fail
        || (verdict == StepResult::Warning && b.switch(p::WarningAsFailure));
    if fails {
        let failed: Vec<String> = report
            .steps
            .iter()
            .filter(|s| s.result != StepResult::Pass && s.name != "Verdict")
            .map(|s| format!("{} ({})", s.name, s.result.as_str()))
            .collect();
        return Err(CmdletError::Verdict {
            message: format!(
                "verdict {} for {domain}: {} [steps: {}]",
                verdict.as_str(),
                report.reason,
                failed.join(", ")
            ),
            output: out,
        });
    }
    Ok(out)
}
