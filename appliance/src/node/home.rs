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
//! [`Home::open`] first refuses a home that leads out of itself or that
//! another local user could change: a symbolic link anywhere in it, a path
//! owned by another user, or a folder or store that group or others can
//! write (each refusal names the path and the `chmod` to run).
//!
//! Commands on one home run one at a time: [`Home::open`] takes an exclusive
//! lock on `HOME/lock` (waiting for another command to finish), then cleans
//! up after any command that died mid-write (a `kill -9`, a power cut):
//! objects it moved into the vault but never committed, and its temporary
//! files. Such a clean-up is recorded in the audit log.
//!
//! Commands that change nothing (`audit verify`, `vault verify`, listings) use
//! [`Home::open_read_only`]: the same lock and checks, but nothing written, so
//! they work on a full disk.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::error::{Error, IoContext, Result};
use crate::node::fsx;
use crate::node::time::{Clock, Timestamp};
use crate::site::SiteName;
use crate::store::audit;
use crate::store::db;
use crate::store::{AuditEntry, AuditedTx, Behavior, Rehearsal, Store};
use crate::trust::keys::{self, PublicKeys, SiteKeys};
use crate::vault::Vault;

/// An open home.
pub struct Home {
    root: PathBuf,
    site: SiteName,
    keys: SiteKeys,
    vault: Vault,
    /// The store: its connection is private to `crate::store`.
    store: Store,
    /// Opened by [`Home::open_read_only`]: nothing is written, not even on drop.
    read_only: bool,
    /// Where this home reads the time (the system clock but in tests).
    clock: Clock,
    /// Closed by [`Home::close`]: dropping it does nothing more.
    closed: bool,
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
        let clock = Clock::System;
        let keys = SiteKeys::generate()?;
        keys.save(&root.join("keys"))?;
        Vault::create(&root.join("vault"))?;
        let public = keys.public();
        let meta = [
            ("site", site.to_string()),
            ("key_id", public.key_id().to_string()),
            ("signing_key", hex::encode(public.signing.as_bytes())),
            ("age_recipient", public.age_recipient.clone()),
            ("created_at", clock.now().to_string()),
            ("export_sequence", "0".to_string()),
        ];
        let lock = lock(root, &mut Waiting::Stderr)?;
        let store = db::create(&root.join("store.db"), &meta)?;
        let vault = Vault::open(&root.join("vault"), keys.age_identity())?;
        let mut home = Home {
            _lock: lock,
            root: root.to_path_buf(),
            site,
            keys,
            vault,
            store,
            read_only: false,
            clock,
            closed: false,
        };
        home.record(AuditEntry::new(
            "home.init",
            &[],
            json!({ "site": home.site.as_str(), "key_id": public.key_id(), "age_recipient": public.age_recipient }),
        ))?;
        audit::write_checkpoint(&home.root, &home.store, &home.keys, true)?;
        Ok(home)
    }

    /// Opens an existing home, loading its keys and checking that they are
    /// the keys this home was created with.
    pub fn open(root: &Path) -> Result<Home> {
        Home::open_with(root, false, Clock::System, &mut Waiting::Stderr)
    }

    /// [`Home::open`] with the clock it reads the time from: a
    /// [`SetClock`](crate::node::time::SetClock) in tests of the freshness and
    /// expiry rules and of record times.
    pub fn open_with_clock(root: &Path, clock: Clock) -> Result<Home> {
        Home::open_with(root, false, clock, &mut Waiting::Stderr)
    }

    /// Opens an existing home for a command that changes nothing: the same lock
    /// and checks as [`Home::open`], but the store is opened read-only and
    /// nothing is written, not the lock file, the store's `-shm` file, a
    /// recovery or the audit checkpoint, so it works on a full disk. (At 100%
    /// full, `audit verify` and `vault verify` failed: issue 15, item 10.)
    ///
    /// The one exception: when a command died mid-write and left files in
    /// `vault/tmp`, the home is opened for writing so they are cleaned up and
    /// recorded first, as every command does.
    pub fn open_read_only(root: &Path) -> Result<Home> {
        Home::open_with(root, true, Clock::System, &mut Waiting::Stderr)
    }

    /// [`Home::open`], saying that it waits for another command (the home's lock is held) as
    /// `waiting` says, not on stderr: a front end that draws the screen itself (the console)
    /// shows it there instead of having the line written over its drawing.
    pub fn open_waiting(root: &Path, mut waiting: Waiting<'_>) -> Result<Home> {
        Home::open_with(root, false, Clock::System, &mut waiting)
    }

    /// [`Home::open_read_only`], saying that it waits as `waiting` says
    /// ([`Home::open_waiting`]).
    pub fn open_read_only_waiting(root: &Path, mut waiting: Waiting<'_>) -> Result<Home> {
        Home::open_with(root, true, Clock::System, &mut waiting)
    }

    fn open_with(
        root: &Path,
        read_only: bool,
        clock: Clock,
        waiting: &mut Waiting<'_>,
    ) -> Result<Home> {
        if !root.join("store.db").is_file() {
            return Err(Error::NotFound(format!(
                "{} is not an Airlock home (no store.db); run `airlock init --site NAME` or pass --home",
                root.display()
            )));
        }
        check_layout(root)?;
        let lock = if read_only {
            lock_read_only(root, waiting)?
        } else {
            lock(root, waiting)?
        };
        if read_only && recovery_pending(root) {
            drop(lock);
            return Home::open_with(root, false, clock, waiting);
        }
        let store = if read_only {
            db::open_read_only(&root.join("store.db"))?
        } else {
            db::open(&root.join("store.db"))?
        };
        if read_only && !db::is_current(&store)? {
            // A store of an older schema is upgraded (a write, with its audit record) before
            // anything reads it, read-only command or not.
            drop(store);
            drop(lock);
            return Home::open_with(root, false, clock, waiting);
        }
        let key_dir = root.join("keys");
        let keys = SiteKeys::load(&key_dir)?;
        let recorded_id = db::meta(&store, "key_id")?;
        if keys.key_id().as_str() != recorded_id {
            return Err(Error::Key {
                path: key_dir.join(keys::SIGNING_KEY_FILE),
                reason: format!(
                    "this key (id {}) is not this home's site key (id {recorded_id}); restore the right key file",
                    keys.key_id()
                ),
            });
        }
        if hex::encode(keys.public().signing.as_bytes()) != db::meta(&store, "signing_key")? {
            return Err(Error::Integrity(format!(
                "the signing key recorded in {} is not this home's key file; the store was altered",
                root.join("store.db").display()
            )));
        }
        if keys.public().age_recipient != db::meta(&store, "age_recipient")? {
            return Err(Error::Key {
                path: key_dir.join(keys::AGE_KEY_FILE),
                reason: "this age identity is not this home's; restore the right key file".into(),
            });
        }
        let site: SiteName = db::meta(&store, "site")?.parse()?;
        let vault = Vault::open(&root.join("vault"), keys.age_identity())?;
        let mut home = Home {
            _lock: lock,
            root: root.to_path_buf(),
            site,
            keys,
            vault,
            store,
            read_only,
            clock,
            closed: false,
        };
        // A store of an older schema is upgraded in place, once, with its
        // audit record, before anything else reads it.
        if !db::is_current(&home.store)? {
            let tx = home.begin_immediate()?;
            if let Some(from) = db::upgrade(&tx)? {
                tx.commit(AuditEntry::new(
                    "store.upgrade",
                    &[],
                    json!({ "from_schema": from, "to_schema": db::SCHEMA_VERSION }),
                ))?;
            }
        }
        if !read_only {
            home.recover()?;
        }
        Ok(home)
    }

    /// Removes objects that a failed command moved into the vault but never
    /// committed, and empties the staging area, while the lock is held.
    fn settle(&self) -> Result<crate::vault::Recovered> {
        let store = &self.store;
        self.vault
            .recover(&|id| crate::store::objects::is_indexed(store, id))
    }

    /// Cleans up after a command that died mid-write, and records it.
    fn recover(&mut self) -> Result<()> {
        let report = self.settle()?;
        if report.any() {
            let orphans: Vec<String> = report.orphans_removed.iter().map(|d| d.hex()).collect();
            self.record(AuditEntry::new(
                "home.recover",
                &orphans,
                json!({ "orphan_objects_removed": orphans.len(), "temp_files_removed": report.temp_removed,
                        "reason": "a command ended without finishing (killed or crashed); its uncommitted writes were removed" }),
            ))?;
        }
        Ok(())
    }

    /// Signs the audit log's head into `HOME/audit.head` if the log has
    /// grown (done when the home is closed; call it to have it sooner).
    pub fn checkpoint(&self) -> Result<()> {
        audit::write_checkpoint(&self.root, &self.store, &self.keys, false)
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

    /// The store, for the functions of `crate::store` to read through (its
    /// connection is theirs alone).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The vault.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The clock this home reads the time from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The time now, by this home's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

/// Writes: every change to the store goes through an [`AuditedTx`], which
/// commits only with its audit record (`crate::store`).
impl Home {
    /// Begins a write: a deferred transaction that takes the write lock at
    /// its first write.
    pub fn begin(&mut self) -> Result<AuditedTx<'_>> {
        self.start(Behavior::Deferred)
    }

    /// Begins a write that takes the write lock at once (`IMMEDIATE`), for
    /// one that reads what it then writes (a sequence number) and must not
    /// see another writer in between.
    pub fn begin_immediate(&mut self) -> Result<AuditedTx<'_>> {
        self.start(Behavior::Immediate)
    }

    /// A write that is only its audit record: a refusal, a recovery.
    pub fn record(&mut self, entry: AuditEntry) -> Result<i64> {
        self.begin_immediate()?.commit(entry)
    }

    /// A write run for its checks and rolled back, never committed
    /// (`bundle verify`); it takes the write lock at once, as the real
    /// write would.
    pub fn rehearse(&self) -> Result<Rehearsal<'_>> {
        self.start(Behavior::Immediate).map(Rehearsal::new)
    }

    fn start(&self, behavior: Behavior) -> Result<AuditedTx<'_>> {
        AuditedTx::begin(
            &self.store,
            behavior,
            &self.keys,
            &self.vault,
            &self.site,
            &self.clock,
        )
    }
}

