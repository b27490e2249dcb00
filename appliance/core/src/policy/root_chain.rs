//! The root chain (TUF's): which policy may follow the one in force, signed
//! by a threshold of the old roots and of the new.

use ed25519_dalek::VerifyingKey;

use super::{SignedPolicy, key_id_of, root_keys};
use crate::error::{Error, Result};
use crate::keys::{self, KeyId};
use crate::name::SiteName;

/// Checks that `next` may follow `prev` (or, with no `prev`, be this
/// node's first policy, pinned by `pin`), for the node `site` with signing
/// key `site_key`. Returns false if `next` is `prev` itself.
pub fn check_successor(
    prev: Option<&SignedPolicy>,
    next: &SignedPolicy,
    site: &SiteName,
    site_key: &VerifyingKey,
    pin: Option<&str>,
) -> Result<bool> {
    let b = &next.body;
    let v = b.version;
    b.validate()?;
    if b.site != *site {
        return Err(Error::Refused(format!(
            "trust policy v{v} governs site {:?}, not this site ({site})",
            b.site.as_str()
        )));
    }
    if keys::parse_verifying_key(&b.site_key)? != *site_key {
        return Err(Error::Refused(format!(
            "trust policy v{v} is bound to site key {}, not this node's key {}",
            key_id_of(&b.site_key)?,
            KeyId::of(site_key)
        )));
    }
    let own_roots = root_keys(b)?;
    if let Some(pin) = pin {
        // The pinned key must be a root key of the policy *and* have signed
        // it: listing a public key costs an attacker nothing.
        let pinned: Vec<_> = own_roots
            .iter()
            .filter(|(id, _)| id.as_str() == pin)
            .cloned()
            .collect();
        if pinned.is_empty() || next.count(&pinned)?.0 != 1 {
            return Err(Error::Refused(format!(
                "trust policy v{v} is not signed by the pinned root key {pin} (its root keys are {}); it was not made by that root's holder",
                list_ids(&own_roots)
            )));
        }
    }
    if let Some(prev) = prev {
        let pv = prev.body.version;
        if v == pv && next.id() == prev.id() {
            return Ok(false);
        }
        if v < pv {
            return Err(Error::Refused(format!(
                "trust policy downgrade refused: this is version {v}, and version {pv} is in force; a policy only moves forward"
            )));
        }
        if v == pv {
            return Err(Error::Refused(format!(
                "a different trust policy version {v} is already in force; a change needs a higher version"
            )));
        }
        let prev_roots = root_keys(&prev.body)?;
        let (n, others) = next.count(&prev_roots)?;
        if n < prev.body.root.threshold as usize {
            return Err(Error::Refused(format!(
                "trust policy v{v} is not signed by the root key(s) of the policy in force (v{pv}: {}, {} needed): it carries {n} of their signatures{}",
                list_ids(&prev_roots),
                prev.body.root.threshold,
                signed_by_others(&others)
            )));
        }
        for r in &prev.body.revoked {
            if !b.revoked.contains(r) {
                return Err(Error::Refused(format!(
                    "trust policy v{v} drops the revocation of key {r} (revoked in v{pv}); a revocation is permanent: issue a new key instead"
                )));
            }
        }
    } else if pin.is_none() {
        return Err(Error::Refused(
            "this node has no trust policy yet: its first policy is applied at the console with `airlock policy apply FILE --root-key-id ID`, the root key id confirmed with whoever holds the root key (a first policy is never taken from a bundle)".into(),
        ));
    }
    let (n, others) = next.count(&own_roots)?;
    if n < b.root.threshold as usize {
        return Err(Error::Refused(format!(
            "trust policy v{v} carries {n} signature(s) of its root keys ({}), {} needed{}",
            list_ids(&own_roots),
            b.root.threshold,
            signed_by_others(&others)
        )));
    }
    Ok(true)
}

fn list_ids(roots: &[(KeyId, VerifyingKey)]) -> String {
    roots
        .iter()
        .map(|(id, _)| id.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn signed_by_others(others: &[String]) -> String {
    if others.is_empty() {
        String::new()
    } else {
        format!(
            "; signed by key(s) {} that are not root keys",
            others.join(", ")
        )
    }
}
