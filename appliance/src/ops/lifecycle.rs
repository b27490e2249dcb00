//! From a trained model to predictions: gate, approve, deploy, predict.
//!
//! Each step leaves a signed record. `deploy` refuses a model without a
//! passing gate report and an approval, each signed by a site this node
//! trusts; `predict` serves only the deployed model, computes features with
//! the exact feature set version the model was trained on, and refuses a
//! request that names any other version.

use std::io::{BufRead, Read};

use rusqlite::params;
use serde::Serialize;
use serde_json::json;

use airlock_runtime::{Matrix, Task};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::node::home::Home;
use crate::ops::contract;
use crate::ops::features;
use crate::ops::train::{self, RunRecord};
use crate::store::AuditEntry;
use crate::trust::keys::{Domain, KeyId};
use crate::trust::operator::Operator;
use crate::trust::policy::{self, Role};
use crate::vault::registry::{self, Kind, NameRef};

pub use crate::ops::gate::{counted_gate, gate, insert_gate_row, load_gate, parse_threshold};
pub use crate::ops::rollout::{deploy, deployed};
pub use airlock_core::lifecycle::{
    APPROVAL_TYPE, Action, Approval, Check, DEPLOYMENT_TYPE, Deployment, GATE_TYPE, GateReport, Op,
    OperatorSignature, deploy_statement,
};

/// Records an operator's signed approval of a gated model. The operator
/// was unlocked for the approve role (see [`crate::trust::operator::unlock`]).
pub fn approve(
    home: &mut Home,
    model: &Digest,
    operator: &Operator,
    note: &str,
) -> Result<(Digest, Approval)> {
    approve_with(home, model, operator, note, false)
}

/// [`approve`], saying whether the operator reviewed the checks of the gate report that need a
/// named review (`reviewed`): a report that needs review can only be approved so, and the
/// note must say why its figures are acceptable.
pub fn approve_with(
    home: &mut Home,
    model: &Digest,
    operator: &Operator,
    note: &str,
    reviewed: bool,
) -> Result<(Digest, Approval)> {
    if note.len() > 2000 {
        return Err(Error::Rejected(
            "--note is longer than 2000 characters".into(),
        ));
    }
    // The note travels in the signed approval and is shown at every site.
    crate::text::check_free_text("--note", note)?;
    let run = train::load_run(home, model)?;
    let in_force = policy::current(&home.conn, home.vault())?;
    let counted = match counted_gate(home, model, &run, None, in_force.as_ref())? {
        Ok(gate) => gate,
        Err(why) => {
            return Err(Error::Refused(format!(
                "model {} has no passing gate report that counts here: {why}; run `airlock gate {}` first",
                model.short(),
                model.short()
            )));
        }
    };
    let gate = counted.id;
    if counted.needs_review && !reviewed {
        let report = load_gate(&home.conn, home.vault(), &gate)?;
        let why = format!(
            "gate report {} of model {} needs a named review of: {}; if you have reviewed these figures, approve with --reviewed and say in --note why they are acceptable",
            gate.short(),
            model.short(),
            crate::ops::gate::review_items(&report).join("; ")
        );
        home.record(
            AuditEntry::new(
                "model.approve.refused",
                &[model.hex(), gate.hex()],
                json!({ "reason": "needs review", "operator": operator.name }),
            )
            .by(Some(operator.key_id())),
        )?;
        return Err(Error::Refused(why));
    }
    if reviewed && note.trim().is_empty() {
        return Err(Error::Rejected(
            "--reviewed needs a --note saying why the reviewed figures are acceptable".into(),
        ));
    }
    crate::trust::operator::authorize(in_force.as_ref(), Some(operator), Role::Approve)?;
    let me = operator.key_id();
    if let Some((prev, _, _)) = approvals(home, model)?
        .into_iter()
        .find(|(_, _, k)| *k == me)
    {
        return Err(Error::Refused(format!(
            "operator {} (key {me}) has already approved model {} (approval {}); a second approval by the same person does not count",
            operator.name,
            model.short(),
            prev.short()
        )));
    }
    let site = home.site().clone();
    let mut approval = Approval {
        ty: APPROVAL_TYPE.into(),
        site: site.clone(),
        model: *model,
        approver: operator.name.clone(),
        operator_key: operator.public_hex(),
        note: note.into(),
        gate,
        reviewed,
        created_at: home.now(),
        operator_signature: String::new(),
    };
    approval.operator_signature = operator.sign(Domain::Approval, &approval.signed_bytes());
    let tx = home.begin()?;
    let id = registry::put_record(&tx, &approval)?;
    crate::ops::provenance::record(
        &tx,
        "airlock approve",
        Some(&operator.key_id()),
        &[(Kind::Approval, id)],
        &approval.provenance_inputs(),
    )?;
    insert_approval_row(&tx, &id, &approval)?;
    tx.commit(
        AuditEntry::new(
            "model.approve",
            &[id.hex(), model.hex()],
            json!({ "approver": approval.approver, "operator_key_id": operator.key_id(),
                    "gate": gate.hex(), "reviewed": reviewed }),
        )
        .by(Some(operator.key_id())),
    )?;
    Ok((id, approval))
}

