//! Mounts and block devices: `/tmp` and `/dev/shm` options, swap and the
//! home's filesystem on encrypted devices.
//!
//! A device counts as encrypted when it is a device-mapper device whose own
//! uuid (`/sys/block/dm-N/dm/uuid`) starts with `CRYPT-` (dm-crypt, LUKS), or
//! which sits on one: LVM on LUKS, Debian's "encrypted LVM" install, gives
//! `LVM-` volumes whose `slaves/` lead to a `CRYPT-` device.

use std::path::Path;

use super::{Finding, Host, Spec, Status};

/// One line of the mount table.
#[derive(Debug)]
pub(super) struct Mount {
    source: String,
    point: String,
    fstype: String,
    options: Vec<String>,
}

/// The mount table, in the order the kernel lists it (a later mount on the
/// same point hides an earlier one).
pub(super) struct Mounts {
    entries: Vec<Mount>,
    /// Which file it was read from, or why it could not be.
    from: Result<&'static str, String>,
}

/// The kernel's escapes in mount and swap tables: `\040` for a space, and
/// likewise tab, newline and backslash.
pub(super) fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 4);
        match code.and_then(|c| u8::from_str_radix(c, 8).ok()) {
            Some(b) => {
                out.push(char::from(b));
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

impl Mounts {
    pub(super) fn read(host: &Host) -> Mounts {
        let mut err = String::new();
        for file in ["/proc/self/mounts", "/proc/mounts"] {
            match host.read(file) {
                Ok(text) => {
                    let entries = text
                        .lines()
                        .filter_map(|l| {
                            let f: Vec<&str> = l.split_whitespace().collect();
                            (f.len() >= 4).then(|| Mount {
                                source: unescape(f[0]),
                                point: unescape(f[1]),
                                fstype: f[2].to_string(),
                                options: f[3].split(',').map(str::to_string).collect(),
                            })
                        })
                        .collect();
                    return Mounts {
                        entries,
                        from: Ok(file),
                    };
                }
                Err(e) => err = format!("{file}: {e}"),
            }
        }
        Mounts {
            entries: Vec::new(),
            from: Err(err),
        }
    }

    /// The mount on exactly this point.
    fn at(&self, point: &str) -> Option<&Mount> {
        self.entries.iter().rev().find(|m| m.point == point)
    }

    /// The mount holding `path`: the longest mount point that is a whole
    /// leading part of it.
    fn holding(&self, path: &Path) -> Option<&Mount> {
        // Path::starts_with compares whole components: /variable is not in /var.
        let mut best: Option<&Mount> = None;
        for m in &self.entries {
            let depth = Path::new(&m.point).components().count();
            let deeper = best.is_none_or(|b| depth >= Path::new(&b.point).components().count());
            if path.starts_with(&m.point) && deeper {
                best = Some(m);
            }
        }
        best
    }
}

/// Every check of this module, in report order.
pub(super) fn checks(host: &Host, mounts: &Mounts, home: &Path) -> Vec<Finding> {
    vec![
        mount_options(
            mounts,
            Spec {
                id: "tmp-mount",
                title: "/tmp nodev,nosuid,noexec",
                cis: Some("1.1.2.1.1, 1.1.2.1.2, 1.1.2.1.3, 1.1.2.1.4"),
            },
            "/tmp",
            "systemctl unmask tmp.mount, or add `tmpfs /tmp tmpfs rw,nosuid,nodev,noexec,relatime,size=2G 0 0` to /etc/fstab; then mount -o remount,nodev,nosuid,noexec /tmp",
        ),
        mount_options(
            mounts,
            Spec {
                id: "shm-mount",
                title: "/dev/shm nodev,nosuid,noexec",
                cis: Some("1.1.2.2.1, 1.1.2.2.2, 1.1.2.2.3, 1.1.2.2.4"),
            },
            "/dev/shm",
            "add `tmpfs /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime 0 0` to /etc/fstab; then mount -o remount,nodev,nosuid,noexec /dev/shm",
        ),
        swap(host, mounts),
        home_encrypted(host, mounts, home),
    ]
}

fn mount_options(mounts: &Mounts, spec: Spec, point: &str, fix: &str) -> Finding {
    if let Err(e) = &mounts.from {
        return spec.finding(Status::Warn, format!("no mount table: {e}"), fix);
    }
    let Some(m) = mounts.at(point) else {
        return spec.finding(
            Status::Fail,
            format!(
                "{point} is not a mount of its own: it has the options of the filesystem holding it"
            ),
            fix,
        );
    };
    let missing: Vec<&str> = ["nodev", "nosuid", "noexec"]
        .into_iter()
        .filter(|o| !m.options.iter().any(|have| have == o))
        .collect();
    let found = format!("{point}: {} {}", m.fstype, m.options.join(","));
    if missing.is_empty() {
        spec.finding(Status::Pass, found, fix)
    } else {
        let found = format!("{found} (missing {})", missing.join(", "));
        spec.finding(Status::Fail, found, fix)
    }
}

/// Whether a block device is encrypted, as far as `/sys` tells.
enum Crypt {
    /// dm-crypt, directly or underneath: how.
    Yes(String),
    /// A plain device.
    No,
    /// Not a block device (tmpfs, a ZFS dataset, an overlay): cannot tell.
    Unknown,
}

/// `dm-N` for a device path: `/dev/dm-N`, a link to it (`/dev/mapper/NAME`,
/// `/dev/disk/by-*/...`), or a mapper name looked up in `/sys/block/dm-*/dm/name`.
fn dm_name(host: &Host, dev: &str) -> Option<String> {
    let base = Path::new(dev).file_name()?.to_string_lossy().into_owned();
    if base.starts_with("dm-") {
        return Some(base);
    }
    if let Ok(target) = std::fs::read_link(host.at(dev))
        && let Some(t) = target.file_name()
        && t.to_string_lossy().starts_with("dm-")
    {
        return Some(t.to_string_lossy().into_owned());
    }
    if dev.starts_with("/dev/mapper/") {
        return host.names("/sys/block").into_iter().find(|dm| {
            dm.starts_with("dm-")
                && host
                    .read(format!("/sys/block/{dm}/dm/name"))
                    .is_ok_and(|n| n.trim() == base)
        });
    }
    None
}

/// Whether `dm` is dm-crypt or sits on it, following `slaves/` a few levels.
fn dm_crypt(host: &Host, dm: &str, depth: u32) -> Option<String> {
    let uuid = host.read(format!("/sys/block/{dm}/dm/uuid")).ok()?;
    if uuid.trim().starts_with("CRYPT-") {
        return Some(format!("dm-crypt {dm}"));
    }
    if depth == 0 {
        return None;
    }
    host.names(format!("/sys/block/{dm}/slaves"))
        .iter()
        .filter(|s| s.starts_with("dm-"))
        .find_map(|s| dm_crypt(host, s, depth - 1))
        .map(|under| format!("{dm} on {under}"))
}

fn crypt(host: &Host, dev: &str) -> Crypt {
    if !dev.starts_with("/dev/") {
        return Crypt::Unknown;
    }
    match dm_name(host, dev).and_then(|dm| dm_crypt(host, &dm, 4)) {
        Some(how) => Crypt::Yes(how),
        None => Crypt::No,
    }
}

const SWAP_FIX: &str = "swapoff DEVICE and remove it from /etc/fstab, or encrypt it with a new \
key at each boot: `cswap DEVICE /dev/urandom swap,cipher=aes-xts-plain64,size=512` in \
/etc/crypttab and `/dev/mapper/cswap none swap sw 0 0` in /etc/fstab";

fn swap(host: &Host, mounts: &Mounts) -> Finding {
    let spec = Spec {
        id: "swap-encrypted",
        title: "swap encrypted or off",
        cis: None,
    };
    let text = match host.read("/proc/swaps") {
        Ok(t) => t,
        Err(e) => return spec.finding(Status::Warn, format!("/proc/swaps: {e}"), SWAP_FIX),
    };
    let mut clear = Vec::new();
    let mut safe = Vec::new();
    for line in text.lines().skip(1) {
        let mut f = line.split_whitespace();
        let (Some(name), Some(kind)) = (f.next(), f.next()) else {
            continue;
        };
        let name = unescape(name);
        let verdict = if Path::new(&name)
            .file_name()
            .is_some_and(|b| b.to_string_lossy().starts_with("zram"))
        {
            Crypt::Yes("zram, in memory".to_string())
        } else if kind == "file" {
            // A swap file is as encrypted as the filesystem it is on.
            match mounts.holding(Path::new(&name)) {
                Some(m) => crypt(host, &m.source),
                None => Crypt::Unknown,
            }
        } else {
            crypt(host, &name)
        };
        match verdict {
            Crypt::Yes(how) => safe.push(format!("{name} ({how})")),
            Crypt::No | Crypt::Unknown => clear.push(name),
        }
    }
    if clear.is_empty() {
        let found = if safe.is_empty() {
            "no swap".to_string()
        } else {
            format!("swap: {}", safe.join(", "))
        };
        spec.finding(Status::Pass, found, SWAP_FIX)
    } else {
        let found = format!(
            "swap not on an encrypted device: {} (keys and rows paged out stay on disk in the clear)",
            clear.join(", ")
        );
        spec.finding(Status::Fail, found, SWAP_FIX)
    }
}

fn home_encrypted(host: &Host, mounts: &Mounts, home: &Path) -> Finding {
    let spec = Spec {
        id: "home-encrypted",
        title: "home on an encrypted block device",
        cis: None,
    };
    let fix = "move the home onto a LUKS volume: cryptsetup luksFormat DEVICE, an entry in \
/etc/crypttab, the filesystem mounted at or above the home; or install Debian with \
\"encrypted LVM\"";
    if let Err(e) = &mounts.from {
        return spec.finding(Status::Warn, format!("no mount table: {e}"), fix);
    }
    let Some(m) = mounts.holding(home) else {
        return spec.finding(
            Status::Warn,
            format!("no mount holds {}", home.display()),
            fix,
        );
    };
    let on = format!(
        "{} is on {} ({} on {})",
        home.display(),
        m.point,
        m.fstype,
        m.source
    );
    match crypt(host, &m.source) {
        Crypt::Yes(how) => spec.finding(Status::Pass, format!("{on}: {how}"), fix),
        Crypt::No => spec.finding(
            Status::Fail,
            format!(
                "{on}: not dm-crypt, so store.db and the key files are on disk in the clear"
            ),
            fix,
        ),
        Crypt::Unknown => spec.finding(
            Status::Warn,
            format!(
                "{on}: not a block device, so this check cannot tell (ZFS native encryption or fscrypt are not seen)"
            ),
            fix,
        ),
    }
}
