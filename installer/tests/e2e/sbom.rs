//! The release's SBOM: what it lists (checked against the workspace's `Cargo.lock`, read
//! here with no help from the installer, and against the installed files), `sbom` after
//! install, update and rollback, and an SBOM that is altered, missing or about another
//! release refused by `update` before anything is unpacked.

use std::path::{Path, PathBuf};

use airlock::digest::Digest;
use serde_json::Value;

use crate::harness::{Node, s};
use crate::update::{Vendor, current, node_of, releases};

/// The version and checksum of the one package `name` in the workspace's `Cargo.lock`.
fn locked(name: &str) -> (String, Option<String>) {
    let lock =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap();
    let blocks: Vec<&str> = lock
        .split("[[package]]")
        .filter(|b| b.contains(&format!("\nname = \"{name}\"\n")))
        .collect();
    assert_eq!(blocks.len(), 1, "{name} is locked once");
    let field = |key: &str| {
        blocks[0]
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} = \"")))
            .map(|v| v.trim_end_matches('"').to_string())
    };
    (field("version").unwrap(), field("checksum"))
}

fn lock_packages() -> usize {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"))
        .unwrap()
        .matches("[[package]]")
        .count()
}

fn sha256_of(path: &Path) -> String {
    Digest::of(&std::fs::read(path).unwrap()).hex()
}

/// `sbom --json`, parsed.
fn sbom_json(node: &Node) -> Value {
    serde_json::from_str(&node.cmd("sbom", &["--json"]).ok()).unwrap()
}

fn component<'a>(doc: &'a Value, kind: &str, name: &str) -> &'a Value {
    doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind && c["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} component {name}"))
}

#[test]
fn release_sbom_lists_the_workspace_crates_the_locked_crates_and_each_installed_binary() {
    let vendor = Vendor::new();
    let node = node_of(&vendor);
    node.cmd("update", &[s(&vendor.release("1.1.0", true))])
        .ok();
    let doc = sbom_json(&node);
    assert_eq!(doc["bomFormat"], "CycloneDX");
    assert_eq!(doc["specVersion"], "1.5");
    assert_eq!(doc["metadata"]["component"]["version"], "1.1.0");

    // Every crate of the lock, the workspace's own without a hash, the others with the
    // lock's SHA-256 of the .crate file.
    let crates = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["type"] == "library")
        .count();
    assert_eq!(crates, lock_packages());
    for name in [
        "airlock-appliance",
        "airlock-core",
        "airlock-runtime",
        "airlock-worker",
        "airlock-hardening",
        "airlock-tui",
        "airlock-install",
    ] {
        let c = component(&doc, "library", name);
        assert_eq!(c["version"], env!("CARGO_PKG_VERSION"), "{name}");
        assert_eq!(
            c["purl"],
            format!("pkg:cargo/{name}@{}", env!("CARGO_PKG_VERSION"))
        );
        assert!(
            c.get("hashes").is_none(),
            "{name}: a path crate has no hash"
        );
        assert_eq!(c["properties"][0]["value"], "path", "{name}");
    }
    for name in ["rusqlite", "candle-core", "age", "ed25519-dalek"] {
        let (version, checksum) = locked(name);
        let c = component(&doc, "library", name);
        assert_eq!(c["version"], version.as_str(), "{name}");
        assert_eq!(c["purl"], format!("pkg:cargo/{name}@{version}"));
        assert_eq!(c["hashes"][0]["alg"], "SHA-256");
        assert_eq!(
            c["hashes"][0]["content"],
            checksum.unwrap().as_str(),
            "{name}"
        );
    }

    // Each binary, with the SHA-256 of the file installed.
    let files: Vec<&Value> = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["type"] == "file")
        .collect();
    assert_eq!(files.len(), 2, "the release's airlock and airlock-install");
    for f in files {
        let name = f["name"].as_str().unwrap();
        let installed = node.path("opt/airlock/current").join(name);
        assert_eq!(f["hashes"][0]["content"], sha256_of(&installed), "{name}");
        assert_eq!(f["version"], "1.1.0");
    }

    let text = node.cmd("sbom", &[]).ok();
    assert!(
        text.starts_with("release 1.1.0 (the SBOM names 1.1.0)"),
        "{text}"
    );
    let (rusqlite, _) = locked("rusqlite");
    let line = text
        .lines()
        .find(|l| l.starts_with("crate  rusqlite "))
        .unwrap();
    assert!(
        line.contains(&format!("pkg:cargo/rusqlite@{rusqlite}")),
        "{line}"
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("file   airlock "))
        .unwrap();
    assert!(line.ends_with("matches the installed file"), "{line}");

    // The SBOM is a file of the release: its digest is in the update's audit record, and
    // it is sealed.
    let sbom = node.path("opt/airlock/releases/1.1.0/sbom.cdx.json");
    assert_eq!(
        node.last_record("install.update").details["sbom"],
        sha256_of(&sbom).as_str()
    );
    std::fs::write(
        &sbom,
        std::fs::read_to_string(&sbom)
            .unwrap()
            .replace("rusqlite", "rusqlitf"),
    )
    .unwrap();
    let verify = node.cmd("verify", &[]);
    assert_eq!(verify.code(), 4);
    assert!(
        verify
            .stdout()
            .contains("modified  opt/airlock/releases/1.1.0/sbom.cdx.json  content"),
        "{}",
        verify.stdout()
    );
}

