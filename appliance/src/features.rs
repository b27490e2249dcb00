//! Versioned feature sets and the one function that turns a row into a
//! feature vector, for training and for serving alike.
//!
//! A feature spec (TOML) names a dataset, the label and a transform per
//! column:
//!
//! ```toml
//! name = "credit-features"
//! dataset = "credit"          # NAME or NAME@VERSION; parameters are fit on it
//! label = "default"
//! positive = "1"              # label value of the positive class
//!
//! [[features]]
//! column = "income"
//! transform = "standardize"   # numeric: standardize
//! impute = "median"           # mean (default) | median | zero
//!
//! [[features]]
//! column = "housing"
//! transform = "one_hot"       # categorical: fixed vocabulary + out-of-vocabulary slot
//! impute = "mode"             # mode (default) | oov
//! ```
//!
//! `airlock features apply` fits the parameters (means, deviations,
//! vocabularies, imputation values) on the dataset and freezes them into a
//! signed feature set version. Training and serving both call
//! [`FeatureSetDoc::transform`] on the version's stored document, so the
//! same code and the same numbers produce every vector.

use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit;
use crate::contract::{ColumnType, Contract, Value};
use crate::data;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::home::Home;
use crate::registry::{self, Kind, NameRef};
use crate::site::SiteName;
use crate::time::Timestamp;

/// Type tag of feature set records.
pub const FEATURE_SET_TYPE: &str = "airlock.feature-set/v1";

/// How a numeric column's missing values are filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impute {
    /// The mean of the fitting data.
    Mean,
    /// The median of the fitting data.
    Median,
    /// Zero.
    Zero,
    /// The most frequent category of the fitting data.
    Mode,
    /// The out-of-vocabulary slot.
    Oov,
}

/// A transform in a feature spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// (x - mean) / std, numeric columns.
    Standardize,
    /// One slot per vocabulary entry plus one out-of-vocabulary slot.
    OneHot,
}

/// One feature definition, as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureDef {
    /// Source column.
    pub column: String,
    /// Transform.
    pub transform: Transform,
    /// How missing values are filled.
    #[serde(default)]
    pub impute: Option<Impute>,
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
    /// The label value of the positive class.
    pub positive: String,
    /// The features, in vector order.
    pub features: Vec<FeatureDef>,
}

/// A feature with its frozen parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "transform", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fitted {
    /// Standardize.
    Standardize {
        /// Source column.
        column: String,
        /// Value used for missing cells.
        fill: f64,
        /// Mean of the fitting data.
        mean: f64,
        /// Standard deviation of the fitting data (1 when it was 0).
        std: f64,
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
    },
}

impl Fitted {
    fn column(&self) -> &str {
        match self {
            Fitted::Standardize { column, .. } | Fitted::OneHot { column, .. } => column,
        }
    }

