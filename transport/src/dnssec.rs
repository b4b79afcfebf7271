//! DNSSEC-validated lookups for DANE (RFC 7672 section 2.1): the MX
//! records, the MX hosts' addresses and their `_25._tcp` TLSA records, each
//! answer marked secure or insecure, a bogus or unvalidatable one an error.
//!
//! Validation happens here, in hickory's validating resolver
//! (`dnssec-aws-lc-rs`), against a trust anchor: the IANA root keys built
//! into hickory, or the DNSKEY records of the file named by
//! Set-TransportService `-DnssecTrustAnchorFile` (a lab's own signed root,
//! or an island of trust). It queries the same ExternalDNSServers as the
//! MX lookups, with the DO bit, and checks every RRSIG, DNSKEY and DS
//! itself: no AD bit from a resolver is trusted (docs/tls-policy.md says
//! why).

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::net::NetError;
use hickory_resolver::proto::dnssec::{Proof, TrustAnchors};
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use xshell_core::types::HostPort;

use crate::dns::{MxRecord, ResolverSetupError};

/// An answer and whether DNSSEC proved it (RFC 4033 section 5: secure or
/// insecure; bogus and indeterminate answers are [`DnssecError`]s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated<T> {
    pub records: T,
    /// Every record of the answer chains to the trust anchor.
    pub secure: bool,
}

/// A validated lookup failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnssecError {
    /// The answer failed validation (RFC 4033 section 5 "bogus", or
    /// "indeterminate"): an attack or a broken zone; never a reason to
    /// downgrade (RFC 7672 section 2.1.1).
    #[error("{name} {rtype}: DNSSEC validation failed ({detail})")]
    Bogus {
        name: String,
        rtype: String,
        detail: String,
    },
    /// The name does not exist.
    #[error("{name}: the domain does not exist (NXDOMAIN)")]
    NxDomain { name: String },
    /// SERVFAIL, timeout, network error.
    #[error("{name} {rtype}: DNS lookup failed: {detail}")]
    Failed {
        name: String,
        rtype: String,
        detail: String,
    },
}

/// One TLSA record (RFC 6698 section 2.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tlsa {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
    pub data: Vec<u8>,
}

impl Tlsa {
    /// RFC 7672 section 3.1: DANE-TA(2) and DANE-EE(3) with selector
    /// Cert(0) or SPKI(1) and matching type Full(0), SHA2-256(1) or
    /// SHA2-512(2); PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP (no
    /// agreed set of public CAs), as is anything unknown.
    pub fn is_usable(&self) -> bool {
        matches!(self.usage, 2 | 3) && self.selector <= 1 && self.matching <= 2
    }
}

impl std::fmt::Display for Tlsa {
    /// Presentation format, as RFC 8460 section 4.3 reports it
    /// (`3 1 1 1F85...`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {} ", self.usage, self.selector, self.matching)?;
        for b in &self.data {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// The validating resolver (see the module docs).
#[derive(Clone)]
pub struct DnssecResolver {
    inner: hickory_resolver::TokioResolver,
}

impl std::fmt::Debug for DnssecResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DnssecResolver")
    }
}

impl DnssecResolver {
    /// Queries `servers` (ExternalDNSServers; empty: the system's) and
    /// validates against `trust_anchor` (a file of DNSKEY records in zone
    /// file format; `None`: the IANA root keys).
    pub fn new(
        servers: &[HostPort],
        trust_anchor: Option<&Path>,
        timeout: Duration,
        attempts: usize,
    ) -> Result<Self, ResolverSetupError> {
        let anchors = match trust_anchor {
            Some(path) => {
                let anchors = TrustAnchors::from_file(path).map_err(|e| {
                    ResolverSetupError::Build(format!(
                        "DnssecTrustAnchorFile {}: {e}",
                        path.display()
                    ))
                })?;
                Arc::new(anchors)
            }
            None => Arc::new(TrustAnchors::default()),
        };
        let builder = crate::dns::resolver_builder(servers)?;
        let mut builder = builder.with_trust_anchor(anchors);
        let opts = builder.options_mut();
        opts.validate = true;
        opts.timeout = timeout;
        opts.attempts = attempts.max(1);
        opts.ndots = 0;
        let inner = builder
            .build()
            .map_err(|e| ResolverSetupError::Build(e.to_string()))?;
        Ok(DnssecResolver { inner })
    }

    /// The records of `rtype` at `name` and whether all are secure; an
    /// empty list when the name exists without them.
    async fn lookup(
        &self,
        name: &str,
        rtype: RecordType,
    ) -> Result<Validated<Vec<Record>>, DnssecError> {
        let name = norm(name);
        let lookup = match self.inner.lookup(format!("{name}."), rtype).await {
            Ok(l) => l,
            Err(e) => return classify(&name, rtype, e),
        };
        let records: Vec<Record> = lookup
            .answers()
            .iter()
            .filter(|r| r.record_type() == rtype)
            .cloned()
            .collect();
        if let Some(bad) = records
            .iter()
            .find(|r| matches!(r.proof, Proof::Bogus | Proof::Indeterminate))
        {
            return Err(DnssecError::Bogus {
                name,
                rtype: rtype.to_string(),
                detail: format!("the {} record is {}", bad.record_type(), bad.proof),
            });
        }
        let secure = !records.is_empty() && records.iter().all(|r| r.proof == Proof::Secure);
        Ok(Validated { records, secure })
    }

