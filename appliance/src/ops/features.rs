//! Feature set versions in the store: `features apply` fits a spec on a
//! stored dataset, streaming its snapshot once (rows are not held; see
//! [`Fitter`] for what the fit keeps), and stores the frozen version;
//! [`load`] reads one back.
//!
//! The columns a fit sorts go, past a run of `VALUE_RUN` values each, to a
//! [`SpillFile`]: one unlinked temporary file in the vault's private
//! staging folder holding those values in plaintext (the dataset's own
//! numbers, as the private copy of a Parquet file at ingest holds its
//! rows) until the fit ends; it has no name to be opened by and is gone
//! when closed, crash or not.
//!
//! The spec, the fitting, the frozen document and THE transform are
//! `airlock_core::features`, re-exported here, so training, serving and the
//! online store call the same code.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

pub use airlock_core::features::*;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::node::home::Home;
use crate::ops::ingest;
use crate::store::objects::Table;
use crate::store::{AuditEntry, AuditedTx, datasets};
use crate::vault::registry::{self, Kind, NameRef};

/// What `features apply` did.
#[derive(Clone, Debug, Serialize)]
pub struct Applied {
    /// The feature set version's id.
    pub id: Digest,
    /// `name@version`.
    pub reference: String,
    /// Vector width.
    pub width: usize,
    /// True when an identical version already existed.
    pub unchanged: bool,
}

/// Fits a feature spec and stores it as a new version (or finds the
/// identical existing one).
/// A refused spec is recorded in the audit log (`features.refused`, with
/// the spec's file name and the reason).
pub fn apply(home: &mut Home, spec_text: &str, source: &str) -> Result<Applied> {
    match fit_and_store(home, spec_text, source) {
        // A data cause (a stored snapshot that no longer reads as its contract) is a
        // rejection too, as it was when it was a `Rejected` string.
        Err(e @ (Error::Rejected(_) | Error::Data(_))) => {
            let msg = e.to_string();
            let name = std::path::Path::new(source)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let reason: String = msg
                .lines()
                .next()
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect();
            let details = json!({ "spec": name, "reason": reason });
            Err(Error::Rejected(
                match ingest::audit_refusal(home, "features.refused", details) {
                    Some(note) => format!("{msg}\n{note}"),
                    None => msg,
                },
            ))
        }
        other => other,
    }
}

fn fit_and_store(home: &mut Home, spec_text: &str, source: &str) -> Result<Applied> {
    let spec = FeatureSpec::from_toml(spec_text, source)?;
    let dataset_ref: NameRef = spec.dataset.parse()?;
    let (dataset, _, _) = registry::resolve(
        home.store(),
        Table::Datasets,
        "dataset",
        home.site(),
        &dataset_ref,
    )?;
    // The spec is checked against the contract before any row is read;
    // then one pass over the snapshot, each row lent and dropped (memory:
    // the accumulators, a run of each sorted column, see `Fitter`).
    let dataset_doc: ingest::DatasetDoc = registry::load(home.store(), home.vault(), &dataset)?;
    let contract = crate::ops::contract::load_contract(home, &dataset_doc.contract)?;
    let spill = SpillFile::new(&home.vault().tmp_dir());
    let mut fitter = Fitter::with_spill(&spec, &contract, source, Box::new(spill))?;
    fitter.reserve(usize::try_from(dataset_doc.rows).unwrap_or(0));
    let (dataset_doc, _) =
        ingest::stream_rows_by_id(home, &dataset, &mut |_, row| Ok(fitter.push(row)?))?;
    let features = fitter.finish()?;
    let site = home.site().clone();
    let mut doc = FeatureSetDoc {
        ty: FEATURE_SET_TYPE.into(),
        site: site.clone(),
        name: spec.name.clone(),
        version: 0,
        dataset,
        contract: dataset_doc.contract,
        label: spec.label.clone(),
        positive: spec.positive.clone(),
        features,
    };
    doc.check()
        .map_err(|e| Error::Rejected(format!("feature spec {source}: {e}")))?;
    // Same definition and parameters as the newest version: nothing to do.
    if let Ok((id, _, version)) = registry::resolve(
        home.store(),
        Table::FeatureSets,
        "feature set",
        &site,
        &NameRef {
            site: Some(site.clone()),
            name: spec.name.clone(),
            version: None,
        },
    ) {
        let newest: FeatureSetDoc = registry::load(home.store(), home.vault(), &id)?;
        doc.version = version;
        if newest == doc {
            return Ok(Applied {
                id,
                reference: doc.reference(),
                width: doc.width(),
                unchanged: true,
            });
        }
    }
    let tx = home.begin()?;
    doc.version = datasets::next_feature_set_version(&tx, &site, &spec.name)?;
    let id = registry::put_record(&tx, &doc)?;
    insert_feature_set_row(&tx, &id, &doc)?;
    crate::ops::provenance::record(
        &tx,
        "airlock features apply",
        None,
        &[(Kind::FeatureSet, id)],
        &[("dataset", doc.dataset), ("contract", doc.contract)],
    )?;
    tx.commit(AuditEntry::new(
        "features.apply",
        &[id.hex(), doc.dataset.hex()],
        json!({ "feature_set": doc.reference(), "width": doc.width() }),
    ))?;
    Ok(Applied {
        id,
        reference: doc.reference(),
        width: doc.width(),
        unchanged: false,
    })
}

