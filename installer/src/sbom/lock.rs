//! Reading a `Cargo.lock` (format 3 or 4) and making the SBOM's document from it and the
//! release's binaries.

use std::collections::BTreeSet;

use airlock::digest::Digest;
use airlock::node::time::Timestamp;
use serde::{Deserialize, Serialize};

use super::document::{Bom, Component, Dependency, ExternalReference, Hash, Metadata, Property};
use super::{LOCK_PROPERTY, SCOPE_PROPERTY, SOURCE_PROPERTY, SPEC_VERSION};
use crate::error::{Error, Result};
use crate::version::Version;

/// The source crates.io packages have in a lock (git index, and the sparse one).
const CRATES_IO: &[&str] = &[
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
];
/// What the SBOM covers, written into it.
const SCOPE: &str = "every package of the workspace's Cargo.lock: all targets, all features, \
build and dev dependencies; a superset of what each binary links (cargo tree -e normal -p CRATE \
is the finer answer)";
/// One package of a `Cargo.lock`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Package {
    /// The crate's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Where it comes from (`registry+URL`, `sparse+URL`, `git+URL#COMMIT`); none for a
    /// path crate.
    #[serde(default)]
    pub source: Option<String>,
    /// The SHA-256 of the `.crate` file, for a registry crate.
    #[serde(default)]
    pub checksum: Option<String>,
    /// The packages it depends on: `NAME`, `NAME VERSION` or `NAME VERSION (SOURCE)`.
    #[serde(default)]
    pub dependencies: Vec<String>,
}

#[derive(Deserialize)]
struct LockFile {
    version: Option<i64>,
    #[serde(default)]
    package: Vec<Package>,
}

fn bad_lock(why: String) -> Error {
    Error::Rejected(format!("Cargo.lock: {why}"))
}

/// Parses a `Cargo.lock` (format 3 or 4, as Cargo 1.53 and later write) and checks what
/// the SBOM relies on: names and versions plain, a SHA-256 for every registry crate.
pub fn parse_lock(text: &str) -> Result<Vec<Package>> {
    let lock: LockFile = toml::from_str(text).map_err(|e| {
        bad_lock(format!(
            "not a lock file: {}",
            airlock::text::error_text(&e)
        ))
    })?;
    match lock.version {
        Some(3 | 4) => {}
        other => {
            return Err(bad_lock(format!(
                "format {} is not 3 or 4 (run cargo update --workspace with a current Cargo)",
                other.map_or("1 or 2".to_string(), |v| v.to_string())
            )));
        }
    }
    for p in &lock.package {
        let plain = |s: &str, extra: &[u8]| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b) || extra.contains(&b))
        };
        if !plain(&p.name, b"") || !plain(&p.version, b".+") {
            return Err(bad_lock(format!(
                "package {} {} is not a crate name and version",
                airlock::text::Untrusted(&p.name),
                airlock::text::Untrusted(&p.version)
            )));
        }
        let registry = p
            .source
            .as_deref()
            .is_some_and(|s| s.starts_with("registry+") || s.starts_with("sparse+"));
        match &p.checksum {
            Some(c) if !is_sha256(c) => {
                return Err(bad_lock(format!(
                    "package {} {} has a checksum that is not a SHA-256",
                    p.name, p.version
                )));
            }
            None if registry => {
                return Err(bad_lock(format!(
                    "registry package {} {} has no checksum",
                    p.name, p.version
                )));
            }
            _ => {}
        }
    }
    Ok(lock.package)
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Percent-encodes everything but the unreserved characters (RFC 3986), as a purl's
/// version and qualifier values need (`0.11.0+wasi-snapshot-preview1` has a `+`).
fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The package URL of a lock package: `pkg:cargo/NAME@VERSION`, with the registry or the
/// git repository as a qualifier when it is not crates.io.
pub fn purl(p: &Package) -> String {
    let base = format!("pkg:cargo/{}@{}", p.name, percent(&p.version));
    match p.source.as_deref() {
        None => base,
        Some(s) if CRATES_IO.contains(&s) => base,
        Some(s) => match s.split_once('+') {
            Some(("registry" | "sparse", url)) => {
                format!("{base}?repository_url={}", percent(url))
            }
            Some(("git", _)) => format!("{base}?vcs_url={}", percent(s)),
            _ => format!("{base}?download_url={}", percent(s)),
        },
    }
}

