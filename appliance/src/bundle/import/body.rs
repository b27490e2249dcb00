//! Stage 3: stream a bundle's body, checking every part, object and
//! signature, and stage the objects (or only check them).

use std::io::{self, BufReader, Read, Write};
use std::iter;

use crate::bundle::format::{self, Entry, FormatError};
use crate::bundle::media::PayloadReader;
use crate::digest::Digest;
use crate::error::{BundlePart, Error, IoContext, Result};
use crate::node::home::Home;
use crate::site::SiteName;
use crate::vault::pipe;
use crate::vault::registry::{self, Kind};

use super::document::parse_document;
use super::{
    Document, Mode, StagedEntry, VerifiedManifest, corrupt, format_error, is_data_error, mismatch,
    prefix,
};

impl VerifiedManifest {
    pub(super) fn read_body(
        &self,
        home: &Home,
        mode: Mode,
        on_bytes: &mut dyn FnMut(u64, u64),
    ) -> Result<Body> {
        let src = self.source.as_str();
        let payload = &self.manifest.payload;
        let objects = &self.manifest.objects;
        self.parts.check_layout(payload)?;
        let trusted = match &self.origin_only {
            Some(t) => t.clone(),
            None => registry::current_keys(home.store())?,
        };
        let count = objects.len();
        // Signatures depend only on the manifest: check them all before
        // reading the body, so the verdict never depends on thread timing.
        let signers = objects
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let label = format!("object {} of {count} ({} {})", i + 1, e.kind, e.id.short());
                trusted_attestations(&trusted, i + 1, e, &label, src)
            })
            .collect::<Result<Vec<_>>>()?;
        let total = self.manifest.object_bytes();
        let identity = home.keys().age_identity();
        let (mut tx, mut rx) = pipe::pipe();
        let parts = &self.parts;
        std::thread::scope(|scope| {
            // This thread reads the media, checks each part's digest,
            // decrypts, and splits the body into the listed objects, checking
            // each one's exact size and digest (the archive reader).
            let producer = scope.spawn(move || -> std::result::Result<(), BodyError> {
                let mut checked = PayloadReader::new(parts, payload);
                let mut leader = [0u8; format::LEADER_LEN as usize];
                checked.read_exact(&mut leader).map_err(BodyError::Read)?;
                // Bound the body's age header before age parses it.
                let mut head = Vec::with_capacity(format::MAX_AGE_HEADER);
                (&mut checked)
                    .take(format::MAX_AGE_HEADER as u64)
                    .read_to_end(&mut head)
                    .map_err(BodyError::Read)?;
                format::check_age_header(&head).map_err(|e| BodyError::Header(e.to_string()))?;
                let decryptor = age::Decryptor::new_buffered(BufReader::with_capacity(
                    256 << 10,
                    io::Cursor::new(head).chain(&mut checked),
                ))
                .map_err(|e| BodyError::Header(e.to_string()))?;
                let mut body = decryptor
                    .decrypt(iter::once(identity as &dyn age::Identity))
                    .map_err(|e| BodyError::Header(e.to_string()))?;
                let mut buf = vec![0u8; 256 << 10];
                // Staging hashes every object into the vault; a check-only
                // run has the archive reader hash them.
                format::read_objects_with(
                    &mut body,
                    objects,
                    mode != Mode::Stage,
                    |_, _, object| {
                        loop {
                            let n = match object.read(&mut buf) {
                                Ok(0) => return Ok(()),
                                Ok(n) => n,
                                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                                Err(e) => return Err(BodyError::Read(e)),
                            };
                            match tx.write_all(&buf[..n]) {
                                Ok(()) => {}
                                Err(e) if pipe::is_closed(&e) => return Err(BodyError::Closed),
                                Err(e) => return Err(BodyError::Read(e)),
                            }
                        }
                    },
                )?;
                drop(body);
                // Every part must have been read and checked: the next read
                // checks the last part's digest and must find the end.
                match checked.read(&mut [0u8; 1]) {
                    Ok(0) => {}
                    Ok(_) => {
                        return Err(BodyError::Read(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "data after the end of the encrypted body",
                        )));
                    }
                    Err(e) => return Err(BodyError::Read(e)),
                }
                match tx.flush() {
                    Err(e) if pipe::is_closed(&e) => Err(BodyError::Closed),
                    Err(e) => Err(BodyError::Read(e)),
                    Ok(()) => Ok(()),
                }
            });
            // This one checks each object's signatures, stages it (hashing
            // it again into the vault) and parses records.
            let mut done = 0u64;
            let mut staged = Vec::with_capacity(count);
            let mut documents = Vec::new();
            let consumed = (|| -> Result<()> {
                for ((i, e), attestations) in objects.iter().enumerate().zip(signers) {
                    let label =
                        format!("object {} of {count} ({} {})", i + 1, e.kind, e.id.short());
                    let mut r = (&mut rx).take(e.size);
                    let mut progress = |n: u64| {
                        done += n;
                        on_bytes(done, total);
                    };
                    let object = if e.kind.is_document() {
                        let mut bytes = Vec::with_capacity(e.size as usize);
                        r.read_to_end(&mut bytes).at(src)?;
                        progress(bytes.len() as u64);
                        if bytes.len() as u64 != e.size {
                            // The archive reader names the fault.
                            return Err(corrupt(src, format!("{label} is damaged")));
                        }
                        let found = Digest::of(&bytes);
                        if found != e.id {
                            return Err(mismatch(src, i, e, found));
                        }
                        if attestations.is_empty() {
                            // Dropped (see trusted_attestations).
                            staged.push(StagedEntry {
                                object: None,
                                attestations,
                            });
                            continue;
                        }
                        if let Some(doc) = parse_document(src, e, &bytes, &attestations, mode)? {
                            documents.push((e.id, doc));
                        }
                        match mode {
                            Mode::Stage => {
                                Some(home.vault().stage(&bytes[..], e.size, &mut |_| {})?)
                            }
                            Mode::Check | Mode::Audit => None,
                        }
                    } else {
                        match mode {
                            Mode::Stage => Some(home.vault().stage(r, e.size, &mut progress)?),
                            Mode::Check | Mode::Audit => {
                                let mut sink = ProgressSink { on: &mut progress };
                                io::copy(&mut r, &mut sink).at(src)?;
                                None
                            }
                        }
                    };
                    if let Some(o) = &object {
                        if o.size() != e.size {
                            return Err(corrupt(src, format!("{label} is damaged")));
                        }
                        if o.digest() != e.id {
                            return Err(mismatch(src, i, e, o.digest()));
                        }
                    }
                    staged.push(StagedEntry {
                        object,
                        attestations,
                    });
                }
                Ok(())
            })();
            drop(rx);
            let produced = producer.join().map_err(|_| {
                Error::io(src, io::Error::other("the import reader thread panicked"))
            })?;
            // The reader's error, if any, is the cause; the consumer only
            // sees its effect (a short or odd object).
            match produced {
                Ok(()) | Err(BodyError::Closed) => {}
                Err(BodyError::Header(e)) => {
                    return Err(self.damaged(format!("the body's encryption header: {e}")));
                }
                Err(BodyError::Format(e @ FormatError::DigestMismatch { .. })) => {
                    return Err(format_error(src, e));
                }
                Err(BodyError::Format(e)) => {
                    // A short or long body: name a damaged part if there is one.
                    let bad = self.parts.diagnose(payload);
                    return Err(if bad.is_empty() {
                        format_error(src, e)
                    } else {
                        self.damaged(e.to_string())
                    });
                }
                Err(BodyError::Read(e)) if is_data_error(&e) => {
                    return Err(self.damaged(e.to_string()));
                }
                Err(BodyError::Read(e)) => return Err(Error::io(src, e)),
            }
            consumed.map(|()| (staged, documents))
        })
    }

    /// The body failed to read: name the parts whose digests differ from
    /// the signed manifest, if any.
    fn damaged(&self, what: String) -> Error {
        let bad = self.parts.diagnose(&self.manifest.payload);
        if bad.is_empty() {
            corrupt(&self.source, what)
        } else {
            Error::Integrity(format!(
                "bundle rejected: {}: {} damaged: its SHA-256 differs from the one in the signed manifest; copy it again from the source media",
                self.source,
                if bad.len() == 1 {
                    format!("{} is", bad[0])
                } else {
                    format!("{} are", bad.join(", "))
                }
            ))
        }
    }
}

