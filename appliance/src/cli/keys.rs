//! `airlock keys`, `policy`, `site` and `trust`: parse, call the library, print.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::json;

use airlock::error::{Error, Result, exit};
use airlock::node::fsx;
use airlock::node::home::Home;
use airlock::node::time::Clock;
use airlock::site::SiteCard;
use airlock::trust;
use airlock::trust::operator::{self};
use airlock::trust::personal::PassSource;
use airlock::trust::policy::{self};

use crate::cli::output::Out;

use crate::cli::*;

#[derive(Subcommand, Debug)]
pub(crate) enum KeysCmd {
    /// The site's offline root key, which signs trust policies.
    #[command(subcommand)]
    Root(RootCmd),
    /// Operator keys: one per person, sealed with their passphrase.
    #[command(subcommand)]
    Operator(OperatorCmd),
}

#[derive(Subcommand, Debug)]
pub(crate) enum RootCmd {
    /// Create a root key on removable media: DIR/root.key (sealed with a
    /// passphrase) and DIR/root.pub. Run it on an offline machine or with
    /// the media mounted; the root key is never stored on the node. Note
    /// the key id it prints: nodes pin it at their first policy.
    Init {
        /// A new or empty folder on the removable media.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Read the new passphrase from FILE (mode 0600) instead of asking.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum OperatorCmd {
    /// Create an operator key for one person, sealed with their passphrase
    /// and certified by the site key. Prints the public key for the trust
    /// policy's `operators` list.
    New {
        /// The operator's name (a-z, 0-9, '.', '_', '-'), e.g. "j.smith".
        name: String,
        /// Read the new passphrase from FILE (mode 0600) instead of asking.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// List operators with their roles under the trust policy in force.
    List,
}

#[derive(Subcommand, Debug)]
pub(crate) enum PolicyCmd {
    /// Print a TOML draft of the next policy version for this node (the
    /// policy in force, or this node's peers and operators for the first).
    Template {
        /// Add this root key (its folder or root.pub) to the draft's root keys.
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
    /// Sign a TOML draft with a root key (offline), or add a root key's
    /// signature to a signed policy (for a threshold of root keys).
    Sign {
        /// The TOML draft, or a signed policy file.
        input: PathBuf,
        /// The root key's folder (holding root.key).
        #[arg(long, value_name = "DIR")]
        root: PathBuf,
        /// Where to write the signed policy (must not exist).
        #[arg(long)]
        out: PathBuf,
        /// Read the root key's passphrase from FILE (mode 0600).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Put signed policies in force, in order: each must have a higher
    /// version and be signed by the root keys of the one before it. The
    /// first policy on a node needs --root-key-id. Updates may also arrive
    /// in bundles (bundle export ... policy:FILE).
    Apply {
        /// Signed policy files, oldest first.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The root key id to pin (first policy only): confirm it with the
        /// root key holder, by voice or on paper.
        #[arg(long, value_name = "ID")]
        root_key_id: Option<String>,
    },
    /// Show the policy in force.
    Show,
}

#[derive(Subcommand, Debug)]
pub(crate) enum SiteCmd {
    /// Write this site's card to a file to hand to a peer site.
    Card {
        /// Where to write the card.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum TrustCmd {
    /// Trust a peer site's card (compare its key id with the peer first).
    Add {
        /// The peer's site card file.
        card: PathBuf,
    },
    /// List trusted peer sites.
    List,
}

/// Runs `airlock keys`.
pub(crate) fn keys(home_dir: &Path, out: Out, cmd: KeysCmd) -> Result<i32> {
    let open = || Home::open(home_dir);
    // Commands that change nothing: they work on a full disk.
    let open_read_only = || Home::open_read_only(home_dir);
    match cmd {
        KeysCmd::Root(RootCmd::Init {
            out: dir,
            passphrase_file,
        }) => {
            let pass = PassSource::from_arg(passphrase_file)
                .read("New passphrase for the root key: ", true)?;
            let card = policy::init_root(&dir, &pass, home_dir, Clock::System.now())?;
            out.emit(&card, |c| {
                out.line(format_args!("created root key {} in {}", c.key_id, dir.display()));
                out.line(format_args!(
                    "  {} (sealed with the passphrase) and {}",
                    policy::ROOT_KEY_FILE,
                    policy::ROOT_PUB_FILE
                ));
                out.line(format_args!(
                    "write the key id down: each node pins it at its first policy (airlock policy apply FILE --root-key-id {})",
                    c.key_id
                ));
                out.line("keep this media offline; the root key never goes on a node");
            });
        }
        KeysCmd::Operator(OperatorCmd::New {
            name,
            passphrase_file,
        }) => {
            let mut home = open()?;
            let info = operator::create(&mut home, &name, PassSource::from_arg(passphrase_file))?;
            out.emit(&info, |i| {
                out.line(format_args!(
                    "created operator {} (key id {})",
                    i.name, i.key_id
                ));
                out.line("for the trust policy's [[operators]]:");
                out.line(format_args!("  name = {:?}", i.name));
                out.line(format_args!("  key = {:?}", i.key));
            });
        }
        KeysCmd::Operator(OperatorCmd::List) => {
            let home = open_read_only()?;
            let list = operator::list(&home)?;
            out.emit(&list, |l| {
                if l.is_empty() {
                    out.line("no operators; create one with `airlock keys operator new NAME`");
                }
                for o in l {
                    let roles: Vec<&str> = o.roles.iter().map(|r| r.as_str()).collect();
                    out.line(format_args!(
                        "{:<20} key {}  {}",
                        o.name,
                        o.key_id,
                        if o.revoked {
                            "REVOKED".to_string()
                        } else if roles.is_empty() {
                            "no roles".to_string()
                        } else {
                            format!("roles: {}", roles.join(", "))
                        }
                    ));
                }
            });
        }
    }
    Ok(exit::OK)
}

/// Runs `airlock policy`.
pub(crate) fn policy_cmd(home_dir: &Path, out: Out, cmd: PolicyCmd) -> Result<i32> {
    let open = || Home::open(home_dir);
    // Commands that change nothing: they work on a full disk.
    let open_read_only = || Home::open_read_only(home_dir);
    match cmd {
        PolicyCmd::Template { root } => {
            let home = open()?;
            let card = root.as_deref().map(policy::read_root_card).transpose()?;
            out.text(&policy::template(&home, card.as_ref())?);
        }
        PolicyCmd::Sign {
            input,
            root,
            out: file,
            passphrase_file,
        } => {
            let pass = PassSource::from_arg(passphrase_file)
                .read("Passphrase for the root key: ", false)?;
            let key = policy::open_root(&root, &pass)?;
            let signed = policy::sign(&input, &key, Clock::System.now())?;
            fsx::write_new(&file, &signed.render())?;
            let v = json!({ "file": file.display().to_string(), "site": signed.body.site.as_str(),
                            "version": signed.body.version, "signed_by": key.key_id(),
                            "signatures": signed.signatures.len() });
            out.emit(&v, |_| {
                out.line(format_args!(
                    "signed trust policy v{} for site {} with root key {} ({} signature(s)) into {}",
                    signed.body.version,
                    signed.body.site,
                    key.key_id(),
                    signed.signatures.len(),
                    file.display()
                ))
            });
        }
        PolicyCmd::Apply { files, root_key_id } => {
            let mut home = open()?;
            let chain = files
                .iter()
                .map(|f| policy::read(f))
                .collect::<Result<Vec<_>>>()?;
            let applied = policy::apply(&mut home, &chain, root_key_id.as_deref())?;
            out.emit(&applied, |a| {
                for x in a {
                    match x {
                        policy::Applied::Applied { version, id } => out.line(format_args!(
                            "trust policy v{version} is in force ({})",
                            id.short()
                        )),
                        policy::Applied::AlreadyInForce { version } => {
                            out.line(format_args!("trust policy v{version} was already in force"))
                        }
                    }
                }
            });
        }
        PolicyCmd::Show => {
            let home = open_read_only()?;
            let Some(p) = policy::in_force(&home)? else {
                return Err(Error::NotFound(
                    "no trust policy is in force on this node (setup mode: peers by `trust add`, any operator may approve)".into(),
                ));
            };
            let mut v =
                serde_json::to_value(p.body()).map_err(|e| Error::Rejected(e.to_string()))?;
            v["id"] = json!(p.id.hex());
            v["signed_by"] = json!(
                p.policy
                    .signatures
                    .iter()
                    .map(|s| s.key_id.clone())
                    .collect::<Vec<_>>()
            );
            out.emit(&v, |_| {
                let b = p.body();
                out.line(format_args!(
                    "trust policy v{} for site {} ({}), signed {}",
                    b.version,
                    b.site,
                    p.id.short(),
                    b.created_at
                ));
                out.line(format_args!(
                    "root keys: {} of {}",
                    b.root.threshold,
                    b.root.keys.len()
                ));
                for pe in &b.peers {
                    out.line(format_args!("peer      {}", pe.site));
                }
                for o in &b.operators {
                    let roles: Vec<&str> = o.roles.iter().map(|r| r.as_str()).collect();
                    out.line(format_args!(
                        "operator  {:<20} {}",
                        o.name,
                        roles.join(", ")
                    ));
                }
                for (slot, k) in &b.approvals {
                    out.line(format_args!("approvals {slot}: {k}"));
                }
                for (slot, sites) in &b.gates {
                    let sites: Vec<&str> = sites.iter().map(|s| s.as_str()).collect();
                    out.line(format_args!(
                        "gates     {slot}: {} and this site",
                        sites.join(", ")
                    ));
                }
                for r in &b.revoked {
                    out.line(format_args!("revoked   {r}"));
                }
            });
        }
    }
    Ok(exit::OK)
}

/// Runs `airlock site`.
pub(crate) fn site(home_dir: &Path, out: Out, cmd: SiteCmd) -> Result<i32> {
    let open = || Home::open(home_dir);
    match cmd {
        SiteCmd::Card { out: path } => {
            let home = open()?;
            fsx::write_new(
                &path,
                &SiteCard::render(home.site(), home.keys(), home.now())?,
            )?;
            let v = json!({ "id": home.site().as_str(), "key_id": home.keys().key_id(), "file": path.display().to_string() });
            out.emit(&v, |_| {
                out.line(format_args!(
                    "wrote card of site {} (key id {}) to {}",
                    home.site(),
                    home.keys().key_id(),
                    path.display()
                ))
            });
        }
    }
    Ok(exit::OK)
}

/// Runs `airlock trust`.
pub(crate) fn trust_cmd(home_dir: &Path, out: Out, cmd: TrustCmd) -> Result<i32> {
    let open = || Home::open(home_dir);
    // Commands that change nothing: they work on a full disk.
    let open_read_only = || Home::open_read_only(home_dir);
    match cmd {
        TrustCmd::Add { card } => {
            let mut home = open()?;
            let card = read_card(&card)?;
            let (peer, added) = trust::add(&mut home, &card)?;
            out.emit(&json!({ "peer": peer, "added": added }), |_| {
                if added {
                    out.line(format_args!(
                        "trusted site {} (key id {})",
                        peer.id, peer.key_id
                    ));
                } else {
                    out.line(format_args!(
                        "site {} (key id {}) was already trusted",
                        peer.id, peer.key_id
                    ));
                }
            });
        }
        TrustCmd::List => {
            let home = open_read_only()?;
            let peers = trust::list(&home)?;
            out.emit(&peers, |ps| {
                for p in ps {
                    out.line(format_args!(
                        "{:<20} key {}  trusted since {}",
                        p.id, p.key_id, p.added_at
                    ));
                }
            });
        }
    }
    Ok(exit::OK)
}
