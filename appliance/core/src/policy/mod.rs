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

mod root_chain;

pub use root_chain::check_successor;

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
mod tests;
