#![no_main]

use libfuzzer_sys::fuzz_target;

// Drives the sans-IO SMTP server session with arbitrary client bytes; the
// transcript records any broken invariant (a message with bare CR/LF, over
// the size limit, accepted before STARTTLS under RequireTLS, a malformed reply).
fuzz_target!(|data: &[u8]| {
    let t = xshell_smtp::fuzz::fuzz_session(data);
    assert!(t.violations.is_empty(), "{:?}", t.violations);
});
