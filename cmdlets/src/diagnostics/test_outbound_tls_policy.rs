//! Test-OutboundTlsPolicy.

use std::time::Duration;

use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::queue::site;
use crate::value::{Object, Value, View};
use xshell_core::control::{self, Answer, ClientError, Op};

/// Resolving, then with -Connect a probe with bounded steps (10 s connect,
/// 30 s per reply); leave room for that.
const TIMEOUT: Duration = Duration::from_secs(120);

params!(p {
    Domain: String = param(Kind::Str, "The recipient domain, e.g. orgc.example.")
        .position(0)
        .mandatory(),
    Connect: bool = param(
        Kind::Switch,
        "Also probe the first reachable next hop under the policy: EHLO, STARTTLS and handshake, QUIT (no message is sent)."
    ),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Test-OutboundTlsPolicy",
    aliases: &[],
    synopsis: "Show which TLS policy mail to a domain would get, and why, before any mail is sent.",
    description: "Asks the running xshell-transport to route the domain like a message and make the TLS policy \
decision a delivery would make, with the same configuration: the route (SendConnector, AddressSpace, RouteType MX \
or SmartHost, NextHops with their addresses), then Rules, each rule in the order of precedence (Domain Security, \
DANE, MTA-STS, RequireTLS/TlsAuthLevel, Opportunistic) with Applies and Detail (why it applies or not), then the \
result: TlsPolicy (DomainSecure, DANE, MTA-STS enforce, MTA-STS testing, RequireTLS, Opportunistic, None), \
VerifiesPeer, Reason (what mail gets), and TlsPolicyReason: why mail would go without verified TLS or be held, the \
line the tracking log (tls_policy_reason) and Get-Message (TlsPolicyReason) would show. -Connect also probes the \
first reachable next hop under that policy: Host, StarttlsOffered, TlsVersion, Cipher, the certificate presented \
(ServerSubject, ServerIssuer), CertificateVerified (under the policy; empty when the policy does not verify \
certificates), and Probe, one line of what happened; the session ends with QUIT and no MAIL command is sent. Exits \
0 when the decision could be made (even when mail would be held: read TlsPolicyReason), and fails (exit code 1, \
the result still written) when no send connector covers the domain, or when it cannot run (xshell-transport not \
running). -WhatIf shows what would be asked without asking the engine.",
    params: p::LIST,
    sets: &[],
    // Medium, as Test-DomainSecurity: -Connect contacts a remote host, and
    // -WhatIf shows what would be asked without asking the engine.
    impact: Impact::Medium,
    outputs: "One OutboundTlsPolicyResult object (list view).",
    examples: &[Example {
        title: "Show what deciding and probing a domain would do (nothing is contacted)",
        code: "Test-OutboundTlsPolicy -Domain orgc.example -Connect -WhatIf",
        setup: &[],
        expect: &[],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let domain = super::domain_param(b.get(p::Domain))?;
    let site = site(ctx, None)?;
    let action = if b.switch(p::Connect) {
        "Decide the outbound TLS policy and probe the first next hop (EHLO, STARTTLS, handshake, QUIT; no message)"
    } else {
        "Decide the outbound TLS policy (route and DNS lookups; nothing is contacted)"
    };
    if ctx.what_if {
        ctx.host.info(&format!(
            "What if: Performing the operation \"{action}\" on target \"{domain}\"."
        ));
        return Ok(Vec::new());
    }
    if !ctx.should_process(action, &domain)? {
        return Ok(Vec::new());
    }
    let op = Op::OutboundTlsPolicy {
        domain: domain.clone(),
        connect: b.switch(p::Connect),
    };
    let report = match control::call(&site.socket, op, TIMEOUT) {
        Ok(Answer::OutboundTlsPolicy(r)) => r,
        Ok(other) => {
            return Err(CmdletError::Failed(format!(
                "unexpected answer from xshell-transport: {other:?}"
            )));
        }
        Err(ClientError::NotRunning { .. }) => {
            return Err(CmdletError::Failed(format!(
                "xshell-transport is not running (nothing answers on {}): Test-OutboundTlsPolicy needs the engine. \
                 Start xshell-transport and try again",
                site.socket.display()
            )));
        }
        Err(e) => return Err(CmdletError::Failed(e.to_string())),
    };
    let out = vec![Value::Object(Object::from_serde(
        "OutboundTlsPolicyResult",
        View::List,
        None,
        report.as_ref(),
    ))];
    if !report.routed {
        return Err(CmdletError::Verdict {
            message: format!(
                "no TLS policy for {domain}: {} (New-SendConnector -AddressSpaces {domain}, or '*')",
                report.reason
            ),
            output: out,
        });
    }
    Ok(out)
}
