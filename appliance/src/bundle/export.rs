//! Bundle export.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::iter;
use std::path::Path;

use serde::Serialize;
use serde_json::json;

use super::format::{self, Entry, Manifest};
use crate::audit;
use crate::data::DatasetDoc;
use crate::db;
use crate::digest::{Digest, HashingWriter};
use crate::error::{Error, IoContext, Result};
use crate::features::FeatureSetDoc;
use crate::fsx;
use crate::home::Home;
use crate::keys::Domain;
use crate::models;
use crate::registry::{self, Kind, NameRef};
use crate::site::SiteCard;
use crate::time::Timestamp;

/// Something to export.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// A model (id or unique prefix) with its lineage.
    Model(String),
    /// A dataset version with its raw snapshot.
    Dataset(NameRef),
}

impl std::str::FromStr for Item {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("model:") {
            Ok(Item::Model(rest.into()))
        } else if let Some(rest) = s.strip_prefix("dataset:") {
            Ok(Item::Dataset(rest.parse()?))
        } else if s.len() >= 8 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Item::Model(s.into()))
        } else {
            Err(Error::Rejected(format!(
                "export item {s:?}: write model:ID (or a bare model id) or dataset:NAME[@VERSION]"
            )))
        }
    }
}

/// What an export wrote.
#[derive(Clone, Debug, Serialize)]
pub struct Exported {
    /// The bundle file.
    pub file: String,
    /// SHA-256 of the bundle file as written.
    pub sha256: Digest,
    /// Recipient site.
    pub recipient: String,
    /// This origin's sequence number.
    pub sequence: u64,
    /// Objects carried.
    pub objects: usize,
    /// Bytes of objects carried (before encryption).
    pub bytes: u64,
    /// Expiry.
    pub expires_at: Timestamp,
}

fn add(list: &mut BTreeMap<Digest, Kind>, kind: Kind, id: Digest) {
    list.insert(id, kind);
}

fn order(kind: Kind) -> u8 {
    match kind {
        Kind::Contract => 0,
        Kind::Snapshot => 1,
        Kind::Dataset => 2,
        Kind::FeatureSet => 3,
        Kind::Weights => 4,
        Kind::Run => 5,
        Kind::Gate => 6,
        Kind::Approval => 7,
        _ => 8,
    }
}

