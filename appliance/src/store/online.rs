//! `online.db`'s SQL: the online store's tables (one per materialized
//! feature set version, the `versions` and `current` pointers), its bulk
//! load and its lookups. What goes into the rows (the transform, the entity
//! keys) is `crate::ops::online`'s.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::error::{Error, Result};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS versions (
    feature_set     TEXT PRIMARY KEY,
    site            TEXT NOT NULL,
    name            TEXT NOT NULL,
    version         INTEGER NOT NULL,
    tbl             TEXT NOT NULL,
    dataset         TEXT NOT NULL,
    entities        INTEGER NOT NULL,
    entity_type     TEXT NOT NULL,
    width           INTEGER NOT NULL,
    materialized_at TEXT NOT NULL,
    UNIQUE (site, name, version)
) STRICT;
CREATE TABLE IF NOT EXISTS current (
    site        TEXT NOT NULL,
    name        TEXT NOT NULL,
    feature_set TEXT NOT NULL,
    PRIMARY KEY (site, name)
) STRICT;
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
";

fn open_rw(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// A table name read back from `online.db`, checked to be one this module
/// makes (`v` + 16 hex digits + `_` + a number) before it goes into SQL.
fn table_name(name: &str) -> Result<&str> {
    let ok = name.len() > 18
        && name.starts_with('v')
        && name[1..17].bytes().all(|b| b.is_ascii_hexdigit())
        && name.as_bytes()[17] == b'_'
        && name[18..].bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(name)
    } else {
        Err(Error::Integrity(format!(
            "online store: table name {name:?} is not one Airlock makes; online.db was altered"
        )))
    }
}

/// Rows on their way from the reading thread to the writing one: row
/// numbers, event times, and the keys and vectors laid end to end. Batches
/// go back to the reader to be refilled, so the load allocates a handful of
/// them, not one buffer per row.
#[derive(Debug, Default)]
pub struct Batch {
    /// Row number, event time, end of the key in `keys`, end of the vector
    /// in `blobs`.
    pub rows: Vec<(i64, i64, usize, usize)>,
    /// The entity keys, end to end.
    pub keys: String,
    /// The vectors (little-endian `f32`s), end to end.
    pub blobs: Vec<u8>,
}

impl Batch {
    /// Empties the batch, keeping its buffers.
    pub fn clear(&mut self) {
        self.rows.clear();
        self.keys.clear();
        self.blobs.clear();
    }
}

/// A message to the writing thread.
#[derive(Debug)]
pub enum Load {
    /// Rows to append.
    Rows(Batch),
    /// Every row was read: the writer may commit.
    Done,
}

/// What the writing thread needs besides the rows.
#[derive(Clone, Debug)]
pub struct Target {
    /// The feature set version's id (hex).
    pub feature_set: String,
    /// Its site.
    pub site: String,
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: i64,
    /// The dataset the rows come from (hex).
    pub dataset: String,
    /// The entity column's type.
    pub entity_type: &'static str,
    /// Vector width.
    pub width: i64,
    /// The time of the materialization.
    pub now: String,
}

/// The writing thread: one transaction on the online store at `path` that
/// makes the fresh table, loads it from `rx`, indexes it, points the
/// version at it and drops the table it replaces; it commits only after
/// [`Load::Done`]. Returns the table and the entities written, or `None`
/// (and writes nothing) when the reader stopped before it was done.
///
/// A bulk load: every row is appended in file order to a rowid table
/// (the row number is the rowid, so each insert lands at the B-tree's right
/// edge), through one prepared statement. Only then are the rows an entity
/// has newer ones for deleted (one sort of the keys, inside SQLite) and the
/// unique entity index built (one more sort). The common case of one row
/// per entity skips the delete: the unique index is tried first, and a
/// duplicate key fails that one statement only.
pub fn write_table(
    path: &Path,
    t: &Target,
    rx: &std::sync::mpsc::Receiver<Load>,
    back: &std::sync::mpsc::SyncSender<Batch>,
) -> Result<Option<(String, i64)>> {
    let mut conn = open_rw(path)?;
    let tx = conn.transaction()?;
    let seq: i64 = tx
        .query_row("SELECT value FROM meta WHERE key = 'seq'", [], |r| {
            r.get::<_, String>(0)
        })
        .optional()?
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
        + 1;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('seq', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [seq.to_string()],
    )?;
    let table = format!("v{}_{seq}", &t.feature_set[..16]);
    tx.execute_batch(&format!(
        "CREATE TABLE {table} (row INTEGER PRIMARY KEY, entity TEXT NOT NULL, event_time INTEGER NOT NULL, vector BLOB NOT NULL) STRICT"
    ))?;
    let mut rows = 0u64;
    {
        let mut insert = tx.prepare(&format!(
            "INSERT INTO {table} (row, entity, event_time, vector) VALUES (?1, ?2, ?3, ?4)"
        ))?;
        loop {
            let batch = match rx.recv() {
                Ok(Load::Rows(b)) => b,
                Ok(Load::Done) => break,
                // The reader stopped without finishing (its error is the
                // one reported): roll back.
                Err(_) => return Ok(None),
            };
            let (mut k0, mut b0) = (0, 0);
            for &(n, time, k1, b1) in &batch.rows {
                insert.execute(params![n, &batch.keys[k0..k1], time, &batch.blobs[b0..b1]])?;
                (k0, b0) = (k1, b1);
            }
            rows += batch.rows.len() as u64;
            // The reader may have finished and gone: then the batch is freed.
            let _ = back.try_send(batch);
        }
    }
    let index = format!("CREATE UNIQUE INDEX {table}_entity ON {table} (entity)");
    let entities = match tx.execute_batch(&index) {
        Ok(()) => rows as i64,
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            // Some entity has several rows: keep the one with the latest
            // event time (the last in file order among equal times).
            let dropped = tx.execute(
                &format!(
                    "DELETE FROM {table} WHERE row IN (
                       SELECT row FROM (
                         SELECT row, row_number() OVER (PARTITION BY entity ORDER BY event_time DESC, row DESC) AS rank
                         FROM {table})
                       WHERE rank > 1)"
                ),
                [],
            )?;
            tx.execute_batch(&index)?;
            rows as i64 - dropped as i64
        }
        Err(e) => return Err(e.into()),
    };
    let old: Option<String> = tx
        .query_row(
            "SELECT tbl FROM versions WHERE feature_set = ?1",
            [&t.feature_set],
            |r| r.get(0),
        )
        .optional()?;
    tx.execute(
        "INSERT INTO versions (feature_set, site, name, version, tbl, dataset, entities, entity_type, width, materialized_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?10, ?8, ?9)
         ON CONFLICT(feature_set) DO UPDATE SET tbl = excluded.tbl, dataset = excluded.dataset,
           entities = excluded.entities, entity_type = excluded.entity_type, materialized_at = excluded.materialized_at",
        params![
            t.feature_set,
            t.site,
            t.name,
            t.version,
            table,
            t.dataset,
            entities,
            t.width,
            t.now,
            t.entity_type
        ],
    )?;
    tx.execute(
        "INSERT INTO current (site, name, feature_set) VALUES (?1, ?2, ?3)
         ON CONFLICT(site, name) DO UPDATE SET feature_set = excluded.feature_set",
        params![t.site, t.name, t.feature_set],
    )?;
    if let Some(old) = old {
        tx.execute_batch(&format!("DROP TABLE IF EXISTS {}", table_name(&old)?))?;
    }
    // The audit record goes into the node's store; the online table is
    // committed first (it is derived data: a crash between the two leaves
    // a materialization without its record, which the next run replaces).
    crate::node::failpoint::hit("materialize.loaded");
    tx.commit()?;
    Ok(Some((table, entities)))
}

