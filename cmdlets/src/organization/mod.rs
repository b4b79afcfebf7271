//! Export-OrganizationConfig and Sync-OrganizationConfig: the organization as
//! a declarative YAML file, for review and for provisioning from CI.
//!
//! Export writes the configuration the cmdlets made (transport settings,
//! accepted domains, connectors, trusted roots inline as PEM, and references
//! to certificates, never keys). Sync converges a store to such a file in one
//! transaction, showing the plan first; applying the same file again changes
//! nothing.

pub mod export;
pub mod file;
pub mod plan;
pub mod sync;

/// The `Path` parameter's size limit for organization files.
pub const MAX_FILE: u64 = 16 * 1024 * 1024;
