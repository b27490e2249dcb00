//! Deployment slots and rollout: `airlock deploy`, `promote` and `rollback`, and the router
//! that sends each request to the production model or the canary.
//!
//! A slot holds at most one model. Three slot names have roles: `production` answers requests;
//! `canary` answers a stated percentage of them, chosen by a hash of the request's entity key
//! (so one entity always gets the same model); `shadow` scores a stated sample, and its
//! answers are never returned. Any other slot name is a slot of its own, as before. Every
//! change is a signed deployment record ([`Deployment`], with its [`Action`]), audited:
//!
//! - `deploy` puts a model in a slot. `production` and `canary` need a gate report that counts
//!   and the approvals the trust policy names for production (the canary answers requests);
//!   `shadow` needs a gate report that counts, no approvals (it answers nothing). Each needs an
//!   operator holding the deploy role. Canary and shadow need a production model and the same
//!   contract as it (requests follow one contract).
//! - `promote` makes the canary's model the production model (checked as a deploy to
//!   production) and empties the canary slot, in one transaction.
//! - `rollback` puts back the model the slot held before the current one (or a named one that
//!   was deployed to it before), checked as a deploy under today's policy; for canary and
//!   shadow it empties the slot. It names its reason.
//!
//! Here: the slots' names, what a slot holds, and deploy, promote and rollback;
//! `clearance.rs` holds the checks that let a model into a slot and the deployment record
//! each change signs and stores; `router.rs` the [`Router`], which sends each request by
//! its entity key's hash.

use serde_json::json;

use airlock_core::lifecycle::Action;

use crate::digest::Digest;
use crate::error::{Error, FeatureSetMismatch, Result};
use crate::lifecycle::Deployment;
use crate::node::home::Home;
use crate::ops::features;
use crate::ops::score::Scorer;
use crate::store::AuditEntry;
use crate::trust::operator::Operator;
use crate::trust::policy::{self, Role};
use crate::vault::registry::{self, NameRef};

mod clearance;
mod router;

use clearance::{
    Change, Who, check_beside_production, check_percent, clear, clear_as, details, record_of, store,
};
pub use router::{Route, Router, Share, request_text};

/// The slot that answers requests.
pub const PRODUCTION: &str = "production";
/// The slot that answers a share of production's requests.
pub const CANARY: &str = "canary";
/// The slot that scores a sample of production's requests and answers none.
pub const SHADOW: &str = "shadow";

/// The newest record of `slot` and its id, unless the slot is empty (never deployed, or its
/// model retired).
pub fn current(home: &Home, slot: &str) -> Result<Option<(Digest, Deployment)>> {
    let row = crate::store::models::newest_with_action(home.store(), slot)?;
    let Some((id, action)) = row else {
        return Ok(None);
    };
    let id: Digest = id
        .parse()
        .map_err(|e| Error::Integrity(format!("deployments: {e}")))?;
    let d: Deployment = registry::load(home.store(), home.vault(), &id)?;
    if d.slot != slot || d.action.as_str() != action {
        return Err(Error::Integrity(format!(
            "deployment {} does not match its index row",
            id.short()
        )));
    }
    Ok((d.action != Action::Retire).then_some((id, d)))
}

/// The model deployed to `slot`, if any.
pub fn deployed(home: &Home, slot: &str) -> Result<Option<Digest>> {
    Ok(current(home, slot)?.map(|(_, d)| d.model))
}

/// The decision threshold the model in `slot` is served at, when its deployment records one.
pub fn threshold_of(home: &Home, slot: &str) -> Result<Option<f64>> {
    Ok(current(home, slot)?.and_then(|(_, d)| d.threshold))
}

