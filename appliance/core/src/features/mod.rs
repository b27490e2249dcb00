//! Versioned feature sets and the one function that turns a row into a
//! feature vector, for training and for serving alike.
//!
//! A feature spec (TOML) names a dataset, the label and a transform per
//! feature (the full list is in `docs/data.md`):
//!
//! ```toml
//! name = "credit-features"
//! dataset = "credit"          # NAME or NAME@VERSION; parameters are fit on it
//! label = "default"
//! positive = "1"              # label value of the positive class (binary models only)
//!
//! [[features]]
//! column = "income"
//! transform = "standardize"   # standardize | min_max | log1p | clip | identity | ratio
//! impute = "median"           # mean (default) | median | zero | constant (with `fill`)
//! indicator = true            # add a 0/1 "was missing" slot
//! clip = [0, 500000]          # clip before log1p and scaling
//! log1p = true                # log(1 + x) after clipping
//!
//! [[features]]
//! column = "housing"
//! transform = "one_hot"       # fixed vocabulary + out-of-vocabulary slot
//! impute = "mode"             # mode (default) | oov
//! ```
//!
//! Also `bucketize` (`boundaries` or `buckets` fit as quantiles), `hashing`
//! (`buckets`), `cross` (`columns`, `buckets`), `date_parts` (`parts`), and
//! `ratio` (`denominator`). `airlock features apply` fits the parameters
//! (means, deviations, vocabularies, boundaries, fills) on the dataset and
//! freezes them into a signed version whose id is the digest of definition
//! and parameters. Training and serving both call
//! [`FeatureSetDoc::transform`] on the version's stored document, so the
//! same code and the same numbers produce every vector.
//!
//! This module is pure: the spec, the fitting ([`fit`]) over rows the caller
//! has loaded, the frozen document and the transform. Storing a version is
//! the appliance's (`airlock::ops::features::apply`).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::name::validate_name;

mod feature_set;
mod fitted;
mod fitting;
#[cfg(test)]
mod reference_fit;
mod sorted_column;
mod stats;

pub use feature_set::{Bound, FeatureSetDoc, request_row};
pub use fitted::{Fitted, Scale};
pub use fitting::{Fitter, fit};
pub use sorted_column::{MemoryValueSpill, VALUE_RUN, ValueSpill};

/// Type tag of feature set records.
pub const FEATURE_SET_TYPE: &str = "airlock.feature-set/v1";

/// How missing values are filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impute {
    /// The mean of the fitting data.
    Mean,
    /// The median of the fitting data.
    Median,
    /// Zero.
    Zero,
    /// The spec's `fill` value.
    Constant,
    /// The most frequent category of the fitting data.
    Mode,
    /// The out-of-vocabulary slot.
    Oov,
}

/// A transform in a feature spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// (x - mean) / std.
    Standardize,
    /// (x - min) / (max - min), fit on the data.
    MinMax,
    /// log(1 + x).
    Log1p,
    /// x limited to `clip = [lo, hi]`.
    Clip,
    /// x as it is (after imputation).
    Identity,
    /// column / denominator.
    Ratio,
    /// One slot per bucket between boundaries.
    Bucketize,
    /// One slot per vocabulary entry plus one out-of-vocabulary slot.
    OneHot,
    /// One slot per hash bucket plus one for missing.
    Hashing,
    /// Hashed combination of several columns.
    Cross,
    /// Calendar parts of a date or timestamp.
    DateParts,
}

/// A calendar part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatePart {
    /// The year, standardized on the fitting data.
    Year,
    /// Month, (m - 1) / 11.
    Month,
    /// Day of the month, (d - 1) / 30.
    Day,
    /// Day of the week, Monday 0 to Sunday 1 (w / 6).
    Weekday,
    /// Hour of the day, h / 23.
    Hour,
}

/// One feature definition, as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureDef {
    /// Source column (not for `cross`).
    #[serde(default)]
    pub column: Option<String>,
    /// Source columns of a `cross`.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// Transform.
    pub transform: Transform,
    /// How missing values are filled.
    #[serde(default)]
    pub impute: Option<Impute>,
    /// The fill value of `impute = "constant"`.
    #[serde(default)]
    pub fill: Option<f64>,
    /// Add a 0/1 slot that says the value was missing.
    #[serde(default)]
    pub indicator: bool,
    /// Clip to [lo, hi] (numeric transforms, before log1p and scaling).
    #[serde(default)]
    pub clip: Option<[f64; 2]>,
    /// log(1 + x) after clipping (numeric transforms).
    #[serde(default)]
    pub log1p: bool,
    /// Scaling after log1p for `log1p`, `clip`, `ratio` and `identity`:
    /// "standardize" or "min_max".
    #[serde(default)]
    pub scale: Option<Transform>,
    /// The denominator column of a `ratio`.
    #[serde(default)]
    pub denominator: Option<String>,
    /// Bucket boundaries of `bucketize`.
    #[serde(default)]
    pub boundaries: Option<Vec<f64>>,
    /// Quantile buckets of `bucketize`, or hash buckets of `hashing`/`cross`.
    #[serde(default)]
    pub buckets: Option<u32>,
    /// A fixed `one_hot` vocabulary (else fit on the dataset).
    #[serde(default)]
    pub vocabulary: Option<Vec<String>>,
    /// Keep only the most frequent values of a fitted `one_hot` vocabulary.
    #[serde(default)]
    pub max_categories: Option<usize>,
    /// The parts of `date_parts`.
    #[serde(default)]
    pub parts: Option<Vec<DatePart>>,
}

/// A feature spec, as written by an operator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    /// Feature set name.
    pub name: String,
    /// The dataset parameters are fit on: `NAME` or `NAME@VERSION`.
    pub dataset: String,
    /// The label column.
    pub label: String,
    /// The label value of the positive class, for binary models. Leave it out (empty) for a
    /// feature set meant for multiclass or regression models.
    #[serde(default)]
    pub positive: String,
    /// The features, in vector order.
    pub features: Vec<FeatureDef>,
}

impl FeatureSpec {
    /// Parses a feature spec (TOML) and checks what needs no data: the name
    /// and that there are features.
    pub fn from_toml(text: &str, source: &str) -> Result<Self> {
        let spec: FeatureSpec = toml::from_str(text)
            .map_err(|e| Error::Rejected(format!("feature spec {source}: {e}")))?;
        validate_name(&spec.name)?;
        if spec.features.is_empty() {
            return Err(Error::Rejected(format!(
                "feature spec {source}: no features"
            )));
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests;
