//! Certificate status as Get-ExchangeCertificate reports it (chain to the
//! trusted roots, validity dates), and name matching.

use std::fmt;

use time::OffsetDateTime;
use x509_parser::prelude::X509Certificate;

use super::cert::{parse_x509, self_signed};

pub use super::names::{NameMatch, best_match, name_matches};

/// Exchange's certificate Status values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertStatus {
    Valid,
    Invalid,
    /// Expired or not yet valid.
    DateInvalid,
    /// A request was made and the issued certificate not yet imported.
    PendingRequest,
    Revoked,
    RevocationCheckFailure,
    /// CA-issued, but it does not chain to a trusted root.
    Untrusted,
    Unknown,
}

impl CertStatus {
    /// The exact word Exchange shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "Valid",
            Self::Invalid => "Invalid",
            Self::DateInvalid => "DateInvalid",
            Self::PendingRequest => "PendingRequest",
            Self::Revoked => "Revoked",
            Self::RevocationCheckFailure => "RevocationCheckFailure",
            Self::Untrusted => "Untrusted",
            Self::Unknown => "Unknown",
        }
    }
}

impl fmt::Display for CertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Get-ExchangeCertificate's RootCAType.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RootCaType {
    /// Self-signed: no root CA.
    None,
    /// Chains to a root in xshell's trusted root store.
    Registry,
    /// Chains to no trusted root (or could not be checked).
    Unknown,
}

impl RootCaType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "None",
            Self::Registry => "Registry",
            Self::Unknown => "Unknown",
        }
    }
}

