//! `airlock-install install`: the layout it makes, what it refuses, the units' scores.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use crate::harness::{Node, is_root, s};

fn mode(p: &std::path::Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn install_lays_out_the_release_the_link_the_home_the_config_and_the_units() {
    let node = Node::new("1.0.0");
    let out = node.install(&["--version", "1.0.0"]).ok();
    assert!(out.contains("installed release 1.0.0"), "{out}");

    let release = node.path("opt/airlock/releases/1.0.0");
    for bin in ["airlock", "airlock-worker", "airlock-install"] {
        assert_eq!(mode(&release.join(bin)), 0o755, "{bin}");
        assert_eq!(
            std::fs::read(release.join(bin)).unwrap(),
            std::fs::read(node.bin.join(bin)).unwrap()
        );
    }
    assert!(
        !release.join("airlock-tui").exists(),
        "absent binaries are not made up"
    );
    // The link is relative, so the root can be mounted anywhere (an image).
    let current = node.path("opt/airlock/current");
    assert_eq!(
        std::fs::read_link(&current).unwrap(),
        std::path::Path::new("releases/1.0.0")
    );
    assert!(current.join("airlock").is_file());
    // No temporary link or partial folder is left behind.
    let names: Vec<String> = std::fs::read_dir(node.path("opt/airlock/releases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["1.0.0"]);
    assert!(!node.path("opt/airlock/.current.new").exists());

    // The home is the library's, with its modes, and its audit log records the install.
    let home_path = node.path("var/lib/airlock");
    assert_eq!(mode(&home_path), 0o700);
    assert_eq!(mode(&home_path.join("keys")), 0o700);
    assert_eq!(mode(&home_path.join("keys/site.ed25519")), 0o600);
    let home = airlock::node::home::Home::open_read_only(&home_path).unwrap();
    assert_eq!(home.site().as_str(), "lab");
    let log = home.audit_log().unwrap();
    let actions: Vec<&str> = log.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["home.init", "install.install"]);
    assert_eq!(log[1].details["version"], "1.0.0");
    assert_eq!(
        log[1].details["binaries"].as_array().unwrap().len(),
        3,
        "{}",
        log[1].details
    );
    home.verify_audit().unwrap();
    drop(home);

    let config = std::fs::read_to_string(node.path("etc/airlock/airlock.toml")).unwrap();
    assert!(config.contains("site = \"lab\""), "{config}");
    assert!(config.contains("user = \"airlock\""), "{config}");
    assert_eq!(mode(&node.path("etc/airlock/airlock.toml")), 0o644);
    for unit in [
        "airlock-serve@.service",
        "airlock-verify.service",
        "airlock-verify.timer",
    ] {
        let p = node.path("etc/systemd/system").join(unit);
        assert_eq!(mode(&p), 0o644, "{unit}");
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("# Written by airlock-install"), "{unit}");
    }
    let serve =
        std::fs::read_to_string(node.path("etc/systemd/system/airlock-serve@.service")).unwrap();
    assert!(
        serve.contains(
            "ExecStart=/opt/airlock/current/airlock serve --socket /run/airlock/%i.sock --slot %i"
        ),
        "{serve}"
    );
}

#[test]
fn install_over_an_installed_node_is_refused_and_changes_nothing() {
    let node = Node::new("1.0.0");
    node.install(&["--version", "1.0.0"]).ok();
    let before = node.snapshot();
    let err = node.install(&["--version", "1.1.0"]).fails(5);
    assert!(
        err.contains("already exists") && err.contains("airlock-install update"),
        "{err}"
    );
    assert_eq!(node.snapshot(), before);
}

#[test]
fn install_over_an_existing_home_is_refused_before_anything_is_written() {
    let node = Node::new("1.0.0");
    std::fs::create_dir_all(node.path("var/lib/airlock")).unwrap();
    std::fs::write(node.path("var/lib/airlock/store.db"), b"someone's store").unwrap();
    let err = node.install(&[]).fails(5);
    assert!(err.contains("not empty"), "{err}");
    assert!(!node.path("opt").exists() && !node.path("etc").exists());
}

#[test]
fn install_without_the_airlock_binary_is_refused_before_anything_is_written() {
    let node = Node::new("1.0.0");
    std::fs::remove_file(node.bin.join("airlock")).unwrap();
    let err = node.install(&[]).fails(6);
    assert!(err.contains("airlock") && err.contains("--from"), "{err}");
    assert!(!node.root.exists());
}

#[test]
fn install_with_a_version_that_is_a_path_is_refused() {
    let node = Node::new("1.0.0");
    let err = node.install(&["--version", "../../etc"]).fails(3);
    assert!(err.contains("MAJOR.MINOR.PATCH"), "{err}");
    assert!(!node.root.exists());
}

#[test]
fn install_unprivileged_or_off_a_system_tree_says_the_service_user_was_not_made() {
    let node = Node::new("1.0.0");
    let run = node.install(&[]);
    run.ok();
    let err = run.stderr();
    assert!(
        err.contains("no service user created"),
        "the skipped step is said: {err}"
    );
}

/// As root on a system tree (a root with an etc/passwd), the service user is created in
/// that tree (useradd --prefix) and owns the home; the rest stays root's.
#[test]
fn install_as_root_on_a_system_tree_creates_the_service_user_and_gives_it_the_home() {
    if !is_root() {
        println!("skipped: needs root (CI runs as root)");
        return;
    }
    let node = Node::new("1.0.0");
    std::fs::create_dir_all(node.path("etc")).unwrap();
    std::fs::write(node.path("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(node.path("etc/group"), "root:x:0:\n").unwrap();
    std::fs::write(node.path("etc/shadow"), "").unwrap();
    std::fs::write(node.path("etc/gshadow"), "").unwrap();
    let out = node.install(&[]).ok();
    assert!(out.contains("user       airlock (created)"), "{out}");
    let passwd = std::fs::read_to_string(node.path("etc/passwd")).unwrap();
    let line = passwd.lines().find(|l| l.starts_with("airlock:")).unwrap();
    let uid: u32 = line.split(':').nth(2).unwrap().parse().unwrap();
    assert_ne!(uid, 0);
    assert!(
        line.ends_with(":/var/lib/airlock:/usr/sbin/nologin"),
        "{line}"
    );
    for p in [
        "var/lib/airlock",
        "var/lib/airlock/keys/site.ed25519",
        "var/lib/airlock/store.db",
    ] {
        assert_eq!(std::fs::metadata(node.path(p)).unwrap().uid(), uid, "{p}");
    }
    for p in [
        "opt/airlock/releases/0.1.0/airlock",
        "etc/airlock/airlock.toml",
    ] {
        assert_eq!(std::fs::metadata(node.path(p)).unwrap().uid(), 0, "{p}");
    }
}

/// The exposure score of one unit in `systemd-analyze security --offline=true`.
fn score(root: &std::path::Path, unit: &str) -> f64 {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(format!("--root={}", s(root)))
        .arg(unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level for"))
        .unwrap_or_else(|| {
            panic!(
                "no score for {unit}:\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let after = line.rsplit(": ").next().unwrap();
    after.split_whitespace().next().unwrap().parse().unwrap()
}

/// Goal of issue 18: every unit in the "OK" band or better (2.0 or lower). The scores are
/// recorded in docs/install.md.
#[test]
fn every_unit_scores_2_or_lower_in_systemd_analyze_security() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("skipped: systemd-analyze is not installed (Debian: apt-get install systemd)");
        return;
    }
    let node = Node::new("1.0.0");
    node.install(&[]).ok();
    for unit in ["airlock-serve@.service", "airlock-verify.service"] {
        let score = score(&node.root, unit);
        println!("{unit}: {score}");
        assert!(score <= 2.0, "{unit} scores {score}");
    }
    // The check can fail: a unit without its sandbox scores far above 2.0.
    let bare = node.path("etc/systemd/system/airlock-bare.service");
    std::fs::write(
        &bare,
        "[Service]\nExecStart=/opt/airlock/current/airlock --version\n",
    )
    .unwrap();
    assert!(score(&node.root, "airlock-bare.service") > 9.0);
}
