//! The record documents a bundle carries and the vault holds, each parsed as its own type
//! through `Record::parse`: contracts, dataset records, feature set versions, gate reports,
//! approvals, deployments, provenance statements, operator certificates, model descriptions.
//! (The run record holds the runtime's and the sandbox's types and lives in the appliance; its
//! weights are fuzzed by `model`.)
//!
//! Input layout: byte 0 picks the record type (mod 9, in the order above); the rest is the
//! document.
//!
//! Beyond "no panic": an accepted record re-encodes to bytes that parse to the same record;
//! it parses as no other record type (a kind cannot be mistaken for another); each type's
//! own checks run on it; a feature set that passes its check turns rows (all missing, all
//! text, all numbers) into vectors of exactly its width with only finite values; a dataset
//! record's drift summaries either fail their check or give measures that are numbers.

#![no_main]

use airlock_core::contract::{Contract, Value};
use airlock_core::dataset::DatasetDoc;
use airlock_core::description::ModelDescription;
use airlock_core::features::FeatureSetDoc;
use airlock_core::lifecycle::{Approval, Deployment, GateReport};
use airlock_core::provenance::Statement;
use airlock_core::record::{OperatorCert, Record};
use libfuzzer_sys::fuzz_target;

/// How many of the nine types parse `bytes`.
fn parses_as(bytes: &[u8]) -> usize {
    [
        Contract::parse(bytes).is_ok(),
        DatasetDoc::parse(bytes).is_ok(),
        FeatureSetDoc::parse(bytes).is_ok(),
        GateReport::parse(bytes).is_ok(),
        Approval::parse(bytes).is_ok(),
        Deployment::parse(bytes).is_ok(),
        Statement::parse(bytes).is_ok(),
        OperatorCert::parse(bytes).is_ok(),
        ModelDescription::parse(bytes).is_ok(),
    ]
    .iter()
    .filter(|ok| **ok)
    .count()
}

/// Parses `bytes` as `T`; an accepted record round-trips and is of one type only.
fn round_trip<T: Record + PartialEq + std::fmt::Debug>(bytes: &[u8]) -> Option<T> {
    let r = T::parse(bytes).ok()?;
    let again = r.encode().expect("an accepted record encodes");
    assert_eq!(T::parse(&again).expect("its own encoding parses"), r);
    assert_eq!(
        parses_as(bytes),
        1,
        "{} record parses as another type",
        T::KIND
    );
    Some(r)
}

/// A contract whose columns are the feature set's source columns, all text (binding only
/// needs the names).
fn contract_for(doc: &FeatureSetDoc) -> Option<Contract> {
    let mut names: Vec<&str> = doc.features.iter().flat_map(|f| f.columns()).collect();
    names.sort_unstable();
    names.dedup();
    let columns: Vec<_> = names
        .iter()
        .map(|n| serde_json::json!({ "name": n, "type": "string" }))
        .collect();
    serde_json::from_value(serde_json::json!({ "name": "f", "version": 1, "columns": columns }))
        .ok()
}

fn feature_set(doc: &FeatureSetDoc) {
    if doc.check().is_err() {
        return;
    }
    let Some(contract) = contract_for(doc) else {
        return;
    };
    let bound = doc
        .bind(&contract)
        .expect("every column is in the contract");
    let n = contract.columns.len();
    for row in [
        vec![Value::Null; n],
        vec![Value::Text("a".into()); n],
        vec![Value::Int(1_795_439_109); n],
        vec![Value::Float(-2.5e300); n],
    ] {
        let mut out = Vec::new();
        doc.transform(&row, &bound, &mut out);
        assert_eq!(out.len(), doc.width(), "{row:?}");
        assert!(out.iter().all(|v| v.is_finite()), "{row:?}: {out:?}");
    }
}

/// A dataset record's drift summaries (a peer's, say): each either refused by its check or
/// usable, with finite measures, against current values at and beyond its range.
fn drift_summaries(doc: &DatasetDoc) {
    use airlock_core::drift::NumCurrent;
    use airlock_core::drift::numeric::Paired;
    for c in doc.profile.iter().flat_map(|p| &p.columns) {
        let Some(s) = &c.summary else { continue };
        if s.check(&c.name).is_err() {
            continue;
        }
        let layout = s.layout();
        let mut current = NumCurrent::default();
        for x in [s.min, s.max, (s.min + s.max) / 2.0, -1.7e308, 0.0, 1.7e308] {
            if x.is_finite() {
                current.add(&layout, x);
            }
        }
        let paired = Paired::new(s, &layout, &current);
        let (at_edges, upper) = paired.ks();
        assert!(at_edges <= upper);
        let (w, bound) = paired.wasserstein();
        assert!(!w.is_nan() && !bound.is_nan(), "{w} ± {bound}");
        let (r, k) = paired.binned(10);
        assert_eq!(r.len(), k.len());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    match pick % 9 {
        0 => {
            if let Some(c) = round_trip::<Contract>(bytes) {
                let _ = c.check("fuzz");
            }
        }
        1 => {
            if let Some(doc) = round_trip::<DatasetDoc>(bytes) {
                drift_summaries(&doc);
            }
        }
        2 => {
            if let Some(doc) = round_trip::<FeatureSetDoc>(bytes) {
                feature_set(&doc);
            }
        }
        3 => {
            round_trip::<GateReport>(bytes);
        }
        4 => {
            if let Some(a) = round_trip::<Approval>(bytes) {
                let _ = a.verify_operator();
                assert_eq!(a.provenance_inputs()[0].1, a.model);
            }
        }
        5 => {
            if let Some(d) = round_trip::<Deployment>(bytes) {
                assert_eq!(d.provenance_inputs().len(), 3 + d.approvals.len());
            }
        }
        6 => {
            if let Some(s) = round_trip::<Statement>(bytes) {
                let _ = s.check("fuzz");
            }
        }
        7 => {
            round_trip::<OperatorCert>(bytes);
        }
        _ => {
            if let Some(d) = round_trip::<ModelDescription>(bytes) {
                let _ = d.check();
            }
        }
    }
});
