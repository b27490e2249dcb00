//! The library called directly, as the demo and the coming console call it,
//! not through the `airlock` binary: the records the README promises are
//! appended by the library functions themselves.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use airlock::bundle::export::{self, Authority, ExportOptions, Item};
use airlock::bundle::import::{self, ImportOptions};
use airlock::error::exit;
use airlock::node::home::Home;
use airlock::node::time::{Clock, SetClock, Timestamp};
use airlock::ops::contract::ContractSource;
use airlock::ops::features;
use airlock::ops::ingest::{self, IngestOptions};
use airlock::ops::serve::{self, ServeOptions};
use airlock::site::SiteCard;
use airlock::trust;
use airlock::trust::personal::PassSource;
use airlock_core::error::DataError;

use crate::harness::{World, audit_count, last_audit, store_fingerprint};

fn card(w: &World, site: &str) -> SiteCard {
    let path = w.media(&format!("{site}.card.json"));
    SiteCard::parse(&std::fs::read(&path).unwrap(), "card").unwrap()
}

fn options() -> ExportOptions<'static> {
    ExportOptions {
        with_data: false,
        expires_in_days: 30,
        split: None,
        operator: Authority::Nobody,
    }
}

#[test]
fn serve_prepare_records_model_serve_in_the_audit_log() {
    let w = World::new();
    let socket = w.media("plant.sock");
    let opts = |max_connections| ServeOptions {
        socket: socket.clone(),
        allow_uids: BTreeSet::new(),
        max_connections,
        max_request_bytes: 4096,
        max_connections_per_uid: 1,
        request_timeout: std::time::Duration::from_secs(10),
        idle_timeout: std::time::Duration::from_secs(60),
        monitor: None,
    };

    // Bad options: refused before anything is opened or recorded.
    let before = audit_count(&w.plant());
    {
        let mut home = Home::open(&w.plant()).unwrap();
        let e = serve::prepare(&mut home, "production", None, opts(0))
            .err()
            .expect("0 connections refused");
        assert_eq!(e.exit_code(), exit::REJECTED, "{e}");
    }
    assert_eq!(audit_count(&w.plant()), before);

    let mut home = Home::open(&w.plant()).unwrap();
    let prepared = serve::prepare(&mut home, "production", None, opts(4)).unwrap();
    drop(home);
    let me = nix::unistd::geteuid().as_raw();
    assert_eq!(
        prepared.options().allow_uids,
        BTreeSet::from([me]),
        "an empty allow list means the uid serving"
    );
    let (action, details) = last_audit(&w.plant());
    assert_eq!(action, "model.serve", "{details}");
    assert_eq!(details["slot"], "production");
    assert_eq!(details["socket"], socket.display().to_string());
    assert_eq!(details["allow_uids"], serde_json::json!([me]));
    assert_eq!(details["feature_set"], "credit-features@1");
    assert_eq!(audit_count(&w.plant()), before + 1);
    assert_eq!(prepared.model().hex(), w.model());
}

#[test]
fn export_refusals_are_recorded_by_the_library() {
    let w = World::new();
    let model = w.model();

    // A target that exists (setup mode at lab: no operator needed).
    let taken = w.media("taken.airlock");
    std::fs::write(&taken, b"not a bundle").unwrap();
    let before = store_fingerprint(&w.lab());
    let mut lab = Home::open(&w.lab()).unwrap();
    let e = export::export(
        &mut lab,
        &card(&w, "plant"),
        &[Item::Model(model.clone())],
        options(),
        &taken,
        &mut |_, _| {},
    )
    .expect_err("an existing target is refused");
    drop(lab);
    let (action, details) = last_audit(&w.lab());
    assert_eq!(action, "bundle.export_refused", "{details}");
    assert!(
        details["reason"]
            .as_str()
            .unwrap()
            .contains("already exists"),
        "{details} / {e}"
    );
    assert_eq!(store_fingerprint(&w.lab()), before);

    // Under plant's policy an export needs an operator holding `export`:
    // none at all, and omar (approve, deploy) unlocked by the library, are
    // both refused and recorded, for a model and for the audit log alike.
    let out = w.media("from-plant.airlock");
    let omar = || Authority::Unlock {
        name: "omar".into(),
        pass: PassSource::File(w.media("omar.pass")),
    };
    for (who, audit_log) in [
        (Authority::Nobody, false),
        (omar(), false),
        (Authority::Nobody, true),
        (omar(), true),
    ] {
        let described = format!("{who:?} audit_log={audit_log}");
        let before = audit_count(&w.plant());
        let mut plant = Home::open(&w.plant()).unwrap();
        let opts = ExportOptions {
            operator: who,
            ..options()
        };
        let r = if audit_log {
            export::export_audit(&mut plant, &card(&w, "lab"), opts, &out, &mut |_, _| {})
        } else {
            export::export(
                &mut plant,
                &card(&w, "lab"),
                &[Item::Model(model.clone())],
                opts,
                &out,
                &mut |_, _| {},
            )
        };
        drop(plant);
        let e = r.expect_err(&described);
        assert_eq!(e.exit_code(), exit::REFUSED, "{described}: {e}");
        assert!(e.to_string().contains("export"), "{described}: {e}");
        let (action, details) = last_audit(&w.plant());
        assert_eq!(action, "bundle.export_refused", "{described}: {details}");
        assert_eq!(audit_count(&w.plant()), before + 1, "{described}");
        assert!(!out.exists(), "{described}");
    }
}