/// A feature set version's row in `versions`.
#[derive(Clone, Debug)]
pub struct VersionRow {
    /// The feature set version's id (hex).
    pub feature_set: String,
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: i64,
    /// Entities held.
    pub entities: i64,
    /// Vector width.
    pub width: i64,
    /// When it was written.
    pub materialized_at: String,
    /// Its table.
    pub table: String,
    /// The entity column's type.
    pub entity_type: String,
}

/// The online store opened read-only, for lookups.
pub struct OnlineDb {
    conn: Connection,
}

impl std::fmt::Debug for OnlineDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnlineDb")
    }
}

impl OnlineDb {
    /// Opens the online store at `path`, read-only.
    pub fn open(path: &Path) -> Result<OnlineDb> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(OnlineDb { conn })
    }

    /// The id of feature set `name` (at `site`, if given): of `version`, or
    /// the newest materialized one.
    pub fn find(
        &self,
        name: &str,
        version: Option<i64>,
        site: Option<&str>,
    ) -> Result<Option<String>> {
        Ok(match version {
            Some(v) => self
                .conn
                .query_row(
                    "SELECT feature_set FROM versions WHERE name = ?1 AND version = ?2 AND (?3 IS NULL OR site = ?3)",
                    params![name, v, site],
                    |r| r.get(0),
                )
                .optional()?,
            None => self
                .conn
                .query_row(
                    "SELECT feature_set FROM current WHERE name = ?1 AND (?2 IS NULL OR site = ?2)",
                    params![name, site],
                    |r| r.get(0),
                )
                .optional()?,
        })
    }

    /// The `versions` row of feature set version `id`.
    pub fn version(&self, id: String) -> Result<VersionRow> {
        Ok(self.conn.query_row(
            "SELECT feature_set, name, version, entities, width, materialized_at, tbl, entity_type FROM versions WHERE feature_set = ?1",
            [id],
            |r| {
                Ok(VersionRow {
                    feature_set: r.get(0)?,
                    name: r.get(1)?,
                    version: r.get(2)?,
                    entities: r.get(3)?,
                    width: r.get(4)?,
                    materialized_at: r.get(5)?,
                    table: r.get(6)?,
                    entity_type: r.get(7)?,
                })
            },
        )?)
    }

    /// The row of `entity` in `table` (of feature set version
    /// `feature_set`) as (event time, row number, vector bytes), or `None`.
    /// If the version was materialized again since `table` was found, the
    /// new table is read.
    pub fn lookup(
        &self,
        table: &str,
        feature_set: &str,
        entity: &str,
    ) -> Result<Option<(i64, i64, Vec<u8>)>> {
        match self.get_in(table_name(table)?, entity) {
            Err(rusqlite::Error::SqliteFailure(_, Some(m))) if m.contains("no such table") => {
                let now: String = self.conn.query_row(
                    "SELECT tbl FROM versions WHERE feature_set = ?1",
                    [feature_set],
                    |r| r.get(0),
                )?;
                Ok(self.get_in(table_name(&now)?, entity)?)
            }
            other => Ok(other?),
        }
    }

    fn get_in(&self, table: &str, entity: &str) -> rusqlite::Result<Option<(i64, i64, Vec<u8>)>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT event_time, row, vector FROM {table} WHERE entity = ?1"
        ))?;
        stmt.query_row([entity], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })
        .optional()
    }
}
