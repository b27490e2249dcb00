//! The root key, the trust policy's root chain, operator keys, roles,
//! revocation and k-of-n approvals, driven through the real binary.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::harness::{
    World, fails, fingerprint, last_audit, ok, policy_sign_args, refs, root_init_args, run,
};

fn policy_version(w: &World) -> u64 {
    let v: serde_json::Value =
        serde_json::from_str(&ok(&w.plant(), &["--json", "policy", "show"])).unwrap();
    v["version"].as_u64().unwrap()
}

#[test]
fn policy_downgrade_and_a_policy_signed_by_a_non_root_key_are_refused() {
    let w = World::new();
    assert_eq!(policy_version(&w), 1);
    let v2 = w.plant_policy(|t| t);
    assert_eq!(policy_version(&w), 2);
    let (action, details) = last_audit(&w.plant());
    assert_eq!(action, "policy.apply");
    assert_eq!(details["version"], 2);

    // Downgrade: v1 again, and v1 carried in a bundle.
    let before = fingerprint(&w.plant());
    let v1 = w.m("plant-policy-v1.json");
    fails(
        &w.plant(),
        &["policy", "apply", &v1],
        5,
        &["downgrade", "version 1", "version 2 is in force"],
    );
    assert_eq!(fingerprint(&w.plant()), before);
    // Applying v2 again changes nothing.
    let out = ok(&w.plant(), &["policy", "apply", &v2.display().to_string()]);
    assert!(out.contains("already in force"), "{out}");
    assert_eq!(fingerprint(&w.plant()), before);

    // A stranger makes their own "root" and signs v3 naming themselves root.
    let evil = w.root.join("evil-root");
    fs::write(w.media("evil.pass"), "evil-passphrase\n").unwrap();
    fs::set_permissions(w.media("evil.pass"), fs::Permissions::from_mode(0o600)).unwrap();
    ok(&w.plant(), &refs(&root_init_args(&evil, &w.m("evil.pass"))));
    let evil_pub: serde_json::Value =
        serde_json::from_slice(&fs::read(evil.join("root.pub")).unwrap()).unwrap();
    let t = ok(&w.plant(), &["policy", "template"]);
    let real_root = t
        .lines()
        .find_map(|l| l.strip_prefix("keys = "))
        .unwrap()
        .to_string();
    let forged = t.replace(
        &format!("keys = {real_root}"),
        &format!("keys = [{}]", evil_pub["public_key"]),
    );
    fs::write(w.media("evil-v3.toml"), forged).unwrap();
    let evil_signed = w.m("evil-v3.json");
    ok(
        &w.plant(),
        &refs(&policy_sign_args(
            &w.m("evil-v3.toml"),
            &evil,
            &w.m("evil.pass"),
            &evil_signed,
        )),
    );
    let before = fingerprint(&w.plant());
    fails(
        &w.plant(),
        &["policy", "apply", &evil_signed],
        5,
        &[
            "not signed by the root key(s) of the policy in force (v2",
            &format!("signed by key(s) {}", evil_pub["key_id"].as_str().unwrap()),
            "not root keys",
        ],
    );
    assert_eq!(fingerprint(&w.plant()), before);

    // An edit after signing breaks the root signature.
    let text = fs::read_to_string(&v2).unwrap();
    let tampered = text.replacen("\"version\":2", "\"version\":9", 1);
    assert_ne!(text, tampered);
    fs::write(w.media("tampered.json"), tampered).unwrap();
    fails(
        &w.plant(),
        &["policy", "apply", &w.m("tampered.json")],
        4,
        &["does not verify", "altered after signing"],
    );

    // A policy for another node is refused there.
    let other = w.add_site("other");
    fails(
        &other,
        &["policy", "apply", &v2.display().to_string()],
        5,
        &["governs site \"plant\""],
    );

    // The same refusals when the policy arrives in a bundle: lab carries
    // v1 (a downgrade), then the stranger's v3, to plant.
    let f = w.export(
        &w.lab(),
        "plant",
        "policy-downgrade.airlock",
        &[&format!("policy:{v1}")],
    );
    crate::harness::import_refused(&w.plant(), &f, 5, "downgrade");
    let f = w.export(
        &w.lab(),
        "plant",
        "policy-evil.airlock",
        &[&format!("policy:{evil_signed}")],
    );
    crate::harness::import_refused(
        &w.plant(),
        &f,
        5,
        "not signed by the root key(s) of the policy in force (v2",
    );
    assert_eq!(policy_version(&w), 2);
}

