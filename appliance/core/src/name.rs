//! Names: of sites, and of the datasets, contracts, feature sets, models and slots a site
//! keeps. Each rule lives here once, so the command line, an imported record and a policy
//! are held to the same one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A validated site name: 1 to 63 characters of `a-z`, `0-9` and `-`,
/// starting with a letter or digit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SiteName(String);

impl SiteName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SiteName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-');
        if ok {
            Ok(SiteName(s.to_string()))
        } else {
            Err(Error::BadName {
                what: "site name",
                name: s.to_string(),
                rule: "use 1-63 characters a-z, 0-9 and '-', not starting with '-'",
            })
        }
    }
}

impl TryFrom<String> for SiteName {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<SiteName> for String {
    fn from(s: SiteName) -> String {
        s.0
    }
}

impl fmt::Display for SiteName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

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

    #[test]
    fn site_names_are_validated() {
        assert!("plant-2".parse::<SiteName>().is_ok());
        for bad in ["", "Lab", "-x", "a/b", "a b", &"x".repeat(64)] {
            assert!(bad.parse::<SiteName>().is_err(), "{bad:?} accepted");
        }
        let err = "Lab".parse::<SiteName>().expect_err("uppercase");
        assert_eq!(
            err.to_string(),
            "site name \"Lab\" is not valid: use 1-63 characters a-z, 0-9 and '-', not starting with '-'"
        );
    }
}
