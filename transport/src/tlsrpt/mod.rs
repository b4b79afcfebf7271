//! SMTP TLS Reporting (RFC 8460): what the engine records of each outbound
//! session's TLS, and the daily aggregate reports it sends from that.
//!
//! # Recording ([`sessions_of_hop`], [`log`])
//! After each next hop's delivery the runner hands this module the hop's
//! [`AppliedPolicy`] and the [`DeliveryReport`]; every session attempt that
//! says something about the receiving domain's TLS becomes one
//! [`Session`]: the policy domain (the recipient domain, RFC 8460 4.3),
//! the policy type (`sts`, `tlsa`, `no-policy-found`) and strings, the MX
//! host and its address, and success or the RFC 8460 4.3 result type of
//! the failure ([`result_type`], the one mapping from a delivery
//! [`Cause`]). Attempts that never reached TLS (connection refused, DNS)
//! and sessions we chose to run in plaintext (IgnoreSTARTTLS, the
//! plaintext retry after a failed opportunistic handshake) are not TLS
//! outcomes of the receiver and are not recorded. Smart-host routes are
//! not recorded either: the session is with the smart host, not with the
//! policy domain's MX.
//!
//! Sessions are appended to `<state>/tlsrpt/<YYYY-MM-DD>.jsonl` (UTC day)
//! by [`record`], off the async threads, see [`log`]. Failures no delivery
//! `Cause` carries (a DNSSEC or MTA-STS policy lookup that failed before
//! any session) are [`failure_session`]s; what MTA-STS `testing` would
//! have refused makes the hop's session a failed one in [`sessions_of_hop`].
//!
//! # Reports ([`report`], [`send`])
//! Once a UTC day is over (RFC 8460 4.1), for each policy domain recorded
//! that day the engine looks up `_smtp._tls.<domain>` TXT (RFC 8460 3) and
//! sends the aggregate JSON report (RFC 8460 4.4), gzip-compressed, to
//! each `rua`: `mailto:` as a message queued from TlsRptReportingAddress
//! (RFC 8460 5.3), `https:` as a POST (RFC 8460 5.4). Nothing is sent
//! unless Set-TransportConfig -TlsRptReportingAddress is set.

pub mod control;
pub mod log;
pub mod report;
pub mod send;

use std::net::IpAddr;
use std::sync::Arc;

use crate::metrics::TlsFailure;
use crate::outbound::deliver::{Cause, DeliveryReport};
use crate::outbound::tls::{AppliedPolicy, PolicyInputs, PolicyKind, PolicyRefusal};
use xshell_smtp::client::SessionFailure;

pub use xshell_core::tlsrpt::{PolicyType, ResultType, Session};

/// The policy type an applied policy is reported as.
pub fn policy_type(kind: PolicyKind) -> PolicyType {
    match kind {
        PolicyKind::Dane => PolicyType::Tlsa,
        PolicyKind::MtaStsEnforce | PolicyKind::MtaStsTesting => PolicyType::Sts,
        PolicyKind::DomainSecure
        | PolicyKind::RequireTls
        | PolicyKind::RequireTlsExtension
        | PolicyKind::Opportunistic
        | PolicyKind::None => PolicyType::NoPolicyFound,
    }
}

/// The RFC 8460 result type of a failed attempt, or `None` when the
/// failure says nothing about TLS (refused connection, lost session, a
/// reply to MAIL...). The one mapping: DANE and MTA-STS add their own
/// failures here (e.g. a `Cause` for a TLSA mismatch becomes
/// [`ResultType::TlsaInvalid`] when the policy was DANE).
pub fn result_type(policy: Option<PolicyKind>, cause: &Cause) -> Option<ResultType> {
    match cause {
        Cause::Session {
            failure: SessionFailure::StartTlsNotOffered | SessionFailure::StartTlsRefused(_),
            ..
        } => Some(ResultType::StarttlsNotSupported),
        Cause::TlsHandshake { reason, .. } => Some(certificate_result(policy, *reason)),
        _ => None,
    }
}

/// The RFC 8460 4.3 result type of a failed TLS handshake (or, under
/// MTA-STS `testing`, of a certificate check that would have failed it).
pub fn certificate_result(policy: Option<PolicyKind>, reason: TlsFailure) -> ResultType {
    match (policy, reason) {
        (_, TlsFailure::NameMismatch) => ResultType::CertificateHostMismatch,
        (_, TlsFailure::Expired) => ResultType::CertificateExpired,
        // RFC 7672 2.2 / RFC 8460 4.3.2.1: under DANE, a certificate that
        // matches no TLSA record is tlsa-invalid; the DANE verifier's own
        // refusal reaches us as Other.
        (Some(PolicyKind::Dane), TlsFailure::UntrustedCertificate | TlsFailure::Other) => {
            ResultType::TlsaInvalid
        }
        // Under MTA-STS too the MX certificate's failures are negotiation
        // failures (4.3.1); sts-webpki-invalid is the policy host's
        // (4.3.2.2).
        (_, TlsFailure::UntrustedCertificate) => ResultType::CertificateNotTrusted,
        (
            _,
            TlsFailure::NoClientCertificate
            | TlsFailure::Protocol
            | TlsFailure::Timeout
            | TlsFailure::Other,
        ) => ResultType::ValidationFailure,
    }
}

