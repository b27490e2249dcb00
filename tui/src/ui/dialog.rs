//! Dialogs: results, errors in full, and the confirmation before anything is signed.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::{Theme, centered};
use crate::app::{App, Confirm, Dialog, Focus, Intent};

/// Width of every dialog (clipped to the screen).
const WIDTH: u16 = 76;

pub fn draw(frame: &mut Frame, body: Rect, dialog: &Dialog, app: &App, theme: &Theme) {
    match dialog {
        Dialog::Message { title, text } => boxed(
            frame,
            body,
            format!(" {title} "),
            text.as_str()
                .lines()
                .map(|l| Line::raw(l.to_string()))
                .chain([
                    Line::raw(""),
                    Line::styled("Enter or Esc closes this.", theme.dim()),
                ]),
            Style::default(),
            theme,
        ),
        Dialog::Error { title, error } => {
            let mut lines: Vec<Line> = Vec::new();
            // As `airlock` prints it: "error: " and the message, its own lines kept.
            for (i, l) in error.message.as_str().lines().enumerate() {
                lines.push(Line::raw(if i == 0 {
                    format!("error: {l}")
                } else {
                    l.to_string()
                }));
            }
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                format!(
                    "exit code {} ({}) on the command line",
                    error.exit_code,
                    error.meaning()
                ),
                theme.bad(),
            ));
            lines.push(Line::styled("Enter or Esc closes this.", theme.dim()));
            boxed(
                frame,
                body,
                format!(" {title} failed "),
                lines,
                theme.bad(),
                theme,
            );
        }
        Dialog::Confirm(c) => confirm(frame, body, c, app, theme),
    }
}

/// Lines `lines` take when wrapped at `width`.
fn wrapped_height(lines: &[Line], width: u16) -> u16 {
    let w = usize::from(width.max(1));
    lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(w))
        .sum::<usize>()
        .try_into()
        .unwrap_or(u16::MAX)
}

fn boxed<'a>(
    frame: &mut Frame,
    body: Rect,
    title: String,
    lines: impl IntoIterator<Item = Line<'a>>,
    border: Style,
    theme: &Theme,
) {
    let lines: Vec<Line> = lines.into_iter().collect();
    let width = WIDTH.min(body.width);
    let height = wrapped_height(&lines, width.saturating_sub(4)).saturating_add(2);
    let area = centered(body, width, height.max(5));
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            theme
                .block()
                .title(title)
                .border_style(border)
                .padding(ratatui::widgets::Padding::horizontal(1)),
        ),
        area,
    );
}

/// A one-line "working" box while a task runs.
pub fn busy(frame: &mut Frame, body: Rect, what: &str, theme: &Theme) {
    let text = format!("{what}...");
    let area = centered(body, (text.chars().count() as u16 + 6).min(WIDTH), 3);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(format!(" {text}")).block(theme.block().title(" working ")),
        area,
    );
}

fn field<'a>(label: &'static str, value: String, focused: bool, theme: &Theme) -> Line<'a> {
    let value = format!("{value:<40}");
    Line::from(vec![
        Span::styled(format!(" {label:<11} "), theme.heading()),
        Span::raw("["),
        Span::styled(
            value,
            if focused {
                theme.selected()
            } else {
                Style::default()
            },
        ),
        Span::raw("]"),
    ])
}

fn button<'a>(label: &str, focused: bool, theme: &Theme) -> Span<'a> {
    let text = format!("[ {label} ]");
    if focused {
        // Reverse video and a marker: the choice is visible without colour.
        Span::styled(format!(">{text}<"), theme.selected())
    } else {
        Span::raw(format!(" {text} "))
    }
}

fn confirm(frame: &mut Frame, body: Rect, c: &Confirm, app: &App, theme: &Theme) {
    let m = &c.model;
    let who = app
        .operator
        .as_ref()
        .map(|o| o.as_str().to_string())
        .unwrap_or_default();
    let short: String = m.id.as_str().chars().take(12).collect();
    let mut lines = match c.intent {
        Intent::Approve => vec![
            Line::raw(format!(
                " You are about to sign, with operator {who}'s key,"
            )),
            Line::raw(format!(
                " an approval of model {short} {} ({} {}),",
                m.name, m.task, m.arch
            )),
            Line::raw(format!(
                " trained at site {}; gate {}; {} approval(s) so far.",
                m.site, m.gate, m.approvals
            )),
            Line::raw(" It names the gate report that counts and carries your note;"),
            Line::raw(" it is recorded in the audit log with your key id (airlock approve)."),
        ],
        Intent::Deploy => {
            let holder = app
                .models
                .rows
                .iter()
                .find(|r| r.deployed.as_ref().is_some_and(|s| s.as_str() == c.text))
                .map(|r| {
                    format!(
                        "model {} {}",
                        r.id.as_str().chars().take(12).collect::<String>(),
                        r.name
                    )
                })
                .unwrap_or_else(|| "nothing".into());
            vec![
                Line::raw(format!(
                    " You are about to deploy, signed with operator {who}'s key,"
                )),
                Line::raw(format!(
                    " model {short} {} ({} {}), trained at site {},",
                    m.name, m.task, m.arch, m.site
                )),
                Line::raw(format!(" to slot {:?}, which now holds {holder}.", c.text)),
                Line::raw(" The gate and the approvals the slot needs are checked; the"),
                Line::raw(" deployment is recorded in the audit log with your key id"),
                Line::raw(" (airlock deploy). `airlock serve` picks it up when restarted."),
            ]
        }
    };
    lines.push(Line::raw(""));
    lines.push(field(
        match c.intent {
            Intent::Approve => "Note",
            Intent::Deploy => "Slot",
        },
        // Only characters safe to draw can be typed into it (app::dialog_key).
        format!(
            "{}{}",
            tail(&c.text, 39),
            if c.focus == Focus::Text { "_" } else { "" }
        ),
        c.focus == Focus::Text,
        theme,
    ));
    lines.push(field(
        "Passphrase",
        // Neither the passphrase nor its length is ever drawn.
        if c.pass.is_empty() {
            "(not shown as you type)".into()
        } else {
            "(typed; not shown)".into()
        },
        c.focus == Focus::Passphrase,
        theme,
    ));
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::raw("              "),
        button("Cancel", c.focus == Focus::Cancel, theme),
        Span::raw("      "),
        button(c.intent.verb(), c.focus == Focus::Confirm, theme),
    ]));
    let height = lines.len() as u16 + 2;
    let area = centered(body, WIDTH, height);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(theme.block().title(format!(
            " {} model {short}? (Cancel is the default) ",
            c.intent.verb()
        ))),
        area,
    );
}

/// The last `n` characters of `s`, so the end being typed stays visible.
fn tail(s: &str, n: usize) -> String {
    let count = s.chars().count();
    s.chars().skip(count.saturating_sub(n)).collect()
}
