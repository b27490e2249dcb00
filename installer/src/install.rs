//! `airlock-install install`: a new node under a root folder.
//!
//! Nothing is written before every check has passed (no install there yet, no home there
//! yet, the binaries to copy exist). Then, in this order: the service user (as root on a
//! system tree), the release folder (copied under a temporary name and renamed), the
//! `current` link, the configuration, the units, the home (`airlock::node::home::Home::init`, as
//! the service user), and an `install.install` record in the home's audit log naming the
//! version and the digest of every binary and of the SBOM.
//!
//! The release folder gets the SBOM of what was copied ([`crate::sbom`]), made from the
//! `Cargo.lock` this program was built from: run the `airlock-install` built with the
//! binaries (the one on the install media), so that the lock is theirs.

use std::fs;
use std::path::{Path, PathBuf};

use airlock::node::home::Home;
use airlock::site::SiteName;
use airlock::store::AuditEntry;
use ed25519_dalek::VerifyingKey;
use serde::Serialize;
use serde_json::json;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::fsops;
use crate::layout::{BINARIES, Layout, REQUIRED_BINARY, system};
use crate::owner::{self, UserStep};
use crate::sbom;
use crate::units;
use crate::version::Version;

/// What to install.
#[derive(Clone, Debug)]
pub struct Options {
    /// The node's site name (its home's).
    pub site: SiteName,
    /// The folder holding the built binaries.
    pub from: PathBuf,
    /// The version the release folder is named by.
    pub version: Version,
    /// The user the units run as.
    pub user: String,
    /// The release key pinned for updates.
    pub release_key: Option<VerifyingKey>,
    /// This `airlock-install` program, copied into the release when `from` has none, so the
    /// verify unit runs a sealed copy of it.
    pub this_program: Option<PathBuf>,
}

/// One binary copied into the release.
#[derive(Clone, Debug, Serialize)]
pub struct Copied {
    /// Its name.
    pub name: String,
    /// The SHA-256 of its content.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

/// What `install` did.
#[derive(Clone, Debug, Serialize)]
pub struct Installed {
    /// The installed version.
    pub version: Version,
    /// The release folder.
    pub release: PathBuf,
    /// The binaries copied into it.
    pub binaries: Vec<Copied>,
    /// The SHA-256 of the SBOM written beside them.
    pub sbom: String,
    /// The unit files written.
    pub units: Vec<String>,
    /// The configuration file.
    pub config: PathBuf,
    /// The home.
    pub home: PathBuf,
    /// The service user, when one owns the home.
    pub user: Option<String>,
    /// Whether the service user was created now.
    pub user_created: bool,
    /// Steps skipped, each with why.
    pub skipped: Vec<String>,
}

fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Installs a node under `layout`'s root.
pub fn install(layout: &Layout, opts: &Options) -> Result<Installed> {
    if exists(&layout.current()) || exists(&layout.opt()) {
        return Err(Error::Refused(format!(
            "{} already exists: a node is installed here; use `airlock-install update` to change its release",
            layout.opt().display()
        )));
    }
    let home = layout.home();
    if fs::read_dir(&home).is_ok_and(|mut d| d.next().is_some()) {
        return Err(Error::Refused(format!(
            "{} exists and is not empty; refusing to overwrite an existing home",
            home.display()
        )));
    }
    let mut sources = Vec::new();
    for name in BINARIES {
        let path = opts.from.join(name);
        if path.is_file() {
            sources.push((name.to_string(), path));
        } else if *name == "airlock-install"
            && let Some(me) = &opts.this_program
        {
            sources.push((name.to_string(), me.clone()));
        }
    }
    if !sources.iter().any(|(n, _)| n == REQUIRED_BINARY) {
        return Err(Error::NotFound(format!(
            "{} does not exist: build the binaries first (cargo build --release --locked) or pass --from FOLDER",
            opts.from.join(REQUIRED_BINARY).display()
        )));
    }

    // The lock the SBOM is made from, read before anything is written.
    let lock = sbom::Lock::parse(sbom::BUILT_FROM)?;

    let mut skipped = Vec::new();
    let user = match owner::ensure_user(layout, &opts.user)? {
        UserStep::Owned { user, created } => Some((user, created)),
        UserStep::Skipped(why) => {
            skipped.push(why);
            None
        }
    };

    // The release: copied under a temporary name, synced, then renamed into place, so a
    // folder named by a version is always complete.
    fsops::create_dirs(&layout.releases(), 0o755)?;
    let release = layout.release(&opts.version);
    let partial = layout.releases().join(format!(".partial-{}", opts.version));
    fsops::remove_tree(&partial)?;
    fsops::create_dirs(&partial, 0o755)?;
    let mut binaries = Vec::new();
    for (name, from) in &sources {
        let (digest, size) = fsops::copy_new(from, &partial.join(name), 0o755)?;
        binaries.push(Copied {
            name: name.clone(),
            sha256: digest.hex(),
            size,
        });
    }
    let listed: Vec<sbom::Binary> = binaries
        .iter()
        .map(|b| sbom::Binary {
            name: b.name.clone(),
            sha256: b.sha256.clone(),
            size: b.size,
        })
        .collect();
    let sbom_bytes = lock.sbom(
        opts.version,
        &listed,
        airlock::node::time::Clock::System.now(),
    )?;
    fsops::write_file(&partial.join(sbom::FILE), &sbom_bytes, sbom::MODE)?;
    let sbom_sha256 = airlock::digest::Digest::of(&sbom_bytes).hex();
    fsops::sync_dir(&partial)?;
    fs::rename(&partial, &release).map_err(|e| Error::io(&release, e))?;
    fsops::sync_dir(&layout.releases())?;
    fsops::switch_link(&layout.current(), &fsops::release_target(&opts.version))?;

    // The configuration and the units.
    fsops::create_dirs(&layout.etc(), 0o755)?;
    let config = Config {
        site: opts.site.to_string(),
        home: system::HOME.to_string(),
        user: opts.user.clone(),
        release_key: opts.release_key.map(|k| hex::encode(k.as_bytes())),
    };
    fsops::write_file(&layout.config(), config.render().as_bytes(), 0o644)?;
    fsops::create_dirs(&layout.units(), 0o755)?;
    let mut unit_names = Vec::new();
    for unit in units::units(&opts.user) {
        fsops::write_file(&layout.units().join(unit.name), unit.text.as_bytes(), 0o644)?;
        unit_names.push(unit.name.to_string());
    }
    fsops::create_dirs(&layout.state(), 0o755)?;

    // The home, made by the appliance library as the user who will own it.
    if let Some(parent) = home.parent() {
        fsops::create_dirs(parent, 0o755)?;
    }
    if let Some((u, _)) = &user {
        fsops::create_dirs(&home, 0o700)?;
        owner::chown(&home, u)?;
    }
    let record = json!({
        "version": opts.version,
        "binaries": binaries,
        "sbom": sbom_sha256,
        "units": unit_names,
        "user": opts.user,
        "release_key": config.release_key,
    });
    owner::as_owner_of(&home, || {
        let mut home = Home::init(&home, opts.site.clone())?;
        home.record(AuditEntry::new("install.install", &[], record))?;
        Ok(())
    })?;

    Ok(Installed {
        version: opts.version,
        release,
        binaries,
        sbom: sbom_sha256,
        units: unit_names,
        config: layout.config(),
        home,
        user_created: user.as_ref().is_some_and(|(_, c)| *c),
        user: user.map(|(u, _)| u.name),
        skipped,
    })
}