#[test]
fn sbom_shows_the_running_release_after_install_update_and_rollback() {
    let vendor = Vendor::new();
    let node = node_of(&vendor);
    let installed = sbom_json(&node);
    assert_eq!(installed["metadata"]["component"]["version"], "1.0.0");
    assert_eq!(
        component(&installed, "file", "airlock")["hashes"][0]["content"],
        sha256_of(&node.bin.join("airlock")).as_str()
    );
    assert_eq!(
        node.last_record("install.install").details["sbom"],
        sha256_of(&node.path("opt/airlock/releases/1.0.0/sbom.cdx.json")).as_str()
    );
    // The JSON is the installed document byte for byte.
    assert_eq!(
        node.cmd("sbom", &["--json"]).ok().as_bytes(),
        std::fs::read(node.path("opt/airlock/current/sbom.cdx.json")).unwrap()
    );

    node.cmd("update", &[s(&vendor.release("1.1.0", true))])
        .ok();
    let out = node.cmd("sbom", &[]).ok();
    assert!(out.starts_with("release 1.1.0 "), "{out}");
    assert_eq!(
        sbom_json(&node)["metadata"]["component"]["version"],
        "1.1.0"
    );

    node.cmd("rollback", &[]).ok();
    let out = node.cmd("sbom", &[]).ok();
    assert!(out.starts_with("release 1.0.0 "), "{out}");
}

/// The parts of a release archive: the manifest (JSON), the SBOM's bytes, the binaries'.
struct Parts {
    manifest: Value,
    sbom: Vec<u8>,
    binaries: Vec<u8>,
}

fn split(archive: &Path) -> (Vec<u8>, usize) {
    let bytes = std::fs::read(archive).unwrap();
    let len = u32::from_be_bytes(bytes[16..20].try_into().unwrap()) as usize;
    (bytes, len)
}

fn parts(archive: &Path) -> Parts {
    let (bytes, len) = split(archive);
    let manifest: Value = serde_json::from_slice(&bytes[20..20 + len]).unwrap();
    assert_eq!(
        manifest["files"][0]["name"], "sbom.cdx.json",
        "the SBOM comes first"
    );
    let sbom_len = manifest["files"][0]["size"].as_u64().unwrap() as usize;
    let body = 20 + len + 64;
    Parts {
        manifest,
        sbom: bytes[body..body + sbom_len].to_vec(),
        binaries: bytes[body + sbom_len..].to_vec(),
    }
}

