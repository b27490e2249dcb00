//! Running `airlock-install` on a temporary root with stand-in binaries.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary root and a folder of stand-in binaries to install from.
pub struct Node {
    /// Holds the temporary folder.
    _dir: tempfile::TempDir,
    /// The root installed under.
    pub root: PathBuf,
    /// The folder of binaries `install --from` reads.
    pub bin: PathBuf,
}

/// A stand-in `airlock`: answers `--version` and `audit verify` (the health check) with
/// exit 0, or `fails` for the health check when asked to.
pub fn fake_airlock(version: &str, healthy: bool) -> String {
    let code = if healthy { 0 } else { 1 };
    format!(
        "#!/bin/sh\n# stand-in airlock {version}\ncase \"$*\" in\n  --version) echo \"airlock {version}\" ;;\n  *audit\\ verify*) exit {code} ;;\n  *) exit 0 ;;\nesac\n"
    )
}

impl Node {
    /// A fresh root (not yet created: install makes it) and stand-ins for `airlock`,
    /// `airlock-worker` and `airlock-install` at `version`.
    pub fn new(version: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        // Traversable by the service user of the tests that run as root.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = dir.path().join("root");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let node = Node {
            _dir: dir,
            root,
            bin,
        };
        node.write_bin("airlock", &fake_airlock(version, true));
        node.write_bin("airlock-worker", "#!/bin/sh\nexit 0\n");
        node.write_bin(
            "airlock-install",
            "#!/bin/sh\n# stand-in airlock-install\nexit 0\n",
        );
        node
    }

    /// Writes an executable into the binaries folder.
    pub fn write_bin(&self, name: &str, text: &str) {
        let path = self.bin.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A path under the root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// `install --root ROOT --site lab --from BIN EXTRA...`.
    pub fn install(&self, extra: &[&str]) -> Run {
        let mut args = vec![
            "install",
            "--root",
            s(&self.root),
            "--site",
            "lab",
            "--from",
            s(&self.bin),
        ];
        args.extend_from_slice(extra);
        run(&args)
    }

    /// Every path under the root with its type, mode and content digest, for "nothing
    /// changed" checks.
    pub fn snapshot(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.root, &self.root, &mut out);
        out.sort();
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let e = e.unwrap();
        let p = e.path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        if m.is_dir() {
            out.push(format!("d {rel} {:o}", m.permissions().mode()));
            walk(root, &p, out);
        } else if m.file_type().is_symlink() {
            out.push(format!(
                "l {rel} {}",
                std::fs::read_link(&p).unwrap().display()
            ));
        } else {
            let bytes = std::fs::read(&p).unwrap();
            out.push(format!(
                "f {rel} {:o} {}",
                m.permissions().mode(),
                bytes.len()
            ));
        }
    }
}

/// A path as `&str` (the tests' temporary paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The outcome of one run.
pub struct Run {
    /// The process's output.
    pub output: Output,
}

impl Run {
    /// The exit code.
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }
    /// Standard output.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    /// Standard error.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    /// Asserts exit 0 and returns stdout.
    pub fn ok(&self) -> String {
        assert_eq!(
            self.code(),
            0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self.stdout()
    }
    /// Asserts the exit code and returns stderr.
    pub fn fails(&self, code: i32) -> String {
        assert_eq!(
            self.code(),
            code,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self.stderr()
    }
}

/// Runs `airlock-install ARGS`.
pub fn run(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_airlock-install"))
        .args(args)
        .env("AIRLOCK_TEST_SCRYPT_LOG_N", "4")
        .output()
        .unwrap();
    Run { output }
}

/// Whether the tests run as root (CI does; a developer may not).
pub fn is_root() -> bool {
    nix_euid() == 0
}

fn nix_euid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    // The owner of a file this process just made is its effective uid.
    let f = tempfile::NamedTempFile::new().unwrap();
    f.as_file().metadata().unwrap().uid()
}

impl Node {
    /// `COMMAND --root ROOT EXTRA...`.
    pub fn cmd(&self, command: &str, extra: &[&str]) -> Run {
        let mut args = vec![command, "--root", s(&self.root)];
        args.extend_from_slice(extra);
        run(&args)
    }

    /// Installs at `version` and seals.
    pub fn installed_and_sealed(version: &str) -> Node {
        let node = Node::new(version);
        node.install(&["--version", version]).ok();
        node.cmd("seal", &[]).ok();
        node
    }

    /// The actions of the home's audit log, oldest first (the home opened read-only
    /// through the library).
    pub fn audit_actions(&self) -> Vec<String> {
        let home =
            airlock::node::home::Home::open_read_only(&self.path("var/lib/airlock")).unwrap();
        home.verify_audit().unwrap();
        home.audit_log()
            .unwrap()
            .into_iter()
            .map(|r| r.action)
            .collect()
    }

    /// The newest audit record with this action.
    pub fn last_record(&self, action: &str) -> airlock::store::audit::Record {
        let home =
            airlock::node::home::Home::open_read_only(&self.path("var/lib/airlock")).unwrap();
        home.audit_log()
            .unwrap()
            .into_iter()
            .rev()
            .find(|r| r.action == action)
            .unwrap_or_else(|| panic!("no {action} record"))
    }
}
