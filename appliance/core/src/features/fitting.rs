//! Fitting a feature spec's parameters (means, deviations, vocabularies,
//! boundaries, fills) in one pass over a dataset's rows, lent one at a
//! time ([`Fitter`]), in memory that does not grow with the rows.
//!
//! A parameter that is an order statistic or a sum over a column's sorted
//! values comes from the column sorted by an external merge sort
//! (`sorted_column`): a run of [`VALUE_RUN`] values (1 MiB) a column in
//! memory, the full runs handed to the caller's [`ValueSpill`] (in the
//! appliance an unlinked temporary file in the vault's private staging
//! folder, holding the dataset's own numbers in plaintext until the fit
//! ends, as the private copy of a Parquet file at ingest does), merged
//! when the fit finishes. The merge gives exactly the sequence a sort of
//! the whole column gives, and every statistic is folded over it in the
//! same order with the same arithmetic as before (`reference_fit.rs`, the
//! tests compare the bytes), so re-applying an unchanged spec finds the
//! identical version.

use std::collections::BTreeMap;

use super::fitted::{numeric_input, pre_scale, year_of};
use super::sorted_column::{MemoryValueSpill, Sorted, SortedColumn, VALUE_RUN, ValueSpill};
use super::stats::{Fill, fit_scale, scale_kind, standardize, widen};
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
        fitter.push(row)?;
    }
    fitter.finish()
}

/// Fits a feature spec in one pass over rows lent one at a time, keeping
/// per feature only what its parameters need:
///
/// - counts, minimum and maximum (a `min_max` scale with a `zero` or
///   `constant` fill), category counts (bounded by the distinct values);
/// - the column's numbers, for a feature whose parameters are order
///   statistics or sums over the sorted values: a mean or median fill
///   (`mean` is the default of numeric features), a `standardize` scale,
///   quantile `buckets` and `date_parts` (its fill is the median). At most
///   one run of them is in memory (see the module docs), the rest in the
///   [`ValueSpill`]; at the end they are merged in sorted order. The means
///   and deviations are summed over the sorted values, as they always
///   were, so a version fit by streaming has the same bytes as one fit on
///   rows held in memory. A `standardize` scale after a fill sorts the
///   values a second time, as the pipeline sees them (clipped, log1p,
///   missing ones filled): the spill holds up to 16 bytes a row for such
///   a column until the fit ends.
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
    spill: Box<dyn ValueSpill>,
}

impl Fitter {
    /// Checks `spec` against `contract` and prepares the accumulators; the
    /// runs of the kept columns are kept in memory ([`MemoryValueSpill`]).
    pub fn new(spec: &FeatureSpec, contract: &Contract, source: &str) -> Result<Self> {
        Self::with_spill(
            spec,
            contract,
            source,
            Box::new(MemoryValueSpill::default()),
        )
    }

    /// [`Fitter::new`], with the sorted runs of the kept columns given to
    /// `spill` past [`VALUE_RUN`] values a column.
    pub fn with_spill(
        spec: &FeatureSpec,
        contract: &Contract,
        source: &str,
        spill: Box<dyn ValueSpill>,
    ) -> Result<Self> {
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
            spill,
        })
    }

    /// Sets how many values of a kept column are held in memory before they
    /// are sorted and spilled as a run ([`VALUE_RUN`] unless set; at least
    /// 1), from the next row on; tests make it small to spill often.
    pub fn set_run(&mut self, values: usize) {
        for f in &mut self.features {
            if let Some(c) = f.column() {
                c.set_run(values);
            }
        }
    }

    /// Reserves room for `rows` values in each column kept, at most a run
    /// (a buffer left to grow can hold up to twice its content). A count
    /// too large to reserve is ignored.
    pub fn reserve(&mut self, rows: usize) {
        for f in &mut self.features {
            if let Some(c) = f.column() {
                c.reserve(rows);
            }
        }
    }

    /// The values the kept columns' buffers have room for, together.
    #[cfg(test)]
    pub(super) fn buffered(&mut self) -> usize {
        self.features
            .iter_mut()
            .filter_map(|f| f.column().map(|c| c.capacity()))
            .sum()
    }

    /// Adds one row (typed, in the contract's column order); nothing of it
    /// is kept but what the accumulators need. Fails only when a full run
    /// cannot be spilled.
    pub fn push(&mut self, row: &[Value]) -> Result<()> {
        self.rows += 1;
        if !self.positive.is_empty() && is_positive(&row[self.label_idx], &self.positive) {
            self.positives += 1;
        }
        for f in &mut self.features {
            f.push(row, &mut *self.spill)?;
        }
        Ok(())
    }

    /// The fitted features, in spec order.
    pub fn finish(mut self) -> Result<Vec<Fitted>> {
        let spill = &mut *self.spill;
        let features = self
            .features
            .into_iter()
            .map(|f| f.finish(spill))
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
    values: Option<SortedColumn>,
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
    values: Option<SortedColumn>,
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
    ts: SortedColumn,
}

