//! New-/Get-/Set-/Remove-AcceptedDomain.

pub mod get;
pub mod new;
pub mod remove;
pub mod set;

use crate::error::CmdletError;
use xshell_core::model::{AcceptedDomain, OrgConfig};

/// A domain can be accepted only once.
pub fn check_unique_domain(d: &AcceptedDomain, cfg: &OrgConfig) -> Result<(), CmdletError> {
    match cfg
        .accepted_domains
        .iter()
        .find(|o| !o.name.eq_ignore_ascii_case(&d.name) && o.domain_name == d.domain_name)
    {
        Some(o) => Err(CmdletError::Conflict(format!(
            "domain {} is already accepted by '{}'",
            d.domain_name, o.name
        ))),
        None => Ok(()),
    }
}
