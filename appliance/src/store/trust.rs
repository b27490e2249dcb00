//! Trust's tables: `trusted_sites` (the peers), `policies` (the trust
//! policies applied, in order), `retired_keys` and `revoked_keys`,
//! `operators` (the people certified here), and what bundle import keeps
//! (`peer_sequences`, the trusted time).

use rusqlite::{OptionalExtension, params};

use crate::digest::Digest;
use crate::error::Result;
use crate::store::{AuditedTx, Reads, conn};

/// A trusted site's row as (signing key hex, age recipient, added at), if
/// `site` is trusted.
pub fn trusted_site(r: &impl Reads, site: &str) -> Result<Option<(String, String, String)>> {
    Ok(conn(r)
        .query_row(
            "SELECT signing_key, age_recipient, added_at FROM trusted_sites WHERE site = ?1",
            [site],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
}

/// A peer's keys as the trust list holds them.
#[derive(Clone, Copy, Debug)]
pub struct PeerRow<'a> {
    /// The site.
    pub site: &'a str,
    /// Its signing key's id.
    pub key_id: &'a str,
    /// Its signing key, hex.
    pub signing_key: &'a str,
    /// Its age recipient.
    pub age_recipient: &'a str,
}

/// Adds a peer to the trust list, as of `now`.
pub fn insert_trusted_site(tx: &AuditedTx<'_>, p: &PeerRow<'_>, now: &str) -> Result<()> {
    tx.tx.execute(
        "INSERT INTO trusted_sites (site, key_id, signing_key, age_recipient, added_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![p.site, p.key_id, p.signing_key, p.age_recipient, now],
    )?;
    Ok(())
}

/// The age recipient of trusted site `site` (an error if it has no row).
pub fn age_recipient(r: &impl Reads, site: &str) -> Result<String> {
    Ok(conn(r).query_row(
        "SELECT age_recipient FROM trusted_sites WHERE site = ?1",
        [site],
        |r| r.get(0),
    )?)
}

/// Every trusted site as (site, key id, signing key hex, age recipient).
pub fn trusted_sites(r: &impl Reads) -> Result<Vec<(String, String, String, String)>> {
    let mut stmt =
        conn(r).prepare("SELECT site, key_id, signing_key, age_recipient FROM trusted_sites")?;
    let rows: Vec<(String, String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Every trusted site as (site, key id, age recipient, added at), by site.
pub fn trusted_sites_listed(r: &impl Reads) -> Result<Vec<(String, String, String, String)>> {
    let mut stmt = conn(r)
        .prepare("SELECT site, key_id, age_recipient, added_at FROM trusted_sites ORDER BY site")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Every trusted site as (site, signing key hex, age recipient), by site.
pub fn trusted_site_keys(r: &impl Reads) -> Result<Vec<(String, String, String)>> {
    let mut stmt = conn(r)
        .prepare("SELECT site, signing_key, age_recipient FROM trusted_sites ORDER BY site")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The policies applied here as (version, id hex), in version order.
pub fn policies(r: &impl Reads) -> Result<Vec<(i64, String)>> {
    let rows: Vec<(i64, String)> = conn(r)
        .prepare("SELECT version, id FROM policies ORDER BY version")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Records policy `version` (`id`) as in force, as of `now`, and brings the
/// trust list in line with it: the keys leaving the list are retired
/// (still able to verify what they signed before) unless `revoked` names
/// them, and the list becomes exactly `peers`.
pub fn record_policy(
    tx: &AuditedTx<'_>,
    version: i64,
    id: &Digest,
    peers: &[PeerRow<'_>],
    revoked: &[String],
    now: &str,
) -> Result<()> {
    let tx = &tx.tx;
    tx.execute(
        "INSERT INTO policies (version, id, applied_at) VALUES (?1, ?2, ?3)",
        params![version, id.hex(), now],
    )?;
    // Keys leaving the trust list stay able to verify what they signed
    // before (retired) unless revoked.
    tx.execute(
        "INSERT OR IGNORE INTO retired_keys (key_id, site, signing_key, retired_at)
         SELECT key_id, site, signing_key, ?1 FROM trusted_sites",
        [now],
    )?;
    tx.execute("DELETE FROM trusted_sites", [])?;
    for peer in peers {
        tx.execute(
            "INSERT INTO trusted_sites (site, key_id, signing_key, age_recipient, added_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![peer.site, peer.key_id, peer.signing_key, peer.age_recipient, now],
        )?;
        tx.execute("DELETE FROM retired_keys WHERE key_id = ?1", [peer.key_id])?;
    }
    for r in revoked {
        tx.execute(
            "INSERT OR IGNORE INTO revoked_keys (key_id, policy_version) VALUES (?1, ?2)",
            params![r, version],
        )?;
    }
    Ok(())
}

/// Whether an operator is named `name` here.
pub fn operator_exists(r: &impl Reads, name: &str) -> Result<bool> {
    Ok(conn(r)
        .query_row(
            "SELECT 1 FROM operators WHERE name = ?1",
            [name],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// An operator's row.
#[derive(Clone, Copy, Debug)]
pub struct OperatorRow<'a> {
    /// Their name on this node.
    pub name: &'a str,
    /// Their key's id.
    pub key_id: &'a str,
    /// Their public key, hex.
    pub public_key: &'a str,
    /// Their certificate's id.
    pub cert: &'a Digest,
    /// When they were certified.
    pub created_at: &'a str,
}

/// Records a certified operator.
pub fn insert_operator(tx: &AuditedTx<'_>, o: &OperatorRow<'_>) -> Result<()> {
    tx.tx.execute(
        "INSERT INTO operators (name, key_id, public_key, cert, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![o.name, o.key_id, o.public_key, o.cert.hex(), o.created_at],
    )?;
    Ok(())
}

/// The operator whose key is `key_id`, as (name, certificate id hex).
pub fn operator_by_key(r: &impl Reads, key_id: &str) -> Result<Option<(String, String)>> {
    Ok(conn(r)
        .query_row(
            "SELECT name, cert FROM operators WHERE key_id = ?1",
            [key_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Operator `name`, as (key id, certificate id hex).
pub fn operator_by_name(r: &impl Reads, name: &str) -> Result<Option<(String, String)>> {
    Ok(conn(r)
        .query_row(
            "SELECT key_id, cert FROM operators WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// The public key (hex) of the operator whose key id is `key_id`.
pub fn operator_public_key(r: &impl Reads, key_id: &str) -> Result<Option<String>> {
    Ok(conn(r)
        .query_row(
            "SELECT public_key FROM operators WHERE key_id = ?1",
            [key_id],
            |row| row.get(0),
        )
        .optional()?)
}

/// (name, public key hex) of every operator, by name.
pub fn operator_keys(r: &impl Reads) -> Result<Vec<(String, String)>> {
    let mut stmt = conn(r).prepare("SELECT name, public_key FROM operators ORDER BY name")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// An operator as listed: (name, key id, public key hex, certificate id
/// hex, created at).
pub type ListedOperator = (String, String, String, String, String);

/// Every operator, by name.
pub fn operators(r: &impl Reads) -> Result<Vec<ListedOperator>> {
    let mut stmt = conn(r).prepare(
        "SELECT name, key_id, public_key, cert, created_at FROM operators ORDER BY name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The highest bundle sequence imported from `site`, if any.
pub fn peer_sequence(r: &impl Reads, site: &str) -> Result<Option<i64>> {
    Ok(conn(r)
        .query_row(
            "SELECT sequence FROM peer_sequences WHERE site = ?1",
            [site],
            |r| r.get(0),
        )
        .optional()?)
}

/// Records bundle `bundle`, sequence `sequence`, as the newest imported
/// from `site`, now.
pub fn set_peer_sequence(
    tx: &AuditedTx<'_>,
    site: &str,
    sequence: i64,
    bundle: &Digest,
) -> Result<()> {
    tx.tx.execute(
        "INSERT INTO peer_sequences (site, sequence, bundle, imported_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(site) DO UPDATE SET sequence = excluded.sequence, bundle = excluded.bundle, imported_at = excluded.imported_at",
        params![site, sequence, bundle.hex(), tx.now().to_string()],
    )?;
    Ok(())
}

/// The stored trusted time (text), if a bundle was ever accepted.
pub fn trusted_time(r: &impl Reads) -> Result<Option<String>> {
    Ok(conn(r)
        .query_row(
            "SELECT value FROM meta WHERE key = 'trusted_time'",
            [],
            |r| r.get(0),
        )
        .optional()?)
}