/// A fit's sorted runs ([`ValueSpill`]) in one anonymous temporary file in
/// a folder (the vault's staging folder), made at the first run: each value
/// 8 bytes, little-endian, the runs one after another. The fit reads a run
/// back a chunk (8 KiB) at a time from where it left off.
pub struct SpillFile {
    dir: PathBuf,
    file: Option<File>,
    /// Each run's first byte and its number of values.
    runs: Vec<(u64, usize)>,
    end: u64,
    bytes: Vec<u8>,
}

impl SpillFile {
    /// Runs go into a file in `dir`.
    pub fn new(dir: &Path) -> Self {
        SpillFile {
            dir: dir.to_path_buf(),
            file: None,
            runs: Vec::new(),
            end: 0,
            bytes: Vec::new(),
        }
    }
}

impl ValueSpill for SpillFile {
    fn write_run(&mut self, run: &[f64]) -> airlock_core::Result<usize> {
        let io = |e| airlock_core::Error::io(&self.dir, e);
        let f = match &mut self.file {
            Some(f) => f,
            None => self
                .file
                .insert(tempfile::tempfile_in(&self.dir).map_err(io)?),
        };
        f.seek(SeekFrom::Start(self.end)).map_err(io)?;
        let mut w = BufWriter::with_capacity(1 << 16, f);
        for x in run {
            w.write_all(&x.to_le_bytes()).map_err(io)?;
        }
        w.flush().map_err(io)?;
        self.runs.push((self.end, run.len()));
        self.end += 8 * run.len() as u64;
        Ok(self.runs.len() - 1)
    }

    fn read(&mut self, run: usize, from: usize, out: &mut [f64]) -> airlock_core::Result<usize> {
        let io = |e| airlock_core::Error::io(&self.dir, e);
        let (Some(&(start, len)), Some(f)) = (self.runs.get(run), &mut self.file) else {
            return Ok(0);
        };
        let n = len.saturating_sub(from).min(out.len());
        if n == 0 {
            return Ok(0);
        }
        f.seek(SeekFrom::Start(start + 8 * from as u64))
            .map_err(io)?;
        self.bytes.resize(8 * n, 0);
        f.read_exact(&mut self.bytes).map_err(io)?;
        for (x, b) in out.iter_mut().zip(self.bytes.chunks_exact(8)) {
            *x = f64::from_le_bytes(b.try_into().unwrap_or_default());
        }
        Ok(n)
    }
}

/// Indexes a feature set record (also used at bundle import).
pub fn insert_feature_set_row(tx: &AuditedTx<'_>, id: &Digest, doc: &FeatureSetDoc) -> Result<()> {
    datasets::insert_feature_set(
        tx,
        &datasets::FeatureSetRow {
            id,
            site: &doc.site,
            name: &doc.name,
            version: doc.version,
            dataset: &doc.dataset,
            width: doc.width(),
        },
    )
}

/// Every feature set version held here, by site, name and version (`rows`
/// is the vector width).
pub fn list(home: &Home) -> Result<Vec<registry::Listed>> {
    datasets::list_feature_sets(home.store())
}

