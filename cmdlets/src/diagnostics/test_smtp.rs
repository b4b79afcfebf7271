//! Test-SmtpConnectivity.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::probe::probe;
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::named::{self, wildcard_match};
use crate::value::{Object, Value, View};

params!(p {
    Identity: String = named::identity(
        "This server (as in Exchange: every enabled receive connector), or receive connectors to test (wildcards * and ? allowed); default all enabled.",
    ),
    TimeoutSeconds: i64 = param(
        Kind::Int { min: 1, max: 300 },
        "How long each step may take."
    )
    .default("10"),
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
reported, not judged; nothing is sent. When any binding's Status is Failure the command fails after writing every \
result (exit code 1; in the shell language a non-terminating error, so `$?` is false and a script exits \
non-zero), so CI can gate on it.",
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
            if !p.success {
                failed.push(format!(
                    "{} {}: {}",
                    c.name,
                    binding.0,
                    p.error.as_deref().unwrap_or("failed")
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
