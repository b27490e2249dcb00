//! The canary's fate, judged on this site's own windows: rolled back when it does worse than
//! production by more than the policy allows ([`canary_verdict`]: refusals, latency, scores,
//! and, once labels have arrived, accuracy over the labelled predictions of the same windows),
//! promoted when the policy asks for it and it has passed ([`canary_promotion`]).

use serde::{Deserialize, Serialize};

use airlock_core::accuracy::{self, Label, Logged};
use airlock_core::monitor::{Latency, MonitorWindow, Scores};

use crate::digest::Digest;
use crate::error::Result;
use crate::node::home::Home;
use crate::node::time::Timestamp;
use crate::ops::rollout;

use super::MonitorPolicy;

/// When a canary is rolled back by the node itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CanaryRules {
    /// Fewer canary requests than this over its windows: not judged yet.
    pub min_requests: u64,
    /// Rolled back when its share of refused requests exceeds production's by more.
    pub max_error_rate_increase: f64,
    /// Rolled back when its p99 latency is more than this many times production's.
    pub max_latency_ratio: f64,
    /// Rolled back when the Jensen-Shannon distance of its scores from production's (same
    /// windows) is above this.
    pub max_prediction_distance: f64,
    /// Promoted by the node when it has passed these rules in this many of its windows (each
    /// with requests, `min_requests` in all); 0: never (the default).
    pub promote_after: u64,
    /// Once labels have arrived (the policy's `accuracy.labels`, or `monitor check --labels`):
    /// rolled back when its accuracy over the labelled predictions of its windows is more than
    /// this below production's over the same windows (and the difference is significant at
    /// `accuracy_alpha`).
    pub max_accuracy_drop: f64,
    /// Fewer labelled predictions than this on either side: accuracy is not judged yet.
    pub min_labels: u64,
    /// The one-sided two-proportion test (Pearson's chi-squared on the 2 × 2 table) must give
    /// a p-value below this before an accuracy drop rolls the canary back, so that a small
    /// sample's noise does not.
    pub accuracy_alpha: f64,
}

impl Default for CanaryRules {
    fn default() -> Self {
        CanaryRules {
            min_requests: 50,
            max_error_rate_increase: 0.05,
            max_latency_ratio: 3.0,
            max_prediction_distance: 0.3,
            promote_after: 0,
            max_accuracy_drop: 0.05,
            min_labels: 100,
            accuracy_alpha: 0.05,
        }
    }
}

/// The canary's model, its windows, production's windows of the same starts, and
/// production's model.
type CanaryWindows<'a> = (
    Digest,
    Vec<&'a MonitorWindow>,
    Vec<&'a MonitorWindow>,
    Digest,
);

/// The canary's windows since it was deployed, and production's of the same starts (this
/// site's own); `None` without a canary and a production model.
fn canary_windows<'a>(home: &Home, all: &'a [MonitorWindow]) -> Result<Option<CanaryWindows<'a>>> {
    let Some((_, dep)) = rollout::current(home, rollout::CANARY)? else {
        return Ok(None);
    };
    let Some(prod) = rollout::deployed(home, rollout::PRODUCTION)? else {
        return Ok(None);
    };
    let mine: Vec<&MonitorWindow> = all.iter().filter(|w| w.site == *home.site()).collect();
    let canary: Vec<&MonitorWindow> = mine
        .iter()
        .copied()
        .filter(|w| w.model == dep.model && w.slot == rollout::CANARY && w.end > dep.created_at)
        .collect();
    let starts: Vec<Timestamp> = canary.iter().map(|w| w.start).collect();
    let production: Vec<&MonitorWindow> = mine
        .iter()
        .copied()
        .filter(|w| w.model == prod && w.slot == rollout::PRODUCTION && starts.contains(&w.start))
        .collect();
    Ok(Some((dep.model, canary, production, prod)))
}

