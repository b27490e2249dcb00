//! The known limits a model's records show on their own, without the operator's word: the
//! figures that are not to be trusted (slices and groups under the evaluation's minimum
//! size), the fairness figures under the four-fifths rule, the robustness drops, and the
//! evaluations that were never made (on data the model did not train on, of group fairness).
//! Each finding names the record and the figure it comes from; none is computed anew.

use serde::Serialize;

use airlock_runtime::{Perturbation, Task};

use super::Card;
use crate::digest::Digest;
use crate::ops::evaluate::DEFAULT_MIN_SLICE_ROWS;

/// The four-fifths rule (US EEOC Uniform Guidelines, 29 CFR 1607.4(D)): a group's selection
/// rate under four fifths of the highest group's is evidence of adverse impact.
pub const FOUR_FIFTHS: f64 = 0.8;

/// Accuracy falling by more than this (absolute) under a bounded perturbation is reported.
pub const ROBUSTNESS_DROP: f64 = 0.05;

/// One limit the records show.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Limit {
    /// No evaluation record of the model is held here.
    NotEvaluated,
    /// Every evaluation held was made on the snapshot the model was trained on, so no figure
    /// comes from data it did not train on (beyond its own held-out split).
    NotEvaluatedOnUnseenData {
        /// Evaluations held, all on the training data.
        evaluations: usize,
    },
    /// A slice under its evaluation's minimum size: its figures are not to be trusted.
    SmallSlice {
        /// The evaluation.
        evaluation: Digest,
        /// The column sliced on.
        column: String,
        /// The slice's value.
        value: String,
        /// Its rows.
        rows: usize,
        /// The evaluation's minimum.
        min_rows: usize,
    },
    /// A held-out slice of the run record under [`DEFAULT_MIN_SLICE_ROWS`] rows.
    SmallHoldoutSlice {
        /// The column sliced on.
        column: String,
        /// The slice's value.
        value: String,
        /// Its rows.
        rows: usize,
        /// The minimum applied.
        min_rows: usize,
    },
    /// A group of a sensitive attribute under its evaluation's minimum size.
    SmallGroup {
        /// The evaluation.
        evaluation: Digest,
        /// The attribute.
        attribute: String,
        /// The group.
        group: String,
        /// Its rows.
        rows: usize,
        /// The evaluation's minimum.
        min_rows: usize,
    },
    /// A disparate impact ratio under [`FOUR_FIFTHS`].
    FourFifths {
        /// The evaluation.
        evaluation: Digest,
        /// The attribute.
        attribute: String,
        /// The ratio of the lowest selection rate to the highest.
        ratio: f64,
        /// The group with the lowest selection rate.
        lowest: Option<String>,
        /// The group with the highest.
        highest: Option<String>,
    },
    /// A binary model none of whose evaluations measured group fairness.
    NoFairness,
    /// Accuracy falls by more than [`ROBUSTNESS_DROP`] under a perturbation.
    RobustnessDrop {
        /// The evaluation.
        evaluation: Digest,
        /// The perturbation (`noise`, `FGSM`, `PGD, N steps`).
        perturbation: String,
        /// Its bound, in standardized units.
        epsilon: f64,
        /// Accuracy on the rows as they are.
        clean: f64,
        /// Accuracy under the perturbation.
        perturbed: f64,
    },
}

/// How a card names a perturbation.
pub(super) fn perturbation_name(p: &Perturbation) -> String {
    match p {
        Perturbation::Noise => "noise".into(),
        Perturbation::Fgsm => "FGSM".into(),
        Perturbation::Pgd { steps } => format!("PGD, {steps} steps"),
    }
}

/// The limits `card`'s records show, in the order of the records.
pub fn limits(card: &Card) -> Vec<Limit> {
    let mut out = Vec::new();
    if card.evaluations.is_empty() {
        out.push(Limit::NotEvaluated);
    } else if card.evaluations.iter().all(|e| e.on_training_data) {
        out.push(Limit::NotEvaluatedOnUnseenData {
            evaluations: card.evaluations.len(),
        });
    }
    if let Some(column) = &card.run.slice_column {
        for (value, m) in &card.run.metrics.holdout_slices {
            if m.rows < DEFAULT_MIN_SLICE_ROWS {
                out.push(Limit::SmallHoldoutSlice {
                    column: column.clone(),
                    value: value.clone(),
                    rows: m.rows,
                    min_rows: DEFAULT_MIN_SLICE_ROWS,
                });
            }
        }
    }
    for e in &card.evaluations {
        let r = &e.record;
        for s in &r.slices {
            for g in s.groups.iter().filter(|g| g.small) {
                out.push(Limit::SmallSlice {
                    evaluation: e.id,
                    column: s.column.clone(),
                    value: g.value.clone(),
                    rows: g.rows,
                    min_rows: r.min_slice_rows,
                });
            }
        }
        for f in &r.fairness {
            for g in f.fairness.groups.iter() {
                if g.rows < r.min_slice_rows {
                    out.push(Limit::SmallGroup {
                        evaluation: e.id,
                        attribute: f.attribute.clone(),
                        group: g.group.clone(),
                        rows: g.rows,
                        min_rows: r.min_slice_rows,
                    });
                }
            }
            let ratio = f.fairness.disparate_impact_ratio();
            if ratio < FOUR_FIFTHS {
                out.push(Limit::FourFifths {
                    evaluation: e.id,
                    attribute: f.attribute.clone(),
                    ratio,
                    lowest: f.fairness.selection.lowest.clone(),
                    highest: f.fairness.selection.highest.clone(),
                });
            }
        }
        for rb in &r.robustness {
            if rb.clean - rb.perturbed > ROBUSTNESS_DROP {
                out.push(Limit::RobustnessDrop {
                    evaluation: e.id,
                    perturbation: perturbation_name(&rb.perturbation),
                    epsilon: rb.epsilon,
                    clean: rb.clean,
                    perturbed: rb.perturbed,
                });
            }
        }
    }
    if card.run.spec.task == Task::Binary
        && !card.evaluations.is_empty()
        && card
            .evaluations
            .iter()
            .all(|e| e.record.fairness.is_empty())
    {
        out.push(Limit::NoFairness);
    }
    out
}
