//! The Features screen: feature set versions; a version's transforms and frozen parameters.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};

use super::Theme;
use super::models::text_lines;
use crate::app::App;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let f = &app.features;
    if let Some((d, scroll)) = &f.detail {
        let text = d.text();
        let block = theme.block().title(format!(
            " Feature set {} (line {} of {}) ",
            d.row.reference,
            scroll + 1,
            text.len()
        ));
        frame.render_widget(
            Paragraph::new(text_lines(&text, theme))
                .block(block)
                .scroll((u16::try_from(*scroll).unwrap_or(u16::MAX), 0)),
            area,
        );
        return;
    }
    let block = theme
        .block()
        .title(format!(" Features: {} version(s) ", f.rows.len()));
    if f.rows.is_empty() {
        frame.render_widget(
            Paragraph::new(vec![
                Line::raw(" No feature sets yet."),
                Line::raw(" Fit one on a dataset: airlock features apply SPEC.toml"),
            ])
            .block(block),
            area,
        );
        return;
    }
    let rows = f.rows.iter().map(|r| {
        Row::new(vec![
            Cell::from(r.reference.as_str()),
            Cell::from(Line::raw(r.width.to_string()).right_aligned()),
            Cell::from(r.id.as_str().chars().take(12).collect::<String>()),
            Cell::from(r.created.as_str()),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Fill(1),
            Constraint::Length(6),
            Constraint::Length(12),
            Constraint::Length(20),
        ],
    )
    .header(Row::new(["feature set", " slots", "id", "registered"]).style(theme.heading()))
    .row_highlight_style(theme.selected())
    .highlight_symbol("> ")
    .block(block);
    let mut state = TableState::default().with_selected(Some(f.selected));
    frame.render_stateful_widget(table, area, &mut state);
}
