//! Dialogs: results, errors in full, and the confirmation before anything is signed.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::{Theme, centered};
use crate::app::{App, Dialog};
use crate::deploy;
use crate::form::{Confirm, Field, Focus, Intent, label};
use crate::view::ModelRow;

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

/// Long work running: what it is, a bar of how far it is, the lines it reported (a training
/// run's epochs), and that it cannot be cancelled.
pub fn working(frame: &mut Frame, body: Rect, w: &crate::work::Working, theme: &Theme) {
    let inner = usize::from(WIDTH) - 4;
    let cells = inner.saturating_sub(8);
    let filled = ((w.ratio() * cells as f64).round() as usize).min(cells);
    let (full, empty) = if theme.ascii {
        ("#", "-")
    } else {
        ("█", "░")
    };
    let mut lines = vec![
        Line::raw(format!(
            " [{}{}] {:>3.0}%",
            full.repeat(filled),
            empty.repeat(cells - filled),
            w.ratio() * 100.0
        )),
        Line::raw(format!(" {}", w.says())),
    ];
    if w.waiting {
        lines.push(Line::styled(format!(" {}", crate::WAITING), theme.bad()));
    }
    if !w.lines.is_empty() {
        lines.push(Line::raw(""));
        lines.extend(w.lines.iter().map(|l| Line::raw(format!(" {l}"))));
    }
    lines.push(Line::raw(""));
    lines.extend(prose(
        "It cannot be cancelled half-way (the library offers no way to). Ctrl-C leaves the \
         console and ends it as Ctrl-C ends the command.",
    ));
    let height = lines.len() as u16 + 2;
    let area = centered(body, WIDTH, height);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(theme.block().title(format!(" {}... ", w.label))),
        area,
    );
}

/// Lines of prose in a dialog, wrapped, each with a leading space.
fn prose(text: &str) -> Vec<Line<'static>> {
    super::prose(text, usize::from(WIDTH) - 4)
}

fn field_line<'a>(f: &Field, focused: bool, theme: &Theme) -> Line<'a> {
    // Only characters safe to draw can be typed into a field (form::Confirm::on_key); a
    // choice's options are escaped (Shown).
    let value = match f {
        Field::Text { value, .. } => {
            format!("{}{}", tail(value, 39), if focused { "_" } else { "" })
        }
        Field::Choice { options, at, .. } => {
            let shown = options.get(*at).map_or("", |c| c.shown.as_str());
            if options.len() > 1 {
                format!("< {} >", head(shown, 36))
            } else {
                head(shown, 40)
            }
        }
    };
    let hint = match f {
        Field::Text { hint, .. } if !hint.is_empty() => format!(" {hint}"),
        Field::Choice { options, .. } if options.len() > 1 && focused => " <- ->".into(),
        _ => String::new(),
    };
    field(f.label(), value, focused, hint, theme)
}

fn field<'a>(
    label: &'static str,
    value: String,
    focused: bool,
    hint: String,
    theme: &Theme,
) -> Line<'a> {
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
        Span::styled(hint, theme.dim()),
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

fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

/// The model a deployment names, from whichever registry is loaded.
fn model_row<'a>(app: &'a App, hex: &str) -> Option<&'a ModelRow> {
    app.slots
        .view
        .model(hex)
        .or_else(|| app.models.rows.iter().find(|m| m.id_hex == hex))
}

