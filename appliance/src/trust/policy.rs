//! The site's root key and its signed trust policy.
//!
//! Each site has an offline **root key**, made onto removable media with
//! `airlock keys root init --out DIR` and never stored on the node. The root
//! key signs the site's **trust policy**: which peer sites the node trusts
//! (their signing keys and age recipients), which operators hold which roles
//! (approve, export, deploy, audit), how many approvals a deployment to each slot
//! needs (k of n), whose gate reports count for each slot, and which keys
//! are revoked.
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
//! The document itself (its types, parsing, rules and the root chain) is
//! `airlock_core::policy`, re-exported here; this module applies policies to
//! the node's store and handles the root key files.

use std::collections::BTreeMap;
use std::path::Path;

use ed25519_dalek::VerifyingKey;
use serde::Serialize;
use serde_json::json;

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::node::fsx;
use crate::node::home::Home;
use crate::node::time::Timestamp;
use crate::site::SiteName;
use crate::store::{AuditEntry, AuditedTx, Reads};
use crate::trust::keys;
use crate::trust::personal::{Passphrase, PersonalKey};
use crate::vault::Vault;
use crate::vault::registry::{self, Kind};

pub use airlock_core::policy::{
    ANY_SLOT, MAX_POLICY, OperatorEntry, POLICY_FORMAT, PeerEntry, PolicyBody, PolicySignature,
    ROOT_PUB_FORMAT, Role, RootCard, RootSet, SignedPolicy, check_successor, key_id_of, root_keys,
    validate_operator_name,
};

/// The sealed root secret inside the root folder.
pub const ROOT_KEY_FILE: &str = "root.key";
/// The root's public file inside the root folder.
pub const ROOT_PUB_FILE: &str = "root.pub";

/// Reads and parses a policy file.
pub fn read(path: &Path) -> Result<SignedPolicy> {
    let bytes = fsx::read_capped(path, MAX_POLICY)?;
    Ok(SignedPolicy::parse(&bytes, &path.display().to_string())?)
}

/// The policy in force at a node.
#[derive(Clone, Debug)]
pub struct InForce {
    /// Its id (vault object).
    pub id: Digest,
    /// The policy.
    pub policy: SignedPolicy,
}

impl InForce {
    /// Its version.
    pub fn version(&self) -> u64 {
        self.policy.body.version
    }
    /// Its content.
    pub fn body(&self) -> &PolicyBody {
        &self.policy.body
    }
}

/// The policy in force at `home` (see [`current`]).
pub fn in_force(home: &Home) -> Result<Option<InForce>> {
    current(home.store(), home.vault())
}

/// The policy in force, re-verified through the root chain it was applied
/// by: the first policy against its own root keys, each later one as a
/// successor of the one before (signed by its root keys, bound to this node);
/// `None` for a node that has not had one applied (setup mode). A `policies`
/// row pointed at another root-signed document breaks the chain there and
/// is an integrity error.
pub fn current(conn: &impl Reads, vault: &Vault) -> Result<Option<InForce>> {
    let rows = crate::store::trust::policies(conn)?;
    if rows.is_empty() {
        return Ok(None);
    }
    let site: SiteName = crate::store::db::meta(conn, "site")?.parse()?;
    let site_key = keys::parse_verifying_key(&crate::store::db::meta(conn, "signing_key")?)?;
    let mut in_force: Option<InForce> = None;
    for (version, id) in rows {
        let altered = |why: String| {
            Error::Integrity(format!(
                "the trust policy v{version} recorded in force ({id}) does not match its signed document: {why}; the store was altered"
            ))
        };
        let id: Digest = id.parse().map_err(|e| altered(format!("{e}")))?;
        let bytes = vault.read(&id, MAX_POLICY as u64)?;
        let policy = SignedPolicy::parse(&bytes, &format!("v{version} in the vault"))?;
        if policy.body.version != version as u64 {
            return Err(altered(format!("it is version {}", policy.body.version)));
        }
        match &in_force {
            None => {
                let b = &policy.body;
                b.validate().map_err(|e| altered(e.to_string()))?;
                if b.site != site || keys::parse_verifying_key(&b.site_key)? != site_key {
                    return Err(altered("it governs another node".into()));
                }
                let (n, _) = policy.count(&root_keys(b)?)?;
                if n < b.root.threshold as usize {
                    return Err(altered("too few signatures of its root keys".into()));
                }
            }
            Some(prev) => {
                let next = check_successor(Some(&prev.policy), &policy, &site, &site_key, None)
                    .map_err(|e| altered(format!("it does not follow v{}: {e}", prev.version())))?;
                if !next {
                    return Err(altered(format!("it repeats v{}", prev.version())));
                }
            }
        }
        in_force = Some(InForce { id, policy });
    }
    Ok(in_force)
}

