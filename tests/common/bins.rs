//! The two binaries the end-to-end tests run.
//!
//! `xshell` is this package's binary (cargo sets `CARGO_BIN_EXE_xshell`).
//! `xshell-transport` belongs to the `xshell-transport` package; cargo builds
//! it into the same folder for `cargo test --workspace` (the transport
//! package has integration tests of its own, so its binary is built).

use std::path::PathBuf;

/// The built `xshell` binary.
pub fn xshell_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_xshell"))
}

/// The built `xshell-transport` binary, beside `xshell`.
pub fn engine_bin() -> PathBuf {
    let path = xshell_bin().with_file_name("xshell-transport");
    assert!(
        path.is_file(),
        "{} is missing: run the tests with `cargo test --workspace`, or build it first with `cargo build -p xshell-transport`",
        path.display()
    );
    path
}
