//! Bakes the code version into the binaries for run records: the git revision of the source
//! tree (with `-dirty` when it has uncommitted changes) and the SHA-256 of the workspace's
//! `Cargo.lock`, which pins every dependency.
//!
//! A tree without git (a source tarball, a vendored offline build) records `unknown`; set
//! `AIRLOCK_GIT_REV` to name the revision such a build came from.

use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let lock = root.join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    println!("cargo:rerun-if-env-changed=AIRLOCK_GIT_REV");
    for git in [".git/HEAD", ".git/index", ".git/refs"] {
        let p = root.join(git);
        if p.exists() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
    let lock_digest = match std::fs::read(&lock) {
        Ok(bytes) => hex(&Sha256::digest(&bytes)),
        Err(_) => "unknown".to_owned(),
    };
    let rev = std::env::var("AIRLOCK_GIT_REV")
        .ok()
        .unwrap_or_else(|| git_rev(&root));
    println!("cargo:rustc-env=AIRLOCK_CARGO_LOCK_SHA256={lock_digest}");
    println!("cargo:rustc-env=AIRLOCK_GIT_REV={rev}");
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn git_rev(root: &Path) -> String {
    let Some(rev) = git(root, &["rev-parse", "HEAD"]) else {
        return "unknown".to_owned();
    };
    match git(root, &["status", "--porcelain", "--untracked-files=no"]) {
        Some(s) if s.is_empty() => rev,
        Some(_) => format!("{rev}-dirty"),
        None => rev,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
