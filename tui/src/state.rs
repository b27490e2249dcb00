//! The state of each screen: what is loaded, what is selected, what is open. The
//! [`App`](crate::app::App) holds one of each and changes them as keys and library results
//! arrive; drawing only reads them.

use crate::deploy::SlotsView;
use crate::featureset::{SetDetail, SetRow};
use crate::media::{BundleDetail, BundleRow, MediaView};
use crate::monitor::MonitorView;
use crate::report::CardView;
use crate::training::{RunDetail, RunRow};
use crate::view::{AuditRow, ContractDiff, DataView, DatasetProfile, ModelDetail, ModelRow};

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

/// The Monitor screen.
#[derive(Debug, Default)]
pub struct MonitorState {
    /// Alerts and windows.
    pub view: MonitorView,
    /// The selected window.
    pub selected: usize,
    /// The selected window's features opened full height, and lines scrolled.
    pub open: Option<usize>,
    /// The labels dataset the operator picked (`site/name@version`); `None`: the policy's.
    pub labels: Option<String>,
    /// The selected window's model's accuracy over time opened, and lines scrolled.
    pub accuracy: Option<usize>,
    /// The list of datasets to pick the labels from, when open.
    pub picker: Option<LabelsPicker>,
}

/// The datasets labels may be picked from (`L` on the Monitor screen).
#[derive(Debug, Default)]
pub struct LabelsPicker {
    /// Every dataset version, `site/name@version`.
    pub names: Vec<crate::shown::Shown>,
    /// Selection and `/` filter.
    pub list: ListState,
}

impl LabelsPicker {
    /// The names the filter keeps.
    pub fn visible(&self) -> Vec<&crate::shown::Shown> {
        self.names
            .iter()
            .filter(|n| n.matches(&self.list.filter))
            .collect()
    }
}

/// The Media screen.
#[derive(Debug, Default)]
pub struct MediaState {
    /// The folders searched, the bundles and site cards found.
    pub view: MediaView,
    /// The selected bundle.
    pub selected: usize,
    /// The open manifest (`bundle inspect`), and lines scrolled.
    pub open: Option<(BundleDetail, usize)>,
}

impl MediaState {
    /// The selected bundle.
    pub fn current(&self) -> Option<&BundleRow> {
        self.view.bundles.get(self.selected)
    }

    /// The bundle an action applies to: the open one, else the selected one.
    pub fn target(&self) -> Option<std::path::PathBuf> {
        match &self.open {
            Some((d, _)) => Some(d.path.clone()),
            None => self.current().map(|b| b.path.clone()),
        }
    }
}
