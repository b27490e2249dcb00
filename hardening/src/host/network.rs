//! The network: an Airlock node needs none. Bundles cross the air gap on
//! media and `airlock serve` answers on a Unix socket, so any forwarding,
//! route, interface, listening socket or SSH server is a way in that the
//! node does not use.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::kernel::{read_sysctl, sysctl_fix};
use super::{Finding, Host, Spec, Status, list};

/// Why a node may still have an interface up: said with each network warning.
const CLUSTER_NOTE: &str = "Airlock itself uses no network; a node that is part of a cluster on an \
isolated segment (an internal time server, a log collector, shared storage) may need one \
interface there: keep it on that segment, with no default route and a firewall that allows only \
those peers";

/// `IFF_UP` and `IFF_LOOPBACK` of `/sys/class/net/*/flags`, `RTF_UP` and
/// `RTF_REJECT` of the route tables (linux/if.h, linux/route.h).
const IFF_UP: u32 = 0x1;
const IFF_LOOPBACK: u32 = 0x8;
const RTF_UP: u32 = 0x1;
const RTF_REJECT: u32 = 0x200;

/// Every check of this module, in report order.
pub(super) fn checks(host: &Host) -> Vec<Finding> {
    vec![
        forwarding(host),
        default_route(host),
        interfaces_up(host),
        listening(host),
        sshd(host),
    ]
}

fn forwarding(host: &Host) -> Finding {
    let spec = Spec {
        id: "ip-forwarding",
        title: "IP forwarding off",
        cis: Some("3.3.1"),
    };
    let v4 = "net.ipv4.ip_forward";
    let v6 = "net.ipv6.conf.all.forwarding";
    let fix = format!("{}; {}", sysctl_fix(v4, 0), sysctl_fix(v6, 0));
    let mut found = Vec::new();
    let mut status = Status::Pass;
    for key in [v4, v6] {
        match read_sysctl(host, key) {
            Ok(0) => found.push(format!("{key} = 0")),
            Ok(v) => {
                found.push(format!("{key} = {v}"));
                status = Status::Fail;
            }
            // No IPv6 in this kernel: nothing to forward.
            Err(e) if key == v6 && e == "absent" => found.push(format!("{key} absent (no IPv6)")),
            Err(e) => {
                found.push(format!("{key} {e}"));
                status = status.max(Status::Warn);
            }
        }
    }
    spec.finding(status, found.join(", "), fix)
}

/// A 32-bit word of a `/proc/net` table: printed in the host's byte order.
fn word(hex: &str) -> Option<[u8; 4]> {
    u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes)
}

fn hex_u32(hex: &str) -> u32 {
    u32::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap_or(0)
}

fn default_route(host: &Host) -> Finding {
    let spec = Spec {
        id: "default-route",
        title: "no default route",
        cis: None,
    };
    let fix = format!(
        "ip route del default (and ip -6 route del default); remove the gateway from the \
network configuration. {CLUSTER_NOTE}"
    );
    let v4 = match host.read("/proc/net/route") {
        Ok(t) => t,
        Err(e) => return spec.finding(Status::Warn, format!("/proc/net/route: {e}"), fix),
    };
    let mut routes = Vec::new();
    for line in v4.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 8 && hex_u32(f[1]) == 0 && hex_u32(f[7]) == 0 && hex_u32(f[3]) & RTF_UP != 0 {
            let via =
                word(f[2]).map_or_else(|| f[2].to_string(), |b| Ipv4Addr::from(b).to_string());
            routes.push(format!("via {via} dev {}", f[0]));
        }
    }
    // Absent from a kernel without IPv6.
    let v6 = host.read("/proc/net/ipv6_route").unwrap_or_default();
    for line in v6.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // The kernel's own unreachable default on lo is a reject route, not a way out.
        if f.len() >= 10
            && f[0].bytes().all(|b| b == b'0')
            && f[1] == "00"
            && hex_u32(f[8]) & RTF_UP != 0
            && hex_u32(f[8]) & RTF_REJECT == 0
            && f[9] != "lo"
        {
            // Printed in network order, byte by byte.
            let via = u128::from_str_radix(f[4], 16)
                .map_or_else(|_| f[4].to_string(), |v| Ipv6Addr::from(v).to_string());
            routes.push(format!("via {via} dev {}", f[9]));
        }
    }
    if routes.is_empty() {
        spec.finding(Status::Pass, "no default route", fix)
    } else {
        let found = format!("default route {}", routes.join(", "));
        spec.finding(Status::Warn, found, fix)
    }
}

