//! Drift of a file from a reference dataset (`airlock data drift NAME@V --current FILE`),
//! over the core's drift measures ([`airlock_core::drift`], re-exported here).
//!
//! The reference is a dataset version held here: its contract, and the summaries its
//! profile keeps (numbers since this release; categories from the value counts every
//! profile has). A profile from before numeric summaries were kept is profiled again from
//! the raw snapshot, streaming, on every call (the command writes nothing, so the result is
//! not kept); without the snapshot the command says so.
//!
//! The current file is read once, streaming, under the reference's contract: every cell is
//! parsed and checked as at ingest (type, range, category, missing), and a file that breaks
//! the contract is refused with its violations located, as ingest refuses it. The file-wide
//! rules of ingest (keys, null rates, distinct counts) are not applied: they describe a
//! dataset, not data being compared. One thread reads and splits the CSV, the others parse
//! cells into sketches of their own, which are merged at the end.
//!
//! Read-only: the home is opened read-only by the caller, and nothing is written or
//! audited (like `predict`).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};

use serde::Serialize;

pub use airlock_core::drift::*;

use crate::check::{LISTED_PER_RULE, Rule, Tally, Violation, cell_violation, fields_violation};
use crate::contract::{Contract, CsvRows};
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::node::home::Home;
use crate::ops::ingest::{self, Format};
use crate::profile::{Profile, Profiler};
use crate::vault::registry::NameRef;

/// Where the reference's summaries came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReferenceFrom {
    /// The profile stored with the dataset record at ingest.
    Profile,
    /// Its raw snapshot, profiled again (a record from before summaries were kept).
    Snapshot,
}

/// Drift of a file from a reference dataset, per feature.
#[derive(Clone, Debug, Serialize)]
pub struct DatasetDrift {
    /// The reference, `SITE/NAME@VERSION`.
    pub reference: String,
    /// The reference dataset record's id.
    pub reference_id: Digest,
    /// The contract both were read under, `NAME@VERSION`.
    pub contract: String,
    /// The current file, as given.
    pub current: String,
    /// Reference rows.
    pub reference_rows: u64,
    /// Current rows.
    pub current_rows: u64,
    /// Where the reference's summaries came from.
    pub reference_from: ReferenceFrom,
    /// Features that drifted, by name.
    pub drifted: Vec<String>,
    /// The rule and thresholds used.
    pub policy: DriftPolicy,
    /// One report per contract column, in order (key and time columns not checked).
    pub features: Vec<DriftReport>,
}

/// Measures the drift of `file` (CSV, or Parquet by extension or `format`) from dataset
/// `reference`, under its contract. `on_row` is told the rows read so far.
pub fn against_file(
    home: &Home,
    reference: &NameRef,
    file: &Path,
    format: Option<Format>,
    policy: &DriftPolicy,
    on_row: &(dyn Fn(u64) + Sync),
) -> Result<DatasetDrift> {
    policy.check("(as given)")?;
    let (id, doc) = ingest::show(home, reference)?;
    let contract = crate::ops::contract::load_contract(home, &doc.contract)?;
    let (profile, from) = match doc.profile {
        Some(p) if !p.lacks_summaries(&contract) => (p, ReferenceFrom::Profile),
        _ => (
            profile_again(home, &id, &contract)?,
            ReferenceFrom::Snapshot,
        ),
    };
    let reference_set = profile.drift_reference(&contract)?;
    let sketch = match format.unwrap_or_else(|| Format::of(file)) {
        Format::Csv => sketch_csv(&contract, &reference_set, file, on_row)?,
        Format::Parquet => sketch_parquet(&contract, &reference_set, file, on_row)?,
    };
    let features = compare(&reference_set, &sketch, policy);
    let drifted = features
        .iter()
        .filter(|f| f.verdict == Verdict::Drift)
        .map(|f| f.column.clone())
        .collect();
    Ok(DatasetDrift {
        reference: format!("{}/{}@{}", doc.site, doc.name, doc.version),
        reference_id: id,
        contract: format!("{}@{}", contract.name, contract.version),
        current: file.display().to_string(),
        reference_rows: doc.rows,
        current_rows: sketch.rows(),
        reference_from: from,
        drifted,
        policy: policy.clone(),
        features,
    })
}

