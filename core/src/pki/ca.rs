//! A lab certificate authority for demos, tests and CI.
//!
//! **Not for production.** It has no revocation (no CRL, no OCSP), no policy,
//! no audit log and no protection of its key beyond what the caller gives
//! it. It exists so that the two-organization lab and the test-suite can
//! issue CA-signed certificates without an external CA. Real deployments
//! send requests to a real CA (the partner's, an internal one, OpenSSL).

use time::{Duration, OffsetDateTime};
use x509_parser::extensions::ParsedExtension;

use super::cert::{parse_x509, same_public_key, spki_algorithm};
use super::dn::SubjectName;
use super::keys::{KeyAlgorithm, PrivateKey, generate};
use super::names::validate_dns_name;
use super::request::parse_request;
use super::x509w;
use super::{PkiError, Result};

/// Longest validity accepted, in days (100 years).
const MAX_DAYS: u32 = 36_500;

/// A lab CA: its certificate (PEM) and key. See the module docs: not for production.
#[derive(Debug, Clone)]
pub struct LabCa {
    /// The CA certificate, PEM.
    pub cert_pem: String,
    /// The CA key.
    pub key: PrivateKey,
}

fn check_days(days: u32) -> Result<i64> {
    if days == 0 || days > MAX_DAYS {
        return Err(PkiError::InvalidValidity(days));
    }
    Ok(i64::from(days))
}

fn pem_cert(der: Vec<u8>) -> String {
    super::pem_encode("CERTIFICATE", &der)
}

impl LabCa {
    /// Creates a root CA `CN=<subject_cn>` with an RSA 2048 key, valid for
    /// `validity_days` from one hour ago.
    pub fn create(subject_cn: &str, validity_days: u32) -> Result<Self> {
        Self::create_with(subject_cn, validity_days, KeyAlgorithm::Rsa(2048))
    }

    /// Like [`LabCa::create`] with a chosen key algorithm (RSA 2048 or ECDSA P-256 are the usual).
    pub fn create_with(subject_cn: &str, validity_days: u32, alg: KeyAlgorithm) -> Result<Self> {
        let days = check_days(validity_days)?;
        let key = generate(alg)?;
        let subject = SubjectName::from_cn(subject_cn)?.to_der();
        let spki = key.spki_der()?;
        let key_id = x509w::key_id(&spki)?;
        let now = OffsetDateTime::now_utc();
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let spec = x509w::TbsSpec {
            serial: x509w::random_serial()?,
            issuer_der: &subject,
            subject_der: &subject,
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(days),
            spki_der: &spki,
            extensions: vec![
                x509w::ext_basic_constraints(true),
                x509w::ext_key_usage_ca(),
                x509w::ext_ski(&key_id),
            ],
        };
        let der = x509w::build_certificate(&spec, &key)?;
        Ok(Self {
            cert_pem: pem_cert(der),
            key,
        })
    }

    /// Rebuilds a CA from its stored certificate and key, checking that the
    /// certificate is a CA and that the key belongs to it.
    pub fn from_parts(cert_pem: &str, key: PrivateKey) -> Result<Self> {
        let ca = Self {
            cert_pem: cert_pem.to_string(),
            key,
        };
        let der = ca.cert_der()?;
        let cert = parse_x509(&der)?;
        if !cert.is_ca() {
            return Err(PkiError::CaUnusable(
                "the certificate is not a CA certificate (basicConstraints cA is not set)"
                    .to_string(),
            ));
        }
        if !same_public_key(cert.public_key().raw, &ca.key.spki_der()?) {
            return Err(PkiError::CaUnusable(
                "the key does not belong to the CA certificate".to_string(),
            ));
        }
        Ok(ca)
    }

