//! The worker's resource limits: `setrlimit(2)`, soft and hard alike.

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::unistd::geteuid;

use super::Limits;
use crate::Control;

/// One control per limit, in a fixed order; an optional limit left `None` is
/// reported as not requested.
pub(super) fn apply(limits: &Limits) -> Vec<Control> {
    vec![
        set(
            "rlimit-nofile",
            Resource::RLIMIT_NOFILE,
            Some(limits.open_files),
        ),
        set(
            "rlimit-fsize",
            Resource::RLIMIT_FSIZE,
            Some(limits.file_size_bytes),
        ),
        set("rlimit-as", Resource::RLIMIT_AS, limits.address_space_bytes),
        set("rlimit-cpu", Resource::RLIMIT_CPU, limits.cpu_seconds),
        set("rlimit-nproc", Resource::RLIMIT_NPROC, limits.processes),
    ]
}

fn set(name: &str, resource: Resource, wanted: Option<u64>) -> Control {
    let Some(wanted) = wanted else {
        return Control::not_requested(name);
    };
    let hard = match getrlimit(resource) {
        Ok((_, hard)) => hard,
        Err(e) => return Control::failed(name, format!("getrlimit: {}", e.desc())),
    };
    let (value, kept_lower) = clamp(wanted, hard);
    if let Err(e) = setrlimit(resource, value, value) {
        return Control::failed(name, format!("setrlimit: {}", e.desc()));
    }
    let mut detail = format!("{value} (soft and hard)");
    if kept_lower {
        detail.push_str(&format!(
            ": the current hard limit, lower than the {wanted} asked, kept"
        ));
    }
    if resource == Resource::RLIMIT_NPROC && geteuid().is_root() {
        // The kernel exempts CAP_SYS_ADMIN and CAP_SYS_RESOURCE (fork.c).
        detail.push_str("; not enforced for root");
    }
    Control::applied(name).with_detail(detail)
}

/// The value to set for both limits: what was asked, unless the current hard
/// limit is lower. Raising a hard limit needs `CAP_SYS_RESOURCE` and would
/// loosen what the parent set, so a lower one is kept (true in the result).
/// `RLIM_INFINITY` is `u64::MAX`, above any value asked.
fn clamp(wanted: u64, hard: u64) -> (u64, bool) {
    if hard < wanted {
        (hard, true)
    } else {
        (wanted, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamp_keeps_a_lower_hard_limit() {
        assert_eq!(clamp(256, 128), (128, true));
    }

    #[test]
    fn clamp_lowers_an_unlimited_hard_limit() {
        assert_eq!(clamp(256, nix::libc::RLIM_INFINITY), (256, false));
    }

    #[test]
    fn clamp_sets_an_equal_hard_limit_as_asked() {
        assert_eq!(clamp(256, 256), (256, false));
    }
}
