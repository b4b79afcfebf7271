//! The lookups a next hop's TLS decision needs before [`decide_with`]:
//! DANE's DNSSEC-validated TLSA records and the domain's MTA-STS policy.
//!
//! One [`PolicyLookups`] per engine, shared by the delivery runner and the
//! control socket (Test-OutboundTlsPolicy), so the test shows what a
//! delivery would see, with the same resolvers and the same policy cache.
//!
//! [`decide_with`]: super::tls::decide_with

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use xshell_core::model::SendConnector;
use xshell_core::types::HostPort;

use super::tls::PolicyInputs;
use crate::config::RuntimeConfig;
use crate::dns::{HickoryResolver, ResolverSetupError};
use crate::routing::Targets;

/// The resolvers and the MTA-STS cache (see the module docs).
#[derive(Default)]
pub struct PolicyLookups {
    /// The resolver for the current ExternalDNSServers.
    resolver: Mutex<Option<(Vec<HostPort>, HickoryResolver)>>,
    /// The validating resolver of DANE.
    pub(crate) dnssec: super::dane::ResolverSlot,
    /// MTA-STS policies by domain.
    pub mta_sts: super::mta_sts::Cache,
}

impl std::fmt::Debug for PolicyLookups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyLookups")
            .field("mta_sts", &self.mta_sts)
            .finish_non_exhaustive()
    }
}

impl PolicyLookups {
    /// `mta_sts_dir`: where MTA-STS policies are persisted (None: memory
    /// only).
    pub fn new(mta_sts_dir: Option<PathBuf>) -> PolicyLookups {
        PolicyLookups {
            mta_sts: super::mta_sts::Cache::new(mta_sts_dir),
            ..PolicyLookups::default()
        }
    }

    /// The resolver for `servers` (built once per change of the list).
    pub fn resolver(&self, servers: &[HostPort]) -> Result<HickoryResolver, ResolverSetupError> {
        let mut slot = self.resolver.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((s, r)) = slot.as_ref()
            && s.as_slice() == servers
        {
            return Ok(r.clone());
        }
        let r = HickoryResolver::new(servers, Duration::from_secs(5), 2)?;
        *slot = Some((servers.to_vec(), r.clone()));
        Ok(r)
    }

    /// DANE, then MTA-STS, for a next hop routed by `connector` (each only
    /// where the connector's mode asks for it, and only for MX routing).
    pub async fn inputs(
        &self,
        rt: &RuntimeConfig,
        connector: &SendConnector,
        domain: &str,
        targets: &Targets,
    ) -> PolicyInputs {
        let mut inputs = PolicyInputs::default();
        super::dane::for_hop(self, rt, connector, domain, targets, &mut inputs).await;
        if matches!(targets, Targets::Mx { .. }) {
            let resolver = self.resolver(&rt.send.dns_servers).ok();
            let (cache, sts) = (&self.mta_sts, &rt.send.mta_sts);
            let mode = connector.mta_sts_mode;
            super::mta_sts::look_up(mode, resolver.as_ref(), cache, sts, domain, &mut inputs).await;
        }
        inputs
    }
}