/// One binary of a release, as the SBOM names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binary {
    /// Its name in the release folder.
    pub name: String,
    /// The SHA-256 of its content (hex).
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Finds the package a lock's dependency entry (`NAME`, `NAME VERSION`, or
/// `NAME VERSION (SOURCE)`) names.
fn resolve(packages: &[Package], entry: &str) -> Option<usize> {
    let mut parts = entry.splitn(3, ' ');
    let name = parts.next()?;
    let version = parts.next();
    let source = parts
        .next()
        .and_then(|s| s.strip_prefix('('))
        .and_then(|s| s.strip_suffix(')'));
    let mut found = packages.iter().enumerate().filter(|(_, p)| {
        p.name == name
            && version.is_none_or(|v| p.version == v)
            && source.is_none_or(|s| p.source.as_deref() == Some(s))
    });
    let first = found.next()?;
    // An ambiguous entry is not one Cargo writes; refuse to guess.
    found.next().is_none().then_some(first.0)
}

/// A `Cargo.lock` read for an SBOM: its crates as components and its dependency graph,
/// checked (so that making the SBOM can no longer fail on the lock).
#[derive(Clone, Debug)]
pub struct Lock {
    digest: String,
    crates: Vec<Component>,
    dependencies: Vec<Dependency>,
}

impl Lock {
    /// Reads the lock `text` ([`parse_lock`]) and resolves its dependency graph.
    pub fn parse(text: &str) -> Result<Lock> {
        let packages = parse_lock(text)?;
        let mut refs: Vec<String> = Vec::with_capacity(packages.len());
        let mut taken = BTreeSet::new();
        let mut crates = Vec::with_capacity(packages.len());
        for p in &packages {
            let purl = purl(p);
            // Two packages with one purl (one crate from two git sources): the second gets
            // a suffix, so every reference is unique as CycloneDX requires.
            let mut bom_ref = purl.clone();
            let mut n = 1;
            while !taken.insert(bom_ref.clone()) {
                n += 1;
                bom_ref = format!("{purl}#{n}");
            }
            refs.push(bom_ref.clone());
            let external_references = match p.source.as_deref() {
                Some(s) if s.starts_with("git+") => vec![ExternalReference {
                    kind: "vcs".into(),
                    url: s.trim_start_matches("git+").to_string(),
                }],
                _ => Vec::new(),
            };
            crates.push(Component {
                kind: "library".into(),
                bom_ref: Some(bom_ref),
                name: p.name.clone(),
                version: Some(p.version.clone()),
                description: None,
                purl: Some(purl),
                hashes: p
                    .checksum
                    .iter()
                    .map(|c| Hash {
                        alg: "SHA-256".into(),
                        content: c.clone(),
                    })
                    .collect(),
                external_references,
                properties: vec![Property {
                    name: SOURCE_PROPERTY.into(),
                    value: p.source.clone().unwrap_or_else(|| "path".into()),
                }],
            });
        }
        let mut dependencies = Vec::with_capacity(packages.len());
        for (i, p) in packages.iter().enumerate() {
            let mut depends_on = Vec::with_capacity(p.dependencies.len());
            for d in &p.dependencies {
                let j = resolve(&packages, d).ok_or_else(|| {
                    bad_lock(format!(
                        "{} {} depends on {}, which the lock does not name once",
                        p.name,
                        p.version,
                        airlock::text::Untrusted(d)
                    ))
                })?;
                depends_on.push(refs[j].clone());
            }
            dependencies.push(Dependency {
                reference: refs[i].clone(),
                depends_on,
            });
        }
        Ok(Lock {
            digest: Digest::of(text.as_bytes()).hex(),
            crates,
            dependencies,
        })
    }