/// Whether the canary is to be promoted by the node: the policy's `promote_after` is set,
/// and the canary has passed the rollback rules (judged over all its windows, as
/// [`canary_verdict`] judges them) with at least `min_requests` requests, over at least
/// `promote_after` windows with requests that production served too. The model, the reason
/// and the start of its first window. [`check`](super::check) asks only when
/// [`canary_verdict`] found nothing, so a canary whose labelled accuracy falls short of
/// production's by more than the policy allows is rolled back, never promoted.
pub(super) fn canary_promotion(
    home: &Home,
    policy: &MonitorPolicy,
    all: &[MonitorWindow],
) -> Result<Option<(Digest, String, Timestamp)>> {
    let n = policy.canary.promote_after;
    if n == 0 {
        return Ok(None);
    }
    let Some((model, canary, production, _)) = canary_windows(home, all)? else {
        return Ok(None);
    };
    let served: Vec<&&MonitorWindow> = canary
        .iter()
        .filter(|w| w.requests > 0 && production.iter().any(|p| p.start == w.start))
        .collect();
    let requests: u64 = served.iter().map(|w| w.requests).sum();
    if (served.len() as u64) < n || requests < policy.canary.min_requests {
        return Ok(None);
    }
    let since = served.first().map_or(Timestamp(0), |w| w.start);
    Ok(Some((
        model,
        format!(
            "automatic: the canary passed the monitoring policy's rules in {} windows ({requests} requests; promote_after = {n})",
            served.len()
        ),
        since,
    )))
}

/// Why the canary should be rolled back, judged on the windows it shares with production
/// since it was deployed; `None` while it does no worse (or has too few requests).
pub(super) fn canary_verdict(
    home: &Home,
    policy: &MonitorPolicy,
    all: &[MonitorWindow],
) -> Result<Option<(Digest, String)>> {
    // Only this site's own windows judge its canary.
    let Some((model, canary, production, prod)) = canary_windows(home, all)? else {
        return Ok(None);
    };
    let sum = |ws: &[&MonitorWindow]| {
        let mut requests = 0;
        let mut refused = 0;
        let mut latency = Latency::default();
        let mut scores = Scores::default();
        for w in ws {
            requests += w.requests;
            refused += w.refusals();
            latency.merge(&w.latency);
            scores.merge(&w.scores);
        }
        (requests, refused, latency, scores)
    };
    let (cn, cr, cl, cs) = sum(&canary);
    let (pn, pr, pl, ps) = sum(&production);
    let rules = &policy.canary;
    if cn < rules.min_requests || pn == 0 {
        return Ok(None);
    }
    let (ce, pe) = (cr as f64 / cn as f64, pr as f64 / pn as f64);
    if ce - pe > rules.max_error_rate_increase {
        return Ok(Some((
            model,
            format!(
                "automatic: the canary refused {:.1}% of its {cn} requests, production {:.1}% (more than {:.1} points worse)",
                100.0 * ce,
                100.0 * pe,
                100.0 * rules.max_error_rate_increase
            ),
        )));
    }
    if let (Some(c99), Some(p99)) = (cl.quantile(0.99), pl.quantile(0.99))
        && c99 as f64 > rules.max_latency_ratio * p99 as f64
    {
        return Ok(Some((
            model,
            format!(
                "automatic: the canary's p99 latency is about {c99} µs, production's {p99} µs (more than {} times)",
                rules.max_latency_ratio
            ),
        )));
    }
    if let Some(d) = cs.distance(&ps)
        && d > rules.max_prediction_distance
    {
        return Ok(Some((
            model,
            format!(
                "automatic: the canary's scores are {d:.3} (Jensen-Shannon distance) from production's over the same windows, above {}",
                rules.max_prediction_distance
            ),
        )));
    }
    if let Some(why) = accuracy_shortfall(home, policy, (&model, &canary), (&prod, &production))? {
        return Ok(Some((model, why)));
    }
    Ok(None)
}

/// Labelled predictions and how many of them were right.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Labelled {
    labelled: u64,
    right: u64,
}

impl Labelled {
    fn accuracy(self) -> f64 {
        self.right as f64 / self.labelled as f64
    }
}

