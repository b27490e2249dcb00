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
//!
//! The code: [`lock`] reads the lock and makes the document, [`document`] is the
//! CycloneDX document (written and read back), and this module reads the installed one.

pub mod document;
pub mod lock;

use std::path::{Path, PathBuf};

use airlock::digest::Digest;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::fsops;
use crate::layout::{BINARIES, Layout};
use crate::version::Version;

pub use document::{Bom, Component, Dependency, ExternalReference, Hash, Metadata, Property};
pub use lock::{Binary, Lock, Package, generate, parse_lock, purl};

/// The SBOM's name in a release folder and in a release archive.
pub const FILE: &str = "sbom.cdx.json";
/// Its mode: readable by all, like the binaries it describes.
pub const MODE: u32 = 0o644;
/// The largest SBOM read (this workspace's is about 200 KiB).
pub const MAX_LEN: u64 = 16 << 20;
/// The CycloneDX version written.
pub const SPEC_VERSION: &str = "1.5";
/// The `Cargo.lock` this program was built from: the lock of every binary built with it.
pub const BUILT_FROM: &str = include_str!("../../../Cargo.lock");

/// The property naming a crate's source in the lock (`path`, or the lock's `source`).
pub const SOURCE_PROPERTY: &str = "airlock:cargo:source";
/// The property naming the SHA-256 of the `Cargo.lock` the SBOM was made from.
pub const LOCK_PROPERTY: &str = "airlock:cargo-lock:sha256";
/// The property saying what the SBOM covers.
pub const SCOPE_PROPERTY: &str = "airlock:sbom:scope";

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
    let bytes = airlock::node::fsx::read_capped(&path, MAX_LEN as usize)?;
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
    use airlock::node::time::Timestamp;

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