#[test]
fn a_policy_update_arrives_in_a_bundle_and_rotates_the_root_key() {
    let w = World::new();
    // Rotation: a new root key; v2 names it and is signed by the old root
    // (the policy in force) and by the new one.
    let new_root = w.root.join("plant-root-2");
    ok(
        &w.plant(),
        &refs(&root_init_args(&new_root, &w.m("plant-root.pass"))),
    );
    let t = ok(
        &w.plant(),
        &[
            "policy",
            "template",
            "--root",
            &new_root.display().to_string(),
        ],
    );
    let old_key = t
        .lines()
        .find_map(|l| l.strip_prefix("keys = [").and_then(|r| r.split(',').next()))
        .unwrap()
        .to_string();
    // Only the new root signs future versions.
    let draft = t.replacen(&format!("{old_key}, "), "", 1);
    assert_ne!(draft, t, "the old root key is dropped");
    fs::write(w.media("rotate.toml"), draft).unwrap();
    let sign = |input: &str, root: &std::path::Path, out: &str| {
        ok(
            &w.plant(),
            &refs(&policy_sign_args(input, root, &w.m("plant-root.pass"), out)),
        );
    };
    // Signed by the new root alone: the policy in force does not accept it.
    sign(&w.m("rotate.toml"), &new_root, &w.m("rotate-new-only.json"));
    fails(
        &w.plant(),
        &["policy", "apply", &w.m("rotate-new-only.json")],
        5,
        &["not signed by the root key(s) of the policy in force (v1"],
    );
    // Co-signed by the old root: accepted, and it arrives in a bundle.
    sign(
        &w.m("rotate-new-only.json"),
        &w.root.join("plant-root"),
        &w.m("rotate.json"),
    );
    let f = w.export(
        &w.lab(),
        "plant",
        "policy-v2.airlock",
        &[&format!("policy:{}", w.m("rotate.json"))],
    );
    let out = ok(
        &w.plant(),
        &["--json", "bundle", "import", &f.display().to_string()],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["objects"], 1, "{out}");
    assert_eq!(policy_version(&w), 2);
    let (action, details) = last_audit(&w.plant());
    assert_eq!(action, "bundle.import");
    assert_eq!(details["policies"][0]["applied"]["version"], 2, "{details}");
    // The old root alone can no longer move the policy forward.
    let t3 = ok(&w.plant(), &["policy", "template"]);
    fs::write(w.media("v3.toml"), t3).unwrap();
    sign(
        &w.m("v3.toml"),
        &w.root.join("plant-root"),
        &w.m("v3-old.json"),
    );
    fails(
        &w.plant(),
        &["policy", "apply", &w.m("v3-old.json")],
        5,
        &["not signed by the root key(s) of the policy in force (v2"],
    );
    sign(&w.m("v3.toml"), &new_root, &w.m("v3.json"));
    ok(&w.plant(), &["policy", "apply", &w.m("v3.json")]);
    assert_eq!(policy_version(&w), 3);
}

