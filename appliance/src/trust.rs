//! The trust list: peer sites whose bundles this node accepts.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde_json::json;

use crate::audit;
use crate::error::{Error, Result};
use crate::home::Home;
use crate::site::SiteCard;
use crate::time::{Now, Timestamp};

/// A trusted peer.
#[derive(Clone, Debug, Serialize)]
pub struct Peer {
    /// Site name (its identifier).
    pub id: String,
    /// Signing key id.
    pub key_id: String,
    /// age recipient.
    pub age_recipient: String,
    /// When it was trusted.
    pub added_at: String,
}

/// Trusts the site described by `card`. Adding the same card again is a
/// no-op; a different key for an already trusted site is refused (a key
/// change must be a deliberate removal and re-add, not a side effect).
pub fn add(home: &mut Home, card: &SiteCard) -> Result<(Peer, bool)> {
    if card.site == *home.site() {
        return Err(Error::Refused(format!(
            "{} is this site's own card; trust is for peer sites",
            card.site
        )));
    }
    if let Some(p) = crate::policy::current(&home.conn, home.vault())? {
        return Err(Error::Refused(format!(
            "this node is governed by trust policy v{}: peers are added by a new policy version signed by the root key, not by `trust add`",
            p.version()
        )));
    }
    let signing = hex::encode(card.keys.signing.as_bytes());
    let existing: Option<(String, String, String)> = home
        .conn
        .query_row(
            "SELECT signing_key, age_recipient, added_at FROM trusted_sites WHERE site = ?1",
            [card.site.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let peer = |added_at: String| Peer {
        id: card.site.to_string(),
        key_id: card.keys.key_id().to_string(),
        age_recipient: card.keys.age_recipient.clone(),
        added_at,
    };
    if let Some((sk, age, added_at)) = existing {
        if sk == signing && age == card.keys.age_recipient {
            return Ok((peer(added_at), false));
        }
        return Err(Error::Refused(format!(
            "site {} is already trusted with other keys; refusing a silent key change (key rotation arrives with the signed trust policy)",
            card.site
        )));
    }
    let now = Timestamp::now().to_string();
    let (conn, _, keys, _) = home.parts();
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO trusted_sites (site, key_id, signing_key, age_recipient, added_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![card.site.as_str(), card.keys.key_id().as_str(), signing, card.keys.age_recipient, now],
    )?;
    audit::append(
        &tx,
        keys,
        "trust.add",
        &[card.site.to_string()],
        json!({ "site": card.site.as_str(), "key_id": card.keys.key_id(), "age_recipient": card.keys.age_recipient }),
    )?;
    tx.commit()?;
    Ok((peer(now), true))
}

/// Lists trusted peers.
pub fn list(home: &Home) -> Result<Vec<Peer>> {
    let mut stmt = home
        .conn
        .prepare("SELECT site, key_id, age_recipient, added_at FROM trusted_sites ORDER BY site")?;
    let rows = stmt.query_map([], |r| {
        Ok(Peer {
            id: r.get(0)?,
            key_id: r.get(1)?,
            age_recipient: r.get(2)?,
            added_at: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
