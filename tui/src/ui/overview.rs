//! The Overview: who this node is, what rules it, what runs, and whether its log and its air
//! gap hold.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::Theme;
use crate::app::App;
use crate::view::Overview;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let block = theme.block().title(" Overview ");
    let lines = match &app.overview {
        None => vec![Line::raw(" loading...")],
        Some(o) => lines(o, app, theme),
    };
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn row<'a>(label: &'static str, value: Vec<Span<'a>>, theme: &Theme) -> Line<'a> {
    let mut spans = vec![Span::styled(format!(" {label:<12} "), theme.heading())];
    spans.extend(value);
    Line::from(spans)
}

fn plain(s: impl Into<String>) -> Vec<Span<'static>> {
    vec![Span::raw(s.into())]
}

fn styled(s: impl Into<String>, style: Style) -> Vec<Span<'static>> {
    vec![Span::styled(s.into(), style)]
}

fn lines<'a>(o: &'a Overview, app: &App, theme: &Theme) -> Vec<Line<'a>> {
    let mut out = vec![
        row(
            "Site",
            vec![
                Span::raw(o.site.as_str()),
                Span::raw("   signing key id "),
                Span::raw(o.key_id.as_str()),
            ],
            theme,
        ),
        row(
            "Policy",
            match &o.policy {
                None => plain("setup mode: no trust policy in force"),
                Some(p) => plain(format!(
                    "trust policy v{}: root keys {} of {}, {} peer(s), {} operator(s)",
                    p.version, p.root_threshold, p.root_keys, p.peers, p.operators
                )),
            },
            theme,
        ),
        row(
            "Operator",
            match &app.operator {
                Some(name) => plain(format!("{name} (signs approvals and deployments)")),
                None => plain("none: start with --operator NAME to approve or deploy"),
            },
            theme,
        ),
    ];
    let gap = &o.air_gap;
    out.push(row(
        "Air gap",
        if gap.sealed() {
            styled(
                "sealed: no interface up but loopback, no default route",
                theme.good(),
            )
        } else {
            let mut why = Vec::new();
            if !gap.interfaces_up.is_empty() {
                why.push(format!("up: {}", gap.interfaces_up.join(", ")));
            }
            if !gap.default_routes.is_empty() {
                why.push(format!(
                    "default route via {}",
                    gap.default_routes.join(", ")
                ));
            }
            if !gap.unreadable.is_empty() {
                why.push(format!("cannot read {}", gap.unreadable.join(", ")));
            }
            // Interface names come from the kernel; escaped all the same.
            styled(
                crate::shown::Shown::new(&format!("NOT SEALED: {}", why.join("; "))).to_string(),
                theme.bad(),
            )
        },
        theme,
    ));
    out.push(row(
        "Install",
        match &o.install_seal {
            None => plain("not sealed by airlock-install (a development or test home)"),
            Some(r) => vec![
                Span::styled("sealed", theme.good()),
                Span::raw(format!(" by airlock-install, record #{} ", r.seq)),
                Span::raw(r.time.as_str()),
                Span::raw("; airlock-install verify checks it"),
            ],
        },
        theme,
    ));
    out.push(row(
        "Audit log",
        match &o.audit {
            None => plain("not verified"),
            Some(Ok(v)) => styled(
                format!(
                    "intact: {} records, signed checkpoint at record {}",
                    v.records,
                    v.checkpoint.unwrap_or(0)
                ),
                theme.good(),
            ),
            Some(Err(e)) => styled(
                format!(
                    "DOES NOT VERIFY (exit {}, {}): v shows why",
                    e.exit_code,
                    e.meaning()
                ),
                theme.bad(),
            ),
        },
        theme,
    ));
    out.push(row(
        "Last record",
        match &o.last_record {
            None => plain("none"),
            Some(r) => vec![
                Span::raw(format!("#{} ", r.seq)),
                Span::raw(r.time.as_str()),
                Span::raw(" "),
                Span::raw(r.action.as_str()),
                Span::raw(" by "),
                Span::raw(if r.actor_name.is_empty() {
                    r.actor.as_str()
                } else {
                    r.actor_name.as_str()
                }),
            ],
        },
        theme,
    ));
    out.push(row(
        "Holdings",
        plain(format!(
            "{} dataset(s), {} contract(s), {} model(s), {} operator(s)",
            o.datasets, o.contracts, o.models, o.operators
        )),
        theme,
    ));
    out.push(Line::raw(""));
    out.push(Line::styled(" Deployments", theme.heading()));
    if o.deployments.is_empty() {
        out.push(Line::raw("   none: no model is deployed to any slot"));
    }
    for d in &o.deployments {
        out.push(Line::from(vec![
            Span::raw(format!("   {:<14} ", d.slot.as_str())),
            Span::raw(d.model.as_str().chars().take(12).collect::<String>()),
            Span::raw("  "),
            Span::raw(d.name.as_str()),
            Span::raw("  trained at site "),
            Span::raw(d.site.as_str()),
        ]));
    }
    out
}