    /// The MX records of `domain` (empty: none, the domain is its own
    /// implicit MX).
    pub async fn mx(&self, domain: &str) -> Result<Validated<Vec<MxRecord>>, DnssecError> {
        let v = self.lookup(domain, RecordType::MX).await?;
        Ok(Validated {
            secure: v.secure,
            records: v
                .records
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(mx) => Some(MxRecord {
                        preference: mx.preference,
                        exchange: norm(&mx.exchange.to_ascii()),
                    }),
                    _ => None,
                })
                .collect(),
        })
    }

    /// The A and AAAA records of `host`: secure only when both answers are
    /// (an insecure AAAA beside a secure A could send us elsewhere).
    pub async fn ips(&self, host: &str) -> Result<Validated<Vec<IpAddr>>, DnssecError> {
        let a = self.lookup(host, RecordType::A).await?;
        let aaaa = self.lookup(host, RecordType::AAAA).await?;
        let mut ips = Vec::new();
        for r in a.records.iter().chain(aaaa.records.iter()) {
            match &r.data {
                RData::A(a) => ips.push(IpAddr::V4(a.0)),
                RData::AAAA(a) => ips.push(IpAddr::V6(a.0)),
                _ => {}
            }
        }
        let secure = (a.secure || a.records.is_empty())
            && (aaaa.secure || aaaa.records.is_empty())
            && !ips.is_empty();
        Ok(Validated {
            records: ips,
            secure,
        })
    }

    /// The TLSA records at `name` (`_25._tcp.<host>`).
    pub async fn tlsa(&self, name: &str) -> Result<Validated<Vec<Tlsa>>, DnssecError> {
        let v = self.lookup(name, RecordType::TLSA).await?;
        Ok(Validated {
            secure: v.secure,
            records: v
                .records
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TLSA(t) => Some(Tlsa {
                        usage: t.cert_usage.into(),
                        selector: t.selector.into(),
                        matching: t.matching.into(),
                        data: t.cert_data.clone(),
                    }),
                    _ => None,
                })
                .collect(),
        })
    }
}

fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The one mapping of hickory's errors for validated lookups.
fn classify(
    name: &str,
    rtype: RecordType,
    e: NetError,
) -> Result<Validated<Vec<Record>>, DnssecError> {
    use hickory_resolver::net::DnsError as HDns;
    use hickory_resolver::proto::op::ResponseCode;
    let empty = Ok(Validated {
        records: Vec::new(),
        secure: false,
    });
    match &e {
        NetError::Dns(HDns::NoRecordsFound(nr)) if nr.response_code == ResponseCode::NXDomain => {
            Err(DnssecError::NxDomain {
                name: name.to_string(),
            })
        }
        NetError::Dns(HDns::NoRecordsFound(_)) => empty,
        NetError::Dns(HDns::ResponseCode(ResponseCode::NXDomain)) => Err(DnssecError::NxDomain {
            name: name.to_string(),
        }),
        // A validated denial: no such records (secure or insecure alike,
        // RFC 7672 section 2.2: no TLSA records, no DANE).
        NetError::Dns(HDns::Nsec {
            proof: Proof::Secure | Proof::Insecure,
            ..
        }) => empty,
        NetError::Dns(HDns::Nsec { proof, .. }) => Err(DnssecError::Bogus {
            name: name.to_string(),
            rtype: rtype.to_string(),
            detail: format!("the denial of existence is {proof}"),
        }),
        NetError::Dns(HDns::DnssecBogus) => Err(DnssecError::Bogus {
            name: name.to_string(),
            rtype: rtype.to_string(),
            detail: "no chain of trust from the trust anchor".into(),
        }),
        _ => Err(DnssecError::Failed {
            name: name.to_string(),
            rtype: rtype.to_string(),
            detail: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usable_records_and_their_presentation() {
        let t = |usage, selector, matching| Tlsa {
            usage,
            selector,
            matching,
            data: vec![0x1f, 0x85],
        };
        assert!(t(3, 1, 1).is_usable());
        assert!(t(2, 0, 2).is_usable());
        assert!(t(3, 0, 0).is_usable());
        // PKIX usages, unknown selector or matching type: unusable
        assert!(!t(0, 0, 1).is_usable());
        assert!(!t(1, 1, 1).is_usable());
        assert!(!t(3, 2, 1).is_usable());
        assert!(!t(3, 1, 3).is_usable());
        assert_eq!(t(3, 1, 1).to_string(), "3 1 1 1F85");
    }
}
