//! Keys: one table per view, mapping key codes to [`Action`]s. The same tables feed the key
//! handling ([`action`]), the bar at the bottom of the screen and the `?` help, so what the
//! screen says a key does is what it does.

use ratatui::crossterm::event::KeyCode;

use crate::app::Screen;

mod labels;
pub use labels::{LABELS_PICKER, MONITOR_ACCURACY};

/// What a key asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Leave the console.
    Quit,
    /// Close the open detail, or leave the console from a top-level list.
    Back,
    /// Show the keys of the current view.
    Help,
    /// Go to a screen.
    Screen(Screen),
    /// Load the current screen's data again from the home.
    Reload,
    /// Selection or scroll up one line.
    Up,
    /// Selection or scroll down one line.
    Down,
    /// Up one page.
    PageUp,
    /// Down one page.
    PageDown,
    /// To the first line.
    Top,
    /// To the last line.
    Bottom,
    /// Open the selected item.
    Open,
    /// Type a filter for the list.
    Filter,
    /// Run `audit verify`.
    Verify,
    /// Move the keyboard to the screen's next list.
    NextList,
    /// Show the model card.
    Card,
    /// Approve the selected model (asks first).
    Approve,
    /// Deploy the selected model, or a model to the selected slot (asks first).
    Deploy,
    /// Make the canary's model production's (asks first).
    Promote,
    /// Roll the selected slot back (asks first).
    Rollback,
    /// Roll the selected slot back to a model it held before, chosen (asks first).
    RollbackTo,
    /// Verify the selected bundle completely (`bundle verify`).
    VerifyBundle,
    /// Import the selected bundle (asks first).
    Import,
    /// The export wizard.
    Export,
    /// Start a training run (asks first).
    Train,
    /// Open the selected window's model's accuracy over time.
    Accuracy,
    /// List the datasets to pick the labels from.
    Labels,
}

/// One key binding.
#[derive(Clone, Copy, Debug)]
pub struct Binding {
    /// The key as written on screen.
    pub keys: &'static str,
    /// Its short label in the bottom bar; `None` for keys listed only in the help.
    pub bar: Option<&'static str>,
    /// What it does, for the help.
    pub help: &'static str,
    /// The key codes.
    pub codes: &'static [KeyCode],
    /// The action; `None` for keys a modal view handles itself (typing into a field).
    pub action: Option<Action>,
}

const fn bind(
    keys: &'static str,
    bar: Option<&'static str>,
    help: &'static str,
    codes: &'static [KeyCode],
    action: Option<Action>,
) -> Binding {
    Binding {
        keys,
        bar,
        help,
        codes,
        action,
    }
}

const MOVE: Binding = bind(
    "↑↓",
    Some("move"),
    "move the selection (also k j)",
    &[KeyCode::Up, KeyCode::Char('k')],
    Some(Action::Up),
);
const MOVE_DOWN: Binding = bind(
    "↓",
    None,
    "",
    &[KeyCode::Down, KeyCode::Char('j')],
    Some(Action::Down),
);
const PAGE_UP: Binding = bind(
    "PgUp PgDn",
    None,
    "a page up or down",
    &[KeyCode::PageUp],
    Some(Action::PageUp),
);
const PAGE_DOWN: Binding = bind("", None, "", &[KeyCode::PageDown], Some(Action::PageDown));
const TOP: Binding = bind(
    "Home End",
    None,
    "first or last line (also g G)",
    &[KeyCode::Home, KeyCode::Char('g')],
    Some(Action::Top),
);
const BOTTOM: Binding = bind(
    "",
    None,
    "",
    &[KeyCode::End, KeyCode::Char('G')],
    Some(Action::Bottom),
);
const FILTER: Binding = bind(
    "/",
    Some("filter"),
    "filter the list (Enter keeps it, Esc clears it)",
    &[KeyCode::Char('/')],
    Some(Action::Filter),
);
const VERIFY: Binding = bind(
    "v",
    Some("verify"),
    "verify chain, signatures, checkpoint (airlock audit verify)",
    &[KeyCode::Char('v')],
    Some(Action::Verify),
);
const APPROVE: Binding = bind(
    "a",
    Some("approve"),
    "approve with your operator key; asks first (airlock approve)",
    &[KeyCode::Char('a')],
    Some(Action::Approve),
);
const DEPLOY_MODEL: Binding = bind(
    "d",
    Some("deploy"),
    "deploy the model to a slot (asks first; airlock deploy)",
    &[KeyCode::Char('d')],
    Some(Action::Deploy),
);
const CARD: Binding = bind(
    "c",
    Some("card"),
    "the model card, from the verified records (airlock models card)",
    &[KeyCode::Char('c')],
    Some(Action::Card),
);
const BACK: Binding = bind(
    "q Esc",
    Some("back"),
    "back to the list",
    &[KeyCode::Char('q'), KeyCode::Esc],
    Some(Action::Back),
);

