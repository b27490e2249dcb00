//! Release versions: `MAJOR.MINOR.PATCH`, compared as numbers. A version is also the name of
//! its release folder, so the parser admits nothing else (no path separator, no `..`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// A release version, ordered as numbers (`1.10.0` is above `1.9.3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    major: u32,
    minor: u32,
    patch: u32,
}

impl Version {
    /// The version of this `airlock-install` (the workspace's), used when `install` is
    /// given none.
    pub fn of_this_build() -> Version {
        // The workspace version is three numbers; a malformed one is a build error in
        // Cargo itself, so the fallback is never taken.
        env!("CARGO_PKG_VERSION").parse().unwrap_or(Version {
            major: 0,
            minor: 0,
            patch: 0,
        })
    }
}

impl FromStr for Version {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::Rejected(format!(
                "version {} is not MAJOR.MINOR.PATCH (three numbers without leading zeros, e.g. 1.4.0)",
                airlock::text::Untrusted(s)
            ))
        };
        let parts: Vec<&str> = s.split('.').collect();
        if parts.len() != 3 {
            return Err(bad());
        }
        let mut n = [0u32; 3];
        for (slot, part) in n.iter_mut().zip(&parts) {
            let digits = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
            if !digits || (part.len() > 1 && part.starts_with('0')) {
                return Err(bad());
            }
            *slot = part.parse().map_err(|_| bad())?;
        }
        Ok(Version {
            major: n[0],
            minor: n[1],
            patch: n[2],
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers() {
        let v = |s: &str| s.parse::<Version>().expect(s);
        assert!(v("1.10.0") > v("1.9.3"));
        assert!(v("2.0.0") > v("1.99.99"));
        assert_eq!(v("0.1.0").to_string(), "0.1.0");
        assert_eq!(
            Version::of_this_build().to_string(),
            env!("CARGO_PKG_VERSION")
        );
    }

    #[test]
    fn version_that_could_be_a_path_is_refused() {
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "../1.2",
            "1.2.3/..",
            "01.2.3",
            "1.2.-3",
            "1.2.3\n",
            "1.2.x",
            "1.2.99999999999",
        ] {
            assert!(
                matches!(bad.parse::<Version>(), Err(Error::Rejected(_))),
                "{bad:?} accepted"
            );
        }
    }
}
