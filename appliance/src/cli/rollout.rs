//! `airlock deploy`, `promote` and `rollback`: parse, call `airlock::ops::rollout`, print.

use std::path::Path;

use clap::Args;
use serde_json::json;

use airlock::digest::Digest;
use airlock::error::{Error, Result};
use airlock::lifecycle::Deployment;
use airlock::node::home::Home;
use airlock::ops::rollout;
use airlock::ops::train;
use airlock::trust::policy::Role;

use crate::cli::MaybeOperatorArgs;
use crate::cli::output::Out;

/// Deploy a gated and approved model to a slot. `production` answers requests; `canary`
/// answers --percent of them, chosen by a hash of each request's entity key (one entity always
/// gets the same model); `shadow` scores --percent of them and answers none. Signed by an
/// operator certified at this site (--operator, needed in setup mode too). Under a trust
/// policy production and canary need the policy's number of approvals for production (k of
/// n), a shadow only a gate report, and the operator the deploy role.
#[derive(Args, Debug)]
pub struct DeployArgs {
    /// Model id (or 8+ leading hex digits).
    model: String,
    /// The slot: production, canary, shadow, or a slot of your own.
    #[arg(long, default_value = rollout::PRODUCTION)]
    slot: String,
    /// Canary and shadow: the share of production's requests, in percent (above 0, at most 100).
    #[arg(long, value_name = "P")]
    percent: Option<f64>,
    #[command(flatten)]
    operator: MaybeOperatorArgs,
}

/// Make the canary's model the production model (checked as a deploy to production: gate,
/// approvals, operator) and empty the canary slot, in one step.
#[derive(Args, Debug)]
pub struct PromoteArgs {
    #[command(flatten)]
    operator: MaybeOperatorArgs,
}

/// Roll a slot back: production goes back to the model it held before the current one (or
/// --to, a model it held), checked as a deploy under today's trust policy; a canary or shadow
/// slot is emptied. Needs an operator holding the deploy role, and a reason.
#[derive(Args, Debug)]
pub struct RollbackArgs {
    /// The slot.
    #[arg(long, default_value = rollout::PRODUCTION)]
    slot: String,
    /// The model to go back to (or 8+ leading hex digits): one the slot held before.
    #[arg(long, value_name = "MODEL")]
    to: Option<String>,
    /// Why: recorded in the signed deployment record and the audit log.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    operator: MaybeOperatorArgs,
}

fn show(out: Out, id: &Digest, d: &Deployment) -> Result<i32> {
    let mut v = serde_json::to_value(d).map_err(|e| Error::Rejected(e.to_string()))?;
    v["id"] = json!(id.hex());
    out.emit(&v, |_| out.line(rollout::line(id, d)));
    Ok(0)
}

/// Runs `airlock deploy`.
pub fn deploy(home_dir: &Path, out: Out, a: DeployArgs) -> Result<i32> {
    let mut home = Home::open(home_dir)?;
    let id = train::resolve(&home, &a.model)?;
    let op = a.operator.unlock(&home, Role::Deploy)?;
    let (did, d) = rollout::deploy_with(&mut home, &id, &a.slot, op.as_ref(), a.percent)?;
    show(out, &did, &d)
}

/// Runs `airlock promote`.
pub fn promote(home_dir: &Path, out: Out, a: PromoteArgs) -> Result<i32> {
    let mut home = Home::open(home_dir)?;
    let op = a.operator.unlock(&home, Role::Deploy)?;
    let (did, d) = rollout::promote(&mut home, op.as_ref())?;
    show(out, &did, &d)
}

/// Runs `airlock rollback`.
pub fn rollback(home_dir: &Path, out: Out, a: RollbackArgs) -> Result<i32> {
    let mut home = Home::open(home_dir)?;
    let to = a.to.map(|m| train::resolve(&home, &m)).transpose()?;
    let op = a.operator.unlock(&home, Role::Deploy)?;
    let (did, d) = rollout::rollback(&mut home, &a.slot, to.as_ref(), op.as_ref(), &a.reason)?;
    show(out, &did, &d)
}