/// Keys of every view, after its own.
pub static GLOBAL: &[Binding] = &[
    bind(
        "1",
        None,
        "Overview screen",
        &[KeyCode::Char('1')],
        Some(Action::Screen(Screen::Overview)),
    ),
    bind(
        "2",
        None,
        "Data screen",
        &[KeyCode::Char('2')],
        Some(Action::Screen(Screen::Data)),
    ),
    bind(
        "3",
        None,
        "Features screen",
        &[KeyCode::Char('3')],
        Some(Action::Screen(Screen::Features)),
    ),
    bind(
        "4",
        None,
        "Training screen",
        &[KeyCode::Char('4')],
        Some(Action::Screen(Screen::Training)),
    ),
    bind(
        "5",
        None,
        "Models screen",
        &[KeyCode::Char('5')],
        Some(Action::Screen(Screen::Models)),
    ),
    bind(
        "6",
        None,
        "Deploy screen",
        &[KeyCode::Char('6')],
        Some(Action::Screen(Screen::Deploy)),
    ),
    bind(
        "7",
        None,
        "Monitor screen",
        &[KeyCode::Char('7')],
        Some(Action::Screen(Screen::Monitor)),
    ),
    bind(
        "8",
        None,
        "Media screen",
        &[KeyCode::Char('8')],
        Some(Action::Screen(Screen::Media)),
    ),
    bind(
        "9",
        None,
        "Audit screen",
        &[KeyCode::Char('9')],
        Some(Action::Screen(Screen::Audit)),
    ),
    bind(
        "r",
        Some("reload"),
        "load this screen again from the home",
        &[KeyCode::Char('r')],
        Some(Action::Reload),
    ),
    bind(
        "?",
        Some("help"),
        "these keys",
        &[KeyCode::Char('?')],
        Some(Action::Help),
    ),
    bind(
        "q Esc",
        Some("quit"),
        "back; from a screen's list, leave (Ctrl-C leaves at once)",
        &[KeyCode::Char('q'), KeyCode::Esc],
        Some(Action::Quit),
    ),
];

/// The Overview.
pub static OVERVIEW: &[Binding] = &[VERIFY];

/// The list of datasets.
pub static DATA_LIST: &[Binding] = &[
    MOVE,
    MOVE_DOWN,
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    bind(
        "Tab",
        Some("next list"),
        "to the next list: datasets, contracts, refused ingests",
        &[KeyCode::Tab],
        Some(Action::NextList),
    ),
    bind(
        "Enter",
        Some("open"),
        "a dataset's profile (data show), a contract against the version before it \
         (contract diff), a refused ingest's record",
        &[KeyCode::Enter],
        Some(Action::Open),
    ),
];

/// A dataset's profile.
pub static DATA_PROFILE: &[Binding] = &[
    bind(
        "↑↓",
        Some("column"),
        "choose a column (also k j)",
        &[KeyCode::Up, KeyCode::Char('k')],
        Some(Action::Up),
    ),
    MOVE_DOWN,
    TOP,
    BOTTOM,
    BACK,
];

/// The model registry.
pub static MODELS_LIST: &[Binding] = &[
    MOVE,
    MOVE_DOWN,
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    bind(
        "Enter",
        Some("detail"),
        "metrics, gates, approvals, lineage (models show, lineage)",
        &[KeyCode::Enter],
        Some(Action::Open),
    ),
    FILTER,
    CARD,
    APPROVE,
    DEPLOY_MODEL,
];

/// A model's detail.
pub static MODELS_DETAIL: &[Binding] = &[
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
    CARD,
    APPROVE,
    DEPLOY_MODEL,
    BACK,
];

/// The feature set versions.
pub static FEATURES_LIST: &[Binding] = &[
    MOVE,
    MOVE_DOWN,
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    bind(
        "Enter",
        Some("transforms"),
        "the version's transforms and frozen parameters",
        &[KeyCode::Enter],
        Some(Action::Open),
    ),
];

