//! The archive reader, `read_objects`: splitting a decrypted body into the
//! manifest's objects, with size, digest and trailing-data checks.
//!
//! The entries are derived from the input rather than parsed from JSON, so
//! the fuzzer reaches the splitting itself: half of the digests are the
//! SHA-256 of the bytes the entry really covers. The result is compared with
//! a plain model of the format, and every byte the sink sees must be the
//! object's own.
//!
//! Input layout:
//!
//! ```text
//! byte 0       object count (mod 9)
//! byte 1       body reader: bits 0-3 largest read (0: no limit),
//!              bit 4 interrupt every other read, bit 5 fail for good at
//!              the offset in bytes 2-3
//! bytes 2-3    u16 BE failure offset
//! 4 per object u16 BE size; flags (bit 0 true digest, bits 1-4 kind,
//!              bits 5-6 how the sink reads); a length for the sink
//! rest         the body
//! ```

#![no_main]

use std::io::{self, Read};

use airlock_core::bundle::{self as format, Entry, FormatError};
use airlock_core::digest::Digest;
use airlock_core::object::Kind;
use libfuzzer_sys::fuzz_target;

const KINDS: [Kind; 9] = [
    Kind::Contract,
    Kind::Snapshot,
    Kind::Dataset,
    Kind::FeatureSet,
    Kind::Weights,
    Kind::Run,
    Kind::Gate,
    Kind::Approval,
    Kind::Deployment,
];

/// How the sink consumes one object.
#[derive(Clone, Copy, Debug)]
enum SinkRead {
    /// `read_to_end`.
    All,
    /// Nothing: `read_objects` must still hash the whole object.
    Nothing,
    /// At most this many bytes, one at a time.
    Bytewise(usize),
    /// At most this many bytes, in one buffer.
    Prefix(usize),
}

struct Object {
    entry: Entry,
    read: SinkRead,
}

/// The body as a reader that gives short reads, `Interrupted` errors (which
/// must change nothing) or a hard error from some offset on.
struct Body<'a> {
    bytes: &'a [u8],
    at: usize,
    max_read: usize,
    interrupt: bool,
    interrupt_next: bool,
    fail_at: Option<usize>,
    failed: bool,
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.interrupt {
            self.interrupt_next = !self.interrupt_next;
            if self.interrupt_next {
                return Err(io::ErrorKind::Interrupted.into());
            }
        }
        if self.fail_at.is_some_and(|f| self.at >= f) {
            self.failed = true;
            return Err(io::Error::other("injected read failure"));
        }
        let mut n = buf.len().min(self.bytes.len() - self.at).min(self.max_read);
        if let Some(f) = self.fail_at {
            n = n.min(f - self.at);
        }
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn io_error(e: io::Error) -> FormatError {
    FormatError::Io(e.to_string())
}

/// Reads what `how` says from one object, retrying on `Interrupted` as any
/// sink must. A short object is not the sink's error: `read_objects` reports
/// it after the sink returns.
fn consume(how: SinkRead, r: &mut dyn Read) -> Result<Vec<u8>, FormatError> {
    let mut got = Vec::new();
    match how {
        SinkRead::All => {
            r.read_to_end(&mut got).map_err(io_error)?;
        }
        SinkRead::Nothing => {}
        SinkRead::Bytewise(limit) => {
            let mut one = [0u8; 1];
            while got.len() < limit {
                match r.read(&mut one) {
                    Ok(0) => break,
                    Ok(_) => got.push(one[0]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(io_error(e)),
                }
            }
        }
        SinkRead::Prefix(limit) => {
            let mut buf = vec![0u8; limit];
            let mut filled = 0;
            while filled < limit {
                match r.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(io_error(e)),
                }
            }
            buf.truncate(filled);
            got = buf;
        }
    }
    Ok(got)
}

