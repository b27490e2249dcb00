//! Reading the clock.
//!
//! Timestamps themselves (the type, its one text form, the calendar) are
//! `airlock_core::time`, re-exported here; the core never reads the clock.
//! This module is where the appliance does.

pub use airlock_core::time::{Timestamp, civil_from_days};

/// The system clock, as a [`Timestamp`]. Bring it into scope to call
/// `Timestamp::now()`.
pub trait Now {
    /// The system clock now. On an air-gapped node this clock is not trusted
    /// for security decisions on its own; see the bundle format notes.
    fn now() -> Self;
}

impl Now for Timestamp {
    fn now() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Timestamp(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_after_this_code_was_written() {
        // 2026-01-01T00:00:00Z: a clock that reads earlier is broken or unset.
        assert!(Timestamp::now() > "2026-01-01T00:00:00Z".parse().expect("parse"));
    }
}
