//! Process hardening applied at the start of every Airlock binary and worker.
//!
//! An Airlock process holds secret keys and sensitive rows in memory. A core
//! dump, a `ptrace` attach from another process of the same user or a file
//! created with a permissive mode would each copy them somewhere they are not
//! protected. [`harden_process`] closes those paths before any key or data is
//! read:
//!
//! - `RLIMIT_CORE` set to 0 (soft and hard): no core file is ever written;
//! - `PR_SET_DUMPABLE` cleared: no core dump, and `/proc/PID/mem` and `ptrace`
//!   are closed to other unprivileged processes;
//! - `PR_SET_NO_NEW_PRIVS`: no exec'd child can gain privileges (set-uid);
//! - umask `077`: every file and folder the process creates is private to its
//!   owner, whatever the caller's umask.
//!
//! Nothing here fails silently: each control's outcome is returned in a
//! [`HardeningReport`]; the `airlock` program prints a warning for every
//! control the host could not apply.
//!
//! The training worker goes further and confines itself with
//! [`sandbox::enter`] (Linux only): no network, no file outside its run's
//! folders, bounded resources, each control reported in a [`SandboxReport`]
//! that the run record carries.
//!
//! [`host::check`] looks at the host itself (`airlock harden check`): kernel
//! settings, radios, mounts, swap, the network and the home's modes, each
//! reported as pass, warn or fail with its CIS benchmark id and its fix.
//!
//! ```
//! let report = airlock_hardening::harden_process();
//! assert!(report.controls.iter().any(|c| c.name == "umask-077"));
//! ```
#![deny(missing_docs)]

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::stat::{Mode, umask};
use serde::{Deserialize, Serialize};

pub mod host;
#[cfg(target_os = "linux")]
pub mod sandbox;
#[cfg(target_os = "linux")]
pub use sandbox::{Limits, ProbeResult, SandboxPolicy, SandboxReport};

/// The outcome of one hardening control. Serialized into run records, so each
/// field's meaning is stable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    /// Stable name of the control, e.g. `core-dumps-off`.
    pub name: String,
    /// Whether it was applied.
    pub applied: bool,
    /// Whether the caller asked for it. Always true for [`harden_process`];
    /// false for a sandbox control its policy turned off, which is then not
    /// applied and not a failure.
    pub requested: bool,
    /// Why it is not applied, when it is not: the system error, the missing
    /// kernel feature, or `not requested`.
    pub error: Option<String>,
    /// How it was applied, when there is more to say than yes: which path
    /// was taken, a limit kept lower than asked, a partial enforcement.
    pub detail: Option<String>,
}

impl Control {
    pub(crate) fn applied(name: &str) -> Control {
        Control {
            name: name.to_string(),
            applied: true,
            requested: true,
            error: None,
            detail: None,
        }
    }

    pub(crate) fn failed(name: &str, error: impl Into<String>) -> Control {
        Control {
            name: name.to_string(),
            applied: false,
            requested: true,
            error: Some(error.into()),
            detail: None,
        }
    }

    pub(crate) fn not_requested(name: &str) -> Control {
        Control {
            name: name.to_string(),
            applied: false,
            requested: false,
            error: Some("not requested".to_string()),
            detail: None,
        }
    }

    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Control {
        self.detail = Some(detail.into());
        self
    }

    /// True for a control that was asked for and is not in force.
    pub fn is_failure(&self) -> bool {
        self.requested && !self.applied
    }
}

/// What [`harden_process`] did, control by control.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardeningReport {
    /// Every control that was attempted, in order.
    pub controls: Vec<Control>,
}

impl HardeningReport {
    /// The controls that could not be applied.
    pub fn failures(&self) -> impl Iterator<Item = &Control> {
        self.controls.iter().filter(|c| c.is_failure())
    }

    /// True when every control was applied.
    pub fn fully_applied(&self) -> bool {
        self.failures().next().is_none()
    }
}

pub(crate) fn control(name: &str, result: nix::Result<()>) -> Control {
    match result {
        Ok(()) => Control::applied(name),
        Err(e) => Control::failed(name, e.desc()),
    }
}

