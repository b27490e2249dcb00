//! A bounded in-memory pipe between two threads, so bundle export and import
//! can decrypt on one core while they hash and encrypt on the other, in
//! constant memory (at most `DEPTH` chunks of `CHUNK` bytes in flight); and
//! [`BackgroundFile`], which moves a file's `write` system calls to their own
//! thread and, where the file system allows, writes with `O_DIRECT`: a large
//! bundle or snapshot then neither costs a page-cache copy of every byte nor
//! evicts the node's page cache.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

const CHUNK: usize = 256 << 10;
const DEPTH: usize = 8;

/// The writing end. Bytes are sent in chunks; dropping it ends the stream.
pub struct PipeWriter {
    tx: SyncSender<Vec<u8>>,
    buf: Vec<u8>,
}

/// The reading end. End of stream when the writer is dropped.
pub struct PipeReader {
    rx: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

/// A new pipe.
pub fn pipe() -> (PipeWriter, PipeReader) {
    let (writer, rx) = chunks();
    (
        writer,
        PipeReader {
            rx,
            buf: Vec::new(),
            pos: 0,
        },
    )
}

/// A writer that sends `CHUNK`-byte chunks, and the receiving end.
fn chunks() -> (PipeWriter, Receiver<Vec<u8>>) {
    let (tx, rx) = sync_channel(DEPTH);
    (
        PipeWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        },
        rx,
    )
}

/// The reader went away: the consumer stopped (and has its own error).
pub fn is_closed(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}

impl PipeWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the reading side stopped"))
    }
}

impl Write for PipeWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.buf = chunk;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A file written by a background thread: `write` hands chunks over
/// (bounded: `DEPTH` chunks of `CHUNK` bytes), [`BackgroundFile::finish`]
/// waits for every write and an `fsync`, and reports the first error.
pub struct BackgroundFile {
    pipe: Option<PipeWriter>,
    worker: Option<JoinHandle<io::Result<()>>>,
}

/// `O_DIRECT` needs buffers, offsets and lengths aligned to the device's
/// block size; 4096 covers 512-byte and 4 KiB devices.
pub(crate) const ALIGN: usize = 4096;

/// A buffer whose usable part starts at an `ALIGN`-aligned address.
pub(crate) struct Aligned {
    raw: Vec<u8>,
    start: usize,
    capacity: usize,
    /// Bytes in use, from the start.
    pub(crate) len: usize,
}

impl Aligned {
    pub(crate) fn new(capacity: usize) -> Self {
        let raw = vec![0u8; capacity + ALIGN];
        let start = raw.as_ptr().align_offset(ALIGN).min(ALIGN);
        Aligned {
            raw,
            start,
            capacity,
            len: 0,
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }

    /// The whole aligned capacity, to read into.
    pub(crate) fn space(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + self.capacity]
    }

    fn push(&mut self, data: &[u8]) {
        let at = self.start + self.len;
        self.raw[at..at + data.len()].copy_from_slice(data);
        self.len += data.len();
    }

    /// Drops the first `n` bytes, moving the rest to the front.
    fn consume(&mut self, n: usize) {
        self.raw
            .copy_within(self.start + n..self.start + self.len, self.start);
        self.len -= n;
    }
}

/// Writes `chunks` to `file` from offset 0, with `direct` (the same file
/// opened with `O_DIRECT`) for every whole block, the buffered `file` for
/// the tail and whenever the file system refuses direct writes; then fsyncs.
fn write_chunks(
    file: &File,
    mut direct: Option<File>,
    chunks: Receiver<Vec<u8>>,
) -> io::Result<()> {
    // Holds under a block plus under a chunk left over, plus one chunk.
    let mut pending = Aligned::new(2 * CHUNK + ALIGN);
    let mut offset = 0u64;
    for chunk in chunks {
        let Some(d) = direct.as_ref() else {
            file.write_all_at(&chunk, offset)?;
            offset += chunk.len() as u64;
            continue;
        };
        pending.push(&chunk);
        let whole = pending.len / ALIGN * ALIGN;
        if whole >= CHUNK {
            match d.write_all_at(&pending.bytes()[..whole], offset) {
                Ok(()) => {}
                // Some file systems take O_DIRECT at open and refuse it
                // at write: fall back to buffered writes for good.
                Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => {
                    direct = None;
                    file.write_all_at(&pending.bytes()[..whole], offset)?;
                }
                Err(e) => return Err(e),
            }
            offset += whole as u64;
            pending.consume(whole);
        }
    }
    // What is left (under a block, or everything if direct writes were
    // never taken) goes through the page cache.
    file.write_all_at(pending.bytes(), offset)?;
    file.sync_all()
}

