//! Devices the kernel may load a driver for: USB mass storage (a policy the
//! operator decides, since bundles arrive on removable media) and radios
//! (Wi-Fi, Bluetooth: a network across the air gap).

use super::{Finding, Host, Spec, Status, list, loaded_modules};

/// Every check of this module, in report order.
pub(super) fn checks(host: &Host) -> Vec<Finding> {
    let modules = loaded_modules(host);
    vec![
        usb_storage(host, modules.as_deref().unwrap_or_default()),
        wireless(host, modules.as_deref()),
        bluetooth(host, modules.as_deref()),
    ]
}

/// modprobe names: `-` and `_` are the same.
fn same_module(a: &str, b: &str) -> bool {
    a.replace('-', "_") == b.replace('-', "_")
}

/// An `install usb-storage /bin/false` (or `/bin/true`) or `blacklist
/// usb-storage` line in a modprobe configuration file: where and which.
fn usb_storage_policy(host: &Host) -> Option<String> {
    for dir in ["/etc/modprobe.d", "/run/modprobe.d", "/usr/lib/modprobe.d"] {
        for name in host.names(dir) {
            if !name.ends_with(".conf") {
                continue;
            }
            let file = format!("{dir}/{name}");
            let text = host.read(&file).unwrap_or_default();
            for line in text.lines().map(str::trim) {
                let words: Vec<&str> = line.split_whitespace().collect();
                let blocks = match words.as_slice() {
                    ["blacklist", m] => same_module(m, "usb-storage"),
                    ["install", m, cmd, ..] => {
                        same_module(m, "usb-storage")
                            && ["/bin/false", "/bin/true", "/usr/bin/false", "/usr/bin/true"]
                                .contains(cmd)
                    }
                    _ => false,
                };
                if blocks {
                    return Some(format!("`{line}` in {file}"));
                }
            }
        }
    }
    None
}

fn usb_storage(host: &Host, modules: &[String]) -> Finding {
    let spec = Spec {
        id: "usb-storage",
        title: "USB mass storage policy",
        cis: Some("1.1.1.9"),
    };
    let fix = "decide: this node reads bundles from removable media. Either block USB storage \
(echo 'install usb-storage /bin/false' > /etc/modprobe.d/airlock-usb.conf; rmmod usb_storage) and \
carry bundles on other media, or keep it and allow only the site's own devices (USBGuard) and \
control who can reach the ports";
    let loaded = modules.iter().any(|m| same_module(m, "usb-storage"));
    match (usb_storage_policy(host), loaded) {
        (Some(policy), false) => spec.finding(
            Status::Pass,
            format!("usb-storage blocked by {policy}: bundles cannot come on USB sticks"),
            fix,
        ),
        (Some(policy), true) => spec.finding(
            Status::Warn,
            format!(
                "{policy}, but usb_storage is loaded now (it was loaded before the policy, or by hand)"
            ),
            fix,
        ),
        (None, _) => spec.finding(
            Status::Warn,
            "no usb-storage policy in /etc/modprobe.d: any USB mass-storage device plugged in can be mounted",
            fix,
        ),
    }
}

/// The radio modules of `names` that are loaded, and what could not be read.
fn loaded(modules: Option<&[String]>, names: &[&str]) -> (Vec<String>, Option<&'static str>) {
    match modules {
        Some(m) => (
            m.iter()
                .filter(|m| names.contains(&m.as_str()))
                .cloned()
                .collect(),
            None,
        ),
        None => (Vec::new(), Some("/proc/modules")),
    }
}

/// Fail when a radio was seen, warn when something could not be read, else pass.
fn radio_status(seen: bool, unread: &[Option<&'static str>]) -> (Status, String) {
    let unread: Vec<&str> = unread.iter().flatten().copied().collect();
    if seen {
        (Status::Fail, String::new())
    } else if !unread.is_empty() {
        (
            Status::Warn,
            format!(" ({} cannot be read)", unread.join(", ")),
        )
    } else {
        (Status::Pass, String::new())
    }
}

fn wireless(host: &Host, modules: Option<&[String]>) -> Finding {
    let spec = Spec {
        id: "wireless",
        title: "no wireless interfaces",
        cis: Some("3.1.2"),
    };
    let all = host.listed("/sys/class/net");
    let interfaces: Vec<String> = all
        .iter()
        .flatten()
        .filter(|n| {
            host.exists(format!("/sys/class/net/{n}/wireless"))
                || host.exists(format!("/sys/class/net/{n}/phy80211"))
        })
        .cloned()
        .collect();
    let (radios, no_modules) = loaded(modules, &["cfg80211", "mac80211"]);
    let no_net = all.is_none().then_some("/sys/class/net");
    let fix = "remove the card or turn it off in the firmware; keep the drivers out with \
echo 'install cfg80211 /bin/false' >> /etc/modprobe.d/airlock-radio.conf (every Wi-Fi driver \
needs cfg80211) and reboot";
    let seen = !interfaces.is_empty() || !radios.is_empty();
    let (status, note) = radio_status(seen, &[no_net, no_modules]);
    let found = format!(
        "wireless interfaces: {}; wireless modules loaded: {}{note}",
        list(&interfaces),
        list(&radios)
    );
    spec.finding(status, found, fix)
}

fn bluetooth(host: &Host, modules: Option<&[String]>) -> Finding {
    let spec = Spec {
        id: "bluetooth",
        title: "no Bluetooth",
        cis: Some("3.1.3"),
    };
    // The class folder exists only while the bluetooth module is loaded.
    let controllers = host.names("/sys/class/bluetooth");
    let (modules_loaded, no_modules) = loaded(modules, &["bluetooth"]);
    let fix = "systemctl disable --now bluetooth.service; apt purge bluez; \
echo 'install bluetooth /bin/false' >> /etc/modprobe.d/airlock-radio.conf and reboot";
    let seen = !controllers.is_empty() || !modules_loaded.is_empty();
    let (status, note) = radio_status(seen, &[no_modules]);
    let found = format!(
        "Bluetooth controllers: {}; module loaded: {}{note}",
        list(&controllers),
        list(&modules_loaded)
    );
    spec.finding(status, found, fix)
}