/// A text detail that only scrolls (a feature set version).
pub static TEXT_DETAIL: &[Binding] = &[
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
    BACK,
];

/// The training runs.
pub static TRAINING_LIST: &[Binding] = &[
    MOVE,
    MOVE_DOWN,
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    bind(
        "Enter",
        Some("run"),
        "settings, loss and score per epoch, metrics per slice (models show)",
        &[KeyCode::Enter],
        Some(Action::Open),
    ),
    FILTER,
    bind(
        "n",
        Some("new run"),
        "train a model: dataset, features, model, epochs, seed, name; asks first, then \
         shows the worker's epochs (airlock train)",
        &[KeyCode::Char('n')],
        Some(Action::Train),
    ),
];

/// A training run.
pub static TRAINING_DETAIL: &[Binding] = &[
    bind(
        "↑↓",
        Some("slices"),
        "scroll the metrics per slice (also k j, PgUp PgDn)",
        &[KeyCode::Up, KeyCode::Char('k')],
        Some(Action::Up),
    ),
    MOVE_DOWN,
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    BACK,
];

/// The slots.
pub static SLOTS: &[Binding] = &[
    bind(
        "↑↓",
        Some("slot"),
        "choose a slot (also k j)",
        &[KeyCode::Up, KeyCode::Char('k')],
        Some(Action::Up),
    ),
    MOVE_DOWN,
    TOP,
    BOTTOM,
    bind(
        "d",
        Some("deploy"),
        "deploy a model to the slot, with its share (asks first; airlock deploy)",
        &[KeyCode::Char('d')],
        Some(Action::Deploy),
    ),
    bind(
        "p",
        Some("promote"),
        "the canary's model becomes production's (asks first; airlock promote)",
        &[KeyCode::Char('p')],
        Some(Action::Promote),
    ),
    bind(
        "b",
        Some("roll back"),
        "roll the slot back, with a reason (asks first; airlock rollback)",
        &[KeyCode::Char('b')],
        Some(Action::Rollback),
    ),
    bind(
        "t",
        Some("to"),
        "roll the slot back to a model it held before, chosen (asks first; airlock \
         rollback --to)",
        &[KeyCode::Char('t')],
        Some(Action::RollbackTo),
    ),
];

/// The monitoring windows.
pub static MONITOR_LIST: &[Binding] = &[
    bind(
        "↑↓",
        Some("window"),
        "choose a window; its features' drift is shown below (also k j)",
        &[KeyCode::Up, KeyCode::Char('k')],
        Some(Action::Up),
    ),
    MOVE_DOWN,
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    bind(
        "Enter",
        Some("drift"),
        "the window's drift per feature, full height (monitor report)",
        &[KeyCode::Enter],
        Some(Action::Open),
    ),
    labels::ACCURACY,
    labels::LABELS,
];

const BUNDLE_VERIFY: Binding = bind(
    "v",
    Some("verify"),
    "check every part and object as an import would, writing nothing (airlock bundle verify)",
    &[KeyCode::Char('v')],
    Some(Action::VerifyBundle),
);
const BUNDLE_IMPORT: Binding = bind(
    "i",
    Some("import"),
    "import the bundle: its manifest checked, then asks first (airlock bundle import)",
    &[KeyCode::Char('i')],
    Some(Action::Import),
);
const BUNDLE_EXPORT: Binding = bind(
    "e",
    Some("export"),
    "export wizard: what, to which site card, where, split size (airlock bundle export)",
    &[KeyCode::Char('e')],
    Some(Action::Export),
);

/// The bundles on the media.
pub static MEDIA_LIST: &[Binding] = &[
    // Not in the bar, which has no room for it beside the screen's four actions and `q`.
    bind(
        "↑↓",
        None,
        "choose a bundle (also k j)",
        &[KeyCode::Up, KeyCode::Char('k')],
        Some(Action::Up),
    ),
    MOVE_DOWN,
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    bind(
        "Enter",
        Some("inspect"),
        "the manifest: origin, sequence, objects, expiry (airlock bundle inspect)",
        &[KeyCode::Enter],
        Some(Action::Open),
    ),
    BUNDLE_VERIFY,
    BUNDLE_IMPORT,
    BUNDLE_EXPORT,
];

