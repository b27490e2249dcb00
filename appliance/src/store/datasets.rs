//! The `datasets` and `feature_sets` tables: dataset versions (a snapshot
//! checked against a contract) and feature set versions.

use rusqlite::{OptionalExtension, params};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::site::SiteName;
use crate::store::objects::{Listed, listed};
use crate::store::{AuditedTx, Reads, conn};

/// The dataset version of `name` at `site` made from `snapshot` under
/// `contract`, if one is registered: (id, version).
pub fn same_snapshot(
    r: &impl Reads,
    site: &SiteName,
    name: &str,
    snapshot: &Digest,
    contract: &Digest,
) -> Result<Option<(String, i64)>> {
    Ok(conn(r)
        .query_row(
            "SELECT id, version FROM datasets WHERE site = ?1 AND name = ?2 AND snapshot = ?3 AND contract = ?4",
            params![site.as_str(), name, snapshot.hex(), contract.hex()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// The version the next dataset `name` at `site` takes: one above the
/// newest.
pub fn next_version(r: &impl Reads, site: &SiteName, name: &str) -> Result<i64> {
    Ok(conn(r).query_row(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM datasets WHERE site = ?1 AND name = ?2",
        params![site.as_str(), name],
        |r| r.get(0),
    )?)
}

/// A dataset row.
#[derive(Clone, Copy, Debug)]
pub struct DatasetRow<'a> {
    /// The dataset record's id.
    pub id: &'a Digest,
    /// The site that made it.
    pub site: &'a SiteName,
    /// Its name.
    pub name: &'a str,
    /// Its version.
    pub version: i64,
    /// The raw snapshot's id.
    pub snapshot: &'a Digest,
    /// The contract it was checked against.
    pub contract: &'a Digest,
    /// Its row count.
    pub rows: u64,
    /// When it was made (the record's time).
    pub created_at: &'a str,
}

/// Indexes a dataset record (nothing if its id is there).
pub fn insert(tx: &AuditedTx<'_>, d: &DatasetRow<'_>) -> Result<()> {
    tx.tx.execute(
        "INSERT INTO datasets (id, site, name, version, snapshot, contract, rows, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(id) DO NOTHING",
        params![
            d.id.hex(),
            d.site.as_str(),
            d.name,
            d.version,
            d.snapshot.hex(),
            d.contract.hex(),
            i64::try_from(d.rows).map_err(|_| Error::Integrity(format!(
                "dataset {}: {} rows is more than the store can hold",
                d.name, d.rows
            )))?,
            d.created_at
        ],
    )?;
    Ok(())
}

/// Every dataset version held here, by site, name and version.
pub fn list(r: &impl Reads) -> Result<Vec<Listed>> {
    listed(
        r,
        "SELECT id, site, name, version, rows, created_at FROM datasets ORDER BY site, name, version",
    )
}

/// The version the next feature set `name` at `site` takes: one above the
/// newest.
pub fn next_feature_set_version(r: &impl Reads, site: &SiteName, name: &str) -> Result<i64> {
    Ok(conn(r).query_row(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM feature_sets WHERE site = ?1 AND name = ?2",
        params![site.as_str(), name],
        |r| r.get(0),
    )?)
}

/// A feature set row.
#[derive(Clone, Copy, Debug)]
pub struct FeatureSetRow<'a> {
    /// The feature set record's id.
    pub id: &'a Digest,
    /// The site that made it.
    pub site: &'a SiteName,
    /// Its name.
    pub name: &'a str,
    /// Its version.
    pub version: i64,
    /// The dataset it was fitted on.
    pub dataset: &'a Digest,
    /// Its vector width.
    pub width: usize,
}

/// Indexes a feature set record, registered now (nothing if its id is
/// there).
pub fn insert_feature_set(tx: &AuditedTx<'_>, f: &FeatureSetRow<'_>) -> Result<()> {
    tx.tx.execute(
        "INSERT INTO feature_sets (id, site, name, version, dataset, width, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(id) DO NOTHING",
        params![
            f.id.hex(),
            f.site.as_str(),
            f.name,
            f.version,
            f.dataset.hex(),
            f.width as i64,
            tx.now().to_string()
        ],
    )?;
    Ok(())
}

/// Every feature set version held here, by site, name and version (`rows`
/// is the vector width).
pub fn list_feature_sets(r: &impl Reads) -> Result<Vec<Listed>> {
    listed(
        r,
        "SELECT id, site, name, version, width, created_at FROM feature_sets ORDER BY site, name, version",
    )
}
