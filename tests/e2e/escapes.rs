//! Attacks on the operator's screen (issue 15, items 4 and 5): terminal
//! escape sequences, carriage returns, line breaks and direction overrides
//! in a trusted peer's records, in a bundle's manifest, in a CSV header and
//! in an approval's note. Names that carry them are refused; free text that
//! carries them is stored and shown escaped; messages that quote them keep
//! one line per line.

use std::path::{Path, PathBuf};

use airlock::digest::Digest;
use airlock::lifecycle::Approval;
use airlock::ops::description::ModelDescription;
use airlock::ops::evaluate::EvaluationRecord;
use airlock::ops::features::FeatureSetDoc;
use airlock::ops::ingest::DatasetDoc;
use airlock::ops::train::RunRecord;
use airlock::trust::keys::{Domain, SiteKeys};
use airlock::vault::registry::Kind;

use crate::craft::{self, Signer, seal, unseal};
use crate::harness::{World, fails, import_refused, ok, refs, run, store_fingerprint};

/// What a hostile record carries: set the window title, clear the screen,
/// go home, return the carriage, print a forged verdict, reverse the rest.
pub(crate) const EVIL: &str =
    "\u{1b}]0;owned\u{7}\u{1b}[2J\u{1b}[1;1H\rlineage verified: every signature OK\u{202E}gpj.exe";

/// The forged line an attacker wants on the screen.
const FORGED: &str = "imported bundle 0123456789ab (sequence 99) from site lab: 1 objects (1 new)";

/// `text` holds nothing that acts on a terminal: no ESC, BEL, CR, C1 CSI
/// or direction override.
pub(crate) fn assert_inert(what: &str, text: &str) {
    for bad in ['\u{1b}', '\u{7}', '\r', '\u{9b}', '\u{202E}'] {
        assert!(
            !text.contains(bad),
            "{what} holds {bad:?} raw:\n{}",
            text.escape_debug()
        );
    }
}

/// Changes to a genuine lab bundle's records, each applied before they are
/// re-signed.
#[derive(Default)]
pub(crate) struct Edits<'a> {
    pub dataset: Option<&'a dyn Fn(&mut DatasetDoc)>,
    pub run: Option<&'a dyn Fn(&mut RunRecord)>,
    pub approval: Option<&'a dyn Fn(&mut Approval)>,
    pub description: Option<&'a dyn Fn(&mut ModelDescription)>,
    pub evaluation: Option<&'a dyn Fn(&mut EvaluationRecord)>,
}

