//! Every check against a fake host tree: one tree where all pass, and for
//! each check at least one change that makes it warn or fail, with the
//! status the report must give.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::*;

const HOME: &str = "/var/lib/airlock";

fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(p, text).expect("write");
}

fn chmod(root: &Path, rel: &str, mode: u32) {
    fs::set_permissions(root.join(rel), fs::Permissions::from_mode(mode)).expect("chmod");
}

/// An IPv4 address as `/proc/net` prints it: one word in host byte order.
fn v4_hex(a: [u8; 4]) -> String {
    format!("{:08X}", u32::from_ne_bytes(a))
}

const MOUNTS_GOOD: &str = "/dev/mapper/root / ext4 rw,relatime 0 0\n\
proc /proc proc rw,nosuid,nodev,noexec 0 0\n\
tmpfs /dev/shm tmpfs rw,nosuid,nodev,noexec 0 0\n\
tmpfs /tmp tmpfs rw,nosuid,nodev,noexec,relatime 0 0\n\
/dev/mapper/vg-var /var ext4 rw,relatime 0 0\n";

const TCP_HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

/// A host on which every check passes.
fn good() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = dir.path();
    for (rel, text) in [
        ("proc/sys/kernel/randomize_va_space", "2\n"),
        ("proc/sys/kernel/yama/ptrace_scope", "1\n"),
        ("proc/sys/fs/suid_dumpable", "0\n"),
        ("proc/sys/kernel/kptr_restrict", "1\n"),
        ("proc/sys/kernel/dmesg_restrict", "1\n"),
        ("proc/sys/kernel/unprivileged_bpf_disabled", "2\n"),
        (
            "proc/sys/kernel/core_pattern",
            "|/lib/systemd/systemd-coredump %P %u %g %s %t 9223372036854775808 %h\n",
        ),
        (
            "etc/systemd/coredump.conf",
            "[Coredump]\n#Storage=external\n",
        ),
        (
            "etc/systemd/coredump.conf.d/60-airlock.conf",
            "[Coredump]\nStorage=none\n",
        ),
        (
            "etc/modprobe.d/airlock-usb.conf",
            "install usb-storage /bin/false\n",
        ),
        (
            "proc/modules",
            "ext4 1032192 1 - Live 0x0\ndm_crypt 65536 2 - Live 0x0\n",
        ),
        ("sys/class/net/lo/flags", "0x9\n"),
        ("sys/class/net/lo/operstate", "unknown\n"),
        ("sys/class/net/eth0/flags", "0x1002\n"),
        ("sys/class/net/eth0/operstate", "down\n"),
        ("proc/self/mounts", MOUNTS_GOOD),
        ("sys/block/dm-0/dm/name", "sda3_crypt\n"),
        (
            "sys/block/dm-0/dm/uuid",
            "CRYPT-LUKS2-0f1e2d3c-sda3_crypt\n",
        ),
        ("sys/block/dm-1/dm/name", "vg-var\n"),
        ("sys/block/dm-1/dm/uuid", "LVM-Vd8kq\n"),
        ("sys/block/dm-1/slaves/dm-0", ""),
        ("sys/block/dm-2/dm/name", "root\n"),
        ("sys/block/dm-2/dm/uuid", "CRYPT-LUKS2-9a8b7c6d-root\n"),
        ("sys/block/sda/size", "1000\n"),
        (
            "proc/swaps",
            "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/zram0 partition 1048572 0 100\n",
        ),
        ("proc/sys/net/ipv4/ip_forward", "0\n"),
        ("proc/sys/net/ipv6/conf/all/forwarding", "0\n"),
        (
            "proc/net/route",
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n",
        ),
        (
            "proc/net/ipv6_route",
            "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n",
        ),
        ("proc/net/tcp6", TCP_HEADER),
        ("proc/net/udp", TCP_HEADER),
        ("proc/net/udp6", TCP_HEADER),
        ("proc/1/comm", "systemd\n"),
        ("proc/412/comm", "airlock\n"),
        ("var/lib/airlock/store.db", ""),
        ("var/lib/airlock/keys/site.ed25519", "secret"),
        ("var/lib/airlock/keys/site.age", "secret"),
        ("var/lib/airlock/operators/alice.key", "sealed"),
    ] {
        put(r, rel, text);
    }
    // A client connection (ESTABLISHED, 01) is no listener.
    let client = format!(
        "{TCP_HEADER}   0: {}:C350 {}:0016 01 00000000:00000000 00:00000000 00000000  1000 0 4242\n",
        v4_hex([10, 0, 0, 5]),
        v4_hex([10, 0, 0, 9])
    );
    put(r, "proc/net/tcp", &client);
    for d in [
        "var/lib/airlock",
        "var/lib/airlock/keys",
        "var/lib/airlock/operators",
    ] {
        chmod(r, d, 0o700);
    }
    for f in ["keys/site.ed25519", "keys/site.age", "operators/alice.key"] {
        chmod(r, &format!("var/lib/airlock/{f}"), 0o600);
    }
    dir
}

