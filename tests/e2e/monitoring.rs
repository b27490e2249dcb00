//! Monitoring while serving (issue 17): windows of summaries, input drift alerts naming the
//! feature, and the canary rolled back by the node itself. The demo world at lab, serving
//! with two-second windows.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};

use crate::harness::{World, fails, last_audit, ok, refs};

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap()
}

/// The demo's training rows as request objects (the label left out).
fn training_requests(w: &World) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let csv = std::fs::read_to_string(w.media("credit.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split(','))
                .filter(|(h, _)| **h != "default")
                .map(|(h, v)| {
                    let v = if v.is_empty() || v == "NA" {
                        serde_json::Value::Null
                    } else if let Ok(i) = v.parse::<i64>() {
                        serde_json::json!(i)
                    } else if let Ok(f) = v.parse::<f64>() {
                        serde_json::json!(f)
                    } else {
                        serde_json::json!(v)
                    };
                    (h.to_string(), v)
                })
                .collect()
        })
        .collect()
}

/// `airlock serve` at lab with `extra` flags; the child and its socket.
fn serve(w: &World, extra: &[&str]) -> (std::process::Child, std::path::PathBuf) {
    let sock = w.root.join("mon.sock");
    let mut child = Command::new(crate::harness::bin())
        .arg("--home")
        .arg(w.lab())
        .args(["serve", "--socket"])
        .arg(&sock)
        .args(extra)
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

fn send(sock: &std::path::Path, rows: &[serde_json::Map<String, serde_json::Value>]) {
    let mut s = UnixStream::connect(sock).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    for row in rows {
        s.write_all(format!("{}\n", serde_json::Value::Object(row.clone())).as_bytes())
            .unwrap();
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(json(line.trim())["error"].is_null(), "{line}");
    }
}

/// Polls `f` every 250 ms until it holds, for at most 30 s (windows close on the clock and
/// are stored off the server's thread, later on a loaded machine).
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !f() {
        assert!(std::time::Instant::now() < until, "waited 30 s for {what}");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

fn requests_seen(w: &World, args: &[&str]) -> u64 {
    let report = json(&ok(&w.lab(), args));
    report
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["windows"].as_array().unwrap().clone())
        .map(|w| w["requests"].as_u64().unwrap())
        .sum()
}

fn stop(mut child: std::process::Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
}

/// A logistic regression at lab on `features`, gated (`require`) and approved by dana.
fn ready(w: &World, features: &str, dataset: &str, require: &str) -> String {
    ready_with(w, features, dataset, require, &[])
}

/// [`ready`], with `extra` arguments to `train`.
fn ready_with(w: &World, features: &str, dataset: &str, require: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "--json",
        "train",
        "--dataset",
        dataset,
        "--features",
        features,
        "--model",
        "logreg",
        "--epochs",
        "3",
        "--seed",
        "5",
    ];
    args.extend_from_slice(extra);
    let id = json(&ok(&w.lab(), &args))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&w.lab(), &["gate", &id, "--require", require]);
    assert!(w.approve(&w.lab(), &id, "dana").status.success());
    id
}

fn as_dana(w: &World, args: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    a.extend(w.as_op("dana"));
    a
}

#[test]
fn rows_like_the_training_data_raise_no_alert_and_a_shifted_feature_does_naming_it() {
    let w = World::new();
    let a = ready(&w, "credit-features", "credit", "roc_auc>=0.5");
    ok(&w.lab(), &refs(&as_dana(&w, &["deploy", &a])));
    let rows = training_requests(&w);
    // A window cut by the clock may hold a few hundred rows, judged by tests with p-values:
    // at the default 0.05, one of a dozen features would drift by chance too often for a
    // test; 0.001 keeps chance findings rare and a tripled income still found.
    let policy = w.media("monitor.toml");
    std::fs::write(&policy, "[drift]\nalpha = 0.001\n").unwrap();
    let policy = policy.to_str().unwrap();
    let (child, sock) = serve(&w, &["--window", "2", "--monitor-policy", policy]);
    send(&sock, &rows[..1500]);
    wait_for("1,500 requests in stored windows", || {
        requests_seen(&w, &["--json", "monitor", "report"]) == 1500
    });
    let report = json(&ok(
        &w.lab(),
        &["--json", "monitor", "report", "--policy", policy],
    ));
    let windows = report[0]["windows"].as_array().unwrap();
    assert!(!windows.is_empty(), "{report}");
    let seen: u64 = windows
        .iter()
        .map(|w| w["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(seen, 1500);
    assert!(
        windows
            .iter()
            .all(|w| w["drifted"].as_array().unwrap().is_empty()),
        "training-like rows drift nowhere: {report}"
    );
    assert_eq!(
        json(&ok(&w.lab(), &["--json", "monitor", "alerts"])),
        serde_json::json!([])
    );

    // Income tripled: an alert naming income, and no other feature.
    let shifted: Vec<_> = rows[1500..3000]
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if let Some(x) = r["income"].as_f64() {
                r.insert("income".into(), serde_json::json!(x * 3.0));
            }
            r
        })
        .collect();
    send(&sock, &shifted);
    wait_for("3,000 requests in stored windows", || {
        requests_seen(&w, &["--json", "monitor", "report"]) == 3000
    });
    stop(child);
    let alerts = json(&ok(&w.lab(), &["--json", "monitor", "alerts"]));
    let inputs: Vec<&serde_json::Value> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "input drift")
        .collect();
    assert!(!inputs.is_empty(), "{alerts}");
    assert!(inputs.iter().all(|a| a["feature"] == "income"), "{alerts}");
    assert!(inputs[0]["value"].as_f64().unwrap() >= inputs[0]["threshold"].as_f64().unwrap());
    let text = ok(&w.lab(), &["monitor", "report", "--policy", policy]);
    assert!(text.contains("ALERT input drift income"), "{text}");
    let (action, _) = last_audit(&w.lab());
    assert!(action.starts_with("monitor."), "{action}");
}