/// Indexes an approval (also used at bundle import).
pub fn insert_approval_row(
    tx: &rusqlite::Transaction<'_>,
    id: &Digest,
    a: &Approval,
) -> Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO approvals (id, model, site, approver, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id.hex(), a.model.hex(), a.site.as_str(), a.approver, a.created_at.to_string()],
    )?;
    Ok(())
}

/// The approvals of a model, each with its site signature and its
/// operator's signature verified, and the operator's key id.
pub fn approvals(home: &Home, model: &Digest) -> Result<Vec<(Digest, Approval, KeyId)>> {
    let mut stmt = home
        .conn
        .prepare("SELECT id FROM approvals WHERE model = ?1 ORDER BY created_at")?;
    let ids: Vec<String> = stmt
        .query_map([model.hex()], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for id in ids {
        let id: Digest = id
            .parse()
            .map_err(|e| Error::Integrity(format!("approvals: {e}")))?;
        let a: Approval = registry::load(&home.conn, home.vault(), &id)?;
        if a.model != *model {
            return Err(Error::Integrity(format!(
                "approval {} does not match its index row",
                id.short()
            )));
        }
        let key_id = a.verify_operator()?;
        out.push((id, a, key_id));
    }
    Ok(out)
}

/// The approvals that count towards deploying `model` to `slot` (distinct
/// operators; under a trust policy, only operators it lists with the
/// approve role and has not revoked; in setup mode, only operators this
/// site certified), the number needed, and why others did not count.
pub fn counted_approvals(
    home: &Home,
    model: &Digest,
    slot: &str,
    current: Option<&policy::InForce>,
) -> Result<(Vec<Digest>, u32, Vec<String>)> {
    let needed = current.map_or(1, |p| p.body().approvals_needed(slot));
    let mut seen = std::collections::BTreeSet::new();
    let mut counted = Vec::new();
    let mut not_counted = Vec::new();
    for (id, a, key_id) in approvals(home, model)? {
        let who = format!("{} (key {key_id})", a.approver);
        if let Some(p) = current {
            let v = p.version();
            if p.body().is_revoked(&key_id) {
                not_counted.push(format!("{who}: key revoked by trust policy v{v}"));
                continue;
            }
            match p.body().operator(&key_id) {
                None => {
                    not_counted.push(format!("{who}: not an operator in trust policy v{v}"));
                    continue;
                }
                Some(o) if !o.roles.contains(&Role::Approve) => {
                    not_counted.push(format!("{who}: no approve role in trust policy v{v}"));
                    continue;
                }
                Some(_) => {}
            }
        } else if !crate::trust::operator::certified(home, &key_id, &a.operator_key)? {
            not_counted.push(format!(
                "{who}: not an operator certified by this site (setup mode counts only operators made here with `airlock keys operator new`)"
            ));
            continue;
        }
        if seen.insert(key_id) {
            counted.push(id);
        } else {
            not_counted.push(format!("{who}: the same operator approved twice"));
        }
    }
    Ok((counted, needed, not_counted))
}

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
    fs: features::FeatureSetDoc,
    contract: crate::contract::Contract,
    columns: features::Bound,
    /// The decision threshold of a binary model (its deployment's; 0.5 otherwise).
    pub threshold: f64,
}

