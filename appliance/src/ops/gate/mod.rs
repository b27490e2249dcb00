//! `airlock gate`: a model judged against a gate policy, as one signed gate report.
//!
//! A policy (`GATE.toml`, parsed by [`airlock_core::gate`]; `--require` is a shorthand for its
//! `[metrics]` section on the run's held-out split) names what the model must show: metrics on
//! a dataset it never saw, no worse than the model in production (or a pinned one) by more
//! than a margin, per-slice minimums, fairness per declared sensitive attribute, behaviour
//! cases, and accuracy under bounded perturbations. The figures come from one evaluation
//! record ([`crate::ops::evaluate`]), found or made here; the baseline's from an evaluation of the
//! baseline model on the same dataset. The report carries the policy's text and case files
//! with their digests, the evaluation it read and every check with its threshold, value and
//! verdict; it is stored whether it passes or not.
//!
//! A report is re-checked whenever it is used ([`counted_gate`]): its verdicts must follow
//! from its numbers ([`GateReport::check`]), and its numbers must be the model's (the run
//! record's held-out figures, or those of the evaluation record it names, which travels with
//! the model in bundles). A check within a fairness review band makes the report "needs
//! review": it counts only with an approval that cites it and says it was reviewed.

use std::path::Path;

use serde_json::json;

use airlock_core::gate::{
    AppliedPolicy, Bound, GatePolicy, MAX_CASES_BYTES, MAX_POLICY_BYTES, SmallSlices, WhenMissing,
    require_policy_text,
};
use airlock_core::lifecycle::{BaselineFigure, Section, Verdict};
use airlock_runtime::{METRIC_NAMES, Perturbation, Task};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::lifecycle::Check;
use crate::lifecycle::GATE_TYPE;
use crate::lifecycle::GateReport;
use crate::lifecycle::Op;
use crate::node::home::Home;
use crate::ops::evaluate::{self, EvaluateRequest, EvaluationRecord, Sensitive};
use crate::ops::score::Scorer;
use crate::ops::train;
use crate::store::AuditEntry;
use crate::store::objects::Table;
use crate::vault::registry::{self, Kind, NameRef};

mod behaviour;
mod counted;
#[cfg(test)]
mod tests;

pub use counted::{Counted, counted_gate, insert_gate_row, list_for, load_gate, review_items};

/// A gate policy as read from disk: its text and its case files, parsed.
#[derive(Clone, Debug)]
pub struct PolicySource {
    /// The policy as written.
    pub text: String,
    /// Each case file: its name as the policy gives it, and its text.
    pub files: Vec<(String, String)>,
    /// The parsed policy.
    pub policy: GatePolicy,
}

fn read_bounded(path: &Path, max: usize, what: &str) -> Result<String> {
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| Error::Rejected(format!("{what} {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(Error::Rejected(format!(
            "{what} {}: not a regular file (a link or folder is not followed)",
            path.display()
        )));
    }
    if meta.len() > max as u64 {
        return Err(Error::Rejected(format!(
            "{what} {}: {} bytes, more than the {max} accepted",
            path.display(),
            meta.len()
        )));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Rejected(format!("{what} {}: {e}", path.display())))?;
    String::from_utf8(bytes)
        .map_err(|_| Error::Rejected(format!("{what} {}: not UTF-8 text", path.display())))
}

/// Reads a gate policy file and the case files it names (relative to its folder).
pub fn read_policy(path: &Path) -> Result<PolicySource> {
    let text = read_bounded(path, MAX_POLICY_BYTES, "gate policy")?;
    let policy = GatePolicy::parse(&text, &path.display().to_string(), &METRIC_NAMES)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut files: Vec<(String, String)> = Vec::new();
    for b in &policy.behaviour {
        if files.iter().any(|(n, _)| *n == b.cases) {
            continue;
        }
        let t = read_bounded(&dir.join(&b.cases), MAX_CASES_BYTES, "behaviour cases")?;
        files.push((b.cases.clone(), t));
    }
    Ok(PolicySource {
        text,
        files,
        policy,
    })
}

