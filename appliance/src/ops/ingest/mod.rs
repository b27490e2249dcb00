//! Dataset ingestion: a CSV or Parquet file checked against its contract
//! becomes an immutable raw snapshot in the vault and a signed dataset
//! record holding the file's profile.
//!
//! The file is read once: its bytes go on one thread into the vault's
//! staging area (hashed and encrypted), and on this thread through the
//! contract checks and the profiler. Nothing is committed unless every
//! check passes; a refusal is recorded in the audit log and, with a
//! quarantine file, the offending rows are written out for the data owner.
//! Memory stays bounded whatever the file size (see `profile` for the
//! sketches; key checks hold 32 bytes per row).
//!
//! Contracts are registered versions (`airlock contract apply`); the raw
//! snapshot is never modified, and everything computed from it (profiles,
//! feature sets, online tables) is stored apart.

mod parallel;
pub mod parquet;
pub mod quarantine;

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use crate::check::Checked;
use crate::contract::{Contract, CsvRows, Value};
use crate::digest::Digest;
use crate::error::{DataError, Error, IoContext, Missing, Result};
use crate::header::{HeaderColumn, HeaderMap, Renamed};
use crate::node::home::Home;
use crate::ops::contract::{
    ContractSource, check_new_version, load_contract, read_contract, reference_profile,
    register_contract, resolve_contract,
};
use crate::ops::ingest::quarantine::{Checker, Quarantine};
use crate::profile::DriftResult;
use crate::store::objects::Table;
use crate::store::{AuditEntry, AuditedTx, datasets};
use crate::vault::registry::{self, Kind, NameRef};

pub use airlock_core::dataset::{DATASET_TYPE, DatasetDoc, Format};

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
    /// The contract as `name@version`.
    pub contract_ref: String,
    /// The drift checks, measured or skipped (and why).
    pub drift: Vec<DriftResult>,
    /// True when this exact file and contract were already ingested under
    /// this name: nothing new was written.
    pub unchanged: bool,
    /// Header columns of the file the contract ignores (kept in the raw
    /// snapshot, never read).
    pub ignored: Vec<HeaderColumn>,
    /// Header columns read as contract columns of another name.
    pub renamed: Vec<Renamed>,
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Options of an ingest.
#[derive(Clone, Debug, Default)]
pub struct IngestOptions {
    /// Write offending rows here when the file is refused.
    pub quarantine: Option<PathBuf>,
    /// The file's format (by default from its extension).
    pub format: Option<Format>,
}

