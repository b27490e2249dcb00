//! The appliance's error type and the exit codes the `airlock` program maps
//! it to. Every variant carries what an operator needs to act: which file,
//! which row and column, which site or key, expected versus found.
//!
//! Errors are layered: the core's errors ([`airlock_core::Error`]) become this
//! type in one place (`From` below), and [`Error::exit_code`] is the one place
//! that gives each an exit code. Most variants hold a finished message; a cause
//! that a caller branches on (which refusal an ingest records, whether a
//! canary's feature set differs, which object is missing) has a variant with
//! the fields the caller needs ([`Error::Data`], [`Error::Missing`],
//! [`Error::FeatureSetMismatch`], [`Error::Bundle`]), and its message is made
//! from those fields in its `#[error]`, so rewording a message cannot change a
//! branch.

use std::path::PathBuf;

use airlock_core::digest::Digest;
/// The core's data causes, kept whole in [`Error::Data`].
pub use airlock_core::error::DataError;

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
    /// A data file or request does not fit its contract (the core's cause, kept whole):
    /// an ingest records which in the audit log, `serve` counts it as a contract refusal.
    #[error(transparent)]
    Data(DataError),
    /// Something named does not exist, with what it is and which: the absences a caller
    /// branches on (the others are [`Error::NotFound`]).
    #[error(transparent)]
    Missing(Missing),
    /// A model asked to serve with a feature set version other than the one it was
    /// trained on (a canary or shadow that differs is left out of the router).
    #[error(transparent)]
    FeatureSetMismatch(Box<FeatureSetMismatch>),
    /// A bundle was refused because a part of it failed a check: the bundle file, the
    /// part, and the failure (which keeps its exit code).
    #[error("bundle rejected: {file}: {cause}")]
    Bundle {
        /// The bundle, as its parts describe it.
        file: String,
        /// Which part of the bundle.
        part: BundlePart,
        /// What was wrong with it (its message ends this one, so it is not also given
        /// as the error's `source`, which would show it twice).
        cause: Box<Error>,
    },
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
            Error::NotFound(_) | Error::Missing(_) => exit::NOT_FOUND,
            Error::Data(_) => exit::REJECTED,
            Error::FeatureSetMismatch(_) => exit::REFUSED,
            Error::Bundle { cause, .. } => cause.exit_code(),
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
            airlock_core::Error::Data(d) => Error::Data(d),
            e => match e.category() {
                Category::Integrity => Error::Integrity(e.to_string()),
                Category::Refused => Error::Refused(e.to_string()),
                _ => Error::Rejected(e.to_string()),
            },
        }
    }
}

/// What an [`Error::Missing`] says is not there, with the name or id a caller needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Missing {
    /// An object the store indexes has no file in the vault.
    #[error("vault object {id} is missing ({})", path.display())]
    VaultObject {
        /// The object's id.
        id: Digest,
        /// Where its file should be.
        path: PathBuf,
    },
    /// No version of a named thing (a dataset, contract, feature set) matches a reference.
    #[error("no {what} {name} in this store")]
    Named {
        /// What was looked for ("dataset", "contract", "feature set").
        what: String,
        /// The reference as given, `[SITE/]NAME[@VERSION]`.
        name: String,
    },
    /// A dataset's record is held but not its raw snapshot (imported without `--with-data`).
    #[error(
        "dataset {dataset}@{version} from site {site}: its raw snapshot {} is not held here \
         (export it with --with-data)",
        snapshot.short()
    )]
    Snapshot {
        /// The dataset's name.
        dataset: String,
        /// Its version.
        version: i64,
        /// The site that made it.
        site: String,
        /// The snapshot's id.
        snapshot: Digest,
    },
    /// A contract's reference dataset (for drift) is not registered here.
    #[error(
        "contract {contract} v{version}: its reference dataset {reference} is not in this store"
    )]
    ReferenceDataset {
        /// The contract's name.
        contract: String,
        /// Its version.
        version: i64,
        /// The reference as the contract gives it.
        reference: String,
    },
    /// No feature set was materialized yet: the online store does not exist.
    #[error("no online store at {} yet; run `airlock features materialize SET@VERSION`", path.display())]
    OnlineStore {
        /// Where the online store would be.
        path: PathBuf,
    },
    /// The feature set version is not materialized in the online store.
    #[error(
        "feature set {set} is not in the online store; run `airlock features materialize {set}`"
    )]
    OnlineTable {
        /// The feature set as asked, `[SITE/]NAME[@VERSION]`.
        set: String,
    },
}

/// The model and the two feature set versions of an [`Error::FeatureSetMismatch`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "feature set mismatch: the deployed model {} was trained on feature set {trained_on} ({}), \
     the request asks for {asked} ({}); a model is only served with its own feature set version",
    model.short(),
    trained_on_id.short(),
    asked_id.short()
)]
pub struct FeatureSetMismatch {
    /// The deployed model.
    pub model: Digest,
    /// The feature set it was trained on, `name@version`.
    pub trained_on: String,
    /// Its id.
    pub trained_on_id: Digest,
    /// The feature set the request asks for, `name@version`.
    pub asked: String,
    /// Its id.
    pub asked_id: Digest,
}