/// The scorer of the model deployed to `slot`. When `expected_features` is given, refuses
/// unless it is exactly the feature set version the model was trained on.
pub fn open_scorer(home: &Home, slot: &str, expected_features: Option<&NameRef>) -> Result<Scorer> {
    let model_id = deployed(home, slot)?.ok_or_else(|| {
        Error::NotFound(format!(
            "no model is deployed to slot {slot:?}; run `airlock deploy MODEL` first"
        ))
    })?;
    // The run record first: a request for another feature set version is refused before the
    // model's weights, feature set and contract are loaded.
    let run = crate::ops::train::load_run(home, &model_id)?;
    if let Some(want) = expected_features {
        let (want_id, _, _) = registry::resolve(
            home.store(),
            crate::store::objects::Table::FeatureSets,
            "feature set",
            home.site(),
            want,
        )?;
        if want_id != run.feature_set {
            let want_doc = features::load(home, &want_id)?;
            return Err(Error::FeatureSetMismatch(Box::new(FeatureSetMismatch {
                model: model_id,
                trained_on: run.feature_set_ref.clone(),
                trained_on_id: run.feature_set,
                asked: want_doc.reference(),
                asked_id: want_id,
            })));
        }
    }
    let mut scorer = Scorer::build(home, model_id, run)?;
    if let Some(t) = threshold_of(home, slot)? {
        scorer.threshold = t;
    }
    Ok(scorer)
}

/// Deploys a gated, approved model to `slot` (see the module's rules). Under a trust policy
/// this needs the policy's number of approvals for the slot by distinct operators holding
/// the approve role, and an operator holding the deploy role (unlocked for it) to sign.
pub fn deploy(
    home: &mut Home,
    model: &Digest,
    slot: &str,
    operator: Option<&Operator>,
) -> Result<(Digest, Deployment)> {
    deploy_with(home, model, slot, operator, None)
}

/// [`deploy`], with the share of requests of a canary or shadow slot.
pub fn deploy_with(
    home: &mut Home,
    model: &Digest,
    slot: &str,
    operator: Option<&Operator>,
    percent: Option<f64>,
) -> Result<(Digest, Deployment)> {
    check_percent(slot, percent)?;
    let cleared = clear(home, model, slot, operator)?;
    check_beside_production(home, model, slot)?;
    let dep = record_of(
        home,
        model,
        slot,
        Change {
            action: Action::Deploy,
            percent,
            reason: None,
        },
        Some(&cleared),
        operator,
    )?;
    let tx = home.begin()?;
    let id = store(&tx, &dep, operator)?;
    tx.commit(
        AuditEntry::new(
            "model.deploy",
            &[id.hex(), model.hex()],
            details(&dep, Some(&cleared), operator),
        )
        .by(operator.map(|o| o.key_id())),
    )?;
    Ok((id, dep))
}

/// Makes the canary's model the production model (checked as a deploy to production) and
/// empties the canary slot, in one transaction. Returns the production record.
pub fn promote(home: &mut Home, operator: Option<&Operator>) -> Result<(Digest, Deployment)> {
    promote_as(home, Who::Operator(operator), None)
}

/// The one promotion, by an operator or by the node: the canary's model cleared as a deploy
/// to production by `who`, a production record (with `reason`) and the canary's retirement
/// stored in one transaction, audited as `model.promote` (with `automatic: true` when the
/// node decided). Nothing is written when the clearance refuses.
fn promote_as(home: &mut Home, who: Who<'_>, reason: Option<&str>) -> Result<(Digest, Deployment)> {
    let (_, canary) = current(home, CANARY)?.ok_or_else(|| {
        Error::NotFound("no model is deployed to the canary slot; nothing to promote".into())
    })?;
    let model = canary.model;
    let operator = match who {
        Who::Operator(operator) => operator,
        Who::Node => None,
    };
    let cleared = clear_as(home, &model, PRODUCTION, who)?;
    let prod = record_of(
        home,
        &model,
        PRODUCTION,
        Change {
            action: Action::Promote,
            percent: None,
            reason: reason.map(Into::into),
        },
        Some(&cleared),
        operator,
    )?;
    let retire = record_of(
        home,
        &model,
        CANARY,
        Change {
            action: Action::Retire,
            percent: None,
            reason: Some("promoted to production".into()),
        },
        None,
        operator,
    )?;
    let tx = home.begin()?;
    let id = store(&tx, &prod, operator)?;
    let rid = store(&tx, &retire, operator)?;
    let mut d = details(&prod, Some(&cleared), operator);
    if matches!(who, Who::Node) {
        d["automatic"] = json!(true);
    }
    tx.commit(
        AuditEntry::new("model.promote", &[id.hex(), rid.hex(), model.hex()], d)
            .by(operator.map(|o| o.key_id())),
    )?;
    Ok((id, prod))
}

