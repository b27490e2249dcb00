//! The console's state and how keys and library results change it. Nothing here draws or
//! calls the library: a key gives at most a [`Task`] to perform, and a task's [`Outcome`] is
//! applied back ([`App::apply`]).

use airlock::error::exit;
use airlock::text;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::deploy::{self, SlotsView};
use crate::featureset::{SetDetail, SetRow};
use crate::form::{self, Confirm, Field, Intent};
use crate::keys::{self, Action, Binding};
use crate::report::CardView;
use crate::shown::Shown;
use crate::task::{Outcome, Task};
use crate::training::{RunDetail, RunRow};
use crate::view::{
    AuditRow, ContractDiff, DataView, DatasetProfile, ErrorView, ModelDetail, ModelRow, Overview,
};

/// Lines moved by PgUp and PgDn.
pub const PAGE: usize = 10;

/// The screens, each one key. The keys follow the order of screens, so screens to
/// come (7 Monitor, 8 Media) take the keys between without moving any.
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
    /// The audit log.
    Audit,
}

impl Screen {
    /// Every screen, in key order.
    pub const ALL: [Screen; 7] = [
        Screen::Overview,
        Screen::Data,
        Screen::Features,
        Screen::Training,
        Screen::Models,
        Screen::Deploy,
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
            Screen::Audit => '9',
        }
    }
}

/// A list's selection and filter.
#[derive(Clone, Debug, Default)]
pub struct ListState {
    /// The selected row among those the filter keeps.
    pub selected: usize,
    /// The filter text (only characters safe to draw are accepted).
    pub filter: String,
    /// Whether the filter is being typed.
    pub editing: bool,
}

/// The lists of the Data screen; Tab moves the keyboard from one to the next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DataList {
    /// Dataset versions.
    #[default]
    Datasets,
    /// Contract versions.
    Contracts,
    /// Refused ingests.
    Refused,
}

/// The Data screen.
#[derive(Debug, Default)]
pub struct DataState {
    /// Datasets, contracts and refused ingests.
    pub view: DataView,
    /// The list the keyboard is in.
    pub focus: DataList,
    /// The selected dataset.
    pub selected: usize,
    /// The selected contract version.
    pub contract: usize,
    /// The selected refused ingest.
    pub refusal: usize,
    /// The open profile.
    pub profile: Option<ProfileState>,
    /// The open contract diff, and lines scrolled.
    pub diff: Option<(ContractDiff, usize)>,
    /// The open refused ingest (its index), and lines scrolled.
    pub record: Option<(usize, usize)>,
}

impl DataState {
    /// The open refused ingest's audit record.
    pub fn open_record(&self) -> Option<(&AuditRow, usize)> {
        let (i, scroll) = self.record?;
        self.view.refused.get(i).map(|r| (&r.record, scroll))
    }
}

/// An open dataset profile.
#[derive(Debug)]
pub struct ProfileState {
    /// The profile.
    pub profile: DatasetProfile,
    /// The selected column.
    pub column: usize,
}

/// The Models screen.
#[derive(Debug, Default)]
pub struct ModelsState {
    /// The registry, newest first.
    pub rows: Vec<ModelRow>,
    /// Selection and filter.
    pub list: ListState,
    /// The open model.
    pub detail: Option<DetailState>,
    /// The open model card, and lines scrolled (over the list or the detail).
    pub card: Option<(CardView, usize)>,
}

impl ModelsState {
    /// The rows the filter keeps.
    pub fn visible(&self) -> Vec<&ModelRow> {
        self.rows
            .iter()
            .filter(|r| r.matches(&self.list.filter))
            .collect()
    }

    /// The model an action applies to: the open one, else the selected one.
    pub fn current(&self) -> Option<&ModelRow> {
        match &self.detail {
            Some(d) => Some(&d.detail.row),
            None => self.visible().get(self.list.selected).copied(),
        }
    }
}

