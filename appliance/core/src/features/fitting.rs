//! Fitting a feature spec's parameters (means, deviations, vocabularies,
//! boundaries, fills) in one pass over a dataset's rows, lent one at a
//! time ([`Fitter`]).

use std::collections::BTreeMap;

use super::fitted::{numeric_input, pre_scale, year_of};
use super::{DatePart, FeatureDef, FeatureSpec, Fitted, Impute, Scale, Transform};
use crate::contract::{ColumnType, Contract, Value};
use crate::error::{Error, Result};

/// Fits every feature of `spec` on `rows` (typed, in `contract`'s column
/// order): the label must be a column and no feature, and a binary label
/// (a `positive` value) must have both classes. The same as feeding the
/// rows one by one to a [`Fitter`].
pub fn fit(
    spec: &FeatureSpec,
    contract: &Contract,
    rows: &[Vec<Value>],
    source: &str,
) -> Result<Vec<Fitted>> {
    let mut fitter = Fitter::new(spec, contract, source)?;
    for row in rows {
        fitter.push(row);
    }
    fitter.finish()
}

/// Fits a feature spec in one pass over rows lent one at a time, keeping
/// per feature only what its parameters need:
///
/// - counts, minimum and maximum (a `min_max` scale with a `zero` or
///   `constant` fill), category counts (bounded by the distinct values);
/// - the column's numbers as one `Vec<f64>` (8 bytes a row for that column,
///   the one copy the fit needs) for a feature whose parameters are order
///   statistics or sums over the sorted values: a mean or median fill
///   (`mean` is the default of numeric features), a `standardize` scale,
///   quantile `buckets` and `date_parts` (its fill is the median). The
///   means and deviations are summed over the sorted values, as they
///   always were, so a version fit by streaming has the same bytes as one
///   fit on rows held in memory.
///
/// Everything the spec and contract alone decide (columns, types, options)
/// is checked by [`Fitter::new`], before any row is read; what depends on
/// the data by [`Fitter::finish`].
pub struct Fitter {
    source: String,
    label: String,
    positive: String,
    label_idx: usize,
    rows: usize,
    positives: usize,
    features: Vec<Acc>,
}

impl Fitter {
    /// Checks `spec` against `contract` and prepares the accumulators.
    pub fn new(spec: &FeatureSpec, contract: &Contract, source: &str) -> Result<Self> {
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
            .map(|d| plan_one(d, &FitCtx { contract }))
            .collect::<Result<Vec<_>>>()?;
        Ok(Fitter {
            source: source.to_string(),
            label: spec.label.clone(),
            positive: spec.positive.clone(),
            label_idx,
            rows: 0,
            positives: 0,
            features,
        })
    }

    /// Reserves room for `rows` values in each column kept, so a fit whose
    /// row count is known holds no slack (a growing buffer can be up to
    /// twice its content). A count too large to reserve is ignored (the
    /// columns then grow as the rows come).
    pub fn reserve(&mut self, rows: usize) {
        for f in &mut self.features {
            let kept = match f {
                Acc::Numeric(a) => a.values.as_mut(),
                Acc::Bucketize(a) => a.values.as_mut(),
                Acc::DateParts(a) => Some(&mut a.ts),
                Acc::OneHot(_) | Acc::Ready(_) => None,
            };
            if let Some(v) = kept {
                // A failed reservation leaves the buffer as it was.
                let _ = v.try_reserve_exact(rows);
            }
        }
    }

    /// Adds one row (typed, in the contract's column order); nothing of it
    /// is kept but what the accumulators need.
    pub fn push(&mut self, row: &[Value]) {
        self.rows += 1;
        if !self.positive.is_empty() && is_positive(&row[self.label_idx], &self.positive) {
            self.positives += 1;
        }
        for f in &mut self.features {
            f.push(row);
        }
    }

    /// The fitted features, in spec order.
    pub fn finish(self) -> Result<Vec<Fitted>> {
        let features = self
            .features
            .into_iter()
            .map(Acc::finish)
            .collect::<Result<Vec<_>>>()?;
        let (positives, rows) = (self.positives, self.rows);
        if !self.positive.is_empty() && (positives == 0 || positives == rows) {
            return Err(Error::Rejected(format!(
                "feature spec {}: label {:?} has {positives} of {rows} rows equal to positive value {:?}; both classes are needed",
                self.source, self.label, self.positive
            )));
        }
        Ok(features)
    }
}

/// `v.canonical() == positive`, without building the text of a text cell.
fn is_positive(v: &Value, positive: &str) -> bool {
    match v {
        Value::Text(s) => s == positive,
        Value::Null => positive.is_empty(),
        other => other.canonical() == positive,
    }
}

