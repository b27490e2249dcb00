//! The one output layer: every line printed goes through `airlock::text::escape`, so text
//! read from the root (file names, link targets) cannot drive the terminal.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the one place that prints"
)]

use std::fmt::Display;

use airlock::text;

/// Prints one line, escaped.
pub fn line(what: impl Display) {
    println!("{}", text::escape(&what.to_string()));
}

/// Prints a value as JSON (serde_json escapes control characters itself).
pub fn json<T: serde::Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: {}", text::escape(&e.to_string())),
    }
}

/// A warning on stderr, escaped.
pub fn warn(what: impl Display) {
    eprintln!("warning: {}", text::escape(&what.to_string()));
}

/// A note on stderr, escaped.
pub fn note(what: impl Display) {
    eprintln!("note: {}", text::escape(&what.to_string()));
}

/// An error on stderr: `{"error", "exit_code"}` with `--json`, else `error: MESSAGE` with its
/// own line breaks kept and everything else escaped.
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
