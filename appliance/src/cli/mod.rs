//! The command line: definitions (clap) and one handler per command.

pub(crate) mod bundle;
pub(crate) mod card;
pub(crate) mod data;
pub(crate) mod drift;
pub(crate) mod eval;
pub(crate) mod gate;
pub(crate) mod keys;
pub(crate) mod monitor;
pub(crate) mod ops;
pub(crate) mod output;
pub(crate) mod rollout;
pub(crate) mod train;
pub(crate) mod tui;

use std::io::BufReader;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;

use airlock::bundle::export;
use airlock::demo;
use airlock::error::{Error, IoContext, Result, exit};
use airlock::node::home::Home;
use airlock::ops::lineage;
use airlock::site::{SiteCard, SiteName};
use airlock::trust::operator::{self, Operator};
use airlock::trust::personal::PassSource;
use airlock::trust::policy::Role;
use airlock::vault::registry::NameRef;

use crate::cli::data::{ContractCmd, DataCmd, FeaturesCmd};
use crate::cli::output::Out;

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
    Site(crate::cli::keys::SiteCmd),
    /// Peer sites whose bundles this node accepts.
    #[command(subcommand)]
    Trust(crate::cli::keys::TrustCmd),
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
    Train(crate::cli::train::TrainArgs),
    /// List and show models.
    #[command(subcommand)]
    Models(ModelsCmd),
    /// Score a model on a separate dataset: metrics, confusion, threshold sweep, calibration,
    /// importance, slices, fairness, robustness; stores a signed evaluation record.
    Evaluate(crate::cli::eval::EvaluateArgs),
    /// What deployed models see while they serve: drift per feature, prediction drift,
    /// refusals and latency per window, alerts (docs/monitoring.md).
    #[command(subcommand)]
    Monitor(crate::cli::monitor::MonitorCmd),
    /// Judge a model against a gate policy or held-out thresholds; stores a signed report.
    Gate(crate::cli::gate::GateArgs),
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
    Deploy(crate::cli::rollout::DeployArgs),
    /// Make the canary's model the production model, and empty the canary slot.
    Promote(crate::cli::rollout::PromoteArgs),
    /// Put back the model a slot held before (production), or empty a canary or shadow slot.
    Rollback(crate::cli::rollout::RollbackArgs),
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
        #[command(flatten)]
        monitor: crate::cli::monitor::ServeMonitorArgs,
    },
    /// Score rows (JSON lines, one object per line, or CSV) with the deployed model.
    Predict {
        /// Input file: one JSON object per line with the contract's columns, or CSV in the
        /// contract's dialect (its header read under the contract's ignore and rename rules;
        /// the label column may be left out).
        #[arg(long)]
        input: PathBuf,
        /// The input's format (by default: .csv/.tsv is CSV, anything else JSON lines).
        #[arg(long, value_enum)]
        format: Option<RequestFormatArg>,
        /// Refuse unless the model uses exactly this feature set, [SITE/]NAME@VERSION.
        #[arg(long)]
        features: Option<String>,
        /// The slot.
        #[arg(long, default_value = "production")]
        slot: String,
        /// How the batch is monitored (a window of summaries, the prediction log).
        #[command(flatten)]
        monitor: crate::cli::monitor::PredictMonitorArgs,
    },
    /// Signed, encrypted bundle files: the only way across the air gap.
    #[command(subcommand)]
    Bundle(crate::cli::bundle::BundleCmd),
    /// Walk from a model back to its raw data and its approvers, verifying
    /// every signature on the way.
    Lineage {
        /// Model id or unique prefix (at least 8 hex digits).
        model: String,
    },
    /// The encrypted, content-addressed object vault.
    #[command(subcommand)]
    Vault(crate::cli::ops::VaultCmd),
    /// Check the host this node runs on (docs/hardening.md).
    #[command(subcommand)]
    Harden(crate::cli::ops::HardenCmd),
    /// The hash-chained, signed audit log.
    #[command(subcommand)]
    Audit(crate::cli::ops::AuditCmd),
    /// The offline root key and operator keys.
    #[command(subcommand)]
    Keys(crate::cli::keys::KeysCmd),
    /// The root-signed trust policy: peers, operator roles, approval
    /// thresholds, revocations.
    #[command(subcommand)]
    Policy(crate::cli::keys::PolicyCmd),
    /// Start the operator console (airlock-tui, installed beside airlock) on this home.
    Tui(crate::cli::tui::TuiArgs),
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
    pub(crate) fn authority(self) -> export::Authority<'static> {
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
    Describe(crate::cli::card::DescribeArgs),
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
    Card(crate::cli::card::CardArgs),
}

