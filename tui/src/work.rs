//! Long work off the drawing thread: a bundle's verification, an import, an export, a
//! training run. The library call runs on a thread of its own ([`Job::start`]) and reports
//! through a channel: its progress callback's figures ([`Progress`]), a wait for another
//! command's lock, and at the end its [`Outcome`]. The event loop draws the progress
//! ([`Working`]) and goes on reading keys meanwhile.
//!
//! None of these calls can be stopped half-way: the library's progress callbacks
//! (`on_bytes`, `on_epoch`) return nothing, so there is no way to ask them to. `Ctrl-C` leaves
//! the console, which ends the work as `Ctrl-C` ends the command: an import commits in one
//! transaction or not at all, and an export's files are only named when complete.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::Duration;

use airlock::error::exit;

use crate::console::Console;
use crate::shown::Shown;
use crate::task::{Outcome, Task};
use crate::view::ErrorView;

/// What a progress figure counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Bytes read or written.
    Bytes,
    /// Training epochs.
    Epochs,
}

/// One progress report of a library call.
#[derive(Clone, Debug)]
pub struct Progress {
    /// How far it is.
    pub done: u64,
    /// How far it goes (0 when not known yet).
    pub total: u64,
    /// What they count.
    pub unit: Unit,
    /// A line to keep under the bar (an epoch's loss and score), as the command shows it.
    pub line: Option<String>,
}

/// What the work's thread says.
#[derive(Debug)]
pub enum News {
    /// Its progress.
    Progress(Progress),
    /// It waits for another command's lock on the home.
    Waiting,
    /// It is done (boxed: an outcome is much larger than a report).
    Done(Box<Outcome>),
}

/// Lines kept under the progress bar (the newest).
pub const LINES: usize = 8;

/// Work running, as the console draws it.
#[derive(Clone, Debug)]
pub struct Working {
    /// What is being done.
    pub label: &'static str,
    /// How far it is.
    pub done: u64,
    /// How far it goes (0: not known yet).
    pub total: u64,
    /// What they count.
    pub unit: Unit,
    /// The newest lines reported, oldest first.
    pub lines: Vec<Shown>,
    /// Whether it waits for another command's lock.
    pub waiting: bool,
}

impl Working {
    /// Work just started.
    pub fn new(label: &'static str) -> Working {
        Working {
            label,
            done: 0,
            total: 0,
            unit: Unit::Bytes,
            lines: Vec::new(),
            waiting: false,
        }
    }

    /// Takes in news other than the end.
    pub fn hear(&mut self, news: &News) {
        match news {
            News::Progress(p) => {
                self.waiting = false;
                self.done = p.done;
                self.total = p.total;
                self.unit = p.unit;
                if let Some(l) = &p.line {
                    self.lines.push(Shown::new(l));
                    if self.lines.len() > LINES {
                        self.lines.remove(0);
                    }
                }
            }
            News::Waiting => self.waiting = true,
            News::Done(_) => {}
        }
    }

    /// The share done, 0 to 1 (0 while the total is not known).
    pub fn ratio(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            (self.done as f64 / self.total as f64).clamp(0.0, 1.0)
        }
    }

    /// How far, in words: `1.2 MiB of 4.0 MiB`, `epoch 3 of 30`.
    pub fn says(&self) -> String {
        match self.unit {
            Unit::Bytes if self.total == 0 => "starting".into(),
            Unit::Bytes => format!(
                "{} of {}",
                crate::media::bytes(self.done),
                crate::media::bytes(self.total)
            ),
            Unit::Epochs if self.done == 0 => "starting the worker".into(),
            Unit::Epochs => format!("epoch {} of at most {}", self.done, self.total),
        }
    }
}

/// A library call running on a thread of its own.
#[derive(Debug)]
pub struct Job {
    news: Receiver<News>,
}

/// The outcome of work whose thread ended without one (it panicked).
fn lost() -> Outcome {
    Outcome::Done {
        title: "the work",
        result: Err(ErrorView::new(
            "the work stopped without a result: its thread ended early (a bug; nothing is \
             committed half-way, but check with `airlock audit log`)",
            exit::FAILURE,
        )),
    }
}

impl Job {
    /// Starts `task` with `console` on a thread of its own.
    pub fn start(console: &Console, task: Task) -> Job {
        let (tx, rx) = mpsc::channel();
        let console = console.clone();
        let reply = tx.clone();
        let spawned = std::thread::Builder::new()
            .name("airlock-tui work".into())
            .spawn(move || {
                let outcome = console.perform_reporting(
                    task,
                    &mut |_| {
                        let _ = tx.send(News::Waiting);
                    },
                    &mut |p| {
                        let _ = tx.send(News::Progress(p));
                    },
                );
                let _ = tx.send(News::Done(Box::new(outcome)));
            });
        if let Err(e) = spawned {
            let _ = reply.send(News::Done(Box::new(Outcome::Done {
                title: "the work",
                result: Err(ErrorView::new(
                    &format!("the work could not be started: {e}"),
                    exit::FAILURE,
                )),
            })));
        }
        Job { news: rx }
    }

    /// The news within `wait`: every report that arrived, the outcome last once the work is
    /// done.
    pub fn news(&self, wait: Duration) -> Vec<News> {
        let mut out = Vec::new();
        match self.news.recv_timeout(wait) {
            Ok(n) => out.push(n),
            Err(RecvTimeoutError::Timeout) => return out,
            Err(RecvTimeoutError::Disconnected) => {
                out.push(News::Done(Box::new(lost())));
                return out;
            }
        }
        while !matches!(out.last(), Some(News::Done(_))) {
            match self.news.try_recv() {
                Ok(n) => out.push(n),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => out.push(News::Done(Box::new(lost()))),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_keeps_the_newest_lines_and_says_how_far() {
        let mut w = Working::new("training");
        for e in 1..=10u64 {
            w.hear(&News::Progress(Progress {
                done: e,
                total: 30,
                unit: Unit::Epochs,
                line: Some(format!("epoch {e}\u{1b}[2J")),
            }));
        }
        assert_eq!(w.lines.len(), LINES);
        assert!(w.lines[0].as_str().starts_with("epoch 3"), "{:?}", w.lines);
        assert!(!w.lines[0].as_str().contains('\u{1b}'), "escaped");
        assert_eq!(w.says(), "epoch 10 of at most 30");
        assert!((w.ratio() - 1.0 / 3.0).abs() < 1e-9);
        w.hear(&News::Waiting);
        assert!(w.waiting);
        let bytes = Working {
            unit: Unit::Bytes,
            done: 1536,
            total: 3072,
            ..Working::new("import")
        };
        assert_eq!(bytes.says(), "1.5 KiB of 3.0 KiB");
    }
}
