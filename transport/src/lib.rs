//! xshell-transport: the transport engine that pairs with the `xshell`
//! management shell.
//!
//! This crate is built in layers, each usable and testable on its own:
//!
//! - The SMTP protocol itself, server and client sessions without I/O, is
//!   the `xshell-smtp` crate ([`xshell_smtp`]); this crate drives it over
//!   sockets and TLS.
//! - [`queue`]: the durable spool. A message is on disk and the directory
//!   entry is fsynced before the `250` after DATA may be sent.
//! - [`maildir`]: final delivery into per-recipient Maildir folders.
//! - Sending side: [`routing`] (connector choice, recipient grouping),
//!   [`dns`] (MX / A / AAAA, null MX), [`outbound`] (TLS policy, the
//!   connection driver of the client session and the one failure
//!   classification), [`retry`] (retry schedule, expiry, delay notices)
//!   and [`dsn`] (RFC 3464 delivery status notifications).
//! - [`config`]: the config compiler: store objects in, an immutable
//!   [`config::RuntimeConfig`] out (connectors with their session settings
//!   and rustls configurations, accepted domains, trust material).
//! - [`tls`]: our certificates and keys as rustls types, the STARTTLS
//!   server configuration and the opportunistic client-certificate check.
//! - [`server`]: the receiving engine: listeners, connections, the policy
//!   at MAIL/RCPT (Domain Security, Direct Trust, relay), stamping, queueing
//!   before `250`, hot reload and graceful shutdown.
//! - [`delivery`]: the local delivery worker (queue to Maildir).
//! - [`runner`]: the queue runner: remote recipients, grouped by next hop,
//!   delivered under the TLS policy, retried, expired and reported.
//! - [`tracking`]: the message tracking log.
//! - [`protolog`]: the protocol logs (SMTP conversations, as Exchange's).
//! - [`control`]: the control socket the queue cmdlets talk to.
//! - [`tlsrpt`]: SMTP TLS Reporting (RFC 8460): outbound TLS sessions
//!   recorded per UTC day, the daily aggregate reports.
//! - [`metrics`]: the counters and the Prometheus endpoint (MetricsBindings).
//!
//! The binary is `xshell-transport` (`src/bin/xshell-transport.rs`).

pub mod config;
pub mod control;
pub mod delivery;
pub mod dns;
pub mod dnssec;
pub mod dsn;
pub mod https;
pub mod maildir;
pub mod metrics;
pub mod outbound;
pub mod policy_probe;
pub mod probe;
pub mod protolog;
pub mod queue;
pub mod retry;
pub mod routing;
pub mod runner;
pub mod server;
pub mod tls;
pub mod tlsrpt;
pub mod tracking;
