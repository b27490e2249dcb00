//! Trust bypassed through what a trusted peer puts in a bundle (issue 15,
//! items 1, 6 and 8): gate reports that decide nothing or override this
//! site's own verdict, approvals by operators this site never certified,
//! `bundle verify` and `bundle import` disagreeing, and an object held under
//! a kind it is not, squatting on the digest of a genuine one.

use std::path::{Path, PathBuf};

use airlock::bundle::format::{self, Entry, Manifest, Payload};
use airlock::digest::Digest;
use airlock::lifecycle::Approval;
use airlock::lifecycle::Check;
use airlock::lifecycle::GateReport;
use airlock::lifecycle::Op;
use airlock::node::time::{Now, Timestamp};
use airlock::trust::keys::Domain;
use airlock::trust::personal::PersonalKey;
use airlock::vault::registry::Kind;

use crate::craft::{self, Signer, days_from_now, seal};
use crate::harness::{World, fails, import_refused, ok, refs, run};

/// A bundle from the home `from` (site `from_site`) to the home `to` (site
/// `to_site`) carrying `objects`, each signed by `from` as its maker, with
/// the manifest signed by `from`: what a trusted peer can send.
fn bundle_from(
    w: &World,
    (from, from_site): (&Path, &str),
    (to, to_site): (&Path, &str),
    sequence: u64,
    objects: Vec<(Kind, Vec<u8>)>,
    name: &str,
) -> PathBuf {
    let keys = craft::keys_of(from);
    let entries = objects
        .iter()
        .map(|(kind, bytes)| {
            let id = Digest::of(bytes);
            Entry {
                id,
                kind: *kind,
                size: bytes.len() as u64,
                attestations: vec![craft::attest(from, from_site, *kind, &id)],
            }
        })
        .collect();
    let u = craft::Unsealed {
        manifest: Manifest {
            format: format::FORMAT_VERSION,
            origin_site: from_site.parse().unwrap(),
            origin_key: keys.key_id().to_string(),
            recipient_site: to_site.parse().unwrap(),
            recipient_key: craft::keys_of(to).public().age_recipient,
            sequence,
            created_at: days_from_now(0),
            expires_at: days_from_now(30),
            objects: entries,
            // Recomputed by `seal`.
            payload: Payload {
                size: 0,
                split: None,
                parts: Vec::new(),
            },
        },
        signed: (Vec::new(), [0u8; 64]),
        objects: objects.into_iter().map(|(_, b)| b).collect(),
    };
    let f = w.media(name);
    seal(&u, None, to, Signer::Key(from), &f);
    f
}

/// A third site, "depot", that lab trusts (setup mode: `trust add`) and
/// that trusts lab.
fn depot_trusted_by_lab(w: &World) -> PathBuf {
    let depot = w.add_site("depot");
    ok(&w.lab(), &["trust", "add", &w.m("depot.card.json")]);
    depot
}

