//! The command line: definitions (clap) and one handler per command.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;

use airlock::bundle::{export, import, media};
use airlock::error::{Error, IoContext, Result, exit};
use airlock::home::Home;
use airlock::operator::{self, Operator};
use airlock::personal::PassSource;
use airlock::policy::{self, Role};
use airlock::registry::NameRef;
use airlock::site::{SiteCard, SiteName};
use airlock::time::{Clock, Timestamp};
use airlock::{audit, demo, fsx, lifecycle, lineage, models, trust, vault_check};
use airlock_runtime::{
    Activation, Arch, ClassWeights, DeviceChoice, EarlyStopping, Schedule, Task, TrainConfig,
};

use crate::cli_data::{ContractCmd, DataCmd, FeaturesCmd};
use crate::output::Out;

/// Airlock: an air-gapped machine-learning appliance.
///
/// Ingest data against schema contracts, fit versioned features, train and
/// gate models, have them approved and deploy them, all on one sealed node.
/// Data enters and leaves only as signed, encrypted bundle files.
/// Exit codes: 0 ok, 1 failure, 2 usage, 3 input rejected, 4 integrity
/// check failed, 5 refused by policy, 6 not found, 7 key problem.
#[derive(Parser, Debug)]
#[command(
    name = "airlock",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// The node's home folder (store, vault, keys).
    #[arg(
        long,
        global = true,
        env = "AIRLOCK_HOME",
        default_value = "/var/lib/airlock"
    )]
    pub home: PathBuf,
    /// Machine-readable JSON output; no progress bars.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a new home for this site: store, vault, signing and encryption keys.
    Init {
        /// This site's name (a-z, 0-9, '-'), e.g. "plant-2".
        #[arg(long)]
        site: String,
    },
    /// This site's public card (name, signing key, encryption key) for peers.
    #[command(subcommand)]
    Site(SiteCmd),
    /// Peer sites whose bundles this node accepts.
    #[command(subcommand)]
    Trust(TrustCmd),
    /// Versioned schema contracts: apply, show, diff, list.
    #[command(subcommand)]
    Contract(ContractCmd),
    /// Ingest datasets (CSV, Parquet) against contracts; list them; show profiles.
    #[command(subcommand)]
    Data(DataCmd),
    /// Fit versioned feature sets; materialize them to the online store; look up entities.
    #[command(subcommand)]
    Features(FeaturesCmd),
    /// Train a model on a dataset and a feature set, in a sandboxed worker (CPU, or a GPU
    /// with the GPU worker installed).
    Train(TrainArgs),
    /// List and show models.
    #[command(subcommand)]
    Models(ModelsCmd),
    /// Score a model on a separate dataset: metrics, confusion, threshold sweep, calibration,
    /// importance, slices, fairness, robustness; stores a signed evaluation record.
    Evaluate(crate::cli_eval::EvaluateArgs),
    /// Judge a model against a gate policy or held-out thresholds; stores a signed report.
    Gate(crate::cli_gate::GateArgs),
    /// An operator's signed approval of a gated model (asks for the
    /// operator's passphrase). Under a trust policy the operator must hold
    /// the approve role and not be revoked.
    Approve {
        /// Model id (or 8+ leading hex digits).
        model: String,
        #[command(flatten)]
        operator: OperatorArgs,
        /// What the approval rests on.
        #[arg(long, default_value = "")]
        note: String,
        /// You reviewed the gate report's checks that need a named review (figures within a
        /// policy's review band); --note must say why they are acceptable.
        #[arg(long)]
        reviewed: bool,
    },
    /// Deploy a gated and approved model to a slot: production, a canary taking a share of
    /// production's requests, or a shadow scoring a sample and answering none.
    Deploy(crate::cli_rollout::DeployArgs),
    /// Make the canary's model the production model, and empty the canary slot.
    Promote(crate::cli_rollout::PromoteArgs),
    /// Put back the model a slot held before (production), or empty a canary or shadow slot.
    Rollback(crate::cli_rollout::RollbackArgs),
    /// Serve the deployed model to local clients over a Unix socket: one JSON object per
    /// line in, one answer per line out. Runs until SIGTERM or Ctrl-C.
    #[command(
        after_help = "Each request goes through the same feature code as training and \
its answer through the same output checks as `airlock predict`. Only peers whose uid is on \
the allow list (default: this user) are served; too many connections (in all, or from one \
uid), too long a request, a request not finished within --request-timeout, or no request for \
--idle-timeout get an error line naming the limit, and the connection is closed. The model is \
loaded once; restart after a deploy.\n\n\
Example:\n  airlock serve --socket /run/airlock/credit.sock --allow-uid 1001 &\n  \
echo '{\"age\": 35, ...}' | socat - UNIX-CONNECT:/run/airlock/credit.sock"
    )]
    Serve {
        /// Socket path to create (an old socket there is replaced; any other file refused).
        #[arg(long)]
        socket: PathBuf,
        /// The slot whose model to serve.
        #[arg(long, default_value = "production")]
        slot: String,
        /// A uid allowed to connect (repeatable; default: the uid serving).
        #[arg(long = "allow-uid")]
        allow_uid: Vec<u32>,
        /// Most connections served at once.
        #[arg(long, default_value_t = 64)]
        max_connections: usize,
        /// Most connections one peer uid holds at once (capped at --max-connections), so one
        /// local user cannot take every slot.
        #[arg(long, default_value_t = 16)]
        max_connections_per_uid: usize,
        /// Longest request line in bytes.
        #[arg(long, default_value_t = 64 * 1024)]
        max_request_bytes: usize,
        /// Seconds a request may take to arrive once its first byte has (and its answer to be
        /// read); a slower one is refused and the connection closed.
        #[arg(long, value_name = "SECONDS", default_value_t = 10)]
        request_timeout: u64,
        /// Seconds a connection may wait between requests before it is closed.
        #[arg(long, value_name = "SECONDS", default_value_t = 60)]
        idle_timeout: u64,
        /// Refuse to start unless the model uses exactly this feature set, [SITE/]NAME@VERSION.
        #[arg(long)]
        features: Option<String>,
    },
    /// Score rows (JSON lines, one object per line) with the deployed model.
    Predict {
        /// Input file, one JSON object per line with the contract's columns.
        #[arg(long)]
        input: PathBuf,
        /// Refuse unless the model uses exactly this feature set, [SITE/]NAME@VERSION.
        #[arg(long)]
        features: Option<String>,
        /// The slot.
        #[arg(long, default_value = "production")]
        slot: String,
    },
    /// Signed, encrypted bundle files: the only way across the air gap.
    #[command(subcommand)]
    Bundle(BundleCmd),
    /// Walk from a model back to its raw data and its approvers, verifying
    /// every signature on the way.
    Lineage {
        /// Model id or unique prefix (at least 8 hex digits).
        model: String,
    },
    /// The encrypted, content-addressed object vault.
    #[command(subcommand)]
    Vault(VaultCmd),
    /// Check the host this node runs on (docs/hardening.md).
    #[command(subcommand)]
    Harden(HardenCmd),
    /// The hash-chained, signed audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// The offline root key and operator keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// The root-signed trust policy: peers, operator roles, approval
    /// thresholds, revocations.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Start the operator console (airlock-tui, installed beside airlock) on this home.
    Tui(crate::cli_tui::TuiArgs),
    /// Run two sites, "lab" and "plant", through the whole path on synthetic data.
    Demo {
        /// Keep the homes (lab/, plant/) and media (media/) here; the folder must be new or empty.
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
}

