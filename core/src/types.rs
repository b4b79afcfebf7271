//! Value types of the organization model: domains, address spaces, hosts,
//! bindings, IP ranges, sizes and time spans. Each parses the text an
//! administrator types and renders the way Exchange shows it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// Why a value did not parse. The message is written for an administrator
/// and does not repeat the parameter name (the caller adds it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseValueError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ParseValueError> {
    Err(ParseValueError(msg.into()))
}

/// The text conversions every value type here shares: serde goes through
/// `FromStr` and `Display`, so the store holds what an administrator types.
/// Reading parses the text where it lies (no copy into a `String` first),
/// and writing formats it straight into the output.
macro_rules! text_value {
    ($($t:ty),* $(,)?) => {$(
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(TextVisitor(std::marker::PhantomData))
            }
        }
    )*};
}

/// Reads a text value through its `FromStr`.
struct TextVisitor<T>(std::marker::PhantomData<T>);

impl<T: FromStr<Err = ParseValueError>> serde::de::Visitor<'_> for TextVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

text_value!(
    SmtpDomain,
    DomainPattern,
    AddressSpace,
    HostPort,
    Binding,
    IpRange,
    SmtpAddress
);

/// The serde newtype name a [`SizeLimit`] serializes its text under. JSON
/// and YAML see the text alone (serializers pass a newtype through); the
/// cmdlets' value serializer recognizes the name and keeps a size value.
pub const SIZE_LIMIT_NEWTYPE: &str = "xshell::SizeLimit";
/// The same for a [`TimeSpan`].
pub const TIME_SPAN_NEWTYPE: &str = "xshell::TimeSpan";

/// Serializes a value as its text (`collect_str`).
struct AsText<'a, T>(&'a T);

impl<T: fmt::Display> Serialize for AsText<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self.0)
    }
}

/// Text values that serialize as a named newtype around their text.
macro_rules! typed_text_value {
    ($($t:ty => $name:expr),* $(,)?) => {$(
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_newtype_struct($name, &AsText(self))
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(TextVisitor(std::marker::PhantomData))
            }
        }
    )*};
}

typed_text_value!(SizeLimit => SIZE_LIMIT_NEWTYPE, TimeSpan => TIME_SPAN_NEWTYPE);

/// Checks one DNS label: letters, digits and hyphens, 1-63 octets, no
/// leading or trailing hyphen.
fn check_label(label: &str, whole: &str) -> Result<(), ParseValueError> {
    if label.is_empty() {
        return err(format!("'{whole}' is not a valid domain name: empty label"));
    }
    if label.len() > 63 {
        return err(format!(
            "'{whole}' is not a valid domain name: label '{label}' is longer than 63 characters"
        ));
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return err(format!(
            "'{whole}' is not a valid domain name: '{label}' may contain only letters, digits and hyphens"
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return err(format!(
            "'{whole}' is not a valid domain name: label '{label}' starts or ends with a hyphen"
        ));
    }
    Ok(())
}

/// An SMTP domain such as `contoso.com`: lower-cased, LDH labels, at most 253
/// characters, no trailing dot, no wildcard. Used for the domain-secure lists.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SmtpDomain(String);

impl SmtpDomain {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `t` is a domain name exactly as [`SmtpDomain`] keeps one: lower
/// case, valid labels, no final dot, nothing to trim. Parsing such a text
/// is a copy (the store and the engine read thousands of them at a time);
/// anything else takes the full parse and its error messages.
fn is_kept_domain(t: &str) -> bool {
    fn label_ok(l: &[u8]) -> bool {
        !l.is_empty() && l.len() <= 63 && l.first() != Some(&b'-') && l.last() != Some(&b'-')
    }
    let b = t.as_bytes();
    if b.is_empty() || b.len() > 253 {
        return false;
    }
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'.' {
            if !label_ok(&b[start..i]) {
                return false;
            }
            start = i + 1;
        } else if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_') {
            return false;
        }
    }
    label_ok(&b[start..])
}

/// Whether `t` is a domain pattern exactly as [`DomainPattern`] keeps one.
fn is_kept_pattern(t: &str) -> bool {
    t == "*" || {
        let d = t.strip_prefix("*.").unwrap_or(t);
        is_kept_domain(d) && !crate::idn::needs_idna(d)
    }
}

impl FromStr for SmtpDomain {
    type Err = ParseValueError;
    /// U-labels and A-labels are both accepted and kept as the A-label
    /// (see [`crate::idn`]): `bücher.example` is `xn--bcher-kva.example`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_kept_domain(s) && !crate::idn::needs_idna(s) {
            return Ok(SmtpDomain(s.to_string()));
        }
        let t = s.trim();
        if t.is_empty() {
            return err("a domain name cannot be empty");
        }
        if t.as_bytes().contains(&b'*') {
            return err(format!(
                "'{t}' is not a valid domain name: wildcards are not allowed here"
            ));
        }
        let t = t.strip_suffix('.').unwrap_or(t);
        let ascii = crate::idn::to_ascii(t)
            .map_err(|e| ParseValueError(format!("'{t}' is not a valid domain name: {e}")))?;
        let t = ascii.as_ref();
        if t.len() > 253 {
            return err(format!(
                "'{t}' is not a valid domain name: longer than 253 characters"
            ));
        }
        for label in t.split('.') {
            check_label(label, t)?;
        }
        Ok(SmtpDomain(t.to_ascii_lowercase()))
    }
}