    /// The CA certificate as DER.
    pub fn cert_der(&self) -> Result<Vec<u8>> {
        let block = pem::parse(&self.cert_pem).map_err(|e| PkiError::Pem(e.to_string()))?;
        if block.tag() != "CERTIFICATE" {
            return Err(PkiError::CaUnusable(
                "the CA certificate PEM is not a CERTIFICATE".to_string(),
            ));
        }
        Ok(block.into_contents())
    }

    /// Signs a request (PEM or DER) for `validity_days` from one hour ago and
    /// returns the certificate as PEM. See [`LabCa::sign_csr_between`].
    pub fn sign_csr(&self, csr: &[u8], validity_days: u32) -> Result<String> {
        self.sign_csr_usage(csr, validity_days, LeafUsage::ServerAndClient)
    }

    /// [`LabCa::sign_csr`] with a choice of extended key usage.
    pub fn sign_csr_usage(
        &self,
        csr: &[u8],
        validity_days: u32,
        usage: LeafUsage,
    ) -> Result<String> {
        let days = check_days(validity_days)?;
        let now = OffsetDateTime::now_utc();
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let der = self.sign_csr_with(
            csr,
            now - Duration::hours(1),
            now + Duration::days(days),
            usage,
        )?;
        Ok(pem_cert(der))
    }

    /// Signs a request (PEM or DER) with an explicit validity and returns DER.
    ///
    /// Verifies the request's self-signature, copies its subject byte for
    /// byte and its SAN DNS names (or the CN, when it has none), and sets
    /// keyUsage digitalSignature+keyEncipherment (RSA) or digitalSignature
    /// (ECDSA), extendedKeyUsage serverAuth+clientAuth, basicConstraints
    /// cA=false, subject and authority key identifiers and a random serial.
    /// `not_after` is cut to the CA's own expiry.
    pub fn sign_csr_between(
        &self,
        csr: &[u8],
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Vec<u8>> {
        self.sign_csr_with(csr, not_before, not_after, LeafUsage::ServerAndClient)
    }

    /// [`LabCa::sign_csr_between`] with a choice of extended key usage.
    pub fn sign_csr_with(
        &self,
        csr: &[u8],
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
        usage: LeafUsage,
    ) -> Result<Vec<u8>> {
        let req = parse_request(csr)?;
        let ca_der = self.cert_der()?;
        let ca = parse_x509(&ca_der)?;
        if !ca.is_ca() {
            return Err(PkiError::CaUnusable(
                "the CA certificate is not a CA".to_string(),
            ));
        }
        if !same_public_key(ca.public_key().raw, &self.key.spki_der()?) {
            return Err(PkiError::CaUnusable(
                "the key does not belong to the CA certificate".to_string(),
            ));
        }
        let mut names: Vec<String> = Vec::new();
        let requested = if req.dns_names.is_empty() {
            req.subject_cn.iter().cloned().collect()
        } else {
            req.dns_names.clone()
        };
        for n in &requested {
            let n = validate_dns_name(n)?;
            if !names.contains(&n) {
                names.push(n);
            }
        }
        if names.is_empty() {
            return Err(PkiError::NoNames);
        }
        let ca_key_id = ca
            .iter_extensions()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
                _ => None,
            })
            .map_or_else(|| x509w::key_id(ca.public_key().raw), Ok)?;
        let ca_not_after = ca.validity().not_after.to_datetime();
        let not_after = not_after.min(ca_not_after);
        let (alg, _) = spki_algorithm(&req.spki_der);
        let empty_subject = req.subject_der.len() <= 2;
        let spec = x509w::TbsSpec {
            serial: x509w::random_serial()?,
            issuer_der: ca.subject().as_raw(),
            subject_der: &req.subject_der,
            not_before,
            not_after,
            spki_der: &req.spki_der,
            extensions: vec![
                x509w::ext_basic_constraints(false),
                x509w::ext_key_usage_leaf(alg == "RSA"),
                match usage {
                    LeafUsage::ServerAndClient => x509w::ext_eku_server_client(),
                    LeafUsage::ServerOnly => x509w::ext_eku_server_only(),
                },
                x509w::ext_san(&names, empty_subject),
                x509w::ext_ski(&x509w::key_id(&req.spki_der)?),
                x509w::ext_aki(&ca_key_id),
            ],
        };
        x509w::build_certificate(&spec, &self.key)
    }
}

