//! Signing domains, key ids, public keys and signature verification: the public half of
//! Airlock's keys. The secret keys and their files live in the appliance (`airlock::trust::keys`).

use std::fmt;

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};

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

/// Whether `s` has the form of a key id: 16 lowercase hex digits.
pub fn is_key_id(s: &str) -> bool {
    s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
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
    /// The manifest of a node's installed files (`airlock-install seal`), signed by the
    /// site key.
    InstallSeal,
    /// The manifest of a release archive (`airlock-install release`), signed by the
    /// vendor's release key.
    Release,
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
            Domain::InstallSeal => b"airlock/v1/install-seal\0",
            Domain::Release => b"airlock/v1/release-manifest\0",
        }
    }

    /// The message a key signs for `payload` in this domain: the domain's tag, then the
    /// payload.
    pub fn message(self, payload: &[u8]) -> Vec<u8> {
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

    /// Checks that the age recipient is one age would accept.
    pub fn check_recipient(&self) -> Result<()> {
        check_age_recipient(&self.age_recipient)
    }
}

/// A key that signs in a [`Domain`]: a site key, an operator's key, a root key. The
/// secret stays with the implementor (the appliance keeps it zeroized, on disk sealed);
/// the core only asks for signatures.
pub trait Signer {
    /// The public key that verifies this key's signatures.
    fn verifying_key(&self) -> VerifyingKey;

    /// Its key id.
    fn key_id(&self) -> KeyId {
        KeyId::of(&self.verifying_key())
    }

    /// Signs `payload` in `domain`; the signature as hex.
    fn sign(&self, domain: Domain, payload: &[u8]) -> String;
}

/// A site's keys as far as its site card goes: a [`Signer`] with an age recipient.
pub trait SiteSigner: Signer {
    /// The site's age recipient (`age1...`).
    fn age_recipient(&self) -> String;

    /// The public halves.
    fn public(&self) -> PublicKeys {
        PublicKeys {
            signing: self.verifying_key(),
            age_recipient: self.age_recipient(),
        }
    }
}

/// Parses a hex-encoded ed25519 public key.
pub fn parse_verifying_key(hex_key: &str) -> Result<VerifyingKey> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_key, &mut bytes).map_err(|_| Error::PublicKeyHex {
        key: hex_key.to_string(),
    })?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| Error::PublicKey {
        key: hex_key.to_string(),
    })
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

/// Bech32 exactly as age decodes it: BIP-173's checksum without its 90-character limit
/// (age-core's `Bech32Long`).
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Bech32Long {}

impl bech32::Checksum for Bech32Long {
    type MidstateRepr = u32;
    const CODE_LENGTH: usize = usize::MAX;
    const CHECKSUM_LENGTH: usize = bech32::Bech32::CHECKSUM_LENGTH;
    const GENERATOR_SH: [u32; 5] = bech32::Bech32::GENERATOR_SH;
    const TARGET_RESIDUE: u32 = bech32::Bech32::TARGET_RESIDUE;
}

