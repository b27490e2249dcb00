//! The Models screen: the registry, and a model's detail.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};

use super::Theme;
use crate::app::{App, DetailState, ListState};
use crate::view::TextLine;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    if let Some((c, scroll)) = &app.models.card {
        let block = theme.block().title(format!(
            " Model card of {} (line {} of {}) ",
            c.model,
            scroll + 1,
            c.lines.len()
        ));
        frame.render_widget(
            Paragraph::new(text_lines(&c.lines, theme))
                .block(block)
                .scroll((u16::try_from(*scroll).unwrap_or(u16::MAX), 0)),
            area,
        );
        return;
    }
    match &app.models.detail {
        Some(d) => detail(frame, area, d, theme),
        None => list(frame, area, app, theme),
    }
}

/// The filter line under a list, when a filter is set or being typed.
pub fn filter_line<'a>(list: &'a ListState, theme: &Theme) -> Option<Line<'a>> {
    if !list.editing && list.filter.is_empty() {
        return None;
    }
    let mut spans = vec![
        Span::styled(" filter: ", theme.heading()),
        // Only characters safe to draw can be typed into it (app::filter_key).
        Span::raw(list.filter.as_str()),
    ];
    if list.editing {
        spans.push(Span::styled("_", theme.selected()));
    }
    Some(Line::from(spans))
}

fn list(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let m = &app.models;
    let visible = m.visible();
    let title = if m.list.filter.is_empty() {
        format!(" Models: {} ", m.rows.len())
    } else {
        format!(" Models: {} of {} ", visible.len(), m.rows.len())
    };
    let block = theme.block().title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let filter = filter_line(&m.list, theme);
    let [table_area, filter_area] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(u16::from(filter.is_some())),
    ])
    .areas(inner);
    if let Some(f) = filter {
        frame.render_widget(Paragraph::new(f), filter_area);
    }
    if m.rows.is_empty() {
        frame.render_widget(
            Paragraph::new(vec![
                Line::raw(" No models yet."),
                Line::raw(
                    " Train one (airlock train ...) or import a bundle (airlock bundle import).",
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
            Cell::from(r.task.as_str()),
            Cell::from(r.dataset.as_str()),
            Cell::from(r.features.as_str()),
            Cell::from(Span::styled(
                r.gate.as_str(),
                if r.gate.as_str() == "passed" {
                    theme.good()
                } else {
                    theme.bad()
                },
            )),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(12),
            Constraint::Fill(1),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(17),
            Constraint::Length(6),
        ],
    )
    .header(Row::new(["id", "name", "task", "dataset", "features", "gate"]).style(theme.heading()))
    .row_highlight_style(theme.selected())
    .highlight_symbol(">");
    let mut state = TableState::default().with_selected(Some(m.list.selected));
    frame.render_stateful_widget(table, table_area, &mut state);
}

/// Lines of a scrolled text view, headings bold.
pub fn text_lines(text: &[TextLine], theme: &Theme) -> Vec<Line<'static>> {
    text.iter()
        .map(|l| {
            if l.heading {
                Line::styled(l.text.as_str().to_string(), theme.heading())
            } else {
                Line::raw(l.text.as_str().to_string())
            }
        })
        .collect()
}

fn detail(frame: &mut Frame, area: Rect, d: &DetailState, theme: &Theme) {
    let text = d.detail.text();
    let block = theme.block().title(format!(
        " Model {} (line {} of {}) ",
        d.detail
            .row
            .id
            .as_str()
            .chars()
            .take(12)
            .collect::<String>(),
        d.scroll + 1,
        text.len()
    ));
    let scroll = u16::try_from(d.scroll).unwrap_or(u16::MAX);
    frame.render_widget(
        Paragraph::new(text_lines(&text, theme))
            .block(block)
            .scroll((scroll, 0)),
        area,
    );
}
