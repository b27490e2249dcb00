//! Printing results: human text on a terminal, stable JSON with `--json`,
//! and progress bars that appear only on a terminal and never with `--json`.

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
            match serde_json::to_string_pretty(value) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("error: cannot encode output: {e}"),
            }
        } else {
            human(value);
        }
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
    /// cleared when it returns.
    pub fn with_bytes<T>(&self, what: &str, work: impl FnOnce(&mut dyn FnMut(u64, u64)) -> T) -> T {
        let bar = self.bar(0, what, true);
        let result = work(&mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        });
        bar.finish_and_clear();
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
