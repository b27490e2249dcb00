//! Drawing: functions of the [`App`] state that only read it. Each screen has its module;
//! this one lays out the frame (body, key bar, screen bar), the help, the dialogs and the
//! "terminal too small" message.

mod accuracy;
mod audit;
mod data;
mod deploy;
mod dialog;
mod features;
mod media;
mod models;
mod monitor;
mod overview;
pub mod theme;
mod training;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use crate::app::{App, Screen};
use crate::keys::{self, Binding};
pub use theme::Theme;

/// The smallest screen the console lays out.
pub const MIN_WIDTH: u16 = 80;
/// The smallest screen the console lays out.
pub const MIN_HEIGHT: u16 = 24;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App, theme: &Theme) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area, theme);
        return;
    }
    let [body, keybar, screenbar] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    match app.screen {
        Screen::Overview => overview::draw(frame, body, app, theme),
        Screen::Data => data::draw(frame, body, app, theme),
        Screen::Features => features::draw(frame, body, app, theme),
        Screen::Training => training::draw(frame, body, app, theme),
        Screen::Models => models::draw(frame, body, app, theme),
        Screen::Deploy => deploy::draw(frame, body, app, theme),
        Screen::Monitor => monitor::draw(frame, body, app, theme),
        Screen::Media => media::draw(frame, body, app, theme),
        Screen::Audit => audit::draw(frame, body, app, theme),
    }
    key_bar(frame, keybar, app, theme);
    screen_bar(frame, screenbar, app, theme);
    if app.help {
        help(frame, body, app, theme);
    }
    if let Some(d) = &app.dialog {
        dialog::draw(frame, body, d, app, theme);
    }
    if let Some(what) = app.busy {
        dialog::busy(frame, body, what, theme);
    }
    if let Some(w) = &app.work {
        dialog::working(frame, body, w, theme);
    }
}

fn too_small(frame: &mut Frame, area: Rect, theme: &Theme) {
    let x = theme.times();
    let text = format!(
        "terminal too small (need {MIN_WIDTH}{x}{MIN_HEIGHT}, have {}{x}{}): enlarge it, or press q to quit",
        area.width, area.height
    );
    let height = 3.min(area.height);
    let y = area.y + area.height.saturating_sub(height) / 2;
    frame.render_widget(
        Paragraph::new(text)
            .style(theme.bad())
            .wrap(Wrap { trim: true }),
        Rect::new(area.x, y, area.width, height),
    );
}

/// The bindings the bar and the help list: a view's `own`, then the global keys it does not
/// override, when they apply (`global`).
pub fn listed(own: &[Binding], global: bool) -> Vec<Binding> {
    let mut out: Vec<Binding> = own.to_vec();
    if global {
        for g in keys::GLOBAL {
            if !own
                .iter()
                .any(|b| b.codes.iter().any(|c| g.codes.contains(c)))
            {
                out.push(*g);
            }
        }
    }
    out
}

