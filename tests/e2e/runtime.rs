//! The training runtime through the real binaries: the sandboxed worker (probed from inside),
//! reproducible and fully recorded runs, the multiclass and regression tasks, checkpoints,
//! device selection, and `airlock serve`.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::harness::{World, fails, ok};

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn train_json(home: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "--json",
        "train",
        "--dataset",
        "credit",
        "--features",
        "credit-features",
        "--epochs",
        "4",
    ];
    args.extend_from_slice(extra);
    json(&ok(home, &args))
}

fn show(home: &Path, id: &str) -> serde_json::Value {
    json(&ok(home, &["--json", "models", "show", id]))
}

/// From inside the worker's sandbox, a TCP connection to a loopback listener and a read of
/// the home's key folder both fail; before the sandbox both succeed; the worker can still use
/// its own folders.
#[test]
fn inside_the_worker_loopback_tcp_and_the_key_folder_are_unreachable() {
    let w = World::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let job = tempfile::tempdir().unwrap();
    for d in ["input", "output"] {
        std::fs::create_dir(job.path().join(d)).unwrap();
    }
    std::fs::write(job.path().join("input").join("x"), b"1").unwrap();
    let key = w.lab().join("keys").join("site.ed25519");
    assert!(key.is_file(), "the lab home has a signing key file");
    // `airlock` carries the CPU worker (`__worker`); the lean `airlock-worker` program runs
    // the same code and is probed by runtime/worker/tests/worker.rs.
    let out = Command::new(crate::harness::bin())
        .args(["__worker", "probe"])
        .arg(job.path())
        .arg(addr.to_string())
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&String::from_utf8_lossy(&out.stdout));
    // Before: the listener accepts and the key is readable (this test runs as its owner).
    assert!(v["before"]["connect_error"].is_null(), "{v}");
    assert!(v["before"]["read_error"].is_null(), "{v}");
    // Inside: both fail.
    let connect = v["inside"]["connect_error"].as_str().unwrap_or_default();
    let read = v["inside"]["read_error"].as_str().unwrap_or_default();
    assert!(
        !connect.is_empty(),
        "loopback TCP must fail inside the worker: {v}"
    );
    assert!(
        !read.is_empty(),
        "the key must be unreadable inside the worker: {v}"
    );
    assert!(read.contains("ermission denied"), "{read}");
    assert_eq!(v["own_folders_usable"], true, "{v}");
    let controls = v["sandbox"]["controls"].as_array().unwrap();
    for name in [
        "network-namespace",
        "landlock",
        "no-new-privileges",
        "core-dumps-off",
    ] {
        let c = controls.iter().find(|c| c["name"] == name).unwrap();
        assert_eq!(
            c["applied"], true,
            "{name} must be in force on this kernel (Linux with Landlock and namespaces): {c}"
        );
    }
    drop(listener);
}

