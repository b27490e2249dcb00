//! Where an installed node's files are, under a root folder (`/` on a real node, a temporary
//! folder in tests or an image being built).
//!
//! ```text
//! ROOT/
//!   opt/airlock/
//!     releases/VERSION/      airlock, airlock-worker, airlock-tui, airlock-install (0755),
//!                            sbom.cdx.json (0644, the release's SBOM)
//!     current -> releases/V  the release that runs (relative link, switched by rename)
//!     previous -> releases/U the release `rollback` goes back to
//!   etc/airlock/airlock.toml the node's configuration (site, user, release key, units)
//!   etc/systemd/system/airlock-serve@.service, airlock-verify.service, airlock-verify.timer
//!   var/lib/airlock/         the home (`airlock::node::home`), owned by the service user
//!   var/lib/airlock-install/ the installer's state: seal.json (signed), update.journal
//! ```
//!
//! The paths a unit file names are the node's own (`/opt/airlock/...`), never `ROOT/...`.

use std::path::{Path, PathBuf};

use crate::version::Version;

/// The node's paths as the running system sees them (what unit files name).
pub mod system {
    /// The installed releases and the `current` link.
    pub const OPT: &str = "/opt/airlock";
    /// The home of the node.
    pub const HOME: &str = "/var/lib/airlock";
    /// The configuration folder.
    pub const ETC: &str = "/etc/airlock";
    /// The installer's state (the seal).
    pub const STATE: &str = "/var/lib/airlock-install";
    /// Where `airlock-serve@NAME` makes its socket `NAME.sock`.
    pub const RUN: &str = "/run/airlock";
}

/// The binaries a release holds. `airlock` is required; the others are copied when present.
pub const BINARIES: &[&str] = &[
    "airlock",
    "airlock-worker",
    "airlock-worker-cuda",
    "airlock-tui",
    "airlock-install",
];

/// The binary a release must hold.
pub const REQUIRED_BINARY: &str = "airlock";

/// The paths of one node under its root.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout of the node under `root`.
    pub fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
        }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn at(&self, system_path: &str) -> PathBuf {
        self.root.join(system_path.trim_start_matches('/'))
    }

    /// `ROOT/opt/airlock`.
    pub fn opt(&self) -> PathBuf {
        self.at(system::OPT)
    }

    /// `ROOT/opt/airlock/releases`.
    pub fn releases(&self) -> PathBuf {
        self.opt().join("releases")
    }

    /// The folder of one release.
    pub fn release(&self, version: &Version) -> PathBuf {
        self.releases().join(version.to_string())
    }

    /// The `current` link.
    pub fn current(&self) -> PathBuf {
        self.opt().join("current")
    }

    /// The `previous` link.
    pub fn previous(&self) -> PathBuf {
        self.opt().join("previous")
    }

    /// `ROOT/var/lib/airlock`.
    pub fn home(&self) -> PathBuf {
        self.at(system::HOME)
    }

    /// `ROOT/etc/airlock`.
    pub fn etc(&self) -> PathBuf {
        self.at(system::ETC)
    }

    /// `ROOT/etc/airlock/airlock.toml`.
    pub fn config(&self) -> PathBuf {
        self.etc().join("airlock.toml")
    }

    /// `ROOT/etc/systemd/system`.
    pub fn units(&self) -> PathBuf {
        self.at("/etc/systemd/system")
    }

    /// `ROOT/var/lib/airlock-install`.
    pub fn state(&self) -> PathBuf {
        self.at(system::STATE)
    }

    /// The signed manifest of the installed files.
    pub fn seal(&self) -> PathBuf {
        self.state().join("seal.json")
    }

    /// The journal of an update in progress.
    pub fn journal(&self) -> PathBuf {
        self.state().join("update.journal")
    }

    /// `ROOT/etc/passwd`.
    pub fn passwd(&self) -> PathBuf {
        self.at("/etc/passwd")
    }
}
