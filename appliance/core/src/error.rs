//! The core's error type.
//!
//! Each variant says which category of failure it is ([`Error::category`]), so the appliance
//! maps it to its own error and exit code in one place, and carries what a caller needs to act
//! on it: the name, key or kind at fault. The generic variants (`Rejected`, `Integrity`,
//! `Refused`) hold a finished message for the document checks whose many causes are only ever
//! shown, never branched on. A cause a caller does branch on has its own variant with its
//! fields ([`DataError`]: why a data file or request does not fit its contract), and its
//! message is made from those fields here, in its `#[error]`, so a reworded message can never
//! change which branch a caller takes.

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
    /// A data file or request does not fit its contract; callers branch on the cause (an
    /// ingest refusal records it in the audit log, `serve` counts it).
    #[error(transparent)]
    Data(#[from] DataError),
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
            | Error::Rejected(_)
            | Error::Data(_) => Category::Rejected,
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

/// Why a data file (at ingest) or a request (at scoring) does not fit its contract: the causes
/// callers branch on, each turned into the operator's message here and nowhere else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file's header (or Parquet schema) does not map onto the contract's columns.
    #[error(
        "{file} does not match contract {contract} v{version}: {}; nothing was stored{}",
        problems.join("; "),
        lines(help)
    )]
    HeaderMismatch {
        /// The file as the operator named it, already escaped as untrusted text (quoted in
        /// the message; escaped where the error is made, as this module sits below `text`).
        file: String,
        /// The contract's name.
        contract: String,
        /// The contract's version.
        version: i64,
        /// What does not fit, one item each (joined by `; ` in the message).
        problems: Vec<String>,
        /// What to write in the contract to accept the file, one line each.
        help: Vec<String>,
    },
    /// The contract expects a header row and the file has not even that.
    #[error("{file}: the file is empty (the contract expects a header row); nothing was stored")]
    EmptyFile {
        /// The file, as the operator named it.
        file: String,
    },
    /// The file has a header (or schema) but no row of data.
    #[error("{file}: no data rows; nothing was stored")]
    NoDataRows {
        /// The file, as the operator named it.
        file: String,
    },
    /// A serving request names a column the contract does not have, or has cells that break
    /// it.
    #[error("request does not follow contract {contract}{}", problems.concat())]
    Request {
        /// The contract, as `NAME vVERSION`.
        contract: String,
        /// Each problem, starting with `: column` or `, column` (as
        /// [`crate::features::request_row`] gives them).
        problems: Vec<String>,
    },
}

/// `lines` each on a line of its own after the message.
fn lines(lines: &[String]) -> String {
    lines.iter().map(|l| format!("\n{l}")).collect()
}

/// The core's result type.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    /// The data causes print exactly what the checker printed when they were `Rejected`
    /// strings, and stay rejections (exit 3 in the appliance).
    #[test]
    fn data_causes_keep_the_old_messages_and_are_rejections() {
        let cases = [
            (
                DataError::HeaderMismatch {
                    file: "in\\nput.csv".into(),
                    contract: "people".into(),
                    version: 2,
                    problems: vec![
                        "missing columns: income".into(),
                        "extra columns: salary".into(),
                    ],
                    help: vec![
                        "  to accept it, add to the contract:".into(),
                        "  ignore = [\"salary\"]".into(),
                    ],
                },
                "in\\nput.csv does not match contract people v2: missing columns: income; extra \
                 columns: salary; nothing was stored\n  to accept it, add to the contract:\n  ignore = [\"salary\"]",
            ),
            (
                DataError::HeaderMismatch {
                    file: "a.parquet".into(),
                    contract: "people".into(),
                    version: 1,
                    problems: vec!["column \"age\" is text, the contract says integer".into()],
                    help: vec![],
                },
                "a.parquet does not match contract people v1: column \"age\" is text, the contract \
                 says integer; nothing was stored",
            ),
            (
                DataError::EmptyFile {
                    file: "e.csv".into(),
                },
                "e.csv: the file is empty (the contract expects a header row); nothing was stored",
            ),
            (
                DataError::NoDataRows {
                    file: "h.csv".into(),
                },
                "h.csv: no data rows; nothing was stored",
            ),
            (
                DataError::Request {
                    contract: "people v1".into(),
                    problems: vec![": column \"x\" is not in contract people v1".into()],
                },
                "request does not follow contract people v1: column \"x\" is not in contract people v1",
            ),
        ];
        for (cause, message) in cases {
            assert_eq!(cause.to_string(), message);
            let e = Error::from(cause);
            assert_eq!(e.to_string(), message);
            assert_eq!(e.category(), Category::Rejected, "{e}");
        }
    }

    /// The contract makes its header refusal with the file name escaped (a line break in a
    /// file name cannot add a line to the message) and the problems and help as given.
    #[test]
    fn a_header_refusal_escapes_the_file_name_where_it_is_made() {
        let c = crate::contract::Contract::from_toml(
            "name = \"people\"\nversion = 2\n[[columns]]\nname = \"age\"\ntype = \"integer\"\n",
            "people.toml",
        )
        .expect("contract");
        let e = c.refuse_header(
            "in\nput.csv",
            &["missing columns: age".into()],
            &["  help".into()],
        );
        match &e {
            Error::Data(DataError::HeaderMismatch {
                file,
                contract,
                version,
                ..
            }) => {
                assert_eq!(file, "in\\nput.csv");
                assert_eq!((contract.as_str(), *version), ("people", 2));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            e.to_string(),
            "in\\nput.csv does not match contract people v2: missing columns: age; nothing was \
             stored\n  help"
        );
    }
}