/// The same data, feature set, settings and seed give bit-identical weights (same digest);
/// the run record names the code, the lock file, the inputs, the device and the sandbox.
#[test]
fn training_is_reproducible_and_the_run_record_holds_its_provenance() {
    let w = World::new();
    let args = [
        "--model",
        "mlp",
        "--hidden",
        "8,4",
        "--dropout",
        "0.1",
        "--class-weights",
        "balanced",
        "--schedule",
        "cosine",
        "--seed",
        "11",
        "--slice-by",
        "housing",
        "--device",
        "cpu",
    ];
    let a = train_json(&w.lab(), &args);
    let b = train_json(&w.lab(), &args);
    let (ra, rb) = (
        show(&w.lab(), a["id"].as_str().unwrap()),
        show(&w.lab(), b["id"].as_str().unwrap()),
    );
    assert_eq!(
        ra["weights"], rb["weights"],
        "same seed, same weights digest"
    );
    assert_ne!(
        a["id"], b["id"],
        "two runs are two records (their times differ)"
    );
    let other = train_json(
        &w.lab(),
        &["--model", "mlp", "--hidden", "8,4", "--seed", "12"],
    );
    let ro = show(&w.lab(), other["id"].as_str().unwrap());
    assert_ne!(ro["weights"], ra["weights"]);

    // Code version baked in at build.
    let lock = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap();
    let lock_hex: String = Sha256::digest(&lock)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(ra["code"]["cargo_lock_sha256"], lock_hex.as_str());
    assert_eq!(ra["code"]["airlock"], env!("CARGO_PKG_VERSION"));
    assert!(!ra["code"]["git_rev"].as_str().unwrap().is_empty());
    // Inputs, settings, device, sandbox.
    for k in [
        "dataset",
        "snapshot",
        "feature_set",
        "weights",
        "started_at",
        "finished_at",
    ] {
        assert!(ra[k].is_string(), "{k}: {ra}");
    }
    assert_eq!(ra["config"]["seed"], 11);
    assert_eq!(ra["config"]["arch"]["hidden"], serde_json::json!([8, 4]));
    assert_eq!(ra["device"]["kind"], "cpu");
    assert_ne!(
        ra["device"]["name"], "unknown",
        "the CPU model is read before the sandbox"
    );
    assert_eq!(ra["history"].as_array().unwrap().len(), 4);
    let slices = ra["metrics"]["holdout_slices"].as_object().unwrap();
    let mut names: Vec<&str> = slices.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["mortgage", "own", "rent"]);
    let checks = ra["sandbox"]["checks"].as_array().unwrap();
    let key_read = checks
        .iter()
        .find(|c| c["attempt"].as_str().unwrap().ends_with("/keys"))
        .unwrap();
    assert_eq!(key_read["refused"], true, "{key_read}");
    assert!(
        ra["sandbox"]["report"]["controls"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["applied"] == true || c["requested"] == false),
        "{}",
        ra["sandbox"]
    );
}

/// A feature set for another label, with no positive value.
fn features_for(w: &World, name: &str, label: &str, columns: &[(&str, &str)]) {
    let mut spec = format!("name = \"{name}\"\ndataset = \"credit\"\nlabel = \"{label}\"\n");
    for (c, t) in columns {
        spec.push_str(&format!(
            "\n[[features]]\ncolumn = \"{c}\"\ntransform = \"{t}\"\nimpute = \"{}\"\n",
            if *t == "one_hot" { "mode" } else { "median" }
        ));
    }
    let file = w.media(&format!("{name}.toml"));
    std::fs::write(&file, spec).unwrap();
    ok(
        &w.lab(),
        &["features", "apply", &file.display().to_string()],
    );
}

#[test]
fn multiclass_and_regression_train_gate_and_predict() {
    let w = World::new();
    features_for(
        &w,
        "purpose-features",
        "purpose",
        &[
            ("age", "standardize"),
            ("income", "standardize"),
            ("employment", "one_hot"),
        ],
    );
    let out = ok(
        &w.lab(),
        &[
            "--json",
            "train",
            "--dataset",
            "credit",
            "--features",
            "purpose-features",
            "--task",
            "multiclass",
            "--model",
            "mlp",
            "--hidden",
            "8",
            "--epochs",
            "3",
        ],
    );
    let v = json(&out);
    assert_eq!(v["task"], "multiclass");
    let per_class = v["metrics"]["holdout"]["per_class"].as_array().unwrap();
    assert_eq!(per_class.len(), 5, "five purposes");
    let id = v["id"].as_str().unwrap();
    ok(&w.lab(), &["gate", &id[..12], "--require", "accuracy>=0.0"]);
    fails(
        &w.lab(),
        &["gate", &id[..12], "--require", "rmse<=1"],
        3,
        &["rmse is not computed for multiclass models"],
    );
    // A binary model needs a positive value.
    fails(
        &w.lab(),
        &[
            "train",
            "--dataset",
            "credit",
            "--features",
            "purpose-features",
            "--model",
            "logreg",
        ],
        3,
        &["names no positive label value"],
    );

    features_for(
        &w,
        "amount-features",
        "loan_amount",
        &[
            ("age", "standardize"),
            ("income", "standardize"),
            ("term_months", "standardize"),
        ],
    );
    let out = ok(
        &w.lab(),
        &[
            "--json",
            "train",
            "--dataset",
            "credit",
            "--features",
            "amount-features",
            "--task",
            "regression",
            "--model",
            "logreg",
            "--epochs",
            "20",
            "--early-stopping",
            "3",
        ],
    );
    let v = json(&out);
    let h = &v["metrics"]["holdout"];
    assert!(
        h["rmse"].as_f64().unwrap() > 0.0 && h["mae"].is_f64() && h["r2"].is_f64(),
        "{h}"
    );
    assert!(h["roc_auc"].is_null(), "no AUC for a regression");
    let id = v["id"].as_str().unwrap().to_string();
    ok(&w.lab(), &["gate", &id[..12], "--require", "r2>=-100"]);
    let a = w.approve(&w.lab(), &id, "dana");
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let deploy = [
        vec![
            "deploy".to_string(),
            id[..12].to_string(),
            "--slot".into(),
            "amounts".into(),
        ],
        w.as_op("dana"),
    ]
    .concat();
    ok(&w.lab(), &crate::harness::refs(&deploy));
    let req = w.media("amount.jsonl");
    // A demo request, with the other model's label filled in: every column of the contract
    // but this model's label is part of a request.
    let requests = std::fs::read_to_string(w.media("requests.jsonl")).unwrap();
    let mut first: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(requests.lines().next().unwrap()).unwrap();
    first.insert("default".into(), 0.into());
    std::fs::write(&req, format!("{}\n", serde_json::Value::Object(first))).unwrap();
    let out = ok(
        &w.lab(),
        &[
            "--json",
            "predict",
            "--slot",
            "amounts",
            "--input",
            &req.display().to_string(),
        ],
    );
    let p = json(&out);
    let value = p["predictions"][0]["value"].as_f64().unwrap();
    assert!(value.is_finite() && value > 0.0, "{p}");
    assert!(p["predictions"][0]["probability"].is_null());
}

