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
    assert!(String::from_utf8_lossy(&v2.bytes).contains("\"gates\":{\"production\":[\"lab\"]}"));
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
