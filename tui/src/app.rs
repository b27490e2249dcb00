//! The console's state and how keys and library results change it. Nothing here draws or
//! calls the library: a key gives at most a [`Task`] to perform, and a task's [`Outcome`] is
//! applied back ([`App::apply`]).

use airlock::error::exit;
use airlock::text;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::deploy;
use crate::form::{self, Confirm, Field, Intent};
use crate::keys::{self, Action, Binding};
use crate::shown::Shown;
pub use crate::state::{
    AuditState, DataList, DataState, DeployState, DetailState, FeaturesState, ListState,
    MediaState, ModelsState, MonitorState, ProfileState, TrainingState,
};
use crate::task::Task;
use crate::view::{ErrorView, Overview};
use crate::work::Working;

mod monitor;
mod outcome;

/// Lines moved by PgUp and PgDn.
pub const PAGE: usize = 10;

/// The screens, each one key, in the order of screens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// Site, keys, policy, deployments, audit and air-gap status.
    Overview,
    /// Datasets, their profiles, contracts.
    Data,
    /// Feature set versions, their transforms and frozen parameters.
    Features,
    /// Training runs: settings, loss and score per epoch, metrics per slice.
    Training,
    /// The model registry, a model's detail; approve and deploy.
    Models,
    /// Slots and their models; deploy, promote, roll back.
    Deploy,
    /// Alerts, monitoring windows and their drift per feature.
    Monitor,
    /// Bundles on mounted media: inspect, verify, import; the export wizard.
    Media,
    /// The audit log.
    Audit,
}

impl Screen {
    /// Every screen, in key order.
    pub const ALL: [Screen; 9] = [
        Screen::Overview,
        Screen::Data,
        Screen::Features,
        Screen::Training,
        Screen::Models,
        Screen::Deploy,
        Screen::Monitor,
        Screen::Media,
        Screen::Audit,
    ];

    /// Its name.
    pub fn title(self) -> &'static str {
        match self {
            Screen::Overview => "Overview",
            Screen::Data => "Data",
            Screen::Features => "Features",
            Screen::Training => "Training",
            Screen::Models => "Models",
            Screen::Deploy => "Deploy",
            Screen::Monitor => "Monitor",
            Screen::Media => "Media",
            Screen::Audit => "Audit",
        }
    }

    /// Its name shortened, for the screen bar when it is short of room.
    pub fn short_title(self) -> &'static str {
        match self {
            Screen::Overview => "Over",
            Screen::Data => "Data",
            Screen::Features => "Feat",
            Screen::Training => "Train",
            Screen::Models => "Model",
            Screen::Deploy => "Deploy",
            Screen::Monitor => "Mon",
            Screen::Media => "Media",
            Screen::Audit => "Audit",
        }
    }

    /// The key that shows it.
    pub fn key(self) -> char {
        match self {
            Screen::Overview => '1',
            Screen::Data => '2',
            Screen::Features => '3',
            Screen::Training => '4',
            Screen::Models => '5',
            Screen::Deploy => '6',
            Screen::Monitor => '7',
            Screen::Media => '8',
            Screen::Audit => '9',
        }
    }
}

/// A dialog over the screen.
#[derive(Debug)]
pub enum Dialog {
    /// A result to read.
    Message {
        /// Its title.
        title: &'static str,
        /// The text.
        text: Shown,
    },
    /// A library error, in full.
    Error {
        /// What was being done.
        title: &'static str,
        /// The error.
        error: ErrorView,
    },
    /// Asks before signing (boxed: it is much larger than the others).
    Confirm(Box<Confirm>),
}

