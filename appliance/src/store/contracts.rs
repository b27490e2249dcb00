//! The `contracts` table: registered contract versions.

use rusqlite::{OptionalExtension, params};

use crate::digest::Digest;
use crate::error::Result;
use crate::site::SiteName;
use crate::store::objects::{Listed, listed};
use crate::store::{AuditedTx, Reads, conn};

/// The id (hex) of contract `name` version `version` made at `site`, if
/// registered.
pub fn id_of(r: &impl Reads, site: &SiteName, name: &str, version: i64) -> Result<Option<String>> {
    Ok(conn(r)
        .query_row(
            "SELECT id FROM contracts WHERE site = ?1 AND name = ?2 AND version = ?3",
            params![site.as_str(), name, version],
            |r| r.get(0),
        )
        .optional()?)
}

/// The newest version of contract `name` registered for `site`, if any.
pub fn newest_version(r: &impl Reads, site: &SiteName, name: &str) -> Result<Option<i64>> {
    Ok(conn(r).query_row(
        "SELECT MAX(version) FROM contracts WHERE site = ?1 AND name = ?2",
        params![site.as_str(), name],
        |r| r.get(0),
    )?)
}

/// Indexes this site's contract `name` version `version` as `id`, now
/// (nothing if it is there).
pub fn insert_own(tx: &AuditedTx<'_>, id: &Digest, name: &str, version: i64) -> Result<()> {
    tx.tx.execute(
        "INSERT OR IGNORE INTO contracts (id, site, name, version, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id.hex(), tx.site().as_str(), name, version, tx.now().to_string()],
    )?;
    Ok(())
}

/// Every contract version registered here, by site, name and version
/// (`rows` is 0).
pub fn list(r: &impl Reads) -> Result<Vec<Listed>> {
    listed(
        r,
        "SELECT id, site, name, version, 0, created_at FROM contracts ORDER BY site, name, version",
    )
}

/// Indexes contract `name` version `version` made at `site` (carried in a
/// bundle), now (nothing if its id is there).
pub fn insert(tx: &AuditedTx<'_>, id: &Digest, site: &str, name: &str, version: i64) -> Result<()> {
    tx.tx.execute(
        "INSERT INTO contracts (id, site, name, version, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(id) DO NOTHING",
        params![id.hex(), site, name, version, tx.now().to_string()],
    )?;
    Ok(())
}
