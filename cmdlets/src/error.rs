//! Cmdlet errors: each says who is at fault and names the parameter, value
//! or file. Exit code 2 means the command itself is malformed (unknown or
//! ambiguous parameter, missing argument, conflicting parameter sets); 1
//! means a well-formed command failed (a value or a rule, a missing object,
//! the store).

use xshell_core::model::RuleViolation;
use xshell_core::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CmdletError {
    /// The command line or statement is malformed.
    #[error("{0}")]
    Usage(String),
    /// A value given to a parameter is not acceptable.
    #[error("cannot bind parameter '{param}': {message}")]
    BadValue { param: String, message: String },
    /// The resulting object breaks a rule.
    #[error("{}", .0.message)]
    Rule(RuleViolation),
    #[error("{kind} '{identity}' was not found")]
    NotFound {
        kind: &'static str,
        identity: String,
    },
    /// A server-qualified identity (`EX02\\Inbound`) names another server
    /// than the one this store's transport service is.
    /// The server is the part of `identity` before its first `\\`, or
    /// the whole identity for a server.
    #[error("{}", other_server(kind, identity, this_server))]
    OtherServer {
        kind: &'static str,
        identity: String,
        this_server: String,
    },
    #[error("{0}")]
    Conflict(String),
    /// A prompt was needed and could not be answered.
    #[error("{0}")]
    NeedsConfirmation(String),
    /// A file the cmdlet reads (a provisioning file) is malformed: the
    /// position is 1-based, as editors show it.
    #[error("{path}:{line}:{column}: {message}")]
    BadFile {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else that went wrong while acting (file I/O, PKI).
    #[error("{0}")]
    Failed(String),
    /// A Test- cmdlet ran and its verdict is a failure: `output` (the
    /// result objects) is still written, then the failure is reported as a
    /// non-terminating error (the shell's `$?` is false) and the command
    /// exits 1, so CI can gate on it.
    #[error("{message}")]
    Verdict {
        message: String,
        output: Vec<crate::value::Value>,
    },
}

fn other_server(kind: &str, identity: &str, this_server: &str) -> String {
    let about = match identity.split_once('\\') {
        Some((server, _)) => {
            format!("{kind} '{identity}' is on server {server}, not on this server {this_server}")
        }
        None => format!("'{identity}' is another server than this one, {this_server}"),
    };
    format!(
        "{about}: xshell manages only its own transport server (Get-TransportService shows its name)"
    )
}

impl CmdletError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CmdletError::Usage(_) => 2,
            _ => 1,
        }
    }

    pub fn bad_value(param: &str, message: impl Into<String>) -> CmdletError {
        CmdletError::BadValue {
            param: param.to_string(),
            message: message.into(),
        }
    }

    /// The parameters this error is about, for structured output.
    pub fn params(&self) -> Vec<String> {
        match self {
            CmdletError::BadValue { param, .. } => vec![param.clone()],
            CmdletError::Rule(r) => r.params.iter().map(|p| p.to_string()).collect(),
            _ => Vec::new(),
        }
    }
}

impl From<RuleViolation> for CmdletError {
    fn from(r: RuleViolation) -> Self {
        CmdletError::Rule(r)
    }
}
