//! The layering rule that the store alone speaks SQL (issue 14): no SQL text
//! in a string literal and no `rusqlite` anywhere in the library outside
//! `appliance/src/store/`; no SQL text in the core, the console, the
//! installer, the runtime or the hardening crate either, and none of them
//! depends on `rusqlite`. The compiler keeps the connection private to the
//! store; this keeps a new module from opening its own.

use std::path::{Path, PathBuf};

/// SQL keywords, case-sensitive, as they open or join statements.
const SQL: &[&str] = &[
    "SELECT ",
    "INSERT INTO",
    "UPDATE ",
    "DELETE FROM",
    "CREATE TABLE",
    "PRAGMA",
    "BEGIN",
    " FROM ",
];

/// The library's sources, from the repository root, and the one folder in
/// them that may speak SQL.
const LIBRARY: &str = "appliance/src";
/// The other crates: no SQL text in their sources (the installer's SBOM
/// names the `rusqlite` package, as text), and no `rusqlite` dependency.
const OTHERS: &[&str] = &["appliance/core", "tui", "installer", "runtime", "hardening"];
const THE_STORE: &str = "appliance/src/store";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository root")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The string literals of Rust source `text` with the line each starts on:
/// plain, byte and raw strings; comments and character literals skipped.
fn string_literals(text: &str) -> Vec<(usize, String)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < b.len() {
        match b[i] {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if b[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        line += usize::from(b[i] == b'\n');
                        i += 1;
                    }
                }
            }
            // A raw string: r"..." or r#"..."# (also br"...").
            b'r' if (i == 0 || !is_ident(b[i - 1]) || b[i - 1] == b'b')
                && matches!(b.get(i + 1), Some(b'"' | b'#')) =>
            {
                let mut j = i + 1;
                let mut hashes = 0;
                while b.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                let start = j + 1;
                let end = b[start..]
                    .windows(close.len())
                    .position(|w| w == close.as_slice())
                    .map_or(b.len(), |p| start + p);
                let s = &text[start..end];
                out.push((line, s.to_string()));
                line += s.matches('\n').count();
                i = end + close.len();
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                let end = j.min(b.len());
                let s = &text[start..end];
                out.push((line, s.to_string()));
                line += s.matches('\n').count();
                i = end + 1;
            }
            // A character literal ('"', '\''), not a lifetime ('a).
            b'\'' => {
                if b.get(i + 1) == Some(&b'\\') {
                    i = b[i + 2..]
                        .iter()
                        .position(|&c| c == b'\'')
                        .map_or(b.len(), |p| i + 2 + p + 1);
                } else if b.get(i + 2) == Some(&b'\'') {
                    i += 3;
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Every place in `text` (the source of `name`) that speaks SQL: a string
/// literal holding an SQL keyword, or (with `crate_named`) `rusqlite` on any
/// line.
fn sql_in(name: &str, text: &str, crate_named: bool) -> Vec<String> {
    let mut found = Vec::new();
    for (n, l) in text.lines().enumerate() {
        if crate_named && l.contains("rusqlite") {
            found.push(format!("{name}:{}: rusqlite: {}", n + 1, l.trim()));
        }
    }
    for (line, s) in string_literals(text) {
        if let Some(k) = SQL.iter().find(|k| s.contains(*k)) {
            let first = s.lines().next().unwrap_or_default();
            found.push(format!("{name}:{line}: SQL ({:?}) in {first:?}", k.trim()));
        }
    }
    found
}

#[test]
fn no_sql_outside_the_store() {
    let root = root();
    let mut library = Vec::new();
    rust_files(&root.join(LIBRARY), &mut library);
    let store = root.join(THE_STORE);
    assert!(
        library.len() > 50 && library.iter().any(|f| f.starts_with(&store)),
        "the scan found {} files and no store; are the folders right?",
        library.len()
    );
    let mut found = Vec::new();
    let mut scan = |files: &[PathBuf], crate_named: bool| {
        for f in files.iter().filter(|f| !f.starts_with(&store)) {
            let text = std::fs::read_to_string(f).expect("read a source file");
            let name = f.strip_prefix(&root).unwrap_or(f).display().to_string();
            found.extend(sql_in(&name, &text, crate_named));
        }
    };
    scan(&library, true);
    for dir in OTHERS {
        let mut files = Vec::new();
        rust_files(&root.join(dir).join("src"), &mut files);
        assert!(!files.is_empty(), "no sources in {dir}/src");
        scan(&files, false);
    }
    for dir in OTHERS {
        let manifest = root.join(dir).join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).expect("a crate manifest");
        for (n, l) in text.lines().enumerate() {
            if l.contains("rusqlite") {
                found.push(format!("{dir}/Cargo.toml:{}: depends on rusqlite", n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "SQL outside appliance/src/store/ (move it into a store function):\n{}",
        found.join("\n")
    );
    // And the store does speak it: the scan would see SQL there.
    let db = std::fs::read_to_string(store.join("db.rs")).expect("store/db.rs");
    assert!(!sql_in("db.rs", &db, true).is_empty());
}

#[test]
fn the_sql_scan_finds_a_planted_statement_and_names_its_line() {
    let planted = r####"//! A module that should not speak SQL.
use std::fmt;
fn f(c: &Connection) {
    let _ = '"';
    let _ = "the \"quoted\" word SELECT, then SELECT a FROM b";
    c.execute(
        r#"DELETE FROM audit WHERE seq > ?1"#,
        [1],
    );
}
// SELECT * FROM a comment is not SQL text.
fn g() { let _: rusqlite::Connection; }
"####;
    let found = sql_in("planted.rs", planted, true);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(
        found[0].starts_with("planted.rs:12: rusqlite"),
        "{found:#?}"
    );
    assert!(
        found[1].starts_with("planted.rs:5: SQL (\"SELECT\")"),
        "{found:#?}"
    );
    assert!(
        found[2].starts_with("planted.rs:7: SQL (\"DELETE FROM\")"),
        "{found:#?}"
    );
    // Plain text with the words in lower case or in prose is not flagged.
    let prose = "fn h() { let _ = \"select a row from the list\"; let _ = 'a'; }\n";
    assert!(sql_in("prose.rs", prose, true).is_empty());
    // Outside the library, the crate's name is not flagged; SQL text still is.
    assert_eq!(sql_in("planted.rs", planted, false).len(), 2);
}