/// A new archive of `p`, signed by `vendor`'s release key (as a vendor who made it so).
fn signed(vendor: &Vendor, p: &Parts, out: &str) -> PathBuf {
    let pass = airlock::trust::personal::PassSource::File(vendor.path("pass"))
        .read("", false)
        .unwrap();
    let key =
        airlock::trust::personal::PersonalKey::open_sealed(&vendor.path("release.key"), &pass)
            .unwrap();
    let manifest = serde_json::to_vec(&p.manifest).unwrap();
    let signature =
        hex::decode(key.sign(airlock::trust::keys::Domain::Release, &manifest)).unwrap();
    let mut bytes = b"AIRLOCKR\0\x01\0\0\0\0\0\0".to_vec();
    bytes.extend_from_slice(&(manifest.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&manifest);
    bytes.extend_from_slice(&signature);
    bytes.extend_from_slice(&p.sbom);
    bytes.extend_from_slice(&p.binaries);
    let path = vendor.path(out);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn tampered_sbom_inside_a_release_archive_is_refused_before_anything_is_unpacked() {
    let vendor = Vendor::new();
    let node = node_of(&vendor);
    let before = node.snapshot();
    let archive = vendor.release("1.1.0", true);
    let (bytes, len) = split(&archive);
    // Hide the real rusqlite: its version in the SBOM changed, the signed manifest not.
    let (version, _) = locked("rusqlite");
    let needle = format!("\"pkg:cargo/rusqlite@{version}\"");
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap();
    assert!(at > 20 + len + 64, "in the SBOM, after the signed manifest");
    let mut tampered = bytes.clone();
    let last_digit = at + needle.len() - 2;
    tampered[last_digit] = if bytes[last_digit] == b'9' {
        b'8'
    } else {
        b'9'
    };
    std::fs::write(&archive, &tampered).unwrap();
    let err = node.cmd("update", &[s(&archive)]).fails(4);
    assert!(
        err.contains("sbom.cdx.json does not match its signed digest"),
        "{err}"
    );
    assert_eq!(node.snapshot(), before);
    let rec = node.last_record("install.update_refused");
    assert!(
        rec.details["reason"]
            .as_str()
            .unwrap()
            .contains("sbom.cdx.json"),
        "{}",
        rec.details
    );

    // The manifest changed to name the altered SBOM's digest: the signature fails.
    let mut p = parts(&archive);
    let digest = Digest::of(&p.sbom).hex();
    p.manifest["files"][0]["sha256"] = digest.into();
    let manifest = serde_json::to_vec(&p.manifest).unwrap();
    let mut resigned_by_nobody = bytes[..20].to_vec();
    resigned_by_nobody[16..20].copy_from_slice(&(manifest.len() as u32).to_be_bytes());
    resigned_by_nobody.extend_from_slice(&manifest);
    resigned_by_nobody.extend_from_slice(&bytes[20 + len..20 + len + 64]);
    resigned_by_nobody.extend_from_slice(&p.sbom);
    resigned_by_nobody.extend_from_slice(&p.binaries);
    std::fs::write(&archive, &resigned_by_nobody).unwrap();
    let err = node.cmd("update", &[s(&archive)]).fails(4);
    assert!(
        err.contains("the release signature does not verify"),
        "{err}"
    );
    assert_eq!(node.snapshot(), before);
    node.cmd("verify", &[]).ok();
}

#[test]
fn release_without_an_sbom_or_with_one_of_another_release_is_refused() {
    let vendor = Vendor::new();
    let node = node_of(&vendor);
    let before = node.snapshot();
    let good = parts(&vendor.release("1.1.0", true));

    // Signed by the pinned key, but no SBOM: refused (exit 5), recorded.
    let mut bare = Parts {
        manifest: good.manifest.clone(),
        sbom: Vec::new(),
        binaries: good.binaries.clone(),
    };
    bare.manifest["files"].as_array_mut().unwrap().remove(0);
    let err = node
        .cmd("update", &[s(&signed(&vendor, &bare, "bare.airlock"))])
        .fails(5);
    assert!(err.contains("release 1.1.0 carries no SBOM"), "{err}");
    assert!(
        node.last_record("install.update_refused").details["reason"]
            .as_str()
            .unwrap()
            .contains("carries no SBOM")
    );

    // Signed, with an SBOM that describes another release or other binaries: refused
    // (exit 3), before anything is unpacked.
    let mut doc: Value = serde_json::from_slice(&good.sbom).unwrap();
    for (edit, why) in [
        ("version", "the SBOM describes release 1.2.0, not 1.1.0"),
        ("hash", "the SBOM gives airlock the SHA-256"),
    ] {
        let mut d = doc.clone();
        match edit {
            "version" => d["metadata"]["component"]["version"] = "1.2.0".into(),
            _ => {
                let files = d["components"].as_array_mut().unwrap();
                let airlock = files.iter_mut().find(|c| c["name"] == "airlock").unwrap();
                airlock["hashes"][0]["content"] = "0".repeat(64).into();
            }
        }
        let sbom = serde_json::to_vec_pretty(&d).unwrap();
        let mut other = Parts {
            manifest: good.manifest.clone(),
            sbom: sbom.clone(),
            binaries: good.binaries.clone(),
        };
        other.manifest["files"][0]["size"] = sbom.len().into();
        other.manifest["files"][0]["sha256"] = Digest::of(&sbom).hex().into();
        let err = node
            .cmd(
                "update",
                &[s(&signed(&vendor, &other, &format!("{edit}.airlock")))],
            )
            .fails(3);
        assert!(err.contains(why), "{err}");
    }
    assert_eq!(node.snapshot(), before);
    assert_eq!(releases(&node), ["1.0.0"]);
    // Made and signed the same way with an SBOM that does describe the release, it is
    // accepted: the refusals above are the SBOM's.
    doc["metadata"]["timestamp"] = "2030-01-01T00:00:00Z".into();
    let sbom = serde_json::to_vec_pretty(&doc).unwrap();
    let mut fine = Parts {
        manifest: good.manifest.clone(),
        sbom: sbom.clone(),
        binaries: good.binaries,
    };
    fine.manifest["files"][0]["size"] = sbom.len().into();
    fine.manifest["files"][0]["sha256"] = Digest::of(&sbom).hex().into();
    node.cmd("update", &[s(&signed(&vendor, &fine, "fine.airlock"))])
        .ok();
    assert_eq!(current(&node), "releases/1.1.0");
}

#[test]
fn installed_sbom_is_checked_against_the_binaries_and_printed_escaped() {
    let node = Node::installed_and_sealed("1.0.0");
    let sbom = node.path("opt/airlock/current/sbom.cdx.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&sbom).unwrap()).unwrap();

    // A name that would drive the terminal (ESC, and the 8-bit CSI U+009B).
    let crates = doc["components"].as_array_mut().unwrap();
    let age = crates.iter_mut().find(|c| c["name"] == "age").unwrap();
    age["name"] = "age\u{1b}[2J\u{9b}31m".into();
    std::fs::write(&sbom, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let text = node.cmd("sbom", &[]).ok();
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{9b}'),
        "{text:?}"
    );
    assert!(text.contains("crate  age\\u{1b}[2J\\u{9b}31m"), "{text}");
    let json = node.cmd("sbom", &["--json"]).ok();
    assert!(json.is_ascii(), "{json}");
    assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), doc);

    // A binary that is not the one the SBOM lists: named, exit 4.
    let airlock = node.path("opt/airlock/current/airlock");
    std::fs::write(&airlock, "#!/bin/sh\nexit 0\n").unwrap();
    let run = node.cmd("sbom", &[]);
    assert_eq!(run.code(), 4, "{}", run.stderr());
    let line = run
        .stdout()
        .lines()
        .find(|l| l.starts_with("file   airlock "))
        .unwrap()
        .to_string();
    assert!(
        line.ends_with(&format!(
            "differs: the installed file has sha256 {}",
            sha256_of(&airlock)
        )),
        "{line}"
    );
    assert!(
        run.stderr().contains("differ from its SBOM"),
        "{}",
        run.stderr()
    );

    // No SBOM (a release installed before there was one): said, exit 6.
    std::fs::remove_file(&sbom).unwrap();
    let err = node.cmd("sbom", &[]).fails(6);
    assert!(
        err.contains("release 1.0.0 was installed without an SBOM"),
        "{err}"
    );
}
