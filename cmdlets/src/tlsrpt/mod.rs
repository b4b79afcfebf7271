//! SMTP TLS Reporting (RFC 8460): Get-TlsReport and Send-TlsReport. Both
//! ask the running xshell-transport over its control socket, which keeps
//! the record of outbound TLS sessions (`<state>/tlsrpt/`).

pub mod dkim;
pub mod get;
pub mod send;

use std::time::Duration;

use crate::context::Ctx;
use crate::error::CmdletError;
use crate::queue::site;
use xshell_core::control::{self, Answer, ClientError, Op};

/// Send-TlsReport looks up DNS and may POST to several servers (60 s each
/// at most); Get-TlsReport reads one day's file.
pub const TIMEOUT: Duration = Duration::from_secs(300);

/// -Date: `YYYY-MM-DD`, checked here so the error names the parameter.
pub fn check_date(date: Option<String>) -> Result<Option<String>, CmdletError> {
    let Some(d) = date.map(|d| d.trim().to_string()).filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(&d, &fmt).map_err(|_| {
        CmdletError::bad_value("Date", format!("'{d}' is not a UTC day (YYYY-MM-DD)"))
    })?;
    Ok(Some(d))
}

/// -Domain: a domain name.
pub fn check_domain(domain: Option<String>) -> Result<Option<String>, CmdletError> {
    let Some(d) = domain.map(|d| d.trim().trim_end_matches('.').to_string()) else {
        return Ok(None);
    };
    if d.is_empty() || d.contains('@') || d.contains(char::is_whitespace) {
        return Err(CmdletError::bad_value(
            "Domain",
            format!("'{d}' is not a domain name"),
        ));
    }
    Ok(Some(d))
}

/// Sends `op` to the engine; a stopped engine is an error saying what the
/// cmdlet needs.
pub fn call(ctx: &Ctx<'_>, cmdlet: &str, op: Op) -> Result<Answer, CmdletError> {
    let site = site(ctx, None)?;
    match control::call(&site.socket, op, TIMEOUT) {
        Ok(a) => Ok(a),
        Err(ClientError::NotRunning { .. }) => Err(CmdletError::Failed(format!(
            "xshell-transport is not running (nothing answers on {}): {cmdlet} needs the engine, \
             which keeps the record of TLS sessions. Start xshell-transport and try again",
            site.socket.display()
        ))),
        Err(e) => Err(CmdletError::Failed(e.to_string())),
    }
}
