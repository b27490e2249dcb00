//! Categories: the reference's count of each of its values, plus "other" for everything
//! else, and the current side's counts over the same list.
//!
//! The reference needs nothing beyond the profile ingest already keeps
//! (`Profile::drift_reference`): a category column's profile lists every value with its
//! count (exact unless the column has more than 65,536 distinct values), and the contract
//! lists the values a file may hold. Values the list lacks count as "other" on both sides. The current side is one counter per listed value and one for
//! "other", so it is bounded by the list and merges by adding.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Lists up to this long are searched in order; longer ones through a hash map.
const LINEAR: usize = 16;

/// A reference column's categories.
#[derive(Clone, Debug, PartialEq)]
pub struct CatSummary {
    /// The values, in the contract's order, then any others the reference holds.
    pub values: Vec<String>,
    /// Reference count per value.
    pub counts: Vec<u64>,
    /// Reference values not listed (beyond the top values of a free-text column).
    pub other: u64,
    index: HashMap<String, usize>,
}

impl CatSummary {
    /// The categories: the contract's list (if any) in its order, then the reference's
    /// other counted values; `count` is the reference's non-missing values, so whatever the
    /// list misses is "other".
    pub fn new<'a>(
        categories: Option<&[String]>,
        counted: impl IntoIterator<Item = (&'a str, u64)>,
        count: u64,
    ) -> CatSummary {
        let counted: Vec<(&str, u64)> = counted.into_iter().collect();
        let mut values: Vec<String> = categories.map(<[String]>::to_vec).unwrap_or_default();
        for (v, _) in &counted {
            if !values.iter().any(|x| x == v) {
                values.push((*v).to_string());
            }
        }
        let counts: Vec<u64> = values
            .iter()
            .map(|v| counted.iter().filter(|(x, _)| x == v).map(|(_, n)| n).sum())
            .collect();
        let other = count.saturating_sub(counts.iter().sum());
        let index = values
            .iter()
            .enumerate()
            .map(|(i, v)| (v.clone(), i))
            .collect();
        CatSummary {
            values,
            counts,
            other,
            index,
        }
    }

    /// Non-missing reference values.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum::<u64>() + self.other
    }

    /// The counter of `value`: its place in the list, or the last one ("other").
    pub fn slot(&self, value: &str) -> usize {
        if self.values.len() <= LINEAR {
            self.values
                .iter()
                .position(|v| v == value)
                .unwrap_or(self.values.len())
        } else {
            self.index.get(value).copied().unwrap_or(self.values.len())
        }
    }

    /// The reference's counts, "other" last.
    pub fn with_other(&self) -> Vec<u64> {
        let mut c = self.counts.clone();
        c.push(self.other);
        c
    }
}

/// A column's current counts over its reference's values, "other" last.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatCurrent {
    counts: Vec<u64>,
}

impl CatCurrent {
    /// Empty counters for `reference`.
    pub fn new(reference: &CatSummary) -> Self {
        CatCurrent {
            counts: vec![0; reference.values.len() + 1],
        }
    }

    /// Counts a value.
    pub fn add(&mut self, reference: &CatSummary, value: &str) {
        let i = reference.slot(value);
        if let Some(c) = self.counts.get_mut(i) {
            *c += 1;
        }
    }

    /// Adds another sketch of the same reference's column.
    pub fn merge(&mut self, other: &CatCurrent) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    /// Values counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The counts, "other" last.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }
}
