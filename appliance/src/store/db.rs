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
use crate::store::{AuditedTx, Reads, Store, conn as conn_of};

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: i64 = 4;

/// The oldest schema version [`upgrade`] brings up to [`SCHEMA_VERSION`].
pub const UPGRADABLE_FROM: i64 = 2;

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

-- Every object held in the vault (content address = SHA-256 of plaintext),
-- by (digest, kind): a signature covers both, so the same bytes may be held
-- under several kinds, each with its own signatures.
CREATE TABLE objects (
    id         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    size       INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (id, kind)
) STRICT;

-- Signatures over (kind, digest), by the sites that made the object.
CREATE TABLE signatures (
    object_id TEXT NOT NULL,
    kind      TEXT NOT NULL,
    site      TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (object_id, kind, key_id)
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
    created_at TEXT NOT NULL,
    -- deploy, promote, rollback (the slot serves `model`) or retire (the slot is empty).
    action     TEXT NOT NULL DEFAULT 'deploy',
    -- canary and shadow: the share of requests, in percent.
    percent    REAL
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
pub fn create(path: &Path, meta: &[(&str, String)]) -> Result<Store> {
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
    Ok(Store::new(conn))
}

/// Version 2 to 3: objects and their signatures are indexed by (digest,
/// kind), no longer by digest alone. Every signature row takes the kind of
/// its object's row.
const UPGRADE_2_TO_3: &str = r#"
CREATE TABLE objects_v3 (
    id         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    size       INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (id, kind)
) STRICT;
INSERT INTO objects_v3 (id, kind, size, created_at) SELECT id, kind, size, created_at FROM objects;
CREATE TABLE signatures_v3 (
    object_id TEXT NOT NULL,
    kind      TEXT NOT NULL,
    site      TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (object_id, kind, key_id)
) STRICT;
INSERT INTO signatures_v3 (object_id, kind, site, key_id, signature)
    SELECT s.object_id, o.kind, s.site, s.key_id, s.signature
    FROM signatures s JOIN objects o ON o.id = s.object_id;
DROP TABLE signatures;
DROP TABLE objects;
ALTER TABLE objects_v3 RENAME TO objects;
ALTER TABLE signatures_v3 RENAME TO signatures;
UPDATE meta SET value = '3' WHERE key = 'schema_version';
"#;

/// Schema 4: deployments say what each record did to its slot (a retired canary leaves the
/// slot empty) and the share of requests a canary or shadow takes.
const UPGRADE_3_TO_4: &str = r#"
ALTER TABLE deployments ADD COLUMN action TEXT NOT NULL DEFAULT 'deploy';
ALTER TABLE deployments ADD COLUMN percent REAL;
UPDATE meta SET value = '4' WHERE key = 'schema_version';
"#;

fn schema_version(conn: &Connection) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?)
}

/// Brings a store of an older schema version (from [`UPGRADABLE_FROM`]) up
/// to [`SCHEMA_VERSION`] inside `tx`, which the caller commits with the
/// audit record of the upgrade (`Home::open`: an `IMMEDIATE` audited
/// transaction, [`crate::store::AuditedTx`]). Returns the old version, or
/// `None` for a store that is already current (nothing written).
pub fn upgrade(tx: &AuditedTx<'_>) -> Result<Option<i64>> {
    upgrade_in(&tx.tx)
}

fn upgrade_in(tx: &rusqlite::Transaction<'_>) -> Result<Option<i64>> {
    let from = match schema_version(tx)?.as_deref() {
        Some("2") => 2,
        Some("3") => {
            tx.execute_batch(UPGRADE_3_TO_4)?;
            return Ok(Some(3));
        }
        _ => return Ok(None),
    };
    // A signature row of no indexed object has no kind to take: the store
    // was altered, and dropping the row silently would hide it.
    let orphans: i64 = tx.query_row(
        "SELECT COUNT(*) FROM signatures WHERE object_id NOT IN (SELECT id FROM objects)",
        [],
        |r| r.get(0),
    )?;
    if orphans > 0 {
        return Err(Error::Integrity(format!(
            "store schema upgrade from version {from}: {orphans} signature row(s) name no indexed object; the store was altered"
        )));
    }
    tx.execute_batch(UPGRADE_2_TO_3)?;
    tx.execute_batch(UPGRADE_3_TO_4)?;
    Ok(Some(from))
}

