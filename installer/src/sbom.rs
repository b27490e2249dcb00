//! The software bill of materials of a release: a CycloneDX 1.5 JSON document,
//! `sbom.cdx.json`, in every release folder and every release archive.
//!
//! It lists the release (its version), each binary of the release with its SHA-256 and
//! size, and every package of the workspace's `Cargo.lock`: its name, its version, its
//! package URL (`pkg:cargo/NAME@VERSION`), for a registry crate the lock's SHA-256 of the
//! `.crate` file, and the lock's dependency graph. The workspace's own (path) crates are
//! listed with their versions and no hash: they are the release's own code.
//!
//! **Made here from `Cargo.lock`, not by `cargo-cyclonedx` or `cargo-auditable`.** Every
//! binary of a release comes from one `cargo build --release --locked` of this workspace,
//! so this lock is theirs; `--locked` refuses a build that would change it. The lock this
//! program was built from is compiled into it ([`BUILT_FROM`]), so `release` and `install`
//! need no source tree, no network and no other tool. Both tools would have to be installed
//! from crates.io at the build site, with trees of their own to vendor for the offline
//! build (`.ci/offline-check` vendors this workspace's lock only), and cargo-auditable
//! changes how every binary is linked. The SBOM is bound to the binaries another way: it
//! names each binary's SHA-256, and the release key signs its digest with theirs.
//!
//! **What it cannot know.** The lock holds every package the workspace could need: for
//! every target (Windows crates too), every feature (`cuda`), and build and dev
//! dependencies (`insta`, `tempfile`). It is a superset of what a binary links
//! (`docs/install.md` gives the counts); `cargo tree -e normal -p CRATE --target TRIPLE`
//! is the finer answer, from the source tree. Nor does the lock carry licences or
//! descriptions, and a binary found on its own does not carry its list (cargo-auditable's
//! point): find its release by its SHA-256.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use airlock::digest::Digest;
use airlock::time::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsops;
use crate::layout::{BINARIES, Layout};
use crate::version::Version;

/// The SBOM's name in a release folder and in a release archive.
pub const FILE: &str = "sbom.cdx.json";
/// Its mode: readable by all, like the binaries it describes.
pub const MODE: u32 = 0o644;
/// The largest SBOM read (this workspace's is about 200 KiB).
pub const MAX_LEN: u64 = 16 << 20;
/// The CycloneDX version written.
pub const SPEC_VERSION: &str = "1.5";
/// The `Cargo.lock` this program was built from: the lock of every binary built with it.
pub const BUILT_FROM: &str = include_str!("../../Cargo.lock");

/// The source crates.io packages have in a lock (git index, and the sparse one).
const CRATES_IO: &[&str] = &[
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
];
/// What the SBOM covers, written into it.
const SCOPE: &str = "every package of the workspace's Cargo.lock: all targets, all features, \
build and dev dependencies; a superset of what each binary links (cargo tree -e normal -p CRATE \
is the finer answer)";
/// The property naming a crate's source in the lock (`path`, or the lock's `source`).
pub const SOURCE_PROPERTY: &str = "airlock:cargo:source";
/// The property naming the SHA-256 of the `Cargo.lock` the SBOM was made from.
pub const LOCK_PROPERTY: &str = "airlock:cargo-lock:sha256";
/// The property saying what the SBOM covers.
pub const SCOPE_PROPERTY: &str = "airlock:sbom:scope";

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

/// A hash of a component.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hash {
    /// The algorithm: `SHA-256`.
    pub alg: String,
    /// The digest, hex.
    pub content: String,
}

/// A name and a value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Property {
    /// The property's name (this program's are `airlock:...`).
    pub name: String,
    /// Its value.
    #[serde(default)]
    pub value: String,
}

/// A link to somewhere a component comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalReference {
    /// Its kind (`vcs` for a git source).
    #[serde(rename = "type")]
    pub kind: String,
    /// Where.
    pub url: String,
}