/// Checks that `recipient` is an age X25519 recipient (`age1...`) the way age 0.12's
/// `x25519::Recipient::from_str` does: valid Bech32, the `age` prefix, 32 bytes of key. The
/// reasons are age's own words. (The appliance, which encrypts, parses it with age itself; a
/// unit test there holds the two to the same verdicts.)
pub fn check_age_recipient(recipient: &str) -> Result<()> {
    let bad = |reason| Error::AgeRecipient {
        recipient: recipient.to_string(),
        reason,
    };
    let parsed = bech32::primitives::decode::CheckedHrpstring::new::<Bech32Long>(recipient)
        .map_err(|_| bad("invalid Bech32 encoding"))?;
    if parsed.hrp() != bech32::Hrp::parse_unchecked("age") {
        return Err(bad("incorrect HRP"));
    }
    if parsed.byte_iter().len() != 32 {
        return Err(bad("incorrect pubkey length"));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ed25519_dalek::{Signer as _, SigningKey};

    /// A key for tests: a fixed seed, and age's own test recipient.
    pub(crate) struct TestKey {
        key: SigningKey,
        pub(crate) age_recipient: String,
    }

    impl TestKey {
        pub(crate) fn new(seed: u8) -> Self {
            TestKey {
                key: SigningKey::from_bytes(&[seed; 32]),
                age_recipient: "age1t7rxyev2z3rw82stdlrrepyc39nvn86l5078zqkf5uasdy86jp6svpy7pa"
                    .into(),
            }
        }

        pub(crate) fn public_hex(&self) -> String {
            hex::encode(self.key.verifying_key().as_bytes())
        }
    }

    impl Signer for TestKey {
        fn verifying_key(&self) -> VerifyingKey {
            self.key.verifying_key()
        }
        fn sign(&self, domain: Domain, payload: &[u8]) -> String {
            hex::encode(self.key.sign(&domain.message(payload)).to_bytes())
        }
    }

    impl SiteSigner for TestKey {
        fn age_recipient(&self) -> String {
            self.age_recipient.clone()
        }
    }

    #[test]
    fn signatures_verify_only_in_their_domain_and_over_their_payload() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let public = key.verifying_key();
        let sig = hex::encode(key.sign(&Domain::Artifact.message(b"hello")).to_bytes());
        assert!(verify(&public, Domain::Artifact, b"hello", &sig));
        assert!(
            !verify(&public, Domain::Audit, b"hello", &sig),
            "domains must not mix"
        );
        assert!(!verify(&public, Domain::Artifact, b"hellO", &sig));
        assert!(!verify(&public, Domain::Artifact, b"hello", "zz"));
    }

    #[test]
    fn every_domain_has_a_tag_of_its_own_that_no_other_begins_with() {
        let all = [
            Domain::Artifact,
            Domain::Audit,
            Domain::Manifest,
            Domain::SiteCard,
            Domain::Policy,
            Domain::Approval,
            Domain::OperatorAction,
            Domain::InstallSeal,
            Domain::Release,
        ];
        // A new domain must be listed above: this match stops compiling without it.
        for d in all {
            match d {
                Domain::Artifact
                | Domain::Audit
                | Domain::Manifest
                | Domain::SiteCard
                | Domain::Policy
                | Domain::Approval
                | Domain::OperatorAction
                | Domain::InstallSeal
                | Domain::Release => {}
            }
        }
        for (i, a) in all.iter().enumerate() {
            let tag = a.tag();
            assert!(
                tag.starts_with(b"airlock/v1/") && tag.ends_with(b"\0"),
                "{a:?}"
            );
            for b in &all[i + 1..] {
                // Prefix-free tags: no message of one domain is also a message of another.
                assert!(
                    !tag.starts_with(b.tag()) && !b.tag().starts_with(tag),
                    "{a:?} and {b:?} share a tag prefix"
                );
            }
        }
        // A seal signed by a site key is not a release signature, nor the reverse.
        let key = SigningKey::from_bytes(&[9u8; 32]);
        let sig = hex::encode(key.sign(&Domain::InstallSeal.message(b"m")).to_bytes());
        assert!(verify(
            &key.verifying_key(),
            Domain::InstallSeal,
            b"m",
            &sig
        ));
        assert!(!verify(&key.verifying_key(), Domain::Release, b"m", &sig));
        assert!(!verify(&key.verifying_key(), Domain::Manifest, b"m", &sig));
    }

    #[test]
    fn key_ids_are_16_hex_digits_of_the_key_digest() {
        let public = SigningKey::from_bytes(&[1u8; 32]).verifying_key();
        let id = KeyId::of(&public);
        assert!(is_key_id(id.as_str()), "{id}");
        assert_eq!(id.as_str(), &Digest::of(public.as_bytes()).hex()[..16]);
        let parsed = parse_verifying_key(&hex::encode(public.as_bytes())).expect("parse");
        assert_eq!(parsed, public);
        assert!(matches!(
            parse_verifying_key("xyz"),
            Err(Error::PublicKeyHex { .. })
        ));
        assert!(!is_key_id("0123456789ABCDEF"));
    }

    #[test]
    fn age_recipients_are_checked_as_age_does() {
        // age's own test vector (age-0.12 native/x25519.rs).
        let good = "age1t7rxyev2z3rw82stdlrrepyc39nvn86l5078zqkf5uasdy86jp6svpy7pa";
        assert!(check_age_recipient(good).is_ok());
        let reason = |s: &str| match check_age_recipient(s) {
            Err(Error::AgeRecipient { reason, .. }) => reason,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(reason(&good.replace('q', "p")), "invalid Bech32 encoding");
        assert_eq!(reason("not a recipient"), "invalid Bech32 encoding");
        // A valid Bech32 string with another prefix, and one with 20 bytes of data.
        assert_eq!(
            reason("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
            "incorrect HRP"
        );
        let short = bech32::encode::<bech32::Bech32>(bech32::Hrp::parse_unchecked("age"), &[1; 20])
            .expect("encode");
        assert_eq!(reason(&short), "incorrect pubkey length");
    }
}