/// The console's whole state.
#[derive(Debug)]
pub struct App {
    /// The screen shown.
    pub screen: Screen,
    /// The operator chosen at start (`--operator`), who signs approvals and deployments.
    pub operator: Option<Shown>,
    /// Overview data, once loaded.
    pub overview: Option<Overview>,
    /// The Data screen.
    pub data: DataState,
    /// The Models screen.
    pub models: ModelsState,
    /// The Features screen.
    pub features: FeaturesState,
    /// The Training screen.
    pub training: TrainingState,
    /// The Deploy screen.
    pub slots: DeployState,
    /// The Monitor screen.
    pub monitor: MonitorState,
    /// The Media screen.
    pub media: MediaState,
    /// Long work running off the drawing thread, and its progress.
    pub work: Option<Working>,
    /// The Audit screen.
    pub audit: AuditState,
    /// Whether the keys of the current view are shown.
    pub help: bool,
    /// The open dialog.
    pub dialog: Option<Dialog>,
    /// What the console is doing, while a task runs.
    pub busy: Option<&'static str>,
    /// Set when the operator leaves.
    pub quit: bool,
}

impl App {
    /// A console for `operator` (if any), on the Overview, nothing loaded yet: perform
    /// [`App::start`] first.
    pub fn new(operator: Option<&str>) -> Self {
        App {
            screen: Screen::Overview,
            operator: operator.map(Shown::new),
            overview: None,
            data: DataState::default(),
            models: ModelsState::default(),
            features: FeaturesState::default(),
            training: TrainingState::default(),
            slots: DeployState::default(),
            monitor: MonitorState::default(),
            media: MediaState::default(),
            work: None,
            audit: AuditState::default(),
            help: false,
            dialog: None,
            busy: None,
            quit: false,
        }
    }

    /// The first task: load the Overview.
    pub fn start(&self) -> Task {
        Task::Overview
    }

