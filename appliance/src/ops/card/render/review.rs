//! Gate reports (each check generically), approvals and deployments, known limits (the
//! operator's and those the records show) and the lineage table.

use std::borrow::Cow;

use super::{Doc, code_block, md, num};
use crate::ops::card::limits::{FOUR_FIFTHS, Limit, ROBUSTNESS_DROP};
use crate::ops::card::{Card, GateView};
use crate::ops::evaluate::DEFAULT_MIN_SLICE_ROWS;

pub(super) fn gates(d: &mut Doc, card: &Card) {
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
            if g.passed {
                "passed"
            } else if g.needs_review {
                "**needs review**"
            } else {
                "**failed**"
            }
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
                match c.verdict {
                    "failed" => "**failed**".into(),
                    "needs review" => "**needs review**".into(),
                    v => v.to_string(),
                },
            ]);
            row
        })
        .collect();
    d.table(&head, &rows);
}

pub(super) fn approvals(d: &mut Doc, card: &Card) {
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

pub(super) fn known_limits(d: &mut Doc, card: &Card) {
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

pub(super) fn lineage(d: &mut Doc, card: &Card) {
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
    use super::*;
    use crate::digest::Digest;
    use crate::node::time::Timestamp;
    use crate::ops::card::{CheckView, GatePolicy};
    use crate::text;

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
            verdict: if passed { "passed" } else { "failed" },
        };
        GateView {
            id: Digest::of(b"gate"),
            site: "lab".parse().expect("site"),
            created_at: Timestamp(1_795_439_109),
            needs_review: false,
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
}
