//! The CycloneDX document: the fields this program writes, read back leniently (a field
//! it does not use is ignored), and the check that a document describes a release.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::version::Version;

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
    /// [`SPEC_VERSION`](super::SPEC_VERSION) when written here.
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
