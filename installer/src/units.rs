//! The systemd units of a node, each sandboxed as far as what it runs allows.
//!
//! Every unit gets the same base sandbox ([`SANDBOX`]): no network at all (a private network
//! namespace with only a loopback, every IP address denied; Unix sockets the only address
//! family `airlock-serve@` may open, none at all for `airlock-verify`), the whole file system read-only but the home, no capabilities, no new
//! privileges, the `@system-service` system calls only, no devices, the kernel's tunables,
//! modules, logs and clock out of reach, no namespaces, no personality changes, no
//! memory that is both writable and executable. `systemd-analyze security` scores each unit
//! (`docs/install.md` records the scores; `tests/units.rs` checks them).
//!
//! What is left open, and why:
//! - `PrivateUsers=` is off: `airlock serve` checks the uid of each client (SO_PEERCRED)
//!   against its allow list, and `airlock-install verify` compares the owner of each file
//!   with its seal; in a private user namespace every other user, root included, is seen
//!   as `nobody`.
//! - `RestrictNamespaces=yes` holds for every unit because none of them trains. Training
//!   (`airlock train`, run by an operator) starts the worker, which enters a user namespace
//!   (to get a network namespace without root) and a network namespace: a unit that trains
//!   would need `RestrictNamespaces=user net` and the Landlock system calls, which
//!   `@system-service` lacks in systemd 252 (`SystemCallErrorNumber=EPERM` makes them fail
//!   softly: the worker then records Landlock as not applied).
//! - `MemoryDenyWriteExecute=yes`: the CPU path (candle's gemm, no JIT) needs no writable
//!   executable memory; a GPU build's CUDA driver does, and its unit must drop this line
//!   and allow the NVIDIA device nodes (`DeviceAllow=/dev/nvidia*`), see `docs/gpu.md`.

use crate::layout::system;

/// One unit file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// Its file name under `etc/systemd/system`.
    pub name: &'static str,
    /// Its text.
    pub text: String,
}

/// The sandbox every service unit of the node gets (`systemd.exec(5)`,
/// `systemd.resource-control(5)`).
pub const SANDBOX: &str = "\
# Sandbox (docs/install.md: Units): no network, read-only system, no privileges.
PrivateNetwork=yes
IPAddressDeny=any
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateMounts=yes
PrivateDevices=yes
DevicePolicy=closed
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources @obsolete @debug @mount @reboot @swap @cpu-emulation @clock @module @raw-io
SystemCallErrorNumber=EPERM
SystemCallArchitectures=native
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RemoveIPC=yes
KeyringMode=private
UMask=0077
";

/// The units for a node whose services run as `user`.
pub fn units(user: &str) -> Vec<Unit> {
    let (opt, home, run, etc) = (system::OPT, system::HOME, system::RUN, system::ETC);
    let serve = format!(
        "\
# Written by airlock-install. One instance per socket: `systemctl enable --now
# airlock-serve@NAME` serves the deployment of slot NAME on {run}/NAME.sock. Flags for
# one instance (e.g. AIRLOCK_SERVE_ARGS=--allow-uid 1001) go in {etc}/serve/NAME.env.
[Unit]
Description=Airlock model server for slot %i
After=local-fs.target

[Service]
Type=simple
User={user}
Group={user}
Environment=AIRLOCK_HOME={home}
EnvironmentFile=-{etc}/serve/%i.env
ExecStart={opt}/current/airlock serve --socket {run}/%i.sock --slot %i $AIRLOCK_SERVE_ARGS
Restart=on-failure
RestartSec=5
RuntimeDirectory=airlock
RuntimeDirectoryMode=0755
RuntimeDirectoryPreserve=yes
ReadWritePaths={home}
RestrictAddressFamilies=AF_UNIX
{SANDBOX}
[Install]
WantedBy=multi-user.target
"
    );
    let verify = format!(
        "\
# Written by airlock-install. Checks the node's files against their signed seal
# (airlock-install verify); a difference fails the unit (systemctl --failed, the journal).
[Unit]
Description=Airlock: verify the installed files against their seal
After=local-fs.target

[Service]
Type=oneshot
User={user}
Group={user}
ExecStart={opt}/current/airlock-install verify --root /
ReadWritePaths={home}
RestrictAddressFamilies=none
{SANDBOX}"
    );
    let timer = "\
# Written by airlock-install. Runs airlock-verify.service daily and after each boot.
[Unit]
Description=Airlock: verify the installed files daily

[Timer]
OnBootSec=5min
OnUnitActiveSec=1d
Persistent=true

[Install]
WantedBy=timers.target
"
    .to_string();
    vec![
        Unit {
            name: "airlock-serve@.service",
            text: serve,
        },
        Unit {
            name: "airlock-verify.service",
            text: verify,
        },
        Unit {
            name: "airlock-verify.timer",
            text: timer,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_unit_carries_the_whole_sandbox() {
        let all = units("airlock");
        let services: Vec<&Unit> = all
            .iter()
            .filter(|u| u.name.ends_with(".service"))
            .collect();
        assert_eq!(services.len(), 2);
        for unit in services {
            for line in SANDBOX.lines().filter(|l| !l.starts_with('#')) {
                assert!(
                    unit.text.lines().any(|l| l == line),
                    "{}: no {line}",
                    unit.name
                );
            }
            for line in [
                "PrivateNetwork=yes",
                "IPAddressDeny=any",
                "ProtectSystem=strict",
                "ReadWritePaths=/var/lib/airlock",
                "NoNewPrivileges=yes",
                "CapabilityBoundingSet=",
                "SystemCallFilter=@system-service",
                "PrivateDevices=yes",
                "RestrictNamespaces=yes",
                "LockPersonality=yes",
                "MemoryDenyWriteExecute=yes",
                "User=airlock",
            ] {
                assert!(
                    unit.text.lines().any(|l| l == line),
                    "{}: no {line}",
                    unit.name
                );
            }
            assert_eq!(
                unit.text
                    .lines()
                    .filter(|l| l.starts_with("ReadWritePaths="))
                    .count(),
                1,
                "{}: the home is the only writable path",
                unit.name
            );
        }
        let serve = &all[0];
        assert!(serve.text.contains("RestrictAddressFamilies=AF_UNIX\n"));
        assert!(all[1].text.contains("RestrictAddressFamilies=none\n"));
    }
}
