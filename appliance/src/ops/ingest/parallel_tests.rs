use super::*;

use std::time::Duration;

const SOURCE: &str = "snapshot abc of t@1";

fn contract(text: &str) -> Contract {
    Contract::from_toml(text, "t").expect("contract")
}

/// Rows handed and how the stream ended.
type Run = (Vec<(u64, Vec<Value>)>, std::result::Result<(), String>);

fn serial_run(c: &Contract, data: &[u8]) -> Run {
    let mut rows = Vec::new();
    let end = c
        .scan_csv_rows(data, SOURCE, &mut |n, r| rows.push((n, r.to_vec())))
        .map(|_| ())
        .map_err(|e| e.to_string());
    (rows, end)
}

/// A reader that fails with a read error once `fail_at` bytes are read.
struct Failing {
    data: Vec<u8>,
    at: usize,
    fail_at: usize,
}

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at >= self.fail_at {
            return Err(std::io::Error::other("the disk is on fire"));
        }
        let n = buf
            .len()
            .min(self.fail_at - self.at)
            .min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Runs `stream_csv` on a thread of its own and fails the test if it does
/// not return within a minute: a deadlock or a thread left running (the
/// call joins every thread it starts) fails instead of hanging. `each`
/// fails at row `fail_at`. Also returns how many times the snapshot was
/// opened: twice when the pipeline fell back to the serial scan.
fn parallel_run(
    c: &Contract,
    data: &[u8],
    fail_read_at: Option<usize>,
    tuning: Tuning,
    fail_at: Option<u64>,
) -> (Run, usize) {
    let (c, data) = (c.clone(), data.to_vec());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut rows = Vec::new();
        let opened = std::cell::Cell::new(0);
        let open = || {
            opened.set(opened.get() + 1);
            Ok(Failing {
                data: data.clone(),
                at: 0,
                fail_at: fail_read_at.unwrap_or(usize::MAX),
            })
        };
        let end = stream_csv(&c, SOURCE, &open, tuning, &mut |n, r| {
            if Some(n) == fail_at {
                return Err(Error::Integrity(format!("each failed at row {n}")));
            }
            rows.push((n, r.to_vec()));
            Ok(())
        });
        let _ = tx.send(((rows, end.map_err(|e| e.to_string())), opened.get()));
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the parallel stream returned (no deadlock, no thread left)")
}

fn tuning(piece: usize, workers: usize) -> Tuning {
    Tuning {
        piece,
        limit: usize::try_from(MAX_RECORD).expect("fits"),
        workers,
    }
}

/// The tunings every file is read with: pieces of a byte (a cut after
/// every record), tiny and small, with one to four workers, and this
/// machine's.
fn tunings() -> Vec<Tuning> {
    vec![
        tuning(1, 3),
        tuning(7, 2),
        tuning(64, 4),
        tuning(1000, 1),
        Tuning::for_this_machine(),
    ]
}

/// Every tuning hands exactly the serial scan's rows with its numbers and
/// ends as it does, reading the snapshot once where it is clean (the
/// pipeline did not fall back to the serial scan) and twice where it is
/// not; returns the serial run.
fn same_as_serial(c: &Contract, data: &[u8]) -> Run {
    let serial = serial_run(c, data);
    for t in tunings() {
        let (parallel, opened) = parallel_run(c, data, None, t, None);
        assert_eq!(opened, if serial.1.is_ok() { 1 } else { 2 }, "{t:?}");
        assert_eq!(parallel.1, serial.1, "{t:?}");
        assert_eq!(parallel.0.len(), serial.0.len(), "{t:?}");
        assert!(parallel.0 == serial.0, "{t:?}: other rows");
    }
    serial
}

#[test]
fn german_credit_rows_match_the_serial_scan() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/german/german.data"
    );
    let data = std::fs::read(path).expect("german.data");
    let text = String::from_utf8(data.clone()).expect("text");
    let first: Vec<&str> = text.lines().next().expect("a row").split(' ').collect();
    let mut toml = String::from("name='german'\nversion=1\n[csv]\nheader=false\ndelimiter=' '\n");
    for (i, cell) in first.iter().enumerate() {
        let ty = if cell.bytes().all(|b| b.is_ascii_digit()) {
            "integer"
        } else {
            "string"
        };
        toml.push_str(&format!("[[columns]]\nname='c{i}'\ntype='{ty}'\n"));
    }
    let c = contract(&toml);
    let (rows, end) = same_as_serial(&c, &data);
    assert_eq!(end, Ok(()));
    assert_eq!(rows.len(), 1000);
}

