//! Test-OutboundTlsPolicy ([`xshell_core::control::Op::OutboundTlsPolicy`]):
//! the whole TLS policy decision for a domain before any mail is sent.
//!
//! The domain is routed like a message (send connector, smart hosts or
//! MX), the decision is made with the same inputs and code as a delivery
//! ([`decide_with`], [`why::Basis`]), and each rule is shown in precedence
//! order with whether it applies and why. With `connect`, the first
//! reachable next hop is probed under that policy (EHLO, STARTTLS and
//! handshake, QUIT; never MAIL), as [`crate::probe`] does for
//! Test-DomainSecurity, with which the routing and session code is shared.

use xshell_core::control::{OutboundPolicyReport, PolicyRule};

use crate::config::RuntimeConfig;
use crate::outbound::deliver::Cause;
use crate::outbound::lookups::PolicyLookups;
use crate::outbound::tls::{TlsPolicy, decide_with};
use crate::outbound::why::{Basis, Session};
use crate::probe::{NoRoute, Route, host_list, open_first, options, resolve, route};
use crate::routing::Targets;

/// The decision for `domain` (and with `connect`, the probe).
pub async fn outbound_policy(
    rt: &RuntimeConfig,
    lookups: &PolicyLookups,
    domain: &str,
    connect: bool,
) -> OutboundPolicyReport {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let mut r = OutboundPolicyReport {
        domain: domain.clone(),
        ..OutboundPolicyReport::default()
    };
    let Route {
        group,
        conn,
        address_space,
    } = match route(rt, &domain) {
        Ok(route) => route,
        Err(e) => {
            r.reason = match e {
                NoRoute::Unroutable(why) => format!("no route: {why}"),
                other => other.to_string(),
            };
            return r;
        }
    };
    r.routed = true;
    r.send_connector = Some(group.connector.clone());
    r.address_space = address_space;
    r.route_type = Some(match group.targets {
        Targets::Mx { .. } => "MX".into(),
        Targets::SmartHosts { .. } => "SmartHost".into(),
    });
    let hosts = match resolve(rt, &group.next_hop_domain, &group.targets).await {
        Ok(h) => {
            r.next_hops = host_list(&h);
            h
        }
        Err(e) => {
            r.next_hops_error = Some(e);
            Vec::new()
        }
    };

    // What the policy lookups find (DANE, MTA-STS), as a delivery would:
    // their notes fill the rows.
    let inputs = lookups
        .inputs(rt, &conn.connector, &group.next_hop_domain, &group.targets)
        .await;
    let basis = Basis::new(
        &group.next_hop_domain,
        &conn.connector,
        &rt.send.secure_list,
        &inputs,
    );
    let decided = decide_with(
        &group.next_hop_domain,
        &conn.connector,
        &rt.send.secure_list,
        false,
        &inputs,
    );
    r.rules = basis
        .rules(decided.as_ref())
        .into_iter()
        .map(|rule| PolicyRule {
            name: rule.name.to_string(),
            applies: rule.applies,
            detail: rule.detail,
        })
        .collect();
    let policy = match decided {
        Ok(p) => p,
        Err(refusal) => {
            let applied = basis.applied(Err(&refusal), false, Session::NotTried);
            r.tls_policy = applied.kind.map(|k| k.as_str().to_string());
            r.verifies_peer = true;
            r.tls_policy_reason = applied.reason;
            r.reason = format!("mail to {domain} is held: {refusal}");
            return r;
        }
    };
    r.tls_policy = Some(policy.kind().as_str().to_string());
    r.verifies_peer = policy.verifies_peer();
    let applied = basis.applied(Ok(&policy), false, Session::NotTried);
    r.tls_policy_reason = applied.reason;
    r.reason = summary(&policy);
    if !connect {
        return r;
    }
    if hosts.is_empty() {
        r.probe = Some(format!(
            "not probed: {}",
            r.next_hops_error.as_deref().unwrap_or("no next hop")
        ));
        return r;
    }
    probe(&mut r, conn, &basis, &policy, &hosts).await;
    r
}

