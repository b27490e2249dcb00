//! The core's error type.
//!
//! Each variant says which category of failure it is ([`Error::category`]), so the appliance
//! maps it to its own error and exit code in one place, and carries what a caller needs to act
//! on it: the name, key or kind at fault. The generic variants (`Rejected`, `Integrity`,
//! `Refused`) hold a finished message for the document checks whose many causes are only ever
//! shown, never branched on.

use std::path::PathBuf;

/// What kind of failure an [`Error`] is; the appliance maps each to an exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Category {
    /// Input was malformed or breaks a rule (exit 3).
    Rejected,
    /// A signature, digest or binding does not hold (exit 4).
    Integrity,
    /// Refused by policy (exit 5).
    Refused,
    /// Reading or writing through a caller's sink failed (exit 1).
    Io,
}

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name breaks its rule.
    #[error("{what} {name:?} is not valid: {rule}")]
    BadName {
        /// What the name names ("site name", "name", "operator name").
        what: &'static str,
        /// The name as given.
        name: String,
        /// The rule it breaks, phrased as what to do.
        rule: &'static str,
    },
    /// Text that is not 64 hex digits where an ed25519 public key belongs.
    #[error("not an ed25519 public key (64 hex digits): {key:?}")]
    PublicKeyHex {
        /// The text as given.
        key: String,
    },
    /// 32 bytes that are not a valid ed25519 public key.
    #[error("not a valid ed25519 public key: {key}")]
    PublicKey {
        /// The key, hex.
        key: String,
    },
    /// Text that is not an age X25519 recipient.
    #[error("age recipient {recipient:?}: {reason}")]
    AgeRecipient {
        /// The text as given.
        recipient: String,
        /// Why age would refuse it.
        reason: &'static str,
    },
    /// An object kind this build does not know.
    #[error("unknown object kind {kind:?}")]
    UnknownKind {
        /// The kind as given.
        kind: String,
    },
    /// A document or input was rejected; the message says what and where.
    #[error("{0}")]
    Rejected(String),
    /// An integrity check failed; the message says which.
    #[error("{0}")]
    Integrity(String),
    /// Refused by a rule of the document's own (not by this node's policy store).
    #[error("{0}")]
    Refused(String),
    /// A sink the caller supplied (a spill file, a quarantine file) failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The failure's category.
    pub fn category(&self) -> Category {
        match self {
            Error::BadName { .. }
            | Error::PublicKeyHex { .. }
            | Error::PublicKey { .. }
            | Error::AgeRecipient { .. }
            | Error::UnknownKind { .. }
            | Error::Rejected(_) => Category::Rejected,
            Error::Integrity(_) => Category::Integrity,
            Error::Refused(_) => Category::Refused,
            Error::Io { .. } => Category::Io,
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

/// The core's result type.
pub type Result<T> = std::result::Result<T, Error>;
