//! The confirmation asked before anything is signed: approve, deploy, promote, roll back.
//!
//! A form of a few fields (a note, a slot, a share, a reason, a choice of model), the
//! operator's passphrase, and two buttons, **Cancel** (the default) and the action's. The
//! keyboard moves through them in that order; Enter in a field moves on, and Enter after the
//! passphrase lands on Cancel, so only a deliberate move to the action's button signs
//! anything. Nothing here calls the library: pressing the button turns the form into a
//! [`Task`], or into the usage error the command line would give for the same input.

use airlock::error::exit;
use airlock::text;
use ratatui::crossterm::event::{KeyCode, KeyEvent};

use std::path::{Path, PathBuf};

use crate::media::{BundleDetail, MediaView};
use crate::secret::SecretInput;
use crate::shown::Shown;
use crate::task::{Task, TrainChoices, TrainSettings};
use crate::view::{ErrorView, ModelRow};

/// Longest note or reason typed (the library refuses one over 2000 characters).
const MAX_TEXT: usize = 2000;

/// What a confirmation does.
#[derive(Clone, Debug)]
pub enum Intent {
    /// `airlock approve MODEL`.
    Approve(Box<ModelRow>),
    /// `airlock deploy MODEL --slot SLOT [--percent P]` (the model is the form's choice).
    Deploy,
    /// `airlock promote`.
    Promote,
    /// `airlock rollback --slot SLOT [--to MODEL] --reason WHY`.
    Rollback,
    /// `airlock bundle import FILE [--allow-stale]`, of the bundle whose manifest was just
    /// checked (the confirmation says what it carries).
    Import(Box<BundleDetail>),
    /// `airlock bundle export --to CARD --out OUT [--split SIZE] ITEMS...`.
    Export,
    /// `airlock train --dataset D --features F --model M ...`.
    Train,
}

impl Intent {
    /// The button that does it.
    pub fn verb(&self) -> &'static str {
        match self {
            Intent::Approve(_) => "Approve",
            Intent::Deploy => "Deploy",
            Intent::Promote => "Promote",
            Intent::Rollback => "Roll back",
            Intent::Import(_) => "Import",
            Intent::Export => "Export",
            Intent::Train => "Train",
        }
    }
}

/// Field labels, also how [`Confirm::submit`] finds the values.
pub mod label {
    /// The model (a choice).
    pub const MODEL: &str = "Model";
    /// An approval's note.
    pub const NOTE: &str = "Note";
    /// Whether the approver reviewed the checks that need a named review (a choice).
    pub const REVIEWED: &str = "Reviewed";
    /// The slot.
    pub const SLOT: &str = "Slot";
    /// A canary's or shadow's share, in percent.
    pub const PERCENT: &str = "Percent";
    /// Why a rollback.
    pub const REASON: &str = "Reason";
    /// The model a rollback goes back to (a choice; `--to`); an export's site card (a choice).
    pub const TO: &str = "To";
    /// `--allow-stale` (a choice).
    pub const ALLOW_STALE: &str = "Allow stale";
    /// An export's items.
    pub const WHAT: &str = "What";
    /// A site card's path, typed.
    pub const CARD_FILE: &str = "Card file";
    /// The folder an export is written to.
    pub const FOLDER: &str = "Folder";
    /// The bundle file's name.
    pub const FILE: &str = "File";
    /// `--split`.
    pub const SPLIT: &str = "Split";
    /// A training run's dataset (a choice).
    pub const DATASET: &str = "Dataset";
    /// A training run's feature set (a choice).
    pub const FEATURES: &str = "Features";
    /// A training run's task (a choice).
    pub const TASK: &str = "Task";
    /// `--epochs`.
    pub const EPOCHS: &str = "Epochs";
    /// `--seed`.
    pub const SEED: &str = "Seed";
    /// `--name`.
    pub const NAME: &str = "Name";
}

/// One of a choice field's options.
#[derive(Clone, Debug)]
pub struct Choice {
    /// What the library is given (a model id in hex, `yes`).
    pub value: String,
    /// What is drawn.
    pub shown: Shown,
}