#[test]
fn a_revoked_operator_cannot_approve_and_their_approvals_stop_counting() {
    let w = World::new();
    let model = w.model();
    let pia = w.new_operator(&w.plant(), "pia");
    let quinn = w.new_operator(&w.plant(), "quinn");
    let omar_id = {
        let v: serde_json::Value =
            serde_json::from_str(&ok(&w.plant(), &["--json", "keys", "operator", "list"])).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "omar")
            .unwrap()["key_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Not in the policy yet: pia may not approve.
    fails(
        &w.plant(),
        &refs(&[vec!["approve".to_string(), model.clone()], w.as_op("pia")].concat()),
        5,
        &["operator pia", "is not in trust policy v1"],
    );
    // v2: omar is revoked; pia and quinn approve, pia deploys; production
    // needs 2 approvals.
    w.plant_policy(|t| {
        let t = t
            .replace(
                "revoked = []",
                &format!("revoked = [\"{omar_id}\"]"),
            )
            .replace("\"production\" = 1", "\"production\" = 2");
        let start = t.find("\n[[operators]]").unwrap();
        format!(
            "{}\n[[operators]]\nname = \"pia\"\nkey = \"{pia}\"\nroles = [\"approve\", \"deploy\"]\n\n[[operators]]\nname = \"quinn\"\nkey = \"{quinn}\"\nroles = [\"approve\"]\n",
            &t[..start]
        )
    });
    let listed = ok(&w.plant(), &["keys", "operator", "list"]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("omar") && l.contains("REVOKED")),
        "{listed}"
    );

    let before = fingerprint(&w.plant());
    let out = w.approve(&w.plant(), &model, "omar");
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "operator omar (key {omar_id}) is revoked by trust policy v2"
        )),
        "{err}"
    );
    assert_eq!(fingerprint(&w.plant()), before, "nothing recorded");

    // omar's earlier approval no longer counts, and one approval of two is
    // not enough.
    let deploy = |who: &str| {
        run(
            &w.plant(),
            &refs(
                &[
                    vec![
                        "deploy".to_string(),
                        model.clone(),
                        "--slot".into(),
                        "production".into(),
                    ],
                    w.as_op(who),
                ]
                .concat(),
            ),
        )
    };
    let out = deploy("pia");
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has 0 approval(s) that count"), "{err}");
    assert!(err.contains("needs 2"), "{err}");
    assert!(err.contains("key revoked by trust policy v2"), "{err}");
    assert!(w.approve(&w.plant(), &model, "pia").status.success());
    // The same operator twice is refused; one approval of two is not enough.
    let out = w.approve(&w.plant(), &model, "pia");
    assert_eq!(out.status.code(), Some(5));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("operator pia"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("has already approved model"));
    let out = deploy("pia");
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has 1 approval(s) that count"), "{err}");
    // quinn approves but may not deploy.
    assert!(w.approve(&w.plant(), &model, "quinn").status.success());
    let out = deploy("quinn");
    assert_eq!(out.status.code(), Some(5));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not hold the deploy role"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without an operator at all.
    fails(
        &w.plant(),
        &["deploy", &model],
        5,
        &["requires an operator holding the deploy role"],
    );
    assert!(deploy("pia").status.success());
    let (action, details) = last_audit(&w.plant());
    assert_eq!(action, "model.deploy");
    assert_eq!(details["operator"], "pia");
    assert_eq!(details["approvals_needed"], 2);
    // The approvals and the deployer are on the lineage.
    let lineage = ok(&w.plant(), &["lineage", &model]);
    assert!(
        lineage.contains("pia") && lineage.contains("quinn"),
        "{lineage}"
    );
}

