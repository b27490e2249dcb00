//! End-to-end proof of the worker sandbox: this binary re-executes itself as
//! a child that enters the sandbox and tries what it must and must not do.
//!
//! No libtest harness (`harness = false`): libtest runs each test on a
//! thread of its own, and the child must be single-threaded, as the real
//! worker is when it enters the sandbox, or it cannot enter a user
//! namespace. The parent runs each case below and prints the
//! `N passed, N failed` line; a filter argument runs the cases whose name
//! contains it.
//!
//! Each child probes before entering (everything works: the denials after
//! are the sandbox's doing) and after. The folders are open to everyone
//! (`0777` input, `0644` key file), so permissions do not stop the child:
//! only the sandbox can.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use airlock_hardening::sandbox::{self, ProbeResult, SandboxPolicy, SandboxReport};
use nix::unistd::{Gid, Uid, geteuid, setgid, setgroups, setuid};
use serde::{Deserialize, Serialize};

/// Set in the child: the case it plays.
const ROLE: &str = "AIRLOCK_SANDBOX_TEST_CHILD";
/// Marks the child's outcome line on its standard output.
const MARK: &str = "sandbox-child-outcome: ";
/// `nobody`: the unprivileged case's user when the test runs as root.
const NOBODY: u32 = 65534;

const CASES: [(&str, fn()); 3] = [
    ("sandbox_as_current_user", as_current_user),
    ("sandbox_as_unprivileged_user", as_unprivileged_user),
    (
        "network_namespace_alone_cuts_the_network",
        network_namespace_alone,
    ),
];