fn report(root: &Path) -> HostReport {
    check(root, Path::new(HOME))
}

fn finding<'a>(r: &'a HostReport, id: &str) -> &'a Finding {
    r.findings
        .iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no finding {id}"))
}

const IDS: [&str; 20] = [
    "aslr",
    "ptrace-scope",
    "suid-dumpable",
    "coredump-storage",
    "kptr-restrict",
    "dmesg-restrict",
    "unprivileged-bpf",
    "usb-storage",
    "wireless",
    "bluetooth",
    "tmp-mount",
    "shm-mount",
    "swap-encrypted",
    "home-encrypted",
    "ip-forwarding",
    "default-route",
    "interfaces-up",
    "listening-sockets",
    "sshd",
    "home-modes",
];

#[test]
fn on_a_hardened_host_every_check_passes() {
    let dir = good();
    let r = report(dir.path());
    let ids: Vec<&str> = r.findings.iter().map(|f| f.id).collect();
    assert_eq!(ids, IDS, "the checks and their order");
    for f in &r.findings {
        assert_eq!(f.status, Status::Pass, "{f:?}");
        assert!(!f.fix.is_empty(), "{} says what to do", f.id);
    }
    assert!(r.passed());
    assert!(finding(&r, "home-encrypted").found.contains("vg-var"));
    assert!(
        finding(&r, "home-encrypted")
            .found
            .contains("dm-1 on dm-crypt dm-0")
    );
    assert!(finding(&r, "swap-encrypted").found.contains("zram"));
    assert!(finding(&r, "home-modes").found.contains("2 key file(s)"));
}

type Breaker = fn(&Path);

