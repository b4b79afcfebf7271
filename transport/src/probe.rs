//! Test-DomainSecurity ([`xshell_core::control::Op::ProbeDomain`]): route a
//! domain like a message, then connect to its first reachable next hop,
//! EHLO, STARTTLS and handshake **under Domain Security rules** (our client
//! certificate, chain to our roots, name = the domain), then QUIT. No MAIL
//! is ever sent.
//!
//! The verdict is true only when the domain is in TLSSendDomainSecureList,
//! the connector has DomainSecureEnabled and the handshake succeeded.

use std::time::Duration;

use xshell_core::control::DomainSecurityReport;
use xshell_core::pki::cert::{parse_certificate, thumbprint};

use crate::config::RuntimeConfig;
use crate::dns::{HickoryResolver, Host, resolve_mx, resolve_smart_hosts};
use crate::outbound::deliver::{Cause, Connection, SendOptions};
use crate::outbound::tls::{PolicyRefusal, TlsPolicy, decide};
use crate::routing::{Targets, group_recipients};
use xshell_smtp::client::SessionFailure;

/// The probe's own time limits (shorter than a delivery's).
const CONNECT: Duration = Duration::from_secs(10);
const COMMAND: Duration = Duration::from_secs(30);

fn policy_name(p: &TlsPolicy) -> &'static str {
    match p {
        TlsPolicy::DomainSecure { .. } => "DomainSecure",
        TlsPolicy::Required { .. } => "Required",
        TlsPolicy::Opportunistic => "Opportunistic",
        TlsPolicy::Plaintext => "Plaintext",
    }
}