#[test]
fn a_canary_that_answers_a_constant_is_rolled_back_by_the_node_with_its_reason() {
    let w = World::new();
    let a = ready(&w, "credit-features", "credit", "roc_auc>=0.5");
    ok(&w.lab(), &refs(&as_dana(&w, &["deploy", &a])));
    // The planted fault: a model of one feature that is constant in its training data.
    let csv = std::fs::read_to_string(w.media("credit.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let sex = header.iter().position(|h| *h == "sex").unwrap();
    let flat: Vec<String> = std::iter::once(header.join(","))
        .chain(lines.map(|l| {
            let mut c: Vec<&str> = l.split(',').collect();
            c[sex] = "female";
            c.join(",")
        }))
        .collect();
    let file = w.media("flat.csv");
    std::fs::write(&file, flat.join("\n") + "\n").unwrap();
    ok(&w.lab(), &refs(&w.ingest_args(file.to_str().unwrap())));
    let spec = w.media("flat-features.toml");
    std::fs::write(
        &spec,
        "name = \"flat\"\ndataset = \"credit@2\"\nlabel = \"default\"\npositive = \"1\"\n[[features]]\ncolumn = \"sex\"\ntransform = \"one_hot\"\n",
    )
    .unwrap();
    ok(&w.lab(), &["features", "apply", spec.to_str().unwrap()]);
    let bad = ready(&w, "flat", "credit@2", "roc_auc>=0.0");
    ok(
        &w.lab(),
        &refs(&as_dana(
            &w,
            &["deploy", &bad, "--slot", "canary", "--percent", "50"],
        )),
    );
    let (child, sock) = serve(&w, &["--window", "2"]);
    let rows: Vec<_> = training_requests(&w)
        .into_iter()
        .take(600)
        .enumerate()
        .map(|(i, mut r)| {
            r.insert("applicant_id".into(), serde_json::json!(format!("C{i:05}")));
            r
        })
        .collect();
    send(&sock, &rows);
    wait_for("the canary rolled back", || {
        ok(&w.lab(), &["--json", "audit", "log"]).contains("model.rollback")
    });
    stop(child);
    let list = json(&ok(&w.lab(), &["--json", "models", "list"]));
    let slot_of = |m: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == m)
            .and_then(|x| x["deployed"].as_str().map(str::to_owned))
    };
    assert_eq!(slot_of(&bad), None, "the canary is gone: {list}");
    assert_eq!(slot_of(&a).as_deref(), Some("production"));
    let log = json(&ok(&w.lab(), &["--json", "audit", "log"]));
    let rb = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "model.rollback")
        .unwrap_or_else(|| panic!("a rollback in the audit log: {log}"));
    assert_eq!(rb["details"]["automatic"], true, "{rb}");
    assert!(
        rb["details"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("automatic: the canary"),
        "{rb}"
    );
}

