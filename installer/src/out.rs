//! The one output layer: every line printed goes through `airlock::text::escape`, so text
//! read from the root (file names, link targets) cannot drive the terminal.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the one place that prints"
)]

use std::fmt::Display;
use std::io::Write;

use airlock::text;

/// Writes `s` to stdout. A reader that stopped (`airlock-install sbom | head`) is not an
/// error of this program: the rest is dropped and the exit code stays the command's own
/// (`verify | head -1` still exits 4 on a difference). Any other write error panics, as
/// `println!` does.
fn stdout(s: &str) {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => panic!("failed printing to stdout: {e}"),
    }
}

/// Prints one line, escaped.
pub fn line(what: impl Display) {
    stdout(&format!("{}\n", text::escape(&what.to_string())));
}

/// JSON text made safe for a terminal without changing what it means: every character
/// outside printable ASCII inside a string becomes a `\uXXXX` escape (serde_json escapes
/// C0 controls itself, but writes DEL, C1 controls such as U+009B, the 8-bit CSI, and
/// direction marks as they are), and a tab or carriage return between tokens becomes a
/// space. Valid JSON can hold no other raw control character.
pub fn ascii_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            ' '..='~' | '\n' => out.push(c),
            '\t' | '\r' => out.push(' '),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out
}

/// Prints a value as JSON, through [`ascii_json`].
pub fn json<T: serde::Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => stdout(&format!("{}\n", ascii_json(&s))),
        Err(e) => eprintln!("error: {}", text::escape(&e.to_string())),
    }
}

/// Prints a JSON document read from a file: checked to be JSON, then written as it is
/// but through [`ascii_json`] (so a document that is printable ASCII, as the SBOMs this
/// program makes are, is printed byte for byte).
pub fn json_document(bytes: &[u8]) -> airlock_install::Result<()> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| airlock_install::Error::Rejected(format!("not UTF-8 JSON: {e}")))?;
    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| {
        airlock_install::Error::Rejected(format!("not a JSON document: {}", text::error_text(&e)))
    })?;
    let mut safe = ascii_json(text);
    if !safe.ends_with('\n') {
        safe.push('\n');
    }
    stdout(&safe);
    Ok(())
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
            ascii_json(&serde_json::json!({ "error": message, "exit_code": code }).to_string())
        );
    } else {
        eprintln!("error: {}", text::escape_lines(message));
    }
}