const PEOPLE: &str = "name='people'\nversion=1\nnull_tokens=['', 'NA']\nignore=['memo']\n\
    [[columns]]\nname='id'\ntype='integer'\nmax=100000\n\
    [[columns]]\nname='name'\ntype='string'\n\
    [[columns]]\nname='score'\ntype='float'\nnullable=true\n\
    [[columns]]\nname='note'\ntype='string'\nnullable=true\n";

/// A small seeded generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// A file for PEOPLE with an ignored column (so the header map is no
/// identity), with
/// quoted cells holding delimiters, quotes and line ends, quotes inside
/// plain cells, CRLF and LF lines, blank lines, padding and missing values.
fn people(rows: u64, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut out = String::from(" id ,memo,name,score,note\r\n");
    let notes = [
        "",
        "NA",
        "plain",
        "\"quoted, with comma\"",
        "\"a \"\"quote\"\" inside\"",
        "\"two\nlines\"",
        "\"crlf\r\ninside\"",
        "5\"6 tall",
        "  padded  ",
    ];
    for id in 1..=rows {
        let note = notes[usize::try_from(rng.below(notes.len() as u64)).expect("small")];
        let score = match rng.below(4) {
            0 => String::new(),
            1 => "NA".into(),
            _ => format!("{}.{}", rng.below(100), rng.below(10)),
        };
        let end = if rng.below(2) == 0 { "\n" } else { "\r\n" };
        out.push_str(&format!(" {id} ,\"m{id}\",\"n{id}\",{score},{note}{end}"));
        match rng.below(10) {
            0 => out.push('\n'),
            1 => out.push_str("\r\n"),
            2 => out.push_str("\"\"\n"),
            _ => {}
        }
    }
    out.into_bytes()
}

#[test]
fn quoted_crlf_and_blank_lines_match_the_serial_scan_in_tiny_pieces() {
    let c = contract(PEOPLE);
    for seed in 1..=3 {
        let data = people(300, seed);
        let (rows, end) = same_as_serial(&c, &data);
        assert_eq!(end, Ok(()));
        assert_eq!(rows.len(), 300);
        // The last record without its line end.
        let trimmed = data.strip_suffix(b"\n").unwrap_or(&data);
        let (rows, end) = same_as_serial(&c, trimmed);
        assert_eq!(end, Ok(()));
        assert!(rows.len() >= 299);
    }
}

/// Replaces the first occurrence of `from` in `data` after `at`.
fn replace(data: &[u8], at: usize, from: &str, to: &[u8]) -> Vec<u8> {
    let pos = at
        + data[at..]
            .windows(from.len())
            .position(|w| w == from.as_bytes())
            .expect("found");
    let mut out = data[..pos].to_vec();
    out.extend_from_slice(to);
    out.extend_from_slice(&data[pos + from.len()..]);
    out
}

#[test]
fn a_broken_snapshot_gives_the_serial_error_and_rows() {
    let c = contract(PEOPLE);
    let data = people(400, 7);
    let mid = data.len() / 2;
    let broken = [
        // A value out of range.
        replace(&data, mid, " 2", b" 200000"),
        // A record with a field too many.
        replace(&data, mid, ",\"n", b",x,\"n"),
        // Bad UTF-8.
        replace(&data, mid, "\"m", b"\"\xff"),
        // A NUL byte in the ignored column.
        replace(&data, mid, "\"m", b"\"\0"),
        // An integer that is no integer, in the first piece.
        replace(&data, 30, " 1", b" x"),
    ];
    for file in broken {
        let (rows, end) = same_as_serial(&c, &file);
        assert!(end.is_err(), "refused");
        assert!(!rows.is_empty());
    }
    for (file, why) in [
        (&b"id,memo,name,note\n1,2,3,4\n"[..], "does not match"),
        (b"", "empty"),
        (b"id,memo,name,score,note\n\n\r\n", "no data rows"),
    ] {
        let (rows, end) = same_as_serial(&c, file);
        let e = end.expect_err("refused");
        assert!(e.contains(why), "{e}");
        assert!(rows.is_empty());
    }
}

#[test]
fn a_read_error_gives_the_serial_error() {
    let c = contract(PEOPLE);
    let data = people(400, 11);
    let fail_at = data.len() * 2 / 3;
    let serial = {
        let mut rows = Vec::new();
        let input = Failing {
            data: data.clone(),
            at: 0,
            fail_at,
        };
        let end = c.scan_csv_rows(input, SOURCE, &mut |n, r| rows.push((n, r.to_vec())));
        (rows, end.map(|_| ()).map_err(|e| e.to_string()))
    };
    assert!(
        serial
            .1
            .as_ref()
            .is_err_and(|e| e.contains("the disk is on fire"))
    );
    for t in tunings() {
        let (parallel, opened) = parallel_run(&c, &data, Some(fail_at), t, None);
        assert_eq!(opened, 2);
        assert_eq!(parallel.1, serial.1, "{t:?}");
        assert!(parallel.0 == serial.0, "{t:?}: other rows");
    }
}

