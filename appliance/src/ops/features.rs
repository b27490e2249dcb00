//! Feature set versions in the store: `features apply` fits a spec on a
//! stored dataset, streaming its snapshot once (rows are not held; see
//! [`Fitter`] for what the fit keeps), and stores the frozen version;
//! [`load`] reads one back.
//!
//! The spec, the fitting, the frozen document and THE transform are
//! `airlock_core::features`, re-exported here, so training, serving and the
//! online store call the same code.

use serde::Serialize;
use serde_json::json;

pub use airlock_core::features::*;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::node::home::Home;
use crate::ops::ingest;
use crate::store::objects::Table;
use crate::store::{AuditEntry, AuditedTx, datasets};
use crate::vault::registry::{self, Kind, NameRef};

/// What `features apply` did.
#[derive(Clone, Debug, Serialize)]
pub struct Applied {
    /// The feature set version's id.
    pub id: Digest,
    /// `name@version`.
    pub reference: String,
    /// Vector width.
    pub width: usize,
    /// True when an identical version already existed.
    pub unchanged: bool,
}

/// Fits a feature spec and stores it as a new version (or finds the
/// identical existing one).
/// A refused spec is recorded in the audit log (`features.refused`, with
/// the spec's file name and the reason).
pub fn apply(home: &mut Home, spec_text: &str, source: &str) -> Result<Applied> {
    match fit_and_store(home, spec_text, source) {
        // A data cause (a stored snapshot that no longer reads as its contract) is a
        // rejection too, as it was when it was a `Rejected` string.
        Err(e @ (Error::Rejected(_) | Error::Data(_))) => {
            let msg = e.to_string();
            let name = std::path::Path::new(source)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let reason: String = msg
                .lines()
                .next()
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect();
            let details = json!({ "spec": name, "reason": reason });
            Err(Error::Rejected(
                match ingest::audit_refusal(home, "features.refused", details) {
                    Some(note) => format!("{msg}\n{note}"),
                    None => msg,
                },
            ))
        }
        other => other,
    }
}

fn fit_and_store(home: &mut Home, spec_text: &str, source: &str) -> Result<Applied> {
    let spec = FeatureSpec::from_toml(spec_text, source)?;
    let dataset_ref: NameRef = spec.dataset.parse()?;
    let (dataset, _, _) = registry::resolve(
        home.store(),
        Table::Datasets,
        "dataset",
        home.site(),
        &dataset_ref,
    )?;
    // The spec is checked against the contract before any row is read;
    // then one pass over the snapshot, each row lent and dropped (memory:
    // the accumulators, see `Fitter`).
    let dataset_doc: ingest::DatasetDoc = registry::load(home.store(), home.vault(), &dataset)?;
    let contract = crate::ops::contract::load_contract(home, &dataset_doc.contract)?;
    let mut fitter = Fitter::new(&spec, &contract, source)?;
    fitter.reserve(usize::try_from(dataset_doc.rows).unwrap_or(0));
    let (dataset_doc, _) = ingest::stream_rows_by_id(home, &dataset, &mut |_, row| {
        fitter.push(row);
        Ok(())
    })?;
    let features = fitter.finish()?;
    let site = home.site().clone();
    let mut doc = FeatureSetDoc {
        ty: FEATURE_SET_TYPE.into(),
        site: site.clone(),
        name: spec.name.clone(),
        version: 0,
        dataset,
        contract: dataset_doc.contract,
        label: spec.label.clone(),
        positive: spec.positive.clone(),
        features,
    };
    doc.check()
        .map_err(|e| Error::Rejected(format!("feature spec {source}: {e}")))?;
    // Same definition and parameters as the newest version: nothing to do.
    if let Ok((id, _, version)) = registry::resolve(
        home.store(),
        Table::FeatureSets,
        "feature set",
        &site,
        &NameRef {
            site: Some(site.clone()),
            name: spec.name.clone(),
            version: None,
        },
    ) {
        let newest: FeatureSetDoc = registry::load(home.store(), home.vault(), &id)?;
        doc.version = version;
        if newest == doc {
            return Ok(Applied {
                id,
                reference: doc.reference(),
                width: doc.width(),
                unchanged: true,
            });
        }
    }
    let tx = home.begin()?;
    doc.version = datasets::next_feature_set_version(&tx, &site, &spec.name)?;
    let id = registry::put_record(&tx, &doc)?;
    insert_feature_set_row(&tx, &id, &doc)?;
    crate::ops::provenance::record(
        &tx,
        "airlock features apply",
        None,
        &[(Kind::FeatureSet, id)],
        &[("dataset", doc.dataset), ("contract", doc.contract)],
    )?;
    tx.commit(AuditEntry::new(
        "features.apply",
        &[id.hex(), doc.dataset.hex()],
        json!({ "feature_set": doc.reference(), "width": doc.width() }),
    ))?;
    Ok(Applied {
        id,
        reference: doc.reference(),
        width: doc.width(),
        unchanged: false,
    })
}

/// Indexes a feature set record (also used at bundle import).
pub fn insert_feature_set_row(tx: &AuditedTx<'_>, id: &Digest, doc: &FeatureSetDoc) -> Result<()> {
    datasets::insert_feature_set(
        tx,
        &datasets::FeatureSetRow {
            id,
            site: &doc.site,
            name: &doc.name,
            version: doc.version,
            dataset: &doc.dataset,
            width: doc.width(),
        },
    )
}

/// Every feature set version held here, by site, name and version (`rows`
/// is the vector width).
pub fn list(home: &Home) -> Result<Vec<registry::Listed>> {
    datasets::list_feature_sets(home.store())
}

/// Loads a feature set version by id, verifying its signature and digest.
pub fn load(home: &Home, id: &Digest) -> Result<FeatureSetDoc> {
    let doc: FeatureSetDoc = registry::load(home.store(), home.vault(), id)?;
    doc.check()?;
    Ok(doc)
}