impl BackgroundFile {
    /// Starts the writer thread for `file`, a new empty file at `path`.
    pub fn new(file: File, path: &Path) -> io::Result<Self> {
        let (pipe, rx) = chunks();
        // Not every file system offers O_DIRECT (tmpfs does not): then all
        // writes are buffered.
        let direct = OpenOptions::new()
            .write(true)
            .custom_flags(nix::libc::O_DIRECT)
            .open(path)
            .ok();
        let worker = std::thread::Builder::new()
            .name("airlock-writer".into())
            .spawn(move || write_chunks(&file, direct, rx))?;
        Ok(BackgroundFile {
            pipe: Some(pipe),
            worker: Some(worker),
        })
    }

    /// Stops the thread and returns its result.
    fn join(&mut self) -> io::Result<()> {
        self.pipe = None;
        match self.worker.take() {
            Some(w) => w
                .join()
                .map_err(|_| io::Error::other("the file writer thread panicked"))?,
            None => Ok(()),
        }
    }

    /// A failed hand-over means the thread stopped: its error says why.
    fn checked(&mut self, r: io::Result<usize>) -> io::Result<usize> {
        match r {
            Err(e) if is_closed(&e) => {
                self.join()?;
                Err(io::Error::other("the file writer thread stopped"))
            }
            other => other,
        }
    }

    /// Writes what is buffered, waits for the thread, and fsyncs the file.
    pub fn finish(mut self) -> io::Result<()> {
        let flushed = self.pipe.as_mut().map_or(Ok(()), PipeWriter::flush);
        self.checked(flushed.map(|()| 0))?;
        self.join()
    }
}

impl Write for BackgroundFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let r = match self.pipe.as_mut() {
            Some(p) => p.write(data),
            None => Err(io::Error::other("the file writer thread stopped")),
        };
        self.checked(r)
    }

    /// Hands the buffer to the thread (durability comes with `finish`).
    fn flush(&mut self) -> io::Result<()> {
        let r = self.pipe.as_mut().map_or(Ok(()), PipeWriter::flush);
        self.checked(r.map(|()| 0)).map(|_| ())
    }
}

impl Drop for BackgroundFile {
    fn drop(&mut self) {
        // Unfinished (an error elsewhere): stop the thread, ignore its result.
        let _ = self.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_cross_in_order_and_a_dropped_reader_is_reported() {
        let data: Vec<u8> = (0..(3 * CHUNK + 17)).map(|i| (i % 253) as u8).collect();
        let (mut w, mut r) = pipe();
        let sent = data.clone();
        let t = std::thread::spawn(move || {
            for piece in sent.chunks(1000) {
                w.write_all(piece).expect("write");
            }
            w.flush().expect("flush");
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).expect("read");
        t.join().expect("join");
        assert_eq!(got, data);

        let (mut w, r) = pipe();
        drop(r);
        let err = w.write_all(&vec![0u8; CHUNK]).expect_err("closed");
        assert!(is_closed(&err));
    }

    #[test]
    fn background_file_writes_everything_in_order() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..(5 * CHUNK + 3)).map(|i| (i % 249) as u8).collect();
        let mut w =
            BackgroundFile::new(File::create(&path).expect("create"), &path).expect("start");
        for piece in data.chunks(70_000) {
            w.write_all(piece).expect("write");
        }
        w.finish().expect("finish");
        assert_eq!(std::fs::read(&path).expect("read"), data);

        // A file system without O_DIRECT (or a path that cannot be reopened)
        // falls back to buffered writes.
        let other = dir.path().join("g");
        let mut w = BackgroundFile::new(
            File::create(&other).expect("create"),
            Path::new("/nonexistent"),
        )
        .expect("start");
        w.write_all(&data[..1000]).expect("write");
        w.finish().expect("finish");
        assert_eq!(std::fs::read(&other).expect("read"), &data[..1000]);
    }
}
