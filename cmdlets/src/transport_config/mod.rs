//! Get-/Set-TransportConfig and Get-/Set-/Remove-TransportService.

pub mod get_config;
pub mod get_service;
pub mod remove_service;
pub mod set_config;
pub mod set_service;
