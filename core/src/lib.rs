//! xshell-core: what the management shell (`xshell`) and the transport
//! engine (`xshell-transport`) share, and nothing either owns alone.
//!
//! - The organization's configuration and its rules: [`model`] (connectors,
//!   accepted domains, transport settings, certificates as stored records),
//!   [`types`] (domains, address spaces, sizes, time spans as typed values)
//!   and [`routing`] (which send connector carries a domain); [`idn`] is
//!   the one rule for internationalized domain names.
//! - The store: [`store`] (the [`store::Backend`] trait, the transactional
//!   [`store::Store`] and the embedded file backend with its 0600 secrets).
//! - The PKI: [`pki`] (keys, requests, self-signed and lab-CA certificates,
//!   PKCS#12 and PEM import and export, chain and name validation, selection)
//!   and [`certificates`] (stored certificates seen through it).
//! - The contract with the running engine: [`control`] (the control socket's
//!   protocol the queue cmdlets speak, and the read-only view of the spool
//!   both sides use).
//!
//! No I/O other than the store's files and the control socket's client side;
//! no async runtime.

pub mod certificates;
pub mod control;
pub mod dkim;
pub mod idn;
pub mod model;
pub mod pki;
pub mod routing;
pub mod servers;
pub mod store;
pub mod tlsrpt;
pub mod types;
