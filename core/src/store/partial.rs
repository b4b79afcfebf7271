//! The partial parse: a Get- cmdlet reads only the sections of the document
//! it shows and skips the others' text (the full parse gives the errors).

use super::Sections;
use crate::model::{OrgConfig, SCHEMA_VERSION};

/// `bytes` as text when it is UTF-8 and starts (after white space) as a
/// JSON object: the documents the quick parses take (serde would also take
/// a struct from an array). UTF-8 is checked once for the whole text, so
/// `from_str` skips the check per string.
pub(super) fn object_text(bytes: &[u8]) -> Option<&str> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

/// The section fields of the document and their [`Sections`].
const SECTION_KEYS: [(&str, Sections); 7] = [
    ("TransportConfig", Sections::TRANSPORT_CONFIG),
    ("TransportService", Sections::TRANSPORT_SERVICE),
    ("AcceptedDomains", Sections::ACCEPTED_DOMAINS),
    ("SendConnectors", Sections::SEND_CONNECTORS),
    ("ReceiveConnectors", Sections::RECEIVE_CONNECTORS),
    ("Certificates", Sections::CERTIFICATES),
    ("TrustedRoots", Sections::TRUSTED_ROOTS),
];

/// `cfg` with the sections not in `sections` emptied.
pub(super) fn keep_sections(mut cfg: OrgConfig, sections: Sections) -> OrgConfig {
    let empty = OrgConfig::default();
    let drop = |s: Sections| !sections.has(s);
    if drop(Sections::TRANSPORT_CONFIG) {
        cfg.transport_config = empty.transport_config;
    }
    if drop(Sections::TRANSPORT_SERVICE) {
        cfg.transport_service = empty.transport_service;
    }
    if drop(Sections::ACCEPTED_DOMAINS) {
        cfg.accepted_domains.clear();
    }
    if drop(Sections::SEND_CONNECTORS) {
        cfg.send_connectors.clear();
    }
    if drop(Sections::RECEIVE_CONNECTORS) {
        cfg.receive_connectors.clear();
    }
    if drop(Sections::CERTIFICATES) {
        cfg.certificates.clear();
    }
    if drop(Sections::TRUSTED_ROOTS) {
        cfg.trusted_roots.clear();
    }
    cfg
}

/// The quick path of [`FileBackend::read_sections`]: builds the wanted
/// sections and skips the text of the others. `None` for anything but a
/// well-formed document of this schema whose wanted sections parse, with
/// no unknown or repeated field (what the full parse would refuse).
pub(super) fn parse_sections(bytes: &[u8], sections: Sections) -> Option<OrgConfig> {
    use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, Visitor};
    use std::marker::PhantomData;

    /// The sections to build, and how many elements a list may hold at
    /// most (from the document's length): a list is allocated once instead
    /// of regrown (and copied) ten times on its way to a thousand.
    struct Partial(Sections, usize);

    /// A list read into a vector made with room for `.0` elements.
    struct List<T>(usize, PhantomData<T>);

    impl<'de, T: serde::Deserialize<'de>> DeserializeSeed<'de> for List<T> {
        type Value = Vec<T>;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
            d.deserialize_seq(self)
        }
    }

    impl<'de, T: serde::Deserialize<'de>> Visitor<'de> for List<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list")
        }
        fn visit_seq<S: serde::de::SeqAccess<'de>>(self, mut seq: S) -> Result<Vec<T>, S::Error> {
            let mut v = Vec::with_capacity(self.0);
            while let Some(x) = seq.next_element()? {
                v.push(x);
            }
            Ok(v)
        }
    }

    impl<'de> DeserializeSeed<'de> for Partial {
        type Value = OrgConfig;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<OrgConfig, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Partial {
        type Value = OrgConfig;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("the configuration document")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrgConfig, A::Error> {
            let mut cfg = OrgConfig::default();
            let (mut version, mut revision) = (None, None);
            let mut seen = Sections(0);
            let repeated = || A::Error::custom("repeated field");
            // Keys with escapes are not borrowed: the full parse takes them.
            while let Some(key) = map.next_key::<&str>()? {
                match key {
                    "SchemaVersion" if version.is_some() => return Err(repeated()),
                    "SchemaVersion" => version = Some(map.next_value::<u32>()?),
                    "Revision" if revision.is_some() => return Err(repeated()),
                    "Revision" => revision = Some(map.next_value::<u64>()?),
                    _ => {
                        let Some(&(_, section)) = SECTION_KEYS.iter().find(|(k, _)| *k == key)
                        else {
                            return Err(A::Error::custom("unknown field"));
                        };
                        if seen.has(section) {
                            return Err(repeated());
                        }
                        seen = seen.and(section);
                        if !self.0.has(section) {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                        match key {
                            "TransportConfig" => cfg.transport_config = map.next_value()?,
                            "TransportService" => cfg.transport_service = map.next_value()?,
                            "AcceptedDomains" => cfg.accepted_domains = map.next_value()?,
                            "SendConnectors" => {
                                cfg.send_connectors =
                                    map.next_value_seed(List(self.1, PhantomData))?
                            }
                            "ReceiveConnectors" => {
                                cfg.receive_connectors =
                                    map.next_value_seed(List(self.1, PhantomData))?
                            }
                            "Certificates" => cfg.certificates = map.next_value()?,
                            "TrustedRoots" => cfg.trusted_roots = map.next_value()?,
                            _ => return Err(A::Error::custom("unknown field")),
                        }
                    }
                }
            }
            if version != Some(SCHEMA_VERSION) {
                return Err(A::Error::custom("another schema"));
            }
            cfg.revision = revision.ok_or_else(|| A::Error::missing_field("Revision"))?;
            Ok(cfg)
        }
    }

    // A connector takes more than 300 bytes of JSON: room for as many as the
    // document could hold (an allocation's untouched pages cost nothing).
    let room = (bytes.len() / 300).min(1 << 16);
    let mut de = serde_json::Deserializer::from_str(object_text(bytes)?);
    let cfg = Partial(sections, room).deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(cfg)
}