/// The rule on the counts: `None` unless each side has `min_labels` (at least one), the
/// canary's accuracy is more than `max_accuracy_drop` below production's, and the one-sided
/// two-proportion test (Pearson's chi-squared on the 2 × 2 table, halved: the canary is the
/// worse side) gives a p-value below `accuracy_alpha`; then that p-value.
fn falls_short(c: Labelled, p: Labelled, rules: &CanaryRules) -> Option<f64> {
    let enough = rules.min_labels.max(1);
    if c.labelled < enough || p.labelled < enough {
        return None;
    }
    if p.accuracy() - c.accuracy() <= rules.max_accuracy_drop {
        return None;
    }
    let (_, _, two_sided) = airlock_core::drift::stats::chi2_homogeneity(
        &[c.right, c.labelled - c.right],
        &[p.right, p.labelled - p.right],
    );
    let p_value = two_sided / 2.0;
    (p_value < rules.accuracy_alpha).then_some(p_value)
}

/// Whether a time lies in one of the spans `[start, end)`: the spans merged into disjoint ones
/// by start (windows of different lengths may overlap), each time placed by a binary search.
fn within_any(mut spans: Vec<(i64, i64)>) -> impl Fn(i64) -> bool {
    spans.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    move |at| {
        let n = merged.partition_point(|(start, _)| *start <= at);
        n > 0 && at < merged[n - 1].1
    }
}

/// How the labels judge `model`'s predictions in `slot` made within `windows`: the model's
/// predictions in that slot are joined point in time to the labels (the join of
/// `airlock_core::accuracy`, as the accuracy report joins them), and those made in one of the
/// windows (`start <= at < end`) with a predicted class are counted.
fn labelled_in(
    home: &Home,
    labels: &[Label],
    model: &Digest,
    slot: &str,
    windows: &[&MonitorWindow],
) -> Result<Labelled> {
    let logged: Vec<Logged> = crate::store::predictions::of_model(home.store(), model)?
        .into_iter()
        .filter(|p| p.slot == slot)
        .map(|p| Logged {
            entity: p.entity,
            at: p.at,
            score: p.score,
            class: p.class,
        })
        .collect();
    let (joined, _) = accuracy::join(&logged, labels);
    let within = within_any(windows.iter().map(|w| (w.start.0, w.end.0)).collect());
    let mut out = Labelled::default();
    for j in joined {
        let Some(class) = j.class else { continue };
        if within(j.at) {
            out.labelled += 1;
            out.right += u64::from(class == j.label);
        }
    }
    Ok(out)
}