fn key_bar(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let items: Vec<(String, &str)> = listed(app.bindings(), app.global_keys())
        .iter()
        .filter_map(|b| b.bar.map(|label| (theme.key(b.keys), label)))
        .collect();
    let width = |items: &[(String, &str)]| -> usize {
        items
            .iter()
            .map(|(k, l)| k.chars().count() + l.chars().count() + 3)
            .sum::<usize>()
            + 1
    };
    // Too many for one line: drop from the end, but never the help key.
    let mut items = items;
    while width(&items) > usize::from(area.width) && items.len() > 1 {
        let drop = items
            .iter()
            .rposition(|(k, _)| k != "?" && k != "any key")
            .unwrap_or(items.len() - 1);
        items.remove(drop);
    }
    let mut spans = vec![Span::raw(" ")];
    for (k, l) in items {
        spans.push(Span::styled(k, theme.keyname()));
        spans.push(Span::raw(format!(" {l}  ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn screen_bar(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let site = app.overview.as_ref().map(|o| o.site.as_str()).unwrap_or("");
    // Who signs, said as fully as the room allows.
    let said: Vec<String> = match (&app.operator, site) {
        (Some(o), "") => vec![format!("operator {o}"), format!("{o}")],
        (Some(o), site) => vec![
            format!("site {site}, operator {o}"),
            format!("{o} at {site}"),
            format!("{o}"),
        ],
        (None, "") => vec!["no operator".into(), "read only".into()],
        (None, site) => vec![
            format!("site {site}, no operator"),
            format!("{site}, read only"),
            "read only".into(),
        ],
    };
    let tabs = |short: bool| {
        let mut spans = vec![Span::raw(" ")];
        for s in Screen::ALL {
            let title = if short && s != app.screen {
                s.short_title()
            } else {
                s.title()
            };
            let label = format!("{} {title}", s.key());
            if s == app.screen {
                spans.push(Span::styled(label, theme.selected()));
            } else {
                spans.push(Span::raw(label));
            }
            spans.push(Span::raw(" "));
        }
        spans
    };
    let room_after = |spans: &[Span]| {
        let left: usize = spans.iter().map(|s| s.content.chars().count()).sum();
        usize::from(area.width).saturating_sub(left)
    };
    // The other screens' names shortened when in full they leave no room to say who signs.
    let mut spans = tabs(false);
    if said
        .get(1)
        .is_some_and(|w| w.chars().count() > room_after(&spans))
    {
        spans = tabs(true);
    }
    let room = room_after(&spans);
    let who = said
        .iter()
        .find(|w| w.chars().count() <= room)
        .map(|w| format!("{w:>room$}"))
        .unwrap_or_default();
    spans.push(Span::styled(who, theme.dim()));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn help(frame: &mut Frame, body: Rect, app: &App, theme: &Theme) {
    // The keys of the view under the help (help opens only where the global keys apply).
    let rows: Vec<Line> = listed(app.view_bindings(), true)
        .iter()
        .filter(|b| !b.help.is_empty() && !b.keys.is_empty())
        .map(|b| {
            Line::from(vec![
                Span::styled(format!(" {:<10}", theme.key(b.keys)), theme.keyname()),
                Span::raw(b.help),
            ])
        })
        .collect();
    let height = (rows.len() as u16 + 2).min(body.height);
    let area = centered(body, 76, height);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(rows).wrap(Wrap { trim: false }).block(
            theme
                .block()
                .title(format!(" Keys: {} (any key closes) ", view_name(app))),
        ),
        area,
    );
}

/// The name of the view on screen, for titles.
fn view_name(app: &App) -> &'static str {
    match app.screen {
        Screen::Data if app.data.profile.is_some() => "dataset profile",
        Screen::Data if app.data.diff.is_some() => "contract diff",
        Screen::Data if app.data.record.is_some() => "refused ingest",
        Screen::Models if app.models.card.is_some() => "model card",
        Screen::Models if app.models.detail.is_some() => "model detail",
        Screen::Audit if app.audit.record.is_some() => "audit record",
        Screen::Features if app.features.detail.is_some() => "feature set",
        Screen::Training if app.training.detail.is_some() => "training run",
        Screen::Monitor if app.monitor.picker.is_some() => "labels",
        Screen::Monitor if app.monitor.accuracy.is_some() => "accuracy over time",
        Screen::Monitor if app.monitor.open.is_some() => "window drift",
        Screen::Media if app.media.open.is_some() => "bundle manifest",
        s => s.title(),
    }
}

/// `text` broken at spaces into lines of at most `width` characters (a longer word is
/// left whole, for the widget to clip).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push(line);
    out
}

/// Prose wrapped to `width`, each line with a leading space (the margin inside a border).
pub fn prose(text: &str, width: usize) -> Vec<Line<'static>> {
    wrap(text, width.saturating_sub(1))
        .into_iter()
        .map(|l| Line::raw(format!(" {l}")))
        .collect()
}

/// `s` with its first letter in capitals.
pub fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// A `width` by `height` rectangle in the middle of `area` (clipped to it).
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}