fn main() -> ExitCode {
    if let Ok(role) = std::env::var(ROLE) {
        child(&role);
        return ExitCode::SUCCESS;
    }
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let (mut passed, mut failed) = (0, 0);
    for (name, case) in CASES {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        if std::panic::catch_unwind(case).is_ok() {
            println!("test {name} ... ok");
            passed += 1;
        } else {
            println!("test {name} ... FAILED");
            failed += 1;
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// As whoever runs the tests: root here and in CI, where `CLONE_NEWNET`
/// alone works.
fn as_current_user() {
    run_case("current");
}

/// As `nobody` when the tests run as root (else as the current, already
/// unprivileged user): the user namespace path.
fn as_unprivileged_user() {
    run_case("unprivileged");
}

/// Without Landlock, so that what the network namespace does on its own
/// shows, whatever the kernel's Landlock ABI: no route, for TCP and UDP.
fn network_namespace_alone() {
    let (o, _dirs) = run_child("netns-only");
    let netns = o
        .report
        .control("network-namespace")
        .expect("netns control");
    assert!(netns.applied, "{netns:?}");
    let landlock = o.report.control("landlock").expect("landlock control");
    assert!(!landlock.applied && !landlock.requested, "{landlock:?}");
    assert!(o.report.fully_applied(), "{:#?}", o.report);
    assert_ne!(
        o.netns_before, o.netns_after,
        "still in the same network namespace"
    );
    assert_eq!(o.before.connect_error, None);
    assert_eq!(o.udp_before, None);
    let connect = o
        .after
        .connect_error
        .as_deref()
        .expect("TCP connect must fail");
    assert!(connect.contains("(os error 101)"), "{connect}");
    let udp = o.udp_after.as_deref().expect("UDP send must fail");
    assert!(udp.contains("(os error 101)"), "{udp}");
    // Landlock off: the key stays readable, as reported.
    assert_eq!(o.after.read_error, None);
}

/// What the child saw, sent back as one JSON line.
#[derive(Serialize, Deserialize, Debug)]
struct Outcome {
    uid: u32,
    report: SandboxReport,
    before: ProbeResult,
    after: ProbeResult,
    udp_before: Option<String>,
    udp_after: Option<String>,
    netns_before: String,
    netns_after: String,
    input_read: Result<String, String>,
    output_write: Result<(), String>,
    input_write: Result<(), String>,
    keys_listing: Result<(), String>,
    nofile: (u64, u64),
    dumpable: bool,
    parallelism: (usize, usize),
}

struct Folders {
    _root: tempfile::TempDir,
    keys: PathBuf,
    input: PathBuf,
    output: PathBuf,
}

fn folders(output_owner: Option<u32>) -> Folders {
    let root = tempfile::tempdir().expect("temp folder");
    let at = |name: &str| root.path().join(name);
    let (keys, input, output) = (at("keys"), at("input"), at("output"));
    for dir in [&keys, &input, &output] {
        std::fs::create_dir(dir).expect("create folder");
    }
    std::fs::write(keys.join("site.age"), "AGE-SECRET-KEY-TEST").expect("write key");
    std::fs::write(input.join("rows.csv"), "a,b\n1,2\n").expect("write input");
    chmod(root.path(), 0o755);
    chmod(&keys, 0o755);
    chmod(&keys.join("site.age"), 0o644);
    chmod(&input, 0o777);
    chmod(&input.join("rows.csv"), 0o644);
    if let Some(uid) = output_owner {
        std::os::unix::fs::chown(&output, Some(uid), Some(uid)).expect("chown output");
    }
    Folders {
        _root: root,
        keys,
        input,
        output,
    }
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn run_case(role: &str) {
    let (o, dirs) = run_child(role);
    check(&o, &dirs, role == "unprivileged");
    println!("{role} child's report:");
    for c in &o.report.controls {
        let state = if c.applied { "applied" } else { "not applied" };
        let why = c.error.as_deref().or(c.detail.as_deref()).unwrap_or("");
        println!("  {}: {state} {why}", c.name);
    }
}

fn run_child(role: &str) -> (Outcome, Folders) {
    let unprivileged = role == "unprivileged";
    let dirs = folders((unprivileged && geteuid().is_root()).then_some(NOBODY));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind TCP listener");
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind UDP socket");
    let out = Command::new(std::env::current_exe().expect("test binary path"))
        .env(ROLE, role)
        .env(
            "SANDBOX_TEST_TCP",
            listener.local_addr().expect("addr").to_string(),
        )
        .env(
            "SANDBOX_TEST_UDP",
            udp.local_addr().expect("addr").to_string(),
        )
        .env("SANDBOX_TEST_KEYS", &dirs.keys)
        .env("SANDBOX_TEST_INPUT", &dirs.input)
        .env("SANDBOX_TEST_OUTPUT", &dirs.output)
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let context = format!(
        "child {}:\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(MARK))
        .unwrap_or_else(|| panic!("no outcome from the {context}"));
    let o: Outcome = serde_json::from_str(line).expect("child outcome JSON");
    (o, dirs)
}

fn check(o: &Outcome, dirs: &Folders, unprivileged: bool) {
    let control = |name: &str| {
        o.report
            .control(name)
            .unwrap_or_else(|| panic!("report has no {name}: {:?}", o.report))
    };
    let landlock = control("landlock");
    assert!(
        landlock.applied,
        "this kernel does not enforce Landlock, so the filesystem denials cannot be proven here: \
         {landlock:?}"
    );
    let failures: Vec<_> = o.report.failures().collect();
    assert!(failures.is_empty(), "controls not applied: {failures:#?}");
    if unprivileged {
        assert_ne!(o.uid, 0, "the unprivileged child runs as root");
    }
    let netns = control("network-namespace");
    let detail = netns.detail.as_deref().unwrap_or_default();
    assert_eq!(
        detail.contains("CLONE_NEWUSER"),
        o.uid != 0,
        "uid {} took the wrong path: {detail}",
        o.uid
    );
    assert!(!detail.contains("FAILED"), "{detail}");

    // Before entering, everything works: the denials below are the sandbox's.
    assert_eq!(
        o.before,
        ProbeResult {
            connect_error: None,
            read_error: None
        }
    );
    assert_eq!(o.udp_before, None);

    // (a) TCP to the parent is denied: Landlock's TCP rule answers first
    // (EACCES), before the namespace's missing route (ENETUNREACH) could.
    let connect = o
        .after
        .connect_error
        .as_deref()
        .expect("TCP connect must fail");
    assert!(connect.contains("(os error 13)"), "{connect}");
    // UDP: no route in the namespace, or denied by Landlock from ABI v10.
    let udp = o.udp_after.as_deref().expect("UDP send must fail");
    assert!(
        udp.contains("(os error 101)") || udp.contains("(os error 13)"),
        "{udp}"
    );
    assert_ne!(
        o.netns_before, o.netns_after,
        "still in the same network namespace"
    );
    // (b) the key file and its folder are denied.
    let read = o.after.read_error.as_deref().expect("key read must fail");
    assert!(read.contains("(os error 13)"), "{read}");
    assert!(
        o.keys_listing
            .as_ref()
            .is_err_and(|e| e.contains("(os error 13)")),
        "{:?}",
        o.keys_listing
    );
    // (c) the input is readable, (d) the output writable, (e) the input not.
    assert_eq!(o.input_read.as_deref(), Ok("a,b\n1,2\n"));
    assert_eq!(o.output_write, Ok(()));
    let written = std::fs::metadata(dirs.output.join("result")).expect("output file");
    assert_eq!(
        written.uid(),
        o.uid,
        "the output file belongs to someone else"
    );
    assert_eq!(written.mode() & 0o077, 0, "umask 077 not in force");
    assert!(
        o.input_write
            .as_ref()
            .is_err_and(|e| e.contains("(os error 13)")),
        "{:?}",
        o.input_write
    );
    assert!(!dirs.input.join("new").exists());

    assert_eq!(o.nofile, (256, 256));
    assert!(!o.dumpable, "the child is dumpable");
    // The runtime read-only paths keep the CPU count the pool is sized by.
    assert_eq!(o.parallelism.0, o.parallelism.1);
}

fn child(role: &str) {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} not set"));
    if role == "unprivileged" && geteuid().is_root() {
        setgroups(&[]).expect("setgroups");
        setgid(Gid::from_raw(NOBODY)).expect("setgid");
        setuid(Uid::from_raw(NOBODY)).expect("setuid");
    }
    let tcp: SocketAddr = var("SANDBOX_TEST_TCP").parse().expect("TCP address");
    let udp: SocketAddr = var("SANDBOX_TEST_UDP").parse().expect("UDP address");
    let keys = PathBuf::from(var("SANDBOX_TEST_KEYS"));
    let input = PathBuf::from(var("SANDBOX_TEST_INPUT"));
    let output = PathBuf::from(var("SANDBOX_TEST_OUTPUT"));
    let key = keys.join("site.age");
    let send = || {
        UdpSocket::bind("0.0.0.0:0")
            .and_then(|s| s.send_to(b"x", udp))
            .err()
            .map(|e| e.to_string())
    };
    let netns = || {
        std::fs::read_link("/proc/self/ns/net")
            .map(|l| l.display().to_string())
            .unwrap_or_else(|e| e.to_string())
    };
    let cpus = || std::thread::available_parallelism().map_or(0, |n| n.get());
    let err = |r: std::io::Result<()>| r.map_err(|e| e.to_string());

    let (before, udp_before, netns_before, cpus_before) =
        (sandbox::probe(tcp, &key), send(), netns(), cpus());
    let report = sandbox::enter(&SandboxPolicy {
        read_only: vec![input.clone()],
        read_write: vec![output.clone()],
        landlock: role != "netns-only",
        ..SandboxPolicy::default()
    });
    let outcome = Outcome {
        uid: geteuid().as_raw(),
        after: sandbox::probe(tcp, &key),
        udp_after: send(),
        netns_before,
        netns_after: netns(),
        input_read: std::fs::read_to_string(input.join("rows.csv")).map_err(|e| e.to_string()),
        output_write: err(std::fs::write(output.join("result"), "ok")),
        input_write: err(std::fs::write(input.join("new"), "x")),
        keys_listing: err(std::fs::read_dir(&keys).map(drop)),
        nofile: nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .expect("getrlimit"),
        dumpable: nix::sys::prctl::get_dumpable().expect("get dumpable"),
        parallelism: (cpus_before, cpus()),
        report,
        before,
        udp_before,
    };
    println!(
        "{MARK}{}",
        serde_json::to_string(&outcome).expect("serialize outcome")
    );
}
