//! Is the node air-gapped right now? Network interfaces and default routes, read from the
//! kernel's own files (`/sys/class/net/*/operstate`, `/proc/net/route`,
//! `/proc/net/ipv6_route`).
//!
//! The reading ([`probe`]) is separate from the judgement ([`assess`]), a pure function of
//! what was read, so the rule is tested on chosen inputs and the console's screens can be
//! drawn in tests from a made-up system root.

use std::path::Path;

/// One network interface as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Its name (`eth0`, `lo`).
    pub name: String,
    /// `/sys/class/net/NAME/operstate`: `up`, `down`, `unknown`, `dormant`, ...
    pub operstate: String,
    /// `/sys/class/net/NAME/type` is 772 (`ARPHRD_LOOPBACK`), or, without that file, the
    /// name is `lo`.
    pub loopback: bool,
}

/// What [`assess`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AirGap {
    /// Non-loopback interfaces that are up or whose state the driver does not report
    /// (`unknown`, as tunnels and some virtual devices say while passing traffic).
    pub interfaces_up: Vec<String>,
    /// Interfaces holding a usable default route (IPv4 or IPv6).
    pub default_routes: Vec<String>,
    /// What could not be read (the files missing, as in some containers): the status is then
    /// not known to be sealed.
    pub unreadable: Vec<String>,
}

impl AirGap {
    /// True when no non-loopback interface is up, there is no default route, and everything
    /// could be read.
    pub fn sealed(&self) -> bool {
        self.interfaces_up.is_empty()
            && self.default_routes.is_empty()
            && self.unreadable.is_empty()
    }
}

/// `RTF_UP`: the route is usable.
const RTF_UP: u32 = 0x0001;
/// `RTF_REJECT`: an unreachable route (the kernel's IPv6 catch-all on `lo`).
const RTF_REJECT: u32 = 0x0200;

/// The air-gap status from interfaces and the two route tables' text (`None`: not read).
pub fn assess(interfaces: &[Interface], route: Option<&str>, ipv6_route: Option<&str>) -> AirGap {
    let mut gap = AirGap::default();
    for i in interfaces {
        if !i.loopback && matches!(i.operstate.trim(), "up" | "unknown") {
            gap.interfaces_up.push(i.name.clone());
        }
    }
    let mut add_route = |iface: &str| {
        if iface != "lo" && !gap.default_routes.iter().any(|r| r == iface) {
            gap.default_routes.push(iface.to_string());
        }
    };
    match route {
        // Iface Destination Gateway Flags RefCnt Use Metric Mask ...: hex, host byte order;
        // a default route has destination and mask 0.
        Some(text) => {
            for line in text.lines().skip(1) {
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.len() < 8 {
                    continue;
                }
                let flags = u32::from_str_radix(f[3], 16).unwrap_or(0);
                if f[1] == "00000000" && f[7] == "00000000" && flags & RTF_UP != 0 {
                    add_route(f[0]);
                }
            }
        }
        None => gap.unreadable.push("/proc/net/route".into()),
    }
    // dest prefix src prefix next_hop metric refcnt use flags iface; the kernel keeps an
    // unreachable ::/0 on lo, which is no way out.
    if let Some(text) = ipv6_route {
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                continue;
            }
            let flags = u32::from_str_radix(f[8], 16).unwrap_or(0);
            let default = f[0].chars().all(|c| c == '0') && f[1] == "00";
            if default && flags & RTF_UP != 0 && flags & RTF_REJECT == 0 {
                add_route(f[9]);
            }
        }
    }
    gap.interfaces_up.sort();
    gap.default_routes.sort();
    gap
}