#[test]
fn checkpoints_are_written_and_devices_are_checked() {
    let w = World::new();
    let dir = w.media("ckpt");
    let d = dir.display().to_string();
    train_json(
        &w.lab(),
        &[
            "--model",
            "logreg",
            "--checkpoint-every",
            "2",
            "--checkpoint-dir",
            &d,
        ],
    );
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["epoch-0002.safetensors", "epoch-0004.safetensors"]);
    let bytes = std::fs::read(dir.join("epoch-0004.safetensors")).unwrap();
    assert!(bytes.len() > 8 && bytes[8] == b'{', "a safetensors file");

    // This build has no CUDA backend: cuda is a clear error, auto falls back and says so.
    let before = crate::harness::fingerprint(&w.lab());
    fails(
        &w.lab(),
        &[
            "train",
            "--dataset",
            "credit",
            "--features",
            "credit-features",
            "--model",
            "logreg",
            "--device",
            "cuda:0",
        ],
        3,
        &["device cuda:0: this build has no CUDA backend"],
    );
    fails(
        &w.lab(),
        &[
            "train",
            "--dataset",
            "credit",
            "--features",
            "credit-features",
            "--model",
            "logreg",
            "--device",
            "gpu",
        ],
        1,
        &["use auto, cpu, cuda or cuda:N"],
    );
    assert_eq!(
        crate::harness::fingerprint(&w.lab()),
        before,
        "nothing stored"
    );
    let v = train_json(&w.lab(), &["--model", "logreg", "--device", "auto"]);
    assert_eq!(v["device"]["kind"], "cpu");
    if airlock_runtime::device::gpu_present() {
        assert!(
            v["device"]["note"]
                .as_str()
                .unwrap()
                .contains("no CUDA backend"),
            "{v}"
        );
    } else {
        // No GPU here: `auto` is the CPU, and no note claims a GPU build is missing.
        assert!(v["device"]["note"].is_null(), "{v}");
    }

    // With a GPU worker installed beside airlock (here a stand-in that only says it ran):
    // cuda:N starts it and reports its failure; auto starts it only where the NVIDIA driver
    // is loaded, and otherwise trains on the CPU and says why.
    let bin = w.root.join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::copy(crate::harness::bin(), bin.join("airlock")).unwrap();
    // No airlock-worker beside it: the CPU worker built into airlock trains.
    let gpu = bin.join("airlock-worker-cuda");
    std::fs::write(
        &gpu,
        "#!/bin/sh\necho 'stand-in GPU worker ran' >&2\nexit 42\n",
    )
    .unwrap();
    std::fs::set_permissions(&gpu, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let train_on = |device: &str| {
        Command::new(bin.join("airlock"))
            .arg("--home")
            .arg(w.lab())
            .args(["--json", "train", "--dataset", "credit", "--features"])
            .args(["credit-features", "--model", "logreg", "--epochs", "2"])
            .args(["--device", device])
            .env_remove("AIRLOCK_HOME")
            .output()
            .unwrap()
    };
    let out = train_on("cuda:0");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stdout} {stderr}");
    assert!(stderr.contains("stand-in GPU worker ran"), "{stderr}");
    if Path::new("/proc/driver/nvidia/version").exists() {
        eprintln!("this host has an NVIDIA driver: auto would start the GPU worker; not checked");
    } else {
        let out = train_on("auto");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains("no NVIDIA driver is loaded"), "{stderr}");
        let v = json(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(v["device"]["kind"], "cpu");
        let note = v["device"]["note"].as_str().unwrap();
        assert!(
            note.contains("airlock-worker-cuda is installed but no NVIDIA driver"),
            "{v}"
        );
    }
}

