//! Bundle files on removable media: writing a bundle as one file or as
//! numbered parts (`NAME.001`, `NAME.002`, ...), finding the parts again from
//! the first, and reading them back as one stream.
//!
//! Only plain files are read: a symlink, a hard-linked file, a device or a
//! folder where a part should be is refused by name, so a bundle on media
//! can never make the importer read something else on the host.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::fcntl::OFlag;

use super::format::{MAX_PARTS, MIN_SPLIT, Part, Payload};
use crate::digest::{Digest, Hasher};
use crate::error::{Error, IoContext, Result};
use crate::node::fsx;
use crate::vault::pipe::{ALIGN, Aligned, BackgroundFile};

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

/// One part file found on the media.
#[derive(Debug)]
pub struct PartFile {
    /// Its path.
    pub path: PathBuf,
    /// Its length.
    pub len: u64,
    dev: u64,
    ino: u64,
}

/// A bundle's part files, in order: one, or `NAME.001`, `NAME.002`, ...
/// Only the part being read is open, so a bundle of many parts does not
/// exhaust file descriptors; each reopening checks it is the same file.
#[derive(Debug)]
pub struct Parts {
    /// The files.
    pub files: Vec<PartFile>,
    /// Their total length.
    pub total: u64,
    /// Where each part starts in the logical stream.
    starts: Vec<u64>,
    open: Mutex<Option<OpenPart>>,
}

/// The part being read. Where the file system allows, it is read with
/// `O_DIRECT` in aligned 1 MiB windows: a large bundle then costs no
/// page-cache copy and does not evict the node's page cache.
#[derive(Debug)]
struct OpenPart {
    index: usize,
    file: File,
    direct: Option<File>,
    window: Aligned,
    window_at: u64,
}

impl std::fmt::Debug for Aligned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Aligned({} bytes)", self.len)
    }
}

const WINDOW: usize = 1 << 20;

impl OpenPart {
    fn read_at(&mut self, buf: &mut [u8], off: u64) -> io::Result<usize> {
        let Some(direct) = self.direct.as_ref() else {
            return self.file.read_at(buf, off);
        };
        let end = self.window_at + self.window.len as u64;
        if off < self.window_at || off >= end {
            let at = off / ALIGN as u64 * ALIGN as u64;
            let mut got = 0;
            loop {
                let space = &mut self.window.space()[got..];
                if space.is_empty() {
                    break;
                }
                match direct.read_at(space, at + got as u64) {
                    Ok(0) => break,
                    Ok(n) if n % ALIGN == 0 => got += n,
                    // A short read ends at the end of the file.
                    Ok(n) => {
                        got += n;
                        break;
                    }
                    Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => {
                        // Refused at read time: read through the page cache.
                        self.direct = None;
                        return self.file.read_at(buf, off);
                    }
                    Err(e) => return Err(e),
                }
            }
            self.window.len = got;
            self.window_at = at;
        }
        let from = usize::try_from(off - self.window_at).unwrap_or(usize::MAX);
        let have = self.window.bytes().get(from..).unwrap_or(&[]);
        let n = buf.len().min(have.len());
        buf[..n].copy_from_slice(&have[..n]);
        Ok(n)
    }
}

/// Opens `path` without following a link, without blocking on a pipe and
/// without taking a terminal.
fn open_nofollow(path: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY).bits())
        .open(path)
}