/// The extended key usage of a certificate the lab CA issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeafUsage {
    /// serverAuth and clientAuth: usable for Domain Security both ways.
    #[default]
    ServerAndClient,
    /// serverAuth only, as public CAs issue from 2026: a server
    /// certificate that cannot be a TLS client certificate.
    ServerOnly,
}

/// Free-function form of [`LabCa::sign_csr`] for callers that keep the CA
/// certificate and key separately.
pub fn sign_csr(
    ca_cert_pem: &str,
    ca_key: &PrivateKey,
    csr: &[u8],
    validity_days: u32,
) -> Result<String> {
    LabCa::from_parts(ca_cert_pem, ca_key.clone())?.sign_csr(csr, validity_days)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pki::cert::parse_certificate;
    use crate::pki::request::create_request;

    #[test]
    fn issues_with_copied_subject_and_names() {
        let ca = LabCa::create_with("xshell Lab CA", 30, KeyAlgorithm::EcdsaP256).unwrap();
        let ca_info = parse_certificate(&ca.cert_der().unwrap()).unwrap();
        assert!(ca_info.is_ca && ca_info.is_self_signed);
        let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
        let dn = SubjectName::parse("C=DE,O=OrgA,OU=x,OU=y,CN=mail.orga.example").unwrap();
        let csr = create_request(&dn, &["orga.example".to_string()], &key).unwrap();
        let pem = sign_csr(&ca.cert_pem, &ca.key, csr.pem().as_bytes(), 365).unwrap();
        let der = pem::parse(&pem).unwrap().into_contents();
        let info = parse_certificate(&der).unwrap();
        assert_eq!(
            info.subject,
            "CN=mail.orga.example, OU=y, OU=x, O=OrgA, C=DE"
        );
        assert_eq!(info.issuer, "CN=xshell Lab CA");
        assert_eq!(info.dns_names, ["orga.example", "mail.orga.example"]);
        assert!(!info.is_self_signed && !info.is_ca);
        assert!(info.has_client_auth && info.has_server_auth);
        // cut to the CA's expiry
        assert!(info.not_after <= ca_info.not_after);
        assert_eq!(info.key_usage_digital_signature, Some(true));
        assert!(info.domain_security_client_auth().is_ok());

        let now = OffsetDateTime::now_utc();
        let der = ca
            .sign_csr_with(
                csr.pem().as_bytes(),
                now,
                now + Duration::days(10),
                LeafUsage::ServerOnly,
            )
            .unwrap();
        let info = parse_certificate(&der).unwrap();
        assert!(info.has_server_auth && !info.has_client_auth);
        assert_eq!(
            info.extended_key_usage.as_deref().unwrap(),
            ["Server Authentication (1.3.6.1.5.5.7.3.1)"]
        );
        let why = info.domain_security_client_auth().unwrap_err();
        assert!(why.contains("Client Authentication"), "{why}");
        assert_eq!(info.spki_der, key.spki_der().unwrap());
    }

    #[test]
    fn refuses_bad_input() {
        let ca = LabCa::create_with("Lab", 30, KeyAlgorithm::EcdsaP256).unwrap();
        assert!(ca.sign_csr(b"junk", 30).is_err());
        assert!(matches!(
            ca.sign_csr(b"junk", 0),
            Err(PkiError::InvalidValidity(0))
        ));
        let other = generate(KeyAlgorithm::EcdsaP256).unwrap();
        assert!(matches!(
            LabCa::from_parts(&ca.cert_pem, other),
            Err(PkiError::CaUnusable(_))
        ));
    }
}