/// Opens an existing store, refusing one of another schema version than
/// this build's or one [`upgrade`] brings up to it.
pub fn open(path: &Path) -> Result<Store> {
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
    check_schema(&conn, path)?;
    Ok(Store::new(conn))
}

/// Opens an existing store for reading only, for commands that change nothing: they must
/// work on a full disk, where SQLite cannot grow the `-shm` file a WAL reader needs. Between
/// commands the WAL is empty (the last connection merges it on close): then the database
/// file is the whole store, and SQLite's `immutable` mode reads it with no `-shm`, no `-wal`
/// and no locks, which is sound because the caller holds the home's lock and every writer
/// takes it. A WAL still holding changes (a command was killed) is read the usual way, which
/// needs a little free space. Either way no write reaches the store.
pub fn open_read_only(path: &Path) -> Result<Store> {
    if !path.exists() {
        return Err(Error::NotFound(format!(
            "no Airlock store at {} (run `airlock init --site NAME` first, or pass the right --home)",
            path.display()
        )));
    }
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal = std::path::PathBuf::from(wal);
    let wal_empty = match std::fs::metadata(&wal) {
        Ok(m) => m.len() == 0,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(Error::io(&wal, e)),
    };
    use rusqlite::OpenFlags as F;
    let flags = F::SQLITE_OPEN_READ_ONLY | F::SQLITE_OPEN_NO_MUTEX;
    let conn = if wal_empty {
        Connection::open_with_flags(immutable_uri(path), flags | F::SQLITE_OPEN_URI)?
    } else {
        Connection::open_with_flags(path, flags)?
    };
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    check_schema(&conn, path).map_err(|e| match e {
        Error::Store(e) if !wal_empty => Error::io(
            &wal,
            std::io::Error::other(format!(
                "{e}; it holds changes a killed command left, and reading them needs some free space"
            )),
        ),
        other => other,
    })?;
    Ok(Store::new(conn))
}

/// `file:PATH?immutable=1`, the path percent-encoded as SQLite's URI parser expects.
fn immutable_uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file:");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// Whether the store is of this build's schema (`false`: one [`upgrade`] brings up to it).
pub fn is_current(r: &impl Reads) -> Result<bool> {
    Ok(schema_version(conn_of(r))?.as_deref() == Some(SCHEMA_VERSION.to_string().as_str()))
}

fn check_schema(conn: &Connection, path: &Path) -> Result<()> {
    let version = schema_version(conn)?;
    match version.as_deref() {
        Some(v) if (UPGRADABLE_FROM..=SCHEMA_VERSION).any(|n| v == n.to_string()) => Ok(()),
        other => Err(Error::Integrity(format!(
            "store {}: schema version {:?}, this airlock reads version {SCHEMA_VERSION} (and upgrades versions {UPGRADABLE_FROM} and up)",
            path.display(),
            other
        ))),
    }
}

/// Reads a metadata value.
pub fn meta(r: &impl Reads, key: &str) -> Result<String> {
    conn_of(r)
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::Integrity(format!("store metadata {key:?} is missing")))
}

/// Sets a metadata value, inside the write `tx`.
pub fn set_meta(tx: &AuditedTx<'_>, key: &str, value: &str) -> Result<()> {
    put_meta(&tx.tx, key, value)
}