/// Which part of a bundle an [`Error::Bundle`] concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundlePart {
    /// The signed manifest (its origin site and the key that signs for it).
    Manifest,
    /// A signature on object `index` (counted from 1, in manifest order).
    Signature {
        /// The object's place in the manifest, from 1.
        index: usize,
    },
    /// The trust policies the bundle carries (their root chain).
    Policies,
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

    fn digest(b: u8) -> Digest {
        Digest::of(&[b])
    }

    /// The variants with causes print exactly the text the string variants printed before
    /// (operators and tests see no change) and keep their exit codes.
    #[test]
    fn caused_errors_keep_the_old_messages_and_exit_codes() {
        let (model, trained, asked, object) = (digest(1), digest(2), digest(3), digest(4));
        let cases: Vec<(Error, String, i32)> = vec![
            (
                Error::FeatureSetMismatch(Box::new(FeatureSetMismatch {
                    model,
                    trained_on: "credit-features@1".into(),
                    trained_on_id: trained,
                    asked: "credit-features@2".into(),
                    asked_id: asked,
                })),
                format!(
                    "feature set mismatch: the deployed model {} was trained on feature set \
                     credit-features@1 ({}), the request asks for credit-features@2 ({}); a model \
                     is only served with its own feature set version",
                    model.short(),
                    trained.short(),
                    asked.short()
                ),
                exit::REFUSED,
            ),
            (
                Error::Missing(Missing::VaultObject {
                    id: object,
                    path: "/h/vault/ab/cd".into(),
                }),
                format!("vault object {object} is missing (/h/vault/ab/cd)"),
                exit::NOT_FOUND,
            ),
            (
                Error::Missing(Missing::Named {
                    what: "dataset".into(),
                    name: "lab/credit@2".into(),
                }),
                "no dataset lab/credit@2 in this store".into(),
                exit::NOT_FOUND,
            ),
            (
                Error::Missing(Missing::Snapshot {
                    dataset: "credit".into(),
                    version: 2,
                    site: "lab".into(),
                    snapshot: object,
                }),
                format!(
                    "dataset credit@2 from site lab: its raw snapshot {} is not held here (export it with --with-data)",
                    object.short()
                ),
                exit::NOT_FOUND,
            ),
            (
                Error::Missing(Missing::ReferenceDataset {
                    contract: "credit".into(),
                    version: 3,
                    reference: "credit@1".into(),
                }),
                "contract credit v3: its reference dataset credit@1 is not in this store".into(),
                exit::NOT_FOUND,
            ),
            (
                Error::Missing(Missing::OnlineStore {
                    path: "/h/online.db".into(),
                }),
                "no online store at /h/online.db yet; run `airlock features materialize SET@VERSION`"
                    .into(),
                exit::NOT_FOUND,
            ),
            (
                Error::Missing(Missing::OnlineTable {
                    set: "credit-features@2".into(),
                }),
                "feature set credit-features@2 is not in the online store; run `airlock features materialize credit-features@2`"
                    .into(),
                exit::NOT_FOUND,
            ),
            (
                Error::Data(DataError::NoDataRows {
                    file: "a.csv".into(),
                }),
                "a.csv: no data rows; nothing was stored".into(),
                exit::REJECTED,
            ),
            (
                Error::Data(DataError::Request {
                    contract: "credit v1".into(),
                    problems: vec![
                        ", column \"age\": expected integer, found \"x\"".into(),
                        ", column \"income\": expected number, found true".into(),
                    ],
                }),
                "request does not follow contract credit v1, column \"age\": expected integer, \
                 found \"x\", column \"income\": expected number, found true"
                    .into(),
                exit::REJECTED,
            ),
        ];
        for (e, message, code) in cases {
            assert_eq!(e.to_string(), message, "{e:?}");
            assert_eq!(e.exit_code(), code, "{e}");
        }
    }

    /// A refused part of a bundle: named "bundle rejected: FILE: ..." as before, with the
    /// exit code of its cause (a refusal 5, a bad signature 4, a malformed policy 3).
    #[test]
    fn a_bundle_refusal_keeps_the_prefixed_message_and_the_exit_code_of_its_cause() {
        for (cause, code) in [
            (Error::Refused("site x is revoked".into()), exit::REFUSED),
            (Error::Integrity("bad signature".into()), exit::INTEGRITY),
            (Error::Rejected("policy: bad toml".into()), exit::REJECTED),
        ] {
            let inner = cause.to_string();
            let e = Error::Bundle {
                file: "b.airlock".into(),
                part: BundlePart::Signature { index: 3 },
                cause: Box::new(cause),
            };
            assert_eq!(
                e.to_string(),
                format!("bundle rejected: b.airlock: {inner}")
            );
            assert_eq!(e.exit_code(), code, "{e}");
        }
    }

    /// The core's data causes reach the appliance whole (callers branch on them), with the
    /// core's message and the exit code of a rejection.
    #[test]
    fn core_data_causes_are_kept_through_the_conversion() {
        let core = airlock_core::Error::Data(DataError::EmptyFile {
            file: "e.csv".into(),
        });
        let message = core.to_string();
        let e = Error::from(core);
        assert!(
            matches!(&e, Error::Data(DataError::EmptyFile { file }) if file == "e.csv"),
            "{e:?}"
        );
        assert_eq!(e.to_string(), message);
        assert_eq!(e.exit_code(), exit::REJECTED);
    }
}