/// A reader that copies every byte it reads into `tee`.
struct Tee<R, W> {
    inner: R,
    tee: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.tee.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Reads `file` once: into the vault's staging area on a second thread,
/// and through `scan` on this one. Returns the staged snapshot with what
/// `scan` returned; an error of either side is reported (the stager's
/// first, as a full disk makes the scan fail only with a broken pipe).
fn read_once<T>(
    home: &Home,
    file: &Path,
    scan: impl FnOnce(&mut dyn Read) -> Result<T>,
) -> Result<(crate::vault::Staged, T)> {
    let f = File::open(file).at(file)?;
    let vault = home.vault();
    std::thread::scope(|s| {
        let (writer, reader) = crate::vault::pipe::pipe();
        let stager = s.spawn(move || vault.stage(reader, Kind::Snapshot.max_size(), &mut |_| {}));
        let mut tee = Tee {
            inner: BufReader::with_capacity(256 << 10, f),
            tee: writer,
        };
        let scanned = scan(&mut tee).and_then(|t| {
            // Whatever the scan left unread still belongs to the snapshot.
            std::io::copy(&mut tee, &mut std::io::sink()).at(file)?;
            tee.tee.flush().at(file)?;
            Ok(t)
        });
        drop(tee);
        let staged = stager
            .join()
            .map_err(|_| Error::Integrity("the snapshot writer thread panicked".into()))?;
        match (staged, scanned) {
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(e),
            (Ok(st), Ok(t)) => Ok((st, t)),
        }
    })
}

/// Ingests `file` as a new version of dataset `name`, checked against a
/// contract. `on_row` is told the row count as it goes, for progress.
pub fn ingest(
    home: &mut Home,
    file: &Path,
    name: &str,
    contract_source: &ContractSource,
    opts: &IngestOptions,
    on_row: &mut dyn FnMut(u64),
) -> Result<Ingested> {
    registry::validate_name(name)?;
    // The file's name is kept in the signed record as its source and shown
    // at every site the dataset travels to.
    crate::text::check_free_text("the file name", &file_name(file))?;
    let (contract, contract_id) = match contract_source {
        ContractSource::File(p) => {
            let c = read_contract(p)?;
            let id = Digest::of(&c.to_canonical());
            check_new_version(home.store(), home.site(), &c, &id)?;
            (c, id)
        }
        ContractSource::Registered(r) => {
            let (id, c) = resolve_contract(home, r)?;
            (c, id)
        }
        ContractSource::Id(id) => (load_contract(home, id)?, *id),
    };
    let contract_ref = format!("{}@{}", contract.name, contract.version);
    let reference = reference_profile(home, &contract)?;
    let format = opts.format.unwrap_or_else(|| Format::of(file));
    let quarantine = match &opts.quarantine {
        Some(q) => Some(Quarantine::new(q, &contract)?),
        None => None,
    };
    let source = file.display().to_string();
    let mut checker = crate::ops::ingest::quarantine::checker(
        &contract,
        reference,
        quarantine,
        &home.vault().tmp_dir(),
    );
    let scanned = scan_file(home, file, format, &contract, &mut checker, on_row);
    let (staged, header) = match scanned {
        Ok(scanned) => scanned,
        Err(e @ (Error::Rejected(_) | Error::Data(_))) => {
            // The file is unreadable or its header or schema differs.
            // The message can quote cells (a header-less file's first row
            // read as a header): the audit log gets only the kind.
            return Err(refused_early(home, name, file, &contract_ref, e));
        }
        Err(e) => return Err(e),
    };
    let HeaderMap {
        ignored, renamed, ..
    } = header;
    let (checked, quarantine) = checker.finish()?;
    on_row(checked.rows);
    if checked.tally.total() > 0 {
        return Err(refuse(
            home, file, name, &contract, checked, quarantine, format,
        ));
    }
    if checked.rows == 0 {
        let e = Error::Data(DataError::NoDataRows { file: source });
        return Err(refused_early(home, name, file, &contract_ref, e));
    }
    drop(quarantine);
    let Checked {
        rows,
        profile,
        drift,
        ..
    } = checked;
    let snapshot = staged.digest();

    let site = home.site().clone();
    let existing = datasets::same_snapshot(home.store(), &site, name, &snapshot, &contract_id)?;
    if let Some((id, version)) = existing {
        return Ok(Ingested {
            id: id
                .parse()
                .map_err(|e| Error::Integrity(format!("datasets: {e}")))?,
            name: name.into(),
            version,
            rows,
            snapshot,
            contract: contract_id,
            contract_ref,
            drift,
            unchanged: true,
            ignored,
            renamed,
        });
    }
    let snapshot_size = staged.size();
    let tx = home.begin()?;
    let site = tx.site();
    let version = datasets::next_version(&tx, site, name)?;
    tx.vault().commit(staged)?;
    registry::sign_and_index(&tx, Kind::Snapshot, &snapshot, snapshot_size)?;
    register_contract(&tx, &contract)?;
    let doc = DatasetDoc {
        ty: DATASET_TYPE.into(),
        site: site.clone(),
        name: name.into(),
        version,
        contract: contract_id,
        snapshot,
        snapshot_size,
        format,
        rows,
        source: file_name(file),
        created_at: tx.now(),
        profile: Some(profile),
        ignored,
        renamed,
    };
    let id = registry::put_record(&tx, &doc)?;
    insert_dataset_row(&tx, &id, &doc)?;
    crate::ops::provenance::record(
        &tx,
        "airlock data ingest",
        None,
        &[
            (Kind::Dataset, id),
            (Kind::Snapshot, snapshot),
            (Kind::Contract, contract_id),
        ],
        &[("contract", contract_id)],
    )?;
    let mut details = json!({ "dataset": format!("{name}@{version}"), "rows": rows, "contract": contract_ref, "source": doc.source, "format": format });
    // How many header columns were not read, or read under another name:
    // the names are in the signed dataset record.
    if !doc.ignored.is_empty() {
        details["ignored_columns"] = json!(doc.ignored.len());
    }
    if !doc.renamed.is_empty() {
        details["renamed_columns"] = json!(doc.renamed.len());
    }
    tx.commit(AuditEntry::new(
        "data.ingest",
        &[id.hex(), snapshot.hex()],
        details,
    ))?;
    Ok(Ingested {
        id,
        name: name.into(),
        version,
        rows,
        snapshot,
        contract: contract_id,
        contract_ref,
        drift,
        unchanged: false,
        ignored: doc.ignored,
        renamed: doc.renamed,
    })
}

/// The reason an ingest refused before checking rows records in the audit
/// log: the kind of failure, from the error's cause, never its text (which
/// can quote the file's cells).
fn refusal_reason(e: &Error) -> &'static str {
    match e {
        Error::Data(DataError::HeaderMismatch { .. }) => {
            "the header or schema does not match the contract"
        }
        Error::Data(DataError::NoDataRows { .. } | DataError::EmptyFile { .. }) => "no data rows",
        _ => "unreadable or malformed file",
    }
}