/// What the confirmation says will happen, and its title.
fn says(c: &Confirm, app: &App) -> (String, Vec<Line<'static>>) {
    let who = app
        .operator
        .as_ref()
        .map(|o| o.as_str().to_string())
        .unwrap_or_default();
    match &c.intent {
        Intent::Approve(m) => (
            format!(
                " Approve model {}? (Cancel is the default) ",
                short(m.id.as_str())
            ),
            [
                format!("You are about to sign, with operator {who}'s key,"),
                format!(
                    "an approval of model {} {} ({} {}),",
                    short(m.id.as_str()),
                    m.name,
                    m.task,
                    m.arch
                ),
                format!(
                    "trained at site {}; gate {}; {} approval(s) so far.",
                    m.site, m.gate, m.approvals
                ),
                "It names the gate report that counts and carries your note;".into(),
                "it is recorded in the audit log with your key id (airlock approve).".into(),
                "Reviewed: yes only if you reviewed the checks marked needs review.".into(),
            ]
            .iter()
            .map(|l| Line::raw(format!(" {l}")))
            .collect(),
        ),
        Intent::Deploy => {
            let hex = c.value(label::MODEL);
            let slot = c.value(label::SLOT).trim();
            let percent = c.value(label::PERCENT).trim();
            let model = match model_row(app, hex) {
                Some(m) => format!(
                    "model {} {} ({} {}), trained at site {},",
                    short(m.id.as_str()),
                    m.name,
                    m.task,
                    m.arch,
                    m.site
                ),
                None => format!("model {},", short(hex)),
            };
            let share = if percent.is_empty() {
                String::new()
            } else {
                format!(" for {percent}% of requests")
            };
            let mut lines = vec![Line::raw(format!(
                " You are about to deploy, signed with operator {who}'s key,"
            ))];
            lines.push(Line::raw(format!(" {model}")));
            lines.extend(prose(&format!(
                "to slot {slot:?}{share}, which now holds {}. The gate and the approvals the \
                 slot needs are checked; the deployment is recorded in the audit log with your \
                 key id (airlock deploy). A running `airlock serve` takes it up within a second.",
                app.holder(slot)
            )));
            (
                format!(" Deploy model {}? (Cancel is the default) ", short(hex)),
                lines,
            )
        }
        Intent::Promote => {
            let mut lines = prose(&format!(
                "You are about to promote the canary, signed with operator {who}'s key."
            ));
            lines.extend(prose(&super::capitalised(&deploy::promote_says(
                &app.slots.view,
            ))));
            lines.extend(prose(
                "It is checked as a deploy to production under today's trust policy (gate, \
                 approvals), done in one transaction and recorded in the audit log with your \
                 key id (airlock promote).",
            ));
            (
                " Promote the canary? (Cancel is the default) ".into(),
                lines,
            )
        }
        Intent::Rollback => {
            let slot = c.value(label::SLOT).trim().to_string();
            let says = match c.value(label::TO) {
                "" => deploy::rollback_says(&app.slots.view, &slot),
                to => deploy::rollback_to_says(&app.slots.view, &slot, to),
            };
            let mut lines = prose(&format!(
                "You are about to roll slot {slot:?} back, signed with operator {who}'s key: \
                 {says}"
            ));
            lines.extend(prose(
                "A model it goes back to is checked as a deploy under today's trust policy; \
                 the reason goes into the signed deployment record and the audit log with \
                 your key id (airlock rollback, --to for a chosen model).",
            ));
            (
                format!(" Roll back slot {slot:?}? (Cancel is the default) "),
                lines,
            )
        }
        Intent::Import(d) => {
            let mut lines = prose(&format!(
                "You are about to import bundle {} from site {} (sequence {}, {}; made {}, \
                 expires {}{}): {} object(s), {} bytes: {}.",
                short(d.id.as_str()),
                d.origin,
                d.sequence,
                d.sequence_says,
                d.created,
                d.expires,
                if d.expired { ", EXPIRED" } else { "" },
                d.objects.len(),
                d.object_bytes(),
                d.kinds()
            ));
            lines.extend(prose(
                "Every part and object is checked first (signatures, digests, sizes); nothing \
                 is written unless all pass, then all of it in one transaction. The import, or \
                 its refusal, is recorded in the audit log (airlock bundle import).",
            ));
            (
                format!(
                    " Import bundle {}? (Cancel is the default) ",
                    short(d.id.as_str())
                ),
                lines,
            )
        }
        Intent::Export => {
            let to = match c.value(label::TO) {
                "" => format!("the site whose card is {:?}", c.value(label::CARD_FILE)),
                chosen => app
                    .media
                    .view
                    .cards
                    .iter()
                    .find(|k| k.path.display().to_string() == chosen)
                    .map_or_else(|| chosen.to_string(), |k| format!("site {}", k.site)),
            };
            let split = match c.value(label::SPLIT).trim() {
                "" => "in one file".to_string(),
                s => format!("in parts of at most {s}"),
            };
            let by = if c.asks_pass {
                format!(", authorised by operator {who}'s key (the export role)")
            } else {
                String::new()
            };
            let mut lines = prose(&format!(
                "You are about to export {} to {to}, into {:?} {split}: signed with this \
                 site's key{by}, encrypted to the recipient, expiring in {} days.",
                c.value(label::WHAT).trim(),
                std::path::Path::new(c.value(label::FOLDER).trim())
                    .join(c.value(label::FILE).trim())
                    .display()
                    .to_string(),
                crate::console::EXPIRES_IN_DAYS
            ));
            lines.extend(prose(
                "Recorded in the audit log, or its refusal (airlock bundle export). What: \
                 model:ID dataset:NAME[@V] monitor:MODEL policy:FILE, by spaces.",
            ));
            (" Export a bundle (Cancel is the default) ".into(), lines)
        }
        Intent::Train => {
            let lines = prose(&format!(
                "You are about to train a {} {} model on dataset {} with feature set {}, {} \
                 epochs at most, seed {}, in the sandboxed worker. The model is registered \
                 with its signed run record and recorded in the audit log (airlock train). \
                 The worker's epochs are shown as they end.",
                c.value(label::TASK),
                c.value(label::MODEL),
                c.value(label::DATASET),
                c.value(label::FEATURES),
                c.value(label::EPOCHS).trim(),
                c.value(label::SEED).trim()
            ));
            (" Train a model? (Cancel is the default) ".into(), lines)
        }
    }
}

fn confirm(frame: &mut Frame, body: Rect, c: &Confirm, app: &App, theme: &Theme) {
    let (title, mut lines) = says(c, app);
    lines.push(Line::raw(""));
    for (i, f) in c.fields.iter().enumerate() {
        lines.push(field_line(f, c.focus == Focus::Field(i), theme));
    }
    if c.asks_pass {
        lines.push(field(
            "Passphrase",
            // Neither the passphrase nor its length is ever drawn.
            if c.pass.is_empty() {
                "(not shown as you type)".into()
            } else {
                "(typed; not shown)".into()
            },
            c.focus == Focus::Passphrase,
            String::new(),
            theme,
        ));
    }
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
        Paragraph::new(lines).block(theme.block().title(title)),
        area,
    );
}

/// The last `n` characters of `s`, so the end being typed stays visible.
fn tail(s: &str, n: usize) -> String {
    let count = s.chars().count();
    s.chars().skip(count.saturating_sub(n)).collect()
}

/// The first `n` characters of `s`.
fn head(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}
