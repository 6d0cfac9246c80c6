//! Errors of the command line, each with the exit code it ends the process with.

use std::fmt;

/// Exit codes (sysexits.h where one fits). Documented in `behalf --help` and the README.
pub mod exit {
    pub const OK: u8 = 0;
    /// `verify`: denied. Other commands: the check failed (a test, the audit chain).
    pub const DENIED: u8 = 1;
    /// `verify`: approval required.
    pub const APPROVAL_REQUIRED: u8 = 2;
    /// Bad arguments or flags.
    pub const USAGE: u8 = 64;
    /// An input file that is not what it should be (a test file, a map file).
    pub const DATA: u8 = 65;
    /// A fault of behalf itself.
    pub const SOFTWARE: u8 = 70;
    /// The state database could not be read or written (corrupt, unwritable).
    pub const STATE: u8 = 74;
    /// The state database stayed locked by another process past the busy timeout.
    pub const LOCKED: u8 = 75;
    /// `behalf.json` is missing or invalid.
    pub const CONFIG: u8 = 78;
}

#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
    pub details: Vec<String>,
    pub hint: Option<String>,
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

impl CliError {
    pub fn new(code: u8, message: impl Into<String>) -> CliError {
        CliError {
            code,
            message: message.into(),
            details: Vec::new(),
            hint: None,
        }
    }
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::new(exit::USAGE, message)
    }
    pub fn config(message: impl Into<String>) -> CliError {
        CliError::new(exit::CONFIG, message)
    }
    pub fn data(message: impl Into<String>) -> CliError {
        CliError::new(exit::DATA, message)
    }
    pub fn state(message: impl Into<String>) -> CliError {
        CliError::new(exit::STATE, message)
    }
    pub fn failed(message: impl Into<String>) -> CliError {
        CliError::new(exit::DENIED, message)
    }
    pub fn hint(mut self, hint: impl Into<String>) -> CliError {
        self.hint = Some(hint.into());
        self
    }
    pub fn detail(mut self, line: impl Into<String>) -> CliError {
        self.details.push(line.into());
        self
    }

    /// Prints the error the way every command does: `error:`, details, `hint:`.
    pub fn print(&self) {
        eprintln!("error: {}", self.message);
        for d in &self.details {
            eprintln!("  {d}");
        }
        if let Some(h) = &self.hint {
            eprintln!("hint: {h}");
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        for d in &self.details {
            write!(f, "; {d}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

impl From<rusqlite::Error> for CliError {
    fn from(e: rusqlite::Error) -> CliError {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => CliError::new(
                exit::LOCKED,
                format!("the state database is locked by another process ({e})"),
            )
            .hint("another behalf process holds a long transaction; retry, or raise BEHALF_BUSY_TIMEOUT_MS; nothing was decided or recorded"),
            Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
                CliError::state(format!("the state database is corrupt ({e})")).hint(
                    "restore .behalf/state.db from a backup, or move it away to start with empty state (its audit log is then lost); nothing was decided or recorded",
                )
            }
            Some(ErrorCode::ReadOnly) | Some(ErrorCode::CannotOpen) | Some(ErrorCode::PermissionDenied) => {
                CliError::state(format!("the state database cannot be written ({e})"))
                    .hint("check that .behalf/ and .behalf/state.db are writable by this user")
            }
            _ => CliError::state(format!("state database error: {e}")),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> CliError {
        CliError::state(format!("i/o error: {e}"))
    }
}