/// The models `slot` held, newest first, each once (its current model among them): those
/// `rollback --to` may name, apart from the current one. The console offers them.
pub fn earlier_models(home: &Home, slot: &str) -> Result<Vec<Digest>> {
    let ids = crate::store::models::models_of_slot(home.store(), slot)?;
    let mut seen = std::collections::BTreeSet::new();
    Ok(ids.into_iter().filter(|m| seen.insert(*m)).collect())
}

/// Where a rollback of `slot` goes, as [`rollback`] decides it (before its checks of the
/// model, the operator and the reason): `to`, which the slot must have held before its current
/// model; else, for canary and shadow, nowhere (`None`: the slot is emptied); else the newest
/// model the slot held other than its current one. An error when the slot is empty or there
/// is nothing to go back to, with the message `rollback` would give. The console shows it
/// before asking.
pub fn rollback_target(home: &Home, slot: &str, to: Option<&Digest>) -> Result<Option<Digest>> {
    Ok(plan_rollback(home, slot, to)?.1)
}

/// The slot's current deployment and [`rollback_target`].
fn plan_rollback(
    home: &Home,
    slot: &str,
    to: Option<&Digest>,
) -> Result<(Deployment, Option<Digest>)> {
    let (_, now) = current(home, slot)?
        .ok_or_else(|| Error::NotFound(format!("slot {slot:?} is empty; nothing to roll back")))?;
    let target = match to {
        Some(m) => {
            if !earlier_models(home, slot)?.contains(m) || *m == now.model {
                return Err(Error::Refused(format!(
                    "model {} was never deployed to {slot:?} before the current one; a rollback goes back to a model the slot held (deploy it instead)",
                    m.short()
                )));
            }
            Some(*m)
        }
        None if slot == CANARY || slot == SHADOW => None,
        None => Some(
            earlier_models(home, slot)?
                .into_iter()
                .find(|m| *m != now.model)
                .ok_or_else(|| {
                    Error::Refused(format!(
                        "slot {slot:?} held no model before {}; nothing to roll back to",
                        now.model.short()
                    ))
                })?,
        ),
    };
    Ok((now, target))
}

/// The line `airlock deploy`, `promote` and `rollback` print for the deployment record `id`
/// (the console shows the same).
pub fn line(id: &Digest, d: &Deployment) -> String {
    let what = match d.action {
        Action::Retire => format!("slot {} emptied", d.slot),
        Action::Promote => format!("model {} promoted to {}", d.model.short(), d.slot),
        Action::Rollback => format!("slot {} rolled back to model {}", d.slot, d.model.short()),
        Action::Deploy => format!("model {} deployed to {}", d.model.short(), d.slot),
    };
    format!(
        "{what}{}{}{} (record {})",
        d.percent
            .map(|p| format!(" for {p}% of requests"))
            .unwrap_or_default(),
        d.threshold
            .map(|t| format!(" at decision threshold {t}"))
            .unwrap_or_default(),
        d.previous
            .filter(|p| *p != d.model)
            .map(|p| format!(" (replacing {})", p.short()))
            .unwrap_or_default(),
        id.short()
    )
}

