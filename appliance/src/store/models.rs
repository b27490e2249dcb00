//! The lifecycle's tables: `models` (run records), `gates`, `approvals`,
//! `deployments` and the `provenance` index of signed statements.

use rusqlite::{OptionalExtension, params};

use crate::digest::Digest;
use crate::error::Result;
use crate::site::SiteName;
use crate::store::objects::digests;
use crate::store::{AuditedTx, Reads, conn};

/// A model row: what `models list` shows without reading the run record.
#[derive(Clone, Copy, Debug)]
pub struct ModelRow<'a> {
    /// The run record's id.
    pub id: &'a Digest,
    /// The site that trained it.
    pub site: &'a SiteName,
    /// Its name.
    pub name: &'a str,
    /// Its architecture's name.
    pub arch: &'a str,
    /// The dataset it was trained on.
    pub dataset: &'a Digest,
    /// Its feature set.
    pub feature_set: &'a Digest,
    /// Its weights.
    pub weights: &'a Digest,
    /// Its task and held-out metrics, JSON.
    pub metrics: &'a str,
    /// When training finished.
    pub created_at: &'a str,
}

/// Indexes a model (nothing if its id is there).
pub fn insert_model(tx: &AuditedTx<'_>, m: &ModelRow<'_>) -> Result<()> {
    tx.tx.execute(
        "INSERT OR IGNORE INTO models (id, site, name, arch, dataset, feature_set, weights, metrics, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            m.id.hex(),
            m.site.as_str(),
            m.name,
            m.arch,
            m.dataset.hex(),
            m.feature_set.hex(),
            m.weights.hex(),
            m.metrics,
            m.created_at
        ],
    )?;
    Ok(())
}

/// One model as listed, with its gate state, approvals and slots.
#[derive(Clone, Debug)]
pub struct ListedModel {
    /// Model id (hex).
    pub id: String,
    /// Name.
    pub name: String,
    /// Site that trained it.
    pub site: String,
    /// Architecture.
    pub arch: String,
    /// The metrics column (JSON: task and held-out metrics).
    pub metrics: String,
    /// When it was trained.
    pub created_at: String,
    /// Gate state: `passed`, `failed` or `none`.
    pub gate: String,
    /// Number of approvals.
    pub approvals: i64,
    /// The slots it is deployed to, comma-separated, if any.
    pub deployed: Option<String>,
}