impl SmtpDomain {
    /// The name with its U-labels (`bücher.example`), for display next to
    /// the A-label the store keeps.
    pub fn unicode(&self) -> std::borrow::Cow<'_, str> {
        crate::idn::to_unicode(&self.0)
    }
}

impl fmt::Display for SmtpDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A domain that may start with a wildcard: `contoso.com`, `*.contoso.com`,
/// or `*` alone (every domain). `*contoso.com` is not valid.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomainPattern(String);

impl DomainPattern {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with('*')
    }
    /// Whether `domain` falls under this pattern. The domain is compared in
    /// its A-label form ([`crate::idn::comparison_key`]): mail to
    /// `user@bücher.example` matches `xn--bcher-kva.example`.
    pub fn matches(&self, domain: &str) -> bool {
        let domain = crate::idn::comparison_key(domain);
        if self.0 == "*" {
            return true;
        }
        match self.0.strip_prefix("*.") {
            Some(parent) => domain == parent || domain.ends_with(&format!(".{parent}")),
            None => domain == self.0,
        }
    }
    /// How specific the pattern is: more labels is more specific; an exact
    /// name beats a wildcard with the same labels.
    pub fn specificity(&self) -> (usize, bool) {
        if self.0 == "*" {
            return (0, false);
        }
        match self.0.strip_prefix("*.") {
            Some(parent) => (parent.split('.').count(), false),
            None => (self.0.split('.').count(), true),
        }
    }
}

impl FromStr for DomainPattern {
    type Err = ParseValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_kept_pattern(s) {
            return Ok(DomainPattern(s.to_string()));
        }
        let t = s.trim();
        if t == "*" {
            return Ok(DomainPattern("*".into()));
        }
        if let Some(rest) = t.strip_prefix("*.") {
            let d: SmtpDomain = rest.parse()?;
            return Ok(DomainPattern(format!("*.{d}")));
        }
        if t.as_bytes().contains(&b'*') {
            return err(format!(
                "'{t}' is not a valid domain: a wildcard must be a whole left-most label ('*.contoso.com') or '*' alone"
            ));
        }
        let d: SmtpDomain = t.parse()?;
        Ok(DomainPattern(d.0))
    }
}
impl fmt::Display for DomainPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A send connector address space: `[SMTP:]domain[;cost]`, cost 1-100.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AddressSpace {
    pub domain: DomainPattern,
    pub cost: u8,
}

impl FromStr for AddressSpace {
    type Err = ParseValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // As written: `SMTP:pattern;cost`, the pattern as kept, the cost in
        // range. The same result as the full parse, without its searches.
        if let Some((dom, cost)) = s.strip_prefix("SMTP:").and_then(|r| r.rsplit_once(';')) {
            let digits = (1..=3).contains(&cost.len()) && cost.bytes().all(|b| b.is_ascii_digit());
            let cost = cost
                .parse::<u8>()
                .ok()
                .filter(|c| digits && (1..=100).contains(c));
            if let Some(cost) = cost
                && is_kept_pattern(dom)
            {
                return Ok(AddressSpace {
                    domain: DomainPattern(dom.to_string()),
                    cost,
                });
            }
        }
        let t = s.trim();
        let body = match t.split_once(':') {
            Some((ty, rest)) if ty.eq_ignore_ascii_case("smtp") => rest,
            Some((ty, _)) => {
                return err(format!(
                    "address space '{t}': type '{ty}' is not supported (only SMTP)"
                ));
            }
            None => t,
        };
        let (dom, cost) = match body.split_once(';') {
            Some((d, c)) => {
                let cost: u8 = c.trim().parse().map_err(|_| {
                    ParseValueError(format!(
                        "address space '{t}': cost '{c}' must be a whole number from 1 to 100"
                    ))
                })?;
                if !(1..=100).contains(&cost) {
                    return err(format!(
                        "address space '{t}': cost {cost} is out of range (1 to 100)"
                    ));
                }
                (d, cost)
            }
            None => (body, 1),
        };
        let domain = dom
            .parse::<DomainPattern>()
            .map_err(|e| ParseValueError(format!("address space '{t}': {e}")))?;
        Ok(AddressSpace { domain, cost })
    }
}
impl fmt::Display for AddressSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Piece by piece: a thousand connectors are listed at a time.
        f.write_str("SMTP:")?;
        f.write_str(self.domain.as_str())?;
        f.write_str(";")?;
        write_digits(f, u64::from(self.cost), false)
    }
}