/// Records an ingest refused before any row broke the contract (a
/// `data.refused` with only the kind, [`refusal_reason`]) and returns its
/// error, noting in it if the record could not be written.
fn refused_early(home: &mut Home, name: &str, file: &Path, contract: &str, e: Error) -> Error {
    let reason = refusal_reason(&e);
    let details = json!({ "dataset": name, "source": file_name(file), "contract": contract, "reason": reason });
    match audit_refusal(home, "data.refused", details) {
        Some(note) => Error::Rejected(format!("{e}\n{note}")),
        None => e,
    }
}

/// Reads the file once, through the checker and into the vault's staging
/// area. Returns the staged snapshot and how the file's columns mapped to
/// the contract's.
fn scan_file(
    home: &Home,
    file: &Path,
    format: Format,
    contract: &Contract,
    checker: &mut Checker<'_>,
    on_row: &mut dyn FnMut(u64),
) -> Result<(crate::vault::Staged, HeaderMap)> {
    let source = file.display().to_string();
    match format {
        Format::Csv => read_once(home, file, |input| {
            let mut rows = CsvRows::open(contract, input, &source)?;
            while let Some(r) = rows.next_record()? {
                checker.csv_record(&r)?;
                if r.row % 4096 == 0 {
                    on_row(r.row);
                }
            }
            Ok(rows.header_map().clone())
        }),
        Format::Parquet => {
            // Parquet needs random access: the bytes are copied to a private
            // file (nobody else can change them) while they are staged, and
            // read from there.
            let (staged, f) = read_once(home, file, |input| private_copy(home, input))?;
            let (_, map) =
                crate::ops::ingest::parquet::scan(contract, f, &source, &mut |n, cells, raw| {
                    checker.typed_row(n, cells, raw)?;
                    if n % 4096 == 0 {
                        on_row(n);
                    }
                    Ok(())
                })?;
            Ok((staged, map))
        }
    }
}

/// Copies `input` into a private, unnamed temporary file in the vault's
/// staging folder: it has no name to be opened by, and disappears when
/// closed, crash or not. Returned rewound.
fn private_copy(home: &Home, input: &mut dyn Read) -> Result<File> {
    use std::io::Seek;
    let dir = home.vault().tmp_dir();
    let mut f = tempfile::tempfile_in(&dir).at(&dir)?;
    {
        let mut w = std::io::BufWriter::new(&mut f);
        std::io::copy(input, &mut w).at(&dir)?;
        w.flush().at(&dir)?;
    }
    f.rewind().at(&dir)?;
    Ok(f)
}