/// An open model detail.
#[derive(Debug)]
pub struct DetailState {
    /// The detail.
    pub detail: ModelDetail,
    /// Lines scrolled.
    pub scroll: usize,
}

/// The Audit screen.
#[derive(Debug, Default)]
pub struct AuditState {
    /// The log, oldest first (as stored); shown newest first.
    pub rows: Vec<AuditRow>,
    /// Selection (in the newest-first order) and filter.
    pub list: ListState,
    /// The open record: its number, and lines scrolled.
    pub record: Option<(i64, usize)>,
}

impl AuditState {
    /// The records the filter keeps, newest first.
    pub fn visible(&self) -> Vec<&AuditRow> {
        self.rows
            .iter()
            .rev()
            .filter(|r| r.matches(&self.list.filter))
            .collect()
    }

    /// The open record.
    pub fn open(&self) -> Option<&AuditRow> {
        let (seq, _) = self.record?;
        self.rows.iter().find(|r| r.seq == seq)
    }
}

/// The Features screen.
#[derive(Debug, Default)]
pub struct FeaturesState {
    /// Feature set versions, by site, name and version.
    pub rows: Vec<SetRow>,
    /// The selected one.
    pub selected: usize,
    /// The open version and lines scrolled.
    pub detail: Option<(SetDetail, usize)>,
}

/// The Training screen.
#[derive(Debug, Default)]
pub struct TrainingState {
    /// The runs, newest first.
    pub rows: Vec<RunRow>,
    /// Selection and filter.
    pub list: ListState,
    /// The open run and the slice rows scrolled.
    pub detail: Option<(RunDetail, usize)>,
}

impl TrainingState {
    /// The runs the filter keeps.
    pub fn visible(&self) -> Vec<&RunRow> {
        self.rows
            .iter()
            .filter(|r| r.matches(&self.list.filter))
            .collect()
    }
}

/// The Deploy screen.
#[derive(Debug, Default)]
pub struct DeployState {
    /// The slots and the registry.
    pub view: SlotsView,
    /// The selected slot.
    pub selected: usize,
}

