//! Who owns what: the service user the units run as, and acting as the home's owner.
//!
//! The home must belong to the user who opens it (`airlock::node::home` refuses any other), and on
//! a node that is the service user, while `install` and `update` need root to write
//! `/opt/airlock`. So when the installer runs as root it opens the home with its effective
//! user and group switched to the home's owner ([`as_owner_of`]) and back afterwards: the
//! home's files keep their owner, and the keys are read as that user, never copied.
//!
//! The service user is created only when the installer runs as root on a system tree (a
//! root with an `etc/passwd`); otherwise that step is skipped and the caller is told why.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use nix::unistd::{Gid, Uid, getegid, geteuid, setegid, seteuid};

use crate::error::{At, Error, Result};
use crate::layout::{Layout, system};

/// A user from `ROOT/etc/passwd`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceUser {
    /// The user name.
    pub name: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary group's gid.
    pub gid: u32,
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    geteuid().is_root()
}

/// Finds `name` in `ROOT/etc/passwd` (the file itself: the root may be an image, not this
/// system's user database).
pub fn lookup(layout: &Layout, name: &str) -> Result<Option<ServiceUser>> {
    let path = layout.passwd();
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 4 && f[0] == name {
            let bad = || Error::Rejected(format!("{}: malformed entry for {name}", path.display()));
            return Ok(Some(ServiceUser {
                name: name.to_string(),
                uid: f[2].parse().map_err(|_| bad())?,
                gid: f[3].parse().map_err(|_| bad())?,
            }));
        }
    }
    Ok(None)
}

/// What `install` did about the service user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserStep {
    /// The user existed, or was created: files of the home belong to it.
    Owned {
        /// The user.
        user: ServiceUser,
        /// Whether `useradd` made it now.
        created: bool,
    },
    /// Skipped: why (not root, or the root is not a system tree).
    Skipped(String),
}

/// Makes sure the service user `name` exists under the root, when that can be done: as root,
/// on a root that has an `etc/passwd`. A system user with its own group, no login shell,
/// its home the node's home.
pub fn ensure_user(layout: &Layout, name: &str) -> Result<UserStep> {
    if !is_root() {
        return Ok(UserStep::Skipped(format!(
            "not running as root: no service user created and no file given away; the files belong to uid {}",
            geteuid()
        )));
    }
    if !layout.passwd().is_file() {
        return Ok(UserStep::Skipped(format!(
            "{} does not exist (not a system tree): no service user created; the files belong to root",
            layout.passwd().display()
        )));
    }
    if let Some(user) = lookup(layout, name)? {
        return Ok(UserStep::Owned {
            user,
            created: false,
        });
    }
    let mut cmd = Command::new("useradd");
    cmd.args(["--system", "--user-group", "--no-create-home"])
        .args(["--home-dir", system::HOME, "--shell", "/usr/sbin/nologin"]);
    if layout.root() != Path::new("/") {
        cmd.arg("--prefix").arg(layout.root());
    }
    let status = cmd.arg(name).status().at("useradd")?;
    if !status.success() {
        return Err(Error::Refused(format!(
            "useradd could not create the service user {name} ({status})"
        )));
    }
    let user = lookup(layout, name)?.ok_or_else(|| {
        Error::NotFound(format!(
            "useradd succeeded but {name} is not in {}",
            layout.passwd().display()
        ))
    })?;
    Ok(UserStep::Owned {
        user,
        created: true,
    })
}

/// Gives `path` to `user`.
pub fn chown(path: &Path, user: &ServiceUser) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(user.uid), Some(user.gid)).at(path)
}

/// Runs `f` as the owner of `home`: when this process is root and the home belongs to
/// another user, with the effective group and user switched to the home's (and back after,
/// whatever `f` returned); otherwise, or when there is no home yet, as it is.
pub fn as_owner_of<T>(home: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let meta = match fs::symlink_metadata(home) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return f(),
        Err(e) => return Err(Error::io(home, e)),
    };
    if !is_root() || meta.uid() == 0 {
        return f();
    }
    let (uid, gid) = (geteuid(), getegid());
    let switch = |to_uid: Uid, to_gid: Gid, what: &str| -> Result<()> {
        // The group first while still root, the user last; back in the reverse order.
        let r = if to_uid.is_root() {
            seteuid(to_uid).and_then(|()| setegid(to_gid))
        } else {
            setegid(to_gid).and_then(|()| seteuid(to_uid))
        };
        r.map_err(|e| Error::io(home, std::io::Error::other(format!("{what}: {e}"))))
    };
    switch(
        Uid::from_raw(meta.uid()),
        Gid::from_raw(meta.gid()),
        "acting as the home's owner",
    )?;
    let result = f();
    switch(uid, gid, "returning to root")?;
    result
}
