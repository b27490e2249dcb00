//! Reading a CSV file under a contract: its dialect, its header mapped to
//! the contract's columns, and its records one at a time with a cap on
//! their length.

use std::io::Read;

use super::Contract;
use crate::contract::header::{HeaderMap, Mismatch};
use crate::error::{Error, Result};

/// Reads a record: removes the "\r" of a "\r\n" line end (records end at
/// "\n"), skips lines that are empty but for it, and trims spaces and
/// tabs around cells when the dialect says so (the same [`Contract::clean`]
/// serving requests get).
fn read_record<R: Read>(
    reader: &mut csv::Reader<R>,
    record: &mut csv::StringRecord,
    trim: bool,
) -> csv::Result<bool> {
    loop {
        if !reader.read_record(record)? {
            return Ok(false);
        }
        let n = record.len();
        let last = record.get(n.wrapping_sub(1)).unwrap_or("");
        let cr = last.ends_with('\r');
        if n == 1 && (last == "\r" || last.is_empty()) {
            continue;
        }
        let untrimmed = |f: &str| f.trim_matches(is_pad).len() != f.len();
        let needs_trim = trim && record.iter().any(untrimmed);
        if !cr && !needs_trim {
            return Ok(true);
        }
        let mut fixed = csv::StringRecord::with_capacity(record.as_slice().len(), n);
        for (i, f) in record.iter().enumerate() {
            let f = if cr && i + 1 == n {
                &f[..f.len() - 1]
            } else {
                f
            };
            fixed.push_field(if trim { f.trim_matches(is_pad) } else { f });
        }
        fixed.set_position(record.position().cloned());
        *record = fixed;
        return Ok(true);
    }
}

