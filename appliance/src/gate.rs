//! `airlock gate`: a model judged against a gate policy, as one signed gate report.
//!
//! A policy (`GATE.toml`, parsed by [`airlock_core::gate`]; `--require` is a shorthand for its
//! `[metrics]` section on the run's held-out split) names what the model must show: metrics on
//! a dataset it never saw, no worse than the model in production (or a pinned one) by more
//! than a margin, per-slice minimums, fairness per declared sensitive attribute, behaviour
//! cases, and accuracy under bounded perturbations. The figures come from one evaluation
//! record ([`crate::evaluate`]), found or made here; the baseline's from an evaluation of the
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

use rusqlite::params;
use serde_json::json;

use airlock_core::contract::Value;
use airlock_core::gate::{
    AppliedPolicy, BehaviourRule, Bound, CaseKind, Direction, GatePolicy, MAX_CASES_BYTES,
    MAX_POLICY_BYTES, SmallSlices, WhenMissing, require_policy_text,
};
use airlock_core::lifecycle::{BaselineFigure, Section, Verdict};
use airlock_runtime::{METRIC_NAMES, Perturbation, Task};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::evaluate::{self, EvaluateRequest, EvaluationRecord, Sensitive};
use crate::home::Home;
use crate::lifecycle::{self, Check, GATE_TYPE, GateReport, Op, Scorer};
use crate::models::{self, RunRecord};
use crate::policy;
use crate::registry::{self, Kind, NameRef};
use crate::store::AuditEntry;
use crate::vault::Vault;

/// Behaviour failures listed in a check's detail before the rest are only counted.
const LISTED_FAILURES: usize = 5;

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
    let (dataset, _, _) =
        registry::resolve(&home.conn, "datasets", "dataset", home.site(), &req.dataset)?;
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
        Some(prefix) => models::resolve(home, prefix).map(Some),
        None => lifecycle::deployed(home, &b.slot),
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
    let run = models::load_run(home, model)?;
    // The weights must load and validate against the declared architecture.
    models::load_model(home, &run)?;
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
            checks.push(behaviour(&scorer, b, text)?);
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
    crate::provenance::record(&tx, "airlock gate", None, &[(Kind::Gate, id)], &inputs)?;
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

/// One behaviour case: where it is (line or row), its typed row, and its expected class.
struct Case {
    at: String,
    row: Vec<Value>,
    expected: Option<String>,
}

/// Parses a case file: JSON lines (one request object a line, as `airlock predict` takes), or
/// CSV with a header of contract column names. The expected class is taken out of each case.
fn cases(scorer: &Scorer, b: &BehaviourRule, text: &str) -> Result<Vec<Case>> {
    let contract = scorer.contract();
    let label = scorer.label();
    let what = |at: &str, m: String| Error::Rejected(format!("case file {:?} {at}: {m}", b.cases));
    let mut out = Vec::new();
    if b.cases.ends_with(".csv") {
        let mut rdr = csv::ReaderBuilder::new().from_reader(text.as_bytes());
        let header: Vec<String> = rdr
            .headers()
            .map_err(|e| what("header", e.to_string()))?
            .iter()
            .map(str::to_owned)
            .collect();
        let mut idx = Vec::new();
        for h in &header {
            if *h == b.expected_column {
                idx.push(None);
            } else {
                let i = contract.index_of(h).ok_or_else(|| {
                    what(
                        "header",
                        format!(
                            "column {:?} is not in contract {} v{}",
                            crate::text::Untrusted(h),
                            contract.name,
                            contract.version
                        ),
                    )
                })?;
                idx.push(Some(i));
            }
        }
        for (n, rec) in rdr.records().enumerate() {
            let at = format!("row {}", n + 1);
            let rec = rec.map_err(|e| what(&at, e.to_string()))?;
            let mut row = vec![Value::Null; contract.columns.len()];
            let mut expected = None;
            for (cell, i) in rec.iter().zip(&idx) {
                match i {
                    None => expected = Some(cell.to_string()),
                    Some(i) if contract.columns[*i].name == label => {}
                    Some(i) => {
                        row[*i] = contract.parse_cell(*i, cell).map_err(|e| {
                            what(
                                &at,
                                format!(
                                    "column {:?}: {}",
                                    contract.columns[*i].name,
                                    crate::text::Untrusted(&format!("{e:?}"))
                                ),
                            )
                        })?;
                    }
                }
            }
            out.push(Case { at, row, expected });
        }
    } else {
        for (n, line) in text.lines().enumerate() {
            let at = format!("line {}", n + 1);
            if line.trim().is_empty() {
                continue;
            }
            let mut obj: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(line).map_err(|e| what(&at, e.to_string()))?;
            let expected = match obj.remove(&b.expected_column) {
                None => None,
                Some(serde_json::Value::String(s)) => Some(s),
                Some(other) => Some(other.to_string()),
            };
            let row = airlock_core::features::request_row(contract, label, &obj)
                .map_err(|p| what(&at, p.join("").trim_start_matches([':', ',', ' ']).into()))?;
            out.push(Case { at, row, expected });
        }
    }
    if out.is_empty() {
        return Err(what("", "holds no cases".into()));
    }
    Ok(out)
}

