//! Errors a user sees, and the exit codes of SPEC section 7.
//!
//! Every failure that reaches `main` is a [`CliError`]: a one-line message, an
//! optional hint, and the exit code it maps to. Per-context failures during a
//! fan-out are [`ContextError`]s with a [`ErrorKind`]; they are data in the
//! output, not process failures, and are folded into an exit code by
//! [`Outcome`].

use serde::Serialize;
use std::fmt;

/// Exit codes, SPEC section 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Ok = 0,
    Failure = 1,
    Usage = 2,
    Partial = 3,
    Refused = 4,
    CheckFailed = 5,
    Interrupted = 130,
}

impl ExitCode {
    /// Rank in the precedence order of SPEC section 7 (2, 1, 4, 5, 3):
    /// lower wins. An interrupt outranks everything, as a signal would.
    fn rank(self) -> u8 {
        match self {
            ExitCode::Interrupted => 0,
            ExitCode::Usage => 1,
            ExitCode::Failure => 2,
            ExitCode::Refused => 3,
            ExitCode::CheckFailed => 4,
            ExitCode::Partial => 5,
            ExitCode::Ok => 6,
        }
    }

    /// The code that wins when both apply.
    pub(crate) fn merge(self, other: ExitCode) -> ExitCode {
        if other.rank() < self.rank() {
            other
        } else {
            self
        }
    }
}

/// The kind of a per-context failure (SPEC section 5, `errors[].kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ErrorKind {
    Refused,
    Timeout,
    Auth,
    Tls,
    Dns,
    Protocol,
    Redis,
    Config,
    /// Stopped by Ctrl-C/SIGTERM part-way (what was done is reported).
    Interrupted,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ErrorKind::Refused => "refused",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Auth => "auth",
            ErrorKind::Tls => "tls",
            ErrorKind::Dns => "dns",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Redis => "redis",
            ErrorKind::Config => "config",
            ErrorKind::Interrupted => "interrupted",
        };
        f.write_str(s)
    }
}

/// One context's failure: an `errors` entry in JSON, an error row in tables.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ContextError {
    pub(crate) context: String,
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
}

impl ContextError {
    /// `error: CONTEXT: KIND: MESSAGE` for stderr, control characters
    /// escaped (a context name or a server's words cannot drive the
    /// terminal).
    pub(crate) fn line(&self) -> String {
        crate::output::escape_controls(&format!(
            "error: {}: {}: {}",
            self.context, self.kind, self.message
        ))
        .into_owned()
    }
}

/// A failure of the whole command.
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) code: ExitCode,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

impl CliError {
    pub(crate) fn new(code: ExitCode, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
            hint: None,
        }
    }
    /// Exit 1: bad config, unknown context, nothing succeeded.
    pub(crate) fn failure(message: impl Into<String>) -> Self {
        Self::new(ExitCode::Failure, message)
    }
    /// Exit 2: flags that make no sense.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(ExitCode::Usage, message)
    }
    /// Exit 4: a write that was not confirmed.
    pub(crate) fn refused(message: impl Into<String>) -> Self {
        Self::new(ExitCode::Refused, message)
    }
    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // A closed pipe (`qctl ... | head -1`) is not a failure.
            return CliError::new(ExitCode::Ok, String::new());
        }
        CliError::failure(format!("I/O error: {e}"))
    }
}

pub(crate) type Result<T, E = CliError> = std::result::Result<T, E>;

/// Folds per-context outcomes into one exit code (the fd/ripgrep pattern:
/// remember, keep going, decide at the end).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Outcome {
    pub(crate) succeeded: usize,
    pub(crate) failed: usize,
    pub(crate) check_failed: bool,
}

impl Outcome {
    pub(crate) fn exit_code(&self) -> ExitCode {
        let mut code = ExitCode::Ok;
        if self.failed > 0 {
            code = if self.succeeded == 0 {
                ExitCode::Failure
            } else {
                ExitCode::Partial
            };
        }
        if self.check_failed {
            code = code.merge(ExitCode::CheckFailed);
        }
        code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_2_1_4_5_3() {
        use ExitCode::*;
        assert_eq!(Partial.merge(Usage), Usage);
        assert_eq!(Usage.merge(Failure), Usage);
        assert_eq!(Refused.merge(Failure), Failure);
        assert_eq!(CheckFailed.merge(Refused), Refused);
        assert_eq!(Partial.merge(CheckFailed), CheckFailed);
        assert_eq!(Ok.merge(Partial), Partial);
        assert_eq!(Ok.merge(Ok), Ok);
        assert_eq!(Usage.merge(Interrupted), Interrupted);
    }

    #[test]
    fn outcome_codes() {
        let all_ok = Outcome {
            succeeded: 3,
            ..Default::default()
        };
        assert_eq!(all_ok.exit_code(), ExitCode::Ok);
        let partial = Outcome {
            succeeded: 2,
            failed: 1,
            check_failed: false,
        };
        assert_eq!(partial.exit_code(), ExitCode::Partial);
        let none = Outcome {
            succeeded: 0,
            failed: 2,
            check_failed: true,
        };
        assert_eq!(none.exit_code(), ExitCode::Failure);
        let unhealthy = Outcome {
            succeeded: 2,
            failed: 1,
            check_failed: true,
        };
        assert_eq!(unhealthy.exit_code(), ExitCode::CheckFailed);
    }
}