/// One component: the release, a binary, or a crate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    /// `application` (the release), `file` (a binary), `library` (a crate).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its reference within the document.
    #[serde(rename = "bom-ref", default, skip_serializing_if = "Option::is_none")]
    pub bom_ref: Option<String>,
    /// Its name.
    pub name: String,
    /// Its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// What it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its package URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    /// Its hashes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hashes: Vec<Hash>,
    /// Where it comes from.
    #[serde(
        rename = "externalReferences",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub external_references: Vec<ExternalReference>,
    /// Further facts (`airlock:cargo:source`, `airlock:size`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<Property>,
}

impl Component {
    /// Its SHA-256, if it lists one.
    pub fn sha256(&self) -> Option<&str> {
        self.hashes
            .iter()
            .find(|h| h.alg == "SHA-256")
            .map(|h| h.content.as_str())
    }

    /// The value of the property `name`.
    pub fn property(&self, name: &str) -> Option<&str> {
        property(&self.properties, name)
    }

    /// Whether it is a binary of the release (a `file` component).
    pub fn is_file(&self) -> bool {
        self.kind == "file"
    }
}

fn property<'a>(properties: &'a [Property], name: &str) -> Option<&'a str> {
    properties
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.value.as_str())
}

/// An edge list of the dependency graph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    /// The component that depends.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The components it depends on.
    #[serde(rename = "dependsOn", default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

/// The document's metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// When it was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// What made it (kept as written: CycloneDX 1.5 allows two forms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<serde_json::Value>,
    /// The release the document describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<Component>,
    /// Further facts (`airlock:cargo-lock:sha256`, `airlock:sbom:scope`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<Property>,
}

/// A CycloneDX document: the fields this program writes and reads (others are ignored
/// when read).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bom {
    /// `CycloneDX`.
    #[serde(rename = "bomFormat")]
    pub bom_format: String,
    /// [`SPEC_VERSION`] when written here.
    #[serde(rename = "specVersion")]
    pub spec_version: String,
    /// A URN naming this document.
    #[serde(
        rename = "serialNumber",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub serial_number: Option<String>,
    /// The document's own version: 1.
    #[serde(default = "one")]
    pub version: u64,
    /// Its metadata.
    #[serde(default)]
    pub metadata: Metadata,
    /// The binaries, then the crates.
    #[serde(default)]
    pub components: Vec<Component>,
    /// The lock's dependency graph.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Dependency>,
}

fn one() -> u64 {
    1
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

impl Bom {
    /// Reads a CycloneDX JSON document (any 1.x version; fields this program does not use
    /// are ignored).
    pub fn parse(bytes: &[u8]) -> Result<Bom> {
        let bom: Bom = serde_json::from_slice(bytes).map_err(|e| {
            Error::Rejected(format!(
                "not a CycloneDX JSON document: {}",
                airlock::text::error_text(&e)
            ))
        })?;
        if bom.bom_format != "CycloneDX" || !bom.spec_version.starts_with("1.") {
            return Err(Error::Rejected(format!(
                "not a CycloneDX 1.x document (bomFormat {}, specVersion {})",
                airlock::text::Untrusted(&bom.bom_format),
                airlock::text::Untrusted(&bom.spec_version)
            )));
        }
        Ok(bom)
    }

    /// The version of the release it describes.
    pub fn release_version(&self) -> Option<&str> {
        self.metadata
            .component
            .as_ref()
            .and_then(|c| c.version.as_deref())
    }

    /// The binaries it lists (its `file` components).
    pub fn files(&self) -> impl Iterator<Item = &Component> {
        self.components.iter().filter(|c| c.is_file())
    }

    /// The value of the metadata property `name`.
    pub fn property(&self, name: &str) -> Option<&str> {
        property(&self.metadata.properties, name)
    }

    /// Checks that it describes release `version` made of exactly `binaries` (name and
    /// SHA-256): the check `update` makes before it installs a release.
    pub fn check_describes(&self, version: Version, binaries: &[(&str, &str)]) -> Result<()> {
        let bad = |why: String| Err(Error::Rejected(format!("the SBOM {why}")));
        let named = self.release_version().unwrap_or("none");
        if named != version.to_string() {
            return bad(format!(
                "describes release {}, not {version}",
                airlock::text::Untrusted(named)
            ));
        }
        let mut listed: BTreeMap<&str, Option<&str>> = BTreeMap::new();
        for f in self.files() {
            if listed.insert(f.name.as_str(), f.sha256()).is_some() {
                return bad(format!(
                    "lists the file {} twice",
                    airlock::text::Untrusted(&f.name)
                ));
            }
        }
        for (name, sha256) in binaries {
            match listed.remove(name) {
                Some(Some(s)) if s == *sha256 => {}
                Some(s) => {
                    return bad(format!(
                        "gives {name} the SHA-256 {}, the release {sha256}",
                        airlock::text::Untrusted(s.unwrap_or("none"))
                    ));
                }
                None => return bad(format!("does not list the binary {name}")),
            }
        }
        if let Some(extra) = listed.keys().next() {
            return bad(format!(
                "lists the file {}, which the release does not carry",
                airlock::text::Untrusted(extra)
            ));
        }
        Ok(())
    }
}

/// A binary the installed SBOM lists or the release folder holds, and whether the two
/// agree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileCheck {
    /// Its name.
    pub name: String,
    /// The SHA-256 the SBOM gives it (none: not listed).
    pub listed: Option<String>,
    /// The SHA-256 of the file in the release folder (none: absent, not a regular file,
    /// or a name that is not one of a release's binaries).
    pub found: Option<String>,
}

