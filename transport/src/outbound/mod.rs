//! The sending side: TLS policy per next hop and the async connection
//! driver of the client session ([`xshell_smtp::client`]).
//!
//! - [`tls`]: which TLS a next hop gets (Domain Security, RequireTLS,
//!   opportunistic) and the rustls client configurations that enforce it.
//! - [`mta_sts`]: MTA-STS (RFC 8461): policy discovery, fetch, cache and
//!   enforcement.
//! - [`dane`]: DANE (RFC 7672): the validated TLSA lookups and matching.
//! - [`lookups`]: the DANE and MTA-STS lookups before a decision, shared
//!   by deliveries and Test-OutboundTlsPolicy.
//! - [`deliver`]: connects to MX or smart hosts, drives the session over
//!   TCP/TLS and classifies every failure once ([`deliver::classify`]).
//! - [`requiretls`]: what a message asks of its next hops' TLS (RFC 8689
//!   REQUIRETLS, `TLS-Required: No`).
//! - [`why`]: which policy applied to a next hop and why (say why).

pub mod dane;
pub mod deliver;
pub mod lookups;
pub mod mta_sts;
pub mod requiretls;
pub mod tls;
pub mod why;