/// Records a refused ingest in the audit log; returns a note for the error
/// message if that failed.
pub(crate) fn audit_refusal(
    home: &mut Home,
    action: &str,
    details: serde_json::Value,
) -> Option<String> {
    home.record(AuditEntry::new(action, &[], details))
        .err()
        .map(|e| format!("the refusal could not be recorded in the audit log: {e}"))
}

/// A refused file: the quarantine file is finished (with the rows whose key
/// repeated, read again), the refusal is audited, and the error lists the
/// violations.
fn refuse(
    home: &mut Home,
    file: &Path,
    name: &str,
    contract: &Contract,
    checked: Checked,
    quarantine: Option<Quarantine>,
    format: Format,
) -> Error {
    let source = file.display().to_string();
    let mut msg = checked.tally.report(contract, &source);
    let mut quarantined = None;
    if let Some(mut q) = quarantine {
        let result = (|| -> Result<(PathBuf, u64)> {
            // Rows whose key repeats are known only at the end: read again.
            let dups = &checked.duplicate_rows;
            if !dups.is_empty() {
                let f = File::open(file).at(file)?;
                match format {
                    Format::Csv => {
                        let mut rows = CsvRows::open(contract, BufReader::new(f), &source)?;
                        while let Some(r) = rows.next_record()? {
                            if dups.contains(&r.row) {
                                let cells: Vec<&str> = r.cells.unwrap_or(r.raw).iter().collect();
                                q.add(r.row, r.line, "duplicate key", &cells)?;
                            }
                        }
                    }
                    Format::Parquet => {
                        crate::ops::ingest::parquet::scan(
                            contract,
                            f,
                            &source,
                            &mut |n, _, raw| {
                                if dups.contains(&n) {
                                    let cells = raw();
                                    let refs: Vec<&str> =
                                        cells.iter().map(String::as_str).collect();
                                    q.add(n, 0, "duplicate key", &refs)?;
                                }
                                Ok(())
                            },
                        )?;
                    }
                }
            }
            q.finish()
        })();
        match result {
            Ok((path, n)) => {
                msg.push_str(&format!("\n{n} offending rows written to {} (it holds raw data: give it only to the data owner)", path.display()));
                quarantined = Some(path.display().to_string());
            }
            Err(e) => msg.push_str(&format!("\nthe quarantine file could not be written: {e}")),
        }
    }
    let details = json!({ "dataset": name, "source": file_name(file), "contract": format!("{}@{}", contract.name, contract.version),
                          "violations": checked.tally.counts(), "quarantine": quarantined });
    if let Some(note) = audit_refusal(home, "data.refused", details) {
        msg.push('\n');
        msg.push_str(&note);
    }
    Error::Rejected(msg)
}

