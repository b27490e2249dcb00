//! The worker's Landlock layers: filesystem rules, network rules and scopes, each
//! its own ruleset and control, so the record shows which the kernel enforced.

use std::path::Path;

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, LandlockStatus,
    PathBeneath, PathFd, RestrictSelfAttr, RestrictionStatus, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, RulesetError, RulesetStatus, Scope,
};

use super::SandboxPolicy;
use crate::Control;

const FILESYSTEM: &str = "landlock";
const NETWORK: &str = "landlock-network";
const SCOPES: &str = "landlock-scopes";

/// The newest ABI this code handles the rights of. Best-effort: a kernel
/// with an older ABI enforces the rights it knows. Raising it after a
/// `landlock` upgrade brings the new rights in; check the worker still runs.
const ABI_HANDLED: ABI = ABI::V10;

/// Read-only places a Rust process on glibc reads at run time, granted when
/// they exist; see the module documentation of `sandbox` for each.
const RUNTIME_READ_ONLY: [&str; 3] = ["/proc/self", "/sys/fs/cgroup", "/sys/devices/system/cpu"];

/// The three Landlock controls, in order. `all_threads`: ask the kernel to
/// restrict the threads already running too (ABI v8).
pub(super) fn restrict(policy: &SandboxPolicy, all_threads: bool) -> Vec<Control> {
    if !policy.landlock {
        return vec![
            Control::not_requested(FILESYSTEM),
            Control::not_requested(NETWORK),
            Control::not_requested(SCOPES),
        ];
    }
    let network = if policy.isolate_network {
        let ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(AccessNet::from_all(ABI_HANDLED))
            .and_then(Ruleset::create);
        outcome(
            NETWORK,
            ruleset.and_then(|r| enforce(r, all_threads)),
            "network rules need ABI v4, Linux 6.7",
            all_threads,
            Vec::new(),
        )
    } else {
        Control::not_requested(NETWORK)
    };
    let scopes = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .scope(Scope::from_all(ABI_HANDLED))
        .and_then(Ruleset::create);
    vec![
        filesystem(policy, all_threads),
        network,
        outcome(
            SCOPES,
            scopes.and_then(|r| enforce(r, all_threads)),
            "scopes need ABI v6, Linux 6.12",
            all_threads,
            Vec::new(),
        ),
    ]
}

fn filesystem(policy: &SandboxPolicy, all_threads: bool) -> Control {
    let read = AccessFs::from_read(ABI_HANDLED);
    let all = AccessFs::from_all(ABI_HANDLED);
    let mut notes = Vec::new();
    let mut rules = Vec::new();
    for path in &policy.read_only {
        match rule(path, read) {
            Ok(r) => rules.push(r),
            Err(e) => notes.push(format!("left out, so denied: {e}")),
        }
    }
    for path in &policy.read_write {
        match rule(path, all) {
            Ok(r) => rules.push(r),
            Err(e) => notes.push(format!("left out, so denied: {e}")),
        }
    }
    let runtime: Vec<&str> = RUNTIME_READ_ONLY
        .into_iter()
        .filter(|p| match rule(Path::new(p), read) {
            Ok(r) => {
                rules.push(r);
                true
            }
            Err(_) => false,
        })
        .collect();
    notes.push(format!("runtime read-only: {}", runtime.join(", ")));
    let status = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)
        .and_then(Ruleset::create)
        .and_then(|r| r.add_rules(rules.into_iter().map(Ok::<_, RulesetError>)))
        .and_then(|r| enforce(r, all_threads));
    outcome(
        FILESYSTEM,
        status,
        "filesystem rules need ABI v1, Linux 5.13",
        all_threads,
        notes,
    )
}

/// A rule granting `access` beneath `path`; a file gets only the rights that
/// apply to files (a folder right on a file would make the ruleset partial).
fn rule(path: &Path, access: BitFlags<AccessFs>) -> Result<PathBeneath<PathFd>, String> {
    let shown = path.display();
    let is_dir = std::fs::metadata(path)
        .map_err(|e| format!("{shown}: {e}"))?
        .is_dir();
    let fd = PathFd::new(path).map_err(|e| format!("{shown}: {e}"))?;
    let access = if is_dir {
        access
    } else {
        access & AccessFs::from_file(ABI_HANDLED)
    };
    Ok(PathBeneath::new(fd, access))
}

fn enforce(ruleset: RulesetCreated, all_threads: bool) -> Result<RestrictionStatus, RulesetError> {
    let ruleset = if all_threads {
        ruleset.all_threads(true)?
    } else {
        ruleset
    };
    ruleset.restrict_self()
}

fn outcome(
    name: &str,
    status: Result<RestrictionStatus, RulesetError>,
    needs: &str,
    all_threads: bool,
    mut notes: Vec<String>,
) -> Control {
    let status = match status {
        Ok(s) => s,
        Err(e) => return Control::failed(name, e.to_string()),
    };
    let abi = abi_text(status.landlock);
    if all_threads {
        notes.push(if status.all_threads {
            "applied to every thread".to_string()
        } else {
            "restricts only the calling thread and those it spawns (all threads need ABI v8)"
                .to_string()
        });
    }
    let (control, enforced) = match status.ruleset {
        RulesetStatus::FullyEnforced => (Control::applied(name), "fully enforced"),
        RulesetStatus::PartiallyEnforced => (Control::applied(name), "partially enforced"),
        RulesetStatus::NotEnforced => {
            return Control::failed(name, not_enforced(status.landlock, needs))
                .with_detail(notes.join("; "));
        }
    };
    notes.insert(0, format!("{enforced} ({abi})"));
    control.with_detail(notes.join("; "))
}

fn abi_text(status: LandlockStatus) -> String {
    match status {
        LandlockStatus::Available {
            effective_abi,
            kernel_abi: None,
        } => format!("ABI v{effective_abi}"),
        LandlockStatus::Available {
            effective_abi,
            kernel_abi: Some(kernel),
        } => format!("ABI v{effective_abi} of the kernel's v{kernel}"),
        LandlockStatus::NotEnabled | LandlockStatus::NotImplemented => "no ABI".to_string(),
    }
}

fn not_enforced(status: LandlockStatus, needs: &str) -> String {
    match status {
        LandlockStatus::NotImplemented => "kernel has no Landlock support".to_string(),
        LandlockStatus::NotEnabled => {
            "kernel has Landlock but it is not enabled (lsm= boot parameter)".to_string()
        }
        LandlockStatus::Available { effective_abi, .. } => {
            format!("kernel Landlock ABI v{effective_abi} cannot enforce it: {needs}")
        }
    }
}