/// What `read_objects` must return, from the format alone.
fn model(body: &[u8], entries: &[Entry]) -> Result<(), FormatError> {
    let mut at = 0usize;
    for (i, e) in entries.iter().enumerate() {
        let end = at + e.size as usize;
        if end > body.len() {
            return Err(FormatError::Truncated(String::new()));
        }
        let found = Digest::of(&body[at..end]);
        if found != e.id {
            return Err(FormatError::DigestMismatch {
                index: i + 1,
                kind: e.kind,
                expected: e.id,
                found,
            });
        }
        at = end;
    }
    if at != body.len() {
        return Err(FormatError::TrailingData("last object"));
    }
    Ok(())
}

fn same_outcome(got: &Result<(), FormatError>, want: &Result<(), FormatError>) -> bool {
    match (got, want) {
        // The message wording is free; the variant is the contract.
        (Err(FormatError::Truncated(_)), Err(FormatError::Truncated(_))) => true,
        _ => got == want,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((head, mut rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let count = usize::from(head[0] % 9);
    let mut objects = Vec::with_capacity(count);
    for _ in 0..count {
        let Some((spec, tail)) = rest.split_first_chunk::<4>() else {
            return;
        };
        rest = tail;
        objects.push((*spec, u64::from(u16::from_be_bytes([spec[0], spec[1]]))));
    }
    let body = rest;

    // Entries: each digest is either that of the bytes the entry covers
    // (clamped to the body) or of its own spec bytes.
    let mut at = 0usize;
    let objects: Vec<Object> = objects
        .into_iter()
        .map(|(spec, size)| {
            let end = (at + size as usize).min(body.len());
            let covered = &body[at..end];
            at = end;
            let flags = spec[2];
            let id = if flags & 1 == 1 {
                Digest::of(covered)
            } else {
                Digest::of(&spec)
            };
            let limit = usize::from(spec[3]);
            let read = match (flags >> 5) & 3 {
                0 => SinkRead::All,
                1 => SinkRead::Nothing,
                2 => SinkRead::Bytewise(limit),
                _ => SinkRead::Prefix(limit),
            };
            Object {
                entry: Entry {
                    id,
                    kind: KINDS[usize::from((flags >> 1) & 15) % KINDS.len()],
                    size,
                    attestations: Vec::new(),
                },
                read,
            }
        })
        .collect();
    let entries: Vec<Entry> = objects.iter().map(|o| o.entry.clone()).collect();

    let mode = head[1];
    let mut reader = Body {
        bytes: body,
        at: 0,
        max_read: match usize::from(mode & 15) {
            0 => usize::MAX,
            n => n,
        },
        interrupt: mode & 16 != 0,
        interrupt_next: false,
        fail_at: (mode & 32 != 0).then(|| usize::from(u16::from_be_bytes([head[2], head[3]]))),
        failed: false,
    };

    let mut seen: Vec<(usize, Vec<u8>)> = Vec::new();
    let got = format::read_objects(&mut reader, &entries, |i, e, r| {
        assert_eq!(e, &entries[i]);
        let bytes = consume(objects[i].read, r)?;
        seen.push((i, bytes));
        Ok::<(), FormatError>(())
    });

    if reader.failed {
        // A read error is never swallowed nor reported as something else.
        assert!(matches!(got, Err(FormatError::Io(_))), "got {got:?}");
    } else {
        // Short reads and `Interrupted` change nothing.
        let want = model(body, &entries);
        assert!(same_outcome(&got, &want), "got {got:?}, want {want:?}");
    }

    // The sink was called in order, and only ever saw its object's bytes.
    let mut at = 0usize;
    for (n, (i, bytes)) in seen.iter().enumerate() {
        assert_eq!(*i, n, "sink calls out of order");
        let size = entries[n].size as usize;
        let end = (at + size).min(body.len());
        assert!(
            body[at..end].starts_with(bytes),
            "object {} got bytes that are not its own",
            n + 1
        );
        at = end;
    }
    if got.is_ok() {
        assert_eq!(seen.len(), entries.len());
    }
});
