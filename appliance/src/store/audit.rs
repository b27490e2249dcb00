//! The tamper-evident audit log.
//!
//! Every mutating command appends one record in the same SQLite transaction
//! as the change it records, so a change is never committed without its
//! record, nor a record without its change. Each record holds the hash of
//! the one before it and is signed by the site key, so editing, deleting or
//! reordering a record breaks the chain at that record, and a forged record
//! needs the site's secret key. `airlock audit verify` walks the chain and
//! names the first record that does not hold.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::node::time::Timestamp;
use crate::store::{Reads, conn as conn_of};
use crate::trust::keys::{self, Domain, SiteKeys};
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
    /// Key id of who acted: the operator's for an operator's action
    /// (approve, deploy, export), else the site key's. Every record is
    /// signed by the site key.
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

/// The newest record's number and hash, if any.
fn head(conn: &Connection) -> Result<Option<(i64, String)>> {
    Ok(conn
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// What one audit record says: the action, the objects concerned, the
/// action's details and, for an operator's action, the operator's key id.
/// The site key that signs it, the time, the record number and the chain
/// come from the transaction that commits it
/// ([`AuditedTx::commit`](crate::store::AuditedTx::commit)).
#[derive(Clone, Debug)]
pub struct AuditEntry {
    action: String,
    subjects: Vec<String>,
    details: serde_json::Value,
    actor: Option<keys::KeyId>,
}

impl AuditEntry {
    /// An entry for `action` (e.g. `data.ingest`) about `subjects` (object
    /// ids), acted by the site.
    pub fn new(action: &str, subjects: &[String], details: serde_json::Value) -> AuditEntry {
        AuditEntry {
            action: action.to_string(),
            subjects: subjects.to_vec(),
            details,
            actor: None,
        }
    }

    /// The same entry, acted by the operator whose key id is `actor` when
    /// given (approve, deploy, export); the record is signed by the site key
    /// either way.
    pub fn by(mut self, actor: Option<keys::KeyId>) -> AuditEntry {
        self.actor = actor;
        self
    }

    /// The action.
    pub fn action(&self) -> &str {
        &self.action
    }
}

/// Appends `entry` as the next record inside `tx`, written at `time` and
/// signed by `keys`. Only the audited transaction calls it (the
/// [`crate::store::Appending`] argument can be made nowhere else), so a
/// record is always written by the transaction whose change it records.
pub(crate) fn append(
    tx: &Transaction<'_>,
    keys: &SiteKeys,
    time: Timestamp,
    entry: AuditEntry,
    _: crate::store::Appending,
) -> Result<i64> {
    let AuditEntry {
        action,
        subjects,
        details,
        actor,
    } = entry;
    let (seq, prev_hash) = match head(tx)? {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_string()),
    };
    let mut rec = Record {
        seq,
        time,
        actor: actor.unwrap_or_else(|| keys.key_id()).to_string(),
        action,
        subjects,
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
pub fn records(r: &impl Reads) -> Result<Vec<Record>> {
    let conn = conn_of(r);
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
    /// The record the signed checkpoint file names, if there is one.
    pub checkpoint: Option<i64>,
}

/// The file, beside the store, that holds the newest signed checkpoint.
pub const CHECKPOINT_FILE: &str = "audit.head";

/// A signed statement of the log's head: "the log had `seq` records and
/// record `seq` hashed to `hash`". Kept in its own file, outside the store,
/// so removing the newest records from the store is detected: the log would
/// end before the checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The number of records.
    pub seq: i64,
    /// The hash of record `seq`.
    pub hash: String,
    /// Site-key signature (audit domain) over [`Checkpoint::statement`].
    pub signature: String,
}

impl Checkpoint {
    /// The signed bytes; cannot be mistaken for a record hash.
    pub fn statement(seq: i64, hash: &str) -> Vec<u8> {
        format!("airlock-audit-checkpoint\n{seq}\n{hash}").into_bytes()
    }

    /// True when `key` signed this checkpoint.
    pub fn is_signed_by(&self, key: &VerifyingKey) -> bool {
        keys::verify(
            key,
            Domain::Audit,
            &Checkpoint::statement(self.seq, &self.hash),
            &self.signature,
        )
    }
}

fn read_checkpoint(path: &std::path::Path) -> Result<Option<Checkpoint>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let read = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(path)
        .and_then(|f| {
            let mut bytes = Vec::new();
            f.take(64 << 10).read_to_end(&mut bytes)?;
            Ok(bytes)
        });
    match read {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::Integrity(format!(
                "audit checkpoint {} does not parse: {e}",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Signs the log's current head into `root/audit.head` if the log has grown
/// past the checkpoint there. Called when a home is closed, after its
/// transactions have committed. `create` only at `init`: a checkpoint that
/// has gone missing, does not parse, or no longer matches the log is never
/// replaced, so the evidence stays for `audit verify`.
pub fn write_checkpoint(
    root: &std::path::Path,
    r: &impl Reads,
    keys: &SiteKeys,
    create: bool,
) -> Result<()> {
    let conn = conn_of(r);
    let Some((seq, hash)) = head(conn)? else {
        return Ok(());
    };
    let path = root.join(CHECKPOINT_FILE);
    match read_checkpoint(&path)? {
        None if !create => {
            return Err(Error::Integrity(format!(
                "the signed audit checkpoint {} is missing; run `airlock audit verify`",
                path.display()
            )));
        }
        None => {}
        Some(c) => {
            // Only a checkpoint this site signed may be moved forward: a
            // planted one (say, at record 1) must not be replaced by a
            // genuine signature over a truncated log.
            if !c.is_signed_by(&keys.public().signing) {
                return Err(Error::Integrity(format!(
                    "the audit checkpoint {} is not signed by the site key; run `airlock audit verify`",
                    path.display()
                )));
            }
            let at: Option<String> = conn
                .query_row("SELECT hash FROM audit WHERE seq = ?1", [c.seq], |r| {
                    r.get(0)
                })
                .optional()?;
            if at.as_deref() != Some(c.hash.as_str()) {
                return Err(Error::Integrity(format!(
                    "the audit log no longer matches its signed checkpoint at record {}; run `airlock audit verify`",
                    c.seq
                )));
            }
            if c.seq >= seq {
                return Ok(());
            }
        }
    }
    let signature = keys.sign(Domain::Audit, &Checkpoint::statement(seq, &hash));
    let c = Checkpoint {
        seq,
        hash,
        signature,
    };
    let bytes = serde_json::to_vec_pretty(&c).unwrap_or_default();
    crate::node::fsx::write_atomic(&path, &bytes)
}

/// An operator authorising an action recorded in the log.
pub struct Signer<'a> {
    /// Their name on this node.
    pub name: &'a str,
    /// Their key id: the record's actor.
    pub key_id: keys::KeyId,
    /// Signs a statement with their key (domain `OperatorAction`), hex.
    pub sign: &'a dyn Fn(&[u8]) -> String,
}

/// What the operator adopting a checkpoint signs: the site key, and the
/// record number and hash of the log's head they declare the start of
/// protection after.
pub fn adoption_statement(site_key: &keys::KeyId, records: usize, head: &str) -> Vec<u8> {
    format!("audit.adopt-checkpoint\n{site_key}\n{records}\n{head}").into_bytes()
}

/// For a home without a checkpoint file (made before checkpoints existed,
/// or whose `init` was cut short): verifies the chain and records the
/// adoption in the log, committing `tx`, with the operator who authorised it
/// (`by`: name, key id and signature over [`adoption_statement`]; none in
/// setup mode when none was given). Refused if a checkpoint file exists.
/// Returns the record number of the adoption; the caller then signs a first
/// checkpoint ([`write_checkpoint`] with `create`). Whether `by` may do this
/// is the caller's check (`operator::adopt_audit_checkpoint`).
pub fn adopt_checkpoint(
    root: &std::path::Path,
    tx: crate::store::AuditedTx<'_>,
    by: Option<&Signer<'_>>,
) -> Result<i64> {
    let path = root.join(CHECKPOINT_FILE);
    if std::fs::symlink_metadata(&path).is_ok() {
        return Err(Error::Refused(format!(
            "{} exists; `airlock audit verify` checks it, and it is never replaced",
            path.display()
        )));
    }
    let keys = tx.keys();
    let (records, _) = verify_chain(&tx, &keys.public().signing)?;
    let head = records
        .last()
        .map(|r| r.hash.clone())
        .unwrap_or_else(|| GENESIS.to_string());
    let operator = by.map(|o| {
        let statement = adoption_statement(&keys.key_id(), records.len(), &head);
        serde_json::json!({ "name": o.name, "key_id": o.key_id, "signature": (o.sign)(&statement) })
    });
    tx.commit(
        AuditEntry::new(
            "audit.checkpoint_adopted",
            &[],
            serde_json::json!({ "unprotected_before_record": records.len() + 1,
                                "reason": "no signed checkpoint existed; removal of records before this one cannot be ruled out",
                                "operator": operator }),
        )
        .by(by.map(|o| o.key_id.clone())),
    )
}

/// Checks the signed checkpoint in `root/audit.head` against the verified
/// chain `records`: its signature by `site_key`, and that the log still
/// holds record `seq` with that hash.
fn check_checkpoint(
    root: &std::path::Path,
    records: &[Record],
    site_key: &VerifyingKey,
) -> Result<Option<i64>> {
    let path = root.join(CHECKPOINT_FILE);
    let Some(c) = read_checkpoint(&path)? else {
        return Err(Error::Integrity(format!(
            "the signed audit checkpoint {} is missing; without it, removal of the newest records cannot be ruled out",
            path.display()
        )));
    };
    if !c.is_signed_by(site_key) {
        return Err(Error::Integrity(format!(
            "the audit checkpoint {} is not signed by the site key; it was forged",
            path.display()
        )));
    }
    let Ok(at) = usize::try_from(c.seq - 1) else {
        return Err(Error::Integrity(
            "the audit checkpoint names record 0".into(),
        ));
    };
    match records.get(at) {
        None => Err(Error::Integrity(format!(
            "audit log truncated: it ends at record {}, but the signed checkpoint says record {} existed; the newest records were removed",
            records.len(),
            c.seq
        ))),
        Some(r) if r.hash != c.hash => Err(Error::Integrity(format!(
            "audit log broken at record {} ({}): it differs from the signed checkpoint",
            r.seq, r.action
        ))),
        Some(_) => Ok(Some(c.seq)),
    }
}

/// Verifies the chain alone: sequence without gaps, each record's hash, its
/// link to the previous record, and its signature by `site_key`. Names the
/// first record that fails. Returns the records and the head hash.
fn verify_chain(r: &impl Reads, site_key: &VerifyingKey) -> Result<(Vec<Record>, String)> {
    let conn = conn_of(r);
    let records = records(conn)?;
    let head = verify_records(&records, site_key)?;
    Ok((records, head))
}

/// Verifies a chain of records (see `verify_chain`); returns the head hash.
pub fn verify_records(records: &[Record], site_key: &VerifyingKey) -> Result<String> {
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
    Ok(prev)
}

/// Verifies the chain (see `verify_chain`) and the signed checkpoint in
/// `root/audit.head`: the log must still hold the record it names, with its
/// hash, so removing the newest records is caught.
pub fn verify(root: &std::path::Path, r: &impl Reads, site_key: &VerifyingKey) -> Result<Verified> {
    let conn = conn_of(r);
    let (records, prev) = verify_chain(conn, site_key)?;
    let checkpoint = check_checkpoint(root, &records, site_key)?;
    Ok(Verified {
        records: records.len(),
        head: prev,
        checkpoint,
    })
}

/// Format tag of an audit log export.
pub const EXPORT_FORMAT: &str = "airlock-audit-export/1";

/// The audit log as exported for an external auditor: every record, and a
/// checkpoint over the last one, signed by the site key when exported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditExport {
    /// Always [`EXPORT_FORMAT`].
    pub format: String,
    /// The site whose log this is.
    pub site: crate::site::SiteName,
    /// Its signing key, hex (the auditor checks it against the site card).
    pub signing_key: String,
    /// When it was exported.
    pub exported_at: Timestamp,
    /// Every record, oldest first.
    pub records: Vec<Record>,
    /// Signed statement of the last record.
    pub checkpoint: Checkpoint,
}

/// Builds the export of this node's log, after verifying it (a broken log
/// is not exported; `airlock audit verify` names the fault), dated `now`.
pub fn export_document(
    root: &std::path::Path,
    r: &impl Reads,
    keys: &SiteKeys,
    site: &crate::site::SiteName,
    now: Timestamp,
) -> Result<AuditExport> {
    let conn = conn_of(r);
    let public = keys.public().signing;
    verify(root, conn, &public)?;
    let records = records(conn)?;
    let last = records
        .last()
        .ok_or_else(|| Error::NotFound("the audit log is empty".into()))?;
    let checkpoint = Checkpoint {
        seq: last.seq,
        hash: last.hash.clone(),
        signature: keys.sign(Domain::Audit, &Checkpoint::statement(last.seq, &last.hash)),
    };
    Ok(AuditExport {
        format: EXPORT_FORMAT.into(),
        site: site.clone(),
        signing_key: hex::encode(public.as_bytes()),
        exported_at: now,
        records,
        checkpoint,
    })
}

/// What the verification of an exported log saw.
#[derive(Clone, Debug, Serialize)]
pub struct VerifiedExport {
    /// The site.
    pub site: String,
    /// Its key id.
    pub key_id: String,
    /// Records verified.
    pub records: usize,
    /// First and last record times.
    pub first: Option<Timestamp>,
    /// The last record's time.
    pub last: Option<Timestamp>,
    /// The head hash.
    pub head: String,
    /// The record the export's checkpoint covers (the last).
    pub checkpoint: i64,
    /// When it was exported.
    pub exported_at: Timestamp,
}

/// Verifies an exported log against the key on the site's card: the key it
/// names, the whole chain and every record's signature, and the checkpoint
/// over the last record (so records removed from the end are caught).
pub fn verify_export(doc: &AuditExport, card: &crate::site::SiteCard) -> Result<VerifiedExport> {
    if doc.format != EXPORT_FORMAT {
        return Err(Error::Integrity(format!(
            "audit export: format {:?}, expected {EXPORT_FORMAT:?}",
            doc.format
        )));
    }
    if doc.site != card.site || doc.signing_key != hex::encode(card.keys.signing.as_bytes()) {
        return Err(Error::Integrity(format!(
            "audit export: it is the log of site {} with key {}, not of the card's site {} (key {})",
            doc.site,
            crate::trust::keys::parse_verifying_key(&doc.signing_key)
                .map(|k| crate::trust::keys::KeyId::of(&k).to_string())
                .unwrap_or_else(|_| "?".into()),
            card.site,
            card.keys.key_id()
        )));
    }
    let key = &card.keys.signing;
    let head = verify_records(&doc.records, key)?;
    let c = &doc.checkpoint;
    if !c.is_signed_by(key) {
        return Err(Error::Integrity(
            "audit export: its checkpoint is not signed by the site key; it was forged".into(),
        ));
    }
    let last = doc.records.last();
    match last {
        Some(r) if r.seq == c.seq && r.hash == c.hash => {}
        Some(r) if r.seq < c.seq => {
            return Err(Error::Integrity(format!(
                "audit log truncated: the export ends at record {}, but its signed checkpoint says record {} existed",
                r.seq, c.seq
            )));
        }
        _ => {
            return Err(Error::Integrity(format!(
                "audit export: its records do not end at the signed checkpoint (record {}); records were added or changed",
                c.seq
            )));
        }
    }
    Ok(VerifiedExport {
        site: doc.site.to_string(),
        key_id: card.keys.key_id().to_string(),
        records: doc.records.len(),
        first: doc.records.first().map(|r| r.time),
        last: last.map(|r| r.time),
        head,
        checkpoint: c.seq,
        exported_at: doc.exported_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::home::Home;
    use crate::site::SiteCard;

    #[test]
    fn an_export_verifies_and_names_truncation_edits_and_forgery() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut home =
            Home::init(&dir.path().join("h"), "lab".parse().expect("name")).expect("init");
        for i in 0..3 {
            home.record(AuditEntry::new(
                "test.step",
                &[],
                serde_json::json!({ "i": i }),
            ))
            .expect("append");
        }
        home.checkpoint().expect("checkpoint");
        let card = SiteCard::parse(
            &SiteCard::render(home.site(), home.keys(), home.now()).expect("card"),
            "card",
        )
        .expect("parse");
        let doc = export_document(
            home.root(),
            home.store(),
            home.keys(),
            home.site(),
            home.now(),
        )
        .expect("export");
        let v = verify_export(&doc, &card).expect("verifies");
        assert_eq!(v.records, 4);
        assert_eq!(v.checkpoint, 4);

        let mut truncated = doc.clone();
        truncated.records.pop();
        let err = verify_export(&truncated, &card).expect_err("truncated");
        assert!(
            err.to_string()
                .contains("audit log truncated: the export ends at record 3"),
            "{err}"
        );

        let mut edited = doc.clone();
        edited.records[2].details = serde_json::json!({ "i": 99 });
        let err = verify_export(&edited, &card).expect_err("edited");
        assert!(
            err.to_string()
                .contains("audit log broken at record 3 (test.step)"),
            "{err}"
        );

        let mut reordered = doc.clone();
        reordered.records.swap(1, 2);
        let err = verify_export(&reordered, &card).expect_err("reordered");
        assert!(
            err.to_string().contains("audit log broken at record 3"),
            "{err}"
        );

        let other = crate::trust::keys::SiteKeys::generate().expect("keys");
        let mut forged = doc.clone();
        forged.checkpoint.signature = other.sign(
            Domain::Audit,
            &Checkpoint::statement(forged.checkpoint.seq, &forged.checkpoint.hash),
        );
        let err = verify_export(&forged, &card).expect_err("forged");
        assert!(
            err.to_string().contains("not signed by the site key"),
            "{err}"
        );

        let other_card = SiteCard::parse(
            &SiteCard::render(home.site(), &other, home.now()).expect("card"),
            "card",
        )
        .expect("parse");
        let err = verify_export(&doc, &other_card).expect_err("other key");
        assert!(err.to_string().contains("not of the card's site"), "{err}");
    }
}