pub(crate) fn read_card(path: &Path) -> Result<SiteCard> {
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
        Command::Site(cmd) => return crate::cli::keys::site(&home_dir, out, cmd),
        Command::Trust(cmd) => return crate::cli::keys::trust_cmd(&home_dir, out, cmd),
        Command::Contract(cmd) => return crate::cli::data::contract(&home_dir, out, cmd),
        Command::Data(cmd) => return crate::cli::data::data(&home_dir, out, cmd),
        Command::Features(cmd) => return crate::cli::data::features(&home_dir, out, cmd),
        Command::Evaluate(a) => return crate::cli::eval::run(&home_dir, out, a),
        Command::Train(a) => return crate::cli::train::train(&home_dir, out, a),
        Command::Models(ModelsCmd::List) => {
            let home = open_read_only()?;
            let list = airlock::ops::train::list(&home)?;
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
            return crate::cli::card::describe(&home_dir, out, a);
        }
        Command::Models(ModelsCmd::Card(a)) => return crate::cli::card::card(&home_dir, out, a),
        Command::Models(ModelsCmd::Show { model }) => {
            let home = open_read_only()?;
            let id = airlock::ops::train::resolve(&home, &model)?;
            let run = airlock::ops::train::load_run(&home, &id)?;
            let mut v = serde_json::to_value(&run).map_err(|e| Error::Rejected(e.to_string()))?;
            v["id"] = json!(id.hex());
            let evals = airlock::ops::evaluate::list_for(&home, &id)?;
            v["evaluations"] = json!(
                evals
                    .iter()
                    .map(|(e, r)| json!({ "id": e.hex(), "dataset": r.dataset_ref, "site": r.site, "rows": r.rows }))
                    .collect::<Vec<_>>()
            );
            let gates = airlock::ops::gate::list_for(&home, &id)?;
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
                crate::cli::eval::listed(out, &evals);
                crate::cli::gate::listed(out, &gates);
            });
        }
        Command::Gate(a) => return crate::cli::gate::run(&home_dir, out, a),
        Command::Monitor(cmd) => return crate::cli::monitor::run(&home_dir, out, cmd),
        Command::Approve {
            model,
            operator: who,
            note,
            reviewed,
        } => {
            let mut home = open()?;
            let id = airlock::ops::train::resolve(&home, &model)?;
            let op = operator::unlock(
                &home,
                &who.operator,
                Role::Approve,
                PassSource::from_arg(who.passphrase_file),
            )?;
            let (aid, a) =
                airlock::ops::approve::approve_with(&mut home, &id, &op, &note, reviewed)?;
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
        Command::Deploy(a) => return crate::cli::rollout::deploy(&home_dir, out, a),
        Command::Promote(a) => return crate::cli::rollout::promote(&home_dir, out, a),
        Command::Rollback(a) => return crate::cli::rollout::rollback(&home_dir, out, a),
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
            monitor,
        } => {
            let mut home = open()?;
            let want = features.map(|f| f.parse::<NameRef>()).transpose()?;
            let monitor = monitor.policy()?;
            let opts = airlock::ops::serve::ServeOptions {
                socket: socket.clone(),
                allow_uids: allow_uid.into_iter().collect(),
                max_connections,
                max_request_bytes,
                max_connections_per_uid,
                request_timeout: std::time::Duration::from_secs(request_timeout),
                idle_timeout: std::time::Duration::from_secs(idle_timeout),
                monitor,
            };
            let server = airlock::ops::serve::prepare(&mut home, &slot, want.as_ref(), opts)?;
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
            airlock::ops::serve::serve(server, || {
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
            format,
            features,
            slot,
            monitor,
        } => {
            let mut home = open()?;
            let want = features.map(|f| f.parse::<NameRef>()).transpose()?;
            let f = std::fs::File::open(&input).at(&input)?;
            let format = match format {
                Some(RequestFormatArg::Csv) => airlock::ops::predict::RequestFormat::Csv,
                Some(RequestFormatArg::Jsonl) => airlock::ops::predict::RequestFormat::JsonLines,
                None => airlock::ops::predict::RequestFormat::of(&input),
            };
            let policy = monitor.policy()?;
            let p = match &policy {
                None => airlock::ops::predict::predict_as(
                    &home,
                    &slot,
                    BufReader::new(f),
                    &input.display().to_string(),
                    format,
                    want.as_ref(),
                )?,
                Some(policy) => {
                    let (p, checked) = airlock::ops::predict::predict_monitored(
                        &mut home,
                        &slot,
                        BufReader::new(f),
                        &input.display().to_string(),
                        format,
                        want.as_ref(),
                        policy,
                    )?;
                    crate::cli::monitor::say_checked(&out, "airlock predict", &checked);
                    p
                }
            };
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
        Command::Bundle(cmd) => return crate::cli::bundle::bundle(&home_dir, out, cmd),
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
        Command::Vault(cmd) => return crate::cli::ops::vault_cmd(&home_dir, out, cmd),
        Command::Harden(cmd) => return crate::cli::ops::harden(&home_dir, out, cmd),
        Command::Audit(cmd) => return crate::cli::ops::audit_cmd(&home_dir, out, cmd),
        Command::Demo { workdir } => return run_demo(out, workdir),
        Command::Tui(a) => return crate::cli::tui::run(&home_dir, out.json, a),
        Command::Keys(cmd) => return crate::cli::keys::keys(&home_dir, out, cmd),
        Command::Policy(cmd) => return crate::cli::keys::policy_cmd(&home_dir, out, cmd),
    }
    Ok(exit::OK)
}

/// The first 12 characters of an id, as lists show it.
pub(crate) fn short(id: &str) -> String {
    id.chars().take(12).collect()
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
/// `predict --format`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RequestFormatArg {
    /// CSV in the model's contract's dialect.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

fn describe_answer(a: &airlock::ops::score::Answer) -> String {
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