/// A field of the form.
#[derive(Clone, Debug)]
pub enum Field {
    /// Typed text (only characters safe to draw are accepted).
    Text {
        /// Its label.
        label: &'static str,
        /// What was typed.
        value: String,
        /// Most characters.
        max: usize,
        /// Said beside it (`canary and shadow only`).
        hint: &'static str,
    },
    /// One of a few options, chosen with ← →.
    Choice {
        /// Its label.
        label: &'static str,
        /// The options (at least one).
        options: Vec<Choice>,
        /// The one chosen.
        at: usize,
    },
}

impl Field {
    /// A text field holding `value`.
    pub fn text(label: &'static str, value: &str, max: usize, hint: &'static str) -> Field {
        Field::Text {
            label,
            value: value.to_string(),
            max,
            hint,
        }
    }

    /// Its label.
    pub fn label(&self) -> &'static str {
        match self {
            Field::Text { label, .. } | Field::Choice { label, .. } => label,
        }
    }

    /// What the library is given: the text typed, or the chosen option's value.
    pub fn value(&self) -> &str {
        match self {
            Field::Text { value, .. } => value,
            Field::Choice { options, at, .. } => options.get(*at).map_or("", |c| &c.value),
        }
    }
}

/// Where the keyboard is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    /// A field, by its index.
    Field(usize),
    /// The passphrase.
    Passphrase,
    /// The Cancel button, the default.
    Cancel,
    /// The button that signs.
    Confirm,
}

/// A confirmation of an action signed with the operator's key.
#[derive(Debug)]
pub struct Confirm {
    /// What it does.
    pub intent: Intent,
    /// Its fields, in order.
    pub fields: Vec<Field>,
    /// The passphrase: never drawn, wiped when the dialog closes.
    pub pass: SecretInput,
    /// Whether the form asks for the passphrase (not for what nobody signs: an import, a
    /// training run, an export by a console without an operator).
    pub asks_pass: bool,
    /// Where the keyboard is.
    pub focus: Focus,
}

/// What a key did to the form.
#[derive(Debug)]
pub enum Outcome {
    /// The form stays open.
    Stay,
    /// Cancelled: the form closes, nothing is signed.
    Cancel,
    /// The action's button was pressed.
    Submit,
}

impl Confirm {
    /// A form for `intent` with `fields`, the keyboard in the first field (or the passphrase).
    pub fn new(intent: Intent, fields: Vec<Field>) -> Confirm {
        let mut c = Confirm {
            focus: Focus::Passphrase,
            intent,
            fields,
            pass: SecretInput::default(),
            asks_pass: true,
        };
        c.focus = c.stops()[0];
        c
    }

    /// The same form without the passphrase field.
    pub fn without_passphrase(mut self) -> Confirm {
        self.asks_pass = false;
        self.focus = self.stops()[0];
        self
    }

    /// The value of the field labelled `label` (empty when there is none).
    pub fn value(&self, label: &str) -> &str {
        self.fields
            .iter()
            .find(|f| f.label() == label)
            .map_or("", Field::value)
    }

    /// Where the keyboard can be, in order: the fields that can change (a choice of one
    /// option is only shown), the passphrase, Cancel, the action's button.
    fn stops(&self) -> Vec<Focus> {
        let mut stops: Vec<Focus> = (0..self.fields.len())
            .filter(
                |&i| !matches!(&self.fields[i], Field::Choice { options, .. } if options.len() < 2),
            )
            .map(Focus::Field)
            .collect();
        if self.asks_pass {
            stops.push(Focus::Passphrase);
        }
        stops.extend([Focus::Cancel, Focus::Confirm]);
        stops
    }

    fn next(&self) -> Focus {
        let stops = self.stops();
        let at = stops.iter().position(|f| *f == self.focus).unwrap_or(0);
        stops[(at + 1) % stops.len()]
    }