/// A host name or IP address with an optional port: `mail.contoso.com`,
/// `192.0.2.1:2525`, `[::1]:25`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub host: String,
    pub port: Option<u16>,
}

impl HostPort {
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

fn parse_port(p: &str, whole: &str) -> Result<u16, ParseValueError> {
    p.parse::<u16>().map_err(|_| {
        ParseValueError(format!(
            "'{whole}': port '{p}' must be a number from 0 to 65535"
        ))
    })
}

impl FromStr for HostPort {
    type Err = ParseValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.is_empty() {
            return err("a host cannot be empty");
        }
        if let Some(rest) = t.strip_prefix('[') {
            let Some((ip, after)) = rest.split_once(']') else {
                return err(format!("'{t}': missing ']' after the IPv6 address"));
            };
            let ip: std::net::Ipv6Addr = ip
                .parse()
                .map_err(|_| ParseValueError(format!("'{t}': '{ip}' is not an IPv6 address")))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(parse_port(p, t)?),
                None if after.is_empty() => None,
                None => return err(format!("'{t}': unexpected text after ']'")),
            };
            return Ok(HostPort {
                host: ip.to_string(),
                port,
            });
        }
        if let Ok(ip) = t.parse::<IpAddr>() {
            return Ok(HostPort {
                host: ip.to_string(),
                port: None,
            });
        }
        let (h, port) = match t.rsplit_once(':') {
            Some((h, p)) => (h, Some(parse_port(p, t)?)),
            None => (t, None),
        };
        if let Ok(ip) = h.parse::<std::net::Ipv4Addr>() {
            return Ok(HostPort {
                host: ip.to_string(),
                port,
            });
        }
        let d: SmtpDomain = h.parse()?;
        Ok(HostPort { host: d.0, port })
    }
}
impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v6 = self.host.contains(':');
        match (self.port, v6) {
            (Some(p), true) => write!(f, "[{}]:{p}", self.host),
            (Some(p), false) => write!(f, "{}:{p}", self.host),
            (None, _) => f.write_str(&self.host),
        }
    }
}

/// A receive connector binding, `IP:port`: `0.0.0.0:25`, `[::]:25`, `127.0.0.1:2525`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Binding(pub SocketAddr);

impl FromStr for Binding {
    type Err = ParseValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if let Ok(a) = t.parse::<SocketAddr>() {
            return Ok(Binding(a));
        }
        // Give the precise reason.
        match t.rsplit_once(':') {
            None => err(format!(
                "binding '{t}' must be IP:port, e.g. 0.0.0.0:25 or [::]:25"
            )),
            Some((ip, port)) => {
                parse_port(port, t)?;
                let ip = ip.trim_start_matches('[').trim_end_matches(']');
                if ip.parse::<IpAddr>().is_err() {
                    return err(format!("binding '{t}': '{ip}' is not an IP address"));
                }
                err(format!(
                    "binding '{t}' must be IP:port, e.g. 0.0.0.0:25 or [::]:25"
                ))
            }
        }
    }
}
impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A remote IP range: a single address, `first-last`, or CIDR `net/len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpRange {
    Single(IpAddr),
    Range(IpAddr, IpAddr),
    Cidr(IpAddr, u8),
}

fn ip_to_u128(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(v) => (false, u128::from(u32::from(v))),
        IpAddr::V6(v) => match v.to_ipv4_mapped() {
            Some(v4) => (false, u128::from(u32::from(v4))),
            None => (true, u128::from(v)),
        },
    }
}

impl IpRange {
    /// Inclusive bounds and the address family (true for IPv6).
    fn bounds(&self) -> (bool, u128, u128) {
        match *self {
            IpRange::Single(a) => {
                let (v6, n) = ip_to_u128(a);
                (v6, n, n)
            }
            IpRange::Range(a, b) => {
                let (v6, x) = ip_to_u128(a);
                let (_, y) = ip_to_u128(b);
                (v6, x, y)
            }
            IpRange::Cidr(a, len) => {
                let (v6, n) = ip_to_u128(a);
                let bits: u32 = if v6 { 128 } else { 32 };
                let host_bits = bits - u32::from(len);
                let mask: u128 = if host_bits >= 128 {
                    u128::MAX
                } else {
                    (1u128 << host_bits) - 1
                };
                (v6, n & !mask, n | mask)
            }
        }
    }
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (v6, lo, hi) = self.bounds();
        let (ipv6, n) = ip_to_u128(ip);
        v6 == ipv6 && lo <= n && n <= hi
    }
    /// Number of addresses covered (saturating): smaller is more specific.
    pub fn size(&self) -> u128 {
        let (_, lo, hi) = self.bounds();
        (hi - lo).saturating_add(1)
    }
    /// Every IPv4 and IPv6 address.
    pub fn all() -> Vec<IpRange> {
        vec![
            IpRange::Range(
                IpAddr::from([0, 0, 0, 0]),
                IpAddr::from([255, 255, 255, 255]),
            ),
            IpRange::Range(IpAddr::from([0u16; 8]), IpAddr::from([0xffffu16; 8])),
        ]
    }
}

impl FromStr for IpRange {
    type Err = ParseValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let ip = |x: &str| -> Result<IpAddr, ParseValueError> {
            x.trim().parse::<IpAddr>().map_err(|_| {
                ParseValueError(format!(
                    "IP range '{t}': '{}' is not an IP address",
                    x.trim()
                ))
            })
        };
        if let Some((net, len)) = t.split_once('/') {
            let a = ip(net)?;
            let max = if a.is_ipv4() { 32 } else { 128 };
            let len: u8 = len
                .trim()
                .parse()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| {
                    ParseValueError(format!(
                        "IP range '{t}': prefix length '{len}' must be 0 to {max}"
                    ))
                })?;
            return Ok(IpRange::Cidr(a, len));
        }
        if let Some((a, b)) = t.split_once('-') {
            let (a, b) = (ip(a)?, ip(b)?);
            if a.is_ipv4() != b.is_ipv4() {
                return err(format!(
                    "IP range '{t}': both ends must be IPv4 or both IPv6"
                ));
            }
            if ip_to_u128(a).1 > ip_to_u128(b).1 {
                return err(format!(
                    "IP range '{t}': the first address is after the last"
                ));
            }
            return Ok(IpRange::Range(a, b));
        }
        Ok(IpRange::Single(ip(t)?))
    }
}
impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpRange::Single(a) => write!(f, "{a}"),
            IpRange::Range(a, b) => write!(f, "{a}-{b}"),
            IpRange::Cidr(a, l) => write!(f, "{a}/{l}"),
        }
    }
}

/// A count limit: a whole number or `Unlimited` (Exchange's
/// `Unlimited<int>`). Stored as a JSON number, or the string `Unlimited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    Count(u32),
    Unlimited,
}