/// The audit log of this home, for callers that hold a `Home` (the CLI, the
/// console): they get the records and the checks without the connection.
impl Home {
    /// Every audit record, oldest first.
    pub fn audit_log(&self) -> Result<Vec<audit::Record>> {
        audit::records(&self.store)
    }

    /// Verifies the audit chain, every signature and the signed checkpoint.
    pub fn verify_audit(&self) -> Result<audit::Verified> {
        audit::verify(&self.root, &self.store, &self.keys.public().signing)
    }
}

impl Home {
    /// Closes the home as dropping it does (the staging area cleaned, the audit log's head
    /// signed into the checkpoint), but returns a checkpoint that could not be written as an
    /// error, where dropping it prints a warning on stderr: for a front end that draws the
    /// screen itself (the console) and shows the warning there.
    pub fn close(mut self) -> Result<()> {
        self.closed = true;
        if self.read_only {
            return Ok(());
        }
        // Best effort, as on drop: whatever is left is cleaned at the next start.
        let _ = self.settle();
        self.checkpoint()
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        if self.read_only || self.closed {
            return;
        }
        // Best effort: whatever is left is cleaned at the next start.
        let _ = self.settle();
        if let Err(e) = self.checkpoint() {
            eprintln!("warning: the signed audit checkpoint was not updated: {e}");
        }
    }
}

