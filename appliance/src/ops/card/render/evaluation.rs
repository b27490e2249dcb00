//! The Evaluation section: each evaluation record's metrics, confusion, importance, slices,
//! fairness per attribute and robustness, as the record holds them.

use std::borrow::Cow;

use super::{Doc, md, num, opt};
use crate::ops::card::limits::{FOUR_FIFTHS, perturbation_name};
use crate::ops::card::{Card, Evaluated, figures};

pub(super) fn evaluations(d: &mut Doc, card: &Card) {
    d.heading(2, "Evaluation");
    if card.evaluations.is_empty() {
        d.line(
            "None: no evaluation record of this model is held here (`airlock evaluate MODEL \
             --dataset NAME@VERSION` makes one).",
        );
        return;
    }
    for e in &card.evaluations {
        evaluation(d, card, e);
    }
}

fn evaluation(d: &mut Doc, card: &Card, e: &Evaluated) {
    let r = &e.record;
    d.heading(
        3,
        format!(
            "Evaluation `{}` on {} by site {}",
            e.id.short(),
            md(&r.dataset_ref),
            md(r.site.as_str())
        ),
    );
    d.line(format!(
        "Made at {} on {} rows: dataset record `{}`, raw snapshot `{}`, seed {}.",
        r.created_at,
        r.rows,
        r.dataset.short(),
        r.snapshot.short(),
        r.seed
    ));
    if e.on_training_data {
        d.blank();
        d.line(
            "**On the training data:** this is the snapshot the model was trained on, so its \
             figures include rows the model learned from.",
        );
    }
    d.blank();
    let rows: Vec<Vec<String>> = figures(&r.metrics)
        .into_iter()
        .map(|(n, v)| vec![n.into(), num(v)])
        .collect();
    d.table(&["Metric", "Value"], &rows);
    if let (Some(t), Some(c)) = (r.threshold, &r.confusion) {
        let (neg, pos) = match card.run.classes.as_slice() {
            [n, p] => (md(n).into_owned(), md(p).into_owned()),
            _ => ("negative".into(), "positive".into()),
        };
        d.heading(4, format!("Confusion at threshold {t}"));
        d.table(
            &["Actual", "Predicted positive", "Predicted negative"],
            &[
                vec![
                    pos,
                    c.true_positive.to_string(),
                    c.false_negative.to_string(),
                ],
                vec![
                    neg,
                    c.false_positive.to_string(),
                    c.true_negative.to_string(),
                ],
            ],
        );
    }
    if !r.class_confusion.is_empty() {
        d.heading(4, "Confusion (rows: actual class, columns: predicted)");
        let names: Vec<String> = (0..r.class_confusion.len())
            .map(|i| {
                card.run
                    .classes
                    .get(i)
                    .map_or_else(|| i.to_string(), |c| md(c).into_owned())
            })
            .collect();
        let mut head = vec!["Actual"];
        head.extend(names.iter().map(String::as_str));
        let rows: Vec<Vec<String>> = r
            .class_confusion
            .iter()
            .zip(&names)
            .map(|(row, name)| {
                let mut cells = vec![name.clone()];
                cells.extend(row.iter().map(usize::to_string));
                cells
            })
            .collect();
        d.table(&head, &rows);
    }
    if !r.importance.is_empty() {
        d.heading(
            4,
            format!(
                "Permutation importance ({}, top 10)",
                md(&r.importance_metric)
            ),
        );
        let mut imp: Vec<_> = r.importance.iter().collect();
        imp.sort_by(|a, b| b.mean.total_cmp(&a.mean));
        let rows: Vec<Vec<String>> = imp
            .iter()
            .take(10)
            .map(|i| {
                vec![
                    md(&i.feature).into_owned(),
                    format!("{:+.4} ± {:.4}", i.mean, i.std),
                ]
            })
            .collect();
        d.table(&["Feature", "Fall when shuffled"], &rows);
    }
    for s in &r.slices {
        d.heading(4, format!("Slices by {}", md(&s.column)));
        let rows: Vec<Vec<String>> = s
            .groups
            .iter()
            .map(|g| {
                vec![
                    md(&g.value).into_owned(),
                    g.rows.to_string(),
                    opt(g.metrics.accuracy),
                    g.accuracy_interval.map_or_else(
                        || "-".into(),
                        |[lo, hi]| format!("{} to {}", num(lo), num(hi)),
                    ),
                    opt(g.metrics.roc_auc),
                    opt(g.metrics.rmse),
                    if g.small {
                        format!(
                            "**yes**: under {} rows, not to be trusted",
                            r.min_slice_rows
                        )
                    } else {
                        "no".into()
                    },
                ]
            })
            .collect();
        d.table(
            &[
                "Value",
                "Rows",
                "Accuracy",
                "Accuracy 95% interval",
                "ROC AUC",
                "RMSE",
                "Too small",
            ],
            &rows,
        );
    }
    for f in &r.fairness {
        let bands = if f.cuts.is_empty() {
            String::new()
        } else {
            let cuts: Vec<String> = f.cuts.iter().map(f64::to_string).collect();
            format!(" (banded at {})", cuts.join(", "))
        };
        d.heading(4, format!("Fairness by {}{bands}", md(&f.attribute)));
        let fr = &f.fairness;
        let rows: Vec<Vec<String>> = fr
            .groups
            .iter()
            .map(|g| {
                vec![
                    md(&g.group).into_owned(),
                    g.rows.to_string(),
                    num(g.selection_rate),
                    opt(g.true_positive_rate),
                    opt(g.false_positive_rate),
                ]
            })
            .collect();
        d.table(
            &[
                "Group",
                "Rows",
                "Selection rate",
                "True positive rate",
                "False positive rate",
            ],
            &rows,
        );
        d.blank();
        let ratio = fr.disparate_impact_ratio();
        d.line(format!(
            "- Disparate impact ratio {} (lowest selection rate {}, highest {}){}",
            num(ratio),
            fr.selection
                .lowest
                .as_deref()
                .map_or(Cow::Borrowed("-"), md),
            fr.selection
                .highest
                .as_deref()
                .map_or(Cow::Borrowed("-"), md),
            if ratio < FOUR_FIFTHS {
                format!(": **under the four-fifths rule** ({FOUR_FIFTHS})")
            } else {
                String::new()
            }
        ));
        d.line(format!(
            "- Demographic parity difference {}",
            num(fr.demographic_parity_difference())
        ));
        d.line(format!(
            "- Equalized odds difference {}",
            num(fr.equalized_odds_difference())
        ));
        d.line(format!(
            "- Equal opportunity difference {}",
            num(fr.equal_opportunity_difference())
        ));
    }
    if !r.robustness.is_empty() {
        d.heading(4, "Robustness");
        let rows: Vec<Vec<String>> = r
            .robustness
            .iter()
            .map(|rb| {
                vec![
                    perturbation_name(&rb.perturbation),
                    rb.epsilon.to_string(),
                    num(rb.clean),
                    num(rb.perturbed),
                    format!("{:+.4}", rb.perturbed - rb.clean),
                ]
            })
            .collect();
        d.table(
            &[
                "Perturbation",
                "Bound (standardized units)",
                "Accuracy",
                "Accuracy perturbed",
                "Change",
            ],
            &rows,
        );
    }
}
