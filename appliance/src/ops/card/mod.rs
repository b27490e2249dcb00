//! `airlock models card MODEL`: a model card an auditor can read, in Markdown, made only
//! from the signed records this node holds about the model: its run record, the dataset it
//! was trained on (with the dataset's profile), its contract and feature set, its evaluation
//! records, gate reports, approvals and deployments, the operator's description
//! ([`crate::ops::description`]) and its lineage, walked and verified as `airlock lineage` walks
//! it.
//!
//! Three steps, each usable alone: [`build`] gathers and verifies the records into a
//! [`Card`] (the data, also what `--json` prints); [`limits`] finds what the records show on
//! their own (small slices, fairness under the four-fifths rule, robustness drops, no
//! evaluation on unseen data); [`render`] lays the card out as Markdown, every piece of
//! stored or imported text passed through [`crate::text::markdown`]. Nothing is computed
//! here that a record does not hold: a section with nothing to show says "none".

mod limits;
mod render;

use serde::Serialize;

use airlock_runtime::METRIC_NAMES;

use crate::digest::Digest;
use crate::error::Result;
use crate::lifecycle::Approval;
use crate::lifecycle::Deployment;
use crate::lifecycle::GateReport;
use crate::node::home::Home;
use crate::node::time::Timestamp;
use crate::ops::description::{self, Held};
use crate::ops::evaluate::EvaluationRecord;
use crate::ops::features::FeatureSetDoc;
use crate::ops::ingest::DatasetDoc;
use crate::ops::lineage::{self, Lineage};
use crate::ops::train::{self, RunRecord};
use crate::site::SiteName;
use crate::trust::keys::KeyId;
use crate::vault::registry::{self, Kind};

pub use limits::{FOUR_FIFTHS, Limit, ROBUSTNESS_DROP, limits};
pub use render::render;

/// Everything a model card shows, each record verified as it was loaded.
#[derive(Clone, Debug, Serialize)]
pub struct Card {
    /// The site that made the card.
    pub site: SiteName,
    /// When it was made.
    pub generated_at: Timestamp,
    /// The model (its run record's id).
    pub model: Digest,
    /// The run record.
    pub run: RunRecord,
    /// The description shown: this site's newest, else the newest of a peer's.
    pub description: Option<Held>,
    /// The other descriptions held (superseded, or outranked by this site's).
    pub other_descriptions: Vec<Held>,
    /// The dataset trained on.
    pub dataset: DatasetEntry,
    /// The feature set version the model was trained and is served with.
    pub feature_set: FeatureSetEntry,
    /// Evaluation records of the model, oldest first.
    pub evaluations: Vec<Evaluated>,
    /// Gate reports, oldest first.
    pub gates: Vec<GateView>,
    /// Approvals, oldest first.
    pub approvals: Vec<ApprovalEntry>,
    /// Deployments of the model at this node, oldest first.
    pub deployments: Vec<DeploymentEntry>,
    /// What the records show on their own ([`limits()`]).
    pub limits: Vec<Limit>,
    /// The verified walk back to the raw snapshot, as `airlock lineage` shows it.
    pub lineage: Lineage,
    /// Signatures over the evaluation and description records (not on the lineage walk).
    pub other_records: Vec<OtherRecord>,
}

/// The dataset a model was trained on.
#[derive(Clone, Debug, Serialize)]
pub struct DatasetEntry {
    /// Its record's id.
    pub id: Digest,
    /// The record (with the profile computed at ingest).
    pub doc: DatasetDoc,
    /// Its contract as `name@version`.
    pub contract: String,
}

/// The feature set of a model.
#[derive(Clone, Debug, Serialize)]
pub struct FeatureSetEntry {
    /// Its id.
    pub id: Digest,
    /// `name@version`.
    pub reference: String,
    /// The dataset it was fitted on.
    pub fitted_on: Digest,
    /// The label column.
    pub label: String,
    /// The positive label value (binary models).
    pub positive: String,
    /// Each feature's source columns, in vector order.
    pub features: Vec<String>,
}