/// `--json gate MODEL --require REQ` at `home`: (exit code, the report).
fn gate(home: &Path, model: &str, require: &str) -> (Option<i32>, serde_json::Value) {
    let out = run(home, &["--json", "gate", model, "--require", require]);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("gate output: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), v)
}

/// `deploy MODEL` at lab by operator dana.
fn deploy_as_dana(w: &World, model: &str) -> Vec<String> {
    [
        vec!["deploy".to_string(), model.to_string()],
        w.as_op("dana"),
    ]
    .concat()
}

/// A gate report of `model` as site `site` says it ran.
fn gate_report(site: &str, model: &str, checks: Vec<Check>, passed: bool) -> Vec<u8> {
    serde_json::to_vec(&GateReport {
        ty: airlock::lifecycle::GATE_TYPE.into(),
        site: site.parse().unwrap(),
        model: model.parse().unwrap(),
        policy: None,
        evaluation: None,
        checks,
        passed,
        needs_review: false,
        notes: Vec::new(),
        created_at: Timestamp::now(),
    })
    .unwrap()
}

#[test]
fn attack_peer_gate_report_with_no_checks_is_refused() {
    let w = World::new();
    let depot = depot_trusted_by_lab(&w);
    let model = w.train_logreg();
    // A gate report that checked nothing, and one whose verdict does not
    // follow from its one (failed) check.
    let empty = gate_report("depot", &model, Vec::new(), true);
    let f = bundle_from(
        &w,
        (&depot, "depot"),
        (&w.lab(), "lab"),
        1,
        vec![(Kind::Gate, empty.clone())],
        "empty-gate.airlock",
    );
    import_refused(&w.lab(), &f, 4, "checks nothing");
    let failed_check = Check::new("roc_auc", Op::AtLeast, 0.999, 0.6);
    let lying = gate_report("depot", &model, vec![failed_check.clone()], true);
    let f = bundle_from(
        &w,
        (&depot, "depot"),
        (&w.lab(), "lab"),
        2,
        vec![(Kind::Gate, lying)],
        "lying-gate.airlock",
    );
    import_refused(
        &w.lab(),
        &f,
        4,
        "its verdict does not follow from its checks",
    );
    let lying_check = Check {
        passed: true,
        ..failed_check
    };
    let f = bundle_from(
        &w,
        (&depot, "depot"),
        (&w.lab(), "lab"),
        3,
        vec![(
            Kind::Gate,
            gate_report("depot", &model, vec![lying_check], true),
        )],
        "lying-check.airlock",
    );
    import_refused(&w.lab(), &f, 4, "does not follow from its value");
    // Nothing counts: the model is still not gated at lab.
    fails(
        &w.lab(),
        &refs(&deploy_as_dana(&w, &model)),
        5,
        &["is not gated"],
    );
    // The empty report as an import before this check would have stored
    // it: deploy and lineage refuse it.
    plant_signed(&w.lab(), &depot, "depot", Kind::Gate, &empty);
    let conn = rusqlite::Connection::open(w.lab().join("store.db")).unwrap();
    conn.execute(
        "INSERT INTO gates (id, model, site, passed, created_at) VALUES (?1, ?2, 'depot', 1, ?3)",
        [
            Digest::of(&empty).hex(),
            model.clone(),
            Timestamp::now().to_string(),
        ],
    )
    .unwrap();
    drop(conn);
    fails(
        &w.lab(),
        &refs(&deploy_as_dana(&w, &model)),
        4,
        &["checks nothing"],
    );
    fails(&w.lab(), &["lineage", &model], 4, &["checks nothing"]);
}

/// A peer's gate report made with a policy is checked as strictly: a fairness figure under
/// its floor cannot be passed off as "needs review" (which an approval can wave through), and
/// a policy text that does not match its digest is refused.
#[test]
fn attack_peer_gate_report_with_a_forged_review_or_policy_is_refused() {
    use airlock_core::gate::AppliedPolicy;
    use airlock_core::lifecycle::{Section, Verdict};
    let w = World::new();
    let depot = depot_trusted_by_lab(&w);
    let model = w.train_logreg();
    let mut check = Check::new("disparate_impact_ratio", Op::AtLeast, 0.8, 0.55);
    check.section = Some(Section::Fairness);
    check.subject = Some("sex".into());
    check.review_band = Some(0.05);
    check.verdict = Some(Verdict::Review);
    let forged = |policy: Option<AppliedPolicy>, check: Check, needs_review: bool| {
        serde_json::to_vec(&GateReport {
            ty: airlock::lifecycle::GATE_TYPE.into(),
            site: "depot".parse().unwrap(),
            model: model.parse().unwrap(),
            policy,
            evaluation: None,
            checks: vec![check],
            passed: false,
            needs_review,
            notes: Vec::new(),
            created_at: Timestamp::now(),
        })
        .unwrap()
    };
    let f = bundle_from(
        &w,
        (&depot, "depot"),
        (&w.lab(), "lab"),
        1,
        vec![(Kind::Gate, forged(None, check.clone(), true))],
        "forged-review.airlock",
    );
    import_refused(&w.lab(), &f, 4, "does not follow from its value 0.55");
    // A sound figure, but the policy it claims is not the text it carries.
    check.value = 0.82;
    let mut policy = AppliedPolicy::new("[metrics]\n".into(), Vec::new());
    policy.text = "# anything goes\n".into();
    let f = bundle_from(
        &w,
        (&depot, "depot"),
        (&w.lab(), "lab"),
        2,
        vec![(Kind::Gate, forged(Some(policy), check, true))],
        "forged-policy.airlock",
    );
    import_refused(&w.lab(), &f, 4, "does not match the policy digest");
}

/// Stores `bytes` in `home`'s vault and index as a `kind` signed by the
/// home `signer` as `site`, as an import would.
fn plant_signed(home: &Path, signer: &Path, site: &str, kind: Kind, bytes: &[u8]) {
    let keys = craft::keys_of(home);
    let (id, size) = airlock::vault::Vault::open(&home.join("vault"), keys.age_identity())
        .unwrap()
        .put(bytes)
        .unwrap();
    let att = craft::attest(signer, site, kind, &id);
    let conn = rusqlite::Connection::open(home.join("store.db")).unwrap();
    conn.execute(
        "INSERT INTO objects (id, kind, size, created_at) VALUES (?1, ?2, ?3, ?4)",
        rusqlite::params![
            id.hex(),
            kind.as_str(),
            size as i64,
            Timestamp::now().to_string()
        ],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO signatures (object_id, kind, site, key_id, signature) VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![id.hex(), kind.as_str(), site, att.key_id, att.signature],
    )
    .unwrap();
}

#[test]
fn attack_peer_gate_report_cannot_override_a_failed_local_gate() {
    let w = World::new();
    let depot = depot_trusted_by_lab(&w);
    let model = w.train_logreg();
    let (code, failed) = gate(&w.lab(), &model, "roc_auc>=0.999");
    assert_eq!(code, Some(5), "lab's own gate fails: {failed}");
    let auc = failed["checks"][0]["value"].as_f64().unwrap();
    // Depot's report is well formed and its numbers are the model's own,
    // with a threshold the model meets.
    let passing = gate_report(
        "depot",
        &model,
        vec![Check::new("roc_auc", Op::AtLeast, 0.5, auc)],
        true,
    );
    let f = bundle_from(
        &w,
        (&depot, "depot"),
        (&w.lab(), "lab"),
        1,
        vec![(Kind::Gate, passing)],
        "peer-gate.airlock",
    );
    ok(&w.lab(), &["bundle", "import", &f.display().to_string()]);
    let approve = w.approve(&w.lab(), &model, "dana");
    assert_eq!(approve.status.code(), Some(5));
    let err = String::from_utf8_lossy(&approve.stderr);
    assert!(err.contains("no passing gate report"), "{err}");
    assert!(err.contains("failed"), "{err}");
    fails(
        &w.lab(),
        &refs(&deploy_as_dana(&w, &model)),
        5,
        &["is not gated", "this site's newest gate report", "failed"],
    );
    // Lab's own newer verdict decides again.
    let (code, _) = gate(&w.lab(), &model, "roc_auc>=0.5");
    assert_eq!(code, Some(0));
    assert!(w.approve(&w.lab(), &model, "dana").status.success());
    ok(&w.lab(), &refs(&deploy_as_dana(&w, &model)));
}

#[test]
fn a_policy_says_whose_gate_reports_count() {
    let w = World::new();
    let model = w.model();
    // Plant's demo policy counts lab's gate reports for production only.
    let mut deploy = vec!["deploy".to_string(), model.clone()];
    deploy.extend(["--slot".to_string(), "staging".to_string()]);
    deploy.extend(w.as_op("omar"));
    fails(
        &w.plant(),
        &refs(&deploy),
        5,
        &[
            "is not gated",
            "gate reports of site lab do not count for slot \"staging\"",
        ],
    );
    // Without the policy's `gates`, only plant's own gate reports count.
    w.plant_policy(|t| {
        let start = t.find("\n[gates]").unwrap();
        let end = start + t[start + 1..].find("\n[").unwrap() + 1;
        format!("{}{}", &t[..start], &t[end..])
    });
    let mut production = vec!["deploy".to_string(), model.clone()];
    production.extend(w.as_op("omar"));
    fails(
        &w.plant(),
        &refs(&production),
        5,
        &["is not gated", "do not count for slot \"production\""],
    );
    let (code, _) = gate(&w.plant(), &model, "roc_auc>=0.7");
    assert_eq!(code, Some(0));
    ok(&w.plant(), &refs(&production));
}

#[test]
fn attack_uncertified_operator_approval_does_not_count_in_setup_mode() {
    let w = World::new();
    let depot = depot_trusted_by_lab(&w);
    let model = w.train_logreg();
    let (code, gated) = gate(&w.lab(), &model, "roc_auc>=0.5");
    assert_eq!(code, Some(0));
    // An approval signed by a key lab never certified, carried by depot.
    let mallory = PersonalKey::generate().unwrap();
    let mut a = Approval {
        ty: airlock::lifecycle::APPROVAL_TYPE.into(),
        site: "depot".parse().unwrap(),
        model: model.parse().unwrap(),
        approver: "mallory".into(),
        operator_key: mallory.public_hex(),
        note: "looks fine".into(),
        gate: gated["id"].as_str().unwrap().parse().unwrap(),
        reviewed: false,
        created_at: Timestamp::now(),
        operator_signature: String::new(),
    };
    a.operator_signature = mallory.sign(Domain::Approval, &a.signed_bytes());
    let f = bundle_from(
        &w,
        (&depot, "depot"),
        (&w.lab(), "lab"),
        1,
        vec![(Kind::Approval, serde_json::to_vec(&a).unwrap())],
        "approval.airlock",
    );
    // The approval is evidence and may be held; it does not count.
    ok(&w.lab(), &["bundle", "import", &f.display().to_string()]);
    fails(
        &w.lab(),
        &refs(&deploy_as_dana(&w, &model)),
        5,
        &[
            "0 approval(s) that count",
            "mallory",
            "not an operator certified by this site",
        ],
    );
    // In setup mode too, a deployment needs an operator certified here.
    assert!(w.approve(&w.lab(), &model, "dana").status.success());
    fails(
        &w.lab(),
        &["deploy", &model],
        5,
        &["needs an operator certified by this site", "--operator"],
    );
    let out = ok(&w.lab(), &refs(&deploy_as_dana(&w, &model)));
    assert!(out.contains("deployed to production"), "{out}");
}

#[test]
fn bundle_verify_and_import_agree_on_a_kind_clash_and_a_name_clash() {
    let w = World::new();
    let lab_keys = craft::keys_of(&w.lab());
    let lab_vault =
        airlock::vault::Vault::open(&w.lab().join("vault"), lab_keys.age_identity()).unwrap();
    let conn = rusqlite::Connection::open(w.lab().join("store.db")).unwrap();
    let dataset: Digest = conn
        .query_row(
            "SELECT id FROM datasets WHERE site = 'lab' AND name = 'credit' AND version = 1",
            [],
            |r| r.get::<_, String>(0),
        )
        .unwrap()
        .parse()
        .unwrap();
    drop(conn);
    // Lab's key signs another dataset record under the name plant already
    // holds as lab/credit@1.
    let mut doc: serde_json::Value =
        serde_json::from_slice(&lab_vault.read(&dataset, 16 << 20).unwrap()).unwrap();
    doc["rows"] = (doc["rows"].as_u64().unwrap() + 1).into();
    let f = bundle_from(
        &w,
        (&w.lab(), "lab"),
        (&w.plant(), "plant"),
        100,
        vec![(Kind::Dataset, serde_json::to_vec(&doc).unwrap())],
        "name-clash.airlock",
    );
    import_refused(
        &w.plant(),
        &f,
        4,
        "lab/credit@1 already exists here with different content",
    );
    // The bytes of the demo model's run record, signed as a snapshot: held
    // here under each kind its signatures name; both commands accept it.
    let model: Digest = w.model().parse().unwrap();
    let run_bytes = lab_vault.read(&model, 16 << 20).unwrap();
    let f = bundle_from(
        &w,
        (&w.lab(), "lab"),
        (&w.plant(), "plant"),
        101,
        vec![(Kind::Snapshot, run_bytes)],
        "kind-clash.airlock",
    );
    let file = f.display().to_string();
    ok(&w.plant(), &["bundle", "verify", &file]);
    ok(&w.plant(), &["bundle", "import", &file]);
    assert_eq!(kinds_held(&w.plant(), &model), ["run", "snapshot"]);
    ok(&w.plant(), &["lineage", &model.hex()]);
}

/// The kinds under which `home` holds the bytes `id`.
fn kinds_held(home: &Path, id: &Digest) -> Vec<String> {
    let conn = rusqlite::Connection::open(home.join("store.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT kind FROM objects WHERE id = ?1 ORDER BY kind")
        .unwrap();
    stmt.query_map([id.hex()], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn attack_kind_squatting_does_not_block_the_genuine_bundle() {
    let w = World::new();
    // Plant's policy v2 trusts a third site, depot, as well as lab.
    let depot = w.add_site("depot");
    let card = w.media("depot.card.json");
    w.plant_policy(|t| format!("{t}{}", crate::harness::peer_toml(&card)));
    // Lab trains a new model; depot gets the bytes of its run record first
    // and sends them to plant labelled as a raw snapshot.
    let model = w.train_logreg();
    let (code, _) = gate(&w.lab(), &model, "roc_auc>=0.5");
    assert_eq!(code, Some(0));
    let id: Digest = model.parse().unwrap();
    let keys = craft::keys_of(&w.lab());
    let run_bytes = airlock::vault::Vault::open(&w.lab().join("vault"), keys.age_identity())
        .unwrap()
        .read(&id, 16 << 20)
        .unwrap();
    let squat = bundle_from(
        &w,
        (&depot, "depot"),
        (&w.plant(), "plant"),
        1,
        vec![(Kind::Snapshot, run_bytes)],
        "squat.airlock",
    );
    ok(
        &w.plant(),
        &["bundle", "import", &squat.display().to_string()],
    );
    // Lab's genuine bundle of the model is accepted all the same.
    let genuine = w.export(&w.lab(), "plant", "genuine.airlock", &[&model]);
    let file = genuine.display().to_string();
    ok(&w.plant(), &["bundle", "verify", &file]);
    ok(&w.plant(), &["bundle", "import", &file]);
    assert_eq!(kinds_held(&w.plant(), &id), ["run", "snapshot"]);
    let listed = ok(&w.plant(), &["--json", "models", "list"]);
    assert!(listed.contains(&model), "{listed}");
    let lineage = ok(&w.plant(), &["lineage", &model]);
    assert!(lineage.contains(&model[..12]), "{lineage}");
    // The squatter's signature is over (snapshot, digest): it is not a
    // signature on the run record.
    let conn = rusqlite::Connection::open(w.plant().join("store.db")).unwrap();
    let signers: Vec<String> = conn
        .prepare("SELECT site FROM signatures WHERE object_id = ?1 AND kind = 'run'")
        .unwrap()
        .query_map([&model], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(signers, ["lab"]);
}

/// A request log batch (raw requests) never crosses the air gap: export has no item for it,
/// and a bundle that carries one, even signed by a trusted peer, is refused whole.
#[test]
fn bundle_carrying_a_request_log_batch_is_refused() {
    let w = World::new();
    let batch = serde_json::to_vec(&serde_json::json!({
        "type": "airlock.request-log/v1", "site": "plant", "requests": ["{\"age\": 30}"]
    }))
    .unwrap();
    let f = bundle_from(
        &w,
        (&w.plant(), "plant"),
        (&w.lab(), "lab"),
        1,
        vec![(Kind::RequestLog, batch)],
        "request-log.airlock",
    );
    import_refused(&w.lab(), &f, 5, "raw requests");
}