/// Parses `METRIC>=X` or `METRIC<=X` into an unfilled check.
pub fn parse_threshold(s: &str) -> Result<Check> {
    let (metric, op, value) = if let Some((m, v)) = s.split_once(">=") {
        (m, Op::AtLeast, v)
    } else if let Some((m, v)) = s.split_once("<=") {
        (m, Op::AtMost, v)
    } else {
        return Err(Error::Rejected(format!(
            "threshold {s:?}: write METRIC>=VALUE or METRIC<=VALUE, e.g. roc_auc>=0.7"
        )));
    };
    let metric = metric.trim();
    if !METRIC_NAMES.contains(&metric) {
        return Err(Error::Rejected(format!(
            "threshold {s:?}: unknown metric {metric:?} ({})",
            METRIC_NAMES.join(", ")
        )));
    }
    let threshold: f64 = value
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| Error::Rejected(format!("threshold {s:?}: {value:?} is not a number")))?;
    Ok(Check::new(metric, op, threshold, f64::NAN))
}

/// Gates a model on held-out thresholds (`--require`): the policy of that one `[metrics]`
/// section, carried in the report like any other.
pub fn gate(home: &mut Home, model: &Digest, checks: Vec<Check>) -> Result<(Digest, GateReport)> {
    if checks.is_empty() {
        return Err(Error::Rejected(
            "a gate needs at least one threshold".into(),
        ));
    }
    let bounds: Vec<Bound> = checks
        .iter()
        .map(|c| Bound {
            metric: c.metric.clone(),
            op: c.op,
            threshold: c.threshold,
        })
        .collect();
    let text = require_policy_text(&bounds);
    let policy = GatePolicy::parse(&text, "--require", &METRIC_NAMES)?;
    gate_with_policy(
        home,
        model,
        &PolicySource {
            text,
            files: Vec::new(),
            policy,
        },
    )
}

/// The evaluation options a policy needs.
fn request_for(model: Digest, dataset: NameRef, p: &GatePolicy) -> EvaluateRequest {
    EvaluateRequest {
        model,
        dataset,
        threshold: p
            .evaluation
            .as_ref()
            .and_then(|e| e.threshold)
            .unwrap_or(evaluate::DEFAULT_THRESHOLD),
        slice_by: p
            .slices
            .as_ref()
            .map(|s| s.columns.clone())
            .unwrap_or_default(),
        sensitive: p
            .fairness
            .iter()
            .map(|f| Sensitive {
                column: f.attribute.clone(),
                cuts: f.cuts.clone(),
            })
            .collect(),
        min_slice_rows: p
            .slices
            .as_ref()
            .map_or(evaluate::DEFAULT_MIN_SLICE_ROWS, |s| s.min_rows),
        threshold_steps: evaluate::DEFAULT_THRESHOLD_STEPS,
        importance_repeats: evaluate::DEFAULT_IMPORTANCE_REPEATS,
        epsilon: p
            .robustness
            .as_ref()
            .map_or(airlock_core::gate::DEFAULT_EPSILON, |r| r.epsilon),
        seed: evaluate::DEFAULT_SEED,
    }
}

/// Whether `r` holds every figure `req` asks for.
fn covers(r: &EvaluationRecord, dataset: &Digest, req: &EvaluateRequest, robust: bool) -> bool {
    r.dataset == *dataset
        && r.threshold.is_none_or(|t| t == req.threshold)
        && req
            .slice_by
            .iter()
            .all(|c| r.slices.iter().any(|s| s.column == *c))
        && req.sensitive.iter().all(|s| {
            r.fairness
                .iter()
                .any(|f| f.attribute == s.column && f.cuts == s.cuts)
        })
        && (!robust
            || [Perturbation::Noise, Perturbation::Fgsm].iter().all(|p| {
                r.robustness
                    .iter()
                    .any(|x| x.perturbation == *p && x.epsilon == req.epsilon)
            }))
}

