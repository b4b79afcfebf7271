//! Test-DomainSecurity ([`xshell_core::control::Op::ProbeDomain`]): route a
//! domain like a message, then connect to its first reachable next hop,
//! EHLO, STARTTLS and handshake **under Domain Security rules** (our client
//! certificate, chain to our roots, name = the domain), then QUIT. No MAIL
//! is ever sent.
//!
//! The verdict is true only when the domain is in TLSSendDomainSecureList,
//! the connector has DomainSecureEnabled and the handshake succeeded.

use std::time::Duration;

use xshell_core::certificates::{self, Expiry};
use xshell_core::control::DomainSecurityReport;
use xshell_core::control::StepResult::{Fail, Pass, Warning};
use xshell_core::pki::cert::{parse_certificate, thumbprint};

use crate::config::RuntimeConfig;
use crate::config::SendConnectorRuntime;
use crate::dns::{HickoryResolver, Host, resolve_mx, resolve_smart_hosts};
use crate::outbound::deliver::{Cause, Connection, SendOptions};
use crate::outbound::tls::{TlsPolicy, decide};
use crate::routing::{RouteGroup, Targets, group_recipients};
use xshell_smtp::client::SessionFailure;

/// The probe's own time limits (shorter than a delivery's).
const CONNECT: Duration = Duration::from_secs(10);
const COMMAND: Duration = Duration::from_secs(30);

