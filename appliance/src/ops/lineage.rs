//! `airlock lineage MODEL`: the walk from a model back to the raw snapshot
//! it was trained on and to the people who approved it, verifying every
//! signature on the way (each record is loaded through
//! [`registry::load`], which checks every signature by a trusted
//! site and refuses a record without one).

use serde::Serialize;

use crate::contract::Contract;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::lifecycle::Approval;
use crate::lifecycle::Deployment;
use crate::lifecycle::GateReport;
use crate::node::home::Home;
use crate::node::time::Timestamp;
use crate::ops::features::FeatureSetDoc;
use crate::ops::ingest::DatasetDoc;
use crate::ops::provenance;
use crate::ops::train::{self, RunRecord};
use crate::store::Reads;
use crate::vault::registry::{self, Kind};

/// One signed record on the walk.
#[derive(Clone, Debug, Serialize)]
pub struct Node {
    /// What it is.
    pub kind: Kind,
    /// Its id (digest).
    pub id: Digest,
    /// The site that made it.
    pub site: String,
    /// The sites whose signatures were verified.
    pub signed_by: Vec<String>,
    /// A one-line description.
    pub what: String,
    /// When it was made.
    pub at: Option<Timestamp>,
    /// The signed provenance statement naming it, verified.
    pub provenance: Digest,
}

/// The lineage of a model.
#[derive(Clone, Debug, Serialize)]
pub struct Lineage {
    /// The model (its run record).
    pub model: Node,
    /// Its weights.
    pub weights: Node,
    /// The feature set version it was trained and is served with.
    pub feature_set: Node,
    /// The dataset version(s): the one trained on, and the one the feature
    /// set was fitted on if different.
    pub datasets: Vec<Node>,
    /// The raw snapshot trained on, and whether this node holds its bytes.
    pub snapshot: Node,
    /// Whether the raw snapshot is held in this vault.
    pub snapshot_held: bool,
    /// The schema contract.
    pub contract: Node,
    /// Gate reports.
    pub gates: Vec<Node>,
    /// Approvals, naming the people.
    pub approvals: Vec<Node>,
    /// Deployments of this model at this node.
    pub deployments: Vec<Node>,
    /// Signatures verified on the way.
    pub signatures_verified: usize,
    /// Distinct provenance statements verified on the way (every record
    /// has one; one statement may cover several, e.g. run and weights).
    pub provenance_verified: usize,
}

fn node(
    home: &Home,
    kind: Kind,
    id: &Digest,
    site: &str,
    what: String,
    at: Option<Timestamp>,
    provenance: Digest,
) -> Result<Node> {
    let signed_by: Vec<String> = registry::attestations(home.store(), id, kind)?
        .into_iter()
        .map(|a| a.site.to_string())
        .collect();
    Ok(Node {
        kind,
        id: *id,
        site: site.to_string(),
        signed_by,
        what,
        at,
        provenance,
    })
}

/// A record found through an index row must be about this model.
fn about(kind: Kind, id: &Digest, model: &Digest, said: &Digest) -> Result<()> {
    if said == model {
        Ok(())
    } else {
        Err(Error::Integrity(format!(
            "{kind} {} is indexed under model {} but its signed record is about model {}; the store was altered",
            id.short(),
            model.short(),
            said.short()
        )))
    }
}

/// A deployment's operator signature must verify with the key this node
/// certified for that operator.
fn check_deployer(
    conn: &impl Reads,
    r: &Deployment,
    op: &crate::lifecycle::OperatorSignature,
) -> Result<()> {
    let key = crate::store::trust::operator_public_key(conn, op.key_id.as_str())?;
    let ok = match key {
        Some(k) => {
            let key = crate::trust::keys::parse_verifying_key(&k)?;
            crate::trust::keys::KeyId::of(&key) == op.key_id
                && crate::trust::keys::verify(
                    &key,
                    crate::trust::keys::Domain::OperatorAction,
                    &crate::lifecycle::deploy_statement(&r.site, &r.slot, &r.model, r.created_at),
                    &op.signature,
                )
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::Integrity(format!(
            "the deployment of model {} to {} names operator {} (key {}), but that operator's signature does not verify here",
            r.model.short(),
            r.slot,
            op.name,
            op.key_id
        )))
    }
}

