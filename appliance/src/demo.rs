//! `airlock demo`: two sites, "lab" and "plant", through the whole path on
//! a deterministic synthetic credit dataset.
//!
//! The demo calls the same library functions as the individual commands.
//! The inputs it writes into `media/` (the CSV, its contract, the feature
//! spec, the requests) double as examples of those formats.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use airlock_runtime::{Arch, DeviceChoice, TrainConfig};

use crate::bundle::{export, import};
use crate::error::{Error, IoContext, Result};
use crate::node::fsx;
use crate::node::home::Home;
use crate::ops::contract;
use crate::ops::features;
use crate::ops::ingest;
use crate::ops::predict::Predicted;
use crate::ops::train;
use crate::site::SiteCard;
use crate::store::audit;
use crate::trust;
use crate::trust::operator;
use crate::trust::personal::{PassSource, Passphrase};
use crate::trust::policy::{self, Role};

/// scrypt work factor (log2 N) of the demo's throwaway keys.
const DEMO_LOG_N: u8 = 12;

/// A random passphrase, written to `path` (0600) for the operator to use
/// with `--passphrase-file` on the demo homes.
fn write_pass(path: &Path) -> Result<Passphrase> {
    let mut raw = zeroize::Zeroizing::new([0u8; 18]);
    getrandom::fill(raw.as_mut())
        .map_err(|e| Error::io("/dev/urandom", std::io::Error::other(e.to_string())))?;
    let text = zeroize::Zeroizing::new(format!("demo-{}", hex::encode(&raw[..])));
    fsx::write_new(path, format!("{}\n", text.as_str()).as_bytes())?;
    Ok(Passphrase::new(text.to_string()))
}

/// Rows in the synthetic dataset.
pub const ROWS: usize = 3000;

/// The demo's seeded generator (splitmix64): the demo data must be
/// identical on every machine.
struct Rng(crate::sketch::SplitMix);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn pick<'a>(&mut self, items: &[(&'a str, f64)]) -> &'a str {
        let total: f64 = items.iter().map(|i| i.1).sum();
        let mut x = self.unit() * total;
        for (name, w) in items {
            if x < *w {
                return name;
            }
            x -= w;
        }
        items[items.len() - 1].0
    }
    fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-12);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// The demo's contract (also an example of the format).
pub const CONTRACT: &str = r#"# Schema contract for the demo credit dataset.
name = "credit"
version = 1
null_tokens = ["", "NA"]

[[columns]]
name = "applicant_id"
type = "string"

[[columns]]
name = "age"
type = "integer"
min = 18
max = 100

[[columns]]
name = "income"
type = "float"
nullable = true
min = 0

[[columns]]
name = "loan_amount"
type = "float"
min = 100
max = 100000

[[columns]]
name = "term_months"
type = "integer"
min = 6
max = 120

[[columns]]
name = "employment"
type = "category"
nullable = true
categories = ["employed", "self_employed", "unemployed", "retired"]

[[columns]]
name = "housing"
type = "category"
categories = ["own", "rent", "mortgage"]

[[columns]]
name = "purpose"
type = "category"
categories = ["car", "home", "education", "business", "other"]

[[columns]]
name = "prior_defaults"
type = "integer"
min = 0
max = 20

# Sensitive attribute: kept for fairness audits, never a feature.
[[columns]]
name = "sex"
type = "category"
categories = ["female", "male"]

[[columns]]
name = "default"
type = "integer"
min = 0
max = 1
"#;

/// The demo's feature spec (also an example of the format).
pub const FEATURES: &str = r#"# Feature set for the demo credit model. Parameters are fit on the dataset
# and frozen into the version; serving uses exactly the same numbers.
name = "credit-features"
dataset = "credit"
label = "default"
positive = "1"

[[features]]
column = "age"
transform = "standardize"

[[features]]
column = "income"
transform = "standardize"
impute = "median"

[[features]]
column = "loan_amount"
transform = "standardize"

[[features]]
column = "term_months"
transform = "standardize"

[[features]]
column = "prior_defaults"
transform = "standardize"

[[features]]
column = "employment"
transform = "one_hot"
impute = "mode"

[[features]]
column = "housing"
transform = "one_hot"

[[features]]
column = "purpose"
transform = "one_hot"
"#;

