//! Reading a dataset's CSV snapshot on every core: the rows of
//! [`super::stream_rows_by_id`], the same rows with the same numbers in the
//! same order as one thread reading the file, and the same errors.
//!
//! - A reader thread decrypts and verifies the snapshot (the vault's
//!   `VerifyingReader`) and cuts it into pieces of whole records of about
//!   1 MiB ([`Pieces`], whose cuts follow the csv crate's rules for the
//!   contract's dialect). The first piece is cut on the calling thread, and
//!   its header mapped there, as [`CsvRows::open`] maps it.
//! - N parse workers (one per core, 2 to 8) turn pieces into batches of
//!   typed rows ([`Contract::parse_piece`], the cells' one path), each batch
//!   a flat buffer reused from piece to piece.
//! - The calling thread puts the batches back in piece order, numbers the
//!   rows and hands them to `each`. A piece is read only with a credit, and
//!   a credit comes back when its batch has been handed: no more than
//!   `2N + 2` pieces are ever in flight, whatever the snapshot's size.
//!
//! Anything but clean rows (a violation, a malformed record, bad UTF-8, a
//! NUL in an ignored column, a field count that differs, no data row, a
//! read error such as a digest that does not match, a record longer than
//! [`MAX_RECORD`] or a dialect the cutter does not model) stops the
//! pipeline, and the snapshot is read again in one go by
//! [`Contract::scan_csv_rows`], today's serial path, for its error: every
//! message is the serial one, byte for byte. Rows already handed to `each`
//! are not handed again; the serial scan hands the rows after them while it
//! has seen no violation, as it always has. The first error of `each` stops
//! the workers (a flag, then the channels dropped); the snapshot is then
//! read to its end by the serial scan, handing nothing more, so that a
//! violation further on or a digest that does not match (a swapped vault
//! object) is reported in its place, as the serial path always did.
//! Otherwise `each`'s error is returned. A parse worker that panics stops
//! the others and the calling thread, and the panic is passed on.
//!
//! Memory: at most `2N + 2` pieces and their batches exist at once, plus
//! the batches kept for reuse. A batch holds a piece's cells as values (24
//! bytes a cell), so a piece of many tiny cells (`1,2\n`) can take about
//! 14 MiB as a batch: bounded by the workers, not by the snapshot's size
//! (about 68 MiB peak for the materialization of 1,000,000 rows of 20
//! columns on 2 workers, docs/benchmarks.md).
//!
//! No thread outlives the call: they run in a scope, and each one stops
//! when the flag is set or a channel it waits on has lost its other end
//! (the workers share the pieces' receiver, dropped with the last of them,
//! so a reader blocked on a full channel is released too).

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};

use crate::contract::{
    Contract, CsvRows, MAX_RECORD, Piece, Pieces, RecordCutter, RowBatch, Value,
};
use crate::error::{Error, Result};
use crate::header::HeaderMap;

/// How a snapshot is cut and parsed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tuning {
    /// The bytes a piece aims at.
    pub piece: usize,
    /// The most a piece may hold: no more than [`MAX_RECORD`], so that the
    /// cap on a record's length is never reached inside a piece (see
    /// `airlock_core::contract::cut`).
    pub limit: usize,
    /// Parse workers.
    pub workers: usize,
}

impl Tuning {
    /// 1 MiB pieces, a worker per core (2 to 8).
    pub(crate) fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Tuning {
            piece: 1 << 20,
            limit: usize::try_from(MAX_RECORD).unwrap_or(usize::MAX),
            workers: cores.clamp(2, 8),
        }
    }
}

/// Streams the rows of the CSV snapshot `open` opens (from its start; a
/// second time when the pipeline falls back to the serial scan) to `each`,
/// row numbers from 1.
pub(crate) fn stream_csv<R: Read + Send>(
    contract: &Contract,
    source: &str,
    open: &dyn Fn() -> Result<R>,
    tuning: Tuning,
    each: &mut dyn FnMut(u64, &[Value]) -> Result<()>,
) -> Result<()> {
    let handed = match contract.csv.record_cutter() {
        Some(cutter) => match parallel(contract, open()?, cutter, tuning, each) {
            Outcome::Done => return Ok(()),
            // The serial path read to the end whatever `each` said, so a
            // violation further on, or a digest that does not match (a
            // swapped vault object), was reported in place of `each`'s
            // error. The rest of the snapshot is read again for them,
            // handing nothing more.
            Outcome::Failed(e) => {
                return serial(contract, open()?, source, u64::MAX, each).and(Err(e));
            }
            Outcome::Serial { handed } => handed,
        },
        None => 0,
    };
    serial(contract, open()?, source, handed, each)
}

