//! xshell-core: the organization model, the state store and PKI.
//! Shared by the `xshell` management shell and the `xshell-transport` engine.

pub mod certificates;
pub mod control;
pub mod model;
pub mod pki;
pub mod routing;
pub mod store;
pub mod types;