/// The score a case is judged by: the positive class's probability (binary), the value
/// (regression), or the probability of `class` (multiclass).
fn score_of(a: &lifecycle::Answer, class: Option<&str>) -> Option<f64> {
    if let Some(v) = a.value {
        return Some(f64::from(v));
    }
    match (&a.probabilities, class) {
        (Some(ps), Some(c)) => ps.get(c).map(|p| f64::from(*p)),
        _ => a.probability.map(f64::from),
    }
}

/// `x <= epsilon`, false for a NaN (a score that is not a number never behaves).
fn within(x: f64, epsilon: f64) -> bool {
    x <= epsilon
}

/// Runs one behaviour case file through the model: the share of cases that behave.
fn behaviour(scorer: &Scorer, b: &BehaviourRule, text: &str) -> Result<Check> {
    let cases = cases(scorer, b, text)?;
    let contract = scorer.contract();
    let multiclass = matches!(scorer.run.spec.task, Task::Multiclass { .. });
    let col = match &b.column {
        Some(c) => Some(contract.index_of(c).ok_or_else(|| {
            Error::Rejected(format!(
                "[[behaviour]] {:?}: column {c:?} is not in contract {} v{}",
                b.cases, contract.name, contract.version
            ))
        })?),
        None => None,
    };
    if b.kind == CaseKind::Directional && multiclass {
        return Err(Error::Rejected(format!(
            "[[behaviour]] {:?}: directional cases need a binary or regression model",
            b.cases
        )));
    }
    let score = |row: &[Value]| -> Result<lifecycle::Answer> {
        let mut x = Vec::new();
        scorer.row_features(row, &mut x);
        Ok(scorer.score(x, 1)?.remove(0))
    };
    let mut failures = Vec::new();
    for c in &cases {
        let base = score(&c.row)?;
        let why: Option<String> = match b.kind {
            CaseKind::Minimum => {
                let want = c.expected.as_deref().ok_or_else(|| {
                    Error::Rejected(format!(
                        "case file {:?} {}: no expected class (field {:?})",
                        b.cases, c.at, b.expected_column
                    ))
                })?;
                let got = base.class.as_deref().unwrap_or("-");
                (got != want).then(|| format!("{}: expected {want:?}, got {got:?}", c.at))
            }
            CaseKind::Invariance => {
                let i = col.unwrap_or(0);
                let s0 = score_of(&base, base.class.as_deref()).unwrap_or(f64::NAN);
                let mut worst: Option<String> = None;
                for v in &b.values {
                    let mut row = c.row.clone();
                    row[i] = contract.parse_cell(i, v).map_err(|e| {
                        Error::Rejected(format!(
                            "[[behaviour]] {:?}: value {v:?} of column {:?}: {e:?}",
                            b.cases, contract.columns[i].name
                        ))
                    })?;
                    let s = score_of(&score(&row)?, base.class.as_deref()).unwrap_or(f64::NAN);
                    if !within((s - s0).abs(), b.epsilon) {
                        worst = Some(format!(
                            "{}: {}={v} moves the score from {s0:.4} to {s:.4}",
                            c.at, contract.columns[i].name
                        ));
                        break;
                    }
                }
                worst
            }
            CaseKind::Directional => {
                let i = col.unwrap_or(0);
                let delta = b.delta.unwrap_or(0.0);
                let mut row = c.row.clone();
                row[i] = match &row[i] {
                    Value::Int(v) if delta.fract() == 0.0 => Value::Int(v + delta as i64),
                    Value::Int(v) => Value::Float(*v as f64 + delta),
                    Value::Float(v) => Value::Float(v + delta),
                    _ => {
                        return Err(Error::Rejected(format!(
                            "case file {:?} {}: column {:?} has no number to move",
                            b.cases, c.at, contract.columns[i].name
                        )));
                    }
                };
                let row = match contract.check_value(i, row[i].clone()) {
                    Ok(v) => {
                        row[i] = v;
                        row
                    }
                    Err(e) => {
                        return Err(Error::Rejected(format!(
                            "case file {:?} {}: column {:?} moved by {delta} breaks the contract: {e:?}",
                            b.cases, c.at, contract.columns[i].name
                        )));
                    }
                };
                let s0 = score_of(&base, None).unwrap_or(f64::NAN);
                let s = score_of(&score(&row)?, None).unwrap_or(f64::NAN);
                let wrong = match b.direction {
                    Direction::Increase => s0 - s,
                    Direction::Decrease => s - s0,
                };
                (!within(wrong, b.epsilon)).then(|| {
                    format!(
                        "{}: {} {delta:+} moves the score from {s0:.4} to {s:.4}",
                        c.at, contract.columns[i].name
                    )
                })
            }
        };
        if let Some(w) = why {
            failures.push(w);
        }
    }
    let total = cases.len();
    let behaved = total - failures.len();
    let detail = if failures.is_empty() {
        format!("{behaved} of {total} cases behaved")
    } else {
        let more = failures.len().saturating_sub(LISTED_FAILURES);
        let mut d = format!(
            "{behaved} of {total} cases behaved; {}",
            failures
                .iter()
                .take(LISTED_FAILURES)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        );
        if more > 0 {
            d.push_str(&format!("; and {more} more"));
        }
        d
    };
    judged(
        Section::Behaviour,
        Some(format!("{} ({})", b.name, b.kind.as_str())),
        &Bound {
            metric: airlock_core::gate::PASS_RATE.into(),
            op: Op::AtLeast,
            threshold: b.min_pass_rate,
        },
        behaved as f64 / total as f64,
        None,
        Some((total, 1, SmallSlices::Fail)),
        None,
        Some(detail),
    )
}

