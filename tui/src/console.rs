//! Performing the console's tasks: each opens the home for the one call, as an `airlock`
//! command does (read-only for what only reads), so the home's lock is held no longer than
//! the command line would hold it and commands can run beside the console.

use std::path::{Path, PathBuf};

use airlock::bundle::{export, import, media as bundle_media};
use airlock::node::home::{Home, Waiting};
use airlock::ops::rollout;
use airlock::ops::train;
use airlock::trust::operator;
use airlock::trust::personal::{PassSource, Passphrase};
use airlock::trust::policy::Role;

use crate::deploy;
use crate::featureset;
use crate::load;
use crate::media::{self, BundleDetail, Where};
use crate::shown::Shown;
use crate::task::{Outcome, Task, TrainChoices, TrainSettings};
use crate::training;
use crate::view::{ErrorView, Loaded, ModelRow};
use crate::work::{Progress, Unit};

/// Days until an exported bundle expires (`bundle export --expires-in`'s default).
pub const EXPIRES_IN_DAYS: u32 = 30;

/// The home the console works on and who operates it.
#[derive(Clone, Debug)]
pub struct Console {
    home: PathBuf,
    operator: Option<String>,
    system_root: PathBuf,
    media: Option<PathBuf>,
    monitor_policy: Option<PathBuf>,
}

impl Console {
    /// A console on the home at `home`; `operator` signs approvals and deployments.
    pub fn new(home: &Path, operator: Option<&str>) -> Self {
        Console {
            home: home.to_path_buf(),
            operator: operator.map(str::to_string),
            system_root: PathBuf::from("/"),
            media: None,
            monitor_policy: None,
        }
    }

    /// Looks for bundles in `dir` (`--media DIR`) instead of the usual mount points.
    pub fn with_media(mut self, dir: &Path) -> Self {
        self.media = Some(dir.to_path_buf());
        self
    }

    /// Judges monitoring windows under the monitoring policy in `file` (`--monitor-policy
    /// FILE`, as `airlock monitor report --policy FILE`): its thresholds, and the labels its
    /// `accuracy.labels` names; the defaults of docs/monitoring.md otherwise.
    pub fn with_monitor_policy(mut self, file: &Path) -> Self {
        self.monitor_policy = Some(file.to_path_buf());
        self
    }

    /// Where the Media screen looks: the folder given, else the mount points under the
    /// system root.
    pub fn media_place(&self) -> Where {
        match &self.media {
            Some(d) => Where::Given(d.clone()),
            None => Where::Mounted(self.system_root.clone()),
        }
    }

    /// Reads network interfaces and routes, and looks for mounted media, under `root`
    /// instead of `/` (tests).
    pub fn with_system_root(mut self, root: &Path) -> Self {
        self.system_root = root.to_path_buf();
        self
    }

    /// Checks that the home opens, as every command does first: the console refuses to
    /// start on a folder that is not a home, with the command line's message.
    pub fn check(&self) -> airlock::Result<()> {
        Home::open_read_only(&self.home).map(drop)
    }

    /// The home opened for reading, a wait for another command's lock told to `wait`.
    fn open_read(&self, wait: &mut dyn FnMut(&Path)) -> airlock::Result<Home> {
        Home::open_read_only_waiting(&self.home, Waiting::Call(wait))
    }

    fn read<T>(
        &self,
        wait: &mut dyn FnMut(&Path),
        f: impl FnOnce(&Home) -> airlock::Result<T>,
    ) -> Loaded<T> {
        self.open_read(wait)
            .and_then(|home| f(&home))
            .map_err(ErrorView::from)
    }

    /// Opens the home for writing (a wait told to `wait`), does `act`, and closes it: a
    /// checkpoint that could not be signed is added to the result as the warning the command
    /// line prints, rather than written on stderr over the screen.
    fn write(
        &self,
        wait: &mut dyn FnMut(&Path),
        act: impl FnOnce(&mut Home) -> airlock::Result<Shown>,
    ) -> airlock::Result<Shown> {
        let mut home = Home::open_waiting(&self.home, Waiting::Call(wait))?;
        let done = act(&mut home);
        let closed = home.close();
        match (done, closed) {
            (Ok(line), Ok(())) => Ok(line),
            (Ok(line), Err(e)) => Ok(Shown::block(&format!(
                "{line}\nwarning: the signed audit checkpoint was not updated: {e}"
            ))),
            (Err(e), _) => Err(e),
        }
    }

    /// Performs `task` with the library; a wait for another command's lock on the home is
    /// not said at all ([`Console::perform_with`] says it).
    pub fn perform(&self, task: Task) -> Outcome {
        self.perform_with(task, &mut |_| {})
    }