/// Reads the interfaces and route tables under `root` (`/` on a real node) and assesses them.
pub fn probe(root: &Path) -> AirGap {
    let net = root.join("sys/class/net");
    let mut interfaces = Vec::new();
    let mut unreadable = Vec::new();
    match std::fs::read_dir(&net) {
        Ok(entries) => {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let dir = net.join(&name);
                let operstate = std::fs::read_to_string(dir.join("operstate"))
                    .unwrap_or_else(|_| "unknown".into());
                let loopback = match std::fs::read_to_string(dir.join("type")) {
                    Ok(t) => t.trim() == "772",
                    Err(_) => name == "lo",
                };
                interfaces.push(Interface {
                    name,
                    operstate: operstate.trim().to_string(),
                    loopback,
                });
            }
        }
        Err(_) => unreadable.push("/sys/class/net".to_string()),
    }
    let route = std::fs::read_to_string(root.join("proc/net/route")).ok();
    let ipv6 = std::fs::read_to_string(root.join("proc/net/ipv6_route")).ok();
    let mut gap = assess(&interfaces, route.as_deref(), ipv6.as_deref());
    gap.unreadable.extend(unreadable);
    gap
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(name: &str, state: &str) -> Interface {
        Interface {
            name: name.into(),
            operstate: state.into(),
            loopback: name == "lo",
        }
    }

    const ROUTE_HEADER: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";

    #[test]
    fn only_loopback_and_no_route_is_sealed() {
        let g = assess(
            &[iface("lo", "unknown"), iface("eth0", "down")],
            Some(ROUTE_HEADER),
            Some(""),
        );
        assert!(g.sealed(), "{g:?}");
    }

    #[test]
    fn an_interface_up_breaks_the_gap() {
        let g = assess(
            &[iface("lo", "unknown"), iface("eth0", "up")],
            Some(ROUTE_HEADER),
            None,
        );
        assert_eq!(g.interfaces_up, ["eth0"]);
        assert!(!g.sealed());
    }

    #[test]
    fn an_interface_of_unknown_state_counts_as_up() {
        let g = assess(&[iface("wg0", "unknown")], Some(ROUTE_HEADER), None);
        assert_eq!(g.interfaces_up, ["wg0"]);
    }

    #[test]
    fn an_ipv4_default_route_breaks_the_gap() {
        let table = format!(
            "{ROUTE_HEADER}eth0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
             eth0\t0000A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n"
        );
        let g = assess(&[iface("eth0", "down")], Some(&table), None);
        assert_eq!(g.default_routes, ["eth0"]);
        assert!(g.interfaces_up.is_empty());
        assert!(!g.sealed());
    }

    #[test]
    fn a_route_that_is_not_up_or_not_default_is_no_way_out() {
        let table = format!(
            "{ROUTE_HEADER}eth0\t00000000\t0100A8C0\t0002\t0\t0\t100\t00000000\t0\t0\t0\n\
             eth0\t0000A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n"
        );
        assert!(assess(&[], Some(&table), None).sealed());
    }

    #[test]
    fn ipv6_default_routes_count_but_not_the_kernels_unreachable_one_on_lo() {
        let zero = "00000000000000000000000000000000";
        let lo_reject =
            format!("{zero} 00 {zero} 00 {zero} ffffffff 00000001 00000000 00200200 lo\n");
        assert!(assess(&[], Some(ROUTE_HEADER), Some(&lo_reject)).sealed());
        let real = format!(
            "{lo_reject}{zero} 00 {zero} 00 fe800000000000000000000000000001 00000400 00000001 00000000 00450003 enp3s0\n"
        );
        assert_eq!(
            assess(&[], Some(ROUTE_HEADER), Some(&real)).default_routes,
            ["enp3s0"]
        );
    }

    #[test]
    fn an_unreadable_route_table_is_not_sealed() {
        let g = assess(&[iface("lo", "unknown")], None, None);
        assert!(!g.sealed());
        assert_eq!(g.unreadable, ["/proc/net/route"]);
    }

    #[test]
    fn probe_reads_a_system_root() {
        let root = tempfile::tempdir().expect("tempdir");
        for (name, state, ty) in [("lo", "unknown", "772"), ("eth0", "up", "1")] {
            let d = root.path().join("sys/class/net").join(name);
            std::fs::create_dir_all(&d).expect("mkdir");
            std::fs::write(d.join("operstate"), format!("{state}\n")).expect("write");
            std::fs::write(d.join("type"), format!("{ty}\n")).expect("write");
        }
        std::fs::create_dir_all(root.path().join("proc/net")).expect("mkdir");
        std::fs::write(root.path().join("proc/net/route"), ROUTE_HEADER).expect("write");
        let g = probe(root.path());
        assert_eq!(g.interfaces_up, ["eth0"]);
        assert!(g.default_routes.is_empty());
        assert!(g.unreadable.is_empty());
    }
}