fn put_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// Takes the store at `path` back to the version 2 layout (objects and signatures by digest
/// alone, deployments without action and share), for the tests of the upgrade at open.
#[cfg(test)]
pub(crate) fn downgrade_to_version_2(path: &Path) {
    Connection::open(path)
        .expect("store")
        .execute_batch(
            "CREATE TABLE o2 (id TEXT PRIMARY KEY, kind TEXT NOT NULL, size INTEGER NOT NULL, created_at TEXT NOT NULL) STRICT;
                 INSERT INTO o2 SELECT id, kind, size, created_at FROM objects;
                 CREATE TABLE s2 (object_id TEXT NOT NULL, site TEXT NOT NULL, key_id TEXT NOT NULL, signature TEXT NOT NULL,
                                  PRIMARY KEY (object_id, key_id)) STRICT;
                 INSERT INTO s2 SELECT object_id, site, key_id, signature FROM signatures;
                 DROP TABLE signatures; DROP TABLE objects;
                 ALTER TABLE o2 RENAME TO objects; ALTER TABLE s2 RENAME TO signatures;
                 ALTER TABLE deployments DROP COLUMN action; ALTER TABLE deployments DROP COLUMN percent;
                 UPDATE meta SET value = '2' WHERE key = 'schema_version';",
        )
        .expect("downgrade");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The version 2 tables that [`upgrade`] changes, and its metadata.
    const SCHEMA_2: &str = r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE objects (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, size INTEGER NOT NULL, created_at TEXT NOT NULL
) STRICT;
CREATE TABLE signatures (
    object_id TEXT NOT NULL, site TEXT NOT NULL, key_id TEXT NOT NULL, signature TEXT NOT NULL,
    PRIMARY KEY (object_id, key_id)
) STRICT;
CREATE TABLE deployments (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, slot TEXT NOT NULL, model TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
INSERT INTO meta (key, value) VALUES ('schema_version', '2');
INSERT INTO deployments VALUES ('dd', 1, 'production', 'aa', 't');
INSERT INTO objects VALUES ('aa', 'run', 10, 't'), ('bb', 'weights', 20, 't');
INSERT INTO signatures VALUES ('aa', 'lab', 'k1', 's1'), ('bb', 'lab', 'k1', 's2');
"#;

    fn store_v2(dir: &Path, extra: &str) -> std::path::PathBuf {
        let path = dir.join("store.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(SCHEMA_2).expect("schema 2");
        conn.execute_batch(extra).expect("extra");
        path
    }

    #[test]
    fn a_version_2_store_is_upgraded_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = open(&store_v2(dir.path(), ""))
            .expect("version 2 opens")
            .conn;
        let tx = conn.transaction().expect("tx");
        let from = upgrade_in(&tx).expect("upgrade");
        tx.commit().expect("commit");
        assert_eq!(from, Some(2));
        assert_eq!(meta(&conn, "schema_version").expect("v"), "4");
        // An existing deployment keeps its slot and model, as a plain deploy.
        let dep: (String, String, Option<f64>) = conn
            .query_row("SELECT model, action, percent FROM deployments", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .expect("deployment row");
        assert_eq!(dep, ("aa".into(), "deploy".into(), None));
        let sigs: Vec<(String, String, String)> = conn
            .prepare("SELECT object_id, kind, signature FROM signatures ORDER BY object_id")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(
            sigs,
            [
                ("aa".into(), "run".into(), "s1".into()),
                ("bb".into(), "weights".into(), "s2".into())
            ]
        );
        // The same bytes under another kind, with a signature of their own.
        conn.execute("INSERT INTO objects VALUES ('aa', 'snapshot', 10, 't')", [])
            .expect("a second kind");
        conn.execute(
            "INSERT INTO signatures VALUES ('aa', 'snapshot', 'depot', 'k2', 's3')",
            [],
        )
        .expect("its signature");
        let tx = conn.transaction().expect("tx");
        assert_eq!(upgrade_in(&tx).expect("current"), None);
    }

    #[test]
    fn an_upgrade_refuses_signatures_of_no_object_and_changes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = store_v2(
            dir.path(),
            "INSERT INTO signatures VALUES ('cc', 'lab', 'k1', 's3');",
        );
        let mut conn = open(&path).expect("open").conn;
        let err = upgrade_in(&conn.transaction().expect("tx")).expect_err("orphan signature");
        assert!(err.to_string().contains("name no indexed object"), "{err}");
        assert_eq!(meta(&conn, "schema_version").expect("v"), "2");
    }

    #[test]
    fn other_schema_versions_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = store_v2(dir.path(), "UPDATE meta SET value = '1';");
        let err = open(&path).expect_err("version 1");
        assert!(err.to_string().contains("schema version"), "{err}");
    }

    #[test]
    fn a_read_only_store_reads_without_writing_whatever_its_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Characters SQLite's URI parser would otherwise take as syntax.
        let folder = dir.path().join("a b?c%d#e");
        std::fs::create_dir(&folder).expect("mkdir");
        let path = folder.join("store.db");
        drop(create(&path, &[("site", "lab".into())]).expect("create"));
        assert!(immutable_uri(&path).ends_with("/a%20b%3Fc%25d%23e/store.db?immutable=1"));
        let conn = open_read_only(&path).expect("open read-only").conn;
        assert_eq!(meta(&conn, "site").expect("meta"), "lab");
        let err = put_meta(&conn, "site", "plant").expect_err("a write");
        assert!(err.to_string().contains("readonly"), "{err}");
        drop(conn);
        let names: Vec<_> = std::fs::read_dir(&folder)
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["store.db"], "no -wal or -shm made");
    }
}
