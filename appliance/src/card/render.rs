//! The card as Markdown (CommonMark with GitHub's tables).
//!
//! Every piece of text that comes from a record (names, notes, values, a peer's description)
//! goes through [`md`], the core's [`crate::text::markdown`]: escaped for Markdown and for
//! the terminal. Such text is only ever placed after this program's own words on a line or
//! inside a table cell, never at a line's start. Digests, numbers, times and this program's
//! words are written as they are. A policy's text, the one multi-line block, is an indented
//! code block whose every line is escaped for the terminal ([`code_block`]).

use std::borrow::Cow;

use airlock_runtime::Task;

use super::limits::{FOUR_FIFTHS, Limit, ROBUSTNESS_DROP, perturbation_name};
use super::{Card, Evaluated, GateView, figures};
use crate::evaluate::DEFAULT_MIN_SLICE_ROWS;
use crate::text;

/// Text from a record, escaped for a Markdown line or table cell.
fn md(s: &str) -> Cow<'_, str> {
    text::markdown(s)
}

/// A figure with four decimals.
fn num(v: f64) -> String {
    format!("{v:.4}")
}

/// An optional figure; `-` where the record holds none.
fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), num)
}

/// A Markdown document being written.
struct Doc(String);

impl Doc {
    fn line(&mut self, s: impl AsRef<str>) {
        self.0.push_str(s.as_ref());
        self.0.push('\n');
    }

    /// Ends the paragraph: one empty line, never two.
    fn blank(&mut self) {
        if !self.0.is_empty() && !self.0.ends_with("\n\n") {
            self.0.push('\n');
        }
    }

    fn heading(&mut self, level: usize, title: impl AsRef<str>) {
        self.blank();
        self.line(format!("{} {}", "#".repeat(level), title.as_ref()));
        self.blank();
    }

    /// A table; every cell is already escaped (or this program's own text).
    fn table(&mut self, head: &[&str], rows: &[Vec<String>]) {
        self.line(format!("| {} |", head.join(" | ")));
        self.line(format!("|{}", "---|".repeat(head.len())));
        for r in rows {
            self.line(format!("| {} |", r.join(" | ")));
        }
    }
}

/// `text` as an indented code block: shown verbatim by a viewer (no Markdown, no HTML), each
/// line escaped for the terminal, so no line of it can end the block or act on a screen.
fn code_block(doc: &mut Doc, text: &str) {
    doc.blank();
    for l in text.lines() {
        doc.line(format!("    {}", text::escape(l)));
    }
    doc.blank();
}

/// The card as Markdown.
pub fn render(card: &Card) -> String {
    let mut d = Doc(String::new());
    let run = &card.run;
    d.line(format!("# Model card: {}", md(&run.name)));
    d.blank();
    d.line(format!(
        "Made by site {} at {} from the signed records it holds about model `{}`. Every \
         record was verified against the keys this site trusts as it was read; every figure \
         is copied from a record, none is recomputed. A section with nothing to show says \
         none.",
        md(card.site.as_str()),
        card.generated_at,
        card.model.hex()
    ));
    details(&mut d, card);
    intended_use(&mut d, card);
    data(&mut d, card);
    training(&mut d, card);
    evaluations(&mut d, card);
    gates(&mut d, card);
    approvals(&mut d, card);
    known_limits(&mut d, card);
    lineage(&mut d, card);
    d.0
}

