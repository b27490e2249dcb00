//! The gate's verdict rules.

use super::*;
use crate::lifecycle::APPROVAL_TYPE;
use crate::node::time::{Now, Timestamp};

fn report(checks: Vec<Check>, passed: bool) -> GateReport {
    GateReport {
        ty: GATE_TYPE.into(),
        site: "depot".parse().expect("site"),
        model: Digest::of(b"model"),
        policy: None,
        evaluation: None,
        checks,
        passed,
        needs_review: false,
        notes: Vec::new(),
        created_at: Timestamp::now(),
    }
}

fn check(value: f64, passed: bool) -> Check {
    let mut c = Check::new("roc_auc", Op::AtLeast, 0.7, value);
    c.passed = passed;
    c
}

#[test]
fn a_gate_report_decides_only_what_its_checks_show() {
    report(vec![check(0.8, true)], true)
        .check(&METRIC_NAMES)
        .expect("sound");
    report(vec![check(0.6, false)], false)
        .check(&METRIC_NAMES)
        .expect("sound failure");
    let err = report(Vec::new(), true)
        .check(&METRIC_NAMES)
        .expect_err("empty");
    assert!(err.to_string().contains("checks nothing"), "{err}");
    let err = report(vec![check(0.6, false)], true)
        .check(&METRIC_NAMES)
        .expect_err("verdict");
    assert!(
        err.to_string()
            .contains("its verdict does not follow from its checks (0 of 1 passed)"),
        "{err}"
    );
    let err = report(vec![check(0.6, true)], true)
        .check(&METRIC_NAMES)
        .expect_err("check");
    assert!(
        err.to_string()
            .contains("says it passed, which does not follow from its value 0.6"),
        "{err}"
    );
    let mut unknown = check(0.8, true);
    unknown.metric = "vibes".into();
    let err = report(vec![unknown], true)
        .check(&METRIC_NAMES)
        .expect_err("metric");
    assert!(err.to_string().contains("unknown metric"), "{err}");
    let mut other = report(vec![check(0.8, true)], true);
    other.ty = APPROVAL_TYPE.into();
    assert!(other.check(&METRIC_NAMES).is_err(), "another record type");
}

fn fair(value: f64, verdict: Verdict) -> Check {
    let b = Bound {
        metric: "disparate_impact_ratio".into(),
        op: Op::AtLeast,
        threshold: 0.8,
    };
    let mut c = judged(
        Section::Fairness,
        Some("age".into()),
        &b,
        value,
        Some(0.05),
        None,
        None,
        None,
    )
    .expect("judged");
    c.verdict = Some(verdict);
    c.passed = matches!(verdict, Verdict::Pass | Verdict::NotJudged);
    c
}

#[test]
fn a_forged_review_verdict_is_refused() {
    // 0.82 is within the 0.05 band of 0.8: it needs review, it does not pass.
    let mut ok = report(vec![fair(0.82, Verdict::Review)], false);
    ok.needs_review = true;
    ok.check(&METRIC_NAMES).expect("a sound review");
    let forged = report(vec![fair(0.82, Verdict::Pass)], true);
    let err = forged.check(&METRIC_NAMES).expect_err("forged pass");
    assert!(err.to_string().contains("does not follow"), "{err}");
    // A failure marked "needs review" to slip through to an approval.
    let mut slipped = report(vec![fair(0.6, Verdict::Review)], false);
    slipped.needs_review = true;
    assert!(slipped.check(&METRIC_NAMES).is_err());
    // A review that does not say the report needs review.
    let quiet = report(vec![fair(0.82, Verdict::Review)], false);
    let err = quiet.check(&METRIC_NAMES).expect_err("needs_review hidden");
    assert!(err.to_string().contains("review"), "{err}");
}

#[test]
fn small_slices_are_not_judged_or_fail_as_the_policy_says() {
    let b = Bound {
        metric: "accuracy".into(),
        op: Op::AtLeast,
        threshold: 0.9,
    };
    let small = judged(
        Section::Slice,
        Some("purpose=A410".into()),
        &b,
        1.0,
        None,
        Some((5, 30, SmallSlices::Report)),
        None,
        None,
    )
    .expect("judged");
    assert_eq!(small.verdict, Some(Verdict::NotJudged));
    assert!(small.passed);
    let failing = judged(
        Section::Slice,
        Some("purpose=A410".into()),
        &b,
        1.0,
        None,
        Some((5, 30, SmallSlices::Fail)),
        None,
        None,
    )
    .expect("judged");
    assert_eq!(failing.verdict, Some(Verdict::Fail));
    report(vec![small.clone()], true)
        .check(&METRIC_NAMES)
        .expect("a small slice not judged");
    // A big slice cannot be waved through as "not judged".
    let mut forged = small;
    forged.rows = Some(300);
    forged.value = 0.5;
    assert!(report(vec![forged], true).check(&METRIC_NAMES).is_err());
}

#[test]
fn a_baseline_threshold_must_follow_from_the_baseline() {
    let fig = BaselineFigure {
        model: Digest::of(b"prod"),
        value: 0.80,
        margin: 0.02,
    };
    let (op, threshold) = fig.bound("roc_auc");
    let b = Bound {
        metric: "roc_auc".into(),
        op,
        threshold,
    };
    let c = judged(
        Section::Baseline,
        None,
        &b,
        0.75,
        None,
        None,
        Some(fig.clone()),
        None,
    )
    .expect("judged");
    assert_eq!(c.verdict, Some(Verdict::Fail), "0.75 < 0.80 - 0.02");
    let r = report(vec![c.clone()], false);
    r.check(&METRIC_NAMES).expect("sound");
    let mut moved = c;
    moved.threshold = 0.7;
    moved.passed = true;
    moved.verdict = Some(Verdict::Pass);
    let err = report(vec![moved], true)
        .check(&METRIC_NAMES)
        .expect_err("threshold moved");
    assert!(err.to_string().contains("baseline"), "{err}");
    // Lower is better for losses: the margin goes the other way.
    let (op, t) = fig.bound("brier");
    assert_eq!((op, t), (Op::AtMost, 0.80 + 0.02));
}

#[test]
fn the_core_knows_the_runtimes_fairness_figures() {
    assert_eq!(
        airlock_core::gate::FAIRNESS_METRICS,
        airlock_runtime::FAIRNESS_METRICS
    );
}
