//! Feature sets: the training-serving skew test on the real German credit
//! data, point-in-time joins that never leak a later value, and the online
//! store (latest vector per entity, atomic version switch, lookups that
//! take no lock).

use std::fs;
use std::path::Path;

use airlock::contract::Value;
use airlock::node::home::Home;
use airlock::ops::contract::ContractSource;
use airlock::ops::features;
use airlock::ops::ingest::{self, IngestOptions};
use airlock::ops::train;

use crate::harness::{fails, ok};

pub const GERMAN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/german/german.data"
);

const COLUMNS: [&str; 21] = [
    "status",
    "duration",
    "credit_history",
    "purpose",
    "credit_amount",
    "savings",
    "present_employment",
    "installment_rate",
    "status_sex",
    "other_debtors",
    "present_residence_since",
    "property",
    "age",
    "installment_plans",
    "housing",
    "number_of_existing_credits",
    "job",
    "number_of_people_liable_for",
    "telephone",
    "foreign_worker",
    "credit",
];

/// A header-less, space-separated contract for german.data, with `?` as
/// missing; integer columns where the data is numeric, categories (taken
/// from the data itself) elsewhere; `age` nullable.
pub fn german_contract(rows: &[Vec<String>]) -> String {
    let mut c = String::from(
        "name = \"german\"\nversion = 1\nnull_tokens = [\"?\"]\n[csv]\nheader = false\ndelimiter = \" \"\n",
    );
    for (i, name) in COLUMNS.iter().enumerate() {
        let mut vals: Vec<&str> = rows
            .iter()
            .map(|r| r[i].as_str())
            .filter(|v| *v != "?")
            .collect();
        vals.sort();
        vals.dedup();
        if vals.iter().all(|v| v.bytes().all(|b| b.is_ascii_digit())) {
            c.push_str(&format!(
                "[[columns]]\nname = \"{name}\"\ntype = \"integer\"\nmin = 0\nnullable = {}\n",
                *name == "age"
            ));
        } else {
            let cats: Vec<String> = vals.iter().map(|v| format!("\"{v}\"")).collect();
            c.push_str(&format!(
                "[[columns]]\nname = \"{name}\"\ntype = \"category\"\ncategories = [{}]\n",
                cats.join(", ")
            ));
        }
    }
    c
}

const SPEC: &str = r#"
name = "german-features"
dataset = "german@1"
label = "credit"
positive = "2"

[[features]]
column = "duration"
transform = "standardize"

[[features]]
column = "credit_amount"
transform = "log1p"
scale = "standardize"

[[features]]
column = "age"
transform = "min_max"
impute = "median"
indicator = true

[[features]]
column = "age"
transform = "bucketize"
buckets = 4

[[features]]
column = "credit_amount"
transform = "ratio"
denominator = "duration"
clip = [0, 2000]
scale = "min_max"

[[features]]
column = "installment_rate"
transform = "clip"
clip = [1, 3]

[[features]]
column = "purpose"
transform = "one_hot"
max_categories = 5

[[features]]
column = "status_sex"
transform = "hashing"
buckets = 8

[[features]]
columns = ["housing", "job"]
transform = "cross"
buckets = 16

[[features]]
column = "savings"
transform = "one_hot"
impute = "oov"
"#;

