//! The prediction log and the index of the sampled request log: the store's tables for what
//! a deployed model answered (issue 17), and all of their SQL.
//!
//! **The prediction log** holds, per answered request of a model whose contract names an
//! entity (or key) column: the model, the slot, the request's entity key, the time, the score
//! and the predicted class. It holds entity keys and scores, never feature values, so that
//! labels arriving later can be joined to what was predicted (`airlock::ops::monitor::accuracy`). It is
//! keyed data about requests: it stays in this store, bounded by the monitoring policy's
//! retention (rows and age, pruned on every write), and no bundle carries it.
//!
//! **The request log index** lists the sampled request log's batches (each an encrypted vault
//! object of kind `request-log`): model, slot, window, how many requests.
//!
//! The tables are created on first write (`CREATE TABLE IF NOT EXISTS`), so stores made before
//! them need no schema upgrade; a reader of a store without them sees empty logs.

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::Reads;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::store::AuditedTx;

const TABLES: &str = r#"
CREATE TABLE IF NOT EXISTS predictions (
    seq    INTEGER PRIMARY KEY,
    model  TEXT NOT NULL,
    slot   TEXT NOT NULL,
    entity TEXT NOT NULL,
    at     INTEGER NOT NULL,
    score  REAL,
    class  TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS predictions_by_model ON predictions (model, entity, at);
CREATE TABLE IF NOT EXISTS request_log (
    id       TEXT PRIMARY KEY,
    model    TEXT NOT NULL,
    slot     TEXT NOT NULL,
    start    INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    stored   INTEGER NOT NULL
) STRICT;
"#;

/// One row of the prediction log.
#[derive(Clone, Debug, PartialEq)]
pub struct PredictionRow {
    /// The model that answered.
    pub model: Digest,
    /// Its slot.
    pub slot: String,
    /// The request's entity key.
    pub entity: String,
    /// When, seconds since the epoch.
    pub at: i64,
    /// The score given.
    pub score: Option<f64>,
    /// The class given.
    pub class: Option<String>,
}

fn ensure(tx: &AuditedTx<'_>) -> Result<()> {
    tx.tx.execute_batch(TABLES)?;
    Ok(())
}

fn has_table(conn: &Connection, name: &str) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Appends `rows` to the prediction log. Returns how many.
pub fn insert(tx: &AuditedTx<'_>, rows: &[PredictionRow]) -> Result<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    ensure(tx)?;
    let mut stmt = tx.tx.prepare(
        "INSERT INTO predictions (model, slot, entity, at, score, class) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for r in rows {
        stmt.execute(params![
            r.model.hex(),
            r.slot,
            r.entity,
            r.at,
            r.score,
            r.class
        ])?;
    }
    Ok(rows.len())
}

/// Prunes the prediction log to its retention: rows made before `oldest`, then all but the
/// newest `max_rows`. Returns how many rows went.
pub fn prune(tx: &AuditedTx<'_>, oldest: i64, max_rows: u64) -> Result<u64> {
    if !has_table(&tx.tx, "predictions")? {
        return Ok(0);
    }
    let mut gone = tx
        .tx
        .execute("DELETE FROM predictions WHERE at < ?1", [oldest])?;
    gone += tx.tx.execute(
        "DELETE FROM predictions WHERE seq <= (SELECT seq FROM predictions ORDER BY seq DESC LIMIT 1 OFFSET ?1)",
        [i64::try_from(max_rows).unwrap_or(i64::MAX)],
    )?;
    Ok(gone as u64)
}

/// Rows of the prediction log held.
pub fn count(r: &impl Reads) -> Result<u64> {
    let conn = super::conn(r);
    if !has_table(conn, "predictions")? {
        return Ok(0);
    }
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM predictions", [], |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

/// Every logged prediction of `model`, oldest first.
pub fn of_model(r: &impl Reads, model: &Digest) -> Result<Vec<PredictionRow>> {
    let conn = super::conn(r);
    if !has_table(conn, "predictions")? {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(
        "SELECT model, slot, entity, at, score, class FROM predictions WHERE model = ?1 ORDER BY at, seq",
    )?;
    let rows = stmt
        .query_map([model.hex()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<f64>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(m, slot, entity, at, score, class)| {
            Ok(PredictionRow {
                model: m
                    .parse()
                    .map_err(|e| Error::Integrity(format!("predictions: {e}")))?,
                slot,
                entity,
                at,
                score,
                class,
            })
        })
        .collect()
}

/// One batch of the sampled request log, as indexed.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestBatch {
    /// The vault object holding the batch (encrypted like every object).
    pub id: Digest,
    /// The model.
    pub model: Digest,
    /// Its slot.
    pub slot: String,
    /// The start of the window the requests arrived in.
    pub start: i64,
    /// Requests in the batch.
    pub requests: u64,
    /// When it was stored.
    pub stored: i64,
}

/// Indexes a stored batch of the request log.
pub fn add_batch(tx: &AuditedTx<'_>, b: &RequestBatch) -> Result<()> {
    ensure(tx)?;
    tx.tx.execute(
        "INSERT OR IGNORE INTO request_log (id, model, slot, start, requests, stored) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            b.id.hex(),
            b.model.hex(),
            b.slot,
            b.start,
            i64::try_from(b.requests).unwrap_or(i64::MAX),
            b.stored
        ],
    )?;
    Ok(())
}

/// Every indexed batch, oldest first.
pub fn batches(r: &impl Reads) -> Result<Vec<RequestBatch>> {
    let conn = super::conn(r);
    if !has_table(conn, "request_log")? {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(
        "SELECT id, model, slot, start, requests, stored FROM request_log ORDER BY stored, start, id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let bad = |e: crate::digest::BadDigest| Error::Integrity(format!("request_log: {e}"));
    rows.into_iter()
        .map(|(id, model, slot, start, requests, stored)| {
            Ok(RequestBatch {
                id: id.parse().map_err(bad)?,
                model: model.parse().map_err(bad)?,
                slot,
                start,
                requests: requests.max(0) as u64,
                stored,
            })
        })
        .collect()
}

/// Forgets a batch: its index row, and its object's row and signatures as a `request-log`.
/// Whether another kind still holds the same bytes (then the file stays).
pub fn drop_batch(tx: &AuditedTx<'_>, id: &Digest) -> Result<bool> {
    tx.tx
        .execute("DELETE FROM request_log WHERE id = ?1", [id.hex()])?;
    tx.tx.execute(
        "DELETE FROM signatures WHERE object_id = ?1 AND kind = 'request-log'",
        [id.hex()],
    )?;
    tx.tx.execute(
        "DELETE FROM objects WHERE id = ?1 AND kind = 'request-log'",
        [id.hex()],
    )?;
    let others: i64 = tx.tx.query_row(
        "SELECT COUNT(*) FROM objects WHERE id = ?1",
        [id.hex()],
        |r| r.get(0),
    )?;
    Ok(others > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::home::Home;
    use crate::store::AuditEntry;

    fn row(entity: &str, at: i64) -> PredictionRow {
        PredictionRow {
            model: Digest::of(b"model"),
            slot: "production".into(),
            entity: entity.into(),
            at,
            score: Some(0.25),
            class: Some("0".into()),
        }
    }

    #[test]
    fn the_prediction_log_is_pruned_by_age_then_to_its_newest_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut home =
            Home::init(&dir.path().join("h"), "lab".parse().expect("site")).expect("init");
        // A store without the table reads as an empty log.
        assert_eq!(count(home.store()).expect("count"), 0);
        assert!(
            of_model(home.store(), &Digest::of(b"model"))
                .expect("rows")
                .is_empty()
        );
        let tx = home.begin().expect("begin");
        let rows: Vec<PredictionRow> = (0..10).map(|i| row(&format!("e{i}"), 100 + i)).collect();
        assert_eq!(insert(&tx, &rows).expect("insert"), 10);
        // Older than 103: 3 rows go; then all but the newest 4.
        assert_eq!(prune(&tx, 103, 4).expect("prune"), 3 + 3);
        tx.commit(AuditEntry::new("test.log", &[], serde_json::json!({})))
            .expect("commit");
        let kept = of_model(home.store(), &Digest::of(b"model")).expect("rows");
        assert_eq!(
            kept.iter().map(|r| r.at).collect::<Vec<_>>(),
            [106, 107, 108, 109]
        );
        assert_eq!(kept[0], row("e6", 106));
        assert_eq!(count(home.store()).expect("count"), 4);
    }
}
