//! `airlock harden check`: is the host an Airlock node runs on set up the
//! way the node's threat model assumes?
//!
//! [`harden_process`](crate::harden_process) closes core dumps and `ptrace`
//! for Airlock's own processes; the training worker's sandbox closes the
//! network for the worker. Neither can stop the host from writing keys to
//! swap in the clear, from keeping another process's core dump, from having
//! a wireless card, or from running an SSH server. [`check`] reads the host's
//! state and reports each such control as pass, warn or fail, with the CIS
//! Debian Linux 12 Benchmark (v1.1.0) recommendation it belongs to, where
//! there is one, and what to run to fix it.
//!
//! Every check is a pure function of files: `/proc`, `/sys`, `/etc` and the
//! home, all read under a root folder (`/` on a real node, a fake tree in
//! tests). Nothing is changed and no command is run.
//!
//! | id | what passes | CIS |
//! | --- | --- | --- |
//! | `aslr` | `kernel.randomize_va_space` = 2 | 1.5.1 |
//! | `ptrace-scope` | `kernel.yama.ptrace_scope` >= 1 | 1.5.2 |
//! | `suid-dumpable` | `fs.suid_dumpable` = 0 | 1.5.3 |
//! | `coredump-storage` | systemd-coredump `Storage=none` | 1.5.3 |
//! | `kptr-restrict` | `kernel.kptr_restrict` >= 1 | none |
//! | `dmesg-restrict` | `kernel.dmesg_restrict` = 1 | none |
//! | `unprivileged-bpf` | `kernel.unprivileged_bpf_disabled` >= 1 | none |
//! | `usb-storage` | a modprobe policy for usb-storage (warn only: an operator's decision) | 1.1.1.9 |
//! | `wireless` | no wireless interface, `cfg80211` not loaded | 3.1.2 |
//! | `bluetooth` | no Bluetooth controller, `bluetooth` not loaded | 3.1.3 |
//! | `tmp-mount` | `/tmp` a mount of its own, `nodev,nosuid,noexec` | 1.1.2.1.1-4 |
//! | `shm-mount` | `/dev/shm` a mount of its own, `nodev,nosuid,noexec` | 1.1.2.2.1-4 |
//! | `swap-encrypted` | no swap, or swap on zram or dm-crypt | none |
//! | `home-encrypted` | the home's filesystem on a dm-crypt device | none |
//! | `ip-forwarding` | `net.ipv4.ip_forward` and `net.ipv6.conf.all.forwarding` = 0 | 3.3.1 |
//! | `default-route` | no default route (warn only) | none |
//! | `interfaces-up` | no interface up but loopback (warn only) | none |
//! | `listening-sockets` | no TCP or UDP socket listening (loopback only: warn) | 2.1.22 |
//! | `sshd` | no `sshd` process | none |
//! | `home-modes` | home 0700, `keys/` 0700 with its files 0600, `operators/` likewise | none |
//!
//! `docs/hardening.md` says why each check matters to an Airlock node.
//!
//! ```
//! use std::path::Path;
//! use airlock_hardening::host::{self, Status};
//!
//! let root = tempfile::tempdir()?;
//! std::fs::create_dir_all(root.path().join("proc/sys/kernel"))?;
//! std::fs::write(root.path().join("proc/sys/kernel/randomize_va_space"), "1\n")?;
//! let report = host::check(root.path(), Path::new("/var/lib/airlock"));
//! let aslr = report.findings.iter().find(|f| f.id == "aslr").unwrap();
//! assert_eq!((aslr.status, aslr.cis), (Status::Fail, Some("1.5.1")));
//! assert!(!report.passed());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

mod devices;
mod home;
mod kernel;
mod mounts;
mod network;
#[cfg(test)]
mod tests;

/// The verdict of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The host is as the check wants.
    Pass,
    /// Not as the check wants, but a decision for the operator, or the state
    /// could not be read: look at it.
    Warn,
    /// A control the node relies on is off: fix it before the node holds keys
    /// or data.
    Fail,
}

