//! Sending the reports: the daily task, and the explicit trigger
//! (Send-TlsReport over the control socket).
//!
//! A day's reports go once the UTC day is over ([`CHECK_EVERY`] after
//! midnight at the latest; RFC 8460 4.1). For each policy domain of the
//! day: the `_smtp._tls.<domain>` TXT record is looked up through
//! ExternalDNSServers (the runner's resolver settings), and the report is
//! sent to each `rua`: `mailto:` queued as an RFC 8460 5.3 message from
//! TlsRptReportingAddress (delivered like any other message: retried,
//! tracked), `https:` POSTed as `application/tlsrpt+gzip` (RFC 8460 5.4),
//! the server's certificate validated against the store's trusted roots
//! and the system's (`/etc/ssl/certs/ca-certificates.crt`). What was sent
//! is remembered per day and rua ([`super::log::SessionLog::mark_sent`]); a
//! failed POST is tried again at the next check, for [`RETRY_DAYS`] days.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use time::{Date, OffsetDateTime};
use tokio::sync::watch;
use xshell_core::store::Store;

use super::log::{SessionLog, day_name};
use super::report::{self, DomainReport, ReportMeta, Rua};
use crate::config::RuntimeConfig;
use crate::delivery::DeliveryNotifier;
use crate::dns::Resolver;
use crate::queue::{Envelope, GroupCommitter};

/// How often the daily task looks for a finished day to report.
pub const CHECK_EVERY: Duration = Duration::from_secs(3600);
/// How many days after it ended a day's unsent reports are still tried.
pub const RETRY_DAYS: i64 = 2;
/// At most this many rua of one record are used (a record listing
/// hundreds must not make us send hundreds of reports).
pub const MAX_RUAS: usize = 8;
/// The system's CA bundle (Debian's ca-certificates).
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Why reports could not be made or sent.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(
        "TLS reporting is off: set Set-TransportConfig -TlsRptReportingAddress (the address reports are sent from)"
    )]
    NotConfigured,
    #[error(transparent)]
    Log(#[from] super::log::LogError),
    #[error("cannot read the store: {0}")]
    Store(String),
    #[error("cannot set up the resolver: {0}")]
    Resolver(String),
}

/// What one send did, per domain and rua.
#[derive(Debug, Clone, Default)]
pub struct SendSummary {
    /// `<domain> -> <rua>: <what happened>`.
    pub sent: Vec<String>,
    /// Domains without a usable `_smtp._tls` record (why).
    pub skipped: Vec<String>,
    /// Sends that failed (why).
    pub failed: Vec<String>,
    /// Reports of a day that is over, sent before (not sent again).
    pub already: Vec<String>,
    /// Why mailed reports went without a DKIM signature (RFC 8460 5.3),
    /// when any did.
    pub unsigned: Option<String>,
}

/// The DKIM key of the reporting domain (domain, selector, key), or why
/// there is none.
type Signing = Result<(String, String, xshell_core::dkim::SigningKey), String>;

/// Reporting's reach: the record, the configuration, the queue.
pub struct Reporter {
    pub log: Arc<SessionLog>,
    pub store: Arc<Store>,
    pub config: Arc<ArcSwap<RuntimeConfig>>,
    pub committer: Arc<GroupCommitter>,
    pub delivery: DeliveryNotifier,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("log", &self.log.dir())
            .finish_non_exhaustive()
    }
}

use xshell_core::tlsrpt::meta_of;

impl Reporter {
    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    /// The reports of `day` as they stand (what would be sent), optionally
    /// of one domain.
    pub fn reports(
        &self,
        day: Date,
        domain: Option<&str>,
    ) -> Result<Vec<DomainReport>, ReportError> {
        let rt = self.config.load();
        let cfg = self
            .store
            .snapshot()
            .map_err(|e| ReportError::Store(e.to_string()))?;
        let meta = meta_of(&cfg, &rt.server_fqdn);
        self.build(day, domain, meta, &rt.server_fqdn)
    }

    fn build(
        &self,
        day: Date,
        domain: Option<&str>,
        meta: Option<ReportMeta>,
        fqdn: &str,
    ) -> Result<Vec<DomainReport>, ReportError> {
        xshell_core::tlsrpt::reports_in(self.log.dir(), day, domain, meta, fqdn, Self::now())
            .map_err(|e| {
                ReportError::Log(super::log::LogError::Io {
                    op: "read",
                    path: self.log.dir().to_path_buf(),
                    source: e,
                })
            })
    }

