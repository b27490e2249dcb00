//! `airlock models describe` and `airlock models card`: the operator's description is signed,
//! checked, superseded and carried in bundles; the card is made from the records held (at the
//! receiving site too), every section says what the records say or "none", every figure is a
//! record's, text from records is escaped for Markdown and the terminal, `--out` is written
//! atomically, and the card writes nothing to the home.

use std::fs;
use std::path::Path;

use airlock::lifecycle::Approval;
use airlock::ops::description::ModelDescription;
use airlock::ops::evaluate::EvaluationRecord;

use crate::escapes::{EVIL, Edits, assert_inert, rewritten};
use crate::harness::{World, audit_count, fails, fingerprint, last_audit, ok, store_fingerprint};

/// The card's sections, in order.
const SECTIONS: [&str; 9] = [
    "## Model details",
    "## Intended use",
    "## Data",
    "## Training",
    "## Evaluation",
    "## Gate reports",
    "## Approvals and deployments",
    "## Known limits",
    "## Lineage",
];

fn json(home: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(home, &all)).unwrap()
}

/// The text of section `title` (from its heading to the next `## `).
fn section<'a>(card: &'a str, title: &str) -> &'a str {
    let start = card
        .find(&format!("\n{title}\n"))
        .unwrap_or_else(|| panic!("no {title} in:\n{card}"));
    let rest = &card[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 4);
    &rest[..end]
}

fn describe(home: &Path, model: &str, intended: &str, limits: &str) -> String {
    let v = json(
        home,
        &[
            "models",
            "describe",
            model,
            "--intended-use",
            intended,
            "--out-of-scope",
            "employment or insurance decisions",
            "--limits",
            limits,
        ],
    );
    v["id"].as_str().unwrap().to_owned()
}

