//! The site's keys: an ed25519 signing key (records, approvals, bundle
//! manifests) and an age X25519 identity (the vault and incoming bundles are
//! encrypted to it).
//!
//! Secret keys live in types that zeroize on drop and never print: `Debug`
//! shows the key id only. Key files are 0600 in a 0700 folder and are
//! refused, with the fix spelled out, when they are more open than that.
//!
//! The public half (signing domains, key ids, public keys, verification) is
//! `airlock_core::keys`, re-exported here.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use ed25519_dalek::{Signer as _, SigningKey};
use zeroize::Zeroizing;

use crate::error::{Error, IoContext, Result};
use crate::node::fsx;

/// File name of the signing key inside the home's `keys/` folder.
pub const SIGNING_KEY_FILE: &str = "site.ed25519";
/// File name of the age identity inside the home's `keys/` folder.
pub const AGE_KEY_FILE: &str = "site.age";
const SIGNING_KEY_PREFIX: &str = "AIRLOCK-ED25519-SECRET-KEY-1:";

pub use airlock_core::keys::{
    Domain, KeyId, PublicKeys, Signer, SiteSigner, check_age_recipient, is_key_id,
    parse_verifying_key, verify,
};

/// The age recipient of a site's [`PublicKeys`], parsed by age itself (the
/// core checks its form without linking age).
pub trait AgeRecipient {
    /// The age recipient, parsed.
    fn recipient(&self) -> Result<age::x25519::Recipient>;
}

impl AgeRecipient for PublicKeys {
    fn recipient(&self) -> Result<age::x25519::Recipient> {
        age::x25519::Recipient::from_str(&self.age_recipient)
            .map_err(|e| Error::Rejected(format!("age recipient {:?}: {e}", self.age_recipient)))
    }
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

/// The core signs documents (site cards) through these.
impl Signer for SiteKeys {
    fn verifying_key(&self) -> ed25519_dalek::VerifyingKey {
        self.signing.verifying_key()
    }
    fn sign(&self, domain: Domain, payload: &[u8]) -> String {
        SiteKeys::sign(self, domain, payload)
    }
}

impl SiteSigner for SiteKeys {
    fn age_recipient(&self) -> String {
        self.age.to_public().to_string()
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
    fn the_core_checks_age_recipients_as_age_parses_them() {
        let good = SiteKeys::generate().expect("keys").public().age_recipient;
        let mut cases = vec![
            good.clone(),
            good.to_uppercase(),
            good.replace("age1", "agf1"),
            good[..good.len() - 1].to_string(),
            format!("{good}q"),
            String::new(),
            "age1".into(),
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4".into(),
            "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgp3vjdr5".into(),
        ];
        for i in [5, 10, 30] {
            let mut b = good.clone().into_bytes();
            b[i] = if b[i] == b'q' { b'p' } else { b'q' };
            cases.push(String::from_utf8(b).expect("ascii"));
        }
        for c in &cases {
            let keys = PublicKeys {
                signing: SiteKeys::generate().expect("keys").public().signing,
                age_recipient: c.clone(),
            };
            let by_age = keys.recipient().map_err(|e| e.to_string());
            let by_core = keys.check_recipient().map_err(|e| e.to_string());
            assert_eq!(
                by_age.is_ok(),
                by_core.is_ok(),
                "{c:?}: {by_age:?} vs {by_core:?}"
            );
            if let (Err(a), Err(b)) = (by_age, by_core) {
                assert_eq!(a, b, "{c:?}: the messages differ");
            }
        }
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