    /// Sends the reports of `day` (optionally of one domain) that were not
    /// sent yet. A day not over yet is sent as it stands and not marked
    /// sent (the report after midnight covers the whole day).
    pub async fn send_day(
        &self,
        day: Date,
        domain: Option<&str>,
    ) -> Result<SendSummary, ReportError> {
        let rt = self.config.load_full();
        let store = Arc::clone(&self.store);
        let cfg = tokio::task::spawn_blocking(move || store.snapshot())
            .await
            .map_err(|e| ReportError::Store(e.to_string()))?
            .map_err(|e| ReportError::Store(e.to_string()))?;
        let meta = meta_of(&cfg, &rt.server_fqdn).ok_or(ReportError::NotConfigured)?;
        let over = day < Self::now().date();
        let reports = self.build(day, domain, Some(meta.clone()), &rt.server_fqdn)?;
        let resolver =
            crate::dns::HickoryResolver::new(&rt.send.dns_servers, Duration::from_secs(5), 2)
                .map_err(|e| ReportError::Resolver(e.to_string()))?;
        // RFC 8460 5.3: mailed reports carry the reporting domain's DKIM
        // signature; without a key they still go (a warning says so).
        let signing = xshell_core::tlsrpt::signing_key(&cfg, self.store.backend());
        let before = self.log.sent(day);
        let mut done = before.clone();
        let mut summary = SendSummary::default();
        for r in &reports {
            // Every rua of the domain done (or it has no record): no lookup.
            let complete = format!("{} *", r.domain);
            if over && done.contains(&complete) {
                summary.already.push(r.domain.clone());
                continue;
            }
            let name = format!("_smtp._tls.{}", r.domain);
            let ruas = match resolver.txt(&name).await {
                Ok(txt) => report::parse_record(&txt).map_err(|e| e.to_string()),
                Err(e) if e.is_permanent() => Err("no TLSRPTv1 record".to_string()),
                Err(e) => {
                    summary.failed.push(format!("{}: {name}: {e}", r.domain));
                    continue;
                }
            };
            let ruas = match ruas {
                Ok(r) => r,
                Err(why) => {
                    summary.skipped.push(format!("{}: {name}: {why}", r.domain));
                    done.insert(complete);
                    continue;
                }
            };
            if ruas.len() > MAX_RUAS {
                tracing::warn!(domain = %r.domain, ruas = ruas.len(), "TLS report: only the first {MAX_RUAS} rua of the _smtp._tls record are used");
            }
            let mut all_done = true;
            for rua in ruas.into_iter().take(MAX_RUAS) {
                let key = format!("{} {rua}", r.domain);
                if over && done.contains(&key) {
                    summary.already.push(format!("{} -> {rua}", r.domain));
                    continue;
                }
                match self
                    .send_one(&cfg, &resolver, r, &meta, &rua, &signing)
                    .await
                {
                    Ok((what, unsigned)) => {
                        if let Some(why) = unsigned {
                            summary.unsigned = Some(why);
                        }
                        tracing::info!(domain = %r.domain, rua = %rua, report_id = %r.report_id, "TLS report sent: {what}");
                        summary.sent.push(format!("{} -> {rua}: {what}", r.domain));
                        done.insert(key);
                    }
                    Err(why) => {
                        tracing::warn!(domain = %r.domain, rua = %rua, error = %why, "TLS report not sent");
                        summary.failed.push(format!("{} -> {rua}: {why}", r.domain));
                        all_done = false;
                    }
                }
            }
            if all_done {
                done.insert(complete);
            }
        }
        if over && done != before {
            self.log.mark_sent(day, &done)?;
        }
        if let Some(why) = &summary.unsigned {
            tracing::warn!(day = %day_name(day), "TLS reports sent without a DKIM signature: {why}");
        }
        Ok(summary)
    }