impl Scorer {
    /// The scorer of the model deployed to `slot`. When `expected_features` is given, refuses
    /// unless it is exactly the feature set version the model was trained on.
    pub fn open(home: &Home, slot: &str, expected_features: Option<&NameRef>) -> Result<Scorer> {
        let model_id = deployed(home, slot)?.ok_or_else(|| {
            Error::NotFound(format!(
                "no model is deployed to slot {slot:?}; run `airlock deploy MODEL` first"
            ))
        })?;
        let run = train::load_run(home, &model_id)?;
        if let Some(want) = expected_features {
            let (want_id, _, _) =
                registry::resolve(&home.conn, "feature_sets", "feature set", home.site(), want)?;
            if want_id != run.feature_set {
                let want_doc = features::load(home, &want_id)?;
                return Err(Error::Refused(format!(
                    "feature set mismatch: the deployed model {} was trained on feature set {} ({}), \
                     the request asks for {} ({}); a model is only served with its own feature set version",
                    model_id.short(),
                    run.feature_set_ref,
                    run.feature_set.short(),
                    want_doc.reference(),
                    want_id.short()
                )));
            }
        }
        let mut scorer = Self::build(home, model_id, run)?;
        if let Some(t) = crate::ops::rollout::threshold_of(home, slot)? {
            scorer.threshold = t;
        }
        Ok(scorer)
    }

    /// The scorer of any model held here, deployed or not (the gate's behaviour cases).
    pub fn for_model(home: &Home, model_id: &Digest) -> Result<Scorer> {
        let run = train::load_run(home, model_id)?;
        Self::build(home, *model_id, run)
    }

    fn build(home: &Home, model_id: Digest, run: RunRecord) -> Result<Scorer> {
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
    /// NaN, infinite or out-of-range output refuses the whole call, never passes on.
    pub fn score(&self, x: Vec<f32>, rows: usize) -> Result<Vec<Answer>> {
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
            Error::Rejected(format!(
                "request does not follow contract {}{}",
                self.contract_ref(),
                p.join("")
            ))
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
/// The answer of `airlock predict`.
#[derive(Clone, Debug, Serialize)]
pub struct Predicted {
    /// The model that answered.
    pub model: Digest,
    /// Its feature set version id.
    pub feature_set: Digest,
    /// Its feature set as `name@version`.
    pub feature_set_ref: String,
    /// The predictions, in input order.
    pub predictions: Vec<Prediction>,
    /// The canary beside the model, and the rows it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<Beside>,
    /// The shadow beside the model, and the rows it scored (its answers are not returned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow: Option<Beside>,
}

/// A model that took a share of the rows.
#[derive(Clone, Debug, Serialize)]
pub struct Beside {
    /// The model.
    pub model: Digest,
    /// Its share of entities, in percent.
    pub percent: f64,
    /// The rows it answered (canary) or scored (shadow).
    pub rows: usize,
}

/// Longest accepted request line.
pub const MAX_LINE: usize = 1 << 20;

/// How many bad request lines a refusal lists before it only counts.
pub const LISTED_PROBLEMS: usize = 20;

/// The format of a file of rows to score.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RequestFormat {
    /// One JSON object per line, column name to value.
    #[default]
    JsonLines,
    /// CSV in the model's contract's dialect, its header read under the
    /// contract's rules (ignored and renamed columns); the label column may
    /// be left out.
    Csv,
}

impl RequestFormat {
    /// The format a file name suggests: `.csv` and `.tsv` are CSV, any
    /// other is JSON lines.
    pub fn of(path: &std::path::Path) -> RequestFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("tsv") => {
                RequestFormat::Csv
            }
            _ => RequestFormat::JsonLines,
        }
    }
}

/// Feature vectors of the rows read so far, by the model that scores them
/// (production, canary, shadow), or, once a row broke the contract, only
/// the first problems and a count of them.
#[derive(Default)]
struct Batch {
    /// Production's, the canary's and the shadow's vectors.
    x: [Vec<f32>; 3],
    /// The line of each row, and who answers it (0 production, 1 canary).
    lines: Vec<(usize, usize)>,
    /// Rows the shadow scores.
    shadowed: usize,
    problems: Vec<String>,
    total: usize,
    /// The monitor's collectors and each row's entity key, when monitoring (`predict` with
    /// a policy).
    monitor: Option<Box<BatchMonitor>>,
}

