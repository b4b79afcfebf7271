pub mod pki;
pub mod store;