/// (case, check id, what breaks it, the status it must then have, a word the
/// finding must name).
const CASES: &[(&str, &str, Breaker, Status, &str)] = &[
    (
        "aslr_partial",
        "aslr",
        |r| put(r, "proc/sys/kernel/randomize_va_space", "1\n"),
        Status::Fail,
        "= 1",
    ),
    (
        "ptrace_open",
        "ptrace-scope",
        |r| put(r, "proc/sys/kernel/yama/ptrace_scope", "0\n"),
        Status::Fail,
        "= 0",
    ),
    (
        "ptrace_no_yama",
        "ptrace-scope",
        |r| fs::remove_file(r.join("proc/sys/kernel/yama/ptrace_scope")).expect("rm"),
        Status::Fail,
        "no Yama",
    ),
    (
        "suid_dumpable_2",
        "suid-dumpable",
        |r| put(r, "proc/sys/fs/suid_dumpable", "2\n"),
        Status::Fail,
        "= 2",
    ),
    (
        "coredump_stored",
        "coredump-storage",
        |r| {
            put(
                r,
                "etc/systemd/coredump.conf.d/60-airlock.conf",
                "[Coredump]\nStorage=external\n",
            )
        },
        Status::Fail,
        "Storage=external",
    ),
    (
        "coredump_default_storage",
        "coredump-storage",
        |r| fs::remove_dir_all(r.join("etc/systemd/coredump.conf.d")).expect("rm"),
        Status::Fail,
        "not set",
    ),
    (
        "coredump_storage_none_in_another_section",
        "coredump-storage",
        |r| {
            put(
                r,
                "etc/systemd/coredump.conf.d/60-airlock.conf",
                "[Other]\nStorage=none\n",
            )
        },
        Status::Fail,
        "not set",
    ),
    (
        "coredump_not_the_handler",
        "coredump-storage",
        |r| {
            fs::remove_dir_all(r.join("etc/systemd/coredump.conf.d")).expect("rm");
            put(r, "proc/sys/kernel/core_pattern", "core\n");
        },
        Status::Warn,
        "not the core handler",
    ),
    (
        "kptr_shown",
        "kptr-restrict",
        |r| put(r, "proc/sys/kernel/kptr_restrict", "0\n"),
        Status::Fail,
        "= 0",
    ),
    (
        "dmesg_open",
        "dmesg-restrict",
        |r| put(r, "proc/sys/kernel/dmesg_restrict", "0\n"),
        Status::Fail,
        "= 0",
    ),
    (
        "bpf_open",
        "unprivileged-bpf",
        |r| put(r, "proc/sys/kernel/unprivileged_bpf_disabled", "0\n"),
        Status::Fail,
        "= 0",
    ),
    (
        "bpf_unreadable_value",
        "unprivileged-bpf",
        |r| put(r, "proc/sys/kernel/unprivileged_bpf_disabled", "x\n"),
        Status::Warn,
        "not a number",
    ),
    (
        "usb_storage_no_policy",
        "usb-storage",
        |r| fs::remove_file(r.join("etc/modprobe.d/airlock-usb.conf")).expect("rm"),
        Status::Warn,
        "no usb-storage policy",
    ),
    (
        "usb_storage_loaded_despite_blacklist",
        "usb-storage",
        |r| {
            put(
                r,
                "etc/modprobe.d/airlock-usb.conf",
                "blacklist usb_storage\n",
            );
            put(r, "proc/modules", "usb_storage 86016 0 - Live 0x0\n");
        },
        Status::Warn,
        "loaded now",
    ),
    (
        "wireless_interface",
        "wireless",
        |r| fs::create_dir_all(r.join("sys/class/net/wlp2s0/wireless")).expect("mkdir"),
        Status::Fail,
        "wlp2s0",
    ),
    (
        "wireless_module",
        "wireless",
        |r| put(r, "proc/modules", "cfg80211 1146880 1 iwlwifi, Live 0x0\n"),
        Status::Fail,
        "cfg80211",
    ),
    (
        "bluetooth_controller",
        "bluetooth",
        |r| fs::create_dir_all(r.join("sys/class/bluetooth/hci0")).expect("mkdir"),
        Status::Fail,
        "hci0",
    ),
    (
        "bluetooth_module",
        "bluetooth",
        |r| put(r, "proc/modules", "bluetooth 1036288 0 - Live 0x0\n"),
        Status::Fail,
        "bluetooth",
    ),
    (
        "tmp_exec",
        "tmp-mount",
        |r| {
            put(
                r,
                "proc/self/mounts",
                &MOUNTS_GOOD.replace("nodev,noexec,relatime", "nodev,relatime"),
            )
        },
        Status::Fail,
        "missing noexec",
    ),
    (
        "tmp_not_a_mount",
        "tmp-mount",
        |r| {
            let m: String = MOUNTS_GOOD
                .lines()
                .filter(|l| !l.contains(" /tmp "))
                .map(|l| format!("{l}\n"))
                .collect();
            put(r, "proc/self/mounts", &m);
        },
        Status::Fail,
        "not a mount of its own",
    ),
    (
        "no_mount_table",
        "tmp-mount",
        |r| fs::remove_file(r.join("proc/self/mounts")).expect("rm"),
        Status::Warn,
        "no mount table",
    ),
    (
        "shm_debian_default",
        "shm-mount",
        |r| {
            put(
                r,
                "proc/self/mounts",
                &MOUNTS_GOOD.replace(
                    "/dev/shm tmpfs rw,nosuid,nodev,noexec",
                    "/dev/shm tmpfs rw,nosuid,nodev",
                ),
            )
        },
        Status::Fail,
        "missing noexec",
    ),
    (
        "swap_partition_in_clear",
        "swap-encrypted",
        |r| {
            put(
                r,
                "proc/swaps",
                "Filename Type Size Used Priority\n/dev/sda2 partition 8388604 0 -2\n",
            )
        },
        Status::Fail,
        "/dev/sda2",
    ),
    (
        "swap_file_on_plain_filesystem",
        "swap-encrypted",
        |r| {
            put(
                r,
                "proc/self/mounts",
                &format!("{MOUNTS_GOOD}/dev/sdb1 /srv ext4 rw 0 0\n"),
            );
            put(
                r,
                "proc/swaps",
                "Filename Type Size Used Priority\n/srv/swap\\040file file 1024 0 -2\n",
            );
        },
        Status::Fail,
        "/srv/swap file",
    ),
    (
        "home_on_plain_disk",
        "home-encrypted",
        |r| {
            put(
                r,
                "proc/self/mounts",
                &MOUNTS_GOOD.replace("/dev/mapper/vg-var", "/dev/nvme0n1p4"),
            )
        },
        Status::Fail,
        "nvme0n1p4",
    ),
    (
        "home_on_lvm_without_luks",
        "home-encrypted",
        |r| fs::remove_file(r.join("sys/block/dm-1/slaves/dm-0")).expect("rm"),
        Status::Fail,
        "not dm-crypt",
    ),
    (
        "home_on_tmpfs",
        "home-encrypted",
        |r| {
            put(
                r,
                "proc/self/mounts",
                &MOUNTS_GOOD.replace("/dev/mapper/vg-var /var ext4", "tmpfs /var tmpfs"),
            )
        },
        Status::Warn,
        "cannot tell",
    ),
    (
        "ipv4_forwarding",
        "ip-forwarding",
        |r| put(r, "proc/sys/net/ipv4/ip_forward", "1\n"),
        Status::Fail,
        "ip_forward = 1",
    ),
    (
        "ipv6_forwarding",
        "ip-forwarding",
        |r| put(r, "proc/sys/net/ipv6/conf/all/forwarding", "1\n"),
        Status::Fail,
        "forwarding = 1",
    ),
    (
        "default_route_v4",
        "default-route",
        |r| {
            let line = format!(
                "eth0\t00000000\t{}\t0003\t0\t0\t0\t00000000\t0\t0\t0\n",
                v4_hex([192, 168, 1, 1])
            );
            put(
                r,
                "proc/net/route",
                &format!(
                    "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n{line}"
                ),
            );
        },
        Status::Warn,
        "via 192.168.1.1 dev eth0",
    ),
    (
        "default_route_v6",
        "default-route",
        |r| {
            put(
                r,
                "proc/net/ipv6_route",
                "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n",
            )
        },
        Status::Warn,
        "via fe80::1 dev eth0",
    ),
    (
        "interface_up",
        "interfaces-up",
        |r| {
            put(r, "sys/class/net/eth0/flags", "0x1003\n");
            put(r, "sys/class/net/eth0/operstate", "up\n");
        },
        Status::Warn,
        "eth0 (operstate up)",
    ),
    (
        "tcp_listening_on_all",
        "listening-sockets",
        |r| {
            put(
                r,
                "proc/net/tcp6",
                &format!(
                    "{TCP_HEADER}   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234\n"
                ),
            )
        },
        Status::Fail,
        "tcp6 [::]:22",
    ),
    (
        "udp_bound_on_loopback",
        "listening-sockets",
        |r| {
            put(
                r,
                "proc/net/udp",
                &format!(
                    "{TCP_HEADER}  10: {}:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   102        0 999\n",
                    v4_hex([127, 0, 0, 53])
                ),
            )
        },
        Status::Warn,
        "udp 127.0.0.53:53",
    ),
    (
        "sshd_running",
        "sshd",
        |r| put(r, "proc/733/comm", "sshd\n"),
        Status::Fail,
        "pid 733",
    ),
    (
        "sshd_session_running",
        "sshd",
        |r| put(r, "proc/901/comm", "sshd-session\n"),
        Status::Fail,
        "pid 901",
    ),
    (
        "home_open_to_group",
        "home-modes",
        |r| chmod(r, "var/lib/airlock", 0o750),
        Status::Fail,
        "mode 0750",
    ),
    (
        "key_readable_by_others",
        "home-modes",
        |r| chmod(r, "var/lib/airlock/keys/site.age", 0o644),
        Status::Fail,
        "site.age has mode 0644",
    ),
    (
        "operator_key_readable_by_group",
        "home-modes",
        |r| chmod(r, "var/lib/airlock/operators/alice.key", 0o640),
        Status::Fail,
        "alice.key has mode 0640",
    ),
    (
        "key_folder_is_a_link",
        "home-modes",
        |r| {
            let keys = r.join("var/lib/airlock/keys");
            fs::rename(&keys, r.join("elsewhere")).expect("mv");
            std::os::unix::fs::symlink(r.join("elsewhere"), keys).expect("ln");
        },
        Status::Fail,
        "not a folder",
    ),
    // What cannot be read is a warning, never a pass.
    (
        "aslr_unreadable",
        "aslr",
        |r| fs::remove_file(r.join("proc/sys/kernel/randomize_va_space")).expect("rm"),
        Status::Warn,
        "cannot be read",
    ),
    (
        "no_proc_modules",
        "bluetooth",
        |r| fs::remove_file(r.join("proc/modules")).expect("rm"),
        Status::Warn,
        "/proc/modules cannot be read",
    ),
    (
        "no_sys_class_net_for_wireless",
        "wireless",
        |r| fs::remove_dir_all(r.join("sys/class/net")).expect("rm"),
        Status::Warn,
        "/sys/class/net cannot be read",
    ),
    (
        "no_sys_class_net_for_interfaces",
        "interfaces-up",
        |r| fs::remove_dir_all(r.join("sys/class/net")).expect("rm"),
        Status::Warn,
        "/sys/class/net cannot be read",
    ),
    (
        "no_proc_swaps",
        "swap-encrypted",
        |r| fs::remove_file(r.join("proc/swaps")).expect("rm"),
        Status::Warn,
        "/proc/swaps",
    ),
    (
        "no_ipv4_forward_file",
        "ip-forwarding",
        |r| fs::remove_file(r.join("proc/sys/net/ipv4/ip_forward")).expect("rm"),
        Status::Warn,
        "ip_forward absent",
    ),
    (
        "no_proc_net_route",
        "default-route",
        |r| fs::remove_file(r.join("proc/net/route")).expect("rm"),
        Status::Warn,
        "/proc/net/route",
    ),
    (
        "no_proc_net_tcp",
        "listening-sockets",
        |r| fs::remove_file(r.join("proc/net/tcp")).expect("rm"),
        Status::Warn,
        "/proc/net/tcp",
    ),
    (
        "no_processes_visible",
        "sshd",
        |r| {
            fs::remove_dir_all(r.join("proc/1")).expect("rm");
            fs::remove_dir_all(r.join("proc/412")).expect("rm");
        },
        Status::Warn,
        "no process",
    ),
    (
        "no_home",
        "home-modes",
        |r| fs::remove_dir_all(r.join("var/lib/airlock")).expect("rm"),
        Status::Warn,
        "no home at",
    ),
];

