//! The training worker's sandbox: what the worker can still reach once it
//! starts reading untrusted data.
//!
//! The worker parses datasets the appliance did not write and runs large
//! numeric libraries over them. If a parser or a kernel of those libraries is
//! exploitable, the attacker holds the worker. [`enter`] bounds what that is
//! worth: no network, no file outside the folders the run was given (not the
//! home's `keys/`, not `vault/`, not `store.db`, not the serving logs), no
//! signal to a process outside the sandbox, bounded files and resources.
//!
//! # Calling contract
//!
//! Call [`enter`] first thing in the worker, **before any thread is spawned**
//! and before any data is read:
//!
//! - a process with more than one thread cannot enter a user namespace
//!   (`unshare(2)`: `EINVAL`), the path an unprivileged worker takes to its
//!   network namespace;
//! - the network namespace and `no_new_privs` belong to the calling thread
//!   (and the threads it spawns later); so does Landlock, which only from
//!   ABI v8 (Linux 7.0) can also restrict threads already running (asked for,
//!   best-effort, when there are).
//!
//! The `single-threaded` control records whether this held.
//!
//! # Controls
//!
//! Every control is reported in the [`SandboxReport`], in this order, under
//! these stable names; one the policy turned off is reported as not
//! requested, never left out.
//!
//! | name | what | if it cannot be applied |
//! | --- | --- | --- |
//! | `single-threaded` | a check: one thread when the sandbox was entered | thread count in the error |
//! | `no-new-privileges` | `PR_SET_NO_NEW_PRIVS`: no set-uid gain through exec; also what lets an unprivileged process use Landlock | system error |
//! | `core-dumps-off` | `RLIMIT_CORE` 0 (soft and hard) | system error |
//! | `umask-077` | new files private to their owner | cannot fail |
//! | `rlimit-nofile`, `rlimit-fsize`, `rlimit-as`, `rlimit-cpu`, `rlimit-nproc` | [`Limits`], soft and hard; never raised over the current hard limit (a lower one is kept and said in the detail) | system error; the optional ones `not requested` when `None` |
//! | `network-namespace` | `unshare(CLONE_NEWNET)`: a namespace whose only interface is a loopback that is down, so every connect and send fails; an unprivileged process goes through `CLONE_NEWUSER` (see below). The detail says which | both system errors |
//! | `not-dumpable` | `PR_SET_DUMPABLE` 0: no core dump, no `ptrace` or `/proc/PID/mem` by other processes of the user | system error |
//! | `landlock` | filesystem rules, below | kernel without Landlock, or the error |
//! | `landlock-network` | Landlock network rules with no port allowed, a second layer under the namespace: every TCP `bind` and `connect` denied (ABI v4, Linux 6.7), UDP too from ABI v10 (Linux 7.2) | as above |
//! | `landlock-scopes` | no signal to, and no connection to an abstract UNIX socket of, a process outside the sandbox (ABI v6, Linux 6.12) | as above |
//!
//! `not-dumpable` comes after the namespace: a process that is not dumpable
//! finds its own `/proc/self` files owned by root, and an unprivileged one
//! could not write its user namespace's id maps. If it is already cleared
//! ([`crate::harden_process`] ran first, or the worker changed uid), it is
//! set back for those three writes only.
//!
//! Below ABI v10 `landlock-network` reads `partially enforced` (no UDP
//! rules), and below ABI v9 `landlock` does (no rule for connecting to
//! pathname UNIX sockets): the best such a kernel can do, still applied.
//!
//! ## The network namespace without privileges
//!
//! A process without `CAP_SYS_ADMIN` gets `EPERM` from
//! `unshare(CLONE_NEWNET)`. It then enters a new user namespace and a network
//! namespace it owns, `unshare(CLONE_NEWUSER | CLONE_NEWNET)`, writes `deny`
//! to `/proc/self/setgroups` and maps its uid and gid to themselves
//! (`U U 1`), so that it keeps its identity: files it creates belong to the
//! same user, and permission checks come out as before. It gains capabilities
//! only over namespaces it owns; it cannot reach the host's network namespace.
//!
//! ## Filesystem rules
//!
//! Landlock handles every filesystem access right of the newest ABI this
//! code knows ([`landlock::ABI::V10`]), best-effort: the rights the running
//! kernel lacks are dropped, and the control's detail then says `partially
//! enforced (ABI vN)`. Allowed, and nothing else:
//!
//! - beneath each [`SandboxPolicy::read_only`] path: read files, list
//!   folders, execute;
//! - beneath each [`SandboxPolicy::read_write`] path: every right, including
//!   create, remove, rename, truncate;
//! - read-only, where they exist, the few places a Rust process on glibc
//!   reads at run time: `/proc/self` (its cgroup and mount table, which
//!   `std::thread::available_parallelism` reads for the CPU quota that sizes
//!   rayon's pool; its memory map, which glibc reads for the main thread's
//!   stack), `/sys/fs/cgroup` (that quota, `cpu.max`) and
//!   `/sys/devices/system/cpu` (online CPUs and cache sizes, read by glibc
//!   and by numeric kernels that tune blocks to the cache).
//!
//! A policy path that cannot be opened (missing) is left out, so it stays
//! denied, and the detail names it. Everything else is denied: the appliance
//! home's `keys/`, `vault/`, `store.db` and logs, other runs' folders, `/tmp`,
//! `/etc`, `/dev`, every other process's `/proc` entries (so also their
//! namespaces: even a root worker cannot `setns` back to the host network).
//!
//! ## What is not denied
//!
//! - File descriptors open before [`enter`]: Landlock checks at open time.
//! - Metadata: Landlock does not (yet) restrict `stat`, `readlink`, `chmod`,
//!   `chown`, `utime` or extended attributes outside the rules. A worker
//!   running as the appliance's own user could `chmod` the appliance's files;
//!   run it under a user of its own where that matters.
//! - Raw sockets, abstract UNIX sockets and (below ABI v10) UDP are beyond
//!   Landlock's network rules; the network namespace stops them.
//! - A worker running as root keeps its capabilities: the kernel does not
//!   enforce `RLIMIT_NPROC` for it, and without Landlock it could `setns` to
//!   another namespace through `/proc`. Prefer an unprivileged worker.
//!
//! # What the parent must do
//!
//! - Start the worker as a fresh process (`exec`), with only its standard
//!   streams open: Rust opens every file close-on-exec, so no key, database
//!   or log descriptor crosses unless passed on purpose.
//! - Create the output folder before, and pass the input and output paths.
//! - Read the [`SandboxReport`] back (the worker prints it), refuse or warn on
//!   [`SandboxReport::failures`], and sign it into the run record.
//! - In a self-test, have the worker call [`probe`] after [`enter`] with a
//!   listener the parent holds and a key file: both must fail.
//!
//! ```no_run
//! use airlock_hardening::sandbox::{self, SandboxPolicy};
//!
//! // First thing in the worker's main, before any thread or data.
//! let report = sandbox::enter(&SandboxPolicy {
//!     read_only: vec!["/srv/airlock/runs/42/input".into()],
//!     read_write: vec!["/srv/airlock/runs/42/output".into()],
//!     ..SandboxPolicy::default()
//! });
//! for c in report.failures() {
//!     eprintln!("sandbox control {} not applied: {:?}", c.name, c.error);
//! }
//! ```

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::resource::{Resource, setrlimit};
use nix::sys::stat::{Mode, umask};
use serde::{Deserialize, Serialize};