/// The staged objects and parsed records of a body.
type Body = (Vec<StagedEntry>, Vec<(Digest, Document)>);

/// Why the reading thread stopped.
enum BodyError {
    /// The consumer stopped first (it has the error).
    Closed,
    /// The body's age header does not open with this site's key although
    /// the trailer did: spliced or damaged.
    Header(String),
    /// Reading or decrypting failed.
    Read(io::Error),
    /// The body does not split into the listed objects.
    Format(FormatError),
}

impl From<FormatError> for BodyError {
    fn from(e: FormatError) -> Self {
        BodyError::Format(e)
    }
}

struct ProgressSink<'a> {
    on: &'a mut dyn FnMut(u64),
}

impl io::Write for ProgressSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (self.on)(buf.len() as u64);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Every signature by a site this node trusts must verify; those by sites
/// it does not know are dropped, not stored; at least one trusted signature
/// must remain. `index` is the entry's place in the manifest, from 1.
fn trusted_attestations(
    trusted: &[(SiteName, String, ed25519_dalek::VerifyingKey)],
    index: usize,
    e: &Entry,
    label: &str,
    src: &str,
) -> Result<Vec<registry::Attestation>> {
    let mut kept = Vec::new();
    for att in &e.attestations {
        if trusted.iter().any(|(site, _, _)| *site == att.site) {
            registry::check_attestation(trusted, e.kind, &e.id, att)
                .map_err(|err| prefix(src, BundlePart::Signature { index }, err))?;
            kept.push(att.clone());
        }
    }
    // A provenance statement by a site this node does not trust is not
    // evidence here: it is dropped (read and digest-checked, never stored),
    // as untrusted signatures are. Nothing is accepted on the strength of a
    // statement; lineage requires a trusted one for every record.
    if kept.is_empty() && e.kind != Kind::Provenance {
        let signers: Vec<String> = e.attestations.iter().map(|a| a.site.to_string()).collect();
        return Err(Error::Refused(format!(
            "bundle rejected: {src}: {label} is signed only by {}, which this node does not trust",
            signers.join(", ")
        )));
    }
    Ok(kept)
}
