//! The site's keys: an ed25519 signing key (records, approvals, bundle
//! manifests) and an age X25519 identity (the vault and incoming bundles are
//! encrypted to it).
//!
//! Secret keys live in types that zeroize on drop and never print: `Debug`
//! shows the key id only. Key files are 0600 in a 0700 folder and are
//! refused, with the fix spelled out, when they are more open than that.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::fsx;

/// File name of the signing key inside the home's `keys/` folder.
pub const SIGNING_KEY_FILE: &str = "site.ed25519";
/// File name of the age identity inside the home's `keys/` folder.
pub const AGE_KEY_FILE: &str = "site.age";
const SIGNING_KEY_PREFIX: &str = "AIRLOCK-ED25519-SECRET-KEY-1:";

/// A short, stable identifier of a signing key: the first 16 hex digits of
/// the SHA-256 of the public key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(String);

impl KeyId {
    /// The key id of a public key.
    pub fn of(key: &VerifyingKey) -> Self {
        KeyId(Digest::of(key.as_bytes()).hex()[..16].to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a signature covers is fixed by its domain, so a signature made for
/// one purpose (an audit record) can never be replayed as another (a bundle
/// manifest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// A record or artifact in the registry (its digest).
    Artifact,
    /// An audit log record (its hash).
    Audit,
    /// A bundle manifest (its canonical bytes).
    Manifest,
    /// A site card.
    SiteCard,
    /// A trust policy (signed by root keys).
    Policy,
    /// An approval (signed by the approving operator).
    Approval,
    /// An operator's authorisation of a deployment or an export.
    OperatorAction,
}

impl Domain {
    fn tag(self) -> &'static [u8] {
        match self {
            Domain::Artifact => b"airlock/v1/artifact\0",
            Domain::Audit => b"airlock/v1/audit\0",
            Domain::Manifest => b"airlock/v1/bundle-manifest\0",
            Domain::SiteCard => b"airlock/v1/site-card\0",
            Domain::Policy => b"airlock/v1/trust-policy\0",
            Domain::Approval => b"airlock/v1/approval\0",
            Domain::OperatorAction => b"airlock/v1/operator-action\0",
        }
    }

    pub(crate) fn message(self, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::with_capacity(self.tag().len() + payload.len());
        m.extend_from_slice(self.tag());
        m.extend_from_slice(payload);
        m
    }
}

/// A site's public keys, as published on its site card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKeys {
    /// Verifies the site's signatures.
    pub signing: VerifyingKey,
    /// Encrypts to the site (age X25519 recipient, `age1...`).
    pub age_recipient: String,
}

impl PublicKeys {
    /// The signing key's id.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.signing)
    }

    /// The age recipient, parsed.
    pub fn recipient(&self) -> Result<age::x25519::Recipient> {
        age::x25519::Recipient::from_str(&self.age_recipient)
            .map_err(|e| Error::Rejected(format!("age recipient {:?}: {e}", self.age_recipient)))
    }
}

/// Parses a hex-encoded ed25519 public key.
pub fn parse_verifying_key(hex_key: &str) -> Result<VerifyingKey> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_key, &mut bytes).map_err(|_| {
        Error::Rejected(format!(
            "not an ed25519 public key (64 hex digits): {hex_key:?}"
        ))
    })?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| Error::Rejected(format!("not a valid ed25519 public key: {hex_key}")))
}

/// Verifies `signature` (hex) over `payload` in `domain` with `key`.
/// Strict verification: no malleable or small-order signatures.
pub fn verify(key: &VerifyingKey, domain: Domain, payload: &[u8], signature_hex: &str) -> bool {
    let mut sig = [0u8; 64];
    if hex::decode_to_slice(signature_hex, &mut sig).is_err() {
        return false;
    }
    key.verify_strict(&domain.message(payload), &Signature::from_bytes(&sig))
        .is_ok()
}

/// A fresh ed25519 signing key from the operating system's random source.
pub(crate) fn fresh_signing_key() -> Result<SigningKey> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut())
        .map_err(|e| Error::io("/dev/urandom", std::io::Error::other(e.to_string())))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The site's secret keys.
pub struct SiteKeys {
    signing: SigningKey,
    age: age::x25519::Identity,
}

impl fmt::Debug for SiteKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SiteKeys {{ key_id: {}, secret: <redacted> }}",
            self.key_id()
        )
    }
}

impl SiteKeys {
    /// Generates fresh keys from the operating system's random source.
    pub fn generate() -> Result<Self> {
        Ok(SiteKeys {
            signing: fresh_signing_key()?,
            age: age::x25519::Identity::generate(),
        })
    }

