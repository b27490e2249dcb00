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

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::contract::{ColumnType, Contract, Value};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::name::validate_name;
use crate::site::SiteName;
use crate::sketch::hash64;

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

/// A fitted scaling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Scale {
    /// None.
    None,
    /// (x - mean) / std.
    Standardize {
        /// Mean of the fitting data.
        mean: f64,
        /// Standard deviation of the fitting data (1 when it was 0).
        std: f64,
    },
    /// (x - min) / (max - min).
    MinMax {
        /// Smallest value of the fitting data.
        min: f64,
        /// Largest value of the fitting data (min + 1 when they were equal).
        max: f64,
    },
}

impl Scale {
    fn apply(&self, x: f64) -> f64 {
        match self {
            Scale::None => x,
            Scale::Standardize { mean, std } => (x - mean) / std,
            Scale::MinMax { min, max } => (x - min) / (max - min),
        }
    }
}

/// A feature with its frozen parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "transform", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fitted {
    /// A number: the column (or column / denominator), missing filled,
    /// clipped, log1p'd, scaled.
    Numeric {
        /// Source column.
        column: String,
        /// Denominator column of a ratio.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        denominator: Option<String>,
        /// Value used for missing cells (and ratios with a zero denominator).
        fill: f64,
        /// Add a "was missing" slot.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        indicator: bool,
        /// Clip bounds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clip: Option<[f64; 2]>,
        /// log(1 + x) after clipping.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        log1p: bool,
        /// Scaling, last.
        scale: Scale,
    },
    /// One slot per bucket: below the first boundary, between each pair,
    /// at or above the last.
    Bucketize {
        /// Source column.
        column: String,
        /// Strictly increasing boundaries.
        boundaries: Vec<f64>,
        /// Value used for missing cells.
        fill: f64,
        /// Add a "was missing" slot.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        indicator: bool,
    },
    /// One-hot.
    OneHot {
        /// Source column.
        column: String,
        /// The vocabulary, sorted; slot `vocabulary.len()` is out-of-vocabulary.
        vocabulary: Vec<String>,
        /// The value used for missing cells; `None` sends them to the
        /// out-of-vocabulary slot.
        fill: Option<String>,
        /// Add a "was missing" slot.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        indicator: bool,
    },
    /// Hashed one-hot of one column (`hashing`) or of several together
    /// (`cross`): slot `hash % buckets`, slot `buckets` when any is missing.
    Hashed {
        /// Source columns.
        columns: Vec<String>,
        /// Number of hash buckets.
        buckets: u32,
    },
    /// Calendar parts of a date or timestamp, each scaled to about [0, 1].
    DateParts {
        /// Source column.
        column: String,
        /// The parts, in slot order.
        parts: Vec<DatePart>,
        /// Seconds since the epoch used for missing cells (the median).
        fill: i64,
        /// Add a "was missing" slot.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        indicator: bool,
        /// Mean and standard deviation of the year in the fitting data.
        year: [f64; 2],
    },
}

