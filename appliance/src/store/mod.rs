//! The store: the only module that speaks SQL.
//!
//! Every SQL statement of the library is in a submodule here, one per
//! concern: [`db`] (the schema, its upgrades, the metadata), [`audit`] (the
//! hash-chained log), [`objects`] (the registry's index of signed objects
//! and the lookups every versioned table shares), [`contracts`],
//! [`datasets`] (datasets and feature sets), [`models`] (runs, gates,
//! approvals, deployments, provenance), [`trust`] (peers, policies, retired
//! and revoked keys, operators, imported sequences) and [`online`]
//! (`online.db`). Each offers typed functions, "index a dataset row", "the
//! newest deployment of a slot", taking plain values and returning plain
//! values; the rest of the library calls those and never sees a connection,
//! a statement or a row.
//!
//! The home's [`Store`] holds the connection in a private field; reads go
//! through anything that [`Reads`] (the store, or an open transaction, so a
//! read inside a write sees that write's rows), whose one method takes an
//! [`Inside`] that only this module can make. So code outside `store`
//! cannot reach the connection:
//!
//! ```compile_fail,E0616
//! # fn f(home: &airlock::node::home::Home) {
//! let conn = &home.store().conn; // error: field `conn` is private
//! # }
//! ```
//!
//! ```compile_fail,E0423
//! # fn f(home: &airlock::node::home::Home) {
//! use airlock::store::{Inside, Reads};
//! let conn = home.store().connection(Inside(())); // error: `Inside` has a private field
//! # }
//! ```
//!
//! # Writes: the audited transaction
//!
//! A write that changes the store commits only together with its audit
//! record. [`AuditedTx`] wraps a SQLite transaction begun from the home
//! ([`Home::begin`](crate::node::home::Home::begin)); the store's write
//! functions take it and run their statements on the transaction inside it,
//! which nothing outside this module can reach, and its one way to commit
//! is [`AuditedTx::commit`], which takes the [`AuditEntry`], appends the
//! hash-chained record signed by the home's site key and commits, in one
//! step. Dropping it, on an error or a refusal, rolls everything back.
//! Before this type, twenty callers each had to remember `audit::append`
//! before `commit`; now a commit without its record does not compile:
//!
//! ```compile_fail,E0061
//! # fn f(home: &mut airlock::node::home::Home) -> airlock::Result<()> {
//! let tx = home.begin()?;
//! tx.commit()?; // error: `commit` takes the audit entry
//! # Ok(())
//! # }
//! ```
//!
//! and code outside the store cannot run SQL on the transaction, neither a
//! statement nor a `COMMIT` of its own (before, `AuditedTx` dereferenced to
//! the SQLite transaction, and any module could run any statement on it):
//!
//! ```compile_fail,E0599
//! # fn f(home: &mut airlock::node::home::Home) -> airlock::Result<()> {
//! let tx = home.begin()?;
//! tx.execute("DELETE FROM trusted_sites", [])?; // error: no method `execute`
//! # Ok(())
//! # }
//! ```
//!
//! while this writes a row (through a store function) and its record
//! together:
//!
//! ```no_run
//! # fn f(home: &mut airlock::node::home::Home) -> airlock::Result<()> {
//! use airlock::store::AuditEntry;
//! use airlock::vault::registry::{self, Kind};
//! let tx = home.begin()?;
//! let id = registry::put_object(&tx, Kind::Snapshot, b"a,b\n1,2\n")?;
//! tx.commit(AuditEntry::new("test.put", &[id.hex()], serde_json::json!({})))?;
//! # Ok(())
//! # }
//! ```
//!
//! A write that is only an audit record (a refusal, a recovery) is
//! [`Home::record`](crate::node::home::Home::record). No write commits without a
//! record; the one store write outside this type is `db::create`, the
//! schema of a new store, whose first record (`home.init`) follows it; and
//! `online.db`, derived data outside the home's store, is written by
//! [`online::write_table`] in a transaction of its own, recorded in the
//! home's log after it commits. `bundle verify` runs the import's own checks
//! and rows in a [`Rehearsal`], which cannot commit at all:
//!
//! ```compile_fail,E0507
//! # fn f(home: &mut airlock::node::home::Home) -> airlock::Result<()> {
//! use airlock::store::AuditEntry;
//! let tx = home.rehearse()?;
//! tx.commit(AuditEntry::new("test.put", &[], serde_json::json!({})))?; // error: cannot move out of a dereference
//! # Ok(())
//! # }
//! ```

