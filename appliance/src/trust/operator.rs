//! Operator keys: one per person, for approvals (and, under a trust policy,
//! deployments and exports).
//!
//! `airlock keys operator new NAME` makes an ed25519 key whose secret is
//! sealed with the operator's passphrase (age scrypt) in
//! `HOME/operators/NAME.key` (0600, folder 0700), and a certificate: a
//! record naming the operator and their public key, signed by the site key.
//! What an operator may do is decided by the trust policy in force (signed
//! by the root key, see [`crate::trust::policy`]); a node without a policy (setup
//! mode) lets any certified operator approve.
//!
//! Using an operator key checks, before the passphrase is asked for: the
//! certificate's signature, the key file's permissions, that the policy
//! lists the key with the role, and that it is not revoked.

use std::path::PathBuf;

use serde::Serialize;
use serde_json::json;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::node::fsx;
use crate::node::home::Home;
use crate::store::AuditEntry;
use crate::store::audit;
use crate::trust::keys::{Domain, KeyId};
use crate::trust::personal::{PassSource, PersonalKey};
use crate::trust::policy::{self, InForce, Role};
use crate::vault::registry;

pub use airlock_core::record::{CERT_TYPE, OperatorCert};

/// The folder, inside the home, of sealed operator keys.
pub const DIR: &str = "operators";

/// An operator as listed.
#[derive(Clone, Debug, Serialize)]
pub struct OperatorInfo {
    /// Name.
    pub name: String,
    /// Key id.
    pub key_id: String,
    /// Public key, hex (for the policy's `operators`).
    pub key: String,
    /// The certificate's id.
    pub certificate: String,
    /// When the key was made.
    pub created_at: String,
    /// Roles under the policy in force (empty in setup mode or if unlisted).
    pub roles: Vec<Role>,
    /// Revoked by the policy in force.
    pub revoked: bool,
}

/// An unlocked operator key, for one command.
#[derive(Debug)]
pub struct Operator {
    /// The operator's name.
    pub name: String,
    key: PersonalKey,
}

impl Operator {
    /// The key id.
    pub fn key_id(&self) -> KeyId {
        self.key.key_id()
    }
    /// The public key, hex.
    pub fn public_hex(&self) -> String {
        self.key.public_hex()
    }
    /// Signs `payload` in `domain`.
    pub fn sign(&self, domain: Domain, payload: &[u8]) -> String {
        self.key.sign(domain, payload)
    }
}

fn key_path(home: &Home, name: &str) -> PathBuf {
    home.root().join(DIR).join(format!("{name}.key"))
}

/// Creates operator `name`: the sealed key file and the signed certificate.
pub fn create(home: &mut Home, name: &str, pass: PassSource) -> Result<OperatorInfo> {
    create_with(home, name, pass, None)
}

/// [`create`] with a chosen scrypt work factor (the demo's throwaway keys);
/// `None` lets age calibrate it.
pub fn create_with(
    home: &mut Home,
    name: &str,
    pass: PassSource,
    log_n: Option<u8>,
) -> Result<OperatorInfo> {
    policy::validate_operator_name(name)?;
    let path = key_path(home, name);
    let exists = crate::store::trust::operator_exists(home.store(), name)?;
    if exists {
        return Err(Error::Refused(format!(
            "operator {name} already exists; a new key for a person needs a new name, and the old key's revocation in the trust policy"
        )));
    }
    if std::fs::symlink_metadata(&path).is_ok() {
        return Err(Error::Refused(format!(
            "{} exists but no operator {name} is recorded (an interrupted `keys operator new`?); move it away, then retry",
            path.display()
        )));
    }
    let pass = pass.read(&format!("New passphrase for operator {name}: "), true)?;
    let key = PersonalKey::generate()?;
    fsx::create_private_dir(&home.root().join(DIR))?;
    key.save_sealed(&path, &pass, log_n)?;
    let site = home.site().clone();
    let cert = OperatorCert {
        ty: CERT_TYPE.into(),
        site: site.clone(),
        name: name.into(),
        key: key.public_hex(),
        key_id: key.key_id(),
        created_at: home.now(),
    };
    let result = (|| -> Result<Digest> {
        let tx = home.begin()?;
        let id = registry::put_record(&tx, &cert)?;
        crate::store::trust::insert_operator(
            &tx,
            &crate::store::trust::OperatorRow {
                name,
                key_id: cert.key_id.as_str(),
                public_key: &cert.key,
                cert: &id,
                created_at: &cert.created_at.to_string(),
            },
        )?;
        tx.commit(AuditEntry::new(
            "operator.create",
            &[id.hex()],
            json!({ "name": name, "key_id": cert.key_id, "key": cert.key }),
        ))?;
        Ok(id)
    })();
    let id = match result {
        Ok(id) => id,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
    };
    Ok(OperatorInfo {
        name: name.into(),
        key_id: cert.key_id.to_string(),
        key: cert.key,
        certificate: id.hex(),
        created_at: cert.created_at.to_string(),
        roles: Vec::new(),
        revoked: false,
    })
}

/// Whether the key `key_id` (public key `key_hex`) belongs to an operator
/// this site certified: an `operators` row whose site-signed certificate
/// verifies and names this site, this key and the row's name. What counts
/// in setup mode, where no policy lists operators.
pub fn certified(home: &Home, key_id: &KeyId, key_hex: &str) -> Result<bool> {
    let row = crate::store::trust::operator_by_key(home.store(), key_id.as_str())?;
    let Some((name, cert_id)) = row else {
        return Ok(false);
    };
    let cert_id: Digest = cert_id
        .parse()
        .map_err(|e| Error::Integrity(format!("operators: {e}")))?;
    let cert: OperatorCert = registry::load(home.store(), home.vault(), &cert_id)?;
    if cert.name != name || cert.key_id != *key_id || cert.site != *home.site() {
        return Err(Error::Integrity(format!(
            "operator {name}'s certificate {} does not match its index row; the store was altered",
            cert_id.short()
        )));
    }
    Ok(cert.key == key_hex)
}

