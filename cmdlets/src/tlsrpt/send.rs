//! Send-TlsReport.

use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::Value;
use xshell_core::control::{Answer, Op};

params!(p {
    Date: String = param(
        Kind::Str,
        "The UTC day, YYYY-MM-DD; default yesterday. Today sends the report so far (and the whole day is still reported after midnight)."
    ),
    Domain: String = param(Kind::Str, "Only the report for this policy domain."),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Send-TlsReport",
    aliases: &[],
    synopsis: "Send a day's SMTP TLS reports (RFC 8460) now instead of waiting for the daily run.",
    description: "xshell extension. The engine sends each day's TLS reports by itself after the UTC day ends (checked \
hourly); Send-TlsReport makes it send them now: for each policy domain with recorded sessions it looks up \
_smtp._tls.<domain> TXT through ExternalDNSServers and sends the gzip-compressed JSON report to each rua: a mailto: \
address gets a multipart/report message from TlsRptReportingAddress, queued like any message; an https: URL gets a \
POST of application/tlsrpt+gzip, its certificate validated against the trusted roots of the store and the \
system. A report already sent for a day that is over is not sent again. It fails, saying why, when \
TlsRptReportingAddress is not set, when nothing was recorded that day, or when a report could not be sent; a domain \
without a TLSRPTv1 record is listed as not reported. Needs a running xshell-transport.",
    params: p::LIST,
    sets: &[],
    impact: Impact::Medium,
    outputs: "Nothing; what was sent is written as information.",
    examples: &[Example {
        title: "Show what sending yesterday's reports would do",
        code: "Send-TlsReport -WhatIf",
        setup: &[],
        expect: &[],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let date = super::check_date(b.get(p::Date))?;
    let domain = super::check_domain(b.get(p::Domain))?;
    let target = format!(
        "{}{}",
        date.as_deref().unwrap_or("yesterday (UTC)"),
        domain
            .as_deref()
            .map(|d| format!(", {d}"))
            .unwrap_or_default()
    );
    let action = "Send TLS reports";
    if ctx.what_if {
        ctx.host.info(&format!(
            "What if: Performing the operation \"{action}\" on target \"{target}\"."
        ));
        return Ok(Vec::new());
    }
    if !ctx.should_process(action, &target)? {
        return Ok(Vec::new());
    }
    match super::call(ctx, "Send-TlsReport", Op::SendTlsReport { domain, date })? {
        Answer::Done { message, .. } => {
            for line in message.split("; ") {
                match line.strip_prefix("WARNING: ") {
                    Some(w) => ctx.warn(w),
                    None => ctx.host.info(line),
                }
            }
            Ok(Vec::new())
        }
        other => Err(CmdletError::Failed(format!(
            "unexpected answer from xshell-transport: {other:?}"
        ))),
    }
}
