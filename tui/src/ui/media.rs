//! The Media screen: the bundles found on the media (a split bundle once, by its first part)
//! and the folders searched; for the selected one its file and what the keys do; an
//! inspected bundle's manifest full height.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};

use super::{Theme, prose};
use crate::app::App;
use crate::media::{self, MOUNT_POINTS};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let m = &app.media;
    let width = usize::from(area.width.saturating_sub(2));
    if let Some((d, scroll)) = &m.open {
        let lines: Vec<Line> = d
            .text()
            .into_iter()
            .map(|l| Line::raw(format!(" {l}")))
            .collect();
        let block = theme.block().title(format!(
            " Bundle {}: {} object(s) from site {} ",
            file_name(&d.path),
            d.objects.len(),
            d.origin
        ));
        frame.render_widget(
            Paragraph::new(lines)
                .block(block)
                .wrap(Wrap { trim: false })
                .scroll((u16::try_from(*scroll).unwrap_or(u16::MAX), 0)),
            area,
        );
        return;
    }
    let v = &m.view;
    let searched = if v.folders_shown.is_empty() {
        let usual: Vec<String> = MOUNT_POINTS
            .iter()
            .map(|(base, depth)| format!("/{base}{}", "/*".repeat(*depth)))
            .collect();
        format!(
            "no media mounted (looked in {}); start the console with --media DIR to name a \
             folder",
            usual.join(", ")
        )
    } else {
        v.folders_shown
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if v.bundles.is_empty() {
        let mut lines = prose(&format!("No bundles found. Searched: {searched}."), width);
        lines.push(Line::raw(""));
        lines.extend(prose(
            &format!(
                "Site cards found: {}. e starts the export wizard (airlock bundle export).",
                v.cards.len()
            ),
            width,
        ));
        frame.render_widget(
            Paragraph::new(lines).block(theme.block().title(" Media: no bundles ")),
            area,
        );
        return;
    }
    let list_height = (v.bundles.len() as u16 + 3).clamp(4, 12);
    let [top, bottom] =
        Layout::vertical([Constraint::Length(list_height), Constraint::Fill(1)]).areas(area);
    let rows = v.bundles.iter().map(|b| {
        Row::new(vec![
            Cell::from(b.name.as_str()),
            Cell::from(Line::raw(b.parts.to_string()).right_aligned()),
            Cell::from(Line::raw(media::bytes(b.bytes)).right_aligned()),
            Cell::from(if b.problem.is_some() {
                "NOT READABLE"
            } else {
                "bundle"
            }),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Fill(1),
            Constraint::Length(5),
            Constraint::Length(10),
            Constraint::Length(12),
        ],
    )
    .header(
        Row::new(vec![
            Cell::from("file"),
            Cell::from(Line::raw("parts").right_aligned()),
            Cell::from(Line::raw("size").right_aligned()),
            Cell::from("what"),
        ])
        .style(theme.heading()),
    )
    .row_highlight_style(theme.selected())
    .highlight_symbol(">")
    .block(theme.block().title(format!(
        " Media: {} bundle(s), {} site card(s) ",
        v.bundles.len(),
        v.cards.len()
    )));
    let mut state = TableState::default().with_selected(Some(m.selected));
    frame.render_stateful_widget(table, top, &mut state);

    let Some(b) = m.current() else {
        return;
    };
    let mut lines = prose(&format!("In {}.", b.folder), width);
    if b.parts > 1 {
        lines.extend(prose(
            &format!(
                "A split bundle: {} parts found beside this first one, read as one.",
                b.parts
            ),
            width,
        ));
    }
    if let Some(p) = &b.problem {
        lines.extend(
            prose(&format!("It cannot be read as a bundle: {p}"), width)
                .into_iter()
                .map(|l| l.style(theme.bad())),
        );
    }
    lines.push(Line::raw(""));
    lines.extend(prose(
        "Enter shows its manifest (signature and origin checked), v checks every part and \
         object as an import would, i imports it after asking, e exports from this site.",
        width,
    ));
    lines.push(Line::raw(""));
    lines.extend(prose(&format!("Searched: {searched}."), width));
    frame.render_widget(
        Paragraph::new(lines).block(theme.block().title(format!(" {} ", b.name))),
        bottom,
    );
}

fn file_name(path: &std::path::Path) -> crate::shown::Shown {
    crate::shown::Shown::new(&path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    ))
}