impl Fitted {
    /// Checks the frozen parameters: finite numbers, log1p only above -1,
    /// sorted vocabularies, increasing boundaries, at least one hash
    /// bucket. A feature set read from the vault or a bundle is checked
    /// before use, so serving can never meet a parameter fitting would
    /// have refused.
    pub fn check(&self) -> std::result::Result<(), String> {
        let finite = |what: &str, x: f64| {
            if x.is_finite() {
                Ok(())
            } else {
                Err(format!("{what} is not a finite number"))
            }
        };
        match self {
            Fitted::Numeric {
                fill,
                clip,
                log1p,
                scale,
                ..
            } => {
                finite("the fill", *fill)?;
                if let Some([lo, hi]) = clip {
                    finite("the clip bounds", lo + hi)?;
                    if lo > hi {
                        return Err("the clip bounds are inverted".into());
                    }
                }
                if *log1p && pre_scale(*fill, *clip, false) <= -1.0 {
                    return Err("log1p of the fill is undefined".into());
                }
                if *log1p && clip.is_some_and(|[lo, _]| lo <= -1.0) {
                    return Err("log1p needs a clip lower bound above -1".into());
                }
                match scale {
                    Scale::None => {}
                    Scale::Standardize { mean, std } => {
                        finite("the mean", *mean)?;
                        finite("the standard deviation", *std)?;
                        if *std <= 0.0 {
                            return Err("the standard deviation is not positive".into());
                        }
                    }
                    Scale::MinMax { min, max } => {
                        finite("the minimum", *min)?;
                        finite("the range", max - min)?;
                        if max - min <= 0.0 {
                            return Err("the min-max range is empty".into());
                        }
                    }
                }
                finite(
                    "the scaled fill",
                    scale.apply(pre_scale(*fill, *clip, *log1p)),
                )
            }
            Fitted::Bucketize {
                boundaries, fill, ..
            } => {
                finite("the fill", *fill)?;
                if boundaries.is_empty()
                    || boundaries.iter().any(|b| !b.is_finite())
                    || boundaries.windows(2).any(|w| w[0] >= w[1])
                {
                    return Err("boundaries must be finite and strictly increasing".into());
                }
                Ok(())
            }
            Fitted::OneHot { vocabulary, .. } => {
                if vocabulary.windows(2).any(|w| w[0] >= w[1]) {
                    return Err("the vocabulary must be sorted without repeats".into());
                }
                Ok(())
            }
            Fitted::Hashed { columns, buckets } => {
                if *buckets == 0 || *buckets > 1 << 20 || columns.is_empty() {
                    return Err("hashing needs 1 to 1048576 buckets and a column".into());
                }
                Ok(())
            }
            Fitted::DateParts { parts, year, .. } => {
                finite("the year mean", year[0])?;
                finite("the year deviation", year[1])?;
                if parts.is_empty() || year[1] <= 0.0 {
                    return Err("date parts need parts and a positive year deviation".into());
                }
                Ok(())
            }
        }
    }

    /// The contract columns the feature reads, in the order `transform`
    /// expects them.
    pub fn columns(&self) -> Vec<&str> {
        match self {
            Fitted::Numeric {
                column,
                denominator,
                ..
            } => std::iter::once(column.as_str())
                .chain(denominator.as_deref())
                .collect(),
            Fitted::Bucketize { column, .. }
            | Fitted::OneHot { column, .. }
            | Fitted::DateParts { column, .. } => vec![column.as_str()],
            Fitted::Hashed { columns, .. } => columns.iter().map(String::as_str).collect(),
        }
    }

    /// The slots this feature takes in the vector.
    pub fn width(&self) -> usize {
        let ind = |i: &bool| usize::from(*i);
        match self {
            Fitted::Numeric { indicator, .. } => 1 + ind(indicator),
            Fitted::Bucketize {
                boundaries,
                indicator,
                ..
            } => boundaries.len() + 1 + ind(indicator),
            Fitted::OneHot {
                vocabulary,
                indicator,
                ..
            } => vocabulary.len() + 1 + ind(indicator),
            Fitted::Hashed { buckets, .. } => *buckets as usize + 1,
            Fitted::DateParts {
                parts, indicator, ..
            } => parts.len() + ind(indicator),
        }
    }
}

/// The numeric input of a `Numeric` feature: the cell, or the ratio of two
/// cells. `None` when missing, when the denominator is zero or missing, or
/// when the ratio is not finite.
fn numeric_input(row: &[Value], cols: &[usize]) -> Option<f64> {
    let x = row[cols[0]].as_f64()?;
    match cols.get(1) {
        None => Some(x),
        Some(&d) => {
            let y = row[d].as_f64()?;
            let r = x / y;
            (y != 0.0 && r.is_finite()).then_some(r)
        }
    }
}

/// Clip then log1p: the part of the numeric pipeline before scaling.
fn pre_scale(x: f64, clip: Option<[f64; 2]>, log1p: bool) -> f64 {
    let x = match clip {
        Some([lo, hi]) => x.clamp(lo, hi),
        None => x,
    };
    if log1p { x.ln_1p() } else { x }
}

/// A feature value as stored in the vector: f32, limited to its finite
/// range so a huge input can never become infinity.
fn slot(x: f64) -> f32 {
    if x.is_nan() {
        // Cannot happen for a validated feature set (fills and parameters
        // are checked finite, log1p only above -1); never pass NaN on.
        return 0.0;
    }
    x.clamp(f64::from(f32::MIN), f64::from(f32::MAX)) as f32
}

/// The calendar year of `secs` (seconds since the epoch, UTC).
fn year_of(secs: i64) -> f64 {
    crate::time::civil_from_days(secs.div_euclid(86_400)).0 as f64
}