/// Padding trimmed around cells: spaces and tabs.
pub(super) fn is_pad(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Input is read at most this far past the start of the current record: a
/// record longer than this (a stray quote that swallows the rest of the
/// file) is refused instead of filling memory.
pub const MAX_RECORD: u64 = 16 << 20;

/// A reader that fails once it has read more than [`MAX_RECORD`] bytes
/// past `start`, the byte offset where the current record begins.
struct Capped<R> {
    inner: R,
    read: u64,
    start: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read > self.start.get() + MAX_RECORD {
            return Err(std::io::Error::other(format!(
                "a record longer than {} MiB (an unterminated quote?)",
                MAX_RECORD >> 20
            )));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// One record of a CSV file.
#[derive(Clone, Copy, Debug)]
pub struct CsvRecord<'a> {
    /// Data row, from 1 (a header is not a row).
    pub row: u64,
    /// The line it starts on, from 1.
    pub line: u64,
    /// Fields a record of this file has (its header's count, or the
    /// contract's without a header).
    pub width: usize,
    /// The record as read, in file order.
    pub raw: &'a csv::StringRecord,
    /// The contract's cells, in its column order (an optional column the
    /// file lacks is empty; ignored columns are left out); `None` when the
    /// record has another number of fields than `width`.
    pub cells: Option<&'a csv::StringRecord>,
    /// The first ignored header column (its header name) whose cell in this
    /// record holds a NUL byte, with the cell. Ignored cells are never
    /// parsed, but a NUL byte is refused in them too: a reader of the stored
    /// file that stops at it would see another row.
    pub ignored_nul: Option<(&'a str, &'a str)>,
}

/// The records of a CSV file under a contract's dialect, after its header
/// (mapped to the contract's columns, [`Contract::map_header`]) if it has
/// one.
pub struct CsvRows<R: Read> {
    reader: csv::Reader<Capped<R>>,
    record: csv::StringRecord,
    row: u64,
    source: String,
    trim: bool,
    start: std::rc::Rc<std::cell::Cell<u64>>,
    map: HeaderMap,
    identity: bool,
    /// The current record's cells in contract order, when the map is not
    /// the identity.
    projected: csv::StringRecord,
    /// The first record was read at open (to tell a header-less file's
    /// width) and is still to be handed out.
    pending: bool,
}

impl<R: Read> CsvRows<R> {
    /// Opens `input`; reads the header row where the dialect has one and
    /// maps it to the contract's columns, refusing a header that does not
    /// fit (missing, extra, repeated or out-of-order columns).
    pub fn open(contract: &Contract, input: R, source: &str) -> Result<Self> {
        Self::open_with(contract, input, source, &[])
    }

    /// Like [`CsvRows::open`], but the `optional` contract columns (by
    /// index; a request file's label) may be absent. A header-less file
    /// without them is told by its first record's width.
    pub fn open_with(
        contract: &Contract,
        input: R,
        source: &str,
        optional: &[usize],
    ) -> Result<Self> {
        let start = std::rc::Rc::new(std::cell::Cell::new(0));
        let mut reader = contract.csv.reader(Capped {
            inner: input,
            read: 0,
            start: start.clone(),
        });
        let mut record = csv::StringRecord::new();
        let trim = contract.csv.trim;
        let n = contract.columns.len();
        let mut map = HeaderMap::identity(n);
        let mut pending = false;
        if contract.csv.header {
            let got = read_record(&mut reader, &mut record, trim).map_err(|e| {
                Error::Rejected(format!(
                    "{source}: cannot read the header row: {}",
                    crate::text::error_text(&e)
                ))
            })?;
            if !got {
                return Err(Error::Data(crate::error::DataError::EmptyFile {
                    file: source.to_owned(),
                }));
            }
            let header: Vec<String> = record.iter().map(str::to_string).collect();
            let (mapped, fits) = contract.map_header(&header, optional);
            if let Err(Mismatch { problems, help }) = fits {
                return Err(contract.refuse_header(source, &problems, &help));
            }
            map = mapped;
        } else if !optional.is_empty() {
            pending = read_record(&mut reader, &mut record, trim).map_err(|e| {
                Error::Rejected(format!(
                    "{source}: malformed CSV at row 1: {}",
                    crate::text::error_text(&e)
                ))
            })?;
            let without = HeaderMap::without(n, optional);
            if pending && record.len() == without.width {
                map = without;
            }
        }
        start.set(reader.position().byte());
        Ok(CsvRows {
            reader,
            record,
            row: 0,
            source: source.to_string(),
            trim,
            start,
            identity: map.is_identity(),
            map,
            projected: csv::StringRecord::new(),
            pending,
        })
    }

    /// Opens a piece of a file after its first (a [`super::Pieces`] piece:
    /// whole records), whose header was mapped already: `map` is the map
    /// [`CsvRows::open`] gave for the file's start. Records are read as
    /// `open` reads them after the header; rows are numbered from 1 in the
    /// piece.
    pub fn open_piece(contract: &Contract, input: R, source: &str, map: HeaderMap) -> Self {
        let start = std::rc::Rc::new(std::cell::Cell::new(0));
        let reader = contract.csv.reader(Capped {
            inner: input,
            read: 0,
            start: start.clone(),
        });
        CsvRows {
            reader,
            record: csv::StringRecord::new(),
            row: 0,
            source: source.to_string(),
            trim: contract.csv.trim,
            start,
            identity: map.is_identity(),
            map,
            projected: csv::StringRecord::new(),
            pending: false,
        }
    }

    /// How the file's columns map to the contract's.
    pub fn header_map(&self) -> &HeaderMap {
        &self.map
    }

    /// The next record, or `None` at the end. A malformed file (bad UTF-8,
    /// an unterminated quote) is refused with the row it broke at.
    pub fn next_record(&mut self) -> Result<Option<CsvRecord<'_>>> {
        let got = if self.pending {
            self.pending = false;
            Ok(true)
        } else {
            read_record(&mut self.reader, &mut self.record, self.trim)
        };
        self.start.set(self.reader.position().byte());
        match got {
            Ok(false) => return Ok(None),
            Ok(true) => {}
            Err(e) => {
                return Err(Error::Rejected(format!(
                    "{}: malformed CSV after row {}: {}; nothing was stored",
                    self.source,
                    self.row,
                    crate::text::error_text(&e)
                )));
            }
        }
        self.row += 1;
        let line = self.record.position().map_or(self.row, |p| p.line());
        let fits = self.record.len() == self.map.width;
        if fits && !self.identity {
            self.projected.clear();
            for s in &self.map.source {
                self.projected
                    .push_field(s.and_then(|p| self.record.get(p)).unwrap_or(""));
            }
        }
        let ignored_nul = if fits && !self.map.ignored.is_empty() {
            self.map.ignored.iter().find_map(|h| {
                let cell = usize::try_from(h.position - 1)
                    .ok()
                    .and_then(|p| self.record.get(p))?;
                cell.contains('\0').then_some((h.name.as_str(), cell))
            })
        } else {
            None
        };
        Ok(Some(CsvRecord {
            row: self.row,
            line,
            width: self.map.width,
            raw: &self.record,
            cells: match (fits, self.identity) {
                (false, _) => None,
                (true, true) => Some(&self.record),
                (true, false) => Some(&self.projected),
            },
            ignored_nul,
        }))
    }

    /// The number of records read.
    pub fn rows(&self) -> u64 {
        self.row
    }
}
