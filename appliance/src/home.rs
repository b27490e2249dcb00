//! An Airlock home: the folder that holds one node's store, vault and keys.
//!
//! ```text
//! HOME/              0700
//!   store.db         SQLite index, trust list, sequences, audit log (WAL)
//!   keys/            0700
//!     site.ed25519   signing key, 0600
//!     site.age       age X25519 identity, 0600
//!   vault/
//!     objects/ab/abcd....age   content-addressed, age-encrypted objects
//!     tmp/                     staging for writes in progress, and the journal
//!   lock             held (flock) by the one command working on this home
//! ```
//!
//! Commands on one home run one at a time: [`Home::open`] takes an exclusive
//! lock on `HOME/lock` (waiting for another command to finish), then cleans
//! up after any command that died mid-write (a `kill -9`, a power cut):
//! objects it moved into the vault but never committed, and its temporary
//! files. Such a clean-up is recorded in the audit log.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension};
use serde_json::json;

use crate::audit;
use crate::db;
use crate::error::{Error, IoContext, Result};
use crate::fsx;
use crate::keys::{self, PublicKeys, SiteKeys};
use crate::site::SiteName;
use crate::time::{Now, Timestamp};
use crate::vault::Vault;

/// An open home.
pub struct Home {
    root: PathBuf,
    site: SiteName,
    keys: SiteKeys,
    vault: Vault,
    /// The store connection.
    pub conn: Connection,
    /// Held for the home's lifetime; declared last so it is released after
    /// the store is closed.
    _lock: std::fs::File,
}

impl std::fmt::Debug for Home {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Home {{ root: {}, site: {} }}",
            self.root.display(),
            self.site
        )
    }
}

impl Home {
    /// Creates a new home for `site` at `root`. Refuses a folder that exists
    /// and is not empty, so an existing home is never overwritten.
    pub fn init(root: &Path, site: SiteName) -> Result<Home> {
        if root.exists() {
            let mut entries = std::fs::read_dir(root).at(root)?;
            if entries.next().is_some() {
                return Err(Error::Refused(format!(
                    "{} already exists and is not empty; refusing to overwrite an existing home",
                    root.display()
                )));
            }
        }
        fsx::create_private_dir(root)?;
        let keys = SiteKeys::generate()?;
        keys.save(&root.join("keys"))?;
        Vault::create(&root.join("vault"))?;
        let public = keys.public();
        let meta = [
            ("site", site.to_string()),
            ("key_id", public.key_id().to_string()),
            ("signing_key", hex::encode(public.signing.as_bytes())),
            ("age_recipient", public.age_recipient.clone()),
            ("created_at", Timestamp::now().to_string()),
            ("export_sequence", "0".to_string()),
        ];
        let lock = lock(root)?;
        let conn = db::create(&root.join("store.db"), &meta)?;
        let vault = Vault::open(&root.join("vault"), keys.age_identity())?;
        let mut home = Home {
            _lock: lock,
            root: root.to_path_buf(),
            site,
            keys,
            vault,
            conn,
        };
        let tx = home.conn.transaction()?;
        audit::append(
            &tx,
            &home.keys,
            "home.init",
            &[],
            json!({ "site": home.site.as_str(), "key_id": public.key_id(), "age_recipient": public.age_recipient }),
        )?;
        tx.commit()?;
        audit::write_checkpoint(&home.root, &home.conn, &home.keys, true)?;
        Ok(home)
    }

    /// Opens an existing home, loading its keys and checking that they are
    /// the keys this home was created with.
    pub fn open(root: &Path) -> Result<Home> {
        if !root.join("store.db").is_file() {
            return Err(Error::NotFound(format!(
                "{} is not an Airlock home (no store.db); run `airlock init --site NAME` or pass --home",
                root.display()
            )));
        }
        let lock = lock(root)?;
        let conn = db::open(&root.join("store.db"))?;
        let key_dir = root.join("keys");
        let keys = SiteKeys::load(&key_dir)?;
        let recorded_id = db::meta(&conn, "key_id")?;
        if keys.key_id().as_str() != recorded_id {
            return Err(Error::Key {
                path: key_dir.join(keys::SIGNING_KEY_FILE),
                reason: format!(
                    "this key (id {}) is not this home's site key (id {recorded_id}); restore the right key file",
                    keys.key_id()
                ),
            });
        }
        if hex::encode(keys.public().signing.as_bytes()) != db::meta(&conn, "signing_key")? {
            return Err(Error::Integrity(format!(
                "the signing key recorded in {} is not this home's key file; the store was altered",
                root.join("store.db").display()
            )));
        }
        if keys.public().age_recipient != db::meta(&conn, "age_recipient")? {
            return Err(Error::Key {
                path: key_dir.join(keys::AGE_KEY_FILE),
                reason: "this age identity is not this home's; restore the right key file".into(),
            });
        }
        let site: SiteName = db::meta(&conn, "site")?.parse()?;
        let vault = Vault::open(&root.join("vault"), keys.age_identity())?;
        let mut home = Home {
            _lock: lock,
            root: root.to_path_buf(),
            site,
            keys,
            vault,
            conn,
        };
        home.recover()?;
        Ok(home)
    }

    /// Removes objects that a failed command moved into the vault but never
    /// committed, and empties the staging area, while the lock is held.
    fn settle(&self) -> Result<crate::vault::Recovered> {
        let conn = &self.conn;
        self.vault.recover(&|id| {
            Ok(conn
                .query_row(
                    "SELECT 1 FROM objects WHERE id = ?1",
                    [id.hex()],
                    |_| Ok(()),
                )
                .optional()?
                .is_some())
        })
    }

    /// Cleans up after a command that died mid-write, and records it.
    fn recover(&mut self) -> Result<()> {
        let report = self.settle()?;
        if report.any() {
            let orphans: Vec<String> = report.orphans_removed.iter().map(|d| d.hex()).collect();
            let tx = self.conn.transaction()?;
            audit::append(
                &tx,
                &self.keys,
                "home.recover",
                &orphans,
                json!({ "orphan_objects_removed": orphans.len(), "temp_files_removed": report.temp_removed,
                        "reason": "a command ended without finishing (killed or crashed); its uncommitted writes were removed" }),
            )?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Signs the audit log's head into `HOME/audit.head` if the log has
    /// grown (done when the home is closed; call it to have it sooner).
    pub fn checkpoint(&self) -> Result<()> {
        audit::write_checkpoint(&self.root, &self.conn, &self.keys, false)
    }

    /// The home folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// This node's site name.
    pub fn site(&self) -> &SiteName {
        &self.site
    }

    /// This node's keys.
    pub fn keys(&self) -> &SiteKeys {
        &self.keys
    }

    /// This node's public keys.
    pub fn public(&self) -> PublicKeys {
        self.keys.public()
    }

    /// The vault.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The store, the vault and the keys together, for a write transaction.
    pub fn parts(&mut self) -> (&mut Connection, &Vault, &SiteKeys, &SiteName) {
        (&mut self.conn, &self.vault, &self.keys, &self.site)
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        // Best effort: whatever is left is cleaned at the next start.
        let _ = self.settle();
        if let Err(e) = self.checkpoint() {
            eprintln!("warning: the signed audit checkpoint was not updated: {e}");
        }
    }
}

/// Takes the home's exclusive lock, waiting (and saying so) while another
/// command holds it.
fn lock(root: &Path) -> Result<std::fs::File> {
    let path = root.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .at(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!(
                "waiting for another airlock command working on {} to finish...",
                root.display()
            );
            file.lock().at(&path)?;
            Ok(file)
        }
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
    }
}