/// Files a home may hold beside `store.db`, each a plain file of this
/// user's that no one else can write, when present.
const HOME_FILES: &[&str] = &[
    "store.db-wal",
    "store.db-shm",
    "lock",
    audit::CHECKPOINT_FILE,
    "online.db",
    "online.db-wal",
    "online.db-shm",
];

/// Operators' sealed key files (`operator::DIR`; named here so the node
/// layer does not depend on the operations above it).
const OPERATOR_DIR: &str = "operators";

/// Refuses a home that another local user could change, or that leads out
/// of itself, before anything in it is opened: the home folder, `store.db`
/// and the other files above, `keys/`, `operators/` (and the vault's
/// folders, [`Vault::open`]) must be real folders and plain files, never
/// symbolic links, owned by the user running this command, and writable by
/// no one else (the key folder and files, moreover, readable by no one else:
/// [`SiteKeys::load`]). Each refusal names the path and what to run.
fn check_layout(root: &Path) -> Result<()> {
    // The home folder itself may be reached through a link the operator
    // chose (`--home`); what it holds may not.
    let real = std::fs::canonicalize(root).at(root)?;
    fsx::require_home_path(&real, fsx::Entry::Dir)?;
    fsx::require_home_path(&root.join("store.db"), fsx::Entry::File)?;
    for f in HOME_FILES {
        fsx::check_home_path(&root.join(f), fsx::Entry::File)?;
    }
    // The key folder's and files' modes are checked by `SiteKeys::load`
    // (0700 and 0600, exit 7); here, that they are real and this user's.
    let key_dir = root.join("keys");
    fsx::check_home_entry(&key_dir, fsx::Entry::Dir)?;
    for f in [keys::SIGNING_KEY_FILE, keys::AGE_KEY_FILE] {
        fsx::check_home_entry(&key_dir.join(f), fsx::Entry::File)?;
    }
    let operators = root.join(OPERATOR_DIR);
    if fsx::check_home_path(&operators, fsx::Entry::Dir)? {
        for entry in std::fs::read_dir(&operators).at(&operators)? {
            let path = entry.at(&operators)?.path();
            fsx::check_home_entry(&path, fsx::Entry::File)?;
        }
    }
    Ok(())
}

