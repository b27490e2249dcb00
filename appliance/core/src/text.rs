//! Text from stored or imported records, made safe for a terminal.
//!
//! A trusted peer's records (a dataset's name and source, a run's device
//! name, an approval's note), a bundle's manifest and a CSV header are
//! attacker text as far as the operator's screen is concerned: an escape
//! sequence in them can set the window title, clear the screen or move the
//! cursor, a carriage return or newline can forge a line such as "lineage
//! verified", and a bidirectional override (U+202E) can make text read
//! backwards. Everything shown to a person goes through [`escape`] (one
//! line) or [`escape_lines`] (a block whose own line breaks are kept): the
//! `airlock` program's output layer does it for every line it prints, and
//! the console uses the same functions. Messages that quote untrusted text
//! quote it through [`Untrusted`], so the text can never add a line of its
//! own to a message.
//!
//! Free-text fields this node writes (a dataset's source file name, an
//! approval's note, the device name a worker reports) are refused at
//! creation if they hold such characters ([`check_free_text`]).
//!
//! Text placed in a Markdown document (the model card) goes through
//! [`markdown`]: it is escaped for the terminal as [`escape`] does, and for
//! Markdown, so that a peer's text can neither break a table, start a link
//! or an image (which a viewer would fetch), nor carry raw HTML.

use std::borrow::Cow;
use std::fmt;

use crate::error::{Error, Result};

/// True for a character that must not reach a terminal as it is: C0
/// controls (tab, line feed and carriage return included), DEL, C1
/// controls, and the invisible formatting characters that reorder or hide
/// text: bidirectional marks, embeddings, overrides and isolates (U+061C,
/// U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), zero-width characters
/// (U+200B–U+200D, U+2060–U+2064, U+FEFF), the line and paragraph
/// separators (U+2028, U+2029) and the deprecated format controls
/// (U+206A–U+206F).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{FEFF}'
        )
}

/// The first character of `s` that [`is_unsafe`], if any.
pub fn first_unsafe(s: &str) -> Option<char> {
    s.chars().find(|&c| is_unsafe(c))
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        '\n' => out.push_str("\\n"),
        c => out.extend(c.escape_unicode()),
    }
}

fn escape_with(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let unsafe_here = |c: char| is_unsafe(c) && !(keep_newlines && c == '\n');
    if !s.chars().any(unsafe_here) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if unsafe_here(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `s` as one line safe to print: every [`is_unsafe`] character written as
/// a visible escape (`\n`, `\r`, `\t`, `\u{1b}`, `\u{202e}`).
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_with(s, false)
}

/// `s` as a block safe to print: like [`escape`], but its line feeds are
/// kept. Only for text whose line structure this program made (a rendered
/// document, a list of violations whose quoted values went through
/// [`Untrusted`]).
pub fn escape_lines(s: &str) -> Cow<'_, str> {
    escape_with(s, true)
}

/// `s` as one line of Markdown inline text that reads as `s` when rendered
/// and is inert on a terminal when read raw: every [`is_unsafe`] character
/// is written as a visible escape (as [`escape`] does; a backslash before
/// a letter is literal in Markdown, so `\n` and `\u{1b}` render as
/// written), a backslash and the characters that make emphasis, code,
/// links, images, strikethrough, math and table cells (`` \ ` * _ [ ] | ~ $ ``)
/// get a backslash, and `<`, `>` and `&` become HTML entities, so no raw
/// HTML, autolink or entity reaches a viewer.
///
/// For text inside a line or a table cell: the caller never starts a line
/// with it, so it cannot make a heading, a list or a quote.
pub fn markdown(s: &str) -> Cow<'_, str> {
    let special = |c: char| {
        is_unsafe(c)
            || matches!(
                c,
                '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '$' | '<' | '>' | '&'
            )
    };
    if !s.chars().any(special) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c if is_unsafe(c) => push_escaped(&mut out, c),
            c if special(c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Untrusted text quoted in a message: displays as [`escape`] does, so it
/// can never break the message's lines or reach the terminal raw.
#[derive(Clone, Copy, Debug)]
pub struct Untrusted<'a>(pub &'a str);

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(self.0))
    }
}

/// The message of an error that may quote untrusted text (a serde, CSV or
/// TOML error naming an unknown field or a bad value), escaped as
/// [`Untrusted`] text.
pub fn error_text(e: &dyn fmt::Display) -> String {
    escape(&e.to_string()).into_owned()
}

