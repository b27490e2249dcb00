//! Offline updates: N to N+1, a failed health check rolled back by itself, a downgrade and
//! a foreign release refused, kill -9 at each step, rollback by hand.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

use crate::harness::{Node, fake_airlock, run, s};

/// A vendor: a release key and a folder per release.
pub(crate) struct Vendor {
    dir: tempfile::TempDir,
}

impl Vendor {
    pub(crate) fn new() -> Vendor {
        let v = Vendor {
            dir: tempfile::tempdir().unwrap(),
        };
        let pass = v.path("pass");
        std::fs::write(&pass, "correct horse battery staple\n").unwrap();
        std::fs::set_permissions(&pass, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        run(&[
            "release-key",
            "--out",
            s(&v.path("release.key")),
            "--passphrase-file",
            s(&pass),
        ])
        .ok();
        v
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub(crate) fn public(&self) -> PathBuf {
        self.path("release.key.pub")
    }

    /// Builds a release archive of `version` whose `airlock` passes the health check or not.
    pub(crate) fn release(&self, version: &str, healthy: bool) -> PathBuf {
        let out = self.path(&format!("airlock-{version}-{healthy}.airlock"));
        if out.exists() {
            return out;
        }
        let bin = self.path(&format!("bin-{version}-{healthy}"));
        std::fs::create_dir_all(&bin).unwrap();
        for (name, text) in [
            ("airlock", fake_airlock(version, healthy)),
            (
                "airlock-install",
                format!("#!/bin/sh\n# {version}\nexit 0\n"),
            ),
        ] {
            std::fs::write(bin.join(name), text).unwrap();
            std::fs::set_permissions(
                bin.join(name),
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .unwrap();
        }
        run(&[
            "release",
            "--out",
            s(&out),
            "--version",
            version,
            "--key",
            s(&self.path("release.key")),
            "--from",
            s(&bin),
            "--passphrase-file",
            s(&self.path("pass")),
        ])
        .ok();
        out
    }
}

/// A node at 1.0.0 that pins `vendor`'s key, sealed.
pub(crate) fn node_of(vendor: &Vendor) -> Node {
    let node = Node::new("1.0.0");
    node.install(&["--version", "1.0.0", "--release-key", s(&vendor.public())])
        .ok();
    node.cmd("seal", &[]).ok();
    node
}

pub(crate) fn current(node: &Node) -> String {
    std::fs::read_link(node.path("opt/airlock/current"))
        .unwrap()
        .display()
        .to_string()
}

pub(crate) fn releases(node: &Node) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(node.path("opt/airlock/releases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn update_from_n_to_n_plus_1_passes_its_health_check_and_raises_the_floor() {
    let vendor = Vendor::new();
    let node = node_of(&vendor);
    let archive = vendor.release("1.1.0", true);
    let out = node.cmd("update", &[s(&archive)]).ok();
    assert!(out.contains("updated 1.0.0 -> 1.1.0"), "{out}");
    assert!(out.contains("health: airlock audit verify: ok"), "{out}");
    assert_eq!(current(&node), "releases/1.1.0");
    assert_eq!(
        std::fs::read_link(node.path("opt/airlock/previous")).unwrap(),
        Path::new("releases/1.0.0")
    );
    assert!(
        std::fs::read_to_string(node.path("opt/airlock/current/airlock"))
            .unwrap()
            .contains("stand-in airlock 1.1.0")
    );
    assert!(!node.path("var/lib/airlock-install/update.journal").exists());
    let verify = node.cmd("verify", &[]).ok();
    assert!(verify.contains("release 1.1.0, floor 1.1.0"), "{verify}");
    let actions = node.audit_actions();
    assert_eq!(
        actions[actions.len() - 2..],
        ["install.update".to_string(), "install.seal".to_string()]
    );
    let rec = node.last_record("install.update");
    assert_eq!(rec.details["from"], "1.0.0");
    assert_eq!(rec.details["to"], "1.1.0");

    // N+1 to N+2 prunes the oldest: two releases are kept (A/B).
    node.cmd("update", &[s(&vendor.release("1.2.0", true))])
        .ok();
    assert_eq!(releases(&node), ["1.1.0", "1.2.0"]);
    node.cmd("verify", &[]).ok();
}

#[test]
fn update_that_fails_its_health_check_is_rolled_back_by_itself() {
    let vendor = Vendor::new();
    let node = node_of(&vendor);
    let before = node.snapshot();
    let archive = vendor.release("1.1.0", false);
    let run = node.cmd("update", &[s(&archive)]);
    assert_eq!(run.code(), 5, "{}{}", run.stdout(), run.stderr());
    assert!(
        run.stdout()
            .contains("health: airlock audit verify: failed"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stderr().contains("failed its health check"),
        "{}",
        run.stderr()
    );
    assert_eq!(current(&node), "releases/1.0.0");
    assert_eq!(releases(&node), ["1.0.0"]);
    assert_eq!(
        node.snapshot(),
        before,
        "the node is exactly as sealed again"
    );
    node.cmd("verify", &[]).ok();
    let rec = node.last_record("install.update_rolled_back");
    assert_eq!(rec.details["to"], "1.1.0");
    // A fixed 1.1.0 is still accepted: the failed one raised no floor.
    node.cmd("update", &[s(&vendor.release("1.1.0", true))])
        .ok();
    assert_eq!(current(&node), "releases/1.1.0");
}

#[test]
fn update_to_a_version_not_above_the_floor_is_refused_and_recorded() {
    let vendor = Vendor::new();
    let node = node_of(&vendor);
    node.cmd("update", &[s(&vendor.release("1.1.0", true))])
        .ok();
    let before = node.snapshot();
    for (version, what) in [
        ("1.0.0", "downgrade"),
        ("1.1.0", "replay"),
        ("0.9.9", "downgrade"),
    ] {
        let err = node
            .cmd("update", &[s(&vendor.release(version, true))])
            .fails(5);
        assert!(
            err.contains(&format!(
                "release {version} is not above this node's version floor 1.1.0"
            )),
            "{what}: {err}"
        );
        let rec = node.last_record("install.update_refused");
        assert!(rec.details["reason"].as_str().unwrap().contains(version));
    }
    // After a rollback by hand to 1.0.0 the floor stays at 1.1.0.
    node.cmd("rollback", &[]).ok();
    assert_eq!(current(&node), "releases/1.0.0");
    let err = node
        .cmd("update", &[s(&vendor.release("1.1.0", true))])
        .fails(5);
    assert!(err.contains("floor 1.1.0"), "{err}");
    node.cmd("rollback", &[]).ok();
    assert_eq!(current(&node), "releases/1.1.0");
    assert_eq!(node.snapshot().len(), before.len());
}

#[test]
fn update_signed_by_another_release_key_is_refused_and_recorded() {
    let vendor = Vendor::new();
    let other = Vendor::new();
    let node = node_of(&vendor);
    let before = node.snapshot();
    let err = node
        .cmd("update", &[s(&other.release("1.1.0", true))])
        .fails(5);
    assert!(err.contains("this node accepts only release key"), "{err}");
    assert_eq!(node.snapshot(), before);
    assert!(
        node.audit_actions()
            .contains(&"install.update_refused".to_string())
    );
}

#[test]
fn altered_release_archive_is_refused_and_leaves_no_trace() {
    let vendor = Vendor::new();
    let node = node_of(&vendor);
    let before = node.snapshot();
    let archive = vendor.release("1.1.0", true);
    let bytes = std::fs::read(&archive).unwrap();
    // A byte of the signed manifest: the signature fails before any file is read.
    let mut in_manifest = bytes.clone();
    let at = in_manifest.windows(5).position(|w| w == b"1.1.0").unwrap();
    in_manifest[at + 4] = b'9';
    std::fs::write(&archive, &in_manifest).unwrap();
    let err = node.cmd("update", &[s(&archive)]).fails(4);
    assert!(err.contains("signature does not verify"), "{err}");
    // A byte of a file: caught against its signed digest while unpacking, and undone.
    let mut in_body = bytes.clone();
    let last = in_body.len() - 3;
    in_body[last] ^= 1;
    std::fs::write(&archive, &in_body).unwrap();
    let err = node.cmd("update", &[s(&archive)]).fails(4);
    assert!(err.contains("does not match its signed digest"), "{err}");
    // Truncated.
    std::fs::write(&archive, &bytes[..bytes.len() - 1]).unwrap();
    let err = node.cmd("update", &[s(&archive)]).fails(4);
    assert!(err.contains("truncated"), "{err}");
    assert_eq!(node.snapshot(), before);
    node.cmd("verify", &[]).ok();
    assert!(
        node.audit_actions()
            .contains(&"install.update_failed".to_string())
    );
}

#[test]
fn update_of_a_node_that_differs_from_its_seal_is_refused() {
    let vendor = Vendor::new();
    let node = node_of(&vendor);
    std::fs::write(
        node.path("opt/airlock/releases/1.0.0/airlock"),
        "#!/bin/sh\n",
    )
    .unwrap();
    let err = node
        .cmd("update", &[s(&vendor.release("1.1.0", true))])
        .fails(5);
    assert!(
        err.contains("differs from its seal") && err.contains("opt/airlock/releases/1.0.0/airlock"),
        "{err}"
    );
    assert_eq!(current(&node), "releases/1.0.0");
}

#[test]
fn update_without_a_pinned_release_key_is_refused() {
    let vendor = Vendor::new();
    let node = Node::installed_and_sealed("1.0.0");
    let err = node
        .cmd("update", &[s(&vendor.release("1.1.0", true))])
        .fails(5);
    assert!(err.contains("no release key is pinned"), "{err}");
}

#[test]
fn rollback_without_a_previous_release_is_refused_and_recorded() {
    let vendor = Vendor::new();
    let node = node_of(&vendor);
    let err = node.cmd("rollback", &[]).fails(6);
    assert!(err.contains("no earlier release"), "{err}");
    assert!(
        node.audit_actions()
            .contains(&"install.rollback_refused".to_string())
    );
}

/// kill -9 at every step of an update (the appliance's failpoints, debug builds): `current`
/// always points at a complete release, and `recover` brings the node back to a sealed
/// state: the old release before the update was recorded, the new one after.
#[test]
fn kill_9_at_each_update_step_leaves_current_at_a_complete_release() {
    let vendor = Vendor::new();
    let archive = vendor.release("1.1.0", true);
    for (point, after) in [
        ("update.journaled", "1.0.0"),
        ("update.unpacked", "1.0.0"),
        ("update.previous", "1.0.0"),
        ("update.switched", "1.0.0"),
        ("update.checked", "1.0.0"),
        ("update.recorded", "1.1.0"),
        ("update.pruned", "1.1.0"),
        ("update.sealed", "1.1.0"),
    ] {
        let node = node_of(&vendor);
        let killed = std::process::Command::new(env!("CARGO_BIN_EXE_airlock-install"))
            .args(["update", "--root", s(&node.root), s(&archive)])
            .env("AIRLOCK_FAILPOINT", point)
            .output()
            .unwrap();
        assert_eq!(killed.status.signal(), Some(9), "{point}: not killed");
        // Startable: current is a complete release, old or new.
        let target = current(&node);
        let version = target.strip_prefix("releases/").unwrap();
        let airlock = std::fs::read_to_string(node.path("opt/airlock/current/airlock")).unwrap();
        assert!(
            airlock.contains(&format!("stand-in airlock {version}")) && airlock.ends_with("esac\n"),
            "{point}: current -> {target} is not complete"
        );
        assert!(
            !node
                .path(&format!("opt/airlock/releases/.partial-{version}"))
                .exists()
        );
        // Recovery finishes or undoes it, and the node verifies clean.
        let out = node.cmd("recover", &[]);
        assert_eq!(out.code(), 0, "{point}: {}", out.stderr());
        assert_eq!(current(&node), format!("releases/{after}"), "{point}");
        let verify = node.cmd("verify", &[]);
        assert_eq!(
            verify.code(),
            0,
            "{point}: {}{}",
            verify.stdout(),
            verify.stderr()
        );
        assert!(
            node.audit_actions()
                .contains(&"install.recover".to_string()),
            "{point}"
        );
        assert!(!node.path("var/lib/airlock-install/update.journal").exists());
    }
}

/// The health check with the real `airlock` (built by `cargo test --workspace`, beside this
/// program): `airlock --version` and `airlock audit verify` on the node's home.
#[test]
fn update_health_check_runs_the_real_airlock_on_the_home() {
    let built = Path::new(env!("CARGO_BIN_EXE_airlock-install")).with_file_name("airlock");
    if !built.is_file() {
        println!(
            "skipped: {} is not built (cargo test --workspace builds it)",
            built.display()
        );
        return;
    }
    let vendor = Vendor::new();
    let node = Node::new("1.0.0");
    std::fs::copy(&built, node.bin.join("airlock")).unwrap();
    node.install(&["--version", "1.0.0", "--release-key", s(&vendor.public())])
        .ok();
    node.cmd("seal", &[]).ok();
    let bin = vendor.path("real");
    std::fs::create_dir(&bin).unwrap();
    std::fs::copy(&built, bin.join("airlock")).unwrap();
    let archive = vendor.path("real.airlock");
    run(&[
        "release",
        "--out",
        s(&archive),
        "--version",
        "1.1.0",
        "--key",
        s(&vendor.path("release.key")),
        "--from",
        s(&bin),
        "--passphrase-file",
        s(&vendor.path("pass")),
    ])
    .ok();
    let out = node.cmd("update", &[s(&archive)]).ok();
    assert!(out.contains("health: airlock audit verify: ok"), "{out}");
    assert_eq!(current(&node), "releases/1.1.0");
    node.cmd("verify", &[]).ok();
}

#[test]
fn a_second_update_while_one_runs_is_refused() {
    let vendor = Vendor::new();
    let node = node_of(&vendor);
    let lock = node.path("var/lib/airlock-install/lock");
    let ready = node.path("var/lib/airlock-install/held");
    // `flock --no-fork` execs the shell, which execs sleep: one process holds the lock.
    let mut holder = std::process::Command::new("flock")
        .arg("--no-fork")
        .arg(&lock)
        .args(["sh", "-c"])
        .arg(format!("touch {}; exec sleep 30", s(&ready)))
        .spawn()
        .unwrap();
    while !ready.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let err = node
        .cmd("update", &[s(&vendor.release("1.1.0", true))])
        .fails(5);
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(
        err.contains("another airlock-install is changing this node"),
        "{err}"
    );
    assert_eq!(current(&node), "releases/1.0.0");
    node.cmd("update", &[s(&vendor.release("1.1.0", true))])
        .ok();
}

/// As root with the home owned by the service user: the update opens the home as its
/// owner, runs the health check as that user, and leaves the home's files theirs.
#[test]
fn update_as_root_runs_the_health_check_as_the_service_user() {
    use std::os::unix::fs::MetadataExt;
    if !crate::harness::is_root() {
        println!("skipped: needs root (CI runs as root)");
        return;
    }
    let vendor = Vendor::new();
    let node = Node::new("1.0.0");
    std::fs::create_dir_all(node.path("etc")).unwrap();
    std::fs::write(
        node.path("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nairlock:x:64124:64124::/var/lib/airlock:/usr/sbin/nologin\n",
    )
    .unwrap();
    node.install(&["--version", "1.0.0", "--release-key", s(&vendor.public())])
        .ok();
    node.cmd("seal", &[]).ok();
    // A stand-in that fails unless it runs as the service user.
    let bin = vendor.path("as-user");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(
        bin.join("airlock"),
        "#!/bin/sh\n# stand-in airlock 1.1.0\n[ \"$(id -u)\" = 64124 ] || { echo \"ran as $(id -u)\"; exit 1; }\nexit 0\n",
    )
    .unwrap();
    std::fs::set_permissions(
        bin.join("airlock"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let archive = vendor.path("as-user.airlock");
    run(&[
        "release",
        "--out",
        s(&archive),
        "--version",
        "1.1.0",
        "--key",
        s(&vendor.path("release.key")),
        "--from",
        s(&bin),
        "--passphrase-file",
        s(&vendor.path("pass")),
    ])
    .ok();
    node.cmd("update", &[s(&archive)]).ok();
    assert_eq!(current(&node), "releases/1.1.0");
    node.cmd("verify", &[]).ok();
    for e in std::fs::read_dir(node.path("var/lib/airlock")).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(
            std::fs::symlink_metadata(&p).unwrap().uid(),
            64124,
            "{}",
            p.display()
        );
    }
}

/// The vendor's release key is rotated by a root-signed trust policy that names the new key
/// (`release_keys`): then the new key's releases are accepted and the old key's refused.
#[test]
fn a_trust_policy_naming_a_new_release_key_rotates_it() {
    use airlock::node::time::Now;
    let old = Vendor::new();
    let new = Vendor::new();
    let node = node_of(&old);
    // Before the policy, a release signed by the new key is another key's: refused.
    node.cmd("update", &[s(&new.release("1.1.0", true))])
        .fails(5);
    let home_path = node.path("var/lib/airlock");
    let root_dir = new.path("root");
    let pass = airlock::trust::personal::Passphrase::new("a root passphrase".into());
    let now = airlock::node::time::Timestamp::now();
    let card =
        airlock::trust::policy::init_root_with(&root_dir, &pass, &home_path, now, Some(4)).unwrap();
    {
        let mut home = airlock::node::home::Home::open(&home_path).unwrap();
        let template = airlock::trust::policy::template(&home, Some(&card)).unwrap();
        let new_key = std::fs::read_to_string(new.public()).unwrap();
        let draft: String = template
            .lines()
            .map(|l| {
                if l.starts_with("version = ") {
                    format!("{l}\nrelease_keys = [\"{}\"]", new_key.trim())
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let draft_file = new.path("policy.toml");
        std::fs::write(&draft_file, draft + "\n").unwrap();
        let key = airlock::trust::policy::open_root(&root_dir, &pass).unwrap();
        let signed = airlock::trust::policy::sign(&draft_file, &key, now).unwrap();
        airlock::trust::policy::apply(&mut home, &[signed], Some(&card.key_id.to_string()))
            .unwrap();
    }
    node.cmd("update", &[s(&new.release("1.1.0", true))]).ok();
    assert!(current(&node).ends_with("1.1.0"), "{}", current(&node));
    let err = node
        .cmd("update", &[s(&old.release("1.2.0", true))])
        .fails(5);
    assert!(err.contains("release key"), "{err}");
}
