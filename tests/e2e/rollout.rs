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

/// A canary trained on another feature set version is left out of a request pinned to the
/// production model's version (`Router::open` branches on the feature set mismatch, not on
/// any refusal), and a request pinned to the canary's version is refused by production.
#[test]
fn a_canary_on_another_feature_set_version_is_left_out_of_a_pinned_request() {
    let w = World::new();
    let a = ready(&w, "11");
    ok(&w.lab(), &refs(&as_dana(&w, &["deploy", &a])));
    // A second version of the feature set (one feature dropped): the canary is trained on it.
    let spec = std::fs::read_to_string(w.media("credit.features.toml")).unwrap();
    let v2 = spec.replace(
        "[[features]]\ncolumn = \"purpose\"\ntransform = \"one_hot\"\n",
        "",
    );
    assert_ne!(spec, v2);
    std::fs::write(w.media("credit.features.v2.toml"), v2).unwrap();
    let out = ok(
        &w.lab(),
        &["features", "apply", &w.m("credit.features.v2.toml")],
    );
    assert!(out.contains("credit-features@2"), "{out}");
    let b = ready(&w, "12");
    ok(
        &w.lab(),
        &refs(&as_dana(
            &w,
            &["deploy", &b, "--slot", "canary", "--percent", "50"],
        )),
    );
    let req = w.m("requests.jsonl");
    // Not pinned: the canary answers its share.
    let all = json(&ok(&w.lab(), &["--json", "predict", "--input", &req]));
    assert_eq!(all["canary"]["model"], b.as_str(), "{all}");
    // Pinned to production's version: the canary is left out, production answers every row.
    let pinned = json(&ok(
        &w.lab(),
        &[
            "--json",
            "predict",
            "--input",
            &req,
            "--features",
            "credit-features@1",
        ],
    ));
    assert_eq!(pinned["model"], a.as_str(), "{pinned}");
    assert_eq!(pinned["feature_set_ref"], "credit-features@1", "{pinned}");
    assert!(pinned.get("canary").is_none(), "{pinned}");
    // Pinned to the canary's version: production itself does not match, and is refused.
    fails(
        &w.lab(),
        &[
            "predict",
            "--input",
            &req,
            "--features",
            "credit-features@2",
        ],
        5,
        &[
            "feature set mismatch",
            "trained on feature set credit-features@1",
            "asks for credit-features@2",
        ],
    );
}

