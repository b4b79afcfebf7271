//! Cmdlet declarations: the one place a cmdlet's name, parameters, help and
//! examples are written. The CLI (clap), the shell-language binder, `Get-Help`
//! and `docs/cmdlets/*.md` are all generated from these.

use crate::Bound;
use crate::context::Ctx;
use crate::error::CmdletError;
use crate::value::Value;

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
    /// `25MB`, `10KB`, bytes, or `Unlimited`.
    Size,
    /// `[d.]hh:mm:ss`.
    TimeSpan,
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
            Kind::Size => "size".into(),
            Kind::TimeSpan => "timespan".into(),
            Kind::Address => "address".into(),
            Kind::Thumbprint => "thumbprint".into(),
            Kind::Path => "path".into(),
            Kind::Secret => "secret".into(),
            Kind::Bytes => "bytes".into(),
            Kind::List(inner) => format!("{}[]", inner.placeholder()),
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

/// A documented example; each one is also a test.
#[derive(Debug, Clone, Copy)]
pub struct Example {
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
            v.extend(COMMON_STATE_PARAMS.iter());
        }
        v
    }
}

/// Common parameters of every cmdlet that changes state.
pub static COMMON_STATE_PARAMS: [ParamDecl; 2] = [
    ParamDecl::new(
        "WhatIf",
        Kind::Switch,
        "Show what would change without changing anything (validation still runs).",
    ),
    ParamDecl::new(
        "Confirm",
        Kind::Switch,
        "Ask before acting (-Confirm), or never ask (-Confirm:$false; CLI --confirm=false).",
    ),
];

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
