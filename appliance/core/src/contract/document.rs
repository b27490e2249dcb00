//! The contract document: parsing and checking its TOML, its canonical
//! bytes, and the differences between two versions.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{ColumnType, Contract, CsvDialect};
use crate::error::{Error, Result};
use crate::name::validate_name;

impl Contract {
    /// Parses and checks a contract document.
    pub fn from_toml(text: &str, source: &str) -> Result<Self> {
        let c: Contract =
            toml::from_str(text).map_err(|e| Error::Rejected(format!("contract {source}: {e}")))?;
        c.check(source)?;
        Ok(c)
    }

    /// The contract as TOML, for `contract show`.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Checks the contract's own rules (names, ranges, categories, keys,
    /// dialect, expectations).
    pub fn check(&self, source: &str) -> Result<()> {
        let bad = |why: String| Err(Error::Rejected(format!("contract {source}: {why}")));
        validate_name(&self.name)?;
        if self.version < 1 {
            return bad(format!("version must be 1 or more, found {}", self.version));
        }
        if self.columns.is_empty() {
            return bad("no columns".into());
        }
        if let Err(e) = CsvDialect::byte("delimiter", &self.csv.delimiter)
            .and_then(|_| CsvDialect::byte("quote", &self.csv.quote))
        {
            return bad(e);
        }
        if self.csv.delimiter == self.csv.quote {
            return bad("csv.delimiter and csv.quote must differ".into());
        }
        let mut seen = BTreeSet::new();
        for c in &self.columns {
            if c.name.is_empty() || !seen.insert(c.name.as_str()) {
                return bad(format!("column name {:?} is empty or repeated", c.name));
            }
            let col = |why: &str| bad(format!("column {:?}: {why}", c.name));
            let ranged = matches!(c.ty, ColumnType::Integer | ColumnType::Float);
            if !ranged && (c.min.is_some() || c.max.is_some()) {
                return col("min/max apply to integer and float columns only");
            }
            if c.min.is_some_and(|v| !v.is_finite()) || c.max.is_some_and(|v| !v.is_finite()) {
                return col("min and max must be finite numbers");
            }
            if let (Some(lo), Some(hi)) = (c.min, c.max)
                && lo > hi
            {
                return bad(format!("column {:?}: min {lo} is above max {hi}", c.name));
            }
            if c.max_null_rate.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
                return col("max_null_rate must be between 0 and 1");
            }
            if let (Some(lo), Some(hi)) = (c.distinct_min, c.distinct_max)
                && lo > hi
            {
                return col("distinct_min is above distinct_max");
            }
            if let Some(d) = &c.drift {
                if self.reference.is_none() {
                    return col("a drift check needs the contract's `reference` dataset");
                }
                if !d.threshold.is_finite() || d.threshold <= 0.0 {
                    return col("drift threshold must be a positive number");
                }
            }
            match (&c.ty, &c.categories) {
                (ColumnType::Category, None) => {
                    return col("a category column needs `categories`");
                }
                (ColumnType::Category, Some(cats)) if cats.is_empty() => {
                    return col("`categories` is empty");
                }
                (ColumnType::Category, Some(cats)) => {
                    if let Some(t) = cats.iter().find(|t| self.null_tokens.contains(t)) {
                        return bad(format!(
                            "column {:?}: category {t:?} is also a null token",
                            c.name
                        ));
                    }
                    let distinct: BTreeSet<&String> = cats.iter().collect();
                    if distinct.len() != cats.len() {
                        return col("`categories` lists a value twice");
                    }
                }
                (_, Some(_)) => {
                    return col("`categories` applies to category columns only");
                }
                _ => {}
            }
        }
        let known = |what: &str, name: &str| -> Result<usize> {
            self.index_of(name).ok_or_else(|| {
                Error::Rejected(format!(
                    "contract {source}: {what} {name:?} is not one of its columns"
                ))
            })
        };
        if let Some(key) = &self.key {
            if key.is_empty() {
                return bad("`key` is empty".into());
            }
            for k in key {
                let i = known("key column", k)?;
                if self.columns[i].nullable {
                    return bad(format!("key column {k:?} must not be nullable"));
                }
            }
        }
        if let Some(e) = &self.entity {
            let i = known("entity column", e)?;
            if self.columns[i].nullable {
                return bad(format!("entity column {e:?} must not be nullable"));
            }
        }
        if let Some(t) = &self.event_time {
            let i = known("event_time column", t)?;
            if !self.columns[i].ty.is_time() || self.columns[i].nullable {
                return bad(format!(
                    "event_time column {t:?} must be a date or timestamp column and not nullable"
                ));
            }
        }
        if let Some(r) = &self.reference {
            let parsed: crate::name::NameRef = r.parse()?;
            if parsed.version.is_none() || parsed.site.is_some() {
                return bad(format!(
                    "reference {r:?} must name a dataset of this site with its version, NAME@VERSION"
                ));
            }
        }
        self.check_header_rules().or_else(bad)
    }

    /// Canonical JSON bytes, as stored in the vault.
    pub fn to_canonical(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Position of a column.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Column names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }
}

/// The differences from contract `a` to contract `b`, one line each:
/// `+`/`-` for columns added or removed, `~` for a changed column or
/// setting, with old and new values.
pub fn diff(a: &Contract, b: &Contract) -> Vec<String> {
    fn fields<T: Serialize>(t: &T) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(t) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        }
    }
    fn changes(
        a: &serde_json::Map<String, serde_json::Value>,
        b: &serde_json::Map<String, serde_json::Value>,
        skip: &[&str],
    ) -> Vec<String> {
        let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        let none = serde_json::Value::Null;
        keys.into_iter()
            .filter(|k| !skip.contains(&k.as_str()))
            .filter_map(|k| {
                let (x, y) = (a.get(k).unwrap_or(&none), b.get(k).unwrap_or(&none));
                (x != y).then(|| format!("{k} {x} -> {y}"))
            })
            .collect()
    }
    let mut out = Vec::new();
    for c in changes(&fields(a), &fields(b), &["columns", "name"]) {
        out.push(format!("~ {c}"));
    }
    for c in &a.columns {
        match b.columns.iter().find(|x| x.name == c.name) {
            None => out.push(format!("- column {:?} ({})", c.name, c.ty.name())),
            Some(x) => {
                let ch = changes(&fields(c), &fields(x), &[]);
                if !ch.is_empty() {
                    out.push(format!("~ column {:?}: {}", c.name, ch.join("; ")));
                }
            }
        }
    }
    for c in b.columns.iter().filter(|c| a.index_of(&c.name).is_none()) {
        out.push(format!("+ column {:?} ({})", c.name, c.ty.name()));
    }
    let (an, bn) = (a.names(), b.names());
    let common_a: Vec<&&str> = an.iter().filter(|n| bn.contains(n)).collect();
    let common_b: Vec<&&str> = bn.iter().filter(|n| an.contains(n)).collect();
    if common_a != common_b {
        out.push(format!(
            "~ column order {} -> {}",
            an.join(","),
            bn.join(",")
        ));
    }
    out
}