fn details(d: &mut Doc, card: &Card) {
    let run = &card.run;
    d.heading(2, "Model details");
    let task = match run.spec.task {
        Task::Multiclass { classes } => format!("multiclass ({classes} classes)"),
        t => t.name().into(),
    };
    let classes: Vec<String> = run.classes.iter().map(|c| md(c).into_owned()).collect();
    let rows = vec![
        vec!["Name".into(), md(&run.name).into_owned()],
        vec!["Model id".into(), format!("`{}`", card.model.hex())],
        vec!["Trained at site".into(), md(run.site.as_str()).into_owned()],
        vec!["Task".into(), task],
        vec!["Architecture".into(), run.spec.arch.name().into()],
        vec!["Label column".into(), md(&run.label).into_owned()],
        vec![
            "Classes".into(),
            if classes.is_empty() {
                "none (regression)".into()
            } else {
                classes.join(", ")
            },
        ],
        vec![
            "Feature set".into(),
            format!(
                "{} (`{}`)",
                md(&card.feature_set.reference),
                card.feature_set.id.short()
            ),
        ],
        vec!["Weights".into(), format!("`{}`", run.weights.short())],
        vec![
            "Trained".into(),
            format!(
                "{} to {} on {} ({})",
                run.started_at,
                run.finished_at,
                md(&run.device.kind),
                md(&run.device.name)
            ),
        ],
        vec![
            "Code".into(),
            format!(
                "airlock {}, revision {}, Cargo.lock `{}`",
                md(&run.code.airlock),
                md(&run.code.git_rev),
                md(&run.code.cargo_lock_sha256)
            ),
        ],
    ];
    d.table(&["Field", "Value"], &rows);
}

fn intended_use(d: &mut Doc, card: &Card) {
    d.heading(2, "Intended use");
    let Some(held) = &card.description else {
        d.line(
            "None: no description of this model is held here (the operator writes one with \
             `airlock models describe MODEL --intended-use TEXT`).",
        );
        return;
    };
    let r = &held.record;
    d.line(format!("- **Intended use:** {}", md(&r.intended_use)));
    d.line(format!(
        "- **Out of scope:** {}",
        r.out_of_scope
            .as_deref()
            .map_or(Cow::Borrowed("none stated"), md)
    ));
    let others = card.other_descriptions.len();
    d.line(format!(
        "- **Stated by:** site {} at {} (description `{}`){}",
        md(r.site.as_str()),
        r.created_at,
        held.id.short(),
        match others {
            0 => String::new(),
            1 => "; 1 other description is held (older, or a peer's outranked by this site's)"
                .into(),
            n => format!(
                "; {n} other descriptions are held (older, or a peer's outranked by this site's)"
            ),
        }
    ));
}

