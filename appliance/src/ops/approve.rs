//! Approvals: an operator's signed approval of a gated model (`airlock approve`), and the
//! approvals counted toward what the trust policy requires before a model may answer
//! requests (k-of-n, roles, revocations, the review a gate report asked for).

use serde_json::json;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::node::home::Home;
use crate::ops::train::{self};
use crate::store::{AuditEntry, AuditedTx};
use crate::trust::keys::{Domain, KeyId};
use crate::trust::operator::Operator;
use crate::trust::policy::{self, Role};
use crate::vault::registry::{self, Kind};

use crate::lifecycle::{APPROVAL_TYPE, Approval};
use crate::ops::gate::{counted_gate, load_gate};

/// Records an operator's signed approval of a gated model. The operator
/// was unlocked for the approve role (see [`crate::trust::operator::unlock`]).
pub fn approve(
    home: &mut Home,
    model: &Digest,
    operator: &Operator,
    note: &str,
) -> Result<(Digest, Approval)> {
    approve_with(home, model, operator, note, false)
}

/// [`approve`], saying whether the operator reviewed the checks of the gate report that need a
/// named review (`reviewed`): a report that needs review can only be approved so, and the
/// note must say why its figures are acceptable.
pub fn approve_with(
    home: &mut Home,
    model: &Digest,
    operator: &Operator,
    note: &str,
    reviewed: bool,
) -> Result<(Digest, Approval)> {
    if note.len() > 2000 {
        return Err(Error::Rejected(
            "--note is longer than 2000 characters".into(),
        ));
    }
    // The note travels in the signed approval and is shown at every site.
    crate::text::check_free_text("--note", note)?;
    let run = train::load_run(home, model)?;
    let in_force = policy::current(home.store(), home.vault())?;
    let counted = match counted_gate(home, model, &run, None, in_force.as_ref())? {
        Ok(gate) => gate,
        Err(why) => {
            return Err(Error::Refused(format!(
                "model {} has no passing gate report that counts here: {why}; run `airlock gate {}` first",
                model.short(),
                model.short()
            )));
        }
    };
    let gate = counted.id;
    if counted.needs_review && !reviewed {
        let report = load_gate(home.store(), home.vault(), &gate)?;
        let why = format!(
            "gate report {} of model {} needs a named review of: {}; if you have reviewed these figures, approve with --reviewed and say in --note why they are acceptable",
            gate.short(),
            model.short(),
            crate::ops::gate::review_items(&report).join("; ")
        );
        home.record(
            AuditEntry::new(
                "model.approve.refused",
                &[model.hex(), gate.hex()],
                json!({ "reason": "needs review", "operator": operator.name }),
            )
            .by(Some(operator.key_id())),
        )?;
        return Err(Error::Refused(why));
    }
    if reviewed && note.trim().is_empty() {
        return Err(Error::Rejected(
            "--reviewed needs a --note saying why the reviewed figures are acceptable".into(),
        ));
    }
    crate::trust::operator::authorize(in_force.as_ref(), Some(operator), Role::Approve)?;
    let me = operator.key_id();
    if let Some((prev, _, _)) = approvals(home, model)?
        .into_iter()
        .find(|(_, _, k)| *k == me)
    {
        return Err(Error::Refused(format!(
            "operator {} (key {me}) has already approved model {} (approval {}); a second approval by the same person does not count",
            operator.name,
            model.short(),
            prev.short()
        )));
    }
    let site = home.site().clone();
    let mut approval = Approval {
        ty: APPROVAL_TYPE.into(),
        site: site.clone(),
        model: *model,
        approver: operator.name.clone(),
        operator_key: operator.public_hex(),
        note: note.into(),
        gate,
        reviewed,
        created_at: home.now(),
        operator_signature: String::new(),
    };
    approval.operator_signature = operator.sign(Domain::Approval, &approval.signed_bytes());
    let tx = home.begin()?;
    let id = registry::put_record(&tx, &approval)?;
    crate::ops::provenance::record(
        &tx,
        "airlock approve",
        Some(&operator.key_id()),
        &[(Kind::Approval, id)],
        &approval.provenance_inputs(),
    )?;
    insert_approval_row(&tx, &id, &approval)?;
    tx.commit(
        AuditEntry::new(
            "model.approve",
            &[id.hex(), model.hex()],
            json!({ "approver": approval.approver, "operator_key_id": operator.key_id(),
                    "gate": gate.hex(), "reviewed": reviewed }),
        )
        .by(Some(operator.key_id())),
    )?;
    Ok((id, approval))
}

/// Indexes an approval (also used at bundle import).
pub fn insert_approval_row(tx: &AuditedTx<'_>, id: &Digest, a: &Approval) -> Result<()> {
    crate::store::models::insert_approval(
        tx,
        id,
        &a.model,
        &a.site,
        &a.approver,
        &a.created_at.to_string(),
    )
}

/// The approvals of a model, each with its site signature and its
/// operator's signature verified, and the operator's key id.
pub fn approvals(home: &Home, model: &Digest) -> Result<Vec<(Digest, Approval, KeyId)>> {
    let ids = crate::store::models::approval_rows(home.store(), model)?;
    let mut out = Vec::new();
    for id in ids {
        let id: Digest = id
            .parse()
            .map_err(|e| Error::Integrity(format!("approvals: {e}")))?;
        let a: Approval = registry::load(home.store(), home.vault(), &id)?;
        if a.model != *model {
            return Err(Error::Integrity(format!(
                "approval {} does not match its index row",
                id.short()
            )));
        }
        let key_id = a.verify_operator()?;
        out.push((id, a, key_id));
    }
    Ok(out)
}

/// The approvals that count towards deploying `model` to `slot` (distinct
/// operators; under a trust policy, only operators it lists with the
/// approve role and has not revoked; in setup mode, only operators this
/// site certified), the number needed, and why others did not count.
pub fn counted_approvals(
    home: &Home,
    model: &Digest,
    slot: &str,
    current: Option<&policy::InForce>,
) -> Result<(Vec<Digest>, u32, Vec<String>)> {
    let needed = current.map_or(1, |p| p.body().approvals_needed(slot));
    let mut seen = std::collections::BTreeSet::new();
    let mut counted = Vec::new();
    let mut not_counted = Vec::new();
    for (id, a, key_id) in approvals(home, model)? {
        let who = format!("{} (key {key_id})", a.approver);
        if let Some(p) = current {
            let v = p.version();
            if p.body().is_revoked(&key_id) {
                not_counted.push(format!("{who}: key revoked by trust policy v{v}"));
                continue;
            }
            match p.body().operator(&key_id) {
                None => {
                    not_counted.push(format!("{who}: not an operator in trust policy v{v}"));
                    continue;
                }
                Some(o) if !o.roles.contains(&Role::Approve) => {
                    not_counted.push(format!("{who}: no approve role in trust policy v{v}"));
                    continue;
                }
                Some(_) => {}
            }
        } else if !crate::trust::operator::certified(home, &key_id, &a.operator_key)? {
            not_counted.push(format!(
                "{who}: not an operator certified by this site (setup mode counts only operators made here with `airlock keys operator new`)"
            ));
            continue;
        }
        if seen.insert(key_id) {
            counted.push(id);
        } else {
            not_counted.push(format!("{who}: the same operator approved twice"));
        }
    }
    Ok((counted, needed, not_counted))
}