impl Acc {
    /// The column of values kept, if any.
    fn column(&mut self) -> Option<&mut SortedColumn> {
        match self {
            Acc::Numeric(a) => a.values.as_mut(),
            Acc::Bucketize(a) => a.values.as_mut(),
            Acc::DateParts(a) => Some(&mut a.ts),
            Acc::OneHot(_) | Acc::Ready(_) => None,
        }
    }

    fn push(&mut self, row: &[Value], spill: &mut dyn ValueSpill) -> Result<()> {
        match self {
            Acc::Numeric(a) => match numeric_input(row, &a.cols) {
                Some(x) => {
                    a.present += 1;
                    if let Some(v) = &mut a.values {
                        v.push(x, spill)?;
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
                        v.push(x, spill)?;
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
                    a.ts.push(t, spill)?;
                }
            }
            Acc::Ready(_) => {}
        }
        Ok(())
    }

    fn finish(self, spill: &mut dyn ValueSpill) -> Result<Fitted> {
        match self {
            Acc::Numeric(a) => a.finish(spill),
            Acc::Bucketize(a) => a.finish(spill),
            Acc::OneHot(a) => a.finish(),
            Acc::DateParts(a) => a.finish(spill),
            Acc::Ready(f) => Ok(f),
        }
    }
}

impl NumericAcc {
    fn track(&mut self, x: f64) {
        if !self.track_extremes {
            return;
        }
        widen(&mut self.extremes, pre_scale(x, self.clip, self.log1p));
    }

    fn finish(self, spill: &mut dyn ValueSpill) -> Result<Fitted> {
        let label = self.label;
        if self.present == 0 {
            return Err(rejected(&label, "no values to fit on"));
        }
        let (clip, log1p) = (self.clip, self.log1p);
        let (fill, scale) = match self.values {
            Some(column) => {
                let run = column.run();
                let xs = column.finish();
                let fill = self.fill.value(&xs, spill)?;
                // Scaling parameters are fit on the values as the pipeline
                // sees them (missing ones filled).
                let filled = pre_scale(fill, clip, log1p);
                let scale = match self.scale {
                    Some(Transform::Standardize) => {
                        // Summed in their sorted order: mapped values need
                        // not keep the order of the raw ones (clip puts -1
                        // at 0.0 beside an untouched -0.0), so they are
                        // sorted again, the fills merged in.
                        let mut seen = SortedColumn::new(run);
                        let mut merge = xs.merge();
                        while let Some(x) = merge.next(spill)? {
                            seen.push(pre_scale(x, clip, log1p), spill)?;
                        }
                        let seen = seen.finish().with_copies(filled, self.missing);
                        fit_scale(self.scale, &seen, spill)?
                    }
                    Some(_) => {
                        // min_max needs only the first and last of that
                        // order: the smallest and largest by `total_cmp`.
                        let mut lo_hi = (self.missing > 0).then_some([filled, filled]);
                        xs.walk(spill, |it| {
                            it.for_each(|x| widen(&mut lo_hi, pre_scale(x, clip, log1p)))
                        })?;
                        let lo_hi = Sorted::held(lo_hi.map(Vec::from).unwrap_or_default());
                        fit_scale(self.scale, &lo_hi, spill)?
                    }
                    None => Scale::None,
                };
                (fill, scale)
            }
            None => {
                let fill = self.fill.value(&Sorted::held(Vec::new()), spill)?;
                let lo_hi = Sorted::held(self.extremes.map(Vec::from).unwrap_or_default());
                let scale = match self.extremes {
                    Some(_) => fit_scale(self.scale, &lo_hi, spill)?,
                    None => Scale::None,
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
    fn finish(self, spill: &mut dyn ValueSpill) -> Result<Fitted> {
        let label = self.label;
        if self.present == 0 {
            return Err(rejected(&label, "no values to fit on"));
        }
        let xs = match self.values {
            Some(column) => column.finish(),
            None => Sorted::held(Vec::new()),
        };
        let boundaries = match self.boundaries {
            Bounds::Given(b) => b,
            Bounds::Quantiles(n) => {
                let ranks: Vec<usize> = (1..n)
                    .map(|i| (i as usize * (xs.len() - 1)) / n as usize)
                    .collect();
                let mut b = xs.ranks(spill, &ranks)?;
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
            fill: self.fill.value(&xs, spill)?,
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
    fn finish(self, spill: &mut dyn ValueSpill) -> Result<Fitted> {
        let ts = self.ts.finish();
        if ts.len() == 0 {
            return Err(rejected(&self.label, "no values to fit on"));
        }
        // The years of the sorted times, in that order.
        let (mean, std) = standardize(&ts, spill, |t| year_of(t as i64))?;
        Ok(Fitted::DateParts {
            column: self.column,
            parts: self.parts,
            fill: ts.median(spill)? as i64,
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
                values: keep.then(|| SortedColumn::new(VALUE_RUN)),
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
                values: keep.then(|| SortedColumn::new(VALUE_RUN)),
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
                ts: SortedColumn::new(VALUE_RUN),
                label,
            })))
        }
    }
}
