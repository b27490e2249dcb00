//! The command line: clap types, and `run`, which calls the library and prints.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use airlock::trust::personal::{PassSource, PersonalKey};

use airlock::error::exit;
use airlock_install::layout::Layout;
use airlock_install::seal::manifest::{Difference, Entry, Type};
use airlock_install::update::{self, Outcome, Recovered};
use airlock_install::version::Version;
use airlock_install::{Error, Result, install, release, sbom, seal};

use crate::out;

/// Installs an Airlock node as sandboxed systemd services, seals its files under a manifest
/// signed by the site key, and updates it offline from signed release archives.
#[derive(Parser, Debug)]
#[command(name = "airlock-install", version, max_term_width = 100)]
pub struct Cli {
    /// Print results as JSON (errors as {"error", "exit_code"} on stderr).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Install a node under ROOT: the binaries into ROOT/opt/airlock/releases/VERSION, the
    /// `current` link, the home at ROOT/var/lib/airlock, ROOT/etc/airlock/airlock.toml and
    /// the systemd units. As root on a system tree, the service user is created and owns
    /// the home.
    #[command(
        after_help = "Example:\n  airlock-install install --root / --site plant \
--release-key vendor-release.pub\n  airlock-install seal --root /"
    )]
    Install {
        /// The root folder to install under (`/` on the node itself).
        #[arg(long)]
        root: PathBuf,
        /// The node's site name.
        #[arg(long, default_value = "site")]
        site: String,
        /// The folder holding the built binaries (default: the folder of this program).
        #[arg(long)]
        from: Option<PathBuf>,
        /// The version to name the release folder by (default: this program's).
        #[arg(long = "version", value_name = "VERSION")]
        release_version: Option<String>,
        /// The user the units run as and who owns the home.
        #[arg(long, default_value = "airlock")]
        user: String,
        /// A file holding the release key's public half (hex, as `release-key` writes it):
        /// `update` accepts only archives it signed.
        #[arg(long, value_name = "FILE")]
        release_key: Option<PathBuf>,
    },
    /// Seal the installed files: a manifest of every path under ROOT/opt/airlock,
    /// ROOT/etc/airlock and the airlock* units (type, mode, owner, size, SHA-256, link
    /// target), signed by the site key and recorded in the audit log.
    Seal {
        /// The root folder the node is installed under.
        #[arg(long)]
        root: PathBuf,
        /// Why (recorded in the audit record), e.g. "after editing airlock.toml".
        #[arg(long, default_value = "sealed by the operator")]
        reason: String,
    },
    /// Compare the installed files with their seal: every path modified (and which
    /// attribute), added under a sealed folder, or removed. Exit 4 on any difference, and
    /// on a seal that is unsigned, altered, or not the newest one recorded.
    Verify {
        /// The root folder the node is installed under.
        #[arg(long)]
        root: PathBuf,
    },
    /// Make a release key (at the vendor's build site): its secret half sealed with a
    /// passphrase into FILE (0600), its public half into FILE.pub, which nodes pin with
    /// `install --release-key FILE.pub`.
    ReleaseKey {
        /// The sealed key file to create (never replaced).
        #[arg(long)]
        out: PathBuf,
        /// Read the new passphrase from this file (0600) instead of the terminal.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Make a release archive (at the vendor's build site) of the binaries in --from,
    /// signed by the release key.
    Release {
        /// The archive to create (never replaced).
        #[arg(long)]
        out: PathBuf,
        /// The release's version (MAJOR.MINOR.PATCH).
        #[arg(long = "version", value_name = "VERSION")]
        release_version: String,
        /// The sealed release key (from `release-key`).
        #[arg(long)]
        key: PathBuf,
        /// The folder holding the built binaries (default: the folder of this program).
        #[arg(long)]
        from: Option<PathBuf>,
        /// Read the key's passphrase from this file (0600) instead of the terminal.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Update the node from a release archive: refused unless the node verifies against its
    /// seal, the archive is signed by the pinned release key and its version is above the
    /// sealed floor. The new release is health-checked and switched back by itself if the
    /// check fails (exit 5).
    Update {
        /// The root folder the node is installed under.
        #[arg(long)]
        root: PathBuf,
        /// The release archive.
        archive: PathBuf,
    },
    /// Go back by hand to the previous release (the `current` and `previous` links swap);
    /// the node is sealed again. Running it twice goes forward again.
    Rollback {
        /// The root folder the node is installed under.
        #[arg(long)]
        root: PathBuf,
    },
    /// Print the SBOM of the release that runs (CycloneDX 1.5: the release's version, its
    /// binaries with their SHA-256, every crate of the Cargo.lock they are built from), one
    /// line per component, each binary checked against the installed file (exit 4 on a
    /// difference). With --json: the CycloneDX document itself.
    Sbom {
        /// The root folder the node is installed under.
        #[arg(long, default_value = "/")]
        root: PathBuf,
    },
    /// Finish or undo an update that was interrupted (a kill, a power cut). `update`,
    /// `rollback` and `seal` do this first by themselves.
    Recover {
        /// The root folder the node is installed under.
        #[arg(long)]
        root: PathBuf,
    },
}

fn this_program() -> Option<PathBuf> {
    std::env::current_exe().ok()
}

/// Reads a public key file: one line of 64 hex digits.
fn read_public_key(path: &Path) -> Result<ed25519_dalek::VerifyingKey> {
    let bytes = airlock::node::fsx::read_capped(path, 4096)?;
    let text = String::from_utf8_lossy(&bytes);
    airlock::trust::keys::parse_verifying_key(text.trim()).map_err(|e| {
        Error::Rejected(format!(
            "{}: not a release public key (64 hex digits): {e}",
            path.display()
        ))
    })
}

/// Runs one command; returns the exit code.
pub fn run(cli: Cli) -> Result<i32> {
    let json = cli.json;
    match cli.command {
        Command::Install {
            root,
            site,
            from,
            release_version,
            user,
            release_key,
        } => {
            let layout = Layout::new(&root);
            let from = from_or_here(from)?;
            let version = match release_version {
                Some(v) => v.parse()?,
                None => Version::of_this_build(),
            };
            let opts = install::Options {
                site: site.parse().map_err(airlock::Error::from)?,
                from,
                version,
                user,
                release_key: release_key.as_deref().map(read_public_key).transpose()?,
                this_program: this_program(),
            };
            let done = install::install(&layout, &opts)?;
            for why in &done.skipped {
                out::note(why);
            }
            if json {
                out::json(&done);
            } else {
                out::line(format_args!(
                    "installed release {} in {}",
                    done.version,
                    done.release.display()
                ));
                for b in &done.binaries {
                    out::line(format_args!(
                        "  {:<20} {}  {} bytes",
                        b.name, b.sha256, b.size
                    ));
                }
                out::line(format_args!("home       {}", done.home.display()));
                out::line(format_args!("config     {}", done.config.display()));
                for u in &done.units {
                    out::line(format_args!("unit       {u}"));
                }
                match (&done.user, done.user_created) {
                    (Some(u), true) => out::line(format_args!("user       {u} (created)")),
                    (Some(u), false) => out::line(format_args!("user       {u}")),
                    (None, _) => {}
                }
                out::line("next: airlock-install seal --root ROOT");
            }
            Ok(exit::OK)
        }
        Command::Seal { root, reason } => {
            airlock::text::check_free_text("--reason", &reason).map_err(airlock::Error::from)?;
            let layout = Layout::new(&root);
            say_recovered(&update::recover(&layout)?);
            let sealed = seal::seal(&layout, &reason, None)?;
            if json {
                out::json(&sealed);
            } else {
                out::line(format_args!(
                    "sealed {} paths of release {} (version floor {}) in {}",
                    sealed.entries,
                    sealed.current,
                    sealed.floor,
                    sealed.path.display()
                ));
                out::line(format_args!(
                    "manifest {} (recorded in the audit log)",
                    sealed.digest
                ));
            }
            Ok(exit::OK)
        }
        Command::Verify { root } => {
            let report = seal::verify(&Layout::new(&root))?;
            let me = this_program()
                .map(|p| report.sealed_copy_of(&p))
                .transpose()?
                .flatten();
            if json {
                out::json(&serde_json::json!({
                    "clean": report.is_clean(),
                    "report": report,
                    "this_program_sealed_as": me,
                }));
            } else {
                for d in &report.differences {
                    out::line(describe(d));
                }
                out::line(format_args!(
                    "{} sealed paths, {} differences (seal {} of {}, release {}, floor {})",
                    report.sealed,
                    report.differences.len(),
                    report.digest,
                    report.sealed_at,
                    report.current,
                    report.floor
                ));
                match me {
                    Some(p) => out::line(format_args!("this program is the sealed {p}")),
                    None => out::line("this program is not one of the sealed files"),
                }
            }
            if report.is_clean() {
                Ok(exit::OK)
            } else {
                if !json {
                    out::note("the node's files differ from their seal (exit 4)");
                }
                Ok(exit::INTEGRITY)
            }
        }
        Command::ReleaseKey {
            out: path,
            passphrase_file,
        } => {
            let pass = PassSource::from_arg(passphrase_file)
                .read("Passphrase for the new release key: ", true)?;
            let key = PersonalKey::generate()?;
            let public = pub_path(&path);
            if public.exists() {
                return Err(Error::Refused(format!(
                    "{} already exists; refusing to replace a release key",
                    public.display()
                )));
            }
            key.save_sealed(&path, &pass, None)?;
            airlock_install::fsops::write_file(
                &public,
                format!("{}\n", key.public_hex()).as_bytes(),
                0o644,
            )?;
            if json {
                out::json(&serde_json::json!({
                    "key": path, "public": public, "key_id": key.key_id().to_string(),
                }));
            } else {
                out::line(format_args!(
                    "release key {} in {}",
                    key.key_id(),
                    path.display()
                ));
                out::line(format_args!(
                    "public half in {} (nodes pin it: install --release-key)",
                    public.display()
                ));
            }
            Ok(exit::OK)
        }
        Command::Release {
            out: path,
            release_version,
            key,
            from,
            passphrase_file,
        } => {
            let version: Version = release_version.parse()?;
            let from = from_or_here(from)?;
            let pass =
                PassSource::from_arg(passphrase_file).read("Release key passphrase: ", false)?;
            let key = PersonalKey::open_sealed(&key, &pass)?;
            let made = release::make(
                &path,
                &from,
                version,
                &key,
                airlock::node::time::Clock::System.now(),
                sbom::BUILT_FROM,
            )?;
            if json {
                out::json(&made);
            } else {
                out::line(format_args!(
                    "release {} in {} (id {}, signed by release key {})",
                    made.manifest.version,
                    made.path.display(),
                    made.id,
                    made.manifest.key_id
                ));
                for f in &made.manifest.files {
                    out::line(format_args!(
                        "  {:<20} {}  {} bytes",
                        f.name, f.sha256, f.size
                    ));
                }
                out::line(format_args!(
                    "SBOM: {} binaries, {} crates of the workspace, {} other crates, from Cargo.lock sha256 {}",
                    made.sbom.files,
                    made.sbom.path_crates,
                    made.sbom.other_crates,
                    made.sbom.cargo_lock_sha256
                ));
            }
            Ok(exit::OK)
        }
        Command::Update { root, archive } => {
            let layout = Layout::new(&root);
            say_recovered(&update::recover(&layout)?);
            let outcome = update::update(&layout, &archive)?;
            if json {
                out::json(&outcome);
            }
            match outcome {
                Outcome::Updated {
                    from,
                    to,
                    release,
                    health,
                    seal,
                } => {
                    if !json {
                        out::line(format_args!("updated {from} -> {to} (release {release})"));
                        for step in &health.steps {
                            out::line(format_args!("  health: {step}"));
                        }
                        out::line(format_args!(
                            "sealed again: manifest {seal}, version floor {to}"
                        ));
                    }
                    Ok(exit::OK)
                }
                Outcome::RolledBack { from, to, health } => {
                    if !json {
                        for step in &health.steps {
                            out::line(format_args!("  health: {step}"));
                        }
                    }
                    out::note(format_args!(
                        "release {to} failed its health check and was removed; {from} runs again (recorded as install.update_rolled_back)"
                    ));
                    Ok(exit::REFUSED)
                }
            }
        }
        Command::Rollback { root } => {
            let layout = Layout::new(&root);
            let done = update::rollback(&layout)?;
            if json {
                out::json(&done);
            } else {
                out::line(format_args!("rolled back {} -> {}", done.from, done.to));
                for step in &done.health.steps {
                    out::line(format_args!("  health: {step}"));
                }
                out::line(format_args!("sealed again: manifest {}", done.seal));
            }
            if !done.health.passed {
                out::warn(format_args!(
                    "release {} fails its health check; run `airlock-install rollback` again to go back to {}",
                    done.to, done.from
                ));
            }
            Ok(exit::OK)
        }
        Command::Sbom { root } => {
            let installed = sbom::installed(&Layout::new(&root))?;
            if json {
                out::json_document(&installed.bytes)?;
            } else {
                print_sbom(&installed);
            }
            if installed.files_match() {
                Ok(exit::OK)
            } else {
                out::note(
                    "the release's binaries differ from its SBOM (exit 4); run airlock-install verify",
                );
                Ok(exit::INTEGRITY)
            }
        }
        Command::Recover { root } => {
            let r = update::recover(&Layout::new(&root))?;
            if json {
                out::json(&r);
            } else if r == Recovered::Nothing {
                out::line("no interrupted update");
            } else {
                say_recovered(&r);
            }
            Ok(exit::OK)
        }
    }
}

/// One line per component of the installed SBOM, escaped by `out::line`.
fn print_sbom(installed: &sbom::Installed) {
    let bom = &installed.bom;
    let tools = bom
        .metadata
        .tools
        .as_ref()
        .and_then(|t| t["components"][0]["name"].as_str())
        .unwrap_or("an unnamed tool");
    out::line(format_args!(
        "release {} (the SBOM names {}): {} (CycloneDX {}, sha256 {}), made {} by {}",
        installed.release,
        bom.release_version().unwrap_or("no version"),
        installed.path.display(),
        bom.spec_version,
        installed.sha256,
        bom.metadata
            .timestamp
            .as_deref()
            .unwrap_or("at no stated time"),
        tools
    ));
    let (mut files, mut path_crates, mut other) = (0, 0, 0);
    for c in &bom.components {
        let version = c.version.as_deref().unwrap_or("-");
        if c.is_file() {
            files += 1;
            let check = installed.files.iter().find(|f| f.name == c.name);
            let state = match check {
                Some(f) if f.matches() => "matches the installed file".to_string(),
                Some(sbom::FileCheck {
                    found: Some(found), ..
                }) => format!("differs: the installed file has sha256 {found}"),
                _ => "not in the release folder (or not a binary of a release)".to_string(),
            };
            out::line(format_args!(
                "file   {:<28} {:<12} sha256 {}  {state}",
                c.name,
                version,
                c.sha256().unwrap_or("none")
            ));
        } else {
            let source = c.property(sbom::SOURCE_PROPERTY);
            let detail = match (source, c.sha256()) {
                (Some("path"), _) => "the workspace's own crate".to_string(),
                (_, Some(h)) => format!("sha256 {h}"),
                (Some(s), None) => s.to_string(),
                (None, None) => "no hash".to_string(),
            };
            if source == Some("path") {
                path_crates += 1;
            } else {
                other += 1;
            }
            out::line(format_args!(
                "crate  {:<28} {:<12} {}  {detail}",
                c.name,
                version,
                c.purl.as_deref().unwrap_or("no purl")
            ));
        }
    }
    for f in installed.files.iter().filter(|f| f.listed.is_none()) {
        out::line(format_args!(
            "file   {:<28} {:<12} not in the SBOM: the installed file has sha256 {}",
            f.name,
            "-",
            f.found.as_deref().unwrap_or("none")
        ));
    }
    out::line(format_args!(
        "{} components: {files} binaries, {path_crates} crates of the workspace, {other} other crates",
        bom.components.len()
    ));
    if let Some(scope) = bom.property(sbom::SCOPE_PROPERTY) {
        out::line(format_args!("scope: {scope}"));
    }
}

/// Tells what recovery did, if anything.
fn say_recovered(r: &Recovered) {
    match r {
        Recovered::Nothing => {}
        Recovered::RolledBack { from, to } => out::note(format_args!(
            "an interrupted update to {to} was undone; {from} runs (recorded as install.recover)"
        )),
        Recovered::Finished { to } => out::note(format_args!(
            "an interrupted update to {to} was finished (recorded as install.recover)"
        )),
    }
}

/// `FILE.pub` beside a key file.
fn pub_path(key: &Path) -> PathBuf {
    let mut s = key.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

fn from_or_here(from: Option<PathBuf>) -> Result<PathBuf> {
    match from {
        Some(f) => Ok(f),
        None => this_program()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .ok_or_else(|| {
                Error::NotFound("cannot tell the folder of this program; pass --from FOLDER".into())
            }),
    }
}

fn kind(e: &Entry) -> &'static str {
    match e.kind {
        Type::File => "file",
        Type::Dir => "folder",
        Type::Symlink => "link",
        Type::Other => "special file",
    }
}

/// One line per difference: what changed, from what to what.
fn describe(d: &Difference) -> String {
    match d {
        Difference::Added { path, found } => format!("added     {path}  ({})", kind(found)),
        Difference::Removed { path, sealed } => format!("removed   {path}  ({})", kind(sealed)),
        Difference::Modified {
            path,
            attributes,
            sealed,
            found,
        } => {
            let what: Vec<String> = attributes
                .iter()
                .map(|a| match a {
                    seal::manifest::Attribute::Type => {
                        format!("type {} -> {}", kind(sealed), kind(found))
                    }
                    seal::manifest::Attribute::Mode => {
                        format!("mode {:04o} -> {:04o}", sealed.mode, found.mode)
                    }
                    seal::manifest::Attribute::Owner => format!(
                        "owner {}:{} -> {}:{}",
                        sealed.uid, sealed.gid, found.uid, found.gid
                    ),
                    seal::manifest::Attribute::Content => match (&sealed.target, &found.target) {
                        (Some(a), Some(b)) => format!("content (link target {a} -> {b})"),
                        _ => format!(
                            "content (sha256 {} -> {})",
                            short(sealed.sha256.as_deref()),
                            short(found.sha256.as_deref())
                        ),
                    },
                })
                .collect();
            format!("modified  {path}  {}", what.join(", "))
        }
    }
}

fn short(hex: Option<&str>) -> &str {
    hex.map_or("-", |h| &h[..h.len().min(12)])
}
