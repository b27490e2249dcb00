//! The CSV cutter (`RecordCutter`, `Pieces`) that lets a snapshot be parsed on several
//! threads, against the csv crate read in one go.
//!
//! Input layout:
//!
//! ```text
//! byte 0      the dialect: bits 0-2 pick the delimiter, bit 3 the quote
//! byte 1      the pieces' target size, 1 to 256 bytes
//! then        the CSV bytes
//! ```
//!
//! Beyond "no panic": every cut is just past a record the csv crate ends with "\n", and
//! every such record with content (a byte other than the quote, "\r", "\n") before the
//! input's end is a cut; the quote-free fast path finds the same last cut as the state
//! machine; the pieces add up to the input and read as exactly the records of the whole;
//! and under a two-column contract of that dialect, the pieces' rows (`parse_piece`) are
//! the rows `scan_csv_rows` reads from the whole, every piece clean exactly when the whole
//! is.

#![no_main]

use airlock_core::contract::{Contract, CsvRows, Piece, Pieces, RowBatch, Value};
use libfuzzer_sys::fuzz_target;

const DELIMITERS: [u8; 8] = [b',', b';', b'\t', b' ', b'|', b'a', b'"', b'\''];

/// The csv crate set up as `CsvDialect::reader` sets it up.
fn reader(delimiter: u8, quote: u8, input: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .terminator(csv::Terminator::Any(b'\n'))
        .flexible(true)
        .delimiter(delimiter)
        .quote(quote)
        .from_reader(input)
}

/// Every record of `input` as bytes, with the offset just past it.
fn records(delimiter: u8, quote: u8, input: &[u8]) -> Vec<(Vec<Vec<u8>>, usize)> {
    let mut r = reader(delimiter, quote, input);
    let mut record = csv::ByteRecord::new();
    let mut out = Vec::new();
    while r.read_byte_record(&mut record).unwrap_or(false) {
        let end = usize::try_from(r.position().byte()).unwrap_or(usize::MAX);
        out.push((record.iter().map(<[u8]>::to_vec).collect(), end));
    }
    out
}

fn show(b: u8) -> String {
    match b {
        b'\t' => "\\t".into(),
        b'"' => "\\\"".into(),
        b => char::from(b).to_string(),
    }
}

fuzz_target!(|data: &[u8]| {
    let [dialect, size, input @ ..] = data else {
        return;
    };
    let delimiter = DELIMITERS[usize::from(dialect & 7)];
    let quote = if dialect & 8 == 0 { b'"' } else { b'\'' };
    let toml = format!(
        "name = \"f\"\nversion = 1\n[csv]\nheader = false\ndelimiter = \"{}\"\nquote = \"{}\"\n\
         [[columns]]\nname = \"a\"\ntype = \"string\"\nnullable = true\n\
         [[columns]]\nname = \"b\"\ntype = \"string\"\nnullable = true\n",
        show(delimiter),
        show(quote)
    );
    let Ok(contract) = Contract::from_toml(&toml, "fuzz") else {
        return;
    };
    let Some(cutter) = contract.csv.record_cutter() else {
        assert_eq!(
            delimiter, quote,
            "only a quote that is the delimiter is not modelled"
        );
        return;
    };

    // The cuts against the csv crate's record ends.
    let mut cuts = Vec::new();
    cutter.record_ends(input, |e| cuts.push(e));
    let whole = records(delimiter, quote, input);
    let mut expected = Vec::new();
    let mut prev = 0;
    for (_, end) in &whole {
        let content = input[prev..*end]
            .iter()
            .any(|&b| b != quote && b != b'\r' && b != b'\n');
        if *end < input.len() && content {
            expected.push(*end);
        }
        prev = *end;
    }
    let interior: Vec<usize> = cuts.iter().copied().filter(|&c| c < input.len()).collect();
    assert_eq!(interior, expected, "cuts");
    if let Some(&last) = cuts.last() {
        assert_eq!(input[last - 1], b'\n', "a cut after a line end");
    }
    assert_eq!(
        cutter.last_record_end(input),
        cuts.last().copied(),
        "fast path"
    );

    // Pieces of the target size: whole records adding up to the input.
    let target = usize::from(*size) + 1;
    let mut pieces = Pieces::new(input, cutter, target, 1 << 20);
    let mut joined = Vec::new();
    let mut parts = Vec::new();
    loop {
        match pieces.next_piece() {
            Ok(Piece::Records(p)) => {
                joined.extend_from_slice(&p);
                parts.push(p);
            }
            Ok(Piece::End) => break,
            other => panic!("{other:?} from a small input in memory"),
        }
    }
    assert_eq!(joined, input, "pieces add up");
    let from_parts: Vec<_> = parts
        .iter()
        .flat_map(|p| records(delimiter, quote, p))
        .map(|r| r.0)
        .collect();
    let whole: Vec<_> = whole.into_iter().map(|r| r.0).collect();
    assert_eq!(from_parts, whole, "pieces read as the whole");

    // The rows of the pieces are the rows of the whole.
    let mut serial: Vec<Vec<Value>> = Vec::new();
    let ok = contract
        .scan_csv_rows(input, "fuzz", &mut |_, r| serial.push(r.to_vec()))
        .is_ok();
    let Ok(first) = CsvRows::open(&contract, input, "fuzz") else {
        return;
    };
    let map = first.header_map().clone();
    let mut batch = RowBatch::default();
    let mut rows: Vec<Vec<Value>> = Vec::new();
    let mut clean = true;
    for (i, p) in parts.iter().enumerate() {
        if !contract.parse_piece(p, (i > 0).then_some(&map), &mut batch) {
            clean = false;
            break;
        }
        rows.extend(batch.rows().map(<[Value]>::to_vec));
    }
    // No data row at all is refused by the serial scan, not by a piece.
    assert_eq!(
        ok,
        clean && !rows.is_empty(),
        "clean pieces exactly when the whole is"
    );
    if ok {
        assert!(rows == serial, "the same rows");
    }
});
