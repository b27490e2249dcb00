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

use serde_json::json;

use airlock_core::lifecycle::Action;
use airlock_core::sketch::hash64;
use airlock_runtime::Task;

use crate::digest::Digest;
use crate::error::{Error, FeatureSetMismatch, Result};
use crate::lifecycle::DEPLOYMENT_TYPE;
use crate::lifecycle::Deployment;
use crate::lifecycle::OperatorSignature;
use crate::lifecycle::deploy_statement;
use crate::node::home::Home;
use crate::ops::approve::approvals;
use crate::ops::approve::counted_approvals;
use crate::ops::contract;
use crate::ops::features;
use crate::ops::gate::{counted_gate, load_gate};
use crate::ops::score::Scorer;
use crate::ops::train;
use crate::store::{AuditEntry, AuditedTx};
use crate::trust::keys::Domain;
use crate::trust::operator::Operator;
use crate::trust::policy::{self, Role};
use crate::vault::registry::{self, Kind, NameRef};

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
    let scorer = Scorer::for_model(home, &model_id)?;
    let run = &scorer.run;
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
    let mut scorer = scorer;
    if let Some(t) = threshold_of(home, slot)? {
        scorer.threshold = t;
    }
    Ok(scorer)
}

/// What lets a model into a slot: the gate report and approvals relied on.
struct Cleared {
    gate: Digest,
    approvals: Vec<Digest>,
    needed: u32,
    threshold: Option<f64>,
    policy_version: Option<u64>,
}

/// Checks that `model` may go into `slot` now: gated (and approved, for slots that answer
/// requests) under today's trust policy, by an operator who may deploy; everything serving
/// needs present and valid.
fn clear(home: &Home, model: &Digest, slot: &str, operator: Option<&Operator>) -> Result<Cleared> {
    clear_as(home, model, slot, Who::Operator(operator))
}

/// Who puts a model in a slot.
#[derive(Clone, Copy)]
enum Who<'a> {
    /// An operator (required, and authorized for the deploy role).
    Operator(Option<&'a Operator>),
    /// The node itself, by its monitoring policy (the canary's automatic promotion): every
    /// other rule of the slot still applies.
    Node,
}

/// [`clear`] for `who`.
fn clear_as(home: &Home, model: &Digest, slot: &str, who: Who<'_>) -> Result<Cleared> {
    registry::validate_name(slot)?;
    let run = train::load_run(home, model)?;
    let in_force = policy::current(home.store(), home.vault())?;
    // A canary answers requests: production's rules apply to it, and to the shadow's gate.
    let rules = if slot == CANARY || slot == SHADOW {
        PRODUCTION
    } else {
        slot
    };
    let counted = match counted_gate(home, model, &run, Some(rules), in_force.as_ref())? {
        Ok(gate) => gate,
        Err(why) => {
            return Err(Error::Refused(format!(
                "model {} is not gated for slot {slot:?}: {why}; run `airlock gate {}` and have it approved first",
                model.short(),
                model.short()
            )));
        }
    };
    let (approvals_counted, needed) = if slot == SHADOW {
        (Vec::new(), 0)
    } else {
        let (counted_ids, needed, not_counted) =
            counted_approvals(home, model, rules, in_force.as_ref())?;
        if counted_ids.is_empty() && not_counted.is_empty() {
            return Err(Error::Refused(format!(
                "model {} is not approved; an operator must run `airlock approve {} --operator NAME` first",
                model.short(),
                model.short()
            )));
        }
        if counted_ids.len() < needed as usize {
            let why = if not_counted.is_empty() {
                String::new()
            } else {
                format!("; not counted: {}", not_counted.join("; "))
            };
            return Err(Error::Refused(format!(
                "model {} has {} approval(s) that count, and slot {slot:?} needs {needed} by distinct operators holding the approve role{why}",
                model.short(),
                counted_ids.len()
            )));
        }
        if counted.needs_review {
            let reviewed = approvals(home, model)?
                .into_iter()
                .any(|(id, a, _)| counted_ids.contains(&id) && a.reviewed && a.gate == counted.id);
            if !reviewed {
                return Err(Error::Refused(format!(
                    "gate report {} of model {} needs a named review, and no approval that counts cites it as reviewed; an operator must run `airlock approve {} --reviewed --note WHY`",
                    counted.id.short(),
                    model.short(),
                    model.short()
                )));
            }
        }
        (counted_ids, needed)
    };
    if let Who::Operator(operator) = who {
        if in_force.is_none() && operator.is_none() {
            return Err(Error::Refused(
                "deploying needs an operator certified by this site, in setup mode too (no trust policy): pass --operator NAME".into(),
            ));
        }
        crate::trust::operator::authorize(in_force.as_ref(), operator, Role::Deploy)?;
    }
    // Everything serving needs must be present and valid now, not at the first request.
    train::load_model(home, &run)?;
    let fs = features::load(home, &run.feature_set)?;
    let contract = contract::load_contract(home, &fs.contract)?;
    fs.bind(&contract)?;
    // A binary model is served at the decision threshold its gate judged.
    let threshold = match load_gate(home.store(), home.vault(), &counted.id)?.evaluation {
        Some(e) if run.spec.task == Task::Binary => {
            let r: crate::ops::evaluate::EvaluationRecord =
                registry::load(home.store(), home.vault(), &e)?;
            r.threshold
        }
        _ => None,
    };
    Ok(Cleared {
        gate: counted.id,
        approvals: approvals_counted,
        needed,
        threshold,
        policy_version: in_force.as_ref().map(|p| p.version()),
    })
}

