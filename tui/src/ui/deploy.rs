//! The Deploy screen: the slots, what each holds and its share; the selected slot's record,
//! and what a rollback or a promotion would do now.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};

use super::{Theme, capitalised, prose};
use crate::app::App;
use crate::deploy::{self, SlotView, SlotsView};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let v = &app.slots.view;
    let table_height = (v.slots.len() as u16 + 3).clamp(6, area.height / 2);
    let [top, bottom] =
        Layout::vertical([Constraint::Length(table_height), Constraint::Fill(1)]).areas(area);
    let held = v.slots.iter().filter(|s| s.current.is_some()).count();
    let block = theme.block().title(format!(
        " Deploy: {} slot(s), {held} holding a model ",
        v.slots.len()
    ));
    let rows = v.slots.iter().map(|s| {
        let (model, name, share, since, by) = match &s.current {
            None => ("-".to_string(), "empty".to_string(), String::new(), "", ""),
            Some(h) => (
                h.model.as_str().chars().take(12).collect(),
                v.model(h.model.as_str())
                    .map(|m| m.name.as_str().to_string())
                    .unwrap_or_default(),
                match h.percent {
                    Some(p) => format!("{p}%"),
                    None if s.name.as_str() == airlock::ops::rollout::PRODUCTION => "rest".into(),
                    None => "all".into(),
                },
                h.at.as_str(),
                h.by.as_str(),
            ),
        };
        Row::new(vec![
            Cell::from(s.name.as_str()),
            Cell::from(model),
            Cell::from(name),
            Cell::from(Line::raw(share).right_aligned()),
            Cell::from(since),
            Cell::from(by),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(11),
            Constraint::Length(12),
            Constraint::Fill(1),
            Constraint::Length(5),
            Constraint::Length(20),
            Constraint::Length(8),
        ],
    )
    .header(Row::new(["slot", "model", "name", "share", "since", "by"]).style(theme.heading()))
    .row_highlight_style(theme.selected())
    .highlight_symbol(">")
    .block(block);
    let mut state = TableState::default().with_selected(Some(app.slots.selected));
    frame.render_stateful_widget(table, top, &mut state);

    let Some(s) = v.slots.get(app.slots.selected) else {
        return;
    };
    let block = theme.block().title(format!(" Slot {} ", s.name));
    frame.render_widget(
        Paragraph::new(detail(
            v,
            s,
            usize::from(bottom.width.saturating_sub(2)),
            theme,
        ))
        .block(block),
        bottom,
    );
}

fn detail(v: &SlotsView, s: &SlotView, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let mut out = prose(&format!("{}.", capitalised(s.role)), width);
    match &s.current {
        None => out.extend(prose("It holds no model now.", width)),
        Some(h) => {
            out.extend(prose(
                &format!(
                    "Model {} {} {} by {}{}{}.",
                    v.named(&h.model),
                    h.how(),
                    h.at,
                    if h.by.is_empty() {
                        "the node"
                    } else {
                        h.by.as_str()
                    },
                    h.percent
                        .map(|p| format!(" for {p}% of requests"))
                        .unwrap_or_default(),
                    h.threshold
                        .map(|t| format!(", decision threshold {t}"))
                        .unwrap_or_default(),
                ),
                width,
            ));
            out.extend(prose(
                &format!(
                    "Record {}, replacing {}.{}",
                    h.record.as_str().chars().take(12).collect::<String>(),
                    h.previous
                        .as_ref()
                        .map(|p| format!("model {}", v.named(p)))
                        .unwrap_or_else(|| "nothing".into()),
                    if h.reason.is_empty() {
                        String::new()
                    } else {
                        format!(" Reason: {}", h.reason)
                    }
                ),
                width,
            ));
        }
    }
    out.push(Line::raw(""));
    out.push(Line::styled(" Now", theme.heading()));
    out.extend(prose(
        &format!("b roll back: {}", deploy::rollback_says(v, s.name.as_str())),
        width,
    ));
    if !s.earlier.is_empty() {
        let named: Vec<String> = s.earlier.iter().map(|m| v.named(m)).collect();
        out.extend(prose(
            &format!("t roll back to one it held before: {}.", named.join(", ")),
            width,
        ));
    }
    out.extend(prose(
        &format!("p promote: {}", deploy::promote_says(v)),
        width,
    ));
    out
}