#[test]
fn monitoring_summaries_cross_the_air_gap_to_the_training_site() {
    let w = World::new();
    let model = w.model();
    // Plant serves the demo's model (deployed there by the demo) and keeps windows.
    let sock = w.root.join("plant.sock");
    let mut child = Command::new(crate::harness::bin())
        .arg("--home")
        .arg(w.plant())
        .args(["serve", "--window", "2", "--socket"])
        .arg(&sock)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    send(&sock, &training_requests(&w)[..300]);
    stop(child);
    // Plant's policy lets omar export, too.
    w.plant_policy(|t| {
        t.replace(
            "roles = [\"approve\", \"deploy\"]",
            "roles = [\"approve\", \"deploy\", \"export\"]",
        )
    });
    let bundle = w.media("monitor.airlock");
    let mut export = vec![
        "bundle".to_string(),
        "export".into(),
        "--to".into(),
        w.m("lab.card.json"),
        "--out".into(),
        bundle.display().to_string(),
        format!("monitor:{model}"),
    ];
    export.extend(w.as_op("omar"));
    ok(&w.plant(), &refs(&export));
    let inspect = json(&ok(
        &w.lab(),
        &["--json", "bundle", "inspect", bundle.to_str().unwrap()],
    ));
    let kinds: Vec<&str> = inspect["manifest"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert!(!kinds.is_empty(), "{inspect}");
    assert!(
        kinds
            .iter()
            .all(|k| *k == "monitor-window" || *k == "alert"),
        "summaries only, never requests or data: {kinds:?}"
    );
    ok(&w.lab(), &["bundle", "import", bundle.to_str().unwrap()]);
    let at_lab = json(&ok(
        &w.lab(),
        &["--json", "monitor", "report", "--site", "plant"],
    ));
    assert_eq!(at_lab[0]["site"], "plant");
    assert_eq!(at_lab[0]["model"], model.as_str());
    let requests: u64 = at_lab[0]["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(requests, 300);
    // Lab's own monitoring is its own: plant's windows are not lab's.
    assert_eq!(
        json(&ok(&w.lab(), &["--json", "monitor", "report"])),
        serde_json::json!([])
    );
}

/// A model of the demo's data under a contract naming `applicant_id` as the entity (so its
/// answers go to the prediction log), gated, approved and deployed to production at lab.
fn keyed_model(w: &World) -> String {
    let contract = std::fs::read_to_string(w.media("credit.contract.toml"))
        .unwrap()
        .replace(
            "name = \"credit\"",
            "name = \"applicants\"\nentity = \"applicant_id\"",
        );
    let file = w.media("applicants.contract.toml");
    std::fs::write(&file, contract).unwrap();
    ok(
        &w.lab(),
        &[
            "data",
            "ingest",
            &w.m("credit.csv"),
            "--dataset",
            "applicants",
            "--contract",
            file.to_str().unwrap(),
        ],
    );
    let spec = std::fs::read_to_string(w.media("credit.features.toml"))
        .unwrap()
        .replace("name = \"credit-features\"", "name = \"app-features\"")
        .replace("dataset = \"credit\"", "dataset = \"applicants\"");
    let spec_file = w.media("app.features.toml");
    std::fs::write(&spec_file, spec).unwrap();
    ok(
        &w.lab(),
        &["features", "apply", spec_file.to_str().unwrap()],
    );
    let id = ready_with(
        w,
        "app-features",
        "applicants",
        "roc_auc>=0.5",
        &["--slice-by", "housing"],
    );
    ok(&w.lab(), &refs(&as_dana(w, &["deploy", &id])));
    id
}

/// Ingests labels at lab as dataset `outcomes` (a new version each call): one per
/// `(applicant, event time, label)`, with the applicant's housing (the model's slice column)
/// from the demo's data.
fn ingest_labels(w: &World, labels: &[(String, &str, i64)]) {
    let housing: std::collections::BTreeMap<String, String> = training_requests(w)
        .iter()
        .map(|r| {
            (
                r["applicant_id"].as_str().unwrap().to_owned(),
                r["housing"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let contract = w.media("outcomes.contract.toml");
    std::fs::write(
        &contract,
        "name = \"outcomes\"\nversion = 1\nentity = \"applicant_id\"\nevent_time = \"at\"\n\
         [[columns]]\nname = \"applicant_id\"\ntype = \"string\"\n\
         [[columns]]\nname = \"at\"\ntype = \"timestamp\"\n\
         [[columns]]\nname = \"default\"\ntype = \"integer\"\n\
         [[columns]]\nname = \"housing\"\ntype = \"category\"\n\
         categories = [\"own\", \"rent\", \"mortgage\"]\n",
    )
    .unwrap();
    let mut csv = String::from("applicant_id,at,default,housing\n");
    for (id, at, label) in labels {
        csv.push_str(&format!("{id},{at},{label},{}\n", housing[id]));
    }
    let file = w.media("outcomes.csv");
    std::fs::write(&file, csv).unwrap();
    ok(
        &w.lab(),
        &[
            "data",
            "ingest",
            file.to_str().unwrap(),
            "--dataset",
            "outcomes",
            "--contract",
            contract.to_str().unwrap(),
        ],
    );
}

#[test]
fn labels_ingested_later_give_accuracy_over_time_and_a_model_they_say_is_wrong_shows_it() {
    let w = World::new();
    let model = keyed_model(&w);
    let rows = training_requests(&w);
    let (child, sock) = serve(&w, &["--window", "2"]);
    send(&sock, &rows[..600]);
    wait_for("600 requests in stored windows", || {
        requests_seen(&w, &["--json", "monitor", "report"]) == 600
    });
    stop(child);
    // The truth, known long after the predictions; and for ten applicants a label from
    // before they were scored, which must join nothing (point in time).
    let truth: Vec<i64> = std::fs::read_to_string(w.media("credit.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .take(600)
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    let id = |i: usize| rows[i]["applicant_id"].as_str().unwrap().to_owned();
    let mut labels: Vec<(String, &str, i64)> = (0..600)
        .map(|i| (id(i), "2099-01-01T00:00:00Z", truth[i]))
        .collect();
    labels.extend((0..10).map(|i| (id(i), "2000-01-01T00:00:00Z", 1 - truth[i])));
    ingest_labels(&w, &labels);
    let report = json(&ok(
        &w.lab(),
        &["--json", "monitor", "report", "--labels", "outcomes@1"],
    ));
    let acc = &report[0]["accuracy"][0];
    assert_eq!(report[0]["model"], model.as_str());
    assert_eq!(acc["slot"], "production", "{acc}");
    assert_eq!(acc["predictions"], 600, "{acc}");
    assert_eq!(acc["overall"]["labelled"], 600, "{acc}");
    assert_eq!(
        acc["unmatched"], 10,
        "labels from before the predictions: {acc}"
    );
    let overall = acc["overall"]["accuracy"].as_f64().unwrap();
    let baseline = acc["baseline"].as_f64().unwrap();
    assert!(
        (overall - baseline).abs() < 0.1,
        "{overall} against holdout {baseline}"
    );
    assert!(acc["overall"]["roc_auc"].as_f64().unwrap() > 0.6, "{acc}");
    assert!(acc["overall"]["ece"].as_f64().is_some(), "{acc}");
    let windows = acc["windows"].as_array().unwrap();
    assert!(!windows.is_empty());
    assert!(windows.iter().all(|w| w["fell"] == false), "{acc}");
    // By slice: the model was trained sliced by housing, and the labels carry it.
    assert_eq!(acc["slice_column"], "housing", "{acc}");
    let slices = acc["slices"].as_object().unwrap();
    assert_eq!(
        slices.keys().cloned().collect::<Vec<_>>(),
        ["mortgage", "own", "rent"],
        "{acc}"
    );
    let by_slice: u64 = slices
        .values()
        .map(|f| f["labelled"].as_u64().unwrap())
        .sum();
    assert_eq!(by_slice, 600, "{acc}");
    ok(&w.lab(), &["monitor", "check", "--labels", "outcomes@1"]);
    let alerts = json(&ok(&w.lab(), &["--json", "monitor", "alerts"]));
    assert!(
        alerts
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["kind"] != "accuracy"),
        "{alerts}"
    );
    let text = ok(&w.lab(), &["monitor", "report", "--labels", "outcomes@1"]);
    assert!(
        text.contains("accuracy (production) from labels lab/outcomes@1"),
        "{text}"
    );

    // Labels that say every answer was wrong: the accuracy falls and an alert says so.
    let flipped: Vec<(String, &str, i64)> = (0..600)
        .map(|i| (id(i), "2099-01-01T00:00:00Z", 1 - truth[i]))
        .collect();
    ingest_labels(&w, &flipped);
    let report = json(&ok(
        &w.lab(),
        &["--json", "monitor", "report", "--labels", "outcomes@2"],
    ));
    let acc = &report[0]["accuracy"][0];
    assert!(
        acc["overall"]["accuracy"].as_f64().unwrap() < baseline - 0.2,
        "{acc}"
    );
    assert!(acc["overall"]["roc_auc"].as_f64().unwrap() < 0.4, "{acc}");
    assert!(
        acc["windows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["fell"] == true),
        "{acc}"
    );
    ok(&w.lab(), &["monitor", "check", "--labels", "outcomes@2"]);
    let (action, details) = last_audit(&w.lab());
    assert_eq!(action, "monitor.alert", "{details}");
    let alerts = json(&ok(&w.lab(), &["--json", "monitor", "alerts"]));
    let fell: Vec<&serde_json::Value> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "accuracy")
        .collect();
    assert_eq!(fell.len(), 1, "{alerts}");
    assert_eq!(fell[0]["model"], model.as_str());
    assert!(fell[0]["value"].as_f64().unwrap() > fell[0]["threshold"].as_f64().unwrap());
    // Raised once: checking again adds nothing.
    ok(&w.lab(), &["monitor", "check", "--labels", "outcomes@2"]);
    let again = json(&ok(&w.lab(), &["--json", "monitor", "alerts"]));
    assert_eq!(again, alerts);
}

/// `airlock serve` at `home` with `extra` flags, on socket `name`.
fn serve_at(
    home: &std::path::Path,
    name: &str,
    extra: &[&str],
) -> (std::process::Child, std::path::PathBuf) {
    let sock = home.parent().unwrap().join(name);
    let mut child = Command::new(crate::harness::bin())
        .arg("--home")
        .arg(home)
        .args(["serve", "--socket"])
        .arg(&sock)
        .args(extra)
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

/// Whether any file under `dir` holds `needle`.
fn any_file_holds(dir: &std::path::Path, needle: &[u8]) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if let Some(f) = any_file_holds(&p, needle) {
                return Some(f);
            }
        } else if p.is_file()
            && let Ok(bytes) = std::fs::read(&p)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            return Some(p);
        }
    }
    None
}

fn audit_actions(home: &std::path::Path) -> Vec<serde_json::Value> {
    json(&ok(home, &["--json", "audit", "log"]))
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn the_request_log_is_off_by_default_and_when_on_encrypted_and_pruned_at_its_limit() {
    let w = World::new();
    let marked = |tag: &str, n: usize| -> Vec<serde_json::Map<String, serde_json::Value>> {
        training_requests(&w)
            .into_iter()
            .take(n)
            .enumerate()
            .map(|(i, mut r)| {
                r.insert(
                    "applicant_id".into(),
                    serde_json::json!(format!("REQTEXT-{tag}-{i:04}")),
                );
                r
            })
            .collect()
    };
    // Off by default: windows kept, no request.
    let (child, sock) = serve_at(&w.plant(), "plant.sock", &["--window", "1"]);
    send(&sock, &marked("OFF", 40));
    stop(child);
    assert!(
        audit_actions(&w.plant())
            .iter()
            .any(|e| e["action"] == "monitor.window")
    );
    assert_eq!(
        json(&ok(&w.plant(), &["--json", "monitor", "requests"])),
        serde_json::json!([])
    );
    assert_eq!(any_file_holds(&w.plant(), b"REQTEXT-OFF"), None);

    // On: every request sampled, at most 2 batches kept.
    let policy = w.media("requests.toml");
    std::fs::write(
        &policy,
        "[request_log]\nsample_percent = 100\nmax_batches = 2\n",
    )
    .unwrap();
    let (child, sock) = serve_at(
        &w.plant(),
        "plant.sock",
        &[
            "--window",
            "1",
            "--monitor-policy",
            policy.to_str().unwrap(),
        ],
    );
    for burst in 0..4 {
        send(&sock, &marked(&format!("ON{burst}"), 10));
        std::thread::sleep(std::time::Duration::from_millis(1300));
    }
    wait_for("a request log batch pruned", || {
        audit_actions(&w.plant())
            .iter()
            .any(|e| e["action"] == "monitor.request-log.prune")
    });
    stop(child);
    let batches = json(&ok(&w.plant(), &["--json", "monitor", "requests"]));
    let batches = batches.as_array().unwrap();
    assert!(!batches.is_empty() && batches.len() <= 2, "{batches:?}");
    // Read back through airlock, the requests are there, as sent.
    let shown = json(&ok(
        &w.plant(),
        &[
            "--json",
            "monitor",
            "requests",
            "--show",
            batches[0]["id"].as_str().unwrap(),
        ],
    ));
    assert!(
        shown
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.as_str().unwrap().contains("REQTEXT-ON")),
        "{shown}"
    );
    // On disk they are encrypted: no file of the home holds a request's text.
    assert_eq!(any_file_holds(&w.plant(), b"REQTEXT-"), None);
    // Every prune is on the record, and the pruned files are gone (the vault verifies whole).
    let prunes: Vec<serde_json::Value> = audit_actions(&w.plant())
        .into_iter()
        .filter(|e| e["action"] == "monitor.request-log.prune")
        .collect();
    assert!(!prunes.is_empty());
    for p in &prunes {
        assert_eq!(p["details"]["max_batches"], 2, "{p}");
    }
    ok(&w.plant(), &["vault", "verify"]);
}

/// Sends `bursts` bursts of `n` requests with fresh applicant ids (so the canary gets its
/// share), a little more than a one-second window apart.
fn bursts(w: &World, sock: &std::path::Path, bursts: usize, n: usize) {
    let rows = training_requests(w);
    for b in 0..bursts {
        let burst: Vec<_> = rows[b * n..(b + 1) * n]
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut r = r.clone();
                r.insert(
                    "applicant_id".into(),
                    serde_json::json!(format!("B{b}-{i:04}")),
                );
                r
            })
            .collect();
        send(sock, &burst);
        std::thread::sleep(std::time::Duration::from_millis(1200));
    }
}

#[test]
fn a_canary_that_passes_its_windows_is_promoted_by_the_node_when_the_policy_says_so() {
    let w = World::new();
    let a = ready(&w, "credit-features", "credit", "roc_auc>=0.5");
    ok(&w.lab(), &refs(&as_dana(&w, &["deploy", &a])));
    let b = w.train_logreg();
    ok(&w.lab(), &["gate", &b, "--require", "roc_auc>=0.5"]);
    assert!(w.approve(&w.lab(), &b, "dana").status.success());
    ok(
        &w.lab(),
        &refs(&as_dana(
            &w,
            &["deploy", &b, "--slot", "canary", "--percent", "50"],
        )),
    );
    let policy = w.media("promote.toml");
    std::fs::write(&policy, "[canary]\npromote_after = 2\nmin_requests = 50\n").unwrap();
    let (child, sock) = serve(
        &w,
        &[
            "--window",
            "1",
            "--monitor-policy",
            policy.to_str().unwrap(),
        ],
    );
    bursts(&w, &sock, 4, 100);
    wait_for("the canary promoted", || {
        ok(&w.lab(), &["--json", "audit", "log"]).contains("model.promote")
    });
    stop(child);
    let list = json(&ok(&w.lab(), &["--json", "models", "list"]));
    let slot_of = |m: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == m)
            .and_then(|x| x["deployed"].as_str().map(str::to_owned))
    };
    assert_eq!(slot_of(&b).as_deref(), Some("production"), "{list}");
    assert_eq!(slot_of(&a), None, "{list}");
    let log = audit_actions(&w.lab());
    let p = log.iter().find(|e| e["action"] == "model.promote").unwrap();
    assert_eq!(p["details"]["automatic"], true, "{p}");
    assert!(
        p["details"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("automatic: the canary passed"),
        "{p}"
    );
    assert!(
        p["details"]["operator"].is_null(),
        "signed by the site alone: {p}"
    );
}

#[test]
fn a_canary_without_the_approvals_production_needs_is_not_promoted_and_an_alert_says_why() {
    let w = World::new();
    let model = w.model();
    let mut deploy = vec![
        "deploy".to_string(),
        model.clone(),
        "--slot".into(),
        "canary".into(),
        "--percent".into(),
        "50".into(),
    ];
    deploy.extend(w.as_op("omar"));
    ok(&w.plant(), &refs(&deploy));
    // Production now needs two approvals (pia may give the second); the canary's model has
    // one.
    let pia = w.new_operator(&w.plant(), "pia");
    w.plant_policy(|t| {
        let edited = t.replace("\"production\" = 1", "\"production\" = 2");
        assert_ne!(edited, t, "{t}");
        format!("{edited}\n[[operators]]\nname = \"pia\"\nkey = \"{pia}\"\nroles = [\"approve\"]\n")
    });
    let policy = w.media("promote.toml");
    std::fs::write(&policy, "[canary]\npromote_after = 2\nmin_requests = 50\n").unwrap();
    let (child, sock) = serve_at(
        &w.plant(),
        "plant.sock",
        &[
            "--window",
            "1",
            "--monitor-policy",
            policy.to_str().unwrap(),
        ],
    );
    bursts(&w, &sock, 4, 100);
    wait_for("the promotion refused", || {
        ok(&w.plant(), &["--json", "monitor", "alerts"]).contains("promotion refused")
    });
    stop(child);
    let alerts = json(&ok(&w.plant(), &["--json", "monitor", "alerts"]));
    let refused: Vec<&serde_json::Value> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "promotion refused")
        .collect();
    assert_eq!(refused.len(), 1, "raised once: {alerts}");
    assert!(
        refused[0]["metric"].as_str().unwrap().contains("needs 2"),
        "{alerts}"
    );
    let log = audit_actions(&w.plant());
    assert!(
        !log.iter().any(|e| e["action"] == "model.promote"),
        "never promoted"
    );
    assert!(
        log.iter().any(|e| e["action"] == "monitor.alert"
            && e["details"].to_string().contains("promotion refused")),
        "the refusal is on the record"
    );
    let list = json(&ok(&w.plant(), &["--json", "models", "list"]));
    assert!(
        list.to_string().contains("production,canary"),
        "both slots unchanged: {list}"
    );
}