fn data(d: &mut Doc, card: &Card) {
    let ds = &card.dataset;
    let doc = &ds.doc;
    d.heading(2, "Data");
    d.table(
        &["Field", "Value"],
        &[
            vec![
                "Dataset".into(),
                format!(
                    "{}@{} from site {}",
                    md(&doc.name),
                    doc.version,
                    md(doc.site.as_str())
                ),
            ],
            vec!["Dataset record".into(), format!("`{}`", ds.id.short())],
            vec!["Rows".into(), doc.rows.to_string()],
            vec![
                "Contract".into(),
                format!("{} (`{}`)", md(&ds.contract), doc.contract.short()),
            ],
            vec![
                "Raw snapshot".into(),
                format!(
                    "`{}` ({}, {} bytes, file {})",
                    doc.snapshot.hex(),
                    doc.format.as_str(),
                    doc.snapshot_size,
                    md(&doc.source)
                ),
            ],
            vec!["Ingested".into(), doc.created_at.to_string()],
            vec![
                "Feature set fitted on".into(),
                if card.feature_set.fitted_on == ds.id {
                    "the same dataset".into()
                } else {
                    format!("dataset record `{}`", card.feature_set.fitted_on.short())
                },
            ],
        ],
    );
    d.heading(3, "Profile at ingest");
    let Some(profile) = &doc.profile else {
        d.line("None: the dataset record holds no profile.");
        return;
    };
    const SHOWN: usize = 50;
    let rows: Vec<Vec<String>> = profile
        .columns
        .iter()
        .take(SHOWN)
        .map(|c| {
            let summary = match &c.numeric {
                Some(n) => format!(
                    "min {} / mean {} / max {}",
                    num(n.min),
                    num(n.mean),
                    num(n.max)
                ),
                None => c
                    .top
                    .iter()
                    .take(3)
                    .map(|f| format!("{} ({})", md(&f.value), f.count))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            vec![
                md(&c.name).into_owned(),
                c.ty.name().into(),
                format!("{} ({:.1}%)", c.nulls, 100.0 * c.null_rate),
                format!(
                    "{}{}",
                    c.distinct,
                    if c.distinct_exact { "" } else { " (estimate)" }
                ),
                summary,
            ]
        })
        .collect();
    d.table(&["Column", "Type", "Missing", "Distinct", "Summary"], &rows);
    if profile.columns.len() > SHOWN {
        d.blank();
        d.line(format!(
            "And {} more columns (`airlock data show` lists them all).",
            profile.columns.len() - SHOWN
        ));
    }
}

fn training(d: &mut Doc, card: &Card) {
    let run = &card.run;
    let c = &run.config;
    d.heading(2, "Training");
    d.table(
        &["Field", "Value"],
        &[
            vec!["Task".into(), run.spec.task.name().into()],
            vec!["Architecture".into(), run.spec.arch.name().into()],
            vec!["Seed".into(), c.seed.to_string()],
            vec![
                "Epochs".into(),
                format!(
                    "best {} of {} run ({} set){}",
                    run.best_epoch,
                    run.history.len(),
                    c.epochs,
                    if run.stopped_early {
                        ", stopped early"
                    } else {
                        ""
                    }
                ),
            ],
            vec!["Batch size".into(), c.batch_size.to_string()],
            vec!["Learning rate".into(), c.learning_rate.to_string()],
            vec![
                "Rows".into(),
                format!(
                    "{} train, {} validation, {} held out",
                    run.split.train, run.split.validation, run.split.holdout
                ),
            ],
        ],
    );
    d.heading(3, "Held-out metrics");
    let h = &run.metrics.holdout;
    let rows: Vec<Vec<String>> = figures(h)
        .into_iter()
        .map(|(n, v)| vec![n.into(), num(v)])
        .collect();
    if rows.is_empty() {
        d.line("None: the run record holds no held-out figure.");
    } else {
        d.line(format!(
            "On the {} held-out rows of the training dataset:",
            h.rows
        ));
        d.blank();
        d.table(&["Metric", "Value"], &rows);
    }
    if let Some(column) = &run.slice_column {
        d.heading(3, format!("Held-out metrics by {}", md(column)));
        let rows: Vec<Vec<String>> = run
            .metrics
            .holdout_slices
            .iter()
            .map(|(value, m)| {
                vec![
                    md(value).into_owned(),
                    m.rows.to_string(),
                    opt(m.accuracy),
                    opt(m.roc_auc),
                    opt(m.rmse),
                    if m.rows < DEFAULT_MIN_SLICE_ROWS {
                        format!("yes: under {DEFAULT_MIN_SLICE_ROWS} rows")
                    } else {
                        "no".into()
                    },
                ]
            })
            .collect();
        if rows.is_empty() {
            d.line("None.");
        } else {
            d.table(
                &["Value", "Rows", "Accuracy", "ROC AUC", "RMSE", "Too small"],
                &rows,
            );
        }
    }
}

fn evaluations(d: &mut Doc, card: &Card) {
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

fn gates(d: &mut Doc, card: &Card) {
    d.heading(2, "Gate reports");
    if card.gates.is_empty() {
        d.line("None: no gate report of this model is held here.");
        return;
    }
    for g in &card.gates {
        gate(d, g);
    }
}

fn gate(d: &mut Doc, g: &GateView) {
    d.heading(
        3,
        format!(
            "Gate `{}` by site {} at {}: {}",
            g.id.short(),
            md(g.site.as_str()),
            g.created_at,
            if g.passed { "passed" } else { "**failed**" }
        ),
    );
    if let Some(p) = &g.policy {
        d.line(format!("Policy `{}`:", p.digest.hex()));
        code_block(d, &p.text);
    }
    let sections = g.checks.iter().any(|c| c.section.is_some());
    let subjects = g.checks.iter().any(|c| c.subject.is_some());
    let mut head = Vec::new();
    if sections {
        head.push("Section");
    }
    if subjects {
        head.push("Subject");
    }
    head.extend(["Metric", "Operator", "Threshold", "Value", "Verdict"]);
    let rows: Vec<Vec<String>> = g
        .checks
        .iter()
        .map(|c| {
            let mut row = Vec::new();
            let cell = |v: &Option<String>| {
                v.as_deref()
                    .map_or_else(|| "-".into(), |s| md(s).into_owned())
            };
            if sections {
                row.push(cell(&c.section));
            }
            if subjects {
                row.push(cell(&c.subject));
            }
            row.extend([
                md(&c.metric).into_owned(),
                c.op.into(),
                c.threshold.to_string(),
                num(c.value),
                if c.passed { "passed" } else { "**failed**" }.into(),
            ]);
            row
        })
        .collect();
    d.table(&head, &rows);
}

fn approvals(d: &mut Doc, card: &Card) {
    d.heading(2, "Approvals and deployments");
    d.heading(3, "Approvals");
    if card.approvals.is_empty() {
        d.line("None.");
    } else {
        let rows: Vec<Vec<String>> = card
            .approvals
            .iter()
            .map(|a| {
                let r = &a.record;
                vec![
                    md(&r.approver).into_owned(),
                    format!("`{}`", md(a.operator_key_id.as_str())),
                    md(r.site.as_str()).into_owned(),
                    r.created_at.to_string(),
                    format!("`{}`", r.gate.short()),
                    if r.note.is_empty() {
                        "-".into()
                    } else {
                        md(&r.note).into_owned()
                    },
                ]
            })
            .collect();
        d.line("Each approval's operator signature was verified.");
        d.blank();
        d.table(
            &[
                "Approver",
                "Operator key",
                "Site",
                "When",
                "Gate report",
                "Note",
            ],
            &rows,
        );
    }
    d.heading(3, "Deployments at this site");
    if card.deployments.is_empty() {
        d.line("None.");
        return;
    }
    let rows: Vec<Vec<String>> = card
        .deployments
        .iter()
        .map(|e| {
            let r = &e.record;
            vec![
                md(&r.slot).into_owned(),
                r.created_at.to_string(),
                r.deployed_by
                    .as_ref()
                    .map_or_else(|| "-".into(), |o| md(&o.name).into_owned()),
                r.approvals.len().to_string(),
                r.previous
                    .map_or_else(|| "-".into(), |p| format!("`{}`", p.short())),
                if e.serving { "yes" } else { "no" }.into(),
            ]
        })
        .collect();
    d.table(
        &[
            "Slot",
            "When",
            "Deployed by",
            "Approvals",
            "Replaced",
            "Serving now",
        ],
        &rows,
    );
}

fn known_limits(d: &mut Doc, card: &Card) {
    d.heading(2, "Known limits");
    d.heading(3, "Stated by the operator");
    match &card.description {
        None => d.line("None: no description of this model is held here."),
        Some(h) => match &h.record.limits {
            None => d.line("None stated."),
            Some(l) => d.line(format!("- {}", md(l))),
        },
    }
    d.heading(3, "Shown by the records");
    d.line(format!(
        "Found by these rules: a slice or group under its evaluation's minimum size (held-out \
         slices: {DEFAULT_MIN_SLICE_ROWS} rows); a disparate impact ratio under {FOUR_FIFTHS} \
         (the four-fifths rule); accuracy falling by more than {ROBUSTNESS_DROP} under a \
         perturbation; no evaluation on data the model did not train on; no group fairness \
         measured for a binary model."
    ));
    d.blank();
    if card.limits.is_empty() {
        d.line("None found.");
        return;
    }
    for l in &card.limits {
        d.line(format!("- {}", limit(l)));
    }
}

fn limit(l: &Limit) -> String {
    match l {
        Limit::NotEvaluated => {
            "Never evaluated: no evaluation record is held, so every figure comes from the \
             held-out split of the training dataset."
                .into()
        }
        Limit::NotEvaluatedOnUnseenData { evaluations } => format!(
            "Never evaluated on data it did not train on: all {evaluations} evaluation(s) held \
             were made on the training snapshot."
        ),
        Limit::SmallSlice {
            evaluation,
            column,
            value,
            rows,
            min_rows,
        } => format!(
            "Slice {}={} of evaluation `{}` has {rows} rows, under {min_rows}: its figures are \
             not to be trusted.",
            md(column),
            md(value),
            evaluation.short()
        ),
        Limit::SmallHoldoutSlice {
            column,
            value,
            rows,
            min_rows,
        } => format!(
            "Held-out slice {}={} has {rows} rows, under {min_rows}: its figures are not to be \
             trusted.",
            md(column),
            md(value)
        ),
        Limit::SmallGroup {
            evaluation,
            attribute,
            group,
            rows,
            min_rows,
        } => format!(
            "Group {}={} of evaluation `{}` has {rows} rows, under {min_rows}: its rates are \
             not to be trusted.",
            md(attribute),
            md(group),
            evaluation.short()
        ),
        Limit::FourFifths {
            evaluation,
            attribute,
            ratio,
            lowest,
            highest,
        } => format!(
            "Disparate impact by {} in evaluation `{}`: ratio {} (group {} against {}), under \
             the four-fifths rule ({FOUR_FIFTHS}).",
            md(attribute),
            evaluation.short(),
            num(*ratio),
            lowest.as_deref().map_or(Cow::Borrowed("-"), md),
            highest.as_deref().map_or(Cow::Borrowed("-"), md)
        ),
        Limit::NoFairness => {
            "No group fairness measured: no evaluation named a sensitive attribute \
             (`airlock evaluate --sensitive COLUMN`)."
                .into()
        }
        Limit::RobustnessDrop {
            evaluation,
            perturbation,
            epsilon,
            clean,
            perturbed,
        } => format!(
            "Under {} bounded by {epsilon}, accuracy falls from {} to {} in evaluation `{}`.",
            md(perturbation),
            num(*clean),
            num(*perturbed),
            evaluation.short()
        ),
    }
}

/// The sites whose signatures were verified; `-` when this node holds none (a raw snapshot
/// that stayed at its site).
fn signers(sites: &[String]) -> String {
    if sites.is_empty() {
        "-".into()
    } else {
        md(&sites.join(", ")).into_owned()
    }
}

fn lineage(d: &mut Doc, card: &Card) {
    let l = &card.lineage;
    d.heading(2, "Lineage");
    d.line(format!(
        "The walk `airlock lineage {}` verifies: {} signatures and {} provenance statements, \
         from the model back to its raw snapshot{}.",
        card.model.hex(),
        l.signatures_verified,
        l.provenance_verified,
        if l.snapshot_held {
            " (held in this vault)"
        } else {
            " (not held here: it stays at its site unless exported with --with-data)"
        }
    ));
    d.blank();
    let mut nodes = vec![&l.model, &l.weights, &l.feature_set];
    nodes.extend(l.datasets.iter());
    nodes.push(&l.contract);
    nodes.push(&l.snapshot);
    nodes.extend(l.gates.iter());
    nodes.extend(l.approvals.iter());
    nodes.extend(l.deployments.iter());
    let mut rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            vec![
                n.kind.as_str().into(),
                format!("`{}`", n.id.hex()),
                md(&n.site).into_owned(),
                signers(&n.signed_by),
                md(&n.what).into_owned(),
            ]
        })
        .collect();
    rows.extend(card.other_records.iter().map(|o| {
        vec![
            o.kind.as_str().into(),
            format!("`{}`", o.id.hex()),
            md(o.site.as_str()).into_owned(),
            signers(&o.signed_by),
            "not on the lineage walk; signatures verified when read".into(),
        ]
    }));
    d.table(
        &["Record", "Digest (SHA-256)", "Site", "Signed by", "What"],
        &rows,
    );
}

