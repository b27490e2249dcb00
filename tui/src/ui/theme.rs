//! Styles and glyphs: colour only as an accent (never the only sign of anything), none at all
//! under `NO_COLOR`; selection always in reverse video; ASCII borders and bars for serial
//! consoles (`--ascii`).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols;
use ratatui::widgets::{Block, BorderType, Borders};

/// How the console draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    /// Colours allowed (no `NO_COLOR`).
    pub color: bool,
    /// ASCII only for borders, bars and key names.
    pub ascii: bool,
}

/// Borders in plain ASCII.
const ASCII_BORDER: symbols::border::Set<'static> = symbols::border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

/// Bar chart levels in plain ASCII.
const ASCII_BARS: symbols::bar::Set<'static> = symbols::bar::Set {
    full: "#",
    seven_eighths: "#",
    three_quarters: "#",
    five_eighths: "#",
    half: "#",
    three_eighths: ".",
    one_quarter: ".",
    one_eighth: ".",
    empty: " ",
};

impl Theme {
    /// The theme for `NO_COLOR`'s value (colour is off when it is set and not empty,
    /// <https://no-color.org>) and `--ascii`.
    pub fn new(no_color: Option<&std::ffi::OsStr>, ascii: bool) -> Self {
        Theme {
            color: no_color.is_none_or(|v| v.is_empty()),
            ascii,
        }
    }

    /// A bordered block.
    pub fn block(&self) -> Block<'static> {
        let b = Block::default().borders(Borders::ALL);
        if self.ascii {
            b.border_set(ASCII_BORDER)
        } else {
            b.border_type(BorderType::Plain)
        }
    }

    /// Bar chart levels.
    pub fn bars(&self) -> symbols::bar::Set<'static> {
        if self.ascii {
            ASCII_BARS
        } else {
            symbols::bar::NINE_LEVELS
        }
    }

    /// A key's name as drawn: arrows spelt out in ASCII mode.
    pub fn key(&self, k: &'static str) -> String {
        if self.ascii {
            k.replace("↑↓", "Up/Dn")
                .replace("←→", "Lt/Rt")
                .replace('↑', "Up")
                .replace('↓', "Dn")
        } else {
            k.to_string()
        }
    }

    /// "×" or "x".
    pub fn times(&self) -> &'static str {
        if self.ascii { "x" } else { "×" }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    /// The selected row or button.
    pub fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }

    /// Section headings and labels.
    pub fn heading(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// Something wrong; always with words that say so.
    pub fn bad(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// Something right.
    pub fn good(&self) -> Style {
        self.fg(Color::Green)
    }

    /// Keys in the bar.
    pub fn keyname(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }

    /// Secondary text.
    pub fn dim(&self) -> Style {
        self.fg(Color::DarkGray)
    }
}

/// Replaces the line-drawing characters a widget drew in `area` (a chart's axes) with ASCII,
/// for `--ascii`.
pub fn asciify(buf: &mut Buffer, area: Rect) {
    let area = area.intersection(buf.area);
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            let cell = &mut buf[(x, y)];
            let ascii = match cell.symbol() {
                "│" | "┃" => "|",
                "─" | "━" => "-",
                "└" | "┌" | "┐" | "┘" | "├" | "┤" | "┬" | "┴" | "┼" => "+",
                _ => continue,
            };
            cell.set_symbol(ascii);
        }
    }
}
