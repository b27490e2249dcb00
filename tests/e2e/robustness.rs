//! Attacks on a running node's robustness (issue 15, item 10): numbers the store cannot hold,
//! memory on hostile input, a full disk, authority for audit checkpoints, NUL bytes in cells.
//! Each test is named after its attack.

use std::path::Path;
use std::process::Command;

use crate::craft::{Signer, seal, unseal};
use crate::harness::{
    World, audit_count, fails, fingerprint, import_refused, last_audit, ok, refs, store_fingerprint,
};

/// A bundle whose sequence number is 2^64 - 1, signed by its genuine origin: stored as an
/// SQLite integer it became -1, read back as 2^64 - 1, and refused every later bundle from
/// lab. It is refused when its manifest is parsed, before anything is stored.
#[test]
fn attack_sequence_2_pow_64_minus_1_is_refused_at_parse() {
    let w = World::new();
    let mut u = unseal(&w.fresh_bundle("genuine.airlock"), &w.plant());
    u.manifest.sequence = u64::MAX;
    let f = w.media("sequence-max.airlock");
    seal(&u, None, &w.plant(), Signer::Key(&w.lab()), &f);
    import_refused(
        &w.plant(),
        &f,
        4,
        "sequence 18446744073709551615 is above 9223372036854775807, the largest this node can store",
    );
    // The genuine bundle is still accepted afterwards.
    let genuine = w.fresh_bundle("after.airlock");
    ok(
        &w.plant(),
        &["bundle", "import", &genuine.display().to_string()],
    );
}

/// A line that breaks the demo contract in nine ways.
const NINE_PROBLEMS: &str = r#"{"age": 300, "loan_amount": 1, "term_months": 1, "housing": "x", "purpose": "x", "prior_defaults": 99, "sex": "x", "applicant_id": "x", "income": -1, "employment": "x"}"#;