#[test]
fn model_card_sections_come_from_the_records_at_both_sites() {
    let w = World::new();
    let model = w.model();

    // Before any description or evaluation: those sections say none.
    let bare = ok(&w.lab(), &["models", "card", &model]);
    assert!(
        section(&bare, "## Intended use").contains("None: no description of this model"),
        "{bare}"
    );
    assert!(
        section(&bare, "## Evaluation").contains("None: no evaluation record"),
        "{bare}"
    );
    assert!(
        bare.contains("- Never evaluated: no evaluation record is held"),
        "{bare}"
    );

    // At lab: a description and an evaluation with slices and two sensitive attributes.
    let described = describe(
        &w.lab(),
        &model,
        "pre-screening of consumer loan applications, reviewed by a credit officer",
        "applicants under 21 are rare in the training data",
    );
    let (action, details) = last_audit(&w.lab());
    assert_eq!(action, "model.describe", "{details}");
    let eval = json(
        &w.lab(),
        &[
            "evaluate",
            &model,
            "--dataset",
            "credit@1",
            "--slice-by",
            "housing",
            "--sensitive",
            "sex",
            "--sensitive",
            "prior_defaults:0",
            "--min-slice-rows",
            "1000",
        ],
    );
    let eval_id = eval["id"].as_str().unwrap().to_owned();

    // The description and the evaluation travel with the model; plant makes the card.
    let bundle = w.fresh_bundle("with-description.airlock");
    let inspect = ok(
        &w.plant(),
        &["--json", "bundle", "inspect", bundle.to_str().unwrap()],
    );
    assert!(inspect.contains(&described), "{inspect}");
    ok(&w.plant(), &["bundle", "import", bundle.to_str().unwrap()]);
    let card = ok(&w.plant(), &["models", "card", &model]);
    let mut at = 0;
    for s in SECTIONS {
        let i = card[at..]
            .find(&format!("\n{s}\n"))
            .unwrap_or_else(|| panic!("{s} missing or out of order:\n{card}"));
        at += i + 1;
    }
    assert_inert("the card", &card);
    let run = json(&w.plant(), &["models", "show", &model]);
    assert!(card.starts_with(&format!(
        "# Model card: {}\n",
        run["name"].as_str().unwrap()
    )));
    assert!(card.contains("Made by site plant at "), "{card}");

    let details = section(&card, "## Model details");
    assert!(
        details.contains(&format!("| Model id | `{model}` |")),
        "{details}"
    );
    assert!(details.contains("| Trained at site | lab |"), "{details}");
    assert!(details.contains("| Task | binary |"), "{details}");

    let intended = section(&card, "## Intended use");
    assert!(
        intended.contains(
            "- **Intended use:** pre-screening of consumer loan applications, reviewed by a credit officer"
        ),
        "{intended}"
    );
    assert!(
        intended.contains("- **Out of scope:** employment or insurance decisions"),
        "{intended}"
    );
    assert!(
        intended.contains("- **Stated by:** site lab at "),
        "{intended}"
    );
    assert!(intended.contains(&format!("(description `{}`)", &described[..12])));

    let data = section(&card, "## Data");
    assert!(
        data.contains("| Dataset | credit@1 from site lab |"),
        "{data}"
    );
    assert!(data.contains("| Rows | 3000 |"), "{data}");
    assert!(data.contains("| Contract | credit@1 (`"), "{data}");
    assert!(
        data.contains(&format!("`{}`", run["snapshot"].as_str().unwrap())),
        "{data}"
    );
    assert!(data.contains("| sex | category | 0 (0.0%) | 2 |"), "{data}");

    // Every figure is the record's.
    let training = section(&card, "## Training");
    assert!(
        training.contains(&format!("| Seed | {} |", run["config"]["seed"])),
        "{training}"
    );
    let auc = run["metrics"]["holdout"]["roc_auc"].as_f64().unwrap();
    assert!(
        training.contains(&format!("| roc_auc | {auc:.4} |")),
        "{training}"
    );

    let evaluation = section(&card, "## Evaluation");
    assert!(
        evaluation.contains(&format!(
            "### Evaluation `{}` on credit@1 by site lab",
            &eval_id[..12]
        )),
        "{evaluation}"
    );
    assert!(
        evaluation.contains("**On the training data:**"),
        "{evaluation}"
    );
    let eauc = eval["metrics"]["roc_auc"].as_f64().unwrap();
    assert!(
        evaluation.contains(&format!("| roc_auc | {eauc:.4} |")),
        "{evaluation}"
    );
    for g in eval["slices"][0]["groups"].as_array().unwrap() {
        let [lo, hi] = [0, 1].map(|i| g["accuracy_interval"][i].as_f64().unwrap());
        let row = format!(
            "| {} | {} | {:.4} | {lo:.4} to {hi:.4} | {:.4} | - | {}",
            g["value"].as_str().unwrap(),
            g["rows"],
            g["metrics"]["accuracy"].as_f64().unwrap(),
            g["metrics"]["roc_auc"].as_f64().unwrap(),
            if g["small"] == true {
                "**yes**: under 1000 rows, not to be trusted"
            } else {
                "no"
            }
        );
        assert!(evaluation.contains(&row), "{row}\n{evaluation}");
    }
    for f in eval["fairness"].as_array().unwrap() {
        let fr = &f["fairness"];
        for g in fr["groups"].as_array().unwrap() {
            // Bands such as `<=0` are written as HTML entities.
            let group = g["group"].as_str().unwrap();
            let row = format!(
                "| {} | {} | {:.4} | {:.4} | {:.4} |",
                group.replace('<', "&lt;").replace('>', "&gt;"),
                g["rows"],
                g["selection_rate"].as_f64().unwrap(),
                g["true_positive_rate"].as_f64().unwrap(),
                g["false_positive_rate"].as_f64().unwrap()
            );
            assert!(evaluation.contains(&row), "{row}\n{evaluation}");
        }
        let ratio = fr["selection"]["ratio"].as_f64().unwrap();
        let line = format!("- Disparate impact ratio {ratio:.4} (lowest selection rate ");
        assert!(evaluation.contains(&line), "{line}\n{evaluation}");
    }
    assert!(evaluation.contains("#### Robustness"), "{evaluation}");

    let gates = section(&card, "## Gate reports");
    assert!(gates.contains("by site lab at "), "{gates}");
    assert!(
        gates.contains("| Metric | Operator | Threshold | Value | Verdict |"),
        "{gates}"
    );
    assert!(gates.contains("| roc\\_auc | >= | 0.7 | "), "{gates}");
    assert!(gates.contains(": passed"), "{gates}");

    let people = section(&card, "## Approvals and deployments");
    assert!(people.contains("| dana | `"), "{people}");
    assert!(people.contains("| omar | `"), "{people}");
    assert!(people.contains("| held-out metrics reviewed |"), "{people}");
    assert!(people.contains("| production | "), "{people}");
    assert!(people.contains("| omar | 1 | - | yes |"), "{people}");

    let limits = section(&card, "## Known limits");
    assert!(
        limits.contains("- applicants under 21 are rare in the training data"),
        "{limits}"
    );
    assert!(
        limits.contains("- Never evaluated on data it did not train on: all 1 evaluation(s)"),
        "{limits}"
    );
    assert!(
        limits.contains("- Slice housing=own of evaluation"),
        "{limits}"
    );
    // The four-fifths findings are exactly the attributes whose ratio is under 0.8.
    let mut under = 0;
    for f in eval["fairness"].as_array().unwrap() {
        let attribute = f["attribute"].as_str().unwrap().replace('_', "\\_");
        let ratio = f["fairness"]["selection"]["ratio"].as_f64().unwrap();
        let finding = format!("- Disparate impact by {attribute} in evaluation");
        assert_eq!(
            limits.contains(&finding),
            ratio < 0.8,
            "{finding}\n{limits}"
        );
        under += usize::from(ratio < 0.8);
    }
    assert!(under >= 1, "prior defaults split selection rates: {limits}");

    // Lineage: every digest `airlock lineage` walks, and the evaluation and description.
    let lineage = section(&card, "## Lineage");
    assert!(
        lineage.contains(&format!("The walk `airlock lineage {model}` verifies")),
        "{lineage}"
    );
    let walk = json(&w.plant(), &["lineage", &model]);
    let mut ids = vec![
        walk["model"]["id"].clone(),
        walk["weights"]["id"].clone(),
        walk["snapshot"]["id"].clone(),
        walk["contract"]["id"].clone(),
    ];
    for k in ["datasets", "gates", "approvals", "deployments"] {
        ids.extend(walk[k].as_array().unwrap().iter().map(|n| n["id"].clone()));
    }
    ids.push(serde_json::json!(eval_id));
    ids.push(serde_json::json!(described));
    for id in ids {
        let id = id.as_str().unwrap();
        assert!(lineage.contains(&format!("| `{id}` |")), "{id}\n{lineage}");
    }

    // --json carries the same data.
    let v = json(&w.plant(), &["models", "card", &model]);
    assert_eq!(v["model"], model.as_str());
    assert_eq!(v["description"]["id"], described.as_str());
    assert_eq!(v["description"]["record"]["site"], "lab");
    assert_eq!(v["evaluations"][0]["id"], eval_id.as_str());
    assert!(
        v["limits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["finding"] == "not_evaluated_on_unseen_data"),
        "{}",
        v["limits"]
    );
}

#[test]
fn a_newer_description_supersedes_and_this_sites_own_outranks_a_peers() {
    let w = World::new();
    let model = w.model();
    let first = describe(&w.lab(), &model, "first statement of use", "none known");
    let second = describe(&w.lab(), &model, "second statement of use", "none known");
    let v = json(&w.lab(), &["models", "card", &model]);
    assert_eq!(v["description"]["id"], second.as_str());
    assert_eq!(v["description"]["record"]["supersedes"], first.as_str());
    assert_eq!(v["other_descriptions"][0]["id"], first.as_str());
    let card = ok(&w.lab(), &["models", "card", &model]);
    assert!(
        card.contains("- **Intended use:** second statement of use"),
        "{card}"
    );
    assert!(card.contains("; 1 other description is held"), "{card}");

    // Plant receives both, shows lab's newest, then states its own use, which outranks a
    // newer one from lab.
    let b = w.fresh_bundle("two-descriptions.airlock");
    ok(&w.plant(), &["bundle", "import", b.to_str().unwrap()]);
    let v = json(&w.plant(), &["models", "card", &model]);
    assert_eq!(v["description"]["id"], second.as_str());
    let own = describe(&w.plant(), &model, "plant: scoring of renewals only", "-");
    let v = json(&w.plant(), &["models", "card", &model]);
    assert_eq!(v["description"]["id"], own.as_str());
    assert_eq!(v["description"]["record"]["supersedes"], second.as_str());
    let third = describe(&w.lab(), &model, "third statement of use", "none known");
    let b = w.fresh_bundle("three-descriptions.airlock");
    ok(&w.plant(), &["bundle", "import", b.to_str().unwrap()]);
    let v = json(&w.plant(), &["models", "card", &model]);
    assert_eq!(v["description"]["id"], own.as_str());
    assert_eq!(v["other_descriptions"].as_array().unwrap().len(), 3);
    assert!(
        v["other_descriptions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == third.as_str())
    );
}

#[test]
fn describe_refuses_text_it_would_not_sign() {
    let w = World::new();
    let model = w.model();
    let before = store_fingerprint(&w.lab());
    for (args, needle) in [
        (vec!["--intended-use", "  "], "--intended-use is empty"),
        (
            vec![
                "--intended-use",
                "loans\nlineage verified: every signature OK",
            ],
            "--intended-use ",
        ),
        (
            vec!["--intended-use", EVIL],
            "holds the control or formatting character",
        ),
        (
            vec!["--intended-use", "ok", "--limits", "tab\there"],
            "--limits ",
        ),
    ] {
        let mut all = vec!["models", "describe", model.as_str()];
        all.extend(args);
        let stderr = fails(&w.lab(), &all, 3, &[needle]);
        assert_inert("the refusal", &stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    let long = "x".repeat(4001);
    fails(
        &w.lab(),
        &["models", "describe", &model, "--intended-use", &long],
        3,
        &["4001 characters", "at most 4000"],
    );
    fails(
        &w.lab(),
        &[
            "models",
            "describe",
            "0123456789abcdef",
            "--intended-use",
            "x",
        ],
        6,
        &[],
    );
    assert_eq!(store_fingerprint(&w.lab()), before);
}

/// A trusted peer's records carry text meant for the card's reader: a table cell break, a
/// line break and a heading, raw HTML and terminal escape sequences, in the description, in
/// an evaluation's slice value, in the dataset's source and in an approval's note. The card
/// shows each escaped, on its own line or in its own cell, and nothing in it acts on a
/// terminal or a Markdown viewer.
#[test]
fn attack_hostile_text_in_peer_records_is_escaped_in_the_card() {
    const HOSTILE: &str = "use | forged cell |\n# Forged heading\n<script>alert(1)</script>![t](http://x/t.png)\u{1b}[2J\u{1b}]0;owned\u{7}";
    const SHOWN: &str = "use \\| forged cell \\|\\n# Forged heading\\n&lt;script&gt;alert(1)&lt;/script&gt;!\\[t\\](http://x/t.png)\\u{1b}\\[2J\\u{1b}\\]0;owned\\u{7}";
    let w = World::new();
    let model = w.model();
    describe(&w.lab(), &model, "benign", "benign");
    ok(
        &w.lab(),
        &[
            "evaluate",
            &model,
            "--dataset",
            "credit@1",
            "--slice-by",
            "housing",
        ],
    );
    let evil = rewritten(
        &w,
        "card-text",
        &Edits {
            description: Some(&|d: &mut ModelDescription| {
                d.intended_use = HOSTILE.into();
                d.limits = Some(HOSTILE.into());
            }),
            evaluation: Some(&|r: &mut EvaluationRecord| {
                r.slices[0].groups[0].value = HOSTILE.into();
            }),
            approval: Some(&|a: &mut Approval| a.note = HOSTILE.into()),
            dataset: Some(&|d: &mut airlock::ops::ingest::DatasetDoc| d.source = HOSTILE.into()),
            ..Edits::default()
        },
    );
    let u = crate::craft::unseal(&evil, &w.plant());
    let peer_model = u
        .manifest
        .objects
        .iter()
        .find(|e| e.kind == airlock::vault::registry::Kind::Run)
        .unwrap()
        .id
        .hex();
    ok(&w.plant(), &["bundle", "import", evil.to_str().unwrap()]);
    let out = w.media("hostile-card.md");
    for card in [ok(&w.plant(), &["models", "card", &peer_model]), {
        ok(
            &w.plant(),
            &[
                "models",
                "card",
                &peer_model,
                "--out",
                out.to_str().unwrap(),
            ],
        );
        fs::read_to_string(&out).unwrap()
    }] {
        assert_inert("the card", &card);
        assert!(!card.contains("<script"), "{card}");
        assert!(
            !card.replace("\\](", "").contains("]("),
            "no link or image survives:\n{card}"
        );
        assert!(
            !card
                .lines()
                .any(|l| l.starts_with("# Forged") || l.starts_with("| forged")),
            "{card}"
        );
        // Intended use, operator limits, slice value (table and finding-free), dataset source,
        // approval note (table and lineage).
        assert!(
            card.contains(&format!("- **Intended use:** {SHOWN}\n")),
            "{card}"
        );
        assert!(card.contains(&format!("\n- {SHOWN}\n")), "{card}");
        assert!(card.contains(&format!("\n| {SHOWN} | ")), "{card}");
        assert!(card.contains(&format!(", file {SHOWN}) |")), "{card}");
        assert!(card.contains(&format!("| {SHOWN} |\n")), "{card}");
        // Every table row keeps its header's number of cells.
        let mut width = None;
        for l in card.lines() {
            if !l.starts_with('|') {
                width = None;
                continue;
            }
            let cells = l
                .replace("\\\\", "")
                .replace("\\|", "")
                .matches('|')
                .count();
            assert_eq!(*width.get_or_insert(cells), cells, "{l}");
        }
    }
}

#[test]
fn card_out_is_written_atomically_and_the_card_writes_nothing_to_the_home() {
    let w = World::new();
    let model = w.model();
    let plant = w.plant();
    let before = fingerprint(&plant);
    let records = audit_count(&plant);
    let dir = w.media("cards");
    fs::create_dir(&dir).unwrap();
    let file = dir.join("card.md");
    fs::write(
        &file,
        "an older card that is much longer than nothing ".repeat(1000),
    )
    .unwrap();
    let said = ok(
        &plant,
        &["models", "card", &model, "--out", file.to_str().unwrap()],
    );
    assert!(said.starts_with("wrote the model card of model "), "{said}");
    let written = fs::read_to_string(&file).unwrap();
    let printed = ok(&plant, &["models", "card", &model]);
    // The same card, but for the minute it was made.
    let body = |s: &str| s.lines().skip(3).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&written), body(&printed));
    assert!(written.starts_with("# Model card: "), "{written}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let v = json(
        &plant,
        &["models", "card", &model, "--out", file.to_str().unwrap()],
    );
    assert_eq!(v["file"], file.to_str().unwrap());
    assert_eq!(
        v["bytes"].as_u64().unwrap() as usize,
        fs::read(&file).unwrap().len()
    );

    // A card that cannot be made leaves the file as it was; a folder that does not exist is
    // refused. No temporary file is left behind.
    let kept = fs::read(&file).unwrap();
    fails(
        &plant,
        &[
            "models",
            "card",
            "0123456789abcdef",
            "--out",
            file.to_str().unwrap(),
        ],
        6,
        &[],
    );
    assert_eq!(fs::read(&file).unwrap(), kept);
    let missing = dir.join("no-such-folder").join("card.md");
    let out = crate::harness::run(
        &plant,
        &["models", "card", &model, "--out", missing.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-folder"));
    let left: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["card.md"]);

    // Read-only: nothing in the home changed, no audit record; and it works on a full disk.
    assert_eq!(fingerprint(&plant), before);
    assert_eq!(audit_count(&plant), records);
    let full = crate::robustness::on_a_full_disk(&plant, &["models", "card", &model]);
    assert!(
        full.status.success(),
        "{}",
        String::from_utf8_lossy(&full.stderr)
    );
    assert!(String::from_utf8_lossy(&full.stdout).starts_with("# Model card: "));
    assert_eq!(fingerprint(&plant), before);
}

/// A description from a peer is checked at import as at creation: one that states no intended
/// use is refused, recorded, and nothing is stored.
#[test]
fn bundle_description_without_intended_use_is_refused() {
    let w = World::new();
    let model = w.model();
    describe(&w.lab(), &model, "pre-screening", "none known");
    let empty = rewritten(
        &w,
        "empty-description",
        &Edits {
            description: Some(&|d: &mut ModelDescription| d.intended_use = " ".into()),
            ..Edits::default()
        },
    );
    crate::harness::import_refused(&w.plant(), &empty, 4, "states no intended use");
}
