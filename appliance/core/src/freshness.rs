//! Whether a bundle is fresh: the expiry and freshness rules of import, as a
//! pure function of the manifest's two times, the latest trusted time and the
//! time now (both passed in: the core reads no clock).
//!
//! An air-gapped node has no trusted clock. Its own clock can be wound back to
//! revive an expired bundle, so it also keeps the *latest trusted time*: the
//! newest creation time of any bundle it accepted, which never moves back. The
//! rules (`docs/bundle-format.md` § Freshness; threat model, *freeze*):
//!
//! - **expired**: `expires_at` is before the clock *or* before the latest trusted
//!   time (exactly at it is not yet expired);
//! - **from the future**: `created_at` is more than [`MAX_CLOCK_SKEW_SECS`] after
//!   the clock (a clock wound back, or a forged time);
//! - **stale**: `created_at` is more than [`MAX_SHELF_DAYS`] days before the
//!   latest trusted time (an old bundle replayed to hold the node back), refused
//!   unless the operator allows it (`--allow-stale`, recorded in the audit log).

use serde::Serialize;

use crate::time::Timestamp;

/// How far before the latest trusted time a bundle may have been made
/// before it is refused as stale (unless the operator overrides).
pub const MAX_SHELF_DAYS: u32 = 30;
/// How far ahead of this node's clock a bundle's creation time may be.
pub const MAX_CLOCK_SKEW_SECS: i64 = 24 * 3600;

/// How a bundle's times look from here: what `bundle inspect` shows, and what
/// [`Freshness::verdict`] decides on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Freshness {
    /// The latest trusted time, if any bundle was accepted yet.
    pub trusted_time: Option<Timestamp>,
    /// Expired: its expiry is before this node's clock or the trusted time.
    pub expired: bool,
    /// Made more than [`MAX_SHELF_DAYS`] before the trusted time.
    pub stale: bool,
    /// Made more than a day after this node's clock says it is now.
    pub from_the_future: bool,
    /// The times the flags were computed from (the bundle's creation and
    /// expiry, the clock), for the reason of a refusal.
    #[serde(skip)]
    created_at: Timestamp,
    #[serde(skip)]
    expires_at: Timestamp,
    #[serde(skip)]
    now: Timestamp,
}

/// Why a bundle is not fresh enough to import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unfresh {
    /// Past its expiry.
    Expired {
        /// The bundle's `expires_at`.
        expires_at: Timestamp,
        /// The time it is past.
        against: Against,
    },
    /// Made more than [`MAX_CLOCK_SKEW_SECS`] after the clock.
    FromTheFuture {
        /// The bundle's `created_at`.
        created_at: Timestamp,
        /// The clock.
        now: Timestamp,
    },
    /// Made more than [`MAX_SHELF_DAYS`] before the latest trusted time, and
    /// not allowed.
    Stale {
        /// The bundle's `created_at`.
        created_at: Timestamp,
        /// The latest trusted time.
        trusted_time: Timestamp,
    },
}

/// The time an expired bundle is past: the later of the two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Against {
    /// The node's clock.
    Clock(Timestamp),
    /// The latest trusted time, ahead of the clock.
    TrustedTime(Timestamp),
}

impl Freshness {
    /// How a bundle made at `created_at` and expiring at `expires_at` looks at
    /// `now`, given the latest trusted time.
    pub fn of(
        created_at: Timestamp,
        expires_at: Timestamp,
        trusted_time: Option<Timestamp>,
        now: Timestamp,
    ) -> Freshness {
        let effective = trusted_time.map_or(now, |t| t.max(now));
        Freshness {
            trusted_time,
            expired: effective > expires_at,
            stale: trusted_time.is_some_and(|t| created_at.plus_days(MAX_SHELF_DAYS) < t),
            from_the_future: created_at.0 > now.0.saturating_add(MAX_CLOCK_SKEW_SECS),
            created_at,
            expires_at,
            now,
        }
    }

    /// The clock's reading the flags were computed at.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Whether a bundle with these times may be imported: refused when
    /// expired, then when from the future, then when stale unless
    /// `allow_stale`.
    pub fn verdict(&self, allow_stale: bool) -> Result<(), Unfresh> {
        let (created_at, expires_at) = (self.created_at, self.expires_at);
        if self.expired {
            let against = match self.trusted_time {
                Some(t) if t > self.now => Against::TrustedTime(t),
                _ => Against::Clock(self.now),
            };
            return Err(Unfresh::Expired {
                expires_at,
                against,
            });
        }
        if self.from_the_future {
            return Err(Unfresh::FromTheFuture {
                created_at,
                now: self.now,
            });
        }
        if let (true, false, Some(trusted_time)) = (self.stale, allow_stale, self.trusted_time) {
            return Err(Unfresh::Stale {
                created_at,
                trusted_time,
            });
        }
        Ok(())
    }
}