    /// The key bindings of what is on screen now (the bar and the help show these).
    pub fn bindings(&self) -> &'static [Binding] {
        if self.work.is_some() {
            return keys::WORKING;
        }
        if self.help {
            return keys::HELP;
        }
        match &self.dialog {
            Some(Dialog::Confirm(_)) => keys::CONFIRM,
            Some(_) => keys::MESSAGE,
            None => self.view_bindings(),
        }
    }

    /// The key bindings of the view under any help or dialog.
    pub fn view_bindings(&self) -> &'static [Binding] {
        match self.screen {
            Screen::Overview => keys::OVERVIEW,
            Screen::Data if self.data.profile.is_some() => keys::DATA_PROFILE,
            Screen::Data if self.data.diff.is_some() || self.data.record.is_some() => {
                keys::TEXT_DETAIL
            }
            Screen::Data => keys::DATA_LIST,
            Screen::Features if self.features.detail.is_some() => keys::TEXT_DETAIL,
            Screen::Features => keys::FEATURES_LIST,
            Screen::Training if self.training.list.editing => keys::FILTER_EDIT,
            Screen::Training if self.training.detail.is_some() => keys::TRAINING_DETAIL,
            Screen::Training => keys::TRAINING_LIST,
            Screen::Models if self.models.list.editing => keys::FILTER_EDIT,
            Screen::Models if self.models.card.is_some() => keys::TEXT_DETAIL,
            Screen::Models if self.models.detail.is_some() => keys::MODELS_DETAIL,
            Screen::Models => keys::MODELS_LIST,
            Screen::Deploy => keys::SLOTS,
            Screen::Monitor if self.monitor.picker.as_ref().is_some_and(|p| p.list.editing) => {
                keys::FILTER_EDIT
            }
            Screen::Monitor if self.monitor.picker.is_some() => keys::LABELS_PICKER,
            Screen::Monitor if self.monitor.accuracy.is_some() => keys::MONITOR_ACCURACY,
            Screen::Monitor if self.monitor.open.is_some() => keys::TEXT_DETAIL,
            Screen::Monitor => keys::MONITOR_LIST,
            Screen::Media if self.media.open.is_some() => keys::MEDIA_DETAIL,
            Screen::Media => keys::MEDIA_LIST,
            Screen::Audit if self.audit.list.editing => keys::FILTER_EDIT,
            Screen::Audit if self.audit.record.is_some() => keys::AUDIT_RECORD,
            Screen::Audit => keys::AUDIT_LIST,
        }
    }

    /// Whether the global keys (screens, reload, help, quit) apply now.
    pub fn global_keys(&self) -> bool {
        !self.help
            && self.work.is_none()
            && self.dialog.is_none()
            && !self.models.list.editing
            && !self.audit.list.editing
            && !self.training.list.editing
            && !self.monitor.picker.as_ref().is_some_and(|p| p.list.editing)
    }

    /// Handles a key; returns the library work it asks for, if any.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Task> {
        if key.kind != KeyEventKind::Press {
            return None;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return None;
        }
        if self.busy.is_some() || self.work.is_some() {
            return None;
        }
        if self.help {
            self.help = false;
            return None;
        }
        if self.dialog.is_some() {
            return self.dialog_key(key);
        }
        if let Some(list) = self.editing_list() {
            filter_key(list, key.code);
            return None;
        }
        let action = keys::action(self.bindings(), key.code)?;
        self.act(action)
    }

    fn editing_list(&mut self) -> Option<&mut ListState> {
        match self.screen {
            Screen::Models if self.models.list.editing => Some(&mut self.models.list),
            Screen::Training if self.training.list.editing => Some(&mut self.training.list),
            Screen::Audit if self.audit.list.editing => Some(&mut self.audit.list),
            Screen::Monitor => match &mut self.monitor.picker {
                Some(p) if p.list.editing => Some(&mut p.list),
                _ => None,
            },
            _ => None,
        }
    }

    /// The task that loads the current screen again.
    pub fn reload(&self) -> Task {
        match self.screen {
            Screen::Overview => Task::Overview,
            Screen::Data => Task::Data,
            Screen::Features => match &self.features.detail {
                Some((d, _)) => Task::Set(d.row.clone()),
                None => Task::Sets,
            },
            Screen::Training => match &self.training.detail {
                Some((d, _)) => Task::Run(d.row.id_hex.clone()),
                None => Task::Runs,
            },
            Screen::Models => Task::Models {
                open: self.models.detail.as_ref().map(|d| d.detail.row.clone()),
            },
            Screen::Deploy => Task::Slots,
            Screen::Monitor => Task::Monitor {
                labels: self.monitor.labels.clone(),
            },
            // An open manifest is read again: after an import its sequence is no longer new.
            Screen::Media => match &self.media.open {
                Some((d, _)) => Task::Inspect {
                    path: d.path.clone(),
                    then_import: false,
                },
                None => Task::Media,
            },
            Screen::Audit => Task::Audit,
        }
    }

    fn act(&mut self, action: Action) -> Option<Task> {
        match action {
            Action::Quit => self.quit = true,
            Action::Back => self.back(),
            Action::Help => self.help = true,
            Action::Screen(s) => {
                self.screen = s;
                return Some(self.reload());
            }
            Action::Reload => return Some(self.reload()),
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom => self.step(action),
            Action::Open => return self.open(),
            Action::Filter => match self.screen {
                Screen::Models => self.models.list.editing = true,
                Screen::Audit => self.audit.list.editing = true,
                Screen::Training => self.training.list.editing = true,
                Screen::Monitor => {
                    if let Some(p) = &mut self.monitor.picker {
                        p.list.editing = true;
                    }
                }
                _ => {}
            },
            Action::Verify => return Some(Task::VerifyAudit),
            Action::NextList => {
                self.data.focus = match self.data.focus {
                    DataList::Datasets => DataList::Contracts,
                    DataList::Contracts => DataList::Refused,
                    DataList::Refused => DataList::Datasets,
                }
            }
            Action::Approve => {
                if let Some(m) = self.models.current().cloned() {
                    self.ask(Intent::Approve(Box::new(m)), form::approve_fields());
                }
            }
            Action::Deploy => self.ask_deploy(),
            Action::Card => {
                return self.models.current().map(|m| Task::Card(m.id_hex.clone()));
            }
            Action::Promote => self.ask(Intent::Promote, vec![]),
            Action::Rollback => {
                let slot = self.slots.slot().unwrap_or(rollout_default()).to_string();
                self.ask(Intent::Rollback, form::rollback_fields(&slot));
            }
            Action::RollbackTo => self.ask_rollback_to(),
            Action::VerifyBundle => return self.media.target().map(Task::VerifyBundle),
            Action::Import => {
                return self.media.target().map(|path| Task::Inspect {
                    path,
                    then_import: true,
                });
            }
            Action::Export => {
                let c = Confirm::new(Intent::Export, form::export_fields(&self.media.view));
                // Who authorises it under a trust policy: the console's operator, if any.
                let c = if self.operator.is_some() {
                    c
                } else {
                    c.without_passphrase()
                };
                self.dialog = Some(Dialog::Confirm(Box::new(c)));
            }
            Action::Train => return Some(Task::TrainForm),
            Action::Accuracy => self.open_accuracy(),
            Action::Labels => return Some(Task::Labels),
        }
        None
    }

    fn back(&mut self) {
        match self.screen {
            Screen::Data => {
                self.data.profile = None;
                self.data.diff = None;
                self.data.record = None;
            }
            Screen::Models if self.models.card.is_some() => self.models.card = None,
            Screen::Models => self.models.detail = None,
            Screen::Audit => self.audit.record = None,
            Screen::Features => self.features.detail = None,
            Screen::Training => self.training.detail = None,
            Screen::Monitor => self.monitor_back(),
            Screen::Media => self.media.open = None,
            Screen::Overview | Screen::Deploy => {}
        }
    }

    fn step(&mut self, action: Action) {
        match self.screen {
            Screen::Overview => {}
            Screen::Features => match &mut self.features.detail {
                Some((d, scroll)) => *scroll = moved(*scroll, d.text().len(), action),
                None => {
                    self.features.selected =
                        moved(self.features.selected, self.features.rows.len(), action)
                }
            },
            Screen::Training => {
                let len = self.training.visible().len();
                match &mut self.training.detail {
                    Some((d, scroll)) => *scroll = moved(*scroll, d.slices.len(), action),
                    None => {
                        self.training.list.selected =
                            moved(self.training.list.selected, len, action)
                    }
                }
            }
            Screen::Deploy => {
                self.slots.selected =
                    moved(self.slots.selected, self.slots.view.slots.len(), action)
            }
            Screen::Media => {
                let m = &mut self.media;
                match &mut m.open {
                    Some((d, scroll)) => *scroll = moved(*scroll, d.text().len(), action),
                    None => m.selected = moved(m.selected, m.view.bundles.len(), action),
                }
            }
            Screen::Monitor => self.monitor_step(action),
            Screen::Data => {
                let d = &mut self.data;
                let record_len = d.open_record().map_or(0, |(r, _)| r.text().len());
                if let Some(p) = &mut d.profile {
                    p.column = moved(p.column, p.profile.columns.len(), action);
                } else if let Some((diff, scroll)) = &mut d.diff {
                    *scroll = moved(*scroll, diff.text().len(), action);
                } else if let Some((_, scroll)) = &mut d.record {
                    *scroll = moved(*scroll, record_len, action);
                } else {
                    match d.focus {
                        DataList::Datasets => {
                            d.selected = moved(d.selected, d.view.datasets.len(), action)
                        }
                        DataList::Contracts => {
                            d.contract = moved(d.contract, d.view.contracts.len(), action)
                        }
                        DataList::Refused => {
                            d.refusal = moved(d.refusal, d.view.refused.len(), action)
                        }
                    }
                }
            }
            Screen::Models if self.models.card.is_some() => {
                if let Some((c, scroll)) = &mut self.models.card {
                    *scroll = moved(*scroll, c.lines.len(), action);
                }
            }
            Screen::Models => {
                let len = self.models.visible().len();
                match &mut self.models.detail {
                    Some(d) => d.scroll = moved(d.scroll, d.detail.text().len(), action),
                    None => {
                        self.models.list.selected = moved(self.models.list.selected, len, action)
                    }
                }
            }
            Screen::Audit => {
                let len = self.audit.visible().len();
                let text_len = self.audit.open().map_or(0, |r| r.text().len());
                match &mut self.audit.record {
                    Some((_, scroll)) => *scroll = moved(*scroll, text_len, action),
                    None => self.audit.list.selected = moved(self.audit.list.selected, len, action),
                }
            }
        }
    }

    fn open(&mut self) -> Option<Task> {
        match self.screen {
            Screen::Overview | Screen::Deploy => None,
            Screen::Media => self.media.current().map(|b| Task::Inspect {
                path: b.path.clone(),
                then_import: false,
            }),
            Screen::Monitor => self.monitor_open(),
            Screen::Features => self
                .features
                .rows
                .get(self.features.selected)
                .cloned()
                .map(Task::Set),
            Screen::Training => self
                .training
                .visible()
                .get(self.training.list.selected)
                .map(|r| Task::Run(r.id_hex.clone())),
            Screen::Data => match self.data.focus {
                DataList::Datasets => self
                    .data
                    .view
                    .datasets
                    .get(self.data.selected)
                    .map(|d| Task::Profile(d.key.clone())),
                DataList::Contracts => self
                    .data
                    .view
                    .contracts
                    .get(self.data.contract)
                    .map(|c| Task::ContractDiff(c.key.clone())),
                DataList::Refused => {
                    if self.data.refusal < self.data.view.refused.len() {
                        self.data.record = Some((self.data.refusal, 0));
                    }
                    None
                }
            },
            Screen::Models => self.models.current().cloned().map(Task::Model),
            Screen::Audit => {
                let seq = self
                    .audit
                    .visible()
                    .get(self.audit.list.selected)
                    .map(|r| r.seq);
                self.audit.record = seq.map(|s| (s, 0));
                None
            }
        }
    }

    /// Opens a confirmation for `intent`, or says how to start the console with an operator.
    fn ask(&mut self, intent: Intent, fields: Vec<Field>) {
        if self.operator.is_none() {
            self.dialog = Some(Dialog::Error {
                title: intent.verb(),
                error: ErrorView::new(
                    &format!(
                        "{} needs an operator's signature: start the console with --operator NAME \
                         (an operator made with `airlock keys operator new NAME`)",
                        match intent {
                            Intent::Approve(_) => "approving a model",
                            Intent::Deploy => "deploying a model",
                            Intent::Promote => "promoting the canary",
                            Intent::Rollback => "rolling a slot back",
                            Intent::Import(_) => "importing a bundle",
                            Intent::Export => "exporting a bundle",
                            Intent::Train => "training a model",
                        }
                    ),
                    exit::USAGE,
                ),
            });
            return;
        }
        self.dialog = Some(Dialog::Confirm(Box::new(Confirm::new(intent, fields))));
    }

    /// Deploy: on the Models screen the model shown or selected, to production; on the Deploy
    /// screen a model chosen from the registry (first those deployed nowhere) to the selected
    /// slot, with its share when it has one.
    fn ask_deploy(&mut self) {
        let fields = match self.screen {
            Screen::Deploy => {
                let Some(slot) = self.slots.view.slots.get(self.slots.selected) else {
                    return;
                };
                let held = slot.current.as_ref().map(|h| h.model.as_str());
                let mut models = self.slots.view.models.clone();
                // A stable sort: first the models deployed nowhere, newest first, then those
                // in other slots, last the one this slot holds.
                models.sort_by_key(|m| (Some(m.id_hex.as_str()) == held, m.deployed.is_some()));
                let percent = slot
                    .current
                    .as_ref()
                    .and_then(|h| h.percent)
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                form::deploy_fields(&models, slot.name.as_str(), &percent)
            }
            _ => match self.models.current() {
                Some(m) => form::deploy_fields(std::slice::from_ref(m), rollout_default(), ""),
                None => return,
            },
        };
        if fields.first().is_some_and(|f| f.value().is_empty()) {
            // No model to choose from.
            return;
        }
        self.ask(Intent::Deploy, fields);
    }

    /// Rollback to a chosen model: the selected slot's earlier models, newest first.
    fn ask_rollback_to(&mut self) {
        let Some(slot) = self.slots.view.slots.get(self.slots.selected) else {
            return;
        };
        if slot.earlier.is_empty() {
            self.dialog = Some(Dialog::Message {
                title: "roll back to",
                text: Shown::new(&format!(
                    "Slot {:?} has held no other model: there is nothing to go back to \
                     (airlock rollback --to names a model the slot held before).",
                    slot.name.as_str()
                )),
            });
            return;
        }
        let view = &self.slots.view;
        let fields = form::rollback_to_fields(slot.name.as_str(), &slot.earlier, |m| view.named(m));
        self.ask(Intent::Rollback, fields);
    }

    fn dialog_key(&mut self, key: KeyEvent) -> Option<Task> {
        let Some(Dialog::Confirm(c)) = &mut self.dialog else {
            if matches!(key.code, KeyCode::Enter | KeyCode::Esc | KeyCode::Char('q')) {
                self.dialog = None;
            }
            return None;
        };
        match c.on_key(key) {
            form::Outcome::Stay => None,
            // Dropping the dialog drops its passphrase field, which zeroizes it.
            form::Outcome::Cancel => {
                self.dialog = None;
                None
            }
            form::Outcome::Submit => {
                let Some(Dialog::Confirm(c)) = self.dialog.take() else {
                    return None;
                };
                match c.submit() {
                    Ok(task) => Some(task),
                    Err(error) => {
                        self.dialog = Some(Dialog::Error {
                            title: "the form",
                            error,
                        });
                        None
                    }
                }
            }
        }
    }

    /// The model `slot` holds, in words, from the screen's own data (the Deploy screen's
    /// slots, else the registry just loaded for the Models screen).
    pub fn holder(&self, slot: &str) -> String {
        if self.screen == Screen::Deploy {
            return deploy::holder_says(&self.slots.view, slot);
        }
        self.models
            .rows
            .iter()
            .find(|r| {
                r.deployed
                    .as_ref()
                    .is_some_and(|d| d.as_str().split(',').any(|s| s == slot))
            })
            .map(|r| {
                format!(
                    "model {} {}",
                    r.id.as_str().chars().take(12).collect::<String>(),
                    r.name
                )
            })
            .unwrap_or_else(|| "nothing".into())
    }
}

/// A selection (or a scroll offset) moved by `action` in a list of `len` rows (lines).
pub(crate) fn moved(selected: usize, len: usize, action: Action) -> usize {
    let last = len.saturating_sub(1);
    match action {
        Action::Up => selected.saturating_sub(1),
        Action::Down => (selected + 1).min(last),
        Action::PageUp => selected.saturating_sub(PAGE),
        Action::PageDown => (selected + PAGE).min(last),
        Action::Top => 0,
        Action::Bottom => last,
        _ => selected,
    }
    .min(last)
}

/// The slot a deployment or rollback names when none is chosen (`--slot`'s default).
fn rollout_default() -> &'static str {
    airlock::ops::rollout::PRODUCTION
}

fn filter_key(list: &mut ListState, code: KeyCode) {
    match code {
        KeyCode::Enter => {
            list.editing = false;
            return;
        }
        KeyCode::Esc => {
            list.filter.clear();
            list.editing = false;
        }
        KeyCode::Backspace => {
            list.filter.pop();
        }
        KeyCode::Char(c) if !text::is_unsafe(c) && list.filter.chars().count() < 64 => {
            list.filter.push(c)
        }
        _ => return,
    }
    list.selected = 0;
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