/// The drift reference of dataset record `id` (its profile's summaries, or its snapshot
/// profiled again when the profile predates them), with its contract.
pub fn reference_of(home: &Home, id: &Digest) -> Result<(Reference, Contract)> {
    let doc: ingest::DatasetDoc = crate::vault::registry::load(home.store(), home.vault(), id)?;
    let contract = crate::ops::contract::load_contract(home, &doc.contract)?;
    let profile = match doc.profile {
        Some(p) if !p.lacks_summaries(&contract) => p,
        _ => profile_again(home, id, &contract)?,
    };
    Ok((profile.drift_reference(&contract)?, contract))
}

/// The reference's profile, computed again from its raw snapshot.
fn profile_again(home: &Home, id: &Digest, contract: &Contract) -> Result<Profile> {
    let mut p = Profiler::new(contract, None);
    ingest::stream_by_id(home, id, &mut |_, row| {
        p.row();
        for (i, v) in row.iter().enumerate() {
            p.cell(i, v.as_ref());
        }
        Ok(())
    })?;
    Ok(p.finish(contract).0)
}

/// Violations found by one worker: the first few of each rule, and counts.
#[derive(Default)]
struct Found {
    listed: Vec<Violation>,
    counts: BTreeMap<Rule, u64>,
}

impl Found {
    fn add(&mut self, v: Violation) {
        let n = self.counts.entry(v.rule).or_default();
        *n += 1;
        if *n <= LISTED_PER_RULE as u64 {
            self.listed.push(v);
        }
    }

    fn merge(&mut self, other: Found) {
        self.listed.extend(other.listed);
        for (rule, n) in other.counts {
            *self.counts.entry(rule).or_default() += n;
        }
    }

    /// The tally ingest would report: per rule the first violations by row, and counts.
    fn into_tally(mut self) -> Tally {
        self.listed.sort_by_key(|v| (v.row, v.column.clone()));
        let mut tally = Tally::default();
        let mut shown: BTreeMap<Rule, u64> = BTreeMap::new();
        for v in self.listed {
            let n = shown.entry(v.rule).or_default();
            if *n < LISTED_PER_RULE as u64 {
                *n += 1;
                tally.add(v);
            }
        }
        for (rule, n) in self.counts {
            tally.count_more(rule, n - shown.get(&rule).copied().unwrap_or(0));
        }
        tally
    }
}

/// Where a record is (row, line), and for one of the wrong width, its expected and found
/// field counts.
type At = (u64, u64, Option<(usize, usize)>);

/// Records handed from the reading thread to the workers.
struct Batch {
    /// Row number and line of each record, and for a record of another width than the
    /// file's, its expected and found field counts.
    at: Vec<At>,
    records: Vec<csv::StringRecord>,
    len: usize,
}

const BATCH: usize = 4096;

fn refusal(found: Found, contract: &Contract, source: &str) -> Error {
    // The report's first line ends as ingest's does; this command stores nothing either way.
    Error::Rejected(found.into_tally().report(contract, source).replacen(
        "; nothing was stored",
        "; drift was not measured",
        1,
    ))
}

