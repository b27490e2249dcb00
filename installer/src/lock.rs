//! One `airlock-install` at a time on a root: `seal`, `update`, `rollback` and `recover`
//! hold an exclusive `flock` on `ROOT/var/lib/airlock-install/lock`, so two updates cannot
//! interleave their link switches or journals. A second one is refused at once rather than
//! queued: an operator who started two updates meant one.

use std::fs::OpenOptions;

use nix::fcntl::{Flock, FlockArg};

use crate::error::{At, Error, Result};
use crate::fsops;
use crate::layout::Layout;

/// Held while a command changes the node; released when dropped.
#[derive(Debug)]
pub struct Lock {
    _held: Flock<std::fs::File>,
}

/// Takes the root's lock, or refuses (exit 5) when another command holds it.
pub fn lock(layout: &Layout) -> Result<Lock> {
    fsops::create_dirs(&layout.state(), 0o755)?;
    let path = layout.state().join("lock");
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .at(&path)?;
    fsops::set_mode(&path, 0o600)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(held) => Ok(Lock { _held: held }),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(Error::Refused(format!(
            "another airlock-install is changing this node ({} is locked); wait for it to finish",
            path.display()
        ))),
        Err((_, e)) => Err(Error::io(&path, std::io::Error::from(e))),
    }
}
