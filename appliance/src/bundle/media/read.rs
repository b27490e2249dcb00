//! Reading a bundle back from media: its parts found from the first, each a plain file opened
//! without following links, read as one stream.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::fcntl::OFlag;

use super::write::part_path;
use crate::bundle::format::{MAX_PARTS, Payload};
use crate::digest::{Digest, Hasher};
use crate::error::{Error, IoContext, Result};
use crate::vault::pipe::{ALIGN, Aligned};

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
