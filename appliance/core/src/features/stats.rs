//! The fill and scale parameters of numeric features, computed from a
//! column's sorted values ([`Sorted`]) with the arithmetic of the fit on
//! rows held in memory, term for term.

use super::sorted_column::{Sorted, ValueSpill};
use super::{FeatureDef, Impute, Scale, Transform};
use crate::error::{Error, Result};

/// The mean and deviation of `f` of the sorted values `xs`, each summed in
/// the values' order, in two walks (the arithmetic of the fit on rows held
/// in memory, term for term).
pub(super) fn standardize(
    xs: &Sorted,
    spill: &mut dyn ValueSpill,
    f: impl Fn(f64) -> f64,
) -> Result<(f64, f64)> {
    let n = xs.len() as f64;
    let mean = xs.walk(spill, |it| it.map(&f).sum::<f64>())? / n;
    let var = xs.walk(spill, |it| {
        it.map(&f).map(|x| (x - mean) * (x - mean)).sum::<f64>()
    })? / n;
    Ok((mean, if var > 0.0 { var.sqrt() } else { 1.0 }))
}

/// The scale of the values `xs` as the pipeline sees them, sorted (for
/// `min_max`, their smallest and largest are enough). The kind is one
/// [`scale_kind`] accepted.
pub(super) fn fit_scale(
    kind: Option<Transform>,
    xs: &Sorted,
    spill: &mut dyn ValueSpill,
) -> Result<Scale> {
    Ok(match kind {
        Some(Transform::Standardize) => {
            let (mean, std) = standardize(xs, spill, |x| x)?;
            Scale::Standardize { mean, std }
        }
        Some(Transform::MinMax) => {
            let (min, max) = (
                xs.nth(spill, 0)?,
                xs.nth(spill, xs.len().saturating_sub(1))?,
            );
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
    })
}

/// Checks a scale kind: none, standardize or min_max.
pub(super) fn scale_kind(kind: Option<Transform>, name: &str) -> Result<Option<Transform>> {
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
pub(super) enum Fill {
    /// The mean of the fitting data's values, summed in sorted order.
    Mean,
    /// Their median.
    Median,
    /// A value the spec gives (zero or its constant).
    Fixed(f64),
}

impl Fill {
    /// The rule of `impute` (else `default`).
    pub(super) fn of(def: &FeatureDef, default: Impute) -> std::result::Result<Fill, String> {
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
    pub(super) fn needs_values(self) -> bool {
        !matches!(self, Fill::Fixed(_))
    }

    /// The fill over the fitting data's sorted values.
    pub(super) fn value(self, sorted: &Sorted, spill: &mut dyn ValueSpill) -> Result<f64> {
        Ok(match self {
            Fill::Mean => sorted.walk(spill, |xs| xs.sum::<f64>())? / sorted.len() as f64,
            Fill::Median => sorted.median(spill)?,
            Fill::Fixed(f) => f,
        })
    }
}

/// Widens `extremes` ([smallest, largest] in `total_cmp` order, the first
/// and last a sort would put) to take `x`.
pub(super) fn widen(extremes: &mut Option<[f64; 2]>, x: f64) {
    *extremes = Some(match *extremes {
        None => [x, x],
        Some([lo, hi]) => [
            if x.total_cmp(&lo).is_lt() { x } else { lo },
            if x.total_cmp(&hi).is_gt() { x } else { hi },
        ],
    });
}