    fn previous(&self) -> Focus {
        let stops = self.stops();
        let at = stops.iter().position(|f| *f == self.focus).unwrap_or(0);
        stops[(at + stops.len() - 1) % stops.len()]
    }

    /// Handles a key.
    pub fn on_key(&mut self, key: KeyEvent) -> Outcome {
        let focus = self.focus;
        let field = match focus {
            Focus::Field(i) => self.fields.get_mut(i),
            _ => None,
        };
        match (key.code, field) {
            (KeyCode::Esc, _) => return Outcome::Cancel,
            (KeyCode::Tab | KeyCode::Down, _) => self.focus = self.next(),
            (KeyCode::BackTab | KeyCode::Up, _) => self.focus = self.previous(),
            (KeyCode::Left | KeyCode::Right, _)
                if matches!(focus, Focus::Cancel | Focus::Confirm) =>
            {
                self.focus = if focus == Focus::Cancel {
                    Focus::Confirm
                } else {
                    Focus::Cancel
                }
            }
            (
                code @ (KeyCode::Left | KeyCode::Right | KeyCode::Char(' ')),
                Some(Field::Choice { options, at, .. }),
            ) => {
                let n = options.len().max(1);
                *at = if code == KeyCode::Left {
                    (*at + n - 1) % n
                } else {
                    (*at + 1) % n
                };
            }
            (KeyCode::Enter, _) => match focus {
                // Enter after the passphrase lands on Cancel: only a deliberate move to the
                // action's button signs anything.
                Focus::Field(_) | Focus::Passphrase => self.focus = self.next(),
                Focus::Cancel => return Outcome::Cancel,
                Focus::Confirm => return Outcome::Submit,
            },
            (KeyCode::Backspace, Some(Field::Text { value, .. })) => {
                value.pop();
            }
            (KeyCode::Backspace, None) if focus == Focus::Passphrase => self.pass.pop(),
            (KeyCode::Char(c), Some(Field::Text { value, max, .. }))
                if !text::is_unsafe(c) && value.chars().count() < *max =>
            {
                value.push(c)
            }
            (KeyCode::Char(c), None) if focus == Focus::Passphrase && !text::is_unsafe(c) => {
                self.pass.push(c)
            }
            _ => {}
        }
        Outcome::Stay
    }

    /// The task the form asks for, the passphrase moved into it; or the usage error the
    /// command line gives for the same input (a share that is not a number).
    pub fn submit(mut self) -> Result<Task, ErrorView> {
        let slot = self.value(label::SLOT).trim().to_string();
        let percent = match self.value(label::PERCENT).trim() {
            "" => None,
            p => Some(p.parse::<f64>().map_err(|_| {
                ErrorView::new(
                    &format!(
                        "invalid value {:?} for --percent: a share of requests in percent, such as 10",
                        text::escape(p)
                    ),
                    exit::USAGE,
                )
            })?),
        };
        let reason = self.value(label::REASON).to_string();
        let to = Some(self.value(label::TO).to_string()).filter(|t| !t.is_empty());
        let note = self.value(label::NOTE).to_string();
        let reviewed = self.value(label::REVIEWED) == "yes";
        let model = self.value(label::MODEL).to_string();
        let allow_stale = self.value(label::ALLOW_STALE) == "yes";
        if matches!(self.intent, Intent::Export | Intent::Train) {
            return self.submit_work();
        }
        let pass = self.pass.take();
        Ok(match self.intent {
            Intent::Approve(model) => Task::Approve {
                model: *model,
                note,
                reviewed,
                pass,
            },
            Intent::Deploy => Task::Deploy {
                model,
                slot,
                percent,
                pass,
            },
            Intent::Promote => Task::Promote { pass },
            Intent::Rollback => Task::Rollback {
                slot,
                to,
                reason,
                pass,
            },
            Intent::Import(d) => Task::Import {
                path: d.path.clone(),
                allow_stale,
            },
            // Taken by submit_work above.
            Intent::Export | Intent::Train => {
                return Err(ErrorView::new("this form has no task", exit::FAILURE));
            }
        })
    }