#[test]
fn each_broken_control_is_reported_with_its_status() {
    for &(case, id, brk, want, needle) in CASES {
        let dir = good();
        brk(dir.path());
        let r = report(dir.path());
        let f = finding(&r, id);
        assert_eq!(f.status, want, "{case}: {f:?}");
        assert!(
            f.found.contains(needle),
            "{case}: {:?} lacks {needle:?}",
            f.found
        );
        assert_eq!(r.passed(), want != Status::Fail, "{case}");
    }
    for id in IDS {
        assert!(
            CASES.iter().any(|c| c.1 == id && c.3 != Status::Pass),
            "no case breaks {id}"
        );
    }
}

#[test]
fn swap_file_on_an_encrypted_filesystem_passes() {
    let dir = good();
    put(
        dir.path(),
        "proc/swaps",
        "Filename Type Size Used Priority\n/swapfile file 1024 0 -2\n",
    );
    let r = report(dir.path());
    let f = finding(&r, "swap-encrypted");
    assert_eq!(f.status, Status::Pass, "{f:?}");
    assert!(f.found.contains("dm-crypt dm-2"), "{f:?}");
}

#[test]
fn usb_storage_install_rule_with_underscore_counts() {
    let dir = good();
    put(
        dir.path(),
        "etc/modprobe.d/airlock-usb.conf",
        "install usb_storage /usr/bin/true\n",
    );
    let r = report(dir.path());
    assert_eq!(finding(&r, "usb-storage").status, Status::Pass);
}