/// The newest evaluation of `req.model` on its dataset that holds every figure asked for, or
/// a new one (stored, with its audit record).
fn evaluation_for(
    home: &mut Home,
    req: &EvaluateRequest,
    robust: bool,
) -> Result<(Digest, EvaluationRecord)> {
    let (dataset, _, _) = registry::resolve(
        home.store(),
        Table::Datasets,
        "dataset",
        home.site(),
        &req.dataset,
    )?;
    let found = evaluate::list_for(home, &req.model)?
        .into_iter()
        .rev()
        .find(|(_, r)| covers(r, &dataset, req, robust));
    match found {
        Some(f) => Ok(f),
        None => evaluate::run(home, req),
    }
}

/// The model whose figures a baseline compares with, if any.
fn baseline_model(home: &Home, b: &airlock_core::gate::Baseline) -> Result<Option<Digest>> {
    match &b.model {
        Some(prefix) => train::resolve(home, prefix).map(Some),
        None => crate::ops::rollout::deployed(home, &b.slot),
    }
}

/// A check of `value`, judged with the policy's band and rows.
#[allow(clippy::too_many_arguments)]
fn judged(
    section: Section,
    subject: Option<String>,
    b: &Bound,
    value: f64,
    review_band: Option<f64>,
    rows: Option<(usize, usize, SmallSlices)>,
    baseline: Option<BaselineFigure>,
    detail: Option<String>,
) -> Result<Check> {
    if !value.is_finite() {
        return Err(Error::Rejected(format!(
            "{} {}{}: the measured value is not a number",
            section.as_str(),
            b.metric,
            subject.map(|s| format!(" of {s}")).unwrap_or_default()
        )));
    }
    let verdict = match rows {
        Some((n, min, small)) if n < min => match small {
            SmallSlices::Report => Verdict::NotJudged,
            SmallSlices::Fail => Verdict::Fail,
        },
        _ => Verdict::of(b.op, value, b.threshold, review_band),
    };
    Ok(Check {
        section: Some(section),
        subject,
        metric: b.metric.clone(),
        op: b.op,
        threshold: b.threshold,
        value,
        passed: matches!(verdict, Verdict::Pass | Verdict::NotJudged),
        verdict: Some(verdict),
        review_band,
        rows: rows.map(|(n, _, _)| n),
        min_rows: rows.map(|(_, m, _)| m),
        baseline,
        detail,
    })
}

fn not_computed(metric: &str, task: Task) -> Error {
    Error::Rejected(format!(
        "metric {metric} is not computed for {} models",
        task.name()
    ))
}