impl fmt::Display for RootCaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of [`validate_certificate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    pub status: CertStatus,
    pub root_ca_type: RootCaType,
    /// The DER certificates from the leaf's issuer up to the trusted root,
    /// when a trusted chain was found.
    pub chain: Vec<Vec<u8>>,
}

const MAX_DEPTH: usize = 8;

fn in_dates(cert: &X509Certificate<'_>, now: OffsetDateTime) -> bool {
    let v = cert.validity();
    v.not_before.to_datetime() <= now && now <= v.not_after.to_datetime()
}

struct Pool<'a> {
    certs: Vec<(X509Certificate<'a>, &'a [u8], bool)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PathResult {
    /// Trusted path, every certificate within its dates.
    Good(Vec<usize>),
    /// Trusted path, some issuer out of its dates.
    Dated(Vec<usize>),
}

impl Pool<'_> {
    /// Depth-first search for a path from `child` to a trusted root.
    fn search(
        &self,
        child: &X509Certificate<'_>,
        path: &mut Vec<usize>,
        now: OffsetDateTime,
    ) -> Option<PathResult> {
        if path.len() >= MAX_DEPTH {
            return None;
        }
        let mut fallback = None;
        for (i, (cand, _, is_root)) in self.certs.iter().enumerate() {
            if path.contains(&i)
                || cand.subject().as_raw() != child.issuer().as_raw()
                || child.verify_signature(Some(cand.public_key())).is_err()
            {
                continue;
            }
            // an intermediate must be a CA; a trusted root may be a v1 certificate
            let bc = cand.basic_constraints().ok().flatten();
            let ca_ok = match bc {
                Some(bc) => bc.value.ca,
                None => *is_root,
            };
            if !ca_ok {
                continue;
            }
            path.push(i);
            let found = if *is_root {
                let all_dates = path
                    .iter()
                    .all(|&j| self.certs.get(j).is_some_and(|(c, _, _)| in_dates(c, now)));
                Some(if all_dates {
                    PathResult::Good(path.clone())
                } else {
                    PathResult::Dated(path.clone())
                })
            } else {
                self.search(cand, path, now)
            };
            path.pop();
            match found {
                Some(PathResult::Good(p)) => return Some(PathResult::Good(p)),
                Some(dated) => fallback = fallback.or(Some(dated)),
                None => {}
            }
        }
        fallback
    }
}

/// Validates a DER certificate at time `now` against `trusted_roots` (DER),
/// using `intermediates` (DER) to build the chain.
///
/// - Unparseable: `Invalid`.
/// - Self-signed (issuer = subject, signature verifies with its own key):
///   `Valid` within its dates, else `DateInvalid`; RootCAType `None`
///   (Exchange behaviour: trust of a self-signed certificate is Direct Trust,
///   not chain validation).
/// - CA-issued: a path of verified signatures through CA certificates to a
///   trusted root gives `Valid` (or `DateInvalid` when a certificate on it is
///   outside its dates) and RootCAType `Registry`; no such path gives
///   `Untrusted` (or `DateInvalid` when the leaf itself is out of its dates)
///   and `Unknown`. A leaf that is itself in the trusted roots is trusted.
///
/// Revocation is not checked.
pub fn validate_certificate(
    leaf_der: &[u8],
    intermediates: &[Vec<u8>],
    trusted_roots: &[Vec<u8>],
    now: OffsetDateTime,
) -> Validation {
    let invalid = Validation {
        status: CertStatus::Invalid,
        root_ca_type: RootCaType::Unknown,
        chain: Vec::new(),
    };
    let Ok(leaf) = parse_x509(leaf_der) else {
        return invalid;
    };
    let leaf_dates = in_dates(&leaf, now);
    let dated = |ok: bool| {
        if ok {
            CertStatus::Valid
        } else {
            CertStatus::DateInvalid
        }
    };
    if self_signed(&leaf) {
        return Validation {
            status: dated(leaf_dates),
            root_ca_type: RootCaType::None,
            chain: Vec::new(),
        };
    }
    if trusted_roots.iter().any(|r| r.as_slice() == leaf_der) {
        return Validation {
            status: dated(leaf_dates),
            root_ca_type: RootCaType::Registry,
            chain: Vec::new(),
        };
    }
    let mut pool = Pool { certs: Vec::new() };
    for (ders, is_root) in [(intermediates, false), (trusted_roots, true)] {
        for d in ders {
            if let Ok(c) = parse_x509(d) {
                pool.certs.push((c, d.as_slice(), is_root));
            }
        }
    }
    let chain_of = |p: &[usize]| -> Vec<Vec<u8>> {
        p.iter()
            .filter_map(|&i| pool.certs.get(i).map(|(_, d, _)| d.to_vec()))
            .collect()
    };
    match pool.search(&leaf, &mut Vec::new(), now) {
        Some(PathResult::Good(p)) => Validation {
            status: dated(leaf_dates),
            root_ca_type: RootCaType::Registry,
            chain: chain_of(&p),
        },
        Some(PathResult::Dated(p)) => Validation {
            status: CertStatus::DateInvalid,
            root_ca_type: RootCaType::Registry,
            chain: chain_of(&p),
        },
        None => Validation {
            status: if leaf_dates {
                CertStatus::Untrusted
            } else {
                CertStatus::DateInvalid
            },
            root_ca_type: RootCaType::Unknown,
            chain: Vec::new(),
        },
    }
}

/// Just the status of [`validate_certificate`].
pub fn certificate_status(
    leaf_der: &[u8],
    intermediates: &[Vec<u8>],
    trusted_roots: &[Vec<u8>],
    now: OffsetDateTime,
) -> CertStatus {
    validate_certificate(leaf_der, intermediates, trusted_roots, now).status
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pki::ca::LabCa;
    use crate::pki::dn::SubjectName;
    use crate::pki::keys::{KeyAlgorithm, generate};
    use crate::pki::request::create_request;
    use crate::pki::selfsigned::create_self_signed_at;
    use time::Duration;

    fn pem_der(p: &str) -> Vec<u8> {
        pem::parse(p).unwrap().into_contents()
    }

    #[test]
    fn words() {
        assert_eq!(CertStatus::DateInvalid.to_string(), "DateInvalid");
        assert_eq!(
            CertStatus::RevocationCheckFailure.to_string(),
            "RevocationCheckFailure"
        );
        assert_eq!(RootCaType::Registry.to_string(), "Registry");
    }

    #[test]
    fn self_signed_is_valid_until_expired() {
        let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
        let dn = SubjectName::parse("CN=mail.orga.example").unwrap();
        let now = OffsetDateTime::now_utc();
        let der = create_self_signed_at(&dn, &[], &key, now).unwrap();
        let v = validate_certificate(&der, &[], &[], now);
        assert_eq!(
            (v.status, v.root_ca_type),
            (CertStatus::Valid, RootCaType::None)
        );
        let later = now + Duration::days(6 * 365);
        assert_eq!(
            certificate_status(&der, &[], &[], later),
            CertStatus::DateInvalid
        );
        assert_eq!(
            certificate_status(b"junk", &[], &[], now),
            CertStatus::Invalid
        );
    }

    #[test]
    fn ca_issued_chain() {
        let root = LabCa::create("Root CA", 3650).unwrap();
        let root_der = pem_der(&root.cert_pem);
        let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
        let dn = SubjectName::parse("CN=mail.orga.example").unwrap();
        let csr = create_request(&dn, &[], &key).unwrap();
        let leaf = pem_der(&root.sign_csr(csr.der(), 365).unwrap());
        let now = OffsetDateTime::now_utc();
        let v = validate_certificate(&leaf, &[], std::slice::from_ref(&root_der), now);
        assert_eq!(
            (v.status, v.root_ca_type),
            (CertStatus::Valid, RootCaType::Registry)
        );
        assert_eq!(v.chain, vec![root_der.clone()]);
        // root given only as an intermediate: not trusted
        let v = validate_certificate(&leaf, std::slice::from_ref(&root_der), &[], now);
        assert_eq!(
            (v.status, v.root_ca_type),
            (CertStatus::Untrusted, RootCaType::Unknown)
        );
        // another CA with the same name does not verify
        let imposter = LabCa::create("Root CA", 3650).unwrap();
        let imp_der = pem_der(&imposter.cert_pem);
        assert_eq!(
            certificate_status(&leaf, &[], &[imp_der], now),
            CertStatus::Untrusted
        );
        // expired leaf
        let later = now + Duration::days(400);
        assert_eq!(
            certificate_status(&leaf, &[], &[root_der], later),
            CertStatus::DateInvalid
        );
    }

    #[test]
    fn leaf_cannot_act_as_issuer() {
        // A leaf (not a CA) signing another certificate does not make a chain.
        let root = LabCa::create("Root CA", 3650).unwrap();
        let root_der = pem_der(&root.cert_pem);
        let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
        let dn = SubjectName::parse("CN=leaf.example").unwrap();
        let leaf_pem = root
            .sign_csr(create_request(&dn, &[], &key).unwrap().der(), 365)
            .unwrap();
        let rogue_ca = LabCa::from_parts(&leaf_pem, key);
        // from_parts refuses a non-CA certificate
        assert!(rogue_ca.is_err());
        let _ = root_der;
    }
}