/// Walks from `model` (an id or a unique prefix) to its data and approvers.
pub fn walk(home: &Home, model: &str) -> Result<Lineage> {
    let id = registry::resolve_model(home.store(), model)?;
    let (conn, vault) = (home.store(), home.vault());
    let run: RunRecord = train::load_run(home, &id)?;
    let prov = |kind: Kind, subject: &Digest, inputs: &[(&str, Digest)]| {
        provenance::verify(conn, vault, kind, subject, inputs)
    };
    let train_inputs = run.provenance_inputs();
    let model = node(
        home,
        Kind::Run,
        &id,
        run.site.as_str(),
        format!(
            "model {} ({}), trained on {} rows",
            run.name,
            run.spec.arch.name(),
            run.split.train
        ),
        Some(run.finished_at),
        prov(Kind::Run, &id, &train_inputs)?,
    )?;
    let weights = node(
        home,
        Kind::Weights,
        &run.weights,
        run.site.as_str(),
        "safetensors weights".into(),
        None,
        prov(Kind::Weights, &run.weights, &train_inputs)?,
    )?;
    let weight_sigs = registry::attestations(conn, &run.weights, Kind::Weights)?;
    if weight_sigs.is_empty() || !vault.contains(&run.weights) {
        return Err(Error::Integrity(format!(
            "weights {} of model {} are unsigned or missing from the vault",
            run.weights.short(),
            id.short()
        )));
    }
    let trusted = registry::trusted_keys(conn)?;
    for att in weight_sigs {
        registry::check_attestation(&trusted, Kind::Weights, &run.weights, &att)?;
    }
    let fs: FeatureSetDoc = registry::load(conn, vault, &run.feature_set)?;
    let feature_set = node(
        home,
        Kind::FeatureSet,
        &run.feature_set,
        fs.site.as_str(),
        format!("feature set {}@{}", fs.name, fs.version),
        None,
        prov(
            Kind::FeatureSet,
            &run.feature_set,
            &[("dataset", fs.dataset), ("contract", fs.contract)],
        )?,
    )?;
    let mut datasets = Vec::new();
    let mut dataset_ids = vec![run.dataset];
    if fs.dataset != run.dataset {
        dataset_ids.push(fs.dataset);
    }
    let mut contract_id = None;
    for d in &dataset_ids {
        let doc: DatasetDoc = registry::load(conn, vault, d)?;
        contract_id.get_or_insert(doc.contract);
        datasets.push(node(
            home,
            Kind::Dataset,
            d,
            doc.site.as_str(),
            format!(
                "dataset {}@{}: {} rows from {}{}",
                doc.name,
                doc.version,
                doc.rows,
                doc.source,
                header_note(&doc)
            ),
            Some(doc.created_at),
            prov(Kind::Dataset, d, &[("contract", doc.contract)])?,
        )?);
    }
    let contract_id = contract_id.unwrap_or(fs.contract);
    let c: Contract = registry::load(conn, vault, &contract_id)?;
    let contract = node(
        home,
        Kind::Contract,
        &contract_id,
        datasets.first().map_or("", |d| d.site.as_str()),
        format!("contract {}@{}", c.name, c.version),
        None,
        prov(Kind::Contract, &contract_id, &[])?,
    )?;
    // The signatures cover (kind, digest), so they are checked whether or
    // not the bytes are here.
    for att in registry::attestations(conn, &run.snapshot, Kind::Snapshot)? {
        registry::check_attestation(&trusted, Kind::Snapshot, &run.snapshot, &att)?;
    }
    let indexed = registry::held_as(conn, &run.snapshot, Kind::Snapshot)?.is_some();
    let held = indexed && vault.contains(&run.snapshot);
    if indexed && !held {
        return Err(Error::Integrity(format!(
            "raw snapshot {} is indexed here but its file is missing from the vault",
            run.snapshot.short()
        )));
    }
    let snapshot = node(
        home,
        Kind::Snapshot,
        &run.snapshot,
        run.site.as_str(),
        if held {
            "raw snapshot, held in this vault".into()
        } else {
            "raw snapshot, not held here (it stays at its site unless exported with --with-data)"
                .into()
        },
        None,
        prov(Kind::Snapshot, &run.snapshot, &[])?,
    )?;
    let mut gates = Vec::new();
    for g in crate::store::models::gates_by_time(conn, &id)? {
        let r: GateReport = crate::ops::gate::load_gate(conn, vault, &g)?;
        about(Kind::Gate, &g, &id, &r.model)?;
        let checks: Vec<String> = r
            .checks
            .iter()
            .map(|c| {
                let op = serde_json::to_value(c.op)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                format!("{} {:.4} (needs {op} {})", c.metric, c.value, c.threshold)
            })
            .collect();
        gates.push(node(
            home,
            Kind::Gate,
            &g,
            r.site.as_str(),
            format!(
                "gate {}: {}",
                if r.passed { "passed" } else { "FAILED" },
                checks.join(", ")
            ),
            Some(r.created_at),
            prov(Kind::Gate, &g, &[("run", id)])?,
        )?);
    }
    let mut approvals = Vec::new();
    for a in crate::store::models::approvals_of(conn, &id)? {
        let r: Approval = registry::load(conn, vault, &a)?;
        about(Kind::Approval, &a, &id, &r.model)?;
        let operator = r.verify_operator()?;
        approvals.push(node(
            home,
            Kind::Approval,
            &a,
            r.site.as_str(),
            format!(
                "approved by operator {:?} (key {operator}, signature verified) at site {} (gate {}): {}",
                r.approver,
                r.site,
                r.gate.short(),
                r.note
            ),
            Some(r.created_at),
            prov(Kind::Approval, &a, &r.provenance_inputs())?,
        )?);
    }
    let mut deployments = Vec::new();
    for d in crate::store::models::deployments_of(conn, &id)? {
        let r: Deployment = registry::load(conn, vault, &d)?;
        about(Kind::Deployment, &d, &id, &r.model)?;
        let by = match &r.deployed_by {
            None => String::new(),
            Some(op) => {
                check_deployer(conn, &r, op)?;
                format!(
                    " by operator {} (key {}, signature verified)",
                    op.name, op.key_id
                )
            }
        };
        deployments.push(node(
            home,
            Kind::Deployment,
            &d,
            r.site.as_str(),
            format!(
                "deployed to slot {}{by} with {} approval(s)",
                r.slot,
                r.approvals.len()
            ),
            Some(r.created_at),
            prov(Kind::Deployment, &d, &r.provenance_inputs())?,
        )?);
    }
    let mut all = vec![&model, &weights, &feature_set, &contract];
    all.extend(datasets.iter());
    all.extend(gates.iter());
    all.extend(approvals.iter());
    all.extend(deployments.iter());
    all.push(&snapshot);
    let signatures_verified: usize = all.iter().map(|n| n.signed_by.len()).sum();
    let provenance_verified = all
        .iter()
        .map(|n| n.provenance)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    Ok(Lineage {
        model,
        weights,
        feature_set,
        datasets,
        snapshot,
        snapshot_held: held,
        contract,
        gates,
        approvals,
        deployments,
        signatures_verified,
        provenance_verified,
    })
}

/// What a dataset's contract did with its file's header, for its lineage
/// line: the columns ignored and renamed (the names are in the record).
fn header_note(doc: &DatasetDoc) -> String {
    let mut parts = Vec::new();
    if !doc.ignored.is_empty() {
        parts.push(format!("{} header columns ignored", doc.ignored.len()));
    }
    if !doc.renamed.is_empty() {
        let r: Vec<String> = doc
            .renamed
            .iter()
            .map(|r| format!("{} -> {}", r.from, r.to))
            .collect();
        parts.push(format!("renamed {}", r.join(", ")));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join("; "))
    }
}
