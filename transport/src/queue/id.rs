//! Message ids: unique, sortable by arrival, safe as file names.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A queue message id: 26 lower-case hex digits, `TTTTTTTTTTTTCCCCCCRRRRRRRR`:
/// 12 digits of milliseconds since the Unix epoch, 6 digits of a
/// per-process counter, 8 random digits (uniqueness across processes).
/// Lexical order is arrival order (within one process and millisecond, the
/// counter decides). Only `[0-9a-f]`, so it is always a safe file name.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct MessageId(String);

/// The id text is not a message id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a message id (26 lower-case hex digits)")]
pub struct InvalidMessageId(pub String);

impl MessageId {
    /// Length of the textual form.
    pub const LEN: usize = 26;

    /// A new id for a message arriving now.
    pub fn generate() -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let millis = now.as_millis() as u64 & 0xffff_ffff_ffff;
        let counter = COUNTER.fetch_add(1, Ordering::Relaxed) & 0xff_ffff;
        // RandomState is seeded from the OS once per thread and varied per
        // instance: enough to keep two processes' ids apart.
        let mut h = RandomState::new().build_hasher();
        h.write_u128(now.as_nanos());
        h.write_u32(counter);
        h.write_u32(std::process::id());
        let random = h.finish() as u32;
        MessageId(format!("{millis:012x}{counter:06x}{random:08x}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Milliseconds since the Unix epoch when the id was made.
    pub fn timestamp_ms(&self) -> u64 {
        u64::from_str_radix(&self.0[..12], 16).unwrap_or(0)
    }
}

impl FromStr for MessageId {
    type Err = InvalidMessageId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == Self::LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(MessageId(s.to_string()))
        } else {
            Err(InvalidMessageId(s.to_string()))
        }
    }
}

impl TryFrom<String> for MessageId {
    type Error = InvalidMessageId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<MessageId> for String {
    fn from(id: MessageId) -> String {
        id.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_sorted_and_parse_back() {
        let ids: Vec<MessageId> = (0..10_000).map(|_| MessageId::generate()).collect();
        let set: HashSet<&MessageId> = ids.iter().collect();
        assert_eq!(set.len(), ids.len());
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, ids, "generation order is lexical order");
        for id in &ids {
            assert_eq!(id.as_str().len(), MessageId::LEN);
            assert_eq!(id.as_str().parse::<MessageId>().as_ref(), Ok(id));
        }
        assert!(ids[0].timestamp_ms() > 1_600_000_000_000);
    }

    #[test]
    fn unsafe_text_is_not_an_id() {
        for bad in [
            "",
            "../../etc/passwd",
            "0123456789abcdef0123456789a",
            "0123456789ABCDEF0123456789",
            "0123456789abcdef012345678/",
        ] {
            assert!(bad.parse::<MessageId>().is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<MessageId>("\"../x\"").is_err());
    }
}
