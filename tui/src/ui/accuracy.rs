//! The Monitor screen's accuracy over time of the selected window's model: per slot, a line
//! per window with the share answered right as a bar (the holdout accuracy marked), ROC AUC
//! and calibration error; overall and per slice; or how to get labels. And the list of
//! datasets the labels are picked from.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph};

use super::Theme;
use super::models::filter_line;
use super::prose;
use crate::accuracy::{self, Figures, ModelAccuracy, SlotAccuracy};
use crate::app::App;
use crate::state::LabelsPicker;

/// Cells of an accuracy bar: one per tenth.
const BAR: usize = 10;

/// The accuracy view, scrolled `scroll` lines.
pub fn draw(frame: &mut Frame, area: Rect, app: &App, scroll: usize, theme: &Theme) {
    let model = app.monitor_model().map_or("-", |m| m.as_str());
    let view = &app.monitor.view.accuracy;
    let width = usize::from(area.width.saturating_sub(2));
    let (title, lines) = match (&view.labels, view.of(model)) {
        (None, _) | (_, None) => (
            format!(" Accuracy of {model}: no labels "),
            no_labels(width),
        ),
        (Some(asked), Some(m)) => {
            let labels = match &m.slots {
                Ok(s) if !s.is_empty() => s[0].labels.as_str(),
                _ => asked.as_str(),
            };
            let title = format!(
                " Accuracy of {model} from labels {labels} (line {} of {}) ",
                scroll + 1,
                m.line_count()
            );
            (title, model_lines(m, width, theme))
        }
    };
    frame.render_widget(
        Paragraph::new(lines)
            .block(theme.block().title(title))
            .scroll((u16::try_from(scroll).unwrap_or(u16::MAX), 0)),
        area,
    );
}

/// The empty state: what labels are and how to get them.
fn no_labels(width: usize) -> Vec<Line<'static>> {
    let mut out = prose(accuracy::NO_LABELS, width);
    out.push(Line::raw(""));
    out.extend(prose(
        "Labels arrive later as a dataset (airlock data ingest) whose contract names an \
         `entity` column (the requests' entity key), an `event_time` column (when the outcome \
         was known) and a column named as the model's label. Or name one in the monitoring \
         policy's [accuracy] labels (airlock-tui --monitor-policy FILE).",
        width,
    ));
    out.push(Line::raw(""));
    out.extend(prose(
        "airlock monitor report --labels DATASET reports the same.",
        width,
    ));
    out
}

fn model_lines(m: &ModelAccuracy, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    match &m.slots {
        Err(why) => prose(&format!("Not judged: {why}"), width)
            .into_iter()
            .map(|l| l.style(theme.bad()))
            .collect(),
        Ok(slots) if slots.is_empty() => prose(
            "No prediction logged for this model: the prediction log keeps the answers of a \
             model whose contract names an entity column (docs/monitoring.md).",
            width,
        ),
        Ok(slots) => slots.iter().flat_map(|s| slot_lines(s, theme)).collect(),
    }
}

/// A slot's lines: as many as [`ModelAccuracy::line_count`] counts.
fn slot_lines(s: &SlotAccuracy, theme: &Theme) -> Vec<Line<'static>> {
    let mut out = vec![
        Line::styled(
            format!(
                " {}: {} labelled of {} predictions, {} unmatched; holdout {}",
                s.slot,
                s.overall.labelled,
                s.predictions,
                s.unmatched,
                show(s.baseline)
            ),
            theme.heading(),
        ),
        Line::styled(
            format!(
                " {:<20} {:>8} {:>8} {:<BAR$} {:>7} {:>6}",
                "window", "labelled", "accuracy", "| holdout", "roc_auc", "ece"
            ),
            theme.dim(),
        ),
    ];
    for w in &s.windows {
        let verdict = if w.fell {
            Span::styled("FELL", theme.bad())
        } else {
            Span::styled("ok", theme.good())
        };
        out.push(figures_line(
            w.start.as_str(),
            &w.figures,
            s.baseline,
            Some(verdict),
            theme,
        ));
    }
    out.push(figures_line("overall", &s.overall, s.baseline, None, theme));
    let column = s.slice_column.as_ref().map_or("slice", |c| c.as_str());
    for (value, f) in &s.slices {
        let name: String = format!("{column}={value}").chars().take(20).collect();
        out.push(figures_line(&name, f, s.baseline, None, theme));
    }
    out.push(Line::raw(""));
    out
}

fn figures_line(
    name: &str,
    f: &Figures,
    baseline: Option<f64>,
    verdict: Option<Span<'static>>,
    theme: &Theme,
) -> Line<'static> {
    let full = if theme.ascii { '#' } else { '█' };
    let mut spans = vec![
        Span::raw(format!(
            " {name:<20} {:>8} {:>8} ",
            f.labelled,
            show(f.accuracy)
        )),
        Span::raw(accuracy::share_bar(f.accuracy, baseline, BAR, full)),
        Span::raw(format!(" {:>7} {:>6} ", show(f.roc_auc), show(f.ece))),
    ];
    spans.extend(verdict);
    Line::from(spans)
}

fn show(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{v:.3}"))
}

/// The datasets to pick the labels from, with the `/` filter.
pub fn picker(frame: &mut Frame, area: Rect, p: &LabelsPicker, theme: &Theme) {
    let visible = p.visible();
    let title = if p.list.filter.is_empty() {
        format!(" Labels: pick a dataset ({}) ", p.names.len())
    } else {
        format!(
            " Labels: pick a dataset ({} of {}) ",
            visible.len(),
            p.names.len()
        )
    };
    let block = theme.block().title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let filter = filter_line(&p.list, theme);
    let [list_area, filter_area] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(u16::from(filter.is_some())),
    ])
    .areas(inner);
    if let Some(f) = filter {
        frame.render_widget(Paragraph::new(f), filter_area);
    }
    if p.names.is_empty() {
        frame.render_widget(
            Paragraph::new(prose(accuracy::NO_LABELS, usize::from(inner.width))),
            list_area,
        );
        return;
    }
    let items = visible
        .iter()
        .map(|n| ListItem::new(format!(" {n}")))
        .collect::<Vec<_>>();
    let list = List::new(items)
        .highlight_style(theme.selected())
        .highlight_symbol(">");
    let mut state = ListState::default().with_selected(Some(p.list.selected));
    frame.render_stateful_widget(list, list_area, &mut state);
}
