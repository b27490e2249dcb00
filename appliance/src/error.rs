//! The appliance's error type and the exit codes the `airlock` program maps
//! it to. Every variant carries what an operator needs to act: which file,
//! which row and column, which site or key, expected versus found.

use std::path::PathBuf;

/// Exit codes of the `airlock` program, documented in the README.
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// An internal or I/O failure (disk full, permission denied, ...).
    pub const FAILURE: i32 = 1;
    /// The command line was wrong (unknown flag, missing argument).
    pub const USAGE: i32 = 2;
    /// Input was rejected: a file breaks its contract or is malformed.
    pub const REJECTED: i32 = 3;
    /// An integrity check failed: bad signature, digest mismatch, corrupt or
    /// tampered file, broken audit chain.
    pub const INTEGRITY: i32 = 4;
    /// Refused by policy: untrusted site, wrong recipient, replayed bundle,
    /// ungated or unapproved model, feature set mismatch.
    pub const REFUSED: i32 = 5;
    /// A named object, dataset, model or home does not exist.
    pub const NOT_FOUND: i32 = 6;
    /// A key file is missing, unreadable, of the wrong kind, too permissive,
    /// or does not belong to this site.
    pub const KEY: i32 = 7;
    /// Not an error: the command ran and found drift (`data drift`); its
    /// report is printed in full, as with no drift.
    pub const DRIFT: i32 = 8;
}

/// Everything that can go wrong in the appliance.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
    /// The SQLite store failed.
    #[error("store: {0}")]
    Store(crate::store::error::StoreError),
    /// A key file problem (missing, wrong kind, mode too open, wrong site).
    #[error("key file {}: {reason}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// Input data or a document was rejected (contract violations, malformed
    /// CSV, TOML or JSON). The message lists what is wrong and where.
    #[error("{0}")]
    Rejected(String),
    /// An integrity check failed (signature, digest, audit chain, corrupt bundle).
    #[error("{0}")]
    Integrity(String),
    /// The operation is refused by policy.
    #[error("{0}")]
    Refused(String),
    /// Something named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Training or inference failed in the runtime.
    #[error("runtime: {0}")]
    Runtime(#[from] airlock_runtime::Error),
}

impl From<airlock_worker::Error> for Error {
    fn from(e: airlock_worker::Error) -> Self {
        match e {
            airlock_worker::Error::Io { path, source } => Error::Io { path, source },
            airlock_worker::Error::NotFound(m) => Error::NotFound(m),
            airlock_worker::Error::Runtime(r) => Error::Runtime(r),
            // Refused outputs and failed workers: the run is refused, as before the worker
            // had a crate of its own.
            other => Error::Rejected(other.to_string()),
        }
    }
}

impl Error {
    /// The `airlock` exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Io { .. } | Error::Store(_) => exit::FAILURE,
            Error::Key { .. } => exit::KEY,
            Error::Rejected(_) => exit::REJECTED,
            Error::Integrity(_) => exit::INTEGRITY,
            Error::Refused(_) => exit::REFUSED,
            Error::NotFound(_) => exit::NOT_FOUND,
            Error::Runtime(_) => exit::FAILURE,
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

impl From<airlock_core::Error> for Error {
    /// The core's errors keep their message; the category picks the exit code.
    fn from(e: airlock_core::Error) -> Self {
        use airlock_core::error::Category;
        match e {
            airlock_core::Error::Io { path, source } => Error::Io { path, source },
            e => match e.category() {
                Category::Integrity => Error::Integrity(e.to_string()),
                Category::Refused => Error::Refused(e.to_string()),
                _ => Error::Rejected(e.to_string()),
            },
        }
    }
}

/// The appliance's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// Adds a path to `std::io::Result`s.
pub trait IoContext<T> {
    /// Maps an I/O error to [`Error::Io`] naming `path`.
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_keep_their_message_and_get_the_exit_code_of_their_category() {
        let cases = [
            (
                airlock_core::Error::BadName {
                    what: "name",
                    name: "a b".into(),
                    rule: "use 1-64 letters, digits, '-', '_' or '.'",
                },
                exit::REJECTED,
            ),
            (
                airlock_core::Error::UnknownKind { kind: "x".into() },
                exit::REJECTED,
            ),
            (
                airlock_core::Error::Integrity("bad".into()),
                exit::INTEGRITY,
            ),
            (airlock_core::Error::Refused("no".into()), exit::REFUSED),
            (
                airlock_core::Error::io("/x", std::io::Error::other("disk")),
                exit::FAILURE,
            ),
        ];
        for (core, code) in cases {
            let message = core.to_string();
            let e = Error::from(core);
            assert_eq!(e.exit_code(), code, "{e}");
            assert_eq!(e.to_string(), message);
        }
    }
}