#[cfg(test)]
mod tests {
    use super::super::{CheckView, GatePolicy};
    use super::*;
    use crate::digest::Digest;
    use crate::time::Timestamp;

    /// The `|` that separate cells in a table line (not those escaped inside a cell).
    fn separators(line: &str) -> usize {
        let mut n = 0;
        let mut escaped = false;
        for c in line.chars() {
            match c {
                '\\' if !escaped => escaped = true,
                '|' if !escaped => n += 1,
                _ => escaped = false,
            }
        }
        n
    }

    fn unsafe_but_newline(c: char) -> bool {
        c != '\n' && text::is_unsafe(c)
    }

    const HOSTILE: &str = "x | y\n# forged heading\n<script>alert(1)</script>\u{1b}[2J\u{7}";

    fn gate_view(policy: Option<&str>) -> GateView {
        let check = |section: Option<&str>, subject: Option<&str>, passed| CheckView {
            section: section.map(str::to_owned),
            subject: subject.map(str::to_owned),
            metric: "disparate_impact_ratio".into(),
            op: ">=",
            threshold: 0.8,
            value: if passed { 0.9 } else { 0.7 },
            passed,
        };
        GateView {
            id: Digest::of(b"gate"),
            site: "lab".parse().expect("site"),
            created_at: Timestamp(1_795_439_109),
            passed: false,
            policy: policy.map(|text| GatePolicy {
                digest: Digest::of(text.as_bytes()),
                text: text.into(),
            }),
            checks: vec![
                check(Some("fairness"), Some(HOSTILE), false),
                check(None, Some("status_sex=A92"), true),
            ],
        }
    }

