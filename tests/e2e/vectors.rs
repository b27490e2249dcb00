//! Named test vectors: one hostile bundle per attack `docs/bundle-format.md`
//! lists, each refused with its reason, its exit code, an audit record of
//! the refusal, and the store unchanged.

use std::path::Path;

use airlock::bundle::format::Entry;
use airlock::digest::Digest;
use airlock::vault::registry::Kind;

use crate::craft::{self, Signer, days_from_now, seal, unseal};
use crate::harness::{World, import_refused, ok};

/// A fresh genuine bundle from lab to plant, changed by `edit` and signed
/// again with lab's key (an origin that signs what it should not).
fn resigned(w: &World, name: &str, edit: impl FnOnce(&mut craft::Unsealed)) -> std::path::PathBuf {
    let mut u = unseal(&w.fresh_bundle("genuine.airlock"), &w.plant());
    edit(&mut u);
    let f = w.media(name);
    seal(&u, None, &w.plant(), Signer::Key(&w.lab()), &f);
    f
}

/// Flips a byte of the model weights' bytes (leaving the manifest's digest).
fn damage_weights(u: &mut craft::Unsealed) {
    let i = u
        .manifest
        .objects
        .iter()
        .position(|e| e.kind == Kind::Weights)
        .unwrap();
    u.objects[i][100] ^= 1;
}

#[test]
fn vector_forged_manifest_signature() {
    let w = World::new();
    let mut u = unseal(&w.fresh_bundle("genuine.airlock"), &w.plant());
    // The attacker widens the expiry and signs with a key of their own,
    // keeping lab's name and key id.
    u.manifest.expires_at = days_from_now(3000);
    let rogue = w.add_site("rogue");
    let f = w.media("forged.airlock");
    seal(&u, None, &w.plant(), Signer::Key(&rogue), &f);
    import_refused(&w.plant(), &f, 4, "the manifest signature does not verify");
}

#[test]
fn vector_manifest_by_another_key_of_the_origin() {
    let w = World::new();
    let mut u = unseal(&w.fresh_bundle("genuine.airlock"), &w.plant());
    let rogue = w.add_site("rogue");
    u.manifest.origin_key = craft::keys_of(&rogue).key_id().to_string();
    let f = w.media("other-key.airlock");
    seal(&u, None, &w.plant(), Signer::Key(&rogue), &f);
    import_refused(
        &w.plant(),
        &f,
        5,
        "but the key this node holds for site \"lab\" is",
    );
}

#[test]
fn vector_reencrypted_to_another_site() {
    let w = World::new();
    let depot = w.add_site("depot");
    ok(&w.lab(), &["trust", "add", &w.m("depot.card.json")]);
    let for_depot = w.export(&w.lab(), "depot", "for-depot.airlock", &[&w.model()]);
    // Someone holding depot's key re-encrypts depot's bundle to plant; they
    // cannot re-sign, so the manifest still names depot.
    let u = unseal(&for_depot, &depot);
    let f = w.media("reencrypted.airlock");
    seal(&u, None, &w.plant(), Signer::Keep, &f);
    import_refused(
        &w.plant(),
        &f,
        5,
        "is addressed to site \"depot\", not to this site",
    );
}

#[test]
fn vector_object_digest_mismatch() {
    let w = World::new();
    let f = resigned(&w, "digest.airlock", damage_weights);
    import_refused(&w.plant(), &f, 4, "not the digest its manifest lists");
}

#[test]
fn vector_body_swapped_without_the_origin_key() {
    let w = World::new();
    let genuine = w.fresh_bundle("genuine.airlock");
    let mut u = unseal(&genuine, &w.plant());
    damage_weights(&mut u);
    // Anyone can encrypt to plant's key, but without lab's key the signed
    // manifest stays as it was: re-seal until the payload has the signed
    // length (age's header length varies), so the part digest is what
    // catches the swap.
    let f = w.media("swapped.airlock");
    for _ in 0..20_000 {
        let _ = std::fs::remove_file(&f);
        seal(&u, None, &w.plant(), Signer::Keep, &f);
        let again = unseal_footer_payload(&f);
        if again == u.manifest.payload.size {
            break;
        }
    }
    assert_eq!(unseal_footer_payload(&f), u.manifest.payload.size);
    import_refused(&w.plant(), &f, 4, "part 1 (");
}

fn unseal_footer_payload(f: &Path) -> u64 {
    let bytes = std::fs::read(f).unwrap();
    let end = &bytes[bytes.len() - 24..];
    airlock::bundle::format::Footer::parse(end, bytes.len() as u64)
        .unwrap()
        .payload_len
}

#[test]
fn vector_unlisted_entry() {
    let w = World::new();
    let u = unseal(&w.fresh_bundle("genuine.airlock"), &w.plant());
    let mut body: Vec<u8> = u.objects.concat();
    body.extend_from_slice(b"#!/bin/sh\nrm -rf /\n");
    let f = w.media("unlisted.airlock");
    seal(&u, Some(&body), &w.plant(), Signer::Key(&w.lab()), &f);
    import_refused(&w.plant(), &f, 4, "data after the end of the last object");
}

