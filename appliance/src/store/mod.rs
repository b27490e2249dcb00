//! Writes to the store: the audited transaction.
//!
//! A write that changes the store commits only together with its audit
//! record. [`AuditedTx`] wraps a SQLite transaction begun from the home
//! ([`Home::begin`](crate::node::home::Home::begin)); statements run through it
//! (it dereferences to [`rusqlite::Transaction`], whose own `commit` takes
//! the transaction by value and so cannot be reached through a reference),
//! and its one way to commit is [`AuditedTx::commit`], which takes the
//! [`AuditEntry`], appends the hash-chained record signed by the home's site
//! key and commits, in one step. Dropping it, on an error or a refusal,
//! rolls everything back. Before this type, twenty callers each had to
//! remember `audit::append` before `commit`; now a commit without its
//! record does not compile:
//!
//! ```compile_fail,E0061
//! # fn f(home: &mut airlock::node::home::Home) -> airlock::Result<()> {
//! let tx = home.begin()?;
//! tx.execute("DELETE FROM trusted_sites", [])?;
//! tx.commit()?; // error: `commit` takes the audit entry
//! # Ok(())
//! # }
//! ```
//!
//! and neither does committing the transaction inside it:
//!
//! ```compile_fail,E0507
//! # fn f(home: &mut airlock::node::home::Home) -> airlock::Result<()> {
//! let tx = home.begin()?;
//! tx.execute("DELETE FROM trusted_sites", [])?;
//! rusqlite::Transaction::commit(*tx)?; // error: cannot move out of a dereference
//! # Ok(())
//! # }
//! ```
//!
//! while this does, and writes the row and its record together:
//!
//! ```no_run
//! # fn f(home: &mut airlock::node::home::Home) -> airlock::Result<()> {
//! use airlock::store::AuditEntry;
//! let tx = home.begin()?;
//! tx.execute("DELETE FROM trusted_sites", [])?;
//! tx.commit(AuditEntry::new("trust.clear", &[], serde_json::json!({})))?;
//! # Ok(())
//! # }
//! ```
//!
//! What the type does not stop: SQL text that itself says `COMMIT`
//! (`execute_batch("COMMIT")` through the dereference), and a statement run
//! on the home's connection directly, which `Home.conn` still allows (it
//! autocommits; making the connection private to the store is the rest of
//! issue 14). No code here does either: every write in this library begins
//! with [`Home::begin`](crate::node::home::Home::begin).
//!
//! A write that is only an audit record (a refusal, a recovery) is
//! [`Home::record`](crate::node::home::Home::record). No write commits without a
//! record; the one store write outside this type is `db::create`, the
//! schema of a new store, whose first record (`home.init`) follows it.
//! `bundle verify` runs the import's own checks and rows in a
//! [`Rehearsal`], which cannot commit at all.

pub mod audit;
pub mod db;

use std::ops::Deref;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::Result;
use crate::node::time::{Clock, Timestamp};
use crate::site::SiteName;
pub use crate::store::audit::AuditEntry;
use crate::trust::keys::SiteKeys;
use crate::vault::Vault;

/// The capability to append an audit record: only this module can make
/// one, so `audit::append` is called by the audited transaction alone.
pub(crate) struct Appending(());

/// A store transaction that commits only with its audit record; dropped, it
/// rolls back. Begun with [`Home::begin`](crate::node::home::Home::begin) or
/// [`Home::begin_immediate`](crate::node::home::Home::begin_immediate). It lends
/// the home's keys, vault, site name and clock, which a write needs while
/// the transaction holds the store.
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
    /// Begins a transaction on `conn` (`IMMEDIATE` takes the write lock at
    /// once). For the home.
    pub(crate) fn begin(
        conn: &'h Connection,
        behavior: TransactionBehavior,
        keys: &'h SiteKeys,
        vault: &'h Vault,
        site: &'h SiteName,
        clock: &'h Clock,
    ) -> Result<AuditedTx<'h>> {
        // `new_unchecked` because the home passes its connection shared for a
        // rehearsal; every other caller holds it exclusively (`&mut Home`).
        let tx = Transaction::new_unchecked(conn, behavior)?;
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

impl<'h> Deref for AuditedTx<'h> {
    type Target = Transaction<'h>;

    fn deref(&self) -> &Transaction<'h> {
        &self.tx
    }
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
            home.conn
                .query_row(sql, [], |r| r.get::<_, i64>(0))
                .expect("count")
        };
        (
            count("SELECT COUNT(*) FROM trusted_sites"),
            count("SELECT COUNT(*) FROM audit"),
        )
    }

    fn add_peer(tx: &AuditedTx<'_>) {
        tx.execute(
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
