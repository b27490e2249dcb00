//! Writing a bundle to media: one file, or numbered parts of a chosen size.

use std::fs::{self};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::bundle::format::{MAX_PARTS, MIN_SPLIT, Part, Payload};
use crate::digest::Hasher;
use crate::error::{Error, IoContext, Result};
use crate::node::fsx;
use crate::vault::pipe::BackgroundFile;

/// FAT32's largest file: 4 GiB less one byte.
pub const FAT32_MAX: u64 = (4 << 30) - 1;

/// The file name of part `index` (1-based) of the bundle `base`.
pub fn part_path(base: &Path, index: usize) -> PathBuf {
    let mut name = base.as_os_str().to_owned();
    name.push(format!(".{index:03}"));
    PathBuf::from(name)
}

/// Parses a `--split` size: `fat32`, or a number of bytes with an optional
/// suffix K, M, G (powers of 1024) or KB, MB, GB (powers of 1000).
pub fn parse_split(s: &str) -> Result<u64> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("fat32") {
        return Ok(FAT32_MAX);
    }
    let upper = t.to_ascii_uppercase();
    let digits_end = upper
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(upper.len());
    let (num, unit) = upper.split_at(digits_end);
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "KIB" => 1 << 10,
        "M" | "MIB" => 1 << 20,
        "G" | "GIB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => 0,
    };
    let bytes = num
        .parse::<u64>()
        .ok()
        .filter(|_| mult > 0)
        .and_then(|n| n.checked_mul(mult));
    match bytes {
        Some(b) if b >= MIN_SPLIT => Ok(b),
        Some(_) => Err(Error::Rejected(format!(
            "--split {s}: parts must be at least {MIN_SPLIT} bytes (64K)"
        ))),
        None => Err(Error::Rejected(format!(
            "--split {s}: write a size such as 4000M, 4G, 4700MB or fat32 (4 GiB less one byte)"
        ))),
    }
}

/// Writes a bundle stream into one file or numbered parts, as temporary
/// files beside the target that only [`PartsWriter::finish`] and
/// [`Finished::persist`] turn into the real names. Hashes each part's share
/// of the payload until [`PartsWriter::end_payload`].
pub struct PartsWriter {
    base: PathBuf,
    dir: PathBuf,
    split: Option<u64>,
    done: Vec<tempfile::TempPath>,
    current: Option<(tempfile::NamedTempFile, BackgroundFile)>,
    in_part: u64,
    hasher: Hasher,
    parts: Vec<Part>,
    total: u64,
    payload_done: bool,
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl PartsWriter {
    /// Prepares to write `base` (or `base.001`, ... with `split`). Refuses
    /// when `base` or any `base.NNN` exists: a stale later part would be
    /// taken for part of this bundle.
    pub fn create(base: &Path, split: Option<u64>) -> Result<PartsWriter> {
        let dir = parent(base);
        let mut taken = vec![base.to_path_buf()];
        if let Some(name) = base.file_name().map(|n| n.to_string_lossy().into_owned()) {
            for entry in fs::read_dir(&dir).at(&dir)? {
                let entry = entry.at(&dir)?;
                let other = entry.file_name().to_string_lossy().into_owned();
                if let Some(number) = other.strip_prefix(&format!("{name}."))
                    && number.len() >= 3
                    && number.bytes().all(|b| b.is_ascii_digit())
                {
                    taken.push(entry.path());
                }
            }
        }
        for p in taken {
            if fs::symlink_metadata(&p).is_ok() {
                return Err(Error::Refused(format!(
                    "{} already exists; refusing to overwrite it or mix it into a new bundle",
                    p.display()
                )));
            }
        }
        Ok(PartsWriter {
            base: base.to_path_buf(),
            dir,
            split,
            done: Vec::new(),
            current: None,
            in_part: 0,
            hasher: Hasher::default(),
            parts: Vec::new(),
            total: 0,
            payload_done: false,
        })
    }

    /// Flushes, fsyncs and closes the current part (keeping its path).
    fn close_file(&mut self) -> io::Result<()> {
        if let Some((tmp, w)) = self.current.take() {
            // Writes everything and fsyncs.
            w.finish()?;
            self.done.push(tmp.into_temp_path());
        }
        Ok(())
    }

    fn new_file(&mut self) -> io::Result<()> {
        self.close_file()?;
        if self.done.len() >= MAX_PARTS {
            return Err(io::Error::other(format!(
                "more than {MAX_PARTS} parts; choose a larger --split"
            )));
        }
        let tmp = tempfile::Builder::new()
            .prefix(".airlock-export-")
            .tempfile_in(&self.dir)?;
        let file = tmp.as_file().try_clone()?;
        let writer = BackgroundFile::new(file, tmp.path())?;
        self.current = Some((tmp, writer));
        self.in_part = 0;
        Ok(())
    }

    fn close_part(&mut self) {
        let hasher = std::mem::take(&mut self.hasher);
        let (sha256, size) = hasher.finish();
        self.parts.push(Part { size, sha256 });
    }

    /// Marks the end of the payload; returns its description for the
    /// manifest. Later bytes (trailer, footer) are not part of any digest.
    pub fn end_payload(&mut self) -> Payload {
        if !self.payload_done {
            self.close_part();
            self.payload_done = true;
        }
        Payload {
            size: self.total,
            split: self.split,
            parts: self.parts.clone(),
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.total
    }

    /// Flushes and fsyncs every part; nothing has its real name yet.
    pub fn finish(mut self) -> Result<Finished> {
        let name = self.base.display().to_string();
        self.close_file().at(&name)?;
        let split = self.split.is_some();
        let names = (1..=self.done.len())
            .map(|i| {
                if split {
                    part_path(&self.base, i)
                } else {
                    self.base.clone()
                }
            })
            .collect();
        Ok(Finished {
            dir: self.dir,
            files: self.done,
            names,
        })
    }
}

impl Write for PartsWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let limit = self.split.unwrap_or(u64::MAX);
        if self.current.is_none() || self.in_part >= limit {
            if self.current.is_some() && !self.payload_done {
                self.close_part();
            }
            self.new_file()?;
        }
        let room = usize::try_from(limit - self.in_part).unwrap_or(usize::MAX);
        let n = buf.len().min(room);
        let (_, w) = self
            .current
            .as_mut()
            .ok_or_else(|| io::Error::other("no part open"))?;
        w.write_all(&buf[..n])?;
        if !self.payload_done {
            self.hasher.update(&buf[..n]);
        }
        self.in_part += n as u64;
        self.total += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.current.as_mut() {
            Some((_, w)) => w.flush(),
            None => Ok(()),
        }
    }
}

/// A written bundle whose parts still have temporary names.
pub struct Finished {
    dir: PathBuf,
    files: Vec<tempfile::TempPath>,
    names: Vec<PathBuf>,
}

impl Finished {
    /// The names the parts will have.
    pub fn names(&self) -> &[PathBuf] {
        &self.names
    }

    /// Gives every part its real name (never replacing a file) and syncs
    /// the folder.
    pub fn persist(self) -> Result<()> {
        for (tmp, name) in self.files.into_iter().zip(&self.names) {
            tmp.persist_noclobber(name)
                .map_err(|e| Error::io(name, e.error))?;
        }
        fsx::sync_dir(&self.dir)
    }
}
