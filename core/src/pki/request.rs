//! PKCS#10 certificate requests (New-ExchangeCertificate -GenerateRequest),
//! and reading requests back (to sign them, or to show a pending request).

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use super::cert::{display_name, first_cn, spki_algorithm};
use super::dn::SubjectName;
use super::keys::{KeyAlgorithm, PrivateKey};
use super::names::validate_dns_name;
use super::x509w;
use super::{PkiError, Result};

/// The DNS names a certificate for `subject` and `domain_names` carries:
/// the DomainName list in order, then the CN if it is not already there;
/// validated, lower-cased, deduplicated case-insensitively.
pub fn san_names(subject: &SubjectName, domain_names: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let cn = subject.common_name();
    for name in domain_names.iter().map(String::as_str).chain(cn) {
        let n = validate_dns_name(name)?;
        if !out.contains(&n) {
            out.push(n);
        }
    }
    if out.is_empty() {
        return Err(PkiError::NoNames);
    }
    Ok(out)
}

/// The extensions shared by our requests and self-signed certificates.
pub(crate) fn leaf_extensions(
    subject: &SubjectName,
    names: &[String],
    key: &PrivateKey,
) -> Vec<Vec<u8>> {
    vec![
        x509w::ext_san(names, subject.is_empty()),
        x509w::ext_key_usage_leaf(matches!(key.algorithm(), KeyAlgorithm::Rsa(_))),
        x509w::ext_eku_server_client(),
    ]
}

/// A generated PKCS#10 request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRequest {
    der: Vec<u8>,
}

impl CertificateRequest {
    /// DER bytes (`-BinaryEncoded`).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Base64 PEM: `-----BEGIN CERTIFICATE REQUEST-----`.
    pub fn pem(&self) -> String {
        super::pem_encode("CERTIFICATE REQUEST", &self.der)
    }

    /// Consumes the request, returning the DER bytes.
    pub fn into_der(self) -> Vec<u8> {
        self.der
    }
}

/// Builds a PKCS#10 request signed with `key`: subject DN, SAN DNS names
/// ([`san_names`]), keyUsage digitalSignature+keyEncipherment (RSA) or
/// digitalSignature (ECDSA), extendedKeyUsage serverAuth+clientAuth.
pub fn create_request(
    subject: &SubjectName,
    domain_names: &[String],
    key: &PrivateKey,
) -> Result<CertificateRequest> {
    let names = san_names(subject, domain_names)?;
    let exts = leaf_extensions(subject, &names, key);
    let der = x509w::build_csr(&subject.to_der(), &exts, key)?;
    Ok(CertificateRequest { der })
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// Subject, Windows style.
    pub subject: String,
    /// DER subject Name, exactly as in the request.
    pub subject_der: Vec<u8>,
    /// The subject's common name, if any.
    pub subject_cn: Option<String>,
    /// Requested SAN DNS names.
    pub dns_names: Vec<String>,
    /// DER SubjectPublicKeyInfo (matches the issued certificate's).
    pub spki_der: Vec<u8>,
    /// `RSA`, `ECDSA-P256`, ...
    pub key_algorithm: String,
    /// Public key size in bits.
    pub public_key_size: u32,
    /// The request as DER.
    pub der: Vec<u8>,
}

/// Accepts a request as PEM (`CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST`)
/// or DER, and returns its DER bytes.
pub fn request_der(data: &[u8]) -> Result<Vec<u8>> {
    if data.windows(11).any(|w| w == b"-----BEGIN ") {
        let blocks = pem::parse_many(data).map_err(|e| PkiError::Pem(e.to_string()))?;
        return blocks
            .into_iter()
            .find(|b| matches!(b.tag(), "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST"))
            .map(|b| b.into_contents())
            .ok_or_else(|| {
                PkiError::InvalidRequest("no CERTIFICATE REQUEST block in the PEM text".to_string())
            });
    }
    Ok(data.to_vec())
}