    /// The SBOM of release `release` made of `binaries`, dated `created_at`: the
    /// document's bytes (pretty JSON, ASCII, a final line break).
    pub fn sbom(
        &self,
        release: Version,
        binaries: &[Binary],
        created_at: Timestamp,
    ) -> Result<Vec<u8>> {
        let release_text = release.to_string();
        let mut components = Vec::with_capacity(binaries.len() + self.crates.len());
        for b in binaries {
            components.push(Component {
                kind: "file".into(),
                bom_ref: Some(format!("file:{}", b.name)),
                name: b.name.clone(),
                version: Some(release_text.clone()),
                description: Some(format!("a binary of the Airlock release {release_text}")),
                purl: None,
                hashes: vec![Hash {
                    alg: "SHA-256".into(),
                    content: b.sha256.clone(),
                }],
                external_references: Vec::new(),
                properties: vec![Property {
                    name: "airlock:size".into(),
                    value: b.size.to_string(),
                }],
            });
        }
        components.extend(self.crates.iter().cloned());
        let serial = {
            let mut seed = format!("{}\n{release_text}\n{created_at}\n", self.digest);
            for b in binaries {
                seed.push_str(&format!("{} {}\n", b.name, b.sha256));
            }
            uuid_of(&Digest::of(seed.as_bytes()).hex())
        };
        let bom = Bom {
            bom_format: "CycloneDX".into(),
            spec_version: SPEC_VERSION.into(),
            serial_number: Some(serial),
            version: 1,
            metadata: Metadata {
                timestamp: Some(created_at.to_string()),
                tools: Some(serde_json::json!({ "components": [{
                    "type": "application",
                    "name": "airlock-install",
                    "version": env!("CARGO_PKG_VERSION"),
                    "description": "airlock-install: this SBOM made from the workspace's Cargo.lock",
                }]})),
                component: Some(Component {
                    kind: "application".into(),
                    bom_ref: Some(format!("release:airlock@{release_text}")),
                    name: "airlock".into(),
                    version: Some(release_text.clone()),
                    description: Some(format!(
                        "the Airlock release {release_text}: its binaries and the crates they are built from"
                    )),
                    purl: None,
                    hashes: Vec::new(),
                    external_references: Vec::new(),
                    properties: Vec::new(),
                }),
                properties: vec![
                    Property {
                        name: LOCK_PROPERTY.into(),
                        value: self.digest.clone(),
                    },
                    Property {
                        name: SCOPE_PROPERTY.into(),
                        value: SCOPE.into(),
                    },
                ],
            },
            components,
            dependencies: self.dependencies.clone(),
        };
        let mut bytes =
            serde_json::to_vec_pretty(&bom).map_err(|e| Error::Rejected(e.to_string()))?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

/// Makes the SBOM of release `release` made of `binaries`, built from the lock `lock`
/// (its text), dated `created_at`: [`Lock::parse`], then [`Lock::sbom`].
pub fn generate(
    lock: &str,
    release: Version,
    binaries: &[Binary],
    created_at: Timestamp,
) -> Result<Vec<u8>> {
    Lock::parse(lock)?.sbom(release, binaries, created_at)
}

/// A UUID (version 8, RFC 9562: made from a hash) of the first 32 hex digits of `hex`.
fn uuid_of(hex: &str) -> String {
    let h: Vec<char> = hex.chars().take(32).collect();
    let s = |r: std::ops::Range<usize>| h[r].iter().collect::<String>();
    let variant = ['8', '9', 'a', 'b'][h[16].to_digit(16).unwrap_or(0) as usize % 4];
    format!(
        "urn:uuid:{}-{}-8{}-{variant}{}-{}",
        s(0..8),
        s(8..12),
        s(13..16),
        s(17..20),
        s(20..32)
    )
}