/// How an applied policy relates to the one before it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    /// Now in force.
    Applied {
        /// Its version.
        version: u64,
        /// Its id.
        id: Digest,
    },
    /// Exactly this policy is already in force.
    AlreadyInForce {
        /// Its version.
        version: u64,
    },
}

/// Checks, without applying them, that policies in order would be
/// accepted (`airlock bundle verify`).
pub fn check_chain(
    conn: &impl Reads,
    vault: &Vault,
    site: &SiteName,
    site_key: &VerifyingKey,
    chain: &[SignedPolicy],
) -> Result<()> {
    let mut prev = current(conn, vault)?.map(|c| c.policy);
    for next in chain {
        if check_successor(prev.as_ref(), next, site, site_key, None)? {
            prev = Some(next.clone());
        }
    }
    Ok(())
}

/// Applies policies in order (each must follow the one before; the first
/// must follow the policy in force) in the write `tx`. Returns what each
/// policy came to and the audit entries (`policy.apply`) of those applied,
/// in order, for the caller to record in `tx`. Used by `airlock policy
/// apply` and by bundle import.
pub fn apply_chain(
    tx: &AuditedTx<'_>,
    chain: &[SignedPolicy],
    pin: Option<&str>,
) -> Result<(Vec<Applied>, Vec<AuditEntry>)> {
    let (keys, site) = (tx.keys(), tx.site());
    let mut prev = current(tx, tx.vault())?.map(|c| c.policy);
    let mut records = Vec::new();
    let mut out = Vec::new();
    for next in chain {
        let pin = if prev.is_none() { pin } else { None };
        if !check_successor(prev.as_ref(), next, site, &keys.public().signing, pin)? {
            out.push(Applied::AlreadyInForce {
                version: next.body.version,
            });
            continue;
        }
        let bytes = next.render();
        let id = Digest::of(&bytes);
        // A policy arriving in a bundle is already indexed and staged.
        if registry::held_as(tx, &id, Kind::Policy)?.is_none() {
            registry::put_object(tx, Kind::Policy, &bytes)?;
        }
        records.push(store(tx, next, &id)?);
        out.push(Applied::Applied {
            version: next.body.version,
            id,
        });
        prev = Some(next.clone());
    }
    Ok((out, records))
}

/// Records `p` as the policy in force and brings the trust list in line;
/// returns the audit entry of the change.
fn store(tx: &AuditedTx<'_>, p: &SignedPolicy, id: &Digest) -> Result<AuditEntry> {
    let b = &p.body;
    let now = tx.now().to_string();
    let key_ids = b
        .peers
        .iter()
        .map(|peer| key_id_of(&peer.signing_key).map_err(Error::from))
        .collect::<Result<Vec<_>>>()?;
    let peers: Vec<crate::store::trust::PeerRow<'_>> = b
        .peers
        .iter()
        .zip(&key_ids)
        .map(|(peer, id)| crate::store::trust::PeerRow {
            site: peer.site.as_str(),
            key_id: id.as_str(),
            signing_key: &peer.signing_key,
            age_recipient: &peer.age_recipient,
        })
        .collect();
    crate::store::trust::record_policy(tx, b.version as i64, id, &peers, &b.revoked, &now)?;
    let roots: Vec<String> = root_keys(b)?
        .into_iter()
        .map(|(k, _)| k.to_string())
        .collect();
    let operators: Vec<_> = b
        .operators
        .iter()
        .map(|o| {
            json!({ "name": o.name, "key_id": key_id_of(&o.key).map(|k| k.to_string()).unwrap_or_default(),
                    "roles": o.roles })
        })
        .collect();
    let peers: Vec<_> = b
        .peers
        .iter()
        .map(|p| json!({ "site": p.site.as_str(), "key_id": key_id_of(&p.signing_key).map(|k| k.to_string()).unwrap_or_default() }))
        .collect();
    Ok(AuditEntry::new(
        "policy.apply",
        &[id.hex()],
        json!({ "version": b.version, "root_keys": roots, "root_threshold": b.root.threshold,
                "peers": peers, "operators": operators, "revoked": b.revoked, "approvals": b.approvals,
                "gates": b.gates,
                "signed_by": p.signatures.iter().map(|s| s.key_id.clone()).collect::<Vec<_>>() }),
    ))
}

