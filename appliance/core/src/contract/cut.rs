//! Cutting a CSV byte stream into pieces of whole records, so that pieces
//! can be parsed apart (on several threads) and give exactly the records
//! the file read in one go gives.
//!
//! The cut follows the csv crate's reader as the contract's dialect sets it
//! up ([`CsvDialect`]: records end at "\n", a quote opens a quoted field
//! only at the start of a field, `""` inside quotes is a quote, no escape
//! character, no comments):
//!
//! - at a record's start, "\n" is an empty line, skipped;
//! - at a field's start, the quote opens a quoted field, the delimiter ends
//!   an empty field, "\n" ends the record, anything else starts a plain
//!   field;
//! - in a plain field, a quote is an ordinary byte (`5"6`);
//! - in a quoted field, everything is text ("\n" too) up to a quote, which
//!   either doubles (`""`, a quote) or closes the quoting: what follows is
//!   read as a plain field's bytes.
//!
//! A piece ends only after the "\n" of a record that [`CsvRows`] hands out:
//! one with a byte other than the quote, "\r" and "\n". Records that are
//! empty or only "\r" (CRLF blank lines, `""`) are skipped by `CsvRows`
//! without moving its start of record, so they stay with the record after
//! them; the cap on a record's length ([`MAX_RECORD`]) then measures the
//! same span in a piece as in the whole file, and a piece never longer than
//! the cap cannot reach it.
//!
//! [`CsvRows`]: super::CsvRows
//! [`MAX_RECORD`]: super::MAX_RECORD

use std::io::Read;

use super::CsvDialect;

/// Finds where records end in a CSV byte stream of one dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordCutter {
    delimiter: u8,
    quote: u8,
}

/// Where the cutter is inside a record (the csv crate's reader states it
/// models).
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    StartField,
    InField,
    InQuoted,
    /// A quote seen inside a quoted field: doubled, or the quoting's end.
    QuoteInQuoted,
}

impl CsvDialect {
    /// The cutter for this dialect's records, or `None` where it does not
    /// model the dialect (a quote that is also the delimiter): such files
    /// are read in one go.
    pub fn record_cutter(&self) -> Option<RecordCutter> {
        let (delimiter, quote) = self.bytes();
        (delimiter != quote).then_some(RecordCutter { delimiter, quote })
    }
}

impl RecordCutter {
    /// Calls `end` with the offset just past every record end where `buf`
    /// may be cut (see the module docs), in order. `buf` must start at a
    /// record's start.
    pub fn record_ends(&self, buf: &[u8], mut end: impl FnMut(usize)) {
        let (d, q) = (self.delimiter, self.quote);
        let mut state = State::StartField;
        let mut content = false;
        for (i, &b) in buf.iter().enumerate() {
            if b == b'\n' && state != State::InQuoted {
                if content {
                    end(i + 1);
                }
                state = State::StartField;
                content = false;
                continue;
            }
            content |= b != q && b != b'\r' && b != b'\n';
            state = match (state, b) {
                (State::InQuoted, b) if b == q => State::QuoteInQuoted,
                (State::InQuoted, _) => State::InQuoted,
                (State::StartField | State::QuoteInQuoted, b) if b == d => State::StartField,
                (State::StartField, b) if b == q => State::InQuoted,
                (State::QuoteInQuoted, b) if b == q => State::InQuoted,
                (State::InField, b) if b == d => State::StartField,
                (State::StartField | State::InField | State::QuoteInQuoted, _) => State::InField,
            };
        }
    }

    /// The offset just past the last record end where `buf` (starting at a
    /// record's start) may be cut, or `None` if there is none. A buffer
    /// without a quote byte is cut at its last line with content; otherwise
    /// the state machine of [`RecordCutter::record_ends`] runs over it.
    pub fn last_record_end(&self, buf: &[u8]) -> Option<usize> {
        if !buf.contains(&self.quote) {
            // No quoted field: every "\n" ends a record (or an empty line).
            let mut end = buf.len();
            while let Some(nl) = buf[..end].iter().rposition(|&b| b == b'\n') {
                let line_start = buf[..nl]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |p| p + 1);
                if buf[line_start..nl].iter().any(|&b| b != b'\r') {
                    return Some(nl + 1);
                }
                end = nl;
            }
            return None;
        }
        let mut last = None;
        self.record_ends(buf, |e| last = Some(e));
        last
    }
}

/// What [`Pieces::next_piece`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// The next piece: whole records (the last piece may end without a
    /// line end, as the file does).
    Records(Vec<u8>),
    /// No record ends within the limit: the file must be read in one go.
    TooLong,
    /// The end of the stream.
    End,
}

/// A byte stream cut into pieces of whole records, each about `target`
/// bytes and never more than `limit`.
pub struct Pieces<R> {
    input: R,
    cutter: RecordCutter,
    target: usize,
    limit: usize,
    /// Bytes read past the last cut.
    carry: Vec<u8>,
    eof: bool,
}

/// Bytes asked of the input per read.
const READ: usize = 256 << 10;

impl<R: Read> Pieces<R> {
    /// Cuts `input`, which must start at a record's start. `limit` is the
    /// most a piece may hold ([`super::MAX_RECORD`] for the span cap to
    /// hold, see the module docs); `target` is capped by it.
    pub fn new(input: R, cutter: RecordCutter, target: usize, limit: usize) -> Self {
        Pieces {
            input,
            cutter,
            target: target.clamp(1, limit.max(1)),
            limit: limit.max(1),
            carry: Vec::new(),
            eof: false,
        }
    }

    /// The next piece. A read error is returned as it is; the stream is
    /// then not to be read further.
    pub fn next_piece(&mut self) -> std::io::Result<Piece> {
        let mut buf = std::mem::take(&mut self.carry);
        // One allocation per piece, not one per doubling.
        buf.reserve(self.target.saturating_sub(buf.len()));
        let mut want = self.target;
        loop {
            while buf.len() < want && !self.eof {
                let len = buf.len();
                let ask = READ.min(want - len);
                buf.resize(len + ask, 0);
                match self.input.read(&mut buf[len..]) {
                    Ok(0) => {
                        buf.truncate(len);
                        self.eof = true;
                    }
                    Ok(n) => buf.truncate(len + n),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => buf.truncate(len),
                    Err(e) => return Err(e),
                }
            }
            if self.eof {
                return Ok(if buf.is_empty() {
                    Piece::End
                } else {
                    Piece::Records(buf)
                });
            }
            if let Some(end) = self.cutter.last_record_end(&buf) {
                self.carry = buf[end..].to_vec();
                buf.truncate(end);
                return Ok(Piece::Records(buf));
            }
            if buf.len() >= self.limit {
                return Ok(Piece::TooLong);
            }
            want = (buf.len() + self.target).min(self.limit);
        }
    }
}

#[cfg(test)]
#[path = "cut_tests.rs"]
mod tests;