/// Opens `path` as a plain file, refusing links, devices and folders.
fn open_plain(path: &Path) -> Result<PartFile> {
    let before = fs::symlink_metadata(path).at(path)?;
    let kind = before.file_type();
    if kind.is_symlink() {
        return Err(Error::Refused(format!(
            "bundle rejected: {} is a symbolic link; copy the bundle file itself onto the media",
            path.display()
        )));
    }
    if !kind.is_file() {
        return Err(Error::Refused(format!(
            "bundle rejected: {} is not a plain file (a folder, device or pipe)",
            path.display()
        )));
    }
    if before.nlink() > 1 {
        return Err(Error::Refused(format!(
            "bundle rejected: {} is a hard link ({} names for one file); copy the bundle file itself",
            path.display(),
            before.nlink()
        )));
    }
    let file = open_nofollow(path).at(path)?;
    let after = file.metadata().at(path)?;
    if after.ino() != before.ino() || after.dev() != before.dev() || !after.is_file() {
        return Err(Error::Refused(format!(
            "bundle rejected: {} changed while it was being opened",
            path.display()
        )));
    }
    Ok(PartFile {
        path: path.to_path_buf(),
        len: after.len(),
        dev: after.dev(),
        ino: after.ino(),
    })
}

impl Parts {
    /// Finds a bundle from its file or its first part: `path` itself when it
    /// is a file not named `*.001`; otherwise `BASE.001`, `BASE.002`, ... up
    /// to the first number that is missing.
    pub fn discover(path: &Path) -> Result<Parts> {
        let text = path.as_os_str().to_string_lossy();
        if let Some((stem, number)) = text.rsplit_once('.')
            && number.len() >= 3
            && number.bytes().all(|b| b.is_ascii_digit())
            && number != "001"
            && fs::symlink_metadata(part_path(Path::new(stem), 1)).is_ok()
        {
            return Err(Error::Rejected(format!(
                "{} is a later part of a split bundle; give the first part, {}",
                path.display(),
                part_path(Path::new(stem), 1).display()
            )));
        }
        let base = if let Some(stem) = text.strip_suffix(".001") {
            Some(PathBuf::from(stem))
        } else if fs::symlink_metadata(path).is_err()
            && fs::symlink_metadata(part_path(path, 1)).is_ok()
        {
            Some(path.to_path_buf())
        } else {
            None
        };
        let files = match base {
            None => vec![open_plain(path)?],
            Some(base) => {
                let mut files = Vec::new();
                for i in 1..=MAX_PARTS {
                    let p = part_path(&base, i);
                    if fs::symlink_metadata(&p).is_err() {
                        if fs::symlink_metadata(part_path(&base, i + 1)).is_ok() {
                            return Err(Error::NotFound(format!(
                                "bundle part {i} ({}) is missing, but part {} is there; copy it from the source media",
                                p.display(),
                                i + 1
                            )));
                        }
                        break;
                    }
                    files.push(open_plain(&p)?);
                }
                if files.is_empty() {
                    return Err(Error::NotFound(format!(
                        "bundle part {} not found",
                        part_path(&base, 1).display()
                    )));
                }
                files
            }
        };
        let mut starts = Vec::with_capacity(files.len());
        let mut total = 0u64;
        for f in &files {
            starts.push(total);
            total = total.checked_add(f.len).ok_or_else(|| {
                Error::Refused("bundle rejected: the part files' sizes overflow".into())
            })?;
        }
        Ok(Parts {
            files,
            total,
            starts,
            open: Mutex::new(None),
        })
    }

    /// A name for messages: the file, or the first part and the count.
    pub fn describe(&self) -> String {
        match self.files.as_slice() {
            [one] => one.path.display().to_string(),
            many => format!(
                "{} (part 1 of {} found)",
                many[0].path.display(),
                many.len()
            ),
        }
    }

    /// For a bundle whose end does not add up: a part, not the last, whose
    /// size differs from the others' (cut short or grown while copying).
    pub fn odd_part(&self) -> Option<String> {
        let (_, rest) = self.files.split_last()?;
        let mut sizes: Vec<u64> = rest.iter().map(|f| f.len).collect();
        sizes.sort_unstable();
        let common = *sizes.get(sizes.len() / 2)?;
        let odd = rest.iter().position(|f| f.len != common)?;
        Some(format!(
            "part {} ({}) is {} bytes where the other parts are {common}",
            odd + 1,
            rest[odd].path.display(),
            rest[odd].len
        ))
    }