impl Limit {
    /// Whether `n` is within the limit.
    pub fn allows(&self, n: u64) -> bool {
        match self {
            Limit::Count(c) => n <= u64::from(*c),
            Limit::Unlimited => true,
        }
    }
    /// The count, or `None` when unlimited.
    pub fn count(&self) -> Option<u32> {
        match self {
            Limit::Count(c) => Some(*c),
            Limit::Unlimited => None,
        }
    }
}

impl FromStr for Limit {
    type Err = ParseValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("unlimited") {
            return Ok(Limit::Unlimited);
        }
        t.parse::<u32>()
            .map(Limit::Count)
            .map_err(|_| ParseValueError(format!("'{t}' is not a whole number or Unlimited")))
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Count(c) => write!(f, "{c}"),
            Limit::Unlimited => f.write_str("Unlimited"),
        }
    }
}

impl Serialize for Limit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Limit::Count(c) => s.serialize_u32(*c),
            Limit::Unlimited => s.serialize_str("Unlimited"),
        }
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Limit;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number or \"Unlimited\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Limit, E> {
                u32::try_from(v)
                    .map(Limit::Count)
                    .map_err(|_| E::custom(format!("{v} is too large")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Limit, E> {
                u32::try_from(v)
                    .map(Limit::Count)
                    .map_err(|_| E::custom(format!("{v} is out of range")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Limit, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A size limit: a number of bytes or `Unlimited`. Accepts `25MB`, `10 KB`,
/// `1.5GB`, `26214400`, `25 MB (26,214,400 bytes)` (Exchange's own display) and
/// `unlimited`. Units are 1024-based as in Exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SizeLimit {
    Bytes(u64),
    Unlimited,
}

impl SizeLimit {
    pub const fn mb(n: u64) -> SizeLimit {
        SizeLimit::Bytes(n * 1024 * 1024)
    }
    pub fn bytes(&self) -> Option<u64> {
        match self {
            SizeLimit::Bytes(b) => Some(*b),
            SizeLimit::Unlimited => None,
        }
    }
    pub fn allows(&self, n: u64) -> bool {
        match self {
            SizeLimit::Bytes(b) => n <= *b,
            SizeLimit::Unlimited => true,
        }
    }
}

impl FromStr for SizeLimit {
    type Err = ParseValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // As written: "25 MB (26,214,400 bytes)". The byte count decides,
        // as in the full parse below.
        if let Some(rest) = s.strip_suffix(" bytes)")
            && let Some(n) = rest
                .find('(')
                .and_then(|open| grouped_number(&rest[open + 1..]))
        {
            return Ok(SizeLimit::Bytes(n));
        }
        let t = s.trim();
        if t.eq_ignore_ascii_case("unlimited") {
            return Ok(SizeLimit::Unlimited);
        }
        // Exchange display form: "25 MB (26,214,400 bytes)".
        if let Some(open) = t.find('(') {
            let inner = t[open + 1..].trim_end_matches(')').trim();
            let inner = inner.strip_suffix("bytes").unwrap_or(inner).trim();
            if let Some(n) = grouped_number(inner) {
                return Ok(SizeLimit::Bytes(n));
            }
        }
        let lower = t.to_ascii_lowercase();
        let (num, mult): (&str, u64) = [
            ("tb", 1u64 << 40),
            ("gb", 1 << 30),
            ("mb", 1 << 20),
            ("kb", 1 << 10),
            ("b", 1),
        ]
        .iter()
        .find_map(|(suf, m)| lower.strip_suffix(suf).map(|n| (n.trim(), *m)))
        .unwrap_or((lower.as_str(), 1));
        let bad = || {
            ParseValueError(format!(
                "'{t}' is not a size: use a number of bytes or a value like 25MB, 10KB, 1GB, or Unlimited"
            ))
        };
        if num.is_empty() {
            return Err(bad());
        }
        let value = if let Ok(n) = num.parse::<u64>() {
            n.checked_mul(mult).ok_or_else(bad)?
        } else {
            let f: f64 = num.parse().map_err(|_| bad())?;
            if !f.is_finite() || f < 0.0 || f * (mult as f64) > u64::MAX as f64 {
                return Err(bad());
            }
            (f * mult as f64).round() as u64
        };
        Ok(SizeLimit::Bytes(value))
    }
}

/// Reads digits with any commas between them (`26,214,400`) as one number;
/// `None` for anything else, or a number beyond `u64`.
fn grouped_number(s: &str) -> Option<u64> {
    if !s.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    s.bytes().filter(|b| *b != b',').try_fold(0u64, |n, b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Writes `n` in decimal, with commas between groups of three digits if
/// `commas` (`26,214,400`). Straight into the output: a store write
/// formats thousands.
fn write_digits(f: &mut fmt::Formatter<'_>, n: u64, commas: bool) -> fmt::Result {
    // u64::MAX has 20 digits and 6 commas.
    let mut buf = [0u8; 27];
    let mut i = buf.len();
    let mut n = n;
    let mut digits = 0;
    loop {
        if commas && digits > 0 && digits % 3 == 0 {
            i -= 1;
            buf[i] = b',';
        }
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        digits += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    f.write_str(std::str::from_utf8(&buf[i..]).map_err(|_| fmt::Error)?)
}

impl fmt::Display for SizeLimit {
    /// Exchange's form: `25 MB (26,214,400 bytes)`, `Unlimited`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SizeLimit::Unlimited => f.write_str("Unlimited"),
            SizeLimit::Bytes(b) => {
                let units = [
                    ("TB", 1u64 << 40),
                    ("GB", 1 << 30),
                    ("MB", 1 << 20),
                    ("KB", 1 << 10),
                ];
                match units.iter().find(|(_, m)| b >= *m) {
                    // A whole number of units (the usual case) is the
                    // quotient exactly: the float below would say the same.
                    Some((u, m)) if b % m == 0 => {
                        write_digits(f, b / m, false)?;
                        f.write_str(" ")?;
                        f.write_str(u)?;
                    }
                    Some((u, m)) => {
                        let v = b as f64 / *m as f64;
                        if (v - v.round()).abs() < 1e-9 {
                            write!(f, "{} {u}", v.round() as u64)?;
                        } else {
                            write!(f, "{v:.3} {u}")?;
                        }
                    }
                    None => {
                        write_digits(f, b, false)?;
                        f.write_str(" B")?;
                    }
                }
                f.write_str(" (")?;
                write_digits(f, b, true)?;
                f.write_str(" bytes)")
            }
        }
    }
}

/// A time span in whole seconds, written as Exchange writes it:
/// `[d.]hh:mm:ss` (`2.00:00:00`, `00:10:00`). Also accepts `10m`, `4h`, `2d`, `30s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeSpan(pub u64);

impl TimeSpan {
    pub const fn minutes(n: u64) -> TimeSpan {
        TimeSpan(n * 60)
    }
    pub const fn hours(n: u64) -> TimeSpan {
        TimeSpan(n * 3600)
    }
    pub const fn days(n: u64) -> TimeSpan {
        TimeSpan(n * 86400)
    }
    pub fn as_secs(&self) -> u64 {
        self.0
    }
}

impl FromStr for TimeSpan {
    type Err = ParseValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let bad = || {
            ParseValueError(format!(
                "'{t}' is not a time span: use [d.]hh:mm:ss (e.g. 2.00:00:00, 00:10:00) or 30s, 10m, 4h, 2d"
            ))
        };
        if let Some(unit) = t.chars().last().filter(|c| c.is_ascii_alphabetic()) {
            let n: u64 = t[..t.len() - 1].trim().parse().map_err(|_| bad())?;
            let mult = match unit.to_ascii_lowercase() {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86400,
                _ => return Err(bad()),
            };
            return n.checked_mul(mult).map(TimeSpan).ok_or_else(bad);
        }
        if let Some(secs) = kept_time_span(t) {
            return Ok(TimeSpan(secs));
        }
        let mut parts = t.split(':');
        let (Some(first), Some(minutes), Some(seconds), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let (days, hours) = match first.split_once('.') {
            Some((d, h)) => (d.parse::<u64>().map_err(|_| bad())?, h),
            None => (0, first),
        };
        let h: u64 = hours.parse().map_err(|_| bad())?;
        let m: u64 = minutes.parse().map_err(|_| bad())?;
        let sec: u64 = seconds.parse().map_err(|_| bad())?;
        if h > 23 || m > 59 || sec > 59 {
            return Err(bad());
        }
        days.checked_mul(86400)
            .and_then(|d| d.checked_add(h * 3600 + m * 60 + sec))
            .map(TimeSpan)
            .ok_or_else(bad)
    }
}
/// The seconds of a time span written as [`TimeSpan`] writes one
/// (`hh:mm:ss` or `d.hh:mm:ss`, two digits each, in range); `None` for any
/// other text, which takes the full parse.
fn kept_time_span(t: &str) -> Option<u64> {
    let b = t.as_bytes();
    let two = |i: usize| -> Option<u64> {
        let (h, l) = (*b.get(i)?, *b.get(i + 1)?);
        (h.is_ascii_digit() && l.is_ascii_digit())
            .then(|| u64::from(h - b'0') * 10 + u64::from(l - b'0'))
    };
    let n = b.len();
    let at = n.checked_sub(8)?;
    if b[at + 2] != b':' || b[at + 5] != b':' {
        return None;
    }
    let (h, m, s) = (two(at)?, two(at + 3)?, two(at + 6)?);
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    let days = match at {
        0 => 0,
        // d. with at most 12 digits: no overflow.
        2..=13 if b[at - 1] == b'.' && b[..at - 1].iter().all(u8::is_ascii_digit) => {
            t[..at - 1].parse::<u64>().ok()?
        }
        _ => return None,
    };
    Some(days * 86400 + h * 3600 + m * 60 + s)
}

impl fmt::Display for TimeSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let (d, h, m, sec) = (s / 86400, (s % 86400) / 3600, (s % 3600) / 60, s % 60);
        if d > 0 {
            write_digits(f, d, false)?;
            f.write_str(".")?;
        }
        // Each below 60: two digits.
        let two = |n: u64| [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8];
        let ([h1, h2], [m1, m2], [s1, s2]) = (two(h), two(m), two(sec));
        let hms = [h1, h2, b':', m1, m2, b':', s1, s2];
        f.write_str(std::str::from_utf8(&hms).map_err(|_| fmt::Error)?)
    }
}

/// An SMTP address `local@domain` (no display name, no angle brackets).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SmtpAddress(String);

impl SmtpAddress {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

impl FromStr for SmtpAddress {
    type Err = ParseValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let Some((local, domain)) = t.rsplit_once('@') else {
            return err(format!("'{t}' is not an SMTP address (local@domain)"));
        };
        if local.is_empty()
            || local.len() > 64
            || local
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || "<>()[]\\,;:\"@".contains(c))
        {
            return err(format!("'{t}' is not an SMTP address: invalid local part"));
        }
        let d: SmtpDomain = domain
            .parse()
            .map_err(|e| ParseValueError(format!("'{t}' is not an SMTP address: {e}")))?;
        Ok(SmtpAddress(format!("{local}@{d}")))
    }
}
impl fmt::Display for SmtpAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        assert_eq!(
            "Contoso.COM".parse::<SmtpDomain>().unwrap().as_str(),
            "contoso.com"
        );
        assert_eq!("a.tld.".parse::<SmtpDomain>().unwrap().as_str(), "a.tld");
        for bad in [
            "",
            "a..b",
            "-a.b",
            "a b.c",
            "*.a.b",
            "\u{43e}rg.de",
            "xn--rgb5-45d.example",
            "i\u{2665}.de",
            &"x".repeat(64),
        ] {
            assert!(bad.parse::<SmtpDomain>().is_err(), "{bad}");
        }
    }

    #[test]
    fn internationalized_domains_are_kept_as_a_labels() {
        let d: SmtpDomain = "Bücher.Example".parse().unwrap();
        assert_eq!(d.as_str(), "xn--bcher-kva.example");
        assert_eq!(d.unicode(), "bücher.example");
        assert_eq!(d, "xn--bcher-kva.example".parse::<SmtpDomain>().unwrap());
        let p: DomainPattern = "*.bücher.example".parse().unwrap();
        assert_eq!(p.as_str(), "*.xn--bcher-kva.example");
        assert!(p.matches("mail.bücher.example") && p.matches("xn--bcher-kva.example"));
        let a: AddressSpace = "SMTP:bücher.example;5".parse().unwrap();
        assert_eq!(a.to_string(), "SMTP:xn--bcher-kva.example;5");
        assert!(a.domain.matches("BÜCHER.example"));
        let e = "i\u{2665}.de"
            .parse::<SmtpDomain>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("not allowed in a domain name"), "{e}");
        let e = "\u{43e}rg.de"
            .parse::<SmtpDomain>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("look-alike"), "{e}");
    }

    #[test]
    fn patterns() {
        let p: DomainPattern = "*.contoso.com".parse().unwrap();
        assert!(p.matches("mail.contoso.com") && p.matches("contoso.com"));
        assert!(!p.matches("notcontoso.com"));
        assert!("*contoso.com".parse::<DomainPattern>().is_err());
        assert!("a.*.com".parse::<DomainPattern>().is_err());
        assert!("*".parse::<DomainPattern>().unwrap().matches("x.y"));
    }

    #[test]
    fn address_spaces() {
        let a: AddressSpace = "SMTP:*.contoso.com;10".parse().unwrap();
        assert_eq!(a.cost, 10);
        assert_eq!(a.to_string(), "SMTP:*.contoso.com;10");
        assert_eq!("fabrikam.com".parse::<AddressSpace>().unwrap().cost, 1);
        assert!("x.com;0".parse::<AddressSpace>().is_err());
        assert!("x.com;101".parse::<AddressSpace>().is_err());
        assert!("X400:x.com".parse::<AddressSpace>().is_err());
        // Every cost writes as it reads.
        for cost in 1..=100u8 {
            let text = format!("SMTP:a.example;{cost}");
            let a: AddressSpace = text.parse().unwrap();
            assert_eq!((a.cost, a.to_string()), (cost, text));
        }
    }

    #[test]
    fn hosts_and_bindings() {
        let h: HostPort = "[::1]:2525".parse().unwrap();
        assert_eq!((h.host.as_str(), h.port), ("::1", Some(2525)));
        assert_eq!(h.to_string(), "[::1]:2525");
        assert_eq!("relay.x.tld:26".parse::<HostPort>().unwrap().port, Some(26));
        assert!("relay:99999".parse::<HostPort>().is_err());
        assert!("0.0.0.0:25".parse::<Binding>().is_ok());
        assert!("[::]:25".parse::<Binding>().is_ok());
        let e = "0.0.0.0:70000".parse::<Binding>().unwrap_err().0;
        assert!(e.contains("0 to 65535"), "{e}");
        assert!("0.0.0.0".parse::<Binding>().is_err());
    }

    #[test]
    fn ip_ranges() {
        let r: IpRange = "192.0.2.0/24".parse().unwrap();
        assert!(r.contains("192.0.2.77".parse().unwrap()));
        assert!(!r.contains("192.0.3.1".parse().unwrap()));
        assert_eq!(r.size(), 256);
        let r: IpRange = "10.0.0.1-10.0.0.9".parse().unwrap();
        assert!(r.contains("10.0.0.5".parse().unwrap()));
        assert!("10.0.0.9-10.0.0.1".parse::<IpRange>().is_err());
        assert!("10.0.0.0/33".parse::<IpRange>().is_err());
        assert!("10.0.0/8".parse::<IpRange>().is_err());
        assert!(
            IpRange::all()
                .iter()
                .any(|r| r.contains("::1".parse().unwrap()))
        );
        let cidr0: IpRange = "0.0.0.0/0".parse().unwrap();
        assert!(cidr0.contains("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn sizes() {
        assert_eq!("25MB".parse::<SizeLimit>().unwrap(), SizeLimit::mb(25));
        assert_eq!(
            "10 kb".parse::<SizeLimit>().unwrap(),
            SizeLimit::Bytes(10240)
        );
        assert_eq!(
            "1.5GB".parse::<SizeLimit>().unwrap(),
            SizeLimit::Bytes(1610612736)
        );
        assert_eq!(
            "unlimited".parse::<SizeLimit>().unwrap(),
            SizeLimit::Unlimited
        );
        assert_eq!(SizeLimit::mb(25).to_string(), "25 MB (26,214,400 bytes)");
        for (b, text) in [
            (0, "0 B (0 bytes)"),
            (999, "999 B (999 bytes)"),
            (1000, "1000 B (1,000 bytes)"),
            (1536, "1.500 KB (1,536 bytes)"),
            (100_000, "97.656 KB (100,000 bytes)"),
            (1 << 40, "1 TB (1,099,511,627,776 bytes)"),
            (u64::MAX, "16777216 TB (18,446,744,073,709,551,615 bytes)"),
        ] {
            assert_eq!(SizeLimit::Bytes(b).to_string(), text);
            // The display form reads back as the same size.
            assert_eq!(text.parse::<SizeLimit>().unwrap(), SizeLimit::Bytes(b));
        }
        // A byte count beyond u64 in the display form is not a size.
        assert!(
            "1 TB (18,446,744,073,709,551,616 bytes)"
                .parse::<SizeLimit>()
                .is_err()
        );
        assert_eq!(
            "25 MB (26,214,400 bytes)".parse::<SizeLimit>().unwrap(),
            SizeLimit::mb(25)
        );
        assert!("lots".parse::<SizeLimit>().is_err());
        assert!("-1MB".parse::<SizeLimit>().is_err());
        assert!("99999999999TB".parse::<SizeLimit>().is_err());
    }

    #[test]
    fn kept_texts_read_as_other_spellings_of_the_same_value() {
        // The kept form takes the quick path, the other spelling the full
        // parse: both must give the same value.
        for (kept, other) in [
            ("contoso.com", " Contoso.COM. "),
            ("a-b_c.d1", "A-B_C.D1"),
            ("x", "X."),
            (&"a".repeat(63), &"A".repeat(63)),
        ] {
            let (a, b): (SmtpDomain, SmtpDomain) = (kept.parse().unwrap(), other.parse().unwrap());
            assert_eq!((a.as_str(), &a), (kept, &b));
            let (a, b): (DomainPattern, DomainPattern) = (
                format!("*.{kept}").parse().unwrap(),
                format!(" *.{other}").parse().unwrap(),
            );
            assert_eq!((a.to_string(), &a), (format!("*.{kept}"), &b));
            let a: AddressSpace = format!("SMTP:{kept};7").parse().unwrap();
            let b: AddressSpace = format!(" smtp:{other} ; 7 ").parse().unwrap();
            assert_eq!((a.to_string(), &a), (format!("SMTP:{kept};7"), &b));
        }
        let all: AddressSpace = "SMTP:*;100".parse().unwrap();
        assert_eq!((all.domain.as_str(), all.cost), ("*", 100));
        // Near misses of the kept forms: refused as before.
        for bad in [
            "-a.com",
            "a-.com",
            "a..com",
            ".a.com",
            "a.*.com",
            "a b.com",
            "\u{43e}k.com",
            "",
        ]
        .into_iter()
        .map(String::from)
        .chain([
            format!("{}.com", "a".repeat(64)),
            format!("{}.com", "a.".repeat(125)),
        ]) {
            assert!(bad.parse::<SmtpDomain>().is_err(), "{bad}");
            assert!(
                format!("*.{bad}").parse::<DomainPattern>().is_err(),
                "{bad}"
            );
            assert!(
                format!("SMTP:{bad};1").parse::<AddressSpace>().is_err(),
                "{bad}"
            );
        }
        for bad in [
            "SMTP:a.com;0",
            "SMTP:a.com;101",
            "SMTP:a.com;1000",
            "SMTP:a.com;",
            "SMTP:*a.com;1",
        ] {
            assert!(bad.parse::<AddressSpace>().is_err(), "{bad}");
        }
        // Time spans: kept forms and their limits.
        for (text, secs) in [
            ("00:00:00", 0),
            ("23:59:59", 86399),
            ("1.00:00:00", 86400),
            ("123456789012.00:00:01", 123456789012 * 86400 + 1),
            ("1234567890123.00:00:01", 1234567890123 * 86400 + 1),
            ("9:05:00", 9 * 3600 + 300),
        ] {
            assert_eq!(text.parse::<TimeSpan>().unwrap(), TimeSpan(secs), "{text}");
            assert_eq!(
                TimeSpan(secs).to_string().parse::<TimeSpan>().unwrap(),
                TimeSpan(secs)
            );
        }
        for bad in [
            "24:00:00",
            "00:60:00",
            "00:00:60",
            "x.00:00:00",
            ".00:00:00",
            "00:00:0x",
            "00-00-00",
        ] {
            assert!(bad.parse::<TimeSpan>().is_err(), "{bad}");
        }
    }

    #[test]
    fn timespans() {
        assert_eq!("2.00:00:00".parse::<TimeSpan>().unwrap(), TimeSpan::days(2));
        assert_eq!(
            "00:10:00".parse::<TimeSpan>().unwrap(),
            TimeSpan::minutes(10)
        );
        assert_eq!("4h".parse::<TimeSpan>().unwrap(), TimeSpan::hours(4));
        assert_eq!(TimeSpan::days(2).to_string(), "2.00:00:00");
        assert_eq!(TimeSpan::minutes(10).to_string(), "00:10:00");
        assert!("00:61:00".parse::<TimeSpan>().is_err());
        assert!("soon".parse::<TimeSpan>().is_err());
        for bad in ["00:10", "00:10:00:00", "1.2.00:00:00", ":10:00", "00:10:"] {
            assert!(bad.parse::<TimeSpan>().is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses() {
        let a: SmtpAddress = "postmaster@Contoso.com".parse().unwrap();
        assert_eq!(a.as_str(), "postmaster@contoso.com");
        assert!("nobody".parse::<SmtpAddress>().is_err());
        assert!("a b@c.d".parse::<SmtpAddress>().is_err());
    }
}