/// What a deployment record does to its slot.
struct Change {
    action: Action,
    percent: Option<f64>,
    reason: Option<String>,
}

/// A deployment record of `change` for `model` in `slot`, signed by `operator` when given.
fn record_of(
    home: &Home,
    model: &Digest,
    slot: &str,
    change: Change,
    cleared: Option<&Cleared>,
    operator: Option<&Operator>,
) -> Result<Deployment> {
    let Change {
        action,
        percent,
        reason,
    } = change;
    let run = train::load_run(home, model)?;
    let site = home.site().clone();
    let created_at = home.now();
    let deployed_by = operator.map(|o| OperatorSignature {
        name: o.name.clone(),
        key_id: o.key_id(),
        signature: o.sign(
            Domain::OperatorAction,
            &deploy_statement(&site, slot, model, created_at),
        ),
    });
    Ok(Deployment {
        ty: DEPLOYMENT_TYPE.into(),
        site,
        slot: slot.into(),
        model: *model,
        feature_set: run.feature_set,
        gate: match cleared {
            Some(c) => c.gate,
            // A retirement relies on the gate the model went in with.
            None => current(home, slot)?
                .map(|(_, d)| d.gate)
                .ok_or_else(|| Error::NotFound(format!("slot {slot:?} is empty")))?,
        },
        approvals: cleared.map(|c| c.approvals.clone()).unwrap_or_default(),
        previous: deployed(home, slot)?,
        action,
        percent,
        reason,
        threshold: cleared.and_then(|c| c.threshold),
        created_at,
        deployed_by,
    })
}

/// Stores a deployment record, its provenance and its index row.
fn store(tx: &AuditedTx<'_>, dep: &Deployment, operator: Option<&Operator>) -> Result<Digest> {
    let id = registry::put_record(tx, dep)?;
    crate::ops::provenance::record(
        tx,
        match dep.action {
            Action::Deploy => "airlock deploy",
            Action::Promote => "airlock promote",
            Action::Rollback | Action::Retire => "airlock rollback",
        },
        operator.map(|o| o.key_id()).as_ref(),
        &[(Kind::Deployment, id)],
        &dep.provenance_inputs(),
    )?;
    crate::store::models::insert_deployment(
        tx,
        &crate::store::models::DeploymentRow {
            id: &id,
            slot: &dep.slot,
            model: &dep.model,
            created_at: &dep.created_at.to_string(),
            action: dep.action.as_str(),
            percent: dep.percent,
        },
    )?;
    Ok(id)
}