#[test]
fn operator_keys_are_sealed_private_and_checked() {
    let w = World::new();
    let model = w.model();
    // A wrong passphrase is a key error and records nothing.
    let before = fingerprint(&w.lab());
    fs::write(w.media("wrong.pass"), "not dana's passphrase\n").unwrap();
    fs::set_permissions(w.media("wrong.pass"), fs::Permissions::from_mode(0o600)).unwrap();
    fails(
        &w.lab(),
        &[
            "approve",
            &model,
            "--operator",
            "dana",
            "--passphrase-file",
            &w.m("wrong.pass"),
        ],
        7,
        &["dana.key", "the passphrase does not open this key"],
    );
    // A key file other users can read is refused.
    let key = w.lab().join("operators").join("dana.key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let out = w.approve(&w.lab(), &model, "dana");
    assert_eq!(out.status.code(), Some(7));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("mode 0644"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    // So is a passphrase file other users can read.
    fs::set_permissions(w.media("dana.pass"), fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(w.approve(&w.lab(), &model, "dana").status.code(), Some(7));
    fs::set_permissions(w.media("dana.pass"), fs::Permissions::from_mode(0o600)).unwrap();
    // A key file that is not a sealed key, and a policy file that is not a
    // signed policy, are named and change nothing.
    let saved = fs::read(&key).unwrap();
    fs::write(&key, "not a key\n").unwrap();
    let out = w.approve(&w.lab(), &model, "dana");
    assert_eq!(out.status.code(), Some(7));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("dana.key") && err.contains("not a passphrase-sealed Airlock key"),
        "{err}"
    );
    fs::write(&key, saved).unwrap();
    fs::write(w.media("garbage-policy.json"), "{ this is not json").unwrap();
    let plant_before = fingerprint(&w.plant());
    fails(
        &w.plant(),
        &["policy", "apply", &w.m("garbage-policy.json")],
        3,
        &["garbage-policy.json", "not a signed policy file"],
    );
    assert_eq!(fingerprint(&w.plant()), plant_before);
    assert_eq!(fingerprint(&w.lab()), before);
    // The key file is an age scrypt file, not the secret in clear.
    let sealed = fs::read(&key).unwrap();
    assert!(sealed.starts_with(b"age-encryption.org/v1\n-> scrypt "));
    // Unknown operator, duplicate operator.
    fails(
        &w.lab(),
        &["approve", &model, "--operator", "nobody"],
        6,
        &["no operator \"nobody\""],
    );
    fails(
        &w.lab(),
        &[
            "keys",
            "operator",
            "new",
            "dana",
            "--passphrase-file",
            &w.m("dana.pass"),
        ],
        5,
        &["operator dana already exists"],
    );
    // The root key never goes into a home.
    fails(
        &w.plant(),
        &refs(&root_init_args(
            &w.plant().join("root"),
            &w.m("plant-root.pass"),
        )),
        5,
        &["inside the node's home"],
    );
    // Under a policy, peers come only from the policy.
    fails(
        &w.plant(),
        &["trust", "add", &w.m("lab.card.json")],
        5,
        &["governed by trust policy v1"],
    );
}

#[test]
fn a_carried_policy_that_revokes_a_signer_of_the_same_bundle_refuses_it() {
    let w = World::new();
    // depot makes a dataset and sends it to lab; plant trusts depot (v2).
    let depot = w.add_site("depot");
    ok(&depot, &refs(&w.ingest_args(&w.m("credit.csv"))));
    ok(&depot, &["trust", "add", &w.m("lab.card.json")]);
    ok(&w.lab(), &["trust", "add", &w.m("depot.card.json")]);
    let f = w.export(&depot, "lab", "depot-to-lab.airlock", &["dataset:credit"]);
    ok(&w.lab(), &["bundle", "import", &f.display().to_string()]);
    let card = w.media("depot.card.json");
    w.plant_policy(|t| t + &crate::harness::peer_toml(&card));
    let depot_id: serde_json::Value = serde_json::from_slice(&fs::read(&card).unwrap()).unwrap();
    let depot_id = depot_id["key_id"].as_str().unwrap().to_string();
    // v3 drops and revokes depot; lab carries it with depot's dataset.
    let v3 = w.sign_plant_policy(|t| {
        let start = t.find("\n[[peers]]\nsite = \"depot\"").unwrap();
        let end = t[start + 1..]
            .find("\n[[")
            .map_or(t.len(), |e| start + 1 + e);
        let t = format!("{}{}", &t[..start], &t[end..]);
        t.replace("revoked = []", &format!("revoked = [\"{depot_id}\"]"))
    });
    let f = w.export(
        &w.lab(),
        "plant",
        "revoking.airlock",
        &["dataset:depot/credit", &format!("policy:{}", v3.display())],
    );
    crate::harness::import_refused(
        &w.plant(),
        &f,
        5,
        "is not signed by any key the trust policy it carries leaves trusted",
    );
    assert_eq!(policy_version(&w), 2, "the refused import applied nothing");
}