#[test]
fn vector_missing_entry() {
    let w = World::new();
    let mut u = unseal(&w.fresh_bundle("genuine.airlock"), &w.plant());
    // The manifest lists one more object than the body carries.
    let ghost = Digest::of(b"0123456789");
    u.manifest.objects.push(Entry {
        id: ghost,
        kind: Kind::Contract,
        size: 10,
        attestations: vec![craft::attest(&w.lab(), "lab", Kind::Contract, &ghost)],
    });
    let f = w.media("missing.airlock");
    seal(&u, None, &w.plant(), Signer::Key(&w.lab()), &f);
    import_refused(&w.plant(), &f, 4, "truncated inside the object");
}

#[test]
fn vector_duplicate_entry() {
    let w = World::new();
    let f = resigned(&w, "duplicate.airlock", |u| {
        u.manifest.objects.push(u.manifest.objects[0].clone());
        u.objects.push(u.objects[0].clone());
    });
    import_refused(&w.plant(), &f, 4, "is listed twice");
}

#[test]
fn vector_expired_bundle() {
    let w = World::new();
    let f = resigned(&w, "expired.airlock", |u| {
        u.manifest.created_at = days_from_now(-10);
        u.manifest.expires_at = days_from_now(-1);
    });
    import_refused(&w.plant(), &f, 5, "expired at");
}

#[test]
fn vector_deployment_record_in_bundle() {
    let w = World::new();
    // Plant's own deployment record, carried back into plant as if lab had
    // decided it: deployments are local decisions and never travel.
    let conn = rusqlite::Connection::open(w.plant().join("store.db")).unwrap();
    let id: String = conn
        .query_row("SELECT id FROM deployments LIMIT 1", [], |r| r.get(0))
        .unwrap();
    let id: Digest = id.parse().unwrap();
    let keys = craft::keys_of(&w.plant());
    let vault = airlock::vault::Vault::open(&w.plant().join("vault"), keys.age_identity()).unwrap();
    let doc = vault.read(&id, 1 << 20).unwrap();
    let mut u = unseal(&w.fresh_bundle("genuine.airlock"), &w.plant());
    u.manifest.objects.push(Entry {
        id,
        kind: Kind::Deployment,
        size: doc.len() as u64,
        attestations: vec![craft::attest(&w.lab(), "lab", Kind::Deployment, &id)],
    });
    u.objects.push(doc);
    let f = w.media("deployment.airlock");
    seal(&u, None, &w.plant(), Signer::Key(&w.lab()), &f);
    import_refused(&w.plant(), &f, 5, "it carries a deployment record");
}

#[test]
fn vector_bundle_from_the_future() {
    let w = World::new();
    let f = resigned(&w, "future.airlock", |u| {
        u.manifest.created_at = days_from_now(3);
        u.manifest.expires_at = days_from_now(30);
    });
    import_refused(&w.plant(), &f, 5, "more than a day after this node's clock");
}

/// The freeze attack on a node without a trusted clock: once plant has
/// accepted a bundle made at time T, a bundle made long before T is refused
/// unless the operator overrides (audited), and expiry is judged against T
/// even if plant's own clock is behind.
#[test]
fn vector_stale_bundle_and_latest_trusted_time() {
    let w = World::new();
    let genuine = w.fresh_bundle("genuine.airlock");
    let u = unseal(&genuine, &w.plant());

    // Made 40 days ago, still unexpired, newer sequence than anything seen.
    let mut old = unseal(&genuine, &w.plant());
    old.manifest.sequence = 10;
    old.manifest.created_at = days_from_now(-40);
    old.manifest.expires_at = days_from_now(5);
    let stale = w.media("stale.airlock");
    seal(&old, None, &w.plant(), Signer::Key(&w.lab()), &stale);
    // The demo's import set the latest trusted time to about now.
    import_refused(
        &w.plant(),
        &stale,
        5,
        "more than 30 days before the newest bundle",
    );
    let out = ok(
        &w.plant(),
        &[
            "--json",
            "bundle",
            "import",
            "--allow-stale",
            &stale.display().to_string(),
        ],
    );
    assert!(out.contains("\"sequence\": 10"), "{out}");
    let (action, details) = crate::harness::last_audit(&w.plant());
    assert_eq!(action, "bundle.import");
    assert_eq!(details["allow_stale"], true, "{details}");

    // A bundle made 20 hours ahead (within the clock skew allowed) moves
    // the trusted time forward; then one that expires before that time is
    // refused though plant's clock says it is still valid.
    let mut ahead = unseal(&genuine, &w.plant());
    ahead.manifest.sequence = 11;
    ahead.manifest.created_at = airlock::node::time::Timestamp(days_from_now(0).0 + 20 * 3600);
    ahead.manifest.expires_at = days_from_now(30);
    let ahead_f = w.media("ahead.airlock");
    seal(&ahead, None, &w.plant(), Signer::Key(&w.lab()), &ahead_f);
    ok(
        &w.plant(),
        &["bundle", "import", &ahead_f.display().to_string()],
    );
    let mut soon = u;
    soon.manifest.sequence = 12;
    soon.manifest.created_at = days_from_now(0);
    soon.manifest.expires_at = airlock::node::time::Timestamp(days_from_now(0).0 + 10 * 3600);
    let soon_f = w.media("soon.airlock");
    seal(&soon, None, &w.plant(), Signer::Key(&w.lab()), &soon_f);
    import_refused(&w.plant(), &soon_f, 5, "the latest trusted time is");
}