/// Every row of the real dataset through the training path (snapshot ->
/// contract -> transform) and the serving path (a JSON request of the raw
/// cells -> the same contract rules -> transform): the vectors must be
/// bit-identical.
#[test]
fn training_and_serving_compute_bit_identical_vectors_for_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let raw = fs::read_to_string(GERMAN).unwrap();
    // Ten ages are missing, to exercise imputation on both paths.
    let rows: Vec<Vec<String>> = raw
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let mut r: Vec<String> = l.split(' ').map(str::to_string).collect();
            if i % 100 == 7 {
                r[12] = "?".into();
            }
            r
        })
        .collect();
    let file = dir.path().join("german.data");
    let text: Vec<String> = rows.iter().map(|r| r.join(" ")).collect();
    fs::write(&file, text.join("\n") + "\n").unwrap();
    let contract_file = dir.path().join("german.toml");
    fs::write(&contract_file, german_contract(&rows)).unwrap();

    let mut home = Home::init(&dir.path().join("home"), "lab".parse().unwrap()).unwrap();
    let ingested = ingest::ingest(
        &mut home,
        &file,
        "german",
        &ContractSource::File(contract_file),
        &IngestOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(ingested.rows, 1000);
    let applied = features::apply(&mut home, SPEC, "spec").unwrap();
    let fs_doc = features::load(&home, &applied.id).unwrap();

    // Training path: as `airlock train` computes it, streamed from the snapshot into the one
    // matrix; the same, bit for bit, as from the typed rows held whole.
    let loaded = ingest::load(&home, &"german@1".parse().unwrap()).unwrap();
    let mut task = airlock_runtime::Task::Binary;
    let (prepared, doc) =
        train::prepare_streamed(&home, &loaded.id, &fs_doc, &mut task, None).unwrap();
    assert_eq!(doc, loaded.doc);
    let held = train::prepare(&fs_doc, &loaded, &mut task, None).unwrap();
    assert_eq!(
        prepared.x, held.x,
        "streamed and held rows give the same matrix"
    );
    assert_eq!(prepared.y, held.y);
    assert_eq!(prepared.classes, held.classes);
    let (batch, labels) = (prepared.x, prepared.y);
    assert_eq!((batch.rows(), batch.cols()), (1000, fs_doc.width()));
    assert_eq!(
        labels.iter().filter(|y| **y == 1.0).count(),
        300,
        "300 bad credits"
    );

    // Serving path, one request per row.
    let bound = fs_doc.bind(&loaded.contract).unwrap();
    let mut checked = 0;
    for (i, r) in rows.iter().enumerate() {
        let obj: serde_json::Map<String, serde_json::Value> = COLUMNS
            .iter()
            .zip(r)
            .filter(|(c, _)| **c != "credit")
            .map(|(c, v)| (c.to_string(), serde_json::Value::String(v.clone())))
            .collect();
        let row = features::request_row(&loaded.contract, &fs_doc.label, &obj).unwrap();
        let mut served = Vec::new();
        fs_doc.transform(&row, &bound, &mut served);
        let trained = batch.row(i);
        assert_eq!(served.len(), trained.len());
        for (j, (a, b)) in served.iter().zip(trained).enumerate() {
            assert_eq!(
                a.to_bits(),
                b.to_bits(),
                "row {i}, slot {j}: serving {a} != training {b}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 1000);
    // The missing ages took the fitted median and set the indicator.
    assert_eq!(loaded.rows[7][12], Value::Null);
}

/// Feature rows and label rows with entities and event times. Customer c1
/// has a planted future row (value 9999, after every label time): it must
/// never appear in the training set.
fn pit_home(dir: &Path) -> std::path::PathBuf {
    let home = dir.join("home");
    ok(&home, &["init", "--site", "lab"]);
    fs::write(
        dir.join("feat.toml"),
        "name = \"acct\"\nversion = 1\nentity = \"customer\"\nevent_time = \"at\"\n\
         [[columns]]\nname = \"customer\"\ntype = \"string\"\n\
         [[columns]]\nname = \"at\"\ntype = \"timestamp\"\n\
         [[columns]]\nname = \"balance\"\ntype = \"float\"\n\
         [[columns]]\nname = \"default\"\ntype = \"integer\"\nnullable = true\n",
    )
    .unwrap();
    fs::write(
        dir.join("feat.csv"),
        "customer,at,balance,default\n\
         c1,2026-01-01T00:00:00Z,100,0\n\
         c2,2026-01-05T00:00:00Z,200,1\n\
         c1,2026-02-01T00:00:00Z,300,0\n\
         c1,2026-12-31T00:00:00Z,9999,1\n\
         c3,2026-03-01T00:00:00Z,50,\n",
    )
    .unwrap();
    fs::write(
        dir.join("labels.toml"),
        "name = \"outcomes\"\nversion = 1\nentity = \"customer\"\nevent_time = \"at\"\n\
         [[columns]]\nname = \"customer\"\ntype = \"string\"\n\
         [[columns]]\nname = \"at\"\ntype = \"timestamp\"\n\
         [[columns]]\nname = \"default\"\ntype = \"integer\"\n",
    )
    .unwrap();
    fs::write(
        dir.join("labels.csv"),
        "customer,at,default\n\
         c1,2025-12-31T00:00:00Z,0\n\
         c1,2026-01-01T00:00:00Z,0\n\
         c1,2026-01-15T00:00:00Z,1\n\
         c1,2026-06-01T00:00:00Z,0\n\
         c2,2026-01-04T23:59:59Z,1\n\
         c2,2026-02-01T00:00:00Z,1\n",
    )
    .unwrap();
    for (file, name, contract) in [
        ("feat.csv", "acct", "feat.toml"),
        ("labels.csv", "outcomes", "labels.toml"),
    ] {
        ok(
            &home,
            &[
                "data",
                "ingest",
                &dir.join(file).display().to_string(),
                "--dataset",
                name,
                "--contract",
                &dir.join(contract).display().to_string(),
            ],
        );
    }
    fs::write(
        dir.join("spec.toml"),
        "name = \"acct-features\"\ndataset = \"acct@1\"\nlabel = \"default\"\npositive = \"1\"\n\
         [[features]]\ncolumn = \"balance\"\ntransform = \"identity\"\n",
    )
    .unwrap();
    ok(
        &home,
        &[
            "features",
            "apply",
            &dir.join("spec.toml").display().to_string(),
        ],
    );
    home
}

#[test]
fn a_point_in_time_join_uses_only_values_known_at_each_label_time() {
    let dir = tempfile::tempdir().unwrap();
    let home = pit_home(dir.path());
    let out = dir.path().join("train.csv");
    let summary = ok(
        &home,
        &[
            "--json",
            "features",
            "join",
            "acct-features@1",
            "--labels",
            "outcomes@1",
            "--out",
            &out.display().to_string(),
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(v["rows"], 6);
    assert_eq!(v["without_history"], 2, "{v}");
    let text = fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "entity,label_time,feature_time,default,f0");
    // The mean balance (the fill for a label with no history) is
    // (100 + 200 + 300 + 9999 + 50) / 5 = 2129.8.
    assert_eq!(
        &lines[1..],
        [
            "c1,2025-12-31T00:00:00Z,,0,2129.8",
            "c1,2026-01-01T00:00:00Z,2026-01-01T00:00:00Z,0,100",
            "c1,2026-01-15T00:00:00Z,2026-01-01T00:00:00Z,1,100",
            "c1,2026-06-01T00:00:00Z,2026-02-01T00:00:00Z,0,300",
            "c2,2026-01-04T23:59:59Z,,1,2129.8",
            "c2,2026-02-01T00:00:00Z,2026-01-05T00:00:00Z,1,200",
        ]
    );
    assert!(
        !text.contains("9999"),
        "the planted future value leaked:\n{text}"
    );
    for l in &lines[1..] {
        let cells: Vec<&str> = l.split(',').collect();
        assert!(
            cells[2].is_empty() || cells[2] <= cells[1],
            "feature time after label time: {l}"
        );
    }
    // The output is never overwritten.
    fails(
        &home,
        &[
            "features",
            "join",
            "acct-features@1",
            "--labels",
            "outcomes@1",
            "--out",
            &out.display().to_string(),
        ],
        1,
        &["train.csv"],
    );
}

#[test]
fn the_online_store_serves_the_latest_row_per_entity_and_switches_versions_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let home = pit_home(dir.path());
    fails(
        &home,
        &["features", "get", "acct-features", "--entity", "c1"],
        6,
        &["no online store"],
    );
    let m = ok(
        &home,
        &["--json", "features", "materialize", "acct-features@1"],
    );
    let m: serde_json::Value = serde_json::from_str(&m).unwrap();
    assert_eq!(
        (m["rows"].as_u64(), m["entities"].as_u64()),
        (Some(5), Some(3))
    );
    let get = |set: &str, entity: &str| -> serde_json::Value {
        serde_json::from_str(&ok(
            &home,
            &["--json", "features", "get", set, "--entity", entity],
        ))
        .unwrap()
    };
    let c1 = get("acct-features@1", "c1");
    assert_eq!(
        c1["vector"],
        serde_json::json!([9999.0]),
        "the newest row by event time"
    );
    assert_eq!(c1["row"], 4);
    assert_eq!(
        get("acct-features", "c2")["vector"],
        serde_json::json!([200.0])
    );
    fails(
        &home,
        &["features", "get", "acct-features@1", "--entity", "nobody"],
        6,
        &["entity \"nobody\" is not in acct-features@1"],
    );

    // A reader holding version 1 keeps working across a new version.
    let reader = airlock::ops::online::OnlineReader::open(&home).unwrap();
    let v1 = reader.table(&"acct-features@1".parse().unwrap()).unwrap();
    fs::write(
        dir.path().join("spec2.toml"),
        "name = \"acct-features\"\ndataset = \"acct@1\"\nlabel = \"default\"\npositive = \"1\"\n\
         [[features]]\ncolumn = \"balance\"\ntransform = \"standardize\"\n",
    )
    .unwrap();
    ok(
        &home,
        &[
            "features",
            "apply",
            &dir.path().join("spec2.toml").display().to_string(),
        ],
    );
    ok(&home, &["features", "materialize", "acct-features@2"]);
    let again = reader.get(&v1, "c1").unwrap().unwrap();
    assert_eq!(again.vector, [9999.0]);
    let latest = get("acct-features", "c1");
    assert_eq!(
        latest["reference"], "acct-features@2",
        "the name now points at version 2"
    );
    assert_ne!(latest["vector"], serde_json::json!([9999.0]));
    assert_eq!(
        get("acct-features@1", "c1")["vector"],
        serde_json::json!([9999.0])
    );
    // Materializing version 1 again replaces its table; the held reader
    // follows it.
    ok(&home, &["features", "materialize", "acct-features@1"]);
    assert_eq!(reader.get(&v1, "c3").unwrap().unwrap().vector, [50.0]);

    // Lookups take no lock: they work while another command holds the home.
    let lock = fs::OpenOptions::new()
        .write(true)
        .open(home.join("lock"))
        .unwrap();
    lock.lock().unwrap();
    assert_eq!(
        get("acct-features@1", "c2")["vector"],
        serde_json::json!([200.0])
    );
    drop(lock);
}

/// The bulk load of `features materialize`: superseded rows are dropped
/// after the load (equal event times: the last row in the file wins;
/// integer keys in canonical form), a dataset of unique entities takes the
/// path without the delete, and a kill before the commit leaves the old
/// table whole and serving.
#[test]
fn a_bulk_materialization_keeps_the_newest_row_per_entity_and_a_killed_one_changes_nothing() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    ok(&home, &["init", "--site", "lab"]);
    fs::write(
        dir.path().join("ids.toml"),
        "name = \"ids\"\nversion = 1\nentity = \"id\"\nevent_time = \"at\"\n\
         [[columns]]\nname = \"id\"\ntype = \"integer\"\n\
         [[columns]]\nname = \"at\"\ntype = \"timestamp\"\n\
         [[columns]]\nname = \"v\"\ntype = \"float\"\n\
         [[columns]]\nname = \"y\"\ntype = \"integer\"\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("dup.csv"),
        "id,at,v,y\n\
         8,2026-01-01T00:00:00Z,1,0\n\
         9,2026-03-01T00:00:00Z,2,1\n\
         8,2026-01-01T00:00:00Z,3,0\n\
         9,2026-02-01T00:00:00Z,4,1\n\
         007,2026-01-01T00:00:00Z,5,0\n",
    )
    .unwrap();
    // Enough rows to cross several of the loader's batches.
    let mut unique =
        String::from("id,at,v,y\n8,2026-05-01T00:00:00Z,30,0\n9,2026-05-01T00:00:00Z,40,1\n");
    for i in 10..5010 {
        unique.push_str(&format!("{i},2026-05-01T00:00:00Z,{i},{}\n", i % 2));
    }
    fs::write(dir.path().join("unique.csv"), unique).unwrap();
    let mut snapshot = String::new();
    for file in ["dup.csv", "unique.csv"] {
        let v: serde_json::Value = serde_json::from_str(&ok(
            &home,
            &[
                "--json",
                "data",
                "ingest",
                &dir.path().join(file).display().to_string(),
                "--dataset",
                "ids",
                "--contract",
                &dir.path().join("ids.toml").display().to_string(),
            ],
        ))
        .unwrap();
        snapshot = v["snapshot"].as_str().unwrap().to_string();
    }
    fs::write(
        dir.path().join("spec.toml"),
        "name = \"ids-features\"\ndataset = \"ids@1\"\nlabel = \"y\"\npositive = \"1\"\n\
         [[features]]\ncolumn = \"v\"\ntransform = \"identity\"\n",
    )
    .unwrap();
    ok(
        &home,
        &[
            "features",
            "apply",
            &dir.path().join("spec.toml").display().to_string(),
        ],
    );
    let m: serde_json::Value = serde_json::from_str(&ok(
        &home,
        &["--json", "features", "materialize", "ids-features@1"],
    ))
    .unwrap();
    assert_eq!(
        (m["rows"].as_u64(), m["entities"].as_u64()),
        (Some(5), Some(3))
    );
    let get = |entity: &str| -> serde_json::Value {
        serde_json::from_str(&ok(
            &home,
            &[
                "--json",
                "features",
                "get",
                "ids-features@1",
                "--entity",
                entity,
            ],
        ))
        .unwrap()
    };
    assert_eq!(
        get("8")["vector"],
        serde_json::json!([3.0]),
        "equal times: the last row in the file"
    );
    assert_eq!(get("8")["row"], 3);
    assert_eq!(
        get("9")["vector"],
        serde_json::json!([2.0]),
        "the newest time"
    );
    assert_eq!(
        get("07")["vector"],
        serde_json::json!([5.0]),
        "integer keys canonical"
    );

    // Killed after the new table is loaded and indexed, before the commit.
    let out = std::process::Command::new(crate::harness::bin())
        .arg("--home")
        .arg(&home)
        .args([
            "features",
            "materialize",
            "ids-features@1",
            "--from",
            "ids@2",
        ])
        .env("AIRLOCK_FAILPOINT", "materialize.loaded")
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(9), "{out:?}");
    assert_eq!(get("8")["vector"], serde_json::json!([3.0]));
    assert_eq!(get("7")["vector"], serde_json::json!([5.0]));

    // Unique entities: the new table replaces the old one whole.
    let m: serde_json::Value = serde_json::from_str(&ok(
        &home,
        &[
            "--json",
            "features",
            "materialize",
            "ids-features@1",
            "--from",
            "ids@2",
        ],
    ))
    .unwrap();
    assert_eq!(
        (m["rows"].as_u64(), m["entities"].as_u64()),
        (Some(5002), Some(5002))
    );
    assert_eq!(get("8")["vector"], serde_json::json!([30.0]));
    assert_eq!(get("9")["vector"], serde_json::json!([40.0]));
    for i in [10, 2047, 2048, 4097, 5009] {
        let hit = get(&i.to_string());
        assert_eq!(hit["vector"], serde_json::json!([f64::from(i)]));
        assert_eq!(hit["row"], i - 7);
    }
    fails(
        &home,
        &["features", "get", "ids-features@1", "--entity", "7"],
        6,
        &["entity \"7\" is not in ids-features@1"],
    );

    // A snapshot that breaks off part way: the reading thread fails after
    // rows went to the writer, which writes nothing; the table stays.
    let object = home
        .join("vault/objects")
        .join(&snapshot[..2])
        .join(format!("{snapshot}.age"));
    let bytes = fs::read(&object).unwrap();
    fs::write(&object, &bytes[..bytes.len() * 3 / 4]).unwrap();
    let out = std::process::Command::new(crate::harness::bin())
        .arg("--home")
        .arg(&home)
        .args([
            "features",
            "materialize",
            "ids-features@1",
            "--from",
            "ids@2",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&snapshot[..8]) || err.contains("vault object"),
        "{err}"
    );
    assert_eq!(get("5009")["vector"], serde_json::json!([5009.0]));
    assert_eq!(get("8")["vector"], serde_json::json!([30.0]));
}

#[test]
fn a_refused_feature_spec_is_audited_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = pit_home(dir.path());
    let before = crate::harness::store_fingerprint(&home);
    fs::write(
        dir.path().join("bad.toml"),
        "name = \"acct-features\"\ndataset = \"acct@1\"\nlabel = \"default\"\npositive = \"1\"\n\
         [[features]]\ncolumn = \"balance\"\ntransform = \"log1p\"\n",
    )
    .unwrap();
    fails(
        &home,
        &[
            "features",
            "apply",
            &dir.path().join("bad.toml").display().to_string(),
        ],
        3,
        &["log1p needs every value above -1"],
    );
    assert_eq!(crate::harness::store_fingerprint(&home), before);
    let (action, details) = crate::harness::last_audit(&home);
    assert_eq!(action, "features.refused");
    assert_eq!(details["spec"], "bad.toml");
    assert!(
        details["reason"].as_str().unwrap().contains("log1p"),
        "{details}"
    );
}

