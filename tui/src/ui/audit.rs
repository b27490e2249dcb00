//! The Audit screen: the log, newest first, filterable; one record's details.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};

use super::Theme;
use super::models::{filter_line, text_lines};
use crate::app::App;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let a = &app.audit;
    if let (Some(r), Some((_, scroll))) = (a.open(), a.record) {
        let text = r.text();
        let block = theme.block().title(format!(
            " Audit record {} (line {} of {}) ",
            r.seq,
            scroll + 1,
            text.len()
        ));
        frame.render_widget(
            Paragraph::new(text_lines(&text, theme))
                .block(block)
                .scroll((u16::try_from(scroll).unwrap_or(u16::MAX), 0)),
            area,
        );
        return;
    }
    let visible = a.visible();
    let title = if a.list.filter.is_empty() {
        format!(" Audit log: {} records, newest first ", a.rows.len())
    } else {
        format!(
            " Audit log: {} of {} records, newest first ",
            visible.len(),
            a.rows.len()
        )
    };
    let block = theme.block().title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let filter = filter_line(&a.list, theme);
    let [table_area, filter_area] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(u16::from(filter.is_some())),
    ])
    .areas(inner);
    if let Some(f) = filter {
        frame.render_widget(Paragraph::new(f), filter_area);
    }
    if visible.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::raw(if a.rows.is_empty() {
                " No records."
            } else {
                " No record matches the filter (Esc in the filter clears it)."
            })),
            table_area,
        );
        return;
    }
    let rows = visible.iter().map(|r| {
        Row::new(vec![
            Cell::from(Line::raw(r.seq.to_string()).right_aligned()),
            Cell::from(r.time.as_str()),
            Cell::from(r.action.as_str()),
            Cell::from(if r.actor_name.is_empty() {
                r.actor.as_str()
            } else {
                r.actor_name.as_str()
            }),
            Cell::from(r.details.as_str()),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(5),
            Constraint::Length(20),
            Constraint::Length(16),
            Constraint::Length(12),
            Constraint::Fill(1),
        ],
    )
    .header(Row::new(["  #", "time", "action", "actor", "details"]).style(theme.heading()))
    .row_highlight_style(theme.selected())
    .highlight_symbol(">");
    let mut state = TableState::default().with_selected(Some(a.list.selected));
    frame.render_stateful_widget(table, table_area, &mut state);
}