    #[test]
    fn a_gate_report_shows_each_check_with_its_section_and_subject_escaped() {
        let mut d = Doc(String::new());
        gate(&mut d, &gate_view(None));
        let out = d.0;
        assert!(!out.chars().any(unsafe_but_newline), "{out:?}");
        let table: Vec<&str> = out.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(
            table[0],
            "| Section | Subject | Metric | Operator | Threshold | Value | Verdict |"
        );
        // The subject's `|` and line break stay inside its cell: every row has the header's
        // cells.
        assert_eq!(table.len(), 4, "{out}");
        for l in &table {
            assert_eq!(separators(l), 8, "{l}");
        }
        assert!(
            table[2].starts_with(
                "| fairness | x \\| y\\n# forged heading\\n&lt;script&gt;alert(1)&lt;/script&gt;\\u{1b}\\[2J\\u{7} | disparate\\_impact\\_ratio | >= | 0.8 | 0.7000 | **failed** |"
            ),
            "{}",
            table[2]
        );
        assert!(
            table[3].starts_with("| - | status\\_sex=A92 |"),
            "{}",
            table[3]
        );
        assert!(out.contains("by site lab at 2026-11-23T13:05:09Z"), "{out}");
        assert!(!out.lines().any(|l| l.starts_with("# forged")), "{out}");
    }

