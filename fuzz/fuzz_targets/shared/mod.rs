//! What several targets share: fixed keys, so a target can sign what it builds from the
//! input and reach the code behind a signature check.

#![allow(dead_code)]

use airlock_core::keys::{Domain, Signer, SiteSigner};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

/// age's own test recipient (age 0.12, `native/x25519.rs`).
pub const AGE_RECIPIENT: &str = "age1t7rxyev2z3rw82stdlrrepyc39nvn86l5078zqkf5uasdy86jp6svpy7pa";

/// A key from a fixed seed. Seed 0x5a is the root key the `policy` seeds list
/// (public key 0d7550754e0800a5d237eef5826035766b9b3e5a15868a940ab289958788e3b0); seed 0x5b
/// their site key (6b734a8eff246fe734b38d4046c148eee5f04fe87b3a0a423955a77956de066b).
pub struct FuzzKey {
    key: SigningKey,
    /// The age recipient it presents as a site.
    pub age_recipient: String,
}

impl FuzzKey {
    /// The key of `seed`.
    pub fn new(seed: u8) -> Self {
        FuzzKey {
            key: SigningKey::from_bytes(&[seed; 32]),
            age_recipient: AGE_RECIPIENT.into(),
        }
    }

    /// Its public key, hex.
    pub fn public_hex(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }
}

impl Signer for FuzzKey {
    fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }
    fn sign(&self, domain: Domain, payload: &[u8]) -> String {
        hex::encode(self.key.sign(&domain.message(payload)).to_bytes())
    }
}

impl SiteSigner for FuzzKey {
    fn age_recipient(&self) -> String {
        self.age_recipient.clone()
    }
}
