//! Loading the screens' data: the same library calls as the `airlock` commands named on each
//! function, turned into the plain view models of [`crate::view`]. Nothing here runs SQL or
//! touches the store, vault or audit log except through those calls.

use std::collections::BTreeMap;
use std::path::Path;

use airlock::contract;
use airlock::digest::Digest;
use airlock::node::home::Home;
use airlock::ops::ingest;
use airlock::ops::lineage;
use airlock::ops::train;
use airlock::profile::ColumnProfile;
use airlock::store::audit;
use airlock::trust::operator;
use airlock::trust::policy;
use airlock::vault::registry::NameRef;

use crate::airgap;
use crate::shown::Shown;
use crate::view::{
    ApprovalView, AuditRow, AuditVerified, ColumnView, ContractDiff, ContractRow, DataView,
    DatasetKey, DatasetProfile, DatasetRow, ErrorView, LineageView, ModelDetail, ModelRow,
    NodeView, NumericView, Overview, PolicySummary, RefusedRow, SlotRow,
};

type Result<T> = airlock::Result<T>;

/// Who each key id is: this site's key and the operators certified here.
pub struct Actors(BTreeMap<String, String>);

impl Actors {
    /// The names `keys operator list` shows, and the site's own key.
    pub fn of(home: &Home) -> Result<Self> {
        let mut names = BTreeMap::new();
        names.insert(
            home.keys().key_id().to_string(),
            format!("site {}", home.site()),
        );
        for o in operator::list(home)? {
            names.insert(o.key_id, o.name);
        }
        Ok(Actors(names))
    }

    fn name(&self, key_id: &str) -> Shown {
        self.0
            .get(key_id)
            .map(|n| Shown::new(n))
            .unwrap_or_default()
    }
}

/// The audit action `airlock-install seal` records (the installer's `seal::SEAL_ACTION`; the
/// console does not link the installer).
pub const INSTALL_SEAL: &str = "install.seal";

/// One audit record as shown.
pub fn audit_row(r: &audit::Record, actors: &Actors) -> AuditRow {
    AuditRow {
        seq: r.seq,
        time: Shown::of(r.time),
        action: Shown::new(&r.action),
        actor: Shown::new(&r.actor),
        actor_name: actors.name(&r.actor),
        subjects: r.subjects.iter().map(|s| Shown::new(s)).collect(),
        details: Shown::new(&r.details.to_string()),
        // serde_json escapes C0 controls in strings but not DEL, C1 or direction marks:
        // the block is escaped like any other, keeping only the line feeds it laid out.
        details_block: Shown::block(
            &serde_json::to_string_pretty(&r.details).unwrap_or_else(|_| r.details.to_string()),
        ),
    }
}

/// `airlock audit verify`.
pub fn verify_audit(home: &Home) -> Result<AuditVerified> {
    let v = home.verify_audit()?;
    Ok(AuditVerified {
        records: v.records,
        head: Shown::new(&v.head.chars().take(16).collect::<String>()),
        checkpoint: v.checkpoint,
    })
}

/// `airlock audit log` (every record, oldest first).
pub fn audit_log(home: &Home) -> Result<Vec<AuditRow>> {
    let actors = Actors::of(home)?;
    Ok(home
        .audit_log()?
        .iter()
        .map(|r| audit_row(r, &actors))
        .collect())
}

/// The Overview: `policy show`, `models list` (deployed slots), `audit log` (its newest
/// record), `audit verify`, `data list`, `contract list`, `keys operator list`, and the air
/// gap read under `system_root`.
pub fn overview(home: &Home, system_root: &Path) -> Result<Overview> {
    let policy = policy::in_force(home)?.map(|p| {
        let b = p.body();
        PolicySummary {
            version: p.version(),
            root_threshold: b.root.threshold,
            root_keys: b.root.keys.len(),
            peers: b.peers.len(),
            operators: b.operators.len(),
        }
    });
    let list = train::list(home)?;
    // A model may hold several slots at once (`production,canary`): a row for each.
    let mut deployments: Vec<SlotRow> = list
        .iter()
        .flat_map(|m| {
            m.deployed
                .iter()
                .flat_map(|d| d.split(','))
                .map(|slot| SlotRow {
                    slot: Shown::new(slot),
                    model: Shown::new(&m.id),
                    name: Shown::new(&m.name),
                    site: Shown::new(&m.site),
                })
        })
        .collect();
    deployments.sort_by(|a, b| a.slot.as_str().cmp(b.slot.as_str()));
    let actors = Actors::of(home)?;
    let log = home.audit_log()?;
    let last_record = log.last().map(|r| audit_row(r, &actors));
    // The installer records each seal in the same log (`airlock-install seal`): the newest
    // one says when and by whom the node was sealed; `airlock-install verify` checks it.
    let install_seal = log
        .iter()
        .rev()
        .find(|r| r.action == INSTALL_SEAL)
        .map(|r| audit_row(r, &actors));
    Ok(Overview {
        site: Shown::of(home.site()),
        key_id: Shown::of(home.keys().key_id()),
        policy,
        deployments,
        last_record,
        install_seal,
        audit: Some(verify_audit(home).map_err(ErrorView::from)),
        air_gap: airgap::probe(system_root),
        datasets: ingest::list(home)?.len(),
        contracts: airlock::ops::contract::list_contracts(home)?.len(),
        models: list.len(),
        operators: operator::list(home)?.len(),
    })
}

