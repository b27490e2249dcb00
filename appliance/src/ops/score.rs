//! The `Scorer`: one model loaded for answering, computing its features with the exact
//! feature set version it was trained on and deciding at its deployed threshold. `predict`,
//! `serve` and the gate's behaviour cases all score through it, so what is measured is what
//! answers.

use serde::Serialize;

use airlock_runtime::{Matrix, Task};

use crate::digest::Digest;
use crate::error::{DataError, Error, Result};
use crate::node::home::Home;
use crate::ops::contract;
use crate::ops::features;
use crate::ops::train::{self, RunRecord};

/// One answer: what the model says about one row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Answer {
    /// The predicted class (binary and multiclass): the positive label value when its
    /// probability is at least 0.5, else the negative class by its own name where the run
    /// record knows it (`not POSITIVE` where it is several values, see
    /// [`train::negative_class`]); the most probable class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Binary: the probability of the positive class. Multiclass: of the predicted class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f32>,
    /// Multiclass: every class's probability.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probabilities: Option<std::collections::BTreeMap<String, f32>>,
    /// Regression: the predicted value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f32>,
}

/// One prediction.
#[derive(Clone, Debug, Serialize)]
pub struct Prediction {
    /// Input line number, from 1.
    pub line: usize,
    /// `canary` when the canary answered (its entity is in the canary's share).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<&'static str>,
    /// The answer.
    #[serde(flatten)]
    pub answer: Answer,
}

/// Everything needed to score requests with one model, loaded and checked once: the run
/// record, the model (validated against its spec), its feature set and contract. Holds no
/// home: `airlock serve` builds one and releases the home's lock.
pub struct Scorer {
    /// The model id.
    pub model_id: Digest,
    /// Its run record.
    pub run: RunRecord,
    model: airlock_runtime::Model,
    pub(crate) fs: features::FeatureSetDoc,
    pub(crate) contract: crate::contract::Contract,
    columns: features::Bound,
    /// The decision threshold of a binary model (its deployment's; 0.5 otherwise).
    pub threshold: f64,
}

impl Scorer {
    /// The scorer of any model held here, deployed or not (the gate's behaviour cases).
    pub fn for_model(home: &Home, model_id: &Digest) -> Result<Scorer> {
        let run = train::load_run(home, model_id)?;
        Self::build(home, *model_id, run)
    }

    /// The scorer of model `model_id` whose run record the caller has loaded already.
    pub(crate) fn build(home: &Home, model_id: Digest, run: RunRecord) -> Result<Scorer> {
        let fs = features::load(home, &run.feature_set)?;
        let contract = contract::load_contract(home, &fs.contract)?;
        let columns = fs.bind(&contract)?;
        let model = train::load_model(home, &run)?;
        Ok(Scorer {
            model_id,
            run,
            model,
            fs,
            contract,
            columns,
            threshold: crate::ops::evaluate::DEFAULT_THRESHOLD,
        })
    }

    /// The contract requests follow.
    pub fn contract(&self) -> &crate::contract::Contract {
        &self.contract
    }

    /// The label column (absent from requests).
    pub fn label(&self) -> &str {
        &self.fs.label
    }

    /// The feature vector of a typed row in contract order, through the one transform.
    pub fn row_features(&self, row: &[crate::contract::Value], out: &mut Vec<f32>) {
        self.fs.transform(row, &self.columns, out);
    }

    /// The feature vector of one request (column name to value), through the same cell
    /// rules and transform as training; or the problems, each starting with `: ` or `, `.
    pub fn features(
        &self,
        obj: &serde_json::Map<String, serde_json::Value>,
        out: &mut Vec<f32>,
    ) -> std::result::Result<(), Vec<String>> {
        let row = features::request_row(&self.contract, &self.fs.label, obj)?;
        self.fs.transform(&row, &self.columns, out);
        Ok(())
    }

    /// The feature vector of one CSV request row (its cells in contract
    /// order, as [`crate::contract::CsvRows`] hands them): each cell but the
    /// label's through the same cell rules as ingest, then the transform; or
    /// the problems, each starting with `, `.
    pub fn features_of_cells(
        &self,
        cells: &csv::StringRecord,
        out: &mut Vec<f32>,
    ) -> std::result::Result<(), Vec<String>> {
        let row = self.row_of_cells(cells)?;
        self.fs.transform(&row, &self.columns, out);
        Ok(())
    }