fn median(sorted: &[f64]) -> f64 {
    let m = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[m]
    } else {
        (sorted[m - 1] + sorted[m]) / 2.0
    }
}

/// The scale of the values `xs` as the pipeline sees them, sorted (for
/// `min_max`, their smallest and largest are enough). The kind is one
/// [`scale_kind`] accepted.
fn fit_scale(kind: Option<Transform>, xs: &[f64]) -> Scale {
    match kind {
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
        _ => Scale::None,
    }
}

/// Checks a scale kind: none, standardize or min_max.
fn scale_kind(kind: Option<Transform>, name: &str) -> Result<Option<Transform>> {
    match kind {
        None | Some(Transform::Identity) => Ok(None),
        Some(Transform::Standardize | Transform::MinMax) => Ok(kind),
        Some(other) => Err(Error::Rejected(format!(
            "feature {name:?}: scale must be standardize or min_max, not {other:?}"
        ))),
    }
}

/// How a numeric feature's missing values are filled.
#[derive(Clone, Copy)]
enum Fill {
    /// The mean of the fitting data's values, summed in sorted order.
    Mean,
    /// Their median.
    Median,
    /// A value the spec gives (zero or its constant).
    Fixed(f64),
}

impl Fill {
    /// The rule of `impute` (else `default`).
    fn of(def: &FeatureDef, default: Impute) -> std::result::Result<Fill, String> {
        match def.impute.unwrap_or(default) {
            Impute::Mean => Ok(Fill::Mean),
            Impute::Median => Ok(Fill::Median),
            Impute::Zero => Ok(Fill::Fixed(0.0)),
            Impute::Constant => match def.fill {
                Some(f) if f.is_finite() => Ok(Fill::Fixed(f)),
                _ => Err("impute = \"constant\" needs a finite `fill`".into()),
            },
            other => Err(format!(
                "impute {other:?} is for categorical features; use mean, median, zero or constant"
            )),
        }
    }

    /// Whether the fill needs the column's values.
    fn needs_values(self) -> bool {
        !matches!(self, Fill::Fixed(_))
    }

    /// The fill over the fitting data's sorted values.
    fn value(self, sorted: &[f64]) -> f64 {
        match self {
            Fill::Mean => sorted.iter().sum::<f64>() / sorted.len() as f64,
            Fill::Median => median(sorted),
            Fill::Fixed(f) => f,
        }
    }
}

struct FitCtx<'a> {
    contract: &'a Contract,
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

fn rejected(label: &str, why: impl std::fmt::Display) -> Error {
    Error::Rejected(format!("feature {label:?}: {why}"))
}

/// What one feature accumulates while the rows go by.
enum Acc {
    Numeric(Box<NumericAcc>),
    Bucketize(Box<BucketizeAcc>),
    OneHot(Box<OneHotAcc>),
    DateParts(Box<DatePartsAcc>),
    /// Nothing to fit (hashing and crosses).
    Ready(Fitted),
}

struct NumericAcc {
    label: String,
    column: String,
    denominator: Option<String>,
    cols: Vec<usize>,
    indicator: bool,
    clip: Option<[f64; 2]>,
    log1p: bool,
    fill: Fill,
    scale: Option<Transform>,
    /// The present values, when the fill or the scale needs them.
    values: Option<Vec<f64>>,
    present: usize,
    missing: usize,
    /// Smallest and largest value as the pipeline sees them (missing ones
    /// filled), for a `min_max` scale without `values`.
    extremes: Option<[f64; 2]>,
    track_extremes: bool,
}

struct BucketizeAcc {
    label: String,
    column: String,
    idx: usize,
    indicator: bool,
    boundaries: Bounds,
    fill: Fill,
    values: Option<Vec<f64>>,
    present: usize,
}

/// A `bucketize` feature's boundaries.
enum Bounds {
    /// Given by the spec.
    Given(Vec<f64>),
    /// This many quantile buckets of the data.
    Quantiles(u32),
}

struct OneHotAcc {
    label: String,
    column: String,
    idx: usize,
    indicator: bool,
    vocabulary: Option<Vec<String>>,
    max_categories: Option<usize>,
    /// Missing values take the most frequent category (else the
    /// out-of-vocabulary slot).
    mode: bool,
    counts: BTreeMap<String, usize>,
}

struct DatePartsAcc {
    label: String,
    column: String,
    idx: usize,
    indicator: bool,
    parts: Vec<DatePart>,
    /// The present timestamps (the fill is their median).
    ts: Vec<f64>,
}