/// The serial scan, handing `each` the rows after the first `handed`: it
/// reads the whole snapshot and reports its violations before an error of
/// `each` (as the serial path always did).
fn serial<R: Read>(
    contract: &Contract,
    input: R,
    source: &str,
    handed: u64,
    each: &mut dyn FnMut(u64, &[Value]) -> Result<()>,
) -> Result<()> {
    let mut failed = None;
    contract.scan_csv_rows(input, source, &mut |n, row| {
        if n > handed
            && failed.is_none()
            && let Err(e) = each(n, row)
        {
            failed = Some(e);
        }
    })?;
    failed.map_or(Ok(()), Err)
}

/// How the pipeline ended.
enum Outcome {
    /// Every row was handed.
    Done,
    /// `each` failed.
    Failed(Error),
    /// Something was not clean: the serial scan reads the snapshot again,
    /// after `handed` rows already handed.
    Serial { handed: u64 },
}

/// What the reader and the workers tell the calling thread.
enum Msg {
    /// Piece `.0`'s rows.
    Batch(u64, RowBatch),
    /// The reader cut this many pieces, and stopped at the end.
    End(u64),
    /// Read the snapshot in one go.
    Serial,
}

/// A numbered piece of the snapshot.
type Numbered = (u64, Vec<u8>);

fn parallel<R: Read + Send>(
    contract: &Contract,
    input: R,
    cutter: RecordCutter,
    tuning: Tuning,
    each: &mut dyn FnMut(u64, &[Value]) -> Result<()>,
) -> Outcome {
    parallel_with(contract, input, cutter, tuning, each, &|_| {})
}

/// [`parallel`], the workers calling `before` with each piece's number
/// before they parse it (tests make a worker panic there).
fn parallel_with<R: Read + Send>(
    contract: &Contract,
    input: R,
    cutter: RecordCutter,
    tuning: Tuning,
    each: &mut dyn FnMut(u64, &[Value]) -> Result<()>,
    before: &(dyn Fn(u64) + Sync),
) -> Outcome {
    let limit = tuning
        .limit
        .min(usize::try_from(MAX_RECORD).unwrap_or(usize::MAX));
    let mut pieces = Pieces::new(input, cutter, tuning.piece, limit);
    // The header is in the first piece: mapped here, with the serial
    // path's checks (a refusal is reported by the serial scan).
    let Ok(Piece::Records(first)) = pieces.next_piece() else {
        return Outcome::Serial { handed: 0 };
    };
    let Ok(map) = CsvRows::open(contract, &first[..], "").map(|r| r.header_map().clone()) else {
        return Outcome::Serial { handed: 0 };
    };
    let workers = tuning.workers.max(1);
    let window = 2 * workers + 2;
    let stop = AtomicBool::new(false);
    let (piece_tx, piece_rx) = sync_channel::<Numbered>(window);
    let (result_tx, result_rx) = sync_channel::<Msg>(window);
    let (credit_tx, credit_rx) = sync_channel::<()>(window);
    let (spare_tx, spare_rx) = channel::<RowBatch>();
    for _ in 0..window {
        let _ = credit_tx.try_send(());
    }
    let piece_rx = Arc::new(Mutex::new(piece_rx));
    let spare_rx = Mutex::new(spare_rx);
    std::thread::scope(|s| {
        let (stop, map, spare_rx) = (&stop, &map, &spare_rx);
        let results = result_tx.clone();
        s.spawn(move || cut(pieces, first, piece_tx, credit_rx, results, stop));
        for _ in 0..workers {
            let (pieces, results) = (piece_rx.clone(), result_tx.clone());
            s.spawn(move || parse(contract, map, pieces, spare_rx, results, stop, before));
        }
        // Only the threads hold the pieces' receiver and the results'
        // senders: when they are gone, those channels close.
        drop(piece_rx);
        drop(result_tx);
        let outcome = hand(result_rx, credit_tx, spare_tx, each);
        stop.store(true, Ordering::Relaxed);
        outcome
    })
}