/// An evaluation record with its id.
#[derive(Clone, Debug, Serialize)]
pub struct Evaluated {
    /// Its id.
    pub id: Digest,
    /// The record.
    pub record: EvaluationRecord,
    /// Whether it was made on the snapshot the model was trained on.
    pub on_training_data: bool,
}

/// A gate report as the card shows it: each check rendered generically. The policy and the
/// per-check section and subject are shown when the report carries them.
#[derive(Clone, Debug, Serialize)]
pub struct GateView {
    /// The report's id.
    pub id: Digest,
    /// The site that ran the gate.
    pub site: SiteName,
    /// When.
    pub created_at: Timestamp,
    /// The verdict.
    pub passed: bool,
    /// No check failed, and some need a named review.
    pub needs_review: bool,
    /// The gate policy it applied: its digest and text.
    pub policy: Option<GatePolicy>,
    /// Every check.
    pub checks: Vec<CheckView>,
}

/// The policy a gate report applied.
#[derive(Clone, Debug, Serialize)]
pub struct GatePolicy {
    /// Its digest.
    pub digest: Digest,
    /// Its text, as the report carries it.
    pub text: String,
}

/// One check of a gate report.
#[derive(Clone, Debug, Serialize)]
pub struct CheckView {
    /// The policy section it comes from (metrics, baseline, slices, fairness, ...).
    pub section: Option<String>,
    /// What it is about (an evaluation, a slice, an attribute and group).
    pub subject: Option<String>,
    /// The metric.
    pub metric: String,
    /// `>=` or `<=`.
    pub op: &'static str,
    /// The threshold.
    pub threshold: f64,
    /// The measured value.
    pub value: f64,
    /// Whether it held.
    pub passed: bool,
    /// The outcome: passed, failed, needs review, not judged.
    pub verdict: &'static str,
}

impl GateView {
    /// The view of a verified gate report. (Gate reports that carry their policy and a
    /// section and subject per check fill the fields kept `None` here.)
    pub fn of(id: Digest, r: &GateReport) -> GateView {
        use airlock_core::lifecycle::Verdict;
        GateView {
            id,
            site: r.site.clone(),
            created_at: r.created_at,
            passed: r.passed,
            needs_review: r.needs_review,
            policy: r.policy.as_ref().map(|p| GatePolicy {
                digest: p.digest,
                text: p.text.clone(),
            }),
            checks: r
                .checks
                .iter()
                .map(|c| CheckView {
                    section: c.section.map(|s| s.as_str().to_owned()),
                    subject: c.subject.clone(),
                    metric: c.metric.clone(),
                    op: c.op.as_str(),
                    threshold: c.threshold,
                    value: c.value,
                    passed: c.passed,
                    verdict: match c.outcome() {
                        Verdict::Pass => "passed",
                        Verdict::Fail => "failed",
                        Verdict::Review => "needs review",
                        Verdict::NotJudged => "not judged",
                    },
                })
                .collect(),
        }
    }
}

/// An approval, its operator's signature verified.
#[derive(Clone, Debug, Serialize)]
pub struct ApprovalEntry {
    /// Its id.
    pub id: Digest,
    /// The record.
    pub record: Approval,
    /// The operator's key id (from the verified signature).
    pub operator_key_id: KeyId,
}

/// A deployment of the model at this node.
#[derive(Clone, Debug, Serialize)]
pub struct DeploymentEntry {
    /// Its id.
    pub id: Digest,
    /// The record.
    pub record: Deployment,
    /// Whether the model still serves the slot (this is the slot's newest deployment).
    pub serving: bool,
}

/// A record of the model that the lineage walk does not cover, with its signers.
#[derive(Clone, Debug, Serialize)]
pub struct OtherRecord {
    /// What it is.
    pub kind: Kind,
    /// Its id.
    pub id: Digest,
    /// The site that made it.
    pub site: SiteName,
    /// The sites whose signatures over it were verified when it was loaded.
    pub signed_by: Vec<String>,
}

