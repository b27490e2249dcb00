//! Dataset ingestion: a CSV file checked against its contract becomes an
//! immutable raw snapshot in the vault and a signed dataset record.
//!
//! The file is read twice: once to check every cell against the contract
//! (nothing is written if any cell breaks it), then streamed into the vault.
//! Both passes hash the file and must agree, so a file changed between them
//! is refused rather than half-checked. Both passes stream: memory stays
//! bounded whatever the file size.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit;
use crate::contract::{Contract, Value};
use crate::digest::{Digest, HashingReader};
use crate::error::{Error, IoContext, Result};
use crate::home::Home;
use crate::registry::{self, Kind, NameRef};
use crate::site::SiteName;
use crate::time::Timestamp;

/// Type tag of dataset records.
pub const DATASET_TYPE: &str = "airlock.dataset/v1";

/// The signed record of one dataset version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetDoc {
    /// Always [`DATASET_TYPE`].
    #[serde(rename = "type")]
    pub ty: String,
    /// The site that ingested it.
    pub site: SiteName,
    /// Dataset name.
    pub name: String,
    /// Version, from 1, per site and name.
    pub version: i64,
    /// The contract it was checked against (vault object).
    pub contract: Digest,
    /// The raw snapshot, byte for byte as ingested (vault object).
    pub snapshot: Digest,
    /// Snapshot size in bytes.
    pub snapshot_size: u64,
    /// Number of data rows.
    pub rows: u64,
    /// The file's name when ingested (no folder).
    pub source: String,
    /// When it was ingested.
    pub created_at: Timestamp,
}

