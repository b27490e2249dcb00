//! `airlock gate --policy GATE.toml` on the German credit data (a model trained on rows
//! 1-700, judged on rows 701-1000 it never saw), and a review that a named person must sign
//! before deployment, in the demo world.

use std::fs;
use std::path::Path;

use crate::evaluation::trained;
use crate::harness::{World, fails, ok, refs, run};

/// `--json gate MODEL --policy FILE` at `home`: (exit code, the report).
fn gate(home: &Path, model: &str, policy: &Path) -> (i32, serde_json::Value) {
    let out = run(
        home,
        &[
            "--json",
            "gate",
            model,
            "--policy",
            policy.to_str().unwrap(),
        ],
    );
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("gate output: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), v)
}

/// The checks of a report in one section.
fn section<'a>(r: &'a serde_json::Value, name: &str) -> Vec<&'a serde_json::Value> {
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["section"] == name)
        .collect()
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap()
}

/// The German data's rows 701-1000 as request objects (contract column names).
fn test_rows(dir: &Path, n: usize) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let contract = fs::read_to_string(dir.join("german.toml")).unwrap();
    let names: Vec<&str> = contract
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .map(|l| l.trim_end_matches('"'))
        .skip(1)
        .collect();
    let ints: Vec<bool> = contract
        .split("[[columns]]")
        .skip(1)
        .map(|c| c.contains("type = \"integer\""))
        .collect();
    fs::read_to_string(dir.join("test.data"))
        .unwrap()
        .lines()
        .take(n)
        .map(|l| {
            l.split(' ')
                .zip(&names)
                .zip(&ints)
                .filter(|((_, name), _)| **name != "credit")
                .map(|((v, name), int)| {
                    let v = if *int {
                        serde_json::json!(v.parse::<i64>().unwrap())
                    } else {
                        serde_json::json!(v)
                    };
                    (name.to_string(), v)
                })
                .collect()
        })
        .collect()
}

#[test]
fn a_disparate_impact_floor_the_model_misses_fails_naming_attribute_groups_and_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let (home, model) = trained(dir.path());
    // What the model does on data it never saw, by status_sex (A91-A95: sex and marital status).
    let ev = json(&ok(
        &home,
        &[
            "--json",
            "evaluate",
            &model,
            "--dataset",
            "german@2",
            "--sensitive",
            "status_sex",
        ],
    ));
    let sel = &ev["fairness"][0]["fairness"]["selection"];
    let ratio = sel["ratio"].as_f64().unwrap();
    let (lowest, highest) = (
        sel["lowest"].as_str().unwrap(),
        sel["highest"].as_str().unwrap(),
    );
    // A floor above what the model does (the four-fifths rule when the model misses it).
    let floor = if ratio < 0.8 { 0.8 } else { ratio + 0.05 };
    let strict = dir.path().join("strict.toml");
    let strict_text = format!(
        "[evaluation]\ndataset = \"german@2\"\n\n[[fairness]]\nattribute = \"status_sex\"\ndisparate_impact_ratio = \">= {floor}\"\n"
    );
    fs::write(&strict, &strict_text).unwrap();
    let (code, r) = gate(&home, &model, &strict);
    assert_eq!(code, 5, "a failed gate exits 5: {r}");
    assert_eq!(r["passed"], false);
    let f = section(&r, "fairness");
    assert_eq!(f.len(), 1, "{r}");
    assert_eq!(f[0]["subject"], "status_sex");
    assert_eq!(f[0]["metric"], "disparate_impact_ratio");
    assert_eq!(f[0]["verdict"], "fail");
    assert_eq!(f[0]["value"].as_f64().unwrap(), ratio);
    let detail = f[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("lowest {lowest}"))
            && detail.contains(&format!("highest {highest}")),
        "the detail names both groups: {detail}"
    );
    // The gate read the evaluation already made, and carries the policy it applied.
    assert_eq!(r["evaluation"], ev["id"]);
    assert_eq!(r["policy"]["text"], strict_text.as_str());
    assert_eq!(
        r["policy"]["digest"].as_str().unwrap(),
        airlock::digest::Digest::of(strict_text.as_bytes()).hex()
    );
    // In text: the attribute, both groups and the ratio, on the operator's terminal.
    let out = run(
        &home,
        &["gate", &model, "--policy", strict.to_str().unwrap()],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "FAIL",
        "disparate_impact_ratio",
        "[status_sex]",
        lowest,
        highest,
        &format!("{ratio:.4}"),
        "gate FAILED",
    ] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }

    // The same model passes a looser floor.
    let loose = dir.path().join("loose.toml");
    fs::write(
        &loose,
        format!(
            "[evaluation]\ndataset = \"german@2\"\n\n[[fairness]]\nattribute = \"status_sex\"\ndisparate_impact_ratio = \">= {}\"\n",
            ratio - 0.1
        ),
    )
    .unwrap();
    let (code, r) = gate(&home, &model, &loose);
    assert_eq!((code, &r["passed"]), (0, &serde_json::json!(true)), "{r}");

    // Both reports are listed with the model, signed by this site.
    let shown = json(&ok(&home, &["--json", "models", "show", &model]));
    let gates = shown["gates"].as_array().unwrap();
    assert_eq!(gates.len(), 2, "{shown}");
    assert_eq!(gates[0]["passed"], false);
    assert_eq!(gates[1]["passed"], true);

    // A fairness attribute declared without a threshold is refused before anything runs.
    let bare = dir.path().join("bare.toml");
    fs::write(
        &bare,
        "[evaluation]\ndataset = \"german@2\"\n[[fairness]]\nattribute = \"status_sex\"\n",
    )
    .unwrap();
    fails(
        &home,
        &["gate", &model, "--policy", bare.to_str().unwrap()],
        3,
        &["declared sensitive but has no threshold"],
    );
}