fn interfaces_up(host: &Host) -> Finding {
    let spec = Spec {
        id: "interfaces-up",
        title: "no interface up but loopback",
        cis: None,
    };
    let fix = format!(
        "ip link set DEV down, and take it out of the network configuration. {CLUSTER_NOTE}"
    );
    let Some(names) = host.listed("/sys/class/net") else {
        return spec.finding(Status::Warn, "/sys/class/net cannot be read", fix);
    };
    let mut up = Vec::new();
    for name in names {
        let flags = host
            .read(format!("/sys/class/net/{name}/flags"))
            .ok()
            .map(|f| hex_u32(f.trim()));
        let oper = host
            .read(format!("/sys/class/net/{name}/operstate"))
            .unwrap_or_default()
            .trim()
            .to_string();
        if name == "lo" || flags.is_some_and(|f| f & IFF_LOOPBACK != 0) {
            continue;
        }
        // Administratively up counts, link or not: one cable away from a network.
        let is_up = match flags {
            Some(f) => f & IFF_UP != 0,
            None => oper == "up" || oper == "unknown",
        };
        if is_up {
            up.push(format!("{name} (operstate {oper})"));
        }
    }
    if up.is_empty() {
        spec.finding(Status::Pass, "only loopback is up", fix)
    } else {
        spec.finding(Status::Warn, format!("interfaces up: {}", list(&up)), fix)
    }
}

/// A `/proc/net/tcp*` or `udp*` address, `HEX:PORT`.
fn address(field: &str) -> Option<(IpAddr, u16)> {
    let (ip, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(ip)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(ip.get(i * 8..i * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some((ip, port))
}

fn loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_loopback(),
        IpAddr::V6(a) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|m| m.is_loopback()),
    }
}

fn listening(host: &Host) -> Finding {
    let spec = Spec {
        id: "listening-sockets",
        title: "no TCP or UDP socket listening",
        cis: Some("2.1.22"),
    };
    let fix = "ss -tulpn names the process behind each socket: stop and disable it \
(systemctl disable --now UNIT) or purge its package; Airlock listens only on Unix sockets";
    let mut exposed = Vec::new();
    let mut local = Vec::new();
    let mut unread = Vec::new();
    // TCP in LISTEN (0A); UDP bound and not connected (07, TCP_CLOSE).
    for (table, state) in [("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")] {
        let text = match host.read(format!("/proc/net/{table}")) {
            Ok(t) => t,
            // tcp6 and udp6 are absent from a kernel without IPv6.
            Err(e) if table.ends_with('6') && e.kind() == std::io::ErrorKind::NotFound => {
                continue;
            }
            Err(e) => {
                unread.push(format!("/proc/net/{table}: {e}"));
                continue;
            }
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 4 || f[3] != state {
                continue;
            }
            let Some((ip, port)) = address(f[1]) else {
                continue;
            };
            let shown = match ip {
                IpAddr::V4(a) => format!("{table} {a}:{port}"),
                IpAddr::V6(a) => format!("{table} [{a}]:{port}"),
            };
            if loopback(ip) {
                local.push(shown);
            } else {
                exposed.push(shown);
            }
        }
    }
    if !exposed.is_empty() {
        let found = format!(
            "listening on the network: {}; on loopback: {}",
            list(&exposed),
            list(&local)
        );
        spec.finding(Status::Fail, found, fix)
    } else if !local.is_empty() {
        let found = format!(
            "listening on loopback only (reachable by every local user): {}",
            list(&local)
        );
        spec.finding(Status::Warn, found, fix)
    } else if !unread.is_empty() {
        spec.finding(Status::Warn, unread.join("; "), fix)
    } else {
        spec.finding(Status::Pass, "no TCP or UDP socket listening", fix)
    }
}

fn sshd(host: &Host) -> Finding {
    let spec = Spec {
        id: "sshd",
        title: "no SSH server running",
        cis: None,
    };
    let fix = "systemctl disable --now ssh.service ssh.socket; apt purge openssh-server; \
administer the node at its console";
    let processes: Vec<String> = host
        .names("/proc")
        .into_iter()
        .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    if processes.is_empty() {
        return spec.finding(Status::Warn, "no process is visible in /proc", fix);
    }
    let pids: Vec<String> = processes
        .into_iter()
        .filter(|p| {
            host.read(format!("/proc/{p}/comm")).is_ok_and(|c| {
                let c = c.trim();
                // sshd-session and sshd-auth: OpenSSH 9.8 and later.
                c == "sshd" || c.starts_with("sshd-")
            })
        })
        .collect();
    if pids.is_empty() {
        spec.finding(Status::Pass, "no sshd process", fix)
    } else {
        let found = format!("sshd running, pid {}", pids.join(", "));
        spec.finding(Status::Fail, found, fix)
    }
}
