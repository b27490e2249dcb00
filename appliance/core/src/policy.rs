//! The site's root key and its signed trust policy.
//!
//! Each site has an offline **root key**, made onto removable media with
//! `airlock keys root init --out DIR` and never stored on the node. The root
//! key signs the site's **trust policy**: which peer sites the node trusts
//! (their signing keys and age recipients), which operators hold which roles
//! (approve, export, deploy), how many approvals a deployment to each slot
//! needs (k of n), and which keys are revoked.
//!
//! The node pins its root at the first policy (`--root-key-id`, compared
//! with the root holder out of band) and from then on accepts only a policy
//! with a higher version, signed by a threshold of the root keys of the
//! policy in force *and* of its own root keys: TUF's root chain. Keys are
//! rotated and revoked by new policy versions; a revocation is permanent
//! (a later policy that drops it is refused).
//!
//! The signed file is JSON, `{"policy": {...}, "signatures": [...]}`; the
//! signatures cover the exact bytes of the `policy` member, which are never
//! re-serialised.
//!
//! This module is the document: its parsing, its rules and the root chain
//! ([`check_successor`]). Applying a policy to a node's store, the root key
//! files and the drafts made from a node's trust list are the appliance's
//! (`airlock::trust::policy`).

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::keys::{self, Domain, KeyId, Signer};
use crate::name::{SiteName, validate_name};
use crate::time::Timestamp;

/// Format tag of trust policies.
pub const POLICY_FORMAT: &str = "airlock-trust-policy/1";
/// Format tag of a root key's public file.
pub const ROOT_PUB_FORMAT: &str = "airlock-root-key/1";
/// Largest policy file read.
pub const MAX_POLICY: usize = 1 << 20;
/// The approvals key that applies to every slot not named.
pub const ANY_SLOT: &str = "*";

/// What an operator may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sign approvals of gated models.
    Approve,
    /// Export bundles.
    Export,
    /// Deploy approved models.
    Deploy,
    /// Adopt a first audit checkpoint (`airlock audit adopt-checkpoint`),
    /// which declares the log before it unprotected.
    Audit,
}

impl Role {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Approve => "approve",
            Role::Export => "export",
            Role::Deploy => "deploy",
            Role::Audit => "audit",
        }
    }
}

/// The root keys and how many of them must sign the next policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootSet {
    /// ed25519 public keys, hex.
    pub keys: Vec<String>,
    /// Signatures needed.
    pub threshold: u32,
}

/// A trusted peer site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    /// The peer's site name.
    pub site: SiteName,
    /// Its signing key, hex.
    pub signing_key: String,
    /// Its age recipient.
    pub age_recipient: String,
}

/// An operator and the roles they hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorEntry {
    /// The operator's name on this node.
    pub name: String,
    /// Their public key, hex.
    pub key: String,
    /// What they may do.
    pub roles: Vec<Role>,
}

/// What the root holder writes (TOML); `airlock policy sign` adds the format
/// and the time.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Draft {
    site: SiteName,
    version: u64,
    site_key: String,
    root: RootSet,
    #[serde(default)]
    peers: Vec<PeerEntry>,
    #[serde(default)]
    operators: Vec<OperatorEntry>,
    #[serde(default)]
    revoked: Vec<String>,
    #[serde(default)]
    approvals: BTreeMap<String, u32>,
    #[serde(default)]
    release_keys: Vec<String>,
    #[serde(default)]
    gates: BTreeMap<String, Vec<SiteName>>,
}