/// A canary at 100% takes every row of a batch and leaves production none: a slot with no
/// rows scores nothing (it used to fail with "matrix: 0 values cannot form 0 x 20", exit 1),
/// monitored or not, from JSON lines and from CSV.
#[test]
fn a_canary_at_100_percent_answers_every_row_of_a_batch_and_production_none() {
    let w = World::new();
    let a = ready(&w, "11");
    ok(&w.lab(), &refs(&as_dana(&w, &["deploy", &a])));
    let b = ready(&w, "12");
    ok(
        &w.lab(),
        &refs(&as_dana(
            &w,
            &["deploy", &b, "--slot", "canary", "--percent", "100"],
        )),
    );
    let rows = std::fs::read_to_string(w.media("requests.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    assert!(rows > 0);
    let csv = w.media("batch.csv");
    std::fs::write(
        &csv,
        std::fs::read_to_string(w.media("credit.csv"))
            .unwrap()
            .lines()
            .take(31)
            .collect::<Vec<_>>()
            .join("\n")
            + "\n",
    )
    .unwrap();
    for (input, n, extra) in [
        (w.m("requests.jsonl"), rows, None),
        (w.m("requests.jsonl"), rows, Some("--no-monitor")),
        (csv.display().to_string(), 30, None),
    ] {
        let mut args = vec!["--json", "predict", "--input", &input];
        args.extend(extra);
        let p = json(&ok(&w.lab(), &args));
        assert_eq!(p["canary"]["model"], b.as_str(), "{p}");
        assert_eq!(p["canary"]["rows"], n, "{p}");
        let preds = p["predictions"].as_array().unwrap();
        assert_eq!(preds.len(), n, "{p}");
        assert!(preds.iter().all(|x| x["slot"] == "canary"), "{p}");
    }
}

mod serving {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixStream;
    use std::process::{Command, Stdio};

    use super::*;

    /// `airlock serve` at lab; the child and its socket.
    fn serve(w: &World) -> (std::process::Child, std::path::PathBuf) {
        let sock = w.root.join("lab.sock");
        let mut child = Command::new(crate::harness::bin())
            .arg("--home")
            .arg(w.lab())
            .args(["serve", "--socket"])
            .arg(&sock)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("serving model"), "{line}");
        (child, sock)
    }

    /// One request per applicant id: (model, slot) of each answer.
    fn ask(
        sock: &std::path::Path,
        template: &serde_json::Value,
        ids: &[String],
    ) -> Vec<(String, Option<String>)> {
        let mut s = UnixStream::connect(sock).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        ids.iter()
            .map(|id| {
                let mut req = template.clone();
                req["applicant_id"] = serde_json::json!(id);
                s.write_all(format!("{req}\n").as_bytes()).unwrap();
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                let v = json(line.trim());
                assert!(v["error"].is_null(), "{v}");
                (
                    v["model"].as_str().unwrap().to_owned(),
                    v["slot"].as_str().map(str::to_owned),
                )
            })
            .collect()
    }

    #[test]
    fn a_canary_answers_its_share_of_entities_the_shadow_none_and_a_promote_drops_no_request() {
        let w = World::new();
        let a = ready(&w, "21");
        let b = ready(&w, "22");
        let c = ready(&w, "23");
        ok(&w.lab(), &refs(&as_dana(&w, &["deploy", &a])));
        ok(
            &w.lab(),
            &refs(&as_dana(
                &w,
                &["deploy", &b, "--slot", "canary", "--percent", "10"],
            )),
        );
        ok(
            &w.lab(),
            &refs(&as_dana(
                &w,
                &["deploy", &c, "--slot", "shadow", "--percent", "100"],
            )),
        );
        let template = json(
            std::fs::read_to_string(w.media("requests.jsonl"))
                .unwrap()
                .lines()
                .next()
                .unwrap(),
        );
        let (mut child, sock) = serve(&w);
        let ids: Vec<String> = (0..1000).map(|i| format!("A{i:05}")).collect();
        let first = ask(&sock, &template, &ids);
        let canary: Vec<&String> = ids
            .iter()
            .zip(&first)
            .filter(|(_, (m, _))| *m == b)
            .map(|(id, _)| id)
            .collect();
        // About 10% of entities, marked as the canary's; the rest production's; the shadow's
        // answers never come back although it scores every request.
        assert!(
            (60..=140).contains(&canary.len()),
            "{} of 1000 entities at 10%",
            canary.len()
        );
        assert!(
            first
                .iter()
                .all(|(m, s)| (*m == b) == (s.as_deref() == Some("canary")))
        );
        assert!(
            first.iter().all(|(m, _)| *m == a || *m == b),
            "never the shadow"
        );
        // The same entities again: the same models.
        assert_eq!(ask(&sock, &template, &ids), first);
        // `predict` routes the same way: the canary answers the same entities, the shadow
        // scores every row and answers none.
        let file = w.media("thousand.jsonl");
        let lines: Vec<String> = ids
            .iter()
            .map(|id| {
                let mut r = template.clone();
                r["applicant_id"] = serde_json::json!(id);
                r.to_string()
            })
            .collect();
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        let p = json(&ok(
            &w.lab(),
            &["--json", "predict", "--input", file.to_str().unwrap()],
        ));
        assert_eq!(p["model"], a.as_str());
        assert_eq!(p["canary"]["model"], b.as_str());
        assert_eq!(p["canary"]["rows"], canary.len());
        assert_eq!(p["shadow"]["model"], c.as_str());
        assert_eq!(p["shadow"]["rows"], 1000);
        let by_predict: Vec<bool> = p["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["slot"] == "canary")
            .collect();
        let by_serve: Vec<bool> = first.iter().map(|(m, _)| *m == b).collect();
        assert_eq!(by_predict, by_serve);

        // Promote while a client keeps asking: every request answered, none refused, and
        // the answers move to b within a few reload periods.
        let asker = {
            let sock = sock.clone();
            let template = template.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                for round in 0..40 {
                    let ids: Vec<String> = (0..50).map(|i| format!("R{round}-{i}")).collect();
                    seen.extend(ask(&sock, &template, &ids));
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                seen
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(500));
        ok(&w.lab(), &refs(&as_dana(&w, &["promote"])));
        let seen = asker.join().unwrap();
        assert_eq!(seen.len(), 2000, "every request answered");
        let last = &seen[seen.len() - 50..];
        assert!(
            last.iter().all(|(m, s)| *m == b && s.is_none()),
            "b answers all: {last:?}"
        );
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        assert!(child.wait().unwrap().success());
    }
}
