use super::*;
use crate::contract::{Contract, Value};

fn dialect(delimiter: &str, quote: &str) -> CsvDialect {
    CsvDialect {
        delimiter: delimiter.into(),
        quote: quote.into(),
        ..CsvDialect::default()
    }
}

fn ends(d: &CsvDialect, input: &[u8]) -> Vec<usize> {
    let cutter = d.record_cutter().expect("modelled");
    let mut out = Vec::new();
    cutter.record_ends(input, |e| out.push(e));
    out
}

/// Every record the csv crate reads from `input` (as bytes, so bad UTF-8
/// is compared too), with the offset just past it.
fn records(d: &CsvDialect, input: &[u8]) -> Vec<(Vec<Vec<u8>>, u64)> {
    let mut reader = d.reader(input);
    let mut record = csv::ByteRecord::new();
    let mut out = Vec::new();
    while reader
        .read_byte_record(&mut record)
        .expect("bytes in memory")
    {
        let fields = record.iter().map(<[u8]>::to_vec).collect();
        out.push((fields, reader.position().byte()));
    }
    out
}

/// Checks the cutter against the csv crate on `input`: every cut is where
/// the csv crate ends a record with content, every such record ended by a
/// line end before the input's end is a cut, the quote-free fast path
/// agrees with the state machine, and the pieces cut at every cut read as
/// the same records as the whole input.
fn check_against_csv(d: &CsvDialect, input: &[u8]) {
    let cuts = ends(d, input);
    let whole = records(d, input);
    let q = d.bytes().1;
    let mut expected = Vec::new();
    let mut prev = 0usize;
    for (_, end) in &whole {
        let end = usize::try_from(*end).expect("small");
        let span = &input[prev..end];
        let content = span.iter().any(|&b| b != q && b != b'\r' && b != b'\n');
        if end < input.len() && content {
            expected.push(end);
        }
        prev = end;
    }
    // The last record may end at the input's end with a "\n" (then it is a
    // cut) or without one: the cutter's cuts past the csv crate's last
    // interior record end must be the input's length.
    let interior: Vec<usize> = cuts.iter().copied().filter(|&c| c < input.len()).collect();
    assert_eq!(
        interior,
        expected,
        "cuts of {:?}",
        String::from_utf8_lossy(input)
    );
    if let Some(&last) = cuts.last() {
        assert_eq!(input[last - 1], b'\n');
    }
    let cutter = d.record_cutter().expect("modelled");
    assert_eq!(cutter.last_record_end(input), cuts.last().copied());
    let mut pieces = Vec::new();
    let mut start = 0;
    for &c in &cuts {
        pieces.extend(records(d, &input[start..c]).into_iter().map(|r| r.0));
        start = c;
    }
    pieces.extend(records(d, &input[start..]).into_iter().map(|r| r.0));
    let whole: Vec<_> = whole.into_iter().map(|r| r.0).collect();
    assert_eq!(
        pieces,
        whole,
        "pieces of {:?}",
        String::from_utf8_lossy(input)
    );
}

#[test]
fn a_quote_inside_a_plain_field_is_text() {
    let d = CsvDialect::default();
    let input = b"5\"6,x\n7,\"y\n\"\n";
    assert_eq!(ends(&d, input), [6, 13]);
    check_against_csv(&d, input);
}

#[test]
fn a_quoted_newline_is_not_a_record_end() {
    let d = CsvDialect::default();
    let input = b"\"a\nb\",c\nd,e\n";
    assert_eq!(ends(&d, input), [8, 12]);
    check_against_csv(&d, input);
}

#[test]
fn a_doubled_quote_stays_in_the_quoted_field() {
    let d = CsvDialect::default();
    let input = b"\"a\"\"\n\",b\nc\n";
    assert_eq!(ends(&d, input), [9, 11]);
    check_against_csv(&d, input);
}

#[test]
fn text_after_a_closing_quote_is_a_plain_field() {
    let d = CsvDialect::default();
    let input = b"\"a\"b\"\nc,d\n";
    assert_eq!(ends(&d, input), [6, 10]);
    check_against_csv(&d, input);
}

#[test]
fn crlf_lines_end_after_the_newline() {
    let d = CsvDialect::default();
    let input = b"a,b\r\nc,\"d\r\n\"\r\n";
    assert_eq!(ends(&d, input), [5, 14]);
    check_against_csv(&d, input);
}

#[test]
fn empty_and_cr_only_lines_stay_with_the_next_record() {
    let d = CsvDialect::default();
    let input = b"a\n\n\r\n\"\"\n\"\r\"\nb\n";
    assert_eq!(ends(&d, input), [2, 14]);
    check_against_csv(&d, input);
}

#[test]
fn a_final_record_without_newline_is_no_cut() {
    let d = CsvDialect::default();
    assert_eq!(ends(&d, b"a\nb"), [2]);
    assert_eq!(ends(&d, b"a\n\"b\n"), [2]);
    check_against_csv(&d, b"a\nb");
    check_against_csv(&d, b"a\n\"b\n");
}

#[test]
fn the_dialects_delimiter_and_quote_are_used() {
    let d = dialect(";", "'");
    let input = b"'a;\n'\"x;b\n\"c\n";
    assert_eq!(ends(&d, input), [10, 13]);
    check_against_csv(&d, input);
    assert_eq!(dialect(",", ",").record_cutter(), None);
}

/// A small seeded generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).expect("small")
    }
}

fn random_input(rng: &mut Rng, alphabet: &[u8]) -> Vec<u8> {
    let len = rng.below(64);
    (0..len)
        .map(|_| alphabet[rng.below(alphabet.len())])
        .collect()
}

