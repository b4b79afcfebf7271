//! The declarative organization file: YAML with the property names of the
//! store and of `Get-* -o json` (PascalCase).
//!
//! A section that is absent is not managed (Sync leaves it alone); a section
//! that is present is the truth for its objects. An object may leave out any
//! property but the ones that identify it: a left-out property takes the
//! value New-* would give it (a receive connector's defaults follow its
//! Usage, as with New-ReceiveConnector). Every object is checked while it is
//! read, so an error names the line and column of the object or the value:
//! unknown properties, values of the wrong kind and the rules of the model
//! (`validate()`). Rules between objects are checked when the file is
//! applied (see `super::plan`).

use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value as Json};
use std::fmt;
use std::marker::PhantomData;
use xshell_core::certificates as certs;
use xshell_core::model::{
    AcceptedDomain, ReceiveConnector, ReceiveUsage, SCHEMA_VERSION, SendConnector, TransportConfig,
    TransportService,
};
use xshell_core::pki::cert::{normalize_thumbprint, parse_certificate};
use xshell_core::pki::import::import_bytes;

use crate::error::CmdletError;

/// The comment Export-OrganizationConfig writes at the top of the file.
pub const HEADER: &str = "\
# xshell organization configuration (Export-OrganizationConfig).
# Apply it with `xshell apply FILE` (Sync-OrganizationConfig -Path FILE); add
# --dry-run to see the plan only, --prune to remove objects the file does not list.
# A section left out is not managed; a property left out takes its default.
# Certificates are references: to import one that the target store lacks, set its
# Source to the PFX file (Path, relative to this file) and where the password
# comes from (PasswordFile or PasswordEnv). No private key or password belongs here.
";

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct OrgFile {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_config: Option<Partial<TransportConfig>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_service: Option<Partial<TransportService>>,
    /// Per-server TransportService settings (servers other than the
    /// default one, `Set-TransportService EX02 ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_services: Option<Vec<Partial<TransportService>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_domains: Option<Vec<Partial<AcceptedDomain>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_connectors: Option<Vec<Partial<SendConnector>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive_connectors: Option<Vec<Partial<ReceiveConnector>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_roots: Option<Vec<Partial<RootEntry>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<Vec<Partial<CertEntry>>>,
}

/// A trusted root CA: the certificate inline as PEM (it is public).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RootEntry {
    /// For readers; checked against the certificate when given.
    pub subject: Option<String>,
    /// Checked against the certificate when given.
    pub thumbprint: Option<String>,
    /// PEM.
    pub certificate: String,
}

/// A certificate reference: which certificate, its services, and where to
/// import it from when the store lacks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CertEntry {
    pub thumbprint: String,
    /// For readers only.
    pub subject: Option<String>,
    pub services: Vec<String>,
    pub friendly_name: Option<String>,
    pub default_smtp: bool,
    pub source: Option<CertSource>,
    /// The server the certificate belongs to; none: the default server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

/// Where a certificate is imported from: a file and a password source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CertSource {
    /// PFX (or PEM/DER/P7B), relative to the organization file's folder.
    pub path: String,
    /// A file holding the password (first line), relative like Path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
    /// An environment variable holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private_key_exportable: bool,
}

// ------------------------------------------------------------ objects with defaults

/// An object of the file whose left-out properties take defaults.
pub trait FileObject: Serialize + DeserializeOwned {
    /// In messages: "SendConnector".
    const TYPE: &'static str;
    /// Properties the file must give.
    const REQUIRED: &'static [&'static str];
    /// Every property at its default, given the properties the file sets.
    fn defaults(given: &Map<String, Json>) -> Map<String, Json>;
    /// The model's rules; may normalize values (thumbprints, services).
    fn check(&mut self) -> Result<(), String>;
}

/// A [`FileObject`] read with defaults and checked; written in full.
#[derive(Debug, Clone, PartialEq)]
pub struct Partial<T>(pub T);

