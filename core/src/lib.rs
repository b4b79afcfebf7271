//! xshell-core: the organization model, the state store and (soon) PKI.
//! Shared by the `xshell` management shell and the `xshell-transport` engine.

pub mod model;
pub mod store;
pub mod types;
