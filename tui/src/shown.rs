//! Text that may be drawn: the only way stored or imported text reaches the screen.
//!
//! A dataset's source, an approval's note, an audit record's details or a peer's model name
//! are attacker text as far as the operator's screen is concerned (docs/threat-model.md,
//! "terminal escape injection"). The console's view models hold such text only as [`Shown`],
//! which can only be made by escaping it with the library's one rule
//! ([`airlock::text::escape`]), so a drawing function cannot put raw stored text on the
//! screen: it has no `String` to draw.

use std::fmt;

use airlock::text;

/// Text escaped for the terminal: no control or formatting character (escape sequences,
/// carriage returns, bidirectional overrides) survives, except the line feeds of a block this
/// program laid out ([`Shown::block`]).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Shown(String);

impl Shown {
    /// One line: every unsafe character, line feeds included, written as a visible escape.
    pub fn new(s: &str) -> Self {
        Shown(text::escape(s).into_owned())
    }

    /// A block whose line breaks this program made (an error message listing violations one
    /// per line, pretty-printed JSON): line feeds kept, everything else escaped as in
    /// [`Shown::new`].
    pub fn block(s: &str) -> Self {
        Shown(text::escape_lines(s).into_owned())
    }

    /// Any value's `Display` text, escaped as one line.
    pub fn of(v: impl fmt::Display) -> Self {
        Shown::new(&v.to_string())
    }

    /// The escaped text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether there is no text.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the escaped text contains `needle` (case-insensitive), for list filters.
    pub fn matches(&self, needle: &str) -> bool {
        needle.is_empty() || self.0.to_lowercase().contains(&needle.to_lowercase())
    }
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_line_breaks_never_survive() {
        let s = Shown::new("credit\u{1b}]0;owned\u{7}\r\nlineage verified\u{202e}");
        assert!(!s.as_str().chars().any(text::is_unsafe), "{s:?}");
        assert!(s.as_str().contains("\\u{1b}]0;owned"), "{s:?}");
    }

    #[test]
    fn a_block_keeps_only_its_line_feeds() {
        let s = Shown::block("one\ntwo\r\u{1b}[2J");
        assert_eq!(s.as_str(), "one\ntwo\\r\\u{1b}[2J");
    }

    #[test]
    fn filters_match_case_insensitively_and_empty_matches_all() {
        let s = Shown::new("model.Approve");
        assert!(s.matches("approve"));
        assert!(s.matches(""));
        assert!(!s.matches("deploy"));
    }
}