/// Applies policy files at `home` in one transaction (see [`apply_chain`]),
/// with a `policy.apply` record for each policy applied.
pub fn apply(home: &mut Home, chain: &[SignedPolicy], pin: Option<&str>) -> Result<Vec<Applied>> {
    let tx = home.begin_immediate()?;
    let (applied, mut records) = apply_chain(&tx, chain, pin)?;
    let Some(last) = records.pop() else {
        // Every policy was already in force: nothing was written.
        return Ok(applied);
    };
    for r in records {
        tx.record(r)?;
    }
    tx.commit(last)?;
    Ok(applied)
}

/// Creates a root key in the new or empty folder `out`: `root.key` (the
/// secret, sealed with `pass`) and `root.pub`. Refused inside `home`: the
/// root key never lives on the node. The card is dated `now`.
pub fn init_root(out: &Path, pass: &Passphrase, home: &Path, now: Timestamp) -> Result<RootCard> {
    init_root_with(out, pass, home, now, None)
}

/// [`init_root`] with a chosen scrypt work factor (the demo's throwaway
/// keys); `None` lets age calibrate it.
pub fn init_root_with(
    out: &Path,
    pass: &Passphrase,
    home: &Path,
    now: Timestamp,
    log_n: Option<u8>,
) -> Result<RootCard> {
    if let (Ok(h), Some(o)) = (std::fs::canonicalize(home), existing_ancestor(out))
        && o.starts_with(&h)
    {
        return Err(Error::Refused(format!(
            "{} is inside the node's home {}; the root key belongs on removable media kept offline, never on the node",
            out.display(),
            home.display()
        )));
    }
    if out.exists() && std::fs::read_dir(out).at(out)?.next().is_some() {
        return Err(Error::Refused(format!(
            "{} is not empty; a root key is written only into a new or empty folder",
            out.display()
        )));
    }
    fsx::create_private_dir(out)?;
    let key = PersonalKey::generate()?;
    key.save_sealed(&out.join(ROOT_KEY_FILE), pass, log_n)?;
    let card = RootCard {
        format: ROOT_PUB_FORMAT.into(),
        key_id: key.key_id(),
        public_key: key.public_hex(),
        created_at: now,
    };
    let mut bytes = serde_json::to_vec_pretty(&card).unwrap_or_default();
    bytes.push(b'\n');
    fsx::write_new(&out.join(ROOT_PUB_FILE), &bytes)?;
    Ok(card)
}

/// The nearest existing ancestor of `p` (itself included), canonicalised.
fn existing_ancestor(p: &Path) -> Option<std::path::PathBuf> {
    let abs = std::path::absolute(p).ok()?;
    abs.ancestors().find_map(|a| std::fs::canonicalize(a).ok())
}

/// Opens the root key in folder `dir` with `pass`.
pub fn open_root(dir: &Path, pass: &Passphrase) -> Result<PersonalKey> {
    PersonalKey::open_sealed(&dir.join(ROOT_KEY_FILE), pass)
}

