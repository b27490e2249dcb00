//! `airlock models describe`: the operator's description of a model (intended use, out of
//! scope, known limits) as a signed record bound to the model, which travels with it in
//! bundles and heads its model card ([`crate::ops::card`]).
//!
//! A description is never edited: a newer one supersedes the older ones. Which one a card
//! shows ([`newest`]): this site's newest when this site wrote one (a receiving site's own
//! statement of use outranks the training site's, as its gate verdict does), else the newest
//! from a peer.

use serde::Serialize;
use serde_json::json;

pub use airlock_core::description::{
    DESCRIPTION_TYPE, DescriptionText, MAX_TEXT_CHARS, ModelDescription,
};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::node::home::Home;
use crate::ops::train;
use crate::store::AuditEntry;
use crate::vault::registry::{self, Kind};

/// Writes a description of `model` (any model this node holds, trained here or carried in):
/// the text checked ([`DescriptionText::checked`]), signed by the site, with its provenance
/// statement and audit record (`model.describe`). It supersedes the newest description this
/// site held of the model.
pub fn describe(
    home: &mut Home,
    model: &Digest,
    text: DescriptionText,
) -> Result<(Digest, ModelDescription)> {
    let text = text.checked()?;
    // The model must be held here and its run record verify.
    train::load_run(home, model)?;
    let supersedes = newest(home, model)?.map(|d| d.id);
    let record = ModelDescription {
        ty: DESCRIPTION_TYPE.into(),
        site: home.site().clone(),
        model: *model,
        intended_use: text.intended_use,
        out_of_scope: text.out_of_scope,
        limits: text.limits,
        supersedes,
        created_at: home.now(),
    };
    let tx = home.begin()?;
    let id = registry::put_record(&tx, &record)?;
    crate::ops::provenance::record(
        &tx,
        "airlock models describe",
        None,
        &[(Kind::ModelDescription, id)],
        &[("run", *model)],
    )?;
    tx.commit(AuditEntry::new(
        "model.describe",
        &[id.hex(), model.hex()],
        json!({ "supersedes": supersedes.map(|d| d.hex()) }),
    ))?;
    Ok((id, record))
}

/// A description held here, verified.
#[derive(Clone, Debug, Serialize)]
pub struct Held {
    /// Its id.
    pub id: Digest,
    /// The record.
    pub record: ModelDescription,
}

/// Every description of `model` held here (written here or carried in), each with its
/// signatures verified and its shape checked, oldest first.
pub fn list_for(home: &Home, model: &Digest) -> Result<Vec<Held>> {
    let mut out = Vec::new();
    for id in crate::store::objects::ids_of_kind(home.store(), Kind::ModelDescription)? {
        let record: ModelDescription = registry::load(home.store(), home.vault(), &id)?;
        record.check().map_err(|e| {
            Error::Integrity(format!("{} {}: {e}", Kind::ModelDescription, id.short()))
        })?;
        if record.model == *model {
            out.push(Held { id, record });
        }
    }
    out.sort_by_key(|d| (d.record.created_at, d.id));
    Ok(out)
}

/// The description a card shows: this site's newest, else the newest of any site's.
pub fn newest(home: &Home, model: &Digest) -> Result<Option<Held>> {
    Ok(choose(list_for(home, model)?, home.site()))
}

/// [`newest`] over `list`: among this site's descriptions (or, without one, everyone's), the
/// newest that no other among them supersedes. Times have whole seconds, so two written in
/// the same second are ordered by the one naming the other.
fn choose(list: Vec<Held>, here: &crate::site::SiteName) -> Option<Held> {
    let own = list.iter().any(|d| d.record.site == *here);
    let pool: Vec<Held> = list
        .into_iter()
        .filter(|d| !own || d.record.site == *here)
        .collect();
    let superseded: std::collections::BTreeSet<Digest> =
        pool.iter().filter_map(|d| d.record.supersedes).collect();
    pool.into_iter()
        .filter(|d| !superseded.contains(&d.id))
        .max_by_key(|d| (d.record.created_at, d.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::time::Timestamp;

    fn held(site: &str, at: i64) -> Held {
        let record = ModelDescription {
            ty: DESCRIPTION_TYPE.into(),
            site: site.parse().expect("site"),
            model: Digest::of(b"run"),
            intended_use: format!("{site} at {at}"),
            out_of_scope: None,
            limits: None,
            supersedes: None,
            created_at: Timestamp(at),
        };
        Held {
            id: Digest::of(record.intended_use.as_bytes()),
            record,
        }
    }

    #[test]
    fn this_sites_newest_outranks_a_newer_peer_description() {
        let here: crate::site::SiteName = "plant".parse().expect("site");
        let list = vec![
            held("lab", 1),
            held("plant", 2),
            held("plant", 3),
            held("lab", 4),
        ];
        let chosen = choose(list, &here).expect("one");
        assert_eq!(chosen.record.intended_use, "plant at 3");
        let peers_only = vec![held("lab", 1), held("lab", 4)];
        assert_eq!(
            choose(peers_only, &here).expect("one").record.intended_use,
            "lab at 4"
        );
        assert!(choose(Vec::new(), &here).is_none());
    }

    #[test]
    fn within_one_second_the_description_naming_another_is_the_newer() {
        let here: crate::site::SiteName = "lab".parse().expect("site");
        let first = held("lab", 5);
        let mut second = held("lab", 5);
        second.record.intended_use = "second".into();
        second.record.supersedes = Some(first.id);
        second.id = Digest::of(b"second");
        // Whatever the digests' order, the one that supersedes wins.
        for list in [
            vec![first.clone(), second.clone()],
            vec![second.clone(), first.clone()],
        ] {
            assert_eq!(
                choose(list, &here).expect("one").record.intended_use,
                "second"
            );
        }
    }
}