/// Every model, newest first (of two stored in the same second, the one stored last first).
pub fn list_models(r: &impl Reads) -> Result<Vec<ListedModel>> {
    let mut stmt = conn(r).prepare(
        "SELECT m.id, m.name, m.site, m.arch, m.metrics, m.created_at,
            (SELECT CASE WHEN MAX(g.passed) = 1 THEN 'passed' WHEN COUNT(g.id) > 0 THEN 'failed' ELSE 'none' END
               FROM gates g WHERE g.model = m.id),
            (SELECT COUNT(*) FROM approvals a WHERE a.model = m.id),
            (SELECT GROUP_CONCAT(d.slot, ',') FROM deployments d WHERE d.model = m.id
               AND d.action != 'retire'
               AND d.seq = (SELECT MAX(seq) FROM deployments d2 WHERE d2.slot = d.slot))
         FROM models m ORDER BY m.created_at DESC, m.rowid DESC",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(ListedModel {
            id: r.get(0)?,
            name: r.get(1)?,
            site: r.get(2)?,
            arch: r.get(3)?,
            metrics: r.get(4)?,
            created_at: r.get(5)?,
            gate: r.get(6)?,
            approvals: r.get(7)?,
            deployed: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Indexes a gate report on `model` made at `site` (nothing if its id is
/// there).
pub fn insert_gate(
    tx: &AuditedTx<'_>,
    id: &Digest,
    model: &Digest,
    site: &SiteName,
    passed: bool,
    created_at: &str,
) -> Result<()> {
    tx.tx.execute(
        "INSERT OR IGNORE INTO gates (id, model, site, passed, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id.hex(), model.hex(), site.as_str(), passed, created_at],
    )?;
    Ok(())
}

/// The gate reports on `model`, oldest first, in the order they were
/// indexed among equal times.
pub fn gates_of(r: &impl Reads, model: &Digest) -> Result<Vec<Digest>> {
    digests(
        r,
        "SELECT id FROM gates WHERE model = ?1 ORDER BY created_at, rowid",
        &model.hex(),
    )
}

/// The gate reports on `model`, oldest first (lineage).
pub fn gates_by_time(r: &impl Reads, model: &Digest) -> Result<Vec<Digest>> {
    digests(
        r,
        "SELECT id FROM gates WHERE model = ?1 ORDER BY created_at",
        &model.hex(),
    )
}

/// The gate reports on `model`, oldest first, by id among equal times
/// (the model card).
pub fn gates_by_time_and_id(r: &impl Reads, model: &Digest) -> Result<Vec<Digest>> {
    digests(
        r,
        "SELECT id FROM gates WHERE model = ?1 ORDER BY created_at, id",
        &model.hex(),
    )
}

/// The gate reports on `model`, in no particular order (a bundle's
/// contents).
pub fn gates_any_order(r: &impl Reads, model: &Digest) -> Result<Vec<Digest>> {
    digests(r, "SELECT id FROM gates WHERE model = ?1", &model.hex())
}

/// The gate reports on `model` as (id, site), newest first.
pub fn gates_newest_first(r: &impl Reads, model: &Digest) -> Result<Vec<(String, String)>> {
    let mut stmt = conn(r).prepare(
        "SELECT id, site FROM gates WHERE model = ?1 ORDER BY created_at DESC, rowid DESC",
    )?;
    let rows: Vec<(String, String)> = stmt
        .query_map([model.hex()], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Indexes an approval of `model` at `site` by `approver` (nothing if its
/// id is there).
pub fn insert_approval(
    tx: &AuditedTx<'_>,
    id: &Digest,
    model: &Digest,
    site: &SiteName,
    approver: &str,
    created_at: &str,
) -> Result<()> {
    tx.tx.execute(
        "INSERT OR IGNORE INTO approvals (id, model, site, approver, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id.hex(), model.hex(), site.as_str(), approver, created_at],
    )?;
    Ok(())
}

/// The ids (hex, as stored) of the approvals of `model`, oldest first.
pub fn approval_rows(r: &impl Reads, model: &Digest) -> Result<Vec<String>> {
    let mut stmt =
        conn(r).prepare("SELECT id FROM approvals WHERE model = ?1 ORDER BY created_at")?;
    let ids: Vec<String> = stmt
        .query_map([model.hex()], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(ids)
}

/// The approvals of `model`, oldest first.
pub fn approvals_of(r: &impl Reads, model: &Digest) -> Result<Vec<Digest>> {
    digests(
        r,
        "SELECT id FROM approvals WHERE model = ?1 ORDER BY created_at",
        &model.hex(),
    )
}

/// The approvals of `model`, in no particular order (a bundle's contents).
pub fn approvals_any_order(r: &impl Reads, model: &Digest) -> Result<Vec<Digest>> {
    digests(r, "SELECT id FROM approvals WHERE model = ?1", &model.hex())
}

/// The deployment records of `model`, in deployment order.
pub fn deployments_of(r: &impl Reads, model: &Digest) -> Result<Vec<Digest>> {
    digests(
        r,
        "SELECT id FROM deployments WHERE model = ?1 ORDER BY seq",
        &model.hex(),
    )
}

/// The newest deployment record of `slot` (at most one).
pub fn newest_of_slot(r: &impl Reads, slot: &str) -> Result<Vec<Digest>> {
    digests(
        r,
        "SELECT id FROM deployments WHERE slot = ?1 ORDER BY seq DESC LIMIT 1",
        slot,
    )
}

/// The newest deployment record of `slot` as (id, action), if any.
pub fn newest_with_action(r: &impl Reads, slot: &str) -> Result<Option<(String, String)>> {
    Ok(conn(r)
        .query_row(
            "SELECT id, action FROM deployments WHERE slot = ?1 ORDER BY seq DESC LIMIT 1",
            [slot],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// The models `slot` was deployed with (not retirements), newest first,
/// with repeats.
pub fn models_of_slot(r: &impl Reads, slot: &str) -> Result<Vec<Digest>> {
    digests(
        r,
        "SELECT model FROM deployments WHERE slot = ?1 AND action != 'retire' ORDER BY seq DESC",
        slot,
    )
}

/// The newest deployment sequence number (0 before any).
pub fn deployment_seq(r: &impl Reads) -> Result<i64> {
    Ok(
        conn(r).query_row("SELECT COALESCE(MAX(seq), 0) FROM deployments", [], |r| {
            r.get(0)
        })?,
    )
}

/// A deployment row.
#[derive(Clone, Copy, Debug)]
pub struct DeploymentRow<'a> {
    /// The deployment record's id.
    pub id: &'a Digest,
    /// The slot.
    pub slot: &'a str,
    /// The model it puts there.
    pub model: &'a Digest,
    /// When.
    pub created_at: &'a str,
    /// What it does to the slot (`deploy`, `promote`, `rollback`, `retire`).
    pub action: &'a str,
    /// The share of requests (a canary or shadow).
    pub percent: Option<f64>,
}

/// Indexes a deployment as the next in sequence; returns its number.
pub fn insert_deployment(tx: &AuditedTx<'_>, d: &DeploymentRow<'_>) -> Result<i64> {
    let seq: i64 = tx.tx.query_row(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM deployments",
        [],
        |r| r.get(0),
    )?;
    tx.tx.execute(
        "INSERT INTO deployments (id, seq, slot, model, created_at, action, percent) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            d.id.hex(),
            seq,
            d.slot,
            d.model.hex(),
            d.created_at,
            d.action,
            d.percent
        ],
    )?;
    Ok(seq)
}

/// Indexes the signed statement `statement` under `subject` (a sha256,
/// hex), nothing if it is there.
pub fn insert_provenance(tx: &AuditedTx<'_>, subject: &str, statement: &Digest) -> Result<()> {
    tx.tx.execute(
        "INSERT OR IGNORE INTO provenance (subject, statement) VALUES (?1, ?2)",
        params![subject, statement.hex()],
    )?;
    Ok(())
}

/// The ids of the statements about `subject`.
pub fn statements_about(r: &impl Reads, subject: &Digest) -> Result<Vec<Digest>> {
    digests(
        r,
        "SELECT statement FROM provenance WHERE subject = ?1 ORDER BY statement",
        &subject.hex(),
    )
}