impl DeployState {
    /// The selected slot's name.
    pub fn slot(&self) -> Option<&str> {
        self.view.slots.get(self.selected).map(|s| s.name.as_str())
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
            Screen::Audit if self.audit.list.editing => keys::FILTER_EDIT,
            Screen::Audit if self.audit.record.is_some() => keys::AUDIT_RECORD,
            Screen::Audit => keys::AUDIT_LIST,
        }
    }

    /// Whether the global keys (screens, reload, help, quit) apply now.
    pub fn global_keys(&self) -> bool {
        !self.help
            && self.dialog.is_none()
            && !self.models.list.editing
            && !self.audit.list.editing
            && !self.training.list.editing
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
        if self.busy.is_some() {
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

    /// The model `slot` holds, in words, from whichever registry is loaded.
    pub fn holder(&self, slot: &str) -> String {
        if !self.slots.view.slots.is_empty() {
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

    /// Applies a task's outcome; returns follow-up work (a reload after an action).
    pub fn apply(&mut self, outcome: Outcome) -> Option<Task> {
        match outcome {
            Outcome::Overview(r) => match r {
                Ok(o) => self.overview = Some(o),
                Err(e) => self.fail("loading the overview", e),
            },
            Outcome::Data(r) => match r {
                Ok(v) => {
                    let d = &mut self.data;
                    d.selected = d.selected.min(v.datasets.len().saturating_sub(1));
                    d.contract = d.contract.min(v.contracts.len().saturating_sub(1));
                    d.refusal = d.refusal.min(v.refused.len().saturating_sub(1));
                    if d.record.is_some_and(|(i, _)| i >= v.refused.len()) {
                        d.record = None;
                    }
                    d.view = v;
                }
                Err(e) => self.fail("loading the data", e),
            },
            Outcome::Models { rows, detail } => {
                match rows {
                    Ok(rows) => {
                        self.models.rows = rows;
                        let len = self.models.visible().len();
                        self.models.list.selected =
                            self.models.list.selected.min(len.saturating_sub(1));
                    }
                    Err(e) => self.fail("loading the models", e),
                }
                match detail {
                    Some(Ok(d)) => match &mut self.models.detail {
                        Some(open) => open.detail = d,
                        None => {
                            self.models.detail = Some(DetailState {
                                detail: d,
                                scroll: 0,
                            })
                        }
                    },
                    Some(Err(e)) => {
                        self.models.detail = None;
                        self.fail("loading the model", e);
                    }
                    None => {}
                }
            }
            Outcome::Audit(r) => match r {
                Ok(rows) => {
                    self.audit.rows = rows;
                    let len = self.audit.visible().len();
                    self.audit.list.selected = self.audit.list.selected.min(len.saturating_sub(1));
                }
                Err(e) => self.fail("loading the audit log", e),
            },
            Outcome::Profile(r) => match r {
                Ok(profile) => self.data.profile = Some(ProfileState { profile, column: 0 }),
                Err(e) => self.fail("loading the profile", e),
            },
            Outcome::Model(r) => match r {
                Ok(detail) => self.models.detail = Some(DetailState { detail, scroll: 0 }),
                Err(e) => self.fail("loading the model", e),
            },
            Outcome::Verified(r) => {
                if let Some(o) = &mut self.overview {
                    o.audit = Some(r.clone());
                }
                match r {
                    Ok(v) => {
                        self.dialog = Some(Dialog::Message {
                            title: "audit verify",
                            text: Shown::new(&v.line()),
                        })
                    }
                    Err(e) => self.fail("audit verify", e),
                }
            }
            Outcome::Card(r) => match r {
                Ok(c) => self.models.card = Some((c, 0)),
                Err(e) => self.fail("the model card", e),
            },
            Outcome::Diff(r) => match r {
                Ok(d) => self.data.diff = Some((d, 0)),
                Err(e) => self.fail("contract diff", e),
            },
            Outcome::Sets(r) => match r {
                Ok(rows) => {
                    self.features.selected =
                        self.features.selected.min(rows.len().saturating_sub(1));
                    self.features.rows = rows;
                }
                Err(e) => self.fail("loading the feature sets", e),
            },
            Outcome::Set(r) => match r {
                Ok(d) => {
                    let scroll = self.features.detail.as_ref().map_or(0, |(_, s)| *s);
                    self.features.detail = Some((d, scroll));
                }
                Err(e) => self.fail("loading the feature set", e),
            },
            Outcome::Runs(r) => match r {
                Ok(rows) => {
                    self.training.rows = rows;
                    let len = self.training.visible().len();
                    self.training.list.selected =
                        self.training.list.selected.min(len.saturating_sub(1));
                }
                Err(e) => self.fail("loading the training runs", e),
            },
            Outcome::Run(r) => match r {
                Ok(d) => {
                    let scroll = self.training.detail.as_ref().map_or(0, |(_, s)| *s);
                    self.training.detail = Some((d, scroll));
                }
                Err(e) => self.fail("loading the run", e),
            },
            Outcome::Slots(r) => match r {
                Ok(v) => {
                    self.slots.selected = self.slots.selected.min(v.slots.len().saturating_sub(1));
                    self.slots.view = v;
                }
                Err(e) => self.fail("loading the slots", e),
            },
            Outcome::Done { title, result } => {
                match result {
                    Ok(text) => self.dialog = Some(Dialog::Message { title, text }),
                    Err(e) => self.fail(title, e),
                }
                // A refusal is recorded in the audit log too: reload either way.
                return Some(self.reload());
            }
        }
        None
    }

    fn fail(&mut self, title: &'static str, error: ErrorView) {
        self.dialog = Some(Dialog::Error { title, error });
    }
}

/// A selection (or a scroll offset) moved by `action` in a list of `len` rows (lines).
fn moved(selected: usize, len: usize, action: Action) -> usize {
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
    airlock::rollout::PRODUCTION
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
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn press(app: &mut App, codes: &[KeyCode]) -> Option<Task> {
        let mut last = None;
        for c in codes {
            last = app.on_key(key(*c));
        }
        last
    }

    fn typed(app: &mut App, s: &str) {
        for c in s.chars() {
            assert!(app.on_key(key(KeyCode::Char(c))).is_none());
        }
    }

    fn model(name: &str) -> ModelRow {
        let s = Shown::new;
        ModelRow {
            id: s("0123456789abcdef"),
            id_hex: "0123456789abcdef".into(),
            name: s(name),
            site: s("lab"),
            task: s("binary"),
            arch: s("mlp"),
            dataset: s("credit@1"),
            features: s("credit-features@1"),
            score_name: s("roc_auc"),
            score: 0.8,
            gate: s("passed"),
            approvals: 1,
            deployed: None,
        }
    }

    fn on_models(operator: Option<&str>) -> App {
        let mut app = App::new(operator);
        assert!(matches!(
            app.on_key(key(KeyCode::Char('5'))),
            Some(Task::Models { open: None })
        ));
        app.apply(Outcome::Models {
            rows: Ok(vec![model("credit-mlp"), model("churn-logreg")]),
            detail: None,
        });
        app
    }

    #[test]
    fn digits_switch_screens_and_load_them() {
        let mut app = App::new(None);
        assert!(matches!(
            app.on_key(key(KeyCode::Char('2'))),
            Some(Task::Data)
        ));
        assert_eq!(app.screen, Screen::Data);
        assert!(matches!(
            app.on_key(key(KeyCode::Char('9'))),
            Some(Task::Audit)
        ));
        assert!(matches!(
            app.on_key(key(KeyCode::Char('6'))),
            Some(Task::Slots)
        ));
        assert_eq!(app.screen, Screen::Deploy);
        assert!(matches!(
            app.on_key(key(KeyCode::Char('r'))),
            Some(Task::Slots)
        ));
        assert!(matches!(
            app.on_key(key(KeyCode::Char('1'))),
            Some(Task::Overview)
        ));
        assert_eq!(app.screen, Screen::Overview);
    }

    #[test]
    fn q_quits_from_a_list_but_only_closes_a_detail() {
        let mut app = on_models(None);
        assert!(
            matches!(app.on_key(key(KeyCode::Enter)), Some(Task::Model(m)) if m.name.as_str() == "credit-mlp")
        );
        app.models.detail = Some(DetailState {
            detail: ModelDetail {
                row: model("credit-mlp"),
                holdout_rows: 10,
                metrics: vec![],
                epochs: (1, 1),
                trained: Shown::default(),
                device: Shown::default(),
                approvals: vec![],
                gates: Ok(vec![]),
                lineage: Err(ErrorView::new("x", 4)),
            },
            scroll: 0,
        });
        assert_eq!(app.bindings().as_ptr(), keys::MODELS_DETAIL.as_ptr());
        assert!(press(&mut app, &[KeyCode::Char('q')]).is_none());
        assert!(app.models.detail.is_none() && !app.quit);
        press(&mut app, &[KeyCode::Esc]);
        assert!(app.quit);
    }

    #[test]
    fn selection_stays_within_the_list() {
        let mut app = on_models(None);
        press(&mut app, &[KeyCode::Up, KeyCode::Up]);
        assert_eq!(app.models.list.selected, 0);
        press(
            &mut app,
            &[
                KeyCode::Down,
                KeyCode::Down,
                KeyCode::Down,
                KeyCode::PageDown,
            ],
        );
        assert_eq!(app.models.list.selected, 1);
        press(&mut app, &[KeyCode::Home]);
        assert_eq!(app.models.list.selected, 0);
        press(&mut app, &[KeyCode::Char('G')]);
        assert_eq!(app.models.list.selected, 1);
    }

    #[test]
    fn the_filter_keeps_matching_rows_refuses_control_characters_and_esc_clears_it() {
        let mut app = on_models(None);
        press(&mut app, &[KeyCode::Down]);
        press(&mut app, &[KeyCode::Char('/')]);
        assert!(app.models.list.editing);
        typed(&mut app, "CHURN");
        // Keys that would act elsewhere are text while typing a filter.
        assert!(!app.quit);
        app.on_key(key(KeyCode::Char('\u{1b}')));
        app.on_key(key(KeyCode::Char('\u{202e}')));
        assert_eq!(app.models.list.filter, "CHURN");
        assert_eq!(app.models.visible().len(), 1);
        assert_eq!(app.models.list.selected, 0);
        press(&mut app, &[KeyCode::Enter]);
        assert!(!app.models.list.editing);
        assert_eq!(
            app.models.current().map(|m| m.name.as_str()),
            Some("churn-logreg")
        );
        press(&mut app, &[KeyCode::Char('/'), KeyCode::Esc]);
        assert!(app.models.list.filter.is_empty() && !app.models.list.editing);
        assert_eq!(app.models.visible().len(), 2);
    }

    #[test]
    fn approving_without_an_operator_says_how_and_asks_nothing() {
        let mut app = on_models(None);
        assert!(press(&mut app, &[KeyCode::Char('a')]).is_none());
        match &app.dialog {
            Some(Dialog::Error { error, .. }) => {
                assert_eq!(error.exit_code, exit::USAGE);
                assert!(error.message.as_str().contains("--operator NAME"));
            }
            other => panic!("{other:?}"),
        }
        press(&mut app, &[KeyCode::Enter]);
        assert!(app.dialog.is_none());
    }

    #[test]
    fn enter_after_the_passphrase_lands_on_cancel_which_signs_nothing() {
        let mut app = on_models(Some("dana"));
        assert!(press(&mut app, &[KeyCode::Char('d')]).is_none());
        let Some(Dialog::Confirm(c)) = &app.dialog else {
            panic!("no confirmation");
        };
        assert!(matches!(c.intent, Intent::Deploy));
        assert_eq!(
            c.focus,
            form::Focus::Field(1),
            "the slot: the model is fixed"
        );
        assert_eq!(c.value(form::label::SLOT), "production");
        assert_eq!(c.value(form::label::MODEL), "0123456789abcdef");
        press(&mut app, &[KeyCode::Enter, KeyCode::Enter]);
        typed(&mut app, "secret passphrase");
        assert!(press(&mut app, &[KeyCode::Enter]).is_none());
        let Some(Dialog::Confirm(c)) = &app.dialog else {
            panic!("closed too early");
        };
        assert_eq!(c.focus, form::Focus::Cancel);
        assert!(press(&mut app, &[KeyCode::Enter]).is_none());
        assert!(app.dialog.is_none());
    }

    #[test]
    fn esc_cancels_a_confirmation() {
        let mut app = on_models(Some("dana"));
        press(&mut app, &[KeyCode::Char('a'), KeyCode::Tab]);
        typed(&mut app, "pass");
        assert!(press(&mut app, &[KeyCode::Esc]).is_none());
        assert!(app.dialog.is_none());
    }

    #[test]
    fn only_the_action_button_signs_with_what_was_typed() {
        let mut app = on_models(Some("dana"));
        press(&mut app, &[KeyCode::Down]);
        press(&mut app, &[KeyCode::Char('a')]);
        typed(&mut app, "metrics reviewed");
        press(&mut app, &[KeyCode::Backspace]);
        // Note, then Reviewed (left at no), then the passphrase.
        press(&mut app, &[KeyCode::Enter, KeyCode::Enter]);
        typed(&mut app, "pass phrase");
        press(&mut app, &[KeyCode::Enter, KeyCode::Right]);
        match press(&mut app, &[KeyCode::Enter]) {
            Some(Task::Approve {
                model,
                note,
                reviewed,
                ..
            }) => {
                assert_eq!(model.name.as_str(), "churn-logreg");
                assert_eq!(note, "metrics reviewe");
                assert!(!reviewed);
            }
            other => panic!("{other:?}"),
        }
        assert!(app.dialog.is_none());
    }

    #[test]
    fn help_opens_and_any_key_closes_it_without_acting() {
        let mut app = on_models(None);
        press(&mut app, &[KeyCode::Char('?')]);
        assert!(app.help);
        assert_eq!(app.bindings().as_ptr(), keys::HELP.as_ptr());
        assert!(press(&mut app, &[KeyCode::Char('q')]).is_none());
        assert!(!app.help && !app.quit);
    }

    #[test]
    fn ctrl_c_quits_even_from_a_dialog() {
        let mut app = on_models(Some("dana"));
        press(&mut app, &[KeyCode::Char('d')]);
        app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert!(app.quit);
    }

    #[test]
    fn an_action_s_result_is_shown_and_the_screen_reloaded() {
        let mut app = on_models(Some("dana"));
        let next = app.apply(Outcome::Done {
            title: "deploy",
            result: Err(ErrorView::new("model x is not approved", exit::REFUSED)),
        });
        assert!(matches!(next, Some(Task::Models { open: None })));
        assert!(matches!(
            &app.dialog,
            Some(Dialog::Error {
                title: "deploy",
                ..
            })
        ));
    }

    #[test]
    fn the_audit_list_is_newest_first_and_enter_opens_a_record() {
        let mut app = App::new(None);
        press(&mut app, &[KeyCode::Char('9')]);
        let row = |seq: i64, action: &str| AuditRow {
            seq,
            time: Shown::new("2026-01-01T00:00:00Z"),
            action: Shown::new(action),
            actor: Shown::new("00aa"),
            actor_name: Shown::new("site lab"),
            subjects: vec![],
            details: Shown::new("{}"),
            details_block: Shown::new("{}"),
        };
        app.apply(Outcome::Audit(Ok(vec![
            row(1, "home.init"),
            row(2, "model.deploy"),
        ])));
        assert_eq!(app.audit.visible()[0].seq, 2);
        press(&mut app, &[KeyCode::Down, KeyCode::Enter]);
        assert_eq!(app.audit.open().map(|r| r.seq), Some(1));
        press(&mut app, &[KeyCode::Esc]);
        assert!(app.audit.record.is_none() && !app.quit);
    }

    fn run_row(id: &str) -> RunRow {
        RunRow {
            id: Shown::new(id),
            id_hex: id.into(),
            name: Shown::new(&format!("model-{id}")),
            site: Shown::new("lab"),
            what: Shown::new("binary logreg"),
            epochs: 3,
            best: 3,
            stopped_early: false,
            device: Shown::new("cpu"),
            finished: Shown::new("2026-01-01T00:00:00Z"),
        }
    }

    #[test]
    fn training_runs_filter_and_open_by_id_and_q_closes_the_run() {
        let mut app = App::new(None);
        assert!(matches!(
            press(&mut app, &[KeyCode::Char('4')]),
            Some(Task::Runs)
        ));
        app.apply(Outcome::Runs(Ok(vec![
            run_row("aaaa1111"),
            run_row("bbbb2222"),
        ])));
        press(&mut app, &[KeyCode::Char('/')]);
        typed(&mut app, "bbbb");
        press(&mut app, &[KeyCode::Enter]);
        match press(&mut app, &[KeyCode::Enter]) {
            Some(Task::Run(id)) => assert_eq!(id, "bbbb2222"),
            other => panic!("{other:?}"),
        }
        app.apply(Outcome::Run(Ok(RunDetail {
            row: run_row("bbbb2222"),
            settings: vec![],
            score_name: "roc_auc",
            history: vec![],
            slice_column: None,
            slice_metrics: vec![],
            slices: vec![],
        })));
        assert_eq!(app.bindings().as_ptr(), keys::TRAINING_DETAIL.as_ptr());
        assert!(matches!(
            press(&mut app, &[KeyCode::Char('r')]),
            Some(Task::Run(_))
        ));
        press(&mut app, &[KeyCode::Char('q')]);
        assert!(app.training.detail.is_none() && !app.quit);
    }

    #[test]
    fn features_open_a_version_and_esc_goes_back() {
        let mut app = App::new(None);
        assert!(matches!(
            press(&mut app, &[KeyCode::Char('3')]),
            Some(Task::Sets)
        ));
        let row = SetRow {
            id: Shown::new("cccc"),
            id_hex: "cccc".into(),
            reference: Shown::new("lab/credit-features@1"),
            width: 20,
            created: Shown::new("2026-01-01T00:00:00Z"),
        };
        app.apply(Outcome::Sets(Ok(vec![row])));
        assert!(
            matches!(press(&mut app, &[KeyCode::Enter]), Some(Task::Set(r)) if r.id_hex == "cccc")
        );
        // Nothing loaded yet: Esc on the list leaves the console.
        press(&mut app, &[KeyCode::Esc]);
        assert!(app.quit);
    }

    fn slots_view() -> SlotsView {
        let slot = |name: &str, model: Option<&str>| crate::deploy::SlotView {
            name: Shown::new(name),
            role: crate::deploy::role(name),
            current: model.map(|m| crate::deploy::Held {
                model: Shown::new(m),
                record: Shown::new("rec"),
                action: Shown::new("deploy"),
                percent: (name == "canary").then_some(10.0),
                threshold: None,
                at: Shown::new("2026-01-01T00:00:00Z"),
                by: Shown::new("dana"),
                previous: None,
                reason: Shown::default(),
            }),
            rollback: Ok(None),
        };
        SlotsView {
            slots: vec![
                slot("production", Some("0123456789abcdef")),
                slot("canary", Some("0123456789abcdef")),
                slot("shadow", None),
            ],
            models: vec![model("credit-mlp"), model("churn-logreg")],
        }
    }

    #[test]
    fn on_the_deploy_screen_b_rolls_the_selected_slot_back_and_d_fills_its_share() {
        let mut app = App::new(Some("dana"));
        assert!(matches!(
            press(&mut app, &[KeyCode::Char('6')]),
            Some(Task::Slots)
        ));
        app.apply(Outcome::Slots(Ok(slots_view())));
        press(&mut app, &[KeyCode::Down, KeyCode::Char('b')]);
        let Some(Dialog::Confirm(c)) = &app.dialog else {
            panic!("no confirmation");
        };
        assert!(matches!(c.intent, Intent::Rollback));
        assert_eq!(c.value(form::label::SLOT), "canary");
        assert_eq!(c.focus, form::Focus::Field(0));
        press(&mut app, &[KeyCode::Esc]);
        press(&mut app, &[KeyCode::Char('d')]);
        let Some(Dialog::Confirm(c)) = &app.dialog else {
            panic!("no confirmation");
        };
        assert_eq!(c.value(form::label::SLOT), "canary");
        assert_eq!(c.value(form::label::PERCENT), "10", "the slot's share now");
        press(&mut app, &[KeyCode::Esc, KeyCode::Char('p')]);
        let Some(Dialog::Confirm(c)) = &app.dialog else {
            panic!("no confirmation");
        };
        assert!(matches!(c.intent, Intent::Promote));
        assert_eq!(c.focus, form::Focus::Passphrase, "a promotion has no field");
    }

    #[test]
    fn promoting_without_an_operator_says_how_and_asks_nothing() {
        let mut app = App::new(None);
        press(&mut app, &[KeyCode::Char('6')]);
        app.apply(Outcome::Slots(Ok(slots_view())));
        assert!(press(&mut app, &[KeyCode::Char('p')]).is_none());
        match &app.dialog {
            Some(Dialog::Error { error, .. }) => {
                assert_eq!(error.exit_code, exit::USAGE);
                assert!(error.message.as_str().contains("promoting the canary"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tab_moves_between_the_data_lists_and_enter_opens_what_is_selected() {
        use crate::view::{ContractRow, DatasetKey, RefusedRow};
        let mut app = App::new(None);
        assert!(matches!(
            press(&mut app, &[KeyCode::Char('2')]),
            Some(Task::Data)
        ));
        let key = |v: i64| DatasetKey {
            site: "lab".into(),
            name: "credit".into(),
            version: v,
        };
        let contract = |v: i64| ContractRow {
            key: key(v),
            reference: Shown::new(&format!("lab/credit@{v}")),
            id: Shown::new("00"),
            created: Shown::default(),
        };
        let record = AuditRow {
            seq: 7,
            time: Shown::new("2026-01-01T00:00:00Z"),
            action: Shown::new("data.refused"),
            actor: Shown::new("00aa"),
            actor_name: Shown::new("site lab"),
            subjects: vec![],
            details: Shown::new("{}"),
            details_block: Shown::new("{}"),
        };
        app.apply(Outcome::Data(Ok(DataView {
            datasets: vec![],
            contracts: vec![contract(1), contract(2)],
            refused: vec![RefusedRow {
                dataset: Shown::new("credit"),
                source: Shown::new("x.csv"),
                contract: Shown::new("credit@1"),
                why: Shown::new("no data rows"),
                record,
            }],
        })));
        assert!(
            press(&mut app, &[KeyCode::Enter]).is_none(),
            "no dataset to open"
        );
        press(&mut app, &[KeyCode::Tab]);
        assert_eq!(app.data.focus, DataList::Contracts);
        match press(&mut app, &[KeyCode::Down, KeyCode::Enter]) {
            Some(Task::ContractDiff(k)) => assert_eq!(k.version, 2),
            other => panic!("{other:?}"),
        }
        press(&mut app, &[KeyCode::Tab]);
        assert_eq!(app.data.focus, DataList::Refused);
        assert!(press(&mut app, &[KeyCode::Enter]).is_none());
        assert_eq!(app.data.open_record().map(|(r, _)| r.seq), Some(7));
        assert_eq!(app.bindings().as_ptr(), keys::TEXT_DETAIL.as_ptr());
        press(&mut app, &[KeyCode::Esc]);
        assert!(app.data.record.is_none() && !app.quit);
        press(&mut app, &[KeyCode::Tab]);
        assert_eq!(app.data.focus, DataList::Datasets, "round again");
    }

    #[test]
    fn c_opens_the_model_card_over_the_list_and_q_closes_only_the_card() {
        let mut app = on_models(None);
        match press(&mut app, &[KeyCode::Down, KeyCode::Char('c')]) {
            Some(Task::Card(id)) => assert_eq!(id, "0123456789abcdef"),
            other => panic!("{other:?}"),
        }
        app.apply(Outcome::Card(Ok(CardView {
            model: Shown::new("0123456789ab"),
            lines: (0..40)
                .map(|i| crate::view::line(format!("line {i}")))
                .collect(),
        })));
        assert_eq!(app.bindings().as_ptr(), keys::TEXT_DETAIL.as_ptr());
        press(&mut app, &[KeyCode::PageDown, KeyCode::End]);
        assert_eq!(app.models.card.as_ref().map(|(_, s)| *s), Some(39));
        press(&mut app, &[KeyCode::Char('q')]);
        assert!(app.models.card.is_none() && !app.quit);
        assert_eq!(app.models.list.selected, 1, "back on the list where it was");
    }
}