/// What `predict` keeps for the monitor: one collector per model that scores (production,
/// canary, shadow; `None` where there is none), the time the batch counts at, and each
/// answered row's entity key (in `lines` order; `None` when the contract names no entity).
struct BatchMonitor {
    collectors: [Option<crate::ops::monitor::Collector>; 3],
    now: crate::node::time::Timestamp,
    keys: Vec<Option<String>>,
}

/// The models of a route: who answers, and whether the shadow scores it too.
type Routed = (usize, bool);

impl Batch {
    /// Adds the row that starts on `line`, routed `to`: `features(scorer, out)`
    /// appends its vector for a scorer, or returns its problems, each
    /// starting with `: ` or `, `.
    fn row(
        &mut self,
        line: usize,
        router: &crate::ops::rollout::Router,
        to: Routed,
        key: &str,
        typed: impl Fn(&Scorer) -> std::result::Result<Vec<crate::contract::Value>, Vec<String>>,
    ) {
        let (answers, shadowed) = to;
        let scorer = if answers == 1 {
            router.scorer(crate::ops::rollout::Route::Canary)
        } else {
            &router.production
        };
        let total = self.total;
        let mut feed = |i: usize, sc: &Scorer, x: &mut Vec<f32>| {
            let row = typed(sc)?;
            sc.row_features(&row, x);
            if total == 0
                && let Some(m) = self.monitor.as_deref_mut()
                && let Some(c) = &mut m.collectors[i]
            {
                c.input(m.now, &row);
            }
            Ok::<(), Vec<String>>(())
        };
        let [xp, xc, xs] = &mut self.x;
        let mut got = feed(answers, scorer, if answers == 1 { xc } else { xp });
        if got.is_ok()
            && shadowed
            && let Some(sh) = &router.shadow
        {
            got = feed(2, &sh.scorer, xs);
        }
        match got {
            Ok(()) if self.total == 0 => {
                self.lines.push((line, answers));
                self.shadowed += usize::from(shadowed);
                if let Some(m) = self.monitor.as_deref_mut() {
                    m.keys.push(router.keyed().then(|| key.to_owned()));
                }
            }
            // The input is refused already: this row is only checked.
            Ok(()) => self.x.iter_mut().for_each(Vec::clear),
            Err(p) => {
                if self.total == 0 {
                    // Nothing will be scored: give back what was collected, and the monitor
                    // counts nothing (a refused input is no batch scored).
                    self.x = Default::default();
                    self.lines = Vec::new();
                    self.monitor = None;
                }
                self.total = self.total.saturating_add(p.len());
                let room = LISTED_PROBLEMS.saturating_sub(self.problems.len());
                self.problems
                    .extend(p.into_iter().take(room).map(|p| format!("line {line}{p}")));
            }
        }
    }