/// Whether the canary's accuracy falls short of production's by more than the policy allows,
/// judged when the policy names a labels dataset: over the labelled predictions each made in
/// the windows both served (the canary's windows since it was deployed that production has a
/// window of the same start), once each side has `min_labels`, the canary is rolled back when
/// its accuracy is more than `max_accuracy_drop` below production's and the one-sided
/// two-proportion test gives p below `accuracy_alpha`. The reason names the figures.
fn accuracy_shortfall(
    home: &Home,
    policy: &MonitorPolicy,
    (model, canary): (&Digest, &[&MonitorWindow]),
    (prod, production): (&Digest, &[&MonitorWindow]),
) -> Result<Option<String>> {
    let Some(labels_ref) = policy.accuracy.labels.as_deref() else {
        return Ok(None);
    };
    let labels_ref: crate::vault::registry::NameRef = labels_ref.parse()?;
    let shared: Vec<&MonitorWindow> = canary
        .iter()
        .copied()
        .filter(|w| production.iter().any(|p| p.start == w.start))
        .collect();
    if shared.is_empty() {
        return Ok(None);
    }
    let rules = &policy.canary;
    // Each model's labels by its own label column (both read production's contract).
    let side = |m: &Digest, slot: &str, ws: &[&MonitorWindow]| -> Result<(Labelled, String)> {
        let run = crate::ops::train::load_run(home, m)?;
        if run.spec.task == airlock_runtime::Task::Regression {
            return Ok((Labelled::default(), String::new()));
        }
        let (_, name, labels) = super::accuracy::labels(home, &labels_ref, &run.label, None)?;
        Ok((labelled_in(home, &labels, m, slot, ws)?, name))
    };
    let (c, name) = side(model, rollout::CANARY, &shared)?;
    if c.labelled < rules.min_labels.max(1) {
        return Ok(None);
    }
    let (p, _) = side(prod, rollout::PRODUCTION, production)?;
    let Some(p_value) = falls_short(c, p, rules) else {
        return Ok(None);
    };
    let (ca, pa) = (c.accuracy(), p.accuracy());
    Ok(Some(format!(
        "automatic: the canary's accuracy is {:.1}% over its {} labelled predictions, production's {:.1}% over {} in the same windows (more than {:.1} points worse; one-sided p = {p_value:.2e}; labels {name})",
        100.0 * ca,
        c.labelled,
        100.0 * pa,
        p.labelled,
        100.0 * rules.max_accuracy_drop
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(labelled: u64, right: u64) -> Labelled {
        Labelled { labelled, right }
    }

    #[test]
    fn an_accuracy_shortfall_needs_enough_labels_a_drop_over_the_limit_and_significance() {
        let rules = CanaryRules::default();
        // 60% against 90% over 200 labels each: rolled back, p far below 0.05.
        let p = falls_short(l(200, 120), l(200, 180), &rules).expect("a shortfall");
        assert!(p < 1e-6, "{p}");
        // The same figures with fewer labels than min_labels (100) on either side: not judged.
        assert_eq!(falls_short(l(99, 59), l(200, 180), &rules), None);
        assert_eq!(falls_short(l(200, 120), l(99, 89), &rules), None);
        // A drop within max_accuracy_drop (0.05): 86% against 90%.
        assert_eq!(falls_short(l(1000, 860), l(1000, 900), &rules), None);
        // Better than production: never.
        assert_eq!(falls_short(l(200, 190), l(200, 120), &rules), None);
        // Over the limit but within noise: 80% against 90% over 5 labels each, when
        // min_labels lets so few be judged (one-sided p about 0.15).
        let few = CanaryRules {
            min_labels: 5,
            ..CanaryRules::default()
        };
        assert_eq!(falls_short(l(5, 4), l(5, 5), &few), None);
        // min_labels = 0 still needs one label a side (no accuracy of nothing).
        let none = CanaryRules {
            min_labels: 0,
            ..CanaryRules::default()
        };
        assert_eq!(falls_short(l(0, 0), l(10, 10), &none), None);
    }

    #[test]
    fn a_prediction_counts_when_its_time_lies_in_one_of_the_windows() {
        // An hour-long window from a batch, two-second ones from serve inside and after it,
        // and one apart.
        let within = within_any(vec![(7200, 7202), (3600, 7200), (4000, 4002), (9000, 9002)]);
        for at in [3600, 4001, 7199, 7200, 7201, 9000, 9001] {
            assert!(within(at), "{at}");
        }
        for at in [0, 3599, 7202, 8999, 9002] {
            assert!(!within(at), "{at}");
        }
        assert!(!within_any(Vec::new())(0));
    }

    #[test]
    fn the_canary_accuracy_rules_are_read_from_the_policy_and_bad_values_refused() {
        let p = MonitorPolicy::from_toml(
            "[canary]\nmax_accuracy_drop = 0.1\nmin_labels = 20\naccuracy_alpha = 0.01\n",
            "t.toml",
        )
        .expect("a policy");
        assert_eq!(p.canary.max_accuracy_drop, 0.1);
        assert_eq!(p.canary.min_labels, 20);
        assert_eq!(p.canary.accuracy_alpha, 0.01);
        assert_eq!(
            MonitorPolicy::from_toml("", "t.toml")
                .expect("the default")
                .canary,
            CanaryRules::default()
        );
        for bad in [
            "[canary]\nmax_accuracy_drop = 1.5\n",
            "[canary]\nmax_accuracy_drop = -0.1\n",
            "[canary]\naccuracy_alpha = 0.0\n",
        ] {
            let e = MonitorPolicy::from_toml(bad, "t.toml")
                .expect_err("refused")
                .to_string();
            assert!(e.contains("canary.max_accuracy_drop"), "{bad}: {e}");
        }
    }
}