use crate::Control;

mod limits;
mod lsm;
mod netns;

/// Resource limits of the worker, each set as both soft and hard limit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// `RLIMIT_AS`: address space. `None` by default: candle maps model
    /// files and the allocator reserves arenas, so virtual size says little
    /// about memory use; bound memory with the cgroup instead.
    pub address_space_bytes: Option<u64>,
    /// `RLIMIT_CPU`: CPU seconds; the worker gets `SIGXCPU` at the limit.
    pub cpu_seconds: Option<u64>,
    /// `RLIMIT_NOFILE`: open file descriptors (one more than the highest).
    pub open_files: u64,
    /// `RLIMIT_FSIZE`: largest file the worker may write; a write past it
    /// gets `SIGXFSZ`, which ends the worker.
    pub file_size_bytes: u64,
    /// `RLIMIT_NPROC`: processes and threads of the worker's real user,
    /// counted across the whole host, not only the worker's.
    pub processes: Option<u64>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            address_space_bytes: None,
            cpu_seconds: None,
            open_files: 256,
            file_size_bytes: 8 << 30,
            processes: None,
        }
    }
}

/// What the worker may reach once it is sandboxed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxPolicy {
    /// Folders (or files) the worker may read, list and execute beneath.
    pub read_only: Vec<PathBuf>,
    /// Folders (or files) the worker may read and change beneath.
    pub read_write: Vec<PathBuf>,
    /// Resource limits.
    pub limits: Limits,
    /// Enter a network namespace with no usable interface, and deny TCP
    /// with Landlock too.
    pub isolate_network: bool,
    /// Apply the Landlock rules (filesystem, and network and scopes).
    pub landlock: bool,
    /// The parent's process id: the sandboxed process asks the kernel to kill it when its
    /// parent dies (`PR_SET_PDEATHSIG`), then checks that its parent is still this one (a
    /// parent that died before the request would otherwise go unnoticed). `None`: not asked.
    #[serde(default)]
    pub parent: Option<u32>,
}

impl Default for SandboxPolicy {
    /// Everything on, no path allowed.
    fn default() -> SandboxPolicy {
        SandboxPolicy {
            read_only: Vec::new(),
            read_write: Vec::new(),
            limits: Limits::default(),
            isolate_network: true,
            landlock: true,
            parent: None,
        }
    }
}