    /// Scores the rows, each with the model it is routed to, or refuses the
    /// input listing its problems.
    fn finish(
        mut self,
        router: crate::ops::rollout::Router,
        source: &str,
    ) -> Result<(Predicted, Option<Box<BatchMonitor>>)> {
        let scorer = &router.production;
        if self.total > 0 {
            let more = self.total - self.problems.len();
            let tail = if more > 0 {
                format!("\n  ... and {more} more")
            } else {
                String::new()
            };
            return Err(Error::Rejected(format!(
                "{source}: {} problem{} against contract {}; nothing was scored\n  {}{tail}",
                self.total,
                if self.total == 1 { "" } else { "s" },
                scorer.contract_ref(),
                self.problems.join("\n  ")
            )));
        }
        if self.lines.is_empty() {
            return Err(Error::Rejected(format!("{source}: no rows to score")));
        }
        let [xp, xc, xs] = std::mem::take(&mut self.x);
        let canary_rows = self.lines.iter().filter(|(_, r)| *r == 1).count();
        let prod_rows = self.lines.len() - canary_rows;
        let t = std::time::Instant::now();
        let mut answers = [
            scorer.score(xp, prod_rows)?.into_iter(),
            match &router.canary {
                Some(c) if canary_rows > 0 => c.scorer.score(xc, canary_rows)?.into_iter(),
                _ => Vec::new().into_iter(),
            },
        ];
        // The time a row took: the batch's, shared evenly.
        let micros = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX)
            / (self.lines.len() as u64).max(1);
        let shadow = match &router.shadow {
            Some(sh) => {
                if self.shadowed > 0 {
                    // Scored, checked like every answer, and dropped: never returned (the
                    // monitor counts them).
                    let dropped = sh.scorer.score(xs, self.shadowed)?;
                    if let Some(m) = self.monitor.as_deref_mut()
                        && let Some(c) = &mut m.collectors[2]
                    {
                        for a in &dropped {
                            c.answered(m.now, a, micros, None);
                        }
                    }
                }
                Some(Beside {
                    model: sh.scorer.model_id,
                    percent: sh.percent,
                    rows: self.shadowed,
                })
            }
            None => None,
        };
        let mut predictions = Vec::with_capacity(self.lines.len());
        for (n, (line, route)) in self.lines.into_iter().enumerate() {
            let answer = answers[route]
                .next()
                .ok_or_else(|| Error::Integrity(format!("{source}: fewer answers than rows")))?;
            if let Some(m) = self.monitor.as_deref_mut()
                && let Some(c) = &mut m.collectors[route]
            {
                let key = m.keys.get(n).and_then(|k| k.as_deref());
                c.answered(m.now, &answer, micros, key);
            }
            predictions.push(Prediction {
                line,
                slot: (route == 1).then_some(crate::ops::rollout::CANARY),
                answer,
            });
        }
        Ok((
            Predicted {
                model: scorer.model_id,
                feature_set: scorer.run.feature_set,
                feature_set_ref: scorer.run.feature_set_ref.clone(),
                predictions,
                canary: router.canary.as_ref().map(|c| Beside {
                    model: c.scorer.model_id,
                    percent: c.percent,
                    rows: canary_rows,
                }),
                shadow,
            },
            self.monitor,
        ))
    }
}

/// Scores JSON-lines rows with the model deployed to `slot` (see
/// [`predict_as`]).
pub fn predict(
    home: &Home,
    slot: &str,
    input: impl BufRead,
    source: &str,
    expected_features: Option<&NameRef>,
) -> Result<Predicted> {
    predict_as(
        home,
        slot,
        input,
        source,
        RequestFormat::JsonLines,
        expected_features,
    )
}

/// Scores the rows of `input` (JSON lines or CSV) with the model deployed
/// to `slot`. When `expected_features` is given, refuses unless it is
/// exactly the feature set version the model was trained on. Every row goes
/// through the contract's cell rules; one that breaks them refuses the
/// input, each problem named by the line its row starts on.
///
/// Memory is bounded on hostile input: a JSON line is read at most
/// [`MAX_LINE`] bytes into memory (a CSV record at most
/// [`crate::contract::MAX_RECORD`]), and once a row breaks the contract the
/// feature vectors collected so far are dropped and the rest of the input
/// is only checked, keeping the first [`LISTED_PROBLEMS`] problems and a
/// count of the others. (It used to keep every problem and every row:
/// about 11 times the input.)
pub fn predict_as(
    home: &Home,
    slot: &str,
    input: impl BufRead,
    source: &str,
    format: RequestFormat,
    expected_features: Option<&NameRef>,
) -> Result<Predicted> {
    Ok(predict_batch(home, slot, input, source, format, expected_features, None)?.0)
}

/// [`predict_as`], then the monitoring window of the batch (and its prediction log rows, for
/// a contract with an entity), stored as `serve` stores its windows, and the monitor's alerts
/// raised ([`crate::ops::monitor::check_alerts`]; a batch does not roll back or promote the
/// canary by itself): batch scoring is watched for drift like serving. All rows count at one time, now, in the window holding it. A refused input
/// records nothing. The predictions come back whatever the monitoring does: its outcome is
/// the second value (an error there takes no prediction away).
pub fn predict_monitored(
    home: &mut Home,
    slot: &str,
    input: impl BufRead,
    source: &str,
    format: RequestFormat,
    expected_features: Option<&NameRef>,
    policy: &crate::ops::monitor::MonitorPolicy,
) -> Result<(Predicted, Result<crate::ops::monitor::Checked>)> {
    let (p, monitor) = predict_batch(
        home,
        slot,
        input,
        source,
        format,
        expected_features,
        Some(policy),
    )?;
    let Some(mut m) = monitor else {
        return Ok((p, Ok(Default::default())));
    };
    let mut windows = Vec::new();
    let mut predictions = Vec::new();
    let mut sampled = Vec::new();
    for c in m.collectors.iter_mut().flatten() {
        windows.extend(c.take(true));
        let (rows, s) = c.take_logs();
        predictions.extend(rows);
        sampled.extend(s);
    }
    let checked = crate::ops::monitor::store_all(home, &windows, &predictions, &sampled, policy)
        .and_then(|_| crate::ops::monitor::check_alerts(home, policy));
    Ok((p, checked))
}

