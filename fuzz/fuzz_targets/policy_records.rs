#![no_main]

//! What other organizations publish for our TLS policies, read as they
//! come off the network: MTA-STS policies (RFC 8461 3.2, fetched over
//! HTTPS), `_mta-sts` TXT records (3.1) and `_smtp._tls` TLS-RPT records
//! (RFC 8460 3). Checks, for any input:
//! - no panic;
//! - a policy that parses writes its RFC 8460 4.3 policy strings, one per
//!   line, and those read back as the same policy;
//! - a policy's MX patterns never match a name the pattern rules refuse
//!   (an empty label).

use libfuzzer_sys::fuzz_target;
use xshell_transport::outbound::mta_sts::{Policy, parse_txt};
use xshell_transport::tlsrpt::report::parse_record;

fuzz_target!(|s: &str| {
    if let Ok(p) = Policy::parse(s) {
        let written = p.policy_strings().join("\n");
        assert_eq!(Policy::parse(&written).as_ref(), Ok(&p), "{s:?} wrote {written:?}");
        for host in [".", "", "..example", "a..b"] {
            assert!(!p.mx_matches(host), "{s:?} matched {host:?}");
        }
        for line in s.lines() {
            let _ = p.mx_matches(line);
        }
    }
    // One record, or the input split into several.
    let records: Vec<String> = s.split('\n').map(str::to_string).collect();
    let _ = parse_txt(std::slice::from_ref(&s.to_string()));
    let _ = parse_txt(&records);
    let _ = parse_record(std::slice::from_ref(&s.to_string()));
    let _ = parse_record(&records);
});
