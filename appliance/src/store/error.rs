//! The store's error type, a leaf: the appliance's `Error` holds it without the rest of the
//! library seeing SQLite's type, and without `error.rs` depending on the store's other modules
//! (the conversion from SQLite's error is in `store/mod.rs`).

/// The store's errors: a failed SQLite call. It is an `Error::Store`
/// outside the store, which never sees the SQLite type.
#[derive(Debug)]
pub struct StoreError(pub(super) rusqlite::Error);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}
