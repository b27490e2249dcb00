//! How the results of library calls change the console's state ([`App::apply`]), and the
//! news of long work ([`App::hear`]).

use crate::app::{App, DetailState, Dialog, ProfileState};
use crate::form::{self, Confirm, Intent};
use crate::shown::Shown;
use crate::task::{Outcome, Task};
use crate::view::ErrorView;
use crate::work::News;

impl App {
    /// Takes in news of long work: its progress, or its end (the outcome applied).
    pub fn hear(&mut self, news: News) -> Option<Task> {
        match news {
            News::Done(outcome) => {
                self.work = None;
                self.apply(*outcome)
            }
            other => {
                if let Some(w) = &mut self.work {
                    w.hear(&other);
                }
                None
            }
        }
    }

    /// Applies a task's outcome; returns follow-up work (a reload after an action).
    pub fn apply(&mut self, outcome: Outcome) -> Option<Task> {
        match outcome {
            Outcome::Media(r) => match r {
                Ok(v) => {
                    let m = &mut self.media;
                    m.selected = m.selected.min(v.bundles.len().saturating_sub(1));
                    m.view = v;
                }
                Err(e) => self.fail("looking for bundles", e),
            },
            Outcome::Inspected {
                detail,
                then_import,
            } => match detail {
                Ok(d) => {
                    if then_import {
                        let c = Confirm::new(
                            Intent::Import(Box::new(d.clone())),
                            form::import_fields(),
                        )
                        .without_passphrase();
                        self.dialog = Some(Dialog::Confirm(Box::new(c)));
                    }
                    let scroll = match &self.media.open {
                        Some((open, s)) if open.path == d.path => *s,
                        _ => 0,
                    };
                    self.media.open = Some((d, scroll));
                }
                Err(e) => self.fail("bundle inspect", e),
            },
            Outcome::TrainChoices(r) => match r {
                Ok(c) if c.datasets.is_empty() || c.features.is_empty() => {
                    self.dialog = Some(Dialog::Message {
                        title: "train",
                        text: Shown::new(
                            "Training needs a dataset and a feature set fitted on it: ingest one \
                             (airlock data ingest) and fit a feature set on it (airlock features \
                             apply) first.",
                        ),
                    })
                }
                Ok(c) => {
                    let c =
                        Confirm::new(Intent::Train, form::train_fields(&c)).without_passphrase();
                    self.dialog = Some(Dialog::Confirm(Box::new(c)));
                }
                Err(e) => self.fail("loading the training form", e),
            },
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
            Outcome::Monitor(r) => match r {
                Ok(v) => {
                    let m = &mut self.monitor;
                    m.selected = m.selected.min(v.windows.len().saturating_sub(1));
                    if m.selected >= v.windows.len() {
                        m.open = None;
                    }
                    m.view = v;
                }
                Err(e) => self.fail("loading the monitoring windows", e),
            },
            Outcome::Labels(r) => match r {
                Ok(names) => self.open_labels_picker(names),
                Err(e) => self.fail("listing the datasets", e),
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