impl Acc {
    fn push(&mut self, row: &[Value]) {
        match self {
            Acc::Numeric(a) => match numeric_input(row, &a.cols) {
                Some(x) => {
                    a.present += 1;
                    if let Some(v) = &mut a.values {
                        v.push(x);
                    }
                    a.track(x);
                }
                None => {
                    a.missing += 1;
                    if let Fill::Fixed(f) = a.fill {
                        a.track(f);
                    }
                }
            },
            Acc::Bucketize(a) => {
                if let Some(x) = row[a.idx].as_f64() {
                    a.present += 1;
                    if let Some(v) = &mut a.values {
                        v.push(x);
                    }
                }
            }
            Acc::OneHot(a) => {
                if let Value::Text(s) = &row[a.idx] {
                    match a.counts.get_mut(s.as_str()) {
                        Some(n) => *n += 1,
                        None => {
                            a.counts.insert(s.clone(), 1);
                        }
                    }
                }
            }
            Acc::DateParts(a) => {
                if let Some(t) = row[a.idx].as_f64() {
                    a.ts.push(t);
                }
            }
            Acc::Ready(_) => {}
        }
    }

    fn finish(self) -> Result<Fitted> {
        match self {
            Acc::Numeric(a) => a.finish(),
            Acc::Bucketize(a) => a.finish(),
            Acc::OneHot(a) => a.finish(),
            Acc::DateParts(a) => a.finish(),
            Acc::Ready(f) => Ok(f),
        }
    }
}

impl NumericAcc {
    fn track(&mut self, x: f64) {
        if !self.track_extremes {
            return;
        }
        let x = pre_scale(x, self.clip, self.log1p);
        self.extremes = Some(match self.extremes {
            None => [x, x],
            Some([lo, hi]) => [
                if x.total_cmp(&lo).is_lt() { x } else { lo },
                if x.total_cmp(&hi).is_gt() { x } else { hi },
            ],
        });
    }

    fn finish(self) -> Result<Fitted> {
        let label = self.label;
        if self.present == 0 {
            return Err(rejected(&label, "no values to fit on"));
        }
        let (fill, scale) = match self.values {
            Some(mut xs) => {
                xs.sort_unstable_by(f64::total_cmp);
                let fill = self.fill.value(&xs);
                // Scaling parameters are fit on the values as the pipeline
                // sees them (missing ones filled), in the same buffer.
                for x in &mut xs {
                    *x = pre_scale(*x, self.clip, self.log1p);
                }
                let filled = pre_scale(fill, self.clip, self.log1p);
                xs.reserve_exact(self.missing);
                xs.extend(std::iter::repeat_n(filled, self.missing));
                xs.sort_unstable_by(f64::total_cmp);
                (fill, fit_scale(self.scale, &xs))
            }
            None => {
                let fill = self.fill.value(&[]);
                let scale = match self.extremes {
                    Some(lo_hi) => fit_scale(self.scale, &lo_hi),
                    None => fit_scale(None, &[]),
                };
                (fill, scale)
            }
        };
        if self.log1p && self.clip.is_none() && fill <= -1.0 {
            return Err(rejected(
                &label,
                format!(
                    "the fill {fill} is not above -1, so log1p of a missing value would be undefined"
                ),
            ));
        }
        let fitted = Fitted::Numeric {
            column: self.column,
            denominator: self.denominator,
            fill,
            indicator: self.indicator,
            clip: self.clip,
            log1p: self.log1p,
            scale,
        };
        if let Err(why) = fitted.check() {
            return Err(rejected(
                &label,
                format!("{why}; the values are too large to fit on (clip them, or log1p them)"),
            ));
        }
        Ok(fitted)
    }
}

impl BucketizeAcc {
    fn finish(self) -> Result<Fitted> {
        let label = self.label;
        if self.present == 0 {
            return Err(rejected(&label, "no values to fit on"));
        }
        let mut xs = self.values.unwrap_or_default();
        xs.sort_unstable_by(f64::total_cmp);
        let boundaries = match self.boundaries {
            Bounds::Given(b) => b,
            Bounds::Quantiles(n) => {
                let mut b: Vec<f64> = (1..n)
                    .map(|i| xs[(i as usize * (xs.len() - 1)) / n as usize])
                    .collect();
                b.dedup();
                b
            }
        };
        if boundaries.is_empty()
            || boundaries.iter().any(|b| !b.is_finite())
            || boundaries.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(rejected(
                &label,
                "boundaries must be finite and strictly increasing",
            ));
        }
        Ok(Fitted::Bucketize {
            column: self.column,
            boundaries,
            fill: self.fill.value(&xs),
            indicator: self.indicator,
        })
    }
}

