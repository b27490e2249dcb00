//! The SQLite store: the node's index of everything in the vault, its trust
//! list, sequence numbers and the audit log.
//!
//! The store is an index, not the source of truth for content: every record
//! (dataset, feature set, run, gate report, approval, deployment) is a signed
//! JSON document in the vault, and its row here points at it by digest. WAL
//! journalling with `synchronous=FULL` makes every committed transaction
//! durable; a crash mid-command rolls the whole command back.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Error, Result};

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- Peer sites whose bundles this node accepts (airlock trust add).
CREATE TABLE trusted_sites (
    site          TEXT PRIMARY KEY,
    key_id        TEXT NOT NULL UNIQUE,
    signing_key   TEXT NOT NULL,
    age_recipient TEXT NOT NULL,
    added_at      TEXT NOT NULL
) STRICT;

-- Every object held in the vault (content address = SHA-256 of plaintext).
CREATE TABLE objects (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    size       INTEGER NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

-- Signatures over records, by the site that made them.
CREATE TABLE signatures (
    object_id TEXT NOT NULL,
    site      TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (object_id, key_id)
) STRICT;

CREATE TABLE contracts (
    id         TEXT PRIMARY KEY,
    site       TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (site, name, version)
) STRICT;

-- A dataset version: a raw snapshot (vault object, never modified) checked
-- against a contract.
CREATE TABLE datasets (
    id         TEXT PRIMARY KEY,
    site       TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    snapshot   TEXT NOT NULL,
    contract   TEXT NOT NULL,
    rows       INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (site, name, version)
) STRICT;

CREATE TABLE feature_sets (
    id         TEXT PRIMARY KEY,
    site       TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    dataset    TEXT NOT NULL,
    width      INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (site, name, version)
) STRICT;

-- A model is identified by its signed run record.
CREATE TABLE models (
    id          TEXT PRIMARY KEY,
    site        TEXT NOT NULL,
    name        TEXT NOT NULL,
    arch        TEXT NOT NULL,
    dataset     TEXT NOT NULL,
    feature_set TEXT NOT NULL,
    weights     TEXT NOT NULL,
    metrics     TEXT NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;

CREATE TABLE gates (
    id         TEXT PRIMARY KEY,
    model      TEXT NOT NULL,
    site       TEXT NOT NULL,
    passed     INTEGER NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE approvals (
    id         TEXT PRIMARY KEY,
    model      TEXT NOT NULL,
    site       TEXT NOT NULL,
    approver   TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE deployments (
    id         TEXT PRIMARY KEY,
    seq        INTEGER NOT NULL UNIQUE,
    slot       TEXT NOT NULL,
    model      TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

-- Highest bundle sequence number accepted from each origin site (replay and
-- rollback protection).
CREATE TABLE peer_sequences (
    site        TEXT PRIMARY KEY,
    sequence    INTEGER NOT NULL,
    bundle      TEXT NOT NULL,
    imported_at TEXT NOT NULL
) STRICT;

-- Trust policies applied, by version; the highest is in force. Each is a
-- root-signed document in the vault.
CREATE TABLE policies (
    version    INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    applied_at TEXT NOT NULL
) STRICT;

-- Peer keys a policy took off the trust list without revoking them: what
-- they signed before stays verifiable; their new bundles are refused.
CREATE TABLE retired_keys (
    key_id      TEXT PRIMARY KEY,
    site        TEXT NOT NULL,
    signing_key TEXT NOT NULL,
    retired_at  TEXT NOT NULL
) STRICT;

-- Keys revoked by a policy: nothing they signed is accepted, ever.
CREATE TABLE revoked_keys (
    key_id         TEXT PRIMARY KEY,
    policy_version INTEGER NOT NULL
) STRICT;

-- Operator keys made on this node (sealed in HOME/operators/NAME.key);
-- `cert` is the site-signed certificate in the vault.
CREATE TABLE operators (
    name       TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL UNIQUE,
    public_key TEXT NOT NULL,
    cert       TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

-- Provenance statements (vault records) by subject digest.
CREATE TABLE provenance (
    subject   TEXT NOT NULL,
    statement TEXT NOT NULL,
    PRIMARY KEY (subject, statement)
) STRICT;

-- Append-only, hash-chained, signed audit log.
CREATE TABLE audit (
    seq       INTEGER PRIMARY KEY,
    time      TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subjects  TEXT NOT NULL,
    details   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL,
    signature TEXT NOT NULL
) STRICT;
"#;

fn configure(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(())
}

/// Creates a new store at `path` with the schema and the site's metadata.
pub fn create(path: &Path, meta: &[(&str, String)]) -> Result<Connection> {
    let mut conn = Connection::open(path)?;
    configure(&conn)?;
    let tx = conn.transaction()?;
    tx.execute_batch(SCHEMA)?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
        params![SCHEMA_VERSION.to_string()],
    )?;
    for (k, v) in meta {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)",
            params![k, v],
        )?;
    }
    tx.commit()?;
    Ok(conn)
}

/// Opens an existing store, refusing one of another schema version.
pub fn open(path: &Path) -> Result<Connection> {
    if !path.exists() {
        return Err(Error::NotFound(format!(
            "no Airlock store at {} (run `airlock init --site NAME` first, or pass the right --home)",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
            // A store reached through a link is not this home's (`Home::open`).
            | rusqlite::OpenFlags::SQLITE_OPEN_NOFOLLOW,
    )?;
    configure(&conn)?;
    let version: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    match version.as_deref() {
        Some(v) if v == SCHEMA_VERSION.to_string() => Ok(conn),
        other => Err(Error::Integrity(format!(
            "store {}: schema version {:?}, this airlock reads version {SCHEMA_VERSION}",
            path.display(),
            other
        ))),
    }
}

/// Reads a metadata value.
pub fn meta(conn: &Connection, key: &str) -> Result<String> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::Integrity(format!("store metadata {key:?} is missing")))
}

/// Sets a metadata value.
pub fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}