/// `predict` kept every problem of every line and every row it had read: about 11 times its
/// input. 12 MB of lines that each break the contract nine ways, after a few good ones, are
/// refused with a count under a 48 MiB data limit (`prlimit --data`; the old code aborted,
/// out of memory, at about 8 MB of input); a bound well under the input's size.
#[test]
fn attack_predict_on_invalid_lines_is_bounded_in_memory() {
    let w = World::new();
    let good = std::fs::read_to_string(w.media("requests.jsonl")).unwrap();
    let bad_lines = (12 << 20) / (NINE_PROBLEMS.len() + 1);
    let mut input = good.clone();
    input.reserve(bad_lines * (NINE_PROBLEMS.len() + 1));
    for _ in 0..bad_lines {
        input.push_str(NINE_PROBLEMS);
        input.push('\n');
    }
    let file = w.media("hostile.jsonl");
    std::fs::write(&file, &input).unwrap();
    drop(input);
    let out = Command::new("prlimit")
        .arg(format!("--data={}", 48 << 20))
        .arg(crate::harness::bin())
        .arg("--home")
        .arg(w.plant())
        .args(["predict", "--input"])
        .arg(&file)
        .output()
        .expect("prlimit (util-linux) runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let total = bad_lines * 9;
    let first_bad = good.lines().count() + 1;
    for needle in [
        format!("{total} problems against contract credit v1; nothing was scored"),
        format!("line {first_bad}, column \"age\": expected integer in [18, 100], found 300"),
        format!("... and {} more", total - 20),
    ] {
        assert!(stderr.contains(&needle), "lacks {needle:?}:\n{stderr}");
    }
    assert_eq!(
        stderr.lines().filter(|l| l.contains("expected")).count(),
        20,
        "the first 20 are listed:\n{stderr}"
    );
}

/// Runs `airlock --home HOME ARGS` where no file may grow (`prlimit --fsize=0`, with SIGXFSZ
/// ignored so a write fails with EFBIG instead of killing the process): a full disk.
pub(crate) fn on_a_full_disk(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new("sh")
        .args([
            "-c",
            "trap '' XFSZ; exec prlimit --fsize=0 \"$@\"",
            "sh",
            crate::harness::bin(),
        ])
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("AIRLOCK_HOME")
        .output()
        .expect("sh and prlimit (util-linux) run")
}

/// At 100% full disk even `audit verify` and `vault verify` failed ("store: disk I/O
/// error"): opening the store made SQLite grow its `-shm` file. Read-only commands now open
/// the home read-only and write nothing; a writing command fails cleanly and changes nothing.
#[test]
fn read_only_commands_work_when_writes_fail() {
    let w = World::new();
    let plant = w.plant();
    let before = fingerprint(&plant);
    for (args, says) in [
        (&["audit", "verify"][..], "audit log intact: 6 records"),
        (&["vault", "verify"][..], "0 problem(s)"),
        (&["models", "list"][..], "deployed: production"),
        (&["audit", "log"][..], "model.deploy"),
    ] {
        let out = on_a_full_disk(&plant, args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?} on a full disk: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(says), "{args:?}: {stdout}");
    }
    // A command that writes (a gate report into the vault, a row, an audit record) fails with
    // an error, not a crash, and leaves the home as it was.
    let model = w.model();
    let out = on_a_full_disk(&plant, &["gate", &model, "--require", "roc_auc>=0.5"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(fingerprint(&plant), before, "nothing was written");
    // With room again, the home is whole.
    let out = ok(&plant, &["audit", "verify"]);
    assert!(out.contains("audit log intact: 6 records"), "{out}");
}

/// `audit adopt-checkpoint` declares every record before it unprotected, and needed no
/// authority. Under a trust policy it now needs an operator holding the `audit` role, whose
/// name, key id and signature go into the adoption's record; in setup mode it still works
/// without one, and says so in the record.
#[test]
fn attack_adopt_checkpoint_needs_an_operator_under_a_policy() {
    let w = World::new();
    let plant = w.plant();
    std::fs::remove_file(plant.join("audit.head")).unwrap();
    // No operator, then one without the role: refused, nothing recorded.
    let records = audit_count(&plant);
    fails(
        &plant,
        &["audit", "adopt-checkpoint"],
        5,
        &["requires an operator holding the audit role", "--operator"],
    );
    let mut args = vec!["audit".to_string(), "adopt-checkpoint".to_string()];
    args.extend(w.as_op("omar"));
    fails(
        &plant,
        &refs(&args),
        5,
        &["operator omar", "does not hold the audit role"],
    );
    assert_eq!(audit_count(&plant), records, "nothing recorded");
    assert!(!plant.join("audit.head").exists());

    // The root key holder grants omar the role (a writing command works without a
    // checkpoint; it warns); omar adopts, and is recorded.
    w.plant_policy(|t| {
        t.replace(
            "roles = [\"approve\", \"deploy\"]",
            "roles = [\"approve\", \"deploy\", \"audit\"]",
        )
    });
    let out = ok(&plant, &refs(&args));
    assert!(out.contains("signed a first audit checkpoint"), "{out}");
    let (action, details) = last_audit(&plant);
    assert_eq!(action, "audit.checkpoint_adopted");
    assert_eq!(details["operator"]["name"], "omar", "{details}");
    let key_id = details["operator"]["key_id"].as_str().unwrap().to_string();
    assert_eq!(key_id.len(), 16, "{details}");
    assert_eq!(
        details["operator"]["signature"].as_str().unwrap().len(),
        128,
        "{details}"
    );
    let log: serde_json::Value = serde_json::from_str(&ok(
        &plant,
        &["--json", "audit", "log", "--action", "audit.*"],
    ))
    .unwrap();
    assert_eq!(
        log[0]["actor"],
        key_id.as_str(),
        "the operator is the actor: {log}"
    );
    ok(&plant, &["audit", "verify"]);

    // Setup mode (lab has no policy): as before, and the record says no operator acted.
    let lab = w.lab();
    std::fs::remove_file(lab.join("audit.head")).unwrap();
    ok(&lab, &["audit", "adopt-checkpoint"]);
    let (action, details) = last_audit(&lab);
    assert_eq!(action, "audit.checkpoint_adopted");
    assert!(details["operator"].is_null(), "{details}");
}

/// A NUL byte in a string cell was accepted at ingest and in requests: it ends a C string, so
/// tools reading the stored snapshot see another value than the one checked. Refused like
/// any other broken cell, naming the row and the column; in CSV and in JSON lines.
#[test]
fn attack_nul_byte_in_a_string_cell_is_refused() {
    let w = World::new();
    let good = std::fs::read_to_string(w.media("credit.csv")).unwrap();
    let mut lines: Vec<String> = good.lines().take(8).map(str::to_string).collect();
    let mut cells: Vec<String> = lines[3].split(',').map(str::to_string).collect();
    cells[0] = format!("{}\0x", cells[0]);
    lines[3] = cells.join(",");
    let bad = w.media("nul.csv");
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let before = store_fingerprint(&w.lab());
    fails(
        &w.lab(),
        &refs(&w.ingest_args(&bad.display().to_string())),
        3,
        &[
            "1 violation (type 1); nothing was stored",
            "row 3 (line 4), column \"applicant_id\": expected a value without NUL bytes, found",
            "\\0x\"",
        ],
    );
    assert_eq!(store_fingerprint(&w.lab()), before);
    assert_eq!(last_audit(&w.lab()).0, "data.refused");

    // A request (JSON lines) with "\u0000" in a string.
    let requests = std::fs::read_to_string(w.media("requests.jsonl")).unwrap();
    let first = requests.lines().next().unwrap();
    let hostile = first.replacen("\"P0", "\"\\u0000P0", 1);
    assert_ne!(hostile, first, "the request names an applicant id");
    let file = w.media("nul.jsonl");
    std::fs::write(&file, format!("{first}\n{hostile}\n")).unwrap();
    fails(
        &w.plant(),
        &["predict", "--input", &file.display().to_string()],
        3,
        &[
            "1 problem against contract credit v1; nothing was scored",
            "line 2, column \"applicant_id\": expected a value without NUL bytes",
        ],
    );
}