/// Loads a feature set version by id, verifying its signature and digest.
pub fn load(home: &Home, id: &Digest) -> Result<FeatureSetDoc> {
    let doc: FeatureSetDoc = registry::load(home.store(), home.vault(), id)?;
    doc.check()?;
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Value;

    fn bits(xs: &[f64]) -> Vec<u64> {
        xs.iter().map(|x| x.to_bits()).collect()
    }

    /// Reads run `run` back in chunks of `chunk` values.
    fn read_back(spill: &mut SpillFile, run: usize, chunk: usize) -> Vec<f64> {
        let (mut got, mut buf) = (Vec::new(), vec![0.0; chunk]);
        loop {
            let n = spill.read(run, got.len(), &mut buf).expect("read");
            got.extend_from_slice(&buf[..n]);
            if n < chunk {
                return got;
            }
        }
    }

    #[test]
    fn spill_file_gives_back_each_run_in_order() {
        let dir = tempfile::tempdir().expect("dir");
        let mut spill = SpillFile::new(dir.path());
        let a: Vec<f64> = (0..1000).map(|i| f64::from(i) / 7.0 - 50.0).collect();
        let b = vec![f64::NEG_INFINITY, -0.0, 0.0, 1e-310, f64::MAX];
        assert_eq!(spill.write_run(&a).expect("run a"), 0);
        assert_eq!(spill.write_run(&b).expect("run b"), 1);
        assert_eq!(bits(&read_back(&mut spill, 1, 2)), bits(&b));
        assert_eq!(bits(&read_back(&mut spill, 0, 333)), bits(&a));
        // Read again, from the middle, after a third run was written.
        let c = vec![3.5; 10];
        assert_eq!(spill.write_run(&c).expect("run c"), 2);
        let mut buf = [0.0; 4];
        assert_eq!(spill.read(0, 998, &mut buf).expect("tail of a"), 2);
        assert_eq!(bits(&buf[..2]), bits(&a[998..]));
        assert_eq!(bits(&read_back(&mut spill, 2, 3)), bits(&c));
        assert_eq!(spill.read(0, 1000, &mut buf).expect("past a"), 0);
        assert_eq!(spill.read(3, 0, &mut buf).expect("no run 3"), 0);
        // No file is left in the folder: the runs are anonymous.
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
    }

    /// A fit whose runs of 3 values go to files has the bytes of the fit
    /// held in memory.
    #[test]
    fn a_fit_spilled_to_files_has_the_bytes_of_one_in_memory() {
        let contract = crate::contract::Contract::from_toml(
            "name = \"d\"\nversion = 1\n[[columns]]\nname = \"x\"\ntype = \"float\"\n\
             nullable = true\n[[columns]]\nname = \"y\"\ntype = \"string\"\n",
            "d.toml",
        )
        .expect("contract");
        let spec = FeatureSpec::from_toml(
            "name = \"s\"\ndataset = \"d\"\nlabel = \"y\"\n\
             [[features]]\ncolumn = \"x\"\ntransform = \"clip\"\nclip = [0.0, 50.0]\n\
             log1p = true\nscale = \"standardize\"\n\
             [[features]]\ncolumn = \"x\"\ntransform = \"bucketize\"\nbuckets = 5\n",
            "s.toml",
        )
        .expect("spec");
        let rows: Vec<Vec<Value>> = (0..500)
            .map(|i| {
                let x = match i % 13 {
                    0 => Value::Null,
                    1 => Value::Float(-0.0),
                    _ => Value::Float(f64::from((i * 37) % 101) / 3.0 - 10.0),
                };
                vec![x, Value::Text("a".into())]
            })
            .collect();
        let dir = tempfile::tempdir().expect("dir");
        let mut fitter = Fitter::with_spill(
            &spec,
            &contract,
            "s.toml",
            Box::new(SpillFile::new(dir.path())),
        )
        .expect("plan");
        fitter.set_run(3);
        for r in &rows {
            fitter.push(r).expect("push");
        }
        let spilled = fitter.finish().expect("fit");
        let held = fit(&spec, &contract, &rows, "s.toml").expect("fit");
        assert_eq!(
            serde_json::to_string(&spilled).expect("json"),
            serde_json::to_string(&held).expect("json")
        );
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
    }
}
