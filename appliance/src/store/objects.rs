//! The registry's rows: objects indexed by (digest, kind), the signatures
//! over them, and the lookups by name, version and id prefix that every
//! versioned table shares. What the rows mean (which keys are trusted, what
//! a record may be loaded as) is `crate::vault::registry`'s.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::site::SiteName;
use crate::store::{AuditedTx, Reads, conn};
use airlock_core::object::{Attestation, Kind};

/// Indexes an object already in the vault as a `kind` (the same bytes may
/// be held under other kinds too).
pub fn index_object(tx: &AuditedTx<'_>, id: &Digest, kind: Kind, size: u64) -> Result<()> {
    tx.tx.execute(
        "INSERT OR IGNORE INTO objects (id, kind, size, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![id.hex(), kind.as_str(), size as i64, tx.now().to_string()],
    )?;
    Ok(())
}

/// Records a signature over (`kind`, `id`).
pub fn add_attestation(
    tx: &AuditedTx<'_>,
    id: &Digest,
    kind: Kind,
    att: &Attestation,
) -> Result<()> {
    tx.tx.execute(
        "INSERT OR IGNORE INTO signatures (object_id, kind, site, key_id, signature) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id.hex(), kind.as_str(), att.site.as_str(), att.key_id, att.signature],
    )?;
    Ok(())
}