impl OneHotAcc {
    fn finish(self) -> Result<Fitted> {
        let counts = &self.counts;
        let mut vocabulary: Vec<String> = match (self.vocabulary, self.max_categories) {
            (Some(v), _) => v,
            (None, Some(k)) => {
                let mut by_count: Vec<(&str, usize)> =
                    counts.iter().map(|(s, n)| (s.as_str(), *n)).collect();
                by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
                by_count
                    .into_iter()
                    .take(k)
                    .map(|(s, _)| s.to_string())
                    .collect()
            }
            (None, None) => counts.keys().cloned().collect(),
        };
        vocabulary.sort();
        vocabulary.dedup();
        if vocabulary.is_empty() {
            return Err(rejected(&self.label, "the vocabulary is empty"));
        }
        // Most frequent; ties go to the first in sorted order.
        let fill = self
            .mode
            .then(|| {
                counts
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                    .map(|(s, _)| s.clone())
            })
            .flatten();
        Ok(Fitted::OneHot {
            column: self.column,
            vocabulary,
            fill,
            indicator: self.indicator,
        })
    }
}

impl DatePartsAcc {
    fn finish(self) -> Result<Fitted> {
        let mut ts = self.ts;
        if ts.is_empty() {
            return Err(rejected(&self.label, "no values to fit on"));
        }
        ts.sort_unstable_by(f64::total_cmp);
        let years: Vec<f64> = ts.iter().map(|t| year_of(*t as i64)).collect();
        let Scale::Standardize { mean, std } = fit_scale(Some(Transform::Standardize), &years)
        else {
            return Err(rejected(&self.label, "the year could not be standardized"));
        };
        Ok(Fitted::DateParts {
            column: self.column,
            parts: self.parts,
            fill: median(&ts) as i64,
            indicator: self.indicator,
            year: [mean, std],
        })
    }
}

/// Checks one feature definition against the contract (everything that
/// needs no data) and makes its accumulator.
fn plan_one(def: &FeatureDef, cx: &FitCtx<'_>) -> Result<Acc> {
    let label = def
        .column
        .clone()
        .or_else(|| def.columns.as_ref().map(|c| c.join("*")))
        .unwrap_or_default();
    let bad = |why: String| Err(rejected(&label, why));
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
            let fill = Fill::of(def, Impute::Mean).map_err(|why| rejected(&label, why))?;
            let scale = match def.transform {
                Transform::Standardize | Transform::MinMax => {
                    if def.scale.is_some() {
                        return bad("`scale` is implied by the transform".into());
                    }
                    Some(def.transform)
                }
                _ => scale_kind(def.scale, &label)?,
            };
            let keep = fill.needs_values() || scale == Some(Transform::Standardize);
            Ok(Acc::Numeric(Box::new(NumericAcc {
                column,
                denominator: def.denominator.clone(),
                cols,
                indicator: def.indicator,
                clip: def.clip,
                log1p,
                fill,
                scale,
                values: keep.then(Vec::new),
                present: 0,
                missing: 0,
                extremes: None,
                track_extremes: !keep && scale == Some(Transform::MinMax),
                label,
            })))
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
            let boundaries = match (&def.boundaries, def.buckets) {
                (Some(b), None) => Bounds::Given(b.clone()),
                (None, Some(n)) if (2..=1000).contains(&n) => Bounds::Quantiles(n),
                _ => {
                    return bad(
                        "bucketize needs either `boundaries = [...]` or `buckets = N` (2 to 1000)"
                            .into(),
                    );
                }
            };
            let fill = Fill::of(def, Impute::Median).map_err(|why| rejected(&label, why))?;
            let keep = fill.needs_values() || matches!(boundaries, Bounds::Quantiles(_));
            Ok(Acc::Bucketize(Box::new(BucketizeAcc {
                column,
                idx,
                indicator: def.indicator,
                boundaries,
                fill,
                values: keep.then(Vec::new),
                present: 0,
                label,
            })))
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
            let mode = match def.impute.unwrap_or(Impute::Mode) {
                Impute::Mode => true,
                Impute::Oov => false,
                other => {
                    return bad(format!(
                        "impute {other:?} is for numeric features; use mode or oov"
                    ));
                }
            };
            Ok(Acc::OneHot(Box::new(OneHotAcc {
                column,
                idx,
                indicator: def.indicator,
                vocabulary: def.vocabulary.clone(),
                max_categories: def.max_categories,
                mode,
                counts: BTreeMap::new(),
                label,
            })))
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
            Ok(Acc::Ready(Fitted::Hashed { columns, buckets }))
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
            Ok(Acc::DateParts(Box::new(DatePartsAcc {
                column,
                idx,
                indicator: def.indicator,
                parts,
                ts: Vec::new(),
                label,
            })))
        }
    }
}