#[test]
fn a_later_dropin_overrides_an_earlier_one() {
    let dir = good();
    put(
        dir.path(),
        "etc/systemd/coredump.conf.d/90-site.conf",
        "[Coredump]\nStorage=journal\n",
    );
    let r = report(dir.path());
    let f = finding(&r, "coredump-storage");
    assert_eq!(f.status, Status::Fail, "{f:?}");
    assert!(f.found.contains("90-site.conf"), "{f:?}");
}

#[test]
fn json_has_the_documented_fields() {
    let dir = good();
    put(dir.path(), "proc/sys/kernel/dmesg_restrict", "0\n");
    let v = serde_json::to_value(report(dir.path())).expect("json");
    let items = v.as_array().expect("an array");
    assert_eq!(items.len(), IDS.len());
    let d = items
        .iter()
        .find(|c| c["id"] == "dmesg-restrict")
        .expect("dmesg");
    assert_eq!(d["status"], "fail");
    assert_eq!(d["cis"], serde_json::Value::Null);
    assert_eq!(d["found"], "kernel.dmesg_restrict = 0");
    assert!(
        d["fix"]
            .as_str()
            .expect("fix")
            .contains("sysctl -w kernel.dmesg_restrict=1")
    );
    let a = items.iter().find(|c| c["id"] == "aslr").expect("aslr");
    assert_eq!(
        (a["status"].as_str(), a["cis"].as_str()),
        (Some("pass"), Some("1.5.1"))
    );
    assert!(a["title"].is_string());
}

#[test]
fn mount_table_escapes_are_decoded() {
    use super::mounts::unescape;
    assert_eq!(unescape("/mnt/a\\040b\\134c"), "/mnt/a b\\c");
    assert_eq!(unescape("trailing\\"), "trailing\\");
}