    /// Reads exactly `buf.len()` bytes at logical offset `at`.
    pub fn read_exact_at(&self, mut at: u64, buf: &mut [u8]) -> io::Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            let n = self.read_at(at, &mut buf[filled..])?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            filled += n;
            at += n as u64;
        }
        Ok(())
    }

    /// Reads at most `buf.len()` bytes at logical offset `at`, from one part.
    fn read_at(&self, at: u64, buf: &mut [u8]) -> io::Result<usize> {
        if at >= self.total {
            return Ok(0);
        }
        // The last part starting at or before `at` (empty parts skipped by
        // the `at < start + len` check below).
        let mut i = self.starts.partition_point(|s| *s <= at).saturating_sub(1);
        while self.files[i].len == 0 || at >= self.starts[i] + self.files[i].len {
            i += 1;
            if i >= self.files.len() {
                return Ok(0);
            }
        }
        let f = &self.files[i];
        let off = at - self.starts[i];
        let n = buf
            .len()
            .min(usize::try_from(f.len - off).unwrap_or(usize::MAX));
        let mut open = self
            .open
            .lock()
            .map_err(|_| io::Error::other("part reader lock poisoned"))?;
        if open.as_ref().is_none_or(|p| p.index != i) {
            *open = None;
            let same = |file: &File| -> io::Result<()> {
                let m = file.metadata()?;
                if m.dev() != f.dev || m.ino() != f.ino || m.len() != f.len {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{} was replaced or changed while being read",
                            f.path.display()
                        ),
                    ));
                }
                Ok(())
            };
            let file = open_nofollow(&f.path)?;
            same(&file)?;
            // Not every file system offers O_DIRECT: then None, and reads
            // go through the page cache.
            let direct = fs::OpenOptions::new()
                .read(true)
                .custom_flags(
                    (OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_DIRECT)
                        .bits(),
                )
                .open(&f.path)
                .ok();
            if let Some(d) = &direct {
                same(d)?;
            }
            *open = Some(OpenPart {
                index: i,
                file,
                direct,
                window: Aligned::new(WINDOW),
                window_at: 0,
            });
        }
        let part = open
            .as_mut()
            .ok_or_else(|| io::Error::other("no part open"))?;
        part.read_at(&mut buf[..n], off)
    }

    /// A reader of the logical stream, from offset 0.
    pub fn reader(&self) -> StreamReader<'_> {
        StreamReader {
            parts: self,
            pos: 0,
        }
    }

    /// Checks each part file's size against the signed payload layout, so a
    /// short, long, missing or extra part is named before any body byte is
    /// read.
    pub fn check_layout(&self, payload: &Payload) -> Result<()> {
        let listed = payload.parts.len();
        let bad = |i: usize, why: String| {
            let path = self
                .files
                .get(i)
                .map(|f| f.path.display().to_string())
                .unwrap_or_default();
            Error::Integrity(format!(
                "bundle rejected: part {} ({path}) {why}; copy it again from the source media",
                i + 1
            ))
        };
        match payload.split {
            None if self.files.len() != 1 => Err(Error::Integrity(format!(
                "bundle rejected: {}: the signed manifest says the bundle is one file, but {} parts were found",
                self.describe(),
                self.files.len()
            ))),
            None => Ok(()),
            Some(split) => {
                if self.files.len() < listed {
                    return Err(Error::Integrity(format!(
                        "bundle rejected: {}: the signed manifest lists at least {listed} parts; part {} is missing",
                        self.describe(),
                        self.files.len() + 1
                    )));
                }
                let last = self.files.len() - 1;
                for (i, f) in self.files.iter().enumerate() {
                    if i < last && f.len != split {
                        return Err(bad(
                            i,
                            format!(
                                "is {} bytes, but every part but the last must be {split}",
                                f.len
                            ),
                        ));
                    }
                    if i < listed && f.len < payload.parts[i].size {
                        return Err(bad(
                            i,
                            format!(
                                "is {} bytes, shorter than the {} the signed manifest lists",
                                f.len, payload.parts[i].size
                            ),
                        ));
                    }
                }
                Ok(())
            }
        }
    }

    /// After a failure reading the payload: hashes every part's share of it
    /// and names those that differ from the signed manifest.
    pub fn diagnose(&self, payload: &Payload) -> Vec<String> {
        let mut bad = Vec::new();
        let mut at = 0u64;
        let mut buf = vec![0u8; 256 << 10];
        for (i, p) in payload.parts.iter().enumerate() {
            let mut h = Hasher::default();
            let mut left = p.size;
            let mut ok = true;
            while left > 0 {
                let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                if self.read_exact_at(at, &mut buf[..n]).is_err() {
                    ok = false;
                    break;
                }
                h.update(&buf[..n]);
                at += n as u64;
                left -= n as u64;
            }
            at += left;
            let (d, _) = h.finish();
            if !ok || d != p.sha256 {
                let path = self
                    .files
                    .get(i)
                    .map(|f| f.path.display().to_string())
                    .unwrap_or_else(|| "missing".into());
                bad.push(format!("part {} ({path})", i + 1));
            }
        }
        bad
    }
}

