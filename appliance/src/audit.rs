//! The tamper-evident audit log.
//!
//! Every mutating command appends one record in the same SQLite transaction
//! as the change it records, so a change is never committed without its
//! record, nor a record without its change. Each record holds the hash of
//! the one before it and is signed by the site key, so editing, deleting or
//! reordering a record breaks the chain at that record, and a forged record
//! needs the site's secret key. `airlock audit verify` walks the chain and
//! names the first record that does not hold.

use rusqlite::{Connection, Transaction, params};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::keys::{self, Domain, SiteKeys};
use crate::time::Timestamp;
use ed25519_dalek::VerifyingKey;

/// The `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Position in the log, from 1, without gaps.
    pub seq: i64,
    /// When it was written (node clock).
    pub time: Timestamp,
    /// Key id of the signer (the site key).
    pub actor: String,
    /// What happened, e.g. `data.ingest`.
    pub action: String,
    /// Ids of the objects concerned.
    pub subjects: Vec<String>,
    /// Action-specific details.
    pub details: serde_json::Value,
    /// Hash of the previous record (`GENESIS` for the first).
    pub prev_hash: String,
    /// Hash of this record's fields above.
    pub hash: String,
    /// Site-key signature over `hash`.
    pub signature: String,
}

#[derive(Serialize)]
struct Hashed<'a> {
    seq: i64,
    time: Timestamp,
    actor: &'a str,
    action: &'a str,
    subjects: &'a [String],
    details: &'a serde_json::Value,
    prev_hash: &'a str,
}

fn record_hash(r: &Record) -> String {
    let h = Hashed {
        seq: r.seq,
        time: r.time,
        actor: &r.actor,
        action: &r.action,
        subjects: &r.subjects,
        details: &r.details,
        prev_hash: &r.prev_hash,
    };
    // Serialising plain structs, strings and a Value cannot fail.
    let bytes = serde_json::to_vec(&h).unwrap_or_default();
    Digest::of(&bytes).hex()
}

/// Appends a record inside the caller's transaction.
pub fn append(
    tx: &Transaction<'_>,
    keys: &SiteKeys,
    action: &str,
    subjects: &[String],
    details: serde_json::Value,
) -> Result<i64> {
    let last: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    let (seq, prev_hash) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_string()),
    };
    let mut rec = Record {
        seq,
        time: Timestamp::now(),
        actor: keys.key_id().to_string(),
        action: action.to_string(),
        subjects: subjects.to_vec(),
        details,
        prev_hash,
        hash: String::new(),
        signature: String::new(),
    };
    rec.hash = record_hash(&rec);
    rec.signature = keys.sign(Domain::Audit, rec.hash.as_bytes());
    tx.execute(
        "INSERT INTO audit (seq, time, actor, action, subjects, details, prev_hash, hash, signature)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            rec.seq,
            rec.time.to_string(),
            rec.actor,
            rec.action,
            serde_json::to_string(&rec.subjects).unwrap_or_default(),
            rec.details.to_string(),
            rec.prev_hash,
            rec.hash,
            rec.signature
        ],
    )?;
    Ok(seq)
}

/// Reads every record in log order. A row that does not parse is an
/// integrity error naming its position.
pub fn records(conn: &Connection) -> Result<Vec<Record>> {
    let mut stmt = conn.prepare(
        "SELECT seq, time, actor, action, subjects, details, prev_hash, hash, signature
         FROM audit ORDER BY rowid",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, String>(7)?,
            r.get::<_, String>(8)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, time, actor, action, subjects, details, prev_hash, hash, signature) = row?;
        let bad =
            |what: &str| Error::Integrity(format!("audit record {seq}: {what} does not parse"));
        out.push(Record {
            seq,
            time: time.parse().map_err(|_| bad("time"))?,
            actor,
            action,
            subjects: serde_json::from_str(&subjects).map_err(|_| bad("subjects"))?,
            details: serde_json::from_str(&details).map_err(|_| bad("details"))?,
            prev_hash,
            hash,
            signature,
        });
    }
    Ok(out)
}

/// What a successful verification saw.
#[derive(Clone, Debug, Serialize)]
pub struct Verified {
    /// Number of records checked.
    pub records: usize,
    /// Hash of the last record (the head of the chain).
    pub head: String,
}

/// Verifies the chain: sequence without gaps, each record's hash, its link to
/// the previous record, and its signature by `site_key`. Names the first
/// record that fails.
pub fn verify(conn: &Connection, site_key: &VerifyingKey) -> Result<Verified> {
    let records = records(conn)?;
    let mut prev = GENESIS.to_string();
    for (i, r) in records.iter().enumerate() {
        let expected_seq = i as i64 + 1;
        let fail = |why: String| {
            Err(Error::Integrity(format!(
                "audit log broken at record {} ({}): {why}",
                r.seq, r.action
            )))
        };
        if r.seq != expected_seq {
            return fail(format!(
                "expected record {expected_seq} here; records were removed or reordered"
            ));
        }
        if r.prev_hash != prev {
            return fail("its link to the previous record does not match; a record before it was changed, removed or reordered".into());
        }
        if record_hash(r) != r.hash {
            return fail("its contents do not match its hash; the record was changed".into());
        }
        if !keys::verify(site_key, Domain::Audit, r.hash.as_bytes(), &r.signature) {
            return fail(
                "its signature is not the site key's; the record was forged or re-signed".into(),
            );
        }
        prev = r.hash.clone();
    }
    Ok(Verified {
        records: records.len(),
        head: prev,
    })
}
