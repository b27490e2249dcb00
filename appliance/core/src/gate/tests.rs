use super::*;

const METRICS: [&str; 4] = ["accuracy", "roc_auc", "brier", "positive_rate"];

fn parse(t: &str) -> Result<GatePolicy> {
    GatePolicy::parse(t, "GATE.toml", &METRICS)
}

fn refused(t: &str, needle: &str) {
    match parse(t) {
        Err(Error::Rejected(m)) => assert!(m.contains(needle), "{m:?} lacks {needle:?}"),
        other => panic!("expected a refusal naming {needle:?}, got {other:?}"),
    }
}

#[test]
fn the_documented_example_parses() {
    let doc = include_str!("mod.rs");
    let example: String = doc
        .lines()
        .skip_while(|l| !l.starts_with("//! ```toml"))
        .skip(1)
        .take_while(|l| !l.starts_with("//! ```"))
        .map(|l| l.trim_start_matches("//!").trim_start_matches(' '))
        .collect::<Vec<_>>()
        .join("\n");
    let p = parse(&example).expect("the module's example");
    assert_eq!(p.metrics.len(), 2);
    assert_eq!(p.fairness[0].cuts, vec![25.0]);
    assert_eq!(p.fairness[0].review_band, 0.05);
    assert_eq!(p.behaviour[0].kind, CaseKind::Minimum);
    assert_eq!(p.robustness.as_ref().map(|r| r.bounds.len()), Some(2));
    assert_eq!(p.baseline.as_ref().map(|b| b.margin), Some(0.02));
    assert_eq!(
        p.slices.as_ref().map(|s| s.small),
        Some(SmallSlices::Report)
    );
}

#[test]
fn a_declared_attribute_without_a_threshold_is_refused() {
    refused(
        "[evaluation]\ndataset = \"t@1\"\n[[fairness]]\nattribute = \"age\"\n",
        "declared sensitive but has no threshold",
    );
}

#[test]
fn typos_and_unknown_metrics_are_refused() {
    refused(
        "[metrics]\nroc_acu = \">= 0.7\"\n",
        "unknown metric \"roc_acu\"",
    );
    refused(
        "[evaluation]\ndataset = \"t@1\"\n[[fairness]]\nattribute = \"a\"\ndisparate_impact = \">= 0.8\"\n",
        "unknown field",
    );
    refused("[metrics]\nroc_auc = \"> 0.7\"\n", "is not a threshold");
    refused("[metrics]\nroc_auc = \">= high\"\n", "is not a number");
}

#[test]
fn a_policy_that_checks_nothing_is_refused() {
    refused("", "checks nothing");
    refused("[evaluation]\ndataset = \"t@1\"\n", "checks nothing");
}

#[test]
fn figures_on_unseen_data_need_an_evaluation() {
    refused(
        "[baseline]\nmetrics = [\"roc_auc\"]\nmargin = 0.01\n",
        "add [evaluation]",
    );
    refused("[robustness]\nnoise = \">= 0.5\"\n", "add [evaluation]");
}

#[test]
fn case_files_stay_in_the_policy_folder() {
    for bad in [
        "/etc/passwd",
        "../x.csv",
        "a/../../x.csv",
        ".hidden",
        "a b.csv",
    ] {
        refused(
            &format!("[[behaviour]]\nkind = \"minimum\"\ncases = \"{bad}\"\n"),
            "relative path",
        );
    }
    assert!(parse("[[behaviour]]\nkind = \"minimum\"\ncases = \"cases/ok-1.jsonl\"\n").is_ok());
}

#[test]
fn behaviour_kinds_need_their_fields() {
    refused(
        "[[behaviour]]\nkind = \"invariance\"\ncases = \"c.csv\"\n",
        "invariance cases need",
    );
    refused(
        "[[behaviour]]\nkind = \"directional\"\ncases = \"c.csv\"\ncolumn = \"x\"\ndelta = 0\n",
        "directional cases need",
    );
    refused(
        "[[behaviour]]\nkind = \"minimum\"\ncases = \"c.csv\"\nmin_pass_rate = 1.5\n",
        "within 0 and 1",
    );
}

#[test]
fn the_require_shorthand_is_a_policy() {
    let b = vec![Bound {
        metric: "roc_auc".into(),
        op: Op::AtLeast,
        threshold: 0.7,
    }];
    let p = parse(&require_policy_text(&b)).expect("shorthand policy parses");
    assert_eq!(p.metrics, b);
}

#[test]
fn applied_policy_digests_are_checked() {
    let mut a = AppliedPolicy::new("[metrics]\n".into(), vec![("c.csv".into(), "x\n".into())]);
    assert!(a.check().is_ok());
    a.files[0].text.push('y');
    assert!(a.check().expect_err("case file").contains("c.csv"));
    a.files[0].text.pop();
    a.text.push('#');
    assert!(a.check().expect_err("policy").contains("policy text"));
}
