//! Behaviour cases (CheckList's three kinds) run through the model itself.

use airlock_core::contract::Value;
use airlock_core::gate::{BehaviourRule, Bound, CaseKind, Direction, SmallSlices};
use airlock_core::lifecycle::Section;
use airlock_runtime::Task;

use crate::error::{Error, Result};
use crate::lifecycle::Check;
use crate::lifecycle::Op;
use crate::ops::score::Scorer;

use super::judged;

/// Behaviour failures listed in a check's detail before the rest are only counted.
const LISTED_FAILURES: usize = 5;
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
fn score_of(a: &crate::ops::score::Answer, class: Option<&str>) -> Option<f64> {
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
pub(super) fn behaviour(scorer: &Scorer, b: &BehaviourRule, text: &str) -> Result<Check> {
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
    let score = |row: &[Value]| -> Result<crate::ops::score::Answer> {
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
