use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::Value;

params!(p {
    Identity: String = param(Kind::Str, "The server (Name or Fqdn; default: the organization's default server). A server without settings of its own gets a copy of the default server's, then this change.")
        .position(0)
        .pipeline(Pipe::Both),
    Name: String = param(Kind::Str, "The server's name."),
    Fqdn: String = param(Kind::Str, "The server's fully qualified domain name."),
    ExternalDNSServers: Vec<HostPort> = param(Kind::List(&Kind::HostPort), "Resolvers for MX lookups, ip[:port]; empty means the system's."),
    DnssecTrustAnchorFile: String = param(Kind::Path, "xshell extension: a file of DNSKEY records (zone file format, e.g. `. 3600 IN DNSKEY 257 3 13 ...`) that DANE's DNSSEC validation trusts instead of the IANA root keys: a lab's own signed root, or an island of trust. $null: the IANA root keys."),
    TransientFailureRetryInterval: TimeSpan = param(Kind::TimeSpan { min: 1, max: 43_200 }, "Wait between quick retries.")
        .default("00:05:00"),
    TransientFailureRetryCount: u32 = param(Kind::Int { min: 0, max: 15 }, "Quick retries before the longer MessageRetryInterval.")
        .aliases(&["TransientFailureRetryAttempts"])
        .default("6"),
    OutboundConnectionFailureRetryInterval: TimeSpan = param(Kind::TimeSpan { min: 1, max: 72_000 }, "Wait after a connection failure.")
        .default("00:10:00"),
    MessageRetryInterval: TimeSpan = param(Kind::TimeSpan { min: 1, max: 86_400 }, "Wait between later retries.")
        .default("00:15:00"),
    MessageExpirationTimeout: TimeSpan = param(Kind::TimeSpan { min: 5, max: 7_776_000 }, "When an undeliverable message fails with a non-delivery report.")
        .default("2.00:00:00"),
    DelayNotificationTimeout: TimeSpan = param(Kind::TimeSpan { min: 1, max: 2_592_000 }, "When the sender is told of the delay.")
        .default("04:00:00"),
    MaxConnectionRatePerMinute: u32 = param(Kind::Int {
                min: 1,
                max: 1_000_000,
            }, "New connections accepted per minute.")
        .default("1200"),
    MaxInboundConnectionPerSource: u32 = param(Kind::Int {
                min: 1,
                max: 100_000,
            }, "Simultaneous connections from one IP.")
        .default("20"),
    MessageTrackingLogEnabled: bool = param(Kind::Bool, "Write the tracking log.")
        .default("$true"),
    MessageTrackingLogPath: String = param(Kind::Path, "Folder of the tracking log (default: <store>/log)."),
    QueueDatabasePath: String = param(Kind::Path, "Folder of the queue (default: <store>/queue)."),
    MailboxRootPath: String = param(Kind::Path, "Root of the Maildir mailboxes (default: <store>/mailboxes)."),
    // metrics
    MetricsBindings: Vec<Binding> = param(Kind::List(&Kind::Binding), "Where xshell-transport serves Prometheus metrics (GET /metrics), IP:port; $null or empty turns it off (the default)."),
    // --- certificate lifecycle (issue 18 part 3) ---
    CertificateExpiryWarningDays: u32 = param(Kind::Int { min: 0, max: 365 }, "xshell extension: days before an SMTP certificate expires from which the engine logs Exchange's warning (event 12018) and Test-DomainSecurity warns; 0 turns the early warning off.")
        .default("30"),
    // protocol logs
    ReceiveProtocolLogPath: String = param(Kind::Path, "Folder of the receive connectors' protocol logs (default: <store>/log/ProtocolLog/SmtpReceive)."),
    SendProtocolLogPath: String = param(Kind::Path, "Folder of the send connectors' protocol logs (default: <store>/log/ProtocolLog/SmtpSend)."),
    ReceiveProtocolLogMaxAge: TimeSpan = param(Kind::TimeSpan { min: 0, max: 2_147_483_647 }, "Receive protocol log files older than this are deleted; 00:00:00 keeps them regardless of age.")
        .default("30.00:00:00"),
    SendProtocolLogMaxAge: TimeSpan = param(Kind::TimeSpan { min: 0, max: 2_147_483_647 }, "Send protocol log files older than this are deleted; 00:00:00 keeps them regardless of age.")
        .default("30.00:00:00"),
    ReceiveProtocolLogMaxDirectorySize: SizeLimit = param(Kind::Size { min: 1, max: 9_223_372_036_854_775_807, unlimited: true }, "Largest total size of the receive protocol log folder; the oldest files are deleted beyond it.")
        .default("250MB"),
    SendProtocolLogMaxDirectorySize: SizeLimit = param(Kind::Size { min: 1, max: 9_223_372_036_854_775_807, unlimited: true }, "Largest total size of the send protocol log folder; the oldest files are deleted beyond it.")
        .default("250MB"),
    ReceiveProtocolLogMaxFileSize: SizeLimit = param(Kind::Size { min: 1, max: 9_223_372_036_854_775_807, unlimited: true }, "Size at which a new receive protocol log file is started (at most ReceiveProtocolLogMaxDirectorySize).")
        .default("10MB"),
    SendProtocolLogMaxFileSize: SizeLimit = param(Kind::Size { min: 1, max: 9_223_372_036_854_775_807, unlimited: true }, "Size at which a new send protocol log file is started (at most SendProtocolLogMaxDirectorySize).")
        .default("10MB"),
    MtaStsTrustedRootsPath: String = param(Kind::Str, "A PEM file of the root certificates MTA-STS trusts, for fetching policies over HTTPS and for the MX certificates of domains with a policy (RFC 8461 3.3, 4.2). $null: the system's bundle, /etc/ssl/certs/ca-certificates.crt.")
        .default("/etc/ssl/certs/ca-certificates.crt"),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Set-TransportService",
    aliases: &[],
    synopsis: "Change this transport server's settings: name, FQDN, DNS servers, retry and expiry.",
    description: "The FQDN is used in EHLO and to select the server's certificate. ExternalDNSServers are the \
resolvers used for MX lookups (ip[:port]). Temporary failures are retried every TransientFailureRetryInterval, \
connection failures every OutboundConnectionFailureRetryInterval; after DelayNotificationTimeout the sender gets a \
delay notice and after MessageExpirationTimeout a non-delivery report. The protocol log settings say where \
connectors with ProtocolLoggingLevel Verbose write their SMTP conversations (CSV, as Exchange's) and how much of them \
is kept: a new file every hour or at MaxFileSize, the oldest deleted beyond MaxAge or MaxDirectorySize. \
CertificateExpiryWarningDays (an xshell \
extension; Exchange has a fixed window) sets when the engine starts logging that an SMTP certificate expires soon \
(Exchange's event 12018; an expired one is logged as an error, event 12016), at start, on each reload and once a \
day; Test-DomainSecurity uses the same window for its certificate steps. MetricsBindings makes the running \
engine serve Prometheus metrics over HTTP (GET /metrics) on those addresses; it follows the change within a \
second, and a binding it cannot listen on is logged and retried without stopping mail flow.",
    params: p::LIST,
    sets: &[],
    impact: Impact::Medium,
    outputs: "Nothing.",
    examples: &[
        Example {
            title: "Name the server and use a DNS server on loopback for MX lookups",
            code: "Set-TransportService -Fqdn mail.orga.example -ExternalDNSServers 127.0.0.1:5353",
            setup: &[],
            expect: &[],
        },
        Example {
            title: "Serve Prometheus metrics on loopback (turn it off again with -MetricsBindings $null)",
            code: "Set-TransportService -MetricsBindings 127.0.0.1:9587",
            setup: &[],
            expect: &[],
        },
        Example {
            title: "Keep receive protocol logs for a week, in at most 1 GB",
            code: "Set-TransportService -ReceiveProtocolLogMaxAge 7.00:00:00 -ReceiveProtocolLogMaxDirectorySize 1GB",
            setup: &[],
            expect: &[],
        },
    ],
    run,
};

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let snap = ctx.store.snapshot()?;
    let target = match b.get(p::Identity) {
        Some(id) => crate::server::for_new_object(ctx, "Identity", &id)?,
        None => snap.default_server().to_string(),
    };
    let is_default = xshell_core::model::same_server(&target, snap.default_server());
    if !is_default && b.get(p::Name).is_some() {
        return Err(CmdletError::bad_value(
            "Name",
            format!(
                "only the default server ({}) can be renamed; '{target}' is the name its xshell-transport --server runs under",
                snap.default_server()
            ),
        ));
    }
    if let Some(new) = b.get(p::Name) {
        xshell_core::model::check_server_name(new.trim())
            .map_err(|e| CmdletError::bad_value("Name", e.message))?;
        if let Some(other) = snap.server_names().into_iter().skip(1).find(|n| {
            xshell_core::model::same_server(n, &new) && !xshell_core::model::same_server(n, &target)
        }) {
            return Err(CmdletError::bad_value(
                "Name",
                format!(
                    "'{new}' is already a server of this organization ({other}); the default server needs a name of its own"
                ),
            ));
        }
    }
    let anchor = match b.get(p::DnssecTrustAnchorFile) {
        Some(path) => Some(check_trust_anchor(&path)?),
        None => None,
    };
    ctx.commit("Set TransportService", &target, |cfg| {
        // Per-server settings (Exchange's Set-TransportService is per
        // server): a server without its own starts from the default's.
        let s = if xshell_core::model::same_server(&target, cfg.default_server()) {
            &mut cfg.transport_service
        } else {
            let i = match cfg
                .transport_services
                .iter()
                .position(|s| xshell_core::model::same_server(&s.name, &target))
            {
                Some(i) => i,
                None => {
                    let copy = cfg.service_for(&target);
                    cfg.transport_services.push(copy);
                    cfg.transport_services.len() - 1
                }
            };
            &mut cfg.transport_services[i]
        };
        b.assign(p::Name, &mut s.name);
        b.assign_opt(p::Fqdn, &mut s.fqdn);
        xshell_core::idn::keep_as_a_label(&mut s.fqdn);
        b.assign_list(p::ExternalDNSServers, &mut s.external_dns_servers);
        b.assign_opt(p::DnssecTrustAnchorFile, &mut s.dnssec_trust_anchor_file);
        if anchor.is_some() {
            s.dnssec_trust_anchor_file = anchor.clone();
        }
        b.assign(
            p::TransientFailureRetryInterval,
            &mut s.transient_failure_retry_interval,
        );
        b.assign(
            p::TransientFailureRetryCount,
            &mut s.transient_failure_retry_count,
        );
        b.assign(
            p::OutboundConnectionFailureRetryInterval,
            &mut s.outbound_connection_failure_retry_interval,
        );
        b.assign(p::MessageRetryInterval, &mut s.message_retry_interval);
        b.assign(
            p::MessageExpirationTimeout,
            &mut s.message_expiration_timeout,
        );
        b.assign(
            p::DelayNotificationTimeout,
            &mut s.delay_notification_timeout,
        );
        b.assign(
            p::MaxConnectionRatePerMinute,
            &mut s.max_connection_rate_per_minute,
        );
        b.assign(
            p::MaxInboundConnectionPerSource,
            &mut s.max_inbound_connection_per_source,
        );
        b.assign(
            p::MessageTrackingLogEnabled,
            &mut s.message_tracking_log_enabled,
        );
        b.assign_opt(p::MessageTrackingLogPath, &mut s.message_tracking_log_path);
        b.assign_opt(p::QueueDatabasePath, &mut s.queue_database_path);
        b.assign_opt(p::MailboxRootPath, &mut s.mailbox_root_path);
        // metrics
        b.assign_list(p::MetricsBindings, &mut s.metrics_bindings);
        // --- certificate lifecycle (issue 18 part 3) ---
        b.assign(
            p::CertificateExpiryWarningDays,
            &mut s.certificate_expiry_warning_days,
        );
        // protocol logs
        b.assign_opt(p::ReceiveProtocolLogPath, &mut s.receive_protocol_log_path);
        b.assign_opt(p::SendProtocolLogPath, &mut s.send_protocol_log_path);
        b.assign(
            p::ReceiveProtocolLogMaxAge,
            &mut s.receive_protocol_log_max_age,
        );
        b.assign(p::SendProtocolLogMaxAge, &mut s.send_protocol_log_max_age);
        b.assign(
            p::ReceiveProtocolLogMaxDirectorySize,
            &mut s.receive_protocol_log_max_directory_size,
        );
        b.assign(
            p::SendProtocolLogMaxDirectorySize,
            &mut s.send_protocol_log_max_directory_size,
        );
        b.assign(
            p::ReceiveProtocolLogMaxFileSize,
            &mut s.receive_protocol_log_max_file_size,
        );
        b.assign(
            p::SendProtocolLogMaxFileSize,
            &mut s.send_protocol_log_max_file_size,
        );
        b.assign_opt(p::MtaStsTrustedRootsPath, &mut s.mta_sts_trusted_roots_path);
        s.validate()?;
        let view = cfg.for_server(&target);
        check_metrics_bindings(
            &view.transport_service.metrics_bindings,
            &view.receive_connectors,
        )?;
        Ok(())
    })?;
    Ok(Vec::new())
}