    /// An export's or a training run's task, or the usage error the command line gives for
    /// the same input (a number that is not one, nothing to export, no card).
    fn submit_work(mut self) -> Result<Task, ErrorView> {
        let usage = |m: String| ErrorView::new(&m, exit::USAGE);
        match self.intent {
            Intent::Export => {
                let items = self.value(label::WHAT).trim().to_string();
                if items.is_empty() {
                    return Err(usage(
                        "nothing to export: name at least one item (model:ID, dataset:NAME[@VERSION], \
                         policy:FILE, monitor:MODEL)"
                            .into(),
                    ));
                }
                let card = match self.value(label::TO) {
                    "" => self.value(label::CARD_FILE).trim().to_string(),
                    chosen => chosen.to_string(),
                };
                if card.is_empty() {
                    return Err(usage(
                        "--to: choose the recipient's site card, or type its path".into(),
                    ));
                }
                let (folder, file) = (
                    self.value(label::FOLDER).trim(),
                    self.value(label::FILE).trim(),
                );
                if folder.is_empty() || file.is_empty() {
                    return Err(usage(
                        "--out: give the folder and the bundle file's name".into(),
                    ));
                }
                let out = Path::new(folder).join(file);
                let split = self.value(label::SPLIT).trim().to_string();
                let pass = self.asks_pass.then(|| self.pass.take());
                Ok(Task::Export {
                    items,
                    card: PathBuf::from(card),
                    out,
                    split,
                    pass,
                })
            }
            _ => {
                let number = |label: &str, flag: &str| -> Result<u64, ErrorView> {
                    let v = self.value(label).trim();
                    v.parse::<u64>().map_err(|_| {
                        usage(format!(
                            "invalid value {:?} for --{flag}: a whole number",
                            text::escape(v)
                        ))
                    })
                };
                let epochs = number(label::EPOCHS, "epochs")?;
                let seed = number(label::SEED, "seed")?;
                Ok(Task::Train(TrainSettings {
                    dataset: self.value(label::DATASET).to_string(),
                    features: self.value(label::FEATURES).to_string(),
                    model: self.value(label::MODEL).to_string(),
                    task: self.value(label::TASK).to_string(),
                    epochs: usize::try_from(epochs).unwrap_or(usize::MAX),
                    seed,
                    name: Some(self.value(label::NAME).trim().to_string())
                        .filter(|n| !n.is_empty()),
                }))
            }
        }
    }
}

/// The fields of an approval: the note and whether the checks needing review were reviewed.
pub fn approve_fields() -> Vec<Field> {
    vec![
        Field::text(label::NOTE, "", MAX_TEXT, ""),
        Field::Choice {
            label: label::REVIEWED,
            options: ["no", "yes"]
                .map(|v| Choice {
                    value: v.into(),
                    shown: Shown::new(match v {
                        "yes" => "yes: I reviewed the checks that need review (--reviewed)",
                        _ => "no",
                    }),
                })
                .into(),
            at: 0,
        },
    ]
}

/// The fields of a deployment: one of `models` (the first chosen), the slot and the share.
pub fn deploy_fields(models: &[ModelRow], slot: &str, percent: &str) -> Vec<Field> {
    vec![
        Field::Choice {
            label: label::MODEL,
            options: models
                .iter()
                .map(|m| Choice {
                    value: m.id_hex.clone(),
                    shown: Shown::new(&format!(
                        "{} {} (gate {})",
                        m.id.as_str().chars().take(8).collect::<String>(),
                        m.name,
                        m.gate
                    )),
                })
                .collect(),
            at: 0,
        },
        Field::text(label::SLOT, slot, 64, ""),
        Field::text(label::PERCENT, percent, 12, "canary/shadow only"),
    ]
}

/// The fields of a rollback: the slot and the reason.
pub fn rollback_fields(slot: &str) -> Vec<Field> {
    vec![
        Field::text(label::SLOT, slot, 64, ""),
        Field::text(label::REASON, "", MAX_TEXT, ""),
    ]
}