impl<T: Serialize> Serialize for Partial<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

fn json_map<T: Serialize>(v: &T) -> Map<String, Json> {
    match serde_json::to_value(v) {
        Ok(Json::Object(m)) => m,
        _ => Map::new(),
    }
}

fn given_str<'a>(given: &'a Map<String, Json>, key: &str) -> Option<&'a str> {
    given.get(key).and_then(Json::as_str)
}

impl FileObject for TransportConfig {
    const TYPE: &'static str = "TransportConfig";
    const REQUIRED: &'static [&'static str] = &[];
    fn defaults(_: &Map<String, Json>) -> Map<String, Json> {
        json_map(&TransportConfig::default())
    }
    fn check(&mut self) -> Result<(), String> {
        self.validate().map_err(|e| e.message)
    }
}

impl FileObject for TransportService {
    const TYPE: &'static str = "TransportService";
    const REQUIRED: &'static [&'static str] = &[];
    fn defaults(_: &Map<String, Json>) -> Map<String, Json> {
        json_map(&TransportService::default())
    }
    fn check(&mut self) -> Result<(), String> {
        self.validate().map_err(|e| e.message)
    }
}

impl FileObject for AcceptedDomain {
    const TYPE: &'static str = "AcceptedDomain";
    const REQUIRED: &'static [&'static str] = &["Name", "DomainName"];
    fn defaults(_: &Map<String, Json>) -> Map<String, Json> {
        let mut m = Map::new();
        m.insert("Name".into(), Json::from(""));
        m.insert("DomainName".into(), Json::from("placeholder.invalid"));
        m.insert("DomainType".into(), Json::from("Authoritative"));
        m.insert("Default".into(), Json::from(false));
        m
    }
    fn check(&mut self) -> Result<(), String> {
        xshell_core::model::check_name(&self.name).map_err(|e| e.message)?;
        self.validate().map_err(|e| e.message)
    }
}

impl FileObject for SendConnector {
    const TYPE: &'static str = "SendConnector";
    const REQUIRED: &'static [&'static str] = &["Name", "AddressSpaces"];
    fn defaults(given: &Map<String, Json>) -> Map<String, Json> {
        json_map(&SendConnector::new(
            given_str(given, "Name").unwrap_or_default(),
        ))
    }
    fn check(&mut self) -> Result<(), String> {
        self.validate().map_err(|e| e.message)
    }
}

impl FileObject for ReceiveConnector {
    const TYPE: &'static str = "ReceiveConnector";
    const REQUIRED: &'static [&'static str] = &["Name", "Bindings"];
    fn defaults(given: &Map<String, Json>) -> Map<String, Json> {
        let usage = given
            .get("Usage")
            .and_then(|u| serde_json::from_value::<ReceiveUsage>(u.clone()).ok())
            .unwrap_or(ReceiveUsage::Custom);
        let mut m = json_map(&ReceiveConnector::with_usage(
            given_str(given, "Name").unwrap_or_default(),
            usage,
        ));
        // Written only when set: the default server's connectors name none.
        m.insert("Server".into(), Json::Null);
        m
    }
    fn check(&mut self) -> Result<(), String> {
        self.validate().map_err(|e| e.message)
    }
}

impl FileObject for RootEntry {
    const TYPE: &'static str = "TrustedRoot";
    const REQUIRED: &'static [&'static str] = &["Certificate"];
    fn defaults(_: &Map<String, Json>) -> Map<String, Json> {
        json_map(&RootEntry {
            subject: None,
            thumbprint: None,
            certificate: String::new(),
        })
    }
    fn check(&mut self) -> Result<(), String> {
        let root = self.to_root()?;
        if let Some(tp) = &self.thumbprint {
            let tp = normalize_thumbprint(tp).map_err(|e| format!("Thumbprint: {e}"))?;
            if tp != root.thumbprint {
                return Err(format!(
                    "Thumbprint {tp} does not match the certificate, whose thumbprint is {}",
                    root.thumbprint
                ));
            }
            self.thumbprint = Some(tp);
        }
        Ok(())
    }
}

