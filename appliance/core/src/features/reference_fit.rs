//! The fit as it was before it streamed (every typed row in memory), kept
//! for tests only: the streaming fit in `fitting.rs` must give the same
//! bytes for the same data and spec.

use std::collections::BTreeMap;

use super::fitted::{numeric_input, pre_scale, year_of};
use super::{DatePart, FeatureDef, FeatureSpec, Fitted, Impute, Scale, Transform};
use crate::contract::{ColumnType, Contract, Value};
use crate::error::{Error, Result};

/// Fits every feature of `spec` on `rows` (typed, in `contract`'s column
/// order): the label must be a column and no feature, and a binary label
/// (a `positive` value) must have both classes.
pub(super) fn fit(
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