/// The sessions of one next hop's delivery worth reporting (see the
/// module docs). `domain`: the recipient domain of the hop.
pub fn sessions_of_hop(
    domain: &str,
    policy: &AppliedPolicy,
    report: &DeliveryReport,
    sending_ip: Option<IpAddr>,
    testing_failure: Option<ResultType>,
    now_ms: u64,
) -> Vec<Session> {
    let Some(kind) = policy.kind else {
        return Vec::new();
    };
    let base = |mx: &str, ip: IpAddr, result: Option<ResultType>| Session {
        time_ms: now_ms,
        domain: domain.trim_end_matches('.').to_ascii_lowercase(),
        policy: policy_type(kind),
        policy_strings: policy.policy_strings.clone(),
        mx: Some(mx.trim_end_matches('.').to_ascii_lowercase()),
        receiving_ip: Some(ip),
        sending_ip,
        result,
        count: 1,
    };
    let mut out: Vec<Session> = report
        .attempts
        .iter()
        .filter_map(|a| {
            result_type(Some(kind), &a.cause).map(|r| base(&a.host, a.addr.ip(), Some(r)))
        })
        .collect();
    if let Some((host, addr)) = &report.host {
        if let Some(f) = testing_failure {
            // MTA-STS testing: sent, but what the policy would have
            // refused is a failed session (RFC 8460 4.3.2.2, RFC 8461 5).
            out.push(base(host, addr.ip(), Some(f)));
        } else if report.tls.is_some() {
            out.push(base(host, addr.ip(), None));
        } else if kind == PolicyKind::Opportunistic {
            // We would have used STARTTLS: the MX did not offer it.
            out.push(base(
                host,
                addr.ip(),
                Some(ResultType::StarttlsNotSupported),
            ));
        }
    }
    out
}

/// Appends `sessions` to the log, off the async threads: the file I/O
/// (and, now and then, a compaction of the day) has no place on the
/// delivery's worker threads. A log that cannot be written is said in the
/// engine's log and never fails the delivery.
pub async fn record(log: &Arc<log::SessionLog>, sessions: Vec<Session>) {
    if sessions.is_empty() {
        return;
    }
    let log = Arc::clone(log);
    match tokio::task::spawn_blocking(move || log.append(&sessions)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "cannot record TLS sessions for TLS reporting"),
        Err(e) => tracing::error!(error = %e, "cannot record TLS sessions for TLS reporting"),
    }
}

/// A failure found before any session, which no delivery `Cause`
/// carries: a policy lookup that failed (`dnssec-invalid`, `dane-required`,
/// `sts-policy-fetch-error`, `sts-policy-invalid`, `sts-webpki-invalid`).
/// `None` when no policy was decided.
pub fn failure_session(
    domain: &str,
    policy: &AppliedPolicy,
    result: ResultType,
) -> Option<Session> {
    let kind = policy.kind?;
    Some(Session {
        time_ms: crate::queue::now_ms(),
        domain: domain.trim_end_matches('.').to_ascii_lowercase(),
        policy: policy_type(kind),
        policy_strings: policy.policy_strings.clone(),
        mx: None,
        receiving_ip: None,
        sending_ip: None,
        result: Some(result),
        count: 1,
    })
}

/// What the policy lookups found wrong before any session: an MTA-STS
/// policy the domain announced but that could not be fetched or was
/// invalid (RFC 8460 4.3.2.2).
pub fn lookup_failures(domain: &str, inputs: &PolicyInputs) -> Vec<Session> {
    let Some(failure) = inputs.mta_sts.as_ref().and_then(|m| m.failure) else {
        return Vec::new();
    };
    let sts = AppliedPolicy {
        kind: Some(PolicyKind::MtaStsEnforce),
        ..AppliedPolicy::default()
    };
    failure_session(domain, &sts, failure).into_iter().collect()
}

/// A refusal by DANE (RFC 8460 4.3.2.1): `dnssec-invalid` for bogus or
/// failed lookups, `dane-required` for SmtpDaneMode Mandatory without
/// usable records. Other refusals are not TLS reporting matters.
pub fn refusal_failures(
    domain: &str,
    policy: &AppliedPolicy,
    refusal: &PolicyRefusal,
) -> Vec<Session> {
    let PolicyRefusal::Dane { required, .. } = refusal else {
        return Vec::new();
    };
    let result = if *required {
        ResultType::DaneRequired
    } else {
        ResultType::DnssecInvalid
    };
    failure_session(domain, policy, result)
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests;