/// What mail gets under `policy`, before any session.
fn summary(policy: &TlsPolicy) -> String {
    if policy.verifies_peer() {
        format!(
            "{}: mail goes only over TLS to a next hop whose certificate is verified; otherwise it is held",
            policy.kind()
        )
    } else if policy.starttls() == xshell_smtp::client::StartTlsMode::Required {
        format!(
            "{}: mail goes only over TLS, but the certificate is not verified",
            policy.kind()
        )
    } else if policy.starttls() == xshell_smtp::client::StartTlsMode::Never {
        format!("{}: mail goes in plaintext", policy.kind())
    } else {
        format!(
            "{}: TLS when the next hop offers STARTTLS, any certificate accepted; plaintext otherwise",
            policy.kind()
        )
    }
}

/// Probes the first reachable host under `policy` (no message).
async fn probe(
    r: &mut OutboundPolicyReport,
    conn: &crate::config::SendConnectorRuntime,
    basis: &Basis<'_>,
    policy: &TlsPolicy,
    hosts: &[crate::dns::Host],
) {
    let tls = match conn.client_config(policy) {
        Ok(c) => c,
        Err(e) => {
            let cause = Cause::TlsSetup(e.to_string());
            r.tls_policy_reason = basis
                .applied(Ok(policy), false, Session::Failed(&cause))
                .reason;
            r.probe = Some(format!("not probed: our TLS configuration: {e}"));
            return;
        }
    };
    let opts = options(conn, policy.clone(), tls);
    let (opened, last) = open_first(hosts, &opts, |_, _| {}).await;
    match opened {
        Some((label, c)) => {
            let t = c.tls().cloned();
            r.host = Some(label.clone());
            r.starttls_offered = Some(c.extensions().starttls || t.is_some());
            if let Some(t) = &t {
                r.tls_version = Some(t.protocol.clone());
                r.cipher = Some(t.cipher.clone());
                r.server_subject = t.server_subject.clone();
                r.server_issuer = t.server_issuer.clone();
                r.certificate_verified = policy.verifies_peer().then_some(true);
            }
            r.tls_policy_reason = basis
                .applied(
                    Ok(policy),
                    false,
                    Session::Up {
                        host: &label,
                        tls: t.as_ref(),
                    },
                )
                .reason;
            r.probe = Some(match &t {
                Some(t) if policy.verifies_peer() => format!(
                    "{label}: STARTTLS, {} {}, certificate {} verified under {}; QUIT (no message)",
                    t.protocol,
                    t.cipher,
                    t.server_subject.as_deref().unwrap_or("?"),
                    policy.kind()
                ),
                Some(t) => format!(
                    "{label}: STARTTLS, {} {}, certificate {} (not verified under {}); QUIT (no message)",
                    t.protocol,
                    t.cipher,
                    t.server_subject.as_deref().unwrap_or("?"),
                    policy.kind()
                ),
                None if c.extensions().starttls => format!(
                    "{label}: STARTTLS offered but not used under {}; QUIT (no message)",
                    policy.kind()
                ),
                None => format!("{label}: STARTTLS not offered; QUIT (no message)"),
            });
            c.quit().await;
        }
        None => {
            let Some((label, cause)) = last else {
                r.probe = Some("not probed: no next hop has an address".into());
                return;
            };
            r.host = Some(label.clone());
            match &cause {
                Cause::Session { failure, .. } => {
                    use xshell_smtp::client::SessionFailure;
                    match failure {
                        SessionFailure::StartTlsNotOffered => r.starttls_offered = Some(false),
                        SessionFailure::StartTlsRefused(_) => r.starttls_offered = Some(true),
                        _ => {}
                    }
                }
                Cause::TlsHandshake { verified, .. } => {
                    r.starttls_offered = Some(true);
                    if *verified {
                        r.certificate_verified = Some(false);
                    }
                }
                _ => {}
            }
            let applied = basis.applied(Ok(policy), false, Session::Failed(&cause));
            r.tls_policy_reason = applied.reason;
            // What a delivery would get: the classified reply, and why.
            let reply = crate::outbound::deliver::classify(&cause).reply().clone();
            let detail = match &cause {
                Cause::Session { failure, .. } => failure.to_string(),
                Cause::TlsHandshake { detail, .. }
                | Cause::Connect { detail, .. }
                | Cause::Lost { detail, .. } => detail.clone(),
                other => format!("{other:?}"),
            };
            r.probe = Some(format!("{label}: {reply} ({detail}); mail would be held"));
        }
    }
}