/// Starts `airlock serve` at plant (the demo deployed its model there); returns the child
/// and the socket path.
fn start_serve(w: &World, extra: &[&str]) -> (std::process::Child, std::path::PathBuf) {
    let sock = w.root.join("serve.sock");
    let mut cmd = Command::new(crate::harness::bin());
    cmd.arg("--home")
        .arg(w.plant())
        .args(["serve", "--socket"])
        .arg(&sock)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("serving model"), "{line}");
    (child, sock)
}

fn exchange(stream: &mut UnixStream, request: &str) -> serde_json::Value {
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(b"\n").unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    json(line.trim())
}

fn stop(mut child: std::process::Child, sock: &Path) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
    assert!(!sock.exists(), "the socket is removed");
}

#[test]
fn serve_answers_requests_like_predict_and_enforces_its_limits() {
    let w = World::new();
    let requests = std::fs::read_to_string(w.media("requests.jsonl")).unwrap();
    let first = requests.lines().next().unwrap().to_string();
    let predicted = json(&ok(
        &w.plant(),
        &["--json", "predict", "--input", &w.m("requests.jsonl")],
    ));
    let (child, sock) = start_serve(
        &w,
        &["--max-connections", "1", "--max-request-bytes", "4096"],
    );

    let mut s = UnixStream::connect(&sock).unwrap();
    let a = exchange(&mut s, &first);
    assert_eq!(
        a["probability"], predicted["predictions"][0]["probability"],
        "the same answer as predict: {a}"
    );
    assert_eq!(a["model"], predicted["model"]);
    // A bad request gets an error line; the connection stays usable.
    let e = exchange(&mut s, "{\"age\": \"old\"}");
    assert!(
        e["error"].as_str().unwrap().contains("contract credit"),
        "{e}"
    );
    let e = exchange(&mut s, "[1, 2]");
    assert!(
        e["error"].as_str().unwrap().contains("not a JSON object"),
        "{e}"
    );
    assert_eq!(exchange(&mut s, &first)["probability"], a["probability"]);

    // A second connection while the first is held: busy.
    let mut s2 = UnixStream::connect(&sock).unwrap();
    let mut busy = String::new();
    s2.read_to_string(&mut busy).unwrap();
    assert!(busy.contains("server busy: 1 connections in use"), "{busy}");

    // An over-long request: refused by name, connection closed. The server may answer and
    // close before the client has written all of it, so a broken pipe on write is fine.
    let long = format!("{{\"applicant_id\": \"{}\"}}\n", "x".repeat(5000));
    if let Err(e) = s.write_all(long.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    // Closing with our bytes unread resets the connection once the reply has been read.
    let mut rest = Vec::new();
    if let Err(e) = s.read_to_end(&mut rest) {
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    }
    let rest = String::from_utf8_lossy(&rest);
    assert!(rest.contains("request longer than 4096 bytes"), "{rest}");
    stop(child, &sock);

    // A uid not on the allow list is refused.
    let (child, sock) = start_serve(&w, &["--allow-uid", "4242"]);
    let mut s = UnixStream::connect(&sock).unwrap();
    let mut refused = String::new();
    s.read_to_string(&mut refused).unwrap();
    let me = nix::unistd::geteuid().as_raw();
    assert!(
        refused.contains(&format!("uid {me} is not allowed")),
        "{refused}"
    );
    stop(child, &sock);
}

/// Issue 15, item 9: `kill -9` of `airlock train` once left its worker running, re-parented to
/// PID 1, and the next command deleted the job folder under it. Now the worker dies with
/// `airlock train`, and the next command recovers the home cleanly.
#[test]
fn attack_kill_9_of_airlock_train_leaves_no_worker_running() {
    let w = World::new();
    let mut train = Command::new(crate::harness::bin())
        .arg("--home")
        .arg(w.lab())
        .args([
            "train",
            "--dataset",
            "credit",
            "--features",
            "credit-features",
        ])
        .args(["--model", "logreg", "--epochs", "10000000"])
        .env_remove("AIRLOCK_HOME")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The worker is a child of `airlock train` whose command line names a job folder in lab's
    // vault/tmp; wait until it runs.
    let tmp = w.lab().join("vault").join("tmp");
    let find_worker = || -> Option<u32> {
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd);
            (cmd.contains("train-job-") && cmd.contains(&*tmp.to_string_lossy())).then_some(pid)
        })
    };
    let start = std::time::Instant::now();
    let worker = loop {
        if let Some(pid) = find_worker() {
            break pid;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "the worker never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    train.kill().unwrap(); // SIGKILL
    train.wait().unwrap();
    let gone = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
    };
    let start = std::time::Instant::now();
    while !gone(worker) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "the worker {worker} outlived airlock train"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The next command recovers: the job folder is removed, nothing else is lost.
    let log = ok(&w.lab(), &["audit", "verify"]);
    assert!(log.contains("audit log intact"), "{log}");
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "recovery emptied vault/tmp"
    );
}

