//! The trust policy document: `SignedPolicy::parse` (the signed JSON file a root holder
//! hands to a node, or that arrives in a bundle), `PolicyBody::validate`,
//! `SignedPolicy::from_draft` (the TOML draft) and the root chain rule for a first policy,
//! `check_successor`.
//!
//! The input is used twice. As a signed policy file: an accepted one must render to a file
//! that parses to the same bytes, body and signatures, and the root chain check must not
//! panic on it. As a TOML draft: an accepted draft is valid, is signed by the target's fixed
//! root key (seed 0x5a; the seeds list its public key), and must then be accepted as a first
//! policy pinned to that key exactly when the draft lists the key among its roots with a
//! threshold of 1, and refused otherwise.

#![no_main]

use airlock_core::keys::{Signer, parse_verifying_key};
use airlock_core::policy::{SignedPolicy, check_successor, key_id_of};
use airlock_core::time::Timestamp;
use libfuzzer_sys::fuzz_target;

mod shared;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = SignedPolicy::parse(data, "fuzz") {
        let again = SignedPolicy::parse(&p.render(), "rendered").expect("a parsed policy renders");
        assert_eq!(again.bytes, p.bytes);
        assert_eq!(again.body, p.body);
        assert_eq!(again.signatures, p.signatures);
        assert_eq!(again.id(), p.id());
        if p.body.validate().is_ok() {
            let site_key = parse_verifying_key(&p.body.site_key).expect("validated");
            let pin = p.body.root.keys.first().and_then(|k| key_id_of(k).ok());
            let _ = check_successor(
                None,
                &p,
                &p.body.site,
                &site_key,
                pin.as_ref().map(|k| k.as_str()),
            );
        }
    }

    let Ok(mut draft) = SignedPolicy::from_draft(data, "fuzz", Timestamp(1_795_439_109)) else {
        return;
    };
    draft
        .body
        .validate()
        .expect("a draft is validated when it is made");
    let root = shared::FuzzKey::new(0x5a);
    draft.add_signature(&root).expect("the first signature");
    assert!(
        draft.add_signature(&root).is_err(),
        "a second signature by the same key"
    );
    let signed = SignedPolicy::parse(&draft.render(), "signed").expect("a signed draft parses");
    assert_eq!(signed.body, draft.body);
    let site_key = parse_verifying_key(&signed.body.site_key).expect("validated");
    let pin = root.key_id();
    // By key, not by text: hex in capitals names the same key.
    let listed = signed
        .body
        .root
        .keys
        .iter()
        .any(|k| key_id_of(k).is_ok_and(|id| id == pin));
    let expected = listed && signed.body.root.threshold == 1;
    match check_successor(
        None,
        &signed,
        &signed.body.site,
        &site_key,
        Some(pin.as_str()),
    ) {
        Ok(first) => assert!(first && expected, "accepted: listed {listed}"),
        Err(e) => assert!(!expected, "refused although it should pass: {e}"),
    }
});
