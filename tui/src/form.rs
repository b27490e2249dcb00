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

use crate::secret::SecretInput;
use crate::shown::Shown;
use crate::task::Task;
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
    /// `airlock rollback --slot SLOT --reason WHY`.
    Rollback,
}

impl Intent {
    /// The button that does it.
    pub fn verb(&self) -> &'static str {
        match self {
            Intent::Approve(_) => "Approve",
            Intent::Deploy => "Deploy",
            Intent::Promote => "Promote",
            Intent::Rollback => "Roll back",
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
    /// The model a rollback goes back to (a choice; `--to`).
    pub const TO: &str = "To";
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
        };
        c.focus = c.stops()[0];
        c
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
        stops.extend([Focus::Passphrase, Focus::Cancel, Focus::Confirm]);
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
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::crossterm::event::KeyModifiers;

    fn press(c: &mut Confirm, codes: &[KeyCode]) -> Outcome {
        let mut last = Outcome::Stay;
        for code in codes {
            last = c.on_key(KeyEvent::new(*code, KeyModifiers::NONE));
        }
        last
    }

    fn typed(c: &mut Confirm, s: &str) {
        for ch in s.chars() {
            assert!(matches!(press(c, &[KeyCode::Char(ch)]), Outcome::Stay));
        }
    }

    #[test]
    fn a_rollback_form_goes_slot_reason_passphrase_cancel_and_submits_only_from_its_button() {
        let mut c = Confirm::new(Intent::Rollback, rollback_fields("production"));
        assert_eq!(c.focus, Focus::Field(0));
        press(&mut c, &[KeyCode::Enter]);
        typed(&mut c, "error rate\u{1b}[2J");
        assert_eq!(
            c.value(label::REASON),
            "error rate[2J",
            "no control character"
        );
        press(&mut c, &[KeyCode::Enter]);
        assert_eq!(c.focus, Focus::Passphrase);
        typed(&mut c, "pass");
        press(&mut c, &[KeyCode::Enter]);
        assert_eq!(
            c.focus,
            Focus::Cancel,
            "Enter after the passphrase lands on Cancel"
        );
        assert!(matches!(press(&mut c, &[KeyCode::Right]), Outcome::Stay));
        assert!(matches!(press(&mut c, &[KeyCode::Enter]), Outcome::Submit));
        match c.submit() {
            Ok(Task::Rollback { slot, reason, .. }) => {
                assert_eq!(
                    (slot.as_str(), reason.as_str()),
                    ("production", "error rate[2J")
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_promotion_has_only_the_passphrase_and_tab_wraps_round() {
        let mut c = Confirm::new(Intent::Promote, vec![]);
        assert_eq!(c.focus, Focus::Passphrase);
        press(&mut c, &[KeyCode::Tab, KeyCode::Tab, KeyCode::Tab]);
        assert_eq!(c.focus, Focus::Passphrase);
        press(&mut c, &[KeyCode::BackTab]);
        assert_eq!(c.focus, Focus::Confirm);
        assert!(matches!(press(&mut c, &[KeyCode::Esc]), Outcome::Cancel));
    }

    #[test]
    fn left_and_right_change_a_choice_and_the_chosen_model_is_deployed() {
        let row = |id: &str, name: &str| ModelRow {
            id: Shown::new(id),
            id_hex: id.into(),
            name: Shown::new(name),
            site: Shown::new("lab"),
            task: Shown::new("binary"),
            arch: Shown::new("mlp"),
            dataset: Shown::new("credit@1"),
            features: Shown::new("credit-features@1"),
            score_name: Shown::new("roc_auc"),
            score: 0.8,
            gate: Shown::new("passed"),
            approvals: 1,
            deployed: None,
        };
        let models = [row("aaaa", "first"), row("bbbb", "second")];
        let mut c = Confirm::new(Intent::Deploy, deploy_fields(&models, "canary", ""));
        press(&mut c, &[KeyCode::Right]);
        assert_eq!(c.value(label::MODEL), "bbbb");
        press(&mut c, &[KeyCode::Right, KeyCode::Left, KeyCode::Left]);
        assert_eq!(c.value(label::MODEL), "aaaa");
        press(&mut c, &[KeyCode::Right, KeyCode::Tab, KeyCode::Tab]);
        typed(&mut c, "12.5");
        press(&mut c, &[KeyCode::Tab, KeyCode::Tab, KeyCode::Right]);
        assert!(matches!(press(&mut c, &[KeyCode::Enter]), Outcome::Submit));
        match c.submit() {
            Ok(Task::Deploy {
                model,
                slot,
                percent,
                ..
            }) => assert_eq!(
                (model.as_str(), slot.as_str(), percent),
                ("bbbb", "canary", Some(12.5))
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_choice_of_one_model_is_shown_but_never_focused() {
        let one = ModelRow {
            id: Shown::new("aaaa"),
            id_hex: "aaaa".into(),
            name: Shown::new("only"),
            site: Shown::new("lab"),
            task: Shown::new("binary"),
            arch: Shown::new("mlp"),
            dataset: Shown::new("credit@1"),
            features: Shown::new("credit-features@1"),
            score_name: Shown::new("roc_auc"),
            score: 0.8,
            gate: Shown::new("passed"),
            approvals: 1,
            deployed: None,
        };
        let mut c = Confirm::new(Intent::Deploy, deploy_fields(&[one], "production", ""));
        assert_eq!(c.focus, Focus::Field(1), "the slot");
        press(
            &mut c,
            &[KeyCode::BackTab, KeyCode::BackTab, KeyCode::BackTab],
        );
        assert_eq!(c.focus, Focus::Passphrase, "round the end, past the model");
        press(&mut c, &[KeyCode::Tab, KeyCode::Tab, KeyCode::Tab]);
        assert_eq!(c.focus, Focus::Field(1));
    }

    #[test]
    fn a_share_that_is_not_a_number_is_the_command_lines_usage_error() {
        let mut c = Confirm::new(Intent::Deploy, deploy_fields(&[], "canary", "ten"));
        typed(&mut c, "");
        match c.submit() {
            Err(e) => {
                assert_eq!(e.exit_code, exit::USAGE);
                assert!(e.message.as_str().contains("--percent"), "{e:?}");
            }
            Ok(t) => panic!("{t:?}"),
        }
    }
}
