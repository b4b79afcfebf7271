//! SMTP TLS Reporting (RFC 8460): the record of outbound TLS sessions the
//! engine keeps (`<state>/tlsrpt/<YYYY-MM-DD>.jsonl`, written by
//! xshell-transport) and the aggregate report made from it (RFC 8460 4.4).
//! Pure data and reading only: the engine writes the record and sends the
//! reports; Get-TlsReport reads the record directly when the engine is
//! stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::{Date, OffsetDateTime, Time};

use crate::control::TlsReportInfo;
use crate::model::OrgConfig;

/// The record's folder in a state folder.
pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("tlsrpt")
}

/// RFC 8460 4.3 `policy-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PolicyType {
    /// RFC 8461 MTA-STS (enforce or testing).
    #[serde(rename = "sts")]
    Sts,
    /// RFC 7672 DANE.
    #[serde(rename = "tlsa")]
    Tlsa,
    /// Neither: Domain Security, RequireTLS and opportunistic TLS are our
    /// own rules, not a policy the domain published.
    #[serde(rename = "no-policy-found")]
    NoPolicyFound,
}

impl PolicyType {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::Sts => "sts",
            PolicyType::Tlsa => "tlsa",
            PolicyType::NoPolicyFound => "no-policy-found",
        }
    }
}

/// RFC 8460 4.3 `result-type` of a failed session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResultType {
    // 4.3.1 negotiation failures
    StarttlsNotSupported,
    CertificateHostMismatch,
    CertificateExpired,
    CertificateNotTrusted,
    ValidationFailure,
    // 4.3.2 policy failures (DANE)
    TlsaInvalid,
    DnssecInvalid,
    DaneRequired,
    // 4.3.2 policy failures (MTA-STS)
    StsPolicyFetchError,
    StsPolicyInvalid,
    StsWebpkiInvalid,
}

impl ResultType {
    pub fn as_str(self) -> &'static str {
        match self {
            ResultType::StarttlsNotSupported => "starttls-not-supported",
            ResultType::CertificateHostMismatch => "certificate-host-mismatch",
            ResultType::CertificateExpired => "certificate-expired",
            ResultType::CertificateNotTrusted => "certificate-not-trusted",
            ResultType::ValidationFailure => "validation-failure",
            ResultType::TlsaInvalid => "tlsa-invalid",
            ResultType::DnssecInvalid => "dnssec-invalid",
            ResultType::DaneRequired => "dane-required",
            ResultType::StsPolicyFetchError => "sts-policy-fetch-error",
            ResultType::StsPolicyInvalid => "sts-policy-invalid",
            ResultType::StsWebpkiInvalid => "sts-webpki-invalid",
        }
    }
}

/// One recorded session attempt (one line of the day's log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Milliseconds since the epoch.
    #[serde(rename = "t")]
    pub time_ms: u64,
    /// The policy domain: the recipient domain, lower-case.
    #[serde(rename = "d")]
    pub domain: String,
    #[serde(rename = "p")]
    pub policy: PolicyType,
    /// RFC 8460 4.3 policy-string (TLSA records, MTA-STS policy lines).
    #[serde(rename = "s", default, skip_serializing_if = "Vec::is_empty")]
    pub policy_strings: Vec<String>,
    /// The MX host name.
    #[serde(rename = "mx", default, skip_serializing_if = "Option::is_none")]
    pub mx: Option<String>,
    /// Its address.
    #[serde(rename = "ip", default, skip_serializing_if = "Option::is_none")]
    pub receiving_ip: Option<IpAddr>,
    /// Our source address, when the connector sets one.
    #[serde(rename = "src", default, skip_serializing_if = "Option::is_none")]
    pub sending_ip: Option<IpAddr>,
    /// `None`: the session succeeded (TLS negotiated under the policy).
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ResultType>,
    /// How many sessions this line stands for (1, more after compaction).
    #[serde(rename = "n", default = "one", skip_serializing_if = "is_one")]
    pub count: u64,
}