/// The import decision in one call: [`Freshness::of`] then
/// [`Freshness::verdict`].
pub fn check(
    created_at: Timestamp,
    expires_at: Timestamp,
    trusted_time: Option<Timestamp>,
    now: Timestamp,
    allow_stale: bool,
) -> Result<(), Unfresh> {
    Freshness::of(created_at, expires_at, trusted_time, now).verdict(allow_stale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn t(s: &str) -> Timestamp {
        s.parse().expect("time")
    }

    /// A bundle made at `created`, valid for 30 days.
    fn made(created: Timestamp) -> (Timestamp, Timestamp) {
        (created, created.plus_days(30))
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp(t("2027-03-01T12:00:00Z").0 + secs)
    }

    #[test]
    fn a_bundle_expired_by_one_second_is_refused_against_the_clock() {
        let (created, expires) = made(at(0));
        let now = Timestamp(expires.0 + 1);
        assert_eq!(
            check(created, expires, None, now, false),
            Err(Unfresh::Expired {
                expires_at: expires,
                against: Against::Clock(now)
            })
        );
        // Allowing stale bundles does not allow expired ones.
        assert!(check(created, expires, None, now, true).is_err());
    }

    #[test]
    fn a_bundle_exactly_at_its_expiry_is_accepted() {
        let (created, expires) = made(at(0));
        assert_eq!(check(created, expires, None, expires, false), Ok(()));
        let f = Freshness::of(created, expires, Some(expires), expires);
        assert!(!f.expired && !f.stale && !f.from_the_future, "{f:?}");
    }

    #[test]
    fn stale_is_more_than_thirty_days_before_the_latest_trusted_time() {
        let trusted = at(0);
        let now = trusted;
        // A long expiry, so only staleness is in play.
        let expires = Timestamp(trusted.0 + 365 * DAY);
        let shelf = i64::from(MAX_SHELF_DAYS) * DAY;
        // 30 days minus a second, and exactly 30 days, before: fresh.
        for before in [shelf - 1, shelf] {
            let created = Timestamp(trusted.0 - before);
            assert_eq!(
                check(created, expires, Some(trusted), now, false),
                Ok(()),
                "{before} s before"
            );
        }
        // 30 days plus a second before: stale, unless allowed.
        let created = Timestamp(trusted.0 - shelf - 1);
        assert_eq!(
            check(created, expires, Some(trusted), now, false),
            Err(Unfresh::Stale {
                created_at: created,
                trusted_time: trusted
            })
        );
        assert_eq!(check(created, expires, Some(trusted), now, true), Ok(()));
        // Without a latest trusted time (no bundle accepted yet) nothing is stale.
        assert_eq!(check(created, expires, None, now, false), Ok(()));
    }

    #[test]
    fn a_bundle_from_the_future_is_refused_past_a_day_of_skew() {
        let now = at(0);
        // Made 24 h after the clock: within the skew.
        let (created, expires) = made(Timestamp(now.0 + MAX_CLOCK_SKEW_SECS));
        assert_eq!(check(created, expires, None, now, false), Ok(()));
        // One second more: refused, whatever the operator allows.
        let (created, expires) = made(Timestamp(now.0 + MAX_CLOCK_SKEW_SECS + 1));
        let refused = Err(Unfresh::FromTheFuture {
            created_at: created,
            now,
        });
        assert_eq!(check(created, expires, None, now, false), refused);
        assert_eq!(check(created, expires, None, now, true), refused);
    }

    #[test]
    fn a_latest_trusted_time_ahead_of_the_clock_expires_bundles_the_clock_would_accept() {
        // The clock was wound back 40 days; a bundle accepted since was made 10
        // days ago by the real calendar.
        let now = at(0);
        let trusted = Timestamp(now.0 + 40 * DAY);
        let (created, expires) = made(Timestamp(now.0 - DAY));
        assert!(expires > now, "by the clock alone it is valid");
        assert_eq!(
            check(created, expires, Some(trusted), now, false),
            Err(Unfresh::Expired {
                expires_at: expires,
                against: Against::TrustedTime(trusted)
            })
        );
        // Expired outranks stale: the reason names the expiry.
        let f = Freshness::of(created, expires, Some(trusted), now);
        assert!(f.expired && f.stale, "{f:?}");
    }

    #[test]
    fn the_flags_serialise_without_the_clock_reading() {
        let (created, expires) = made(at(0));
        let f = Freshness::of(created, expires, Some(at(DAY)), at(2 * DAY));
        assert_eq!(f.now(), at(2 * DAY));
        assert_eq!(
            serde_json::to_value(f).expect("json"),
            serde_json::json!({ "trusted_time": "2027-03-02T12:00:00Z", "expired": false,
                                "stale": false, "from_the_future": false })
        );
    }
}
