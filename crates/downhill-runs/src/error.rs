//! The errors of orchestration.

use std::path::PathBuf;

/// What can go wrong planning, running or storing runs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value out of its range, an unknown name, a malformed spec (from the core library).
    #[error(transparent)]
    Downhill(#[from] downhill::Error),
    /// An optimizer spec of a sweep that does not parse or build.
    #[error("optimizer spec '{spec}'")]
    Optimizer {
        /// The spec as given.
        spec: String,
        /// Why it was refused.
        #[source]
        source: Box<Error>,
    },
    /// Input the caller can fix; the message names the field, the value and what is accepted.
    #[error("{0}")]
    Invalid(String),
    /// A checkpoint that cannot be read or does not fit the run it is to continue.
    #[error("{}: {message}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("{context}")]
    Io {
        /// What was being done, e.g. `writing out.csv`.
        context: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// Encoding JSON failed.
    #[error("encoding JSON")]
    Json(#[from] serde_json::Error),
    /// Writing CSV failed.
    #[error("writing CSV")]
    Csv(#[from] csv::Error),
}

impl Error {
    /// Whether the error comes from input the user can fix (a command line exits with status 2
    /// for these), rather than from the machine (a failed write).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Error::Downhill(_) | Error::Optimizer { .. } | Error::Invalid(_) | Error::Checkpoint { .. }
        )
    }

    /// An [`Error::Io`] with its context.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }
}

/// The result of orchestration.
pub type Result<T, E = Error> = std::result::Result<T, E>;
