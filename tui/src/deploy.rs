//! The Deploy screen's data: every slot, the model it holds and its share, who put it there
//! and how, and where a rollback would take it, loaded with the calls `airlock models list`,
//! `deploy`, `promote` and `rollback` make (`airlock::ops::rollout`).

use airlock::digest::Digest;
use airlock::lifecycle::Action;
use airlock::lifecycle::Deployment;
use airlock::node::home::Home;
use airlock::ops::rollout::{self, CANARY, PRODUCTION, SHADOW};

use crate::load;
use crate::shown::Shown;
use crate::view::{ErrorView, Loaded, ModelRow};

/// The Deploy screen.
#[derive(Clone, Debug, Default)]
pub struct SlotsView {
    /// production, canary and shadow (always listed), then every other slot holding a model.
    pub slots: Vec<SlotView>,
    /// The registry (the models a deployment can choose from), newest first.
    pub models: Vec<ModelRow>,
}

impl SlotsView {
    /// The slot named `name`, if listed.
    pub fn slot(&self, name: &str) -> Option<&SlotView> {
        self.slots.iter().find(|s| s.name.as_str() == name)
    }

    /// The registry row of the model with id `hex`.
    pub fn model(&self, hex: &str) -> Option<&ModelRow> {
        self.models.iter().find(|m| m.id_hex == hex)
    }

    /// `model`'s short id and name, for the screen's sentences.
    pub fn named(&self, model: &Shown) -> String {
        let short: String = model.as_str().chars().take(12).collect();
        match self.model(model.as_str()) {
            Some(m) => format!("{short} {}", m.name),
            None => short,
        }
    }
}

/// One slot.
#[derive(Clone, Debug)]
pub struct SlotView {
    /// Its name.
    pub name: Shown,
    /// What it does (production, canary, shadow, or a slot of its own).
    pub role: &'static str,
    /// Its newest deployment record, unless the slot is empty.
    pub current: Option<Held>,
    /// Where `airlock rollback --slot NAME` would take it: a model, `None` for emptying it,
    /// or the library's refusal (empty slot, nothing held before).
    pub rollback: Loaded<Option<Shown>>,
    /// The models it held before its current one (ids, hex), newest first: those
    /// `airlock rollback --to MODEL` may name.
    pub earlier: Vec<Shown>,
}

/// The deployment a slot holds.
#[derive(Clone, Debug)]
pub struct Held {
    /// The model's id (hex).
    pub model: Shown,
    /// The deployment record's id.
    pub record: Shown,
    /// deploy, promote or rollback.
    pub action: Shown,
    /// The share of requests (canary, shadow).
    pub percent: Option<f64>,
    /// The decision threshold served at.
    pub threshold: Option<f64>,
    /// When.
    pub at: Shown,
    /// The operator who signed it, or empty.
    pub by: Shown,
    /// The model the slot held before it.
    pub previous: Option<Shown>,
    /// A rollback's reason.
    pub reason: Shown,
}

/// What a slot name's role is.
pub fn role(slot: &str) -> &'static str {
    match slot {
        PRODUCTION => "answers every request the canary does not take",
        CANARY => "answers its share of production's requests (by a hash of the entity key)",
        SHADOW => "scores its share of production's requests and answers none",
        _ => "a slot of its own (airlock serve --slot NAME)",
    }
}

fn held(id: &Digest, d: &Deployment) -> Held {
    Held {
        model: Shown::new(&d.model.hex()),
        record: Shown::new(&id.hex()),
        action: Shown::new(d.action.as_str()),
        percent: d.percent,
        threshold: d.threshold,
        at: Shown::of(d.created_at),
        by: d
            .deployed_by
            .as_ref()
            .map(|o| Shown::new(&o.name))
            .unwrap_or_default(),
        previous: d.previous.map(|p| Shown::new(&p.hex())),
        reason: Shown::new(d.reason.as_deref().unwrap_or("")),
    }
}

