//! The signed, frozen feature set version, and the one transform from a
//! typed row (a dataset's or a serving request's) to a feature vector.

use serde::{Deserialize, Serialize};

use super::Fitted;
use super::fitted::{date_parts, numeric_input, pre_scale, slot};
use crate::contract::{Contract, Value};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::site::SiteName;
use crate::sketch::hash64;

/// The signed, frozen feature set version. Its digest is its id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSetDoc {
    /// Always [`FEATURE_SET_TYPE`](super::FEATURE_SET_TYPE).
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
pub struct Bound(pub(super) Vec<Vec<usize>>);

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
