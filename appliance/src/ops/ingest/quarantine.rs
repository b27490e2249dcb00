//! The files behind the checker's two sinks (`airlock_core::check`): the
//! quarantine file that receives a refused file's offending rows, and the
//! anonymous temporary files that hold sorted runs of row keys past
//! `KEY_RUN` rows. The core checks; this module writes.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use airlock_core::check::{KeyEntry, KeySpill, QuarantineSink};

use crate::contract::Contract;
use crate::error::{Error, IoContext, Result};
use crate::profile::Profile;

/// The checker the appliance runs at ingest: offending rows to a
/// [`Quarantine`] file, key runs to [`SpillFiles`].
pub type Checker<'c> = airlock_core::check::Checker<'c, Quarantine>;

/// A checker for `contract` that spills key runs into `spill_dir`, with a
/// random salt for the key hashes.
pub fn checker<'c>(
    contract: &'c Contract,
    reference: Option<Profile>,
    quarantine: Option<Quarantine>,
    spill_dir: &Path,
) -> Checker<'c> {
    let mut salt = [0u8; 16];
    // A failed read leaves a fixed salt: the check still works, only the
    // spill files are less private.
    let _ = getrandom::fill(&mut salt);
    Checker::new(
        contract,
        reference,
        quarantine,
        Box::new(SpillFiles::new(spill_dir)),
        salt,
    )
}

/// Offending rows, written for the data owner to a new file (0600, as it
/// holds raw data): the row and line numbers, the problems, then the
/// row's cells as they were read. Written only when the file is refused.
pub struct Quarantine {
    path: PathBuf,
    tmp: tempfile::NamedTempFile,
    writer: csv::Writer<BufWriter<std::fs::File>>,
    rows: u64,
}

impl Quarantine {
    /// Starts a quarantine file at `path`, which must not exist.
    pub fn new(path: &Path, contract: &Contract) -> Result<Self> {
        if path.exists() {
            return Err(Error::Refused(format!(
                "quarantine file {} already exists; name a new file",
                path.display()
            )));
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".quarantine-")
            .tempfile_in(dir)
            .at(dir)?;
        let file = tmp.as_file().try_clone().at(tmp.path())?;
        // Rows with the wrong number of fields are written as they were.
        let mut writer = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(BufWriter::new(file));
        let mut header = vec!["_row", "_line", "_problems"];
        header.extend(contract.names());
        writer
            .write_record(&header)
            .map_err(|e| Error::io(path, std::io::Error::other(e)))?;
        Ok(Quarantine {
            path: path.to_path_buf(),
            tmp,
            writer,
            rows: 0,
        })
    }

    /// Adds an offending row.
    pub fn add(&mut self, row: u64, line: u64, problems: &str, cells: &[&str]) -> Result<()> {
        Ok(QuarantineSink::add(self, row, line, problems, cells)?)
    }

    /// Puts the file in place (fsynced); returns its path and row count.
    pub fn finish(self) -> Result<(PathBuf, u64)> {
        let Quarantine {
            path,
            tmp,
            writer,
            rows,
        } = self;
        let mut inner = writer
            .into_inner()
            .map_err(|e| Error::io(&path, std::io::Error::other(e.to_string())))?;
        inner.flush().at(&path)?;
        tmp.as_file().sync_all().at(&path)?;
        tmp.persist_noclobber(&path)
            .map_err(|e| Error::io(&path, e.error))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::node::fsx::sync_dir(dir)?;
        }
        Ok((path, rows))
    }
}

impl QuarantineSink for Quarantine {
    fn add(
        &mut self,
        row: u64,
        line: u64,
        problems: &str,
        cells: &[&str],
    ) -> airlock_core::Result<()> {
        let (r, l) = (row.to_string(), line.to_string());
        let mut rec = vec![r.as_str(), l.as_str(), problems];
        rec.extend_from_slice(cells);
        self.rows += 1;
        self.writer
            .write_record(&rec)
            .map_err(|e| airlock_core::Error::io(&self.path, std::io::Error::other(e)))
    }
}

/// Sorted key runs in anonymous temporary files in one folder (the vault's
/// staging folder at ingest): 32 bytes per entry, little-endian.
pub struct SpillFiles {
    dir: PathBuf,
    runs: Vec<BufReader<File>>,
}

impl SpillFiles {
    /// Runs go into `dir`.
    pub fn new(dir: &Path) -> Self {
        SpillFiles {
            dir: dir.to_path_buf(),
            runs: Vec::new(),
        }
    }
}

impl KeySpill for SpillFiles {
    fn write_run(&mut self, run: &[KeyEntry]) -> airlock_core::Result<()> {
        let io = |e| airlock_core::Error::io(&self.dir, e);
        let mut f = tempfile::tempfile_in(&self.dir).map_err(io)?;
        {
            let mut w = BufWriter::new(&mut f);
            for (h, r, l) in run {
                w.write_all(&h.to_le_bytes()).map_err(io)?;
                w.write_all(&r.to_le_bytes()).map_err(io)?;
                w.write_all(&l.to_le_bytes()).map_err(io)?;
            }
            w.flush().map_err(io)?;
        }
        f.rewind().map_err(io)?;
        self.runs.push(BufReader::new(f));
        Ok(())
    }

    fn runs(&self) -> usize {
        self.runs.len()
    }

    fn next(&mut self, run: usize) -> airlock_core::Result<Option<KeyEntry>> {
        let Some(r) = self.runs.get_mut(run) else {
            return Ok(None);
        };
        let mut b = [0u8; 32];
        match r.read_exact(&mut b) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(airlock_core::Error::io(&self.dir, e)),
        }
        let h = u128::from_le_bytes(b[..16].try_into().unwrap_or_default());
        let r = u64::from_le_bytes(b[16..24].try_into().unwrap_or_default());
        let l = u64::from_le_bytes(b[24..].try_into().unwrap_or_default());
        Ok(Some((h, r, l)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spill_files_give_back_each_run_in_order() {
        let dir = tempfile::tempdir().expect("dir");
        let mut spill = SpillFiles::new(dir.path());
        let a: Vec<KeyEntry> = (0..1000u64)
            .map(|i| (u128::from(i) << 64, i, i + 1))
            .collect();
        let b: Vec<KeyEntry> = vec![(7, 1, 0), (u128::MAX, u64::MAX, u64::MAX)];
        spill.write_run(&a).expect("run a");
        spill.write_run(&b).expect("run b");
        assert_eq!(spill.runs(), 2);
        let mut got_b = Vec::new();
        while let Some(e) = spill.next(1).expect("read b") {
            got_b.push(e);
        }
        let mut got_a = Vec::new();
        while let Some(e) = spill.next(0).expect("read a") {
            got_a.push(e);
        }
        assert_eq!((got_a, got_b), (a, b));
        assert_eq!(spill.next(2).expect("no run 2"), None);
        // No file is left in the folder: the runs are anonymous.
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
    }
}
