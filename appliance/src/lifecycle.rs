//! From a trained model to predictions: gate, approve, deploy, predict.
//!
//! Each step leaves a signed record. `deploy` refuses a model without a
//! passing gate report and an approval, each signed by a site this node
//! trusts; `predict` serves only the deployed model, computes features with
//! the exact feature set version the model was trained on, and refuses a
//! request that names any other version.

use std::io::{BufRead, Read};

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde_json::json;

use airlock_runtime::{METRIC_NAMES, Matrix, Task};

use crate::data;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::features;
use crate::home::Home;
use crate::keys::{Domain, KeyId};
use crate::models::{self, RunRecord};
use crate::operator::Operator;
use crate::policy::{self, Role};
use crate::registry::{self, Kind, NameRef};
use crate::store::AuditEntry;
use crate::vault::Vault;

pub use airlock_core::lifecycle::{
    APPROVAL_TYPE, Approval, Check, DEPLOYMENT_TYPE, Deployment, GATE_TYPE, GateReport, Op,
    OperatorSignature, deploy_statement,
};

/// Every check's value must be the model's held-out metric as its run
/// record gives it: a report about other numbers is not about this model.
/// Returns why not.
fn measured_on(report: &GateReport, run: &RunRecord) -> std::result::Result<(), String> {
    for c in &report.checks {
        match run.holdout(&c.metric) {
            Some(v) if v == c.value => {}
            Some(v) => {
                return Err(format!(
                    "it gives {} = {} where the model's run record says {v}",
                    c.metric, c.value
                ));
            }
            None => {
                return Err(format!(
                    "it checks {}, which the model's run record does not hold",
                    c.metric
                ));
            }
        }
    }
    Ok(())
}

/// Parses `METRIC>=X` or `METRIC<=X` into an unfilled check.
pub fn parse_threshold(s: &str) -> Result<Check> {
    let (metric, op, value) = if let Some((m, v)) = s.split_once(">=") {
        (m, Op::AtLeast, v)
    } else if let Some((m, v)) = s.split_once("<=") {
        (m, Op::AtMost, v)
    } else {
        return Err(Error::Rejected(format!(
            "threshold {s:?}: write METRIC>=VALUE or METRIC<=VALUE, e.g. roc_auc>=0.7"
        )));
    };
    let metric = metric.trim();
    if !METRIC_NAMES.contains(&metric) {
        return Err(Error::Rejected(format!(
            "threshold {s:?}: unknown metric {metric:?} ({})",
            METRIC_NAMES.join(", ")
        )));
    }
    let threshold: f64 = value
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| Error::Rejected(format!("threshold {s:?}: {value:?} is not a number")))?;
    Ok(Check {
        metric: metric.into(),
        op,
        threshold,
        value: f64::NAN,
        passed: false,
    })
}

/// Gates a model on its held-out metrics. The report is stored whether it
/// passes or not.
pub fn gate(home: &mut Home, model: &Digest, checks: Vec<Check>) -> Result<(Digest, GateReport)> {
    if checks.is_empty() {
        return Err(Error::Rejected(
            "a gate needs at least one threshold".into(),
        ));
    }
    let run = models::load_run(home, model)?;
    // The weights must load and validate against the declared architecture.
    models::load_model(home, &run)?;
    let checks: Vec<Check> = checks
        .into_iter()
        .map(|mut c| {
            c.value = run.holdout(&c.metric).ok_or_else(|| {
                Error::Rejected(format!(
                    "metric {} is not computed for {} models",
                    c.metric,
                    run.spec.task.name()
                ))
            })?;
            c.passed = c.op.holds(c.value, c.threshold);
            Ok(c)
        })
        .collect::<Result<_>>()?;
    let site = home.site().clone();
    let report = GateReport {
        ty: GATE_TYPE.into(),
        site: site.clone(),
        model: *model,
        passed: checks.iter().all(|c| c.passed),
        checks,
        created_at: home.now(),
    };
    let tx = home.begin()?;
    let id = registry::put_record(&tx, &report)?;
    crate::provenance::record(
        &tx,
        "airlock gate",
        None,
        &[(Kind::Gate, id)],
        &[("run", *model)],
    )?;
    insert_gate_row(&tx, &id, &report)?;
    tx.commit(AuditEntry::new(
        "model.gate",
        &[id.hex(), model.hex()],
        json!({ "passed": report.passed, "checks": report.checks }),
    ))?;
    Ok((id, report))
}