    /// Performs `task` with the library, calling `wait` when the home is locked by another
    /// command and the call waits for it (the event loop draws that on the screen; the
    /// library would otherwise say it on stderr, over the drawing).
    pub fn perform_with(&self, task: Task, wait: &mut dyn FnMut(&Path)) -> Outcome {
        self.perform_reporting(task, wait, &mut |_| {})
    }

    /// [`Console::perform_with`], with the progress of long work ([`Task::is_long`]: a
    /// bundle's verification, an import, an export, training) told to `progress` as the
    /// library's callback reports it.
    pub fn perform_reporting(
        &self,
        task: Task,
        wait: &mut dyn FnMut(&Path),
        progress: &mut dyn FnMut(Progress),
    ) -> Outcome {
        let w = wait;
        let mut on_bytes = |done: u64, total: u64| {
            progress(Progress {
                done,
                total,
                unit: Unit::Bytes,
                line: None,
            })
        };
        match task {
            Task::Overview => {
                Outcome::Overview(self.read(w, |h| load::overview(h, &self.system_root)))
            }
            Task::Data => Outcome::Data(self.read(w, load::data_view)),
            Task::Models { open } => match self.open_read(w) {
                Ok(home) => {
                    let rows = load::models(&home).map_err(ErrorView::from);
                    // The open model's detail, from its fresh row (approvals, gate, slot).
                    let detail = open.map(|old| {
                        let row = rows
                            .as_ref()
                            .ok()
                            .and_then(|rs| rs.iter().find(|r| r.id_hex == old.id_hex))
                            .unwrap_or(&old);
                        load::model_detail(&home, row).map_err(ErrorView::from)
                    });
                    Outcome::Models { rows, detail }
                }
                Err(e) => Outcome::Models {
                    rows: Err(e.into()),
                    detail: None,
                },
            },
            Task::Audit => Outcome::Audit(self.read(w, load::audit_log)),
            Task::Profile(key) => Outcome::Profile(self.read(w, |h| load::profile(h, &key))),
            Task::Model(row) => Outcome::Model(self.read(w, |h| load::model_detail(h, &row))),
            Task::VerifyAudit => Outcome::Verified(self.read(w, load::verify_audit)),
            Task::Slots => Outcome::Slots(self.read(w, deploy::load)),
            Task::Monitor { labels } => Outcome::Monitor(self.read(w, |h| {
                let policy = crate::monitor::read_policy(self.monitor_policy.as_deref())?;
                crate::monitor::load(h, &policy, labels.as_deref())
            })),
            Task::Labels => Outcome::Labels(self.read(w, crate::accuracy::datasets)),
            Task::Media => {
                let place = self.media_place();
                Outcome::Media(self.read(w, |h| media::load(h, &place)))
            }
            Task::Inspect { path, then_import } => Outcome::Inspected {
                detail: self.read(w, |h| {
                    import::inspect(h, &path).map(|v| BundleDetail::of(&path, &v))
                }),
                then_import,
            },
            Task::VerifyBundle(path) => Outcome::Done {
                title: "bundle verify",
                result: self
                    .verify_bundle(w, &path, &mut on_bytes)
                    .map_err(ErrorView::from),
            },
            Task::Import { path, allow_stale } => Outcome::Done {
                title: "bundle import",
                result: self
                    .import(w, &path, allow_stale, &mut on_bytes)
                    .map_err(ErrorView::from),
            },
            Task::Export {
                items,
                card,
                out,
                split,
                pass,
            } => Outcome::Done {
                title: "bundle export",
                result: self
                    .export(w, &items, &card, &out, &split, pass, &mut on_bytes)
                    .map_err(ErrorView::from),
            },
            Task::TrainForm => Outcome::TrainChoices(self.read(w, |h| {
                // Newest first: the one just ingested or fitted is the likely choice.
                let refs = |mut l: Vec<airlock::vault::registry::Listed>| {
                    l.sort_by(|a, b| b.created_at.cmp(&a.created_at));
                    l.into_iter()
                        .map(|l| format!("{}/{}@{}", l.site, l.name, l.version))
                        .collect()
                };
                Ok(TrainChoices {
                    datasets: refs(airlock::ops::ingest::list(h)?),
                    features: refs(airlock::ops::features::list(h)?),
                })
            })),
            Task::Train(settings) => Outcome::Done {
                title: "train",
                result: self.train(w, &settings, progress).map_err(ErrorView::from),
            },
            Task::Card(id) => Outcome::Card(self.read(w, |h| {
                let id = train::resolve(h, &id)?;
                crate::report::card(h, &id)
            })),
            Task::ContractDiff(key) => {
                Outcome::Diff(self.read(w, |h| load::contract_diff(h, &key)))
            }
            Task::Sets => Outcome::Sets(self.read(w, featureset::sets)),
            Task::Set(row) => Outcome::Set(self.read(w, |h| featureset::detail(h, &row))),
            Task::Runs => Outcome::Runs(self.read(w, training::runs)),
            Task::Run(id) => Outcome::Run(self.read(w, |h| training::detail(h, &id))),
            Task::Approve {
                model,
                note,
                reviewed,
                pass,
            } => Outcome::Done {
                title: "approve",
                result: self
                    .approve(w, &model, &note, reviewed, pass)
                    .map_err(ErrorView::from),
            },
            Task::Deploy {
                model,
                slot,
                percent,
                pass,
            } => Outcome::Done {
                title: "deploy",
                result: self
                    .deploy(w, &model, &slot, percent, pass)
                    .map_err(ErrorView::from),
            },
            Task::Promote { pass } => Outcome::Done {
                title: "promote",
                result: self
                    .signed(w, pass, |home, op| rollout::promote(home, Some(op)))
                    .map_err(ErrorView::from),
            },
            Task::Rollback {
                slot,
                to,
                reason,
                pass,
            } => Outcome::Done {
                title: "roll back",
                result: self
                    .rollback(w, &slot, to.as_deref(), &reason, pass)
                    .map_err(ErrorView::from),
            },
        }
    }

