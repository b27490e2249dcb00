//! Monitoring while serving (issue 17): windows of summaries, input drift alerts naming the
//! feature, and the canary rolled back by the node itself. The demo world at lab, serving
//! with two-second windows.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};

use crate::harness::{World, last_audit, ok, refs};

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
    let id = json(&ok(
        &w.lab(),
        &[
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
        ],
    ))["id"]
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
    let (child, sock) = serve(&w, &["--window", "2"]);
    send(&sock, &rows[..1500]);
    std::thread::sleep(std::time::Duration::from_secs(4));
    let report = json(&ok(&w.lab(), &["--json", "monitor", "report"]));
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
    std::thread::sleep(std::time::Duration::from_secs(4));
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
    let text = ok(&w.lab(), &["monitor", "report"]);
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
    std::thread::sleep(std::time::Duration::from_secs(5));
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