/// Signs a policy: `input` is a TOML draft (a new policy, signed now) or a
/// signed policy file (a co-signature for a threshold of root keys). A new
/// policy is dated `now`.
pub fn sign(input: &Path, root: &PersonalKey, now: Timestamp) -> Result<SignedPolicy> {
    let bytes = fsx::read_capped(input, MAX_POLICY)?;
    let source = input.display().to_string();
    let mut signed = if bytes.trim_ascii_start().starts_with(b"{") {
        SignedPolicy::parse(&bytes, &source)?
    } else {
        SignedPolicy::from_draft(&bytes, &source, now)?
    };
    signed.body.validate()?;
    let own = root_keys(&signed.body)?;
    let id = root.key_id();
    let is_own = own.iter().any(|(k, _)| *k == id);
    signed.add_signature(root)?;
    if !is_own {
        // Allowed (the outgoing root signs a rotation), but say so.
        eprintln!(
            "note: root key {id} is not among this policy's own root keys; its signature counts only as the policy in force's root"
        );
    }
    Ok(signed)
}

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// A TOML draft of the next policy for this node: the policy in force (or,
/// for the first, this node's trust list and operators), version + 1.
pub fn template(home: &Home, root_pub: Option<&RootCard>) -> Result<String> {
    let current = current(home.store(), home.vault())?;
    let mut out = String::new();
    let (version, root_keys, threshold, mut peers, operators, revoked, approvals) = match &current {
        Some(c) => {
            let b = c.body();
            (
                b.version + 1,
                b.root.keys.clone(),
                b.root.threshold,
                b.peers.clone(),
                b.operators.clone(),
                b.revoked.clone(),
                b.approvals.clone(),
            )
        }
        None => (
            1,
            Vec::new(),
            1,
            Vec::new(),
            Vec::new(),
            Vec::new(),
            BTreeMap::new(),
        ),
    };
    let gates = current
        .as_ref()
        .map(|c| c.body().gates.clone())
        .unwrap_or_default();
    let mut root_keys = root_keys;
    if let Some(r) = root_pub
        && !root_keys.contains(&r.public_key)
    {
        root_keys.push(r.public_key.clone());
    }
    if current.is_none() {
        for (site, signing_key, age_recipient) in
            crate::store::trust::trusted_site_keys(home.store())?
        {
            peers.push(PeerEntry {
                site: site.parse()?,
                signing_key,
                age_recipient,
            });
        }
    }
    // Operators made here but not in the policy: offered as comments, with
    // no role, for the root holder to grant deliberately. Revoked keys are
    // left out.
    let mut unlisted = Vec::new();
    for (name, key) in crate::store::trust::operator_keys(home.store())? {
        let revoked_here = key_id_of(&key).is_ok_and(|id| revoked.contains(&id.to_string()));
        if !revoked_here && !operators.iter().any(|o| o.key == key) {
            unlisted.push((name, key));
        }
    }
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "# Trust policy draft for site {}. Edit, then sign it offline with the root key:\n#   airlock policy sign THIS.toml --root ROOT_DIR --out policy-v{version}.json",
        home.site()
    );
    let _ = writeln!(out, "site = {}", toml_str(home.site().as_str()));
    let _ = writeln!(out, "version = {version}");
    let _ = writeln!(
        out,
        "# This node's signing key (key id {}).",
        home.keys().key_id()
    );
    let _ = writeln!(
        out,
        "site_key = {}",
        toml_str(&hex::encode(home.public().signing.as_bytes()))
    );
    let _ = writeln!(
        out,
        "# Revoked key ids (operators or peers): permanent.\nrevoked = [{}]",
        revoked
            .iter()
            .map(|r| toml_str(r))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "\n[root]\n# The root keys that must sign the next version."
    );
    let _ = writeln!(
        out,
        "keys = [{}]\nthreshold = {threshold}",
        root_keys
            .iter()
            .map(|k| toml_str(k))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "\n[approvals]\n# Approvals by distinct operators a deployment to a slot needs (\"*\": any other slot; default 1)."
    );
    for (slot, k) in &approvals {
        let _ = writeln!(out, "{} = {k}", toml_str(slot));
    }
    let _ = writeln!(
        out,
        "\n[gates]\n# Peer sites whose gate reports count for a deployment to a slot (\"*\": any other slot).\n# This site's own always count, and its newest verdict outranks theirs; none listed: only this site's."
    );
    for (slot, gate_sites) in &gates {
        let _ = writeln!(
            out,
            "{} = [{}]",
            toml_str(slot),
            gate_sites
                .iter()
                .map(|s| toml_str(s.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for p in &peers {
        let _ = writeln!(
            out,
            "\n[[peers]]\nsite = {}\nsigning_key = {}\nage_recipient = {}",
            toml_str(p.site.as_str()),
            toml_str(&p.signing_key),
            toml_str(&p.age_recipient)
        );
    }
    for (name, key) in &unlisted {
        let _ = writeln!(
            out,
            "\n# Operator made on this node, not in the policy: uncomment and choose roles to grant any.\n# [[operators]]\n# name = {}\n# key = {}\n# roles = [\"approve\"]",
            toml_str(name),
            toml_str(key)
        );
    }
    for o in &operators {
        let _ = writeln!(
            out,
            "\n[[operators]]\nname = {}\nkey = {}\nroles = [{}]",
            toml_str(&o.name),
            toml_str(&o.key),
            o.roles
                .iter()
                .map(|r| toml_str(r.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(out)
}

/// Reads a `root.pub` file.
pub fn read_root_card(path: &Path) -> Result<RootCard> {
    let p = if path.is_dir() {
        path.join(ROOT_PUB_FILE)
    } else {
        path.to_path_buf()
    };
    let bytes = fsx::read_capped(&p, 64 << 10)?;
    let card: RootCard = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Rejected(format!(
            "root key card {}: {}",
            p.display(),
            crate::text::error_text(&e)
        ))
    })?;
    if card.format != ROOT_PUB_FORMAT || key_id_of(&card.public_key)? != card.key_id {
        return Err(Error::Rejected(format!(
            "root key card {}: not a root key card, or its key id does not match its key",
            p.display()
        )));
    }
    Ok(card)
}
