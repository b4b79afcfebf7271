//! xshell-transport: the transport engine that pairs with the `xshell`
//! management shell.
//!
//! This crate is built in layers, each usable and testable on its own:
//!
//! - [`smtp`]: the SMTP server protocol as a pure, sans-IO state machine
//!   (bytes in, replies and decisions out). No sockets, no async, no TLS
//!   library: the network layer drives it.
//! - [`queue`]: the durable spool. A message is on disk and the directory
//!   entry is fsynced before the `250` after DATA may be sent.
//! - [`maildir`]: final delivery into per-recipient Maildir folders.
//! - Sending side: [`routing`] (connector choice, recipient grouping),
//!   [`dns`] (MX / A / AAAA, null MX), [`outbound`] (sans-IO client
//!   session, TLS policy, connection driver and the one failure
//!   classification), [`retry`] (retry schedule, expiry, delay notices)
//!   and [`dsn`] (RFC 3464 delivery status notifications).
//!
//! The network layer (listeners, rustls, connector selection, the config
//! compiler that turns store objects into [`smtp::SessionConfig`] and
//! policy) builds on these and comes next.

pub mod dns;
pub mod dsn;
pub mod maildir;
pub mod outbound;
pub mod queue;
pub mod retry;
pub mod routing;
pub mod smtp;
