//! The worker's network namespace: `unshare(CLONE_NEWNET)`, through a user
//! namespace of its own when the process is not privileged.

use std::io::Write;

use nix::errno::Errno;
use nix::sched::{CloneFlags, unshare};
use nix::sys::prctl;
use nix::unistd::{Gid, Uid, getgid, getuid};

use crate::Control;

/// The control's stable name.
pub(super) const NAME: &str = "network-namespace";

/// Moves the calling process into a new network namespace, whose only
/// interface is a loopback that is down. Namespaces belong to a thread: with
/// other threads running (`multithreaded`) only the calling thread moves, and
/// the user namespace path refuses outright.
pub(super) fn enter(multithreaded: bool) -> Control {
    // Read before unsharing: inside a new user namespace they read as the
    // overflow id (65534) until the maps are written.
    let (uid, gid) = (getuid(), getgid());
    match unshare(CloneFlags::CLONE_NEWNET) {
        Ok(()) => {
            let mut detail = "unshare(CLONE_NEWNET): the process may create namespaces".to_string();
            if multithreaded {
                detail.push_str("; only the calling thread moved, other threads were running");
            }
            return Control::applied(NAME).with_detail(detail);
        }
        Err(Errno::EPERM) => {}
        Err(e) => return Control::failed(NAME, format!("unshare(CLONE_NEWNET): {}", e.desc())),
    }
    if let Err(e) = unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET) {
        let hint = match e {
            Errno::EINVAL => " (the process has more than one thread)",
            Errno::ENOSPC => " (user.max_user_namespaces reached, or 0: user namespaces are off)",
            _ => "",
        };
        return Control::failed(
            NAME,
            format!(
                "unshare(CLONE_NEWNET): {}; unshare(CLONE_NEWUSER | CLONE_NEWNET): {}{hint}",
                Errno::EPERM.desc(),
                e.desc()
            ),
        );
    }
    let detail = format!(
        "unshare(CLONE_NEWUSER | CLONE_NEWNET), CLONE_NEWNET alone being refused (EPERM); \
         uid {uid} and gid {gid} mapped to themselves"
    );
    match map_to_self(uid, gid) {
        Ok(()) => Control::applied(NAME).with_detail(detail),
        // The network is cut all the same, so the control is in force; but
        // the worker now runs as the overflow id and cannot create files.
        Err(e) => Control::applied(NAME).with_detail(format!(
            "{detail} FAILED: {e}; files cannot be created in the sandbox"
        )),
    }
}

/// Maps `uid` and `gid` to themselves in the new user namespace
/// (user_namespaces(7)): `setgroups` must be denied before an unprivileged
/// process may write its `gid_map`.
fn map_to_self(uid: Uid, gid: Gid) -> Result<(), String> {
    // A process that is not dumpable finds its /proc/self files owned by
    // root (proc(5), PR_SET_DUMPABLE), so an unprivileged one cannot open its
    // own maps: dumpable is set back for the three writes. Nothing secret has
    // been read yet (the calling contract), and `enter` clears it again.
    let dumpable = prctl::get_dumpable().map_err(|e| format!("PR_GET_DUMPABLE: {}", e.desc()))?;
    if !dumpable {
        prctl::set_dumpable(true).map_err(|e| format!("PR_SET_DUMPABLE: {}", e.desc()))?;
    }
    let written = write_proc("setgroups", "deny")
        .and_then(|()| write_proc("uid_map", &format!("{uid} {uid} 1")))
        .and_then(|()| write_proc("gid_map", &format!("{gid} {gid} 1")));
    if !dumpable {
        prctl::set_dumpable(false).map_err(|e| format!("PR_SET_DUMPABLE: {}", e.desc()))?;
    }
    written
}

/// One `write(2)`, as the id maps require.
fn write_proc(file: &str, content: &str) -> Result<(), String> {
    let path = format!("/proc/self/{file}");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(content.as_bytes()))
        .map_err(|e| format!("writing {content:?} to {path}: {e}"))
}