/// The Data screen: `data list` with each version's source (`data show`), and `contract list`.
pub fn data_view(home: &Home) -> Result<DataView> {
    let mut datasets = Vec::new();
    for d in ingest::list(home)? {
        let key = DatasetKey {
            site: d.site.clone(),
            name: d.name.clone(),
            version: d.version,
        };
        let (_, doc) = ingest::show(home, &name_ref(&key)?)?;
        datasets.push(DatasetRow {
            reference: Shown::new(&format!("{}/{}@{}", d.site, d.name, d.version)),
            rows: d.rows,
            source: Shown::new(&doc.source),
            created: Shown::new(&d.created_at),
            key,
        });
    }
    let contracts = airlock::ops::contract::list_contracts(home)?
        .into_iter()
        .map(|c| ContractRow {
            reference: Shown::new(&format!("{}/{}@{}", c.site, c.name, c.version)),
            id: Shown::new(&c.id),
            created: Shown::new(&c.created_at),
            key: DatasetKey {
                site: c.site,
                name: c.name,
                version: c.version,
            },
        })
        .collect();
    let actors = Actors::of(home)?;
    let refused = home
        .audit_log()?
        .iter()
        .rev()
        .filter(|r| r.action == "data.refused")
        .map(|r| refused_row(r, &actors))
        .collect();
    Ok(DataView {
        datasets,
        contracts,
        refused,
    })
}

/// A `data.refused` audit record as the Data screen lists it.
pub fn refused_row(r: &audit::Record, actors: &Actors) -> RefusedRow {
    let d = &r.details;
    let text = |k: &str| Shown::new(d[k].as_str().unwrap_or(""));
    let why = match (d["reason"].as_str(), d["violations"].as_object()) {
        (Some(reason), _) => reason.to_string(),
        (None, Some(v)) => {
            let total: u64 = v.values().filter_map(serde_json::Value::as_u64).sum();
            let per: Vec<String> = v
                .iter()
                .filter(|(_, n)| n.as_u64().is_some_and(|n| n > 0))
                .map(|(rule, n)| format!("{rule} {n}"))
                .collect();
            format!("{total} violations: {}", per.join(", "))
        }
        (None, None) => String::new(),
    };
    RefusedRow {
        dataset: text("dataset"),
        source: text("source"),
        contract: text("contract"),
        why: Shown::new(&why),
        record: audit_row(r, actors),
    }
}

/// `airlock contract diff NAME@V-1 NAME@V`: the contract version `key` against the newest
/// version of the same name and site before it.
pub fn contract_diff(home: &Home, key: &DatasetKey) -> Result<ContractDiff> {
    let site: airlock::site::SiteName = key.site.parse()?;
    let at = |version: i64| NameRef {
        site: Some(site.clone()),
        name: key.name.clone(),
        version: Some(version),
    };
    let reference = Shown::new(&format!("{}/{}@{}", key.site, key.name, key.version));
    let before = airlock::ops::contract::list_contracts(home)?
        .into_iter()
        .filter(|c| c.site == key.site && c.name == key.name && c.version < key.version)
        .map(|c| c.version)
        .max();
    let Some(before) = before else {
        return Ok(ContractDiff {
            reference,
            against: None,
            changes: Vec::new(),
        });
    };
    let (_, b) = airlock::ops::contract::resolve_contract(home, &at(key.version))?;
    let (_, a) = airlock::ops::contract::resolve_contract(home, &at(before))?;
    Ok(ContractDiff {
        reference,
        against: Some(Shown::new(&format!("{}/{}@{before}", key.site, key.name))),
        changes: contract::diff(&a, &b)
            .iter()
            .map(|c| Shown::new(c))
            .collect(),
    })
}

fn name_ref(key: &DatasetKey) -> Result<NameRef> {
    Ok(NameRef {
        site: Some(key.site.parse()?),
        name: key.name.clone(),
        version: Some(key.version),
    })
}

/// A dataset version's profile: `data show`.
pub fn profile(home: &Home, key: &DatasetKey) -> Result<DatasetProfile> {
    let (_, doc) = ingest::show(home, &name_ref(key)?)?;
    Ok(DatasetProfile {
        reference: Shown::new(&format!("{}/{}@{}", doc.site, doc.name, doc.version)),
        rows: doc.rows,
        source: Shown::new(&doc.source),
        format: Shown::new(match doc.format {
            ingest::Format::Csv => "CSV",
            ingest::Format::Parquet => "Parquet",
        }),
        created: Shown::of(doc.created_at),
        columns: doc
            .profile
            .map(|p| p.columns.iter().map(column).collect())
            .unwrap_or_default(),
    })
}

