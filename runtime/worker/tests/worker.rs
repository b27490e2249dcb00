//! The lean `airlock-worker` program, run for real: its sandbox probed from inside, and the
//! worker dying with its parent (a `kill -9` of `airlock train` must not leave it running on
//! its own, holding the job folder).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use airlock_runtime::TrainConfig;
use airlock_worker::Job;

fn worker() -> &'static str {
    env!("CARGO_BIN_EXE_airlock-worker")
}

/// A job folder with a job that trains for a long time (a million epochs on 2,000 rows).
fn long_job(dir: &Path) {
    let input = dir.join("input");
    std::fs::create_dir(&input).unwrap();
    std::fs::create_dir(dir.join("output")).unwrap();
    let (rows, cols) = (2000usize, 4usize);
    let config = TrainConfig {
        epochs: 1_000_000,
        ..TrainConfig::default()
    };
    let job = Job {
        config,
        rows,
        cols,
        device: airlock_runtime::DeviceChoice::Cpu,
        slices: false,
        must_not_read: Vec::new(),
        device_note: None,
    };
    std::fs::write(input.join("job.json"), serde_json::to_vec(&job).unwrap()).unwrap();
    let x: Vec<u8> = (0..rows * cols)
        .flat_map(|i| ((i % 97) as f32 / 97.0).to_le_bytes())
        .collect();
    let y: Vec<u8> = (0..rows)
        .flat_map(|i| ((i % 2) as f32).to_le_bytes())
        .collect();
    std::fs::write(input.join("x.f32"), x).unwrap();
    std::fs::write(input.join("y.f32"), y).unwrap();
}

fn alive(pid: u32) -> bool {
    // A dead child not yet reaped by its new parent is a zombie: it runs no more.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

/// kill -9 of the parent: the worker dies too (PR_SET_PDEATHSIG), and its job folder is no
/// longer in use; while it ran, the job folder was in use.
#[test]
fn attack_kill_9_of_train_leaves_no_worker_running() {
    let job = tempfile::tempdir().unwrap();
    long_job(job.path());
    // The parent: a shell that starts the worker with its own pid, prints the worker's pid
    // and waits.
    let mut parent = Command::new("sh")
        .arg("-c")
        .arg("\"$0\" train \"$1\" $$ & echo $!; wait")
        .arg(worker())
        .arg(job.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(parent.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let worker_pid: u32 = line.trim().parse().unwrap();
    // Wait until the worker holds its job folder (it locks it first thing).
    let start = Instant::now();
    while !airlock_worker::job_in_use(job.path()) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the worker never locked its job folder"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(alive(worker_pid), "the worker runs while its parent lives");
    parent.kill().unwrap(); // SIGKILL
    parent.wait().unwrap();
    let start = Instant::now();
    while alive(worker_pid) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the worker {worker_pid} outlived its killed parent"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !airlock_worker::job_in_use(job.path()),
        "a dead worker's job folder is free for recovery"
    );
}

/// A worker whose named parent is not its parent (the parent died before the worker could
/// tie itself to it) refuses to run.
#[test]
fn a_worker_orphaned_before_it_starts_refuses_to_run() {
    let job = tempfile::tempdir().unwrap();
    long_job(job.path());
    let out = Command::new(worker())
        .arg("train")
        .arg(job.path())
        // Not this test's pid: as if the parent had died and the worker were re-parented.
        .arg((std::process::id() + 1).to_string())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("cannot be tied to its parent"), "{stderr}");
    assert!(stderr.contains("is gone"), "{stderr}");
    assert!(
        !job.path().join("output").join("result.json").exists(),
        "nothing trained"
    );
}

/// Inside the lean worker's sandbox, a loopback TCP connection and a read of a private file
/// outside the job both fail; before the sandbox both succeed.
#[test]
fn inside_the_lean_worker_loopback_tcp_and_outside_files_are_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let job = tempfile::tempdir().unwrap();
    for d in ["input", "output"] {
        std::fs::create_dir(job.path().join(d)).unwrap();
    }
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("site.ed25519");
    std::fs::write(&secret, b"not a real key").unwrap();
    let out = Command::new(worker())
        .arg("probe")
        .arg(job.path())
        .arg(addr.to_string())
        .arg(&secret)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["before"]["connect_error"].is_null(), "{v}");
    assert!(v["before"]["read_error"].is_null(), "{v}");
    assert!(
        v["inside"]["connect_error"].is_string(),
        "loopback TCP must fail inside: {v}"
    );
    let read = v["inside"]["read_error"].as_str().unwrap_or_default();
    assert!(read.contains("ermission denied"), "{v}");
    assert_eq!(v["own_folders_usable"], true, "{v}");
}