/// Every check's value must be the model's: its held-out metric as its run record gives it,
/// or, for a report that names an evaluation, the figure that evaluation record holds (the
/// record must be held here: it travels with the model). A report about other numbers is not
/// about this model. Returns why not.
fn measured_on(
    home: &Home,
    report: &GateReport,
    run: &RunRecord,
) -> Result<std::result::Result<(), String>> {
    let eval = match report.evaluation {
        None => None,
        Some(e) => {
            if registry::held_as(&home.conn, &e, Kind::Evaluation)?.is_none() {
                return Ok(Err(format!(
                    "the evaluation {} it was measured on is not held here",
                    e.short()
                )));
            }
            let r: EvaluationRecord = registry::load(&home.conn, home.vault(), &e)?;
            if r.model != report.model {
                return Ok(Err(format!(
                    "its evaluation {} is of another model",
                    e.short()
                )));
            }
            Some(r)
        }
    };
    for c in &report.checks {
        let section = c.section.unwrap_or(Section::Metrics);
        let subject = c.subject.as_deref().unwrap_or("");
        let held: Option<f64> = match (section, &eval) {
            (Section::Behaviour, _) => continue,
            (Section::Metrics | Section::Baseline, None) => run.holdout(&c.metric),
            (Section::Metrics | Section::Baseline, Some(r)) => r.metrics.get(&c.metric),
            (Section::Slice, Some(r)) => subject.split_once('=').and_then(|(col, val)| {
                r.slices
                    .iter()
                    .find(|s| s.column == col)
                    .and_then(|s| s.groups.iter().find(|g| g.value == val))
                    .filter(|g| Some(g.rows) == c.rows)
                    .and_then(|g| g.metrics.get(&c.metric))
            }),
            (Section::Fairness, Some(r)) => r
                .fairness
                .iter()
                .find(|f| f.attribute == subject)
                .and_then(|f| f.fairness.get(&c.metric)),
            (Section::Robustness, Some(r)) => r
                .robustness
                .iter()
                .find(|x| {
                    x.perturbation
                        == if c.metric == "noise_accuracy" {
                            Perturbation::Noise
                        } else {
                            Perturbation::Fgsm
                        }
                        && subject == format!("epsilon {}", x.epsilon)
                })
                .map(|x| x.perturbed),
            (_, None) => {
                return Ok(Err(format!(
                    "its {} check names no evaluation to be measured on",
                    section.as_str()
                )));
            }
        };
        match held {
            Some(v) if v == c.value => {}
            Some(v) => {
                return Ok(Err(format!(
                    "it gives {} {} = {} where the {} says {v}",
                    section.as_str(),
                    c.metric,
                    c.value,
                    if eval.is_some() {
                        "evaluation record"
                    } else {
                        "model's run record"
                    }
                )));
            }
            None => {
                return Ok(Err(format!(
                    "it checks {} {}{}, which the {} does not hold",
                    section.as_str(),
                    c.metric,
                    if subject.is_empty() {
                        String::new()
                    } else {
                        format!(" of {subject}")
                    },
                    if eval.is_some() {
                        "evaluation record"
                    } else {
                        "model's run record"
                    }
                )));
            }
        }
    }
    Ok(Ok(()))
}