#[test]
fn a_gate_policy_judges_baseline_slices_behaviour_and_robustness() {
    let dir = tempfile::tempdir().unwrap();
    let (home, good) = trained(dir.path());
    // A weaker model: the age alone.
    let weak_spec = dir.path().join("weak.toml");
    fs::write(
        &weak_spec,
        "name = \"german-age\"\ndataset = \"german@1\"\nlabel = \"credit\"\npositive = \"2\"\n[[features]]\ncolumn = \"age\"\ntransform = \"standardize\"\n",
    )
    .unwrap();
    ok(&home, &["features", "apply", weak_spec.to_str().unwrap()]);
    let weak = json(&ok(
        &home,
        &[
            "--json",
            "train",
            "--dataset",
            "german@1",
            "--features",
            "german-age",
            "--model",
            "logreg",
            "--epochs",
            "30",
        ],
    ))["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Baseline: the weak model is worse than the good one by more than the margin.
    let baseline = |margin: f64, against: &str| {
        format!(
            "[evaluation]\ndataset = \"german@2\"\n[baseline]\nmodel = \"{}\"\nmetrics = [\"roc_auc\"]\nmargin = {margin}\n",
            &against[..12]
        )
    };
    let p = dir.path().join("baseline.toml");
    fs::write(&p, baseline(0.01, &good)).unwrap();
    let (code, r) = gate(&home, &weak, &p);
    assert_eq!(code, 5, "{r}");
    let b = section(&r, "baseline");
    assert_eq!(b.len(), 1);
    assert_eq!(b[0]["verdict"], "fail");
    let base_auc = b[0]["baseline"]["value"].as_f64().unwrap();
    assert!(b[0]["value"].as_f64().unwrap() < base_auc - 0.01, "{r}");
    assert_eq!(b[0]["threshold"].as_f64().unwrap(), base_auc - 0.01);
    // The good model against the weak one passes.
    fs::write(&p, baseline(0.01, &weak)).unwrap();
    assert_eq!(gate(&home, &good, &p).0, 0);
    // No model deployed to the production slot: noted, not judged (when_missing = "pass").
    fs::write(
        &p,
        "[evaluation]\ndataset = \"german@2\"\n[baseline]\nmetrics = [\"roc_auc\"]\nmargin = 0.01\n[metrics]\nroc_auc = \">= 0.5\"\n",
    )
    .unwrap();
    let (code, r) = gate(&home, &good, &p);
    assert_eq!(code, 0, "{r}");
    assert!(
        r["notes"][0]
            .as_str()
            .unwrap()
            .contains("no model is deployed to slot \"production\""),
        "{r}"
    );
    fs::write(
        &p,
        "[evaluation]\ndataset = \"german@2\"\n[baseline]\nmetrics = [\"roc_auc\"]\nmargin = 0.01\nwhen_missing = \"fail\"\n",
    )
    .unwrap();
    fails(
        &home,
        &["gate", &good, "--policy", p.to_str().unwrap()],
        5,
        &["none is (when_missing = \"fail\")"],
    );

    // Slices: purpose has values with fewer than 30 of the 300 rows: shown, not judged; or
    // failed when the policy says so.
    let slices = |small: &str| {
        format!(
            "[evaluation]\ndataset = \"german@2\"\n[slices]\ncolumns = [\"purpose\"]\nmin_rows = 30\nsmall = \"{small}\"\n[slices.metrics]\naccuracy = \">= 0.0\"\n"
        )
    };
    fs::write(&p, slices("report")).unwrap();
    let (code, r) = gate(&home, &good, &p);
    assert_eq!(code, 0, "{r}");
    let s = section(&r, "slice");
    let small: Vec<_> = s.iter().filter(|c| c["verdict"] == "not_judged").collect();
    assert!(!small.is_empty(), "some purpose has under 30 rows: {r}");
    assert!(small.iter().all(|c| c["rows"].as_u64().unwrap() < 30));
    assert!(
        s.iter()
            .filter(|c| c["verdict"] == "pass")
            .all(|c| c["rows"].as_u64().unwrap() >= 30)
    );
    fs::write(&p, slices("fail")).unwrap();
    let (code, r) = gate(&home, &good, &p);
    assert_eq!(code, 5, "small slices fail when the policy says so: {r}");

    // Behaviour: each of CheckList's three kinds.
    let rows = test_rows(dir.path(), 8);
    let cases = dir.path().join("cases");
    fs::create_dir(&cases).unwrap();
    // Minimum: a class no model can predict fails every case, and names them.
    let min: Vec<String> = rows
        .iter()
        .take(3)
        .map(|r| {
            let mut r = r.clone();
            r.insert("expected".into(), serde_json::json!("9"));
            serde_json::Value::Object(r).to_string()
        })
        .collect();
    fs::write(cases.join("min.jsonl"), min.join("\n") + "\n").unwrap();
    // Invariance and directional cases as CSV, with a header of contract columns.
    let header: Vec<&String> = rows[0].keys().collect();
    let mut csv = header
        .iter()
        .map(|h| h.as_str())
        .collect::<Vec<_>>()
        .join(",")
        + "\n";
    for r in &rows {
        let cells: Vec<String> = header
            .iter()
            .map(|h| match &r[*h] {
                serde_json::Value::String(s) => s.clone(),
                v => v.to_string(),
            })
            .collect();
        csv.push_str(&(cells.join(",") + "\n"));
    }
    fs::write(cases.join("rows.csv"), &csv).unwrap();
    let behaviour = r#"
[[behaviour]]
kind = "minimum"
cases = "cases/min.jsonl"

[[behaviour]]
name = "sex and status do not matter (strict)"
kind = "invariance"
cases = "cases/rows.csv"
column = "status_sex"
values = ["A91", "A92", "A93", "A94"]
epsilon = 0.0

[[behaviour]]
name = "sex and status barely matter"
kind = "invariance"
cases = "cases/rows.csv"
column = "status_sex"
values = ["A91", "A92", "A93", "A94"]
epsilon = 1.0

[[behaviour]]
name = "longer is riskier"
kind = "directional"
cases = "cases/rows.csv"
column = "duration"
delta = 12
direction = "increase"

[[behaviour]]
name = "longer is safer"
kind = "directional"
cases = "cases/rows.csv"
column = "duration"
delta = 12
direction = "decrease"
"#;
    fs::write(&p, behaviour).unwrap();
    let (code, r) = gate(&home, &good, &p);
    assert_eq!(code, 5, "{r}");
    let b = section(&r, "behaviour");
    assert_eq!(b.len(), 5, "{r}");
    assert_eq!(b[0]["value"], 0.0);
    assert_eq!(b[0]["rows"], 3);
    assert!(
        b[0]["detail"]
            .as_str()
            .unwrap()
            .contains("line 1: expected \"9\""),
        "{r}"
    );
    // status_sex is one of the model's features: the strict invariance fails, the loose one
    // passes.
    assert_eq!(b[1]["verdict"], "fail", "{r}");
    assert_eq!(b[2]["verdict"], "pass", "{r}");
    assert_eq!(b[2]["rows"], 8);
    // A logistic regression is monotone in duration: exactly one direction holds for every
    // case, the other for none.
    let (up, down) = (
        b[3]["value"].as_f64().unwrap(),
        b[4]["value"].as_f64().unwrap(),
    );
    assert!(
        (up, down) == (1.0, 0.0) || (up, down) == (0.0, 1.0),
        "increase {up}, decrease {down}: {r}"
    );
    // The case files travel in the report, with their digests.
    let files = r["policy"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[1]["text"], csv.as_str());

    // Robustness: accuracy under noise and under FGSM, against stated minimums.
    fs::write(
        &p,
        "[evaluation]\ndataset = \"german@2\"\n[robustness]\nepsilon = 0.1\nnoise = \">= 0.0\"\nfgsm = \">= 0.99\"\n",
    )
    .unwrap();
    let (code, r) = gate(&home, &good, &p);
    assert_eq!(code, 5, "{r}");
    let rb = section(&r, "robustness");
    assert_eq!(rb.len(), 2);
    assert_eq!(rb[0]["metric"], "noise_accuracy");
    assert_eq!(rb[0]["verdict"], "pass");
    assert_eq!(rb[1]["metric"], "fgsm_accuracy");
    assert_eq!(rb[1]["verdict"], "fail");
    assert!(
        rb[1]["detail"]
            .as_str()
            .unwrap()
            .starts_with("clean accuracy")
    );
}

#[test]
fn a_result_in_the_review_band_needs_a_named_review_before_deploy_and_travels() {
    let w = World::new();
    let model = w.train_logreg();
    let ev = json(&ok(
        &w.lab(),
        &[
            "--json",
            "evaluate",
            &model,
            "--dataset",
            "credit@1",
            "--sensitive",
            "sex",
        ],
    ));
    let ratio = ev["fairness"][0]["fairness"]["selection"]["ratio"]
        .as_f64()
        .unwrap();
    let policy = w.media("review.toml");
    fs::write(
        &policy,
        format!(
            "[evaluation]\ndataset = \"credit@1\"\n[[fairness]]\nattribute = \"sex\"\ndisparate_impact_ratio = \">= {ratio}\"\nreview_band = 0.05\n"
        ),
    )
    .unwrap();
    let (code, r) = gate(&w.lab(), &model, &policy);
    assert_eq!(code, 0, "a review is not a failure: {r}");
    assert_eq!(r["passed"], false);
    assert_eq!(r["needs_review"], true);
    assert_eq!(section(&r, "fairness")[0]["verdict"], "review");
    let gate_id = r["id"].as_str().unwrap().to_owned();
    // The model card shows the report as needing review, with its policy and sections.
    let card = ok(&w.lab(), &["models", "card", &model]);
    for needle in [
        "**needs review**",
        "| fairness | sex | disparate\\_impact\\_ratio |",
        r["policy"]["digest"].as_str().unwrap(),
    ] {
        assert!(card.contains(needle), "{needle:?} not in the card:\n{card}");
    }

    // A plain approval is refused, naming what needs review; nothing is deployed.
    let out = w.approve(&w.lab(), &model, "dana");
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("needs a named review")
            && err.contains("disparate_impact_ratio of sex")
            && err.contains("--reviewed"),
        "{err}"
    );
    let (action, _) = crate::harness::last_audit(&w.lab());
    assert_eq!(action, "model.approve.refused");
    let deploy = [vec!["deploy".to_string(), model.clone()], w.as_op("dana")].concat();
    fails(&w.lab(), &refs(&deploy), 5, &["is not approved"]);

    // --reviewed needs a note; with one, the approval cites the report and deploy goes on.
    let reviewed = |note: &str| {
        let mut a = vec![
            "--json".to_string(),
            "approve".into(),
            model.clone(),
            "--reviewed".into(),
            "--note".into(),
            note.into(),
        ];
        a.extend(w.as_op("dana"));
        a
    };
    fails(
        &w.lab(),
        &refs(&reviewed("")),
        3,
        &["--reviewed needs a --note"],
    );
    let a = json(&ok(
        &w.lab(),
        &refs(&reviewed(
            "ratio reviewed with the fairness officer; within policy",
        )),
    ));
    assert_eq!(a["reviewed"], true);
    assert_eq!(a["gate"], gate_id.as_str());
    ok(&w.lab(), &refs(&deploy));

    // The report, its policy and the evaluation it read travel to plant, verified there.
    let bundle = w.export(&w.lab(), "plant", "reviewed.airlock", &[&model]);
    let inspect = ok(
        &w.plant(),
        &["--json", "bundle", "inspect", bundle.to_str().unwrap()],
    );
    assert!(inspect.contains(&gate_id), "{inspect}");
    ok(&w.plant(), &["bundle", "import", bundle.to_str().unwrap()]);
    let shown = json(&ok(&w.plant(), &["--json", "models", "show", &model]));
    let g = shown["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == gate_id.as_str())
        .unwrap_or_else(|| panic!("lab's report at plant: {shown}"));
    assert_eq!(g["site"], "lab");
    assert_eq!(g["needs_review"], true);
    assert_eq!(g["evaluation"], ev["id"]);
}

#[test]
fn a_threshold_chosen_at_evaluation_is_judged_deployed_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let (home, model) = trained(dir.path());
    let pass = dir.path().join("dana.pass");
    fs::write(&pass, "dana-passphrase\n").unwrap();
    let mut perms = fs::metadata(&pass).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
    fs::set_permissions(&pass, perms).unwrap();
    let pass = pass.to_str().unwrap();
    ok(
        &home,
        &["keys", "operator", "new", "dana", "--passphrase-file", pass],
    );
    let policy = dir.path().join("gate.toml");
    fs::write(
        &policy,
        "[evaluation]\ndataset = \"german@2\"\nthreshold = 0.3\n[metrics]\nroc_auc = \">= 0.6\"\n",
    )
    .unwrap();
    let (code, r) = gate(&home, &model, &policy);
    assert_eq!(code, 0, "{r}");
    let eval = r["evaluation"].as_str().unwrap().to_owned();
    let shown = json(&ok(&home, &["--json", "models", "show", &model]));
    assert_eq!(shown["evaluations"][0]["id"], eval.as_str());
    let op = ["--operator", "dana", "--passphrase-file", pass];
    ok(
        &home,
        &[
            &["approve", &model, "--note", "threshold 0.3 reviewed"][..],
            &op[..],
        ]
        .concat(),
    );
    let d = json(&ok(
        &home,
        &[&["--json", "deploy", &model][..], &op[..]].concat(),
    ));
    assert_eq!(d["threshold"], 0.3, "{d}");
    // Served at 0.3: the positive class ("2") exactly when its probability is at least 0.3.
    let req = dir.path().join("requests.jsonl");
    let lines: Vec<String> = test_rows(dir.path(), 300)
        .into_iter()
        .map(|r| serde_json::Value::Object(r).to_string())
        .collect();
    fs::write(&req, lines.join("\n") + "\n").unwrap();
    let p = json(&ok(
        &home,
        &["--json", "predict", "--input", req.to_str().unwrap()],
    ));
    let preds = p["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 300);
    let mut between = 0;
    for x in preds {
        let prob = x["probability"].as_f64().unwrap();
        assert_eq!(x["class"] == "2", prob >= 0.3, "{x}");
        if (0.3..0.5).contains(&prob) {
            between += 1;
        }
    }
    assert!(between > 0, "some answers differ from the 0.5 rule");
}