#[test]
fn random_inputs_cut_where_the_csv_crate_ends_records() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for (d, alphabet) in [
        (CsvDialect::default(), &b"a,\"\n\r \t;'\xc3\xa9\xff"[..]),
        (dialect(";", "'"), &b"a;'\n\r,\"x"[..]),
        (dialect("\t", "\""), &b"1\t\"\n\r "[..]),
        (CsvDialect::default(), &b"ab,\n\r"[..]),
    ] {
        for _ in 0..4000 {
            let input = random_input(&mut rng, alphabet);
            check_against_csv(&d, &input);
        }
    }
}

/// A reader that hands out at most a few bytes per read, with an
/// `Interrupted` error now and then.
struct Dribble<'a> {
    data: &'a [u8],
    rng: Rng,
}

impl Read for Dribble<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.rng.below(5) == 0 {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let n = (1 + self.rng.below(7)).min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn pieces_are_whole_records_that_add_up_to_the_input() {
    let d = CsvDialect::default();
    let cutter = d.record_cutter().expect("modelled");
    let mut rng = Rng(42);
    for _ in 0..500 {
        let input = random_input(&mut rng, b"a,\"\n\r ");
        let target = 1 + rng.below(20);
        let seed = rng.next() | 1;
        let mut pieces = Pieces::new(
            Dribble {
                data: &input,
                rng: Rng(seed),
            },
            cutter,
            target,
            4096,
        );
        let mut joined = Vec::new();
        let mut got = Vec::new();
        loop {
            match pieces.next_piece().expect("in memory") {
                Piece::Records(p) => {
                    assert!(!p.is_empty());
                    joined.extend_from_slice(&p);
                    got.extend(records(&d, &p).into_iter().map(|r| r.0));
                }
                Piece::End => break,
                Piece::TooLong => panic!("no piece is too long here"),
            }
        }
        assert_eq!(joined, input);
        let whole: Vec<_> = records(&d, &input).into_iter().map(|r| r.0).collect();
        assert_eq!(got, whole);
    }
}

#[test]
fn a_record_longer_than_the_limit_is_too_long() {
    let cutter = CsvDialect::default().record_cutter().expect("modelled");
    let mut input = b"a,b\n\"".to_vec();
    input.extend(std::iter::repeat_n(b'x', 100));
    input.extend_from_slice(b"\"\nc,d\n");
    let mut pieces = Pieces::new(&input[..], cutter, 8, 64);
    assert_eq!(
        pieces.next_piece().expect("read"),
        Piece::Records(b"a,b\n".to_vec())
    );
    assert_eq!(pieces.next_piece().expect("read"), Piece::TooLong);
    // Empty lines are no record end either: a run of them longer than the
    // limit is too long as well, as it is for `CsvRows`' cap.
    let blank = [b'\n'; 100];
    let mut pieces = Pieces::new(&blank[..], cutter, 8, 64);
    assert_eq!(pieces.next_piece().expect("read"), Piece::TooLong);
    // Within the limit, the end of the input ends the last piece.
    let mut pieces = Pieces::new(&b"\n\n\na"[..], cutter, 2, 64);
    assert_eq!(
        pieces.next_piece().expect("read"),
        Piece::Records(b"\n\n\na".to_vec())
    );
    assert_eq!(pieces.next_piece().expect("read"), Piece::End);
}

/// Under a two-column contract, the rows of the pieces (`parse_piece`) are
/// the rows `scan_csv_rows` reads from the whole file, and every piece is
/// clean exactly when the whole file is (the `csv_cut` fuzz target's last
/// check, here on seeded random files).
#[test]
fn random_files_give_the_same_rows_in_pieces() {
    let contract = Contract::from_toml(
        "name='f'\nversion=1\n[csv]\nheader=false\n\
         [[columns]]\nname='a'\ntype='string'\nnullable=true\n\
         [[columns]]\nname='b'\ntype='integer'\nnullable=true\n",
        "t",
    )
    .expect("contract");
    let cutter = contract.csv.record_cutter().expect("modelled");
    let mut rng = Rng(7);
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..3000 {
        // Tokens rather than bytes, so that many files are valid.
        let tokens: [&[u8]; 12] = [
            b"a,1\n",
            b"\"x\ny\",2\r\n",
            b"\"\"\"\",\n",
            b"5\"6, 3 \n",
            b"\n",
            b"\r\n",
            b",",
            b"\"",
            b"1",
            b"\0",
            b"\"\"\n",
            b"a\n",
        ];
        let input: Vec<u8> = (0..rng.below(12))
            .flat_map(|_| tokens[rng.below(tokens.len())].iter().copied())
            .collect();
        let mut serial = Vec::new();
        let ok = contract
            .scan_csv_rows(&input[..], "t", &mut |_, r| serial.push(r.to_vec()))
            .is_ok();
        let mut pieces = Pieces::new(&input[..], cutter, 1 + rng.below(16), 1 << 20);
        let mut batch = super::super::RowBatch::default();
        let (mut rows, mut clean, mut index) = (Vec::new(), true, 0);
        while let Piece::Records(p) = pieces.next_piece().expect("in memory") {
            let map = super::super::header::HeaderMap::identity(2);
            if !contract.parse_piece(&p, (index > 0).then_some(&map), &mut batch) {
                clean = false;
                break;
            }
            rows.extend(batch.rows().map(<[Value]>::to_vec));
            index += 1;
        }
        assert_eq!(ok, clean && !rows.is_empty(), "{input:?}");
        if ok {
            assert_eq!(rows, serial);
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    assert!(accepted > 100 && refused > 100, "{accepted} {refused}");
}