/// The audit details of a deployment record.
fn details(
    dep: &Deployment,
    cleared: Option<&Cleared>,
    operator: Option<&Operator>,
) -> serde_json::Value {
    json!({ "slot": dep.slot, "action": dep.action.as_str(), "model": dep.model.hex(),
            "previous": dep.previous.map(|p| p.hex()), "percent": dep.percent,
            "reason": dep.reason, "threshold": dep.threshold,
            "operator": operator.map(|o| o.name.clone()),
            "approvals_needed": cleared.map(|c| c.needed),
            "policy_version": cleared.and_then(|c| c.policy_version) })
}

/// Checks the share of a canary or shadow slot, and that other slots take none.
fn check_percent(slot: &str, percent: Option<f64>) -> Result<()> {
    match (slot, percent) {
        (CANARY | SHADOW, Some(p)) if p > 0.0 && p <= 100.0 => Ok(()),
        (CANARY | SHADOW, Some(p)) => Err(Error::Rejected(format!(
            "--percent {p}: a share of requests, above 0 and at most 100"
        ))),
        (CANARY | SHADOW, None) => Err(Error::Rejected(format!(
            "slot {slot:?} takes a share of production's requests: give --percent P"
        ))),
        (_, Some(_)) => Err(Error::Rejected(format!(
            "--percent is for the canary and shadow slots, not {slot:?}"
        ))),
        (_, None) => Ok(()),
    }
}