fn ids_of(home: &Home, sql: &str, model: &Digest) -> Result<Vec<Digest>> {
    let mut stmt = home.conn.prepare(sql)?;
    let ids: Vec<String> = stmt
        .query_map([model.hex()], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.iter()
        .map(|s| {
            s.parse()
                .map_err(|e| Error::Integrity(format!("{sql}: {e}")))
        })
        .collect()
}

/// Gathers the objects an export carries: each item with its lineage.
pub fn closure(home: &Home, items: &[Item], with_data: bool) -> Result<BTreeMap<Digest, Kind>> {
    let mut list = BTreeMap::new();
    for item in items {
        match item {
            Item::Model(prefix) => {
                let id = registry::resolve_model(&home.conn, prefix)?;
                let run = models::load_run(home, &id)?;
                add(&mut list, Kind::Run, id);
                add(&mut list, Kind::Weights, run.weights);
                add(&mut list, Kind::FeatureSet, run.feature_set);
                let fs: FeatureSetDoc = registry::load_record(
                    &home.conn,
                    home.vault(),
                    Kind::FeatureSet,
                    &run.feature_set,
                )?;
                add(&mut list, Kind::Contract, fs.contract);
                add(&mut list, Kind::Dataset, run.dataset);
                if fs.dataset != run.dataset {
                    add(&mut list, Kind::Dataset, fs.dataset);
                }
                for g in ids_of(home, "SELECT id FROM gates WHERE model = ?1", &id)? {
                    add(&mut list, Kind::Gate, g);
                }
                for a in ids_of(home, "SELECT id FROM approvals WHERE model = ?1", &id)? {
                    add(&mut list, Kind::Approval, a);
                }
                if with_data {
                    add(&mut list, Kind::Snapshot, run.snapshot);
                }
            }
            Item::Dataset(r) => {
                let (id, _, _) =
                    registry::resolve(&home.conn, "datasets", "dataset", home.site(), r)?;
                let doc: DatasetDoc =
                    registry::load_record(&home.conn, home.vault(), Kind::Dataset, &id)?;
                add(&mut list, Kind::Dataset, id);
                add(&mut list, Kind::Contract, doc.contract);
                add(&mut list, Kind::Snapshot, doc.snapshot);
            }
        }
    }
    // Raw snapshots of every dataset record carried, with --with-data.
    if with_data {
        let datasets: Vec<Digest> = list
            .iter()
            .filter(|(_, k)| **k == Kind::Dataset)
            .map(|(d, _)| *d)
            .collect();
        for id in datasets {
            let doc: DatasetDoc =
                registry::load_record(&home.conn, home.vault(), Kind::Dataset, &id)?;
            add(&mut list, Kind::Snapshot, doc.snapshot);
        }
    }
    Ok(list)
}

/// Exports `items` to the site described by `card`, writing `out`.
pub fn export(
    home: &mut Home,
    card: &SiteCard,
    items: &[Item],
    with_data: bool,
    expires_in_days: u32,
    out: &Path,
    on_bytes: &mut dyn FnMut(u64, u64),
) -> Result<Exported> {
    if items.is_empty() {
        return Err(Error::Rejected(
            "nothing to export: name at least one model or dataset".into(),
        ));
    }
    if !(1..=3650).contains(&expires_in_days) {
        return Err(Error::Rejected(
            "--expires-in must be 1 to 3650 days".into(),
        ));
    }
    if out.exists() {
        return Err(Error::Refused(format!(
            "{} already exists; refusing to overwrite it",
            out.display()
        )));
    }
    // The recipient must be a trusted peer, and the card must carry the keys
    // the trust list holds for it.
    let trusted: Option<(String, String)> = home
        .conn
        .query_row(
            "SELECT signing_key, age_recipient FROM trusted_sites WHERE site = ?1",
            [card.site.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map(Some)
        .or_else(|e| {
            if matches!(e, rusqlite::Error::QueryReturnedNoRows) {
                Ok(None)
            } else {
                Err(e)
            }
        })?;
    match trusted {
        None => {
            return Err(Error::Refused(format!(
                "site {} is not trusted here; run `airlock trust add CARD` for it first",
                card.site
            )));
        }
        Some((sk, age))
            if sk != hex::encode(card.keys.signing.as_bytes())
                || age != card.keys.age_recipient =>
        {
            return Err(Error::Refused(format!(
                "the card for site {} does not carry the keys this node trusts for it; refusing to export",
                card.site
            )));
        }
        Some(_) => {}
    }
    let list = closure(home, items, with_data)?;
    let mut entries = Vec::with_capacity(list.len());
    for (id, kind) in &list {
        let (stored_kind, size) = registry::object_info(&home.conn, id)?.ok_or_else(|| {
            Error::NotFound(format!(
                "{kind} {} is not held in this vault; it cannot be exported",
                id.short()
            ))
        })?;
        if !home.vault().contains(id) {
            return Err(Error::NotFound(format!(
                "{kind} {} is indexed but missing from the vault",
                id.short()
            )));
        }
        let attestations = registry::attestations(&home.conn, id)?;
        entries.push(Entry {
            id: *id,
            kind: stored_kind,
            size,
            attestations,
        });
    }
    entries.sort_by_key(|e| (order(e.kind), e.id));
    let total: u64 = entries.iter().map(|e| e.size).sum();

    let now = Timestamp::now();
    let site = home.site().clone();
    let key_id = home.keys().key_id().to_string();
    let (conn, vault, keys, _) = home.parts();
    let tx = conn.transaction()?;
    let sequence: u64 = db::meta(&tx, "export_sequence")?
        .parse::<u64>()
        .map_err(|_| Error::Integrity("store metadata export_sequence is not a number".into()))?
        + 1;
    db::set_meta(&tx, "export_sequence", &sequence.to_string())?;
    let manifest = Manifest {
        format: format::FORMAT_VERSION,
        origin_site: site.clone(),
        origin_key: key_id,
        recipient_site: card.site.clone(),
        recipient_key: card.keys.age_recipient.clone(),
        sequence,
        created_at: now,
        expires_at: now.plus_days(expires_in_days),
        objects: entries,
    };
    manifest
        .check()
        .map_err(|e| Error::Rejected(e.to_string()))?;
    let manifest_bytes =
        serde_json::to_vec(&manifest).map_err(|e| Error::Rejected(e.to_string()))?;
    let mut signature = [0u8; 64];
    hex::decode_to_slice(keys.sign(Domain::Manifest, &manifest_bytes), &mut signature)
        .map_err(|_| Error::Integrity("signature encoding".into()))?;

    // Write to a temporary file beside the target, then rename.
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".airlock-export-")
        .tempfile_in(dir)
        .at(dir)?;
    let tmp_path = tmp.path().to_path_buf();
    let recipient = card.keys.recipient()?;
    let encryptor = age::Encryptor::with_recipients(iter::once(&recipient as _))
        .map_err(|e| Error::io(&tmp_path, io::Error::other(e.to_string())))?;
    let file_out = HashingWriter::new(BufWriter::new(tmp.as_file()));
    let mut w = encryptor.wrap_output(file_out).at(&tmp_path)?;
    format::write_header(&mut w, &manifest_bytes, &signature).at(&tmp_path)?;
    let mut done = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    for e in &manifest.objects {
        let mut r = vault.open_object(&e.id)?;
        let mut copied = 0u64;
        loop {
            let n = io::Read::read(&mut r, &mut buf)
                .map_err(|err| Error::Integrity(format!("{} {}: {err}", e.kind, e.id.short())))?;
            if n == 0 {
                break;
            }
            w.write_all(&buf[..n]).at(&tmp_path)?;
            copied += n as u64;
            done += n as u64;
            on_bytes(done, total);
        }
        if copied != e.size {
            return Err(Error::Integrity(format!(
                "{} {} holds {copied} bytes, its index says {}",
                e.kind,
                e.id.short(),
                e.size
            )));
        }
    }
    let hashing = w.finish().at(&tmp_path)?;
    let (mut inner, sha256, _) = hashing.finish();
    inner.flush().at(&tmp_path)?;
    drop(inner);
    tmp.as_file().sync_all().at(&tmp_path)?;
    tmp.persist_noclobber(out)
        .map_err(|e| Error::io(out, e.error))?;
    fsx::sync_dir(dir)?;

    let ids: Vec<String> = manifest.objects.iter().map(|e| e.id.hex()).collect();
    let details = json!({ "recipient": card.site.as_str(), "sequence": sequence, "objects": ids.len(), "bytes": total, "bundle_sha256": sha256.hex() });
    let committed =
        audit::append(&tx, keys, "bundle.export", &ids, details).and_then(|_| Ok(tx.commit()?));
    if let Err(e) = committed {
        // The export is not recorded: do not leave an unrecorded bundle behind.
        let _ = std::fs::remove_file(out);
        return Err(e);
    }
    Ok(Exported {
        file: out.display().to_string(),
        sha256,
        recipient: card.site.to_string(),
        sequence,
        objects: manifest.objects.len(),
        bytes: total,
        expires_at: manifest.expires_at,
    })
}