/// Parses a PKCS#10 request (PEM or DER) and verifies its self-signature.
pub fn parse_request(data: &[u8]) -> Result<RequestInfo> {
    let der = request_der(data)?;
    let (_rest, csr) = X509CertificationRequest::from_der(&der)
        .map_err(|e| PkiError::InvalidRequest(e.to_string()))?;
    csr.verify_signature()
        .map_err(|_| PkiError::RequestSignatureInvalid)?;
    let info = &csr.certification_request_info;
    let mut dns_names = Vec::new();
    if let Some(exts) = csr.requested_extensions() {
        for ext in exts {
            if let ParsedExtension::SubjectAlternativeName(san) = ext {
                for gn in &san.general_names {
                    if let GeneralName::DNSName(n) = gn {
                        dns_names.push((*n).to_string());
                    }
                }
            }
        }
    }
    let spki_der = info.subject_pki.raw.to_vec();
    let (key_algorithm, public_key_size) = spki_algorithm(&spki_der);
    Ok(RequestInfo {
        subject: display_name(&info.subject),
        subject_der: info.subject.as_raw().to_vec(),
        subject_cn: first_cn(&info.subject),
        dns_names,
        spki_der,
        key_algorithm,
        public_key_size,
        der,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pki::keys::generate;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn san_list_dedups_and_adds_cn() {
        let dn = SubjectName::parse("C=DE,O=OrgA,CN=Mail.OrgA.Example").unwrap();
        let got = san_names(
            &dn,
            &names(&["mail.orga.example", "orga.example", "ORGA.example"]),
        )
        .unwrap();
        assert_eq!(got, ["mail.orga.example", "orga.example"]);
        let got = san_names(&dn, &[]).unwrap();
        assert_eq!(got, ["mail.orga.example"]);
        let no_cn = SubjectName::parse("O=OrgA").unwrap();
        assert!(matches!(san_names(&no_cn, &[]), Err(PkiError::NoNames)));
        assert!(san_names(&no_cn, &names(&["a.*.example"])).is_err());
        let bad_cn = SubjectName::parse("CN=My Server").unwrap();
        assert!(matches!(
            san_names(&bad_cn, &[]),
            Err(PkiError::InvalidDnsName { .. })
        ));
    }

    #[test]
    fn request_round_trips() {
        let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
        let dn = SubjectName::parse("C=DE,O=OrgA,OU=a,OU=b,CN=mail.orga.example").unwrap();
        let req = create_request(&dn, &names(&["orga.example", "*.orga.example"]), &key).unwrap();
        assert!(req.pem().starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        for input in [req.pem().into_bytes(), req.der().to_vec()] {
            let info = parse_request(&input).unwrap();
            assert_eq!(
                info.subject,
                "CN=mail.orga.example, OU=b, OU=a, O=OrgA, C=DE"
            );
            assert_eq!(
                info.dns_names,
                ["orga.example", "*.orga.example", "mail.orga.example"]
            );
            assert_eq!(info.spki_der, key.spki_der().unwrap());
            assert_eq!(info.key_algorithm, "ECDSA-P256");
            assert_eq!(info.public_key_size, 256);
        }
        // rcgen (another implementation) accepts it too
        rcgen::CertificateSigningRequestParams::from_der(&req.der().to_vec().into()).unwrap();
    }

    #[test]
    fn tampered_request_is_refused() {
        let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
        let dn = SubjectName::parse("CN=mail.orga.example").unwrap();
        let mut der = create_request(&dn, &[], &key).unwrap().into_der();
        // flip a byte inside the subject CN value
        let pos = der.windows(4).position(|w| w == b"mail").unwrap();
        der[pos] = b'x';
        assert!(matches!(
            parse_request(&der),
            Err(PkiError::RequestSignatureInvalid)
        ));
        assert!(parse_request(b"junk").is_err());
        assert!(
            parse_request(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .is_err()
        );
    }
}
