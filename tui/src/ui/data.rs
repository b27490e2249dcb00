//! The Data screen: datasets and contracts; a dataset's profile per column with its
//! histogram.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, Cell, HighlightSpacing, Paragraph, Row, Table, TableState};

use super::Theme;
use super::models::text_lines;
use crate::app::{App, DataList, ProfileState};
use crate::view::{ColumnView, TextLine};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let d = &app.data;
    if let Some(p) = &d.profile {
        return profile(frame, area, p, theme);
    }
    if let Some((diff, scroll)) = &d.diff {
        let text = diff.text();
        let title = format!(
            " Contract {} (line {} of {}) ",
            diff.reference,
            scroll + 1,
            text.len()
        );
        return scrolled(frame, area, title, &text, *scroll, theme);
    }
    if let Some((r, scroll)) = d.open_record() {
        let text = r.text();
        let title = format!(
            " Refused ingest: audit record {} (line {} of {}) ",
            r.seq,
            scroll + 1,
            text.len()
        );
        return scrolled(frame, area, title, &text, scroll, theme);
    }
    lists(frame, area, app, theme)
}

fn scrolled(
    frame: &mut Frame,
    area: Rect,
    title: String,
    text: &[TextLine],
    scroll: usize,
    theme: &Theme,
) {
    frame.render_widget(
        Paragraph::new(text_lines(text, theme))
            .block(theme.block().title(title))
            .scroll((u16::try_from(scroll).unwrap_or(u16::MAX), 0)),
        area,
    );
}

/// A list's title, marked when the keyboard is in it.
fn titled(theme: &Theme, focused: bool, title: String) -> ratatui::widgets::Block<'static> {
    if focused {
        theme.block().title(Span::styled(
            format!("{title}(Tab: next list) "),
            theme.heading(),
        ))
    } else {
        theme.block().title(title)
    }
}