/// Indexes a gate report (also used at bundle import).
pub fn insert_gate_row(tx: &rusqlite::Transaction<'_>, id: &Digest, r: &GateReport) -> Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO gates (id, model, site, passed, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id.hex(), r.model.hex(), r.site.as_str(), r.passed, r.created_at.to_string()],
    )?;
    Ok(())
}

/// Loads a stored gate report: its signatures verified
/// ([`registry::load_record`]) and its content checked
/// ([`GateReport::check`]).
pub fn load_gate(conn: &rusqlite::Connection, vault: &Vault, id: &Digest) -> Result<GateReport> {
    let report: GateReport = registry::load(conn, vault, id)?;
    report
        .check(&METRIC_NAMES)
        .map_err(|e| Error::Integrity(format!("gate report {}: {e}", id.short())))?;
    Ok(report)
}

/// Every gate report of a model held here, oldest first, each verified and checked.
pub fn list_for(home: &Home, model: &Digest) -> Result<Vec<(Digest, GateReport)>> {
    let ids = registry::digests(
        &home.conn,
        "SELECT id FROM gates WHERE model = ?1 ORDER BY created_at, rowid",
        &model.hex(),
    )?;
    ids.into_iter()
        .map(|id| Ok((id, load_gate(&home.conn, home.vault(), &id)?)))
        .collect()
}

/// The gate report that counts for a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    /// The report.
    pub id: Digest,
    /// No check failed, but some need a named review before deployment.
    pub needs_review: bool,
}

/// The checks of `report` that need review, for people.
pub fn review_items(report: &GateReport) -> Vec<String> {
    report
        .checks
        .iter()
        .filter(|c| c.outcome() == Verdict::Review)
        .map(|c| {
            format!(
                "{} {}{} = {:.4} (threshold {} {}, review band {})",
                c.section.map_or("metrics", |s| s.as_str()),
                c.metric,
                c.subject
                    .as_ref()
                    .map(|s| format!(" of {s}"))
                    .unwrap_or_default(),
                c.value,
                c.op.as_str(),
                c.threshold,
                c.review_band.unwrap_or(0.0)
            )
        })
        .collect()
}