/// Every operator, with their roles under the policy in force.
pub fn list(home: &Home) -> Result<Vec<OperatorInfo>> {
    let current = policy::current(home.store(), home.vault())?;
    let mut out = Vec::new();
    for (name, key_id, key, certificate, created_at) in
        crate::store::trust::operators(home.store())?
    {
        let (roles, revoked) = match &current {
            Some(c) => {
                let kid = KeyId::of(&crate::trust::keys::parse_verifying_key(&key)?);
                (
                    c.body()
                        .operator(&kid)
                        .map(|o| o.roles.clone())
                        .unwrap_or_default(),
                    c.body().is_revoked(&kid),
                )
            }
            None => (Vec::new(), false),
        };
        out.push(OperatorInfo {
            name,
            key_id,
            key,
            certificate,
            created_at,
            roles,
            revoked,
        });
    }
    Ok(out)
}

/// Unlocks operator `name` for an action needing `role`: checks the
/// certificate, the policy (listed, holds the role, not revoked; in setup
/// mode, with no policy, any certified operator may act), then asks for the
/// passphrase and opens the key.
pub fn unlock(home: &Home, name: &str, role: Role, pass: PassSource) -> Result<Operator> {
    let row = crate::store::trust::operator_by_name(home.store(), name)?;
    let Some((key_id, cert_id)) = row else {
        return Err(Error::NotFound(format!(
            "no operator {name:?} on this node; create one with `airlock keys operator new {name}`"
        )));
    };
    let cert_id: Digest = cert_id
        .parse()
        .map_err(|e| Error::Integrity(format!("operators: {e}")))?;
    let cert: OperatorCert = registry::load(home.store(), home.vault(), &cert_id)?;
    if cert.name != name || cert.key_id.as_str() != key_id || cert.site != *home.site() {
        return Err(Error::Integrity(format!(
            "operator {name}'s certificate {} does not match its index row; the store was altered",
            cert_id.short()
        )));
    }
    let kid = cert.key_id.clone();
    check_role(
        policy::current(home.store(), home.vault())?.as_ref(),
        name,
        &kid,
        role,
    )?;
    let pass = pass.read(&format!("Passphrase for operator {name}: "), false)?;
    let key = PersonalKey::open_sealed(&key_path(home, name), &pass)?;
    if key.key_id() != kid {
        return Err(Error::Key {
            path: key_path(home, name),
            reason: format!(
                "this key (id {}) is not operator {name}'s certified key ({kid})",
                key.key_id()
            ),
        });
    }
    Ok(Operator {
        name: name.into(),
        key,
    })
}

/// Under the policy `current` (in force), `name` (key `kid`) must be
/// listed, hold `role` and not be revoked; in setup mode (no policy) any
/// certified operator may act.
fn check_role(current: Option<&InForce>, name: &str, kid: &KeyId, role: Role) -> Result<()> {
    if let Some(p) = current {
        let v = p.version();
        if p.body().is_revoked(kid) {
            return Err(Error::Refused(format!(
                "operator {name} (key {kid}) is revoked by trust policy v{v}; the key can no longer {}",
                role.as_str()
            )));
        }
        match p.body().operator(kid) {
            None => {
                return Err(Error::Refused(format!(
                    "operator {name} (key {kid}) is not in trust policy v{v}; the root key holder must add them"
                )));
            }
            Some(o) if !o.roles.contains(&role) => {
                return Err(Error::Refused(format!(
                    "operator {name} (key {kid}) does not hold the {} role in trust policy v{v} (roles: {})",
                    role.as_str(),
                    o.roles
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// `airlock audit adopt-checkpoint`: adopting a first checkpoint declares the
/// log before it unprotected, so under a trust policy it needs an operator
/// holding the `audit` role (unlocked for it); in setup mode any certified
/// operator, or none. The operator, their key id and their signature over
/// the adopted head go into the adoption's audit record.
pub fn adopt_audit_checkpoint(home: &mut Home, operator: Option<&Operator>) -> Result<i64> {
    authorize(
        policy::current(home.store(), home.vault())?.as_ref(),
        operator,
        Role::Audit,
    )?;
    let root = home.root().to_path_buf();
    let seq = match operator {
        Some(o) => {
            let sign = |m: &[u8]| o.sign(Domain::OperatorAction, m);
            let signer = audit::Signer {
                name: &o.name,
                key_id: o.key_id(),
                sign: &sign,
            };
            audit::adopt_checkpoint(&root, home.begin_immediate()?, Some(&signer))?
        }
        None => audit::adopt_checkpoint(&root, home.begin_immediate()?, None)?,
    };
    // The first checkpoint, over the log with its adoption record.
    audit::write_checkpoint(&root, home.store(), home.keys(), true)?;
    Ok(seq)
}

/// Who may act for `role` under the policy `current`, checked just before
/// the action is written (the operator was checked when unlocked too): a
/// given operator must hold the role; under a policy one must be given.
pub fn authorize(current: Option<&InForce>, operator: Option<&Operator>, role: Role) -> Result<()> {
    match (operator, current) {
        (Some(o), _) => check_role(current, &o.name, &o.key_id(), role),
        (None, Some(p)) => Err(Error::Refused(format!(
            "trust policy v{} requires an operator holding the {r} role to {r}: pass --operator NAME",
            p.version(),
            r = role.as_str()
        ))),
        (None, None) => Ok(()),
    }
}
