//! The card as Markdown (CommonMark with GitHub's tables).
//!
//! Every piece of text that comes from a record (names, notes, values, a peer's description)
//! goes through [`md`], the core's [`crate::text::markdown`]: escaped for Markdown and for
//! the terminal. Such text is only ever placed after this program's own words on a line or
//! inside a table cell, never at a line's start. Digests, numbers, times and this program's
//! words are written as they are. A policy's text, the one multi-line block, is an indented
//! code block whose every line is escaped for the terminal ([`code_block`]).

//!
//! The sections in order: this file up to Training, [`evaluation`] for the evaluations,
//! [`review`] for gate reports, approvals, deployments, known limits and lineage.

mod evaluation;
mod review;

use std::borrow::Cow;

use airlock_runtime::Task;

use super::{Card, figures};
use crate::ops::evaluate::DEFAULT_MIN_SLICE_ROWS;
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
    evaluation::evaluations(&mut d, card);
    review::gates(&mut d, card);
    review::approvals(&mut d, card);
    review::known_limits(&mut d, card);
    review::lineage(&mut d, card);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_empty_lines_follow_each_other() {
        let mut d = Doc(String::new());
        d.heading(2, "Evaluation");
        d.heading(3, "Evaluation `abc`");
        d.line("text");
        assert_eq!(d.0, "## Evaluation\n\n### Evaluation `abc`\n\ntext\n");
    }
}
