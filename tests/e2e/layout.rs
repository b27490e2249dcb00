//! The shape of the code base (issue 14, "One library, in layers"): no Rust
//! source file over 800 lines, so a module stays something a newcomer can
//! read whole. A bigger file is split by concern into a folder module (see
//! `appliance/core/src/contract/`), its tests into a `tests.rs` beside it.

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
