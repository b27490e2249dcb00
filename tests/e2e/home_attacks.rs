//! Attacks on a node's own folder (issue 15, items 2 and 3): a symbolic
//! link planted in the home, a home another local user can write, and a
//! trust list edited in the store behind a root-signed policy. Each is
//! refused by `Home::open` or the trust lookup, naming what is wrong.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use airlock::vault::registry::Kind;

use crate::craft::{self, Signer, seal, unseal};
use crate::harness::{World, fails, import_refused, ok};

/// A fresh home for site `site` in `dir`.
fn home(dir: &Path, site: &str) -> PathBuf {
    let h = dir.join(site);
    ok(&h, &["init", "--site", site]);
    h
}

/// The audit actions recorded at `home`, oldest first.
fn audit_actions(home: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open_with_flags(
        home.join("store.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = conn
        .prepare("SELECT action FROM audit ORDER BY seq")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn attack_symlinked_vault_tmp_deletes_nothing_outside_the_home() {
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path(), "lab");
    let outside = dir.path().join("data");
    fs::create_dir_all(outside.join("sub")).unwrap();
    fs::write(outside.join("precious.csv"), "a,b\n1,2\n").unwrap();
    fs::write(outside.join("sub").join("more"), "x").unwrap();
    let tmp = h.join("vault").join("tmp");
    fs::remove_dir(&tmp).unwrap();
    std::os::unix::fs::symlink(&outside, &tmp).unwrap();
    let before = audit_actions(&h);
    for args in [
        &["models", "list"][..],
        &["audit", "verify"],
        &["data", "list"],
    ] {
        fails(
            &h,
            args,
            5,
            &[
                &tmp.display().to_string(),
                "is a symbolic link",
                "remove the link",
            ],
        );
    }
    assert_eq!(
        fs::read_to_string(outside.join("precious.csv")).unwrap(),
        "a,b\n1,2\n"
    );
    assert!(outside.join("sub").join("more").exists());
    // Nothing was "recovered", nor recorded as if it had been.
    assert_eq!(audit_actions(&h), before);
    // Putting back the real folder is all it takes.
    fs::remove_file(&tmp).unwrap();
    fs::create_dir(&tmp).unwrap();
    chmod(&tmp, 0o700);
    ok(&h, &["models", "list"]);
}

#[test]
fn attack_symlink_anywhere_in_the_home_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path(), "lab");
    let aside = dir.path().join("aside");
    // Each path moved out of the home and linked back: the content is
    // genuine, but a command must not reach it through a link.
    for (path, code) in [
        ("store.db", 5),
        ("vault", 5),
        ("vault/objects", 5),
        ("keys", 5),
        ("keys/site.ed25519", 5),
        ("lock", 5),
        ("audit.head", 5),
    ] {
        let p = h.join(path);
        fs::rename(&p, &aside).unwrap();
        std::os::unix::fs::symlink(&aside, &p).unwrap();
        fails(
            &h,
            &["models", "list"],
            code,
            &[&p.display().to_string(), "is a symbolic link"],
        );
        fs::remove_file(&p).unwrap();
        fs::rename(&aside, &p).unwrap();
        ok(&h, &["models", "list"]);
    }
}

#[test]
fn attack_world_writable_home_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path(), "plant");
    // (path, mode an attacker needs, exit code, mode to restore)
    for (path, bad, code, good) in [
        ("", 0o777, 5, 0o700),
        ("store.db", 0o666, 5, 0o600),
        ("vault", 0o777, 5, 0o700),
        ("vault/objects", 0o770, 5, 0o700),
        ("vault/tmp", 0o707, 5, 0o700),
        ("keys", 0o777, 7, 0o700),
    ] {
        let p = if path.is_empty() {
            h.clone()
        } else {
            h.join(path)
        };
        chmod(&p, bad);
        let want = if good == 0o700 { "0700" } else { "0600" };
        fails(
            &h,
            &["models", "list"],
            code,
            &[
                &p.display().to_string(),
                &format!("mode {bad:04o}"),
                &format!("chmod {want} {}", p.display()),
            ],
        );
        chmod(&p, good);
        ok(&h, &["models", "list"]);
    }
    // Readable by others is not writable by others: only keys must be
    // private, the home need only be unwritable by others.
    chmod(&h, 0o755);
    ok(&h, &["models", "list"]);
}

#[test]
fn attack_home_of_another_user_is_refused() {
    // Without root no file can be given away; the refusal of another
    // owner is exercised where the tests run as root (CI containers).
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let h = home(dir.path(), "plant");
    let store = h.join("store.db");
    std::os::unix::fs::chown(&store, Some(65534), None).unwrap();
    fails(
        &h,
        &["models", "list"],
        5,
        &[&store.display().to_string(), "belongs to uid 65534"],
    );
}

