//! Schema contracts and the rows checked against them: `Contract::from_toml` (a contract
//! an operator applies), the contract JSON a bundle carries (`serde_json` then
//! `Contract::check`, as import does), and a CSV file under an accepted contract, read both
//! by `Contract::scan_csv` (training's reader) and by the ingest `Checker`.
//!
//! Input layout:
//!
//! ```text
//! byte 0      bit 0: the document is JSON (else TOML)
//! then        the contract document, up to the first NUL byte
//! after NUL   a CSV file (optional), up to the next NUL byte
//! after NUL   a feature spec (TOML, optional), fit on the rows when scan_csv accepts them
//! ```
//!
//! Beyond "no panic": an accepted contract survives its own TOML and canonical JSON
//! unchanged and differs from itself in nothing; the two CSV readers agree (the file is
//! accepted by `scan_csv` exactly when the checker finds no cell or field-count violation
//! in at least one row, with the same row count), and the checker quarantines a row only
//! when it found something wrong with it. A feature set fit on accepted rows and passing its
//! check turns every one of those rows into a vector of exactly its width, all finite.

#![no_main]

use airlock_core::check::{Checker, MemorySpill, QuarantineSink, Rule};
use airlock_core::contract::{Contract, CsvRows, Value, diff};
use airlock_core::digest::Digest;
use airlock_core::features::{FEATURE_SET_TYPE, FeatureSetDoc, FeatureSpec, fit};
use libfuzzer_sys::fuzz_target;

/// Records the rows the checker quarantines.
#[derive(Default)]
struct Rows(Vec<u64>);

impl QuarantineSink for Rows {
    fn add(&mut self, row: u64, _: u64, problems: &str, _: &[&str]) -> airlock_core::Result<()> {
        assert!(
            !problems.is_empty(),
            "row {row} quarantined with no problem"
        );
        self.0.push(row);
        Ok(())
    }
}

const CELL_RULES: [Rule; 5] = [
    Rule::Fields,
    Rule::Type,
    Rule::Missing,
    Rule::Range,
    Rule::Category,
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (doc, csv) = match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let contract = if mode & 1 == 1 {
        let Ok(c) = serde_json::from_slice::<Contract>(doc) else {
            return;
        };
        if c.check("fuzz").is_err() {
            return;
        }
        c
    } else {
        let Ok(text) = std::str::from_utf8(doc) else {
            return;
        };
        let Ok(c) = Contract::from_toml(text, "fuzz") else {
            return;
        };
        c
    };

    // What was accepted is accepted again from its own renderings, unchanged.
    let toml = contract.to_toml();
    let again = Contract::from_toml(&toml, "to_toml").expect("its own TOML is a contract");
    assert_eq!(again, contract, "{toml}");
    let json = contract.to_canonical();
    let again: Contract = serde_json::from_slice(&json).expect("its own JSON parses");
    again
        .check("canonical")
        .expect("its own JSON is a contract");
    assert_eq!(again, contract);
    assert!(diff(&contract, &contract).is_empty());

    let Some(csv) = csv else {
        return;
    };
    let (csv, spec) = match csv.iter().position(|b| *b == 0) {
        Some(i) => (&csv[..i], Some(&csv[i + 1..])),
        None => (csv, None),
    };
    let mut rows = Vec::new();
    let scanned = contract.scan_csv(csv, "fuzz", &mut |_, row| {
        assert_eq!(row.len(), contract.columns.len());
        rows.push(row);
    });
    if scanned.is_ok()
        && let Some(spec) = spec.and_then(|s| std::str::from_utf8(s).ok())
    {
        features(&contract, &rows, spec);
    }

    let mut checker: Checker<'_, Rows> = Checker::new(
        &contract,
        None,
        Some(Rows::default()),
        Box::new(MemorySpill::default()),
        [7; 16],
    );
    let read = (|| -> airlock_core::Result<()> {
        let mut rows = CsvRows::open(&contract, csv, "fuzz")?;
        while let Some(r) = rows.next_record()? {
            checker.csv_record(&r)?;
        }
        Ok(())
    })();
    if read.is_err() {
        assert!(
            scanned.is_err(),
            "the checker could not read what scan_csv accepted"
        );
        return;
    }
    let (checked, quarantine) = checker.finish().expect("the checker finishes in memory");
    let counts = checked.tally.counts();
    let cell: u64 = CELL_RULES
        .iter()
        .map(|r| counts.get(r.name()).copied().unwrap_or(0))
        .sum();
    match &scanned {
        Ok(n) => {
            assert_eq!(
                cell, 0,
                "scan_csv accepted what the checker refused: {counts:?}"
            );
            assert_eq!(*n, checked.rows);
        }
        Err(e) => assert!(
            cell > 0 || checked.rows == 0,
            "scan_csv refused what the checker accepted: {e}"
        ),
    }
    let quarantined = quarantine.map(|q| q.0).unwrap_or_default();
    assert_eq!(
        quarantined.is_empty(),
        cell == 0,
        "quarantined rows {quarantined:?} against {cell} cell violations"
    );
    assert!(quarantined.len() as u64 <= cell);
    // Each row once, in file order. (`checked.rows` counts only the rows with the
    // contract's number of fields, so it does not bound these.)
    assert!(quarantined.first().is_none_or(|r| *r >= 1));
    assert!(
        quarantined.windows(2).all(|w| w[0] < w[1]),
        "{quarantined:?}"
    );
});

/// Fits `spec` on `rows`; a fitted feature set that passes its check must turn each row into
/// a vector of its width with finite values only.
fn features(contract: &Contract, rows: &[Vec<Value>], spec: &str) {
    let Ok(spec) = FeatureSpec::from_toml(spec, "fuzz") else {
        return;
    };
    let Ok(features) = fit(&spec, contract, rows, "fuzz") else {
        return;
    };
    let doc = FeatureSetDoc {
        ty: FEATURE_SET_TYPE.into(),
        site: "lab".parse().expect("a site name"),
        name: spec.name.clone(),
        version: 1,
        dataset: Digest::of(b"dataset"),
        contract: Digest::of(b"contract"),
        label: spec.label.clone(),
        positive: spec.positive.clone(),
        features,
    };
    if doc.check().is_err() {
        return;
    }
    let bound = doc
        .bind(contract)
        .expect("fit only uses the contract's columns");
    let mut out = Vec::new();
    for row in rows {
        out.clear();
        doc.transform(row, &bound, &mut out);
        assert_eq!(out.len(), doc.width());
        assert!(out.iter().all(|v| v.is_finite()), "{row:?}: {out:?}");
    }
}
