//! Rollout: canary and shadow slots, promote and rollback, each a signed, audited deployment
//! record (issue 17), at lab in the demo world (setup mode: operator dana).

use crate::harness::{World, fails, last_audit, ok, refs};

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap()
}

/// A logistic regression trained at lab with `seed`, gated and approved by dana: its id.
fn ready(w: &World, seed: &str) -> String {
    let id = json(&ok(
        &w.lab(),
        &[
            "--json",
            "train",
            "--dataset",
            "credit",
            "--features",
            "credit-features",
            "--model",
            "logreg",
            "--epochs",
            "3",
            "--seed",
            seed,
        ],
    ))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&w.lab(), &["gate", &id, "--require", "roc_auc>=0.5"]);
    let out = w.approve(&w.lab(), &id, "dana");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    id
}

/// `--json CMD ARGS... --operator dana ...` at lab.
fn as_dana(w: &World, args: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = std::iter::once("--json".to_string())
        .chain(args.iter().map(|s| s.to_string()))
        .collect();
    a.extend(w.as_op("dana"));
    a
}

fn slots(w: &World) -> Vec<(String, Option<String>)> {
    json(&ok(&w.lab(), &["--json", "models", "list"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_owned(),
                m["deployed"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn slot_of(w: &World, model: &str) -> Option<String> {
    slots(w)
        .into_iter()
        .find(|(id, _)| id == model)
        .and_then(|(_, s)| s)
}

#[test]
fn canary_promote_and_rollback_are_signed_audited_deployment_records() {
    let w = World::new();
    let a = ready(&w, "11");
    let b = ready(&w, "12");
    // A canary needs a production model beside it, and a share.
    fails(
        &w.lab(),
        &refs(&as_dana(
            &w,
            &["deploy", &b, "--slot", "canary", "--percent", "10"],
        )),
        5,
        &["no model is deployed to production"],
    );
    ok(&w.lab(), &refs(&as_dana(&w, &["deploy", &a])));
    fails(
        &w.lab(),
        &refs(&as_dana(&w, &["deploy", &b, "--slot", "canary"])),
        3,
        &["give --percent P"],
    );
    fails(
        &w.lab(),
        &refs(&as_dana(
            &w,
            &["deploy", &b, "--slot", "canary", "--percent", "120"],
        )),
        3,
        &["at most 100"],
    );
    let d = json(&ok(
        &w.lab(),
        &refs(&as_dana(
            &w,
            &["deploy", &b, "--slot", "canary", "--percent", "10"],
        )),
    ));
    assert_eq!(d["slot"], "canary");
    assert_eq!(d["percent"], 10.0);
    assert_eq!(slot_of(&w, &a).as_deref(), Some("production"));
    assert_eq!(slot_of(&w, &b).as_deref(), Some("canary"));

    // Promote: b answers in production, the canary slot is empty, one audit record.
    let p = json(&ok(&w.lab(), &refs(&as_dana(&w, &["promote"]))));
    assert_eq!(p["action"], "promote");
    assert_eq!(p["model"], b.as_str());
    assert_eq!(p["previous"], a.as_str());
    let (action, details) = last_audit(&w.lab());
    assert_eq!(action, "model.promote");
    assert_eq!(details["operator"], "dana");
    assert_eq!(slot_of(&w, &b).as_deref(), Some("production"));
    assert_eq!(slot_of(&w, &a), None);
    fails(
        &w.lab(),
        &refs(&as_dana(&w, &["promote"])),
        6,
        &["nothing to promote"],
    );

    // Rollback: production goes back to a, with the reason on the record.
    fails(
        &w.lab(),
        &refs(&as_dana(&w, &["rollback", "--reason", ""])),
        3,
        &["--reason"],
    );
    let r = json(&ok(
        &w.lab(),
        &refs(&as_dana(
            &w,
            &["rollback", "--reason", "complaints from branch 12"],
        )),
    ));
    assert_eq!(r["action"], "rollback");
    assert_eq!(r["model"], a.as_str());
    assert_eq!(r["reason"], "complaints from branch 12");
    let (action, details) = last_audit(&w.lab());
    assert_eq!(action, "model.rollback");
    assert_eq!(details["reason"], "complaints from branch 12");
    assert_eq!(slot_of(&w, &a).as_deref(), Some("production"));
    // --to must name a model the slot held.
    let c = ready(&w, "13");
    fails(
        &w.lab(),
        &refs(&as_dana(&w, &["rollback", "--to", &c, "--reason", "x"])),
        5,
        &["was never deployed to"],
    );
    let r = json(&ok(
        &w.lab(),
        &refs(&as_dana(
            &w,
            &["rollback", "--to", &b, "--reason", "b again"],
        )),
    ));
    assert_eq!(r["model"], b.as_str());

    // A shadow needs no approval; rolling it back empties the slot.
    let s = json(&ok(
        &w.lab(),
        &[
            "--json",
            "train",
            "--dataset",
            "credit",
            "--features",
            "credit-features",
            "--model",
            "logreg",
            "--epochs",
            "3",
            "--seed",
            "14",
        ],
    ))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&w.lab(), &["gate", &s, "--require", "roc_auc>=0.5"]);
    ok(
        &w.lab(),
        &refs(&as_dana(
            &w,
            &["deploy", &s, "--slot", "shadow", "--percent", "50"],
        )),
    );
    assert_eq!(slot_of(&w, &s).as_deref(), Some("shadow"));
    let r = json(&ok(
        &w.lab(),
        &refs(&as_dana(
            &w,
            &["rollback", "--slot", "shadow", "--reason", "done"],
        )),
    ));
    assert_eq!(r["action"], "retire");
    assert_eq!(slot_of(&w, &s), None);
    // The production model is untouched by all of that.
    assert_eq!(slot_of(&w, &b).as_deref(), Some("production"));
    // Every change is a signed record that lineage walks from the model.
    let l = ok(&w.lab(), &["lineage", &b]);
    assert!(l.contains("deploy"), "{l}");
}
