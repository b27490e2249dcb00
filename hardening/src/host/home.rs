//! The home's modes, as the appliance requires them when it opens a home
//! (`appliance/src/home.rs`, `fsx::check_private`): the home 0700, `keys/`
//! 0700 with every key file in it 0600, and `operators/` (sealed operator
//! keys) likewise; no symbolic link, and every key owned by the home's owner.
//!
//! The appliance refuses a home that group or others can write; this check
//! is stricter and fails any group or other bit, since `store.db` (the audit
//! log, names, metrics) is not encrypted and relies on the home's mode.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{Finding, Host, Spec, Status};

/// The operators' key folder (`operator::DIR` in the appliance).
const OPERATOR_DIR: &str = "operators";

/// What is wrong with one folder of secrets and the files in it, appended to
/// `problems`; returns how many files it holds.
fn secret_dir(host: &Host, dir: &Path, owner: u32, problems: &mut Vec<String>) -> usize {
    let shown = dir.display();
    let meta = match fs::symlink_metadata(host.at(dir)) {
        Ok(m) => m,
        Err(e) => {
            problems.push(format!("{shown}: {e}"));
            return 0;
        }
    };
    if !meta.is_dir() {
        problems.push(format!("{shown} is not a folder (a link or a file)"));
        return 0;
    }
    if meta.mode() & 0o077 != 0 {
        problems.push(format!(
            "{shown} has mode {:04o} (chmod 0700 {shown})",
            meta.mode() & 0o7777
        ));
    }
    let names = host.names(dir);
    for name in &names {
        let file = dir.join(name);
        let shown = file.display();
        let Ok(meta) = fs::symlink_metadata(host.at(&file)) else {
            problems.push(format!("{shown} cannot be read"));
            continue;
        };
        if !meta.is_file() {
            problems.push(format!("{shown} is not a plain file (a link or a folder)"));
            continue;
        }
        if meta.mode() & 0o077 != 0 {
            problems.push(format!(
                "{shown} has mode {:04o} (chmod 0600 {shown})",
                meta.mode() & 0o7777
            ));
        }
        if meta.uid() != owner {
            problems.push(format!(
                "{shown} belongs to uid {}, the home to uid {owner} (chown {owner} {shown})",
                meta.uid()
            ));
        }
    }
    names.len()
}

pub(super) fn check(host: &Host, home: &Path) -> Finding {
    let spec = Spec {
        id: "home-modes",
        title: "home 0700, keys 0600 in 0700 folders",
        cis: None,
    };
    let fix = format!(
        "chmod 0700 {h} {h}/keys {h}/operators; chmod 0600 {h}/keys/* {h}/operators/*",
        h = home.display()
    );
    // The home itself may be reached through a link the operator chose, as
    // the appliance allows; nothing inside it may be one.
    let meta = match fs::metadata(host.at(home)) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let found = format!(
                "no home at {} (none made yet, or pass the node's --home)",
                home.display()
            );
            return spec.finding(
                Status::Warn,
                found,
                "airlock init --site NAME, then check again",
            );
        }
        Err(e) => return spec.finding(Status::Fail, format!("{}: {e}", home.display()), fix),
    };
    let mut problems = Vec::new();
    if !meta.is_dir() {
        problems.push(format!("{} is not a folder", home.display()));
    } else if meta.mode() & 0o077 != 0 {
        problems.push(format!(
            "{h} has mode {:04o} (chmod 0700 {h})",
            meta.mode() & 0o7777,
            h = home.display()
        ));
    }
    let keys = secret_dir(host, &home.join("keys"), meta.uid(), &mut problems);
    if keys == 0 && problems.is_empty() {
        problems.push(format!(
            "{} holds no key files",
            home.join("keys").display()
        ));
    }
    let operators = home.join(OPERATOR_DIR);
    let mut sealed = 0;
    if host.exists(&operators) {
        sealed = secret_dir(host, &operators, meta.uid(), &mut problems);
    }
    if problems.is_empty() {
        let found = format!(
            "{} 0700; keys/ 0700 with {keys} key file(s) 0600; {sealed} operator key file(s) 0600",
            home.display()
        );
        spec.finding(Status::Pass, found, fix)
    } else {
        spec.finding(Status::Fail, problems.join("; "), fix)
    }
}