fn column(c: &ColumnProfile) -> ColumnView {
    ColumnView {
        name: Shown::new(&c.name),
        ty: Shown::new(c.ty.name()),
        count: c.count,
        nulls: c.nulls,
        null_rate: c.null_rate,
        distinct: c.distinct,
        distinct_exact: c.distinct_exact,
        numeric: c.numeric.as_ref().map(|n| NumericView {
            min: Shown::new(&c.show(n.min)),
            max: Shown::new(&c.show(n.max)),
            mean: Shown::new(&c.show(n.mean)),
            std: n.std,
            quantiles: n
                .quantiles
                .iter()
                .map(|q| ((q.p * 100.0).round() as u32, Shown::new(&c.show(q.value))))
                .collect(),
            histogram: n.histogram.counts.clone(),
            sampled: n.sampled,
        }),
        top: c
            .top
            .iter()
            .map(|f| (Shown::new(&contract::show(&f.value)), f.count))
            .collect(),
    }
}

/// The registry: `models list`, with each model's dataset and feature set from its run
/// record (`models show`).
pub fn models(home: &Home) -> Result<Vec<ModelRow>> {
    let datasets: BTreeMap<String, String> = ingest::list(home)?
        .into_iter()
        .map(|d| (d.id, format!("{}@{}", d.name, d.version)))
        .collect();
    let mut rows = Vec::new();
    for m in train::list(home)? {
        let id: Digest = m.id.parse().map_err(|e| {
            airlock::Error::Integrity(format!("models: {}", airlock::text::error_text(&e)))
        })?;
        let run = train::load_run(home, &id)?;
        let dataset = datasets
            .get(&run.dataset.hex())
            .cloned()
            .unwrap_or_else(|| run.dataset.short());
        rows.push(ModelRow {
            id: Shown::new(&m.id),
            id_hex: id.hex(),
            name: Shown::new(&m.name),
            site: Shown::new(&m.site),
            task: Shown::new(&m.task),
            arch: Shown::new(&m.arch),
            dataset: Shown::new(&dataset),
            features: Shown::new(&run.feature_set_ref),
            score_name: Shown::new(&m.score_name),
            score: m.score,
            gate: Shown::new(&m.gate),
            approvals: m.approvals,
            deployed: m.deployed.as_deref().map(Shown::new),
        });
    }
    Ok(rows)
}

/// A model's detail: `models show`, its approvals (each operator signature verified) and
/// `lineage`, whose failure is shown in place rather than hiding the rest.
pub fn model_detail(home: &Home, row: &ModelRow) -> Result<ModelDetail> {
    let id: Digest = row
        .id_hex
        .parse()
        .map_err(|e| airlock::Error::Integrity(format!("model id: {e}")))?;
    let run = train::load_run(home, &id)?;
    let m = &run.metrics.holdout;
    let metrics = airlock_runtime::METRIC_NAMES
        .iter()
        .filter_map(|n| m.get(n).map(|v| (*n, v)))
        .collect();
    let approvals = airlock::ops::approve::approvals(home, &id)?
        .into_iter()
        .map(|(_, a, key_id)| ApprovalView {
            approver: Shown::new(&a.approver),
            key_id: Shown::of(key_id),
            site: Shown::of(&a.site),
            note: Shown::new(&a.note),
            at: Shown::of(a.created_at),
        })
        .collect();
    Ok(ModelDetail {
        row: row.clone(),
        holdout_rows: m.rows,
        metrics,
        epochs: (run.history.len(), run.best_epoch),
        trained: Shown::of(run.finished_at),
        device: Shown::new(&run.device.kind),
        approvals,
        gates: crate::report::gates(home, &id).map_err(ErrorView::from),
        lineage: lineage_view(home, &id.hex()).map_err(ErrorView::from),
    })
}

fn node(n: &lineage::Node) -> NodeView {
    NodeView {
        kind: Shown::new(n.kind.as_str()),
        id: Shown::new(&n.id.short()),
        what: Shown::new(&n.what),
        site: Shown::new(&n.site),
        signed_by: Shown::new(&n.signed_by.join(", ")),
        at: n.at.map(Shown::of).unwrap_or_default(),
    }
}

/// `airlock lineage MODEL`, in the order it prints.
fn lineage_view(home: &Home, model: &str) -> Result<LineageView> {
    let l = lineage::walk(home, model)?;
    let mut nodes = vec![
        (0, node(&l.model)),
        (1, node(&l.weights)),
        (1, node(&l.feature_set)),
    ];
    nodes.extend(l.datasets.iter().map(|d| (1, node(d))));
    nodes.push((2, node(&l.snapshot)));
    nodes.push((2, node(&l.contract)));
    for n in l.gates.iter().chain(&l.approvals).chain(&l.deployments) {
        nodes.push((1, node(n)));
    }
    Ok(LineageView {
        nodes,
        signatures: l.signatures_verified,
        provenance: l.provenance_verified,
    })
}