/// What an ingest did.
#[derive(Clone, Debug, Serialize)]
pub struct Ingested {
    /// The dataset record's id.
    pub id: Digest,
    /// Dataset name.
    pub name: String,
    /// Its version.
    pub version: i64,
    /// Rows accepted.
    pub rows: u64,
    /// The raw snapshot's digest.
    pub snapshot: Digest,
    /// The contract's digest.
    pub contract: Digest,
    /// True when this exact file and contract were already ingested under
    /// this name: nothing new was written.
    pub unchanged: bool,
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Ingests `file` as a new version of dataset `name`, checked against the
/// contract at `contract_path`.
pub fn ingest(
    home: &mut Home,
    file: &Path,
    name: &str,
    contract_path: &Path,
    on_row: &mut dyn FnMut(u64),
) -> Result<Ingested> {
    registry::validate_name(name)?;
    let text = std::fs::read_to_string(contract_path).at(contract_path)?;
    let contract = Contract::from_toml(&text, &contract_path.display().to_string())?;
    let contract_bytes = contract.to_canonical();
    let contract_id = Digest::of(&contract_bytes);
    check_contract_version(home, &contract, &contract_id)?;

    // Pass 1: check every cell, hashing the bytes read.
    let source = file.display().to_string();
    let f = File::open(file).at(file)?;
    let mut hashing = HashingReader::new(BufReader::new(f));
    let rows = contract.scan_csv(&mut hashing, &source, &mut |n, _| on_row(n))?;
    let (checked_digest, _) = hashing.finish();

    let site = home.site().clone();
    let existing: Option<(String, i64)> = home
        .conn
        .query_row(
            "SELECT id, version FROM datasets WHERE site = ?1 AND name = ?2 AND snapshot = ?3 AND contract = ?4",
            params![site.as_str(), name, checked_digest.hex(), contract_id.hex()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((id, version)) = existing {
        return Ok(Ingested {
            id: id
                .parse()
                .map_err(|e| Error::Integrity(format!("datasets: {e}")))?,
            name: name.into(),
            version,
            rows,
            snapshot: checked_digest,
            contract: contract_id,
            unchanged: true,
        });
    }

    // Pass 2: stream the same bytes into the vault.
    let f = File::open(file).at(file)?;
    let staged = home
        .vault()
        .stage(BufReader::new(f), Kind::Snapshot.max_size(), &mut |_| {})?;
    if staged.digest() != checked_digest {
        return Err(Error::Rejected(format!(
            "{source} changed while it was being ingested; nothing was stored, try again"
        )));
    }
    let snapshot_size = staged.size();

    let (conn, vault, keys, site) = home.parts();
    let tx = conn.transaction()?;
    let version: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM datasets WHERE site = ?1 AND name = ?2",
        params![site.as_str(), name],
        |r| r.get(0),
    )?;
    vault.commit(staged)?;
    registry::sign_and_index(
        &tx,
        keys,
        site,
        Kind::Snapshot,
        &checked_digest,
        snapshot_size,
    )?;
    let now = Timestamp::now();
    registry::put_object(&tx, vault, keys, site, Kind::Contract, &contract_bytes)?;
    tx.execute(
        "INSERT OR IGNORE INTO contracts (id, site, name, version, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![contract_id.hex(), site.as_str(), contract.name, contract.version, now.to_string()],
    )?;
    let doc = DatasetDoc {
        ty: DATASET_TYPE.into(),
        site: site.clone(),
        name: name.into(),
        version,
        contract: contract_id,
        snapshot: checked_digest,
        snapshot_size,
        rows,
        source: file_name(file),
        created_at: now,
    };
    let id = registry::put_record(&tx, vault, keys, site, Kind::Dataset, &doc)?;
    insert_dataset_row(&tx, &id, &doc)?;
    crate::provenance::record(
        &tx,
        vault,
        keys,
        site,
        "airlock data ingest",
        None,
        &[
            (Kind::Dataset, id),
            (Kind::Snapshot, checked_digest),
            (Kind::Contract, contract_id),
        ],
        &[("contract", contract_id)],
    )?;
    audit::append(
        &tx,
        keys,
        "data.ingest",
        &[id.hex(), checked_digest.hex()],
        json!({ "dataset": format!("{name}@{version}"), "rows": rows, "contract": format!("{}@{}", contract.name, contract.version), "source": doc.source }),
    )?;
    tx.commit()?;
    Ok(Ingested {
        id,
        name: name.into(),
        version,
        rows,
        snapshot: checked_digest,
        contract: contract_id,
        unchanged: false,
    })
}

/// Indexes a dataset record (also used at bundle import).
pub fn insert_dataset_row(
    tx: &rusqlite::Transaction<'_>,
    id: &Digest,
    doc: &DatasetDoc,
) -> Result<()> {
    tx.execute(
        "INSERT INTO datasets (id, site, name, version, snapshot, contract, rows, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(id) DO NOTHING",
        params![
            id.hex(),
            doc.site.as_str(),
            doc.name,
            doc.version,
            doc.snapshot.hex(),
            doc.contract.hex(),
            doc.rows as i64,
            doc.created_at.to_string()
        ],
    )?;
    Ok(())
}

fn check_contract_version(home: &Home, contract: &Contract, id: &Digest) -> Result<()> {
    let existing: Option<String> = home
        .conn
        .query_row(
            "SELECT id FROM contracts WHERE site = ?1 AND name = ?2 AND version = ?3",
            params![home.site().as_str(), contract.name, contract.version],
            |r| r.get(0),
        )
        .optional()?;
    match existing {
        Some(e) if e != id.hex() => Err(Error::Rejected(format!(
            "contract {} v{} is already registered with different content; give the changed contract a new version",
            contract.name, contract.version
        ))),
        _ => Ok(()),
    }
}

/// A dataset loaded for training: its record, contract and typed rows.
pub struct Loaded {
    /// The dataset record's id.
    pub id: Digest,
    /// The record.
    pub doc: DatasetDoc,
    /// The contract it was checked against.
    pub contract: Contract,
    /// Typed rows, parsed from the raw snapshot by the contract.
    pub rows: Vec<Vec<Value>>,
}

/// Loads a contract by id (verifying its signature).
pub fn load_contract(home: &Home, id: &Digest) -> Result<Contract> {
    let c: Contract = registry::load_record(&home.conn, home.vault(), Kind::Contract, id)?;
    Ok(c)
}

/// Resolves `NAME[@V]` to a dataset and parses its snapshot.
pub fn load(home: &Home, r: &NameRef) -> Result<Loaded> {
    let (id, _, _) = registry::resolve(&home.conn, "datasets", "dataset", home.site(), r)?;
    load_by_id(home, &id)
}

/// Loads a dataset by record id.
pub fn load_by_id(home: &Home, id: &Digest) -> Result<Loaded> {
    let doc: DatasetDoc = registry::load_record(&home.conn, home.vault(), Kind::Dataset, id)?;
    let contract = load_contract(home, &doc.contract)?;
    let reader = home.vault().open_object(&doc.snapshot).map_err(|e| match e {
        Error::NotFound(_) => Error::NotFound(format!(
            "dataset {}@{} from site {}: its raw snapshot {} is not held here (export it with --with-data)",
            doc.name, doc.version, doc.site, doc.snapshot.short()
        )),
        e => e,
    })?;
    let source = format!(
        "snapshot {} of {}@{}",
        doc.snapshot.short(),
        doc.name,
        doc.version
    );
    let rows = contract.read_csv(reader, &source, &mut |_| {})?;
    Ok(Loaded {
        id: *id,
        doc,
        contract,
        rows,
    })
}