/// Indexes a dataset record (also used at bundle import).
pub fn insert_dataset_row(tx: &AuditedTx<'_>, id: &Digest, doc: &DatasetDoc) -> Result<()> {
    datasets::insert(
        tx,
        &datasets::DatasetRow {
            id,
            site: &doc.site,
            name: &doc.name,
            version: doc.version,
            snapshot: &doc.snapshot,
            contract: &doc.contract,
            rows: doc.rows,
            created_at: &doc.created_at.to_string(),
        },
    )
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

/// Resolves `NAME[@V]` to a dataset and parses its snapshot.
pub fn load(home: &Home, r: &NameRef) -> Result<Loaded> {
    let (id, _, _) = registry::resolve(home.store(), Table::Datasets, "dataset", home.site(), r)?;
    load_by_id(home, &id)
}

/// Loads a dataset by record id.
pub fn load_by_id(home: &Home, id: &Digest) -> Result<Loaded> {
    let mut rows = Vec::new();
    let (doc, contract) = stream_by_id(home, id, &mut |_, row| {
        rows.push(row);
        Ok(())
    })?;
    Ok(Loaded {
        id: *id,
        doc,
        contract,
        rows,
    })
}

/// Streams a dataset's rows, parsed from its raw snapshot by its contract,
/// to `each` (row number from 1, typed row), in bounded memory. The first
/// error `each` returns stops the stream and is returned.
pub fn stream_by_id(
    home: &Home,
    id: &Digest,
    each: &mut dyn FnMut(u64, Vec<Value>) -> Result<()>,
) -> Result<(DatasetDoc, Contract)> {
    stream_rows_by_id(home, id, &mut |n, row| each(n, row.to_vec()))
}

/// [`stream_by_id`] lending each row: the row (and its text) is a buffer
/// reused for the next one, so a caller that keeps nothing allocates
/// nothing per row (CSV snapshots; a Parquet row is built per row).
///
/// A CSV snapshot is parsed on every core (`parallel`): rows come in file
/// order with their numbers, and a snapshot that breaks its contract or is
/// malformed gives the serial scan's error, rows before the first
/// violation handed as the serial scan hands them.
pub fn stream_rows_by_id(
    home: &Home,
    id: &Digest,
    each: &mut dyn FnMut(u64, &[Value]) -> Result<()>,
) -> Result<(DatasetDoc, Contract)> {
    let doc: DatasetDoc = registry::load(home.store(), home.vault(), id)?;
    let contract = load_contract(home, &doc.contract)?;
    let open = || {
        home.vault()
            .open_object(&doc.snapshot)
            .map_err(|e| match e {
                Error::Missing(Missing::VaultObject { id, .. }) if id == doc.snapshot => {
                    Error::Missing(Missing::Snapshot {
                        dataset: doc.name.clone(),
                        version: doc.version,
                        site: doc.site.to_string(),
                        snapshot: doc.snapshot,
                    })
                }
                e => e,
            })
    };
    let source = format!(
        "snapshot {} of {}@{}",
        doc.snapshot.short(),
        doc.name,
        doc.version
    );
    match doc.format {
        Format::Csv => {
            // On every core, with the serial scan's rows and errors.
            let tuning = parallel::Tuning::for_this_machine();
            parallel::stream_csv(&contract, &source, &open, tuning, each)?;
        }
        Format::Parquet => {
            // Decrypted into a private temporary file for random access.
            let mut reader = open()?;
            let f = private_copy(home, &mut reader)?;
            crate::ops::ingest::parquet::scan(&contract, f, &source, &mut |n, cells, _| {
                let row = crate::ops::ingest::parquet::strict_row(&contract, &source, n, cells)?;
                each(n, &row)
            })?;
        }
    }
    Ok((doc, contract))
}

/// Every dataset version held here, by site, name and version.
pub fn list(home: &Home) -> Result<Vec<registry::Listed>> {
    datasets::list(home.store())
}

/// A dataset version's record (with its profile), for `data show`.
pub fn show(home: &Home, r: &NameRef) -> Result<(Digest, DatasetDoc)> {
    crate::ops::contract::dataset_record(home, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The audit log's reason comes from the error's cause, whatever its
    /// text says: a malformed file whose message happens to contain "does
    /// not match contract" (a quoted cell) is still recorded as malformed.
    #[test]
    fn the_recorded_refusal_reason_comes_from_the_cause_not_the_text() {
        let header = Error::Data(DataError::HeaderMismatch {
            file: "a.csv".into(),
            contract: "people".into(),
            version: 1,
            problems: vec!["missing columns: age".into()],
            help: vec![],
        });
        let empty = Error::Data(DataError::EmptyFile {
            file: "a.csv".into(),
        });
        let no_rows = Error::Data(DataError::NoDataRows {
            file: "a.csv".into(),
        });
        let quoting = Error::Rejected(
            "a.csv: malformed CSV at row 2: \"does not match contract; no data rows\"".into(),
        );
        assert_eq!(
            refusal_reason(&header),
            "the header or schema does not match the contract"
        );
        assert_eq!(refusal_reason(&empty), "no data rows");
        assert_eq!(refusal_reason(&no_rows), "no data rows");
        assert_eq!(refusal_reason(&quoting), "unreadable or malformed file");
    }
}