/// The gate report that lets `model` (run record `run`) be approved, or
/// deployed to `slot`, or why none does.
///
/// This site's newest gate verdict for the model decides whenever there is
/// one: a peer's report never overrides it. Without one, the newest report
/// of each peer whose reports count is considered, and the newest of those
/// that passed (or need only review) is used: in setup mode every trusted
/// peer's count; under a trust policy only those of the sites its `gates`
/// lists for the slot (for an approval, which names no slot, for any slot).
/// A report whose numbers are not the model's never counts.
pub fn counted_gate(
    home: &Home,
    model: &Digest,
    run: &RunRecord,
    slot: Option<&str>,
    current: Option<&policy::InForce>,
) -> Result<std::result::Result<Counted, String>> {
    let mut stmt = home.conn.prepare(
        "SELECT id, site FROM gates WHERE model = ?1 ORDER BY created_at DESC, rowid DESC",
    )?;
    let rows: Vec<(String, String)> = stmt
        .query_map([model.hex()], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    // The newest report of each site, newest first.
    let mut seen = std::collections::BTreeSet::new();
    let newest: Vec<(Digest, String)> = rows
        .into_iter()
        .filter(|(_, site)| seen.insert(site.clone()))
        .map(|(id, site)| {
            id.parse()
                .map(|id| (id, site))
                .map_err(|e| Error::Integrity(format!("gates: {e}")))
        })
        .collect::<Result<_>>()?;
    let load = |id: &Digest, site: &str| -> Result<GateReport> {
        let report = load_gate(&home.conn, home.vault(), id)?;
        if report.model != *model || report.site.as_str() != site {
            return Err(Error::Integrity(format!(
                "gate report {} does not match its index row",
                id.short()
            )));
        }
        Ok(report)
    };
    let counts = |id: &Digest, r: &GateReport| Counted {
        id: *id,
        needs_review: r.needs_review,
    };
    let own = home.site().as_str();
    if let Some((id, site)) = newest.iter().find(|(_, site)| site == own) {
        let report = load(id, site)?;
        if let Err(why) = measured_on(home, &report, run)? {
            return Err(Error::Integrity(format!(
                "this site's gate report {} of model {}: {why}; the store was altered",
                id.short(),
                model.short()
            )));
        }
        return Ok(if report.passed || report.needs_review {
            Ok(counts(id, &report))
        } else {
            Err(format!(
                "this site's newest gate report for it ({}, {}) failed, and a peer's gate report does not override it",
                id.short(),
                report.created_at
            ))
        });
    }
    let mut why = vec!["this site has not gated it".to_string()];
    for (id, site) in &newest {
        if let Some(p) = current {
            let b = p.body();
            let counts = match slot {
                Some(slot) => b.gate_sites(slot).iter().any(|s| s.as_str() == site),
                None => b.gates.values().flatten().any(|s| s.as_str() == site),
            };
            if !counts {
                why.push(match slot {
                    Some(slot) => format!(
                        "gate reports of site {site} do not count for slot {slot:?} (trust policy v{} `gates`)",
                        p.version()
                    ),
                    None => format!(
                        "gate reports of site {site} count for no slot (trust policy v{} `gates`)",
                        p.version()
                    ),
                });
                continue;
            }
        }
        let report = load(id, site)?;
        if let Err(e) = measured_on(home, &report, run)? {
            why.push(format!(
                "site {site}'s gate report {} does not count: {e}",
                id.short()
            ));
        } else if report.passed || report.needs_review {
            return Ok(Ok(counts(id, &report)));
        } else {
            why.push(format!(
                "site {site}'s newest gate report ({}) failed",
                id.short()
            ));
        }
    }
    Ok(Err(why.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::APPROVAL_TYPE;
    use crate::time::{Now, Timestamp};

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
}
