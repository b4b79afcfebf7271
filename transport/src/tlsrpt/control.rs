//! The control socket's TLS report requests: Get-TlsReport and
//! Send-TlsReport (see [`xshell_core::control::Op`]).

use time::{Date, OffsetDateTime};
use xshell_core::control::{Answer, ErrorKind};

use super::log::{day_name, parse_day};
use crate::control::ControlContext;

type Failure = (ErrorKind, String);

fn day_arg(date: Option<String>, default: Date) -> Result<Date, Failure> {
    match date.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => parse_day(s).ok_or_else(|| {
            (
                ErrorKind::BadRequest,
                format!("-Date '{s}' is not a UTC day (YYYY-MM-DD)"),
            )
        }),
    }
}

fn domain_arg(domain: Option<String>) -> Result<Option<String>, Failure> {
    match domain.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(d) if d.contains('@') || d.contains(char::is_whitespace) => Err((
            ErrorKind::BadRequest,
            format!("-Domain '{d}' is not a domain name"),
        )),
        Some(d) => Ok(Some(d.trim_end_matches('.').to_ascii_lowercase())),
    }
}

/// Get-TlsReport: the day's reports as they would be sent (default today).
pub fn get(
    ctx: &ControlContext,
    domain: Option<String>,
    date: Option<String>,
) -> Result<Answer, Failure> {
    let day = day_arg(date, OffsetDateTime::now_utc().date())?;
    let domain = domain_arg(domain)?;
    let reports = ctx
        .tlsrpt
        .reports(day, domain.as_deref())
        .map_err(|e| (ErrorKind::Failed, e.to_string()))?;
    let sent = ctx.tlsrpt.log.sent(day);
    Ok(Answer::TlsReports(
        reports
            .iter()
            .map(|r| xshell_core::tlsrpt::info(r, &sent))
            .collect(),
    ))
}

/// Send-TlsReport: sends the day's reports now (default yesterday). Fails
/// (saying which) when any report could not be sent, or when there was
/// nothing to send.
pub fn send(
    ctx: &ControlContext,
    domain: Option<String>,
    date: Option<String>,
) -> Result<Answer, Failure> {
    let yesterday = OffsetDateTime::now_utc().date().previous_day();
    let day = day_arg(date, yesterday.unwrap_or(Date::MIN))?;
    let domain = domain_arg(domain)?;
    let handle =
        tokio::runtime::Handle::try_current().map_err(|e| (ErrorKind::Failed, e.to_string()))?;
    let summary = handle
        .block_on(ctx.tlsrpt.send_day(day, domain.as_deref()))
        .map_err(|e| match e {
            super::send::ReportError::NotConfigured => (ErrorKind::Refused, e.to_string()),
            e => (ErrorKind::Failed, e.to_string()),
        })?;
    let mut lines = Vec::new();
    lines.extend(summary.sent.iter().map(|s| format!("sent: {s}")));
    lines.extend(summary.already.iter().map(|s| format!("already sent: {s}")));
    lines.extend(summary.skipped.iter().map(|s| format!("not reported: {s}")));
    lines.extend(summary.failed.iter().map(|s| format!("FAILED: {s}")));
    if let Some(why) = &summary.unsigned {
        lines.push(format!("WARNING: {why}"));
    }
    if !summary.failed.is_empty() {
        return Err((ErrorKind::Failed, lines.join("; ")));
    }
    if lines.is_empty() {
        return Err((
            ErrorKind::NotFound,
            format!(
                "no TLS sessions were recorded on {}{}",
                day_name(day),
                domain.map(|d| format!(" for {d}")).unwrap_or_default()
            ),
        ));
    }
    Ok(Answer::Done {
        affected: summary.sent.len() as u32,
        message: lines.join("; "),
    })
}