/// Gathers the card of `model` from the records held here. Every record is loaded through
/// the registry, which verifies its signatures by a trusted site; gate reports are checked
/// as `deploy` checks them, approvals' operator signatures are verified, and the lineage is
/// walked and verified as `airlock lineage` walks it. Reads only: it works on a home opened
/// read-only.
pub fn build(home: &Home, model: &Digest) -> Result<Card> {
    let (conn, vault) = (home.store(), home.vault());
    let run = train::load_run(home, model)?;
    let lineage = lineage::walk(home, &model.hex())?;

    let doc: DatasetDoc = registry::load(conn, vault, &run.dataset)?;
    let contract = crate::ops::contract::load_contract(home, &doc.contract)?;
    let dataset = DatasetEntry {
        id: run.dataset,
        contract: format!("{}@{}", contract.name, contract.version),
        doc,
    };
    let fs: FeatureSetDoc = registry::load(conn, vault, &run.feature_set)?;
    let feature_set = FeatureSetEntry {
        id: run.feature_set,
        reference: fs.reference(),
        fitted_on: fs.dataset,
        label: fs.label.clone(),
        positive: fs.positive.clone(),
        features: fs.features.iter().map(|f| f.columns().join("*")).collect(),
    };

    let evaluations: Vec<Evaluated> = crate::ops::evaluate::list_for(home, model)?
        .into_iter()
        .map(|(id, record)| Evaluated {
            on_training_data: record.snapshot == run.snapshot,
            id,
            record,
        })
        .collect();

    let mut gates = Vec::new();
    for id in crate::store::models::gates_by_time_and_id(conn, model)? {
        let r = crate::ops::gate::load_gate(conn, vault, &id)?;
        gates.push(GateView::of(id, &r));
    }

    let approvals = crate::ops::approve::approvals(home, model)?
        .into_iter()
        .map(|(id, record, operator_key_id)| ApprovalEntry {
            id,
            record,
            operator_key_id,
        })
        .collect();

    let mut deployments = Vec::new();
    for id in crate::store::models::deployments_of(conn, model)? {
        let record: Deployment = registry::load(conn, vault, &id)?;
        let serving = newest_in_slot(home, &record.slot)? == Some(id);
        deployments.push(DeploymentEntry {
            id,
            record,
            serving,
        });
    }

    let mut held = description::list_for(home, model)?;
    let shown = description::newest(home, model)?;
    held.retain(|d| shown.as_ref().is_none_or(|s| s.id != d.id));

    let mut other_records = Vec::new();
    for e in &evaluations {
        other_records.push(other(home, Kind::Evaluation, e.id, &e.record.site)?);
    }
    for d in shown.iter().chain(held.iter()) {
        other_records.push(other(home, Kind::ModelDescription, d.id, &d.record.site)?);
    }

    let mut card = Card {
        site: home.site().clone(),
        generated_at: home.now(),
        model: *model,
        run,
        description: shown,
        other_descriptions: held,
        dataset,
        feature_set,
        evaluations,
        gates,
        approvals,
        deployments,
        limits: Vec::new(),
        lineage,
        other_records,
    };
    card.limits = limits(&card);
    Ok(card)
}

/// The card of `model` as Markdown: [`build`], then [`render`].
pub fn markdown(home: &Home, model: &Digest) -> Result<String> {
    Ok(render(&build(home, model)?))
}

/// The id of the newest deployment record of `slot`.
fn newest_in_slot(home: &Home, slot: &str) -> Result<Option<Digest>> {
    Ok(crate::store::models::newest_of_slot(home.store(), slot)?
        .into_iter()
        .next())
}

fn other(home: &Home, kind: Kind, id: Digest, site: &SiteName) -> Result<OtherRecord> {
    Ok(OtherRecord {
        kind,
        id,
        site: site.clone(),
        signed_by: registry::attestations(home.store(), &id, kind)?
            .into_iter()
            .map(|a| a.site.to_string())
            .collect(),
    })
}

/// The held-out metrics a run record gives, by name, in the runtime's order.
fn figures(m: &airlock_runtime::Metrics) -> Vec<(&'static str, f64)> {
    METRIC_NAMES
        .iter()
        .filter_map(|n| m.get(n).map(|v| (*n, v)))
        .collect()
}