/// Applies the process controls described in the crate documentation and
/// reports each one's outcome. Call it first thing in `main`, before any key,
/// secret or data file is opened.
pub fn harden_process() -> HardeningReport {
    // umask cannot fail; it returns the previous mask.
    umask(Mode::from_bits_truncate(0o077));
    let controls = vec![
        control("core-dumps-off", setrlimit(Resource::RLIMIT_CORE, 0, 0)),
        control("not-dumpable", set_not_dumpable()),
        control("no-new-privileges", no_new_privs()),
        Control::applied("umask-077"),
    ];
    HardeningReport { controls }
}

#[cfg(target_os = "linux")]
pub(crate) fn set_not_dumpable() -> nix::Result<()> {
    nix::sys::prctl::set_dumpable(false)
}

#[cfg(not(target_os = "linux"))]
fn set_not_dumpable() -> nix::Result<()> {
    Err(nix::Error::ENOSYS)
}

#[cfg(target_os = "linux")]
pub(crate) fn no_new_privs() -> nix::Result<()> {
    nix::sys::prctl::set_no_new_privs()
}

#[cfg(not(target_os = "linux"))]
fn no_new_privs() -> nix::Result<()> {
    Err(nix::Error::ENOSYS)
}

/// Reads back the state the controls should have left, for self-checks and
/// tests: (core limit soft, core limit hard, dumpable).
pub fn current_state() -> nix::Result<(u64, u64, bool)> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_CORE)?;
    #[cfg(target_os = "linux")]
    let dumpable = nix::sys::prctl::get_dumpable()?;
    #[cfg(not(target_os = "linux"))]
    let dumpable = true;
    Ok((soft, hard, dumpable))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardening_turns_off_core_dumps_and_dumpable() {
        let report = harden_process();
        assert!(report.fully_applied(), "failures: {:?}", report.controls);
        let (soft, hard, dumpable) = current_state().expect("read back process state");
        assert_eq!((soft, hard), (0, 0), "core dump limit must be zero");
        assert!(!dumpable, "process must not be dumpable");
        // The umask is now 077: a new file is private to its owner.
        let dir = std::env::temp_dir().join(format!("airlock-hardening-{}", std::process::id()));
        std::fs::write(&dir, b"x").expect("write probe file");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&dir).expect("stat probe").permissions(),
        );
        std::fs::remove_file(&dir).expect("remove probe");
        assert_eq!(mode & 0o077, 0, "file mode {mode:o} is readable by others");
    }
}

/// Pins the compute thread count of this process: when `RAYON_NUM_THREADS` is unset, sets it
/// to the number of CPUs this process may run on. candle reads its thread count on every
/// matrix product, and without the variable that means reading and parsing `/proc/cpuinfo`
/// each time: for one-row serving, most of a request's time (p99 341 µs against 6 µs with
/// the variable set; docs/benchmarks.md). Setting the environment is only sound while no
/// other thread runs, so this does nothing unless the process has exactly one thread (counted
/// in `/proc/self/task`). Returns the count it set, if it set one. Child processes (the
/// training worker) inherit it.
#[allow(unsafe_code)]
pub fn pin_compute_threads() -> Option<usize> {
    if std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return None;
    }
    let threads = std::fs::read_dir("/proc/self/task").ok()?.count();
    if threads != 1 {
        return None;
    }
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    // SAFETY: the process has exactly one thread (checked just above, and this function
    // starts none), so no other thread can read or write the environment while it changes.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", n.to_string()) };
    Some(n)
}

#[cfg(test)]
mod compute_threads {
    #[test]
    fn a_set_variable_is_left_alone_and_threads_make_it_a_no_op() {
        // The test harness runs tests on threads: more than one thread, so nothing is set.
        if std::env::var_os("RAYON_NUM_THREADS").is_none() {
            assert_eq!(super::pin_compute_threads(), None);
            assert!(std::env::var_os("RAYON_NUM_THREADS").is_none());
        }
    }
}