#[test]
fn a_batch_predict_records_a_window_and_prediction_log_rows_so_drift_is_seen_for_batch_scoring() {
    let w = World::new();
    let model = keyed_model(&w);
    let policy = w.media("monitor.toml");
    std::fs::write(&policy, "[drift]\nalpha = 0.001\n").unwrap();
    let policy = policy.to_str().unwrap();
    // 1,500 training rows as CSV (the label column in it is not read).
    let csv = std::fs::read_to_string(w.media("credit.csv")).unwrap();
    let batch = w.media("batch.csv");
    std::fs::write(
        &batch,
        csv.lines().take(1501).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    let out = json(&ok(
        &w.lab(),
        &[
            "--json",
            "predict",
            "--input",
            batch.to_str().unwrap(),
            "--monitor-policy",
            policy,
        ],
    ));
    assert_eq!(out["predictions"].as_array().unwrap().len(), 1500);
    assert_eq!(requests_seen(&w, &["--json", "monitor", "report"]), 1500);
    assert_eq!(
        json(&ok(&w.lab(), &["--json", "monitor", "alerts"])),
        serde_json::json!([])
    );
    let (action, details) = last_audit(&w.lab());
    assert_eq!(action, "monitor.window", "{details}");
    assert_eq!(details["predictions_logged"], 1500, "{details}");
    // --no-monitor keeps nothing.
    ok(
        &w.lab(),
        &[
            "predict",
            "--input",
            batch.to_str().unwrap(),
            "--no-monitor",
        ],
    );
    assert_eq!(requests_seen(&w, &["--json", "monitor", "report"]), 1500);

    // The next 1,500 as JSON lines with income tripled: an alert naming income alone.
    let shifted: Vec<String> = training_requests(&w)[1500..3000]
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if let Some(x) = r["income"].as_f64() {
                r.insert("income".into(), serde_json::json!(x * 3.0));
            }
            serde_json::Value::Object(r).to_string()
        })
        .collect();
    let jsonl = w.media("shifted.jsonl");
    std::fs::write(&jsonl, shifted.join("\n") + "\n").unwrap();
    ok(
        &w.lab(),
        &[
            "predict",
            "--input",
            jsonl.to_str().unwrap(),
            "--monitor-policy",
            policy,
        ],
    );
    assert_eq!(requests_seen(&w, &["--json", "monitor", "report"]), 3000);
    let alerts = json(&ok(&w.lab(), &["--json", "monitor", "alerts"]));
    let inputs: Vec<&serde_json::Value> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "input drift")
        .collect();
    assert!(!inputs.is_empty(), "{alerts}");
    assert!(inputs.iter().all(|a| a["feature"] == "income"), "{alerts}");
    assert!(inputs.iter().all(|a| a["model"] == model.as_str()));
    // Both batches are in the prediction log, keyed by applicant: labels join them.
    let rows = training_requests(&w);
    let labels: Vec<(String, &str, i64)> = (0..100)
        .map(|i| {
            (
                rows[i]["applicant_id"].as_str().unwrap().to_owned(),
                "2099-01-01T00:00:00Z",
                0,
            )
        })
        .collect();
    ingest_labels(&w, &labels);
    let report = json(&ok(
        &w.lab(),
        &["--json", "monitor", "report", "--labels", "outcomes"],
    ));
    let acc = &report[0]["accuracy"][0];
    assert_eq!(acc["predictions"], 3000, "{acc}");
    assert_eq!(acc["overall"]["labelled"], 100, "{acc}");
    assert_eq!(acc["unmatched"], 0, "{acc}");
}

