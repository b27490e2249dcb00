//! Which gate report counts: stored reports re-checked against the model's own figures.

use airlock_core::lifecycle::{Section, Verdict};
use airlock_runtime::{METRIC_NAMES, Perturbation};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::lifecycle::GateReport;
use crate::node::home::Home;
use crate::ops::evaluate::EvaluationRecord;
use crate::ops::train::RunRecord;
use crate::store::{AuditedTx, Reads};
use crate::trust::policy;
use crate::vault::Vault;
use crate::vault::registry::{self, Kind};

/// Every check's value must be the model's: its held-out metric as its run record gives it,
/// or, for a report that names an evaluation, the figure that evaluation record holds (the
/// record must be held here: it travels with the model). A report about other numbers is not
/// about this model. Returns why not.
fn measured_on(
    home: &Home,
    report: &GateReport,
    run: &RunRecord,
) -> Result<std::result::Result<(), String>> {
    let eval = match report.evaluation {
        None => None,
        Some(e) => {
            if registry::held_as(home.store(), &e, Kind::Evaluation)?.is_none() {
                return Ok(Err(format!(
                    "the evaluation {} it was measured on is not held here",
                    e.short()
                )));
            }
            let r: EvaluationRecord = registry::load(home.store(), home.vault(), &e)?;
            if r.model != report.model {
                return Ok(Err(format!(
                    "its evaluation {} is of another model",
                    e.short()
                )));
            }
            Some(r)
        }
    };
    for c in &report.checks {
        let section = c.section.unwrap_or(Section::Metrics);
        let subject = c.subject.as_deref().unwrap_or("");
        let held: Option<f64> = match (section, &eval) {
            (Section::Behaviour, _) => continue,
            (Section::Metrics | Section::Baseline, None) => run.holdout(&c.metric),
            (Section::Metrics | Section::Baseline, Some(r)) => r.metrics.get(&c.metric),
            (Section::Slice, Some(r)) => subject.split_once('=').and_then(|(col, val)| {
                r.slices
                    .iter()
                    .find(|s| s.column == col)
                    .and_then(|s| s.groups.iter().find(|g| g.value == val))
                    .filter(|g| Some(g.rows) == c.rows)
                    .and_then(|g| g.metrics.get(&c.metric))
            }),
            (Section::Fairness, Some(r)) => r
                .fairness
                .iter()
                .find(|f| f.attribute == subject)
                .and_then(|f| f.fairness.get(&c.metric)),
            (Section::Robustness, Some(r)) => r
                .robustness
                .iter()
                .find(|x| {
                    x.perturbation
                        == if c.metric == "noise_accuracy" {
                            Perturbation::Noise
                        } else {
                            Perturbation::Fgsm
                        }
                        && subject == format!("epsilon {}", x.epsilon)
                })
                .map(|x| x.perturbed),
            (_, None) => {
                return Ok(Err(format!(
                    "its {} check names no evaluation to be measured on",
                    section.as_str()
                )));
            }
        };
        match held {
            Some(v) if v == c.value => {}
            Some(v) => {
                return Ok(Err(format!(
                    "it gives {} {} = {} where the {} says {v}",
                    section.as_str(),
                    c.metric,
                    c.value,
                    if eval.is_some() {
                        "evaluation record"
                    } else {
                        "model's run record"
                    }
                )));
            }
            None => {
                return Ok(Err(format!(
                    "it checks {} {}{}, which the {} does not hold",
                    section.as_str(),
                    c.metric,
                    if subject.is_empty() {
                        String::new()
                    } else {
                        format!(" of {subject}")
                    },
                    if eval.is_some() {
                        "evaluation record"
                    } else {
                        "model's run record"
                    }
                )));
            }
        }
    }
    Ok(Ok(()))
}

/// Indexes a gate report (also used at bundle import).
pub fn insert_gate_row(tx: &AuditedTx<'_>, id: &Digest, r: &GateReport) -> Result<()> {
    crate::store::models::insert_gate(
        tx,
        id,
        &r.model,
        &r.site,
        r.passed,
        &r.created_at.to_string(),
    )
}

/// Loads a stored gate report: its signatures verified
/// ([`registry::load`]) and its content checked
/// ([`GateReport::check`]).
pub fn load_gate(r: &impl Reads, vault: &Vault, id: &Digest) -> Result<GateReport> {
    let report: GateReport = registry::load(r, vault, id)?;
    report
        .check(&METRIC_NAMES)
        .map_err(|e| Error::Integrity(format!("gate report {}: {e}", id.short())))?;
    Ok(report)
}