/// Rolls `slot` back: production to the model it held before the current one (or `to`, which
/// it must have held), checked as a deploy under today's policy; canary and shadow to empty
/// (or to `to`). `reason` is recorded. `operator` is who does it (an operator holding the
/// deploy role; `None` only for the node's own automatic rollback under a trust policy
/// that allows it, never from the command line).
pub fn rollback(
    home: &mut Home,
    slot: &str,
    to: Option<&Digest>,
    operator: Option<&Operator>,
    reason: &str,
) -> Result<(Digest, Deployment)> {
    crate::text::check_free_text("--reason", reason)?;
    if reason.trim().is_empty() || reason.len() > 2000 {
        return Err(Error::Rejected(
            "a rollback needs a --reason of 1 to 2000 characters".into(),
        ));
    }
    let (now, target) = plan_rollback(home, slot, to)?;
    let (dep, cleared) = match target {
        Some(m) => {
            let cleared = clear(home, &m, slot, operator)?;
            let dep = record_of(
                home,
                &m,
                slot,
                Change {
                    action: Action::Rollback,
                    percent: now.percent,
                    reason: Some(reason.into()),
                },
                Some(&cleared),
                operator,
            )?;
            (dep, Some(cleared))
        }
        None => {
            if policy::current(home.store(), home.vault())?.is_none() && operator.is_none() {
                return Err(Error::Refused(
                    "a rollback needs an operator certified by this site: pass --operator NAME"
                        .into(),
                ));
            }
            crate::trust::operator::authorize(
                policy::current(home.store(), home.vault())?.as_ref(),
                operator,
                Role::Deploy,
            )?;
            let dep = record_of(
                home,
                &now.model,
                slot,
                Change {
                    action: Action::Retire,
                    percent: None,
                    reason: Some(reason.into()),
                },
                None,
                operator,
            )?;
            (dep, None)
        }
    };
    let tx = home.begin()?;
    let id = store(&tx, &dep, operator)?;
    tx.commit(
        AuditEntry::new(
            "model.rollback",
            &[id.hex(), now.model.hex()],
            details(&dep, cleared.as_ref(), operator),
        )
        .by(operator.map(|o| o.key_id())),
    )?;
    Ok((id, dep))
}

/// Empties a canary or shadow slot by the node's own decision (the monitor's canary rules):
/// a retirement record signed by the site, with no operator, audited as `model.rollback` with
/// `automatic: true`. The node changes production on its own only by [`promote_by_node`], when the
/// monitoring policy asks for it.
pub fn retire_by_node(home: &mut Home, slot: &str, reason: &str) -> Result<(Digest, Deployment)> {
    if slot != CANARY && slot != SHADOW {
        return Err(Error::Refused(format!(
            "the node rolls back only a canary or a shadow on its own, not {slot:?}"
        )));
    }
    let (_, now) = current(home, slot)?
        .ok_or_else(|| Error::NotFound(format!("slot {slot:?} is empty; nothing to roll back")))?;
    let dep = record_of(
        home,
        &now.model,
        slot,
        Change {
            action: Action::Retire,
            percent: None,
            reason: Some(reason.into()),
        },
        None,
        None,
    )?;
    let tx = home.begin()?;
    let id = store(&tx, &dep, None)?;
    let mut d = details(&dep, None, None);
    d["automatic"] = json!(true);
    tx.commit(AuditEntry::new(
        "model.rollback",
        &[id.hex(), now.model.hex()],
        d,
    ))?;
    Ok((id, dep))
}

/// Promotes the canary by the node's own decision (the monitoring policy's `promote_after`):
/// checked as a deploy to production under today's trust policy (gate and approvals; no
/// operator), a production record and the canary's retirement signed by the site with
/// `reason`, in one transaction, audited as `model.promote` with `automatic: true`. Refused
/// (nothing written) when the canary's model lacks what production needs.
pub fn promote_by_node(home: &mut Home, reason: &str) -> Result<(Digest, Deployment)> {
    promote_as(home, Who::Node, Some(reason))
}

#[cfg(test)]
mod tests;
