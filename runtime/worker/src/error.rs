//! The worker crate's error type: what went wrong starting, running or checking a worker.

use std::path::PathBuf;

/// What can go wrong on either side of the worker protocol.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or folder of the job could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
    /// The job, or what the worker returned, was refused: malformed, out of bounds, or
    /// disagreeing with the parent's own checks. The message says which and why.
    #[error("{0}")]
    Rejected(String),
    /// No worker program could be found to start.
    #[error("{0}")]
    NotFound(String),
    /// The worker could not start, or failed; the message carries its last error line.
    #[error("{0}")]
    Failed(String),
    /// Training or inference failed in the runtime.
    #[error("runtime: {0}")]
    Runtime(#[from] airlock_runtime::Error),
}

impl Error {
    /// The exit code the worker program ends with for this error (the codes of `airlock`,
    /// docs/architecture.md § Exit codes).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Io { .. } | Error::Failed(_) | Error::Runtime(_) => 1,
            Error::Rejected(_) => 3,
            Error::NotFound(_) => 6,
        }
    }
}

/// The worker crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// Adds a path to `std::io::Result`s.
pub(crate) trait IoContext<T> {
    /// Maps an I/O error to [`Error::Io`] naming `path`.
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }
}
