//! Cmdlet declarations: the one place a cmdlet's name, parameters, help and
//! examples are written. The CLI (clap), the shell-language binder, `Get-Help`
//! and `docs/cmdlets/*.md` are all generated from these.

use crate::Bound;
use crate::context::Ctx;
use crate::error::CmdletError;
use crate::value::Value;
use xshell_core::types::SizeLimit;

/// The type of a parameter's value; the binder converts input to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text.
    Str,
    /// A whole number in an inclusive range.
    Int { min: i64, max: i64 },
    /// `$true`/`$false`; a bare flag means true.
    Bool,
    /// A switch: present means true (`-Force`); `-Force:$false` turns it off.
    Switch,
    /// One of these names, matched case-insensitively.
    Enum(&'static [&'static str]),
    /// An SMTP domain (`contoso.com`).
    Domain,
    /// A domain that may be a wildcard (`*.contoso.com`).
    DomainPattern,
    /// `[SMTP:]domain[;cost]`.
    AddressSpace,
    /// A host name or IP with an optional port.
    HostPort,
    /// `IP:port`.
    Binding,
    /// A single IP, `first-last`, or CIDR.
    IpRange,
    /// `25MB`, `10KB`, bytes, or `Unlimited` (when `unlimited`), in bytes
    /// from `min` to `max` inclusive.
    Size { min: u64, max: u64, unlimited: bool },
    /// `[d.]hh:mm:ss`, in whole seconds from `min` to `max` inclusive.
    TimeSpan { min: u64, max: u64 },
    /// A whole number from `min` to `max` inclusive, or `Unlimited`.
    Limit { min: u32, max: u32 },
    /// A user name and password (PSCredential; on the CLI the user name,
    /// with the password in `XSHELL_SMTP_AUTH_PASSWORD`).
    Credential,
    /// `local@domain`.
    Address,
    /// A certificate thumbprint (40 hex digits; spaces and colons ignored).
    Thumbprint,
    /// A file path.
    Path,
    /// A secret (password): never echoed, never logged.
    Secret,
    /// Raw bytes (`-FileData`).
    Bytes,
    /// A date: a date value, or text such as `03/13/2018 09:00:00` or
    /// `2018-03-13T09:00:00Z` (UTC unless it says otherwise).
    DateTime,
    /// A list of the inner kind: `a,b` replaces, `@{Add=..;Remove=..}` edits.
    List(&'static Kind),
}

impl Kind {
    /// A short name for help text, e.g. `<domain[]>`.
    pub fn placeholder(&self) -> String {
        match self {
            Kind::Str => "string".into(),
            Kind::Int { .. } => "int".into(),
            Kind::Bool => "bool".into(),
            Kind::Switch => "switch".into(),
            Kind::Enum(_) => "name".into(),
            Kind::Domain => "domain".into(),
            Kind::DomainPattern => "domain".into(),
            Kind::AddressSpace => "address-space".into(),
            Kind::HostPort => "host[:port]".into(),
            Kind::Binding => "ip:port".into(),
            Kind::IpRange => "ip-range".into(),
            Kind::Size { .. } => "size".into(),
            Kind::TimeSpan { .. } => "timespan".into(),
            Kind::Limit { .. } => "int|Unlimited".into(),
            Kind::Credential => "credential".into(),
            Kind::Address => "address".into(),
            Kind::Thumbprint => "thumbprint".into(),
            Kind::Path => "path".into(),
            Kind::Secret => "secret".into(),
            Kind::Bytes => "bytes".into(),
            Kind::DateTime => "datetime".into(),
            Kind::List(inner) => format!("{}[]", inner.placeholder()),
        }
    }

    /// This kind as one bit, for [`crate::bind::FromArg::KINDS`] (a list
    /// is described by its elements' kind).
    pub const fn bit(&self) -> u32 {
        match self {
            Kind::Str => 1,
            Kind::Int { .. } => 1 << 1,
            Kind::Bool => 1 << 2,
            Kind::Switch => 1 << 3,
            Kind::Enum(_) => 1 << 4,
            Kind::Domain => 1 << 5,
            Kind::DomainPattern => 1 << 6,
            Kind::AddressSpace => 1 << 7,
            Kind::HostPort => 1 << 8,
            Kind::Binding => 1 << 9,
            Kind::IpRange => 1 << 10,
            Kind::Size { .. } => 1 << 11,
            Kind::TimeSpan { .. } => 1 << 12,
            Kind::Address => 1 << 13,
            Kind::Thumbprint => 1 << 14,
            Kind::Path => 1 << 15,
            Kind::Secret => 1 << 16,
            Kind::Bytes => 1 << 17,
            Kind::List(_) => 1 << 18,
            Kind::Limit { .. } => 1 << 19,
            Kind::DateTime => 1 << 20,
            Kind::Credential => 1 << 21,
        }
    }

