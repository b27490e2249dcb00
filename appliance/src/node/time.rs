//! Reading the clock.
//!
//! Timestamps themselves (the type, its one text form, the calendar) are
//! `airlock_core::time`, re-exported here; the core never reads the clock.
//! This module is where the appliance does: through one [`Clock`], held by
//! the [`Home`](crate::node::home::Home) and passed down to every rule and record
//! that needs the time (bundle freshness and expiry, export times, record
//! and audit times), so those rules can be tested at chosen moments.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub use airlock_core::time::{Timestamp, civil_from_days};

/// The system clock, as a [`Timestamp`]. Bring it into scope to call
/// `Timestamp::now()`. The library itself reads the time through its home's
/// [`Clock`]; this is for callers that have no home (tests, tools).
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

/// Where a home reads the time: the system clock (what [`Home::open`]
/// uses), or a clock that reads what it was set to (tests of the freshness
/// rules, of expiry, of record times).
///
/// [`Home::open`]: crate::node::home::Home::open
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The node's system clock.
    #[default]
    System,
    /// A clock that reads what its [`SetClock`] handle was last set to.
    Set(SetClock),
}

impl Clock {
    /// The time now, by this clock.
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Set(c) => c.get(),
        }
    }
}

impl From<SetClock> for Clock {
    fn from(c: SetClock) -> Clock {
        Clock::Set(c)
    }
}

/// A clock that stands still at the time it was last set to. Clones share
/// the time, so a test keeps one handle and moves the clock of a home it
/// opened with another.
#[derive(Clone, Debug)]
pub struct SetClock(Arc<AtomicI64>);

impl SetClock {
    /// A clock reading `at`.
    pub fn new(at: Timestamp) -> SetClock {
        SetClock(Arc::new(AtomicI64::new(at.0)))
    }

    /// What it reads.
    pub fn get(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }

    /// Sets it to `at`.
    pub fn set(&self, at: Timestamp) {
        self.0.store(at.0, Ordering::SeqCst);
    }

    /// Moves it by `secs` seconds (back when negative).
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_after_this_code_was_written() {
        // 2026-01-01T00:00:00Z: a clock that reads earlier is broken or unset.
        assert!(Timestamp::now() > "2026-01-01T00:00:00Z".parse().expect("parse"));
        assert!(Clock::System.now() > "2026-01-01T00:00:00Z".parse().expect("parse"));
    }

    #[test]
    fn a_set_clock_reads_what_it_was_set_to_through_every_clone() {
        let handle = SetClock::new(Timestamp(1_000));
        let clock = Clock::from(handle.clone());
        assert_eq!(clock.now(), Timestamp(1_000));
        handle.advance(86_400);
        assert_eq!(clock.now(), Timestamp(87_400));
        handle.set(Timestamp(5));
        assert_eq!(clock.clone().now(), Timestamp(5));
    }
}