/// id (key), age (integer 18..=100), housing (category own|rent).
const PEOPLE: &str = r#"
name = "people"
version = 1
key = ["id"]
[[columns]]
name = "id"
type = "integer"
[[columns]]
name = "age"
type = "integer"
min = 18
max = 100
[[columns]]
name = "housing"
type = "category"
categories = ["own", "rent"]
"#;

/// A home for site `name` made by the library in `dir` (no binary, no demo),
/// and its site card.
fn library_site(dir: &Path, name: &str) -> (PathBuf, SiteCard) {
    let root = dir.join(name);
    let home = Home::init(&root, name.parse().unwrap()).unwrap();
    let bytes = SiteCard::render(home.site(), home.keys(), home.now()).unwrap();
    (root, SiteCard::parse(&bytes, "card").unwrap())
}

/// Writes the people contract and the file `file` holding `text` into `dir`;
/// returns (contract, file).
fn people_files(dir: &Path, file: &str, text: &str) -> (PathBuf, PathBuf) {
    let contract = dir.join("people.toml");
    std::fs::write(&contract, PEOPLE).unwrap();
    let csv = dir.join(file);
    std::fs::write(&csv, text).unwrap();
    (contract, csv)
}

/// `data ingest FILE --dataset people --contract people.toml`, as the CLI calls it.
fn ingest(home: &Path, csv: &Path, contract: &Path) -> airlock::Result<ingest::Ingested> {
    let mut home = Home::open(home).unwrap();
    ingest::ingest(
        &mut home,
        csv,
        "people",
        &ContractSource::File(contract.to_path_buf()),
        &IngestOptions {
            quarantine: None,
            format: None,
        },
        &mut |_| {},
    )
}

#[test]
fn ingest_refusals_are_recorded_by_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let (lab, _) = library_site(dir.path(), "lab");
    // A cell that breaks the contract (age 7), a header that is not the
    // contract's, a file without even a header, a header without rows: each
    // refusal is recorded, with its kind.
    for (file, text, needle, reason) in [
        (
            "young.csv",
            "id,age,housing\n1,30,own\n2,7,rent\n",
            "age",
            None,
        ),
        (
            "header.csv",
            "id,years,housing\n1,30,own\n",
            "does not match contract",
            Some("the header or schema does not match the contract"),
        ),
        ("empty.csv", "", "the file is empty", Some("no data rows")),
        (
            "header-only.csv",
            "id,age,housing\n",
            "no data rows",
            Some("no data rows"),
        ),
    ] {
        let (contract, csv) = people_files(dir.path(), file, text);
        let before = (store_fingerprint(&lab), audit_count(&lab));
        let e = ingest(&lab, &csv, &contract).expect_err(file);
        assert_eq!(e.exit_code(), exit::REJECTED, "{file}: {e}");
        assert!(e.to_string().contains(needle), "{file}: {e}");
        assert_eq!(store_fingerprint(&lab), before.0, "{file}: nothing stored");
        assert_eq!(audit_count(&lab), before.1 + 1, "{file}: one record");
        let (action, details) = last_audit(&lab);
        assert_eq!(action, "data.refused", "{file}: {details}");
        assert_eq!(details["dataset"], "people", "{details}");
        assert_eq!(details["source"], file, "{details}");
        match reason {
            Some(r) => assert_eq!(details["reason"], r, "{details}"),
            None => assert!(details["violations"].is_object(), "{details}"),
        }
        // A refusal before the rows are checked keeps its cause for the caller.
        let cause_kept = match file {
            "header.csv" => matches!(&e,
                airlock::Error::Data(DataError::HeaderMismatch { contract, .. }) if contract == "people"),
            "empty.csv" => matches!(&e, airlock::Error::Data(DataError::EmptyFile { .. })),
            "header-only.csv" => matches!(&e, airlock::Error::Data(DataError::NoDataRows { .. })),
            _ => matches!(&e, airlock::Error::Rejected(_)),
        };
        assert!(cause_kept, "{file}: {e:?}");
    }
}

