//! The archive reader: the decrypted body split into the manifest's
//! objects, each checked against its listed size and digest.

use std::io::{self, Read};

use super::{Entry, FormatError, expect_end};

/// The archive reader: splits a decrypted body into the manifest's objects.
/// Each object is handed to `sink` as a reader of exactly its listed size
/// (the sink may stage it, but must not trust it yet); afterwards the bytes
/// are checked against the listed size and digest, whatever the sink read.
/// Bytes after the last object are refused.
///
/// `sink` returns its own error type; framing errors are converted with
/// `From<FormatError>`.
pub fn read_objects<R: Read, E: From<FormatError>>(
    body: &mut R,
    entries: &[Entry],
    sink: impl FnMut(usize, &Entry, &mut dyn Read) -> Result<(), E>,
) -> Result<(), E> {
    read_objects_with(body, entries, true, sink)
}

/// [`read_objects`] without the digest check: sizes, order and the end of
/// the body are enforced, and the sink must hash each object itself and
/// compare it with `Entry::id` (import does: the vault hashes what it
/// stages, so hashing here too would be a third pass over the data).
pub fn split_objects<R: Read, E: From<FormatError>>(
    body: &mut R,
    entries: &[Entry],
    sink: impl FnMut(usize, &Entry, &mut dyn Read) -> Result<(), E>,
) -> Result<(), E> {
    read_objects_with(body, entries, false, sink)
}

/// [`read_objects`] when `digests`, else [`split_objects`].
pub fn read_objects_with<R: Read, E: From<FormatError>>(
    body: &mut R,
    entries: &[Entry],
    digests: bool,
    mut sink: impl FnMut(usize, &Entry, &mut dyn Read) -> Result<(), E>,
) -> Result<(), E> {
    let mut drain = vec![0u8; 64 << 10];
    for (i, e) in entries.iter().enumerate() {
        let mut object = Counted {
            inner: (&mut *body).take(e.size),
            hasher: digests.then(crate::digest::Hasher::default),
            count: 0,
        };
        sink(i, e, &mut object)?;
        // Whatever the sink left unread is still counted (and hashed).
        loop {
            match object.read(&mut drain) {
                Ok(0) => break,
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(FormatError::Io(err.to_string()).into()),
            }
        }
        if object.count != e.size {
            return Err(FormatError::Truncated(format!(
                "object {} of {} ({} {}): {} of {} bytes",
                i + 1,
                entries.len(),
                e.kind,
                e.id.short(),
                object.count,
                e.size
            ))
            .into());
        }
        if let Some(h) = object.hasher {
            let (found, _) = h.finish();
            if found != e.id {
                return Err(FormatError::DigestMismatch {
                    index: i + 1,
                    kind: e.kind,
                    expected: e.id,
                    found,
                }
                .into());
            }
        }
    }
    expect_end(body, "last object").map_err(E::from)
}

/// Counts (and optionally hashes) what passes through.
struct Counted<R> {
    inner: R,
    hasher: Option<crate::digest::Hasher>,
    count: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        self.count += n as u64;
        Ok(n)
    }
}
