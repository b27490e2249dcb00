//! Kernel settings: the sysctls that keep one process's memory from another
//! (ASLR, ptrace, core dumps, kernel pointers and log, BPF) and the store of
//! systemd-coredump.

use super::{Finding, Host, Spec, Status};

/// Where the fixes persist sysctls: one file of Airlock's own.
const SYSCTL_FILE: &str = "/etc/sysctl.d/60-airlock-hardening.conf";

/// One sysctl and the values that pass.
struct Sysctl {
    spec: Spec,
    /// The dotted name, e.g. `kernel.randomize_va_space`.
    key: &'static str,
    /// The value the fix sets.
    want: i64,
    /// Whether the value read passes.
    ok: fn(i64) -> bool,
    /// The verdict when the file is absent, and why.
    absent: (Status, &'static str),
}

const SYSCTLS: [Sysctl; 6] = [
    Sysctl {
        spec: Spec {
            id: "aslr",
            title: "address space layout randomization",
            cis: Some("1.5.1"),
        },
        key: "kernel.randomize_va_space",
        want: 2,
        ok: |v| v == 2,
        absent: (Status::Warn, "cannot be read"),
    },
    Sysctl {
        spec: Spec {
            id: "ptrace-scope",
            title: "ptrace restricted (Yama)",
            cis: Some("1.5.2"),
        },
        key: "kernel.yama.ptrace_scope",
        want: 1,
        ok: |v| v >= 1,
        // Without Yama any process can attach to any other of its user.
        absent: (
            Status::Fail,
            "absent: this kernel has no Yama LSM, so ptrace is not restricted",
        ),
    },
    Sysctl {
        spec: Spec {
            id: "suid-dumpable",
            title: "no core dumps of set-uid programs",
            cis: Some("1.5.3"),
        },
        key: "fs.suid_dumpable",
        want: 0,
        ok: |v| v == 0,
        absent: (Status::Warn, "cannot be read"),
    },
    Sysctl {
        spec: Spec {
            id: "kptr-restrict",
            title: "kernel pointers hidden",
            cis: None,
        },
        key: "kernel.kptr_restrict",
        want: 1,
        ok: |v| v >= 1,
        absent: (Status::Warn, "cannot be read"),
    },
    Sysctl {
        spec: Spec {
            id: "dmesg-restrict",
            title: "kernel log for root only",
            cis: None,
        },
        key: "kernel.dmesg_restrict",
        want: 1,
        ok: |v| v == 1,
        absent: (Status::Warn, "cannot be read"),
    },
    Sysctl {
        spec: Spec {
            id: "unprivileged-bpf",
            title: "no BPF for unprivileged users",
            cis: None,
        },
        key: "kernel.unprivileged_bpf_disabled",
        want: 1,
        ok: |v| v >= 1,
        absent: (
            Status::Warn,
            "absent: a kernel without the bpf system call, or /proc/sys is hidden; confirm with `grep CONFIG_BPF_SYSCALL /boot/config-$(uname -r)`",
        ),
    },
];

/// `/proc/sys/...` for a dotted sysctl name.
pub(super) fn sysctl_path(key: &str) -> String {
    format!("/proc/sys/{}", key.replace('.', "/"))
}

/// A sysctl's value, or why there is none: `absent` (no such file), unreadable, not a number.
pub(super) fn read_sysctl(host: &Host, key: &str) -> Result<i64, String> {
    let text = host.read(sysctl_path(key)).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "absent".to_string(),
        _ => format!("cannot be read: {e}"),
    })?;
    text.trim()
        .parse()
        .map_err(|_| format!("holds {:?}, not a number", text.trim()))
}

/// The command that sets a sysctl now and at every boot.
pub(super) fn sysctl_fix(key: &str, value: i64) -> String {
    format!("sysctl -w {key}={value} && echo '{key} = {value}' >> {SYSCTL_FILE}")
}

