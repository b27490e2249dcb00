//! A bounded in-memory pipe between two threads, so bundle export and import
//! can decrypt on one core while they hash and encrypt on the other, in
//! constant memory (at most `DEPTH` chunks of `CHUNK` bytes in flight); and
//! [`BackgroundFile`], which moves a file's `write` system calls (copying
//! into the page cache costs as much CPU as encrypting) to their own thread.

use std::fs::File;
use std::io::{self, Read, Write};
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
    let (tx, rx) = sync_channel(DEPTH);
    (
        PipeWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        },
        PipeReader {
            rx,
            buf: Vec::new(),
            pos: 0,
        },
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
    tx: Option<SyncSender<Vec<u8>>>,
    buf: Vec<u8>,
    worker: Option<JoinHandle<io::Result<()>>>,
}

impl BackgroundFile {
    /// Starts the writer thread for `file`.
    pub fn new(mut file: File) -> io::Result<Self> {
        let (tx, rx) = sync_channel::<Vec<u8>>(DEPTH);
        let worker = std::thread::Builder::new()
            .name("airlock-writer".into())
            .spawn(move || -> io::Result<()> {
                for chunk in rx {
                    file.write_all(&chunk)?;
                }
                file.sync_all()
            })?;
        Ok(BackgroundFile {
            tx: Some(tx),
            buf: Vec::with_capacity(CHUNK),
            worker: Some(worker),
        })
    }

    fn join(&mut self) -> io::Result<()> {
        self.tx = None;
        match self.worker.take() {
            Some(w) => w
                .join()
                .map_err(|_| io::Error::other("the file writer thread panicked"))?,
            None => Ok(()),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        let sent = match &self.tx {
            Some(tx) => tx.send(chunk).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            // The writer stopped: its error says why.
            self.join()?;
            Err(io::Error::other("the file writer thread stopped"))
        }
    }

    /// Writes what is buffered, waits for the thread, and fsyncs the file.
    pub fn finish(mut self) -> io::Result<()> {
        self.send()?;
        self.join()
    }
}

impl Write for BackgroundFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    /// Hands the buffer to the thread (durability comes with `finish`).
    fn flush(&mut self) -> io::Result<()> {
        self.send()
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
        let mut w = BackgroundFile::new(File::create(&path).expect("create")).expect("start");
        for piece in data.chunks(70_000) {
            w.write_all(piece).expect("write");
        }
        w.finish().expect("finish");
        assert_eq!(std::fs::read(&path).expect("read"), data);
    }
}
