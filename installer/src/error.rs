//! The installer's error type. Its exit codes are the `airlock` program's
//! (`docs/architecture.md` § Exit codes), so a script that drives both reads
//! one table.

use std::path::PathBuf;

use airlock::error::exit;

/// Everything that can go wrong while installing, sealing, verifying or updating a node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The appliance library refused or failed (opening the home, its keys, the audit log).
    #[error(transparent)]
    Appliance(#[from] airlock::Error),
    /// A file or folder under the root could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
    /// Input was malformed: a version, a configuration file, a release archive's layout.
    #[error("{0}")]
    Rejected(String),
    /// A signature, digest or seal did not verify, or the node's files differ from their seal.
    #[error("{0}")]
    Integrity(String),
    /// Refused: an existing install, a downgrade, a release key not pinned here, a failed
    /// health check.
    #[error("{0}")]
    Refused(String),
    /// Something named does not exist: no install, no seal, no release to roll back to.
    #[error("{0}")]
    NotFound(String),
}

impl Error {
    /// The exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Appliance(e) => e.exit_code(),
            Error::Io { .. } => exit::FAILURE,
            Error::Rejected(_) => exit::REJECTED,
            Error::Integrity(_) => exit::INTEGRITY,
            Error::Refused(_) => exit::REFUSED,
            Error::NotFound(_) => exit::NOT_FOUND,
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// The installer's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// Adds a path to `std::io::Result`s.
pub(crate) trait At<T> {
    /// Maps an I/O error to [`Error::Io`] naming `path`.
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> At<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
