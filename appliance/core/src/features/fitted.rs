//! A feature with its frozen parameters, and the arithmetic that turns its
//! cells into vector slots.

use serde::{Deserialize, Serialize};

use super::DatePart;
use crate::contract::Value;

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
    pub(super) fn apply(&self, x: f64) -> f64 {
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
pub(super) fn numeric_input(row: &[Value], cols: &[usize]) -> Option<f64> {
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
pub(super) fn pre_scale(x: f64, clip: Option<[f64; 2]>, log1p: bool) -> f64 {
    let x = match clip {
        Some([lo, hi]) => x.clamp(lo, hi),
        None => x,
    };
    if log1p { x.ln_1p() } else { x }
}

/// A feature value as stored in the vector: f32, limited to its finite
/// range so a huge input can never become infinity.
pub(super) fn slot(x: f64) -> f32 {
    if x.is_nan() {
        // Cannot happen for a validated feature set (fills and parameters
        // are checked finite, log1p only above -1); never pass NaN on.
        return 0.0;
    }
    x.clamp(f64::from(f32::MIN), f64::from(f32::MAX)) as f32
}

/// The calendar year of `secs` (seconds since the epoch, UTC).
pub(super) fn year_of(secs: i64) -> f64 {
    crate::time::civil_from_days(secs.div_euclid(86_400)).0 as f64
}

/// Calendar parts of `secs` (seconds since the epoch, UTC).
pub(super) fn date_parts(secs: i64, parts: &[DatePart], year: [f64; 2], out: &mut Vec<f32>) {
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
