//! Printing results: human text on a terminal, stable JSON with `--json`,
//! and progress bars that appear only on a terminal and never with `--json`.
//!
//! This is the program's only way to the terminal: `main.rs` denies
//! `println!`, `eprintln!` and their kin everywhere else (clippy's
//! `print_stdout` and `print_stderr`), so a new command cannot print a line
//! that skips the escaping. Every human line goes through
//! [`airlock::text::escape`]: names, sources, notes and device names come
//! from stored records, some of them a peer's, and an escape sequence or a
//! line break in them must not reach the screen (docs/threat-model.md).

// The one place allowed to print; see the module comment.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Display;

use airlock::text;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// How to print.
#[derive(Clone, Copy)]
pub struct Out {
    /// Machine-readable output.
    pub json: bool,
}

impl Out {
    /// Prints `value` as JSON in `--json` mode, else runs `human`.
    pub fn emit<T: Serialize>(&self, value: &T, human: impl FnOnce(&T)) {
        if self.json {
            // serde_json writes control characters in strings as \uXXXX
            // escapes, so the JSON needs no further escaping.
            match serde_json::to_string_pretty(value) {
                Ok(s) => println!("{s}"),
                Err(e) => error(true, &format!("cannot encode output: {e}"), 1),
            }
        } else {
            human(value);
        }
    }

    /// Prints one line for people on stdout, every control or formatting
    /// character in it escaped (a line break inside a value included).
    pub fn line(&self, line: impl Display) {
        println!("{}", text::escape(&line.to_string()));
    }

    /// Prints a block this program laid out (a rendered document), keeping
    /// its line breaks and escaping every other control or formatting
    /// character.
    pub fn text(&self, block: &str) {
        print!("{}", text::escape_lines(block));
    }

    /// A warning on stderr, escaped like [`Out::line`].
    pub fn warn(&self, what: impl Display) {
        warn(what);
    }

    /// A note on stderr, escaped like [`Out::line`].
    pub fn note(&self, what: impl Display) {
        eprintln!("note: {}", text::escape(&what.to_string()));
    }

    /// A progress bar on stderr: hidden with `--json` or when stderr is not a
    /// terminal.
    pub fn bar(&self, len: u64, what: &str, bytes: bool) -> ProgressBar {
        if self.json {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        let template = if bytes {
            "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
        } else {
            "{msg:>10} [{bar:30}] {pos}/{len} {per_sec}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_string());
        bar
    }

    /// Runs `work` with a byte progress bar (done, total) labelled `what`,
    /// cleared when it returns. The bar appears only once bytes flow, so a
    /// passphrase prompt before that is not drawn over.
    pub fn with_bytes<T>(&self, what: &str, work: impl FnOnce(&mut dyn FnMut(u64, u64)) -> T) -> T {
        let mut bar: Option<ProgressBar> = None;
        let result = work(&mut |done, total| {
            let bar = bar.get_or_insert_with(|| self.bar(total, what, true));
            bar.set_length(total);
            bar.set_position(done);
        });
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        result
    }

    /// A spinner counting items, for work of unknown length.
    pub fn counter(&self, what: &str) -> ProgressBar {
        if self.json {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{msg:>10} {spinner} {pos} rows {per_sec}")
        {
            bar.set_style(style);
        }
        bar.set_message(what.to_string());
        bar
    }
}

/// A warning on stderr (before the command line is parsed, too), escaped
/// like [`Out::line`].
pub fn warn(what: impl Display) {
    eprintln!("warning: {}", text::escape(&what.to_string()));
}

/// A failed command's message on stderr: a JSON object with `--json`, else
/// `error: ` and the message. Messages quote untrusted text through
/// [`text::Untrusted`]; their own line breaks (one violation per line) are
/// kept and every other control or formatting character is escaped.
pub fn error(json: bool, message: &str, code: i32) {
    if json {
        eprintln!(
            "{}",
            serde_json::json!({ "error": message, "exit_code": code })
        );
    } else {
        eprintln!("error: {}", text::escape_lines(message));
    }
}