fn one() -> u64 {
    1
}

fn is_one(n: &u64) -> bool {
    *n == 1
}

/// `YYYY-MM-DD`.
pub fn day_name(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Parses `YYYY-MM-DD`.
pub fn parse_day(s: &str) -> Option<Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s.trim(), &fmt).ok()
}

/// The UTC day of a time in milliseconds since the epoch.
pub fn day_of(ms: u64) -> Date {
    OffsetDateTime::from_unix_timestamp((ms / 1000) as i64)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .date()
}

/// `<dir>/<day>.jsonl`.
pub fn day_file(dir: &Path, day: Date) -> PathBuf {
    dir.join(format!("{}.jsonl", day_name(day)))
}

/// `<dir>/<day>.sent`: what of the day was sent: `<domain> <rua>` per
/// report sent, `<domain> *` once every rua of the domain got it (or the
/// domain publishes no TLSRPT record).
pub fn sent_file(dir: &Path, day: Date) -> PathBuf {
    dir.join(format!("{}.sent", day_name(day)))
}

/// The sessions recorded on `day` (unreadable lines, such as a line torn
/// by a crash, skipped); none when there is no file.
pub fn read_day(dir: &Path, day: Date) -> io::Result<Vec<Session>> {
    let text = match std::fs::read(day_file(dir, day)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice::<Session>(l).ok())
        .collect())
}

