#![no_main]

use libfuzzer_sys::fuzz_target;

// Certificate, PFX, PKCS#7 and PEM import, and request and certificate
// parsing, on arbitrary bytes: errors are fine, panics are not.
fuzz_target!(|data: &[u8]| {
    let _ = xshell_core::pki::import::import_bytes(data, Some("password"));
    let _ = xshell_core::pki::import::import_bytes(data, None);
    let _ = xshell_core::pki::cert::parse_certificate(data);
    let _ = xshell_core::pki::request::parse_request(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = xshell_core::pki::dn::SubjectName::parse(s);
    }
});