pub mod audit;
pub mod contracts;
pub mod datasets;
pub mod db;
pub mod error;
pub mod models;
pub mod objects;
pub mod online;
pub mod predictions;
pub mod trust;

use std::ops::Deref;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::{Error, Result};
use crate::node::time::{Clock, Timestamp};
use crate::site::SiteName;
pub use crate::store::audit::AuditEntry;
use crate::trust::keys::SiteKeys;
use crate::vault::Vault;

/// A home's store: the SQLite connection, which no module outside `store`
/// can reach. The home holds one ([`Home::store`](crate::node::home::Home::store));
/// the functions of `store`'s submodules read through it (or through an
/// open [`AuditedTx`]) and every write goes through an [`AuditedTx`].
pub struct Store {
    conn: Connection,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Store {
    fn new(conn: Connection) -> Store {
        Store { conn }
    }
}

/// Proof that a call comes from inside `store`: only this module can make
/// one, so [`Reads::connection`] cannot be called from outside it.
pub struct Inside(());

/// What the store's functions read through: the [`Store`] itself, or an
/// open [`AuditedTx`] (a read inside a write sees that write's rows).
/// Outside `store` it is only passed on, never opened: its one method
/// takes an [`Inside`] that no other module can make.
pub trait Reads {
    /// The connection to read through (for `store`'s functions only).
    fn connection(&self, inside: Inside) -> &Connection;
}

/// The connection behind `r`, for this module's functions.
fn conn<R: Reads + ?Sized>(r: &R) -> &Connection {
    r.connection(Inside(()))
}

impl Reads for Store {
    fn connection(&self, _: Inside) -> &Connection {
        &self.conn
    }
}

impl Reads for Connection {
    fn connection(&self, _: Inside) -> &Connection {
        self
    }
}

impl Reads for Transaction<'_> {
    fn connection(&self, _: Inside) -> &Connection {
        self
    }
}

impl Reads for AuditedTx<'_> {
    fn connection(&self, _: Inside) -> &Connection {
        &self.tx
    }
}

impl Reads for Rehearsal<'_> {
    fn connection(&self, _: Inside) -> &Connection {
        &self.0.tx
    }
}

impl<T: Reads + ?Sized> Reads for &T {
    fn connection(&self, inside: Inside) -> &Connection {
        (**self).connection(inside)
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        Error::Store(error::StoreError(e))
    }
}

/// The capability to append an audit record: only this module can make
/// one, so `audit::append` is called by the audited transaction alone.
pub(crate) struct Appending(());

/// A store transaction that commits only with its audit record; dropped, it
/// rolls back. Begun with [`Home::begin`](crate::node::home::Home::begin) or
/// [`Home::begin_immediate`](crate::node::home::Home::begin_immediate). It lends
/// the home's keys, vault, site name and clock, which a write needs while
/// the transaction holds the store. The store's write functions take it;
/// the SQLite transaction inside is reachable from `store` alone.
pub struct AuditedTx<'h> {
    tx: Transaction<'h>,
    keys: &'h SiteKeys,
    vault: &'h Vault,
    site: &'h SiteName,
    clock: &'h Clock,
}

impl std::fmt::Debug for AuditedTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditedTx {{ site: {} }}", self.site)
    }
}

impl<'h> AuditedTx<'h> {
    /// Begins a transaction on `store` (`IMMEDIATE` takes the write lock at
    /// once). For the home.
    pub(crate) fn begin(
        store: &'h Store,
        behavior: Behavior,
        keys: &'h SiteKeys,
        vault: &'h Vault,
        site: &'h SiteName,
        clock: &'h Clock,
    ) -> Result<AuditedTx<'h>> {
        // `new_unchecked` because the home passes its connection shared for a
        // rehearsal; every other caller holds it exclusively (`&mut Home`).
        let behavior = match behavior {
            Behavior::Deferred => TransactionBehavior::Deferred,
            Behavior::Immediate => TransactionBehavior::Immediate,
        };
        let tx = Transaction::new_unchecked(&store.conn, behavior)?;
        Ok(AuditedTx {
            tx,
            keys,
            vault,
            site,
            clock,
        })
    }

    /// The home's site keys (they sign records and objects).
    pub fn keys(&self) -> &'h SiteKeys {
        self.keys
    }

    /// The home's vault.
    pub fn vault(&self) -> &'h Vault {
        self.vault
    }

    /// This node's site name.
    pub fn site(&self) -> &'h SiteName {
        self.site
    }

    /// The time now, by the home's clock: for the rows and records this
    /// transaction writes.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Appends `entry` now, inside this transaction, for a transaction that
    /// records more than one action (the policies a chain applies before the
    /// import that carried them). The transaction still commits only with
    /// its own entry. Returns the record number.
    pub fn record(&self, entry: AuditEntry) -> Result<i64> {
        crate::store::audit::append(&self.tx, self.keys, self.now(), entry, Appending(()))
    }

    /// Appends `entry` (signed by the site key, chained to the record
    /// before it) and commits, in one step: the change and its record are
    /// durable together or not at all. Returns the record number.
    pub fn commit(self, entry: AuditEntry) -> Result<i64> {
        let seq = self.record(entry)?;
        self.tx.commit()?;
        Ok(seq)
    }
}