fn check_sysctl(host: &Host, s: &Sysctl) -> Finding {
    let fix = sysctl_fix(s.key, s.want);
    match read_sysctl(host, s.key) {
        Ok(v) => {
            let status = if (s.ok)(v) {
                Status::Pass
            } else {
                Status::Fail
            };
            s.spec.finding(status, format!("{} = {v}", s.key), fix)
        }
        Err(e) if e == "absent" => {
            s.spec
                .finding(s.absent.0, format!("{} {}", s.key, s.absent.1), fix)
        }
        Err(e) => s.spec.finding(Status::Warn, format!("{} {e}", s.key), fix),
    }
}

/// Every check of this module, in report order.
pub(super) fn checks(host: &Host) -> Vec<Finding> {
    let mut out: Vec<Finding> = SYSCTLS[..3].iter().map(|s| check_sysctl(host, s)).collect();
    out.push(coredump_storage(host));
    out.extend(SYSCTLS[3..].iter().map(|s| check_sysctl(host, s)));
    out
}

/// systemd-coredump's `Storage=`, as systemd reads it: the main file, then
/// the drop-ins in file-name order, a name in `/etc` hiding the same name in
/// `/run` and `/usr/lib`; the last assignment in `[Coredump]` wins.
fn coredump_storage_setting(host: &Host) -> Option<(String, String)> {
    let main = [
        "/etc/systemd/coredump.conf",
        "/usr/lib/systemd/coredump.conf",
    ]
    .into_iter()
    .find(|p| host.exists(p));
    let mut files: Vec<String> = main.map(str::to_string).into_iter().collect();
    let mut dropins: std::collections::BTreeMap<String, String> = Default::default();
    // Lowest priority first, so a later folder replaces the same name.
    for dir in [
        "/usr/lib/systemd/coredump.conf.d",
        "/usr/local/lib/systemd/coredump.conf.d",
        "/run/systemd/coredump.conf.d",
        "/etc/systemd/coredump.conf.d",
    ] {
        for name in host.names(dir) {
            if name.ends_with(".conf") {
                dropins.insert(name.clone(), format!("{dir}/{name}"));
            }
        }
    }
    files.extend(dropins.into_values());
    let mut storage = None;
    for file in files {
        let Ok(text) = host.read(&file) else { continue };
        let mut in_section = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                in_section = line == "[Coredump]";
            } else if in_section && let Some(v) = line.strip_prefix("Storage=") {
                storage = Some((v.trim().to_string(), file.clone()));
            }
        }
    }
    storage
}

fn coredump_storage(host: &Host) -> Finding {
    let spec = Spec {
        id: "coredump-storage",
        title: "systemd-coredump keeps no dumps",
        cis: Some("1.5.3"),
    };
    let fix = "mkdir -p /etc/systemd/coredump.conf.d && printf '[Coredump]\\nStorage=none\\nProcessSizeMax=0\\n' > /etc/systemd/coredump.conf.d/60-airlock.conf";
    let pattern = host
        .read("/proc/sys/kernel/core_pattern")
        .unwrap_or_default()
        .trim()
        .to_string();
    let piped_to_systemd = pattern.starts_with('|') && pattern.contains("systemd-coredump");
    match coredump_storage_setting(host) {
        Some((v, file)) if v == "none" => {
            spec.finding(Status::Pass, format!("Storage=none in {file}"), fix)
        }
        setting => {
            let what = match setting {
                Some((v, file)) => format!("Storage={v} in {file}"),
                None => "Storage not set (the default, external, keeps dumps on disk)".to_string(),
            };
            if piped_to_systemd {
                let found = format!(
                    "{what}, and core_pattern pipes to systemd-coredump: another process's crash leaves its memory in /var/lib/systemd/coredump"
                );
                spec.finding(Status::Fail, found, fix)
            } else {
                let found = format!(
                    "{what}; systemd-coredump is not the core handler now (core_pattern {pattern:?}), but installing it would keep dumps"
                );
                spec.finding(Status::Warn, found, fix)
            }
        }
    }
}