#[test]
fn attack_edited_trusted_sites_row_under_a_policy_is_not_trusted() {
    let w = World::new();
    let rogue = w.add_site("rogue");
    let rogue_keys = craft::keys_of(&rogue);
    let rogue_id = rogue_keys.key_id().to_string();
    // Another user rewrites lab's row at plant with the rogue key; plant's
    // root-signed policy still lists lab's real key.
    let conn = rusqlite::Connection::open(w.plant().join("store.db")).unwrap();
    let changed = conn
        .execute(
            "UPDATE trusted_sites SET key_id = ?1, signing_key = ?2 WHERE site = 'lab'",
            [
                rogue_id.clone(),
                hex::encode(rogue_keys.public().signing.as_bytes()),
            ],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);
    // A bundle forged as lab: manifest and every object signature by the
    // rogue key, claiming to be lab's.
    let mut u = unseal(&w.fresh_bundle("genuine.airlock"), &w.plant());
    u.manifest.origin_key = rogue_id.clone();
    for e in &mut u.manifest.objects {
        e.attestations = vec![craft::attest(&rogue, "lab", e.kind, &e.id)];
    }
    assert!(u.manifest.objects.iter().any(|e| e.kind == Kind::Weights));
    let f = w.media("forged-as-lab.airlock");
    seal(&u, None, &w.plant(), Signer::Key(&rogue), &f);
    import_refused(
        &w.plant(),
        &f,
        4,
        "the trust list's entry for site \"lab\" holds signing key",
    );
    // The message says which key was found and which the policy lists.
    fails(
        &w.plant(),
        &["bundle", "verify", &f.display().to_string()],
        4,
        &[
            &rogue_id,
            "trust policy v1 is in force",
            "the store was altered",
        ],
    );
    // Commands that do not take a peer's key still work, so the operator
    // can inspect the node.
    ok(&w.plant(), &["models", "list"]);
}

#[test]
fn attack_policy_row_pointed_at_a_policy_of_another_root_is_refused() {
    let w = World::new();
    let rogue = w.add_site("rogue");
    // The attacker makes a root key of their own and signs a "v2" of
    // plant's policy with it, trusting their site.
    let pass = w.media("rogue-root.pass");
    fs::write(&pass, "rogue-root-passphrase\n").unwrap();
    chmod(&pass, 0o600);
    let pass = pass.display().to_string();
    let root = w.root.join("rogue-root");
    ok(
        &w.plant(),
        &crate::harness::refs(&crate::harness::root_init_args(&root, &pass)),
    );
    let card: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("root.pub")).unwrap()).unwrap();
    let rogue_root = card["public_key"].as_str().unwrap();
    let template = ok(&w.plant(), &["policy", "template"]);
    let draft: String = template
        .lines()
        .map(|l| {
            if l.starts_with("keys = [") {
                format!("keys = [\"{rogue_root}\"]\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect::<String>()
        + &crate::harness::peer_toml(&w.media("rogue.card.json"));
    let draft_path = w.media("rogue-policy.toml");
    fs::write(&draft_path, draft).unwrap();
    let signed = w.m("rogue-policy.json");
    ok(
        &w.plant(),
        &crate::harness::refs(&crate::harness::policy_sign_args(
            &draft_path.display().to_string(),
            &root,
            &pass,
            &signed,
        )),
    );
    // Applied the honest way it is refused: not signed by plant's root.
    fails(
        &w.plant(),
        &["policy", "apply", &signed],
        5,
        &["not signed by the root key(s) of the policy in force"],
    );
    // Written straight into the vault and the store instead, with a trust
    // list to match it.
    let keys = craft::keys_of(&w.plant());
    let vault = airlock::vault::Vault::open(&w.plant().join("vault"), keys.age_identity()).unwrap();
    let (id, _) = vault.put(&fs::read(&signed).unwrap()).unwrap();
    let rogue_keys = craft::keys_of(&rogue).public();
    let conn = rusqlite::Connection::open(w.plant().join("store.db")).unwrap();
    conn.execute(
        "INSERT INTO objects (id, kind, size, created_at) VALUES (?1, 'policy', 0, '2025-01-01T00:00:00Z')",
        [id.hex()],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO policies (version, id, applied_at) VALUES (2, ?1, '2025-01-01T00:00:00Z')",
        [id.hex()],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO trusted_sites (site, key_id, signing_key, age_recipient, added_at) VALUES ('rogue', ?1, ?2, ?3, '2025-01-01T00:00:00Z')",
        [
            rogue_keys.key_id().to_string(),
            hex::encode(rogue_keys.signing.as_bytes()),
            rogue_keys.age_recipient.clone(),
        ],
    )
    .unwrap();
    drop(conn);
    // The chain from plant's pinned root breaks at v2.
    fails(
        &w.plant(),
        &["policy", "show"],
        4,
        &[
            "trust policy v2",
            "does not follow v1",
            "the store was altered",
        ],
    );
    let genuine = w.fresh_bundle("genuine.airlock");
    fails(
        &w.plant(),
        &["bundle", "verify", &genuine.display().to_string()],
        4,
        &["does not follow v1"],
    );
}