/// Gates a model on a gate policy. The report is stored whether it passes or not; the
/// evaluations it needs are found or made first (each with its own record).
pub fn gate_with_policy(
    home: &mut Home,
    model: &Digest,
    src: &PolicySource,
) -> Result<(Digest, GateReport)> {
    let p = &src.policy;
    let run = train::load_run(home, model)?;
    // The weights must load and validate against the declared architecture.
    train::load_model(home, &run)?;
    let task = run.spec.task;
    let mut checks = Vec::new();
    let mut notes = Vec::new();

    let evaluation = match &p.evaluation {
        None => None,
        Some(e) => {
            let dataset: NameRef = e.dataset.parse()?;
            let req = request_for(*model, dataset, p);
            Some((evaluation_for(home, &req, p.robustness.is_some())?, req))
        }
    };
    let eval = evaluation.as_ref().map(|((_, r), _)| r);

    for b in &p.metrics {
        let value = match eval {
            Some(r) => r.metrics.get(&b.metric),
            None => run.holdout(&b.metric),
        }
        .ok_or_else(|| not_computed(&b.metric, task))?;
        checks.push(judged(
            Section::Metrics,
            None,
            b,
            value,
            None,
            None,
            None,
            None,
        )?);
    }

    if let (Some(base), Some(((_, cand), req))) = (&p.baseline, &evaluation) {
        match baseline_model(home, base)? {
            None => match base.when_missing {
                WhenMissing::Pass => notes.push(format!(
                    "baseline: no model is deployed to slot {:?}; nothing to compare with (when_missing = \"pass\")",
                    base.slot
                )),
                WhenMissing::Fail => {
                    let why = format!(
                        "the gate policy's baseline is the model deployed to slot {:?}, and none is (when_missing = \"fail\")",
                        base.slot
                    );
                    home.record(AuditEntry::new(
                        "model.gate.refused",
                        &[model.hex()],
                        json!({ "reason": why, "policy": Digest::of(src.text.as_bytes()).hex() }),
                    ))?;
                    return Err(Error::Refused(why));
                }
            },
            Some(base_model) => {
                let mut breq = req.clone();
                breq.model = base_model;
                breq.slice_by.clear();
                breq.sensitive.clear();
                let (_, brec) = evaluation_for(home, &breq, false).map_err(|e| {
                    Error::Rejected(format!(
                        "baseline model {} on {}: {e}",
                        base_model.short(),
                        req.dataset
                    ))
                })?;
                for m in &base.metrics {
                    let value = cand.metrics.get(m).ok_or_else(|| not_computed(m, task))?;
                    let bval = brec.metrics.get(m).ok_or_else(|| {
                        Error::Rejected(format!(
                            "baseline model {}: metric {m} is not computed for it",
                            base_model.short()
                        ))
                    })?;
                    let fig = BaselineFigure {
                        model: base_model,
                        value: bval,
                        margin: base.margin,
                    };
                    let (op, threshold) = fig.bound(m);
                    let bound = Bound {
                        metric: m.clone(),
                        op,
                        threshold,
                    };
                    checks.push(judged(
                        Section::Baseline,
                        Some(format!("model {}", base_model.short())),
                        &bound,
                        value,
                        None,
                        None,
                        Some(fig),
                        Some(format!(
                            "baseline {bval:.4}, margin {}",
                            base.margin
                        )),
                    )?);
                }
            }
        }
    }

    if let (Some(s), Some(r)) = (&p.slices, eval) {
        for col in &s.columns {
            let rep = r.slices.iter().find(|x| x.column == *col).ok_or_else(|| {
                Error::Integrity(format!("evaluation holds no slices by {col:?}"))
            })?;
            for g in &rep.groups {
                for b in &s.bounds {
                    let subject = format!("{col}={}", g.value);
                    match g.metrics.get(&b.metric) {
                        Some(v) if v.is_finite() => checks.push(judged(
                            Section::Slice,
                            Some(subject),
                            b,
                            v,
                            None,
                            Some((g.rows, s.min_rows, s.small)),
                            None,
                            None,
                        )?),
                        _ => notes.push(format!(
                            "slice {subject} ({} rows): {} is undefined on it (one class only?); not judged",
                            g.rows, b.metric
                        )),
                    }
                }
            }
        }
    }

    if let Some(r) = eval {
        for f in &p.fairness {
            let rep = r
                .fairness
                .iter()
                .find(|x| x.attribute == f.attribute && x.cuts == f.cuts)
                .ok_or_else(|| {
                    Error::Integrity(format!("evaluation holds no fairness of {:?}", f.attribute))
                })?;
            for b in &f.bounds {
                let value = rep.fairness.get(&b.metric).ok_or_else(|| {
                    Error::Rejected(format!("unknown fairness figure {:?}", b.metric))
                })?;
                let d = match b.metric.as_str() {
                    "equal_opportunity_difference" => {
                        vec![("true positive rate", &rep.fairness.true_positive)]
                    }
                    "equalized_odds_difference" | "equalized_odds_ratio" => vec![
                        ("true positive rate", &rep.fairness.true_positive),
                        ("false positive rate", &rep.fairness.false_positive),
                    ],
                    _ => vec![("selection rate", &rep.fairness.selection)],
                };
                let detail = d
                    .iter()
                    .map(|(what, x)| {
                        let rate = |g: &Option<String>| {
                            let name = g.clone().unwrap_or_else(|| "-".into());
                            let v = rep
                                .fairness
                                .groups
                                .iter()
                                .find(|r| Some(&r.group) == g.as_ref())
                                .and_then(|r| match *what {
                                    "true positive rate" => r.true_positive_rate,
                                    "false positive rate" => r.false_positive_rate,
                                    _ => Some(r.selection_rate),
                                });
                            match v {
                                Some(v) => format!("{name} {v:.4}"),
                                None => name,
                            }
                        };
                        format!(
                            "{what}: lowest {}, highest {}",
                            rate(&x.lowest),
                            rate(&x.highest)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                let band = (f.review_band > 0.0).then_some(f.review_band);
                checks.push(judged(
                    Section::Fairness,
                    Some(f.attribute.clone()),
                    b,
                    value,
                    band,
                    None,
                    None,
                    Some(detail),
                )?);
            }
        }
        if let Some(rob) = &p.robustness {
            for b in &rob.bounds {
                let want = if b.metric == "noise_accuracy" {
                    Perturbation::Noise
                } else {
                    Perturbation::Fgsm
                };
                let x = r
                    .robustness
                    .iter()
                    .find(|x| x.perturbation == want && x.epsilon == rob.epsilon)
                    .ok_or_else(|| {
                        Error::Rejected(format!(
                            "robustness is measured for classification models only; this one is {}",
                            task.name()
                        ))
                    })?;
                checks.push(judged(
                    Section::Robustness,
                    Some(format!("epsilon {}", rob.epsilon)),
                    b,
                    x.perturbed,
                    None,
                    Some((x.rows, 1, SmallSlices::Fail)),
                    None,
                    Some(format!("clean accuracy {:.4}", x.clean)),
                )?);
            }
        }
    }

    if !p.behaviour.is_empty() {
        let scorer = Scorer::for_model(home, model)?;
        for b in &p.behaviour {
            let text = src
                .files
                .iter()
                .find(|(n, _)| *n == b.cases)
                .map(|(_, t)| t.as_str())
                .ok_or_else(|| Error::Rejected(format!("case file {:?} was not read", b.cases)))?;
            checks.push(behaviour::behaviour(&scorer, b, text)?);
        }
    }

    let site = home.site().clone();
    let failed = checks.iter().any(|c| c.outcome() == Verdict::Fail);
    let review = checks.iter().any(|c| c.outcome() == Verdict::Review);
    let report = GateReport {
        ty: GATE_TYPE.into(),
        site,
        model: *model,
        policy: Some(AppliedPolicy::new(src.text.clone(), src.files.clone())),
        evaluation: evaluation.as_ref().map(|((id, _), _)| *id),
        passed: checks.iter().all(|c| c.passed),
        needs_review: !failed && review,
        checks,
        notes,
        created_at: home.now(),
    };
    // What is stored must pass the checks every reader applies.
    report.check(&METRIC_NAMES)?;
    let tx = home.begin()?;
    let id = registry::put_record(&tx, &report)?;
    let mut inputs = vec![("run", *model)];
    if let Some(e) = report.evaluation {
        inputs.push(("evaluation", e));
    }
    crate::ops::provenance::record(&tx, "airlock gate", None, &[(Kind::Gate, id)], &inputs)?;
    insert_gate_row(&tx, &id, &report)?;
    tx.commit(AuditEntry::new(
        "model.gate",
        &[id.hex(), model.hex()],
        json!({ "passed": report.passed, "needs_review": report.needs_review,
                "policy": report.policy.as_ref().map(|p| p.digest.hex()),
                "evaluation": report.evaluation.map(|e| e.hex()),
                "checks": report.checks.len(),
                "failed": report.checks.iter().filter(|c| c.outcome() == Verdict::Fail).count() }),
    ))?;
    Ok((id, report))
}