impl RootEntry {
    /// The stored form of the root: decodes the PEM.
    pub fn to_root(&self) -> Result<xshell_core::model::TrustedRoot, String> {
        let imported = import_bytes(self.certificate.as_bytes(), None)
            .map_err(|e| format!("Certificate: {e}"))?;
        if imported.key.is_some() || !imported.chain.is_empty() {
            return Err("Certificate: give exactly one CA certificate (PEM), no key".into());
        }
        let info = parse_certificate(&imported.leaf).map_err(|e| format!("Certificate: {e}"))?;
        Ok(xshell_core::model::TrustedRoot {
            thumbprint: info.thumbprint,
            subject: info.subject,
            certificate: certs::b64_encode(&imported.leaf),
        })
    }
}

impl FileObject for CertEntry {
    const TYPE: &'static str = "Certificate";
    const REQUIRED: &'static [&'static str] = &["Thumbprint"];
    fn defaults(_: &Map<String, Json>) -> Map<String, Json> {
        let mut m = json_map(&CertEntry {
            thumbprint: String::new(),
            subject: None,
            services: Vec::new(),
            friendly_name: None,
            default_smtp: false,
            source: None,
            server: None,
        });
        // Written only when set: the default server's certificates name none.
        m.insert("Server".into(), Json::Null);
        m
    }
    fn check(&mut self) -> Result<(), String> {
        self.thumbprint =
            normalize_thumbprint(&self.thumbprint).map_err(|e| format!("Thumbprint: {e}"))?;
        for s in &self.services {
            if certs::canonical_service(s).is_none() {
                return Err(format!(
                    "Services: '{s}' is not a service (SMTP, IMAP, POP, IIS, UM, Federation, UMCallRouter)"
                ));
            }
        }
        self.services = certs::normalize_services(&self.services);
        if let Some(f) = &self.friendly_name
            && (f.chars().count() >= 64 || f.chars().any(char::is_control))
        {
            return Err(
                "FriendlyName must be shorter than 64 characters, without control characters"
                    .into(),
            );
        }
        if self.default_smtp && !self.services.iter().any(|s| s == "SMTP") {
            return Err("DefaultSmtp needs SMTP in Services".into());
        }
        if let Some(src) = &self.source {
            if src.path.trim().is_empty() {
                return Err("Source: Path cannot be empty".into());
            }
            if src.password_file.is_some() && src.password_env.is_some() {
                return Err("Source: give either PasswordFile or PasswordEnv, not both".into());
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------ reading with positions

impl<'de, T: FileObject> Deserialize<'de> for Partial<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(PartialVisitor(PhantomData))
    }
}

struct PartialVisitor<T>(PhantomData<T>);

impl<'de, T: FileObject> Visitor<'de> for PartialVisitor<T> {
    type Value = Partial<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a {} (a mapping of properties)", T::TYPE)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Partial<T>, A::Error> {
        let probe = T::defaults(&Map::new());
        let mut given = Map::new();
        while let Some(key) = map.next_key_seed(KeySeed {
            known: &probe,
            type_name: T::TYPE,
        })? {
            if given.contains_key(&key) {
                return Err(de::Error::custom(format!("{key} is given twice")));
            }
            let value = map.next_value_seed(ValueSeed::<T> {
                key: &key,
                probe: &probe,
                _t: PhantomData,
            })?;
            given.insert(key, value);
        }
        for r in T::REQUIRED {
            if !given.contains_key(*r) {
                return Err(de::Error::custom(format!(
                    "a {} needs the property {r}",
                    T::TYPE
                )));
            }
        }
        let mut full = T::defaults(&given);
        full.extend(given);
        let mut obj: T = serde_json::from_value(Json::Object(full))
            .map_err(|e| de::Error::custom(format!("{}: {e}", T::TYPE)))?;
        obj.check().map_err(de::Error::custom)?;
        Ok(Partial(obj))
    }
}