/// What [`enter`] did, control by control; serialized into the signed run
/// record.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SandboxReport {
    /// Every control, in the order of the module documentation.
    pub controls: Vec<Control>,
}

impl SandboxReport {
    /// The controls the policy asked for that are not in force.
    pub fn failures(&self) -> impl Iterator<Item = &Control> {
        self.controls.iter().filter(|c| c.is_failure())
    }

    /// True when every control the policy asked for is in force.
    pub fn fully_applied(&self) -> bool {
        self.failures().next().is_none()
    }

    /// The control of that name, if the report has one.
    pub fn control(&self, name: &str) -> Option<&Control> {
        self.controls.iter().find(|c| c.name == name)
    }
}

/// Confines the calling process as `policy` asks and reports each control.
///
/// Call it before any thread is spawned and before any data is read (see the
/// module documentation); it cannot be undone. It never fails: what could not
/// be applied is in the report.
pub fn enter(policy: &SandboxPolicy) -> SandboxReport {
    let threads = thread_count();
    let mut controls = vec![single_threaded(&threads)];
    if let Some(parent) = policy.parent {
        controls.push(die_with_parent(parent));
    }
    controls.push(crate::control("no-new-privileges", crate::no_new_privs()));
    controls.push(crate::control(
        "core-dumps-off",
        setrlimit(Resource::RLIMIT_CORE, 0, 0),
    ));
    // umask cannot fail; it returns the previous mask.
    umask(Mode::from_bits_truncate(0o077));
    controls.push(Control::applied("umask-077"));
    controls.extend(limits::apply(&policy.limits));
    // If the count failed, assume the worst.
    let multithreaded = !matches!(threads, Ok(1));
    controls.push(if policy.isolate_network {
        netns::enter(multithreaded)
    } else {
        Control::not_requested(netns::NAME)
    });
    controls.push(crate::control("not-dumpable", crate::set_not_dumpable()));
    controls.extend(lsm::restrict(policy, multithreaded));
    SandboxReport { controls }
}

/// The name of the parent-death control in a [`SandboxReport`].
pub const DIES_WITH_PARENT: &str = "dies-with-parent";

/// Asks the kernel to send `SIGKILL` to this process when its parent dies, then checks that the
/// parent is still `parent`: if it died before the request, the signal will never come, and the
/// control is reported failed (the caller must then stop: its parent is gone).
///
/// The signal follows the parent *thread* that started this process: the parent must start
/// its worker from a thread that lives as long as the work.
pub fn die_with_parent(parent: u32) -> Control {
    #[cfg(target_os = "linux")]
    let set = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    #[cfg(not(target_os = "linux"))]
    let set: nix::Result<()> = Err(nix::Error::ENOSYS);
    if let Err(e) = set {
        return Control::failed(DIES_WITH_PARENT, e.desc());
    }
    let now = nix::unistd::getppid().as_raw();
    if u32::try_from(now).ok() == Some(parent) {
        Control::applied(DIES_WITH_PARENT)
    } else {
        Control::failed(
            DIES_WITH_PARENT,
            format!("the parent process {parent} is gone (the parent is now {now})"),
        )
    }
}

fn thread_count() -> std::io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

fn single_threaded(threads: &std::io::Result<usize>) -> Control {
    const NAME: &str = "single-threaded";
    match threads {
        Ok(1) => Control::applied(NAME),
        Ok(n) => Control::failed(
            NAME,
            format!(
                "{n} threads were running when the sandbox was entered: it must be entered \
                 before any thread is spawned (the network namespace, no_new_privs and \
                 Landlock below ABI v8 bind only the calling thread, and a user namespace \
                 refuses a second thread)"
            ),
        ),
        Err(e) => Control::failed(
            NAME,
            format!("cannot count threads in /proc/self/task: {e}"),
        ),
    }
}

/// What [`probe`] found: both errors are `Some` inside a working sandbox.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ProbeResult {
    /// Why the TCP connection failed; `None` if it was established.
    pub connect_error: Option<String>,
    /// Why opening and reading the file failed; `None` if it was read.
    pub read_error: Option<String>,
}

/// How long [`probe`] waits for a TCP connection.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Tries what the sandbox must deny: a TCP connection to `connect` (a
/// listener the parent holds) and reading `read` (a file outside the policy,
/// such as a key file). Reads one byte at most and keeps nothing.
pub fn probe(connect: SocketAddr, read: &Path) -> ProbeResult {
    let connect_error = TcpStream::connect_timeout(&connect, PROBE_TIMEOUT)
        .err()
        .map(|e| e.to_string());
    let read_error = std::fs::File::open(read)
        .and_then(|mut f| f.read(&mut [0u8; 1]))
        .err()
        .map(|e| e.to_string());
    ProbeResult {
        connect_error,
        read_error,
    }
}

#[cfg(test)]
mod tests;
