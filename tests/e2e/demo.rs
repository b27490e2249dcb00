use std::process::Command;

use crate::harness::{World, bin, ok};

#[test]
fn demo_runs_in_a_temporary_folder_and_prints_predictions() {
    let out = Command::new(bin()).arg("demo").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "init", "trust", "ingest", "features", "train", "gate", "approve", "export", "import",
        "deploy", "predict", "audit",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(step)),
            "no {step} step in:\n{stdout}"
        );
    }
    assert_eq!(
        stdout.matches("probability of default").count(),
        5,
        "{stdout}"
    );
    assert!(
        !stdout.contains("kept in"),
        "temporary demo must not claim to keep files"
    );
}

#[test]
fn demo_workdir_keeps_homes_and_media_and_json_is_parseable() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("w");
    let out = Command::new(bin())
        .args(["--json", "demo", "--workdir"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("--json output is one JSON document");
    let preds = v["predictions"]["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 5);
    for p in preds {
        let prob = p["probability"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&prob), "{p}");
    }
    assert!(v["holdout_auc"].as_f64().unwrap() >= 0.70);
    for f in [
        "lab/store.db",
        "plant/store.db",
        "media/credit.csv",
        "media/credit.contract.toml",
        "media/credit.features.toml",
        "media/lab-to-plant.airlock",
        "media/lab.card.json",
        "media/plant.card.json",
        "media/requests.jsonl",
    ] {
        assert!(root.join(f).is_file(), "{f} missing");
    }
    // The kept homes are real: the plant serves the model the lab trained.
    let w = World {
        _dir: dir,
        root: root.clone(),
    };
    let listed = ok(&w.plant(), &["models", "list"]);
    assert!(listed.contains("deployed: production"), "{listed}");
    assert!(
        listed.contains(&v["model"].as_str().unwrap()[..12]),
        "{listed}"
    );
    // A second demo into the same folder is refused rather than overwriting.
    let again = Command::new(bin())
        .args(["demo", "--workdir"])
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(5));
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["init", "--help"],
        vec!["data", "ingest", "--help"],
        vec!["features", "apply", "--help"],
        vec!["train", "--help"],
        vec!["gate", "--help"],
        vec!["approve", "--help"],
        vec!["deploy", "--help"],
        vec!["predict", "--help"],
        vec!["bundle", "export", "--help"],
        vec!["bundle", "import", "--help"],
        vec!["bundle", "inspect", "--help"],
        vec!["audit", "verify", "--help"],
        vec!["demo", "--help"],
        vec!["site", "card", "--help"],
        vec!["trust", "add", "--help"],
        vec!["models", "show", "--help"],
        vec!["keys", "root", "init", "--help"],
        vec!["keys", "operator", "new", "--help"],
        vec!["keys", "operator", "list", "--help"],
        vec!["policy", "template", "--help"],
        vec!["policy", "sign", "--help"],
        vec!["policy", "apply", "--help"],
        vec!["policy", "show", "--help"],
        vec!["audit", "export", "--help"],
        vec!["audit", "verify-export", "--help"],
        vec!["lineage", "--help"],
        vec!["vault", "verify", "--help"],
    ] {
        let out = Command::new(bin()).args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage:"), "{args:?}: {text}");
    }
    let v = Command::new(bin()).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("airlock "));
}