/// The fields of a rollback to a chosen model (`rollback --slot SLOT --to MODEL`): the model
/// among `earlier` (the slot's earlier models, newest first, the first chosen), the slot
/// (fixed, shown) and the reason. `named` says a model's id in words.
pub fn rollback_to_fields(
    slot: &str,
    earlier: &[Shown],
    named: impl Fn(&Shown) -> String,
) -> Vec<Field> {
    vec![
        Field::Choice {
            label: label::TO,
            options: earlier
                .iter()
                .map(|m| Choice {
                    value: m.as_str().to_string(),
                    shown: Shown::new(&named(m)),
                })
                .collect(),
            at: 0,
        },
        Field::Choice {
            label: label::SLOT,
            options: vec![Choice {
                value: slot.to_string(),
                shown: Shown::new(slot),
            }],
            at: 0,
        },
        Field::text(label::REASON, "", MAX_TEXT, ""),
    ]
}

fn choice(label: &'static str, options: impl IntoIterator<Item = (String, String)>) -> Field {
    Field::Choice {
        label,
        options: options
            .into_iter()
            .map(|(value, shown)| Choice {
                value,
                shown: Shown::new(&shown),
            })
            .collect(),
        at: 0,
    }
}

/// The field of an import: `--allow-stale`, no by default.
pub fn import_fields() -> Vec<Field> {
    vec![choice(
        label::ALLOW_STALE,
        [
            ("no".to_string(), "no".to_string()),
            (
                "yes".to_string(),
                "yes: it sat on the shelf (--allow-stale, recorded)".to_string(),
            ),
        ],
    )]
}

/// The export wizard's fields: what (the newest model held here to begin with), to which
/// site card (those found on the media, or a path typed), the folder and file written (the
/// first folder searched, `SITE-export.airlock`), and the split size.
pub fn export_fields(view: &MediaView) -> Vec<Field> {
    let mut cards: Vec<(String, String)> = view
        .cards
        .iter()
        .map(|c| {
            (
                c.path.display().to_string(),
                format!("site {} ({})", c.site, c.name),
            )
        })
        .collect();
    cards.push((String::new(), "the card file typed below".into()));
    let folder = view
        .folders
        .first()
        .map(|f| f.display().to_string())
        .unwrap_or_default();
    vec![
        Field::text(
            label::WHAT,
            view.newest_model.as_deref().unwrap_or(""),
            MAX_TEXT,
            "",
        ),
        choice(label::TO, cards),
        Field::text(label::CARD_FILE, "", 4096, ""),
        Field::text(label::FOLDER, &folder, 4096, ""),
        Field::text(
            label::FILE,
            &format!("{}-export.airlock", view.site),
            255,
            "",
        ),
        Field::text(label::SPLIT, "", 16, "empty: one file"),
    ]
}

/// The training form's fields: dataset and feature set (the newest first), model, task,
/// epochs and seed (`airlock train`'s defaults), name (empty: `DATASET-MODEL`).
pub fn train_fields(choices: &TrainChoices) -> Vec<Field> {
    let each = |v: &[String]| -> Vec<(String, String)> {
        v.iter().map(|r| (r.clone(), r.clone())).collect()
    };
    let named = |v: &[&str]| -> Vec<(String, String)> {
        v.iter().map(|r| (r.to_string(), r.to_string())).collect()
    };
    let defaults = airlock_runtime::TrainConfig::default();
    vec![
        choice(label::DATASET, each(&choices.datasets)),
        choice(label::FEATURES, each(&choices.features)),
        choice(label::MODEL, named(&crate::training::ARCHS)),
        choice(label::TASK, named(&crate::training::TASKS)),
        Field::text(label::EPOCHS, &defaults.epochs.to_string(), 6, ""),
        Field::text(label::SEED, &defaults.seed.to_string(), 20, ""),
        Field::text(label::NAME, "", 64, "empty: default"),
    ]
}

#[cfg(test)]
#[path = "form_tests.rs"]
mod tests;