/// What of `day` was already sent.
pub fn read_sent(dir: &Path, day: Date) -> BTreeSet<String> {
    std::fs::read(sent_file(dir, day))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// What a report needs besides the sessions.
#[derive(Debug, Clone)]
pub struct ReportMeta {
    /// TlsRptOrganizationName (else the server's FQDN).
    pub organization: String,
    /// TlsRptReportingAddress.
    pub contact: String,
    /// Our FQDN: the Submitter (RFC 8460 5.3).
    pub submitter: String,
}

/// One policy domain's report for a UTC day.
#[derive(Debug, Clone)]
pub struct DomainReport {
    pub domain: String,
    pub day: Date,
    pub report_id: String,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    pub successful: u64,
    pub failed: u64,
    /// The RFC 8460 4.4 JSON.
    pub json: Value,
}

/// `2026-12-07T00:00:00Z`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The UTC day's bounds: its start and the end of its last second
/// (RFC 8460 4.4's example: `...T00:00:00Z` to `...T23:59:59Z`), or
/// `until` if the day is not over.
pub fn day_range(day: Date, until: Option<OffsetDateTime>) -> (OffsetDateTime, OffsetDateTime) {
    let start = day.with_time(Time::MIDNIGHT).assume_utc();
    let last = start + time::Duration::seconds(86_399);
    let end = match until {
        Some(u) if u < last => u.replace_nanosecond(0).unwrap_or(u),
        _ => last,
    };
    (start, end)
}

/// RFC 8460 4.4 reports of `day`, one per policy domain (sorted).
/// `until`: the day is not over, the report covers up to then.
pub fn build(
    sessions: &[Session],
    day: Date,
    until: Option<OffsetDateTime>,
    meta: &ReportMeta,
) -> Vec<DomainReport> {
    // domain -> (policy type, strings) -> (ok, failures by detail)
    type Detail = (ResultType, Option<IpAddr>, Option<String>, Option<IpAddr>);
    #[derive(Default)]
    struct Tally {
        ok: u64,
        failed: BTreeMap<Detail, u64>,
    }
    let mut by_domain: BTreeMap<&str, BTreeMap<(PolicyType, &[String]), Tally>> = BTreeMap::new();
    for s in sessions {
        let t = by_domain
            .entry(s.domain.as_str())
            .or_default()
            .entry((s.policy, s.policy_strings.as_slice()))
            .or_default();
        match s.result {
            None => t.ok += s.count,
            Some(r) => {
                *t.failed
                    .entry((r, s.sending_ip, s.mx.clone(), s.receiving_ip))
                    .or_default() += s.count
            }
        }
    }
    let (start, end) = day_range(day, until);
    let compact_day = day_name_compact(day);
    by_domain
        .into_iter()
        .map(|(domain, policies)| {
            let mut successful = 0;
            let mut failed = 0;
            let policies: Vec<Value> = policies
                .into_iter()
                .map(|((ptype, strings), tally)| {
                    let fails: u64 = tally.failed.values().sum();
                    successful += tally.ok;
                    failed += fails;
                    let mut policy = json!({
                        "policy-type": ptype.as_str(),
                        "policy-domain": domain,
                    });
                    if !strings.is_empty() {
                        policy["policy-string"] = json!(strings);
                    }
                    // RFC 8460 4.4: mx-host lists the MTA-STS policy's mx
                    // patterns.
                    let mx: Vec<&str> = strings
                        .iter()
                        .filter_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            (k.trim() == "mx").then_some(v.trim())
                        })
                        .collect();
                    if ptype == PolicyType::Sts && !mx.is_empty() {
                        policy["mx-host"] = json!(mx);
                    }
                    let details: Vec<Value> = tally
                        .failed
                        .iter()
                        .map(|((r, src, mx, ip), n)| {
                            let mut d = json!({
                                "result-type": r.as_str(),
                                "failed-session-count": n,
                            });
                            if let Some(src) = src {
                                d["sending-mta-ip"] = json!(src.to_string());
                            }
                            if let Some(mx) = mx {
                                d["receiving-mx-hostname"] = json!(mx);
                            }
                            if let Some(ip) = ip {
                                d["receiving-ip"] = json!(ip.to_string());
                            }
                            d
                        })
                        .collect();
                    let mut p = json!({
                        "policy": policy,
                        "summary": {
                            "total-successful-session-count": tally.ok,
                            "total-failure-session-count": fails,
                        },
                    });
                    if !details.is_empty() {
                        p["failure-details"] = json!(details);
                    }
                    p
                })
                .collect();
            // Unique per day, domain and submitter; a report of a day not
            // over yet gets the time too (a later one is another report).
            let partial = end < start + time::Duration::seconds(86_399);
            let report_id = match partial {
                true => {
                    format!(
                        "{compact_day}.{:02}{:02}{:02}.{domain}@{}",
                        end.hour(),
                        end.minute(),
                        end.second(),
                        meta.submitter
                    )
                }
                false => format!("{compact_day}.{domain}@{}", meta.submitter),
            };
            let json = json!({
                "organization-name": meta.organization,
                "date-range": {
                    "start-datetime": rfc3339(start),
                    "end-datetime": rfc3339(end),
                },
                "contact-info": meta.contact,
                "report-id": report_id,
                "policies": policies,
            });
            DomainReport {
                domain: domain.to_string(),
                day,
                report_id,
                start,
                end,
                successful,
                failed,
                json,
            }
        })
        .collect()
}

fn day_name_compact(d: Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
}

/// The report settings of `cfg` (TlsRptReportingAddress,
/// TlsRptOrganizationName), or `None` when reporting is off.
pub fn meta_of(cfg: &OrgConfig, fqdn: &str) -> Option<ReportMeta> {
    let tc = &cfg.transport_config;
    let contact = tc.tls_rpt_reporting_address.as_ref()?.to_string();
    Some(ReportMeta {
        organization: tc
            .tls_rpt_organization_name
            .clone()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| fqdn.to_string()),
        contact,
        submitter: fqdn.to_string(),
    })
}

