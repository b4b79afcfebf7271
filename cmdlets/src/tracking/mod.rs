//! Operations diagnostics: Get-MessageTrackingLog and Test-SmtpConnectivity.

pub mod get_log;
pub mod probe;
pub mod test_smtp;