/// A deterministic synthetic credit dataset: CSV text with a header.
pub fn credit_csv(rows: usize, seed: u64) -> String {
    let mut rng = Rng(crate::sketch::SplitMix(seed));
    let mut out = String::from(
        "applicant_id,age,income,loan_amount,term_months,employment,housing,purpose,prior_defaults,sex,default\n",
    );
    for i in 0..rows {
        let age = (18.0 + rng.unit() * 62.0) as i64;
        let employment = rng.pick(&[
            ("employed", 0.62),
            ("self_employed", 0.14),
            ("unemployed", 0.09),
            ("retired", 0.15),
        ]);
        let base = match employment {
            "employed" => 52_000.0,
            "self_employed" => 48_000.0,
            "unemployed" => 14_000.0,
            _ => 30_000.0,
        };
        let income = (base * (0.35 * rng.normal()).exp()).round();
        let loan = (1_000.0 + rng.unit() * 39_000.0).round();
        let term = [12, 24, 36, 48, 60][(rng.next() % 5) as usize];
        let housing = rng.pick(&[("own", 0.3), ("rent", 0.4), ("mortgage", 0.3)]);
        let purpose = rng.pick(&[
            ("car", 0.3),
            ("home", 0.2),
            ("education", 0.15),
            ("business", 0.15),
            ("other", 0.2),
        ]);
        let prior = (rng.unit() * rng.unit() * 5.0) as i64;
        let sex = rng.pick(&[("female", 0.5), ("male", 0.5)]);
        let logit = -2.2 + 2.6 * (loan / income).min(3.0) + 0.8 * prior as f64
            - 0.02 * (age as f64 - 40.0)
            + match employment {
                "unemployed" => 1.1,
                "self_employed" => 0.35,
                _ => 0.0,
            }
            + if housing == "rent" { 0.3 } else { 0.0 }
            + if term >= 48 { 0.25 } else { 0.0 }
            + 0.3 * rng.normal();
        let default = u8::from(rng.unit() < 1.0 / (1.0 + (-logit).exp()));
        // Some values are missing, as in real files.
        let income_cell = if rng.unit() < 0.05 {
            "NA".to_string()
        } else {
            format!("{income}")
        };
        let employment_cell = if rng.unit() < 0.03 { "" } else { employment };
        let _ = writeln!(
            out,
            "A{:05},{age},{income_cell},{loan},{term},{employment_cell},{housing},{purpose},{prior},{sex},{default}",
            i + 1
        );
    }
    out
}

/// Requests the plant scores at the end of the demo.
pub const REQUESTS: &str = r#"{"applicant_id": "P00001", "age": 34, "income": 61000, "loan_amount": 8000, "term_months": 24, "employment": "employed", "housing": "own", "purpose": "car", "prior_defaults": 0, "sex": "female"}
{"applicant_id": "P00002", "age": 23, "income": 15000, "loan_amount": 30000, "term_months": 60, "employment": "unemployed", "housing": "rent", "purpose": "business", "prior_defaults": 3, "sex": "male"}
{"applicant_id": "P00003", "age": 58, "income": null, "loan_amount": 12000, "term_months": 36, "employment": "retired", "housing": "mortgage", "purpose": "home", "prior_defaults": 1, "sex": "female"}
{"applicant_id": "P00004", "age": 41, "income": 47000, "loan_amount": 22000, "term_months": 48, "employment": null, "housing": "rent", "purpose": "education", "prior_defaults": 0, "sex": "male"}
{"applicant_id": "P00005", "age": 29, "income": 38000, "loan_amount": 5000, "term_months": 12, "employment": "self_employed", "housing": "own", "purpose": "other", "prior_defaults": 0, "sex": "female"}
"#;

/// What the demo did.
#[derive(Clone, Debug, Serialize)]
pub struct DemoReport {
    /// Where the homes and media are (removed afterwards unless kept).
    pub workdir: String,
    /// The model trained at lab and deployed at plant.
    pub model: String,
    /// Its held-out ROC AUC at lab.
    pub holdout_auc: f64,
    /// The bundle carried from lab to plant.
    pub bundle: String,
    /// Audit records verified at lab and at plant.
    pub audit_records: (usize, usize),
    /// The plant's predictions.
    pub predictions: Predicted,
}

