//! Typed rows from a CSV record's cells: the one path from text cells to
//! values that the file read in one go ([`Contract::scan_csv_rows`]) and a
//! piece of it read apart ([`Contract::parse_piece`], the parallel reader
//! of snapshots) share.
//!
//! [`Contract::scan_csv_rows`]: crate::contract::Contract::scan_csv_rows

use super::header::HeaderMap;
use super::{CellError, Contract, CsvRows, Value, ValueRef};

/// The typed rows of one piece of a CSV file, in one flat buffer that is
/// reused from piece to piece (the text cells' buffers too), so a batch
/// costs no allocation per row once it has held a piece.
#[derive(Debug, Default)]
pub struct RowBatch {
    /// The rows' values, one after the other; past the last row, values
    /// kept for their buffers.
    values: Vec<Value>,
    /// Where each row ends in `values`.
    ends: Vec<usize>,
}

impl RowBatch {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when it holds no row.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The rows, in order.
    pub fn rows(&self) -> impl Iterator<Item = &[Value]> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let row = self.values.get(start..end).unwrap_or(&[]);
            start = end;
            row
        })
    }
}

impl Contract {
    /// Parses a record's cells (in contract order) into `row` from `start`
    /// on, reusing the text buffers held there; a cell that breaks the
    /// contract is given to `bad` with its column, and its slot holds a
    /// missing value. Returns where the row ends (`start` plus the cells).
    pub(crate) fn fill_row(
        &self,
        cells: &csv::StringRecord,
        row: &mut Vec<Value>,
        start: usize,
        mut bad: impl FnMut(usize, CellError),
    ) -> usize {
        let mut end = start;
        for (idx, cell) in cells.iter().enumerate() {
            let v = match self.parse_ref(idx, cell) {
                Ok(v) => v,
                Err(e) => {
                    bad(idx, e);
                    ValueRef::Null
                }
            };
            match (row.get_mut(end), v) {
                (Some(Value::Text(s)), ValueRef::Text(t)) => {
                    s.clear();
                    s.push_str(t);
                }
                (Some(slot), v) => *slot = v.to_owned(),
                (None, v) => row.push(v.to_owned()),
            }
            end += 1;
        }
        end
    }

    /// Parses `piece` (whole records, as [`super::Pieces`] cuts them) into
    /// `batch`, replacing the rows it held. With `map` `None` the piece is
    /// the file's start, whose header (where the dialect has one) is read
    /// and mapped as [`CsvRows::open`] does; otherwise the records are read
    /// with `map`, the map of the file's header.
    ///
    /// Returns false at the first thing that is not a clean row: a header
    /// that does not fit, a malformed record or bad UTF-8, a record with
    /// another number of fields than the header, a NUL byte in an ignored
    /// column, a cell that breaks the contract. What is wrong is not said:
    /// the caller reads the file in one go ([`Contract::scan_csv_rows`])
    /// for the report, so that it is the same however the file was read.
    ///
    /// [`Contract::scan_csv_rows`]: crate::contract::Contract::scan_csv_rows
    pub fn parse_piece(&self, piece: &[u8], map: Option<&HeaderMap>, batch: &mut RowBatch) -> bool {
        batch.ends.clear();
        let rows = match map {
            None => CsvRows::open(self, piece, ""),
            Some(map) => Ok(CsvRows::open_piece(self, piece, "", map.clone())),
        };
        let Ok(mut rows) = rows else {
            return false;
        };
        let mut end = 0;
        loop {
            let r = match rows.next_record() {
                Ok(Some(r)) => r,
                Ok(None) => return true,
                Err(_) => return false,
            };
            let Some(cells) = r.cells else {
                return false;
            };
            if r.ignored_nul.is_some() {
                return false;
            }
            let mut clean = true;
            end = self.fill_row(cells, &mut batch.values, end, |_, _| clean = false);
            if !clean {
                return false;
            }
            batch.ends.push(end);
        }
    }
}
