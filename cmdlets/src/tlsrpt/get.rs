//! Get-TlsReport.

use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::{Object, Value, View};
use xshell_core::control::{self, Answer, ClientError, Op};
use xshell_core::tlsrpt;

params!(p {
    Domain: String = param(
        Kind::Str,
        "Only the report for this policy domain (a recipient domain mail was sent to)."
    )
    .position(0),
    Date: String = param(
        Kind::Str,
        "The UTC day, YYYY-MM-DD; default today (the report so far)."
    ),
    Json: bool = param(
        Kind::Switch,
        "Write the reports' JSON (RFC 8460 4.4) exactly as it would be sent, one string per domain, instead of the summary."
    ),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Get-TlsReport",
    aliases: &[],
    synopsis: "Show the SMTP TLS reports (RFC 8460) the engine would send for a day.",
    description: "xshell extension. xshell-transport records the outcome of every outbound TLS session to a \
recipient domain's MX hosts (policy type sts, tlsa or no-policy-found; success, or the RFC 8460 result type of the \
failure: starttls-not-supported, certificate-host-mismatch, certificate-expired, certificate-not-trusted, \
validation-failure, and the DANE and MTA-STS policy failures) per UTC day. Get-TlsReport shows, per policy \
domain, the aggregate report made from that record: the session counts, the failures, the report id, where it was \
already sent, and in the Json property the RFC 8460 4.4 report itself. A day not over yet shows the report so far. \
Reports are sent once a day after the UTC day ends, to the rua addresses of the domain's _smtp._tls TXT record, when \
Set-TransportConfig -TlsRptReportingAddress is set; Send-TlsReport sends a day's reports now. Reads the \
running xshell-transport's record; with the engine stopped the record is read from its state folder (a warning says so).",
    params: p::LIST,
    sets: &[],
    impact: Impact::None,
    outputs: "TlsReport objects (Domain, Date, SuccessfulSessions, FailedSessions, Failures, ...); with -Json, strings.",
    examples: &[Example {
        title: "Yesterday's report for one partner, as JSON",
        code: "Get-TlsReport -Domain fabrikam.com -Date 2026-12-06 -Json",
        setup: &[],
        expect: &[],
    }],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let domain = super::check_domain(b.get(p::Domain))?;
    let date = super::check_date(b.get(p::Date))?;
    let site = crate::queue::site(ctx, None)?;
    let op = Op::GetTlsReport {
        domain: domain.clone(),
        date: date.clone(),
    };
    let reports = match control::call(&site.socket, op, super::TIMEOUT) {
        Ok(Answer::TlsReports(r)) => r,
        Ok(other) => {
            return Err(CmdletError::Failed(format!(
                "unexpected answer from xshell-transport: {other:?}"
            )));
        }
        Err(ClientError::NotRunning { .. }) => {
            // The record is in the engine's state folder, beside its socket.
            let state = site.socket.parent().unwrap_or(std::path::Path::new("."));
            let dir = tlsrpt::dir(state);
            ctx.warn(&format!(
                "xshell-transport is not running: read from {}",
                dir.display()
            ));
            let now = time::OffsetDateTime::now_utc();
            let day = match &date {
                Some(d) => tlsrpt::parse_day(d).ok_or_else(|| {
                    CmdletError::bad_value("Date", format!("'{d}' is not a UTC day"))
                })?,
                None => now.date(),
            };
            let svc = &site.cfg.transport_service;
            let fqdn = svc.effective_fqdn();
            let meta = tlsrpt::meta_of(&site.cfg, &fqdn);
            let sent = tlsrpt::read_sent(&dir, day);
            tlsrpt::reports_in(&dir, day, domain.as_deref(), meta, &fqdn, now)
                .map_err(|e| CmdletError::Failed(format!("cannot read {}: {e}", dir.display())))?
                .iter()
                .map(|r| tlsrpt::info(r, &sent))
                .collect()
        }
        Err(e) => return Err(CmdletError::Failed(e.to_string())),
    };
    // RFC 8460 5.3: say when mailed reports would go unsigned.
    if let Ok(cfg) = ctx.store.snapshot()
        && cfg.transport_config.tls_rpt_reporting_address.is_some()
        && let Err(why) = tlsrpt::signing_key(&cfg, ctx.store.backend())
    {
        ctx.warn(&why);
    }
    if reports.is_empty()
        && let Some(d) = &domain
    {
        ctx.warn(&format!("no TLS session to {d} was recorded that day"));
    }
    if b.switch(p::Json) {
        return Ok(reports.into_iter().map(|r| Value::Str(r.json)).collect());
    }
    Ok(reports
        .iter()
        .map(|r| {
            Value::Object(Object::from_serde(
                "TlsReport",
                View::Table(&[
                    "Domain",
                    "Date",
                    "PolicyTypes",
                    "SuccessfulSessions",
                    "FailedSessions",
                    "SentTo",
                ]),
                None,
                r,
            ))
        })
        .collect())
}