/// The Deploy screen: `models list` (each slot a model holds), `rollout::current` for each
/// slot and `rollout::rollback_target`, as `deploy`, `promote` and `rollback` see them.
pub fn load(home: &Home) -> airlock::Result<SlotsView> {
    let models = load::models(home)?;
    let mut names: Vec<String> = [PRODUCTION, CANARY, SHADOW].map(String::from).into();
    for m in &models {
        for s in m.deployed.iter().flat_map(|d| d.as_str().split(',')) {
            if !names.iter().any(|n| n == s) {
                names.push(s.to_string());
            }
        }
    }
    names[3..].sort();
    let mut slots = Vec::new();
    for name in names {
        let current = rollout::current(home, &name)?;
        let now = current.as_ref().map(|(_, d)| d.model);
        let earlier = rollout::earlier_models(home, &name)?
            .into_iter()
            .filter(|m| Some(*m) != now)
            .map(|m| Shown::new(&m.hex()))
            .collect();
        slots.push(SlotView {
            name: Shown::new(&name),
            role: role(&name),
            current: current.as_ref().map(|(id, d)| held(id, d)),
            rollback: rollout::rollback_target(home, &name, None)
                .map(|t| t.map(|m| Shown::new(&m.hex())))
                .map_err(ErrorView::from),
            earlier,
        });
    }
    Ok(SlotsView { slots, models })
}

/// What a rollback of `slot` will do, in words, from the loaded view.
pub fn rollback_says(view: &SlotsView, slot: &str) -> String {
    let Some(s) = view.slot(slot) else {
        return format!("slot {slot:?} is not listed here; the library will say what it holds.");
    };
    match (&s.current, &s.rollback) {
        (_, Err(e)) => format!(
            "it will be refused: {}",
            e.message.as_str().replace('\n', " ")
        ),
        (Some(h), Ok(Some(to))) => format!(
            "it goes back from model {} to model {}.",
            view.named(&h.model),
            view.named(to)
        ),
        (Some(h), Ok(None)) => format!(
            "model {} leaves it and the slot is emptied.",
            view.named(&h.model)
        ),
        (None, Ok(_)) => "it holds nothing.".into(),
    }
}

/// What a rollback of `slot` to the model `to` (hex; `--to`) will do, in words.
pub fn rollback_to_says(view: &SlotsView, slot: &str, to: &str) -> String {
    let to = view.named(&Shown::new(to));
    match view.slot(slot).and_then(|s| s.current.as_ref()) {
        Some(h) => format!(
            "it goes back from model {} to model {to}, which it held before.",
            view.named(&h.model)
        ),
        None => format!("it holds nothing now; the library will refuse to roll it back to {to}."),
    }
}

/// What a promotion will do, in words, from the loaded view.
pub fn promote_says(view: &SlotsView) -> String {
    let canary = view.slot(CANARY).and_then(|s| s.current.as_ref());
    let production = view.slot(PRODUCTION).and_then(|s| s.current.as_ref());
    match (canary, production) {
        (None, _) => "the canary slot is empty: there is nothing to promote (the library will \
                      refuse)."
            .into(),
        (Some(c), p) => format!(
            "model {}, the canary for {}% of requests, becomes production's model{}; the \
             canary slot is emptied.",
            view.named(&c.model),
            c.percent.unwrap_or(0.0),
            p.map(|p| format!(", replacing model {}", view.named(&p.model)))
                .unwrap_or_default()
        ),
    }
}

/// What deploying to `slot` replaces, in words.
pub fn holder_says(view: &SlotsView, slot: &str) -> String {
    match view.slot(slot).and_then(|s| s.current.as_ref()) {
        Some(h) => format!("model {}", view.named(&h.model)),
        None => "nothing".into(),
    }
}

impl Held {
    /// The action as said in a sentence (`deployed`, `promoted`, `rolled back to`).
    pub fn how(&self) -> &'static str {
        match self.action.as_str() {
            a if a == Action::Promote.as_str() => "promoted",
            a if a == Action::Rollback.as_str() => "rolled back",
            _ => "deployed",
        }
    }
}
