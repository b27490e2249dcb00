//! The Monitor screen's keys beyond its list: the accuracy view of the selected window's
//! model, and the list of datasets the labels are picked from.

use crate::app::{App, moved};
use crate::keys::Action;
use crate::shown::Shown;
use crate::state::LabelsPicker;
use crate::task::Task;

impl App {
    /// The model of the selected window (its short id), whose accuracy is shown.
    pub fn monitor_model(&self) -> Option<&Shown> {
        let m = &self.monitor;
        m.view.windows.get(m.selected).map(|w| &w.model)
    }

    /// `a`: opens the selected window's model's accuracy over time.
    pub(super) fn open_accuracy(&mut self) {
        if self.monitor_model().is_some() {
            self.monitor.open = None;
            self.monitor.accuracy = Some(0);
        }
    }

    /// The list of datasets has arrived: it opens with nothing filtered.
    pub(super) fn open_labels_picker(&mut self, names: Vec<Shown>) {
        self.monitor.picker = Some(LabelsPicker {
            names,
            list: Default::default(),
        });
    }

    /// Esc: the picker closes, else the accuracy view, else the drift view.
    pub(super) fn monitor_back(&mut self) {
        let m = &mut self.monitor;
        if m.picker.is_some() {
            m.picker = None;
        } else if m.accuracy.is_some() {
            m.accuracy = None;
        } else {
            m.open = None;
        }
    }

    /// Moves in the picker, the accuracy view, the drift view or the list of windows.
    pub(super) fn monitor_step(&mut self, action: Action) {
        let lines = self
            .monitor_model()
            .and_then(|s| self.monitor.view.accuracy.of(s.as_str()))
            .map_or(1, |a| a.line_count());
        let m = &mut self.monitor;
        let features = m
            .view
            .windows
            .get(m.selected)
            .map_or(0, |w| w.features.len());
        if let Some(p) = &mut m.picker {
            p.list.selected = moved(p.list.selected, p.visible().len(), action);
        } else if let Some(scroll) = &mut m.accuracy {
            *scroll = moved(*scroll, lines, action);
        } else if let Some(scroll) = &mut m.open {
            *scroll = moved(*scroll, features, action);
        } else {
            m.selected = moved(m.selected, m.view.windows.len(), action);
        }
    }

    /// Enter: in the picker, judges the accuracy with the chosen labels (the screen loaded
    /// again with them, the accuracy view open); on the list, opens the window's drift.
    pub(super) fn monitor_open(&mut self) -> Option<Task> {
        let m = &mut self.monitor;
        if let Some(p) = &m.picker {
            let chosen = p.visible().get(p.list.selected)?.as_str().to_string();
            m.picker = None;
            m.labels = Some(chosen);
            m.open = None;
            m.accuracy = Some(0);
            return Some(Task::Monitor {
                labels: m.labels.clone(),
            });
        }
        if m.accuracy.is_none() && m.selected < m.view.windows.len() {
            m.open = Some(0);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::accuracy::{AccuracyView, ModelAccuracy};
    use crate::app::Screen;
    use crate::keys;
    use crate::monitor::{MonitorView, WindowRow};
    use crate::task::Outcome;

    fn press(app: &mut App, codes: &[KeyCode]) -> Option<Task> {
        let mut last = None;
        for c in codes {
            last = app.on_key(KeyEvent::new(*c, KeyModifiers::NONE));
        }
        last
    }

    fn loaded() -> App {
        let mut app = App::new(None);
        assert!(matches!(
            press(&mut app, &[KeyCode::Char('7')]),
            Some(Task::Monitor { labels: None })
        ));
        app.apply(Outcome::Monitor(Ok(MonitorView {
            alerts: vec![],
            windows: vec![WindowRow {
                model: Shown::new("0123456789ab"),
                start: Shown::new("2026-12-03T10:00:00Z"),
                slot: Shown::new("production"),
                requests: 1,
                refused: 0,
                p99_micros: None,
                features: vec![],
            }],
            accuracy: AccuracyView {
                labels: Some(Shown::new("outcomes")),
                models: vec![ModelAccuracy {
                    model: Shown::new("0123456789ab"),
                    slots: Err(Shown::new("a regression")),
                }],
            },
        })));
        app
    }

    #[test]
    fn a_opens_the_models_accuracy_and_esc_closes_it() {
        let mut app = loaded();
        assert!(press(&mut app, &[KeyCode::Char('a')]).is_none());
        assert_eq!(app.monitor.accuracy, Some(0));
        assert!(std::ptr::eq(app.bindings(), keys::MONITOR_ACCURACY));
        assert!(
            app.monitor_model()
                .is_some_and(|m| m.as_str() == "0123456789ab")
        );
        press(&mut app, &[KeyCode::Down]);
        assert_eq!(app.monitor.accuracy, Some(0), "a refusal is one line");
        press(&mut app, &[KeyCode::Esc]);
        assert_eq!(app.monitor.accuracy, None);
        assert!(!app.quit, "Esc closed the accuracy, not the console");
    }

    #[test]
    fn l_lists_datasets_a_filter_narrows_them_and_enter_judges_with_the_one_chosen() {
        let mut app = loaded();
        assert!(matches!(
            press(&mut app, &[KeyCode::Char('L')]),
            Some(Task::Labels)
        ));
        app.apply(Outcome::Labels(Ok(vec![
            Shown::new("lab/credit@1"),
            Shown::new("lab/outcomes@2"),
            Shown::new("lab/outcomes@1"),
        ])));
        assert!(std::ptr::eq(app.bindings(), keys::LABELS_PICKER));
        press(&mut app, &[KeyCode::Char('/')]);
        assert!(std::ptr::eq(app.bindings(), keys::FILTER_EDIT));
        assert!(!app.global_keys(), "digits typed into the filter");
        // '1' is typed into the filter, not taken as the Overview screen's key.
        press(&mut app, &[KeyCode::Char('@'), KeyCode::Char('1')]);
        assert_eq!(app.screen, Screen::Monitor);
        press(&mut app, &[KeyCode::Enter]);
        let p = app.monitor.picker.as_ref().expect("picker");
        assert_eq!(p.visible().len(), 2, "credit@1 and outcomes@1");
        let task = press(&mut app, &[KeyCode::Down, KeyCode::Enter]);
        assert!(
            matches!(&task, Some(Task::Monitor { labels: Some(l) }) if l == "lab/outcomes@1"),
            "{task:?}"
        );
        assert!(app.monitor.picker.is_none());
        assert_eq!(app.monitor.accuracy, Some(0), "the accuracy view opens");
        assert!(matches!(
            app.reload(),
            Task::Monitor { labels: Some(l) } if l == "lab/outcomes@1"
        ));
        // Esc in the picker closes it, nothing chosen.
        press(&mut app, &[KeyCode::Char('L')]);
        app.apply(Outcome::Labels(Ok(vec![Shown::new("lab/credit@1")])));
        press(&mut app, &[KeyCode::Esc]);
        assert!(app.monitor.picker.is_none());
        assert_eq!(app.monitor.labels.as_deref(), Some("lab/outcomes@1"));
    }
}