    /// Any size, `Unlimited` included.
    pub const SIZE: Kind = Kind::Size {
        min: 0,
        max: u64::MAX,
        unlimited: true,
    };
    /// Any time span.
    pub const TIMESPAN: Kind = Kind::TimeSpan {
        min: 0,
        max: u64::MAX,
    };

    /// The accepted range, for help text (`00:00:01 to 1.00:00:00`), when
    /// the kind has one narrower than its type's.
    pub fn range_text(&self) -> Option<String> {
        match *self {
            Kind::Int { min, max } => Some(format!("{min} to {max}")),
            Kind::Limit { min, max } => Some(format!("{min} to {max}, or Unlimited")),
            Kind::Size {
                min,
                max,
                unlimited,
            } if (min, max, unlimited) != (0, u64::MAX, true) => {
                let show = |n: u64| SizeLimit::Bytes(n).to_string();
                let mut t = if max == u64::MAX {
                    format!("at least {}", show(min))
                } else {
                    format!("{} to {}", show(min), show(max))
                };
                if unlimited {
                    t.push_str(", or Unlimited");
                }
                Some(t)
            }
            Kind::TimeSpan { min, max } if (min, max) != (0, u64::MAX) => {
                let show = |n: u64| xshell_core::types::TimeSpan(n).to_string();
                Some(if max == u64::MAX {
                    format!("at least {}", show(min))
                } else {
                    format!("{} to {}", show(min), show(max))
                })
            }
            Kind::List(inner) => inner.range_text(),
            _ => None,
        }
    }

    pub fn is_flag(&self) -> bool {
        matches!(self, Kind::Bool | Kind::Switch)
    }

    /// Enum names allowed (for completion and help), if any.
    pub fn choices(&self) -> &'static [&'static str] {
        match self {
            Kind::Enum(c) => c,
            Kind::List(inner) => inner.choices(),
            _ => &[],
        }
    }
}

/// How a parameter takes a value from the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pipe {
    No,
    /// A scalar piped in binds here (`"Outbound" | Get-SendConnector`).
    ByValue,
    /// An object's property of the same name (or an alias) binds here.
    ByPropertyName,
    /// Both.
    Both,
}

/// One parameter.
#[derive(Debug, Clone, Copy)]
pub struct ParamDecl {
    /// PascalCase name as Exchange spells it (`TLSReceiveDomainSecureList`).
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    /// Position for positional binding (0 is the first value after the name).
    pub position: Option<u8>,
    pub mandatory: bool,
    pub pipeline: Pipe,
    /// Alternative names (`FileName` for `Path`).
    pub aliases: &'static [&'static str],
    /// Parameter sets this parameter belongs to; empty means all.
    pub sets: &'static [&'static str],
    /// Default shown in help (documentation only).
    pub default: Option<&'static str>,
}

impl ParamDecl {
    pub const fn new(name: &'static str, kind: Kind, help: &'static str) -> ParamDecl {
        ParamDecl {
            name,
            kind,
            help,
            position: None,
            mandatory: false,
            pipeline: Pipe::No,
            aliases: &[],
            sets: &[],
            default: None,
        }
    }
    pub const fn position(mut self, p: u8) -> Self {
        self.position = Some(p);
        self
    }
    pub const fn mandatory(mut self) -> Self {
        self.mandatory = true;
        self
    }
    pub const fn pipeline(mut self, p: Pipe) -> Self {
        self.pipeline = p;
        self
    }
    pub const fn aliases(mut self, a: &'static [&'static str]) -> Self {
        self.aliases = a;
        self
    }
    pub const fn sets(mut self, s: &'static [&'static str]) -> Self {
        self.sets = s;
        self
    }
    pub const fn default(mut self, d: &'static str) -> Self {
        self.default = Some(d);
        self
    }

    /// The same declaration under `name` (what [`params!`] gives each entry).
    pub const fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// The CLI flag: kebab case of the name (`--tls-receive-domain-secure-list`).
    pub fn flag(&self) -> String {
        kebab(self.name)
    }

    pub fn in_set(&self, set: &str) -> bool {
        self.sets.is_empty() || self.sets.contains(&set)
    }

    /// Whether `name` (already lower-cased or not) is this parameter's name or alias.
    pub fn is_named(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

/// A parameter declared without its name: [`params!`] names it after the
/// handle, so the name is written once.
pub const fn param(kind: Kind, help: &'static str) -> ParamDecl {
    ParamDecl::new("", kind, help)
}

/// A typed handle on a declared parameter: its name and the Rust type the
/// cmdlet reads it as. Made only by [`params!`], next to the declaration,
/// so a cmdlet reads only what it declares, as the type it declared.
pub struct Param<T> {
    pub name: &'static str,
    ty: std::marker::PhantomData<fn() -> T>,
}

impl<T> Param<T> {
    #[doc(hidden)]
    pub const fn new(name: &'static str) -> Self {
        Param {
            name,
            ty: std::marker::PhantomData,
        }
    }
}

impl<T> Clone for Param<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Param<T> {}

impl<T> std::fmt::Debug for Param<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "-{}", self.name)
    }
}

