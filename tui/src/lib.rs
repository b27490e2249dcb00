//! `airlock-tui`: the operator console of an Airlock node.
//!
//! A keyboard-only terminal face over the appliance library (`airlock`), for the node's
//! console and serial lines: 80×24 and larger, `NO_COLOR` honoured, ASCII borders on request.
//! It never runs SQL and never touches the store, the vault or the audit log itself: every
//! screen is loaded and every action performed by the same library call the `airlock`
//! command makes ([`console`]), so an approval or a deployment from the console gets exactly
//! the checks, signatures and audit records the command gets. `docs/console.md` lists the
//! screens, the keys and the call behind each.
//!
//! The parts, as gitui and ratatui's templates split them:
//!
//! - [`app`]: the state ([`state`] per screen), changed only by keys ([`App::on_key`]) and
//!   by the results of library calls ([`App::apply`]); [`form`]: the confirmation asked
//!   before anything is signed;
//! - [`keys`]: the key tables, which feed the key handling, the bottom bar and the help;
//! - [`task`] and [`console`]: the library calls a key asks for, and their results;
//!   [`work`]: the long ones (import, export, verify, training) on a thread of their own,
//!   with progress;
//! - [`load`] and [`view`] (and per screen [`deploy`], [`training`], [`featureset`],
//!   [`report`], [`monitor`], [`accuracy`]): library records turned into plain view models, every stored string
//!   escaped on the way ([`shown::Shown`]);
//! - [`ui`]: drawing functions that only read the state;
//! - [`run`]: the event loop, generic over the ratatui backend, so every screen is drawn into
//!   a `TestBackend` in tests. Terminal set-up and tear-down are the binary's.
//!
//! ```
//! use airlock_tui::{App, Theme, ui};
//! use ratatui::{Terminal, backend::TestBackend};
//!
//! let app = App::new(Some("dana"));
//! let mut terminal = Terminal::new(TestBackend::new(40, 10)).unwrap();
//! terminal.draw(|f| ui::draw(f, &app, &Theme::new(None, true))).unwrap();
//! let text: String = terminal.backend().buffer().content().iter().map(|c| c.symbol()).collect();
//! assert!(text.contains("terminal too small"));
//! ```
#![deny(missing_docs)]

pub mod accuracy;
pub mod airgap;
pub mod app;
pub mod console;
pub mod deploy;
pub mod featureset;
pub mod form;
pub mod keys;
pub mod load;
pub mod media;
pub mod monitor;
pub mod report;
pub mod secret;
pub mod shown;
pub mod state;
pub mod task;
pub mod training;
pub mod ui;
pub mod view;
pub mod work;

use std::io;
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::Event;

pub use app::App;
pub use console::Console;
pub use ui::Theme;

/// Where the console's events come from: the terminal, or a list in tests.
pub trait Events {
    /// The next event; `None` when there are no more (the console then ends).
    fn next(&mut self) -> io::Result<Option<Event>>;

    /// Whether an event can be read at once, checked while long work runs. Scripted events
    /// (an iterator, in tests) say no: they reach the console once the work is done, so a
    /// test's keys act on its result.
    fn ready(&mut self) -> io::Result<bool> {
        Ok(false)
    }
}

/// Events read from the terminal (crossterm), blocking.
#[derive(Debug, Default)]
pub struct TerminalEvents;

impl Events for TerminalEvents {
    fn next(&mut self) -> io::Result<Option<Event>> {
        ratatui::crossterm::event::read().map(Some)
    }

    fn ready(&mut self) -> io::Result<bool> {
        ratatui::crossterm::event::poll(Duration::ZERO)
    }
}

impl<I: Iterator<Item = Event>> Events for I {
    fn next(&mut self) -> io::Result<Option<Event>> {
        Ok(Iterator::next(self))
    }
}

fn draw<B: Backend>(terminal: &mut Terminal<B>, app: &App, theme: &Theme) -> io::Result<()> {
    terminal
        .draw(|f| ui::draw(f, app, theme))
        .map(drop)
        .map_err(|e| io::Error::other(e.to_string()))
}

/// Performs `task` and the work it leads to, showing what is being done meanwhile; long
/// work ([`task::Task::is_long`]) is started on a thread of its own and returned.
fn perform<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    console: &Console,
    theme: &Theme,
    task: task::Task,
) -> io::Result<Option<work::Job>> {
    let mut next = Some(task);
    while let Some(task) = next {
        if task.is_long() {
            app.work = Some(work::Working::new(task.label()));
            return Ok(Some(work::Job::start(console, task)));
        }
        app.busy = Some(task.label());
        draw(terminal, app, theme)?;
        let mut drawn = Ok(());
        let outcome = {
            // Another command holds the home: say so on the screen while the call waits
            // (the library says it on stderr otherwise, which would land on the drawing).
            let mut wait = |_: &std::path::Path| {
                app.busy = Some(WAITING);
                drawn = draw(terminal, app, theme);
            };
            console.perform_with(task, &mut wait)
        };
        drawn?;
        app.busy = None;
        next = app.apply(outcome);
    }
    Ok(None)
}

/// How long the console waits for news of long work before it looks at the keyboard.
const TICK: Duration = Duration::from_millis(100);

/// What the console says while another command holds the home's lock.
pub const WAITING: &str = "another airlock command is using this home: waiting for it";

/// Runs the console until the operator leaves or the events end: loads the Overview, then
/// draws, reads a key, performs what it asks.
pub fn run<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    console: &Console,
    events: &mut dyn Events,
    theme: &Theme,
) -> io::Result<()> {
    let mut job = perform(terminal, app, console, theme, app.start())?;
    while !app.quit {
        draw(terminal, app, theme)?;
        if let Some(running) = &job {
            // Long work: its news, then a key if one is waiting (only Ctrl-C acts).
            let mut next = None;
            let mut ended = false;
            for news in running.news(TICK) {
                ended |= matches!(news, work::News::Done(_));
                next = app.hear(news).or(next);
            }
            if ended {
                job = None;
                if let Some(task) = next {
                    job = perform(terminal, app, console, theme, task)?;
                }
            } else if events.ready()?
                && let Some(Event::Key(key)) = events.next()?
            {
                app.on_key(key);
            }
            continue;
        }
        let Some(event) = events.next()? else {
            break;
        };
        if let Event::Key(key) = event
            && let Some(task) = app.on_key(key)
        {
            job = perform(terminal, app, console, theme, task)?;
        }
    }
    Ok(())
}