/// `airlock train` labels rows as the snapshot streams: a multiclass label whose contract
/// lists no categories gets its classes in sorted order whatever order the rows show them
/// in, a binary label's negative class is the one other value seen, and a missing label is
/// refused naming its row; the same as from the typed rows held whole.
#[test]
fn streamed_training_rows_get_the_same_labels_and_classes_as_rows_held_whole() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pets.csv");
    let labels = ["dog", "cat", "eel", "cat", "dog", "bee", "eel", "cat"];
    let mut text = String::from("x,pet\n");
    for (i, l) in labels.iter().enumerate() {
        text.push_str(&format!("{}.5,{l}\n", i));
    }
    fs::write(&file, &text).unwrap();
    let contract = dir.path().join("pets.toml");
    fs::write(
        &contract,
        "name = \"pets\"\nversion = 1\nnull_tokens = [\"\"]\n\n[[columns]]\nname = \"x\"\ntype = \"float\"\n\n\
         [[columns]]\nname = \"pet\"\ntype = \"string\"\nnullable = true\n",
    )
    .unwrap();
    let mut home = Home::init(&dir.path().join("home"), "lab".parse().unwrap()).unwrap();
    let ingest_file = |home: &mut Home, name: &str, path: &Path| {
        ingest::ingest(
            home,
            path,
            name,
            &ContractSource::File(contract.clone()),
            &IngestOptions::default(),
            &mut |_| {},
        )
        .unwrap()
    };
    ingest_file(&mut home, "pets", &file);
    let spec = |positive: &str, dataset: &str| {
        format!(
            "name = \"pet-{}\"\ndataset = \"{dataset}\"\nlabel = \"pet\"\npositive = \"{positive}\"\n\n\
             [[features]]\ncolumn = \"x\"\ntransform = \"identity\"\n",
            if positive.is_empty() { "any" } else { positive }
        )
    };
    let multi = features::apply(&mut home, &spec("", "pets@1"), "spec").unwrap();
    let multi = features::load(&home, &multi.id).unwrap();
    let loaded = ingest::load(&home, &"pets@1".parse().unwrap()).unwrap();

    let mut task = airlock_runtime::Task::Multiclass { classes: 0 };
    let (streamed, _) =
        train::prepare_streamed(&home, &loaded.id, &multi, &mut task, Some("pet")).unwrap();
    assert_eq!(task, airlock_runtime::Task::Multiclass { classes: 4 });
    assert_eq!(streamed.classes, ["bee", "cat", "dog", "eel"]);
    assert_eq!(streamed.y, [2.0, 1.0, 3.0, 1.0, 2.0, 0.0, 3.0, 1.0]);
    assert_eq!(streamed.x.row(7), &[7.5]);
    let mut task = airlock_runtime::Task::Multiclass { classes: 0 };
    let held = train::prepare(&multi, &loaded, &mut task, Some("pet")).unwrap();
    assert_eq!(
        (&held.x, &held.y, &held.classes, &held.slices),
        (
            &streamed.x,
            &streamed.y,
            &streamed.classes,
            &streamed.slices
        )
    );

    // Binary on two values: the negative class is the other one seen.
    let two = dir.path().join("two.csv");
    fs::write(&two, "x,pet\n1,cat\n2,dog\n3,cat\n4,cat\n").unwrap();
    ingest_file(&mut home, "two", &two);
    let binary = features::apply(&mut home, &spec("dog", "two@1"), "spec").unwrap();
    let binary = features::load(&home, &binary.id).unwrap();
    let loaded = ingest::load(&home, &"two@1".parse().unwrap()).unwrap();
    let mut task = airlock_runtime::Task::Binary;
    let (streamed, _) =
        train::prepare_streamed(&home, &loaded.id, &binary, &mut task, None).unwrap();
    assert_eq!(streamed.classes, ["cat", "dog"]);
    assert_eq!(streamed.y, [0.0, 1.0, 0.0, 0.0]);
    // On the four-pet dataset the negative class is several values, named as such.
    let pets = ingest::load(&home, &"pets@1".parse().unwrap()).unwrap();
    let (streamed, _) = train::prepare_streamed(&home, &pets.id, &binary, &mut task, None).unwrap();
    assert_eq!(streamed.classes, ["not dog", "dog"]);
    assert_eq!(streamed.y, [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]);

    // A missing label is refused, naming its row.
    let gap = dir.path().join("gap.csv");
    fs::write(&gap, "x,pet\n1,cat\n2,\n3,dog\n").unwrap();
    ingest_file(&mut home, "gap", &gap);
    let gap = ingest::load(&home, &"gap@1".parse().unwrap()).unwrap();
    for mut task in [
        airlock_runtime::Task::Binary,
        airlock_runtime::Task::Multiclass { classes: 0 },
    ] {
        let fs_doc = if task == airlock_runtime::Task::Binary {
            &binary
        } else {
            &multi
        };
        let err = train::prepare_streamed(&home, &gap.id, fs_doc, &mut task, None)
            .err()
            .expect("a missing label is refused")
            .to_string();
        assert!(err.contains("row 2"), "{err}");
    }
}