#[test]
fn a_monitoring_export_carries_only_the_windows_in_its_range() {
    let w = World::new();
    let model = w.model();
    let (child, sock) = serve_at(&w.plant(), "plant.sock", &["--window", "1"]);
    let rows = training_requests(&w);
    send(&sock, &rows[..100]);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    send(&sock, &rows[100..130]);
    stop(child);
    let report = json(&ok(&w.plant(), &["--json", "monitor", "report"]));
    let windows = report[0]["windows"].as_array().unwrap().clone();
    assert!(windows.len() >= 2, "{report}");
    let last = windows.last().unwrap();
    let from = last["start"].as_str().unwrap();
    let in_range: u64 = windows
        .iter()
        .filter(|x| x["start"].as_str().unwrap() >= from)
        .map(|x| x["requests"].as_u64().unwrap())
        .sum();
    assert!(in_range < 130, "{report}");
    w.plant_policy(|t| {
        t.replace(
            "roles = [\"approve\", \"deploy\"]",
            "roles = [\"approve\", \"deploy\", \"export\"]",
        )
    });
    let export = |item: &str, out: &str| -> Vec<String> {
        let mut a = vec![
            "bundle".to_string(),
            "export".into(),
            "--to".into(),
            w.m("lab.card.json"),
            "--out".into(),
            w.m(out),
            item.to_string(),
        ];
        a.extend(w.as_op("omar"));
        a
    };
    ok(
        &w.plant(),
        &refs(&export(
            &format!("monitor:{model}@{from}.."),
            "range.airlock",
        )),
    );
    let inspect = json(&ok(
        &w.lab(),
        &["--json", "bundle", "inspect", &w.m("range.airlock")],
    ));
    let carried = inspect["manifest"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "monitor-window")
        .count();
    assert!(carried >= 1 && carried < windows.len(), "{inspect}");
    ok(&w.lab(), &["bundle", "import", &w.m("range.airlock")]);
    let at_lab = json(&ok(
        &w.lab(),
        &["--json", "monitor", "report", "--site", "plant"],
    ));
    let got: u64 = at_lab[0]["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(got, in_range, "only the windows from {from}: {at_lab}");
    // A range holding no window, and one that does not parse.
    fails(
        &w.plant(),
        &refs(&export(
            &format!("monitor:{model}@2000-01-01..2000-01-02"),
            "none.airlock",
        )),
        6,
        &["in that range"],
    );
    fails(
        &w.plant(),
        &refs(&export(&format!("monitor:{model}@last:3w"), "bad.airlock")),
        3,
        &["window range", "last:N"],
    );
    // The last day holds them all.
    ok(
        &w.plant(),
        &refs(&export(&format!("monitor:{model}@last:1d"), "day.airlock")),
    );
    let inspect = json(&ok(
        &w.lab(),
        &["--json", "bundle", "inspect", &w.m("day.airlock")],
    ));
    let all = inspect["manifest"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "monitor-window")
        .count();
    assert!(all > carried, "{inspect}");
}

#[test]
fn a_csv_batch_keys_an_integer_entity_as_a_json_request_and_a_label_do() {
    let w = World::new();
    let contract = std::fs::read_to_string(w.media("credit.contract.toml"))
        .unwrap()
        .replace("name = \"credit\"", "name = \"byage\"\nentity = \"age\"");
    let file = w.media("byage.contract.toml");
    std::fs::write(&file, contract).unwrap();
    ok(
        &w.lab(),
        &[
            "data",
            "ingest",
            &w.m("credit.csv"),
            "--dataset",
            "byage",
            "--contract",
            file.to_str().unwrap(),
        ],
    );
    let spec = std::fs::read_to_string(w.media("credit.features.toml"))
        .unwrap()
        .replace("name = \"credit-features\"", "name = \"age-features\"")
        .replace("dataset = \"credit\"", "dataset = \"byage\"");
    let spec_file = w.media("age.features.toml");
    std::fs::write(&spec_file, spec).unwrap();
    ok(
        &w.lab(),
        &["features", "apply", spec_file.to_str().unwrap()],
    );
    let id = ready(&w, "age-features", "byage", "roc_auc>=0.5");
    ok(&w.lab(), &refs(&as_dana(&w, &["deploy", &id])));
    // 200 rows scored from CSV, keyed by their integer age.
    let csv = std::fs::read_to_string(w.media("credit.csv")).unwrap();
    let batch = w.media("ages.csv");
    std::fs::write(
        &batch,
        csv.lines().take(201).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    ok(&w.lab(), &["predict", "--input", batch.to_str().unwrap()]);
    let ages: std::collections::BTreeSet<i64> = training_requests(&w)[..200]
        .iter()
        .map(|r| r["age"].as_i64().unwrap())
        .collect();
    let labels = w.media("ages.labels.csv");
    let mut text = String::from("age,at,default\n");
    for a in &ages {
        text.push_str(&format!("{a},2099-01-01T00:00:00Z,0\n"));
    }
    std::fs::write(&labels, text).unwrap();
    let lc = w.media("agelabels.toml");
    std::fs::write(
        &lc,
        "name = \"agelabels\"\nversion = 1\nentity = \"age\"\nevent_time = \"at\"\n\
         [[columns]]\nname = \"age\"\ntype = \"integer\"\n\
         [[columns]]\nname = \"at\"\ntype = \"timestamp\"\n\
         [[columns]]\nname = \"default\"\ntype = \"integer\"\n",
    )
    .unwrap();
    ok(
        &w.lab(),
        &[
            "data",
            "ingest",
            labels.to_str().unwrap(),
            "--dataset",
            "agelabels",
            "--contract",
            lc.to_str().unwrap(),
        ],
    );
    let report = json(&ok(
        &w.lab(),
        &["--json", "monitor", "report", "--labels", "agelabels"],
    ));
    let acc = &report[0]["accuracy"][0];
    assert_eq!(acc["predictions"], 200, "{acc}");
    assert_eq!(acc["unmatched"], 0, "an integer key joins: {acc}");
    assert_eq!(acc["overall"]["labelled"], ages.len(), "{acc}");
}
