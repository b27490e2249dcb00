//! Work the console asks of the library ([`Task`]) and what comes back ([`Outcome`]). The
//! application state only describes tasks; [`crate::console::Console`] performs them, so key
//! handling is tested without a home and drawing without a library handle.

use std::path::PathBuf;

use airlock::trust::personal::Passphrase;

use crate::deploy::SlotsView;
use crate::featureset::{SetDetail, SetRow};
use crate::training::{RunDetail, RunRow};
use crate::view::{
    AuditRow, AuditVerified, ContractDiff, DataView, DatasetKey, DatasetProfile, Loaded,
    ModelDetail, ModelRow, Overview,
};

/// A library call to make.
#[derive(Debug)]
pub enum Task {
    /// Load the Overview.
    Overview,
    /// Load the Data screen.
    Data,
    /// Load the registry, and the detail of this model when it is open.
    Models {
        /// The model whose detail is open.
        open: Option<ModelRow>,
    },
    /// Load the audit log.
    Audit,
    /// Load a dataset's profile.
    Profile(DatasetKey),
    /// Load a model's detail.
    Model(ModelRow),
    /// `audit verify`.
    VerifyAudit,
    /// `models card MODEL` (by its id, hex).
    Card(String),
    /// `contract diff`: a contract version against the one before it.
    ContractDiff(DatasetKey),
    /// Load the feature set versions.
    Sets,
    /// Load a feature set version's detail.
    Set(SetRow),
    /// Load the training runs.
    Runs,
    /// Load a run's detail (by its id, hex).
    Run(String),
    /// Load the Deploy screen: the slots, what each holds, where a rollback would go.
    Slots,
    /// Load the Monitor screen: alerts and monitoring windows, and accuracy over time from
    /// the labels picked (`monitor report --labels`), else the monitoring policy's.
    Monitor {
        /// The labels dataset picked, `site/name@version`.
        labels: Option<String>,
    },
    /// List the datasets the labels may be picked from (`data list`).
    Labels,
    /// Load the Media screen: the bundles and site cards on the media.
    Media,
    /// `bundle inspect FILE`: the manifest, its signature and origin checked.
    Inspect {
        /// The bundle file or its first part.
        path: PathBuf,
        /// Then ask whether to import it (the confirmation says what it carries).
        then_import: bool,
    },
    /// `bundle verify FILE`: every part and object checked, nothing written (long work).
    VerifyBundle(PathBuf),
    /// `bundle import FILE [--allow-stale]` (long work).
    Import {
        /// The bundle file or its first part.
        path: PathBuf,
        /// `--allow-stale`.
        allow_stale: bool,
    },
    /// `bundle export --to CARD --out OUT [--split SIZE] [--operator NAME] ITEMS...` (long
    /// work).
    Export {
        /// The items, as the command takes them, separated by spaces.
        items: String,
        /// The recipient's site card.
        card: PathBuf,
        /// The bundle file to write.
        out: PathBuf,
        /// `--split`, as typed (empty: one file).
        split: String,
        /// The operator's passphrase when the console has an operator (who authorises the
        /// export under a trust policy), as for [`Task::Approve`].
        pass: Option<Passphrase>,
    },
    /// Load the training form's choices: datasets and feature sets.
    TrainForm,
    /// `train --dataset D --features F --model M --task T --epochs N --seed S [--name N]`
    /// (long work).
    Train(TrainSettings),
    /// `approve MODEL --operator NAME --note NOTE [--reviewed]`.
    Approve {
        /// The model.
        model: ModelRow,
        /// The note.
        note: String,
        /// `--reviewed`.
        reviewed: bool,
        /// The operator's passphrase, moved here from the dialog and dropped (zeroized) once
        /// the key is unlocked.
        pass: Passphrase,
    },
    /// `deploy MODEL --slot SLOT [--percent P] --operator NAME`.
    Deploy {
        /// The model's id, hex.
        model: String,
        /// The slot.
        slot: String,
        /// The share of a canary or shadow.
        percent: Option<f64>,
        /// The operator's passphrase, as for [`Task::Approve`].
        pass: Passphrase,
    },
    /// `promote --operator NAME`.
    Promote {
        /// The operator's passphrase, as for [`Task::Approve`].
        pass: Passphrase,
    },
    /// `rollback --slot SLOT [--to MODEL] --reason WHY --operator NAME`.
    Rollback {
        /// The slot.
        slot: String,
        /// `--to`: the model (id, hex) it goes back to, one it held before.
        to: Option<String>,
        /// Why.
        reason: String,
        /// The operator's passphrase, as for [`Task::Approve`].
        pass: Passphrase,
    },
}

