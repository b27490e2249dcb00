//! What lets a model into a slot (the gate report and approvals that count, the operator's
//! role, everything serving needs), and the signed deployment record of each change.

use serde_json::json;

use airlock_core::lifecycle::Action;
use airlock_runtime::Task;

use crate::digest::Digest;
use crate::error::{Error, Result};
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
use crate::ops::train;
use crate::store::AuditedTx;
use crate::trust::keys::Domain;
use crate::trust::operator::Operator;
use crate::trust::policy::{self, Role};
use crate::vault::registry::{self, Kind};

use super::{CANARY, PRODUCTION, SHADOW, current, deployed};

/// What lets a model into a slot: the gate report and approvals relied on.
pub(super) struct Cleared {
    gate: Digest,
    approvals: Vec<Digest>,
    needed: u32,
    threshold: Option<f64>,
    policy_version: Option<u64>,
}

/// Checks that `model` may go into `slot` now: gated (and approved, for slots that answer
/// requests) under today's trust policy, by an operator who may deploy; everything serving
/// needs present and valid.
pub(super) fn clear(
    home: &Home,
    model: &Digest,
    slot: &str,
    operator: Option<&Operator>,
) -> Result<Cleared> {
    clear_as(home, model, slot, Who::Operator(operator))
}

/// Who puts a model in a slot.
#[derive(Clone, Copy)]
pub(super) enum Who<'a> {
    /// An operator (required, and authorized for the deploy role).
    Operator(Option<&'a Operator>),
    /// The node itself, by its monitoring policy (the canary's automatic promotion): every
    /// other rule of the slot still applies.
    Node,
}

/// [`clear`] for `who`.
pub(super) fn clear_as(home: &Home, model: &Digest, slot: &str, who: Who<'_>) -> Result<Cleared> {
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
pub(super) struct Change {
    pub(super) action: Action,
    pub(super) percent: Option<f64>,
    pub(super) reason: Option<String>,
}

/// A deployment record of `change` for `model` in `slot`, signed by `operator` when given.
pub(super) fn record_of(
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
pub(super) fn store(
    tx: &AuditedTx<'_>,
    dep: &Deployment,
    operator: Option<&Operator>,
) -> Result<Digest> {
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
pub(super) fn details(
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
pub(super) fn check_percent(slot: &str, percent: Option<f64>) -> Result<()> {
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
pub(super) fn check_beside_production(home: &Home, model: &Digest, slot: &str) -> Result<()> {
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