impl FileCheck {
    /// Whether the SBOM lists it with the SHA-256 of the installed file.
    pub fn matches(&self) -> bool {
        self.listed.is_some() && self.listed == self.found
    }
}

/// The SBOM of the release that runs, and its binaries checked against the release folder.
#[derive(Clone, Debug, Serialize)]
pub struct Installed {
    /// The release `current` points at.
    pub release: Version,
    /// The SBOM file.
    pub path: PathBuf,
    /// The SHA-256 of the SBOM file.
    pub sha256: String,
    /// The document as read.
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// The document.
    #[serde(skip)]
    pub bom: Bom,
    /// Each binary, listed or found.
    pub files: Vec<FileCheck>,
}

impl Installed {
    /// Whether every binary the SBOM lists is in the release folder with that SHA-256, and
    /// it lists every binary there.
    pub fn files_match(&self) -> bool {
        self.files.iter().all(FileCheck::matches)
    }
}

/// Is `path` a regular file (never following a link)?
fn regular_file(path: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(m.file_type().is_file()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Reads the SBOM of the release `current` points at under `layout`, and hashes the
/// binaries of that release to compare with it. Writes nothing.
pub fn installed(layout: &Layout) -> Result<Installed> {
    let release = fsops::link_version(&layout.current())?.ok_or_else(|| {
        Error::NotFound(format!(
            "{} does not exist: no node is installed under {}",
            layout.current().display(),
            layout.root().display()
        ))
    })?;
    let dir = layout.release(&release);
    let path = dir.join(FILE);
    if !regular_file(&path)? {
        return Err(Error::NotFound(format!(
            "{} does not exist: release {release} was installed without an SBOM (by an airlock-install older than the SBOM)",
            path.display()
        )));
    }
    let bytes = airlock::fsx::read_capped(&path, MAX_LEN as usize)?;
    if bytes.len() as u64 > MAX_LEN {
        return Err(Error::Rejected(format!(
            "{} is larger than {MAX_LEN} bytes",
            path.display()
        )));
    }
    let bom = Bom::parse(&bytes).map_err(|e| match e {
        Error::Rejected(m) => Error::Integrity(format!(
            "{}: {m} (run airlock-install verify: the SBOM is a sealed file)",
            path.display()
        )),
        other => other,
    })?;
    let mut files = Vec::new();
    for f in bom.files() {
        let found = if BINARIES.contains(&f.name.as_str()) && regular_file(&dir.join(&f.name))? {
            Some(fsops::hash_file(&dir.join(&f.name))?.0.hex())
        } else {
            None
        };
        files.push(FileCheck {
            name: f.name.clone(),
            listed: f.sha256().map(str::to_string),
            found,
        });
    }
    for name in BINARIES {
        let at = dir.join(name);
        if !files.iter().any(|f| f.name == *name) && regular_file(&at)? {
            files.push(FileCheck {
                name: name.to_string(),
                listed: None,
                found: Some(fsops::hash_file(&at)?.0.hex()),
            });
        }
    }
    Ok(Installed {
        release,
        sha256: Digest::of(&bytes).hex(),
        path: path
            .strip_prefix(layout.root())
            .map_or_else(|_| path.clone(), Path::to_path_buf),
        bytes,
        bom,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
version = 4

[[package]]
name = "airlock-core"
version = "0.1.0"
dependencies = [
 "serde",
 "wasi 0.11.0+wasi-snapshot-preview1",
]

[[package]]
name = "serde"
version = "1.0.228"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "9a8e94ea7f378bd32cbbd37198a4a91436180c5bb472411e48b5ec2e2124ae9e"

[[package]]
name = "wasi"
version = "0.11.0+wasi-snapshot-preview1"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "9c8d87e72b64a3b4db28d11ce29237c246188f4f51057d65a7eab63b7987e423"

[[package]]
name = "wasi"
version = "0.14.2+wasi-0.2.4"
source = "sparse+https://example.org/index/"
checksum = "9683f9a5a998d873c0d21fcbe3c083009670149a8fab228644b8bd36b2c48cb3"

[[package]]
name = "forked"
version = "0.2.0"
source = "git+https://example.org/forked.git?rev=abc#abcdef0123"
"#;

    fn bin(name: &str, sha: char) -> Binary {
        Binary {
            name: name.into(),
            sha256: sha.to_string().repeat(64),
            size: 7,
        }
    }

    fn made() -> Bom {
        let bytes = generate(
            LOCK,
            "1.2.0".parse().expect("v"),
            &[bin("airlock", 'a'), bin("airlock-worker", 'b')],
            Timestamp(1_700_000_000),
        )
        .expect("generated");
        assert!(bytes.is_ascii() && bytes.ends_with(b"}\n"));
        Bom::parse(&bytes).expect("parsed")
    }

    #[test]
    fn purl_names_crates_io_plainly_and_other_sources_as_qualifiers() {
        let p = parse_lock(LOCK).expect("lock");
        let purls: Vec<String> = p.iter().map(purl).collect();
        assert_eq!(
            purls,
            [
                "pkg:cargo/airlock-core@0.1.0",
                "pkg:cargo/serde@1.0.228",
                "pkg:cargo/wasi@0.11.0%2Bwasi-snapshot-preview1",
                "pkg:cargo/wasi@0.14.2%2Bwasi-0.2.4?repository_url=https%3A%2F%2Fexample.org%2Findex%2F",
                "pkg:cargo/forked@0.2.0?vcs_url=git%2Bhttps%3A%2F%2Fexample.org%2Fforked.git%3Frev%3Dabc%23abcdef0123",
            ]
        );
    }

    #[test]
    fn sbom_lists_the_release_its_binaries_every_locked_crate_and_the_graph() {
        let bom = made();
        assert_eq!(bom.spec_version, "1.5");
        assert_eq!(bom.release_version(), Some("1.2.0"));
        let files: Vec<(&str, Option<&str>)> =
            bom.files().map(|f| (f.name.as_str(), f.sha256())).collect();
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        assert_eq!(
            files,
            [
                ("airlock", Some(a.as_str())),
                ("airlock-worker", Some(b.as_str()))
            ]
        );
        let crates: Vec<&Component> = bom.components.iter().filter(|c| !c.is_file()).collect();
        assert_eq!(crates.len(), 5);
        let core = crates[0];
        assert_eq!(
            (core.name.as_str(), core.version.as_deref(), core.sha256()),
            ("airlock-core", Some("0.1.0"), None)
        );
        assert_eq!(core.property(SOURCE_PROPERTY), Some("path"));
        let serde = crates[1];
        assert_eq!(
            serde.sha256(),
            Some("9a8e94ea7f378bd32cbbd37198a4a91436180c5bb472411e48b5ec2e2124ae9e")
        );
        assert_eq!(
            crates[4].external_references[0].url,
            "https://example.org/forked.git?rev=abc#abcdef0123"
        );
        // The graph: the path crate depends on serde and on the wasi its entry names.
        let edges = &bom.dependencies[0];
        assert_eq!(edges.reference, "pkg:cargo/airlock-core@0.1.0");
        assert_eq!(
            edges.depends_on,
            [
                "pkg:cargo/serde@1.0.228",
                "pkg:cargo/wasi@0.11.0%2Bwasi-snapshot-preview1"
            ]
        );
        assert_eq!(
            bom.property(LOCK_PROPERTY),
            Some(Digest::of(LOCK.as_bytes()).hex().as_str())
        );
        let serial = bom.serial_number.as_deref().expect("serial");
        assert!(
            serial.starts_with("urn:uuid:") && serial.len() == 45,
            "{serial}"
        );
        assert_eq!(&serial[23..24], "8", "a version 8 UUID: {serial}");
    }

    #[test]
    fn sbom_that_does_not_describe_the_release_is_refused() {
        let bom = made();
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let v = |s: &str| s.parse::<Version>().expect("v");
        bom.check_describes(v("1.2.0"), &[("airlock", &a), ("airlock-worker", &b)])
            .expect("describes");
        for (version, binaries, why) in [
            (
                "1.3.0",
                vec![("airlock", &a), ("airlock-worker", &b)],
                "describes release 1.2.0, not 1.3.0",
            ),
            (
                "1.2.0",
                vec![("airlock", &b), ("airlock-worker", &b)],
                "gives airlock the SHA-256",
            ),
            (
                "1.2.0",
                vec![("airlock", &a)],
                "lists the file airlock-worker, which the release does not carry",
            ),
            (
                "1.2.0",
                vec![("airlock", &a), ("airlock-worker", &b), ("airlock-tui", &a)],
                "does not list the binary airlock-tui",
            ),
        ] {
            let binaries: Vec<(&str, &str)> =
                binaries.into_iter().map(|(n, s)| (n, s.as_str())).collect();
            let err = bom
                .check_describes(v(version), &binaries)
                .expect_err(why)
                .to_string();
            assert!(err.contains(why), "{err}");
        }
    }

    #[test]
    fn lock_without_what_the_sbom_needs_is_refused() {
        for (lock, why) in [
            (
                "[[package]]\nname = \"a\"\nversion = \"1.0.0\"\n",
                "format 1 or 2",
            ),
            (
                "version = 4\n[[package]]\nname = \"a\"\nversion = \"1.0.0\"\nsource = \"registry+https://x\"\n",
                "has no checksum",
            ),
            (
                "version = 4\n[[package]]\nname = \"a\"\nversion = \"1.0.0\"\nsource = \"registry+https://x\"\nchecksum = \"abc\"\n",
                "not a SHA-256",
            ),
            (
                "version = 4\n[[package]]\nname = \"a/../b\"\nversion = \"1.0.0\"\n",
                "not a crate name",
            ),
            (
                "version = 4\n[[package]]\nname = \"a\"\nversion = \"1.0.0\"\ndependencies = [\"b\"]\n",
                "which the lock does not name once",
            ),
        ] {
            let err = generate(lock, "1.0.0".parse().expect("v"), &[], Timestamp(0))
                .expect_err(why)
                .to_string();
            assert!(err.contains(why), "{why}: {err}");
        }
    }

    #[test]
    fn the_lock_built_into_this_program_makes_an_sbom() {
        let packages = parse_lock(BUILT_FROM).expect("the workspace's lock");
        for name in ["airlock-appliance", "airlock-install", "rusqlite", "age"] {
            assert!(packages.iter().any(|p| p.name == name), "{name}");
        }
        let bytes = generate(
            BUILT_FROM,
            "1.0.0".parse().expect("v"),
            &[bin("airlock", 'c')],
            Timestamp(0),
        )
        .expect("generated");
        assert_eq!(
            Bom::parse(&bytes).expect("parsed").components.len(),
            packages.len() + 1
        );
    }
}