/// Calendar parts of `secs` (seconds since the epoch, UTC).
fn date_parts(secs: i64, parts: &[DatePart], year: [f64; 2], out: &mut Vec<f32>) {
    let days = secs.div_euclid(86_400);
    let (y, m, d) = crate::time::civil_from_days(days);
    for p in parts {
        let v = match p {
            DatePart::Year => (y as f64 - year[0]) / year[1],
            DatePart::Month => f64::from(m - 1) / 11.0,
            DatePart::Day => f64::from(d - 1) / 30.0,
            // 1970-01-01 was a Thursday (3 when Monday is 0).
            DatePart::Weekday => ((days + 3).rem_euclid(7)) as f64 / 6.0,
            DatePart::Hour => (secs.rem_euclid(86_400) / 3600) as f64 / 23.0,
        };
        out.push(slot(v));
    }
}

/// The signed, frozen feature set version. Its digest is its id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSetDoc {
    /// Always [`FEATURE_SET_TYPE`].
    #[serde(rename = "type")]
    pub ty: String,
    /// The site that fit it.
    pub site: SiteName,
    /// Feature set name.
    pub name: String,
    /// Version, from 1, per site and name.
    pub version: i64,
    /// The dataset record the parameters were fit on.
    pub dataset: Digest,
    /// The contract rows must satisfy.
    pub contract: Digest,
    /// The label column.
    pub label: String,
    /// The label value of the positive class.
    pub positive: String,
    /// The features with their parameters, in vector order.
    pub features: Vec<Fitted>,
}

/// A feature set bound to a contract: each feature's column positions.
#[derive(Clone, Debug)]
pub struct Bound(Vec<Vec<usize>>);

impl FeatureSetDoc {
    /// Checks every feature's frozen parameters (see [`Fitted::check`]).
    pub fn check(&self) -> Result<()> {
        for f in &self.features {
            f.check().map_err(|why| {
                Error::Integrity(format!(
                    "feature set {}: feature {:?}: {why}",
                    self.reference(),
                    f.columns().join("*")
                ))
            })?;
        }
        Ok(())
    }

    /// Length of the feature vector.
    pub fn width(&self) -> usize {
        self.features.iter().map(Fitted::width).sum()
    }