/// Issue 15, item 7: connections that sent nothing held every slot for as long as they
/// stayed open. Now one uid holds at most its share, a connection with no request is closed
/// after `--idle-timeout`, a request begun and never finished after `--request-timeout`, each
/// saying why, and a legitimate client is then answered.
#[test]
fn attack_idle_clients_cannot_lock_out_serve() {
    use std::time::{Duration, Instant};
    let w = World::new();
    let requests = std::fs::read_to_string(w.media("requests.jsonl")).unwrap();
    let first = requests.lines().next().unwrap().to_string();
    let (child, sock) = start_serve(
        &w,
        &[
            "--max-connections",
            "3",
            "--max-connections-per-uid",
            "2",
            "--idle-timeout",
            "1",
            "--request-timeout",
            "1",
        ],
    );
    let me = nix::unistd::geteuid().as_raw();
    let connect = || {
        let s = UnixStream::connect(&sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    };
    let said = |mut s: UnixStream| {
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    };

    // Two idle connections: this uid's whole share. A third is refused by name, though the
    // server as a whole has room.
    let started = Instant::now();
    let idle = [connect(), connect()];
    let refused = said(connect());
    assert!(
        refused.contains(&format!("uid {me} already holds 2 connections")),
        "{refused}"
    );

    // Blank lines are no requests: one of them sends a blank line every 250 ms for 2.5 s.
    // (A closed connection may refuse the later writes.)
    let [quiet, mut chatty] = idle;
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(250));
        let _ = chatty.write_all(b"\n");
    }
    // Both were closed once the idle timeout had passed, and told why: the chatty one's
    // message is already waiting, with the end of the stream.
    chatty
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut text = Vec::new();
    match chatty.read_to_end(&mut text) {
        Ok(_) => {}
        // Our blank lines, unread when it closed, may reset the connection after its message.
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.contains("no request for 1 s; connection closed"),
        "blank lines kept it open: {text:?}"
    );
    let text = said(quiet);
    assert!(
        text.contains("no request for 1 s; connection closed"),
        "{text}"
    );
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(10), "closed after {waited:?}");

    // Now a legitimate client is answered.
    let mut s = connect();
    let a = exchange(&mut s, &first);
    assert!(a["probability"].is_number(), "{a}");

    // A request begun and never finished is cut off after the request timeout.
    let mut slow = connect();
    let started = Instant::now();
    slow.write_all(b"{\"age\": ").unwrap();
    let text = said(slow);
    assert!(
        text.contains("request not finished within 1 s; connection closed"),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(8));
    drop(s);
    stop(child, &sock);
}