fn lists(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let v = &app.data.view;
    let focus = app.data.focus;
    let contracts_height = (v.contracts.len() as u16 + 3).clamp(4, 6);
    let refused_height = (v.refused.len() as u16 + 3).clamp(4, 6);
    let [top, bottom, last] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(contracts_height),
        Constraint::Length(refused_height),
    ])
    .areas(area);
    let block = titled(
        theme,
        focus == DataList::Datasets,
        format!(" Data: {} dataset version(s) ", v.datasets.len()),
    );
    if v.datasets.is_empty() {
        frame.render_widget(
            Paragraph::new(vec![
                Line::raw(" No datasets yet."),
                Line::raw(" Ingest one: airlock data ingest FILE --dataset NAME --contract C"),
            ])
            .block(block),
            top,
        );
    } else {
        let rows = v.datasets.iter().map(|d| {
            Row::new(vec![
                Cell::from(d.reference.as_str()),
                Cell::from(Line::raw(d.rows.to_string()).right_aligned()),
                Cell::from(d.source.as_str()),
                Cell::from(d.created.as_str()),
            ])
        });
        let table = Table::new(
            rows,
            [
                Constraint::Fill(1),
                Constraint::Length(8),
                Constraint::Length(20),
                Constraint::Length(20),
            ],
        )
        .header(Row::new(["dataset", "    rows", "source", "ingested"]).style(theme.heading()))
        .row_highlight_style(theme.selected())
        .highlight_symbol("> ")
        .highlight_spacing(HighlightSpacing::Always)
        .block(block);
        let mut state = TableState::default()
            .with_selected((focus == DataList::Datasets).then_some(app.data.selected));
        frame.render_stateful_widget(table, top, &mut state);
    }
    let block = titled(
        theme,
        focus == DataList::Contracts,
        format!(" Contracts: {} version(s) ", v.contracts.len()),
    );
    if v.contracts.is_empty() {
        frame.render_widget(
            Paragraph::new(" None registered: airlock contract apply FILE").block(block),
            bottom,
        );
    } else {
        let rows = v.contracts.iter().map(|c| {
            Row::new(vec![
                Cell::from(c.reference.as_str()),
                Cell::from(c.id.as_str().chars().take(12).collect::<String>()),
                Cell::from(c.created.as_str()),
            ])
        });
        let table = Table::new(
            rows,
            [
                Constraint::Fill(1),
                Constraint::Length(12),
                Constraint::Length(20),
            ],
        )
        .header(Row::new(["contract", "id", "registered"]).style(theme.heading()))
        .row_highlight_style(theme.selected())
        .highlight_symbol("> ")
        .highlight_spacing(HighlightSpacing::Always)
        .block(block);
        let mut state = TableState::default()
            .with_selected((focus == DataList::Contracts).then_some(app.data.contract));
        frame.render_stateful_widget(table, bottom, &mut state);
    }
    let block = titled(
        theme,
        focus == DataList::Refused,
        format!(
            " Refused ingests: {} (from the audit log) ",
            v.refused.len()
        ),
    );
    if v.refused.is_empty() {
        frame.render_widget(Paragraph::new(" None refused.").block(block), last);
        return;
    }
    let rows = v.refused.iter().map(|r| {
        Row::new(vec![
            Cell::from(r.record.time.as_str()),
            Cell::from(r.dataset.as_str()),
            Cell::from(r.source.as_str()),
            Cell::from(r.why.as_str()),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(20),
            Constraint::Length(10),
            Constraint::Length(14),
            Constraint::Fill(1),
        ],
    )
    .header(Row::new(["when", "dataset", "file", "why"]).style(theme.heading()))
    .row_highlight_style(theme.selected())
    .highlight_symbol("> ")
    .highlight_spacing(HighlightSpacing::Always)
    .block(block);
    let mut state = TableState::default()
        .with_selected((focus == DataList::Refused).then_some(app.data.refusal));
    frame.render_stateful_widget(table, last, &mut state);
}

fn profile(frame: &mut Frame, area: Rect, p: &ProfileState, theme: &Theme) {
    let d = &p.profile;
    let block = theme.block().title(format!(" Profile of {} ", d.reference));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [head, body] = Layout::vertical([Constraint::Length(2), Constraint::Fill(1)]).areas(inner);
    frame.render_widget(
        Paragraph::new(vec![
            Line::raw(format!(
                " {} rows, {}, ingested {}",
                d.rows, d.format, d.created
            )),
            Line::raw(format!(" from {}", d.source)),
        ]),
        head,
    );
    if d.columns.is_empty() {
        frame.render_widget(
            Paragraph::new(" No profile: this dataset was ingested by an older Airlock."),
            body,
        );
        return;
    }
    let [left, _, right] = Layout::horizontal([
        Constraint::Length(36),
        Constraint::Length(2),
        Constraint::Fill(1),
    ])
    .areas(body);
    let rows = d.columns.iter().map(|c| {
        Row::new(vec![
            Cell::from(c.name.as_str()),
            Cell::from(c.ty.as_str()),
            Cell::from(Line::raw(format!("{:.1}%", c.null_rate * 100.0)).right_aligned()),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Fill(1),
            Constraint::Length(8),
            Constraint::Length(6),
        ],
    )
    .header(Row::new(["column", "type", " nulls"]).style(theme.heading()))
    .row_highlight_style(theme.selected())
    .highlight_symbol("> ");
    let mut state = TableState::default().with_selected(Some(p.column));
    frame.render_stateful_widget(table, left, &mut state);
    if let Some(c) = d.columns.get(p.column) {
        column(frame, right, c, theme);
    }
}

fn column(frame: &mut Frame, area: Rect, c: &ColumnView, theme: &Theme) {
    let about = if c.distinct_exact { "" } else { "~" };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(c.name.as_str(), theme.heading()),
            Span::raw(format!(" ({}), {about}{} distinct", c.ty, c.distinct)),
        ]),
        Line::raw(format!(
            "count {}  nulls {} ({:.2}%)",
            c.count,
            c.nulls,
            c.null_rate * 100.0
        )),
    ];
    if let Some(n) = &c.numeric {
        lines.push(Line::raw(format!("min {}  max {}", n.min, n.max)));
        lines.push(Line::raw(format!("mean {}  std {:.4}", n.mean, n.std)));
        let qs: Vec<String> = n
            .quantiles
            .iter()
            .map(|(p, v)| format!("p{p} {v}"))
            .collect();
        for chunk in qs.chunks(3) {
            lines.push(Line::raw(chunk.join("  ")));
        }
        lines.push(Line::styled(
            format!(
                "histogram, {} bins{}",
                n.histogram.len(),
                if n.sampled { " (from a sample)" } else { "" }
            ),
            theme.heading(),
        ));
        let [text, chart, axis, _] = Layout::vertical([
            Constraint::Length(lines.len() as u16),
            Constraint::Max(8),
            Constraint::Length(1),
            Constraint::Fill(1),
        ])
        .areas(area);
        frame.render_widget(Paragraph::new(lines), text);
        let bins = n.histogram.len() as u16;
        let gap = u16::from(bins * 2 <= chart.width);
        let bars: Vec<Bar> = n
            .histogram
            .iter()
            .map(|&v| Bar::new(v).text_value(String::new()))
            .collect();
        frame.render_widget(
            BarChart::new(bars)
                .bar_width(1)
                .bar_gap(gap)
                .bar_set(theme.bars())
                .bar_style(theme.good()),
            chart,
        );
        // The axis: min under the first bar, max under the last.
        let span = usize::from(if gap == 1 {
            (bins * 2).saturating_sub(1)
        } else {
            bins
        });
        frame.render_widget(
            Paragraph::new(format!(
                "{}{:>w$}",
                n.min,
                n.max.as_str(),
                w = span.saturating_sub(n.min.as_str().chars().count())
            )),
            axis,
        );
        return;
    }
    lines.push(Line::styled("most frequent values", theme.heading()));
    // Value, a bar as long as its share of the largest count, count and share of all.
    let most = c.top.first().map_or(1, |(_, n)| (*n).max(1));
    let bar_room = usize::from(area.width).saturating_sub(29).max(1);
    let full = theme.bars().full;
    for (value, count) in c
        .top
        .iter()
        .take(usize::from(area.height).saturating_sub(lines.len()))
    {
        let len = ((*count as f64 / most as f64) * bar_room as f64).round() as usize;
        let shown: String = value.as_str().chars().take(14).collect();
        lines.push(Line::from(vec![
            Span::raw(format!("{shown:<14} ")),
            Span::styled(full.repeat(len.max(1)), theme.good()),
            Span::raw(format!(
                "{:pad$} {count} ({:.1}%)",
                "",
                *count as f64 * 100.0 / c.count.max(1) as f64,
                pad = bar_room - len.max(1).min(bar_room)
            )),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), area);
}
