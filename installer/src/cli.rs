//! The command line: clap types, and `run`, which calls the library and prints.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use airlock::error::exit;
use airlock_install::layout::Layout;
use airlock_install::version::Version;
use airlock_install::{Error, Result, install};

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
}

fn this_program() -> Option<PathBuf> {
    std::env::current_exe().ok()
}

/// Reads a public key file: one line of 64 hex digits.
fn read_public_key(path: &Path) -> Result<ed25519_dalek::VerifyingKey> {
    let bytes = airlock::fsx::read_capped(path, 4096)?;
    let text = String::from_utf8_lossy(&bytes);
    airlock::keys::parse_verifying_key(text.trim()).map_err(|e| {
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
            let from = match from {
                Some(f) => f,
                None => this_program()
                    .and_then(|p| p.parent().map(Path::to_path_buf))
                    .ok_or_else(|| {
                        Error::NotFound(
                            "cannot tell the folder of this program; pass --from FOLDER".into(),
                        )
                    })?,
            };
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
    }
}