    async fn send_one(
        &self,
        cfg: &xshell_core::model::OrgConfig,
        resolver: &crate::dns::HickoryResolver,
        r: &DomainReport,
        meta: &ReportMeta,
        rua: &Rua,
        signing: &Signing,
    ) -> Result<(String, Option<String>), String> {
        match rua {
            Rua::Mailto(to) => {
                let now = Self::now();
                let mut msg = report::message(r, meta, &meta.contact, to, now);
                let unsigned = match signing {
                    Ok((domain, selector, key)) => {
                        let signer = xshell_core::dkim::Signer {
                            key,
                            domain,
                            selector,
                            headers: xshell_core::dkim::TLSRPT_HEADERS,
                        };
                        match signer.sign(&msg, now.unix_timestamp()) {
                            Ok(field) => {
                                let mut signed = field.into_bytes();
                                signed.extend_from_slice(&msg);
                                msg = signed;
                                None
                            }
                            Err(e) => Some(format!("cannot DKIM-sign the report: {e}")),
                        }
                    }
                    Err(why) => Some(why.clone()),
                };
                let env = Envelope::new(meta.contact.clone(), [to.clone()]);
                let committer = Arc::clone(&self.committer);
                let id = tokio::task::spawn_blocking(move || committer.enqueue(&env, &msg))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| format!("cannot queue the report: {e}"))?;
                self.delivery.queued(id.clone());
                let what = match &unsigned {
                    None => format!("queued as {id}, DKIM-signed"),
                    Some(_) => format!("queued as {id}, not signed"),
                };
                Ok((what, unsigned))
            }
            Rua::Https(url) => {
                let tls = https_config(cfg).map_err(|e| format!("TLS setup: {e}"))?;
                let limits = crate::https::Limits {
                    timeout: Duration::from_secs(60),
                    max_body: 64 * 1024,
                };
                let resp = crate::https::post(
                    resolver,
                    tls,
                    url,
                    "application/tlsrpt+gzip",
                    report::gzip(&r.json),
                    limits,
                )
                .await
                .map_err(|e| e.to_string())?;
                if (200..300).contains(&resp.status) {
                    Ok((format!("HTTP {}", resp.status), None))
                } else {
                    Err(format!("the server answered HTTP {}", resp.status))
                }
            }
        }
    }

    /// The daily task: after each UTC day, its reports (see the module
    /// docs). Stops when `stop` becomes true.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        // A first look soon after start: a day may have ended while the
        // engine was stopped.
        let mut wait = Duration::from_secs(60);
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = until_next_check();
            let today = Self::now().date();
            let log = Arc::clone(&self.log);
            let days = tokio::task::spawn_blocking(move || {
                log.prune(today);
                log.days()
            })
            .await;
            let Ok(Ok(days)) = days else { continue };
            for day in days
                .into_iter()
                .filter(|d| *d < today && (today - *d).whole_days() <= RETRY_DAYS)
            {
                match self.send_day(day, None).await {
                    Ok(s) if !s.sent.is_empty() || !s.failed.is_empty() => tracing::info!(
                        day = %day_name(day),
                        sent = s.sent.len(),
                        failed = s.failed.len(),
                        skipped = s.skipped.len(),
                        "TLS reports"
                    ),
                    Ok(_) => {}
                    // Off: nothing is sent, nothing to say every hour.
                    Err(ReportError::NotConfigured) => break,
                    Err(e) => {
                        tracing::warn!(day = %day_name(day), error = %e, "TLS reports not sent")
                    }
                }
            }
        }
    }
}

/// Until the next check: [`CHECK_EVERY`], or five minutes past the next
/// UTC midnight if that comes first.
fn until_next_check() -> Duration {
    let now = OffsetDateTime::now_utc();
    let next_midnight = (now.date() + time::Duration::days(1))
        .with_time(time::Time::MIDNIGHT)
        .assume_utc()
        + time::Duration::minutes(5);
    let to_midnight = Duration::try_from(next_midnight - now).unwrap_or(CHECK_EVERY);
    to_midnight.min(CHECK_EVERY)
}

/// The TLS client configuration for HTTPS report posts: TLS 1.2+, the
/// store's trusted roots and the system's.
fn https_config(
    cfg: &xshell_core::model::OrgConfig,
) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    for r in crate::tls::trusted_roots(cfg) {
        let _ = roots.add(r);
    }
    if let Ok(iter) = CertificateDer::pem_file_iter(SYSTEM_ROOTS) {
        for c in iter.flatten() {
            let _ = roots.add(c);
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_daily_check_comes_within_the_hour() {
        let d = super::until_next_check();
        assert!(
            d <= super::CHECK_EVERY && d > std::time::Duration::ZERO,
            "{d:?}"
        );
    }
}
