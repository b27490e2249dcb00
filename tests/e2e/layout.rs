//! The shape of the code base (issue 14, "One library, in layers"): no Rust
//! source file over 800 lines, so a module stays something a newcomer can
//! read whole. A bigger file is split by concern into a folder module (see
//! `appliance/core/src/contract/`), its tests into a `tests.rs` beside it.
//! And the folder list of `appliance/src` in docs/architecture.md is the tree
//! as it is: every folder and file in it, nothing that is gone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The most lines a Rust source file may have.
const MAX_LINES: usize = 800;

/// The folders checked, from the repository root.
const ROOTS: [&str; 7] = [
    "appliance",
    "runtime",
    "hardening",
    "installer",
    "tui",
    "tests",
    "fuzz/fuzz_targets",
];

/// Every `*.rs` file under `dir`, skipping `target/` folders (build output).
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                rust_files(&path, out);
            }
        } else if meta.is_file() && path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_source_file_is_over_800_lines() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for root in ROOTS {
        rust_files(&repo.join(root), &mut files);
    }
    // The walk must have found the code base, or the check would pass on nothing.
    assert!(
        files.len() > 100,
        "only {} Rust files found under {ROOTS:?} in {}",
        files.len(),
        repo.display()
    );
    let mut too_long = Vec::new();
    for path in &files {
        let rel = path
            .strip_prefix(&repo)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let lines = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
            .lines()
            .count();
        if lines > MAX_LINES {
            too_long.push(format!("{rel}: {lines} lines"));
        }
    }
    assert!(
        too_long.is_empty(),
        "Rust source files over {MAX_LINES} lines (split each by concern into a folder \
         module, its tests into tests.rs beside it):\n{}",
        too_long.join("\n")
    );
}

/// The appliance's folder list in docs/architecture.md: each entry (`name.rs` or `name/`,
/// indented two spaces a level) by its path under `appliance/src`, with its description
/// (the rest of its line and the lines continuing it, indented further).
fn documented_tree(doc: &str) -> Result<BTreeMap<String, String>, String> {
    let start = doc
        .find("\nappliance/src/\n")
        .ok_or("docs/architecture.md has no appliance/src/ tree")?;
    let mut entries = BTreeMap::new();
    let mut stack: Vec<String> = Vec::new();
    let mut last: Option<String> = None;
    for line in doc[start + 1..].lines().skip(1) {
        if line.starts_with("```") {
            return Ok(entries);
        }
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if indent >= 12 {
            // A description continued.
            let key = last
                .clone()
                .ok_or(format!("a continuation first: {line:?}"))?;
            let d: &mut String = entries.get_mut(&key).ok_or("no entry")?;
            d.push(' ');
            d.push_str(text);
            continue;
        }
        if indent % 2 != 0 || indent == 0 {
            return Err(format!("odd indentation in the tree: {line:?}"));
        }
        let depth = indent / 2 - 1;
        if depth > stack.len() {
            return Err(format!("an entry deeper than its folder: {line:?}"));
        }
        stack.truncate(depth);
        let (name, description) = text.split_once(' ').unwrap_or((text, ""));
        let path = stack
            .iter()
            .map(String::as_str)
            .chain([name.trim_end_matches('/')])
            .collect::<Vec<_>>()
            .join("/");
        if name.ends_with('/') {
            stack.push(name.trim_end_matches('/').to_string());
        } else if !name.ends_with(".rs") {
            return Err(format!(
                "an entry that is neither a file nor a folder: {line:?}"
            ));
        }
        entries.insert(path.clone(), description.trim().to_string());
        last = Some(path);
    }
    Err("the appliance/src/ tree in docs/architecture.md does not end".into())
}

/// What is wrong between the tree in `doc` and the files under `src`: every folder is an
/// entry; every entry exists; every source file is an entry or named in its folder's
/// description (a folder's `mod.rs` and test files are the folder's own).
fn tree_mismatches(doc: &str, src: &Path) -> Result<Vec<String>, String> {
    let entries = documented_tree(doc)?;
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut wrong = Vec::new();
    for path in entries.keys() {
        if !src.join(path).exists() {
            wrong.push(format!(
                "docs/architecture.md lists {path}, which does not exist"
            ));
        }
    }
    for file in &files {
        let rel = file
            .strip_prefix(src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let (folder, name) = match rel.rsplit_once('/') {
            Some((f, n)) => (f.to_string(), n.to_string()),
            None => (String::new(), rel.clone()),
        };
        if !folder.is_empty() && !entries.contains_key(&folder) {
            wrong.push(format!(
                "folder {folder}/ is not in docs/architecture.md's tree"
            ));
            continue;
        }
        let own = name == "mod.rs" || name == "tests.rs" || name.ends_with("_tests.rs");
        let described = entries.get(&folder).is_some_and(|d| {
            d.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
                .any(|w| w == name)
        });
        if !(own || entries.contains_key(&rel) || described) {
            wrong.push(format!(
                "{rel} is neither in docs/architecture.md's tree nor named by its folder there"
            ));
        }
    }
    wrong.sort();
    wrong.dedup();
    Ok(wrong)
}

#[test]
fn the_architecture_tree_matches_the_appliance_folders() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let entries = documented_tree(&doc).unwrap();
    assert!(entries.len() > 40, "too few entries read: {entries:?}");
    let wrong = tree_mismatches(&doc, &root.join("appliance/src")).unwrap();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_tree_check_finds_a_file_missing_from_the_doc_and_an_entry_gone() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("ops/gate")).unwrap();
    for f in [
        "lib.rs",
        "ops/mod.rs",
        "ops/a.rs",
        "ops/gate/mod.rs",
        "ops/gate/b.rs",
    ] {
        std::fs::write(src.join(f), "").unwrap();
    }
    let doc = "x\nappliance/src/\n  lib.rs   root\n  ops/     ops\n    a.rs   a\n    gate/  \
               gates: mod.rs,\n                    b.rs\n```\n";
    assert_eq!(tree_mismatches(doc, src).unwrap(), Vec::<String>::new());
    std::fs::write(src.join("ops/c.rs"), "").unwrap();
    std::fs::remove_file(src.join("ops/a.rs")).unwrap();
    assert_eq!(
        tree_mismatches(doc, src).unwrap(),
        [
            "docs/architecture.md lists ops/a.rs, which does not exist",
            "ops/c.rs is neither in docs/architecture.md's tree nor named by its folder there",
        ]
    );
}
