//! Export-ExchangeCertificate: a key with its certificate and chain as a
//! password-protected PKCS#12 (.pfx).

use aws_lc_rs::digest;
use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKeyChain,
};

use super::cert::{parse_x509, same_public_key};
use super::keys::PrivateKey;
use super::{PkiError, Result};

/// How the PFX is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PfxEncryption {
    /// PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, HMAC-SHA256 MAC
    /// (OpenSSL 3 and Windows Server 2019+ default).
    #[default]
    Aes256,
    /// pbeWithSHAAnd3-KeyTripleDES-CBC for keys and certificates, HMAC-SHA1
    /// MAC, for old importers (Windows Server 2016 and earlier).
    Legacy3Des,
}

fn p12_err(e: p12_keystore::error::Error) -> PkiError {
    PkiError::Pkcs12(format!("could not be written: {e}"))
}

/// Writes `key`, its certificate `leaf_der` and the `chain` certificates
/// (DER) as a PKCS#12 file protected by `password`.
///
/// The key must match the certificate; an empty password is refused.
/// `friendly_name` becomes the bag's friendlyName (defaults to the thumbprint).
pub fn export_pfx(
    key: &PrivateKey,
    leaf_der: &[u8],
    chain: &[Vec<u8>],
    password: &str,
    encryption: PfxEncryption,
    friendly_name: Option<&str>,
) -> Result<Vec<u8>> {
    if password.is_empty() {
        return Err(PkiError::InvalidPassword(
            "a password is required to export a private key".to_string(),
        ));
    }
    let leaf = parse_x509(leaf_der)?;
    if !same_public_key(leaf.public_key().raw, &key.spki_der()?) {
        return Err(PkiError::KeyMismatch);
    }
    let mut certs = vec![Certificate::from_der(leaf_der).map_err(p12_err)?];
    for c in chain {
        parse_x509(c)?;
        certs.push(Certificate::from_der(c).map_err(p12_err)?);
    }
    let p12_key = p12_keystore::PrivateKey::from_der(key.pkcs8_der()).map_err(p12_err)?;
    let local_key_id = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, leaf_der)
        .as_ref()
        .to_vec();
    let alias = friendly_name
        .map(str::to_string)
        .unwrap_or_else(|| super::cert::thumbprint(leaf_der));
    let mut store = KeyStore::new();
    store.add_entry(
        &alias,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(local_key_id, p12_key, certs)),
    );
    let writer = store.writer(password);
    let writer = match encryption {
        PfxEncryption::Aes256 => writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
            .mac_algorithm(MacAlgorithm::HmacSha256)
            .encryption_iterations(10_000)
            .mac_iterations(10_000),
        PfxEncryption::Legacy3Des => writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
            .mac_algorithm(MacAlgorithm::HmacSha1)
            .encryption_iterations(2048)
            .mac_iterations(2048),
    };
    writer.write().map_err(p12_err)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pki::dn::SubjectName;
    use crate::pki::import::{ImportFormat, import_bytes};
    use crate::pki::keys::{KeyAlgorithm, generate};
    use crate::pki::selfsigned::create_self_signed;

    #[test]
    fn round_trip_both_encryptions() {
        let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
        let dn = SubjectName::parse("CN=mail.orga.example").unwrap();
        let cert = create_self_signed(&dn, &[], &key).unwrap();
        for enc in [PfxEncryption::Aes256, PfxEncryption::Legacy3Des] {
            let pfx = export_pfx(&key, &cert, &[], "s3cret", enc, None).unwrap();
            let imp = import_bytes(&pfx, Some("s3cret")).unwrap();
            assert_eq!(imp.format, ImportFormat::Pkcs12);
            assert_eq!(imp.leaf, cert);
            assert_eq!(imp.key.as_ref().unwrap(), &key);
            assert_eq!(
                import_bytes(&pfx, Some("wrong")).unwrap_err(),
                PkiError::WrongPassword
            );
            assert_eq!(
                import_bytes(&pfx, None).unwrap_err(),
                PkiError::PasswordRequired
            );
        }
    }

    #[test]
    fn refuses_mismatch_and_empty_password() {
        let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
        let other = generate(KeyAlgorithm::EcdsaP256).unwrap();
        let dn = SubjectName::parse("CN=mail.orga.example").unwrap();
        let cert = create_self_signed(&dn, &[], &key).unwrap();
        assert_eq!(
            export_pfx(&other, &cert, &[], "pw", PfxEncryption::Aes256, None).unwrap_err(),
            PkiError::KeyMismatch
        );
        assert!(matches!(
            export_pfx(&key, &cert, &[], "", PfxEncryption::Aes256, None),
            Err(PkiError::InvalidPassword(_))
        ));
    }
}
