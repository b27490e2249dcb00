//! The sampled request log (off by default): a stated share of raw requests per window,
//! each window's sample one vault object of kind `request-log` (encrypted with age like every
//! object), indexed in the store, pruned at its limits with each prune audited, never
//! exported.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::node::home::Home;
use crate::node::time::Timestamp;
use crate::store::{AuditEntry, AuditedTx};
use crate::vault::registry::{self, Kind};

use super::Sampled;

/// The sampled request log: raw requests, encrypted in the vault, pruned at a limit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequestLog {
    /// The share of requests kept, in percent; 0 (the default): off, nothing kept.
    pub sample_percent: f64,
    /// At most this many requests kept per model, slot and window.
    pub max_per_window: u64,
    /// Batches older than this many days are pruned.
    pub max_age_days: u64,
    /// At most this many batches are kept (the oldest pruned first).
    pub max_batches: u64,
}

impl Default for RequestLog {
    fn default() -> Self {
        RequestLog {
            sample_percent: 0.0,
            max_per_window: 10_000,
            max_age_days: 7,
            max_batches: 1_000,
        }
    }
}

/// Type tag of a request log batch.
pub const REQUEST_LOG_TYPE: &str = "airlock.request-log/v1";

/// The request log's batches held, oldest first (`airlock monitor requests`).
pub fn request_batches(home: &Home) -> Result<Vec<crate::store::predictions::RequestBatch>> {
    crate::store::predictions::batches(home.store())
}

/// The requests of one batch of the request log, decrypted from the vault.
pub fn request_batch(home: &Home, id: &Digest) -> Result<Vec<String>> {
    if registry::held_as(home.store(), id, Kind::RequestLog)?.is_none() {
        return Err(Error::NotFound(format!(
            "no request log batch {} is held here (pruned, or never kept)",
            id.short()
        )));
    }
    let bytes = home.vault().read(id, Kind::RequestLog.max_size())?;
    #[derive(Deserialize)]
    struct Batch {
        requests: Vec<String>,
    }
    let b: Batch = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Integrity(format!("request log batch {}: {e}", id.short())))?;
    Ok(b.requests)
}

/// A pruned batch, and whether another kind still holds its bytes (then its file stays).
pub(super) type Pruned = (Digest, bool);

/// Stores each window's sample as a batch (a `request-log` vault object, indexed) inside
/// `tx`, then prunes the log to `policy`: batches stored before `now - max_age_days`, then
/// the oldest beyond `max_batches`, with a `monitor.request-log.prune` audit record naming
/// them. Returns the batches stored and those pruned (with whether another kind still holds
/// the pruned bytes, so its file stays).
pub(super) fn store(
    tx: &AuditedTx<'_>,
    sampled: &[Sampled],
    policy: &RequestLog,
    now: Timestamp,
) -> Result<(Vec<Digest>, Vec<Pruned>)> {
    use crate::store::predictions as log;
    let mut stored = Vec::new();
    for s in sampled {
        let bytes = serde_json::to_vec(
            &json!({ "type": REQUEST_LOG_TYPE, "site": tx.site().to_string(),
            "model": s.model.hex(), "slot": s.slot, "start": s.start, "end": s.end,
            "requests": s.requests }),
        )
        .map_err(|e| Error::Rejected(format!("cannot encode a request log batch: {e}")))?;
        let id = registry::put_object(tx, Kind::RequestLog, &bytes)?;
        log::add_batch(
            tx,
            &log::RequestBatch {
                id,
                model: s.model,
                slot: s.slot.clone(),
                start: s.start.0,
                requests: s.requests.len() as u64,
                stored: now.0,
            },
        )?;
        stored.push(id);
    }
    let held = log::batches(tx)?;
    let day = 86_400i64;
    let too_old = now.0.saturating_sub(
        i64::try_from(policy.max_age_days)
            .unwrap_or(i64::MAX / day)
            .saturating_mul(day),
    );
    let over = held
        .len()
        .saturating_sub(usize::try_from(policy.max_batches).unwrap_or(usize::MAX));
    let mut pruned = Vec::new();
    for (i, b) in held.iter().enumerate() {
        if i < over || b.stored < too_old {
            pruned.push((b.id, log::drop_batch(tx, &b.id)?));
        }
    }
    if !pruned.is_empty() {
        tx.record(AuditEntry::new(
            "monitor.request-log.prune",
            &pruned.iter().map(|(i, _)| i.hex()).collect::<Vec<_>>(),
            json!({ "batches": pruned.len(),
                    "max_age_days": policy.max_age_days,
                    "max_batches": policy.max_batches }),
        ))?;
    }
    Ok((stored, pruned))
}

/// Removes the files of pruned batches, once the transaction that dropped their rows has
/// committed (a crash in between leaves an unreferenced encrypted file, which `airlock vault
/// verify` lists); a file another kind still holds stays.
pub(super) fn remove_files(home: &Home, pruned: &[Pruned]) -> Result<()> {
    for (id, held_otherwise) in pruned {
        if !held_otherwise {
            home.vault().remove(id)?;
        }
    }
    Ok(())
}