/// The reports of `day` in `dir` as they stand (optionally of one
/// domain); a day not over yet covers up to `now`. Without a reporting
/// address the organization name and contact are empty (nothing would be
/// sent).
pub fn reports_in(
    dir: &Path,
    day: Date,
    domain: Option<&str>,
    meta: Option<ReportMeta>,
    fqdn: &str,
    now: OffsetDateTime,
) -> io::Result<Vec<DomainReport>> {
    let meta = meta.unwrap_or(ReportMeta {
        organization: String::new(),
        contact: String::new(),
        submitter: fqdn.to_string(),
    });
    let until = (day >= now.date()).then_some(now);
    let mut sessions = read_day(dir, day)?;
    if let Some(d) = domain {
        let d = d.trim_end_matches('.').to_ascii_lowercase();
        sessions.retain(|s| s.domain == d);
    }
    Ok(build(&sessions, day, until, &meta))
}

/// The Get-TlsReport view of a report; `sent`: the day's sent entries.
pub fn info(r: &DomainReport, sent: &BTreeSet<String>) -> TlsReportInfo {
    let policies = r.json["policies"].as_array().cloned().unwrap_or_default();
    let mut types: Vec<String> = policies
        .iter()
        .filter_map(|p| p["policy"]["policy-type"].as_str().map(str::to_string))
        .collect();
    types.dedup();
    let failures = policies
        .iter()
        .flat_map(|p| p["failure-details"].as_array().cloned().unwrap_or_default())
        .map(|d| {
            format!(
                "{} {} ({})",
                d["result-type"].as_str().unwrap_or("?"),
                d["receiving-mx-hostname"].as_str().unwrap_or("-"),
                d["failed-session-count"].as_u64().unwrap_or(0)
            )
        })
        .collect();
    let prefix = format!("{} ", r.domain);
    TlsReportInfo {
        domain: r.domain.clone(),
        date: day_name(r.day),
        report_id: r.report_id.clone(),
        policy_types: types,
        successful_sessions: r.successful,
        failed_sessions: r.failed,
        failures,
        sent_to: sent
            .iter()
            .filter_map(|e| e.strip_prefix(&prefix))
            .filter(|rua| *rua != "*")
            .map(str::to_string)
            .collect(),
        json: serde_json::to_string_pretty(&r.json).unwrap_or_default(),
    }
}

/// The DKIM key mailed reports are signed with (RFC 8460 5.3): the key
/// `<TlsRptDkimSelector>._domainkey.<domain of TlsRptReportingAddress>`
/// in this server's state folder (New-DkimSigningKey). `Err`: why the
/// reports go unsigned, in one line an administrator can act on.
pub fn signing_key(
    cfg: &OrgConfig,
    secrets: &dyn crate::store::Backend,
) -> Result<(String, String, crate::dkim::SigningKey), String> {
    let tc = &cfg.transport_config;
    let Some(addr) = &tc.tls_rpt_reporting_address else {
        return Err("TLS reporting is off".into());
    };
    let domain = addr.domain().trim_end_matches('.').to_ascii_lowercase();
    let unsigned = "mailed TLS reports go unsigned and receivers may discard them (RFC 8460 5.3)";
    let Some(selector) = tc.tls_rpt_dkim_selector.as_deref() else {
        return Err(format!(
            "no DKIM key (TlsRptDkimSelector is not set): {unsigned}. Make one with New-DkimSigningKey \
             -Domain {domain} -Selector <name>, publish its TXT record, then Set-TransportConfig \
             -TlsRptDkimSelector <name>"
        ));
    };
    let name = crate::dkim::key_file_name(selector, &domain);
    let pem = secrets.get_secret(&name).map_err(|e| {
        format!(
            "the DKIM key {name} (TlsRptDkimSelector {selector}, domain {domain}) is not in this server's \
             state folder ({e}): {unsigned}. Run New-DkimSigningKey -Domain {domain} -Selector {selector} \
             here, or copy the key file from the server that made it"
        )
    })?;
    let pem = zeroize::Zeroizing::new(pem);
    let key = crate::dkim::SigningKey::from_pem(&pem)
        .map_err(|e| format!("the DKIM key {name} cannot be used: {e}: {unsigned}"))?;
    Ok((domain, selector.to_string(), key))
}