fn policy_name(p: &TlsPolicy) -> &'static str {
    match p {
        TlsPolicy::DomainSecure { .. } => "DomainSecure",
        TlsPolicy::Dane(_) => "DANE",
        TlsPolicy::Required { .. } => "Required",
        TlsPolicy::Opportunistic => "Opportunistic",
        TlsPolicy::Plaintext => "Plaintext",
        TlsPolicy::MtaSts { .. } => "MTA-STS",
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
    r.in_secure_list = crate::outbound::tls::domain_secure_listed(&domain, &send.secure_list);
    let listed = r.in_secure_list;
    r.step(
        "TLSSendDomainSecureList",
        if listed { Pass } else { Fail },
        if listed {
            "contains the domain"
        } else {
            "does not contain the domain"
        },
    );

    // Route.
    let Route {
        group,
        conn,
        address_space,
    } = match route(rt, &domain) {
        Ok(route) => route,
        Err(NoRoute::Unroutable(why)) => {
            r.step("Send connector", Fail, format!("none ({why})"));
            r.reason = why;
            r.fix = Some(format!(
                "New-SendConnector -AddressSpaces {domain} (or '*') -DomainSecureEnabled:$true"
            ));
            finish(&mut r);
            return r;
        }
        Err(e @ NoRoute::NotCompiled(_)) => {
            r.reason = e.to_string();
            finish(&mut r);
            return r;
        }
    };
    r.send_connector = Some(group.connector.clone());
    r.domain_secure_enabled = conn.connector.domain_secure_enabled;
    r.address_space = address_space;
    let detail = format!(
        "{} (address space {}, DomainSecureEnabled {})",
        group.connector,
        r.address_space.as_deref().unwrap_or("?"),
        r.domain_secure_enabled
    );
    let dse = r.domain_secure_enabled;
    r.step("Send connector", if dse { Pass } else { Fail }, detail);

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
        Ok(p @ TlsPolicy::MtaSts { .. }) => (policy_name(p), "the domain's MTA-STS policy".into()),
        Ok(p @ TlsPolicy::Dane(_)) => (
            policy_name(p),
            "the MX hosts publish usable TLSA records (SmtpDaneMode)".into(),
        ),
        Err(e) => ("Refused", e.to_string()),
    };
    r.tls_policy = Some(policy_text.to_string());
    r.policy_reason = Some(policy_reason.clone());
    r.step(
        "TLS policy",
        if policy_text == "DomainSecure" {
            Pass
        } else {
            Fail
        },
        format!("{policy_text} ({policy_reason})"),
    );

    // Next hops.
    let hosts = match resolve(rt, &domain, &group.targets).await {
        Ok(h) => h,
        Err(e) => {
            r.step("Next hops", Fail, e.clone());
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
            finish(&mut r);
            return r;
        }
    };
    r.next_hops = host_list(&hosts);
    let hops = r.next_hops.join("; ");
    r.step("Next hops", Pass, hops);

    // The handshake is always tried under Domain Security rules: that is
    // what the partner must pass.
    let ds = TlsPolicy::DomainSecure {
        domain: domain.clone(),
    };
    let tls = match conn.client_config(&ds) {
        Ok(c) => c,
        Err(e) => {
            r.step("TLS client configuration", Fail, e.to_string());
            r.reason = e.to_string();
            r.fix = Some(
                "select an SMTP certificate with a private key (Enable-ExchangeCertificate -Services SMTP) and import the partner's root (Import-Certificate)"
                    .into(),
            );
            finish(&mut r);
            return r;
        }
    };
    r.client_certificate_presented = conn.client_certificate.is_some();
    let own_problem = own_certificate_step(&mut r, conn, rt.certificate_expiry_warning_days);
    let opts = options(conn, ds.clone(), tls);
    let (opened, last) = open_first(&hosts, &opts, |label, cause| {
        r.step("Connect", Warning, format!("{label}: {cause:?}"));
    })
    .await;
    match opened {
        Some((label, c)) => {
            r.host = Some(label.clone());
            r.starttls_offered = c.extensions().starttls || c.tls().is_some();
            r.banner = c.greeting();
            let detail = format!(
                "{label}: banner {}; EHLO accepted",
                r.banner.as_deref().unwrap_or("?")
            );
            r.step("Connect", Pass, detail);
            r.step("STARTTLS", Pass, "offered");
            if let Some(t) = c.tls() {
                r.tls_version = Some(t.protocol.clone());
                r.cipher = Some(t.cipher.clone());
                r.server_subject = t.server_subject.clone();
                r.server_issuer = t.server_issuer.clone();
            }
            r.server_thumbprint = c.peer_certificate().map(thumbprint);
            r.chain_valid = Some(true);
            r.name_matched = Some(true);
            let detail = format!(
                "{} {}, server certificate {} (issuer {}), chain valid, name matches {domain}, client certificate presented: {}",
                r.tls_version.as_deref().unwrap_or("?"),
                r.cipher.as_deref().unwrap_or("?"),
                r.server_subject.as_deref().unwrap_or("?"),
                r.server_issuer.as_deref().unwrap_or("?"),
                r.client_certificate_presented
            );
            r.step("TLS handshake", Pass, detail);
            partner_certificate_step(
                &mut r,
                c.peer_certificate(),
                rt.certificate_expiry_warning_days,
            );
            c.quit().await;
            r.step("QUIT", Pass, "sent (no message)");
            match &policy {
                Ok(TlsPolicy::DomainSecure { .. }) if own_problem.is_some() => {
                    let (why, fix) = own_problem.unwrap_or_default();
                    r.reason = why;
                    r.fix = Some(fix);
                }
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
                finish(&mut r);
                return r;
            };
            r.host = Some(label.clone());
            match cause {
                Cause::Session {
                    failure: SessionFailure::StartTlsNotOffered,
                    ..
                } => {
                    r.step(
                        "Connect",
                        Pass,
                        format!("{label}: banner and EHLO accepted"),
                    );
                    r.step("STARTTLS", Fail, "not offered");
                    r.reason = format!("the server {label} does not offer STARTTLS");
                    r.fix = Some(format!(
                        "the partner must enable STARTTLS on {label}; Domain Security needs it"
                    ));
                }
                Cause::TlsHandshake { detail, .. } => {
                    r.starttls_offered = true;
                    r.step(
                        "Connect",
                        Pass,
                        format!("{label}: banner and EHLO accepted"),
                    );
                    r.step("STARTTLS", Pass, "offered");
                    r.step("TLS handshake", Fail, format!("failed ({detail})"));
                    inspect(
                        &mut r,
                        &hosts,
                        &label,
                        conn,
                        &opts,
                        rt.certificate_expiry_warning_days,
                    )
                    .await;
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
                    } else if detail.contains("Expired") {
                        r.chain_valid = Some(false);
                        r.reason = format!(
                            "the server certificate {} has expired (NotAfter {}): {detail}",
                            r.server_subject.as_deref().unwrap_or("?"),
                            r.server_not_after.as_deref().unwrap_or("?")
                        );
                        r.fix = Some(
                            "the partner must renew its certificate; nothing to change on our side"
                                .into(),
                        );
                    } else if detail.contains("UnknownIssuer") || detail.contains("BadSignature") {
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
                    r.step("Connect", Fail, format!("{label}: failed ({other:?})"));
                    r.reason = format!("no next hop could be probed: {other:?}");
                    r.fix = Some("check that the next hop is reachable on port 25".into());
                }
            }
        }
    }
    finish(&mut r);
    r
}