    /// Writes both key files into `dir` (created 0700), each 0600, refusing
    /// to overwrite.
    pub fn save(&self, dir: &Path) -> Result<()> {
        fsx::create_private_dir(dir)?;
        let seed_hex = Zeroizing::new(hex::encode(self.signing.as_bytes()));
        let signing = Zeroizing::new(format!("{SIGNING_KEY_PREFIX}{}\n", seed_hex.as_str()));
        fsx::write_new(&dir.join(SIGNING_KEY_FILE), signing.as_bytes())?;
        let age = Zeroizing::new(format!("{}\n", self.age.to_string().expose_secret()));
        fsx::write_new(&dir.join(AGE_KEY_FILE), age.as_bytes())
    }

    /// Loads the key files from `dir`, refusing missing, malformed or
    /// too-permissive files with a message naming the file.
    pub fn load(dir: &Path) -> Result<Self> {
        fsx::check_private(dir)?;
        let signing_path = dir.join(SIGNING_KEY_FILE);
        let age_path = dir.join(AGE_KEY_FILE);
        fsx::check_private(&signing_path)?;
        fsx::check_private(&age_path)?;
        let text = Zeroizing::new(std::fs::read_to_string(&signing_path).at(&signing_path)?);
        let bad_signing = || {
            Error::Key {
            path: signing_path.clone(),
            reason: "not an Airlock ed25519 signing key (expected one line starting AIRLOCK-ED25519-SECRET-KEY-1:)".into(),
        }
        };
        let hex_seed = text
            .trim_end()
            .strip_prefix(SIGNING_KEY_PREFIX)
            .ok_or_else(bad_signing)?;
        let mut seed = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hex_seed, seed.as_mut()).map_err(|_| bad_signing())?;
        let text = Zeroizing::new(std::fs::read_to_string(&age_path).at(&age_path)?);
        let age = age::x25519::Identity::from_str(text.trim_end()).map_err(|e| Error::Key {
            path: age_path.clone(),
            reason: format!("not an age X25519 identity (AGE-SECRET-KEY-1...): {e}"),
        })?;
        Ok(SiteKeys {
            signing: SigningKey::from_bytes(&seed),
            age,
        })
    }

    /// The public halves.
    pub fn public(&self) -> PublicKeys {
        PublicKeys {
            signing: self.signing.verifying_key(),
            age_recipient: self.age.to_public().to_string(),
        }
    }

    /// The signing key's id.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.signing.verifying_key())
    }

    /// Signs `payload` in `domain`; the signature as hex.
    pub fn sign(&self, domain: Domain, payload: &[u8]) -> String {
        hex::encode(self.signing.sign(&domain.message(payload)).to_bytes())
    }

    /// The age identity, to decrypt the vault and incoming bundles.
    pub fn age_identity(&self) -> &age::x25519::Identity {
        &self.age
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keys_round_trip_and_sign() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kdir = dir.path().join("keys");
        let keys = SiteKeys::generate().expect("generate");
        keys.save(&kdir).expect("save");
        let loaded = SiteKeys::load(&kdir).expect("load");
        assert_eq!(loaded.public(), keys.public());
        let sig = loaded.sign(Domain::Artifact, b"hello");
        assert!(verify(
            &keys.public().signing,
            Domain::Artifact,
            b"hello",
            &sig
        ));
        assert!(
            !verify(&keys.public().signing, Domain::Audit, b"hello", &sig),
            "domains must not mix"
        );
        assert!(!verify(
            &keys.public().signing,
            Domain::Artifact,
            b"hellO",
            &sig
        ));
        assert!(!format!("{loaded:?}").contains(&hex::encode(loaded.signing.as_bytes())));
    }

    #[test]
    fn key_file_with_mode_0644_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kdir = dir.path().join("keys");
        SiteKeys::generate()
            .expect("generate")
            .save(&kdir)
            .expect("save");
        let f = kdir.join(SIGNING_KEY_FILE);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = SiteKeys::load(&kdir).expect_err("must refuse");
        assert!(err.to_string().contains("mode 0644"), "{err}");
    }

    #[test]
    fn garbage_key_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kdir = dir.path().join("keys");
        SiteKeys::generate()
            .expect("generate")
            .save(&kdir)
            .expect("save");
        std::fs::write(kdir.join(AGE_KEY_FILE), "not a key\n").expect("write");
        let err = SiteKeys::load(&kdir).expect_err("must refuse");
        assert!(err.to_string().contains(AGE_KEY_FILE), "{err}");
        assert!(
            err.to_string().contains("not an age X25519 identity"),
            "{err}"
        );
    }
}
