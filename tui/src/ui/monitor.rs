//! The Monitor screen: the alerts, then every model's monitoring windows, and the selected
//! window's drift per feature as value / threshold with a bar and the verdict; its model's
//! accuracy over time and the labels picker are in [`super::accuracy`].

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};

use super::Theme;
use crate::app::App;
use crate::monitor::{self, FeatureDrift, WindowRow};

/// Cells of a feature's bar; the threshold is at the middle.
const BAR: usize = 12;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let m = &app.monitor;
    if let Some(p) = &m.picker {
        return super::accuracy::picker(frame, area, p, theme);
    }
    if let Some(scroll) = m.accuracy {
        return super::accuracy::draw(frame, area, app, scroll, theme);
    }
    if let Some(scroll) = m.open
        && let Some(w) = m.view.windows.get(m.selected)
    {
        let block = theme.block().title(format!(
            " Drift of {} {} window {} (feature {} of {}) ",
            w.model,
            w.slot,
            w.start,
            scroll + 1,
            w.features.len()
        ));
        frame.render_widget(
            Paragraph::new(features(w, theme))
                .block(block)
                .scroll((u16::try_from(scroll).unwrap_or(u16::MAX), 0)),
            area,
        );
        return;
    }
    let v = &m.view;
    if v.windows.is_empty() && v.alerts.is_empty() {
        frame.render_widget(
            Paragraph::new(vec![
                Line::raw(" No monitoring windows: `airlock serve` keeps them."),
                Line::raw(" airlock monitor report and monitor alerts say the same."),
            ])
            .block(theme.block().title(" Monitor: no windows, no alerts ")),
            area,
        );
        return;
    }
    let alerts_height = (v.alerts.len() as u16 + 3).clamp(3, 7);
    let windows_height = (v.windows.len() as u16 + 3).clamp(4, 8);
    let [top, middle, bottom] = Layout::vertical([
        Constraint::Length(alerts_height),
        Constraint::Length(windows_height),
        Constraint::Fill(1),
    ])
    .areas(area);
    alerts(frame, top, app, theme);

    let block = theme
        .block()
        .title(format!(" Windows: {} ", v.windows.len()));
    if v.windows.is_empty() {
        frame.render_widget(
            Paragraph::new(" No monitoring windows: `airlock serve` keeps them.").block(block),
            middle,
        );
        return;
    }
    let rows = v.windows.iter().map(|w| {
        Row::new(vec![
            Cell::from(w.model.as_str()),
            Cell::from(w.start.as_str()),
            Cell::from(w.slot.as_str()),
            Cell::from(Line::raw(w.requests.to_string()).right_aligned()),
            Cell::from(Line::raw(w.refused.to_string()).right_aligned()),
            Cell::from(
                Line::raw(
                    w.p99_micros
                        .map_or_else(|| "-".into(), |u| format!("{u} us")),
                )
                .right_aligned(),
            ),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(12),
            Constraint::Length(20),
            Constraint::Length(10),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Fill(1),
        ],
    )
    .header(
        Row::new(vec![
            Cell::from("model"),
            Cell::from("start"),
            Cell::from("slot"),
            Cell::from(Line::raw("requests").right_aligned()),
            Cell::from(Line::raw("refused").right_aligned()),
            Cell::from(Line::raw("p99 <=").right_aligned()),
        ])
        .style(theme.heading()),
    )
    .row_highlight_style(theme.selected())
    .highlight_symbol(">")
    .block(block);
    let mut state = TableState::default().with_selected(Some(m.selected));
    frame.render_stateful_widget(table, middle, &mut state);

    if let Some(w) = v.windows.get(m.selected) {
        let block = theme
            .block()
            .title(format!(" Drift per feature, window {} ", w.start));
        frame.render_widget(Paragraph::new(features(w, theme)).block(block), bottom);
    }
}

fn alerts(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let v = &app.monitor.view;
    let block = theme
        .block()
        .title(format!(" Alerts: {}, newest first ", v.alerts.len()));
    if v.alerts.is_empty() {
        frame.render_widget(Paragraph::new(" No alerts.").block(block), area);
        return;
    }
    let rows = v.alerts.iter().map(|a| {
        Row::new(vec![
            Cell::from(a.kind.as_str()),
            Cell::from(a.feature.as_str()),
            Cell::from(a.slot.as_str()),
            Cell::from(a.measure.as_str()),
            Cell::from(format!("{:.4} >= {}", a.value, a.threshold)),
            Cell::from(short_time(a.since.as_str())),
        ])
        .style(theme.bad())
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(16),
            Constraint::Fill(1),
            Constraint::Length(10),
            Constraint::Length(11),
            Constraint::Length(15),
            Constraint::Length(11),
        ],
    )
    .header(
        Row::new([
            "kind",
            "feature",
            "slot",
            "measure",
            "value >= limit",
            "since",
        ])
        .style(theme.heading()),
    )
    .block(block);
    frame.render_widget(table, area);
}

/// `2026-12-03T10:00:00Z` as `12-03 10:00` (the year and seconds left out for room).
fn short_time(t: &str) -> String {
    match (t.get(5..10), t.get(11..16)) {
        (Some(day), Some(time)) if t.len() >= 16 => format!("{day} {time}"),
        _ => t.to_string(),
    }
}

/// The window's features, one line each: column, measure, value / threshold, the bar, the
/// verdict.
fn features(w: &WindowRow, theme: &Theme) -> Vec<Line<'static>> {
    let mut out = vec![Line::styled(
        format!(
            " {:<18} {:<14} {:>7} / {:<6} {:<BAR$} verdict",
            "feature", "measure", "value", "limit", "bar"
        ),
        theme.heading(),
    )];
    out.extend(w.features.iter().map(|f| feature(f, theme)));
    out
}

fn feature(f: &FeatureDrift, theme: &Theme) -> Line<'static> {
    let full = if theme.ascii { '#' } else { '█' };
    let style: Style = match f.verdict {
        "DRIFT" => theme.bad(),
        "ok" => theme.good(),
        _ => theme.dim(),
    };
    let column: String = f.column.as_str().chars().take(18).collect();
    let measure: String = f.measure.as_str().chars().take(14).collect();
    let value = f.value.map_or_else(|| "-".into(), |v| format!("{v:.4}"));
    let threshold = f.threshold.map_or_else(|| "-".into(), |t| format!("{t}"));
    Line::from(vec![
        Span::raw(format!(
            " {column:<18} {measure:<14} {value:>7} / {threshold:<6} "
        )),
        Span::raw(monitor::bar(f.ratio, BAR, full)),
        Span::raw(" "),
        Span::styled(f.verdict, style),
    ])
}