    /// The typed row (contract order, the label missing) of one request object, through
    /// the same cell rules as [`Scorer::features`]; or the problems.
    pub fn row_of(
        &self,
        obj: &serde_json::Map<String, serde_json::Value>,
    ) -> std::result::Result<Vec<crate::contract::Value>, Vec<String>> {
        features::request_row(&self.contract, &self.fs.label, obj)
    }

    /// The typed row of one CSV request row, through the same cell rules as
    /// [`Scorer::features_of_cells`]; or the problems, each starting with `, `.
    pub fn row_of_cells(
        &self,
        cells: &csv::StringRecord,
    ) -> std::result::Result<Vec<crate::contract::Value>, Vec<String>> {
        let mut row = vec![crate::contract::Value::Null; self.contract.columns.len()];
        let mut problems = Vec::new();
        for (idx, (col, cell)) in self.contract.columns.iter().zip(cells.iter()).enumerate() {
            if col.name == self.fs.label {
                continue;
            }
            match self.contract.parse_cell(idx, cell) {
                Ok(v) => row[idx] = v,
                Err((_, expected, found)) => problems.push(format!(
                    ", column {:?}: expected {}, found {}",
                    col.name,
                    crate::text::Untrusted(&expected),
                    crate::text::Untrusted(&found)
                )),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(row)
    }

    /// The contract requests follow, as `name vN`.
    pub fn contract_ref(&self) -> String {
        format!("{} v{}", self.contract.name, self.contract.version)
    }

    /// Scores `rows` feature vectors (from [`Scorer::features`]). Every output is checked: a
    /// NaN, infinite or out-of-range output refuses the whole call, never passes on. No rows
    /// (a slot no request was routed to) score nothing.
    pub fn score(&self, x: Vec<f32>, rows: usize) -> Result<Vec<Answer>> {
        if rows == 0 && x.is_empty() {
            return Ok(Vec::new());
        }
        let matrix = Matrix::new(x, rows, self.fs.width())?;
        let out = self.model.predict(&matrix)?;
        Ok((0..rows).map(|i| self.answer(&out, i)).collect())
    }

    /// Scores one request object.
    pub fn score_one(&self, obj: &serde_json::Map<String, serde_json::Value>) -> Result<Answer> {
        Ok(self.score_with_row(obj)?.0)
    }

    /// [`Scorer::score_one`], also giving back the request as the typed row the transform
    /// read (contract order, the label missing), so a caller that needs the row (the monitor)
    /// does not parse the request a second time.
    pub fn score_with_row(
        &self,
        obj: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(Answer, Vec<crate::contract::Value>)> {
        let row = features::request_row(&self.contract, &self.fs.label, obj).map_err(|p| {
            Error::Data(DataError::Request {
                contract: self.contract_ref(),
                problems: p,
            })
        })?;
        let mut x = Vec::with_capacity(self.fs.width());
        self.fs.transform(&row, &self.columns, &mut x);
        Ok((self.score(x, 1)?.remove(0), row))
    }

    fn answer(&self, out: &airlock_runtime::Outputs, i: usize) -> Answer {
        let classes = &self.run.classes;
        match self.run.spec.task {
            Task::Binary => {
                let p = out.row(i)[0];
                let c = usize::from(f64::from(p) >= self.threshold);
                Answer {
                    class: classes.get(c).cloned(),
                    probability: Some(p),
                    probabilities: None,
                    value: None,
                }
            }
            Task::Multiclass { .. } => {
                let row = out.row(i);
                let best = out.class(i).unwrap_or(0);
                Answer {
                    class: classes.get(best).cloned(),
                    probability: row.get(best).copied(),
                    probabilities: Some(classes.iter().cloned().zip(row.iter().copied()).collect()),
                    value: None,
                }
            }
            Task::Regression => Answer {
                class: None,
                probability: None,
                probabilities: None,
                value: Some(out.row(i)[0]),
            },
        }
    }
}
