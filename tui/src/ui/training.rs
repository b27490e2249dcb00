//! The Training screen: the runs; a run's settings, its loss and score per epoch as charts,
//! and its held-out metrics per slice.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Cell, Chart, Dataset, GraphType, Paragraph, Row, Table, TableState};

use super::Theme;
use super::models::filter_line;
use crate::app::App;
use crate::training::{EpochPoint, RunDetail, bounds};

/// The markers of a chart's series: characters, so the series tell apart without colour
/// and on a serial console.
const FIRST: char = '*';
const SECOND: char = 'o';

/// One series of a chart: its points (epoch, value), marker and style.
type Series<'a> = (&'a [(f64, f64)], char, Style);

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    match &app.training.detail {
        Some((d, scroll)) => detail(frame, area, d, *scroll, theme),
        None => list(frame, area, app, theme),
    }
}

fn list(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let t = &app.training;
    let visible = t.visible();
    let title = if t.list.filter.is_empty() {
        format!(" Training runs: {} ", t.rows.len())
    } else {
        format!(" Training runs: {} of {} ", visible.len(), t.rows.len())
    };
    let block = theme.block().title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let filter = filter_line(&t.list, theme);
    let [table_area, filter_area] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(u16::from(filter.is_some())),
    ])
    .areas(inner);
    if let Some(f) = filter {
        frame.render_widget(Paragraph::new(f), filter_area);
    }
    if t.rows.is_empty() {
        frame.render_widget(
            Paragraph::new(vec![
                Line::raw(" No training runs yet."),
                Line::raw(
                    " n trains one here (or: airlock train --dataset D --features F --model M)",
                ),
            ]),
            table_area,
        );
        return;
    }
    let rows = visible.iter().map(|r| {
        Row::new(vec![
            Cell::from(r.id.as_str().chars().take(12).collect::<String>()),
            Cell::from(r.name.as_str()),
            Cell::from(r.what.as_str()),
            Cell::from(
                Line::raw(format!(
                    "{}/{}{}",
                    r.best,
                    r.epochs,
                    if r.stopped_early { "e" } else { "" }
                ))
                .right_aligned(),
            ),
            Cell::from(r.device.as_str()),
            Cell::from(r.finished.as_str()),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(12),
            Constraint::Fill(1),
            Constraint::Length(18),
            Constraint::Length(7),
            Constraint::Length(6),
            Constraint::Length(20),
        ],
    )
    .header(
        Row::new(["id", "name", "model", "   best", "device", "finished"]).style(theme.heading()),
    )
    .row_highlight_style(theme.selected())
    .highlight_symbol(">");
    let mut state = TableState::default().with_selected(Some(t.list.selected));
    frame.render_stateful_widget(table, table_area, &mut state);
}

fn detail(frame: &mut Frame, area: Rect, d: &RunDetail, scroll: usize, theme: &Theme) {
    let short: String = d.row.id.as_str().chars().take(12).collect();
    let block = theme.block().title(format!(
        " Run {short}: {} ({}) from site {} ",
        d.row.name, d.row.what, d.row.site
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [head, charts, slices] = Layout::vertical([
        Constraint::Length(d.settings.len() as u16),
        Constraint::Length(9),
        Constraint::Fill(1),
    ])
    .areas(inner);
    let lines: Vec<Line> = d
        .settings
        .iter()
        .map(|(label, value)| {
            Line::from(vec![
                Span::styled(format!(" {label:<10}"), theme.heading()),
                Span::raw(value.as_str().to_string()),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), head);

    let [left, right] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(charts);
    let h = &d.history;
    let loss: Vec<(f64, f64)> = h.iter().map(|e| (e.epoch as f64, e.train_loss)).collect();
    let vloss: Vec<(f64, f64)> = h
        .iter()
        .map(|e| (e.epoch as f64, e.validation_loss))
        .collect();
    let score: Vec<(f64, f64)> = h
        .iter()
        .map(|e| (e.epoch as f64, e.validation_score))
        .collect();
    chart(
        frame,
        left,
        &format!(" loss: {FIRST} train {SECOND} validation "),
        &[(&loss, FIRST, theme.good()), (&vloss, SECOND, theme.bad())],
        h,
        theme,
    );
    chart(
        frame,
        right,
        &format!(" validation {} {FIRST} ", d.score_name),
        &[(&score, FIRST, theme.good())],
        h,
        theme,
    );
    slice_table(frame, slices, d, scroll, theme);
}

fn chart(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    series: &[Series],
    history: &[EpochPoint],
    theme: &Theme,
) {
    let block = theme.block().title(title.to_string());
    if history.is_empty() {
        frame.render_widget(
            Paragraph::new(" no epochs in the run record").block(block),
            area,
        );
        return;
    }
    let [lo, hi] = bounds(series.iter().flat_map(|(s, _, _)| s.iter().map(|p| p.1)));
    let last = history.len().max(2) as f64;
    let datasets = series
        .iter()
        .map(|(points, marker, style)| {
            Dataset::default()
                .marker(Marker::Custom(*marker))
                .graph_type(GraphType::Scatter)
                .style(*style)
                .data(points)
        })
        .collect();
    let chart = Chart::new(datasets)
        .block(block)
        .x_axis(
            Axis::default()
                .bounds([1.0, last])
                .labels(["1".to_string(), format!("epoch {}", history.len())]),
        )
        .y_axis(
            Axis::default()
                .bounds([lo, hi])
                .labels([format!("{lo:.3}"), format!("{hi:.3}")]),
        )
        .hidden_legend_constraints((Constraint::Length(0), Constraint::Length(0)));
    frame.render_widget(chart, area);
    if theme.ascii {
        super::theme::asciify(frame.buffer_mut(), area);
    }
}

fn slice_table(frame: &mut Frame, area: Rect, d: &RunDetail, scroll: usize, theme: &Theme) {
    let title = match &d.slice_column {
        Some(c) => format!(" Held-out metrics per slice of {c}: {} ", d.slices.len()),
        None => " Held-out metrics per slice ".to_string(),
    };
    let block = theme.block().title(title);
    if d.slices.is_empty() {
        frame.render_widget(
            Paragraph::new(
                " none: trained without --slice-column (the run record holds no slices)",
            )
            .block(block),
            area,
        );
        return;
    }
    let mut header = vec!["slice".to_string(), "  rows".to_string()];
    header.extend(d.slice_metrics.iter().map(|m| format!("{m:>13}")));
    let rows = d.slices.iter().map(|s| {
        let mut cells = vec![
            Cell::from(s.key.as_str()),
            Cell::from(Line::raw(s.rows.to_string()).right_aligned()),
        ];
        cells.extend(s.values.iter().map(|v| {
            Cell::from(Line::raw(v.map_or("-".to_string(), |v| format!("{v:.4}"))).right_aligned())
        }));
        Row::new(cells)
    });
    let mut widths = vec![Constraint::Fill(1), Constraint::Length(6)];
    widths.extend(d.slice_metrics.iter().map(|_| Constraint::Length(13)));
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.heading()))
        .row_highlight_style(theme.selected())
        .highlight_symbol(">")
        .block(block);
    let mut state = TableState::default().with_selected(Some(scroll));
    frame.render_stateful_widget(table, area, &mut state);
}