    fn width(&self) -> usize {
        match self {
            Fitted::Standardize { .. } => 1,
            Fitted::OneHot { vocabulary, .. } => vocabulary.len() + 1,
        }
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

impl FeatureSetDoc {
    /// Length of the feature vector.
    pub fn width(&self) -> usize {
        self.features.iter().map(Fitted::width).sum()
    }

    /// `name@version`.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// Column positions in `contract` of each feature's source column.
    pub fn bind(&self, contract: &Contract) -> Result<Vec<usize>> {
        self.features
            .iter()
            .map(|f| {
                contract.index_of(f.column()).ok_or_else(|| {
                    Error::Rejected(format!(
                        "feature set {}: column {:?} is not in contract {} v{}",
                        self.reference(),
                        f.column(),
                        contract.name,
                        contract.version
                    ))
                })
            })
            .collect()
    }

    /// THE transform: appends the feature vector of one typed row (in
    /// contract column order; `columns` from [`Self::bind`]) to `out`.
    /// Training and serving both call this, on the stored document.
    pub fn transform(&self, row: &[Value], columns: &[usize], out: &mut Vec<f32>) {
        for (f, &idx) in self.features.iter().zip(columns) {
            let cell = &row[idx];
            match f {
                Fitted::Standardize {
                    fill, mean, std, ..
                } => {
                    let x = cell.as_f64().unwrap_or(*fill);
                    out.push(((x - mean) / std) as f32);
                }
                Fitted::OneHot {
                    vocabulary, fill, ..
                } => {
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

fn fit_one(def: &FeatureDef, contract: &Contract, rows: &[Vec<Value>]) -> Result<Fitted> {
    let idx = contract.index_of(&def.column).ok_or_else(|| {
        Error::Rejected(format!(
            "feature column {:?} is not in contract {} v{}",
            def.column, contract.name, contract.version
        ))
    })?;
    let ty = contract.columns[idx].ty;
    match def.transform {
        Transform::Standardize => {
            if !matches!(ty, ColumnType::Integer | ColumnType::Float) {
                return Err(Error::Rejected(format!(
                    "feature {:?}: standardize needs a numeric column, the contract says {ty:?}",
                    def.column
                )));
            }
            let mut xs: Vec<f64> = rows.iter().filter_map(|r| r[idx].as_f64()).collect();
            if xs.is_empty() {
                return Err(Error::Rejected(format!(
                    "feature {:?}: no values to fit on",
                    def.column
                )));
            }
            let n = xs.len() as f64;
            let mean = xs.iter().sum::<f64>() / n;
            let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
            let std = if var > 0.0 { var.sqrt() } else { 1.0 };
            let fill = match def.impute.unwrap_or(Impute::Mean) {
                Impute::Mean => mean,
                Impute::Zero => 0.0,
                Impute::Median => {
                    xs.sort_by(f64::total_cmp);
                    let m = xs.len() / 2;
                    if xs.len() % 2 == 1 {
                        xs[m]
                    } else {
                        (xs[m - 1] + xs[m]) / 2.0
                    }
                }
                other => {
                    return Err(Error::Rejected(format!(
                        "feature {:?}: impute {other:?} is for one_hot features; use mean, median or zero",
                        def.column
                    )));
                }
            };
            Ok(Fitted::Standardize {
                column: def.column.clone(),
                fill,
                mean,
                std,
            })
        }
        Transform::OneHot => {
            if !matches!(ty, ColumnType::Category | ColumnType::String) {
                return Err(Error::Rejected(format!(
                    "feature {:?}: one_hot needs a category column, the contract says {ty:?}",
                    def.column
                )));
            }
            let mut counts = std::collections::BTreeMap::<&str, usize>::new();
            for r in rows {
                if let Value::Text(s) = &r[idx] {
                    *counts.entry(s.as_str()).or_default() += 1;
                }
            }
            let vocabulary: Vec<String> = counts.keys().map(|s| s.to_string()).collect();
            let fill = match def.impute.unwrap_or(Impute::Mode) {
                // Most frequent; ties go to the first in sorted order.
                Impute::Mode => counts
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                    .map(|(s, _)| s.to_string()),
                Impute::Oov => None,
                other => {
                    return Err(Error::Rejected(format!(
                        "feature {:?}: impute {other:?} is for standardize features; use mode or oov",
                        def.column
                    )));
                }
            };
            Ok(Fitted::OneHot {
                column: def.column.clone(),
                vocabulary,
                fill,
            })
        }
    }
}

/// What `features apply` did.
#[derive(Clone, Debug, Serialize)]
pub struct Applied {
    /// The feature set version's id.
    pub id: Digest,
    /// `name@version`.
    pub reference: String,
    /// Vector width.
    pub width: usize,
    /// True when an identical version already existed.
    pub unchanged: bool,
}

/// Fits a feature spec and stores it as a new version (or finds the
/// identical existing one).
pub fn apply(home: &mut Home, spec_text: &str, source: &str) -> Result<Applied> {
    let spec: FeatureSpec = toml::from_str(spec_text)
        .map_err(|e| Error::Rejected(format!("feature spec {source}: {e}")))?;
    registry::validate_name(&spec.name)?;
    if spec.features.is_empty() {
        return Err(Error::Rejected(format!(
            "feature spec {source}: no features"
        )));
    }
    let dataset_ref: NameRef = spec.dataset.parse()?;
    let loaded = data::load(home, &dataset_ref)?;
    let label_idx = loaded.contract.index_of(&spec.label).ok_or_else(|| {
        Error::Rejected(format!(
            "feature spec {source}: label column {:?} is not in the contract",
            spec.label
        ))
    })?;
    if spec.features.iter().any(|f| f.column == spec.label) {
        return Err(Error::Rejected(format!(
            "feature spec {source}: the label {:?} cannot also be a feature",
            spec.label
        )));
    }
    let features = spec
        .features
        .iter()
        .map(|d| fit_one(d, &loaded.contract, &loaded.rows))
        .collect::<Result<Vec<_>>>()?;
    let positives = loaded
        .rows
        .iter()
        .filter(|r| r[label_idx].canonical() == spec.positive)
        .count();
    if positives == 0 || positives == loaded.rows.len() {
        return Err(Error::Rejected(format!(
            "feature spec {source}: label {:?} has {positives} of {} rows equal to positive value {:?}; both classes are needed",
            spec.label,
            loaded.rows.len(),
            spec.positive
        )));
    }
    let site = home.site().clone();
    let mut doc = FeatureSetDoc {
        ty: FEATURE_SET_TYPE.into(),
        site: site.clone(),
        name: spec.name.clone(),
        version: 0,
        dataset: loaded.id,
        contract: loaded.doc.contract,
        label: spec.label.clone(),
        positive: spec.positive.clone(),
        features,
    };
    // Same definition and parameters as the newest version: nothing to do.
    if let Ok((id, _, version)) = registry::resolve(
        &home.conn,
        "feature_sets",
        "feature set",
        &site,
        &NameRef {
            site: Some(site.clone()),
            name: spec.name.clone(),
            version: None,
        },
    ) {
        let newest: FeatureSetDoc =
            registry::load_record(&home.conn, home.vault(), Kind::FeatureSet, &id)?;
        doc.version = version;
        if newest == doc {
            return Ok(Applied {
                id,
                reference: doc.reference(),
                width: doc.width(),
                unchanged: true,
            });
        }
    }
    let (conn, vault, keys, site) = home.parts();
    let tx = conn.transaction()?;
    doc.version = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM feature_sets WHERE site = ?1 AND name = ?2",
        params![site.as_str(), spec.name],
        |r| r.get(0),
    )?;
    let id = registry::put_record(&tx, vault, keys, site, Kind::FeatureSet, &doc)?;
    insert_feature_set_row(&tx, &id, &doc)?;
    crate::provenance::record(
        &tx,
        vault,
        keys,
        site,
        "airlock features apply",
        None,
        &[(Kind::FeatureSet, id)],
        &[("dataset", doc.dataset), ("contract", doc.contract)],
    )?;
    audit::append(
        &tx,
        keys,
        "features.apply",
        &[id.hex(), doc.dataset.hex()],
        json!({ "feature_set": doc.reference(), "width": doc.width() }),
    )?;
    tx.commit()?;
    Ok(Applied {
        id,
        reference: doc.reference(),
        width: doc.width(),
        unchanged: false,
    })
}

/// Indexes a feature set record (also used at bundle import).
pub fn insert_feature_set_row(
    tx: &rusqlite::Transaction<'_>,
    id: &Digest,
    doc: &FeatureSetDoc,
) -> Result<()> {
    tx.execute(
        "INSERT INTO feature_sets (id, site, name, version, dataset, width, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(id) DO NOTHING",
        params![
            id.hex(),
            doc.site.as_str(),
            doc.name,
            doc.version,
            doc.dataset.hex(),
            doc.width() as i64,
            Timestamp::now().to_string()
        ],
    )?;
    Ok(())
}

/// Loads a feature set version by id, verifying its signature and digest.
pub fn load(home: &Home, id: &Digest) -> Result<FeatureSetDoc> {
    registry::load_record(&home.conn, home.vault(), Kind::FeatureSet, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> FeatureSetDoc {
        FeatureSetDoc {
            ty: FEATURE_SET_TYPE.into(),
            site: "lab".parse().expect("site"),
            name: "f".into(),
            version: 1,
            dataset: Digest::of(b"d"),
            contract: Digest::of(b"c"),
            label: "y".into(),
            positive: "1".into(),
            features: vec![
                Fitted::Standardize {
                    column: "x".into(),
                    fill: 2.0,
                    mean: 1.0,
                    std: 2.0,
                },
                Fitted::OneHot {
                    column: "c".into(),
                    vocabulary: vec!["a".into(), "b".into()],
                    fill: Some("b".into()),
                },
            ],
        }
    }

    #[test]
    fn transform_standardizes_one_hots_and_imputes() {
        let d = doc();
        let cols = [0, 1];
        let mut out = Vec::new();
        d.transform(
            &[Value::Float(5.0), Value::Text("a".into())],
            &cols,
            &mut out,
        );
        assert_eq!(out, vec![2.0, 1.0, 0.0, 0.0]);
        out.clear();
        d.transform(&[Value::Null, Value::Null], &cols, &mut out);
        assert_eq!(
            out,
            vec![0.5, 0.0, 1.0, 0.0],
            "missing values take the fitted fills"
        );
        out.clear();
        d.transform(&[Value::Int(1), Value::Text("zzz".into())], &cols, &mut out);
        assert_eq!(
            out,
            vec![0.0, 0.0, 0.0, 1.0],
            "unseen category goes to the out-of-vocabulary slot"
        );
        assert_eq!(d.width(), 4);
    }

    #[test]
    fn stored_document_round_trips_bit_for_bit() {
        let d = FeatureSetDoc {
            features: vec![Fitted::Standardize {
                column: "x".into(),
                fill: 0.1 + 0.2,
                mean: 1.0 / 3.0,
                std: 2f64.sqrt(),
            }],
            ..doc()
        };
        let back: FeatureSetDoc =
            serde_json::from_slice(&serde_json::to_vec(&d).expect("ser")).expect("de");
        assert_eq!(back, d, "float parameters must survive storage exactly");
    }
}
