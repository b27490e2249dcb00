//! `airlock vault verify`: every object the store indexes is present,
//! decrypts, and hashes to its address and its recorded size; every file in
//! the vault is indexed.

use std::io::{self, Read};

use serde::Serialize;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::home::Home;

/// One problem found.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// The object's address.
    pub id: String,
    /// `missing`, `corrupt` or `unreferenced`.
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
    let mut stmt = home
        .conn
        .prepare("SELECT id, kind, size FROM objects ORDER BY id")?;
    let rows: Vec<(String, String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let total: u64 = rows.iter().map(|(_, _, s)| (*s).max(0) as u64).sum();
    let mut problems = Vec::new();
    let mut indexed = std::collections::BTreeSet::new();
    let mut intact = 0;
    let mut done = 0u64;
    let mut buf = vec![0u8; 256 << 10];
    for (id, kind, size) in &rows {
        let digest: Digest = id
            .parse()
            .map_err(|e| Error::Integrity(format!("objects table: {e}")))?;
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
            Err(Error::NotFound(_)) => {
                problem("missing", "no file in the vault".into());
                continue;
            }
            Err(e) => {
                problem("corrupt", e.to_string());
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
            Err(e) => problem("corrupt", e.to_string()),
            Ok(()) if read != (*size).max(0) as u64 => problem(
                "corrupt",
                format!("holds {read} bytes, the index says {size}"),
            ),
            Ok(()) => intact += 1,
        }
    }
    for d in home.vault().list()? {
        if !indexed.contains(&d) {
            problems.push(Problem {
                id: d.hex(),
                problem: "unreferenced",
                detail: "a vault file no store row references".into(),
            });
        }
    }
    Ok(Report {
        indexed: rows.len(),
        intact,
        bytes: done,
        problems,
    })
}
