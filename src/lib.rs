//! The xshell management shell: front ends (argv, and the shell language),
//! the terminal host and output.

pub mod cli;
pub mod host;
pub mod lang;
pub mod shell;
pub mod suggest;