/// Reads a CSV file into a sketch: this thread splits records, worker threads parse them.
fn sketch_csv(
    contract: &Contract,
    reference: &Reference,
    file: &Path,
    on_row: &(dyn Fn(u64) + Sync),
) -> Result<Sketch> {
    let f = File::open(file).at(file)?;
    let source = file.display().to_string();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .clamp(1, 8);
    let (work_tx, work_rx) = mpsc::sync_channel::<Batch>(2 * workers);
    let (free_tx, free_rx) = mpsc::channel::<Batch>();
    // Each worker holds the receiving end: when every worker has stopped (a panic), it is
    // gone and the reader's next send fails instead of waiting forever.
    let work_rx = Arc::new(Mutex::new(work_rx));
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (work_rx, free_tx) = (Arc::clone(&work_rx), free_tx.clone());
                s.spawn(move || {
                    let mut sketch = reference.sketch();
                    let mut found = Found::default();
                    loop {
                        let batch = match work_rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => break,
                        };
                        let Ok(batch) = batch else { break };
                        for k in 0..batch.len {
                            let (row, line, bad) = batch.at[k];
                            match bad {
                                Some((expected, got)) => {
                                    found.add(fields_violation(row, line, expected, got))
                                }
                                None => sketch_record(
                                    contract,
                                    reference,
                                    &mut sketch,
                                    &mut found,
                                    &batch.records[k],
                                    row,
                                    line,
                                ),
                            }
                        }
                        // The reader may have gone: then the batch is simply dropped.
                        let _ = free_tx.send(batch);
                    }
                    (sketch, found)
                })
            })
            .collect();
        drop(free_tx);
        drop(work_rx);
        let read = (|| -> Result<()> {
            let mut rows = CsvRows::open(contract, BufReader::with_capacity(1 << 20, f), &source)?;
            let mut batch = new_batch(&free_rx);
            while let Some(r) = rows.next_record()? {
                let (n, line) = (r.row, r.line);
                let k = batch.len;
                let slot = &mut batch.records[k];
                slot.clear();
                // The contract's cells, in its order (ignored columns left out, renamed ones
                // in place); a record of the wrong width is only counted.
                let bad = match r.cells {
                    Some(cells) => {
                        for field in cells.iter() {
                            slot.push_field(field);
                        }
                        None
                    }
                    None => Some((r.width, r.raw.len())),
                };
                batch.at[k] = (n, line, bad);
                batch.len += 1;
                if batch.len == BATCH {
                    on_row(n);
                    if work_tx.send(batch).is_err() {
                        return Err(worker_failed(file));
                    }
                    batch = new_batch(&free_rx);
                }
            }
            if batch.len > 0 && work_tx.send(batch).is_err() {
                return Err(worker_failed(file));
            }
            on_row(rows.rows());
            if rows.rows() == 0 {
                return Err(Error::Rejected(format!(
                    "{}: no data rows; drift was not measured",
                    crate::text::Untrusted(&source)
                )));
            }
            Ok(())
        })();
        drop(work_tx);
        let mut sketch: Option<Sketch> = None;
        let mut found = Found::default();
        for h in handles {
            let (s, f) = h.join().map_err(|_| worker_failed(file))?;
            found.merge(f);
            match &mut sketch {
                None => sketch = Some(s),
                Some(all) => all.merge(reference, &s)?,
            }
        }
        read?;
        if !found.counts.is_empty() {
            return Err(refusal(found, contract, &source));
        }
        sketch.ok_or_else(|| worker_failed(file))
    })
}

fn worker_failed(file: &Path) -> Error {
    Error::io(file, std::io::Error::other("a drift worker thread failed"))
}

fn new_batch(free: &mpsc::Receiver<Batch>) -> Batch {
    match free.try_recv() {
        Ok(mut b) => {
            b.len = 0;
            b
        }
        Err(_) => Batch {
            at: vec![(0, 0, None); BATCH],
            records: vec![csv::StringRecord::new(); BATCH],
            len: 0,
        },
    }
}

/// Parses one record's cells into `sketch`, or notes why it breaks the contract.
fn sketch_record(
    contract: &Contract,
    reference: &Reference,
    sketch: &mut Sketch,
    found: &mut Found,
    rec: &csv::StringRecord,
    row: u64,
    line: u64,
) {
    if rec.len() != contract.columns.len() {
        found.add(fields_violation(
            row,
            line,
            contract.columns.len(),
            rec.len(),
        ));
        return;
    }
    sketch.row();
    for (i, cell) in rec.iter().enumerate() {
        match contract.parse_ref(i, cell) {
            Ok(v) => sketch.cell(reference, i, v),
            Err(e) => found.add(cell_violation(contract, row, line, i, e)),
        }
    }
}