/// Canary and shadow models need a production model that reads the same contract.
fn check_beside_production(home: &Home, model: &Digest, slot: &str) -> Result<()> {
    if slot != CANARY && slot != SHADOW {
        return Ok(());
    }
    let Some(prod) = deployed(home, PRODUCTION)? else {
        return Err(Error::Refused(format!(
            "slot {slot:?} takes a share of production's requests, and no model is deployed to production; deploy one there first"
        )));
    };
    let contract_of = |m: &Digest| -> Result<Digest> {
        let run = train::load_run(home, m)?;
        Ok(features::load(home, &run.feature_set)?.contract)
    };
    if contract_of(model)? != contract_of(&prod)? {
        return Err(Error::Refused(format!(
            "model {} reads another contract than the production model {}; a {slot} sees production's requests, so it must read the same contract",
            model.short(),
            prod.short()
        )));
    }
    Ok(())
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
    let (_, canary) = current(home, CANARY)?.ok_or_else(|| {
        Error::NotFound("no model is deployed to the canary slot; nothing to promote".into())
    })?;
    let model = canary.model;
    let cleared = clear(home, &model, PRODUCTION, operator)?;
    let prod = record_of(
        home,
        &model,
        PRODUCTION,
        Change {
            action: Action::Promote,
            percent: None,
            reason: None,
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
    tx.commit(
        AuditEntry::new(
            "model.promote",
            &[id.hex(), rid.hex(), model.hex()],
            details(&prod, Some(&cleared), operator),
        )
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
    let (_, canary) = current(home, CANARY)?.ok_or_else(|| {
        Error::NotFound("no model is deployed to the canary slot; nothing to promote".into())
    })?;
    let model = canary.model;
    let cleared = clear_as(home, &model, PRODUCTION, Who::Node)?;
    let prod = record_of(
        home,
        &model,
        PRODUCTION,
        Change {
            action: Action::Promote,
            percent: None,
            reason: Some(reason.into()),
        },
        Some(&cleared),
        None,
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
        None,
    )?;
    let tx = home.begin()?;
    let id = store(&tx, &prod, None)?;
    let rid = store(&tx, &retire, None)?;
    let mut d = details(&prod, Some(&cleared), None);
    d["automatic"] = json!(true);
    tx.commit(AuditEntry::new(
        "model.promote",
        &[id.hex(), rid.hex(), model.hex()],
        d,
    ))?;
    Ok((id, prod))
}

/// Where a request goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The production model answers.
    Production,
    /// The canary answers.
    Canary,
}

/// A model in a slot that takes a share of production's requests.
pub struct Share {
    /// Its scorer.
    pub scorer: Scorer,
    /// Its share, in percent.
    pub percent: f64,
}

/// The models that answer requests to `production`, and the shadow: what `predict` and
/// `serve` score with.
pub struct Router {
    /// The production model.
    pub production: Scorer,
    /// The canary, if one is deployed (and reads the feature set a request names, if any).
    pub canary: Option<Share>,
    /// The shadow, likewise.
    pub shadow: Option<Share>,
    /// The columns of a request's entity key: the contract's entity column, else its key.
    key: Vec<String>,
    /// The slot it routes (`production`, or another slot served alone).
    pub slot: String,
}

/// A typed cell as the text of a JSON request's value of it (numbers as numbers, text as a
/// JSON string, missing as `null`): how [`Router::entity_key`] sees an entity, so a CSV row,
/// a label and a JSON request of the same entity have the same key. (A CSV row's integer key
/// used to become a JSON string, so it was routed, and would have been joined, unlike the
/// same entity's JSON request.)
pub fn request_text(v: &crate::contract::Value) -> String {
    use crate::contract::Value;
    match v {
        Value::Null => "null".into(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => json!(f).to_string(),
        Value::Text(t) => serde_json::Value::String(t.clone()).to_string(),
    }
}

/// Buckets of a share: a request is in a share of P percent when its bucket is under P * 100.
const BUCKETS: u64 = 10_000;

fn bucket(salt: &[u8], key: &str) -> u64 {
    let mut b = salt.to_vec();
    b.extend_from_slice(key.as_bytes());
    hash64(&b) % BUCKETS
}

fn in_share(salt: &[u8], key: &str, percent: f64) -> bool {
    (bucket(salt, key) as f64) < percent * (BUCKETS as f64 / 100.0)
}

impl Router {
    /// The router of `slot`: for `production`, with the canary and shadow when deployed;
    /// for any other slot, its model alone. When `expected_features` is given the slot's
    /// model must use exactly that feature set version (refused otherwise), and a canary or
    /// shadow that does not is left out.
    pub fn open(home: &Home, slot: &str, expected_features: Option<&NameRef>) -> Result<Router> {
        let production = open_scorer(home, slot, expected_features)?;
        let share = |s: &str| -> Result<Option<Share>> {
            if slot != PRODUCTION {
                return Ok(None);
            }
            let Some((_, d)) = current(home, s)? else {
                return Ok(None);
            };
            let scorer = match open_scorer(home, s, expected_features) {
                Ok(sc) => sc,
                Err(Error::FeatureSetMismatch(_)) => return Ok(None),
                Err(e) => return Err(e),
            };
            Ok(Some(Share {
                scorer,
                percent: d.percent.unwrap_or(0.0),
            }))
        };
        let canary = share(CANARY)?;
        let shadow = share(SHADOW)?;
        let c = production.contract();
        let key = match &c.entity {
            Some(e) => vec![e.clone()],
            None => c.key.clone().unwrap_or_default(),
        };
        Ok(Router {
            production,
            canary,
            shadow,
            key,
            slot: slot.to_owned(),
        })
    }

    /// A request's entity key: the value of the contract's entity column (else of its key
    /// columns); without either, the whole request (so one request always goes the same way).
    pub fn entity_key(&self, obj: &serde_json::Map<String, serde_json::Value>) -> String {
        if self.key.is_empty() {
            return serde_json::Value::Object(obj.clone()).to_string();
        }
        self.key
            .iter()
            .map(|k| obj.get(k).map_or_else(String::new, |v| v.to_string()))
            .collect::<Vec<_>>()
            .join("\u{1f}")
    }

    /// The entity key of a CSV request, its cells in contract order: as [`Router::entity_key`].
    pub fn entity_key_of_cells(&self, cells: &csv::StringRecord) -> String {
        let contract = self.production.contract();
        if self.key.is_empty() {
            return cells.iter().collect::<Vec<_>>().join("\u{1f}");
        }
        self.key
            .iter()
            .map(|k| {
                contract
                    .index_of(k)
                    .and_then(|i| cells.get(i))
                    .map_or_else(String::new, |c| {
                        // The same text as a JSON request's value of the column.
                        match contract.parse_cell(contract.index_of(k).unwrap_or(0), c) {
                            Ok(v) => request_text(&v),
                            Err(_) => c.to_string(),
                        }
                    })
            })
            .collect::<Vec<_>>()
            .join("\u{1f}")
    }

    /// Whether requests have an entity key of their own (the contract names an entity or key
    /// column); without one, [`Router::entity_key`] is the whole request.
    pub fn keyed(&self) -> bool {
        !self.key.is_empty()
    }

    /// Where the request with entity key `key` goes.
    pub fn route(&self, key: &str) -> Route {
        match &self.canary {
            Some(c) if in_share(b"airlock.canary\0", key, c.percent) => Route::Canary,
            _ => Route::Production,
        }
    }

    /// Whether the shadow scores the request with entity key `key`.
    pub fn shadowed(&self, key: &str) -> bool {
        self.shadow
            .as_ref()
            .is_some_and(|s| in_share(b"airlock.shadow\0", key, s.percent))
    }

    /// The scorer of a route.
    pub fn scorer(&self, route: Route) -> &Scorer {
        match (route, &self.canary) {
            (Route::Canary, Some(c)) => &c.scorer,
            _ => &self.production,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_takes_about_its_percent_of_keys_and_always_the_same_ones() {
        let keys: Vec<String> = (0..20_000).map(|i| format!("applicant-{i}")).collect();
        let taken: Vec<bool> = keys
            .iter()
            .map(|k| in_share(b"airlock.canary\0", k, 10.0))
            .collect();
        let n = taken.iter().filter(|t| **t).count();
        assert!((1_800..=2_200).contains(&n), "{n} of 20000 at 10%");
        let again: Vec<bool> = keys
            .iter()
            .map(|k| in_share(b"airlock.canary\0", k, 10.0))
            .collect();
        assert_eq!(taken, again, "the same entities each time");
        // A larger share keeps every entity of the smaller one (raising 10% to 20% moves
        // no entity back to production).
        assert!(
            keys.iter()
                .zip(&taken)
                .filter(|(_, t)| **t)
                .all(|(k, _)| in_share(b"airlock.canary\0", k, 20.0))
        );
        assert!(keys.iter().all(|k| in_share(b"airlock.canary\0", k, 100.0)));
        // The shadow's sample is drawn independently of the canary's.
        let both = keys
            .iter()
            .filter(|k| {
                in_share(b"airlock.canary\0", k, 10.0) && in_share(b"airlock.shadow\0", k, 10.0)
            })
            .count();
        assert!((100..=320).contains(&both), "{both}: about 1% in both");
    }

    #[test]
    fn a_typed_cell_keys_like_the_json_request_value() {
        use crate::contract::Value;
        let json_text = |v: serde_json::Value| v.to_string();
        assert_eq!(request_text(&Value::Int(5)), json_text(json!(5)));
        assert_eq!(request_text(&Value::Float(2.5)), json_text(json!(2.5)));
        assert_eq!(
            request_text(&Value::Text("C\"1".into())),
            json_text(json!("C\"1"))
        );
        assert_eq!(
            request_text(&Value::Null),
            json_text(serde_json::Value::Null)
        );
    }

    #[test]
    fn shares_are_checked() {
        assert!(check_percent(CANARY, Some(10.0)).is_ok());
        assert!(check_percent(SHADOW, Some(100.0)).is_ok());
        assert!(check_percent(CANARY, None).is_err());
        assert!(check_percent(CANARY, Some(0.0)).is_err());
        assert!(check_percent(CANARY, Some(150.0)).is_err());
        assert!(check_percent(CANARY, Some(f64::NAN)).is_err());
        assert!(check_percent(PRODUCTION, Some(10.0)).is_err());
        assert!(check_percent(PRODUCTION, None).is_ok());
    }
}