/// `a` then `b`, as one array (for a cmdlet's own parameters followed by a
/// shared group).
pub const fn concat<const N: usize>(a: &[ParamDecl], b: &[ParamDecl]) -> [ParamDecl; N] {
    let mut out = [ParamDecl::new("", Kind::Str, ""); N];
    let mut i = 0;
    while i < a.len() {
        out[i] = a[i];
        i += 1;
    }
    let mut j = 0;
    while j < b.len() {
        out[i + j] = b[j];
        j += 1;
    }
    out
}

/// Declares a cmdlet's parameters once: each entry is a handle name (the
/// parameter's PascalCase name), the Rust type the cmdlet reads it as, and
/// its declaration without the name.
///
/// ```ignore
/// params!(p + super::shared {
///     Identity: String = named::identity("The connector to change.").mandatory(),
///     Name: String = param(Kind::Str, "A new name."),
/// });
/// ```
///
/// makes `mod p` holding one typed handle per parameter (`p::Name:
/// Param<String>`) and `p::LIST`, the declarations for the cmdlet's
/// `CmdletDecl::params`: the entries, then those of the optional group (a
/// module made by another `params!`, whose handles `p` re-exports). Each
/// entry's type is checked against its kind when the crate compiles
/// ([`crate::bind::fits`]). A parameter that is not declared has no
/// handle, so reading it does not compile.
///
/// A cmdlet reads what it declared, as the declared type:
///
/// ```
/// use xshell_cmdlets::decl::*;
/// xshell_cmdlets::params!(p {
///     Name: String = param(Kind::Str, "A name."),
///     Port: u16 = param(Kind::Int { min: 1, max: 65535 }, "A port."),
/// });
/// fn run(b: &xshell_cmdlets::Bound) -> (Option<String>, Option<u16>) {
///     (b.get(p::Name), b.get(p::Port))
/// }
/// assert_eq!(p::LIST.len(), 2);
/// assert_eq!(p::LIST[1].name, "Port");
/// ```
///
/// Reading a parameter it did not declare does not compile:
///
/// ```compile_fail
/// use xshell_cmdlets::decl::*;
/// xshell_cmdlets::params!(p {
///     Name: String = param(Kind::Str, "A name."),
/// });
/// fn run(b: &xshell_cmdlets::Bound) -> Option<String> {
///     b.get(p::Usage)
/// }
/// ```
///
/// Nor does a type its kind cannot give (a port read as text):
///
/// ```compile_fail
/// use xshell_cmdlets::decl::*;
/// xshell_cmdlets::params!(p {
///     Port: String = param(Kind::Int { min: 1, max: 65535 }, "A port."),
/// });
/// ```
#[macro_export]
macro_rules! params {
    (@group) => { &[] };
    (@group $g:path) => { super::__params_group::LIST };
    (@reexport $g:path) => { pub use super::__params_group::*; };
    ($mv:vis $m:ident $(+ $g:path)? { $( $name:ident : $ty:ty = $decl:expr ),* $(,)? }) => {
        $( use $g as __params_group; )?
        #[allow(non_upper_case_globals, dead_code, unused_imports)]
        $mv mod $m {
            use super::*;
            use $crate::bind::Bytes;
            use $crate::decl::*;
            use xshell_core::types::*;
            $( $crate::params!(@reexport $g); )?
            $( pub const $name: Param<$ty> = Param::new(stringify!($name)); )*
            /// The declarations, in order (the group's last).
            pub const LIST: &[ParamDecl] = {
                const OWN: &[ParamDecl] = &[ $( ($decl).named(stringify!($name)) ),* ];
                const GROUP: &[ParamDecl] = $crate::params!(@group $($g)?);
                const ALL: [ParamDecl; OWN.len() + GROUP.len()] = $crate::decl::concat(OWN, GROUP);
                &ALL
            };
            $( const _: () = assert!(
                $crate::bind::fits::<$ty>(&($decl).kind),
                concat!("parameter ", stringify!($name), ": its Rust type cannot be read from its declared kind")
            ); )*
        }
    };
}
pub use crate::params;