/// Every gate report of a model held here, oldest first, each verified and checked.
pub fn list_for(home: &Home, model: &Digest) -> Result<Vec<(Digest, GateReport)>> {
    let ids = crate::store::models::gates_of(home.store(), model)?;
    ids.into_iter()
        .map(|id| Ok((id, load_gate(home.store(), home.vault(), &id)?)))
        .collect()
}

/// The gate report that counts for a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    /// The report.
    pub id: Digest,
    /// No check failed, but some need a named review before deployment.
    pub needs_review: bool,
}

/// The checks of `report` that need review, for people.
pub fn review_items(report: &GateReport) -> Vec<String> {
    report
        .checks
        .iter()
        .filter(|c| c.outcome() == Verdict::Review)
        .map(|c| {
            format!(
                "{} {}{} = {:.4} (threshold {} {}, review band {})",
                c.section.map_or("metrics", |s| s.as_str()),
                c.metric,
                c.subject
                    .as_ref()
                    .map(|s| format!(" of {s}"))
                    .unwrap_or_default(),
                c.value,
                c.op.as_str(),
                c.threshold,
                c.review_band.unwrap_or(0.0)
            )
        })
        .collect()
}

/// The gate report that lets `model` (run record `run`) be approved, or
/// deployed to `slot`, or why none does.
///
/// This site's newest gate verdict for the model decides whenever there is
/// one: a peer's report never overrides it. Without one, the newest report
/// of each peer whose reports count is considered, and the newest of those
/// that passed (or need only review) is used: in setup mode every trusted
/// peer's count; under a trust policy only those of the sites its `gates`
/// lists for the slot (for an approval, which names no slot, for any slot).
/// A report whose numbers are not the model's never counts.
pub fn counted_gate(
    home: &Home,
    model: &Digest,
    run: &RunRecord,
    slot: Option<&str>,
    current: Option<&policy::InForce>,
) -> Result<std::result::Result<Counted, String>> {
    let rows = crate::store::models::gates_newest_first(home.store(), model)?;
    // The newest report of each site, newest first.
    let mut seen = std::collections::BTreeSet::new();
    let newest: Vec<(Digest, String)> = rows
        .into_iter()
        .filter(|(_, site)| seen.insert(site.clone()))
        .map(|(id, site)| {
            id.parse()
                .map(|id| (id, site))
                .map_err(|e| Error::Integrity(format!("gates: {e}")))
        })
        .collect::<Result<_>>()?;
    let load = |id: &Digest, site: &str| -> Result<GateReport> {
        let report = load_gate(home.store(), home.vault(), id)?;
        if report.model != *model || report.site.as_str() != site {
            return Err(Error::Integrity(format!(
                "gate report {} does not match its index row",
                id.short()
            )));
        }
        Ok(report)
    };
    let counts = |id: &Digest, r: &GateReport| Counted {
        id: *id,
        needs_review: r.needs_review,
    };
    let own = home.site().as_str();
    if let Some((id, site)) = newest.iter().find(|(_, site)| site == own) {
        let report = load(id, site)?;
        if let Err(why) = measured_on(home, &report, run)? {
            return Err(Error::Integrity(format!(
                "this site's gate report {} of model {}: {why}; the store was altered",
                id.short(),
                model.short()
            )));
        }
        return Ok(if report.passed || report.needs_review {
            Ok(counts(id, &report))
        } else {
            Err(format!(
                "this site's newest gate report for it ({}, {}) failed, and a peer's gate report does not override it",
                id.short(),
                report.created_at
            ))
        });
    }
    let mut why = vec!["this site has not gated it".to_string()];
    for (id, site) in &newest {
        if let Some(p) = current {
            let b = p.body();
            let counts = match slot {
                Some(slot) => b.gate_sites(slot).iter().any(|s| s.as_str() == site),
                None => b.gates.values().flatten().any(|s| s.as_str() == site),
            };
            if !counts {
                why.push(match slot {
                    Some(slot) => format!(
                        "gate reports of site {site} do not count for slot {slot:?} (trust policy v{} `gates`)",
                        p.version()
                    ),
                    None => format!(
                        "gate reports of site {site} count for no slot (trust policy v{} `gates`)",
                        p.version()
                    ),
                });
                continue;
            }
        }
        let report = load(id, site)?;
        if let Err(e) = measured_on(home, &report, run)? {
            why.push(format!(
                "site {site}'s gate report {} does not count: {e}",
                id.short()
            ));
        } else if report.passed || report.needs_review {
            return Ok(Ok(counts(id, &report)));
        } else {
            why.push(format!(
                "site {site}'s newest gate report ({}) failed",
                id.short()
            ));
        }
    }
    Ok(Err(why.join("; ")))
}
