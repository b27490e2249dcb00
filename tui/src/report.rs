//! A model's gate reports, check by check with their verdicts, and its model card, loaded
//! with the calls `airlock models show` and `airlock models card` make (`airlock::ops::gate`,
//! `airlock::ops::card`). Read-only.

use airlock::digest::Digest;
use airlock::node::home::Home;
use airlock::ops::card::{self, GateView};
use airlock::ops::gate;

use crate::shown::Shown;
use crate::view::{TEXT_WIDTH, TextLine, heading, line, wrapped};

/// One check of a gate report.
#[derive(Clone, Debug)]
pub struct CheckLine {
    /// The policy section and subject it belongs to, when the report says (`slices
    /// housing=rent`), else empty.
    pub about: Shown,
    /// `roc_auc >= 0.7: 0.7796`.
    pub figure: Shown,
    /// passed, failed, needs review or not judged.
    pub verdict: &'static str,
}

/// A gate report of a model.
#[derive(Clone, Debug)]
pub struct GateReportView {
    /// Its id.
    pub id: Shown,
    /// The site that ran the gate.
    pub site: Shown,
    /// When.
    pub at: Shown,
    /// passed, passed but needs review, needs review, or FAILED.
    pub verdict: &'static str,
    /// The gate policy's digest, when it applied one.
    pub policy: Option<Shown>,
    /// Every check.
    pub checks: Vec<CheckLine>,
}

/// A report's verdict in words: a report can pass and still need a named review.
pub fn verdict(passed: bool, needs_review: bool) -> &'static str {
    match (passed, needs_review) {
        (true, false) => "passed",
        (true, true) => "passed, needs review",
        (false, true) => "needs review",
        (false, false) => "FAILED",
    }
}

fn number(x: f64) -> String {
    let s = format!("{x:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The console's view of the card's view of a report.
pub fn report(g: &GateView) -> GateReportView {
    GateReportView {
        id: Shown::new(&g.id.short()),
        site: Shown::of(&g.site),
        at: Shown::of(g.created_at),
        verdict: verdict(g.passed, g.needs_review),
        policy: g.policy.as_ref().map(|p| Shown::new(&p.digest.short())),
        checks: g
            .checks
            .iter()
            .map(|c| CheckLine {
                about: Shown::new(
                    &[c.section.as_deref(), c.subject.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                figure: Shown::new(&format!(
                    "{} {} {}: {}",
                    c.metric,
                    c.op,
                    number(c.threshold),
                    number(c.value)
                )),
                verdict: c.verdict,
            })
            .collect(),
    }
}

/// `models show`'s gate reports of `model`, oldest first, each verified as it is loaded.
pub fn gates(home: &Home, model: &Digest) -> airlock::Result<Vec<GateReportView>> {
    Ok(gate::list_for(home, model)?
        .iter()
        .map(|(id, r)| report(&GateView::of(*id, r)))
        .collect())
}

/// The gate reports as lines of a model's detail.
pub fn gate_lines(out: &mut Vec<TextLine>, gates: &[GateReportView]) {
    if gates.is_empty() {
        out.push(line("  none: run `airlock gate MODEL` first".into()));
    }
    for g in gates {
        out.push(line(format!(
            "  {}  {}  site {}  {}",
            g.id, g.at, g.site, g.verdict
        )));
        out.push(line(format!(
            "    {} check{}, {}",
            g.checks.len(),
            if g.checks.len() == 1 { "" } else { "s" },
            g.policy
                .as_ref()
                .map(|p| format!("gate policy {p}"))
                .unwrap_or_else(|| "thresholds given on the command line".into())
        )));
        for c in &g.checks {
            let about = if c.about.is_empty() {
                String::new()
            } else {
                format!("{}: ", c.about)
            };
            wrapped(out, "    ", &format!("{about}{}  {}", c.figure, c.verdict));
        }
    }
}

/// A model card, as `airlock models card MODEL` writes it.
#[derive(Clone, Debug)]
pub struct CardView {
    /// The model's id, short.
    pub model: Shown,
    /// The card's Markdown, as lines wrapped to the screen.
    pub lines: Vec<TextLine>,
}

/// `airlock models card MODEL`: the card built from the verified records and rendered as
/// Markdown (every record text escaped for Markdown by the library), then escaped for the
/// terminal and wrapped.
pub fn card(home: &Home, model: &Digest) -> airlock::Result<CardView> {
    let markdown = card::markdown(home, model)?;
    let block = Shown::block(&markdown);
    let mut lines = Vec::new();
    for l in block.as_str().lines() {
        if l.starts_with('#') {
            let mut h = Vec::new();
            wrapped(&mut h, "", l);
            lines.extend(h.into_iter().map(|t| heading(t.text.as_str().to_string())));
        } else if l.chars().count() <= TEXT_WIDTH {
            lines.push(line(l.to_string()));
        } else {
            wrapped(&mut lines, "", l);
        }
    }
    Ok(CardView {
        model: Shown::new(&model.short()),
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_that_passes_and_needs_review_says_both() {
        assert_eq!(verdict(true, false), "passed");
        assert_eq!(verdict(true, true), "passed, needs review");
        assert_eq!(verdict(false, true), "needs review");
        assert_eq!(verdict(false, false), "FAILED");
    }
}
