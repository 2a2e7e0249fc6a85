//! [`Failure`]: how a command fails, as one line and an exit code.

use std::process::ExitCode;

/// A command's failure: printed as `error: <message>` on stderr.
#[derive(Debug)]
pub struct Failure {
    /// The process exit code.
    pub code: u8,
    /// What went wrong, on one line.
    pub message: String,
}

impl Failure {
    /// The topology did not load (bad file, parameter, component or graph):
    /// exit code 2, nothing ran.
    pub fn config(error: impl std::fmt::Display) -> Self {
        Failure { code: 2, message: error.to_string() }
    }

    /// The topology failed while running: exit code 1.
    pub fn runtime(error: impl std::fmt::Display) -> Self {
        Failure { code: 1, message: error.to_string() }
    }

    /// Prints the error and returns the exit code.
    pub fn report(self) -> ExitCode {
        let line: Vec<&str> = self.message.lines().map(str::trim).collect();
        eprintln!("error: {}", line.join(" "));
        ExitCode::from(self.code)
    }
}