#[test]
fn an_each_error_stops_the_stream_at_that_row() {
    let c = contract(PEOPLE);
    let data = people(2000, 3);
    for t in tunings() {
        let ((rows, end), opened) = parallel_run(&c, &data, None, t, Some(150));
        // Read a second time, handing nothing, for an error further on.
        assert_eq!(opened, 2);
        assert_eq!(end, Err("each failed at row 150".to_string()), "{t:?}");
        assert_eq!(rows.len(), 149, "{t:?}");
        assert_eq!(rows.last().map(|r| r.0), Some(149));
    }
}

/// As the serial path did, an error further on in the snapshot (here a
/// read error, as a digest that does not match at its end is) is reported
/// in place of an earlier error of `each`: a swapped snapshot is not hidden
/// behind a row the caller refused.
#[test]
fn an_error_further_on_wins_over_an_each_error() {
    let c = contract(PEOPLE);
    let data = people(2000, 5);
    let fail_read_at = data.len() * 3 / 4;
    for t in tunings() {
        let ((rows, end), _) = parallel_run(&c, &data, Some(fail_read_at), t, Some(10));
        let e = end.expect_err("refused");
        assert!(e.contains("the disk is on fire"), "{t:?}: {e}");
        assert_eq!(rows.len(), 9, "{t:?}: no row handed after each failed");
    }
}

/// A parse worker that panics makes the call panic, with every thread
/// joined, instead of leaving the reader, the other workers and the
/// calling thread waiting on each other.
#[test]
fn a_panicking_worker_stops_the_stream_instead_of_hanging() {
    let c = contract(PEOPLE);
    let data = people(2000, 9);
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let _tx = tx;
        let cutter = c.csv.record_cutter().expect("a cutter for this dialect");
        // Tiny pieces: far more of them than the pieces in flight.
        let _ = parallel_with(
            &c,
            &data[..],
            cutter,
            tuning(64, 2),
            &mut |_, _| Ok(()),
            &|i| {
                assert!(i != 3, "a worker fails on piece 3");
            },
        );
        panic!("the stream returned after a worker panicked");
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {}
        other => panic!("the stream hung or returned: {other:?}"),
    }
}

#[test]
fn a_record_past_the_limit_is_read_in_one_go() {
    let c = contract(PEOPLE);
    let data = people(50, 5);
    // A quoted name of 600 bytes over two lines.
    let long = format!("\"{}\n{}n", "x".repeat(300), "y".repeat(300));
    let file = replace(&data, data.len() / 2, "\"n", long.as_bytes());
    let serial = serial_run(&c, &file);
    assert_eq!(serial.1, Ok(()));
    let limited = Tuning {
        piece: 16,
        limit: 256,
        workers: 2,
    };
    let (parallel, opened) = parallel_run(&c, &file, None, limited, None);
    assert_eq!(opened, 2);
    assert_eq!(parallel.1, serial.1);
    assert!(parallel.0 == serial.0, "other rows");
}

/// A vault object whose content is not the one its address names (another
/// snapshot's ciphertext put in its place): the reader's digest check
/// fails at the end, after the rows, and the error is the serial one.
#[test]
fn a_snapshot_that_fails_its_digest_gives_the_serial_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    crate::vault::Vault::create(dir.path()).expect("create");
    let identity = age::x25519::Identity::generate();
    let vault = crate::vault::Vault::open(dir.path(), &identity).expect("open");
    let c = contract(PEOPLE);
    let (good, _) = vault.put(&people(300, 1)).expect("put");
    let (other, _) = vault.put(&people(300, 2)).expect("put");
    std::fs::rename(vault.path_of(&other), vault.path_of(&good)).expect("swap");
    let mut serial = Vec::new();
    let input = vault.open_object(&good).expect("object");
    let end = c.scan_csv_rows(input, SOURCE, &mut |n, r| serial.push((n, r.to_vec())));
    let expected = end.map(|_| ()).map_err(|e| e.to_string());
    assert!(
        expected
            .as_ref()
            .is_err_and(|e| e.contains("not its address"))
    );
    for t in tunings() {
        let mut rows = Vec::new();
        let open = || vault.open_object(&good);
        let end = stream_csv(&c, SOURCE, &open, t, &mut |n, r| {
            rows.push((n, r.to_vec()));
            Ok(())
        });
        assert_eq!(end.map_err(|e| e.to_string()), expected, "{t:?}");
        assert!(rows == serial, "{t:?}: other rows");
    }
}