/// A trust policy's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    /// Always [`POLICY_FORMAT`].
    pub format: String,
    /// The site (node) it governs.
    pub site: SiteName,
    /// Its version; each new policy has a higher one.
    pub version: u64,
    /// When it was signed.
    pub created_at: Timestamp,
    /// The node's own signing key, hex: the policy is bound to one node.
    pub site_key: String,
    /// The root keys that sign the next version.
    pub root: RootSet,
    /// Trusted peer sites.
    pub peers: Vec<PeerEntry>,
    /// Operators and their roles.
    pub operators: Vec<OperatorEntry>,
    /// Revoked key ids (operators or peers); never accepted again.
    pub revoked: Vec<String>,
    /// Approvals a deployment needs, per slot (`*` for every other slot).
    pub approvals: BTreeMap<String, u32>,
    /// The peer sites whose gate reports count for a deployment to a slot
    /// (`*` for every other slot), besides this site's own, whose newest
    /// verdict always outranks theirs. Absent (as in policies written
    /// before this field), only this site's gate reports count.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub gates: BTreeMap<String, Vec<SiteName>>,
    /// The vendor's release keys (public halves, hex) whose release archives
    /// `airlock-install update` accepts on this node, replacing the key pinned
    /// at install: how the release key is rotated. Absent (as in policies
    /// written before this field): the pinned key alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub release_keys: Vec<String>,
}

/// One root signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySignature {
    /// The signing root key's id.
    pub key_id: String,
    /// ed25519 signature (hex) over the policy bytes.
    pub signature: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile<'a> {
    #[serde(borrow)]
    policy: &'a serde_json::value::RawValue,
    signatures: Vec<PolicySignature>,
}

/// A parsed policy file; nothing about it is verified yet.
#[derive(Clone, Debug)]
pub struct SignedPolicy {
    /// The exact signed bytes.
    pub bytes: Vec<u8>,
    /// Their content.
    pub body: PolicyBody,
    /// The signatures.
    pub signatures: Vec<PolicySignature>,
}

fn bad(source: &str, why: impl std::fmt::Display) -> Error {
    Error::Rejected(format!("trust policy {source}: {why}"))
}

/// Validates an operator name: 1-64 characters of `a-z`, `0-9`, `.`, `_`, `-`.
pub fn validate_operator_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && !name.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(Error::Rejected(format!(
            "operator name {name:?} is not valid: use 1-64 characters a-z, 0-9, '.', '_' and '-'"
        )))
    }
}

impl SignedPolicy {
    /// Parses a policy file.
    pub fn parse(bytes: &[u8], source: &str) -> Result<Self> {
        if bytes.len() > MAX_POLICY {
            return Err(bad(source, "larger than 1 MiB; not a trust policy"));
        }
        let file: PolicyFile<'_> = serde_json::from_slice(bytes).map_err(|e| {
            bad(
                source,
                format!(
                    "not a signed policy file ({}); sign a TOML draft with `airlock policy sign`",
                    crate::text::error_text(&e)
                ),
            )
        })?;
        let body: PolicyBody = serde_json::from_str(file.policy.get())
            .map_err(|e| bad(source, crate::text::error_text(&e)))?;
        Ok(SignedPolicy {
            bytes: file.policy.get().as_bytes().to_vec(),
            body,
            signatures: file.signatures,
        })
    }

    /// A new, unsigned policy from a TOML draft (what the root holder
    /// writes), with the format and `created_at` added; checked with
    /// [`PolicyBody::validate`].
    pub fn from_draft(text: &[u8], source: &str, created_at: Timestamp) -> Result<Self> {
        if text.len() > MAX_POLICY {
            return Err(bad(source, "larger than 1 MiB; not a trust policy"));
        }
        let text = std::str::from_utf8(text).map_err(|_| bad(source, "not UTF-8"))?;
        let d: Draft = toml::from_str(text).map_err(|e| bad(source, e))?;
        let body = PolicyBody {
            format: POLICY_FORMAT.into(),
            site: d.site,
            version: d.version,
            created_at,
            site_key: d.site_key,
            root: d.root,
            peers: d.peers,
            operators: d.operators,
            revoked: d.revoked,
            approvals: d.approvals,
            gates: d.gates,
            release_keys: d.release_keys,
        };
        body.validate()?;
        let bytes = serde_json::to_vec(&body).map_err(|e| bad(source, e))?;
        Ok(SignedPolicy {
            bytes,
            body,
            signatures: Vec::new(),
        })
    }

    /// The file's bytes.
    pub fn render(&self) -> Vec<u8> {
        let sigs = serde_json::to_string_pretty(&self.signatures).unwrap_or_default();
        let mut out = format!(
            "{{\"policy\":{},\n\"signatures\":{sigs}}}\n",
            String::from_utf8_lossy(&self.bytes)
        )
        .into_bytes();
        out.shrink_to_fit();
        out
    }

    /// The policy's id: SHA-256 of the signed bytes.
    pub fn id(&self) -> Digest {
        Digest::of(&self.bytes)
    }

    /// Adds `root`'s signature (replacing none: a second signature by the
    /// same key is refused).
    pub fn add_signature(&mut self, root: &impl Signer) -> Result<()> {
        let id = root.key_id().to_string();
        if self.signatures.iter().any(|s| s.key_id == id) {
            return Err(Error::Refused(format!(
                "this policy is already signed by root key {id}"
            )));
        }
        self.signatures.push(PolicySignature {
            key_id: id,
            signature: root.sign(Domain::Policy, &self.bytes),
        });
        Ok(())
    }

    /// How many distinct keys of `roots` signed it. A signature claiming a
    /// root key that does not verify is an integrity error; signatures by
    /// other keys are returned by id.
    pub fn count(&self, roots: &[(KeyId, VerifyingKey)]) -> Result<(usize, Vec<String>)> {
        let mut good = BTreeSet::new();
        let mut others = Vec::new();
        for s in &self.signatures {
            match roots.iter().find(|(id, _)| id.as_str() == s.key_id) {
                Some((id, key)) => {
                    if !keys::verify(key, Domain::Policy, &self.bytes, &s.signature) {
                        return Err(Error::Integrity(format!(
                            "trust policy v{}: the signature by root key {id} does not verify; the policy was altered after signing",
                            self.body.version
                        )));
                    }
                    good.insert(id.clone());
                }
                None => others.push(s.key_id.clone()),
            }
        }
        Ok((good.len(), others))
    }
}

