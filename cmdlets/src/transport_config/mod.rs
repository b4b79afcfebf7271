//! Get-/Set-TransportConfig and Get-/Set-TransportService: the singletons.

pub mod get_config;
pub mod get_service;
pub mod set_config;
pub mod set_service;