/// The verdict from DomainSecured and the steps, as the last step.
fn finish(r: &mut DomainSecurityReport) {
    r.verdict = if !r.domain_secured {
        Fail
    } else if r.steps.iter().any(|s| s.result != Pass) {
        Warning
    } else {
        Pass
    };
    let detail = format!("DomainSecured {} ({})", r.domain_secured, r.reason);
    let verdict = r.verdict;
    r.step("Verdict", verdict, detail);
}

/// The step about our own certificate (the client certificate Domain
/// Security presents): expiry within `warning_days` warns, expired or not
/// usable as a client certificate fails. The failure's reason and fix,
/// if any.
fn own_certificate_step(
    r: &mut DomainSecurityReport,
    conn: &crate::config::SendConnectorRuntime,
    warning_days: u32,
) -> Option<(String, String)> {
    let der = conn
        .material
        .client
        .as_ref()
        .and_then(|c| c.chain.first())
        .map(|c| c.as_ref().to_vec());
    let Some(info) = der.and_then(|d| parse_certificate(&d).ok()) else {
        r.step(
            "Our certificate",
            Fail,
            "no SMTP certificate with a private key is selected: nothing to present as the client certificate",
        );
        return Some((
            "we have no client certificate to present".into(),
            "Enable-ExchangeCertificate -Services SMTP on a certificate with a private key that names this server".into(),
        ));
    };
    let now = time::OffsetDateTime::now_utc();
    let days = certificates::days_until_expiration(info.not_after, now);
    let not_after = certificates::rfc3339(info.not_after);
    r.client_certificate_thumbprint = Some(info.thumbprint.clone());
    r.client_certificate_not_after = Some(not_after.clone());
    r.client_certificate_days_left = Some(days);
    let client_auth = info.domain_security_client_auth();
    r.client_certificate_client_auth = Some(client_auth.is_ok());
    let who = format!(
        "{} ({}, NotAfter {not_after})",
        info.thumbprint, info.subject
    );
    if let Err(why) = client_auth {
        r.step(
            "Our certificate",
            Fail,
            format!("{who}: cannot serve as a Domain Security client certificate: {why}"),
        );
        return Some((
            format!("our certificate {} cannot be a Domain Security client certificate: {why}", info.thumbprint),
            "get a certificate whose extended key usage includes Client Authentication (or has none), import and enable it for SMTP".into(),
        ));
    }
    match certificates::expiry(info.not_after, now, warning_days) {
        Expiry::Expired { days_ago } => {
            r.step(
                "Our certificate",
                Fail,
                format!("{who}: expired {days_ago} days ago (Exchange event 12016)"),
            );
            Some((
                format!("our certificate {} has expired", info.thumbprint),
                "import and enable a renewed certificate (Import-ExchangeCertificate, Enable-ExchangeCertificate -Services SMTP)".into(),
            ))
        }
        Expiry::Expiring { days_left } => {
            r.step(
                "Our certificate",
                Warning,
                format!(
                    "{who}: expires in {days_left} days (within {warning_days}; Exchange event 12018); usable as a Domain Security client certificate"
                ),
            );
            None
        }
        Expiry::Ok { days_left } => {
            r.step(
                "Our certificate",
                Pass,
                format!(
                    "{who}: {days_left} days left; usable as a Domain Security client certificate"
                ),
            );
            None
        }
    }
}

/// The step about the partner's server certificate's expiry.
fn partner_certificate_step(r: &mut DomainSecurityReport, der: Option<&[u8]>, warning_days: u32) {
    let Some(info) = der.and_then(|d| parse_certificate(d).ok()) else {
        return;
    };
    let now = time::OffsetDateTime::now_utc();
    let not_after = certificates::rfc3339(info.not_after);
    r.server_not_after = Some(not_after.clone());
    r.server_days_left = Some(certificates::days_until_expiration(info.not_after, now));
    let who = format!(
        "{} ({}, NotAfter {not_after})",
        info.thumbprint, info.subject
    );
    match certificates::expiry(info.not_after, now, warning_days) {
        Expiry::Expired { days_ago } => r.step(
            "Partner certificate",
            Fail,
            format!("{who}: expired {days_ago} days ago"),
        ),
        Expiry::Expiring { days_left } => r.step(
            "Partner certificate",
            Warning,
            format!("{who}: expires in {days_left} days (within {warning_days}): tell the partner to renew it"),
        ),
        Expiry::Ok { days_left } => r.step(
            "Partner certificate",
            Pass,
            format!("{who}: {days_left} days left"),
        ),
    }
}

