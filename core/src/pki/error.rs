use thiserror::Error;

/// Result type of the PKI functions.
pub type Result<T, E = PkiError> = std::result::Result<T, E>;

/// Everything that can go wrong in [`crate::pki`]. The messages are written
/// for a mail administrator: they say what is wrong with the input and, where
/// it helps, what to do about it.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PkiError {
    // ---- user input: names, key parameters ----
    /// The SubjectName string is malformed; the text names the bad part.
    #[error("{0}")]
    SubjectName(String),
    /// A DomainName (or the CN, which is added as a DNS name) is not a valid DNS name.
    #[error("'{name}' is not a valid DNS name: {reason}")]
    InvalidDnsName { name: String, reason: String },
    /// Neither a CN nor a DomainName was given.
    #[error("the certificate needs a name: give CN= in SubjectName or at least one DomainName")]
    NoNames,
    /// The key algorithm string is not one we know.
    #[error("unknown key algorithm '{0}': use RSA, ECDSA-P256 or ECDSA-P384")]
    UnknownKeyAlgorithm(String),
    /// The key size is not allowed for the algorithm.
    #[error("{0}")]
    UnsupportedKeySize(String),
    /// A thumbprint string is not 40 hexadecimal digits.
    #[error(
        "'{0}' is not a certificate thumbprint (40 hexadecimal digits, the SHA-1 of the certificate)"
    )]
    InvalidThumbprint(String),
    /// An export or import password is unusable (e.g. empty on export).
    #[error("{0}")]
    InvalidPassword(String),
    /// A validity period in days is out of range.
    #[error("validity of {0} days is out of range (1 to 36500)")]
    InvalidValidity(u32),

    // ---- files: detection and containers ----
    /// The bytes are none of the formats we read.
    #[error("file is not a PKCS#12, PKCS#7, PEM or DER certificate")]
    UnrecognizedFormat,
    /// The file starts like a known format but ends early.
    #[error(
        "the {0} file is truncated: it ends before its declared length (was it copied completely?)"
    )]
    Truncated(&'static str),
    /// The PKCS#12 password is wrong.
    #[error("the PFX password is wrong (MAC verification failed)")]
    WrongPassword,
    /// The PKCS#12 file needs a password and none was supplied.
    #[error("the PFX file is protected by a password: supply -Password")]
    PasswordRequired,
    /// The PKCS#12 file is damaged or uses something we cannot read.
    #[error("the PFX file could not be read: {0}")]
    Pkcs12(String),
    /// The PKCS#7 file is damaged.
    #[error("the PKCS#7 (.p7b) file could not be read: {0}")]
    Pkcs7(String),
    /// A PEM file could not be decoded.
    #[error("the PEM file could not be read: {0}")]
    Pem(String),
    /// The file holds a private key but no certificate.
    #[error("the file contains a private key but no certificate")]
    KeyWithoutCertificate,
    /// The file holds no certificate at all.
    #[error("the file contains no certificate")]
    NoCertificate,
    /// The file is a certificate request, not a certificate.
    #[error(
        "the file is a certificate request, not a certificate: send it to a CA and import the certificate it issues"
    )]
    IsRequest,
    /// The file holds more than one private key.
    #[error(
        "the file contains more than one private key; import one certificate and key at a time"
    )]
    MultipleKeys,
    /// The private key does not belong to the certificate.
    #[error("the private key does not match the certificate's public key")]
    KeyMismatch,
    /// An encrypted PEM private key was supplied.
    #[error(
        "encrypted PEM private keys are not supported: convert the certificate and key to a password-protected PFX (openssl pkcs12 -export)"
    )]
    EncryptedPemKey,

    // ---- objects ----
    /// A certificate could not be parsed.
    #[error("the certificate could not be read: {0}")]
    InvalidCertificate(String),
    /// A certificate request could not be parsed.
    #[error("the certificate request could not be read: {0}")]
    InvalidRequest(String),
    /// A certificate request's signature does not verify with its own public key.
    #[error(
        "the certificate request's signature does not verify with its public key (damaged or forged request)"
    )]
    RequestSignatureInvalid,
    /// A private key could not be read.
    #[error("the private key could not be read: {0}")]
    InvalidKey(String),
    /// The key uses an algorithm xshell does not handle.
    #[error("unsupported private key algorithm {0}: xshell handles RSA and ECDSA P-256/P-384 keys")]
    UnsupportedKeyAlgorithm(String),
    /// The CA certificate cannot sign (not a CA, or its key does not match).
    #[error("the CA cannot sign: {0}")]
    CaUnusable(String),

    // ---- internal ----
    /// A cryptographic primitive failed (should not happen with valid input).
    #[error("cryptographic operation failed: {0}")]
    Crypto(String),
}
