//! `airlock vault verify`: every object the store indexes is present,
//! decrypts, and hashes to its address and its recorded size; every file in
//! the vault is indexed.

use std::io::{self, Read};

use serde::Serialize;

use crate::digest::Digest;
use crate::error::{Error, Missing, Result};
use crate::node::home::Home;

/// One problem found.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// The object's address.
    pub id: String,
    /// `missing`, `corrupt`, `unreadable` (an I/O error, not proof of
    /// tampering), `bad-index` (an index row that is not a digest),
    /// `unreferenced` or `unexpected` (a file that is not an object).
    pub problem: &'static str,
    /// What was found.
    pub detail: String,
}

/// What `vault verify` found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Objects the store indexes.
    pub indexed: usize,
    /// Of those, present and intact.
    pub intact: usize,
    /// Bytes re-hashed.
    pub bytes: u64,
    /// Every problem, missing and corrupt first.
    pub problems: Vec<Problem>,
}

/// Re-hashes every indexed object and lists vault files no row references.
/// `on_bytes` is told (done, total) for a progress bar.
pub fn verify(home: &Home, on_bytes: &mut dyn FnMut(u64, u64)) -> Result<Report> {
    // One file per digest, whatever kinds the same bytes are held as.
    let rows = crate::store::objects::files(home.store())?;
    let total: u64 = rows.iter().fold(0u64, |acc, (_, _, s, _)| {
        acc.saturating_add((*s).max(0) as u64)
    });
    let mut problems = Vec::new();
    let mut indexed = std::collections::BTreeSet::new();
    let mut intact = 0;
    let mut done = 0u64;
    let mut buf = vec![0u8; 256 << 10];
    for (id, kind, size, max_size) in &rows {
        if size != max_size {
            problems.push(Problem {
                id: id.clone(),
                problem: "bad-index",
                detail: format!(
                    "{kind}: the index gives the same bytes sizes {size} and {max_size}"
                ),
            });
        }
        let Ok(digest) = id.parse::<Digest>() else {
            problems.push(Problem {
                id: id.chars().take(64).collect(),
                problem: "bad-index",
                detail: "an objects row whose id is not a SHA-256 digest".into(),
            });
            continue;
        };
        indexed.insert(digest);
        let mut problem = |p: &'static str, detail: String| {
            problems.push(Problem {
                id: id.clone(),
                problem: p,
                detail: format!("{kind}: {detail}"),
            })
        };
        let mut reader = match home.vault().open_object(&digest) {
            Ok(r) => r,
            Err(Error::Missing(Missing::VaultObject { .. })) => {
                problem("missing", "no file in the vault".into());
                continue;
            }
            Err(e @ Error::Integrity(_)) => {
                problem("corrupt", e.to_string());
                continue;
            }
            Err(e) => {
                problem("unreadable", e.to_string());
                continue;
            }
        };
        let mut read = 0u64;
        let outcome = loop {
            match reader.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    read += n as u64;
                    done += n as u64;
                    on_bytes(done, total);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        match outcome {
            Err(e) if e.kind() == io::ErrorKind::InvalidData => problem("corrupt", e.to_string()),
            Err(e) => problem("unreadable", e.to_string()),
            Ok(()) if read != (*size).max(0) as u64 => problem(
                "corrupt",
                format!("holds {read} bytes, the index says {size}"),
            ),
            Ok(()) => intact += 1,
        }
    }
    let (found, unexpected) = home.vault().scan()?;
    for d in found {
        if !indexed.contains(&d) {
            problems.push(Problem {
                id: d.hex(),
                problem: "unreferenced",
                detail: "a vault file that is not in the objects index".into(),
            });
        }
    }
    for p in unexpected {
        problems.push(Problem {
            id: p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            problem: "unexpected",
            detail: format!("{} is not a vault object", p.display()),
        });
    }
    Ok(Report {
        indexed: rows.len(),
        intact,
        bytes: done,
        problems,
    })
}