/// A property name, refused at its own position when the type lacks it.
struct KeySeed<'a> {
    known: &'a Map<String, Json>,
    type_name: &'static str,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a property name")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<String, E> {
        if self.known.contains_key(key) {
            return Ok(key.to_string());
        }
        let hint = match self.known.keys().find(|k| k.eq_ignore_ascii_case(key)) {
            Some(k) => format!(" (did you mean {k}? names are case-sensitive)"),
            None => format!(
                "; a {} has {}",
                self.type_name,
                self.known.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        };
        Err(E::custom(format!(
            "unknown property '{key}' of a {}{hint}",
            self.type_name
        )))
    }
}

/// A property value, checked against the property's type at its own position.
struct ValueSeed<'a, T> {
    key: &'a str,
    probe: &'a Map<String, Json>,
    _t: PhantomData<T>,
}

impl<'de, T: FileObject> DeserializeSeed<'de> for ValueSeed<'_, T> {
    type Value = Json;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        d.deserialize_any(self)
    }
}

impl<T: FileObject> ValueSeed<'_, T> {
    /// Whether `value` fits the property: the defaults with this one value
    /// replaced must deserialize. One value where a list is expected is a
    /// list of one (`AddressSpaces: "*"`).
    fn fits<E: de::Error>(&self, value: Json) -> Result<Json, E> {
        let value = match (&value, self.probe.get(self.key)) {
            (Json::String(_) | Json::Number(_), Some(Json::Array(_))) => Json::Array(vec![value]),
            _ => value,
        };
        let mut m = self.probe.clone();
        m.insert(self.key.to_string(), value.clone());
        // The position and path (`SendConnectors[0].Port`) are added by the
        // YAML reader: the message is only the reason.
        match serde_json::from_value::<T>(Json::Object(m)) {
            Ok(_) => Ok(value),
            Err(e) => Err(E::custom(e)),
        }
    }
}

impl<'de, T: FileObject> Visitor<'de> for ValueSeed<'_, T> {
    type Value = Json;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a value for {}", self.key)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        self.fits(Json::from(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        self.fits(Json::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        self.fits(Json::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        self.fits(Json::from(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        self.fits(Json::from(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        self.fits(Json::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Json, E> {
        self.fits(Json::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        let v = Json::deserialize(d)?;
        self.fits(v)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<Json>()? {
            items.push(v);
        }
        self.fits(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut m = Map::new();
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            m.insert(k, v);
        }
        self.fits(Json::Object(m))
    }
}

// ------------------------------------------------------------ parse and write

/// Reads an organization file; `name` is used in errors.
pub fn parse(name: &str, text: &str) -> Result<OrgFile, CmdletError> {
    let file: OrgFile = serde_norway::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        let full = e.to_string();
        let message = match full.rfind(" at line ") {
            Some(i) => full[..i].to_string(),
            None => full,
        };
        CmdletError::BadFile {
            path: name.to_string(),
            line,
            column,
            message,
        }
    })?;
    if file.schema_version != SCHEMA_VERSION {
        return Err(CmdletError::BadFile {
            path: name.to_string(),
            line: 1,
            column: 1,
            message: format!(
                "SchemaVersion {} is not the one this xshell reads ({SCHEMA_VERSION})",
                file.schema_version
            ),
        });
    }
    Ok(file)
}

/// The file's text: the header comment, then the YAML.
pub fn to_text(file: &OrgFile) -> Result<String, CmdletError> {
    let yaml = serde_norway::to_string(file)
        .map_err(|e| CmdletError::Failed(format!("cannot write the organization file: {e}")))?;
    Ok(format!("{HEADER}{yaml}"))
}