impl Task {
    /// What the console says while the task runs.
    pub fn label(&self) -> &'static str {
        match self {
            Task::Overview | Task::Data | Task::Models { .. } | Task::Audit => "loading",
            Task::Slots => "loading the slots",
            Task::Monitor { labels: None } => {
                "loading the monitoring windows and judging their drift"
            }
            Task::Monitor { labels: Some(_) } => {
                "loading the monitoring windows, joining the labels to the prediction log"
            }
            Task::Labels => "loading the datasets",
            Task::Sets | Task::Runs => "loading",
            Task::Card(_) => "making the model card from the verified records",
            Task::ContractDiff(_) => "comparing the contract with the version before it",
            Task::Set(_) => "loading the feature set",
            Task::Run(_) => "loading the run record",
            Task::Profile(_) => "loading the profile",
            Task::Model(_) => "loading the model and verifying its lineage",
            Task::VerifyAudit => "verifying the audit log",
            Task::Approve { .. } => "unlocking your key and signing the approval",
            Task::Deploy { .. } => "unlocking your key and deploying",
            Task::Promote { .. } => "unlocking your key and promoting the canary",
            Task::Rollback { .. } => "unlocking your key and rolling the slot back",
            Task::Media => "looking for bundles on the media",
            Task::Inspect { .. } => "decrypting the manifest and checking its signature",
            Task::VerifyBundle(_) => "verifying every part and object of the bundle",
            Task::Import { .. } => "verifying and importing the bundle",
            Task::Export { .. } => "exporting the bundle",
            Task::TrainForm => "loading the datasets and feature sets",
            Task::Train(_) => "training in the sandboxed worker",
        }
    }

    /// Whether it runs off the drawing thread, with progress ([`crate::work`]).
    pub fn is_long(&self) -> bool {
        matches!(
            self,
            Task::VerifyBundle(_) | Task::Import { .. } | Task::Export { .. } | Task::Train(_)
        )
    }
}

/// A training run's settings, as the form took them.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSettings {
    /// `--dataset`, `[SITE/]NAME[@VERSION]`.
    pub dataset: String,
    /// `--features`, `[SITE/]NAME[@VERSION]`.
    pub features: String,
    /// `--model`: `logreg` or `mlp`.
    pub model: String,
    /// `--task`: `binary`, `multiclass` or `regression`.
    pub task: String,
    /// `--epochs`.
    pub epochs: usize,
    /// `--seed`.
    pub seed: u64,
    /// `--name`.
    pub name: Option<String>,
}

/// The training form's choices.
#[derive(Clone, Debug, Default)]
pub struct TrainChoices {
    /// Dataset versions, `SITE/NAME@VERSION`, newest first.
    pub datasets: Vec<String>,
    /// Feature set versions, `SITE/NAME@VERSION`, newest first.
    pub features: Vec<String>,
}

/// What a task gave.
#[derive(Debug)]
pub enum Outcome {
    /// [`Task::Overview`].
    Overview(Loaded<Overview>),
    /// [`Task::Data`].
    Data(Loaded<DataView>),
    /// [`Task::Models`].
    Models {
        /// The registry.
        rows: Loaded<Vec<ModelRow>>,
        /// The open model's detail, reloaded.
        detail: Option<Loaded<ModelDetail>>,
    },
    /// [`Task::Audit`].
    Audit(Loaded<Vec<AuditRow>>),
    /// [`Task::Profile`].
    Profile(Loaded<DatasetProfile>),
    /// [`Task::Model`].
    Model(Loaded<ModelDetail>),
    /// [`Task::VerifyAudit`].
    Verified(Loaded<AuditVerified>),
    /// [`Task::Card`].
    Card(Loaded<crate::report::CardView>),
    /// [`Task::ContractDiff`].
    Diff(Loaded<ContractDiff>),
    /// [`Task::Sets`].
    Sets(Loaded<Vec<SetRow>>),
    /// [`Task::Set`].
    Set(Loaded<SetDetail>),
    /// [`Task::Runs`].
    Runs(Loaded<Vec<RunRow>>),
    /// [`Task::Run`].
    Run(Loaded<RunDetail>),
    /// [`Task::Slots`].
    Slots(Loaded<SlotsView>),
    /// [`Task::Monitor`].
    Monitor(Loaded<crate::monitor::MonitorView>),
    /// [`Task::Labels`].
    Labels(Loaded<Vec<crate::shown::Shown>>),
    /// [`Task::Media`].
    Media(Loaded<crate::media::MediaView>),
    /// [`Task::Inspect`].
    Inspected {
        /// The manifest, or why it was refused.
        detail: Loaded<crate::media::BundleDetail>,
        /// Ask whether to import it.
        then_import: bool,
    },
    /// [`Task::TrainForm`].
    TrainChoices(Loaded<TrainChoices>),
    /// A signing task: the line the command prints, or its error.
    Done {
        /// The dialog's title.
        title: &'static str,
        /// The result.
        result: Loaded<crate::shown::Shown>,
    },
}