/// The reader thread: piece `first`, then the rest of `pieces`, each sent
/// numbered once a credit allows it; the end (or the need to read the file
/// in one go) is sent last.
fn cut<R: Read>(
    mut pieces: Pieces<R>,
    first: Vec<u8>,
    out: SyncSender<Numbered>,
    credits: Receiver<()>,
    results: SyncSender<Msg>,
    stop: &AtomicBool,
) {
    let mut next = Some(first);
    let mut index = 0;
    let end = loop {
        if stop.load(Ordering::Relaxed) || credits.recv().is_err() {
            return;
        }
        let piece = match next
            .take()
            .map_or_else(|| pieces.next_piece(), |p| Ok(Piece::Records(p)))
        {
            Ok(Piece::Records(p)) => p,
            Ok(Piece::End) => break Msg::End(index),
            Ok(Piece::TooLong) | Err(_) => break Msg::Serial,
        };
        if stop.load(Ordering::Relaxed) || out.send((index, piece)).is_err() {
            return;
        }
        index += 1;
    };
    // The workers stop once the pieces are done.
    drop(out);
    let _ = results.send(end);
}

/// Tells the calling thread to stop if a parse worker panics: without it
/// the piece that worker held would never come, the credits would run
/// out, and the reader, the other workers and the calling thread would
/// wait on each other for ever. With it, the calling thread stops
/// listening, every thread returns, and the scope passes the panic on.
struct OnPanic<'a> {
    results: &'a SyncSender<Msg>,
    stop: &'a AtomicBool,
}

impl Drop for OnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.stop.store(true, Ordering::Relaxed);
            // The calling thread drains the results until this arrives
            // (or has already hung up).
            let _ = self.results.send(Msg::Serial);
        }
    }
}

/// A parse worker: pieces to batches, until the pieces end, the calling
/// thread stops listening, or the flag says stop. `before` is called with
/// each piece's number before it is parsed (a no-op but in tests).
fn parse(
    contract: &Contract,
    map: &HeaderMap,
    pieces: Arc<Mutex<Receiver<Numbered>>>,
    spare: &Mutex<Receiver<RowBatch>>,
    results: SyncSender<Msg>,
    stop: &AtomicBool,
    before: &(dyn Fn(u64) + Sync),
) {
    let _guard = OnPanic {
        results: &results,
        stop,
    };
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let next = match pieces.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok((index, bytes)) = next else {
            return;
        };
        let mut batch = spare
            .lock()
            .ok()
            .and_then(|rx| rx.try_recv().ok())
            .unwrap_or_default();
        // Piece 0 starts with the header, read again as `CsvRows::open`
        // reads it; the others use its map.
        let map = (index > 0).then_some(map);
        before(index);
        let msg = if contract.parse_piece(&bytes, map, &mut batch) {
            Msg::Batch(index, batch)
        } else {
            Msg::Serial
        };
        if results.send(msg).is_err() {
            return;
        }
    }
}

/// The calling thread: batches back in piece order, rows numbered and
/// handed to `each`, a credit returned per batch handed.
fn hand(
    results: Receiver<Msg>,
    credits: SyncSender<()>,
    spare: Sender<RowBatch>,
    each: &mut dyn FnMut(u64, &[Value]) -> Result<()>,
) -> Outcome {
    let mut waiting = BTreeMap::new();
    let (mut next, mut row, mut total) = (0u64, 0u64, None);
    loop {
        if total == Some(next) {
            // A file without data rows gets the serial path's error.
            return if row == 0 {
                Outcome::Serial { handed: 0 }
            } else {
                Outcome::Done
            };
        }
        match results.recv() {
            Ok(Msg::Batch(index, batch)) => {
                waiting.insert(index, batch);
            }
            Ok(Msg::End(pieces)) => total = Some(pieces),
            // Every sender gone without the end: a thread stopped early
            // (it panicked; the scope reports it).
            Ok(Msg::Serial) | Err(_) => return Outcome::Serial { handed: row },
        }
        while let Some(batch) = waiting.remove(&next) {
            for r in batch.rows() {
                row += 1;
                if let Err(e) = each(row, r) {
                    return Outcome::Failed(e);
                }
            }
            next += 1;
            let _ = credits.try_send(());
            let _ = spare.send(batch);
        }
    }
}

#[cfg(test)]
#[path = "parallel_tests.rs"]
mod tests;