    /// `name@version`.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// Column positions in `contract` of each feature's source columns.
    pub fn bind(&self, contract: &Contract) -> Result<Bound> {
        let cols = self
            .features
            .iter()
            .map(|f| {
                f.columns()
                    .into_iter()
                    .map(|c| {
                        contract.index_of(c).ok_or_else(|| {
                            Error::Rejected(format!(
                                "feature set {}: column {c:?} is not in contract {} v{}",
                                self.reference(),
                                contract.name,
                                contract.version
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Bound(cols))
    }

    /// THE transform: appends the feature vector of one typed row (in
    /// contract column order; `bound` from [`Self::bind`]) to `out`.
    /// Training, serving and the online store all call this, on the stored
    /// document.
    pub fn transform(&self, row: &[Value], bound: &Bound, out: &mut Vec<f32>) {
        for (f, cols) in self.features.iter().zip(&bound.0) {
            match f {
                Fitted::Numeric {
                    fill,
                    indicator,
                    clip,
                    log1p,
                    scale,
                    ..
                } => {
                    let x = numeric_input(row, cols);
                    out.push(slot(scale.apply(pre_scale(
                        x.unwrap_or(*fill),
                        *clip,
                        *log1p,
                    ))));
                    if *indicator {
                        out.push(if x.is_none() { 1.0 } else { 0.0 });
                    }
                }
                Fitted::Bucketize {
                    boundaries,
                    fill,
                    indicator,
                    ..
                } => {
                    let x = row[cols[0]].as_f64();
                    let b = boundaries.partition_point(|e| *e <= x.unwrap_or(*fill));
                    let start = out.len();
                    out.resize(start + boundaries.len() + 1, 0.0);
                    out[start + b] = 1.0;
                    if *indicator {
                        out.push(if x.is_none() { 1.0 } else { 0.0 });
                    }
                }
                Fitted::OneHot {
                    vocabulary,
                    fill,
                    indicator,
                    ..
                } => {
                    let cell = &row[cols[0]];
                    let text = match cell {
                        Value::Text(s) => Some(s.as_str()),
                        Value::Null => fill.as_deref(),
                        _ => None,
                    };
                    let slot = text
                        .and_then(|t| vocabulary.binary_search_by(|v| v.as_str().cmp(t)).ok())
                        .unwrap_or(vocabulary.len());
                    let start = out.len();
                    out.resize(start + vocabulary.len() + 1, 0.0);
                    out[start + slot] = 1.0;
                    if *indicator {
                        out.push(if *cell == Value::Null { 1.0 } else { 0.0 });
                    }
                }
                Fitted::Hashed { buckets, .. } => {
                    let mut key = Vec::new();
                    let mut missing = false;
                    for &c in cols {
                        match &row[c] {
                            Value::Null => missing = true,
                            v => key.extend_from_slice(v.canonical().as_bytes()),
                        }
                        key.push(0x1f);
                    }
                    let b = if missing {
                        *buckets as usize
                    } else {
                        (hash64(&key) % u64::from(*buckets)) as usize
                    };
                    let start = out.len();
                    out.resize(start + *buckets as usize + 1, 0.0);
                    out[start + b] = 1.0;
                }
                Fitted::DateParts {
                    parts,
                    fill,
                    indicator,
                    year,
                    ..
                } => {
                    let t = match row[cols[0]] {
                        Value::Int(t) => Some(t),
                        _ => None,
                    };
                    date_parts(t.unwrap_or(*fill), parts, *year, out);
                    if *indicator {
                        out.push(if t.is_none() { 1.0 } else { 0.0 });
                    }
                }
            }
        }
    }

    /// The label of a training row: 1.0 for the positive value, else 0.0.
    /// A missing label is an error naming the row.
    pub fn label_of(&self, row: &[Value], label_idx: usize, row_no: usize) -> Result<f32> {
        match &row[label_idx] {
            Value::Null => Err(Error::Rejected(format!(
                "row {row_no}: label column {:?} is missing; training needs every label",
                self.label
            ))),
            v => Ok(if v.canonical() == self.positive {
                1.0
            } else {
                0.0
            }),
        }
    }
}

/// A serving request (one JSON object: column name to value) as a typed row
/// in contract order, through the same cell rules as ingest. The label may
/// be absent; unknown columns and bad cells are listed, each starting with
/// `: column` or `, column` so a caller can prefix the line.
pub fn request_row(
    contract: &Contract,
    label: &str,
    obj: &serde_json::Map<String, serde_json::Value>,
) -> std::result::Result<Vec<Value>, Vec<String>> {
    let mut problems = Vec::new();
    if let Some(k) = obj.keys().find(|k| contract.index_of(k).is_none()) {
        problems.push(format!(
            ": column {k:?} is not in contract {} v{}",
            contract.name, contract.version
        ));
        return Err(problems);
    }
    let mut row = vec![Value::Null; contract.columns.len()];
    for (idx, col) in contract.columns.iter().enumerate() {
        if col.name == label {
            continue;
        }
        let v = obj.get(&col.name).unwrap_or(&serde_json::Value::Null);
        match contract.parse_json(idx, v) {
            Ok(value) => row[idx] = value,
            Err((_, expected, found)) => problems.push(format!(
                ", column {:?}: expected {}, found {}",
                col.name,
                crate::text::Untrusted(&expected),
                crate::text::Untrusted(&found)
            )),
        }
    }
    if problems.is_empty() {
        Ok(row)
    } else {
        Err(problems)
    }
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

/// Fits every feature of `spec` on `rows` (typed, in `contract`'s column
/// order): the label must be a column and no feature, and a binary label
/// (a `positive` value) must have both classes.
pub fn fit(
    spec: &FeatureSpec,
    contract: &Contract,
    rows: &[Vec<Value>],
    source: &str,
) -> Result<Vec<Fitted>> {
    let label_idx = contract.index_of(&spec.label).ok_or_else(|| {
        Error::Rejected(format!(
            "feature spec {source}: label column {:?} is not in the contract",
            spec.label
        ))
    })?;
    if spec.features.iter().any(|f| {
        f.column.as_deref() == Some(spec.label.as_str())
            || f.denominator.as_deref() == Some(spec.label.as_str())
            || f.columns.iter().flatten().any(|c| *c == spec.label)
    }) {
        return Err(Error::Rejected(format!(
            "feature spec {source}: the label {:?} cannot also be a feature",
            spec.label
        )));
    }
    let features = spec
        .features
        .iter()
        .map(|d| fit_one(d, &FitCtx { contract, rows }))
        .collect::<Result<Vec<_>>>()?;
    let positives = rows
        .iter()
        .filter(|r| r[label_idx].canonical() == spec.positive)
        .count();
    if !spec.positive.is_empty() && (positives == 0 || positives == rows.len()) {
        return Err(Error::Rejected(format!(
            "feature spec {source}: label {:?} has {positives} of {} rows equal to positive value {:?}; both classes are needed",
            spec.label,
            rows.len(),
            spec.positive
        )));
    }
    Ok(features)
}

fn sorted_values(rows: &[Vec<Value>], f: impl Fn(&[Value]) -> Option<f64>) -> Vec<f64> {
    let mut xs: Vec<f64> = rows.iter().filter_map(|r| f(r)).collect();
    xs.sort_by(f64::total_cmp);
    xs
}

fn median(sorted: &[f64]) -> f64 {
    let m = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[m]
    } else {
        (sorted[m - 1] + sorted[m]) / 2.0
    }
}

fn fit_scale(kind: Option<Transform>, xs: &[f64], name: &str) -> Result<Scale> {
    Ok(match kind {
        None | Some(Transform::Identity) => Scale::None,
        Some(Transform::Standardize) => {
            let n = xs.len() as f64;
            let mean = xs.iter().sum::<f64>() / n;
            let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
            Scale::Standardize {
                mean,
                std: if var > 0.0 { var.sqrt() } else { 1.0 },
            }
        }
        Some(Transform::MinMax) => {
            let (min, max) = (xs[0], xs[xs.len() - 1]);
            Scale::MinMax {
                min,
                max: if max > min && (max - min).is_finite() && min + (max - min) > min {
                    max
                } else {
                    min + min.abs().max(1.0)
                },
            }
        }
        Some(other) => {
            return Err(Error::Rejected(format!(
                "feature {name:?}: scale must be standardize or min_max, not {other:?}"
            )));
        }
    })
}

/// The fill of a numeric feature's missing values: `impute` (else
/// `default`) over the fitting data's sorted values.
fn numeric_fill(
    def: &FeatureDef,
    default: Impute,
    sorted: &[f64],
) -> std::result::Result<f64, String> {
    match def.impute.unwrap_or(default) {
        Impute::Mean => Ok(sorted.iter().sum::<f64>() / sorted.len() as f64),
        Impute::Median => Ok(median(sorted)),
        Impute::Zero => Ok(0.0),
        Impute::Constant => match def.fill {
            Some(f) if f.is_finite() => Ok(f),
            _ => Err("impute = \"constant\" needs a finite `fill`".into()),
        },
        other => Err(format!(
            "impute {other:?} is for categorical features; use mean, median, zero or constant"
        )),
    }
}

struct FitCtx<'a> {
    contract: &'a Contract,
    rows: &'a [Vec<Value>],
}

impl FitCtx<'_> {
    fn column(&self, name: &str, what: &str) -> Result<(usize, ColumnType)> {
        let idx = self.contract.index_of(name).ok_or_else(|| {
            Error::Rejected(format!(
                "{what}: column {name:?} is not in contract {} v{}",
                self.contract.name, self.contract.version
            ))
        })?;
        Ok((idx, self.contract.columns[idx].ty))
    }
}

fn fit_one(def: &FeatureDef, cx: &FitCtx<'_>) -> Result<Fitted> {
    let label = def
        .column
        .clone()
        .or_else(|| def.columns.as_ref().map(|c| c.join("*")))
        .unwrap_or_default();
    let bad = |why: String| Err(Error::Rejected(format!("feature {label:?}: {why}")));
    let what = format!("feature {label:?}");
    let need_column = || -> Result<String> {
        def.column
            .clone()
            .ok_or_else(|| Error::Rejected(format!("{what}: {:?} needs `column`", def.transform)))
    };
    match def.transform {
        Transform::Standardize
        | Transform::MinMax
        | Transform::Log1p
        | Transform::Clip
        | Transform::Identity
        | Transform::Ratio => {
            let column = need_column()?;
            let (idx, ty) = cx.column(&column, &what)?;
            if !ty.is_numeric() {
                return bad(format!(
                    "{:?} needs a numeric column, the contract says {}",
                    def.transform,
                    ty.name()
                ));
            }
            let mut cols = vec![idx];
            if def.transform == Transform::Ratio {
                let Some(d) = &def.denominator else {
                    return bad("ratio needs `denominator`".into());
                };
                let (di, dty) = cx.column(d, &what)?;
                if !dty.is_numeric() {
                    return bad(format!("denominator {d:?} must be numeric"));
                }
                cols.push(di);
            } else if def.denominator.is_some() {
                return bad("`denominator` belongs to ratio features".into());
            }
            if def.transform == Transform::Clip && def.clip.is_none() {
                return bad("clip needs `clip = [lo, hi]`".into());
            }
            if let Some([lo, hi]) = def.clip
                && !(lo.is_finite() && hi.is_finite() && lo <= hi)
            {
                return bad(format!("clip [{lo}, {hi}] must be finite with lo <= hi"));
            }
            let log1p = def.log1p || def.transform == Transform::Log1p;
            if log1p {
                // log1p(x) is finite only above -1: the lower bound must be
                // guaranteed by the clip or by the contract, for every
                // value ever served.
                let lower = match def.clip {
                    Some([lo, _]) => Some(lo),
                    None if cols.len() == 1 => cx.contract.columns[idx].min,
                    None => None,
                };
                if !lower.is_some_and(|lo| lo > -1.0) {
                    return bad(
                        "log1p needs every value above -1: clip it (clip = [0, ...]) or give the column a contract min above -1".into(),
                    );
                }
            }
            let raw = sorted_values(cx.rows, |r| numeric_input(r, &cols));
            if raw.is_empty() {
                return bad("no values to fit on".into());
            }
            let fill = numeric_fill(def, Impute::Mean, &raw)
                .map_err(|why| Error::Rejected(format!("feature {label:?}: {why}")))?;
            let scale_kind = match def.transform {
                Transform::Standardize | Transform::MinMax => {
                    if def.scale.is_some() {
                        return bad("`scale` is implied by the transform".into());
                    }
                    Some(def.transform)
                }
                _ => def.scale,
            };
            // Scaling parameters are fit on the values as the pipeline
            // sees them (missing ones filled).
            let mut seen: Vec<f64> = cx
                .rows
                .iter()
                .map(|r| pre_scale(numeric_input(r, &cols).unwrap_or(fill), def.clip, log1p))
                .collect();
            seen.sort_by(f64::total_cmp);
            let scale = fit_scale(scale_kind, &seen, &label)?;
            if log1p && def.clip.is_none() && fill <= -1.0 {
                return bad(format!(
                    "the fill {fill} is not above -1, so log1p of a missing value would be undefined"
                ));
            }
            let fitted = Fitted::Numeric {
                column,
                denominator: def.denominator.clone(),
                fill,
                indicator: def.indicator,
                clip: def.clip,
                log1p,
                scale,
            };
            if let Err(why) = fitted.check() {
                return bad(format!(
                    "{why}; the values are too large to fit on (clip them, or log1p them)"
                ));
            }
            Ok(fitted)
        }
        Transform::Bucketize => {
            let column = need_column()?;
            let (idx, ty) = cx.column(&column, &what)?;
            if !ty.is_numeric() {
                return bad(format!(
                    "bucketize needs a numeric column, not {}",
                    ty.name()
                ));
            }
            let xs = sorted_values(cx.rows, |r| r[idx].as_f64());
            if xs.is_empty() {
                return bad("no values to fit on".into());
            }
            let boundaries = match (&def.boundaries, def.buckets) {
                (Some(b), None) => b.clone(),
                (None, Some(n)) if (2..=1000).contains(&n) => {
                    let mut b: Vec<f64> = (1..n)
                        .map(|i| xs[(i as usize * (xs.len() - 1)) / n as usize])
                        .collect();
                    b.dedup();
                    b
                }
                _ => {
                    return bad(
                        "bucketize needs either `boundaries = [...]` or `buckets = N` (2 to 1000)"
                            .into(),
                    );
                }
            };
            if boundaries.is_empty()
                || boundaries.iter().any(|b| !b.is_finite())
                || boundaries.windows(2).any(|w| w[0] >= w[1])
            {
                return bad("boundaries must be finite and strictly increasing".into());
            }
            let fill = numeric_fill(def, Impute::Median, &xs)
                .map_err(|why| Error::Rejected(format!("feature {label:?}: {why}")))?;
            Ok(Fitted::Bucketize {
                column,
                boundaries,
                fill,
                indicator: def.indicator,
            })
        }
        Transform::OneHot => {
            let column = need_column()?;
            let (idx, ty) = cx.column(&column, &what)?;
            if !matches!(ty, ColumnType::Category | ColumnType::String) {
                return bad(format!(
                    "one_hot needs a category or string column, the contract says {}",
                    ty.name()
                ));
            }
            let mut counts = BTreeMap::<&str, usize>::new();
            for r in cx.rows {
                if let Value::Text(s) = &r[idx] {
                    *counts.entry(s.as_str()).or_default() += 1;
                }
            }
            let mut vocabulary: Vec<String> = match (&def.vocabulary, def.max_categories) {
                (Some(v), _) => v.clone(),
                (None, Some(k)) => {
                    let mut by_count: Vec<(&str, usize)> =
                        counts.iter().map(|(s, n)| (*s, *n)).collect();
                    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
                    by_count
                        .into_iter()
                        .take(k)
                        .map(|(s, _)| s.to_string())
                        .collect()
                }
                (None, None) => counts.keys().map(|s| s.to_string()).collect(),
            };
            vocabulary.sort();
            vocabulary.dedup();
            if vocabulary.is_empty() {
                return bad("the vocabulary is empty".into());
            }
            let fill = match def.impute.unwrap_or(Impute::Mode) {
                // Most frequent; ties go to the first in sorted order.
                Impute::Mode => counts
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                    .map(|(s, _)| s.to_string()),
                Impute::Oov => None,
                other => {
                    return bad(format!(
                        "impute {other:?} is for numeric features; use mode or oov"
                    ));
                }
            };
            Ok(Fitted::OneHot {
                column,
                vocabulary,
                fill,
                indicator: def.indicator,
            })
        }
        Transform::Hashing | Transform::Cross => {
            let columns = match (def.transform, &def.column, &def.columns) {
                (Transform::Hashing, Some(c), None) => vec![c.clone()],
                (Transform::Cross, None, Some(cs)) if cs.len() >= 2 => cs.clone(),
                (Transform::Hashing, _, _) => return bad("hashing needs `column`".into()),
                _ => return bad("cross needs `columns = [a, b, ...]` (two or more)".into()),
            };
            for c in &columns {
                cx.column(c, &what)?;
            }
            let buckets = match def.buckets {
                Some(n) if (1..=1 << 20).contains(&n) => n,
                _ => return bad("needs `buckets` (1 to 1048576)".into()),
            };
            Ok(Fitted::Hashed { columns, buckets })
        }
        Transform::DateParts => {
            let column = need_column()?;
            let (idx, ty) = cx.column(&column, &what)?;
            if !ty.is_time() {
                return bad(format!(
                    "date_parts needs a date or timestamp column, not {}",
                    ty.name()
                ));
            }
            let parts = def.parts.clone().unwrap_or_else(|| {
                vec![
                    DatePart::Year,
                    DatePart::Month,
                    DatePart::Day,
                    DatePart::Weekday,
                ]
            });
            if parts.is_empty() {
                return bad("`parts` is empty".into());
            }
            let ts = sorted_values(cx.rows, |r| r[idx].as_f64());
            if ts.is_empty() {
                return bad("no values to fit on".into());
            }
            let years: Vec<f64> = ts.iter().map(|t| year_of(*t as i64)).collect();
            let Scale::Standardize { mean, std } =
                fit_scale(Some(Transform::Standardize), &years, &label)?
            else {
                return bad("the year could not be standardized".into());
            };
            Ok(Fitted::DateParts {
                column,
                parts,
                fill: median(&ts) as i64,
                indicator: def.indicator,
                year: [mean, std],
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(features: Vec<Fitted>) -> FeatureSetDoc {
        FeatureSetDoc {
            ty: FEATURE_SET_TYPE.into(),
            site: "lab".parse().expect("site"),
            name: "f".into(),
            version: 1,
            dataset: Digest::of(b"d"),
            contract: Digest::of(b"c"),
            label: "y".into(),
            positive: "1".into(),
            features,
        }
    }

    fn vector(d: &FeatureSetDoc, cols: Vec<Vec<usize>>, row: &[Value]) -> Vec<f32> {
        let mut out = Vec::new();
        d.transform(row, &Bound(cols), &mut out);
        assert_eq!(out.len(), d.width());
        out
    }

    #[test]
    fn standardize_and_one_hot_impute_and_send_unknowns_out_of_vocabulary() {
        let d = doc(vec![
            Fitted::Numeric {
                column: "x".into(),
                denominator: None,
                fill: 2.0,
                indicator: true,
                clip: None,
                log1p: false,
                scale: Scale::Standardize {
                    mean: 1.0,
                    std: 2.0,
                },
            },
            Fitted::OneHot {
                column: "c".into(),
                vocabulary: vec!["a".into(), "b".into()],
                fill: Some("b".into()),
                indicator: false,
            },
        ]);
        let cols = || vec![vec![0], vec![1]];
        assert_eq!(
            vector(&d, cols(), &[Value::Float(5.0), Value::Text("a".into())]),
            [2.0, 0.0, 1.0, 0.0, 0.0]
        );
        assert_eq!(
            vector(&d, cols(), &[Value::Null, Value::Null]),
            [0.5, 1.0, 0.0, 1.0, 0.0],
            "missing values take the fitted fills and set the indicator"
        );
        assert_eq!(
            vector(&d, cols(), &[Value::Int(1), Value::Text("zzz".into())]),
            [0.0, 0.0, 0.0, 0.0, 1.0],
            "unseen category goes to the out-of-vocabulary slot"
        );
    }

    #[test]
    fn clip_log1p_min_max_ratio_bucketize_hashing_and_date_parts() {
        let d = doc(vec![
            Fitted::Numeric {
                column: "x".into(),
                denominator: None,
                fill: 0.0,
                indicator: false,
                clip: Some([0.0, 99.0]),
                log1p: true,
                scale: Scale::MinMax {
                    min: 0.0,
                    max: 100f64.ln(),
                },
            },
            Fitted::Numeric {
                column: "x".into(),
                denominator: Some("y".into()),
                fill: -1.0,
                indicator: false,
                clip: None,
                log1p: false,
                scale: Scale::None,
            },
            Fitted::Bucketize {
                column: "x".into(),
                boundaries: vec![10.0, 20.0],
                fill: 15.0,
                indicator: false,
            },
            Fitted::Hashed {
                columns: vec!["c".into()],
                buckets: 4,
            },
            Fitted::DateParts {
                column: "t".into(),
                parts: vec![DatePart::Month, DatePart::Weekday, DatePart::Hour],
                fill: 0,
                indicator: false,
                year: [2026.0, 1.0],
            },
        ]);
        let cols = || vec![vec![0], vec![0, 1], vec![0], vec![2], vec![3]];
        // 2026-11-23T13:00:00Z is a Monday.
        let t = crate::contract::parse_timestamp("2026-11-23T13:00:00Z").expect("time");
        let row = [
            Value::Float(1000.0),
            Value::Float(0.0),
            Value::Text("A11".into()),
            Value::Int(t),
        ];
        let v = vector(&d, cols(), &row);
        assert_eq!(v[0], 1.0, "clipped to 99, log1p, min-max to 1");
        assert_eq!(v[1], -1.0, "a zero denominator takes the fill");
        assert_eq!(&v[2..5], [0.0, 0.0, 1.0], "1000 is above the last boundary");
        let bucket = (hash64(b"A11\x1f") % 4) as usize;
        assert_eq!(v[5 + bucket], 1.0);
        assert_eq!(v[5..10].iter().sum::<f32>(), 1.0);
        assert_eq!(&v[10..], [10.0 / 11.0, 0.0, 13.0 / 23.0]);
        let missing = [
            Value::Float(5.0),
            Value::Float(2.0),
            Value::Null,
            Value::Null,
        ];
        let v = vector(&d, cols(), &missing);
        assert_eq!(v[1], 2.5);
        assert_eq!(&v[2..5], [1.0, 0.0, 0.0]);
        assert_eq!(v[9], 1.0, "a missing hashed value has its own slot");
    }

    #[test]
    fn a_huge_value_is_limited_to_the_f32_range() {
        let d = doc(vec![Fitted::Numeric {
            column: "x".into(),
            denominator: None,
            fill: 0.0,
            indicator: false,
            clip: None,
            log1p: false,
            scale: Scale::None,
        }]);
        let v = vector(&d, vec![vec![0]], &[Value::Float(1e300)]);
        assert_eq!(v[0], f32::MAX);
    }

    #[test]
    fn stored_document_round_trips_bit_for_bit() {
        let d = doc(vec![Fitted::Numeric {
            column: "x".into(),
            denominator: None,
            fill: 0.1 + 0.2,
            indicator: false,
            clip: None,
            log1p: false,
            scale: Scale::Standardize {
                mean: 1.0 / 3.0,
                std: 2f64.sqrt(),
            },
        }]);
        let back: FeatureSetDoc =
            serde_json::from_slice(&serde_json::to_vec(&d).expect("ser")).expect("de");
        assert_eq!(back, d, "float parameters must survive storage exactly");
    }
}