/// After a refused handshake: connect again accepting any certificate,
/// only to show which certificate the server presents.
async fn inspect(
    r: &mut DomainSecurityReport,
    hosts: &[Host],
    label: &str,
    conn: &crate::config::SendConnectorRuntime,
    opts: &SendOptions,
    warning_days: u32,
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
        let peer = c.peer_certificate().map(<[u8]>::to_vec);
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
        let detail = format!(
            "any certificate accepted: server certificate {} (issuer {})",
            r.server_subject.as_deref().unwrap_or("?"),
            r.server_issuer.as_deref().unwrap_or("?")
        );
        r.step("Inspect", Pass, detail);
        partner_certificate_step(r, peer.as_deref(), warning_days);
    }
}

/// Why a domain has no route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NoRoute {
    /// No enabled send connector covers it (the routing error).
    #[error("{0}")]
    Unroutable(String),
    #[error("send connector '{0}' is not compiled")]
    NotCompiled(String),
}

/// The route of a domain, as a message to it would take.
pub(crate) struct Route<'a> {
    pub group: RouteGroup,
    pub conn: &'a SendConnectorRuntime,
    /// The connector's address space that matched (most specific, then
    /// cheapest).
    pub address_space: Option<String>,
}

/// Routes `domain` like a message to `postmaster@domain`.
pub(crate) fn route<'a>(rt: &'a RuntimeConfig, domain: &str) -> Result<Route<'a>, NoRoute> {
    let send = &rt.send;
    let (groups, unroutable) =
        group_recipients(&[format!("postmaster@{domain}")], &send.connectors);
    let Some(group) = groups.into_iter().next() else {
        return Err(NoRoute::Unroutable(
            unroutable
                .first()
                .map(|(_, e)| e.to_string())
                .unwrap_or_else(|| format!("no route to '{domain}'")),
        ));
    };
    let Some(conn) = send.compiled.get(&group.connector) else {
        return Err(NoRoute::NotCompiled(group.connector));
    };
    let address_space = conn
        .connector
        .address_spaces
        .iter()
        .filter(|a| a.domain.matches(domain))
        .max_by(|a, b| {
            a.domain
                .specificity()
                .cmp(&b.domain.specificity())
                .then(b.cost.cmp(&a.cost))
        })
        .map(|a| a.to_string());
    Ok(Route {
        group,
        conn,
        address_space,
    })
}

/// `name [ip, ...]` per host.
pub(crate) fn host_list(hosts: &[Host]) -> Vec<String> {
    hosts
        .iter()
        .map(|h| {
            let addrs: Vec<String> = h.addrs.iter().map(|a| a.to_string()).collect();
            format!("{} [{}]", h.name, addrs.join(", "))
        })
        .collect()
}

/// A probe's session options under `policy` (the probe's time limits).
pub(crate) fn options(
    conn: &SendConnectorRuntime,
    policy: TlsPolicy,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
) -> SendOptions {
    SendOptions {
        helo_name: conn.helo_name.clone(),
        auth: conn.auth.clone(),
        source_ip: conn.connector.source_ip_address,
        loop_detection: conn.loop_detection,
        policy,
        tls,
        timeouts: crate::outbound::deliver::Timeouts {
            connect: CONNECT.min(conn.timeouts.connect),
            command: COMMAND.min(conn.timeouts.command),
            data_end: COMMAND,
        },
        protocol_log: None,
    }
}

/// Opens a session with the first host (and address) that answers: the
/// session and its `name [ip:port]`, else the last failure. A failure to
/// connect tries the next address (`connect_failed` hears of it); any
/// other failure ends the probe there.
pub(crate) async fn open_first(
    hosts: &[Host],
    opts: &SendOptions,
    mut connect_failed: impl FnMut(&str, &Cause),
) -> (Option<(String, Connection)>, Option<(String, Cause)>) {
    let mut last: Option<(String, Cause)> = None;
    for h in hosts {
        for addr in &h.addrs {
            let label = format!("{} [{addr}]", h.name);
            match Connection::open(&h.name, *addr, opts).await {
                Ok(c) => return (Some((label, c)), last),
                Err(cause @ Cause::Connect { .. }) => {
                    connect_failed(&label, &cause);
                    last = Some((label, cause));
                }
                Err(cause) => return (None, Some((label, cause))),
            }
        }
    }
    (None, last)
}

pub(crate) async fn resolve(
    rt: &RuntimeConfig,
    domain: &str,
    targets: &Targets,
) -> Result<Vec<Host>, String> {
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
