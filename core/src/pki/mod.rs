//! Pure PKI functions for xshell: keys, certificate requests, self-signed and
//! lab-CA certificates, certificate parsing, import/export (PKCS#12, PKCS#7,
//! PEM, DER), chain validation, name matching and certificate selection.
//!
//! Everything here is bytes in, values out: no file or store I/O. The store
//! keeps the results (PKCS#8 keys, DER certificates); the cmdlets and the
//! transport call these functions.
//!
//! Crypto comes from aws-lc-rs only (no `ring`).

pub mod ca;
pub mod cert;
pub(crate) mod der;
pub mod dn;
mod error;
pub mod import;
pub mod keys;
pub mod names;
pub mod pfx;
pub mod request;
pub mod select;
pub mod selfsigned;
pub mod validate;
pub(crate) mod x509w;

pub use error::{PkiError, Result};

/// PEM-encodes DER bytes under `label` ("CERTIFICATE", "CERTIFICATE REQUEST",
/// ...) with LF line endings and 64-column base64, as OpenSSL writes it.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}
