//! Error handling as PowerShell does it: the `-ErrorAction` values
//! (`ActionPreference`), the common parameters every command accepts, and the
//! error records kept in `$Error`, `-ErrorVariable` and `$_` in `catch`.
//!
//! xshell's rules (docs/guide.md, "Errors in scripts"):
//!
//! - A cmdlet's error follows the command's `-ErrorAction`, else
//!   `$ErrorActionPreference`, which starts as `Stop` in xshell (PowerShell's
//!   default is `Continue`): a provisioning script stops at its first failure.
//! - Usage errors (parameter binding: unknown or ambiguous parameter, wrong
//!   type, missing value, surplus positional value, missing mandatory
//!   parameter) are always terminating: `-ErrorAction` never silences them.
//!   They fail the statement; under a preference other than `Stop` they are
//!   shown and the next statement runs (PowerShell's statement-terminating
//!   errors), the script still exiting non-zero.
//! - `Continue` shows the error and goes on; `SilentlyContinue` records it in
//!   `$Error` and `-ErrorVariable` without showing it; `Ignore` forgets it.
//!   `Inquire` and `Suspend` are refused: a script never prompts.

use super::RuntimeError;
use crate::lang::Arg as AstArg;
use xshell_cmdlets::value::{Object, View};
use xshell_cmdlets::{CmdletError, Value};

/// What to do when a command fails: PowerShell's `ActionPreference`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorAction {
    /// 0: record the error, show nothing, go on.
    SilentlyContinue,
    /// 1: the error terminates the script (or goes to `catch`).
    Stop,
    /// 2: show the error and go on.
    Continue,
    /// 4: go on as if nothing happened (`$?` is still false).
    Ignore,
}

/// The names of `ActionPreference`, by numeric value.
const ACTION_NAMES: [&str; 6] = [
    "SilentlyContinue",
    "Stop",
    "Continue",
    "Inquire",
    "Ignore",
    "Suspend",
];

impl ErrorAction {
    /// Parses a name (any case) or a number 0-5, as PowerShell converts to
    /// `ActionPreference`. `what` names the parameter or variable for messages.
    pub fn parse(v: &Value, what: &str) -> Result<ErrorAction, String> {
        let text = super::display_in_string(v);
        let index = match v {
            Value::Int(i) => usize::try_from(*i).ok(),
            _ => text.trim().parse::<usize>().ok().or_else(|| {
                ACTION_NAMES
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(text.trim()))
            }),
        };
        match index {
            Some(0) => Ok(ErrorAction::SilentlyContinue),
            Some(1) => Ok(ErrorAction::Stop),
            Some(2) => Ok(ErrorAction::Continue),
            Some(4) => Ok(ErrorAction::Ignore),
            Some(n @ (3 | 5)) => Err(format!(
                "{what} {} is not supported: xshell never prompts or suspends a script; use Stop, Continue, SilentlyContinue or Ignore",
                ACTION_NAMES[n]
            )),
            _ => Err(format!(
                "'{text}' is not a valid value for {what}; valid values are {} (or 0-5)",
                ACTION_NAMES.join(", ")
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ErrorAction::SilentlyContinue => "SilentlyContinue",
            ErrorAction::Stop => "Stop",
            ErrorAction::Continue => "Continue",
            ErrorAction::Ignore => "Ignore",
        }
    }
}

/// Why evaluation stopped: an error, or a control-flow jump travelling up to
/// the construct that handles it.
#[derive(Debug, Clone, PartialEq)]
pub enum Flow {
    /// A failure.
    Error,
    /// `break` (to the innermost loop).
    Break,
    /// `continue` (to the innermost loop).
    Continue,
    /// `return` from a function or script, with the value already output.
    Return,
    /// `exit [code]`: the script ends (the code is kept by the shell).
    Exit,
    /// Standard output was closed (`| head`): stop quietly.
    OutputClosed,
}

/// The common parameters PowerShell adds to every cmdlet; the runtime
/// handles them, the binder never sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommonParam {
    ErrorAction,
    ErrorVariable,
    OutVariable,
    WarningAction,
    WarningVariable,
    InformationAction,
    InformationVariable,
    OutBuffer,
    PipelineVariable,
    Verbose,
    Debug,
}

/// The common parameters' names, for suggestions.
pub const COMMON_NAMES: &[&str] = &[
    "ErrorAction",
    "ErrorVariable",
    "OutVariable",
    "WarningAction",
    "WarningVariable",
    "InformationAction",
    "InformationVariable",
    "OutBuffer",
    "PipelineVariable",
    "Verbose",
    "Debug",
];