    #[test]
    fn a_gate_reports_policy_text_is_a_code_block_it_cannot_leave() {
        let policy = "[fairness]\nstatus_sex = { disparate_impact_ratio = \">= 0.8\" }\n```\n</pre><script>x</script>\n\u{1b}]0;owned\u{7}";
        let mut d = Doc(String::new());
        gate(&mut d, &gate_view(Some(policy)));
        let out = d.0;
        assert!(!out.chars().any(unsafe_but_newline), "{out:?}");
        let digest = Digest::of(policy.as_bytes()).hex();
        assert!(
            out.contains(&format!("Policy `{digest}`:\n\n    [fairness]\n")),
            "{out}"
        );
        // Every line of the text is indented four spaces (an indented code block: no
        // Markdown, no HTML, no fence to close), the escape sequence shown, not sent.
        let block: Vec<&str> = out
            .lines()
            .skip_while(|l| !l.starts_with("Policy "))
            .skip(2)
            .take_while(|l| !l.is_empty())
            .collect();
        assert_eq!(block.len(), 5, "{out}");
        assert!(block.iter().all(|l| l.starts_with("    ")), "{block:?}");
        assert_eq!(block[4], "    \\u{1b}]0;owned\\u{7}");
    }

    #[test]
    fn no_two_empty_lines_follow_each_other() {
        let mut d = Doc(String::new());
        d.heading(2, "Evaluation");
        d.heading(3, "Evaluation `abc`");
        d.line("text");
        assert_eq!(d.0, "## Evaluation\n\n### Evaluation `abc`\n\ntext\n");
    }
}