    fn operator(&self) -> airlock::Result<&str> {
        self.operator.as_deref().ok_or_else(|| {
            airlock::Error::Refused(
                "this needs an operator: start the console with --operator NAME".into(),
            )
        })
    }

    /// `airlock approve MODEL --operator NAME --note NOTE [--reviewed]`: the same calls, in
    /// the same order.
    fn approve(
        &self,
        wait: &mut dyn FnMut(&Path),
        model: &ModelRow,
        note: &str,
        reviewed: bool,
        pass: Passphrase,
    ) -> airlock::Result<Shown> {
        let name = self.operator()?;
        self.write(wait, |home| {
            let id = train::resolve(home, &model.id_hex)?;
            let op = operator::unlock(home, name, Role::Approve, PassSource::Given(pass))?;
            let (aid, a) = airlock::ops::approve::approve_with(home, &id, &op, note, reviewed)?;
            Ok(Shown::new(&format!(
                "model {} approved by {} (approval {})",
                id.short(),
                a.approver,
                aid.short()
            )))
        })
    }

    /// `airlock deploy MODEL --slot SLOT [--percent P] --operator NAME`: the same calls, in the
    /// same order.
    fn deploy(
        &self,
        wait: &mut dyn FnMut(&Path),
        model: &str,
        slot: &str,
        percent: Option<f64>,
        pass: Passphrase,
    ) -> airlock::Result<Shown> {
        let name = self.operator()?;
        self.write(wait, |home| {
            let id = train::resolve(home, model)?;
            let op = operator::unlock(home, name, Role::Deploy, PassSource::Given(pass))?;
            let (did, d) = rollout::deploy_with(home, &id, slot, Some(&op), percent)?;
            Ok(Shown::new(&rollout::line(&did, &d)))
        })
    }

    /// `airlock bundle verify FILE`: the same call on a home opened as the command opens it
    /// (the check rehearses the import's writes in a transaction it rolls back); the result
    /// is the line the command prints.
    fn verify_bundle(
        &self,
        wait: &mut dyn FnMut(&Path),
        path: &Path,
        on_bytes: &mut dyn FnMut(u64, u64),
    ) -> airlock::Result<Shown> {
        self.write(wait, |home| {
            let r = import::verify(home, path, import::ImportOptions::default(), on_bytes)?;
            Ok(Shown::block(&format!(
                "bundle {} from site {} (sequence {}) verified: {} part(s), {} objects, {} bytes; \
                 it would be accepted",
                r.bundle.short(),
                r.origin,
                r.sequence,
                r.parts,
                r.objects,
                r.bytes
            )))
        })
    }

    /// `airlock bundle import FILE [--allow-stale]`: the same call (a refusal is recorded in
    /// the audit log by the library); the result is what the command prints.
    fn import(
        &self,
        wait: &mut dyn FnMut(&Path),
        path: &Path,
        allow_stale: bool,
        on_bytes: &mut dyn FnMut(u64, u64),
    ) -> airlock::Result<Shown> {
        self.write(wait, |home| {
            let r = import::import(home, path, import::ImportOptions { allow_stale }, on_bytes)?;
            let mut text = format!(
                "imported bundle {} (sequence {}) from site {}: {} objects ({} new)",
                r.bundle.short(),
                r.sequence,
                r.origin,
                r.objects,
                r.new_objects
            );
            for m in &r.models {
                text.push_str(&format!("\n  model {m}"));
            }
            Ok(Shown::block(&text))
        })
    }