/// DnssecTrustAnchorFile must be a readable file with at least one DNSKEY
/// record; it is stored as an absolute path (the engine runs elsewhere).
fn check_trust_anchor(path: &str) -> Result<String, CmdletError> {
    let bad = |why: String| CmdletError::bad_value("DnssecTrustAnchorFile", why);
    let full = std::fs::canonicalize(path.trim())
        .map_err(|e| bad(format!("cannot read '{path}': {e}")))?;
    let text = std::fs::read_to_string(&full)
        .map_err(|e| bad(format!("cannot read '{}': {e}", full.display())))?;
    let dnskeys = text
        .lines()
        .filter(|l| {
            let l = l.split(';').next().unwrap_or("");
            l.split_whitespace()
                .any(|w| w.eq_ignore_ascii_case("DNSKEY"))
        })
        .count();
    if dnskeys == 0 {
        return Err(bad(format!(
            "'{}' holds no DNSKEY record (zone file format: `. 3600 IN DNSKEY 257 3 13 <key>`)",
            full.display()
        )));
    }
    Ok(full.to_string_lossy().into_owned())
}

// metrics
/// A metrics binding cannot be a receive connector's: the engine would
/// serve HTTP where SMTP clients connect (or fail to listen on one of them).
fn check_metrics_bindings(
    bindings: &[xshell_core::types::Binding],
    connectors: &[xshell_core::model::ReceiveConnector],
) -> Result<(), CmdletError> {
    for b in bindings {
        let clash = connectors.iter().find(|c| {
            c.bindings.iter().any(|r| {
                r.0.port() == b.0.port()
                    && (r.0.ip() == b.0.ip()
                        || r.0.ip().is_unspecified()
                        || b.0.ip().is_unspecified())
            })
        });
        if let Some(c) = clash {
            return Err(CmdletError::Conflict(format!(
                "MetricsBindings {b}: receive connector '{}' listens there (Bindings {}); choose another port for metrics",
                c.name,
                c.bindings
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(())
}
