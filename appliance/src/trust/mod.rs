//! The trust list: peer sites whose bundles this node accepts.

pub mod keys;
pub mod operator;
pub mod personal;
pub mod policy;

use serde::Serialize;
use serde_json::json;

use crate::error::{Error, Result};
use crate::node::home::Home;
use crate::site::{SiteCard, SiteName};
use crate::store::AuditEntry;
use crate::trust::policy::InForce;

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
    if let Some(p) = crate::trust::policy::current(home.store(), home.vault())? {
        return Err(Error::Refused(format!(
            "this node is governed by trust policy v{}: peers are added by a new policy version signed by the root key, not by `trust add`",
            p.version()
        )));
    }
    let signing = hex::encode(card.keys.signing.as_bytes());
    let existing = crate::store::trust::trusted_site(home.store(), card.site.as_str())?;
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
    let tx = home.begin()?;
    let now = tx.now().to_string();
    crate::store::trust::insert_trusted_site(
        &tx,
        &crate::store::trust::PeerRow {
            site: card.site.as_str(),
            key_id: card.keys.key_id().as_str(),
            signing_key: &signing,
            age_recipient: &card.keys.age_recipient,
        },
        &now,
    )?;
    tx.commit(AuditEntry::new(
        "trust.add",
        &[card.site.to_string()],
        json!({ "site": card.site.as_str(), "key_id": card.keys.key_id(), "age_recipient": card.keys.age_recipient }),
    ))?;
    Ok((peer(now), true))
}

/// The keys this node trusts for one peer site.
#[derive(Clone, Debug)]
pub struct TrustedPeer {
    /// Its signing key's id.
    pub key_id: String,
    /// Its signing key.
    pub signing: ed25519_dalek::VerifyingKey,
    /// Its age recipient (what bundles to it are encrypted to).
    pub age_recipient: String,
}

/// The keys this node trusts for peer `site`, or `None` if it is not a
/// peer: the trust lookup behind bundle import and export.
///
/// Under a trust policy they are taken from the policy in force, verified
/// through its root chain ([`crate::trust::policy::current`]), never from the
/// `trusted_sites` rows, which anyone able to write `store.db` could edit
/// (an attack once swapped lab's key there for a rogue one, and a bundle
/// forged as lab was imported although the root-signed policy lists lab's
/// real key). Every row must then agree with the policy: one that does not
/// is an integrity error naming its site. In setup mode the rows are all
/// there is.
pub fn peer(home: &Home, site: &SiteName) -> Result<Option<TrustedPeer>> {
    let Some(p) = crate::trust::policy::current(home.store(), home.vault())? else {
        return crate::vault::registry::trusted_peer(home.store(), site)?
            .map(|(key_id, signing)| -> Result<TrustedPeer> {
                let age_recipient =
                    crate::store::trust::age_recipient(home.store(), site.as_str())?;
                Ok(TrustedPeer {
                    key_id,
                    signing,
                    age_recipient,
                })
            })
            .transpose();
    };
    check_list_matches(home, &p)?;
    p.body()
        .peers
        .iter()
        .find(|e| e.site == *site)
        .map(|e| {
            let signing = crate::trust::keys::parse_verifying_key(&e.signing_key)?;
            Ok(TrustedPeer {
                key_id: crate::trust::keys::KeyId::of(&signing).to_string(),
                signing,
                age_recipient: e.age_recipient.clone(),
            })
        })
        .transpose()
}

/// Under policy `p`, every `trusted_sites` row must be one of its peers
/// with that peer's keys, and every peer must have its row (policy apply
/// writes exactly these rows); anything else means the store was altered.
fn check_list_matches(home: &Home, p: &InForce) -> Result<()> {
    let v = p.version();
    let rows = crate::store::trust::trusted_sites(home.store())?;
    let altered = |site: &str, why: String| {
        Error::Integrity(format!(
            "the trust list's entry for site {site:?} {why} (trust policy v{v} is in force): the store was altered, and no peer key is taken from it; restore store.db from a backup"
        ))
    };
    for (site, key_id, signing_key, age_recipient) in &rows {
        let Some(e) = p.body().peers.iter().find(|e| e.site.as_str() == site) else {
            return Err(altered(
                site,
                "names a site the policy does not list as a peer".into(),
            ));
        };
        let row_id = crate::trust::keys::parse_verifying_key(signing_key)
            .map(|k| crate::trust::keys::KeyId::of(&k))
            .map_err(|_| altered(site, "holds a malformed signing key".into()))?;
        if row_id.as_str() != key_id {
            return Err(altered(
                site,
                format!("holds a signing key that does not match its key id {key_id:?}"),
            ));
        }
        let policy_id = crate::trust::keys::KeyId::of(&crate::trust::keys::parse_verifying_key(
            &e.signing_key,
        )?);
        if *signing_key != e.signing_key {
            return Err(altered(
                site,
                format!("holds signing key {key_id:?}, but the policy lists {policy_id}"),
            ));
        }
        if *age_recipient != e.age_recipient {
            return Err(altered(
                site,
                "holds another age recipient than the policy's".into(),
            ));
        }
    }
    if let Some(e) = p
        .body()
        .peers
        .iter()
        .find(|e| !rows.iter().any(|r| r.0 == e.site.as_str()))
    {
        return Err(altered(
            e.site.as_str(),
            "is missing, but the policy lists the site".into(),
        ));
    }
    Ok(())
}

/// Lists trusted peers.
pub fn list(home: &Home) -> Result<Vec<Peer>> {
    Ok(crate::store::trust::trusted_sites_listed(home.store())?
        .into_iter()
        .map(|(id, key_id, age_recipient, added_at)| Peer {
            id,
            key_id,
            age_recipient,
            added_at,
        })
        .collect())
}