impl Status {
    /// `pass`, `warn` or `fail`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One check's result. Serialized as the `--json` output, so each field's
/// meaning is stable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable id of the check, e.g. `aslr`.
    pub id: &'static str,
    /// What is checked, in a few words.
    pub title: &'static str,
    /// The verdict.
    pub status: Status,
    /// The CIS Debian Linux 12 Benchmark v1.1.0 recommendation(s), or `None`
    /// where the benchmark has none.
    pub cis: Option<&'static str>,
    /// What the host has, read from its files (interface names, mount
    /// options, paths: host text, to be escaped before it is printed).
    pub found: String,
    /// What to run to reach, or keep, the passing state.
    pub fix: String,
}

/// What [`check`] found, check by check, in a fixed order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct HostReport {
    /// One finding per check.
    pub findings: Vec<Finding>,
}

impl HostReport {
    /// The findings with this status.
    pub fn with_status(&self, status: Status) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.status == status)
    }

    /// True when no check failed (warnings allowed).
    pub fn passed(&self) -> bool {
        self.with_status(Status::Fail).next().is_none()
    }
}

/// Runs every check against the host whose files are under `root` (`/` for
/// this host), for the Airlock home at `home` (an absolute path as the host
/// sees it, e.g. `/var/lib/airlock`; a relative one is taken from the
/// current folder).
pub fn check(root: &Path, home: &Path) -> HostReport {
    let host = Host::new(root);
    let home = std::path::absolute(home).unwrap_or_else(|_| home.to_path_buf());
    let mounts = mounts::Mounts::read(&host);
    let mut findings = kernel::checks(&host);
    findings.extend(devices::checks(&host));
    findings.extend(mounts::checks(&host, &mounts, &home));
    findings.extend(network::checks(&host));
    findings.push(home::check(&host, &home));
    HostReport { findings }
}

/// What every check of one kind has in common: its id, title and CIS id.
#[derive(Clone, Copy)]
struct Spec {
    id: &'static str,
    title: &'static str,
    cis: Option<&'static str>,
}

impl Spec {
    fn finding(self, status: Status, found: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            id: self.id,
            title: self.title,
            status,
            cis: self.cis,
            found: found.into(),
            fix: fix.into(),
        }
    }
}

/// The most read from any one file: `/proc/net/tcp` on a busy host is the
/// largest file read, and what matters is found long before this.
const MAX_READ: u64 = 16 * 1024 * 1024;

/// The host's files, under a root folder.
struct Host {
    root: PathBuf,
}

impl Host {
    fn new(root: &Path) -> Host {
        Host {
            root: root.to_path_buf(),
        }
    }

    /// Where the host's absolute path `path` is under the root.
    fn at(&self, path: impl AsRef<Path>) -> PathBuf {
        let mut p = self.root.clone();
        for c in path.as_ref().components() {
            if let Component::Normal(part) = c {
                p.push(part);
            }
        }
        p
    }

    /// A file's text (lossy UTF-8), at most [`MAX_READ`] bytes of it.
    fn read(&self, path: impl AsRef<Path>) -> std::io::Result<String> {
        let mut bytes = Vec::new();
        fs::File::open(self.at(path))?
            .take(MAX_READ)
            .read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The names in a folder, sorted; empty when it cannot be read.
    fn names(&self, path: impl AsRef<Path>) -> Vec<String> {
        self.listed(path).unwrap_or_default()
    }

    /// The names in a folder, sorted; `None` when it cannot be read.
    fn listed(&self, path: impl AsRef<Path>) -> Option<Vec<String>> {
        let mut names: Vec<String> = fs::read_dir(self.at(path))
            .ok()?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Some(names)
    }

    fn exists(&self, path: impl AsRef<Path>) -> bool {
        fs::symlink_metadata(self.at(path)).is_ok()
    }
}

/// The first whitespace-separated word of each line of `/proc/modules`: the
/// loaded kernel modules; `None` when it cannot be read.
fn loaded_modules(host: &Host) -> Option<Vec<String>> {
    let text = host.read("/proc/modules").ok()?;
    Some(
        text.lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect(),
    )
}

/// A list for a message: `a, b, c`, or `none`.
fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}