/// Runs the probe for `domain` with the engine's current configuration.
pub async fn probe_domain(rt: &RuntimeConfig, domain: &str) -> DomainSecurityReport {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let mut r = DomainSecurityReport {
        domain: domain.clone(),
        ..DomainSecurityReport::default()
    };
    let send = &rt.send;
    r.in_secure_list = send.secure_list.iter().any(|d| {
        d.as_str()
            .trim_end_matches('.')
            .eq_ignore_ascii_case(&domain)
    });
    r.steps.push(format!(
        "TLSSendDomainSecureList: {}",
        if r.in_secure_list {
            "contains the domain"
        } else {
            "does not contain the domain"
        }
    ));

    // Route.
    let (groups, unroutable) =
        group_recipients(&[format!("postmaster@{domain}")], &send.connectors);
    let Some(group) = groups.into_iter().next() else {
        let why = unroutable
            .first()
            .map(|(_, e)| e.to_string())
            .unwrap_or_else(|| format!("no route to '{domain}'"));
        r.steps.push(format!("Send connector: none ({why})"));
        r.reason = why;
        r.fix = Some(format!(
            "New-SendConnector -AddressSpaces {domain} (or '*') -DomainSecureEnabled:$true"
        ));
        return r;
    };
    let Some(conn) = send.compiled.get(&group.connector) else {
        r.reason = format!("send connector '{}' is not compiled", group.connector);
        return r;
    };
    r.send_connector = Some(group.connector.clone());
    r.domain_secure_enabled = conn.connector.domain_secure_enabled;
    r.address_space = conn
        .connector
        .address_spaces
        .iter()
        .filter(|a| a.domain.matches(&domain))
        .max_by(|a, b| {
            a.domain
                .specificity()
                .cmp(&b.domain.specificity())
                .then(b.cost.cmp(&a.cost))
        })
        .map(|a| a.to_string());
    r.steps.push(format!(
        "Send connector: {} (address space {}, DomainSecureEnabled {})",
        group.connector,
        r.address_space.as_deref().unwrap_or("?"),
        r.domain_secure_enabled
    ));

    // Policy.
    let policy = decide(&domain, &conn.connector, &send.secure_list, false);
    let (policy_text, policy_reason) = match &policy {
        Ok(p @ TlsPolicy::DomainSecure { .. }) => (
            policy_name(p),
            "the domain is in TLSSendDomainSecureList and the connector has DomainSecureEnabled"
                .to_string(),
        ),
        Ok(p @ TlsPolicy::Required { .. }) => {
            (policy_name(p), "the connector has RequireTLS".into())
        }
        Ok(p @ TlsPolicy::Opportunistic) => (
            policy_name(p),
            "the domain is not in TLSSendDomainSecureList and the connector does not require TLS"
                .into(),
        ),
        Ok(p @ TlsPolicy::Plaintext) => (policy_name(p), "the connector has IgnoreSTARTTLS".into()),
        Err(e @ PolicyRefusal::DomainSecureDisabled { .. }) => ("Refused", e.to_string()),
    };
    r.tls_policy = Some(policy_text.to_string());
    r.policy_reason = Some(policy_reason.clone());
    r.steps
        .push(format!("TLS policy: {policy_text} ({policy_reason})"));

    // Next hops.
    let hosts = match resolve(rt, &domain, &group.targets).await {
        Ok(h) => h,
        Err(e) => {
            r.steps.push(format!("Next hops: {e}"));
            r.reason = format!("the next hops could not be resolved: {e}");
            r.fix = Some(match group.targets {
                Targets::Mx { .. } => format!("check the MX records of {domain}"),
                Targets::SmartHosts { .. } => {
                    format!(
                        "check the smart hosts of send connector '{}'",
                        group.connector
                    )
                }
            });
            return r;
        }
    };
    r.next_hops = hosts
        .iter()
        .map(|h| {
            let addrs: Vec<String> = h.addrs.iter().map(|a| a.to_string()).collect();
            format!("{} [{}]", h.name, addrs.join(", "))
        })
        .collect();
    r.steps
        .push(format!("Next hops: {}", r.next_hops.join("; ")));

    // The handshake is always tried under Domain Security rules: that is
    // what the partner must pass.
    let ds = TlsPolicy::DomainSecure {
        domain: domain.clone(),
    };
    let tls = match conn.client_config(&ds) {
        Ok(c) => c,
        Err(e) => {
            r.steps.push(format!("TLS client configuration: {e}"));
            r.reason = e.to_string();
            r.fix = Some(
                "select an SMTP certificate with a private key (Enable-ExchangeCertificate -Services SMTP) and import the partner's root (Import-Certificate)"
                    .into(),
            );
            return r;
        }
    };
    r.client_certificate_presented = conn.client_certificate.is_some();
    let opts = SendOptions {
        helo_name: conn.helo_name.clone(),
        auth: conn.auth.clone(),
        source_ip: conn.connector.source_ip_address,
        loop_detection: conn.loop_detection,
        policy: ds.clone(),
        tls,
        timeouts: crate::outbound::deliver::Timeouts {
            connect: CONNECT.min(conn.timeouts.connect),
            command: COMMAND.min(conn.timeouts.command),
            data_end: COMMAND,
        },
        protocol_log: None,
    };
    let mut last: Option<(String, Cause)> = None;
    let mut opened = None;
    'hosts: for h in &hosts {
        for addr in &h.addrs {
            let label = format!("{} [{addr}]", h.name);
            match Connection::open(&h.name, *addr, &opts).await {
                Ok(c) => {
                    opened = Some((label, c));
                    break 'hosts;
                }
                Err(cause @ Cause::Connect { .. }) => {
                    r.steps.push(format!("Connect {label}: {cause:?}"));
                    last = Some((label, cause));
                }
                Err(cause) => {
                    last = Some((label, cause));
                    break 'hosts;
                }
            }
        }
    }
    match opened {
        Some((label, c)) => {
            r.host = Some(label.clone());
            r.starttls_offered = c.extensions().starttls || c.tls().is_some();
            r.banner = c.greeting();
            r.steps.push(format!(
                "Connect {label}: banner {}; EHLO accepted",
                r.banner.as_deref().unwrap_or("?")
            ));
            r.steps.push("STARTTLS: offered".into());
            if let Some(t) = c.tls() {
                r.tls_version = Some(t.protocol.clone());
                r.cipher = Some(t.cipher.clone());
                r.server_subject = t.server_subject.clone();
                r.server_issuer = t.server_issuer.clone();
            }
            r.server_thumbprint = c.peer_certificate().map(thumbprint);
            r.chain_valid = Some(true);
            r.name_matched = Some(true);
            r.steps.push(format!(
                "TLS handshake: {} {}, server certificate {} (issuer {}), chain valid, name matches {domain}, client certificate presented: {}",
                r.tls_version.as_deref().unwrap_or("?"),
                r.cipher.as_deref().unwrap_or("?"),
                r.server_subject.as_deref().unwrap_or("?"),
                r.server_issuer.as_deref().unwrap_or("?"),
                r.client_certificate_presented
            ));
            c.quit().await;
            r.steps.push("QUIT: sent (no message)".into());
            match &policy {
                Ok(TlsPolicy::DomainSecure { .. }) => {
                    r.domain_secured = true;
                    r.reason = format!(
                        "mail to {domain} is sent with mutual TLS; the server's certificate chains to a trusted root and names {domain}"
                    );
                }
                Ok(_) if !r.in_secure_list => {
                    r.reason = format!(
                        "the server passes Domain Security, but {domain} is not in TLSSendDomainSecureList"
                    );
                    r.fix = Some(format!(
                        "Set-TransportConfig -TLSSendDomainSecureList @{{Add='{domain}'}}"
                    ));
                }
                _ => {
                    r.reason = format!(
                        "the server passes Domain Security, but send connector '{}' does not have DomainSecureEnabled",
                        group.connector
                    );
                    r.fix = Some(format!(
                        "Set-SendConnector {} -DomainSecureEnabled:$true",
                        group.connector
                    ));
                }
            }
        }
        None => {
            let Some((label, cause)) = last else {
                r.reason = "no next hop has an address".into();
                return r;
            };
            r.host = Some(label.clone());
            match cause {
                Cause::Session {
                    failure: SessionFailure::StartTlsNotOffered,
                    ..
                } => {
                    r.steps
                        .push(format!("Connect {label}: banner and EHLO accepted"));
                    r.steps.push("STARTTLS: not offered".into());
                    r.reason = format!("the server {label} does not offer STARTTLS");
                    r.fix = Some(format!(
                        "the partner must enable STARTTLS on {label}; Domain Security needs it"
                    ));
                }
                Cause::TlsHandshake { detail, .. } => {
                    r.starttls_offered = true;
                    r.steps
                        .push(format!("Connect {label}: banner and EHLO accepted"));
                    r.steps.push("STARTTLS: offered".into());
                    r.steps.push(format!("TLS handshake: failed ({detail})"));
                    inspect(&mut r, &hosts, &label, conn, &opts).await;
                    if detail.contains("NotValidForName") {
                        r.chain_valid = Some(true);
                        r.name_matched = Some(false);
                        r.reason = format!(
                            "the server certificate {} does not name {domain}",
                            r.server_subject.as_deref().unwrap_or("?")
                        );
                        r.fix = Some(format!(
                            "the partner needs a certificate whose SAN names {domain} (e.g. mail.{domain} alone is not enough unless it names {domain})"
                        ));
                    } else if detail.contains("UnknownIssuer")
                        || detail.contains("BadSignature")
                        || detail.contains("Expired")
                    {
                        r.chain_valid = Some(false);
                        r.reason = format!(
                            "the server certificate chain does not reach a trusted root (untrusted issuer {}): {detail}",
                            r.server_issuer.as_deref().unwrap_or("?")
                        );
                        r.fix = Some("add the partner's root CA with Import-Certificate".into());
                    } else {
                        r.reason = format!("the TLS handshake failed: {detail}");
                        r.fix = Some(
                            "check that the partner accepts our client certificate and trusts our root".into(),
                        );
                    }
                }
                other => {
                    r.steps.push(format!("Connect {label}: failed ({other:?})"));
                    r.reason = format!("no next hop could be probed: {other:?}");
                    r.fix = Some("check that the next hop is reachable on port 25".into());
                }
            }
        }
    }
    r.steps.push(format!(
        "Verdict: DomainSecured {} ({})",
        r.domain_secured, r.reason
    ));
    r
}