/// Runs the demo in `workdir` (which must not exist or be empty), telling
/// `say` about each step.
pub fn run(workdir: &Path, say: &mut dyn FnMut(&str)) -> Result<DemoReport> {
    if workdir.exists() && std::fs::read_dir(workdir).at(workdir)?.next().is_some() {
        return Err(Error::Refused(format!(
            "{} is not empty; give the demo a new folder",
            workdir.display()
        )));
    }
    fsx::create_private_dir(workdir)?;
    let media = workdir.join("media");
    fsx::create_private_dir(&media)?;
    let p = |name: &str| -> PathBuf { media.join(name) };

    let mut lab = Home::init(&workdir.join("lab"), "lab".parse()?)?;
    let mut plant = Home::init(&workdir.join("plant"), "plant".parse()?)?;
    say(&format!(
        "init      sites lab (key {}) and plant (key {})",
        lab.keys().key_id(),
        plant.keys().key_id()
    ));

    fsx::write_new(
        &p("lab.card.json"),
        &SiteCard::render(lab.site(), lab.keys(), lab.now())?,
    )?;
    fsx::write_new(
        &p("plant.card.json"),
        &SiteCard::render(plant.site(), plant.keys(), plant.now())?,
    )?;
    let lab_card = SiteCard::parse(
        &std::fs::read(p("lab.card.json")).at(p("lab.card.json"))?,
        "lab.card.json",
    )?;
    let plant_card = SiteCard::parse(
        &std::fs::read(p("plant.card.json")).at(p("plant.card.json"))?,
        "plant.card.json",
    )?;
    trust::add(&mut lab, &plant_card)?;
    say("trust     lab trusts plant's card");

    // Plant is governed by a trust policy signed by its offline root key
    // (here a folder standing in for the removable media). The demo's keys
    // are throwaway: their passphrases are written beside them (0600), for
    // trying commands on the demo homes, and sealed with a light scrypt
    // work factor.
    let root_dir = workdir.join("plant-root");
    let root_pass = write_pass(&p("plant-root.pass"))?;
    let root = policy::init_root_with(
        &root_dir,
        &root_pass,
        plant.root(),
        plant.now(),
        Some(DEMO_LOG_N),
    )?;
    let dana = operator::create_with(
        &mut lab,
        "dana",
        PassSource::Given(write_pass(&p("dana.pass"))?),
        Some(DEMO_LOG_N),
    )?;
    let omar = operator::create_with(
        &mut plant,
        "omar",
        PassSource::Given(write_pass(&p("omar.pass"))?),
        Some(DEMO_LOG_N),
    )?;
    say(&format!(
        "keys      plant root key {} (offline); operators dana at lab (key {}), omar at plant (key {})",
        root.key_id, dana.key_id, omar.key_id
    ));
    let draft = format!(
        "site = \"plant\"\nversion = 1\nsite_key = \"{}\"\n[root]\nkeys = [\"{}\"]\nthreshold = 1\n[approvals]\nproduction = 1\n[gates]\nproduction = [\"lab\"]\n\
         [[peers]]\nsite = \"lab\"\nsigning_key = \"{}\"\nage_recipient = \"{}\"\n\
         [[operators]]\nname = \"omar\"\nkey = \"{}\"\nroles = [\"approve\", \"deploy\"]\n",
        hex::encode(plant.public().signing.as_bytes()),
        root.public_key,
        hex::encode(lab_card.keys.signing.as_bytes()),
        lab_card.keys.age_recipient,
        omar.key
    );
    fsx::write_new(&p("plant-policy-v1.toml"), draft.as_bytes())?;
    let root_key = policy::open_root(&root_dir, &root_pass)?;
    let signed = policy::sign(&p("plant-policy-v1.toml"), &root_key, plant.now())?;
    drop(root_key);
    fsx::write_new(&p("plant-policy-v1.json"), &signed.render())?;
    policy::apply(&mut plant, &[signed], Some(root.key_id.as_str()))?;
    say(
        "policy    plant: trust policy v1 signed by the root key and pinned: peer lab, whose gate reports count for production; omar may approve and deploy",
    );

    fsx::write_new(&p("credit.csv"), credit_csv(ROWS, 7).as_bytes())?;
    fsx::write_new(&p("credit.contract.toml"), CONTRACT.as_bytes())?;
    fsx::write_new(&p("credit.features.toml"), FEATURES.as_bytes())?;
    fsx::write_new(&p("requests.jsonl"), REQUESTS.as_bytes())?;
    let contract = contract::read_contract(&p("credit.contract.toml"))?;
    let applied = contract::apply_contract(&mut lab, &contract)?;
    say(&format!(
        "contract  lab: {} registered (id {})",
        applied.reference,
        applied.id.short()
    ));
    let ingested = ingest::ingest(
        &mut lab,
        &p("credit.csv"),
        "credit",
        &contract::ContractSource::Registered(applied.reference.parse()?),
        &ingest::IngestOptions::default(),
        &mut |_| {},
    )?;
    say(&format!(
        "ingest    lab: credit@{} ({} rows, snapshot {})",
        ingested.version,
        ingested.rows,
        ingested.snapshot.short()
    ));

    let applied = features::apply(&mut lab, FEATURES, "credit.features.toml")?;
    say(&format!(
        "features  lab: {} ({} features, id {})",
        applied.reference,
        applied.width,
        applied.id.short()
    ));

    let req = train::TrainRequest {
        dataset: "credit".parse()?,
        features: "credit-features".parse()?,
        name: None,
        config: TrainConfig {
            arch: Arch::mlp(&[16]),
            epochs: 25,
            seed: 42,
            ..TrainConfig::default()
        },
        device: DeviceChoice::Cpu,
        slice_column: None,
        checkpoints: None,
    };
    let (model, run) = train::train(&mut lab, &req, &mut |_| {})?;
    say(&format!(
        "train     lab: model {} ({}, {} rows, held-out AUC {:.3}, accuracy {:.3}; sandboxed worker, {} of {} controls in force)",
        model.short(),
        run.spec.arch.name(),
        run.split.train,
        run.holdout("roc_auc").unwrap_or(f64::NAN),
        run.holdout("accuracy").unwrap_or(f64::NAN),
        run.sandbox
            .report
            .controls
            .iter()
            .filter(|c| c.applied)
            .count(),
        run.sandbox
            .report
            .controls
            .iter()
            .filter(|c| c.requested)
            .count(),
    ));

    let (_, report) = crate::ops::gate::gate(
        &mut lab,
        &model,
        vec![crate::ops::gate::parse_threshold("roc_auc>=0.70")?],
    )?;
    if !report.passed {
        return Err(Error::Refused(format!(
            "demo model failed its gate: {:?}",
            report.checks
        )));
    }
    say("gate      lab: roc_auc >= 0.70 passed");
    let dana = operator::unlock(
        &lab,
        "dana",
        Role::Approve,
        PassSource::File(p("dana.pass")),
    )?;
    crate::ops::approve::approve(&mut lab, &model, &dana, "held-out metrics reviewed")?;
    say("approve   lab: approved by operator dana (signed with her key)");

    let bundle = p("lab-to-plant.airlock");
    let exported = export::export(
        &mut lab,
        &plant_card,
        &[export::Item::Model(model.hex())],
        export::ExportOptions {
            with_data: false,
            expires_in_days: 30,
            split: None,
            operator: export::Authority::Nobody,
        },
        &bundle,
        &mut |_, _| {},
    )?;
    say(&format!(
        "export    lab: {} objects, sequence {}, to {}",
        exported.objects,
        exported.sequence,
        bundle.display()
    ));

    let imported = import::import(
        &mut plant,
        &bundle,
        import::ImportOptions::default(),
        &mut |_, _| {},
    )?;
    say(&format!(
        "import    plant: verified and imported {} objects from {}",
        imported.objects, imported.origin
    ));

    let omar = operator::unlock(
        &plant,
        "omar",
        Role::Approve,
        PassSource::File(p("omar.pass")),
    )?;
    crate::ops::approve::approve(&mut plant, &model, &omar, "lab's gate and lineage reviewed")?;
    let omar = operator::unlock(
        &plant,
        "omar",
        Role::Deploy,
        PassSource::File(p("omar.pass")),
    )?;
    crate::ops::rollout::deploy(&mut plant, &model, "production", Some(&omar))?;
    say(&format!(
        "deploy    plant: omar approved (1 of 1 the policy needs) and deployed model {} to production",
        model.short()
    ));

    let requests = std::fs::read(p("requests.jsonl")).at(p("requests.jsonl"))?;
    let predicted =
        crate::ops::predict::predict(&plant, "production", &requests[..], "requests.jsonl", None)?;
    say(&format!(
        "predict   plant: {} requests scored",
        predicted.predictions.len()
    ));

    lab.checkpoint()?;
    plant.checkpoint()?;
    let lab_audit = audit::verify(lab.root(), lab.store(), &lab.public().signing)?;
    let plant_audit = audit::verify(plant.root(), plant.store(), &plant.public().signing)?;
    say(&format!(
        "audit     lab: {} records intact; plant: {} records intact",
        lab_audit.records, plant_audit.records
    ));

    Ok(DemoReport {
        workdir: workdir.display().to_string(),
        model: model.hex(),
        holdout_auc: run.holdout("roc_auc").unwrap_or(f64::NAN),
        bundle: bundle.display().to_string(),
        audit_records: (lab_audit.records, plant_audit.records),
        predictions: predicted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Contract;

    #[test]
    fn demo_data_is_deterministic_and_meets_its_contract() {
        let a = credit_csv(500, 7);
        assert_eq!(a, credit_csv(500, 7));
        assert_ne!(a, credit_csv(500, 8));
        let c = Contract::from_toml(CONTRACT, "demo").expect("contract");
        let rows = c
            .read_csv(a.as_bytes(), "demo.csv", &mut |_| {})
            .expect("valid");
        assert_eq!(rows.len(), 500);
        let defaults = rows
            .iter()
            .filter(|r| r[10] == crate::contract::Value::Int(1))
            .count();
        assert!(
            (50..450).contains(&defaults),
            "both classes present: {defaults} defaults"
        );
        assert!(
            rows.iter().any(|r| r[2] == crate::contract::Value::Null),
            "some incomes are missing"
        );
    }
}
