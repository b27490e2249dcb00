//! Unit tests of the sandbox's types, and what a worker that broke the
//! calling contract (threads already running) gets recorded. The end-to-end
//! proof of each control is `tests/sandbox.rs`, whose child is single-threaded
//! as the real worker is.

use std::process::Command;

use super::*;

#[test]
fn default_limits_bound_files_and_leave_memory_to_the_cgroup() {
    let limits = Limits::default();
    assert_eq!(limits.open_files, 256);
    assert_eq!(limits.file_size_bytes, 8 * 1024 * 1024 * 1024);
    assert_eq!(limits.address_space_bytes, None);
    assert_eq!(limits.cpu_seconds, None);
    assert_eq!(limits.processes, None);
}

#[test]
fn default_policy_turns_everything_on_and_allows_no_path() {
    let policy = SandboxPolicy::default();
    assert!(policy.isolate_network && policy.landlock);
    assert!(policy.read_only.is_empty() && policy.read_write.is_empty());
}

#[test]
fn a_control_not_requested_is_no_failure() {
    let report = SandboxReport {
        controls: vec![
            Control::applied("umask-077"),
            Control::not_requested("rlimit-cpu"),
        ],
    };
    assert!(report.fully_applied());
    let report = SandboxReport {
        controls: vec![Control::failed(
            "landlock",
            "kernel has no Landlock support",
        )],
    };
    let failures: Vec<_> = report.failures().map(|c| c.name.as_str()).collect();
    assert_eq!(failures, ["landlock"]);
}

#[test]
fn report_survives_the_run_record_round_trip() {
    let report = SandboxReport {
        controls: vec![
            Control::applied("landlock").with_detail("partially enforced (ABI v7)"),
            Control::failed("network-namespace", "Operation not permitted"),
            Control::not_requested("rlimit-as"),
        ],
    };
    let json = serde_json::to_string(&report).expect("serialize report");
    let back: SandboxReport = serde_json::from_str(&json).expect("deserialize report");
    assert_eq!(back, report);
    assert!(json.contains(r#""name":"landlock""#), "{json}");
}

const THREADED_CHILD: &str = "AIRLOCK_SANDBOX_THREADED_CHILD";

/// libtest runs each test on a thread of its own, so a child re-executed
/// through it has (at least) two threads when it enters the sandbox: the
/// report must say so, and Landlock must still bind the calling thread.
#[test]
fn entering_with_threads_running_is_recorded() {
    if std::env::var_os(THREADED_CHILD).is_some() {
        threaded_child();
        return;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new(exe)
        .args([
            "--exact",
            "sandbox::tests::entering_with_threads_running_is_recorded",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(THREADED_CHILD, "1")
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn threaded_child() {
    let exe = std::env::current_exe().expect("test binary path");
    let report = enter(&SandboxPolicy::default());
    println!(
        "{}",
        serde_json::to_string_pretty(&report).expect("serialize")
    );
    let single = report.control("single-threaded").expect("single-threaded");
    let error = single.error.as_deref().unwrap_or_default();
    assert!(
        !single.applied && error.contains("threads were running"),
        "{single:?}"
    );
    let landlock = report.control("landlock").expect("landlock control");
    assert!(
        landlock.applied,
        "this kernel does not enforce Landlock, so the sandbox cannot be proven here: {landlock:?}"
    );
    // No path is allowed: not even this thread's own test binary is readable.
    let read = std::fs::read(&exe).expect_err("read of the test binary must be denied");
    assert_eq!(read.kind(), std::io::ErrorKind::PermissionDenied, "{read}");
    let netns = report.control("network-namespace").expect("netns control");
    if nix::unistd::geteuid().is_root() {
        // CLONE_NEWNET alone takes no heed of other threads.
        assert!(netns.applied, "{netns:?}");
    } else {
        let error = netns.error.as_deref().unwrap_or_default();
        assert!(error.contains("more than one thread"), "{netns:?}");
    }
}
