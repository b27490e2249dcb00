//! Gate policies and the gate reports that carry them: `GatePolicy::parse` (the `GATE.toml`
//! an operator hands to `airlock gate --policy`) and `GateReport::check` (a report that
//! arrives in a bundle, checked at import and at every use).
//!
//! Byte 0 picks the reading. Even: the rest as a gate policy; an accepted policy checks
//! something, every declared fairness attribute has a threshold, every case file path stays
//! relative without `..`, the sections that need figures on unseen data come with
//! `[evaluation]`, and the `--require` text of its `[metrics]` parses back to the same
//! bounds. Odd: the rest as a gate report's JSON; `check` never panics, and an accepted
//! report's verdicts follow from its checks (it passes exactly when every check passed, and
//! needs review only when none failed).

#![no_main]

use airlock_core::gate::{GatePolicy, require_policy_text};
use airlock_core::lifecycle::{GateReport, Verdict};
use libfuzzer_sys::fuzz_target;

/// The runtime's metric names (the core does not depend on the runtime).
const METRICS: [&str; 12] = [
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
    "positive_rate",
    "rmse",
    "mae",
    "r2",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    if pick % 2 == 0 {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        let Ok(p) = GatePolicy::parse(text, "fuzz", &METRICS) else {
            return;
        };
        assert!(
            !p.metrics.is_empty()
                || p.baseline.is_some()
                || p.slices.is_some()
                || !p.fairness.is_empty()
                || !p.behaviour.is_empty()
                || p.robustness.is_some(),
            "an accepted policy checks something"
        );
        assert!(p.fairness.iter().all(|f| !f.bounds.is_empty()));
        for b in &p.behaviour {
            assert!(
                !b.cases.starts_with('/') && !b.cases.split('/').any(|s| s == ".." || s.is_empty())
            );
        }
        if p.evaluation.is_none() {
            assert!(
                p.baseline.is_none()
                    && p.fairness.is_empty()
                    && p.robustness.is_none()
                    && p.slices.is_none()
            );
        }
        if !p.metrics.is_empty() {
            let again = GatePolicy::parse(&require_policy_text(&p.metrics), "again", &METRICS)
                .expect("the --require text of accepted bounds parses");
            assert_eq!(again.metrics, p.metrics);
        }
    } else {
        let Ok(r) = serde_json::from_slice::<GateReport>(rest) else {
            return;
        };
        if r.check(&METRICS).is_ok() {
            let all = r.checks.iter().all(|c| c.passed);
            assert_eq!(r.passed, all);
            let failed = r.checks.iter().any(|c| c.outcome() == Verdict::Fail);
            assert!(!r.needs_review || !failed);
            assert!(!r.checks.is_empty());
        }
    }
});