/// When a transaction takes the store's write lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behavior {
    /// At its first write.
    Deferred,
    /// At once (`IMMEDIATE`): for a write that reads what it then writes.
    Immediate,
}

/// An audited transaction that can never commit: the full write of an
/// operation, run for its checks and then rolled back (`bundle verify` runs
/// the import's `write_rows` in one). Begun with
/// [`Home::rehearse`](crate::node::home::Home::rehearse).
#[derive(Debug)]
pub struct Rehearsal<'h>(AuditedTx<'h>);

impl<'h> Rehearsal<'h> {
    pub(crate) fn new(tx: AuditedTx<'h>) -> Rehearsal<'h> {
        Rehearsal(tx)
    }

    /// Rolls back, reporting a failure to (dropping rolls back too, silently).
    pub fn rollback(self) -> Result<()> {
        Ok(self.0.tx.rollback()?)
    }
}

impl<'h> Deref for Rehearsal<'h> {
    type Target = AuditedTx<'h>;

    fn deref(&self) -> &AuditedTx<'h> {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::home::Home;
    use crate::node::time::SetClock;

    fn rows(home: &Home) -> (i64, i64) {
        let count = |sql: &str| {
            home.store()
                .conn
                .query_row(sql, [], |r| r.get::<_, i64>(0))
                .expect("count")
        };
        (
            count("SELECT COUNT(*) FROM trusted_sites"),
            count("SELECT COUNT(*) FROM audit"),
        )
    }

    fn add_peer(tx: &AuditedTx<'_>) {
        tx.tx
            .execute(
                "INSERT INTO trusted_sites (site, key_id, signing_key, age_recipient, added_at)
             VALUES ('plant', '0123456789abcdef', 'aa', 'age1x', ?1)",
                [tx.now().to_string()],
            )
            .expect("insert");
    }

    #[test]
    fn a_dropped_transaction_leaves_no_row_and_no_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut home =
            Home::init(&dir.path().join("h"), "lab".parse().expect("site")).expect("init");
        let before = rows(&home);
        {
            let tx = home.begin().expect("begin");
            add_peer(&tx);
            // A record appended inside it goes too.
            tx.record(AuditEntry::new("test.inside", &[], serde_json::json!({})))
                .expect("record");
        }
        assert_eq!(rows(&home), before, "dropped: no row, no record");
        {
            let tx = home.rehearse().expect("rehearse");
            add_peer(&tx);
            tx.rollback().expect("rollback");
        }
        assert_eq!(rows(&home), before, "a rehearsal writes nothing");
        home.verify_audit().expect("the chain is whole");
    }

    #[test]
    fn a_commit_writes_the_change_and_its_record_at_the_homes_clock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("h");
        drop(Home::init(&root, "lab".parse().expect("site")).expect("init"));
        let at: Timestamp = "2031-05-06T07:08:09Z".parse().expect("time");
        let mut home = Home::open_with_clock(&root, SetClock::new(at).into()).expect("open");
        let (peers, records) = rows(&home);
        let operator = crate::trust::keys::SiteKeys::generate()
            .expect("keys")
            .key_id();
        let tx = home.begin_immediate().expect("begin");
        add_peer(&tx);
        let seq = tx
            .commit(
                AuditEntry::new("test.add", &["plant".into()], serde_json::json!({ "n": 1 }))
                    .by(Some(operator.clone())),
            )
            .expect("commit");
        assert_eq!(rows(&home), (peers + 1, records + 1));
        let last = home.audit_log().expect("log").pop().expect("a record");
        assert_eq!(last.seq, seq);
        assert_eq!(
            (last.action.as_str(), last.time, last.subjects),
            ("test.add", at, vec!["plant".to_string()])
        );
        assert_eq!(last.actor, operator.to_string());
        home.verify_audit().expect("the chain is whole");
    }
}