/// A bundle's manifest.
pub static MEDIA_DETAIL: &[Binding] = &[
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
    BUNDLE_VERIFY,
    BUNDLE_IMPORT,
    BACK,
];

/// Long work running: only leaving is possible.
pub static WORKING: &[Binding] = &[bind(
    "Ctrl-C",
    Some("leave (stops the work as Ctrl-C stops the command)"),
    "leave the console; the work stops as it would on the command line (it cannot be \
     cancelled half-way: the library offers no way to)",
    &[],
    None,
)];

/// The audit log.
pub static AUDIT_LIST: &[Binding] = &[
    MOVE,
    MOVE_DOWN,
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    bind(
        "Enter",
        Some("record"),
        "the record's subjects and details",
        &[KeyCode::Enter],
        Some(Action::Open),
    ),
    FILTER,
    VERIFY,
];

/// One audit record.
pub static AUDIT_RECORD: &[Binding] = &[
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
    BACK,
];

/// Typing a filter.
pub static FILTER_EDIT: &[Binding] = &[
    bind(
        "type",
        Some("to filter"),
        "the list keeps rows containing it (case-insensitive)",
        &[],
        None,
    ),
    bind(
        "Enter",
        Some("keep"),
        "keep the filter",
        &[KeyCode::Enter],
        None,
    ),
    bind(
        "Esc",
        Some("clear"),
        "clear the filter",
        &[KeyCode::Esc],
        None,
    ),
];

/// A message or error.
pub static MESSAGE: &[Binding] = &[bind(
    "Enter Esc",
    Some("close"),
    "close the message",
    &[KeyCode::Enter, KeyCode::Esc],
    None,
)];

/// A confirmation asking for a passphrase.
pub static CONFIRM: &[Binding] = &[
    bind(
        "Tab",
        Some("next"),
        "next field or button (Shift-Tab: previous)",
        &[KeyCode::Tab],
        None,
    ),
    bind(
        "←→",
        Some("choose"),
        "in a choice, the option; on the buttons, Cancel or the action",
        &[KeyCode::Left, KeyCode::Right],
        None,
    ),
    bind(
        "Enter",
        Some("press"),
        "next field; on a button, press it (Cancel is the default)",
        &[KeyCode::Enter],
        None,
    ),
    bind(
        "Esc",
        Some("cancel"),
        "cancel: nothing is signed, the passphrase is wiped",
        &[KeyCode::Esc],
        None,
    ),
];

/// The help.
pub static HELP: &[Binding] = &[bind("any key", Some("close"), "close the help", &[], None)];

/// The action a key has in a view whose own bindings are `view`: its own first, then the
/// global ones.
pub fn action(view: &[Binding], code: KeyCode) -> Option<Action> {
    view.iter()
        .chain(GLOBAL)
        .find(|b| b.codes.contains(&code))
        .and_then(|b| b.action)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIEWS: [&[Binding]; 17] = [
        OVERVIEW,
        MONITOR_ACCURACY,
        LABELS_PICKER,
        MEDIA_LIST,
        MEDIA_DETAIL,
        MONITOR_LIST,
        SLOTS,
        FEATURES_LIST,
        TEXT_DETAIL,
        TRAINING_LIST,
        TRAINING_DETAIL,
        DATA_LIST,
        DATA_PROFILE,
        MODELS_LIST,
        MODELS_DETAIL,
        AUDIT_LIST,
        AUDIT_RECORD,
    ];

    #[test]
    fn every_key_a_view_lists_does_what_the_list_says() {
        for view in VIEWS {
            for b in view.iter().chain(GLOBAL) {
                let Some(want) = b.action else { continue };
                for code in b.codes {
                    // A global key a view overrides is not listed for that view (ui::listed).
                    let overridden = GLOBAL.iter().any(|g| std::ptr::eq(g, b))
                        && view.iter().any(|v| v.codes.contains(code));
                    if !overridden {
                        assert_eq!(action(view, *code), Some(want), "{} in a view", b.keys);
                    }
                }
            }
        }
    }

    #[test]
    fn every_view_has_a_way_back_or_out_and_to_help() {
        for view in VIEWS {
            assert!(
                action(view, KeyCode::Esc)
                    .is_some_and(|a| matches!(a, Action::Back | Action::Quit))
            );
            assert_eq!(action(view, KeyCode::Char('?')), Some(Action::Help));
        }
    }
}