/// Indexes a gate report (also used at bundle import).
pub fn insert_gate_row(tx: &rusqlite::Transaction<'_>, id: &Digest, r: &GateReport) -> Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO gates (id, model, site, passed, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id.hex(), r.model.hex(), r.site.as_str(), r.passed, r.created_at.to_string()],
    )?;
    Ok(())
}

/// Loads a stored gate report: its signatures verified
/// ([`registry::load_record`]) and its content checked
/// ([`GateReport::check`]).
pub fn load_gate(conn: &rusqlite::Connection, vault: &Vault, id: &Digest) -> Result<GateReport> {
    let report: GateReport = registry::load(conn, vault, id)?;
    report
        .check(&METRIC_NAMES)
        .map_err(|e| Error::Integrity(format!("gate report {}: {e}", id.short())))?;
    Ok(report)
}

/// The gate report that lets `model` (run record `run`) be approved, or
/// deployed to `slot`, or why none does.
///
/// This site's newest gate verdict for the model decides whenever there is
/// one: a peer's report never overrides it. Without one, the newest report
/// of each peer whose reports count is considered, and the newest of those
/// that passed is used: in setup mode every trusted peer's count; under a
/// trust policy only those of the sites its `gates` lists for the slot (for
/// an approval, which names no slot, for any slot). A report whose numbers
/// are not the model's held-out metrics never counts.
pub fn counted_gate(
    home: &Home,
    model: &Digest,
    run: &RunRecord,
    slot: Option<&str>,
    current: Option<&policy::InForce>,
) -> Result<std::result::Result<Digest, String>> {
    let mut stmt = home.conn.prepare(
        "SELECT id, site FROM gates WHERE model = ?1 ORDER BY created_at DESC, rowid DESC",
    )?;
    let rows: Vec<(String, String)> = stmt
        .query_map([model.hex()], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    // The newest report of each site, newest first.
    let mut seen = std::collections::BTreeSet::new();
    let newest: Vec<(Digest, String)> = rows
        .into_iter()
        .filter(|(_, site)| seen.insert(site.clone()))
        .map(|(id, site)| {
            id.parse()
                .map(|id| (id, site))
                .map_err(|e| Error::Integrity(format!("gates: {e}")))
        })
        .collect::<Result<_>>()?;
    let load = |id: &Digest, site: &str| -> Result<GateReport> {
        let report = load_gate(&home.conn, home.vault(), id)?;
        if report.model != *model || report.site.as_str() != site {
            return Err(Error::Integrity(format!(
                "gate report {} does not match its index row",
                id.short()
            )));
        }
        Ok(report)
    };
    let own = home.site().as_str();
    if let Some((id, site)) = newest.iter().find(|(_, site)| site == own) {
        let report = load(id, site)?;
        if let Err(why) = measured_on(&report, run) {
            return Err(Error::Integrity(format!(
                "this site's gate report {} of model {}: {why}; the store was altered",
                id.short(),
                model.short()
            )));
        }
        return Ok(if report.passed {
            Ok(*id)
        } else {
            Err(format!(
                "this site's newest gate report for it ({}, {}) failed, and a peer's gate report does not override it",
                id.short(),
                report.created_at
            ))
        });
    }
    let mut why = vec!["this site has not gated it".to_string()];
    for (id, site) in &newest {
        if let Some(p) = current {
            let b = p.body();
            let counts = match slot {
                Some(slot) => b.gate_sites(slot).iter().any(|s| s.as_str() == site),
                None => b.gates.values().flatten().any(|s| s.as_str() == site),
            };
            if !counts {
                why.push(match slot {
                    Some(slot) => format!(
                        "gate reports of site {site} do not count for slot {slot:?} (trust policy v{} `gates`)",
                        p.version()
                    ),
                    None => format!(
                        "gate reports of site {site} count for no slot (trust policy v{} `gates`)",
                        p.version()
                    ),
                });
                continue;
            }
        }
        let report = load(id, site)?;
        if let Err(e) = measured_on(&report, run) {
            why.push(format!(
                "site {site}'s gate report {} does not count: {e}",
                id.short()
            ));
        } else if report.passed {
            return Ok(Ok(*id));
        } else {
            why.push(format!(
                "site {site}'s newest gate report ({}) failed",
                id.short()
            ));
        }
    }
    Ok(Err(why.join("; ")))
}

/// Records an operator's signed approval of a gated model. The operator
/// was unlocked for the approve role (see [`crate::operator::unlock`]).
pub fn approve(
    home: &mut Home,
    model: &Digest,
    operator: &Operator,
    note: &str,
) -> Result<(Digest, Approval)> {
    if note.len() > 2000 {
        return Err(Error::Rejected(
            "--note is longer than 2000 characters".into(),
        ));
    }
    // The note travels in the signed approval and is shown at every site.
    crate::text::check_free_text("--note", note)?;
    let run = models::load_run(home, model)?;
    let in_force = policy::current(&home.conn, home.vault())?;
    let gate = match counted_gate(home, model, &run, None, in_force.as_ref())? {
        Ok(gate) => gate,
        Err(why) => {
            return Err(Error::Refused(format!(
                "model {} has no passing gate report that counts here: {why}; run `airlock gate {}` first",
                model.short(),
                model.short()
            )));
        }
    };
    crate::operator::authorize(in_force.as_ref(), Some(operator), Role::Approve)?;
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
        created_at: home.now(),
        operator_signature: String::new(),
    };
    approval.operator_signature = operator.sign(Domain::Approval, &approval.signed_bytes());
    let tx = home.begin()?;
    let id = registry::put_record(&tx, &approval)?;
    crate::provenance::record(
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
            json!({ "approver": approval.approver, "operator_key_id": operator.key_id() }),
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
        } else if !crate::operator::certified(home, &key_id, &a.operator_key)? {
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

/// The model deployed to `slot`, if any.
pub fn deployed(home: &Home, slot: &str) -> Result<Option<Digest>> {
    let id: Option<String> = home
        .conn
        .query_row(
            "SELECT model FROM deployments WHERE slot = ?1 ORDER BY seq DESC LIMIT 1",
            [slot],
            |r| r.get(0),
        )
        .optional()?;
    id.map(|s| {
        s.parse()
            .map_err(|e| Error::Integrity(format!("deployments: {e}")))
    })
    .transpose()
}

/// Deploys a gated, approved model to `slot`. Under a trust policy this
/// needs the policy's number of approvals for the slot by distinct
/// operators holding the approve role, and an operator holding the deploy
/// role (unlocked for it) to sign the deployment.
pub fn deploy(
    home: &mut Home,
    model: &Digest,
    slot: &str,
    operator: Option<&Operator>,
) -> Result<(Digest, Deployment)> {
    registry::validate_name(slot)?;
    let run = models::load_run(home, model)?;
    let in_force = policy::current(&home.conn, home.vault())?;
    let gate = match counted_gate(home, model, &run, Some(slot), in_force.as_ref())? {
        Ok(gate) => gate,
        Err(why) => {
            return Err(Error::Refused(format!(
                "model {} is not gated for slot {slot:?}: {why}; run `airlock gate {}` and have it approved first",
                model.short(),
                model.short()
            )));
        }
    };
    let (approvals, needed, not_counted) = counted_approvals(home, model, slot, in_force.as_ref())?;
    if approvals.is_empty() && not_counted.is_empty() {
        return Err(Error::Refused(format!(
            "model {} is not approved; an operator must run `airlock approve {} --operator NAME` first",
            model.short(),
            model.short()
        )));
    }
    if approvals.len() < needed as usize {
        let why = if not_counted.is_empty() {
            String::new()
        } else {
            format!("; not counted: {}", not_counted.join("; "))
        };
        return Err(Error::Refused(format!(
            "model {} has {} approval(s) that count, and slot {slot:?} needs {needed} by distinct operators holding the approve role{why}",
            model.short(),
            approvals.len()
        )));
    }
    if in_force.is_none() && operator.is_none() {
        return Err(Error::Refused(
            "deploying needs an operator certified by this site, in setup mode too (no trust policy): pass --operator NAME".into(),
        ));
    }
    crate::operator::authorize(in_force.as_ref(), operator, Role::Deploy)?;
    // Everything serving needs must be present and valid now, not at the
    // first request.
    models::load_model(home, &run)?;
    let fs = features::load(home, &run.feature_set)?;
    let contract = data::load_contract(home, &fs.contract)?;
    fs.bind(&contract)?;
    let previous = deployed(home, slot)?;
    let site = home.site().clone();
    let created_at = home.now();
    let deployed_by = operator.map(|o| OperatorSignature {
        name: o.name.clone(),
        key_id: o.key_id(),
        signature: o.sign(
            Domain::OperatorAction,
            &deploy_statement(&site, slot, model, created_at),
        ),
    });
    let dep = Deployment {
        ty: DEPLOYMENT_TYPE.into(),
        site: site.clone(),
        slot: slot.into(),
        model: *model,
        feature_set: run.feature_set,
        gate,
        approvals,
        previous,
        created_at,
        deployed_by,
    };
    let tx = home.begin()?;
    let id = registry::put_record(&tx, &dep)?;
    crate::provenance::record(
        &tx,
        "airlock deploy",
        operator.map(|o| o.key_id()).as_ref(),
        &[(Kind::Deployment, id)],
        &dep.provenance_inputs(),
    )?;
    let seq: i64 = tx.query_row(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM deployments",
        [],
        |r| r.get(0),
    )?;
    tx.execute(
        "INSERT INTO deployments (id, seq, slot, model, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id.hex(), seq, slot, model.hex(), dep.created_at.to_string()],
    )?;
    tx.commit(
        AuditEntry::new(
            "model.deploy",
            &[id.hex(), model.hex()],
            json!({ "slot": slot, "previous": previous.map(|p| p.hex()), "feature_set": run.feature_set_ref,
                    "operator": operator.map(|o| o.name.clone()), "approvals_needed": needed,
                    "policy_version": in_force.as_ref().map(|p| p.version()) }),
        )
        .by(operator.map(|o| o.key_id())),
    )?;
    Ok((id, dep))
}

/// One answer: what the model says about one row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Answer {
    /// The predicted class (binary and multiclass): the positive label value when its
    /// probability is at least 0.5, else the negative class by its own name where the run
    /// record knows it (`not POSITIVE` where it is several values, see
    /// [`models::negative_class`]); the most probable class.
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
        let run = models::load_run(home, &model_id)?;
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
        let fs = features::load(home, &run.feature_set)?;
        let contract = data::load_contract(home, &fs.contract)?;
        let columns = fs.bind(&contract)?;
        let model = models::load_model(home, &run)?;
        Ok(Scorer {
            model_id,
            run,
            model,
            fs,
            contract,
            columns,
        })
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
        self.fs.transform(&row, &self.columns, out);
        Ok(())
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
        let mut x = Vec::with_capacity(self.fs.width());
        self.features(obj, &mut x).map_err(|p| {
            Error::Rejected(format!(
                "request does not follow contract {}{}",
                self.contract_ref(),
                p.join("")
            ))
        })?;
        Ok(self.score(x, 1)?.remove(0))
    }

    fn answer(&self, out: &airlock_runtime::Outputs, i: usize) -> Answer {
        let classes = &self.run.classes;
        match self.run.spec.task {
            Task::Binary => {
                let p = out.row(i)[0];
                Answer {
                    class: out.class(i).and_then(|c| classes.get(c).cloned()),
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

/// Feature vectors of the rows read so far, or, once a row broke the
/// contract, only the first problems and a count of them.
#[derive(Default)]
struct Batch {
    x: Vec<f32>,
    lines: Vec<usize>,
    problems: Vec<String>,
    total: usize,
}

impl Batch {
    /// Adds the row that starts on `line`: `features` appends its vector
    /// to the batch, or returns its problems, each starting with `: ` or
    /// `, `.
    fn row(
        &mut self,
        line: usize,
        features: impl FnOnce(&mut Vec<f32>) -> std::result::Result<(), Vec<String>>,
    ) {
        match features(&mut self.x) {
            Ok(()) if self.total == 0 => self.lines.push(line),
            // The input is refused already: this row is only checked.
            Ok(()) => self.x.clear(),
            Err(p) => {
                if self.total == 0 {
                    // Nothing will be scored: give back what was collected.
                    self.x = Vec::new();
                    self.lines = Vec::new();
                }
                self.total = self.total.saturating_add(p.len());
                let room = LISTED_PROBLEMS.saturating_sub(self.problems.len());
                self.problems
                    .extend(p.into_iter().take(room).map(|p| format!("line {line}{p}")));
            }
        }
    }

    /// Scores the rows, or refuses the input listing its problems.
    fn finish(self, scorer: Scorer, source: &str) -> Result<Predicted> {
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
        let answers = scorer.score(self.x, self.lines.len())?;
        let predictions = self
            .lines
            .into_iter()
            .zip(answers)
            .map(|(line, answer)| Prediction { line, answer })
            .collect();
        Ok(Predicted {
            model: scorer.model_id,
            feature_set: scorer.run.feature_set,
            feature_set_ref: scorer.run.feature_set_ref,
            predictions,
        })
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
    let scorer = Scorer::open(home, slot, expected_features)?;
    let mut batch = Batch::default();
    match format {
        RequestFormat::JsonLines => json_lines(&scorer, input, source, &mut batch)?,
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
                batch.row(line, |x| match r.cells {
                    Some(cells) => scorer.features_of_cells(cells, x),
                    None => Err(vec![format!(
                        ": expected {} fields, found {}",
                        r.width,
                        r.raw.len()
                    )]),
                });
            }
        }
    }
    batch.finish(scorer, source)
}

/// Reads JSON-lines rows into `batch`.
fn json_lines(
    scorer: &Scorer,
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
        batch.row(n, |x| scorer.features(&obj, x));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{Now, Timestamp};

    fn report(checks: Vec<Check>, passed: bool) -> GateReport {
        GateReport {
            ty: GATE_TYPE.into(),
            site: "depot".parse().expect("site"),
            model: Digest::of(b"model"),
            checks,
            passed,
            created_at: Timestamp::now(),
        }
    }

    fn check(value: f64, passed: bool) -> Check {
        Check {
            metric: "roc_auc".into(),
            op: Op::AtLeast,
            threshold: 0.7,
            value,
            passed,
        }
    }

    #[test]
    fn a_gate_report_decides_only_what_its_checks_show() {
        report(vec![check(0.8, true)], true)
            .check(&METRIC_NAMES)
            .expect("sound");
        report(vec![check(0.6, false)], false)
            .check(&METRIC_NAMES)
            .expect("sound failure");
        let err = report(Vec::new(), true)
            .check(&METRIC_NAMES)
            .expect_err("empty");
        assert!(err.to_string().contains("checks nothing"), "{err}");
        let err = report(vec![check(0.6, false)], true)
            .check(&METRIC_NAMES)
            .expect_err("verdict");
        assert!(
            err.to_string()
                .contains("its verdict does not follow from its checks (0 of 1 passed)"),
            "{err}"
        );
        let err = report(vec![check(0.6, true)], true)
            .check(&METRIC_NAMES)
            .expect_err("check");
        assert!(
            err.to_string()
                .contains("says it passed, which does not follow from its value 0.6"),
            "{err}"
        );
        let mut unknown = check(0.8, true);
        unknown.metric = "vibes".into();
        let err = report(vec![unknown], true)
            .check(&METRIC_NAMES)
            .expect_err("metric");
        assert!(err.to_string().contains("unknown metric"), "{err}");
        let mut other = report(vec![check(0.8, true)], true);
        other.ty = APPROVAL_TYPE.into();
        assert!(other.check(&METRIC_NAMES).is_err(), "another record type");
    }
}