/// A documented example; each one is also a test.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    /// Ending in `(exit code 1)`: the example shows a failed Test- verdict
    /// (tests/examples.rs then expects exit code 1 and the output).
    pub title: &'static str,
    /// The example in the shell language (one statement, simple values).
    pub code: &'static str,
    /// Statements run first against the same fresh store.
    pub setup: &'static [&'static str],
    /// Strings the output (table form) must contain.
    pub expect: &'static [&'static str],
}

/// How strongly a cmdlet asks before acting (PowerShell's ConfirmImpact).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impact {
    /// Reads only: no -WhatIf/-Confirm.
    None,
    /// Changes state; asks only with -Confirm.
    Medium,
    /// Removes things; asks unless -Confirm:$false or -Force.
    High,
}

pub type RunFn = fn(&mut Ctx<'_>, &Bound) -> Result<Vec<Value>, CmdletError>;

/// A cmdlet.
#[derive(Debug, Clone, Copy)]
pub struct CmdletDecl {
    /// `Verb-Noun`.
    pub name: &'static str,
    /// Extra CLI names (`request-cert`).
    pub aliases: &'static [&'static str],
    pub synopsis: &'static str,
    pub description: &'static str,
    pub params: &'static [ParamDecl],
    /// Parameter set names; the first is the default. Empty: one unnamed set.
    pub sets: &'static [&'static str],
    pub impact: Impact,
    /// What it writes to the pipeline (documentation).
    pub outputs: &'static str,
    pub examples: &'static [Example],
    pub run: RunFn,
}

impl CmdletDecl {
    /// The CLI subcommand: the name in lower case.
    pub fn command(&self) -> String {
        self.name.to_ascii_lowercase()
    }

    pub fn param(&self, name: &str) -> Option<&ParamDecl> {
        self.params.iter().find(|p| p.is_named(name))
    }

    pub fn changes_state(&self) -> bool {
        self.impact != Impact::None
    }

    /// Declared parameters plus the common ones the framework adds.
    pub fn all_params(&self) -> Vec<&'static ParamDecl> {
        let mut v: Vec<&'static ParamDecl> = self.params.iter().collect();
        if self.changes_state() {
            v.extend(common::LIST.iter());
        }
        v
    }
}

params!(pub common {
    WhatIf: bool = param(
        Kind::Switch,
        "Show what would change without changing anything (validation still runs).",
    ),
    Confirm: bool = param(
        Kind::Switch,
        "Ask before acting (-Confirm), or never ask (-Confirm:$false; CLI --confirm=false).",
    ),
});

/// `-Force`, read by the framework for every cmdlet that declares it
/// (declared with [`crate::named::FORCE`]).
#[allow(non_upper_case_globals)]
pub const Force: Param<bool> = Param::new("Force");

/// `TLSReceiveDomainSecureList` -> `tls-receive-domain-secure-list`,
/// `DNSRoutingEnabled` -> `dns-routing-enabled`, `IgnoreSTARTTLS` -> `ignore-starttls`.
pub fn kebab(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('-');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::kebab;

    #[test]
    fn kebab_names() {
        assert_eq!(
            kebab("TLSReceiveDomainSecureList"),
            "tls-receive-domain-secure-list"
        );
        assert_eq!(kebab("DNSRoutingEnabled"), "dns-routing-enabled");
        assert_eq!(kebab("IgnoreSTARTTLS"), "ignore-starttls");
        assert_eq!(kebab("RemoteIPRanges"), "remote-ip-ranges");
        assert_eq!(kebab("ExternalDNSServers"), "external-dns-servers");
        assert_eq!(kebab("RequireTLS"), "require-tls");
        assert_eq!(kebab("WhatIf"), "what-if");
        assert_eq!(kebab("Fqdn"), "fqdn");
    }
}
