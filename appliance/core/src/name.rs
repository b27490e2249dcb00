//! The names of the datasets, contracts, feature sets, models and slots a site keeps, and
//! references to them (`[SITE/]NAME[@VERSION]`). Site names are [`SiteName`].

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
pub use crate::site::SiteName;

/// Names of datasets, contracts, feature sets and models: 1-64 characters of
/// letters, digits, `-`, `_` and `.`.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::BadName {
            what: "name",
            name: name.to_string(),
            rule: "use 1-64 letters, digits, '-', '_' or '.'",
        })
    }
}

/// Parses `[SITE/]NAME[@VERSION]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameRef {
    /// The site, when given.
    pub site: Option<SiteName>,
    /// The name.
    pub name: String,
    /// The version, when given (else the newest).
    pub version: Option<i64>,
}

impl FromStr for NameRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let (site, rest) = match s.split_once('/') {
            Some((site, rest)) => (Some(site.parse::<SiteName>()?), rest),
            None => (None, s),
        };
        let (name, version) = match rest.split_once('@') {
            Some((n, v)) => (
                n,
                Some(v.parse::<i64>().map_err(|_| {
                    Error::Rejected(format!("{s:?}: version after '@' must be a number"))
                })?),
            ),
            None => (rest, None),
        };
        validate_name(name)?;
        Ok(NameRef {
            site,
            name: name.to_string(),
            version,
        })
    }
}

impl fmt::Display for NameRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.site {
            write!(f, "{s}/")?;
        }
        f.write_str(&self.name)?;
        if let Some(v) = self.version {
            write!(f, "@{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_refs_parse() {
        let r: NameRef = "lab/credit@3".parse().expect("parse");
        assert_eq!(r.site.as_ref().map(|s| s.as_str()), Some("lab"));
        assert_eq!((r.name.as_str(), r.version), ("credit", Some(3)));
        let r: NameRef = "credit".parse().expect("parse");
        assert_eq!((r.site, r.version), (None, None));
        assert!("credit@x".parse::<NameRef>().is_err());
        assert!("cre dit".parse::<NameRef>().is_err());
        assert!("../x".parse::<NameRef>().is_err());
    }
}