/// Sequential reader over the concatenated parts.
pub struct StreamReader<'a> {
    parts: &'a Parts,
    pos: u64,
}

impl Read for StreamReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.parts.read_at(self.pos, buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Reads the payload (from offset 0, leader included) and checks each
/// part's digest as its last byte passes, failing with `InvalidData` at the
/// first part that differs from the signed manifest.
pub struct PayloadReader<'a> {
    inner: StreamReader<'a>,
    payload: &'a Payload,
    part: usize,
    left_in_part: u64,
    hasher: Hasher,
}

impl<'a> PayloadReader<'a> {
    /// A checked reader of `parts`' payload as `payload` describes it.
    pub fn new(parts: &'a Parts, payload: &'a Payload) -> Self {
        PayloadReader {
            inner: parts.reader(),
            payload,
            part: 0,
            left_in_part: payload.parts.first().map_or(0, |p| p.size),
            hasher: Hasher::default(),
        }
    }
}

impl Read for PayloadReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.left_in_part == 0 {
            if self.part >= self.payload.parts.len() {
                return Ok(0);
            }
            let (d, _): (Digest, u64) = std::mem::take(&mut self.hasher).finish();
            if d != self.payload.parts[self.part].sha256 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "part {} does not match the SHA-256 in the signed manifest",
                        self.part + 1
                    ),
                ));
            }
            self.part += 1;
            match self.payload.parts.get(self.part) {
                Some(p) => self.left_in_part = p.size,
                None => return Ok(0),
            }
        }
        let n = buf
            .len()
            .min(usize::try_from(self.left_in_part).unwrap_or(usize::MAX));
        let got = self.inner.read(&mut buf[..n])?;
        if got == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.hasher.update(&buf[..got]);
        self.left_in_part -= got as u64;
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_sizes_parse() {
        assert_eq!(parse_split("fat32").expect("fat32"), FAT32_MAX);
        assert_eq!(parse_split("64K").expect("k"), 64 << 10);
        assert_eq!(parse_split("4000M").expect("m"), 4000 << 20);
        assert_eq!(parse_split("4700MB").expect("mb"), 4_700_000_000);
        assert_eq!(parse_split("4g").expect("g"), 4 << 30);
        assert!(parse_split("1K").is_err(), "under the minimum");
        assert!(parse_split("lots").is_err());
        assert!(parse_split("99999999999999999999G").is_err(), "overflow");
    }

    fn write_parts(base: &Path, split: Option<u64>, payload: &[u8], rest: &[u8]) -> Payload {
        let mut w = PartsWriter::create(base, split).expect("create");
        w.write_all(payload).expect("payload");
        let p = w.end_payload();
        w.write_all(rest).expect("rest");
        w.finish().expect("finish").persist().expect("persist");
        p
    }

    #[test]
    fn parts_round_trip_and_a_damaged_part_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        let base = dir.path().join("b.bundle");
        let payload: Vec<u8> = (0..(MIN_SPLIT * 2 + 100))
            .map(|i| (i % 251) as u8)
            .collect();
        let p = write_parts(&base, Some(MIN_SPLIT), &payload, b"trailer");
        assert_eq!(p.parts.len(), 3);
        p.check().expect("layout");
        assert!(part_path(&base, 3).is_file() && !part_path(&base, 4).exists());

        let parts = Parts::discover(&part_path(&base, 1)).expect("discover");
        assert_eq!(parts.files.len(), 3);
        parts.check_layout(&p).expect("sizes");
        let mut all = Vec::new();
        PayloadReader::new(&parts, &p)
            .read_to_end(&mut all)
            .expect("read");
        assert_eq!(all, payload);
        assert!(parts.diagnose(&p).is_empty());

        // Damage part 2 and the reader fails; the diagnosis names it.
        let second = part_path(&base, 2);
        let mut bytes = fs::read(&second).expect("read");
        bytes[10] ^= 1;
        fs::write(&second, bytes).expect("write");
        let parts = Parts::discover(&base).expect("discover from the base name");
        let err = Parts::discover(&second).expect_err("a later part");
        assert!(err.to_string().contains("give the first part"), "{err}");
        let err = PayloadReader::new(&parts, &p)
            .read_to_end(&mut Vec::new())
            .expect_err("damaged");
        assert!(err.to_string().contains("part 2"), "{err}");
        let named = parts.diagnose(&p);
        assert_eq!(named.len(), 1);
        assert!(named[0].starts_with("part 2 ("), "{named:?}");
    }

    #[test]
    fn a_short_part_is_named_before_reading() {
        let dir = tempfile::tempdir().expect("dir");
        let base = dir.path().join("b");
        let payload = vec![7u8; (MIN_SPLIT * 2) as usize];
        let p = write_parts(&base, Some(MIN_SPLIT), &payload, b"t");
        let first = part_path(&base, 1);
        let f = fs::OpenOptions::new()
            .write(true)
            .open(&first)
            .expect("open");
        f.set_len(MIN_SPLIT - 1).expect("truncate");
        let err = Parts::discover(&first)
            .expect("discover")
            .check_layout(&p)
            .expect_err("short");
        assert!(err.to_string().contains("part 1"), "{err}");
    }

    #[test]
    fn links_and_folders_are_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let real = dir.path().join("real");
        fs::write(&real, b"x").expect("write");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let err = Parts::discover(&link).expect_err("symlink");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        let hard = dir.path().join("hard");
        fs::hard_link(&real, &hard).expect("hard link");
        let err = Parts::discover(&hard).expect_err("hard link");
        assert!(err.to_string().contains("hard link"), "{err}");
        let err = Parts::discover(dir.path()).expect_err("folder");
        assert!(err.to_string().contains("not a plain file"), "{err}");
        let err = Parts::discover(Path::new("/dev/null")).expect_err("device");
        assert!(err.to_string().contains("not a plain file"), "{err}");
    }

    #[test]
    fn existing_targets_are_not_overwritten() {
        let dir = tempfile::tempdir().expect("dir");
        let base = dir.path().join("b");
        fs::write(part_path(&base, 1), b"old").expect("write");
        // A stale part of an earlier bundle would be mixed into this one.
        assert!(PartsWriter::create(&base, Some(MIN_SPLIT)).is_err());
        assert!(PartsWriter::create(&base, None).is_err());
        fs::remove_file(part_path(&base, 1)).expect("remove");
        fs::write(part_path(&base, 7), b"old").expect("write");
        assert!(PartsWriter::create(&base, Some(MIN_SPLIT)).is_err());
        assert!(PartsWriter::create(&dir.path().join("other"), Some(MIN_SPLIT)).is_ok());
    }
}
