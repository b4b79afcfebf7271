//! What a running cmdlet can reach: the store, the host (prompts, warnings),
//! and the common parameters' state (-WhatIf, -Confirm, -Force).

use crate::error::CmdletError;
use crate::value::Props;
use xshell_core::model::OrgConfig;
use xshell_core::store::{Outcome, Store};

/// An answer to a confirmation prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    YesToAll,
    No,
    NoToAll,
}

/// The user interface a cmdlet talks to (a terminal, a script runner, a test).
pub trait Host {
    /// Whether a person can answer prompts.
    fn interactive(&self) -> bool;
    /// Ask a yes/no question Exchange-style. Only called when interactive.
    fn confirm(&mut self, caption: &str, message: &str) -> Result<Answer, CmdletError>;
    /// Read a secret without echo. Only called when interactive.
    fn read_secret(&mut self, prompt: &str) -> Result<String, CmdletError>;
    fn warn(&mut self, message: &str);
    fn info(&mut self, message: &str);
}

/// A host with no terminal: prompts fail, messages are collected.
#[derive(Debug, Default)]
pub struct BatchHost {
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

impl Host for BatchHost {
    fn interactive(&self) -> bool {
        false
    }
    fn confirm(&mut self, _: &str, _: &str) -> Result<Answer, CmdletError> {
        Err(CmdletError::NeedsConfirmation(
            "no terminal to ask on".into(),
        ))
    }
    fn read_secret(&mut self, _: &str) -> Result<String, CmdletError> {
        Err(CmdletError::NeedsConfirmation(
            "no terminal to ask on".into(),
        ))
    }
    fn warn(&mut self, message: &str) {
        self.warnings.push(message.to_string());
    }
    fn info(&mut self, message: &str) {
        self.infos.push(message.to_string());
    }
}

/// `-Confirm` as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmFlag {
    NotGiven,
    Ask,
    DoNotAsk,
}

/// The environment of one cmdlet invocation (kept across the objects of one
/// pipeline so that "Yes to All" holds).
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub host: &'a mut dyn Host,
    pub cmdlet: &'static str,
    pub what_if: bool,
    pub confirm: ConfirmFlag,
    pub force: bool,
    pub high_impact: bool,
    /// Which properties the output objects need (all, unless the caller
    /// shows them straight as a table).
    pub props: Props,
    sticky: Option<bool>,
}

impl<'a> Ctx<'a> {
    pub fn new(store: &'a Store, host: &'a mut dyn Host, cmdlet: &'static str) -> Ctx<'a> {
        Ctx {
            store,
            host,
            cmdlet,
            what_if: false,
            confirm: ConfirmFlag::NotGiven,
            force: false,
            high_impact: false,
            props: Props::All,
            sticky: None,
        }
    }

    pub fn warn(&mut self, message: &str) {
        self.host.warn(message);
    }

    /// Ask before acting, as PowerShell's ShouldProcess does. Returns false
    /// when the user declined. Fails when an answer is needed and there is
    /// no terminal.
    pub fn should_process(&mut self, action: &str, target: &str) -> Result<bool, CmdletError> {
        let ask = match self.confirm {
            ConfirmFlag::Ask => true,
            ConfirmFlag::DoNotAsk => false,
            ConfirmFlag::NotGiven => self.high_impact && !self.force,
        };
        if !ask {
            return Ok(true);
        }
        if let Some(all) = self.sticky {
            return Ok(all);
        }
        if !self.host.interactive() {
            // The error is shown after the cmdlet's name, which says what
            // the action is: name only the target and the way out.
            let force = crate::find(self.cmdlet).is_some_and(|d| d.param("Force").is_some());
            let or_force = if force {
                " or -Force (CLI: --force)"
            } else {
                ""
            };
            return Err(CmdletError::NeedsConfirmation(format!(
                "nothing was done to '{target}': this needs a confirmation and there is no \
                 terminal to ask on; pass -Confirm:$false (CLI: --confirm=false){or_force} to go ahead"
            )));
        }
        let answer = self.host.confirm(
            "Confirm",
            &format!("Are you sure you want to perform this action?\nPerforming the operation \"{action}\" on target \"{target}\"."),
        )?;
        Ok(match answer {
            Answer::Yes => true,
            Answer::No => false,
            Answer::YesToAll => {
                self.sticky = Some(true);
                true
            }
            Answer::NoToAll => {
                self.sticky = Some(false);
                false
            }
        })
    }

    /// The one write of a cmdlet: asks if needed, then runs `change` inside a
    /// store transaction. With -WhatIf the change is validated on a copy and
    /// described, and nothing is written. Returns None when nothing was done
    /// (declined or -WhatIf).
    pub fn commit<T>(
        &mut self,
        action: &str,
        target: &str,
        change: impl FnMut(&mut OrgConfig) -> Result<T, CmdletError>,
    ) -> Result<Option<T>, CmdletError> {
        if self.what_if {
            self.store.update(true, change)?;
            self.host.info(&format!(
                "What if: Performing the operation \"{action}\" on target \"{target}\"."
            ));
            return Ok(None);
        }
        if !self.should_process(action, target)? {
            return Ok(None);
        }
        let (value, outcome) = self.store.update(false, change)?;
        if let Outcome::Unchanged { .. } = outcome {
            self.host.warn(&format!(
                "The command completed successfully but no settings of '{target}' have been modified."
            ));
        }
        Ok(Some(value))
    }
}