#[test]
fn feature_spec_refusals_are_recorded_by_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let (lab, _) = library_site(dir.path(), "lab");
    let (contract, csv) = people_files(
        dir.path(),
        "people.csv",
        "id,age,housing\n1,30,own\n2,40,rent\n",
    );
    ingest(&lab, &csv, &contract).unwrap();
    let spec = "name = \"people-features\"\ndataset = \"people@1\"\nlabel = \"salary\"\npositive = \"1\"\n\
                [[features]]\ncolumn = \"age\"\ntransform = \"standardize\"\n";
    let before = (store_fingerprint(&lab), audit_count(&lab));
    let mut home = Home::open(&lab).unwrap();
    // As `features apply SPEC` calls it: the spec's text and its file name.
    let e = features::apply(&mut home, spec, "specs/bad.toml").expect_err("no such label");
    drop(home);
    assert_eq!(e.exit_code(), exit::REJECTED, "{e}");
    assert!(e.to_string().contains("label column \"salary\""), "{e}");
    assert_eq!(store_fingerprint(&lab), before.0, "nothing stored");
    assert_eq!(audit_count(&lab), before.1 + 1, "one record");
    let (action, details) = last_audit(&lab);
    assert_eq!(action, "features.refused", "{details}");
    assert_eq!(details["spec"], "bad.toml", "{details}");
    assert!(
        details["reason"].as_str().unwrap().contains("salary"),
        "{details}"
    );
}

#[test]
fn bundle_import_refusals_are_recorded_by_the_library_at_the_homes_clock() {
    let dir = tempfile::tempdir().unwrap();
    let (lab, lab_card) = library_site(dir.path(), "lab");
    let (plant, plant_card) = library_site(dir.path(), "plant");
    trust::add(&mut Home::open(&lab).unwrap(), &plant_card).unwrap();
    trust::add(&mut Home::open(&plant).unwrap(), &lab_card).unwrap();
    let (contract, csv) = people_files(
        dir.path(),
        "people.csv",
        "id,age,housing\n1,30,own\n2,40,rent\n",
    );
    ingest(&lab, &csv, &contract).unwrap();
    let file = dir.path().join("people.airlock");
    let made = {
        let mut home = Home::open(&lab).unwrap();
        export::export(
            &mut home,
            &plant_card,
            &[Item::Dataset("people@1".parse().unwrap())],
            options(),
            &file,
            &mut |_, _| {},
        )
        .unwrap()
    };
    let expires = made.expires_at;
    let created = Timestamp(expires.0 - 30 * 86_400);

    // The library decides freshness by the home's clock: one second past the
    // expiry, and more than a day before the bundle was made, it refuses.
    for (at, needle) in [
        (Timestamp(expires.0 + 1), "expired at"),
        (
            Timestamp(created.0 - 86_400 - 1),
            "more than a day after this node's clock",
        ),
    ] {
        let before = (store_fingerprint(&plant), audit_count(&plant));
        let clock = Clock::from(SetClock::new(at));
        let mut home = Home::open_with_clock(&plant, clock).unwrap();
        let e = import::import(&mut home, &file, ImportOptions::default(), &mut |_, _| {})
            .expect_err(needle);
        drop(home);
        assert_eq!(e.exit_code(), exit::REFUSED, "{at}: {e}");
        assert!(e.to_string().contains(needle), "{at}: {e}");
        assert_eq!(store_fingerprint(&plant), before.0, "{at}: nothing stored");
        assert_eq!(audit_count(&plant), before.1 + 1, "{at}: one record");
        let (action, details) = last_audit(&plant);
        assert_eq!(action, "bundle.import_refused", "{at}: {details}");
        assert_eq!(details["file"], file.display().to_string(), "{details}");
        assert_eq!(details["exit"], exit::REFUSED, "{details}");
        assert!(
            details["reason"].as_str().unwrap().contains(needle),
            "{details}"
        );
        let record = Home::open_read_only(&plant)
            .unwrap()
            .audit_log()
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(record.time, at, "the record is dated by the home's clock");
    }

    // At the bundle's own time it is accepted: the refusals held nothing back.
    let mut home = Home::open_with_clock(&plant, SetClock::new(created).into()).unwrap();
    let imported = import::import(&mut home, &file, ImportOptions::default(), &mut |_, _| {})
        .expect("fresh at its creation time");
    drop(home);
    assert_eq!(imported.bundle, made.bundle);
    assert_eq!(last_audit(&plant).0, "bundle.import");
}
