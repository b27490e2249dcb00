//! A range of monitoring windows, as `bundle export monitor:MODEL@RANGE` names it.

use crate::error::{Error, Result};
use crate::node::time::Timestamp;

/// A range of windows, as `bundle export monitor:MODEL@RANGE` names it: `FROM..TO` (either
/// side may be left out), each an RFC 3339 time or a date (a date as `TO` includes that whole
/// day), or `last:N` with a unit `s`, `m`, `h` or `d` (the last N before the export).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WindowRange {
    /// Windows overlapping `[from, to)`.
    Between {
        /// The start (none: from the first).
        from: Option<Timestamp>,
        /// The end, exclusive (none: to the last).
        to: Option<Timestamp>,
    },
    /// Windows overlapping the last this many seconds.
    Last(i64),
}

impl std::str::FromStr for WindowRange {
    type Err = Error;
    fn from_str(s: &str) -> Result<WindowRange> {
        let bad = |why: &str| {
            Error::Rejected(format!(
                "window range {:?}: {why}; write FROM..TO (RFC 3339 times or dates, either side may be left out) or last:N with s, m, h or d",
                crate::text::escape(s)
            ))
        };
        if let Some(n) = s.strip_prefix("last:") {
            let (num, unit) = n.split_at(n.len().saturating_sub(1));
            let scale = match unit {
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                "d" => 86_400,
                _ => return Err(bad("the unit must be s, m, h or d")),
            };
            let num: i64 = num
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad("the length must be a whole number above 0"))?;
            return num
                .checked_mul(scale)
                .map(WindowRange::Last)
                .ok_or_else(|| bad("too long"));
        }
        let (a, b) = s.split_once("..").ok_or_else(|| bad("no \"..\""))?;
        let at = |t: &str, end: bool| -> Result<Option<Timestamp>> {
            if t.is_empty() {
                return Ok(None);
            }
            if let Some(d) = airlock_core::contract::parse_date(t) {
                return Ok(Some(Timestamp(if end { d + 86_400 } else { d })));
            }
            t.parse::<Timestamp>().map(Some).map_err(|_| {
                bad(&format!(
                    "{:?} is neither a date nor an RFC 3339 time",
                    crate::text::escape(t)
                ))
            })
        };
        let (from, to) = (at(a, false)?, at(b, true)?);
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(bad("it ends before it starts"));
        }
        Ok(WindowRange::Between { from, to })
    }
}

impl WindowRange {
    /// Whether a window `[start, end)` overlaps the range, at `now`.
    pub fn holds(&self, start: Timestamp, end: Timestamp, now: Timestamp) -> bool {
        let (from, to) = match self {
            WindowRange::Between { from, to } => (*from, *to),
            WindowRange::Last(n) => (Some(Timestamp(now.0.saturating_sub(*n))), None),
        };
        from.is_none_or(|f| end > f) && to.is_none_or(|t| start < t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_ranges_parse_and_hold_the_windows_they_overlap() {
        let t = |s: &str| s.parse::<Timestamp>().expect("time");
        let r: WindowRange = "2026-12-01..2026-12-03".parse().expect("dates");
        assert_eq!(
            r,
            WindowRange::Between {
                from: Some(t("2026-12-01T00:00:00Z")),
                to: Some(t("2026-12-04T00:00:00Z")),
            },
            "a date as the end includes that day"
        );
        let now = t("2026-12-10T00:00:00Z");
        let hour = |s: &str| (t(s), Timestamp(t(s).0 + 3600));
        let (a, b) = hour("2026-11-30T23:00:00Z");
        assert!(!r.holds(a, b, now), "ends at the range's start");
        let (a, b) = hour("2026-12-03T23:00:00Z");
        assert!(r.holds(a, b, now));
        let (a, b) = hour("2026-12-04T00:00:00Z");
        assert!(!r.holds(a, b, now));
        let open: WindowRange = "2026-12-05T12:00:00Z..".parse().expect("open end");
        let (a, b) = hour("2026-12-09T00:00:00Z");
        assert!(open.holds(a, b, now));
        assert_eq!(
            "last:24h".parse::<WindowRange>().expect("last"),
            WindowRange::Last(86_400)
        );
        let last: WindowRange = "last:2d".parse().expect("days");
        let (a, b) = hour("2026-12-07T23:00:00Z");
        assert!(!last.holds(a, b, now));
        let (a, b) = hour("2026-12-08T00:00:00Z");
        assert!(last.holds(a, b, now));
        for bad in [
            "",
            "2026-12-03..2026-12-01",
            "last:0h",
            "last:5w",
            "yesterday..",
            "last:h",
        ] {
            assert!(bad.parse::<WindowRange>().is_err(), "{bad:?}");
        }
    }
}
