//! The sending side: SMTP client session (sans-IO), reply parsing, TLS
//! policy per next hop, and the async connection driver.
//!
//! - [`client`]: the client protocol state machine (bytes in, commands out).
//! - [`reply`]: the reply parser the client uses.
//! - [`tls`]: which TLS a next hop gets (Domain Security, RequireTLS,
//!   opportunistic) and the rustls client configurations that enforce it.
//! - [`deliver`]: connects to MX or smart hosts, drives the session over
//!   TCP/TLS and classifies every failure once ([`deliver::classify`]).

pub mod client;
pub mod deliver;
pub mod reply;
pub mod tls;