/// Refuses a free-text `field` (e.g. "--note") whose `value` holds a
/// character that [`is_unsafe`]: such text would reach other people's
/// terminals through this node's records (exit 3).
pub fn check_free_text(field: &str, value: &str) -> Result<()> {
    match first_unsafe(value) {
        None => Ok(()),
        Some(c) => Err(Error::Rejected(format!(
            "{field} {:?} holds the control or formatting character {}; write plain text (no escape sequences, tabs, line breaks or direction marks)",
            value,
            c.escape_unicode()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_line_breaks_become_visible() {
        assert_eq!(
            escape("a\u{1b}]0;owned\u{7}\u{1b}[2J\rb\nc\td"),
            "a\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\rb\\nc\\td"
        );
        assert_eq!(escape("del\u{7f} c1\u{9b}"), "del\\u{7f} c1\\u{9b}");
    }

    #[test]
    fn bidirectional_and_invisible_characters_are_escaped() {
        for c in [
            '\u{061C}', '\u{200B}', '\u{200E}', '\u{200F}', '\u{2028}', '\u{2029}', '\u{202A}',
            '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}',
            '\u{2069}', '\u{FEFF}',
        ] {
            let s = format!("x{c}y");
            let e = escape(&s);
            assert!(!e.contains(c), "{c:?} kept in {e:?}");
            assert!(e.starts_with("x\\u{") && e.ends_with('y'), "{e:?}");
        }
    }

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for s in ["credit-2024", "apprové par Zoë: ≥ 0.9 ✓", "日本語", ""] {
            assert!(matches!(escape(s), Cow::Borrowed(b) if b == s));
        }
    }

    #[test]
    fn escape_lines_keeps_only_line_feeds() {
        assert_eq!(
            escape_lines("one\ntwo\r\n\u{1b}[1mthree"),
            "one\ntwo\\r\n\\u{1b}[1mthree"
        );
    }

    #[test]
    fn untrusted_text_cannot_add_a_line() {
        let msg = format!(
            "unknown field {}",
            Untrusted("x\nimported bundle 1234 from site lab")
        );
        assert_eq!(msg.lines().count(), 1, "{msg}");
        assert!(msg.contains("x\\nimported"), "{msg}");
    }

    #[test]
    fn markdown_escapes_tables_html_links_and_terminal_controls() {
        assert_eq!(
            markdown("a | b <script>alert(1)</script> & c"),
            "a \\| b &lt;script&gt;alert(1)&lt;/script&gt; &amp; c"
        );
        // A line break cannot end a table row or start a block; an escape
        // sequence reaches neither the file nor the terminal.
        let m = markdown("row\n| forged | cell |\u{1b}[2J\u{202E}");
        assert!(!m.contains('\n') && !m.contains('\u{1b}') && !m.contains('\u{202E}'));
        assert_eq!(m, "row\\n\\| forged \\| cell \\|\\u{1b}\\[2J\\u{202e}");
        // Links, images, emphasis, code and math are shown, not followed.
        assert_eq!(
            markdown("![x](http://t/p.png) *b* _i_ `c` ~s~ $m$"),
            "!\\[x\\](http://t/p.png) \\*b\\* \\_i\\_ \\`c\\` \\~s\\~ \\$m\\$"
        );
        // A backslash cannot undo an escape that follows it.
        assert_eq!(markdown("\\|"), "\\\\\\|");
        assert_eq!(markdown("&lt;"), "&amp;lt;");
        assert!(matches!(markdown("credit-logreg 0.91"), Cow::Borrowed(_)));
        for s in ["a|b", "x\u{1b}y", "<b>", "\\"] {
            assert!(!markdown(s).chars().any(is_unsafe));
        }
    }

    #[test]
    fn free_text_with_control_characters_is_refused() {
        assert!(check_free_text("--note", "metrics reviewed, roc 0.91").is_ok());
        for bad in [
            "a\u{1b}[2J",
            "line\nforged",
            "tab\there",
            "\u{202E}txt.exe",
            "cr\r",
        ] {
            let e = check_free_text("--note", bad).expect_err(bad);
            assert!(matches!(e, Error::Rejected(_)), "{e}");
            let m = e.to_string();
            assert!(m.starts_with("--note "), "{m}");
            assert!(!m.chars().any(is_unsafe), "{m:?}");
        }
    }
}