/// [`predict_as`], keeping the monitor's collectors when `monitor` is given.
fn predict_batch(
    home: &Home,
    slot: &str,
    input: impl BufRead,
    source: &str,
    format: RequestFormat,
    expected_features: Option<&NameRef>,
    monitor: Option<&crate::ops::monitor::MonitorPolicy>,
) -> Result<(Predicted, Option<Box<BatchMonitor>>)> {
    let router = crate::ops::rollout::Router::open(home, slot, expected_features)?;
    let scorer = &router.production;
    let mut batch = Batch::default();
    if let Some(policy) = monitor {
        let collector = |slot: &str, sc: &Scorer| {
            crate::ops::monitor::Collector::with_policy(home, sc, slot, policy)
        };
        batch.monitor = Some(Box::new(BatchMonitor {
            collectors: [
                Some(collector(&router.slot, &router.production)?),
                router
                    .canary
                    .as_ref()
                    .map(|c| collector(crate::ops::rollout::CANARY, &c.scorer))
                    .transpose()?,
                router
                    .shadow
                    .as_ref()
                    .map(|c| collector(crate::ops::rollout::SHADOW, &c.scorer))
                    .transpose()?,
            ],
            now: home.now(),
            keys: Vec::new(),
        }));
    }
    match format {
        RequestFormat::JsonLines => json_lines(&router, input, source, &mut batch)?,
        RequestFormat::Csv => {
            // A request file need not carry the label.
            let label: Vec<usize> = scorer
                .contract
                .index_of(&scorer.fs.label)
                .into_iter()
                .collect();
            let mut rows =
                crate::contract::CsvRows::open_with(&scorer.contract, input, source, &label)?;
            while let Some(r) = rows.next_record()? {
                let line = usize::try_from(r.line).unwrap_or(usize::MAX);
                let key = match r.cells {
                    Some(cells) => router.entity_key_of_cells(cells),
                    None => String::new(),
                };
                batch.row(line, &router, routed(&router, &key), &key, |sc| {
                    match r.cells {
                        Some(cells) => sc.row_of_cells(cells),
                        None => Err(vec![format!(
                            ": expected {} fields, found {}",
                            r.width,
                            r.raw.len()
                        )]),
                    }
                });
            }
        }
    }
    batch.finish(router, source)
}

/// Who answers the request with entity key `key`, and whether the shadow scores it.
fn routed(router: &crate::ops::rollout::Router, key: &str) -> Routed {
    (
        usize::from(router.route(key) == crate::ops::rollout::Route::Canary),
        router.shadowed(key),
    )
}

/// Reads JSON-lines rows into `batch`.
fn json_lines(
    router: &crate::ops::rollout::Router,
    mut input: impl BufRead,
    source: &str,
    batch: &mut Batch,
) -> Result<()> {
    let mut buf = Vec::new();
    for n in 1usize.. {
        buf.clear();
        // Two bytes over the cap leave room for "\r\n" after a line exactly at it.
        let read = (&mut input)
            .take(MAX_LINE as u64 + 2)
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::Rejected(format!("{source} line {n}: {e}")))?;
        if read == 0 {
            break;
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        if buf.len() > MAX_LINE {
            return Err(Error::Rejected(format!(
                "{source} line {n}: longer than {MAX_LINE} bytes"
            )));
        }
        let line = std::str::from_utf8(&buf).map_err(|_| {
            Error::Rejected(format!(
                "{source} line {n}: stream did not contain valid UTF-8"
            ))
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let obj: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).map_err(|e| {
                Error::Rejected(format!(
                    "{source} line {n}: not a JSON object: {}",
                    crate::text::error_text(&e)
                ))
            })?;
        let key = router.entity_key(&obj);
        let to = routed(router, &key);
        batch.row(n, router, to, &key, |sc| sc.row_of(&obj));
    }
    Ok(())
}
