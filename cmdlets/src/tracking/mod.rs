//! Get-MessageTrackingLog: the engine's tracking log, read and filtered.

pub mod get_log;