    /// `airlock bundle export --to CARD --out OUT [--split SIZE] [--operator NAME] ITEMS...`:
    /// the same calls in the same order (the card read, the items and the split parsed, then
    /// the export, which unlocks the operator's key itself so that a refusal to unlock is
    /// recorded as a refused export); the result is what the command prints.
    #[allow(clippy::too_many_arguments)]
    fn export(
        &self,
        wait: &mut dyn FnMut(&Path),
        items: &str,
        card: &Path,
        out: &Path,
        split: &str,
        pass: Option<Passphrase>,
        on_bytes: &mut dyn FnMut(u64, u64),
    ) -> airlock::Result<Shown> {
        self.write(wait, |home| {
            let bytes = std::fs::read(card).map_err(|e| airlock::Error::io(card, e))?;
            let card = airlock::site::SiteCard::parse(&bytes, &card.display().to_string())?;
            let items = items
                .split_whitespace()
                .map(str::parse)
                .collect::<airlock::Result<Vec<export::Item>>>()?;
            let split = Some(split.trim())
                .filter(|s| !s.is_empty())
                .map(bundle_media::parse_split)
                .transpose()?;
            let operator = match (&self.operator, pass) {
                (Some(name), Some(pass)) => export::Authority::Unlock {
                    name: name.clone(),
                    pass: PassSource::Given(pass),
                },
                _ => export::Authority::Nobody,
            };
            let opts = export::ExportOptions {
                with_data: false,
                expires_in_days: EXPIRES_IN_DAYS,
                split,
                operator,
            };
            let r = export::export(home, &card, &items, opts, out, on_bytes)?;
            let mut text = format!(
                "wrote bundle {} for site {}: {} objects, {} bytes, sequence {}, expires {}",
                r.bundle.short(),
                r.recipient,
                r.objects,
                r.bytes,
                r.sequence,
                r.expires_at
            );
            for f in &r.files {
                text.push_str(&format!("\n  {f}"));
            }
            Ok(Shown::block(&text))
        })
    }

    /// `airlock train --dataset D --features F --model M --task T --epochs N --seed S [--name
    /// N]`: the settings checked before the home is opened, then the same call, its epochs
    /// told to `progress` as the command's bar shows them; the result is what the command
    /// prints.
    fn train(
        &self,
        wait: &mut dyn FnMut(&Path),
        s: &TrainSettings,
        progress: &mut dyn FnMut(Progress),
    ) -> airlock::Result<Shown> {
        let config = training::config(s)?;
        config.validate()?;
        let epochs = config.epochs as u64;
        self.write(wait, |home| {
            let req = train::TrainRequest {
                dataset: s.dataset.parse()?,
                features: s.features.parse()?,
                name: s.name.clone(),
                config,
                device: airlock_runtime::DeviceChoice::Auto,
                slice_column: None,
                checkpoints: None,
            };
            progress(Progress {
                done: 0,
                total: epochs,
                unit: Unit::Epochs,
                line: None,
            });
            let (id, run) = train::train(home, &req, &mut |e| {
                progress(Progress {
                    done: e.epoch as u64,
                    total: epochs,
                    unit: Unit::Epochs,
                    line: Some(format!(
                        "epoch {} loss {:.4} val {:.4} {:.0} rows/s",
                        e.epoch, e.train_loss, e.validation_score, e.rows_per_second
                    )),
                })
            })?;
            Ok(Shown::block(&training::trained_says(&id, &run)))
        })
    }

    /// `airlock rollback --slot SLOT [--to MODEL] --reason WHY --operator NAME`: the same
    /// calls, in the same order (the model resolved before the key is unlocked).
    fn rollback(
        &self,
        wait: &mut dyn FnMut(&Path),
        slot: &str,
        to: Option<&str>,
        reason: &str,
        pass: Passphrase,
    ) -> airlock::Result<Shown> {
        let name = self.operator()?;
        self.write(wait, |home| {
            let to = to.map(|m| train::resolve(home, m)).transpose()?;
            let op = operator::unlock(home, name, Role::Deploy, PassSource::Given(pass))?;
            let (id, d) = rollout::rollback(home, slot, to.as_ref(), Some(&op), reason)?;
            Ok(Shown::new(&rollout::line(&id, &d)))
        })
    }

    /// `airlock promote` with `--operator
    /// NAME`: the home opened, the operator's key unlocked with the deploy role, then `act`,
    /// as the commands do; the result is the line they print.
    fn signed(
        &self,
        wait: &mut dyn FnMut(&Path),
        pass: Passphrase,
        act: impl FnOnce(
            &mut Home,
            &operator::Operator,
        )
            -> airlock::Result<(airlock::digest::Digest, airlock::lifecycle::Deployment)>,
    ) -> airlock::Result<Shown> {
        let name = self.operator()?;
        self.write(wait, |home| {
            let op = operator::unlock(home, name, Role::Deploy, PassSource::Given(pass))?;
            let (id, d) = act(home, &op)?;
            Ok(Shown::new(&rollout::line(&id, &d)))
        })
    }
}
