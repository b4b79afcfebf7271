#![no_main]

//! The value types' parsers: what the store and the engine read thousands
//! of at a time, by a quick path for the text as written and a full parse
//! for anything else. Checks, for any input:
//! - no panic;
//! - what parses writes back as text that reads as the same value (the
//!   written text takes the quick path);
//! - the quick path agrees with the full parse: padding the input with a
//!   space (which only the full parse accepts) gives the same result, error
//!   message included.

use libfuzzer_sys::fuzz_target;
use std::fmt::Display;
use std::str::FromStr;
use xshell_core::types::{
    AddressSpace, DomainPattern, HostPort, ParseValueError, SizeLimit, SmtpDomain, TimeSpan,
};

fn check<T>(s: &str, padded: &str)
where
    T: FromStr<Err = ParseValueError> + Display + PartialEq + std::fmt::Debug,
{
    let r = s.parse::<T>();
    if let Ok(v) = &r {
        let text = v.to_string();
        assert_eq!(text.parse::<T>().as_ref(), Ok(v), "{s:?} wrote {text:?}");
    }
    assert_eq!(padded.parse::<T>(), r, "{s:?} against {padded:?}");
}

fuzz_target!(|s: &str| {
    let before = format!(" {s}");
    let after = format!("{s} ");
    check::<SmtpDomain>(s, &before);
    check::<DomainPattern>(s, &before);
    check::<AddressSpace>(s, &before);
    check::<SizeLimit>(s, &after);
    // TimeSpan's quick path runs after the trim: padding shows nothing more.
    check::<TimeSpan>(s, &before);
    check::<HostPort>(s, &before);
});