/// How opening a home says that it waits for another command to finish with it (the home's
/// lock is held by another process).
pub enum Waiting<'a> {
    /// `waiting for another airlock command working on HOME to finish...` on stderr: what
    /// the command line prints.
    Stderr,
    /// Calls this with the home's folder, then waits. The console draws it on its screen,
    /// where a line on stderr would be written over its drawing.
    Call(&'a mut dyn FnMut(&Path)),
}

/// Takes the home's exclusive lock, waiting (and saying so, as `waiting` says) while another
/// command holds it.
fn lock(root: &Path, waiting: &mut Waiting<'_>) -> Result<std::fs::File> {
    let path = root.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        // Never through a link planted in the home.
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(&path)
        .at(&path)?;
    wait_for(file, root, waiting)
}

/// The same lock, taken through a read-only descriptor (`flock` needs no
/// write access), so that nothing is written; the file is made only if missing.
fn lock_read_only(root: &Path, waiting: &mut Waiting<'_>) -> Result<std::fs::File> {
    let path = root.join("lock");
    let opened = std::fs::OpenOptions::new()
        .read(true)
        // Never through a link planted in the home.
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(&path);
    match opened {
        Ok(file) => wait_for(file, root, waiting),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => lock(root, waiting),
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// Whether a command died mid-write and left files in `vault/tmp`.
fn recovery_pending(root: &Path) -> bool {
    std::fs::read_dir(root.join("vault").join("tmp")).is_ok_and(|mut d| d.next().is_some())
}

fn wait_for(file: std::fs::File, root: &Path, waiting: &mut Waiting<'_>) -> Result<std::fs::File> {
    let path = root.join("lock");
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            match waiting {
                Waiting::Stderr => eprintln!(
                    "waiting for another airlock command working on {} to finish...",
                    root.display()
                ),
                Waiting::Call(say) => say(root),
            }
            file.lock().at(&path)?;
            Ok(file)
        }
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_front_end_is_told_of_the_wait_instead_of_stderr_and_then_gets_the_home() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("h");
        drop(Home::init(&root, "lab".parse().expect("site")).expect("init"));
        let held = Home::open(&root).expect("open");
        let (told, heard) = std::sync::mpsc::channel();
        let r = root.clone();
        let opener = std::thread::spawn(move || {
            let mut say = |home: &Path| told.send(home.to_path_buf()).expect("send");
            Home::open_read_only_waiting(&r, Waiting::Call(&mut say)).map(drop)
        });
        // Told before it waits, with the home's folder; it gets the home once released.
        let home = heard
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("told of the wait");
        assert_eq!(home, root);
        assert!(!opener.is_finished(), "it waits while the lock is held");
        drop(held);
        opener
            .join()
            .expect("thread")
            .expect("opened once released");
    }

    #[test]
    fn close_signs_the_checkpoint_and_returns_its_failure_instead_of_printing_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("h");
        let home = Home::init(&root, "lab".parse().expect("site")).expect("init");
        home.close().expect("closed");
        let mut home = Home::open(&root).expect("open");
        home.record(AuditEntry::new("test.event", &[], json!({})))
            .expect("record");
        // The checkpoint's place taken by a folder: it cannot be written.
        let checkpoint = root.join(audit::CHECKPOINT_FILE);
        std::fs::remove_file(&checkpoint).expect("rm");
        std::fs::create_dir(&checkpoint).expect("mkdir");
        let err = home.close().expect_err("the checkpoint cannot be written");
        assert!(err.to_string().contains(audit::CHECKPOINT_FILE), "{err}");
    }

    #[test]
    fn the_layout_check_knows_the_operator_folder_by_its_name() {
        assert_eq!(OPERATOR_DIR, crate::trust::operator::DIR);
    }

    #[test]
    fn a_version_2_store_is_upgraded_at_open_with_its_record_at_the_homes_clock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("h");
        drop(Home::init(&root, "lab".parse().expect("site")).expect("init"));
        // Back to the version 2 layout: objects and signatures by digest alone.
        db::downgrade_to_version_2(&root.join("store.db"));
        let at: Timestamp = "2030-01-02T03:04:05Z".parse().expect("time");
        let home = Home::open_with_clock(&root, crate::node::time::SetClock::new(at).into())
            .expect("open upgrades");
        assert!(db::is_current(home.store()).expect("schema"));
        let last = home.audit_log().expect("log").pop().expect("a record");
        assert_eq!((last.action.as_str(), last.time), ("store.upgrade", at));
        assert_eq!(last.details["from_schema"], 2);
        home.verify_audit().expect("the chain is whole");
        drop(home);
        // Opened again: current, nothing more recorded.
        let home = Home::open(&root).expect("open");
        assert_eq!(home.audit_log().expect("log").len(), last.seq as usize);
    }
}