/// After a refused handshake: connect again accepting any certificate,
/// only to show which certificate the server presents.
async fn inspect(
    r: &mut DomainSecurityReport,
    hosts: &[Host],
    label: &str,
    conn: &crate::config::SendConnectorRuntime,
    opts: &SendOptions,
) {
    let Ok(tls) = conn.client_config(&TlsPolicy::Opportunistic) else {
        return;
    };
    let opts = SendOptions {
        policy: TlsPolicy::Opportunistic,
        tls,
        ..opts.clone()
    };
    let Some((h, addr)) = hosts
        .iter()
        .flat_map(|h| h.addrs.iter().map(move |a| (h, *a)))
        .find(|(h, a)| format!("{} [{a}]", h.name) == label)
    else {
        return;
    };
    if let Ok(c) = Connection::open(&h.name, addr, &opts).await {
        r.banner = c.greeting();
        if let Some(der) = c.peer_certificate()
            && let Ok(info) = parse_certificate(der)
        {
            r.server_subject = Some(info.subject);
            r.server_issuer = Some(info.issuer);
            r.server_thumbprint = Some(info.thumbprint);
        }
        if let Some(t) = c.tls() {
            r.tls_version = Some(t.protocol.clone());
            r.cipher = Some(t.cipher.clone());
        }
        c.quit().await;
        r.steps.push(format!(
            "Inspect (any certificate accepted): server certificate {} (issuer {})",
            r.server_subject.as_deref().unwrap_or("?"),
            r.server_issuer.as_deref().unwrap_or("?")
        ));
    }
}

async fn resolve(rt: &RuntimeConfig, domain: &str, targets: &Targets) -> Result<Vec<Host>, String> {
    let resolver = HickoryResolver::new(&rt.send.dns_servers, Duration::from_secs(5), 2)
        .map_err(|e| e.to_string())?;
    match targets {
        Targets::Mx { port } => {
            resolve_mx(&resolver, domain, *port, crate::dns::random_seed()).await
        }
        Targets::SmartHosts { hosts, port } => resolve_smart_hosts(&resolver, hosts, *port).await,
    }
    .map_err(|e| e.to_string())
}
