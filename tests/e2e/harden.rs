//! `airlock harden check --root ROOT`: the real binary against fake host
//! trees (`/proc`, `/sys`, `/etc` and a home under ROOT). A hardened host
//! exits 0; a host with every control off exits 5 and names each failing
//! check, in JSON and in the human report, escaping the host's own text.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use crate::harness::run;

/// The home as the fake host sees it (`--home`), under ROOT.
const HOME: &str = "/var/lib/airlock";

fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn chmod(root: &Path, rel: &str, mode: u32) {
    fs::set_permissions(root.join(rel), fs::Permissions::from_mode(mode)).unwrap();
}

const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

/// Files both trees have; `good` decides their content.
fn tree(root: &Path, good: bool) {
    let pick = |g: &'static str, b: &'static str| if good { g } else { b };
    for (rel, text) in [
        ("proc/sys/kernel/randomize_va_space", pick("2\n", "0\n")),
        ("proc/sys/kernel/yama/ptrace_scope", pick("1\n", "0\n")),
        ("proc/sys/fs/suid_dumpable", pick("0\n", "2\n")),
        ("proc/sys/kernel/kptr_restrict", pick("1\n", "0\n")),
        ("proc/sys/kernel/dmesg_restrict", pick("1\n", "0\n")),
        (
            "proc/sys/kernel/unprivileged_bpf_disabled",
            pick("1\n", "0\n"),
        ),
        (
            "proc/sys/kernel/core_pattern",
            "|/lib/systemd/systemd-coredump %P %u %g %s %t %c %h\n",
        ),
        (
            "etc/systemd/coredump.conf",
            pick(
                "[Coredump]\nStorage=none\n",
                "[Coredump]\nStorage=external\n",
            ),
        ),
        (
            "etc/modprobe.d/usb.conf",
            pick("install usb-storage /bin/false\n", "# nothing\n"),
        ),
        (
            "proc/modules",
            pick(
                "ext4 1032192 1 - Live 0x0\n",
                "cfg80211 1146880 1 iwlwifi, Live 0x0\nbluetooth 1036288 0 - Live 0x0\n",
            ),
        ),
        ("sys/class/net/lo/flags", "0x9\n"),
        ("sys/class/net/eth0/flags", pick("0x1002\n", "0x1003\n")),
        ("sys/class/net/eth0/operstate", pick("down\n", "up\n")),
        (
            "proc/self/mounts",
            pick(
                "/dev/mapper/root / ext4 rw 0 0\ntmpfs /tmp tmpfs rw,nosuid,nodev,noexec 0 0\ntmpfs /dev/shm tmpfs rw,nosuid,nodev,noexec 0 0\n",
                "/dev/sda1 / ext4 rw 0 0\ntmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0\n",
            ),
        ),
        ("sys/block/dm-0/dm/name", "root\n"),
        ("sys/block/dm-0/dm/uuid", "CRYPT-LUKS2-1234-root\n"),
        (
            "proc/swaps",
            pick(
                "Filename Type Size Used Priority\n",
                "Filename Type Size Used Priority\n/dev/sda2 partition 8388604 0 -2\n",
            ),
        ),
        ("proc/sys/net/ipv4/ip_forward", pick("0\n", "1\n")),
        ("proc/sys/net/ipv6/conf/all/forwarding", "0\n"),
        (
            "proc/net/route",
            pick(
                "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n",
                "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\neth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\n",
            ),
        ),
        ("proc/net/tcp6", HEADER),
        ("proc/net/udp", HEADER),
        ("proc/net/udp6", HEADER),
        ("proc/1/comm", pick("systemd\n", "sshd\n")),
        ("var/lib/airlock/keys/site.ed25519", "secret"),
        ("var/lib/airlock/keys/site.age", "secret"),
    ] {
        put(root, rel, text);
    }
    let tcp = if good {
        HEADER.to_string()
    } else {
        // sshd on 0.0.0.0:22.
        format!(
            "{HEADER}   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234\n"
        )
    };
    put(root, "proc/net/tcp", &tcp);
    if !good {
        // A wireless interface whose name carries an escape sequence: the
        // host's own text must reach the terminal escaped.
        fs::create_dir_all(root.join("sys/class/net/wl\u{1b}[2Jan0/wireless")).unwrap();
        fs::create_dir_all(root.join("sys/class/bluetooth/hci0")).unwrap();
    }
    chmod(root, "var/lib/airlock", if good { 0o700 } else { 0o755 });
    chmod(root, "var/lib/airlock/keys", 0o700);
    chmod(root, "var/lib/airlock/keys/site.age", 0o600);
    chmod(
        root,
        "var/lib/airlock/keys/site.ed25519",
        if good { 0o600 } else { 0o644 },
    );
}

fn check(root: &Path, json: bool) -> Output {
    let root = root.display().to_string();
    let mut args = vec!["harden", "check", "--root", &root];
    if json {
        args.push("--json");
    }
    run(Path::new(HOME), &args)
}

fn findings(out: &Output) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array().unwrap().clone()
}

#[test]
fn harden_check_passes_a_hardened_host() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), true);
    let out = check(dir.path(), true);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let items = findings(&out);
    assert_eq!(items.len(), 20);
    for f in &items {
        assert_eq!(f["status"], "pass", "{f}");
        for field in ["id", "title", "found", "fix"] {
            assert!(f[field].is_string(), "{field} in {f}");
        }
    }
    let aslr = items.iter().find(|f| f["id"] == "aslr").unwrap();
    assert_eq!(aslr["cis"], "1.5.1");

    let out = check(dir.path(), false);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("pass  aslr               kernel.randomize_va_space = 2  (CIS 1.5.1)"),
        "{text}"
    );
    assert!(text.contains("(no CIS id)"), "{text}");
    assert!(text.contains("20 passed, 0 warnings, 0 failed"), "{text}");
}

#[test]
fn harden_check_refuses_a_host_with_every_control_off() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), false);
    let out = check(dir.path(), true);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(5), "stderr: {stderr}");
    let items = findings(&out);
    let status = |id: &str| {
        items
            .iter()
            .find(|f| f["id"] == id)
            .unwrap_or_else(|| panic!("no {id}"))["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let failing = [
        "aslr",
        "ptrace-scope",
        "suid-dumpable",
        "coredump-storage",
        "kptr-restrict",
        "dmesg-restrict",
        "unprivileged-bpf",
        "wireless",
        "bluetooth",
        "tmp-mount",
        "shm-mount",
        "swap-encrypted",
        "home-encrypted",
        "ip-forwarding",
        "listening-sockets",
        "sshd",
        "home-modes",
    ];
    for id in failing {
        assert_eq!(status(id), "fail", "{id}");
        assert!(stderr.contains(id), "stderr names {id}: {stderr}");
    }
    // An operator's decision or a cluster's need: warned about, never failed.
    for id in ["usb-storage", "default-route", "interfaces-up"] {
        assert_eq!(status(id), "warn", "{id}");
    }
    assert_eq!(items.len(), failing.len() + 3);

    let out = check(dir.path(), false);
    assert_eq!(out.status.code(), Some(5));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("fail  sshd"), "{text}");
    assert!(
        text.contains("fix: sysctl -w kernel.randomize_va_space=2"),
        "{text}"
    );
    assert!(text.contains("0 passed, 3 warnings, 17 failed"), "{text}");
    assert!(!text.contains('\u{1b}'), "raw escape on stdout: {text:?}");
    assert!(text.contains("wl\\u{1b}[2Jan0"), "{text}");
}