/// Who acts, for commands an operator signs.
#[derive(Args, Debug)]
struct OperatorArgs {
    /// The operator (made with `airlock keys operator new NAME`).
    #[arg(long, value_name = "NAME")]
    operator: String,
    /// Read the passphrase from the first line of FILE (mode 0600) instead
    /// of asking on the terminal.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

/// Who acts, where a trust policy requires it.
#[derive(Args, Debug)]
pub(crate) struct MaybeOperatorArgs {
    /// The operator authorising this (required under a trust policy).
    #[arg(long, value_name = "NAME")]
    operator: Option<String>,
    /// Read the passphrase from the first line of FILE (mode 0600) instead
    /// of asking on the terminal.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

impl MaybeOperatorArgs {
    /// The operator an export names, for the library to unlock (and to
    /// record as a refused export if it cannot).
    fn authority(self) -> export::Authority<'static> {
        match self.operator {
            None => export::Authority::Nobody,
            Some(name) => export::Authority::Unlock {
                name,
                pass: PassSource::from_arg(self.passphrase_file),
            },
        }
    }

    pub(crate) fn unlock(self, home: &Home, role: Role) -> Result<Option<Operator>> {
        self.operator
            .map(|name| {
                operator::unlock(
                    home,
                    &name,
                    role,
                    PassSource::from_arg(self.passphrase_file),
                )
            })
            .transpose()
    }
}

#[derive(Subcommand, Debug)]
enum KeysCmd {
    /// The site's offline root key, which signs trust policies.
    #[command(subcommand)]
    Root(RootCmd),
    /// Operator keys: one per person, sealed with their passphrase.
    #[command(subcommand)]
    Operator(OperatorCmd),
}

#[derive(Subcommand, Debug)]
enum RootCmd {
    /// Create a root key on removable media: DIR/root.key (sealed with a
    /// passphrase) and DIR/root.pub. Run it on an offline machine or with
    /// the media mounted; the root key is never stored on the node. Note
    /// the key id it prints: nodes pin it at their first policy.
    Init {
        /// A new or empty folder on the removable media.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Read the new passphrase from FILE (mode 0600) instead of asking.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum OperatorCmd {
    /// Create an operator key for one person, sealed with their passphrase
    /// and certified by the site key. Prints the public key for the trust
    /// policy's `operators` list.
    New {
        /// The operator's name (a-z, 0-9, '.', '_', '-'), e.g. "j.smith".
        name: String,
        /// Read the new passphrase from FILE (mode 0600) instead of asking.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// List operators with their roles under the trust policy in force.
    List,
}

#[derive(Subcommand, Debug)]
enum PolicyCmd {
    /// Print a TOML draft of the next policy version for this node (the
    /// policy in force, or this node's peers and operators for the first).
    Template {
        /// Add this root key (its folder or root.pub) to the draft's root keys.
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
    /// Sign a TOML draft with a root key (offline), or add a root key's
    /// signature to a signed policy (for a threshold of root keys).
    Sign {
        /// The TOML draft, or a signed policy file.
        input: PathBuf,
        /// The root key's folder (holding root.key).
        #[arg(long, value_name = "DIR")]
        root: PathBuf,
        /// Where to write the signed policy (must not exist).
        #[arg(long)]
        out: PathBuf,
        /// Read the root key's passphrase from FILE (mode 0600).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Put signed policies in force, in order: each must have a higher
    /// version and be signed by the root keys of the one before it. The
    /// first policy on a node needs --root-key-id. Updates may also arrive
    /// in bundles (bundle export ... policy:FILE).
    Apply {
        /// Signed policy files, oldest first.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The root key id to pin (first policy only): confirm it with the
        /// root key holder, by voice or on paper.
        #[arg(long, value_name = "ID")]
        root_key_id: Option<String>,
    },
    /// Show the policy in force.
    Show,
}

#[derive(Subcommand, Debug)]
enum SiteCmd {
    /// Write this site's card to a file to hand to a peer site.
    Card {
        /// Where to write the card.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum TrustCmd {
    /// Trust a peer site's card (compare its key id with the peer first).
    Add {
        /// The peer's site card file.
        card: PathBuf,
    },
    /// List trusted peer sites.
    List,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ModelKind {
    /// A linear model (logistic, softmax or linear regression, by task).
    Logreg,
    /// A multi-layer perceptron (--hidden, --activation, --dropout).
    Mlp,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum TaskKind {
    /// Two classes: the feature set's positive label value against the rest.
    Binary,
    /// Three or more classes: the label column's categories (or its values).
    Multiclass,
    /// A number: an integer or float label column.
    Regression,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ActivationKind {
    /// max(x, 0).
    Relu,
    /// Hyperbolic tangent.
    Tanh,
    /// GELU (tanh approximation).
    Gelu,
    /// x * sigmoid(x).
    Silu,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ScheduleKind {
    /// The same learning rate every epoch.
    Constant,
    /// Multiplied by --lr-gamma every --lr-step epochs.
    Step,
    /// Cosine annealing down to --lr-floor times the rate at the last epoch.
    Cosine,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Training runs in a separate worker process, sandboxed before it reads \
any data: no network, no access to keys, the vault or serving logs, no core dumps. What the \
host could not apply is printed and recorded in the signed run record. The same data, feature \
set, settings and seed give bit-identical weights on the CPU.\n\nExamples:\n  \
airlock train --dataset credit --features credit-features --model logreg\n  \
airlock train --dataset credit --features credit-features --model mlp --hidden 64,32 \\\n    \
--dropout 0.1 --class-weights balanced --early-stopping 5 --slice-by purpose"
)]
struct TrainArgs {
    /// Dataset, [SITE/]NAME[@VERSION].
    #[arg(long)]
    dataset: String,
    /// Feature set, [SITE/]NAME[@VERSION].
    #[arg(long)]
    features: String,
    /// Model architecture.
    #[arg(long, value_enum)]
    model: ModelKind,
    /// What to predict.
    #[arg(long, value_enum, default_value = "binary")]
    task: TaskKind,
    /// Hidden layer widths of an MLP, input side first, comma-separated (1 to 8 layers).
    #[arg(long, value_delimiter = ',', default_value = "16")]
    hidden: Vec<usize>,
    /// Non-linearity after each hidden layer (mlp).
    #[arg(long, value_enum, default_value = "relu")]
    activation: ActivationKind,
    /// Dropout probability on hidden units while training, 0 to below 1 (mlp).
    #[arg(long, default_value_t = 0.0)]
    dropout: f64,
    /// Random seed: same data, features, settings and seed give the same model.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Most passes over the training split.
    #[arg(long)]
    epochs: Option<usize>,
    /// Rows per optimisation step.
    #[arg(long)]
    batch_size: Option<usize>,
    /// AdamW base learning rate.
    #[arg(long)]
    learning_rate: Option<f64>,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f64,
    /// How the learning rate changes over epochs.
    #[arg(long, value_enum, default_value = "constant")]
    schedule: ScheduleKind,
    /// Step schedule: epochs between reductions.
    #[arg(long, default_value_t = 10)]
    lr_step: usize,
    /// Step schedule: factor applied at each reduction.
    #[arg(long, default_value_t = 0.5)]
    lr_gamma: f64,
    /// Cosine schedule: final rate as a fraction of the base rate.
    #[arg(long, default_value_t = 0.0)]
    lr_floor: f64,
    /// Epochs of linear warm-up before the schedule.
    #[arg(long, default_value_t = 0)]
    warmup_epochs: usize,
    /// Loss weight per class: `uniform`, `balanced` (inverse class frequency), or one
    /// weight per class in class order, e.g. `1,5`.
    #[arg(long, default_value = "uniform")]
    class_weights: String,
    /// Stop when the validation loss has not improved for this many epochs, keeping the best
    /// epoch's weights.
    #[arg(long)]
    early_stopping: Option<usize>,
    /// Fraction of rows held out for the final metrics that gates check.
    #[arg(long, default_value_t = 0.2)]
    holdout: f64,
    /// Fraction of rows for per-epoch validation and early stopping.
    #[arg(long, default_value_t = 0.1)]
    validation: f64,
    /// Also report every held-out metric per value of this column.
    #[arg(long)]
    slice_by: Option<String>,
    /// Write a checkpoint every N epochs into --checkpoint-dir.
    #[arg(long, requires = "checkpoint_dir")]
    checkpoint_every: Option<usize>,
    /// Folder for checkpoints (epoch-NNNN.safetensors, each validated).
    #[arg(long)]
    checkpoint_dir: Option<PathBuf>,
    /// Where to train: auto (a GPU when the GPU worker and a GPU are present, else the CPU),
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Model name (default DATASET-MODEL).
    #[arg(long)]
    name: Option<String>,
}

#[derive(Subcommand, Debug)]
enum ModelsCmd {
    /// List models with their gate, approval and deployment state.
    List,
    /// Show a model's run record.
    Show {
        /// Model id (or 8+ leading hex digits).
        model: String,
    },
    /// Record what a model is for and its known limits, for its model card.
    ///
    /// A description signed by this site and bound to the model: its intended use, what it is
    /// not for, and the limits the operator knows of. It travels with the model in bundles. A
    /// newer one supersedes the older; the card shows this site's newest, else a peer's.
    Describe(crate::cli_card::DescribeArgs),
    /// The model card: Markdown made from the signed records held about the model.
    ///
    /// Sections: model details, intended use, data (with its profile), training, evaluation
    /// (metrics, slices with their intervals and small-slice flags, fairness per group),
    /// gate reports, approvals and deployments, known limits (the operator's and those the
    /// records show) and lineage. Every record is verified as it is read; every figure is a
    /// record's; text from records is escaped for Markdown and for the terminal. With --json,
    /// the same data as JSON (with --out, where the card was written).
    #[command(after_help = "Example:\n  airlock models describe 3f2a9c1e \\\n    \
--intended-use 'pre-screening of consumer loan applications' \\\n    \
--limits 'applicants over 75 are rare'\n  \
airlock models card 3f2a9c1e --out credit-model-card.md")]
    Card(crate::cli_card::CardArgs),
}

#[derive(Subcommand, Debug)]
enum BundleCmd {
    /// Export models (with lineage) and/or datasets to a trusted peer site,
    /// as one signed, encrypted bundle file (or numbered parts with --split).
    Export {
        /// The recipient's site card.
        #[arg(long)]
        to: PathBuf,
        /// The bundle file to write (must not exist). With --split, the parts
        /// are OUT.001, OUT.002, ...
        #[arg(long)]
        out: PathBuf,
        /// Also carry the raw dataset snapshots of exported models.
        #[arg(long)]
        with_data: bool,
        /// Days until the bundle expires (1 to 3650).
        #[arg(long, default_value_t = 30)]
        expires_in: u32,
        /// Cut the bundle into parts no larger than SIZE, for media with a
        /// file size limit: fat32 (4 GiB less one byte), or a size such as
        /// 4000M, 2G (powers of 1024) or 4700MB (powers of 1000); at least 64K.
        #[arg(long, value_name = "SIZE")]
        split: Option<String>,
        #[command(flatten)]
        operator: MaybeOperatorArgs,
        /// model:ID (or a bare model id), dataset:NAME[@VERSION], or
        /// policy:FILE (a signed trust policy for the recipient).
        #[arg(required = true)]
        items: Vec<String>,
    },
    /// Check a bundle's signature, origin, recipient and freshness and show
    /// its manifest, without reading its objects.
    Inspect {
        /// The bundle file, or its first part (NAME.001).
        file: PathBuf,
    },
    /// Check a bundle completely, every part and object, as an import
    /// would, without importing anything.
    Verify {
        /// The bundle file, or its first part (NAME.001); later parts are
        /// found beside it.
        file: PathBuf,
        /// Check as if importing with --allow-stale.
        #[arg(long)]
        allow_stale: bool,
    },
    /// Check a bundle completely, then import it atomically. Refusals are
    /// recorded in the audit log with their reason.
    Import {
        /// The bundle file, or its first part (NAME.001); later parts are
        /// found beside it.
        file: PathBuf,
        /// Accept a bundle made more than 30 days before the newest bundle
        /// this node has accepted (a long shelf life). Recorded in the audit
        /// log. Without it such a bundle is refused as a possible replay.
        #[arg(long)]
        allow_stale: bool,
    },
}

#[derive(Subcommand, Debug)]
enum VaultCmd {
    /// Re-hash every object in the vault: report any that is missing, does
    /// not decrypt, or does not hash to its address, and any vault file
    /// that no store row references. Exits 4 if anything is wrong.
    Verify,
}

#[derive(Subcommand, Debug)]
enum HardenCmd {
    /// Report each host control (kernel settings, radios, USB storage, /tmp and /dev/shm
    /// options, swap, disk encryption, network, sshd, the home's modes) as pass, warn or
    /// fail, with its CIS Debian Linux 12 Benchmark id and the command that fixes it.
    /// Changes nothing. Exits 5 if any check fails; warnings alone exit 0.
    Check {
        /// Read /proc, /sys, /etc and the home (--home) under this folder instead of /.
        #[arg(long, value_name = "ROOT", default_value = "/")]
        root: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCmd {
    /// Verify the chain and every signature; names the first broken record.
    Verify,
    /// For a home without a signed checkpoint (HOME/audit.head), made before
    /// checkpoints existed: verify the chain, record the adoption in the log,
    /// and sign a first checkpoint. Refused if a checkpoint exists. Under a
    /// trust policy, an operator holding the audit role must authorise it.
    AdoptCheckpoint {
        #[command(flatten)]
        operator: MaybeOperatorArgs,
    },
    /// Export the whole audit log, verified, with a fresh signed checkpoint,
    /// in a bundle for an auditor's node (a trusted peer). The auditor
    /// checks it there with `airlock audit verify-export FILE --card CARD`
    /// and this site's card alone.
    Export {
        /// The auditor node's site card.
        #[arg(long)]
        to: PathBuf,
        /// The bundle file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
        /// Days until the bundle expires (1 to 3650).
        #[arg(long, default_value_t = 30)]
        expires_in: u32,
        #[command(flatten)]
        operator: MaybeOperatorArgs,
    },
    /// Check an audit log export made for this node by another site, with
    /// only that site's card: the bundle's signature, every record's hash,
    /// link and signature, and the signed checkpoint. Imports nothing.
    VerifyExport {
        /// The bundle file (or its first part).
        file: PathBuf,
        /// The site card of the site whose log it is.
        #[arg(long)]
        card: PathBuf,
    },
    /// Print the audit log, oldest first, optionally filtered.
    Log {
        /// Only records written at or after this time (RFC 3339, e.g.
        /// 2026-11-23T08:00:00Z, or a date, 2026-11-23).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only records signed by this key id (or a prefix of it).
        #[arg(long, value_name = "KEY_ID")]
        actor: Option<String>,
        /// Only this action (e.g. bundle.import), or a family ending in
        /// `*` (e.g. 'bundle.*').
        #[arg(long, value_name = "ACTION")]
        action: Option<String>,
    },
}

fn read_card(path: &Path) -> Result<SiteCard> {
    let bytes = std::fs::read(path).at(path)?;
    Ok(SiteCard::parse(&bytes, &path.display().to_string())?)
}

/// Runs a parsed command; returns the exit code.
pub fn run(cli: Cli) -> Result<i32> {
    let out = Out { json: cli.json };
    let home_dir = cli.home;
    let open = || Home::open(&home_dir);
    // Commands that change nothing: they work on a full disk.
    let open_read_only = || Home::open_read_only(&home_dir);
    match cli.command {
        Command::Init { site } => {
            let site: SiteName = site.parse()?;
            let home = Home::init(&home_dir, site)?;
            let v = json!({ "id": home.site().as_str(), "home": home.root().display().to_string(), "key_id": home.keys().key_id() });
            out.emit(&v, |_| {
                out.line(format_args!(
                    "created home {} for site {}",
                    home.root().display(),
                    home.site()
                ));
                out.line(format_args!(
                    "site key id {} (read it to peers when they trust your card)",
                    home.keys().key_id()
                ));
            });
        }
        Command::Site(SiteCmd::Card { out: path }) => {
            let home = open()?;
            fsx::write_new(
                &path,
                &SiteCard::render(home.site(), home.keys(), home.now())?,
            )?;
            let v = json!({ "id": home.site().as_str(), "key_id": home.keys().key_id(), "file": path.display().to_string() });
            out.emit(&v, |_| {
                out.line(format_args!(
                    "wrote card of site {} (key id {}) to {}",
                    home.site(),
                    home.keys().key_id(),
                    path.display()
                ))
            });
        }
        Command::Trust(TrustCmd::Add { card }) => {
            let mut home = open()?;
            let card = read_card(&card)?;
            let (peer, added) = trust::add(&mut home, &card)?;
            out.emit(&json!({ "peer": peer, "added": added }), |_| {
                if added {
                    out.line(format_args!(
                        "trusted site {} (key id {})",
                        peer.id, peer.key_id
                    ));
                } else {
                    out.line(format_args!(
                        "site {} (key id {}) was already trusted",
                        peer.id, peer.key_id
                    ));
                }
            });
        }
        Command::Trust(TrustCmd::List) => {
            let home = open_read_only()?;
            let peers = trust::list(&home)?;
            out.emit(&peers, |ps| {
                for p in ps {
                    out.line(format_args!(
                        "{:<20} key {}  trusted since {}",
                        p.id, p.key_id, p.added_at
                    ));
                }
            });
        }
        Command::Contract(cmd) => return crate::cli_data::contract(&home_dir, out, cmd),
        Command::Data(cmd) => return crate::cli_data::data(&home_dir, out, cmd),
        Command::Features(cmd) => return crate::cli_data::features(&home_dir, out, cmd),
        Command::Evaluate(a) => return crate::cli_eval::run(&home_dir, out, a),
        Command::Train(a) => return train(&home_dir, out, a),
        Command::Models(ModelsCmd::List) => {
            let home = open_read_only()?;
            let list = models::list(&home)?;
            out.emit(&list, |ms| {
                if ms.is_empty() {
                    out.line("no models");
                }
                for m in ms {
                    out.line(format_args!(
                        "{}  {:<20} {:<10} {:<7} site {:<10} {} {:.3}  gate {:<6} approvals {}  {}",
                        &m.id[..12],
                        m.name,
                        m.task,
                        m.arch,
                        m.site,
                        m.score_name,
                        m.score,
                        m.gate,
                        m.approvals,
                        m.deployed
                            .as_deref()
                            .map(|s| format!("deployed: {s}"))
                            .unwrap_or_default()
                    ));
                }
            });
        }
        Command::Models(ModelsCmd::Describe(a)) => {
            return crate::cli_card::describe(&home_dir, out, a);
        }
        Command::Models(ModelsCmd::Card(a)) => return crate::cli_card::card(&home_dir, out, a),
        Command::Models(ModelsCmd::Show { model }) => {
            let home = open_read_only()?;
            let id = models::resolve(&home, &model)?;
            let run = models::load_run(&home, &id)?;
            let mut v = serde_json::to_value(&run).map_err(|e| Error::Rejected(e.to_string()))?;
            v["id"] = json!(id.hex());
            let evals = airlock::evaluate::list_for(&home, &id)?;
            v["evaluations"] = json!(
                evals
                    .iter()
                    .map(|(e, r)| json!({ "id": e.hex(), "dataset": r.dataset_ref, "site": r.site, "rows": r.rows }))
                    .collect::<Vec<_>>()
            );
            let gates = airlock::gate::list_for(&home, &id)?;
            v["gates"] = json!(
                gates
                    .iter()
                    .map(
                        |(g, r)| json!({ "id": g.hex(), "site": r.site, "passed": r.passed,
                        "needs_review": r.needs_review, "checks": r.checks.len(),
                        "policy": r.policy.as_ref().map(|p| p.digest.hex()),
                        "evaluation": r.evaluation.map(|e| e.hex()), "created_at": r.created_at })
                    )
                    .collect::<Vec<_>>()
            );
            out.emit(&v, |_| {
                out.line(format_args!("model       {id}"));
                out.line(format_args!(
                    "name        {} ({} {}) from site {}",
                    run.name,
                    run.spec.task.name(),
                    run.spec.arch.name(),
                    run.site
                ));
                out.line(format_args!(
                    "trained on  dataset {} snapshot {}",
                    run.dataset.short(),
                    run.snapshot.short()
                ));
                out.line(format_args!(
                    "features    {} ({})",
                    run.feature_set_ref,
                    run.feature_set.short()
                ));
                out.line(format_args!("weights     {}", run.weights.short()));
                out.line(format_args!(
                    "seed        {}  epochs {}  batch {}  lr {}",
                    run.config.seed,
                    run.config.epochs,
                    run.config.batch_size,
                    run.config.learning_rate
                ));
                let m = &run.metrics.holdout;
                let figures: Vec<String> = airlock_runtime::METRIC_NAMES
                    .iter()
                    .filter_map(|n| m.get(n).map(|v| format!("{n} {v:.4}")))
                    .collect();
                out.line(format_args!(
                    "held-out    {} rows: {}",
                    m.rows,
                    figures.join("  ")
                ));
                out.line(format_args!(
                    "trained     {} .. {} on {} ({}), best epoch {} of {}",
                    run.started_at,
                    run.finished_at,
                    run.device.kind,
                    run.device.name,
                    run.best_epoch,
                    run.history.len()
                ));
                out.line(format_args!(
                    "code        airlock {} rev {} Cargo.lock {}",
                    run.code.airlock,
                    run.code.git_rev,
                    &run.code.cargo_lock_sha256[..run.code.cargo_lock_sha256.len().min(16)]
                ));
                for c in &run.sandbox.report.controls {
                    out.line(format_args!(
                        "sandbox     {:<20} {}",
                        c.name,
                        if c.applied {
                            "in force".to_owned()
                        } else {
                            format!("NOT in force: {}", c.error.as_deref().unwrap_or("?"))
                        }
                    ));
                }
                crate::cli_eval::listed(out, &evals);
                crate::cli_gate::listed(out, &gates);
            });
        }
        Command::Gate(a) => return crate::cli_gate::run(&home_dir, out, a),
        Command::Approve {
            model,
            operator: who,
            note,
            reviewed,
        } => {
            let mut home = open()?;
            let id = models::resolve(&home, &model)?;
            let op = operator::unlock(
                &home,
                &who.operator,
                Role::Approve,
                PassSource::from_arg(who.passphrase_file),
            )?;
            let (aid, a) = lifecycle::approve_with(&mut home, &id, &op, &note, reviewed)?;
            let mut v = serde_json::to_value(&a).map_err(|e| Error::Rejected(e.to_string()))?;
            v["id"] = json!(aid.hex());
            out.emit(&v, |_| {
                out.line(format_args!(
                    "model {} approved by {} (approval {})",
                    id.short(),
                    a.approver,
                    aid.short()
                ))
            });
        }
        Command::Deploy(a) => return crate::cli_rollout::deploy(&home_dir, out, a),
        Command::Promote(a) => return crate::cli_rollout::promote(&home_dir, out, a),
        Command::Rollback(a) => return crate::cli_rollout::rollback(&home_dir, out, a),
        Command::Serve {
            socket,
            slot,
            allow_uid,
            max_connections,
            max_connections_per_uid,
            max_request_bytes,
            request_timeout,
            idle_timeout,
            features,
        } => {
            let mut home = open()?;
            let want = features.map(|f| f.parse::<NameRef>()).transpose()?;
            let opts = airlock::serve::ServeOptions {
                socket: socket.clone(),
                allow_uids: allow_uid.into_iter().collect(),
                max_connections,
                max_request_bytes,
                max_connections_per_uid,
                request_timeout: std::time::Duration::from_secs(request_timeout),
                idle_timeout: std::time::Duration::from_secs(idle_timeout),
            };
            let server = airlock::serve::prepare(&mut home, &slot, want.as_ref(), opts)?;
            // The home's lock is released: other commands run while this serves.
            drop(home);
            let model = server.model();
            let shares: Vec<serde_json::Value> = server
                .shares()
                .into_iter()
                .map(|(slot, m, p)| json!({ "slot": slot, "model": m.hex(), "percent": p }))
                .collect();
            let beside: String = server
                .shares()
                .into_iter()
                .map(|(slot, m, p)| format!(", {slot} {} on {p}%", m.short()))
                .collect();
            airlock::serve::serve(server, || {
                out.emit(
                    &json!({ "serving": model.hex(), "socket": socket, "beside": shares }),
                    |_| {
                        out.line(format_args!(
                            "serving model {} on {}{beside}",
                            model.short(),
                            socket.display()
                        ));
                    },
                );
                let _ = std::io::Write::flush(&mut std::io::stdout());
            })?;
        }
        Command::Predict {
            input,
            features,
            slot,
        } => {
            let home = open()?;
            let want = features.map(|f| f.parse::<NameRef>()).transpose()?;
            let f = std::fs::File::open(&input).at(&input)?;
            let p = lifecycle::predict(
                &home,
                &slot,
                BufReader::new(f),
                &input.display().to_string(),
                want.as_ref(),
            )?;
            out.emit(&p, |p| {
                out.line(format_args!(
                    "model {} with features {}",
                    p.model.short(),
                    p.feature_set_ref
                ));
                for x in &p.predictions {
                    out.line(format_args!(
                        "line {:>4}  {}",
                        x.line,
                        describe_answer(&x.answer)
                    ));
                }
            });
        }
        Command::Bundle(cmd) => return bundle(&home_dir, out, cmd),
        Command::Lineage { model } => {
            let home = open_read_only()?;
            let l = lineage::walk(&home, &model)?;
            out.emit(&l, |l| {
                let line = |indent: &str, n: &lineage::Node| {
                    out.line(format_args!(
                        "{indent}{:<12} {}  {}  [{}; signed by {}]{}",
                        n.kind.as_str(),
                        n.id.short(),
                        n.what,
                        n.site,
                        n.signed_by.join(", "),
                        n.at.map(|t| format!(" {t}")).unwrap_or_default()
                    ))
                };
                line("", &l.model);
                line("  ", &l.weights);
                line("  ", &l.feature_set);
                for d in &l.datasets {
                    line("  ", d);
                }
                line("    ", &l.snapshot);
                line("    ", &l.contract);
                for g in &l.gates {
                    line("  ", g);
                }
                for a in &l.approvals {
                    line("  ", a);
                }
                for d in &l.deployments {
                    line("  ", d);
                }
                out.line(format_args!(
                    "{} signatures and {} provenance statements verified",
                    l.signatures_verified, l.provenance_verified
                ));
            });
        }
        Command::Vault(VaultCmd::Verify) => {
            let home = open_read_only()?;
            let r = out.with_bytes("vault", |on| vault_check::verify(&home, on))?;
            out.emit(&r, |r| {
                for p in &r.problems {
                    let id: String = p.id.chars().take(12).collect();
                    out.line(format_args!("{:<12} {id}  {}", p.problem, p.detail));
                }
                out.line(format_args!(
                    "{} of {} indexed objects intact ({} bytes re-hashed); {} problem(s)",
                    r.intact,
                    r.indexed,
                    r.bytes,
                    r.problems.len()
                ));
            });
            if !r.problems.is_empty() {
                return Err(Error::Integrity(format!(
                    "vault verify found {} problem(s): the first is {} object {}",
                    r.problems.len(),
                    r.problems[0].problem,
                    r.problems[0].id
                )));
            }
        }
        Command::Harden(HardenCmd::Check { root }) => {
            use airlock_hardening::host::{self, Status};
            let report = host::check(&root, &home_dir);
            out.emit(&report, |r| {
                for f in &r.findings {
                    let cis = f
                        .cis
                        .map_or("no CIS id".to_string(), |c| format!("CIS {c}"));
                    let (s, id, found) = (f.status.name(), f.id, &f.found);
                    out.line(format_args!("{s:<4}  {id:<18} {found}  ({cis})"));
                    if f.status != Status::Pass {
                        out.line(format_args!("      fix: {}", f.fix));
                    }
                }
                let n = |s| r.with_status(s).count();
                let (p, w, f) = (n(Status::Pass), n(Status::Warn), n(Status::Fail));
                out.line(format_args!("{p} passed, {w} warnings, {f} failed"));
            });
            let failed: Vec<&str> = report.with_status(Status::Fail).map(|f| f.id).collect();
            if !failed.is_empty() {
                return Err(Error::Refused(format!(
                    "host check failed: {} (each finding says the fix; docs/hardening.md says why)",
                    failed.join(", ")
                )));
            }
        }
        Command::Audit(AuditCmd::AdoptCheckpoint { operator: who }) => {
            let mut home = open()?;
            let op = who.unlock(&home, Role::Audit)?;
            let seq = operator::adopt_audit_checkpoint(&mut home, op.as_ref())?;
            out.emit(&json!({ "id": seq, "checkpoint": seq }), |_| {
                out.line(format_args!(
                    "signed a first audit checkpoint at record {seq}; the adoption is recorded in the log"
                ))
            });
        }
        Command::Audit(AuditCmd::Export {
            to,
            out: file,
            expires_in,
            operator: who,
        }) => {
            let mut home = open()?;
            let card = read_card(&to)?;
            let opts = export::ExportOptions {
                with_data: false,
                expires_in_days: expires_in,
                split: None,
                operator: who.authority(),
            };
            let r = out.with_bytes("export", |on| {
                export::export_audit(&mut home, &card, opts, &file, on)
            })?;
            out.emit(&r, |r| {
                out.line(format_args!(
                    "wrote the audit log for site {} as bundle {} (sequence {}) to {}",
                    r.recipient,
                    r.bundle.short(),
                    r.sequence,
                    file.display()
                ))
            });
        }
        Command::Audit(AuditCmd::VerifyExport { file, card }) => {
            let home = open()?;
            let card = read_card(&card)?;
            let (doc, bundle) = out.with_bytes("verify", |on| {
                import::open(&home, &file)?.verify_audit_export(&home, &card, on)
            })?;
            let v = audit::verify_export(&doc, &card)?;
            let mut j = serde_json::to_value(&v).map_err(|e| Error::Rejected(e.to_string()))?;
            j["bundle"] = json!(bundle.hex());
            out.emit(&j, |_| {
                out.line(format_args!(
                    "audit log of site {} (key {}) intact: {} records, {} .. {}, signed checkpoint at record {}, exported {}",
                    v.site,
                    v.key_id,
                    v.records,
                    v.first.map(|t| t.to_string()).unwrap_or_default(),
                    v.last.map(|t| t.to_string()).unwrap_or_default(),
                    v.checkpoint,
                    v.exported_at
                ))
            });
        }
        Command::Audit(AuditCmd::Verify) => {
            let home = open_read_only()?;
            let v = home.verify_audit()?;
            out.emit(&v, |v| {
                out.line(format_args!(
                    "audit log intact: {} records, head {}, signed checkpoint at record {}",
                    v.records,
                    &v.head[..16],
                    v.checkpoint.unwrap_or(0)
                ))
            });
        }
        Command::Audit(AuditCmd::Log {
            since,
            actor,
            action,
        }) => {
            let home = open_read_only()?;
            let since: Option<Timestamp> = since
                .map(|s| {
                    let full = if s.len() == 10 { format!("{s}T00:00:00Z") } else { s.clone() };
                    full.parse().map_err(|_| {
                        Error::Rejected(format!(
                            "--since {s:?}: write a time such as 2026-11-23T08:00:00Z or a date such as 2026-11-23"
                        ))
                    })
                })
                .transpose()?;
            let wanted = |r: &audit::Record| {
                since.is_none_or(|t| r.time >= t)
                    && actor.as_deref().is_none_or(|a| r.actor.starts_with(a))
                    && action.as_deref().is_none_or(|a| match a.strip_suffix('*') {
                        Some(prefix) => r.action.starts_with(prefix),
                        None => r.action == a,
                    })
            };
            let records: Vec<audit::Record> = home
                .audit_log()?
                .into_iter()
                .filter(|r| wanted(r))
                .collect();
            let with_ids: Vec<serde_json::Value> = records
                .iter()
                .map(|r| {
                    let mut v = serde_json::to_value(r).unwrap_or_default();
                    v["id"] = json!(r.seq);
                    v
                })
                .collect();
            out.emit(&with_ids, |_| {
                for r in &records {
                    out.line(format_args!(
                        "{:>5} {} {:<16} {} {}",
                        r.seq, r.time, r.action, r.actor, r.details
                    ));
                }
            });
        }
        Command::Demo { workdir } => return run_demo(out, workdir),
        Command::Tui(a) => return crate::cli_tui::run(&home_dir, out.json, a),
        Command::Keys(KeysCmd::Root(RootCmd::Init {
            out: dir,
            passphrase_file,
        })) => {
            let pass = PassSource::from_arg(passphrase_file)
                .read("New passphrase for the root key: ", true)?;
            let card = policy::init_root(&dir, &pass, &home_dir, Clock::System.now())?;
            out.emit(&card, |c| {
                out.line(format_args!("created root key {} in {}", c.key_id, dir.display()));
                out.line(format_args!(
                    "  {} (sealed with the passphrase) and {}",
                    policy::ROOT_KEY_FILE,
                    policy::ROOT_PUB_FILE
                ));
                out.line(format_args!(
                    "write the key id down: each node pins it at its first policy (airlock policy apply FILE --root-key-id {})",
                    c.key_id
                ));
                out.line("keep this media offline; the root key never goes on a node");
            });
        }
        Command::Keys(KeysCmd::Operator(OperatorCmd::New {
            name,
            passphrase_file,
        })) => {
            let mut home = open()?;
            let info = operator::create(&mut home, &name, PassSource::from_arg(passphrase_file))?;
            out.emit(&info, |i| {
                out.line(format_args!(
                    "created operator {} (key id {})",
                    i.name, i.key_id
                ));
                out.line("for the trust policy's [[operators]]:");
                out.line(format_args!("  name = {:?}", i.name));
                out.line(format_args!("  key = {:?}", i.key));
            });
        }
        Command::Keys(KeysCmd::Operator(OperatorCmd::List)) => {
            let home = open_read_only()?;
            let list = operator::list(&home)?;
            out.emit(&list, |l| {
                if l.is_empty() {
                    out.line("no operators; create one with `airlock keys operator new NAME`");
                }
                for o in l {
                    let roles: Vec<&str> = o.roles.iter().map(|r| r.as_str()).collect();
                    out.line(format_args!(
                        "{:<20} key {}  {}",
                        o.name,
                        o.key_id,
                        if o.revoked {
                            "REVOKED".to_string()
                        } else if roles.is_empty() {
                            "no roles".to_string()
                        } else {
                            format!("roles: {}", roles.join(", "))
                        }
                    ));
                }
            });
        }
        Command::Policy(PolicyCmd::Template { root }) => {
            let home = open()?;
            let card = root.as_deref().map(policy::read_root_card).transpose()?;
            out.text(&policy::template(&home, card.as_ref())?);
        }
        Command::Policy(PolicyCmd::Sign {
            input,
            root,
            out: file,
            passphrase_file,
        }) => {
            let pass = PassSource::from_arg(passphrase_file)
                .read("Passphrase for the root key: ", false)?;
            let key = policy::open_root(&root, &pass)?;
            let signed = policy::sign(&input, &key, Clock::System.now())?;
            fsx::write_new(&file, &signed.render())?;
            let v = json!({ "file": file.display().to_string(), "site": signed.body.site.as_str(),
                            "version": signed.body.version, "signed_by": key.key_id(),
                            "signatures": signed.signatures.len() });
            out.emit(&v, |_| {
                out.line(format_args!(
                    "signed trust policy v{} for site {} with root key {} ({} signature(s)) into {}",
                    signed.body.version,
                    signed.body.site,
                    key.key_id(),
                    signed.signatures.len(),
                    file.display()
                ))
            });
        }
        Command::Policy(PolicyCmd::Apply { files, root_key_id }) => {
            let mut home = open()?;
            let chain = files
                .iter()
                .map(|f| policy::read(f))
                .collect::<Result<Vec<_>>>()?;
            let applied = policy::apply(&mut home, &chain, root_key_id.as_deref())?;
            out.emit(&applied, |a| {
                for x in a {
                    match x {
                        policy::Applied::Applied { version, id } => out.line(format_args!(
                            "trust policy v{version} is in force ({})",
                            id.short()
                        )),
                        policy::Applied::AlreadyInForce { version } => {
                            out.line(format_args!("trust policy v{version} was already in force"))
                        }
                    }
                }
            });
        }
        Command::Policy(PolicyCmd::Show) => {
            let home = open_read_only()?;
            let Some(p) = policy::in_force(&home)? else {
                return Err(Error::NotFound(
                    "no trust policy is in force on this node (setup mode: peers by `trust add`, any operator may approve)".into(),
                ));
            };
            let mut v =
                serde_json::to_value(p.body()).map_err(|e| Error::Rejected(e.to_string()))?;
            v["id"] = json!(p.id.hex());
            v["signed_by"] = json!(
                p.policy
                    .signatures
                    .iter()
                    .map(|s| s.key_id.clone())
                    .collect::<Vec<_>>()
            );
            out.emit(&v, |_| {
                let b = p.body();
                out.line(format_args!(
                    "trust policy v{} for site {} ({}), signed {}",
                    b.version,
                    b.site,
                    p.id.short(),
                    b.created_at
                ));
                out.line(format_args!(
                    "root keys: {} of {}",
                    b.root.threshold,
                    b.root.keys.len()
                ));
                for pe in &b.peers {
                    out.line(format_args!("peer      {}", pe.site));
                }
                for o in &b.operators {
                    let roles: Vec<&str> = o.roles.iter().map(|r| r.as_str()).collect();
                    out.line(format_args!(
                        "operator  {:<20} {}",
                        o.name,
                        roles.join(", ")
                    ));
                }
                for (slot, k) in &b.approvals {
                    out.line(format_args!("approvals {slot}: {k}"));
                }
                for (slot, sites) in &b.gates {
                    let sites: Vec<&str> = sites.iter().map(|s| s.as_str()).collect();
                    out.line(format_args!(
                        "gates     {slot}: {} and this site",
                        sites.join(", ")
                    ));
                }
                for r in &b.revoked {
                    out.line(format_args!("revoked   {r}"));
                }
            });
        }
    }
    Ok(exit::OK)
}

/// The first 12 characters of an id, as lists show it.
pub(crate) fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

fn train_config(a: &TrainArgs) -> Result<TrainConfig> {
    let defaults = TrainConfig::default();
    let class_weights = match a.class_weights.as_str() {
        "uniform" => ClassWeights::Uniform,
        "balanced" => ClassWeights::Balanced,
        list => ClassWeights::Explicit {
            weights: list
                .split(',')
                .map(|w| w.trim().parse::<f64>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| {
                    Error::Rejected(format!(
                        "--class-weights {list:?}: write uniform, balanced or numbers like 1,5"
                    ))
                })?,
        },
    };
    Ok(TrainConfig {
        task: match a.task {
            TaskKind::Binary => Task::Binary,
            // The class count is read from the data.
            TaskKind::Multiclass => Task::Multiclass { classes: 3 },
            TaskKind::Regression => Task::Regression,
        },
        arch: match a.model {
            ModelKind::Logreg => Arch::Logreg,
            ModelKind::Mlp => Arch::Mlp {
                hidden: a.hidden.clone(),
                activation: match a.activation {
                    ActivationKind::Relu => Activation::Relu,
                    ActivationKind::Tanh => Activation::Tanh,
                    ActivationKind::Gelu => Activation::Gelu,
                    ActivationKind::Silu => Activation::Silu,
                },
                dropout: a.dropout,
            },
        },
        epochs: a.epochs.unwrap_or(defaults.epochs),
        batch_size: a.batch_size.unwrap_or(defaults.batch_size),
        learning_rate: a.learning_rate.unwrap_or(defaults.learning_rate),
        schedule: match a.schedule {
            ScheduleKind::Constant => Schedule::Constant,
            ScheduleKind::Step => Schedule::Step {
                every: a.lr_step,
                gamma: a.lr_gamma,
            },
            ScheduleKind::Cosine => Schedule::Cosine { floor: a.lr_floor },
        },
        warmup_epochs: a.warmup_epochs,
        weight_decay: a.weight_decay,
        class_weights,
        early_stopping: a.early_stopping.map(|patience| EarlyStopping {
            patience,
            min_delta: 0.0,
        }),
        checkpoint_every: a.checkpoint_every,
        seed: a.seed,
        holdout_fraction: a.holdout,
        validation_fraction: a.validation,
    })
}

fn train(home_dir: &Path, out: Out, a: TrainArgs) -> Result<i32> {
    let config = train_config(&a)?;
    // Settings are checked before the home is opened or any data read; the class count of a
    // multiclass task is checked again once the data is known.
    config.validate()?;
    let device: DeviceChoice = a.device.parse()?;
    let mut home = Home::open(home_dir)?;
    let req = models::TrainRequest {
        dataset: a.dataset.parse()?,
        features: a.features.parse()?,
        name: a.name,
        config,
        device,
        slice_column: a.slice_by,
        checkpoints: a.checkpoint_dir,
    };
    let bar = out.bar(req.config.epochs as u64, "training", false);
    let result = models::train(&mut home, &req, &mut |e| {
        bar.set_position(e.epoch as u64);
        bar.set_message(format!(
            "epoch {} loss {:.4} val {:.4} {:.0} rows/s",
            e.epoch, e.train_loss, e.validation_score, e.rows_per_second
        ));
    });
    bar.finish_and_clear();
    let (id, run) = result?;
    for c in run.sandbox.report.failures() {
        out.warn(format_args!(
            "worker sandbox control {} was not in force: {} (recorded in the run record)",
            c.name,
            c.error.as_deref().unwrap_or("unknown")
        ));
    }
    if let Some(note) = &run.device.note {
        out.note(note);
    }
    let v = json!({ "id": id.hex(), "name": run.name, "task": run.spec.task.name(), "arch": run.spec.arch.name(),
                    "feature_set": run.feature_set_ref, "device": run.device, "best_epoch": run.best_epoch,
                    "stopped_early": run.stopped_early, "metrics": run.metrics,
                    "sandbox": run.sandbox });
    out.emit(&v, |_| {
        if let Some(last) = run.history.last() {
            out.line(format_args!(
                "{} epochs{}, best {}, last train loss {:.4}, {:.0} rows/s on {} ({})",
                run.history.len(),
                if run.stopped_early {
                    " (stopped early)"
                } else {
                    ""
                },
                run.best_epoch,
                last.train_loss,
                last.rows_per_second,
                run.device.kind,
                run.device.name
            ));
        }
        let applied = run
            .sandbox
            .report
            .controls
            .iter()
            .filter(|c| c.applied)
            .count();
        let requested = run
            .sandbox
            .report
            .controls
            .iter()
            .filter(|c| c.requested)
            .count();
        out.line(format_args!(
            "sandbox: {applied} of {requested} controls in force"
        ));
        let m = &run.metrics.holdout;
        let figures: Vec<String> = airlock_runtime::METRIC_NAMES
            .iter()
            .filter_map(|n| m.get(n).map(|v| format!("{n} {v:.4}")))
            .collect();
        out.line(format_args!(
            "trained {} model {} ({}): held-out {} rows: {}",
            run.spec.task.name(),
            id.short(),
            run.spec.arch.name(),
            m.rows,
            figures.join(", ")
        ));
        for (slice, m) in &run.metrics.holdout_slices {
            let name = run.spec.task.score_name();
            out.line(format_args!(
                "  {} = {slice:<20} {:>5} rows  {name} {:.4}",
                run.slice_column.as_deref().unwrap_or("slice"),
                m.rows,
                m.get(name).unwrap_or(f64::NAN)
            ));
        }
        out.line(format_args!("model id {id}"));
    });
    Ok(exit::OK)
}

fn bundle(home_dir: &Path, out: Out, cmd: BundleCmd) -> Result<i32> {
    match cmd {
        BundleCmd::Export {
            to,
            out: file,
            with_data,
            expires_in,
            split,
            operator: who,
            items,
        } => {
            let mut home = Home::open(home_dir)?;
            let card = read_card(&to)?;
            let items = items
                .iter()
                .map(|s| s.parse())
                .collect::<Result<Vec<export::Item>>>()?;
            let split = split.as_deref().map(media::parse_split).transpose()?;
            let opts = export::ExportOptions {
                with_data,
                expires_in_days: expires_in,
                split,
                operator: who.authority(),
            };
            let r = out.with_bytes("export", |on| {
                export::export(&mut home, &card, &items, opts, &file, on)
            })?;
            let mut v = serde_json::to_value(&r).map_err(|e| Error::Rejected(e.to_string()))?;
            v["id"] = json!(r.bundle.hex());
            out.emit(&v, |_| {
                out.line(format_args!(
                    "wrote bundle {} for site {}: {} objects, {} bytes, sequence {}, expires {}",
                    r.bundle.short(),
                    r.recipient,
                    r.objects,
                    r.bytes,
                    r.sequence,
                    r.expires_at
                ));
                for f in &r.files {
                    out.line(format_args!("  {f}"));
                }
            });
        }
        BundleCmd::Inspect { file } => {
            let home = Home::open(home_dir)?;
            let verified = import::inspect(&home, &file)?;
            let m = verified.manifest();
            let status = verified.sequence_status();
            let fresh = verified.freshness();
            let files: Vec<String> = verified
                .parts()
                .files
                .iter()
                .map(|f| f.path.display().to_string())
                .collect();
            let v = json!({ "id": verified.bundle_id().hex(), "manifest": m, "signature": "valid",
                            "sequence_status": status, "freshness": fresh, "files": files });
            out.emit(&v, |_| {
                out.line(format_args!(
                    "bundle {} from site {} to site {} (signature valid, origin trusted)",
                    verified.bundle_id().short(),
                    m.origin_site,
                    m.recipient_site
                ));
                out.line(format_args!(
                    "sequence {} ({})  created {}  expires {}{}{}",
                    m.sequence,
                    match status {
                        import::SequenceStatus::New => "new".to_string(),
                        import::SequenceStatus::Stale { last } =>
                            format!("NOT newer than {last}: would be refused"),
                    },
                    m.created_at,
                    m.expires_at,
                    if fresh.expired {
                        "  EXPIRED: would be refused"
                    } else {
                        ""
                    },
                    if fresh.stale {
                        "  STALE: needs --allow-stale"
                    } else {
                        ""
                    },
                ));
                out.line(format_args!(
                    "{} part(s) ({} of payload, {} payload bytes); found {}",
                    files.len(),
                    m.payload.parts.len(),
                    m.payload.size,
                    files.join(", ")
                ));
                for e in &m.objects {
                    out.line(format_args!(
                        "  {:<12} {}  {:>10} bytes  signed by {}",
                        e.kind.as_str(),
                        e.id.short(),
                        e.size,
                        e.attestations
                            .iter()
                            .map(|a| a.site.to_string())
                            .collect::<Vec<_>>()
                            .join(",")
                    ));
                }
            });
        }
        BundleCmd::Verify { file, allow_stale } => {
            let home = Home::open(home_dir)?;
            let r = out.with_bytes("verify", |on| {
                import::verify(&home, &file, import::ImportOptions { allow_stale }, on)
            })?;
            let mut v = serde_json::to_value(&r).map_err(|e| Error::Rejected(e.to_string()))?;
            v["id"] = json!(r.bundle.hex());
            v["verdict"] = json!("would be accepted");
            out.emit(&v, |_| {
                out.line(format_args!(
                    "bundle {} from site {} (sequence {}) verified: {} part(s), {} objects, {} bytes; it would be accepted",
                    r.bundle.short(),
                    r.origin,
                    r.sequence,
                    r.parts,
                    r.objects,
                    r.bytes
                ))
            });
        }
        BundleCmd::Import { file, allow_stale } => {
            let mut home = Home::open(home_dir)?;
            let r = out.with_bytes("import", |on| {
                import::import(&mut home, &file, import::ImportOptions { allow_stale }, on)
            })?;
            let v = json!({ "id": r.bundle.hex(), "origin": r.origin, "sequence": r.sequence, "objects": r.objects, "new_objects": r.new_objects, "models": r.models });
            out.emit(&v, |_| {
                out.line(format_args!(
                    "imported bundle {} (sequence {}) from site {}: {} objects ({} new)",
                    r.bundle.short(),
                    r.sequence,
                    r.origin,
                    r.objects,
                    r.new_objects
                ));
                for m in &r.models {
                    out.line(format_args!("  model {m}"));
                }
            });
        }
    }
    Ok(exit::OK)
}

fn run_demo(out: Out, workdir: Option<PathBuf>) -> Result<i32> {
    let (dir, _temp) = match workdir {
        Some(d) => (d, None),
        None => {
            let t = tempfile::Builder::new()
                .prefix("airlock-demo-")
                .tempdir()
                .at(std::env::temp_dir())?;
            (t.path().join("demo"), Some(t))
        }
    };
    let json = out.json;
    let report = demo::run(&dir, &mut |line| {
        if !json {
            out.line(format_args!("{line}"));
        }
    })?;
    out.emit(&report, |r| {
        out.line("");
        out.line(format_args!(
            "predictions at plant (model {}, features {}):",
            &r.model[..12],
            r.predictions.feature_set_ref
        ));
        for p in &r.predictions.predictions {
            let prob = p.answer.probability.unwrap_or(f32::NAN);
            out.line(format_args!(
                "  request {}  probability of default {:.3}  -> {}",
                p.line,
                prob,
                if prob >= 0.5 { "decline" } else { "approve" }
            ));
        }
        if _temp.is_none() {
            out.line(format_args!("homes and media kept in {}", r.workdir));
        }
    });
    Ok(exit::OK)
}

/// One answer on one line, for people.
fn describe_answer(a: &lifecycle::Answer) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &a.class {
        parts.push(format!("class {c}"));
    }
    if let Some(p) = a.probability {
        parts.push(format!("probability {p:.4}"));
    }
    if let Some(v) = a.value {
        parts.push(format!("value {v}"));
    }
    parts.join("  ")
}