/// The size of object `id` if this node holds it as a `kind`.
pub fn held_as(r: &impl Reads, id: &Digest, kind: Kind) -> Result<Option<u64>> {
    let size: Option<i64> = conn(r)
        .query_row(
            "SELECT size FROM objects WHERE id = ?1 AND kind = ?2",
            params![id.hex(), kind.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(size.map(|s| s as u64))
}

/// Whether the bytes `id` are indexed under any kind (the vault's recovery
/// keeps them; an object no row names was never committed).
pub fn is_indexed(r: &impl Reads, id: &Digest) -> Result<bool> {
    Ok(conn(r)
        .query_row(
            "SELECT 1 FROM objects WHERE id = ?1",
            [id.hex()],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// The kinds under which this node holds the bytes `id` (none if it does
/// not hold them).
pub fn kinds_held(r: &impl Reads, id: &Digest) -> Result<Vec<Kind>> {
    let mut stmt = conn(r).prepare("SELECT kind FROM objects WHERE id = ?1 ORDER BY kind")?;
    let kinds: Vec<String> = stmt
        .query_map([id.hex()], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    kinds
        .iter()
        .map(|k| k.parse().map_err(Error::from))
        .collect()
}

/// The signatures recorded over (`kind`, `id`).
pub fn attestations(r: &impl Reads, id: &Digest, kind: Kind) -> Result<Vec<Attestation>> {
    let mut stmt = conn(r).prepare(
        "SELECT site, key_id, signature FROM signatures WHERE object_id = ?1 AND kind = ?2 ORDER BY key_id",
    )?;
    let rows = stmt.query_map(params![id.hex(), kind.as_str()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (site, key_id, signature) = row?;
        out.push(Attestation {
            site: site.parse()?,
            key_id,
            signature,
        });
    }
    Ok(out)
}

/// The ids of every object held as a `kind`.
pub fn ids_of_kind(r: &impl Reads, kind: Kind) -> Result<Vec<Digest>> {
    digests(r, "SELECT id FROM objects WHERE kind = ?1", kind.as_str())
}

/// One file of the vault as the index sees it: (digest, the kinds it is
/// held as joined by " and ", the smallest and largest size recorded).
pub type IndexedFile = (String, String, i64, i64);

/// Every digest indexed, once, whatever kinds the same bytes are held as,
/// in digest order (`vault verify`).
pub fn files(r: &impl Reads) -> Result<Vec<IndexedFile>> {
    let mut stmt = conn(r).prepare(
        "SELECT id, group_concat(kind, ' and '), MIN(size), MAX(size)
         FROM (SELECT id, kind, size FROM objects ORDER BY id, kind) GROUP BY id ORDER BY id",
    )?;
    let rows: Vec<IndexedFile> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The ids (digests) that `sql`, with `param` as `?1`, selects in its first
/// column; a value that is not a digest is an integrity error.
pub(super) fn digests(r: &impl Reads, sql: &str, param: &str) -> Result<Vec<Digest>> {
    let mut stmt = conn(r).prepare(sql)?;
    let ids: Vec<String> = stmt
        .query_map([param], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.iter()
        .map(|s| {
            s.parse()
                .map_err(|e| Error::Integrity(format!("{sql}: {e}")))
        })
        .collect()
}

/// The tables of named, versioned things (and the models, found by id
/// prefix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// `contracts`.
    Contracts,
    /// `datasets`.
    Datasets,
    /// `feature_sets`.
    FeatureSets,
    /// `models`.
    Models,
}

impl Table {
    /// The table's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Table::Contracts => "contracts",
            Table::Datasets => "datasets",
            Table::FeatureSets => "feature_sets",
            Table::Models => "models",
        }
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every (id, site, version) named `name` in `table`, by site and newest
/// version first.
pub fn versions_named(
    r: &impl Reads,
    table: Table,
    name: &str,
) -> Result<Vec<(String, String, i64)>> {
    let sql = format!(
        "SELECT id, site, version FROM {table} WHERE name = ?1 ORDER BY site, version DESC"
    );
    let mut stmt = conn(r).prepare(&sql)?;
    let rows: Vec<(String, String, i64)> = stmt
        .query_map([name], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The id (hex) of `site`'s `name` version `version` in `table`, if held.
pub fn id_of_version(
    r: &impl Reads,
    table: Table,
    site: &str,
    name: &str,
    version: i64,
) -> Result<Option<String>> {
    Ok(conn(r)
        .query_row(
            &format!("SELECT id FROM {table} WHERE site = ?1 AND name = ?2 AND version = ?3"),
            params![site, name, version],
            |r| r.get(0),
        )
        .optional()?)
}

/// The ids in `table` that start with `prefix` (lower case hex), two at
/// most: one is a match, two say the prefix is ambiguous.
pub fn ids_with_prefix(r: &impl Reads, table: Table, prefix: &str) -> Result<Vec<String>> {
    let sql = format!("SELECT id FROM {table} WHERE id LIKE ?1 || '%' LIMIT 2");
    let mut stmt = conn(r).prepare(&sql)?;
    let ids: Vec<String> = stmt
        .query_map([prefix.to_ascii_lowercase()], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(ids)
}

/// One version of a named thing (a contract, dataset or feature set), as
/// listed by `contract list`, `data list` and `features list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Listed {
    /// Its id (digest, hex).
    pub id: String,
    /// The site that made it.
    pub site: String,
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: i64,
    /// Rows (a dataset), features (a feature set), or 0 (a contract).
    pub rows: i64,
    /// When it was registered here.
    pub created_at: String,
}

/// The rows `sql` selects as (id, site, name, version, rows, created_at).
pub(super) fn listed(r: &impl Reads, sql: &str) -> Result<Vec<Listed>> {
    let mut stmt = conn(r).prepare(sql)?;
    let rows = stmt.query_map([], |r| {
        Ok(Listed {
            id: r.get(0)?,
            site: r.get(1)?,
            name: r.get(2)?,
            version: r.get(3)?,
            rows: r.get(4)?,
            created_at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The key id and signing key (hex) recorded for trusted peer `site`.
pub fn trusted_peer(r: &impl Reads, site: &SiteName) -> Result<Option<(String, String)>> {
    Ok(conn(r)
        .query_row(
            "SELECT key_id, signing_key FROM trusted_sites WHERE site = ?1",
            [site.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Every peer signing key as (site, key id, key hex): the current peers',
/// and with `retired` the keys a policy retired without revoking.
pub fn peer_keys(r: &impl Reads, retired: bool) -> Result<Vec<(String, String, String)>> {
    let mut stmt = conn(r).prepare(if retired {
        "SELECT site, key_id, signing_key FROM trusted_sites
         UNION ALL SELECT site, key_id, signing_key FROM retired_keys
         WHERE key_id NOT IN (SELECT key_id FROM revoked_keys) ORDER BY site"
    } else {
        "SELECT site, key_id, signing_key FROM trusted_sites ORDER BY site"
    })?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
