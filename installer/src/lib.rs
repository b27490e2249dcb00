//! `airlock-install`: an Airlock node as a regulated site installs it.
//!
//! - [`install`]: the binaries into a versioned release folder under `ROOT/opt/airlock`, the
//!   `current` link, the home (through the appliance library), the configuration and
//!   sandboxed systemd units ([`units`]);
//! - [`seal`]: a manifest of every installed file (type, mode, owner, size, SHA-256, link
//!   target), signed by the site key and recorded in the audit log; `verify` names every
//!   difference;
//! - [`release`] and [`update`]: signed release archives made at the vendor, installed
//!   offline above a version floor, health-checked, and switched back by themselves when the
//!   check fails;
//! - [`sbom`]: the CycloneDX SBOM of a release (its binaries and every crate of the
//!   `Cargo.lock` they are built from), made by `release` and `install`, signed inside every
//!   archive, checked by `update`, printed by `airlock-install sbom`.
//!
//! Everything works on a root folder ([`layout::Layout`]): `/` on a node, a temporary folder
//! in tests. The library holds every rule and every audit record; the `airlock-install`
//! binary parses the command line, calls one function, and prints the result escaped.
//!
//! ```no_run
//! use airlock_install::layout::Layout;
//! use airlock_install::version::Version;
//!
//! let layout = Layout::new(std::path::Path::new("/"));
//! let opts = airlock_install::install::Options {
//!     site: "plant".parse().map_err(airlock::Error::from)?,
//!     from: "/media/airlock-1.0.0".into(),
//!     version: "1.0.0".parse::<Version>()?,
//!     user: "airlock".into(),
//!     release_key: None,
//!     this_program: None,
//! };
//! let done = airlock_install::install::install(&layout, &opts)?;
//! assert_eq!(done.release, layout.release(&done.version));
//! # Ok::<(), airlock_install::Error>(())
//! ```
#![deny(missing_docs)]

pub mod config;
pub mod error;
pub mod fsops;
pub mod install;
pub mod layout;
pub mod lock;
pub mod owner;
pub mod release;
pub mod sbom;
pub mod seal;
pub mod units;
pub mod update;
pub mod version;

pub use error::{Error, Result};
