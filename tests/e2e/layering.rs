//! The layers hold: no import cycle between modules (docs/architecture.md).
//!
//! A module is one source file (`ops/ingest/mod.rs` is `ops::ingest`). Every `crate::a::b::c`
//! path in a file's code (its `#[cfg(test)]` part left out) is a use of the deepest module it
//! names. A use between a module and one of its own ancestors or descendants (a folder's
//! `mod.rs` and the files in it) is how a folder is put together, not a layer, and is not
//! counted. Any other cycle fails the test, naming the modules and the uses that close it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file is, from its path under the crate's `src/`.
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut segs: Module = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        segs.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        segs.pop();
    }
    segs
}

/// The code of a file without its test module (`#[cfg(test)] mod ...`, by convention last)
/// and comments.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod ").next().unwrap_or("");
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::x::y` path in `code`, as its segments.
fn crate_paths(code: &str) -> Vec<Module> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let mut segs = Vec::new();
        let mut tail = rest;
        loop {
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            if end == 0 {
                break;
            }
            segs.push(tail[..end].to_string());
            tail = &tail[end..];
            match tail.strip_prefix("::") {
                Some(t) => tail = t,
                None => break,
            }
        }
        out.push(segs);
    }
    out
}

/// The uses between modules of the crate whose sources are under `src` (files under the
/// `skip` folders or named `skip` left out): module -> (used module -> the file that uses it).
fn uses(src: &Path, skip: &[&str]) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let files: Vec<PathBuf> = files
        .into_iter()
        .filter(|f| {
            let rel = f.strip_prefix(src).unwrap().to_string_lossy().into_owned();
            !skip
                .iter()
                .any(|s| rel == *s || rel.starts_with(&format!("{s}/")))
        })
        .collect();
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(src, f)).collect();
    let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for f in &files {
        let from = module_of(src, f);
        let code = code_of(&std::fs::read_to_string(f).unwrap());
        for mut to in crate_paths(&code) {
            while !to.is_empty() && !modules.contains(&to) {
                to.pop();
            }
            let related = to.is_empty() || from.starts_with(&to) || to.starts_with(&from);
            if !related {
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    graph
}

/// The strongly connected components of more than one module (Tarjan).
fn cycles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct State<'a> {
        graph: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        found: Vec<Vec<Module>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Module) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        let graph = s.graph;
        for w in graph.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.found
}

fn report(graph: &BTreeMap<Module, BTreeSet<Module>>) -> String {
    let mut out = String::new();
    for component in cycles(graph) {
        let members: BTreeSet<&Module> = component.iter().collect();
        out.push_str(&format!(
            "cycle between {}:\n",
            component
                .iter()
                .map(|m| m.join("::"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        for m in &component {
            for to in graph.get(m).into_iter().flatten() {
                if members.contains(to) {
                    out.push_str(&format!("  {} uses {}\n", m.join("::"), to.join("::")));
                }
            }
        }
    }
    out
}

fn check(graph: &BTreeMap<Module, BTreeSet<Module>>) {
    let found = report(graph);
    assert!(found.is_empty(), "{found}");
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn no_import_cycle_between_the_appliance_libraries_modules() {
    let graph = uses(&repo().join("appliance/src"), &["cli", "main.rs"]);
    assert!(graph.len() > 20, "too few modules seen: {graph:?}");
    check(&graph);
}

#[test]
fn no_import_cycle_between_the_cores_modules() {
    let graph = uses(&repo().join("appliance/core/src"), &[]);
    assert!(graph.len() > 10, "too few modules seen: {graph:?}");
    check(&graph);
}

#[test]
fn no_import_cycle_between_the_commands_modules() {
    // The `airlock` binary's own modules: `cli/` and `main.rs` (its crate root).
    let src = repo().join("appliance/src");
    let library = [
        "node", "store", "vault", "trust", "bundle", "ops", "demo.rs", "lib.rs", "error.rs",
    ];
    let graph = uses(&src, &library);
    assert!(graph.len() > 5, "too few modules seen: {graph:?}");
    let found = report(&graph);
    assert!(found.is_empty(), "{found}");
}

#[test]
fn the_cycle_check_finds_a_planted_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("ops")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod ops;\n").unwrap();
    std::fs::write(src.join("ops/mod.rs"), "pub mod a;\npub mod b;\n").unwrap();
    std::fs::write(src.join("ops/a.rs"), "use crate::ops::b::f;\n").unwrap();
    std::fs::write(
        src.join("ops/b.rs"),
        "pub fn f() { crate::ops::a::g(); } // crate::nothing\n#[cfg(test)]\nmod tests { use crate::x; }\n",
    )
    .unwrap();
    let found = report(&uses(src, &[]));
    assert!(found.contains("cycle between ops::a, ops::b"), "{found}");
    assert!(found.contains("ops::a uses ops::b") && found.contains("ops::b uses ops::a"));
    // The folder's own mod.rs using its files (and they it) is not a cycle.
    std::fs::write(src.join("ops/b.rs"), "pub fn f() { crate::ops::h(); }\n").unwrap();
    std::fs::write(
        src.join("ops/mod.rs"),
        "pub mod a;\npub mod b;\nuse crate::ops::a;\n",
    )
    .unwrap();
    assert_eq!(report(&uses(src, &[])), "");
}
