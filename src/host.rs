//! The terminal host: prompts when a person is there, clear errors when not.

use std::io::{BufRead, IsTerminal, Write};
use xshell_cmdlets::CmdletError;
use xshell_cmdlets::context::{Answer, Host};

/// Talks to the user on stderr/stdin. Prompts only when both stdin and
/// stderr are terminals; otherwise a prompt is an error naming the switch.
pub struct TerminalHost {
    interactive: bool,
}

impl TerminalHost {
    pub fn new() -> TerminalHost {
        TerminalHost {
            interactive: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
        }
    }
}

impl Default for TerminalHost {
    fn default() -> Self {
        Self::new()
    }
}

impl Host for TerminalHost {
    fn interactive(&self) -> bool {
        self.interactive
    }

    fn confirm(&mut self, caption: &str, message: &str) -> Result<Answer, CmdletError> {
        let mut err = std::io::stderr();
        let stdin = std::io::stdin();
        loop {
            let _ = write!(
                err,
                "\n{caption}\n{message}\n[Y] Yes  [A] Yes to All  [N] No  [L] No to All  [?] Help (default is \"Y\"): "
            );
            let _ = err.flush();
            let mut line = String::new();
            let n = stdin
                .lock()
                .read_line(&mut line)
                .map_err(|e| CmdletError::Failed(format!("cannot read the answer: {e}")))?;
            if n == 0 {
                return Err(CmdletError::NeedsConfirmation(
                    "no answer (end of input)".into(),
                ));
            }
            match line.trim().to_ascii_lowercase().as_str() {
                "" | "y" | "yes" => return Ok(Answer::Yes),
                "a" => return Ok(Answer::YesToAll),
                "n" | "no" => return Ok(Answer::No),
                "l" => return Ok(Answer::NoToAll),
                _ => {
                    let _ = writeln!(
                        err,
                        "Y - Continue with only the next step of the operation.\nA - Continue with all the steps of the operation.\n\
                         N - Skip this operation and proceed with the next operation.\nL - Skip this operation and all subsequent operations."
                    );
                }
            }
        }
    }

    fn read_secret(&mut self, prompt: &str) -> Result<String, CmdletError> {
        dialoguer::Password::new()
            .with_prompt(prompt)
            .allow_empty_password(true)
            .interact()
            .map_err(|e| CmdletError::Failed(format!("cannot read the password: {e}")))
    }

    fn warn(&mut self, message: &str) {
        crate::cli::write_err(&format!("WARNING: {message}"));
    }

    fn info(&mut self, message: &str) {
        crate::cli::write_err(message);
    }
}