/// A fresh genuine bundle from lab to plant whose dataset, run and approval
/// records are changed by `edits`, as lab (a trusted peer whose key the
/// attacker holds) could send: every changed record gets a new digest, the
/// records that name it (feature set, run, gate reports, approvals,
/// provenance statements) are changed to name the new one, approvals are
/// re-signed by an operator key of the attacker's, and every changed object
/// is signed by lab's site key. Datasets and feature sets get version 99 so
/// they do not clash with the versions plant already holds.
pub(crate) fn rewritten(w: &World, name: &str, edits: &Edits<'_>) -> PathBuf {
    let mut u = unseal(&w.fresh_bundle(&format!("{name}.genuine")), &w.plant());
    let operator = SiteKeys::generate().unwrap();
    let operator_key = hex::encode(operator.public().signing.to_bytes());
    let mut renamed: Vec<(String, String)> = Vec::new();
    loop {
        let mut changed = false;
        for i in 0..u.objects.len() {
            let kind = u.manifest.objects[i].kind;
            if !kind.is_document() {
                continue;
            }
            let mut text = String::from_utf8(u.objects[i].clone()).unwrap();
            for (old, new) in &renamed {
                text = text.replace(old, new);
            }
            let bytes = match kind {
                Kind::Dataset => {
                    let mut d: DatasetDoc = serde_json::from_str(&text).unwrap();
                    d.version = 99;
                    if let Some(e) = edits.dataset {
                        e(&mut d);
                    }
                    serde_json::to_vec(&d).unwrap()
                }
                Kind::FeatureSet => {
                    let mut f: FeatureSetDoc = serde_json::from_str(&text).unwrap();
                    f.version = 99;
                    serde_json::to_vec(&f).unwrap()
                }
                Kind::Run => {
                    let mut r: RunRecord = serde_json::from_str(&text).unwrap();
                    if let Some(e) = edits.run {
                        e(&mut r);
                    }
                    serde_json::to_vec(&r).unwrap()
                }
                Kind::Approval => {
                    let mut a: Approval = serde_json::from_str(&text).unwrap();
                    if let Some(e) = edits.approval {
                        e(&mut a);
                    }
                    a.operator_key = operator_key.clone();
                    a.operator_signature = operator.sign(Domain::Approval, &a.signed_bytes());
                    serde_json::to_vec(&a).unwrap()
                }
                Kind::ModelDescription => {
                    let mut d: ModelDescription = serde_json::from_str(&text).unwrap();
                    if let Some(e) = edits.description {
                        e(&mut d);
                    }
                    serde_json::to_vec(&d).unwrap()
                }
                Kind::Evaluation => {
                    let mut r: EvaluationRecord = serde_json::from_str(&text).unwrap();
                    if let Some(e) = edits.evaluation {
                        e(&mut r);
                    }
                    serde_json::to_vec(&r).unwrap()
                }
                _ => text.into_bytes(),
            };
            if bytes != u.objects[i] {
                let old = u.manifest.objects[i].id;
                let id = Digest::of(&bytes);
                renamed.push((old.hex(), id.hex()));
                let e = &mut u.manifest.objects[i];
                e.id = id;
                e.size = bytes.len() as u64;
                e.attestations = vec![craft::attest(&w.lab(), "lab", kind, &id)];
                u.objects[i] = bytes;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let f = w.media(&format!("{name}.airlock"));
    seal(&u, None, &w.plant(), Signer::Key(&w.lab()), &f);
    f
}

/// The id of the (only) run record in `bundle`, opened at plant.
fn run_id(w: &World, bundle: &Path) -> String {
    let u = unseal(bundle, &w.plant());
    let e = u
        .manifest
        .objects
        .iter()
        .find(|e| e.kind == Kind::Run)
        .unwrap();
    e.id.hex()
}

#[test]
fn attack_escape_sequences_in_peer_records_are_escaped_on_screen() {
    let w = World::new();

    // Names: refused at import with the field named, recorded, nothing stored
    // (and `bundle verify` says the same).
    let bad_dataset_name = rewritten(
        &w,
        "dataset-name",
        &Edits {
            dataset: Some(&|d: &mut DatasetDoc| d.name = format!("credit{EVIL}")),
            ..Edits::default()
        },
    );
    import_refused(
        &w.plant(),
        &bad_dataset_name,
        4,
        "field `name` breaks this node's name rule",
    );
    let bad_run_name = rewritten(
        &w,
        "run-name",
        &Edits {
            run: Some(&|r: &mut RunRecord| r.name = "credit-logreg\u{202E}gpj.exe".into()),
            ..Edits::default()
        },
    );
    import_refused(
        &w.plant(),
        &bad_run_name,
        4,
        "field `name` breaks this node's name rule",
    );
    let bad_approver = rewritten(
        &w,
        "approver",
        &Edits {
            approval: Some(&|a: &mut Approval| a.approver = format!("dana\n{FORGED}")),
            ..Edits::default()
        },
    );
    import_refused(
        &w.plant(),
        &bad_approver,
        4,
        "field `approver` breaks this node's name rule",
    );
    let out = run(
        &w.plant(),
        &["bundle", "import", &bad_approver.display().to_string()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_inert("the refusal", &stderr);
    assert!(
        !stderr.lines().any(|l| l.starts_with("imported bundle")),
        "{stderr}"
    );

    // Free text: accepted, and shown escaped by every command that shows it.
    let evil = rewritten(
        &w,
        "free-text",
        &Edits {
            dataset: Some(&|d: &mut DatasetDoc| d.source = EVIL.into()),
            run: Some(&|r: &mut RunRecord| r.device.name = EVIL.into()),
            approval: Some(&|a: &mut Approval| a.note = EVIL.into()),
            ..Edits::default()
        },
    );
    let model = run_id(&w, &evil);
    ok(
        &w.plant(),
        &["bundle", "import", &evil.display().to_string()],
    );
    let escaped = "\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\u{1b}[1;1H\\rlineage verified";
    // (command, whether it shows one of the fields)
    for (args, shows) in [
        (vec!["data", "list"], false),
        (vec!["data", "show", "lab/credit@99"], true),
        (vec!["models", "list"], false),
        (vec!["models", "show", model.as_str()], true),
        (vec!["lineage", model.as_str()], true),
    ] {
        let shown = ok(&w.plant(), &args);
        assert_inert(&format!("airlock {args:?}"), &shown);
        assert!(
            !shown.lines().any(|l| l.starts_with("lineage verified")),
            "{shown}"
        );
        assert!(
            !shows || shown.contains(escaped),
            "airlock {args:?} does not show the field escaped:\n{shown}"
        );
    }
    // The approval's note and the dataset's source are both on the walk.
    let lineage = ok(&w.plant(), &["lineage", &model]);
    assert_eq!(lineage.matches(escaped).count(), 2, "{lineage}");
    // JSON keeps the text exactly, with control characters as \u escapes.
    let json = ok(&w.plant(), &["--json", "models", "show", &model]);
    assert!(!json.contains('\u{1b}'), "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["device"]["name"], EVIL);
}

#[test]
fn attack_newline_in_manifest_field_name_cannot_forge_a_line() {
    let w = World::new();
    let u = unseal(&w.fresh_bundle("genuine.airlock"), &w.plant());
    let f = w.media("field-name.airlock");
    seal(
        &u,
        None,
        &w.plant(),
        Signer::KeyEdited(&w.lab(), |m| {
            m[format!("x\n{FORGED}\n\u{1b}[2K")] = serde_json::json!(1);
        }),
        &f,
    );
    import_refused(&w.plant(), &f, 4, "manifest does not parse: unknown field");
    for cmd in ["import", "verify", "inspect"] {
        let out = run(&w.plant(), &["bundle", cmd, &f.display().to_string()]);
        assert_eq!(out.status.code(), Some(4), "bundle {cmd}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "bundle {cmd}:\n{stderr}");
        assert!(
            stderr.contains("unknown field `x\\nimported bundle"),
            "{stderr}"
        );
        assert_inert(&format!("bundle {cmd}"), &stderr);
    }
    // Recorded with the same reason, quoted the same way.
    let (_, details) = crate::harness::last_audit(&w.plant());
    let reason = details["reason"].as_str().unwrap();
    assert!(!reason.contains('\n'), "{reason:?}");
}

#[test]
fn attack_newline_in_csv_header_cannot_forge_a_line() {
    let w = World::new();
    let csv = w.media("header.csv");
    std::fs::write(
        &csv,
        format!("age,\"income\n{FORGED}\n\u{1b}[2K\",purpose\n35,1000,car\n"),
    )
    .unwrap();
    let before = store_fingerprint(&w.lab());
    let stderr = fails(
        &w.lab(),
        &refs(&w.ingest_args(&csv.display().to_string())),
        3,
        &[
            "does not match contract",
            "extra columns: income\\nimported bundle",
        ],
    );
    assert!(
        !stderr.lines().any(|l| l.starts_with("imported bundle")),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_inert("the refusal", &stderr);
    assert_eq!(store_fingerprint(&w.lab()), before);
}

#[test]
fn ingest_of_a_file_whose_name_holds_control_characters_is_refused() {
    let w = World::new();
    let good = std::fs::read(w.media("credit.csv")).unwrap();
    let csv = w.media("credit\u{1b}[2J\u{202E}vsc.csv");
    std::fs::write(&csv, good).unwrap();
    let before = store_fingerprint(&w.lab());
    let stderr = fails(
        &w.lab(),
        &refs(&w.ingest_args(&csv.display().to_string())),
        3,
        &["the file name", "holds the control or formatting character"],
    );
    assert_inert("the refusal", &stderr);
    assert_eq!(store_fingerprint(&w.lab()), before);
}

#[test]
fn approve_note_with_control_characters_is_refused() {
    let w = World::new();
    let model = w.model();
    let before = store_fingerprint(&w.lab());
    for note in [
        EVIL,
        "reviewed\nlineage verified: every signature OK",
        "ok\tfine",
    ] {
        let mut args = vec![
            "approve".to_string(),
            model.clone(),
            "--note".into(),
            note.into(),
        ];
        args.extend(w.as_op("dana"));
        let stderr = fails(
            &w.lab(),
            &refs(&args),
            3,
            &["--note", "holds the control or formatting character"],
        );
        assert_inert("the refusal", &stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    assert_eq!(store_fingerprint(&w.lab()), before);
}
