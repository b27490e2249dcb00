//! Performing the console's tasks: each opens the home for the one call, as an `airlock`
//! command does (read-only for what only reads), so the home's lock is held no longer than
//! the command line would hold it and commands can run beside the console.

use std::path::{Path, PathBuf};

use airlock::node::home::{Home, Waiting};
use airlock::ops::rollout;
use airlock::ops::train;
use airlock::trust::operator;
use airlock::trust::personal::{PassSource, Passphrase};
use airlock::trust::policy::Role;

use crate::deploy;
use crate::featureset;
use crate::load;
use crate::shown::Shown;
use crate::task::{Outcome, Task};
use crate::training;
use crate::view::{ErrorView, Loaded, ModelRow};

/// The home the console works on and who operates it.
#[derive(Clone, Debug)]
pub struct Console {
    home: PathBuf,
    operator: Option<String>,
    system_root: PathBuf,
}

impl Console {
    /// A console on the home at `home`; `operator` signs approvals and deployments.
    pub fn new(home: &Path, operator: Option<&str>) -> Self {
        Console {
            home: home.to_path_buf(),
            operator: operator.map(str::to_string),
            system_root: PathBuf::from("/"),
        }
    }

    /// Reads network interfaces and routes under `root` instead of `/` (tests).
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
        let w = wait;
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
            Task::Monitor => Outcome::Monitor(self.read(w, crate::monitor::load)),
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
            Task::Rollback { slot, reason, pass } => Outcome::Done {
                title: "roll back",
                result: self
                    .signed(w, pass, |home, op| {
                        rollout::rollback(home, &slot, None, Some(op), &reason)
                    })
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

    /// `airlock promote` and `rollback --slot SLOT --reason WHY`, each with `--operator
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
