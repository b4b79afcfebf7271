//! Test-SmtpConnectivity.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::probe::{ProbeStep, StepResult, probe};
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::named::{self, wildcard_match};
use crate::value::{Object, Value, View};
use xshell_core::certificates as certs;

params!(p {
    Identity: String = named::identity(
        "This server (as in Exchange: every enabled receive connector), or receive connectors to test (wildcards * and ? allowed); default all enabled.",
    ),
    TimeoutSeconds: i64 = param(
        Kind::Int { min: 1, max: 300 },
        "How long each step may take."
    )
    .default("10"),
    WarningAsFailure: bool = param(
        Kind::Switch,
        "xshell extension: a Warning verdict (the certificate expires within CertificateExpiryWarningDays) fails the command too."
    ),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Test-SmtpConnectivity",
    aliases: &[],
    synopsis: "Connect to every binding of every enabled receive connector and report what a client sees.",
    description: "For each binding of each enabled receive connector (or those matching Identity), connects \
(127.0.0.1 or ::1 for a wildcard binding), reads the banner, sends EHLO, and when STARTTLS is offered completes a \
TLS handshake to see the certificate the connector presents (subject, issuer, thumbprint, expiry), the TLS \
version and cipher. CertificateInStore tells whether that certificate is one of this organization's. Status is \
Success when the whole conversation worked and Failure otherwise, with the reason in Details. The certificate is \
reported, and judged only on its dates: CertificateDaysLeft is the whole days to its NotAfter. Steps lists each \
step (Name: Connect, Banner, EHLO, STARTTLS, TLS handshake, EHLO after TLS, QUIT, Certificate; Result: Pass, \
Warning or Fail; Detail) and Verdict sums them up: Fail when Status is Failure or the certificate has expired, \
Warning when it expires within CertificateExpiryWarningDays (Set-TransportService, default 30) or STARTTLS is not \
offered, else Pass. Nothing is sent. When any binding's Verdict is Fail the command fails after writing every \
result (exit code 1; in the shell language a non-terminating error, so `$?` is false and a script exits \
non-zero), so CI can gate on it; warnings alone do not fail unless -WarningAsFailure is given.",
    params: p::LIST,
    sets: &[],
    impact: Impact::None,
    outputs: "SmtpConnectivityStatus objects, one per binding.",
    examples: &[Example {
        title: "Test a connector whose binding nobody listens on: Status Failure (exit code 1)",
        code: "Test-SmtpConnectivity",
        setup: &["New-ReceiveConnector Idle -Bindings 127.0.0.1:1 -RemoteIPRanges 127.0.0.0/8"],
        expect: &["Idle", "127.0.0.1:1", "Failure"],
    }],
    run,
};

/// Where to connect for a binding: wildcard addresses mean this host.
pub fn target(binding: SocketAddr) -> SocketAddr {
    let ip = match binding.ip() {
        IpAddr::V4(v) if v.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v) if v.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    };
    SocketAddr::new(ip, binding.port())
}

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let cfg = ctx.store.snapshot()?;
    let timeout = Duration::from_secs(b.get(p::TimeoutSeconds).unwrap_or(10).max(1) as u64);
    // Exchange's -Identity names a server: this one means all connectors
    // (`Get-TransportService | Test-SmtpConnectivity`).
    let id = b
        .get(p::Identity)
        .filter(|i| !crate::server::is_this_server(&cfg.transport_service, i));
    let connectors: Vec<_> = cfg
        .receive_connectors
        .iter()
        .filter(|c| id.as_deref().is_none_or(|p| wildcard_match(p, &c.name)))
        .collect();
    if connectors.is_empty()
        && let Some(id) = &id
        && !id.contains(['*', '?'])
    {
        return Err(CmdletError::NotFound {
            kind: "receive connector",
            identity: id.clone(),
        });
    }
    let server_fqdn = cfg.transport_service.effective_fqdn();
    let warning_days = cfg.transport_service.certificate_expiry_warning_days;
    let now = time::OffsetDateTime::now_utc();
    let mut out = Vec::new();
    let mut failed = Vec::new();
    for c in connectors {
        if !c.enabled {
            if id.is_some() {
                ctx.warn(&format!(
                    "receive connector '{}' is disabled and was not tested",
                    c.name
                ));
            }
            continue;
        }
        let sni = c.fqdn.clone().unwrap_or_else(|| server_fqdn.clone());
        for binding in &c.bindings {
            let addr = target(binding.0);
            let p = probe(addr, "xshell-test.invalid", &sni, timeout);
            let cert = p.certificate.as_ref();
            let in_store = cert.map(|c| {
                cfg.certificates
                    .iter()
                    .any(|r| r.thumbprint.eq_ignore_ascii_case(&c.thumbprint))
            });
            let mut o = Object::new(
                "SmtpConnectivityStatus",
                View::Table(&[
                    "ReceiveConnector",
                    "Binding",
                    "Status",
                    "StartTls",
                    "TlsVersion",
                    "CertificateSubject",
                ]),
            )
            .with("Server", Value::str(&cfg.transport_service.name))
            .with("ReceiveConnector", Value::str(&c.name))
            .with("Binding", Value::str(binding.0.to_string()))
            .with("EndPoint", Value::str(addr.to_string()))
            .with(
                "Status",
                Value::str(if p.success { "Success" } else { "Failure" }),
            )
            .with("Details", Value::opt_str(p.error.clone()))
            .with("Banner", Value::opt_str(p.banner.clone()))
            .with("StartTls", Value::Bool(p.starttls_offered))
            .with("TlsVersion", Value::opt_str(p.tls_version.clone()))
            .with("Cipher", Value::opt_str(p.cipher.clone()))
            .with(
                "CertificateSubject",
                Value::opt_str(cert.map(|c| c.subject.clone())),
            )
            .with(
                "CertificateIssuer",
                Value::opt_str(cert.map(|c| c.issuer.clone())),
            )
            .with(
                "CertificateThumbprint",
                Value::opt_str(cert.map(|c| c.thumbprint.clone())),
            )
            .with(
                "CertificateNotAfter",
                Value::opt_str(cert.map(|c| c.not_after.clone())),
            )
            .with(
                "CertificateInStore",
                in_store.map_or(Value::Null, Value::Bool),
            )
            .with("LatencyMs", Value::Int(p.latency_ms as i64));
            o.dates(&["CertificateNotAfter"]);
            let mut steps = p.steps.clone();
            let mut days_left = None;
            if let Some(na) = cert.and_then(|c| c.not_after_time) {
                let days = certs::days_until_expiration(na, now);
                days_left = Some(days);
                let (result, detail) = match certs::expiry(na, now, warning_days) {
                    certs::Expiry::Expired { days_ago } => (
                        StepResult::Fail,
                        format!("expired {days_ago} days ago (Exchange event 12016)"),
                    ),
                    certs::Expiry::Expiring { days_left } => (
                        StepResult::Warning,
                        format!(
                            "expires in {days_left} days (within {warning_days}; Exchange event 12018)"
                        ),
                    ),
                    certs::Expiry::Ok { days_left } => {
                        (StepResult::Pass, format!("{days_left} days left"))
                    }
                };
                steps.push(ProbeStep {
                    name: "Certificate".into(),
                    result,
                    detail,
                });
            }
            let verdict = if !p.success || steps.iter().any(|s| s.result == StepResult::Fail) {
                StepResult::Fail
            } else if steps.iter().any(|s| s.result == StepResult::Warning) {
                StepResult::Warning
            } else {
                StepResult::Pass
            };
            let o = o
                .with(
                    "CertificateDaysLeft",
                    days_left.map_or(Value::Null, Value::Int),
                )
                .with("Verdict", Value::str(verdict.as_str()))
                .with(
                    "Steps",
                    Value::List(
                        steps
                            .iter()
                            .map(|s| {
                                Value::Object(Object::from_serde("ProbeStep", View::List, None, s))
                            })
                            .collect(),
                    ),
                );
            if verdict == StepResult::Fail
                || (verdict == StepResult::Warning && b.switch(p::WarningAsFailure))
            {
                let why = steps
                    .iter()
                    .rev()
                    .find(|s| s.result != StepResult::Pass)
                    .map(|s| format!("{}: {}", s.name, s.detail))
                    .unwrap_or_else(|| "failed".into());
                failed.push(format!(
                    "{} {} ({}): {why}",
                    c.name,
                    binding.0,
                    verdict.as_str()
                ));
            }
            out.push(Value::Object(o));
        }
    }
    if !failed.is_empty() {
        return Err(CmdletError::Verdict {
            message: format!(
                "{} of {} bindings failed: {}",
                failed.len(),
                out.len(),
                failed.join("; ")
            ),
            output: out,
        });
    }
    Ok(out)
}