/// A policy's root keys, parsed.
pub fn root_keys(body: &PolicyBody) -> Result<Vec<(KeyId, VerifyingKey)>> {
    body.root
        .keys
        .iter()
        .map(|k| {
            let key = keys::parse_verifying_key(k)?;
            Ok((KeyId::of(&key), key))
        })
        .collect()
}

/// The key id of a hex public key.
pub fn key_id_of(hex_key: &str) -> Result<KeyId> {
    Ok(KeyId::of(&keys::parse_verifying_key(hex_key)?))
}

impl PolicyBody {
    /// Checks the policy is internally consistent.
    pub fn validate(&self) -> Result<()> {
        let v = self.version;
        let fail = |why: String| Err(Error::Rejected(format!("trust policy v{v}: {why}")));
        if self.format != POLICY_FORMAT {
            return fail(format!(
                "format {:?}, expected {POLICY_FORMAT:?}",
                self.format
            ));
        }
        if v == 0 || v > i64::MAX as u64 {
            return fail(format!("version must be between 1 and {}", i64::MAX));
        }
        for (n, k) in self.release_keys.iter().enumerate() {
            if keys::parse_verifying_key(k).is_err() {
                return fail(format!(
                    "release_keys[{n}] is not an ed25519 public key (64 hex digits)"
                ));
            }
        }
        let roots = root_keys(self)?;
        let distinct: BTreeSet<_> = roots.iter().map(|(id, _)| id.clone()).collect();
        if roots.is_empty() || distinct.len() != roots.len() {
            return fail("root.keys must list at least one key, each once".into());
        }
        if self.root.threshold == 0 || self.root.threshold as usize > roots.len() {
            return fail(format!(
                "root.threshold {} must be between 1 and the {} root key(s)",
                self.root.threshold,
                roots.len()
            ));
        }
        let site_key_id = key_id_of(&self.site_key)?;
        let revoked: BTreeSet<&str> = self.revoked.iter().map(String::as_str).collect();
        for r in &self.revoked {
            if r.len() != 16
                || !r
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return fail(format!(
                    "revoked entry {r:?} is not a key id (16 lowercase hex digits)"
                ));
            }
        }
        let mut sites = BTreeSet::new();
        let mut other_keys = BTreeSet::from([site_key_id]);
        other_keys.extend(
            self.peers
                .iter()
                .filter_map(|p| key_id_of(&p.signing_key).ok()),
        );
        other_keys.extend(self.operators.iter().filter_map(|o| key_id_of(&o.key).ok()));
        for (id, _) in &roots {
            if revoked.contains(id.as_str()) {
                return fail(format!("root key {id} is revoked"));
            }
            if other_keys.contains(id) {
                return fail(format!(
                    "root key {id} is also the site key, a peer's or an operator's key; a root key is used for nothing else"
                ));
            }
        }
        for p in &self.peers {
            if p.site == self.site {
                return fail(format!("peer {} is this site itself", p.site));
            }
            if !sites.insert(p.site.clone()) {
                return fail(format!("peer {} is listed twice", p.site));
            }
            let id = key_id_of(&p.signing_key)?;
            if revoked.contains(id.as_str()) {
                return fail(format!("peer {} uses key {id}, which is revoked", p.site));
            }
            keys::PublicKeys {
                signing: keys::parse_verifying_key(&p.signing_key)?,
                age_recipient: p.age_recipient.clone(),
            }
            .check_recipient()?;
        }
        let mut names = BTreeSet::new();
        let mut op_keys = BTreeSet::new();
        for o in &self.operators {
            validate_operator_name(&o.name)?;
            if !names.insert(o.name.as_str()) {
                return fail(format!("operator {} is listed twice", o.name));
            }
            let id = key_id_of(&o.key)?;
            if !op_keys.insert(id.clone()) {
                return fail(format!("operator {}'s key {id} is listed twice", o.name));
            }
            if revoked.contains(id.as_str()) {
                return fail(format!(
                    "operator {} uses key {id}, which is revoked",
                    o.name
                ));
            }
            let roles: BTreeSet<_> = o.roles.iter().collect();
            if roles.is_empty() || roles.len() != o.roles.len() {
                return fail(format!(
                    "operator {} must hold at least one role, each once",
                    o.name
                ));
            }
        }
        let approvers = self.holders(Role::Approve).count();
        for (slot, k) in &self.approvals {
            if slot != ANY_SLOT {
                validate_name(slot)?;
            }
            if *k == 0 || *k as usize > approvers {
                return fail(format!(
                    "approvals.{slot:?} = {k}: it must be between 1 and the {approvers} operator(s) holding the approve role"
                ));
            }
        }
        for (slot, gate_sites) in &self.gates {
            if slot != ANY_SLOT {
                validate_name(slot)?;
            }
            let mut listed = BTreeSet::new();
            for site in gate_sites {
                if !listed.insert(site) {
                    return fail(format!("gates.{slot:?} lists site {site} twice"));
                }
                if !sites.contains(site) {
                    return fail(format!(
                        "gates.{slot:?} lists site {site}, which is not a peer in this policy (this site's own gate reports always count)"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The peer sites whose gate reports count for a deployment to `slot`
    /// (this site's own always count).
    pub fn gate_sites(&self, slot: &str) -> &[SiteName] {
        self.gates
            .get(slot)
            .or_else(|| self.gates.get(ANY_SLOT))
            .map_or(&[], Vec::as_slice)
    }

    /// Operators holding `role`.
    pub fn holders(&self, role: Role) -> impl Iterator<Item = &OperatorEntry> {
        self.operators
            .iter()
            .filter(move |o| o.roles.contains(&role))
    }

    /// The operator entry with key id `id`, if any.
    pub fn operator(&self, id: &KeyId) -> Option<&OperatorEntry> {
        self.operators
            .iter()
            .find(|o| key_id_of(&o.key).is_ok_and(|k| k == *id))
    }

    /// Whether key id `id` is revoked.
    pub fn is_revoked(&self, id: &KeyId) -> bool {
        self.revoked.iter().any(|r| r == id.as_str())
    }

    /// Approvals needed to deploy to `slot`.
    pub fn approvals_needed(&self, slot: &str) -> u32 {
        self.approvals
            .get(slot)
            .or_else(|| self.approvals.get(ANY_SLOT))
            .copied()
            .unwrap_or(1)
    }
}

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

/// The public half of a root key, as written to `root.pub`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootCard {
    /// Always [`ROOT_PUB_FORMAT`].
    pub format: String,
    /// The key id to pin (`--root-key-id`).
    pub key_id: KeyId,
    /// The public key, hex (goes into `root.keys` of a policy).
    pub public_key: String,
    /// When it was made.
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::TestKey;

    fn body(version: u64, roots: &[&TestKey], site_key: &VerifyingKey) -> PolicyBody {
        PolicyBody {
            format: POLICY_FORMAT.into(),
            site: "plant".parse().expect("name"),
            version,
            created_at: Timestamp(1_795_439_109),
            site_key: hex::encode(site_key.as_bytes()),
            root: RootSet {
                keys: roots.iter().map(|r| r.public_hex()).collect(),
                threshold: 1,
            },
            peers: vec![],
            operators: vec![],
            revoked: vec![],
            approvals: BTreeMap::new(),
            gates: BTreeMap::new(),
            release_keys: Vec::new(),
        }
    }

    fn signed(b: PolicyBody, by: &[&TestKey]) -> SignedPolicy {
        let mut s = SignedPolicy {
            bytes: serde_json::to_vec(&b).expect("json"),
            body: b,
            signatures: vec![],
        };
        for k in by {
            s.add_signature(*k).expect("sign");
        }
        SignedPolicy::parse(&s.render(), "test").expect("round trip")
    }

    #[test]
    fn root_chain_rules() {
        let sk = TestKey::new(1).verifying_key();
        let site: SiteName = "plant".parse().expect("name");
        let r1 = TestKey::new(11);
        let r2 = TestKey::new(12);
        let evil = TestKey::new(13);
        let v1 = signed(body(1, &[&r1], &sk), &[&r1]);
        let pin = r1.key_id().to_string();
        assert!(check_successor(None, &v1, &site, &sk, Some(&pin)).expect("first"));
        let err = check_successor(None, &v1, &site, &sk, None).expect_err("unpinned");
        assert!(err.to_string().contains("--root-key-id"), "{err}");
        // Rotation to r2, signed by both: accepted.
        let v2 = signed(body(2, &[&r2], &sk), &[&r1, &r2]);
        assert!(check_successor(Some(&v1), &v2, &site, &sk, None).expect("rotation"));
        // Signed only by the new root: refused.
        let v2b = signed(body(2, &[&r2], &sk), &[&r2]);
        let err = check_successor(Some(&v1), &v2b, &site, &sk, None).expect_err("unsigned by old");
        assert!(
            err.to_string()
                .contains("not signed by the root key(s) of the policy in force"),
            "{err}"
        );
        // Signed by a stranger that names itself root.
        let v2c = signed(body(2, &[&evil], &sk), &[&evil]);
        let err = check_successor(Some(&v1), &v2c, &site, &sk, None).expect_err("evil");
        assert!(err.to_string().contains("not root keys"), "{err}");
        // Downgrade and same-version changes.
        let err = check_successor(Some(&v2), &v1, &site, &sk, None).expect_err("downgrade");
        assert!(err.to_string().contains("downgrade"), "{err}");
        assert!(!check_successor(Some(&v2), &v2, &site, &sk, None).expect("same"));
        // A tampered body fails its signature.
        let mut t = v1.clone();
        t.bytes = String::from_utf8(t.bytes)
            .expect("utf8")
            .replace("\"version\":1", "\"version\":3")
            .into_bytes();
        t.body.version = 3;
        let err = check_successor(Some(&v1), &t, &site, &sk, None).expect_err("tampered");
        assert!(err.to_string().contains("does not verify"), "{err}");
    }

    #[test]
    fn gates_list_peers_and_policies_without_them_keep_their_bytes() {
        let sk = TestKey::new(1).verifying_key();
        let r = TestKey::new(11);
        // A policy without `gates`, as every policy written before the
        // field: its bytes do not mention it and it parses back.
        let v1 = signed(body(1, &[&r], &sk), &[&r]);
        assert!(!String::from_utf8_lossy(&v1.bytes).contains("gates"));
        assert!(v1.body.gate_sites("production").is_empty());
        let lab: SiteName = "lab".parse().expect("name");
        let mut b = body(1, &[&r], &sk);
        b.gates.insert("production".into(), vec![lab.clone()]);
        let err = b.validate().expect_err("lab is not a peer");
        assert!(err.to_string().contains("is not a peer"), "{err}");
        b.peers.push(PeerEntry {
            site: lab.clone(),
            signing_key: TestKey::new(2).public_hex(),
            // The example recipient of age's README.
            age_recipient: "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p".into(),
        });
        b.validate().expect("a peer");
        assert_eq!(b.gate_sites("production"), std::slice::from_ref(&lab));
        assert!(b.gate_sites("canary").is_empty());
        b.gates.insert(ANY_SLOT.into(), vec![lab.clone(), lab]);
        let err = b.validate().expect_err("twice");
        assert!(err.to_string().contains("twice"), "{err}");
        b.gates.remove(ANY_SLOT);
        let v2 = signed(b, &[&r]);
        assert!(
            String::from_utf8_lossy(&v2.bytes).contains("\"gates\":{\"production\":[\"lab\"]}")
        );
    }

    #[test]
    fn a_pinned_root_must_have_signed_the_first_policy() {
        let sk = TestKey::new(1).verifying_key();
        let site: SiteName = "plant".parse().expect("name");
        let real = TestKey::new(14);
        let evil = TestKey::new(15);
        // The attacker lists the real (public) root key beside their own
        // and signs alone.
        let forged = signed(body(1, &[&real, &evil], &sk), &[&evil]);
        let pin = real.key_id().to_string();
        let err = check_successor(None, &forged, &site, &sk, Some(&pin)).expect_err("forged");
        assert!(
            err.to_string()
                .contains("not signed by the pinned root key"),
            "{err}"
        );
        let genuine = signed(body(1, &[&real, &evil], &sk), &[&real]);
        assert!(check_successor(None, &genuine, &site, &sk, Some(&pin)).expect("genuine"));
    }

    #[test]
    fn malformed_revocations_and_root_key_reuse_are_refused() {
        let sk = TestKey::new(1).verifying_key();
        let r = TestKey::new(16);
        let mut b = body(1, &[&r], &sk);
        b.revoked = vec![r.key_id().to_string().to_uppercase()];
        let err = b.validate().expect_err("uppercase");
        assert!(err.to_string().contains("16 lowercase hex digits"), "{err}");
        b.revoked = vec![r.key_id().to_string()];
        let err = b.validate().expect_err("revoked root");
        assert!(err.to_string().contains("is revoked"), "{err}");
        b.revoked.clear();
        b.site_key = r.public_hex();
        let err = b.validate().expect_err("root is the site key");
        assert!(err.to_string().contains("used for nothing else"), "{err}");
        let mut b = body(1, &[&r], &sk);
        b.version = u64::MAX;
        assert!(b.validate().is_err(), "a version SQLite cannot hold");
    }

    #[test]
    fn revocation_is_permanent_and_thresholds_are_checked() {
        let sk = TestKey::new(1).verifying_key();
        let site: SiteName = "plant".parse().expect("name");
        let r = TestKey::new(17);
        let op = TestKey::new(18);
        let mut b1 = body(1, &[&r], &sk);
        b1.revoked = vec![op.key_id().to_string()];
        let v1 = signed(b1, &[&r]);
        let v2 = signed(body(2, &[&r], &sk), &[&r]);
        let err = check_successor(Some(&v1), &v2, &site, &sk, None).expect_err("unrevoke");
        assert!(err.to_string().contains("permanent"), "{err}");
        let mut b = body(1, &[&r], &sk);
        b.operators = vec![OperatorEntry {
            name: "alice".into(),
            key: op.public_hex(),
            roles: vec![Role::Approve],
        }];
        b.approvals.insert("production".into(), 2);
        let err = b.validate().expect_err("2 of 1");
        assert!(err.to_string().contains("between 1 and the 1"), "{err}");
        b.approvals.insert("production".into(), 1);
        b.validate().expect("1 of 1");
        assert_eq!(b.approvals_needed("production"), 1);
        assert_eq!(b.approvals_needed("canary"), 1);
    }
}
