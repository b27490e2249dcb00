//! The keys of the Monitor screen's accuracy over time and of the list its labels are picked
//! from.

use ratatui::crossterm::event::KeyCode;

use super::{
    Action, BACK, BOTTOM, Binding, FILTER, MOVE, MOVE_DOWN, PAGE_DOWN, PAGE_UP, TOP, bind,
};

/// `a`: the accuracy over time of the selected window's model.
pub(super) const ACCURACY: Binding = bind(
    "a",
    Some("accuracy"),
    "the model's accuracy, ROC AUC and calibration per window, from labels that arrived \
     later (monitor report --labels)",
    &[KeyCode::Char('a')],
    Some(Action::Accuracy),
);

/// `L`: the datasets to pick the labels from.
pub(super) const LABELS: Binding = bind(
    "L",
    Some("labels"),
    "pick the labels dataset (entity key, event time, label) from the datasets (data list)",
    &[KeyCode::Char('L')],
    Some(Action::Labels),
);

/// A model's accuracy over time.
pub static MONITOR_ACCURACY: &[Binding] = &[
    bind(
        "↑↓",
        Some("scroll"),
        "scroll (also k j, PgUp PgDn)",
        &[KeyCode::Up, KeyCode::Char('k')],
        Some(Action::Up),
    ),
    MOVE_DOWN,
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    LABELS,
    BACK,
];

/// The datasets the labels are picked from.
pub static LABELS_PICKER: &[Binding] = &[
    MOVE,
    MOVE_DOWN,
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    FILTER,
    bind(
        "Enter",
        Some("use"),
        "judge the accuracy with these labels (monitor report --labels DATASET)",
        &[KeyCode::Enter],
        Some(Action::Open),
    ),
    BACK,
];