/// Reads a Parquet file into a sketch (one thread: the row reader is sequential).
fn sketch_parquet(
    contract: &Contract,
    reference: &Reference,
    file: &Path,
    on_row: &(dyn Fn(u64) + Sync),
) -> Result<Sketch> {
    let f = File::open(file).at(file)?;
    let source = file.display().to_string();
    let mut sketch = reference.sketch();
    let mut found = Found::default();
    let (rows, _) = crate::ops::ingest::parquet::scan(contract, f, &source, &mut |n, cells, _| {
        sketch.row();
        for (i, cell) in cells.iter().enumerate() {
            match cell {
                Ok(v) => sketch.cell(reference, i, v.as_ref()),
                Err(e) => found.add(cell_violation(contract, n, 0, i, e.clone())),
            }
        }
        if n % 65_536 == 0 {
            on_row(n);
        }
        Ok(())
    })?;
    on_row(rows);
    if !found.counts.is_empty() {
        return Err(refusal(found, contract, &source));
    }
    if rows == 0 {
        return Err(Error::Rejected(format!(
            "{}: no data rows; drift was not measured",
            crate::text::Untrusted(&source)
        )));
    }
    Ok(sketch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::contract::ContractSource;
    use crate::ops::ingest::IngestOptions;
    use crate::store::AuditEntry;

    const CONTRACT: &str = "name='t'\nversion=1\n[[columns]]\nname='x'\ntype='float'\n[[columns]]\nname='c'\ntype='category'\ncategories=['a','b']\n";

    fn csv(rows: usize, shift: f64) -> String {
        let mut s = String::from("x,c\n");
        for i in 0..rows {
            let x = ((i * 7919) % 1000) as f64 / 10.0 + shift;
            s.push_str(&format!("{x},{}\n", if i % 3 == 0 { "a" } else { "b" }));
        }
        s
    }

    #[test]
    fn a_profile_without_summaries_is_profiled_again_from_its_snapshot() {
        let dir = tempfile::tempdir().expect("dir");
        let mut home =
            Home::init(&dir.path().join("h"), "lab".parse().expect("site")).expect("init");
        let contract = dir.path().join("t.toml");
        let (reference, current) = (dir.path().join("r.csv"), dir.path().join("c.csv"));
        std::fs::write(&contract, CONTRACT).expect("write");
        std::fs::write(&reference, csv(3000, 0.0)).expect("write");
        std::fs::write(&current, csv(2500, 3.0)).expect("write");
        ingest::ingest(
            &mut home,
            &reference,
            "t",
            &ContractSource::File(contract),
            &IngestOptions::default(),
            &mut |_| {},
        )
        .expect("ingest");
        // The record an older Airlock wrote: the same dataset, its profile without summaries.
        let (_, mut doc) = ingest::show(&home, &"t@1".parse().expect("ref")).expect("show");
        if let Some(p) = doc.profile.as_mut() {
            p.columns.iter_mut().for_each(|c| c.summary = None);
        }
        doc.version = 2;
        let tx = home.begin().expect("tx");
        let id = crate::vault::registry::put_record(&tx, &doc).expect("put");
        ingest::insert_dataset_row(&tx, &id, &doc).expect("row");
        tx.commit(AuditEntry::new(
            "test.older_record",
            &[],
            serde_json::json!({}),
        ))
        .expect("commit");
        let policy = DriftPolicy::default();
        let run = |v: &str| {
            against_file(
                &home,
                &v.parse().expect("ref"),
                &current,
                None,
                &policy,
                &|_| {},
            )
            .expect("drift")
        };
        let (new, old) = (run("t@1"), run("t@2"));
        assert_eq!(
            (new.reference_from, old.reference_from),
            (ReferenceFrom::Profile, ReferenceFrom::Snapshot)
        );
        assert_eq!(
            new.features, old.features,
            "the snapshot gives the summaries ingest kept"
        );
        assert_eq!(new.drifted, ["x"]);
    }
}
