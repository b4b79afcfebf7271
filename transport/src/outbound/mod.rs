//! The sending side: TLS policy per next hop and the async connection
//! driver of the client session ([`xshell_smtp::client`]).
//!
//! - [`tls`]: which TLS a next hop gets (Domain Security, RequireTLS,
//!   opportunistic) and the rustls client configurations that enforce it.
//! - [`dane`]: DANE (RFC 7672): the validated TLSA lookups and matching.
//! - [`deliver`]: connects to MX or smart hosts, drives the session over
//!   TCP/TLS and classifies every failure once ([`deliver::classify`]).

pub mod dane;
pub mod deliver;
pub mod tls;
