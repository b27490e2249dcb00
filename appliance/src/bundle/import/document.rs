//! The record documents a bundle carries: parsed, checked, and bound to
//! the sites that signed them.

use crate::bundle::format::Entry;
use crate::contract::Contract;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::lifecycle::Approval;
use crate::lifecycle::Deployment;
use crate::lifecycle::GateReport;
use crate::ops::features::FeatureSetDoc;
use crate::ops::ingest::DatasetDoc;
use crate::ops::train::RunRecord;
use crate::site::SiteName;
use crate::vault::registry::{self, Kind};

use super::{Document, Mode};

/// Parses a record document and binds the site it claims to its signers.
pub(super) fn parse_document(
    src: &str,
    e: &Entry,
    bytes: &[u8],
    atts: &[registry::Attestation],
    mode: Mode,
) -> Result<Option<Document>> {
    let kind = e.kind;
    let bad = |err: serde_json::Error| {
        Error::Integrity(format!(
            "bundle rejected: {src}: {kind} {} does not parse: {}",
            e.id.short(),
            crate::text::error_text(&err)
        ))
    };
    let claim = |site: &SiteName| -> Result<()> {
        if atts.iter().any(|a| a.site == *site) {
            Ok(())
        } else {
            Err(Error::Integrity(format!(
                "bundle rejected: {src}: {kind} {} claims to come from site {site} but is not signed by it",
                e.id.short()
            )))
        }
    };
    let doc = match kind {
        Kind::Contract => {
            let c: Contract = serde_json::from_slice(bytes).map_err(bad)?;
            c.check(&format!("{kind} {}", e.id.short()))
                .map_err(|err| Error::Integrity(format!("bundle rejected: {src}: {err}")))?;
            Document::Contract(Box::new(c))
        }
        Kind::Dataset => {
            let d: DatasetDoc = serde_json::from_slice(bytes).map_err(bad)?;
            claim(&d.site)?;
            // Its row count is stored as a SQLite integer (i64).
            if i64::try_from(d.rows).is_err() {
                return Err(Error::Integrity(format!(
                    "bundle rejected: {src}: {kind} {} claims {} rows, above {}, the largest this node can store",
                    e.id.short(),
                    d.rows,
                    i64::MAX
                )));
            }
            Document::Dataset(Box::new(d))
        }
        Kind::FeatureSet => {
            let d: FeatureSetDoc = serde_json::from_slice(bytes).map_err(bad)?;
            claim(&d.site)?;
            d.check()
                .map_err(|err| Error::Integrity(format!("bundle rejected: {src}: {err}")))?;
            Document::FeatureSet(Box::new(d))
        }
        Kind::Run => {
            let d: RunRecord = serde_json::from_slice(bytes).map_err(bad)?;
            claim(&d.site)?;
            Document::Run(Box::new(d))
        }
        Kind::Gate => {
            let d: GateReport = serde_json::from_slice(bytes).map_err(bad)?;
            claim(&d.site)?;
            // A report that checked nothing, or whose verdict does not
            // follow from its checks, never enters the store.
            d.check(&airlock_runtime::METRIC_NAMES)
                .map_err(|err| Error::Integrity(format!("bundle rejected: {src}: {err}")))?;
            Document::Gate(Box::new(d))
        }
        Kind::Approval => {
            let d: Approval = serde_json::from_slice(bytes).map_err(bad)?;
            claim(&d.site)?;
            d.verify_operator()
                .map_err(|err| Error::Integrity(format!("bundle rejected: {src}: {err}")))?;
            Document::Approval(Box::new(d))
        }
        Kind::Deployment => {
            // Deployments are local decisions; they never travel.
            let _: Deployment = serde_json::from_slice(bytes).map_err(bad)?;
            return Err(Error::Refused(format!(
                "bundle rejected: {src}: it carries a deployment record; deployments are decided at each site"
            )));
        }
        Kind::Policy => {
            // Checked against this node's root chain at commit.
            let p = crate::trust::policy::SignedPolicy::parse(
                bytes,
                &format!("{kind} {}", e.id.short()),
            )
            .map_err(|err| Error::Integrity(format!("bundle rejected: {src}: {err}")))?;
            // As `bundle export` carries it: the commit indexes exactly the
            // bytes it applies, and writes nothing else into the vault.
            if Digest::of(&p.render()) != e.id {
                return Err(Error::Integrity(format!(
                    "bundle rejected: {src}: {kind} {} is not laid out as a signed policy file is written (`airlock policy sign`)",
                    e.id.short()
                )));
            }
            Document::Policy(Box::new(p))
        }
        Kind::AuditLog if mode == Mode::Audit => {
            let d: crate::store::audit::AuditExport = serde_json::from_slice(bytes).map_err(bad)?;
            claim(&d.site)?;
            Document::AuditLog(Box::new(d))
        }
        Kind::AuditLog => {
            return Err(Error::Refused(format!(
                "bundle rejected: {src}: it carries an audit log export for an auditor; check it with `airlock audit verify-export FILE --card CARD` (it is never imported)"
            )));
        }
        Kind::MonitorWindow => {
            let d: airlock_core::monitor::MonitorWindow =
                serde_json::from_slice(bytes).map_err(bad)?;
            claim(&d.site)?;
            Document::Monitoring
        }
        Kind::RequestLog => {
            return Err(Error::Refused(format!(
                "bundle rejected: {src}: it carries raw requests (a request log batch), which never cross the air gap"
            )));
        }
        Kind::Alert => {
            let d: airlock_core::monitor::Alert = serde_json::from_slice(bytes).map_err(bad)?;
            claim(&d.site)?;
            Document::Monitoring
        }
        _ if mode == Mode::Audit => {
            return Err(Error::Refused(format!(
                "bundle rejected: {src}: an audit log export carries only the audit log, not a {kind}"
            )));
        }
        Kind::Provenance => {
            let d: crate::ops::provenance::Statement =
                serde_json::from_slice(bytes).map_err(bad)?;
            d.check(&format!("{kind} {}", e.id.short()))
                .map_err(|err| Error::Integrity(format!("bundle rejected: {src}: {err}")))?;
            claim(&d.predicate.site)?;
            Document::Provenance(Box::new(d))
        }
        Kind::Evaluation => {
            let d: crate::ops::evaluate::EvaluationRecord =
                serde_json::from_slice(bytes).map_err(bad)?;
            claim(&d.site)?;
            Document::Evaluation
        }
        Kind::ModelDescription => {
            let d: crate::ops::description::ModelDescription =
                serde_json::from_slice(bytes).map_err(bad)?;
            claim(&d.site)?;
            d.check()
                .map_err(|err| Error::Integrity(format!("bundle rejected: {src}: {err}")))?;
            Document::Description
        }
        Kind::OperatorCert => {
            return Err(Error::Refused(format!(
                "bundle rejected: {src}: it carries an operator certificate; operator keys are made at each site"
            )));
        }
        Kind::Snapshot | Kind::Weights => return Ok(None),
    };
    check_names(src, e, &doc)?;
    Ok(Some(doc))
}

/// The names in a peer's records follow the rules names given on this
/// node's command line follow ([`registry::validate_name`] for datasets,
/// contracts, feature sets and models, the operator name rule for
/// approvers; site names are typed and checked as they parse): a name with
/// an escape sequence, a line break or a direction override is refused
/// here, never stored or shown. Free text (a dataset's source, a run's
/// device name, an approval's note) is kept and escaped when shown.
fn check_names(src: &str, e: &Entry, doc: &Document) -> Result<()> {
    let check = |field: &str, r: std::result::Result<(), airlock_core::Error>| {
        r.map_err(|err| {
            Error::Integrity(format!(
                "bundle rejected: {src}: {} {}: field `{field}` breaks this node's name rule: {err}",
                e.kind,
                e.id.short()
            ))
        })
    };
    match doc {
        Document::Contract(c) => check("name", registry::validate_name(&c.name)),
        Document::Dataset(d) => check("name", registry::validate_name(&d.name)),
        Document::FeatureSet(d) => check("name", registry::validate_name(&d.name)),
        Document::Run(r) => check("name", registry::validate_name(&r.name)),
        Document::Approval(a) => check(
            "approver",
            crate::trust::policy::validate_operator_name(&a.approver),
        ),
        _ => Ok(()),
    }
}
