//! The canary's fate, judged on this site's own windows: rolled back when it does worse than
//! production by more than the policy allows ([`canary_verdict`]), promoted when the policy
//! asks for it and it has passed ([`canary_promotion`]).

use serde::{Deserialize, Serialize};

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
}

impl Default for CanaryRules {
    fn default() -> Self {
        CanaryRules {
            min_requests: 50,
            max_error_rate_increase: 0.05,
            max_latency_ratio: 3.0,
            max_prediction_distance: 0.3,
            promote_after: 0,
        }
    }
}

/// The canary's model, its windows, and production's windows of the same starts.
type CanaryWindows<'a> = (Digest, Vec<&'a MonitorWindow>, Vec<&'a MonitorWindow>);

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
    Ok(Some((dep.model, canary, production)))
}

/// Whether the canary is to be promoted by the node: the policy's `promote_after` is set,
/// and the canary has passed the rollback rules (judged over all its windows, as
/// [`canary_verdict`] judges them) with at least `min_requests` requests, over at least
/// `promote_after` windows with requests that production served too. The model, the reason
/// and the start of its first window.
pub(super) fn canary_promotion(
    home: &Home,
    policy: &MonitorPolicy,
    all: &[MonitorWindow],
) -> Result<Option<(Digest, String, Timestamp)>> {
    let n = policy.canary.promote_after;
    if n == 0 {
        return Ok(None);
    }
    let Some((model, canary, production)) = canary_windows(home, all)? else {
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
    let Some((model, canary, production)) = canary_windows(home, all)? else {
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
    Ok(None)
}