impl CommonParam {
    /// The common parameter `name` (exact name or alias, any case) denotes.
    pub fn find(name: &str) -> Option<CommonParam> {
        const ALL: &[(&str, &str, CommonParam)] = &[
            ("ErrorAction", "ea", CommonParam::ErrorAction),
            ("ErrorVariable", "ev", CommonParam::ErrorVariable),
            ("OutVariable", "ov", CommonParam::OutVariable),
            ("WarningAction", "wa", CommonParam::WarningAction),
            ("WarningVariable", "wv", CommonParam::WarningVariable),
            ("InformationAction", "infa", CommonParam::InformationAction),
            (
                "InformationVariable",
                "iv",
                CommonParam::InformationVariable,
            ),
            ("OutBuffer", "ob", CommonParam::OutBuffer),
            ("PipelineVariable", "pv", CommonParam::PipelineVariable),
            ("Verbose", "vb", CommonParam::Verbose),
            ("Debug", "db", CommonParam::Debug),
        ];
        ALL.iter()
            .find(|(n, a, _)| n.eq_ignore_ascii_case(name) || a.eq_ignore_ascii_case(name))
            .map(|(_, _, p)| *p)
    }

    /// A switch (no value after it unless written `-Verbose:$false`).
    pub fn is_switch(self) -> bool {
        matches!(self, CommonParam::Verbose | CommonParam::Debug)
    }

    /// Takes an `ActionPreference` value.
    pub fn is_action(self) -> bool {
        matches!(
            self,
            CommonParam::ErrorAction | CommonParam::WarningAction | CommonParam::InformationAction
        )
    }
}

/// A common parameter as written: which, its argument, its value if any.
pub type CommonArg<'a> = (CommonParam, &'a AstArg, Option<&'a crate::lang::Expr>);

/// Splits a command's arguments into the common parameters (with their
/// value expression, if any) and the rest, in order.
pub fn split_common(args: &[AstArg]) -> (Vec<CommonArg<'_>>, Vec<AstArg>) {
    let mut common = Vec::new();
    let mut rest = Vec::new();
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        if let AstArg::Parameter {
            name, colon_value, ..
        } = a
            && let Some(p) = CommonParam::find(name)
        {
            let value = match colon_value {
                Some(e) => Some(e),
                None if p.is_switch() => None,
                None => match it.peek() {
                    Some(AstArg::Value(e)) => {
                        it.next();
                        Some(e)
                    }
                    _ => None,
                },
            };
            common.push((p, a, value));
            continue;
        }
        rest.push(a.clone());
    }
    (common, rest)
}

/// A variable named by -ErrorVariable/-OutVariable: `name`, or `+name` to
/// append to what it holds.
pub fn variable_target(v: &Value) -> (String, bool) {
    let text = super::display_in_string(v);
    let text = text.trim().trim_start_matches('$');
    match text.strip_prefix('+') {
        Some(name) => (name.to_string(), true),
        None => (text.to_string(), false),
    }
}

/// PowerShell's error category and error id for a cmdlet error.
fn category(e: &CmdletError, thrown: bool) -> (&'static str, &'static str) {
    if thrown {
        return ("OperationStopped", "RuntimeException");
    }
    match e {
        CmdletError::Usage(_) => ("InvalidArgument", "ParameterBindingException"),
        CmdletError::BadValue { .. } => ("InvalidArgument", "ParameterArgumentValidationError"),
        CmdletError::Rule(_) => ("InvalidData", "RuleViolation"),
        CmdletError::NotFound { .. } | CmdletError::OtherServer { .. } => {
            ("ObjectNotFound", "ManagementObjectNotFoundException")
        }
        CmdletError::Conflict(_) => ("ResourceExists", "ManagementObjectAlreadyExistsException"),
        CmdletError::NeedsConfirmation(_) => ("InvalidOperation", "ConfirmationRequired"),
        CmdletError::BadFile { .. } => ("InvalidData", "InvalidFileContent"),
        CmdletError::Store(_) => ("WriteError", "StoreError"),
        CmdletError::Failed(_) => ("NotSpecified", "RuntimeException"),
        CmdletError::Verdict { .. } => ("InvalidResult", "TestFailed"),
    }
}

/// The type name error records carry.
pub const ERROR_RECORD: &str = "ErrorRecord";

/// The error record of `e` as `$Error`, `-ErrorVariable` and `$_` in `catch`
/// hold it: `.Exception.Message`, `.CategoryInfo` (`.Category`, `.Activity`,
/// `.Reason`), `.FullyQualifiedErrorId` (`Id,Cmdlet`), `.TargetObject` (what
/// `throw` threw) and `.InvocationInfo` (`.MyCommand`, `.ScriptName`,
/// `.ScriptLineNumber`, `.OffsetInLine`, `.PositionMessage`).
pub fn error_record(e: &RuntimeError, source_name: &str, source: &str) -> Value {
    if let Some(record) = e.thrown.as_ref().and_then(|t| t.record.as_ref()) {
        return record.clone();
    }
    let (cat, id) = category(&e.error, e.thrown.is_some());
    let activity = e.cmdlet.unwrap_or_default().to_string();
    let (line, col) = e.span.line_col(source);
    let exception = Object::new("Exception", View::List)
        .with("Message", Value::Str(e.error.to_string()))
        .with("TypeName", Value::Str(id.to_string()));
    let category_info = Object::new("ErrorCategoryInfo", View::List)
        .with("Category", Value::Str(cat.to_string()))
        .with("Activity", Value::Str(activity.clone()))
        .with("Reason", Value::Str(id.to_string()))
        .with(
            "Text",
            Value::Str(format!(
                "{cat}: (:) [{activity}], {id}",
                activity = if activity.is_empty() { "" } else { &activity }
            )),
        );
    let invocation = Object::new("InvocationInfo", View::List)
        .with("MyCommand", Value::Str(activity.clone()))
        .with("ScriptName", Value::Str(source_name.to_string()))
        .with("ScriptLineNumber", Value::Int(line as i64))
        .with("OffsetInLine", Value::Int(col as i64))
        .with(
            "PositionMessage",
            Value::Str(format!("{source_name}:{line}:{col}")),
        );
    let fqid = if activity.is_empty() {
        id.to_string()
    } else {
        format!("{id},{activity}")
    };
    Value::Object(
        Object::new(ERROR_RECORD, View::List)
            .with("Exception", Value::Object(exception))
            .with("CategoryInfo", Value::Object(category_info))
            .with("FullyQualifiedErrorId", Value::Str(fqid))
            .with(
                "TargetObject",
                e.thrown.as_ref().map_or(Value::Null, |t| t.value.clone()),
            )
            .with("InvocationInfo", Value::Object(invocation)),
    )
}

/// How an error record reads when output or put in a string:
/// `Cmdlet: message`, as PowerShell shows it.
pub fn record_text(o: &Object) -> Option<String> {
    if o.type_name != ERROR_RECORD {
        return None;
    }
    let message = match o.get("Exception") {
        Some(Value::Object(ex)) => ex.get("Message").map(|m| m.to_string()),
        _ => None,
    }
    .unwrap_or_default();
    let activity = match o.get("CategoryInfo") {
        Some(Value::Object(ci)) => ci.get("Activity").map(|a| a.to_string()),
        _ => None,
    }
    .unwrap_or_default();
    Some(if activity.is_empty() {
        message
    } else {
        format!("{activity}: {message}")
    })
}

/// Removes the binder's `Cmdlet: ` prefix from a usage message: the runtime
/// and the CLI name the cmdlet themselves, once.
pub fn strip_cmdlet_prefix(e: CmdletError, cmdlet: &str) -> CmdletError {
    match e {
        CmdletError::Usage(m) => match m.strip_prefix(cmdlet).and_then(|r| r.strip_prefix(": ")) {
            Some(rest) => CmdletError::Usage(rest.to_string()),
            None => CmdletError::Usage(m),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_preference_names_and_numbers() {
        let s = |t: &str| ErrorAction::parse(&Value::Str(t.into()), "-ErrorAction");
        assert_eq!(s("silentlycontinue"), Ok(ErrorAction::SilentlyContinue));
        assert_eq!(s("STOP"), Ok(ErrorAction::Stop));
        assert_eq!(s("4"), Ok(ErrorAction::Ignore));
        let n = |i| ErrorAction::parse(&Value::Int(i), "-ErrorAction");
        assert_eq!(n(0), Ok(ErrorAction::SilentlyContinue));
        assert_eq!(n(1), Ok(ErrorAction::Stop));
        assert_eq!(n(2), Ok(ErrorAction::Continue));
        assert!(n(3).unwrap_err().contains("Inquire is not supported"));
        assert!(n(5).unwrap_err().contains("Suspend is not supported"));
        let bogus = s("Bogus").unwrap_err();
        assert!(bogus.contains("'Bogus' is not a valid value for -ErrorAction"));
        assert!(bogus.contains("SilentlyContinue, Stop, Continue, Inquire, Ignore, Suspend"));
        assert!(n(-1).is_err() && n(6).is_err());
    }

    #[test]
    fn common_parameters_are_split_off_with_their_values() {
        let script = crate::lang::parse_script(
            "Get-X a -EA 0 -Verbose -ErrorVariable +e -OutVariable:o -b c",
        )
        .unwrap();
        let crate::lang::StatementKind::Pipeline(p) = &script.statements[0].kind else {
            panic!()
        };
        let crate::lang::PipelineElement::Command(c) = &p.elements[0] else {
            panic!()
        };
        let (common, rest) = split_common(&c.args);
        let kinds: Vec<CommonParam> = common.iter().map(|(p, _, _)| *p).collect();
        assert_eq!(
            kinds,
            [
                CommonParam::ErrorAction,
                CommonParam::Verbose,
                CommonParam::ErrorVariable,
                CommonParam::OutVariable
            ]
        );
        assert!(common[1].2.is_none());
        assert_eq!(rest.len(), 3, "a, -b and c stay");
    }

    #[test]
    fn variable_targets_and_prefix_stripping() {
        assert_eq!(
            variable_target(&Value::Str("+err".into())),
            ("err".to_string(), true)
        );
        assert_eq!(
            variable_target(&Value::Str("err".into())),
            ("err".to_string(), false)
        );
        let e = strip_cmdlet_prefix(CmdletError::Usage("Get-X: bad".into()), "Get-X");
        assert_eq!(e.to_string(), "bad");
        let e = strip_cmdlet_prefix(CmdletError::Usage("Get-Xy: bad".into()), "Get-X");
        assert_eq!(e.to_string(), "Get-Xy: bad");
    }
}
